//! Two SessionServices on 127.0.0.1, each with its own GroupChannel and receiver, members given
//! directly: state transfer to a starting node, then create / set / remove / rename / invalidate
//! replicated both ways, and a burst of changes to one session arriving in order.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tribes::channel::{ChannelConfig, GroupChannel};
use tribes::membership::MembershipEvent;
use tribes::receiver::{self, ServeOptions};
use tribes::session::{LocalChange, SessionConfig, SessionError, SessionService};
use tribes_proto::session::manager::ManagerConfig;
use tribes_proto::session::{EventType, JavaValue};
use tribes_wire::{Member, UniqueId};

const CTX: &str = "localhost#/app";

struct Node {
    member: Member,
    events: broadcast::Sender<MembershipEvent>,
    service: SessionService,
    _receiver: tokio::task::JoinHandle<()>,
}

async fn node(n: u8, alive: i64, members: Vec<Member>, config: ManagerConfig) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let member = Member::new("127.0.0.1".parse().unwrap(), i32::from(port), UniqueId([n; 16]), alive);
    let channel = Arc::new(GroupChannel::new(member.clone(), ChannelConfig::default()));
    let (handler, incoming) = channel.incoming();
    let receiver = receiver::serve_with(listener, ServeOptions::default(), handler);
    let (events, events_rx) = broadcast::channel(16);
    let config =
        SessionConfig { manager: config, contexts: vec![CTX.to_string()], member_wait: Duration::from_millis(100) };
    let service = SessionService::start(channel, incoming, members, events_rx, config);
    Node { member, events, service, _receiver: receiver }
}

/// Waits up to 10 s for `f` to hold.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn attr(n: &Node, id: &str, name: &str) -> Option<JavaValue> {
    n.service.store().get(CTX, id)?.attribute(name).cloned()
}

fn set(name: &str, v: &str) -> LocalChange {
    LocalChange::SetAttribute { name: name.into(), value: JavaValue::string(v) }
}

