//! Static members: nodes declared in the configuration instead of heard by multicast, present
//! while their TCP port answers.
//!
//! Spec: `org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor` (declared
//! `<Member>`s, the `MEMBER_START` / `MEMBER_STOP` notifications) working with
//! `TcpFailureDetector` (a static member is added once a probe finds it alive, kept as an
//! "add-suspect" and re-probed while it is not, and removed when a probe fails) and
//! `TcpPingInterceptor` (which makes the detector re-probe every member on each tick).
//!
//! One tick probes every member with no probe in flight. A probe result adds or removes the
//! member. A `MEMBER_START` from a member marks it present at once; a `MEMBER_STOP` removes it at
//! once, as a shutdown heartbeat does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tribes_wire::{Member, MemberId};

/// The `TcpPingInterceptor interval` / channel heartbeat that paces the probes.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(1000);

/// What the runtime must do or report, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the member (TcpFailureDetector's probe) and report the result
    /// with [`StaticMembers::probe_finished`].
    Probe(Member),
    /// The member became reachable.
    MemberAdded(Member),
    /// The member stopped answering, or said it stops.
    MemberDisappeared { member: Member, shutdown: bool },
}

#[derive(Debug)]
struct Entry {
    member: Member,
    present: bool,
    probing: bool,
}

/// The declared members and whether each is present.
#[derive(Debug)]
pub struct StaticMembers {
    entries: HashMap<MemberId, Entry>,
    order: Vec<MemberId>,
    interval: Duration,
    next_tick: Option<Instant>,
    outputs: std::collections::VecDeque<Output>,
}

impl StaticMembers {
    /// Declares `members` (none present yet) and schedules the first probes at `now`.
    pub fn new(members: Vec<Member>, interval: Duration, now: Instant) -> Self {
        let order: Vec<MemberId> = members.iter().map(Member::id).collect();
        let entries =
            members.into_iter().map(|m| (m.id(), Entry { member: m, present: false, probing: false })).collect();
        StaticMembers { entries, order, interval, next_tick: Some(now), outputs: Default::default() }
    }

    /// When [`StaticMembers::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick
    }

    /// Probes every member that has no probe in flight.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(due) = self.next_tick else { return };
        if now < due {
            return;
        }
        for id in &self.order {
            let e = self.entries.get_mut(id).expect("ordered ids are entries");
            if !e.probing {
                e.probing = true;
                self.outputs.push_back(Output::Probe(e.member.clone()));
            }
        }
        self.next_tick = Some(now + self.interval);
    }

    /// The result of a probe: alive adds an absent member, dead removes a present one.
    pub fn probe_finished(&mut self, id: &MemberId, alive: bool) {
        let Some(e) = self.entries.get_mut(id) else { return };
        e.probing = false;
        self.set_present(id, alive, false);
    }

    /// A `MEMBER_START` (`alive = true`) or `MEMBER_STOP` notification from this member.
    pub fn notification(&mut self, id: &MemberId, start: bool) {
        self.set_present(id, start, !start);
    }

    fn set_present(&mut self, id: &MemberId, present: bool, shutdown: bool) {
        let Some(e) = self.entries.get_mut(id) else { return };
        if e.present == present {
            return;
        }
        e.present = present;
        self.outputs.push_back(if present {
            Output::MemberAdded(e.member.clone())
        } else {
            Output::MemberDisappeared { member: e.member.clone(), shutdown }
        });
    }

    /// Stops probing (on shutdown).
    pub fn stop(&mut self) {
        self.next_tick = None;
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Every declared member, in declaration order.
    pub fn declared(&self) -> impl Iterator<Item = &Member> + '_ {
        self.order.iter().map(|id| &self.entries[id].member)
    }

    /// The members present now, in declaration order.
    pub fn present(&self) -> impl Iterator<Item = &Member> + '_ {
        self.order.iter().map(|id| &self.entries[id]).filter(|e| e.present).map(|e| &e.member)
    }

    /// Whether `id` is a declared member.
    pub fn is_declared(&self, id: &MemberId) -> bool {
        self.entries.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use tribes_wire::UniqueId;

    fn member(port: i32, id: u8) -> Member {
        Member::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port, UniqueId([id; 16]), 0)
    }

    fn drain(s: &mut StaticMembers) -> Vec<Output> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    #[test]
    fn a_static_member_is_present_exactly_while_its_probes_succeed() {
        let t0 = Instant::now();
        let a = member(4000, 1);
        let mut s = StaticMembers::new(vec![a.clone()], Duration::from_secs(1), t0);
        s.handle_timeout(t0);
        assert_eq!(drain(&mut s), vec![Output::Probe(a.clone())]);
        s.probe_finished(&a.id(), false);
        assert_eq!(drain(&mut s), vec![], "an unreachable member is never added");
        s.handle_timeout(t0 + Duration::from_secs(1));
        assert_eq!(drain(&mut s), vec![Output::Probe(a.clone())]);
        s.probe_finished(&a.id(), true);
        assert_eq!(drain(&mut s), vec![Output::MemberAdded(a.clone())]);
        s.handle_timeout(t0 + Duration::from_secs(2));
        s.probe_finished(&a.id(), true);
        assert_eq!(drain(&mut s), vec![Output::Probe(a.clone())], "still present: no new event");
        s.handle_timeout(t0 + Duration::from_secs(3));
        s.probe_finished(&a.id(), false);
        assert_eq!(
            drain(&mut s),
            vec![Output::Probe(a.clone()), Output::MemberDisappeared { member: a, shutdown: false }]
        );
    }

    #[test]
    fn no_second_probe_while_one_is_in_flight_and_no_tick_before_its_time() {
        let t0 = Instant::now();
        let a = member(4000, 1);
        let mut s = StaticMembers::new(vec![a.clone()], Duration::from_secs(1), t0);
        s.handle_timeout(t0);
        s.handle_timeout(t0 + Duration::from_millis(500));
        s.handle_timeout(t0 + Duration::from_secs(1));
        assert_eq!(drain(&mut s), vec![Output::Probe(a.clone())]);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn start_and_stop_notifications_act_at_once_and_unknown_members_are_ignored() {
        let t0 = Instant::now();
        let a = member(4000, 1);
        let mut s = StaticMembers::new(vec![a.clone()], Duration::from_secs(1), t0);
        s.notification(&member(4001, 2).id(), true);
        assert_eq!(drain(&mut s), vec![]);
        s.notification(&a.id(), true);
        assert_eq!(drain(&mut s), vec![Output::MemberAdded(a.clone())]);
        s.notification(&a.id(), false);
        assert_eq!(drain(&mut s), vec![Output::MemberDisappeared { member: a, shutdown: true }]);
        assert_eq!(s.present().count(), 0);
    }
}
