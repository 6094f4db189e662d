//! The DeltaManager machine with virtual time: every event type, local changes, state transfer
//! in both roles (batching, pauses, ACK gating, timeout), NOCONTEXTMANAGER, the state-wait queue
//! and its drop rules, DELTA-before-CREATED, expiry, the class filter and malformed input.
//!
//! Every received message goes through `SessionMessage::encode` and the machine's
//! `handle_payload`, as on the wire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use tribes_proto::session::manager::{
    DeltaManager, Destination, ListenerKind, LocalChange, ManagerConfig, Notice, Now, Output, SendToken, SessionError,
    WaitEnd,
};
use tribes_proto::session::state::{decode_state, encode_state, SessionRecord};
use tribes_proto::session::store::Store;
use tribes_proto::session::{DeltaAction, DeltaRequest, EventType, JavaValue, SessionMessage, StateForm};
use tribes_wire::{Member, MemberId, SendOptions, UniqueId};

const CTX: &str = "/app";
const EPOCH: i64 = 1_750_000_000_000;

fn member(n: u8) -> MemberId {
    Member::new("127.0.0.1".parse().unwrap(), 4000 + i32::from(n), UniqueId([n; 16]), 0).id()
}

fn s(v: &str) -> JavaValue {
    JavaValue::string(v)
}

/// A serializable object of class `com.evil.Gadget` with no fields.
fn gadget() -> JavaValue {
    let mut b = vec![0xAC, 0xED, 0x00, 0x05, 0x73, 0x72, 0x00, 0x0F];
    b.extend_from_slice(b"com.evil.Gadget");
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(&[0x02, 0x00, 0x00, 0x78, 0x70]);
    JavaValue::from_stream(b).expect("a valid stream")
}

struct Sent {
    to: Destination,
    message: SessionMessage,
    options: SendOptions,
    token: Option<SendToken>,
}

struct H {
    m: DeltaManager,
    store: Arc<Store>,
    origin: Instant,
    /// Everything drained so far and not yet looked at.
    outputs: Vec<Output>,
}

impl H {
    fn new(config: ManagerConfig) -> H {
        H::with_contexts(config, &[CTX])
    }

    fn with_contexts(config: ManagerConfig, contexts: &[&str]) -> H {
        let store = Arc::new(Store::with_contexts(contexts.iter().copied()));
        H { m: DeltaManager::new(config, store.clone()), store, origin: Instant::now(), outputs: Vec::new() }
    }

    fn at(&self, ms: u64) -> Now {
        Now::new(self.origin + Duration::from_millis(ms), EPOCH + ms as i64)
    }

    fn drain(&mut self) {
        while let Some(o) = self.m.poll_output() {
            self.outputs.push(o);
        }
    }

    fn members(&mut self, members: Vec<MemberId>, ms: u64) {
        let now = self.at(ms);
        self.m.handle_members(members, now);
        self.drain();
    }

    fn start(&mut self, ms: u64) {
        let now = self.at(ms);
        self.m.handle_start(now);
        self.drain();
    }

    /// Receives `message` from `from` through its wire encoding.
    fn recv(&mut self, from: &MemberId, message: &SessionMessage, ms: u64) {
        let now = self.at(ms);
        self.m.handle_payload(from.clone(), &Bytes::from(message.encode()), now);
        self.drain();
    }

    fn local(&mut self, id: &str, changes: Vec<LocalChange>, ms: u64) -> Result<(), SessionError> {
        let now = self.at(ms);
        let r = self.m.handle_local(CTX, id, changes, now);
        self.drain();
        r
    }

    fn ack(&mut self, token: SendToken, result: Result<(), String>, ms: u64) {
        let now = self.at(ms);
        self.m.handle_send_result(token, result, now);
        self.drain();
    }

    /// Runs every timer due up to `ms` at its own instant, then `ms` itself.
    fn advance(&mut self, ms: u64) {
        let end = self.origin + Duration::from_millis(ms);
        while let Some(t) = self.m.poll_timeout() {
            if t > end {
                break;
            }
            let at = t.duration_since(self.origin).as_millis() as u64;
            let now = self.at(at);
            self.m.handle_timeout(now);
            self.drain();
        }
        let now = self.at(ms);
        self.m.handle_timeout(now);
        self.drain();
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    fn sends(&mut self) -> Vec<Sent> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Send { to, message, options, token } => Some(Sent { to, message, options, token }),
                _ => None,
            })
            .collect()
    }

    fn listeners(&mut self) -> Vec<ListenerKind> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Listener(e) => Some(e.kind),
                _ => None,
            })
            .collect()
    }

    fn notices(&mut self) -> Vec<Notice> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Notice(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    fn attr(&self, id: &str, name: &str) -> Option<String> {
        self.store.get(CTX, id)?.attribute(name)?.as_string()
    }
}

fn delta(id: &str, actions: Vec<DeltaAction>, ts: i64) -> SessionMessage {
    let mut d = DeltaRequest::new(id, false);
    for a in actions {
        d.record(a);
    }
    SessionMessage::delta(CTX, id, d.encode().unwrap(), ts)
}

fn decode_delta(m: &SessionMessage) -> DeltaRequest {
    assert_eq!(m.event, EventType::Delta);
    DeltaRequest::decode(m.payload.as_ref().unwrap(), &jser::ParseOptions::default()).unwrap().request
}

fn events(sent: &[Sent]) -> Vec<EventType> {
    sent.iter().map(|s| s.message.event).collect()
}

fn state_data(records: &[SessionRecord], ts: i64) -> SessionMessage {
    SessionMessage::all_session_data(CTX, encode_state(records, StateForm::WithNotes).unwrap(), ts)
}

fn record(id: &str, attrs: &[(&str, &str)]) -> SessionRecord {
    let mut r = SessionRecord::new(id, EPOCH - 10_000, 1800);
    r.attributes = attrs.iter().map(|(n, v)| (n.to_string(), s(v))).collect();
    r
}

// ---------------------------------------------------------------------------------------------
// Receiving: every event type