fn create() -> LocalChange {
    LocalChange::Create { max_inactive_interval: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_transfer_state_and_replicate_changes_both_ways() {
    // A runs alone and holds sessions.
    let a = node(1, 10_000, Vec::new(), ManagerConfig::default()).await;
    a.service.apply(CTX, "S1", vec![create(), set("a", "1")]).await.unwrap();
    a.service.apply(CTX, "S2", vec![create(), set("b", "2")]).await.unwrap();
    assert_eq!(a.service.apply("/nope", "S1", vec![create()]).await, Err(SessionError::UnknownContext("/nope".into())));
    assert_eq!(
        a.service.apply(CTX, "S9", vec![LocalChange::Access]).await,
        Err(SessionError::UnknownSession { context: CTX.into(), id: "S9".into() })
    );
    tokio::time::sleep(Duration::from_millis(200)).await; // A has started (no members: no request)

    // B starts knowing A, and asks it for the state.
    let b = node(2, 10, vec![a.member.clone()], ManagerConfig::default()).await;
    a.events.send(MembershipEvent::Added(b.member.clone())).unwrap();
    eventually("B has A's sessions", || b.service.store().count(CTX) == Some(2)).await;
    assert_eq!(attr(&b, "S1", "a").and_then(|v| v.as_string()).as_deref(), Some("1"));
    eventually("B's wait ended by TRANSFERCOMPLETE", || {
        b.service.manager_stats().received_of(EventType::TransferComplete) == 1
    })
    .await;
    let sb = b.service.stats();
    assert_eq!(sb.manager.state_timeouts, 0);
    assert_eq!(b.service.manager_stats().received_of(EventType::AllSessionData), 1);
    assert_eq!(a.service.manager_stats().received_of(EventType::GetAllSessions), 1);

    // A -> B: set, remove, create, rename, invalidate.
    a.service.apply(CTX, "S1", vec![set("a", "1b"), set("c", "3")]).await.unwrap();
    eventually("B sees the new values", || {
        attr(&b, "S1", "c").is_some() && attr(&b, "S1", "a").and_then(|v| v.as_string()).as_deref() == Some("1b")
    })
    .await;
    a.service.apply(CTX, "S1", vec![LocalChange::RemoveAttribute { name: "c".into() }]).await.unwrap();
    eventually("B sees the removal", || attr(&b, "S1", "c").is_none()).await;
    a.service.apply(CTX, "S3", vec![create(), set("x", "y")]).await.unwrap();
    eventually("B has S3 with its attribute", || attr(&b, "S3", "x").is_some()).await;
    a.service.apply(CTX, "S3", vec![LocalChange::ChangeId { new_id: "S3.b".into() }]).await.unwrap();
    eventually("B renamed S3", || b.service.store().contains(CTX, "S3.b") && !b.service.store().contains(CTX, "S3"))
        .await;
    a.service.apply(CTX, "S2", vec![LocalChange::Invalidate]).await.unwrap();
    eventually("B expired S2", || !b.service.store().contains(CTX, "S2")).await;

    // B -> A: a request on B for a session whose primary was A moves the primary.
    b.service.apply(CTX, "S1", vec![set("from", "b")]).await.unwrap();
    eventually("A sees B's change", || attr(&a, "S1", "from").is_some()).await;
    assert!(b.service.store().get(CTX, "S1").unwrap().primary);
    eventually("A's copy is a backup now", || !a.service.store().get(CTX, "S1").unwrap().primary).await;

    assert_eq!(a.service.stats().manager.malformed, 0);
    assert_eq!(b.service.stats().manager.malformed, 0);
    assert_eq!(b.service.stats().manager.pending_dropped, 0);
    a.service.stop().await;
    b.service.stop().await;
    assert_eq!(b.service.store().count(CTX), Some(0), "stop expires locally");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_changes_to_one_session_arrives_in_order() {
    let a = node(3, 10_000, Vec::new(), ManagerConfig::default()).await;
    let b = node(4, 10, vec![a.member.clone()], ManagerConfig::default()).await;
    a.events.send(MembershipEvent::Added(b.member.clone())).unwrap();
    eventually("B's state wait ended", || b.service.manager_stats().received_of(EventType::TransferComplete) == 1)
        .await;
    eventually("A knows B", || {
        // A has started once it answered; its member list has B once the event was read.
        a.service.manager_stats().received_of(EventType::GetAllSessions) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for s in 0..20 {
        let id = format!("B{s}");
        a.service.apply(CTX, &id, vec![create(), set("n", "0")]).await.unwrap();
        for i in 1..=50 {
            a.service
                .apply(CTX, &id, vec![LocalChange::SetAttribute { name: "n".into(), value: JavaValue::integer(i) }])
                .await
                .unwrap();
        }
    }
    eventually("every session's last value arrived", || {
        (0..20).all(|s| attr(&b, &format!("B{s}"), "n").and_then(|v| v.as_i32()) == Some(50))
    })
    .await;
    let stats = b.service.stats().manager;
    assert_eq!(b.service.manager_stats().received_of(EventType::Delta), 20 * 51);
    assert_eq!(stats.pending_applied, 0, "no DELTA overtook its CREATED");
    assert_eq!(stats.pending_deltas, 0);
    a.service.stop().await;
    b.service.stop().await;
}

/// Tomcat's request threads call `apply_local` from outside the runtime, several at once: each
/// thread's changes reach the member in its order, and after the stop a change is refused, not
/// queued and not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_changes_from_threads_outside_the_runtime_replicate_in_order() {
    let a = node(7, 10_000, Vec::new(), ManagerConfig::default()).await;
    let b = node(8, 10, vec![a.member.clone()], ManagerConfig::default()).await;
    a.events.send(MembershipEvent::Added(b.member.clone())).unwrap();
    eventually("B's state wait ended", || b.service.manager_stats().received_of(EventType::TransferComplete) == 1)
        .await;
    eventually("A knows B", || a.service.manager_stats().received_of(EventType::GetAllSessions) == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let service = &a.service;
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            for t in 0..4 {
                scope.spawn(move || {
                    for s in 0..5 {
                        let id = format!("T{t}S{s}");
                        service.apply_local(CTX, &id, vec![create(), set("n", "0")]).unwrap();
                        for i in 1..=50 {
                            let change = LocalChange::SetAttribute { name: "n".into(), value: JavaValue::integer(i) };
                            service.apply_local(CTX, &id, vec![change]).unwrap();
                        }
                    }
                });
            }
        });
    });
    eventually("every session's last value arrived", || {
        (0..4).all(|t| (0..5).all(|s| attr(&b, &format!("T{t}S{s}"), "n").and_then(|v| v.as_i32()) == Some(50)))
    })
    .await;
    assert_eq!(b.service.manager_stats().received_of(EventType::Delta), 4 * 5 * 51);
    assert_eq!(b.service.stats().manager.pending_applied, 0, "no DELTA overtook its CREATED");
    a.service.stop().await;
    let refused = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| scope.spawn(|| service.apply_local(CTX, "T0S0", vec![set("n", "late")])).join())
    })
    .expect("apply_local after the stop does not panic");
    assert!(matches!(refused, Err(SessionError::Stopped)), "after the stop: {refused:?}");
    b.service.stop().await;
}

