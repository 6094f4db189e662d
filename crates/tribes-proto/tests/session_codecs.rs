//! The session-layer codecs against each pinned Tomcat release's own classes
//! (tests/java/session/SessionCodecs.java): Tomcat's bytes decode to the fields Tomcat reads
//! from them, our encoding of the same content is byte-identical to Tomcat's, and Tomcat reads our
//! bytes back to the same fields. Plus the class filter dropping one value alone, and bad input.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use jser::{ClassFilter, Limits, ParseOptions};
use proptest::prelude::*;
use tomcat_harness::{run_java_script, tomcats, Tomcat};
use tribes_proto::session::{
    decode_state, encode_state, ActionKind, DeltaAction, DeltaRequest, EventType, JavaValue, SessionMessage,
    SessionRecord, StateEncoder, StateForm,
};

const ID: &str = "0123456789ABCDEF0123456789ABCDEF";
const TS: i64 = 1_700_000_000_000;
const NOW: i64 = 1_700_000_123_456;

/// One `gen` line: Tomcat's bytes and the fields Tomcat reads back from them.
struct Case {
    bytes: Vec<u8>,
    fields: String,
}

struct Gen {
    tomcat: Tomcat,
    cases: Vec<(String, Case)>,
}

impl Gen {
    fn get(&self, name: &str) -> &Case {
        &self
            .cases
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{}: no case {name}", self.tomcat.version))
            .1
    }

    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a Case)> + 'a {
        self.cases.iter().filter(move |(n, _)| n.starts_with(prefix)).map(|(n, c)| (n.as_str(), c))
    }

    /// Tomcat 9.0 writes no authentication notes by default.
    fn default_form(&self) -> StateForm {
        if self.tomcat.line() == "9.0" {
            StateForm::WithoutNotes
        } else {
            StateForm::WithNotes
        }
    }
}

fn gens() -> &'static [Gen] {
    static GENS: OnceLock<Vec<Gen>> = OnceLock::new();
    GENS.get_or_init(|| {
        tomcats()
            .into_iter()
            .map(|tomcat| {
                let home = tomcat.home.to_str().expect("utf-8 path").to_string();
                let out = run_java_script("run-session.sh", &[&home, "gen"], b"");
                let cases = out
                    .lines()
                    .map(|line| {
                        let mut f = line.splitn(3, '\t');
                        let (name, hex, fields) =
                            (f.next().unwrap(), f.next().expect("HEX"), f.next().expect("FIELDS"));
                        (name.to_string(), Case { bytes: hex::decode(hex).expect("hex"), fields: fields.to_string() })
                    })
                    .collect::<Vec<_>>();
                assert!(cases.len() >= 35, "{}: {} cases", tomcat.version, cases.len());
                Gen { tomcat, cases }
            })
            .collect()
    })
}

/// Tomcat's reading of our bytes: `(name, kind, bytes)` -> `name -> fields`.
fn java_check(t: &Tomcat, inputs: &[(String, &str, Vec<u8>)]) -> HashMap<String, String> {
    let mut stdin = String::new();
    for (name, kind, bytes) in inputs {
        stdin.push_str(&format!("{name}\t{kind}\t{}\n", hex::encode(bytes)));
    }
    let home = t.home.to_str().expect("utf-8 path");
    let out = run_java_script("run-session.sh", &[home, "check"], stdin.as_bytes());
    let answers: HashMap<String, String> = out
        .lines()
        .map(|l| {
            let (n, f) = l.split_once('\t').expect("NAME\tFIELDS");
            (n.to_string(), f.to_string())
        })
        .collect();
    assert_eq!(answers.len(), inputs.len(), "{}: one answer per input", t.version);
    answers
}

// ---- descriptions in SessionCodecs.java's format -------------------------------------------

