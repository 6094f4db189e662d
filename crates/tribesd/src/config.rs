//! Node configuration in Tomcat's words: the `<Cluster>` element of a server.xml, overridden by
//! flags named after the element and attribute (`--membership-drop-time` is `<Membership
//! dropTime>`), with Tomcat's defaults for everything unset.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tribes::server_xml::{self, Element};
use tribes_proto::failure_detector::FailureDetectorConfig;
use tribes_proto::membership::{parse_domain, McastConfig};
use tribes_wire::{Member, UniqueId};

/// Flags shared by `run` (and, for the group, by `members`).
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Read the <Cluster> element of this Tomcat server.xml; flags override its attributes.
    #[arg(long, value_name = "FILE")]
    pub server_xml: Option<PathBuf>,
    /// With several <Host>s holding a <Cluster>, take the one of this host.
    #[arg(long, value_name = "HOST")]
    pub cluster_host: Option<String>,
    /// <Membership address>: the multicast group [default: 228.0.0.4].
    #[arg(long)]
    pub membership_address: Option<String>,
    /// <Membership port> [default: 45564].
    #[arg(long)]
    pub membership_port: Option<String>,
    /// <Membership frequency>: ms between heartbeats [default: 500].
    #[arg(long)]
    pub membership_frequency: Option<String>,
    /// <Membership dropTime>: ms of silence before a member is gone [default: 3000].
    #[arg(long)]
    pub membership_drop_time: Option<String>,
    /// <Membership bind>: the address of the interface for multicast.
    #[arg(long)]
    pub membership_bind: Option<String>,
    /// <Membership ttl>.
    #[arg(long)]
    pub membership_ttl: Option<String>,
    /// <Membership soTimeout> (ms).
    #[arg(long)]
    pub membership_so_timeout: Option<String>,
    /// <Membership domain>: text, or a byte list like {1,2,3}.
    #[arg(long)]
    pub membership_domain: Option<String>,
    /// <Membership localLoopbackDisabled> [default: false].
    #[arg(long)]
    pub membership_local_loopback_disabled: Option<String>,
    /// <Membership recoveryEnabled> [default: true].
    #[arg(long)]
    pub membership_recovery_enabled: Option<String>,
    /// <Membership recoveryCounter> [default: 10].
    #[arg(long)]
    pub membership_recovery_counter: Option<String>,
    /// <Membership recoverySleepTime> (ms) [default: 5000].
    #[arg(long)]
    pub membership_recovery_sleep_time: Option<String>,
    /// <Receiver address>: `auto` (the host name's address) or an address [default: auto].
    #[arg(long)]
    pub receiver_address: Option<String>,
    /// <Receiver port>: the first port tried [default: 4000].
    #[arg(long)]
    pub receiver_port: Option<String>,
    /// <Receiver autoBind>: how many ports to try [default: 100].
    #[arg(long)]
    pub receiver_auto_bind: Option<String>,
    /// <Receiver securePort> [default: -1].
    #[arg(long)]
    pub receiver_secure_port: Option<String>,
    /// <Receiver udpPort> [default: -1].
    #[arg(long)]
    pub receiver_udp_port: Option<String>,
    /// A StaticMembershipInterceptor <Member>: HOST:PORT:{uniqueId as 16 signed bytes}; repeatable.
    #[arg(long, value_name = "HOST:PORT:{ID}")]
    pub static_member: Vec<String>,
    /// The StaticMembershipInterceptor <LocalMember uniqueId>: our own id, as the other nodes declare it.
    #[arg(long, value_name = "{ID}")]
    pub local_member_unique_id: Option<String>,
}

/// A declared static member (`<Member className="org.apache.catalina.tribes.membership.StaticMember">`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMemberDecl {
    pub host: IpAddr,
    pub port: u16,
    pub unique_id: UniqueId,
    pub domain: bytes::Bytes,
    pub secure_port: i32,
}

impl StaticMemberDecl {
    pub fn to_member(&self) -> Member {
        let mut m = Member::new(self.host, i32::from(self.port), self.unique_id, 0);
        m.domain = self.domain.clone();
        m.secure_port = self.secure_port;
        m
    }
}

