//! The sender: a pool of connection sets that send one frame to many members in parallel, as
//! Tomcat's `transport.nio.PooledParallelSender` (pool), `ParallelNioSender` (one connection per
//! destination, all driven at once) and `NioSender` (write, then wait for the ACK) do.
//!
//! Spec: `transport.md` §2 and `tribes-wire.md` §6; Java sources
//! `transport/PooledSender.java`, `transport/nio/{PooledParallelSender,ParallelNioSender,NioSender}.java`,
//! `transport/AbstractSender.java` (keepalive).
//!
//! What matches Tomcat: pool of `poolSize` slots borrowed for at most `maxWait`; lazily opened,
//! reused TCP connections, up to `poolSize` per destination (see below); the whole frame written,
//! then with USE_ACK one ACK or FAIL_ACK frame read (any other frame is consumed and ignored);
//! without USE_ACK a non-blocking read only to notice a closed socket; an I/O error, EOF or
//! FAIL_ACK is retried `maxRetryAttempts` times on a fresh connection with the whole frame; a
//! timeout is not retried; one overall `timeout` per send; after any failure every connection of
//! the slot is closed; keepalive closes connections by request count and age.
//!
//! With SEND_OPTIONS_UDP a frame goes as one datagram to the member's `udpPort` instead
//! (`NioSender` with `udpBased`), with the same ACK, resend and timeout rules ([`crate::udp`]).
//!
//! Connections: each member has one ordered connection with a bounded queue of frames
//! ([`LINK_QUEUE_BYTES`]) drained by a writer task, instead of one connection per pool slot. Frames
//! queued behind each other go out in one `writev`, and the writer keeps writing while it reads
//! the answers of USE_ACK frames, at most [`MAX_UNACKED`] awaited at once: a receiver answers each
//! USE_ACK frame of a connection with one ACK or FAIL_ACK, so the n-th answer is taken for the n-th
//! USE_ACK frame's, and each caller gets its outcome as its answer arrives. Concurrent
//! acknowledged sends to one member thus share its round trips, as they did on Tomcat's pool of
//! connections. That holds for USE_ACK without SYNCHRONIZED_ACK (the answer is always an ACK sent
//! on receipt, and frames are read in order). A stock receiver re-arms a connection for reading
//! before it processes the frames it read (`NioReplicationTask.drainChannel`), so frames that
//! arrive in separate reads may be processed by two of its workers at once and answered out of
//! order: with USE_ACK + SYNCHRONIZED_ACK an ACK could then be taken for a frame not processed yet
//! and a FAIL_ACK for the wrong frame (a stock test here saw a failed message never resent and
//! another one delivered twice). So by default such a frame is written only once nothing is
//! awaited and nothing is written behind it until its answer, as before;
//! [`SenderConfig::pipeline_synchronized_acks`] pipelines them too, for members that all process a
//! connection's frames one after the other (ours).
//!
//! Extra connections: while the ordered connection awaits the answer of such a SYNCHRONIZED_ACK
//! frame, a caller that waits for the outcome of a USE_ACK frame (with or without
//! SYNCHRONIZED_ACK, not UDP) sends it on an extra connection to the member instead of queueing it
//! behind, as Tomcat's other pool slots would, but only when that cannot let it overtake an
//! earlier frame of the member: nothing is queued or to be resent on the ordered connection, and
//! every frame written there before the awaited one was answered or written before a frame that
//! was (a frame without USE_ACK written since the last answer may still be on its way, so then
//! the frame queues). A member has at most `poolSize - 1` extra connections; when all are busy
//! the frame queues. Each carries one frame at a time as `NioSender` does ([`deliver`]: write,
//! read its answer, the `timeout`, one resend per `maxRetryAttempts` on a fresh connection after
//! an I/O error, EOF or FAIL_ACK, the failure reported for that member alone), and is then kept
//! idle for reuse unless it failed or keepalive closes it (`keepAliveCount`/`keepAliveTime`
//! checked before and after each frame and by [`PooledSender::keepalive`], which also closes idle
//! ones the member closed). Asynchronous frames ([`PooledSender::enqueue`]) never take one: their
//! callers do not wait, so their next frame could overtake them. [`SenderStats::extra_sends`]
//! counts the frames sent so.
//!
//! On the ordered connection the resend rules are Tomcat's per frame: after an I/O error or EOF
//! every frame written and not answered yet (and those written behind it) is resent on a fresh
//! connection in queue order (at least once, as a Tomcat resend); after a
//! FAIL_ACK the frames behind it get their answers on the same connection, which is then closed,
//! and the failed frame is resent on a fresh one, so it arrives after them. A frame's timeout runs
//! from when the writer takes it, and a frame behind others is given at least `timeout` after the
//! member's last answer; when it passes, every frame awaited on the connection fails with
//! [`FailureCause::Timeout`] (not retried). A send without USE_ACK returns once
//! its frame is queued when the connection is open and was used within the last 2 ms (Tomcat
//! returns once the kernel took it); otherwise (first frame, after a failure, after a pause) it
//! waits until the frame is written, so a closed or dead member is reported to that caller. A
//! frame that fails after its caller returned is logged and counted in [`SenderStats::failures`]
//! and the member's next send reconnects. `poolSize`/`maxWait` still bound the sends in progress
//! (a send that finds no slot within `maxWait` fails with [`FailureCause::PoolExhausted`]).
//!
//! What differs, on purpose: the timeout is exact (Tomcat's selector loop overshoots to ~5 s); a
//! reply that is not a valid frame fails the destination at once (Tomcat waits for the timeout);
//! one ordered connection per destination, extra ones only as above, so one caller's messages
//! arrive in order whatever their options (except a frame resent after a FAIL_ACK, which arrives
//! after the frames written behind it); several acknowledged frames may be unanswered at once on
//! the ordered connection (Tomcat: one per connection, up to `poolSize` connections;
//! [`SenderConfig::max_unacked`] 1 restores that for USE_ACK frames without SYNCHRONIZED_ACK).

use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::time::Instant;
use tribes_wire::{Ack, FrameDecoder, FrameError, Member, MemberId, SendOptions};

