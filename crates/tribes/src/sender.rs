//! The sender: a pool of connection sets that send one frame to many members in parallel, as
//! Tomcat's `transport.nio.PooledParallelSender` (pool), `ParallelNioSender` (one connection per
//! destination, all driven at once) and `NioSender` (write, then wait for the ACK) do.
//!
//! Spec: `transport.md` §2 and `tribes-wire.md` §6; Java sources
//! `transport/PooledSender.java`, `transport/nio/{PooledParallelSender,ParallelNioSender,NioSender}.java`,
//! `transport/AbstractSender.java` (keepalive).
//!
//! What matches Tomcat: pool of `poolSize` slots borrowed for at most `maxWait`; one lazily opened,
//! reused TCP connection per destination and slot; the whole frame written, then with USE_ACK one
//! ACK or FAIL_ACK frame read (any other frame is consumed and ignored); without USE_ACK a
//! non-blocking read only to notice a closed socket; an I/O error, EOF or FAIL_ACK is retried
//! `maxRetryAttempts` times on a fresh connection with the whole frame; a timeout is not retried;
//! one overall `timeout` per send; after any failure every connection of the slot is closed;
//! keepalive closes connections by request count and age.
//!
//! With SEND_OPTIONS_UDP a frame goes as one datagram to the member's `udpPort` instead
//! (`NioSender` with `udpBased`), with the same ACK, resend and timeout rules ([`crate::udp`]).
//!
//! What differs, on purpose: the timeout is exact (Tomcat's selector loop overshoots to ~5 s); a
//! reply that is not a valid frame fails the destination at once (Tomcat waits for the timeout);
//! idle slots are reused last-in first-out, so one caller sending one message after another keeps
//! using one connection per destination and its messages arrive in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tribes_wire::{Ack, FrameDecoder, FrameError, Member, MemberId, SendOptions};

/// `<Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender">`
/// attributes (with those of `AbstractSender` it inherits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// `poolSize`: how many sends may run at once, each with its own connections (25).
    pub pool_size: usize,
    /// `maxWait`: how long a send waits for a free slot of the pool (3000 ms).
    pub max_wait: Duration,
    /// `timeout`: the time budget of one send, connect, write, ACK and retries included (3000 ms).
    pub timeout: Duration,
    /// `maxRetryAttempts`: resends on a fresh connection after an I/O error, EOF or FAIL_ACK (1).
    pub max_retry_attempts: u32,
    /// `keepAliveCount`: close a connection once it has carried more than this many messages
    /// (`None` = Tomcat's `-1`, never).
    pub keep_alive_count: Option<u64>,
    /// `keepAliveTime`: close a connection once it is older than this (`None` = `-1`, never).
    pub keep_alive_time: Option<Duration>,
    /// `tcpNoDelay` (true).
    pub tcp_no_delay: bool,
    /// `soKeepAlive` (false).
    pub so_keep_alive: bool,
    /// `rxBufSize`: SO_RCVBUF of each connection (25188).
    pub rx_buf_size: u32,
    /// `txBufSize`: SO_SNDBUF of each connection (65536).
    pub tx_buf_size: u32,
    /// `throwOnFailedAck`: a FAIL_ACK is a failure (true); when false it counts as an ACK.
    pub throw_on_failed_ack: bool,
    /// The largest frame read back while waiting for an ACK; a longer one fails the destination.
    /// Tomcat has no limit; receivers only ever send 3-byte ACK payloads.
    pub max_reply_len: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            pool_size: 25,
            max_wait: Duration::from_millis(3000),
            timeout: Duration::from_millis(3000),
            max_retry_attempts: 1,
            keep_alive_count: None,
            keep_alive_time: None,
            tcp_no_delay: true,
            so_keep_alive: false,
            rx_buf_size: 25188,
            tx_buf_size: 65536,
            throw_on_failed_ack: true,
            max_reply_len: 64 << 10,
        }
    }
}

