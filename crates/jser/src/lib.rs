//! Java Object Serialization streams: a lossless reader and writer for the whole grammar, a
//! class firewall, and splicing of values between streams.
//!
//! Spec: Java Object Serialization Specification (JOSS), ch. 6 "Object Serialization Stream
//! Protocol" (grammar rules of 6.4.1, constants of 6.4.2), as read by `java.io.ObjectInputStream`
//! and written by `java.io.ObjectOutputStream` (JDK 17). The project's notes are in
//! `shared/spec/java-serialization.md`.
//!
//! Nothing here does I/O. [`parse()`] turns bytes into a [`Stream`]: a flat tape of fixed-size
//! tokens in stream order over one copy of the input ([`Flat`]); [`Stream::write`] walks it once
//! and gives back the same bytes (for every stream [`parse()`] accepts, not only Java's). A
//! [`Stream`] dereferences to the [`Tree`] model (`contents` and `items`, built from the tape at
//! the first use), which is also what models built by hand are.
//! Readers take untrusted input: errors are typed with the byte offset, lengths are checked
//! against the remaining input before anything is allocated, and [`Limits`] bound depth,
//! handles, array and string sizes and the stream size. A [`ClassFilter`] (Tomcat's
//! `sessionAttributeValueClassNameFilter` syntax) refuses classes while reading.
//!
//! - [`constants`]: the terminal symbols (6.4.2).
//! - [`flat`]: the parsed form ([`Flat`], its tokens, items and class descriptors) and
//!   [`Stream`].
//! - [`model`]: the tree form (`stream`, `content`, `newClassDesc`, `newObject`, ...).
//! - [`mod@parse`], [`parse()`] / [`parse_with`]: the reader (6.4.1).
//! - [`mod@write`]: the writer and [`ObjectWriter`], which builds streams as `ObjectOutputStream`
//!   does (block-data segmenting, handles continued across spliced values, the objects one JVM
//!   shares by identity written once: class descriptors, type strings, enum constants, cached
//!   boxes).
//! - [`splice`]: copying values with what they refer to; [`extract`] one value as a standalone
//!   stream; [`ObjectWriter::embed`] a standalone stream into a larger one.
//! - [`data`]: [`DataReader`], block data as one byte stream (`readInt`, `readUTF`, ...).
//! - [`tape`]: the same readings straight from the tape, with no tree built: [`TapeValue`]
//!   (class name, string, field lookup), [`TapeReader`] (the tape's [`DataReader`]) and
//!   [`Extractor`] (the tape's [`extract`]).
//! - [`filter`]: [`Limits`] and [`ClassFilter`].
//! - [`mutf8`]: modified UTF-8, kept raw.
//! - [`Tree::dump`]: a readable listing.

pub mod constants;
pub mod data;
mod dump;
mod error;
pub mod filter;
pub mod flat;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod mutf8;
pub mod parse;
pub mod splice;
pub mod tape;
pub mod write;

pub use data::{DataError, DataReader};
pub use error::{ParseError, ParseErrorKind, SpliceError, WriteError};
pub use filter::{ClassFilter, FilterError, Limits, ParseOptions};
pub use flat::{Flat, Stream};
pub use model::{
    Array, BlockData, ClassData, ClassDesc, ClassObj, Content, DescKind, Elements, EnumConst, FieldDesc, FieldValue,
    Item, ItemId, JString, Object, ObjectData, Prim, Tree, Value,
};
pub use mutf8::Mutf8;
pub use parse::{parse, parse_with};
pub use splice::{extract, extract_all, extract_model};
pub use tape::{Extractor, TapeField, TapeReader, TapeValue};
pub use write::ObjectWriter;

/// Runs one level of recursion of the reader, writer or copier, moving to a fresh stack
/// segment when the current one is nearly used up. Nesting is bounded by [`Limits::max_depth`],
/// not by the caller's stack (a debug build needs several KiB per level; tokio workers have
/// 2 MiB).
#[inline]
pub(crate) fn grow_stack<T>(f: impl FnOnce() -> T) -> T {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, f)
}

/// Levels of nesting between two stack checks of [`grow_stack_at`].
const STACK_CHECK_EVERY: usize = 8;

/// The red zone of [`grow_stack_at`] and [`grow_stack_entry`]: room for
/// [`STACK_CHECK_EVERY`] levels of well under 32 KiB each, even in a debug build.
const STACK_RED_ZONE: usize = 256 * 1024;

/// Runs a reader or writer from its entry point (depth 0) with at least [`STACK_RED_ZONE`]
/// of stack, so that [`grow_stack_at`] need not check again before depth
/// [`STACK_CHECK_EVERY`].
#[inline]
pub(crate) fn grow_stack_entry<T>(f: impl FnOnce() -> T) -> T {
    stacker::maybe_grow(STACK_RED_ZONE, 1024 * 1024, f)
}

/// [`grow_stack`] for a recursion that counts its nesting and started in
/// [`grow_stack_entry`]: the stack is checked only every [`STACK_CHECK_EVERY`] levels (checking
/// costs as much as reading a small value).
#[inline]
pub(crate) fn grow_stack_at<T>(depth: usize, f: impl FnOnce() -> T) -> T {
    if depth.is_multiple_of(STACK_CHECK_EVERY) && depth != 0 {
        stacker::maybe_grow(STACK_RED_ZONE, 1024 * 1024, f)
    } else {
        f()
    }
}