/// The settings a node runs with.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub membership: McastConfig,
    pub receiver_address: String,
    pub receiver_port: u16,
    pub receiver_auto_bind: u16,
    pub receiver_secure_port: i32,
    pub receiver_udp_port: i32,
    /// StaticMembershipInterceptor members.
    pub static_members: Vec<StaticMemberDecl>,
    /// Our unique id when the configuration fixes it (`<LocalMember uniqueId>`); random otherwise.
    pub local_unique_id: Option<UniqueId>,
    /// `<Interceptor className="...TcpFailureDetector">` attributes (Tomcat's defaults otherwise).
    pub failure_detector: FailureDetectorConfig,
    /// With a TcpPingInterceptor: how often the failure detector re-probes every member.
    pub tcp_ping: Option<Duration>,
    /// Elements and attributes of the server.xml that tribesd does not act on yet.
    pub ignored: Vec<String>,
}

/// A configuration value that cannot be used; the message names the attribute and the value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

const MCAST_SERVICE: &str = "org.apache.catalina.tribes.membership.McastService";
const MEMBERSHIP_ATTRS: &[&str] = &[
    "className",
    "address",
    "port",
    "frequency",
    "dropTime",
    "bind",
    "mcastBindAddress",
    "ttl",
    "soTimeout",
    "domain",
    "localLoopbackDisabled",
    "recoveryEnabled",
    "recoveryCounter",
    "recoverySleepTime",
];
const RECEIVER_ATTRS: &[&str] = &["className", "address", "port", "autoBind", "securePort", "udpPort"];

impl ClusterArgs {
    /// Reads the server.xml (if any) and applies the flags over it.
    pub fn settings(&self) -> Result<NodeSettings, ConfigError> {
        let mut s = NodeSettings {
            membership: McastConfig::default(),
            receiver_address: "auto".into(),
            receiver_port: 4000,
            receiver_auto_bind: 100,
            receiver_secure_port: -1,
            receiver_udp_port: -1,
            static_members: Vec::new(),
            local_unique_id: None,
            failure_detector: FailureDetectorConfig::default(),
            tcp_ping: None,
            ignored: Vec::new(),
        };
        if let Some(path) = &self.server_xml {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            let found = server_xml::parse(&text, self.cluster_host.as_deref())
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            apply_xml(&mut s, &found.cluster)?;
        }
        let m = &mut s.membership;
        let flag = |name: &str| format!("--{name}");
        if let Some(v) = &self.membership_address {
            m.address = ip(&flag("membership-address"), v)?;
        }
        if let Some(v) = &self.membership_port {
            m.port = number(&flag("membership-port"), v)?;
        }
        if let Some(v) = &self.membership_frequency {
            m.frequency = millis(&flag("membership-frequency"), v)?;
        }
        if let Some(v) = &self.membership_drop_time {
            m.drop_time = millis(&flag("membership-drop-time"), v)?;
        }
        if let Some(v) = &self.membership_bind {
            m.bind = Some(ip(&flag("membership-bind"), v)?);
        }
        if let Some(v) = &self.membership_ttl {
            m.ttl = ttl(&flag("membership-ttl"), v)?;
        }
        if let Some(v) = &self.membership_so_timeout {
            m.so_timeout = Some(millis(&flag("membership-so-timeout"), v)?);
        }
        if let Some(v) = &self.membership_domain {
            m.domain = parse_domain(v).map_err(|e| ConfigError(format!("--membership-domain: {e}")))?;
        }
        if let Some(v) = &self.membership_local_loopback_disabled {
            m.local_loopback_disabled = boolean(&flag("membership-local-loopback-disabled"), v)?;
        }
        if let Some(v) = &self.membership_recovery_enabled {
            m.recovery_enabled = boolean(&flag("membership-recovery-enabled"), v)?;
        }
        if let Some(v) = &self.membership_recovery_counter {
            m.recovery_counter = number(&flag("membership-recovery-counter"), v)?;
        }
        if let Some(v) = &self.membership_recovery_sleep_time {
            m.recovery_sleep_time = millis(&flag("membership-recovery-sleep-time"), v)?;
        }
        if let Some(v) = &self.receiver_address {
            s.receiver_address = v.clone();
        }
        if let Some(v) = &self.receiver_port {
            s.receiver_port = number(&flag("receiver-port"), v)?;
        }
        if let Some(v) = &self.receiver_auto_bind {
            s.receiver_auto_bind = number(&flag("receiver-auto-bind"), v)?;
        }
        if let Some(v) = &self.receiver_secure_port {
            s.receiver_secure_port = number(&flag("receiver-secure-port"), v)?;
        }
        if let Some(v) = &self.receiver_udp_port {
            s.receiver_udp_port = number(&flag("receiver-udp-port"), v)?;
        }
        for v in &self.static_member {
            s.static_members.push(static_member_flag(v)?);
        }
        if let Some(v) = &self.local_member_unique_id {
            s.local_unique_id = Some(unique_id(&flag("local-member-unique-id"), v)?);
        }
        Ok(s)
    }
}

