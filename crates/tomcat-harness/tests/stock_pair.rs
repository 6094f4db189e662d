//! The harness itself: two stock nodes of each Tomcat line find each other in a namespace.
use std::time::Duration;
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};

#[test]
fn two_stock_nodes_become_members_of_each_other() {
    if NetNs::for_test(false).is_none() {
        return;
    }
    for tomcat in tomcat_harness::tomcats() {
        let ns = NetNs::new().expect("namespace");
        let a = TomcatNode::start(&ns, &tomcat, "stock_pair", NodeConfig::new("node1", 1));
        let b = TomcatNode::start(&ns, &tomcat, "stock_pair", NodeConfig::new("node2", 2));
        a.wait_for_log(&["Replication member added"], Duration::from_secs(60)).unwrap();
        b.wait_for_log(&["Replication member added"], Duration::from_secs(60)).unwrap();
        eprintln!("Tomcat {}: {}", tomcat.version, a.wait_for_log(&["member added"], Duration::from_secs(1)).unwrap());
    }
}
