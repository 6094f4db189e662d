//! `tribesd run`: join the group as a member (heartbeats, a receiver that answers probes and
//! ACKs), replicate the held contexts' sessions as DeltaManager does (data messages go through a
//! GroupChannel to the session service; SYNC ACKs leave after processing), and leave gracefully
//! on SIGINT or SIGTERM with the shutdown heartbeat.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::sync::broadcast;
use tribes::channel::{ChannelConfig, GroupChannel};
use tribes::detector::FailureDetectorService;
use tribes::membership::{MembershipEvent, MembershipService, Mode};
use tribes::receiver::{self, ReceiverConfig, ServeOptions};
use tribes::session::{SessionConfig, SessionService};
use tribes::static_members::StaticMembersService;
use tribes_proto::membership::McastConfig;
use tribes_proto::session::manager::ManagerConfig;
use tribes_proto::session::StateForm;
use tribes_proto::static_members::DEFAULT_PROBE_INTERVAL;
use tribes_wire::{Member, SendOptions, UniqueId};

use crate::config::{ClusterArgs, SessionArgs, SessionSettings};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub sessions: SessionArgs,
    /// Where local tools (`tribesd sessions`, `tribesd session ...`) reach this node.
    #[command(flatten)]
    pub socket: crate::sessions::SocketArg,
}