/// `<Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender">`
/// attributes (with those of `AbstractSender` it inherits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// `poolSize`: how many sends may run at once (25), and the most connections per member (its
    /// ordered one and up to `poolSize - 1` extra ones, see the module docs).
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
    /// Most USE_ACK frames written on a member's connection and not answered yet
    /// ([`MAX_UNACKED`]); 1 sends each USE_ACK frame only once the previous one was answered.
    /// Not a Tomcat attribute (Tomcat has one per connection and up to `poolSize` connections).
    pub max_unacked: usize,
    /// Pipeline USE_ACK + SYNCHRONIZED_ACK frames too (false): safe only when every member is a
    /// receiver that processes one connection's frames strictly one after the other, as ours
    /// does. A stock receiver may process them on two workers at once and answer out of order,
    /// so an ACK could be taken for a frame not processed yet, and a FAIL_ACK for the wrong
    /// frame. When false, such a frame is written once nothing is awaited, and nothing is written
    /// behind it until its answer.
    pub pipeline_synchronized_acks: bool,
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
            max_unacked: MAX_UNACKED,
            pipeline_synchronized_acks: false,
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
    /// Frames sent on one of a member's extra connections (its ordered connection being busy with
    /// a SYNCHRONIZED_ACK frame).
    pub extra_sends: AtomicU64,
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

/// Most bytes a member's queue holds before senders wait for its writer (back-pressure). A frame
/// larger than this is queued alone, once the queue is empty.
pub const LINK_QUEUE_BYTES: usize = 1 << 20;
/// Most frames and bytes one write system call of a writer carries.
const MAX_IOV: usize = 128;
const MAX_WRITE_BYTES: usize = 512 << 10;

/// Called with the failure of a queued frame nobody waits for (the asynchronous dispatcher counts
/// them).
pub type FailureHook = Arc<dyn Fn(&FaultyMember) + Send + Sync>;
/// Kept alive until a queued frame was written or failed (the dispatcher's queue accounting).
pub type Hold = Arc<dyn std::any::Any + Send + Sync>;

type Reply = oneshot::Sender<Result<Delivered, FaultyMember>>;

/// One frame in a member's queue.
struct Entry {
    frame: Bytes,
    options: SendOptions,
    /// The caller waits for the outcome.
    reply: Option<Reply>,
    on_failure: Option<FailureHook>,
    _hold: Option<Hold>,
}

impl Entry {
    fn finish(self, result: Result<Delivered, FaultyMember>) {
        match (self.reply, result) {
            (Some(reply), r) => {
                let _ = reply.send(r);
            }
            (None, Ok(_)) => {}
            (None, Err(f)) => match &self.on_failure {
                Some(hook) => hook(&f),
                None => tracing::warn!(
                    member = %f.member,
                    cause = %f.cause,
                    attempts = f.attempts,
                    "queued send failed"
                ),
            },
        }
    }
}

/// A member's queue and connection, shared by the callers and the member's writer task.
struct LinkState {
    queue: VecDeque<Entry>,
    queued_bytes: usize,
    /// The connection while no writer runs (a running writer holds it).
    conn: Option<Connection>,
    /// Whether a connection is open (held here or by the writer).
    connected: bool,
    writer_running: bool,
    /// Close the connection before the next frame (ParallelNioSender disconnects after a failure).
    disconnect: bool,
    /// Callers waiting for room in the queue.
    room_waiters: usize,
    /// When the writer last finished writing.
    last_write: Instant,
    /// The ordered connection awaits the answer of a SYNCHRONIZED_ACK frame written alone
    /// ([`Pending::barrier`]), nothing is to be resent, and every frame written before it was
    /// answered or is known to have arrived: a waiting USE_ACK frame with nothing queued ahead of it
    /// may then go on an extra connection without overtaking any frame of the member.
    barrier_busy: bool,
    /// A frame without USE_ACK was written on the ordered connection after the last answer read
    /// there (it may still be on its way; kept while no writer runs).
    unconfirmed: bool,
    /// Idle extra connections, kept for reuse.
    spare: Vec<Connection>,
    /// Extra connections open (idle in `spare` or carrying a frame); at most `poolSize - 1`.
    extras: usize,
}

/// One member's ordered connection: every frame for the member goes through its queue, so one
/// caller's messages leave in order whatever their options; a writer task drains the queue and
/// writes the frames queued behind each other with one system call.
struct LinkShared {
    member: Member,
    state: Mutex<LinkState>,
    room: Notify,
    /// Wakes the writer waiting for ACKs when frames are queued (it may write them meanwhile).
    work: Notify,
    config: Arc<SenderConfig>,
    stats: Arc<SenderStats>,
}

/// How a caller waits for a queued frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Until acknowledged (USE_ACK), or, without USE_ACK, until written when the connection is
    /// not known to be open and healthy (no connection yet, or idle: the first frame after a
    /// pause finds out whether the member closed it); otherwise only until queued.
    Sync,
    /// Until written or acknowledged, always.
    Always,
    /// Only until queued (ASYNCHRONOUS): failures go to the hook and the log.
    Never,
}

