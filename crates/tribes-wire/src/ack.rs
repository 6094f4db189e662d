//! ACK and FAIL_ACK: the 3-byte payloads a receiver sends back in a transfer package.
//!
//! Spec: `org.apache.catalina.tribes.transport.Constants` (`ACK_DATA`, `FAIL_ACK_DATA`,
//! `ACK_COMMAND`, `FAIL_ACK_COMMAND`) and `transport.nio.NioReplicationTask.drainChannel`.

/// `Constants.ACK_DATA`.
pub const ACK_DATA: [u8; 3] = [6, 2, 3];
/// `Constants.FAIL_ACK_DATA`.
pub const FAIL_ACK_DATA: [u8; 3] = [11, 0, 5];
/// `Constants.ACK_COMMAND`: ACK_DATA in a transfer package.
pub const ACK_COMMAND: [u8; 21] = *b"FLT2002\x00\x00\x00\x03\x06\x02\x03TLF2003";
/// `Constants.FAIL_ACK_COMMAND`: FAIL_ACK_DATA in a transfer package.
pub const FAIL_ACK_COMMAND: [u8; 21] = *b"FLT2002\x00\x00\x00\x03\x0b\x00\x05TLF2003";

/// A receiver's answer to a message sent with USE_ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// The message was received (and, with SYNCHRONIZED_ACK, processed).
    Ack,
    /// Processing failed; a Tomcat sender resends once on a new connection.
    FailAck,
}

impl Ack {
    /// Recognises a package payload. Tomcat's sender ignores any other package while it waits.
    pub fn from_payload(payload: &[u8]) -> Option<Ack> {
        match payload {
            p if p == ACK_DATA => Some(Ack::Ack),
            p if p == FAIL_ACK_DATA => Some(Ack::FailAck),
            _ => None,
        }
    }

    /// The 3-byte payload.
    pub fn payload(self) -> &'static [u8; 3] {
        match self {
            Ack::Ack => &ACK_DATA,
            Ack::FailAck => &FAIL_ACK_DATA,
        }
    }

    /// The whole 21-byte package, as written on the connection.
    pub fn frame(self) -> &'static [u8; 21] {
        match self {
            Ack::Ack => &ACK_COMMAND,
            Ack::FailAck => &FAIL_ACK_COMMAND,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn ack_commands_are_the_ack_payloads_framed() {
        for ack in [Ack::Ack, Ack::FailAck] {
            let mut b = BytesMut::new();
            crate::frame::encode_frame(ack.payload(), &mut b);
            assert_eq!(&b[..], &ack.frame()[..]);
            assert_eq!(Ack::from_payload(ack.payload()), Some(ack));
        }
        assert_eq!(Ack::from_payload(b"abc"), None);
    }
}
