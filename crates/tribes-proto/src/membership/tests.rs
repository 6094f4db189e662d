//! Virtual time: one `Instant` origin, everything else is `origin + Duration`.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use hex_literal::hex;
use proptest::prelude::*;
use tribes_wire::UniqueId;

use super::*;

const DROP_MS: u64 = 3000;

fn origin() -> Instant {
    Instant::now()
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn local() -> Member {
    Member::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4000, UniqueId([0xaa; 16]), 0)
}

fn peer(n: u8, alive: i64) -> Member {
    Member::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + n)), 4000, UniqueId([n; 16]), alive)
}

fn from(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + n)), 45564)
}

fn start(t0: Instant) -> Membership {
    start_with(t0, McastConfig::default())
}

fn start_with(t0: Instant, config: McastConfig) -> Membership {
    let mut m = Membership::new(local(), config, t0).expect("valid local member");
    let first = drain(&mut m);
    assert!(matches!(first[..], [Output::SendHeartbeat(_)]), "{first:?}");
    m
}

fn drain(m: &mut Membership) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn hear(m: &mut Membership, now: Instant, member: &Member) -> Vec<Output> {
    let n = member.unique_id.0[0];
    m.handle_datagram(now, &member.to_bytes(), from(n));
    drain(m)
}

fn alive_of(out: &Output) -> i64 {
    match out {
        Output::SendHeartbeat(bytes) => Member::decode(bytes).expect("our heartbeat decodes").alive,
        other => panic!("expected a heartbeat, got {other:?}"),
    }
}

fn ids(m: &Membership) -> Vec<MemberId> {
    m.members().map(Member::id).collect()
}

#[test]
fn heartbeats_go_out_at_0_500_and_1000_ms_with_alive_0_500_and_1000() {
    let t0 = origin();
    let mut m = Membership::new(local(), McastConfig::default(), t0).unwrap();
    let mut sent = drain(&mut m); // queued at start
    for ms in [500, 1000] {
        assert_eq!(m.poll_timeout(), Some(at(t0, ms)));
        m.handle_timeout(at(t0, ms));
        sent.extend(drain(&mut m));
    }
    let members: Vec<Member> = sent
        .iter()
        .map(|o| match o {
            Output::SendHeartbeat(bytes) => Member::decode(bytes).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<Member> = [0, 500, 1000].map(|alive| Member { alive, ..local() }).into();
    assert_eq!(members, expected);
    assert_eq!(m.poll_timeout(), Some(at(t0, 1500)));
    assert_eq!(m.stats().heartbeats_sent, 3);
}

#[test]
fn the_first_heartbeat_is_queued_at_start_and_the_next_is_due_one_frequency_later() {
    let t0 = origin();
    let mut m = Membership::new(local(), McastConfig::default(), t0).unwrap();
    let out = drain(&mut m);
    assert_eq!(out.len(), 1);
    assert_eq!(alive_of(&out[0]), 0);
    assert_eq!(m.poll_timeout(), Some(at(t0, 500)));
    m.handle_timeout(at(t0, 499));
    assert_eq!(drain(&mut m), []);
}

#[test]
fn a_late_timer_sends_one_heartbeat_with_the_true_alive_time_and_keeps_the_rate() {
    let t0 = origin();
    let mut m = start(t0);
    m.handle_timeout(at(t0, 700));
    let out = drain(&mut m);
    assert_eq!(out.iter().map(alive_of).collect::<Vec<_>>(), [700]);
    assert_eq!(m.poll_timeout(), Some(at(t0, 1000)));
    // A stall of several periods: one heartbeat, then a fresh period instead of a burst.
    m.handle_timeout(at(t0, 2600));
    let out = drain(&mut m);
    assert_eq!(out.iter().map(alive_of).collect::<Vec<_>>(), [2600]);
    assert_eq!(m.poll_timeout(), Some(at(t0, 3100)));
}

#[test]
fn a_new_member_is_added_once_and_later_heartbeats_only_refresh_it() {
    let t0 = origin();
    let mut m = start(t0);
    assert_eq!(hear(&mut m, at(t0, 10), &peer(1, 100)), [Output::MemberAdded(peer(1, 100))]);
    assert_eq!(hear(&mut m, at(t0, 510), &peer(1, 600)), []);
    assert_eq!(hear(&mut m, at(t0, 1010), &peer(1, 1100)), []);
    assert_eq!(m.members().cloned().collect::<Vec<_>>(), [peer(1, 1100)]);
    assert_eq!(m.stats().members_added, 1);
}

#[test]
fn a_member_disappears_only_when_silent_strictly_longer_than_drop_time() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 100), &peer(1, 0));
    // 3000 ms of silence is not enough (Tomcat: now - lastHeardFrom > dropTime).
    m.handle_timeout(at(t0, 100 + DROP_MS));
    m.handle_timeout(at(t0, 100 + DROP_MS) + Duration::from_micros(999));
    assert!(drain(&mut m).iter().all(|o| matches!(o, Output::SendHeartbeat(_))));
    assert_eq!(m.members().len(), 1);
    // 3001 ms is.
    m.handle_timeout(at(t0, 100 + DROP_MS + 1));
    let gone: Vec<Output> = drain(&mut m).into_iter().filter(|o| !matches!(o, Output::SendHeartbeat(_))).collect();
    assert_eq!(gone, [Output::MemberDisappeared { member: peer(1, 0), reason: DisappearReason::Timeout }]);
    assert_eq!(m.members().len(), 0);
    // Exactly once.
    for ms in [3200, 4000, 10_000] {
        m.handle_timeout(at(t0, ms));
        assert!(drain(&mut m).iter().all(|o| matches!(o, Output::SendHeartbeat(_))));
    }
    assert_eq!(m.stats().members_timed_out, 1);
}

