//! The Tribes channel: tribesd against stock Tribes (issue: receiver, sender, channel bench).
//!
//! In one run, for 1 KiB and 64 KiB messages and send options 0, 2 (USE_ACK), 6 (USE_ACK +
//! SYNCHRONIZED_ACK) and 8 (ASYNCHRONOUS), one sender sends N messages to one receiver:
//! - stock: a TribesBench JVM (tests/java/tribes-bench, a stock GroupChannel) sends to another
//!   TribesBench JVM; the time runs from the send command until the receiving JVM counted all N;
//! - tribesd: our `GroupChannel` sends to our receiver (`receiver::serve_with` with the channel's
//!   incoming queue), in this process on one tokio runtime; the time runs until the application
//!   side of the receiver took all N off the queue.
//!
//! Both sides get the same N and a warm-up of N/5 messages first. Then, ours only (stock's bench
//! peer sends from one thread): 1 KiB acknowledged messages (options 2 and 6) from one task, and
//! from [`TASKS`] tasks at once to the one receiver: with one unanswered frame at a time on the
//! member's connection (`max_unacked` 1, as before pipelining), with the default sender
//! (USE_ACK frames pipelined, SYNCHRONIZED_ACK ones not), and with `pipeline_synchronized_acks`.
//! The loopback TCP limit is a
//! plain tokio blast of 64 KiB and of 512 KiB writes from one socket to another, measured in the
//! same run (the best).
//! MB/s counts payload bytes, 10^6 bytes per MB.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tomcat_harness::java_peer::{fields, JavaPeer};
use tribes::channel::{ChannelConfig, GroupChannel, Payload};
use tribes::receiver::{self, ServeOptions};
use tribes::sender::SenderConfig;
use tribes_wire::{Member, SendOptions, UniqueId};

const SIZES: [usize; 2] = [1024, 65536];
const OPTIONS: [i32; 4] = [0, 2, 6, 8];
/// Concurrent senders of the "many acknowledged senders" rows.
const TASKS: u64 = 16;
/// How long one side may take for one measurement before the section fails.
const MEASURE_TIMEOUT: Duration = Duration::from_secs(120);

/// Messages per measurement: about 1-3 s for stock Tribes on a small machine.
fn messages(size: usize, options: i32) -> u64 {
    let acked = options & 2 != 0;
    match (size, acked) {
        (1024, false) => 300_000,
        (1024, true) => 30_000,
        (_, false) => 40_000,
        (_, true) => 15_000,
    }
}

/// One measurement.
#[derive(Debug, Clone, Copy)]
struct Rate {
    msgs: f64,
    mb: f64,
}

impl Rate {
    fn new(n: u64, size: usize, elapsed: Duration) -> Rate {
        let s = elapsed.as_secs_f64().max(1e-9);
        Rate { msgs: n as f64 / s, mb: (n * size as u64) as f64 / s / 1e6 }
    }
}