impl LinkShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().expect("link lock")
    }

    /// Queues `frame`; waits for room first when the queue is full. Returns the outcome to wait
    /// for, if the caller is to wait.
    async fn enqueue(
        self: &Arc<Self>,
        frame: Bytes,
        options: SendOptions,
        wait: Wait,
        on_failure: Option<FailureHook>,
        hold: Option<Hold>,
    ) -> Option<Answer> {
        let len = frame.len();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            let inline;
            let mut extra = None;
            {
                let mut st = self.lock();
                if st.queued_bytes > 0 && st.queued_bytes + len > LINK_QUEUE_BYTES {
                    room.as_mut().enable();
                    st.room_waiters += 1;
                    inline = None;
                } else {
                    let waits = match wait {
                        Wait::Always => true,
                        Wait::Never => false,
                        Wait::Sync => {
                            options.contains(SendOptions::USE_ACK)
                                || !st.connected
                                || (st.queue.is_empty()
                                    && !st.writer_running
                                    && st.last_write.elapsed() >= IDLE_CHECK_AFTER)
                        }
                    };
                    let acked = waits && options.contains(SendOptions::USE_ACK) && !options.contains(SendOptions::UDP);
                    if acked && st.barrier_busy && st.queue.is_empty() {
                        // The ordered connection waits for a SYNCHRONIZED_ACK answer and nothing
                        // is ahead of this frame: an extra connection, if the pool has one.
                        extra = self.take_extra(&mut st);
                    }
                    if extra.is_some() {
                        inline = None;
                    } else if waits && !st.writer_running && st.queue.is_empty() {
                        // Nothing queued and no writer: the caller writes (and reads the ACK)
                        // itself, saving the hand-over to a writer task and back.
                        st.writer_running = true;
                        if barrier(&self.config, options) && !st.unconfirmed {
                            st.barrier_busy = true;
                        }
                        inline = Some(st.conn.take());
                    } else {
                        let (reply, answer) = if waits {
                            let (tx, rx) = oneshot::channel();
                            (Some(tx), Some(rx))
                        } else {
                            (None, None)
                        };
                        st.queue.push_back(Entry { frame, options, reply, on_failure, _hold: hold });
                        st.queued_bytes += len;
                        if !st.writer_running {
                            st.writer_running = true;
                            let conn = st.conn.take();
                            tokio::spawn(run_writer(self.clone(), conn));
                        } else {
                            self.work.notify_one();
                        }
                        return answer.map(Answer::Later);
                    }
                }
            }
            if let Some(conn) = extra {
                return Some(Answer::Now(self.send_extra(conn, frame, options).await));
            }
            if let Some(conn) = inline {
                return Some(Answer::Now(self.send_inline(conn, frame, options).await));
            }
            room.await;
            self.lock().room_waiters -= 1;
        }
    }

    /// Sends one frame as the link's writer (`writer_running` set by the caller), then hands
    /// what was queued meanwhile to a writer task.
    async fn send_inline(
        self: &Arc<Self>,
        conn: Option<Connection>,
        frame: Bytes,
        options: SendOptions,
    ) -> Result<Delivered, FaultyMember> {
        let mut guard = InlineWriter { link: self.clone(), conn, unconfirmed: Some(true) };
        let deadline = Instant::now() + self.config.timeout;
        let r = if options.contains(SendOptions::USE_ACK) || options.contains(SendOptions::UDP) {
            deliver(&mut guard.conn, &self.member, &frame, options, &self.config, &self.stats, deadline).await
        } else {
            let entry = [Entry { frame, options, reply: None, on_failure: None, _hold: None }];
            match write_batch(&mut guard.conn, &self.member, &entry, &self.config, &self.stats, deadline).await {
                (_, Ok(d)) => {
                    bump(&self.stats.deliveries);
                    Ok(d)
                }
                (_, Err(f)) => {
                    bump(&self.stats.failures);
                    Err(f)
                }
            }
        };
        if r.is_err() {
            guard.conn = None;
        }
        guard.unconfirmed = if options.contains(SendOptions::UDP) {
            None
        } else if !options.contains(SendOptions::USE_ACK) {
            Some(true)
        } else if r.is_ok() {
            // The answer came after every byte written before the frame.
            Some(false)
        } else {
            None
        };
        r
    }

    /// Takes an idle extra connection (`Some(Some(_))`), or a slot to open one (`Some(None)`)
    /// while the member has fewer than `poolSize - 1`; `None` when the pool is used up. Idle ones
    /// past keepalive or closed by the member are closed on the way.
    fn take_extra(&self, st: &mut LinkState) -> Option<Option<Connection>> {
        let now = Instant::now();
        while let Some(mut c) = st.spare.pop() {
            if c.expired(&self.config, now) || c.poll_closed().is_err() {
                st.extras -= 1;
                bump(&self.stats.keepalive_closed);
                continue;
            }
            return Some(Some(c));
        }
        if st.extras < self.config.pool_size.saturating_sub(1) {
            st.extras += 1;
            return Some(None);
        }
        None
    }

    /// Sends one USE_ACK frame on an extra connection (opened if `None`) as `NioSender` does:
    /// write, read its answer, Tomcat's resend and timeout rules ([`deliver`]); the connection is
    /// then kept for reuse unless it failed or keepalive closes it.
    async fn send_extra(
        self: &Arc<Self>,
        conn: Option<Connection>,
        frame: Bytes,
        options: SendOptions,
    ) -> Result<Delivered, FaultyMember> {
        let mut guard = ExtraConnection { link: self.clone(), conn, done: false };
        bump(&self.stats.extra_sends);
        let deadline = Instant::now() + self.config.timeout;
        let r = deliver(&mut guard.conn, &self.member, &frame, options, &self.config, &self.stats, deadline).await;
        guard.done = true;
        r
    }

    /// Closes the connection (now if no writer holds it, else before the writer's next frame).
    fn disconnect(&self) {
        let mut st = self.lock();
        if st.writer_running {
            st.disconnect = true;
        } else {
            st.conn = None;
            st.connected = false;
        }
    }
}

/// What a queued frame's caller waits for.
enum Answer {
    /// The outcome, the caller having written the frame itself.
    Now(Result<Delivered, FaultyMember>),
    /// The outcome from the writer task.
    Later(oneshot::Receiver<Result<Delivered, FaultyMember>>),
}

/// A caller acting as its link's writer: when done (or dropped halfway), gives the connection
/// back, or hands it with what was queued meanwhile to a writer task.
struct InlineWriter {
    link: Arc<LinkShared>,
    conn: Option<Connection>,
    /// The link's `unconfirmed` after this frame (`None`: unchanged).
    unconfirmed: Option<bool>,
}

impl Drop for InlineWriter {
    fn drop(&mut self) {
        let mut st = self.link.lock();
        st.barrier_busy = false;
        if let Some(u) = self.unconfirmed {
            st.unconfirmed = u;
        }
        let mut conn = self.conn.take();
        if st.disconnect {
            st.disconnect = false;
            conn = None;
        }
        st.connected = conn.is_some();
        st.last_write = Instant::now();
        if st.queue.is_empty() {
            st.writer_running = false;
            st.conn = conn;
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(run_writer(self.link.clone(), conn));
            }
            Err(_) => {
                st.writer_running = false;
                st.conn = conn;
            }
        }
    }
}

