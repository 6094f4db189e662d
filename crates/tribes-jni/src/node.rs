//! The node a Java Manager talks to, and the table of live nodes behind the `long` handles Java
//! holds.
//!
//! Handles are table keys, never pointers: a stale, doubled or made-up handle from Java is an
//! [`NodeError::UnknownHandle`], not undefined behaviour.
//!
//! A node is a tokio runtime and, when the configuration names a server.xml, a real cluster node
//! ([`tribes::node::Node`], the one `tribesd run` runs) read from that file's `<Cluster>`, holding
//! the contexts the Java Managers registered. Without a server.xml the node has no network: it
//! takes request batches and counts them (the plumbing tests).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tribes_proto::session::store::Session;

use crate::convert::RequestChanges;

/// What `NativeBridge.start(configJson)` accepts. Unknown fields are refused, so a misspelt
/// setting fails at start rather than being ignored.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Threads of the node's runtime (the JVM's request threads never run node work).
    #[serde(default = "default_worker_threads")]
    pub worker_threads: usize,
    /// A name for the runtime's threads (`tribesd-NAME-N`), usually the cluster's or context's name.
    #[serde(default)]
    pub name: String,
    /// The server.xml whose `<Cluster>` configures the node (membership, receiver, interceptors,
    /// channelSendOptions, the `<Manager>`'s DeltaManager attributes). Absent: no network.
    #[serde(default)]
    pub server_xml: Option<PathBuf>,
    /// With several `<Host>`s holding a `<Cluster>`, the one of this host.
    #[serde(default)]
    pub cluster_host: Option<String>,
    /// The contexts held from the start, by cluster manager name (`localhost#/app`).
    #[serde(default)]
    pub contexts: Vec<ContextConfig>,
    /// Serve tribesd's control socket here (`tribesd sessions --control-socket PATH`).
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
    /// Milliseconds the session service waits for members before asking for state [3000].
    #[serde(default)]
    pub member_wait_ms: Option<u64>,
}

/// One held context.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContextConfig {
    pub name: String,
    /// The webapp's `<session-timeout>` in minutes.
    #[serde(default)]
    pub session_timeout: Option<i32>,
}

fn default_worker_threads() -> usize {
    2
}

impl Config {
    /// Parses the JSON Java sends; an empty string means every default.
    pub fn from_json(json: &str) -> Result<Config, NodeError> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let config: Config = serde_json::from_str(json).map_err(|e| NodeError::BadConfig(e.to_string()))?;
        if config.worker_threads == 0 || config.worker_threads > 64 {
            return Err(NodeError::BadConfig(format!("workerThreads {} is not in 1..=64", config.worker_threads)));
        }
        Ok(config)
    }
}

/// Why a node call failed. Each becomes a Java exception; the node (if any) is unchanged.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration JSON is not valid, or the server.xml it names is not. No node was started.
    #[error("bad configuration: {0}")]
    BadConfig(String),
    /// The runtime could not be built (threads could not be spawned). No node was started.
    #[error("cannot start the node's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The cluster node did not start (receiver ports, multicast). Nothing is left running.
    #[error("cannot start the cluster node: {0}")]
    Cluster(String),
    /// The handle names no live node (never started, or already stopped).
    #[error("no running node has handle {0} (already stopped?)")]
    UnknownHandle(i64),
    /// The node's task has ended; the batch was not taken.
    #[error("node {0} is shutting down; the batch was dropped")]
    Closed(i64),
    /// The session machine refused the request's changes (nothing of them was applied).
    #[error("{0}")]
    Refused(tribes::session::SessionError),
    /// The session machine did not answer in time.
    #[error("the session service did not apply the batch within {0:?}")]
    Timeout(Duration),
    /// The node holds no such context.
    #[error("no context {0:?} on this node")]
    UnknownContext(String),
}

/// What the node has taken in so far.
#[derive(Debug, Default)]
pub struct Stats {
    /// Batches handed over by request threads.
    pub submitted: AtomicU64,
    /// Batches the node has processed.
    pub processed: AtomicU64,
    /// Changes in the processed batches.
    pub changes: AtomicU64,
    /// Batches the session machine refused.
    pub refused: AtomicU64,
}

/// How long a request thread waits for the session machine to apply its batch (local work only:
/// the messages it yields are queued, never waited for).
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One running node.
pub struct Node {
    handle: i64,
    runtime: Option<tokio::runtime::Runtime>,
    batches: mpsc::UnboundedSender<RequestChanges>,
    cluster: Mutex<Option<tribes::node::Node>>,
    sessions: Option<Arc<tribes::session::SessionService>>,
    store: Option<Arc<tribes_proto::session::store::Store>>,
    /// channelSendOptions without ASYNCHRONOUS: a request waits for its replication to be sent
    /// (and acknowledged), as Tomcat's ReplicationValve does.
    sync_sends: bool,
    stats: Arc<Stats>,
    /// Listener events for the Java side (kept once Java polls).
    events: Arc<crate::events::EventQueue>,
    /// Told when the node stops: calls waiting on the node (state, room) return.
    stopping: tokio::sync::Notify,
}

