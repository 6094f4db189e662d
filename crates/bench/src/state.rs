//! State transfer (issue 6): 100,000 sessions of 1 KiB sent to a node that starts, from tribesd
//! to stock, from stock to tribesd and from stock to stock, in one run.
//!
//! Inside a private network namespace (root only), with the pinned Tomcat 10.1 release running
//! the test webapp (tests/webapp) at /app:
//! - a source node is filled with [`SESSIONS`] sessions, each with one String attribute `a0` of
//!   [`VALUE_CHARS`] characters: stock through `s.jsp?op=bulk&n=1&size=1000&prefix=a` requested
//!   by one curl process (URL globbing, parallel transfers, no cookies: one new session per
//!   request); tribesd through `tribesd session create ... --count N --value-size 1000`;
//! - the receiving node starts and asks the source for its state (GET_ALL_SESSIONS, one
//!   ALL_SESSION_DATA message with Tomcat's default sendAllSessions=true, TRANSFERCOMPLETE);
//! - the receiver's log gives the time: a stock receiver's FINE lines of
//!   `org.apache.catalina.ha.session` ("requesting session state", "received all session state
//!   data", "all session state deserialized", "session state transferred") and its INFO
//!   "received in [N] ms" (measured by Tomcat's 100 ms polling loop); tribesd's "session state
//!   transfer complete" line with `elapsed_ms`;
//! - the sender's memory is sampled from /proc/PID/status while the transfer runs: its VmHWM is
//!   reset (`clear_refs` 5) once it is filled, and the peak (VmHWM) is compared with the RSS it
//!   had then. A stock JVM's heap (`jcmd GC.heap_info`) is read before and after as well.
//!
//! `TRIBESD_BIN` names another `tribesd` binary to measure (default: target/release/tribesd).
//!
//! Stock nodes run with `-Xmx2g` (the harness's 256 MiB cannot hold 100 MB of sessions and
//! their serialized copies) and the harness's cluster-howto configuration otherwise.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::process::LoggedChild;
use tomcat_harness::Tomcat;

use crate::procfs::{find_pid, status_kb, stock_count};

const SESSIONS: u32 = 100_000;
/// Characters of each session's one attribute (Latin-1: one byte each in the JVM and on the wire).
const VALUE_CHARS: u32 = 1000;
const APP: &str = "/app";
/// The cluster manager name of /app with the `<Cluster>` in the `<Engine>`.
const APP_NAME: &str = "localhost#/app";
const HEAP: &str = "-Xmx2g";
/// Longest wait for one transfer (and the receivers' stateTransferTimeout).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(180);
/// Parallel requests of the curl that fills a stock node.
const CURL_PARALLEL: &str = "8";

/// The raw session bytes: what the attribute values hold.
fn raw_bytes() -> u64 {
    u64::from(SESSIONS) * u64::from(VALUE_CHARS)
}

/// One transfer, as the receiver timed it and the sender's memory showed it.
#[derive(Debug, Default)]
struct Transfer {
    pair: &'static str,
    /// Sessions the receiver holds afterwards.
    received: usize,
    /// GET_ALL_SESSIONS queued to TRANSFERCOMPLETE processed, on the receiver's clock.
    total_ms: Option<u64>,
    /// GET_ALL_SESSIONS to the DATA message arriving (stock receiver's FINE lines): the sender's
    /// part plus the network.
    data_ms: Option<u64>,
    /// DATA arrived to deserialized (stock receiver).
    deserialize_ms: Option<u64>,
    /// Tomcat's own "received in [N] ms" (100 ms granularity).
    tomcat_ms: Option<u64>,
    /// Stock sender only: "start unloading sessions" to "sent all session data." (serialize,
    /// send, wait for the SYNC ACK).
    sender_ms: Option<u64>,
    sender: Memory,
    /// What went wrong, when the receiver did not get every session.
    note: Option<String>,
}

/// The sending process's memory around one transfer, in KiB.
#[derive(Debug, Default, Clone)]
struct Memory {
    before_kb: u64,
    peak_kb: u64,
    /// `jcmd GC.heap_info` of a JVM: (committed, used) KiB before and after.
    heap_before: Option<(u64, u64)>,
    heap_after: Option<(u64, u64)>,
}

impl Memory {
    fn increase_kb(&self) -> u64 {
        self.peak_kb.saturating_sub(self.before_kb)
    }
}

