//! Streams written by a real JVM (tests/java/jser/JserCorpus.java, JDK classes) and by each
//! pinned Tomcat release's own session-replication classes (tests/java/jser/tomcat/JserTomcat.java):
//! every one re-emits byte for byte and shows the expected classes; values extracted from them or
//! spliced together are read back by Java's `ObjectInputStream` and compared with fresh
//! originals (`JserCorpus check`).

use std::collections::HashMap;
use std::sync::OnceLock;

use jser::constants::*;
use jser::{
    extract, parse, parse_with, BlockData, ClassData, ClassDesc, ClassFilter, Content, DataReader, FieldDesc,
    FieldValue, Item, Object, ObjectData, ObjectWriter, ParseErrorKind, ParseOptions, Prim, Stream, Value,
};
use tomcat_harness::{run_java_script, tomcats};

struct Corpus {
    /// `NAME -> bytes`, in generator order.
    streams: Vec<(String, Vec<u8>)>,
    /// Value cases whose fresh instances compare equal in Java.
    checkable: Vec<String>,
    /// Streams of several value cases, with their names.
    seqs: Vec<(String, Vec<String>)>,
}

impl Corpus {
    fn get(&self, name: &str) -> &[u8] {
        &self.streams.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no stream {name}")).1
    }
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let out = run_java_script("run-jser.sh", &["jdk", "gen"], b"");
        let mut c = Corpus { streams: Vec::new(), checkable: Vec::new(), seqs: Vec::new() };
        for line in out.lines() {
            if let Some(name) = line.strip_prefix("#checkable ") {
                c.checkable.push(name.to_string());
            } else if let Some(rest) = line.strip_prefix("#seq ") {
                let (name, values) = rest.split_once(' ').expect("#seq NAME VALUES");
                c.seqs.push((name.to_string(), values.split(',').map(str::to_string).collect()));
            } else {
                let (name, hex) = line.split_once(' ').expect("NAME HEX");
                c.streams.push((name.to_string(), hex::decode(hex).expect("hex")));
            }
        }
        c
    })
}

/// Runs `JserCorpus check` on `(label, mode, names, stream)` cases; returns the failures.
fn java_check(cases: &[(String, &str, Vec<String>, Vec<u8>)]) -> Vec<String> {
    let mut input = String::new();
    for (label, mode, names, bytes) in cases {
        input.push_str(&format!("{label} {mode} {} {}\n", names.join(","), hex::encode(bytes)));
    }
    let out = run_java_script("run-jser.sh", &["jdk", "check"], input.as_bytes());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), cases.len(), "one answer per case:\n{out}");
    lines.iter().filter(|l| !l.starts_with("OK ")).map(|l| l.to_string()).collect()
}

#[test]
fn every_java_stream_re_emits_byte_for_byte() {
    let c = corpus();
    assert!(c.streams.len() >= 250, "{} streams", c.streams.len());
    let total: usize = c.streams.iter().map(|(_, b)| b.len()).sum();
    eprintln!("{} JDK streams, {total} bytes, {} checkable values", c.streams.len(), c.checkable.len());
    for (name, bytes) in &c.streams {
        let model = parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&model.write().unwrap_or_else(|e| panic!("{name}: {e}")), bytes, "{name}");
        assert_eq!(&model.tree().write().unwrap_or_else(|e| panic!("{name}: {e}")), bytes, "{name} (tree)");
        assert!(!model.dump().is_empty() || model.contents.is_empty(), "{name}");
        jser::fuzzing::tape_matches_tree(bytes);
    }
}

