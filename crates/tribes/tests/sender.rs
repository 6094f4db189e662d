//! The pooled sender and the channel against our own receiver and against scripted raw servers:
//! ACK waiting, resend after FAIL_ACK or EOF, timeouts, refused connections, parallel sends with
//! per-member failures, pool exhaustion, keepalive, and the asynchronous dispatcher's order.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tribes::channel::{ChannelConfig, ChannelError, DispatchConfig, GroupChannel, Payload};
use tribes::receiver::{self, AsyncHandler, ServeOptions};
use tribes::sender::{FailureCause, PooledSender, SenderConfig, SenderStats};
use tribes_wire::ack::{ACK_COMMAND, FAIL_ACK_COMMAND};
use tribes_wire::{ChannelData, FrameDecoder, Member, SendOptions, UniqueId};

fn member(port: u16, id: u8) -> Member {
    Member::new("127.0.0.1".parse().unwrap(), i32::from(port), UniqueId([id; 16]), 0)
}

fn local() -> Member {
    member(1, 0xee)
}

fn frame(options: i32, message: &[u8]) -> Bytes {
    ChannelData {
        options: SendOptions(options),
        timestamp: 0,
        unique_id: Bytes::from_static(&[5; 16]),
        address: local(),
        message: Bytes::copy_from_slice(message),
    }
    .to_frame()
}

fn get(c: &AtomicU64) -> u64 {
    SenderStats::get(c)
}

/// Our receiver on an ephemeral port; `fail` decides per delivered message whether it fails.
struct Rx {
    member: Member,
    messages: Arc<Mutex<Vec<ChannelData>>>,
    _task: tokio::task::JoinHandle<()>,
}

async fn our_receiver(id: u8, fail: impl Fn(usize) -> bool + Send + Sync + 'static) -> Rx {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let m = messages.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let handler: AsyncHandler = Arc::new(move |data| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        m.lock().unwrap().push(data);
        let r = if fail(n) { Err(format!("failing call {n} on purpose")) } else { Ok(()) };
        Box::pin(std::future::ready(r))
    });
    Rx { member: member(port, id), messages, _task: receiver::serve_with(listener, ServeOptions::default(), handler) }
}

/// A raw server that runs `script` on every accepted connection; counts connections.
async fn raw_server<F, Fut>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let n = a.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(script(s, n));
        }
    });
    (addr, accepted)
}

