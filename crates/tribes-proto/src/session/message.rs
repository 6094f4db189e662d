//! `org.apache.catalina.ha.session.SessionMessageImpl` (session-replication.md §2, §3).
//!
//! Spec: `SessionMessageImpl` (serialVersionUID 2) over `ClusterMessageBase` (serialVersionUID
//! 1), written by `XByteBuffer.serialize` (a plain `ObjectOutputStream.writeObject`). The layout
//! is fixed: the 275-byte prologue of `java-serialization.md` §6, then the field values.

use std::sync::OnceLock;

use bytes::Bytes;
use jser::constants::*;
use jser::{ClassFilter, Limits, Mutf8, ParseOptions};

use super::SessionCodecError;

/// `SessionMessage.EVT_*`. Unknown codes are kept (the receiver ignores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Created,
    Expired,
    Accessed,
    GetAllSessions,
    AllSessionData,
    Delta,
    TransferComplete,
    ChangeSessionId,
    NoContextManager,
    Unknown(i32),
}

impl EventType {
    /// The `mEvtType` code.
    pub fn code(self) -> i32 {
        match self {
            EventType::Created => 1,
            EventType::Expired => 2,
            EventType::Accessed => 3,
            EventType::GetAllSessions => 4,
            EventType::AllSessionData => 12,
            EventType::Delta => 13,
            EventType::TransferComplete => 14,
            EventType::ChangeSessionId => 15,
            EventType::NoContextManager => 16,
            EventType::Unknown(c) => c,
        }
    }

    /// The event of a code; codes Tomcat does not define give [`EventType::Unknown`].
    pub fn from_code(code: i32) -> EventType {
        match code {
            1 => EventType::Created,
            2 => EventType::Expired,
            3 => EventType::Accessed,
            4 => EventType::GetAllSessions,
            12 => EventType::AllSessionData,
            13 => EventType::Delta,
            14 => EventType::TransferComplete,
            15 => EventType::ChangeSessionId,
            16 => EventType::NoContextManager,
            c => EventType::Unknown(c),
        }
    }
}

/// One decoded `SessionMessageImpl`. `payload` is `mSession` (a nested Java stream or null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMessage {
    pub event: EventType,
    /// `serializationTimestamp` (epoch ms).
    pub timestamp: i64,
    pub timestamp_set: bool,
    pub context: Option<String>,
    pub payload: Option<Bytes>,
    pub session_id: Option<String>,
    pub unique_id: Option<String>,
}

/// Everything `ObjectOutputStream` writes for a `SessionMessageImpl` before its field values:
/// header, `TC_OBJECT`, both class descriptors (handles `7E0000`..`7E0003`); 275 bytes.
fn prologue() -> &'static [u8] {
    static PROLOGUE: OnceLock<Vec<u8>> = OnceLock::new();
    PROLOGUE.get_or_init(|| {
        fn utf(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        let mut p = vec![0xAC, 0xED, 0x00, 0x05, TC_OBJECT, TC_CLASSDESC];
        utf(&mut p, CLASS);
        p.extend_from_slice(&2i64.to_be_bytes());
        p.extend_from_slice(&[SC_SERIALIZABLE, 0, 7]);
        for (code, name) in [(b'I', "mEvtType"), (b'J', "serializationTimestamp"), (b'Z', "timestampSet")] {
            p.push(code);
            utf(&mut p, name);
        }
        p.push(b'L');
        utf(&mut p, "mContextName");
        p.push(TC_STRING); // 7E0001
        utf(&mut p, "Ljava/lang/String;");
        p.push(b'[');
        utf(&mut p, "mSession");
        p.push(TC_STRING); // 7E0002
        utf(&mut p, "[B");
        for name in ["mSessionID", "uniqueId"] {
            p.push(b'L');
            utf(&mut p, name);
            p.extend_from_slice(&[TC_REFERENCE, 0x00, 0x7E, 0x00, 0x01]);
        }
        p.extend_from_slice(&[TC_ENDBLOCKDATA, TC_CLASSDESC]); // 7E0003
        utf(&mut p, "org.apache.catalina.ha.ClusterMessageBase");
        p.extend_from_slice(&1i64.to_be_bytes());
        p.extend_from_slice(&[SC_SERIALIZABLE, 0, 1, b'J']);
        utf(&mut p, "timestamp");
        p.extend_from_slice(&[TC_ENDBLOCKDATA, TC_NULL]);
        p
    })
}

