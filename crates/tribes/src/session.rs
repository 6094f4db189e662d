//! The session service: the `tribes-proto` DeltaManager machine ([`DeltaManager`]) driven by a
//! task that keeps the clock, reads the channel's incoming messages and sends what the machine
//! asks for through the [`GroupChannel`] (Tomcat's `SimpleTcpCluster` + `ClusterSessionListener` +
//! one `DeltaManager` per held context).
//!
//! - Incoming: every Java-serialized payload (BYTE_MESSAGE clear) is offered to the machine as a
//!   `SessionMessageImpl`; other payloads are ignored and counted; a payload that is not a
//!   `SessionMessageImpl` is dropped and counted by the machine. A SYNCHRONIZED_ACK sender gets
//!   its ACK once the machine processed the message (the state is in the store), never FAIL_ACK:
//!   Tomcat's manager catches its own exceptions too.
//! - Outgoing: sends without a token (everything but ALL_SESSION_DATA) go through one ordered
//!   queue and one task, in the machine's order, so one session's messages leave in order; with
//!   the channel's ASYNCHRONOUS dispatcher (channelSendOptions 8) each destination then has one
//!   connection that carries them in that order. Sends with a token (the state transfer's DATA
//!   slices, USE_ACK + SYNCHRONIZED_ACK) run on their own task and report back to the machine.
//! - Members come from a membership source (the failure detector's events and list); the
//!   machine starts (asks `members[0]` for state) `member_wait` after the service starts, or at
//!   once if members are known by then. Until it starts, incoming messages wait in the channel's
//!   queue.
//! - Local changes come through [`SessionService::apply`] (the control socket) or
//!   [`SessionService::apply_local`] (the Java bridge, on the request's thread). The machine sits
//!   behind one lock that the task takes for each input and a local apply takes for its changes:
//!   a request end hands its changes to the machine and queues the messages without a hop to the
//!   task and back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tribes_proto::session::manager::{
    DeltaManager, Destination, ListenerEvent, ManagerConfig, ManagerStats, Notice, Now, Output, SendToken, StateSlice,
    StatsSnapshot, WaitEnd,
};
use tribes_proto::session::store::Store;
use tribes_proto::session::SessionMessage;
use tribes_wire::{ChannelData, Member, MemberId, SendOptions};

use crate::channel::{ChannelError, GroupChannel, Incoming, Payload};
use crate::membership::MembershipEvent;

pub use tribes_proto::session::manager::{LocalChange, SessionError};

/// What the service is told at start.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// DeltaManager's attributes.
    pub manager: ManagerConfig,
    /// The contexts this node holds, by exact cluster manager name.
    pub contexts: Vec<String>,
    /// How long to wait for the first members before asking for state (Tomcat's channel start
    /// waits for membership too). Skipped when members are known at start.
    pub member_wait: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { manager: ManagerConfig::default(), contexts: Vec::new(), member_wait: Duration::from_secs(3) }
    }
}

/// The service's counters and the machine's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub manager: StatsSnapshot,
    /// Incoming payloads that were raw bytes (not Java-serialized): not for us.
    pub ignored_payloads: u64,
    /// Sends that failed (the message did not reach every destination).
    pub send_failures: u64,
    /// Payload bytes of messages waiting to be sent (at most about [`ORDERED_QUEUE_BYTES`]).
    pub queued_bytes: u64,
}

#[derive(Debug, Default)]
struct ServiceCounters {
    ignored_payloads: AtomicU64,
    send_failures: AtomicU64,
}

enum Command {
    /// Holds a context from now on and asks a member for its state (a webapp started after the
    /// node); answered with false when it was held already.
    AddContext { context: String, reply: oneshot::Sender<bool> },
}

/// Where a context's session state stands (DeltaManager's `getAllClusterSessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateStatus {
    /// Not asked yet: the service waits for its first members (`member_wait`).
    NotAsked,
    /// Asked; messages for the context are queued until the state arrives.
    Waiting,
    /// The wait is over (the state arrived, or why not).
    Settled(StateOutcome),
}

/// How a context's wait for state ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOutcome {
    /// No member to ask (or only younger ones): the context starts without state.
    NoMembers,
    /// The wait ended as the machine says.
    Ended(WaitEnd),
}

