//! The replica store: per context (named as Tomcat names cluster managers: "/app", "" for ROOT,
//! "host#/app" when the Cluster sits in the Engine), the sessions with their times and values.
//! Readers (the control socket, later the Java bridge) take snapshots and never block the
//! replication path for longer than one map shard lock.
//!
//! The store is shared (`Arc<Store>`) between one writer, the DeltaManager machine
//! ([`super::manager::DeltaManager`]), and any number of readers. Every read returns owned copies
//! (values are [`JavaValue`]s over shared bytes, so a copy costs a few reference counts); no
//! guard ever leaves this module, so a reader cannot hold a lock the machine waits for.

use std::collections::BTreeMap;
use std::sync::Arc;

use dashmap::DashMap;

use super::state::SessionRecord;
use super::JavaValue;

/// One session as this node holds it (a replica, or primary when changed through the local API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub creation_time: i64,
    pub last_accessed_time: i64,
    pub this_accessed_time: i64,
    /// Seconds; negative = never expires.
    pub max_inactive_interval: i32,
    pub is_new: bool,
    pub is_valid: bool,
    /// Changed through this node (DeltaManager's `isPrimarySession`).
    pub primary: bool,
    pub principal: Option<JavaValue>,
    pub auth_type: Option<String>,
    pub notes: BTreeMap<String, JavaValue>,
    /// In insertion order of first set (Tomcat's ConcurrentHashMap has no order; we keep one).
    pub attributes: Vec<(String, JavaValue)>,
    pub listeners: Vec<JavaValue>,
    /// Epoch ms of the last message sent about this session (DeltaManager's lastTimeReplicated).
    pub last_time_replicated: i64,
    pub version: i64,
    /// The member whose message last created, changed or transferred this copy (None: never one):
    /// named when a value of it cannot be read.
    pub last_sender: Option<Arc<str>>,
}

/// What a session's expiry check decided (`DeltaSession.isValid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Still valid.
    Alive,
    /// A primary session idle for `maxInactiveInterval` or more: expire and tell the cluster.
    Primary,
    /// A backup copy idle for twice `maxInactiveInterval` or more: expire silently.
    Backup,
}

impl Session {
    /// A new, valid, empty session created at `now` (epoch ms): `createEmptySession` + `setId`.
    /// `lastTimeReplicated` starts at the creation time, as `DeltaSession`'s constructor sets it.
    pub fn new(id: impl Into<String>, creation_time: i64, now: i64, max_inactive_interval: i32) -> Session {
        Session {
            id: id.into(),
            creation_time,
            last_accessed_time: creation_time,
            this_accessed_time: now,
            max_inactive_interval,
            is_new: true,
            is_valid: true,
            primary: false,
            principal: None,
            auth_type: None,
            notes: BTreeMap::new(),
            attributes: Vec::new(),
            listeners: Vec::new(),
            last_time_replicated: now,
            version: 0,
            last_sender: None,
        }
    }

    /// `StandardSession.access()`: `thisAccessedTime = now`.
    pub fn access(&mut self, now: i64) {
        self.this_accessed_time = now;
    }

    /// `StandardSession.endAccess()` (default `LAST_ACCESS_AT_START=false`): not new any more,
    /// both access times = `now`.
    pub fn end_access(&mut self, now: i64) {
        self.is_new = false;
        self.this_accessed_time = now;
        self.last_accessed_time = now;
    }

