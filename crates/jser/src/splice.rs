//! Moving values between streams: copying a value with everything it refers to, extracting one
//! value of a stream as a standalone stream, and (through [`crate::ObjectWriter::embed`])
//! splicing a standalone value stream into a larger one.
//!
//! Spec: Java Object Serialization Specification, ch. 6.4.1 `prevObject` and `newHandle`: a
//! handle is only meaningful in the stream (and since the reset) where it was assigned. A value
//! taken out of a stream may refer back to items written before it (shared class descriptors,
//! shared strings and objects); a copy writes each such item in full where the value first uses
//! it and refers to it afterwards, in the grammar's write order, so the copy's handles are
//! numbered afresh. `TC_EXCEPTION` records are not carried (the value they cut short is lost
//! in Java too).

use std::collections::HashMap;

use crate::error::SpliceError;
use crate::filter::Limits;
use crate::flat::Stream;
use crate::model::*;

/// Copies items from one stream into another in write order.
struct Copier<'a> {
    src: &'a Tree,
    dst: &'a mut Tree,
    map: HashMap<ItemId, ItemId>,
    depth: usize,
    max_depth: usize,
}

type S<T> = Result<T, SpliceError>;

impl Copier<'_> {
    fn value(&mut self, v: &Value) -> S<Value> {
        match v {
            Value::Null => Ok(Value::Null),
            Value::Exception(_) => Err(SpliceError::Exception),
            Value::New(id) | Value::Ref(id) => match self.map.get(id) {
                Some(&n) => Ok(Value::Ref(n)),
                None => Ok(Value::New(self.item(*id)?)),
            },
        }
    }

    fn contents(&mut self, contents: &[Content]) -> S<Vec<Content>> {
        contents
            .iter()
            .map(|c| match c {
                Content::Value(v) => Ok(Content::Value(self.value(v)?)),
                Content::Block(b) => Ok(Content::Block(b.clone())),
                Content::Reset => Err(SpliceError::Write(crate::WriteError::Misplaced("TC_RESET inside an object"))),
            })
            .collect()
    }

    /// Reserves the next item of `dst` for `id`: its handle is assigned at this point of the
    /// write order.
    fn reserve(&mut self, id: ItemId) -> ItemId {
        let n = self.dst.push(Item::Class(ClassObj { class: Value::Null }));
        self.map.insert(id, n);
        n
    }

    fn item(&mut self, id: ItemId) -> S<ItemId> {
        crate::grow_stack(|| self.item_inner(id))
    }

    fn item_inner(&mut self, id: ItemId) -> S<ItemId> {
        let src = self.src;
        let item = src.items.get(id.index()).ok_or(SpliceError::NoSuchItem(id.0))?;
        // Depth counts as in the reader: every level but strings.
        let level = usize::from(!matches!(item, Item::String(_)));
        self.depth += level;
        if self.depth > self.max_depth {
            return Err(SpliceError::TooDeep(self.max_depth));
        }
        let n = match item {
            Item::String(s) => {
                let n = self.reserve(id);
                self.dst.items[n.index()] = Item::String(s.clone());
                n
            }
            Item::ClassDesc(d) => {
                let n = self.reserve(id);
                let kind = match &d.kind {
                    DescKind::Class { name, uid, flags, fields } => {
                        let mut copied = Vec::with_capacity(fields.len());
                        for f in fields {
                            let class_name = f.class_name.as_ref().map(|v| self.value(v)).transpose()?;
                            copied.push(FieldDesc { type_code: f.type_code, name: f.name.clone(), class_name });
                        }
                        DescKind::Class { name: name.clone(), uid: *uid, flags: *flags, fields: copied }
                    }
                    DescKind::Proxy { interfaces } => DescKind::Proxy { interfaces: interfaces.clone() },
                };
                let annotation = self.contents(&d.annotation)?;
                let super_class = self.value(&d.super_class)?;
                self.dst.items[n.index()] = Item::ClassDesc(ClassDesc { kind, annotation, super_class });
                n
            }
            Item::Object(o) => {
                let class = self.value(&o.class)?;
                let n = self.reserve(id);
                let data = match &o.data {
                    ObjectData::External(c) => ObjectData::External(self.contents(c)?),
                    ObjectData::Serial(levels) => {
                        let mut copied = Vec::with_capacity(levels.len());
                        for cd in levels {
                            let mut values = Vec::with_capacity(cd.values.len());
                            for v in &cd.values {
                                values.push(match v {
                                    FieldValue::Prim(p) => FieldValue::Prim(*p),
                                    FieldValue::Object(v) => FieldValue::Object(self.value(v)?),
                                });
                            }
                            let annotation = cd.annotation.as_deref().map(|c| self.contents(c)).transpose()?;
                            copied.push(ClassData { values, annotation });
                        }
                        ObjectData::Serial(copied)
                    }
                };
                self.dst.items[n.index()] = Item::Object(Object { class, data });
                n
            }
            Item::Array(a) => {
                let class = self.value(&a.class)?;
                let n = self.reserve(id);
                let elements = match &a.elements {
                    Elements::Object(values) => {
                        Elements::Object(values.iter().map(|v| self.value(v)).collect::<S<Vec<_>>>()?)
                    }
                    prim => prim.clone(),
                };
                self.dst.items[n.index()] = Item::Array(Array { class, length: a.length, elements });
                n
            }
            Item::Enum(e) => {
                let class = self.value(&e.class)?;
                let n = self.reserve(id);
                // The grammar writes the constant name as a new string. When the copy already
                // wrote that string (the value referred to it before reaching the enum), write
                // an equal string anew.
                let name = match self.value(&e.name)? {
                    Value::Ref(s) => {
                        let copy = self.dst.items[s.index()].clone();
                        Value::New(self.dst.push(copy))
                    }
                    other => other,
                };
                self.dst.items[n.index()] = Item::Enum(EnumConst { class, name });
                n
            }
            Item::Class(c) => {
                let class = self.value(&c.class)?;
                let n = self.reserve(id);
                self.dst.items[n.index()] = Item::Class(ClassObj { class });
                n
            }
        };
        self.depth -= level;
        Ok(n)
    }
}

