//! Issue 7, cross-context sessions: a request to /a that includes /b's page (crossContext="true")
//! changes the session of /b too. Stock DeltaManager replicates both (DeltaSession registers the
//! other context's session with ReplicationValve); with our Manager the other context's changes
//! must reach the cluster as well. Stock is the truth: the same request on a stock origin first,
//! then on ours; a stock replica must show both. In a private network namespace,
//! channelSendOptions 6, for Tomcat 9.0, 10.1 and 11.0.
//!
//! Without root no namespace can be made: the test then says so and checks nothing.

use std::time::Duration;

use tomcat_harness::http::{peek, SessionClient};
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{assert_no_severe, start_stock_stock_ours};
use tomcat_harness::process::wait_for;
use tomcat_harness::{pinned, Tomcat};

/// The value of attribute `name` in any session `/b` holds on the node at `port`.
fn value_in_b(ns: &NetNs, port: u16, name: &str) -> Option<String> {
    let sessions = peek(ns, port, "/b").ok()?;
    sessions.iter().find_map(|s| s.attributes.get(name).map(|a| a.value.clone()))
}

fn check_line(tomcat: &Tomcat) {
    let Some(ns) = NetNs::for_test(false) else { return };
    let test = format!("java-bridge-cross-context-{}", tomcat.version);
    let version = &tomcat.version;
    let nodes = start_stock_stock_ours(&ns, tomcat, &test, &["/a", "/b"]);
    let (origin, replica, ours) = (&nodes[0], &nodes[1], &nodes[2]);

    for (node, name, value) in [(origin, "fromStock", "s1"), (ours, "fromOurs", "o1")] {
        let mut client = SessionClient::new(&ns);
        let r = client
            .get(node.http_port(), &format!("/a/cross.jsp?to=/b&op=set&name={name}&value={value}"))
            .unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
        assert!(
            r.status == 200 && r.field("set") == Some(name),
            "Tomcat {version}: cross.jsp on {}: {}",
            node.process.name,
            r.body
        );
        let seen = wait_for(Duration::from_secs(20), || value_in_b(&ns, replica.http_port(), name));
        assert_eq!(
            seen.as_deref(),
            Some(value),
            "Tomcat {version}: /b's attribute set in a cross-context include on {} did not reach the stock replica",
            node.process.name
        );
    }
    eprintln!(
        "Tomcat {version}: cross-context changes of /b reach the stock replica from a stock origin and from ours"
    );
    assert_no_severe(&nodes);
}

#[test]
fn cross_context_sessions_replicate_on_tomcat_10_1() {
    check_line(&pinned("10.1."));
}

#[test]
fn cross_context_sessions_replicate_on_tomcat_9_0() {
    check_line(&pinned("9.0."));
}

#[test]
fn cross_context_sessions_replicate_on_tomcat_11_0() {
    check_line(&pinned("11.0."));
}
