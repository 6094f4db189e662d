//! DeltaManager replication between `tribesd run` and stock Tomcat 9.0, 10.1 and 11.0 nodes
//! running the test webapp (tests/webapp), inside a private network namespace
//! (session-replication.md; issue 6's interop list):
//!
//! 1. sessions made by curl on a stock node appear in tribesd with names, classes and values;
//! 2. attributes set through tribesd are read back by curl on the stock node;
//! 3. invalidation and expiry on either side reach the other;
//! 4. a stock node started after tribesd gets tribesd's 10,000 sessions by state transfer, and a
//!    tribesd started after a stock node gets all of the stock node's sessions;
//! 5. a session id change replicates both ways;
//! 6. a context tribesd does not hold is answered with NOCONTEXTMANAGER: the stock node does not
//!    wait its stateTransferTimeout.
//!
//! And the ordering test of 64 brand-new sessions with channelSendOptions 8, stock pair and
//! mixed pair side by side in one cluster: the stock replica loses some first attributes (its
//! behaviour, printed), tribesd loses none as a replica, and stock replicas of sessions made on
//! tribesd lose none.
//!
//! Without root no namespace can be made: the test then says so and checks nothing (CI runs as
//! root, where that is an error).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use tomcat_harness::http::{self, PeekAttribute, PeekSession, SessionClient};
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{NodeConfig, TomcatNode};
use tomcat_harness::order;
use tomcat_harness::process::{wait_for, LoggedChild};
use tomcat_harness::Tomcat;

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");
const APP: &str = "/app";
const OTHER: &str = "/other";
/// The manager name of /app with the howto's `<Cluster>` in the `<Engine>`.
const APP_NAME: &str = "localhost#/app";
const BULK: u32 = 10_000;

/// A `tribesd run` in the namespace with its own control socket.
struct Tribesd {
    process: LoggedChild,
    socket: PathBuf,
}

impl Tribesd {
    fn start(ns: &NetNs, test: &str, name: &str, extra: &[&str]) -> Tribesd {
        let dir = tomcat_harness::repo_root().join("target/tomcat-nodes").join(test);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join(format!("{name}.sock"));
        let mut c = ns.command(TRIBESD);
        c.env("RUST_LOG", "info,tribes::session=debug")
            .args(["run", "--membership-bind", "127.0.0.1", "--receiver-address", "127.0.0.1"])
            .args(["--context", APP_NAME, "--control-socket"])
            .arg(&socket)
            .args(extra);
        let process = LoggedChild::spawn(name, c, dir.join(format!("{name}.log")));
        process.wait_for_log(&["control socket"], Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
        Tribesd { process, socket }
    }

    fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(TRIBESD)
            .args(args)
            .arg("--control-socket")
            .arg(&self.socket)
            .output()
            .expect("tribesd runs")
    }

