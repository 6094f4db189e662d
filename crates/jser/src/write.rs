//! The writer: [`Stream`] to bytes, and [`ObjectWriter`], which builds a stream the way
//! `java.io.ObjectOutputStream` does (primitive data buffered into block-data segments of up to
//! 1024 bytes, values from models, standalone value streams spliced in).
//!
//! Spec: Java Object Serialization Specification, ch. 6.4.1 (the same grammar rules as
//! [`mod@crate::parse`]) and ch. 6.2 "Stream Elements"; segmenting as in
//! `ObjectOutputStream.BlockDataOutputStream` (`MAX_BLOCK_SIZE` 1024, flushed before every
//! object, at `flush`, `reset` and the end). Handles are assigned while writing, in the order of
//! the grammar's `newHandle`, so a model parsed from bytes writes those bytes again.

use crate::constants::*;
use crate::error::{SpliceError, WriteError};
use crate::filter::{Limits, ParseOptions};
use crate::model::*;
use crate::mutf8::Mutf8;
use crate::parse::parse_with;

/// Whether the writer stopped at a `TC_EXCEPTION` inside what it just wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Done,
    Aborted,
}

/// Errors are boxed inside the writer: a small `Result` moves much faster through the many
/// calls per item than the 40-byte [`WriteError`].
type W<T> = Result<T, Box<WriteError>>;

/// Writes the items of one [`Stream`], assigning handles from `base`.
pub(crate) struct Emitter<'s, 'o> {
    s: &'s Stream,
    out: &'o mut Vec<u8>,
    base: u32,
    /// Handles assigned since the last reset (relative to `base`).
    pub(crate) assigned: u32,
    /// Per item: (epoch in which it was written, its handle); epoch 0 = not written.
    slots: Vec<(u32, u32)>,
    epoch: u32,
    depth: usize,
    max_depth: usize,
    /// Class descriptor chains of the objects being written, innermost last (one stack for the
    /// nested `object` calls instead of an allocation per object).
    chains: Vec<ItemId>,
}

/// The emitter's working buffers (item slots, class chains), kept per thread between writes.
type Scratch = (Vec<(u32, u32)>, Vec<ItemId>);

/// Slot tables up to this many items are kept for the next write.
const SCRATCH_KEEP: usize = 1 << 16;

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

impl Drop for Emitter<'_, '_> {
    fn drop(&mut self) {
        if self.slots.capacity() <= SCRATCH_KEEP {
            let mut chains = std::mem::take(&mut self.chains);
            chains.clear();
            let scratch = (std::mem::take(&mut self.slots), chains);
            let _ = SCRATCH.try_with(|c| c.set(scratch));
        }
    }
}

impl<'s, 'o> Emitter<'s, 'o> {
    pub(crate) fn new(s: &'s Stream, out: &'o mut Vec<u8>, base: u32, max_depth: usize) -> Self {
        let (mut slots, chains) = SCRATCH.try_with(|c| c.take()).unwrap_or_default();
        slots.clear();
        slots.resize(s.items.len(), (0, 0));
        Emitter { s, out, base, assigned: 0, slots, epoch: 1, depth: 0, max_depth, chains }
    }

    fn reset(&mut self) {
        self.epoch += 1;
        self.assigned = 0;
    }

