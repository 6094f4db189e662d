//! The multicast membership service: the `tribes-proto` machine driven by a tokio task that owns
//! the socket and the clock (`McastService` + `McastServiceImpl`'s sender and receiver threads).
//!
//! The group socket also carries data (`tribes-wire.md` §8): [`MembershipService::broadcaster`]
//! sends a frame to the group (`McastService.broadcast`, for SEND_OPTIONS_MULTICAST), and
//! datagrams that are not member packets are split into frames and handed to the handler given to
//! [`MembershipService::deliver_data_to`] (`memberBroadcastsReceived`), except those whose address
//! is our own member.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tribes_proto::membership::{DisappearReason, McastConfig, MemberView, Membership, MembershipStats, Output};
use tribes_wire::{ChannelData, ControlPayload, FrameDecoder, Member};

use crate::mcast::{self, McastError, McastSocketConfig};

/// A membership change, as the channel above sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipEvent {
    Added(Member),
    Updated(Member),
    Disappeared { member: Member, reason: DisappearReason },
}

/// What the service knows now: members (alive time descending) and counters.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub members: Vec<MemberView>,
    pub foreign_domain: Vec<MemberView>,
    pub stats: MembershipStats,
    /// Socket errors since start (receive and send).
    pub socket_errors: u64,
    /// The latest socket error, for the doctor.
    pub last_socket_error: Option<String>,
}

/// Whether the service advertises a member or only listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Send heartbeats every `frequency` and the shutdown heartbeat on stop.
    Member,
    /// Listen only (`tribesd members`): nothing is ever sent.
    Listener,
}

/// A running membership service. Dropping it stops the task without the shutdown heartbeat; call
/// [`MembershipService::stop`] for an orderly departure.
pub struct MembershipService {
    broadcasts: mpsc::Sender<BroadcastRequest>,
    data: Arc<Mutex<Option<mpsc::Sender<ChannelData>>>>,
    events: broadcast::Sender<MembershipEvent>,
    snapshot: Arc<Mutex<Snapshot>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    local: Member,
}

impl MembershipService {
    /// Opens the multicast socket and starts the service. Must be called inside a tokio runtime.
    pub fn start(local: Member, config: McastConfig, mode: Mode) -> Result<MembershipService, StartError> {
        let socket_config = socket_config(&config)?;
        let socket = mcast::open(&socket_config)?;
        let now = std::time::Instant::now();
        let machine = Membership::new(local.clone(), config.clone(), now).map_err(StartError::Membership)?;
        let (events, _) = broadcast::channel(1024);
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let (stop_tx, stop_rx) = oneshot::channel();
        let group = SocketAddr::new(IpAddr::V4(socket_config.group), socket_config.port);
        let (broadcasts, broadcasts_rx) = mpsc::channel(256);
        let data = Arc::new(Mutex::new(None));
        let runner = Runner {
            broadcasts: broadcasts_rx,
            data: data.clone(),
            data_dropped: 0,
            local_id: local.id(),
            machine,
            socket,
            socket_config,
            group,
            mode,
            events: events.clone(),
            snapshot: snapshot.clone(),
            config,
            consecutive_errors: 0,
            socket_errors: 0,
            last_socket_error: None,
        };
        let task = tokio::spawn(runner.run(stop_rx));
        Ok(MembershipService { broadcasts, data, events, snapshot, stop: Some(stop_tx), task: Some(task), local })
    }

    /// Sends frames to the group (SEND_OPTIONS_MULTICAST); see [`GroupChannel::set_broadcaster`].
    ///
    /// [`GroupChannel::set_broadcaster`]: crate::channel::GroupChannel::set_broadcaster
    pub fn broadcaster(&self) -> Broadcaster {
        Broadcaster { requests: self.broadcasts.clone() }
    }

    /// The admitted members now, for callers that ask each time (e.g. [`crate::ping::spawn_pinger`]).
    pub fn member_source(&self) -> crate::ping::MemberSource {
        let snapshot = self.snapshot.clone();
        Arc::new(move || {
            let s = snapshot.lock().expect("snapshot lock");
            s.members.iter().filter(|v| v.admitted).map(|v| v.member.clone()).collect()
        })
    }

