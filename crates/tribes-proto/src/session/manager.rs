//! The DeltaManager machine (session-replication.md §4, §5), sans-IO.
//!
//! Spec: `org.apache.catalina.ha.session.DeltaManager` (`messageDataReceived`, `messageReceived`,
//! the `handle*` methods, `getAllClusterSessions`, `waitForSendAllSessions`, `requestCompleted`,
//! `stopInternal`), `ClusterSessionListener.messageReceived` (routing by context name and the
//! NOCONTEXTMANAGER reply), `DeltaSession.isValid`/`expire` and `DeltaRequest.execute`, the same
//! on Tomcat 9.0, 10.1 and 11.0.
//!
//! One [`DeltaManager`] serves every context the node holds (Tomcat has one manager per webapp
//! and a listener routing between them; the per-context state lives in the machine's map). The
//! sessions live in a shared [`Store`]; the machine is its only writer.
//!
//! Inputs are `handle_*` calls with a [`Now`] (an `Instant` for timers and the epoch ms that
//! session times and message timestamps use); outputs are drained with [`DeltaManager::poll_output`]
//! in order, and the runtime must send [`Output::Send`]s in that order on an ordered path per
//! destination (one session's messages must not overtake each other). `poll_timeout` says when to
//! call [`DeltaManager::handle_timeout`].
//!
//! Differences from stock, on purpose:
//! - A DELTA for a session we do not hold is kept (bounded per session, in count, in bytes and in
//!   age) and applied when the session's CREATED arrives; stock drops it, and with its
//!   reordering dispatcher that loses data.
//! - An attribute refused by the class filter is dropped alone and reported; stock fails the
//!   whole DELTA or state message.
//! - State transfer (responder) does not block anything: the DATA slices are [`Output::Send`]s
//!   with a [`SendToken`], and the next slice (after `sendAllSessionsWaitTime`) or
//!   TRANSFERCOMPLETE only leaves once [`DeltaManager::handle_send_result`] reported the previous
//!   DATA's SYNC ACK (or its failure: Tomcat logs that and goes on, so do we). A transfer to a
//!   member that leaves is abandoned. With [`ManagerConfig::runtime_encodes_state`] a DATA slice
//!   is an [`Output::SendState`] whose stream the runtime writes straight into its frame
//!   ([`DeltaManager::encode_state_slice`], one session at a time), so the whole state is held
//!   once (stock builds it in a growing byte array, copies it and frames it again).
//! - State transfer (requester): when the member we asked leaves before answering, the new
//!   `members[0]` is asked (stock waits out `stateTransferTimeout`). A GET_ALL_SESSIONS from the
//!   very member we asked is answered at once instead of queued: that member waits for its own
//!   state, so two nodes starting together would otherwise both wait out the timeout (with a
//!   stock peer only we still do, since it drops our queued request).
//! - CREATED and CHANGE_SESSION_ID leave with a SYNC ACK (`ordering_send_options`), so a stock
//!   receiver has processed them before the DELTA that follows arrives (its NioReceiver may
//!   process two reads of one connection on two threads in either order).
//! - Expiry is checked every `expiry_check_interval` (1 s) instead of every 60 s
//!   (`processExpiresFrequency` x `backgroundProcessorDelay`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tribes_wire::{MemberId, SendOptions};

use super::delta::DeltaRequest;
use super::state::{self, StateForm};
use super::store::{Expiry, Session, Store};
use super::{ActionKind, DeltaAction, EventType, JavaValue, Op, SessionCodecError, SessionMessage};

/// A change made on this node, as the Java bridge (or `tribesd session set`) reports it. One
/// request's changes are applied together and leave as one DeltaRequest (CREATED first when the
/// request created the session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalChange {
    /// A new session; `max_inactive_interval` defaults to the context's (sessionTimeout x 60).
    Create {
        max_inactive_interval: Option<i32>,
    },
    SetAttribute {
        name: String,
        value: JavaValue,
    },
    RemoveAttribute {
        name: String,
    },
    SetPrincipal(Option<JavaValue>),
    SetAuthType(Option<String>),
    SetMaxInactiveInterval(i32),
    SetNew(bool),
    SetNote {
        name: String,
        value: JavaValue,
    },
    RemoveNote {
        name: String,
    },
    /// The session was used by a request without changes (ACCESSED rules of §5.5).
    Access,
    /// Rename (JvmRouteBinderValve, changeSessionId): sends EVT_CHANGE_SESSION_ID at once.
    ChangeId {
        new_id: String,
    },
    /// invalidate(): final DELTA if dirty, then EXPIRED.
    Invalidate,
}

/// Why a local change was refused. Nothing of the request was applied or sent.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// This node does not hold the context.
    #[error("no context {0:?} on this node")]
    UnknownContext(String),
    /// The context holds no session with this id.
    #[error("no session {id} in context {context:?}")]
    UnknownSession { context: String, id: String },
    /// `Create` or `ChangeId` names an id that is already in use.
    #[error("session {id} already exists in context {context:?}")]
    SessionExists { context: String, id: String },
    /// The list is not one request's changes (`Create` not first, `Invalidate` not last, ...).
    #[error("invalid change list: {0}")]
    InvalidChanges(String),
    /// The runtime that drives the machine has stopped.
    #[error("the session service has stopped")]
    Stopped,
}

/// The `<Manager className="org.apache.catalina.ha.session.DeltaManager">` attributes (with
/// Tomcat's defaults, `ManagerConfig::default()`) and our own bounds.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// `stateTransferTimeout`: `None` waits forever (Tomcat's -1), zero does not wait [60 s].
    pub state_transfer_timeout: Option<Duration>,
    /// `sendAllSessions`: one DATA message with every session [true].
    pub send_all_sessions: bool,
    /// `sendAllSessionsSize`: sessions per DATA slice otherwise [1000].
    pub send_all_sessions_size: usize,
    /// `sendAllSessionsWaitTime`: pause between slices, after the previous slice's ACK [2000 ms].
    pub send_all_sessions_wait_time: Duration,
    /// `stateTimestampDrop` [true].
    pub state_timestamp_drop: bool,
    /// `notifyListenersOnReplication`: attribute listener events for replicated changes [true].
    pub notify_listeners_on_replication: bool,
    /// `notifySessionListenersOnReplication` [true].
    pub notify_session_listeners_on_replication: bool,
    /// `notifyContainerListenersOnReplication` [true].
    pub notify_container_listeners_on_replication: bool,
    /// `recordAllActions` [false].
    pub record_all_actions: bool,
    /// `expireSessionsOnShutdown` [false].
    pub expire_sessions_on_shutdown: bool,
    /// `<Cluster channelSendOptions>` [8, ASYNCHRONOUS].
    pub channel_send_options: SendOptions,
    /// Options of the CREATED and CHANGE_SESSION_ID this node sends, which must be processed
    /// before the DELTA that follows them [6, USE_ACK + SYNCHRONIZED_ACK]. A stock NioReceiver
    /// re-arms a connection for reading before it processes what it read, so two reads of one
    /// connection may be processed by two threads in either order; with a SYNC ACK the next
    /// message only leaves once this one was processed. `channel_send_options` gives stock
    /// behaviour (and, with 8, lost first attributes on stock replicas now and then).
    pub ordering_send_options: SendOptions,
    /// The context's `sessionTimeout x 60`: maxInactiveInterval of sessions created here and of
    /// replicas made from CREATED [1800 s].
    pub max_inactive_interval: i32,
    /// Limits and the class firewall (`sessionAttributeValueClassNameFilter`) for every nested
    /// stream read (DELTA, ALL_SESSION_DATA).
    pub parse: jser::ParseOptions,
    /// `sessionAttributeNameFilter`: attributes whose name does not match are not replicated by
    /// this node (kept locally, never put in a DELTA or a state stream).
    pub attribute_name_filter: Option<jser::ClassFilter>,
    /// The state stream layout this node writes (10.1/11.0: with notes).
    pub state_form: StateForm,
    /// DELTAs kept for sessions we do not hold yet.
    pub pending: PendingLimits,
    /// Messages queued per context while waiting for state; more are dropped and counted (stock
    /// has no bound).
    pub max_queued_messages: usize,
    /// How often sessions are checked for expiry.
    pub expiry_check_interval: Duration,
    /// The runtime writes the state stream of each DATA message itself ([`Output::SendState`],
    /// [`DeltaManager::encode_state_slice`]), straight into the frame it sends, so that a large
    /// state is held once and not once per layer [false: DATA messages are [`Output::Send`]s
    /// with the stream as payload].
    pub runtime_encodes_state: bool,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            state_transfer_timeout: Some(Duration::from_secs(60)),
            send_all_sessions: true,
            send_all_sessions_size: 1000,
            send_all_sessions_wait_time: Duration::from_millis(2000),
            state_timestamp_drop: true,
            notify_listeners_on_replication: true,
            notify_session_listeners_on_replication: true,
            notify_container_listeners_on_replication: true,
            record_all_actions: false,
            expire_sessions_on_shutdown: false,
            channel_send_options: SendOptions::CLUSTER_DEFAULT,
            ordering_send_options: SendOptions::USE_ACK.with(SendOptions::SYNCHRONIZED_ACK),
            max_inactive_interval: 1800,
            parse: jser::ParseOptions::default(),
            attribute_name_filter: None,
            state_form: StateForm::WithNotes,
            pending: PendingLimits::default(),
            max_queued_messages: 100_000,
            expiry_check_interval: Duration::from_secs(1),
            runtime_encodes_state: false,
        }
    }
}

