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
//! Connections: each member has one ordered connection with a bounded queue of frames
//! ([`LINK_QUEUE_BYTES`]) drained by a writer task, instead of one connection per pool slot. Frames
//! without USE_ACK that are queued behind each other go out in one `writev`; a USE_ACK frame goes
//! alone and the writer reads its ACK before the next frame. A send without USE_ACK returns once
//! its frame is queued when the connection is open and was used within the last 2 ms (Tomcat
//! returns once the kernel took it); otherwise (first frame, after a failure, after a pause) it
//! waits until the frame is written, so a closed or dead member is reported to that caller. A
//! frame that fails after its caller returned is logged and counted in [`SenderStats::failures`]
//! and the member's next send reconnects. `poolSize`/`maxWait` still bound the sends in progress.
//!
//! What differs, on purpose: the timeout is exact (Tomcat's selector loop overshoots to ~5 s); a
//! reply that is not a valid frame fails the destination at once (Tomcat waits for the timeout);
//! one connection per destination, so one caller's messages arrive in order whatever their options.

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
}

/// One member's ordered connection: every frame for the member goes through its queue, so one
/// caller's messages leave in order whatever their options; a writer task drains the queue and
/// writes the frames queued behind each other with one system call.
struct LinkShared {
    member: Member,
    state: Mutex<LinkState>,
    room: Notify,
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
                    if waits && !st.writer_running && st.queue.is_empty() {
                        // Nothing queued and no writer: the caller writes (and reads the ACK)
                        // itself, saving the hand-over to a writer task and back.
                        st.writer_running = true;
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
                        }
                        return answer.map(Answer::Later);
                    }
                }
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
        let mut guard = InlineWriter { link: self.clone(), conn };
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
}

impl Drop for InlineWriter {
    fn drop(&mut self) {
        let mut st = self.link.lock();
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

/// The writer of one member: takes the queued frames in order, writes those without USE_ACK that
/// are queued behind each other with one system call, sends each USE_ACK frame alone and reads
/// its ACK. Ends when the queue is empty, leaving the connection in the link.
async fn run_writer(link: Arc<LinkShared>, mut conn: Option<Connection>) {
    let mut batch: Vec<Entry> = Vec::new();
    loop {
        let wake_room;
        {
            let mut st = link.lock();
            if st.disconnect {
                st.disconnect = false;
                conn = None;
            }
            st.connected = conn.is_some();
            if st.queue.is_empty() {
                st.writer_running = false;
                st.conn = conn.take();
                st.last_write = Instant::now();
                return;
            }
            let mut bytes = 0;
            while let Some(e) = st.queue.front() {
                let single = e.options.contains(SendOptions::USE_ACK) || e.options.contains(SendOptions::UDP);
                if !batch.is_empty() && (single || bytes + e.frame.len() > MAX_WRITE_BYTES || batch.len() >= MAX_IOV) {
                    break;
                }
                let e = st.queue.pop_front().expect("front exists");
                bytes += e.frame.len();
                batch.push(e);
                if single {
                    break;
                }
            }
            st.queued_bytes -= bytes;
            wake_room = st.room_waiters > 0;
        }
        if wake_room {
            link.room.notify_waiters();
        }
        let config = &link.config;
        let deadline = Instant::now() + config.timeout;
        let first = &batch[0];
        if batch.len() == 1
            && (first.options.contains(SendOptions::USE_ACK) || first.options.contains(SendOptions::UDP))
        {
            let e = batch.pop().expect("one entry");
            let r = deliver(&mut conn, &link.member, &e.frame, e.options, config, &link.stats, deadline).await;
            if r.is_err() {
                // ParallelNioSender.sendMessage: any failure disconnects the sender.
                conn = None;
            }
            e.finish(r);
            continue;
        }
        let (written, outcome) = write_batch(&mut conn, &link.member, &batch, config, &link.stats, deadline).await;
        let (resends, mut failure) = match outcome {
            Ok(d) => (d.resends, None),
            Err(f) => (f.attempts.saturating_sub(1), Some(f)),
        };
        let behind = failure.as_ref().map(|f| (f.member.clone(), f.attempts, f.cause.to_string()));
        for (i, e) in batch.drain(..).enumerate() {
            if i < written {
                bump(&link.stats.deliveries);
                e.finish(Ok(Delivered { resends }));
                continue;
            }
            bump(&link.stats.failures);
            let f = match failure.take() {
                Some(f) => f,
                None => {
                    let (member, attempts, cause) = behind.clone().expect("a failure when frames are left");
                    let cause = format!("queued behind a message that failed: {cause}");
                    FaultyMember { member, cause: FailureCause::Io(std::io::Error::other(cause)), attempts }
                }
            };
            e.finish(Err(f));
        }
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
/// task; the pool's `poolSize` and `maxWait` bound how many sends wait at once.
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
            }),
            room: Notify::new(),
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
            st.writer_running || st.conn.is_some() || Arc::strong_count(link) > 1
        });
        for _ in 0..closed {
            bump(&self.stats.keepalive_closed);
        }
        closed
    }

    /// Open connections without a running writer (for tests and metrics).
    pub fn idle_connections(&self) -> usize {
        self.links.lock().expect("links lock").values().filter(|l| l.lock().conn.is_some()).count()
    }

    /// Bytes queued for members and not yet taken by their writers.
    pub fn queued_bytes(&self) -> usize {
        self.links.lock().expect("links lock").values().map(|l| l.lock().queued_bytes).sum()
    }
}
