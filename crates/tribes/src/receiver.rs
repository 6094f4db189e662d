//! The TCP receiver (`transport.nio.NioReceiver` with `NioReplicationTask`): binds with autoBind,
//! reads frames of each connection in order, answers ACK or FAIL_ACK by Tomcat's rules, drops
//! interceptor control messages (TcpFailureDetector probes, TcpPing), and hands every other
//! message to a handler. A bad frame closes only its own connection.
//!
//! This first version serves membership: stock TcpFailureDetectors connect to a member's port and
//! write a probe before they accept it, so a node must listen. The full receiver (back-pressure,
//! limits, metrics) comes with the data path.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tribes_wire::options::AckMode;
use tribes_wire::{Ack, ChannelData, ControlPayload, FrameDecoder};

/// `<Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver">` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// `address`, resolved (see `tribesd run` for `auto`).
    pub address: IpAddr,
    /// `port`: the first port tried (4000).
    pub port: u16,
    /// `autoBind`: how many ports to try from `port` on (100).
    pub auto_bind: u16,
    /// The largest frame payload accepted.
    pub max_frame_len: usize,
}

/// Why the receiver could not listen.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind the receiver to {address} on any port from {first} to {last}: {source}")]
pub struct BindError {
    pub address: IpAddr,
    pub first: u16,
    pub last: u16,
    pub source: std::io::Error,
}

/// Binds the first free port of `port ..= port + autoBind - 1`, as `ReceiverBase.bind` does.
pub async fn bind(config: &ReceiverConfig) -> Result<TcpListener, BindError> {
    let tries = config.auto_bind.max(1);
    let last = config.port.saturating_add(tries - 1);
    let mut last_error = None;
    for port in config.port..=last {
        match TcpListener::bind(SocketAddr::new(config.address, port)).await {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(BindError { address: config.address, first: config.port, last: port, source: e }),
        }
    }
    Err(BindError {
        address: config.address,
        first: config.port,
        last,
        source: last_error.unwrap_or_else(|| std::io::Error::other("no port tried")),
    })
}

/// What the application did with a message: `Err` makes a SYNCHRONIZED_ACK sender get FAIL_ACK.
pub type Handler = Arc<dyn Fn(ChannelData) -> Result<(), String> + Send + Sync>;

/// Accepts connections until the task is aborted.
pub fn serve(listener: TcpListener, max_frame_len: usize, handler: Handler) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let handler = handler.clone();
                    tokio::spawn(async move {
                        if let Err(reason) = connection(stream, peer, max_frame_len, handler).await {
                            tracing::warn!(%peer, %reason, "closing receiver connection");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, max_frame_len: usize, handler: Handler) -> Result<(), String> {
    let decoder = FrameDecoder::new(max_frame_len);
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        let n = stream.read_buf(&mut buf).await.map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            if !buf.is_empty() {
                return Err(format!("peer closed the connection inside a frame ({} bytes buffered)", buf.len()));
            }
            tracing::debug!(%peer, "receiver connection closed by peer");
            return Ok(());
        }
        while let Some(payload) = decoder.decode(&mut buf).map_err(|e| format!("bad frame: {e}"))? {
            let message = ChannelData::decode(&payload).map_err(|e| format!("bad ChannelData: {e}"))?;
            let mode = message.options.ack_mode();
            if mode == AckMode::BeforeProcessing {
                write_ack(&mut stream, Ack::Ack).await?;
            }
            let result = match ControlPayload::classify(&message.message) {
                Some(control) => {
                    tracing::debug!(%peer, ?control, "control message dropped");
                    Ok(())
                }
                None => handler(message),
            };
            if mode == AckMode::AfterProcessing {
                let ack = if result.is_ok() { Ack::Ack } else { Ack::FailAck };
                write_ack(&mut stream, ack).await?;
            }
            if let Err(e) = result {
                tracing::warn!(%peer, error = %e, "message processing failed");
            }
        }
    }
}

async fn write_ack(stream: &mut TcpStream, ack: Ack) -> Result<(), String> {
    stream.write_all(ack.frame()).await.map_err(|e| format!("writing {ack:?} failed: {e}"))
}
