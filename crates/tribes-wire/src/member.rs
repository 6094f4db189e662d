//! Member packets: the binary description of a cluster member.
//!
//! Spec: `org.apache.catalina.tribes.membership.MemberImpl` (`getData`, `getMember`), the same on
//! Tomcat 9.0, 10.1 and 11.0. One packet is a whole multicast heartbeat datagram, the `address` of
//! every `ChannelData`, and the external data of a Java-serialized `MemberImpl`.
//!
//! ```text
//! TRIBES-B 01 00 | i32 bodyLen | i64 alive | i32 port | i32 securePort | i32 udpPort
//!   | u8 hostLen | host | i32 cmdLen | command | i32 domainLen | domain | 16 uniqueId
//!   | i32 payloadLen | payload | TRIBES-E 01 00
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::read::Reader;
use crate::DecodeError;

/// `MemberImpl.TRIBES_MBR_BEGIN`.
pub const MBR_BEGIN: [u8; 10] = *b"TRIBES-B\x01\x00";
/// `MemberImpl.TRIBES_MBR_END`.
pub const MBR_END: [u8; 10] = *b"TRIBES-E\x01\x00";
/// `Member.SHUTDOWN_PAYLOAD`: the command of the heartbeat a member sends when it stops.
pub const SHUTDOWN_PAYLOAD: [u8; 9] = *b"BABY-ALEX";
/// Bytes of a packet outside its body: begin marker, body length, end marker.
pub const FRAMING_LEN: usize = MBR_BEGIN.len() + 4 + MBR_END.len();
/// Body bytes that every packet has besides host, command, domain and payload.
const FIXED_BODY_LEN: usize = 8 + 4 + 4 + 4 + 1 + 4 + 4 + 16 + 4;
/// Tomcat refuses to encode a host longer than this (its length travels as a Java byte).
pub const MAX_HOST_LEN: usize = 127;

/// The 16-byte id a member picks at start (`MemberImpl.uniqueId`, UUID v4 layout).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UniqueId(pub [u8; 16]);

impl UniqueId {
    /// An id from 16 random bytes, with the UUID v4 bits Tomcat's `UUIDGenerator` sets.
    pub fn from_random(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        UniqueId(bytes)
    }

    /// Tomcat's configuration syntax for ids and byte lists: `{0,1,2,...,15}`.
    pub fn to_tomcat_string(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|b| (*b as i8).to_string()).collect();
        format!("{{{}}}", parts.join(","))
    }
}

impl fmt::Debug for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What makes two members the same member (`MemberImpl.equals`): host bytes, TCP port and unique
/// id. Alive time, domain, command, payload and the other ports are not part of it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    pub host: Bytes,
    pub port: i32,
    pub unique_id: UniqueId,
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({})", host_to_string(&self.host), self.port, self.unique_id)
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A member packet's fields (`MemberImpl`).
///
/// Decoding keeps every field as sent, and encoding writes them back in the same layout, so a
/// decoded packet re-encodes to the identical bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Member {
    /// Milliseconds the member has been running (`memberAliveTime`). Stock nodes ask the member
    /// with the largest value for session state.
    pub alive: i64,
    /// TCP receiver port.
    pub port: i32,
    /// TLS receiver port, `-1` when none.
    pub secure_port: i32,
    /// UDP receiver port, `-1` when none.
    pub udp_port: i32,
    /// Raw address bytes: 4 for IPv4, 16 for IPv6 (Tomcat accepts up to 127 on the wire).
    pub host: Bytes,
    /// Empty, or [`SHUTDOWN_PAYLOAD`] in the heartbeat of a member that stops.
    pub command: Bytes,
    /// Cluster domain (ISO-8859-1 bytes of the configured string), empty by default.
    pub domain: Bytes,
    pub unique_id: UniqueId,
    /// Application payload, empty by default.
    pub payload: Bytes,
}

impl Member {
    /// A member with Tomcat's defaults: no secure or UDP port, no command, domain or payload.
    pub fn new(host: IpAddr, port: i32, unique_id: UniqueId, alive: i64) -> Self {
        let host = match host {
            IpAddr::V4(a) => Bytes::copy_from_slice(&a.octets()),
            IpAddr::V6(a) => Bytes::copy_from_slice(&a.octets()),
        };
        Member {
            alive,
            port,
            secure_port: -1,
            udp_port: -1,
            host,
            command: Bytes::new(),
            domain: Bytes::new(),
            unique_id,
            payload: Bytes::new(),
        }
    }

    pub fn id(&self) -> MemberId {
        MemberId { host: self.host.clone(), port: self.port, unique_id: self.unique_id }
    }

    /// The host as an address, when it is 4 or 16 bytes long.
    pub fn ip(&self) -> Option<IpAddr> {
        host_to_ip(&self.host)
    }

