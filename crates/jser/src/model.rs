//! The parsed form of a stream: every grammar production of JOSS ch. 6.4 kept losslessly, so that
//! [`Stream::write`](crate::Stream::write) gives back the bytes that were parsed.
//!
//! Spec: Java Object Serialization Specification, ch. 6.4.1 "Rules of the Grammar". Names follow
//! the grammar: `contents`/`content` ([`Content`]), `blockdata` ([`BlockData`]), `object`
//! ([`Value`]), `newClassDesc` ([`ClassDesc`]), `fieldDesc` ([`FieldDesc`]), `newObject`
//! ([`Object`]) with one `classdata` per class ([`ClassData`]) or `externalContents`,
//! `newArray` ([`Array`]), `newString` ([`JString`]), `newEnum` ([`EnumConst`]), `newClass`
//! ([`ClassObj`]), `exception` ([`Value::Exception`]), `reset` ([`Content::Reset`]).
//!
//! Everything that receives a handle (`newHandle` in the grammar) is an [`Item`] in
//! [`Tree::items`], in the order the handles were assigned. The place where an item is written
//! in full holds [`Value::New`]; a `TC_REFERENCE` to it holds [`Value::Ref`]. Handle numbers are
//! not stored: a writer assigns them as it goes (`0x7E0000` up, back to `0x7E0000` after
//! `TC_RESET` and around `TC_EXCEPTION`), which is what makes values movable between streams.
//!
//! An item that was being read when the writer aborted (`TC_EXCEPTION`) is kept as far as it was
//! written: its last value is the [`Value::Exception`] and nothing follows it.

use crate::constants::*;
use crate::mutf8::Mutf8;

/// Index of an [`Item`] in [`Tree::items`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub u32);

impl ItemId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A whole stream as a tree: `stream := magic version contents`. What a [`Stream`](crate::Stream)
/// dereferences to, and what models built by hand are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// The top-level `content*`, in order.
    pub contents: Vec<Content>,
    /// Every item that received a handle, in handle-assignment order.
    pub items: Vec<Item>,
}

/// One `content`: a value, a block-data segment, or `TC_RESET` (top level only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Value(Value),
    Block(BlockData),
    /// `TC_RESET`: the handle table starts again at `0x7E0000`.
    Reset,
}

/// One block-data segment: `TC_BLOCKDATA u8 len` or `TC_BLOCKDATALONG i32 len`, then the bytes.
/// Consecutive segments form one byte stream for the reader ([`crate::DataReader`]); the
/// segmentation is kept only to re-emit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockData {
    pub bytes: Vec<u8>,
    /// Written as `TC_BLOCKDATALONG` (Java does so only above 255 bytes).
    pub long: bool,
}

impl BlockData {
    /// A segment with the header Java would choose for its length.
    pub fn new(bytes: Vec<u8>) -> Self {
        let long = bytes.len() > 0xFF;
        BlockData { bytes, long }
    }
}

/// A value in an `object` position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `TC_NULL`.
    Null,
    /// The item written in full here, receiving the next handle.
    New(ItemId),
    /// `TC_REFERENCE` to an item written earlier (since the last reset).
    Ref(ItemId),
    /// `TC_EXCEPTION reset (Throwable)object reset`: the writer failed here. The value that was
    /// being written ends at this point; the stream goes on at the next top-level content.
    Exception(Box<Value>),
}

impl Value {
    /// The item this value writes or refers to.
    pub fn item(&self) -> Option<ItemId> {
        match self {
            Value::New(id) | Value::Ref(id) => Some(*id),
            Value::Null | Value::Exception(_) => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Something that receives a handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    String(JString),
    ClassDesc(ClassDesc),
    Object(Object),
    Array(Array),
    Enum(EnumConst),
    Class(ClassObj),
}

impl Item {
    /// A word for messages: `string`, `class descriptor`, `object`, `array`, `enum`, `class`.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::String(_) => "string",
            Item::ClassDesc(_) => "class descriptor",
            Item::Object(_) => "object",
            Item::Array(_) => "array",
            Item::Enum(_) => "enum constant",
            Item::Class(_) => "class",
        }
    }
}

/// `newString`: `TC_STRING u16 len` or `TC_LONGSTRING i64 len`, then modified UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JString {
    pub text: Mutf8,
    /// Written as `TC_LONGSTRING` (Java does so only above 65535 bytes).
    pub long: bool,
}

