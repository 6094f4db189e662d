//! Reading a parsed stream straight from its [`Flat`] tape, without building the [`Tree`]:
//! values ([`TapeValue`]: class name, string text, field lookup, `byte[]` contents), block data
//! as one byte stream ([`TapeReader`], the tape's [`crate::DataReader`]), and one value copied
//! out as a standalone stream ([`Extractor`], the tape's [`crate::extract`]).
//!
//! Spec: the same as the tree accessors: JOSS ch. 6.4.1 (`classdata` per class of the chain,
//! superclass first; `objectAnnotation`; `externalContents`), ch. 6.2 (block data as one byte
//! stream, `ObjectInputStream.BlockDataInputStream`), ch. 6.4.1 `prevObject`/`newHandle` (a
//! copy renumbers handles and writes inline what the value refers to). Every answer here equals
//! the one the [`Tree`] built from the same tape gives (`Tree::field`, `Tree::class_name_of`,
//! [`crate::DataReader`], [`crate::extract_model`]); the fuzz entry checks that.
//!
//! [`Tree`]: crate::Tree

use crate::constants::*;
use crate::data::DataError;
use crate::error::{SpliceError, WriteError};
use crate::flat::{DescRec, Flat, ItemRec, Kind, Token, NONE, REF_DESC};
use crate::model::{prim_size, ItemId, Prim};
use crate::mutf8::{self, Mutf8};

/// A value of a parsed stream: the token at [`TapeValue::at`] of the tape, in a value position
/// (`TC_NULL`, a reference, an item written in full, or `TC_EXCEPTION`).
#[derive(Clone, Copy)]
pub struct TapeValue<'f> {
    flat: &'f Flat,
    at: u32,
}

impl std::fmt::Debug for TapeValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TapeValue({:?} at {})", self.token().kind, self.at)
    }
}

impl PartialEq for TapeValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.flat, other.flat) && self.at == other.at
    }
}
impl Eq for TapeValue<'_> {}

/// A field value read from the tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeField<'f> {
    Prim(Prim),
    Object(TapeValue<'f>),
}

impl<'f> TapeField<'f> {
    pub fn as_prim(&self) -> Option<Prim> {
        match self {
            TapeField::Prim(p) => Some(*p),
            TapeField::Object(_) => None,
        }
    }