#[test]
fn driven_by_poll_timeout_a_silent_member_goes_at_last_heard_plus_3001_ms() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 123), &peer(1, 0));
    let gone_at = loop {
        let deadline = m.poll_timeout().expect("running");
        m.handle_timeout(deadline);
        if drain(&mut m).iter().any(|o| matches!(o, Output::MemberDisappeared { .. })) {
            break deadline;
        }
        assert!(deadline < at(t0, 10_000), "never expired");
    };
    assert_eq!(gone_at, at(t0, 123 + DROP_MS + 1));
}

#[test]
fn poll_timeout_is_the_earlier_of_the_next_heartbeat_and_the_first_expiry() {
    let t0 = origin();
    let mut m = start(t0);
    assert_eq!(m.poll_timeout(), Some(at(t0, 500)));
    hear(&mut m, at(t0, 100), &peer(1, 0));
    assert_eq!(m.member_view(&peer(1, 0).id()).unwrap().expires_at, at(t0, 3101));
    let mut cfg = McastConfig { frequency: Duration::from_secs(10), ..McastConfig::default() };
    cfg.drop_time = Duration::from_millis(3000);
    let mut slow = start_with(t0, cfg);
    hear(&mut slow, at(t0, 100), &peer(1, 0));
    assert_eq!(slow.poll_timeout(), Some(at(t0, 3101)));
}

#[test]
fn receiving_a_datagram_also_expires_silent_members_as_tomcat_checks_after_every_receive() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 0), &peer(1, 0));
    let out = hear(&mut m, at(t0, 3001), &peer(2, 0));
    assert_eq!(
        out,
        [
            Output::MemberAdded(peer(2, 0)),
            Output::MemberDisappeared { member: peer(1, 0), reason: DisappearReason::Timeout },
        ]
    );
}

#[test]
fn a_member_heard_again_after_disappearing_is_added_again_as_a_new_appearance() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 0), &peer(1, 0));
    hear(&mut m, at(t0, 500), &peer(1, 500));
    m.handle_timeout(at(t0, 4000));
    assert!(
        drain(&mut m).contains(&Output::MemberDisappeared { member: peer(1, 500), reason: DisappearReason::Timeout })
    );
    assert_eq!(hear(&mut m, at(t0, 5000), &peer(1, 5000)), [Output::MemberAdded(peer(1, 5000))]);
    let view = m.member_view(&peer(1, 0).id()).unwrap();
    assert_eq!((view.first_heard, view.packets, view.last_interval), (at(t0, 5000), 1, None));
}

