//! The reader: bytes to a [`Stream`] (its [`Flat`] tape), for the whole grammar of JOSS ch. 6.4.
//!
//! Spec: Java Object Serialization Specification, ch. 6.4.1 "Rules of the Grammar" (`stream`,
//! `contents`, `content`, `blockdata`, `object`, `newClassDesc`, `classDescInfo`,
//! `proxyClassDescInfo`, `fields`, `fieldDesc`, `className1`, `classAnnotation`,
//! `superClassDesc`, `newObject`, `classdata`, `objectAnnotation`, `externalContents`,
//! `newArray`, `newString`, `newEnum`, `newClass`, `prevObject`, `nullReference`, `exception`,
//! `reset`), checked against `java.io.ObjectInputStream` (JDK 17): the points where handles are
//! assigned (`readNonProxyDesc`, `readProxyDesc`, `readOrdinaryObject`, `readArray`, `readEnum`,
//! `readClass`, `readString`), the field order check of `ObjectStreamClass.computeFieldOffsets`,
//! and what `readFatalException` does with `TC_EXCEPTION`.
//!
//! The reader never panics on input, checks every length against the bytes that remain before
//! allocating for it, and recurses at most [`Limits::max_depth`] levels.

use crate::constants::*;
use crate::error::{ParseError, ParseErrorKind as K};
use crate::filter::{ClassFilter, Limits, ParseOptions};
use crate::flat::{Buffers, DescRec, FieldRec, Flat, ItemRec, Kind, Stream, Token, NONE, REF_DESC};
use crate::model::{is_type_code, prim_size};
use crate::mutf8;

/// Parses a whole stream with the default [`Limits`] and no class filter.
pub fn parse(input: &[u8]) -> Result<Stream, ParseError> {
    parse_with(input, &ParseOptions::default())
}

/// Parses a whole stream: header, then contents up to the end of `input`. The result is the
/// [`Flat`] tape (see [`crate::flat`]).
pub fn parse_with(input: &[u8], opts: &ParseOptions) -> Result<Stream, ParseError> {
    // Offsets on the tape are 32-bit.
    let max = opts.limits.max_total_bytes.min(u32::MAX as usize);
    if input.len() > max {
        return Err(ParseError { offset: 0, kind: K::StreamTooLong { len: input.len(), max } });
    }
    let scratch = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    let mut bufs = Buffers::take();
    // About one token per 10 and one handle per 24 input bytes in session streams; streams name
    // a few classes.
    bufs.tokens.reserve(input.len() / 8 + 8);
    bufs.items.reserve(input.len() / 24 + 4);
    bufs.descs.reserve(8);
    bufs.fields.reserve(16);
    let mut p = Parser {
        input,
        pos: 0,
        limits: &opts.limits,
        filter: opts.filter.as_ref(),
        tokens: bufs.tokens,
        items: bufs.items,
        descs: bufs.descs,
        fields: bufs.fields,
        epoch: 0,
        chains: scratch.chains,
        depth: 0,
        in_exception: false,
        path: scratch.path,
    };
    let result = crate::grow_stack_entry(|| p.stream()).map_err(|e| *e);
    let Parser { tokens, items, descs, fields, mut chains, mut path, .. } = p;
    // Keep the working buffers for the next parse on this thread, unless they grew large.
    if chains.capacity() <= SCRATCH_KEEP {
        chains.clear();
        path.clear();
        let _ = SCRATCH.try_with(|s| s.set(Scratch { chains, path }));
    }
    let mut copy = bufs.input;
    if let Err(e) = result {
        Buffers { input: copy, tokens, items, descs, fields }.keep();
        return Err(e);
    }
    debug_assert!(items.iter().all(|i| i.kind != Kind::Pending), "every assigned handle is filled");
    copy.extend_from_slice(input);
    Ok(Stream::from_flat(Flat { input: copy, tokens, items, descs, fields }))
}

/// Working buffers of the parser, kept per thread between parses (each parse of a small stream
/// would otherwise allocate them anew).
#[derive(Default)]
struct Scratch {
    chains: Vec<u32>,
    path: Vec<Seg>,
}

/// Chain stacks up to this many entries are kept for the next parse.
const SCRATCH_KEEP: usize = 1 << 16;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// Whether the writer aborted inside what was just read (`TC_EXCEPTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Done,
    Aborted,
}

