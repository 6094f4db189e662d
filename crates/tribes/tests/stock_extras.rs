//! The rest of the data path against stock Tribes (TribesPeer, tests/java/tribes-peer, on each
//! pinned Tomcat release's catalina-tribes.jar):
//!
//! - a stock `RpcChannel.send` to us (ALL_REPLY, 15 s rpc timeout, as AbstractReplicatedMap
//!   sends) gets our `NoRpcChannelReply` and returns at once with no response;
//! - SEND_OPTIONS_UDP both ways (acknowledged and not) with a stock receiver that has a udpPort;
//! - TcpPingInterceptor pings from us reach a stock TcpPingInterceptor, which drops them without
//!   a warning;
//! - SEND_OPTIONS_MULTICAST both ways over a membership group, in a private network namespace.
//!
//! TCP and UDP run on 127.0.0.1 outside a namespace, with distinct ports per Tomcat line.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::Runtime;
use tomcat_harness::java_peer::{fields, JavaPeer};
use tribes::channel::{ChannelConfig, GroupChannel, Incoming, Payload};
use tribes::receiver::{self, ServeOptions};
use tribes_wire::{Member, SendOptions, UniqueId};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn hex(id: &UniqueId) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn warnings(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.starts_with("WARNING") || l.starts_with("SEVERE")).collect()
}

/// A stock peer with optional features (TRIBES_PEER_* environment variables).
struct Peer(JavaPeer);

impl Peer {
    fn start(tomcat: &tomcat_harness::Tomcat, test: &str, port: u16, env: &[(&str, &str)]) -> Peer {
        let log =
            tomcat_harness::repo_root().join("target/tribes-peer").join(test).join(format!("{}.log", tomcat.version));
        Peer(JavaPeer::start_with("run-tribes-peer.sh", tomcat, port, env, None, log).unwrap_or_else(|e| panic!("{e}")))
    }

    fn cmd(&mut self, command: &str) -> String {
        self.0.cmd(command, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn member(&self) -> Member {
        let mut m = Member::new("127.0.0.1".parse().unwrap(), i32::from(self.0.port), UniqueId(self.0.id()), 0);
        m.udp_port = fields(&self.0.ready).get("udp").and_then(|u| u.parse().ok()).unwrap_or(-1);
        m
    }
}

/// Our node: a channel, its TCP receiver, optionally a UDP receiver, and what the application
/// got (payloads).
struct Us {
    channel: Arc<GroupChannel>,
    got: Arc<Mutex<Vec<(i32, Bytes)>>>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Us {
    fn start(rt: &Runtime, udp_from: Option<u16>) -> Us {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).unwrap();
            let mut local = Member::new("127.0.0.1".parse().unwrap(), i32::from(port), UniqueId::from_random(id), 0);
            let udp = match udp_from {
                Some(p) => {
                    let s = tribes::udp::bind("127.0.0.1".parse().unwrap(), p, 20).await.unwrap();
                    local.udp_port = i32::from(s.local_addr().unwrap().port());
                    Some(s)
                }
                None => None,
            };
            let channel = Arc::new(GroupChannel::new(local, ChannelConfig::default()));
            let (handler, incoming) = channel.incoming();
            let mut tasks = vec![receiver::serve_with(listener, ServeOptions::default(), handler.clone())];
            if let Some(s) = udp {
                tasks.push(tribes::udp::serve(s, ServeOptions::default(), handler));
            }
            let got = Arc::new(Mutex::new(Vec::new()));
            tasks.push(collect(incoming, got.clone()));
            Us { channel, got, _tasks: tasks }
        })
    }

    fn port(&self) -> i32 {
        self.channel.local().port
    }

    fn id_hex(&self) -> String {
        hex(&self.channel.local().unique_id)
    }

    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<(i32, Bytes)> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn collect(
    mut incoming: tokio::sync::mpsc::Receiver<Incoming>,
    got: Arc<Mutex<Vec<(i32, Bytes)>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(m) = incoming.recv().await {
            got.lock().unwrap().push((m.message.options.bits(), m.message.message.clone()));
        }
    })
}