    pub fn attribute(&self, name: &str) -> Option<&JavaValue> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Sets an attribute; returns the value it replaced. A new name goes to the end.
    pub fn set_attribute(&mut self, name: &str, value: JavaValue) -> Option<JavaValue> {
        match self.attributes.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.attributes.push((name.to_string(), value));
                None
            }
        }
    }

    /// Removes an attribute; returns its value (`None`: there was none, a no-op).
    pub fn remove_attribute(&mut self, name: &str) -> Option<JavaValue> {
        let i = self.attributes.iter().position(|(n, _)| n == name)?;
        Some(self.attributes.remove(i).1)
    }

    /// Whole seconds idle at `now` (epoch ms), as `getIdleTimeInternal() / 1000` truncates.
    pub fn idle_seconds(&self, now: i64) -> i64 {
        (now - self.this_accessed_time) / 1000
    }

    /// `DeltaSession.isValid()`'s expiry rule at `now`: only when `maxInactiveInterval > 0`; a
    /// primary after `maxInactiveInterval` whole idle seconds, a backup after twice that.
    pub fn expiry(&self, now: i64) -> Expiry {
        if self.max_inactive_interval <= 0 {
            return Expiry::Alive;
        }
        let idle = self.idle_seconds(now);
        let max = i64::from(self.max_inactive_interval);
        if self.primary {
            if idle >= max {
                return Expiry::Primary;
            }
        } else if idle >= 2 * max {
            return Expiry::Backup;
        }
        Expiry::Alive
    }

    /// The epoch ms at which [`Session::expiry`] first says the session expires, if ever.
    pub fn expires_at(&self) -> Option<i64> {
        if self.max_inactive_interval <= 0 {
            return None;
        }
        let factor = if self.primary { 1 } else { 2 };
        Some(self.this_accessed_time + 1000 * factor * i64::from(self.max_inactive_interval))
    }

    /// A session received in an `EVT_ALL_SESSION_DATA` stream, as `deserializeSessions` makes it:
    /// valid, not primary, `access()` at `now` (so `thisAccessedTime` is our clock and
    /// `lastAccessedTime` the sender's), notes kept when present.
    pub fn from_record(record: SessionRecord, now: i64) -> Session {
        let mut notes = BTreeMap::new();
        if let Some(v) = record.session_id_note {
            notes.insert(NOTE_SESSION_ID.to_string(), v);
        }
        if let Some(v) = record.form_request_note {
            notes.insert(NOTE_FORM_REQUEST.to_string(), v);
        }
        Session {
            id: record.id,
            creation_time: record.creation_time,
            last_accessed_time: record.last_accessed_time,
            this_accessed_time: now,
            max_inactive_interval: record.max_inactive_interval,
            is_new: record.is_new,
            is_valid: true,
            primary: false,
            principal: record.principal,
            auth_type: None,
            notes,
            attributes: record.attributes,
            listeners: record.listeners,
            last_time_replicated: now,
            version: record.version,
            last_sender: None,
        }
    }

    /// This session as `DeltaSession.writeObjectData` writes it. Only the two authentication
    /// notes travel in the state stream (the auth type does not: Tomcat loses it too).
    pub fn to_record(&self) -> SessionRecord {
        SessionRecord {
            creation_time: self.creation_time,
            last_accessed_time: self.last_accessed_time,
            max_inactive_interval: self.max_inactive_interval,
            is_new: self.is_new,
            is_valid: self.is_valid,
            this_accessed_time: self.this_accessed_time,
            version: self.version,
            principal: self.principal.clone(),
            id: self.id.clone(),
            session_id_note: self.notes.get(NOTE_SESSION_ID).cloned(),
            form_request_note: self.notes.get(NOTE_FORM_REQUEST).cloned(),
            attributes: self.attributes.clone(),
            listeners: self.listeners.clone(),
        }
    }
}

/// `Constants.SESSION_ID_NOTE` of `org.apache.catalina.authenticator`.
pub const NOTE_SESSION_ID: &str = "org.apache.catalina.authenticator.SESSION_ID";
/// `Constants.FORM_REQUEST_NOTE`.
pub const NOTE_FORM_REQUEST: &str = "org.apache.catalina.authenticator.REQUEST";

/// A session without its values, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub id: String,
    pub creation_time: i64,
    pub last_accessed_time: i64,
    pub this_accessed_time: i64,
    pub max_inactive_interval: i32,
    pub primary: bool,
    /// Attribute names in order.
    pub attributes: Vec<String>,
}

impl From<&Session> for SessionSummary {
    fn from(s: &Session) -> Self {
        SessionSummary {
            id: s.id.clone(),
            creation_time: s.creation_time,
            last_accessed_time: s.last_accessed_time,
            this_accessed_time: s.this_accessed_time,
            max_inactive_interval: s.max_inactive_interval,
            primary: s.primary,
            attributes: s.attributes.iter().map(|(n, _)| n.clone()).collect(),
        }
    }
}

