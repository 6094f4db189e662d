//! A Tomcat cluster node for interop tests: its own CATALINA_BASE with the cluster-howto
//! configuration (SimpleTcpCluster, DeltaManager, McastService, NioReceiver, PooledParallelSender,
//! TcpFailureDetector, MessageDispatchInterceptor, ReplicationValve, JvmRouteBinderValve), bound
//! to 127.0.0.1, started with `-Djava.net.preferIPv4Stack=true` inside a test's namespace.
//!
//! A node is stock by default. [`NodeConfig::with_tribesd_jar`] makes it one of ours: the bridge
//! jar (`java-bridge/`, see [`crate::bridge`]) in `$CATALINA_BASE/lib` and
//! `io.tribesd.tomcat.TribesdCluster` / `TribesdManager` in place of SimpleTcpCluster /
//! DeltaManager, every other element of the howto configuration kept.
//!
//! Session tests deploy the `<distributable/>` webapp of `tests/webapp` ([`NodeConfig::with_webapp`])
//! and talk to it with [`crate::http`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::NetNs;
use crate::process::LoggedChild;
use crate::Tomcat;

/// What differs between the nodes of one test.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Node name, used as jvmRoute and as the CATALINA_BASE folder name.
    pub name: String,
    pub http_port: u16,
    pub shutdown_port: u16,
    /// First receiver port tried; autoBind 100 as in the howto.
    pub receiver_port: u16,
    pub channel_send_options: u32,
    /// Extra attributes of `<Membership>`, e.g. ` domain="x"`.
    pub membership_extra: String,
    /// The multicast port (45564); another port keeps a node out of the default group.
    pub membership_port: u16,
    /// Elements added after the howto's interceptors, inside `<Channel>`.
    pub channel_extra: String,
    /// Extra attributes of the PooledParallelSender `<Transport>`, e.g. ` timeout="60000"`.
    pub transport_extra: String,
    /// Context paths (`/app`, `""` for ROOT) at which `tests/webapp` is deployed: copied into
    /// `CATALINA_BASE/webapps` under Tomcat's directory name for the path (`app`, `ROOT`, `a#b`).
    pub webapps: Vec<String>,
    /// Where the `<Cluster>` element is: in `<Engine>` (the howto, and the default) or in `<Host>`.
    /// It decides the cluster manager name on the wire ([`NodeConfig::cluster_manager_name`]).
    pub cluster_in: ClusterIn,
    /// Attributes of the DeltaManager `<Manager>`, written after (and replacing same-named)
    /// defaults `expireSessionsOnShutdown="false" notifyListenersOnReplication="true"`.
    pub manager_attributes: Vec<(String, String)>,
    /// Extra `logging.properties` levels, e.g. `("org.apache.catalina.ha.session", "FINE")`.
    pub log_levels: Vec<(String, String)>,
    /// JVM options after the harness's own (`-Xmx2g` here overrides the default `-Xmx256m`).
    pub jvm_options: Vec<String>,
    /// Stock, or with our Manager jar.
    pub kind: NodeKind,
}

/// Which cluster implementation a node runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NodeKind {
    /// SimpleTcpCluster and DeltaManager.
    #[default]
    Stock,
    /// `io.tribesd.tomcat.TribesdCluster` and `TribesdManager`, with `jar` (the bridge jar for the
    /// node's Tomcat line) copied into `$CATALINA_BASE/lib`, where Tomcat's common class loader
    /// finds it, and `TRIBESD_LOG=info` for the native node's log.
    Tribesd { jar: PathBuf },
}

const STOCK_CLUSTER: &str = "org.apache.catalina.ha.tcp.SimpleTcpCluster";
const STOCK_MANAGER: &str = "org.apache.catalina.ha.session.DeltaManager";
/// Our `<Cluster className>`.
pub const TRIBESD_CLUSTER: &str = "io.tribesd.tomcat.TribesdCluster";
/// Our `<Manager className>`.
pub const TRIBESD_MANAGER: &str = "io.tribesd.tomcat.TribesdManager";

impl NodeKind {
    /// The `<Cluster>` and `<Manager>` class names.
    pub fn class_names(&self) -> (&'static str, &'static str) {
        match self {
            NodeKind::Stock => (STOCK_CLUSTER, STOCK_MANAGER),
            NodeKind::Tribesd { .. } => (TRIBESD_CLUSTER, TRIBESD_MANAGER),
        }
    }
}

/// Where `server.xml` puts the `<Cluster>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterIn {
    /// Inside `<Engine>`: the cluster-howto placement; manager names are `localhost#/app`.
    #[default]
    Engine,
    /// Inside `<Host name="localhost">`: manager names are the context path, `/app`.
    Host,
}

