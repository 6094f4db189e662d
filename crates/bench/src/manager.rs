//! The Tomcat Manager (issue 7): what our `TribesdManager` costs a request, and what a node that
//! only receives replication holds in its JVM heap, against stock Tomcat in one run.
//!
//! Inside private network namespaces (root only), with the pinned Tomcat 10.1 release running the
//! test webapp (tests/webapp) at /app:
//! - **Request overhead.** Three configurations, load on node 1 only: StandardManager (one node
//!   without `<Cluster>`, so the `<distributable/>` webapp gets Tomcat's StandardManager and
//!   replicates nothing), a stock pair (SimpleTcpCluster + DeltaManager) and a pair of Tomcat nodes
//!   with our jar (`TribesdCluster` + `TribesdManager`), both pairs with channelSendOptions
//!   [`LOAD_SEND_OPTIONS`]. `wrk` runs inside the namespace, [`WRK_CONNECTIONS`] connections, one
//!   thread each and one session cookie per connection (a Lua script keeps the first Set-Cookie);
//!   every request is `s.jsp?op=bulk&n=1&size=1024`: it sets one String attribute of 1024
//!   characters. A [`WARMUP`] run on all cores (discarded), then a [`MEASURE`] run with
//!   `--latency`, in two placements ([`Placement`]): everything on all cores, and node 2 pinned
//!   to a core of its own (another host, as far as one machine can show it), wrk and node 1 on
//!   the other (then a short [`PINNED_WARMUP`] first). The CPU time each node's process used
//!   during the measured run (`/proc/PID/stat`) is divided by the requests served.
//! - **Receive-only heap.** A stock sender and a receiver (stock, or a Tomcat with our jar) that
//!   serves no request; the sender gets [`SESSIONS`] sessions of one 1024-character attribute from
//!   one curl (URL globbing, as the state section does) and replicates them with channelSendOptions
//!   [`HEAP_SEND_OPTIONS`] (synchronous ack: when curl is done, the receiver has processed every
//!   message). Then the receiver's JVM is read with `jstat -gc` (GC time during the receive), a
//!   full GC is forced (`jcmd PID GC.run`) and `jstat -gc` gives the heap used; /proc gives the
//!   process's RSS (our node holds its sessions in native memory, outside the Java heap).
//!
//! The jar is built with java-bridge/build.sh (what `make java-bridge` runs) unless `TRIBESD_JAR`
//! names one; the session count of our receiver is read with target/release/tribesd through the
//! cluster's `controlSocket`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tomcat_harness::http::SessionClient;
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{webapp_dir_name, NodeConfig, TomcatNode};
use tomcat_harness::process::{wait_for, LoggedChild};
use tomcat_harness::Tomcat;

use crate::procfs::{cpu_time, find_pid, status_kb, stock_count};

const APP: &str = "/app";
const APP_NAME: &str = "localhost#/app";
/// Characters of the one attribute a request sets (Latin-1: one byte each).
const VALUE_CHARS: u32 = 1024;
const LOAD_SEND_OPTIONS: u32 = 8;
const HEAP_SEND_OPTIONS: u32 = 6;
const WRK_CONNECTIONS: u32 = 8;
const WARMUP: Duration = Duration::from_secs(10);
/// A second warm-up once the processes are pinned (placement [`Placement::Split`]).
const PINNED_WARMUP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(10);
const SESSIONS: u32 = 100_000;
/// Heap of every JVM of the receive test (the harness's 256 MiB cannot hold 100,000 sessions).
const HEAP_RECEIVE: &str = "-Xmx2g";
const CURL_PARALLEL: &str = "8";
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for node 2 to show an attribute set on node 1 after the load.
const REPLICATION_WAIT: Duration = Duration::from_secs(60);

/// Keeps the first session cookie of its thread's one connection (`-t N -c N`).
const WRK_SCRIPT: &str = r#"local cookie = nil
request = function()
  if cookie then wrk.headers["Cookie"] = cookie end
  return wrk.format(nil, nil)
end
response = function(status, headers, body)
  if cookie == nil then
    local c = headers["Set-Cookie"] or headers["set-cookie"]
    if c then cookie = c:match("^[^;]+") end
  end
end
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Standard,
    Delta,
    Ours,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Standard => "StandardManager (one node, no cluster)",
            Kind::Delta => "DeltaManager pair (stock)",
            Kind::Ours => "TribesdManager pair (ours)",
        }
    }
}