pub fn run(args: &RunArgs) -> ExitCode {
    let mut settings = match args.cluster.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = args.sessions.apply(&mut settings.sessions) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    for hint in crate::config::context_name_hints(&settings.sessions) {
        tracing::warn!("{hint}");
    }
    let manager = match manager_config(&settings.sessions) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    for note in &settings.ignored {
        tracing::warn!("{note}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        let address = match resolve_receiver_address(&settings.receiver_address) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let rc = ReceiverConfig {
            address,
            port: settings.receiver_port,
            auto_bind: settings.receiver_auto_bind,
            max_frame_len: tribes_wire::frame::DEFAULT_MAX_FRAME_LEN,
        };
        let listener = match receiver::bind(&rc).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let port = listener.local_addr().expect("bound listener has an address").port();
        tracing::info!(%address, port, "receiver listening");
        let unique_id = settings.local_unique_id.unwrap_or_else(|| {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).expect("the OS random source works");
            UniqueId::from_random(id)
        });
        let mut local = Member::new(address, i32::from(port), unique_id, 0);
        local.secure_port = settings.receiver_secure_port;
        local.udp_port = settings.receiver_udp_port;
        // Data messages go through the channel to the session service; a SYNCHRONIZED_ACK sender
        // gets its ACK once the service processed the message.
        let channel = Arc::new(GroupChannel::new(local.clone(), ChannelConfig::default()));
        let (handler, incoming) = channel.incoming();
        let serve = ServeOptions { max_frame_len: rc.max_frame_len, ..ServeOptions::default() };
        let receiver_task = receiver::serve_with(listener, serve, handler);

        // Members of another domain are ignored, as a DomainFilterInterceptor with our domain does
        // (a stock McastService alone would list them).
        let membership = McastConfig { domain_filter: true, ..settings.membership.clone() };
        let service = match MembershipService::start(local.clone(), membership, Mode::Member) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                if let tribes::membership::StartError::Socket(se) = &e {
                    let sc = tribes::mcast::McastSocketConfig {
                        interface: settings.membership.bind.and_then(|b| match b {
                            IpAddr::V4(a) => Some(a),
                            IpAddr::V6(_) => None,
                        }),
                        ..Default::default()
                    };
                    if let Some(h) = tribes::doctor::hint_for_start(se, &sc) {
                        eprintln!("hint: {h}");
                    }
                }
                return ExitCode::from(1);
            }
        };
        tracing::info!(
            member = %local.id(),
            group = %settings.membership.address,
            port = settings.membership.port,
            "joined the group"
        );
        let statics = (!settings.static_members.is_empty()).then(|| {
            let declared = settings.static_members.iter().map(|d| d.to_member()).collect::<Vec<_>>();
            tracing::info!(count = declared.len(), "probing static members");
            StaticMembersService::start(local.clone(), declared, DEFAULT_PROBE_INTERVAL)
        });
        // Membership events go through the TcpFailureDetector: a member is shown once it answers
        // a TCP probe, and kept while it does even if its heartbeats stop.
        let detector = FailureDetectorService::start(local.clone(), settings.failure_detector.clone(), service.subscribe());
        // TcpPingInterceptor above TcpFailureDetector: a forced check of every member each interval.
        let pinger = settings.tcp_ping.map(|interval| {
            let detector = detector.check_handle();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    detector.forced_check();
                }
            })
        });
        // The session service's members: what the failure detector shows, and static members.
        let (member_events, member_events_rx) = broadcast::channel(1024);
        let mut forwarders = vec![forward(detector.subscribe(), member_events.clone())];
        if let Some(statics) = &statics {
            forwarders.push(forward(statics.subscribe(), member_events.clone()));
        }
        let contexts = settings.sessions.contexts.clone();
        if contexts.is_empty() {
            tracing::info!("no contexts held (--context or <Context distributable> in server.xml): sessions are not stored, GET_ALL_SESSIONS is answered with NOCONTEXTMANAGER");
        } else {
            tracing::info!(?contexts, "holding contexts");
        }
        let sessions = Arc::new(SessionService::start(
            channel.clone(),
            incoming,
            detector.members(),
            member_events_rx,
            SessionConfig { manager, contexts, member_wait: MEMBER_WAIT },
        ));
        let control_path = args.socket.path();
        let handler = Arc::new(tribes::control::SessionsHandler { service: sessions.clone() });
        // Without its control socket the node still replicates; only local tools cannot reach it.
        let control = match tribes::control::serve(&control_path, handler) {
            Ok(c) => {
                tracing::info!(path = %control_path.display(), "control socket listening");
                Some(c)
            }
            Err(e) => {
                tracing::warn!(path = %control_path.display(), error = %e, "control socket unavailable");
                None
            }
        };
        let mut events = detector.subscribe();
        let advertised_loopback = address.is_loopback();
        let log_events = tokio::spawn(async move {
            let mut warned = false;
            loop {
                let e = match events.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                match e {
                    MembershipEvent::Added(m) => {
                        tracing::info!(member = %m.id(), alive_ms = m.alive, "member added");
                        let remote = m.ip().is_some_and(|ip| !ip.is_loopback());
                        if advertised_loopback && remote && !warned {
                            tracing::warn!(member = %m.id(),
                                "we advertise a loopback address but this member is remote: it cannot reach us; set --receiver-address (or <Receiver address>) to a reachable address");
                            warned = true;
                        }
                    }
                    MembershipEvent::Updated(_) => {}
                    MembershipEvent::Disappeared { member, reason } => {
                        tracing::info!(member = %member.id(), ?reason, "member disappeared");
                    }
                }
            }
        });
        wait_for_signal().await;
        if let Some(c) = control {
            c.stop();
        }
        // Sessions first (with expireSessionsOnShutdown the EXPIRED messages still have members).
        sessions.stop().await;
        let stats = sessions.stats();
        tracing::info!(
            received = ?stats.manager.received,
            sent = ?stats.manager.sent,
            malformed = stats.manager.malformed,
            filter_rejects = stats.manager.filter_rejects,
            "session service stopped"
        );
        for f in forwarders {
            f.abort();
        }
        tracing::info!("stopping: sending the shutdown heartbeat");
        if let Some(statics) = statics {
            statics.stop().await;
        }
        service.stop().await;
        if let Some(p) = pinger {
            p.abort();
        }
        detector.stop().await;
        log_events.abort();
        receiver_task.abort();
        ExitCode::SUCCESS
    })
}

/// How long the session service waits for members before asking for state (the detector admits
/// a member after its first heartbeat, 500 ms by default, and a TCP probe).
const MEMBER_WAIT: Duration = Duration::from_secs(3);

/// Copies membership events from one source into the session service's channel.
fn forward(
    mut from: broadcast::Receiver<MembershipEvent>,
    to: broadcast::Sender<MembershipEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match from.recv().await {
                Ok(e) => {
                    let _ = to.send(e);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "membership events lost on their way to the session service");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// DeltaManager's attributes in the machine's terms.
pub fn manager_config(s: &SessionSettings) -> Result<ManagerConfig, String> {
    let filter = |what: &str, p: &Option<String>| {
        p.as_deref().map(jser::ClassFilter::allow).transpose().map_err(|e| format!("{what}: {e}"))
    };
    let class_filter = filter("sessionAttributeValueClassNameFilter", &s.session_attribute_value_class_name_filter)?;
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

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
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
    Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
