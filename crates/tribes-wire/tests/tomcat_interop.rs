//! The codecs against Tomcat's own classes, for every pinned Tomcat line (9.0, 10.1, 11.0).
//!
//! `tests/wire-cases.txt` lists the cases. `tests/java/TribesWire.java`, compiled against each
//! release's `catalina-tribes.jar`, (a) writes the bytes Tomcat makes for every case and (b) reads
//! bytes written here back with Tomcat's decoders and prints the fields it found, in the case
//! file's own format. Here we assert byte equality for (a) and field equality for (b).

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use tribes_wire::{ack, control, member, Ack, ChannelData, FrameDecoder, Member, SendOptions, UniqueId};

const CASES: &str = "tests/wire-cases.txt";

/// One line of the case file: `KIND NAME key=value ...`.
#[derive(Debug, Clone, PartialEq)]
struct Case {
    kind: String,
    name: String,
    fields: Vec<(String, String)>,
}

impl Case {
    fn parse(line: &str) -> Case {
        let mut tokens = line.split(' ');
        let kind = tokens.next().expect("kind").to_string();
        let name = tokens.next().unwrap_or_else(|| panic!("no name in {line:?}")).to_string();
        let fields = tokens
            .map(|t| {
                let (k, v) = t.split_once('=').unwrap_or_else(|| panic!("field without '=' in {line:?}"));
                (k.to_string(), v.to_string())
            })
            .collect();
        Case { kind, name, fields }
    }

    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("case {} has no {key}", self.name))
    }

    fn int<T: std::str::FromStr>(&self, key: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        self.get(key).parse().unwrap_or_else(|e| panic!("case {} field {key}: {e:?}", self.name))
    }

    fn bytes(&self, key: &str) -> Bytes {
        Bytes::from(unhex(self.get(key)))
    }

    /// The line with `repeat:` values spelled out, as Tomcat's reader prints them.
    fn normalized(&self) -> String {
        let mut s = format!("{} {}", self.kind, self.name);
        for (k, v) in &self.fields {
            let v = if v.starts_with("repeat:") { hex::encode(unhex(v)) } else { v.clone() };
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

/// Hex, or `repeat:BYTE:COUNT`.
fn unhex(v: &str) -> Vec<u8> {
    if let Some(rest) = v.strip_prefix("repeat:") {
        let (byte, count) = rest.split_once(':').expect("repeat:BYTE:COUNT");
        return vec![u8::from_str_radix(byte, 16).expect("repeat byte"); count.parse().expect("repeat count")];
    }
    hex::decode(v).unwrap_or_else(|e| panic!("bad hex {v:?}: {e}"))
}

fn load_cases() -> Vec<Case> {
    let text = std::fs::read_to_string(tomcat_harness::repo_root().join(CASES)).expect("case file is readable");
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(Case::parse).collect()
}

fn member_of(case: &Case) -> Member {
    Member {
        alive: case.int("alive"),
        port: case.int("port"),
        secure_port: case.int("secure_port"),
        udp_port: case.int("udp_port"),
        host: case.bytes("host"),
        command: case.bytes("command"),
        domain: case.bytes("domain"),
        unique_id: UniqueId(case.bytes("id")[..].try_into().expect("16-byte member id")),
        payload: case.bytes("payload"),
    }
}

/// The bytes our codecs write for every case, by name.
fn encode_all(cases: &[Case]) -> BTreeMap<String, Bytes> {
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for case in cases {
        let bytes = match case.kind.as_str() {
            "member" => {
                let m = member_of(case);
                members.insert(case.name.clone(), m.clone());
                m.to_bytes()
            }
            "frame" => {
                let member = case.get("member");
                let address = members.get(member).unwrap_or_else(|| panic!("unknown member {member}")).clone();
                ChannelData {
                    options: SendOptions(case.int("options")),
                    timestamp: case.int("timestamp"),
                    unique_id: case.bytes("id"),
                    address,
                    message: case.bytes("message"),
                }
                .to_frame()
            }
            "ack" => match case.name.as_str() {
                "ack" => Bytes::from_static(Ack::Ack.frame()),
                "fail_ack" => Bytes::from_static(Ack::FailAck.frame()),
                other => panic!("unknown ack case {other}"),
            },
            "constant" => Bytes::from_static(constant(&case.name)),
            other => panic!("unknown case kind {other}"),
        };
        out.insert(case.name.clone(), bytes);
    }
    out
}

fn constant(name: &str) -> &'static [u8] {
    match name {
        "tcp_fail_detect" => &control::TCP_FAIL_DETECT,
        "tcp_ping_data" => &control::TCP_PING_DATA,
        "member_start" => control::MEMBER_START,
        "member_stop" => control::MEMBER_STOP,
        "shutdown_payload" => &member::SHUTDOWN_PAYLOAD,
        "mbr_begin" => &member::MBR_BEGIN,
        "mbr_end" => &member::MBR_END,
        "frame_start" => &tribes_wire::frame::START,
        "frame_end" => &tribes_wire::frame::END,
        "ack_data" => &ack::ACK_DATA,
        "fail_ack_data" => &ack::FAIL_ACK_DATA,
        other => panic!("unknown constant {other}"),
    }
}

fn case_file() -> String {
    tomcat_harness::repo_root().join(CASES).display().to_string()
}

#[test]
fn every_case_is_byte_identical_to_what_tomcat_writes() {
    let cases = load_cases();
    assert!(cases.len() >= 30, "the case file lists only {} cases", cases.len());
    let ours = encode_all(&cases);
    for tomcat in tomcat_harness::tomcats() {
        let home = tomcat.home.display().to_string();
        let out = tomcat_harness::run_java_script("run-tribeswire.sh", &[&home, "emit", &case_file()], b"");
        let mut seen = 0;
        for line in out.lines() {
            let (name, hex) = line.split_once(' ').unwrap_or((line, ""));
            let theirs = unhex(hex);
            let mine =
                ours.get(name).unwrap_or_else(|| panic!("Tomcat {} emitted unknown case {name}", tomcat.version));
            assert!(
                mine[..] == theirs[..],
                "Tomcat {} case {name}:\n tomcat {}\n ours   {}",
                tomcat.version,
                hex::encode(&theirs),
                hex::encode(mine)
            );
            seen += 1;
        }
        assert_eq!(seen, cases.len(), "Tomcat {} emitted {seen} of {} cases", tomcat.version, cases.len());
    }
}

#[test]
fn tomcat_reads_every_field_we_write() {
    let cases = load_cases();
    let ours = encode_all(&cases);
    let input: String = cases.iter().map(|c| format!("{} {}\n", c.name, hex::encode(&ours[&c.name]))).collect();
    for tomcat in tomcat_harness::tomcats() {
        let home = tomcat.home.display().to_string();
        let out =
            tomcat_harness::run_java_script("run-tribeswire.sh", &[&home, "read", &case_file()], input.as_bytes());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), cases.len(), "Tomcat {} answered {} lines", tomcat.version, lines.len());
        for (case, line) in cases.iter().zip(lines) {
            assert_eq!(line, case.normalized(), "Tomcat {} read case {} differently", tomcat.version, case.name);
        }
    }
}