    pub fn as_value(&self) -> Option<TapeValue<'f>> {
        match self {
            TapeField::Object(v) => Some(*v),
            TapeField::Prim(_) => None,
        }
    }

    pub fn as_i32(&self) -> Option<i32> {
        match self {
            TapeField::Prim(Prim::Int(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            TapeField::Prim(Prim::Long(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            TapeField::Prim(Prim::Boolean(v)) => Some(*v != 0),
            _ => None,
        }
    }
}

/// Whether a descriptor name is `class`, given in full, without its package, or without its
/// enclosing classes (as `Tree::field` matches).
fn class_matches(name: &[u8], class: &str) -> bool {
    let name = mutf8::lossy(name);
    name == class || name.strip_suffix(class).is_some_and(|p| p.ends_with(['.', '$']))
}

impl Flat {
    /// The value whose token is `at` (a value position: see [`Flat::top_level`],
    /// [`TapeReader::read_value`], [`TapeValue::field`]).
    pub fn value(&self, at: usize) -> TapeValue<'_> {
        TapeValue { flat: self, at: at as u32 }
    }

    /// The top-level values (not block data, not resets), in order: `Tree::values`.
    pub fn values(&self) -> impl Iterator<Item = TapeValue<'_>> + '_ {
        self.top_level().filter(|&i| !matches!(self.tokens[i].kind, Kind::Block | Kind::Reset)).map(|i| self.value(i))
    }

    /// Whether the stream holds a `TC_EXCEPTION` anywhere.
    pub fn has_exception(&self) -> bool {
        self.tokens.iter().any(|t| t.kind == Kind::Exception)
    }

    /// The class descriptor item of an object, array, enum constant or class item, or the item
    /// itself for a descriptor.
    fn desc_item(&self, id: u32) -> Option<u32> {
        let rec = self.items.get(id as usize)?;
        match rec.kind {
            Kind::ClassDesc | Kind::ProxyDesc => Some(id),
            Kind::Object | Kind::Array | Kind::Enum | Kind::Class => {
                let t = self.tokens[rec.tok as usize];
                if t.flag & REF_DESC != 0 {
                    return Some(t.b);
                }
                let d = self.tokens.get(rec.tok as usize + 1)?;
                match d.kind {
                    Kind::Ref => Some(d.a),
                    Kind::ClassDesc | Kind::ProxyDesc => Some(d.c),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The name of a (non-proxy) descriptor, as raw modified UTF-8.
    pub fn desc_name(&self, d: &DescRec) -> &[u8] {
        self.bytes(d.name_at, d.name_len)
    }

    /// The interface names of a proxy descriptor, as raw modified UTF-8.
    pub fn proxy_interfaces(&self, d: &DescRec) -> impl Iterator<Item = &[u8]> + '_ {
        let tok = self.items[d.item as usize].tok as usize;
        let n = if d.proxy { self.tokens[tok].b as usize } else { 0 };
        self.tokens[tok + 1..tok + 1 + n].iter().map(|t| self.token_bytes(t))
    }

    /// The token after the element at `i`, and whether the writer aborted inside it (an aborted
    /// item's tokens end with the exception's `ExceptionEnd`: nothing else follows one inside an
    /// item).
    fn skip_flow(&self, i: usize) -> (usize, bool) {
        let next = self.skip(i);
        (next, self.tokens[next - 1].kind == Kind::ExceptionEnd)
    }

    /// Skips annotation contents up to and including `End`: the next token, and whether it
    /// aborted (then nothing of the object follows).
    fn skip_annotation(&self, mut i: usize) -> (usize, bool) {
        loop {
            match self.tokens.get(i).map(|t| t.kind) {
                None => return (i, true),
                Some(Kind::End) => return (i + 1, false),
                Some(Kind::Block) => i += 1,
                Some(_) => {
                    let (next, aborted) = self.skip_flow(i);
                    if aborted {
                        return (next, true);
                    }
                    i = next;
                }
            }
        }
    }
}

impl<'f> TapeValue<'f> {
    /// The index of its token.
    pub fn at(&self) -> usize {
        self.at as usize
    }

    /// The tape it is on.
    pub fn flat(&self) -> &'f Flat {
        self.flat
    }

    pub fn token(&self) -> Token {
        self.flat.tokens[self.at as usize]
    }

    pub fn is_null(&self) -> bool {
        self.token().kind == Kind::Null
    }

    /// `TC_EXCEPTION`: the writer failed here.
    pub fn is_exception(&self) -> bool {
        self.token().kind == Kind::Exception
    }

    /// A reference to an item written before (rather than the item written here).
    pub fn is_ref(&self) -> bool {
        self.token().kind == Kind::Ref
    }

    /// The item this value writes or refers to.
    pub fn item(&self) -> Option<ItemId> {
        let t = self.token();
        match t.kind {
            Kind::Ref => Some(ItemId(t.a)),
            k if k.is_new_item() => Some(ItemId(t.c)),
            _ => None,
        }
    }

    fn rec(&self) -> Option<(u32, &'f ItemRec)> {
        let id = self.item()?.0;
        Some((id, self.flat.items.get(id as usize)?))
    }

    /// The raw modified UTF-8 of a string value.
    pub fn string_bytes(&self) -> Option<&'f [u8]> {
        let (_, rec) = self.rec()?;
        (rec.kind == Kind::String).then(|| self.flat.token_bytes(&self.flat.tokens[rec.tok as usize]))
    }

    /// The text of a string value (`Tree::string`).
    pub fn string(&self) -> Option<String> {
        self.string_bytes().map(mutf8::lossy)
    }

    /// The text of a string value as [`Mutf8`].
    pub fn mutf8(&self) -> Option<Mutf8> {
        self.string_bytes().map(|b| Mutf8::from_bytes(b.to_vec()).expect("the parser validated the string"))
    }

    /// The descriptor of an object, array, enum constant or class value, or the descriptor a
    /// descriptor value is (`Tree::class_of`).
    pub fn class_desc(&self) -> Option<&'f DescRec> {
        let (id, _) = self.rec()?;
        let d = self.flat.desc_item(id)?;
        self.flat.desc(ItemId(d))
    }

    /// `java.lang.String` for strings, the descriptor's name for objects, arrays, enum
    /// constants, classes and descriptors; `None` for null, exceptions and proxies
    /// (`Tree::class_name_of`).
    pub fn class_name(&self) -> Option<String> {
        let (_, rec) = self.rec()?;
        if rec.kind == Kind::String {
            return Some("java.lang.String".into());
        }
        let d = self.class_desc()?;
        (!d.proxy).then(|| mutf8::lossy(self.flat.desc_name(d)))
    }

    /// Whether the class name is exactly `class` (no allocation for ASCII names).
    pub fn class_is(&self, class: &str) -> bool {
        match self.rec() {
            Some((_, rec)) if rec.kind == Kind::String => class == "java.lang.String",
            Some(_) => match self.class_desc() {
                Some(d) if !d.proxy => {
                    let name = self.flat.desc_name(d);
                    if class.bytes().all(|b| b != 0 && b < 0x80) {
                        name == class.as_bytes()
                    } else {
                        mutf8::lossy(name) == class
                    }
                }
                _ => false,
            },
            None => false,
        }
    }

    /// The bytes of a `byte[]` value.
    pub fn byte_array(&self) -> Option<&'f [u8]> {
        let (_, rec) = self.rec()?;
        let t = self.flat.tokens[rec.tok as usize];
        if rec.kind != Kind::Array || t.code != b'B' {
            return None;
        }
        let mut i = rec.tok as usize + 1;
        if t.flag & REF_DESC == 0 {
            i = self.flat.skip(i) + 1; // the descriptor, then `ArrayLength`
        }
        let p = self.flat.tokens.get(i).filter(|p| p.kind == Kind::Prims && i < rec.end as usize)?;
        Some(self.flat.token_bytes(p))
    }

    /// A field of an object by name, searching from the most derived class up; with a class
    /// name (`com.x.Cls.field` or `Cls.field`) only that class (`Tree::field`). `None` for a
    /// field the writer never reached (it aborted before).
    pub fn field(&self, name: &str) -> Option<TapeField<'f>> {
        let f = self.flat;
        let (id, rec) = self.rec()?;
        if rec.kind != Kind::Object {
            return None;
        }
        let desc_item = f.desc_item(id)?;
        let desc = f.desc(ItemId(desc_item))?;
        if desc.is_externalizable() {
            return None;
        }
        let (class, field) = match name.rsplit_once('.') {
            Some((c, f)) => (Some(c), f),
            None => (None, name),
        };
        // The chain, most derived first (bounded: a chain has at most one level per descriptor).
        let mut chain: Vec<&DescRec> = Vec::with_capacity(4);
        let mut cur = desc_item;
        while cur != NONE && chain.len() <= f.descs.len() {
            let Some(d) = f.desc(ItemId(cur)) else { break };
            chain.push(d);
            cur = d.super_item;
        }
        let levels = chain.len();
        let (level, j) = chain.iter().enumerate().find_map(|(k, d)| {
            if let Some(c) = class {
                if d.proxy || !class_matches(f.desc_name(d), c) {
                    return None;
                }
            }
            let j = f.fields(d).iter().position(|fr| mutf8_eq(f.bytes(fr.name_at, fr.name_len), field))?;
            Some((levels - 1 - k, j))
        })?;
        // Walk the class data, superclass first, up to that level.
        let t = f.tokens[rec.tok as usize];
        let mut pos = if t.flag & REF_DESC != 0 { rec.tok as usize + 1 } else { f.skip(rec.tok as usize + 1) };
        let mut run: &[u8] = &[];
        for (k, d) in chain.iter().rev().enumerate() {
            let mut raw: &[u8] = &[];
            if d.prim_bytes > 0 {
                if run.is_empty() {
                    let p = f.tokens.get(pos).filter(|p| p.kind == Kind::Prims && pos < rec.end as usize)?;
                    run = f.token_bytes(p);
                    pos += 1;
                }
                let (r, rest) = run.split_at_checked(d.prim_bytes as usize)?;
                (raw, run) = (r, rest);
            }
            let fields = f.fields(d);
            if k == level && j < d.prim_count as usize {
                let fr = fields[j];
                return Some(TapeField::Prim(crate::flat::prim_at(fr.code, raw.get(fr.offset as usize..)?)));
            }
            for jj in d.prim_count as usize..fields.len() {
                if pos >= rec.end as usize {
                    return None;
                }
                if k == level && jj == j {
                    return Some(TapeField::Object(f.value(pos)));
                }
                let (next, aborted) = f.skip_flow(pos);
                if aborted {
                    return None;
                }
                pos = next;
            }
            if d.has_write_method() {
                let (next, aborted) = f.skip_annotation(pos);
                if aborted {
                    return None;
                }
                pos = next;
            }
        }
        None
    }
}