impl std::fmt::Display for StateOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateOutcome::NoMembers => "no members: started without session state",
            StateOutcome::Ended(WaitEnd::Transferred) => "session state received",
            StateOutcome::Ended(WaitEnd::NoContextManager) => {
                "no session state: the member asked does not hold this context"
            }
            StateOutcome::Ended(WaitEnd::Timeout) => "no session state within stateTransferTimeout",
            StateOutcome::Ended(WaitEnd::NoWait) => "session state requested, not waited for (stateTransferTimeout 0)",
            StateOutcome::Ended(WaitEnd::NoMembers) => "no session state: every member left during the wait",
        })
    }
}

/// A running session service.
pub struct SessionService {
    store: Arc<Store>,
    stats: Arc<ManagerStats>,
    counters: Arc<ServiceCounters>,
    commands: mpsc::Sender<Command>,
    /// The machine and what feeds it: locked by the service's task for each input, and by the
    /// caller of [`SessionService::apply_local`] (a Tomcat request thread applies its own
    /// changes, with no hop to the task and back).
    shared: Arc<Shared>,
    listeners: broadcast::Sender<ListenerEvent>,
    state: watch::Receiver<HashMap<String, StateStatus>>,
    backlog: Arc<Backlog>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SessionService {
    /// Starts the service on `channel`, reading `incoming` (from [`GroupChannel::incoming`], whose
    /// handler the receiver serves), with the current `members` (longest-running first) and their
    /// later changes from `member_events`. Must be called inside a runtime.
    pub fn start(
        channel: Arc<GroupChannel>,
        incoming: mpsc::Receiver<Incoming>,
        members: Vec<Member>,
        member_events: broadcast::Receiver<MembershipEvent>,
        config: SessionConfig,
    ) -> SessionService {
        let store = Arc::new(Store::with_contexts(&config.contexts));
        // State transfer DATA messages are written straight into their frames (send_state).
        let manager = ManagerConfig { runtime_encodes_state: true, ..config.manager.clone() };
        let machine = DeltaManager::new(manager, store.clone());
        let stats = machine.stats().clone();
        let counters = Arc::new(ServiceCounters::default());
        let (commands, commands_rx) = mpsc::channel(256);
        let (listeners, _) = broadcast::channel(1024);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ordered_tx, ordered_rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let sender = tokio::spawn(ordered_sender(channel.clone(), ordered_rx, counters.clone(), backlog.clone()));
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let local = channel.local().id();
        let mut members = members;
        members.retain(|m| m.id() != local);
        let (state_tx, state) =
            watch::channel(config.contexts.iter().map(|c| (c.clone(), StateStatus::NotAsked)).collect());
        let runner = Runner {
            machine,
            channel,
            seen: members.iter().map(|m| (m.id(), tokio::time::Instant::now())).collect(),
            started_at: tokio::time::Instant::now(),
            members,
            senders: HashMap::new(),
            listeners: listeners.clone(),
            counters: counters.clone(),
            ordered: ordered_tx,
            backlog: backlog.clone(),
            results: results_tx,
            state_asked: HashMap::new(),
            state: state_tx,
            runtime: tokio::runtime::Handle::current(),
        };
        let shared = Arc::new(Shared { runner: Mutex::new(runner), rearm: tokio::sync::Notify::new() });
        let start_at = tokio::time::Instant::now() + config.member_wait;
        let task_shared = shared.clone();
        let task = tokio::spawn(async move {
            run(task_shared, incoming, member_events, commands_rx, results_rx, stop_rx, start_at).await;
            // The ordered queue closes with the runner; the sender finishes what is queued.
            let _ = sender.await;
        });
        SessionService {
            store,
            stats,
            counters,
            commands,
            shared,
            listeners,
            state,
            backlog,
            stop: Mutex::new(Some(stop_tx)),
            task: Mutex::new(Some(task)),
        }
    }

    /// The replica store (readers only: the machine is its one writer).
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Applies one local request's changes to `session_id` of `context` and replicates them
    /// (see [`DeltaManager::handle_local`]). Returns once the machine applied them and queued its
    /// messages. Waits first while more than [`ORDERED_QUEUE_BYTES`] of messages wait to be sent
    /// (members slower than the requests: back-pressure rather than memory).
    pub async fn apply(&self, context: &str, session_id: &str, changes: Vec<LocalChange>) -> Result<(), SessionError> {
        // Back-pressure: while the members take our messages slower than we make them.
        self.wait_for_room().await;
        self.apply_local(context, session_id, changes)
    }

    /// [`SessionService::apply`] on the caller's thread, without waiting for room: the machine
    /// applies the changes and queues its messages before this returns (a Tomcat request thread
    /// calls it when [`SessionService::has_room`]; nothing here waits on the network).
    pub fn apply_local(&self, context: &str, session_id: &str, changes: Vec<LocalChange>) -> Result<(), SessionError> {
        let mut runner = self.shared.lock();
        let before = runner.machine.poll_timeout();
        let result = runner.machine.handle_local(context, session_id, changes, now());
        runner.drain();
        let after = runner.machine.poll_timeout();
        drop(runner);
        // The task sleeps until the machine's next deadline: wake it if this one is earlier.
        if after.is_some_and(|a| before.is_none_or(|b| a < b)) {
            self.shared.rearm.notify_one();
        }
        result
    }

    /// Whether the ordered queue holds at most [`ORDERED_QUEUE_BYTES`] now.
    pub fn has_room(&self) -> bool {
        self.backlog.bytes.load(Ordering::Acquire) <= ORDERED_QUEUE_BYTES
    }

    /// Returns once the ordered queue holds at most [`ORDERED_QUEUE_BYTES`] (at once when it
    /// does): what [`SessionService::apply`] waits for first. A caller that bounds the apply by
    /// time waits for this outside that bound (a slow member is not a failed change).
    pub async fn wait_for_room(&self) {
        self.backlog.wait_for_room().await;
    }

    /// Holds `context` from now on and, once the machine runs, asks a member for its state (the
    /// wait is then seen in [`SessionService::state_status`]). False when it was held already.
    pub async fn add_context(&self, context: &str) -> Result<bool, SessionError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::AddContext { context: context.to_string(), reply };
        self.commands.send(command).await.map_err(|_| SessionError::Stopped)?;
        answer.await.map_err(|_| SessionError::Stopped)
    }

