//! The channel of the data path: what Tomcat's `group.GroupChannel` does for sending (build the
//! ChannelData: fresh message id, timestamp, the local member as address, the BYTE_MESSAGE bit
//! from the payload kind), its default `MessageDispatchInterceptor` (ASYNCHRONOUS messages are
//! queued and sent in the background), and receiving (messages from the receiver handed to the
//! application through a bounded queue).
//!
//! Spec: `interceptors.md` §0, §2; `tribes-wire.md` §3-§5, §7. Java sources
//! `group/GroupChannel.java`, `group/interceptors/MessageDispatchInterceptor.java`.
//!
//! Differences from stock, on purpose:
//! - Queued messages keep their order per destination: they go to the sender's queue for that
//!   member, whose one connection carries every message to it, asynchronous or not (see
//!   [`crate::sender`]). (Stock hands them to a pool of 10 threads and they may overtake each
//!   other.) `send` returns once the message is queued; a member's queue is bounded
//!   ([`crate::sender::LINK_QUEUE_BYTES`]) and a full one makes the caller wait.
//! - When the queue is full (`maxQueueSize`) and `alwaysSend` is set, the message is still queued
//!   behind the others and the caller waits until it was sent to every destination and gets the
//!   result, as with Tomcat's direct send, but without overtaking what is queued. Without
//!   `alwaysSend` the send fails at once.
//! - Received payloads are not deserialized: the application gets the bytes and their kind.
//! - The receive queue is bounded by messages and by bytes ([`ChannelConfig::receive_queue_bytes`],
//!   64 MiB): a slow application makes the connections wait instead of growing memory.
//! - An RpcMessage request (BackupManager, ClusterSingleSignOn, static membership) is answered at
//!   once with `RpcMessage$NoRpcChannelReply`, as a stock GroupChannel without a matching
//!   RpcChannel does ([`crate::rpc`]); it does not reach the application.
//! - SEND_OPTIONS_UDP goes as one datagram per frame to the member's `udpPort`
//!   ([`crate::udp`]); SEND_OPTIONS_MULTICAST goes to the membership group through
//!   [`GroupChannel::set_broadcaster`] (`ChannelCoordinator` hands it to `McastService.broadcast`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tribes_wire::options::AckMode;
use tribes_wire::{ChannelData, Member, SendOptions, UniqueId};

use crate::membership::Broadcaster;
use crate::receiver::{AsyncHandler, HandlerFuture};
use crate::sender::{FailureHook, Hold, PooledSender, SendError, SenderConfig};

/// What a message carries (`GroupChannel.send` forces the BYTE_MESSAGE bit from this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Raw bytes (a Tomcat `ByteMessage`): BYTE_MESSAGE set.
    Bytes(Bytes),
    /// The bytes of one Java-serialized object (`AC ED 00 05 ...`): BYTE_MESSAGE cleared.
    Serialized(Bytes),
}

impl Payload {
    pub fn bytes(&self) -> &Bytes {
        match self {
            Payload::Bytes(b) | Payload::Serialized(b) => b,
        }
    }

    /// `options` with the BYTE_MESSAGE bit as GroupChannel sets it for this payload.
    pub fn force_kind(&self, options: SendOptions) -> SendOptions {
        match self {
            Payload::Bytes(_) => options.with(SendOptions::BYTE_MESSAGE),
            Payload::Serialized(_) => options.without(SendOptions::BYTE_MESSAGE),
        }
    }
}

/// `<Interceptor className="...MessageDispatchInterceptor">` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// `maxQueueSize`: bytes of queued frames (64 MiB).
    pub max_queue_size: usize,
    /// `alwaysSend`: when the queue is full, send anyway and make the caller wait (true).
    pub always_send: bool,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig { max_queue_size: 64 << 20, always_send: true }
    }
}

