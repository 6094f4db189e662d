//! Messages both ways between our channel and a stock Tribes GroupChannel (TribesPeer, built on
//! each pinned Tomcat release's catalina-tribes.jar): 100 B, 1 KiB and 64 KiB with options 0, 2,
//! 6 and 8. Every message arrives intact and once (count, distinct sequence numbers, CRC32 sum),
//! and a FAIL_ACK from a failing listener gives exactly one resend, in both directions.
//!
//! Everything runs on 127.0.0.1 outside a namespace (TCP only, distinct ports per Tomcat line).
//! `TRIBES_PEER_MESSAGES` overrides the number of messages per combination (10,000 as the issue asks).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use tomcat_harness::java_peer::{fields, JavaPeer};
use tribes::channel::{ChannelConfig, ChannelError, GroupChannel, Payload};
use tribes::receiver::{self, ServeOptions};
use tribes::sender::{FailureCause, SenderStats};
use tribes_wire::{Member, SendOptions, UniqueId};

const SIZES: [usize; 3] = [100, 1024, 65536];
const OPTIONS: [i32; 4] = [0, 2, 6, 8];

fn messages_per_combination() -> u64 {
    std::env::var("TRIBES_PEER_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

// ---- payloads and checksums, as TribesPeer.java computes them ----

fn payload(seq: u64, size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size];
    p[..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(8) {
        *b = (seq.wrapping_mul(31).wrapping_add(i as u64 * 7) & 0xff) as u8;
    }
    p
}

fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    let mut c = !0u32;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The sum of CRC32s of payloads 0..n of `size`, wrapping as a Java long.
fn expected_crc(n: u64, size: usize) -> u64 {
    (0..n).map(|seq| u64::from(crc32(&payload(seq, size)))).fold(0u64, u64::wrapping_add)
}

#[test]
fn crc32_is_java_util_zip_crc32() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

// ---- the stock peer ----

/// The stock Tribes peer (tests/java/tribes-peer) of one Tomcat line.
struct Peer(JavaPeer);

impl Peer {
    fn start(tomcat: &tomcat_harness::Tomcat, test: &str, port: u16) -> Peer {
        let log =
            tomcat_harness::repo_root().join("target/tribes-peer").join(test).join(format!("{}.log", tomcat.version));
        Peer(JavaPeer::start("run-tribes-peer.sh", tomcat, port, log).unwrap_or_else(|e| panic!("{e}")))
    }

    fn cmd(&mut self, command: &str) -> String {
        self.0.cmd(command, Duration::from_secs(180)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn member(&self) -> Member {
        Member::new("127.0.0.1".parse().unwrap(), i32::from(self.0.port), UniqueId(self.0.id()), 0)
    }

    fn log_text(&self) -> String {
        self.0.log_text()
    }
}

// ---- our side ----

/// What our receiver's application saw since the last reset.
#[derive(Default)]
struct Seen {
    count: u64,
    failed: u64,
    dups: u64,
    inversions: u64,
    crc: u64,
    bytes: u64,
    last_seq: Option<u64>,
    seqs: std::collections::HashSet<u64>,
    options: std::collections::BTreeSet<i32>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "count={} distinct={} dups={} failed={} inversions={} crc={} bytes={} options={:?}",
            self.count,
            self.seqs.len(),
            self.dups,
            self.failed,
            self.inversions,
            self.crc,
            self.bytes,
            self.options
        )
    }
}

struct Us {
    channel: GroupChannel,
    seen: Arc<Mutex<Seen>>,
    fail_next: Arc<AtomicU32>,
    _receiver: tokio::task::JoinHandle<()>,
}

fn start_us(rt: &Runtime) -> Us {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).unwrap();
        let local = Member::new("127.0.0.1".parse().unwrap(), i32::from(port), UniqueId::from_random(id), 0);
        let channel = GroupChannel::new(local, ChannelConfig::default());
        let (handler, mut incoming) = channel.incoming();
        let receiver = receiver::serve_with(listener, ServeOptions::default(), handler);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let fail_next = Arc::new(AtomicU32::new(0));
        let (s, f) = (seen.clone(), fail_next.clone());
        tokio::spawn(async move {
            while let Some(m) = incoming.recv().await {
                if f.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                    s.lock().unwrap().failed += 1;
                    m.complete(Err("failing on purpose".into()));
                    continue;
                }
                let p = m.message.message.clone();
                let mut s = s.lock().unwrap();
                s.count += 1;
                s.bytes += p.len() as u64;
                s.crc = s.crc.wrapping_add(u64::from(crc32(&p)));
                s.options.insert(m.message.options.bits());
                let seq = u64::from_be_bytes(p[..8].try_into().unwrap());
                if !s.seqs.insert(seq) {
                    s.dups += 1;
                }
                if s.last_seq.is_some_and(|l| seq < l) {
                    s.inversions += 1;
                }
                s.last_seq = Some(seq);
            }
        });
        Us { channel, seen, fail_next, _receiver: receiver }
    })
}