fn val(v: Option<&JavaValue>) -> String {
    match v {
        None => "~".into(),
        Some(v) if v.is_null() => "~".into(),
        Some(v) => hex::encode(v.bytes()),
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("~")
}

fn describe_message(m: &SessionMessage) -> String {
    format!(
        "evt={}|ts={}|set={}|ctx={}|sid={}|uid={}|payload={}",
        m.event.code(),
        m.timestamp,
        m.timestamp_set,
        opt(&m.context),
        opt(&m.session_id),
        opt(&m.unique_id),
        m.payload.as_ref().map_or("~".to_string(), hex::encode)
    )
}

fn describe_delta(d: &DeltaRequest) -> String {
    let mut s = format!("sid={}|all={}|n={}", d.session_id, d.record_all_actions, d.actions.len());
    for a in &d.actions {
        s.push_str(&format!("|{},{},{},{}", a.kind.code(), a.op.code(), a.name, val(a.value.as_ref())));
    }
    s
}

fn describe_state(sessions: &[SessionRecord]) -> String {
    let mut s = format!("n={}", sessions.len());
    for r in sessions {
        let mut attrs: Vec<_> = r.attributes.iter().map(|(n, v)| format!("{n}={}", val(Some(v)))).collect();
        attrs.sort();
        let ls: Vec<_> = r.listeners.iter().map(|v| val(Some(v))).collect();
        s.push_str(&format!(
            "|S ct={},la={},mi={},new={},valid={},ta={},ver={},p={},id={},sidnote={},req={},attrs=[{}],ls=[{}]",
            r.creation_time,
            r.last_accessed_time,
            r.max_inactive_interval,
            r.is_new,
            r.is_valid,
            r.this_accessed_time,
            r.version,
            val(r.principal.as_ref()),
            r.id,
            val(r.session_id_note.as_ref()),
            val(r.form_request_note.as_ref()),
            attrs.join(";"),
            ls.join(";")
        ));
    }
    s
}

fn opts() -> ParseOptions {
    ParseOptions::default()
}

// ---- values ---------------------------------------------------------------------------------

#[test]
fn value_constructors_write_what_object_output_stream_writes() {
    let long = "x".repeat(70000);
    for g in gens() {
        let v = &g.tomcat.version;
        let expect: Vec<(&str, JavaValue)> = vec![
            ("value.string", JavaValue::string("alice")),
            ("value.string-empty", JavaValue::string("")),
            ("value.string-utf", JavaValue::string("\u{e9}\u{0}\u{1F600}")),
            ("value.string-long", JavaValue::string(&long)),
            ("value.true", JavaValue::boolean(true)),
            ("value.false", JavaValue::boolean(false)),
            ("value.int7", JavaValue::integer(7)),
            ("value.int1800", JavaValue::integer(1800)),
            ("value.int-min", JavaValue::integer(i32::MIN)),
            ("value.long0", JavaValue::long(0)),
            ("value.long-ts", JavaValue::long(TS)),
            ("value.null", JavaValue::null()),
        ];
        for (name, ours) in expect {
            let case = g.get(name);
            assert_eq!(hex::encode(ours.bytes()), hex::encode(&case.bytes), "{v} {name}");
            let parsed = JavaValue::from_stream(case.bytes.clone()).unwrap_or_else(|e| panic!("{v} {name}: {e}"));
            assert_eq!(parsed, ours, "{v} {name}");
            assert_eq!(val(Some(&parsed)), case.fields, "{v} {name}: Tomcat reads the same value");
        }
    }
    assert_eq!(JavaValue::string("alice").as_string().as_deref(), Some("alice"));
    assert_eq!(JavaValue::string("alice").preview().as_deref(), Some("alice"));
    assert_eq!(JavaValue::string("alice").class_name(), "java.lang.String");
    assert_eq!(JavaValue::boolean(true).as_bool(), Some(true));
    assert_eq!(JavaValue::integer(-3).as_i32(), Some(-3));
    assert_eq!(JavaValue::integer(-3).preview().as_deref(), Some("-3"));
    assert_eq!(JavaValue::long(TS).as_i64(), Some(TS));
    assert_eq!(JavaValue::long(TS).class_name(), "java.lang.Long");
    assert_eq!(JavaValue::long(TS).as_i32(), None);
    assert_eq!(JavaValue::null().class_name(), "null");
    assert_eq!(JavaValue::null().preview(), None);
}

#[test]
fn value_streams_must_hold_exactly_one_object() {
    let two = [&JavaValue::string("a").bytes()[..], &[0x70]].concat();
    assert!(JavaValue::from_stream(two).is_err());
    assert!(JavaValue::from_stream(vec![0xAC, 0xED, 0x00, 0x05]).is_err());
    assert!(JavaValue::from_stream(vec![0xAC, 0xED, 0x00, 0x05, 0x77, 0x01, 0x00]).is_err());
    assert!(JavaValue::from_stream(vec![0xAC, 0xED, 0x00, 0x06, 0x70]).is_err());
    let g = &gens()[0];
    let map = DeltaRequest::decode(&g.get("delta.basic").bytes, &opts()).unwrap().request;
    let map = map.actions.iter().find(|a| a.name == "map").unwrap().value.clone().unwrap();
    assert_eq!(map.class_name(), "java.util.HashMap");
    assert_eq!(map.preview(), None);
    let filter = ParseOptions::with_filter(ClassFilter::deny(r"java\.util\..*").unwrap());
    assert!(JavaValue::from_stream_with(map.bytes().clone(), &filter).is_err());
}

// ---- DeltaRequest ---------------------------------------------------------------------------

#[test]
fn tomcat_deltas_decode_to_the_fields_tomcat_reads_and_re_encode_byte_for_byte() {
    for g in gens() {
        let v = &g.tomcat.version;
        let mut n = 0;
        for (name, case) in g.with_prefix("delta.") {
            let d = DeltaRequest::decode(&case.bytes, &opts()).unwrap_or_else(|e| panic!("{v} {name}: {e}"));
            assert!(d.rejected.is_empty(), "{v} {name}");
            assert_eq!(describe_delta(&d.request), case.fields, "{v} {name}");
            let ours = d.request.encode().unwrap_or_else(|e| panic!("{v} {name}: {e}"));
            assert_eq!(hex::encode(&ours), hex::encode(&case.bytes), "{v} {name}: re-encoded");
            n += 1;
        }
        assert_eq!(n, 9, "{v}");
    }
}

#[test]
fn deltas_recorded_as_tomcat_records_them_encode_to_tomcats_bytes() {
    for g in gens() {
        let v = &g.tomcat.version;
        let decoded = DeltaRequest::decode(&g.get("delta.basic").bytes, &opts()).unwrap().request;
        let value = |name: &str| decoded.actions.iter().find(|a| a.name == name).unwrap().value.clone().unwrap();
        let mut d = DeltaRequest::new(ID, false);
        d.record(DeltaAction::set_attribute("user", JavaValue::string("alice")));
        d.record(DeltaAction::max_interval(1800));
        d.record(DeltaAction::is_new(true));
        d.record(DeltaAction::remove_attribute("cart"));
        d.record(DeltaAction::set_attribute("count", JavaValue::integer(7)));
        d.record(DeltaAction::set_attribute("map", value("map")));
        d.record(DeltaAction::set_attribute("bytes", value("bytes")));
        d.record(DeltaAction::set_attribute("seven", JavaValue::integer(7)));
        d.record(DeltaAction::set_attribute("flag", JavaValue::boolean(true)));
        d.record(DeltaAction::set_attribute("big", JavaValue::integer(100000)));
        d.record(DeltaAction::set_attribute("user", JavaValue::string("bob")));
        assert_eq!(hex::encode(d.encode().unwrap()), hex::encode(&g.get("delta.basic").bytes), "{v} delta.basic");

        let mut r = DeltaRequest::new("S3", false);
        r.record(DeltaAction::principal(None));
        r.record(DeltaAction::auth_type(None));
        r.record(DeltaAction::is_new(false));
        r.record(DeltaAction::max_interval(-1));
        assert_eq!(hex::encode(r.encode().unwrap()), hex::encode(&g.get("delta.remove").bytes), "{v} delta.remove");

        let mut all = DeltaRequest::new("S5", true);
        let seconds = DeltaRequest::decode(&g.get("delta.record-all").bytes, &opts()).unwrap().request.actions[3]
            .value
            .clone()
            .unwrap();
        assert_eq!(seconds.class_name(), "java.util.concurrent.TimeUnit");
        all.record(DeltaAction::set_attribute("x", JavaValue::string("1")));
        all.record(DeltaAction::set_attribute("x", JavaValue::string("2")));
        all.record(DeltaAction::remove_attribute("x"));
        all.record(DeltaAction::set_note("note", seconds.clone()));
        all.record(DeltaAction::set_note("note2", seconds));
        assert_eq!(hex::encode(all.encode().unwrap()), hex::encode(&g.get("delta.record-all").bytes), "{v} record-all");

        assert_eq!(DeltaRequest::new("S1", false).encode().unwrap(), g.get("delta.empty").bytes, "{v}");
    }
}

#[test]
fn tomcat_reads_our_deltas_states_and_messages_back_to_the_same_fields() {
    for g in gens() {
        let v = &g.tomcat.version;
        let mut inputs = Vec::new();
        let mut expected = HashMap::new();
        for (name, case) in g.with_prefix("delta.") {
            let d = DeltaRequest::decode(&case.bytes, &opts()).unwrap().request;
            inputs.push((name.to_string(), "delta", d.encode().unwrap()));
            expected.insert(name.to_string(), case.fields.clone());
        }
        for (name, case) in g.with_prefix("state.") {
            if name == "state.broken" {
                continue;
            }
            let form = if name.ends_with("-notes") { StateForm::WithNotes } else { g.default_form() };
            let d = decode_state(&case.bytes, &opts()).unwrap();
            inputs.push((name.to_string(), "state", encode_state(&d.sessions, form).unwrap()));
            expected.insert(name.to_string(), case.fields.clone());
            // The other form reads back to the same sessions as well.
            let other = if form == StateForm::WithNotes { StateForm::WithoutNotes } else { StateForm::WithNotes };
            let no_notes = d.sessions.iter().all(|s| s.session_id_note.is_none() && s.form_request_note.is_none());
            if other == StateForm::WithNotes || no_notes {
                inputs.push((format!("{name}-other-form"), "state", encode_state(&d.sessions, other).unwrap()));
                expected.insert(format!("{name}-other-form"), case.fields.clone());
            }
        }
        for (name, case) in g.with_prefix("msg.") {
            let m = SessionMessage::decode(&case.bytes).unwrap();
            inputs.push((name.to_string(), "msg", m.encode()));
            expected.insert(name.to_string(), case.fields.clone());
        }
        let m = SessionMessage::change_session_id("/app", ID, "NEWID", NOW);
        inputs.push(("newid".into(), "newid", m.payload.clone().unwrap().to_vec()));
        expected.insert("newid".into(), "NEWID".into());
        let answers = java_check(&g.tomcat, &inputs);
        for (name, _, _) in &inputs {
            assert_eq!(answers[name], expected[name], "{v} {name}: Tomcat reads our bytes");
        }
    }
}

#[test]
fn the_class_filter_drops_one_delta_action_alone() {
    for g in gens() {
        let v = &g.tomcat.version;
        let case = g.get("delta.basic");
        let all = DeltaRequest::decode(&case.bytes, &opts()).unwrap().request;
        let filter = ParseOptions::with_filter(ClassFilter::deny(r"java\.util\.HashMap").unwrap());
        let d = DeltaRequest::decode(&case.bytes, &filter).unwrap();
        assert_eq!(d.rejected.len(), 1, "{v}");
        assert_eq!(d.rejected[0].name, "map");
        assert_eq!(d.rejected[0].class_name, "java.util.HashMap");
        assert!(d.rejected[0].reason.contains("deny"), "{v}: {}", d.rejected[0].reason);
        let kept: Vec<_> = all.actions.iter().filter(|a| a.name != "map").cloned().collect();
        assert_eq!(d.request.actions, kept, "{v}");
        // An allow-list of the JDK wrappers: the map (HashMap) is refused, and so is nothing else
        // in this delta but the map; byte[] needs no class.
        let allow = ParseOptions::with_filter(
            ClassFilter::allow(r"java\.lang\.(?:String|Boolean|Integer|Long|Number)").unwrap(),
        );
        let d = DeltaRequest::decode(&case.bytes, &allow).unwrap();
        assert_eq!(d.rejected.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["map"], "{v}");
        // The principal's class (and the SSO listener's) refused: that action alone goes.
        let p = DeltaRequest::decode(
            &g.get("delta.principal").bytes,
            &ParseOptions::with_filter(ClassFilter::deny(r"org\.apache\.catalina\.realm\..*").unwrap()),
        )
        .unwrap();
        assert_eq!(p.rejected.len(), 1, "{v}");
        assert_eq!(p.rejected[0].name, "__SET__PRINCIPAL__");
        assert_eq!(
            p.request.actions.iter().map(|a| a.kind).collect::<Vec<_>>(),
            [ActionKind::AuthType, ActionKind::Note, ActionKind::Note],
            "{v}"
        );
    }
}

// ---- session state --------------------------------------------------------------------------

#[test]
fn tomcat_state_streams_decode_to_the_fields_tomcat_reads_and_re_encode_byte_for_byte() {
    for g in gens() {
        let v = &g.tomcat.version;
        let mut n = 0;
        for (name, case) in g.with_prefix("state.") {
            if name == "state.broken" || name == "state.literals" {
                continue;
            }
            let d = decode_state(&case.bytes, &opts()).unwrap_or_else(|e| panic!("{v} {name}: {e}"));
            assert!(d.rejected.is_empty(), "{v} {name}");
            assert_eq!(describe_state(&d.sessions), case.fields, "{v} {name}");
            let form = if name.ends_with("-notes") { StateForm::WithNotes } else { g.default_form() };
            let ours = encode_state(&d.sessions, form).unwrap();
            assert_eq!(hex::encode(&ours), hex::encode(&case.bytes), "{v} {name}: re-encoded");
            // The same bytes, streamed out in pieces.
            let mut e = StateEncoder::new(d.sessions.len(), form).unwrap();
            let mut streamed = e.take_written();
            for s in &d.sessions {
                e.push(s).unwrap();
                streamed.extend(e.take_written());
            }
            streamed.extend(e.finish().unwrap());
            assert_eq!(streamed, case.bytes, "{v} {name}: streamed");
            n += 1;
        }
        assert_eq!(n, if g.tomcat.line() == "9.0" { 4 } else { 3 }, "{v}");
        let three = decode_state(&g.get("state.three").bytes, &opts()).unwrap().sessions;
        assert_eq!(three[2].listeners.len(), 1, "{v}");
        assert_eq!(three[2].attribute("unit").map(|u| u.class_name()), Some("java.util.concurrent.TimeUnit"));
        assert_eq!(three[1].attribute("count").and_then(JavaValue::as_i32), Some(1));
        assert_eq!(
            three[2].principal.as_ref().map(JavaValue::class_name),
            Some("org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal")
        );
        let notes = g.default_form() == StateForm::WithNotes;
        assert_eq!(three[2].session_id_note.as_ref().and_then(JavaValue::as_string).is_some(), notes, "{v}");
    }
}

#[test]
fn strings_java_shares_by_identity_across_values_are_written_apart_and_read_the_same() {
    // The one known difference from Tomcat's bytes: an interned literal used inside two values
    // is one String object for Java (a back-reference the second time). Values are held apart
    // here, so we write it twice; Tomcat reads both forms to the same session.
    for g in gens() {
        let v = &g.tomcat.version;
        let case = g.get("state.literals");
        let d = decode_state(&case.bytes, &opts()).unwrap();
        assert_eq!(describe_state(&d.sessions), case.fields, "{v}");
        let ours = encode_state(&d.sessions, g.default_form()).unwrap();
        assert_ne!(ours, case.bytes, "{v}");
        assert_eq!(ours.len(), case.bytes.len() + "shared".len() + 3 - 5, "{v}: one string instead of a reference");
        let answers = java_check(&g.tomcat, &[("literals".into(), "state", ours)]);
        assert_eq!(answers["literals"], case.fields, "{v}");
    }
}

#[test]
fn an_attribute_the_sender_could_not_write_is_skipped() {
    for g in gens() {
        let v = &g.tomcat.version;
        let case = g.get("state.broken");
        let d = decode_state(&case.bytes, &opts()).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(d.sessions.len(), 1);
        let names: Vec<_> = d.sessions[0].attributes.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"ok") && names.contains(&"after") && !names.contains(&"bad"), "{v}: {names:?}");
        assert_eq!(d.rejected.len(), 1, "{v}");
        assert_eq!(d.rejected[0].0, "BROKEN");
        assert_eq!(d.rejected[0].1.name, "bad");
        assert_eq!(d.rejected[0].1.class_name, "java.util.ArrayList");
        // What stock Tomcat actually does with this stream on JDK 17: DeltaSession's
        // WriteAbortedException handler is never reached, because ObjectInputStream cannot
        // rebuild the NotSerializableException (its abstract superclass ObjectStreamException).
        assert!(case.fields.starts_with("ERROR java.io.InvalidClassException"), "{v}: {}", case.fields);
    }
}

