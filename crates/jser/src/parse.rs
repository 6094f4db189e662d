//! The reader: bytes to [`Stream`], for the whole grammar of JOSS ch. 6.4.
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
use crate::model::*;
use crate::mutf8::{self, Mutf8};
use std::sync::Arc;

/// Parses a whole stream with the default [`Limits`] and no class filter.
pub fn parse(input: &[u8]) -> Result<Stream, ParseError> {
    parse_with(input, &ParseOptions::default())
}

/// Parses a whole stream: header, then contents up to the end of `input`.
pub fn parse_with(input: &[u8], opts: &ParseOptions) -> Result<Stream, ParseError> {
    if input.len() > opts.limits.max_total_bytes {
        return Err(ParseError {
            offset: 0,
            kind: K::StreamTooLong { len: input.len(), max: opts.limits.max_total_bytes },
        });
    }
    // Strings share one copy of the input instead of owning one allocation each.
    let shared: Arc<[u8]> = Arc::from(input);
    // About one handle per 24 input bytes in session streams: reserve once instead of growing.
    let expected_items = input.len() / 24;
    let scratch = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    let mut p = Parser {
        input,
        shared,
        pos: 0,
        limits: &opts.limits,
        filter: opts.filter.as_ref(),
        items: Vec::with_capacity(expected_items),
        table: scratch.table,
        chains: scratch.chains,
        depth: 0,
        in_exception: false,
        path: scratch.path,
        last_flow: Flow::Done,
    };
    p.table.reserve(expected_items);
    let result = crate::grow_stack_entry(|| p.stream()).map_err(|e| *e);
    // Keep the working buffers for the next parse on this thread, unless they grew large.
    let (mut table, mut chains, mut path) = (p.table, p.chains, p.path);
    if table.capacity() <= SCRATCH_KEEP {
        table.clear();
        chains.clear();
        path.clear();
        let _ = SCRATCH.try_with(|s| s.set(Scratch { table, chains, path }));
    }
    result
}

/// Working buffers of the parser, kept per thread between parses (each parse of a small stream
/// would otherwise allocate them anew).
#[derive(Default)]
struct Scratch {
    table: Vec<ItemId>,
    chains: Vec<ItemId>,
    path: Vec<Seg>,
}

/// Handle tables up to this many entries are kept for the next parse.
const SCRATCH_KEEP: usize = 1 << 16;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// What [`Parser::assign`] puts in an item's place until it is read completely. No item read
/// from a stream looks like this (a `TC_CLASS` always has a class descriptor).
const PENDING: Item = Item::Class(ClassObj { class: Value::Null });

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
    Field(ItemId, usize),
    ObjectAnnotation(ItemId),
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
    /// The same bytes, shared by the strings read ([`Mutf8`] slices of it).
    shared: Arc<[u8]>,
    pos: usize,
    limits: &'o Limits,
    filter: Option<&'o ClassFilter>,
    /// Items in handle order; [`PENDING`] while the item is being read.
    items: Vec<Item>,
    /// Class descriptor chains of the objects being read, innermost last (a stack shared by
    /// the nested `new_object` calls, so that no chain needs an allocation of its own).
    chains: Vec<ItemId>,
    /// The handle table since the last reset: handle `0x7E0000 + i` is `table[i]`.
    table: Vec<ItemId>,
    depth: usize,
    in_exception: bool,
    /// Where the reader is (tracked only with a class filter, for its messages).
    path: Vec<Seg>,
    /// The flow of the value [`Parser::value`] read last.
    last_flow: Flow,
}

/// Errors are boxed inside the reader: every call returns a `Result`, and a small one moves
/// through registers and the stack much faster than the 72-byte [`ParseError`].
type R<T> = Result<T, Box<ParseError>>;

