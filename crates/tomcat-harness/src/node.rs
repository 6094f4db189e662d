//! A stock Tomcat cluster node for interop tests: its own CATALINA_BASE with the cluster-howto
//! configuration (SimpleTcpCluster, DeltaManager, McastService, NioReceiver, PooledParallelSender,
//! TcpFailureDetector, MessageDispatchInterceptor, ReplicationValve, JvmRouteBinderValve), bound
//! to 127.0.0.1, started with `-Djava.net.preferIPv4Stack=true` inside a test's namespace.

use std::path::PathBuf;
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
        }
    }
}

/// A running stock Tomcat node. Killed with SIGKILL when dropped.
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
        std::fs::write(base.join("conf/logging.properties"), LOGGING).expect("write logging.properties");
        let h = &tomcat.home;
        let mut command = ns.command("java");
        command
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
        let name = format!("Tomcat {} {}", tomcat.version, config.name);
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

fn server_xml(c: &NodeConfig) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="{shutdown}" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{http}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="{name}">
      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="{opts}">
        <Manager className="org.apache.catalina.ha.session.DeltaManager"
                 expireSessionsOnShutdown="false" notifyListenersOnReplication="true"/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.McastService"
                      address="228.0.0.4" port="{mport}" frequency="500" dropTime="3000"
                      bind="127.0.0.1" localLoopbackDisabled="false"{mextra}/>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver"
                    address="127.0.0.1" port="{rport}" autoBind="100" selectorTimeout="5000" maxThreads="6"/>
          <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"/>
          </Sender>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
          {channel_extra}
        </Channel>
        <Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=""/>
        <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>
      </Cluster>
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
"#,
        shutdown = c.shutdown_port,
        http = c.http_port,
        name = c.name,
        opts = c.channel_send_options,
        mextra = c.membership_extra,
        rport = c.receiver_port,
        mport = c.membership_port,
        channel_extra = c.channel_extra,
    )
}
