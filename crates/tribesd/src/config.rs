//! Node configuration in Tomcat's words: the `<Cluster>` element of a server.xml, overridden by
//! flags named after the element and attribute (`--membership-drop-time` is `<Membership
//! dropTime>`), with Tomcat's defaults for everything unset. The settings and the server.xml
//! reading are `tribes::config`'s (shared with the Java bridge); only the flags are here.

use std::path::PathBuf;

use clap::Args;
use tribes::config::{
    boolean, ip, millis, number, positive, regex_text, send_options, state_transfer_timeout, static_member_flag, ttl,
    unique_id,
};
use tribes_proto::membership::parse_domain;

pub use tribes::config::{context_name_hints, ConfigError, NodeSettings, SessionSettings};

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
    /// The largest frame payload the receiver accepts, in bytes; tribesd only, Tomcat has no cap
    /// [default: 1073741824 (1 GiB)].
    #[arg(long, value_name = "BYTES")]
    pub receiver_max_frame_length: Option<String>,
    /// A StaticMembershipInterceptor <Member>: HOST:PORT:{uniqueId as 16 signed bytes}; repeatable.
    #[arg(long, value_name = "HOST:PORT:{ID}")]
    pub static_member: Vec<String>,
    /// The StaticMembershipInterceptor <LocalMember uniqueId>: our own id, as the other nodes declare it.
    #[arg(long, value_name = "{ID}")]
    pub local_member_unique_id: Option<String>,
}
/// `tribesd run` flags for session replication; they override the server.xml.
#[derive(Debug, Clone, Default, Args)]
pub struct SessionArgs {
    /// A context this node holds, by its cluster manager name ("localhost#/app" when the
    /// <Cluster> is in the <Engine>, "/app" when it is in a <Host>, "" for ROOT); repeatable.
    #[arg(long = "context", value_name = "NAME")]
    pub contexts: Vec<String>,
    /// <Cluster channelSendOptions>: a number or names like "async", "use_ack,sync" [default: 8].
    #[arg(long)]
    pub channel_send_options: Option<String>,
    /// <Manager stateTransferTimeout> in seconds; -1 waits forever [default: 60].
    #[arg(long)]
    pub manager_state_transfer_timeout: Option<String>,
    /// <Manager sendAllSessions> [default: true].
    #[arg(long)]
    pub manager_send_all_sessions: Option<String>,
    /// <Manager sendAllSessionsSize> [default: 1000].
    #[arg(long)]
    pub manager_send_all_sessions_size: Option<String>,
    /// <Manager sendAllSessionsWaitTime> in ms [default: 2000].
    #[arg(long)]
    pub manager_send_all_sessions_wait_time: Option<String>,
    /// <Manager stateTimestampDrop> [default: true].
    #[arg(long)]
    pub manager_state_timestamp_drop: Option<String>,
    /// <Manager expireSessionsOnShutdown> [default: false].
    #[arg(long)]
    pub manager_expire_sessions_on_shutdown: Option<String>,
    /// <Manager sessionAttributeValueClassNameFilter>: the class firewall (a regex).
    #[arg(long)]
    pub manager_session_attribute_value_class_name_filter: Option<String>,
    /// <Manager sessionAttributeNameFilter> (a regex).
    #[arg(long)]
    pub manager_session_attribute_name_filter: Option<String>,
    /// The webapps' <session-timeout> in minutes: maxInactiveInterval of sessions created here [default: 30].
    #[arg(long)]
    pub session_timeout: Option<String>,
}

impl SessionArgs {
    /// Applies the flags over `s` (the server.xml's values or the defaults).
    pub fn apply(&self, s: &mut SessionSettings) -> Result<(), ConfigError> {
        let flag = |name: &str| format!("--{name}");
        s.contexts.extend(self.contexts.iter().cloned());
        if let Some(v) = &self.channel_send_options {
            s.channel_send_options = send_options(&flag("channel-send-options"), v)?;
        }
        if let Some(v) = &self.manager_state_transfer_timeout {
            s.state_transfer_timeout = state_transfer_timeout(&flag("manager-state-transfer-timeout"), v)?;
        }
        if let Some(v) = &self.manager_send_all_sessions {
            s.send_all_sessions = boolean(&flag("manager-send-all-sessions"), v)?;
        }
        if let Some(v) = &self.manager_send_all_sessions_size {
            s.send_all_sessions_size = positive(&flag("manager-send-all-sessions-size"), v)?;
        }
        if let Some(v) = &self.manager_send_all_sessions_wait_time {
            s.send_all_sessions_wait_time = millis(&flag("manager-send-all-sessions-wait-time"), v)?;
        }
        if let Some(v) = &self.manager_state_timestamp_drop {
            s.state_timestamp_drop = boolean(&flag("manager-state-timestamp-drop"), v)?;
        }
        if let Some(v) = &self.manager_expire_sessions_on_shutdown {
            s.expire_sessions_on_shutdown = boolean(&flag("manager-expire-sessions-on-shutdown"), v)?;
        }
        if let Some(v) = &self.manager_session_attribute_value_class_name_filter {
            s.session_attribute_value_class_name_filter =
                Some(regex_text(&flag("manager-session-attribute-value-class-name-filter"), v)?);
        }
        if let Some(v) = &self.manager_session_attribute_name_filter {
            s.session_attribute_name_filter = Some(regex_text(&flag("manager-session-attribute-name-filter"), v)?);
        }
        if let Some(v) = &self.session_timeout {
            s.session_timeout_minutes = number(&flag("session-timeout"), v)?;
        }
        Ok(())
    }
}

