//! The receiver under bad input: every bad connection is logged with the peer's address and
//! closed, while a good connection opened before keeps being served.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tribes::receiver::{self, AsyncHandler, ServeOptions};
use tribes_wire::ack::ACK_COMMAND;
use tribes_wire::{ChannelData, Member, SendOptions, UniqueId};

/// Everything the crate logs, from all tests of this binary (the subscriber is global because
/// tokio worker threads log too).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_env_filter("tribes=debug")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits for a log line naming `peer` that contains `what`, and returns it.
async fn logged(peer: SocketAddr, what: &str) -> String {
    let needle = format!("peer={peer}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = String::from_utf8_lossy(&logs().lock().unwrap()).to_string();
        if let Some(line) = text.lines().find(|l| l.contains(&needle) && l.contains(what)) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no log line with {needle} and {what:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn frame(options: i32, message: &'static [u8]) -> Bytes {
    let local = Member::new("127.0.0.1".parse().unwrap(), 4000, UniqueId([7; 16]), 1000);
    ChannelData {
        options: SendOptions(options),
        timestamp: 1_700_000_000_000,
        unique_id: Bytes::from_static(&[1; 16]),
        address: local,
        message: Bytes::from_static(message),
    }
    .to_frame()
}

struct Server {
    addr: SocketAddr,
    delivered: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

async fn server() -> Server {
    logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let delivered = Arc::new(AtomicUsize::new(0));
    let d = delivered.clone();
    let handler: AsyncHandler = Arc::new(move |_m| {
        d.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(())))
    });
    let options =
        ServeOptions { max_frame_len: 1 << 20, stall_timeout: Duration::from_millis(300), ..ServeOptions::default() };
    Server { addr, delivered, _task: receiver::serve_with(listener, options, handler) }
}

/// One acknowledged message on an existing connection.
async fn round_trip(good: &mut TcpStream) {
    good.write_all(&frame(3, b"still here")).await.unwrap();
    let mut ack = [0u8; 21];
    tokio::time::timeout(Duration::from_secs(2), good.read_exact(&mut ack)).await.expect("ACK in time").unwrap();
    assert_eq!(ack, ACK_COMMAND);
}

/// Waits until the server closes `conn` (EOF or reset).
async fn closed_by_server(conn: &mut TcpStream) {
    let mut b = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(3), conn.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("server wrote {n} bytes to a bad connection"),
        Err(_) => panic!("server kept the bad connection open"),
    }
}

async fn connect(addr: SocketAddr) -> (TcpStream, SocketAddr) {
    let s = TcpStream::connect(addr).await.unwrap();
    let local = s.local_addr().unwrap();
    (s, local)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_connection_is_logged_with_its_peer_and_closed_while_a_good_one_keeps_working() {
    let server = server().await;
    let (mut good, _) = connect(server.addr).await;
    round_trip(&mut good).await;
    let whole = frame(3, b"hello");

    // 1. Stalls in the middle of a frame: closed after the stall timeout (300 ms here).
    let (mut bad, peer) = connect(server.addr).await;
    bad.write_all(&whole[..20]).await.unwrap();
    let started = Instant::now();
    closed_by_server(&mut bad).await;
    let line = logged(peer, "inside a frame").await;
    assert!(line.contains("no byte for 300ms"), "{line}");
    assert!(started.elapsed() >= Duration::from_millis(250), "closed after {:?}", started.elapsed());
    round_trip(&mut good).await;

    // 2. Half a frame, then the peer closes.
    let (mut bad, peer) = connect(server.addr).await;
    bad.write_all(&whole[..whole.len() / 2]).await.unwrap();
    bad.shutdown().await.unwrap();
    closed_by_server(&mut bad).await;
    logged(peer, "peer closed the connection inside a frame").await;
    round_trip(&mut good).await;

    // 3. A giant declared length: refused before anything is allocated.
    let (mut bad, peer) = connect(server.addr).await;
    bad.write_all(b"FLT2002\x7f\xff\xff\xff").await.unwrap();
    closed_by_server(&mut bad).await;
    logged(peer, "over the 1048576 byte limit").await;
    round_trip(&mut good).await;

    // 4. Junk instead of a frame.
    let (mut bad, peer) = connect(server.addr).await;
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    closed_by_server(&mut bad).await;
    logged(peer, "does not start with FLT2002").await;
    round_trip(&mut good).await;

    // 5. The peer resets the connection in the middle of a frame.
    let socket = TcpSocket::new_v4().unwrap();
    let bad = socket.connect(server.addr).await.unwrap();
    let peer = bad.local_addr().unwrap();
    let mut bad = bad;
    bad.write_all(&whole[..30]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    socket2::SockRef::from(&bad).set_linger(Some(Duration::ZERO)).unwrap();
    drop(bad); // SO_LINGER 0: close sends RST
    logged(peer, "closing receiver connection").await;
    round_trip(&mut good).await;

    // 6. A well-framed message whose ChannelData is not one (Tomcat closes too).
    let (mut bad, peer) = connect(server.addr).await;
    let mut f = BytesMut::new();
    tribes_wire::frame::encode_frame(b"not a channel data", &mut f);
    bad.write_all(&f).await.unwrap();
    closed_by_server(&mut bad).await;
    logged(peer, "bad ChannelData").await;
    round_trip(&mut good).await;

    // 7. A wrong end marker.
    let (mut bad, peer) = connect(server.addr).await;
    let mut broken = whole.to_vec();
    let n = broken.len();
    broken[n - 1] = b'X';
    bad.write_all(&broken).await.unwrap();
    closed_by_server(&mut bad).await;
    logged(peer, "does not end with TLF2003").await;
    round_trip(&mut good).await;

    // Only the good connection's messages reached the application.
    assert_eq!(server.delivered.load(Ordering::SeqCst), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_between_frames_is_never_closed() {
    let server = server().await;
    let (mut good, _) = connect(server.addr).await;
    round_trip(&mut good).await;
    tokio::time::sleep(Duration::from_millis(800)).await; // well past the 300 ms stall timeout
    round_trip(&mut good).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_at_once_and_logged() {
    logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: AsyncHandler = Arc::new(|_m| Box::pin(std::future::ready(Ok(()))));
    let _task = receiver::serve_with(listener, ServeOptions { max_connections: 1, ..ServeOptions::default() }, handler);
    let (mut first, _) = connect(addr).await;
    round_trip(&mut first).await;
    let (mut second, peer) = connect(addr).await;
    closed_by_server(&mut second).await;
    logged(peer, "too many receiver connections").await;
    round_trip(&mut first).await;
}