/// Where the processes of a load run run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// wrk, node 1 and node 2 on every core: what node 2 spends receiving is taken from node 1.
    Shared,
    /// wrk and node 1 on CPU 0, node 2 on CPU 1 (`taskset`), as if node 2 ran on another host:
    /// what replication costs node 1 alone.
    Split,
}

impl Placement {
    fn label(self) -> &'static str {
        match self {
            Placement::Shared => "all on both cores",
            Placement::Split => "node 2 on its own core",
        }
    }

    /// The CPU list of wrk and node 1, and of node 2 (`None`: unpinned).
    fn cpus(self) -> (Option<&'static str>, Option<&'static str>) {
        match self {
            Placement::Shared => (None, None),
            Placement::Split => (Some("0"), Some("1")),
        }
    }
}

/// One wrk run on node 1.
#[derive(Debug)]
struct Load {
    kind: Kind,
    placement: Placement,
    requests_per_s: f64,
    /// CPU time (all threads, user + system) node 1 and node 2 used per request of the measured
    /// run, in µs.
    cpu_us_1: Option<f64>,
    cpu_us_2: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// wrk's "Non-2xx or 3xx responses" and socket errors.
    bad: u64,
    /// How long after the load node 2 took to show an attribute set on node 1 (pairs only); else
    /// node 2's last answer.
    replicated: Option<Result<Duration, String>>,
}

/// One receive-only node after [`SESSIONS`] sessions arrived.
#[derive(Debug, Default)]
struct Receive {
    receiver: &'static str,
    sessions: Option<usize>,
    fill: Duration,
    before: Jvm,
    after: Jvm,
    gc: Option<String>,
}

/// What `jstat -gc` and /proc say about a JVM; heap after a forced full GC.
#[derive(Debug, Default, Clone, Copy)]
struct Jvm {
    heap_used_kb: f64,
    heap_committed_kb: f64,
    /// GC time (s) and collections, read before the forced GC.
    gct_s: f64,
    collections: u64,
    /// The same, after the forced GC.
    gct_after_s: f64,
    collections_after: u64,
    rss_kb: u64,
}

pub fn run() -> Result<String, String> {
    if !NetNs::available() {
        eprintln!("bench: manager: not root, no network namespace can be made: skipped");
        return Ok("## Tomcat Manager\n\nSkipped in this run: it needs root (a private network namespace).\n\n".into());
    }
    for tool in ["wrk", "jcmd", "jstat", "curl", "taskset"] {
        if Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map_or(true, |o| !o.status.success())
        {
            return Err(format!("{tool} is missing (scripts/setup.sh installs it)"));
        }
    }
    let tomcat = pick_tomcat()?;
    let jar = jar()?;
    let tribesd = tomcat_harness::repo_root().join("target/release/tribesd");
    if !tribesd.exists() {
        return Err(format!("{} is missing: `make bench` builds it", tribesd.display()));
    }
    let dir = tomcat_harness::repo_root().join("target/tribes-bench/manager");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let script = dir.join("cookie.lua");
    std::fs::write(&script, WRK_SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;

    let mut loads = Vec::new();
    let placements: &[Placement] = if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        &[Placement::Shared, Placement::Split]
    } else {
        &[Placement::Shared]
    };
    for &placement in placements {
        for kind in [Kind::Standard, Kind::Delta, Kind::Ours] {
            let l = load(&tomcat, &jar, &dir, &script, kind, placement)?;
            eprintln!("bench: manager: {l:?}");
            loads.push(l);
        }
    }
    let mut receives = Vec::new();
    for kind in [Kind::Delta, Kind::Ours] {
        let r = receive(&tomcat, &jar, &tribesd, &dir, kind)?;
        eprintln!("bench: manager: {r:?}");
        receives.push(r);
    }
    Ok(markdown(&tomcat.version, &loads, &receives))
}

// ---- request overhead ----

