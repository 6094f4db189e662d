//! The native library of the Tomcat Manager jar (`java-bridge/`): what
//! `io.tribesd.tomcat.bridge.NativeBridge` calls.
//!
//! The surface is small and coarse (`docs/java-bridge.md`):
//!
//! | Java (`static native`) | here |
//! |---|---|
//! | `String version()` | this crate's version |
//! | `long start(String configJson)` | a node (a tokio runtime; no sockets yet), as a handle |
//! | `void stop(long handle)` | stops it; an unknown handle is an `IllegalStateException` |
//! | `int requestCompleted(long handle, byte[] batch)` | every change of one request ([`batch`]), handed to the node without waiting; returns the number of changes |
//! | `String stats(long handle)` | the node's counters, as JSON |
//! | `boolean addContext(long handle, String name, int sessionTimeoutMinutes)` | holds one more context |
//! | `byte[] getSession(long handle, String context, String id)` | one stored session ([`session_bytes`]), or null |
//! | `int sessionState(long handle, String context, String id)` | -1 absent, 0 backup, 1 primary here |
//! | `String[] sessionIds(long handle, String context)` | the stored ids |
//! | `int sessionCount(long handle, String context)` | how many sessions are stored |
//! | `int memberCount(long handle)` | the members the failure detector shows |
//!
//! Every entry point runs inside [`run`]: a Rust error or a panic becomes a Java exception with
//! a message saying what failed, and never unwinds into the JVM.

pub mod batch;
pub mod convert;
pub mod events;
pub mod logging;
pub mod node;
pub mod session_bytes;

use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::objects::{JByteArray, JClass, JObject, JString};
use jni::sys::{jboolean, jbyteArray, jint, jlong, jobjectArray, jstring};
use jni::JNIEnv;

/// The crate version `NativeBridge.version()` returns; the jar checks it against its own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A failure on its way to Java: the exception class and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// JNI class name, `java/lang/IllegalArgumentException` for bad input from Java,
    /// `java/lang/IllegalStateException` for everything else.
    pub class: &'static str,
    pub message: String,
}

const ILLEGAL_ARGUMENT: &str = "java/lang/IllegalArgumentException";
const ILLEGAL_STATE: &str = "java/lang/IllegalStateException";

impl Failure {
    fn argument(message: String) -> Failure {
        Failure { class: ILLEGAL_ARGUMENT, message }
    }
    fn state(message: String) -> Failure {
        Failure { class: ILLEGAL_STATE, message }
    }
}

impl From<node::NodeError> for Failure {
    fn from(e: node::NodeError) -> Failure {
        match e {
            node::NodeError::BadConfig(_) => Failure::argument(format!("tribes-jni: {e}")),
            _ => Failure::state(format!("tribes-jni: {e}")),
        }
    }
}

/// Why an entry point returns without a value.
enum Exit {
    /// Throw this.
    Throw(Failure),
    /// A Java exception is already pending (a JNI call failed); leave it.
    Pending,
}

impl From<Failure> for Exit {
    fn from(f: Failure) -> Exit {
        Exit::Throw(f)
    }
}

impl From<node::NodeError> for Exit {
    fn from(e: node::NodeError) -> Exit {
        Exit::Throw(e.into())
    }
}

impl From<jni::errors::Error> for Exit {
    fn from(e: jni::errors::Error) -> Exit {
        match e {
            jni::errors::Error::JavaException => Exit::Pending,
            e => Exit::Throw(Failure::state(format!("tribes-jni: JNI call failed: {e}"))),
        }
    }
}

/// Runs `f`, turning a panic into a [`Failure`] that names the entry point.
pub fn run<T>(entry: &str, f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".into());
            Err(Failure::state(format!("tribes-jni: internal error in {entry}: {what}")))
        }
    }
}