impl Node {
    fn start(handle: i64, config: &Config) -> Result<Node, NodeError> {
        let settings = match &config.server_xml {
            Some(path) => {
                let mut s = tribes::config::NodeSettings::from_server_xml(path, config.cluster_host.as_deref())
                    .map_err(|e| NodeError::BadConfig(e.to_string()))?;
                s.sessions.contexts.extend(config.contexts.iter().map(|c| c.name.clone()));
                if let Some(t) = config.contexts.iter().find_map(|c| c.session_timeout) {
                    s.sessions.session_timeout_minutes = t;
                }
                s.sessions.manager_config().map_err(NodeError::BadConfig)?;
                Some(s)
            }
            None => None,
        };
        let sync_sends = settings
            .as_ref()
            .is_some_and(|s| s.sessions.channel_send_options & tribes_wire::SendOptions::ASYNCHRONOUS.bits() == 0);
        let name = if config.name.is_empty() { "node".to_string() } else { config.name.clone() };
        let counter = AtomicU64::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .thread_name_fn(move || format!("tribesd-{name}-{}", counter.fetch_add(1, Ordering::Relaxed)))
            .enable_all()
            .build()?;
        let stats = Arc::new(Stats::default());
        let cluster = match settings {
            Some(settings) => {
                crate::logging::init();
                settings.log_start_notes();
                let options = tribes::node::NodeOptions {
                    control_socket: config.control_socket.clone(),
                    member_wait: config.member_wait_ms.map(Duration::from_millis).unwrap_or(tribes::node::MEMBER_WAIT),
                };
                let node = runtime
                    .block_on(tribes::node::Node::start(settings, options))
                    .map_err(|e| NodeError::Cluster(e.to_string()))?;
                Some(node)
            }
            None => None,
        };
        let sessions = cluster.as_ref().map(|c| c.sessions().clone());
        let store = cluster.as_ref().map(|c| c.store());
        let events = Arc::new(crate::events::EventQueue::default());
        if let Some(sessions) = &sessions {
            let mut rx = sessions.subscribe();
            let queue = events.clone();
            runtime.spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match rx.recv().await {
                        Ok(event) => queue.push(event),
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "listener events missed (the sessions are unaffected)")
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        }
        // Without a cluster, batches are only counted (the plumbing tests).
        let (batches, mut rx) = mpsc::unbounded_channel::<RequestChanges>();
        let task_stats = stats.clone();
        runtime.spawn(async move {
            while let Some(batch) = rx.recv().await {
                task_stats.changes.fetch_add(batch.changes.len() as u64, Ordering::Relaxed);
                task_stats.processed.fetch_add(1, Ordering::Release);
            }
        });
        Ok(Node {
            handle,
            runtime: Some(runtime),
            batches,
            cluster: Mutex::new(cluster),
            sessions,
            store,
            sync_sends,
            stats,
            events,
            stopping: tokio::sync::Notify::new(),
        })
    }

    /// Hands one request's batch to the node. With a cluster, waits until the session machine
    /// applied it and queued its messages, so the next request on this node reads the result;
    /// with synchronous channelSendOptions (no ASYNCHRONOUS bit, e.g. 6) also until those messages
    /// were sent and acknowledged, as Tomcat's ReplicationValve waits for its send. Without a
    /// cluster, returns at once.
    pub fn submit(&self, batch: RequestChanges) -> Result<(), NodeError> {
        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
        let Some(sessions) = &self.sessions else {
            return self.batches.send(batch).map_err(|_| NodeError::Closed(self.handle));
        };
        let runtime = self.runtime.as_ref().ok_or(NodeError::Closed(self.handle))?;
        let count = batch.changes.len() as u64;
        let sync = self.sync_sends;
        if !sync && sessions.has_room() {
            // Asynchronous channelSendOptions with room in the queue (the usual case): the
            // machine applies the changes on this thread and queues the messages; no wait.
            let applied = sessions.apply_local(&batch.context, &batch.session_id, batch.changes);
            return self.applied(applied.map_err(Some), count);
        }
        let applied = runtime.block_on(async {
            // Back-pressure from slow members waits here, unbounded by APPLY_TIMEOUT: the
            // change must not be dropped for it (the queue drains as the sender times out or
            // delivers). The node's stop ends the wait.
            tokio::select! {
                _ = sessions.wait_for_room() => {}
                _ = self.stopping.notified() => {}
            }
            tokio::time::timeout(APPLY_TIMEOUT, async {
                // Room was waited for above (or the node is stopping: the machine refuses).
                sessions.apply_local(&batch.context, &batch.session_id, batch.changes)?;
                if sync {
                    // Synchronous channelSendOptions: the request ends once its messages were
                    // acknowledged (or failed), so the next request on any node sees them.
                    sessions.flush().await?;
                }
                Ok(())
            })
            .await
        });
        self.applied(applied.map_or(Err(None), |r| r.map_err(Some)), count)
    }

