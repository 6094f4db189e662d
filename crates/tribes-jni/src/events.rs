//! Listener events caused by replication (a session created, changed, renamed or ended by another
//! node), queued for the Java side, which fires the webapp's listeners as DeltaManager does with
//! `notifyListenersOnReplication` / `notifySessionListenersOnReplication`.
//!
//! The queue fills only once Java polls ([`EventQueue::poll`]): a node nobody listens to keeps
//! nothing. It is bounded ([`CAPACITY`] events, [`CAPACITY_BYTES`] of values and ended sessions);
//! over it, new events are dropped, counted and logged (the sessions themselves are never
//! affected, only the notification).
//!
//! `NativeBridge.pollEvents` returns a batch, read by `io.tribesd.tomcat.bridge.ListenerEvents`:
//!
//! ```text
//! batch = 54 45 ("TE") | version 01 | 00 | count u32 | event*
//! event = kind u8 | context str | id str | name str | flags u8 | value opt<bytes> | old opt<bytes>
//!       | session opt<bytes>
//! ```
//!
//! `kind`: 1 session created, 2 session destroyed, 3 id changed (`name` is the new id), 4 attribute
//! added, 5 replaced, 6 removed. `flags` (id changed): 1 session listeners, 2 container listeners.
//! `value`/`old`: standalone Java streams; `session` (destroyed): the session as it ended, in the
//! `getSession` record format (session_bytes.rs). Conventions as there: big-endian, `str` u16
//! length + UTF-8, `bytes` u32 length + bytes, `opt<T>` 00 or 01 T.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use tribes_proto::session::manager::{ListenerEvent, ListenerKind};

use crate::session_bytes::{self, put_bytes, put_str};

/// Events held for Java at most.
pub const CAPACITY: usize = 10_000;
/// Bytes of values and ended sessions held for Java at most (an expiry wave of large sessions).
pub const CAPACITY_BYTES: usize = 64 << 20;
/// Events handed over by one poll at most.
pub const BATCH: usize = 1024;

/// The events waiting for the Java side.
#[derive(Debug, Default)]
pub struct EventQueue {
    queue: Mutex<VecDeque<(ListenerEvent, usize)>>,
    ready: Condvar,
    /// Java has polled once: from then on events are kept.
    wanted: AtomicBool,
    /// Sum of [`weight`] over the queued events (under the queue's lock).
    bytes: std::sync::atomic::AtomicUsize,
    /// The node stops: polls return at once.
    closed: AtomicBool,
    pub dropped: AtomicU64,
}

impl EventQueue {
    /// Keeps `event` for Java, if Java listens and there is room.
    pub fn push(&self, event: ListenerEvent) {
        if !self.wanted.load(Ordering::Relaxed) {
            return;
        }
        let size = weight(&event);
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let held = self.bytes.load(Ordering::Relaxed);
        if q.len() >= CAPACITY || (!q.is_empty() && held + size > CAPACITY_BYTES) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    capacity = CAPACITY,
                    context = %event.context,
                    "listener events not taken by Tomcat fast enough: dropped (the sessions are unaffected)"
                );
            }
            return;
        }
        q.push_back((event, size));
        self.bytes.store(held + size, Ordering::Relaxed);
        drop(q);
        self.ready.notify_one();
    }

    /// Waits up to `timeout` for events and takes up to [`BATCH`] of them, encoded; None when
    /// there were none.
    pub fn poll(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.wanted.store(true, Ordering::Relaxed);
        let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let (mut q, _) = self
            .ready
            .wait_timeout_while(q, timeout, |q| q.is_empty() && !self.closed.load(Ordering::Relaxed))
            .unwrap_or_else(|p| p.into_inner());
        if q.is_empty() {
            return None;
        }
        let n = q.len().min(BATCH);
        let taken: Vec<ListenerEvent> = q
            .drain(..n)
            .map(|(e, size)| {
                self.bytes.fetch_sub(size, Ordering::Relaxed);
                e
            })
            .collect();
        drop(q);
        Some(encode(&taken))
    }

    /// The node stops: a waiting poll returns now, and later ones at once.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        // Under the lock, so a poll between its check and its wait cannot miss it.
        let _q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        self.ready.notify_all();
    }
}

/// About what an event holds: its values, and the ended session's.
fn weight(e: &ListenerEvent) -> usize {
    let values = e.value.as_ref().map_or(0, |v| v.len()) + e.old.as_ref().map_or(0, |v| v.len());
    let session = e.session.as_ref().map_or(0, |s| s.attributes.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>());
    64 + values + session
}