#[test]
fn created_then_deltas_build_the_replica_and_fire_listeners() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH - 5000, EPOCH), 10);
    let s1 = h.store.get(CTX, "S1").expect("replica created");
    assert_eq!(s1.creation_time, EPOCH - 5000);
    assert_eq!(s1.max_inactive_interval, 1800, "the receiver's own default");
    assert!(!s1.primary && s1.is_valid && !s1.is_new);
    assert_eq!(s1.this_accessed_time, EPOCH + 10);
    assert_eq!(s1.last_sender.as_deref(), Some(a.to_string().as_str()), "the sender, for log lines");
    assert_eq!(h.listeners(), vec![ListenerKind::SessionCreated { id: "S1".into() }]);

    let first = vec![
        DeltaAction::set_attribute("a", s("x")),
        DeltaAction::set_attribute("n", JavaValue::integer(5)),
        DeltaAction::max_interval(600),
        DeltaAction::auth_type(Some("FORM")),
        DeltaAction::set_note("note", s("v")),
        DeltaAction::principal(Some(s("p"))),
    ];
    h.recv(&a, &delta("S1", first, EPOCH + 20), 20);
    assert_eq!(
        h.listeners(),
        vec![
            ListenerKind::AttributeAdded { id: "S1".into(), name: "a".into() },
            ListenerKind::AttributeAdded { id: "S1".into(), name: "n".into() },
        ]
    );
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert_eq!(h.attr("S1", "a").as_deref(), Some("x"));
    assert_eq!(s1.attribute("n").unwrap().as_i32(), Some(5));
    assert_eq!(s1.max_inactive_interval, 600);
    assert_eq!(s1.auth_type.as_deref(), Some("FORM"));
    assert_eq!(s1.notes.get("note").unwrap().as_string().as_deref(), Some("v"));
    assert_eq!(s1.principal.as_ref().unwrap().as_string().as_deref(), Some("p"));

    let second = vec![
        DeltaAction::set_attribute("a", s("y")),
        DeltaAction::remove_attribute("n"),
        DeltaAction::remove_attribute("never-set"),
        DeltaAction::auth_type(None),
        DeltaAction::remove_note("note"),
        DeltaAction::principal(None),
    ];
    h.recv(&a, &delta("S1", second, EPOCH + 30), 30);
    // The events carry what a listener reads: the value set and the one it replaced or removed.
    let events: Vec<_> = h
        .take()
        .into_iter()
        .filter_map(|o| match o {
            Output::Listener(e) => Some((e.kind, e.value.and_then(|v| v.as_string()), e.old)),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (ListenerKind::AttributeReplaced { id: "S1".into(), name: "a".into() }, Some("y".into()), Some(s("x"))),
            (ListenerKind::AttributeRemoved { id: "S1".into(), name: "n".into() }, None, Some(JavaValue::integer(5))),
        ]
    );
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert_eq!(s1.attributes.len(), 1);
    assert_eq!(h.attr("S1", "a").as_deref(), Some("y"));
    assert!(s1.auth_type.is_none() && s1.principal.is_none() && s1.notes.is_empty());
    let stats = h.m.stats().snapshot();
    assert_eq!(stats.received, vec![(1, 1), (13, 2)]);
}

#[test]
fn listener_flags_off_fire_nothing() {
    let a = member(1);
    let config = ManagerConfig {
        notify_listeners_on_replication: false,
        notify_session_listeners_on_replication: false,
        notify_container_listeners_on_replication: false,
        ..ManagerConfig::default()
    };
    let mut h = H::new(config);
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 0);
    h.recv(&a, &delta("S1", vec![DeltaAction::set_attribute("a", s("x"))], EPOCH), 1);
    h.recv(&a, &SessionMessage::change_session_id(CTX, "S1", "S2", EPOCH), 2);
    h.recv(&a, &SessionMessage::expired(CTX, "S2", EPOCH), 3);
    assert_eq!(h.listeners(), vec![]);
    assert_eq!(h.store.count(CTX), Some(0));
}

#[test]
fn accessed_change_id_and_expired_act_on_the_replica_and_unknown_codes_are_ignored() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 0);
    h.store.update(CTX, "S1", |s| s.primary = true);
    h.recv(&a, &SessionMessage::accessed(CTX, "S1", EPOCH + 50), 10_000);
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert!(!s1.primary, "ACCESSED from another node: the primary is elsewhere");
    assert_eq!((s1.this_accessed_time, s1.last_accessed_time), (EPOCH + 10_000, EPOCH + 10_000), "our clock");

    h.take();
    h.recv(&a, &SessionMessage::change_session_id(CTX, "S1", "S2", EPOCH), 10_001);
    assert!(h.store.get(CTX, "S1").is_none());
    assert_eq!(h.store.get(CTX, "S2").unwrap().id, "S2");
    assert_eq!(
        h.listeners(),
        vec![ListenerKind::SessionIdChanged {
            old: "S1".into(),
            new: "S2".into(),
            session_listeners: true,
            container_listeners: true
        }]
    );
    // About sessions we do not have: nothing happens.
    h.recv(&a, &SessionMessage::accessed(CTX, "nope", EPOCH), 10_002);
    h.recv(&a, &SessionMessage::expired(CTX, "nope", EPOCH), 10_003);
    h.recv(&a, &SessionMessage::change_session_id(CTX, "nope", "other", EPOCH), 10_004);
    assert_eq!(h.store.session_ids(CTX).unwrap(), vec!["S2".to_string()]);

    let mut unknown = SessionMessage::accessed(CTX, "S2", EPOCH);
    unknown.event = EventType::Unknown(99);
    h.recv(&a, &unknown, 10_005);
    assert_eq!(h.m.stats().snapshot().received_unknown, 1);

    h.take();
    h.recv(&a, &SessionMessage::expired(CTX, "S2", EPOCH), 10_006);
    assert_eq!(h.store.count(CTX), Some(0));
    assert_eq!(h.listeners(), vec![ListenerKind::SessionDestroyed { id: "S2".into() }]);
    assert!(h.sends().is_empty(), "a replica's expiry tells nobody");
}

#[test]
fn created_replaces_an_existing_session_with_the_same_id() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 0);
    h.recv(&a, &delta("S1", vec![DeltaAction::set_attribute("a", s("x"))], EPOCH), 1);
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH + 7, EPOCH + 7), 2);
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert!(s1.attributes.is_empty());
    assert_eq!(s1.creation_time, EPOCH + 7);
}

#[test]
fn a_null_context_reaches_every_held_context() {
    let a = member(1);
    let mut h = H::with_contexts(ManagerConfig::default(), &[CTX, ""]);
    let mut m = SessionMessage::created(CTX, "S1", EPOCH, EPOCH);
    m.context = None;
    h.recv(&a, &m, 0);
    assert!(h.store.contains(CTX, "S1") && h.store.contains("", "S1"));
}

#[test]
fn malformed_input_is_dropped_and_counted() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 0);
    let before = h.store.get(CTX, "S1").unwrap();
    let now = h.at(1);
    // Not a Java stream; a truncated SessionMessageImpl.
    h.m.handle_payload(a.clone(), &Bytes::from_static(b"garbage"), now);
    let good = SessionMessage::created(CTX, "S9", EPOCH, EPOCH).encode();
    h.m.handle_payload(a.clone(), &Bytes::copy_from_slice(&good[..good.len() - 3]), now);
    // A DELTA whose payload is not a DeltaRequest; one without payload.
    h.recv(&a, &SessionMessage::delta(CTX, "S1", Bytes::from_static(b"\xac\xed\x00\x05junk"), EPOCH), 2);
    let mut no_payload = delta("S1", vec![], EPOCH);
    no_payload.payload = None;
    h.recv(&a, &no_payload, 3);
    // CHANGE_SESSION_ID without a readable new id; ALL_SESSION_DATA that is not a state stream.
    let mut bad_change = SessionMessage::change_session_id(CTX, "S1", "S2", EPOCH);
    bad_change.payload = Some(Bytes::from_static(b"\xac\xed\x00\x05"));
    h.recv(&a, &bad_change, 4);
    h.recv(&a, &SessionMessage::all_session_data(CTX, Bytes::from_static(b"\xac\xed\x00\x05\x70"), EPOCH), 5);
    h.drain();
    let stats = h.m.stats().snapshot();
    assert_eq!(stats.malformed, 6);
    assert_eq!(h.store.get(CTX, "S1").unwrap(), before, "nothing applied");
    assert!(!h.store.contains(CTX, "S9") && !h.store.contains(CTX, "S2"));
    let malformed = h.notices().into_iter().filter(|n| matches!(n, Notice::Malformed { .. })).count();
    assert_eq!(malformed, 6);

    // Another class's object is ignored, not malformed.
    let mut other = vec![0xAC, 0xED, 0x00, 0x05, 0x73, 0x72, 0x00, 0x0F];
    other.extend_from_slice(b"com.evil.Gadget");
    h.m.handle_payload(a.clone(), &Bytes::from(other), now);
    let stats = h.m.stats().snapshot();
    assert_eq!((stats.malformed, stats.other_messages), (6, 1));
}

