//! Java's modified UTF-8, kept as the bytes that were read.
//!
//! Spec: `java.io.DataInput` "Modified UTF-8" (used by the grammar's `utf` and `longUtf`,
//! JOSS ch. 6.4.1), as decoded by `ObjectInputStream.BlockDataInputStream.readUTFBody`: U+0000
//! is `C0 80`, supplementary characters are two 3-byte surrogates, and a reader accepts any
//! 1-, 2- or 3-byte pattern (overlong forms and lone surrogates included) but no 4-byte one.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A string in modified UTF-8. The bytes are exactly those of the stream, so a string re-emits
/// byte for byte; [`Mutf8::to_string_lossy`] decodes it for display.
///
/// A string read by [`crate::parse()`] shares the parser's copy of the input (no allocation per
/// string); one built here owns its bytes. Both compare, hash and order by their bytes.
#[derive(Clone)]
pub struct Mutf8(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Vec<u8>),
    /// `buf[start..start + len]`.
    Shared {
        buf: Arc<[u8]>,
        start: u32,
        len: u32,
    },
}

impl Default for Mutf8 {
    fn default() -> Self {
        Mutf8(Repr::Owned(Vec::new()))
    }
}

impl PartialEq for Mutf8 {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for Mutf8 {}

impl Hash for Mutf8 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialOrd for Mutf8 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Mutf8 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// The bytes are not modified UTF-8 (`UTFDataFormatException` in Java).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed modified UTF-8 at byte {at} of the string")]
pub struct Mutf8Error {
    /// Index of the first byte of the bad sequence.
    pub at: usize,
}

impl Mutf8 {
    /// Takes bytes read from a stream, checking them as Java's reader does.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Mutf8Error> {
        validate(&bytes)?;
        Ok(Mutf8(Repr::Owned(bytes)))
    }

    /// `buf[start..start + len]`, already validated (the parser's zero-copy strings).
    pub(crate) fn shared(buf: &Arc<[u8]>, start: usize, len: usize) -> Self {
        debug_assert!(validate(&buf[start..start + len]).is_ok());
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(start), Ok(len)) => Mutf8(Repr::Shared { buf: Arc::clone(buf), start, len }),
            _ => Mutf8(Repr::Owned(buf[start..start + len].to_vec())),
        }
    }

    /// Encodes `s` as `DataOutput.writeUTF` does (without the length prefix).
    pub fn encode(s: &str) -> Self {
        let mut out = Vec::with_capacity(s.len());
        for unit in s.encode_utf16() {
            push_unit(&mut out, unit);
        }
        Mutf8(Repr::Owned(out))
    }

    /// Encodes UTF-16 code units (a Java `String`, lone surrogates included).
    pub fn encode_utf16(units: &[u16]) -> Self {
        let mut out = Vec::with_capacity(units.len());
        for &unit in units {
            push_unit(&mut out, unit);
        }
        Mutf8(Repr::Owned(out))
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Shared { buf, start, len } => &buf[*start as usize..*start as usize + *len as usize],
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(v) => v,
            Repr::Shared { .. } => self.as_bytes().to_vec(),
        }
    }

    /// Length in encoded bytes: the number `writeUTF` puts in front.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Owned(v) => v.len(),
            Repr::Shared { len, .. } => *len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Java `String`: its UTF-16 code units.
    pub fn to_utf16(&self) -> Vec<u16> {
        let b = self.as_bytes();
        let mut units = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match c >> 4 {
                0..=7 => {
                    units.push(u16::from(c));
                    i += 1;
                }
                12 | 13 if i + 1 < b.len() => {
                    units.push((u16::from(c & 0x1F) << 6) | u16::from(b[i + 1] & 0x3F));
                    i += 2;
                }
                14 if i + 2 < b.len() => {
                    units.push(
                        (u16::from(c & 0x0F) << 12) | (u16::from(b[i + 1] & 0x3F) << 6) | u16::from(b[i + 2] & 0x3F),
                    );
                    i += 3;
                }
                _ => {
                    // Only reachable for bytes that were never validated (`Mutf8` built by hand
                    // through `Default`/`From`): show the replacement character.
                    units.push(0xFFFD);
                    i += 1;
                }
            }
        }
        units
    }

    /// The text, with U+FFFD for lone surrogates.
    pub fn to_string_lossy(&self) -> String {
        let b = self.as_bytes();
        if b.iter().all(|&b| b != 0 && b < 0x80) {
            // Plain ASCII: the common case for class and field names.
            return String::from_utf8(b.to_vec()).expect("ASCII is UTF-8");
        }
        String::from_utf16_lossy(&self.to_utf16())
    }

    /// Whether the text equals `s` (compares encodings, no allocation for the common case).
    pub fn eq_str(&self, s: &str) -> bool {
        if s.bytes().all(|b| b != 0 && b < 0x80) {
            return self.as_bytes() == s.as_bytes();
        }
        *self == Mutf8::encode(s)
    }
}

impl From<&str> for Mutf8 {
    fn from(s: &str) -> Self {
        Mutf8::encode(s)
    }
}

impl fmt::Debug for Mutf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl fmt::Display for Mutf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

