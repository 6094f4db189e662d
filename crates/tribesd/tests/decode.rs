//! `tribesd decode`, run as the real binary on the spec's verified vectors and on broken input.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

mod vectors;
use vectors::*;

/// What one run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The run failed with exit status 1 and exactly one `error: ...` line; returns that line.
    fn error_line(&self) -> &str {
        assert_eq!(self.code, 1, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line expected, got:\n{}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{}", lines[0]);
        lines[0]
    }

    fn assert_success(&self) -> &Self {
        assert_eq!(self.code, 0, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(self.stderr.is_empty(), "{}", self.stderr);
        self
    }

    /// One JSON object per stdout line.
    fn json(&self) -> Vec<Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).expect("every line is a JSON object")).collect()
    }
}

fn tribesd(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tribesd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tribesd binary starts");
    let mut child_stdin = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // The binary may exit before reading everything; a broken pipe here is not the test's concern.
    let writer = std::thread::spawn(move || {
        let _ = child_stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("tribesd runs to the end");
    writer.join().expect("stdin writer");
    Run {
        code: out.status.code().expect("tribesd exited by itself, not by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// `tribesd decode EXTRA...` with `hex` on stdin.
fn decode_stdin(hex: &str, extra: &[&str]) -> Run {
    let mut args = vec!["decode"];
    args.extend_from_slice(extra);
    tribesd(&args, hex.as_bytes())
}

/// `tribesd decode EXTRA... HEX` with the hex as one argument.
fn decode_arg(hex: &str, extra: &[&str]) -> Run {
    let mut args = vec!["decode"];
    args.extend_from_slice(extra);
    args.push(hex);
    tribesd(&args, b"")
}

fn compact(hex: &str) -> String {
    hex.split_whitespace().collect()
}

fn bytes(hex: &str) -> Vec<u8> {
    hex::decode(compact(hex)).expect("test hex is valid")
}

#[test]
fn the_hello_frame_is_printed_field_by_field() {
    let run = decode_stdin(HELLO_FRAME, &[]);
    run.assert_success();
    let expected = "\
frame 1 at offset 0: 140 bytes, ChannelData of 122 bytes
  options:      0x00000003 (byte|use_ack)
  timestamp:    1700000000000 (2023-11-14T22:13:20.000Z)
  unique id:    202122232425262728292a2b2c2d2e2f
  sender:       127.0.0.1:4000, member packet of 77 bytes at offset 47
    host:         127.0.0.1
    port:         4000
    secure port:  -1
    udp port:     -1
    alive:        1000 ms (1s)
    unique id:    000102030405060708090a0b0c0d0e0f {0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}
    domain:       (empty)
    command:      (none)
    payload:      0 bytes
  message:      5 bytes at offset 128, raw bytes
    0000  68 65 6c 6c 6f                                    |hello|
";
    assert_eq!(run.stdout, expected);
}

#[test]
fn the_hello_frame_as_json_carries_every_field_with_its_value() {
    let run = decode_stdin(HELLO_FRAME, &["--json"]);
    run.assert_success();
    let items = run.json();
    assert_eq!(items.len(), 1);
    let f = &items[0];
    assert_eq!(f["type"], "frame");
    assert_eq!(f["index"], 1);
    assert_eq!(f["offset"], 0);
    assert_eq!(f["length"], 140);
    assert_eq!(f["payload_length"], 122);
    assert_eq!(f["kind"], "channel_data");
    let cd = &f["channel_data"];
    assert_eq!(cd["options"], 3);
    assert_eq!(cd["options_text"], "0x00000003 (byte|use_ack)");
    assert_eq!(cd["timestamp"], 1_700_000_000_000_i64);
    assert_eq!(cd["timestamp_utc"], "2023-11-14T22:13:20.000Z");
    assert_eq!(cd["unique_id"], "202122232425262728292a2b2c2d2e2f");
    assert_eq!(cd["sender_offset"], 47);
    assert_eq!(cd["sender_length"], 77);
    assert_eq!(cd["message_offset"], 128);
    assert_eq!(cd["message_length"], 5);
    assert_eq!(cd["message_kind"], "raw");
    assert_eq!(cd["control"], Value::Null);
    assert_eq!(cd["java_class"], Value::Null);
    assert_eq!(cd["message"], "68656c6c6f");
    let m = &cd["sender"];
    assert_eq!(m["host"], "127.0.0.1");
    assert_eq!(m["host_hex"], "7f000001");
    assert_eq!(m["port"], 4000);
    assert_eq!(m["secure_port"], -1);
    assert_eq!(m["udp_port"], -1);
    assert_eq!(m["alive_ms"], 1000);
    assert_eq!(m["alive"], "1s");
    assert_eq!(m["unique_id"], "000102030405060708090a0b0c0d0e0f");
    assert_eq!(m["domain"], "");
    assert_eq!(m["command"], "");
    assert_eq!(m["shutdown"], false);
    assert_eq!(m["payload_length"], 0);
    assert_eq!(m["payload"], "");
}

#[test]
fn member_b_is_detected_as_a_member_packet_with_its_domain_and_payload() {
    let run = decode_stdin(MEMBER_B, &[]);
    run.assert_success();
    assert!(run.stdout.starts_with("member packet at offset 0: 90 bytes\n"), "{}", run.stdout);
    for line in [
        "  host:         127.0.0.1\n",
        "  port:         4000\n",
        "  alive:        5000 ms (5s)\n",
        "  domain:       \"mydomain\"\n",
        "  command:      (none)\n",
        "  payload:      5 bytes\n",
        "|hello|",
    ] {
        assert!(run.stdout.contains(line), "missing {line:?} in\n{}", run.stdout);
    }

    let json = decode_stdin(MEMBER_B, &["--json"]);
    let items = json.assert_success().json();
    assert_eq!(items.len(), 1);
    let m = &items[0];
    assert_eq!(m["type"], "member");
    assert_eq!(m["offset"], 0);
    assert_eq!(m["length"], 90);
    assert_eq!(m["alive_ms"], 5000);
    assert_eq!(m["domain"], "mydomain");
    assert_eq!(m["domain_hex"], "6d79646f6d61696e");
    assert_eq!(m["payload_length"], 5);
    assert_eq!(m["payload"], "68656c6c6f");
    assert_eq!(m["shutdown"], false);
}

#[test]
fn the_shutdown_heartbeat_of_member_b_names_its_command() {
    let run = decode_stdin(MEMBER_B_SHUTDOWN, &[]);
    run.assert_success();
    assert!(run.stdout.starts_with("member packet at offset 0: 99 bytes\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("  command:      \"BABY-ALEX\", SHUTDOWN: the member is leaving the cluster\n"),
        "{}",
        run.stdout
    );

    let items = decode_stdin(MEMBER_B_SHUTDOWN, &["--json"]).json();
    assert_eq!(items[0]["command"], "BABY-ALEX");
    assert_eq!(items[0]["command_hex"], "424142592d414c4558");
    assert_eq!(items[0]["shutdown"], true);
}

#[test]
fn an_ipv6_member_shows_its_host_as_an_address() {
    let run = decode_stdin(MEMBER_C, &["--json"]);
    let m = &run.assert_success().json()[0];
    assert_eq!(m["host"], "::1");
    assert_eq!(m["port"], 4001);
    assert_eq!(m["alive"], "100ms");
}

#[test]
fn an_ack_and_a_fail_ack_back_to_back_are_named_in_order() {
    let stream = format!("{ACK_COMMAND}{FAIL_ACK_COMMAND}");
    let run = decode_stdin(&stream, &[]);
    run.assert_success();
    assert_eq!(run.stdout, "frame 1 at offset 0: 21 bytes, ACK\n\nframe 2 at offset 21: 21 bytes, FAIL_ACK\n");

    let items = decode_stdin(&stream, &["--json"]).json();
    assert_eq!(items.len(), 2);
    assert_eq!((&items[0]["kind"], &items[0]["offset"]), (&Value::from("ack"), &Value::from(0)));
    assert_eq!((&items[1]["kind"], &items[1]["offset"]), (&Value::from("fail_ack"), &Value::from(21)));
    assert_eq!(items[1]["channel_data"], Value::Null);
}

#[test]
fn the_failure_detector_probe_is_named_instead_of_dumped() {
    let run = decode_stdin(PROBE_FRAME, &[]);
    run.assert_success();
    assert!(run.stdout.starts_with("frame 1 at offset 0: 199 bytes, ChannelData of 181 bytes\n"));
    assert!(run.stdout.contains("  options:      0x00000001 (byte)\n"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("  message:      64 bytes at offset 128, TcpFailureDetector probe (TCP_FAIL_DETECT)\n"),
        "{}",
        run.stdout
    );

    let cd = &decode_stdin(PROBE_FRAME, &["--json"]).json()[0]["channel_data"];
    assert_eq!(cd["message_kind"], "control");
    assert_eq!(cd["control"], "tcp_failure_detector_probe");
    assert_eq!(cd["unique_id"], "303132333435363738393a3b3c3d3e3f");
}

#[test]
fn two_frames_back_to_back_are_both_decoded_at_their_offsets() {
    let stream = format!("{HELLO_FRAME}{PROBE_FRAME}");
    let run = decode_stdin(&stream, &[]);
    run.assert_success();
    assert!(run.stdout.contains("frame 1 at offset 0: 140 bytes"), "{}", run.stdout);
    assert!(run.stdout.contains("\n\nframe 2 at offset 140: 199 bytes"), "{}", run.stdout);
    assert!(run.stdout.contains("sender:       127.0.0.1:4000, member packet of 77 bytes at offset 187\n"));

    let items = decode_stdin(&stream, &["--json"]).json();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["index"], 2);
    assert_eq!(items[1]["offset"], 140);
    assert_eq!(items[1]["channel_data"]["sender_offset"], 187);
    assert_eq!(items[1]["channel_data"]["message_offset"], 268);
}

#[test]
fn a_session_delta_names_the_java_class_of_its_message() {
    let run = decode_stdin(SESSION_DELTA_FRAME, &[]);
    run.assert_success();
    assert!(run.stdout.contains("  options:      0x00000008 (async)\n"));
    assert!(run.stdout.contains("  timestamp:    1700000000123 (2023-11-14T22:13:20.123Z)\n"));
    assert!(
        run.stdout.contains(
            "  message:      Java-serialized object, 701 bytes at offset 128, \
             class org.apache.catalina.ha.session.SessionMessageImpl\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("    ... 637 more bytes\n  java stream:"), "a 64-byte preview: {}", run.stdout);

    let cd = &decode_stdin(SESSION_DELTA_FRAME, &["--json"]).json()[0]["channel_data"];
    assert_eq!(cd["message_kind"], "java_serialized");
    assert_eq!(cd["java_class"], "org.apache.catalina.ha.session.SessionMessageImpl");
    assert_eq!(cd["message"].as_str().map(str::len), Some(701 * 2), "the whole message, as hex");
}

#[test]
fn a_binary_file_decodes_like_the_same_hex() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tribesd-decode-capture.bin");
    let mut capture = bytes(HELLO_FRAME);
    capture.extend(bytes(ACK_COMMAND));
    std::fs::write(&path, &capture).expect("write the capture");
    let path = path.to_str().expect("UTF-8 temp path");

    let from_hex = decode_stdin(&format!("{HELLO_FRAME}{ACK_COMMAND}"), &[]);
    let from_file = tribesd(&["decode", "--file", path], b"");
    from_file.assert_success();
    assert_eq!(from_file.stdout, from_hex.stdout);
    assert!(from_file.stdout.contains("frame 2 at offset 140: 21 bytes, ACK"));

    let from_raw_stdin = tribesd(&["decode", "--file", "-"], &capture);
    from_raw_stdin.assert_success();
    assert_eq!(from_raw_stdin.stdout, from_hex.stdout);
}

#[test]
fn hex_arguments_with_0x_prefixes_decode_like_hex_on_stdin() {
    let hex = compact(HELLO_FRAME);
    let from_stdin = decode_stdin(HELLO_FRAME, &[]);
    let one_arg = decode_arg(&format!("0x{hex}"), &[]);
    one_arg.assert_success();
    assert_eq!(one_arg.stdout, from_stdin.stdout);
    let (head, tail) = hex.split_at(22);
    let split = tribesd(&["decode", &format!("0X{head}"), tail], b"");
    assert_eq!(split.assert_success().stdout, from_stdin.stdout);
}

#[test]
fn a_bare_channel_data_decodes_with_as_channel_data() {
    let hex = compact(HELLO_FRAME);
    let payload = &hex[22..hex.len() - 14];
    let run = decode_arg(payload, &["--as", "channel-data"]);
    run.assert_success();
    assert!(run.stdout.starts_with("ChannelData at offset 0: 122 bytes\n"), "{}", run.stdout);
    assert!(run.stdout.contains("member packet of 77 bytes at offset 36\n"), "{}", run.stdout);

    let items = decode_arg(payload, &["--as", "channel-data", "--json"]).json();
    assert_eq!(items[0]["type"], "channel_data");
    assert_eq!(items[0]["length"], 122);
    assert_eq!(items[0]["message_offset"], 117);
    assert_eq!(items[0]["sender"]["port"], 4000);
}

#[test]
fn junk_at_the_start_is_refused_at_offset_0() {
    let run = decode_arg("deadbeef00", &[]);
    assert_eq!(
        run.error_line(),
        "error: input starts with neither FLT2002 (frames) nor TRIBES-B (a member packet) at offset 0 \
         (first bytes de ad be ef 00); use --as frame|member|channel-data to force one"
    );
    assert!(run.stdout.is_empty());

    let forced = decode_arg("464c5458", &["--as", "frame"]);
    assert_eq!(
        forced.error_line(),
        "error: frame 1 at offset 0: package does not start with FLT2002: byte at offset 3 is 0x58"
    );
    let member = decode_arg(&compact(HELLO_FRAME), &["--as", "member"]);
    assert_eq!(member.error_line(), "error: member packet at offset 0: expected the TRIBES-B begin marker at offset 0");
}

#[test]
fn junk_after_a_good_frame_is_reported_at_its_offset_and_the_good_frame_is_still_printed() {
    let run = decode_stdin(&format!("{HELLO_FRAME} 58 59 5a"), &[]);
    assert_eq!(
        run.error_line(),
        "error: frame 2 at offset 140: package does not start with FLT2002: byte at offset 140 is 0x58"
    );
    assert!(run.stdout.starts_with("frame 1 at offset 0: 140 bytes"), "{}", run.stdout);

    let json = decode_stdin(&format!("{HELLO_FRAME} 58 59 5a"), &["--json"]);
    assert_eq!(json.json().len(), 1, "the good frame is still a JSON line");
}

#[test]
fn a_wrong_end_marker_is_reported_at_its_absolute_offset() {
    let bad = "464c5432303032 00000001 aa 544c4658303033"; // TLFX003
    let run = decode_stdin(&format!("{HELLO_FRAME}{bad}"), &[]);
    assert_eq!(
        run.error_line(),
        "error: frame 2 at offset 140: package does not end with TLF2003 at offset 152 (declared payload length 1)"
    );
    assert!(run.stdout.starts_with("frame 1 at offset 0"));
}

#[test]
fn a_truncated_frame_says_how_many_bytes_are_missing() {
    let hex = compact(HELLO_FRAME);
    let run = decode_arg(&hex[..hex.len() - 20], &[]);
    assert_eq!(
        run.error_line(),
        "error: frame 1 at offset 0: truncated frame: 140 bytes needed for a 122 byte payload \
         but only 130 remain (10 bytes missing)"
    );

    let header = decode_stdin(&format!("{ACK_COMMAND} 46 4c 54 32"), &[]);
    assert_eq!(
        header.error_line(),
        "error: frame 2 at offset 21: truncated frame header: 11 bytes needed but only 4 remain (7 bytes missing)"
    );
    assert_eq!(header.stdout, "frame 1 at offset 0: 21 bytes, ACK\n");
}

#[test]
fn a_giant_length_is_refused_against_the_frame_length_cap() {
    let run = decode_arg("464c5432303032 7fffffff 00", &[]);
    assert_eq!(
        run.error_line(),
        "error: frame 1 at offset 0: package length 2147483647 at offset 7 is over the 67108864 byte limit (--max-frame-len)"
    );
    let negative = decode_arg("464c5432303032 ffffffff", &[]);
    assert_eq!(negative.error_line(), "error: frame 1 at offset 0: package length -1 at offset 7 is negative");

    let capped = decode_stdin(&format!("{ACK_COMMAND}{HELLO_FRAME}"), &["--max-frame-len", "100"]);
    assert_eq!(
        capped.error_line(),
        "error: frame 2 at offset 21: package length 122 at offset 28 is over the 100 byte limit (--max-frame-len)"
    );
}

#[test]
fn odd_or_invalid_hex_is_refused_with_its_position() {
    let odd = decode_arg("46 4c 5", &[]);
    assert_eq!(
        odd.error_line(),
        "error: invalid hex: odd number of hex digits (5); the last one, at position 6, has no pair"
    );
    let bad = decode_stdin("46 4c 54\n32 3z", &[]);
    assert_eq!(bad.error_line(), "error: invalid hex: 'z' at position 13 (line 2, column 5) is not a hex digit");
    assert!(bad.stdout.is_empty());
    let empty = decode_stdin(" \n", &[]);
    assert_eq!(empty.error_line(), "error: no bytes to decode: the hex input is empty");
}

#[test]
fn a_corrupted_member_inside_a_frame_is_reported_at_its_absolute_offset() {
    // The second frame's member packet starts at 140 + 11 + 36 = 187; break its "TRIBES-B".
    let mut stream = bytes(HELLO_FRAME);
    let mut second = bytes(HELLO_FRAME);
    second[11 + 36 + 4] = b'X';
    stream.extend(second);
    let run = decode_arg(&hex::encode(&stream), &[]);
    assert_eq!(
        run.error_line(),
        "error: frame 2 at offset 140: invalid ChannelData: expected the TRIBES-B begin marker at offset 187"
    );
    assert!(run.stdout.starts_with("frame 1 at offset 0"), "{}", run.stdout);
    assert!(!run.stdout.contains("frame 2"), "{}", run.stdout);
}

#[test]
fn a_member_body_length_mismatch_is_reported_at_the_nested_member_offset() {
    // The hello frame's member packet starts at 47; its body length field is at 57..61.
    let mut frame = bytes(HELLO_FRAME);
    frame[11 + 36 + 13] -= 1; // member body length 0x35 -> 0x34 at offset 57..61
    let run = decode_arg(&hex::encode(&frame), &[]);
    assert_eq!(
        run.error_line(),
        "error: frame 1 at offset 0: invalid ChannelData: member body length 52 at offset 57 does not match its fields (53 bytes)"
    );
}

#[test]
fn a_corrupted_member_packet_is_reported_at_its_offset() {
    let mut packet = bytes(MEMBER_B);
    packet[85] = b'X'; // inside TRIBES-E, which starts at 80
    let run = decode_arg(&hex::encode(&packet), &[]);
    assert_eq!(run.error_line(), "error: member packet at offset 0: expected the TRIBES-E end marker at offset 80");
}

#[test]
fn every_truncation_and_every_corrupted_byte_exits_cleanly_with_one_error_line_at_most() {
    let mut inputs = Vec::new();
    for vector in [HELLO_FRAME, MEMBER_B_SHUTDOWN] {
        let good = bytes(vector);
        for cut in 1..good.len() {
            inputs.push(good[..cut].to_vec());
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xa5;
            inputs.push(bad);
        }
    }
    for input in inputs {
        let run = tribesd(&["decode", "--file", "-"], &input);
        assert!(!run.stderr.contains("panicked"), "{}: {}", hex::encode(&input), run.stderr);
        match run.code {
            0 => assert!(run.stderr.is_empty()),
            1 => {
                run.error_line();
            }
            code => panic!("exit {code} for {}: {}", hex::encode(&input), run.stderr),
        }
    }
}

#[test]
fn a_session_delta_prints_its_session_message_fields_and_delta_actions() {
    let run = decode_stdin(SESSION_DELTA_FRAME, &[]);
    run.assert_success();
    for expected in [
        "event type:     13 EVT_SESSION_DELTA\n",
        "context:        \"/app\"\n",
        "session id:     \"0123456789ABCDEF0123456789ABCDEF\"\n",
        "unique id:      \"0123456789ABCDEF0123456789ABCDEF-1700000000000\"\n",
        "serialized at:  1700000000000 (2023-11-14T22:13:20.000Z)\n",
        "mSession:       291 bytes at offset 454\n",
        "[0] SET TYPE_ATTRIBUTE \"user\" = String \"alice\"\n",
        "[1] SET TYPE_MAXINTERVAL \"__SET__MAXINTERVAL__\" = Integer 1800\n",
        "[2] SET TYPE_ISNEW \"__SET__ISNEW__\" = Boolean false\n",
        "[3] REMOVE TYPE_ATTRIBUTE \"cart\"\n",
        "[4] SET TYPE_ATTRIBUTE \"count\" = Integer 7\n",
        "org.apache.catalina.ha.session.SessionMessageImpl (serialVersionUID 2)",
        "SessionMessageImpl.mEvtType: int 13\n",
    ] {
        assert!(run.stdout.contains(expected), "{expected:?} missing from:\n{}", run.stdout);
    }
    assert!(run.stdout.lines().count() < 300);

    let java = &decode_stdin(SESSION_DELTA_FRAME, &["--json"]).json()[0]["channel_data"]["java"];
    assert_eq!(java["offset"], 128);
    assert_eq!(java["error"], Value::Null);
    assert_eq!(java["classes"][0]["name"], "org.apache.catalina.ha.session.SessionMessageImpl");
    assert_eq!(java["classes"][0]["serial_version_uid"], 2);
    let m = &java["session_message"];
    assert_eq!(m["event_type"], 13);
    assert_eq!(m["event_name"], "EVT_SESSION_DELTA");
    assert_eq!(m["context_name"], "/app");
    assert_eq!(m["session_id"], "0123456789ABCDEF0123456789ABCDEF");
    assert_eq!(m["serialization_timestamp"], 1_700_000_000_000i64);
    assert_eq!(m["session_length"], 291);
    let d = &m["delta"];
    assert_eq!(d["session_id"], "0123456789ABCDEF0123456789ABCDEF");
    assert_eq!(d["count"], 5);
    let names: Vec<&str> = d["actions"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["user", "__SET__MAXINTERVAL__", "__SET__ISNEW__", "cart", "count"]);
    assert_eq!(d["actions"][1]["value_class"], "java.lang.Integer");
    assert_eq!(d["actions"][3]["action_name"], "REMOVE");
    assert!(java["dump"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().contains("mContextName: #5 string \"/app\"")));
}

/// The SessionMessageImpl of the delta frame (§4.3), as a bare stream.
fn session_message_bytes() -> Vec<u8> {
    let frame = bytes(SESSION_DELTA_FRAME);
    frame[128..128 + 701].to_vec()
}

#[test]
fn a_bare_java_stream_is_detected_and_decoded_with_or_without_as_java() {
    let stream = session_message_bytes();
    for args in [&["decode", "--file", "-"][..], &["decode", "--as", "java", "--file", "-"][..]] {
        let run = tribesd(args, &stream);
        run.assert_success();
        assert!(run.stdout.starts_with("Java stream at offset 0: 701 bytes\n"), "{}", run.stdout);
        assert!(run.stdout.contains("event type:     13 EVT_SESSION_DELTA\n"), "{}", run.stdout);
        assert!(run.stdout.contains("mSession:       291 bytes at offset 326\n"), "{}", run.stdout);
    }
    let items = tribesd(&["decode", "--as", "java", "--json", "--file", "-"], &stream).json();
    assert_eq!(items[0]["type"], "java");
    assert_eq!(items[0]["session_message"]["delta"]["actions"][0]["name"], "user");

    // A plain String stream: no SessionMessageImpl, its value listed.
    let run = decode_arg("aced0005 7400 05 68656c6c6f", &["--as", "java"]);
    run.assert_success();
    assert!(run.stdout.contains("contents[0]:    String \"hello\"\n"), "{}", run.stdout);
}

#[test]
fn a_corrupted_java_stream_is_reported_with_its_offset_and_the_frame_still_printed() {
    // Bare stream: a bad type code right after the header.
    let run = decode_arg("aced0005 99", &["--as", "java"]);
    let error = run.error_line().to_string();
    assert!(error.contains("Java stream at offset 0:"), "{error}");
    assert!(error.contains("at offset 4 (offset 4 in the stream)"), "{error}");
    assert!(run.stdout.contains("java error:"), "{}", run.stdout);

    // Inside a frame: the class-name length of SessionMessageImpl grown past the input.
    let mut frame = bytes(SESSION_DELTA_FRAME);
    assert_eq!(frame[128 + 6..128 + 8], [0x00, 0x31]);
    frame[128 + 6] = 0x7f;
    let run = tribesd(&["decode", "--file", "-"], &frame);
    let error = run.error_line().to_string();
    assert!(error.starts_with("error: frame 1 at offset 0: Java stream at offset 128: "), "{error}");
    assert!(run.stdout.contains("options:      0x00000008 (async)"), "the frame is still printed: {}", run.stdout);
    assert!(run.stdout.contains("java error:"), "{}", run.stdout);

    // A corrupted DeltaRequest inside a good SessionMessageImpl: the nested error is named.
    let mut frame = bytes(SESSION_DELTA_FRAME);
    let at = 454; // mSession
    assert_eq!(frame[at..at + 4], [0xac, 0xed, 0x00, 0x05]);
    frame[at + 4] = 0x99;
    let run = tribesd(&["decode", "--file", "-"], &frame);
    let error = run.error_line().to_string();
    assert!(error.contains("in mSession: Java stream at offset 454: "), "{error}");
    assert!(error.contains("at offset 458 (offset 4 in the stream)"), "{error}");
}

#[test]
fn every_corrupted_byte_of_a_session_message_exits_cleanly() {
    let good = session_message_bytes();
    for i in 4..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0xa5;
        let run = tribesd(&["decode", "--as", "java", "--file", "-"], &bad);
        assert!(!run.stderr.contains("panicked"), "{i}: {}", run.stderr);
        match run.code {
            0 => assert!(run.stderr.is_empty()),
            1 => {
                run.error_line();
            }
            code => panic!("exit {code} for byte {i}: {}", run.stderr),
        }
    }
}