#[test]
fn our_own_heartbeats_and_shutdown_coming_back_by_loopback_are_ignored() {
    let t0 = origin();
    let mut m = start(t0);
    let mine = Member { alive: 42, ..local() };
    m.handle_datagram(at(t0, 1), &mine.to_bytes(), from(0));
    m.handle_datagram(at(t0, 2), &mine.to_shutdown().to_bytes(), from(0));
    // Same id even when other fields differ.
    let odd = Member { secure_port: 4443, payload: Bytes::from_static(b"x"), ..mine };
    m.handle_datagram(at(t0, 3), &odd.to_bytes(), from(0));
    assert_eq!(drain(&mut m), []);
    assert_eq!(m.members().len(), 0);
    assert_eq!(m.stats().own_packets, 3);
}

#[test]
fn a_shutdown_heartbeat_removes_a_known_member_at_once() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 0), &peer(1, 1000));
    hear(&mut m, at(t0, 0), &peer(2, 2000));
    let bye = peer(1, 1500).to_shutdown();
    assert_eq!(
        hear(&mut m, at(t0, 10), &bye),
        [Output::MemberDisappeared { member: bye.clone(), reason: DisappearReason::Shutdown }]
    );
    assert_eq!(ids(&m), [peer(2, 0).id()]);
    assert!(m.member_view(&bye.id()).is_none());
    // A repeated shutdown and a later expiry report nothing more.
    assert_eq!(hear(&mut m, at(t0, 20), &bye), []);
    m.handle_timeout(at(t0, 10_000));
    let disappeared: Vec<_> = drain(&mut m)
        .into_iter()
        .filter_map(|o| match o {
            Output::MemberDisappeared { member, .. } => Some(member.id()),
            _ => None,
        })
        .collect();
    assert_eq!(disappeared, [peer(2, 0).id()]);
    assert_eq!(m.stats().members_shut_down, 1);
}

#[test]
fn a_shutdown_heartbeat_from_an_unknown_member_is_ignored() {
    let t0 = origin();
    let mut m = start(t0);
    assert_eq!(hear(&mut m, at(t0, 10), &peer(3, 0).to_shutdown()), []);
    assert_eq!(m.members().len(), 0);
    assert_eq!(m.stats().shutdown_packets, 1);
}

#[test]
fn a_malformed_member_packet_is_reported_and_counted_but_never_becomes_a_member() {
    let t0 = origin();
    let mut m = start(t0);
    let good = peer(1, 0).to_bytes();
    let truncated = good.slice(..good.len() - 3);
    m.handle_datagram(at(t0, 1), &truncated, from(1));
    let junk = Bytes::from_static(b"TRIBES-B\x01\x00\x00\x00\x00\x01z");
    m.handle_datagram(at(t0, 2), &junk, from(2));
    let out = drain(&mut m);
    assert_eq!(out.len(), 2, "{out:?}");
    for (o, expected_from, bytes) in [(&out[0], from(1), &truncated), (&out[1], from(2), &junk)] {
        let Output::Malformed { from, error } = o else { panic!("{o:?}") };
        assert_eq!(*from, expected_from);
        assert_eq!(*error, Member::decode(bytes).unwrap_err());
    }
    assert_eq!(m.members().len(), 0);
    assert_eq!(m.stats().malformed, 2);
}

#[test]
fn datagrams_that_do_not_start_with_the_member_marker_are_passed_on_untouched() {
    let t0 = origin();
    let mut m = start(t0);
    let frames = Bytes::from_static(b"FLT2002\x00\x00\x00\x01xTLF2003");
    // `TRIBES-B` without the `01 00` suffix is not the marker either (Tomcat matches all 10 bytes).
    let almost = Bytes::from_static(b"TRIBES-B\x02\x00");
    for bytes in [frames, Bytes::new(), almost] {
        m.handle_datagram(at(t0, 1), &bytes, from(1));
        assert_eq!(drain(&mut m), [Output::DataFrames { from: from(1), bytes }]);
    }
    assert_eq!(m.stats().data_datagrams, 3);
    assert_eq!(m.members().len(), 0);
}