#[test]
fn a_delta_whose_own_id_differs_from_the_message_is_dropped() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 0);
    let mut d = DeltaRequest::new("OTHER", false);
    d.record(DeltaAction::set_attribute("a", s("x")));
    h.recv(&a, &SessionMessage::delta(CTX, "S1", d.encode().unwrap(), EPOCH), 1);
    assert!(h.attr("S1", "a").is_none());
    assert!(h.notices().iter().any(|n| matches!(n, Notice::DeltaIdMismatch { .. })));
}

// ---------------------------------------------------------------------------------------------
// The class filter

fn filtered() -> ManagerConfig {
    ManagerConfig {
        parse: jser::ParseOptions::with_filter(jser::ClassFilter::allow(r"java\.lang\..*").unwrap()),
        ..ManagerConfig::default()
    }
}

#[test]
fn an_attribute_refused_by_the_class_filter_is_dropped_alone_and_reported() {
    let a = member(1);
    let mut h = H::new(filtered());
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 0);
    let actions = vec![
        DeltaAction::set_attribute("good", s("x")),
        DeltaAction::set_attribute("evil", gadget()),
        DeltaAction::set_attribute("also-good", s("y")),
    ];
    h.recv(&a, &delta("S1", actions, EPOCH), 1);
    assert_eq!(h.attr("S1", "good").as_deref(), Some("x"));
    assert_eq!(h.attr("S1", "also-good").as_deref(), Some("y"));
    assert!(h.store.get(CTX, "S1").unwrap().attribute("evil").is_none());
    let rejected: Vec<Notice> =
        h.notices().into_iter().filter(|n| matches!(n, Notice::AttributeRejected { .. })).collect();
    assert_eq!(rejected.len(), 1);
    let Notice::AttributeRejected { from, context, session_id, name, class_name, .. } = &rejected[0] else {
        unreachable!()
    };
    assert_eq!((from, context.as_str(), session_id.as_str()), (&a, CTX, "S1"));
    assert_eq!((name.as_str(), class_name.as_str()), ("evil", "com.evil.Gadget"));
    assert_eq!(h.m.stats().snapshot().filter_rejects, 1);
}

#[test]
fn a_state_stream_keeps_sessions_without_their_refused_attributes() {
    let a = member(1);
    let mut h = H::new(filtered());
    let mut r = record("S1", &[("good", "x")]);
    r.attributes.push(("evil".into(), gadget()));
    h.recv(&a, &state_data(&[r, record("S2", &[])], EPOCH), 0);
    assert_eq!(h.attr("S1", "good").as_deref(), Some("x"));
    assert!(h.store.get(CTX, "S1").unwrap().attribute("evil").is_none());
    assert!(h.store.contains(CTX, "S2"));
    assert_eq!(h.m.stats().snapshot().filter_rejects, 1);
}

// ---------------------------------------------------------------------------------------------
// DELTA before CREATED

#[test]
fn a_delta_for_an_unknown_session_is_kept_and_applied_when_created_arrives() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.recv(&a, &delta("S1", vec![DeltaAction::set_attribute("a", s("1"))], EPOCH), 0);
    h.recv(
        &a,
        &delta("S1", vec![DeltaAction::set_attribute("a", s("2")), DeltaAction::set_attribute("b", s("b"))], EPOCH),
        1,
    );
    assert!(!h.store.contains(CTX, "S1"), "no session is created from a delta");
    assert_eq!(h.m.pending_deltas(), 2);
    assert_eq!(h.m.stats().snapshot().pending_deltas, 2);
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 2);
    assert_eq!(h.attr("S1", "a").as_deref(), Some("2"), "applied in arrival order");
    assert_eq!(h.attr("S1", "b").as_deref(), Some("b"));
    let stats = h.m.stats().snapshot();
    assert_eq!((stats.pending_deltas, stats.pending_applied), (0, 2));
}

#[test]
fn kept_deltas_are_dropped_after_the_age_limit_and_over_the_bounds() {
    let a = member(1);
    let mut config = ManagerConfig::default();
    config.pending.per_session = 3;
    config.pending.max_age = Duration::from_secs(10);
    let mut h = H::new(config);
    for i in 0..5 {
        h.recv(&a, &delta("S1", vec![DeltaAction::set_attribute(format!("a{i}"), s("v"))], EPOCH), i);
    }
    assert_eq!(h.m.pending_deltas(), 3);
    assert_eq!(h.m.stats().snapshot().pending_dropped, 2);
    h.recv(&a, &delta("S2", vec![DeltaAction::set_attribute("late", s("v"))], EPOCH), 5_000);
    assert_eq!(h.m.poll_timeout(), Some(h.origin + Duration::from_millis(10_000)));
    h.advance(10_004);
    assert_eq!(h.m.pending_deltas(), 1, "S1's three are too old, S2's is not");
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 10_005);
    assert!(h.store.get(CTX, "S1").unwrap().attributes.is_empty());
    h.recv(&a, &SessionMessage::created(CTX, "S2", EPOCH, EPOCH), 10_006);
    assert_eq!(h.attr("S2", "late").as_deref(), Some("v"));
    assert_eq!(h.m.stats().snapshot().pending_dropped, 5);

    // The byte and total bounds.
    let mut config = ManagerConfig::default();
    config.pending.total = 2;
    let mut h = H::new(config);
    for i in 0..3 {
        h.recv(&a, &delta(&format!("T{i}"), vec![DeltaAction::set_attribute("a", s("v"))], EPOCH), 0);
    }
    assert_eq!(h.m.pending_deltas(), 2);
    let mut config = ManagerConfig::default();
    config.pending.bytes = 10;
    let mut h = H::new(config);
    h.recv(&a, &delta("T", vec![DeltaAction::set_attribute("a", s("v"))], EPOCH), 0);
    assert_eq!(h.m.pending_deltas(), 0);
}

