//! The failure-detector service on 127.0.0.1, fed membership events directly (no multicast, no
//! Tomcat): a member whose port accepts connections survives the loss of its heartbeats, and a
//! member whose port refuses is removed right after a send failure is reported.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tribes::detector::FailureDetectorService;
use tribes::membership::MembershipEvent;
use tribes_proto::failure_detector::FailureDetectorConfig;
use tribes_proto::membership::DisappearReason;
use tribes_wire::{control, Member, UniqueId};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn member(port: u16, id: u8, alive: i64) -> Member {
    Member::new(LOCALHOST, i32::from(port), UniqueId::from_random([id; 16]), alive)
}

fn local() -> Member {
    // Nobody probes the local member; its port does not matter.
    member(1, 0xaa, 0)
}

async fn next(events: &mut broadcast::Receiver<MembershipEvent>) -> MembershipEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event from the detector within 10 s")
        .expect("the detector's channel is open")
}

/// A port that accepts connections and collects what each connection wrote.
async fn accepting_port() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                let _ = tx.send(buf);
            });
        }
    });
    (port, rx, task)
}

fn is_probe(bytes: &[u8]) -> bool {
    bytes.windows(control::TCP_FAIL_DETECT.len()).any(|w| w == control::TCP_FAIL_DETECT)
}

#[tokio::test]
async fn a_member_that_answers_probes_stays_when_its_heartbeats_stop() {
    let (port, mut written, acceptor) = accepting_port().await;
    let m = member(port, 1, 1000);
    let (below, below_rx) = broadcast::channel(16);
    let detector = FailureDetectorService::start_with_heartbeat(
        local(),
        FailureDetectorConfig::default(),
        below_rx,
        Duration::from_millis(100),
    );
    let mut above = detector.subscribe();

    below.send(MembershipEvent::Added(m.clone())).unwrap();
    assert_eq!(next(&mut above).await, MembershipEvent::Added(m.clone()), "added after the admission probe");
    let first = tokio::time::timeout(Duration::from_secs(5), written.recv()).await.unwrap().unwrap();
    assert!(is_probe(&first), "the admission probe writes a TCP_FAIL_DETECT frame: {first:02x?}");

    // Its heartbeats stop: the membership service below drops it after dropTime.
    below.send(MembershipEvent::Disappeared { member: m.clone(), reason: DisappearReason::Timeout }).unwrap();
    // The verification probe and then re-probes of the remove-suspect at the heartbeats.
    for _ in 0..3 {
        let bytes = tokio::time::timeout(Duration::from_secs(5), written.recv()).await.unwrap().unwrap();
        assert!(is_probe(&bytes));
    }
    assert!(above.try_recv().is_err(), "nothing propagated above: {:?}", above.try_recv());
    assert_eq!(detector.members(), vec![m.clone()], "still a member");

    // It comes back below: the suspicion is dropped, nothing propagated. Then a shutdown heartbeat
    // removes it at once, without a probe.
    below.send(MembershipEvent::Added(m.clone())).unwrap();
    below.send(MembershipEvent::Disappeared { member: m.to_shutdown(), reason: DisappearReason::Shutdown }).unwrap();
    match next(&mut above).await {
        MembershipEvent::Disappeared { member, reason } => {
            assert_eq!(member.id(), m.id());
            assert_eq!(reason, DisappearReason::Shutdown);
        }
        other => panic!("expected the shutdown to propagate, got {other:?}"),
    }
    assert!(detector.members().is_empty());
    acceptor.abort();
    detector.stop().await;
}

#[tokio::test]
async fn a_refused_member_is_removed_right_after_a_send_failure() {
    // A port that accepts (the kernel completes connects without accept()) until it is closed.
    let listener = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
    let doomed = member(listener.local_addr().unwrap().port(), 2, 2000);
    let (port, _written, acceptor) = accepting_port().await;
    let healthy = member(port, 3, 1000);

    let (below, below_rx) = broadcast::channel(16);
    // The default 5 s heartbeat, so that only the send failure can trigger the removal probe.
    let detector = FailureDetectorService::start(local(), FailureDetectorConfig::default(), below_rx);
    let mut above = detector.subscribe();

    below.send(MembershipEvent::Added(doomed.clone())).unwrap();
    assert_eq!(next(&mut above).await, MembershipEvent::Added(doomed.clone()));
    below.send(MembershipEvent::Added(healthy.clone())).unwrap();
    assert_eq!(next(&mut above).await, MembershipEvent::Added(healthy.clone()));

    // The member dies; the layer below still has it (its dropTime has not passed).
    drop(listener);
    detector.report_send_failure(doomed.clone());
    assert_eq!(
        next(&mut above).await,
        MembershipEvent::Disappeared { member: doomed.clone(), reason: DisappearReason::Timeout },
        "removed after the failed probe, without any event from below"
    );
    assert_eq!(detector.members(), vec![healthy.clone()]);

    // A send failure to a member that answers changes nothing.
    detector.report_send_failure(healthy.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(above.try_recv().is_err());
    assert_eq!(detector.members(), vec![healthy]);
    acceptor.abort();
    detector.stop().await;
}

#[tokio::test]
async fn a_forced_check_from_the_ping_handle_removes_a_member_whose_port_refuses() {
    // TcpPingInterceptor above the detector: each ping is a forced check of every member.
    let listener = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
    let doomed = member(listener.local_addr().unwrap().port(), 4, 1000);
    let (below, below_rx) = broadcast::channel(16);
    let detector = FailureDetectorService::start(local(), FailureDetectorConfig::default(), below_rx);
    let mut above = detector.subscribe();
    below.send(MembershipEvent::Added(doomed.clone())).unwrap();
    assert_eq!(next(&mut above).await, MembershipEvent::Added(doomed.clone()));
    drop(listener);
    detector.check_handle().forced_check();
    assert_eq!(
        next(&mut above).await,
        MembershipEvent::Disappeared { member: doomed, reason: DisappearReason::Timeout },
        "removed by the forced check, with nothing from below and no send"
    );
    detector.stop().await;
}