    /// Whether this is the heartbeat of a member that stops (`Member.SHUTDOWN_PAYLOAD`).
    pub fn is_shutdown(&self) -> bool {
        self.command[..] == SHUTDOWN_PAYLOAD
    }

    /// The same member announcing its graceful departure.
    pub fn to_shutdown(&self) -> Member {
        Member { command: Bytes::from_static(&SHUTDOWN_PAYLOAD), ..self.clone() }
    }

    fn body_len(&self) -> usize {
        FIXED_BODY_LEN + self.host.len() + self.command.len() + self.domain.len() + self.payload.len()
    }

    /// Size of the encoded packet.
    pub fn encoded_len(&self) -> usize {
        FRAMING_LEN + self.body_len()
    }

    /// Appends the packet (`MemberImpl.getData`).
    ///
    /// # Panics
    /// When the host is longer than [`MAX_HOST_LEN`] or a field does not fit an i32: both are
    /// local programming errors, Tomcat refuses them too.
    pub fn encode(&self, dst: &mut BytesMut) {
        assert!(self.host.len() <= MAX_HOST_LEN, "member host of {} bytes is over 127", self.host.len());
        let body = i32::try_from(self.body_len()).expect("member packet fits an i32 length");
        dst.reserve(self.encoded_len());
        dst.put_slice(&MBR_BEGIN);
        dst.put_i32(body);
        dst.put_i64(self.alive);
        dst.put_i32(self.port);
        dst.put_i32(self.secure_port);
        dst.put_i32(self.udp_port);
        dst.put_u8(self.host.len() as u8);
        dst.put_slice(&self.host);
        dst.put_i32(self.command.len() as i32);
        dst.put_slice(&self.command);
        dst.put_i32(self.domain.len() as i32);
        dst.put_slice(&self.domain);
        dst.put_slice(&self.unique_id.0);
        dst.put_i32(self.payload.len() as i32);
        dst.put_slice(&self.payload);
        dst.put_slice(&MBR_END);
    }

    /// The encoded packet as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut b);
        b.freeze()
    }

    /// Decodes a packet that fills `buf` exactly (`MemberImpl.getMember`, with stricter checks:
    /// the fields must add up to the declared body length and nothing may follow the end marker).
    /// Field slices share `buf`'s memory.
    pub fn decode(buf: &Bytes) -> Result<Member, DecodeError> {
        let mut r = Reader::new(buf);
        r.marker("TRIBES-B begin", &MBR_BEGIN)?;
        let declared = r.len("member body length")?;
        // Check the whole packet is there before walking the fields, as Tomcat does.
        if r.remaining() < declared + MBR_END.len() {
            return Err(DecodeError::Truncated {
                what: "member body",
                offset: r.pos(),
                needed: declared + MBR_END.len(),
                available: r.remaining(),
            });
        }
        let body_start = r.pos();
        let alive = r.i64("alive time")?;
        let port = r.i32("port")?;
        let secure_port = r.i32("secure port")?;
        let udp_port = r.i32("udp port")?;
        let host_offset = r.pos();
        let host_len = r.u8("host length")?;
        if host_len as usize > MAX_HOST_LEN {
            return Err(DecodeError::HostTooLong { offset: host_offset, len: host_len });
        }
        let host = r.bytes("host", host_len as usize)?;
        let command = r.len_bytes("command length", "command")?;
        let domain = r.len_bytes("domain length", "domain")?;
        let unique_id = UniqueId(r.array("unique id")?);
        let payload = r.len_bytes("payload length", "payload")?;
        let actual = r.pos() - body_start;
        if actual != declared {
            return Err(DecodeError::BodyLength { offset: MBR_BEGIN.len(), declared, actual });
        }
        r.marker("TRIBES-E end", &MBR_END)?;
        r.finish("member packet")?;
        Ok(Member { alive, port, secure_port, udp_port, host, command, domain, unique_id, payload })
    }
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("host", &host_to_string(&self.host))
            .field("port", &self.port)
            .field("unique_id", &self.unique_id)
            .field("alive", &self.alive)
            .field("secure_port", &self.secure_port)
            .field("udp_port", &self.udp_port)
            .field("command", &String::from_utf8_lossy(&self.command))
            .field("domain", &String::from_utf8_lossy(&self.domain))
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The host bytes as an address, when they are 4 or 16 bytes long.
pub fn host_to_ip(host: &[u8]) -> Option<IpAddr> {
    match host.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(host[0], host[1], host[2], host[3]))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(host).expect("16 bytes")))),
        _ => None,
    }
}

/// The host bytes for people: an address, or hex when they are not 4 or 16 bytes long.
pub fn host_to_string(host: &[u8]) -> String {
    match host_to_ip(host) {
        Some(ip) => ip.to_string(),
        None => host.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
    }
}