impl JString {
    /// A string with the tag Java would choose for its length.
    pub fn new(s: &str) -> Self {
        let text = Mutf8::encode(s);
        let long = text.len() > 0xFFFF;
        JString { text, long }
    }
}

/// `newClassDesc`: `TC_CLASSDESC className serialVersionUID newHandle classDescInfo` or
/// `TC_PROXYCLASSDESC newHandle proxyClassDescInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassDesc {
    pub kind: DescKind,
    /// `classAnnotation`: contents up to `TC_ENDBLOCKDATA` (empty for `ObjectOutputStream`).
    pub annotation: Vec<Content>,
    /// `superClassDesc`: [`Value::Null`], or a class descriptor (new or referenced).
    pub super_class: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescKind {
    /// `TC_CLASSDESC`: a named class.
    Class {
        name: Mutf8,
        uid: i64,
        /// `classDescFlags` (`SC_*`).
        flags: u8,
        fields: Vec<FieldDesc>,
    },
    /// `TC_PROXYCLASSDESC`: a `java.lang.reflect.Proxy` class, by its interfaces.
    Proxy { interfaces: Vec<Mutf8> },
}

impl ClassDesc {
    /// A named class without annotation.
    pub fn class(name: &str, uid: i64, flags: u8, fields: Vec<FieldDesc>, super_class: Value) -> Self {
        ClassDesc {
            kind: DescKind::Class { name: Mutf8::encode(name), uid, flags, fields },
            annotation: Vec::new(),
            super_class,
        }
    }

    /// The class name; `None` for a proxy class (its name is not in the stream).
    pub fn name(&self) -> Option<&Mutf8> {
        match &self.kind {
            DescKind::Class { name, .. } => Some(name),
            DescKind::Proxy { .. } => None,
        }
    }

    /// The flags; a proxy class counts as `SC_SERIALIZABLE` without fields.
    pub fn flags(&self) -> u8 {
        match &self.kind {
            DescKind::Class { flags, .. } => *flags,
            DescKind::Proxy { .. } => SC_SERIALIZABLE,
        }
    }

    pub fn uid(&self) -> Option<i64> {
        match &self.kind {
            DescKind::Class { uid, .. } => Some(*uid),
            DescKind::Proxy { .. } => None,
        }
    }

    pub fn fields(&self) -> &[FieldDesc] {
        match &self.kind {
            DescKind::Class { fields, .. } => fields,
            DescKind::Proxy { .. } => &[],
        }
    }

    pub fn is_proxy(&self) -> bool {
        matches!(self.kind, DescKind::Proxy { .. })
    }

    /// Objects of this class carry `externalContents` rather than per-class `classdata`.
    pub fn is_externalizable(&self) -> bool {
        self.flags() & SC_EXTERNALIZABLE != 0
    }

    /// The class data of this level ends with an `objectAnnotation`.
    pub fn has_write_method(&self) -> bool {
        self.flags() & SC_WRITE_METHOD != 0
    }
}

/// `fieldDesc`: `primitiveDesc` (`prim_typecode fieldName`) or `objectDesc`
/// (`obj_typecode fieldName className1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDesc {
    /// `B C D F I J S Z`, or `L` / `[` for objects.
    pub type_code: u8,
    pub name: Mutf8,
    /// `className1`, the JVM type signature (`Ljava/lang/String;`) as a string value (new or
    /// referenced); `None` for primitive fields.
    pub class_name: Option<Value>,
}

impl FieldDesc {
    pub fn is_primitive(&self) -> bool {
        !matches!(self.type_code, b'L' | b'[')
    }
}

/// Whether `code` is one of the field type codes of the grammar.
pub fn is_type_code(code: u8) -> bool {
    matches!(code, b'B' | b'C' | b'D' | b'F' | b'I' | b'J' | b'S' | b'Z' | b'L' | b'[')
}

/// The size in bytes of a primitive value of type `code`; `None` for `L` / `[` and non-codes.
pub fn prim_size(code: u8) -> Option<usize> {
    match code {
        b'B' | b'Z' => Some(1),
        b'C' | b'S' => Some(2),
        b'F' | b'I' => Some(4),
        b'D' | b'J' => Some(8),
        _ => None,
    }
}

