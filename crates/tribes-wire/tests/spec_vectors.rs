//! The verified vectors of `../shared/spec/test-vectors.md` §1-§3 (made by Tomcat 9.0.70 and
//! 10.1.60) decode and re-encode byte-identically.

use bytes::{Bytes, BytesMut};
use tribes_wire::{ack, control, member, Ack, ChannelData, ControlPayload, FrameDecoder, Member};

/// `(section, title, bytes)` for every titled hex block of the spec's vector file.
fn vectors() -> Vec<(String, String, Vec<u8>)> {
    let path = tomcat_harness::repo_root().join("../shared/spec/test-vectors.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is not readable ({e}): the spec lives beside the repository", path.display()));
    let mut out = Vec::new();
    let (mut section, mut title) = (String::new(), String::new());
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(s) = line.strip_prefix("## ") {
            section = s.split('.').next().unwrap_or("").to_string();
        } else if line.starts_with("**") {
            title = line.trim_start_matches("**").split("**").next().unwrap_or("").to_string();
        } else if line.trim() == "```" && !title.is_empty() {
            let mut hex = String::new();
            for l in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                hex.push_str(&l.replace(' ', ""));
            }
            out.push((section.clone(), std::mem::take(&mut title), ::hex::decode(&hex).expect("vector is hex")));
        }
    }
    out
}

#[test]
fn every_member_packet_vector_reencodes_identically() {
    let members: Vec<_> = vectors().into_iter().filter(|(s, _, _)| s == "2").collect();
    assert_eq!(members.len(), 4, "section 2 has 4 member packets");
    for (_, title, bytes) in members {
        let m = Member::decode(&Bytes::from(bytes.clone())).unwrap_or_else(|e| panic!("{title}: {e}"));
        assert_eq!(m.to_bytes()[..], bytes[..], "{title}");
        assert_eq!(m.is_shutdown(), title.contains("SHUTDOWN"), "{title}");
    }
}

#[test]
fn every_frame_vector_decodes_and_reencodes_identically() {
    let frames: Vec<_> = vectors().into_iter().filter(|(s, _, _)| s == "3").collect();
    assert_eq!(frames.len(), 3, "section 3 has 3 frames");
    for (_, title, bytes) in frames {
        let mut src = BytesMut::from(&bytes[..]);
        let payload = FrameDecoder::default().decode(&mut src).unwrap_or_else(|e| panic!("{title}: {e}"));
        let payload = payload.unwrap_or_else(|| panic!("{title}: incomplete"));
        assert!(src.is_empty(), "{title}: one frame");
        let cd = ChannelData::decode(&payload).unwrap_or_else(|e| panic!("{title}: {e}"));
        assert_eq!(cd.to_frame()[..], bytes[..], "{title}");
        if title.contains("probe") {
            assert_eq!(ControlPayload::classify(&cd.message), Some(ControlPayload::FailureDetectorProbe));
        }
    }
}

#[test]
fn every_constant_vector_matches_ours() {
    let constants: Vec<_> = vectors().into_iter().filter(|(s, _, _)| s == "1").collect();
    let mut checked = 0;
    for (_, title, bytes) in &constants {
        let ours: Option<&[u8]> = match title.as_str() {
            "ACK_COMMAND" => Some(Ack::Ack.frame()),
            "FAIL_ACK_COMMAND" => Some(Ack::FailAck.frame()),
            "TRIBES_MBR_BEGIN" => Some(&member::MBR_BEGIN),
            "TRIBES_MBR_END" => Some(&member::MBR_END),
            "Member.SHUTDOWN_PAYLOAD" => Some(&member::SHUTDOWN_PAYLOAD),
            "TcpFailureDetector.TCP_FAIL_DETECT" => Some(&control::TCP_FAIL_DETECT),
            "TcpPingInterceptor.TCP_PING_DATA" => Some(&control::TCP_PING_DATA),
            "StaticMembershipInterceptor.MEMBER_START" => Some(control::MEMBER_START),
            "StaticMembershipInterceptor.MEMBER_STOP" => Some(control::MEMBER_STOP),
            "TwoPhaseCommitInterceptor.START_DATA" => Some(&control::TWO_PHASE_START),
            "TwoPhaseCommitInterceptor.END_DATA" => Some(&control::TWO_PHASE_END),
            "NonBlockingCoordinator.COORD_HEADER" => Some(&control::COORD_HEADER),
            _ => None,
        };
        if let Some(ours) = ours {
            assert_eq!(ours, &bytes[..], "{title}");
            checked += 1;
        }
    }
    assert_eq!(checked, 12, "constants checked; titles seen: {:?}", constants.iter().map(|c| &c.1).collect::<Vec<_>>());
    assert_eq!(ack::ACK_DATA, Ack::Ack.frame()[11..14]);
}
