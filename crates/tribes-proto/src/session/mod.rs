//! DeltaManager session replication (session-replication.md): the codecs of what stock Tomcat's
//! `org.apache.catalina.ha.session` classes put on the wire, the replica store, and the
//! sans-IO DeltaManager machine.
//!
//! - [`value`]: [`JavaValue`], one attribute/note/principal value kept as a standalone Java
//!   stream (`AC ED 00 05` + one object), never deserialized into Rust types.
//! - [`message`]: `SessionMessageImpl` (every event type).
//! - [`delta`]: `DeltaRequest` (the payload of `EVT_SESSION_DELTA`).
//! - [`state`]: the session-state stream of `EVT_ALL_SESSION_DATA` (9.0 and 10.1/11.0 forms).

pub mod delta;
pub mod manager;
pub mod message;
pub mod state;
pub mod store;
pub mod value;

pub use delta::{ActionKind, DecodedDelta, DeltaAction, DeltaRequest, Op};
pub use message::{EventType, SessionMessage};
pub use state::{decode_state, encode_state, DecodedState, SessionRecord, StateEncoder, StateForm};
pub use value::{JavaValue, Rejected};

/// What went wrong reading or writing a session-layer payload.
#[derive(Debug, thiserror::Error)]
pub enum SessionCodecError {
    /// The bytes are not a Java stream jser accepts (limits, filter, grammar).
    #[error("not a valid Java stream: {0}")]
    Parse(#[from] jser::ParseError),
    /// The stream is Java but not the shape Tomcat writes (missing field, wrong class, ...).
    #[error("unexpected layout: {0}")]
    Layout(String),
    /// Block data ended early or held the wrong type.
    #[error("block data: {0}")]
    Data(#[from] jser::DataError),
    /// Writing or splicing a value failed.
    #[error("splice: {0}")]
    Splice(#[from] jser::SpliceError),
    /// Writing failed.
    #[error("write: {0}")]
    Write(#[from] jser::WriteError),
}
