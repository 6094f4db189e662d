use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use tribes_wire::UniqueId;

use super::*;

fn origin() -> Instant {
    Instant::now()
}

fn secs(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

fn local() -> Member {
    Member::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4000, UniqueId([0xaa; 16]), 0)
}

fn peer(n: u8) -> Member {
    Member::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + n)), 4000, UniqueId([n; 16]), 1000 * n as i64)
}

fn detector() -> TcpFailureDetector {
    TcpFailureDetector::new(local().id(), FailureDetectorConfig::default())
}

fn drain(d: &mut TcpFailureDetector) -> Vec<Output> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

fn step(d: &mut TcpFailureDetector, input: Input) -> Vec<Output> {
    d.handle_input(input);
    drain(d)
}

/// Expects exactly one probe among `out` and returns its id.
fn probe_of(out: &[Output], member: &Member) -> ProbeId {
    let probes: Vec<ProbeId> = out
        .iter()
        .filter_map(|o| match o {
            Output::Probe { probe, member: m } if m.id() == member.id() => Some(*probe),
            _ => None,
        })
        .collect();
    assert_eq!(probes.len(), 1, "one probe of {member:?} in {out:?}");
    probes[0]
}

fn finish(d: &mut TcpFailureDetector, member: &Member, probe: ProbeId, alive: bool, now: Instant) -> Vec<Output> {
    step(d, Input::ProbeFinished { member: member.id(), probe, alive, now })
}

/// A detector that already passed `member` up.
fn with_member(d: &mut TcpFailureDetector, member: &Member, now: Instant) {
    let out = step(d, Input::MemberAdded { member: member.clone() });
    let probe = probe_of(&out, member);
    assert_eq!(finish(d, member, probe, true, now), [Output::MemberAdded(member.clone())]);
}

fn suspects(d: &TcpFailureDetector) -> Vec<(MemberId, Instant)> {
    let mut s: Vec<_> = d.remove_suspects().map(|(id, t)| (id.clone(), t)).collect();
    s.sort();
    s
}

#[test]
fn a_member_added_below_is_passed_up_only_after_a_probe_says_alive() {
    let t0 = origin();
    let mut d = detector();
    let out = step(&mut d, Input::MemberAdded { member: peer(1) });
    assert_eq!(out, [Output::Probe { probe: ProbeId(0), member: peer(1) }]);
    assert_eq!(d.members().len(), 0);
    assert_eq!(finish(&mut d, &peer(1), ProbeId(0), true, t0), [Output::MemberAdded(peer(1))]);
    assert_eq!(d.members().cloned().collect::<Vec<_>>(), [peer(1)]);

    let out = step(&mut d, Input::MemberAdded { member: peer(2) });
    let probe = probe_of(&out, &peer(2));
    assert_eq!(finish(&mut d, &peer(2), probe, false, t0), []);
    assert_eq!(d.members().len(), 1);
}

#[test]
fn a_member_already_passed_up_is_not_probed_again_when_added_again() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    assert_eq!(step(&mut d, Input::MemberAdded { member: peer(1) }), []);
}

#[test]
fn a_disappearance_below_is_passed_up_only_when_the_probe_fails() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::MemberDisappeared { member: peer(1) });
    let probe = probe_of(&out, &peer(1));
    assert_eq!(out.len(), 1);
    assert_eq!(finish(&mut d, &peer(1), probe, false, t0), [Output::MemberDisappeared(peer(1))]);
    assert_eq!(d.members().len(), 0);
    assert!(suspects(&d).is_empty());
}

#[test]
fn a_member_that_still_answers_stays_up_as_a_remove_suspect() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::MemberDisappeared { member: peer(1) });
    let probe = probe_of(&out, &peer(1));
    assert_eq!(finish(&mut d, &peer(1), probe, true, secs(t0, 3)), []);
    assert_eq!(d.members().len(), 1);
    assert_eq!(suspects(&d), [(peer(1).id(), secs(t0, 3))]);
}

#[test]
fn a_suspect_heard_again_below_stops_being_suspected_without_any_event() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::MemberDisappeared { member: peer(1) });
    finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, t0);
    assert_eq!(step(&mut d, Input::MemberAdded { member: peer(1) }), []);
    assert!(suspects(&d).is_empty());
    assert_eq!(step(&mut d, Input::Heartbeat(secs(t0, 5))), []);
}