#[test]
fn the_model_names_the_classes_java_wrote() {
    let c = corpus();
    let expect: &[(&str, &[&str])] = &[
        ("v.str.ascii", &[]),
        ("v.int.1000", &["java.lang.Integer", "java.lang.Number"]),
        ("v.bigdec.pi", &["java.math.BigDecimal", "java.math.BigInteger", "[B"]),
        ("v.date.ts", &["java.util.Date"]),
        ("v.time.localdate", &["java.time.Ser"]),
        ("v.list.array.3", &["java.util.ArrayList", "java.lang.Integer"]),
        ("v.list.linked.3", &["java.util.LinkedList"]),
        ("v.map.hash.3", &["java.util.HashMap", "java.lang.Long"]),
        ("v.map.linked", &["java.util.LinkedHashMap", "java.util.HashMap"]),
        ("v.map.tree.comparator", &["java.util.TreeMap", "JserCorpus$RevCmp"]),
        ("v.set.hash.3", &["java.util.HashSet"]),
        (
            "v.set.enum",
            &["java.util.EnumSet$SerializationProxy", "JserCorpus$Color", "java.lang.Enum", "[Ljava.lang.Enum;"],
        ),
        ("v.enum.green-with-body", &["JserCorpus$Color", "java.lang.Enum"]),
        ("v.arr.int.7", &["[I"]),
        ("v.arr.int.2d", &["[[I", "[I"]),
        ("v.arr.byte.3d", &["[[[B", "[[B", "[B"]),
        ("v.arr.string.2d", &["[[Ljava.lang.String;", "[Ljava.lang.String;"]),
        ("v.user.custom", &["JserCorpus$WithCustom", "java.util.ArrayList"]),
        ("v.user.leaf", &["JserCorpus$Leaf", "JserCorpus$Mid", "JserCorpus$Base", "JserCorpus$Point"]),
        ("v.user.serchild", &["JserCorpus$SerChild"]),
        ("v.user.extpoint", &["JserCorpus$ExtPoint"]),
        ("v.user.inner", &["JserCorpus$Outer$Inner", "JserCorpus$Outer"]),
        ("v.user.nested-deeper", &["JserCorpus$Outer$Nested$Deeper"]),
        ("v.user.record", &["JserCorpus$Rec"]),
        (
            "v.user.proxy",
            &["JserCorpus$Greeter", "java.lang.Runnable", "java.lang.reflect.Proxy", "JserCorpus$Handler"],
        ),
        ("v.class.int", &["int"]),
        ("v.classdesc.point", &["JserCorpus$Point"]),
        ("v.exc.with-cause", &["java.io.IOException", "java.lang.IllegalArgumentException", "java.lang.Throwable"]),
        ("s.exception-in-field", &["JserCorpus$HasNonSer", "java.io.NotSerializableException"]),
    ];
    for (name, classes) in expect {
        let s = parse(c.get(name)).unwrap();
        let names = s.class_names();
        for class in *classes {
            assert!(names.iter().any(|n| n == class), "{name}: {class} not in {names:?}");
        }
    }
    // Top-level class names, and values of primitive and string fields.
    let s = parse(c.get("v.str.mixed")).unwrap();
    let v = s.values().next().unwrap();
    assert_eq!(s.class_name_of(v).as_deref(), Some("java.lang.String"));
    assert_eq!(s.string(v).as_deref(), Some("A\u{0}\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{1F600}"));
    let s = parse(c.get("v.str.long.emoji")).unwrap();
    let Some(Item::String(js)) = s.resolve(s.values().next().unwrap()) else { panic!() };
    assert!(js.long && js.text.len() == 66_000);
    let s = parse(c.get("v.user.allprims")).unwrap();
    let v = s.values().next().unwrap();
    assert_eq!(s.field(v, "b").and_then(FieldValue::as_prim), Some(Prim::Byte(-5)));
    assert_eq!(s.field(v, "c").and_then(FieldValue::as_prim), Some(Prim::Char(0xe9)));
    assert_eq!(s.field(v, "d").and_then(FieldValue::as_prim), Some(Prim::Double(-2.5e-300)));
    assert_eq!(s.field(v, "f").and_then(FieldValue::as_prim), Some(Prim::Float(3.25)));
    assert_eq!(s.field(v, "i").and_then(FieldValue::as_i32), Some(-123456));
    assert_eq!(s.field(v, "j").and_then(FieldValue::as_i64), Some(0x0123456789ABCDEF));
    assert_eq!(s.field(v, "s").and_then(FieldValue::as_prim), Some(Prim::Short(-32000)));
    assert_eq!(s.field(v, "z").and_then(FieldValue::as_bool), Some(true));
    assert_eq!(s.string(s.field(v, "str").and_then(FieldValue::as_value).unwrap()).as_deref(), Some("field string"));
    assert_eq!(s.field(v, "nothing").and_then(FieldValue::as_value), Some(&Value::Null));
    let d = s.class_of(v).unwrap();
    assert_eq!(d.flags(), SC_SERIALIZABLE);
    let s = parse(c.get("v.user.point")).unwrap();
    assert_eq!(s.class_of(s.values().next().unwrap()).unwrap().uid(), Some(7));
    // A TC_CLASS of a primitive class has a descriptor with flags 0.
    let s = parse(c.get("v.class.int")).unwrap();
    assert_eq!(s.class_of(s.values().next().unwrap()).unwrap().flags(), 0);
}