/// `TC_ARRAY` and the `[B` descriptor, before the length and the bytes.
const BYTE_ARRAY_DESC: &[u8] = &[
    TC_ARRAY,
    TC_CLASSDESC,
    0x00,
    0x02,
    b'[',
    b'B',
    0xAC,
    0xF3,
    0x17,
    0xF8,
    0x06,
    0x08,
    0x54,
    0xE0,
    SC_SERIALIZABLE,
    0x00,
    0x00,
    TC_ENDBLOCKDATA,
    TC_NULL,
];

const CLASS: &str = "org.apache.catalina.ha.session.SessionMessageImpl";

impl SessionMessage {
    /// A message with no timestamp set (`timestampSet` false, timestamp 0).
    pub fn new(
        event: EventType,
        context: impl Into<String>,
        payload: Option<Bytes>,
        session_id: impl Into<String>,
        unique_id: impl Into<String>,
    ) -> SessionMessage {
        SessionMessage {
            event,
            timestamp: 0,
            timestamp_set: false,
            context: Some(context.into()),
            payload,
            session_id: Some(session_id.into()),
            unique_id: Some(unique_id.into()),
        }
    }

    /// `setTimestamp`: only the first call takes effect, as in `SessionMessageImpl`.
    pub fn with_timestamp(mut self, ts: i64) -> SessionMessage {
        if !self.timestamp_set {
            self.timestamp = ts;
            self.timestamp_set = true;
        }
        self
    }

    /// `EVT_SESSION_CREATED` as `DeltaManager.sendCreateSession` builds it: unique id
    /// `<id>-<now>`, timestamp = the session's creation time.
    pub fn created(context: &str, id: &str, creation_time: i64, now: i64) -> SessionMessage {
        SessionMessage::new(EventType::Created, context, None, id, format!("{id}-{now}")).with_timestamp(creation_time)
    }

    /// `EVT_SESSION_EXPIRED` (`DeltaManager.sessionExpired`): unique id `<id>-EXPIRED-MSG`.
    pub fn expired(context: &str, id: &str, now: i64) -> SessionMessage {
        SessionMessage::new(EventType::Expired, context, None, id, format!("{id}-EXPIRED-MSG")).with_timestamp(now)
    }

    /// `EVT_SESSION_ACCESSED` (`DeltaManager.createMessage`): unique id `<id>-<now>`.
    pub fn accessed(context: &str, id: &str, now: i64) -> SessionMessage {
        SessionMessage::new(EventType::Accessed, context, None, id, format!("{id}-{now}")).with_timestamp(now)
    }

    /// `EVT_GET_ALL_SESSIONS` (`DeltaManager.getAllClusterSessions`): `GET-ALL`,
    /// `GET-ALL-<context>`.
    pub fn get_all_sessions(context: &str, now: i64) -> SessionMessage {
        SessionMessage::new(EventType::GetAllSessions, context, None, "GET-ALL", format!("GET-ALL-{context}"))
            .with_timestamp(now)
    }

    /// `EVT_ALL_SESSION_DATA` (`DeltaManager.sendSessions`): `SESSION-STATE`,
    /// `SESSION-STATE-<context>`, the state stream as payload.
    pub fn all_session_data(context: &str, payload: impl Into<Bytes>, snapshot_ts: i64) -> SessionMessage {
        SessionMessage::new(
            EventType::AllSessionData,
            context,
            Some(payload.into()),
            "SESSION-STATE",
            format!("SESSION-STATE-{context}"),
        )
        .with_timestamp(snapshot_ts)
    }

    /// `EVT_SESSION_DELTA` (`DeltaManager.createMessage`): unique id `<id>-<now>`, the
    /// DeltaRequest stream as payload.
    pub fn delta(context: &str, id: &str, payload: impl Into<Bytes>, now: i64) -> SessionMessage {
        SessionMessage::new(EventType::Delta, context, Some(payload.into()), id, format!("{id}-{now}"))
            .with_timestamp(now)
    }

