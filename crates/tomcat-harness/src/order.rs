//! The "brand-new sessions" ordering measurement (guides/testing-with-stock-tomcat.md): sessions
//! are created on one node, each by a single request that also sets an attribute, and a replica
//! is checked for sessions it holds without that first attribute.
//!
//! Why a replica loses it: the primary sends `EVT_SESSION_CREATED` from `createSession`, during
//! the request, and `EVT_SESSION_DELTA` (with the attribute) from ReplicationValve at its end. With
//! channelSendOptions 8 the stock MessageDispatchInterceptor sends both from a thread pool, so the
//! DELTA can be processed first; the stock DeltaManager then drops it for an unknown session
//! (logged only at FINE, see [`dropped_deltas`]) and the CREATED that follows makes an empty
//! session.
//!
//! [`count_lost`] takes the replica as a function returning what it holds, so the same check runs
//! against a stock node ([`stock_replica`], through `peek.jsp`) or any other node that can list
//! its sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::http::{self, PeekSession};
use crate::netns::NetNs;

/// The attribute the first request of each session sets.
pub const FIRST_ATTRIBUTE: &str = "first";

/// How long the replica may take to hold every created session.
pub const REPLICATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Once the replica holds every session, how long its answer must stay the same before the
/// sessions still without their attribute are counted as lost (a late DELTA shows up within
/// milliseconds; a dropped one never does).
pub const SETTLE: Duration = Duration::from_secs(1);

/// What the replica holds of the created sessions.
#[derive(Debug, Clone, Default)]
pub struct OrderReport {
    /// The sessions created, as (id, value of [`FIRST_ATTRIBUTE`]), in creation order.
    pub created: Vec<(String, String)>,
    /// How many of them the replica holds.
    pub replicated: usize,
    /// Sessions the replica holds without [`FIRST_ATTRIBUTE`]: the first delta was lost.
    pub lost: Vec<String>,
    /// Sessions whose attribute has another value on the replica: (id, value found).
    pub wrong: Vec<(String, String)>,
    /// Sessions the replica never got within [`REPLICATION_TIMEOUT`].
    pub missing: Vec<String>,
    /// From the last creation to the replica's final answer.
    pub waited: Duration,
}

impl OrderReport {
    /// "lost 12 of 64 (64 replicated, 0 missing, 0 wrong)".
    pub fn summary(&self) -> String {
        format!(
            "lost {} of {} ({} replicated, {} missing, {} wrong, settled after {:?})",
            self.lost.len(),
            self.created.len(),
            self.replicated,
            self.missing.len(),
            self.wrong.len(),
            self.waited
        )
    }
}

/// Creates `count` sessions on the node at `port`, one request each with no cookie:
/// `s.jsp?op=set&name=first&value=vI`. Returns (id, value) per session.
///
/// `Err` when a request fails or an answer is not a new session with its cookie, or an id repeats.
pub fn create_sessions(ns: &NetNs, port: u16, context: &str, count: usize) -> Result<Vec<(String, String)>, String> {
    let mut created: Vec<(String, String)> = Vec::with_capacity(count);
    let mut ids = BTreeSet::new();
    for i in 0..count {
        let value = format!("v{i}");
        let query = format!("op=set&name={FIRST_ATTRIBUTE}&value={value}");
        let r = http::get(ns, port, &http::op_path(context, &query), None)?;
        let id = r.session_id().map(str::to_string);
        let ok = r.status == 200
            && r.is_new() == Some(true)
            && r.field("set") == Some(FIRST_ATTRIBUTE)
            && id.is_some()
            && r.session_cookie == id;
        if !ok {
            return Err(format!("session {i} on port {port}: not a new session with its cookie: {r:?}"));
        }
        let id = id.expect("checked above");
        if !ids.insert(id.clone()) {
            return Err(format!("session {i} on port {port}: id {id} given twice"));
        }
        created.push((id, value));
    }
    Ok(created)
}

/// Creates `count` sessions on the node at `create_on` ([`create_sessions`]) and waits for
/// `replica` (what another node holds) to settle, then reports which sessions it holds without
/// their first attribute.
///
/// `Err` when creating fails or the replica cannot be read; sessions that never arrive are
/// reported in [`OrderReport::missing`], not as an error.
pub fn count_lost(
    ns: &NetNs,
    create_on: u16,
    context: &str,
    count: usize,
    replica: impl FnMut() -> Result<Vec<PeekSession>, String>,
) -> Result<OrderReport, String> {
    let created = create_sessions(ns, create_on, context, count)?;
    check_replica(created, REPLICATION_TIMEOUT, SETTLE, replica)
}