/// The Java bridge's start waits on `state_settled` as DeltaManager's start waits in
/// `getAllClusterSessions`: alone, a node settles with "no members"; a node that knows a member
/// settles once the state arrived, with the sessions in its store; a context added later is asked
/// for its state too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_waits_settle_when_the_state_arrives_and_for_contexts_added_later() {
    use tribes::session::StateOutcome;
    use tribes_proto::session::manager::WaitEnd;

    let a = node(1, 10_000, Vec::new(), ManagerConfig::default()).await;
    assert_eq!(a.service.state_status("/nope"), None);
    let alone = tokio::time::timeout(Duration::from_secs(10), a.service.state_settled(CTX)).await.unwrap();
    assert_eq!(alone, Some(StateOutcome::NoMembers));
    for i in 0..50 {
        a.service.apply(CTX, &format!("S{i}"), vec![create(), set("a", "1")]).await.unwrap();
    }
    assert!(a.service.add_context("localhost#/late").await.unwrap());
    assert!(!a.service.add_context("localhost#/late").await.unwrap(), "held already");
    a.service.apply("localhost#/late", "L1", vec![create(), set("l", "1")]).await.unwrap();

    let b = node(2, 10, vec![a.member.clone()], ManagerConfig::default()).await;
    a.events.send(MembershipEvent::Added(b.member.clone())).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), b.service.state_settled(CTX)).await.unwrap();
    assert_eq!(got, Some(StateOutcome::Ended(WaitEnd::Transferred)));
    assert_eq!(b.service.store().count(CTX), Some(50), "settled means the sessions are in the store");

    assert!(b.service.add_context("localhost#/late").await.unwrap());
    let late = tokio::time::timeout(Duration::from_secs(30), b.service.state_settled("localhost#/late")).await.unwrap();
    assert_eq!(late, Some(StateOutcome::Ended(WaitEnd::Transferred)));
    assert!(attr_in(&b, "localhost#/late", "L1", "l").is_some());
    // A context that A does not hold: NOCONTEXTMANAGER ends the wait at once.
    assert!(b.service.add_context("localhost#/only-b").await.unwrap());
    let none =
        tokio::time::timeout(Duration::from_secs(30), b.service.state_settled("localhost#/only-b")).await.unwrap();
    assert_eq!(none, Some(StateOutcome::Ended(WaitEnd::NoContextManager)));
    a.service.stop().await;
    b.service.stop().await;
}

fn attr_in(n: &Node, context: &str, id: &str, name: &str) -> Option<JavaValue> {
    n.service.store().get(context, id)?.attribute(name).cloned()
}

/// A member that stops reading: messages for it wait in the ordered queue up to
/// ORDERED_QUEUE_BYTES, and local changes then wait (back-pressure) instead of growing memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_changes_wait_while_a_member_does_not_take_our_messages() {
    use tribes::session::ORDERED_QUEUE_BYTES;

    // The "member": accepts connections and never reads from them.
    let stalled = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = stalled.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((c, _)) = stalled.accept().await {
            connections.push(c);
        }
    });
    let member = Member::new("127.0.0.1".parse().unwrap(), i32::from(port), UniqueId([9; 16]), 99_999);
    let config = ManagerConfig { state_transfer_timeout: Some(Duration::ZERO), ..ManagerConfig::default() };
    let a = Arc::new(node(1, 10, vec![member], config).await);
    a.service.apply(CTX, "S", vec![create()]).await.unwrap();

    let big = "x".repeat(1 << 20);
    let producer = {
        let a = a.clone();
        tokio::spawn(async move {
            for i in 0..150 {
                a.service.apply(CTX, "S", vec![set(&format!("a{i}"), &big)]).await.unwrap();
            }
        })
    };
    let mut max = 0u64;
    for _ in 0..800 {
        max = max.max(a.service.stats().queued_bytes);
        if producer.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let bound = (ORDERED_QUEUE_BYTES + (2 << 20)) as u64;
    assert!(max <= bound, "queued {max} bytes, over the bound {bound}");
    assert!(
        max + (4 << 20) >= ORDERED_QUEUE_BYTES as u64,
        "the queue never filled ({max} bytes): the test did not reach the back-pressure"
    );
    producer.abort();
    held.abort();
}
