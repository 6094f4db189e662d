//! The flat form of a parsed stream, and [`Stream`], which holds either it or a [`Tree`].
//!
//! Spec: the same grammar as [`crate::model`] (JOSS ch. 6.4.1), laid out the way the stream
//! itself is: a [`Flat`] is a tape of fixed-size [`Token`]s in stream order, one per grammar
//! element that carries something of its own (a tag, a length, a handle, a range of bytes), plus
//! tables of items (handle order), class descriptors and their fields. Strings, block data,
//! primitive field values and primitive array elements are ranges of one shared copy of the
//! input. A parse makes a handful of allocations whatever the number of objects, and writing
//! walks the tape once, writing tags, lengths and handles from the tokens and the data from the
//! ranges.
//!
//! [`Stream`] dereferences to the [`Tree`] model (built from the tape on first use and kept),
//! so code that walks `contents` and `items` works on either; mutating a stream turns it into
//! its tree. [`crate::tape`] reads the tape itself (values, fields, block data, extraction)
//! without building the tree.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

use crate::constants::*;
use crate::error::WriteError;
use crate::model::*;
use crate::mutf8::Mutf8;

/// What a [`Token`] stands for; what follows it on the tape is given per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// `TC_NULL`.
    Null,
    /// `TC_REFERENCE`: `a` is the item referred to.
    Ref,
    /// `TC_RESET` (top level): `a` is the number of items assigned before it.
    Reset,
    /// `TC_BLOCKDATA` (`flag` 0) or `TC_BLOCKDATALONG` (`flag` 1): bytes `a..a + b`.
    Block,
    /// `TC_STRING` (`flag` 0) or `TC_LONGSTRING` (`flag` 1): item `c`, text bytes `a..a + b`.
    String,
    /// `TC_CLASSDESC`: item `c`, descriptor `a` of [`Flat::desc`]. Followed by the type string
    /// (a `String` or `Ref`) of each object field in field order, the class annotation
    /// contents, `End`, and the superclass (`Null`, `Ref` or a descriptor).
    ClassDesc,
    /// `TC_PROXYCLASSDESC`: item `c`, descriptor `a`, `b` interfaces. Followed by `b`
    /// `Interface` tokens, the class annotation contents, `End` and the superclass.
    ProxyDesc,
    /// A proxy interface name: bytes `a..a + b`.
    Interface,
    /// `TC_ENDBLOCKDATA`.
    End,
    /// `TC_OBJECT`: item `c`. Followed by its class descriptor (unless [`REF_DESC`]), then per
    /// class of the chain
    /// (superclass first): the primitive field values, the object field values, and the
    /// `objectAnnotation` contents and `End` if the class has `SC_WRITE_METHOD`; for an
    /// externalizable class the contents and `End` instead. The primitive values of classes
    /// with nothing written between them are one `Prims` token.
    Object,
    /// `TC_ARRAY`: item `c`, length `a`, component type code `code`. Followed by its class
    /// descriptor and `ArrayLength` (unless [`REF_DESC`]), then `Prims` (primitive components)
    /// or the element values.
    Array,
    /// The length of the array before it: `a`.
    ArrayLength,
    /// Primitive values as written (big-endian): bytes `a..a + b`.
    Prims,
    /// `TC_ENUM`: item `c`. Followed by its class descriptor (unless [`REF_DESC`]) and the name
    /// (`String`).
    Enum,
    /// `TC_CLASS`: item `c`. Followed by its class descriptor (unless [`REF_DESC`]).
    Class,
    /// `TC_EXCEPTION`: `a` items assigned before it. Followed by the exception object and
    /// `ExceptionEnd`.
    Exception,
    /// The end of the exception object (nothing is written): `a` items assigned before it.
    ExceptionEnd,
    /// An item still being read (only in [`ItemRec`] during a parse).
    Pending,
}

impl Kind {
    /// Whether a token of this kind is a new item (a value with a handle; `c` is its number).
    pub fn is_new_item(self) -> bool {
        matches!(
            self,
            Kind::String | Kind::ClassDesc | Kind::ProxyDesc | Kind::Object | Kind::Array | Kind::Enum | Kind::Class
        )
    }
}