/// Reads one whole frame.
async fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    loop {
        if let Some(f) = FrameDecoder::default().decode(&mut buf).unwrap() {
            return Some(f);
        }
        if s.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

fn quick() -> SenderConfig {
    SenderConfig { timeout: Duration::from_millis(500), ..SenderConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sends_reuse_one_connection() {
    let rx = our_receiver(1, |_| false).await;
    let sender = PooledSender::new(SenderConfig::default());
    for (i, options) in [2, 3, 6, 7, 0, 1].into_iter().cycle().take(30).enumerate() {
        let r = sender
            .send(frame(options, format!("m{i}").as_bytes()), SendOptions(options), std::slice::from_ref(&rx.member))
            .await;
        assert_eq!(r.unwrap()[0].1.resends, 0);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got =
        rx.messages.lock().unwrap().iter().map(|m| String::from_utf8_lossy(&m.message).to_string()).collect::<Vec<_>>();
    assert_eq!(got, (0..30).map(|i| format!("m{i}")).collect::<Vec<_>>(), "all delivered, in order");
    assert_eq!(get(&sender.stats().connects), 1);
    assert_eq!(get(&sender.stats().messages), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_ack_gives_exactly_one_resend_on_a_new_connection() {
    let rx = our_receiver(1, |n| n == 0).await;
    let sender = PooledSender::new(SenderConfig::default());
    let r = sender.send(frame(7, b"once"), SendOptions(7), std::slice::from_ref(&rx.member)).await.unwrap();
    assert_eq!(r[0].1.resends, 1);
    assert_eq!(rx.messages.lock().unwrap().len(), 2, "processed twice: failed, then resent");
    assert_eq!(
        (get(&sender.stats().fail_acks), get(&sender.stats().resends), get(&sender.stats().connects)),
        (1, 1, 2)
    );

    // Failing every time: two attempts, then a FAIL_ACK failure; never a third delivery.
    let rx = our_receiver(2, |_| true).await;
    let e = sender.send(frame(7, b"never"), SendOptions(7), std::slice::from_ref(&rx.member)).await.unwrap_err();
    assert_eq!(e.faulty.len(), 1);
    assert!(matches!(e.faulty[0].cause, FailureCause::FailAck), "{e}");
    assert!(e.faulty[0].cause.is_remote_process_failure());
    assert_eq!(e.faulty[0].attempts, 2);
    assert_eq!(rx.messages.lock().unwrap().len(), 2);

    // maxRetryAttempts = 0: one attempt only.
    let rx = our_receiver(3, |_| true).await;
    let no_retry = PooledSender::new(SenderConfig { max_retry_attempts: 0, ..SenderConfig::default() });
    let e = no_retry.send(frame(7, b"x"), SendOptions(7), std::slice::from_ref(&rx.member)).await.unwrap_err();
    assert_eq!(e.faulty[0].attempts, 1);
    assert_eq!(rx.messages.lock().unwrap().len(), 1);

    // throwOnFailedAck = false: a FAIL_ACK counts as delivered.
    let lenient = PooledSender::new(SenderConfig { throw_on_failed_ack: false, ..SenderConfig::default() });
    lenient.send(frame(7, b"y"), SendOptions(7), std::slice::from_ref(&rx.member)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_once_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there
    let sender = PooledSender::new(quick());
    let e = sender.send(frame(2, b"x"), SendOptions(2), &[member(port, 1)]).await.unwrap_err();
    assert!(matches!(e.faulty[0].cause, FailureCause::Connect { .. }), "{e}");
    assert_eq!(e.faulty[0].attempts, 2);
    assert!(!e.faulty[0].cause.is_remote_process_failure());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_times_out_after_the_timeout_without_a_resend() {
    let (addr, accepted) = raw_server(|mut s, _| async move {
        while read_frame(&mut s).await.is_some() {} // never answers
    })
    .await;
    let sender = PooledSender::new(SenderConfig { timeout: Duration::from_millis(300), ..SenderConfig::default() });
    let started = Instant::now();
    let e = sender.send(frame(2, b"x"), SendOptions(2), &[member(addr.port(), 1)]).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e.faulty[0].cause, FailureCause::Timeout(_)), "{e}");
    assert!(took >= Duration::from_millis(290) && took < Duration::from_millis(800), "{took:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "timeouts are not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_other_than_acks_are_consumed_and_ignored_while_waiting() {
    let (addr, _) = raw_server(|mut s, _| async move {
        while read_frame(&mut s).await.is_some() {
            let mut other = BytesMut::new();
            tribes_wire::frame::encode_frame(b"something else", &mut other);
            s.write_all(&other).await.unwrap();
            s.write_all(&ACK_COMMAND).await.unwrap();
        }
    })
    .await;
    let sender = PooledSender::new(quick());
    for _ in 0..3 {
        sender.send(frame(2, b"x"), SendOptions(2), &[member(addr.port(), 1)]).await.unwrap();
    }
    assert_eq!(get(&sender.stats().connects), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eof_before_the_ack_is_retried_on_a_new_connection_then_reported() {
    let (addr, accepted) = raw_server(|mut s, _| async move {
        let _ = read_frame(&mut s).await; // read, then close without answering
    })
    .await;
    let sender = PooledSender::new(quick());
    let e = sender.send(frame(2, b"x"), SendOptions(2), &[member(addr.port(), 1)]).await.unwrap_err();
    assert!(matches!(e.faulty[0].cause, FailureCause::Eof), "{e}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_use_ack_nothing_is_awaited_and_a_closed_pooled_connection_is_replaced() {
    // The server closes the first connection after one frame, and keeps later ones.
    let (addr, accepted) =
        raw_server(|mut s, n| async move { while read_frame(&mut s).await.is_some() && n > 0 {} }).await;
    let sender = PooledSender::new(quick());
    let m = member(addr.port(), 1);
    sender.send(frame(0, b"a"), SendOptions(0), std::slice::from_ref(&m)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // the server has closed it by now
                                                          // The write may still succeed into the kernel; the health-check read sees EOF and resends.
    sender.send(frame(0, b"b"), SendOptions(0), std::slice::from_ref(&m)).await.unwrap();
    // The server's accept loop counts the new connection a moment after our connect returned.
    let deadline = Instant::now() + Duration::from_secs(5);
    while accepted.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_send_reports_only_the_faulty_members() {
    let a = our_receiver(1, |_| false).await;
    let b = our_receiver(2, |_| false).await;
    let dead = member(1, 3); // port 1: refused
    let sender = PooledSender::new(quick());
    let e = sender
        .send(
            frame(6, b"to all"),
            SendOptions(6),
            &[a.member.clone(), dead.clone(), b.member.clone(), a.member.clone()],
        )
        .await
        .unwrap_err();
    assert_eq!(e.faulty.len(), 1, "{e}");
    assert_eq!(e.faulty[0].member, dead.id());
    assert_eq!(a.messages.lock().unwrap().len(), 1, "a duplicate destination is sent once");
    assert_eq!(b.messages.lock().unwrap().len(), 1);
    // After a failure the whole slot was disconnected: the next send reconnects.
    let ok = sender.send(frame(6, b"again"), SendOptions(6), &[a.member.clone(), b.member.clone()]).await.unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(get(&sender.stats().connects), 4, "a and b, then a and b again (refused connects are not counted)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_finds_no_free_slot_within_max_wait_fails_for_every_member() {
    let (addr, _) = raw_server(|mut s, _| async move { while read_frame(&mut s).await.is_some() {} }).await;
    let sender = Arc::new(PooledSender::new(SenderConfig {
        pool_size: 1,
        max_wait: Duration::from_millis(100),
        timeout: Duration::from_millis(1500),
        ..SenderConfig::default()
    }));
    let m = member(addr.port(), 1);
    let busy = {
        let (sender, m) = (sender.clone(), m.clone());
        tokio::spawn(async move { sender.send(frame(2, b"stuck"), SendOptions(2), &[m]).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let e = sender.send(frame(2, b"waits"), SendOptions(2), &[m.clone(), member(9, 9)]).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(600));
    assert_eq!(e.faulty.len(), 2);
    assert!(e.faulty.iter().all(|f| matches!(f.cause, FailureCause::PoolExhausted(_))), "{e}");
    assert!(busy.await.unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_closes_connections_by_count_by_age_and_when_the_member_closed_them() {
    let rx = our_receiver(1, |_| false).await;
    let by_count = PooledSender::new(SenderConfig { keep_alive_count: Some(2), ..SenderConfig::default() });
    for _ in 0..5 {
        by_count.send(frame(2, b"k"), SendOptions(2), std::slice::from_ref(&rx.member)).await.unwrap();
    }
    // Requests 1-3 on the first connection (closed once it carried more than 2), 4-5 on the next.
    assert_eq!(get(&by_count.stats().connects), 2);

    let by_age = PooledSender::new(SenderConfig {
        keep_alive_time: Some(Duration::from_millis(100)),
        ..SenderConfig::default()
    });
    by_age.send(frame(2, b"k"), SendOptions(2), std::slice::from_ref(&rx.member)).await.unwrap();
    assert_eq!(by_age.keepalive(), 0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(by_age.keepalive(), 1);
    assert_eq!(by_age.idle_connections(), 0);

    let (addr, _) = raw_server(|mut s, _| async move {
        let _ = read_frame(&mut s).await;
        s.write_all(&ACK_COMMAND).await.unwrap();
    })
    .await;
    let sender = PooledSender::new(SenderConfig::default());
    sender.send(frame(2, b"k"), SendOptions(2), &[member(addr.port(), 1)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sender.keepalive(), 1, "the member closed it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_ack_from_a_raw_server_then_an_ack_on_the_new_connection() {
    let (addr, accepted) = raw_server(|mut s, n| async move {
        while read_frame(&mut s).await.is_some() {
            s.write_all(if n == 0 { &FAIL_ACK_COMMAND } else { &ACK_COMMAND }).await.unwrap();
        }
    })
    .await;
    let sender = PooledSender::new(quick());
    let r = sender.send(frame(6, b"x"), SendOptions(6), &[member(addr.port(), 1)]).await.unwrap();
    assert_eq!(r[0].1.resends, 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

// ---- the channel ----

fn seq_of(m: &ChannelData) -> u64 {
    u64::from_be_bytes(m.message[..8].try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_builds_messages_as_group_channel_does() {
    let me = local();
    let channel = GroupChannel::new(me.clone(), ChannelConfig::default());
    let m = channel.message(&Payload::Bytes(Bytes::from_static(b"b")), SendOptions(6));
    assert_eq!(m.options, SendOptions(7));
    assert_eq!(m.address, me);
    assert_eq!(m.unique_id.len(), 16);
    assert_eq!(m.unique_id[6] >> 4, 4, "UUID v4");
    assert_eq!(m.unique_id[8] >> 6, 2, "UUID variant");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now - m.timestamp).abs() < 5_000);
    let s = channel.message(&Payload::Serialized(Bytes::from_static(b"\xac\xed\x00\x05")), SendOptions(9));
    assert_eq!(s.options, SendOptions(8));
    assert_ne!(m.unique_id, s.unique_id);
    assert!(matches!(
        channel.send(&[], Payload::Bytes(Bytes::new()), SendOptions(2)).await,
        Err(ChannelError::NoDestination)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_messages_keep_their_order_per_destination() {
    let a = our_receiver(1, |_| false).await;
    let b = our_receiver(2, |_| false).await;
    let channel = GroupChannel::new(local(), ChannelConfig::default());
    let n = 2000u64;
    for seq in 0..n {
        let mut p = seq.to_be_bytes().to_vec();
        p.extend_from_slice(&[7; 100]);
        channel.send(&[a.member.clone(), b.member.clone()], Payload::Bytes(p.into()), SendOptions(8)).await.unwrap();
    }
    for rx in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while (rx.messages.lock().unwrap().len() as u64) < n {
            assert!(Instant::now() < deadline, "only {} of {n} arrived", rx.messages.lock().unwrap().len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got: Vec<u64> = rx.messages.lock().unwrap().iter().map(seq_of).collect();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert!(rx.messages.lock().unwrap().iter().all(|m| m.options == SendOptions(9)));
    }
    assert_eq!(channel.queued_bytes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_the_caller_wait_with_always_send_and_fails_without() {
    let rx = our_receiver(1, |_| false).await;
    let config = ChannelConfig {
        dispatch: DispatchConfig { max_queue_size: 4096, ..DispatchConfig::default() },
        ..ChannelConfig::default()
    };
    let channel = GroupChannel::new(local(), config.clone());
    let n = 300u64;
    for seq in 0..n {
        let mut p = seq.to_be_bytes().to_vec();
        p.extend_from_slice(&[1; 1000]);
        channel.send(std::slice::from_ref(&rx.member), Payload::Bytes(p.into()), SendOptions(10)).await.unwrap();
    }
    assert!(channel.dispatch_stats().overflowed.load(Ordering::Relaxed) > 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while (rx.messages.lock().unwrap().len() as u64) < n {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got: Vec<u64> = rx.messages.lock().unwrap().iter().map(seq_of).collect();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "overflowing messages do not overtake queued ones");

    // An overflowing message to a dead member: the caller gets the failure.
    let dead = member(1, 9);
    let strict = GroupChannel::new(
        local(),
        ChannelConfig { dispatch: DispatchConfig { always_send: false, ..config.dispatch.clone() }, ..config.clone() },
    );
    let big = Payload::Bytes(Bytes::from(vec![0; 5000]));
    assert!(matches!(
        strict.send(std::slice::from_ref(&dead), big.clone(), SendOptions(8)).await,
        Err(ChannelError::QueueFull { .. })
    ));
    let waits = GroupChannel::new(local(), config);
    match waits.send(&[dead], big, SendOptions(8)).await {
        Err(ChannelError::Send(e)) => assert!(matches!(e.faulty[0].cause, FailureCause::Connect { .. })),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_verdict_decides_between_ack_and_fail_ack() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let them = GroupChannel::new(member(port, 2), ChannelConfig::default());
    let (handler, mut incoming) = them.incoming();
    let _rx = receiver::serve_with(listener, ServeOptions::default(), handler);
    let app = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(m) = incoming.recv().await {
            let first = seen.is_empty();
            seen.push((m.awaits_verdict(), m.payload()));
            m.complete(if first { Err("not now".into()) } else { Ok(()) });
            if seen.len() == 3 {
                return seen;
            }
        }
        seen
    });
    let us = GroupChannel::new(local(), ChannelConfig::default());
    us.send(&[them.local().clone()], Payload::Bytes(Bytes::from_static(b"sync")), SendOptions(6)).await.unwrap();
    us.send(&[them.local().clone()], Payload::Serialized(Bytes::from_static(b"\xac\xed\x00\x05")), SendOptions(2))
        .await
        .unwrap();
    let seen = app.await.unwrap();
    assert_eq!(seen[0], (true, Payload::Bytes(Bytes::from_static(b"sync"))));
    assert_eq!(seen[1], (true, Payload::Bytes(Bytes::from_static(b"sync"))), "resent after FAIL_ACK");
    assert_eq!(seen[2], (false, Payload::Serialized(Bytes::from_static(b"\xac\xed\x00\x05"))));
    assert_eq!(get(&us.sender().stats().resends), 1);
}

// ---- one ordered, bounded queue per member ----

fn numbered(seq: u64, len: usize) -> Vec<u8> {
    let mut p = seq.to_be_bytes().to_vec();
    p.resize(len.max(8), seq as u8);
    p
}

async fn wait_for(rx: &Rx, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while rx.messages.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} arrived", rx.messages.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_queued_behind_each_other_arrive_whole_and_in_order_on_one_connection() {
    let rx = our_receiver(1, |_| false).await;
    let sender = PooledSender::new(SenderConfig::default());
    let n = 3000u64;
    let sizes = [10usize, 1000, 70_000, 300, 5000];
    for seq in 0..n {
        // Mostly without ack (queued and written together), now and then one with USE_ACK.
        let options = if seq % 500 == 499 { 2 } else { 0 };
        let p = numbered(seq, sizes[seq as usize % sizes.len()]);
        sender.send(frame(options, &p), SendOptions(options), std::slice::from_ref(&rx.member)).await.unwrap();
    }
    wait_for(&rx, n as usize).await;
    let got = rx.messages.lock().unwrap();
    for (seq, m) in got.iter().enumerate() {
        assert_eq!(m.message[..], numbered(seq as u64, sizes[seq % sizes.len()])[..], "message {seq}");
    }
    assert_eq!(get(&sender.stats().connects), 1);
    assert_eq!(get(&sender.stats().failures), 0);
    assert_eq!(sender.queued_bytes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_and_acknowledged_messages_to_one_member_keep_their_order() {
    let rx = our_receiver(1, |_| false).await;
    let channel = GroupChannel::new(local(), ChannelConfig::default());
    let n = 600u64;
    for seq in 0..n {
        // Runs of ASYNCHRONOUS messages, each followed by one USE_ACK+SYNCHRONIZED_ACK message.
        let options = if seq % 7 == 6 { 6 } else { 8 };
        let p = Payload::Bytes(numbered(seq, 200).into());
        channel.send(std::slice::from_ref(&rx.member), p, SendOptions(options)).await.unwrap();
    }
    wait_for(&rx, n as usize).await;
    let got: Vec<u64> = rx.messages.lock().unwrap().iter().map(seq_of).collect();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    assert_eq!(get(&channel.sender().stats().connects), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_makes_senders_wait_instead_of_growing_the_queue() {
    // Accepts connections and never reads from them.
    let (addr, _) = raw_server(|s, _| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    let config = ChannelConfig {
        sender: SenderConfig { timeout: Duration::from_secs(3), ..SenderConfig::default() },
        ..ChannelConfig::default()
    };
    let channel = Arc::new(GroupChannel::new(local(), config));
    let stalled = member(addr.port(), 1);
    let frame_len = 64 << 10;
    let total = 400u64; // 26 MB, far more than the queue and the socket buffers hold
    let sent = Arc::new(AtomicU64::new(0));
    let sending = {
        let (channel, stalled, sent) = (channel.clone(), stalled.clone(), sent.clone());
        tokio::spawn(async move {
            for _ in 0..total {
                let p = Payload::Bytes(Bytes::from(vec![3u8; frame_len]));
                channel.send(std::slice::from_ref(&stalled), p, SendOptions(8)).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // The caller stops making progress once the queue is full; the queue stays within its bound.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let queued = channel.sender().queued_bytes();
        assert!(queued <= tribes::sender::LINK_QUEUE_BYTES + frame_len, "{queued} bytes queued");
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
        assert!(Instant::now() < deadline, "the caller never waited ({now} sent)");
    }
    assert!(last < total, "the caller waits for room");
    assert!(channel.queued_bytes() <= tribes::sender::LINK_QUEUE_BYTES + 2 * frame_len + (512 << 10));
    // After the sender's timeout the stalled frames fail (counted, not reported to the caller),
    // which makes room again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while channel.dispatch_stats().failed.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "no queued send failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sending.abort();
}

// ---- acknowledged frames pipelined on the member's connection ----

/// The payload of message `seq` of sending task `task`.
fn tagged(task: u32, seq: u32) -> Vec<u8> {
    let mut p = task.to_be_bytes().to_vec();
    p.extend_from_slice(&seq.to_be_bytes());
    p.resize(64, 9);
    p
}

fn tag_of(message: &[u8]) -> (u32, u32) {
    (u32::from_be_bytes(message[..4].try_into().unwrap()), u32::from_be_bytes(message[4..8].try_into().unwrap()))
}

/// The sequence numbers each of `tasks` tasks' messages arrived in, repeated deliveries next to
/// each other counted once.
fn per_task(tags: impl IntoIterator<Item = (u32, u32)>, tasks: u32) -> Vec<Vec<u32>> {
    let mut seen = vec![Vec::new(); tasks as usize];
    for (task, seq) in tags {
        let s: &mut Vec<u32> = &mut seen[task as usize];
        if s.last() != Some(&seq) {
            s.push(seq);
        }
    }
    seen
}

/// `tasks` tasks each send `n` frames one after the other to `to`, with the options `options`
/// gives for (task, seq); returns every outcome.
async fn send_from_tasks(
    sender: &Arc<PooledSender>,
    to: &Member,
    tasks: u32,
    n: u32,
    options: fn(u32, u32) -> i32,
) -> Vec<Vec<Result<u32, String>>> {
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (sender, to) = (sender.clone(), to.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::with_capacity(n as usize);
                for seq in 0..n {
                    let o = options(task, seq);
                    let r = sender.send(frame(o, &tagged(task, seq)), SendOptions(o), std::slice::from_ref(&to)).await;
                    outcomes.push(r.map(|d| d[0].1.resends).map_err(|e| e.to_string()));
                }
                outcomes
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.push(h.await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acknowledged_sends_arrive_once_and_in_order() {
    for pipeline_synchronized_acks in [false, true] {
        concurrent_acknowledged_sends(SenderConfig { pipeline_synchronized_acks, ..SenderConfig::default() }).await;
    }
}

async fn concurrent_acknowledged_sends(config: SenderConfig) {
    let rx = our_receiver(1, |_| false).await;
    let sender = Arc::new(PooledSender::new(config));
    let (tasks, n) = (32, 200);
    // Half the tasks USE_ACK (ACK on receipt), half USE_ACK + SYNCHRONIZED_ACK (after processing).
    let outcomes = send_from_tasks(&sender, &rx.member, tasks, n, |task, _| if task % 2 == 0 { 2 } else { 6 }).await;
    for o in &outcomes {
        assert!(o.iter().all(|r| r == &Ok(0)), "every caller gets its ACK: {o:?}");
    }
    // With USE_ACK alone the receiver answers before it hands the message on.
    wait_for(&rx, (tasks * n) as usize).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got: Vec<(u32, u32)> = rx.messages.lock().unwrap().iter().map(|m| tag_of(&m.message)).collect();
    assert_eq!(got.len(), (tasks * n) as usize, "each message arrives once");
    for (task, seqs) in per_task(got, tasks).into_iter().enumerate() {
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "task {task} in order");
    }
    if sender.config().pipeline_synchronized_acks {
        assert_eq!(get(&sender.stats().connects), 1);
    } else {
        // SYNCHRONIZED_ACK frames may take extra connections while one is awaited on the first.
        let (connects, extra) = (get(&sender.stats().connects), get(&sender.stats().extra_sends));
        assert!((1..=1 + extra.min(24)).contains(&connects), "{connects} connections, {extra} extra sends");
    }
    assert_eq!(get(&sender.stats().messages), u64::from(tasks * n));
    assert_eq!((get(&sender.stats().resends), get(&sender.stats().failures)), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_frames_are_written_without_waiting_for_the_previous_ack() {
    // Answers every frame in order, and notes how many frames one read brought.
    let most = Arc::new(AtomicUsize::new(0));
    let m = most.clone();
    let (addr, accepted) = raw_server(move |mut s, _| {
        let m = m.clone();
        async move {
            let mut buf = BytesMut::new();
            loop {
                buf.reserve(64 << 10); // read what has arrived, not one frame at a time
                if !s.read_buf(&mut buf).await.is_ok_and(|n| n > 0) {
                    return;
                }
                let mut frames = 0;
                while FrameDecoder::default().decode(&mut buf).unwrap().is_some() {
                    frames += 1;
                }
                m.fetch_max(frames, Ordering::SeqCst);
                for _ in 0..frames {
                    s.write_all(&ACK_COMMAND).await.unwrap();
                }
            }
        }
    })
    .await;
    let sender = Arc::new(PooledSender::new(SenderConfig::default()));
    let outcomes = send_from_tasks(&sender, &member(addr.port(), 1), 16, 50, |_, _| 2).await;
    assert!(outcomes.iter().flatten().all(|r| r == &Ok(0)));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert!(most.load(Ordering::SeqCst) > 1, "several USE_ACK frames were in flight at once");

    // max_unacked = 1: the next USE_ACK frame leaves once the previous one was answered.
    most.store(0, Ordering::SeqCst);
    let one = Arc::new(PooledSender::new(SenderConfig { max_unacked: 1, ..SenderConfig::default() }));
    let outcomes = send_from_tasks(&one, &member(addr.port(), 1), 16, 50, |_, _| 2).await;
    assert!(outcomes.iter().flatten().all(|r| r == &Ok(0)));
    assert_eq!(most.load(Ordering::SeqCst), 1);

    // SYNCHRONIZED_ACK frames go alone by default (a stock receiver may answer them out of order)
    // and are pipelined with pipeline_synchronized_acks.
    most.store(0, Ordering::SeqCst);
    let outcomes = send_from_tasks(&sender, &member(addr.port(), 1), 16, 50, |_, seq| [6, 7][seq as usize % 2]).await;
    assert!(outcomes.iter().flatten().all(|r| r == &Ok(0)));
    assert_eq!(most.load(Ordering::SeqCst), 1);
    let piped =
        Arc::new(PooledSender::new(SenderConfig { pipeline_synchronized_acks: true, ..SenderConfig::default() }));
    let outcomes = send_from_tasks(&piped, &member(addr.port(), 1), 16, 50, |_, _| 6).await;
    assert!(outcomes.iter().flatten().all(|r| r == &Ok(0)));
    assert!(most.load(Ordering::SeqCst) > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_acks_in_a_pipeline_give_exactly_one_resend_for_those_frames() {
    for pipeline_synchronized_acks in [true, false] {
        fail_acks_give_one_resend(SenderConfig { pipeline_synchronized_acks, ..SenderConfig::default() }).await;
    }
}

async fn fail_acks_give_one_resend(config: SenderConfig) {
    // Fails the first delivery of every message whose sequence number is 3 modulo 10.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::<(u32, u32)>::new()));
    let l = log.clone();
    let handler: AsyncHandler = Arc::new(move |data: ChannelData| {
        let tag = tag_of(&data.message);
        let mut log = l.lock().unwrap();
        let first = !log.contains(&tag);
        log.push(tag);
        let r = if first && tag.1 % 10 == 3 { Err("failing on purpose".to_string()) } else { Ok(()) };
        Box::pin(std::future::ready(r))
    });
    let _rx = receiver::serve_with(listener, ServeOptions::default(), handler);
    let sender = Arc::new(PooledSender::new(config));
    let (tasks, n) = (16, 100);
    let outcomes = send_from_tasks(&sender, &member(port, 1), tasks, n, |_, _| 6).await;
    for o in &outcomes {
        for (seq, r) in o.iter().enumerate() {
            assert_eq!(r, &Ok(u32::from(seq % 10 == 3)), "seq {seq}");
        }
    }
    let log = log.lock().unwrap().clone();
    for task in 0..tasks {
        for seq in 0..n {
            let times = log.iter().filter(|t| **t == (task, seq)).count();
            assert_eq!(times, if seq % 10 == 3 { 2 } else { 1 }, "message {task}/{seq}");
        }
    }
    for (task, seqs) in per_task(log, tasks).into_iter().enumerate() {
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "task {task} in order");
    }
    let failed = u64::from(tasks * n / 10);
    assert_eq!((get(&sender.stats().fail_acks), get(&sender.stats().resends)), (failed, failed));
    assert_eq!(get(&sender.stats().failures), 0);
}

/// A raw server that answers ACK to every frame, except on its first connection, which it closes
/// without answering once it has read `close_after` frames; logs (connection, tag) per frame.
async fn closing_server(close_after: usize) -> (SocketAddr, Arc<AtomicUsize>, Arc<Mutex<Vec<(usize, (u32, u32))>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let (addr, accepted) = raw_server(move |mut s, conn| {
        let l = l.clone();
        async move {
            let mut buf = BytesMut::new();
            let mut read = 0;
            loop {
                buf.reserve(64 << 10);
                if !s.read_buf(&mut buf).await.is_ok_and(|n| n > 0) {
                    return;
                }
                let mut acks = 0;
                while let Some(f) = FrameDecoder::default().decode(&mut buf).unwrap() {
                    let data = ChannelData::decode(&f).unwrap();
                    l.lock().unwrap().push((conn, tag_of(&data.message)));
                    read += 1;
                    if conn == 0 && read >= close_after {
                        return; // closed, the frames read since the last answer unanswered
                    }
                    acks += usize::from(data.options.contains(SendOptions::USE_ACK));
                }
                for _ in 0..acks {
                    s.write_all(&ACK_COMMAND).await.unwrap();
                }
            }
        }
    })
    .await;
    (addr, accepted, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_closes_mid_pipeline_gets_the_unanswered_frames_again_on_a_new_connection() {
    let (addr, accepted, log) = closing_server(300).await;
    let sender = Arc::new(PooledSender::new(SenderConfig::default()));
    let (tasks, n) = (16, 60);
    let outcomes = send_from_tasks(&sender, &member(addr.port(), 1), tasks, n, |_, _| 2).await;
    for o in &outcomes {
        assert!(o.iter().all(|r| matches!(r, Ok(0 | 1))), "every caller gets its ACK: {o:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    let log = log.lock().unwrap().clone();
    let tags = log.iter().map(|(_, t)| *t);
    for (task, seqs) in per_task(tags, tasks).into_iter().enumerate() {
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "task {task}: each message, in order");
    }
    // Resent: exactly the frames the first connection read last, unanswered.
    let resent: Vec<(u32, u32)> = log.iter().filter(|(c, _)| *c == 1).map(|(_, t)| *t).collect();
    let duplicates = resent.iter().filter(|t| log.iter().any(|(c, u)| *c == 0 && u == *t)).count();
    assert!(duplicates >= 1, "the frame read last on the first connection is resent");
    assert_eq!(get(&sender.stats().resends) as usize, outcomes.iter().flatten().filter(|r| r == &&Ok(1)).count());
    assert_eq!(get(&sender.stats().failures), 0);

    // Without resends the frames in flight fail, and every caller still gets an outcome.
    let (addr, accepted, _) = closing_server(300).await;
    let once = Arc::new(PooledSender::new(SenderConfig { max_retry_attempts: 0, ..SenderConfig::default() }));
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let (sender, to) = (once.clone(), member(addr.port(), 1));
            tokio::spawn(async move {
                let mut errors = 0;
                for seq in 0..n {
                    let r = sender.send(frame(2, &tagged(task, seq)), SendOptions(2), std::slice::from_ref(&to)).await;
                    if let Err(e) = r {
                        assert_eq!(e.faulty[0].attempts, 1);
                        assert!(matches!(e.faulty[0].cause, FailureCause::Eof | FailureCause::Io(_)), "{e}");
                        errors += 1;
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = 0;
    for h in handles {
        errors += h.await.unwrap();
    }
    assert!(errors >= 1);
    assert_eq!(get(&once.stats().failures), errors);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_acknowledged_and_unacknowledged_frames_keep_their_order() {
    let rx = our_receiver(1, |_| false).await;
    let sender = Arc::new(PooledSender::new(SenderConfig::default()));
    let (tasks, n) = (12, 300);
    // Each task mixes runs without USE_ACK (returning once queued) with USE_ACK frames.
    let outcomes = send_from_tasks(&sender, &rx.member, tasks, n, |task, seq| {
        [0, 1, 2, 0, 0, 6, 3, 7][((task + seq) % 8) as usize]
    })
    .await;
    assert!(outcomes.iter().flatten().all(|r| r == &Ok(0)));
    // And one task queues frames without waiting (ASYNCHRONOUS, some with USE_ACK).
    for seq in 0..n {
        let o = if seq % 5 == 4 { 10 } else { 8 };
        sender.enqueue(&rx.member, frame(o, &tagged(tasks, seq)), SendOptions(o), None, None).await;
    }
    wait_for(&rx, ((tasks + 1) * n) as usize).await;
    let got: Vec<(u32, u32)> = rx.messages.lock().unwrap().iter().map(|m| tag_of(&m.message)).collect();
    assert_eq!(got.len(), ((tasks + 1) * n) as usize, "each message arrives once");
    for (task, seqs) in per_task(got, tasks + 1).into_iter().enumerate() {
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "task {task} in order");
    }
    // SYNCHRONIZED_ACK frames may take extra connections while one is awaited on the first.
    let (connects, extra) = (get(&sender.stats().connects), get(&sender.stats().extra_sends));
    assert!((1..=1 + extra.min(24)).contains(&connects), "{connects} connections, {extra} extra sends");
    assert_eq!(get(&sender.stats().failures), 0);
}

/// A stock receiver (TribesPeer on the Tomcat 10.1 release, or the last one listed) takes
/// pipelined acknowledged frames from many tasks at once: each arrives once, and each caller gets
/// its ACK. (Its NioReplicationTask may process frames of one connection on two workers, so the
/// order is not checked here; see the sender's module docs.)
#[test]
fn concurrent_acknowledged_sends_to_a_stock_receiver_arrive_once() {
    use tomcat_harness::java_peer::{fields, JavaPeer};
    let tomcats = tomcat_harness::tomcats();
    let tomcat = tomcats.iter().find(|t| t.line() == "10.1").or(tomcats.last()).expect("a Tomcat release");
    let log =
        tomcat_harness::repo_root().join("target/tribes-peer/sender_pipeline").join(format!("{}.log", tomcat.version));
    let mut peer = JavaPeer::start("run-tribes-peer.sh", tomcat, 4900, log).unwrap_or_else(|e| panic!("{e}"));
    let them = Member::new("127.0.0.1".parse().unwrap(), i32::from(peer.port), UniqueId(peer.id()), 0);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (tasks, n) = (16u64, 200u64);
    // (options, FAIL_ACKs: the stock listener fails one message this many times while they flow)
    for (options, fails) in [(2, 0u64), (6, 0), (6, 5), (6, 5), (6, 5)] {
        assert_eq!(peer.cmd("reset", Duration::from_secs(30)).unwrap(), "ok");
        let channel = Arc::new(rt.block_on(async { GroupChannel::new(local(), ChannelConfig::default()) }));
        if fails > 0 {
            assert_eq!(peer.cmd("fail 1", Duration::from_secs(30)).unwrap(), "ok");
        }
        let handles: Vec<_> = (0..tasks)
            .map(|task| {
                let (channel, them) = (channel.clone(), them.clone());
                rt.spawn(async move {
                    let mut failures = Vec::new();
                    for seq in 0..n {
                        let p = Payload::Bytes(numbered(task * n + seq, 100).into());
                        if let Err(e) = channel.send(std::slice::from_ref(&them), p, SendOptions(options)).await {
                            failures.push(e.to_string());
                        }
                    }
                    failures
                })
            })
            .collect();
        for _ in 1..fails {
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(peer.cmd("fail 1", Duration::from_secs(30)).unwrap(), "ok");
        }
        let mut failures = Vec::new();
        for h in handles {
            failures.extend(rt.block_on(h).unwrap());
        }
        assert_eq!(peer.cmd("fail 0", Duration::from_secs(30)).unwrap(), "ok");
        assert!(failures.is_empty(), "options {options}: {failures:?}");
        let got = peer.cmd(&format!("wait {} 60000", tasks * n), Duration::from_secs(90)).unwrap();
        let resends = get(&channel.sender().stats().resends);
        let (connects, extra) = (get(&channel.sender().stats().connects), get(&channel.sender().stats().extra_sends));
        eprintln!(
            "options {options}, {fails} failing: {got}; {resends} resends; {connects} connections, {extra} extra sends"
        );
        let f = fields(&got);
        let all = (tasks * n).to_string();
        assert_eq!(
            (f["count"].as_str(), f["distinct"].as_str()),
            (all.as_str(), all.as_str()),
            "options {options}: {got}"
        );
        assert_eq!(f["dups"].as_str(), "0", "options {options}: {got}");
        // Each failed delivery was resent once, and the failed message was the one resent.
        assert_eq!(f["failed"], resends.to_string(), "options {options}: {got}");
        assert!(fails == 0 || resends > 0, "options {options}: {got}");
    }
    let log = peer.log_text();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("WARNING") || l.starts_with("SEVERE"))
        .filter(|l| *l != "WARNING: Error receiving message:") // the failures on purpose
        .collect();
    assert!(complaints.is_empty(), "the stock peer complained:\n{log}");
}

// ---- extra connections while a SYNCHRONIZED_ACK frame is awaited ----

/// Our receiver behind a proxy that counts the connections made to it; the handler takes a
/// moment over each message so that SYNCHRONIZED_ACK answers are awaited a while.
async fn counted_receiver() -> (Member, Arc<Mutex<Vec<(u32, u32)>>>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let handler: AsyncHandler = Arc::new(move |data: ChannelData| {
        l.lock().unwrap().push(tag_of(&data.message));
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(())
        })
    });
    tokio::spawn(async move {
        let _rx = receiver::serve_with(listener, ServeOptions::default(), handler);
        std::future::pending::<()>().await;
    });
    let (front, accepted) = raw_server(move |mut s, _| async move {
        let mut to = TcpStream::connect(backend).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut s, &mut to).await;
    })
    .await;
    (member(front.port(), 1), log, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_synchronized_sends_use_up_to_pool_size_connections() {
    for pool_size in [25, 3, 1] {
        let (to, log, accepted) = counted_receiver().await;
        let sender = Arc::new(PooledSender::new(SenderConfig { pool_size, ..SenderConfig::default() }));
        let (tasks, n) = (16, 40);
        let outcomes = send_from_tasks(&sender, &to, tasks, n, |_, _| 6).await;
        assert!(outcomes.iter().flatten().all(|r| r == &Ok(0)), "pool {pool_size}: {outcomes:?}");
        let got = log.lock().unwrap().clone();
        assert_eq!(got.len(), (tasks * n) as usize, "pool {pool_size}: each message arrives once");
        for (task, seqs) in per_task(got, tasks).into_iter().enumerate() {
            assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "pool {pool_size}: task {task} in order");
        }
        let connections = accepted.load(Ordering::SeqCst);
        assert_eq!(connections as u64, get(&sender.stats().connects));
        assert!(connections <= pool_size, "pool {pool_size}: {connections} connections");
        if pool_size > 1 {
            assert!(connections > 1, "pool {pool_size}: several connections used");
            assert!(get(&sender.stats().extra_sends) > 0);
        } else {
            assert_eq!(get(&sender.stats().extra_sends), 0);
        }
        // Idle extra connections are kept for reuse, and keepalive leaves them open.
        assert_eq!(sender.idle_connections(), connections);
        assert_eq!(sender.keepalive(), 0);
        assert_eq!(get(&sender.stats().failures), 0);
    }
}

/// A raw receiver that logs (connection, tag) per frame (the tag is the message up to `|`) and
/// answers each USE_ACK frame: `hold*` once [`Script::release`]d, `fail*` FAIL_ACK on its first
/// delivery, `never*` FAIL_ACK always, others ACK at once.
struct Script {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<(usize, String)>>>,
    hold: Arc<tokio::sync::Semaphore>,
}

impl Script {
    async fn start() -> Script {
        let log = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
        let hold = Arc::new(tokio::sync::Semaphore::new(0));
        let (l, h) = (log.clone(), hold.clone());
        let (addr, accepted) = raw_server(move |mut s, conn| {
            let (l, h) = (l.clone(), h.clone());
            async move {
                let mut buf = BytesMut::new();
                loop {
                    let Some(f) = FrameDecoder::default().decode(&mut buf).unwrap() else {
                        if !s.read_buf(&mut buf).await.is_ok_and(|n| n > 0) {
                            return;
                        }
                        continue;
                    };
                    let data = ChannelData::decode(&f).unwrap();
                    let end = data.message.iter().position(|b| *b == b'|').unwrap_or(data.message.len());
                    let tag = String::from_utf8_lossy(&data.message[..end]).to_string();
                    let first = {
                        let mut log = l.lock().unwrap();
                        let first = !log.iter().any(|(_, t)| *t == tag);
                        log.push((conn, tag.clone()));
                        first
                    };
                    if !data.options.contains(SendOptions::USE_ACK) {
                        continue;
                    }
                    if tag.starts_with("hold") {
                        h.acquire().await.unwrap().forget();
                    }
                    let fail = tag.starts_with("never") || (tag.starts_with("fail") && first);
                    let answer: &[u8] = if fail { &FAIL_ACK_COMMAND } else { &ACK_COMMAND };
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            }
        })
        .await;
        Script { addr, accepted, log, hold }
    }

    fn log(&self) -> Vec<(usize, String)> {
        self.log.lock().unwrap().clone()
    }

    fn tags_on(&self, conn: usize) -> Vec<String> {
        self.log().into_iter().filter(|(c, _)| *c == conn).map(|(_, t)| t).collect()
    }

    async fn wait_for(&self, tag: &str) {
        let start = Instant::now();
        while !self.log().iter().any(|(_, t)| t == tag) {
            assert!(start.elapsed() < Duration::from_secs(10), "{tag} never arrived: {:?}", self.log());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn release(&self) {
        self.hold.add_permits(1);
    }
}

fn send_task(
    sender: &Arc<PooledSender>,
    to: &Member,
    options: i32,
    message: Vec<u8>,
) -> tokio::task::JoinHandle<Result<u32, tribes::sender::SendError>> {
    let (sender, to) = (sender.clone(), to.clone());
    tokio::spawn(async move {
        let r = sender.send(frame(options, &message), SendOptions(options), std::slice::from_ref(&to)).await;
        r.map(|d| d[0].1.resends)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronized_frame_takes_an_extra_connection_only_when_nothing_is_ahead_of_it() {
    let srv = Script::start().await;
    let sender = Arc::new(PooledSender::new(SenderConfig::default()));
    let to = member(srv.addr.port(), 1);
    let tags = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();

    // A big ASYNCHRONOUS frame queued behind an awaited SYNCHRONIZED_ACK frame: the same caller's
    // next SYNCHRONIZED_ACK frame waits behind it on the ordered connection.
    let hold = send_task(&sender, &to, 6, b"hold1|".to_vec());
    srv.wait_for("hold1").await;
    let mut big = b"big|".to_vec();
    big.resize(900 << 10, 7); // with room behind it in the member's queue (LINK_QUEUE_BYTES)
    sender.enqueue(&to, frame(8, &big), SendOptions(8), None, None).await;
    let after_big = send_task(&sender, &to, 6, b"after-big|".to_vec());
    tokio::time::sleep(Duration::from_millis(50)).await; // room for a wrong sender to overtake
    assert_eq!(srv.tags_on(0), tags(&["hold1"]));
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
    srv.release();
    assert_eq!(hold.await.unwrap().unwrap(), 0);
    assert_eq!(after_big.await.unwrap().unwrap(), 0);
    assert_eq!(srv.tags_on(0), tags(&["hold1", "big", "after-big"]));

    // A frame without USE_ACK written before the awaited one may still be on its way: the next
    // SYNCHRONIZED_ACK frame waits on the ordered connection too.
    sender.enqueue(&to, frame(8, b"async|"), SendOptions(8), None, None).await;
    srv.wait_for("async").await;
    let hold = send_task(&sender, &to, 6, b"hold2|".to_vec());
    srv.wait_for("hold2").await;
    let behind = send_task(&sender, &to, 6, b"behind|".to_vec());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
    srv.release();
    assert_eq!(hold.await.unwrap().unwrap(), 0);
    assert_eq!(behind.await.unwrap().unwrap(), 0);
    assert_eq!(srv.tags_on(0), tags(&["hold1", "big", "after-big", "async", "hold2", "behind"]));
    assert_eq!(get(&sender.stats().extra_sends), 0);

    // Everything before the awaited frame answered and nothing queued: the next acknowledged
    // frames go on an extra connection, and are answered while the first is still awaited.
    let hold = send_task(&sender, &to, 6, b"hold3|".to_vec());
    srv.wait_for("hold3").await;
    for (i, options) in [6, 2, 7].into_iter().enumerate() {
        let r = send_task(&sender, &to, options, format!("extra{i}|").into_bytes()).await.unwrap();
        assert_eq!(r.unwrap(), 0);
    }
    assert_eq!(srv.tags_on(1), tags(&["extra0", "extra1", "extra2"]), "one extra connection, reused");
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 2);
    assert!(!hold.is_finished());
    srv.release();
    assert_eq!(hold.await.unwrap().unwrap(), 0);
    assert_eq!(get(&sender.stats().extra_sends), 3);
    assert_eq!(sender.idle_connections(), 2);
    assert_eq!((get(&sender.stats().resends), get(&sender.stats().failures)), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_ack_on_an_extra_connection_gives_exactly_one_resend() {
    let srv = Script::start().await;
    let sender = Arc::new(PooledSender::new(SenderConfig::default()));
    let to = member(srv.addr.port(), 1);
    let hold = send_task(&sender, &to, 6, b"hold|".to_vec());
    srv.wait_for("hold").await;

    // Failed once: resent on a fresh connection, which is then kept.
    assert_eq!(send_task(&sender, &to, 6, b"fail1|".to_vec()).await.unwrap().unwrap(), 1);
    let on = |tag: &str| srv.log().into_iter().filter(|(_, t)| t == tag).map(|(c, _)| c).collect::<Vec<_>>();
    assert_eq!(on("fail1"), [1, 2]);
    // Failing every time: two attempts, then a FAIL_ACK failure; never a third delivery.
    let e = send_task(&sender, &to, 6, b"never|".to_vec()).await.unwrap().unwrap_err();
    assert_eq!(e.faulty.len(), 1);
    assert!(matches!(e.faulty[0].cause, FailureCause::FailAck), "{e}");
    assert_eq!(e.faulty[0].attempts, 2);
    assert_eq!(on("never"), [2, 3]);
    // The connection that answered FAIL_ACK is not reused: the next frame opens another one.
    assert_eq!(send_task(&sender, &to, 6, b"ok|".to_vec()).await.unwrap().unwrap(), 0);
    assert_eq!(on("ok"), [4]);
    assert!(!hold.is_finished());
    srv.release();
    assert_eq!(hold.await.unwrap().unwrap(), 0);
    assert_eq!(on("hold"), [0]);
    let stats = sender.stats();
    assert_eq!((get(&stats.fail_acks), get(&stats.resends), get(&stats.failures)), (3, 2, 1));
    assert_eq!((get(&stats.connects), get(&stats.extra_sends)), (5, 3));
}
