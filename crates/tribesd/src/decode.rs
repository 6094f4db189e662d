//! `tribesd decode`: prints every field of captured Tribes bytes.
//!
//! The input is a stream of frames (`FLT2002 ... TLF2003`, what a TCP connection or a broadcast
//! datagram carries), one member packet (`TRIBES-B ... TRIBES-E`, a multicast heartbeat), or with
//! `--as channel-data` a bare frame payload. Errors name the absolute offset in the input, and
//! what was decoded before the error is still printed.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::{Bytes, BytesMut};
use tribes_wire::frame::{DEFAULT_MAX_FRAME_LEN, HEADER_LEN, OVERHEAD, START};
use tribes_wire::member::MBR_BEGIN;
use tribes_wire::{Ack, ChannelData, FrameDecoder, FrameError, Member};

mod hex_text;
mod human;
mod java;
mod view;

use view::{ChannelDataItem, ChannelDataView, FrameView, Item, JavaItem, MemberItem, MemberView};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    tribesd decode 464c5432303032 00000003 060203 544c4632303033\n  \
    xxd -p capture.bin | tribesd decode --json\n  \
    tribesd decode --file capture.bin\n  \
    tribesd decode --as member --file heartbeat.bin\n  \
    tribesd decode --as java --file session-message.ser")]
pub struct DecodeArgs {
    /// Bytes as hex: whitespace and newlines anywhere, an optional 0x before each group. Several
    /// arguments are joined with a space. Without HEX or --file, hex is read from stdin.
    #[arg(value_name = "HEX", conflicts_with = "file")]
    hex: Vec<String>,

    /// Read raw binary bytes from this file instead of hex; `-` reads raw bytes from stdin.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,

    /// What the bytes are. Detected from the first bytes when absent: FLT2002 starts frames,
    /// TRIBES-B a member packet, AC ED 00 05 a Java serialization stream.
    #[arg(long = "as", value_enum, value_name = "KIND")]
    kind: Option<Kind>,

    /// Print one JSON object per line for each frame (or for the member packet or ChannelData).
    #[arg(long)]
    json: bool,

    /// Largest frame payload accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FRAME_LEN)]
    max_frame_len: usize,
}

/// What the input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// One or more frames, back to back.
    Frame,
    /// One member packet.
    Member,
    /// One frame payload without its FLT2002 header and TLF2003 trailer.
    ChannelData,
    /// One Java serialization stream (`AC ED 00 05 ...`), e.g. a SessionMessageImpl.
    Java,
}

/// Runs the subcommand: 0 when everything decoded, 1 on bad input (after printing what decoded).
pub fn run(args: &DecodeArgs) -> ExitCode {
    let input = match read_input(args) {
        Ok(input) => Bytes::from(input),
        Err(message) => return fail(&message),
    };
    let decoded = decode(&input, args.kind, args.max_frame_len);
    if let Err(e) = write_items(&decoded.items, args.json) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS; // `tribesd decode ... | head` is not an error
        }
        return fail(&format!("cannot write the output: {e}"));
    }
    match decoded.error {
        Some(message) => fail(&message),
        None => ExitCode::SUCCESS,
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr().lock(), "error: {message}");
    ExitCode::FAILURE
}

fn write_items(items: &[Item], json: bool) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for (i, item) in items.iter().enumerate() {
        if json {
            serde_json::to_writer(&mut out, item)?;
            out.write_all(b"\n")?;
        } else {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            human::write_item(&mut out, item)?;
        }
    }
    out.flush()
}

fn read_input(args: &DecodeArgs) -> Result<Vec<u8>, String> {
    let bytes = if let Some(path) = &args.file {
        let bytes = if path.as_os_str() == "-" {
            read_stdin()?
        } else {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        };
        if bytes.is_empty() {
            return Err(format!(
                "{} is empty",
                if path.as_os_str() == "-" { "stdin".into() } else { path.display().to_string() }
            ));
        }
        bytes
    } else {
        let text = if args.hex.is_empty() {
            if io::stdin().is_terminal() {
                return Err("no input: give hex as an argument, pipe hex on stdin, or use --file PATH".into());
            }
            read_stdin()?
        } else {
            args.hex.join(" ").into_bytes()
        };
        hex_text::parse(&text).map_err(|e| e.to_string())?
    };
    if bytes.is_empty() {
        return Err("no bytes to decode: the hex input is empty".into());
    }
    Ok(bytes)
}

fn read_stdin() -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    io::stdin().lock().read_to_end(&mut buf).map_err(|e| format!("cannot read stdin: {e}"))?;
    Ok(buf)
}

/// The items decoded, in input order, and the error that stopped decoding, if any.
struct Decoded {
    items: Vec<Item>,
    error: Option<String>,
}

fn decode(input: &Bytes, kind: Option<Kind>, max_frame_len: usize) -> Decoded {
    let mut decoded = decode_items(input, kind, max_frame_len);
    // A Java stream that does not parse is shown in the output and fails the run, after a
    // frame error, which stopped decoding.
    if decoded.error.is_none() {
        decoded.error = decoded.items.iter().find_map(java_error);
    }
    decoded
}

/// The Java parse error of an item, with where the item is.
fn java_error(item: &Item) -> Option<String> {
    match item {
        Item::Frame(f) => f
            .channel_data
            .as_ref()
            .and_then(|cd| cd.java.as_ref())
            .and_then(java::JavaView::error_text)
            .map(|e| format!("frame {} at offset {}: {e}", f.index, f.offset)),
        Item::ChannelData(c) => c.data.java.as_ref().and_then(java::JavaView::error_text),
        Item::Java(j) => j.java.error_text(),
        Item::Member(_) => None,
    }
}