/// In the `flag` of an `Object`, `Array`, `Enum` or `Class` token: its class descriptor is a
/// reference to item `b` (the common case), written by this token rather than one of its own.
pub const REF_DESC: u8 = 1;

/// One element of the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub flag: u8,
    /// The component type code of an `Array`.
    pub code: u8,
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

impl Token {
    #[inline]
    pub(crate) fn new(kind: Kind, flag: u8, a: u32, b: u32, c: u32) -> Self {
        Token { kind, flag, code: 0, a, b, c }
    }
}

/// An item: its kind, its token, the token after everything it holds, and for a class
/// descriptor its index in [`Flat::desc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRec {
    pub kind: Kind,
    pub tok: u32,
    pub end: u32,
    pub desc: u32,
}

/// No item (a null superclass).
pub(crate) const NONE: u32 = u32::MAX;

/// A class descriptor. Names are ranges of [`Flat::input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescRec {
    /// The item.
    pub item: u32,
    pub name_at: u32,
    pub name_len: u32,
    pub uid: i64,
    pub flags: u8,
    pub proxy: bool,
    /// The superclass descriptor's item, or `u32::MAX`.
    pub super_item: u32,
    /// Fields `fields_at..fields_at + field_count` of [`Flat::fields`].
    pub fields_at: u32,
    pub field_count: u32,
    /// The first `prim_count` fields are primitive.
    pub prim_count: u32,
    /// Bytes of the primitive field values of one object.
    pub prim_bytes: u32,
    /// When no class of the chain (this one and its superclasses) has object fields or
    /// `SC_WRITE_METHOD`: the bytes of the primitive values of all of them, which an object
    /// holds as one `Prims` token. Otherwise `u32::MAX`.
    pub chain_prim_bytes: u32,
}

impl DescRec {
    pub fn has_write_method(&self) -> bool {
        self.flags & SC_WRITE_METHOD != 0
    }

    pub fn is_externalizable(&self) -> bool {
        self.flags & SC_EXTERNALIZABLE != 0
    }
}

/// A field of a class descriptor: type code, name (a range of [`Flat::input`]), and for a
/// primitive field its offset in the class's `Prims`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRec {
    pub code: u8,
    pub name_at: u32,
    pub name_len: u32,
    pub offset: u32,
}

/// A parsed stream as a tape of tokens; see the module docs.
#[derive(Clone)]
pub struct Flat {
    /// A copy of the stream.
    pub(crate) input: Vec<u8>,
    pub(crate) tokens: Vec<Token>,
    pub(crate) items: Vec<ItemRec>,
    pub(crate) descs: Vec<DescRec>,
    pub(crate) fields: Vec<FieldRec>,
}

/// The buffers of a [`Flat`]. When a tape is dropped they are kept for the next parse on the
/// thread (unless they grew large), so that parsing stream after stream allocates little: no
/// large block is given back to the allocator and asked for again each time, which can cost a
/// page fault per 4 KiB.
#[derive(Default)]
pub(crate) struct Buffers {
    pub input: Vec<u8>,
    pub tokens: Vec<Token>,
    pub items: Vec<ItemRec>,
    pub descs: Vec<DescRec>,
    pub fields: Vec<FieldRec>,
}

/// Buffers up to this many bytes each are kept for the next parse.
const KEEP_BYTES: usize = 1 << 20;

thread_local! {
    /// Trees built from tapes on this thread ([`crate::fuzzing::trees_built`]).
    pub(crate) static TREES_BUILT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static BUFFERS: std::cell::Cell<Option<Buffers>> = const { std::cell::Cell::new(None) };
}

impl Buffers {
    /// This thread's kept buffers (empty), or new ones.
    pub(crate) fn take() -> Buffers {
        BUFFERS.try_with(|b| b.take()).ok().flatten().unwrap_or_default()
    }

    /// Keeps the buffers for the next [`Buffers::take`] on this thread, if they are not large.
    pub(crate) fn keep(mut self) {
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        let largest =
            [bytes(&self.input), bytes(&self.tokens), bytes(&self.items), bytes(&self.descs), bytes(&self.fields)]
                .into_iter()
                .max()
                .unwrap_or(0);
        if largest <= KEEP_BYTES {
            self.input.clear();
            self.tokens.clear();
            self.items.clear();
            self.descs.clear();
            self.fields.clear();
            let _ = BUFFERS.try_with(|b| b.set(Some(self)));
        }
    }
}

