//! The message inside a transfer package.
//!
//! Spec: `org.apache.catalina.tribes.io.ChannelData` (`getDataPackage`, `getDataFromPackage`).
//!
//! ```text
//! i32 options | i64 timestamp | i32 idLen | uniqueId | i32 addrLen | member packet
//!   | i32 msgLen | message
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::{END, START};
use crate::read::Reader;
use crate::{DecodeError, Member, SendOptions};

/// One Tribes message (`ChannelData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelData {
    pub options: SendOptions,
    /// Sender wall clock when the message was made, epoch milliseconds.
    pub timestamp: i64,
    /// Message id, 16 random bytes from Tomcat (UUID v4 layout). Not validated on receipt.
    pub unique_id: Bytes,
    /// The sender's own member packet. Receivers identify the sender by it and reply to it.
    pub address: Member,
    /// The application payload: a Java-serialized object, or raw bytes with BYTE_MESSAGE.
    pub message: Bytes,
}

impl ChannelData {
    /// Size of the encoded ChannelData (the package payload).
    pub fn encoded_len(&self) -> usize {
        4 + 8 + 4 + self.unique_id.len() + 4 + self.address.encoded_len() + 4 + self.message.len()
    }

    /// Appends the ChannelData (`ChannelData.getDataPackage`).
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        dst.put_i32(self.options.bits());
        dst.put_i64(self.timestamp);
        dst.put_i32(len_i32(self.unique_id.len()));
        dst.put_slice(&self.unique_id);
        dst.put_i32(len_i32(self.address.encoded_len()));
        self.address.encode(dst);
        dst.put_i32(len_i32(self.message.len()));
        dst.put_slice(&self.message);
    }

    /// Appends the ChannelData wrapped in a transfer package
    /// (`XByteBuffer.createDataPackage(ChannelData)`), without an intermediate copy.
    pub fn encode_frame(&self, dst: &mut BytesMut) {
        let len = self.encoded_len();
        dst.reserve(len + crate::frame::OVERHEAD);
        dst.put_slice(&START);
        dst.put_i32(len_i32(len));
        self.encode(dst);
        dst.put_slice(&END);
    }

    /// The whole transfer package as one buffer.
    pub fn to_frame(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len() + crate::frame::OVERHEAD);
        self.encode_frame(&mut b);
        b.freeze()
    }

    /// Decodes a package payload (`ChannelData.getDataFromPackage`). The address must be a valid
    /// member packet and nothing may follow the message. Slices share `payload`'s memory.
    pub fn decode(payload: &Bytes) -> Result<ChannelData, DecodeError> {
        let mut r = Reader::new(payload);
        let options = SendOptions(r.i32("options")?);
        let timestamp = r.i64("timestamp")?;
        let unique_id = r.len_bytes("unique id length", "unique id")?;
        let address_len = r.len("address length")?;
        let address_at = r.pos();
        let address_bytes = r.bytes("address", address_len)?;
        let address = Member::decode(&address_bytes).map_err(|e| e.shifted(address_at))?;
        let message = r.len_bytes("message length", "message")?;
        r.finish("message")?;
        Ok(ChannelData { options, timestamp, unique_id, address, message })
    }
}

fn len_i32(len: usize) -> i32 {
    i32::try_from(len).expect("ChannelData field fits an i32 length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FrameDecoder, UniqueId};
    use hex_literal::hex;

    /// `test-vectors.md` §3: ByteMessage "hello", options 3, made by Tomcat 9.0.70 and 10.1.60.
    const HELLO_FRAME: [u8; 140] = hex!(
        "464c5432303032 0000007a 00000003 0000018bcfe56800 00000010 202122232425262728292a2b2c2d2e2f"
        "0000004d 5452494245532d420100 00000035 00000000000003e8 00000fa0 ffffffff ffffffff 04 7f000001"
        "00000000 00000000 000102030405060708090a0b0c0d0e0f 00000000 5452494245532d450100"
        "00000005 68656c6c6f 544c4632303033"
    );

    #[test]
    fn the_spec_hello_frame_decodes_and_reencodes_identically() {
        let mut src = BytesMut::from(&HELLO_FRAME[..]);
        let payload = FrameDecoder::default().decode(&mut src).unwrap().unwrap();
        let cd = ChannelData::decode(&payload).unwrap();
        assert_eq!(cd.options, SendOptions(3));
        assert_eq!(cd.timestamp, 1_700_000_000_000);
        assert_eq!(cd.address.port, 4000);
        assert_eq!(cd.address.alive, 1000);
        assert_eq!(cd.address.unique_id, UniqueId(hex!("000102030405060708090a0b0c0d0e0f")));
        assert_eq!(&cd.message[..], b"hello");
        assert_eq!(cd.to_frame()[..], HELLO_FRAME[..]);
    }

    #[test]
    fn a_corrupt_address_is_reported_at_its_offset_in_the_channel_data() {
        let mut payload = HELLO_FRAME[11..140 - 7].to_vec();
        payload[40] = b'X'; // inside "TRIBES-B", which starts at offset 36
        let err = ChannelData::decode(&Bytes::from(payload)).unwrap_err();
        assert_eq!(err, DecodeError::BadMarker { what: "TRIBES-B begin", offset: 36 });
    }
}
