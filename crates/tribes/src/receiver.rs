//! The TCP receiver (`transport.nio.NioReceiver` with `NioReplicationTask`): binds with autoBind,
//! reads frames of each connection in order, answers ACK or FAIL_ACK by Tomcat's rules, drops
//! interceptor control messages (TcpFailureDetector probes, TcpPing), and hands every other
//! message to a handler. A bad frame closes only its own connection.
//!
//! Stock TcpFailureDetectors connect to a member's port and write a probe before they accept it,
//! so a node must listen. [`serve_with`] takes an asynchronous handler (back-pressure: a
//! connection reads on only when its handler returned) and limits: frame length, a stall timeout
//! inside a frame, and the number of connections.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
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

/// A handler that may wait, for room in a queue or for the application's verdict. The connection
/// reads nothing more until it returns, as a Tomcat worker processes one connection's frames in
/// order; other connections go on.
pub type AsyncHandler = Arc<dyn Fn(ChannelData) -> HandlerFuture + Send + Sync>;

/// What an [`AsyncHandler`] returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Limits of a running receiver (Tomcat has none of these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The largest frame payload accepted; a longer declared length closes the connection.
    pub max_frame_len: usize,
    /// How long a connection may hold part of a frame without a new byte before it is closed.
    /// Idle connections between frames are never closed (Tomcat's senders keep them for reuse).
    pub stall_timeout: Duration,
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_frame_len: tribes_wire::frame::DEFAULT_MAX_FRAME_LEN,
            stall_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// Accepts connections until the task is aborted. A synchronous handler, default limits.
pub fn serve(listener: TcpListener, max_frame_len: usize, handler: Handler) -> JoinHandle<()> {
    let handler: AsyncHandler = Arc::new(move |message| {
        let result = handler(message);
        Box::pin(std::future::ready(result))
    });
    serve_with(listener, ServeOptions { max_frame_len, ..ServeOptions::default() }, handler)
}

/// Accepts connections until the task is aborted; aborting it also closes every connection.
pub fn serve_with(listener: TcpListener, options: ServeOptions, handler: AsyncHandler) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        if connections.len() >= options.max_connections {
                            tracing::warn!(%peer, max = options.max_connections, "too many receiver connections; closing this one");
                            continue;
                        }
                        let _ = stream.set_nodelay(true);
                        let (handler, options) = (handler.clone(), options.clone());
                        connections.spawn(async move {
                            if let Err(reason) = connection(stream, peer, &options, handler).await {
                                tracing::warn!(%peer, %reason, "closing receiver connection");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    })
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    options: &ServeOptions,
    handler: AsyncHandler,
) -> Result<(), String> {
    let decoder = FrameDecoder::new(options.max_frame_len);
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        let n = if buf.is_empty() {
            stream.read_buf(&mut buf).await
        } else {
            match tokio::time::timeout(options.stall_timeout, stream.read_buf(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(format!(
                        "no byte for {:?} inside a frame ({} bytes buffered)",
                        options.stall_timeout,
                        buf.len()
                    ))
                }
            }
        }
        .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            if !buf.is_empty() {
                return Err(format!("peer closed the connection inside a frame ({} bytes buffered)", buf.len()));
            }
            tracing::debug!(%peer, "receiver connection closed by peer");
            return Ok(());
        }
        while let Some(payload) = decoder.decode(&mut buf).map_err(refused)? {
            let received = Received::decode(&payload)?;
            if let Some(ack) = received.ack_before() {
                write_ack(&mut stream, ack).await?;
            }
            if let Some(ack) = received.process(peer, &handler).await {
                write_ack(&mut stream, ack).await?;
            }
        }
    }
}

/// One received message and Tomcat's acknowledgement rules for it (NioReplicationTask): ACK
/// before processing with USE_ACK alone; ACK or FAIL_ACK after it with SYNCHRONIZED_ACK.
/// Interceptor control messages (probes, pings) are dropped unprocessed. Shared by the TCP and
/// UDP receivers.
pub(crate) struct Received {
    message: ChannelData,
    mode: AckMode,
}

impl Received {
    pub(crate) fn decode(payload: &bytes::Bytes) -> Result<Received, String> {
        let message = ChannelData::decode(payload).map_err(|e| format!("bad ChannelData: {e}"))?;
        let mode = message.options.ack_mode();
        Ok(Received { message, mode })
    }

    /// The ACK to send before processing.
    pub(crate) fn ack_before(&self) -> Option<Ack> {
        (self.mode == AckMode::BeforeProcessing).then_some(Ack::Ack)
    }

    /// Processes the message and returns the ACK to send after it; a failure is logged.
    pub(crate) async fn process(self, peer: SocketAddr, handler: &AsyncHandler) -> Option<Ack> {
        let result = match ControlPayload::classify(&self.message.message) {
            Some(control) => {
                tracing::debug!(%peer, ?control, "control message dropped");
                Ok(())
            }
            None => handler(self.message).await,
        };
        if let Err(e) = &result {
            tracing::warn!(%peer, error = %e, "message processing failed");
        }
        (self.mode == AckMode::AfterProcessing).then_some(if result.is_ok() { Ack::Ack } else { Ack::FailAck })
    }
}

/// Why a frame closed the connection (logged with the peer). A frame over the cap is most likely
/// a legitimate large message (a state transfer): the reason says how to accept it.
fn refused(e: tribes_wire::FrameError) -> String {
    match e {
        tribes_wire::FrameError::TooLong { .. } => {
            format!("frame refused: {e} (the receiver's cap; tribesd run raises it with --receiver-max-frame-length)")
        }
        _ => format!("bad frame: {e}"),
    }
}

async fn write_ack(stream: &mut TcpStream, ack: Ack) -> Result<(), String> {
    stream.write_all(ack.frame()).await.map_err(|e| format!("writing {ack:?} failed: {e}"))
}