impl NodeConfig {
    pub fn new(name: &str, index: u16) -> Self {
        NodeConfig {
            name: name.to_string(),
            http_port: 18080 + index,
            shutdown_port: 18005 + index * 10,
            receiver_port: 4000,
            channel_send_options: 8,
            membership_extra: String::new(),
            membership_port: 45564,
            channel_extra: String::new(),
            transport_extra: String::new(),
            webapps: Vec::new(),
            cluster_in: ClusterIn::Engine,
            manager_attributes: Vec::new(),
            log_levels: Vec::new(),
            jvm_options: Vec::new(),
            kind: NodeKind::Stock,
        }
    }

    /// Runs the node with our Manager: `jar` (the bridge jar for the node's Tomcat line, from
    /// [`crate::bridge::jar_for`] or [`crate::bridge::built_jar`]) in `$CATALINA_BASE/lib` and
    /// TribesdCluster / TribesdManager in server.xml.
    pub fn with_tribesd_jar(mut self, jar: impl Into<PathBuf>) -> Self {
        self.kind = NodeKind::Tribesd { jar: jar.into() };
        self
    }

    /// Whether the node runs our Manager ([`NodeConfig::with_tribesd_jar`]).
    pub fn is_tribesd(&self) -> bool {
        matches!(self.kind, NodeKind::Tribesd { .. })
    }

    /// Puts `xml` inside `<Channel>`, after the howto's interceptors (e.g. a
    /// StaticMembershipInterceptor).
    pub fn with_channel_extra(mut self, xml: &str) -> Self {
        self.channel_extra.push_str(xml);
        self
    }

    /// Deploys `tests/webapp` at `context` (`/app`; `""` for ROOT).
    pub fn with_webapp(mut self, context: &str) -> Self {
        self.webapps.push(context.to_string());
        self
    }

    pub fn with_cluster_in(mut self, place: ClusterIn) -> Self {
        self.cluster_in = place;
        self
    }

    pub fn with_channel_send_options(mut self, options: u32) -> Self {
        self.channel_send_options = options;
        self
    }

