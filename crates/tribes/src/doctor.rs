//! Hints for operators when multicast membership does not work: what an OS error most likely
//! means, and what the members heard so far suggest. Each hint is one or two lines.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use tribes_proto::membership::MemberView;
use tribes_wire::member::host_to_ip;

use crate::mcast::{McastError, McastSocketConfig};

const ENODEV: i32 = 19;
const EADDRNOTAVAIL: i32 = 99;
const ENETUNREACH: i32 = 101;
const EADDRINUSE: i32 = 98;
const EPERM: i32 = 1;
const EACCES: i32 = 13;

/// The likely cause and fix of an OS error on the membership socket.
pub fn hint_for_io(e: &io::Error, config: &McastSocketConfig) -> Option<&'static str> {
    let bound = config.interface.is_some();
    match e.raw_os_error()? {
        ENODEV if !bound => Some(
            "no interface can join the group (ENODEV, usual in containers and namespaces): name the interface's \
             address (tribesd run --membership-bind, tribesd members --interface; 127.0.0.1 when every node is on \
             this host), or add a route: ip route add 224.0.0.0/4 dev IFACE",
        ),
        ENODEV => Some(
            "the bind address's interface cannot join the group (ENODEV): check `ip link` shows it UP with MULTICAST",
        ),
        ENETUNREACH => Some(
            "no route for multicast (ENETUNREACH): add one with `ip route add 224.0.0.0/4 dev IFACE`, or name the \
             interface's address (--membership-bind, or --interface for tribesd members)",
        ),
        EADDRNOTAVAIL => Some(
            "the membership bind address is not an address of this host (EADDRNOTAVAIL): use one `ip -4 addr` lists",
        ),
        EADDRINUSE => Some(
            "the membership port is taken by a program that did not set SO_REUSEADDR (EADDRINUSE): `ss -ulpn` shows it",
        ),
        EPERM | EACCES => Some("the system refused the packet (EPERM/EACCES): a firewall rule may drop multicast UDP"),
        _ => None,
    }
}

/// The hint for a failure to open the socket.
pub fn hint_for_start(e: &McastError, config: &McastSocketConfig) -> Option<&'static str> {
    e.io_error().and_then(|io| hint_for_io(io, config))
}

/// Interfaces (of this network namespace) that are down or lack the MULTICAST flag.
pub fn interfaces_without_multicast() -> Vec<String> {
    use nix::net::if_::InterfaceFlags;
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out: Vec<String> = addrs
        .filter(|a| !a.flags.contains(InterfaceFlags::IFF_UP) || !a.flags.contains(InterfaceFlags::IFF_MULTICAST))
        .map(|a| a.interface_name)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Hints drawn from the members heard so far (and from hearing none).
pub fn hints_for_members(
    members: &[MemberView],
    foreign_domain: &[MemberView],
    heard_anything: bool,
    config: &McastSocketConfig,
) -> Vec<String> {
    let mut hints = Vec::new();
    if !heard_anything {
        hints.push(format!(
            "nothing heard on {}:{}: check every node uses this address and port, that multicast is routed \
             (`ip route get {}`), that no firewall drops UDP {}, and that same-host nodes keep \
             localLoopbackDisabled=false",
            config.group, config.port, config.group, config.port
        ));
        let quiet = interfaces_without_multicast();
        if !quiet.is_empty() {
            hints.push(format!(
                "interfaces down or without the MULTICAST flag: {} (ip link set IFACE multicast on)",
                quiet.join(", ")
            ));
        }
    }
    let loopback: Vec<&MemberView> =
        members.iter().filter(|m| host_to_ip(&m.member.host).is_some_and(|ip| ip.is_loopback())).collect();
    let remote =
        members.iter().any(|m| m.last_from.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST) && !m.last_from.ip().is_loopback());
    if !loopback.is_empty() && remote {
        let names: Vec<String> = loopback.iter().map(|m| m.member.id().to_string()).collect();
        hints.push(format!(
            "{} advertise a loopback address while other members are remote: set the Receiver address to a \
             reachable one (Tomcat's address=\"auto\" can pick 127.0.1.1 from /etc/hosts)",
            names.join(", ")
        ));
    }
    if !foreign_domain.is_empty() {
        let domains: std::collections::BTreeSet<String> =
            foreign_domain.iter().map(|m| String::from_utf8_lossy(&m.member.domain).to_string()).collect();
        hints.push(format!(
            "{} member(s) advertise another domain ({}): a DomainFilterInterceptor would keep them out",
            foreign_domain.len(),
            domains.into_iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ")
        ));
    }
    hints
}
