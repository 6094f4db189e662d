//! A bounds-checked big-endian reader over a `Bytes`, whose slices share the input's memory.

use bytes::Bytes;

use crate::DecodeError;

pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { what, offset: self.pos, needed: n, available: self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn marker(&mut self, what: &'static str, expected: &[u8]) -> Result<(), DecodeError> {
        let offset = self.pos;
        if self.take(what, expected.len())? != expected {
            return Err(DecodeError::BadMarker { what, offset });
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(what, 1)?[0])
    }

    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let b = self.take(what, 4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let b = self.take(what, 8)?;
        Ok(i64::from_be_bytes(b.try_into().expect("take returned 8 bytes")))
    }

    /// A non-negative i32 length, checked against what is left before anything is sliced.
    pub(crate) fn len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let len = self.i32(what)?;
        if len < 0 {
            return Err(DecodeError::NegativeLength { what, offset, len });
        }
        Ok(len as usize)
    }

    /// `n` bytes as a zero-copy slice of the input.
    pub(crate) fn bytes(&mut self, what: &'static str, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(what, n)?;
        Ok(self.buf.slice(start..start + n))
    }

    /// An i32 length followed by that many bytes.
    pub(crate) fn len_bytes(&mut self, len_what: &'static str, what: &'static str) -> Result<Bytes, DecodeError> {
        let n = self.len(len_what)?;
        self.bytes(what, n)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        Ok(self.take(what, N)?.try_into().expect("take returned N bytes"))
    }

    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::TrailingBytes { what, offset: self.pos, count: self.remaining() });
        }
        Ok(())
    }
}