#[test]
fn block_data_resets_and_exceptions_read_as_java_wrote_them() {
    let c = corpus();
    let s = parse(c.get("s.blockdata-big")).unwrap();
    let sizes: Vec<(usize, bool)> = s
        .contents
        .iter()
        .filter_map(|c| if let Content::Block(b) = c { Some((b.bytes.len(), b.long)) } else { None })
        .collect();
    assert_eq!(sizes, vec![(1024, true), (1024, true), (1024, true), (1024, true), (904, true)]);
    let mut r = DataReader::new(&s.contents);
    for i in 0..1250 {
        assert_eq!(r.read_i32().unwrap(), i);
    }
    assert_eq!(s.string(r.read_value().unwrap()).as_deref(), Some("after"));

    let s = parse(c.get("s.blockdata-utf-straddle")).unwrap();
    let mut r = DataReader::new(&s.contents);
    let mut skip = [0; 1022];
    r.read_exact(&mut skip).unwrap();
    assert_eq!(r.read_utf().unwrap().to_string_lossy(), "hello straddling world");

    let s = parse(c.get("s.reset")).unwrap();
    assert!(matches!(s.contents[1], Content::Reset));
    assert_eq!(s.class_names(), vec!["JserCorpus$Point"]);
    assert_eq!(
        s.items.iter().filter(|i| matches!(i, Item::ClassDesc(_))).count(),
        2,
        "descriptor rewritten after reset"
    );

    for name in [
        "s.exception-in-field",
        "s.exception-at-top",
        "s.exception-in-writeobject",
        "s.exception-in-array",
        "s.exception-in-list",
    ] {
        let s = parse(c.get(name)).unwrap();
        let aborted = s.values().filter(|v| extract(&s, v).is_err()).count();
        assert_eq!(aborted, 1, "{name}: one aborted value");
    }
    // The exception inside writeObject data comes after the block data flushed before it.
    let s = parse(c.get("s.exception-in-writeobject")).unwrap();
    let v = s.values().find(|v| s.class_name_of(v).as_deref() == Some("JserCorpus$FailsInWriteObject")).unwrap();
    let ClassData { annotation: Some(ann), .. } = s.class_data(v, "FailsInWriteObject").unwrap() else { panic!() };
    assert!(matches!(&ann[0], Content::Block(b) if b.bytes == 1234i32.to_be_bytes()));
    assert!(matches!(&ann[2], Content::Value(Value::Exception(_))));
}

#[test]
fn every_value_extracts_to_the_stream_java_writes_for_it_alone() {
    let c = corpus();
    for (name, bytes) in &c.streams {
        let s = parse(bytes).unwrap();
        if name.starts_with("v.") {
            let v = s.values().next().unwrap();
            assert_eq!(&extract(&s, v).unwrap_or_else(|e| panic!("{name}: {e}")), bytes, "{name}");
        } else {
            for (i, v) in s.values().enumerate() {
                let Ok(alone) = extract(&s, v) else { continue };
                let again = parse(&alone).unwrap_or_else(|e| panic!("{name}[{i}]: {e}"));
                assert_eq!(again.write().unwrap(), alone);
            }
        }
    }
}

