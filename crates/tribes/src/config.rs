//! Node configuration in Tomcat's words: the `<Cluster>` element of a server.xml read into
//! [`NodeSettings`], with Tomcat's defaults for everything unset. `tribesd run` applies its flags
//! over these settings; the Java bridge (`tribes-jni`) uses them as read from the server.xml.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use tribes_proto::failure_detector::FailureDetectorConfig;
use tribes_proto::membership::{parse_domain, McastConfig};
use tribes_proto::session::manager::ManagerConfig;
use tribes_proto::session::StateForm;
use tribes_wire::{Member, SendOptions, UniqueId};

use crate::channel::ChannelConfig;
use crate::server_xml::{self, Element};

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

/// The receiver's default cap on a frame payload: 1 GiB. Tomcat has none (its i32 length allows
/// 2 GiB) and one state message of 100,000 sessions of 1 KiB is over 100 MB. A declared length
/// costs nothing until its bytes arrive (the decoder reserves at most 64 KiB ahead of them), and
/// the receiver's stall timeout closes a peer that stops sending inside a frame.
pub const DEFAULT_RECEIVER_MAX_FRAME_LEN: usize = 1 << 30;

/// The settings a node runs with.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub membership: McastConfig,
    pub receiver_address: String,
    pub receiver_port: u16,
    pub receiver_auto_bind: u16,
    pub receiver_secure_port: i32,
    pub receiver_udp_port: i32,
    /// The largest frame payload the receiver accepts (tribesd only; Tomcat has no cap)
    /// [`DEFAULT_RECEIVER_MAX_FRAME_LEN`].
    pub receiver_max_frame_length: usize,
    /// StaticMembershipInterceptor members.
    pub static_members: Vec<StaticMemberDecl>,
    /// Our unique id when the configuration fixes it (`<LocalMember uniqueId>`); random otherwise.
    pub local_unique_id: Option<UniqueId>,
    /// `<Interceptor className="...TcpFailureDetector">` attributes (Tomcat's defaults otherwise).
    pub failure_detector: FailureDetectorConfig,
    /// With a TcpPingInterceptor: how often the failure detector re-probes every member.
    pub tcp_ping: Option<Duration>,
    /// A TcpFailureDetector sits below the TcpPingInterceptor (after it in server.xml): the ping
    /// is then a forced check of the detector, not a message.
    pub tcp_ping_detector_below: bool,
    /// `<Interceptor ...TcpPingInterceptor optionFlag>`: the send options of the ping messages [0].
    pub tcp_ping_option_flag: i32,
    /// `<Sender><Transport>` (the pooled sender) and MessageDispatchInterceptor attributes; the
    /// receive queue.
    pub channel: ChannelConfig,
    /// `<Cluster channelSendOptions>` and the `<Manager>` template (DeltaManager's attributes).
    pub sessions: SessionSettings,
    /// Elements and attributes of the server.xml that tribesd does not act on (logged as
    /// warnings at start).
    pub ignored: Vec<String>,
    /// Attributes accepted with another meaning here than in Tomcat (logged at start).
    pub notes: Vec<String>,
}