/// Why one destination did not get a message (the cause of a Tomcat `FaultyMember`).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FailureCause {
    /// No slot of the pool came free within `maxWait`; nothing was sent to anyone.
    #[error("no sender free in the pool within {0:?}")]
    PoolExhausted(Duration),
    /// The member's host is not an IPv4 or IPv6 address; nothing was sent.
    #[error("member host of {0} bytes is not an IP address")]
    NoAddress(usize),
    /// A UDP send to a member that advertises no `udpPort` (-1); nothing was sent.
    #[error("the member has no udp port ({0}) for a UDP send")]
    NoUdpPort(i32),
    /// The TCP connection could not be opened (refused, unreachable, ...).
    #[error("connect to {addr} failed: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    /// Writing the frame or reading the ACK failed; the connection was closed.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
    /// The member closed the connection before it answered (`NioSender.read`: "Unable to receive
    /// an ack message. EOF on socket channel has been reached.").
    #[error("the member closed the connection before acknowledging")]
    Eof,
    /// The member answered FAIL_ACK: its application failed to process the message
    /// (Tomcat's `RemoteProcessException`). The member is alive.
    #[error("the member answered FAIL_ACK (remote processing failed)")]
    FailAck,
    /// The member wrote bytes that are not a frame while we waited for the ACK.
    #[error("the member's reply is not a frame: {0}")]
    BadReply(FrameError),
    /// The send did not complete within `timeout` (Tomcat: "Operation has timed out"). Not retried.
    #[error("no acknowledgement within {0:?}")]
    Timeout(Duration),
}

impl FailureCause {
    /// Whether the member proved it is alive (TcpFailureDetector does not probe it for this).
    pub fn is_remote_process_failure(&self) -> bool {
        matches!(self, FailureCause::FailAck)
    }
}

/// One destination that did not get the message.
#[derive(Debug)]
pub struct FaultyMember {
    pub member: MemberId,
    pub cause: FailureCause,
    /// Attempts made (1 + resends).
    pub attempts: u32,
}

/// A send that failed for some destinations (Tomcat's `ChannelException` with its faulty
/// members). Destinations not listed got the message.
#[derive(Debug, thiserror::Error)]
#[error("send failed for {} member(s): {}", .faulty.len(), summary(.faulty))]
pub struct SendError {
    pub faulty: Vec<FaultyMember>,
}

fn summary(faulty: &[FaultyMember]) -> String {
    faulty
        .iter()
        .map(|f| format!("{} after {} attempt(s): {}", f.member, f.attempts, f.cause))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What happened to a successful send to one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Resends it needed (0 when the first attempt succeeded).
    pub resends: u32,
}

/// Counters since the sender was made.
#[derive(Debug, Default)]
pub struct SenderStats {
    /// Messages that reached every destination.
    pub messages: AtomicU64,
    /// Per-destination deliveries that succeeded.
    pub deliveries: AtomicU64,
    /// TCP connections opened.
    pub connects: AtomicU64,
    /// Resends on a fresh connection.
    pub resends: AtomicU64,
    /// FAIL_ACKs received.
    pub fail_acks: AtomicU64,
    /// Destinations that failed for good.
    pub failures: AtomicU64,
    /// Connections closed by keepalive (count, age, or found closed while idle).
    pub keepalive_closed: AtomicU64,
}

impl SenderStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One TCP connection to one member (`NioSender`).
struct Connection {
    stream: TcpStream,
    replies: BytesMut,
    connected_at: Instant,
    /// When the last frame was written.
    last_used: Instant,
    requests: u64,
}

/// A connection idle this long is checked for a closed peer before the next write without ack.
const IDLE_CHECK_AFTER: Duration = Duration::from_millis(2);