/// A caller's frame on an extra connection: when done, the connection is kept for reuse (unless
/// it failed, keepalive closes it, or the send was dropped halfway with an answer owed).
struct ExtraConnection {
    link: Arc<LinkShared>,
    conn: Option<Connection>,
    done: bool,
}

impl Drop for ExtraConnection {
    fn drop(&mut self) {
        let conn = self.conn.take().filter(|_| self.done);
        let mut st = self.link.lock();
        match conn {
            Some(c) if !c.expired(&self.link.config, Instant::now()) => st.spare.push(c),
            Some(_) => {
                st.extras -= 1;
                bump(&self.link.stats.keepalive_closed);
            }
            None => st.extras -= 1,
        }
    }
}

/// The writer of one member: takes the queued frames in order and writes those queued behind each
/// other with one system call, USE_ACK frames included, then reads the answers of the USE_ACK
/// frames in the order they were written, handing each caller its outcome as its answer arrives.
/// It writes more frames while answers are outstanding, up to [`SenderConfig::max_unacked`]
/// USE_ACK frames; a SYNCHRONIZED_ACK frame goes alone unless
/// [`SenderConfig::pipeline_synchronized_acks`]. Ends when the queue is empty and nothing is
/// awaited, leaving the connection in the link.
async fn run_writer(link: Arc<LinkShared>, conn: Option<Connection>) {
    let unconfirmed = u64::from(link.lock().unconfirmed);
    let mut w = Pipeline {
        link,
        conn,
        inflight: VecDeque::new(),
        unacked: 0,
        redo: VecDeque::new(),
        draining: false,
        progress: Instant::now(),
        next_seq: 0,
        barrier_busy: false,
        written: unconfirmed,
        last_unacked_write: unconfirmed,
        confirmed: 0,
    };
    loop {
        if w.inflight.is_empty() {
            if w.draining {
                // After a FAIL_ACK (or keepalive expiry) the connection is closed once every frame
                // written on it has its answer (ParallelNioSender disconnects after a failure).
                w.draining = false;
                w.conn = None;
            }
            let mut st = w.link.lock();
            if st.disconnect {
                st.disconnect = false;
                w.conn = None;
            }
            st.connected = w.conn.is_some();
            if w.redo.is_empty() && st.queue.is_empty() {
                st.writer_running = false;
                st.barrier_busy = false;
                st.unconfirmed = w.last_unacked_write > w.confirmed;
                st.conn = w.conn.take();
                st.last_write = Instant::now();
                return;
            }
        }
        let behind_barrier = w.inflight.front().is_some_and(|p| p.barrier);
        if !w.draining && !behind_barrier && w.unacked < w.max_unacked() {
            if let Some(c) = w.conn.as_ref() {
                if c.expired(&w.link.config, Instant::now()) {
                    bump(&w.link.stats.keepalive_closed);
                    if w.inflight.is_empty() {
                        w.conn = None;
                    } else {
                        w.draining = true;
                        continue;
                    }
                }
            }
            let batch = w.take_batch();
            if let Some(first) = batch.first() {
                if first.entry.options.contains(SendOptions::UDP) {
                    let p = batch.into_iter().next().expect("one entry");
                    let config = &w.link.config;
                    let deadline = p.deadline.max(Instant::now());
                    let r = deliver(
                        &mut None,
                        &w.link.member,
                        &p.entry.frame,
                        p.entry.options,
                        config,
                        &w.link.stats,
                        deadline,
                    )
                    .await;
                    p.entry.finish(r);
                } else {
                    w.write(batch).await;
                }
                continue;
            }
        }
        if w.inflight.is_empty() {
            // Nothing could be taken (a datagram waits for the pipeline to empty): go round.
            tokio::task::yield_now().await;
            continue;
        }
        w.read().await;
    }
}

/// Most USE_ACK frames written on a member's connection whose ACK was not read yet, by default
/// ([`SenderConfig::max_unacked`]). Bounds the ACK bytes the member may have to write back while
/// the writer writes (21 bytes each, far below a connection's receive buffer), so neither side can
/// block the other.
pub const MAX_UNACKED: usize = 64;

/// A frame the writer took from the queue.
struct Pending {
    entry: Entry,
    /// Queue order, kept across resends.
    seq: u64,
    resends: u32,
    /// The end of the frame's own `timeout` (from when the writer took it).
    deadline: Instant,
    use_ack: bool,
    /// Written alone with respect to answers: only once nothing is awaited, and nothing is
    /// written behind it until its answer (SYNCHRONIZED_ACK without
    /// [`SenderConfig::pipeline_synchronized_acks`]).
    barrier: bool,
    /// Its place among the frames written on the ordered connection (set when written).
    pos: u64,
}

/// The writer task's state for one member.
struct Pipeline {
    link: Arc<LinkShared>,
    conn: Option<Connection>,
    /// Frames written on `conn` whose outcome is not known yet, in the order written: each USE_ACK
    /// frame until its ACK, and a frame without USE_ACK until no USE_ACK frame is ahead of it (it
    /// is then as good as written alone). The front, when any, is a USE_ACK frame.
    inflight: VecDeque<Pending>,
    /// USE_ACK frames in `inflight`.
    unacked: usize,
    /// Frames to resend on a fresh connection, in queue order; written before the queue.
    redo: VecDeque<Pending>,
    /// Write nothing more on `conn`; close it once `inflight` is empty.
    draining: bool,
    /// When the member last answered (an ACK or FAIL_ACK read).
    progress: Instant,
    next_seq: u64,
    /// This writer's copy of [`LinkState::barrier_busy`].
    barrier_busy: bool,
    /// Frames written, the position of the last one without USE_ACK, and that of the last frame
    /// answered: a frame written is known to have arrived when its position is at most
    /// `confirmed`.
    written: u64,
    last_unacked_write: u64,
    confirmed: u64,
}

/// What one read of the writer brought.
enum ReadStep {
    /// A reply (or bytes of one) arrived.
    Progress,
    /// New frames were queued: the writer may write them.
    Work,
    Failed(FailureCause),
    TimedOut,
}

