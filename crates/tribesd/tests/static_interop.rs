//! Static members (StaticMembershipInterceptor + TcpFailureDetector) against stock Tomcat 9.0,
//! 10.1 and 11.0: each side declares the other, multicast is kept apart (different group ports),
//! and each sees the other exactly while it is reachable.

use std::time::Duration;

use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::process::{wait_for, LoggedChild};

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");
const OUR_ID: &str = "{9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,-9}";
const OUR_ID_HEX: &str = "090909090909090909090909090909f7";

/// The stock node's unique id in Tomcat's byte-list syntax, from its multicast heartbeat (a stock
/// StaticMembershipInterceptor cannot fix its own id: a `<LocalMember>` makes McastService fail to
/// start, "Required property [tcpListenPort] is missing"), and as hex.
fn stock_id(ns: &NetNs) -> (String, String) {
    let out = ns
        .command(TRIBESD)
        .args(["members", "--once", "--timeout", "2s", "--json", "--interface", "127.0.0.1", "--port", "46000"])
        .output()
        .expect("tribesd members runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let row: serde_json::Value = serde_json::from_str(text.lines().next().expect("the stock node is heard")).unwrap();
    let hex = row["unique_id"].as_str().unwrap().to_string();
    let bytes: Vec<String> =
        (0..16).map(|i| (u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap() as i8).to_string()).collect();
    (format!("{{{}}}", bytes.join(",")), hex)
}

fn tribesd(ns: &NetNs, test: &str, name: &str, stock_id: &str) -> LoggedChild {
    let mut c = ns.command(TRIBESD);
    c.args([
        "run",
        "--membership-bind",
        "127.0.0.1",
        "--membership-port",
        "46001",
        "--receiver-address",
        "127.0.0.1",
        "--receiver-port",
        "4100",
        "--local-member-unique-id",
        OUR_ID,
        "--static-member",
        &format!("127.0.0.1:4000:{stock_id}"),
    ]);
    let log = tomcat_harness::repo_root().join("target/tomcat-nodes").join(test).join(format!("{name}.log"));
    LoggedChild::spawn(name, c, log)
}

fn stock_logged(node: &TomcatNode, what: &str, after: usize, timeout: Duration) {
    // Tomcat prints ids as signed bytes: ours ends with -9.
    wait_for(timeout, || {
        node.log()
            .lines()
            .skip(after)
            .any(|l| l.contains(what) && l.contains(":4100,") && l.contains("9 9 9 -9 }"))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("{} logged no \"{what}\" for our static member:\n{}", node.process.name, node.log()));
}

#[test]
fn stock_tomcat_and_tribesd_see_declared_static_members_while_reachable() {
    if NetNs::for_test(false).is_none() {
        return;
    }
    for tomcat in tomcat_harness::tomcats() {
        let test = format!("static-{}", tomcat.version);
        let ns = NetNs::new().expect("namespace");
        let mut config = NodeConfig::new("node1", 1);
        config.membership_port = 46000;
        config.channel_extra = format!(
            r#"<Interceptor className="org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor">
                 <Member className="org.apache.catalina.tribes.membership.StaticMember" host="127.0.0.1" port="4100" uniqueId="{OUR_ID}"/>
               </Interceptor>"#
        );
        let mut stock = TomcatNode::start(&ns, &tomcat, &test, config);
        stock.wait_for_log(&["Receiver Server Socket bound to:[/127.0.0.1:4000]"], Duration::from_secs(60)).unwrap();
        stock
            .wait_for_log(&["Done sleeping, membership established, start level:[8]"], Duration::from_secs(60))
            .unwrap();
        let (stock_id, stock_hex) = stock_id(&ns);
        let mut ours = tribesd(&ns, &test, "tribesd-1", &stock_id);
        ours.wait_for_log(&["joined the group", OUR_ID_HEX], Duration::from_secs(10)).unwrap();
        stock_logged(&stock, "Replication member added", 0, Duration::from_secs(30));
        ours.wait_for_log(&["static member added", "127.0.0.1:4000", &stock_hex], Duration::from_secs(30)).unwrap();

        // Graceful stop: the stock node drops us (MEMBER_STOP, or its next probe).
        let mark = stock.log().lines().count();
        ours.terminate(Duration::from_secs(5));
        stock_logged(&stock, "Received member disappeared", mark, Duration::from_secs(20));

        // Back again, then the stock node is killed: we drop it at the next failed probe.
        let mark = stock.log().lines().count();
        let ours = tribesd(&ns, &test, "tribesd-2", &stock_id);
        ours.wait_for_log(&["static member added", "127.0.0.1:4000", &stock_hex], Duration::from_secs(30)).unwrap();
        stock_logged(&stock, "Replication member added", mark, Duration::from_secs(30));
        stock.kill9();
        let line =
            ours.wait_for_log(&["static member disappeared", "127.0.0.1:4000"], Duration::from_secs(10)).unwrap();
        eprintln!("Tomcat {}: {line}", tomcat.version);
    }
}