impl Us {
    fn reset(&self) {
        *self.seen.lock().unwrap() = Seen::default();
    }

    fn wait_for(&self, n: u64, timeout: Duration) -> std::sync::MutexGuard<'_, Seen> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let s = self.seen.lock().unwrap();
                if s.count >= n || Instant::now() > deadline {
                    return s;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn port(&self) -> u16 {
        self.channel.local().port as u16
    }
}

fn hex(id: &UniqueId) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// Collects result lines, and prints each at once (`--nocapture` shows progress).
struct Report(Mutex<Vec<String>>);

impl Report {
    fn push(&self, line: String) {
        eprintln!("{line}");
        self.0.lock().unwrap().push(line);
    }
}

fn check_line(tomcat: &tomcat_harness::Tomcat, base_port: u16, n: u64, report: &Report) {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let us = start_us(&rt);
    let mut peer = Peer::start(tomcat, "stock_peer", base_port);
    let them = peer.member();
    let v = &tomcat.version;
    let our_hex = hex(&us.channel.local().unique_id);

    for size in SIZES {
        let crc = expected_crc(n, size);
        for options in OPTIONS {
            // Ours -> stock.
            assert_eq!(peer.cmd("reset"), "ok");
            let t = Instant::now();
            let failures = rt.block_on(async {
                let mut failures = 0;
                for seq in 0..n {
                    let p = Payload::Bytes(Bytes::from(payload(seq, size)));
                    if let Err(e) = us.channel.send(std::slice::from_ref(&them), p, SendOptions(options)).await {
                        failures += 1;
                        eprintln!("Tomcat {v}: send {seq} ({size} B, options {options}) failed: {e}");
                    }
                }
                failures
            });
            let sent_ms = t.elapsed().as_millis();
            let got = peer.cmd(&format!("wait {n} 60000"));
            let f = fields(&got);
            let ms = t.elapsed().as_millis();
            let what = format!("Tomcat {v}, ours -> stock, {size} B, options {options}: {got}");
            assert_eq!(failures, 0, "{what}");
            assert_eq!(f["count"], n.to_string(), "{what}");
            assert_eq!(f["distinct"], n.to_string(), "{what}");
            assert_eq!(f["dups"], "0", "{what}");
            assert_eq!(f["failed"], "0", "{what}");
            assert_eq!(f["bytes"], (n * size as u64).to_string(), "{what}");
            assert_eq!(f["crc"], crc.to_string(), "{what}");
            assert_eq!(f["from_port"], us.port().to_string(), "{what}: the ChannelData names our member");
            if options & 6 == 6 {
                // We wait for each ACK, sent after processing, so they cannot overtake each other.
                // Otherwise they can, inside the stock receiver: NioReplicationTask re-arms the
                // connection for reading before it processes (and with USE_ACK alone, ACKs) the
                // frames it took out, so another worker may deliver later frames first.
                assert_eq!(f["inversions"], "0", "{what}: synchronously acknowledged messages arrive in order");
            }
            report.push(format!(
                "Tomcat {v}: ours->stock {size:>5} B options {options}: {n} in {ms} ms (sent in {sent_ms} ms), {} out of order",
                f["inversions"]
            ));

            // Stock -> ours.
            us.reset();
            let t = Instant::now();
            let sent = peer.cmd(&format!("send 127.0.0.1 {} {our_hex} {n} {size} {options} 60000", us.port()));
            let sf = fields(&sent);
            let seen = us.wait_for(n, Duration::from_secs(60));
            let ms = t.elapsed().as_millis();
            let what = format!("Tomcat {v}, stock -> ours, {size} B, options {options}: {sent}; we saw {seen:?}");
            assert_eq!(sf["ok"], n.to_string(), "{what}");
            assert_eq!(sf["failed"], "0", "{what}");
            assert_eq!(seen.count, n, "{what}");
            assert_eq!(seen.seqs.len() as u64, n, "{what}");
            assert_eq!(seen.dups, 0, "{what}");
            assert_eq!(seen.bytes, n * size as u64, "{what}");
            assert_eq!(seen.crc, crc, "{what}");
            assert_eq!(seen.options.iter().copied().collect::<Vec<_>>(), vec![options | 1], "{what}");
            report.push(format!(
                "Tomcat {v}: stock->ours {size:>5} B options {options}: {n} in {ms} ms, {} out of order",
                seen.inversions
            ));
        }
    }

    // The stock side had nothing to complain about so far.
    let log = peer.log_text();
    let complaints: Vec<&str> = log.lines().filter(|l| l.starts_with("WARNING") || l.starts_with("SEVERE")).collect();
    assert!(complaints.is_empty(), "Tomcat {v}: the stock peer complained:\n{log}");

    // FAIL_ACK, stock sender -> our receiver: the stock sender resends once.
    us.reset();
    us.fail_next.store(1, Ordering::SeqCst);
    let sent = peer.cmd(&format!("send 127.0.0.1 {} {our_hex} 1 100 6 10000", us.port()));
    let seen = us.wait_for(1, Duration::from_secs(10));
    assert_eq!(fields(&sent)["ok"], "1", "Tomcat {v}: {sent}");
    assert_eq!((seen.failed, seen.count), (1, 1), "Tomcat {v}: one failed delivery, one resend: {seen:?}");
    drop(seen);
    us.reset();
    us.fail_next.store(2, Ordering::SeqCst);
    let sent = peer.cmd(&format!("send 127.0.0.1 {} {our_hex} 1 100 6 10000", us.port()));
    let sf = fields(&sent);
    assert_eq!((sf["ok"].as_str(), sf["failed"].as_str()), ("0", "1"), "Tomcat {v}: {sent}");
    assert!(sf["error"].contains("RemoteProcessException"), "Tomcat {v}: {sent}");
    std::thread::sleep(Duration::from_millis(300));
    let seen = us.wait_for(1, Duration::from_millis(1));
    assert_eq!((seen.failed, seen.count), (2, 0), "Tomcat {v}: exactly one resend, no third try: {seen:?}");
    drop(seen);

    // FAIL_ACK, our sender -> stock receiver: we resend once.
    let stats = us.channel.sender().stats();
    let (resends, fail_acks) = (SenderStats::get(&stats.resends), SenderStats::get(&stats.fail_acks));
    assert_eq!(peer.cmd("reset"), "ok");
    assert_eq!(peer.cmd("fail 1"), "ok");
    rt.block_on(us.channel.send(std::slice::from_ref(&them), Payload::Bytes(payload(0, 100).into()), SendOptions(6)))
        .unwrap();
    let f = fields(&peer.cmd("wait 1 10000"));
    assert_eq!((f["failed"].as_str(), f["count"].as_str()), ("1", "1"), "Tomcat {v}: {f:?}");
    assert_eq!(SenderStats::get(&stats.resends) - resends, 1);
    assert_eq!(SenderStats::get(&stats.fail_acks) - fail_acks, 1);
    assert_eq!(peer.cmd("reset"), "ok");
    assert_eq!(peer.cmd("fail 2"), "ok");
    match rt.block_on(us.channel.send(
        std::slice::from_ref(&them),
        Payload::Bytes(payload(0, 100).into()),
        SendOptions(6),
    )) {
        Err(ChannelError::Send(e)) => {
            assert!(matches!(e.faulty[0].cause, FailureCause::FailAck), "Tomcat {v}: {e}");
            assert_eq!(e.faulty[0].attempts, 2);
        }
        other => panic!("Tomcat {v}: {other:?}"),
    }
    let f = fields(&peer.cmd("wait 1 300"));
    assert_eq!((f["failed"].as_str(), f["count"].as_str()), ("2", "0"), "Tomcat {v}: {f:?}");

    // A Java-serialized payload (the String "hello") reaches the stock listener as a String.
    assert_eq!(peer.cmd("reset"), "ok");
    let hello = Bytes::from_static(b"\xac\xed\x00\x05\x74\x00\x05hello");
    rt.block_on(us.channel.send(std::slice::from_ref(&them), Payload::Serialized(hello), SendOptions(6))).unwrap();
    let f = fields(&peer.cmd("wait 1 10000"));
    assert_eq!((f["strings"].as_str(), f["last_string"].as_str()), ("1", "hello"), "Tomcat {v}: {f:?}");

    report.push(format!("Tomcat {v}: done in {:?}", started.elapsed()));
}

#[test]
fn messages_flow_both_ways_intact_and_once_with_stock_tribes() {
    let n = messages_per_combination();
    let report = Report(Mutex::new(Vec::new()));
    let started = Instant::now();
    for (i, tomcat) in tomcat_harness::tomcats().iter().enumerate() {
        check_line(tomcat, 4700 + 40 * i as u16, n, &report);
    }
    eprintln!("summary:");
    for line in report.0.lock().unwrap().iter() {
        eprintln!("  {line}");
    }
    eprintln!("{n} messages per combination; all Tomcat lines in {:?}", started.elapsed());
}

/// TcpFailureDetector in the data path: a stock peer killed with -9 is removed by our detector at
/// the next failed send (its port refuses the probe), without waiting for the membership layer
/// below to time it out: nothing is fed from below after the kill.
#[test]
fn a_stock_peer_killed_with_9_is_removed_after_the_next_failed_send() {
    use tokio::sync::broadcast;
    use tribes::detector::FailureDetectorService;
    use tribes::membership::MembershipEvent;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let us = start_us(&rt);
    for (i, tomcat) in tomcat_harness::tomcats().iter().enumerate() {
        let mut peer = Peer::start(tomcat, "crash", 5000 + 20 * i as u16);
        let member = peer.member();
        let (below, below_rx) = broadcast::channel(16);
        let detector = rt.block_on(async {
            FailureDetectorService::start(us.channel.local().clone(), Default::default(), below_rx)
        });
        let mut events = detector.subscribe();
        let next = |events: &mut broadcast::Receiver<MembershipEvent>| {
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), events.recv()).await })
                .expect("an event within 10 s")
                .expect("event channel open")
        };
        below.send(MembershipEvent::Added(member.clone())).unwrap();
        assert!(
            matches!(next(&mut events), MembershipEvent::Added(m) if m.id() == member.id()),
            "admitted after a probe"
        );
        let payload = || Payload::Bytes(Bytes::from_static(b"ping"));
        rt.block_on(us.channel.send(std::slice::from_ref(&member), payload(), SendOptions(2))).expect("acknowledged");

        peer.0.kill9();
        let killed = Instant::now();
        let err = rt.block_on(us.channel.send(std::slice::from_ref(&member), payload(), SendOptions(2))).unwrap_err();
        let ChannelError::Send(err) = err else { panic!("Tomcat {}: {err}", tomcat.version) };
        assert!(!err.faulty[0].cause.is_remote_process_failure(), "{err}");
        detector.report_send_error(&err);
        match next(&mut events) {
            MembershipEvent::Disappeared { member: m, .. } => assert_eq!(m.id(), member.id()),
            other => panic!("Tomcat {}: expected the killed peer to disappear, got {other:?}", tomcat.version),
        }
        eprintln!(
            "Tomcat {}: killed stock peer removed {:?} after the kill (dropTime is 3 s)",
            tomcat.version,
            killed.elapsed()
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while !detector.members().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(detector.members().is_empty(), "Tomcat {}: the peer is no longer listed", tomcat.version);
        rt.block_on(detector.stop());
    }
}
