//! What `decode` found, as plain values: serialized as-is for `--json`, and printed by
//! [`super::human`] for people. Offsets are absolute, counted from the start of the input.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Serialize, Serializer};
use tribes_wire::control::{COORD_HEADER, TWO_PHASE_END, TWO_PHASE_START};
use tribes_wire::member::SHUTDOWN_PAYLOAD;
use tribes_wire::{ChannelData, ControlPayload, Member};

use super::java::JavaView;

/// One decoded item: a JSON line with `--json`, a block of text otherwise.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Item {
    Frame(FrameView),
    Member(MemberItem),
    ChannelData(ChannelDataItem),
    Java(JavaItem),
}

/// A bare Java serialization stream (`--as java`).
#[derive(Debug, Serialize)]
pub(crate) struct JavaItem {
    #[serde(flatten)]
    pub java: JavaView,
}

/// One `FLT2002 | len | payload | TLF2003` package.
#[derive(Debug, Serialize)]
pub(crate) struct FrameView {
    /// 1 for the first frame of the input.
    pub index: usize,
    pub offset: usize,
    /// The whole frame, markers included.
    pub length: usize,
    pub payload_length: usize,
    /// `ack`, `fail_ack` or `channel_data`.
    pub kind: &'static str,
    /// Null for ACK and FAIL_ACK.
    pub channel_data: Option<ChannelDataView>,
}

/// A member packet given on its own (a multicast heartbeat datagram).
#[derive(Debug, Serialize)]
pub(crate) struct MemberItem {
    pub offset: usize,
    pub length: usize,
    #[serde(flatten)]
    pub member: MemberView,
}

/// A bare ChannelData (`--as channel-data`).
#[derive(Debug, Serialize)]
pub(crate) struct ChannelDataItem {
    pub offset: usize,
    pub length: usize,
    #[serde(flatten)]
    pub data: ChannelDataView,
}

