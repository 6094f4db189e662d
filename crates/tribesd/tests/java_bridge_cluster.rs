//! Issue 7's core, end to end: a mixed cluster of two stock Tomcat nodes (SimpleTcpCluster +
//! DeltaManager) and two Tomcat nodes with the bridge jar in `$CATALINA_BASE/lib` and
//! `io.tribesd.tomcat.TribesdCluster` / `TribesdManager` in server.xml (every other element of the
//! howto configuration kept), all running tests/webapp at /app, in a private network namespace:
//!
//! 1. a counter incremented round-robin across the four nodes with one cookie climbs 1..400 with
//!    no gap (JvmRouteBinderValve renames the session at every hop; the client follows the
//!    Set-Cookie);
//! 2. an attribute set on any node is read on every other one;
//! 3. kill -9 of one of our nodes, then of a stock node: the counter goes on with no gap;
//! 4. restarted (our node, then the stock node), they get the session back by state transfer
//!    before they answer (both starts wait for it), and the counter goes on from the restarted
//!    node;
//! 5. `tribesd members` lists all four nodes.
//!
//! The cluster runs with channelSendOptions 6 (USE_ACK + SYNCHRONIZED_ACK): with 8 the stock
//! nodes themselves lose first deltas (testing-with-stock-tomcat.md).
//!
//! Without root no namespace can be made: the test then says so and checks nothing.

use std::time::Duration;

