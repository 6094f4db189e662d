//! `tribesd members`: listen to the membership group without joining it, and show every member
//! heard, with the hints an operator needs when nobody shows up.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use serde::Serialize;
use tribes::mcast::McastSocketConfig;
use tribes::membership::{MembershipEvent, MembershipService, Mode, StartError};
use tribes_proto::membership::{DisappearReason, McastConfig};
use tribes_wire::member::host_to_string;
use tribes_wire::{Member, MemberId, UniqueId};

#[derive(Debug, Args)]
pub struct MembersArgs {
    /// The multicast group (Tomcat's <Membership address>).
    #[arg(long, default_value = "228.0.0.4")]
    pub group: Ipv4Addr,
    /// The group's UDP port (<Membership port>).
    #[arg(long, default_value_t = 45564)]
    pub port: u16,
    /// The address of the interface to listen on (<Membership bind>).
    #[arg(long, value_name = "ADDRESS")]
    pub interface: Option<Ipv4Addr>,
    /// A member silent this long (ms) is shown as gone (<Membership dropTime>).
    #[arg(long, default_value_t = 3000)]
    pub drop_time: u64,
    /// Keep listening and redraw the table every second (the default).
    #[arg(long, conflicts_with = "once")]
    pub watch: bool,
    /// Listen for --timeout, print what was heard, and exit (status 0 if any member was heard, 2 if none).
    #[arg(long)]
    pub once: bool,
    /// How long --once listens, e.g. 3s or 1500ms.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// One JSON object per member per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Alive,
    Suspect,
    Gone,
    ShutDown,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Suspect => "suspect",
            Status::Gone => "gone",
            Status::ShutDown => "shut down",
        }
    }
}

/// One row: everything heard of one member.
#[derive(Debug, Clone)]
struct Row {
    member: Member,
    status: Status,
    /// When the member's last packet arrived (our clock).
    last_heard: Instant,
    mean_interval: Option<Duration>,
    packets: u64,
    from: Option<std::net::SocketAddr>,
}

#[derive(Debug, Serialize)]
struct JsonRow<'a> {
    host: String,
    port: i32,
    unique_id: String,
    domain: String,
    status: Status,
    alive_ms: i64,
    last_heartbeat_ms: u64,
    interval_ms: Option<u64>,
    packets: u64,
    secure_port: i32,
    udp_port: i32,
    source: Option<String>,
    payload_len: usize,
    observed_at: &'a str,
}

pub fn run(args: &MembersArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(listen(args))
}

async fn listen(args: &MembersArgs) -> ExitCode {
    let config = McastConfig {
        address: IpAddr::V4(args.group),
        port: args.port,
        bind: args.interface.map(IpAddr::V4),
        drop_time: Duration::from_millis(args.drop_time),
        ..McastConfig::default()
    };
    let socket_config =
        McastSocketConfig { group: args.group, port: args.port, interface: args.interface, ttl: None, loopback: true };
    // The listener's own identity is never advertised; it only keeps foreign packets apart.
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the OS random source works");
    let me = Member::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, UniqueId::from_random(id), 0);
    let service = match MembershipService::start(me, config, Mode::Listener) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            if let StartError::Socket(se) = &e {
                if let Some(h) = tribes::doctor::hint_for_start(se, &socket_config) {
                    eprintln!("hint: {h}");
                }
            }
            return ExitCode::from(1);
        }
    };
    let mut events = service.subscribe();
    let start = Instant::now();
    let mut rows: BTreeMap<MemberId, Row> = BTreeMap::new();
    let mut hinted = false;
    let watch = !args.once;
    let mut tick = tokio::time::interval(Duration::from_millis(if watch { 1000 } else { 100 }));
    let deadline = start + args.timeout;
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(MembershipEvent::Disappeared { member, reason }) => {
                    if let Some(r) = rows.get_mut(&member.id()) {
                        r.status = if reason == DisappearReason::Shutdown { Status::ShutDown } else { Status::Gone };
                    }
                }
                Ok(MembershipEvent::Added(m)) | Ok(MembershipEvent::Updated(m)) => {
                    rows.entry(m.id()).or_insert_with(|| Row { member: m.clone(), status: Status::Alive, last_heard: Instant::now(), mean_interval: None, packets: 0, from: None });
                }
                Err(_) => {}
            },
            _ = tick.tick() => {
                refresh(&mut rows, &service, Duration::from_millis(args.drop_time));
                let now = Instant::now();
                let heard = service.snapshot().stats.datagrams > 0;
                if !hinted && now.duration_since(start) >= Duration::from_secs(3).min(args.timeout) {
                    let snap = service.snapshot();
                    let mut hints = tribes::doctor::hints_for_members(&snap.members, &[], heard, &socket_config);
                    hints.extend(domain_hint(&rows));
                    if let Some(err) = &snap.last_socket_error {
                        hints.push(format!("socket error: {err}"));
                    }
                    for h in hints {
                        eprintln!("hint: {h}");
                    }
                    hinted = true;
                }
                if watch {
                    print_rows(&rows, args.json, true);
                } else if now >= deadline {
                    print_rows(&rows, args.json, false);
                    service.stop().await;
                    return if rows.is_empty() { ExitCode::from(2) } else { ExitCode::SUCCESS };
                }
            }
        }
    }
}