impl Pipeline {
    fn max_unacked(&self) -> usize {
        self.link.config.max_unacked.max(1)
    }

    fn is_barrier(&self, options: SendOptions) -> bool {
        barrier(&self.link.config, options)
    }

    /// Takes frames to write with one system call: first those to resend, then queued ones, in
    /// order, within [`MAX_IOV`] frames, [`MAX_WRITE_BYTES`] bytes and [`MAX_UNACKED`] USE_ACK
    /// frames awaited. A datagram is taken alone, once nothing is awaited.
    fn take_batch(&mut self) -> Vec<Pending> {
        let mut batch: Vec<Pending> = Vec::new();
        let mut bytes = 0;
        let mut acks = self.unacked;
        let idle = self.inflight.is_empty();
        let max_unacked = self.max_unacked();
        let link = self.link.clone();
        let config = &link.config;
        let fits = |batch: &Vec<Pending>, bytes: usize, acks: usize, len: usize, options: SendOptions| {
            if options.contains(SendOptions::UDP) {
                return batch.is_empty() && idle;
            }
            if options.contains(SendOptions::USE_ACK) && acks >= max_unacked {
                return false;
            }
            if barrier(config, options) && acks > 0 {
                return false;
            }
            batch.is_empty() || (bytes + len <= MAX_WRITE_BYTES && batch.len() < MAX_IOV)
        };
        while let Some(p) = self.redo.front() {
            if !fits(&batch, bytes, acks, p.entry.frame.len(), p.entry.options) {
                return batch;
            }
            let p = self.redo.pop_front().expect("front exists");
            bytes += p.entry.frame.len();
            acks += usize::from(p.use_ack);
            let last = p.barrier || p.entry.options.contains(SendOptions::UDP);
            batch.push(p);
            if last {
                return batch;
            }
        }
        let wake_room;
        {
            let mut st = self.link.lock();
            let mut taken = 0;
            let deadline = Instant::now() + self.link.config.timeout;
            while let Some(e) = st.queue.front() {
                if !fits(&batch, bytes, acks, e.frame.len(), e.options) {
                    break;
                }
                let entry = st.queue.pop_front().expect("front exists");
                let use_ack = entry.options.contains(SendOptions::USE_ACK);
                let barrier = self.is_barrier(entry.options);
                let udp = entry.options.contains(SendOptions::UDP);
                bytes += entry.frame.len();
                taken += entry.frame.len();
                acks += usize::from(use_ack);
                batch.push(Pending { entry, seq: self.next_seq, resends: 0, deadline, use_ack, barrier, pos: 0 });
                self.next_seq += 1;
                if barrier || udp {
                    break;
                }
            }
            st.queued_bytes -= taken;
            wake_room = taken > 0 && st.room_waiters > 0;
        }
        if wake_room {
            self.link.room.notify_waiters();
        }
        batch
    }

    /// How long the writer waits for an answer now: until the oldest awaited frame's own timeout,
    /// and at least `timeout` since the member last answered (a frame behind others in the
    /// pipeline is not failed for the time the member took with those).
    fn deadline(&self, head: &Pending) -> Instant {
        head.deadline.max(self.progress + self.link.config.timeout)
    }

