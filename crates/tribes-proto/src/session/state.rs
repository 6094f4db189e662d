//! The session-state stream of `EVT_ALL_SESSION_DATA` (session-replication.md §8).
//!
//! Spec: `DeltaManager.serializeSessions` / `deserializeSessions` and
//! `DeltaSession.writeObjectData` / `readObjectData` (`doWriteObject` / `doReadObject`): one
//! `ObjectOutputStream`, an `Integer` session count, then per session boxed scalars, the
//! principal flag (block data) and principal, the id, the two authentication notes (10.1/11.0;
//! 9.0 only with `persistAuthenticationNotes`), the attributes and the replicated listeners.

use jser::{ObjectWriter, ParseOptions, TapeField, TapeReader, TapeValue};

use super::value::{Rejected, Taken, ValueTaker};
use super::{JavaValue, SessionCodecError};

/// Which layout `DeltaSession.writeObjectData` used: 9.0 writes no authentication notes (with
/// its default `persistAuthenticationNotes=false`), 10.1 and 11.0 always write two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateForm {
    /// No notes after the id (Tomcat 9.0 defaults).
    WithoutNotes,
    /// SESSION_ID note and FORM_REQUEST note after the id (Tomcat 10.1, 11.0).
    WithNotes,
}

/// One session as the state stream carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub creation_time: i64,
    pub last_accessed_time: i64,
    pub max_inactive_interval: i32,
    pub is_new: bool,
    pub is_valid: bool,
    pub this_accessed_time: i64,
    pub version: i64,
    pub principal: Option<JavaValue>,
    pub id: String,
    /// `org.apache.catalina.authenticator.SESSION_ID` note.
    pub session_id_note: Option<JavaValue>,
    /// `org.apache.catalina.authenticator.REQUEST` note (FORM login's saved request).
    pub form_request_note: Option<JavaValue>,
    /// In stream order.
    pub attributes: Vec<(String, JavaValue)>,
    pub listeners: Vec<JavaValue>,
}

impl SessionRecord {
    /// A valid, new session without principal, notes, attributes or listeners, all its times
    /// `creation_time`, version 0.
    pub fn new(id: impl Into<String>, creation_time: i64, max_inactive_interval: i32) -> SessionRecord {
        SessionRecord {
            creation_time,
            last_accessed_time: creation_time,
            max_inactive_interval,
            is_new: true,
            is_valid: true,
            this_accessed_time: creation_time,
            version: 0,
            principal: None,
            id: id.into(),
            session_id_note: None,
            form_request_note: None,
            attributes: Vec::new(),
            listeners: Vec::new(),
        }
    }

    /// The value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&JavaValue> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// The sessions of a state stream, and the values the class filter (or the sender's failed
/// write) kept out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedState {
    pub sessions: Vec<SessionRecord>,
    /// `(session id, what was dropped)`: attributes by name, `principal`, a note by its name, or
    /// `listener`. The session itself is kept without that value.
    pub rejected: Vec<(String, Rejected)>,
}

/// `DeltaManager.serializeSessions(sessions)`.
pub fn encode_state(sessions: &[SessionRecord], form: StateForm) -> Result<Vec<u8>, SessionCodecError> {
    let mut e = StateEncoder::new(sessions.len(), form)?;
    for s in sessions {
        e.push(s)?;
    }
    e.finish()
}

/// Writes a state stream one session at a time; [`StateEncoder::take_written`] hands out the
/// bytes ready so far, so a large transfer need not be held whole.
///
/// Byte-identical with Tomcat for the same data: class descriptors, cached boxes
/// (`Boolean`, small `Integer`/`Long`), enum constants and attribute names (interned literals
/// in typical webapps) are written once and referred to afterwards, as Java's single
/// `ObjectOutputStream` does.
#[derive(Debug)]
pub struct StateEncoder {
    w: ObjectWriter,
    form: StateForm,
    expected: usize,
    written: usize,
}

impl StateEncoder {
    /// Starts a stream announcing `count` sessions.
    pub fn new(count: usize, form: StateForm) -> Result<StateEncoder, SessionCodecError> {
        let mut w = ObjectWriter::new();
        let n = i32::try_from(count).map_err(|_| SessionCodecError::Layout(format!("{count} sessions")))?;
        w.write_integer(n);
        Ok(StateEncoder { w, form, expected: count, written: 0 })
    }

