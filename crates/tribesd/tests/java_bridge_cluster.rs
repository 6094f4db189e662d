//! Issue 7's core, end to end: a mixed cluster of two stock Tomcat nodes (SimpleTcpCluster +
//! DeltaManager) and two Tomcat nodes with the bridge jar in `$CATALINA_BASE/lib` and
//! `io.tribesd.tomcat.TribesdCluster` / `TribesdManager` in server.xml (every other element of the
//! howto configuration kept), all running tests/webapp at /app, in a private network namespace:
//!
//! 1. a counter incremented round-robin across the four nodes with one cookie climbs 1..400 with
//!    no gap (JvmRouteBinderValve renames the session at every hop; the client follows the
//!    Set-Cookie);
//! 2. an attribute set on any node is read on every other one;
//! 3. kill -9 of one of our nodes, then of a stock node: the counter goes on with no gap;
//! 4. restarted (our node, then the stock node), they get the session back by state transfer and
//!    the counter goes on;
//! 5. `tribesd members` lists all four nodes.
//!
//! The cluster runs with channelSendOptions 6 (USE_ACK + SYNCHRONIZED_ACK): with 8 the stock
//! nodes themselves lose first deltas (testing-with-stock-tomcat.md).
//!
//! Without root no namespace can be made: the test then says so and checks nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tomcat_harness::http::SessionClient;
use tomcat_harness::netns::NetNs;
use tomcat_harness::node::{webapp_dir_name, NodeConfig, TomcatNode};
use tomcat_harness::process::{wait_for, LoggedChild};
use tomcat_harness::{repo_root, tomcats, Tomcat};

const TRIBESD: &str = env!("CARGO_BIN_EXE_tribesd");
const APP: &str = "/app";
const SEND_OPTIONS: u32 = 6;
const COUNT: u32 = 400;

struct Jars {
    javax: PathBuf,
    jakarta: PathBuf,
}

/// Builds the jars once (`java-bridge/build.sh`: release library, then Maven).
fn jars() -> &'static Jars {
    static JARS: OnceLock<Jars> = OnceLock::new();
    JARS.get_or_init(|| {
        let script = repo_root().join("java-bridge/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("CARGO", env!("CARGO"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{} failed:\n{stdout}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let jar = |name: &str| {
            stdout.lines().find(|l| l.ends_with(name)).map(PathBuf::from).unwrap_or_else(|| panic!("no {name}"))
        };
        Jars { javax: jar("tribesd-tomcat9.jar"), jakarta: jar("tribesd-tomcat10.jar") }
    })
}

fn jar_for(tomcat: &Tomcat) -> &'static Path {
    match tomcat.line() {
        "9.0" => &jars().javax,
        _ => &jars().jakarta,
    }
}

/// The howto's `<Cluster>` with our two classes; every other element as the stock nodes have it.
fn tribesd_server_xml(c: &NodeConfig) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="{shutdown}" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{http}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="{name}">
      <Cluster className="io.tribesd.tomcat.TribesdCluster" channelSendOptions="{opts}">
        <Manager className="io.tribesd.tomcat.TribesdManager" expireSessionsOnShutdown="false" notifyListenersOnReplication="true"/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.McastService"
                      address="228.0.0.4" port="45564" frequency="500" dropTime="3000"
                      bind="127.0.0.1" localLoopbackDisabled="false"/>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver"
                    address="127.0.0.1" port="{rport}" autoBind="100" selectorTimeout="5000" maxThreads="6"/>
          <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"/>
          </Sender>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
        </Channel>
        <Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=""/>
        <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>
      </Cluster>
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false">
      </Host>
    </Engine>
  </Service>
