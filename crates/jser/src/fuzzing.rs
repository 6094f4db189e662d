//! Fuzzing entry points, taking arbitrary bytes.
//!
//! Every function here must return normally for any input; a panic is a bug, either in the
//! reader/writer or a broken invariant (checked with `assert!`). They are called by the cargo-fuzz
//! target `fuzz/fuzz_targets/jser_stream.rs` and by the proptest properties in
//! `tests/properties.rs`, so a crash found by either reproduces with the other:
//! `jser::fuzzing::stream(&bytes)`.
//!
//! Not part of the crate's API: hidden from the docs and free to change.

use crate::{
    extract, extract_model, parse, parse_with, ClassFilter, Content, DataReader, Extractor, FieldValue, Flat, Item,
    Limits, ParseErrorKind, ParseOptions, Stream, TapeField, TapeReader, TapeValue, Value,
};

/// How many trees this thread has built from tapes (for tests that a path reads the tape only).
pub fn trees_built() -> u64 {
    crate::flat::TREES_BUILT.try_with(|n| n.get()).unwrap_or(0)
}

/// The limits the fuzz entry point reads with: small, so that every limit is within reach.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_depth: 64,
        max_handles: 4096,
        max_array_len: 1 << 16,
        max_string_len: 1 << 16,
        max_total_bytes: 1 << 20,
    }
}

/// Reads `data` as a stream and checks, when it parses:
/// - writing the model gives back exactly `data`, from the tape and from the tree built from
///   it, and parsing that gives the same model;
/// - each of the first top-level values extracts to a standalone stream that parses, writes
///   itself again and names only classes of the original;
/// - a class filter either accepts the stream (same model) or rejects it with `ClassRejected`;
/// - the contents read through [`DataReader`] and [`crate::Tree::dump`] without panicking;
/// - the tape readers ([`TapeReader`], [`TapeValue`], [`Extractor`]) give what the tree
///   readers give.
///
/// When it does not parse, the error's offset is within `data`.
pub fn stream(data: &[u8]) {
    let opts = ParseOptions { limits: fuzz_limits(), filter: None };
    let model = match parse_with(data, &opts) {
        Ok(m) => m,
        Err(e) => {
            assert!(e.offset <= data.len(), "error offset {} past the end ({} bytes): {e}", e.offset, data.len());
            return;
        }
    };
    within_limits(&model, &opts.limits);
    let again = model.write().expect("a parsed model writes");
    assert_eq!(again, data, "a parsed stream re-emits byte for byte");
    // The tape and the tree built from it are the same stream.
    let flat = model.flat().expect("a parsed stream is a tape");
    assert_eq!(model.tree().write().expect("the tree writes"), data, "the tree re-emits byte for byte");
    assert_eq!(flat.top_level().count(), model.contents.len(), "the tape skips as the tree nests");
    assert_eq!(parse_with(&again, &opts).as_ref(), Ok(&model), "re-parse gives the same model");

    tape_agrees(flat, &model, opts.limits.max_depth, 16);

    let names = model.class_names();
    for v in model.values().take(16) {
        let Ok(bytes) = extract(&model, v) else { continue };
        let standalone = parse(&bytes).expect("an extracted value parses");
        assert_eq!(standalone.write().expect("writes"), bytes, "an extracted value re-emits");
        assert_eq!(standalone.values().count(), 1, "an extracted stream holds one value");
        for n in standalone.class_names() {
            assert!(names.contains(&n), "extracted class {n} not in the original");
        }
    }

    let filter = ClassFilter::deny(r".*[Ee]vil.*|\[*L?x.*").expect("pattern compiles");
    match parse_with(data, &ParseOptions { limits: fuzz_limits(), filter: Some(filter) }) {
        Ok(m) => assert_eq!(m, model, "a filter does not change what is read"),
        Err(e) => assert!(matches!(e.kind, ParseErrorKind::ClassRejected { .. }), "filtered parse failed with {e}"),
    }

    walk(&model, &model.contents);
    let _ = model.dump();
}

/// What the limits promise about a parsed model.
pub fn within_limits(model: &Stream, limits: &Limits) {
    assert!(model.items.len() <= limits.max_handles, "{} items", model.items.len());
    for item in &model.items {
        match item {
            Item::Array(a) => assert!(a.elements.len() <= limits.max_array_len, "array of {}", a.elements.len()),
            Item::String(s) => assert!(s.text.len() <= limits.max_string_len.max(0xFFFF), "string of {}", s.text.len()),
            _ => {}
        }
    }
    for c in &model.contents {
        if let Content::Block(b) = c {
            assert!(b.bytes.len() <= limits.max_string_len.max(0xFF), "block of {}", b.bytes.len());
        }
    }
}