    /// Where the session state of `context` stands (None: not held).
    pub fn state_status(&self, context: &str) -> Option<StateStatus> {
        self.state.borrow().get(context).cloned()
    }

    /// Waits until the wait for the state of `context` is over (as DeltaManager's start waits in
    /// `getAllClusterSessions`, bounded by stateTransferTimeout); None when the context is not
    /// held or the service stopped.
    pub async fn state_settled(&self, context: &str) -> Option<StateOutcome> {
        let mut rx = self.state.clone();
        let settled = rx
            .wait_for(|m| !matches!(m.get(context), Some(StateStatus::NotAsked | StateStatus::Waiting)))
            .await
            .ok()?;
        match settled.get(context) {
            Some(StateStatus::Settled(outcome)) => Some(outcome.clone()),
            _ => None,
        }
    }

    /// Listener events caused by replication (for the webapp side).
    pub fn subscribe(&self) -> broadcast::Receiver<ListenerEvent> {
        self.listeners.subscribe()
    }

    pub fn stats(&self) -> SessionStats {
        SessionStats {
            manager: self.stats.snapshot(),
            ignored_payloads: self.counters.ignored_payloads.load(Ordering::Relaxed),
            send_failures: self.counters.send_failures.load(Ordering::Relaxed),
            queued_bytes: self.backlog.bytes.load(Ordering::Relaxed) as u64,
        }
    }

    /// The machine's live counters.
    pub fn manager_stats(&self) -> Arc<ManagerStats> {
        self.stats.clone()
    }

    /// Stops the manager (sessions expire locally; the cluster is told only with
    /// `expireSessionsOnShutdown`), sends what is queued, and ends the task.
    pub async fn stop(&self) {
        let stop = self.stop.lock().expect("stop lock").take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let task = self.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for SessionService {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().expect("task lock").take() {
            task.abort();
        }
    }
}

/// Payload bytes the ordered queue may hold before local changes wait ([`SessionService::apply`]):
/// MessageDispatchInterceptor's `maxQueueSize` with `alwaysSend`, whose callers wait when it is
/// full. The machine itself never waits (it also receives), so a member that takes our messages
/// slower than requests make them slows the requests, instead of growing memory.
pub const ORDERED_QUEUE_BYTES: usize = 64 << 20;

/// What the ordered queue holds, shared by the machine (adds), the ordered task (takes away)
/// and [`SessionService::apply`] (waits while it is over [`ORDERED_QUEUE_BYTES`]).
#[derive(Debug, Default)]
struct Backlog {
    bytes: AtomicUsize,
    drained: tokio::sync::Notify,
}

impl Backlog {
    async fn wait_for_room(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.bytes.load(Ordering::Acquire) <= ORDERED_QUEUE_BYTES {
                return;
            }
            drained.await;
        }
    }
}