fn load(
    tomcat: &Tomcat,
    jar: &Path,
    dir: &Path,
    script: &Path,
    kind: Kind,
    placement: Placement,
) -> Result<Load, String> {
    let ns = NetNs::new()?;
    let test = "bench-manager-load";
    let config =
        |name: &str, i: u16| NodeConfig::new(name, i).with_webapp(APP).with_channel_send_options(LOAD_SEND_OPTIONS);
    let mut nodes = Vec::new();
    match kind {
        Kind::Standard => nodes.push(start_node(&ns, tomcat, test, config("standard1", 1), None, None)?),
        Kind::Delta => {
            for (i, name) in ["delta1", "delta2"].into_iter().enumerate() {
                let node = TomcatNode::start(&ns, tomcat, test, config(name, i as u16 + 1));
                node.wait_webapps_ready(&ns, START_TIMEOUT)?;
                nodes.push(node);
            }
        }
        Kind::Ours => {
            for (i, name) in ["ours1", "ours2"].into_iter().enumerate() {
                nodes.push(start_node(&ns, tomcat, test, config(name, i as u16 + 1), Some(jar), None)?);
            }
        }
    }
    if nodes.len() == 2 {
        joined(&nodes)?;
    }
    if kind == Kind::Ours {
        transferred(&nodes[1])?;
    }
    let port = nodes[0].http_port();
    let url = format!("http://127.0.0.1:{port}{APP}/s.jsp?op=bulk&n=1&size={VALUE_CHARS}&prefix=a");
    // The JIT compiles Tomcat's and the webapp's hot paths during the warm-up, on every core.
    eprintln!("bench: manager: {} ({}) warm-up ...", kind.label(), placement.label());
    wrk(&ns, script, &url, WARMUP, None)?;
    let (cpus_1, cpus_2) = placement.cpus();
    for (node, cpus) in nodes.iter().zip([cpus_1, cpus_2]) {
        if let Some(cpus) = cpus {
            pin(node, cpus)?;
        }
    }
    if cpus_1.is_some() {
        wrk(&ns, script, &url, PINNED_WARMUP, cpus_1)?;
    }
    eprintln!("bench: manager: {} ({}) measured run ...", kind.label(), placement.label());
    let pids = nodes
        .iter()
        .map(|n| find_pid(&format!("-Dcatalina.base={}", n.base.display())))
        .collect::<Result<Vec<_>, _>>()?;
    let cpu_before: Vec<_> = pids.iter().map(|&p| cpu_time(p)).collect();
    let out = wrk(&ns, script, &url, MEASURE, cpus_1)?;
    let cpu_used: Vec<Option<Duration>> =
        pids.iter().zip(cpu_before).map(|(&p, before)| Some(cpu_time(p)?.saturating_sub(before?))).collect();
    std::fs::write(dir.join(format!("wrk-{kind:?}-{placement:?}.txt")), &out)
        .map_err(|e| format!("wrk output: {e}"))?;
    let requests_per_s = out
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output:\n{out}"))?;
    let percentile = |p: &str| out.lines().find_map(|l| l.trim().strip_prefix(p).map(|v| latency_ms(v.trim())))?;
    let bad = out
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
                return v.trim().parse::<u64>().ok();
            }
            // "Socket errors: connect 0, read 0, write 0, timeout 0"
            let v = l.strip_prefix("Socket errors:")?;
            Some(v.split(',').filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok()).sum())
        })
        .sum();
    let replicated = (nodes.len() == 2).then(|| replicates(&ns, &nodes));
    let total = requests_per_s * MEASURE.as_secs_f64();
    let cpu_us = |i: usize| cpu_used.get(i).copied().flatten().map(|d| d.as_secs_f64() * 1e6 / total);
    Ok(Load {
        kind,
        placement,
        requests_per_s,
        cpu_us_1: cpu_us(0),
        cpu_us_2: cpu_us(1),
        p50_ms: percentile("50%"),
        p99_ms: percentile("99%"),
        bad,
        replicated,
    })
}