proptest! {
    /// Wherever CREATED lands among a session's DELTAs, the replica ends as if it came first.
    #[test]
    fn created_anywhere_among_the_deltas_gives_the_in_order_result(
        values in proptest::collection::vec((0u8..4, 0u8..3), 1..12),
        created_at in any::<prop::sample::Index>(),
    ) {
        let a = member(1);
        let deltas: Vec<SessionMessage> = values
            .iter()
            .map(|(name, v)| {
                let action = if *v == 0 {
                    DeltaAction::remove_attribute(format!("n{name}"))
                } else {
                    DeltaAction::set_attribute(format!("n{name}"), s(&v.to_string()))
                };
                delta("S1", vec![action], EPOCH)
            })
            .collect();
        let created = SessionMessage::created(CTX, "S1", EPOCH, EPOCH);
        let mut in_order = H::new(ManagerConfig::default());
        in_order.recv(&a, &created, 0);
        for d in &deltas {
            in_order.recv(&a, d, 1);
        }
        let k = created_at.index(deltas.len() + 1);
        let mut shuffled = H::new(ManagerConfig::default());
        for d in &deltas[..k] {
            shuffled.recv(&a, d, 0);
        }
        shuffled.recv(&a, &created, 0);
        for d in &deltas[k..] {
            shuffled.recv(&a, d, 1);
        }
        let attrs = |h: &H| {
            let mut v = h.store.get(CTX, "S1").unwrap().attributes;
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        prop_assert_eq!(attrs(&in_order), attrs(&shuffled));
        prop_assert_eq!(shuffled.m.pending_deltas(), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Local changes

#[test]
fn a_new_session_sends_created_then_one_delta_with_every_change() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    h.local(
        "S1",
        vec![
            LocalChange::Create { max_inactive_interval: None },
            LocalChange::SetAttribute { name: "a".into(), value: s("x") },
            LocalChange::SetAttribute { name: "b".into(), value: JavaValue::integer(7) },
            LocalChange::SetAttribute { name: "a".into(), value: s("y") },
        ],
        100,
    )
    .unwrap();
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::Created, EventType::Delta]);
    assert!(sent.iter().all(|s| s.to == Destination::All && s.token.is_none()));
    assert_eq!(sent[0].options, SendOptions(6), "CREATED is processed before the DELTA leaves");
    assert_eq!(sent[1].options, SendOptions(8));
    assert_eq!(sent[0].message.timestamp, EPOCH + 100, "the creation time");
    assert_eq!(sent[0].message.session_id.as_deref(), Some("S1"));
    let d = decode_delta(&sent[1].message);
    assert_eq!(d.session_id, "S1");
    let names: Vec<&str> = d.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["__SET__ISNEW__", "__SET__MAXINTERVAL__", "b", "a"], "last change per name, in order");
    assert_eq!(d.actions[1].value.as_ref().unwrap().as_i32(), Some(1800));
    assert_eq!(d.actions[3].value.as_ref().unwrap().as_string().as_deref(), Some("y"));
    assert_eq!(sent[1].message.timestamp, EPOCH + 100);
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert!(s1.primary);
    assert_eq!(s1.last_time_replicated, EPOCH + 100);
    assert_eq!(h.m.stats().snapshot().sent, vec![(1, 1), (13, 1)]);

    // The next request: one DELTA with its own changes only.
    h.local("S1", vec![LocalChange::RemoveAttribute { name: "b".into() }], 200).unwrap();
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::Delta]);
    let d = decode_delta(&sent[0].message);
    assert_eq!(d.actions, vec![DeltaAction::remove_attribute("b")]);
}

#[test]
fn every_kind_of_local_change_is_recorded() {
    let a = member(1);
    let mut h = H::new(ManagerConfig { record_all_actions: true, ..ManagerConfig::default() });
    h.members(vec![a.clone()], 0);
    h.local("S1", vec![LocalChange::Create { max_inactive_interval: Some(60) }], 0).unwrap();
    h.take();
    h.local(
        "S1",
        vec![
            LocalChange::SetPrincipal(Some(s("p"))),
            LocalChange::SetAuthType(Some("BASIC".into())),
            LocalChange::SetMaxInactiveInterval(120),
            LocalChange::SetNew(false),
            LocalChange::SetNote { name: "k".into(), value: s("v") },
            LocalChange::RemoveNote { name: "k".into() },
            LocalChange::RemoveNote { name: "never".into() },
            LocalChange::RemoveAttribute { name: "never".into() },
        ],
        1,
    )
    .unwrap();
    let sent = h.sends();
    let d = decode_delta(&sent[0].message);
    assert!(d.record_all_actions);
    assert_eq!(
        d.actions,
        vec![
            DeltaAction::principal(Some(s("p"))),
            DeltaAction::auth_type(Some("BASIC")),
            DeltaAction::max_interval(120),
            DeltaAction::is_new(false),
            DeltaAction::set_note("k", s("v")),
            DeltaAction::remove_note("k"),
        ]
    );
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert_eq!((s1.max_inactive_interval, s1.auth_type.as_deref()), (120, Some("BASIC")));
}

#[test]
fn without_members_nothing_is_sent_and_the_session_is_primary() {
    let mut h = H::new(ManagerConfig::default());
    h.local(
        "S1",
        vec![
            LocalChange::Create { max_inactive_interval: None },
            LocalChange::SetAttribute { name: "a".into(), value: s("x") },
        ],
        0,
    )
    .unwrap();
    assert!(h.sends().is_empty());
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert!(s1.primary);
    assert_eq!(h.attr("S1", "a").as_deref(), Some("x"));
}

#[test]
fn local_changes_name_what_is_wrong_and_change_nothing() {
    let mut h = H::new(ManagerConfig::default());
    let create = || LocalChange::Create { max_inactive_interval: None };
    assert_eq!(
        h.m.handle_local("/nope", "S1", vec![create()], h.at(0)),
        Err(SessionError::UnknownContext("/nope".into()))
    );
    assert_eq!(
        h.local("S1", vec![LocalChange::Access], 0),
        Err(SessionError::UnknownSession { context: CTX.into(), id: "S1".into() })
    );
    h.local("S1", vec![create()], 0).unwrap();
    assert_eq!(
        h.local("S1", vec![create()], 0),
        Err(SessionError::SessionExists { context: CTX.into(), id: "S1".into() })
    );
    h.local("S2", vec![create()], 0).unwrap();
    assert_eq!(
        h.local("S1", vec![LocalChange::ChangeId { new_id: "S2".into() }], 0),
        Err(SessionError::SessionExists { context: CTX.into(), id: "S2".into() })
    );
    assert!(matches!(h.local("S1", vec![LocalChange::Access, create()], 0), Err(SessionError::InvalidChanges(_))));
    assert!(matches!(
        h.local("S1", vec![LocalChange::Invalidate, LocalChange::Access], 0),
        Err(SessionError::InvalidChanges(_))
    ));
    assert_eq!(h.store.count(CTX), Some(2));
}

#[test]
fn access_follows_the_replication_valve_rules() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    // A replica (the primary was elsewhere): the first request here sends ACCESSED.
    h.recv(&a, &SessionMessage::created(CTX, "S1", EPOCH, EPOCH), 0);
    h.take();
    h.local("S1", vec![LocalChange::Access], 1_000).unwrap();
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::Accessed]);
    assert_eq!(sent[0].message.timestamp, EPOCH + 1_000);
    let s1 = h.store.get(CTX, "S1").unwrap();
    assert!(s1.primary);
    assert_eq!(s1.last_time_replicated, EPOCH + 1_000);
    // Primary now, nothing changed, replicated recently: nothing.
    h.local("S1", vec![LocalChange::Access], 2_000).unwrap();
    assert!(h.sends().is_empty());
    // A change: a DELTA, not ACCESSED.
    h.local("S1", vec![LocalChange::SetMaxInactiveInterval(10)], 3_000).unwrap();
    assert_eq!(events(&h.sends()), vec![EventType::Delta]);
    // More than maxInactiveInterval since the last message: ACCESSED keeps the backups alive.
    h.local("S1", vec![LocalChange::Access], 13_000).unwrap();
    assert!(h.sends().is_empty(), "exactly 10 s is not more than 10 s");
    h.local("S1", vec![LocalChange::Access], 13_001).unwrap();
    assert_eq!(events(&h.sends()), vec![EventType::Accessed]);
}