/// `newObject`: `TC_OBJECT classDesc newHandle classdata[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The class descriptor (new or referenced).
    pub class: Value,
    pub data: ObjectData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectData {
    /// One `classdata` per class of the descriptor chain, superclass first.
    Serial(Vec<ClassData>),
    /// `externalContents` of an Externalizable class written with `SC_BLOCK_DATA`: contents up
    /// to `TC_ENDBLOCKDATA`.
    External(Vec<Content>),
}

/// One class's `classdata`: `nowrclass` (field values), or `wrclass objectAnnotation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassData {
    /// One value per field of the descriptor, in descriptor order (primitives come first).
    pub values: Vec<FieldValue>,
    /// `objectAnnotation` (contents up to `TC_ENDBLOCKDATA`) when the class has `SC_WRITE_METHOD`.
    pub annotation: Option<Vec<Content>>,
}

/// A field value. Floats compare by bits, so a model equals itself even with NaNs.
#[derive(Debug, Clone, Copy)]
pub enum Prim {
    Byte(i8),
    Char(u16),
    Double(f64),
    Float(f32),
    Int(i32),
    Long(i64),
    Short(i16),
    /// The byte as written (Java writes 0 or 1; any non-zero byte reads as true).
    Boolean(u8),
}

impl Prim {
    pub fn type_code(&self) -> u8 {
        match self {
            Prim::Byte(_) => b'B',
            Prim::Char(_) => b'C',
            Prim::Double(_) => b'D',
            Prim::Float(_) => b'F',
            Prim::Int(_) => b'I',
            Prim::Long(_) => b'J',
            Prim::Short(_) => b'S',
            Prim::Boolean(_) => b'Z',
        }
    }

    fn bits(&self) -> u64 {
        match *self {
            Prim::Byte(v) => v as u8 as u64,
            Prim::Char(v) => u64::from(v),
            Prim::Double(v) => v.to_bits(),
            Prim::Float(v) => u64::from(v.to_bits()),
            Prim::Int(v) => v as u32 as u64,
            Prim::Long(v) => v as u64,
            Prim::Short(v) => v as u16 as u64,
            Prim::Boolean(v) => u64::from(v),
        }
    }

    /// Big-endian bytes as in the stream.
    #[inline]
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match *self {
            Prim::Byte(v) => out.push(v as u8),
            Prim::Char(v) => out.extend_from_slice(&v.to_be_bytes()),
            Prim::Double(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Prim::Float(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Prim::Int(v) => out.extend_from_slice(&v.to_be_bytes()),
            Prim::Long(v) => out.extend_from_slice(&v.to_be_bytes()),
            Prim::Short(v) => out.extend_from_slice(&v.to_be_bytes()),
            Prim::Boolean(v) => out.push(v),
        }
    }
}

impl PartialEq for Prim {
    fn eq(&self, other: &Self) -> bool {
        self.type_code() == other.type_code() && self.bits() == other.bits()
    }
}
impl Eq for Prim {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Prim(Prim),
    Object(Value),
}

impl FieldValue {
    pub fn as_prim(&self) -> Option<Prim> {
        match self {
            FieldValue::Prim(p) => Some(*p),
            FieldValue::Object(_) => None,
        }
    }

    pub fn as_value(&self) -> Option<&Value> {
        match self {
            FieldValue::Object(v) => Some(v),
            FieldValue::Prim(_) => None,
        }
    }

