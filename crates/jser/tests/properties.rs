//! Properties over generated inputs: generated models write and parse back equal, arbitrary and
//! corrupted bytes never panic and stay within the limits, splicing keeps values intact, and the
//! deepest nesting the default limits allow fits a test thread's stack.
//!
//! The byte-level properties call the same entry point as the cargo-fuzz target
//! (`jser::fuzzing::stream`), so a failure here reproduces there and the other way round.

use std::collections::HashMap;

use jser::constants::*;
use jser::{
    extract, fuzzing, parse, parse_with, Array, BlockData, ClassData, ClassDesc, ClassObj, Content, DescKind, Elements,
    EnumConst, FieldDesc, FieldValue, Item, ItemId, JString, Limits, Mutf8, Object, ObjectData, ObjectWriter,
    ParseErrorKind, ParseOptions, Prim, Stream, Value,
};
use proptest::collection::vec;
use proptest::prelude::*;

// ---- a generator of models, built in handle order so that parse(write(m)) == m ----

#[derive(Debug, Clone)]
enum Shape {
    Null,
    Str(String, bool),
    /// A reference to the n-th item written since the last reset (if any).
    Back(u16),
    Prims(u8, Vec<u8>),
    Objs(Vec<Shape>),
    Obj {
        class: u8,
        prims: Vec<(u8, u64)>,
        objs: Vec<Shape>,
        annotation: Option<Vec<Part>>,
    },
    Ext(u8, Vec<Part>),
    Enum(u8, String),
    Class(u8),
}

#[derive(Debug, Clone)]
enum Part {
    V(Shape),
    B(Vec<u8>, bool),
}

#[derive(Debug, Clone)]
enum Top {
    P(Part),
    Reset,
}

const PRIM_CODES: &[u8] = b"BCDFIJSZ";

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        Just("\u{0}\u{1F600}é".to_string()),
    ]
}

fn part(shape: impl Strategy<Value = Shape>) -> impl Strategy<Value = Part> {
    prop_oneof![
        3 => shape.prop_map(Part::V),
        1 => (vec(any::<u8>(), 0..300), any::<bool>()).prop_map(|(b, long)| { let long = long || b.len() > 255; Part::B(b, long) }),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        Just(Shape::Null),
        (text(), any::<bool>()).prop_map(|(s, l)| Shape::Str(s, l)),
        any::<u16>().prop_map(Shape::Back),
        (0..8u8, vec(any::<u8>(), 0..40)).prop_map(|(k, raw)| Shape::Prims(k, raw)),
        (0..4u8, text()).prop_map(|(c, n)| Shape::Enum(c, n)),
        (0..6u8).prop_map(Shape::Class),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Shape::Objs),
            (
                0..6u8,
                vec((0..8u8, any::<u64>()), 0..4),
                vec(inner.clone(), 0..3),
                proptest::option::of(vec(part(inner.clone()), 0..3))
            )
                .prop_map(|(class, prims, objs, annotation)| Shape::Obj {
                    class,
                    prims: prims.into_iter().map(|(k, bits)| (PRIM_CODES[k as usize], bits)).collect(),
                    objs,
                    annotation
                }),
            (0..3u8, vec(part(inner), 0..3)).prop_map(|(c, parts)| Shape::Ext(c, parts)),
        ]
    })
}

fn tops() -> impl Strategy<Value = Vec<Top>> {
    vec(prop_oneof![8 => part(shape()).prop_map(Top::P), 1 => Just(Top::Reset)], 0..6)
}

/// A superclass: name, flags, fields.
type Super<'a> = (&'a str, u8, &'a [(u8, String)]);

/// Builds a model from shapes, pushing items in the order a writer assigns handles.
#[derive(Default)]
struct Builder {
    s: Stream,
    epoch: Vec<ItemId>,
    descs: HashMap<String, ItemId>,
    strings: HashMap<String, ItemId>,
}

fn prim(code: u8, bits: u64) -> Prim {
    match code {
        b'B' => Prim::Byte(bits as i8),
        b'C' => Prim::Char(bits as u16),
        b'D' => Prim::Double(f64::from_bits(bits)),
        b'F' => Prim::Float(f32::from_bits(bits as u32)),
        b'I' => Prim::Int(bits as i32),
        b'J' => Prim::Long(bits as i64),
        b'S' => Prim::Short(bits as i16),
        _ => Prim::Boolean(bits as u8),
    }
}