#[test]
fn change_id_is_sent_at_once_and_the_delta_follows_under_the_new_id() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    h.local(
        "S1",
        vec![
            LocalChange::Create { max_inactive_interval: None },
            LocalChange::SetAttribute { name: "a".into(), value: s("x") },
            LocalChange::ChangeId { new_id: "S1.node2".into() },
            LocalChange::SetAttribute { name: "b".into(), value: s("y") },
        ],
        0,
    )
    .unwrap();
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::Created, EventType::ChangeSessionId, EventType::Delta]);
    let options: Vec<SendOptions> = sent.iter().map(|s| s.options).collect();
    assert_eq!(options, [SendOptions(6), SendOptions(6), SendOptions(8)]);
    assert_eq!(sent[1].message.session_id.as_deref(), Some("S1"));
    assert_eq!(sent[1].message.new_session_id().unwrap(), "S1.node2");
    assert_eq!(sent[2].message.session_id.as_deref(), Some("S1.node2"));
    assert_eq!(decode_delta(&sent[2].message).session_id, "S1.node2");
    assert!(!h.store.contains(CTX, "S1"));
    assert_eq!(h.attr("S1.node2", "b").as_deref(), Some("y"));
}

/// The race of channelSendOptions 8 with JvmRouteBinderValve: node 1 changes a session and its
/// DELTA is still on the way when the next request lands here; this node serves the copy it has
/// and renames the session to its own route. The late DELTA for the old id must still be applied,
/// under the new id (a stock DeltaManager loses it: "session not found").
#[test]
fn a_late_delta_for_a_renamed_session_reaches_it_under_its_new_id() {
    let a = member(1);
    let b = member(2);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone(), b.clone()], 0);
    h.recv(&a, &SessionMessage::created(CTX, "S1.node1", EPOCH, EPOCH), 0);
    // Renamed here (a local request), then node 1's DELTA for the old id arrives.
    h.local("S1.node1", vec![LocalChange::ChangeId { new_id: "S1.node2".into() }], 10).unwrap();
    h.take();
    h.recv(&a, &delta("S1.node1", vec![DeltaAction::set_attribute("check", s("1"))], EPOCH + 5), 20);
    assert_eq!(h.attr("S1.node2", "check").as_deref(), Some("1"), "applied under the new id");
    assert!(!h.store.contains(CTX, "S1.node1"), "no session comes back under the old id");
    assert_eq!(h.m.pending_deltas(), 0, "nothing kept as unknown");
    assert!(!h.store.get(CTX, "S1.node2").unwrap().primary, "node 1 changed it last");
    assert!(h.notices().iter().any(|n| matches!(n, Notice::DeltaFollowedRename { old_id, new_id, .. }
        if old_id == "S1.node1" && new_id == "S1.node2")));

    // Renamed by another member, twice (a chain), then a late DELTA for the first id.
    h.recv(&a, &SessionMessage::created(CTX, "T", EPOCH, EPOCH), 30);
    h.recv(&b, &SessionMessage::change_session_id(CTX, "T", "T.b", EPOCH), 31);
    h.recv(&a, &SessionMessage::change_session_id(CTX, "T.b", "T.a", EPOCH), 32);
    h.recv(&b, &delta("T", vec![DeltaAction::set_attribute("x", s("late"))], EPOCH), 33);
    assert_eq!(h.attr("T.a", "x").as_deref(), Some("late"));

    // Renames are forgotten after the pending age limit: a DELTA for an old id is then kept as
    // unknown (and dropped by age), as any DELTA for a session not held.
    let age = ManagerConfig::default().pending.max_age.as_millis() as u64;
    h.advance(40 + age + ManagerConfig::default().expiry_check_interval.as_millis() as u64);
    h.take();
    h.recv(&a, &delta("S1.node1", vec![DeltaAction::set_attribute("check", s("2"))], EPOCH), 50 + 2 * age);
    assert_eq!(h.attr("S1.node2", "check").as_deref(), Some("1"));
    assert_eq!(h.m.pending_deltas(), 1);
}

/// Renames are remembered up to `pending.total`: beyond it the oldest is forgotten first (a
/// peer renaming sessions in a loop cannot grow the map or make each rename scan it).
#[test]
fn remembered_renames_are_bounded_and_the_oldest_goes_first() {
    let a = member(1);
    let config = ManagerConfig {
        pending: tribes_proto::session::manager::PendingLimits { total: 2, ..Default::default() },
        ..ManagerConfig::default()
    };
    let mut h = H::new(config);
    for (i, id) in ["A", "B", "C"].iter().enumerate() {
        h.recv(&a, &SessionMessage::created(CTX, id, EPOCH, EPOCH), i as u64);
        h.recv(&a, &SessionMessage::change_session_id(CTX, id, &format!("{id}2"), EPOCH), 10 + i as u64);
    }
    h.take();
    for id in ["A", "B", "C"] {
        h.recv(&a, &delta(id, vec![DeltaAction::set_attribute("x", s(id))], EPOCH), 20);
    }
    assert_eq!(h.attr("A2", "x"), None, "the oldest rename was forgotten");
    assert_eq!(h.attr("B2", "x").as_deref(), Some("B"));
    assert_eq!(h.attr("C2", "x").as_deref(), Some("C"));
}

#[test]
fn invalidate_sends_the_final_delta_then_expired() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    h.local("S1", vec![LocalChange::Create { max_inactive_interval: None }], 0).unwrap();
    h.local("S2", vec![LocalChange::Create { max_inactive_interval: None }], 0).unwrap();
    h.take();
    h.local("S1", vec![LocalChange::SetAttribute { name: "a".into(), value: s("x") }, LocalChange::Invalidate], 10)
        .unwrap();
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::Delta, EventType::Expired]);
    assert_eq!(sent[1].message.unique_id.as_deref(), Some("S1-EXPIRED-MSG"));
    h.local("S2", vec![LocalChange::Invalidate], 20).unwrap();
    assert_eq!(events(&h.sends()), vec![EventType::Expired], "clean: no delta, never ACCESSED");
    assert_eq!(h.store.count(CTX), Some(0));
}

// ---------------------------------------------------------------------------------------------
// Expiry

#[test]
fn a_primary_expires_after_max_idle_and_a_backup_silently_after_twice_that() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.start(0);
    h.members(vec![a.clone()], 0);
    h.local("P", vec![LocalChange::Create { max_inactive_interval: Some(10) }], 0).unwrap();
    h.recv(&a, &SessionMessage::created(CTX, "B", EPOCH, EPOCH), 0);
    h.recv(&a, &delta("B", vec![DeltaAction::max_interval(10)], EPOCH), 0);
    h.recv(&a, &SessionMessage::created(CTX, "N", EPOCH, EPOCH), 0);
    h.recv(&a, &delta("N", vec![DeltaAction::max_interval(-1)], EPOCH), 0);
    h.take();
    h.advance(9_999);
    assert_eq!(h.store.count(CTX), Some(3));
    h.advance(10_000);
    let outputs = h.take();
    assert!(!h.store.contains(CTX, "P") && h.store.contains(CTX, "B"));
    let sent: Vec<&SessionMessage> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].event, sent[0].session_id.as_deref()), (EventType::Expired, Some("P")));
    assert!(outputs.iter().any(|o| matches!(o, Output::Listener(e)
        if e.context == CTX && e.kind == ListenerKind::SessionDestroyed { id: "P".into() }
            && e.session.as_ref().is_some_and(|s| s.id == "P"))));
    h.advance(19_999);
    assert!(h.store.contains(CTX, "B"));
    h.take();
    h.advance(20_000);
    assert!(!h.store.contains(CTX, "B"));
    assert_eq!(h.listeners(), vec![ListenerKind::SessionDestroyed { id: "B".into() }]);
    h.advance(20_000);
    assert!(h.sends().is_empty(), "a backup expires without telling the cluster");
    h.advance(1_000_000);
    assert!(h.store.contains(CTX, "N"), "maxInactiveInterval < 0 never expires");
}

