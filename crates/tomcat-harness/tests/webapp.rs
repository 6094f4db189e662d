//! The session test webapp (`tests/webapp`) and the harness options for it, on each Tomcat line:
//! every operation of `s.jsp`, `peek.jsp`, the `<Cluster>` in `<Host>`, DeltaManager attributes
//! (state transfer in batches) and a fail-over through JvmRouteBinderValve.
//!
//! Without root no namespace can be made: the test then says so and checks nothing (CI runs as
//! root, where that is an error).

use std::time::{Duration, Instant};

use tomcat_harness::http::{self, PeekSession, SessionClient};
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{ClusterIn, NodeConfig, TomcatNode};
use tomcat_harness::process::wait_for;
use tomcat_harness::Tomcat;

const CONTEXT: &str = "/app";

fn node_config(name: &str, index: u16) -> NodeConfig {
    NodeConfig::new(name, index)
        .with_webapp(CONTEXT)
        .with_cluster_in(ClusterIn::Host)
        .with_channel_send_options(6)
        .with_manager_attribute("stateTransferTimeout", "20")
        .with_manager_attribute("sendAllSessions", "false")
        .with_manager_attribute("sendAllSessionsSize", "2")
        .with_manager_attribute("sendAllSessionsWaitTime", "100")
}

/// Waits until `check` holds for what the node on `port` holds of session `id`.
fn eventually(ns: &NetNs, port: u16, what: &str, check: impl Fn(&[PeekSession]) -> bool) -> Vec<PeekSession> {
    let mut last = Vec::new();
    wait_for(Duration::from_secs(5), || {
        last = http::peek(ns, port, CONTEXT).unwrap();
        check(&last).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("port {port}: {what} within 5 s; holds {last:#?}"))
}

fn check_line(tomcat: &Tomcat) {
    let v = &tomcat.version;
    let test = format!("webapp-{v}");
    let ns = NetNs::new().expect("namespace");
    let started = Instant::now();
    let a = TomcatNode::start(&ns, tomcat, &test, node_config("node1", 1));
    a.wait_webapps_ready(&ns, Duration::from_secs(60)).unwrap();
    let p1 = a.http_port();
    assert_eq!(a.config.cluster_manager_name(CONTEXT), "/app");

    // Every operation, on node 1 alone.
    let mut c1 = SessionClient::new(&ns);
    let r = c1.op(p1, CONTEXT, "op=counter").unwrap();
    assert_eq!((r.status, r.is_new(), r.field("counter")), (200, Some(true), Some("1")), "{r:?}");
    let id1 = c1.session_id().expect("a session cookie").to_string();
    assert!(id1.ends_with(".node1"), "{id1}");
    assert_eq!(r.session_id(), Some(id1.as_str()));
    let r = c1.op(p1, CONTEXT, "op=counter").unwrap();
    assert_eq!((r.is_new(), r.field("counter"), r.session_cookie.as_deref()), (Some(false), Some("2"), None), "{r:?}");
    assert_eq!(c1.op(p1, CONTEXT, "op=set&name=color&value=blue").unwrap().field("set"), Some("color"));
    assert_eq!(c1.op(p1, CONTEXT, "op=get&name=color").unwrap().field("value"), Some("blue"));
    assert_eq!(c1.op(p1, CONTEXT, "op=get&name=nope").unwrap().field("missing"), Some("nope"));
    let r = c1.op(p1, CONTEXT, "op=bulk&n=3&size=1000&prefix=big").unwrap();
    assert_eq!((r.field("bulk"), r.field("chars")), (Some("3"), Some("3000")), "{r:?}");
    let r = c1.op(p1, CONTEXT, "op=info").unwrap();
    let attrs: Vec<&str> = r.fields("attr").collect();
    assert_eq!(
        attrs,
        [
            "big0 java.lang.String",
            "big1 java.lang.String",
            "big2 java.lang.String",
            "color java.lang.String",
            "counter java.lang.Integer"
        ],
        "{r:?}"
    );
    assert_eq!(c1.op(p1, CONTEXT, "op=unknown").unwrap().status, 400);

    // No session is made when asked not to, nor by invalidate.
    let mut none = SessionClient::new(&ns);
    for query in ["op=get&name=color&create=false", "op=invalidate"] {
        let r = none.op(p1, CONTEXT, query).unwrap();
        assert!(r.has_line("no-session") && r.session_id().is_none() && r.session_cookie.is_none(), "{r:?}");
    }
    let mut gone = SessionClient::new(&ns);
    gone.op(p1, CONTEXT, "op=counter").unwrap();
    let gone_id = gone.session_id().unwrap().to_string();
    assert_eq!(gone.op(p1, CONTEXT, "op=invalidate").unwrap().field("invalidated"), Some(gone_id.as_str()));
    assert!(gone.op(p1, CONTEXT, "op=get&name=counter&create=false").unwrap().has_line("no-session"));

    let mut c2 = SessionClient::new(&ns);
    c2.op(p1, CONTEXT, "op=set&name=x&value=1").unwrap();
    let mut c3 = SessionClient::new(&ns);
    c3.op(p1, CONTEXT, "op=max&interval=600").unwrap();
    let on_1 = http::peek(&ns, p1, CONTEXT).unwrap();
    assert_eq!(on_1.len(), 3, "{on_1:#?}");
    assert!(on_1.iter().all(|s| s.primary && s.valid && !s.is_new));
    let big = &on_1.iter().find(|s| s.id == id1).unwrap().attributes["big1"];
    assert_eq!((big.length, big.value.len()), (1000, 200), "peek cuts values to 200 chars");
    let full = http::peek_with(&ns, p1, CONTEXT, Some(&id1), true).unwrap();
    assert_eq!(full.len(), 1);
    assert_eq!(full[0].attributes["big1"].value.len(), 1000);

    // Node 2 starts and gets the three sessions in batches of 2 (sendAllSessions="false").
    let b = TomcatNode::start(&ns, tomcat, &test, node_config("node2", 2));
    b.wait_webapps_ready(&ns, Duration::from_secs(60)).unwrap();
    let p2 = b.http_port();
    let line =
        b.wait_for_log(&["Manager [/app]", "session state sent at", "received in"], Duration::from_secs(1)).unwrap();
    let took: u64 = line.rsplit("received in [").next().and_then(|t| t.split(']').next()?.parse().ok()).unwrap();
    assert!(took >= 100, "two batches take at least sendAllSessionsWaitTime: {line}");
    a.wait_member_added(Duration::from_secs(10)).unwrap();
    let on_2 = http::peek_with(&ns, p2, CONTEXT, None, true).unwrap();
    let on_1 = http::peek_with(&ns, p1, CONTEXT, None, true).unwrap();
    assert_eq!(
        on_2.iter().map(|s| (&s.id, &s.attributes)).collect::<Vec<_>>(),
        on_1.iter().map(|s| (&s.id, &s.attributes)).collect::<Vec<_>>()
    );
    assert!(on_2.iter().all(|s| !s.primary));

    // Live replication of a change on node 1.
    assert_eq!(c1.op(p1, CONTEXT, "op=counter").unwrap().field("counter"), Some("3"));
    eventually(&ns, p2, "counter 3", |s| s.iter().any(|s| s.id == id1 && s.attributes["counter"].value == "3"));

    // Fail-over: node 2 takes the session and JvmRouteBinderValve renames it; node 1 follows.
    let r = c1.op(p2, CONTEXT, "op=counter").unwrap();
    assert_eq!(r.field("counter"), Some("4"), "{r:?}");
    let base = id1.strip_suffix(".node1").unwrap();
    let id2 = format!("{base}.node2");
    assert_eq!(c1.session_id(), Some(id2.as_str()), "{r:?}");
    eventually(&ns, p1, "the renamed session", |s| {
        s.iter().any(|s| s.id == id2 && !s.primary && s.attributes["counter"].value == "4")
            && !s.iter().any(|s| s.id == id1)
    });
    let r = c1.op(p2, CONTEXT, "op=changeid").unwrap();
    let new_id = r.field("changed").expect("a new id").to_string();
    eventually(&ns, p1, "the changed id", |s| s.iter().any(|s| s.id == new_id) && !s.iter().any(|s| s.id == id2));
    assert_eq!(c1.op(p2, CONTEXT, "op=invalidate").unwrap().field("invalidated"), Some(new_id.as_str()));
    eventually(&ns, p1, "the invalidation", |s| !s.iter().any(|s| s.id == new_id) && s.len() == 2);

    for n in [&a, &b] {
        assert!(n.severe_lines().is_empty(), "Tomcat {v} {}: {:?}", n.config.name, n.severe_lines());
    }
    eprintln!("Tomcat {v}: webapp checked in {:?}", started.elapsed());
}

#[test]
fn the_test_webapp_answers_every_operation_and_replicates_on_each_line() {
    if NetNs::for_test(false).is_none() {
        return;
    }
    for tomcat in tomcat_harness::tomcats() {
        check_line(&tomcat);
    }
}