impl<'a> Parser<'a, '_> {
    #[cold]
    fn err(&self, offset: usize, kind: K) -> Box<ParseError> {
        Box::new(ParseError { offset, kind })
    }

    fn take(&mut self, n: u64, what: &'static str) -> R<&'a [u8]> {
        let available = self.input.len() - self.pos;
        if n > available as u64 {
            return Err(self.err(self.pos, K::Truncated { what, needed: n, available }));
        }
        let s = &self.input[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> R<[u8; N]> {
        let s = self.take(N as u64, what)?;
        Ok(s.try_into().expect("take returns N bytes"))
    }

    fn u8(&mut self, what: &'static str) -> R<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn peek(&self, what: &'static str) -> R<u8> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err(self.pos, K::Truncated { what, needed: 1, available: 0 }))
    }

    fn u16(&mut self, what: &'static str) -> R<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &'static str) -> R<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &'static str) -> R<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    /// `utf`: u16 length and modified UTF-8.
    fn utf(&mut self, what: &'static str) -> R<Mutf8> {
        let len = self.u16(what)?;
        let at = self.pos;
        let bytes = self.take(u64::from(len), what)?;
        mutf8::validate(bytes).map_err(|e| self.err(at, K::BadUtf { what, at: e.at }))?;
        Ok(Mutf8::shared(&self.shared, at, usize::from(len)))
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

    /// `newHandle`: the next handle goes to a new item, filled in by [`Parser::fill`].
    fn assign(&mut self, at: usize) -> R<ItemId> {
        if self.items.len() >= self.limits.max_handles {
            return Err(self.err(at, K::TooManyHandles { max: self.limits.max_handles }));
        }
        let id = ItemId(self.items.len() as u32);
        self.items.push(PENDING);
        self.table.push(id);
        Ok(id)
    }

    /// `newHandle` for an item read completely already (a string).
    fn assign_complete(&mut self, at: usize, item: Item) -> R<ItemId> {
        if self.items.len() >= self.limits.max_handles {
            return Err(self.err(at, K::TooManyHandles { max: self.limits.max_handles }));
        }
        let id = ItemId(self.items.len() as u32);
        self.items.push(item);
        self.table.push(id);
        Ok(id)
    }

    fn fill(&mut self, id: ItemId, item: Item) {
        self.items[id.index()] = item;
    }

    /// The item, or `None` while it is still being read.
    fn complete(&self, id: ItemId) -> Option<&Item> {
        match &self.items[id.index()] {
            Item::Class(ClassObj { class: Value::Null }) => None,
            item => Some(item),
        }
    }

    /// `prevObject`: `TC_REFERENCE (int)handle`, the tag already read.
    fn handle(&mut self, at: usize) -> R<(ItemId, u32)> {
        let handle = self.i32("handle")? as u32;
        let index = handle.wrapping_sub(BASE_WIRE_HANDLE) as usize;
        match self.table.get(index) {
            Some(&id) => Ok((id, handle)),
            None => Err(self.err(at, K::BadHandle { handle, assigned: self.table.len() })),
        }
    }

    fn desc(&self, id: ItemId) -> &ClassDesc {
        match &self.items[id.index()] {
            Item::ClassDesc(d) => d,
            _ => unreachable!("class descriptor values are checked when read"),
        }
    }

    fn desc_name(&self, id: ItemId) -> String {
        match self.desc(id).name() {
            Some(n) => n.to_string_lossy(),
            None => "(proxy)".to_string(),
        }
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
                Seg::Field(desc, j) => {
                    let d = self.desc(desc);
                    let field = d.fields().get(j).map(|f| f.name.to_string_lossy()).unwrap_or_default();
                    out.push_str(&format!("field {}.{field}", self.desc_name(desc)));
                }
                Seg::ObjectAnnotation(desc) => out.push_str(&format!("writeObject data of {}", self.desc_name(desc))),
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

    fn check_class(&self, at: usize, name: &Mutf8, proxy_interface: bool) -> R<()> {
        let Some(filter) = self.filter else { return Ok(()) };
        let name = name.to_string_lossy();
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

    fn stream(&mut self) -> R<Stream> {
        let header = self.input.get(..4);
        if header != Some(&STREAM_HEADER[..]) {
            return Err(self.err(0, K::BadHeader));
        }
        self.pos = 4;
        let mut contents = Vec::with_capacity(self.input.len() / 16);
        while self.pos < self.input.len() {
            self.path.clear();
            self.seg(Seg::Content(contents.len()));
            self.content(true, &mut contents)?;
        }
        debug_assert!(
            (0..self.items.len()).all(|i| self.complete(ItemId(i as u32)).is_some()),
            "every assigned handle is filled before parse returns"
        );
        Ok(Stream { contents, items: std::mem::take(&mut self.items) })
    }

    /// `content := object | blockdata`, plus `reset` at the top level, appended to `out`.
    fn content(&mut self, top: bool, out: &mut Vec<Content>) -> R<Flow> {
        let at = self.pos;
        match self.peek("content")? {
            TC_BLOCKDATA => {
                self.pos += 1;
                let len = self.u8("block data length")?;
                let bytes = self.take(u64::from(len), "block data")?.to_vec();
                out.push(Content::Block(BlockData { bytes, long: false }));
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
                let bytes = self.take(len as u64, "block data")?.to_vec();
                out.push(Content::Block(BlockData { bytes, long: true }));
                Ok(Flow::Done)
            }
            TC_RESET if top => {
                self.pos += 1;
                self.table.clear();
                out.push(Content::Reset);
                Ok(Flow::Done)
            }
            _ => {
                let (v, flow) = self.value("content")?;
                out.push(Content::Value(v));
                Ok(flow)
            }
        }
    }

    /// `contents TC_ENDBLOCKDATA` of `classAnnotation`, `objectAnnotation` and
    /// `externalContents`.
    fn annotation(&mut self, exceptions: bool) -> R<(Vec<Content>, Flow)> {
        let mut contents = Vec::new();
        loop {
            let at = self.pos;
            let tag = self.peek("annotation (no TC_ENDBLOCKDATA)")?;
            if tag == TC_ENDBLOCKDATA {
                self.pos += 1;
                return Ok((contents, Flow::Done));
            }
            if tag == TC_EXCEPTION && !exceptions {
                return Err(self.err(at, K::UnsupportedException { context: "a class annotation" }));
            }
            self.seg(Seg::Annotation(contents.len()));
            if contents.is_empty() {
                // `writeObject` data (a HashMap's) is usually a block and a few values.
                contents.reserve(8);
            }
            let flow = self.content(false, &mut contents)?;
            self.unseg();
            if flow == Flow::Aborted {
                if !exceptions {
                    return Err(self.err(at, K::UnsupportedException { context: "a class annotation" }));
                }
                return Ok((contents, Flow::Aborted));
            }
        }
    }

    // ---- object ----

    /// `object`, in any position that takes one, and whether the writer aborted inside it.
    #[inline]
    fn value(&mut self, expected: &'static str) -> R<(Value, Flow)> {
        // The flow goes through a field so that the value alone is returned (in registers).
        let v = crate::grow_stack_at(self.depth, || self.value_only(expected))?;
        Ok((v, self.last_flow))
    }

    fn value_only(&mut self, expected: &'static str) -> R<Value> {
        let (v, flow) = self.value_inner(expected)?;
        self.last_flow = flow;
        Ok(v)
    }

    #[inline(always)]
    fn value_inner(&mut self, expected: &'static str) -> R<(Value, Flow)> {
        let at = self.pos;
        let tag = self.u8("type code")?;
        let done = |v| Ok((v, Flow::Done));
        match tag {
            TC_NULL => done(Value::Null),
            TC_REFERENCE => done(Value::Ref(self.handle(at)?.0)),
            TC_STRING | TC_LONGSTRING => done(Value::New(self.new_string(tag, at)?)),
            TC_CLASSDESC | TC_PROXYCLASSDESC => {
                self.enter(at)?;
                let id = self.new_class_desc(tag, at)?;
                self.leave();
                done(Value::New(id))
            }
            TC_OBJECT | TC_ARRAY | TC_ENUM | TC_CLASS => {
                self.enter(at)?;
                let (id, flow) = match tag {
                    TC_OBJECT => self.new_object(at)?,
                    TC_ARRAY => self.new_array(at)?,
                    TC_ENUM => (self.new_enum(at)?, Flow::Done),
                    _ => (self.new_class(at)?, Flow::Done),
                };
                self.leave();
                Ok((Value::New(id), flow))
            }
            TC_EXCEPTION => self.exception(at),
            TC_RESET => Err(self.err(at, K::NestedReset)),
            _ => Err(self.err(at, K::UnexpectedTag { tag, name: tag_name(tag), expected })),
        }
    }

    /// `newString`, the tag already read.
    fn new_string(&mut self, tag: u8, at: usize) -> R<ItemId> {
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
        let text = Mutf8::shared(&self.shared, start, bytes.len());
        self.assign_complete(at, Item::String(JString { text, long }))
    }

    /// `classDesc`: a new or referenced descriptor, or `TC_NULL`.
    fn class_desc(&mut self, expected: &'static str) -> R<Value> {
        let at = self.pos;
        let tag = self.u8("class descriptor")?;
        match tag {
            TC_NULL => Ok(Value::Null),
            TC_REFERENCE => {
                let (id, handle) = self.handle(at)?;
                match self.complete(id) {
                    Some(Item::ClassDesc(_)) => Ok(Value::Ref(id)),
                    Some(other) => Err(self.err(at, K::WrongReference { handle, expected, found: other.kind() })),
                    None => Err(self.err(at, K::WrongReference { handle, expected, found: "item still being read" })),
                }
            }
            TC_CLASSDESC | TC_PROXYCLASSDESC => {
                self.enter(at)?;
                let id = crate::grow_stack_at(self.depth, || self.new_class_desc(tag, at))?;
                self.leave();
                Ok(Value::New(id))
            }
            _ => Err(self.err(at, K::UnexpectedTag { tag, name: tag_name(tag), expected })),
        }
    }

    /// A class descriptor that must not be null (objects, arrays, enums, classes).
    fn required_desc(&mut self, what: &'static str) -> R<(Value, ItemId)> {
        let at = self.pos;
        self.seg(Seg::ClassOf(what));
        let v = self.class_desc("a class descriptor")?;
        self.unseg();
        match v.item() {
            Some(id) => Ok((v, id)),
            None => Err(self.err(at, K::MissingClassDesc { what })),
        }
    }

    /// `newClassDesc`, the tag already read.
    fn new_class_desc(&mut self, tag: u8, at: usize) -> R<ItemId> {
        let (id, kind) = if tag == TC_CLASSDESC {
            let name_at = self.pos;
            let name = self.utf("class name")?;
            let uid = self.i64("serialVersionUID")?;
            self.check_class(name_at, &name, false)?;
            let id = self.assign(at)?;
            let flags = self.u8("class flags")?;
            if flags & SC_SERIALIZABLE != 0 && flags & SC_EXTERNALIZABLE != 0 {
                return Err(self.err(at, K::FlagConflict { class: name.to_string_lossy(), flags }));
            }
            let count_at = self.pos;
            let count = self.u16("field count")?;
            if count >= 0x8000 {
                return Err(self.err(count_at, K::NegativeLength { what: "field count", len: i64::from(count as i16) }));
            }
            // Each field takes at least three bytes: reserve no more than the input can hold.
            let mut fields = Vec::with_capacity(usize::from(count).min((self.input.len() - self.pos) / 3));
            let mut seen_object = false;
            for _ in 0..count {
                let code_at = self.pos;
                let code = self.u8("field type code")?;
                if !is_type_code(code) {
                    return Err(self.err(code_at, K::BadFieldType { class: name.to_string_lossy(), code }));
                }
                let primitive = !matches!(code, b'L' | b'[');
                if primitive && seen_object {
                    return Err(self.err(code_at, K::FieldOrder { class: name.to_string_lossy() }));
                }
                seen_object |= !primitive;
                let fname = self.utf("field name")?;
                let class_name = if primitive { None } else { Some(self.type_string()?) };
                fields.push(FieldDesc { type_code: code, name: fname, class_name });
            }
            (id, DescKind::Class { name, uid, flags, fields })
        } else {
            let id = self.assign(at)?;
            let count = self.i32("proxy interface count")?;
            if count < 0 {
                return Err(self.err(at, K::NegativeLength { what: "proxy interface count", len: i64::from(count) }));
            }
            if count > 0xFFFF {
                return Err(self.err(at, K::TooManyInterfaces { count }));
            }
            let mut interfaces = Vec::new();
            for _ in 0..count {
                let name_at = self.pos;
                let name = self.utf("proxy interface name")?;
                self.check_class(name_at, &name, true)?;
                interfaces.push(name);
            }
            (id, DescKind::Proxy { interfaces })
        };
        self.seg(Seg::ClassAnnotation);
        let (annotation, _) = self.annotation(false)?;
        self.unseg();
        self.seg(Seg::Super);
        let super_class = self.class_desc("a superclass descriptor")?;
        self.unseg();
        self.fill(id, Item::ClassDesc(ClassDesc { kind, annotation, super_class }));
        Ok(id)
    }

    /// `className1`: the field's type signature, a new or referenced string.
    fn type_string(&mut self) -> R<Value> {
        let at = self.pos;
        let tag = self.u8("field type string")?;
        let expected = "a field type string";
        match tag {
            TC_STRING | TC_LONGSTRING => Ok(Value::New(self.new_string(tag, at)?)),
            TC_REFERENCE => {
                let (id, handle) = self.handle(at)?;
                match self.complete(id) {
                    Some(Item::String(_)) => Ok(Value::Ref(id)),
                    Some(other) => Err(self.err(at, K::WrongReference { handle, expected, found: other.kind() })),
                    None => Err(self.err(at, K::WrongReference { handle, expected, found: "item still being read" })),
                }
            }
            _ => Err(self.err(at, K::UnexpectedTag { tag, name: tag_name(tag), expected })),
        }
    }

    fn prim(&mut self, code: u8) -> R<Prim> {
        let what = "field value";
        Ok(match code {
            b'B' => Prim::Byte(self.u8(what)? as i8),
            b'C' => Prim::Char(self.u16(what)?),
            b'D' => Prim::Double(f64::from_bits(self.i64(what)? as u64)),
            b'F' => Prim::Float(f32::from_bits(self.i32(what)? as u32)),
            b'I' => Prim::Int(self.i32(what)?),
            b'J' => Prim::Long(self.i64(what)?),
            b'S' => Prim::Short(self.u16(what)? as i16),
            _ => Prim::Boolean(self.u8(what)?),
        })
    }

    /// `newObject`, the tag already read.
    fn new_object(&mut self, at: usize) -> R<(ItemId, Flow)> {
        let (class, desc) = self.required_desc("TC_OBJECT")?;
        let id = self.assign(at)?;
        let d = self.desc(desc);
        if d.is_externalizable() {
            if d.flags() & SC_BLOCK_DATA == 0 {
                return Err(self.err(at, K::ExternalizableProtocol1 { class: self.desc_name(desc) }));
            }
            self.seg(Seg::External);
            let (contents, flow) = self.annotation(true)?;
            self.unseg();
            self.fill(id, Item::Object(Object { class, data: ObjectData::External(contents) }));
            return Ok((id, flow));
        }
        let base = self.chains.len();
        self.push_chain(desc);
        let top = self.chains.len();
        let mut levels = Vec::with_capacity(top - base);
        let mut flow = Flow::Done;
        'levels: for k in base..top {
            let level = self.chains[k];
            let count = self.desc(level).fields().len();
            let mut values = Vec::with_capacity(count);
            for j in 0..count {
                let code = self.desc(level).fields()[j].type_code;
                if prim_size(code).is_some() {
                    values.push(FieldValue::Prim(self.prim(code)?));
                    continue;
                }
                self.seg(Seg::Field(level, j));
                let (v, f) = self.value("a field value")?;
                self.unseg();
                values.push(FieldValue::Object(v));
                if f == Flow::Aborted {
                    levels.push(ClassData { values, annotation: None });
                    flow = f;
                    break 'levels;
                }
            }
            let annotation = if self.desc(level).has_write_method() {
                self.seg(Seg::ObjectAnnotation(level));
                let (contents, f) = self.annotation(true)?;
                self.unseg();
                if f == Flow::Aborted {
                    levels.push(ClassData { values, annotation: Some(contents) });
                    flow = f;
                    break 'levels;
                }
                Some(contents)
            } else {
                None
            };
            levels.push(ClassData { values, annotation });
        }
        self.chains.truncate(base);
        self.fill(id, Item::Object(Object { class, data: ObjectData::Serial(levels) }));
        Ok((id, flow))
    }

    /// Superclass first. Every descriptor reachable here was complete when it was read, and a
    /// complete descriptor only refers to earlier complete ones, so the chain ends.
    /// Pushes the chain onto [`Parser::chains`].
    fn push_chain(&mut self, desc: ItemId) {
        let base = self.chains.len();
        self.chains.push(desc);
        let mut cur = self.desc(desc).super_class.item();
        while let Some(id) = cur {
            self.chains.push(id);
            cur = self.desc(id).super_class.item();
        }
        self.chains[base..].reverse();
    }

    /// `newArray`, the tag already read.
    fn new_array(&mut self, at: usize) -> R<(ItemId, Flow)> {
        let (class, desc) = self.required_desc("TC_ARRAY")?;
        let code = match self.desc(desc).name() {
            Some(name) if name.as_bytes().first() == Some(&b'[') => name.as_bytes().get(1).copied().unwrap_or(b'L'),
            _ => return Err(self.err(at, K::NotAnArrayClass { class: self.desc_name(desc) })),
        };
        let id = self.assign(at)?;
        let len_at = self.pos;
        let length = self.i32("array length")?;
        if length < 0 {
            return Err(self.err(len_at, K::NegativeLength { what: "array length", len: i64::from(length) }));
        }
        if length as usize > self.limits.max_array_len {
            return Err(self.err(len_at, K::ArrayTooLong { len: length, max: self.limits.max_array_len }));
        }
        let n = length as usize;
        let what = "array elements";
        let elements = match prim_size(code) {
            Some(size) => {
                let raw = self.take((n * size) as u64, what)?;
                match code {
                    b'B' => Elements::Byte(raw.to_vec()),
                    b'Z' => Elements::Boolean(raw.to_vec()),
                    b'C' => Elements::Char(raw.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()),
                    b'S' => Elements::Short(raw.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect()),
                    b'I' => Elements::Int(
                        raw.chunks_exact(4).map(|c| i32::from_be_bytes(c.try_into().expect("4"))).collect(),
                    ),
                    b'F' => Elements::Float(
                        raw.chunks_exact(4)
                            .map(|c| f32::from_bits(u32::from_be_bytes(c.try_into().expect("4"))))
                            .collect(),
                    ),
                    b'J' => Elements::Long(
                        raw.chunks_exact(8).map(|c| i64::from_be_bytes(c.try_into().expect("8"))).collect(),
                    ),
                    _ => Elements::Double(
                        raw.chunks_exact(8)
                            .map(|c| f64::from_bits(u64::from_be_bytes(c.try_into().expect("8"))))
                            .collect(),
                    ),
                }
            }
            None => {
                // Each element takes at least one byte.
                let available = self.input.len() - self.pos;
                if n > available {
                    return Err(self.err(self.pos, K::Truncated { what, needed: n as u64, available }));
                }
                let mut values = Vec::with_capacity(n);
                for i in 0..n {
                    self.seg(Seg::Element(i));
                    let (v, f) = self.value("an array element")?;
                    self.unseg();
                    values.push(v);
                    if f == Flow::Aborted {
                        self.fill(id, Item::Array(Array { class, length, elements: Elements::Object(values) }));
                        return Ok((id, Flow::Aborted));
                    }
                }
                Elements::Object(values)
            }
        };
        self.fill(id, Item::Array(Array { class, length, elements }));
        Ok((id, Flow::Done))
    }

    /// `newEnum`, the tag already read. The name is always a new string
    /// (`ObjectInputStream.readEnum` reads it with `readString`, which takes no reference).
    fn new_enum(&mut self, at: usize) -> R<ItemId> {
        let (class, _) = self.required_desc("TC_ENUM")?;
        let id = self.assign(at)?;
        let name_at = self.pos;
        self.seg(Seg::EnumName);
        let tag = self.u8("enum constant name")?;
        let name = match tag {
            TC_STRING | TC_LONGSTRING => Value::New(self.new_string(tag, name_at)?),
            _ => {
                let expected = "the enum constant name (a new string)";
                return Err(self.err(name_at, K::UnexpectedTag { tag, name: tag_name(tag), expected }));
            }
        };
        self.unseg();
        self.fill(id, Item::Enum(EnumConst { class, name }));
        Ok(id)
    }

    /// `newClass`, the tag already read.
    fn new_class(&mut self, at: usize) -> R<ItemId> {
        let (class, _) = self.required_desc("TC_CLASS")?;
        let id = self.assign(at)?;
        self.fill(id, Item::Class(ClassObj { class }));
        Ok(id)
    }

    /// `exception := TC_EXCEPTION reset (Throwable)object reset`, the tag already read.
    fn exception(&mut self, at: usize) -> R<(Value, Flow)> {
        if self.in_exception {
            return Err(self.err(at, K::UnsupportedException { context: "the exception object" }));
        }
        self.enter(at)?;
        self.table.clear();
        self.in_exception = true;
        self.seg(Seg::Exception);
        let (v, _) = self.value("the exception object")?;
        self.unseg();
        self.in_exception = false;
        self.table.clear();
        self.leave();
        Ok((Value::Exception(Box::new(v)), Flow::Aborted))
    }
}
