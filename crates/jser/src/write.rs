//! The writer: [`Tree`] to bytes, and [`ObjectWriter`], which builds a stream the way
//! `java.io.ObjectOutputStream` does (primitive data buffered into block-data segments of up to
//! 1024 bytes, values from models, standalone value streams spliced in, the objects Java shares
//! by identity written once).
//!
//! Spec: Java Object Serialization Specification, ch. 6.4.1 (the same grammar rules as
//! [`mod@crate::parse`]) and ch. 6.2 "Stream Elements"; segmenting as in
//! `ObjectOutputStream.BlockDataOutputStream` (`MAX_BLOCK_SIZE` 1024, flushed before every
//! object, at `flush`, `reset` and the end). Handles are assigned while writing, in the order of
//! the grammar's `newHandle`, so a model parsed from bytes writes those bytes again. What one
//! JVM shares by identity: `shared/spec/java-serialization.md` §9.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use crate::constants::*;
use crate::error::{SpliceError, WriteError};
use crate::filter::{Limits, ParseOptions};
use crate::flat::Kind;
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

/// The objects one `ObjectOutputStream` shares by identity, written since the last reset.
#[derive(Debug, Clone, Default)]
struct Identities {
    /// By [`Emitter::identity_key`] (the first byte says which kind): the handle.
    by_key: HashMap<Vec<u8>, u32>,
    /// By handle: the handles of what was written inside the object, as [`Emitter::parts`]
    /// lists them (`NO_HANDLE` for null).
    parts: HashMap<u32, Vec<u32>>,
}

/// A null part in [`Identities::parts`].
const NO_HANDLE: u32 = u32::MAX;

/// [`Identities`] key kinds.
const KEY_DESC: u8 = b'D';
const KEY_TYPE_STRING: u8 = b'T';
const KEY_BOX: u8 = b'B';
const KEY_ENUM: u8 = b'E';
const KEY_CLASS: u8 = b'K';
const KEY_NAME: u8 = b'N';

/// Writes the items of one [`Tree`], assigning handles from `base`.
pub(crate) struct Emitter<'s, 'o> {
    s: &'s Tree,
    out: &'o mut Vec<u8>,
    base: u32,
    /// Handles assigned since the last reset (relative to `base`).
    pub(crate) assigned: u32,
    /// Per item: (epoch in which it was written, its handle from `0x7E0000`); epoch 0 = not
    /// written.
    slots: Vec<(u32, u32)>,
    epoch: u32,
    depth: usize,
    max_depth: usize,
    /// Class descriptor chains of the objects being written, innermost last (one stack for the
    /// nested `object` calls instead of an allocation per object).
    chains: Vec<ItemId>,
    /// For [`ObjectWriter`]: identity shared with earlier values (with `None`, every item is
    /// written as the model says).
    sharing: Option<Sharing<'o>>,
}

/// What one value written by an [`ObjectWriter`] shares with the values before it.
///
/// A value keeps its own identity structure: each of its items stands for at most one object
/// written before, and each such object for at most one of its items (a value from Java holds
/// one descriptor per class, one object per enum constant; a model may hold more, and they stay
/// apart). An item stands for an earlier object only if what it holds (its descriptor, type
/// strings, superclasses, name) can stand for what that object holds, so that references to
/// those later in the value still mean the same objects.
struct Sharing<'o> {
    /// What earlier values wrote that Java shares by identity.
    known: &'o Identities,
    /// Handles of `known` an item of this value already stands for.
    used: HashSet<u32>,
    /// Shareable items this value wrote (key, handle, handles of its parts), added to the
    /// identities once it is complete.
    pending: Vec<(Vec<u8>, u32, Vec<u32>)>,
}

impl<'o> Sharing<'o> {
    fn new(known: &'o Identities) -> Self {
        Sharing { known, used: HashSet::new(), pending: Vec::new() }
    }
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
    pub(crate) fn new(s: &'s Tree, out: &'o mut Vec<u8>, base: u32, max_depth: usize) -> Self {
        let (mut slots, chains) = SCRATCH.try_with(|c| c.take()).unwrap_or_default();
        slots.clear();
        slots.resize(s.items.len(), (0, 0));
        Emitter { s, out, base, assigned: 0, slots, epoch: 1, depth: 0, max_depth, chains, sharing: None }
    }

    fn reset(&mut self) {
        self.epoch += 1;
        self.base = 0;
        self.assigned = 0;
    }