pub fn run() -> Result<String, String> {
    let tomcat = pick_tomcat()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let us = Ours::start(&rt)?;
    let receiver = Jvm::start(&tomcat, "receiver", 4710)?;
    let sender = Jvm::start(&tomcat, "sender", 4740)?;
    let mut receiver = receiver;
    let mut sender = sender;

    let mut rows = Vec::new();
    for size in SIZES {
        for options in OPTIONS {
            let n = messages(size, options);
            let warm = n / 5;
            eprintln!("bench: channel {size} B options {options}: stock, {n} messages ...");
            stock_once(&mut sender, &mut receiver, warm, size, options)?;
            let stock = stock_once(&mut sender, &mut receiver, n, size, options)?;
            eprintln!("bench: channel {size} B options {options}: tribesd ...");
            us.once(&rt, warm, size, options)?;
            let ours = us.once(&rt, n, size, options)?;
            eprintln!(
                "bench: channel {size} B options {options}: stock {:.0} msg/s, tribesd {:.0} msg/s",
                stock.msgs, ours.msgs
            );
            rows.push((size, options, n, stock, ours));
        }
    }
    drop(sender);
    drop(receiver);

    let mut concurrent = Vec::new();
    for options in [2, 6] {
        let (size, n) = (1024, messages(1024, options));
        eprintln!("bench: channel concurrent acked senders, {size} B options {options}: one task ...");
        us.once(&rt, n / 5, size, options)?;
        let one = us.once(&rt, n, size, options)?;
        eprintln!("bench: channel concurrent acked senders: {TASKS} tasks, one unanswered frame at a time ...");
        us.many(&rt, &us.serial, n / 5, size, options)?;
        let serial = us.many(&rt, &us.serial, n, size, options)?;
        eprintln!("bench: channel concurrent acked senders: {TASKS} tasks, default sender ...");
        us.many(&rt, &us.sender, n / 5, size, options)?;
        let default = us.many(&rt, &us.sender, n, size, options)?;
        eprintln!("bench: channel concurrent acked senders: {TASKS} tasks, pipeline_synchronized_acks ...");
        us.many(&rt, &us.sync_piped, n / 5, size, options)?;
        let piped = us.many(&rt, &us.sync_piped, n, size, options)?;
        eprintln!(
            "bench: channel concurrent acked senders, options {options}: one task {:.0}, {TASKS} tasks: 1 unanswered {:.0}, default {:.0}, all pipelined {:.0} msg/s",
            one.msgs, serial.msgs, default.msgs, piped.msgs
        );
        concurrent.push((size, options, n, [one, serial, default, piped]));
    }

    eprintln!("bench: channel: loopback TCP ...");
    // Default socket buffers, and SO_SNDBUF 64 KiB as our sender sets it (txBufSize); writes of
    // 64 KiB (one message) and 512 KiB (what our sender hands one writev at most); twice each.
    let mut loopback = 0.0f64;
    for _ in 0..2 {
        for sndbuf in [None, Some(65536u32)] {
            for write in [64usize << 10, 512 << 10] {
                let mb = loopback_mb(&rt, sndbuf, write)?;
                eprintln!("bench: channel: loopback (SO_SNDBUF {sndbuf:?}, writes of {write} B): {mb:.0} MB/s");
                loopback = loopback.max(mb);
            }
        }
    }

    let mut md = markdown(&tomcat.version, &rows, loopback);
    md.push_str(&concurrent_markdown(&concurrent));
    Ok(md)
}

type ConcurrentRow = (usize, i32, u64, [Rate; 4]);

fn concurrent_markdown(rows: &[ConcurrentRow]) -> String {
    let mut md = String::from("### tribesd only: many concurrent acknowledged senders to one member\n\n");
    let _ = writeln!(
        md,
        "Ours only (stock's bench peer sends from one thread). N 1 KiB messages to our receiver as \
         above: from one task; and from {TASKS} tasks at once (N/{TASKS} each, each waiting for its \
         acknowledgement before its next) with (a) one unanswered USE_ACK frame at a time on the \
         member's ordered connection (`max_unacked` 1; extra connections still taken by frames that \
         would wait behind a USE_ACK+SYNCHRONIZED_ACK one), (b) the default sender (USE_ACK frames \
         pipelined, at most {} unanswered; USE_ACK+SYNCHRONIZED_ACK frames one at a time on the \
         ordered connection, since a stock receiver may answer those out of order, and concurrent \
         ones on extra connections up to poolSize), (c) `pipeline_synchronized_acks` (every \
         acknowledged frame pipelined on the ordered connection; for members that are all \
         tribesd).\n",
        tribes::sender::MAX_UNACKED
    );
    md.push_str(&format!(
        "| size | options | N | 1 task msg/s | {TASKS} tasks (a) msg/s | {TASKS} tasks (b) msg/s | {TASKS} tasks (c) msg/s | (b)/(a) | (c)/(a) |\n"
    ));
    md.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size, options, n, [one, serial, default, piped]) in rows {
        let _ = writeln!(
            md,
            "| {} | {options} | {n} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}x | {:.2}x |",
            size_name(*size),
            one.msgs,
            serial.msgs,
            default.msgs,
            piped.msgs,
            default.msgs / serial.msgs,
            piped.msgs / serial.msgs
        );
    }
    md.push('\n');
    md
}

