//! The request batch: every change one request made to one session, in one `byte[]` that crosses
//! JNI once at the end of the request.
//!
//! Spec: `docs/java-bridge.md` ("The request batch"); the Java writer is
//! `java-bridge/src/main/java/io/tribesd/tomcat/bridge/ChangeBatch.java`. Pure: no JNI, no I/O.
//!
//! ```text
//! batch  = magic "TB" (54 42) | version u8 (1) | flags u8 (0)
//!        | context str | session_id str | count u32 | op * count        (nothing may follow)
//! str    = len u16 | UTF-8 bytes        (the limit of Tomcat's own writeUTF for names and ids)
//! bytes  = len u32 | bytes              (a standalone Java stream: AC ED 00 05 + one object)
//! opt<T> = 00 | 01 T
//! op     = 01 CREATE            opt<i32 maxInactiveInterval>
//!        | 02 SET_ATTRIBUTE     str name, bytes value
//!        | 03 REMOVE_ATTRIBUTE  str name
//!        | 04 SET_MAX_INACTIVE  i32 seconds
//!        | 05 SET_PRINCIPAL     opt<bytes>
//!        | 06 SET_AUTH_TYPE     opt<str>
//!        | 07 SET_NOTE          str name, bytes value
//!        | 08 REMOVE_NOTE       str name
//!        | 09 SET_NEW           u8 (0 or 1)
//!        | 0A ACCESS
//!        | 0B CHANGE_ID         str new_id
//!        | 0C INVALIDATE
//! ```
//!
//! Integers are big-endian, as `java.io.DataOutputStream` writes them. Value bytes are kept as
//! they came, as slices of the batch's own buffer (no copy; never deserialized here); checking
//! that they are one Java object is the session layer's job.

use bytes::Bytes;

/// Magic and version at the start of every batch.
pub const MAGIC: [u8; 2] = *b"TB";
pub const VERSION: u8 = 1;
/// Fixed header: magic, version, flags.
pub const HEADER_LEN: usize = 4;

/// Operation tags.
pub mod tag {
    pub const CREATE: u8 = 0x01;
    pub const SET_ATTRIBUTE: u8 = 0x02;
    pub const REMOVE_ATTRIBUTE: u8 = 0x03;
    pub const SET_MAX_INACTIVE: u8 = 0x04;
    pub const SET_PRINCIPAL: u8 = 0x05;
    pub const SET_AUTH_TYPE: u8 = 0x06;
    pub const SET_NOTE: u8 = 0x07;
    pub const REMOVE_NOTE: u8 = 0x08;
    pub const SET_NEW: u8 = 0x09;
    pub const ACCESS: u8 = 0x0A;
    pub const CHANGE_ID: u8 = 0x0B;
    pub const INVALIDATE: u8 = 0x0C;
}

/// One change, as the Java Manager recorded it. Mirrors
/// `tribes_proto::session::manager::LocalChange`, with values still as raw stream bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create { max_inactive_interval: Option<i32> },
    SetAttribute { name: String, value: Bytes },
    RemoveAttribute { name: String },
    SetMaxInactiveInterval(i32),
    SetPrincipal(Option<Bytes>),
    SetAuthType(Option<String>),
    SetNote { name: String, value: Bytes },
    RemoveNote { name: String },
    SetNew(bool),
    Access,
    ChangeId { new_id: String },
    Invalidate,
}

/// All changes of one request to one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The context name (`Context#getName()`, for example `/shop`), as DeltaManager names it.
    pub context: String,
    pub session_id: String,
    pub changes: Vec<Change>,
}

