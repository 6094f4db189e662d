//! One Java value (attribute, note, principal, listener) held as its own serialization stream.
//! [`jser::ObjectWriter::embed`] writes such values into one larger stream as a single
//! `java.io.ObjectOutputStream` would (sharing what Java shares by identity).
//!
//! Spec: `java-serialization.md` §7 (reading arbitrary objects), §9 (what Java shares by
//! identity). Values are never deserialized into Rust types; the few accessors (`as_string`,
//! `as_i32`, ...) read the JDK wrapper classes only. Everything here reads the parsed tape
//! ([`jser::tape`]): no tree model is built on the receive path.

use bytes::Bytes;
use jser::constants::*;
use jser::flat::Kind;
use jser::{Extractor, Flat, ObjectWriter, ParseErrorKind, ParseOptions, Prim, Stream, TapeValue};

use super::SessionCodecError;

/// The class name recorded for `TC_NULL`.
pub const NULL_CLASS: &str = "null";

/// A value as a standalone Java stream: `AC ED 00 05` followed by exactly one object (or
/// `TC_NULL`). Cloning is cheap (shared bytes). The class name of the top object is kept beside
/// the bytes for listings (`tribesd sessions`) and the class firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaValue {
    bytes: Bytes,
    class_name: String,
}

/// A value the class filter (or the sender) kept out: what it was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The attribute or note name, `__SET__PRINCIPAL__`-style action name, or for the state
    /// stream `principal` / `listener`.
    pub name: String,
    /// The class of the top object of the value.
    pub class_name: String,
    pub reason: String,
}

impl JavaValue {
    /// Takes a standalone stream, checked with the default limits and no class filter.
    pub fn from_stream(bytes: impl Into<Bytes>) -> Result<JavaValue, SessionCodecError> {
        JavaValue::from_stream_with(bytes, &ParseOptions::default())
    }

    /// Takes a standalone stream: the header and exactly one object or `TC_NULL` (no block data,
    /// no reset, no aborted write), checked with `opts`' limits and class filter.
    pub fn from_stream_with(bytes: impl Into<Bytes>, opts: &ParseOptions) -> Result<JavaValue, SessionCodecError> {
        let bytes = bytes.into();
        let s = jser::parse_with(&bytes, opts)?;
        let class_name = {
            let flat = tape(&s)?;
            let mut top = flat.top_level();
            match (top.next(), top.next()) {
                (Some(at), None) => {
                    let v = flat.value(at);
                    let kind = v.token().kind;
                    if matches!(kind, Kind::Block | Kind::Reset) {
                        return Err(SessionCodecError::Layout(
                            "a value stream holds exactly one object, not 1 contents".into(),
                        ));
                    }
                    if v.is_ref() || v.is_exception() {
                        return Err(SessionCodecError::Layout(
                            "the value stream holds an aborted write (TC_EXCEPTION) or a bare reference".into(),
                        ));
                    }
                    if flat.has_exception() {
                        return Err(SessionCodecError::Layout(
                            "the value stream holds an aborted write (TC_EXCEPTION)".into(),
                        ));
                    }
                    top_class_name(v)
                }
                _ => {
                    return Err(SessionCodecError::Layout(format!(
                        "a value stream holds exactly one object, not {} contents",
                        flat.top_level().count()
                    )))
                }
            }
        };
        Ok(JavaValue { bytes, class_name })
    }

    /// `writeObject(null)` in a fresh stream.
    pub fn null() -> JavaValue {
        JavaValue { bytes: Bytes::from_static(&[0xAC, 0xED, 0x00, 0x05, TC_NULL]), class_name: NULL_CLASS.into() }
    }

    /// `writeObject(s)` of a `java.lang.String` in a fresh stream.
    pub fn string(s: &str) -> JavaValue {
        JavaValue::written(|w| w.write_string(s), "java.lang.String")
    }

    /// `writeObject(Boolean.valueOf(v))` in a fresh stream.
    pub fn boolean(v: bool) -> JavaValue {
        JavaValue::written(|w| w.write_boolean(v), "java.lang.Boolean")
    }

    /// `writeObject(Integer.valueOf(v))` in a fresh stream.
    pub fn integer(v: i32) -> JavaValue {
        JavaValue::written(|w| w.write_integer(v), "java.lang.Integer")
    }

    /// `writeObject(Long.valueOf(v))` in a fresh stream.
    pub fn long(v: i64) -> JavaValue {
        JavaValue::written(|w| w.write_long(v), "java.lang.Long")
    }

    /// The stream a fresh `ObjectOutputStream` holds after `write`.
    fn written(write: impl FnOnce(&mut ObjectWriter), class_name: &str) -> JavaValue {
        let mut w = ObjectWriter::new();
        write(&mut w);
        JavaValue { bytes: Bytes::from(w.finish()), class_name: class_name.into() }
    }

    /// The standalone stream, header included.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// `java.lang.String`, `java.lang.Integer`, `[B`, ... as Java names the class; `null` for
    /// `TC_NULL`; `$Proxy(interface,...)` for a proxy.
    pub fn class_name(&self) -> &str {
        &self.class_name
    }