fn markdown(version: &str, rows: &[(usize, i32, u64, Rate, Rate)], loopback: f64) -> String {
    let mut md = String::from("## Channel: tribesd against stock Tribes\n\n");
    let _ = writeln!(
        md,
        "One sender, one receiver, one destination, on 127.0.0.1. Stock: two JVMs running a stock \
         GroupChannel of Tomcat {version} (`tests/java/tribes-bench`, default JIT and GC, 1 GiB heap), \
         one sending and one counting in a ChannelListener. tribesd: our GroupChannel and receiver in \
         one release-built process (tokio, {} worker threads), the application taking messages off the \
         receive queue. Each measurement times N messages from the first send until the receiver \
         counted all of them, after a warm-up of N/5. MB/s is payload bytes, 10^6 per MB. \
         Options: 0 none, 2 USE_ACK, 6 USE_ACK+SYNCHRONIZED_ACK, 8 ASYNCHRONOUS.\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    md.push_str("| size | options | N | stock msg/s | stock MB/s | tribesd msg/s | tribesd MB/s | ratio |\n");
    md.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size, options, n, stock, ours) in rows {
        let _ = writeln!(
            md,
            "| {} | {options} | {n} | {:.0} | {:.1} | {:.0} | {:.1} | {:.2}x |",
            size_name(*size),
            stock.msgs,
            stock.mb,
            ours.msgs,
            ours.mb,
            ours.msgs / stock.msgs
        );
    }
    let _ = writeln!(
        md,
        "\nLoopback TCP limit (one tokio socket writing to another for 1 s; best of 8: writes of \
         64 KiB and of 512 KiB (the most our sender hands one writev), default socket buffers and \
         SO_SNDBUF 64 KiB as our sender sets, twice each): \
         **{loopback:.0} MB/s**. A figure above 100% below means this blast is not a hard \
         limit of the machine, only a reference measured the same way each run.\n"
    );
    for (_, options, _, stock, ours) in rows.iter().filter(|r| r.0 == 65536) {
        let _ = writeln!(
            md,
            "- 64 KiB, options {options}: tribesd {:.0} MB/s = {:.0}% of loopback (stock {:.0}%)",
            ours.mb,
            100.0 * ours.mb / loopback,
            100.0 * stock.mb / loopback
        );
    }
    md.push_str("\nTargets (from the issue), as measured in this run:\n\n");
    let find = |size: usize, options: i32| rows.iter().find(|r| r.0 == size && r.1 == options);
    let met = |ok: bool| if ok { "**met**" } else { "**not met**" };
    let mut ratio_target = |label: &str, size: usize, options: i32, want: f64| {
        if let Some((_, _, _, s, o)) = find(size, options) {
            let r = o.msgs / s.msgs;
            let _ = writeln!(md, "- {label}: at least {want}x stock: {r:.2}x, {}", met(r >= want));
        }
    };
    ratio_target("1 KiB without acks (options 0)", 1024, 0, 3.0);
    ratio_target("1 KiB without acks, asynchronous (options 8)", 1024, 8, 3.0);
    ratio_target("1 KiB with USE_ACK+SYNCHRONIZED_ACK (options 6)", 1024, 6, 2.0);
    ratio_target("64 KiB with USE_ACK+SYNCHRONIZED_ACK (options 6)", 65536, 6, 2.0);
    for options in [0, 8] {
        if let Some((_, _, _, _, o)) = find(65536, options) {
            let pct = 100.0 * o.mb / loopback;
            let _ = writeln!(
                md,
                "- 64 KiB (options {options}): at least 70% of loopback bandwidth: {pct:.0}%, {}",
                met(pct >= 70.0)
            );
        }
    }
    md.push_str("\nFigures move from run to run (one measurement each, on a shared machine); compare only the ratios of one run.\n\n");
    md
}