    /// Writes `batch` on the connection (opened if there is none) with as few system calls as the
    /// socket takes. On an error the frames whose outcome is not known are resent on a fresh
    /// connection; on a timeout they fail.
    async fn write(&mut self, mut batch: Vec<Pending>) {
        let link = self.link.clone();
        let config = &link.config;
        let addr = match socket_addr(&link.member) {
            Ok(a) => a,
            Err(cause) => {
                for p in batch {
                    bump(&link.stats.failures);
                    p.entry.finish(Err(FaultyMember {
                        member: link.member.id(),
                        cause: copy_cause(&cause),
                        attempts: 0,
                    }));
                }
                return;
            }
        };
        // Each system call may take until the oldest awaited frame's timeout, and at least
        // `timeout` since the member last made progress (answered, or took bytes).
        let head = self.inflight.front().unwrap_or(&batch[0]).deadline;
        let mut last = self.progress;
        let until = |last: Instant| head.max(last + config.timeout);
        let idle = self.inflight.is_empty();
        let mut done = 0;
        let conn = &mut self.conn;
        // `Err(None)`: the timeout.
        let outcome: Result<(), Option<FailureCause>> = async {
            if conn.is_none() {
                let c = tokio::time::timeout_at(until(last), Connection::open(addr, config))
                    .await
                    .map_err(|_| None)?
                    .map_err(|source| FailureCause::Connect { addr, source })?;
                bump(&link.stats.connects);
                *conn = Some(c);
            }
            let c = conn.as_mut().expect("connection opened above");
            if idle {
                // Nothing is owed to us: whatever is buffered is not an answer to these frames.
                c.replies.clear();
                if c.last_used.elapsed() >= IDLE_CHECK_AFTER {
                    c.poll_closed().map_err(|e| e.unwrap_or(FailureCause::Eof))?;
                }
            }
            let mut offset = 0;
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOV.min(batch.len()));
            while done < batch.len() {
                slices.clear();
                slices.push(IoSlice::new(&batch[done].entry.frame[offset..]));
                slices.extend(batch[done + 1..].iter().take(MAX_IOV - 1).map(|p| IoSlice::new(&p.entry.frame)));
                let mut n = tokio::time::timeout_at(until(last), c.stream.write_vectored(&slices))
                    .await
                    .map_err(|_| None)?
                    .map_err(FailureCause::Io)?;
                if n == 0 {
                    return Err(Some(FailureCause::Io(std::io::ErrorKind::WriteZero.into())));
                }
                last = Instant::now();
                while n > 0 {
                    let left = batch[done].entry.frame.len() - offset;
                    if n >= left {
                        n -= left;
                        if !batch[done].use_ack {
                            c.requests += 1;
                        }
                        done += 1;
                        offset = 0;
                    } else {
                        offset += n;
                        n = 0;
                    }
                }
            }
            c.last_used = Instant::now();
            Ok(())
        }
        .await;
        let unwritten: Vec<Pending> = batch.drain(done..).collect();
        for mut p in batch {
            self.written += 1;
            p.pos = self.written;
            if !p.use_ack {
                self.last_unacked_write = self.written;
            }
            self.unacked += usize::from(p.use_ack);
            self.inflight.push_back(p);
        }
        self.settle();
        match outcome {
            Ok(()) => {
                // A barrier frame awaited alone, everything before it known to have arrived:
                // waiting USE_ACK frames queued from now on may take extra connections.
                let alone = self.inflight.len() == 1 && self.inflight[0].barrier;
                if alone && self.redo.is_empty() && self.last_unacked_write <= self.confirmed {
                    self.set_barrier_busy(true);
                }
            }
            Err(Some(cause)) => self.fail_over(cause, unwritten),
            Err(None) => self.time_out(unwritten),
        }
    }

    fn set_barrier_busy(&mut self, busy: bool) {
        if self.barrier_busy != busy {
            self.barrier_busy = busy;
            self.link.lock().barrier_busy = busy;
        }
    }

    /// Reads the member's replies until one answer arrived, new frames were queued (when more
    /// may be written), an error or the timeout.
    async fn read(&mut self) {
        let link = self.link.clone();
        let config = &link.config;
        let deadline = self.deadline(self.inflight.front().expect("a frame is awaited"));
        let may_write =
            !self.draining && !self.inflight.front().is_some_and(|p| p.barrier) && self.unacked < self.max_unacked();
        let step = {
            let c = self.conn.as_mut().expect("frames in flight have a connection");
            let decoder = FrameDecoder::new(config.max_reply_len);
            match decoder.decode(&mut c.replies) {
                Err(e) => ReadStep::Failed(FailureCause::BadReply(e)),
                Ok(Some(reply)) => match Ack::from_payload(&reply) {
                    Some(ack) => {
                        c.requests += 1;
                        self.answer(ack);
                        ReadStep::Progress
                    }
                    None => {
                        tracing::debug!(len = reply.len(), "frame that is not an ACK ignored while waiting for one");
                        ReadStep::Progress
                    }
                },
                Ok(None) => {
                    let work = link.work.notified();
                    tokio::select! {
                        r = tokio::time::timeout_at(deadline, c.stream.read_buf(&mut c.replies)) => match r {
                            Err(_) => ReadStep::TimedOut,
                            Ok(Ok(0)) => ReadStep::Failed(FailureCause::Eof),
                            Ok(Ok(_)) => ReadStep::Progress,
                            Ok(Err(e)) => ReadStep::Failed(FailureCause::Io(e)),
                        },
                        _ = work, if may_write => ReadStep::Work,
                    }
                }
            }
        };
        match step {
            ReadStep::Progress | ReadStep::Work => {}
            ReadStep::Failed(cause) => self.fail_over(cause, Vec::new()),
            ReadStep::TimedOut => self.time_out(Vec::new()),
        }
    }

    /// The ACK or FAIL_ACK of the oldest USE_ACK frame in flight.
    fn answer(&mut self, ack: Ack) {
        let p = self.inflight.pop_front().expect("a frame is awaited");
        self.unacked -= 1;
        self.progress = Instant::now();
        self.confirmed = self.confirmed.max(p.pos);
        // Before the caller hears of it: its next frame goes on the ordered connection again.
        self.set_barrier_busy(false);
        let stats = &self.link.stats;
        if ack == Ack::Ack || !self.link.config.throw_on_failed_ack {
            bump(&stats.deliveries);
            p.entry.finish(Ok(Delivered { resends: p.resends }));
        } else {
            // The member processed the frame and failed: resend it alone on a fresh connection
            // once the frames written behind it have their answers on this one.
            bump(&stats.fail_acks);
            self.draining = true;
            self.retry_or_fail(p, &FailureCause::FailAck);
        }
        self.settle();
    }

    /// Frames without USE_ACK at the front of the pipeline are as good as written alone.
    fn settle(&mut self) {
        while self.inflight.front().is_some_and(|p| !p.use_ack) {
            let p = self.inflight.pop_front().expect("front exists");
            bump(&self.link.stats.deliveries);
            p.entry.finish(Ok(Delivered { resends: p.resends }));
        }
    }

    /// The connection failed: every frame in flight and `unwritten` is resent on a fresh
    /// connection in queue order, or fails when it has had its resends.
    fn fail_over(&mut self, cause: FailureCause, unwritten: Vec<Pending>) {
        self.set_barrier_busy(false);
        self.conn = None;
        self.draining = false;
        self.unacked = 0;
        let lost: Vec<Pending> = self.inflight.drain(..).chain(unwritten).collect();
        if lost.is_empty() {
            return;
        }
        if lost.iter().any(|p| p.resends < self.link.config.max_retry_attempts) {
            tracing::warn!(member = %self.link.member.id(), %cause, frames = lost.len(), "send failed; resending on a new connection");
        }
        for p in lost {
            self.retry_or_fail(p, &cause);
        }
    }

    /// Queues `p` for a resend on a fresh connection, or fails it when it has had its resends.
    fn retry_or_fail(&mut self, mut p: Pending, cause: &FailureCause) {
        let stats = &self.link.stats;
        if p.resends < self.link.config.max_retry_attempts {
            p.resends += 1;
            bump(&stats.resends);
            let at = self.redo.partition_point(|q| q.seq < p.seq);
            self.redo.insert(at, p);
            return;
        }
        tracing::debug!(member = %self.link.member.id(), %cause, attempts = p.resends + 1, "send failed");
        bump(&stats.failures);
        let f = FaultyMember { member: self.link.member.id(), cause: copy_cause(cause), attempts: p.resends + 1 };
        p.entry.finish(Err(f));
    }

    /// The member made no progress within the timeout: the frames in flight and `unwritten` fail
    /// (a timeout is not retried) and the connection is closed.
    fn time_out(&mut self, unwritten: Vec<Pending>) {
        self.set_barrier_busy(false);
        self.conn = None;
        self.draining = false;
        self.unacked = 0;
        let timeout = self.link.config.timeout;
        for p in self.inflight.drain(..).chain(unwritten) {
            bump(&self.link.stats.failures);
            let f = FaultyMember {
                member: self.link.member.id(),
                cause: FailureCause::Timeout(timeout),
                attempts: p.resends + 1,
            };
            p.entry.finish(Err(f));
        }
    }
}