/// The channel's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    pub sender: SenderConfig,
    pub dispatch: DispatchConfig,
    /// Messages received but not yet taken by the application; when full, connections wait.
    pub receive_queue: usize,
    /// Payload bytes of received messages the application holds or has not taken yet (64 MiB);
    /// when over, connections wait. A message is counted until its [`Incoming`] is dropped or
    /// completed. A single message larger than this is let through alone.
    pub receive_queue_bytes: usize,
    /// How long the receiver waits for the application's verdict on a SYNCHRONIZED_ACK message
    /// before it answers FAIL_ACK (the sender gave up after its own timeout anyway).
    pub sync_verdict_timeout: Duration,
    /// `heartbeatSleeptime`: how often idle connections are checked (5 s).
    pub heartbeat: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            sender: SenderConfig::default(),
            dispatch: DispatchConfig::default(),
            receive_queue: 1024,
            receive_queue_bytes: DEFAULT_RECEIVE_QUEUE_BYTES,
            sync_verdict_timeout: Duration::from_secs(60),
            heartbeat: Duration::from_millis(5000),
        }
    }
}

/// The default of [`ChannelConfig::receive_queue_bytes`]: 64 MiB, MessageDispatchInterceptor's
/// `maxQueueSize` for the other direction.
pub const DEFAULT_RECEIVE_QUEUE_BYTES: usize = 64 << 20;

/// Why a channel send failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// No destination was given (`groupChannel.noDestination`). Nothing was sent.
    #[error("no destination member")]
    NoDestination,
    /// The asynchronous queue is full and `alwaysSend` is off. Nothing was sent.
    #[error("the send queue is full ({queued} of {max} bytes queued)")]
    QueueFull { queued: usize, max: usize },
    /// Some destinations did not get the message; the others did.
    #[error(transparent)]
    Send(#[from] SendError),
    /// A MULTICAST send could not go to the membership group (no membership service attached
    /// with [`GroupChannel::set_broadcaster`], frame over 65535 bytes, or a socket error).
    #[error("multicast send failed: {0}")]
    Multicast(String),
}

/// Counters of the asynchronous dispatcher.
#[derive(Debug, Default)]
pub struct DispatchStats {
    /// Messages queued.
    pub queued: AtomicU64,
    /// Messages queued while the queue was full (the caller waited).
    pub overflowed: AtomicU64,
    /// Per-destination sends of queued messages that failed (logged, not reported to the caller).
    pub failed: AtomicU64,
}

/// A message from a member, as the application gets it.
#[derive(Debug)]
pub struct Incoming {
    /// The whole ChannelData: options, timestamp, id, the sender's member packet, payload.
    pub message: ChannelData,
    verdict: Option<oneshot::Sender<Result<(), String>>>,
    /// The message's share of the receive queue's byte budget, given back on drop.
    _budget: Option<OwnedSemaphorePermit>,
}

impl Incoming {
    /// The payload, typed by the BYTE_MESSAGE bit.
    pub fn payload(&self) -> Payload {
        if self.message.options.contains(SendOptions::BYTE_MESSAGE) {
            Payload::Bytes(self.message.message.clone())
        } else {
            Payload::Serialized(self.message.message.clone())
        }
    }

    /// The sending member, as it describes itself.
    pub fn sender(&self) -> &Member {
        &self.message.address
    }

    /// Whether the sender waits for [`Incoming::complete`] (USE_ACK with SYNCHRONIZED_ACK).
    pub fn awaits_verdict(&self) -> bool {
        self.verdict.is_some()
    }

    /// Reports whether the application processed the message. For a SYNCHRONIZED_ACK message,
    /// `Err` makes the sender get FAIL_ACK (and a Tomcat sender resend it once). Dropping an
    /// `Incoming` counts as success.
    pub fn complete(mut self, result: Result<(), String>) {
        if let Some(v) = self.verdict.take() {
            let _ = v.send(result);
        }
    }
}

/// A channel: the pooled sender, the asynchronous dispatcher, and the local member that every
/// message names as its sender.
pub struct GroupChannel {
    local: Member,
    sender: Arc<PooledSender>,
    dispatcher: Arc<Dispatcher>,
    config: ChannelConfig,
    heartbeat: JoinHandle<()>,
    broadcaster: Mutex<Option<Broadcaster>>,
    rpc_replies: Arc<AtomicU64>,
}

