//! The channel's receive queue is bounded by bytes as well as by messages: a slow application
//! makes the connections wait (back-pressure) instead of growing memory, and a message's bytes
//! count until the application drops or completes it.

use std::time::Duration;

use bytes::Bytes;
use tribes::channel::{incoming_bounded, ChannelConfig, GroupChannel, Payload, DEFAULT_RECEIVE_QUEUE_BYTES};
use tribes::receiver::{self, ServeOptions};
use tribes_wire::{ChannelData, Member, SendOptions, UniqueId};

fn member(port: u16, id: u8) -> Member {
    Member::new("127.0.0.1".parse().unwrap(), i32::from(port), UniqueId([id; 16]), 0)
}

fn message(len: usize) -> ChannelData {
    ChannelData {
        options: SendOptions(1),
        timestamp: 0,
        unique_id: Bytes::from_static(&[5; 16]),
        address: member(1, 1),
        message: Bytes::from(vec![7u8; len]),
    }
}

/// Polls `f` once: whether it completed at once.
fn ready<F: std::future::Future>(f: F) -> bool {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    f.as_mut().poll(&mut cx).is_ready()
}

#[test]
fn the_default_byte_bound_is_64_mib() {
    assert_eq!(DEFAULT_RECEIVE_QUEUE_BYTES, 64 << 20);
    assert_eq!(ChannelConfig::default().receive_queue_bytes, 64 << 20);
}

#[tokio::test]
async fn a_message_waits_while_the_application_holds_the_byte_budget() {
    let (handler, mut rx) = incoming_bounded(1000, 10_000, Duration::from_secs(60));
    assert!(ready(handler(message(4000))), "4000 of 10000 bytes");
    assert!(ready(handler(message(4000))), "8000 of 10000 bytes");
    let third = tokio::spawn(handler(message(4000)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!third.is_finished(), "12000 bytes would be over the bound: the handler waits");
    // Taking a message out of the queue is not enough: the application still holds its bytes.
    let first = rx.recv().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!third.is_finished());
    drop(first);
    tokio::time::timeout(Duration::from_secs(1), third).await.expect("room after the drop").unwrap().unwrap();
    // Completing a message gives its bytes back too.
    rx.recv().await.unwrap().complete(Ok(()));
    rx.recv().await.unwrap().complete(Ok(()));
    // A message larger than the whole budget goes through alone, once everything else is back.
    assert!(ready(handler(message(50_000))), "an oversized message waits only for the others");
    let big = rx.recv().await.unwrap();
    let next = tokio::spawn(handler(message(1)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!next.is_finished(), "nothing passes while the oversized message is held");
    drop(big);
    tokio::time::timeout(Duration::from_secs(1), next).await.expect("room").unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_application_holds_back_a_sender_by_queued_bytes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = ChannelConfig { receive_queue: 10_000, receive_queue_bytes: 256 << 10, ..ChannelConfig::default() };
    let us = GroupChannel::new(member(port, 2), config);
    let (handler, mut rx) = us.incoming();
    let _receiver = receiver::serve_with(listener, ServeOptions::default(), handler);

    let them = GroupChannel::new(member(1, 3), ChannelConfig::default());
    let n = 64;
    let sender = tokio::spawn(async move {
        for _ in 0..n {
            let p = Payload::Bytes(Bytes::from(vec![1u8; 64 << 10]));
            them.send(&[member(port, 2)], p, SendOptions(0)).await.unwrap();
        }
        them
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // 4 MiB were sent; the queue holds at most 256 KiB of them (4 messages of 64 KiB). The rest
    // waits in socket buffers or in the sender.
    assert!(rx.len() <= 4, "{} messages of 64 KiB queued over a 256 KiB bound", rx.len());
    assert!(!rx.is_empty(), "the queue filled up to its bound");
    let mut got = 0;
    while got < n {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("the rest arrives").unwrap();
        got += 1;
    }
    tokio::time::timeout(Duration::from_secs(10), sender).await.unwrap().unwrap();
}