#[test]
fn an_access_postpones_expiry() {
    let mut h = H::new(ManagerConfig::default());
    h.start(0);
    h.local("P", vec![LocalChange::Create { max_inactive_interval: Some(10) }], 0).unwrap();
    h.advance(9_000);
    h.local("P", vec![LocalChange::Access], 9_000).unwrap();
    h.advance(18_999);
    assert!(h.store.contains(CTX, "P"));
    h.advance(19_000);
    assert!(!h.store.contains(CTX, "P"));
}

#[test]
fn stop_expires_locally_and_tells_the_cluster_only_if_configured() {
    let a = member(1);
    for expire_on_shutdown in [false, true] {
        let mut h =
            H::new(ManagerConfig { expire_sessions_on_shutdown: expire_on_shutdown, ..ManagerConfig::default() });
        h.members(vec![a.clone()], 0);
        h.local("P", vec![LocalChange::Create { max_inactive_interval: None }], 0).unwrap();
        h.recv(&a, &SessionMessage::created(CTX, "B", EPOCH, EPOCH), 0);
        h.take();
        let now = h.at(5);
        h.m.handle_stop(now);
        h.drain();
        let sent = h.sends();
        assert_eq!(h.store.count(CTX), Some(0));
        if expire_on_shutdown {
            assert_eq!(events(&sent), vec![EventType::Expired, EventType::Expired]);
        } else {
            assert!(sent.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State transfer: requester

#[test]
fn start_asks_the_oldest_member_and_queues_until_transfer_complete() {
    let (a, b, c) = (member(1), member(2), member(3));
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone(), b.clone()], 0);
    h.start(0);
    let sent = h.sends();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, Destination::One(a.clone()));
    assert_eq!(sent[0].options, SendOptions::ASYNCHRONOUS);
    assert_eq!(sent[0].message.event, EventType::GetAllSessions);
    assert_eq!(sent[0].message.timestamp, EPOCH, "T0");
    assert!(h.m.is_waiting(CTX));

    // Queued: CREATED older than the state, a DELTA older than the state, a GET_ALL_SESSIONS.
    h.recv(&b, &SessionMessage::created(CTX, "OLD", EPOCH - 1000, EPOCH), 10);
    h.recv(&b, &delta("X", vec![DeltaAction::set_attribute("stale", s("v"))], EPOCH + 100), 20);
    h.recv(&c, &SessionMessage::get_all_sessions(CTX, EPOCH + 50), 30);
    assert!(h.store.count(CTX) == Some(0) && h.sends().is_empty());
    // The state is applied at once.
    h.recv(&a, &state_data(&[record("X", &[("a", "1")]), record("Y", &[])], EPOCH + 200), 40);
    assert_eq!(h.attr("X", "a").as_deref(), Some("1"));
    let x = h.store.get(CTX, "X").unwrap();
    assert!(!x.primary);
    assert_eq!(x.last_accessed_time, EPOCH - 10_000, "the sender's");
    assert_eq!(x.this_accessed_time, EPOCH + 40, "our clock");
    // Newer than the state: replayed.
    h.recv(&b, &delta("X", vec![DeltaAction::set_attribute("fresh", s("v"))], EPOCH + 300), 50);
    h.recv(&b, &SessionMessage::created(CTX, "NEW", EPOCH + 250, EPOCH + 250), 55);
    assert!(h.attr("X", "fresh").is_none());
    assert!(h.m.is_waiting(CTX));
    h.take();
    h.recv(&a, &SessionMessage::transfer_complete(CTX, EPOCH + 200), 60);
    assert!(!h.m.is_waiting(CTX));
    assert_eq!(h.attr("X", "fresh").as_deref(), Some("v"));
    assert!(h.attr("X", "stale").is_none());
    assert!(h.store.contains(CTX, "NEW") && !h.store.contains(CTX, "OLD"));
    let outputs = h.take();
    assert!(!outputs.iter().any(|o| matches!(o, Output::Send { .. })), "the queued GET_ALL_SESSIONS was dropped");
    assert!(outputs.contains(&Output::Notice(Notice::StateWaitEnded {
        context: CTX.into(),
        end: WaitEnd::Transferred,
        replayed: 2,
        dropped: 3
    })));
    let stats = h.m.stats().snapshot();
    assert_eq!((stats.queued, stats.queued_dropped), (5, 3));
    // After the wait, messages are processed at once.
    h.recv(&b, &SessionMessage::created(CTX, "LATER", EPOCH - 99_999, EPOCH), 70);
    assert!(h.store.contains(CTX, "LATER"));
}

#[test]
fn expired_accessed_and_change_id_wait_in_the_queue_too() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    h.start(0);
    h.recv(&a, &state_data(&[record("X", &[]), record("Y", &[]), record("Z", &[])], EPOCH + 10), 10);
    h.store.update(CTX, "Z", |s| s.primary = true);
    h.recv(&a, &SessionMessage::change_session_id(CTX, "X", "X2", EPOCH + 20), 20);
    h.recv(&a, &SessionMessage::expired(CTX, "Y", EPOCH + 20), 20);
    h.recv(&a, &SessionMessage::accessed(CTX, "Z", EPOCH + 20), 20);
    assert!(h.store.contains(CTX, "X") && h.store.contains(CTX, "Y"), "queued, not applied");
    assert!(h.store.get(CTX, "Z").unwrap().primary);
    h.recv(&a, &SessionMessage::transfer_complete(CTX, EPOCH + 10), 30);
    assert!(h.store.contains(CTX, "X2") && !h.store.contains(CTX, "X"));
    assert!(!h.store.contains(CTX, "Y"));
    assert!(!h.store.get(CTX, "Z").unwrap().primary);
}

#[test]
fn without_state_timestamp_drop_every_queued_message_is_replayed() {
    let (a, c) = (member(1), member(3));
    let mut h = H::new(ManagerConfig { state_timestamp_drop: false, ..ManagerConfig::default() });
    h.members(vec![a.clone(), c.clone()], 0);
    h.start(0);
    h.take();
    h.recv(&a, &SessionMessage::created(CTX, "OLD", EPOCH - 1000, EPOCH), 10);
    h.recv(&c, &SessionMessage::get_all_sessions(CTX, EPOCH - 5), 20);
    h.recv(&a, &SessionMessage::transfer_complete(CTX, EPOCH + 200), 30);
    assert!(h.store.contains(CTX, "OLD"));
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::AllSessionData], "the queued request is served");
    assert_eq!(sent[0].to, Destination::One(c));
}