#[test]
fn spliced_and_extracted_values_read_back_equal_in_java() {
    let c = corpus();
    let mut cases: Vec<(String, &str, Vec<String>, Vec<u8>)> = Vec::new();

    // (a) Standalone value streams embedded one after another: references move up.
    for (i, chunk) in c.checkable.chunks(9).enumerate() {
        let mut w = ObjectWriter::new();
        for (j, name) in chunk.iter().enumerate() {
            if j == 4 {
                w.reset(); // handles restart; later values are numbered from 0 again
            }
            let before = w.handles();
            w.embed(c.get(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(w.handles() >= before);
        }
        cases.push((format!("seq-{i}"), "seq", chunk.to_vec(), w.finish()));
    }

    // The same values twice in one stream, the second time behind the first's handles.
    let names: Vec<String> = c.checkable.iter().filter(|n| n.starts_with("v.user.")).cloned().collect();
    let mut w = ObjectWriter::new();
    for name in names.iter().chain(names.iter()) {
        w.embed(c.get(name)).unwrap();
    }
    cases.push(("seq-users-twice".into(), "seq", names.iter().chain(names.iter()).cloned().collect(), w.finish()));

    // (b) Values imported into a model as the elements of a java.util.ArrayList.
    for (i, chunk) in c.checkable.chunks(25).enumerate() {
        let sources: Vec<Stream> = chunk.iter().map(|n| parse(c.get(n)).unwrap()).collect();
        let mut s = Stream::new();
        let desc = s.push(Item::ClassDesc(ClassDesc::class(
            "java.util.ArrayList",
            0x7881D21D99C7619D,
            SC_SERIALIZABLE | SC_WRITE_METHOD,
            vec![FieldDesc { type_code: b'I', name: "size".into(), class_name: None }],
            Value::Null,
        )));
        let mut annotation = vec![Content::Block(BlockData::new((chunk.len() as i32).to_be_bytes().to_vec()))];
        for src in &sources {
            let v = s.import(src, src.values().next().unwrap()).unwrap();
            annotation.push(Content::Value(v));
        }
        let list = s.push(Item::Object(Object {
            class: Value::New(desc),
            data: ObjectData::Serial(vec![ClassData {
                values: vec![FieldValue::Prim(Prim::Int(chunk.len() as i32))],
                annotation: Some(annotation),
            }]),
        }));
        s.contents.push(Content::Value(Value::New(list)));
        let bytes = s.write().unwrap();
        assert_eq!(parse(&bytes).unwrap().write().unwrap(), bytes);
        cases.push((format!("list-{i}"), "list", chunk.to_vec(), bytes));
    }

    // (c) Values extracted from Java streams where they refer back to earlier values' handles,
    // each alone and all re-spliced into one stream.
    for (seq, names) in &c.seqs {
        let s = parse(c.get(seq)).unwrap();
        let values: Vec<&Value> = s.values().collect();
        assert_eq!(values.len(), names.len(), "{seq}");
        let mut w = ObjectWriter::new();
        for (i, (v, name)) in values.iter().zip(names).enumerate() {
            let alone = extract(&s, v).unwrap_or_else(|e| panic!("{seq}[{i}]: {e}"));
            cases.push((format!("extract-{seq}-{i}"), "seq", vec![name.clone()], alone.clone()));
            w.embed(&alone).unwrap();
        }
        cases.push((format!("respliced-{seq}"), "seq", names.clone(), w.finish()));
        // ObjectWriter::write_value straight from the model gives the same bytes.
        let mut direct = ObjectWriter::new();
        for v in &values {
            direct.write_value(&s, v).unwrap();
        }
        let mut again = ObjectWriter::new();
        for v in &values {
            again.embed(&extract(&s, v).unwrap()).unwrap();
        }
        assert_eq!(direct.finish(), again.finish(), "{seq}");
    }

    // A control: the checker does notice a wrong value.
    cases.push(("control-mismatch".into(), "seq", vec!["v.int.0".into()], c.get("v.int.1").to_vec()));

    let mut failures = java_check(&cases);
    assert!(failures.last().is_some_and(|f| f.starts_with("FAIL control-mismatch")), "{failures:?}");
    failures.pop();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn limits_and_the_firewall_apply_to_java_streams() {
    let c = corpus();
    let tomcat_default = ClassFilter::allow(r"java\.lang\.(?:Boolean|Integer|Long|Number|String)").unwrap();
    let opts = ParseOptions::with_filter(tomcat_default);
    parse_with(c.get("v.int.1000"), &opts).unwrap();
    parse_with(c.get("v.arr.string.7"), &opts).unwrap();
    let reject = |name: &str, opts: &ParseOptions| match parse_with(c.get(name), opts) {
        Err(e) => match e.kind {
            ParseErrorKind::ClassRejected { class, path, .. } => (class, path),
            other => panic!("{name}: {other}"),
        },
        Ok(_) => panic!("{name} passed the filter"),
    };
    assert_eq!(reject("v.user.point", &opts).0, "JserCorpus$Point");
    assert_eq!(reject("v.arr.point", &opts).0, "JserCorpus$Point");
    assert_eq!(reject("v.enum.red", &opts).0, "JserCorpus$Color");
    let (class, path) = reject("v.user.proxy", &opts);
    assert_eq!(class, "JserCorpus$Greeter");
    assert!(path.contains("proxy interface"), "{path}");
    let (class, path) = reject("v.list.array.3", &opts);
    assert_eq!(class, "java.util.ArrayList");
    assert_eq!(path, "contents[0] > class of TC_OBJECT");
    // A denied class deep inside a value names the way to it.
    let deny = ParseOptions::with_filter(ClassFilter::deny(r"JserCorpus\$Point").unwrap());
    let (_, path) = reject("v.user.map-of-users", &deny);
    assert!(path.contains("field JserCorpus$Leaf.where"), "{path}");
    // Limits.
    let mut small = ParseOptions::default();
    small.limits.max_depth = 20;
    assert!(matches!(
        parse_with(c.get("v.ref.node.chain50"), &small).unwrap_err().kind,
        ParseErrorKind::TooDeep { .. }
    ));
    small.limits = Default::default();
    small.limits.max_array_len = 100;
    assert!(matches!(
        parse_with(c.get("v.arr.int.300"), &small).unwrap_err().kind,
        ParseErrorKind::ArrayTooLong { .. }
    ));
    small.limits = Default::default();
    small.limits.max_string_len = 65536;
    assert!(matches!(parse_with(c.get("v.str.long.70000"), &small).unwrap_err().kind, ParseErrorKind::TooLong { .. }));
    small.limits = Default::default();
    small.limits.max_handles = 10;
    assert!(matches!(
        parse_with(c.get("s.many-points"), &small).unwrap_err().kind,
        ParseErrorKind::TooManyHandles { .. }
    ));
    small.limits = Default::default();
    small.limits.max_total_bytes = 1000;
    assert!(matches!(
        parse_with(c.get("v.arr.byte.5000"), &small).unwrap_err().kind,
        ParseErrorKind::StreamTooLong { .. }
    ));
}

#[test]
fn tomcat_session_messages_and_delta_requests_re_emit_for_every_release() {
    let mut state_lengths = Vec::new();
    for t in tomcats() {
        let home = t.home.to_str().expect("utf-8 path");
        let out = run_java_script("run-jser.sh", &[home, "gen"], b"");
        let streams: HashMap<String, Vec<u8>> = out
            .lines()
            .map(|l| {
                let (n, h) = l.split_once(' ').expect("NAME HEX");
                (n.to_string(), hex::decode(h).expect("hex"))
            })
            .collect();
        assert_eq!(streams.len(), 15, "{}", t.version);
        // Session state: 10.1 and 11.0 write the two authentication notes (TC_NULL TC_NULL) after
        // each id, 9.0 does not; both forms re-emit (checked with every stream below).
        let one = parse(&streams["t.state.one"]).unwrap();
        let names = one.class_names();
        assert!(
            names.iter().any(|n| n == "java.lang.Long") && names.iter().any(|n| n == "java.lang.Integer"),
            "{names:?}"
        );
        let three = parse(&streams["t.state.three"]).unwrap();
        assert!(
            three.class_names().iter().any(|n| n.ends_with("GenericPrincipal$SerializablePrincipal")),
            "{}",
            t.version
        );
        state_lengths.push((t.line().to_string(), streams["t.state.one"].len()));
        let total: usize = streams.values().map(Vec::len).sum();
        eprintln!("Tomcat {}: {} streams, {total} bytes", t.version, streams.len());
        for (name, bytes) in &streams {
            let s = parse(bytes).unwrap_or_else(|e| panic!("{} {name}: {e}", t.version));
            assert_eq!(&s.write().unwrap(), bytes, "{} {name}", t.version);
            jser::fuzzing::tape_matches_tree(bytes);
        }

        let s = parse(&streams["t.msg.delta"]).unwrap();
        let msg = s.values().next().unwrap();
        assert_eq!(s.class_name_of(msg).as_deref(), Some("org.apache.catalina.ha.session.SessionMessageImpl"));
        assert_eq!(s.field(msg, "mEvtType").and_then(FieldValue::as_i32), Some(13));
        assert_eq!(s.field(msg, "serializationTimestamp").and_then(FieldValue::as_i64), Some(1_700_000_000_000));
        let inner = s.bytes(s.field(msg, "mSession").and_then(FieldValue::as_value).unwrap()).unwrap();
        assert_eq!(inner, &streams["t.delta.actions"][..]);

        // DeltaRequest.writeExternal, read as DeltaRequest.readExternal does.
        let d = parse(inner).unwrap();
        let mut r = DataReader::new(&d.contents);
        assert_eq!(r.read_utf().unwrap().to_string_lossy(), "0123456789ABCDEF0123456789ABCDEF");
        r.read_bool().unwrap();
        let n = r.read_i32().unwrap();
        let mut names = Vec::new();
        for _ in 0..n {
            let (_ty, _action, name, has) =
                (r.read_i32().unwrap(), r.read_i32().unwrap(), r.read_utf().unwrap(), r.read_bool().unwrap());
            if has {
                let v = r.read_value().unwrap();
                names.push((name.to_string_lossy(), d.class_name_of(v)));
            } else {
                names.push((name.to_string_lossy(), None));
            }
        }
        assert!(r.at_end());
        let find = |n: &str| names.iter().find(|(x, _)| x == n).map(|(_, c)| c.clone());
        assert_eq!(find("user"), Some(Some("java.lang.String".into())));
        assert_eq!(find("when"), Some(Some("java.util.Date".into())));
        assert_eq!(find("list"), Some(Some("java.util.ArrayList".into())));
        assert_eq!(find("cart"), Some(None));
        assert_eq!(find("__SET__AUTHTYPE__"), Some(Some("java.lang.String".into())));

        let p = parse(&streams["t.delta.principal"]).unwrap();
        assert!(p
            .class_names()
            .contains(&"org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal".to_string()));
        let m = parse(&streams["t.member"]).unwrap();
        assert_eq!(m.class_of(m.values().next().unwrap()).unwrap().flags(), SC_EXTERNALIZABLE | SC_BLOCK_DATA);
        let rpc = parse(&streams["t.rpc.member"]).unwrap();
        assert!(rpc.class_names().contains(&"org.apache.catalina.tribes.membership.MemberImpl".to_string()));

        // Tomcat's filter for session attribute values passes the delta request's values.
        let filter =
            ClassFilter::allow(r"java\.lang\.(?:Boolean|Integer|Long|Number|String)|java\.util\.(?:ArrayList|Date)")
                .unwrap();
        parse_with(inner, &ParseOptions::with_filter(filter.clone())).unwrap();
        assert!(parse_with(&streams["t.delta.principal"], &ParseOptions::with_filter(filter)).is_err());
    }
    // Both session-state forms: 10.1 and 11.0 add two TC_NULL authentication notes per session.
    let len = |line: &str| state_lengths.iter().find(|(l, _)| l == line).map(|(_, n)| *n);
    if let (Some(old), Some(new)) = (len("9.0"), len("10.1")) {
        assert_eq!(new, old + 2, "10.1 writes the two notes that 9.0 leaves out");
    }
    assert_eq!(len("10.1"), len("11.0"));
}
