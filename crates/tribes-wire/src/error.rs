/// Why bytes are not a valid member packet or ChannelData. Offsets count from the start of the
/// structure that was being decoded. Nothing is kept from a failed decode: drop the datagram or
/// close the connection it came from (Tomcat closes it too).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A field runs past the end of the input.
    #[error("{what} at offset {offset} needs {needed} bytes but only {available} remain")]
    Truncated { what: &'static str, offset: usize, needed: usize, available: usize },
    /// A length field is negative (Tomcat never writes one).
    #[error("{what} at offset {offset} is negative ({len})")]
    NegativeLength { what: &'static str, offset: usize, len: i32 },
    /// A fixed marker is not where it must be.
    #[error("expected the {what} marker at offset {offset}")]
    BadMarker { what: &'static str, offset: usize },
    /// The member packet's host length byte is over 127 (negative as a Java byte).
    #[error("member host length {len} at offset {offset} is over 127")]
    HostTooLong { offset: usize, len: u8 },
    /// The member packet's body length does not match the sum of its fields.
    #[error("member body length {declared} at offset {offset} does not match its fields ({actual} bytes)")]
    BodyLength { offset: usize, declared: usize, actual: usize },
    /// Bytes follow the end of a structure that must fill its buffer exactly.
    #[error("{count} unexpected byte(s) after the {what} at offset {offset}")]
    TrailingBytes { what: &'static str, offset: usize, count: usize },
}

impl DecodeError {
    /// Where in the input the problem was found.
    pub fn offset(&self) -> usize {
        match *self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::NegativeLength { offset, .. }
            | DecodeError::BadMarker { offset, .. }
            | DecodeError::HostTooLong { offset, .. }
            | DecodeError::TrailingBytes { offset, .. }
            | DecodeError::BodyLength { offset, .. } => offset,
        }
    }

    /// The same error with its offset moved by `by` bytes: for a structure nested in another, or
    /// to count from the start of a whole capture.
    pub fn shifted(self, by: usize) -> Self {
        match self {
            DecodeError::Truncated { what, offset, needed, available } => {
                DecodeError::Truncated { what, offset: offset + by, needed, available }
            }
            DecodeError::NegativeLength { what, offset, len } => {
                DecodeError::NegativeLength { what, offset: offset + by, len }
            }
            DecodeError::BadMarker { what, offset } => DecodeError::BadMarker { what, offset: offset + by },
            DecodeError::HostTooLong { offset, len } => DecodeError::HostTooLong { offset: offset + by, len },
            DecodeError::TrailingBytes { what, offset, count } => {
                DecodeError::TrailingBytes { what, offset: offset + by, count }
            }
            DecodeError::BodyLength { offset, declared, actual } => {
                DecodeError::BodyLength { offset: offset + by, declared, actual }
            }
        }
    }
}
