//! The receive path reads the parsed tape only: decoding a `SessionMessageImpl`, a
//! `DeltaRequest` (with the class filter) and a session-state stream builds no tree model.

use jser::{ClassFilter, ParseOptions};
use tribes_proto::session::{
    decode_state, encode_state, DeltaAction, DeltaRequest, JavaValue, SessionMessage, SessionRecord, StateForm,
};

/// A `java.util.ArrayList` holding a `String` and an `Integer` (two class descriptors, a
/// superclass-free chain with `SC_WRITE_METHOD` and block data in its annotation).
const LIST: &str = "aced0005737200136a6176612e7574696c2e41727261794c6973747881d21d99c7619d03000149000473697a657870000000027704000000027400016173720011\
6a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787000000007\
78";

#[test]
fn decoding_deltas_states_and_messages_builds_no_tree() {
    let list = JavaValue::from_stream(hex::decode(LIST).unwrap()).unwrap();
    let opts = ParseOptions {
        filter: Some(ClassFilter::allow(r"java\.lang\.(?:Integer|Number|String)|java\.util\.ArrayList").unwrap()),
        ..ParseOptions::default()
    };
    let mut d = DeltaRequest::new("ABC", false);
    d.record(DeltaAction::set_attribute("list", list.clone()));
    d.record(DeltaAction::set_attribute("n", JavaValue::integer(1000)));
    d.record(DeltaAction::set_attribute("s", JavaValue::string("text")));
    d.record(DeltaAction::set_attribute("refused", JavaValue::long(5)));
    let payload = d.encode().unwrap();
    let msg = SessionMessage::delta("/app", "ABC", payload.clone(), 1).encode();
    let mut record = SessionRecord::new("ABC", 1, 1800);
    record.attributes = vec![("list".into(), list.clone()), ("n".into(), JavaValue::integer(7))];
    let state = encode_state(&[record.clone()], StateForm::WithNotes).unwrap();

    let before = jser::fuzzing::trees_built();
    let m = SessionMessage::decode(&msg).unwrap();
    let decoded = DeltaRequest::decode(m.payload.as_ref().unwrap(), &opts).unwrap();
    let sessions = decode_state(&state, &opts).unwrap();
    let changed = SessionMessage::change_session_id("/app", "ABC", "DEF", 1);
    assert_eq!(changed.new_session_id().unwrap(), "DEF");
    assert_eq!(JavaValue::integer(1000).as_i32(), Some(1000));
    assert_eq!(list.class_name(), "java.util.ArrayList");
    assert_eq!(jser::fuzzing::trees_built(), before, "a tree was built on the receive path");

    assert_eq!(decoded.request.actions.len(), 3);
    assert_eq!(decoded.request.actions[0].value.as_ref(), Some(&list));
    assert_eq!(decoded.rejected.len(), 1);
    assert_eq!(decoded.rejected[0].class_name, "java.lang.Long");
    assert_eq!(sessions.sessions, vec![record]);
}