use tomcat_harness::bridge::jar_for;
use tomcat_harness::http::SessionClient;
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::process::wait_for;
use tomcat_harness::{pinned, Tomcat};

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");
const APP: &str = "/app";
const SEND_OPTIONS: u32 = 6;
const COUNT: u32 = 400;

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// The `tribesd members` rows (JSON lines).
fn members_json(ns: &NetNs) -> Vec<serde_json::Value> {
    let out = ns
        .command(TRIBESD)
        .args(["members", "--once", "--timeout", "3s", "--json", "--interface", "127.0.0.1"])
        .output()
        .expect("tribesd members runs");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn check_line(tomcat: &Tomcat) {
    let Some(ns) = NetNs::for_test(false) else { return };
    let test = format!("java-bridge-cluster-{}", tomcat.version);
    let config = |name: &str, i: u16| NodeConfig::new(name, i).with_webapp(APP).with_channel_send_options(SEND_OPTIONS);
    // Ours: the bridge jar in `$CATALINA_BASE/lib`, TribesdCluster / TribesdManager in server.xml.
    let ours = |name: &str, i: u16| config(name, i).with_tribesd_jar(jar_for(tomcat));
    // One node after the other: stock nodes started together can each drop the other's state
    // request inside their own GET_ALL_SESSIONS wait, and stall 60 s (stock behaviour).
    let version = &tomcat.version;
    let mut nodes = Vec::new();
    for (i, name) in ["stock1", "stock2", "bridge3", "bridge4"].into_iter().enumerate() {
        let c = if name.starts_with("stock") { config(name, i as u16 + 1) } else { ours(name, i as u16 + 1) };
        let node = TomcatNode::start(&ns, tomcat, &test, c);
        node.wait_webapps_ready(&ns, Duration::from_secs(120)).unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
        nodes.push(node);
    }
    // Every node sees the three others: stock nodes log Tomcat's line, ours the node's.
    let all_joined = wait_for(Duration::from_secs(60), || {
        let ok = nodes.iter().all(|n| {
            // Tomcat's "Replication member added:" and our node's "member added".
            count_lines(&n.log(), "member added") >= 3
        });
        ok.then_some(())
    });
    if all_joined.is_none() {
        let logs: Vec<String> = nodes
            .iter()
            .map(|n| format!("== {}\n{}", n.process.name, tomcat_harness::process::tail(&n.log(), 30)))
            .collect();
        panic!("Tomcat {version}: the four nodes did not all see each other:\n{}", logs.join("\n"));
    }
    for n in &nodes[2..] {
        n.wait_for_log(&["native cluster node started"], Duration::from_secs(5)).unwrap();
    }

    // 5. `tribesd members` lists all four (two stock, two embedded nodes).
    let rows = wait_for(Duration::from_secs(20), || {
        let rows = members_json(&ns);
        (rows.iter().filter(|r| r["status"] == "alive").count() >= 4).then_some(rows)
    })
    .unwrap_or_else(|| panic!("Tomcat {version}: tribesd members did not list four members: {:?}", members_json(&ns)));
    eprintln!("Tomcat {version}: tribesd members lists {} members", rows.len());

    // 1. The counter climbs 1..COUNT round-robin with one cookie.
    let ports: Vec<u16> = nodes.iter().map(|n| n.http_port()).collect();
    let mut client = SessionClient::new(&ns);
    climb(&mut client, &ports, 1, COUNT, version, &nodes);
    eprintln!("Tomcat {version}: counter 1..{COUNT} round-robin over 4 nodes, no gap");

    // 2. An attribute set on any node is read on every other one.
    for (i, &port) in ports.iter().enumerate() {
        let mut client = SessionClient::new(&ns);
        let value = format!("v{i}-{version}");
        let r = client.op(port, APP, &format!("op=set&name=k{i}&value={value}")).unwrap();
        assert_eq!(r.field("set"), Some(format!("k{i}").as_str()), "{}", r.body);
        for (j, &other) in ports.iter().enumerate() {
            if j == i {
                continue;
            }
            let r = client.op(other, APP, &format!("op=get&name=k{i}")).unwrap();
            assert_eq!(
                r.field("value"),
                Some(value.as_str()),
                "Tomcat {version}: k{i} set on node {i}, read on node {j}:\n{}",
                r.body
            );
        }
    }
    eprintln!("Tomcat {version}: attributes set on each node are read on every other one");

    // JMX's activeSessions: our nodes count every session the cluster holds, as DeltaManager's,
    // including one that no request on our nodes has touched.
    let r = SessionClient::new(&ns).op(ports[0], APP, "op=set&name=only&value=stock").unwrap();
    assert_eq!(r.field("set"), Some("only"), "{}", r.body);
    let active: Vec<String> = nodes
        .iter()
        .map(|n| {
            let r =
                tomcat_harness::http::get(&ns, n.http_port(), &format!("{APP}/peek.jsp?active=true"), None).unwrap();
            r.field("active").unwrap_or("?").to_string()
        })
        .collect();
    assert!(
        active[0].parse::<u32>().is_ok_and(|n| n >= 2) && active.iter().all(|a| a == &active[0]),
        "Tomcat {version}: activeSessions per node (stock, stock, ours, ours): {active:?}"
    );
    eprintln!("Tomcat {version}: activeSessions is {} on every node", active[0]);

    for n in &nodes {
        let severe = n.severe_lines();
        assert!(severe.is_empty(), "Tomcat {version}: {} logged SEVERE lines:\n{}", n.process.name, severe.join("\n"));
    }

    // 3. kill -9 (channelSendOptions 6): the counter goes on with no gap on the nodes left, first
    // without one of our nodes, then without a stock node too.
    let mut nodes: Vec<Option<TomcatNode>> = nodes.into_iter().map(Some).collect();
    let mut next = COUNT + 1;
    nodes[3].take().expect("bridge4 runs").kill9();
    let alive = |nodes: &[Option<TomcatNode>]| -> Vec<u16> { nodes.iter().flatten().map(|n| n.http_port()).collect() };
    climb(&mut client, &alive(&nodes), next, next + 39, version, &[]);
    next += 40;
    nodes[1].take().expect("stock2 runs").kill9();
    climb(&mut client, &alive(&nodes), next, next + 39, version, &[]);
    next += 40;
    eprintln!(
        "Tomcat {version}: kill -9 of an embedded node, then of a stock node: the counter went on to {}",
        next - 1
    );

    // 4. Restarted nodes get the sessions back by state transfer: our node (asking a stock node),
    // then the stock node (asking whichever member is the longest running).
    let bridge4 = TomcatNode::start(&ns, tomcat, &format!("{test}-restart"), ours("bridge4", 4));
    bridge4.wait_webapps_ready(&ns, Duration::from_secs(120)).unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
    // As DeltaManager's start, ours waits for the state before the connectors open: the webapp
    // answering means the sessions are in, and the first request goes to the restarted node.
    let log = bridge4.log();
    assert!(
        log.contains("localhost#/app: session state received (start waited"),
        "Tomcat {version}: bridge4 answered before its start waited for the session state:\n{}",
        tomcat_harness::process::tail(&log, 40)
    );
    let first = bridge4.http_port();
    nodes[3] = Some(bridge4);
    let mut ports = alive(&nodes);
    ports.retain(|&p| p != first);
    ports.insert(0, first);
    climb(&mut client, &ports, next, next + 29, version, &[]);
    next += 30;
    let stock2 = TomcatNode::start(&ns, tomcat, &format!("{test}-restart"), config("stock2", 2));
    stock2.wait_webapps_ready(&ns, Duration::from_secs(120)).unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
    let first = stock2.http_port();
    nodes[1] = Some(stock2);
    let mut ports = alive(&nodes);
    assert_eq!(ports.len(), 4);
    ports.retain(|&p| p != first);
    ports.insert(0, first);
    climb(&mut client, &ports, next, next + 39, version, &[]);
    next += 40;
    eprintln!("Tomcat {version}: restarted nodes got the session back; the counter reached {}", next - 1);
}

/// Increments the counter round-robin over `ports` from `from` to `to`, checking every answer.
fn climb(client: &mut SessionClient, ports: &[u16], from: u32, to: u32, version: &str, nodes: &[TomcatNode]) {
    for i in from..=to {
        let port = ports[(i - from) as usize % ports.len()];
        let r = client.op(port, APP, "op=counter").unwrap_or_else(|e| panic!("Tomcat {version}: request {i}: {e}"));
        let got = r.field("counter").map(str::to_string);
        if got.as_deref() != Some(&i.to_string()) {
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("== {}\n{}", n.process.name, tomcat_harness::process::tail(&n.log(), 20)))
                .collect();
            panic!(
                "Tomcat {version}: request {i} on port {port} answered counter {got:?} (session {:?}):\n{}\n{}",
                client.session_id(),
                r.body,
                logs.join("\n")
            );
        }
    }
}

#[test]
fn mixed_cluster_replicates_on_tomcat_10_1() {
    check_line(&pinned("10.1."));
}

#[test]
fn mixed_cluster_replicates_on_tomcat_9_0() {
    check_line(&pinned("9.0."));
}

#[test]
fn mixed_cluster_replicates_on_tomcat_11_0() {
    check_line(&pinned("11.0."));
}