/// One send the ordered task performs.
struct Job {
    destinations: Vec<Member>,
    payload: Payload,
    options: SendOptions,
    event: String,
    /// A barrier (no destinations): told once every job before it is done.
    done: Option<oneshot::Sender<()>>,
}

async fn ordered_sender(
    channel: Arc<GroupChannel>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    counters: Arc<ServiceCounters>,
    backlog: Arc<Backlog>,
) {
    while let Some(job) = jobs.recv().await {
        if let Some(done) = job.done {
            let _ = done.send(());
            continue;
        }
        let size = job.payload.bytes().len();
        if let Err(e) = channel.send(&job.destinations, job.payload, job.options).await {
            counters.send_failures.fetch_add(1, Ordering::Relaxed);
            log_send_error(&job.event, &e);
        }
        let before = backlog.bytes.fetch_sub(size, Ordering::AcqRel);
        if before > ORDERED_QUEUE_BYTES && before - size <= ORDERED_QUEUE_BYTES {
            backlog.drained.notify_waiters();
        }
    }
    // Nothing will drain any more: nobody may wait for room.
    backlog.bytes.store(0, Ordering::Release);
    backlog.drained.notify_waiters();
}

fn log_send_error(event: &str, e: &ChannelError) {
    tracing::warn!(event, error = %e, "session message send failed");
}

fn now() -> Now {
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    Now::new(tokio::time::Instant::now().into_std(), epoch)
}

struct Runner {
    machine: DeltaManager,
    channel: Arc<GroupChannel>,
    /// Alive time descending.
    members: Vec<Member>,
    /// When each member's alive time (`Member::alive`, ms since it started) was last heard.
    seen: HashMap<MemberId, tokio::time::Instant>,
    /// When this service started (about when this node's membership started).
    started_at: tokio::time::Instant,
    /// Senders of recent messages: a reply goes to the sender even before membership lists it
    /// (Tomcat replies to the message's address).
    senders: HashMap<MemberId, Member>,
    listeners: broadcast::Sender<ListenerEvent>,
    counters: Arc<ServiceCounters>,
    ordered: mpsc::UnboundedSender<Job>,
    backlog: Arc<Backlog>,
    results: mpsc::UnboundedSender<(SendToken, Result<(), String>)>,
    /// When each context's state was last asked for, for the elapsed time of the transfer.
    state_asked: HashMap<String, tokio::time::Instant>,
    /// Each held context's state wait, for whoever waits on it (the Java bridge's start).
    state: watch::Sender<HashMap<String, StateStatus>>,
    /// Where sends with a result are spawned (the machine also runs on callers' threads).
    runtime: tokio::runtime::Handle,
}

/// The runner, shared by the service's task and [`SessionService::apply_local`].
struct Shared {
    runner: Mutex<Runner>,
    /// Wakes the task to compute its next deadline again (a local apply set an earlier one).
    rearm: tokio::sync::Notify,
}

impl Shared {
    /// The runner; held for one input and its outputs, never across an await. A panic while it
    /// was held left the machine as the panic left it: the lock is taken anyway.
    fn lock(&self) -> std::sync::MutexGuard<'_, Runner> {
        self.runner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The service's task: feeds the machine its inputs (messages, membership, commands, send
/// results, deadlines) one at a time, each under the runner's lock, and sends what it outputs.
async fn run(
    shared: Arc<Shared>,
    mut incoming: mpsc::Receiver<Incoming>,
    mut member_events: broadcast::Receiver<MembershipEvent>,
    mut commands: mpsc::Receiver<Command>,
    mut results: mpsc::UnboundedReceiver<(SendToken, Result<(), String>)>,
    mut stop: oneshot::Receiver<()>,
    start_at: tokio::time::Instant,
) {
    let mut started = false;
    {
        let mut r = shared.lock();
        let ids = r.member_ids();
        r.machine.handle_members(ids, now());
        if !r.members.is_empty() {
            r.start();
            started = true;
        }
        r.drain();
    }
    let mut events_open = true;
    let mut incoming_open = true;
    let mut commands_open = true;
    loop {
        let deadline = if started {
            shared.lock().machine.poll_timeout().map(tokio::time::Instant::from_std)
        } else {
            Some(start_at)
        };
        tokio::select! {
            _ = &mut stop => {
                let mut r = shared.lock();
                r.machine.handle_stop(now());
                r.drain();
                r.close();
                return;
            }
            e = member_events.recv(), if events_open => match e {
                Ok(event) => {
                    let mut r = shared.lock();
                    r.member_event(event);
                    let ids = r.member_ids();
                    r.machine.handle_members(ids, now());
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "session service lagged behind the membership events");
                }
                Err(broadcast::error::RecvError::Closed) => events_open = false,
            },
            Some(message) = incoming.recv(), if started && incoming_open => shared.lock().incoming(message),
            c = commands.recv(), if commands_open => match c {
                Some(Command::AddContext { context, reply }) => {
                    let mut r = shared.lock();
                    let added = !r.machine.store().has_context(&context);
                    if added {
                        r.state.send_modify(|m| {
                            m.insert(context.clone(), StateStatus::NotAsked);
                        });
                        // Asks for state at once if the machine runs, else at its start.
                        r.machine.add_context(&context, now());
                    }
                    let _ = reply.send(added);
                }
                None => commands_open = false,
            },
            Some((token, result)) = results.recv() => shared.lock().machine.handle_send_result(token, result, now()),
            _ = shared.rearm.notified() => {}
            _ = sleep_until(deadline) => {
                let mut r = shared.lock();
                if started {
                    r.machine.handle_timeout(now());
                } else {
                    r.start();
                    started = true;
                }
            }
        }
        if incoming.is_closed() && incoming.is_empty() {
            incoming_open = false;
        }
        shared.lock().drain();
    }
}