impl ClusterArgs {
    /// Reads the server.xml (if any) and applies the flags over it.
    pub fn settings(&self) -> Result<NodeSettings, ConfigError> {
        let mut s = match &self.server_xml {
            Some(path) => NodeSettings::from_server_xml(path, self.cluster_host.as_deref())?,
            None => NodeSettings::defaults(),
        };
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
        if let Some(v) = &self.receiver_max_frame_length {
            s.receiver_max_frame_length = positive(&flag("receiver-max-frame-length"), v)? as usize;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tribes::server_xml;
    use tribes_proto::membership::McastConfig;
    use tribes_wire::UniqueId;

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
        assert!(s.notes.join("\n").contains("<Receiver maxThreads>"), "{:?}", s.notes);
        assert!(!ignored.contains("TcpFailureDetector"), "the failure detector is acted on: {ignored}");
    }

    /// The seed's `<Sender><Transport>` and MessageDispatchInterceptor attributes configure the
    /// node's sender and async queue; the receiver's pool sizes are accepted with a note; what is
    /// not acted on (anywhere in the `<Channel>` or the `<Manager>`) is named with its line.
    #[test]
    fn transport_and_dispatch_attributes_apply_and_the_rest_is_named() {
        let xml = write_xml(
            r#"<Manager className="org.apache.catalina.ha.session.DeltaManager" maxActiveSessions="10" bogus="1"/>
               <Channel className="org.apache.catalina.tribes.group.GroupChannel">
               <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" selectorTimeout="5000" maxThreads="6" rxBufSize="100"/>
               <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
                 <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender" timeout="60000"
                   poolSize="10" maxWait="500" maxRetryAttempts="2" keepAliveCount="100" keepAliveTime="-1"
                   tcpNoDelay="false" soKeepAlive="true" rxBufSize="1000" txBufSize="2000" throwOnFailedAck="false" directBuffer="true"/>
               </Sender>
               <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"
                 maxQueueSize="1048576" alwaysSend="false" keepAliveTime="7000" maxThreads="4"/>
               </Channel>"#,
        );
        let s = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap();
        let c = &s.channel.sender;
        assert_eq!((c.timeout, c.pool_size, c.max_wait), (Duration::from_secs(60), 10, Duration::from_millis(500)));
        assert_eq!((c.max_retry_attempts, c.keep_alive_count, c.keep_alive_time), (2, Some(100), None));
        assert_eq!((c.tcp_no_delay, c.so_keep_alive, c.rx_buf_size, c.tx_buf_size), (false, true, 1000, 2000));
        assert!(!c.throw_on_failed_ack);
        let d = &s.channel.dispatch;
        assert_eq!((d.max_queue_size, d.always_send), (1 << 20, false));
        let ignored = s.ignored.join("\n");
        for named in ["<Transport directBuffer>", "<Receiver rxBufSize>", "<Manager bogus>"] {
            assert!(ignored.contains(named), "{named} not named in:\n{ignored}");
        }
        for acted in ["Sender", "MessageDispatchInterceptor", "selectorTimeout", "maxThreads", "maxActiveSessions"] {
            assert!(!ignored.contains(acted), "{acted} is taken, not ignored:\n{ignored}");
        }
        let notes = s.notes.join("\n");
        for noted in [
            "<Receiver selectorTimeout>",
            "<Receiver maxThreads>",
            "<Interceptor maxThreads>",
            "<Interceptor keepAliveTime>",
        ] {
            assert!(notes.contains(noted), "{noted} not noted in:\n{notes}");
        }

        let bad = write_xml(r#"<Channel><Sender><Transport timeout="3s"/></Sender></Channel>"#);
        let err = ClusterArgs { server_xml: Some(bad.0.clone()), ..Default::default() }.settings().unwrap_err();
        assert_eq!(err.to_string(), "<Transport timeout> (line 1): \"3s\" is not a number of milliseconds");
        let bad = write_xml(r#"<Channel><Sender><Transport poolSize="0"/></Sender></Channel>"#);
        let err = ClusterArgs { server_xml: Some(bad.0.clone()), ..Default::default() }.settings().unwrap_err();
        assert!(err.to_string().contains("<Transport poolSize> (line 1): \"0\""), "{err}");
    }

    #[test]
    fn the_receiver_frame_cap_is_one_gib_unless_the_flag_sets_it() {
        let s = ClusterArgs::default().settings().unwrap();
        assert_eq!(s.receiver_max_frame_length, 1 << 30);
        let args = ClusterArgs { receiver_max_frame_length: Some("2000000000".into()), ..Default::default() };
        assert_eq!(args.settings().unwrap().receiver_max_frame_length, 2_000_000_000);
        let err = ClusterArgs { receiver_max_frame_length: Some("0".into()), ..Default::default() }.settings();
        assert!(err.unwrap_err().to_string().contains("--receiver-max-frame-length"));
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
        assert!(s.tcp_ping_detector_below, "the detector is listed after the ping: below it");
        assert!(s.ignored.is_empty(), "{:?}", s.ignored);
        // Without a detector below, the ping is a message with the optionFlag options.
        let xml = write_xml(
            r#"<Channel><Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
               <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor" optionFlag="8"/></Channel>"#,
        );
        let s = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap();
        assert_eq!(s.tcp_ping, Some(Duration::from_secs(5)), "on the channel heartbeat without useThread");
        assert!(!s.tcp_ping_detector_below);
        assert_eq!(s.tcp_ping_option_flag, 8);
    }

    #[test]
    fn static_membership_is_refused_clearly() {
        let xml = write_xml(
            r#"<Channel><Membership className="org.apache.catalina.tribes.membership.StaticMembershipService"/></Channel>"#,
        );
        let err = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap_err();
        assert!(err.to_string().contains("StaticMembershipService"), "{err}");
    }

    #[test]
    fn manager_and_send_options_come_from_the_cluster_and_flags_override_them() {
        let xml = write_xml(
            r#"<Manager className="org.apache.catalina.ha.session.DeltaManager" stateTransferTimeout="5"
                        sendAllSessions="false" sendAllSessionsSize="10" sendAllSessionsWaitTime="50"
                        sessionAttributeValueClassNameFilter="java\.lang\..*"/>
               <Channel/>"#,
        );
        let s = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap();
        let m = &s.sessions;
        assert_eq!(m.state_transfer_timeout, 5);
        assert!(!m.send_all_sessions);
        assert_eq!(m.send_all_sessions_size, 10);
        assert_eq!(m.send_all_sessions_wait_time, Duration::from_millis(50));
        assert_eq!(m.session_attribute_value_class_name_filter.as_deref(), Some("java\\.lang\\..*"));
        assert_eq!(m.channel_send_options, 8, "the howto's default");
        assert!(matches!(m.placement, Some(server_xml::ClusterPlacement::Engine { .. })));
        assert_eq!(SessionSettings::default().state_transfer_timeout, 60);

        let mut m = s.sessions.clone();
        let flags = SessionArgs {
            contexts: vec!["/app".into()],
            channel_send_options: Some("6".into()),
            manager_state_transfer_timeout: Some("-1".into()),
            ..Default::default()
        };
        flags.apply(&mut m).unwrap();
        assert_eq!((m.channel_send_options, m.state_transfer_timeout), (6, -1));
        assert_eq!(m.contexts, vec!["/app".to_string()]);
        // In the Engine, stock nodes say "localhost#/app": a hint names the difference.
        let hints = context_name_hints(&m);
        assert!(hints.iter().any(|h| h.contains("localhost#/app")), "{hints:?}");
    }

    #[test]
    fn bad_manager_values_are_named() {
        let xml = write_xml(r#"<Manager sendAllSessionsSize="0"/><Channel/>"#);
        let err = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap_err();
        assert!(
            err.to_string().contains("<Manager sendAllSessionsSize>") && err.to_string().contains("\"0\""),
            "{err}"
        );
        let xml = write_xml(r#"<Manager className="org.apache.catalina.ha.session.BackupManager"/><Channel/>"#);
        let err = ClusterArgs { server_xml: Some(xml.0.clone()), ..Default::default() }.settings().unwrap_err();
        assert!(err.to_string().contains("BackupManager"), "{err}");
        let mut m = SessionSettings::default();
        let flags = SessionArgs { channel_send_options: Some("fast".into()), ..Default::default() };
        let err = flags.apply(&mut m).unwrap_err();
        assert!(err.to_string().contains("--channel-send-options") && err.to_string().contains("fast"), "{err}");
        let flags =
            SessionArgs { manager_session_attribute_value_class_name_filter: Some("(".into()), ..Default::default() };
        assert!(flags.apply(&mut m).unwrap_err().to_string().contains("class-name-filter"));
    }
}