fn size_name(size: usize) -> String {
    if size >= 1024 && size & 1023 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// The 10.1 release (the one the stock figures in the guides come from), or the last one listed.
fn pick_tomcat() -> Result<tomcat_harness::Tomcat, String> {
    let tomcats = std::panic::catch_unwind(tomcat_harness::tomcats)
        .map_err(|_| "the pinned Tomcat releases are not unpacked: run scripts/fetch-tomcat.sh".to_string())?;
    tomcats
        .iter()
        .find(|t| t.line() == "10.1")
        .or(tomcats.last())
        .cloned()
        .ok_or_else(|| "no Tomcat release listed".to_string())
}

// ---- stock ----

/// One stock JVM running tests/java/tribes-bench.
struct Jvm(JavaPeer);

impl Jvm {
    fn start(tomcat: &tomcat_harness::Tomcat, name: &'static str, port: u16) -> Result<Jvm, String> {
        let log =
            tomcat_harness::repo_root().join("target/tribes-bench").join(format!("{name}-{}.log", tomcat.version));
        JavaPeer::start("run-tribes-bench.sh", tomcat, port, log).map(Jvm)
    }

    fn cmd(&mut self, command: &str) -> Result<String, String> {
        self.0.cmd(command, MEASURE_TIMEOUT + Duration::from_secs(10))
    }
}

fn stock_once(sender: &mut Jvm, receiver: &mut Jvm, n: u64, size: usize, options: i32) -> Result<Rate, String> {
    if receiver.cmd("reset")? != "ok" {
        return Err("TribesBench receiver: reset failed".into());
    }
    let ms = MEASURE_TIMEOUT.as_millis();
    let command = format!("send 127.0.0.1 {} {} {n} {size} {options} {ms}", receiver.0.port, receiver.0.id_hex);
    let t = Instant::now();
    let sent = sender.cmd(&command)?;
    let got = receiver.cmd(&format!("wait {n} {ms}"))?;
    let elapsed = t.elapsed();
    let (sf, rf) = (fields(&sent), fields(&got));
    if sf.get("failed").map(String::as_str) != Some("0") || rf.get("count") != Some(&n.to_string()) {
        return Err(format!("stock {size} B options {options}: {sent}; {got}"));
    }
    Ok(Rate::new(n, size, elapsed))
}

// ---- tribesd ----

struct Ours {
    sender: Arc<GroupChannel>,
    /// A sender with one unanswered acknowledged frame at a time per member (`max_unacked` 1).
    serial: Arc<GroupChannel>,
    /// A sender that pipelines SYNCHRONIZED_ACK frames too.
    sync_piped: Arc<GroupChannel>,
    destination: Member,
    count: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    _receiver: tokio::task::JoinHandle<()>,
    _receiving_channel: GroupChannel,
}

fn member(port: u16) -> Member {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("OS random source");
    Member::new("127.0.0.1".parse().expect("ip"), i32::from(port), UniqueId::from_random(id), 0)
}

impl Ours {
    fn start(rt: &Runtime) -> Result<Ours, String> {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            let destination = member(port);
            let receiving = GroupChannel::new(destination.clone(), ChannelConfig::default());
            let (handler, mut incoming) = receiving.incoming();
            let receiver = receiver::serve_with(listener, ServeOptions::default(), handler);
            let (count, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let (c, b) = (count.clone(), bytes.clone());
            tokio::spawn(async move {
                while let Some(m) = incoming.recv().await {
                    b.fetch_add(m.message.message.len() as u64, Ordering::Relaxed);
                    c.fetch_add(1, Ordering::Release);
                }
            });
            // The sender's own member names a port nobody listens on: it only sends.
            let sender = Arc::new(GroupChannel::new(member(1), ChannelConfig::default()));
            let one_unanswered = ChannelConfig {
                sender: SenderConfig { max_unacked: 1, ..SenderConfig::default() },
                ..ChannelConfig::default()
            };
            let serial = Arc::new(GroupChannel::new(member(1), one_unanswered));
            let all_pipelined = ChannelConfig {
                sender: SenderConfig { pipeline_synchronized_acks: true, ..SenderConfig::default() },
                ..ChannelConfig::default()
            };
            let sync_piped = Arc::new(GroupChannel::new(member(1), all_pipelined));
            Ok(Ours {
                sender,
                serial,
                sync_piped,
                destination,
                count,
                bytes,
                _receiver: receiver,
                _receiving_channel: receiving,
            })
        })
    }

    fn once(&self, rt: &Runtime, n: u64, size: usize, options: i32) -> Result<Rate, String> {
        self.count.store(0, Ordering::SeqCst);
        self.bytes.store(0, Ordering::SeqCst);
        let payload = Bytes::from((0..size).map(|i| (i * 7) as u8).collect::<Vec<u8>>());
        let (sender, to) = (self.sender.clone(), self.destination.clone());
        let t = Instant::now();
        let sending = rt.spawn(async move {
            let mut failed = 0u64;
            let mut first_error = None;
            for _ in 0..n {
                let p = Payload::Bytes(payload.clone());
                if let Err(e) = sender.send(std::slice::from_ref(&to), p, SendOptions(options)).await {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
            (failed, first_error)
        });
        let deadline = t + MEASURE_TIMEOUT;
        while self.count.load(Ordering::Acquire) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        let elapsed = t.elapsed();
        let (failed, error) = rt.block_on(sending).map_err(|e| e.to_string())?;
        let got = self.count.load(Ordering::Acquire);
        if failed > 0 || got != n || self.bytes.load(Ordering::Relaxed) != n * size as u64 {
            return Err(format!(
                "tribesd {size} B options {options}: received {got} of {n}, {failed} sends failed ({error:?})"
            ));
        }
        Ok(Rate::new(n, size, elapsed))
    }
}

impl Ours {
    /// `n` messages from [`TASKS`] tasks sending at once through `channel`, each waiting for its
    /// own sends; timed until the receiving application took all `n`.
    fn many(
        &self,
        rt: &Runtime,
        channel: &Arc<GroupChannel>,
        n: u64,
        size: usize,
        options: i32,
    ) -> Result<Rate, String> {
        self.count.store(0, Ordering::SeqCst);
        self.bytes.store(0, Ordering::SeqCst);
        let payload = Bytes::from((0..size).map(|i| (i * 7) as u8).collect::<Vec<u8>>());
        let t = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (sender, to, payload) = (channel.clone(), self.destination.clone(), payload.clone());
                let mine = n / TASKS + u64::from(task < n % TASKS);
                rt.spawn(async move {
                    let mut failed = 0u64;
                    let mut first_error = None;
                    for _ in 0..mine {
                        let p = Payload::Bytes(payload.clone());
                        if let Err(e) = sender.send(std::slice::from_ref(&to), p, SendOptions(options)).await {
                            failed += 1;
                            first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                    (failed, first_error)
                })
            })
            .collect();
        let deadline = t + MEASURE_TIMEOUT;
        while self.count.load(Ordering::Acquire) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        let elapsed = t.elapsed();
        let (mut failed, mut error) = (0, None);
        for task in tasks {
            let (f, e) = rt.block_on(task).map_err(|e| e.to_string())?;
            failed += f;
            error = error.or(e);
        }
        let got = self.count.load(Ordering::Acquire);
        if failed > 0 || got != n || self.bytes.load(Ordering::Relaxed) != n * size as u64 {
            return Err(format!(
                "tribesd {TASKS} tasks {size} B options {options}: received {got} of {n}, {failed} sends failed ({error:?})"
            ));
        }
        Ok(Rate::new(n, size, elapsed))
    }
}

// ---- loopback ----

/// MB/s of one socket writing `write`-byte buffers to another for about 1 s.
fn loopback_mb(rt: &Runtime, sndbuf: Option<u32>, write: usize) -> Result<f64, String> {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await?;
            let mut buf = vec![0u8; 256 << 10];
            let mut total = 0u64;
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<u64, std::io::Error>(total);
                }
                total += n as u64;
            }
        });
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        if let Some(size) = sndbuf {
            socket.set_send_buffer_size(size).map_err(|e| e.to_string())?;
        }
        let mut w = socket.connect(addr).await.map_err(|e| e.to_string())?;
        w.set_nodelay(true).map_err(|e| e.to_string())?;
        let buf = vec![0x5au8; write];
        let t = Instant::now();
        // Bounded by time, and by count (far above what loopback carries in a second).
        for _ in 0..10_000_000u64 {
            if t.elapsed() >= Duration::from_secs(1) {
                break;
            }
            w.write_all(&buf).await.map_err(|e| e.to_string())?;
        }
        w.shutdown().await.map_err(|e| e.to_string())?;
        drop(w);
        let total = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .map_err(|_| "loopback reader did not finish".to_string())?
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(total as f64 / t.elapsed().as_secs_f64() / 1e6)
    })
}
