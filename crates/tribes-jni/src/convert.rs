//! From the bridge's [`Change`]s to the session machine's
//! [`tribes_proto::session::manager::LocalChange`]s.
//!
//! Kept apart from the batch codec: the codec is the JNI contract (what Java writes), this is
//! where it meets the DeltaManager machine, whose API is still moving. Values become
//! [`JavaValue`]s here, which checks that each is one standalone Java stream (`AC ED 00 05` and
//! one object) within jser's default limits.

use tribes_proto::session::manager::LocalChange;
use tribes_proto::session::{JavaValue, SessionCodecError};

use crate::batch::{Batch, Change};

/// One request's changes in the machine's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestChanges {
    pub context: String,
    pub session_id: String,
    pub changes: Vec<LocalChange>,
}

/// A value in the batch is not a standalone Java stream. Nothing of the request was applied.
#[derive(Debug, thiserror::Error)]
#[error("operation {index} ({what}): {source}")]
pub struct ConvertError {
    /// The operation's position in the batch, from 0.
    pub index: usize,
    /// Which value: `attribute "cart"`, `note "n"`, `principal`.
    pub what: String,
    #[source]
    pub source: SessionCodecError,
}

/// Converts every change; the first bad value fails the whole batch.
pub fn to_local_changes(batch: Batch) -> Result<RequestChanges, ConvertError> {
    let value = |index: usize, what: &dyn Fn() -> String, bytes: bytes::Bytes| {
        JavaValue::from_stream(bytes).map_err(|source| ConvertError { index, what: what(), source })
    };
    let changes = batch
        .changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| {
            Ok(match change {
                Change::Create { max_inactive_interval } => LocalChange::Create { max_inactive_interval },
                Change::SetAttribute { name, value: v } => {
                    let value = value(i, &|| format!("attribute {name:?}"), v)?;
                    LocalChange::SetAttribute { name, value }
                }
                Change::RemoveAttribute { name } => LocalChange::RemoveAttribute { name },
                Change::SetMaxInactiveInterval(s) => LocalChange::SetMaxInactiveInterval(s),
                Change::SetPrincipal(p) => {
                    LocalChange::SetPrincipal(p.map(|p| value(i, &|| "principal".into(), p)).transpose()?)
                }
                Change::SetAuthType(a) => LocalChange::SetAuthType(a),
                Change::SetNote { name, value: v } => {
                    let value = value(i, &|| format!("note {name:?}"), v)?;
                    LocalChange::SetNote { name, value }
                }
                Change::RemoveNote { name } => LocalChange::RemoveNote { name },
                Change::SetNew(b) => LocalChange::SetNew(b),
                Change::Access => LocalChange::Access,
                Change::ChangeId { new_id } => LocalChange::ChangeId { new_id },
                Change::Invalidate => LocalChange::Invalidate,
            })
        })
        .collect::<Result<Vec<_>, ConvertError>>()?;
    Ok(RequestChanges { context: batch.context, session_id: batch.session_id, changes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRING_V: &[u8] = &[0xAC, 0xED, 0x00, 0x05, 0x74, 0x00, 0x01, b'v'];

    #[test]
    fn values_become_java_values_and_the_rest_maps_one_to_one() {
        let batch = Batch {
            context: "/a".into(),
            session_id: "S".into(),
            changes: vec![
                Change::Create { max_inactive_interval: Some(60) },
                Change::SetAttribute { name: "k".into(), value: bytes::Bytes::from_static(STRING_V) },
                Change::SetPrincipal(None),
                Change::Access,
            ],
        };
        let got = to_local_changes(batch).unwrap();
        assert_eq!(got.changes.len(), 4);
        assert_eq!(got.changes[0], LocalChange::Create { max_inactive_interval: Some(60) });
        match &got.changes[1] {
            LocalChange::SetAttribute { name, value } => {
                assert_eq!(name, "k");
                assert_eq!(value.as_string().as_deref(), Some("v"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_value_that_is_not_a_java_stream_names_its_operation() {
        let batch = Batch {
            context: "/a".into(),
            session_id: "S".into(),
            changes: vec![
                Change::Access,
                Change::SetNote { name: "n".into(), value: bytes::Bytes::from_static(b"nope") },
            ],
        };
        let err = to_local_changes(batch).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().starts_with("operation 1 (note \"n\"): "), "{err}");
    }
}