impl Builder {
    fn push(&mut self, item: Item) -> ItemId {
        let id = self.s.push(item);
        self.epoch.push(id);
        id
    }

    fn reserve(&mut self) -> ItemId {
        self.push(Item::Class(ClassObj { class: Value::Null }))
    }

    fn string(&mut self, s: &str, long: bool) -> ItemId {
        self.push(Item::String(JString { text: Mutf8::encode(s), long }))
    }

    /// A type string: new the first time in this epoch, then a reference.
    fn type_string(&mut self, sig: &str) -> Value {
        if let Some(&id) = self.strings.get(sig) {
            return Value::Ref(id);
        }
        let id = self.string(sig, false);
        self.strings.insert(sig.to_string(), id);
        Value::New(id)
    }

    /// A class descriptor: new the first time in this epoch, then a reference.
    fn desc(&mut self, name: &str, uid: i64, flags: u8, fields: &[(u8, String)], sup: Option<Super>) -> Value {
        if let Some(&id) = self.descs.get(name) {
            return Value::Ref(id);
        }
        let id = self.reserve();
        let mut fs = Vec::new();
        for (code, fname) in fields {
            let class_name = if prim_code(*code) { None } else { Some(self.type_string("Ljava/lang/Object;")) };
            fs.push(FieldDesc { type_code: *code, name: fname.as_str().into(), class_name });
        }
        let super_class = match sup {
            Some((n, f, sf)) => self.desc(n, 1, f, sf, None),
            None => Value::Null,
        };
        self.s.items[id.index()] = Item::ClassDesc(ClassDesc {
            kind: DescKind::Class { name: name.into(), uid, flags, fields: fs },
            annotation: Vec::new(),
            super_class,
        });
        self.descs.insert(name.to_string(), id);
        Value::New(id)
    }

    fn parts(&mut self, parts: &[Part]) -> Vec<Content> {
        parts
            .iter()
            .map(|p| match p {
                Part::V(v) => Content::Value(self.value(v)),
                Part::B(b, long) => Content::Block(BlockData { bytes: b.clone(), long: *long }),
            })
            .collect()
    }