/// The batch bytes of `events`.
pub fn encode(events: &[ListenerEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + events.len() * 64);
    out.extend_from_slice(b"TE\x01\x00");
    out.extend_from_slice(&(events.len() as u32).to_be_bytes());
    for e in events {
        let (kind, id, name, flags) = match &e.kind {
            ListenerKind::SessionCreated { id } => (1u8, id, "", 0u8),
            ListenerKind::SessionDestroyed { id } => (2, id, "", 0),
            ListenerKind::SessionIdChanged { old, new, session_listeners, container_listeners } => {
                (3, old, new.as_str(), u8::from(*session_listeners) | (u8::from(*container_listeners) << 1))
            }
            ListenerKind::AttributeAdded { id, name } => (4, id, name.as_str(), 0),
            ListenerKind::AttributeReplaced { id, name } => (5, id, name.as_str(), 0),
            ListenerKind::AttributeRemoved { id, name } => (6, id, name.as_str(), 0),
        };
        out.push(kind);
        put_str(&mut out, &e.context);
        put_str(&mut out, id);
        put_str(&mut out, name);
        out.push(flags);
        for v in [&e.value, &e.old] {
            match v {
                Some(v) => {
                    out.push(1);
                    put_bytes(&mut out, v.bytes());
                }
                None => out.push(0),
            }
        }
        match &e.session {
            Some(s) => {
                out.push(1);
                put_bytes(&mut out, &session_bytes::encode(s));
            }
            None => out.push(0),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tribes_proto::session::store::Session;
    use tribes_proto::session::JavaValue;

    fn event(kind: ListenerKind) -> ListenerEvent {
        ListenerEvent { context: "/app".into(), kind, value: None, old: None, session: None }
    }

    #[test]
    fn a_batch_has_the_documented_bytes() {
        let mut replaced = event(ListenerKind::AttributeReplaced { id: "S1".into(), name: "a".into() });
        replaced.value = Some(JavaValue::string("y"));
        replaced.old = Some(JavaValue::string("x"));
        let renamed = event(ListenerKind::SessionIdChanged {
            old: "S1".into(),
            new: "S2".into(),
            session_listeners: true,
            container_listeners: false,
        });
        let mut ended = event(ListenerKind::SessionDestroyed { id: "S2".into() });
        let s = Session::new("S2", 1, 2, 60);
        ended.session = Some(Arc::new(s.clone()));
        let got = encode(&[replaced, renamed, ended]);

        let mut want = b"TE\x01\x00\x00\x00\x00\x03".to_vec();
        want.extend_from_slice(b"\x05\x00\x04/app\x00\x02S1\x00\x01a\x00");
        want.extend_from_slice(b"\x01\x00\x00\x00\x08\xac\xed\x00\x05\x74\x00\x01y");
        want.extend_from_slice(b"\x01\x00\x00\x00\x08\xac\xed\x00\x05\x74\x00\x01x\x00");
        want.extend_from_slice(b"\x03\x00\x04/app\x00\x02S1\x00\x02S2\x01\x00\x00\x00");
        want.extend_from_slice(b"\x02\x00\x04/app\x00\x02S2\x00\x00\x00\x00\x00\x01");
        let record = session_bytes::encode(&s);
        want.extend_from_slice(&(record.len() as u32).to_be_bytes());
        want.extend_from_slice(&record);
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_is_kept_before_java_polls_and_the_queue_is_bounded() {
        let q = EventQueue::default();
        q.push(event(ListenerKind::SessionCreated { id: "early".into() }));
        assert_eq!(q.poll(Duration::ZERO), None, "nobody listened yet: nothing kept");
        for i in 0..CAPACITY + 5 {
            q.push(event(ListenerKind::SessionCreated { id: format!("S{i}") }));
        }
        assert_eq!(q.dropped.load(Ordering::Relaxed), 5);
        let mut taken = 0;
        while let Some(batch) = q.poll(Duration::ZERO) {
            let count = u32::from_be_bytes(batch[4..8].try_into().unwrap()) as usize;
            assert!(count <= BATCH);
            taken += count;
        }
        assert_eq!(taken, CAPACITY);
    }

    #[test]
    fn the_queue_is_bounded_by_bytes_too() {
        let q = EventQueue::default();
        q.wanted.store(true, Ordering::Relaxed);
        let big = JavaValue::string(&"v".repeat(40 << 20));
        for _ in 0..3 {
            let mut e = event(ListenerKind::AttributeAdded { id: "S".into(), name: "a".into() });
            e.value = Some(big.clone());
            q.push(e);
        }
        assert_eq!(q.dropped.load(Ordering::Relaxed), 2, "over 64 MiB held: dropped");
        assert!(q.poll(Duration::ZERO).is_some());
        let mut e = event(ListenerKind::AttributeAdded { id: "S".into(), name: "a".into() });
        e.value = Some(big);
        q.push(e);
        assert_eq!(q.dropped.load(Ordering::Relaxed), 2, "room again once taken");
    }

    #[test]
    fn a_poll_waits_for_an_event_pushed_meanwhile() {
        let q = Arc::new(EventQueue::default());
        q.wanted.store(true, Ordering::Relaxed);
        let pusher = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                q.push(event(ListenerKind::SessionCreated { id: "S".into() }));
            })
        };
        // Bounded by the timeout: a lost wake-up fails the test instead of hanging it.
        let got = q.poll(Duration::from_secs(30));
        pusher.join().unwrap();
        assert!(got.is_some());

        let closer = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                q.close();
            })
        };
        let started = std::time::Instant::now();
        assert_eq!(q.poll(Duration::from_secs(30)), None);
        closer.join().unwrap();
        // Not a speed check: a close that did not wake the poll would take the whole 30 s.
        assert!(started.elapsed() < Duration::from_secs(29), "close woke the waiting poll");
    }
}