#[test]
fn the_class_filter_drops_one_session_value_alone() {
    for g in gens() {
        let v = &g.tomcat.version;
        let case = g.get("state.three");
        let all = decode_state(&case.bytes, &opts()).unwrap().sessions;
        let filter =
            ParseOptions::with_filter(ClassFilter::deny(r"java\.util\.Date|org\.apache\.catalina\.ha\..*").unwrap());
        let d = decode_state(&case.bytes, &filter).unwrap();
        let mut rejected: Vec<_> = d.rejected.iter().map(|(id, r)| format!("{}:{}", &id[30..], r.name)).collect();
        rejected.sort();
        assert_eq!(rejected, ["01:when", "02:listener", "02:when"], "{v}");
        for (a, b) in all.iter().zip(&d.sessions) {
            let mut expect = a.clone();
            expect.attributes.retain(|(n, _)| n != "when");
            expect.listeners.clear();
            assert_eq!(&expect, b, "{v}");
        }
    }
}

// ---- SessionMessageImpl ---------------------------------------------------------------------

#[test]
fn session_messages_decode_and_our_constructors_build_tomcats_bytes() {
    for g in gens() {
        let v = &g.tomcat.version;
        for (name, case) in g.with_prefix("msg.") {
            let m = SessionMessage::decode(&case.bytes).unwrap_or_else(|e| panic!("{v} {name}: {e}"));
            assert_eq!(describe_message(&m), case.fields, "{v} {name}");
            assert_eq!(hex::encode(m.encode()), hex::encode(&case.bytes), "{v} {name}: re-encoded");
        }
        let state = Bytes::from(g.get("state.three").bytes.clone());
        let delta = Bytes::from(g.get("delta.basic").bytes.clone());
        let ours = [
            ("msg.created", SessionMessage::created("/app", ID, TS, NOW)),
            ("msg.created-root", SessionMessage::created("", ID, TS, NOW)),
            ("msg.expired", SessionMessage::expired("/app", ID, NOW)),
            ("msg.accessed", SessionMessage::accessed("/app", ID, NOW)),
            ("msg.get-all", SessionMessage::get_all_sessions("localhost#/app", NOW)),
            ("msg.all-data", SessionMessage::all_session_data("/app", state, TS)),
            ("msg.delta", SessionMessage::delta("/app", ID, delta, NOW)),
            ("msg.transfer-complete", SessionMessage::transfer_complete("/app", TS)),
            ("msg.change-id", SessionMessage::change_session_id("/app", ID, "NEWID.node2", NOW)),
            ("msg.no-context", SessionMessage::no_context_manager("localhost#/gone")),
        ];
        for (name, m) in ours {
            assert_eq!(hex::encode(m.encode()), hex::encode(&g.get(name).bytes), "{v} {name}");
        }
        let change = SessionMessage::decode(&g.get("msg.change-id").bytes).unwrap();
        assert_eq!(change.event, EventType::ChangeSessionId);
        assert_eq!(change.new_session_id().unwrap(), "NEWID.node2");
        assert_eq!(SessionMessage::change_session_id("/app", ID, "NEWID", NOW).payload.unwrap(), g.get("newid").bytes);
    }
    for code in [-1, 0, 5, 11, 17, i32::MAX] {
        assert_eq!(EventType::from_code(code), EventType::Unknown(code));
        assert_eq!(EventType::from_code(code).code(), code);
    }
}