/// Updates every row from the service's member views; members no longer listed keep their last
/// status (gone or shut down).
fn refresh(rows: &mut BTreeMap<MemberId, Row>, service: &MembershipService, drop_time: Duration) {
    let snap = service.snapshot();
    let now = Instant::now();
    for v in snap.members.iter().chain(snap.foreign_domain.iter()) {
        let row = rows.entry(v.member.id()).or_insert_with(|| Row {
            member: v.member.clone(),
            status: Status::Alive,
            last_heard: v.last_heard,
            mean_interval: None,
            packets: 0,
            from: None,
        });
        row.member = v.member.clone();
        row.last_heard = v.last_heard;
        row.mean_interval = v.mean_interval;
        row.packets = v.packets;
        row.from = Some(v.last_from);
        let age = now.saturating_duration_since(v.last_heard);
        let expected = v.mean_interval.unwrap_or(Duration::from_millis(500)).max(Duration::from_millis(100));
        row.status = if age > drop_time {
            Status::Gone
        } else if age > expected * 3 {
            Status::Suspect
        } else {
            Status::Alive
        };
    }
}

fn domain_hint(rows: &BTreeMap<MemberId, Row>) -> Option<String> {
    let domains: std::collections::BTreeSet<String> =
        rows.values().map(|r| String::from_utf8_lossy(&r.member.domain).to_string()).collect();
    (domains.len() > 1).then(|| {
        format!(
            "members advertise {} different domains ({}): nodes of one cluster must share the <Membership domain>",
            domains.len(),
            domains.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ")
        )
    })
}

fn print_rows(rows: &BTreeMap<MemberId, Row>, json: bool, redraw: bool) {
    let now = Instant::now();
    let mut out = std::io::stdout().lock();
    if json {
        let stamp = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        for r in rows.values() {
            let j = JsonRow {
                host: host_to_string(&r.member.host),
                port: r.member.port,
                unique_id: r.member.unique_id.to_string(),
                domain: String::from_utf8_lossy(&r.member.domain).to_string(),
                status: r.status,
                alive_ms: r.member.alive,
                last_heartbeat_ms: now.saturating_duration_since(r.last_heard).as_millis() as u64,
                interval_ms: r.mean_interval.map(|d| d.as_millis() as u64),
                packets: r.packets,
                secure_port: r.member.secure_port,
                udp_port: r.member.udp_port,
                source: r.from.map(|f| f.to_string()),
                payload_len: r.member.payload.len(),
                observed_at: &stamp,
            };
            let _ = writeln!(out, "{}", serde_json::to_string(&j).expect("row serializes"));
        }
        let _ = out.flush();
        return;
    }
    if redraw {
        let _ = write!(out, "\x1b[2J\x1b[H");
    }
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:<32} {:<12} {:>10} {:>9} {:>9}  STATUS",
        "HOST", "PORT", "UNIQUE ID", "DOMAIN", "ALIVE", "LAST HB", "INTERVAL"
    );
    for r in rows.values() {
        let age = now.saturating_duration_since(r.last_heard);
        let _ = writeln!(
            out,
            "{:<22} {:>6} {:<32} {:<12} {:>10} {:>9} {:>9}  {}",
            host_to_string(&r.member.host),
            r.member.port,
            r.member.unique_id.to_string(),
            String::from_utf8_lossy(&r.member.domain),
            short(Duration::from_millis(r.member.alive.max(0) as u64)),
            format!("{}ms", age.as_millis()),
            r.mean_interval.map(|d| format!("{}ms", d.as_millis())).unwrap_or_else(|| "-".into()),
            r.status.as_str()
        );
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no member heard yet)");
    }
    let _ = out.flush();
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{}.{}s", s, d.subsec_millis() / 100),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