fn push_unit(out: &mut Vec<u8>, c: u16) {
    if (1..=0x7F).contains(&c) {
        out.push(c as u8);
    } else if c > 0x7FF {
        out.push(0xE0 | ((c >> 12) & 0x0F) as u8);
        out.push(0x80 | ((c >> 6) & 0x3F) as u8);
        out.push(0x80 | (c & 0x3F) as u8);
    } else {
        out.push(0xC0 | ((c >> 6) & 0x1F) as u8);
        out.push(0x80 | (c & 0x3F) as u8);
    }
}

/// Number of bytes `writeUTF` would write for `s` (without the 2-byte length).
pub fn encoded_len(s: &str) -> usize {
    s.encode_utf16()
        .map(|c| {
            if (1..=0x7F).contains(&c) {
                1
            } else if c > 0x7FF {
                3
            } else {
                2
            }
        })
        .sum()
}

/// The text of raw modified UTF-8 bytes, as [`Mutf8::to_string_lossy`] gives it.
pub(crate) fn lossy(b: &[u8]) -> String {
    if b.iter().all(|&b| b != 0 && b < 0x80) {
        return String::from_utf8(b.to_vec()).expect("ASCII is UTF-8");
    }
    Mutf8(Repr::Owned(b.to_vec())).to_string_lossy()
}

/// Checks bytes as `readUTFBody` does: 1-byte `0xxxxxxx`, 2-byte `110xxxxx 10xxxxxx`, 3-byte
/// `1110xxxx 10xxxxxx 10xxxxxx`; anything else, or a sequence cut by the end, is an error.
#[inline]
pub fn validate(b: &[u8]) -> Result<(), Mutf8Error> {
    if is_ascii(b) {
        // The common case: every byte is a 1-byte sequence.
        return Ok(());
    }
    validate_mixed(b)
}

/// Whether every byte is below 0x80, by words (strings in streams are mostly short: no call,
/// no byte loop).
#[inline]
fn is_ascii(b: &[u8]) -> bool {
    let n = b.len();
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let half = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let high = if n >= 8 {
        let mut acc = word(n - 8);
        let mut i = 0;
        while i + 8 <= n {
            acc |= word(i);
            i += 8;
        }
        acc
    } else if n >= 4 {
        u64::from(half(0) | half(n - 4))
    } else if n > 0 {
        u64::from(b[0] | b[n / 2] | b[n - 1])
    } else {
        0
    };
    high & 0x8080_8080_8080_8080 == 0
}

#[inline(never)]
fn validate_mixed(b: &[u8]) -> Result<(), Mutf8Error> {
    let mut i = 0;
    while i < b.len() {
        // ASCII runs (the common case) eight bytes at a time.
        while let Some(chunk) = b.get(i..i + 8) {
            let word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
            if word & 0x8080_8080_8080_8080 != 0 {
                break;
            }
            i += 8;
        }
        let Some(&c) = b.get(i) else { break };
        let len = match c >> 4 {
            0..=7 => 1,
            12 | 13 => 2,
            14 => 3,
            _ => return Err(Mutf8Error { at: i }),
        };
        if i + len > b.len() || b[i + 1..i + len].iter().any(|&x| x & 0xC0 != 0x80) {
            return Err(Mutf8Error { at: i });
        }
        i += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_supplementary_characters_use_the_java_forms() {
        let m = Mutf8::encode("a\u{0}\u{1F600}é");
        assert_eq!(m.as_bytes(), &[0x61, 0xC0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80, 0xC3, 0xA9]);
        assert_eq!(m.to_string_lossy(), "a\u{0}\u{1F600}é");
        assert_eq!(encoded_len("a\u{0}\u{1F600}é"), m.len());
        assert!(m.eq_str("a\u{0}\u{1F600}é"));
    }

    #[test]
    fn a_string_sharing_the_input_equals_hashes_and_orders_as_an_owned_one() {
        use std::collections::hash_map::DefaultHasher;
        let input: Arc<[u8]> = Arc::from(&b"xxJava\xc3\xa9yy"[..]);
        let shared = Mutf8::shared(&input, 2, 6);
        let owned = Mutf8::encode("Java\u{e9}");
        assert_eq!(shared, owned);
        assert_eq!(shared.len(), 6);
        assert_eq!(shared.cmp(&owned), Ordering::Equal);
        let hash = |m: &Mutf8| {
            let mut h = DefaultHasher::new();
            m.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&shared), hash(&owned));
        assert_eq!(shared.clone().into_bytes(), owned.as_bytes());
        assert_eq!(shared.to_string_lossy(), "Java\u{e9}");
    }

    #[test]
    fn four_byte_utf8_and_cut_sequences_are_rejected() {
        assert_eq!(validate(&[0xF0, 0x9F, 0x98, 0x80]), Err(Mutf8Error { at: 0 }));
        assert_eq!(validate(&[0x41, 0xE4, 0xB8]), Err(Mutf8Error { at: 1 }));
        assert_eq!(validate(&[0xC3, 0x41]), Err(Mutf8Error { at: 0 }));
        // Java accepts a raw NUL byte and overlong forms; so do we.
        assert_eq!(validate(&[0x00, 0xC0, 0x80, 0xE0, 0x80, 0x80]), Ok(()));
    }

    #[test]
    fn a_lone_high_byte_is_found_at_every_length_and_position() {
        for len in 0..40 {
            assert_eq!(validate(&vec![b'a'; len]), Ok(()), "{len}");
            for at in 0..len {
                let mut b = vec![b'a'; len];
                b[at] = 0xFF;
                assert_eq!(validate(&b), Err(Mutf8Error { at }), "{len} {at}");
            }
        }
    }
}