    /// Length of the standalone stream in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true for a valid value (the header alone is four bytes); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn is_null(&self) -> bool {
        self.class_name == NULL_CLASS && self.bytes.len() == 5
    }

    /// The model of the value, parsed with the default limits.
    pub fn model(&self) -> Result<Stream, SessionCodecError> {
        Ok(jser::parse(&self.bytes)?)
    }

    /// The `value` field of the top object, when it is of `class` (a JDK wrapper).
    fn wrapper_field(&self, class: &str) -> Option<Prim> {
        if self.class_name != class {
            return None;
        }
        let s = jser::parse(&self.bytes).ok()?;
        let v = s.flat()?.values().next()?;
        v.field("value")?.as_prim()
    }

    /// The text of a `java.lang.String` value.
    pub fn as_string(&self) -> Option<String> {
        if self.class_name != "java.lang.String" {
            return None;
        }
        let s = jser::parse(&self.bytes).ok()?;
        let text = s.flat()?.values().next()?.string();
        text
    }

    /// The value of a `java.lang.Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.wrapper_field("java.lang.Boolean")? {
            Prim::Boolean(b) => Some(b != 0),
            _ => None,
        }
    }

    /// The value of a `java.lang.Integer`.
    pub fn as_i32(&self) -> Option<i32> {
        match self.wrapper_field("java.lang.Integer")? {
            Prim::Int(v) => Some(v),
            _ => None,
        }
    }

    /// The value of a `java.lang.Long`.
    pub fn as_i64(&self) -> Option<i64> {
        match self.wrapper_field("java.lang.Long")? {
            Prim::Long(v) => Some(v),
            _ => None,
        }
    }

    /// A display text for `String` and the primitive wrapper classes (`Boolean`, `Byte`,
    /// `Character`, `Short`, `Integer`, `Long`, `Float`, `Double`); `None` for anything else.
    /// Strings are given in full.
    pub fn preview(&self) -> Option<String> {
        if self.class_name == "java.lang.String" {
            return self.as_string();
        }
        let wrapper = matches!(
            self.class_name.as_str(),
            "java.lang.Boolean"
                | "java.lang.Byte"
                | "java.lang.Character"
                | "java.lang.Short"
                | "java.lang.Integer"
                | "java.lang.Long"
                | "java.lang.Float"
                | "java.lang.Double"
        );
        if !wrapper {
            return None;
        }
        Some(match self.wrapper_field(&self.class_name)? {
            Prim::Boolean(b) => (b != 0).to_string(),
            Prim::Byte(b) => b.to_string(),
            Prim::Char(c) => char::from_u32(u32::from(c)).map_or_else(|| format!("\\u{c:04x}"), String::from),
            Prim::Short(x) => x.to_string(),
            Prim::Int(x) => x.to_string(),
            Prim::Long(x) => x.to_string(),
            Prim::Float(x) => x.to_string(),
            Prim::Double(x) => x.to_string(),
        })
    }
}

/// The tape of a stream [`jser::parse_with`] just returned.
pub(crate) fn tape(s: &Stream) -> Result<&Flat, SessionCodecError> {
    s.flat().ok_or_else(|| SessionCodecError::Layout("a parsed stream without its tape".into()))
}

/// The class name of a value as [`JavaValue::class_name`] gives it.
pub(crate) fn top_class_name(v: TapeValue<'_>) -> String {
    if v.is_null() {
        return NULL_CLASS.into();
    }
    if let Some(name) = v.class_name() {
        return name;
    }
    match v.class_desc() {
        Some(d) if d.proxy => {
            let flat = v.flat();
            let names: Vec<String> = flat
                .proxy_interfaces(d)
                .map(|b| jser::Mutf8::from_bytes(b.to_vec()).map(|m| m.to_string_lossy()).unwrap_or_default())
                .collect();
            format!("$Proxy({})", names.join(","))
        }
        _ => "?".into(),
    }
}

/// Takes values out of a parsed stream as standalone [`JavaValue`]s, checking each with the
/// class filter on its own (so a refused value is dropped alone) and bounding the bytes copied.
/// Reads the stream's tape: no tree is built.
pub(crate) struct ValueTaker<'a> {
    extractor: Extractor<'a>,
    pub opts: &'a ParseOptions,
    /// Bytes of standalone streams made so far; bounded by `opts.limits.max_total_bytes`.
    pub copied: usize,
}

/// What [`ValueTaker::take`] found.
pub(crate) enum Taken {
    Value(JavaValue),
    /// Refused by the filter or a limit: class name and reason.
    Refused(String, String),
    /// The sender's write was aborted inside it (`TC_EXCEPTION`): class name.
    Aborted(String),
}

impl<'a> ValueTaker<'a> {
    pub fn new(flat: &'a Flat, opts: &'a ParseOptions) -> Self {
        ValueTaker { extractor: Extractor::new(flat), opts, copied: 0 }
    }

    pub fn take(&mut self, v: TapeValue<'_>) -> Result<Taken, SessionCodecError> {
        if v.is_null() {
            return Ok(Taken::Value(JavaValue::null()));
        }
        // Named only when refused or aborted: a value taken names its class itself.
        let class_name = || top_class_name(v);
        if v.is_exception() {
            return Ok(Taken::Aborted(class_name()));
        }
        let bytes = match self.extractor.extract(v, self.opts.limits.max_depth) {
            Ok(bytes) => bytes,
            Err(jser::SpliceError::Exception) => return Ok(Taken::Aborted(class_name())),
            Err(e) => return Err(e.into()),
        };
        self.copied += bytes.len();
        if self.copied > self.opts.limits.max_total_bytes {
            return Err(SessionCodecError::Layout(format!(
                "values copied out of the stream exceed {} bytes",
                self.opts.limits.max_total_bytes
            )));
        }
        match JavaValue::from_stream_with(bytes, self.opts) {
            Ok(value) => Ok(Taken::Value(value)),
            Err(SessionCodecError::Parse(e)) => match &e.kind {
                ParseErrorKind::ClassRejected { class, reason, path } => {
                    Ok(Taken::Refused(class_name(), format!("class {class} {reason} (at {path})")))
                }
                _ => Ok(Taken::Refused(class_name(), e.to_string())),
            },
            Err(e) => Err(e),
        }
    }
}