impl Runner {
    /// Ends the ordered queue (the ordered task sends what it holds, then ends): nothing is
    /// queued after the stop, even by a late [`SessionService::apply_local`].
    fn close(&mut self) {
        self.ordered = mpsc::unbounded_channel().0;
    }

    /// Starts the machine, asking `members[0]` for state only if it has been running longer than
    /// this node: a member that joined during `member_wait` started after us and asks us.
    fn start(&mut self) {
        let up = self.started_at.elapsed().as_millis() as i64;
        let source = self.members.first().and_then(|m| {
            let heard = self.seen.get(&m.id()).map_or(0, |at| at.elapsed().as_millis() as i64);
            let alive = m.alive.saturating_add(heard);
            if alive > up {
                Some(m.id())
            } else {
                tracing::info!(member = %m.id(), alive_ms = alive, our_ms = up,
                    "the longest-running member started after us: not asking it for session state");
                None
            }
        });
        self.machine.handle_start_from(source, now());
    }

    fn member_ids(&self) -> Vec<MemberId> {
        self.members.iter().map(Member::id).collect()
    }

    fn member_event(&mut self, event: MembershipEvent) {
        let local = self.channel.local().id();
        match event {
            MembershipEvent::Added(m) | MembershipEvent::Updated(m) => {
                if m.id() == local {
                    return;
                }
                self.seen.insert(m.id(), tokio::time::Instant::now());
                match self.members.iter_mut().find(|x| x.id() == m.id()) {
                    Some(x) => *x = m,
                    None => self.members.push(m),
                }
                self.members.sort_by_key(|m| std::cmp::Reverse(m.alive));
            }
            MembershipEvent::Disappeared { member, .. } => {
                let id = member.id();
                self.members.retain(|m| m.id() != id);
                self.seen.remove(&id);
            }
        }
    }

    fn incoming(&mut self, message: Incoming) {
        match message.payload() {
            Payload::Serialized(bytes) => {
                let from = message.sender().id();
                if !self.senders.contains_key(&from) {
                    if self.senders.len() >= MAX_SENDERS {
                        self.senders.clear();
                    }
                    self.senders.insert(from.clone(), message.sender().clone());
                }
                self.machine.handle_payload(from, &bytes, now());
                // The outputs are queued before the SYNC ACK leaves.
                self.drain();
            }
            Payload::Bytes(_) => {
                self.counters.ignored_payloads.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(from = %message.sender().id(), "byte message ignored by the session service");
            }
        }
        message.complete(Ok(()));
    }

    fn drain(&mut self) {
        while let Some(out) = self.machine.poll_output() {
            match out {
                Output::Send { to, message, options, token } => self.send(to, message, options, token),
                Output::SendState { to, slice, options, token } => self.send_state(to, slice, options, token),
                Output::Listener(event) => {
                    let _ = self.listeners.send(event);
                }
                Output::Notice(n) => {
                    let timing = self.state_timing(&n);
                    self.track_state(&n);
                    log_notice(&n, timing);
                }
            }
        }
    }