/// Bounds of the DELTA-before-CREATED store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLimits {
    /// DELTAs kept per session [16].
    pub per_session: usize,
    /// DELTAs kept in all [10 000].
    pub total: usize,
    /// Payload bytes kept in all [16 MiB].
    pub bytes: usize,
    /// A DELTA not applied within this time is dropped [60 s].
    pub max_age: Duration,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits { per_session: 16, total: 10_000, bytes: 16 << 20, max_age: Duration::from_secs(60) }
    }
}

/// The time of an input: a monotonic instant for timers, and the wall clock in epoch ms for
/// session times and message timestamps (Tomcat's `System.currentTimeMillis()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub instant: Instant,
    pub epoch_ms: i64,
}

impl Now {
    pub fn new(instant: Instant, epoch_ms: i64) -> Now {
        Now { instant, epoch_ms }
    }
}

/// Names a send whose outcome the machine waits for (the DATA slices of a state transfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendToken(pub u64);

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Every current member (the machine only emits this when there is one).
    All,
    One(MemberId),
}

/// What the machine asks for or reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `message` (its `encode()` is the ChannelData payload, a serialized object) with
    /// `options`. With a `token`, report the outcome with [`DeltaManager::handle_send_result`]
    /// (for USE_ACK + SYNCHRONIZED_ACK: once the member acknowledged having processed it).
    Send { to: Destination, message: SessionMessage, options: SendOptions, token: Option<SendToken> },
    /// Only with [`ManagerConfig::runtime_encodes_state`]: send the `EVT_ALL_SESSION_DATA` message
    /// of `slice` ([`StateSlice::message`] with the stream [`DeltaManager::encode_state_slice`]
    /// writes as payload) to `to` with `options`, and report the outcome with
    /// [`DeltaManager::handle_send_result`]. The stream must be written before the machine gets
    /// its next input, so that it holds the sessions as they were when the slice was made.
    SendState { to: MemberId, slice: StateSlice, options: SendOptions, token: SendToken },
    /// A listener event for the webapp side, fired as the notify flags say.
    Listener(ListenerEvent),
    /// Something worth a log line (and counted in [`ManagerStats`]).
    Notice(Notice),
}

/// The sessions of one `EVT_ALL_SESSION_DATA` message of a state transfer this node serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSlice {
    pub context: String,
    /// Session ids in stream order; every one was held when the slice was made.
    pub ids: SessionIds,
    /// `findSessionTimestamp`: the message's timestamp.
    pub snapshot_ts: i64,
}

impl StateSlice {
    /// The DATA message without its payload (`Some` and empty: the stream goes there).
    pub fn message(&self) -> SessionMessage {
        SessionMessage::all_session_data(&self.context, Bytes::new(), self.snapshot_ts)
    }
}

/// Session ids in one buffer, in an order of their own: a snapshot of 100,000 ids costs their
/// bytes and 8 more each, not a `String` each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionIds {
    text: String,
    /// `(start, end)` of each id in `text`, in order.
    spans: Vec<(u32, u32)>,
}

impl SessionIds {
    /// The ids of `context` in `store`, sorted.
    pub fn sorted(store: &Store, context: &str) -> SessionIds {
        let (mut count, mut bytes) = (0, 0);
        store.for_each_id(context, |id| {
            count += 1;
            bytes += id.len();
        });
        // Sized first: grown by doubling, the buffers could hold twice the ids' bytes.
        let mut ids = SessionIds { text: String::with_capacity(bytes), spans: Vec::with_capacity(count) };
        store.for_each_id(context, |id| ids.push(id));
        let SessionIds { text, spans } = &mut ids;
        spans.sort_unstable_by(|a, b| text[a.0 as usize..a.1 as usize].cmp(&text[b.0 as usize..b.1 as usize]));
        ids
    }

    pub fn push(&mut self, id: &str) {
        let start = u32::try_from(self.text.len()).expect("session ids of a context under 4 GiB");
        self.text.push_str(id);
        let end = u32::try_from(self.text.len()).expect("session ids of a context under 4 GiB");
        self.spans.push((start, end));
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans.iter().map(|&(a, b)| &self.text[a as usize..b as usize])
    }

    /// Keeps the ids for which `f` is true (their bytes stay in the buffer).
    pub fn retain(&mut self, mut f: impl FnMut(&str) -> bool) {
        let text = &self.text;
        self.spans.retain(|&(a, b)| f(&text[a as usize..b as usize]));
    }

    /// Consecutive runs of at most `size` ids, each in a buffer of its own.
    pub fn chunks(&self, size: usize) -> Vec<SessionIds> {
        self.spans
            .chunks(size.max(1))
            .map(|c| {
                let mut ids = SessionIds::default();
                for &(a, b) in c {
                    ids.push(&self.text[a as usize..b as usize]);
                }
                ids
            })
            .collect()
    }
}

impl<S: AsRef<str>> FromIterator<S> for SessionIds {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> SessionIds {
        let mut ids = SessionIds::default();
        for id in iter {
            ids.push(id.as_ref());
        }
        ids
    }
}

/// A session or attribute listener event caused by replication, with what a listener reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerEvent {
    pub context: String,
    pub kind: ListenerKind,
    /// Attribute events: the value set (added, replaced).
    pub value: Option<JavaValue>,
    /// Attribute events: the value replaced or removed.
    pub old: Option<JavaValue>,
    /// `SessionDestroyed`: the session as it was when it ended (its attributes included).
    pub session: Option<Arc<Session>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerKind {
    /// `sessionCreated` (`notifySessionListenersOnReplication`).
    SessionCreated {
        id: String,
    },
    /// `sessionDestroyed` (expiry of a replica, EXPIRED received, manager stop).
    SessionDestroyed {
        id: String,
    },
    /// A replicated id change; which listeners are notified.
    SessionIdChanged {
        old: String,
        new: String,
        session_listeners: bool,
        container_listeners: bool,
    },
    /// Attribute listeners (`notifyListenersOnReplication`).
    AttributeAdded {
        id: String,
        name: String,
    },
    AttributeReplaced {
        id: String,
        name: String,
    },
    AttributeRemoved {
        id: String,
        name: String,
    },
}

/// Why a state transfer wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// TRANSFERCOMPLETE arrived.
    Transferred,
    /// NOCONTEXTMANAGER arrived: the member does not hold the context.
    NoContextManager,
    /// `stateTransferTimeout` passed (Tomcat logs an error): the context goes on without state.
    Timeout,
    /// `stateTransferTimeout` is zero: the request left, nobody waits.
    NoWait,
    /// Every member left while we waited.
    NoMembers,
}