fn apply_xml(s: &mut NodeSettings, cluster: &Element) -> Result<(), ConfigError> {
    let Some(channel) = cluster.child("Channel") else {
        s.ignored.push("<Cluster> has no <Channel>: Tomcat's defaults are used".into());
        return Ok(());
    };
    if let Some(m) = channel.child("Membership") {
        let class = m.class_name().unwrap_or(MCAST_SERVICE);
        if class != MCAST_SERVICE {
            return Err(ConfigError(format!(
                "<Membership className=\"{class}\"> (line {}) is not supported yet: tribesd runs McastService membership",
                m.line
            )));
        }
        let at = |attr: &str| format!("<Membership {attr}> (line {})", m.line);
        let mc = &mut s.membership;
        for (k, v) in &m.attributes {
            match k.as_str() {
                "address" => mc.address = ip(&at(k), v)?,
                "port" => mc.port = number(&at(k), v)?,
                "frequency" => mc.frequency = millis(&at(k), v)?,
                "dropTime" => mc.drop_time = millis(&at(k), v)?,
                "bind" | "mcastBindAddress" => mc.bind = Some(ip(&at(k), v)?),
                "ttl" => mc.ttl = ttl(&at(k), v)?,
                "soTimeout" => mc.so_timeout = Some(millis(&at(k), v)?),
                "domain" => mc.domain = parse_domain(v).map_err(|e| ConfigError(format!("{}: {e}", at(k))))?,
                "localLoopbackDisabled" => mc.local_loopback_disabled = boolean(&at(k), v)?,
                "recoveryEnabled" => mc.recovery_enabled = boolean(&at(k), v)?,
                "recoveryCounter" => mc.recovery_counter = number(&at(k), v)?,
                "recoverySleepTime" => mc.recovery_sleep_time = millis(&at(k), v)?,
                _ => {}
            }
        }
        note_unknown(s, m, MEMBERSHIP_ATTRS);
    }
    if let Some(r) = channel.child("Receiver") {
        let at = |attr: &str| format!("<Receiver {attr}> (line {})", r.line);
        for (k, v) in &r.attributes {
            match k.as_str() {
                "address" => s.receiver_address = v.clone(),
                "port" => s.receiver_port = number(&at(k), v)?,
                "autoBind" => s.receiver_auto_bind = number(&at(k), v)?,
                "securePort" => s.receiver_secure_port = number(&at(k), v)?,
                "udpPort" => s.receiver_udp_port = number(&at(k), v)?,
                _ => {}
            }
        }
        note_unknown(s, r, RECEIVER_ATTRS);
    }
    for e in &channel.children {
        let at = |attr: &str| format!("<Interceptor {attr}> (line {})", e.line);
        if e.name == "Interceptor" && e.class_name() == Some(STATIC_INTERCEPTOR) {
            apply_static_interceptor(s, e)?;
        } else if e.name == "Interceptor" && e.class_name() == Some(FAILURE_DETECTOR) {
            let d = &mut s.failure_detector;
            for (k, v) in &e.attributes {
                match k.as_str() {
                    "connectTimeout" => d.connect_timeout = millis(&at(k), v)?,
                    "performSendTest" => d.perform_send_test = boolean(&at(k), v)?,
                    "performReadTest" => d.perform_read_test = boolean(&at(k), v)?,
                    "readTestTimeout" => d.read_test_timeout = millis(&at(k), v)?,
                    "removeSuspectsTimeout" => {
                        d.remove_suspects_timeout = Duration::from_secs(number::<u64>(&at(k), v)?)
                    }
                    _ => {}
                }
            }
            note_unknown(
                s,
                e,
                &[
                    "className",
                    "connectTimeout",
                    "performSendTest",
                    "performReadTest",
                    "readTestTimeout",
                    "removeSuspectsTimeout",
                ],
            );
        } else if e.name == "Interceptor" && e.class_name() == Some(TCP_PING) {
            let use_thread = e.attr("useThread").map(|v| boolean(&at("useThread"), v)).transpose()?.unwrap_or(false);
            let interval = e
                .attr("interval")
                .map(|v| millis(&at("interval"), v))
                .transpose()?
                .unwrap_or(Duration::from_millis(1000));
            // With its own thread it pings every `interval`; otherwise on the channel heartbeat (5 s).
            s.tcp_ping = Some(if use_thread { interval } else { Duration::from_secs(5) });
            note_unknown(s, e, &["className", "interval", "useThread", "staticOnly"]);
        } else if e.name == "Interceptor" && matches!(e.class_name(), Some(MESSAGE_DISPATCH) | Some(DOMAIN_FILTER)) {
            // MessageDispatchInterceptor: tribesd's channel queues asynchronous sends itself.
            // DomainFilterInterceptor: tribesd run always ignores members of other domains.
        } else if e.name != "Membership" && e.name != "Receiver" {
            s.ignored.push(format!(
                "<{} className=\"{}\"> (line {}): not acted on by tribesd run yet",
                e.name,
                e.class_name().unwrap_or("?"),
                e.line
            ));
        }
    }
    Ok(())
}

