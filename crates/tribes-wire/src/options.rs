//! Send options: the `options` bit set of every ChannelData.
//!
//! Spec: `org.apache.catalina.tribes.Channel` (`SEND_OPTIONS_*`, `getSendOptionValue`) and
//! `org.apache.catalina.ha.tcp.SimpleTcpCluster.setChannelSendOptions`.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// The options of one message. Unknown bits (interceptors' option flags) are carried untouched.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SendOptions(pub i32);

impl SendOptions {
    /// Payload is raw bytes, not a Java-serialized object.
    pub const BYTE_MESSAGE: Self = Self(0x0001);
    /// The receiver answers with ACK or FAIL_ACK.
    pub const USE_ACK: Self = Self(0x0002);
    /// With USE_ACK: the ACK comes after the message was processed, FAIL_ACK if that failed.
    pub const SYNCHRONIZED_ACK: Self = Self(0x0004);
    /// The sender queues the message (MessageDispatchInterceptor); no meaning for the receiver.
    pub const ASYNCHRONOUS: Self = Self(0x0008);
    /// Reserved; no stock component acts on it.
    pub const SECURE: Self = Self(0x0010);
    /// Sent by UDP to the member's udpPort.
    pub const UDP: Self = Self(0x0020);
    /// Sent on the membership multicast socket.
    pub const MULTICAST: Self = Self(0x0040);
    /// GzipInterceptor's default option flag: the payload is gzip-compressed.
    pub const GZIP: Self = Self(0x0100);
    /// `Channel.SEND_OPTIONS_DEFAULT`.
    pub const DEFAULT: Self = Self::USE_ACK;
    /// `SimpleTcpCluster`'s default `channelSendOptions`.
    pub const CLUSTER_DEFAULT: Self = Self::ASYNCHRONOUS;

    const NAMED: [(&'static str, Self); 8] = [
        ("byte", Self::BYTE_MESSAGE),
        ("use_ack", Self::USE_ACK),
        ("sync", Self::SYNCHRONIZED_ACK),
        ("async", Self::ASYNCHRONOUS),
        ("secure", Self::SECURE),
        ("udp", Self::UDP),
        ("multicast", Self::MULTICAST),
        ("gzip", Self::GZIP),
    ];

    pub fn bits(self) -> i32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// What the receiver owes the sender for this message.
    pub fn ack_mode(self) -> AckMode {
        match (self.contains(Self::USE_ACK), self.contains(Self::SYNCHRONIZED_ACK)) {
            (false, _) => AckMode::None,
            (true, false) => AckMode::BeforeProcessing,
            (true, true) => AckMode::AfterProcessing,
        }
    }

    /// Parses a `channelSendOptions` value as Tomcat does: a decimal integer, or a comma-separated
    /// list of option names (`byte`/`byte_message`, `use_ack`, `sync`/`synchronized_ack`,
    /// `async`/`asynchronous`, `secure`, `udp`, `multicast`), case-sensitive, spaces around
    /// commas allowed.
    pub fn parse(value: &str) -> Result<Self, ParseOptionsError> {
        let trimmed = value.trim();
        if let Ok(n) = trimmed.parse::<i32>() {
            return Ok(Self(n));
        }
        let mut bits = Self(0);
        for name in trimmed.split(',').map(str::trim) {
            bits |= match name {
                "byte" | "byte_message" => Self::BYTE_MESSAGE,
                "use_ack" => Self::USE_ACK,
                "sync" | "synchronized_ack" => Self::SYNCHRONIZED_ACK,
                "async" | "asynchronous" => Self::ASYNCHRONOUS,
                "secure" => Self::SECURE,
                "udp" => Self::UDP,
                "multicast" => Self::MULTICAST,
                _ => return Err(ParseOptionsError { value: value.to_string(), name: name.to_string() }),
            };
        }
        Ok(bits)
    }
}

/// When a receiver sends ACK or FAIL_ACK (`NioReplicationTask.drainChannel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// No USE_ACK: nothing is sent back.
    None,
    /// USE_ACK alone: ACK as soon as the message is read, before it is processed.
    BeforeProcessing,
    /// USE_ACK and SYNCHRONIZED_ACK: ACK after processing, FAIL_ACK if processing failed.
    AfterProcessing,
}

/// A `channelSendOptions` value that is neither a number nor a list of known option names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channelSendOptions \"{value}\": unknown option \"{name}\" (expected a number or names among byte, use_ack, sync, async, secure, udp, multicast)")]
pub struct ParseOptionsError {
    pub value: String,
    pub name: String,
}

impl BitOr for SendOptions {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for SendOptions {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for SendOptions {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl fmt::Display for SendOptions {
    /// `0x0000000a (use_ack|async)`; unknown bits are shown as hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x} (", self.0)?;
        let mut rest = self.0;
        let mut first = true;
        for (name, bit) in Self::NAMED {
            if self.contains(bit) {
                write!(f, "{}{name}", if first { "" } else { "|" })?;
                first = false;
                rest &= !bit.0;
            }
        }
        if rest != 0 {
            write!(f, "{}0x{rest:x}", if first { "" } else { "|" })?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for SendOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_send_options_parse_as_tomcat_documents() {
        assert_eq!(SendOptions::parse("8"), Ok(SendOptions::ASYNCHRONOUS));
        assert_eq!(SendOptions::parse("async"), Ok(SendOptions::ASYNCHRONOUS));
        assert_eq!(SendOptions::parse("6"), Ok(SendOptions(6)));
        assert_eq!(SendOptions::parse("use_ack, sync"), Ok(SendOptions(6)));
        assert_eq!(SendOptions::parse("byte_message,asynchronous"), Ok(SendOptions(9)));
        let err = SendOptions::parse("use_ack,Sync").unwrap_err();
        assert_eq!(err.name, "Sync");
        assert!(err.to_string().contains("\"Sync\""), "{err}");
    }

    #[test]
    fn ack_mode_follows_the_receiver_table() {
        assert_eq!(SendOptions(0).ack_mode(), AckMode::None);
        assert_eq!(SendOptions(4).ack_mode(), AckMode::None);
        assert_eq!(SendOptions(2).ack_mode(), AckMode::BeforeProcessing);
        assert_eq!(SendOptions(0x0a).ack_mode(), AckMode::BeforeProcessing);
        assert_eq!(SendOptions(6).ack_mode(), AckMode::AfterProcessing);
    }

    #[test]
    fn display_names_known_bits_and_shows_unknown_ones() {
        assert_eq!(SendOptions(0x10a).to_string(), "0x0000010a (use_ack|async|gzip)");
        assert_eq!(SendOptions(0x1002).to_string(), "0x00001002 (use_ack|0x1000)");
        assert_eq!(SendOptions(0).to_string(), "0x00000000 (none)");
    }
}