    /// `DeltaSession.writeObjectData`.
    pub fn push(&mut self, s: &SessionRecord) -> Result<(), SessionCodecError> {
        if self.written == self.expected {
            return Err(SessionCodecError::Layout(format!("more than the {} sessions announced", self.expected)));
        }
        let w = &mut self.w;
        w.write_long(s.creation_time);
        w.write_long(s.last_accessed_time);
        w.write_integer(s.max_inactive_interval);
        w.write_boolean(s.is_new);
        w.write_boolean(s.is_valid);
        w.write_long(s.this_accessed_time);
        w.write_long(s.version);
        w.write_bool(s.principal.is_some());
        if let Some(p) = &s.principal {
            w.embed(p.bytes())?;
        }
        w.write_string(&s.id);
        if self.form == StateForm::WithNotes {
            for note in [&s.session_id_note, &s.form_request_note] {
                match note {
                    Some(v) => w.embed(v.bytes())?,
                    None => w.write_null(),
                }
            }
        }
        let n =
            i32::try_from(s.attributes.len()).map_err(|_| SessionCodecError::Layout("too many attributes".into()))?;
        w.write_integer(n);
        for (name, value) in &s.attributes {
            w.write_shared_string(name);
            w.embed(value.bytes())?;
        }
        let n = i32::try_from(s.listeners.len()).map_err(|_| SessionCodecError::Layout("too many listeners".into()))?;
        w.write_integer(n);
        for l in &s.listeners {
            w.embed(l.bytes())?;
        }
        self.written += 1;
        Ok(())
    }

    /// The bytes complete so far (the first call includes the header).
    pub fn take_written(&mut self) -> Vec<u8> {
        self.w.take_written()
    }

    /// The rest of the stream. Fails if fewer sessions were pushed than announced.
    pub fn finish(self) -> Result<Vec<u8>, SessionCodecError> {
        if self.written != self.expected {
            return Err(SessionCodecError::Layout(format!(
                "{} sessions announced, {} written",
                self.expected, self.written
            )));
        }
        Ok(self.w.finish())
    }
}

/// The `value` field of a JDK wrapper object of `class`, or a layout error naming `what`.
fn boxed<'f>(v: TapeValue<'f>, class: &str, what: &str) -> Result<TapeField<'f>, SessionCodecError> {
    if !v.class_is(class) {
        return Err(SessionCodecError::Layout(format!(
            "{what}: expected a {class}, found {}",
            v.class_name().unwrap_or_else(|| if v.is_null() { "null".into() } else { "a non-object".into() })
        )));
    }
    v.field("value").ok_or_else(|| SessionCodecError::Layout(format!("{what}: {class} without its value")))
}

fn read_int(v: TapeValue<'_>, what: &str) -> Result<i32, SessionCodecError> {
    boxed(v, "java.lang.Integer", what)?
        .as_i32()
        .ok_or_else(|| SessionCodecError::Layout(format!("{what}: Integer value is not an int")))
}

fn read_long(v: TapeValue<'_>, what: &str) -> Result<i64, SessionCodecError> {
    boxed(v, "java.lang.Long", what)?
        .as_i64()
        .ok_or_else(|| SessionCodecError::Layout(format!("{what}: Long value is not a long")))
}

fn read_boolean(v: TapeValue<'_>, what: &str) -> Result<bool, SessionCodecError> {
    boxed(v, "java.lang.Boolean", what)?
        .as_bool()
        .ok_or_else(|| SessionCodecError::Layout(format!("{what}: Boolean value is not a boolean")))
}

