//! Errors of the reader, the writer and the splicing helpers.

/// Why bytes are not a stream this crate accepts. Nothing of a failed parse is kept; the caller
/// drops the stream (or the top-level value or message that carried it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at offset {offset})")]
pub struct ParseError {
    /// Offset from the start of the stream (the `AC` of the header) where the problem was
    /// found: the first byte of the item concerned.
    pub offset: usize,
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The same error with its offset moved by `by` bytes, for a stream nested in a larger
    /// buffer.
    pub fn shifted(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }
}

/// What [`ParseError`] found.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The stream does not start with `AC ED 00 05` (Java reads no other version).
    #[error("stream header is not AC ED 00 05")]
    BadHeader,
    /// A field runs past the end of the input.
    #[error("{what} needs {needed} bytes but only {available} remain")]
    Truncated { what: &'static str, needed: u64, available: usize },
    /// A type code that the grammar does not allow here.
    #[error("unexpected {name} (0x{tag:02x}) where {expected} was expected")]
    UnexpectedTag { tag: u8, name: &'static str, expected: &'static str },
    /// A `TC_REFERENCE` to a handle that has not been assigned since the last reset.
    #[error("reference to handle 0x{handle:08x}, but only {assigned} handles are assigned")]
    BadHandle { handle: u32, assigned: usize },
    /// A `TC_REFERENCE` to the wrong kind of item, or to a class descriptor still being read.
    #[error("reference to handle 0x{handle:08x} ({found}) where {expected} was expected")]
    WrongReference { handle: u32, expected: &'static str, found: &'static str },
    /// A negative length or count.
    #[error("{what} is negative ({len})")]
    NegativeLength { what: &'static str, len: i64 },
    /// A string is not modified UTF-8.
    #[error("{what} is not modified UTF-8 (byte {at} of the string)")]
    BadUtf { what: &'static str, at: usize },
    /// A field type code outside `B C D F I J S Z L [`.
    #[error("field type code 0x{code:02x} of class {class}")]
    BadFieldType { class: String, code: u8 },
    /// A primitive field follows an object field (`InvalidClassException: illegal field order`).
    #[error("class {class} lists a primitive field after an object field")]
    FieldOrder { class: String },
    /// Both `SC_SERIALIZABLE` and `SC_EXTERNALIZABLE` are set.
    #[error("class {class} has conflicting flags 0x{flags:02x}")]
    FlagConflict { class: String, flags: u8 },
    /// An Externalizable object without `SC_BLOCK_DATA` (protocol version 1): its data cannot be
    /// delimited without the class's own `readExternal`.
    #[error(
        "externalizable class {class} was written with protocol version 1, which cannot be read without the class"
    )]
    ExternalizableProtocol1 { class: String },
    /// `TC_ARRAY` whose descriptor is not an array class.
    #[error("array of class {class}, which is not an array class")]
    NotAnArrayClass { class: String },
    /// `TC_NULL` (or a proxy) where an object, array, enum or class needs a class descriptor.
    #[error("missing class descriptor for {what}")]
    MissingClassDesc { what: &'static str },
    /// More than 65535 proxy interfaces (`InvalidObjectException: interface limit exceeded`).
    #[error("proxy class with {count} interfaces")]
    TooManyInterfaces { count: i32 },
    /// `TC_RESET` inside an object (Java: "unexpected reset").
    #[error("TC_RESET inside an object")]
    NestedReset,
    /// `TC_EXCEPTION` where this reader does not accept one (in a class annotation, in the
    /// exception object itself).
    #[error("TC_EXCEPTION inside {context}")]
    UnsupportedException { context: &'static str },
    /// Nesting deeper than [`crate::Limits::max_depth`].
    #[error("nesting deeper than {max}")]
    TooDeep { max: usize },
    /// More handles than [`crate::Limits::max_handles`].
    #[error("more than {max} handles")]
    TooManyHandles { max: usize },
    /// An array longer than [`crate::Limits::max_array_len`].
    #[error("array of {len} elements is over the limit of {max}")]
    ArrayTooLong { len: i32, max: usize },
    /// A string or block longer than [`crate::Limits::max_string_len`].
    #[error("{what} of {len} bytes is over the limit of {max}")]
    TooLong { what: &'static str, len: u64, max: usize },
    /// The input is longer than [`crate::Limits::max_total_bytes`]. Nothing was read.
    #[error("stream of {len} bytes is over the limit of {max}")]
    StreamTooLong { len: usize, max: usize },
    /// The class firewall refused a class.
    #[error("class {class} is not allowed ({reason}), found at {path}")]
    ClassRejected { class: String, reason: &'static str, path: String },
}

/// Why a model cannot be written. Nothing usable was written; discard the output.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A [`crate::Value`] names an item that is not in [`crate::Tree::items`].
    #[error("item {0} does not exist")]
    NoSuchItem(u32),
    /// A [`crate::Value::Ref`] to an item not written since the last reset.
    #[error("reference to item {0}, which is not written before it (since the last reset)")]
    DanglingRef(u32),
    /// An item is written in full ([`crate::Value::New`]) twice.
    #[error("item {0} is written in full twice")]
    DuplicateNew(u32),
    /// An item of the wrong kind where the grammar needs a class descriptor, a string, ...
    #[error("item {item} is a {found} where {expected} is needed")]
    WrongKind { item: u32, expected: &'static str, found: &'static str },
    /// Object or array data that does not match its class descriptor.
    #[error("{0}")]
    Mismatch(String),
    /// Content after a [`crate::Value::Exception`] inside the same top-level value.
    #[error("content after TC_EXCEPTION inside the aborted value")]
    AfterException,
    /// A `TC_STRING` or `utf` longer than 65535 bytes.
    #[error("{what} of {len} bytes does not fit a u16 length")]
    Utf8TooLong { what: &'static str, len: usize },
    /// A [`crate::Content::Reset`] or exception where it cannot be written.
    #[error("{0} cannot be written here")]
    Misplaced(&'static str),
    /// Nesting deeper than the writer's limit.
    #[error("nesting deeper than {0}")]
    TooDeep(usize),
}

/// Why a value cannot be moved between streams.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    /// The standalone stream does not parse.
    #[error("standalone value stream: {0}")]
    Parse(#[from] ParseError),
    /// The standalone stream is not exactly one value.
    #[error("a standalone value stream must hold exactly one value, not {0}")]
    NotOneValue(String),
    /// The value contains a `TC_EXCEPTION` record, which cannot be carried.
    #[error("the value contains an aborted write (TC_EXCEPTION)")]
    Exception,
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Nesting deeper than the limit once referenced items are copied inline.
    #[error("nesting deeper than {0} once references are copied inline")]
    TooDeep(usize),
    /// A value names an item that is not in the source stream.
    #[error("item {0} does not exist in the source stream")]
    NoSuchItem(u32),
}