    /// Counts the outcome of one [`Node::submit`] (`Err(None)`: it took over [`APPLY_TIMEOUT`]).
    fn applied(&self, applied: Result<(), Option<tribes::session::SessionError>>, count: u64) -> Result<(), NodeError> {
        match applied {
            Ok(()) => {
                self.stats.changes.fetch_add(count, Ordering::Relaxed);
                self.stats.processed.fetch_add(1, Ordering::Release);
                Ok(())
            }
            Err(Some(e)) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                Err(NodeError::Refused(e))
            }
            Err(None) => Err(NodeError::Timeout(APPLY_TIMEOUT)),
        }
    }

    /// Holds a context from now on (a webapp started after the node) and asks a member for its
    /// state, as DeltaManager's start does; [`Node::await_state`] waits for it. False when it was
    /// held already.
    pub fn add_context(&self, name: &str) -> Result<bool, NodeError> {
        let (Some(sessions), Some(runtime)) = (&self.sessions, self.runtime.as_ref()) else {
            return Ok(self.store.as_ref().is_some_and(|s| s.add_context(name)));
        };
        runtime
            .block_on(async { tokio::time::timeout(APPLY_TIMEOUT, sessions.add_context(name)).await })
            .map_err(|_| NodeError::Timeout(APPLY_TIMEOUT))?
            .map_err(NodeError::Refused)
    }

    /// Waits up to `timeout` for the end of the wait for `context`'s session state (DeltaManager's
    /// start blocks the same way in `getAllClusterSessions`). Returns what happened, for the log.
    pub fn await_state(&self, context: &str, timeout: Duration) -> Result<String, NodeError> {
        let (Some(sessions), Some(runtime)) = (&self.sessions, self.runtime.as_ref()) else {
            return Ok("no cluster: nothing to wait for".to_string());
        };
        if sessions.state_status(context).is_none() {
            return Err(NodeError::UnknownContext(context.to_string()));
        }
        let settled = runtime.block_on(async {
            tokio::select! {
                r = tokio::time::timeout(timeout, sessions.state_settled(context)) => Some(r),
                _ = self.stopping.notified() => None,
            }
        });
        Ok(match settled {
            Some(Ok(Some(outcome))) => outcome.to_string(),
            Some(Ok(None)) | None => "the node stopped".to_string(),
            Some(Err(_)) => format!("still waiting for session state after {} ms; going on", timeout.as_millis()),
        })
    }

    /// The members the failure detector shows (`local`: this node itself), one line each:
    /// `host port securePort udpPort aliveMs uniqueId domain payload`, separated by tabs, byte
    /// strings in hex (the Java side builds Tribes `MemberImpl`s from them).
    pub fn member_lines(&self, local: bool) -> Vec<String> {
        let guard = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        let Some(cluster) = guard.as_ref() else { return Vec::new() };
        let members = if local { vec![cluster.local().clone()] } else { cluster.members() };
        members.iter().map(member_line).collect()
    }

    /// A copy of one stored session.
    pub fn session(&self, context: &str, id: &str) -> Result<Option<Session>, NodeError> {
        let Some(store) = &self.store else { return Ok(None) };
        if !store.has_context(context) {
            return Err(NodeError::UnknownContext(context.to_string()));
        }
        Ok(store.get(context, id))
    }

    /// -1: no such session; 0: held as a backup (last changed by another node); 1: primary here.
    pub fn session_state(&self, context: &str, id: &str) -> i32 {
        let Some(store) = &self.store else { return -1 };
        // A read of one flag; no copy of the session's values.
        match store.update(context, id, |s| s.primary) {
            Some(true) => 1,
            Some(false) => 0,
            None => -1,
        }
    }

    /// Waits up to `timeout` for listener events and takes a batch (events.rs); None when none
    /// came. The first call makes the node keep events from then on.
    pub fn poll_events(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.events.poll(timeout)
    }

    /// The session ids of `context` (empty when it is not held).
    pub fn session_ids(&self, context: &str) -> Vec<String> {
        self.store.as_ref().and_then(|s| s.session_ids(context)).unwrap_or_default()
    }

    /// How many sessions the store holds for `context` (0 for a context it does not hold).
    pub fn session_count(&self, context: &str) -> usize {
        self.store.as_ref().and_then(|s| s.count(context)).unwrap_or(0)
    }

    /// The members the failure detector shows (0 without a cluster).
    pub fn member_count(&self) -> usize {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map_or(0, |c| c.members().len())
    }

    /// The counters as JSON: `{"submitted":N,"processed":N,"changes":N,"refused":N,"members":N,"sessions":N}`.
    pub fn stats_json(&self) -> String {
        format!(
            "{{\"submitted\":{},\"processed\":{},\"changes\":{},\"refused\":{},\"members\":{},\"sessions\":{}}}",
            self.stats.submitted.load(Ordering::Relaxed),
            self.stats.processed.load(Ordering::Acquire),
            self.stats.changes.load(Ordering::Relaxed),
            self.stats.refused.load(Ordering::Relaxed),
            self.member_count(),
            self.store.as_ref().map_or(0, |s| s.total()),
        )
    }
}