/// Things worth logging. Session ids and values belong at debug level only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A payload or nested stream that is not what Tomcat writes; the message was dropped.
    Malformed { from: MemberId, context: Option<String>, event: Option<EventType>, reason: String },
    /// A serialized object that is not a session message (another cluster listener's); ignored.
    Ignored { from: MemberId, reason: String },
    /// An attribute (or other value) refused by the class filter; the rest of its message was applied.
    AttributeRejected {
        from: MemberId,
        context: String,
        session_id: String,
        name: String,
        class_name: String,
        reason: String,
    },
    /// A message for a context this node does not hold (GET_ALL_SESSIONS got NOCONTEXTMANAGER).
    UnknownContext { from: MemberId, context: String, event: EventType },
    /// Asked `to` for the state of `context`.
    StateRequested { context: String, to: MemberId },
    /// No member to ask: the context starts without state.
    NoMembers { context: String },
    /// The wait for state ended; `queued` messages were replayed, `dropped` by stateTimestampDrop.
    StateWaitEnded { context: String, end: WaitEnd, replayed: usize, dropped: usize },
    /// A queued message dropped by stateTimestampDrop (older than the state, or a GET_ALL_SESSIONS).
    QueuedDropped { context: String, event: EventType, timestamp: i64, reference: i64 },
    /// The member asked for state left; asked the next one.
    StateReRequested { context: String, left: MemberId, to: MemberId },
    /// Served the state of `context` to `to`: `sessions` in `slices` DATA messages.
    StateServed { context: String, to: MemberId, sessions: usize, slices: usize },
    /// A DATA slice was not acknowledged (the transfer goes on, as Tomcat's does).
    StateSendFailed { context: String, to: MemberId, reason: String },
    /// The member we were sending state to left; the transfer is abandoned.
    StateTransferAbandoned { context: String, to: MemberId },
    /// ALL_SESSION_DATA replaced a session we had.
    SessionReplaced { context: String, session_id: String },
    /// A DELTA for a session we do not hold, kept until its CREATED.
    DeltaKept { context: String, session_id: String },
    /// Kept DELTAs applied after the session arrived.
    DeltasApplied { context: String, session_id: String, count: usize },
    /// A DELTA for an id the session had before a rename (a late message of another node),
    /// applied to the session under its new id.
    DeltaFollowedRename { from: MemberId, context: String, old_id: String, new_id: String },
    /// A kept DELTA dropped (too old, over a bound, or superseded by state).
    DeltaDropped { context: String, session_id: String, reason: &'static str },
    /// A DELTA whose own session id differs from the message's; dropped (Tomcat throws).
    DeltaIdMismatch { from: MemberId, context: String, message_id: String, delta_id: String },
    /// A DeltaRequest action of an unknown type, skipped.
    UnknownAction { context: String, session_id: String, kind: i32 },
    /// A queue was full; the message was dropped.
    QueueFull { context: String, event: EventType },
    /// Encoding our own message failed (a bug or a value that cannot be spliced).
    EncodeFailed { context: String, reason: String },
    /// An EXPIRED message arrived; `held`: it removed our copy (else we had none, or our backup
    /// copy had already expired on its own after twice maxInactiveInterval).
    ExpiredByMember { from: MemberId, context: String, session_id: String, held: bool },
    /// Session expired here.
    Expired { context: String, session_id: String, primary: bool },
}

/// Counters (the DeltaManager's statistics and ours). Shared: readers load them at any time.
#[derive(Debug, Default)]
pub struct ManagerStats {
    /// Received messages by event code (index = code; codes over 16 count in `received_unknown`).
    pub received: [AtomicU64; 17],
    pub received_unknown: AtomicU64,
    /// Sent messages by event code.
    pub sent: [AtomicU64; 17],
    /// Payloads or nested streams that did not decode; dropped.
    pub malformed: AtomicU64,
    /// Serialized objects of another class than `SessionMessageImpl` (other cluster listeners'
    /// messages); ignored.
    pub other_messages: AtomicU64,
    /// Values refused by the class filter.
    pub filter_rejects: AtomicU64,
    /// Messages for contexts not held.
    pub unknown_context: AtomicU64,
    /// DELTAs kept for unknown sessions now (a gauge), applied later, dropped.
    pub pending_deltas: AtomicU64,
    pub pending_applied: AtomicU64,
    pub pending_dropped: AtomicU64,
    /// Messages queued during a state wait, and those dropped by stateTimestampDrop.
    pub queued: AtomicU64,
    pub queued_dropped: AtomicU64,
    /// `counterNoStateTransferred`.
    pub state_timeouts: AtomicU64,
    /// `sessionReplaceCounter`.
    pub sessions_replaced: AtomicU64,
    /// Sessions created here or by replication, and expired (any way).
    pub sessions_created: AtomicU64,
    pub sessions_expired: AtomicU64,
    /// DATA slices not acknowledged.
    pub state_send_failures: AtomicU64,
}

/// A plain copy of [`ManagerStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// (event code, count), non-zero only.
    pub received: Vec<(i32, u64)>,
    pub received_unknown: u64,
    pub sent: Vec<(i32, u64)>,
    pub malformed: u64,
    pub other_messages: u64,
    pub filter_rejects: u64,
    pub unknown_context: u64,
    pub pending_deltas: u64,
    pub pending_applied: u64,
    pub pending_dropped: u64,
    pub queued: u64,
    pub queued_dropped: u64,
    pub state_timeouts: u64,
    pub sessions_replaced: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    pub state_send_failures: u64,
}