#[test]
fn a_state_transfer_timeout_goes_on_without_state() {
    let (a, b) = (member(1), member(2));
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    h.start(0);
    h.recv(&b, &SessionMessage::created(CTX, "Q", EPOCH + 5, EPOCH + 5), 10);
    h.take();
    h.advance(59_999);
    assert!(h.m.is_waiting(CTX));
    h.advance(60_000);
    assert!(!h.m.is_waiting(CTX));
    assert!(h.store.contains(CTX, "Q"), "queued after T0: replayed");
    assert!(h.notices().contains(&Notice::StateWaitEnded {
        context: CTX.into(),
        end: WaitEnd::Timeout,
        replayed: 1,
        dropped: 0
    }));
    assert_eq!(h.m.stats().snapshot().state_timeouts, 1);
}

#[test]
fn a_zero_timeout_does_not_wait_and_no_members_means_no_request() {
    let a = member(1);
    let mut h = H::new(ManagerConfig { state_transfer_timeout: Some(Duration::ZERO), ..ManagerConfig::default() });
    h.members(vec![a.clone()], 0);
    h.start(0);
    assert_eq!(events(&h.sends()), vec![EventType::GetAllSessions]);
    assert!(!h.m.is_waiting(CTX));
    // State arriving later is still applied.
    h.recv(&a, &state_data(&[record("X", &[])], EPOCH), 10);
    assert!(h.store.contains(CTX, "X"));

    let mut h = H::new(ManagerConfig::default());
    h.start(0);
    assert!(h.sends().is_empty());
    assert!(!h.m.is_waiting(CTX));
}

#[test]
fn start_from_asks_the_given_member_or_nobody() {
    let (a, b) = (member(1), member(2));
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone(), b.clone()], 0);
    let now = h.at(0);
    h.m.handle_start_from(None, now);
    h.drain();
    assert!(h.sends().is_empty() && !h.m.is_waiting(CTX));
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone(), b.clone()], 0);
    let now = h.at(0);
    h.m.handle_start_from(Some(b.clone()), now);
    h.drain();
    let sent = h.sends();
    assert_eq!((sent.len(), &sent[0].to), (1, &Destination::One(b)));
}

#[test]
fn no_context_manager_ends_the_wait() {
    let a = member(1);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone()], 0);
    h.start(0);
    h.take();
    h.recv(&a, &SessionMessage::no_context_manager(CTX), 10);
    assert!(!h.m.is_waiting(CTX));
    assert!(h.notices().iter().any(|n| matches!(n, Notice::StateWaitEnded { end: WaitEnd::NoContextManager, .. })));
}

#[test]
fn the_next_member_is_asked_when_the_asked_one_leaves() {
    let (a, b) = (member(1), member(2));
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![a.clone(), b.clone()], 0);
    h.start(0);
    h.take();
    h.members(vec![b.clone()], 1_000);
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::GetAllSessions]);
    assert_eq!(sent[0].to, Destination::One(b.clone()));
    assert!(h.m.is_waiting(CTX));
    h.members(vec![], 2_000);
    assert!(!h.m.is_waiting(CTX));
}

// ---------------------------------------------------------------------------------------------
// State transfer: responder

#[test]
fn get_all_sessions_for_a_context_not_held_gets_no_context_manager() {
    let b = member(2);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![b.clone()], 0);
    h.recv(&b, &SessionMessage::get_all_sessions("/other", EPOCH), 0);
    let sent = h.sends();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, Destination::One(b.clone()));
    assert_eq!(sent[0].message, SessionMessage::no_context_manager("/other"));
    assert_eq!(sent[0].options, SendOptions(8));
    // Other events for unknown contexts are only counted.
    h.recv(&b, &SessionMessage::created("/other", "S", EPOCH, EPOCH), 1);
    assert!(h.sends().is_empty());
    assert_eq!(h.m.stats().snapshot().unknown_context, 2);
}

fn session_ids_of(m: &SessionMessage) -> Vec<String> {
    decode_state(m.payload.as_ref().unwrap(), &jser::ParseOptions::default())
        .unwrap()
        .sessions
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[test]
fn the_responder_sends_transfer_complete_only_after_the_data_ack() {
    let b = member(2);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![b.clone()], 0);
    for id in ["S1", "S2", "S3"] {
        h.local(
            id,
            vec![
                LocalChange::Create { max_inactive_interval: None },
                LocalChange::SetAttribute { name: "a".into(), value: s(id) },
            ],
            0,
        )
        .unwrap();
    }
    h.take();
    h.recv(&b, &SessionMessage::get_all_sessions(CTX, EPOCH + 90), 100);
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::AllSessionData]);
    assert_eq!(sent[0].to, Destination::One(b.clone()));
    assert_eq!(sent[0].options, SendOptions(6), "USE_ACK + SYNCHRONIZED_ACK");
    assert_eq!(sent[0].message.timestamp, EPOCH + 100);
    assert_eq!(session_ids_of(&sent[0].message), ["S1", "S2", "S3"]);
    let token = sent[0].token.expect("a DATA send is reported back");
    assert_eq!(h.m.transfers_in_progress(), 1);
    h.advance(10_000);
    assert!(h.sends().is_empty(), "TRANSFERCOMPLETE waits for the ACK");
    h.ack(token, Ok(()), 10_001);
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::TransferComplete]);
    assert_eq!(sent[0].message.timestamp, EPOCH + 100, "the snapshot time");
    assert_eq!(sent[0].options, SendOptions(8));
    assert_eq!(h.m.transfers_in_progress(), 0);
    // A late or unknown token changes nothing.
    h.ack(token, Ok(()), 10_002);
    assert!(h.sends().is_empty());
}

#[test]
fn an_empty_store_sends_one_empty_data_or_with_batches_none() {
    let b = member(2);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![b.clone()], 0);
    h.recv(&b, &SessionMessage::get_all_sessions(CTX, EPOCH), 0);
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::AllSessionData]);
    assert!(session_ids_of(&sent[0].message).is_empty());
    h.ack(sent[0].token.unwrap(), Ok(()), 1);
    assert_eq!(events(&h.sends()), vec![EventType::TransferComplete]);

    let mut h = H::new(ManagerConfig { send_all_sessions: false, ..ManagerConfig::default() });
    h.members(vec![b.clone()], 0);
    h.recv(&b, &SessionMessage::get_all_sessions(CTX, EPOCH), 0);
    assert_eq!(events(&h.sends()), vec![EventType::TransferComplete]);
}