impl Drop for Flat {
    fn drop(&mut self) {
        Buffers {
            input: std::mem::take(&mut self.input),
            tokens: std::mem::take(&mut self.tokens),
            items: std::mem::take(&mut self.items),
            descs: std::mem::take(&mut self.descs),
            fields: std::mem::take(&mut self.fields),
        }
        .keep();
    }
}

impl Flat {
    /// The stream the tape was read from; every range of the tape is into it.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Every item, in handle-assignment order.
    pub fn items(&self) -> &[ItemRec] {
        &self.items
    }

    pub fn item(&self, id: ItemId) -> Option<&ItemRec> {
        self.items.get(id.index())
    }

    pub fn descs(&self) -> &[DescRec] {
        &self.descs
    }

    /// The class descriptor of an item, if it is one.
    pub fn desc(&self, id: ItemId) -> Option<&DescRec> {
        let rec = self.item(id)?;
        matches!(rec.kind, Kind::ClassDesc | Kind::ProxyDesc).then(|| &self.descs[rec.desc as usize])
    }

    pub fn fields(&self, d: &DescRec) -> &[FieldRec] {
        &self.fields[d.fields_at as usize..(d.fields_at + d.field_count) as usize]
    }

    /// Bytes `at..at + len` of the input.
    pub fn bytes(&self, at: u32, len: u32) -> &[u8] {
        &self.input[at as usize..at as usize + len as usize]
    }

    /// The bytes of a `Block`, `String`, `Interface` or `Prims` token.
    pub fn token_bytes(&self, t: &Token) -> &[u8] {
        self.bytes(t.a, t.b)
    }

    /// The token after the element starting at token `i` and everything it holds.
    pub fn skip(&self, i: usize) -> usize {
        let t = self.tokens[i];
        match t.kind {
            Kind::ClassDesc | Kind::ProxyDesc | Kind::Object | Kind::Array | Kind::Enum | Kind::Class => {
                self.items[t.c as usize].end as usize
            }
            Kind::Exception => self.skip(i + 1) + 1,
            _ => i + 1,
        }
    }