type Sessions = DashMap<String, Session>;

/// Every held context's sessions. Contexts are registered with [`Store::add_context`]; sessions
/// of other contexts are never stored.
#[derive(Debug, Default)]
pub struct Store {
    contexts: DashMap<String, Arc<Sessions>>,
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// A store holding `contexts` (exact manager names), all empty.
    pub fn with_contexts<S: AsRef<str>>(contexts: impl IntoIterator<Item = S>) -> Store {
        let store = Store::new();
        for c in contexts {
            store.add_context(c.as_ref());
        }
        store
    }

    /// Registers a context; false if it was already held (its sessions are kept).
    pub fn add_context(&self, name: &str) -> bool {
        if self.contexts.contains_key(name) {
            return false;
        }
        self.contexts.entry(name.to_string()).or_default();
        true
    }

    /// Forgets a context and its sessions; returns how many sessions it held.
    pub fn remove_context(&self, name: &str) -> Option<usize> {
        self.contexts.remove(name).map(|(_, s)| s.len())
    }

    pub fn has_context(&self, name: &str) -> bool {
        self.contexts.contains_key(name)
    }

    /// Held context names, sorted.
    pub fn contexts(&self) -> Vec<String> {
        let mut names: Vec<String> = self.contexts.iter().map(|e| e.key().clone()).collect();
        names.sort();
        names
    }

    fn context(&self, name: &str) -> Option<Arc<Sessions>> {
        self.contexts.get(name).map(|e| e.value().clone())
    }

    /// Copies of every session of `context`, sorted by id; `None` if the context is not held.
    pub fn sessions(&self, context: &str) -> Option<Vec<Session>> {
        let sessions = self.context(context)?;
        let mut all: Vec<Session> = sessions.iter().map(|e| e.value().clone()).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Some(all)
    }

    /// Summaries of every session of `context`, sorted by id.
    pub fn summaries(&self, context: &str) -> Option<Vec<SessionSummary>> {
        let sessions = self.context(context)?;
        let mut all: Vec<SessionSummary> = sessions.iter().map(|e| SessionSummary::from(e.value())).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Some(all)
    }

    /// The session ids of `context`, unsorted (the order of the map).
    pub fn session_ids(&self, context: &str) -> Option<Vec<String>> {
        Some(self.context(context)?.iter().map(|e| e.key().clone()).collect())
    }

    /// [`Session::to_record`] of one session, made under its shard's read lock (the session
    /// itself is not copied).
    pub fn record(&self, context: &str, id: &str) -> Option<SessionRecord> {
        self.context(context)?.get(id).map(|s| s.value().to_record())
    }

    /// Calls `f` with each session id of `context` (the order of the map), copying none.
    pub fn for_each_id(&self, context: &str, mut f: impl FnMut(&str)) {
        if let Some(sessions) = self.context(context) {
            sessions.iter().for_each(|e| f(e.key()));
        }
    }

    pub fn get(&self, context: &str, id: &str) -> Option<Session> {
        self.context(context)?.get(id).map(|s| s.value().clone())
    }

    pub fn contains(&self, context: &str, id: &str) -> bool {
        self.context(context).is_some_and(|s| s.contains_key(id))
    }

    /// Sessions of `context`; `None` if it is not held.
    pub fn count(&self, context: &str) -> Option<usize> {
        Some(self.context(context)?.len())
    }

    /// Sessions of every context.
    pub fn total(&self) -> usize {
        self.contexts.iter().map(|e| e.value().len()).sum()
    }

    /// Stores `session` under its id; returns the session it replaced. `None` and nothing stored
    /// when the context is not held (check with [`Store::has_context`] first).
    pub fn insert(&self, context: &str, session: Session) -> Option<Session> {
        let sessions = self.context(context)?;
        sessions.insert(session.id.clone(), session)
    }

    pub fn remove(&self, context: &str, id: &str) -> Option<Session> {
        self.context(context)?.remove(id).map(|(_, s)| s)
    }