#[test]
fn the_heartbeat_reprobes_suspects_and_passes_up_the_ones_that_died() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::MemberDisappeared { member: peer(1) });
    finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, t0);
    let out = step(&mut d, Input::Heartbeat(secs(t0, 5)));
    let probe = probe_of(&out, &peer(1));
    assert_eq!(finish(&mut d, &peer(1), probe, false, secs(t0, 5)), [Output::MemberDisappeared(peer(1))]);
    assert!(suspects(&d).is_empty());
    assert_eq!(step(&mut d, Input::Heartbeat(secs(t0, 10))), []);
}

#[test]
fn a_suspect_that_keeps_answering_is_dropped_from_suspicion_after_more_than_300_whole_seconds() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::MemberDisappeared { member: peer(1) });
    finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, secs(t0, 10));
    // (int) (idle / 1000) > 300: 300.999 s is not enough.
    let almost = secs(t0, 310) + Duration::from_millis(999);
    let out = step(&mut d, Input::Heartbeat(almost));
    assert_eq!(finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, almost), []);
    assert_eq!(suspects(&d).len(), 1);
    let out = step(&mut d, Input::Heartbeat(secs(t0, 311)));
    assert_eq!(finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, secs(t0, 311)), []);
    assert!(suspects(&d).is_empty());
    // It stays up, and is no longer probed.
    assert_eq!(d.members().len(), 1);
    assert_eq!(step(&mut d, Input::Heartbeat(secs(t0, 316))), []);
}

#[test]
fn a_zero_remove_suspects_timeout_keeps_suspects_forever() {
    let t0 = origin();
    let config = FailureDetectorConfig { remove_suspects_timeout: Duration::ZERO, ..Default::default() };
    let mut d = TcpFailureDetector::new(local().id(), config);
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::MemberDisappeared { member: peer(1) });
    finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, t0);
    let late = secs(t0, 100_000);
    let out = step(&mut d, Input::Heartbeat(late));
    finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, late);
    assert_eq!(suspects(&d).len(), 1);
}

#[test]
fn a_shutdown_is_passed_up_at_once_without_a_probe() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let bye = peer(1).to_shutdown();
    assert_eq!(
        step(&mut d, Input::MemberDisappeared { member: bye.clone() }),
        [Output::MemberDisappeared(bye.clone())]
    );
    assert_eq!(d.members().len(), 0);
    // Unknown above: nothing (Tomcat returns early when the member is not in its membership).
    assert_eq!(step(&mut d, Input::MemberDisappeared { member: bye }), []);
    assert_eq!(step(&mut d, Input::MemberDisappeared { member: peer(2).to_shutdown() }), []);
}

#[test]
fn a_shutdown_abandons_the_probe_in_flight() {
    let t0 = origin();
    let mut d = detector();
    let out = step(&mut d, Input::MemberAdded { member: peer(1) });
    let probe = probe_of(&out, &peer(1));
    assert_eq!(step(&mut d, Input::MemberDisappeared { member: peer(1).to_shutdown() }), []);
    assert_eq!(finish(&mut d, &peer(1), probe, true, t0), []);
    assert_eq!(d.members().len(), 0);
}

#[test]
fn a_result_for_an_unknown_or_superseded_probe_is_ignored() {
    let t0 = origin();
    let mut d = detector();
    let out = step(&mut d, Input::MemberAdded { member: peer(1) });
    let probe = probe_of(&out, &peer(1));
    assert_eq!(finish(&mut d, &peer(1), ProbeId(probe.0 + 7), true, t0), []);
    assert_eq!(finish(&mut d, &peer(2), probe, true, t0), []);
    assert_eq!(d.members().len(), 0);
    assert_eq!(finish(&mut d, &peer(1), probe, true, t0), [Output::MemberAdded(peer(1))]);
}

#[test]
fn a_second_reason_to_probe_joins_the_probe_in_flight() {
    let t0 = origin();
    let mut d = detector();
    let out = step(&mut d, Input::MemberAdded { member: peer(1) });
    let probe = probe_of(&out, &peer(1));
    assert_eq!(step(&mut d, Input::Heartbeat(t0)), []);
    assert_eq!(step(&mut d, Input::ForcedCheck(t0)), []);
    assert_eq!(d.pending_probes().count(), 1);
    assert_eq!(finish(&mut d, &peer(1), probe, true, t0), [Output::MemberAdded(peer(1))]);
}