    /// `EVT_ALL_SESSION_TRANSFERCOMPLETE` (`DeltaManager.handleGET_ALL_SESSIONS`):
    /// `SESSION-STATE-TRANSFERRED`, `SESSION-STATE-TRANSFERRED<context>` (no dash).
    pub fn transfer_complete(context: &str, snapshot_ts: i64) -> SessionMessage {
        SessionMessage::new(
            EventType::TransferComplete,
            context,
            None,
            "SESSION-STATE-TRANSFERRED",
            format!("SESSION-STATE-TRANSFERRED{context}"),
        )
        .with_timestamp(snapshot_ts)
    }

    /// `EVT_CHANGE_SESSION_ID` (`DeltaManager.changeSessionId`): the old id as session id,
    /// `<oldId>-<now>`, the new id as a `writeUTF` stream (§9).
    ///
    /// # Panics
    /// When `new_id` is over 65535 bytes of modified UTF-8 (`writeUTF` refuses it; session ids
    /// are a few dozen bytes). [`SessionMessage::try_change_session_id`] returns the error.
    pub fn change_session_id(context: &str, old_id: &str, new_id: &str, now: i64) -> SessionMessage {
        SessionMessage::try_change_session_id(context, old_id, new_id, now).expect("session id fits writeUTF")
    }

    /// [`SessionMessage::change_session_id`], failing for a new id `writeUTF` cannot write.
    pub fn try_change_session_id(
        context: &str,
        old_id: &str,
        new_id: &str,
        now: i64,
    ) -> Result<SessionMessage, SessionCodecError> {
        let mut w = jser::ObjectWriter::new();
        w.write_utf(new_id)?;
        let payload = Bytes::from(w.finish());
        Ok(SessionMessage::new(EventType::ChangeSessionId, context, Some(payload), old_id, format!("{old_id}-{now}"))
            .with_timestamp(now))
    }

    /// `EVT_ALL_SESSION_NOCONTEXTMANAGER` (`ClusterSessionListener`): `NO-CONTEXT-MANAGER`,
    /// `NO-CONTEXT-MANAGER-<context>`, timestamp not set.
    pub fn no_context_manager(context: &str) -> SessionMessage {
        SessionMessage::new(
            EventType::NoContextManager,
            context,
            None,
            "NO-CONTEXT-MANAGER",
            format!("NO-CONTEXT-MANAGER-{context}"),
        )
    }

    /// The new id carried by an `EVT_CHANGE_SESSION_ID` payload (`readUTF`).
    pub fn new_session_id(&self) -> Result<String, SessionCodecError> {
        let payload = self.payload.as_ref().ok_or_else(|| SessionCodecError::Layout("no payload".into()))?;
        let s = jser::parse(payload)?;
        let mut r = jser::TapeReader::new(super::value::tape(&s)?);
        Ok(r.read_utf()?.to_string_lossy())
    }