    /// The tokens starting each top-level content.
    pub fn top_level(&self) -> impl Iterator<Item = usize> + '_ {
        let mut i = 0;
        std::iter::from_fn(move || {
            (i < self.tokens.len()).then(|| {
                let at = i;
                i = self.skip(i);
                at
            })
        })
    }

    /// The stream's bytes, header first, appended to `out`: one pass over the tape.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.input.len());
        out.extend_from_slice(&STREAM_HEADER);
        // Handles count from the first item after the last reset.
        let mut base = 0u32;
        let toks = &self.tokens[..];
        let mut i = 0;
        while i < toks.len() {
            let t = toks[i];
            i += 1;
            match t.kind {
                Kind::Null => out.push(TC_NULL),
                Kind::Ref => reference(out, t.a - base),
                Kind::String => string(out, &self.input, &t),
                Kind::Object => {
                    out.push(TC_OBJECT);
                    if t.flag & REF_DESC != 0 {
                        reference(out, t.b - base);
                    }
                }
                Kind::Prims => out.extend_from_slice(self.token_bytes(&t)),
                Kind::ClassDesc => {
                    let d = &self.descs[t.a as usize];
                    out.push(TC_CLASSDESC);
                    out.extend_from_slice(&(d.name_len as u16).to_be_bytes());
                    out.extend_from_slice(self.bytes(d.name_at, d.name_len));
                    out.extend_from_slice(&d.uid.to_be_bytes());
                    out.push(d.flags);
                    out.extend_from_slice(&(d.field_count as u16).to_be_bytes());
                    for f in self.fields(d) {
                        out.push(f.code);
                        out.extend_from_slice(&(f.name_len as u16).to_be_bytes());
                        out.extend_from_slice(self.bytes(f.name_at, f.name_len));
                        if prim_size(f.code).is_none() {
                            // The type string, next on the tape.
                            let ts = toks[i];
                            i += 1;
                            match ts.kind {
                                Kind::Ref => reference(out, ts.a - base),
                                _ => string(out, &self.input, &ts),
                            }
                        }
                    }
                }
                Kind::End => out.push(TC_ENDBLOCKDATA),
                Kind::Block => {
                    if t.flag != 0 {
                        out.push(TC_BLOCKDATALONG);
                        out.extend_from_slice(&t.b.to_be_bytes());
                    } else {
                        out.extend_from_slice(&[TC_BLOCKDATA, t.b as u8]);
                    }
                    out.extend_from_slice(self.token_bytes(&t));
                }
                Kind::Array => {
                    out.push(TC_ARRAY);
                    if t.flag & REF_DESC != 0 {
                        reference(out, t.b - base);
                        out.extend_from_slice(&t.a.to_be_bytes());
                    }
                }
                Kind::ArrayLength => out.extend_from_slice(&t.a.to_be_bytes()),
                Kind::Enum | Kind::Class => {
                    out.push(if t.kind == Kind::Enum { TC_ENUM } else { TC_CLASS });
                    if t.flag & REF_DESC != 0 {
                        reference(out, t.b - base);
                    }
                }
                Kind::ProxyDesc => {
                    out.push(TC_PROXYCLASSDESC);
                    out.extend_from_slice(&t.b.to_be_bytes());
                }
                Kind::Interface => {
                    out.extend_from_slice(&(t.b as u16).to_be_bytes());
                    out.extend_from_slice(self.token_bytes(&t));
                }
                Kind::Reset => {
                    out.push(TC_RESET);
                    base = t.a;
                }
                Kind::Exception => {
                    out.push(TC_EXCEPTION);
                    base = t.a;
                }
                Kind::ExceptionEnd => base = t.a,
                Kind::Pending => unreachable!("a parsed tape holds no pending items"),
            }
        }
    }

    /// The [`Tree`] model of the same stream.
    pub fn to_tree(&self) -> Tree {
        let _ = TREES_BUILT.try_with(|n| n.set(n.get() + 1));
        let shared: Arc<[u8]> = Arc::from(&self.input[..]);
        let mut items = Vec::new();
        items.resize_with(self.items.len(), || None);
        let mut b = Builder { f: self, shared, items, chain: Vec::new(), depth: 0, pos: 0, flow: Flow::Done };
        let mut contents = Vec::with_capacity(self.top_level().count());
        crate::grow_stack_entry(|| {
            while b.pos < self.tokens.len() {
                b.content(&mut contents);
            }
        });
        // Every item is on the tape, so each was built (in place: same size and alignment).
        let items = b.items.into_iter().map(|i| i.expect("every item is built")).collect();
        Tree { contents, items }
    }
}

#[inline(always)]
fn reference(out: &mut Vec<u8>, h: u32) {
    out.push(TC_REFERENCE);
    out.extend_from_slice(&(BASE_WIRE_HANDLE + h).to_be_bytes());
}

#[inline(always)]
/// A String token as the stream has it: TC_STRING or TC_LONGSTRING, length, modified UTF-8.
pub(crate) fn string(out: &mut Vec<u8>, input: &[u8], t: &Token) {
    if t.flag != 0 {
        out.push(TC_LONGSTRING);
        out.extend_from_slice(&u64::from(t.b).to_be_bytes());
    } else {
        out.push(TC_STRING);
        out.extend_from_slice(&(t.b as u16).to_be_bytes());
    }
    out.extend_from_slice(&input[t.a as usize..t.a as usize + t.b as usize]);
}

/// Whether the writer aborted inside what was just built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Done,
    Aborted,
}

/// Builds the [`Tree`] from the tape (which the parser made, so its structure holds).
struct Builder<'f> {
    f: &'f Flat,
    /// The strings of the tree share this copy of the stream.
    shared: Arc<[u8]>,
    /// Items in handle order, each built once.
    items: Vec<Option<Item>>,
    /// Class chains of the objects being built, innermost last.
    chain: Vec<u32>,
    depth: usize,
    /// The next token.
    pos: usize,
    /// Whether the writer aborted inside the value built last.
    flow: Flow,
}