#[test]
fn the_heartbeat_probes_members_below_that_are_not_up_yet() {
    let t0 = origin();
    let mut d = detector();
    let out = step(&mut d, Input::MemberAdded { member: peer(1) });
    finish(&mut d, &peer(1), probe_of(&out, &peer(1)), false, t0);
    let out = step(&mut d, Input::Heartbeat(secs(t0, 5)));
    let probe = probe_of(&out, &peer(1));
    assert_eq!(finish(&mut d, &peer(1), probe, true, secs(t0, 5)), [Output::MemberAdded(peer(1))]);
    assert!(suspects(&d).is_empty());
}

#[test]
fn a_send_failure_is_verified_like_a_disappearance_but_the_member_stays_below() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::SendFailed { member: peer(1) });
    finish(&mut d, &peer(1), probe_of(&out, &peer(1)), true, t0);
    assert_eq!(suspects(&d), [(peer(1).id(), t0)]);
    let out = step(&mut d, Input::Heartbeat(secs(t0, 5)));
    let probe = probe_of(&out, &peer(1));
    assert_eq!(finish(&mut d, &peer(1), probe, false, secs(t0, 5)), [Output::MemberDisappeared(peer(1))]);
    // Still below, so the next heartbeat tries to add it back.
    let out = step(&mut d, Input::Heartbeat(secs(t0, 10)));
    let probe = probe_of(&out, &peer(1));
    assert_eq!(finish(&mut d, &peer(1), probe, true, secs(t0, 10)), [Output::MemberAdded(peer(1))]);
}

#[test]
fn a_send_failure_for_a_member_not_up_does_nothing() {
    let mut d = detector();
    assert_eq!(step(&mut d, Input::SendFailed { member: peer(1) }), []);
}

#[test]
fn a_send_failure_while_an_admission_probe_runs_does_not_make_a_suspect() {
    let t0 = origin();
    let mut d = detector();
    let out = step(&mut d, Input::MemberAdded { member: peer(1) });
    let probe = probe_of(&out, &peer(1));
    assert_eq!(step(&mut d, Input::SendFailed { member: peer(1) }), []);
    assert_eq!(finish(&mut d, &peer(1), probe, true, t0), [Output::MemberAdded(peer(1))]);
    assert!(suspects(&d).is_empty());
}

#[test]
fn a_member_lost_below_while_its_admission_probe_runs_is_added_as_a_suspect_if_alive() {
    let t0 = origin();
    let mut d = detector();
    let out = step(&mut d, Input::MemberAdded { member: peer(1) });
    let probe = probe_of(&out, &peer(1));
    assert_eq!(step(&mut d, Input::MemberDisappeared { member: peer(1) }), []);
    assert_eq!(finish(&mut d, &peer(1), probe, true, secs(t0, 1)), [Output::MemberAdded(peer(1))]);
    assert_eq!(suspects(&d), [(peer(1).id(), secs(t0, 1))]);
}

#[test]
fn a_forced_check_probes_every_member_below() {
    let t0 = origin();
    let mut d = detector();
    with_member(&mut d, &peer(1), t0);
    let out = step(&mut d, Input::MemberAdded { member: peer(2) });
    finish(&mut d, &peer(2), probe_of(&out, &peer(2)), false, t0);
    let out = step(&mut d, Input::ForcedCheck(t0));
    assert_eq!(out.len(), 2);
    let (p1, p2) = (probe_of(&out, &peer(1)), probe_of(&out, &peer(2)));
    assert_eq!(finish(&mut d, &peer(1), p1, false, t0), [Output::MemberDisappeared(peer(1))]);
    assert_eq!(finish(&mut d, &peer(2), p2, true, t0), [Output::MemberAdded(peer(2))]);
}

#[test]
fn events_about_the_local_member_are_ignored() {
    let mut d = detector();
    assert_eq!(step(&mut d, Input::MemberAdded { member: local() }), []);
    assert_eq!(step(&mut d, Input::MemberDisappeared { member: local() }), []);
    assert_eq!(step(&mut d, Input::SendFailed { member: local() }), []);
}

#[test]
fn members_above_are_listed_longest_running_first() {
    let t0 = origin();
    let mut d = detector();
    for n in [1, 3, 2] {
        with_member(&mut d, &peer(n), t0);
    }
    let alives: Vec<i64> = d.members().map(|m| m.alive).collect();
    assert_eq!(alives, [3000, 2000, 1000]);
    let older = Member { alive: 9000, ..peer(1) };
    step(&mut d, Input::MemberUpdated { member: older });
    assert_eq!(d.members().next().unwrap().id(), peer(1).id());
}