    fn session(&self, args: &[&str]) {
        let mut all = vec!["session"];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "tribesd {all:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `tribesd sessions --json --show-values` for /app, as peek.jsp's model.
    fn sessions(&self) -> Result<Vec<PeekSession>, String> {
        let out = self.cli(&["sessions", "--json", "--show-values", "--context", APP_NAME]);
        if !out.status.success() {
            return Err(format!("tribesd sessions: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("tribesd sessions --json: {e}"))?;
        let sessions = v["contexts"][0]["sessions"].as_array().cloned().unwrap_or_default();
        Ok(sessions
            .iter()
            .map(|s| PeekSession {
                id: s["id"].as_str().unwrap_or_default().to_string(),
                primary: s["primary"].as_bool().unwrap_or(false),
                is_new: s["is_new"].as_bool().unwrap_or(false),
                valid: true,
                attributes: s["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let value = a["value"].as_str().unwrap_or_default().to_string();
                        let attr = PeekAttribute {
                            class: a["class"].as_str().unwrap_or_default().to_string(),
                            length: value.chars().count(),
                            value,
                        };
                        (a["name"].as_str().unwrap_or_default().to_string(), attr)
                    })
                    .collect::<BTreeMap<_, _>>(),
            })
            .collect())
    }

    fn session_ids(&self) -> Vec<String> {
        self.sessions().unwrap_or_else(|e| panic!("{e}")).into_iter().map(|s| s.id).collect()
    }
}

fn node_config(name: &str, index: u16) -> NodeConfig {
    NodeConfig::new(name, index)
        .with_webapp(APP)
        .with_manager_attribute("stateTransferTimeout", "60")
        .with_manager_attribute("processExpiresFrequency", "1")
        .with_fine_session_log()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    wait_for(timeout, || f().then_some(())).unwrap_or_else(|| panic!("not within {timeout:?}: {what}"));
}

fn peek_ids(ns: &NetNs, port: u16) -> Vec<String> {
    http::peek(ns, port, APP).unwrap_or_else(|e| panic!("{e}")).into_iter().map(|s| s.id).collect()
}

fn check_line(tomcat: &Tomcat) {
    let v = tomcat.version.clone();
    let test = format!("sessions-{v}");
    let Some(ns) = NetNs::for_test(false) else { return };
    let started = Instant::now();

    // tribesd first, so it is the longest-running member that stock nodes ask for state; it holds
    // 10,000 sessions before any stock node exists (nothing is sent: no members yet).
    let ours = Tribesd::start(&ns, &test, "tribesd1", &[]);
    ours.session(&["create", APP_NAME, "bulk", "--count", &BULK.to_string()]);
    ours.session(&["set", APP_NAME, "bulk-1", "marker", "from tribesd"]);

    // 4a + 6: node1 starts after tribesd; /app state comes from tribesd, /other (not held by
    // tribesd) is answered with NOCONTEXTMANAGER instead of a 60 s wait.
    let node1 = TomcatNode::start(&ns, tomcat, &test, node_config("node1", 1).with_webapp(OTHER));
    node1.wait_webapps_ready(&ns, Duration::from_secs(50)).unwrap_or_else(|e| panic!("{v}: {e}\n{}", node1.log()));
    node1
        .wait_for_log(&["Manager [localhost#/app]; session state sent at", "received in"], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{v}: node1 got no /app state from tribesd: {e}"));
    node1
        .wait_for_log(&["Manager [localhost#/other]", "No matching context manager"], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{v}: node1 got no NOCONTEXTMANAGER for /other: {e}"));
    assert!(started.elapsed() < Duration::from_secs(55), "{v}: node1 waited for state ({:?})", started.elapsed());
    let held = http::peek(&ns, node1.http_port(), APP).unwrap();
    assert_eq!(held.len(), BULK as usize, "{v}: node1 holds every session of tribesd");
    let marked = held.iter().find(|s| s.id == "bulk-1").expect("bulk-1 on node1");
    assert_eq!(marked.attributes.get("marker").map(|a| a.value.as_str()), Some("from tribesd"));
    assert!(held.iter().all(|s| !s.primary), "{v}: transferred sessions are backups on node1");
    eprintln!("{v}: node1 got {BULK} sessions from tribesd, ready after {:?}", started.elapsed());

    // 1: made by curl on node1, seen in tribesd with class and value.
    let mut browser = SessionClient::new(&ns);
    let port = node1.http_port();
    let r = browser.op(port, APP, "op=set&name=color&value=blue").unwrap();
    assert_eq!(r.field("set"), Some("color"), "{r:?}");
    let id = browser.session_id().unwrap().to_string();
    wait_until(&format!("{v}: tribesd holds {id} with color=blue"), Duration::from_secs(10), || {
        ours.sessions().unwrap().iter().any(|s| {
            s.id == id && s.attributes.get("color").is_some_and(|a| a.class == "java.lang.String" && a.value == "blue")
        })
    });
    browser.op(port, APP, "op=counter").unwrap();
    wait_until(&format!("{v}: tribesd holds {id} with counter=1 (Integer)"), Duration::from_secs(10), || {
        ours.sessions().unwrap().iter().any(|s| {
            s.id == id && s.attributes.get("counter").is_some_and(|a| a.class == "java.lang.Integer" && a.value == "1")
        })
    });

    // 2: set through tribesd, read by curl on node1.
    ours.session(&["set", APP_NAME, &id, "shape", "circle"]);
    wait_until(&format!("{v}: node1 reads shape=circle"), Duration::from_secs(10), || {
        browser.op(port, APP, "op=get&name=shape").unwrap().field("value") == Some("circle")
    });

    // 5: id change both ways. On node1 (changeSessionId): tribesd follows, attributes kept.
    let r = browser.op(port, APP, "op=changeid").unwrap();
    let renamed = r.field("changed").expect("new id").to_string();
    assert_ne!(renamed, id);
    wait_until(&format!("{v}: tribesd renamed {id} to {renamed}"), Duration::from_secs(10), || {
        let s = ours.sessions().unwrap();
        !s.iter().any(|s| s.id == id)
            && s.iter().any(|s| s.id == renamed && s.attributes.get("color").is_some_and(|a| a.value == "blue"))
    });
    // Through tribesd: node1 follows; the browser's new cookie finds the session's attributes.
    let ours_id = format!("{}-t.node1", renamed.split('.').next().unwrap());
    ours.session(&["rename", APP_NAME, &renamed, &ours_id]);
    wait_until(&format!("{v}: node1 renamed {renamed} to {ours_id}"), Duration::from_secs(10), || {
        let ids = peek_ids(&ns, port);
        ids.contains(&ours_id) && !ids.contains(&renamed)
    });
    browser.set_session_id(Some(&ours_id));
    let r = browser.op(port, APP, "op=get&name=color").unwrap();
    assert_eq!(r.field("value"), Some("blue"), "{v}: {r:?}");
    assert_eq!(r.is_new(), Some(false));

    // 3: invalidation both ways.
    let r = browser.op(port, APP, "op=invalidate").unwrap();
    assert_eq!(r.field("invalidated"), Some(ours_id.as_str()));
    wait_until(&format!("{v}: tribesd dropped invalidated {ours_id}"), Duration::from_secs(10), || {
        !ours.session_ids().contains(&ours_id)
    });
    let mut second = SessionClient::new(&ns);
    second.op(port, APP, "op=set&name=a&value=1").unwrap();
    let second_id = second.session_id().unwrap().to_string();
    wait_until(&format!("{v}: tribesd holds {second_id}"), Duration::from_secs(10), || {
        ours.session_ids().contains(&second_id)
    });
    ours.session(&["invalidate", APP_NAME, &second_id]);
    wait_until(&format!("{v}: node1 dropped {second_id} invalidated by tribesd"), Duration::from_secs(10), || {
        !peek_ids(&ns, port).contains(&second_id)
    });
    let r = second.op(port, APP, "op=get&name=a&create=false").unwrap();
    assert!(r.has_line("no-session"), "{v}: {r:?}");

    // 3: expiry both ways. A tribesd session of 2 s expires there and node1 is told (its own
    // backup copy would wait 4 s idle and its next expiry run: node1's FINE log names the
    // message).
    ours.session(&["create", APP_NAME, "short.node1", "--max-inactive", "2"]);
    wait_until(&format!("{v}: node1 holds short.node1"), Duration::from_secs(10), || {
        peek_ids(&ns, port).contains(&"short.node1".to_string())
    });
    node1
        .wait_for_log(&["received session expired message for session [short.node1]"], Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{v}: node1 was not told of tribesd's expiry: {e}"));
    // A node1 session of 1 s expires on node1; tribesd logs the EXPIRED message it applied.
    let mut third = SessionClient::new(&ns);
    third.op(port, APP, "op=max&interval=1").unwrap();
    let third_id = third.session_id().unwrap().to_string();
    ours.process
        .wait_for_log(&["session expired by a member", &third_id], Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{v}: tribesd was not told of node1's expiry of {third_id}: {e}"));

    // 4b: a tribesd started after node1 (tribesd1 stopped, so node1 is the longest-running
    // member) gets every session node1 holds.
    let mut ours = ours;
    ours.process.terminate(Duration::from_secs(10));
    node1.wait_for_log(&["Received member disappeared"], Duration::from_secs(10)).unwrap();
    let on_node1 = {
        let mut ids = peek_ids(&ns, port);
        ids.sort();
        ids
    };
    let late = Tribesd::start(&ns, &test, "tribesd2", &[]);
    late.process
        .wait_for_log(&["state transfer", "complete"], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{v}: tribesd2 got no state from node1: {e}"));
    let mut got = late.session_ids();
    got.sort();
    assert_eq!(got.len(), on_node1.len(), "{v}: tribesd2 holds as many sessions as node1");
    assert_eq!(got, on_node1, "{v}: tribesd2 holds node1's sessions");
    let severe = node1.severe_lines();
    assert!(severe.is_empty(), "{v}: node1 logged SEVERE lines: {severe:?}");
    eprintln!("{v}: done in {:?}", started.elapsed());
}

/// Both directions of every interop item, for every line.
#[test]
fn sessions_replicate_between_tribesd_and_stock_tomcat() {
    for tomcat in tomcat_harness::tomcats() {
        check_line(&tomcat);
    }
}

fn order_line(tomcat: &Tomcat) {
    let v = tomcat.version.clone();
    let test = format!("order-mixed-{v}");
    let Some(ns) = NetNs::for_test(false) else { return };
    let cfg = |name: &str, i: u16| {
        NodeConfig::new(name, i)
            .with_webapp(APP)
            .with_channel_send_options(8)
            .with_manager_attribute("stateTransferTimeout", "20")
            .with_fine_session_log()
    };
    let node1 = TomcatNode::start(&ns, tomcat, &test, cfg("node1", 1));
    node1.wait_webapps_ready(&ns, Duration::from_secs(60)).unwrap();
    let node2 = TomcatNode::start(&ns, tomcat, &test, cfg("node2", 2));
    node2.wait_webapps_ready(&ns, Duration::from_secs(60)).unwrap();
    let ours = Tribesd::start(&ns, &test, "tribesd", &["--channel-send-options", "8"]);
    ours.process.wait_for_log(&["state transfer", "complete"], Duration::from_secs(30)).unwrap();
    for n in [&node1, &node2] {
        wait_until(&format!("{v}: {} sees tribesd", n.config.name), Duration::from_secs(15), || {
            n.log().matches("Replication member added").count() >= 2
        });
    }

    // Sessions made on node1: node2 (stock) and tribesd (ours) replicate the same messages.
    let created = order::create_sessions(&ns, node1.http_port(), APP, 64).unwrap();
    let stock = order::check_replica(
        created.clone(),
        order::REPLICATION_TIMEOUT,
        order::SETTLE,
        order::stock_replica(&ns, node2.http_port(), APP),
    )
    .unwrap();
    let mixed = order::check_replica(created, order::REPLICATION_TIMEOUT, order::SETTLE, || ours.sessions()).unwrap();
    eprintln!("{v}: stock replica (node2): {}", stock.summary());
    eprintln!("{v}: tribesd replica: {}", mixed.summary());
    assert!(stock.missing.is_empty() && stock.wrong.is_empty(), "{v}: stock replica {stock:?}");
    assert_eq!(mixed.replicated, 64, "{v}: tribesd holds all 64: {mixed:?}");
    assert!(mixed.lost.is_empty() && mixed.wrong.is_empty(), "{v}: tribesd lost first attributes: {mixed:?}");

    // Sessions made on tribesd (create + attribute in one request): both stock replicas get every
    // first attribute.
    let mut made = Vec::new();
    for i in 0..64 {
        let id = format!("T{i:03}.tribesd");
        let value = format!("v{i}");
        ours.session(&["set", APP_NAME, &id, order::FIRST_ATTRIBUTE, &value, "--create"]);
        made.push((id, value));
    }
    for n in [&node1, &node2] {
        let r = order::check_replica(
            made.clone(),
            order::REPLICATION_TIMEOUT,
            order::SETTLE,
            order::stock_replica(&ns, n.http_port(), APP),
        )
        .unwrap();
        eprintln!("{v}: {} as replica of tribesd: {}", n.config.name, r.summary());
        assert!(r.missing.is_empty() && r.lost.is_empty() && r.wrong.is_empty(), "{v}: {}: {r:?}", n.config.name);
        let dropped = order::dropped_deltas(&n.log());
        assert!(
            !dropped.iter().any(|d| d.ends_with(".tribesd")),
            "{v}: {} dropped deltas of tribesd's sessions: {dropped:?}",
            n.config.name
        );
    }
}

/// 64 brand-new sessions with channelSendOptions 8: stock pair and mixed pair in one cluster.
#[test]
fn first_attributes_are_never_lost_with_tribesd() {
    for tomcat in tomcat_harness::tomcats() {
        order_line(&tomcat);
    }
}

fn firewall_line(tomcat: &Tomcat) {
    let v = tomcat.version.clone();
    let test = format!("firewall-{v}");
    let Some(ns) = NetNs::for_test(false) else { return };
    let node1 = TomcatNode::start(&ns, tomcat, &test, node_config("node1", 1));
    node1.wait_webapps_ready(&ns, Duration::from_secs(60)).unwrap();
    // Only Strings pass: the Integer counter is refused, alone.
    let ours = Tribesd::start(
        &ns,
        &test,
        "tribesd",
        &["--manager-session-attribute-value-class-name-filter", r"java\.lang\.String"],
    );
    ours.process.wait_for_log(&["state transfer", "complete"], Duration::from_secs(30)).unwrap();
    node1.wait_for_log(&["Replication member added"], Duration::from_secs(15)).unwrap();
    let mut browser = SessionClient::new(&ns);
    browser.op(node1.http_port(), APP, "op=set&name=color&value=blue").unwrap();
    let id = browser.session_id().unwrap().to_string();
    browser.op(node1.http_port(), APP, "op=counter").unwrap();
    browser.op(node1.http_port(), APP, "op=set&name=shape&value=circle").unwrap();
    wait_until(&format!("{v}: tribesd holds {id} with color and shape"), Duration::from_secs(10), || {
        ours.sessions()
            .unwrap()
            .iter()
            .any(|s| s.id == id && s.attributes.contains_key("color") && s.attributes.contains_key("shape"))
    });
    let held = ours.sessions().unwrap();
    let s = held.iter().find(|s| s.id == id).unwrap();
    assert!(!s.attributes.contains_key("counter"), "{v}: the refused Integer is not stored: {s:?}");
    let line = ours
        .process
        .wait_for_log(
            &["refused by the class filter", &id, "counter", "java.lang.Integer", "127.0.0.1"],
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("{v}: no log line naming session, attribute, class and sender: {e}"));
    eprintln!("{v}: {line}");
}

/// The class firewall (sessionAttributeValueClassNameFilter) drops a refused attribute alone.
#[test]
fn a_refused_attribute_class_is_dropped_alone() {
    for tomcat in tomcat_harness::tomcats() {
        firewall_line(&tomcat);
    }
}