/// `DeltaManager.deserializeSessions` on untrusted bytes, reading each session exactly as
/// `DeltaSession.readObjectData` does: after the id one object is read; an `Integer` is the
/// attribute count (no notes), anything else is the SESSION_ID note followed by the
/// FORM_REQUEST note and the count. An attribute whose value the sender could not write
/// (`TC_EXCEPTION`) or whose value the class filter refuses is skipped (and listed); null
/// attribute values and null notes are not kept. The stream is parsed with `opts`' limits, each
/// value checked with `opts`' filter on its own.
pub fn decode_state(bytes: &[u8], opts: &ParseOptions) -> Result<DecodedState, SessionCodecError> {
    let outer = ParseOptions { limits: opts.limits.clone(), filter: None };
    let s = jser::parse_with(bytes, &outer)?;
    let flat = super::value::tape(&s)?;
    let mut r = TapeReader::new(flat);
    let mut taker = ValueTaker::new(flat, opts);
    let mut out = DecodedState::default();
    let count = read_int(r.read_value()?, "session count")?;
    out.sessions.reserve(count.clamp(0, 1024) as usize);
    for _ in 0..count.max(0) {
        let creation_time = read_long(r.read_value()?, "creationTime")?;
        let last_accessed_time = read_long(r.read_value()?, "lastAccessedTime")?;
        let max_inactive_interval = read_int(r.read_value()?, "maxInactiveInterval")?;
        let is_new = read_boolean(r.read_value()?, "isNew")?;
        let is_valid = read_boolean(r.read_value()?, "isValid")?;
        let this_accessed_time = read_long(r.read_value()?, "thisAccessedTime")?;
        let version = read_long(r.read_value()?, "version")?;
        let has_principal = r.read_bool()?;
        let principal_value = if has_principal { Some(r.read_value()?) } else { None };
        let id_value = r.read_value()?;
        let id = id_value.string().ok_or_else(|| SessionCodecError::Layout("session id is not a string".into()))?;
        let mut rejected = Vec::new();
        // Only an attribute value may be skipped after an aborted write (readObjectData catches
        // WriteAbortedException there alone).
        let mut take = |taker: &mut ValueTaker,
                        v: TapeValue<'_>,
                        name: &str,
                        attribute: bool|
         -> Result<Option<JavaValue>, SessionCodecError> {
            match taker.take(v)? {
                Taken::Value(v) if v.is_null() => Ok(None),
                Taken::Value(v) => Ok(Some(v)),
                Taken::Refused(class_name, reason) => {
                    rejected.push(Rejected { name: name.into(), class_name, reason });
                    Ok(None)
                }
                Taken::Aborted(class_name) if !attribute => Err(SessionCodecError::Layout(format!(
                    "{name} ({class_name}) was aborted by its writer (TC_EXCEPTION)"
                ))),
                Taken::Aborted(class_name) => {
                    rejected.push(Rejected {
                        name: name.into(),
                        class_name,
                        reason: "the sender could not serialize it (TC_EXCEPTION)".into(),
                    });
                    Ok(None)
                }
            }
        };
        let principal = match principal_value {
            Some(v) => take(&mut taker, v, "principal", false)?,
            None => None,
        };
        let mut next = r.read_value()?;
        let (mut session_id_note, mut form_request_note) = (None, None);
        if !next.class_is("java.lang.Integer") {
            session_id_note = take(&mut taker, next, "org.apache.catalina.authenticator.SESSION_ID", false)?;
            form_request_note = take(&mut taker, r.read_value()?, "org.apache.catalina.authenticator.REQUEST", false)?;
            next = r.read_value()?;
        }
        let n = read_int(next, "attribute count")?;
        let mut attributes = Vec::with_capacity(n.clamp(0, 1024) as usize);
        for _ in 0..n.max(0) {
            let name_value = r.read_value()?;
            let name = name_value
                .string()
                .ok_or_else(|| SessionCodecError::Layout(format!("attribute name of session {id} is not a string")))?;
            if let Some(v) = take(&mut taker, r.read_value()?, &name, true)? {
                attributes.push((name, v));
            }
        }
        let n = read_int(r.read_value()?, "listener count")?;
        let mut listeners = Vec::with_capacity(n.clamp(0, 1024) as usize);
        for _ in 0..n.max(0) {
            if let Some(v) = take(&mut taker, r.read_value()?, "listener", false)? {
                listeners.push(v);
            }
        }
        out.rejected.extend(rejected.into_iter().map(|rj| (id.clone(), rj)));
        out.sessions.push(SessionRecord {
            creation_time,
            last_accessed_time,
            max_inactive_interval,
            is_new,
            is_valid,
            this_accessed_time,
            version,
            principal,
            id,
            session_id_note,
            form_request_note,
            attributes,
            listeners,
        });
    }
    Ok(out)
}