    /// Hands data messages received on the group (not member packets, not from us) to
    /// `handler`, one after another, e.g. the one of [`crate::channel::GroupChannel::incoming`].
    /// Up to [`DATA_QUEUE`] wait; more are dropped and logged (UDP gives no guarantee anyway).
    /// Replaces an earlier handler. The returned task ends with the service.
    pub fn deliver_data_to(&self, handler: crate::receiver::AsyncHandler) -> JoinHandle<()> {
        let (tx, mut rx) = mpsc::channel::<ChannelData>(DATA_QUEUE);
        *self.data.lock().expect("data lock") = Some(tx);
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                let from = message.address.id();
                if let Err(e) = handler(message).await {
                    tracing::warn!(member = %from, error = %e, "multicast message processing failed");
                }
            }
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<MembershipEvent> {
        self.events.subscribe()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().expect("snapshot lock").clone()
    }

    pub fn local(&self) -> &Member {
        &self.local
    }

    /// Sends the shutdown heartbeat (in [`Mode::Member`]) and waits for the task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MembershipService {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Multicast data messages waiting for the handler of [`MembershipService::deliver_data_to`].
pub const DATA_QUEUE: usize = 1024;

/// The largest datagram Tomcat sends or receives on the group (`McastServiceImpl.MAX_PACKET_SIZE`).
pub const MAX_BROADCAST_SIZE: usize = 65535;

type BroadcastRequest = (Bytes, oneshot::Sender<Result<(), BroadcastError>>);

/// Sends frames to the membership group through the running service's socket.
#[derive(Debug, Clone)]
pub struct Broadcaster {
    requests: mpsc::Sender<BroadcastRequest>,
}

/// Why a frame did not go to the group.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    /// Over 65535 bytes: refused before sending, as `McastService.broadcast` does.
    #[error("a frame of {0} bytes is over the multicast limit of 65535")]
    TooLarge(usize),
    /// The service listens only (`tribesd members`) or has stopped.
    #[error("the membership service does not send")]
    NotSending,
    /// The socket refused it.
    #[error("multicast send failed: {0}")]
    Io(std::io::Error),
}

impl Broadcaster {
    /// Sends one datagram holding `frame` (one or more whole frames) to the group.
    pub async fn broadcast(&self, frame: Bytes) -> Result<(), BroadcastError> {
        if frame.len() > MAX_BROADCAST_SIZE {
            return Err(BroadcastError::TooLarge(frame.len()));
        }
        let (tx, rx) = oneshot::channel();
        self.requests.send((frame, tx)).await.map_err(|_| BroadcastError::NotSending)?;
        rx.await.unwrap_or(Err(BroadcastError::NotSending))
    }
}

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("membership address {0} is not IPv4: tribesd's multicast membership is IPv4 only for now")]
    NotIpv4(IpAddr),
    #[error(transparent)]
    Socket(#[from] McastError),
    #[error("cannot advertise the local member: {0}")]
    Membership(tribes_proto::membership::MembershipError),
}

fn socket_config(config: &McastConfig) -> Result<McastSocketConfig, StartError> {
    let IpAddr::V4(group) = config.address else {
        return Err(StartError::NotIpv4(config.address));
    };
    let interface = match config.bind {
        None => None,
        Some(IpAddr::V4(a)) => Some(a),
        Some(other) => return Err(StartError::NotIpv4(other)),
    };
    Ok(McastSocketConfig {
        group,
        port: config.port,
        interface,
        ttl: config.ttl,
        loopback: !config.local_loopback_disabled,
    })
}

struct Runner {
    broadcasts: mpsc::Receiver<BroadcastRequest>,
    data: Arc<Mutex<Option<mpsc::Sender<ChannelData>>>>,
    data_dropped: u64,
    local_id: tribes_wire::MemberId,
    machine: Membership,
    socket: UdpSocket,
    socket_config: McastSocketConfig,
    group: SocketAddr,
    mode: Mode,
    events: broadcast::Sender<MembershipEvent>,
    snapshot: Arc<Mutex<Snapshot>>,
    config: McastConfig,
    consecutive_errors: u32,
    socket_errors: u64,
    last_socket_error: Option<String>,
}

