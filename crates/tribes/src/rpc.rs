//! RpcMessage headers and the `RpcMessage$NoRpcChannelReply` answer (`group.RpcMessage`,
//! `group.GroupChannel.sendNoRpcChannelReply`).
//!
//! Spec: `tribes-wire.md` §7.3, the NoRpcChannelReply vector of `test-vectors.md`. Java sources
//! `group/RpcMessage.java`, `group/RpcChannel.java`, `group/GroupChannel.java`.
//!
//! A stock `RpcChannel.send` (BackupManager's LazyReplicatedMap, ClusterSingleSignOn, static
//! membership) waits for every destination to answer, up to its rpc timeout (15 s for the maps).
//! A stock GroupChannel that has no RpcChannel for the message's `rpcId` answers at once with a
//! NoRpcChannelReply (options ASYNCHRONOUS), which the caller counts as "this one will not
//! answer". tribesd serves no RPC, so it answers every RpcMessage that is not itself a
//! NoRpcChannelReply, as a stock node without listeners does.
//!
//! Only the header is read: the stream must start with the RpcMessage (or NoRpcChannelReply)
//! class descriptor, and the externalized fields come from the first block-data records. The
//! wrapped `message` object is never parsed.

use bytes::Bytes;

/// `org.apache.catalina.tribes.group.RpcMessage`.
pub const RPC_MESSAGE_CLASS: &str = "org.apache.catalina.tribes.group.RpcMessage";
/// `org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply`.
pub const NO_RPC_CHANNEL_REPLY_CLASS: &str = "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply";
/// RpcMessage's computed serialVersionUID (no declared one; the same on 9.0, 10.1, 11.0).
pub const RPC_MESSAGE_UID: u64 = 0x712A_750F_F274_E509;
/// NoRpcChannelReply's computed serialVersionUID.
pub const NO_RPC_CHANNEL_REPLY_UID: u64 = 0x7BAB_8FB3_6A4B_5BA6;

const MAGIC: [u8; 4] = [0xAC, 0xED, 0x00, 0x05];
const TC_NULL: u8 = 0x70;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_ENDBLOCKDATA: u8 = 0x78;
const TC_BLOCKDATA: u8 = 0x77;
const TC_BLOCKDATALONG: u8 = 0x7A;
/// `SC_EXTERNALIZABLE | SC_BLOCK_DATA`.
const EXTERNALIZABLE_FLAGS: u8 = 0x0C;
/// `ObjectOutputStream`'s block-data buffer: longer data is cut into records of this size.
const MAX_BLOCK_SIZE: usize = 1024;

/// Which RpcMessage class a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcKind {
    /// An `RpcMessage`: a request (`reply == false`) or an answer to one.
    Message { reply: bool },
    /// An `RpcMessage$NoRpcChannelReply` (always a reply).
    NoRpcChannelReply,
}

/// The externalized header of an RpcMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcHeader {
    pub kind: RpcKind,
    /// The correlation id (16 bytes from a stock caller).
    pub uuid: Bytes,
    /// The RpcChannel's id (ISO-8859-1 text, e.g. the map name).
    pub rpc_id: Bytes,
}

impl RpcHeader {
    /// Whether a stock GroupChannel without an RpcChannel for `rpc_id` answers this message with
    /// a NoRpcChannelReply (every RpcMessage but a NoRpcChannelReply: "avoid circular loop").
    pub fn wants_no_rpc_channel_reply(&self) -> bool {
        matches!(self.kind, RpcKind::Message { .. })
    }
}