impl Connection {
    async fn open(addr: SocketAddr, config: &SenderConfig) -> std::io::Result<Connection> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_send_buffer_size(config.tx_buf_size)?;
        socket.set_recv_buffer_size(config.rx_buf_size)?;
        socket.set_keepalive(config.so_keep_alive)?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(config.tcp_no_delay)?;
        let now = Instant::now();
        Ok(Connection { stream, replies: BytesMut::with_capacity(128), connected_at: now, last_used: now, requests: 0 })
    }

    /// Writes the frame and, with `wait_ack`, reads until an ACK or FAIL_ACK frame.
    async fn exchange(&mut self, frame: &[u8], wait_ack: bool, config: &SenderConfig) -> Result<(), FailureCause> {
        self.replies.clear();
        // NioSender.process does a "health check" (a non-blocking read) after every write without
        // an ack. A system call per message is most of the cost of small messages, so we check
        // before writing on a connection that sat idle, which is when a peer closes it: the
        // message then goes out on a fresh connection, and nothing is written into a dead one.
        if !wait_ack && self.last_used.elapsed() >= IDLE_CHECK_AFTER {
            self.poll_closed().map_err(|e| e.unwrap_or(FailureCause::Eof))?;
        }
        self.stream.write_all(frame).await.map_err(FailureCause::Io)?;
        self.last_used = Instant::now();
        if !wait_ack {
            self.requests += 1;
            return Ok(());
        }
        let decoder = FrameDecoder::new(config.max_reply_len);
        loop {
            while let Some(reply) = decoder.decode(&mut self.replies).map_err(FailureCause::BadReply)? {
                match Ack::from_payload(&reply) {
                    Some(Ack::Ack) => {
                        self.requests += 1;
                        return Ok(());
                    }
                    Some(Ack::FailAck) if !config.throw_on_failed_ack => {
                        self.requests += 1;
                        return Ok(());
                    }
                    Some(Ack::FailAck) => return Err(FailureCause::FailAck),
                    None => {
                        tracing::debug!(len = reply.len(), "frame that is not an ACK ignored while waiting for one")
                    }
                }
            }
            let n = self.stream.read_buf(&mut self.replies).await.map_err(FailureCause::Io)?;
            if n == 0 {
                return Err(FailureCause::Eof);
            }
        }
    }

    /// A non-blocking read: `Err(None)` when the peer closed the connection, `Err(Some(_))` on an
    /// error, `Ok` when it is open (bytes read are dropped: nothing is owed to us).
    fn poll_closed(&mut self) -> Result<(), Option<FailureCause>> {
        let mut scratch = [0u8; 256];
        loop {
            match self.stream.try_read(&mut scratch) {
                Ok(0) => return Err(None),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(Some(FailureCause::Io(e))),
            }
        }
    }

    /// `AbstractSender.keepalive`: more than `keepAliveCount` requests, or older than
    /// `keepAliveTime`.
    fn expired(&self, config: &SenderConfig, now: Instant) -> bool {
        config.keep_alive_count.is_some_and(|max| self.requests > max)
            || config.keep_alive_time.is_some_and(|max| now.duration_since(self.connected_at) > max)
    }
}

fn socket_addr(member: &Member) -> Result<SocketAddr, FailureCause> {
    let ip = member.ip().ok_or(FailureCause::NoAddress(member.host.len()))?;
    let port = u16::try_from(member.port).map_err(|_| FailureCause::NoAddress(member.host.len()))?;
    Ok(SocketAddr::new(ip, port))
}

fn udp_addr(member: &Member) -> Result<SocketAddr, FailureCause> {
    let ip = member.ip().ok_or(FailureCause::NoAddress(member.host.len()))?;
    match u16::try_from(member.udp_port) {
        Ok(port) if port > 0 => Ok(SocketAddr::new(ip, port)),
        _ => Err(FailureCause::NoUdpPort(member.udp_port)),
    }
}