impl Runner {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut buf = vec![0u8; tribes_proto::membership::MAX_PACKET_SIZE];
        self.drain().await;
        loop {
            let deadline = self.machine.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        self.consecutive_errors = 0;
                        let datagram = Bytes::copy_from_slice(&buf[..n]);
                        self.machine.handle_datagram(std::time::Instant::now(), &datagram, from);
                    }
                    Err(e) => self.socket_error("receive", e).await,
                },
                _ = sleep_until(deadline) => self.machine.handle_timeout(std::time::Instant::now()),
                Some((frame, reply)) = self.broadcasts.recv() => {
                    let r = if self.mode == Mode::Member {
                        self.socket.send_to(&frame, self.group).await.map(drop).map_err(BroadcastError::Io)
                    } else {
                        Err(BroadcastError::NotSending)
                    };
                    let _ = reply.send(r);
                    continue;
                }
                _ = &mut stop => {
                    self.machine.stop(std::time::Instant::now());
                    self.drain().await;
                    self.publish();
                    tracing::debug!("membership stopped");
                    return;
                }
            }
            self.drain().await;
            self.publish();
        }
    }

    async fn drain(&mut self) {
        while let Some(out) = self.machine.poll_output() {
            match out {
                Output::SendHeartbeat(bytes) => {
                    if self.mode == Mode::Member {
                        if let Err(e) = self.socket.send_to(&bytes, self.group).await {
                            self.socket_error("send", e).await;
                        }
                    }
                }
                Output::MemberAdded(m) => {
                    // The layer above (the failure detector) logs the members it admits.
                    tracing::debug!(member = %m.id(), alive_ms = m.alive, "heartbeat from a new member");
                    let _ = self.events.send(MembershipEvent::Added(m));
                }
                Output::MemberUpdated(m) => {
                    tracing::debug!(member = %m.id(), alive_ms = m.alive, "member updated");
                    let _ = self.events.send(MembershipEvent::Updated(m));
                }
                Output::MemberDisappeared { member, reason } => {
                    tracing::debug!(member = %member.id(), ?reason, "member silent or shut down");
                    let _ = self.events.send(MembershipEvent::Disappeared { member, reason });
                }
                Output::Malformed { from, error } => {
                    tracing::debug!(%from, %error, "malformed membership datagram dropped");
                }
                Output::DataFrames { from, bytes } => self.data_frames(from, bytes),
            }
        }
    }

    /// `McastServiceImpl.memberBroadcastsReceived`: every whole frame of the datagram, except
    /// those from our own member; control messages are dropped as the receiver drops them.
    fn data_frames(&mut self, from: SocketAddr, bytes: Bytes) {
        let Some(tx) = self.data.lock().expect("data lock").clone() else {
            tracing::debug!(%from, len = bytes.len(), "multicast data ignored (no channel attached)");
            return;
        };
        let mut buf = bytes::BytesMut::from(&bytes[..]);
        let decoder = FrameDecoder::new(MAX_BROADCAST_SIZE);
        let local = self.local_id.clone();
        loop {
            let payload = match decoder.decode(&mut buf) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%from, error = %e, "multicast datagram is not frames; dropped");
                    break;
                }
            };
            let message = match ChannelData::decode(&payload) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(%from, error = %e, "bad ChannelData in a multicast datagram; dropped");
                    continue;
                }
            };
            if message.address.id() == local || ControlPayload::classify(&message.message).is_some() {
                continue;
            }
            if tx.try_send(message).is_err() {
                self.data_dropped += 1;
                tracing::warn!(%from, dropped = self.data_dropped, "multicast data message dropped: the channel is not keeping up");
            }
        }
    }

    fn publish(&self) {
        let mut s = self.snapshot.lock().expect("snapshot lock");
        s.members = self.machine.member_views();
        s.foreign_domain = self.machine.foreign_domain_members();
        s.stats = self.machine.stats();
        s.socket_errors = self.socket_errors;
        s.last_socket_error = self.last_socket_error.clone();
    }

    /// Counts a socket error as McastServiceImpl does: sleep 500 ms, and after `recoveryCounter`
    /// consecutive errors reopen the socket (every `recoverySleepTime` until it works).
    async fn socket_error(&mut self, op: &str, e: std::io::Error) {
        self.socket_errors += 1;
        self.consecutive_errors += 1;
        let hint = crate::doctor::hint_for_io(&e, &self.socket_config);
        tracing::warn!(operation = op, error = %e, hint = hint.unwrap_or(""), "multicast socket error");
        self.last_socket_error = Some(format!("{op}: {e}"));
        self.publish();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if self.config.recovery_enabled && self.consecutive_errors >= self.config.recovery_counter {
            loop {
                tracing::warn!(errors = self.consecutive_errors, "recovering the multicast socket");
                match mcast::open(&self.socket_config) {
                    Ok(s) => {
                        self.socket = s;
                        self.consecutive_errors = 0;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "multicast socket recovery failed");
                        tokio::time::sleep(self.config.recovery_sleep_time).await;
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