#[test]
fn members_are_listed_longest_running_first_and_the_oldest_is_the_state_source() {
    let t0 = origin();
    let mut m = start(t0);
    assert!(m.oldest().is_none());
    hear(&mut m, at(t0, 0), &peer(1, 100));
    hear(&mut m, at(t0, 0), &peer(2, 5000));
    hear(&mut m, at(t0, 0), &peer(3, 2000));
    assert_eq!(ids(&m), [peer(2, 0).id(), peer(3, 0).id(), peer(1, 0).id()]);
    assert_eq!(m.oldest(), Some(&peer(2, 5000)));
    hear(&mut m, at(t0, 500), &peer(1, 9000));
    assert_eq!(ids(&m), [peer(1, 0).id(), peer(2, 0).id(), peer(3, 0).id()]);
    assert_eq!(m.oldest().map(|o| o.alive), Some(9000));
    let views: Vec<i64> = m.member_views().iter().map(|v| v.member.alive).collect();
    assert_eq!(views, [9000, 5000, 2000]);
}

#[test]
fn equal_alive_times_keep_their_arrival_order_like_javas_stable_sort() {
    let t0 = origin();
    let mut m = start(t0);
    for n in [3, 1, 2] {
        hear(&mut m, at(t0, 0), &peer(n, 700));
    }
    assert_eq!(ids(&m), [peer(3, 0).id(), peer(1, 0).id(), peer(2, 0).id()]);
}

#[test]
fn a_payload_change_or_a_restarted_alive_clock_is_reported_as_an_update() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 0), &peer(1, 1000));
    let with_payload = Member { payload: Bytes::from_static(b"v2"), ..peer(1, 1500) };
    assert_eq!(hear(&mut m, at(t0, 500), &with_payload), [Output::MemberUpdated(with_payload.clone())]);
    // Same alive time: Tomcat does not even look at the payload.
    let same_alive = Member { payload: Bytes::from_static(b"v3"), ..peer(1, 1500) };
    assert_eq!(hear(&mut m, at(t0, 600), &same_alive), []);
    assert_eq!(m.oldest().unwrap().payload, Bytes::from_static(b"v2"));
    // Recovery restarts the alive clock with the same id.
    let restarted = Member { payload: Bytes::from_static(b"v2"), ..peer(1, 20) };
    assert_eq!(hear(&mut m, at(t0, 1000), &restarted), [Output::MemberUpdated(restarted)]);
}

#[test]
fn stop_sends_our_packet_with_the_baby_alex_command_and_then_ignores_everything() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 0), &peer(1, 0));
    m.stop(at(t0, 1234));
    let out = drain(&mut m);
    let [Output::SendHeartbeat(bytes)] = &out[..] else { panic!("{out:?}") };
    assert_eq!(*bytes, Member { alive: 1234, ..local() }.to_shutdown().to_bytes());
    let sent = Member::decode(bytes).unwrap();
    assert_eq!(sent.command, Bytes::from_static(b"BABY-ALEX"));
    assert_eq!(sent.id(), local().id());
    assert!(m.is_stopped());
    assert_eq!(m.poll_timeout(), None);
    m.handle_timeout(at(t0, 10_000));
    m.handle_datagram(at(t0, 10_001), &peer(2, 0).to_bytes(), from(2));
    m.stop(at(t0, 10_002));
    assert_eq!(drain(&mut m), []);
}

#[test]
fn heartbeat_and_shutdown_bytes_match_the_spec_vectors_for_member_b() {
    // membership.md §8, member B: 127.0.0.1:4000, alive 5000, domain "mydomain", payload "hello".
    let heartbeat = hex!(
        "54 52 49 42 45 53 2d 42 01 00 00 00 00 42 00 00"
        "00 00 00 00 13 88 00 00 0f a0 ff ff ff ff ff ff"
        "ff ff 04 7f 00 00 01 00 00 00 00 00 00 00 08 6d"
        "79 64 6f 6d 61 69 6e 00 01 02 03 04 05 06 07 08"
        "09 0a 0b 0c 0d 0e 0f 00 00 00 05 68 65 6c 6c 6f"
        "54 52 49 42 45 53 2d 45 01 00"
    );
    let shutdown = hex!(
        "54 52 49 42 45 53 2d 42 01 00 00 00 00 4b 00 00"
        "00 00 00 00 13 88 00 00 0f a0 ff ff ff ff ff ff"
        "ff ff 04 7f 00 00 01 00 00 00 09 42 41 42 59 2d"
        "41 4c 45 58 00 00 00 08 6d 79 64 6f 6d 61 69 6e"
        "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
        "00 00 00 05 68 65 6c 6c 6f 54 52 49 42 45 53 2d"
        "45 01 00"
    );
    let t0 = origin();
    let b = Member::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000, UniqueId(core::array::from_fn(|i| i as u8)), 0);
    let mut config = McastConfig::default();
    config.set_domain_str("mydomain").unwrap();
    config.payload = Bytes::from_static(b"hello");
    let mut m = Membership::new(b, config, t0).unwrap();
    m.handle_timeout(at(t0, 5000));
    m.stop(at(t0, 5000));
    let out = drain(&mut m);
    let sent: Vec<&[u8]> = out
        .iter()
        .map(|o| match o {
            Output::SendHeartbeat(bytes) => &bytes[..],
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1], &heartbeat[..]);
    assert_eq!(sent[2], &shutdown[..]);
}

