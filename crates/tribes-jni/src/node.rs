//! The node a Java Manager talks to, and the table of live nodes behind the `long` handles Java
//! holds.
//!
//! Handles are table keys, never pointers: a stale, doubled or made-up handle from Java is an
//! [`NodeError::UnknownHandle`], not undefined behaviour.
//!
//! Today a node is a tokio runtime with one task that receives decoded request batches and counts
//! them. The cluster (membership, channel, the DeltaManager machine of
//! `tribes_proto::session::manager`) is wired in later; nothing here opens a socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::convert::RequestChanges;

/// What `NativeBridge.start(configJson)` accepts. Unknown fields are refused, so a misspelt
/// setting fails at start rather than being ignored.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Threads of the node's runtime (the JVM's request threads never run node work).
    #[serde(default = "default_worker_threads")]
    pub worker_threads: usize,
    /// A name for the runtime's threads (`tribesd-NAME-N`), usually the Manager's context name.
    #[serde(default)]
    pub name: String,
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
    /// The configuration JSON is not valid. No node was started.
    #[error("bad configuration: {0}")]
    BadConfig(String),
    /// The runtime could not be built (threads could not be spawned). No node was started.
    #[error("cannot start the node's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The handle names no live node (never started, or already stopped).
    #[error("no running node has handle {0} (already stopped?)")]
    UnknownHandle(i64),
    /// The node's task has ended; the batch was not taken.
    #[error("node {0} is shutting down; the batch was dropped")]
    Closed(i64),
}

/// What the node has taken in so far.
#[derive(Debug, Default)]
pub struct Stats {
    /// Batches handed over by request threads.
    pub submitted: AtomicU64,
    /// Batches the node's task has processed.
    pub processed: AtomicU64,
    /// Changes in the processed batches.
    pub changes: AtomicU64,
}

/// One running node.
pub struct Node {
    handle: i64,
    runtime: Option<tokio::runtime::Runtime>,
    batches: mpsc::UnboundedSender<RequestChanges>,
    stats: Arc<Stats>,
}

impl Node {
    fn start(handle: i64, config: &Config) -> Result<Node, NodeError> {
        let name = if config.name.is_empty() { "node".to_string() } else { config.name.clone() };
        let counter = AtomicU64::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .thread_name_fn(move || format!("tribesd-{name}-{}", counter.fetch_add(1, Ordering::Relaxed)))
            .enable_all()
            .build()?;
        let stats = Arc::new(Stats::default());
        // TODO(issue 7): bound this queue (bytes, not batches) once the channel's back-pressure
        // policy is settled; request threads must never block on it.
        let (batches, mut rx) = mpsc::unbounded_channel::<RequestChanges>();
        let task_stats = stats.clone();
        runtime.spawn(async move {
            while let Some(batch) = rx.recv().await {
                // TODO(issue 7): hand batch.changes to tribes_proto's DeltaManager machine and send
                // the DeltaRequest it yields; until the node is wired, batches are counted only.
                task_stats.changes.fetch_add(batch.changes.len() as u64, Ordering::Relaxed);
                task_stats.processed.fetch_add(1, Ordering::Release);
            }
        });
        Ok(Node { handle, runtime: Some(runtime), batches, stats })
    }

    /// Hands one request's batch to the node's task without waiting.
    pub fn submit(&self, batch: RequestChanges) -> Result<(), NodeError> {
        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
        self.batches.send(batch).map_err(|_| NodeError::Closed(self.handle))
    }

    /// The counters as JSON: `{"submitted":N,"processed":N,"changes":N}`.
    pub fn stats_json(&self) -> String {
        format!(
            "{{\"submitted\":{},\"processed\":{},\"changes\":{}}}",
            self.stats.submitted.load(Ordering::Relaxed),
            self.stats.processed.load(Ordering::Acquire),
            self.stats.changes.load(Ordering::Relaxed)
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
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
        assert_eq!(node.stats_json(), r#"{"submitted":1,"processed":1,"changes":1}"#);
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