/// Where the reader is, for messages.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Content(usize),
    /// Field `j` of descriptor `d` (an index of [`Parser::descs`]).
    Field(u32, u32),
    ObjectAnnotation(u32),
    External,
    ClassAnnotation,
    Annotation(usize),
    Element(usize),
    Super,
    Exception,
    EnumName,
    ClassOf(&'static str),
}

struct Parser<'a, 'o> {
    input: &'a [u8],
    pos: usize,
    limits: &'o Limits,
    filter: Option<&'o ClassFilter>,
    /// The tape, in stream order.
    tokens: Vec<Token>,
    /// Items in handle order; [`Kind::Pending`] while the item is being read.
    items: Vec<ItemRec>,
    descs: Vec<DescRec>,
    fields: Vec<FieldRec>,
    /// The first item since the last reset: handle `0x7E0000 + i` is item `epoch + i` (items
    /// receive handles in order).
    epoch: u32,
    /// Class descriptor chains (indices of `descs`) of the objects being read, innermost last
    /// (a stack shared by the nested `new_object` calls, so that no chain needs an allocation
    /// of its own).
    chains: Vec<u32>,
    depth: usize,
    in_exception: bool,
    /// Where the reader is (tracked only with a class filter, for its messages).
    path: Vec<Seg>,
}

/// Errors are boxed inside the reader: every call returns a `Result`, and a small one moves
/// through registers and the stack much faster than the 72-byte [`ParseError`].
type R<T> = Result<T, Box<ParseError>>;

/// A word for messages about an item of this kind.
fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::String => "string",
        Kind::ClassDesc | Kind::ProxyDesc => "class descriptor",
        Kind::Object => "object",
        Kind::Array => "array",
        Kind::Enum => "enum constant",
        Kind::Class => "class",
        _ => "item still being read",
    }
}