const STATIC_INTERCEPTOR: &str = "org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor";
const FAILURE_DETECTOR: &str = "org.apache.catalina.tribes.group.interceptors.TcpFailureDetector";
const TCP_PING: &str = "org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor";
const MESSAGE_DISPATCH: &str = "org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor";
const DOMAIN_FILTER: &str = "org.apache.catalina.tribes.group.interceptors.DomainFilterInterceptor";

fn apply_static_interceptor(s: &mut NodeSettings, e: &Element) -> Result<(), ConfigError> {
    for m in &e.children {
        let at = |attr: &str| format!("<{} {attr}> (line {})", m.name, m.line);
        match m.name.as_str() {
            "Member" => {
                let host = m.attr("host").ok_or_else(|| ConfigError(format!("{} is missing", at("host"))))?;
                let port = m.attr("port").ok_or_else(|| ConfigError(format!("{} is missing", at("port"))))?;
                let id = m.attr("uniqueId").ok_or_else(|| ConfigError(format!("{} is missing", at("uniqueId"))))?;
                s.static_members.push(StaticMemberDecl {
                    host: host_address(&at("host"), host)?,
                    port: number(&at("port"), port)?,
                    unique_id: unique_id(&at("uniqueId"), id)?,
                    domain: match m.attr("domain") {
                        Some(d) => parse_domain(d).map_err(|e| ConfigError(format!("{}: {e}", at("domain"))))?,
                        None => bytes::Bytes::new(),
                    },
                    secure_port: m.attr("securePort").map(|p| number(&at("securePort"), p)).transpose()?.unwrap_or(-1),
                });
            }
            "LocalMember" => {
                if let Some(id) = m.attr("uniqueId") {
                    s.local_unique_id = Some(unique_id(&at("uniqueId"), id)?);
                }
            }
            other => s.ignored.push(format!("<{other}> (line {}) inside StaticMembershipInterceptor: ignored", m.line)),
        }
    }
    Ok(())
}

/// `HOST:PORT:{0,1,...,15}`.
fn static_member_flag(v: &str) -> Result<StaticMemberDecl, ConfigError> {
    let what = "--static-member";
    let bad = || ConfigError(format!("{what}: \"{v}\" is not HOST:PORT:{{16 signed bytes}}"));
    let (host_port, id) = v.split_once(":{").ok_or_else(bad)?;
    let (host, port) = host_port.rsplit_once(':').ok_or_else(bad)?;
    Ok(StaticMemberDecl {
        host: host_address(what, host)?,
        port: number(what, port)?,
        unique_id: unique_id(what, &format!("{{{id}"))?,
        domain: bytes::Bytes::new(),
        secure_port: -1,
    })
}