    /// Runs `f` on the stored session under its shard's write lock (keep `f` short); `None` if
    /// there is no such session.
    pub fn update<R>(&self, context: &str, id: &str, f: impl FnOnce(&mut Session) -> R) -> Option<R> {
        let sessions = self.context(context)?;
        let mut entry = sessions.get_mut(id)?;
        Some(f(entry.value_mut()))
    }

    /// Renames a session (`changeSessionId`). False if `old` is missing; a session already
    /// stored under `new` is replaced.
    pub fn rename(&self, context: &str, old: &str, new: &str) -> bool {
        let Some(sessions) = self.context(context) else {
            return false;
        };
        let Some((_, mut session)) = sessions.remove(old) else {
            return false;
        };
        session.id = new.to_string();
        sessions.insert(new.to_string(), session);
        true
    }

    /// The sessions of `context` that [`Session::expiry`] says are expired at `now` (epoch ms),
    /// found without copying any session.
    pub fn expired(&self, context: &str, now: i64) -> Vec<(String, Expiry)> {
        let Some(sessions) = self.context(context) else {
            return Vec::new();
        };
        sessions
            .iter()
            .filter_map(|e| match e.value().expiry(now) {
                Expiry::Alive => None,
                x => Some((e.key().clone(), x)),
            })
            .collect()
    }

    /// Removes every session of `context`, returning them.
    pub fn clear(&self, context: &str) -> Vec<Session> {
        let Some(sessions) = self.context(context) else {
            return Vec::new();
        };
        let ids: Vec<String> = sessions.iter().map(|e| e.key().clone()).collect();
        ids.into_iter().filter_map(|id| sessions.remove(&id).map(|(_, s)| s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_primary_expires_after_max_idle_and_a_backup_after_twice_that() {
        let mut s = Session::new("A", 0, 0, 10);
        s.primary = true;
        assert_eq!(s.expiry(9_999), Expiry::Alive);
        assert_eq!(s.expiry(10_000), Expiry::Primary);
        s.primary = false;
        assert_eq!(s.expiry(19_999), Expiry::Alive);
        assert_eq!(s.expiry(20_000), Expiry::Backup);
        assert_eq!(s.expires_at(), Some(20_000));
        s.max_inactive_interval = 0;
        assert_eq!(s.expiry(i64::MAX / 2), Expiry::Alive);
        s.max_inactive_interval = -1;
        assert_eq!(s.expires_at(), None);
    }

    #[test]
    fn readers_get_copies_and_unknown_contexts_are_none() {
        let store = Store::with_contexts(["/app", ""]);
        assert_eq!(store.contexts(), vec!["".to_string(), "/app".to_string()]);
        assert!(store.insert("/other", Session::new("X", 0, 0, 60)).is_none());
        assert!(!store.contains("/other", "X"));
        assert_eq!(store.sessions("/other"), None);
        store.insert("/app", Session::new("B", 0, 0, 60));
        store.insert("/app", Session::new("A", 0, 0, 60));
        let copy = store.get("/app", "A").unwrap();
        store.update("/app", "A", |s| s.max_inactive_interval = 5);
        assert_eq!(copy.max_inactive_interval, 60);
        assert_eq!(store.get("/app", "A").unwrap().max_inactive_interval, 5);
        let ids: Vec<String> = store.sessions("/app").unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["A", "B"]);
        assert_eq!(store.count("/app"), Some(2));
        assert_eq!(store.count(""), Some(0));
        assert_eq!(store.total(), 2);
        assert!(store.rename("/app", "A", "C"));
        assert_eq!(store.get("/app", "C").unwrap().id, "C");
        assert!(!store.rename("/app", "A", "D"));
        assert_eq!(store.clear("/app").len(), 2);
        assert_eq!(store.count("/app"), Some(0));
    }

    #[test]
    fn removing_a_missing_attribute_is_a_no_op() {
        let mut s = Session::new("A", 0, 0, 60);
        assert!(s.remove_attribute("x").is_none());
        assert!(s.attribute("x").is_none());
    }
}
