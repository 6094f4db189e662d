//! The Java streams of `shared/spec/test-vectors.md` §4–§6 (written by Tomcat 9.0.70/10.1.60 on
//! JDK 17): each re-emits byte for byte, and the model shows what the spec says is in them.

use jser::constants::*;
use jser::{
    extract, parse, parse_with, ClassFilter, Content, DataReader, Elements, Item, ObjectData, ParseErrorKind,
    ParseOptions, Prim, Stream, Value,
};

fn vectors() -> Vec<(String, Vec<u8>)> {
    include_str!("data/spec-vectors.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, hex) = l.split_once(' ').expect("NAME HEX");
            (name.to_string(), hex::decode(hex.trim()).expect("hex"))
        })
        .collect()
}

fn vector(prefix: &str) -> Vec<u8> {
    vectors().into_iter().find(|(n, _)| n.starts_with(prefix)).unwrap_or_else(|| panic!("no vector {prefix}")).1
}

#[test]
fn every_spec_vector_re_emits_byte_for_byte() {
    let all = vectors();
    assert_eq!(all.len(), 19);
    for (name, bytes) in all {
        let model = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.write().expect("writes"), bytes, "{name}");
    }
}

#[test]
fn session_message_fields_and_the_nested_delta_request_are_walkable() {
    let s = parse(&vector("s4.7.")).unwrap();
    let msg = s.values().next().unwrap();
    assert_eq!(s.class_name_of(msg).as_deref(), Some("org.apache.catalina.ha.session.SessionMessageImpl"));
    let d = s.class_of(msg).unwrap();
    assert_eq!(d.uid(), Some(2));
    assert_eq!(s.class_desc(&d.super_class).unwrap().uid(), Some(1));
    assert_eq!(s.field(msg, "mEvtType").and_then(|f| f.as_i32()), Some(13));
    assert_eq!(s.field(msg, "serializationTimestamp").and_then(|f| f.as_i64()), Some(1_700_000_000_000));
    assert_eq!(s.field(msg, "timestampSet").and_then(|f| f.as_bool()), Some(true));
    assert_eq!(s.field(msg, "ClusterMessageBase.timestamp").and_then(|f| f.as_i64()), Some(0));
    let ctx = s.field(msg, "mContextName").and_then(|f| f.as_value()).unwrap();
    assert_eq!(s.string(ctx).as_deref(), Some("/app"));
    let unique = s.field(msg, "uniqueId").and_then(|f| f.as_value()).unwrap();
    assert!(s.string(unique).unwrap().ends_with("-1700000000000"));

    // mSession is a stream of its own: DeltaRequest.writeExternal on a fresh ObjectOutputStream.
    let inner_bytes = s.bytes(s.field(msg, "mSession").and_then(|f| f.as_value()).unwrap()).unwrap();
    assert_eq!(inner_bytes, &vector("s4.3.")[..]);
    let inner = parse(inner_bytes).unwrap();
    let mut r = DataReader::new(&inner.contents);
    assert_eq!(r.read_utf().unwrap().to_string_lossy(), "0123456789ABCDEF0123456789ABCDEF");
    assert!(!r.read_bool().unwrap());
    let actions = r.read_i32().unwrap();
    assert_eq!(actions, 5);
    let mut seen = Vec::new();
    for _ in 0..actions {
        let (ty, action, name, has_value) =
            (r.read_i32().unwrap(), r.read_i32().unwrap(), r.read_utf().unwrap(), r.read_bool().unwrap());
        let value = if has_value { Some(r.read_value().unwrap()) } else { None };
        let shown = value.map(|v| {
            inner.string(v).or_else(|| inner.field(v, "value").map(|f| format!("{:?}", f.as_prim().unwrap())))
        });
        seen.push((ty, action, name.to_string_lossy(), shown.flatten()));
    }
    assert!(r.at_end());
    assert_eq!(
        seen,
        vec![
            (0, 0, "user".into(), Some("alice".into())),
            (3, 0, "__SET__MAXINTERVAL__".into(), Some(format!("{:?}", Prim::Int(1800)))),
            (2, 0, "__SET__ISNEW__".into(), Some(format!("{:?}", Prim::Boolean(0)))),
            (0, 1, "cart".into(), None),
            (0, 0, "count".into(), Some(format!("{:?}", Prim::Int(7)))),
        ]
    );
}