/// Whether raw modified UTF-8 is the text `s`.
fn mutf8_eq(raw: &[u8], s: &str) -> bool {
    if s.bytes().all(|b| b != 0 && b < 0x80) {
        return raw == s.as_bytes();
    }
    raw == Mutf8::encode(s).as_bytes()
}

/// A cursor over the top-level contents of a tape, as [`crate::DataReader`] reads
/// `Tree::contents`: consecutive block-data segments as one byte stream (resets between them
/// skipped), values one at a time. Error indexes count top-level contents.
#[derive(Clone)]
pub struct TapeReader<'f> {
    flat: &'f Flat,
    /// The token of the current content.
    pos: usize,
    /// Index of the current content.
    index: usize,
    /// Bytes read of the current block.
    offset: usize,
}

impl std::fmt::Debug for TapeReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapeReader")
            .field("pos", &self.pos)
            .field("index", &self.index)
            .field("offset", &self.offset)
            .finish()
    }
}

impl<'f> TapeReader<'f> {
    pub fn new(flat: &'f Flat) -> Self {
        TapeReader { flat, pos: 0, index: 0, offset: 0 }
    }

    /// Index of the content the cursor is in.
    pub fn index(&self) -> usize {
        self.index
    }

    fn advance(&mut self) {
        self.pos = self.flat.skip(self.pos);
        self.index += 1;
        self.offset = 0;
    }