#[derive(Debug, Serialize)]
pub(crate) struct ChannelDataView {
    pub options: i32,
    /// The option bits by name, e.g. `0x00000003 (byte|use_ack)`.
    pub options_text: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// RFC 3339 UTC with milliseconds; null when before 1970 or after 9999.
    pub timestamp_utc: Option<String>,
    pub unique_id: HexBytes,
    pub sender_offset: usize,
    pub sender_length: usize,
    pub sender: MemberView,
    pub message_offset: usize,
    pub message_length: usize,
    /// `control`, `java_serialized` or `raw`.
    pub message_kind: &'static str,
    /// Which interceptor message it is, when `message_kind` is `control`.
    pub control: Option<&'static str>,
    /// The class of the first object, when `message_kind` is `java_serialized` and the stream
    /// starts with an object, enum or array.
    pub java_class: Option<String>,
    /// The stream parsed, when `message_kind` is `java_serialized`.
    pub java: Option<JavaView>,
    pub message: HexBytes,
    #[serde(skip)]
    pub message_summary: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct MemberView {
    /// An IP address when the host is 4 or 16 bytes, colon-separated hex otherwise.
    pub host: String,
    pub host_hex: HexBytes,
    pub port: i32,
    pub secure_port: i32,
    pub udp_port: i32,
    pub alive_ms: i64,
    /// `alive_ms` as a duration (`1h 2m 3s`); null when negative.
    pub alive: Option<String>,
    pub unique_id: HexBytes,
    #[serde(skip)]
    pub unique_id_tomcat: String,
    /// The domain as ISO-8859-1 text; null when it has unprintable bytes (see `domain_hex`).
    pub domain: Option<String>,
    pub domain_hex: HexBytes,
    /// The command as ISO-8859-1 text; null when it has unprintable bytes (see `command_hex`).
    pub command: Option<String>,
    pub command_hex: HexBytes,
    /// The command is `BABY-ALEX`: the member is leaving the cluster.
    pub shutdown: bool,
    pub payload_length: usize,
    pub payload: HexBytes,
}

/// Bytes that serialize as a lowercase hex string.
#[derive(Debug, Clone)]
pub(crate) struct HexBytes(pub Bytes);

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl MemberView {
    pub(crate) fn new(m: &Member) -> Self {
        MemberView {
            host: tribes_wire::member::host_to_string(&m.host),
            host_hex: HexBytes(m.host.clone()),
            port: m.port,
            secure_port: m.secure_port,
            udp_port: m.udp_port,
            alive_ms: m.alive,
            alive: u64::try_from(m.alive)
                .ok()
                .map(|ms| humantime::format_duration(Duration::from_millis(ms)).to_string()),
            unique_id: HexBytes(Bytes::copy_from_slice(&m.unique_id.0)),
            unique_id_tomcat: m.unique_id.to_tomcat_string(),
            domain: latin1_text(&m.domain),
            domain_hex: HexBytes(m.domain.clone()),
            command: latin1_text(&m.command),
            command_hex: HexBytes(m.command.clone()),
            shutdown: m.command[..] == SHUTDOWN_PAYLOAD,
            payload_length: m.payload.len(),
            payload: HexBytes(m.payload.clone()),
        }
    }
}

impl ChannelDataView {
    /// `offset`: where the ChannelData starts in the input.
    pub(crate) fn new(cd: &ChannelData, offset: usize) -> Self {
        let sender_offset = offset + 4 + 8 + 4 + cd.unique_id.len() + 4;
        let sender_length = cd.address.encoded_len();
        let message = &cd.message[..];
        let message_offset = sender_offset + sender_length + 4;
        let at = format!("{} bytes at offset {message_offset}", message.len());
        let (message_kind, control, java_class, message_summary) = if let Some((id, name)) = control_name(message) {
            ("control", Some(id), None, format!("{at}, {name}"))
        } else if let Some(java) = java_summary(message) {
            let what = match (&java.class, java.first) {
                (Some(class), "object") => format!("class {class}"),
                (Some(class), first) => format!("{first} of class {class}"),
                (None, first) => format!("starts with {first}"),
            };
            ("java_serialized", None, java.class, format!("Java-serialized object, {at}, {what}"))
        } else if message.starts_with(&[0x1f, 0x8b]) {
            ("raw", None, None, format!("{at}, gzip data (GzipInterceptor)"))
        } else {
            ("raw", None, None, format!("{at}, raw bytes"))
        };
        ChannelDataView {
            options: cd.options.bits(),
            options_text: cd.options.to_string(),
            timestamp: cd.timestamp,
            timestamp_utc: utc_millis(cd.timestamp),
            unique_id: HexBytes(cd.unique_id.clone()),
            sender_offset,
            sender_length,
            sender: MemberView::new(&cd.address),
            message_offset,
            message_length: message.len(),
            message_kind,
            control,
            java_class,
            java: (message_kind == "java_serialized").then(|| JavaView::parse(message, message_offset)),
            message: HexBytes(cd.message.clone()),
            message_summary,
        }
    }
}

/// Epoch milliseconds as RFC 3339 UTC text, for times humantime can show (1970 to 9999).
pub(crate) fn utc_millis(ms: i64) -> Option<String> {
    const YEAR_10000: u64 = 253_402_300_800_000;
    let ms = u64::try_from(ms).ok().filter(|&ms| ms < YEAR_10000)?;
    let t = UNIX_EPOCH.checked_add(Duration::from_millis(ms))?;
    Some(humantime::format_rfc3339_millis(t).to_string())
}

/// Bytes as ISO-8859-1 text (how Tomcat writes domains), when every byte is printable.
pub(crate) fn latin1_text(b: &[u8]) -> Option<String> {
    b.iter().all(|&c| (0x20..0x7f).contains(&c) || c >= 0xa0).then(|| b.iter().map(|&c| c as char).collect())
}

/// Interceptor control messages: a snake_case id for JSON and a name for people.
fn control_name(message: &[u8]) -> Option<(&'static str, &'static str)> {
    if let Some(c) = ControlPayload::classify(message) {
        return Some(match c {
            ControlPayload::FailureDetectorProbe => {
                ("tcp_failure_detector_probe", "TcpFailureDetector probe (TCP_FAIL_DETECT)")
            }
            ControlPayload::TcpPing => ("tcp_ping", "TcpPingInterceptor ping (TCP_PING_DATA)"),
            ControlPayload::StaticMemberStart => {
                ("static_member_start", "StaticMembershipInterceptor member start (MEMBER_START)")
            }
            ControlPayload::StaticMemberStop => {
                ("static_member_stop", "StaticMembershipInterceptor member stop (MEMBER_STOP)")
            }
        });
    }
    // TwoPhaseCommitInterceptor confirmation: START_DATA | original unique id | END_DATA.
    if message.len() == 48 && message[..16] == TWO_PHASE_START && message[32..] == TWO_PHASE_END {
        return Some(("two_phase_commit_confirmation", "TwoPhaseCommitInterceptor confirmation"));
    }
    if message.starts_with(&COORD_HEADER) {
        return Some(("coordinator_message", "NonBlockingCoordinator message (COORD_HEADER)"));
    }
    None
}

/// The start of a Java serialization stream.
struct JavaSummary {
    /// What the stream starts with: `object`, `enum`, `array`, `block data`, ...
    first: &'static str,
    /// The class name of the first descriptor, when it follows right away and is printable.
    class: Option<String>,
}

const STREAM_MAGIC: [u8; 4] = [0xac, 0xed, 0x00, 0x05];
const TC_CLASSDESC: u8 = 0x72;

/// Reads only the stream header, the first type code and, for an object, enum or array with a
/// new class descriptor, its class name. A full reader lives in another crate.
fn java_summary(message: &[u8]) -> Option<JavaSummary> {
    let rest = message.strip_prefix(&STREAM_MAGIC)?;
    let first = match rest.first() {
        None => "nothing (empty stream)",
        Some(0x70) => "null",
        Some(0x71) => "a back reference",
        Some(0x72 | 0x7d) => "class descriptor",
        Some(0x73) => "object",
        Some(0x74 | 0x7c) => "string",
        Some(0x75) => "array",
        Some(0x76) => "class",
        Some(0x77 | 0x7a) => "block data",
        Some(0x7b) => "exception",
        Some(0x7e) => "enum",
        Some(_) => "an unknown type code",
    };
    let class = match rest {
        [0x73 | 0x75 | 0x7e, TC_CLASSDESC, hi, lo, tail @ ..] => {
            let len = u16::from_be_bytes([*hi, *lo]) as usize;
            tail.get(..len)
                .and_then(|name| std::str::from_utf8(name).ok())
                .filter(|name| !name.is_empty() && name.chars().all(|c| !c.is_control()))
                .map(str::to_string)
        }
        _ => None,
    };
    Some(JavaSummary { first, class })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_what_rfc3339_can_show_have_no_text() {
        assert_eq!(utc_millis(1_700_000_000_000).as_deref(), Some("2023-11-14T22:13:20.000Z"));
        assert_eq!(utc_millis(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(utc_millis(-1), None);
        assert_eq!(utc_millis(i64::MAX), None);
        assert!(utc_millis(253_402_300_799_999).is_some());
    }

    #[test]
    fn the_first_class_name_of_a_java_stream_is_read_when_it_is_there() {
        let s = java_summary(b"\xac\xed\x00\x05sr\x00\x03Foo\x00").unwrap();
        assert_eq!((s.first, s.class.as_deref()), ("object", Some("Foo")));
        let s = java_summary(b"\xac\xed\x00\x05sr\x00\x09Foo").unwrap();
        assert_eq!(s.class, None, "truncated name");
        let s = java_summary(b"\xac\xed\x00\x05w\x09").unwrap();
        assert_eq!((s.first, s.class), ("block data", None));
        assert!(java_summary(b"\xac\xed\x00").is_none());
    }
}