#[test]
fn batched_state_waits_between_slices_after_each_ack() {
    let b = member(2);
    let config = ManagerConfig {
        send_all_sessions: false,
        send_all_sessions_size: 2,
        send_all_sessions_wait_time: Duration::from_millis(2000),
        ..ManagerConfig::default()
    };
    let mut h = H::new(config);
    h.members(vec![b.clone()], 0);
    for i in 1..=5 {
        h.local(&format!("S{i}"), vec![LocalChange::Create { max_inactive_interval: None }], 0).unwrap();
    }
    h.take();
    h.recv(&b, &SessionMessage::get_all_sessions(CTX, EPOCH), 0);
    let sent = h.sends();
    assert_eq!(session_ids_of(&sent[0].message), ["S1", "S2"]);
    h.ack(sent[0].token.unwrap(), Ok(()), 100);
    assert!(h.sends().is_empty());
    assert!(h.m.poll_timeout().unwrap() <= h.origin + Duration::from_millis(2100));
    h.advance(2_099);
    assert!(h.sends().is_empty(), "the pause counts from the ACK");
    h.advance(2_100);
    let sent = h.sends();
    assert_eq!(session_ids_of(&sent[0].message), ["S3", "S4"]);
    assert_eq!(sent[0].message.timestamp, EPOCH, "every slice carries the snapshot time");
    // A failed slice is logged and the transfer goes on, as Tomcat's does.
    h.ack(sent[0].token.unwrap(), Err("timeout".into()), 2_300);
    h.advance(4_300);
    let sent = h.sends();
    assert_eq!(session_ids_of(&sent[0].message), ["S5"]);
    h.ack(sent[0].token.unwrap(), Ok(()), 4_400);
    let sent = h.sends();
    assert_eq!(events(&sent), vec![EventType::TransferComplete], "no pause after the last slice");
    assert_eq!(h.m.stats().snapshot().state_send_failures, 1);
}

#[test]
fn a_transfer_to_a_member_that_leaves_is_abandoned() {
    let b = member(2);
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![b.clone()], 0);
    h.recv(&b, &SessionMessage::get_all_sessions(CTX, EPOCH), 0);
    let token = h.sends()[0].token.unwrap();
    h.members(vec![], 10);
    assert_eq!(h.m.transfers_in_progress(), 0);
    h.ack(token, Err("gone".into()), 20);
    assert!(h.sends().is_empty());
}

#[test]
fn a_requester_not_listed_yet_is_served() {
    let (b, c, d) = (member(2), member(3), member(4));
    let mut h = H::new(ManagerConfig::default());
    h.members(vec![b.clone()], 0);
    h.recv(&c, &SessionMessage::get_all_sessions(CTX, EPOCH), 0);
    let sent = h.sends();
    assert_eq!(sent[0].to, Destination::One(c.clone()));
    h.members(vec![b.clone(), d.clone()], 10);
    assert_eq!(h.m.transfers_in_progress(), 1, "c never was a member: it did not leave");
    h.ack(sent[0].token.unwrap(), Ok(()), 20);
    assert_eq!(events(&h.sends()), vec![EventType::TransferComplete]);
}

// ---------------------------------------------------------------------------------------------
// Two machines

/// Delivers every send of `from` to `to` (and acknowledges DATA after `to` processed it) until
/// neither has anything left.
fn pump(x: &mut H, x_id: &MemberId, y: &mut H, y_id: &MemberId, ms: u64) {
    while step(x, x_id, y, y_id, ms) | step(y, y_id, x, x_id, ms) {}
    let _ = (x.take(), y.take());
}

/// Delivers `src`'s sends meant for `dst`; true if any.
fn step(src: &mut H, src_id: &MemberId, dst: &mut H, dst_id: &MemberId, ms: u64) -> bool {
    let mut moved = false;
    for s in src.sends() {
        let to_dst = match &s.to {
            Destination::All => true,
            Destination::One(m) => m == dst_id,
        };
        if to_dst {
            dst.recv(src_id, &s.message, ms);
            moved = true;
        }
        if let Some(t) = s.token {
            src.ack(t, Ok(()), ms);
            moved = true;
        }
    }
    moved
}

#[test]
fn two_nodes_starting_together_answer_each_other_at_once() {
    let (a_id, b_id) = (member(1), member(2));
    let mut a = H::new(ManagerConfig::default());
    let mut b = H::new(ManagerConfig::default());
    a.local("FROM-A", vec![LocalChange::Create { max_inactive_interval: None }], 0).unwrap();
    b.local("FROM-B", vec![LocalChange::Create { max_inactive_interval: None }], 0).unwrap();
    a.members(vec![b_id.clone()], 0);
    b.members(vec![a_id.clone()], 0);
    a.start(0);
    b.start(0);
    pump(&mut a, &a_id, &mut b, &b_id, 10);
    assert!(!a.m.is_waiting(CTX) && !b.m.is_waiting(CTX), "no timeout needed");
    assert!(a.store.contains(CTX, "FROM-B") && b.store.contains(CTX, "FROM-A"));
    assert_eq!(a.m.stats().snapshot().state_timeouts + b.m.stats().snapshot().state_timeouts, 0);
}

#[test]
fn two_machines_transfer_state_both_ways_and_replicate() {
    let (a_id, b_id) = (member(1), member(2));
    let mut a = H::new(ManagerConfig::default());
    a.start(0);
    a.members(vec![b_id.clone()], 0);
    for i in 0..20 {
        a.local(
            &format!("S{i:02}"),
            vec![
                LocalChange::Create { max_inactive_interval: None },
                LocalChange::SetAttribute { name: "i".into(), value: JavaValue::integer(i) },
            ],
            10,
        )
        .unwrap();
    }
    a.take();
    // B starts: asks A, gets everything.
    let mut b =
        H::new(ManagerConfig { send_all_sessions: false, send_all_sessions_size: 7, ..ManagerConfig::default() });
    b.members(vec![a_id.clone()], 100);
    b.start(100);
    pump(&mut a, &a_id, &mut b, &b_id, 200);
    assert!(!b.m.is_waiting(CTX));
    assert_eq!(b.store.count(CTX), Some(20));
    for i in 0..20 {
        let id = format!("S{i:02}");
        assert_eq!(b.store.get(CTX, &id).unwrap().attribute("i").unwrap().as_i32(), Some(i));
        assert!(!b.store.get(CTX, &id).unwrap().primary);
    }
    // B serves a request now: a change on B reaches A.
    b.local("S05", vec![LocalChange::SetAttribute { name: "by".into(), value: s("b") }], 300).unwrap();
    b.local("NEW", vec![LocalChange::Create { max_inactive_interval: None }], 300).unwrap();
    pump(&mut a, &a_id, &mut b, &b_id, 300);
    assert_eq!(a.attr("S05", "by").as_deref(), Some("b"));
    assert!(!a.store.get(CTX, "S05").unwrap().primary, "the primary moved to B");
    assert!(a.store.contains(CTX, "NEW"));
    // A restarts empty and gets the state back from B (batched: 21 sessions in 3 slices).
    let mut a2 = H::new(ManagerConfig::default());
    a2.members(vec![b_id.clone()], 400);
    a2.start(400);
    pump(&mut a2, &a_id, &mut b, &b_id, 500);
    assert_eq!(a2.store.count(CTX), Some(7), "one slice, then B pauses sendAllSessionsWaitTime");
    for ms in [2_500, 4_500] {
        b.advance(ms);
        pump(&mut a2, &a_id, &mut b, &b_id, ms);
    }
    assert_eq!(a2.store.count(CTX), Some(21));
    assert_eq!(a2.attr("S05", "by").as_deref(), Some("b"));
    let mut before: Vec<_> = b.store.sessions(CTX).unwrap().into_iter().map(|s| (s.id, s.attributes)).collect();
    let mut after: Vec<_> = a2.store.sessions(CTX).unwrap().into_iter().map(|s| (s.id, s.attributes)).collect();
    before.sort_by(|x, y| x.0.cmp(&y.0));
    after.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(before, after);
}