    /// Moves past exhausted segments and resets; stops at data or a value.
    fn settle(&mut self) {
        while let Some(t) = self.flat.tokens.get(self.pos) {
            match t.kind {
                Kind::Block if self.offset < t.b as usize => return,
                Kind::Block | Kind::Reset => self.advance(),
                _ => return,
            }
        }
    }

    /// Primitive bytes left before the next value or the end.
    pub fn remaining_data(&self) -> usize {
        let mut n = 0;
        let mut offset = self.offset;
        let mut i = self.pos;
        while let Some(t) = self.flat.tokens.get(i) {
            match t.kind {
                Kind::Block => n += t.b as usize - offset.min(t.b as usize),
                Kind::Reset => {}
                _ => break,
            }
            offset = 0;
            i += 1;
        }
        n
    }

    /// Nothing left at all.
    pub fn at_end(&mut self) -> bool {
        self.settle();
        self.pos >= self.flat.tokens.len()
    }

    /// `readFully`.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), DataError> {
        // The common case: the current segment holds it all.
        if let Some(t) = self.flat.tokens.get(self.pos) {
            if t.kind == Kind::Block && self.offset + buf.len() <= t.b as usize {
                let at = t.a as usize + self.offset;
                buf.copy_from_slice(&self.flat.input[at..at + buf.len()]);
                self.offset += buf.len();
                return Ok(());
            }
        }
        let wanted = buf.len();
        let remaining = self.remaining_data();
        if remaining < wanted {
            self.settle();
            return Err(DataError::EndOfData { wanted: wanted - remaining, index: self.index });
        }
        let mut filled = 0;
        while filled < wanted {
            self.settle();
            let t = self.flat.tokens[self.pos];
            let n = (t.b as usize - self.offset).min(wanted - filled);
            let at = t.a as usize + self.offset;
            buf[filled..filled + n].copy_from_slice(&self.flat.input[at..at + n]);
            filled += n;
            self.offset += n;
        }
        Ok(())
    }

    /// `readObject`: the next value, which must come before any unread primitive data.
    pub fn read_value(&mut self) -> Result<TapeValue<'f>, DataError> {
        let remaining = self.remaining_data();
        if remaining > 0 {
            self.settle();
            return Err(DataError::PendingData { remaining, index: self.index });
        }
        self.settle();
        match self.flat.tokens.get(self.pos) {
            Some(_) => {
                let v = self.flat.value(self.pos);
                self.advance();
                Ok(v)
            }
            None => Err(DataError::NoValue),
        }
    }
}

