//! Reading `contents` as `ObjectInputStream` presents them to `readExternal`/`readObject`
//! code: consecutive block-data segments as one byte stream (`readInt`, `readUTF`, ...), values
//! one at a time (`readObject`).
//!
//! Spec: Java Object Serialization Specification, ch. 6.4.1 `blockdata` and ch. 6.2 "Stream
//! Elements" (primitive data in block-data records, segment boundaries carry no meaning), as
//! implemented by `ObjectInputStream.BlockDataInputStream`: a primitive may straddle segments, a
//! `TC_RESET` between segments is skipped, primitive data ends at the next value
//! (`OptionalDataException` when `readObject` finds unread primitive data).

use crate::model::{Content, Value};

/// What a [`DataReader`] could not read.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// Primitive data ends before `wanted` more bytes (at a value, or at the end).
    #[error("primitive data ends {wanted} bytes short, before content {index}")]
    EndOfData { wanted: usize, index: usize },
    /// `read_value` found unread primitive data.
    #[error("{remaining} bytes of primitive data remain before a value (content {index})")]
    PendingData { remaining: usize, index: usize },
    /// `read_value` reached the end.
    #[error("no value left")]
    NoValue,
    /// `read_utf` found bytes that are not modified UTF-8.
    #[error("readUTF: malformed modified UTF-8 (content {index})")]
    BadUtf { index: usize },
}

/// A cursor over `contents`.
#[derive(Debug, Clone)]
pub struct DataReader<'a> {
    contents: &'a [Content],
    index: usize,
    offset: usize,
}

impl<'a> DataReader<'a> {
    pub fn new(contents: &'a [Content]) -> Self {
        DataReader { contents, index: 0, offset: 0 }
    }

    /// Index of the content the cursor is in.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Moves past exhausted segments and resets; stops at data or a value.
    fn settle(&mut self) {
        while let Some(c) = self.contents.get(self.index) {
            match c {
                Content::Block(b) if self.offset < b.bytes.len() => return,
                Content::Block(_) | Content::Reset => {
                    self.index += 1;
                    self.offset = 0;
                }
                Content::Value(_) => return,
            }
        }
    }

    /// Primitive bytes left before the next value or the end.
    pub fn remaining_data(&self) -> usize {
        let mut n = 0;
        let mut offset = self.offset;
        for c in &self.contents[self.index.min(self.contents.len())..] {
            match c {
                Content::Block(b) => n += b.bytes.len() - offset.min(b.bytes.len()),
                Content::Reset => {}
                Content::Value(_) => break,
            }
            offset = 0;
        }
        n
    }

    /// Nothing left at all.
    pub fn at_end(&mut self) -> bool {
        self.settle();
        self.index >= self.contents.len()
    }

    /// `readFully`.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), DataError> {
        let wanted = buf.len();
        if self.remaining_data() < wanted {
            let remaining = self.remaining_data();
            self.settle();
            return Err(DataError::EndOfData { wanted: wanted - remaining, index: self.index });
        }
        let mut filled = 0;
        while filled < wanted {
            self.settle();
            let Some(Content::Block(b)) = self.contents.get(self.index) else {
                unreachable!("remaining_data counted enough bytes")
            };
            let n = (b.bytes.len() - self.offset).min(wanted - filled);
            buf[filled..filled + n].copy_from_slice(&b.bytes[self.offset..self.offset + n]);
            filled += n;
            self.offset += n;
        }
        Ok(())
    }

    /// `readObject`: the next value, which must come before any unread primitive data.
    pub fn read_value(&mut self) -> Result<&'a Value, DataError> {
        let remaining = self.remaining_data();
        if remaining > 0 {
            self.settle();
            return Err(DataError::PendingData { remaining, index: self.index });
        }
        self.settle();
        match self.contents.get(self.index) {
            Some(Content::Value(v)) => {
                self.index += 1;
                self.offset = 0;
                Ok(v)
            }
            _ => Err(DataError::NoValue),
        }
    }
}

crate::data::primitive_reads!(DataReader<'_>);

/// `readByte`, `readBoolean`, `readShort`, ... for a reader with a `read_exact`.
macro_rules! primitive_reads {
    ($reader:ty) => {
        impl $reader {
            fn array<const N: usize>(&mut self) -> Result<[u8; N], $crate::data::DataError> {
                let mut b = [0u8; N];
                self.read_exact(&mut b)?;
                Ok(b)
            }

            pub fn read_u8(&mut self) -> Result<u8, $crate::data::DataError> {
                Ok(self.array::<1>()?[0])
            }

            pub fn read_bool(&mut self) -> Result<bool, $crate::data::DataError> {
                Ok(self.read_u8()? != 0)
            }

            pub fn read_i16(&mut self) -> Result<i16, $crate::data::DataError> {
                Ok(i16::from_be_bytes(self.array()?))
            }

            pub fn read_u16(&mut self) -> Result<u16, $crate::data::DataError> {
                Ok(u16::from_be_bytes(self.array()?))
            }

            pub fn read_i32(&mut self) -> Result<i32, $crate::data::DataError> {
                Ok(i32::from_be_bytes(self.array()?))
            }

            pub fn read_i64(&mut self) -> Result<i64, $crate::data::DataError> {
                Ok(i64::from_be_bytes(self.array()?))
            }

            pub fn read_f32(&mut self) -> Result<f32, $crate::data::DataError> {
                Ok(f32::from_bits(u32::from_be_bytes(self.array()?)))
            }

            pub fn read_f64(&mut self) -> Result<f64, $crate::data::DataError> {
                Ok(f64::from_bits(u64::from_be_bytes(self.array()?)))
            }

            /// `readUTF`.
            pub fn read_utf(&mut self) -> Result<$crate::mutf8::Mutf8, $crate::data::DataError> {
                let len = usize::from(self.read_u16()?);
                let mut bytes = vec![0; len.min(self.remaining_data())];
                if bytes.len() < len {
                    self.settle();
                    return Err($crate::data::DataError::EndOfData { wanted: len - bytes.len(), index: self.index });
                }
                self.read_exact(&mut bytes)?;
                $crate::mutf8::Mutf8::from_bytes(bytes)
                    .map_err(|_| $crate::data::DataError::BadUtf { index: self.index })
            }
        }
    };
}
pub(crate) use primitive_reads;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BlockData;

    #[test]
    fn primitives_straddle_segments_and_stop_at_values() {
        let contents = vec![
            Content::Block(BlockData::new(vec![0, 0])),
            Content::Reset,
            Content::Block(BlockData::new(vec![0, 7, 0])),
            Content::Block(BlockData::new(vec![2, b'h', b'i'])),
            Content::Value(Value::Null),
            Content::Block(BlockData::new(vec![1])),
        ];
        let mut r = DataReader::new(&contents);
        assert_eq!(r.read_i32(), Ok(7));
        assert_eq!(r.read_utf().map(|m| m.to_string_lossy()), Ok("hi".into()));
        assert_eq!(r.read_u8(), Err(DataError::EndOfData { wanted: 1, index: 4 }));
        assert_eq!(r.read_value(), Ok(&Value::Null));
        assert_eq!(r.read_value(), Err(DataError::PendingData { remaining: 1, index: 5 }));
        assert_eq!(r.read_bool(), Ok(true));
        assert!(r.at_end());
    }
}
