//! The membership multicast socket (`org.apache.catalina.tribes.membership.McastServiceImpl.setupSocket`).
//!
//! Tomcat binds its `MulticastSocket` to `group:port` when `bind` is set (falling back to the
//! wildcard address), sets the multicast interface to the interface that owns `bind`,
//! `IP_MULTICAST_LOOP` to `!localLoopbackDisabled`, the TTL when given, and joins the group. On
//! Linux, binding to the group address works and filters out datagrams sent to other groups on
//! the same port, so we do the same; every member on a host shares the port through SO_REUSEADDR
//! (which Java's MulticastSocket sets too).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// How to open the membership socket; Tomcat's `<Membership>` attribute names in the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McastSocketConfig {
    /// `address`: the multicast group (228.0.0.4 by default).
    pub group: Ipv4Addr,
    /// `port`: the group's UDP port (45564 by default).
    pub port: u16,
    /// `bind`: the address of the interface to send and join on; the kernel picks one when unset.
    pub interface: Option<Ipv4Addr>,
    /// `ttl`: the multicast TTL; the OS default (1) when unset.
    pub ttl: Option<u32>,
    /// `!localLoopbackDisabled`: whether our own datagrams come back to this host.
    pub loopback: bool,
}

impl Default for McastSocketConfig {
    fn default() -> Self {
        McastSocketConfig {
            group: Ipv4Addr::new(228, 0, 0, 4),
            port: 45564,
            interface: None,
            ttl: None,
            loopback: true,
        }
    }
}

/// Which socket call failed while opening the membership socket, with the OS error.
#[derive(Debug, thiserror::Error)]
pub enum McastError {
    #[error("{address} is not a multicast address (expected 224.0.0.0 to 239.255.255.255)")]
    NotMulticast { address: Ipv4Addr },
    #[error("cannot create the UDP socket: {source}")]
    Socket { source: io::Error },
    #[error("cannot set {option} on the multicast socket: {source}")]
    Option { option: &'static str, source: io::Error },
    #[error("cannot bind the multicast socket to {address}: {source}")]
    Bind { address: SocketAddr, source: io::Error },
    #[error("cannot join group {group} on {interface}: {source}")]
    Join { group: Ipv4Addr, interface: String, source: io::Error },
}

impl McastError {
    /// The OS error, when a socket call failed.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            McastError::NotMulticast { .. } => None,
            McastError::Socket { source }
            | McastError::Option { source, .. }
            | McastError::Bind { source, .. }
            | McastError::Join { source, .. } => Some(source),
        }
    }
}

/// Opens and joins the membership socket. Must be called inside a tokio runtime.
pub fn open(config: &McastSocketConfig) -> Result<UdpSocket, McastError> {
    if !config.group.is_multicast() {
        return Err(McastError::NotMulticast { address: config.group });
    }
    let socket =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|source| McastError::Socket { source })?;
    let opt = |option: &'static str| move |source| McastError::Option { option, source };
    socket.set_reuse_address(true).map_err(opt("SO_REUSEADDR"))?;
    socket.set_nonblocking(true).map_err(opt("O_NONBLOCK"))?;
    // The group address first, as Tomcat does when `bind` is set; the wildcard if that fails.
    let group_addr = SocketAddr::V4(SocketAddrV4::new(config.group, config.port));
    if let Err(e) = socket.bind(&group_addr.into()) {
        let any = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, config.port));
        tracing::debug!(error = %e, "binding the group address failed, binding the wildcard address");
        socket.bind(&any.into()).map_err(|source| McastError::Bind { address: any, source })?;
    }
    let interface = config.interface.unwrap_or(Ipv4Addr::UNSPECIFIED);
    if config.interface.is_some() {
        socket.set_multicast_if_v4(&interface).map_err(opt("IP_MULTICAST_IF"))?;
    }
    socket.set_multicast_loop_v4(config.loopback).map_err(opt("IP_MULTICAST_LOOP"))?;
    if let Some(ttl) = config.ttl {
        socket.set_multicast_ttl_v4(ttl).map_err(opt("IP_MULTICAST_TTL"))?;
    }
    socket.join_multicast_v4(&config.group, &interface).map_err(|source| McastError::Join {
        group: config.group,
        interface: config.interface.map_or_else(|| "the default interface".to_string(), |i| i.to_string()),
        source,
    })?;
    UdpSocket::from_std(socket.into()).map_err(|source| McastError::Socket { source })
}