    fn item(&self, id: ItemId) -> W<&'s Item> {
        self.s.items.get(id.index()).ok_or_else(|| Box::new(WriteError::NoSuchItem(id.0)))
    }

    fn assign(&mut self, id: ItemId) {
        self.slots[id.index()] = (self.epoch, self.base + self.assigned);
        self.assigned += 1;
    }

    /// `TC_REFERENCE` to handle `h`.
    fn write_reference(&mut self, h: u32) {
        self.out.push(TC_REFERENCE);
        self.out.extend_from_slice(&(BASE_WIRE_HANDLE + h).to_be_bytes());
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
        self.write_reference(handle);
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
        match self.sharing {
            Some(_) => self.new_shared_item(id, item),
            None => self.new_item_body(id, item),
        }
    }

    /// [`Emitter::new_item`] with sharing: a reference if an earlier value wrote the object
    /// Java would take for `item`, else `item` as [`Emitter::new_item_body`] writes it.
    #[inline(never)]
    fn new_shared_item(&mut self, id: ItemId, item: &'s Item) -> W<Flow> {
        let key = self.identity_key(item);
        if let Some(h) = key.as_deref().and_then(|k| self.claim(k, id, item)) {
            self.write_reference(h);
            return Ok(Flow::Done);
        }
        let flow = self.new_item_body(id, item)?;
        if let (Some(key), Flow::Done) = (key, flow) {
            let mut parts = Vec::new();
            Self::parts(item, |v, _| {
                parts.push(match v.item().map(|p| self.slots[p.index()]) {
                    Some((epoch, h)) if epoch == self.epoch => h,
                    _ => NO_HANDLE,
                })
            });
            self.add_shared(key, id, parts);
        }
        Ok(flow)
    }

    /// The handle of what an earlier value wrote under `key`, if `id` (`item`) can stand for
    /// it: no other item of this value does, and what `item` holds can stand for what that
    /// object holds (see [`Sharing`]). Then `id` and what it holds are that object's from here
    /// on.
    fn claim(&mut self, key: &[u8], id: ItemId, item: &'s Item) -> Option<u32> {
        let sharing = self.sharing.as_ref()?;
        let h = *sharing.known.by_key.get(key)?;
        let mut plan = vec![(id, h)];
        if sharing.used.contains(&h) || !self.plan_parts(item, h, &mut plan) {
            return None;
        }
        let sharing = self.sharing.as_mut()?;
        for (part, ph) in plan {
            sharing.used.insert(ph);
            self.slots[part.index()] = (self.epoch, ph);
        }
        Some(h)
    }

    /// Adds to `plan` the items `item` holds, each as what the object `h` of an earlier value
    /// holds in its place; false if one of them cannot be (written here already as something
    /// else, or that object standing for another item).
    fn plan_parts(&self, item: &'s Item, h: u32, plan: &mut Vec<(ItemId, u32)>) -> bool {
        let Some(sharing) = self.sharing.as_ref() else { return false };
        let handles = sharing.known.parts.get(&h).map_or(&[][..], Vec::as_slice);
        let mut parts = Vec::new();
        Self::parts(item, |v, desc| parts.push((v, desc)));
        if parts.len() != handles.len() {
            return false;
        }
        parts.into_iter().zip(handles).all(|((v, desc), &ph)| {
            let Some(part) = v.item() else { return ph == NO_HANDLE };
            let part_item = match self.s.item(part) {
                Some(i @ Item::ClassDesc(_)) if desc => i,
                Some(i @ Item::String(_)) if !desc => i,
                _ => return false,
            };
            let (epoch, written) = self.slots[part.index()];
            if epoch == self.epoch {
                return written == ph;
            }
            if let Some(&(_, planned)) = plan.iter().find(|(p, _)| *p == part) {
                return planned == ph;
            }
            if ph == NO_HANDLE || sharing.used.contains(&ph) || plan.iter().any(|(_, x)| *x == ph) {
                return false;
            }
            plan.push((part, ph));
            crate::grow_stack(|| self.plan_parts(part_item, ph, plan))
        })
    }

    /// `id`, just written with the handles `parts` for what it holds, is shared with later
    /// values under `key`.
    fn add_shared(&mut self, key: Vec<u8>, id: ItemId, parts: Vec<u32>) {
        let h = self.slots[id.index()].1;
        if let Some(sharing) = self.sharing.as_mut() {
            sharing.pending.push((key, h, parts));
        }
    }

    /// What a shareable item holds that the rest of a value may refer to, in order, each with
    /// whether it is a class descriptor (else a string): a descriptor's field type strings and
    /// superclass; the descriptor of an object, enum constant or class object; an enum
    /// constant's name.
    fn parts(item: &'s Item, mut f: impl FnMut(&'s Value, bool)) {
        match item {
            Item::ClassDesc(d) => {
                d.fields().iter().filter_map(|field| field.class_name.as_ref()).for_each(|v| f(v, false));
                f(&d.super_class, true);
            }
            Item::Object(Object { class, .. }) | Item::Class(ClassObj { class }) => f(class, true),
            Item::Enum(e) => {
                f(&e.class, true);
                f(&e.name, false);
            }
            Item::String(_) | Item::Array(_) => {}
        }
    }

    /// A new item other than a string.
    #[inline]
    fn new_item_body(&mut self, id: ItemId, item: &'s Item) -> W<Flow> {
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

    /// A field's type string: interned by the JDK, so with sharing one object per text.
    fn type_string(&mut self, id: ItemId, item: &'s Item, s: &JString) -> W<()> {
        let mut key = Vec::with_capacity(2 + s.text.len());
        key.extend_from_slice(&[KEY_TYPE_STRING, u8::from(s.long)]);
        key.extend_from_slice(s.text.as_bytes());
        if let Some(h) = self.claim(&key, id, item) {
            self.write_reference(h);
            return Ok(());
        }
        self.string(id, s)?;
        self.add_shared(key, id, Vec::new());
        Ok(())
    }

    /// The key under which Java would find `item` already written by an earlier value: a class
    /// descriptor (one per class), an enum constant or a `Class` object (singletons), a boxed
    /// value of a `valueOf` cache. `None` for everything written anew.
    fn identity_key(&self, item: &Item) -> Option<Vec<u8>> {
        match item {
            Item::ClassDesc(d) => {
                let mut key = vec![KEY_DESC];
                self.push_class_key(d, &mut key)?;
                Some(key)
            }
            Item::Object(o) => self.box_key(o),
            Item::Enum(e) => {
                let Some(Item::String(name)) = self.s.resolve(&e.name) else { return None };
                let mut key = self.class_key(KEY_ENUM, &e.class)?;
                key.push(u8::from(name.long));
                key.extend_from_slice(name.text.as_bytes());
                Some(key)
            }
            Item::Class(c) => self.class_key(KEY_CLASS, &c.class),
            Item::String(_) | Item::Array(_) => None,
        }
    }

    /// The sharing key of a boxed value in a `valueOf` cache: `Boolean`, `Byte`, `Short`,
    /// `Integer` and `Long` in -128..=127, `Character` in 0..=127.
    fn box_key(&self, o: &Object) -> Option<Vec<u8>> {
        let name = self.s.class_desc(&o.class)?.name()?.as_bytes();
        let ObjectData::Serial(levels) = &o.data else { return None };
        if levels.iter().map(|l| l.values.len()).sum::<usize>() != 1 {
            return None;
        }
        let value = match (name, levels.last()?.values.first()?.as_prim()?) {
            (b"java.lang.Boolean", Prim::Boolean(v)) => i64::from(v),
            (b"java.lang.Byte", Prim::Byte(v)) => i64::from(v),
            (b"java.lang.Character", Prim::Char(v)) => i64::from(v),
            (b"java.lang.Short", Prim::Short(v)) => i64::from(v),
            (b"java.lang.Integer", Prim::Int(v)) => i64::from(v),
            (b"java.lang.Long", Prim::Long(v)) => v,
            _ => return None,
        };
        if !(-128..=127).contains(&value) {
            return None;
        }
        let mut key = self.class_key(KEY_BOX, &o.class)?;
        key.extend_from_slice(&value.to_be_bytes());
        Some(key)
    }

    /// `kind`, then the class key of the descriptor `class` refers to.
    fn class_key(&self, kind: u8, class: &Value) -> Option<Vec<u8>> {
        let mut key = vec![kind];
        self.push_class_key(self.s.class_desc(class)?, &mut key)?;
        Some(key)
    }

    /// Appends a key equal for descriptors Java would take for the same class: name, UID,
    /// flags, fields (with their type strings) of the whole superclass chain. `None` (never
    /// shared) for a chain with a class annotation or one that does not end in null.
    fn push_class_key(&self, mut d: &'s ClassDesc, key: &mut Vec<u8>) -> Option<()> {
        let len = |key: &mut Vec<u8>, n: usize| key.extend_from_slice(&(n as u32).to_be_bytes());
        for _ in 0..self.s.items.len() {
            if !d.annotation.is_empty() {
                return None;
            }
            match &d.kind {
                DescKind::Class { name, uid, flags, fields } => {
                    key.push(b'C');
                    len(key, name.len());
                    key.extend_from_slice(name.as_bytes());
                    key.extend_from_slice(&uid.to_be_bytes());
                    key.push(*flags);
                    len(key, fields.len());
                    for f in fields {
                        key.push(f.type_code);
                        len(key, f.name.len());
                        key.extend_from_slice(f.name.as_bytes());
                        match f.class_name.as_ref().and_then(|v| self.s.resolve(v)) {
                            Some(Item::String(t)) => {
                                key.push(u8::from(t.long));
                                len(key, t.text.len());
                                key.extend_from_slice(t.text.as_bytes());
                            }
                            _ => key.push(2), // a primitive field
                        }
                    }
                }
                DescKind::Proxy { interfaces } => {
                    key.push(b'P');
                    len(key, interfaces.len());
                    for i in interfaces {
                        len(key, i.len());
                        key.extend_from_slice(i.as_bytes());
                    }
                }
            }
            match &d.super_class {
                Value::Null => return Some(()),
                v => d = self.s.class_desc(v)?,
            }
        }
        None
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
                            let Item::String(js) = item else {
                                return Err(Box::new(WriteError::WrongKind {
                                    item: s.0,
                                    expected: "a string",
                                    found: item.kind(),
                                }));
                            };
                            if self.sharing.is_some() && self.slots[s.index()].0 == 0 {
                                self.type_string(*s, item, js)?;
                            } else {
                                self.value(v)?;
                            }
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

impl Tree {
    /// The stream's bytes. The tree of a stream parsed by [`crate::parse()`] writes exactly the
    /// bytes it was parsed from.
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
///
/// Each value is written as its model says, and the objects one JVM shares by identity are
/// shared with the values written before it (since the last reset), as one
/// `ObjectOutputStream` would:
///
/// - class descriptors (one per class), compared by name, UID, flags, fields and superclasses;
/// - field type strings (`Ljava/lang/String;`, interned by the JDK);
/// - enum constants and `java.lang.Class` objects (singletons);
/// - `Boolean`, and `Integer` / `Long` / `Short` / `Byte` in −128…127 and `Character` in 0…127
///   (the `valueOf` caches), anywhere in any value;
/// - strings written with [`ObjectWriter::write_shared_string`] (interned names).
///
/// Other objects are written anew for each value: values held as separate standalone streams
/// do not share identity, which Java readers do not require.
#[derive(Debug, Clone)]
pub struct ObjectWriter {
    out: Vec<u8>,
    block: Vec<u8>,
    handles: u32,
    max_depth: usize,
    shared: Identities,
    /// What [`ObjectWriter::write_boxed`] learnt since the last reset.
    boxes: BoxMemo,
}

/// Handles of boxed values and their class descriptors, learnt from what the general path wrote
/// (see [`ObjectWriter::write_boxed`]); forgotten at a reset.
#[derive(Debug, Clone, Default)]
struct BoxMemo {
    /// Per [`Boxed::kind`]: the handle of the class descriptor a new box of that class refers to.
    desc: [Option<u32>; 3],
    /// Per [`Boxed::cache_index`]: the handle of that `valueOf` cache object (empty until the
    /// first one is learnt).
    cached: Vec<Option<u32>>,
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
            shared: Identities::default(),
            boxes: BoxMemo::default(),
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
        let mut model = Tree::new();
        let id = model.push(Item::String(JString::new(s)));
        self.emit(&model, &Value::New(id)).expect("a lone string always writes");
    }

    /// `writeObject(s)` where equal texts are the same (interned) `String` object: the first
    /// call since the last reset writes it, later calls refer to it.
    pub fn write_shared_string(&mut self, s: &str) {
        let mut key = Vec::with_capacity(1 + s.len());
        key.push(KEY_NAME);
        key.extend_from_slice(s.as_bytes());
        if let Some(&h) = self.shared.by_key.get(&key) {
            self.flush();
            self.out.push(TC_REFERENCE);
            self.out.extend_from_slice(&(BASE_WIRE_HANDLE + h).to_be_bytes());
            return;
        }
        self.shared.by_key.insert(key, self.handles);
        self.write_string(s);
    }

    /// `writeObject(Boolean.valueOf(v))`.
    pub fn write_boolean(&mut self, v: bool) {
        self.write_boxed(Boxed::Boolean(v));
    }

    /// `writeObject(Integer.valueOf(v))`.
    pub fn write_integer(&mut self, v: i32) {
        self.write_boxed(Boxed::Integer(v));
    }

    /// `writeObject(Long.valueOf(v))`.
    pub fn write_long(&mut self, v: i64) {
        self.write_boxed(Boxed::Long(v));
    }

    /// `writeObject` of a boxed value. The general path builds a model of the box and looks its
    /// descriptor (and, for a `valueOf` cache object, the box) up among the identities written
    /// before: about a microsecond, and state transfers write millions of boxes. So what that
    /// path wrote is remembered, and the same call is answered from memory afterwards with the
    /// same bytes:
    ///
    /// - a cache object it wrote as `TC_REFERENCE h` is `TC_REFERENCE h` again;
    /// - a new box it wrote as `TC_OBJECT TC_REFERENCE d` and the value is that again, with
    ///   the next handle, for every new box of the class.
    ///
    /// Both hold until the reset: the identities are only added to, so a lookup that found `h`
    /// or `d` finds them again. A cache object written anew is not remembered (a later value may
    /// share it, which only the general path records).
    fn write_boxed(&mut self, b: Boxed) {
        let cached = b.cache_index().and_then(|i| self.boxes.cached.get(i).copied().flatten());
        if let Some(h) = cached {
            self.flush();
            self.out.push(TC_REFERENCE);
            self.out.extend_from_slice(&(BASE_WIRE_HANDLE + h).to_be_bytes());
            return;
        }
        if let (None, Some(d)) = (b.cache_index(), self.boxes.desc[b.kind()]) {
            self.flush();
            self.out.extend_from_slice(&[TC_OBJECT, TC_REFERENCE]);
            self.out.extend_from_slice(&(BASE_WIRE_HANDLE + d).to_be_bytes());
            b.write_value(&mut self.out);
            self.handles += 1;
            return;
        }
        self.flush();
        let start = self.out.len();
        let (model, v) = boxed_model(b);
        self.emit(&model, &v).expect("a boxed value always writes");
        self.learn_boxed(b, start);
    }

    /// Remembers what [`ObjectWriter::write_boxed`]'s general path wrote for `b` from `start`.
    fn learn_boxed(&mut self, b: Boxed, start: usize) {
        let handle = |at: &[u8]| u32::from_be_bytes([at[0], at[1], at[2], at[3]]).wrapping_sub(BASE_WIRE_HANDLE);
        let mut value = Vec::with_capacity(8);
        b.write_value(&mut value);
        match &self.out[start..] {
            [TC_REFERENCE, h @ ..] if h.len() == 4 => {
                if let Some(i) = b.cache_index() {
                    let memo = &mut self.boxes.cached;
                    memo.resize(Boxed::CACHE_SLOTS, None);
                    memo[i] = Some(handle(h));
                }
            }
            [TC_OBJECT, TC_REFERENCE, rest @ ..] if rest.len() == 4 + value.len() && rest[4..] == value[..] => {
                self.boxes.desc[b.kind()] = Some(handle(rest));
            }
            _ => {}
        }
    }

    /// `reset()`: drains, writes `TC_RESET`, and numbers handles from `0x7E0000` again; nothing
    /// written before is shared with what follows.
    pub fn reset(&mut self) {
        self.flush();
        self.out.push(TC_RESET);
        self.handles = 0;
        self.shared = Identities::default();
        self.boxes = BoxMemo::default();
    }

    /// Writes one value of `stream` as a new object graph: every item it reaches is written in
    /// full on first use (also items that `stream` wrote before `value`, such as shared class
    /// descriptors), later uses become references, objects Java shares by identity refer to
    /// earlier values' (see [`ObjectWriter`]), and handles continue from
    /// [`ObjectWriter::handles`]. Values containing `TC_EXCEPTION` cannot be written. On error
    /// nothing is written.
    pub fn write_value(&mut self, stream: &Tree, value: &Value) -> Result<(), SpliceError> {
        let standalone = crate::splice::extract_model(stream, value, self.max_depth)?;
        let v = standalone.contents.first().and_then(|c| match c {
            Content::Value(v) => Some(v),
            _ => None,
        });
        self.emit(&standalone, v.expect("extract_model makes one value"))
    }

    /// Splices in a standalone value stream (what a fresh `ObjectOutputStream` writes for one
    /// `writeObject`: header and one value): its bytes after the header, with every
    /// `TC_REFERENCE` moved up by the handles already assigned here and the objects Java shares
    /// by identity referring to earlier values' (see [`ObjectWriter`]). Parsed with the default
    /// limits and no class filter; see [`ObjectWriter::embed_with`].
    pub fn embed(&mut self, standalone: &[u8]) -> Result<(), SpliceError> {
        // A box as a fresh stream writes it (`Boolean`, `Integer`, `Long`: half the values of a
        // session state) is `writeObject` of that box: no parse, and the box memory answers.
        if let Some(b) = canonical_box(standalone) {
            self.write_boxed(b);
            return Ok(());
        }
        self.embed_with(standalone, &ParseOptions::default())
    }

    /// [`ObjectWriter::embed`] with limits and a class filter for the embedded stream.
    pub fn embed_with(&mut self, standalone: &[u8], opts: &ParseOptions) -> Result<(), SpliceError> {
        let s = parse_with(standalone, opts)?;
        // A lone null or string is written from the tape as it is (no tree is built): neither
        // refers to anything, and Java shares no string written by `writeObject`.
        if let Some(flat) = s.flat() {
            match flat.tokens() {
                [t] if t.kind == Kind::Null => {
                    self.write_null();
                    return Ok(());
                }
                [t] if t.kind == Kind::String => {
                    self.flush();
                    crate::flat::string(&mut self.out, flat.input(), t);
                    self.handles += 1;
                    return Ok(());
                }
                _ => {}
            }
        }
        let value = match s.contents.as_slice() {
            [Content::Value(v)] => v,
            other => {
                return Err(SpliceError::NotOneValue(format!("{} contents", other.len())));
            }
        };
        // A parsed standalone stream holds its items in write order, as `extract_model` would
        // copy them: written as it is (a `TC_EXCEPTION` inside makes the write abort).
        self.emit(&s, value).map_err(|e| match e {
            SpliceError::Write(WriteError::TooDeep(max)) => SpliceError::TooDeep(max),
            e => e,
        })
    }

    /// Writes `v` of `s`, whose items are in write order; on error (or an aborted write) puts
    /// the writer back as it was.
    fn emit(&mut self, s: &Tree, v: &Value) -> Result<(), SpliceError> {
        let (len, held) = (self.out.len(), self.block.len());
        self.flush();
        let start = self.out.len();
        let mut e = Emitter::new(s, &mut self.out, self.handles, self.max_depth);
        e.sharing = Some(Sharing::new(&self.shared));
        let result = crate::grow_stack_entry(|| e.value(v));
        let (assigned, sharing) = (e.assigned, e.sharing.take());
        drop(e);
        let pending = sharing.map(|s| s.pending).unwrap_or_default();
        let error = match result {
            Ok(Flow::Done) => {
                self.handles += assigned;
                for (key, h, parts) in pending {
                    if let Entry::Vacant(e) = self.shared.by_key.entry(key) {
                        e.insert(h);
                        if !parts.is_empty() {
                            self.shared.parts.insert(h, parts);
                        }
                    }
                }
                return Ok(());
            }
            Ok(Flow::Aborted) => SpliceError::Exception,
            Err(e) => SpliceError::Write(*e),
        };
        self.block.extend_from_slice(&self.out[start - held..start]);
        self.out.truncate(len);
        Err(error)
    }

    /// The bytes written so far (buffered primitive data excluded), without draining the
    /// buffer.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Takes the bytes written so far, leaving the writer ready to go on (for streaming a large
    /// stream out in pieces; buffered primitive data stays buffered).
    pub fn take_written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Drains the buffer (`close()`) and returns the stream (or what is left of it after
    /// [`ObjectWriter::take_written`]).
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        self.out
    }
}

const UID_BOOLEAN: i64 = 0xCD20_7280_D59C_FAEE_u64 as i64;
const UID_INTEGER: i64 = 0x12E2_A0A4_F781_8738;
const UID_LONG: i64 = 0x3B8B_E490_CC8F_23DF;
const UID_NUMBER: i64 = 0x86AC_951D_0B94_E08B_u64 as i64;

/// A JDK value whose objects `valueOf` shares.
#[derive(Debug, Clone, Copy)]
enum Boxed {
    Boolean(bool),
    Integer(i32),
    Long(i64),
}

impl Boxed {
    /// Slots of [`Boxed::cache_index`]: `Boolean` 2, `Integer` 256, `Long` 256.
    const CACHE_SLOTS: usize = 2 + 256 + 256;

    /// Which class: 0 `Boolean`, 1 `Integer`, 2 `Long`.
    fn kind(self) -> usize {
        match self {
            Boxed::Boolean(_) => 0,
            Boxed::Integer(_) => 1,
            Boxed::Long(_) => 2,
        }
    }

    /// Where the object is in the `valueOf` caches (every `Boolean`, `Integer` and `Long` in
    /// -128..=127), if it is.
    fn cache_index(self) -> Option<usize> {
        let small = |v: i64| (-128..=127).contains(&v).then(|| (v + 128) as usize);
        match self {
            Boxed::Boolean(v) => Some(usize::from(v)),
            Boxed::Integer(v) => small(i64::from(v)).map(|i| 2 + i),
            Boxed::Long(v) => small(v).map(|i| 2 + 256 + i),
        }
    }

    /// The class data: the `value` field.
    fn write_value(self, out: &mut Vec<u8>) {
        match self {
            Boxed::Boolean(v) => out.push(u8::from(v)),
            Boxed::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
            Boxed::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
        }
    }
}

/// The box a standalone stream holds, if it is exactly what a fresh `ObjectOutputStream` writes
/// for `Boolean.valueOf` (value byte 0 or 1), `Integer.valueOf` or `Long.valueOf`.
fn canonical_box(standalone: &[u8]) -> Option<Boxed> {
    static PREFIXES: std::sync::OnceLock<[Vec<u8>; 3]> = std::sync::OnceLock::new();
    let prefixes = PREFIXES.get_or_init(|| {
        [(Boxed::Boolean(false), 1), (Boxed::Integer(0), 4), (Boxed::Long(0), 8)].map(|(b, n)| {
            let mut out = Vec::new();
            boxed_model(b).0.write_to(&mut out).expect("a box model writes");
            out.truncate(out.len() - n);
            out
        })
    });
    let rest = |i: usize| standalone.strip_prefix(&prefixes[i][..]);
    if let Some(&[v]) = rest(0) {
        return (v <= 1).then_some(Boxed::Boolean(v == 1));
    }
    if let Some(v) = rest(1).and_then(|r| <[u8; 4]>::try_from(r).ok()) {
        return Some(Boxed::Integer(i32::from_be_bytes(v)));
    }
    if let Some(v) = rest(2).and_then(|r| <[u8; 8]>::try_from(r).ok()) {
        return Some(Boxed::Long(i64::from_be_bytes(v)));
    }
    None
}

/// A model holding one boxed value as a fresh `ObjectOutputStream` writes it.
fn boxed_model(b: Boxed) -> (Tree, Value) {
    let mut m = Tree::new();
    let field = |code: u8| vec![FieldDesc { type_code: code, name: Mutf8::encode("value"), class_name: None }];
    let class = |m: &mut Tree, name: &str, uid: i64, fields: Vec<FieldDesc>| {
        m.push(Item::ClassDesc(ClassDesc::class(name, uid, SC_SERIALIZABLE, fields, Value::Null)))
    };
    let (desc, data) = match b {
        Boxed::Boolean(v) => (
            class(&mut m, "java.lang.Boolean", UID_BOOLEAN, field(b'Z')),
            vec![ClassData { values: vec![FieldValue::Prim(Prim::Boolean(u8::from(v)))], annotation: None }],
        ),
        Boxed::Integer(_) | Boxed::Long(_) => {
            let (name, uid, code, prim) = match b {
                Boxed::Integer(v) => ("java.lang.Integer", UID_INTEGER, b'I', Prim::Int(v)),
                Boxed::Long(v) => ("java.lang.Long", UID_LONG, b'J', Prim::Long(v)),
                Boxed::Boolean(_) => unreachable!("matched above"),
            };
            // The subclass descriptor's handle comes before its superclass's.
            let d = class(&mut m, name, uid, field(code));
            let number = class(&mut m, "java.lang.Number", UID_NUMBER, vec![]);
            if let Item::ClassDesc(desc) = &mut m.items[d.index()] {
                desc.super_class = Value::New(number);
            }
            let data = vec![
                ClassData { values: vec![], annotation: None },
                ClassData { values: vec![FieldValue::Prim(prim)], annotation: None },
            ];
            (d, data)
        }
    };
    let obj = m.push(Item::Object(Object { class: Value::New(desc), data: ObjectData::Serial(data) }));
    m.contents.push(Content::Value(Value::New(obj)));
    (m, Value::New(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    /// `writeObject(Integer.valueOf(0))` in a fresh stream, as the JDK writes it.
    const INTEGER_0: [u8; 81] = hex_literal::hex!(
        "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787000000000"
    );

    fn integer_object(s: &mut Tree, class: Value, v: i32) -> Value {
        let data = vec![
            ClassData { values: vec![], annotation: None },
            ClassData { values: vec![FieldValue::Prim(Prim::Int(v))], annotation: None },
        ];
        Value::New(s.push(Item::Object(Object { class, data: ObjectData::Serial(data) })))
    }

    #[test]
    fn embedding_from_the_tape_writes_what_the_tree_path_writes() {
        let values: Vec<Vec<u8>> = {
            let mut v = Vec::new();
            for f in [
                &(|w: &mut ObjectWriter| w.write_integer(7)) as &dyn Fn(&mut ObjectWriter),
                &|w| w.write_integer(100_000),
                &|w| w.write_long(-3),
                &|w| w.write_long(1 << 40),
                &|w| w.write_boolean(true),
                &|w| w.write_boolean(false),
                &|w| w.write_string("a string"),
                &|w| w.write_string(&"x".repeat(70_000)),
                &|w| w.write_null(),
            ] {
                let mut w = ObjectWriter::new();
                f(&mut w);
                v.push(w.finish());
            }
            v
        };
        // Every order of pairs, and the whole list twice: the fast paths (boxes, strings, null)
        // against the general path over the tree.
        let mut sequences: Vec<Vec<&[u8]>> = Vec::new();
        for a in &values {
            for b in &values {
                sequences.push(vec![a, b, a, &INTEGER_0]);
            }
        }
        sequences.push(values.iter().chain(values.iter()).map(Vec::as_slice).collect());
        for seq in sequences {
            let mut fast = ObjectWriter::new();
            let mut slow = ObjectWriter::new();
            for v in &seq {
                fast.write_i32(1);
                slow.write_i32(1);
                fast.embed(v).unwrap();
                let s = parse(v).unwrap();
                slow.emit(s.tree(), s.values().next().unwrap()).unwrap();
            }
            assert_eq!(fast.finish(), slow.finish());
        }
        assert!(canonical_box(&INTEGER_0).is_some());
        let mut odd = INTEGER_0.to_vec();
        odd.push(0);
        assert!(canonical_box(&odd).is_none());
    }

    #[test]
    fn a_boxed_integer_is_what_the_jdk_writes() {
        let mut w = ObjectWriter::new();
        w.write_integer(0);
        assert_eq!(w.finish(), INTEGER_0);
    }

    #[test]
    fn cached_boxes_and_class_descriptors_are_shared_with_earlier_values_until_a_reset() {
        let mut w = ObjectWriter::new();
        w.write_integer(5); // Integer desc 0, Number desc 1, object 2
        w.embed(&INTEGER_0).unwrap(); // the descriptor is shared: object 3
        w.write_integer(5); // Integer.valueOf(5) again: the same object
        w.write_integer(1000); // not cached: a new object 4
        w.reset();
        w.write_integer(5); // written anew
        let s = parse(&w.finish()).unwrap();
        let v: Vec<&Value> = s.values().collect();
        assert!(matches!(v[0], Value::New(_)));
        let Some(Item::Object(o)) = s.resolve(v[1]) else { panic!("{:?}", v[1]) };
        assert!(matches!(o.class, Value::Ref(_)), "the descriptor is a reference");
        assert_eq!(v[2], &Value::Ref(v[0].item().unwrap()), "Integer 5 refers to the first one");
        let Some(Item::Object(o)) = s.resolve(v[3]) else { panic!("{:?}", v[3]) };
        assert!(matches!((v[3], &o.class), (Value::New(_), Value::Ref(_))));
        let Some(Item::Object(o)) = s.resolve(v[4]) else { panic!("{:?}", v[4]) };
        assert!(matches!((v[4], &o.class), (Value::New(_), Value::New(_))), "nothing shared after the reset");
    }

    #[test]
    fn distinct_objects_inside_one_value_stay_distinct() {
        // new Object[] { new Integer(5), new Integer(5) }: two objects in Java, so two here; a
        // later Integer.valueOf(5) refers to the first (the first cached box written).
        let mut s = Tree::new();
        let array =
            s.push(Item::ClassDesc(ClassDesc::class("[Ljava.lang.Object;", 1, SC_SERIALIZABLE, vec![], Value::Null)));
        let (m, _) = boxed_model(Boxed::Integer(5));
        let Some(Item::ClassDesc(integer)) = m.items.first() else { unreachable!() };
        let desc = s.push(Item::ClassDesc(integer.clone()));
        let number = s.push(m.items[1].clone());
        if let Item::ClassDesc(d) = &mut s.items[desc.index()] {
            d.super_class = Value::New(number);
        }
        let first = integer_object(&mut s, Value::New(desc), 5);
        let second = integer_object(&mut s, Value::Ref(desc), 5);
        let a = s.push(Item::Array(Array::new(Value::New(array), Elements::Object(vec![first, second]))));
        let mut w = ObjectWriter::new();
        w.write_value(&s, &Value::New(a)).unwrap();
        w.write_integer(5);
        // After an Integer.valueOf(5), the array's first element is that object, the second
        // still another one.
        w.write_value(&s, &Value::New(a)).unwrap();
        let out = parse(&w.finish()).unwrap();
        let v: Vec<&Value> = out.values().collect();
        let Some(Elements::Object(elements)) = out.array(v[0]).map(|a| &a.elements) else { panic!() };
        assert!(matches!(elements[..], [Value::New(x), Value::New(y)] if x != y), "{elements:?}");
        let cached = elements[0].item().unwrap();
        assert_eq!(v[1], &Value::Ref(cached));
        let Some(Elements::Object(elements)) = out.array(v[2]).map(|a| &a.elements) else { panic!() };
        assert!(matches!(elements[..], [Value::Ref(x), Value::New(_)] if x == cached), "{elements:?}");
    }

    #[test]
    fn a_value_that_fails_to_write_leaves_the_writer_as_it_was() {
        let mut s = Tree::new();
        let fields = vec![FieldDesc { type_code: b'I', name: "a".into(), class_name: None }];
        let desc = s.push(Item::ClassDesc(ClassDesc::class("X", 1, SC_SERIALIZABLE, fields, Value::Null)));
        let data = vec![ClassData { values: vec![FieldValue::Prim(Prim::Long(1))], annotation: None }];
        let bad = s.push(Item::Object(Object { class: Value::New(desc), data: ObjectData::Serial(data) }));
        let mut w = ObjectWriter::new();
        w.write_i32(7);
        assert!(w.write_value(&s, &Value::New(bad)).is_err());
        assert_eq!(w.handles(), 0);
        w.write_i32(8);
        let mut expect = STREAM_HEADER.to_vec();
        expect.extend_from_slice(&[TC_BLOCKDATA, 8, 0, 0, 0, 7, 0, 0, 0, 8]);
        assert_eq!(w.finish(), expect);
    }

    #[test]
    fn boxes_answered_from_memory_are_the_bytes_of_the_general_path() {
        // The same calls through write_boxed (which remembers) and through the model each time.
        let general = |w: &mut ObjectWriter, b: Boxed| {
            let (model, v) = boxed_model(b);
            w.emit(&model, &v).unwrap();
        };
        let values = [
            Boxed::Long(1_700_000_000_000),
            Boxed::Integer(1800),
            Boxed::Boolean(true),
            Boxed::Integer(5),
            Boxed::Long(-128),
            Boxed::Long(127),
            Boxed::Long(128),
            Boxed::Integer(-129),
            Boxed::Boolean(false),
            Boxed::Integer(i32::MIN),
            Boxed::Long(i64::MAX),
        ];
        let (mut fast, mut slow) = (ObjectWriter::new(), ObjectWriter::new());
        for round in 0..4 {
            for (i, &b) in values.iter().chain(values.iter().rev()).enumerate() {
                fast.write_boxed(b);
                general(&mut slow, b);
                if (i + round) % 7 == 0 {
                    for w in [&mut fast, &mut slow] {
                        w.write_i32(i as i32);
                        w.embed(&INTEGER_0).unwrap();
                        w.write_shared_string("name");
                    }
                }
            }
            assert_eq!(fast.handles(), slow.handles());
            // Five cache objects of the list, and Integer.valueOf(0), which `embed` writes as a box.
            let learnt = fast.boxes.cached.iter().flatten().count();
            assert!(fast.boxes.desc[1..].iter().all(Option::is_some) && learnt == 6, "memory used: {:?}", fast.boxes);
            if round == 1 {
                fast.reset();
                slow.reset();
            }
        }
        assert_eq!(fast.finish(), slow.finish());
    }

    #[test]
    fn boxes_after_an_embedded_stream_share_its_objects() {
        // Integer.valueOf(0) and the Integer descriptor come from the embedded stream first.
        let mut w = ObjectWriter::new();
        w.embed(&INTEGER_0).unwrap();
        for _ in 0..3 {
            w.write_integer(0);
            w.write_integer(1000);
        }
        let s = parse(&w.finish()).unwrap();
        let v: Vec<&Value> = s.values().collect();
        let first = v[0].item().unwrap();
        for pair in v[1..].chunks(2) {
            assert_eq!(pair[0], &Value::Ref(first), "Integer.valueOf(0) is the embedded one");
            let Some(Item::Object(o)) = s.resolve(pair[1]) else { panic!("{:?}", pair[1]) };
            assert!(matches!((pair[1], &o.class), (Value::New(_), Value::Ref(_))));
        }
    }

    #[test]
    fn shared_strings_are_written_once() {
        let mut w = ObjectWriter::new();
        w.write_shared_string("name");
        w.write_string("name");
        w.write_shared_string("name");
        let s = parse(&w.finish()).unwrap();
        let v: Vec<&Value> = s.values().collect();
        assert!(matches!(v[..], [Value::New(a), Value::New(b), Value::Ref(c)] if a != b && *c == *a));
    }
}