/// The JNI wrapper of [`run`]: on failure, throws and returns `default`.
fn entry<'local, T>(
    env: &mut JNIEnv<'local>,
    name: &str,
    default: T,
    f: impl FnOnce(&mut JNIEnv<'local>) -> Result<T, Exit>,
) -> T {
    let result = run(name, || match f(env) {
        Ok(v) => Ok(Some(v)),
        Err(Exit::Throw(failure)) => Err(failure),
        Err(Exit::Pending) => Ok(None),
    });
    match result {
        Ok(Some(v)) => v,
        Ok(None) => default,
        Err(failure) => {
            if !env.exception_check().unwrap_or(true) {
                // If even this fails the JVM is out of memory; nothing better can be done.
                let _ = env.throw_new(failure.class, failure.message);
            }
            default
        }
    }
}

/// Decodes and converts one batch; the part of `requestCompleted` that needs no JVM.
pub fn decode_request(bytes: bytes::Bytes) -> Result<convert::RequestChanges, Failure> {
    let batch = batch::decode(&bytes)
        .map_err(|e| Failure::argument(format!("tribes-jni: bad request batch ({} bytes): {e}", bytes.len())))?;
    let (context, session) = (batch.context.clone(), batch.session_id.clone());
    convert::to_local_changes(batch).map_err(|e| {
        Failure::argument(format!(
            "tribes-jni: bad value in the request batch of context {context:?}, session {}: {e}",
            // Session ids are credentials: only a prefix goes into messages that reach logs.
            session.chars().take(6).collect::<String>() + "..."
        ))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_version<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    entry(&mut env, "version", std::ptr::null_mut(), |env| Ok(env.new_string(VERSION)?.into_raw()))
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_start<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    config_json: JString<'local>,
) -> jlong {
    entry(&mut env, "start", 0, |env| {
        let json: String = if config_json.is_null() { String::new() } else { env.get_string(&config_json)?.into() };
        let config = node::Config::from_json(&json)?;
        Ok(node::start(&config)?)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_stop<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    entry(&mut env, "stop", (), |_| Ok(node::stop(handle)?))
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_requestCompleted<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    batch: JByteArray<'local>,
) -> jint {
    entry(&mut env, "requestCompleted", 0, |env| {
        if batch.is_null() {
            return Err(Failure::argument("tribes-jni: the request batch is null".into()).into());
        }
        let node = node::get(handle)?;
        // The one copy out of the JVM; values stay slices of it from here on.
        let bytes = bytes::Bytes::from(env.convert_byte_array(&batch)?);
        let changes = decode_request(bytes)?;
        let count = changes.changes.len();
        node.submit(changes)?;
        Ok(jint::try_from(count).unwrap_or(jint::MAX))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_stats<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jstring {
    entry(&mut env, "stats", std::ptr::null_mut(), |env| {
        let json = node::get(handle)?.stats_json();
        Ok(env.new_string(json)?.into_raw())
    })
}

/// A Java `String[]` of `items`.
fn string_array(env: &mut JNIEnv, items: &[String]) -> Result<jobjectArray, Exit> {
    let array = env.new_object_array(items.len() as i32, "java/lang/String", JObject::null())?;
    for (i, item) in items.iter().enumerate() {
        let s = env.new_string(item)?;
        env.set_object_array_element(&array, i as i32, &s)?;
        env.delete_local_ref(s)?;
    }
    Ok(array.into_raw())
}

fn java_string(env: &mut JNIEnv, s: &JString, what: &str) -> Result<String, Exit> {
    if s.is_null() {
        return Err(Failure::argument(format!("tribes-jni: {what} is null")).into());
    }
    Ok(env.get_string(s)?.into())
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_addContext<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    name: JString<'local>,
    _session_timeout_minutes: jint,
) -> jboolean {
    entry(&mut env, "addContext", 0, |env| {
        let name = java_string(env, &name, "the context name")?;
        Ok(jboolean::from(node::get(handle)?.add_context(&name)?))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_getSession<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    context: JString<'local>,
    id: JString<'local>,
) -> jbyteArray {
    entry(&mut env, "getSession", std::ptr::null_mut(), |env| {
        let context = java_string(env, &context, "the context")?;
        let id = java_string(env, &id, "the session id")?;
        match node::get(handle)?.session(&context, &id)? {
            Some(s) => Ok(env.byte_array_from_slice(&session_bytes::encode(&s))?.into_raw()),
            None => Ok(std::ptr::null_mut()),
        }
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_sessionState<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    context: JString<'local>,
    id: JString<'local>,
) -> jint {
    entry(&mut env, "sessionState", -1, |env| {
        let context = java_string(env, &context, "the context")?;
        let id = java_string(env, &id, "the session id")?;
        Ok(node::get(handle)?.session_state(&context, &id))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_sessionIds<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    context: JString<'local>,
) -> jobjectArray {
    entry(&mut env, "sessionIds", std::ptr::null_mut(), |env| {
        let context = java_string(env, &context, "the context")?;
        let ids = node::get(handle)?.session_ids(&context);
        string_array(env, &ids)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_sessionCount<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    context: JString<'local>,
) -> jint {
    entry(&mut env, "sessionCount", 0, |env| {
        let context = java_string(env, &context, "the context")?;
        Ok(jint::try_from(node::get(handle)?.session_count(&context)).unwrap_or(jint::MAX))
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_memberCount<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jint {
    entry(&mut env, "memberCount", 0, |_| Ok(jint::try_from(node::get(handle)?.member_count()).unwrap_or(jint::MAX)))
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_awaitState<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    context: JString<'local>,
    timeout_ms: jlong,
) -> jstring {
    entry(&mut env, "awaitState", std::ptr::null_mut(), |env| {
        let context = java_string(env, &context, "the context")?;
        let timeout = std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
        let outcome = node::get(handle)?.await_state(&context, timeout)?;
        Ok(env.new_string(outcome)?.into_raw())
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_members<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    local: jboolean,
) -> jobjectArray {
    entry(&mut env, "members", std::ptr::null_mut(), |env| {
        let lines = node::get(handle)?.member_lines(local != 0);
        string_array(env, &lines)
    })
}

#[no_mangle]
pub extern "system" fn Java_io_tribesd_tomcat_bridge_NativeBridge_pollEvents<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    timeout_ms: jlong,
) -> jbyteArray {
    entry(&mut env, "pollEvents", std::ptr::null_mut(), |env| {
        let timeout = std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0).min(60_000));
        match node::get(handle)?.poll_events(timeout) {
            Some(batch) => Ok(env.byte_array_from_slice(&batch)?.into_raw()),
            None => Ok(std::ptr::null_mut()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_failure_naming_the_entry_point() {
        let got: Result<(), Failure> = run("requestCompleted", || panic!("boom {}", 7));
        assert_eq!(got, Err(Failure::state("tribes-jni: internal error in requestCompleted: boom 7".into())));
        let got: Result<(), Failure> = run("stop", || std::panic::panic_any(5u8));
        assert_eq!(got.unwrap_err().message, "tribes-jni: internal error in stop: unknown panic payload");
    }

    #[test]
    fn a_bad_batch_is_an_illegal_argument_with_the_decoder_message() {
        let err = decode_request(bytes::Bytes::from_static(b"TB\x01\x00\x00")).unwrap_err();
        assert_eq!(err.class, ILLEGAL_ARGUMENT);
        assert_eq!(
            err.message,
            "tribes-jni: bad request batch (5 bytes): batch truncated at offset 4: context needs 2 bytes, 1 left"
        );
    }

    #[test]
    fn a_bad_value_message_does_not_carry_the_whole_session_id() {
        let bytes = batch::encode(&batch::Batch {
            context: "/a".into(),
            session_id: "0123456789ABCDEF".into(),
            changes: vec![batch::Change::SetAttribute {
                name: "k".into(),
                value: bytes::Bytes::from_static(&[1, 2, 3]),
            }],
        });
        let err = decode_request(bytes.into()).unwrap_err();
        assert!(err.message.contains("session 012345..."), "{}", err.message);
        assert!(!err.message.contains("0123456789ABCDEF"), "{}", err.message);
    }
}