impl GroupChannel {
    /// Must be called inside a tokio runtime (it starts the heartbeat task).
    pub fn new(local: Member, config: ChannelConfig) -> GroupChannel {
        let sender = Arc::new(PooledSender::new(config.sender.clone()));
        let stats = Arc::new(DispatchStats::default());
        let on_failure: FailureHook = {
            let stats = stats.clone();
            Arc::new(move |f| {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    member = %f.member,
                    cause = %f.cause,
                    remote = f.cause.is_remote_process_failure(),
                    "asynchronous send failed"
                );
            })
        };
        let dispatcher = Arc::new(Dispatcher {
            config: config.dispatch.clone(),
            sender: sender.clone(),
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            stats,
            on_failure,
        });
        let heartbeat = {
            let (sender, every) = (sender.clone(), config.heartbeat);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let closed = sender.keepalive();
                    if closed > 0 {
                        tracing::debug!(closed, "keepalive closed sender connections");
                    }
                }
            })
        };
        GroupChannel {
            local,
            sender,
            dispatcher,
            config,
            heartbeat,
            broadcaster: Mutex::new(None),
            rpc_replies: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn local(&self) -> &Member {
        &self.local
    }

    pub fn sender(&self) -> &PooledSender {
        &self.sender
    }

    pub fn dispatch_stats(&self) -> &DispatchStats {
        &self.dispatcher.stats
    }

    /// Where MULTICAST sends go: the membership service's group socket
    /// ([`crate::membership::MembershipService::broadcaster`]).
    pub fn set_broadcaster(&self, broadcaster: Broadcaster) {
        *self.broadcaster.lock().expect("broadcaster lock") = Some(broadcaster);
    }

    /// NoRpcChannelReply answers sent so far (see [`crate::rpc`]).
    pub fn rpc_replies(&self) -> u64 {
        self.rpc_replies.load(Ordering::Relaxed)
    }

    /// Bytes of frames queued by the dispatcher now.
    pub fn queued_bytes(&self) -> usize {
        self.dispatcher.queued_bytes.load(Ordering::Relaxed)
    }

    /// The ChannelData `GroupChannel.send` builds: fresh id, now, our member, the kind's bit.
    pub fn message(&self, payload: &Payload, options: SendOptions) -> ChannelData {
        ChannelData {
            options: payload.force_kind(options),
            timestamp: now_ms(),
            unique_id: Bytes::copy_from_slice(&message_id()),
            address: self.local.clone(),
            message: payload.bytes().clone(),
        }
    }

    /// Sends `payload` to `destinations`. Without ASYNCHRONOUS it returns when every destination
    /// got it (acknowledged with USE_ACK, written otherwise). With ASYNCHRONOUS it returns once the
    /// message is queued; failures then only reach the log and [`DispatchStats`]. Returns the
    /// message id.
    pub async fn send(
        &self,
        destinations: &[Member],
        payload: Payload,
        options: SendOptions,
    ) -> Result<UniqueId, ChannelError> {
        if destinations.is_empty() {
            return Err(ChannelError::NoDestination);
        }
        let message = self.message(&payload, options);
        let id = UniqueId(message.unique_id[..].try_into().expect("16-byte id"));
        let frame = message.to_frame();
        if message.options.contains(SendOptions::MULTICAST) {
            // ChannelCoordinator.sendMessage: the destinations do not matter, the group gets it.
            let broadcaster = self.broadcaster.lock().expect("broadcaster lock").clone();
            let Some(broadcaster) = broadcaster else {
                return Err(ChannelError::Multicast("no membership service to broadcast with".into()));
            };
            broadcaster.broadcast(frame).await.map_err(|e| ChannelError::Multicast(e.to_string()))?;
        } else if message.options.contains(SendOptions::ASYNCHRONOUS) {
            self.dispatcher.dispatch(frame, message.options, destinations).await?;
        } else {
            self.sender.send(frame, message.options, destinations).await?;
        }
        Ok(id)
    }

    /// A receiver handler that hands messages to the returned queue, for
    /// [`crate::receiver::serve_with`] (and the UDP receiver and multicast data). A full queue
    /// (by messages or bytes) makes the connection wait. For a SYNCHRONIZED_ACK message the ACK
    /// waits for [`Incoming::complete`]. RpcMessages are answered with a NoRpcChannelReply here
    /// and not queued.
    pub fn incoming(&self) -> (AsyncHandler, mpsc::Receiver<Incoming>) {
        let c = &self.config;
        let (queue, rx) = incoming_bounded(c.receive_queue, c.receive_queue_bytes, c.sync_verdict_timeout);
        let replier = RpcReplier {
            local: self.local.clone(),
            dispatcher: self.dispatcher.clone(),
            replies: self.rpc_replies.clone(),
        };
        let handler: AsyncHandler = Arc::new(move |message: ChannelData| -> HandlerFuture {
            if replier.answered(&message) {
                return Box::pin(std::future::ready(Ok(())));
            }
            queue(message)
        });
        (handler, rx)
    }
}