fn decode_items(input: &Bytes, kind: Option<Kind>, max_frame_len: usize) -> Decoded {
    let kind = match kind.map_or_else(|| detect(input), Ok) {
        Ok(kind) => kind,
        Err(error) => return Decoded { items: Vec::new(), error: Some(error) },
    };
    let single = match kind {
        Kind::Frame => return decode_frames(input, max_frame_len),
        Kind::Member => match Member::decode(input) {
            Ok(m) => Ok(Item::Member(MemberItem { offset: 0, length: input.len(), member: MemberView::new(&m) })),
            Err(e) => Err(format!("member packet at offset 0: {}", e)),
        },
        Kind::ChannelData => match decode_channel_data(input, 0) {
            Ok(data) => Ok(Item::ChannelData(ChannelDataItem { offset: 0, length: input.len(), data })),
            Err(e) => Err(format!("ChannelData at offset 0: {e}")),
        },
        Kind::Java => Ok(Item::Java(JavaItem { java: java::JavaView::parse(input, 0) })),
    };
    match single {
        Ok(item) => Decoded { items: vec![item], error: None },
        Err(error) => Decoded { items: Vec::new(), error: Some(error) },
    }
}

/// Picks the kind whose marker shares the most leading bytes with the input, so that a damaged
/// marker is still reported by the right decoder.
fn detect(input: &[u8]) -> Result<Kind, String> {
    if input.starts_with(&[0xac, 0xed, 0x00, 0x05]) {
        return Ok(Kind::Java);
    }
    let common = |marker: &[u8]| input.iter().zip(marker).take_while(|(a, b)| a == b).count();
    let (frame, member) = (common(&START), common(&MBR_BEGIN[..8]));
    match (frame, member) {
        (0, 0) => {
            let head = &input[..input.len().min(8)];
            Err(format!(
                "input starts with neither FLT2002 (frames) nor TRIBES-B (a member packet) at offset 0 \
                 (first bytes {}); use --as frame|member|channel-data to force one",
                spaced_hex(head)
            ))
        }
        _ if frame >= member => Ok(Kind::Frame),
        _ => Ok(Kind::Member),
    }
}

fn decode_frames(input: &Bytes, max_frame_len: usize) -> Decoded {
    let decoder = FrameDecoder::new(max_frame_len);
    let mut src = BytesMut::from(&input[..]);
    let mut items = Vec::new();
    let mut index = 0;
    while !src.is_empty() {
        index += 1;
        let offset = input.len() - src.len();
        let result = match decoder.decode(&mut src) {
            Ok(Some(payload)) => frame_view(index, offset, &payload),
            Ok(None) => Err(incomplete(&src)),
            Err(e) => Err(frame_error(e, offset)),
        };
        match result {
            Ok(frame) => items.push(Item::Frame(frame)),
            Err(e) => return Decoded { items, error: Some(format!("frame {index} at offset {offset}: {e}")) },
        }
    }
    Decoded { items, error: None }
}

fn frame_view(index: usize, offset: usize, payload: &Bytes) -> Result<FrameView, String> {
    let (kind, channel_data) = match Ack::from_payload(payload) {
        Some(Ack::Ack) => ("ack", None),
        Some(Ack::FailAck) => ("fail_ack", None),
        None => {
            let cd =
                decode_channel_data(payload, offset + HEADER_LEN).map_err(|e| format!("invalid ChannelData: {e}"))?;
            ("channel_data", Some(cd))
        }
    };
    Ok(FrameView { index, offset, length: payload.len() + OVERHEAD, payload_length: payload.len(), kind, channel_data })
}

/// Decodes a ChannelData that starts at `offset` in the input.
fn decode_channel_data(payload: &Bytes, offset: usize) -> Result<ChannelDataView, String> {
    match ChannelData::decode(payload) {
        Ok(cd) => Ok(ChannelDataView::new(&cd, offset)),
        Err(e) => Err(e.shifted(offset).to_string()),
    }
}

/// The input ends inside a frame (the decoder returned "need more").
fn incomplete(rest: &[u8]) -> String {
    if rest.len() < HEADER_LEN {
        return format!(
            "truncated frame header: {HEADER_LEN} bytes needed but only {} remain ({} bytes missing)",
            rest.len(),
            HEADER_LEN - rest.len()
        );
    }
    // The decoder has checked the length field: not negative and within the cap.
    let len = i32::from_be_bytes([rest[7], rest[8], rest[9], rest[10]]).max(0) as usize;
    let total = len.saturating_add(OVERHEAD);
    format!(
        "truncated frame: {total} bytes needed for a {len} byte payload but only {} remain ({} bytes missing)",
        rest.len(),
        total.saturating_sub(rest.len())
    )
}

/// A frame error with its offsets counted from the start of the input.
fn frame_error(e: FrameError, frame_offset: usize) -> String {
    let length_at = frame_offset + START.len();
    match e {
        FrameError::BadStart { offset, found } => {
            format!("package does not start with FLT2002: byte at offset {} is 0x{found:02x}", frame_offset + offset)
        }
        FrameError::NegativeLength { len } => {
            format!("package length {len} at offset {length_at} is negative")
        }
        FrameError::TooLong { len, max } => {
            format!("package length {len} at offset {length_at} is over the {max} byte limit (--max-frame-len)")
        }
        FrameError::BadEnd { len, offset } => format!(
            "package does not end with TLF2003 at offset {} (declared payload length {len})",
            frame_offset + offset
        ),
        other => format!("{other} (offsets counted from the frame)"),
    }
}

fn spaced_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}
