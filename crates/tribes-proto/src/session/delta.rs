//! `org.apache.catalina.ha.session.DeltaRequest` external form (session-replication.md §7).
//!
//! Spec: `DeltaRequest.writeExternal` / `readExternal` and `DeltaRequest.AttributeInfo`, written
//! straight into a fresh `ObjectOutputStream` by `DeltaRequest.serialize()`: block data
//! (`writeUTF` session id, `writeBoolean` recordAllActions, `writeInt` count), then per action
//! `writeInt` type, `writeInt` action, `writeUTF` name, `writeBoolean` hasValue and the value
//! object. One stream: values share class descriptors and cached boxes with earlier values.

use jser::{ObjectWriter, ParseOptions, TapeReader};

use super::value::{Rejected, Taken, ValueTaker};
use super::{JavaValue, SessionCodecError};

/// `DeltaRequest.TYPE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Attribute,
    Principal,
    IsNew,
    MaxInterval,
    AuthType,
    Listener,
    Note,
    Unknown(i32),
}

/// `DeltaRequest.NAME_PRINCIPAL`.
pub const NAME_PRINCIPAL: &str = "__SET__PRINCIPAL__";
/// `DeltaRequest.NAME_ISNEW`.
pub const NAME_ISNEW: &str = "__SET__ISNEW__";
/// `DeltaRequest.NAME_MAXINTERVAL`.
pub const NAME_MAXINTERVAL: &str = "__SET__MAXINTERVAL__";
/// `DeltaRequest.NAME_AUTHTYPE`.
pub const NAME_AUTHTYPE: &str = "__SET__AUTHTYPE__";
/// `DeltaRequest.NAME_LISTENER`.
pub const NAME_LISTENER: &str = "__SET__LISTENER__";

impl ActionKind {
    pub fn code(self) -> i32 {
        match self {
            ActionKind::Attribute => 0,
            ActionKind::Principal => 1,
            ActionKind::IsNew => 2,
            ActionKind::MaxInterval => 3,
            ActionKind::AuthType => 4,
            ActionKind::Listener => 5,
            ActionKind::Note => 6,
            ActionKind::Unknown(c) => c,
        }
    }

    pub fn from_code(code: i32) -> ActionKind {
        match code {
            0 => ActionKind::Attribute,
            1 => ActionKind::Principal,
            2 => ActionKind::IsNew,
            3 => ActionKind::MaxInterval,
            4 => ActionKind::AuthType,
            5 => ActionKind::Listener,
            6 => ActionKind::Note,
            c => ActionKind::Unknown(c),
        }
    }

    /// The fixed name Tomcat records this kind under; `None` for attributes and notes (their own
    /// names) and unknown kinds.
    pub fn fixed_name(self) -> Option<&'static str> {
        match self {
            ActionKind::Principal => Some(NAME_PRINCIPAL),
            ActionKind::IsNew => Some(NAME_ISNEW),
            ActionKind::MaxInterval => Some(NAME_MAXINTERVAL),
            ActionKind::AuthType => Some(NAME_AUTHTYPE),
            ActionKind::Listener => Some(NAME_LISTENER),
            ActionKind::Attribute | ActionKind::Note | ActionKind::Unknown(_) => None,
        }
    }
}

/// `DeltaRequest.ACTION_SET` / `ACTION_REMOVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Set,
    Remove,
}

impl Op {
    pub fn code(self) -> i32 {
        match self {
            Op::Set => 0,
            Op::Remove => 1,
        }
    }