    pub fn as_i32(&self) -> Option<i32> {
        match self {
            FieldValue::Prim(Prim::Int(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            FieldValue::Prim(Prim::Long(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Prim(Prim::Boolean(v)) => Some(*v != 0),
            _ => None,
        }
    }
}

/// `newArray`: `TC_ARRAY classDesc newHandle (int)size values[size]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Array {
    /// The array class descriptor (`[I`, `[Ljava.lang.String;`, ...).
    pub class: Value,
    /// The length written. Equals the number of elements, except in an array whose writing was
    /// aborted (its last element is then a [`Value::Exception`]).
    pub length: i32,
    pub elements: Elements,
}

impl Array {
    /// An array of these elements.
    pub fn new(class: Value, elements: Elements) -> Self {
        Array { class, length: elements.len() as i32, elements }
    }
}

/// Array elements by component type (the second character of the array class name).
#[derive(Debug, Clone)]
pub enum Elements {
    Byte(Vec<u8>),
    Char(Vec<u16>),
    Double(Vec<f64>),
    Float(Vec<f32>),
    Int(Vec<i32>),
    Long(Vec<i64>),
    Short(Vec<i16>),
    /// The bytes as written.
    Boolean(Vec<u8>),
    Object(Vec<Value>),
}

impl Elements {
    pub fn len(&self) -> usize {
        match self {
            Elements::Byte(v) | Elements::Boolean(v) => v.len(),
            Elements::Char(v) => v.len(),
            Elements::Double(v) => v.len(),
            Elements::Float(v) => v.len(),
            Elements::Int(v) => v.len(),
            Elements::Long(v) => v.len(),
            Elements::Short(v) => v.len(),
            Elements::Object(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The component type code (`B` ... `Z`, or `L` for objects).
    pub fn type_code(&self) -> u8 {
        match self {
            Elements::Byte(_) => b'B',
            Elements::Char(_) => b'C',
            Elements::Double(_) => b'D',
            Elements::Float(_) => b'F',
            Elements::Int(_) => b'I',
            Elements::Long(_) => b'J',
            Elements::Short(_) => b'S',
            Elements::Boolean(_) => b'Z',
            Elements::Object(_) => b'L',
        }
    }
}

impl PartialEq for Elements {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Elements::Byte(a), Elements::Byte(b)) | (Elements::Boolean(a), Elements::Boolean(b)) => a == b,
            (Elements::Char(a), Elements::Char(b)) => a == b,
            (Elements::Double(a), Elements::Double(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Elements::Float(a), Elements::Float(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Elements::Int(a), Elements::Int(b)) => a == b,
            (Elements::Long(a), Elements::Long(b)) => a == b,
            (Elements::Short(a), Elements::Short(b)) => a == b,
            (Elements::Object(a), Elements::Object(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Elements {}

/// `newEnum`: `TC_ENUM classDesc newHandle enumConstantName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumConst {
    pub class: Value,
    /// The constant's name: always a new string ([`Value::New`] of an [`Item::String`]).
    pub name: Value,
}

/// `newClass`: `TC_CLASS classDesc newHandle` (a `java.lang.Class` object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassObj {
    pub class: Value,
}

/// Whether a descriptor name is `class`, given in full, without its package, or without its
/// enclosing classes (`Outer$Inner` matches `Inner`).
fn class_matches(name: &Mutf8, class: &str) -> bool {
    let name = name.to_string_lossy();
    name == class || name.strip_suffix(class).is_some_and(|p| p.ends_with(['.', '$']))
}

/// The element class named by an array class name: `[Lcom.x.Foo;` and `[[Lcom.x.Foo;` give
/// `com.x.Foo`; primitive arrays (`[I`, `[[B`) and names that are not array names give `None`.
pub fn array_component_class(name: &str) -> Option<&str> {
    let rest = name.trim_start_matches('[');
    if rest.len() == name.len() {
        return None;
    }
    rest.strip_prefix('L')?.strip_suffix(';')
}

impl Tree {
    /// A stream with no contents.
    pub fn new() -> Self {
        Tree::default()
    }

    pub fn item(&self, id: ItemId) -> Option<&Item> {
        self.items.get(id.index())
    }

    /// Appends an item (for building models by hand) and returns its id. Write it once with
    /// [`Value::New`], then refer to it with [`Value::Ref`].
    pub fn push(&mut self, item: Item) -> ItemId {
        self.items.push(item);
        ItemId((self.items.len() - 1) as u32)
    }

    /// The item a value writes or refers to.
    pub fn resolve(&self, v: &Value) -> Option<&Item> {
        v.item().and_then(|id| self.item(id))
    }

    /// The top-level values (not block data, not resets), in order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.contents.iter().filter_map(|c| match c {
            Content::Value(v) => Some(v),
            _ => None,
        })
    }

    pub fn class_desc(&self, v: &Value) -> Option<&ClassDesc> {
        match self.resolve(v)? {
            Item::ClassDesc(d) => Some(d),
            _ => None,
        }
    }

    pub fn object(&self, v: &Value) -> Option<&Object> {
        match self.resolve(v)? {
            Item::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn array(&self, v: &Value) -> Option<&Array> {
        match self.resolve(v)? {
            Item::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn string(&self, v: &Value) -> Option<String> {
        match self.resolve(v)? {
            Item::String(s) => Some(s.text.to_string_lossy()),
            _ => None,
        }
    }

    /// The bytes of a `byte[]` value.
    pub fn bytes(&self, v: &Value) -> Option<&[u8]> {
        match &self.array(v)?.elements {
            Elements::Byte(b) => Some(b),
            _ => None,
        }
    }

    /// The descriptor of an object, array, enum constant or class value.
    pub fn class_of(&self, v: &Value) -> Option<&ClassDesc> {
        let class = match self.resolve(v)? {
            Item::Object(o) => &o.class,
            Item::Array(a) => &a.class,
            Item::Enum(e) => &e.class,
            Item::Class(c) => &c.class,
            Item::ClassDesc(d) => return Some(d),
            Item::String(_) => return None,
        };
        self.class_desc(class)
    }

    /// The class name of a value: `java.lang.String` for strings, the descriptor's name for
    /// objects, arrays, enum constants and classes; `None` for null and proxies.
    pub fn class_name_of(&self, v: &Value) -> Option<String> {
        if let Some(Item::String(_)) = self.resolve(v) {
            return Some("java.lang.String".to_string());
        }
        self.class_of(v)?.name().map(Mutf8::to_string_lossy)
    }

    /// The descriptor chain of `desc`, superclass first (the order of `classdata`). Stops at a
    /// descriptor seen twice or at anything that is not a descriptor, so it ends for any model.
    pub fn class_chain(&self, desc: ItemId) -> Vec<ItemId> {
        let mut chain = Vec::new();
        self.push_class_chain(desc, &mut chain);
        chain
    }

    /// [`Tree::class_chain`] appended to `out` (superclass first).
    pub(crate) fn push_class_chain(&self, desc: ItemId, out: &mut Vec<ItemId>) {
        let base = out.len();
        let mut cur = Some(desc);
        while let Some(id) = cur {
            if out[base..].contains(&id) || out.len() - base > self.items.len() {
                break;
            }
            let Some(Item::ClassDesc(d)) = self.item(id) else { break };
            out.push(id);
            cur = d.super_class.item();
        }
        out[base..].reverse();
    }

    /// A field of an object by name, searching from the most derived class up (Java's
    /// shadowing order). With a class name, `com.x.Cls.field` or just `Cls.field`, only that
    /// class is searched.
    pub fn field(&self, obj: &Value, name: &str) -> Option<&FieldValue> {
        let o = self.object(obj)?;
        let ObjectData::Serial(levels) = &o.data else { return None };
        let (class, field) = match name.rsplit_once('.') {
            Some((c, f)) => (Some(c), f),
            None => (None, name),
        };
        let chain = self.class_chain(o.class.item()?);
        for (i, id) in chain.iter().enumerate().rev() {
            let Some(Item::ClassDesc(d)) = self.item(*id) else { continue };
            if let Some(c) = class {
                if !d.name().is_some_and(|n| class_matches(n, c)) {
                    continue;
                }
            }
            if let Some(j) = d.fields().iter().position(|f| f.name.eq_str(field)) {
                return levels.get(i)?.values.get(j);
            }
        }
        None
    }

    /// The `classdata` of one class of an object's chain, by class name (in full or without its
    /// package).
    pub fn class_data(&self, obj: &Value, class: &str) -> Option<&ClassData> {
        let o = self.object(obj)?;
        let ObjectData::Serial(levels) = &o.data else { return None };
        let chain = self.class_chain(o.class.item()?);
        let i = chain.iter().position(|id| {
            matches!(self.item(*id), Some(Item::ClassDesc(d)) if d.name().is_some_and(|n| class_matches(n, class)))
        })?;
        levels.get(i)
    }

    /// Every class name the stream declares: named class descriptors in order, then proxy
    /// interfaces, each once.
    pub fn class_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut push = |n: String| {
            if seen.insert(n.clone()) {
                names.push(n);
            }
        };
        for item in &self.items {
            if let Item::ClassDesc(d) = item {
                match &d.kind {
                    DescKind::Class { name, .. } => push(name.to_string_lossy()),
                    DescKind::Proxy { interfaces } => interfaces.iter().for_each(|i| push(i.to_string_lossy())),
                }
            }
        }
        names
    }
}
