//! The transfer package that carries every message and ACK on a Tribes TCP connection.
//!
//! Spec: `org.apache.catalina.tribes.io.XByteBuffer` (`createDataPackage`, `countPackages`,
//! `extractDataPackage`). Layout: `FLT2002 | i32 length | payload | TLF2003`.
//!
//! Tomcat never resynchronises a stream: bytes that are not a package where one must start, or an
//! end marker that is not where the length says, leave the connection unusable. This decoder
//! reports them as errors so the caller closes the connection. It also caps the length, which
//! Tomcat does not.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// `XByteBuffer.START_DATA`.
pub const START: [u8; 7] = *b"FLT2002";
/// `XByteBuffer.END_DATA`.
pub const END: [u8; 7] = *b"TLF2003";
/// Start marker and length field.
pub const HEADER_LEN: usize = START.len() + 4;
/// Bytes a package adds around its payload.
pub const OVERHEAD: usize = HEADER_LEN + END.len();
/// Default cap on a payload's length: 64 MiB, far above what DeltaManager sends in one message.
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 << 20;
/// The most a decoder reserves ahead of bytes actually received, so that a large declared length
/// alone does not make it allocate.
const MAX_RESERVE_AHEAD: usize = 64 << 10;

/// Why the front of a receive buffer is not a transfer package. Offsets count from the start of
/// the package. Nothing was consumed; close the connection (Tomcat never resynchronises).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes where a package must start are not `FLT2002`.
    #[error("package does not start with FLT2002 (byte {offset} is 0x{found:02x})")]
    BadStart { offset: usize, found: u8 },
    /// The length field is negative.
    #[error("package length {len} at offset 7 is negative")]
    NegativeLength { len: i32 },
    /// The length field is over the configured cap.
    #[error("package length {len} at offset 7 is over the {max} byte limit")]
    TooLong { len: usize, max: usize },
    /// `TLF2003` is not right after the payload.
    #[error("package of {len} bytes does not end with TLF2003 at offset {offset}")]
    BadEnd { len: usize, offset: usize },
}

impl FrameError {
    /// Where in the package the problem was found.
    pub fn offset(&self) -> usize {
        match *self {
            FrameError::BadStart { offset, .. } | FrameError::BadEnd { offset, .. } => offset,
            FrameError::NegativeLength { .. } | FrameError::TooLong { .. } => START.len(),
        }
    }
}

/// Appends `payload` as one package.
pub fn encode_frame(payload: &[u8], dst: &mut BytesMut) {
    let len = i32::try_from(payload.len()).expect("package payload fits an i32 length");
    dst.reserve(payload.len() + OVERHEAD);
    dst.put_slice(&START);
    dst.put_i32(len);
    dst.put_slice(payload);
    dst.put_slice(&END);
}

/// An incremental package decoder: feed it whatever the socket returned, in any pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    /// The largest payload accepted; a longer declared length is an error before any allocation.
    pub max_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder { max_len: DEFAULT_MAX_FRAME_LEN }
    }
}

impl FrameDecoder {
    pub fn new(max_len: usize) -> Self {
        FrameDecoder { max_len }
    }

    /// Splits the first complete package off `src` and returns its payload.
    ///
    /// `Ok(None)` means more bytes are needed and leaves `src` untouched. Errors are reported as
    /// soon as the bytes that prove them have arrived, even in an incomplete package.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(len) = self.check_header(src)? else {
            return Ok(None);
        };
        let total = HEADER_LEN + len + END.len();
        if src.len() < total {
            // Check what has arrived of the end marker, then wait for the rest.
            check_end_prefix(src, len)?;
            let ahead = (total - src.len()).min(MAX_RESERVE_AHEAD);
            src.reserve(ahead);
            return Ok(None);
        }
        check_end_prefix(src, len)?;
        src.advance(HEADER_LEN);
        let payload = src.split_to(len).freeze();
        src.advance(END.len());
        Ok(Some(payload))
    }

    /// The payload length, once start marker and length field have arrived and are valid.
    fn check_header(&self, src: &[u8]) -> Result<Option<usize>, FrameError> {
        let have = src.len().min(START.len());
        if let Some(offset) = (0..have).find(|&i| src[i] != START[i]) {
            return Err(FrameError::BadStart { offset, found: src[offset] });
        }
        if src.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = i32::from_be_bytes([src[7], src[8], src[9], src[10]]);
        if len < 0 {
            return Err(FrameError::NegativeLength { len });
        }
        let len = len as usize;
        if len > self.max_len {
            return Err(FrameError::TooLong { len, max: self.max_len });
        }
        Ok(Some(len))
    }
}