/// Session replication settings in DeltaManager's words, with its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// The contexts this node holds, by exact cluster manager name ("localhost#/app" when the
    /// `<Cluster>` sits in the `<Engine>`, "/app" in a `<Host>`, "" for ROOT).
    pub contexts: Vec<String>,
    /// Where the `<Cluster>` sits, when read from a server.xml (for the naming hint).
    pub placement: Option<server_xml::ClusterPlacement>,
    /// `<Cluster channelSendOptions>` [8].
    pub channel_send_options: i32,
    /// `stateTransferTimeout` in seconds [60]; -1 waits forever, 0 does not wait.
    pub state_transfer_timeout: i64,
    /// `sendAllSessions` [true].
    pub send_all_sessions: bool,
    /// `sendAllSessionsSize` [1000].
    pub send_all_sessions_size: u32,
    /// `sendAllSessionsWaitTime` [2000 ms].
    pub send_all_sessions_wait_time: Duration,
    /// `stateTimestampDrop` [true].
    pub state_timestamp_drop: bool,
    /// `notifyListenersOnReplication` [true].
    pub notify_listeners_on_replication: bool,
    /// `notifySessionListenersOnReplication` [true].
    pub notify_session_listeners_on_replication: bool,
    /// `notifyContainerListenersOnReplication` [true].
    pub notify_container_listeners_on_replication: bool,
    /// `recordAllActions` [false].
    pub record_all_actions: bool,
    /// `expireSessionsOnShutdown` [false].
    pub expire_sessions_on_shutdown: bool,
    /// `sessionAttributeNameFilter`: a regex over attribute names; others are not replicated.
    pub session_attribute_name_filter: Option<String>,
    /// `sessionAttributeValueClassNameFilter`: the class firewall for values (a regex over class names).
    pub session_attribute_value_class_name_filter: Option<String>,
    /// The webapps' `<session-timeout>` in minutes [30]: maxInactiveInterval of new sessions.
    pub session_timeout_minutes: i32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            contexts: Vec::new(),
            placement: None,
            channel_send_options: 8,
            state_transfer_timeout: 60,
            send_all_sessions: true,
            send_all_sessions_size: 1000,
            send_all_sessions_wait_time: Duration::from_millis(2000),
            state_timestamp_drop: true,
            notify_listeners_on_replication: true,
            notify_session_listeners_on_replication: true,
            notify_container_listeners_on_replication: true,
            record_all_actions: false,
            expire_sessions_on_shutdown: false,
            session_attribute_name_filter: None,
            session_attribute_value_class_name_filter: None,
            session_timeout_minutes: 30,
        }
    }
}