    /// Sets a DeltaManager attribute, e.g. `("stateTransferTimeout", "10")`, `("sendAllSessions",
    /// "false")`, `("sendAllSessionsSize", "100")`, `("sendAllSessionsWaitTime", "500")`,
    /// `("notifyListenersOnReplication", "false")`.
    pub fn with_manager_attribute(mut self, name: &str, value: &str) -> Self {
        self.manager_attributes.retain(|(n, _)| n != name);
        self.manager_attributes.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets an attribute of the `<Transport>` (PooledParallelSender), e.g. `("timeout", "60000")`.
    pub fn with_transport_attribute(mut self, name: &str, value: &str) -> Self {
        self.transport_extra.push_str(&format!(" {name}=\"{value}\""));
        self
    }

    /// Adds a JVM option, placed after the harness's defaults so that it wins (`-Xmx2g`).
    pub fn with_jvm_option(mut self, option: &str) -> Self {
        self.jvm_options.push(option.to_string());
        self
    }

    /// Logs `org.apache.catalina.ha.session` at FINE: among others, the DeltaManager's
    /// "received session delta for unknown session [ID]" when it drops a delta.
    pub fn with_fine_session_log(mut self) -> Self {
        self.log_levels.push(("org.apache.catalina.ha.session".to_string(), "FINE".to_string()));
        self
    }

    /// The name this node's DeltaManager for `context` registers with the cluster, which is the
    /// context name in every session message (session-replication.md §6): `localhost#/app` with
    /// the `<Cluster>` in `<Engine>`, `/app` with it in `<Host>` (`localhost#` and `""` for ROOT).
    pub fn cluster_manager_name(&self, context: &str) -> String {
        let base = if context == "/" { "" } else { context };
        match self.cluster_in {
            ClusterIn::Engine => format!("localhost#{base}"),
            ClusterIn::Host => base.to_string(),
        }
    }
}

/// Tomcat's directory name in `appBase` for a context path: `ROOT` for `""` or `/`, `app` for
/// `/app`, `a#b` for `/a/b`.
pub fn webapp_dir_name(context: &str) -> String {
    let path = context.trim_start_matches('/');
    if path.is_empty() {
        "ROOT".to_string()
    } else {
        path.replace('/', "#")
    }
}

/// `tests/webapp`, the session test webapp.
pub fn test_webapp() -> PathBuf {
    crate::repo_root().join("tests/webapp")
}

/// Adds to `command` (a `java` command) what starts the Tomcat of `tomcat` on the CATALINA_BASE
/// `base` (`Bootstrap start`, IPv4, `-Xmx256m`, JULI logging from `base`), with `jvm_options`.
pub fn bootstrap_args(command: &mut std::process::Command, tomcat: &Tomcat, base: &Path, jvm_options: &[String]) {
    let h = &tomcat.home;
    command
        .arg("-Djava.net.preferIPv4Stack=true")
        .arg("-Xmx256m")
        .args(jvm_options)
        .arg(format!("-Dcatalina.home={}", h.display()))
        .arg(format!("-Dcatalina.base={}", base.display()))
        .arg(format!("-Djava.io.tmpdir={}", base.join("temp").display()))
        .arg(format!("-Djava.util.logging.config.file={}", base.join("conf/logging.properties").display()))
        .arg("-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager")
        .arg("-cp")
        .arg(format!("{}:{}", h.join("bin/bootstrap.jar").display(), h.join("bin/tomcat-juli.jar").display()))
        .arg("org.apache.catalina.startup.Bootstrap")
        .arg("start");
}

/// Starts `configs` one after the other in `ns` (two stock nodes started together can drop each
/// other's state request and stall a whole stateTransferTimeout: stock behaviour), each once its
/// webapps answer, then waits until every node logged the others joining ("member added": Tomcat's
/// "Replication member added" and our node's line).
///
/// # Panics
/// When a node does not come up or the nodes do not all see each other within a minute.
pub fn start_cluster(ns: &NetNs, tomcat: &Tomcat, test: &str, configs: Vec<NodeConfig>) -> Vec<TomcatNode> {
    let version = &tomcat.version;
    let mut nodes = Vec::new();
    for c in configs {
        let node = TomcatNode::start(ns, tomcat, test, c);
        node.wait_webapps_ready(ns, std::time::Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("Tomcat {version}: {e}"));
        nodes.push(node);
    }
    let others = nodes.len().saturating_sub(1);
    let joined = crate::process::wait_for(std::time::Duration::from_secs(60), || {
        nodes.iter().all(|n| n.log().lines().filter(|l| l.contains("member added")).count() >= others).then_some(())
    });
    if joined.is_none() {
        let logs: Vec<String> =
            nodes.iter().map(|n| format!("== {}\n{}", n.process.name, crate::process::tail(&n.log(), 30))).collect();
        panic!("Tomcat {version}: the {} nodes did not all see each other:\n{}", nodes.len(), logs.join("\n"));
    }
    nodes
}

/// The three-node cluster of the bridge's comparison tests, channelSendOptions 6, each node with
/// tests/webapp at every path of `webapps`: "origin" and "stock" (DeltaManager), then "ours"
/// (the bridge jar for `tomcat`'s line), started with [`start_cluster`].
pub fn start_stock_stock_ours(ns: &NetNs, tomcat: &Tomcat, test: &str, webapps: &[&str]) -> Vec<TomcatNode> {
    let configs = ["origin", "stock", "ours"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let mut c = NodeConfig::new(name, i as u16 + 1).with_channel_send_options(6);
            for w in webapps {
                c = c.with_webapp(w);
            }
            if name == "ours" {
                c.with_tribesd_jar(crate::bridge::jar_for(tomcat))
            } else {
                c
            }
        })
        .collect();
    start_cluster(ns, tomcat, test, configs)
}

/// Panics with the lines when any of `nodes` logged at SEVERE.
pub fn assert_no_severe(nodes: &[TomcatNode]) {
    for n in nodes {
        let severe = n.severe_lines();
        assert!(severe.is_empty(), "{} logged SEVERE lines:\n{}", n.process.name, severe.join("\n"));
    }
}

/// Deploys `tests/webapp` into `dest` (a webapp directory of a CATALINA_BASE) for `tomcat`, with
/// `tests/webapp-src` (the session listeners events.jsp shows) compiled into `WEB-INF/classes`.
pub fn install_test_webapp(tomcat: &Tomcat, dest: &Path) -> std::io::Result<()> {
    copy_dir(&test_webapp(), dest)?;
    copy_dir(&webapp_classes(tomcat)?, &dest.join("WEB-INF/classes"))
}