/// Sends one frame to one member on `conn` (opened if `None`), or as a datagram with UDP in
/// `options`, with Tomcat's resend rules, until `deadline`. On return `conn` holds the
/// connection if it is still usable.
async fn deliver(
    conn: &mut Option<Connection>,
    member: &Member,
    frame: &[u8],
    options: SendOptions,
    config: &SenderConfig,
    stats: &SenderStats,
    deadline: Instant,
) -> Result<Delivered, FaultyMember> {
    let faulty = |cause, attempts| FaultyMember { member: member.id(), cause, attempts };
    let wait_ack = options.contains(SendOptions::USE_ACK);
    let udp = options.contains(SendOptions::UDP);
    let addr = match if udp { udp_addr(member) } else { socket_addr(member) } {
        Ok(a) => a,
        Err(cause) => return Err(faulty(cause, 0)),
    };
    if conn.as_ref().is_some_and(|c| c.expired(config, Instant::now())) {
        *conn = None;
        bump(&stats.keepalive_closed);
    }
    let mut resends = 0;
    loop {
        let attempt = async {
            if udp {
                return crate::udp::exchange(addr, frame, wait_ack, config).await;
            }
            if conn.is_none() {
                let c =
                    Connection::open(addr, config).await.map_err(|source| FailureCause::Connect { addr, source })?;
                bump(&stats.connects);
                *conn = Some(c);
            }
            conn.as_mut().expect("connection opened above").exchange(frame, wait_ack, config).await
        };
        let cause = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(())) => {
                bump(&stats.deliveries);
                return Ok(Delivered { resends });
            }
            Ok(Err(cause)) => cause,
            Err(_) => {
                if !udp {
                    *conn = None;
                }
                bump(&stats.failures);
                return Err(faulty(FailureCause::Timeout(config.timeout), resends + 1));
            }
        };
        if !udp {
            *conn = None;
        }
        if matches!(cause, FailureCause::FailAck) {
            bump(&stats.fail_acks);
        }
        if resends < config.max_retry_attempts {
            resends += 1;
            bump(&stats.resends);
            tracing::warn!(member = %member.id(), %cause, "send failed; resending on a new connection");
            continue;
        }
        tracing::debug!(member = %member.id(), %cause, attempts = resends + 1, "send failed");
        bump(&stats.failures);
        return Err(faulty(cause, resends + 1));
    }
}

/// One connection set of the pool (`ParallelNioSender`): a connection per destination.
#[derive(Default)]
struct Slot {
    connections: HashMap<MemberId, Connection>,
}

/// The pooled parallel sender. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct PooledSender {
    config: Arc<SenderConfig>,
    stats: Arc<SenderStats>,
    permits: Semaphore,
    idle: Mutex<Vec<Slot>>,
}

impl PooledSender {
    pub fn new(config: SenderConfig) -> PooledSender {
        let permits = Semaphore::new(config.pool_size.max(1));
        PooledSender { config: Arc::new(config), stats: Arc::default(), permits, idle: Mutex::new(Vec::new()) }
    }

    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// Sends one complete frame (a framed ChannelData with these `options`) to every member of
    /// `destinations` at once, and waits per `options`: with USE_ACK until each acknowledged,
    /// otherwise until each frame is written. Returns how many resends each destination needed,
    /// in the order of `destinations` (duplicates are sent once).
    pub async fn send(
        &self,
        frame: Bytes,
        options: SendOptions,
        destinations: &[Member],
    ) -> Result<Vec<(MemberId, Delivered)>, SendError> {
        let mut unique: Vec<&Member> = Vec::with_capacity(destinations.len());
        for d in destinations {
            if !unique.iter().any(|u| u.id() == d.id()) {
                unique.push(d);
            }
        }
        let Ok(Ok(_permit)) = tokio::time::timeout(self.config.max_wait, self.permits.acquire()).await else {
            let faulty = unique
                .iter()
                .map(|m| FaultyMember {
                    member: m.id(),
                    cause: FailureCause::PoolExhausted(self.config.max_wait),
                    attempts: 0,
                })
                .collect();
            return Err(SendError { faulty });
        };
        let mut slot = self.idle.lock().expect("pool lock").pop().unwrap_or_default();
        let deadline = Instant::now() + self.config.timeout;
        let mut delivered = Vec::with_capacity(unique.len());
        let mut faulty = Vec::new();
        if let [member] = unique[..] {
            let id = member.id();
            let mut conn = slot.connections.remove(&id);
            match deliver(&mut conn, member, &frame, options, &self.config, &self.stats, deadline).await {
                Ok(d) => delivered.push((id.clone(), d)),
                Err(f) => faulty.push(f),
            }
            if let Some(c) = conn {
                slot.connections.insert(id, c);
            }
        } else {
            let mut tasks = JoinSet::new();
            for (index, member) in unique.iter().enumerate() {
                let member = (*member).clone();
                let mut conn = slot.connections.remove(&member.id());
                let (frame, config, stats) = (frame.clone(), self.config.clone(), self.stats.clone());
                tasks.spawn(async move {
                    let r = deliver(&mut conn, &member, &frame, options, &config, &stats, deadline).await;
                    (index, member.id(), conn, r)
                });
            }
            let mut results = Vec::with_capacity(unique.len());
            while let Some(joined) = tasks.join_next().await {
                let (index, id, conn, r) = joined.expect("a delivery task does not panic");
                if let Some(c) = conn {
                    slot.connections.insert(id.clone(), c);
                }
                results.push((index, id, r));
            }
            results.sort_by_key(|(index, _, _)| *index);
            for (_, id, r) in results {
                match r {
                    Ok(d) => delivered.push((id, d)),
                    Err(f) => faulty.push(f),
                }
            }
        }
        if faulty.is_empty() {
            bump(&self.stats.messages);
            self.expire(&mut slot);
        } else {
            // ParallelNioSender.sendMessage: any failure disconnects the whole sender.
            slot.connections.clear();
        }
        self.idle.lock().expect("pool lock").push(slot);
        if faulty.is_empty() {
            Ok(delivered)
        } else {
            Err(SendError { faulty })
        }
    }