/// The second half of [`count_lost`]: polls `replica` every 50 ms until it holds every session of
/// `created` with its attribute, or holds them all and has not changed for `settle`, or `timeout`
/// passed.
pub fn check_replica(
    created: Vec<(String, String)>,
    timeout: Duration,
    settle: Duration,
    mut replica: impl FnMut() -> Result<Vec<PeekSession>, String>,
) -> Result<OrderReport, String> {
    let start = Instant::now();
    let mut last: Option<OrderReport> = None;
    let mut last_change = start;
    loop {
        let held: BTreeMap<String, PeekSession> = replica()?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let mut report = OrderReport { created: created.clone(), ..OrderReport::default() };
        for (id, value) in &created {
            let Some(session) = held.get(id) else {
                report.missing.push(id.clone());
                continue;
            };
            report.replicated += 1;
            match session.attributes.get(FIRST_ATTRIBUTE) {
                None => report.lost.push(id.clone()),
                Some(a) if a.value != *value => report.wrong.push((id.clone(), a.value.clone())),
                Some(_) => {}
            }
        }
        report.waited = start.elapsed();
        let now = Instant::now();
        let same = last
            .as_ref()
            .is_some_and(|l| (&l.lost, &l.wrong, &l.missing) == (&report.lost, &report.wrong, &report.missing));
        if !same {
            last_change = now;
        }
        let complete = report.missing.is_empty();
        if (complete && report.lost.is_empty() && report.wrong.is_empty())
            || (complete && now - last_change >= settle)
            || now - start >= timeout
        {
            return Ok(report);
        }
        last = Some(report);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The replica function for a stock node: `peek.jsp` on `port` (reads without touching).
pub fn stock_replica<'a>(
    ns: &'a NetNs,
    port: u16,
    context: &'a str,
) -> impl FnMut() -> Result<Vec<PeekSession>, String> + 'a {
    move || http::peek(ns, port, context)
}

/// The session ids of the deltas a stock node dropped, from its log at FINE
/// ([`crate::node::NodeConfig::with_fine_session_log`]): "received session delta for unknown
/// session [ID]", in log order.
pub fn dropped_deltas(log: &str) -> Vec<String> {
    bracketed_ids(log, "received session delta for unknown session [")
}

/// The session ids of the deltas a stock node applied, from its log at FINE: "received session
/// delta message for session [ID]", in log order.
pub fn applied_deltas(log: &str) -> Vec<String> {
    bracketed_ids(log, "received session delta message for session [")
}

fn bracketed_ids(log: &str, marker: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once(marker).and_then(|(_, rest)| rest.split(']').next()).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::PeekAttribute;

    fn session(id: &str, first: Option<&str>) -> PeekSession {
        let mut attributes = BTreeMap::new();
        if let Some(v) = first {
            let a = PeekAttribute { class: "java.lang.String".into(), length: v.len(), value: v.into() };
            attributes.insert(FIRST_ATTRIBUTE.to_string(), a);
        }
        PeekSession { id: id.into(), primary: false, is_new: false, valid: true, attributes }
    }

    fn created() -> Vec<(String, String)> {
        vec![("A.n1".into(), "v0".into()), ("B.n1".into(), "v1".into()), ("C.n1".into(), "v2".into())]
    }

    #[test]
    fn a_replica_holding_everything_is_reported_at_once() {
        let report = check_replica(created(), Duration::from_secs(5), Duration::from_secs(5), || {
            Ok(vec![session("A.n1", Some("v0")), session("B.n1", Some("v1")), session("C.n1", Some("v2"))])
        })
        .unwrap();
        assert_eq!((report.replicated, report.lost.len(), report.missing.len()), (3, 0, 0));
        assert!(report.waited < Duration::from_secs(1));
    }

    #[test]
    fn sessions_without_their_attribute_count_as_lost_once_the_replica_settles() {
        let mut polls = 0;
        let report = check_replica(created(), Duration::from_secs(5), Duration::from_millis(200), || {
            polls += 1;
            // The attribute of B arrives late (counted), that of C never (lost); D is not ours.
            let b = if polls > 2 { Some("v1") } else { None };
            Ok(vec![session("A.n1", Some("v0")), session("B.n1", b), session("C.n1", None), session("D.n2", None)])
        })
        .unwrap();
        assert_eq!(report.lost, vec!["C.n1".to_string()]);
        assert_eq!(report.replicated, 3);
        assert!(report.waited >= Duration::from_millis(200));
    }

    #[test]
    fn missing_and_wrong_sessions_are_reported_after_the_timeout() {
        let report = check_replica(created(), Duration::from_millis(300), Duration::from_millis(50), || {
            Ok(vec![session("A.n1", Some("v9")), session("B.n1", Some("v1"))])
        })
        .unwrap();
        assert_eq!(report.missing, vec!["C.n1".to_string()]);
        assert_eq!(report.wrong, vec![("A.n1".to_string(), "v9".to_string())]);
        assert!(report.waited >= Duration::from_millis(300));
    }

    #[test]
    fn dropped_and_applied_deltas_are_read_from_a_fine_log() {
        let log = "24-Nov-2026 19:00:00.000 FINE [Tribes-Task-Receiver[Catalina-Channel]-1] \
                   org.apache.catalina.ha.session.DeltaManager.handleSESSION_DELTA Manager [localhost#/app]: \
                   received session delta for unknown session [ABC.node1]\n\
                   x FINE y Manager [localhost#/app]: received session delta message for session [DEF.node1]\n";
        assert_eq!(dropped_deltas(log), vec!["ABC.node1".to_string()]);
        assert_eq!(applied_deltas(log), vec!["DEF.node1".to_string()]);
    }
}
