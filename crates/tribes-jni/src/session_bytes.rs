//! One stored session as the bytes `NativeBridge.getSession` returns, read by
//! `io.tribesd.tomcat.bridge.SessionData` (docs/java-bridge.md). Values stay standalone Java
//! streams, so the Java side deserializes each attribute alone, lazily, with the webapp's class
//! loader, and a value that does not deserialize costs that attribute only.
//!
//! ```text
//! session = 54 53 ("TS") | version 01 | flags 00 | id str | creationTime i64 | lastAccessedTime i64
//!         | thisAccessedTime i64 | maxInactiveInterval i32 | isNew u8 | isValid u8 | primary u8
//!         | version i64 | principal opt<bytes> | authType opt<str>
//!         | notes u32 * (name str, value bytes) | attributes u32 * (name str, value bytes)
//!         | lastSender opt<str>
//! ```
//!
//! `lastSender`: the member whose message last created, changed or transferred the copy
//! (`127.0.0.1:4001 (uniqueId)`), named when a value cannot be deserialized (version 2; version 1
//! had no such field).
//!
//! Integers big-endian; `str` is u16 length + UTF-8, `bytes` u32 length + bytes, `opt<T>` 00 or 01 T
//! (the request batch's conventions).

use tribes_proto::session::store::Session;

/// The format version written.
pub const VERSION: u8 = 2;

/// Writes `s`. Names longer than 65535 UTF-8 bytes are cut (Tomcat's own `writeUTF` limit).
pub fn encode(s: &Session) -> Vec<u8> {
    let values: usize = s.attributes.iter().map(|(n, v)| n.len() + v.len() + 6).sum();
    let mut out = Vec::with_capacity(64 + s.id.len() + values);
    out.extend_from_slice(b"TS");
    out.push(VERSION);
    out.push(0);
    put_str(&mut out, &s.id);
    for t in [s.creation_time, s.last_accessed_time, s.this_accessed_time] {
        out.extend_from_slice(&t.to_be_bytes());
    }
    out.extend_from_slice(&s.max_inactive_interval.to_be_bytes());
    out.extend_from_slice(&[u8::from(s.is_new), u8::from(s.is_valid), u8::from(s.primary)]);
    out.extend_from_slice(&s.version.to_be_bytes());
    match &s.principal {
        Some(p) => {
            out.push(1);
            put_bytes(&mut out, p.bytes());
        }
        None => out.push(0),
    }
    match &s.auth_type {
        Some(a) => {
            out.push(1);
            put_str(&mut out, a);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(s.notes.len() as u32).to_be_bytes());
    for (name, value) in &s.notes {
        put_str(&mut out, name);
        put_bytes(&mut out, value.bytes());
    }
    out.extend_from_slice(&(s.attributes.len() as u32).to_be_bytes());
    for (name, value) in &s.attributes {
        put_str(&mut out, name);
        put_bytes(&mut out, value.bytes());
    }
    match &s.last_sender {
        Some(m) => {
            out.push(1);
            put_str(&mut out, m);
        }
        None => out.push(0),
    }
    out
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(0xFFFF);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tribes_proto::session::JavaValue;

    #[test]
    fn a_session_has_the_documented_bytes() {
        let mut s = Session::new("S1", 1, 2, 60);
        s.set_attribute("k", JavaValue::string("v"));
        s.last_sender = Some("127.0.0.1:4001".into());
        let got = encode(&s);
        let mut want = b"TS\x02\x00\x00\x02S1".to_vec();
        want.extend_from_slice(&1i64.to_be_bytes());
        want.extend_from_slice(&1i64.to_be_bytes()); // lastAccessedTime = creation
        want.extend_from_slice(&2i64.to_be_bytes());
        want.extend_from_slice(&60i32.to_be_bytes());
        want.extend_from_slice(&[1, 1, 0]);
        want.extend_from_slice(&0i64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&0u32.to_be_bytes());
        want.extend_from_slice(&1u32.to_be_bytes());
        want.extend_from_slice(b"\x00\x01k\x00\x00\x00\x08\xac\xed\x00\x05\x74\x00\x01v");
        want.extend_from_slice(b"\x01\x00\x0e127.0.0.1:4001");
        assert_eq!(got, want);
    }
}
