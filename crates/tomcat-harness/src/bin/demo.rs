//! `make demo`: a local mixed cluster, until Ctrl-C (or for `DEMO_SECONDS`).
//!
//! As root: two stock Tomcat 10.1 nodes (SimpleTcpCluster + DeltaManager) and two Tomcat 10.1
//! nodes with our Manager jar (`tribesd-tomcat10.jar`, TribesdCluster + TribesdManager), all with
//! `tests/webapp` at /app, in a private network namespace with multicast membership. It prints the
//! URLs (with the `nsenter` command that reaches them), `tribesd members`, and a counter
//! incremented round-robin over the four nodes with one cookie.
//!
//! Without root (or with `DEMO_STATIC=1`): no namespace can be made, and multicast would leave
//! the namespace the user is in, so only our two nodes run, with static members on 127.0.0.1
//! (StaticMembershipInterceptor) and multicast on a port of their own bound to 127.0.0.1. Stock
//! nodes are left out: a stock node cannot fix its own id while McastService runs, so it cannot
//! be declared in advance (docs/operations.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tomcat_harness::http::SessionClient;
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::process::{tail, wait_for};
use tomcat_harness::Tomcat;

const APP: &str = "/app";
/// USE_ACK + SYNCHRONIZED_ACK, as the mixed-cluster test: with 8 the stock nodes themselves lose
/// the first deltas of new sessions.
const SEND_OPTIONS: u32 = 6;
const REQUESTS: usize = 20;
/// The multicast port of the static-membership mode, away from the default group's 45564.
const STATIC_MCAST_PORT: u16 = 45599;
const START_TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    if let Err(e) = run() {
        eprintln!("demo: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let root = tomcat_harness::repo_root();
    let tribesd = root.join("target/debug/tribesd");
    if !tribesd.is_file() {
        return Err(format!("{} is missing: run `cargo build -p tribesd` (make demo does)", tribesd.display()));
    }
    let tomcats = tomcat_harness::tomcats();
    let tomcat = tomcats.iter().find(|t| t.line() == "10.1").unwrap_or(&tomcats[0]).clone();
    let jar = tomcat_harness::bridge::built_jar(&tomcat)?;

    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst)).map_err(|e| format!("signal handler: {e}"))?;

    let forced_static = std::env::var_os("DEMO_STATIC").is_some_and(|v| !v.is_empty() && v != "0");
    let ns = if NetNs::available() && !forced_static {
        println!("demo: mode = multicast in a private network namespace (only lo, 224.0.0.0/4 routed to it)");
        NetNs::new()?
    } else {
        let why = if forced_static { "DEMO_STATIC is set" } else { "not root, so no network namespace can be made" };
        println!("demo: mode = static membership on 127.0.0.1 ({why})");
        println!(
            "demo: not available in this mode: the two stock Tomcat nodes (a stock node cannot fix its own id \
             while McastService runs, so it cannot be declared as a static member) and `tribesd members` on the \
             default group; run `sudo make demo` for the mixed cluster"
        );
        NetNs::current()
    };
    let configs = if ns.is_private() { mixed_configs(&jar) } else { static_configs(&jar) };
    let ours = configs.iter().filter(|c| c.is_tribesd()).count();
    println!(
        "demo: starting {} stock and {ours} tribesd Tomcat {} nodes with tests/webapp at {APP}, one after the other ...",
        configs.len() - ours,
        tomcat.version
    );
    let mut nodes = Vec::new();
    for config in configs {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let node = TomcatNode::start(&ns, &tomcat, "demo", config);
        // Pushed first, so that a failed start is stopped with the others.
        nodes.push(node);
        let node = nodes.last().expect("just pushed");
        node.wait_webapps_ready(&ns, START_TIMEOUT)?;
        println!("demo:   {} is up on port {}", node.process.name, node.http_port());
    }
    if !stop.load(Ordering::SeqCst) {
        show(&ns, &tribesd, &tomcat, &nodes, &stop)?;
        wait(&stop);
    }
    println!("demo: stopping the nodes (shutdown heartbeats) ...");
    for mut n in nodes {
        n.stop(Duration::from_secs(20));
    }
    drop(ns);
    println!("demo: stopped cleanly");
    Ok(())
}

/// Two stock nodes, then two of ours, all in the default group.
fn mixed_configs(jar: &std::path::Path) -> Vec<NodeConfig> {
    let config = |name: &str, i: u16| NodeConfig::new(name, i).with_webapp(APP).with_channel_send_options(SEND_OPTIONS);
    vec![
        config("stock1", 1),
        config("stock2", 2),
        config("bridge3", 3).with_tribesd_jar(jar),
        config("bridge4", 4).with_tribesd_jar(jar),
    ]
}

