//! Frames over UDP between our sender and our receiver: autoBind, ACK rules, one resend after
//! FAIL_ACK, members without a udpPort, and bad datagrams that leave the receiver serving.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tribes::channel::{ChannelConfig, ChannelError, GroupChannel, Payload};
use tribes::receiver::{AsyncHandler, ServeOptions};
use tribes::sender::FailureCause;
use tribes_wire::{ChannelData, Member, SendOptions, UniqueId};

fn member(port: u16, udp_port: i32, id: u8) -> Member {
    let mut m = Member::new("127.0.0.1".parse().unwrap(), i32::from(port), UniqueId([id; 16]), 0);
    m.udp_port = udp_port;
    m
}

/// Our UDP receiver; the handler fails the calls `fail` says.
async fn receiver(fail: impl Fn(usize) -> bool + Send + Sync + 'static) -> (u16, Arc<Mutex<Vec<ChannelData>>>) {
    let socket = tribes::udp::bind("127.0.0.1".parse().unwrap(), 0, 1).await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, calls) = (got.clone(), Arc::new(AtomicUsize::new(0)));
    let handler: AsyncHandler = Arc::new(move |m| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        g.lock().unwrap().push(m);
        Box::pin(std::future::ready(if fail(n) { Err("failing on purpose".to_string()) } else { Ok(()) }))
    });
    tribes::udp::serve(socket, ServeOptions::default(), handler);
    (port, got)
}

#[tokio::test]
async fn auto_bind_takes_the_next_free_udp_port() {
    let first = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    match tribes::udp::bind("127.0.0.1".parse().unwrap(), port, 3).await {
        Ok(s) => assert!(s.local_addr().unwrap().port() > port),
        Err(e) => assert!(e.to_string().contains("cannot bind"), "{e}"), // the next ports were taken too
    }
    let e = tribes::udp::bind("127.0.0.1".parse().unwrap(), port, 1).await.unwrap_err();
    assert_eq!((e.first, e.last), (port, port));
}

#[tokio::test]
async fn acknowledged_udp_messages_arrive_and_a_fail_ack_gives_one_resend() {
    let (port, got) = receiver(|n| n == 1 || n == 3 || n == 4).await;
    let us = GroupChannel::new(member(1, -1, 1), ChannelConfig::default());
    let them = member(9, i32::from(port), 2);
    let send = |options| us.send(std::slice::from_ref(&them), Payload::Bytes(Bytes::from_static(b"hi")), options);
    send(SendOptions(0x22)).await.unwrap(); // call 0
    send(SendOptions(0x26)).await.unwrap(); // call 1 fails, call 2 is the resend
    assert_eq!(got.lock().unwrap().len(), 3);
    match send(SendOptions(0x26)).await {
        Err(ChannelError::Send(e)) => {
            assert!(matches!(e.faulty[0].cause, FailureCause::FailAck), "{e}");
            assert_eq!(e.faulty[0].attempts, 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(got.lock().unwrap().len(), 5);
    assert!(got.lock().unwrap().iter().all(|m| &m.message[..] == b"hi"));
}

#[tokio::test]
async fn a_member_without_a_udp_port_fails_at_once_and_a_silent_port_times_out() {
    let us = GroupChannel::new(member(1, -1, 1), ChannelConfig::default());
    let p = || Payload::Bytes(Bytes::from_static(b"x"));
    match us.send(&[member(9, -1, 2)], p(), SendOptions(0x22)).await {
        Err(ChannelError::Send(e)) => assert!(matches!(e.faulty[0].cause, FailureCause::NoUdpPort(-1)), "{e}"),
        other => panic!("{other:?}"),
    }
    // A bound socket that never answers: the ACK wait ends at the sender's timeout.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = i32::from(silent.local_addr().unwrap().port());
    let config = ChannelConfig {
        sender: tribes::sender::SenderConfig { timeout: Duration::from_millis(300), ..Default::default() },
        ..Default::default()
    };
    let us = GroupChannel::new(member(1, -1, 1), config);
    match us.send(&[member(9, port, 2)], p(), SendOptions(0x22)).await {
        Err(ChannelError::Send(e)) => assert!(matches!(e.faulty[0].cause, FailureCause::Timeout(_)), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_bad_datagram_is_dropped_and_the_receiver_serves_on() {
    let (port, got) = receiver(|_| false).await;
    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    raw.send_to(b"JUNK that is not a frame", ("127.0.0.1", port)).await.unwrap();
    raw.send_to(b"FLT2002\x00\x00\x00\x03abcTLF2003", ("127.0.0.1", port)).await.unwrap();
    let us = GroupChannel::new(member(1, -1, 1), ChannelConfig::default());
    us.send(&[member(9, i32::from(port), 2)], Payload::Bytes(Bytes::from_static(b"ok")), SendOptions(0x22))
        .await
        .unwrap();
    assert_eq!(got.lock().unwrap().len(), 1);
}