    fn value(&mut self, shape: &Shape) -> Value {
        match shape {
            Shape::Null => Value::Null,
            Shape::Str(s, long) => Value::New(self.string(s, *long)),
            Shape::Back(k) => match self.epoch.len() {
                0 => Value::Null,
                n => Value::Ref(self.epoch[*k as usize % n]),
            },
            Shape::Prims(kind, raw) => {
                let code = PRIM_CODES[*kind as usize];
                let class = self.desc(&format!("[{}", code as char), 0x1234, SC_SERIALIZABLE, &[], None);
                let id = self.reserve();
                let elements = match code {
                    b'B' => Elements::Byte(raw.clone()),
                    b'Z' => Elements::Boolean(raw.clone()),
                    b'C' => Elements::Char(raw.iter().map(|&b| u16::from(b) * 257).collect()),
                    b'S' => Elements::Short(raw.iter().map(|&b| i16::from(b as i8) * 251).collect()),
                    b'I' => Elements::Int(raw.iter().map(|&b| i32::from(b) << 20).collect()),
                    b'J' => Elements::Long(raw.iter().map(|&b| i64::from(b) << 50).collect()),
                    b'F' => Elements::Float(raw.iter().map(|&b| f32::from_bits(u32::from(b) * 0x0101_0101)).collect()),
                    _ => Elements::Double(
                        raw.iter().map(|&b| f64::from_bits(u64::from(b) * 0x0101_0101_0101_0101)).collect(),
                    ),
                };
                self.s.items[id.index()] = Item::Array(Array::new(class, elements));
                Value::New(id)
            }
            Shape::Objs(items) => {
                let class = self.desc("[Ljava.lang.Object;", -0x6f, SC_SERIALIZABLE, &[], None);
                let id = self.reserve();
                let values = items.iter().map(|s| self.value(s)).collect();
                self.s.items[id.index()] = Item::Array(Array::new(class, Elements::Object(values)));
                Value::New(id)
            }
            Shape::Obj { class, prims, objs, annotation } => {
                let mut fields: Vec<(u8, String)> =
                    prims.iter().enumerate().map(|(i, (c, _))| (*c, format!("p{i}"))).collect();
                fields.extend((0..objs.len()).map(|i| (b'L', format!("o{i}"))));
                let sig: String = fields.iter().map(|(c, _)| *c as char).collect();
                let wm = annotation.is_some();
                let name = format!("com.example.C{class}_{sig}_{}", u8::from(wm));
                let flags = SC_SERIALIZABLE | if wm { SC_WRITE_METHOD } else { 0 };
                let base_fields = [(b'I', "base".to_string())];
                let sup = (class % 2 == 1).then_some(("com.example.Base", SC_SERIALIZABLE, &base_fields[..]));
                let desc = self.desc(&name, i64::from(*class), flags, &fields, sup);
                let id = self.reserve();
                let mut levels = Vec::new();
                if sup.is_some() {
                    levels.push(ClassData {
                        values: vec![FieldValue::Prim(Prim::Int(i32::from(*class)))],
                        annotation: None,
                    });
                }
                let mut values: Vec<FieldValue> = prims.iter().map(|(c, b)| FieldValue::Prim(prim(*c, *b))).collect();
                for o in objs {
                    values.push(FieldValue::Object(self.value(o)));
                }
                let annotation = annotation.as_ref().map(|p| self.parts(p));
                levels.push(ClassData { values, annotation });
                self.s.items[id.index()] = Item::Object(Object { class: desc, data: ObjectData::Serial(levels) });
                Value::New(id)
            }
            Shape::Ext(c, parts) => {
                let desc = self.desc(&format!("com.example.Ext{c}"), 9, SC_EXTERNALIZABLE | SC_BLOCK_DATA, &[], None);
                let id = self.reserve();
                let contents = self.parts(parts);
                self.s.items[id.index()] = Item::Object(Object { class: desc, data: ObjectData::External(contents) });
                Value::New(id)
            }
            Shape::Enum(c, name) => {
                let enum_flags = SC_SERIALIZABLE | SC_ENUM;
                let class = self.desc(
                    &format!("com.example.E{c}"),
                    0,
                    enum_flags,
                    &[],
                    Some(("java.lang.Enum", enum_flags, &[])),
                );
                let id = self.reserve();
                let name = Value::New(self.string(name, false));
                self.s.items[id.index()] = Item::Enum(EnumConst { class, name });
                Value::New(id)
            }
            Shape::Class(c) => {
                let class = self.desc(&format!("com.example.K{c}"), 5, 0, &[], None);
                let id = self.reserve();
                self.s.items[id.index()] = Item::Class(ClassObj { class });
                Value::New(id)
            }
        }
    }

    fn build(tops: &[Top]) -> Stream {
        let mut b = Builder::default();
        for t in tops {
            let c = match t {
                Top::Reset => {
                    b.epoch.clear();
                    b.descs.clear();
                    b.strings.clear();
                    Content::Reset
                }
                Top::P(Part::V(v)) => Content::Value(b.value(v)),
                Top::P(Part::B(bytes, long)) => Content::Block(BlockData { bytes: bytes.clone(), long: *long }),
            };
            b.s.contents.push(c);
        }
        b.s
    }
}

fn prim_code(c: u8) -> bool {
    jser::model::prim_size(c).is_some()
}

// ---- properties ----

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_models_write_then_parse_back_equal(tops in tops()) {
        let model = Builder::build(&tops);
        let bytes = model.write().expect("a generated model writes");
        let parsed = parse(&bytes).expect("written bytes parse");
        prop_assert_eq!(&parsed, &model);
        fuzzing::stream(&bytes);
    }

    #[test]
    fn each_generated_value_extracts_and_splices_back(tops in tops()) {
        let model = Builder::build(&tops);
        let mut w = ObjectWriter::new();
        let mut extracted = Vec::new();
        for v in model.values() {
            let alone = extract(&model, v).expect("extracts");
            let s = parse(&alone).expect("a standalone stream parses");
            prop_assert_eq!(s.values().count(), 1);
            w.embed(&alone).expect("embeds");
            extracted.push(s);
        }
        // The spliced stream holds the same values: extracting each again gives the same bytes.
        let spliced = parse(&w.finish()).expect("the spliced stream parses");
        prop_assert_eq!(spliced.values().count(), extracted.len());
        for (v, alone) in spliced.values().zip(&extracted) {
            prop_assert_eq!(extract(&spliced, v).unwrap(), alone.write().unwrap());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..512)) {
        let mut bytes = STREAM_HEADER.to_vec();
        bytes.extend_from_slice(&body);
        fuzzing::stream(&bytes);
        fuzzing::stream(&body);
    }

    #[test]
    fn grammar_shaped_bytes_never_panic(tags in vec(prop_oneof![
        (0x70u8..=0x7E).prop_map(|t| vec![t]),
        Just(vec![0x00, 0x7E, 0x00, 0x00]),
        Just(vec![0x00, 0x02, b'[', b'I']),
        Just(vec![0x00, 0x13]),
        Just(vec![0x02, 0x00, 0x01, b'I']),
        vec(any::<u8>(), 0..4),
    ], 0..60)) {
        let mut bytes = STREAM_HEADER.to_vec();
        bytes.extend(tags.into_iter().flatten());
        fuzzing::stream(&bytes);
    }

    #[test]
    fn corrupted_real_streams_never_panic(
        which in any::<prop::sample::Index>(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let vectors = spec_vectors();
        let mut bytes = vectors[which.index(vectors.len())].clone();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        fuzzing::stream(&bytes);
    }
}