fn walk(model: &Stream, contents: &[Content]) {
    let mut r = DataReader::new(contents);
    for _ in 0..contents.len() + 1 {
        if r.read_i32().is_err() && r.read_utf().is_err() && r.read_u8().is_err() {
            match r.read_value() {
                Ok(v) => {
                    let _ = model.class_name_of(v);
                    let _ = model.string(v);
                    let _ = model.field(v, "value");
                }
                Err(_) => break,
            }
        }
    }
}

/// Parses `data` with the default limits and checks that the tape readers give what the tree
/// readers give, for every top-level value (for corpora of real streams).
pub fn tape_matches_tree(data: &[u8]) {
    let model = parse(data).expect("the stream parses");
    let flat = model.flat().expect("a parsed stream is a tape");
    tape_agrees(flat, &model, Limits::default().max_depth, usize::MAX);
}

/// Whether a tape value and a tree value are the same value.
fn same_value(t: TapeValue<'_>, v: &Value) -> bool {
    t.item() == v.item() && t.is_null() == v.is_null() && t.is_exception() == matches!(v, Value::Exception(_))
}

/// The tape readers agree with the tree readers on every top-level value and on the block data.
fn tape_agrees(flat: &Flat, model: &Stream, max_depth: usize, values: usize) {
    let tree_values: Vec<&Value> = model.values().collect();
    let tape_values: Vec<TapeValue<'_>> = flat.values().collect();
    assert_eq!(tape_values.len(), tree_values.len(), "the tape has the tree's top-level values");
    let mut extractor = Extractor::new(flat);
    for (t, v) in tape_values.iter().zip(&tree_values).take(values) {
        assert!(same_value(*t, v), "top-level value {t:?} is {v:?}");
        assert_eq!(t.class_name(), model.class_name_of(v), "class name of {v:?}");
        assert_eq!(t.string(), model.string(v), "string of {v:?}");
        assert_eq!(t.byte_array(), model.bytes(v), "byte[] of {v:?}");
        if let Some(name) = model.class_name_of(v) {
            assert!(t.class_is(&name), "class_is {name}");
        }
        for name in ["value", "a", "b", "x", "Object.value"] {
            match (t.field(name), model.field(v, name)) {
                (None, None) => {}
                (Some(TapeField::Prim(p)), Some(FieldValue::Prim(q))) => assert_eq!(p, *q, "field {name}"),
                (Some(TapeField::Object(a)), Some(FieldValue::Object(b))) => assert!(same_value(a, b), "field {name}"),
                (a, b) => panic!("field {name} of {v:?}: tape {a:?}, tree {b:?}"),
            }
        }
        let tree = extract_model(model, v, max_depth).map(|m| m.write().expect("an extracted model writes"));
        match (extractor.extract(*t, max_depth), tree) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the tape and the tree extract {v:?} alike"),
            (Err(a), Err(b)) => assert_eq!(a, b, "the tape and the tree fail alike on {v:?}"),
            (a, b) => panic!("extracting {v:?}: tape {a:?}, tree {b:?}"),
        }
    }
    let mut r = DataReader::new(&model.contents);
    let mut tr = TapeReader::new(flat);
    for _ in 0..model.contents.len() + 1 {
        assert_eq!(tr.remaining_data(), r.remaining_data(), "remaining data");
        let a = r.read_i32();
        assert_eq!(tr.read_i32(), a, "read_i32");
        if a.is_ok() {
            continue;
        }
        let a = r.read_utf();
        assert_eq!(tr.read_utf(), a, "read_utf");
        if a.is_ok() {
            continue;
        }
        let a = r.read_u8();
        assert_eq!(tr.read_u8(), a, "read_u8");
        if a.is_ok() {
            continue;
        }
        match (tr.read_value(), r.read_value()) {
            (Ok(t), Ok(v)) => assert!(same_value(t, v), "read_value {t:?} is {v:?}"),
            (Err(a), Err(b)) => {
                assert_eq!(a, b, "read_value fails alike");
                break;
            }
            (a, b) => panic!("read_value: tape {a:?}, tree {b:?}"),
        }
        assert_eq!(tr.at_end(), r.at_end(), "at_end");
        assert_eq!(tr.index(), r.index(), "index");
    }
}