impl Builder<'_> {
    fn text(&self, at: u32, len: u32) -> Mutf8 {
        Mutf8::shared(&self.shared, at as usize, len as usize)
    }

    fn next(&mut self) -> Token {
        let t = self.f.tokens[self.pos];
        self.pos += 1;
        t
    }

    /// One content, appended to `out`; [`Builder::flow`] says whether it aborted.
    #[inline]
    fn content(&mut self, out: &mut Vec<Content>) {
        let t = self.f.tokens[self.pos];
        match t.kind {
            Kind::Block => {
                self.pos += 1;
                let bytes = self.f.token_bytes(&t).to_vec();
                out.push(Content::Block(BlockData { bytes, long: t.flag != 0 }));
                self.flow = Flow::Done;
            }
            Kind::Reset => {
                self.pos += 1;
                out.push(Content::Reset);
                self.flow = Flow::Done;
            }
            _ => {
                let v = self.value();
                out.push(Content::Value(v));
            }
        }
    }

    /// Contents up to `End`, or up to one that aborted.
    fn annotation(&mut self) -> Vec<Content> {
        let mut contents = Vec::new();
        loop {
            if self.f.tokens[self.pos].kind == Kind::End {
                self.pos += 1;
                self.flow = Flow::Done;
                return contents;
            }
            self.content(&mut contents);
            if self.flow == Flow::Aborted {
                return contents;
            }
        }
    }

    /// One value; [`Builder::flow`] says whether it aborted.
    fn value(&mut self) -> Value {
        self.depth += 1;
        let v = crate::grow_stack_at(self.depth, || self.value_inner());
        self.depth -= 1;
        v
    }

    /// A value that cannot abort (a class descriptor or a string).
    fn plain(&mut self) -> Value {
        let v = self.value();
        self.flow = Flow::Done;
        v
    }

    fn value_inner(&mut self) -> Value {
        let f = self.f;
        let t = self.next();
        let id = t.c as usize;
        self.flow = Flow::Done;
        match t.kind {
            Kind::Null => Value::Null,
            Kind::Ref => Value::Ref(ItemId(t.a)),
            Kind::String => {
                self.items[id] = Some(Item::String(JString { text: self.text(t.a, t.b), long: t.flag != 0 }));
                Value::New(ItemId(t.c))
            }
            Kind::ClassDesc | Kind::ProxyDesc => {
                let d = f.descs[t.a as usize];
                let kind = if t.kind == Kind::ClassDesc {
                    let mut fields = Vec::with_capacity(d.field_count as usize);
                    for fr in f.fields(&d) {
                        let class_name = prim_size(fr.code).is_none().then(|| self.plain());
                        fields.push(FieldDesc {
                            type_code: fr.code,
                            name: self.text(fr.name_at, fr.name_len),
                            class_name,
                        });
                    }
                    DescKind::Class { name: self.text(d.name_at, d.name_len), uid: d.uid, flags: d.flags, fields }
                } else {
                    let interfaces = (0..t.b)
                        .map(|_| {
                            let it = self.next();
                            self.text(it.a, it.b)
                        })
                        .collect();
                    DescKind::Proxy { interfaces }
                };
                let annotation = self.annotation();
                let super_class = self.plain();
                self.items[id] = Some(Item::ClassDesc(ClassDesc { kind, annotation, super_class }));
                Value::New(ItemId(t.c))
            }
            Kind::Object => {
                let class = self.class_of(&t);
                let data = self.object_data(&class);
                self.items[id] = Some(Item::Object(Object { class, data }));
                Value::New(ItemId(t.c))
            }
            Kind::Array => {
                let class = self.class_of(&t);
                if t.flag & REF_DESC == 0 {
                    self.pos += 1; // ArrayLength
                }
                let length = t.a as i32;
                let elements = match prim_size(t.code) {
                    Some(_) => {
                        let raw = self.next();
                        prim_elements(t.code, f.token_bytes(&raw))
                    }
                    None => {
                        let mut values = Vec::with_capacity(length as usize);
                        for _ in 0..length {
                            values.push(self.value());
                            if self.flow == Flow::Aborted {
                                break;
                            }
                        }
                        Elements::Object(values)
                    }
                };
                let flow = self.flow;
                self.items[id] = Some(Item::Array(Array { class, length, elements }));
                self.flow = flow;
                Value::New(ItemId(t.c))
            }
            Kind::Enum => {
                let class = self.class_of(&t);
                let name = self.plain();
                self.items[id] = Some(Item::Enum(EnumConst { class, name }));
                Value::New(ItemId(t.c))
            }
            Kind::Class => {
                let class = self.class_of(&t);
                self.items[id] = Some(Item::Class(ClassObj { class }));
                Value::New(ItemId(t.c))
            }
            Kind::Exception => {
                let v = self.value();
                self.pos += 1; // ExceptionEnd
                self.flow = Flow::Aborted;
                Value::Exception(Box::new(v))
            }
            Kind::Block
            | Kind::Reset
            | Kind::Interface
            | Kind::End
            | Kind::ArrayLength
            | Kind::Prims
            | Kind::ExceptionEnd
            | Kind::Pending => unreachable!("the parser puts no {:?} in a value position", t.kind),
        }
    }

    /// The class descriptor of the `Object`, `Array`, `Enum` or `Class` token `t` just taken.
    fn class_of(&mut self, t: &Token) -> Value {
        if t.flag & REF_DESC != 0 {
            return Value::Ref(ItemId(t.b));
        }
        self.plain()
    }

    /// The class data of an object of `class`; [`Builder::flow`] says whether it aborted.
    fn object_data(&mut self, class: &Value) -> ObjectData {
        let f = self.f;
        let desc = class.item().and_then(|id| f.desc(id)).expect("objects have a class descriptor");
        if desc.is_externalizable() {
            return ObjectData::External(self.annotation());
        }
        let base = self.chain.len();
        let mut cur = desc.item;
        while cur != NONE {
            let d = f.desc(ItemId(cur)).expect("superclasses are descriptors");
            self.chain.push(f.items[cur as usize].desc);
            cur = d.super_item;
        }
        self.chain[base..].reverse();
        let top = self.chain.len();
        let mut levels = Vec::with_capacity(top - base);
        self.flow = Flow::Done;
        // What is left of the current `Prims` token.
        let mut run: &[u8] = &[];
        'levels: for k in base..top {
            let d = f.descs[self.chain[k] as usize];
            let fields = f.fields(&d);
            let mut values = Vec::with_capacity(fields.len());
            if d.prim_bytes > 0 {
                if run.is_empty() {
                    run = f.token_bytes(&f.tokens[self.pos]);
                    self.pos += 1;
                }
                let (raw, rest) = run.split_at(d.prim_bytes as usize);
                run = rest;
                for fr in &fields[..d.prim_count as usize] {
                    values.push(FieldValue::Prim(prim_at(fr.code, &raw[fr.offset as usize..])));
                }
            }
            for _ in d.prim_count..d.field_count {
                values.push(FieldValue::Object(self.value()));
                if self.flow == Flow::Aborted {
                    levels.push(ClassData { values, annotation: None });
                    break 'levels;
                }
            }
            let annotation = if d.has_write_method() {
                let contents = self.annotation();
                if self.flow == Flow::Aborted {
                    levels.push(ClassData { values, annotation: Some(contents) });
                    break 'levels;
                }
                Some(contents)
            } else {
                None
            };
            levels.push(ClassData { values, annotation });
        }
        self.chain.truncate(base);
        ObjectData::Serial(levels)
    }
}