#[test]
fn the_config_defaults_are_tomcats() {
    let c = FailureDetectorConfig::default();
    assert_eq!(c.connect_timeout, Duration::from_millis(1000));
    assert!(c.perform_send_test);
    assert!(!c.perform_read_test);
    assert_eq!(c.read_test_timeout, Duration::from_millis(5000));
    assert_eq!(c.remove_suspects_timeout, Duration::from_secs(300));
}

// ---- properties ----

#[derive(Debug, Clone)]
enum Ev {
    Added(u8),
    Disappeared(u8),
    Shutdown(u8),
    SendFailed(u8),
    Heartbeat,
    Forced,
    /// Finish the `i`-th outstanding probe (modulo their number) with this verdict.
    Finish(usize, bool),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => (1u8..4).prop_map(Ev::Added),
        2 => (1u8..4).prop_map(Ev::Disappeared),
        1 => (1u8..4).prop_map(Ev::Shutdown),
        1 => (1u8..4).prop_map(Ev::SendFailed),
        1 => Just(Ev::Heartbeat),
        1 => Just(Ev::Forced),
        5 => (any::<usize>(), any::<bool>()).prop_map(|(i, a)| Ev::Finish(i, a)),
    ]
}

proptest! {
    #[test]
    fn upward_events_alternate_and_shutdowns_are_immediate(
        steps in proptest::collection::vec((0u64..20_000, ev()), 0..150),
    ) {
        let t0 = origin();
        let mut d = detector();
        let mut now = t0;
        let mut up: HashSet<u8> = HashSet::new();
        // Probes the runtime was asked for and has not answered yet.
        let mut outstanding: Vec<(ProbeId, Member)> = Vec::new();
        let mut seen_ids: HashSet<ProbeId> = HashSet::new();
        for (gap, ev) in &steps {
            now += Duration::from_millis(*gap);
            let input = match ev {
                Ev::Added(n) => Input::MemberAdded { member: peer(*n) },
                Ev::Disappeared(n) => Input::MemberDisappeared { member: peer(*n) },
                Ev::Shutdown(n) => Input::MemberDisappeared { member: peer(*n).to_shutdown() },
                Ev::SendFailed(n) => Input::SendFailed { member: peer(*n) },
                Ev::Heartbeat => Input::Heartbeat(now),
                Ev::Forced => Input::ForcedCheck(now),
                Ev::Finish(i, alive) => {
                    if outstanding.is_empty() {
                        Input::Heartbeat(now)
                    } else {
                        let (probe, member) = outstanding.remove(i % outstanding.len());
                        Input::ProbeFinished { member: member.id(), probe, alive: *alive, now }
                    }
                }
            };
            let was_up = up.clone();
            for o in step(&mut d, input) {
                match o {
                    Output::Probe { probe, member } => {
                        prop_assert!(seen_ids.insert(probe), "fresh probe id");
                        prop_assert!(!member.is_shutdown());
                        outstanding.push((probe, member));
                    }
                    Output::MemberAdded(m) => prop_assert!(up.insert(m.unique_id.0[0]), "added twice"),
                    Output::MemberDisappeared(m) => {
                        prop_assert!(up.remove(&m.unique_id.0[0]), "disappeared while not up")
                    }
                }
            }
            if let Ev::Shutdown(n) = ev {
                prop_assert!(!up.contains(n));
                prop_assert_eq!(was_up.len() - up.len(), usize::from(was_up.contains(n)));
            }
            let mut listed: Vec<u8> = d.members().map(|m| m.unique_id.0[0]).collect();
            listed.sort_unstable();
            let mut expected: Vec<u8> = up.iter().copied().collect();
            expected.sort_unstable();
            prop_assert_eq!(listed, expected);
            // One probe in flight per member at most.
            let mut in_flight: Vec<MemberId> = d.pending_probes().map(|(_, m)| m.id()).collect();
            let count = in_flight.len();
            in_flight.sort();
            in_flight.dedup();
            prop_assert_eq!(in_flight.len(), count);
            // Suspects are members above.
            for (id, _) in d.remove_suspects() {
                prop_assert!(d.members().any(|m| &m.id() == id));
            }
        }
    }
}
