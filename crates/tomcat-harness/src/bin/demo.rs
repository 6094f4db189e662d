//! `make demo`: a local cluster of two stock Tomcat nodes and one tribesd node in a private
//! network namespace, with `tribesd members` showing the group, until Ctrl-C (or for
//! `DEMO_SECONDS`). Session replication through tribesd is not built yet; the demo shows what is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::process::LoggedChild;

fn main() {
    let root = tomcat_harness::repo_root();
    let tribesd = root.join("target/debug/tribesd");
    if !tribesd.is_file() {
        eprintln!("demo: {} is missing: run `cargo build -p tribesd` (make demo does)", tribesd.display());
        std::process::exit(1);
    }
    if !NetNs::available() {
        eprintln!(
            "demo: not root, so no private network namespace can be made. The multicast demo needs one (its traffic \
             must not leave this machine); run `sudo make demo`. A static-membership demo on 127.0.0.1 is not built yet."
        );
        std::process::exit(1);
    }
    let tomcats = tomcat_harness::tomcats();
    let tomcat = tomcats.iter().find(|t| t.line() == "10.1").unwrap_or(&tomcats[0]).clone();
    let ns = NetNs::new().unwrap_or_else(|e| {
        eprintln!("demo: {e}");
        std::process::exit(1)
    });
    println!("demo: mode = multicast in a private network namespace (only lo, 224.0.0.0/4 routed to it)");
    println!("demo: starting two stock Tomcat {} nodes and one tribesd node ...", tomcat.version);
    let nodes: Vec<TomcatNode> =
        (1..=2).map(|i| TomcatNode::start(&ns, &tomcat, "demo", NodeConfig::new(&format!("node{i}"), i))).collect();
    let mut run = ns.command(&tribesd);
    run.args(["run", "--membership-bind", "127.0.0.1", "--receiver-address", "127.0.0.1"]);
    let mut ours = LoggedChild::spawn("tribesd", run, root.join("target/tomcat-nodes/demo/tribesd.log"));
    for n in &nodes {
        if let Err(e) = n.wait_for_log(&["Replication member added"], Duration::from_secs(90)) {
            eprintln!("demo: {e}");
            std::process::exit(1);
        }
    }
    let _ = ours.wait_for_log(&["member added"], Duration::from_secs(10));
    if let Ok(line) = ours.wait_for_log(&["joined the group"], Duration::from_secs(1)) {
        let me = line.split("member=").nth(1).and_then(|m| m.split(')').next()).unwrap_or("?");
        println!("demo: the tribesd node is {me})");
    }
    std::thread::sleep(Duration::from_secs(2));
    println!("\n$ tribesd members --once --interface 127.0.0.1");
    let _ = ns.command(&tribesd).args(["members", "--once", "--timeout", "2s", "--interface", "127.0.0.1"]).status();
    println!("\nThe stock nodes' logs show our node as a replication member:");
    for n in &nodes {
        for l in n.log().lines().filter(|l| l.contains("Replication member added")) {
            println!("  {}: {}", n.config.name, l.split("SimpleTcpCluster.memberAdded ").nth(1).unwrap_or(l));
        }
    }
    println!("\nHTTP connectors, inside the namespace: http://127.0.0.1:18081/ and http://127.0.0.1:18082/");
    println!("Logs: target/tomcat-nodes/demo/ (node1/logs, node2/logs, tribesd.log)");
    println!("Session replication through tribesd is not built yet (see README.md).");
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst)).expect("signal handler");
    let limit = std::env::var("DEMO_SECONDS").ok().and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
    println!("\nRunning until Ctrl-C{} ...", limit.map(|d| format!(" or {}s", d.as_secs())).unwrap_or_default());
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) && limit.is_none_or(|l| started.elapsed() < l) {
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("demo: stopping tribesd (shutdown heartbeat) and the stock nodes ...");
    ours.terminate(Duration::from_secs(5));
    for mut n in nodes {
        n.stop(Duration::from_secs(20));
    }
    drop(ns);
    println!("demo: stopped cleanly");
}