/// The value of type `code` at the start of `b` (which holds it).
pub(crate) fn prim_at(code: u8, b: &[u8]) -> Prim {
    let n = |k: usize| -> [u8; 8] {
        let mut a = [0u8; 8];
        a[8 - k..].copy_from_slice(&b[..k]);
        a
    };
    let v = |k: usize| u64::from_be_bytes(n(k));
    match code {
        b'B' => Prim::Byte(b[0] as i8),
        b'C' => Prim::Char(v(2) as u16),
        b'D' => Prim::Double(f64::from_bits(v(8))),
        b'F' => Prim::Float(f32::from_bits(v(4) as u32)),
        b'I' => Prim::Int(v(4) as u32 as i32),
        b'J' => Prim::Long(v(8) as i64),
        b'S' => Prim::Short(v(2) as u16 as i16),
        _ => Prim::Boolean(b[0]),
    }
}

fn prim_elements(code: u8, raw: &[u8]) -> Elements {
    match code {
        b'B' => Elements::Byte(raw.to_vec()),
        b'Z' => Elements::Boolean(raw.to_vec()),
        b'C' => Elements::Char(raw.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()),
        b'S' => Elements::Short(raw.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect()),
        b'I' => Elements::Int(raw.chunks_exact(4).map(|c| i32::from_be_bytes(c.try_into().expect("4"))).collect()),
        b'F' => Elements::Float(
            raw.chunks_exact(4).map(|c| f32::from_bits(u32::from_be_bytes(c.try_into().expect("4")))).collect(),
        ),
        b'J' => Elements::Long(raw.chunks_exact(8).map(|c| i64::from_be_bytes(c.try_into().expect("8"))).collect()),
        _ => Elements::Double(
            raw.chunks_exact(8).map(|c| f64::from_bits(u64::from_be_bytes(c.try_into().expect("8")))).collect(),
        ),
    }
}