fn member_line(m: &tribes_wire::Member) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        hex(&m.host),
        m.port,
        m.secure_port,
        m.udp_port,
        m.alive,
        hex(&m.unique_id.0),
        hex(&m.domain),
        hex(&m.payload)
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Drop for Node {
    fn drop(&mut self) {
        let cluster = self.cluster.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rt) = self.runtime.take() {
            if let Some(cluster) = cluster {
                // Leave gracefully (shutdown heartbeat), bounded.
                rt.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(5), cluster.stop()).await;
                });
            }
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn nodes() -> &'static Mutex<HashMap<i64, Arc<Node>>> {
    static NODES: OnceLock<Mutex<HashMap<i64, Arc<Node>>>> = OnceLock::new();
    NODES.get_or_init(Default::default)
}

fn table() -> std::sync::MutexGuard<'static, HashMap<i64, Arc<Node>>> {
    // A panic while holding the lock cannot leave the map half-updated (inserts and removes are
    // single calls), so a poisoned lock is still usable.
    nodes().lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a node and returns its handle (never 0, so Java can use 0 for "none").
pub fn start(config: &Config) -> Result<i64, NodeError> {
    static NEXT: AtomicI64 = AtomicI64::new(1);
    let handle = NEXT.fetch_add(1, Ordering::Relaxed);
    let node = Node::start(handle, config)?;
    table().insert(handle, Arc::new(node));
    Ok(handle)
}

/// The node behind `handle`.
pub fn get(handle: i64) -> Result<Arc<Node>, NodeError> {
    table().get(&handle).cloned().ok_or(NodeError::UnknownHandle(handle))
}

/// Stops the node behind `handle`: its runtime shuts down (up to 5 s) once the last in-flight
/// call using it returns.
pub fn stop(handle: i64) -> Result<(), NodeError> {
    let node = table().remove(&handle).ok_or(NodeError::UnknownHandle(handle))?;
    // Java threads waiting in pollEvents, awaitState or requestCompleted hold the node too: let
    // them go first, so the node stops now (with the last of them) rather than after their wait.
    node.events.close();
    node.stopping.notify_waiters();
    drop(node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tribes_proto::session::manager::LocalChange;

    #[test]
    fn a_node_takes_batches_and_stops_once() {
        let handle = start(&Config::from_json(r#"{"workerThreads":1,"name":"t"}"#).unwrap()).unwrap();
        let node = get(handle).unwrap();
        node.submit(RequestChanges {
            context: "/a".into(),
            session_id: "S".into(),
            changes: vec![LocalChange::Access],
        })
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while node.stats.processed.load(Ordering::Acquire) == 0 {
            assert!(std::time::Instant::now() < deadline, "batch not processed: {}", node.stats_json());
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            node.stats_json(),
            r#"{"submitted":1,"processed":1,"changes":1,"refused":0,"members":0,"sessions":0}"#
        );
        drop(node);
        stop(handle).unwrap();
        assert!(matches!(stop(handle), Err(NodeError::UnknownHandle(h)) if h == handle));
        assert!(matches!(get(handle), Err(NodeError::UnknownHandle(_))));
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(Config::from_json("").is_ok());
        assert!(matches!(Config::from_json("{"), Err(NodeError::BadConfig(_))));
        assert!(
            matches!(Config::from_json(r#"{"workerThread":1}"#), Err(NodeError::BadConfig(m)) if m.contains("workerThread"))
        );
        assert!(matches!(Config::from_json(r#"{"workerThreads":0}"#), Err(NodeError::BadConfig(_))));
    }
}