#[test]
fn members_of_another_domain_are_admitted_by_default_but_recorded_as_foreign() {
    let t0 = origin();
    let config = McastConfig { domain: Bytes::from_static(b"blue"), ..McastConfig::default() };
    let mut m = start_with(t0, config);
    let red = Member { domain: Bytes::from_static(b"red"), ..peer(1, 0) };
    let blue = Member { domain: Bytes::from_static(b"blue"), ..peer(2, 0) };
    assert_eq!(hear(&mut m, at(t0, 0), &red), [Output::MemberAdded(red.clone())]);
    assert_eq!(hear(&mut m, at(t0, 0), &blue), [Output::MemberAdded(blue.clone())]);
    let foreign = m.foreign_domain_members();
    assert_eq!(foreign.len(), 1);
    assert_eq!(foreign[0].member, red);
    assert!(foreign[0].admitted && !foreign[0].domain_matches);
    assert_eq!(m.stats().foreign_domain_packets, 1);
}

#[test]
fn with_domain_filter_foreign_members_are_recorded_silently_and_never_added() {
    let t0 = origin();
    let config = McastConfig { domain: Bytes::from_static(b"blue"), domain_filter: true, ..McastConfig::default() };
    let mut m = start_with(t0, config);
    let red = Member { domain: Bytes::from_static(b"red"), ..peer(1, 0) };
    assert_eq!(hear(&mut m, at(t0, 0), &red), []);
    assert_eq!(hear(&mut m, at(t0, 500), &Member { alive: 500, ..red.clone() }), []);
    assert_eq!(m.members().len(), 0);
    assert!(m.member(&red.id()).is_none());
    let foreign = m.foreign_domain_members();
    assert_eq!((foreign.len(), foreign[0].admitted, foreign[0].packets), (1, false, 2));
    // It expires silently, and its shutdown is silent too.
    m.handle_timeout(at(t0, 4000));
    assert!(drain(&mut m).iter().all(|o| matches!(o, Output::SendHeartbeat(_))));
    assert!(m.foreign_domain_members().is_empty());
    hear(&mut m, at(t0, 4100), &red);
    assert_eq!(hear(&mut m, at(t0, 4200), &red.to_shutdown()), []);
    assert!(m.foreign_domain_members().is_empty());
    // Same domain is admitted.
    let blue = Member { domain: Bytes::from_static(b"blue"), ..peer(2, 0) };
    assert_eq!(hear(&mut m, at(t0, 4300), &blue), [Output::MemberAdded(blue)]);
}

#[test]
fn each_member_view_tracks_first_and_last_heard_packet_count_and_interval() {
    let t0 = origin();
    let mut m = start(t0);
    hear(&mut m, at(t0, 1000), &peer(1, 0));
    hear(&mut m, at(t0, 1500), &peer(1, 500));
    let other_source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5)), 40000);
    m.handle_datagram(at(t0, 2100), &peer(1, 1100).to_bytes(), other_source);
    let v = m.member_view(&peer(1, 0).id()).unwrap();
    assert_eq!(v.first_heard, at(t0, 1000));
    assert_eq!(v.last_heard, at(t0, 2100));
    assert_eq!(v.packets, 3);
    assert_eq!(v.last_interval, Some(Duration::from_millis(600)));
    // 500, then 500 * 7/8 + 600 / 8.
    assert_eq!(v.mean_interval, Some(Duration::from_micros(512_500)));
    assert_eq!(v.last_from, other_source);
    assert_eq!(v.member.alive, 1100);
    assert_eq!(v.expires_at, at(t0, 2100 + DROP_MS + 1));
    assert!(v.admitted && v.domain_matches);
}