fn payload(seq: u64, size: usize) -> Bytes {
    let mut p = vec![0u8; size];
    p[..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(8) {
        *b = (seq.wrapping_mul(31).wrapping_add(i as u64 * 7) & 0xff) as u8;
    }
    Bytes::from(p)
}

#[test]
fn a_stock_rpc_channel_gets_our_no_rpc_channel_reply_at_once() {
    let rt = runtime();
    for (i, tomcat) in tomcat_harness::tomcats().iter().enumerate() {
        let v = &tomcat.version;
        let us = Us::start(&rt, None);
        let mut peer = Peer::start(tomcat, "rpc", 5200 + 20 * i as u16, &[]);
        // BackupManager's map (mapSendOptions 6 there, SYNC stripped by RpcChannel), and the
        // asynchronous options of channelSendOptions 8.
        for (n, options) in [(1, 6), (2, 2), (3, 8)] {
            let answer =
                peer.cmd(&format!("rpc 127.0.0.1 {} {} localhost#/app-map {options} 15000", us.port(), us.id_hex()));
            let f = fields(&answer);
            assert_eq!(f["error"], "-", "Tomcat {v}, options {options}: {answer}");
            assert_eq!(f["responses"], "0", "Tomcat {v}, options {options}: {answer}");
            let ms: u64 = f["ms"].parse().unwrap();
            assert!(ms < 2000, "Tomcat {v}, options {options}: the stock caller waited {ms} ms: {answer}");
            assert_eq!(us.channel.rpc_replies(), n, "Tomcat {v}: one NoRpcChannelReply per request");
            eprintln!("Tomcat {v}: RpcChannel.send with options {options} returned after {ms} ms (rpc timeout 15 s)");
        }
        assert!(us.got.lock().unwrap().is_empty(), "Tomcat {v}: RpcMessages do not reach the application");
        let log = peer.0.log_text();
        assert!(warnings(&log).is_empty(), "Tomcat {v}: the stock peer complained:\n{log}");
    }
}

#[test]
fn udp_sends_go_both_ways_with_a_stock_receiver_that_has_a_udp_port() {
    let rt = runtime();
    for (i, tomcat) in tomcat_harness::tomcats().iter().enumerate() {
        let v = &tomcat.version;
        let base = 5300 + 40 * i as u16;
        let us = Us::start(&rt, Some(base + 20));
        let udp_from = (base + 10).to_string();
        let mut peer = Peer::start(tomcat, "udp", base, &[("TRIBES_PEER_UDP_PORT", &udp_from)]);
        let them = peer.member();
        assert!(them.udp_port > 0, "Tomcat {v}: the stock peer bound UDP: {}", peer.0.ready);

        // Ours -> stock: acknowledged (USE_ACK, USE_ACK+SYNC) and not, each message one datagram.
        for (options, n, size) in [(0x22, 200u64, 1024), (0x26, 100, 100), (0x20, 50, 100), (0x28, 50, 1000)] {
            assert_eq!(peer.cmd("reset"), "ok");
            rt.block_on(async {
                for seq in 0..n {
                    us.channel
                        .send(std::slice::from_ref(&them), Payload::Bytes(payload(seq, size)), SendOptions(options))
                        .await
                        .unwrap_or_else(|e| panic!("Tomcat {v}: udp send {seq} with options {options:#x}: {e}"));
                    if options & 2 == 0 {
                        // Datagrams without acks: pace them so a receive buffer never overflows.
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            });
            let got = peer.cmd(&format!("wait {n} 10000"));
            let f = fields(&got);
            let what = format!("Tomcat {v}, ours -> stock over UDP, options {options:#x}: {got}");
            assert_eq!((f["count"].as_str(), f["distinct"].as_str()), (&*n.to_string(), &*n.to_string()), "{what}");
            assert_eq!(f["bytes"], (n * size as u64).to_string(), "{what}");
            assert_eq!(f["from_port"], us.port().to_string(), "{what}");
            eprintln!("Tomcat {v}: ours->stock udp options {options:#x}: {n} x {size} B delivered");
        }
        // Our sender really used UDP: no TCP connection was opened.
        assert_eq!(tribes::sender::SenderStats::get(&us.channel.sender().stats().connects), 0, "Tomcat {v}");

        // Stock -> ours: acknowledged and not. The stock peer is given TCP port 1 for us, which
        // refuses: only our UDP port can carry these.
        let our_udp = us.channel.local().udp_port;
        for (options, n, size) in [(0x22, 200u64, 1024), (0x26, 100, 100), (0x20, 50, 100)] {
            us.got.lock().unwrap().clear();
            let sent = peer.cmd(&format!("send 127.0.0.1 1 {} {n} {size} {options} 10000 {our_udp}", us.id_hex()));
            let sf = fields(&sent);
            let got = us.wait_for(n as usize, Duration::from_secs(10));
            let what =
                format!("Tomcat {v}, stock -> ours over UDP, options {options:#x}: {sent}; we got {}", got.len());
            assert_eq!(sf["ok"], n.to_string(), "{what}");
            assert_eq!(got.len() as u64, n, "{what}");
            let mut seqs: Vec<u64> = got.iter().map(|(_, p)| u64::from_be_bytes(p[..8].try_into().unwrap())).collect();
            seqs.sort_unstable();
            seqs.dedup();
            assert_eq!(seqs.len() as u64, n, "{what}: each once");
            assert!(got.iter().all(|(o, p)| *o == options | 1 && p.len() == size), "{what}");
            eprintln!("Tomcat {v}: stock->ours udp options {options:#x}: {n} x {size} B delivered");
        }
        let log = peer.0.log_text();
        assert!(warnings(&log).is_empty(), "Tomcat {v}: the stock peer complained:\n{log}");
    }
}

#[test]
fn our_tcp_pings_reach_a_stock_tcp_ping_interceptor_which_logs_nothing() {
    let rt = runtime();
    for (i, tomcat) in tomcat_harness::tomcats().iter().enumerate() {
        let v = &tomcat.version;
        let us = Us::start(&rt, None);
        let mut peer = Peer::start(tomcat, "tcp-ping", 5450 + 20 * i as u16, &[("TRIBES_PEER_PING", "1")]);
        let them = peer.member();
        let members = vec![them.clone(), us.channel.local().clone()];
        let pinger = {
            let _guard = rt.enter();
            tribes::ping::spawn_pinger(
                us.channel.clone(),
                Duration::from_millis(100),
                SendOptions(0),
                Arc::new(move || members.clone()),
            )
        };
        std::thread::sleep(Duration::from_millis(1500));
        pinger.abort();
        let pings: u64 = fields(&peer.cmd("pings"))["count"].parse().unwrap();
        assert!(pings >= 8, "Tomcat {v}: {pings} pings reached the stock TcpPingInterceptor in 1.5 s every 100 ms");
        // The interceptor dropped them: the application saw nothing, and nothing was logged.
        let f = fields(&peer.cmd("wait 1 200"));
        assert_eq!((f["count"].as_str(), f["strings"].as_str()), ("0", "0"), "Tomcat {v}: {f:?}");
        let log = peer.0.log_text();
        assert!(warnings(&log).is_empty(), "Tomcat {v}: the stock peer complained about our pings:\n{log}");
        eprintln!("Tomcat {v}: {pings} pings dropped silently by the stock TcpPingInterceptor");
        // Our receiver drops stock pings too: the stock peer pings nobody (no members), so send
        // one of ours to ourselves.
        rt.block_on(tribes::ping::ping(&us.channel, std::slice::from_ref(us.channel.local()), SendOptions(0))).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(us.got.lock().unwrap().is_empty(), "our receiver drops pings");
    }
}

/// Multicast needs a group only this test sees: the parent test makes a network namespace and
/// runs [`multicast_in_namespace`] again inside it (this test binary under `nsenter`).
#[test]
fn multicast_sends_go_both_ways_with_a_stock_mcast_service() {
    let Some(ns) = tomcat_harness::netns::NetNs::for_test(false) else { return };
    let out = ns
        .command(std::env::current_exe().unwrap())
        .args(["--exact", "multicast_in_namespace", "--ignored", "--nocapture", "--test-threads=1"])
        .env("TRIBES_MULTICAST_CHILD", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{stderr}");
    assert!(out.status.success(), "the namespace part failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the namespace part ran:\n{stdout}");
}

#[test]
#[ignore = "run inside a network namespace by multicast_sends_go_both_ways_with_a_stock_mcast_service"]
fn multicast_in_namespace() {
    use tribes::membership::{MembershipService, Mode};
    use tribes_proto::membership::McastConfig;

    assert!(std::env::var_os("TRIBES_MULTICAST_CHILD").is_some(), "run by the namespace test only");
    let rt = runtime();
    for (i, tomcat) in tomcat_harness::tomcats().iter().enumerate() {
        let v = &tomcat.version;
        let us = Us::start(&rt, None);
        // One group per line, so that a late heartbeat of the previous peer does not matter.
        let group_port = 45564 + i as u16;
        let config = McastConfig {
            port: group_port,
            bind: Some("127.0.0.1".parse().unwrap()),
            frequency: Duration::from_millis(500),
            ..McastConfig::default()
        };
        let membership = {
            let _guard = rt.enter();
            MembershipService::start(us.channel.local().clone(), config, Mode::Member).expect("membership starts")
        };
        us.channel.set_broadcaster(membership.broadcaster());
        let (handler, incoming) = us.channel.incoming();
        let got = Arc::new(Mutex::new(Vec::new()));
        let _data = {
            let _guard = rt.enter();
            (membership.deliver_data_to(handler), collect(incoming, got.clone()))
        };
        let group = format!("228.0.0.4:{group_port}");
        let mut peer = Peer::start(tomcat, "multicast", 5600, &[("TRIBES_PEER_MCAST", &group)]);
        let them = peer.member();
        // The stock McastService is running once it sends heartbeats we hear.
        let deadline = Instant::now() + Duration::from_secs(10);
        let members = membership.member_source();
        while !members().iter().any(|m| m.id() == them.id()) {
            assert!(Instant::now() < deadline, "Tomcat {v}: the stock peer's heartbeats were never heard");
            std::thread::sleep(Duration::from_millis(50));
        }

        // Stock -> ours: McastService.broadcast; our membership hands the frames to the channel.
        let n = 20;
        let sent = peer.cmd(&format!("send 127.0.0.1 {} {} {n} 100 64 10000", us.port(), us.id_hex()));
        assert_eq!(fields(&sent)["ok"], n.to_string(), "Tomcat {v}: {sent}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let seen = got.lock().unwrap().clone();
        assert_eq!(seen.len(), n, "Tomcat {v}: multicast messages from the stock peer");
        assert!(seen.iter().all(|(o, p)| *o == 0x41 && p.len() == 100), "Tomcat {v}: options 0x41, 100 B");

        // Ours -> stock: our broadcaster; the stock McastService hands them to its listener. Our
        // own datagrams come back to us through loopback and are not delivered.
        assert_eq!(peer.cmd("reset"), "ok");
        rt.block_on(async {
            for seq in 0..n as u64 {
                us.channel
                    .send(std::slice::from_ref(&them), Payload::Bytes(payload(seq, 100)), SendOptions(0x40))
                    .await
                    .unwrap_or_else(|e| panic!("Tomcat {v}: multicast send {seq}: {e}"));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let f = fields(&peer.cmd(&format!("wait {n} 10000")));
        assert_eq!(
            (f["count"].as_str(), f["distinct"].as_str()),
            (&*n.to_string(), &*n.to_string()),
            "Tomcat {v}: {f:?}"
        );
        assert_eq!(f["from_port"], us.port().to_string(), "Tomcat {v}: {f:?}");
        assert_eq!(got.lock().unwrap().len(), n, "Tomcat {v}: our own multicast messages are not delivered to us");
        let log = peer.0.log_text();
        assert!(warnings(&log).is_empty(), "Tomcat {v}: the stock peer complained:\n{log}");
        eprintln!("Tomcat {v}: {n} multicast messages each way");
        drop(peer);
        rt.block_on(membership.stop());
    }
}
