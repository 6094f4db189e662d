//! Issue 7, listeners: a session changed on a stock node fires the same session, attribute, id
//! and binding listener events on a stock replica (DeltaManager, notifyListenersOnReplication) and
//! on a replica with our Manager, in the same order. Stock is the truth: the test compares the two
//! replicas' event logs line by line (tests/webapp-src `EventLog` and `Bound`, shown by
//! events.jsp), inside a private network namespace, channelSendOptions 6, for Tomcat 9.0, 10.1
//! and 11.0.
//!
//! Without root no namespace can be made: the test then says so and checks nothing.

use std::time::Duration;

use tomcat_harness::http::{get, SessionClient};
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{assert_no_severe, start_stock_stock_ours, TomcatNode};
use tomcat_harness::process::wait_for;
use tomcat_harness::{pinned, Tomcat};

const APP: &str = "/app";

fn events(ns: &NetNs, node: &TomcatNode) -> Vec<String> {
    let r = get(ns, node.http_port(), &format!("{APP}/events.jsp"), None).expect("events.jsp answers");
    assert_eq!(r.status, 200, "{}: events.jsp: {}", node.process.name, r.body);
    r.body.lines().map(str::to_string).collect()
}

fn check_line(tomcat: &Tomcat) {
    let Some(ns) = NetNs::for_test(false) else { return };
    let test = format!("java-bridge-listeners-{}", tomcat.version);
    let version = &tomcat.version;
    let nodes = start_stock_stock_ours(&ns, tomcat, &test, &[APP]);
    let (origin, stock, ours) = (&nodes[0], &nodes[1], &nodes[2]);
    for n in [stock, ours] {
        get(&ns, n.http_port(), &format!("{APP}/events.jsp?clear=true"), None).unwrap();
    }

    // Every kind of change, on the origin node, one request each (options 6: each request ends
    // once its replication was acknowledged).
    let mut client = SessionClient::new(&ns);
    let port = origin.http_port();
    let r = client.get(port, &format!("{APP}/events.jsp?op=bind&name=b&label=L1")).unwrap();
    assert!(r.body.starts_with("session="), "{}", r.body);
    for query in ["op=set&name=a&value=1", "op=set&name=a&value=2", "op=remove&name=a", "op=changeid"] {
        let r = client.op(port, APP, query).unwrap();
        assert_eq!(r.status, 200, "{query}: {}", r.body);
    }
    let r = client.op(port, APP, "op=invalidate").unwrap();
    assert!(r.field("invalidated").is_some(), "{}", r.body);

    // The stock replica's log is the expectation; it must have every kind of event.
    let expected = wait_for(Duration::from_secs(20), || {
        let lines = events(&ns, stock);
        lines.iter().any(|l| l.starts_with("destroyed ")).then_some(lines)
    })
    .unwrap_or_else(|| {
        panic!("Tomcat {version}: the stock replica logged no destroyed event: {:?}", events(&ns, stock))
    });
    for kind in ["created ", "bound ", "added ", "replaced ", "removed ", "idChanged ", "destroyed ", "unbound "] {
        assert!(
            expected.iter().any(|l| l.starts_with(kind)),
            "Tomcat {version}: the stock replica logged no {kind:?} event:\n{}",
            expected.join("\n")
        );
    }
    let got = wait_for(Duration::from_secs(20), || {
        let lines = events(&ns, ours);
        (lines.len() >= expected.len()).then_some(lines)
    })
    .unwrap_or_else(|| events(&ns, ours));
    assert_eq!(
        got, expected,
        "Tomcat {version}: our replica's listener events (left) differ from the stock replica's (right)"
    );
    eprintln!(
        "Tomcat {version}: our replica fired the stock replica's {} listener events, in order:\n  {}",
        got.len(),
        got.join("\n  ")
    );
    assert_no_severe(&nodes);
}

#[test]
fn replicated_changes_fire_the_stock_listener_events_on_tomcat_10_1() {
    check_line(&pinned("10.1."));
}

#[test]
fn replicated_changes_fire_the_stock_listener_events_on_tomcat_9_0() {
    check_line(&pinned("9.0."));
}

#[test]
fn replicated_changes_fire_the_stock_listener_events_on_tomcat_11_0() {
    check_line(&pinned("11.0."));
}