/// `tests/webapp-src` compiled against `tomcat`'s servlet API: javax for 9.0, the same sources
/// with `javax.servlet` renamed `jakarta.servlet` for 10.1 and 11.0. Cached under
/// `target/webapp-classes` by namespace and source contents; parallel tests may race to build it,
/// the first rename wins.
fn webapp_classes(tomcat: &Tomcat) -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let jakarta = tomcat.line() != "9.0";
    let namespace = if jakarta { "jakarta" } else { "javax" };
    let src = crate::repo_root().join("tests/webapp-src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "java") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut sources = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)?;
        let text = if jakarta { text.replace("javax.servlet", "jakarta.servlet") } else { text };
        (f, &text).hash(&mut hasher);
        sources.push((f.strip_prefix(&src).expect("under src").to_path_buf(), text));
    }
    let out = crate::repo_root().join("target/webapp-classes").join(format!("{namespace}-{:016x}", hasher.finish()));
    if out.is_dir() {
        return Ok(out);
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let mut paths = Vec::new();
    for (rel, text) in &sources {
        let path = tmp.join("src").join(rel);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        std::fs::write(&path, text)?;
        paths.push(path);
    }
    let api = tomcat.home.join("lib/servlet-api.jar");
    let result = std::process::Command::new("javac")
        .args(["--release", "17", "-nowarn", "-encoding", "UTF-8", "-cp"])
        .arg(&api)
        .arg("-d")
        .arg(tmp.join("classes"))
        .args(&paths)
        .output()?;
    if !result.status.success() {
        return Err(std::io::Error::other(format!(
            "javac of tests/webapp-src against {} failed:\n{}",
            api.display(),
            String::from_utf8_lossy(&result.stderr)
        )));
    }
    match std::fs::rename(tmp.join("classes"), &out) {
        Ok(()) => {}
        Err(_) if out.is_dir() => {}
        Err(e) => return Err(e),
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A running Tomcat node (stock or ours). Killed with SIGKILL when dropped.
pub struct TomcatNode {
    pub tomcat: Tomcat,
    pub config: NodeConfig,
    pub base: PathBuf,
    pub process: LoggedChild,
}

impl TomcatNode {
    /// Writes a fresh CATALINA_BASE under `target/tomcat-nodes/TEST/NAME` and starts the node
    /// inside `ns`. Returns at once; use [`TomcatNode::wait_for_log`] to wait for what matters.
    pub fn start(ns: &NetNs, tomcat: &Tomcat, test: &str, config: NodeConfig) -> TomcatNode {
        let base = crate::repo_root().join("target/tomcat-nodes").join(test).join(&config.name);
        let _ = std::fs::remove_dir_all(&base);
        for d in ["conf", "logs", "temp", "work", "webapps"] {
            std::fs::create_dir_all(base.join(d)).expect("CATALINA_BASE folders");
        }
        std::fs::copy(tomcat.home.join("conf/web.xml"), base.join("conf/web.xml")).expect("copy web.xml");
        std::fs::write(base.join("conf/server.xml"), server_xml(&config)).expect("write server.xml");
        std::fs::write(base.join("conf/logging.properties"), logging_properties(&config))
            .expect("write logging.properties");
        for context in &config.webapps {
            install_test_webapp(tomcat, &base.join("webapps").join(webapp_dir_name(context)))
                .unwrap_or_else(|e| panic!("deploying tests/webapp: {e}"));
        }
        let mut command = ns.command("java");
        let mut name = format!("Tomcat {} {}", tomcat.version, config.name);
        if let NodeKind::Tribesd { jar } = &config.kind {
            // catalina.properties' common.loader has "${catalina.base}/lib/*.jar".
            std::fs::create_dir_all(base.join("lib")).expect("CATALINA_BASE/lib");
            let file = jar.file_name().unwrap_or_else(|| panic!("{} is not a jar file", jar.display()));
            std::fs::copy(jar, base.join("lib").join(file))
                .unwrap_or_else(|e| panic!("copy {} into CATALINA_BASE/lib: {e}", jar.display()));
            command.env("TRIBESD_LOG", "info");
            name.push_str(" (tribesd)");
        }
        bootstrap_args(&mut command, tomcat, &base, &config.jvm_options);
        let process = LoggedChild::spawn(&name, command, base.join("logs/console.log"));
        TomcatNode { tomcat: tomcat.clone(), config, base, process }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Waits until the log has a line containing every one of `needles`, and returns that line.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> Result<String, String> {
        self.process.wait_for_log(needles, timeout)
    }

    pub fn http_port(&self) -> u16 {
        self.config.http_port
    }

    /// Waits for "Server startup in": every webapp of the node is deployed (or failed to).
    pub fn wait_started(&self, timeout: Duration) -> Result<String, String> {
        self.wait_for_log(&["Server startup in"], timeout)
    }

    /// Waits until the webapp at `context` logged "Deployment of web application directory [DIR]
    /// has finished".
    pub fn wait_deployed(&self, context: &str, timeout: Duration) -> Result<String, String> {
        let dir = self.base.join("webapps").join(webapp_dir_name(context));
        let dir = format!("[{}]", dir.display());
        self.wait_for_log(&["Deployment of web application directory", &dir, "has finished"], timeout)
    }

    /// Waits for the first "Replication member added" line (this node saw a member join).
    pub fn wait_member_added(&self, timeout: Duration) -> Result<String, String> {
        self.wait_for_log(&["Replication member added"], timeout)
    }

    /// Waits until the node has started and each of its webapps answers both pages over HTTP
    /// (which also has Jasper compile them before a test measures anything). Sends no cookie and
    /// creates no session.
    pub fn wait_webapps_ready(&self, ns: &NetNs, timeout: Duration) -> Result<(), String> {
        let deadline = std::time::Instant::now() + timeout;
        self.wait_started(timeout)?;
        for context in &self.config.webapps {
            for page in [format!("{context}/s.jsp?op=info&create=false"), format!("{context}/peek.jsp")] {
                let answered =
                    crate::process::wait_for(deadline.saturating_duration_since(std::time::Instant::now()), || {
                        crate::http::get(ns, self.http_port(), &page, None).ok().filter(|r| r.status == 200)
                    });
                if answered.is_none() {
                    let last = crate::http::get(ns, self.http_port(), &page, None);
                    return Err(format!(
                        "{}: {page} did not answer 200 within {timeout:?} (last: {last:?}):\n{}",
                        self.process.name,
                        crate::process::tail(&self.log(), 40)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The log lines at SEVERE (Tomcat's OneLineFormatter writes the level after the time).
    pub fn severe_lines(&self) -> Vec<String> {
        self.log().lines().filter(|l| l.contains(" SEVERE ")).map(str::to_string).collect()
    }

    /// SIGKILL, as `kill -9`.
    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    /// SIGTERM: Tomcat's shutdown hook stops it gracefully (the membership sends its shutdown
    /// packet). Waits up to `timeout`, then kills.
    pub fn stop(&mut self, timeout: Duration) {
        self.process.terminate(timeout);
    }
}

const LOGGING: &str = "handlers = java.util.logging.ConsoleHandler\n\
.handlers = java.util.logging.ConsoleHandler\n\
.level = INFO\n\
java.util.logging.ConsoleHandler.level = FINE\n\
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter\n\
org.apache.catalina.tribes.level = INFO\n\
org.apache.catalina.ha.level = INFO\n";

fn logging_properties(c: &NodeConfig) -> String {
    let mut text = LOGGING.to_string();
    for (logger, level) in &c.log_levels {
        text.push_str(&format!("{logger}.level = {level}\n"));
    }
    text
}

fn manager_attributes(c: &NodeConfig) -> String {
    let mut attrs: Vec<(String, String)> =
        [("expireSessionsOnShutdown", "false"), ("notifyListenersOnReplication", "true")]
            .iter()
            .filter(|(n, _)| !c.manager_attributes.iter().any(|(m, _)| m == n))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
    attrs.extend(c.manager_attributes.iter().cloned());
    attrs.iter().map(|(n, v)| format!(" {n}=\"{v}\"")).collect()
}

fn server_xml(c: &NodeConfig) -> String {
    let cluster = cluster_xml(c);
    let (in_engine, in_host) = match c.cluster_in {
        ClusterIn::Engine => (cluster.as_str(), ""),
        ClusterIn::Host => ("", cluster.as_str()),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="{shutdown}" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{http}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="{name}">
{in_engine}      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false">
{in_host}      </Host>
    </Engine>
  </Service>
</Server>
"#,
        shutdown = c.shutdown_port,
        http = c.http_port,
        name = c.name,
    )
}

fn cluster_xml(c: &NodeConfig) -> String {
    let (cluster_class, manager_class) = c.kind.class_names();
    format!(
        r#"      <Cluster className="{cluster_class}" channelSendOptions="{opts}">
        <Manager className="{manager_class}"{manager}/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.McastService"
                      address="228.0.0.4" port="{mport}" frequency="500" dropTime="3000"
                      bind="127.0.0.1" localLoopbackDisabled="false"{mextra}/>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver"
                    address="127.0.0.1" port="{rport}" autoBind="100" selectorTimeout="5000" maxThreads="6"/>
          <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"{transport_extra}/>
          </Sender>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
          {channel_extra}
        </Channel>
        <Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=""/>
        <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>
      </Cluster>
"#,
        opts = c.channel_send_options,
        manager = manager_attributes(c),
        mextra = c.membership_extra,
        rport = c.receiver_port,
        mport = c.membership_port,
        channel_extra = c.channel_extra,
        transport_extra = c.transport_extra,
    )
}