    fn item(&self, id: ItemId) -> W<&'s Item> {
        self.s.items.get(id.index()).ok_or_else(|| Box::new(WriteError::NoSuchItem(id.0)))
    }

    fn assign(&mut self, id: ItemId) {
        self.slots[id.index()] = (self.epoch, self.assigned);
        self.assigned += 1;
    }

    fn enter(&mut self) -> W<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(Box::new(WriteError::TooDeep(self.max_depth)));
        }
        Ok(())
    }

    fn utf(&mut self, what: &'static str, m: &Mutf8) -> W<()> {
        let len = u16::try_from(m.len()).map_err(|_| WriteError::Utf8TooLong { what, len: m.len() })?;
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out.extend_from_slice(m.as_bytes());
        Ok(())
    }

    pub(crate) fn content(&mut self, c: &Content, top: bool) -> W<Flow> {
        match c {
            Content::Block(b) => {
                if b.long {
                    let len = i32::try_from(b.bytes.len())
                        .map_err(|_| WriteError::Mismatch(format!("block of {} bytes", b.bytes.len())))?;
                    self.out.push(TC_BLOCKDATALONG);
                    self.out.extend_from_slice(&len.to_be_bytes());
                } else {
                    let len = u8::try_from(b.bytes.len()).map_err(|_| {
                        WriteError::Mismatch(format!("TC_BLOCKDATA of {} bytes (max 255)", b.bytes.len()))
                    })?;
                    self.out.extend_from_slice(&[TC_BLOCKDATA, len]);
                }
                self.out.extend_from_slice(&b.bytes);
                Ok(Flow::Done)
            }
            Content::Reset if top => {
                self.out.push(TC_RESET);
                self.reset();
                Ok(Flow::Done)
            }
            Content::Reset => Err(Box::new(WriteError::Misplaced("TC_RESET inside an object"))),
            Content::Value(v) => self.value(v),
        }
    }

    /// Contents then `TC_ENDBLOCKDATA`, unless the writer aborted inside.
    fn annotation(&mut self, contents: &[Content], exceptions: bool) -> W<Flow> {
        for (i, c) in contents.iter().enumerate() {
            if self.content(c, false)? == Flow::Aborted {
                if !exceptions {
                    return Err(Box::new(WriteError::Misplaced("TC_EXCEPTION in a class annotation")));
                }
                if i + 1 != contents.len() {
                    return Err(Box::new(WriteError::AfterException));
                }
                return Ok(Flow::Aborted);
            }
        }
        self.out.push(TC_ENDBLOCKDATA);
        Ok(Flow::Done)
    }

    fn reference(&mut self, id: ItemId) -> W<()> {
        self.item(id)?;
        let (epoch, handle) = self.slots[id.index()];
        if epoch != self.epoch {
            return Err(Box::new(WriteError::DanglingRef(id.0)));
        }
        self.out.push(TC_REFERENCE);
        self.out.extend_from_slice(&(BASE_WIRE_HANDLE + self.base + handle).to_be_bytes());
        Ok(())
    }

    pub(crate) fn value(&mut self, v: &Value) -> W<Flow> {
        crate::grow_stack_at(self.depth, || self.value_inner(v))
    }

    fn value_inner(&mut self, v: &Value) -> W<Flow> {
        match v {
            Value::Null => {
                self.out.push(TC_NULL);
                Ok(Flow::Done)
            }
            Value::Ref(id) => {
                self.reference(*id)?;
                Ok(Flow::Done)
            }
            Value::New(id) => self.new_item(*id),
            Value::Exception(inner) => {
                if matches!(**inner, Value::Exception(_)) {
                    return Err(Box::new(WriteError::Misplaced("TC_EXCEPTION inside an exception")));
                }
                self.enter()?;
                self.out.push(TC_EXCEPTION);
                self.reset();
                self.value(inner)?;
                self.reset();
                self.depth -= 1;
                Ok(Flow::Aborted)
            }
        }
    }

    fn new_item(&mut self, id: ItemId) -> W<Flow> {
        let item = self.item(id)?;
        if self.slots[id.index()].0 != 0 {
            return Err(Box::new(WriteError::DuplicateNew(id.0)));
        }
        if let Item::String(s) = item {
            self.string(id, s)?;
            return Ok(Flow::Done);
        }
        self.enter()?;
        let flow = match item {
            Item::String(_) => unreachable!("handled above"),
            Item::ClassDesc(d) => {
                self.class_desc(id, d)?;
                Flow::Done
            }
            Item::Object(o) => self.object(id, o)?,
            Item::Array(a) => self.array(id, a)?,
            Item::Enum(e) => {
                self.out.push(TC_ENUM);
                self.required_desc(&e.class)?;
                self.assign(id);
                match e.name {
                    Value::New(name) => match self.item(name)? {
                        Item::String(s) => self.string(name, s)?,
                        other => {
                            return Err(Box::new(WriteError::WrongKind {
                                item: name.0,
                                expected: "a string",
                                found: other.kind(),
                            }))
                        }
                    },
                    _ => {
                        return Err(Box::new(WriteError::Mismatch("an enum constant name must be a new string".into())))
                    }
                }
                Flow::Done
            }
            Item::Class(c) => {
                self.out.push(TC_CLASS);
                self.required_desc(&c.class)?;
                self.assign(id);
                Flow::Done
            }
        };
        self.depth -= 1;
        Ok(flow)
    }

    fn string(&mut self, id: ItemId, s: &JString) -> W<()> {
        if s.long {
            self.out.push(TC_LONGSTRING);
            self.out.extend_from_slice(&(s.text.len() as u64).to_be_bytes());
            self.out.extend_from_slice(s.text.as_bytes());
        } else {
            self.out.push(TC_STRING);
            self.utf("TC_STRING", &s.text)?;
        }
        self.assign(id);
        Ok(())
    }

    /// A `classDesc` position: null, a reference to a descriptor, or a new descriptor.
    fn desc_value(&mut self, v: &Value) -> W<Option<ItemId>> {
        let id = match v {
            Value::Null => {
                self.out.push(TC_NULL);
                return Ok(None);
            }
            Value::Exception(_) => return Err(Box::new(WriteError::Misplaced("TC_EXCEPTION as a class descriptor"))),
            Value::New(id) | Value::Ref(id) => *id,
        };
        let item = self.item(id)?;
        if !matches!(item, Item::ClassDesc(_)) {
            return Err(Box::new(WriteError::WrongKind {
                item: id.0,
                expected: "a class descriptor",
                found: item.kind(),
            }));
        }
        match v {
            Value::Ref(_) => self.reference(id)?,
            _ => {
                crate::grow_stack_at(self.depth, || self.new_item(id))?;
            }
        }
        Ok(Some(id))
    }

    fn required_desc(&mut self, v: &Value) -> W<&'s ClassDesc> {
        match self.desc_value(v)? {
            Some(id) => match self.item(id)? {
                Item::ClassDesc(d) => Ok(d),
                _ => unreachable!("desc_value checked the kind"),
            },
            None => {
                Err(Box::new(WriteError::Mismatch("an object, array, enum or class needs a class descriptor".into())))
            }
        }
    }

    fn class_desc(&mut self, id: ItemId, d: &ClassDesc) -> W<()> {
        match &d.kind {
            DescKind::Class { name, uid, flags, fields } => {
                self.out.push(TC_CLASSDESC);
                self.utf("class name", name)?;
                self.out.extend_from_slice(&uid.to_be_bytes());
                self.assign(id);
                self.out.push(*flags);
                let count = u16::try_from(fields.len())
                    .ok()
                    .filter(|c| *c < 0x8000)
                    .ok_or_else(|| WriteError::Mismatch(format!("{} fields", fields.len())))?;
                self.out.extend_from_slice(&count.to_be_bytes());
                let mut seen_object = false;
                for f in fields {
                    if !is_type_code(f.type_code) {
                        return Err(Box::new(WriteError::Mismatch(format!("field type code 0x{:02x}", f.type_code))));
                    }
                    let primitive = f.is_primitive();
                    if primitive && seen_object {
                        return Err(Box::new(WriteError::Mismatch(format!(
                            "class {name}: primitive field after an object field"
                        ))));
                    }
                    seen_object |= !primitive;
                    self.out.push(f.type_code);
                    self.utf("field name", &f.name)?;
                    match (&f.class_name, primitive) {
                        (None, true) => {}
                        (Some(v @ (Value::New(s) | Value::Ref(s))), false) => {
                            let item = self.item(*s)?;
                            if !matches!(item, Item::String(_)) {
                                return Err(Box::new(WriteError::WrongKind {
                                    item: s.0,
                                    expected: "a string",
                                    found: item.kind(),
                                }));
                            }
                            self.value(v)?;
                        }
                        _ => {
                            return Err(Box::new(WriteError::Mismatch(format!(
                                "field {name}.{}: object fields need a type string, primitive fields none",
                                f.name
                            ))))
                        }
                    }
                }
            }
            DescKind::Proxy { interfaces } => {
                self.out.push(TC_PROXYCLASSDESC);
                self.assign(id);
                let count = i32::try_from(interfaces.len())
                    .ok()
                    .filter(|c| *c <= 0xFFFF)
                    .ok_or_else(|| WriteError::Mismatch(format!("{} proxy interfaces", interfaces.len())))?;
                self.out.extend_from_slice(&count.to_be_bytes());
                for i in interfaces {
                    self.utf("proxy interface name", i)?;
                }
            }
        }
        self.annotation(&d.annotation, false)?;
        self.desc_value(&d.super_class)?;
        Ok(())
    }

    fn object(&mut self, id: ItemId, o: &Object) -> W<Flow> {
        self.out.push(TC_OBJECT);
        let desc = self.required_desc(&o.class)?;
        let desc_id = o.class.item().expect("required_desc accepted it");
        self.assign(id);
        let name = || desc.name().map(Mutf8::to_string_lossy).unwrap_or_else(|| "(proxy)".into());
        if desc.is_externalizable() {
            if desc.flags() & SC_BLOCK_DATA == 0 {
                return Err(Box::new(WriteError::Mismatch(format!(
                    "externalizable class {} without SC_BLOCK_DATA",
                    name()
                ))));
            }
            let ObjectData::External(contents) = &o.data else {
                return Err(Box::new(WriteError::Mismatch(format!(
                    "class {} is externalizable but has class data",
                    name()
                ))));
            };
            return self.annotation(contents, true);
        }
        let ObjectData::Serial(levels) = &o.data else {
            return Err(Box::new(WriteError::Mismatch(format!(
                "class {} is not externalizable but has external data",
                name()
            ))));
        };
        let base = self.chains.len();
        self.s.push_class_chain(desc_id, &mut self.chains);
        let chain_len = self.chains.len() - base;
        if levels.len() > chain_len {
            return Err(Box::new(WriteError::Mismatch(format!("class {}: more class data than classes", name()))));
        }
        for i in 0..chain_len {
            let level = self.chains[base + i];
            let Item::ClassDesc(ld) = self.item(level)? else { unreachable!("class_chain holds descriptors") };
            let lname = || ld.name().map(Mutf8::to_string_lossy).unwrap_or_else(|| "(proxy)".into());
            let Some(cd) = levels.get(i) else {
                return Err(Box::new(WriteError::Mismatch(format!("class {}: no class data for {}", name(), lname()))));
            };
            let last = i + 1 == levels.len();
            let fields = ld.fields();
            if cd.values.len() > fields.len() {
                return Err(Box::new(WriteError::Mismatch(format!("class {}: more values than fields", lname()))));
            }
            for (j, f) in fields.iter().enumerate() {
                let Some(v) = cd.values.get(j) else {
                    return Err(Box::new(WriteError::Mismatch(format!(
                        "class {}: no value for field {}",
                        lname(),
                        f.name
                    ))));
                };
                match v {
                    FieldValue::Prim(p) if p.type_code() == f.type_code => p.write_to(self.out),
                    FieldValue::Object(v) if !f.is_primitive() => {
                        if self.value(v)? == Flow::Aborted {
                            if j + 1 != cd.values.len() || cd.annotation.is_some() || !last {
                                return Err(Box::new(WriteError::AfterException));
                            }
                            self.chains.truncate(base);
                            return Ok(Flow::Aborted);
                        }
                    }
                    _ => {
                        return Err(Box::new(WriteError::Mismatch(format!(
                            "class {}: value of field {} does not match type code {}",
                            lname(),
                            f.name,
                            f.type_code as char
                        ))))
                    }
                }
            }
            match (&cd.annotation, ld.has_write_method()) {
                (Some(contents), true) => {
                    if self.annotation(contents, true)? == Flow::Aborted {
                        if !last {
                            return Err(Box::new(WriteError::AfterException));
                        }
                        self.chains.truncate(base);
                        return Ok(Flow::Aborted);
                    }
                }
                (None, false) => {}
                _ => {
                    return Err(Box::new(WriteError::Mismatch(format!(
                        "class {}: writeObject data present iff SC_WRITE_METHOD",
                        lname()
                    ))))
                }
            }
        }
        self.chains.truncate(base);
        Ok(Flow::Done)
    }

    fn array(&mut self, id: ItemId, a: &Array) -> W<Flow> {
        self.out.push(TC_ARRAY);
        let desc = self.required_desc(&a.class)?;
        let name = desc.name().map(Mutf8::as_bytes).unwrap_or_default();
        if name.first() != Some(&b'[') {
            return Err(Box::new(WriteError::Mismatch(format!(
                "array of non-array class {:?}",
                String::from_utf8_lossy(name)
            ))));
        }
        let code = match name.get(1).copied() {
            Some(c) if prim_size(c).is_some() => c,
            _ => b'L',
        };
        if code != a.elements.type_code() {
            return Err(Box::new(WriteError::Mismatch(format!(
                "array class {} with elements of type {}",
                String::from_utf8_lossy(name),
                a.elements.type_code() as char
            ))));
        }
        self.assign(id);
        self.out.extend_from_slice(&a.length.to_be_bytes());
        let out = &mut *self.out;
        match &a.elements {
            Elements::Byte(v) | Elements::Boolean(v) => out.extend_from_slice(v),
            Elements::Char(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            Elements::Short(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            Elements::Int(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            Elements::Long(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            Elements::Float(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_be_bytes())),
            Elements::Double(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_be_bytes())),
            Elements::Object(values) => {
                for (i, v) in values.iter().enumerate() {
                    if self.value(v)? == Flow::Aborted {
                        if i + 1 != values.len() || values.len() > a.length as usize {
                            return Err(Box::new(WriteError::AfterException));
                        }
                        return Ok(Flow::Aborted);
                    }
                }
            }
        }
        if a.elements.len() != a.length as usize || a.length < 0 {
            return Err(Box::new(WriteError::Mismatch(format!(
                "array length {} with {} elements",
                a.length,
                a.elements.len()
            ))));
        }
        Ok(Flow::Done)
    }
}

impl Stream {
    /// The stream's bytes. A stream parsed by [`crate::parse()`] writes exactly the bytes it was
    /// parsed from.
    pub fn write(&self) -> Result<Vec<u8>, WriteError> {
        // Items average about 24 bytes on the wire in session streams; reserving a little more up
        // front avoids regrowing.
        let mut out = Vec::with_capacity(256 + self.items.len() * 32);
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Appends the stream's bytes to `out`, header first.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        out.extend_from_slice(&STREAM_HEADER);
        let mut e = Emitter::new(self, out, 0, Limits::default().max_depth);
        crate::grow_stack_entry(|| self.contents.iter().try_for_each(|c| e.content(c, true).map(|_| ())))
            .map_err(|e| *e)
    }
}

/// Builds a stream as `java.io.ObjectOutputStream` does: the header at once, primitive data
/// buffered and written as block-data segments of at most 1024 bytes (flushed before every
/// value, at [`ObjectWriter::flush`], [`ObjectWriter::reset`] and [`ObjectWriter::finish`]),
/// values taken from models or from standalone value streams, with handles numbered on from
/// those already assigned. The bytes equal Java's for the same calls.
#[derive(Debug, Clone)]
pub struct ObjectWriter {
    out: Vec<u8>,
    block: Vec<u8>,
    handles: u32,
    max_depth: usize,
}

impl Default for ObjectWriter {
    fn default() -> Self {
        ObjectWriter::new()
    }
}

impl ObjectWriter {
    /// `new ObjectOutputStream(out)`: writes the header.
    pub fn new() -> Self {
        ObjectWriter {
            out: STREAM_HEADER.to_vec(),
            block: Vec::new(),
            handles: 0,
            max_depth: Limits::default().max_depth,
        }
    }

    /// Handles assigned since the stream start or the last reset: what the next item gets,
    /// relative to `0x7E0000`.
    pub fn handles(&self) -> u32 {
        self.handles
    }

    /// Drains buffered primitive data as one block-data segment (`BlockDataOutputStream.drain`).
    pub fn flush(&mut self) {
        if self.block.is_empty() {
            return;
        }
        if self.block.len() <= 0xFF {
            self.out.extend_from_slice(&[TC_BLOCKDATA, self.block.len() as u8]);
        } else {
            self.out.push(TC_BLOCKDATALONG);
            self.out.extend_from_slice(&(self.block.len() as i32).to_be_bytes());
        }
        self.out.append(&mut self.block);
    }

    /// Primitive data (`write(byte[])`): buffered, a segment emitted whenever 1024 bytes are
    /// held and more follow.
    pub fn write_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.block.len() >= MAX_BLOCK_SIZE {
                self.flush();
            }
            let n = bytes.len().min(MAX_BLOCK_SIZE - self.block.len());
            self.block.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }

    pub fn write_u8(&mut self, v: u8) {
        self.write_bytes(&[v]);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.write_bytes(&[u8::from(v)]);
    }

    pub fn write_i16(&mut self, v: i16) {
        self.write_bytes(&v.to_be_bytes());
    }

    /// `writeChar`.
    pub fn write_char(&mut self, v: u16) {
        self.write_bytes(&v.to_be_bytes());
    }

    pub fn write_i32(&mut self, v: i32) {
        self.write_bytes(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.write_bytes(&v.to_be_bytes());
    }

    pub fn write_f32(&mut self, v: f32) {
        self.write_bytes(&v.to_bits().to_be_bytes());
    }

    pub fn write_f64(&mut self, v: f64) {
        self.write_bytes(&v.to_bits().to_be_bytes());
    }

    /// `writeUTF`: u16 length and modified UTF-8, as primitive data. Over 65535 encoded bytes
    /// is an error, as in Java.
    pub fn write_utf(&mut self, s: &str) -> Result<(), WriteError> {
        self.write_mutf8(&Mutf8::encode(s))
    }

    /// `writeUTF` of text already in modified UTF-8.
    pub fn write_mutf8(&mut self, m: &Mutf8) -> Result<(), WriteError> {
        let len = u16::try_from(m.len()).map_err(|_| WriteError::Utf8TooLong { what: "writeUTF", len: m.len() })?;
        self.write_bytes(&len.to_be_bytes());
        self.write_bytes(m.as_bytes());
        Ok(())
    }

    /// `writeObject(null)`.
    pub fn write_null(&mut self) {
        self.flush();
        self.out.push(TC_NULL);
    }

    /// `writeObject(String)` of a new string (`TC_STRING`, or `TC_LONGSTRING` over 65535 bytes).
    pub fn write_string(&mut self, s: &str) {
        let mut model = Stream::new();
        let id = model.push(Item::String(JString::new(s)));
        self.write_value(&model, &Value::New(id)).expect("a lone string always writes");
    }

    /// `reset()`: drains, writes `TC_RESET`, and numbers handles from `0x7E0000` again.
    pub fn reset(&mut self) {
        self.flush();
        self.out.push(TC_RESET);
        self.handles = 0;
    }

    /// Writes one value of `stream` as a new object graph: every item it reaches is written in
    /// full on first use (also items that `stream` wrote before `value`, such as shared class
    /// descriptors), later uses become references, and handles continue from
    /// [`ObjectWriter::handles`]. Values containing `TC_EXCEPTION` cannot be written.
    pub fn write_value(&mut self, stream: &Stream, value: &Value) -> Result<(), SpliceError> {
        let standalone = crate::splice::extract_model(stream, value, self.max_depth)?;
        let v = standalone.contents.first().and_then(|c| match c {
            Content::Value(v) => Some(v),
            _ => None,
        });
        self.emit(&standalone, v.expect("extract_model makes one value"))
    }

    /// Splices in a standalone value stream (what a fresh `ObjectOutputStream` writes for one
    /// `writeObject`: header and one value): its bytes after the header, with every
    /// `TC_REFERENCE` moved up by the handles already assigned here. Parsed with the default
    /// limits and no class filter; see [`ObjectWriter::embed_with`].
    pub fn embed(&mut self, standalone: &[u8]) -> Result<(), SpliceError> {
        self.embed_with(standalone, &ParseOptions::default())
    }

    /// [`ObjectWriter::embed`] with limits and a class filter for the embedded stream.
    pub fn embed_with(&mut self, standalone: &[u8], opts: &ParseOptions) -> Result<(), SpliceError> {
        let s = parse_with(standalone, opts)?;
        let value = match s.contents.as_slice() {
            [Content::Value(v)] => v,
            other => {
                return Err(SpliceError::NotOneValue(format!("{} contents", other.len())));
            }
        };
        self.write_value(&s, value)
    }

    fn emit(&mut self, s: &Stream, v: &Value) -> Result<(), SpliceError> {
        self.flush();
        let mut e = Emitter::new(s, &mut self.out, self.handles, self.max_depth);
        crate::grow_stack_entry(|| e.value(v)).map_err(|e| *e)?;
        self.handles += e.assigned;
        Ok(())
    }

    /// The bytes written so far, without draining the buffer.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Drains the buffer (`close()`) and returns the stream.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.out
    }
}