#[test]
fn tomcat_counts_and_extracts_our_frame_stream_split_anywhere() {
    // Every frame case back to back, cut into uneven chunks: Tomcat's XByteBuffer must count and
    // extract the same frames in the same order, as our decoder does.
    let cases = load_cases();
    let ours = encode_all(&cases);
    let frames: Vec<&Case> = cases.iter().filter(|c| c.kind == "frame").collect();
    let mut stream = BytesMut::new();
    for c in &frames {
        stream.extend_from_slice(&ours[&c.name]);
    }
    let chunk_sizes = [1usize, 7, 11, 13, 100, 4096, 65536];
    let mut chunks = String::new();
    let (mut at, mut i) = (0, 0);
    while at < stream.len() {
        let n = chunk_sizes[i % chunk_sizes.len()].min(stream.len() - at);
        chunks.push_str(&hex::encode(&stream[at..at + n]));
        chunks.push('\n');
        at += n;
        i += 1;
    }
    // Our decoder, fed the same chunks.
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut ours_out = Vec::new();
    for chunk in chunks.lines() {
        buf.extend_from_slice(&unhex(chunk));
        while let Some(payload) = decoder.decode(&mut buf).expect("our own stream decodes") {
            ours_out.push(ChannelData::decode(&payload).expect("our own ChannelData decodes"));
        }
    }
    assert_eq!(ours_out.len(), frames.len());
    for tomcat in tomcat_harness::tomcats() {
        let home = tomcat.home.display().to_string();
        let out =
            tomcat_harness::run_java_script("run-tribeswire.sh", &[&home, "stream", &case_file()], chunks.as_bytes());
        let extracted: Vec<&str> = out.lines().filter(|l| !l.starts_with("count=")).collect();
        assert_eq!(extracted.len(), frames.len(), "Tomcat {} extracted {} frames", tomcat.version, extracted.len());
        for (case, line) in frames.iter().zip(extracted) {
            let mut expected = Case::parse(&case.normalized());
            expected.name = "stream".into();
            assert_eq!(line, expected.normalized(), "Tomcat {} stream frame for case {}", tomcat.version, case.name);
        }
    }
}