impl ManagerStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let by_code = |arr: &[AtomicU64; 17]| {
            arr.iter().enumerate().filter(|(_, c)| l(c) > 0).map(|(i, c)| (i as i32, l(c))).collect()
        };
        StatsSnapshot {
            received: by_code(&self.received),
            received_unknown: l(&self.received_unknown),
            sent: by_code(&self.sent),
            malformed: l(&self.malformed),
            other_messages: l(&self.other_messages),
            filter_rejects: l(&self.filter_rejects),
            unknown_context: l(&self.unknown_context),
            pending_deltas: l(&self.pending_deltas),
            pending_applied: l(&self.pending_applied),
            pending_dropped: l(&self.pending_dropped),
            queued: l(&self.queued),
            queued_dropped: l(&self.queued_dropped),
            state_timeouts: l(&self.state_timeouts),
            sessions_replaced: l(&self.sessions_replaced),
            sessions_created: l(&self.sessions_created),
            sessions_expired: l(&self.sessions_expired),
            state_send_failures: l(&self.state_send_failures),
        }
    }

    /// Received messages of `event`.
    pub fn received_of(&self, event: EventType) -> u64 {
        match usize::try_from(event.code()).ok().and_then(|i| self.received.get(i)) {
            Some(c) => c.load(Ordering::Relaxed),
            None => 0,
        }
    }

    /// Sent messages of `event`.
    pub fn sent_of(&self, event: EventType) -> u64 {
        match usize::try_from(event.code()).ok().and_then(|i| self.sent.get(i)) {
            Some(c) => c.load(Ordering::Relaxed),
            None => 0,
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Events queued while a context waits for its state (`messageDataReceived`).
fn queued_while_waiting(event: EventType) -> bool {
    matches!(
        event,
        EventType::GetAllSessions
            | EventType::Created
            | EventType::Expired
            | EventType::Accessed
            | EventType::Delta
            | EventType::ChangeSessionId
    )
}

/// A context waiting for its initial state.
#[derive(Debug)]
struct Waiting {
    asked: MemberId,
    /// `stateTransferCreateSendTime`: T0, then TRANSFERCOMPLETE's timestamp.
    reference: i64,
    deadline: Option<Instant>,
    queue: VecDeque<(MemberId, SessionMessage)>,
}

/// A state transfer this node serves.
#[derive(Debug)]
struct Transfer {
    context: String,
    to: MemberId,
    /// `findSessionTimestamp`.
    ts: i64,
    slices: Vec<SessionIds>,
    /// The slice being sent or next to send.
    next: usize,
    phase: TransferPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferPhase {
    AwaitingAck(SendToken),
    Pausing(Instant),
}

#[derive(Debug)]
struct PendingDelta {
    from: MemberId,
    request: DeltaRequest,
    received: Instant,
    bytes: usize,
}

/// DeltaManager for every context this node holds, as a sans-IO machine.
#[derive(Debug)]
pub struct DeltaManager {
    config: ManagerConfig,
    store: Arc<Store>,
    stats: Arc<ManagerStats>,
    /// Current members, alive time descending (`cluster.getMembers()`).
    members: Vec<MemberId>,
    waiting: HashMap<String, Waiting>,
    transfers: Vec<Transfer>,
    /// (context, session id) -> DELTAs in arrival order.
    pending: HashMap<(String, String), Vec<PendingDelta>>,
    pending_count: usize,
    pending_bytes: usize,
    /// (context, old id) -> (new id, when renamed): recent renames, so a DELTA another node sent
    /// for the old id before it learned of the rename still reaches the session. Bounded by
    /// `pending.total` entries and `pending.max_age`.
    renamed: HashMap<(String, String), (String, Instant)>,
    /// The keys of `renamed` in the order they were remembered (renames come in time order), for
    /// eviction from the front without scanning the map.
    rename_order: VecDeque<((String, String), Instant)>,
    next_token: u64,
    next_expiry_check: Option<Instant>,
    started: bool,
    stopped: bool,
    outputs: VecDeque<Output>,
}

impl DeltaManager {
    /// A manager for the contexts registered in `store` (see [`Store::add_context`]).
    pub fn new(config: ManagerConfig, store: Arc<Store>) -> DeltaManager {
        DeltaManager {
            config,
            store,
            stats: Arc::new(ManagerStats::default()),
            members: Vec::new(),
            waiting: HashMap::new(),
            transfers: Vec::new(),
            pending: HashMap::new(),
            pending_count: 0,
            pending_bytes: 0,
            renamed: HashMap::new(),
            rename_order: VecDeque::new(),
            next_token: 0,
            next_expiry_check: None,
            started: false,
            stopped: false,
            outputs: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn stats(&self) -> &Arc<ManagerStats> {
        &self.stats
    }

    pub fn members(&self) -> &[MemberId] {
        &self.members
    }

    /// Whether `context` is waiting for its initial state (messages for it are queued).
    pub fn is_waiting(&self, context: &str) -> bool {
        self.waiting.contains_key(context)
    }

    /// State transfers this node is serving now.
    pub fn transfers_in_progress(&self) -> usize {
        self.transfers.len()
    }

    /// DELTAs kept for sessions we do not hold.
    pub fn pending_deltas(&self) -> usize {
        self.pending_count
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next instant [`DeltaManager::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let waits = self.waiting.values().filter_map(|w| w.deadline);
        let pauses = self.transfers.iter().filter_map(|t| match t.phase {
            TransferPhase::Pausing(at) => Some(at),
            TransferPhase::AwaitingAck(_) => None,
        });
        let pending =
            self.pending.values().flat_map(|v| v.iter()).map(|p| p.received + self.config.pending.max_age).min();
        waits.chain(pauses).chain(pending).chain(self.next_expiry_check).min()
    }

    /// The member list changed: `members` is the new list, alive time descending (`members[0]`
    /// is the one asked for state). Transfers to members that left the list are abandoned (a
    /// requester not listed yet is served: Tomcat answers the message's sender); a context
    /// waiting on a member that left asks the new `members[0]`.
    pub fn handle_members(&mut self, members: Vec<MemberId>, now: Now) {
        let old = std::mem::replace(&mut self.members, members);
        let members = &self.members;
        // A requester we never listed (its GET_ALL_SESSIONS came before its membership) is kept.
        let left = |m: &MemberId| old.contains(m) && !members.contains(m);
        let (gone, kept): (Vec<Transfer>, Vec<Transfer>) =
            std::mem::take(&mut self.transfers).into_iter().partition(|t| left(&t.to));
        self.transfers = kept;
        for t in gone {
            self.notice(Notice::StateTransferAbandoned { context: t.context, to: t.to });
        }
        let lost: Vec<String> =
            self.waiting.iter().filter(|(_, w)| !self.members.contains(&w.asked)).map(|(c, _)| c.clone()).collect();
        for context in lost {
            match self.members.first().cloned() {
                Some(to) => {
                    let w = self.waiting.get_mut(&context).expect("waiting context");
                    let left = std::mem::replace(&mut w.asked, to.clone());
                    w.reference = now.epoch_ms;
                    let message = SessionMessage::get_all_sessions(&context, now.epoch_ms);
                    self.send(Destination::One(to.clone()), message, SendOptions::ASYNCHRONOUS, None);
                    self.notice(Notice::StateReRequested { context, left, to });
                }
                None => self.end_wait(&context, WaitEnd::NoMembers, now),
            }
        }
    }

    /// The manager starts (`DeltaManager.startInternal` -> `getAllClusterSessions`): every held
    /// context asks `members[0]` for its state and queues messages until it arrives.
    pub fn handle_start(&mut self, now: Now) {
        let source = self.members.first().cloned();
        self.handle_start_from(source, now);
    }

    /// [`DeltaManager::handle_start`] asking `source` instead of `members[0]`; `None` starts
    /// without state. The runtime uses it to skip members that started after us: they hold
    /// nothing we lack, and they are asking us (stock asks `members[0]` even then).
    pub fn handle_start_from(&mut self, source: Option<MemberId>, now: Now) {
        if self.started {
            return;
        }
        self.started = true;
        self.next_expiry_check = Some(now.instant + self.config.expiry_check_interval);
        for context in self.store.contexts() {
            self.request_state_from(&context, source.clone(), now);
        }
    }

    /// Registers a context after start and asks for its state (a webapp deployed later).
    pub fn add_context(&mut self, context: &str, now: Now) {
        if self.store.add_context(context) && self.started {
            self.request_state(context, now);
        }
    }

    fn request_state(&mut self, context: &str, now: Now) {
        let source = self.members.first().cloned();
        self.request_state_from(context, source, now);
    }

    fn request_state_from(&mut self, context: &str, source: Option<MemberId>, now: Now) {
        let Some(to) = source else {
            self.notice(Notice::NoMembers { context: context.to_string() });
            return;
        };
        let message = SessionMessage::get_all_sessions(context, now.epoch_ms);
        // GET_ALL_SESSIONS always goes with Channel.SEND_OPTIONS_ASYNCHRONOUS.
        self.send(Destination::One(to.clone()), message, SendOptions::ASYNCHRONOUS, None);
        self.notice(Notice::StateRequested { context: context.to_string(), to: to.clone() });
        let deadline = match self.config.state_transfer_timeout {
            Some(d) if d.is_zero() => {
                self.notice(Notice::StateWaitEnded {
                    context: context.to_string(),
                    end: WaitEnd::NoWait,
                    replayed: 0,
                    dropped: 0,
                });
                return;
            }
            Some(d) => Some(now.instant + d),
            None => None,
        };
        self.waiting.insert(
            context.to_string(),
            Waiting { asked: to, reference: now.epoch_ms, deadline, queue: VecDeque::new() },
        );
    }

    /// A ChannelData payload from `from`: decoded as a `SessionMessageImpl`, then
    /// [`DeltaManager::handle_message`]. A payload that does not decode is dropped and counted.
    pub fn handle_payload(&mut self, from: MemberId, payload: &Bytes, now: Now) {
        if let Some(class) = other_class(payload) {
            bump(&self.stats.other_messages);
            let reason = format!("a {class}, not a SessionMessageImpl");
            return self.notice(Notice::Ignored { from, reason });
        }
        match SessionMessage::decode(payload) {
            Ok(message) => self.handle_message(from, message, now),
            Err(e) => {
                bump(&self.stats.malformed);
                self.notice(Notice::Malformed { from, context: None, event: None, reason: e.to_string() });
            }
        }
    }

    /// A decoded message from `from` (`ClusterSessionListener.messageReceived`).
    pub fn handle_message(&mut self, from: MemberId, message: SessionMessage, now: Now) {
        match usize::try_from(message.event.code()).ok().filter(|&c| c < 17) {
            Some(code) if !matches!(message.event, EventType::Unknown(_)) => bump(&self.stats.received[code]),
            _ => bump(&self.stats.received_unknown),
        }
        if self.stopped {
            return;
        }
        match message.context.clone() {
            None => {
                for context in self.store.contexts() {
                    self.deliver(&context, from.clone(), message.clone(), now);
                }
            }
            Some(context) if self.store.has_context(&context) => self.deliver(&context, from, message, now),
            Some(context) => {
                bump(&self.stats.unknown_context);
                if message.event == EventType::GetAllSessions {
                    let reply = SessionMessage::no_context_manager(&context);
                    self.send(Destination::One(from.clone()), reply, self.config.channel_send_options, None);
                }
                self.notice(Notice::UnknownContext { from, context, event: message.event });
            }
        }
    }

    /// `DeltaManager.messageDataReceived`: queue while waiting for state, else process.
    fn deliver(&mut self, context: &str, from: MemberId, message: SessionMessage, now: Now) {
        if let Some(w) = self.waiting.get_mut(context) {
            // The member we asked asks us: it waits for its own state and cannot answer before
            // it has it, so queueing its request would make both wait out the timeout.
            let mutual = message.event == EventType::GetAllSessions && from == w.asked;
            if queued_while_waiting(message.event) && !mutual {
                if w.queue.len() >= self.config.max_queued_messages {
                    bump(&self.stats.queued_dropped);
                    let event = message.event;
                    self.notice(Notice::QueueFull { context: context.to_string(), event });
                } else {
                    bump(&self.stats.queued);
                    w.queue.push_back((from, message));
                }
                return;
            }
        }
        self.process(context, from, message, now);
    }

    /// `DeltaManager.messageReceived`.
    fn process(&mut self, context: &str, from: MemberId, message: SessionMessage, now: Now) {
        match message.event {
            EventType::Created => self.on_created(context, from, message, now),
            EventType::Expired => self.on_expired(context, from, &message),
            EventType::Accessed => {
                if let Some(id) = message.session_id.as_deref() {
                    self.store.update(context, id, |s| {
                        s.access(now.epoch_ms);
                        s.primary = false;
                        s.end_access(now.epoch_ms);
                    });
                }
            }
            EventType::Delta => self.on_delta(context, from, message, now),
            EventType::ChangeSessionId => self.on_change_id(context, from, message, now),
            EventType::GetAllSessions => self.serve_state(context, from, now),
            EventType::AllSessionData => self.on_state(context, from, message, now),
            EventType::TransferComplete => {
                if let Some(w) = self.waiting.get_mut(context) {
                    w.reference = message.timestamp;
                    self.end_wait(context, WaitEnd::Transferred, now);
                }
            }
            EventType::NoContextManager => {
                if self.waiting.contains_key(context) {
                    self.end_wait(context, WaitEnd::NoContextManager, now);
                }
            }
            EventType::Unknown(_) => {}
        }
    }

    fn malformed(&mut self, from: MemberId, context: &str, event: EventType, reason: String) {
        bump(&self.stats.malformed);
        self.notice(Notice::Malformed { from, context: Some(context.to_string()), event: Some(event), reason });
    }

    fn on_created(&mut self, context: &str, from: MemberId, message: SessionMessage, now: Now) {
        let Some(id) = message.session_id.clone() else {
            return self.malformed(from, context, message.event, "CREATED without a session id".into());
        };
        let mut session = Session::new(id.clone(), message.timestamp, now.epoch_ms, self.config.max_inactive_interval);
        session.access(now.epoch_ms);
        session.end_access(now.epoch_ms);
        session.last_sender = Some(sender_name(&from));
        self.store.insert(context, session);
        bump(&self.stats.sessions_created);
        if self.config.notify_session_listeners_on_replication {
            self.listener(context, ListenerKind::SessionCreated { id: id.clone() });
        }
        self.apply_pending(context, &id, now);
    }

    fn on_expired(&mut self, context: &str, from: MemberId, message: &SessionMessage) {
        let Some(id) = message.session_id.as_deref() else { return };
        self.drop_pending(context, id, "session expired");
        let removed = self.store.remove(context, id);
        let (context_name, session_id) = (context.to_string(), id.to_string());
        self.notice(Notice::ExpiredByMember { from, context: context_name, session_id, held: removed.is_some() });
        if let Some(s) = removed {
            bump(&self.stats.sessions_expired);
            if self.config.notify_session_listeners_on_replication {
                self.destroyed(context, s);
            }
        }
    }

    fn on_delta(&mut self, context: &str, from: MemberId, message: SessionMessage, now: Now) {
        let event = message.event;
        let (Some(id), Some(payload)) = (message.session_id.clone(), message.payload.clone()) else {
            return self.malformed(from, context, event, "DELTA without a session id or payload".into());
        };
        let decoded = match DeltaRequest::decode(&payload, &self.config.parse) {
            Ok(d) => d,
            Err(e) => return self.malformed(from, context, event, format!("DeltaRequest: {e}")),
        };
        for r in decoded.rejected {
            self.rejected(&from, context, &id, r.name, r.class_name, r.reason.to_string());
        }
        let request = decoded.request;
        if request.session_id != id {
            let delta_id = request.session_id;
            return self.notice(Notice::DeltaIdMismatch {
                from,
                context: context.to_string(),
                message_id: id,
                delta_id,
            });
        }
        if self.store.contains(context, &id) {
            self.apply_delta(context, &id, &from, &request, now);
        } else if let Some(current) = self.renamed_to(context, &id, now.instant) {
            self.apply_delta(context, &current, &from, &request, now);
            self.notice(Notice::DeltaFollowedRename {
                from,
                context: context.to_string(),
                old_id: id,
                new_id: current,
            });
        } else {
            self.keep_pending(context, &id, from, request, payload.len(), now);
        }
    }

    /// The id a session renamed from `id` holds now, if it was renamed recently and is held.
    fn renamed_to(&self, context: &str, id: &str, now: Instant) -> Option<String> {
        let mut current = id.to_string();
        // A chain of renames (each hop is a later rename); bounded against a cycle.
        for _ in 0..8 {
            let (next, at) = self.renamed.get(&(context.to_string(), current.clone()))?;
            if *at + self.config.pending.max_age <= now {
                return None;
            }
            current = next.clone();
            if self.store.contains(context, &current) {
                return Some(current);
            }
        }
        None
    }

    fn remember_rename(&mut self, context: &str, old: &str, new: &str, now: Instant) {
        self.forget_renames(now, self.config.pending.total.saturating_sub(1));
        let key = (context.to_string(), old.to_string());
        self.renamed.insert(key.clone(), (new.to_string(), now));
        self.rename_order.push_back((key, now));
        // The new id is no alias any more (a rename back).
        self.renamed.remove(&(context.to_string(), new.to_string()));
    }

    /// Forgets renames older than `pending.max_age`, and the oldest beyond `keep`; each step
    /// takes from the front of `rename_order` (an entry whose rename was replaced or removed
    /// since is skipped).
    fn forget_renames(&mut self, now: Instant, keep: usize) {
        let max_age = self.config.pending.max_age;
        while let Some((key, at)) = self.rename_order.front() {
            let current = self.renamed.get(key).map(|(_, t)| t) == Some(at);
            let stale = !current || *at + max_age <= now;
            if !stale && self.renamed.len() <= keep && self.rename_order.len() <= keep.max(1) * 2 {
                break;
            }
            let (key, at) = self.rename_order.pop_front().expect("front exists");
            if self.renamed.get(&key).map(|(_, t)| *t) == Some(at) {
                self.renamed.remove(&key);
            }
        }
    }

    fn rejected(&mut self, from: &MemberId, context: &str, id: &str, name: String, class_name: String, reason: String) {
        bump(&self.stats.filter_rejects);
        self.notice(Notice::AttributeRejected {
            from: from.clone(),
            context: context.to_string(),
            session_id: id.to_string(),
            name,
            class_name,
            reason,
        });
    }

    /// `DeltaRequest.execute` on a replica, then `setPrimarySession(false)`.
    fn apply_delta(&mut self, context: &str, id: &str, from: &MemberId, request: &DeltaRequest, now: Now) {
        let sender = sender_name(from);
        let notify = self.config.notify_listeners_on_replication;
        let mut events = Vec::new();
        let mut unknown = Vec::new();
        self.store.update(context, id, |s| {
            s.access(now.epoch_ms);
            for a in &request.actions {
                match (a.kind, a.op) {
                    (ActionKind::Attribute, Op::Set) if a.value.as_ref().is_some_and(|v| !v.is_null()) => {
                        let value = a.value.clone().expect("checked");
                        let old = s.set_attribute(&a.name, value.clone());
                        let kind = match old {
                            Some(_) => ListenerKind::AttributeReplaced { id: id.to_string(), name: a.name.clone() },
                            None => ListenerKind::AttributeAdded { id: id.to_string(), name: a.name.clone() },
                        };
                        events.push((kind, Some(value), old));
                    }
                    (ActionKind::Attribute, _) => {
                        if let Some(old) = s.remove_attribute(&a.name) {
                            let kind = ListenerKind::AttributeRemoved { id: id.to_string(), name: a.name.clone() };
                            events.push((kind, None, Some(old)));
                        }
                    }
                    (ActionKind::IsNew, _) => {
                        if let Some(b) = a.value.as_ref().and_then(|v| v.as_bool()) {
                            s.is_new = b;
                        }
                    }
                    (ActionKind::MaxInterval, _) => {
                        if let Some(i) = a.value.as_ref().and_then(|v| v.as_i32()) {
                            s.max_inactive_interval = i;
                        }
                    }
                    (ActionKind::Principal, Op::Set) => s.principal = a.value.clone(),
                    (ActionKind::Principal, Op::Remove) => s.principal = None,
                    (ActionKind::AuthType, Op::Set) => {
                        s.auth_type = a.value.as_ref().and_then(|v| v.as_string()).map(|v| v.to_string())
                    }
                    (ActionKind::AuthType, Op::Remove) => s.auth_type = None,
                    (ActionKind::Listener, Op::Set) => {
                        if let Some(v) = &a.value {
                            s.listeners.push(v.clone());
                        }
                    }
                    (ActionKind::Listener, Op::Remove) => {
                        if let Some(v) = &a.value {
                            s.listeners.retain(|l| l != v);
                        }
                    }
                    (ActionKind::Note, Op::Set) => match &a.value {
                        Some(v) => {
                            s.notes.insert(a.name.clone(), v.clone());
                        }
                        None => {
                            s.notes.remove(&a.name);
                        }
                    },
                    (ActionKind::Note, Op::Remove) => {
                        s.notes.remove(&a.name);
                    }
                    (ActionKind::Unknown(k), _) => unknown.push(k),
                }
            }
            s.end_access(now.epoch_ms);
            s.primary = false;
            s.last_sender = Some(sender.clone());
        });
        if notify {
            for (kind, value, old) in events {
                self.listener_with(context, kind, value, old, None);
            }
        }
        for kind in unknown {
            self.notice(Notice::UnknownAction { context: context.to_string(), session_id: id.to_string(), kind });
        }
    }

    fn on_change_id(&mut self, context: &str, from: MemberId, message: SessionMessage, now: Now) {
        let Some(old) = message.session_id.clone() else {
            return self.malformed(from, context, message.event, "CHANGE_SESSION_ID without a session id".into());
        };
        let new = match message.new_session_id() {
            Ok(n) => n,
            Err(e) => return self.malformed(from, context, message.event, format!("new session id: {e}")),
        };
        if self.store.update(context, &old, |s| s.primary = false).is_some() {
            self.store.rename(context, &old, &new);
            self.remember_rename(context, &old, &new, now.instant);
            let (session_listeners, container_listeners) = (
                self.config.notify_session_listeners_on_replication,
                self.config.notify_container_listeners_on_replication,
            );
            if session_listeners || container_listeners {
                self.listener(
                    context,
                    ListenerKind::SessionIdChanged { old, new, session_listeners, container_listeners },
                );
            }
        } else if let Some(kept) = self.pending.remove(&(context.to_string(), old)) {
            // DELTAs kept for the old id follow it (they carry the old id; the rename comes first).
            self.pending.entry((context.to_string(), new.clone())).or_default().extend(kept.into_iter().map(
                |mut p| {
                    p.request.session_id = new.clone();
                    p
                },
            ));
        }
    }

    fn on_state(&mut self, context: &str, from: MemberId, message: SessionMessage, now: Now) {
        let Some(payload) = message.payload.clone() else {
            return self.malformed(from, context, message.event, "ALL_SESSION_DATA without payload".into());
        };
        let decoded = match state::decode_state(&payload, &self.config.parse) {
            Ok(d) => d,
            Err(e) => return self.malformed(from, context, message.event, format!("session state: {e}")),
        };
        for (id, r) in decoded.rejected {
            self.rejected(&from, context, &id, r.name, r.class_name, r.reason.to_string());
        }
        let sender = sender_name(&from);
        for record in decoded.sessions {
            let mut session = Session::from_record(record, now.epoch_ms);
            session.last_sender = Some(sender.clone());
            let id = session.id.clone();
            if self.store.insert(context, session).is_some() {
                bump(&self.stats.sessions_replaced);
                self.notice(Notice::SessionReplaced { context: context.to_string(), session_id: id.clone() });
            }
            bump(&self.stats.sessions_created);
            // The state is newer than anything kept before it arrived.
            self.drop_pending(context, &id, "superseded by session state");
            if self.config.notify_session_listeners_on_replication {
                self.listener(context, ListenerKind::SessionCreated { id });
            }
        }
    }

    fn keep_pending(&mut self, context: &str, id: &str, from: MemberId, request: DeltaRequest, bytes: usize, now: Now) {
        let limits = &self.config.pending;
        let key = (context.to_string(), id.to_string());
        let per_session = self.pending.get(&key).map_or(0, Vec::len);
        let reason = if per_session >= limits.per_session {
            Some("over the per-session bound")
        } else if self.pending_count >= limits.total {
            Some("over the total bound")
        } else if self.pending_bytes + bytes > limits.bytes {
            Some("over the byte bound")
        } else {
            None
        };
        if let Some(reason) = reason {
            bump(&self.stats.pending_dropped);
            return self.notice(Notice::DeltaDropped {
                context: context.to_string(),
                session_id: id.to_string(),
                reason,
            });
        }
        self.pending.entry(key).or_default().push(PendingDelta { from, request, received: now.instant, bytes });
        self.pending_count += 1;
        self.pending_bytes += bytes;
        self.stats.pending_deltas.store(self.pending_count as u64, Ordering::Relaxed);
        self.notice(Notice::DeltaKept { context: context.to_string(), session_id: id.to_string() });
    }

    fn take_pending(&mut self, context: &str, id: &str) -> Vec<PendingDelta> {
        let kept = self.pending.remove(&(context.to_string(), id.to_string())).unwrap_or_default();
        self.pending_count -= kept.len();
        self.pending_bytes -= kept.iter().map(|p| p.bytes).sum::<usize>();
        self.stats.pending_deltas.store(self.pending_count as u64, Ordering::Relaxed);
        kept
    }

    fn apply_pending(&mut self, context: &str, id: &str, now: Now) {
        let kept = self.take_pending(context, id);
        if kept.is_empty() {
            return;
        }
        let count = kept.len();
        for p in kept {
            self.apply_delta(context, id, &p.from, &p.request, now);
            bump(&self.stats.pending_applied);
        }
        self.notice(Notice::DeltasApplied { context: context.to_string(), session_id: id.to_string(), count });
    }

    fn drop_pending(&mut self, context: &str, id: &str, reason: &'static str) {
        let kept = self.take_pending(context, id);
        for _ in &kept {
            bump(&self.stats.pending_dropped);
        }
        if !kept.is_empty() {
            self.notice(Notice::DeltaDropped { context: context.to_string(), session_id: id.to_string(), reason });
        }
    }

    /// Drains the queue of a context whose wait ended (`getAllClusterSessions`'s finally block).
    fn end_wait(&mut self, context: &str, end: WaitEnd, now: Now) {
        let Some(w) = self.waiting.remove(context) else { return };
        if end == WaitEnd::Timeout {
            bump(&self.stats.state_timeouts);
        }
        let (mut replayed, mut dropped) = (0, 0);
        for (from, message) in w.queue {
            let keep = !self.config.state_timestamp_drop
                || (message.event != EventType::GetAllSessions && message.timestamp >= w.reference);
            if keep {
                replayed += 1;
                self.process(context, from, message, now);
            } else {
                dropped += 1;
                bump(&self.stats.queued_dropped);
                self.notice(Notice::QueuedDropped {
                    context: context.to_string(),
                    event: message.event,
                    timestamp: message.timestamp,
                    reference: w.reference,
                });
            }
        }
        self.notice(Notice::StateWaitEnded { context: context.to_string(), end, replayed, dropped });
    }

    /// `handleGET_ALL_SESSIONS`: snapshot the session ids now, send them in DATA slices (one
    /// slice with `sendAllSessions`), each after the previous one's ACK (and the pause), then
    /// TRANSFERCOMPLETE.
    fn serve_state(&mut self, context: &str, to: MemberId, now: Now) {
        let ids = SessionIds::sorted(&self.store, context);
        let sessions = ids.len();
        let slices =
            if self.config.send_all_sessions { vec![ids] } else { ids.chunks(self.config.send_all_sessions_size) };
        let mut t = Transfer {
            context: context.to_string(),
            to,
            ts: now.epoch_ms,
            slices,
            next: 0,
            phase: TransferPhase::AwaitingAck(SendToken(u64::MAX)),
        };
        self.notice(Notice::StateServed {
            context: context.to_string(),
            to: t.to.clone(),
            sessions,
            slices: t.slices.len(),
        });
        if t.slices.is_empty() {
            self.transfer_complete(&t);
            return;
        }
        self.send_slice(&mut t, true);
        self.transfers.push(t);
    }

    /// Sends the next slice; `fresh`: its ids were taken from the store in this same input.
    fn send_slice(&mut self, t: &mut Transfer, fresh: bool) {
        // A slice's ids are not needed once it is sent. Sessions gone since the snapshot are left
        // out; the machine is the store's only writer, so the rest stay until encoded.
        let mut ids = std::mem::take(&mut t.slices[t.next]);
        if !fresh {
            ids.retain(|id| self.store.contains(&t.context, id));
        }
        let slice = StateSlice { context: t.context.clone(), ids, snapshot_ts: t.ts };
        let token = SendToken(self.next_token);
        self.next_token += 1;
        t.phase = TransferPhase::AwaitingAck(token);
        let options = SendOptions::USE_ACK.with(SendOptions::SYNCHRONIZED_ACK);
        if self.config.runtime_encodes_state {
            self.count_sent(EventType::AllSessionData);
            self.outputs.push_back(Output::SendState { to: t.to.clone(), slice, options, token });
            return;
        }
        let mut payload = Vec::new();
        if let Err(e) = self.encode_state_slice(&slice, &mut payload) {
            // Tomcat would throw out of handleGET_ALL_SESSIONS; an empty slice keeps the
            // requester's wait short.
            self.notice(Notice::EncodeFailed { context: t.context.clone(), reason: e.to_string() });
            self.encode_empty_state(&mut payload);
        }
        let message = SessionMessage::all_session_data(&t.context, payload, t.ts);
        self.send(Destination::One(t.to.clone()), message, options, Some(token));
    }

    /// Appends the state stream of `slice` (`DeltaManager.serializeSessions` of its sessions,
    /// attributes filtered by `sessionAttributeNameFilter`) to `out`, one session at a time:
    /// nothing but `out` grows with the number of sessions. On `Err` `out` is as it was.
    pub fn encode_state_slice(&self, slice: &StateSlice, out: &mut Vec<u8>) -> Result<(), SessionCodecError> {
        let start = out.len();
        let r = self.write_state(slice, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Appends the stream of a state without sessions (what a failed slice is sent as).
    pub fn encode_empty_state(&self, out: &mut Vec<u8>) {
        let empty = state::encode_state(&[], self.config.state_form).expect("an empty state stream encodes");
        out.extend_from_slice(&empty);
    }

    fn write_state(&self, slice: &StateSlice, out: &mut Vec<u8>) -> Result<(), SessionCodecError> {
        let mut e = state::StateEncoder::new(slice.ids.len(), self.config.state_form)?;
        for id in slice.ids.iter() {
            let mut r = self
                .store
                .record(&slice.context, id)
                .ok_or_else(|| SessionCodecError::Layout("a session left the store while it was encoded".into()))?;
            if let Some(f) = &self.config.attribute_name_filter {
                r.attributes.retain(|(n, _)| f.check_name(n).is_ok());
            }
            e.push(&r)?;
            out.extend_from_slice(&e.take_written());
        }
        out.extend_from_slice(&e.finish()?);
        Ok(())
    }

    fn transfer_complete(&mut self, t: &Transfer) {
        let message = SessionMessage::transfer_complete(&t.context, t.ts);
        self.send(Destination::One(t.to.clone()), message, self.config.channel_send_options, None);
    }

    /// The outcome of a send that carried `token`: `Ok` once acknowledged, `Err` with why not.
    pub fn handle_send_result(&mut self, token: SendToken, result: Result<(), String>, now: Now) {
        let Some(i) = self.transfers.iter().position(|t| t.phase == TransferPhase::AwaitingAck(token)) else {
            return;
        };
        if let Err(reason) = result {
            bump(&self.stats.state_send_failures);
            let t = &self.transfers[i];
            self.notice(Notice::StateSendFailed { context: t.context.clone(), to: t.to.clone(), reason });
        }
        let mut t = self.transfers.swap_remove(i);
        t.next += 1;
        if t.next >= t.slices.len() {
            self.transfer_complete(&t);
            return;
        }
        let wait = self.config.send_all_sessions_wait_time;
        if wait.is_zero() {
            self.send_slice(&mut t, false);
        } else {
            t.phase = TransferPhase::Pausing(now.instant + wait);
        }
        self.transfers.push(t);
    }

    /// Timers: state-transfer deadlines, pauses between DATA slices, the age of kept DELTAs,
    /// and session expiry.
    pub fn handle_timeout(&mut self, now: Now) {
        let late: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.deadline.is_some_and(|d| d <= now.instant))
            .map(|(c, _)| c.clone())
            .collect();
        for context in late {
            self.end_wait(&context, WaitEnd::Timeout, now);
        }
        let mut i = 0;
        while i < self.transfers.len() {
            if matches!(self.transfers[i].phase, TransferPhase::Pausing(at) if at <= now.instant) {
                let mut t = self.transfers.swap_remove(i);
                self.send_slice(&mut t, false);
                self.transfers.push(t);
            } else {
                i += 1;
            }
        }
        let max_age = self.config.pending.max_age;
        let old: Vec<(String, String)> = self
            .pending
            .iter()
            .filter(|(_, v)| v.iter().any(|p| p.received + max_age <= now.instant))
            .map(|(k, _)| k.clone())
            .collect();
        for (context, id) in old {
            let kept = self.take_pending(&context, &id);
            let (expired, fresh): (Vec<_>, Vec<_>) =
                kept.into_iter().partition(|p| p.received + max_age <= now.instant);
            for _ in &expired {
                bump(&self.stats.pending_dropped);
            }
            if !fresh.is_empty() {
                self.pending_count += fresh.len();
                self.pending_bytes += fresh.iter().map(|p| p.bytes).sum::<usize>();
                self.stats.pending_deltas.store(self.pending_count as u64, Ordering::Relaxed);
                self.pending.insert((context.clone(), id.clone()), fresh);
            }
            self.notice(Notice::DeltaDropped { context, session_id: id, reason: "no CREATED within the age limit" });
        }
        if self.next_expiry_check.is_some_and(|at| at <= now.instant) {
            self.forget_renames(now.instant, self.config.pending.total);
            self.next_expiry_check = Some(now.instant + self.config.expiry_check_interval);
            self.expire_sessions(now);
        }
    }

    fn expire_sessions(&mut self, now: Now) {
        for context in self.store.contexts() {
            for (id, expiry) in self.store.expired(&context, now.epoch_ms) {
                match expiry {
                    Expiry::Alive => {}
                    Expiry::Primary => self.expire(&context, &id, true, now),
                    // expire(true, false): listeners, no cluster message.
                    Expiry::Backup => self.expire(&context, &id, false, now),
                }
            }
        }
    }

    /// `DeltaSession.expire(notify, notifyCluster)`: the final DELTA is never needed here (a
    /// local request's changes leave when it ends), then local expiry, then EXPIRED.
    fn expire(&mut self, context: &str, id: &str, notify_cluster: bool, now: Now) {
        let Some(s) = self.store.remove(context, id) else { return };
        bump(&self.stats.sessions_expired);
        self.notice(Notice::Expired { context: context.to_string(), session_id: id.to_string(), primary: s.primary });
        self.destroyed(context, s);
        if notify_cluster {
            self.send_all(SessionMessage::expired(context, id, now.epoch_ms));
        }
    }

    /// The manager stops (`stopInternal`): every session expires, and the cluster is told only
    /// with `expireSessionsOnShutdown`. Nothing is processed afterwards.
    pub fn handle_stop(&mut self, now: Now) {
        if self.stopped {
            return;
        }
        let notify_cluster = self.config.expire_sessions_on_shutdown;
        for context in self.store.contexts() {
            for s in self.store.clear(&context) {
                bump(&self.stats.sessions_expired);
                if notify_cluster {
                    self.send_all(SessionMessage::expired(&context, &s.id, now.epoch_ms));
                }
                self.destroyed(&context, s);
            }
        }
        self.waiting.clear();
        self.transfers.clear();
        self.stopped = true;
    }

    /// One local request's changes for one session (the Java side's request, or the control
    /// socket). Applied to the store and replicated as Tomcat's DeltaSession and ReplicationValve
    /// do: CREATED at once, CHANGE_SESSION_ID at once, then at the end one DELTA with every
    /// recorded action, or ACCESSED by §5.5; `Invalidate` sends the DELTA if there is one, then
    /// EXPIRED. Nothing is sent while there are no members. An `Err` changed nothing.
    pub fn handle_local(
        &mut self,
        context: &str,
        session_id: &str,
        changes: Vec<LocalChange>,
        now: Now,
    ) -> Result<(), SessionError> {
        if !self.store.has_context(context) {
            return Err(SessionError::UnknownContext(context.to_string()));
        }
        if self.stopped {
            return Err(SessionError::Stopped);
        }
        let create = validate(&changes)?;
        let exists = self.store.contains(context, session_id);
        let mut session = match (create, exists) {
            (Some(_), true) => {
                return Err(SessionError::SessionExists { context: context.into(), id: session_id.into() })
            }
            (None, false) => {
                return Err(SessionError::UnknownSession { context: context.into(), id: session_id.into() })
            }
            (Some(max), false) => {
                let max = max.unwrap_or(self.config.max_inactive_interval);
                let mut s = Session::new(session_id, now.epoch_ms, now.epoch_ms, max);
                s.primary = true;
                s
            }
            (None, true) => self.store.get(context, session_id).expect("checked"),
        };
        for c in &changes {
            if let LocalChange::ChangeId { new_id } = c {
                if new_id != session_id && self.store.contains(context, new_id) {
                    return Err(SessionError::SessionExists { context: context.into(), id: new_id.clone() });
                }
            }
        }
        let has_members = !self.members.is_empty();
        let mut delta = DeltaRequest {
            session_id: session.id.clone(),
            record_all_actions: self.config.record_all_actions,
            actions: Vec::new(),
        };
        if create.is_some() {
            // createSession: the new DeltaSession records ISNEW and MAXINTERVAL, is stored, and
            // sends CREATED at once.
            delta.record(DeltaAction::is_new(true));
            delta.record(DeltaAction::max_interval(session.max_inactive_interval));
            self.store.insert(context, session.clone());
            bump(&self.stats.sessions_created);
            if has_members {
                let created = SessionMessage::created(context, &session.id, session.creation_time, now.epoch_ms);
                self.send_all_with(created, self.config.ordering_send_options);
            }
        }
        session.access(now.epoch_ms);
        let mut invalidate = false;
        for c in changes {
            match c {
                LocalChange::Create { .. } | LocalChange::Access => {}
                LocalChange::SetAttribute { name, value } if !value.is_null() => {
                    session.set_attribute(&name, value.clone());
                    if self.distributable(&name) {
                        delta.record(DeltaAction::set_attribute(name, value));
                    }
                }
                // setAttribute(name, null) is removeAttribute(name).
                LocalChange::SetAttribute { name, .. } | LocalChange::RemoveAttribute { name } => {
                    if session.remove_attribute(&name).is_some() && self.distributable(&name) {
                        delta.record(DeltaAction::remove_attribute(name));
                    }
                }
                LocalChange::SetPrincipal(p) => {
                    session.principal = p.clone();
                    delta.record(DeltaAction::principal(p));
                }
                LocalChange::SetAuthType(a) => {
                    delta.record(DeltaAction::auth_type(a.as_deref()));
                    session.auth_type = a;
                }
                LocalChange::SetMaxInactiveInterval(i) => {
                    session.max_inactive_interval = i;
                    delta.record(DeltaAction::max_interval(i));
                }
                LocalChange::SetNew(b) => {
                    session.is_new = b;
                    delta.record(DeltaAction::is_new(b));
                }
                LocalChange::SetNote { name, value } if !value.is_null() => {
                    session.notes.insert(name.clone(), value.clone());
                    delta.record(DeltaAction::set_note(name, value));
                }
                LocalChange::SetNote { name, .. } | LocalChange::RemoveNote { name } => {
                    if session.notes.remove(&name).is_some() {
                        delta.record(DeltaAction::remove_note(name));
                    }
                }
                LocalChange::ChangeId { new_id } => {
                    if new_id == session.id {
                        continue;
                    }
                    let old = std::mem::replace(&mut session.id, new_id.clone());
                    self.store.remove(context, &old);
                    self.remember_rename(context, &old, &new_id, now.instant);
                    delta.session_id = new_id.clone();
                    if has_members {
                        let change = SessionMessage::change_session_id(context, &old, &new_id, now.epoch_ms);
                        self.send_all_with(change, self.config.ordering_send_options);
                    }
                }
                LocalChange::Invalidate => invalidate = true,
            }
        }
        let id = session.id.clone();
        if invalidate {
            // expire(true, true): requestCompleted(id, expires=true) sends only a DELTA.
            if has_members && !delta.actions.is_empty() {
                self.send_delta(context, &delta, now);
            }
            self.store.remove(context, &id);
            bump(&self.stats.sessions_expired);
            if has_members {
                self.send_all(SessionMessage::expired(context, &id, now.epoch_ms));
            }
            return Ok(());
        }
        session.end_access(now.epoch_ms);
        if has_members {
            // ReplicationValve -> requestCompleted(id).
            let mut sent = false;
            if !delta.actions.is_empty() {
                sent = self.send_delta(context, &delta, now);
            } else if !session.primary {
                self.send_all(SessionMessage::accessed(context, &id, now.epoch_ms));
                sent = true;
            }
            session.primary = true;
            let max = session.max_inactive_interval;
            if !sent && max >= 0 && now.epoch_ms - session.last_time_replicated > i64::from(max) * 1000 {
                self.send_all(SessionMessage::accessed(context, &id, now.epoch_ms));
                sent = true;
            }
            if sent {
                session.last_time_replicated = now.epoch_ms;
            }
        } else {
            // No members: the delta is discarded and the session is primary here.
            session.primary = true;
        }
        self.store.insert(context, session);
        Ok(())
    }

    fn distributable(&self, name: &str) -> bool {
        match &self.config.attribute_name_filter {
            Some(f) => f.check_name(name).is_ok(),
            None => true,
        }
    }

    fn send_delta(&mut self, context: &str, delta: &DeltaRequest, now: Now) -> bool {
        match delta.encode() {
            Ok(payload) => {
                self.send_all(SessionMessage::delta(context, &delta.session_id, payload, now.epoch_ms));
                true
            }
            Err(e) => {
                self.notice(Notice::EncodeFailed { context: context.to_string(), reason: e.to_string() });
                false
            }
        }
    }

    /// `SimpleTcpCluster.send(msg)`: to every member, only if there is one.
    fn send_all(&mut self, message: SessionMessage) {
        self.send_all_with(message, self.config.channel_send_options);
    }

    fn send_all_with(&mut self, message: SessionMessage, options: SendOptions) {
        if self.members.is_empty() {
            return;
        }
        self.send(Destination::All, message, options, None);
    }

    fn send(&mut self, to: Destination, message: SessionMessage, options: SendOptions, token: Option<SendToken>) {
        self.count_sent(message.event);
        self.outputs.push_back(Output::Send { to, message, options, token });
    }

    fn count_sent(&self, event: EventType) {
        if let Some(c) = usize::try_from(event.code()).ok().and_then(|i| self.stats.sent.get(i)) {
            bump(c);
        }
    }

    fn listener(&mut self, context: &str, kind: ListenerKind) {
        self.listener_with(context, kind, None, None, None);
    }

    fn listener_with(
        &mut self,
        context: &str,
        kind: ListenerKind,
        value: Option<JavaValue>,
        old: Option<JavaValue>,
        session: Option<Arc<Session>>,
    ) {
        let event = ListenerEvent { context: context.to_string(), kind, value, old, session };
        self.outputs.push_back(Output::Listener(event));
    }

    fn destroyed(&mut self, context: &str, session: Session) {
        let kind = ListenerKind::SessionDestroyed { id: session.id.clone() };
        self.listener_with(context, kind, None, None, Some(Arc::new(session)));
    }

    fn notice(&mut self, notice: Notice) {
        self.outputs.push_back(Output::Notice(notice));
    }
}

/// The class of a serialized object that is not `SessionMessageImpl` (`AC ED 00 05 73 72` and a
/// class name); `None` for a session message or for bytes that are not such a stream at all
/// (those fail to decode and count as malformed).
/// A member as a session's `last_sender` names it.
fn sender_name(m: &MemberId) -> Arc<str> {
    Arc::from(m.to_string())
}

fn other_class(payload: &[u8]) -> Option<String> {
    const CLASS: &[u8] = b"org.apache.catalina.ha.session.SessionMessageImpl";
    let rest = payload.strip_prefix(&[0xAC, 0xED, 0x00, 0x05, 0x73, 0x72][..])?;
    let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let name = rest.get(2..2 + len)?;
    (name != CLASS).then(|| String::from_utf8_lossy(name).into_owned())
}

/// Checks the shape of one request's changes: `Create` at most once and first, `Invalidate` at
/// most once and last. Returns `Some(max_inactive_interval)` when the list creates the session.
fn validate(changes: &[LocalChange]) -> Result<Option<Option<i32>>, SessionError> {
    let mut create = None;
    for (i, c) in changes.iter().enumerate() {
        match c {
            LocalChange::Create { max_inactive_interval } => {
                if i != 0 {
                    return Err(SessionError::InvalidChanges("Create must come first".into()));
                }
                create = Some(*max_inactive_interval);
            }
            LocalChange::Invalidate if i + 1 != changes.len() => {
                return Err(SessionError::InvalidChanges("Invalidate must come last".into()));
            }
            LocalChange::ChangeId { new_id } if SessionMessage::try_change_session_id("", "", new_id, 0).is_err() => {
                return Err(SessionError::InvalidChanges("the new id is too long for writeUTF".into()));
            }
            _ => {}
        }
    }
    Ok(create)
}