#[test]
fn an_instant_earlier_than_one_already_seen_never_moves_the_clock_back() {
    let t0 = origin();
    let mut m = start(t0);
    m.handle_timeout(at(t0, 1000));
    m.set_payload(at(t0, 400), Bytes::from_static(b"p")).unwrap();
    let alives: Vec<i64> = drain(&mut m).iter().map(alive_of).collect();
    assert_eq!(alives, [1000, 1000]);
}

#[test]
fn set_payload_sends_a_heartbeat_at_once_without_moving_the_schedule() {
    let t0 = origin();
    let mut m = start(t0);
    m.set_payload(at(t0, 200), Bytes::from_static(b"hi")).unwrap();
    let out = drain(&mut m);
    let [Output::SendHeartbeat(bytes)] = &out[..] else { panic!("{out:?}") };
    let sent = Member::decode(bytes).unwrap();
    assert_eq!((sent.alive, &sent.payload[..]), (200, &b"hi"[..]));
    assert_eq!(m.poll_timeout(), Some(at(t0, 500)));
    m.set_domain(at(t0, 300), Bytes::from_static(b"d")).unwrap();
    let out = drain(&mut m);
    assert_eq!(
        Member::decode(&match &out[0] {
            Output::SendHeartbeat(b) => b.clone(),
            o => panic!("{o:?}"),
        })
        .unwrap()
        .domain,
        Bytes::from_static(b"d")
    );
    assert_eq!(m.local_member(at(t0, 450)).alive, 450);
}

#[test]
fn a_payload_that_would_not_fit_one_datagram_is_refused() {
    let t0 = origin();
    let huge = Bytes::from(vec![0u8; MAX_PACKET_SIZE]);
    let config = McastConfig { payload: huge.clone(), ..McastConfig::default() };
    assert!(matches!(Membership::new(local(), config, t0), Err(MembershipError::PacketTooLarge { .. })));
    let mut m = start(t0);
    assert!(matches!(m.set_payload(t0, huge), Err(MembershipError::PacketTooLarge { .. })));
    assert_eq!(drain(&mut m), []);
    let zero = McastConfig { frequency: Duration::ZERO, ..McastConfig::default() };
    assert_eq!(Membership::new(local(), zero, t0).unwrap_err(), MembershipError::ZeroFrequency);
}

#[test]
fn the_config_defaults_are_tomcats() {
    let c = McastConfig::default();
    assert_eq!(c.address, IpAddr::V4(Ipv4Addr::new(228, 0, 0, 4)));
    assert_eq!(c.port, 45564);
    assert_eq!(c.frequency, Duration::from_millis(500));
    assert_eq!(c.drop_time, Duration::from_millis(3000));
    assert_eq!((c.bind, c.ttl, c.so_timeout), (None, None, None));
    assert!(c.domain.is_empty() && c.payload.is_empty());
    assert!(!c.local_loopback_disabled);
    assert!(c.recovery_enabled);
    assert_eq!(c.recovery_counter, 10);
    assert_eq!(c.recovery_sleep_time, Duration::from_millis(5000));
    assert!(!c.domain_filter);
    assert_eq!(c.effective_so_timeout(), Duration::from_millis(500));
    let zero = McastConfig { so_timeout: Some(Duration::ZERO), ..c.clone() };
    assert_eq!(zero.effective_so_timeout(), Duration::from_millis(500));
    let set = McastConfig { so_timeout: Some(Duration::from_millis(50)), ..c };
    assert_eq!(set.effective_so_timeout(), Duration::from_millis(50));
}

#[test]
fn a_domain_string_is_a_byte_list_when_it_starts_with_a_brace_and_latin1_text_otherwise() {
    assert_eq!(parse_domain("{1,2,-3}").unwrap(), Bytes::from_static(&[1, 2, 0xfd]));
    assert_eq!(parse_domain("{-128,127,+5}").unwrap(), Bytes::from_static(&[0x80, 0x7f, 5]));
    assert_eq!(parse_domain("{}").unwrap(), Bytes::new());
    // Tomcat's StringTokenizer skips empty pieces and does not need the closing brace.
    assert_eq!(parse_domain("{1,,2").unwrap(), Bytes::from_static(&[1, 2]));
    assert_eq!(parse_domain("mydomain").unwrap(), Bytes::from_static(b"mydomain"));
    assert_eq!(parse_domain("café").unwrap(), Bytes::from_static(b"caf\xe9"));
    assert_eq!(parse_domain("").unwrap(), Bytes::new());
    // Only a leading brace makes a list.
    assert_eq!(parse_domain(" {1}").unwrap(), Bytes::from_static(b" {1}"));
}