impl<'a> Parser<'a, '_> {
    #[cold]
    fn err(&self, offset: usize, kind: K) -> Box<ParseError> {
        Box::new(ParseError { offset, kind })
    }

    #[inline]
    fn take(&mut self, n: u64, what: &'static str) -> R<&'a [u8]> {
        let available = self.input.len() - self.pos;
        if n > available as u64 {
            return Err(self.err(self.pos, K::Truncated { what, needed: n, available }));
        }
        let s = &self.input[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> R<[u8; N]> {
        let s = self.take(N as u64, what)?;
        Ok(s.try_into().expect("take returns N bytes"))
    }

    #[inline]
    fn u8(&mut self, what: &'static str) -> R<u8> {
        match self.input.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err(self.pos, K::Truncated { what, needed: 1, available: 0 })),
        }
    }

    fn peek(&self, what: &'static str) -> R<u8> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err(self.pos, K::Truncated { what, needed: 1, available: 0 }))
    }

    #[inline]
    fn u16(&mut self, what: &'static str) -> R<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    #[inline]
    fn i32(&mut self, what: &'static str) -> R<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    #[inline]
    fn i64(&mut self, what: &'static str) -> R<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// `utf`: u16 length and modified UTF-8; returns where the bytes start and their length.
    #[inline]
    fn utf(&mut self, what: &'static str) -> R<(u32, u32)> {
        let len = self.u16(what)?;
        let at = self.pos;
        let bytes = self.take(u64::from(len), what)?;
        mutf8::validate(bytes).map_err(|e| self.err(at, K::BadUtf { what, at: e.at }))?;
        Ok((at as u32, u32::from(len)))
    }

    #[inline]
    fn push(&mut self, kind: Kind, flag: u8, a: u32, b: u32, c: u32) {
        self.tokens.push(Token::new(kind, flag, a, b, c));
    }

    fn enter(&mut self, at: usize) -> R<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.err(at, K::TooDeep { max: self.limits.max_depth }));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `newHandle`: the next handle goes to a new item whose token is `tok`, completed by
    /// [`Parser::fill`].
    #[inline]
    fn assign(&mut self, at: usize, kind: Kind, tok: usize) -> R<u32> {
        if self.items.len() >= self.limits.max_handles {
            return Err(self.err(at, K::TooManyHandles { max: self.limits.max_handles }));
        }
        let id = self.items.len() as u32;
        self.items.push(ItemRec { kind, tok: tok as u32, end: tok as u32 + 1, desc: NONE });
        Ok(id)
    }

    /// The item is read: it holds the tokens up to here.
    #[inline]
    fn fill(&mut self, id: u32, kind: Kind) {
        let end = self.tokens.len() as u32;
        let rec = &mut self.items[id as usize];
        rec.kind = kind;
        rec.end = end;
    }

    /// `prevObject`: `TC_REFERENCE (int)handle`, the tag already read.
    #[inline(always)]
    fn handle(&mut self, at: usize) -> R<(u32, u32)> {
        let handle = self.i32("handle")? as u32;
        let index = handle.wrapping_sub(BASE_WIRE_HANDLE);
        let assigned = self.items.len() as u32 - self.epoch;
        if index < assigned {
            Ok((self.epoch + index, handle))
        } else {
            Err(self.err(at, K::BadHandle { handle, assigned: assigned as usize }))
        }
    }

    fn desc_name(&self, d: u32) -> String {
        let d = &self.descs[d as usize];
        if d.proxy {
            return "(proxy)".to_string();
        }
        mutf8::lossy(&self.input[d.name_at as usize..(d.name_at + d.name_len) as usize])
    }

    /// Enters a segment of [`Parser::path`], which only a class filter's message uses: without
    /// a filter nothing is tracked.
    #[inline]
    fn seg(&mut self, seg: Seg) {
        if self.filter.is_some() {
            self.path.push(seg);
        }
    }

    #[inline]
    fn unseg(&mut self) {
        if self.filter.is_some() {
            self.path.pop();
        }
    }

    fn render_path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            if !out.is_empty() {
                out.push_str(" > ");
            }
            match *seg {
                Seg::Content(i) => out.push_str(&format!("contents[{i}]")),
                Seg::Field(d, j) => {
                    let desc = &self.descs[d as usize];
                    let field = match self.fields.get((desc.fields_at + j) as usize) {
                        Some(f) if j < desc.field_count => {
                            mutf8::lossy(&self.input[f.name_at as usize..(f.name_at + f.name_len) as usize])
                        }
                        _ => String::new(),
                    };
                    out.push_str(&format!("field {}.{field}", self.desc_name(d)));
                }
                Seg::ObjectAnnotation(d) => out.push_str(&format!("writeObject data of {}", self.desc_name(d))),
                Seg::External => out.push_str("external data"),
                Seg::ClassAnnotation => out.push_str("class annotation"),
                Seg::Annotation(i) => out.push_str(&format!("[{i}]")),
                Seg::Element(i) => out.push_str(&format!("element [{i}]")),
                Seg::Super => out.push_str("superclass"),
                Seg::Exception => out.push_str("exception"),
                Seg::EnumName => out.push_str("enum name"),
                Seg::ClassOf(what) => out.push_str(&format!("class of {what}")),
            }
        }
        out
    }

    fn check_class(&self, at: usize, (name_at, name_len): (u32, u32), proxy_interface: bool) -> R<()> {
        let Some(filter) = self.filter else { return Ok(()) };
        let name = mutf8::lossy(&self.input[name_at as usize..(name_at + name_len) as usize]);
        let verdict = if proxy_interface {
            filter.check_name(&name).map_err(|r| (name.as_str(), r))
        } else {
            filter.check_descriptor(&name)
        };
        match verdict {
            Ok(()) => Ok(()),
            Err((class, reason)) => {
                let mut path = self.render_path();
                if path.is_empty() {
                    path.push_str("top level");
                }
                if proxy_interface {
                    path.push_str(" (proxy interface)");
                }
                Err(self.err(at, K::ClassRejected { class: class.to_string(), reason, path }))
            }
        }
    }

    // ---- stream, contents ----

    fn stream(&mut self) -> R<()> {
        let header = self.input.get(..4);
        if header != Some(&STREAM_HEADER[..]) {
            return Err(self.err(0, K::BadHeader));
        }
        self.pos = 4;
        let mut i = 0;
        while self.pos < self.input.len() {
            self.path.clear();
            self.seg(Seg::Content(i));
            self.content(true)?;
            i += 1;
        }
        Ok(())
    }

    /// `content := object | blockdata`, plus `reset` at the top level.
    #[inline(always)]
    fn content(&mut self, top: bool) -> R<Flow> {
        let at = self.pos;
        match self.peek("content")? {
            TC_BLOCKDATA => {
                self.pos += 1;
                let len = self.u8("block data length")?;
                let start = self.pos;
                self.take(u64::from(len), "block data")?;
                self.push(Kind::Block, 0, start as u32, u32::from(len), 0);
                Ok(Flow::Done)
            }
            TC_BLOCKDATALONG => {
                self.pos += 1;
                let len = self.i32("block data length")?;
                if len < 0 {
                    return Err(self.err(at, K::NegativeLength { what: "block data length", len: i64::from(len) }));
                }
                if len as usize > self.limits.max_string_len {
                    let max = self.limits.max_string_len;
                    return Err(self.err(at, K::TooLong { what: "block data", len: len as u64, max }));
                }
                let start = self.pos;
                self.take(len as u64, "block data")?;
                self.push(Kind::Block, 1, start as u32, len as u32, 0);
                Ok(Flow::Done)
            }
            TC_RESET if top => {
                self.pos += 1;
                self.epoch = self.items.len() as u32;
                self.push(Kind::Reset, 0, self.items.len() as u32, 0, 0);
                Ok(Flow::Done)
            }
            _ => self.value("content"),
        }
    }

    /// `contents TC_ENDBLOCKDATA` of `classAnnotation`, `objectAnnotation` and
    /// `externalContents`.
    fn annotation(&mut self, exceptions: bool) -> R<Flow> {
        let mut n = 0;
        loop {
            let at = self.pos;
            let tag = self.peek("annotation (no TC_ENDBLOCKDATA)")?;
            if tag == TC_ENDBLOCKDATA {
                self.pos += 1;
                self.push(Kind::End, 0, 0, 0, 0);
                return Ok(Flow::Done);
            }
            if tag == TC_EXCEPTION && !exceptions {
                return Err(self.err(at, K::UnsupportedException { context: "a class annotation" }));
            }
            self.seg(Seg::Annotation(n));
            let flow = self.content(false)?;
            self.unseg();
            n += 1;
            if flow == Flow::Aborted {
                if !exceptions {
                    return Err(self.err(at, K::UnsupportedException { context: "a class annotation" }));
                }
                return Ok(Flow::Aborted);
            }
        }
    }

    // ---- object ----

    /// `object`, in any position that takes one, and whether the writer aborted inside it.
    #[inline]
    fn value(&mut self, expected: &'static str) -> R<Flow> {
        crate::grow_stack_at(self.depth, || self.value_inner(expected))
    }

    fn value_inner(&mut self, expected: &'static str) -> R<Flow> {
        let at = self.pos;
        let tag = self.u8("type code")?;
        match tag {
            TC_NULL => {
                self.push(Kind::Null, 0, 0, 0, 0);
                Ok(Flow::Done)
            }
            TC_REFERENCE => {
                let (id, _) = self.handle(at)?;
                self.push(Kind::Ref, 0, id, 0, 0);
                Ok(Flow::Done)
            }
            TC_STRING | TC_LONGSTRING => {
                self.new_string(tag, at)?;
                Ok(Flow::Done)
            }
            TC_CLASSDESC | TC_PROXYCLASSDESC => {
                self.enter(at)?;
                self.new_class_desc(tag, at)?;
                self.leave();
                Ok(Flow::Done)
            }
            TC_OBJECT | TC_ARRAY | TC_ENUM | TC_CLASS => {
                self.enter(at)?;
                let flow = match tag {
                    TC_OBJECT => self.new_object(at)?,
                    TC_ARRAY => self.new_array(at)?,
                    TC_ENUM => self.new_enum(at)?,
                    _ => self.new_class(at)?,
                };
                self.leave();
                Ok(flow)
            }
            TC_EXCEPTION => self.exception(at),
            TC_RESET => Err(self.err(at, K::NestedReset)),
            _ => Err(self.err(at, K::UnexpectedTag { tag, name: tag_name(tag), expected })),
        }
    }

    /// `newString`, the tag already read.
    #[inline(always)]
    fn new_string(&mut self, tag: u8, at: usize) -> R<u32> {
        let (len, long) = if tag == TC_STRING {
            (u64::from(self.u16("string length")?), false)
        } else {
            let len = self.i64("long string length")?;
            if len < 0 {
                return Err(self.err(at, K::NegativeLength { what: "long string length", len }));
            }
            if len as u64 > self.limits.max_string_len as u64 {
                let max = self.limits.max_string_len;
                return Err(self.err(at, K::TooLong { what: "long string", len: len as u64, max }));
            }
            (len as u64, true)
        };
        let start = self.pos;
        let bytes = self.take(len, "string")?;
        if let Err(e) = mutf8::validate(bytes) {
            return Err(self.err(at, K::BadUtf { what: "string", at: e.at }));
        }
        let tok = self.tokens.len();
        let id = self.assign(at, Kind::String, tok)?;
        self.push(Kind::String, u8::from(long), start as u32, len as u32, id);
        Ok(id)
    }

    /// `classDesc`: a new or referenced descriptor (its item), or `TC_NULL` (`None`).
    fn class_desc(&mut self, expected: &'static str) -> R<Option<u32>> {
        let at = self.pos;
        let tag = self.u8("class descriptor")?;
        match tag {
            TC_NULL => {
                self.push(Kind::Null, 0, 0, 0, 0);
                Ok(None)
            }
            TC_REFERENCE => {
                let (id, handle) = self.handle(at)?;
                match self.items[id as usize].kind {
                    Kind::ClassDesc | Kind::ProxyDesc => {
                        self.push(Kind::Ref, 0, id, 0, 0);
                        Ok(Some(id))
                    }
                    other => Err(self.err(at, K::WrongReference { handle, expected, found: kind_word(other) })),
                }
            }
            TC_CLASSDESC | TC_PROXYCLASSDESC => {
                self.enter(at)?;
                let id = crate::grow_stack_at(self.depth, || self.new_class_desc(tag, at))?;
                self.leave();
                Ok(Some(id))
            }
            _ => Err(self.err(at, K::UnexpectedTag { tag, name: tag_name(tag), expected })),
        }
    }

    /// A class descriptor that must not be null (objects, arrays, enums, classes): its index in
    /// [`Parser::descs`]. A reference goes into the token `tok` ([`REF_DESC`]).
    #[inline]
    fn required_desc(&mut self, what: &'static str, tok: usize) -> R<u32> {
        // The common case first: a reference to a descriptor read before.
        if let Some(&[TC_REFERENCE, a, b, c, d]) = self.input.get(self.pos..self.pos + 5) {
            let index = u32::from_be_bytes([a, b, c, d]).wrapping_sub(BASE_WIRE_HANDLE);
            if index < self.items.len() as u32 - self.epoch {
                let id = self.epoch + index;
                let rec = self.items[id as usize];
                if matches!(rec.kind, Kind::ClassDesc | Kind::ProxyDesc) {
                    self.pos += 5;
                    let t = &mut self.tokens[tok];
                    t.flag |= REF_DESC;
                    t.b = id;
                    return Ok(rec.desc);
                }
            }
        }
        self.required_desc_slow(what)
    }

    #[inline(never)]
    fn required_desc_slow(&mut self, what: &'static str) -> R<u32> {
        let at = self.pos;
        self.seg(Seg::ClassOf(what));
        let v = self.class_desc("a class descriptor")?;
        self.unseg();
        match v {
            Some(id) => Ok(self.items[id as usize].desc),
            None => Err(self.err(at, K::MissingClassDesc { what })),
        }
    }

    /// `newClassDesc`, the tag already read.
    fn new_class_desc(&mut self, tag: u8, at: usize) -> R<u32> {
        let tok = self.tokens.len();
        let d = self.descs.len() as u32;
        let (id, kind) = if tag == TC_CLASSDESC {
            let name_at = self.pos;
            let name = self.utf("class name")?;
            let uid = self.i64("serialVersionUID")?;
            self.check_class(name_at, name, false)?;
            let id = self.assign(at, Kind::Pending, tok)?;
            self.push(Kind::ClassDesc, 0, d, 0, id);
            let flags = self.u8("class flags")?;
            let class_name = |p: &Self| mutf8::lossy(&p.input[name.0 as usize..(name.0 + name.1) as usize]);
            if flags & SC_SERIALIZABLE != 0 && flags & SC_EXTERNALIZABLE != 0 {
                return Err(self.err(at, K::FlagConflict { class: class_name(self), flags }));
            }
            let count_at = self.pos;
            let count = self.u16("field count")?;
            if count >= 0x8000 {
                return Err(self.err(count_at, K::NegativeLength { what: "field count", len: i64::from(count as i16) }));
            }
            // Each field takes at least three bytes: reserve no more than the input can hold.
            self.fields.reserve(usize::from(count).min((self.input.len() - self.pos) / 3));
            let fields_at = self.fields.len() as u32;
            let (mut prim_count, mut prim_bytes) = (0u32, 0u32);
            for _ in 0..count {
                let code_at = self.pos;
                let code = self.u8("field type code")?;
                if !is_type_code(code) {
                    return Err(self.err(code_at, K::BadFieldType { class: class_name(self), code }));
                }
                let size = prim_size(code);
                if size.is_some() && prim_count as usize != self.fields.len() - fields_at as usize {
                    return Err(self.err(code_at, K::FieldOrder { class: class_name(self) }));
                }
                let (fname_at, fname_len) = self.utf("field name")?;
                self.fields.push(FieldRec { code, name_at: fname_at, name_len: fname_len, offset: prim_bytes });
                match size {
                    Some(n) => {
                        prim_count += 1;
                        prim_bytes += n as u32;
                    }
                    None => self.type_string()?,
                }
            }
            self.descs.push(DescRec {
                item: id,
                name_at: name.0,
                name_len: name.1,
                uid,
                flags,
                proxy: false,
                super_item: NONE,
                fields_at,
                field_count: u32::from(count),
                prim_count,
                prim_bytes,
                chain_prim_bytes: NONE,
            });
            (id, Kind::ClassDesc)
        } else {
            let id = self.assign(at, Kind::Pending, tok)?;
            self.push(Kind::ProxyDesc, 0, d, 0, id);
            let count = self.i32("proxy interface count")?;
            if count < 0 {
                return Err(self.err(at, K::NegativeLength { what: "proxy interface count", len: i64::from(count) }));
            }
            if count > 0xFFFF {
                return Err(self.err(at, K::TooManyInterfaces { count }));
            }
            self.tokens[tok].b = count as u32;
            for _ in 0..count {
                let name_at = self.pos;
                let name = self.utf("proxy interface name")?;
                self.check_class(name_at, name, true)?;
                self.push(Kind::Interface, 0, name.0, name.1, 0);
            }
            self.descs.push(DescRec {
                item: id,
                name_at: 0,
                name_len: 0,
                uid: 0,
                flags: SC_SERIALIZABLE,
                proxy: true,
                super_item: NONE,
                fields_at: self.fields.len() as u32,
                field_count: 0,
                prim_count: 0,
                prim_bytes: 0,
                chain_prim_bytes: NONE,
            });
            (id, Kind::ProxyDesc)
        };
        self.items[id as usize].desc = d;
        self.seg(Seg::ClassAnnotation);
        self.annotation(false)?;
        self.unseg();
        self.seg(Seg::Super);
        let super_class = self.class_desc("a superclass descriptor")?;
        self.unseg();
        let super_prims = match super_class {
            Some(s) => self.descs[self.items[s as usize].desc as usize].chain_prim_bytes,
            None => 0,
        };
        let desc = &mut self.descs[d as usize];
        desc.super_item = super_class.unwrap_or(NONE);
        if super_prims != NONE && desc.prim_count == desc.field_count && !desc.has_write_method() {
            desc.chain_prim_bytes = super_prims.saturating_add(desc.prim_bytes).min(NONE - 1);
        }
        self.fill(id, kind);
        Ok(id)
    }

    /// `className1`: the field's type signature, a new or referenced string.
    fn type_string(&mut self) -> R<()> {
        let at = self.pos;
        let tag = self.u8("field type string")?;
        let expected = "a field type string";
        match tag {
            TC_STRING | TC_LONGSTRING => {
                self.new_string(tag, at)?;
                Ok(())
            }
            TC_REFERENCE => {
                let (id, handle) = self.handle(at)?;
                match self.items[id as usize].kind {
                    Kind::String => {
                        self.push(Kind::Ref, 0, id, 0, 0);
                        Ok(())
                    }
                    other => Err(self.err(at, K::WrongReference { handle, expected, found: kind_word(other) })),
                }
            }
            _ => Err(self.err(at, K::UnexpectedTag { tag, name: tag_name(tag), expected })),
        }
    }

    /// The primitive field values of one class of an object: a `Prims` token, or more of the
    /// last one (`extend`).
    #[inline]
    fn prims(&mut self, d: &DescRec, extend: bool) -> R<()> {
        let available = self.input.len() - self.pos;
        if d.prim_bytes as usize > available {
            // Name the first value that does not fit, as reading value by value would.
            let f = (0..d.prim_count)
                .map(|j| self.fields[(d.fields_at + j) as usize])
                .find(|f| (f.offset as usize + prim_size(f.code).unwrap_or(0)) > available)
                .expect("some value does not fit");
            let needed = prim_size(f.code).unwrap_or(0) as u64;
            let at = self.pos + f.offset as usize;
            let available = available - f.offset as usize;
            return Err(self.err(at, K::Truncated { what: "field value", needed, available }));
        }
        match self.tokens.last_mut() {
            Some(t) if extend => t.b += d.prim_bytes,
            _ => self.push(Kind::Prims, 0, self.pos as u32, d.prim_bytes, 0),
        }
        self.pos += d.prim_bytes as usize;
        Ok(())
    }

    /// `newObject`, the tag already read.
    fn new_object(&mut self, at: usize) -> R<Flow> {
        let tok = self.tokens.len();
        self.push(Kind::Object, 0, 0, 0, 0);
        let desc = self.required_desc("TC_OBJECT", tok)?;
        let id = self.assign(at, Kind::Pending, tok)?;
        self.tokens[tok].c = id;
        let d = self.descs[desc as usize];
        if d.is_externalizable() {
            if d.flags & SC_BLOCK_DATA == 0 {
                return Err(self.err(at, K::ExternalizableProtocol1 { class: self.desc_name(desc) }));
            }
            self.seg(Seg::External);
            let flow = self.annotation(true)?;
            self.unseg();
            self.fill(id, Kind::Object);
            return Ok(flow);
        }
        let n = d.chain_prim_bytes;
        if n != NONE && n as usize <= self.input.len() - self.pos {
            // Primitive fields only: one run of bytes.
            if n > 0 {
                self.push(Kind::Prims, 0, self.pos as u32, n, 0);
                self.pos += n as usize;
            }
            self.fill(id, Kind::Object);
            return Ok(Flow::Done);
        }
        let base = self.chains.len();
        self.push_chain(desc);
        let top = self.chains.len();
        let mut flow = Flow::Done;
        // The last token is a `Prims` of this object with nothing after it.
        let mut in_run = false;
        'levels: for k in base..top {
            let level = self.chains[k];
            let d = self.descs[level as usize];
            if d.prim_bytes > 0 {
                self.prims(&d, in_run)?;
                in_run = true;
            }
            if d.field_count > d.prim_count || d.has_write_method() {
                in_run = false;
            }
            for j in d.prim_count..d.field_count {
                self.seg(Seg::Field(level, j));
                let f = self.value("a field value")?;
                self.unseg();
                if f == Flow::Aborted {
                    flow = f;
                    break 'levels;
                }
            }
            if d.has_write_method() {
                self.seg(Seg::ObjectAnnotation(level));
                let f = self.annotation(true)?;
                self.unseg();
                if f == Flow::Aborted {
                    flow = f;
                    break 'levels;
                }
            }
        }
        self.chains.truncate(base);
        self.fill(id, Kind::Object);
        Ok(flow)
    }

    /// Superclass first. Every descriptor reachable here was complete when it was read, and a
    /// complete descriptor only refers to earlier complete ones, so the chain ends.
    /// Pushes the chain onto [`Parser::chains`].
    fn push_chain(&mut self, desc: u32) {
        let base = self.chains.len();
        self.chains.push(desc);
        let mut cur = self.descs[desc as usize].super_item;
        while cur != NONE {
            let d = self.items[cur as usize].desc;
            self.chains.push(d);
            cur = self.descs[d as usize].super_item;
        }
        self.chains[base..].reverse();
    }

    /// `newArray`, the tag already read.
    fn new_array(&mut self, at: usize) -> R<Flow> {
        let tok = self.tokens.len();
        self.push(Kind::Array, 0, 0, 0, 0);
        let desc = self.required_desc("TC_ARRAY", tok)?;
        let d = self.descs[desc as usize];
        let name = &self.input[d.name_at as usize..(d.name_at + d.name_len) as usize];
        let code = match name.first() {
            Some(b'[') if !d.proxy => name.get(1).copied().unwrap_or(b'L'),
            _ => return Err(self.err(at, K::NotAnArrayClass { class: self.desc_name(desc) })),
        };
        let id = self.assign(at, Kind::Pending, tok)?;
        let len_at = self.pos;
        let length = self.i32("array length")?;
        if length < 0 {
            return Err(self.err(len_at, K::NegativeLength { what: "array length", len: i64::from(length) }));
        }
        if length as usize > self.limits.max_array_len {
            return Err(self.err(len_at, K::ArrayTooLong { len: length, max: self.limits.max_array_len }));
        }
        let t = &mut self.tokens[tok];
        (t.code, t.a, t.c) = (code, length as u32, id);
        if t.flag & REF_DESC == 0 {
            self.push(Kind::ArrayLength, 0, length as u32, 0, 0);
        }
        let n = length as usize;
        let what = "array elements";
        match prim_size(code) {
            Some(size) => {
                let start = self.pos;
                let raw = self.take(n as u64 * size as u64, what)?;
                let len = raw.len() as u32;
                self.push(Kind::Prims, 0, start as u32, len, 0);
            }
            None => {
                // Each element takes at least one byte.
                let available = self.input.len() - self.pos;
                if n > available {
                    return Err(self.err(self.pos, K::Truncated { what, needed: n as u64, available }));
                }
                for i in 0..n {
                    self.seg(Seg::Element(i));
                    let f = self.value("an array element")?;
                    self.unseg();
                    if f == Flow::Aborted {
                        self.fill(id, Kind::Array);
                        return Ok(Flow::Aborted);
                    }
                }
            }
        }
        self.fill(id, Kind::Array);
        Ok(Flow::Done)
    }

    /// `newEnum`, the tag already read. The name is always a new string
    /// (`ObjectInputStream.readEnum` reads it with `readString`, which takes no reference).
    fn new_enum(&mut self, at: usize) -> R<Flow> {
        let tok = self.tokens.len();
        self.push(Kind::Enum, 0, 0, 0, 0);
        self.required_desc("TC_ENUM", tok)?;
        let id = self.assign(at, Kind::Pending, tok)?;
        self.tokens[tok].c = id;
        let name_at = self.pos;
        self.seg(Seg::EnumName);
        let tag = self.u8("enum constant name")?;
        match tag {
            TC_STRING | TC_LONGSTRING => self.new_string(tag, name_at)?,
            _ => {
                let expected = "the enum constant name (a new string)";
                return Err(self.err(name_at, K::UnexpectedTag { tag, name: tag_name(tag), expected }));
            }
        };
        self.unseg();
        self.fill(id, Kind::Enum);
        Ok(Flow::Done)
    }

    /// `newClass`, the tag already read.
    fn new_class(&mut self, at: usize) -> R<Flow> {
        let tok = self.tokens.len();
        self.push(Kind::Class, 0, 0, 0, 0);
        self.required_desc("TC_CLASS", tok)?;
        let id = self.assign(at, Kind::Pending, tok)?;
        self.tokens[tok].c = id;
        self.fill(id, Kind::Class);
        Ok(Flow::Done)
    }

    /// `exception := TC_EXCEPTION reset (Throwable)object reset`, the tag already read.
    fn exception(&mut self, at: usize) -> R<Flow> {
        if self.in_exception {
            return Err(self.err(at, K::UnsupportedException { context: "the exception object" }));
        }
        self.enter(at)?;
        self.epoch = self.items.len() as u32;
        self.push(Kind::Exception, 0, self.items.len() as u32, 0, 0);
        self.in_exception = true;
        self.seg(Seg::Exception);
        self.value("the exception object")?;
        self.unseg();
        self.in_exception = false;
        self.epoch = self.items.len() as u32;
        self.push(Kind::ExceptionEnd, 0, self.items.len() as u32, 0, 0);
        self.leave();
        Ok(Flow::Aborted)
    }
}
