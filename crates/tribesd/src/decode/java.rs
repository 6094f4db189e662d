//! Java serialization streams inside messages (`AC ED 00 05 ...`), parsed with `jser`: the
//! classes, a listing of the object tree, and for a `SessionMessageImpl` its fields by name and
//! the DeltaRequest carried by an `EVT_SESSION_DELTA` (session-replication.md §4, §7).

use std::io::{self, Write};

use jser::{DataReader, DescKind, Elements, Item as JItem, Stream, Value};
use serde::Serialize;

/// Lines of the object-tree listing shown before "... N more lines".
const MAX_DUMP_LINES: usize = 200;
/// Characters of a string value (or of a listing line) shown before it is shortened.
const MAX_TEXT: usize = 80;
/// DeltaRequest actions read; a larger count is read only this far.
const MAX_ACTIONS: usize = 1000;
/// Actions printed in the human output.
const MAX_ACTIONS_SHOWN: usize = 100;

const SESSION_MESSAGE: &str = "org.apache.catalina.ha.session.SessionMessageImpl";
const EVT_SESSION_DELTA: i32 = 13;

/// A parsed Java stream. Offsets are absolute, counted from the start of the input.
#[derive(Debug, Serialize)]
pub(crate) struct JavaView {
    pub offset: usize,
    pub length: usize,
    /// Every class descriptor of the stream, in order of appearance.
    pub classes: Vec<ClassInfo>,
    /// One short description per top-level content (`object ...`, `String "..."`, `block data 9 bytes`).
    pub contents: Vec<String>,
    /// Set when the first value is a `SessionMessageImpl`.
    pub session_message: Option<SessionMessageView>,
    /// For a stream inside `mSession` that is not a DeltaRequest: the nested stream.
    pub nested: Option<Box<JavaView>>,
    /// `jser`'s listing, one line per grammar element, long lines shortened.
    pub dump: Vec<String>,
    /// Lines of the listing left out.
    pub dump_omitted: usize,
    /// Why the stream could not be parsed; nothing else is set then.
    pub error: Option<JavaError>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ClassInfo {
    pub name: String,
    /// Null for a proxy class.
    pub serial_version_uid: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct JavaError {
    /// Absolute offset of the byte `jser` stopped at.
    pub offset: usize,
    /// The same, counted from the `AC` of the stream.
    pub stream_offset: usize,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionMessageView {
    pub event_type: Option<i32>,
    /// `EVT_SESSION_DELTA`, ...; null for an unknown type.
    pub event_name: Option<&'static str>,
    pub context_name: Option<String>,
    pub session_id: Option<String>,
    pub unique_id: Option<String>,
    pub serialization_timestamp: Option<i64>,
    pub timestamp_set: Option<bool>,
    /// `ClusterMessageBase.timestamp`.
    pub timestamp: Option<i64>,
    /// Length of `mSession`; null when `mSession` is null.
    pub session_length: Option<usize>,
    /// Absolute offset of the `mSession` bytes, when found in the input.
    pub session_offset: Option<usize>,
    /// `mSession` read as a DeltaRequest (EVT_SESSION_DELTA).
    pub delta: Option<DeltaView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeltaView {
    pub session_id: Option<String>,
    pub record_all_actions: Option<bool>,
    pub count: Option<i32>,
    pub actions: Vec<ActionView>,
    /// Where the external data stopped matching DeltaRequest's layout.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ActionView {
    #[serde(rename = "type")]
    pub type_code: i32,
    pub type_name: Option<&'static str>,
    pub action: i32,
    /// `SET` or `REMOVE`.
    pub action_name: Option<&'static str>,
    pub name: String,
    pub value_class: Option<String>,
    /// A short description of the value; null when the action has none.
    pub value: Option<String>,
}

pub(crate) fn event_name(t: i32) -> Option<&'static str> {
    Some(match t {
        1 => "EVT_SESSION_CREATED",
        2 => "EVT_SESSION_EXPIRED",
        3 => "EVT_SESSION_ACCESSED",
        4 => "EVT_GET_ALL_SESSIONS",
        12 => "EVT_ALL_SESSION_DATA",
        13 => "EVT_SESSION_DELTA",
        14 => "EVT_ALL_SESSION_TRANSFERCOMPLETE",
        15 => "EVT_CHANGE_SESSION_ID",
        16 => "EVT_ALL_SESSION_NOCONTEXTMANAGER",
        _ => return None,
    })
}

fn action_type_name(t: i32) -> Option<&'static str> {
    Some(match t {
        0 => "TYPE_ATTRIBUTE",
        1 => "TYPE_PRINCIPAL",
        2 => "TYPE_ISNEW",
        3 => "TYPE_MAXINTERVAL",
        4 => "TYPE_AUTHTYPE",
        5 => "TYPE_LISTENER",
        6 => "TYPE_NOTE",
        _ => return None,
    })
}

impl JavaView {
    /// Parses `bytes` (a whole Java stream) found at absolute `offset` in the input.
    pub(crate) fn parse(bytes: &[u8], offset: usize) -> Self {
        let mut view = JavaView {
            offset,
            length: bytes.len(),
            classes: Vec::new(),
            contents: Vec::new(),
            session_message: None,
            nested: None,
            dump: Vec::new(),
            dump_omitted: 0,
            error: None,
        };
        let s = match jser::parse(bytes) {
            Ok(s) => s,
            Err(e) => {
                view.error = Some(JavaError {
                    offset: offset + e.offset(),
                    stream_offset: e.offset(),
                    message: e.kind.to_string(),
                });
                return view;
            }
        };
        for item in &s.items {
            if let JItem::ClassDesc(d) = item {
                match &d.kind {
                    DescKind::Class { name, uid, .. } => {
                        view.classes.push(ClassInfo { name: name.to_string_lossy(), serial_version_uid: Some(*uid) })
                    }
                    DescKind::Proxy { interfaces } => view.classes.extend(
                        interfaces.iter().map(|i| ClassInfo { name: i.to_string_lossy(), serial_version_uid: None }),
                    ),
                }
            }
        }
        view.contents = s
            .contents
            .iter()
            .map(|c| match c {
                jser::Content::Value(v) => describe(&s, v),
                jser::Content::Block(b) => format!("block data {} bytes", b.bytes.len()),
                jser::Content::Reset => "TC_RESET".into(),
            })
            .collect();
        let dump = s.dump();
        let lines: Vec<&str> = dump.lines().collect();
        view.dump_omitted = lines.len().saturating_sub(MAX_DUMP_LINES);
        view.dump = lines.iter().take(MAX_DUMP_LINES).map(|l| shorten_line(l)).collect();
        if let Some(first) = s.values().next() {
            if s.class_name_of(first).as_deref() == Some(SESSION_MESSAGE) {
                let (sm, nested) = session_message(&s, first, bytes, offset);
                view.session_message = Some(sm);
                view.nested = nested.map(Box::new);
            }
        }
        view
    }

    /// The first parse error of this stream or of a nested one, as one line.
    pub(crate) fn error_text(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(format!(
                "Java stream at offset {}: {} at offset {} (offset {} in the stream)",
                self.offset, e.message, e.offset, e.stream_offset
            ));
        }
        self.nested.as_ref().and_then(|n| n.error_text()).map(|t| format!("in mSession: {t}"))
    }
}

fn session_message(s: &Stream, v: &Value, bytes: &[u8], offset: usize) -> (SessionMessageView, Option<JavaView>) {
    let field = |name: &str| s.field(v, name);
    let string = |name: &str| field(name).and_then(|f| f.as_value()).and_then(|v| s.string(v));
    let event_type = field("mEvtType").and_then(|f| f.as_i32());
    let session = field("mSession").and_then(|f| f.as_value()).and_then(|v| s.bytes(v));
    let session_offset = session.and_then(|b| find(bytes, b)).map(|at| offset + at);
    let mut view = SessionMessageView {
        event_type,
        event_name: event_type.and_then(event_name),
        context_name: string("mContextName"),
        session_id: string("mSessionID"),
        unique_id: string("uniqueId"),
        serialization_timestamp: field("serializationTimestamp").and_then(|f| f.as_i64()),
        timestamp_set: field("timestampSet").and_then(|f| f.as_bool()),
        timestamp: field("ClusterMessageBase.timestamp").and_then(|f| f.as_i64()),
        session_length: session.map(<[u8]>::len),
        session_offset,
        delta: None,
    };
    let mut nested = None;
    if let Some(b) = session.filter(|b| b.starts_with(&[0xac, 0xed, 0x00, 0x05])) {
        let at = session_offset.unwrap_or(0);
        match jser::parse(b) {
            Ok(ds) if event_type == Some(EVT_SESSION_DELTA) => view.delta = Some(delta_request(&ds)),
            _ => nested = Some(JavaView::parse(b, at)),
        }
    }
    (view, nested)
}

/// `DeltaRequest.readExternal`: UTF session id, boolean recordAllActions, int count, then per
/// action int type, int action, UTF name, boolean hasValue and, if set, one object.
fn delta_request(s: &Stream) -> DeltaView {
    let mut d = DeltaView { session_id: None, record_all_actions: None, count: None, actions: Vec::new(), error: None };
    let mut r = DataReader::new(&s.contents);
    let result = (|| -> Result<(), String> {
        let e = |what: &str, err: jser::DataError| format!("reading {what}: {err}");
        d.session_id = Some(r.read_utf().map_err(|x| e("the session id", x))?.to_string_lossy());
        d.record_all_actions = Some(r.read_bool().map_err(|x| e("recordAllActions", x))?);
        let count = r.read_i32().map_err(|x| e("the action count", x))?;
        d.count = Some(count);
        for i in 0..usize::try_from(count).unwrap_or(0).min(MAX_ACTIONS) {
            let ctx = |what: &str| format!("action {i} {what}");
            let type_code = r.read_i32().map_err(|x| e(&ctx("type"), x))?;
            let action = r.read_i32().map_err(|x| e(&ctx("action"), x))?;
            let name = r.read_utf().map_err(|x| e(&ctx("name"), x))?.to_string_lossy();
            let has_value = r.read_bool().map_err(|x| e(&ctx("hasValue"), x))?;
            let (value_class, value) = if has_value {
                let v = r.read_value().map_err(|x| e(&ctx("value"), x))?;
                (s.class_name_of(v), Some(describe(s, v)))
            } else {
                (None, None)
            };
            d.actions.push(ActionView {
                type_code,
                type_name: action_type_name(type_code),
                action,
                action_name: match action {
                    0 => Some("SET"),
                    1 => Some("REMOVE"),
                    _ => None,
                },
                name,
                value_class,
                value,
            });
        }
        Ok(())
    })();
    d.error = result.err();
    d
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Text shortened to [`MAX_TEXT`] characters.
fn shorten(text: &str) -> String {
    let n = text.chars().count();
    if n <= MAX_TEXT {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_TEXT).collect();
    format!("{head}... ({} more chars)", n - MAX_TEXT)
}

fn shorten_line(line: &str) -> String {
    let n = line.chars().count();
    if n <= 2 * MAX_TEXT {
        return line.to_string();
    }
    let head: String = line.chars().take(2 * MAX_TEXT).collect();
    format!("{head}... ({} more chars)", n - 2 * MAX_TEXT)
}

fn short_class(name: &str) -> &str {
    name.strip_prefix("java.lang.").filter(|n| !n.contains('.')).unwrap_or(name)
}

/// One value in a few words: `String "alice"`, `Integer 7`, `byte[] 12 bytes`, `object a.B`.
pub(crate) fn describe(s: &Stream, v: &Value) -> String {
    match v {
        Value::Null => return "null".into(),
        Value::Exception(_) => return "exception (TC_EXCEPTION)".into(),
        _ => {}
    }
    match s.resolve(v) {
        None => "missing item".into(),
        Some(JItem::String(t)) => format!("String {:?}", shorten(&t.text.to_string_lossy())),
        Some(JItem::Array(a)) => {
            let name = s.class_name_of(v).unwrap_or_default();
            match &a.elements {
                Elements::Byte(b) => format!("byte[] {} bytes", b.len()),
                e => format!("array {name} length {}", e.len()),
            }
        }
        Some(JItem::Enum(e)) => {
            format!("enum {}.{}", s.class_name_of(v).unwrap_or_default(), s.string(&e.name).unwrap_or_default())
        }
        Some(JItem::Class(_)) => format!("class {}", s.class_name_of(v).unwrap_or_default()),
        Some(JItem::ClassDesc(_)) => format!("class descriptor {}", s.class_name_of(v).unwrap_or_default()),
        Some(JItem::Object(_)) => {
            let name = s.class_name_of(v).unwrap_or_else(|| "(proxy)".into());
            let boxed = matches!(
                name.as_str(),
                "java.lang.Integer"
                    | "java.lang.Long"
                    | "java.lang.Short"
                    | "java.lang.Byte"
                    | "java.lang.Boolean"
                    | "java.lang.Character"
                    | "java.lang.Double"
                    | "java.lang.Float"
            );
            match s.field(v, "value").and_then(|f| f.as_prim()) {
                Some(p) if boxed => format!("{} {}", short_class(&name), prim_text(p)),
                _ => format!("object {name}"),
            }
        }
    }
}

fn prim_text(p: jser::Prim) -> String {
    use jser::Prim::*;
    match p {
        Byte(v) => v.to_string(),
        Char(v) => char::from_u32(u32::from(v)).map_or_else(|| format!("\\u{v:04x}"), |c| format!("{c:?}")),
        Double(v) => format!("{v:?}"),
        Float(v) => format!("{v:?}"),
        Int(v) => v.to_string(),
        Long(v) => v.to_string(),
        Short(v) => v.to_string(),
        Boolean(v) => (v != 0).to_string(),
    }
}

fn opt_str(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| "null".into(), |t| format!("{:?}", shorten(t)))
}

fn line(out: &mut impl Write, indent: usize, label: &str, value: impl std::fmt::Display) -> io::Result<()> {
    let label = format!("{label}:");
    writeln!(out, "{:indent$}{label:<16}{value}", "")
}

/// The human listing of a Java stream, at `indent`.
pub(crate) fn write_human(out: &mut impl Write, indent: usize, j: &JavaView) -> io::Result<()> {
    if let Some(e) = &j.error {
        return line(
            out,
            indent,
            "java error",
            format_args!("{} at offset {} (offset {} in the stream)", e.message, e.offset, e.stream_offset),
        );
    }
    let classes: Vec<String> = j
        .classes
        .iter()
        .map(|c| match c.serial_version_uid {
            Some(uid) => format!("{} (serialVersionUID {uid})", c.name),
            None => format!("{} (proxy)", c.name),
        })
        .collect();
    line(out, indent, "java stream", format_args!("{} bytes at offset {}", j.length, j.offset))?;
    line(out, indent + 2, "classes", if classes.is_empty() { "(none)".into() } else { classes.join(", ") })?;
    for (i, c) in j.contents.iter().enumerate() {
        line(out, indent + 2, &format!("contents[{i}]"), c)?;
    }
    if let Some(m) = &j.session_message {
        write_session_message(out, indent + 2, m)?;
    }
    if let Some(n) = &j.nested {
        writeln!(out, "{:w$}mSession:", "", w = indent + 2)?;
        write_human(out, indent + 4, n)?;
    }
    writeln!(out, "{:indent$}object tree:", "")?;
    for l in &j.dump {
        writeln!(out, "{:w$}{l}", "", w = indent + 2)?;
    }
    if j.dump_omitted > 0 {
        writeln!(out, "{:w$}... {} more lines", "", j.dump_omitted, w = indent + 2)?;
    }
    Ok(())
}

fn write_session_message(out: &mut impl Write, indent: usize, m: &SessionMessageView) -> io::Result<()> {
    let event = match (m.event_type, m.event_name) {
        (Some(t), Some(n)) => format!("{t} {n}"),
        (Some(t), None) => format!("{t} (unknown)"),
        (None, _) => "(missing)".into(),
    };
    writeln!(out, "{:indent$}SessionMessageImpl:", "")?;
    let indent = indent + 2;
    line(out, indent, "event type", event)?;
    line(out, indent, "context", opt_str(&m.context_name))?;
    line(out, indent, "session id", opt_str(&m.session_id))?;
    line(out, indent, "unique id", opt_str(&m.unique_id))?;
    let ts = |t: Option<i64>| match t {
        Some(t) => match super::view::utc_millis(t) {
            Some(utc) => format!("{t} ({utc})"),
            None => t.to_string(),
        },
        None => "(missing)".into(),
    };
    line(out, indent, "serialized at", ts(m.serialization_timestamp))?;
    line(out, indent, "timestamp set", m.timestamp_set.map_or_else(|| "(missing)".into(), |b| b.to_string()))?;
    line(out, indent, "timestamp", ts(m.timestamp))?;
    match (m.session_length, m.session_offset) {
        (None, _) => line(out, indent, "mSession", "null")?,
        (Some(n), Some(at)) => line(out, indent, "mSession", format_args!("{n} bytes at offset {at}"))?,
        (Some(n), None) => line(out, indent, "mSession", format_args!("{n} bytes"))?,
    }
    if let Some(d) = &m.delta {
        writeln!(out, "{:w$}DeltaRequest:", "", w = indent + 2)?;
        let i = indent + 4;
        line(out, i, "session id", opt_str(&d.session_id))?;
        if let Some(r) = d.record_all_actions {
            line(out, i, "record all", r)?;
        }
        if let Some(c) = d.count {
            line(out, i, "actions", c)?;
        }
        for (n, a) in d.actions.iter().take(MAX_ACTIONS_SHOWN).enumerate() {
            let action = a.action_name.map_or_else(|| format!("action {}", a.action), str::to_string);
            let ty = a.type_name.map_or_else(|| format!("type {}", a.type_code), str::to_string);
            let value = a.value.as_deref().map(|v| format!(" = {v}")).unwrap_or_default();
            writeln!(out, "{:w$}[{n}] {action} {ty} {:?}{value}", "", shorten(&a.name), w = i + 2)?;
        }
        if d.actions.len() > MAX_ACTIONS_SHOWN {
            writeln!(out, "{:w$}... {} more actions", "", d.actions.len() - MAX_ACTIONS_SHOWN, w = i + 2)?;
        }
        if let Some(e) = &d.error {
            line(out, i, "delta error", e)?;
        }
    }
    Ok(())
}