impl Tree {
    /// Copies `value` of `from`, with every item it reaches, into this stream's items and
    /// returns the copy, to be placed once in this stream's contents or inside one of its items.
    /// Items that `from` wrote before `value` are copied too and written in full where the copy
    /// first uses them. Each call copies afresh: two imports do not share items.
    pub fn import(&mut self, from: &Tree, value: &Value) -> Result<Value, SpliceError> {
        Copier { src: from, dst: self, map: HashMap::new(), depth: 0, max_depth: Limits::default().max_depth }
            .value(value)
    }
}

/// One value of `stream` as a standalone model: a stream holding just that value, with the
/// class descriptors and other items it refers to written inline and handles renumbered.
pub fn extract_model(stream: &Tree, value: &Value, max_depth: usize) -> Result<Stream, SpliceError> {
    let mut out = Tree::new();
    let v = Copier { src: stream, dst: &mut out, map: HashMap::new(), depth: 0, max_depth }.value(value)?;
    out.contents.push(Content::Value(v));
    Ok(out.into())
}

/// One value of `stream` as a standalone stream (header and one value), as a fresh
/// `ObjectOutputStream` would write it: the value's own bytes with the descriptors and objects
/// it refers to written inline and handles renumbered from `0x7E0000`.
pub fn extract(stream: &Tree, value: &Value) -> Result<Vec<u8>, SpliceError> {
    Ok(extract_model(stream, value, Limits::default().max_depth)?.write()?)
}

/// Every top-level value of `stream` as a standalone stream, in order.
pub fn extract_all(stream: &Tree) -> Result<Vec<Vec<u8>>, SpliceError> {
    stream.values().map(|v| extract(stream, v)).collect()
}