/// Two of ours that declare each other as static members (fixed receiver ports and ids).
fn static_configs(jar: &std::path::Path) -> Vec<NodeConfig> {
    let id = |i: u16| format!("{{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,{i}}}");
    let node = |i: u16, other: u16| {
        let interceptor = format!(
            r#"<Interceptor className="org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor">
            <LocalMember className="org.apache.catalina.tribes.membership.StaticMember" uniqueId="{}"/>
            <Member className="org.apache.catalina.tribes.membership.StaticMember" host="127.0.0.1" port="{}" uniqueId="{}"/>
          </Interceptor>"#,
            id(i),
            4000 + other,
            id(other)
        );
        let mut c = NodeConfig::new(&format!("bridge{i}"), i)
            .with_webapp(APP)
            .with_channel_send_options(SEND_OPTIONS)
            .with_tribesd_jar(jar)
            .with_channel_extra(&interceptor);
        c.receiver_port = 4000 + i;
        c.membership_port = STATIC_MCAST_PORT;
        c
    };
    vec![node(1, 2), node(2, 1)]
}

/// URLs, members, and the counter over every node.
fn show(
    ns: &NetNs,
    tribesd: &std::path::Path,
    tomcat: &Tomcat,
    nodes: &[TomcatNode],
    stop: &AtomicBool,
) -> Result<(), String> {
    let others = nodes.len() - 1;
    let joined = wait_for(Duration::from_secs(60), || {
        // Tomcat's "Replication member added:" and our node's "member added".
        nodes.iter().all(|n| n.log().lines().filter(|l| l.contains("member added")).count() >= others).then_some(())
    });
    if joined.is_none() {
        let logs: Vec<String> =
            nodes.iter().map(|n| format!("== {}\n{}", n.process.name, tail(&n.log(), 30))).collect();
        return Err(format!("the nodes did not all see each other within 60 s:\n{}", logs.join("\n")));
    }
    println!("demo: every node sees the {others} other(s)");

    let enter = ns.enter_prefix();
    println!("\nURLs{}:", if ns.is_private() { " (inside the namespace)" } else { "" });
    for n in nodes {
        let url = format!("http://127.0.0.1:{}{APP}/s.jsp?op=counter", n.http_port());
        let kind = if n.config.is_tribesd() { "TribesdManager" } else { "stock DeltaManager" };
        println!("  {:<9} {kind:<18} {url}", n.config.name);
    }
    let first = nodes[0].http_port();
    println!("Try (one cookie jar across nodes):");
    println!("  {enter}curl -s -b /tmp/demo.jar -c /tmp/demo.jar 'http://127.0.0.1:{first}{APP}/s.jsp?op=counter'");
    println!("  {enter}curl -s 'http://127.0.0.1:{first}{APP}/peek.jsp'");
    println!("Logs: target/tomcat-nodes/demo/NODE/logs/console.log");

    if stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    if ns.is_private() {
        let args = ["members", "--once", "--timeout", "3s", "--interface", "127.0.0.1"];
        println!("\n$ tribesd {}", args.join(" "));
        let _ = ns.command(tribesd).args(args).status();
    } else {
        println!("\nWhat each node logged about its members:");
        for n in nodes {
            for l in n.log().lines().filter(|l| l.contains("member added")) {
                println!("  {}: {}", n.config.name, l.trim());
            }
        }
    }

    println!("\nA counter in one session, incremented round-robin over the {} nodes with one cookie:", nodes.len());
    let mut client = SessionClient::new(ns);
    for i in 0..REQUESTS {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let n = &nodes[i % nodes.len()];
        let r = client.op(n.http_port(), APP, "op=counter")?;
        let got = r.field("counter").unwrap_or("?");
        let mark = if got == (i + 1).to_string() { String::new() } else { format!("   <- expected {}", i + 1) };
        println!(
            "  request {:>2} -> {:<9} (port {}): counter={got:<3} session={}{mark}",
            i + 1,
            n.config.name,
            n.http_port(),
            client.session_id().unwrap_or("-")
        );
    }
    println!(
        "(the session id's suffix is the jvmRoute of the node that last served it: JvmRouteBinderValve renames \
         the session at each hop, on Tomcat {})",
        tomcat.version
    );
    Ok(())
}

/// Until Ctrl-C, or `DEMO_SECONDS`.
fn wait(stop: &AtomicBool) {
    let limit = std::env::var("DEMO_SECONDS").ok().and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
    println!("\nRunning until Ctrl-C{} ...", limit.map(|d| format!(" or {}s", d.as_secs())).unwrap_or_default());
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) && limit.is_none_or(|l| started.elapsed() < l) {
        std::thread::sleep(Duration::from_millis(200));
    }
}