/// Why a batch could not be decoded. Nothing was applied; the request's changes are lost and
/// the Java side gets an exception naming the offset.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The batch does not start with `TB`.
    #[error("batch does not start with the magic \"TB\"")]
    BadMagic,
    /// A version this library does not know: the jar and the native library do not match.
    #[error("batch version {0} is not supported (this library reads version {VERSION})")]
    BadVersion(u8),
    /// Reserved flags were set.
    #[error("batch flags {0:#04x} are reserved and must be 0")]
    BadFlags(u8),
    /// The batch ended inside a field.
    #[error("batch truncated at offset {offset}: {field} needs {needed} bytes, {left} left")]
    Truncated { offset: usize, field: &'static str, needed: usize, left: usize },
    /// The operation count cannot fit in the bytes that follow (checked before allocating).
    #[error("batch declares {count} operations but only {left} bytes follow at offset {offset}")]
    TooManyOps { offset: usize, count: u32, left: usize },
    /// An operation tag this library does not know.
    #[error("unknown operation tag {tag:#04x} at offset {offset}")]
    UnknownOp { offset: usize, tag: u8 },
    /// A string field is not UTF-8.
    #[error("{field} at offset {offset} is not valid UTF-8")]
    BadUtf8 { offset: usize, field: &'static str },
    /// An optional or boolean marker other than 0 or 1.
    #[error("{field} at offset {offset} has marker {value:#04x}, expected 0 or 1")]
    BadMarker { offset: usize, field: &'static str, value: u8 },
    /// Bytes follow the last operation.
    #[error("{extra} bytes follow the last operation at offset {offset}")]
    TrailingBytes { offset: usize, extra: usize },
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], BatchError> {
        let left = self.buf.len() - self.pos;
        if n > left {
            return Err(BatchError::Truncated { offset: self.pos, field, needed: n, left });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, BatchError> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, BatchError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, BatchError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, BatchError> {
        Ok(self.u32(field)? as i32)
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, BatchError> {
        let offset = self.pos;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(BatchError::BadMarker { offset, field, value }),
        }
    }

    fn str(&mut self, field: &'static str) -> Result<String, BatchError> {
        let len = self.u16(field)? as usize;
        let offset = self.pos;
        let raw = self.take(len, field)?;
        std::str::from_utf8(raw).map(str::to_owned).map_err(|_| BatchError::BadUtf8 { offset, field })
    }

    fn bytes(&mut self, field: &'static str) -> Result<Bytes, BatchError> {
        let len = self.u32(field)? as usize;
        let start = self.pos;
        self.take(len, field)?;
        Ok(self.buf.slice(start..start + len))
    }
}

/// Decodes one batch. Every failure is a [`BatchError`]; no input panics or allocates more than
/// the input's own size. Values are slices of `buf`.
pub fn decode(buf: &Bytes) -> Result<Batch, BatchError> {
    let seen = &buf[..buf.len().min(MAGIC.len())];
    if seen != &MAGIC[..seen.len()] {
        return Err(BatchError::BadMagic);
    }
    let mut r = Reader { buf, pos: 0 };
    let header = r.take(HEADER_LEN, "header")?;
    if header[2] != VERSION {
        return Err(BatchError::BadVersion(header[2]));
    }
    if header[3] != 0 {
        return Err(BatchError::BadFlags(header[3]));
    }
    let context = r.str("context")?;
    let session_id = r.str("session id")?;
    let count_offset = r.pos;
    let count = r.u32("operation count")?;
    let left = buf.len() - r.pos;
    if count as usize > left {
        return Err(BatchError::TooManyOps { offset: count_offset, count, left });
    }
    let mut changes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let offset = r.pos;
        let change = match r.u8("operation tag")? {
            tag::CREATE => {
                let max_inactive_interval =
                    if r.flag("create interval marker")? { Some(r.i32("create interval")?) } else { None };
                Change::Create { max_inactive_interval }
            }
            tag::SET_ATTRIBUTE => {
                Change::SetAttribute { name: r.str("attribute name")?, value: r.bytes("attribute value")? }
            }
            tag::REMOVE_ATTRIBUTE => Change::RemoveAttribute { name: r.str("attribute name")? },
            tag::SET_MAX_INACTIVE => Change::SetMaxInactiveInterval(r.i32("max inactive interval")?),
            tag::SET_PRINCIPAL => {
                Change::SetPrincipal(if r.flag("principal marker")? { Some(r.bytes("principal")?) } else { None })
            }
            tag::SET_AUTH_TYPE => {
                Change::SetAuthType(if r.flag("auth type marker")? { Some(r.str("auth type")?) } else { None })
            }
            tag::SET_NOTE => Change::SetNote { name: r.str("note name")?, value: r.bytes("note value")? },
            tag::REMOVE_NOTE => Change::RemoveNote { name: r.str("note name")? },
            tag::SET_NEW => Change::SetNew(r.flag("new flag")?),
            tag::ACCESS => Change::Access,
            tag::CHANGE_ID => Change::ChangeId { new_id: r.str("new session id")? },
            tag::INVALIDATE => Change::Invalidate,
            tag => return Err(BatchError::UnknownOp { offset, tag }),
        };
        changes.push(change);
    }
    if r.pos != buf.len() {
        return Err(BatchError::TrailingBytes { offset: r.pos, extra: buf.len() - r.pos });
    }
    Ok(Batch { context, session_id, changes })
}

/// Writes a batch (the Rust twin of the Java writer; used by tests and a future sidecar client).
///
/// # Panics
/// When a string is over 65535 bytes or a value over 4 GiB: the Java writer refuses those too.
pub fn encode(batch: &Batch) -> Vec<u8> {
    fn str(out: &mut Vec<u8>, s: &str) {
        let len = u16::try_from(s.len()).expect("batch strings are at most 65535 bytes");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        let len = u32::try_from(b.len()).expect("batch values are under 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b);
    }
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[VERSION, 0]);
    str(&mut out, &batch.context);
    str(&mut out, &batch.session_id);
    let count = u32::try_from(batch.changes.len()).expect("fewer than 2^32 changes");
    out.extend_from_slice(&count.to_be_bytes());
    for change in &batch.changes {
        match change {
            Change::Create { max_inactive_interval } => {
                out.push(tag::CREATE);
                match max_inactive_interval {
                    Some(i) => {
                        out.push(1);
                        out.extend_from_slice(&i.to_be_bytes());
                    }
                    None => out.push(0),
                }
            }
            Change::SetAttribute { name, value } => {
                out.push(tag::SET_ATTRIBUTE);
                str(&mut out, name);
                bytes(&mut out, value);
            }
            Change::RemoveAttribute { name } => {
                out.push(tag::REMOVE_ATTRIBUTE);
                str(&mut out, name);
            }
            Change::SetMaxInactiveInterval(i) => {
                out.push(tag::SET_MAX_INACTIVE);
                out.extend_from_slice(&i.to_be_bytes());
            }
            Change::SetPrincipal(p) => {
                out.push(tag::SET_PRINCIPAL);
                match p {
                    Some(p) => {
                        out.push(1);
                        bytes(&mut out, p);
                    }
                    None => out.push(0),
                }
            }
            Change::SetAuthType(a) => {
                out.push(tag::SET_AUTH_TYPE);
                match a {
                    Some(a) => {
                        out.push(1);
                        str(&mut out, a);
                    }
                    None => out.push(0),
                }
            }
            Change::SetNote { name, value } => {
                out.push(tag::SET_NOTE);
                str(&mut out, name);
                bytes(&mut out, value);
            }
            Change::RemoveNote { name } => {
                out.push(tag::REMOVE_NOTE);
                str(&mut out, name);
            }
            Change::SetNew(b) => {
                out.push(tag::SET_NEW);
                out.push(u8::from(*b));
            }
            Change::Access => out.push(tag::ACCESS),
            Change::ChangeId { new_id } => {
                out.push(tag::CHANGE_ID);
                str(&mut out, new_id);
            }
            Change::Invalidate => out.push(tag::INVALIDATE),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(b: &[u8]) -> Result<Batch, BatchError> {
        decode(&Bytes::copy_from_slice(b))
    }

    /// `java.lang.String "v"` as a standalone Java stream.
    const STRING_V: &[u8] = &[0xAC, 0xED, 0x00, 0x05, 0x74, 0x00, 0x01, b'v'];

    fn every_op() -> Batch {
        Batch {
            context: "/shop".into(),
            session_id: "ABCDEF0123456789.node1".into(),
            changes: vec![
                Change::Create { max_inactive_interval: Some(1800) },
                Change::Create { max_inactive_interval: None },
                Change::SetAttribute { name: "cart".into(), value: Bytes::from_static(STRING_V) },
                Change::RemoveAttribute { name: "old".into() },
                Change::SetMaxInactiveInterval(-1),
                Change::SetPrincipal(Some(Bytes::from_static(STRING_V))),
                Change::SetPrincipal(None),
                Change::SetAuthType(Some("FORM".into())),
                Change::SetAuthType(None),
                Change::SetNote { name: "n".into(), value: Bytes::from_static(STRING_V) },
                Change::RemoveNote { name: "n".into() },
                Change::SetNew(true),
                Change::Access,
                Change::ChangeId { new_id: "NEWID.node1".into() },
                Change::Invalidate,
            ],
        }
    }

    #[test]
    fn every_operation_round_trips() {
        let batch = every_op();
        let wire = encode(&batch);
        assert_eq!(dec(&wire), Ok(batch));
    }

    #[test]
    fn a_small_batch_has_the_documented_bytes() {
        // The same bytes ChangeBatch.java writes (checked by tests/java-bridge against the jar).
        let batch = Batch {
            context: "/a".into(),
            session_id: "S1".into(),
            changes: vec![
                Change::Create { max_inactive_interval: None },
                Change::SetAttribute { name: "k".into(), value: Bytes::from_static(STRING_V) },
                Change::Access,
            ],
        };
        let golden: &[u8] = &[
            0x54, 0x42, 0x01, 0x00, // TB, version 1, flags 0
            0x00, 0x02, b'/', b'a', // context
            0x00, 0x02, b'S', b'1', // session id
            0x00, 0x00, 0x00, 0x03, // three operations
            0x01, 0x00, // CREATE, no interval
            0x02, 0x00, 0x01, b'k', 0x00, 0x00, 0x00, 0x08, 0xAC, 0xED, 0x00, 0x05, 0x74, 0x00, 0x01,
            b'v', // SET_ATTRIBUTE
            0x0A, // ACCESS
        ];
        assert_eq!(encode(&batch), golden);
        assert_eq!(decode(&Bytes::copy_from_slice(golden)), Ok(batch));
    }

    #[test]
    fn every_strict_prefix_is_a_truncation_error() {
        let wire = encode(&every_op());
        for cut in 0..wire.len() {
            match decode(&Bytes::copy_from_slice(&wire[..cut])) {
                Err(BatchError::Truncated { .. }) | Err(BatchError::TooManyOps { .. }) => {}
                other => panic!("prefix of {cut} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn values_are_slices_of_the_batch_not_copies() {
        let wire = Bytes::from(encode(&every_op()));
        let batch = decode(&wire).unwrap();
        let Change::SetAttribute { value, .. } = &batch.changes[2] else { panic!("{:?}", batch.changes[2]) };
        assert!(wire.as_ptr_range().contains(&value.as_ptr()));
    }

    #[test]
    fn a_huge_value_length_is_truncated_without_allocating() {
        let mut wire = encode(&Batch {
            context: "/a".into(),
            session_id: "S".into(),
            changes: vec![Change::SetAttribute { name: "k".into(), value: Bytes::new() }],
        });
        let len_at = wire.len() - 4;
        wire[len_at..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            dec(&wire),
            Err(BatchError::Truncated {
                offset: wire.len(),
                field: "attribute value",
                needed: u32::MAX as usize,
                left: 0
            })
        );
    }

    #[test]
    fn a_huge_operation_count_is_refused_before_allocating() {
        let mut wire = encode(&Batch { context: "/a".into(), session_id: "S".into(), changes: vec![] });
        let at = wire.len() - 4;
        wire[at..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(dec(&wire), Err(BatchError::TooManyOps { offset: at, count: u32::MAX, left: 0 }));
    }

    #[test]
    fn bad_headers_tags_markers_and_trailing_bytes_are_typed_errors() {
        let good = encode(&Batch { context: "/a".into(), session_id: "S".into(), changes: vec![Change::SetNew(true)] });
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(dec(&bad), Err(BatchError::BadMagic));
        assert_eq!(decode(&Bytes::copy_from_slice(b"X")), Err(BatchError::BadMagic));
        let mut bad = good.clone();
        bad[2] = 2;
        assert_eq!(dec(&bad), Err(BatchError::BadVersion(2)));
        let mut bad = good.clone();
        bad[3] = 0x80;
        assert_eq!(dec(&bad), Err(BatchError::BadFlags(0x80)));
        let tag_at = good.len() - 2;
        let mut bad = good.clone();
        bad[tag_at] = 0x7F;
        assert_eq!(dec(&bad), Err(BatchError::UnknownOp { offset: tag_at, tag: 0x7F }));
        let mut bad = good.clone();
        bad[tag_at + 1] = 2;
        assert_eq!(dec(&bad), Err(BatchError::BadMarker { offset: tag_at + 1, field: "new flag", value: 2 }));
        let mut bad = good.clone();
        bad.push(0);
        assert_eq!(dec(&bad), Err(BatchError::TrailingBytes { offset: good.len(), extra: 1 }));
        let mut bad = good.clone();
        bad[6] = 0xFF; // inside the context "/a"
        assert_eq!(dec(&bad), Err(BatchError::BadUtf8 { offset: 6, field: "context" }));
    }

    fn any_change() -> impl Strategy<Value = Change> {
        let name = "[a-zA-Z0-9_.é]{0,12}";
        let value = proptest::collection::vec(any::<u8>(), 0..32).prop_map(Bytes::from);
        prop_oneof![
            proptest::option::of(any::<i32>())
                .prop_map(|max_inactive_interval| Change::Create { max_inactive_interval }),
            (name, value.clone()).prop_map(|(name, value)| Change::SetAttribute { name, value }),
            name.prop_map(|name| Change::RemoveAttribute { name }),
            any::<i32>().prop_map(Change::SetMaxInactiveInterval),
            proptest::option::of(value.clone()).prop_map(Change::SetPrincipal),
            proptest::option::of(name).prop_map(Change::SetAuthType),
            (name, value).prop_map(|(name, value)| Change::SetNote { name, value }),
            name.prop_map(|name| Change::RemoveNote { name }),
            any::<bool>().prop_map(Change::SetNew),
            Just(Change::Access),
            name.prop_map(|new_id| Change::ChangeId { new_id }),
            Just(Change::Invalidate),
        ]
    }

    proptest! {
        #[test]
        fn any_batch_round_trips(
            context in "[/a-z]{0,10}",
            session_id in "[A-F0-9.]{0,40}",
            changes in proptest::collection::vec(any_change(), 0..20),
        ) {
            let batch = Batch { context, session_id, changes };
            prop_assert_eq!(dec(&encode(&batch)), Ok(batch));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = dec(&bytes);
        }

        #[test]
        fn a_mutated_batch_never_panics(
            changes in proptest::collection::vec(any_change(), 0..8),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut wire = encode(&Batch { context: "/a".into(), session_id: "S".into(), changes });
            let i = at.index(wire.len());
            wire[i] = byte;
            let _ = dec(&wire);
        }
    }
}