#[test]
fn a_bad_domain_string_is_refused_with_an_error_naming_the_value() {
    let err = parse_domain("{1, 2}").unwrap_err();
    assert_eq!(err, ParseBytesError::BadByte { value: "{1, 2}".into(), token: " 2".into() });
    assert!(err.to_string().contains("\"{1, 2}\"") && err.to_string().contains("\" 2\""), "{err}");
    for bad in ["{128}", "{-129}", "{x}", "{0x1f}", "{1;2}"] {
        let err = parse_domain(bad).unwrap_err();
        assert!(matches!(err, ParseBytesError::BadByte { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    let err = parse_domain("日本").unwrap_err();
    assert_eq!(err, ParseBytesError::NotLatin1 { value: "日本".into(), ch: '日' });
    assert!(err.to_string().contains("日本"), "{err}");
    assert!(matches!(parse_byte_list("abc"), Err(ParseBytesError::NotAList { .. })));
    let mut c = McastConfig::default();
    assert!(c.set_domain_str("{300}").is_err());
    assert!(c.domain.is_empty(), "unchanged on error");
}

// ---- properties ----

#[derive(Debug, Clone)]
enum Ev {
    /// A heartbeat from peer `n`.
    Heartbeat(u8),
    /// A shutdown heartbeat from peer `n`.
    Shutdown(u8),
    /// The timer fired (at an arbitrary instant, not necessarily the deadline).
    Timeout,
    /// A malformed member packet.
    Garbage,
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => (1u8..4).prop_map(Ev::Heartbeat),
        1 => (1u8..4).prop_map(Ev::Shutdown),
        3 => Just(Ev::Timeout),
        1 => Just(Ev::Garbage),
    ]
}

/// Time-ordered steps: (gap in ms since the previous step, event).
fn steps() -> impl Strategy<Value = Vec<(u64, Ev)>> {
    proptest::collection::vec((0u64..2500, ev()), 0..120)
}

/// Feeds `ev` at `now` and returns the outputs. Peers advertise alive = their time since t0.
fn apply(m: &mut Membership, t0: Instant, now: Instant, ev: &Ev) -> Vec<Output> {
    let alive = now.duration_since(t0).as_millis() as i64;
    match ev {
        Ev::Heartbeat(n) => m.handle_datagram(now, &peer(*n, alive).to_bytes(), from(*n)),
        Ev::Shutdown(n) => m.handle_datagram(now, &peer(*n, alive).to_shutdown().to_bytes(), from(*n)),
        Ev::Timeout => m.handle_timeout(now),
        Ev::Garbage => m.handle_datagram(now, &Bytes::from_static(b"TRIBES-B\x01\x00!"), from(9)),
    }
    drain(m)
}

proptest! {
    #[test]
    fn the_member_list_follows_a_reference_model_of_tomcats_rules(steps in steps()) {
        let t0 = origin();
        let mut m = start(t0);
        // Reference model: last heard (ms) per present member.
        let mut model: HashMap<u8, u64> = HashMap::new();
        let mut t = 0u64;
        let mut last_alive = 0i64;
        for (gap, ev) in &steps {
            t += gap;
            let now = at(t0, t);
            let was_present = model.clone();
            match ev {
                Ev::Heartbeat(n) => { model.insert(*n, t); }
                Ev::Shutdown(n) => { model.remove(n); }
                Ev::Timeout | Ev::Garbage => {}
            }
            model.retain(|_, heard| t - *heard <= DROP_MS);
            let out = apply(&mut m, t0, now, ev);

            let mut added = HashSet::new();
            let mut gone = HashSet::new();
            for o in &out {
                match o {
                    Output::SendHeartbeat(bytes) => {
                        let alive = Member::decode(bytes).unwrap().alive;
                        prop_assert_eq!(alive, t as i64, "alive is the elapsed ms");
                        prop_assert!(alive >= last_alive);
                        last_alive = alive;
                    }
                    Output::MemberAdded(member) => {
                        prop_assert!(added.insert(member.unique_id.0[0]));
                    }
                    Output::MemberDisappeared { member, reason } => {
                        let n = member.unique_id.0[0];
                        prop_assert!(gone.insert(n));
                        let by_shutdown = matches!(ev, Ev::Shutdown(s) if *s == n);
                        prop_assert_eq!(*reason == DisappearReason::Shutdown, by_shutdown);
                    }
                    Output::Malformed { .. } => prop_assert!(matches!(ev, Ev::Garbage)),
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            // Events are exactly the model's transitions: Added and Disappeared alternate.
            let expect_added: HashSet<u8> =
                model.keys().filter(|n| !was_present.contains_key(n)).copied().collect();
            let expect_gone: HashSet<u8> =
                was_present.keys().filter(|n| !model.contains_key(n)).copied().collect();
            prop_assert_eq!(&added, &expect_added);
            prop_assert_eq!(&gone, &expect_gone);
            let mut listed: Vec<u8> = m.members().map(|p| p.unique_id.0[0]).collect();
            listed.sort_unstable();
            let mut expected: Vec<u8> = model.keys().copied().collect();
            expected.sort_unstable();
            prop_assert_eq!(listed, expected);
            // Sorted by alive time, descending.
            let alives: Vec<i64> = m.members().map(|p| p.alive).collect();
            prop_assert!(alives.windows(2).all(|w| w[0] >= w[1]));
            if matches!(ev, Ev::Timeout) {
                prop_assert!(m.poll_timeout().unwrap() > now, "deadline handled");
            }
        }
    }

    #[test]
    fn a_shutdown_heartbeat_always_removes_a_present_member_at_once(
        steps in steps(), victim in 1u8..4, gap in 0u64..3000,
    ) {
        let t0 = origin();
        let mut m = start(t0);
        let mut t = 0;
        for (g, ev) in &steps {
            t += g;
            apply(&mut m, t0, at(t0, t), ev);
        }
        let present = m.members().any(|p| p.unique_id.0[0] == victim);
        t += gap;
        let out = apply(&mut m, t0, at(t0, t), &Ev::Shutdown(victim));
        let shut: Vec<&Output> = out.iter()
            .filter(|o| matches!(o, Output::MemberDisappeared { reason: DisappearReason::Shutdown, .. }))
            .collect();
        // Present right before, unless it timed out in this very call (Tomcat expires after the
        // receive; the shutdown is handled first, so it is reported as a shutdown).
        prop_assert_eq!(shut.len(), usize::from(present));
        if let [Output::MemberDisappeared { member, .. }] = &shut[..] {
            prop_assert_eq!(member.unique_id.0[0], victim);
            prop_assert!(member.is_shutdown());
        }
        prop_assert!(m.members().all(|p| p.unique_id.0[0] != victim));
    }

    #[test]
    fn a_member_heard_at_least_every_drop_time_never_disappears(
        steps in proptest::collection::vec((0u64..1500, 1u64..=DROP_MS, ev()), 0..120),
    ) {
        let t0 = origin();
        let mut m = start(t0);
        // Peer 0 is the steady one; the others come and go.
        let mut last0 = 0u64;
        let mut outputs = hear(&mut m, t0, &peer(0, 0));
        let mut t = 0u64;
        for (gap, hb_gap, ev) in &steps {
            let target = t + gap;
            while last0 + hb_gap <= target {
                last0 += hb_gap;
                outputs.extend(hear(&mut m, at(t0, last0), &peer(0, last0 as i64)));
            }
            t = target;
            outputs.extend(apply(&mut m, t0, at(t0, t), ev));
        }
        // The boundary itself: exactly dropTime of silence.
        m.handle_timeout(at(t0, last0 + DROP_MS));
        outputs.extend(drain(&mut m));
        let steady = peer(0, 0).id();
        let added = outputs.iter()
            .filter(|o| matches!(o, Output::MemberAdded(p) if p.id() == steady)).count();
        prop_assert_eq!(added, 1);
        let vanished = outputs.iter().any(
            |o| matches!(o, Output::MemberDisappeared { member, .. } if member.id() == steady)
        );
        prop_assert!(!vanished, "the steady member disappeared");
        prop_assert!(m.member(&steady).is_some());
    }
}