#[test]
fn the_spec_vector_of_get_all_sessions_decodes() {
    let m = SessionMessage::get_all_sessions("/app", TS);
    let bytes = m.encode();
    assert_eq!(bytes.len(), 329);
    assert_eq!(SessionMessage::decode(&bytes).unwrap(), m);
    // test-vectors.md §4.2, the empty delta of S1; §4.4 the new-id payload.
    assert_eq!(
        DeltaRequest::new("S1", false).encode().unwrap(),
        hex::decode("aced0005770900025331000000000000").unwrap()[..15]
    );
    assert_eq!(
        SessionMessage::change_session_id("", "x", "NEWID", 0).payload.unwrap()[..],
        hex::decode("aced0005770700054e45574944").unwrap()[..]
    );
}

// ---- bad input ------------------------------------------------------------------------------

#[test]
fn every_truncation_of_tomcats_payloads_is_a_typed_error() {
    let g = &gens()[1];
    for (name, case) in &g.cases {
        let step = (case.bytes.len() / 400).max(1);
        for cut in (0..case.bytes.len()).step_by(step) {
            let b = &case.bytes[..cut];
            if name.starts_with("msg.") {
                assert!(SessionMessage::decode(b).is_err(), "{name} cut at {cut}");
            } else if name.starts_with("delta.") {
                assert!(DeltaRequest::decode(b, &opts()).is_err(), "{name} cut at {cut}");
            } else if name.starts_with("state.") {
                // A cut between sessions' trailing objects is still an error: the count says more.
                assert!(decode_state(b, &opts()).is_err(), "{name} cut at {cut}");
            }
        }
    }
    // Not the right shapes.
    assert!(SessionMessage::decode(&JavaValue::string("x").bytes()[..]).is_err());
    assert!(DeltaRequest::decode(&JavaValue::string("x").bytes()[..], &opts()).is_err());
    assert!(decode_state(&JavaValue::string("x").bytes()[..], &opts()).is_err());
    assert!(decode_state(&g.get("delta.basic").bytes, &opts()).is_err());
    // Limits apply to the outer stream.
    let tight = ParseOptions { limits: Limits { max_total_bytes: 100, ..Limits::default() }, filter: None };
    assert!(decode_state(&g.get("state.three").bytes, &tight).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), header in any::<bool>()) {
        let bytes = if header { [&[0xAC, 0xED, 0x00, 0x05][..], &body].concat() } else { body };
        let _ = SessionMessage::decode(&bytes);
        let _ = DeltaRequest::decode(&bytes, &ParseOptions::default());
        let _ = decode_state(&bytes, &ParseOptions::default());
        let _ = JavaValue::from_stream(bytes);
    }

    #[test]
    fn corrupted_tomcat_payloads_never_panic(pick in 0usize..64, flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let g = &gens()[pick % gens().len()];
        let (name, case) = &g.cases[pick % g.cases.len()];
        let mut b = case.bytes.clone();
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] ^= x.max(1);
        }
        let _ = SessionMessage::decode(&b);
        if let Ok(d) = DeltaRequest::decode(&b, &ParseOptions::default()) {
            // Whatever decodes re-encodes and decodes to the same request.
            let again = DeltaRequest::decode(&d.request.encode().unwrap(), &ParseOptions::default()).unwrap();
            prop_assert_eq!(again.request, d.request, "{}", name);
        }
        if let Ok(d) = decode_state(&b, &ParseOptions::default()) {
            let again = decode_state(&encode_state(&d.sessions, StateForm::WithNotes).unwrap(), &ParseOptions::default()).unwrap();
            prop_assert_eq!(again.sessions, d.sessions, "{}", name);
        }
    }
}

