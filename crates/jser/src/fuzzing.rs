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
    extract, parse, parse_with, ClassFilter, Content, DataReader, Item, Limits, ParseErrorKind, ParseOptions, Stream,
};

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
/// - writing the model gives back exactly `data`, and parsing that gives the same model;
/// - each of the first top-level values extracts to a standalone stream that parses, writes
///   itself again and names only classes of the original;
/// - a class filter either accepts the stream (same model) or rejects it with `ClassRejected`;
/// - the contents read through [`DataReader`] and [`Stream::dump`] without panicking.
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
    assert_eq!(parse_with(&again, &opts).as_ref(), Ok(&model), "re-parse gives the same model");

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