/// A host as Tomcat's StaticMember takes it: an address, or a name resolved now.
fn host_address(what: &str, v: &str) -> Result<IpAddr, ConfigError> {
    if let Ok(ip) = v.trim().parse() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    (v.trim(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| ConfigError(format!("{what}: \"{v}\" is neither an IP address nor a name that resolves")))
}

/// A uniqueId in Tomcat's byte-list syntax, exactly 16 bytes.
fn unique_id(what: &str, v: &str) -> Result<UniqueId, ConfigError> {
    let bytes = tribes_proto::membership::parse_byte_list(v).map_err(|e| ConfigError(format!("{what}: {e}")))?;
    let arr: [u8; 16] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| ConfigError(format!("{what}: \"{v}\" has {} bytes, a uniqueId has 16", bytes.len())))?;
    Ok(UniqueId(arr))
}

fn note_unknown(s: &mut NodeSettings, e: &Element, known: &[&str]) {
    for k in e.attributes.keys().filter(|k| !known.contains(&k.as_str())) {
        s.ignored.push(format!("<{} {k}> (line {}): not acted on by tribesd yet", e.name, e.line));
    }
}

fn ip(what: &str, v: &str) -> Result<IpAddr, ConfigError> {
    v.trim().parse().map_err(|_| ConfigError(format!("{what}: \"{v}\" is not an IP address")))
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, ConfigError> {
    v.trim().parse().map_err(|_| ConfigError(format!("{what}: \"{v}\" is not a valid number here")))
}

/// Tomcat's time attributes are whole milliseconds.
fn millis(what: &str, v: &str) -> Result<Duration, ConfigError> {
    let ms: u64 =
        v.trim().parse().map_err(|_| ConfigError(format!("{what}: \"{v}\" is not a number of milliseconds")))?;
    Ok(Duration::from_millis(ms))
}

/// Tomcat's `ttl` of -1 (or less) means the OS default.
fn ttl(what: &str, v: &str) -> Result<Option<u32>, ConfigError> {
    let t: i64 = number(what, v)?;
    match t {
        t if t < 0 => Ok(None),
        t if t <= 255 => Ok(Some(t as u32)),
        _ => Err(ConfigError(format!("{what}: \"{v}\" is over 255"))),
    }
}

/// Tomcat's IntrospectionUtils reads booleans as Boolean.valueOf: "true" in any case, else false.
/// We refuse anything but true/false so that a typo does not silently mean false.
fn boolean(what: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError(format!("{what}: \"{v}\" is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_xml(body: &str) -> tempfile_path::TempXml {
        tempfile_path::TempXml::new(&format!(
            "<Server><Service><Engine name=\"Catalina\"><Cluster>{body}</Cluster></Engine></Service></Server>"
        ))
    }

    mod tempfile_path {
        pub struct TempXml(pub std::path::PathBuf);
        impl TempXml {
            pub fn new(text: &str) -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let p = std::env::temp_dir().join(format!("tribesd-config-{}-{n}.xml", std::process::id()));
                std::fs::write(&p, text).unwrap();
                TempXml(p)
            }
        }
        impl Drop for TempXml {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn defaults_are_tomcats() {
        let s = ClusterArgs::default().settings().unwrap();
        assert_eq!(s.membership, McastConfig::default());
        assert_eq!((s.receiver_address.as_str(), s.receiver_port, s.receiver_auto_bind), ("auto", 4000, 100));
    }

    #[test]
    fn server_xml_attributes_apply_and_flags_override_them() {
        let xml = write_xml(
            r#"<Channel><Membership className="org.apache.catalina.tribes.membership.McastService" address="228.0.0.5"
               port="45565" frequency="250" dropTime="2000" bind="127.0.0.1" domain="{1,2}" foo="x"/>
               <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="127.0.0.1" port="4100" autoBind="5" maxThreads="6"/>
               <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/></Channel>"#,
        );
        let args = ClusterArgs {
            server_xml: Some(xml.0.clone()),
            membership_drop_time: Some("4000".into()),
            ..Default::default()
        };
        let s = args.settings().unwrap();
        assert_eq!(s.membership.address.to_string(), "228.0.0.5");
        assert_eq!(s.membership.port, 45565);
        assert_eq!(s.membership.frequency, Duration::from_millis(250));
        assert_eq!(s.membership.drop_time, Duration::from_millis(4000));
        assert_eq!(&s.membership.domain[..], &[1, 2]);
        assert_eq!((s.receiver_address.as_str(), s.receiver_port, s.receiver_auto_bind), ("127.0.0.1", 4100, 5));
        let ignored = s.ignored.join("\n");
        assert!(ignored.contains("<Membership foo>"), "{ignored}");
        assert!(ignored.contains("<Receiver maxThreads>"), "{ignored}");
        assert!(!ignored.contains("TcpFailureDetector"), "the failure detector is acted on: {ignored}");
    }

    #[test]
    fn a_bad_value_is_named_with_its_attribute_and_line() {
        let xml = write_xml("\n<Channel><Membership dropTime=\"3s\"/></Channel>");
        let err = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap_err();
        assert_eq!(err.to_string(), "<Membership dropTime> (line 2): \"3s\" is not a number of milliseconds");
        let err =
            ClusterArgs { membership_bind: Some("localhost".into()), ..Default::default() }.settings().unwrap_err();
        assert_eq!(err.to_string(), "--membership-bind: \"localhost\" is not an IP address");
        let err = ClusterArgs { membership_recovery_enabled: Some("yes".into()), ..Default::default() }
            .settings()
            .unwrap_err();
        assert!(err.to_string().contains("\"yes\" is not true or false"));
    }

    #[test]
    fn static_members_come_from_the_interceptor_and_from_flags() {
        let xml = write_xml(
            r#"<Channel><Interceptor className="org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor">
               <LocalMember className="org.apache.catalina.tribes.membership.StaticMember" uniqueId="{1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}"/>
               <Member className="org.apache.catalina.tribes.membership.StaticMember" host="127.0.0.1" port="4001" domain="d"
                       uniqueId="{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1}"/></Interceptor></Channel>"#,
        );
        let args = ClusterArgs {
            server_xml: Some(xml.0.clone()),
            static_member: vec!["127.0.0.2:4002:{2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2}".into()],
            ..Default::default()
        };
        let s = args.settings().unwrap();
        assert_eq!(s.local_unique_id, Some(UniqueId([1; 16])));
        assert_eq!(s.static_members.len(), 2);
        assert_eq!(s.static_members[0].port, 4001);
        assert_eq!(s.static_members[0].unique_id.0[15], 0xff);
        assert_eq!(&s.static_members[0].domain[..], b"d");
        assert_eq!(s.static_members[1].host.to_string(), "127.0.0.2");
        let err = ClusterArgs { static_member: vec!["127.0.0.1:4000:{1,2}".into()], ..Default::default() }
            .settings()
            .unwrap_err();
        assert_eq!(err.to_string(), "--static-member: \"{1,2}\" has 2 bytes, a uniqueId has 16");
    }

    #[test]
    fn failure_detector_and_ping_interceptors_are_read() {
        let xml = write_xml(
            r#"<Channel><Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor" useThread="true" interval="700"/>
               <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector" connectTimeout="250" performReadTest="true"/>
               <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/></Channel>"#,
        );
        let s = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap();
        assert_eq!(s.tcp_ping, Some(Duration::from_millis(700)));
        assert_eq!(s.failure_detector.connect_timeout, Duration::from_millis(250));
        assert!(s.failure_detector.perform_read_test);
        assert!(s.ignored.is_empty(), "{:?}", s.ignored);
    }

    #[test]
    fn static_membership_is_refused_clearly() {
        let xml = write_xml(
            r#"<Channel><Membership className="org.apache.catalina.tribes.membership.StaticMembershipService"/></Channel>"#,
        );
        let err = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap_err();
        assert!(err.to_string().contains("StaticMembershipService"), "{err}");
    }
}