/// Whether a frame with `options` goes alone with respect to answers (see [`Pending::barrier`]).
fn barrier(config: &SenderConfig, options: SendOptions) -> bool {
    options.contains(SendOptions::USE_ACK)
        && options.contains(SendOptions::SYNCHRONIZED_ACK)
        && !config.pipeline_synchronized_acks
}

/// The same cause again, for each of the frames one failure hit.
fn copy_cause(cause: &FailureCause) -> FailureCause {
    let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
    match cause {
        FailureCause::PoolExhausted(d) => FailureCause::PoolExhausted(*d),
        FailureCause::NoAddress(n) => FailureCause::NoAddress(*n),
        FailureCause::NoUdpPort(p) => FailureCause::NoUdpPort(*p),
        FailureCause::Connect { addr, source } => FailureCause::Connect { addr: *addr, source: io(source) },
        FailureCause::Io(e) => FailureCause::Io(io(e)),
        FailureCause::Eof => FailureCause::Eof,
        FailureCause::FailAck => FailureCause::FailAck,
        FailureCause::BadReply(e) => FailureCause::BadReply(*e),
        FailureCause::Timeout(d) => FailureCause::Timeout(*d),
    }
}

/// Writes the frames of `batch` (none with USE_ACK) on `conn` with as few system calls as the
/// socket takes, with the resend rules of [`deliver`]: a resend starts on a fresh connection with
/// the first frame not wholly written. Returns how many frames were written, and the outcome.
async fn write_batch(
    conn: &mut Option<Connection>,
    member: &Member,
    batch: &[Entry],
    config: &SenderConfig,
    stats: &SenderStats,
    deadline: Instant,
) -> (usize, Result<Delivered, FaultyMember>) {
    let addr = match socket_addr(member) {
        Ok(a) => a,
        Err(cause) => return (0, Err(FaultyMember { member: member.id(), cause, attempts: 0 })),
    };
    if conn.as_ref().is_some_and(|c| c.expired(config, Instant::now())) {
        *conn = None;
        bump(&stats.keepalive_closed);
    }
    let mut done = 0;
    let mut resends = 0;
    loop {
        let attempt = async {
            if conn.is_none() {
                let c =
                    Connection::open(addr, config).await.map_err(|source| FailureCause::Connect { addr, source })?;
                bump(&stats.connects);
                *conn = Some(c);
            }
            let c = conn.as_mut().expect("connection opened above");
            if c.last_used.elapsed() >= IDLE_CHECK_AFTER {
                c.poll_closed().map_err(|e| e.unwrap_or(FailureCause::Eof))?;
            }
            let mut offset = 0;
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOV.min(batch.len() - done));
            while done < batch.len() {
                slices.clear();
                slices.push(IoSlice::new(&batch[done].frame[offset..]));
                slices.extend(batch[done + 1..].iter().take(MAX_IOV - 1).map(|e| IoSlice::new(&e.frame)));
                let mut n = c.stream.write_vectored(&slices).await.map_err(FailureCause::Io)?;
                if n == 0 {
                    return Err(FailureCause::Io(std::io::ErrorKind::WriteZero.into()));
                }
                while n > 0 {
                    let left = batch[done].frame.len() - offset;
                    if n >= left {
                        n -= left;
                        done += 1;
                        offset = 0;
                        c.requests += 1;
                    } else {
                        offset += n;
                        n = 0;
                    }
                }
            }
            c.last_used = Instant::now();
            Ok(())
        };
        let cause = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(())) => return (done, Ok(Delivered { resends })),
            Ok(Err(cause)) => cause,
            Err(_) => {
                *conn = None;
                return (
                    done,
                    Err(FaultyMember {
                        member: member.id(),
                        cause: FailureCause::Timeout(config.timeout),
                        attempts: resends + 1,
                    }),
                );
            }
        };
        *conn = None;
        if resends < config.max_retry_attempts {
            resends += 1;
            bump(&stats.resends);
            tracing::warn!(member = %member.id(), %cause, "send failed; resending on a new connection");
            continue;
        }
        tracing::debug!(member = %member.id(), %cause, attempts = resends + 1, "send failed");
        return (done, Err(FaultyMember { member: member.id(), cause, attempts: resends + 1 }));
    }
}

/// The pooled parallel sender. Cheap to share behind an `Arc`; every method takes `&self`.
///
/// Each member has one ordered connection with a bounded queue ([`LINK_QUEUE_BYTES`]) and a writer
/// task, and up to `poolSize - 1` extra connections for acknowledged frames sent while the ordered
/// one awaits a SYNCHRONIZED_ACK answer; the pool's `poolSize` and `maxWait` bound how many sends
/// wait at once.
pub struct PooledSender {
    config: Arc<SenderConfig>,
    stats: Arc<SenderStats>,
    permits: Semaphore,
    links: Mutex<HashMap<MemberId, Arc<LinkShared>>>,
}