    /// `0` is SET; anything else is REMOVE, which is how `DeltaRequest.execute` treats it.
    pub fn from_code(code: i32) -> Op {
        if code == 0 {
            Op::Set
        } else {
            Op::Remove
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaAction {
    pub kind: ActionKind,
    pub op: Op,
    pub name: String,
    /// The value object when `hasValue` was true.
    pub value: Option<JavaValue>,
}

impl DeltaAction {
    /// `setAttribute(name, value)`; a null value is a REMOVE, as in Tomcat.
    pub fn set_attribute(name: impl Into<String>, value: JavaValue) -> DeltaAction {
        DeltaAction::set_or_remove(ActionKind::Attribute, name.into(), value)
    }

    pub fn remove_attribute(name: impl Into<String>) -> DeltaAction {
        DeltaAction { kind: ActionKind::Attribute, op: Op::Remove, name: name.into(), value: None }
    }

    /// `setNote(name, value)`; a null value is a REMOVE.
    pub fn set_note(name: impl Into<String>, value: JavaValue) -> DeltaAction {
        DeltaAction::set_or_remove(ActionKind::Note, name.into(), value)
    }

    pub fn remove_note(name: impl Into<String>) -> DeltaAction {
        DeltaAction { kind: ActionKind::Note, op: Op::Remove, name: name.into(), value: None }
    }

    /// `setPrincipal(p)`: SET with the (`GenericPrincipal`) value, or REMOVE for `None`.
    pub fn principal(value: Option<JavaValue>) -> DeltaAction {
        let op = if value.is_some() { Op::Set } else { Op::Remove };
        DeltaAction { kind: ActionKind::Principal, op, name: NAME_PRINCIPAL.into(), value }
    }

    /// `setNew(b)`: a `Boolean`.
    pub fn is_new(b: bool) -> DeltaAction {
        DeltaAction {
            kind: ActionKind::IsNew,
            op: Op::Set,
            name: NAME_ISNEW.into(),
            value: Some(JavaValue::boolean(b)),
        }
    }

    /// `setMaxInactiveInterval(seconds)`: an `Integer`.
    pub fn max_interval(seconds: i32) -> DeltaAction {
        DeltaAction {
            kind: ActionKind::MaxInterval,
            op: Op::Set,
            name: NAME_MAXINTERVAL.into(),
            value: Some(JavaValue::integer(seconds)),
        }
    }

    /// `setAuthType(t)`: SET with a `String`, or REMOVE for `None`.
    pub fn auth_type(auth_type: Option<&str>) -> DeltaAction {
        match auth_type {
            Some(t) => DeltaAction {
                kind: ActionKind::AuthType,
                op: Op::Set,
                name: NAME_AUTHTYPE.into(),
                value: Some(JavaValue::string(t)),
            },
            None => DeltaAction { kind: ActionKind::AuthType, op: Op::Remove, name: NAME_AUTHTYPE.into(), value: None },
        }
    }

    /// `addSessionListener(l)`.
    pub fn add_listener(listener: JavaValue) -> DeltaAction {
        DeltaAction { kind: ActionKind::Listener, op: Op::Set, name: NAME_LISTENER.into(), value: Some(listener) }
    }

    /// `removeSessionListener(l)` (the listener is written too).
    pub fn remove_listener(listener: JavaValue) -> DeltaAction {
        DeltaAction { kind: ActionKind::Listener, op: Op::Remove, name: NAME_LISTENER.into(), value: Some(listener) }
    }

    fn set_or_remove(kind: ActionKind, name: String, value: JavaValue) -> DeltaAction {
        if value.is_null() {
            DeltaAction { kind, op: Op::Remove, name, value: None }
        } else {
            DeltaAction { kind, op: Op::Set, name, value: Some(value) }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeltaRequest {
    pub session_id: String,
    pub record_all_actions: bool,
    pub actions: Vec<DeltaAction>,
}

/// A decoded delta and the actions the class filter dropped from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedDelta {
    pub request: DeltaRequest,
    /// One entry per dropped action, in stream order (`name` is the action's name).
    pub rejected: Vec<Rejected>,
}

impl DeltaRequest {
    pub fn new(session_id: impl Into<String>, record_all_actions: bool) -> DeltaRequest {
        DeltaRequest { session_id: session_id.into(), record_all_actions, actions: Vec::new() }
    }

    /// `addAction`: unless `record_all_actions`, the earlier action with the same name (whatever
    /// its kind) is removed first; the new one goes last.
    pub fn record(&mut self, action: DeltaAction) {
        if !self.record_all_actions {
            if let Some(i) = self.actions.iter().position(|a| a.name == action.name) {
                self.actions.remove(i);
            }
        }
        self.actions.push(action);
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// `DeltaRequest.serialize()`: the external form in a fresh stream, block data segmented as
    /// Java does, values written with the identity sharing of one `ObjectOutputStream`.
    pub fn encode(&self) -> Result<Vec<u8>, SessionCodecError> {
        let mut w = ObjectWriter::new();
        w.write_utf(&self.session_id)?;
        w.write_bool(self.record_all_actions);
        w.write_i32(
            i32::try_from(self.actions.len()).map_err(|_| SessionCodecError::Layout("too many actions".into()))?,
        );
        for a in &self.actions {
            w.write_i32(a.kind.code());
            w.write_i32(a.op.code());
            w.write_utf(&a.name)?;
            w.write_bool(a.value.is_some());
            if let Some(v) = &a.value {
                w.embed(v.bytes())?;
            }
        }
        Ok(w.finish())
    }

    /// `DeltaRequest.readExternal` on untrusted bytes. The stream is parsed with `opts`' limits;
    /// each value is then checked with `opts`' class filter on its own, and an action whose value
    /// the filter refuses is dropped alone and listed in [`DecodedDelta::rejected`]. Anything
    /// else wrong fails the whole delta.
    pub fn decode(bytes: &[u8], opts: &ParseOptions) -> Result<DecodedDelta, SessionCodecError> {
        let outer = ParseOptions { limits: opts.limits.clone(), filter: None };
        let s = jser::parse_with(bytes, &outer)?;
        let flat = super::value::tape(&s)?;
        let mut r = TapeReader::new(flat);
        let session_id = r.read_utf()?.to_string_lossy();
        let record_all_actions = r.read_bool()?;
        let count = r.read_i32()?;
        let mut taker = ValueTaker::new(flat, opts);
        let mut out = DecodedDelta {
            request: DeltaRequest {
                session_id,
                record_all_actions,
                actions: Vec::with_capacity(count.clamp(0, 1024) as usize),
            },
            rejected: Vec::new(),
        };
        for _ in 0..count.max(0) {
            let kind = ActionKind::from_code(r.read_i32()?);
            let op = Op::from_code(r.read_i32()?);
            let name = r.read_utf()?.to_string_lossy();
            let value = if r.read_bool()? {
                match taker.take(r.read_value()?)? {
                    Taken::Value(v) => Some(v),
                    Taken::Refused(class_name, reason) => {
                        out.rejected.push(Rejected { name, class_name, reason });
                        continue;
                    }
                    Taken::Aborted(class_name) => {
                        return Err(SessionCodecError::Layout(format!(
                            "value of action {name:?} ({class_name}) was aborted by its writer (TC_EXCEPTION)"
                        )))
                    }
                }
            } else {
                None
            };
            out.request.actions.push(DeltaAction { kind, op, name, value });
        }
        Ok(out)
    }
}