/// Answers RpcMessages for GroupChannel::incoming (`GroupChannel.sendNoRpcChannelReply`).
struct RpcReplier {
    local: Member,
    dispatcher: Arc<Dispatcher>,
    replies: Arc<AtomicU64>,
}

impl RpcReplier {
    /// If `message` is an RpcMessage (not a NoRpcChannelReply), queues the NoRpcChannelReply to
    /// its sender (options ASYNCHRONOUS, as stock) and returns true.
    fn answered(&self, message: &ChannelData) -> bool {
        if message.options.contains(SendOptions::BYTE_MESSAGE) {
            return false;
        }
        let Some(header) = crate::rpc::parse_header(&message.message) else {
            return false;
        };
        if !header.wants_no_rpc_channel_reply() {
            tracing::debug!(from = %message.address.id(), "NoRpcChannelReply received and dropped");
            return true;
        }
        let payload = Payload::Serialized(crate::rpc::no_rpc_channel_reply(&header.rpc_id, &header.uuid));
        let reply = ChannelData {
            options: payload.force_kind(SendOptions::ASYNCHRONOUS),
            timestamp: now_ms(),
            unique_id: Bytes::copy_from_slice(&message_id()),
            address: self.local.clone(),
            message: payload.bytes().clone(),
        };
        let (dispatcher, to, options) = (self.dispatcher.clone(), message.address.clone(), reply.options);
        self.replies.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            from = %to.id(),
            rpc_id = %String::from_utf8_lossy(&header.rpc_id),
            "no RpcChannel here: answering NoRpcChannelReply"
        );
        tokio::spawn(async move {
            if let Err(e) = dispatcher.dispatch(reply.to_frame(), options, std::slice::from_ref(&to)).await {
                tracing::warn!(member = %to.id(), error = %e, "sending NoRpcChannelReply failed");
            }
        });
        true
    }
}

impl Drop for GroupChannel {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// A receiver handler that hands messages to a queue of `capacity` messages and
/// [`DEFAULT_RECEIVE_QUEUE_BYTES`] (see [`GroupChannel::incoming`]).
pub fn incoming(capacity: usize, verdict_timeout: Duration) -> (AsyncHandler, mpsc::Receiver<Incoming>) {
    incoming_bounded(capacity, DEFAULT_RECEIVE_QUEUE_BYTES, verdict_timeout)
}

/// A receiver handler that hands messages to a queue bounded by `capacity` messages and by
/// `max_bytes` of payload held by the application (until each [`Incoming`] is dropped or
/// completed). A handler call waits for room, so its connection reads nothing more meanwhile.
pub fn incoming_bounded(
    capacity: usize,
    max_bytes: usize,
    verdict_timeout: Duration,
) -> (AsyncHandler, mpsc::Receiver<Incoming>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    // Permits count bytes; tokio takes at most u32::MAX of them in one acquire.
    let max_bytes = max_bytes.clamp(1, u32::MAX as usize);
    let budget = Arc::new(Semaphore::new(max_bytes));
    let handler: AsyncHandler = Arc::new(move |message: ChannelData| -> HandlerFuture {
        let (tx, budget) = (tx.clone(), budget.clone());
        Box::pin(async move {
            // A message over the whole budget waits for everything else to be given back.
            let cost = message.message.len().clamp(1, max_bytes) as u32;
            let permit =
                budget.acquire_many_owned(cost).await.map_err(|_| "the receive queue is closed".to_string())?;
            let sync = message.options.ack_mode() == AckMode::AfterProcessing;
            let (verdict, answer) = if sync {
                let (v, a) = oneshot::channel();
                (Some(v), Some(a))
            } else {
                (None, None)
            };
            tx.send(Incoming { message, verdict, _budget: Some(permit) })
                .await
                .map_err(|_| "the application stopped receiving".to_string())?;
            let Some(answer) = answer else {
                return Ok(());
            };
            match tokio::time::timeout(verdict_timeout, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Ok(()), // dropped without a verdict: processed
                Err(_) => Err(format!("the application gave no verdict within {verdict_timeout:?}")),
            }
        })
    });
    (handler, rx)
}

/// A queued message's share of the queue count, given back when the last destination is done
/// with it.
struct Queued {
    counted: usize,
    queued_bytes: Arc<AtomicUsize>,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.queued_bytes.fetch_sub(self.counted, Ordering::Relaxed);
    }
}

