//! Frames over UDP: the receiver's datagram socket (`NioReceiver` with `udpPort > 0`) and the
//! sender's datagram exchange (`NioSender` with `udpBased`, for SEND_OPTIONS_UDP).
//!
//! Spec: `transport.md` §1.3, `tribes-wire.md` §6 and §8. Java sources
//! `transport/ReceiverBase.java` (`bindUdp`), `transport/nio/NioReceiver.java`,
//! `transport/nio/NioReplicationTask.java` (datagrams), `transport/nio/NioSender.java`.
//!
//! One frame per datagram (several are accepted), at most 65535 bytes. ACK rules are TCP's: with
//! USE_ACK alone the ACK goes before processing, with SYNCHRONIZED_ACK after it (FAIL_ACK when
//! processing failed); the ACK datagram goes to the datagram's source address. Control messages
//! (failure-detector probes, pings) are dropped.
//!
//! Differences from stock, on purpose: each datagram is decoded on its own (stock appends
//! datagrams to one shared buffer, so one bad datagram wedges every later one, and a frame split
//! over two datagrams would be joined); a bad datagram is logged with its source and dropped.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use tribes_wire::{Ack, FrameDecoder};

use crate::receiver::{AsyncHandler, BindError, Received, ServeOptions};
use crate::sender::{FailureCause, SenderConfig};

/// The largest datagram (`ChannelReceiver.MAX_UDP_SIZE`).
pub const MAX_UDP_SIZE: usize = 65535;

/// Binds the first free UDP port of `port ..= port + autoBind - 1` on `address`, pausing 25 ms
/// between tries, as `ReceiverBase.bindUdp` does.
pub async fn bind(address: IpAddr, port: u16, auto_bind: u16) -> Result<UdpSocket, BindError> {
    let tries = auto_bind.max(1);
    let last = port.saturating_add(tries - 1);
    let mut last_error = None;
    for p in port..=last {
        match UdpSocket::bind(SocketAddr::new(address, p)).await {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                last_error = Some(e);
                if p < last {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
            Err(e) => return Err(BindError { address, first: port, last: p, source: e }),
        }
    }
    Err(BindError {
        address,
        first: port,
        last,
        source: last_error.unwrap_or_else(|| std::io::Error::other("no port tried")),
    })
}

/// Serves datagrams until the task is aborted: frames of one datagram in order, datagrams in
/// arrival order, the handler awaited for each message (a slow application delays the next).
pub fn serve(socket: UdpSocket, options: ServeOptions, handler: AsyncHandler) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_UDP_SIZE];
        let decoder = FrameDecoder::new(options.max_frame_len.min(MAX_UDP_SIZE));
        loop {
            let (n, peer) = match socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // An ICMP error from an earlier ACK shows up here; nothing to close.
                    tracing::debug!(error = %e, "udp receive failed");
                    continue;
                }
            };
            if let Err(reason) = datagram(&socket, &buf[..n], peer, &decoder, &handler).await {
                tracing::warn!(%peer, %reason, "udp datagram dropped");
            }
        }
    })
}

async fn datagram(
    socket: &UdpSocket,
    bytes: &[u8],
    peer: SocketAddr,
    decoder: &FrameDecoder,
    handler: &AsyncHandler,
) -> Result<(), String> {
    let mut buf = BytesMut::from(bytes);
    while let Some(payload) = decoder.decode(&mut buf).map_err(|e| format!("bad frame: {e}"))? {
        let received = Received::decode(&payload)?;
        if let Some(ack) = received.ack_before() {
            send_ack(socket, peer, ack).await?;
        }
        if let Some(ack) = received.process(peer, handler).await {
            send_ack(socket, peer, ack).await?;
        }
    }
    if !buf.is_empty() {
        return Err(format!("{} bytes after the last whole frame", buf.len()));
    }
    Ok(())
}

async fn send_ack(socket: &UdpSocket, peer: SocketAddr, ack: Ack) -> Result<(), String> {
    socket.send_to(ack.frame(), peer).await.map(drop).map_err(|e| format!("sending {ack:?} failed: {e}"))
}

/// Sends `frame` as one datagram to `addr` and, with `wait_ack`, waits for an ACK or FAIL_ACK
/// datagram from it (other frames are ignored, as `NioSender.read` does). The caller bounds the
/// time. A fresh socket per exchange: stock closes its UDP "connections" at every keepalive.
pub(crate) async fn exchange(
    addr: SocketAddr,
    frame: &[u8],
    wait_ack: bool,
    config: &SenderConfig,
) -> Result<(), FailureCause> {
    if frame.len() > MAX_UDP_SIZE {
        return Err(FailureCause::Io(std::io::Error::other(format!(
            "a frame of {} bytes does not fit in a datagram ({MAX_UDP_SIZE} at most)",
            frame.len()
        ))));
    }
    let local: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local).await.map_err(FailureCause::Io)?;
    socket.connect(addr).await.map_err(FailureCause::Io)?;
    socket.send(frame).await.map_err(FailureCause::Io)?;
    if !wait_ack {
        return Ok(());
    }
    let decoder = FrameDecoder::new(config.max_reply_len);
    let mut buf = vec![0u8; MAX_UDP_SIZE];
    loop {
        // A refused port comes back as ECONNREFUSED on a connected socket.
        let n = socket.recv(&mut buf).await.map_err(FailureCause::Io)?;
        let mut replies = BytesMut::from(&buf[..n]);
        while let Some(reply) = decoder.decode(&mut replies).map_err(FailureCause::BadReply)? {
            match Ack::from_payload(&reply) {
                Some(Ack::Ack) => return Ok(()),
                Some(Ack::FailAck) if !config.throw_on_failed_ack => return Ok(()),
                Some(Ack::FailAck) => return Err(FailureCause::FailAck),
                None => tracing::debug!(len = reply.len(), "udp frame that is not an ACK ignored"),
            }
        }
    }
}