#[test]
fn the_aborted_attribute_keeps_its_partial_object_and_handles_restart_after_the_exception() {
    let bytes = vector("s6.18.");
    let s = parse(&bytes).unwrap();
    // Find the top-level value holding the exception: the partial Vec3$Bad object.
    let bad = s
        .values()
        .find(|v| s.class_name_of(v).as_deref() == Some("org.apache.catalina.ha.session.Vec3$Bad"))
        .expect("the partial object is a top-level value");
    let o = s.object(bad).unwrap();
    let ObjectData::Serial(levels) = &o.data else { panic!("serializable") };
    let Some(Value::Exception(exc)) = levels[0].values[0].as_value() else { panic!("field o holds the exception") };
    assert_eq!(s.class_name_of(exc).as_deref(), Some("java.io.NotSerializableException"));
    let msg = s.field(exc, "detailMessage").and_then(|f| f.as_value()).unwrap();
    assert_eq!(s.string(msg).as_deref(), Some("java.lang.Object"));
    // After the exception the Integer descriptor is written again (fresh handle table).
    let last = s.values().last().unwrap();
    assert!(s.class_of(last).is_some());
    let Some(Value::New(_)) = s.object(last).map(|o| &o.class) else { panic!("a new descriptor, not a reference") };
    assert_eq!(s.field(last, "value").and_then(|f| f.as_i32()), Some(0));
    // The aborted value cannot be extracted; the others can.
    assert!(extract(&s, bad).is_err());
    for v in s.values().filter(|v| *v != bad) {
        let standalone = extract(&s, v).unwrap();
        assert_eq!(parse(&standalone).unwrap().write().unwrap(), standalone);
    }
}

#[test]
fn enums_custom_write_objects_and_int_arrays_in_a_delta_request() {
    let s = parse(&vector("s6.19.")).unwrap();
    let values: Vec<&Value> = s.values().collect();
    assert_eq!(values.len(), 3);
    let Some(Item::Enum(e)) = s.resolve(values[0]) else { panic!("enum") };
    assert_eq!(s.string(&e.name).as_deref(), Some("GREEN"));
    let d = s.class_desc(&e.class).unwrap();
    assert_eq!(d.flags(), SC_SERIALIZABLE | SC_ENUM);
    assert_eq!(s.class_desc(&d.super_class).unwrap().name().unwrap().to_string_lossy(), "java.lang.Enum");
    let custom = s.class_data(values[1], "org.apache.catalina.ha.session.Vec3$Custom").unwrap();
    let ann = custom.annotation.as_ref().unwrap();
    assert!(matches!(&ann[0], Content::Block(b) if b.bytes == [0, 0, 0, 0x2a]));
    assert!(matches!(&ann[1], Content::Value(v) if s.string(v).as_deref() == Some("extra")));
    assert_eq!(s.array(values[2]).unwrap().elements, Elements::Int(vec![1, 2]));
}

#[test]
fn externalizable_members_and_rpc_messages_keep_their_external_data() {
    let s = parse(&vector("s5.16.")).unwrap();
    let m = s.values().next().unwrap();
    let Some(Item::Object(o)) = s.resolve(m) else { panic!() };
    let ObjectData::External(c) = &o.data else { panic!("external data") };
    let mut r = DataReader::new(c);
    let len = r.read_i32().unwrap();
    assert_eq!(len, 0x4D);
    let mut packet = vec![0; len as usize];
    r.read_exact(&mut packet).unwrap();
    assert!(packet.starts_with(b"TRIBES-B"));
    assert_eq!(s.class_of(m).unwrap().flags(), SC_EXTERNALIZABLE | SC_BLOCK_DATA);
}