    /// The bytes `ObjectOutputStream.writeObject(sessionMessageImpl)` gives: the fixed prologue,
    /// the primitive fields, then each string (or `TC_NULL`) and the payload array as new
    /// objects.
    pub fn encode(&self) -> Vec<u8> {
        let payload_len = self.payload.as_ref().map_or(0, |p| p.len() + BYTE_ARRAY_DESC.len() + 4);
        let strings = [&self.context, &self.session_id, &self.unique_id];
        let mut out = Vec::with_capacity(
            prologue().len()
                + 21
                + payload_len
                + strings.iter().map(|s| s.as_ref().map_or(1, |s| s.len() + 9)).sum::<usize>(),
        );
        out.extend_from_slice(prologue());
        out.extend_from_slice(&0i64.to_be_bytes()); // ClusterMessageBase.timestamp
        out.extend_from_slice(&self.event.code().to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.push(u8::from(self.timestamp_set));
        let string = |out: &mut Vec<u8>, s: &Option<String>| match s {
            None => out.push(TC_NULL),
            Some(s) => {
                let m = Mutf8::encode(s);
                if m.len() > 0xFFFF {
                    out.push(TC_LONGSTRING);
                    out.extend_from_slice(&(m.len() as i64).to_be_bytes());
                } else {
                    out.push(TC_STRING);
                    out.extend_from_slice(&(m.len() as u16).to_be_bytes());
                }
                out.extend_from_slice(m.as_bytes());
            }
        };
        string(&mut out, &self.context);
        match &self.payload {
            None => out.push(TC_NULL),
            Some(p) => {
                out.extend_from_slice(BYTE_ARRAY_DESC);
                out.extend_from_slice(&(p.len() as i32).to_be_bytes());
                out.extend_from_slice(p);
            }
        }
        string(&mut out, &self.session_id);
        string(&mut out, &self.unique_id);
        out
    }

    /// Reads a `SessionMessageImpl` from untrusted bytes: only the two message classes may appear
    /// (arrays of bytes and strings need no class), the payload may be as large as the whole
    /// stream limit (256 MiB).
    pub fn decode(bytes: &[u8]) -> Result<SessionMessage, SessionCodecError> {
        let limits = Limits { max_array_len: Limits::default().max_total_bytes, ..Limits::default() };
        SessionMessage::decode_with(bytes, &limits)
    }

    /// [`SessionMessage::decode`] with other limits.
    pub fn decode_with(bytes: &[u8], limits: &Limits) -> Result<SessionMessage, SessionCodecError> {
        // Compiled once: a regex per message cost more than the whole rest of the decode.
        static FILTER: std::sync::OnceLock<ClassFilter> = std::sync::OnceLock::new();
        let filter = FILTER.get_or_init(|| {
            ClassFilter::allow(
                r"org\.apache\.catalina\.ha\.session\.SessionMessageImpl|org\.apache\.catalina\.ha\.ClusterMessageBase",
            )
            .expect("constant pattern compiles")
        });
        let opts = ParseOptions { limits: limits.clone(), filter: Some(filter.clone()) };
        let s = jser::parse_with(bytes, &opts)?;
        let flat = super::value::tape(&s)?;
        let mut values = flat.values();
        let top = match (values.next(), values.next()) {
            (Some(v), None) => v,
            _ => {
                return Err(SessionCodecError::Layout(format!(
                    "expected one object, found {} values",
                    flat.values().count()
                )))
            }
        };
        if !top.class_is(CLASS) {
            return Err(SessionCodecError::Layout(format!(
                "expected a {CLASS}, found {}",
                top.class_name().unwrap_or_else(|| "no object".into())
            )));
        }
        let missing = |f: &str| SessionCodecError::Layout(format!("{CLASS} without an expected {f} field"));
        let field = |name: &str| top.field(name);
        let event =
            field("SessionMessageImpl.mEvtType").and_then(|f| f.as_i32()).ok_or_else(|| missing("int mEvtType"))?;
        let timestamp = field("SessionMessageImpl.serializationTimestamp")
            .and_then(|f| f.as_i64())
            .ok_or_else(|| missing("long serializationTimestamp"))?;
        let timestamp_set = field("SessionMessageImpl.timestampSet")
            .and_then(|f| f.as_bool())
            .ok_or_else(|| missing("boolean timestampSet"))?;
        let string = |name: &str, qualified: &str| -> Result<Option<String>, SessionCodecError> {
            let v = field(qualified).and_then(|f| f.as_value()).ok_or_else(|| missing(name))?;
            if v.is_null() {
                return Ok(None);
            }
            v.string().map(Some).ok_or_else(|| SessionCodecError::Layout(format!("{name} is not a string")))
        };
        let context = string("mContextName", "SessionMessageImpl.mContextName")?;
        let session_id = string("mSessionID", "SessionMessageImpl.mSessionID")?;
        let unique_id = string("uniqueId", "SessionMessageImpl.uniqueId")?;
        let payload =
            field("SessionMessageImpl.mSession").and_then(|f| f.as_value()).ok_or_else(|| missing("mSession"))?;
        let payload = if payload.is_null() {
            None
        } else {
            let b = payload.byte_array().ok_or_else(|| SessionCodecError::Layout("mSession is not a byte[]".into()))?;
            Some(Bytes::copy_from_slice(b))
        };
        Ok(SessionMessage {
            event: EventType::from_code(event),
            timestamp,
            timestamp_set,
            context,
            payload,
            session_id,
            unique_id,
        })
    }
}