    fn track_state(&mut self, n: &Notice) {
        let (context, status) = match n {
            Notice::StateRequested { context, .. } | Notice::StateReRequested { context, .. } => {
                (context, StateStatus::Waiting)
            }
            Notice::NoMembers { context } => (context, StateStatus::Settled(StateOutcome::NoMembers)),
            Notice::StateWaitEnded { context, end, .. } => (context, StateStatus::Settled(StateOutcome::Ended(*end))),
            _ => return,
        };
        self.state.send_modify(|m| {
            m.insert(context.clone(), status);
        });
    }

    /// For a state wait that ended: milliseconds since the state was asked for (the
    /// GET_ALL_SESSIONS was queued) and the sessions the context holds now.
    fn state_timing(&mut self, n: &Notice) -> Option<(u64, usize)> {
        match n {
            Notice::StateRequested { context, .. } | Notice::StateReRequested { context, .. } => {
                self.state_asked.insert(context.clone(), tokio::time::Instant::now());
                None
            }
            Notice::StateWaitEnded { context, .. } => {
                let asked = self.state_asked.remove(context)?;
                let sessions = self.machine.store().count(context).unwrap_or(0);
                Some((asked.elapsed().as_millis() as u64, sessions))
            }
            _ => None,
        }
    }

    fn destinations(&self, to: &Destination) -> Vec<Member> {
        match to {
            Destination::All => self.members.clone(),
            Destination::One(id) => match self.members.iter().find(|m| &m.id() == id) {
                Some(m) => vec![m.clone()],
                None => self.senders.get(id).cloned().into_iter().collect(),
            },
        }
    }

    fn send(&mut self, to: Destination, message: SessionMessage, options: SendOptions, token: Option<SendToken>) {
        let destinations = self.destinations(&to);
        let event = format!("{:?}", message.event);
        tracing::debug!(%event, context = ?message.context, session = ?message.session_id, to = destinations.len(), "sending session message");
        let payload = Payload::Serialized(encode(&message));
        match token {
            None => {
                if destinations.is_empty() {
                    return;
                }
                self.backlog.bytes.fetch_add(payload.bytes().len(), Ordering::AcqRel);
                let _ = self.ordered.send(Job { destinations, payload, options, event, done: None });
            }
            Some(token) => {
                let (channel, results, counters) = (self.channel.clone(), self.results.clone(), self.counters.clone());
                self.runtime.spawn(async move {
                    let result = if destinations.is_empty() {
                        Err("the member left".to_string())
                    } else {
                        channel.send(&destinations, payload, options).await.map(|_| ()).map_err(|e| {
                            counters.send_failures.fetch_add(1, Ordering::Relaxed);
                            log_send_error(&event, &e);
                            e.to_string()
                        })
                    };
                    let _ = results.send((token, result));
                });
            }
        }
    }

    /// One DATA message of a state transfer, held once: the machine writes the state stream
    /// straight into the frame (frame header, ChannelData and SessionMessageImpl around it), which
    /// the sender writes as it is. The stream is written now, before the machine's next input.
    fn send_state(&mut self, to: MemberId, slice: StateSlice, options: SendOptions, token: SendToken) {
        let destinations = self.destinations(&Destination::One(to));
        tracing::debug!(context = %slice.context, sessions = slice.ids.len(), "writing a session state message");
        let started = std::time::Instant::now();
        let frame = self.state_frame(&slice, options);
        let encoded_ms = started.elapsed().as_millis() as u64;
        let (sender, results, counters) = (self.channel.clone(), self.results.clone(), self.counters.clone());
        self.runtime.spawn(async move {
            let len = frame.len();
            let result = if destinations.is_empty() {
                Err("the member left".to_string())
            } else {
                sender.sender().send(frame, options, &destinations).await.map(|_| ()).map_err(|e| {
                    counters.send_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event = "AllSessionData", error = %e, "session message send failed");
                    e.to_string()
                })
            };
            if result.is_ok() {
                let total_ms = started.elapsed().as_millis() as u64;
                tracing::info!(bytes = len, encoded_ms, total_ms, "session state message acknowledged");
            }
            let _ = results.send((token, result));
        });
    }

    /// The whole frame of `slice`'s DATA message, built in one buffer.
    fn state_frame(&self, slice: &StateSlice, options: SendOptions) -> Bytes {
        let data = self.channel.message(&Payload::Serialized(Bytes::new()), options);
        let hint = 64 * slice.ids.len();
        framed_around(&data, &slice.message(), hint, |out| {
            if let Err(e) = self.machine.encode_state_slice(slice, out) {
                // As the machine does: an empty state keeps the requester's wait short.
                tracing::error!(context = %slice.context, reason = %e, "encoding a session message failed");
                self.machine.encode_empty_state(out);
            }
        })
    }
}