impl PooledSender {
    pub fn new(config: SenderConfig) -> PooledSender {
        let permits = Semaphore::new(config.pool_size.max(1));
        PooledSender { config: Arc::new(config), stats: Arc::default(), permits, links: Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    fn link(&self, member: &Member) -> Arc<LinkShared> {
        let id = member.id();
        let mut links = self.links.lock().expect("links lock");
        if let Some(l) = links.get(&id) {
            return l.clone();
        }
        let link = Arc::new(LinkShared {
            member: member.clone(),
            state: Mutex::new(LinkState {
                queue: VecDeque::new(),
                queued_bytes: 0,
                conn: None,
                connected: false,
                writer_running: false,
                disconnect: false,
                room_waiters: 0,
                last_write: Instant::now(),
                barrier_busy: false,
                unconfirmed: false,
                spare: Vec::new(),
                extras: 0,
            }),
            room: Notify::new(),
            work: Notify::new(),
            config: self.config.clone(),
            stats: self.stats.clone(),
        });
        links.insert(id, link.clone());
        link
    }

    /// Sends one complete frame (a framed ChannelData with these `options`) to every member of
    /// `destinations` at once, and waits per `options`: with USE_ACK until each acknowledged,
    /// otherwise until each frame is written, or only queued behind others for the member when
    /// its connection is open and busy (the writer then reports a failure to the log and the
    /// stats, and the member's next send reconnects). Returns how many resends each destination
    /// needed, in the order of `destinations` (duplicates are sent once).
    pub async fn send(
        &self,
        frame: Bytes,
        options: SendOptions,
        destinations: &[Member],
    ) -> Result<Vec<(MemberId, Delivered)>, SendError> {
        self.send_waiting(frame, options, destinations, Wait::Sync).await
    }

    /// As [`PooledSender::send`], but always waits until each frame was written or acknowledged.
    pub async fn send_and_wait(
        &self,
        frame: Bytes,
        options: SendOptions,
        destinations: &[Member],
    ) -> Result<Vec<(MemberId, Delivered)>, SendError> {
        self.send_waiting(frame, options, destinations, Wait::Always).await
    }

    /// Queues one frame for `member` behind what is queued for it and returns (ASYNCHRONOUS):
    /// waits only while the member's queue is full. A failure goes to `on_failure` and the log;
    /// `hold` is dropped once the frame was written or failed.
    pub async fn enqueue(
        &self,
        member: &Member,
        frame: Bytes,
        options: SendOptions,
        on_failure: Option<FailureHook>,
        hold: Option<Hold>,
    ) {
        if options.contains(SendOptions::UDP) {
            // A datagram needs no connection and keeps no order: sent from a task of its own.
            let (member, config, stats) = (member.clone(), self.config.clone(), self.stats.clone());
            tokio::spawn(async move {
                let deadline = Instant::now() + config.timeout;
                let r = deliver(&mut None, &member, &frame, options, &config, &stats, deadline).await;
                Entry { frame, options, reply: None, on_failure, _hold: hold }.finish(r);
            });
            return;
        }
        let _ = self.link(member).enqueue(frame, options, Wait::Never, on_failure, hold).await;
    }

    async fn send_waiting(
        &self,
        frame: Bytes,
        options: SendOptions,
        destinations: &[Member],
        wait: Wait,
    ) -> Result<Vec<(MemberId, Delivered)>, SendError> {
        let mut unique: Vec<&Member> = Vec::with_capacity(destinations.len());
        for d in destinations {
            if !unique.iter().any(|u| u.host == d.host && u.port == d.port && u.unique_id == d.unique_id) {
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
        let mut delivered = Vec::with_capacity(unique.len());
        let mut faulty = Vec::new();
        if options.contains(SendOptions::UDP) {
            let deadline = Instant::now() + self.config.timeout;
            let tasks: Vec<_> = unique
                .iter()
                .map(|m| {
                    let (m, frame, config, stats) =
                        ((*m).clone(), frame.clone(), self.config.clone(), self.stats.clone());
                    tokio::spawn(async move {
                        let r = deliver(&mut None, &m, &frame, options, &config, &stats, deadline).await;
                        (m.id(), r)
                    })
                })
                .collect();
            for task in tasks {
                let (id, r) = task.await.expect("a datagram send does not panic");
                match r {
                    Ok(d) => delivered.push((id, d)),
                    Err(f) => faulty.push(f),
                }
            }
        } else {
            let links: Vec<Arc<LinkShared>> = unique.iter().map(|m| self.link(m)).collect();
            let mut answers = Vec::with_capacity(links.len());
            for link in &links {
                answers.push(link.enqueue(frame.clone(), options, wait, None, None).await);
            }
            for (link, answer) in links.iter().zip(answers) {
                let r = match answer {
                    None => Ok(Delivered { resends: 0 }),
                    Some(Answer::Now(r)) => r,
                    Some(Answer::Later(answer)) => answer.await.unwrap_or_else(|_| {
                        Err(FaultyMember {
                            member: link.member.id(),
                            cause: FailureCause::Io(std::io::Error::other("the member's writer stopped")),
                            attempts: 0,
                        })
                    }),
                };
                match r {
                    Ok(d) => delivered.push((link.member.id(), d)),
                    Err(f) => faulty.push(f),
                }
            }
            if !faulty.is_empty() && links.len() > 1 {
                // ParallelNioSender.sendMessage: any failure disconnects the whole sender.
                for link in &links {
                    link.disconnect();
                }
            }
        }
        if faulty.is_empty() {
            bump(&self.stats.messages);
            Ok(delivered)
        } else {
            Err(SendError { faulty })
        }
    }

    /// The heartbeat's keepalive (`PooledSender.keepalive`): closes idle connections past
    /// `keepAliveCount`/`keepAliveTime` and those the member has closed, and forgets members
    /// without a connection or anything queued. Returns how many connections it closed.
    pub fn keepalive(&self) -> usize {
        let now = Instant::now();
        let mut closed = 0;
        self.links.lock().expect("links lock").retain(|_, link| {
            let mut st = link.lock();
            if let Some(c) = st.conn.as_mut() {
                if c.expired(&self.config, now) || c.poll_closed().is_err() {
                    st.conn = None;
                    st.connected = false;
                    closed += 1;
                }
            }
            let before = st.spare.len();
            st.spare.retain_mut(|c| !c.expired(&self.config, now) && c.poll_closed().is_ok());
            let gone = before - st.spare.len();
            st.extras -= gone;
            closed += gone;
            st.writer_running || st.conn.is_some() || st.extras > 0 || Arc::strong_count(link) > 1
        });
        for _ in 0..closed {
            bump(&self.stats.keepalive_closed);
        }
        closed
    }

    /// Open connections without a running writer, and idle extra connections (for tests and
    /// metrics).
    pub fn idle_connections(&self) -> usize {
        self.links
            .lock()
            .expect("links lock")
            .values()
            .map(|l| {
                let st = l.lock();
                usize::from(st.conn.is_some()) + st.spare.len()
            })
            .sum()
    }

    /// Bytes queued for members and not yet taken by their writers.
    pub fn queued_bytes(&self) -> usize {
        self.links.lock().expect("links lock").values().map(|l| l.lock().queued_bytes).sum()
    }
}