impl NodeSettings {
    /// Tomcat's defaults for every attribute (no server.xml).
    pub fn defaults() -> NodeSettings {
        NodeSettings {
            membership: McastConfig::default(),
            receiver_address: "auto".into(),
            receiver_port: 4000,
            receiver_auto_bind: 100,
            receiver_secure_port: -1,
            receiver_udp_port: -1,
            receiver_max_frame_length: DEFAULT_RECEIVER_MAX_FRAME_LEN,
            static_members: Vec::new(),
            local_unique_id: None,
            failure_detector: FailureDetectorConfig::default(),
            tcp_ping: None,
            tcp_ping_detector_below: false,
            tcp_ping_option_flag: 0,
            channel: ChannelConfig::default(),
            sessions: SessionSettings::default(),
            ignored: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Logs what the configuration asks that tribesd does not act on (warnings) and what it takes
    /// with another meaning than Tomcat's (info), once at start.
    pub fn log_start_notes(&self) {
        for note in &self.ignored {
            tracing::warn!("{note}");
        }
        for note in &self.notes {
            tracing::info!("{note}");
        }
    }

    /// The `<Cluster>` of the server.xml at `path` (with several `<Host>`s holding one, the one of
    /// `cluster_host`) over Tomcat's defaults.
    pub fn from_server_xml(path: &Path, cluster_host: Option<&str>) -> Result<NodeSettings, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let found =
            server_xml::parse(&text, cluster_host).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let mut s = NodeSettings::defaults();
        apply_xml(&mut s, &found.cluster)?;
        let unknown = apply_sessions_xml(&mut s.sessions, &found.cluster)?;
        s.ignored.extend(unknown);
        s.sessions.placement = Some(found.placement.clone());
        Ok(s)
    }
}

impl SessionSettings {
    /// DeltaManager's attributes in the machine's terms.
    pub fn manager_config(&self) -> Result<ManagerConfig, String> {
        let s = self;
        let filter = |what: &str, p: &Option<String>| {
            p.as_deref().map(jser::ClassFilter::allow).transpose().map_err(|e| format!("{what}: {e}"))
        };
        let class_filter =
            filter("sessionAttributeValueClassNameFilter", &s.session_attribute_value_class_name_filter)?;
        let parse = jser::ParseOptions { filter: class_filter, ..jser::ParseOptions::default() };
        Ok(ManagerConfig {
            // Tomcat: -1 waits forever, > 0 waits that many seconds, anything else does not wait.
            state_transfer_timeout: match s.state_transfer_timeout {
                -1 => None,
                t if t > 0 => Some(Duration::from_secs(t as u64)),
                _ => Some(Duration::ZERO),
            },
            send_all_sessions: s.send_all_sessions,
            send_all_sessions_size: (s.send_all_sessions_size as usize).max(1),
            send_all_sessions_wait_time: s.send_all_sessions_wait_time,
            state_timestamp_drop: s.state_timestamp_drop,
            notify_listeners_on_replication: s.notify_listeners_on_replication,
            notify_session_listeners_on_replication: s.notify_session_listeners_on_replication,
            notify_container_listeners_on_replication: s.notify_container_listeners_on_replication,
            record_all_actions: s.record_all_actions,
            expire_sessions_on_shutdown: s.expire_sessions_on_shutdown,
            channel_send_options: SendOptions(s.channel_send_options),
            max_inactive_interval: s.session_timeout_minutes.saturating_mul(60),
            parse,
            attribute_name_filter: filter("sessionAttributeNameFilter", &s.session_attribute_name_filter)?,
            state_form: StateForm::WithNotes,
            ..ManagerConfig::default()
        })
    }
}

/// Naming hints: a context name that a stock node with this `<Cluster>` placement would not use.
pub fn context_name_hints(s: &SessionSettings) -> Vec<String> {
    let mut hints = Vec::new();
    for c in &s.contexts {
        match &s.placement {
            Some(server_xml::ClusterPlacement::Engine { .. }) if !c.contains('#') => hints.push(format!(
                "context \"{c}\": with the <Cluster> inside the <Engine>, stock nodes name it \"HOST#{c}\" (for example \"localhost#{c}\")"
            )),
            Some(server_xml::ClusterPlacement::Host { host, .. }) if c.starts_with(&format!("{host}#")) => {
                hints.push(format!(
                    "context \"{c}\": with the <Cluster> inside <Host name=\"{host}\">, stock nodes name it without the \"{host}#\" prefix"
                ))
            }
            _ => {}
        }
        if !c.is_empty() && !c.starts_with('/') && !c.contains("#/") && !c.ends_with('#') {
            hints.push(format!("context \"{c}\": Tomcat's context names start with \"/\" (\"\" is ROOT)"));
        }
    }
    hints
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
/// NioReceiver attributes that size Tomcat's selector loop and worker pool: tribesd serves every
/// connection as a task of its runtime, so they are accepted and mean nothing more here.
const RECEIVER_POOL_ATTRS: &[&str] = &["selectorTimeout", "maxThreads", "minThreads", "maxIdleTime"];
const TRANSPORT_ATTRS: &[&str] = &[
    "className",
    "timeout",
    "poolSize",
    "maxWait",
    "maxRetryAttempts",
    "keepAliveCount",
    "keepAliveTime",
    "tcpNoDelay",
    "soKeepAlive",
    "rxBufSize",
    "txBufSize",
    "throwOnFailedAck",
];
const DISPATCH_ATTRS: &[&str] = &["className", "maxQueueSize", "alwaysSend"];
/// MessageDispatchInterceptor's thread pool: tribesd writes each member's queue with one task
/// that lives while the queue has frames.
const DISPATCH_POOL_ATTRS: &[&str] = &["maxThreads", "maxSpareThreads", "keepAliveTime"];

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
        for k in r.attributes.keys().filter(|k| RECEIVER_POOL_ATTRS.contains(&k.as_str())) {
            s.notes.push(format!(
                "<Receiver {k}> (line {}): accepted; tribesd serves each connection as a task of its runtime, there is no selector loop or worker pool to size",
                r.line
            ));
        }
        note_unknown(s, r, &[RECEIVER_ATTRS, RECEIVER_POOL_ATTRS].concat());
    }
    if let Some(sender) = channel.child("Sender") {
        note_unknown(s, sender, &["className"]);
        if let Some(t) = sender.child("Transport") {
            apply_transport(s, t)?;
        }
        for c in sender.children.iter().filter(|c| c.name != "Transport") {
            s.ignored.push(format!("<{}> (line {}) inside <Sender>: not acted on by tribesd", c.name, c.line));
        }
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
            if let Some(v) = e.attr("optionFlag") {
                s.tcp_ping_option_flag = number(&at("optionFlag"), v)?;
            }
            // Interceptors are stacked in file order: one listed later sits below.
            s.tcp_ping_detector_below = channel
                .children
                .iter()
                .skip_while(|c| !std::ptr::eq(*c, e))
                .any(|c| c.name == "Interceptor" && c.class_name() == Some(FAILURE_DETECTOR));
            note_unknown(s, e, &["className", "interval", "useThread", "staticOnly", "optionFlag"]);
        } else if e.name == "Interceptor" && e.class_name() == Some(MESSAGE_DISPATCH) {
            // tribesd's channel queues asynchronous sends itself, with these attributes.
            let d = &mut s.channel.dispatch;
            for (k, v) in &e.attributes {
                match k.as_str() {
                    "maxQueueSize" => d.max_queue_size = number(&at(k), v)?,
                    "alwaysSend" => d.always_send = boolean(&at(k), v)?,
                    _ => {}
                }
            }
            for k in e.attributes.keys().filter(|k| DISPATCH_POOL_ATTRS.contains(&k.as_str())) {
                s.notes.push(format!(
                    "<Interceptor {k}> (line {}) of MessageDispatchInterceptor: accepted; tribesd writes each member's queue with one task while it has frames, there is no thread pool to size",
                    e.line
                ));
            }
            note_unknown(s, e, &[DISPATCH_ATTRS, DISPATCH_POOL_ATTRS].concat());
        } else if e.name == "Interceptor" && e.class_name() == Some(DOMAIN_FILTER) {
            // tribesd always ignores members of other domains.
        } else if e.name != "Membership" && e.name != "Receiver" && e.name != "Sender" {
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

/// `<Transport>` inside `<Sender>`: the pooled sender's attributes.
fn apply_transport(s: &mut NodeSettings, t: &Element) -> Result<(), ConfigError> {
    const PARALLEL: &str = "org.apache.catalina.tribes.transport.nio.PooledParallelSender";
    if let Some(class) = t.class_name().filter(|c| *c != PARALLEL) {
        s.ignored.push(format!(
            "<Transport className=\"{class}\"> (line {}): tribesd sends as PooledParallelSender does",
            t.line
        ));
    }
    let at = |attr: &str| format!("<Transport {attr}> (line {})", t.line);
    // Tomcat's -1 means "no limit" for the keep-alive attributes.
    let unlimited = |v: &str| v.trim() == "-1";
    let c = &mut s.channel.sender;
    for (k, v) in &t.attributes {
        match k.as_str() {
            "timeout" => c.timeout = millis(&at(k), v)?,
            "poolSize" => c.pool_size = positive(&at(k), v)? as usize,
            "maxWait" => c.max_wait = millis(&at(k), v)?,
            "maxRetryAttempts" => c.max_retry_attempts = number(&at(k), v)?,
            "keepAliveCount" => c.keep_alive_count = if unlimited(v) { None } else { Some(number(&at(k), v)?) },
            "keepAliveTime" => c.keep_alive_time = if unlimited(v) { None } else { Some(millis(&at(k), v)?) },
            "tcpNoDelay" => c.tcp_no_delay = boolean(&at(k), v)?,
            "soKeepAlive" => c.so_keep_alive = boolean(&at(k), v)?,
            "rxBufSize" => c.rx_buf_size = number(&at(k), v)?,
            "txBufSize" => c.tx_buf_size = number(&at(k), v)?,
            "throwOnFailedAck" => c.throw_on_failed_ack = boolean(&at(k), v)?,
            _ => {}
        }
    }
    note_unknown(s, t, TRANSPORT_ATTRS);
    Ok(())
}

const DELTA_MANAGER: &str = "org.apache.catalina.ha.session.DeltaManager";
/// The Java bridge's Manager (java-bridge/): DeltaManager's attributes, replicated by this node.
const TRIBESD_MANAGER: &str = "io.tribesd.tomcat.TribesdManager";

/// `<Cluster channelSendOptions>` and the `<Manager>` template inside the `<Cluster>`.
/// Returns the `<Manager>` attributes it does not act on.
fn apply_sessions_xml(s: &mut SessionSettings, cluster: &Element) -> Result<Vec<String>, ConfigError> {
    if let Some(v) = cluster.attr("channelSendOptions") {
        s.channel_send_options = send_options(&format!("<Cluster channelSendOptions> (line {})", cluster.line), v)?;
    }
    let mut unknown = Vec::new();
    let Some(m) = cluster.child("Manager") else { return Ok(unknown) };
    let class = m.class_name().unwrap_or(DELTA_MANAGER);
    if class != DELTA_MANAGER && class != TRIBESD_MANAGER {
        return Err(ConfigError(format!(
            "<Manager className=\"{class}\"> (line {}) is not supported: tribesd replicates as DeltaManager",
            m.line
        )));
    }
    let at = |attr: &str| format!("<Manager {attr}> (line {})", m.line);
    for (k, v) in &m.attributes {
        match k.as_str() {
            "stateTransferTimeout" => s.state_transfer_timeout = state_transfer_timeout(&at(k), v)?,
            "sendAllSessions" => s.send_all_sessions = boolean(&at(k), v)?,
            "sendAllSessionsSize" => s.send_all_sessions_size = positive(&at(k), v)?,
            "sendAllSessionsWaitTime" => s.send_all_sessions_wait_time = millis(&at(k), v)?,
            "stateTimestampDrop" => s.state_timestamp_drop = boolean(&at(k), v)?,
            "notifyListenersOnReplication" => s.notify_listeners_on_replication = boolean(&at(k), v)?,
            "notifySessionListenersOnReplication" => s.notify_session_listeners_on_replication = boolean(&at(k), v)?,
            "notifyContainerListenersOnReplication" => {
                s.notify_container_listeners_on_replication = boolean(&at(k), v)?
            }
            "recordAllActions" => s.record_all_actions = boolean(&at(k), v)?,
            "expireSessionsOnShutdown" => s.expire_sessions_on_shutdown = boolean(&at(k), v)?,
            "sessionAttributeNameFilter" => s.session_attribute_name_filter = Some(regex_text(&at(k), v)?),
            "sessionAttributeValueClassNameFilter" => {
                s.session_attribute_value_class_name_filter = Some(regex_text(&at(k), v)?)
            }
            k if !MANAGER_JAVA_ATTRS.contains(&k) => {
                unknown.push(format!("<Manager {k}> (line {}): not acted on by tribesd", m.line))
            }
            _ => {}
        }
    }
    Ok(unknown)
}

/// `<Manager>` attributes that Tomcat's own ManagerBase acts on (inside Tomcat, with the bridge's
/// TribesdManager); the node has nothing to do with them.
const MANAGER_JAVA_ATTRS: &[&str] = &[
    "className",
    "name",
    "maxActiveSessions",
    "processExpiresFrequency",
    "secureRandomClass",
    "secureRandomAlgorithm",
    "secureRandomProvider",
    "persistAuthentication",
    "notifyBindingListenerOnUnchangedValue",
    "notifyAttributeListenerOnUnchangedValue",
    "warnOnSessionAttributeFilterFailure",
    "duplicates",
    "sessionMaxAliveTime",
    "sessionAverageAliveTime",
];

pub fn send_options(what: &str, v: &str) -> Result<i32, ConfigError> {
    tribes_wire::SendOptions::parse(v).map(|o| o.bits()).map_err(|e| ConfigError(format!("{what}: \"{v}\": {e}")))
}

pub fn state_transfer_timeout(what: &str, v: &str) -> Result<i64, ConfigError> {
    let n: i64 = number(what, v)?;
    if n < -1 {
        return Err(ConfigError(format!("{what}: \"{v}\": seconds, or -1 to wait forever")));
    }
    Ok(n)
}

pub fn positive(what: &str, v: &str) -> Result<u32, ConfigError> {
    match v.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError(format!("{what}: \"{v}\" is not a number above 0"))),
    }
}

