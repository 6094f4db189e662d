//! Issue 7, listeners: a session changed on a stock node fires the same session, attribute, id
//! and binding listener events on a stock replica (DeltaManager, notifyListenersOnReplication) and
//! on a replica with our Manager, in the same order. Stock is the truth: the test compares the two
//! replicas' event logs line by line (tests/webapp-src `EventLog` and `Bound`, shown by
//! events.jsp), inside a private network namespace, channelSendOptions 6, for Tomcat 9.0, 10.1
//! and 11.0. Then both replicas stop: each fires the same events (sessionDestroyed,
//! attributeRemoved) for a session it held but never served (`EventLog` also prints to the
//! console log, which outlives the webapp).
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

    // DeltaManager's stop expires every session it holds, the replicas too, with their listeners
    // and without telling the cluster: a session made on the origin and never read on a replica
    // ends there with sessionDestroyed and attributeRemoved when the replica stops.
    let mut client = SessionClient::new(&ns);
    let r = client.op(port, APP, "op=set&name=kept&value=K").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let id = client.session_id().expect("the origin set a session cookie").to_string();
    for n in [stock, ours] {
        wait_for(Duration::from_secs(20), || {
            events(&ns, n).iter().any(|l| l.starts_with(&format!("added {id} kept"))).then_some(())
        })
        .unwrap_or_else(|| panic!("Tomcat {version}: {} did not replicate the new session", n.process.name));
    }
    let mut nodes = nodes;
    for n in &mut nodes[1..] {
        n.process.terminate(Duration::from_secs(60));
    }
    let console_events = |n: &TomcatNode| -> Vec<String> {
        n.process
            .log()
            .lines()
            .filter_map(|l| l.strip_prefix("tribesd-test-event "))
            .filter(|l| l.contains(&id))
            .map(str::to_string)
            .collect()
    };
    let (expected, got) = (console_events(&nodes[1]), console_events(&nodes[2]));
    assert!(
        expected.iter().any(|l| l.starts_with("destroyed ")),
        "Tomcat {version}: the stock replica fired no sessionDestroyed at its stop:\n{}",
        expected.join("\n")
    );
    assert_eq!(
        got, expected,
        "Tomcat {version}: our replica's events for a session it never read, to its stop (left), differ from \
         the stock replica's (right)"
    );
    eprintln!("Tomcat {version}: at the stop both replicas fired:\n  {}", got.join("\n  "));
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