/// A value nested `depth` levels deep: `Object[]{Object[]{... null}}`, written by hand.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut b = vec![0xAC, 0xED, 0x00, 0x05];
    for i in 0..depth {
        b.push(0x75);
        if i == 0 {
            b.extend_from_slice(&[0x72, 0x00, 0x13]);
            b.extend_from_slice(b"[Ljava.lang.Object;");
            b.extend_from_slice(&0x0090_CE58_9F10_7329_i64.to_be_bytes());
            b.extend_from_slice(&[0x02, 0x00, 0x00, 0x78, 0x70]);
        } else {
            b.extend_from_slice(&[0x71, 0x00, 0x7E, 0x00, 0x00]);
        }
        b.extend_from_slice(&1i32.to_be_bytes());
    }
    b.push(0x70);
    b
}

#[test]
fn deep_values_round_trip_on_a_2_mib_stack() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let deep = JavaValue::from_stream(nested_arrays(1900)).unwrap();
            let mut d = DeltaRequest::new("S", false);
            d.record(DeltaAction::set_attribute("deep", deep.clone()));
            let bytes = d.encode().unwrap();
            let back = DeltaRequest::decode(&bytes, &ParseOptions::default()).unwrap();
            assert_eq!(back.request.actions[0].value.as_ref(), Some(&deep));
            let mut r = SessionRecord::new("S", TS, 1800);
            r.attributes.push(("deep".into(), deep.clone()));
            let state = decode_state(&encode_state(&[r.clone()], StateForm::WithNotes).unwrap(), &opts()).unwrap();
            assert_eq!(state.sessions, [r]);
            // Deeper than the reader's limit (2000 by default): refused, not overflowed.
            assert!(JavaValue::from_stream(nested_arrays(2100)).is_err());
        })
        .unwrap()
        .join()
        .unwrap();
}