/// Reads the header of `payload` (the bytes of one Java-serialized object) if it is an
/// RpcMessage or a NoRpcChannelReply; `None` for anything else, malformed headers included.
pub fn parse_header(payload: &[u8]) -> Option<RpcHeader> {
    let mut r = Reader { buf: payload, pos: 0 };
    if r.take(4)? != MAGIC || r.u8()? != TC_OBJECT {
        return None;
    }
    let kind = match r.class_desc()? {
        (RPC_MESSAGE_CLASS, RPC_MESSAGE_UID) => {
            if r.u8()? != TC_NULL {
                return None;
            }
            RpcKind::Message { reply: false }
        }
        (NO_RPC_CHANNEL_REPLY_CLASS, NO_RPC_CHANNEL_REPLY_UID) => {
            if r.class_desc()? != (RPC_MESSAGE_CLASS, RPC_MESSAGE_UID) || r.u8()? != TC_NULL {
                return None;
            }
            RpcKind::NoRpcChannelReply
        }
        _ => return None,
    };
    // The externalized fields, as one byte stream over the leading block-data records.
    let mut data = Vec::new();
    while let Some(&tag) = r.buf.get(r.pos) {
        let len = match tag {
            TC_BLOCKDATA => {
                r.pos += 1;
                usize::from(r.u8()?)
            }
            TC_BLOCKDATALONG => {
                r.pos += 1;
                usize::try_from(r.i32()?).ok()?
            }
            _ => break,
        };
        data.extend_from_slice(r.take(len)?);
    }
    let mut d = Reader { buf: &data, pos: 0 };
    let kind = match kind {
        RpcKind::Message { .. } => RpcKind::Message { reply: d.u8()? != 0 },
        k => k,
    };
    let len = usize::try_from(d.i32()?).ok()?;
    let uuid = Bytes::copy_from_slice(d.take(len)?);
    let len = usize::try_from(d.i32()?).ok()?;
    let rpc_id = Bytes::copy_from_slice(d.take(len)?);
    Some(RpcHeader { kind, uuid, rpc_id })
}

/// The bytes `ObjectOutputStream` writes for `new RpcMessage.NoRpcChannelReply(rpcId, uuid)`.
pub fn no_rpc_channel_reply(rpc_id: &[u8], uuid: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(200 + rpc_id.len() + uuid.len());
    out.extend_from_slice(&MAGIC);
    out.push(TC_OBJECT);
    class_desc(&mut out, NO_RPC_CHANNEL_REPLY_CLASS, NO_RPC_CHANNEL_REPLY_UID);
    class_desc(&mut out, RPC_MESSAGE_CLASS, RPC_MESSAGE_UID);
    out.push(TC_NULL);
    let mut data = Vec::with_capacity(8 + rpc_id.len() + uuid.len());
    data.extend_from_slice(&(uuid.len() as i32).to_be_bytes());
    data.extend_from_slice(uuid);
    data.extend_from_slice(&(rpc_id.len() as i32).to_be_bytes());
    data.extend_from_slice(rpc_id);
    for block in data.chunks(MAX_BLOCK_SIZE) {
        if block.len() <= 0xFF {
            out.push(TC_BLOCKDATA);
            out.push(block.len() as u8);
        } else {
            out.push(TC_BLOCKDATALONG);
            out.extend_from_slice(&(block.len() as i32).to_be_bytes());
        }
        out.extend_from_slice(block);
    }
    out.push(TC_ENDBLOCKDATA);
    Bytes::from(out)
}