/// The frame of `data` (its message empty) carrying `message` (its payload present and empty)
/// with the payload `write` appends, in one buffer: the same bytes as
/// `ChannelData { message: message-with-payload.encode(), ..data }.to_frame()`, without a copy
/// of the payload at each layer. `hint`: payload bytes expected.
fn framed_around(data: &ChannelData, message: &SessionMessage, hint: usize, write: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    use tribes_wire::frame::{END, START};
    let (head, tail) = around_payload(message);
    let template = data.to_frame();
    // START | length | ChannelData up to its message length (0 here) | END
    let data_head = &template[..template.len() - END.len()];
    let mut out = Vec::with_capacity(data_head.len() + head.len() + hint + tail.len() + END.len());
    out.extend_from_slice(data_head);
    out.extend_from_slice(&head);
    let payload_at = out.len();
    write(&mut out);
    let payload_len = out.len() - payload_at;
    out.extend_from_slice(&tail);
    out.extend_from_slice(&END);
    let be = |n: usize| i32::try_from(n).expect("a message under 2 GiB").to_be_bytes();
    // The array's length ends SessionMessageImpl's head; the ChannelData's message length ends
    // its head; the package length follows START.
    out[payload_at - 4..payload_at].copy_from_slice(&be(payload_len));
    let message_len = head.len() + payload_len + tail.len();
    out[data_head.len() - 4..data_head.len()].copy_from_slice(&be(message_len));
    let package_len = out.len() - START.len() - 4 - END.len();
    out[START.len()..START.len() + 4].copy_from_slice(&be(package_len));
    Bytes::from(out)
}

/// `message` (its payload present and empty) encoded as SessionMessageImpl, split where the
/// payload's bytes go: the head ends with the `mSession` array's length (0, to be set), the tail
/// holds the fields after it.
fn around_payload(message: &SessionMessage) -> (Vec<u8>, Vec<u8>) {
    let empty = message.encode();
    let one = SessionMessage { payload: Some(Bytes::from_static(&[0])), ..message.clone() }.encode();
    // `empty` is head | 00 00 00 00 | tail and `one` head | 00 00 00 01 | 00 | tail: they first
    // differ at the last byte of the array's length.
    let at = empty.iter().zip(&one).position(|(a, b)| a != b).expect("the payload's length is encoded") + 1;
    assert_eq!(one[at + 1..], empty[at..], "SessionMessageImpl layout around the payload");
    (empty[..at].to_vec(), empty[at..].to_vec())
}

/// Senders remembered for replies; past this the memory starts over.
const MAX_SENDERS: usize = 1024;