pub fn regex_text(what: &str, v: &str) -> Result<String, ConfigError> {
    jser::ClassFilter::allow(v).map_err(|e| ConfigError(format!("{what}: \"{v}\": {e}")))?;
    Ok(v.to_string())
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
pub fn static_member_flag(v: &str) -> Result<StaticMemberDecl, ConfigError> {
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
pub fn host_address(what: &str, v: &str) -> Result<IpAddr, ConfigError> {
    if let Ok(ip) = v.trim().parse() {
        return Ok(ip);
    }
    (v.trim(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| ConfigError(format!("{what}: \"{v}\" is neither an IP address nor a name that resolves")))
}

/// A uniqueId in Tomcat's byte-list syntax, exactly 16 bytes.
pub fn unique_id(what: &str, v: &str) -> Result<UniqueId, ConfigError> {
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

pub fn ip(what: &str, v: &str) -> Result<IpAddr, ConfigError> {
    v.trim().parse().map_err(|_| ConfigError(format!("{what}: \"{v}\" is not an IP address")))
}

pub fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, ConfigError> {
    v.trim().parse().map_err(|_| ConfigError(format!("{what}: \"{v}\" is not a valid number here")))
}

/// Tomcat's time attributes are whole milliseconds.
pub fn millis(what: &str, v: &str) -> Result<Duration, ConfigError> {
    let ms: u64 =
        v.trim().parse().map_err(|_| ConfigError(format!("{what}: \"{v}\" is not a number of milliseconds")))?;
    Ok(Duration::from_millis(ms))
}

/// Tomcat's `ttl` of -1 (or less) means the OS default.
pub fn ttl(what: &str, v: &str) -> Result<Option<u32>, ConfigError> {
    let t: i64 = number(what, v)?;
    match t {
        t if t < 0 => Ok(None),
        t if t <= 255 => Ok(Some(t as u32)),
        _ => Err(ConfigError(format!("{what}: \"{v}\" is over 255"))),
    }
}

/// Tomcat's IntrospectionUtils reads booleans as Boolean.valueOf: "true" in any case, else false.
/// We refuse anything but true/false so that a typo does not silently mean false.
pub fn boolean(what: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError(format!("{what}: \"{v}\" is not true or false"))),
    }
}

/// `<Receiver address>`: an IP address, or `auto` as Tomcat resolves it (the address of this
/// host's name), except that a loopback answer is replaced by an interface address so that
/// remote peers can reach us. The choice and its reason are logged.
pub fn resolve_receiver_address(value: &str) -> Result<IpAddr, String> {
    if value != "auto" {
        return value
            .parse()
            .map_err(|_| format!("<Receiver address>: \"{value}\" is neither \"auto\" nor an IP address"));
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    let by_name: Option<IpAddr> =
        (host.as_str(), 0).to_socket_addrs().ok().and_then(|mut a| a.find(|a| a.is_ipv4()).map(|a| a.ip()));
    if let Some(ip) = by_name.filter(|ip| !ip.is_loopback()) {
        tracing::info!(%ip, host = %host, "receiver address auto: the host name's address");
        return Ok(ip);
    }
    let interface =
        if_addrs::get_if_addrs().unwrap_or_default().into_iter().find(|i| !i.is_loopback() && i.ip().is_ipv4());
    if let Some(i) = interface {
        tracing::info!(ip = %i.ip(), interface = %i.name, host = %host, resolved = ?by_name,
            "receiver address auto: the host name resolves to a loopback address (or nothing), so the first non-loopback interface address is advertised instead");
        return Ok(i.ip());
    }
    tracing::warn!(
        "receiver address auto: this host has only loopback addresses; only members on this host can reach 127.0.0.1"
    );
    Ok(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}
