//! One cluster node, assembled from [`NodeSettings`]: the receiver, multicast membership (and
//! static members), the TCP failure detector, the GroupChannel and the session service, with an
//! optional control socket. `tribesd run` and the Java bridge (`tribes-jni`) both run this.
//!
//! [`Node::start`] must be called inside a tokio runtime; [`Node::stop`] leaves gracefully (the
//! session service first, then the shutdown heartbeat).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tribes_proto::membership::McastConfig;
use tribes_proto::session::store::Store;
use tribes_proto::static_members::DEFAULT_PROBE_INTERVAL;
use tribes_wire::{Member, UniqueId};

use crate::channel::GroupChannel;
use crate::config::{resolve_receiver_address, NodeSettings};
use crate::detector::FailureDetectorService;
use crate::membership::{MembershipEvent, MembershipService, Mode};
use crate::receiver::{self, ReceiverConfig, ServeOptions};
use crate::session::{SessionConfig, SessionService};
use crate::static_members::StaticMembersService;

/// What differs between the programs that run a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Serve the control socket (`tribesd sessions`, `tribesd session ...`) at this path.
    pub control_socket: Option<PathBuf>,
    /// How long the session service waits for members before asking for state.
    pub member_wait: Duration,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions { control_socket: None, member_wait: MEMBER_WAIT }
    }
}

/// How long the session service waits for members before asking for state (the detector admits
/// a member after its first heartbeat, 500 ms by default, and a TCP probe).
pub const MEMBER_WAIT: Duration = Duration::from_secs(3);

/// Why a node did not start. Nothing is left running.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A setting cannot be used (the message names it).
    #[error("{0}")]
    Config(String),
    /// The receiver could not bind any port of its range.
    #[error("{0}")]
    Receiver(receiver::BindError),
    /// The multicast membership did not start; `hint` says what to check.
    #[error("{error}")]
    Membership { error: crate::membership::StartError, hint: Option<String> },
}

/// A running node.
pub struct Node {
    local: Member,
    address: IpAddr,
    channel: Arc<GroupChannel>,
    sessions: Arc<SessionService>,
    membership: MembershipService,
    statics: Option<StaticMembersService>,
    detector: FailureDetectorService,
    control: Option<crate::control::ControlServer>,
    tasks: Vec<JoinHandle<()>>,
    receiver_task: JoinHandle<()>,
}

impl Node {
    /// Starts every part of the node. Must be called inside a tokio runtime.
    pub async fn start(settings: NodeSettings, options: NodeOptions) -> Result<Node, NodeError> {
        let manager = settings.sessions.manager_config().map_err(NodeError::Config)?;
        let address = resolve_receiver_address(&settings.receiver_address).map_err(NodeError::Config)?;
        let rc = ReceiverConfig {
            address,
            port: settings.receiver_port,
            auto_bind: settings.receiver_auto_bind,
            max_frame_len: settings.receiver_max_frame_length,
        };
        let listener = receiver::bind(&rc).await.map_err(NodeError::Receiver)?;
        let port = listener.local_addr().expect("bound listener has an address").port();
        tracing::info!(%address, port, "receiver listening");
        let unique_id = settings.local_unique_id.unwrap_or_else(|| {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).expect("the OS random source works");
            UniqueId::from_random(id)
        });
        // <Receiver udpPort>: a datagram receiver too, bound with the same autoBind search.
        let udp = if settings.receiver_udp_port > 0 {
            let port = u16::try_from(settings.receiver_udp_port).unwrap_or(u16::MAX);
            let socket =
                crate::udp::bind(address, port, settings.receiver_auto_bind).await.map_err(NodeError::Receiver)?;
            let bound = socket.local_addr().map(|a| a.port()).unwrap_or(port);
            tracing::info!(%address, port = bound, "UDP receiver listening");
            Some((socket, i32::from(bound)))
        } else {
            None
        };
        let mut local = Member::new(address, i32::from(port), unique_id, 0);
        local.secure_port = settings.receiver_secure_port;
        local.udp_port = udp.as_ref().map_or(settings.receiver_udp_port, |(_, p)| *p);
        // Data messages go through the channel to the session service; a SYNCHRONIZED_ACK sender
        // gets its ACK once the service processed the message.
        let channel = Arc::new(GroupChannel::new(local.clone(), settings.channel.clone()));
        let (handler, incoming) = channel.incoming();
        let serve = ServeOptions { max_frame_len: rc.max_frame_len, ..ServeOptions::default() };
        let udp_task = udp.map(|(socket, _)| crate::udp::serve(socket, serve.clone(), handler.clone()));
        let receiver_task = receiver::serve_with(listener, serve, handler.clone());