fn encode(message: &SessionMessage) -> Bytes {
    Bytes::from(message.encode())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Logs a notice (with `timing` from [`Runner::state_timing`]). Session ids only at debug level.
fn log_notice(n: &Notice, timing: Option<(u64, usize)>) {
    use tracing::{debug, error, info, warn};
    match n {
        Notice::Malformed { from, context, event, reason } => {
            warn!(%from, ?context, ?event, %reason, "session message dropped: malformed")
        }
        Notice::Ignored { from, reason } => debug!(%from, %reason, "payload ignored by the session service"),
        Notice::AttributeRejected { from, context, session_id, name, class_name, reason } => {
            warn!(%from, %context, session = %session_id, attribute = %name, class = %class_name, %reason,
                "replicated value refused by the class filter; dropped alone, the session is kept");
        }
        Notice::UnknownContext { from, context, event } => {
            warn!(%from, %context, ?event, "session message for a context this node does not hold")
        }
        Notice::StateRequested { context, to } => info!(%context, member = %to, "asked for the session state"),
        Notice::NoMembers { context } => info!(%context, "no members: starting without session state"),
        Notice::StateWaitEnded { context, end, replayed, dropped } => match end {
            WaitEnd::Transferred => match timing {
                Some((elapsed_ms, sessions)) => {
                    info!(%context, replayed, dropped, sessions, elapsed_ms, "session state transfer complete")
                }
                None => info!(%context, replayed, dropped, "session state transfer complete"),
            },
            WaitEnd::Timeout => {
                error!(%context, replayed, dropped, "no session state within stateTransferTimeout; going on without it")
            }
            WaitEnd::NoContextManager => {
                warn!(%context, replayed, dropped, "no session state: the member does not hold this context")
            }
            WaitEnd::NoWait => info!(%context, "session state requested; not waiting (stateTransferTimeout 0)"),
            WaitEnd::NoMembers => warn!(%context, replayed, dropped, "no session state: every member left"),
        },
        Notice::QueuedDropped { context, event, timestamp, reference } => {
            warn!(%context, ?event, timestamp, reference, "queued session message dropped (stateTimestampDrop)")
        }
        Notice::StateReRequested { context, left, to } => {
            warn!(%context, %left, member = %to, "the member asked for state left; asked the next one")
        }
        Notice::StateServed { context, to, sessions, slices } => {
            info!(%context, member = %to, sessions, slices, "sending session state")
        }
        Notice::StateSendFailed { context, to, reason } => {
            warn!(%context, member = %to, %reason, "session state slice not acknowledged")
        }
        Notice::StateTransferAbandoned { context, to } => {
            warn!(%context, member = %to, "session state transfer abandoned: the member left")
        }
        Notice::SessionReplaced { context, session_id } => {
            debug!(%context, session = %session_id, "session state replaced a session")
        }
        Notice::DeltaKept { context, session_id } => {
            debug!(%context, session = %session_id, "delta for an unknown session kept until its CREATED")
        }
        Notice::DeltasApplied { context, session_id, count } => {
            debug!(%context, session = %session_id, count, "kept deltas applied")
        }
        Notice::DeltaFollowedRename { from, context, old_id, new_id } => {
            debug!(%from, %context, %old_id, %new_id, "late delta for a renamed session applied under its new id")
        }
        Notice::DeltaDropped { context, session_id, reason } => {
            warn!(%context, %reason, "kept delta dropped");
            debug!(%context, session = %session_id, "dropped delta's session");
        }
        Notice::DeltaIdMismatch { from, context, .. } => {
            warn!(%from, %context, "delta dropped: its session id differs from the message's")
        }
        Notice::UnknownAction { context, kind, .. } => warn!(%context, kind, "unknown delta action type skipped"),
        Notice::QueueFull { context, event } => warn!(%context, ?event, "state-wait queue full; message dropped"),
        Notice::EncodeFailed { context, reason } => error!(%context, %reason, "encoding a session message failed"),
        Notice::ExpiredByMember { from, context, session_id, held } => {
            debug!(%from, %context, session = %session_id, held, "session expired by a member")
        }
        Notice::Expired { context, session_id, primary } => {
            debug!(%context, session = %session_id, primary, "session expired")
        }
    }
}

impl SessionService {
    /// Waits until every message queued so far (the replication of the changes applied before
    /// this call) has been sent, acknowledged when its options ask for it, or has failed. The Java
    /// bridge calls it after [`SessionService::apply`] when channelSendOptions is synchronous, as
    /// Tomcat's ReplicationValve waits for its send.
    pub async fn flush(&self) -> Result<(), SessionError> {
        let (reply, answer) = oneshot::channel();
        {
            let mut r = self.shared.lock();
            // Behind what the machine queued so far.
            r.drain();
            let barrier = Job {
                destinations: Vec::new(),
                payload: Payload::Bytes(Bytes::new()),
                options: SendOptions::default(),
                event: String::new(),
                done: Some(reply),
            };
            let _ = r.ordered.send(barrier);
        }
        answer.await.map_err(|_| SessionError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tribes_wire::UniqueId;

    #[test]
    fn a_state_frame_built_in_one_buffer_is_the_frame_of_the_whole_message() {
        let member = Member::new("127.0.0.1".parse().unwrap(), 4000, UniqueId::from_random([7; 16]), 5);
        let data = ChannelData {
            options: SendOptions(6),
            timestamp: 1_700_000_000_000,
            unique_id: Bytes::from_static(&[1; 16]),
            address: member,
            message: Bytes::new(),
        };
        for (context, len) in [("localhost#/app", 0usize), ("", 1), ("/shop", 300), ("localhost#/app", 70_000)] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let whole = SessionMessage::all_session_data(context, payload.clone(), 99);
            let expected = ChannelData { message: Bytes::from(whole.encode()), ..data.clone() }.to_frame();
            let empty = SessionMessage::all_session_data(context, Bytes::new(), 99);
            let got = framed_around(&data, &empty, 0, |out| out.extend_from_slice(&payload));
            assert_eq!(got, expected, "context {context:?}, payload of {len} bytes");
        }
    }
}
