//! `tribesd run`: join the group as a member (heartbeats, a receiver that answers probes and
//! ACKs), and leave gracefully on SIGINT or SIGTERM with the shutdown heartbeat.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tribes::detector::FailureDetectorService;
use tribes::membership::{MembershipEvent, MembershipService, Mode};
use tribes::receiver::{self, ReceiverConfig};
use tribes::static_members::StaticMembersService;
use tribes_proto::membership::McastConfig;
use tribes_proto::static_members::DEFAULT_PROBE_INTERVAL;
use tribes_wire::{Member, UniqueId};

use crate::config::ClusterArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

pub fn run(args: &RunArgs) -> ExitCode {
    let settings = match args.cluster.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    for note in &settings.ignored {
        tracing::warn!("{note}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        let address = match resolve_receiver_address(&settings.receiver_address) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let rc = ReceiverConfig {
            address,
            port: settings.receiver_port,
            auto_bind: settings.receiver_auto_bind,
            max_frame_len: tribes_wire::frame::DEFAULT_MAX_FRAME_LEN,
        };
        let listener = match receiver::bind(&rc).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let port = listener.local_addr().expect("bound listener has an address").port();
        tracing::info!(%address, port, "receiver listening");
        let handler: receiver::Handler = Arc::new(|message| {
            tracing::debug!(from = %message.address.id(), options = %message.options, len = message.message.len(), "message received");
            Ok(())
        });
        let _receiver = receiver::serve(listener, rc.max_frame_len, handler);

        let unique_id = settings.local_unique_id.unwrap_or_else(|| {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).expect("the OS random source works");
            UniqueId::from_random(id)
        });
        let mut local = Member::new(address, i32::from(port), unique_id, 0);
        local.secure_port = settings.receiver_secure_port;
        local.udp_port = settings.receiver_udp_port;
        // Members of another domain are ignored, as a DomainFilterInterceptor with our domain does
        // (a stock McastService alone would list them).
        let membership = McastConfig { domain_filter: true, ..settings.membership.clone() };
        let service = match MembershipService::start(local.clone(), membership, Mode::Member) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                if let tribes::membership::StartError::Socket(se) = &e {
                    let sc = tribes::mcast::McastSocketConfig {
                        interface: settings.membership.bind.and_then(|b| match b {
                            IpAddr::V4(a) => Some(a),
                            IpAddr::V6(_) => None,
                        }),
                        ..Default::default()
                    };
                    if let Some(h) = tribes::doctor::hint_for_start(se, &sc) {
                        eprintln!("hint: {h}");
                    }
                }
                return ExitCode::from(1);
            }
        };
        tracing::info!(
            member = %local.id(),
            group = %settings.membership.address,
            port = settings.membership.port,
            "joined the group"
        );
        let statics = (!settings.static_members.is_empty()).then(|| {
            let declared = settings.static_members.iter().map(|d| d.to_member()).collect::<Vec<_>>();
            tracing::info!(count = declared.len(), "probing static members");
            StaticMembersService::start(local.clone(), declared, DEFAULT_PROBE_INTERVAL)
        });
        // Membership events go through the TcpFailureDetector: a member is shown once it answers
        // a TCP probe, and kept while it does even if its heartbeats stop.
        let detector = FailureDetectorService::start(local.clone(), settings.failure_detector.clone(), service.subscribe());
        // TcpPingInterceptor above TcpFailureDetector: a forced check of every member each interval.
        let pinger = settings.tcp_ping.map(|interval| {
            let detector = detector.check_handle();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    detector.forced_check();
                }
            })
        });
        let mut events = detector.subscribe();
        let advertised_loopback = address.is_loopback();
        let log_events = tokio::spawn(async move {
            let mut warned = false;
            loop {
                let e = match events.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                match e {
                    MembershipEvent::Added(m) => {
                        tracing::info!(member = %m.id(), alive_ms = m.alive, "member added");
                        let remote = m.ip().is_some_and(|ip| !ip.is_loopback());
                        if advertised_loopback && remote && !warned {
                            tracing::warn!(member = %m.id(),
                                "we advertise a loopback address but this member is remote: it cannot reach us; set --receiver-address (or <Receiver address>) to a reachable address");
                            warned = true;
                        }
                    }
                    MembershipEvent::Updated(_) => {}
                    MembershipEvent::Disappeared { member, reason } => {
                        tracing::info!(member = %member.id(), ?reason, "member disappeared");
                    }
                }
            }
        });
        wait_for_signal().await;
        tracing::info!("stopping: sending the shutdown heartbeat");
        if let Some(statics) = statics {
            statics.stop().await;
        }
        service.stop().await;
        if let Some(p) = pinger {
            p.abort();
        }
        detector.stop().await;
        log_events.abort();
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `<Receiver address>`: an IP address, or `auto` as Tomcat resolves it (the address of this
/// host's name), except that a loopback answer is replaced by an interface address so that
/// remote peers can reach us. The choice and its reason are logged.
pub fn resolve_receiver_address(value: &str) -> Result<IpAddr, String> {
    if value != "auto" {
        return value
            .parse()
            .map_err(|_| format!("<Receiver address>: \"{value}\" is neither \"auto\" nor an IP address"));
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    let by_name: Option<IpAddr> =
        (host.as_str(), 0).to_socket_addrs().ok().and_then(|mut a| a.find(|a| a.is_ipv4()).map(|a| a.ip()));
    if let Some(ip) = by_name.filter(|ip| !ip.is_loopback()) {
        tracing::info!(%ip, host = %host, "receiver address auto: the host name's address");
        return Ok(ip);
    }
    let interface =
        if_addrs::get_if_addrs().unwrap_or_default().into_iter().find(|i| !i.is_loopback() && i.ip().is_ipv4());
    if let Some(i) = interface {
        tracing::info!(ip = %i.ip(), interface = %i.name, host = %host, resolved = ?by_name,
            "receiver address auto: the host name resolves to a loopback address (or nothing), so the first non-loopback interface address is advertised instead");
        return Ok(i.ip());
    }
    tracing::warn!(
        "receiver address auto: this host has only loopback addresses; only members on this host can reach 127.0.0.1"
    );
    Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