        // Members of another domain are ignored, as a DomainFilterInterceptor with our domain does
        // (a stock McastService alone would list them).
        let membership = McastConfig { domain_filter: true, ..settings.membership.clone() };
        let membership = match MembershipService::start(local.clone(), membership, Mode::Member) {
            Ok(s) => s,
            Err(error) => {
                receiver_task.abort();
                let hint = match &error {
                    crate::membership::StartError::Socket(se) => {
                        let sc = crate::mcast::McastSocketConfig {
                            interface: settings.membership.bind.and_then(|b| match b {
                                IpAddr::V4(a) => Some(a),
                                IpAddr::V6(_) => None,
                            }),
                            ..Default::default()
                        };
                        crate::doctor::hint_for_start(se, &sc).map(|h| h.to_string())
                    }
                    _ => None,
                };
                return Err(NodeError::Membership { error, hint });
            }
        };
        // MULTICAST send option: frames go over the group; frames heard there reach the channel.
        channel.set_broadcaster(membership.broadcaster());
        let multicast_task = membership.deliver_data_to(handler);
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
        let detector =
            FailureDetectorService::start(local.clone(), settings.failure_detector.clone(), membership.subscribe());
        let mut tasks: Vec<_> = udp_task.into_iter().chain(Some(multicast_task)).collect();
        // TcpPingInterceptor without a TcpFailureDetector below it: a TCP_PING message to every
        // member each interval, as stock sends it.
        if let (Some(interval), false) = (settings.tcp_ping, settings.tcp_ping_detector_below) {
            let options = tribes_wire::SendOptions(settings.tcp_ping_option_flag);
            tasks.push(crate::ping::spawn_pinger(channel.clone(), interval, options, membership.member_source()));
        }
        // TcpPingInterceptor above TcpFailureDetector: a forced check of every member each interval.
        if let (Some(interval), true) = (settings.tcp_ping, settings.tcp_ping_detector_below) {
            let detector = detector.check_handle();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    detector.forced_check();
                }
            }));
        }
        // The session service's members: what the failure detector shows, and static members.
        let (member_events, member_events_rx) = broadcast::channel(1024);
        tasks.push(forward(detector.subscribe(), member_events.clone()));
        if let Some(statics) = &statics {
            tasks.push(forward(statics.subscribe(), member_events.clone()));
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
            SessionConfig { manager, contexts, member_wait: options.member_wait },
        ));
        // Without its control socket the node still replicates; only local tools cannot reach it.
        let control = options.control_socket.as_ref().and_then(|path| {
            let handler = Arc::new(crate::control::SessionsHandler { service: sessions.clone() });
            match crate::control::serve(path, handler) {
                Ok(c) => {
                    tracing::info!(path = %path.display(), "control socket listening");
                    Some(c)
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "control socket unavailable");
                    None
                }
            }
        });
        tasks.push(log_member_events(detector.subscribe(), address.is_loopback()));
        Ok(Node { local, address, channel, sessions, membership, statics, detector, control, tasks, receiver_task })
    }

    /// This node as it advertises itself.
    pub fn local(&self) -> &Member {
        &self.local
    }

    /// The receiver's address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    pub fn channel(&self) -> &Arc<GroupChannel> {
        &self.channel
    }

    /// The session service (local changes, listener events, counters).
    pub fn sessions(&self) -> &Arc<SessionService> {
        &self.sessions
    }

    /// The replica store (read-only for callers).
    pub fn store(&self) -> Arc<Store> {
        self.sessions.store()
    }

    /// The members the failure detector shows now.
    pub fn members(&self) -> Vec<Member> {
        self.detector.members()
    }

    /// Leaves the group: the session service first (with expireSessionsOnShutdown the EXPIRED
    /// messages still have members), then the shutdown heartbeat; every task ends.
    pub async fn stop(self) {
        if let Some(c) = self.control {
            c.stop();
        }
        self.sessions.stop().await;
        let stats = self.sessions.stats();
        tracing::info!(
            received = ?stats.manager.received,
            sent = ?stats.manager.sent,
            malformed = stats.manager.malformed,
            filter_rejects = stats.manager.filter_rejects,
            "session service stopped"
        );
        for t in &self.tasks {
            t.abort();
        }
        tracing::info!("stopping: sending the shutdown heartbeat");
        if let Some(statics) = self.statics {
            statics.stop().await;
        }
        self.membership.stop().await;
        self.detector.stop().await;
        self.receiver_task.abort();
    }
}

/// Logs members joining and leaving (and a loopback address advertised to a remote member).
fn log_member_events(mut events: broadcast::Receiver<MembershipEvent>, advertised_loopback: bool) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            let e = match events.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
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
    })
}

/// Copies membership events from one source into the session service's channel.
fn forward(mut from: broadcast::Receiver<MembershipEvent>, to: broadcast::Sender<MembershipEvent>) -> JoinHandle<()> {
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