/// A stream: what [`crate::parse()`] returns (the [`Flat`] tape) or a [`Tree`] built by hand.
///
/// It dereferences to the [`Tree`] model (for a parsed stream, built from the tape at the first
/// use and kept), so `contents`, `items` and the model's accessors work on either; mutating it
/// makes the tree the stream. [`Stream::write`] writes from the tape while there is one.
#[derive(Clone)]
pub struct Stream {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Flat { flat: Flat, tree: OnceLock<Tree> },
    Tree(Tree),
}

impl Stream {
    /// A stream with no contents.
    pub fn new() -> Self {
        Stream::default()
    }

    pub(crate) fn from_flat(flat: Flat) -> Self {
        Stream { repr: Repr::Flat { flat, tree: OnceLock::new() } }
    }

    /// The tape, for a parsed stream not changed since.
    pub fn flat(&self) -> Option<&Flat> {
        match &self.repr {
            Repr::Flat { flat, .. } => Some(flat),
            Repr::Tree(_) => None,
        }
    }

    /// The tree model (what `*stream` gives).
    pub fn tree(&self) -> &Tree {
        self
    }

    /// The tree model, owned.
    pub fn into_tree(self) -> Tree {
        match self.repr {
            Repr::Tree(t) => t,
            Repr::Flat { flat, mut tree } => tree.take().unwrap_or_else(|| flat.to_tree()),
        }
    }

    /// The stream's bytes. A stream parsed by [`crate::parse()`] writes exactly the bytes it was
    /// parsed from.
    pub fn write(&self) -> Result<Vec<u8>, WriteError> {
        match &self.repr {
            Repr::Flat { flat, .. } => {
                let mut out = Vec::new();
                flat.write_to(&mut out);
                Ok(out)
            }
            Repr::Tree(t) => t.write(),
        }
    }

    /// Appends the stream's bytes to `out`, header first.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        match &self.repr {
            Repr::Flat { flat, .. } => {
                flat.write_to(out);
                Ok(())
            }
            Repr::Tree(t) => t.write_to(out),
        }
    }
}

impl Default for Stream {
    fn default() -> Self {
        Stream { repr: Repr::Tree(Tree::default()) }
    }
}

impl From<Tree> for Stream {
    fn from(t: Tree) -> Self {
        Stream { repr: Repr::Tree(t) }
    }
}

impl Deref for Stream {
    type Target = Tree;

    fn deref(&self) -> &Tree {
        match &self.repr {
            Repr::Tree(t) => t,
            Repr::Flat { flat, tree } => tree.get_or_init(|| flat.to_tree()),
        }
    }
}

impl DerefMut for Stream {
    fn deref_mut(&mut self) -> &mut Tree {
        if let Repr::Flat { flat, tree } = &mut self.repr {
            let t = tree.take().unwrap_or_else(|| flat.to_tree());
            self.repr = Repr::Tree(t);
        }
        match &mut self.repr {
            Repr::Tree(t) => t,
            Repr::Flat { .. } => unreachable!("made a tree above"),
        }
    }
}

impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}
impl Eq for Stream {}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