fn check_end_prefix(src: &[u8], len: usize) -> Result<(), FrameError> {
    let end_at = HEADER_LEN + len;
    let arrived = src.len().saturating_sub(end_at).min(END.len());
    if arrived > 0 && src[end_at..end_at + arrived] != END[..arrived] {
        return Err(FrameError::BadEnd { len, offset: end_at });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn ack_command_is_a_package_of_ack_data() {
        let golden = hex!("464c5432303032 00000003 060203 544c4632303033");
        let mut wire = BytesMut::new();
        encode_frame(&[6, 2, 3], &mut wire);
        assert_eq!(wire[..], golden[..]);
        let mut src = BytesMut::from(&golden[..]);
        assert_eq!(FrameDecoder::new(64).decode(&mut src), Ok(Some(Bytes::from_static(&[6, 2, 3]))));
        assert!(src.is_empty());
    }

    #[test]
    fn junk_is_an_error_as_soon_as_its_first_byte_arrives() {
        let mut src = BytesMut::from(&b"FLX"[..]);
        assert_eq!(FrameDecoder::default().decode(&mut src), Err(FrameError::BadStart { offset: 2, found: b'X' }));
        assert_eq!(src.len(), 3, "nothing consumed");
    }

    #[test]
    fn a_giant_length_is_refused_before_anything_is_allocated() {
        let mut src = BytesMut::from(&hex!("464c5432303032 7fffffff")[..]);
        assert_eq!(FrameDecoder::new(1024).decode(&mut src), Err(FrameError::TooLong { len: 0x7fff_ffff, max: 1024 }));
        let mut src = BytesMut::from(&hex!("464c5432303032 80000000")[..]);
        assert_eq!(FrameDecoder::new(1024).decode(&mut src), Err(FrameError::NegativeLength { len: i32::MIN }));
    }

    #[test]
    fn a_length_within_the_cap_reserves_at_most_the_look_ahead() {
        let mut src = BytesMut::from(&hex!("464c5432303032 03ffffff")[..]);
        assert_eq!(FrameDecoder::default().decode(&mut src), Ok(None));
        assert!(src.capacity() <= HEADER_LEN + MAX_RESERVE_AHEAD + 64, "capacity {}", src.capacity());
    }

    #[test]
    fn a_wrong_end_marker_is_an_error_even_before_the_package_is_complete() {
        let mut src = BytesMut::from(&hex!("464c5432303032 00000001 aa 544c46 58")[..]);
        assert_eq!(FrameDecoder::default().decode(&mut src), Err(FrameError::BadEnd { len: 1, offset: 12 }));
    }

    #[test]
    fn two_packages_in_one_read_come_out_in_order() {
        let mut src = BytesMut::new();
        encode_frame(b"one", &mut src);
        encode_frame(b"", &mut src);
        src.extend_from_slice(b"FLT2");
        let d = FrameDecoder::default();
        assert_eq!(d.decode(&mut src), Ok(Some(Bytes::from_static(b"one"))));
        assert_eq!(d.decode(&mut src), Ok(Some(Bytes::new())));
        assert_eq!(d.decode(&mut src), Ok(None));
        assert_eq!(&src[..], b"FLT2");
    }
}
