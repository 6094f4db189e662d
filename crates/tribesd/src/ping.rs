//! `tribesd ping HOST:PORT`: sends acknowledged ByteMessages to a member's receiver (a stock
//! Tomcat node or tribesd) and prints the round trip of each, then a summary, as ping does.
//!
//! The messages name a member of their own as sender (the ChannelData address): host = the local
//! address, port = a port this command listens on while it runs (so that a stock
//! TcpFailureDetector that probes it finds it alive), a random unique id. A stock node acknowledges
//! them and ignores them quietly: its GroupChannel wraps a BYTE_MESSAGE payload in a ByteMessage,
//! no listener of a Tomcat cluster accepts one (SimpleTcpCluster takes only ClusterMessages), and a
//! message nobody accepts is logged only at TRACE level (`GroupChannel.messageReceived`, 9.0 to
//! 11.0). Options without SYNCHRONIZED_ACK would be acknowledged before that processing.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use tribes::channel::{ChannelConfig, ChannelError, GroupChannel, Payload};
use tribes::receiver::{self, ReceiverConfig};
use tribes::sender::SenderConfig;
use tribes_wire::{Member, SendOptions, UniqueId};

#[derive(Debug, Args)]
pub struct PingArgs {
    /// The member's receiver, HOST:PORT (Tomcat's <Receiver> address and port, 4000 by default).
    pub target: String,
    /// Stop after this many messages (default: until interrupted).
    #[arg(short = 'c', long)]
    pub count: Option<u64>,
    /// Time between two messages.
    #[arg(short = 'i', long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Payload bytes of each ByteMessage.
    #[arg(short = 's', long, default_value_t = 56)]
    pub size: usize,
    /// Send options, as a number or names like channelSendOptions (6 = use_ack,sync). BYTE_MESSAGE
    /// is always added; ASYNCHRONOUS is dropped (ping measures the direct send).
    #[arg(long, default_value = "6", value_parser = parse_options)]
    pub options: SendOptions,
    /// The address our member advertises and listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub local_address: IpAddr,
    /// How long to wait for each acknowledgement (the sender's timeout).
    #[arg(short = 'W', long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// The target member's unique id (32 hex digits), if known. Receivers do not check it.
    #[arg(long)]
    pub unique_id: Option<String>,
}

fn parse_options(value: &str) -> Result<SendOptions, String> {
    SendOptions::parse(value).map_err(|e| e.to_string())
}

pub fn run(args: &PingArgs) -> ExitCode {
    let target = match resolve(&args.target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let target_id = match args.unique_id.as_deref().map(parse_id).transpose() {
        Ok(id) => id.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: --unique-id: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    runtime.block_on(ping(args, target, target_id))
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> =
        target.to_socket_addrs().map_err(|e| format!("\"{target}\" is not HOST:PORT ({e})"))?.collect();
    addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied().ok_or_else(|| format!("\"{target}\" has no address"))
}

fn parse_id(hex: &str) -> Result<UniqueId, String> {
    let hex = hex.trim();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("\"{hex}\" is not 32 hex digits"));
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex digits");
    }
    Ok(UniqueId(id))
}

/// Payload of message `seq`: the sequence number (big-endian), then a fixed pattern.
fn payload(seq: u64, size: usize) -> Bytes {
    let mut p: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let n = size.min(8);
    p[..n].copy_from_slice(&seq.to_be_bytes()[..n]);
    Bytes::from(p)
}

async fn ping(args: &PingArgs, target: SocketAddr, target_id: UniqueId) -> ExitCode {
    // Our member: a listening port so that probes find us, answered by a receiver that drops
    // whatever it is sent.
    let rc = ReceiverConfig { address: args.local_address, port: 0, auto_bind: 1, max_frame_len: 1 << 20 };
    let listener = match receiver::bind(&rc).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let local_port = listener.local_addr().expect("bound listener has an address").port();
    let _receiver = receiver::serve(
        listener,
        rc.max_frame_len,
        Arc::new(|m| {
            tracing::debug!(from = %m.address.id(), len = m.message.len(), "message to the ping member dropped");
            Ok(())
        }),
    );
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the OS random source works");
    let local = Member::new(args.local_address, i32::from(local_port), UniqueId::from_random(id), 0);
    let config = ChannelConfig {
        sender: SenderConfig { timeout: args.timeout, max_wait: args.timeout, ..SenderConfig::default() },
        ..ChannelConfig::default()
    };
    let channel = GroupChannel::new(local.clone(), config);
    let destination = Member::new(target.ip(), i32::from(target.port()), target_id, 0);
    let options = args.options.without(SendOptions::ASYNCHRONOUS).with(SendOptions::BYTE_MESSAGE);
    let acked = options.contains(SendOptions::USE_ACK);
    let frame_len = channel.message(&Payload::Bytes(payload(0, args.size)), options).to_frame().len();

    println!(
        "PING {target}: {}-byte ByteMessages ({frame_len}-byte frames), options {options}, from member {} ({})",
        args.size,
        SocketAddr::new(args.local_address, local_port),
        local.unique_id
    );
    if !acked {
        println!("note: options without use_ack: times are until the frame was written, not acknowledged");
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let mut tick = tokio::time::interval(args.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut rtts: Vec<f64> = Vec::new();
    let mut sent = 0u64;
    loop {
        if args.count.is_some_and(|c| sent >= c) {
            break;
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
        sent += 1;
        let t = Instant::now();
        let result =
            channel.send(std::slice::from_ref(&destination), Payload::Bytes(payload(sent, args.size)), options).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(_) => {
                rtts.push(ms);
                println!("{frame_len} bytes to {target}: seq={sent} time={ms:.3} ms");
            }
            Err(ChannelError::Send(e)) => {
                let cause = e.faulty.first().map(|f| f.cause.to_string()).unwrap_or_default();
                println!("{frame_len} bytes to {target}: seq={sent} failed after {ms:.3} ms: {cause}");
            }
            Err(e) => println!("{frame_len} bytes to {target}: seq={sent} failed: {e}"),
        }
    }

    let received = rtts.len() as u64;
    let loss = if sent == 0 { 0.0 } else { (sent - received) as f64 * 100.0 / sent as f64 };
    println!();
    println!("--- {target} tribes ping statistics ---");
    println!(
        "{sent} messages sent, {received} {}, {loss:.0}% loss, time {}ms",
        if acked { "acknowledged" } else { "written" },
        started.elapsed().as_millis()
    );
    if !rtts.is_empty() {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
        let mdev = (rtts.iter().map(|r| (r - avg) * (r - avg)).sum::<f64>() / rtts.len() as f64).sqrt();
        println!("rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms");
    }
    if received == sent {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_start_with_the_sequence_number() {
        assert_eq!(&payload(0x0102, 10)[..], &[0, 0, 0, 0, 0, 0, 1, 2, 8, 9]);
        assert_eq!(&payload(7, 3)[..], &[0, 0, 0]);
        assert_eq!(payload(1, 0).len(), 0);
    }

    #[test]
    fn unique_ids_are_32_hex_digits() {
        assert_eq!(parse_id("000102030405060708090a0b0c0d0e0f").unwrap(), UniqueId(std::array::from_fn(|i| i as u8)));
        assert!(parse_id("0001").is_err());
        assert!(parse_id("zz0102030405060708090a0b0c0d0e0f").is_err());
    }

    #[test]
    fn targets_resolve_to_an_address() {
        assert_eq!(resolve("127.0.0.1:4000").unwrap(), "127.0.0.1:4000".parse().unwrap());
        assert!(resolve("127.0.0.1").is_err());
    }
}