fn spec_vectors() -> Vec<Vec<u8>> {
    include_str!("data/spec-vectors.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| hex::decode(l.split_once(' ').expect("NAME HEX").1.trim()).expect("hex"))
        .collect()
}

// ---- edge cases ----

/// `Object[]` nested `depth` deep: `[ [ [ ... "leaf" ] ] ]`.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut b = STREAM_HEADER.to_vec();
    for i in 0..depth {
        b.push(TC_ARRAY);
        if i == 0 {
            b.extend_from_slice(&[TC_CLASSDESC, 0x00, 0x13]);
            b.extend_from_slice(b"[Ljava.lang.Object;");
            b.extend_from_slice(&[
                0x90,
                0xCE,
                0x58,
                0x9F,
                0x10,
                0x73,
                0x29,
                0x6C,
                SC_SERIALIZABLE,
                0,
                0,
                TC_ENDBLOCKDATA,
                TC_NULL,
            ]);
        } else {
            b.extend_from_slice(&[TC_REFERENCE, 0x00, 0x7E, 0x00, 0x00]);
        }
        b.extend_from_slice(&1i32.to_be_bytes());
    }
    b.extend_from_slice(&[TC_STRING, 0, 4]);
    b.extend_from_slice(b"leaf");
    b
}

#[test]
fn the_deepest_nesting_the_default_limits_allow_runs_on_a_test_thread() {
    // Test threads have 2 MiB of stack; the reader, writer and copier recurse once per level
    // and move to fresh stack segments as needed.
    let max = Limits::default().max_depth;
    let bytes = nested_arrays(max);
    let s = parse(&bytes).expect("max_depth levels parse");
    assert_eq!(s.write().unwrap(), bytes);
    assert_eq!(extract(&s, s.values().next().unwrap()).unwrap(), bytes);
    let e = parse(&nested_arrays(max + 1)).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooDeep { max });
}

#[test]
fn huge_declared_lengths_fail_before_allocating() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // TC_LONGSTRING of 2^62 bytes.
        ([&STREAM_HEADER[..], &[TC_LONGSTRING], &(1i64 << 62).to_be_bytes()].concat(), "long string"),
        // TC_BLOCKDATALONG of i32::MAX bytes.
        ([&STREAM_HEADER[..], &[TC_BLOCKDATALONG], &i32::MAX.to_be_bytes()].concat(), "block data"),
        // int[] of i32::MAX elements.
        (
            [
                &STREAM_HEADER[..],
                &[TC_ARRAY, TC_CLASSDESC, 0, 2, b'[', b'I'],
                &[0; 8],
                &[2, 0, 0, 0x78, 0x70],
                &i32::MAX.to_be_bytes(),
            ]
            .concat(),
            "array",
        ),
        // Object[] of 100 million elements.
        (
            [
                &STREAM_HEADER[..],
                &[TC_ARRAY, TC_CLASSDESC, 0, 3, b'[', b'L', b';'],
                &[0; 8],
                &[2, 0, 0, 0x78, 0x70],
                &100_000_000i32.to_be_bytes(),
            ]
            .concat(),
            "object array",
        ),
        // A proxy with 65535 interfaces.
        ([&STREAM_HEADER[..], &[TC_PROXYCLASSDESC], &0xFFFFi32.to_be_bytes()].concat(), "proxy"),
    ];
    for (bytes, what) in cases {
        let e = parse(&bytes).unwrap_err();
        assert!(e.offset <= bytes.len(), "{what}: {e}");
        assert!(
            matches!(
                e.kind,
                ParseErrorKind::Truncated { .. } | ParseErrorKind::TooLong { .. } | ParseErrorKind::ArrayTooLong { .. }
            ),
            "{what}: {e}"
        );
    }
}

