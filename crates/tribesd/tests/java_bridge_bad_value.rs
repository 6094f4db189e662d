//! Issue 7, bad input: a session whose bytes fail to deserialize in the webapp loses that
//! attribute only, with a log line naming session, attribute, class and sender; the request
//! still succeeds. A stock node sets two attributes, one of them a `tribesd.test.Fragile`, whose
//! `readObject` throws in a JVM started with `-Dtribesd.test.fragile=true` (our node only). On
//! our node the session is read: the request answers 200 with the good attribute, the fragile one
//! is gone from that copy, and the log names the session (6-character prefix), the attribute, its
//! class and the member that sent it. In a private network namespace, channelSendOptions 6, for
//! Tomcat 9.0, 10.1 and 11.0.
//!
//! Without root no namespace can be made: the test then says so and checks nothing.

use std::time::Duration;

use tomcat_harness::bridge::jar_for;
use tomcat_harness::http::SessionClient;
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{assert_no_severe, start_cluster, NodeConfig};
use tomcat_harness::{pinned, Tomcat};

const APP: &str = "/app";

fn check_line(tomcat: &Tomcat) {
    let Some(ns) = NetNs::for_test(false) else { return };
    let test = format!("java-bridge-bad-value-{}", tomcat.version);
    let version = &tomcat.version;
    let origin = NodeConfig::new("origin", 1).with_webapp(APP).with_channel_send_options(6);
    let ours = NodeConfig::new("ours", 2)
        .with_webapp(APP)
        .with_channel_send_options(6)
        .with_tribesd_jar(jar_for(tomcat))
        .with_jvm_option("-Dtribesd.test.fragile=true");
    let nodes = start_cluster(&ns, tomcat, &test, vec![origin, ours]);
    let (origin, ours) = (&nodes[0], &nodes[1]);

    let mut client = SessionClient::new(&ns);
    let r = client.get(origin.http_port(), &format!("{APP}/events.jsp?op=fragile&name=brittle")).unwrap();
    assert!(r.body.starts_with("session="), "{}", r.body);
    let r = client.op(origin.http_port(), APP, "op=set&name=good&value=fine").unwrap();
    assert_eq!(r.field("set"), Some("good"), "{}", r.body);
    let session = client.session_id().expect("a session cookie").to_string();

    let r = client.op(ours.http_port(), APP, "op=info").unwrap();
    assert_eq!(r.status, 200, "Tomcat {version}: the request on our node failed:\n{}", r.body);
    assert_eq!(r.is_new(), Some(false), "Tomcat {version}: our node did not find the session:\n{}", r.body);
    let attrs: Vec<&str> = r.fields("attr").collect();
    assert!(
        attrs.iter().any(|a| a.starts_with("good ")),
        "Tomcat {version}: the good attribute is missing on our node:\n{}",
        r.body
    );
    assert!(
        !attrs.iter().any(|a| a.starts_with("brittle ")),
        "Tomcat {version}: the attribute that cannot be deserialized is there on our node:\n{}",
        r.body
    );
    let r = client.op(ours.http_port(), APP, "op=get&name=good").unwrap();
    assert_eq!(r.field("value"), Some("fine"), "{}", r.body);

    // The log line: session prefix, attribute, class, and the member that sent it (the origin, port 4000).
    let prefix: String = session.chars().take(6).collect();
    let line = ours
        .wait_for_log(
            &[
                &format!("session {prefix}..."),
                "attribute brittle",
                "class tribesd.test.Fragile",
                "last changed by member 127.0.0.1:4000",
            ],
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("Tomcat {version}: no log line naming session, attribute, class and sender: {e}"));
    assert!(!line.contains(&session), "Tomcat {version}: the whole session id is in the log: {line}");
    eprintln!("Tomcat {version}: {}", line.trim());
    assert_no_severe(&nodes);
}

#[test]
fn a_value_that_does_not_deserialize_loses_that_attribute_only_on_tomcat_10_1() {
    check_line(&pinned("10.1."));
}

#[test]
fn a_value_that_does_not_deserialize_loses_that_attribute_only_on_tomcat_9_0() {
    check_line(&pinned("9.0."));
}

#[test]
fn a_value_that_does_not_deserialize_loses_that_attribute_only_on_tomcat_11_0() {
    check_line(&pinned("11.0."));
}