crate::data::primitive_reads!(TapeReader<'_>);

type S<T> = Result<T, SpliceError>;

/// Copies values of one tape out as standalone streams (`AC ED 00 05` and the value), as
/// [`crate::extract_model`] and writing the model would: items the value refers to that were
/// written before it are written in full where the copy first uses them, handles renumbered
/// from `0x7E0000`. Reuse one extractor for many values of the same tape: its handle map is
/// allocated once.
pub struct Extractor<'f> {
    f: &'f Flat,
    /// The handle of each source item in the copy (`NONE`: not copied yet).
    map: Vec<u32>,
    /// Items mapped by the current copy, to clear afterwards.
    touched: Vec<u32>,
    next: u32,
    depth: usize,
    max_depth: usize,
    /// Class chains of the objects being copied, innermost last.
    chain: Vec<u32>,
    out: Vec<u8>,
}

impl<'f> Extractor<'f> {
    pub fn new(flat: &'f Flat) -> Self {
        Extractor {
            f: flat,
            map: Vec::new(),
            touched: Vec::new(),
            next: 0,
            depth: 0,
            max_depth: 0,
            chain: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The value at `v` as a standalone stream. Fails with [`SpliceError::Exception`] when it
    /// reaches a `TC_EXCEPTION`, [`SpliceError::TooDeep`] past `max_depth` levels (counted as
    /// the reader does, inline copies included).
    pub fn extract(&mut self, v: TapeValue<'_>, max_depth: usize) -> S<Vec<u8>> {
        if self.map.len() != self.f.items.len() {
            self.map = vec![NONE; self.f.items.len()];
        }
        self.next = 0;
        self.depth = 0;
        self.max_depth = max_depth;
        self.chain.clear();
        self.out = Vec::with_capacity(64);
        self.out.extend_from_slice(&STREAM_HEADER);
        let result = crate::grow_stack_entry(|| self.value(v.at()));
        for id in self.touched.drain(..) {
            self.map[id as usize] = NONE;
        }
        result?;
        Ok(std::mem::take(&mut self.out))
    }

    fn reference(&mut self, h: u32) {
        self.out.push(TC_REFERENCE);
        self.out.extend_from_slice(&(BASE_WIRE_HANDLE + h).to_be_bytes());
    }

    /// The next handle of the copy goes to source item `id`.
    fn assign(&mut self, id: u32) {
        self.map[id as usize] = self.next;
        self.touched.push(id);
        self.next += 1;
    }

    fn string(&mut self, t: &Token) {
        crate::flat::string(&mut self.out, &self.f.input, t);
    }

    /// The value at token `i`; returns the token after it.
    fn value(&mut self, i: usize) -> S<usize> {
        let f = self.f;
        let t = f.tokens[i];
        match t.kind {
            Kind::Null => {
                self.out.push(TC_NULL);
                Ok(i + 1)
            }
            Kind::Ref => {
                self.item_or_ref(t.a)?;
                Ok(i + 1)
            }
            k if k.is_new_item() => {
                self.item_or_ref(t.c)?;
                Ok(f.skip(i))
            }
            Kind::Exception => Err(SpliceError::Exception),
            Kind::Reset => Err(SpliceError::Write(WriteError::Misplaced("TC_RESET inside an object"))),
            _ => Err(SpliceError::Write(WriteError::Mismatch(format!("{:?} in a value position", t.kind)))),
        }
    }

    fn item_or_ref(&mut self, id: u32) -> S<()> {
        match self.map.get(id as usize) {
            None => Err(SpliceError::NoSuchItem(id)),
            Some(&h) if h != NONE => {
                self.reference(h);
                Ok(())
            }
            Some(_) => {
                self.depth += 1;
                let r = crate::grow_stack_at(self.depth, || self.item(id));
                self.depth -= 1;
                r
            }
        }
    }

    /// Contents up to `End` (written too); returns the token after it.
    fn contents(&mut self, mut i: usize) -> S<usize> {
        let f = self.f;
        loop {
            let t = f.tokens[i];
            match t.kind {
                Kind::End => {
                    self.out.push(TC_ENDBLOCKDATA);
                    return Ok(i + 1);
                }
                Kind::Block => {
                    if t.flag != 0 {
                        self.out.push(TC_BLOCKDATALONG);
                        self.out.extend_from_slice(&t.b.to_be_bytes());
                    } else {
                        self.out.extend_from_slice(&[TC_BLOCKDATA, t.b as u8]);
                    }
                    self.out.extend_from_slice(f.token_bytes(&t));
                    i += 1;
                }
                _ => i = self.value(i)?,
            }
        }
    }

    /// The class descriptor of the `Object`, `Array`, `Enum` or `Class` token at `tok`;
    /// returns the token after it.
    fn class_of(&mut self, tok: usize) -> S<usize> {
        let t = self.f.tokens[tok];
        if t.flag & REF_DESC != 0 {
            self.item_or_ref(t.b)?;
            return Ok(tok + 1);
        }
        self.value(tok + 1)
    }

    /// Source item `id` written in full.
    fn item(&mut self, id: u32) -> S<()> {
        let f = self.f;
        let rec = f.items[id as usize];
        // Depth counts as in the reader: every level but strings.
        if rec.kind == Kind::String {
            self.depth -= 1;
        } else if self.depth > self.max_depth {
            return Err(SpliceError::TooDeep(self.max_depth));
        }
        let r = self.item_inner(id, rec);
        if rec.kind == Kind::String {
            self.depth += 1;
        }
        r
    }

    fn item_inner(&mut self, id: u32, rec: ItemRec) -> S<()> {
        let f = self.f;
        let tok = rec.tok as usize;
        let t = f.tokens[tok];
        match rec.kind {
            Kind::String => {
                self.assign(id);
                self.string(&t);
            }
            Kind::ClassDesc => {
                let d = f.descs[t.a as usize];
                self.out.push(TC_CLASSDESC);
                self.out.extend_from_slice(&(d.name_len as u16).to_be_bytes());
                self.out.extend_from_slice(f.desc_name(&d));
                self.out.extend_from_slice(&d.uid.to_be_bytes());
                self.assign(id);
                self.out.push(d.flags);
                self.out.extend_from_slice(&(d.field_count as u16).to_be_bytes());
                let mut i = tok + 1;
                for fr in f.fields(&d) {
                    self.out.push(fr.code);
                    self.out.extend_from_slice(&(fr.name_len as u16).to_be_bytes());
                    self.out.extend_from_slice(f.bytes(fr.name_at, fr.name_len));
                    if prim_size(fr.code).is_none() {
                        i = self.value(i)?;
                    }
                }
                let i = self.contents(i)?;
                self.value(i)?;
            }
            Kind::ProxyDesc => {
                self.out.push(TC_PROXYCLASSDESC);
                self.assign(id);
                self.out.extend_from_slice(&t.b.to_be_bytes());
                let mut i = tok + 1;
                for _ in 0..t.b {
                    let it = f.tokens[i];
                    self.out.extend_from_slice(&(it.b as u16).to_be_bytes());
                    self.out.extend_from_slice(f.token_bytes(&it));
                    i += 1;
                }
                let i = self.contents(i)?;
                self.value(i)?;
            }
            Kind::Object => {
                self.out.push(TC_OBJECT);
                let i = self.class_of(tok)?;
                self.assign(id);
                self.object_data(id, i)?;
            }
            Kind::Array => {
                self.out.push(TC_ARRAY);
                let mut i = self.class_of(tok)?;
                self.assign(id);
                self.out.extend_from_slice(&t.a.to_be_bytes());
                if t.flag & REF_DESC == 0 {
                    i += 1; // ArrayLength
                }
                if prim_size(t.code).is_some() {
                    self.out.extend_from_slice(f.token_bytes(&f.tokens[i]));
                } else {
                    for _ in 0..t.a {
                        i = self.value(i)?;
                    }
                }
            }
            Kind::Enum => {
                self.out.push(TC_ENUM);
                let i = self.class_of(tok)?;
                self.assign(id);
                let name = f.tokens[i];
                let copied = name.kind == Kind::String && self.map.get(name.c as usize).is_some_and(|&h| h != NONE);
                if copied {
                    // The copy already wrote this string (the value referred to it before
                    // reaching the enum): the grammar wants a new string, so write it anew.
                    self.next += 1;
                    self.string(&name);
                } else {
                    self.value(i)?;
                }
            }
            Kind::Class => {
                self.out.push(TC_CLASS);
                self.class_of(tok)?;
                self.assign(id);
            }
            _ => return Err(SpliceError::NoSuchItem(id)),
        }
        Ok(())
    }

    /// The class data of object `id`, starting at token `i`.
    fn object_data(&mut self, id: u32, mut i: usize) -> S<()> {
        let f = self.f;
        let desc_item = f.desc_item(id).ok_or(SpliceError::NoSuchItem(id))?;
        let desc = *f.desc(ItemId(desc_item)).ok_or(SpliceError::NoSuchItem(desc_item))?;
        if desc.is_externalizable() {
            self.contents(i)?;
            return Ok(());
        }
        let base = self.chain.len();
        let mut cur = desc_item;
        while cur != NONE {
            let d = f.desc(ItemId(cur)).ok_or(SpliceError::NoSuchItem(cur))?;
            self.chain.push(f.items[cur as usize].desc);
            cur = d.super_item;
        }
        self.chain[base..].reverse();
        let top = self.chain.len();
        // Bytes left of the current `Prims` token (written whole when taken).
        let mut run = 0u32;
        let mut result = Ok(());
        for k in base..top {
            let d = f.descs[self.chain[k] as usize];
            if d.prim_bytes > 0 {
                if run == 0 {
                    let p = f.tokens[i];
                    self.out.extend_from_slice(f.token_bytes(&p));
                    run = p.b;
                    i += 1;
                }
                run = run.saturating_sub(d.prim_bytes);
            }
            for _ in d.prim_count..d.field_count {
                match self.value(i) {
                    Ok(next) => i = next,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            if result.is_ok() && d.has_write_method() {
                match self.contents(i) {
                    Ok(next) => i = next,
                    Err(e) => result = Err(e),
                }
            }
            if result.is_err() {
                break;
            }
        }
        self.chain.truncate(base);
        result
    }
}