#[test]
fn grammar_violations_are_typed_errors_at_their_offset() {
    let h = |rest: &[u8]| [&STREAM_HEADER[..], rest].concat();
    let check = |bytes: Vec<u8>, offset: usize, pred: fn(&ParseErrorKind) -> bool| {
        let e = parse(&bytes).unwrap_err();
        assert_eq!(e.offset, offset, "{e}");
        assert!(pred(&e.kind), "{e}");
    };
    check(vec![0xAC, 0xED, 0x00, 0x04], 0, |k| matches!(k, ParseErrorKind::BadHeader));
    check(h(&[0x71, 0x00, 0x7E, 0x00, 0x00]), 4, |k| {
        matches!(k, ParseErrorKind::BadHandle { handle: 0x7E0000, assigned: 0 })
    });
    check(h(&[0x78]), 4, |k| matches!(k, ParseErrorKind::UnexpectedTag { tag: 0x78, .. }));
    check(h(&[0x74, 0x00, 0x01, 0xF0]), 4, |k| matches!(k, ParseErrorKind::BadUtf { .. }));
    check(h(&[0x73, 0x70]), 5, |k| matches!(k, ParseErrorKind::MissingClassDesc { .. }));
    // An Externalizable class without SC_BLOCK_DATA (protocol 1).
    let mut p1 = h(&[0x73, 0x72, 0x00, 0x01, b'X']);
    p1.extend_from_slice(&[0; 8]);
    p1.extend_from_slice(&[SC_EXTERNALIZABLE, 0, 0, 0x78, 0x70]);
    check(p1, 4, |k| matches!(k, ParseErrorKind::ExternalizableProtocol1 { class } if class == "X"));
    // A primitive field after an object field.
    let mut order = h(&[0x72, 0x00, 0x01, b'Y']);
    order.extend_from_slice(&[0; 8]);
    order.extend_from_slice(&[SC_SERIALIZABLE, 0, 2, b'L', 0, 1, b'a', 0x74, 0, 1, b'L', b'I', 0, 1, b'b']);
    check(order, 27, |k| matches!(k, ParseErrorKind::FieldOrder { .. }));
    // TC_RESET inside an object annotation.
    let mut reset = h(&[0x73, 0x72, 0x00, 0x01, b'Z']);
    reset.extend_from_slice(&[0; 8]);
    reset.extend_from_slice(&[SC_SERIALIZABLE | SC_WRITE_METHOD, 0, 0, 0x78, 0x70, 0x79]);
    check(reset, 22, |k| matches!(k, ParseErrorKind::NestedReset));
    // A reference to a string where a class descriptor is needed.
    check(h(&[0x74, 0, 0, 0x73, 0x71, 0, 0x7E, 0, 0]), 8, |k| matches!(k, ParseErrorKind::WrongReference { .. }));
}

#[test]
fn a_filter_rejection_reports_the_innermost_place() {
    // TC_OBJECT of class A whose field `f` holds an object of class evil.B.
    let mut b = STREAM_HEADER.to_vec();
    b.extend_from_slice(&[0x73, 0x72, 0, 1, b'A']);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&[SC_SERIALIZABLE, 0, 1, b'L', 0, 1, b'f', 0x74, 0, 0x12]);
    b.extend_from_slice(b"Ljava/lang/Object;");
    b.extend_from_slice(&[0x78, 0x70]);
    let at = b.len() + 2;
    b.extend_from_slice(&[0x73, 0x72, 0, 6]);
    b.extend_from_slice(b"evil.B");
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&[SC_SERIALIZABLE, 0, 0, 0x78, 0x70]);
    parse(&b).unwrap();
    let opts = ParseOptions::with_filter(jser::ClassFilter::deny(r"evil\..*").unwrap());
    let e = parse_with(&b, &opts).unwrap_err();
    assert_eq!(e.offset, at);
    assert_eq!(
        e.kind,
        ParseErrorKind::ClassRejected {
            class: "evil.B".into(),
            reason: "matches the deny pattern",
            path: "contents[0] > field A.f > class of TC_OBJECT".into()
        }
    );
}