/// Pins every thread of `node`'s JVM (and the threads it starts later) to `cpus`.
fn pin(node: &TomcatNode, cpus: &str) -> Result<(), String> {
    let pid = find_pid(&format!("-Dcatalina.base={}", node.base.display()))?;
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()
        .map_err(|e| format!("cannot run taskset: {e}"))?;
    if !out.status.success() {
        return Err(format!("taskset -a -p -c {cpus} {pid}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

fn wrk(ns: &NetNs, script: &Path, url: &str, duration: Duration, cpus: Option<&str>) -> Result<String, String> {
    let c = WRK_CONNECTIONS.to_string();
    let mut command = match cpus {
        Some(cpus) => {
            let mut t = ns.command("taskset");
            t.args(["-c", cpus, "wrk"]);
            t
        }
        None => ns.command("wrk"),
    };
    let out = command
        .args(["-t", &c, "-c", &c, "-d", &format!("{}s", duration.as_secs()), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    if !out.status.success() {
        return Err(format!("wrk: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// wrk's latency ("812.00us", "1.25ms", "2.01s") in ms.
fn latency_ms(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

/// An attribute set (twice: the first delta of a new session may be lost with channelSendOptions
/// 8, testing-with-stock-tomcat.md) on node 1 right after the load is read on node 2: how long
/// after the second set's answer. Node 2 is asked with node 1's cookie and `create=false`, so a
/// request that comes before the replication creates no session there.
fn replicates(ns: &NetNs, nodes: &[TomcatNode]) -> Result<Duration, String> {
    let mut client = SessionClient::new(ns);
    for _ in 0..2 {
        client.op(nodes[0].http_port(), APP, "op=set&name=check&value=replicated")?;
    }
    let id = client.session_id().ok_or("node 1 set no session cookie")?.to_string();
    let t = Instant::now();
    let page = format!("{APP}/s.jsp?op=get&name=check&create=false");
    let mut last = String::new();
    wait_for(REPLICATION_WAIT, || {
        let r = tomcat_harness::http::get(ns, nodes[1].http_port(), &page, Some(&id)).ok()?;
        last = r.body.lines().filter(|l| !l.starts_with("session=")).collect::<Vec<_>>().join(" ");
        (r.field("value") == Some("replicated")).then(|| t.elapsed())
    })
    .ok_or(last)
}

/// Both nodes of a pair logged a member joining ("Replication member added", or our node's
/// "member added").
fn joined(nodes: &[TomcatNode]) -> Result<(), String> {
    for n in nodes {
        n.wait_for_log(&["member added"], Duration::from_secs(60))
            .map_err(|e| format!("{} saw no member: {e}", n.process.name))?;
    }
    Ok(())
}

/// Our node asks for the session state a few seconds after a member joined, and webapp start
/// does not wait for it (docs/java-bridge.md): wait for it, so that no load runs during it (the
/// messages queued meanwhile are dropped by stateTimestampDrop, as DeltaManager does).
fn transferred(node: &TomcatNode) -> Result<(), String> {
    node.wait_for_log(&["session state transfer complete"], Duration::from_secs(60))
        .map(|_| ())
        .map_err(|e| format!("{}: no state transfer: {e}", node.process.name))
}

// ---- receive-only heap ----

fn receive(tomcat: &Tomcat, jar: &Path, tribesd: &Path, dir: &Path, kind: Kind) -> Result<Receive, String> {
    let ns = NetNs::new()?;
    let test = "bench-manager-receive";
    let config = |name: &str, i: u16| {
        NodeConfig::new(name, i)
            .with_webapp(APP)
            .with_channel_send_options(HEAP_SEND_OPTIONS)
            .with_jvm_option(HEAP_RECEIVE)
    };
    let sender = TomcatNode::start(&ns, tomcat, test, config("sender", 1));
    sender.wait_webapps_ready(&ns, START_TIMEOUT)?;
    let socket = dir.join("receiver.sock");
    let _ = std::fs::remove_file(&socket);
    let receiver = match kind {
        Kind::Ours => start_node(&ns, tomcat, test, config("receiver-ours", 2), Some(jar), Some(&socket))?,
        _ => {
            let node = TomcatNode::start(&ns, tomcat, test, config("receiver-stock", 2));
            node.wait_webapps_ready(&ns, START_TIMEOUT)?;
            node
        }
    };
    let nodes = [sender, receiver];
    joined(&nodes)?;
    let [sender, receiver] = nodes;
    if kind == Kind::Ours {
        transferred(&receiver)?;
    }
    let pid = find_pid(&format!("-Dcatalina.base={}", receiver.base.display()))?;
    let before = jvm(pid)?;
    eprintln!("bench: manager: filling the sender with {SESSIONS} sessions (curl), {} receiving ...", kind.label());
    let t = Instant::now();
    crate::procfs::fill_stock(&ns, sender.http_port(), APP, SESSIONS as usize, VALUE_CHARS as usize, CURL_PARALLEL)?;
    let fill = t.elapsed();
    // Synchronous ack: every message was processed when curl got its answers; a second for
    // anything in flight.
    std::thread::sleep(Duration::from_secs(1));
    let after = jvm(pid)?;
    let sessions = match kind {
        Kind::Ours => our_count(tribesd, &socket).ok(),
        _ => stock_count(&ns, receiver.http_port(), APP).ok(),
    };
    let gc = Command::new("jcmd").arg(pid.to_string()).arg("VM.info").output().ok().and_then(|o| {
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        let line = t.lines().find(|l| l.contains(" gc") && l.contains('('))?;
        Some(line.trim().trim_start_matches("# Java VM:").trim().to_string())
    });
    drop(receiver);
    drop(sender);
    Ok(Receive {
        receiver: if kind == Kind::Ours { "ours (TribesdManager)" } else { "stock (DeltaManager)" },
        sessions,
        fill,
        before,
        after,
        gc,
    })
}

/// GC time and collections now, then heap after a forced full GC, and RSS.
fn jvm(pid: u32) -> Result<Jvm, String> {
    let (gct_s, collections) = {
        let gc = jstat(pid)?;
        let get = |k: &str| gc.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap_or(0.0);
        (get("GCT"), (get("YGC") + get("FGC") + get("CGC")) as u64)
    };
    let out = Command::new("jcmd").arg(pid.to_string()).arg("GC.run").output().map_err(|e| format!("jcmd: {e}"))?;
    if !out.status.success() {
        return Err(format!("jcmd {pid} GC.run: {}", String::from_utf8_lossy(&out.stdout).trim()));
    }
    let gc = jstat(pid)?;
    let get = |k: &str| gc.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap_or(0.0);
    Ok(Jvm {
        heap_used_kb: get("S0U") + get("S1U") + get("EU") + get("OU"),
        heap_committed_kb: get("S0C") + get("S1C") + get("EC") + get("OC"),
        gct_s,
        collections,
        gct_after_s: get("GCT"),
        collections_after: (get("YGC") + get("FGC") + get("CGC")) as u64,
        rss_kb: status_kb(pid, "VmRSS:").unwrap_or(0),
    })
}

/// `jstat -gc PID`: (column, value) pairs, KiB and seconds.
fn jstat(pid: u32) -> Result<Vec<(String, f64)>, String> {
    let out = Command::new("jstat").args(["-gc", &pid.to_string()]).output().map_err(|e| format!("jstat: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(head), Some(values)) = (lines.next(), lines.next()) else {
        return Err(format!("jstat -gc {pid} answered {text:?}"));
    };
    Ok(head
        .split_whitespace()
        .zip(values.split_whitespace())
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0.0)))
        .collect())
}

/// The sessions our embedded node holds: `tribesd sessions`' "context NAME: N session(s)".
fn our_count(tribesd: &Path, socket: &Path) -> Result<usize, String> {
    let out = Command::new(tribesd)
        .args(["sessions", "--context", APP_NAME, "--control-socket"])
        .arg(socket)
        .output()
        .map_err(|e| format!("cannot run tribesd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .and_then(|l| l.rsplit(": ").next()?.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("tribesd sessions answered {:?}", String::from_utf8_lossy(&out.stderr)))
}

// ---- nodes ----

/// The 10.1 release, as the issue asks.
fn pick_tomcat() -> Result<Tomcat, String> {
    let tomcats = std::panic::catch_unwind(tomcat_harness::tomcats)
        .map_err(|_| "the pinned Tomcat releases are not unpacked: run scripts/fetch-tomcat.sh".to_string())?;
    tomcats.iter().find(|t| t.line() == "10.1").cloned().ok_or_else(|| "no Tomcat 10.1 listed".to_string())
}

/// `TRIBESD_JAR`, or the jakarta jar java-bridge/build.sh builds (it rebuilds what changed).
fn jar() -> Result<PathBuf, String> {
    if let Some(j) = std::env::var_os("TRIBESD_JAR") {
        return Ok(PathBuf::from(j));
    }
    eprintln!("bench: manager: java-bridge/build.sh ...");
    let script = tomcat_harness::repo_root().join("java-bridge/build.sh");
    let out =
        Command::new("bash").arg(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            tomcat_harness::process::tail(&String::from_utf8_lossy(&out.stderr), 20)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("tribesd-tomcat10.jar"))
        .map(PathBuf::from)
        .ok_or_else(|| "build.sh named no tribesd-tomcat10.jar".to_string())
}

/// A node the harness does not write: without `<Cluster>` (`jar` None), or with our jar in
/// `$CATALINA_BASE/lib` and our two classes in the howto's `<Cluster>` (as
/// crates/tribesd/tests/java_bridge_cluster.rs starts them). Waits until its webapps answer.
fn start_node(
    ns: &NetNs,
    tomcat: &Tomcat,
    test: &str,
    config: NodeConfig,
    jar: Option<&Path>,
    control_socket: Option<&Path>,
) -> Result<TomcatNode, String> {
    let base = tomcat_harness::repo_root().join("target/tomcat-nodes").join(test).join(&config.name);
    let _ = std::fs::remove_dir_all(&base);
    let io = |e: std::io::Error| format!("{}: {e}", base.display());
    for d in ["conf", "logs", "temp", "work", "webapps", "lib"] {
        std::fs::create_dir_all(base.join(d)).map_err(io)?;
    }
    std::fs::copy(tomcat.home.join("conf/web.xml"), base.join("conf/web.xml")).map_err(io)?;
    std::fs::copy(tomcat.home.join("conf/logging.properties"), base.join("conf/logging.properties")).map_err(io)?;
    std::fs::write(base.join("conf/server.xml"), server_xml(&config, jar.is_some(), control_socket)).map_err(io)?;
    if let Some(jar) = jar {
        let name = jar.file_name().ok_or("jar path without a file name")?;
        std::fs::copy(jar, base.join("lib").join(name)).map_err(io)?;
    }
    for context in &config.webapps {
        tomcat_harness::node::install_test_webapp(tomcat, &base.join("webapps").join(webapp_dir_name(context)))
            .map_err(io)?;
    }
    let mut command = ns.command("java");
    command.env("TRIBESD_LOG", "info");
    tomcat_harness::node::bootstrap_args(&mut command, tomcat, &base, &config.jvm_options);
    let name = format!("Tomcat {} {}", tomcat.version, config.name);
    let process = LoggedChild::spawn(&name, command, base.join("logs/console.log"));
    let node = TomcatNode { tomcat: tomcat.clone(), config, base, process };
    if jar.is_some() {
        node.wait_webapps_ready(ns, START_TIMEOUT)?;
    } else {
        // peek.jsp needs a cluster manager (StandardManager's MBean has no findSessions): s.jsp only.
        node.wait_started(START_TIMEOUT)?;
        let page = format!("{APP}/s.jsp?op=info&create=false");
        wait_for(START_TIMEOUT, || {
            tomcat_harness::http::get(ns, node.http_port(), &page, None).ok().filter(|r| r.status == 200)
        })
        .ok_or_else(|| format!("{}: {page} did not answer 200", node.process.name))?;
    }
    if jar.is_some() {
        node.wait_for_log(&["native cluster node started"], Duration::from_secs(20))?;
    }
    Ok(node)
}

/// server.xml without `<Cluster>`, or with the howto's `<Cluster>` and our two classes (and the
/// cluster's `controlSocket`, if any).
fn server_xml(c: &NodeConfig, ours: bool, control_socket: Option<&Path>) -> String {
    let cluster = if ours {
        let socket = control_socket.map_or(String::new(), |p| format!(" controlSocket=\"{}\"", p.display()));
        format!(
            r#"      <Cluster className="io.tribesd.tomcat.TribesdCluster" channelSendOptions="{opts}"{socket}>
        <Manager className="io.tribesd.tomcat.TribesdManager" expireSessionsOnShutdown="false" notifyListenersOnReplication="true"/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.McastService"
                      address="228.0.0.4" port="45564" frequency="500" dropTime="3000"
                      bind="127.0.0.1" localLoopbackDisabled="false"/>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver"
                    address="127.0.0.1" port="{rport}" autoBind="100" selectorTimeout="5000" maxThreads="6"/>
          <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"/>
          </Sender>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
        </Channel>
        <Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=""/>
        <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>
      </Cluster>
"#,
            opts = c.channel_send_options,
            rport = c.receiver_port,
        )
    } else {
        String::new()
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="{shutdown}" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{http}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="{name}">
{cluster}      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false">
      </Host>
    </Engine>
  </Service>
</Server>
"#,
        shutdown = c.shutdown_port,
        http = c.http_port,
        name = c.name,
    )
}

// ---- report ----

fn mb(kb: f64) -> String {
    format!("{:.0}", kb * 1024.0 / 1e6)
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

fn markdown(version: &str, loads: &[Load], receives: &[Receive]) -> String {
    let met = |ok: bool| if ok { "**met**" } else { "**not met**" };
    let mut md = String::from("## Tomcat Manager\n\n");
    let _ = writeln!(
        md,
        "Tomcat {version}, test webapp at /app (`<distributable/>`, with session and attribute \
         listeners registered: tests/webapp-src `EventLog`, so every replica fires listener events; \
         ours reads a copy of the session from the node for each), each configuration in its own \
         private network namespace on 127.0.0.1, default JVM options of the harness (`-Xmx256m`).\n\n\
         ### Request overhead\n\n\
         Load on node 1 only; in the pairs node 2 receives the replication (channelSendOptions \
         {LOAD_SEND_OPTIONS}). StandardManager: one node without `<Cluster>` (nothing replicated). \
         DeltaManager: the harness's cluster-howto pair. Ours: the same `<Cluster>` with \
         `TribesdCluster`/`TribesdManager` and tribesd-tomcat10.jar in `$CATALINA_BASE/lib`. \
         `wrk -t{WRK_CONNECTIONS} -c{WRK_CONNECTIONS} --latency` inside the namespace, one session \
         cookie per connection, every request `s.jsp?op=bulk&n=1&size={VALUE_CHARS}` (sets one String \
         attribute of {VALUE_CHARS} characters); {}s warm-up discarded, then {}s measured. One run per \
         configuration, one after the other, in two placements: all processes on all cores (wrk, \
         node 1 and node 2 share them: what node 2 spends receiving is taken from node 1), and node \
         2 pinned to a core of its own with wrk and node 1 on the other (`taskset`; the \
         StandardManager node with wrk on that one core too), as if node 2 ran on another host: \
         what replicating costs the node that serves the requests. Right after the measured run a \
         new session sets an attribute twice on node 1, and node 2 is asked with its cookie \
         (`create=false`) until it shows it: how far the replication was behind the load.\n",
        WARMUP.as_secs(),
        MEASURE.as_secs()
    );
    md.push_str(
        "| placement | configuration | requests/s | p50 (ms) | p99 (ms) | overhead vs StandardManager | node 1 CPU per request (µs) | node 2 CPU per request (µs) | non-2xx + socket errors | node 2 reads an attribute set on node 1 right after the load |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let overhead = |l: &Load| {
        let standard = loads.iter().find(|s| s.kind == Kind::Standard && s.placement == l.placement)?;
        Some((1.0 - l.requests_per_s / standard.requests_per_s) * 100.0)
    };
    for l in loads {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            l.placement.label(),
            l.kind.label(),
            l.requests_per_s,
            opt_ms(l.p50_ms),
            opt_ms(l.p99_ms),
            if l.kind == Kind::Standard {
                "-".to_string()
            } else {
                overhead(l).map_or("-".into(), |o| format!("{o:.1}%"))
            },
            l.cpu_us_1.map_or("-".into(), |c| format!("{c:.0}")),
            l.cpu_us_2.map_or("-".into(), |c| format!("{c:.0}")),
            l.bad,
            match &l.replicated {
                None => "-".to_string(),
                Some(Ok(lag)) => format!("yes, after {} ms", lag.as_millis()),
                Some(Err(answer)) => {
                    format!("**no** within {} s: node 2 answers `{answer}`", REPLICATION_WAIT.as_secs())
                }
            }
        );
    }

    let _ = writeln!(
        md,
        "\n### Receive-only node\n\n\
         A stock sender (DeltaManager) and a receiver that serves no request, channelSendOptions \
         {HEAP_SEND_OPTIONS} (synchronous ack, so every message was processed on the receiver when \
         the sender answered), both JVMs `{HEAP_RECEIVE}`. The sender gets {SESSIONS} new sessions, \
         each with one String attribute of {VALUE_CHARS} characters (raw: {:.0} MB), from one curl \
         ({CURL_PARALLEL} parallel requests, one new session each); the receiver replicates them. \
         Receiver JVM read before the fill and one second after curl finished: GC time and \
         collections (`jstat -gc`, before the forced GC), then `jcmd PID GC.run` and heap used \
         (S0U+S1U+EU+OU of `jstat -gc`), and the process RSS from /proc (MB = 10^6 bytes). Our \
         receiver's sessions live in the native node (Rust memory inside the same process), not \
         in the Java heap: its RSS includes them; sessions counted with `tribesd sessions` through \
         the cluster's `controlSocket` (ours) or peek.jsp (stock).\n",
        f64::from(SESSIONS) * f64::from(VALUE_CHARS) / 1e6
    );
    md.push_str(
        "| receiver | sessions held | fill (s) | heap used after full GC: before → after (MB) | heap increase (MB) | heap committed after (MB) | GC time during the receive (s) | collections | RSS before → after (MB) | RSS increase (MB) |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---|---:|\n",
    );
    for r in receives {
        let (b, a) = (r.before, r.after);
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {} → {} | {} | {} | {:.2} | {} | {} → {} | {} |",
            r.receiver,
            r.sessions.map_or("?".into(), |n| n.to_string()),
            r.fill.as_secs_f64(),
            mb(b.heap_used_kb),
            mb(a.heap_used_kb),
            if (a.heap_used_kb - b.heap_used_kb).abs() < 1000.0 {
                "0".to_string()
            } else {
                mb(a.heap_used_kb - b.heap_used_kb)
            },
            mb(a.heap_committed_kb),
            a.gct_s - b.gct_after_s,
            a.collections.saturating_sub(b.collections_after),
            mb(b.rss_kb as f64),
            mb(a.rss_kb as f64),
            mb(a.rss_kb as f64 - b.rss_kb as f64),
        );
    }
    if let Some(gc) = receives.iter().find_map(|r| r.gc.as_deref()) {
        let _ = writeln!(md, "\nJVM: `{gc}`");
    }

    md.push_str("\nTargets (from the issue), as measured in this run:\n\n");
    for l in loads.iter().filter(|l| l.kind == Kind::Ours) {
        let Some(o) = overhead(l) else { continue };
        let d = loads.iter().find(|d| d.kind == Kind::Delta && d.placement == l.placement).and_then(overhead);
        let _ = writeln!(
            md,
            "- at most 5% overhead against no replication (requests/s), {}: ours {o:.1}%, {} (stock \
             DeltaManager: {})",
            l.placement.label(),
            met(o <= 5.0),
            d.map_or("-".into(), |d| format!("{d:.1}%"))
        );
    }
    let cpu =
        |kind: Kind| loads.iter().find(|l| l.kind == kind && l.placement == Placement::Split).and_then(|l| l.cpu_us_1);
    if let (Some(standard), Some(ours), Some(delta)) = (cpu(Kind::Standard), cpu(Kind::Ours), cpu(Kind::Delta)) {
        let _ = writeln!(
            md,
            "- what replicating adds to the node that serves the request (CPU per request of node 1, \
             node 2 on its own core): ours +{:.0} µs ({standard:.0} → {ours:.0}), stock DeltaManager \
             +{:.0} µs ({standard:.0} → {delta:.0}). Ours: the value's Java serialization, one JNI \
             call, the DeltaManager machine and its DELTA, and the send on a connection to node 2: a \
             write on loopback, whose receiving half the kernel also runs on the sender's core, and \
             the wake-up of the node's sending thread",
            ours - standard,
            delta - standard,
        );
    }
    let stock = receives.iter().find(|r| r.receiver.starts_with("stock"));
    let ours = receives.iter().find(|r| r.receiver.starts_with("ours"));
    if let (Some(s), Some(o)) = (stock, ours) {
        let ratio = s.after.heap_used_kb / o.after.heap_used_kb.max(1.0);
        let inc = |r: &Receive| r.after.heap_used_kb - r.before.heap_used_kb;
        let _ = writeln!(
            md,
            "- at least 5x less heap on the receive-only node (heap used after a full GC): stock {} MB, \
             ours {} MB, {ratio:.1}x, {}; what the {SESSIONS} sessions added to the heap: stock {} MB, \
             ours {} MB",
            mb(s.after.heap_used_kb),
            mb(o.after.heap_used_kb),
            met(ratio >= 5.0),
            mb(inc(s)),
            if inc(o) < 1000.0 { "under 1".to_string() } else { mb(inc(o)) },
        );
        let _ = writeln!(
            md,
            "- what the native side holds instead: our receiver's RSS grew by {} MB (stock: {} MB); \
             the process as a whole is {} MB (stock {} MB). The target is about the JVM heap (GC work \
             and `-Xmx` sizing); the session bytes themselves still take memory, in Rust.",
            mb(o.after.rss_kb as f64 - o.before.rss_kb as f64),
            mb(s.after.rss_kb as f64 - s.before.rss_kb as f64),
            mb(o.after.rss_kb as f64),
            mb(s.after.rss_kb as f64),
        );
    }
    md.push_str("\nOne run each on a shared machine; requests/s move from run to run by several percent.\n\n");
    md
}