    fn expire(&self, slot: &mut Slot) {
        let now = Instant::now();
        let before = slot.connections.len();
        slot.connections.retain(|_, c| !c.expired(&self.config, now));
        for _ in slot.connections.len()..before {
            bump(&self.stats.keepalive_closed);
        }
    }

    /// The heartbeat's keepalive (`PooledSender.keepalive`): in idle slots, closes connections
    /// past `keepAliveCount`/`keepAliveTime` and those the member has closed. Returns how many.
    pub fn keepalive(&self) -> usize {
        let now = Instant::now();
        let mut closed = 0;
        for slot in self.idle.lock().expect("pool lock").iter_mut() {
            slot.connections.retain(|_, c| {
                let keep = !c.expired(&self.config, now) && c.poll_closed().is_ok();
                closed += usize::from(!keep);
                keep
            });
        }
        for _ in 0..closed {
            bump(&self.stats.keepalive_closed);
        }
        closed
    }

    /// Open connections in idle slots (for tests and metrics).
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().expect("pool lock").iter().map(|s| s.connections.len()).sum()
    }
}

/// One member's own connection, outside the pool: messages sent on it one after another arrive
/// in order. The asynchronous dispatcher keeps one per destination. Same resend and ACK rules as
/// the pool.
pub struct Link {
    member: Member,
    conn: Option<Connection>,
    config: Arc<SenderConfig>,
    stats: Arc<SenderStats>,
}

impl Link {
    pub fn new(member: Member, sender: &PooledSender) -> Link {
        Link { member, conn: None, config: sender.config.clone(), stats: sender.stats.clone() }
    }

    pub fn member(&self) -> &Member {
        &self.member
    }

    /// Sends one frame and waits per `options`, within the sender's `timeout`.
    pub async fn send(&mut self, frame: &[u8], options: SendOptions) -> Result<Delivered, FaultyMember> {
        let deadline = Instant::now() + self.config.timeout;
        let r = deliver(&mut self.conn, &self.member, frame, options, &self.config, &self.stats, deadline).await;
        if r.is_ok() {
            bump(&self.stats.messages);
        }
        r
    }

    /// Closes the connection if keepalive says so or the member closed it; true if it did.
    pub fn keepalive(&mut self) -> bool {
        let close =
            self.conn.as_mut().is_some_and(|c| c.expired(&self.config, Instant::now()) || c.poll_closed().is_err());
        if close {
            self.conn = None;
            bump(&self.stats.keepalive_closed);
        }
        close
    }
}