pub fn run() -> Result<String, String> {
    if !NetNs::available() {
        eprintln!("bench: state: not root, no network namespace can be made: skipped");
        return Ok("## State transfer\n\nSkipped in this run: it needs root (a private network namespace).\n\n".into());
    }
    let tomcat = pick_tomcat()?;
    let tribesd = std::env::var_os("TRIBESD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| tomcat_harness::repo_root().join("target/release/tribesd"));
    if !tribesd.exists() {
        return Err(format!(
            "{} is missing: `make bench` builds it (cargo build --release -p tribesd)",
            tribesd.display()
        ));
    }
    let dir = tomcat_harness::repo_root().join("target/tribes-bench/state");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    let mut rows = Vec::new();
    rows.push(tribesd_to_stock(&tomcat, &tribesd, &dir)?);
    rows.extend(from_stock(&tomcat, &tribesd, &dir)?);
    for r in &rows {
        eprintln!("bench: state: {r:?}");
    }
    Ok(markdown(&tomcat.version, &rows))
}

/// tribesd (filled) first, then a stock node that asks it for state.
fn tribesd_to_stock(tomcat: &Tomcat, tribesd: &Path, dir: &Path) -> Result<Transfer, String> {
    let ns = NetNs::new()?;
    let source = Tribesd::start(&ns, tribesd, dir, "tribesd-source")?;
    eprintln!("bench: state: filling tribesd with {SESSIONS} sessions ...");
    let t = Instant::now();
    source.cli(&[
        "session",
        "create",
        APP_NAME,
        "S000000000000000000000000000000",
        "--count",
        &SESSIONS.to_string(),
        "--value-size",
        &VALUE_CHARS.to_string(),
    ])?;
    eprintln!("bench: state: tribesd filled in {:.1?}", t.elapsed());
    let pid = find_pid(&source.socket.display().to_string())?;
    let sampler = Sampler::start(pid, false)?;
    eprintln!("bench: state: tribesd -> stock ...");
    let receiver = TomcatNode::start(&ns, tomcat, "bench-state-1", node_config("receiver", 2));
    let mut row = stock_receiver(&receiver, &ns)?;
    row.pair = "tribesd -> stock";
    row.sender = sampler.stop();
    row.note = failure(&row, &source.process.log());
    drop(receiver);
    drop(source);
    Ok(row)
}

/// A stock node (filled) first; a second stock node asks it for state, stops; then a tribesd
/// node asks it.
fn from_stock(tomcat: &Tomcat, tribesd: &Path, dir: &Path) -> Result<Vec<Transfer>, String> {
    let ns = NetNs::new()?;
    let source = TomcatNode::start(&ns, tomcat, "bench-state-2", node_config("source", 1));
    source.wait_webapps_ready(&ns, Duration::from_secs(90))?;
    eprintln!("bench: state: filling stock with {SESSIONS} sessions (curl) ...");
    let t = Instant::now();
    crate::procfs::fill_stock(&ns, source.http_port(), APP, SESSIONS as usize, VALUE_CHARS as usize, CURL_PARALLEL)?;
    eprintln!("bench: state: stock filled in {:.1?}", t.elapsed());
    let pid = find_pid(&format!("-Dcatalina.base={}", source.base.display()))?;

    let mut rows = Vec::new();
    eprintln!("bench: state: stock -> stock ...");
    let sampler = Sampler::start(pid, true)?;
    let mut receiver = TomcatNode::start(&ns, tomcat, "bench-state-2", node_config("receiver", 2));
    let mut row = stock_receiver(&receiver, &ns)?;
    row.pair = "stock -> stock";
    row.sender = sampler.stop();
    row.sender_ms = stock_sender_ms(&source.log());
    row.note = failure(&row, &source.log());
    rows.push(row);
    receiver.stop(Duration::from_secs(30));
    drop(receiver);
    source
        .wait_for_log(&["Received member disappeared"], Duration::from_secs(20))
        .map_err(|e| format!("the stock receiver did not leave: {e}"))?;

    eprintln!("bench: state: stock -> tribesd ...");
    let skip = source.log().len();
    let sampler = Sampler::start(pid, true)?;
    let ours = Tribesd::start(&ns, tribesd, dir, "tribesd-receiver")?;
    let line = ours.process.wait_for_log(&["session state", "complete"], TRANSFER_TIMEOUT)?;
    let mut row = Transfer { pair: "stock -> tribesd", ..Transfer::default() };
    row.sender = sampler.stop();
    row.total_ms = field(&line, "elapsed_ms=");
    row.received = field(&line, "sessions=").unwrap_or(0) as usize;
    if row.received != SESSIONS as usize {
        let log = ours.process.log();
        row.note = log.lines().find(|l| l.contains("closing receiver connection")).map(|l| {
            let why = l.split("reason=").nth(1).unwrap_or(l);
            format!("tribesd's receiver closed the connection: {why}")
        });
    }
    row.sender_ms = stock_sender_ms(source.log().get(skip..).unwrap_or_default());
    rows.push(row);
    Ok(rows)
}

fn node_config(name: &str, index: u16) -> NodeConfig {
    let mut c = NodeConfig::new(name, index)
        .with_webapp(APP)
        .with_manager_attribute("stateTransferTimeout", &TRANSFER_TIMEOUT.as_secs().to_string())
        .with_jvm_option(HEAP)
        // Tomcat's 3 s ack timeout covers the whole send; one 113 MB DATA message on a loaded
        // 2-core machine can take longer, for any receiver. Same value for both stock senders.
        .with_transport_attribute("timeout", "60000");
    // DeltaManager's FINE lines time the transfer; DeltaSession's (one per session) would slow it.
    c.log_levels.push(("org.apache.catalina.ha.session.DeltaManager".into(), "FINE".into()));
    c
}

/// Waits for a stock receiver's state transfer and reads its timing.
fn stock_receiver(node: &TomcatNode, ns: &NetNs) -> Result<Transfer, String> {
    let done = node
        .wait_for_log(&["session state sent at", "received in"], TRANSFER_TIMEOUT)
        .map_err(|e| format!("no state on the stock receiver: {e}"))?;
    // TRANSFERCOMPLETE may be processed while the DATA is still being read (after the sender's
    // ACK timeout): count the sessions once the DATA is in, if it arrived at all.
    if node.log().contains("received all session state data") {
        let _ = node.wait_for_log(&["all session state deserialized"], TRANSFER_TIMEOUT);
    }
    let log = node.log();
    let at = |needle: &str| log.lines().find(|l| l.contains(needle)).and_then(tomcat_time);
    let request = at("requesting session state from");
    let data = at("received all session state data");
    let deserialized = at("all session state deserialized");
    let complete = at("session state transferred.");
    let span = |a: Option<u64>, b: Option<u64>| Some(day_ms(b? + DAY_MS - a?));
    Ok(Transfer {
        received: stock_count(ns, node.http_port(), APP)?,
        total_ms: span(request, complete),
        data_ms: span(request, data),
        deserialize_ms: span(data, deserialized),
        tomcat_ms: done
            .split("received in [")
            .nth(1)
            .and_then(|r| r.split(']').next()?.replace([',', '.', '\u{a0}'], "").parse().ok()),
        ..Transfer::default()
    })
}

/// "start unloading sessions" to "unloading sessions complete" in a stock sender's FINE log:
/// `serializeSessions`.
fn stock_sender_ms(log: &str) -> Option<u64> {
    let begin = log.lines().rev().find(|l| l.contains("start unloading sessions")).and_then(tomcat_time)?;
    let done = log.lines().rev().find(|l| l.contains("unloading sessions complete")).and_then(tomcat_time)?;
    Some(day_ms(done + DAY_MS - begin))
}

/// Why a receiver did not get every session, from the sender's log.
fn failure(row: &Transfer, sender_log: &str) -> Option<String> {
    if row.received == SESSIONS as usize {
        return None;
    }
    let line = sender_log
        .lines()
        .find(|l| l.contains("timed out") || l.contains("no acknowledgement") || l.contains("Exception"))?;
    Some(format!("sender: {}", line.split_once("] ").map_or(line, |(_, r)| r).trim()))
}

const DAY_MS: u64 = 86_400_000;

fn day_ms(ms: u64) -> u64 {
    ms % DAY_MS
}

/// Milliseconds since midnight of a OneLineFormatter line ("24-Nov-2026 20:30:01.123 FINE ...").
fn tomcat_time(line: &str) -> Option<u64> {
    let t = line.split_whitespace().nth(1)?;
    let (hms, ms) = t.split_once('.')?;
    let mut parts = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(((h * 60 + m) * 60 + s) * 1000 + ms.parse::<u64>().ok()?)
}

/// The number after `key` in a tracing line (`elapsed_ms=123`).
fn field(line: &str, key: &str) -> Option<u64> {
    let rest = line.split(key).nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The 10.1 release, as the issue asks.
fn pick_tomcat() -> Result<Tomcat, String> {
    let tomcats = std::panic::catch_unwind(tomcat_harness::tomcats)
        .map_err(|_| "the pinned Tomcat releases are not unpacked: run scripts/fetch-tomcat.sh".to_string())?;
    tomcats.iter().find(|t| t.line() == "10.1").cloned().ok_or_else(|| "no Tomcat 10.1 listed".to_string())
}

// ---- tribesd ----

struct Tribesd {
    binary: PathBuf,
    process: LoggedChild,
    socket: PathBuf,
}

impl Tribesd {
    fn start(ns: &NetNs, binary: &Path, dir: &Path, name: &str) -> Result<Tribesd, String> {
        let socket = dir.join(format!("{name}.sock"));
        let mut c = ns.command(binary);
        c.env("RUST_LOG", "info")
            .args(["run", "--membership-bind", "127.0.0.1", "--receiver-address", "127.0.0.1"])
            .args(["--context", APP_NAME, "--control-socket"])
            .arg(&socket);
        let process = LoggedChild::spawn(name, c, dir.join(format!("{name}.log")));
        process.wait_for_log(&["control socket"], Duration::from_secs(20))?;
        Ok(Tribesd { binary: binary.to_path_buf(), process, socket })
    }

    fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = std::process::Command::new(&self.binary)
            .args(args)
            .arg("--control-socket")
            .arg(&self.socket)
            .output()
            .map_err(|e| format!("cannot run tribesd: {e}"))?;
        if !out.status.success() {
            return Err(format!("tribesd {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

// ---- memory ----

/// `jcmd PID GC.heap_info`: (committed, used) KiB of the Java heap.
fn heap_info(pid: u32) -> Option<(u64, u64)> {
    let out = std::process::Command::new("jcmd").arg(pid.to_string()).arg("GC.heap_info").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("total") && l.contains("used"))?;
    let kb = |key: &str| -> Option<u64> { line.split(key).nth(1)?.trim_start().split('K').next()?.trim().parse().ok() };
    Some((kb("total")?, kb("used")?))
}

/// Samples a process's RSS every few milliseconds from the moment its high-water mark is reset.
struct Sampler {
    pid: u32,
    before_kb: u64,
    heap_before: Option<(u64, u64)>,
    jvm: bool,
    stop: Arc<AtomicBool>,
    max_kb: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32, jvm: bool) -> Result<Sampler, String> {
        let heap_before = if jvm { heap_info(pid) } else { None };
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").map_err(|e| format!("clear_refs of {pid}: {e}"))?;
        let before_kb = status_kb(pid, "VmRSS:").ok_or_else(|| format!("no VmRSS for {pid}"))?;
        let (stop, max_kb) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(before_kb)));
        let (s, m) = (stop.clone(), max_kb.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: 10 minutes of 5 ms samples at most.
            for _ in 0..120_000 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(kb) = status_kb(pid, "VmRSS:") {
                    m.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Ok(Sampler { pid, before_kb, heap_before, jvm, stop, max_kb, thread })
    }

    fn stop(self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let sampled = self.max_kb.load(Ordering::Relaxed);
        Memory {
            before_kb: self.before_kb,
            peak_kb: status_kb(self.pid, "VmHWM:").unwrap_or(0).max(sampled),
            heap_before: self.heap_before,
            heap_after: if self.jvm { heap_info(self.pid) } else { None },
        }
    }
}

// ---- report ----

fn ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn mb(kb: u64) -> String {
    format!("{:.0}", kb as f64 * 1024.0 / 1e6)
}

fn markdown(version: &str, rows: &[Transfer]) -> String {
    let raw = raw_bytes() as f64;
    let mut md = String::from("## State transfer\n\n");
    let _ = writeln!(
        md,
        "{SESSIONS} sessions, each with one String attribute of {VALUE_CHARS} characters (raw session \
         bytes: {:.0} MB), sent to a node that starts (GET_ALL_SESSIONS, one ALL_SESSION_DATA message \
         as with Tomcat's default sendAllSessions=true, TRANSFERCOMPLETE), in a private network \
         namespace on 127.0.0.1. Stock: Tomcat {version} with the test webapp at /app, the cluster-howto \
         configuration, `{HEAP}`, filled by one curl ({CURL_PARALLEL} parallel requests, one new \
         session each). tribesd: `tribesd run` (release build), filled with `tribesd session create \
         --count {SESSIONS} --value-size {VALUE_CHARS}`. Times are the receiver's: a stock receiver's \
         log lines (FINE, ms resolution) from \"requesting session state\" to \"received all session \
         state data\" (the sender's work and the network), to \"all session state deserialized\", \
         and to \"session state transferred\" (total); Tomcat's own \"received in\" figure (its wait \
         loop polls every 100 ms); tribesd's \"session state transfer complete\" `elapsed_ms`. \
         Memory is the sender's, from /proc/PID/status sampled every 5 ms: VmHWM reset (`clear_refs` \
         5) once the sender is filled, RSS then, and the peak until the transfer ended.\n",
        raw / 1e6
    );
    md.push_str(
        "| pair | sessions received | request → DATA arrived (ms) | deserialize (ms) | total (ms) | Tomcat \"received in\" (ms) | stock sender: serializeSessions (ms) |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.pair,
            r.received,
            ms(r.data_ms),
            ms(r.deserialize_ms),
            ms(r.total_ms),
            ms(r.tomcat_ms),
            ms(r.sender_ms)
        );
    }
    for r in rows {
        if let Some(n) = &r.note {
            let _ = writeln!(md, "\n{}: {SESSIONS} sessions expected; {n}", r.pair);
        }
    }
    md.push_str(
        "\nSender memory (MB = 10^6 bytes; \"raw\" = the raw session bytes):\n\n\
         | pair | sender | RSS before (MB) | peak RSS (MB) | increase (MB) | increase / raw | peak / raw | Java heap committed/used before → after (MB) |\n\
         |---|---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let m = &r.sender;
        let heap = match (m.heap_before, m.heap_after) {
            (Some((c0, u0)), Some((c1, u1))) => format!("{}/{} → {}/{}", mb(c0), mb(u0), mb(c1), mb(u1)),
            _ => "-".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.2}x | {:.2}x | {heap} |",
            r.pair,
            if r.pair.starts_with("tribesd") { "tribesd" } else { "stock JVM" },
            mb(m.before_kb),
            mb(m.peak_kb),
            mb(m.increase_kb()),
            m.increase_kb() as f64 * 1024.0 / raw,
            m.peak_kb as f64 * 1024.0 / raw,
        );
    }
    let find = |p: &str| rows.iter().find(|r| r.pair == p);
    let met = |ok: bool| if ok { "**met**" } else { "**not met**" };
    md.push_str("\nTargets (from the issue), as measured in this run:\n\n");
    if let (Some(ours), Some(stock)) = (find("tribesd -> stock"), find("stock -> stock")) {
        if let (Some(o), Some(s)) = (ours.data_ms, stock.data_ms) {
            let r = s as f64 / o.max(1) as f64;
            let _ = writeln!(
                md,
                "- tribesd sends at least 5x faster than a stock node (request → DATA arrived at the same \
                 stock receiver): stock {s} ms, tribesd {o} ms, {r:.1}x, {}",
                met(r >= 5.0)
            );
        }
        if let (Some(o), Some(s)) = (ours.total_ms, stock.total_ms) {
            let _ = writeln!(
                md,
                "  - whole transfer including the stock receiver's deserialization: stock {s} ms, tribesd \
                 {o} ms, {:.1}x",
                s as f64 / o.max(1) as f64
            );
        }
        let inc = ours.sender.increase_kb() as f64 * 1024.0 / raw;
        let _ = writeln!(
            md,
            "- tribesd's sending side holds no more than 1.2x the raw session bytes for the transfer: \
             increase {inc:.2}x, {} (the whole process at its peak: {:.2}x; a stock sender's increase: {:.2}x)",
            met(inc <= 1.2),
            ours.sender.peak_kb as f64 * 1024.0 / raw,
            stock.sender.increase_kb() as f64 * 1024.0 / raw
        );
    }
    md.push_str(
        "\nThe stock -> tribesd row's sender is the same stock node as the stock -> stock row's, in its \
         second transfer (its heap already grown by the first). One run each, on a shared machine; JVM \
         RSS depends on its heap sizing and GC, so compare the increase of one run's rows.\n\n",
    );
    md
}