#[test]
fn the_firewall_names_the_class_and_where_it_was_found() {
    let allow = r"java\.lang\.(?:Boolean|Integer|Long|Number|String)";
    let opts = ParseOptions::with_filter(ClassFilter::allow(allow).unwrap());
    // A session stream of only boxed values and strings passes.
    parse_with(&vector("s4.10."), &opts).unwrap();
    // The §6 stream holds Vec3$Bad as an attribute value.
    let e = parse_with(&vector("s6.18."), &opts).unwrap_err();
    match &e.kind {
        ParseErrorKind::ClassRejected { class, path, .. } => {
            assert_eq!(class, "org.apache.catalina.ha.session.Vec3$Bad");
            assert!(path.starts_with("contents["), "{path}");
        }
        other => panic!("{other:?}"),
    }
    let bytes = vector("s6.18.");
    assert_eq!(&bytes[e.offset..e.offset + 2], &[0x00, 0x27], "offset of the class name");
    // A superclass is checked too: allowing only Integer rejects java.lang.Number.
    let only_integer = ParseOptions::with_filter(ClassFilter::allow(r"java\.lang\.Integer").unwrap());
    let e = parse_with(&vector("s4.9."), &only_integer).unwrap_err();
    assert!(
        matches!(&e.kind, ParseErrorKind::ClassRejected { class, path, .. }
        if class == "java.lang.Number" && path.contains("superclass")),
        "{e}"
    );
    // Array element classes: [Ljava.lang.String; checks java.lang.String.
    let deny_string = ParseOptions::with_filter(ClassFilter::deny(r"java\.lang\.String").unwrap());
    let e = parse_with(&vector("s4.5."), &deny_string).unwrap_err();
    assert!(matches!(&e.kind, ParseErrorKind::ClassRejected { class, .. } if class == "java.lang.String"), "{e}");
}

#[test]
fn every_prefix_of_a_vector_is_an_error_inside_the_input_never_a_panic() {
    for (name, bytes) in vectors() {
        for cut in 0..bytes.len() {
            match parse(&bytes[..cut]) {
                Ok(s) => assert_eq!(s.write().unwrap(), &bytes[..cut], "{name} cut at {cut}"),
                Err(e) => assert!(e.offset <= cut, "{name} cut at {cut}: {e}"),
            }
        }
    }
}

#[test]
fn a_model_built_by_hand_writes_what_tomcat_writes() {
    // The 81-byte "zero sessions" stream: one Integer(0).
    let mut s = Stream::new();
    let number = s.push(Item::ClassDesc(jser::ClassDesc::class(
        "java.lang.Number",
        0x86AC951D0B94E08Bu64 as i64,
        SC_SERIALIZABLE,
        vec![],
        Value::Null,
    )));
    let integer = s.push(Item::ClassDesc(jser::ClassDesc::class(
        "java.lang.Integer",
        0x12E2A0A4F7818738,
        SC_SERIALIZABLE,
        vec![jser::FieldDesc { type_code: b'I', name: "value".into(), class_name: None }],
        Value::New(number),
    )));
    let obj = s.push(Item::Object(jser::Object {
        class: Value::New(integer),
        data: ObjectData::Serial(vec![
            jser::ClassData { values: vec![], annotation: None },
            jser::ClassData { values: vec![jser::FieldValue::Prim(Prim::Int(0))], annotation: None },
        ]),
    }));
    s.contents.push(Content::Value(Value::New(obj)));
    assert_eq!(s.write().unwrap(), vector("s4.9."));
}

#[test]
fn the_listing_shows_fields_references_and_the_exception() {
    let d = parse(&vector("s6.18.")).unwrap().dump();
    assert!(d.contains("TC_EXCEPTION (the value being written ends here)"), "{d}");
    assert!(d.contains("org.apache.catalina.ha.session.Vec3$Bad.o: TC_EXCEPTION"), "{d}");
    let d = parse(&vector("s4.1.")).unwrap().dump();
    assert!(d.contains("org.apache.catalina.ha.session.SessionMessageImpl.mEvtType: int 4"), "{d}");
    assert!(d.contains("mSessionID: #6 string \"GET-ALL\""), "{d}");
}