</Server>
"#,
        shutdown = c.shutdown_port,
        http = c.http_port,
        name = c.name,
        opts = c.channel_send_options,
        rport = c.receiver_port,
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A Tomcat node with the bridge jar in `$CATALINA_BASE/lib` and our `<Cluster>`, started as the
/// harness starts stock nodes.
fn start_tribesd_tomcat(ns: &NetNs, tomcat: &Tomcat, test: &str, config: NodeConfig) -> TomcatNode {
    let base = repo_root().join("target/tomcat-nodes").join(test).join(&config.name);
    let _ = std::fs::remove_dir_all(&base);
    for d in ["conf", "logs", "temp", "work", "webapps", "lib"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    std::fs::copy(tomcat.home.join("conf/web.xml"), base.join("conf/web.xml")).unwrap();
    std::fs::copy(tomcat.home.join("conf/logging.properties"), base.join("conf/logging.properties")).unwrap();
    std::fs::write(base.join("conf/server.xml"), tribesd_server_xml(&config)).unwrap();
    let jar = jar_for(tomcat);
    std::fs::copy(jar, base.join("lib").join(jar.file_name().unwrap())).unwrap();
    for context in &config.webapps {
        copy_dir(&tomcat_harness::node::test_webapp(), &base.join("webapps").join(webapp_dir_name(context)));
    }
    let h = &tomcat.home;
    let mut command = ns.command("java");
    command
        .env("TRIBESD_LOG", "info")
        .arg("-Djava.net.preferIPv4Stack=true")
        .arg("-Xmx256m")
        .arg(format!("-Dcatalina.home={}", h.display()))
        .arg(format!("-Dcatalina.base={}", base.display()))
        .arg(format!("-Djava.io.tmpdir={}", base.join("temp").display()))
        .arg(format!("-Djava.util.logging.config.file={}", base.join("conf/logging.properties").display()))
        .arg("-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager")
        .arg("-cp")
        .arg(format!("{}:{}", h.join("bin/bootstrap.jar").display(), h.join("bin/tomcat-juli.jar").display()))
        .arg("org.apache.catalina.startup.Bootstrap")
        .arg("start");
    let name = format!("Tomcat {} {} (tribesd)", tomcat.version, config.name);
    let process = LoggedChild::spawn(&name, command, base.join("logs/console.log"));
    TomcatNode { tomcat: tomcat.clone(), config, base, process }
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// The `tribesd members` rows (JSON lines).
fn members_json(ns: &NetNs) -> Vec<serde_json::Value> {
    let out = ns
        .command(TRIBESD)
        .args(["members", "--once", "--timeout", "3s", "--json", "--interface", "127.0.0.1"])
        .output()
        .expect("tribesd members runs");
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn check_line(tomcat: &Tomcat) {
    let Some(ns) = NetNs::for_test(false) else { return };
    let test = format!("java-bridge-cluster-{}", tomcat.version);
    let config = |name: &str, i: u16| NodeConfig::new(name, i).with_webapp(APP).with_channel_send_options(SEND_OPTIONS);
    // One node after the other: stock nodes started together can each drop the other's state
    // request inside their own GET_ALL_SESSIONS wait, and stall 60 s (stock behaviour).
    let version = &tomcat.version;
    let mut nodes = Vec::new();
    for (i, name) in ["stock1", "stock2", "bridge3", "bridge4"].into_iter().enumerate() {
        let c = config(name, i as u16 + 1);
        let node = if name.starts_with("stock") {
            TomcatNode::start(&ns, tomcat, &test, c)
        } else {
            start_tribesd_tomcat(&ns, tomcat, &test, c)
        };
        node.wait_webapps_ready(&ns, Duration::from_secs(120)).unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
        nodes.push(node);
    }
    // Every node sees the three others: stock nodes log Tomcat's line, ours the node's.
    let all_joined = wait_for(Duration::from_secs(60), || {
        let ok = nodes.iter().all(|n| {
            // Tomcat's "Replication member added:" and our node's "member added".
            count_lines(&n.log(), "member added") >= 3
        });
        ok.then_some(())
    });
    if all_joined.is_none() {
        let logs: Vec<String> = nodes
            .iter()
            .map(|n| format!("== {}\n{}", n.process.name, tomcat_harness::process::tail(&n.log(), 30)))
            .collect();
        panic!("Tomcat {version}: the four nodes did not all see each other:\n{}", logs.join("\n"));
    }
    for n in &nodes[2..] {
        n.wait_for_log(&["native cluster node started"], Duration::from_secs(5)).unwrap();
    }

    // 5. `tribesd members` lists all four (two stock, two embedded nodes).
    let rows = wait_for(Duration::from_secs(20), || {
        let rows = members_json(&ns);
        (rows.iter().filter(|r| r["status"] == "alive").count() >= 4).then_some(rows)
    })
    .unwrap_or_else(|| panic!("Tomcat {version}: tribesd members did not list four members: {:?}", members_json(&ns)));
    eprintln!("Tomcat {version}: tribesd members lists {} members", rows.len());

    // 1. The counter climbs 1..COUNT round-robin with one cookie.
    let ports: Vec<u16> = nodes.iter().map(|n| n.http_port()).collect();
    let mut client = SessionClient::new(&ns);
    climb(&mut client, &ports, 1, COUNT, version, &nodes);
    eprintln!("Tomcat {version}: counter 1..{COUNT} round-robin over 4 nodes, no gap");

    // 2. An attribute set on any node is read on every other one.
    for (i, &port) in ports.iter().enumerate() {
        let mut client = SessionClient::new(&ns);
        let value = format!("v{i}-{version}");
        let r = client.op(port, APP, &format!("op=set&name=k{i}&value={value}")).unwrap();
        assert_eq!(r.field("set"), Some(format!("k{i}").as_str()), "{}", r.body);
        for (j, &other) in ports.iter().enumerate() {
            if j == i {
                continue;
            }
            let r = client.op(other, APP, &format!("op=get&name=k{i}")).unwrap();
            assert_eq!(
                r.field("value"),
                Some(value.as_str()),
                "Tomcat {version}: k{i} set on node {i}, read on node {j}:\n{}",
                r.body
            );
        }
    }
    eprintln!("Tomcat {version}: attributes set on each node are read on every other one");

    for n in &nodes {
        let severe = n.severe_lines();
        assert!(severe.is_empty(), "Tomcat {version}: {} logged SEVERE lines:\n{}", n.process.name, severe.join("\n"));
    }

    // 3. kill -9 (channelSendOptions 6): the counter goes on with no gap on the nodes left, first
    // without one of our nodes, then without a stock node too.
    let mut nodes: Vec<Option<TomcatNode>> = nodes.into_iter().map(Some).collect();
    let mut next = COUNT + 1;
    nodes[3].take().expect("bridge4 runs").kill9();
    let alive = |nodes: &[Option<TomcatNode>]| -> Vec<u16> { nodes.iter().flatten().map(|n| n.http_port()).collect() };
    climb(&mut client, &alive(&nodes), next, next + 39, version, &[]);
    next += 40;
    nodes[1].take().expect("stock2 runs").kill9();
    climb(&mut client, &alive(&nodes), next, next + 39, version, &[]);
    next += 40;
    eprintln!(
        "Tomcat {version}: kill -9 of an embedded node, then of a stock node: the counter went on to {}",
        next - 1
    );

    // 4. Restarted nodes get the sessions back by state transfer: our node (asking a stock node),
    // then the stock node (asking whichever member is the longest running).
    let bridge4 = start_tribesd_tomcat(&ns, tomcat, &format!("{test}-restart"), config("bridge4", 4));
    bridge4.wait_webapps_ready(&ns, Duration::from_secs(120)).unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
    bridge4
        .wait_for_log(&["session state transfer complete"], Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
    nodes[3] = Some(bridge4);
    climb(&mut client, &alive(&nodes), next, next + 29, version, &[]);
    next += 30;
    let stock2 = TomcatNode::start(&ns, tomcat, &format!("{test}-restart"), config("stock2", 2));
    stock2.wait_webapps_ready(&ns, Duration::from_secs(120)).unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
    nodes[1] = Some(stock2);
    let ports = alive(&nodes);
    assert_eq!(ports.len(), 4);
    climb(&mut client, &ports, next, next + 39, version, &[]);
    next += 40;
    eprintln!("Tomcat {version}: restarted nodes got the session back; the counter reached {}", next - 1);
}

/// Increments the counter round-robin over `ports` from `from` to `to`, checking every answer.
fn climb(client: &mut SessionClient, ports: &[u16], from: u32, to: u32, version: &str, nodes: &[TomcatNode]) {
    for i in from..=to {
        let port = ports[(i - from) as usize % ports.len()];
        let r = client.op(port, APP, "op=counter").unwrap_or_else(|e| panic!("Tomcat {version}: request {i}: {e}"));
        let got = r.field("counter").map(str::to_string);
        if got.as_deref() != Some(&i.to_string()) {
            let logs: Vec<String> = nodes
                .iter()
                .map(|n| format!("== {}\n{}", n.process.name, tomcat_harness::process::tail(&n.log(), 20)))
                .collect();
            panic!(
                "Tomcat {version}: request {i} on port {port} answered counter {got:?} (session {:?}):\n{}\n{}",
                client.session_id(),
                r.body,
                logs.join("\n")
            );
        }
    }
}

fn line(version_prefix: &str) {
    let Some(tomcat) = tomcats().into_iter().find(|t| t.version.starts_with(version_prefix)) else {
        panic!("no pinned Tomcat {version_prefix}");
    };
    check_line(&tomcat);
}

#[test]
fn mixed_cluster_replicates_on_tomcat_10_1() {
    line("10.1.");
}

#[test]
fn mixed_cluster_replicates_on_tomcat_9_0() {
    line("9.0.");
}

#[test]
fn mixed_cluster_replicates_on_tomcat_11_0() {
    line("11.0.");
}
