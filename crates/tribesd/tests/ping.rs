//! `tribesd ping` against stock Tribes: a bare GroupChannel (TribesPeer, every pinned release) and
//! a whole stock Tomcat cluster node (cluster-howto configuration, in a network namespace).
//! Every message is acknowledged, RTT lines and a summary are printed, and the stock side logs no
//! WARNING or SEVERE line because of them.

use std::process::{Command, Output};
use std::time::Duration;

use tomcat_harness::java_peer::JavaPeer;
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::Tomcat;

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");

/// TribesPeer (tests/java/tribes-peer) on 127.0.0.1, driven over stdin.
struct Peer(JavaPeer);

impl Peer {
    fn start(tomcat: &Tomcat, port: u16) -> Peer {
        let log = tomcat_harness::repo_root().join("target/tribes-peer/ping").join(format!("{}.log", tomcat.version));
        Peer(JavaPeer::start("run-tribes-peer.sh", tomcat, port, log).unwrap_or_else(|e| panic!("{e}")))
    }

    fn cmd(&mut self, command: &str) -> String {
        self.0.cmd(command, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn log_text(&self) -> String {
        self.0.log_text()
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// Checks a ping of `count` messages that all succeeded; returns the RTTs.
fn all_acknowledged(out: &Output, count: usize, what: &str) -> Vec<f64> {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "{what}: ping failed:\n{stdout}\n{stderr}");
    assert!(stdout.starts_with("PING 127.0.0.1:"), "{what}:\n{stdout}");
    let rtts: Vec<f64> = stdout
        .lines()
        .filter(|l| l.contains(" seq="))
        .map(|l| {
            assert!(!l.contains("failed"), "{what}: {l}");
            field(l, "time").parse().unwrap()
        })
        .collect();
    assert_eq!(rtts.len(), count, "{what}:\n{stdout}");
    for (i, l) in stdout.lines().filter(|l| l.contains(" seq=")).enumerate() {
        assert_eq!(field(l, "seq"), (i + 1).to_string(), "{what}: {l}");
    }
    assert!(stdout.contains(&format!("{count} messages sent, {count} acknowledged, 0% loss")), "{what}:\n{stdout}");
    assert!(stdout.contains("rtt min/avg/max/mdev = "), "{what}:\n{stdout}");
    rtts
}

fn warnings(log: &str) -> Vec<String> {
    log.lines().filter(|l| l.contains("WARNING") || l.contains("SEVERE")).map(str::to_string).collect()
}

#[test]
fn ping_is_acknowledged_by_a_stock_group_channel_which_logs_no_warning() {
    for (i, tomcat) in tomcat_harness::tomcats().iter().enumerate() {
        let v = &tomcat.version;
        let mut peer = Peer::start(tomcat, 4900 + 20 * i as u16);
        let target = format!("127.0.0.1:{}", peer.0.port);
        let out = Command::new(TRIBESD)
            .args(["ping", &target, "--count", "5", "--interval", "100ms", "--size", "100"])
            .output()
            .unwrap();
        let rtts = all_acknowledged(&out, 5, &format!("Tomcat {v}"));
        let got = peer.cmd("wait 5 5000");
        assert_eq!(field(&got, "count"), "5", "Tomcat {v}: {got}");
        assert_eq!(field(&got, "distinct"), "5", "Tomcat {v}: {got}");
        assert_eq!(field(&got, "bytes"), "500", "Tomcat {v}: {got}");
        std::thread::sleep(Duration::from_millis(300));
        let log = peer.log_text();
        assert_eq!(warnings(&log), Vec::<String>::new(), "Tomcat {v}: the peer warned:\n{log}");
        eprintln!("Tomcat {v}: tribesd ping RTTs {rtts:?} ms");

        // A listener that throws: FAIL_ACK, Tomcat's resend rule (one resend), then a loss.
        assert_eq!(peer.cmd("fail 2"), "ok");
        let out = Command::new(TRIBESD).args(["ping", &target, "--count", "1", "--size", "100"]).output().unwrap();
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(1), "Tomcat {v}:\n{stdout}");
        assert!(stdout.contains("seq=1 failed") && stdout.contains("FAIL_ACK"), "Tomcat {v}:\n{stdout}");
        assert!(stdout.contains("1 messages sent, 0 acknowledged, 100% loss"), "Tomcat {v}:\n{stdout}");
        let got = peer.cmd("wait 1 300");
        assert_eq!(field(&got, "failed"), "2", "Tomcat {v}: {got}");
    }
}

#[test]
fn ping_to_a_closed_port_reports_every_message_lost() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(TRIBESD)
        .args(["ping", &format!("127.0.0.1:{port}"), "-c", "2", "-i", "50ms", "--options", "use_ack"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.contains("failed") && l.contains("connect to")).count(), 2, "{stdout}");
    assert!(stdout.contains("2 messages sent, 0 acknowledged, 100% loss"), "{stdout}");
    assert!(stdout.contains("options 0x00000003 (byte|use_ack)"), "{stdout}");
}

#[test]
fn ping_rejects_bad_arguments() {
    let out = Command::new(TRIBESD).args(["ping", "no-port-here", "-c", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("is not HOST:PORT"), "{:?}", text(&out));
    let out = Command::new(TRIBESD).args(["ping", "127.0.0.1:4000", "--options", "bogus"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).1.contains("unknown option \"bogus\""), "{:?}", text(&out));
}

#[test]
fn ping_is_acknowledged_by_a_stock_tomcat_cluster_node_which_logs_no_warning() {
    if !NetNs::available() {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root and must be able to make namespaces");
        eprintln!("not root: no network namespace can be made, so this test checks nothing here");
        return;
    }
    for tomcat in tomcat_harness::tomcats() {
        let v = &tomcat.version;
        let ns = NetNs::new().expect("namespace");
        let node = TomcatNode::start(&ns, &tomcat, &format!("ping-{v}"), NodeConfig::new("node1", 1));
        let bound = node.wait_for_log(&["Receiver Server Socket bound to"], Duration::from_secs(90)).unwrap();
        node.wait_for_log(&["Server startup in"], Duration::from_secs(90)).unwrap();
        let port = bound.rsplit(':').next().unwrap().trim_end_matches(']').trim().to_string();
        let before = warnings(&node.log()).len();
        let out = ns
            .command(TRIBESD)
            .args(["ping", &format!("127.0.0.1:{port}"), "-c", "5", "-i", "100ms", "--size", "200"])
            .output()
            .unwrap();
        let rtts = all_acknowledged(&out, 5, &format!("Tomcat {v} node"));
        std::thread::sleep(Duration::from_millis(500));
        let log = node.log();
        let new: Vec<String> = warnings(&log).into_iter().skip(before).collect();
        assert_eq!(new, Vec::<String>::new(), "Tomcat {v} node warned after the ping:\n{log}");
        eprintln!("Tomcat {v} node: tribesd ping RTTs {rtts:?} ms");
    }
}