/// A new class descriptor of an externalizable class without fields, up to its superclass.
fn class_desc(out: &mut Vec<u8>, name: &str, uid: u64) {
    out.push(TC_CLASSDESC);
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&uid.to_be_bytes());
    out.push(EXTERNALIZABLE_FLAGS);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.push(TC_ENDBLOCKDATA);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    /// A `TC_CLASSDESC` of an externalizable class without fields and annotations: (name, uid).
    fn class_desc(&mut self) -> Option<(&'static str, u64)> {
        if self.u8()? != TC_CLASSDESC {
            return None;
        }
        let len = usize::from(u16::from_be_bytes(self.take(2)?.try_into().ok()?));
        let name = match self.take(len)? {
            n if n == RPC_MESSAGE_CLASS.as_bytes() => RPC_MESSAGE_CLASS,
            n if n == NO_RPC_CHANNEL_REPLY_CLASS.as_bytes() => NO_RPC_CHANNEL_REPLY_CLASS,
            _ => return None,
        };
        let uid = u64::from_be_bytes(self.take(8)?.try_into().ok()?);
        let flags = self.u8()?;
        let fields = self.take(2)?;
        if flags & EXTERNALIZABLE_FLAGS != EXTERNALIZABLE_FLAGS || fields != [0, 0] || self.u8()? != TC_ENDBLOCKDATA {
            return None;
        }
        Some((name, uid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    const RPC_ID: &[u8] = b"Catalina-Channel-StaticMembership";
    const UUID: [u8; 16] =
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f];

    /// test-vectors.md: NoRpcChannelReply (uuid 50…5F, rpcId Catalina-Channel-StaticMembership).
    const NO_RPC_REPLY_VECTOR: &str = "
        ac ed 00 05 73 72 00 3d 6f 72 67 2e 61 70 61 63 68 65 2e 63 61 74 61 6c 69 6e 61 2e 74 72 69 62
        65 73 2e 67 72 6f 75 70 2e 52 70 63 4d 65 73 73 61 67 65 24 4e 6f 52 70 63 43 68 61 6e 6e 65 6c
        52 65 70 6c 79 7b ab 8f b3 6a 4b 5b a6 0c 00 00 78 72 00 2b 6f 72 67 2e 61 70 61 63 68 65 2e 63
        61 74 61 6c 69 6e 61 2e 74 72 69 62 65 73 2e 67 72 6f 75 70 2e 52 70 63 4d 65 73 73 61 67 65 71
        2a 75 0f f2 74 e5 09 0c 00 00 78 70 77 39 00 00 00 10 50 51 52 53 54 55 56 57 58 59 5a 5b 5c 5d
        5e 5f 00 00 00 21 43 61 74 61 6c 69 6e 61 2d 43 68 61 6e 6e 65 6c 2d 53 74 61 74 69 63 4d 65 6d
        62 65 72 73 68 69 70 78";

    /// test-vectors.md: the head of an RpcMessage request carrying a MemberMessage (the wrapped
    /// object is cut off: only the header is read).
    const REQUEST_HEAD: &str = "
        ac ed 00 05 73 72 00 2b 6f 72 67 2e 61 70 61 63 68 65 2e 63 61 74 61 6c 69 6e 61 2e 74 72 69 62
        65 73 2e 67 72 6f 75 70 2e 52 70 63 4d 65 73 73 61 67 65 71 2a 75 0f f2 74 e5 09 0c 00 00 78 70
        77 3a 00 00 00 00 10 50 51 52 53 54 55 56 57 58 59 5a 5b 5c 5d 5e 5f 00 00 00 21 43 61 74 61 6c
        69 6e 61 2d 43 68 61 6e 6e 65 6c 2d 53 74 61 74 69 63 4d 65 6d 62 65 72 73 68 69 70 73 72 00 4c";

    #[test]
    fn the_no_rpc_channel_reply_is_the_bytes_tomcat_writes() {
        let vector = unhex(NO_RPC_REPLY_VECTOR);
        assert_eq!(vector.len(), 200);
        assert_eq!(no_rpc_channel_reply(RPC_ID, &UUID)[..], vector[..]);
        let h = parse_header(&vector).expect("a NoRpcChannelReply");
        assert_eq!(h.kind, RpcKind::NoRpcChannelReply);
        assert!(!h.wants_no_rpc_channel_reply());
        assert_eq!((&h.uuid[..], &h.rpc_id[..]), (&UUID[..], RPC_ID));
    }

    #[test]
    fn a_request_header_is_read_without_its_wrapped_object() {
        let h = parse_header(&unhex(REQUEST_HEAD)).expect("an RpcMessage");
        assert_eq!(h.kind, RpcKind::Message { reply: false });
        assert!(h.wants_no_rpc_channel_reply());
        assert_eq!((&h.uuid[..], &h.rpc_id[..]), (&UUID[..], RPC_ID));
    }

    #[test]
    fn a_long_rpc_id_is_cut_into_blocks_and_read_back() {
        let rpc_id = vec![b'x'; 3000];
        let bytes = no_rpc_channel_reply(&rpc_id, &UUID);
        let h = parse_header(&bytes).expect("read back");
        assert_eq!(h.rpc_id.len(), 3000);
        // Three 1024-byte records (TC_BLOCKDATALONG) and the rest.
        assert!(bytes.iter().filter(|&&b| b == TC_BLOCKDATALONG).count() >= 3);
    }

    #[test]
    fn other_objects_and_truncated_headers_are_not_rpc_messages() {
        assert_eq!(parse_header(b"\xac\xed\x00\x05\x74\x00\x05hello"), None);
        assert_eq!(parse_header(b""), None);
        let vector = unhex(NO_RPC_REPLY_VECTOR);
        for cut in 0..vector.len() - 1 {
            assert_eq!(parse_header(&vector[..cut]), None, "cut at {cut}");
        }
    }
}
