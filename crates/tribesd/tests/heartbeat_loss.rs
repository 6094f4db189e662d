//! When only heartbeats are lost (an nftables rule in the test's namespace drops every membership
//! datagram), the failure detectors keep every member whose TCP port still answers: stock Tomcat's
//! TcpFailureDetector keeps our node, and ours keeps the stock nodes. Only a member whose port
//! refuses would be removed.

use std::time::Duration;

use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::process::LoggedChild;

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");

#[test]
fn failure_detectors_keep_members_whose_heartbeats_are_lost_but_whose_ports_answer() {
    if NetNs::for_test(false).is_none() {
        return;
    }
    for tomcat in tomcat_harness::tomcats() {
        let test = format!("heartbeat-loss-{}", tomcat.version);
        let ns = NetNs::new().unwrap();
        let a = TomcatNode::start(&ns, &tomcat, &test, NodeConfig::new("node1", 1));
        a.wait_for_log(&["Receiver Server Socket bound to:[/127.0.0.1:4000]"], Duration::from_secs(60)).unwrap();
        let mut c = ns.command(TRIBESD);
        c.env("RUST_LOG", "info,tribes::membership=debug");
        c.args(["run", "--membership-bind", "127.0.0.1", "--receiver-address", "127.0.0.1", "--receiver-port", "4100"]);
        let log = tomcat_harness::repo_root().join("target/tomcat-nodes").join(&test).join("tribesd.log");
        let ours = LoggedChild::spawn("tribesd", c, log);
        a.wait_for_log(&["Replication member added", ":4100,"], Duration::from_secs(30)).unwrap();
        ours.wait_for_log(&["member added", "127.0.0.1:4000 "], Duration::from_secs(30)).unwrap();

        // Drop every membership datagram from now on.
        let nft = |args: &[&str]| {
            let out = ns.command("nft").args(args).output().expect("nft runs (scripts/setup.sh installs nftables)");
            assert!(out.status.success(), "nft {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        nft(&["add", "table", "inet", "t"]);
        nft(&["add", "chain", "inet", "t", "out", "{ type filter hook output priority 0; }"]);
        nft(&["add", "rule", "inet", "t", "out", "udp", "dport", "45564", "drop"]);
        let probe_mark = ours.log().lines().count();

        // dropTime (3 s) passes twice over, and the stock channel heartbeat (5 s) runs its check.
        std::thread::sleep(Duration::from_secs(8));
        let stock = a.log();
        assert!(
            !stock.lines().any(|l| l.contains("Received member disappeared") && l.contains(":4100,")),
            "Tomcat {} dropped our node although its port answers:\n{stock}",
            tomcat.version
        );
        // The stock detector did suspect us, and verified us alive over TCP.
        assert!(
            stock.lines().any(|l| l.contains("Verification complete. Member still alive") && l.contains(":4100,")),
            "Tomcat {} never suspected our node:\n{stock}",
            tomcat.version
        );
        let log = ours.log();
        assert!(
            !log.lines().skip(probe_mark).any(|l| l.contains("member disappeared") && l.contains("127.0.0.1:4000 ")),
            "tribesd dropped the stock node although its port answers:\n{log}"
        );
        // The heartbeats really were lost: our membership layer saw the stock node go silent.
        assert!(
            log.lines().skip(probe_mark).any(|l| l.contains("member silent") && l.contains("127.0.0.1:4000 ")),
            "our membership layer never saw the stock node's heartbeats stop:\n{log}"
        );
    }
}