/// `MessageDispatchInterceptor` over the sender's per-member queues: each destination's frames
/// leave in order on its one connection.
struct Dispatcher {
    config: DispatchConfig,
    sender: Arc<PooledSender>,
    queued_bytes: Arc<AtomicUsize>,
    stats: Arc<DispatchStats>,
    /// Counts a failed queued send in `stats` (shared by every queued frame).
    on_failure: FailureHook,
}

impl Dispatcher {
    async fn dispatch(&self, frame: Bytes, options: SendOptions, destinations: &[Member]) -> Result<(), ChannelError> {
        let size = frame.len();
        let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        let full = before + size > self.config.max_queue_size;
        if full && !self.config.always_send {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            return Err(ChannelError::QueueFull { queued: before, max: self.config.max_queue_size });
        }
        let hold: Hold = Arc::new(Queued { counted: size, queued_bytes: self.queued_bytes.clone() });
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if full {
            // Queued behind the others all the same; the caller waits for the outcome.
            self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
            let r = self.sender.send_and_wait(frame, options, destinations).await;
            drop(hold);
            return r.map(drop).map_err(ChannelError::Send);
        }
        if let [one] = destinations {
            self.sender.enqueue(one, frame, options, Some(self.on_failure.clone()), Some(hold)).await;
            return Ok(());
        }
        let mut seen: Vec<&Member> = Vec::with_capacity(destinations.len());
        for member in destinations {
            if seen.iter().any(|m| m.id() == member.id()) {
                continue;
            }
            seen.push(member);
            let (frame, hold) = (frame.clone(), hold.clone());
            self.sender.enqueue(member, frame, options, Some(self.on_failure.clone()), Some(hold)).await;
        }
        Ok(())
    }
}

/// A fresh message id (UUID v4 layout). Ids need to be unique, not secret: Tomcat draws them from
/// java.util.Random. A per-thread generator seeded from the OS avoids a system call per message.
pub(crate) fn message_id() -> [u8; 16] {
    UniqueId::from_random(fastrand::u128(..).to_be_bytes()).0
}

/// The wall clock in epoch milliseconds, as ChannelData timestamps carry it.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sender::FailureCause;

    #[test]
    fn the_byte_message_bit_follows_the_payload_kind() {
        let b = Payload::Bytes(Bytes::from_static(b"x"));
        let s = Payload::Serialized(Bytes::from_static(b"\xac\xed\x00\x05"));
        assert_eq!(b.force_kind(SendOptions(8)), SendOptions(9));
        assert_eq!(s.force_kind(SendOptions(9)), SendOptions(8));
        assert_eq!(s.force_kind(SendOptions(6)), SendOptions(6));
    }

    #[test]
    fn a_failure_cause_says_whether_the_member_is_alive() {
        assert!(FailureCause::FailAck.is_remote_process_failure());
        assert!(!FailureCause::Eof.is_remote_process_failure());
    }
}
