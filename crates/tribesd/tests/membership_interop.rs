//! Membership against stock Tomcat 9.0, 10.1 and 11.0 nodes (the cluster-howto configuration,
//! McastService + TcpFailureDetector), inside a private network namespace.
//!
//! Without root no namespace can be made: the test then says so and checks nothing (CI runs as
//! root, where that is an error).

use std::time::{Duration, Instant};

use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::process::{wait_for, LoggedChild};
use tomcat_harness::Tomcat;

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");

/// `host:port` and unique id (hex) of the member in a Tomcat log line such as
/// `Replication member added:[org.apache.catalina.tribes.membership.MemberImpl[tcp://{127, 0, 0, 1}:4000,...,
/// id={-75 3 -52 ... }, ...]]`.
fn member_in_tomcat_line(line: &str) -> (u16, String) {
    let after = line.split("tcp://{").nth(1).unwrap_or_else(|| panic!("no member in {line}"));
    let port: u16 = after
        .split("}:")
        .nth(1)
        .and_then(|p| p.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"));
    let id = line.split("id={").nth(1).and_then(|r| r.split('}').next()).unwrap_or_else(|| panic!("no id in {line}"));
    let hex: String =
        id.split_whitespace().map(|b| format!("{:02x}", b.parse::<i8>().expect("signed byte") as u8)).collect();
    assert_eq!(hex.len(), 32, "id of 16 bytes in {line}");
    (port, hex)
}

/// Waits until `node` logs a line with `what` about exactly this member (port and unique id).
fn logged_member(node: &TomcatNode, what: &str, member: &(u16, String), timeout: Duration) {
    wait_for(timeout, || {
        node.log()
            .lines()
            .any(|l| l.contains(what) && l.contains("tcp://{") && &member_in_tomcat_line(l) == member)
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!("{} logged no \"{what}\" for {member:?} within {timeout:?}:\n{}", node.process.name, node.log())
    });
}

fn start_tribesd(ns: &NetNs, test: &str, name: &str, extra: &[&str]) -> LoggedChild {
    let mut c = ns.command(TRIBESD);
    c.args(["run", "--membership-bind", "127.0.0.1", "--receiver-address", "127.0.0.1"]).args(extra);
    let log = tomcat_harness::repo_root().join("target/tomcat-nodes").join(test).join(format!("{name}.log"));
    LoggedChild::spawn(name, c, log)
}

/// Our member as `tribesd run` logs it: `member=127.0.0.1:4002 (hex)`.
fn our_member(node: &LoggedChild) -> (u16, String) {
    let line = node.wait_for_log(&["joined the group"], Duration::from_secs(10)).unwrap();
    let m = line.split("member=127.0.0.1:").nth(1).expect("member in the join line");
    let port: u16 = m.split(' ').next().unwrap().parse().unwrap();
    let id = m.split('(').nth(1).unwrap().split(')').next().unwrap().to_string();
    (port, id)
}

fn members_json(ns: &NetNs) -> (i32, Vec<serde_json::Value>) {
    let out = ns
        .command(TRIBESD)
        .args(["members", "--once", "--timeout", "2s", "--json", "--interface", "127.0.0.1"])
        .output()
        .expect("tribesd members runs");
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (out.status.code().unwrap_or(-1), rows)
}

fn check_line(tomcat: &Tomcat) {
    let test = format!("membership-{}", tomcat.version);
    let ns = NetNs::new().expect("namespace");
    let a = TomcatNode::start(&ns, tomcat, &test, NodeConfig::new("node1", 1));
    let mut b = TomcatNode::start(&ns, tomcat, &test, NodeConfig::new("node2", 2));
    let a_sees = a.wait_for_log(&["Replication member added"], Duration::from_secs(90)).unwrap();
    let b_sees = b.wait_for_log(&["Replication member added"], Duration::from_secs(90)).unwrap();
    let (b_port, b_id) = member_in_tomcat_line(&a_sees);
    let (a_port, a_id) = member_in_tomcat_line(&b_sees);

    // 1. `tribesd members` lists both stock nodes, as they advertise themselves, within 2 s.
    let (code, rows) = members_json(&ns);
    assert_eq!(code, 0, "members found nobody: {rows:?}");
    for (port, id) in [(a_port, &a_id), (b_port, &b_id)] {
        let row = rows
            .iter()
            .find(|r| r["unique_id"] == id.as_str())
            .unwrap_or_else(|| panic!("Tomcat {}: member {id} not listed: {rows:?}", tomcat.version));
        assert_eq!(row["port"], port as i64);
        assert_eq!(row["host"], "127.0.0.1");
        assert_eq!(row["status"], "alive");
    }

    // 2. Our node joins: both stock nodes add it (their TcpFailureDetector probed our receiver).
    let mut ours = start_tribesd(&ns, &test, "tribesd-1", &[]);
    let (our_port, our_id) = our_member(&ours);
    for n in [&a, &b] {
        logged_member(n, "Replication member added", &(our_port, our_id.clone()), Duration::from_secs(15));
    }
    // tribesd sees both stock nodes.
    for port in [a_port, b_port] {
        ours.wait_for_log(&["member added", &format!("127.0.0.1:{port} ")], Duration::from_secs(5)).unwrap();
    }

    // A graceful stop sends the shutdown heartbeat: gone at once, not after dropTime (3 s).
    let stopped = Instant::now();
    ours.terminate(Duration::from_secs(5));
    let us = (our_port, our_id.clone());
    let gone = |n: &TomcatNode| {
        logged_member(n, "Received member disappeared", &us, Duration::from_secs(10));
        stopped.elapsed()
    };
    let (ga, gb) = (gone(&a), gone(&b));
    assert!(
        ga.max(gb) < Duration::from_millis(1500),
        "Tomcat {}: our graceful stop was noticed after {ga:?} / {gb:?}, i.e. not by the shutdown heartbeat",
        tomcat.version
    );

    // kill -9: no shutdown heartbeat; the stock nodes drop us after dropTime plus their probe.
    let mut ours = start_tribesd(&ns, &test, "tribesd-2", &[]);
    let second = our_member(&ours);
    assert_ne!(second.1, our_id, "a restarted node has a new unique id");
    for n in [&a, &b] {
        logged_member(n, "Replication member added", &second, Duration::from_secs(15));
    }
    ours.kill9();
    let killed = Instant::now();
    for n in [&a, &b] {
        logged_member(n, "Received member disappeared", &second, Duration::from_secs(15));
    }
    eprintln!("Tomcat {}: killed tribesd dropped after {:?}", tomcat.version, killed.elapsed());

    // 3. A stock node killed with -9: tribesd reports it gone within 3.5 s.
    let ours = start_tribesd(&ns, &test, "tribesd-3", &[]);
    our_member(&ours);
    ours.wait_for_log(&["member added", &format!("127.0.0.1:{b_port} ")], Duration::from_secs(5)).unwrap();
    b.kill9();
    let killed = Instant::now();
    let line = ours
        .wait_for_log(&["member disappeared", &format!("127.0.0.1:{b_port} "), "Timeout"], Duration::from_secs(10))
        .unwrap();
    let after = killed.elapsed();
    assert!(after < Duration::from_millis(3500), "Tomcat {}: stock node gone after {after:?}: {line}", tomcat.version);
    eprintln!("Tomcat {}: killed stock node reported gone after {after:?}", tomcat.version);
}

#[test]
fn stock_tomcat_nodes_and_tribesd_see_each_other_join_leave_and_crash() {
    if NetNs::for_test(false).is_none() {
        return;
    }
    for tomcat in tomcat_harness::tomcats() {
        check_line(&tomcat);
    }
}

#[test]
fn member_lines_of_tomcat_logs_parse() {
    let line = "INFO [Catalina-utility-1] org.apache.catalina.ha.tcp.SimpleTcpCluster.memberAdded Replication member \
                added:[org.apache.catalina.tribes.membership.MemberImpl[tcp://{127, 0, 0, 1}:4001,{127, 0, 0, 1},4001, \
                alive=2026, securePort=-1, UDP Port=-1, id={-75 3 -52 35 8 10 73 -87 -88 104 14 -96 -19 -77 -25 71 }, \
                payload={}, command={}, domain={}]]";
    assert_eq!(member_in_tomcat_line(line), (4001, "b503cc23080a49a9a8680ea0edb3e747".to_string()));
}
