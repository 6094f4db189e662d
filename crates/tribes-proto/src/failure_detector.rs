//! The TCP failure detector: a second opinion before a member is declared dead.
//!
//! Spec: `org.apache.catalina.tribes.group.interceptors.TcpFailureDetector` (`memberAdded`,
//! `memberDisappeared`, `sendMessage`, `performBasicCheck`, `performForcedCheck`, `memberAlive`),
//! identical on Tomcat 9.0, 10.1 and 11.0.
//!
//! Tomcat probes synchronously: `memberAlive(member)` opens a TCP connection (and, by default,
//! writes one `TCP_FAIL_DETECT` frame) while holding the detector's lock. Here a probe is an
//! [`Output::Probe`] that the runtime performs with the settings in [`FailureDetectorConfig`] and
//! reports back with [`Input::ProbeFinished`]; other inputs may arrive meanwhile. There is at
//! most one probe in flight per member: a second reason to probe the same member joins the
//! running probe, and its result is judged against the state at the time it finishes:
//!
//! | result | member seen by the layers above | effect |
//! |---|---|---|
//! | alive | no | add, [`Output::MemberAdded`]; a remove-suspect if it disappeared below meanwhile |
//! | alive | yes, a disappearance is being verified | keep it; remove-suspect since now |
//! | alive | yes, a remove-suspect | drop the suspicion after `removeSuspectsTimeout` |
//! | dead | yes | remove, [`Output::MemberDisappeared`] |
//! | dead | no | forget it (re-probed at the next heartbeat while the layer below has it) |
//!
//! `StaticMember` add-suspects are not modelled: the multicast membership never produces static
//! members.

use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tribes_wire::{Member, MemberId};

/// The `<Interceptor className="...TcpFailureDetector">` attributes with Tomcat's defaults. The
/// probe settings are for the runtime that performs [`Output::Probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureDetectorConfig {
    /// `connectTimeout`: how long a probe may take to connect.
    pub connect_timeout: Duration,
    /// `performSendTest`: after connecting, write one frame whose payload is
    /// `tribes_wire::control::TCP_FAIL_DETECT` (options `BYTE_MESSAGE`, plus `USE_ACK` with the read
    /// test), address = local member.
    pub perform_send_test: bool,
    /// `performReadTest`: with the send test, the member is alive only if at least one byte comes
    /// back within `read_test_timeout`.
    pub perform_read_test: bool,
    /// `readTestTimeout`.
    pub read_test_timeout: Duration,
    /// `removeSuspectsTimeout` (whole seconds): a member that disappeared below but still
    /// answers probes stops being re-probed once it has been a suspect for strictly more than
    /// this many whole seconds; it then stays a member. Zero: never.
    pub remove_suspects_timeout: Duration,
}

impl Default for FailureDetectorConfig {
    fn default() -> Self {
        FailureDetectorConfig {
            connect_timeout: Duration::from_millis(1000),
            perform_send_test: true,
            perform_read_test: false,
            read_test_timeout: Duration::from_millis(5000),
            remove_suspects_timeout: Duration::from_secs(300),
        }
    }
}

/// Names one probe, so that a late result of an abandoned probe is not taken for a newer one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub u64);

/// What happens to the detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The membership service below heard a new member.
    MemberAdded { member: Member },
    /// The membership service below has newer data for a member (alive time, payload).
    MemberUpdated { member: Member },
    /// The membership service below lost a member (expiry, or a shutdown heartbeat: then the
    /// member's command is `BABY-ALEX` and it is removed without a probe).
    MemberDisappeared { member: Member },
    /// Sending to this member failed for another reason than a remote processing error
    /// (`TcpFailureDetector.sendMessage`): verify it as if it had disappeared, without removing it
    /// from the layer below.
    SendFailed { member: Member },
    /// The runtime finished [`Output::Probe`] `probe` of `member`.
    ProbeFinished { member: MemberId, probe: ProbeId, alive: bool, now: Instant },
    /// The channel heartbeat (`GroupChannel.heartbeat`, every `heartbeatSleeptime`, 5 s by
    /// default): `performBasicCheck`.
    Heartbeat(Instant),
    /// A forced check (`checkMembers(true)`, from TcpPingInterceptor): probe every member below.
    ForcedCheck(Instant),
}

/// What the detector asks for or tells the layers above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Connect to `member.host:member.port` as [`FailureDetectorConfig`] says, then report
    /// [`Input::ProbeFinished`] with the same `probe`. Connect timeouts, refusals and unreachable
    /// hosts are "dead"; so is any other error (Tomcat logs those at error level).
    Probe { probe: ProbeId, member: Member },
    /// Tell the layers above that a member joined.
    MemberAdded(Member),
    /// Tell the layers above that a member left.
    MemberDisappeared(Member),
}

#[derive(Debug, Clone)]
struct Pending {
    probe: ProbeId,
    member: Member,
    /// A disappearance or send failure is waiting for this probe's verdict.
    verify_disappearance: bool,
}

/// `TcpFailureDetector` as a sans-IO machine: `handle_input`, then drain `poll_output`.
#[derive(Debug)]
pub struct TcpFailureDetector {
    config: FailureDetectorConfig,
    local: MemberId,
    /// Members the layer below reports (`super.getMembers()`).
    below: HashMap<MemberId, Member>,
    /// Members the layers above see (the detector's own `Membership`).
    members: HashMap<MemberId, Member>,
    /// `members` keys, alive time descending.
    order: Vec<MemberId>,
    /// `removeSuspects`: members that disappeared below but answered a probe, and since when.
    remove_suspects: HashMap<MemberId, Instant>,
    pending: HashMap<MemberId, Pending>,
    next_probe: u64,
    outputs: VecDeque<Output>,
}

impl TcpFailureDetector {
    /// A detector for the node whose member id is `local` (events about it are ignored).
    pub fn new(local: MemberId, config: FailureDetectorConfig) -> Self {
        TcpFailureDetector {
            config,
            local,
            below: HashMap::new(),
            members: HashMap::new(),
            order: Vec::new(),
            remove_suspects: HashMap::new(),
            pending: HashMap::new(),
            next_probe: 0,
            outputs: VecDeque::new(),
        }
    }

    pub fn handle_input(&mut self, input: Input) {
        match input {
            Input::MemberAdded { member } => self.member_added(member),
            Input::MemberUpdated { member } => self.member_updated(member),
            Input::MemberDisappeared { member } => {
                self.below.remove(&member.id());
                self.member_disappeared(member);
            }
            Input::SendFailed { member } => self.member_disappeared(member),
            Input::ProbeFinished { member, probe, alive, now } => self.probe_finished(member, probe, alive, now),
            Input::Heartbeat(now) => self.basic_check(now),
            Input::ForcedCheck(_) => {
                for member in self.sorted_below() {
                    self.probe(member, false);
                }
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The members the layers above see, longest-running first.
    pub fn members(&self) -> impl ExactSizeIterator<Item = &Member> + '_ {
        self.order.iter().map(|id| &self.members[id])
    }

    /// Members that disappeared below but still answered, and since when they are suspects.
    pub fn remove_suspects(&self) -> impl Iterator<Item = (&MemberId, Instant)> + '_ {
        self.remove_suspects.iter().map(|(id, since)| (id, *since))
    }

    /// Probes in flight.
    pub fn pending_probes(&self) -> impl Iterator<Item = (ProbeId, &Member)> + '_ {
        self.pending.values().map(|p| (p.probe, &p.member))
    }

    pub fn config(&self) -> &FailureDetectorConfig {
        &self.config
    }

    fn member_added(&mut self, member: Member) {
        let id = member.id();
        if id == self.local {
            return;
        }
        self.below.insert(id.clone(), member.clone());
        // It is back below: whatever disappearance we were verifying is moot.
        if let Some(p) = self.pending.get_mut(&id) {
            p.verify_disappearance = false;
        }
        if self.remove_suspects.remove(&id).is_some() {
            return;
        }
        if !self.members.contains_key(&id) {
            self.probe(member, false);
        }
    }

    fn member_updated(&mut self, member: Member) {
        let id = member.id();
        if let Some(m) = self.below.get_mut(&id) {
            *m = member.clone();
        }
        if let Some(m) = self.members.get_mut(&id) {
            *m = member;
            self.sort();
        }
    }

    fn member_disappeared(&mut self, member: Member) {
        let id = member.id();
        if id == self.local {
            return;
        }
        if member.is_shutdown() {
            // No probe; a probe in flight is abandoned.
            self.pending.remove(&id);
            self.remove_suspects.remove(&id);
            if self.remove_member(&id) {
                self.outputs.push_back(Output::MemberDisappeared(member));
            }
            return;
        }
        let known = self.members.contains_key(&id);
        if let Some(p) = self.pending.get_mut(&id) {
            // Joins the running probe when the member is up, or when it left the layer below while
            // its admission probe runs (not for a send failure to a member that is not up).
            if known || !self.below.contains_key(&id) {
                p.verify_disappearance = true;
            }
        } else if known {
            self.probe(member, true);
        }
        // Otherwise Tomcat logs "already disappeared" and does nothing.
    }

    /// `performBasicCheck`: add members below that we do not have yet (after a probe), and
    /// re-probe remove-suspects.
    fn basic_check(&mut self, now: Instant) {
        for member in self.sorted_below() {
            let id = member.id();
            if let Some(m) = self.members.get_mut(&id) {
                *m = member;
            } else {
                self.probe(member, false);
            }
        }
        self.sort();
        let mut suspects: Vec<(MemberId, Instant)> =
            self.remove_suspects.iter().map(|(id, since)| (id.clone(), *since)).collect();
        suspects.sort();
        for (id, since) in suspects {
            match self.members.get(&id) {
                Some(member) => {
                    let member = member.clone();
                    self.probe(member, false);
                }
                None => self.drop_suspicion_if_old(&id, since, now),
            }
        }
    }

    fn probe_finished(&mut self, id: MemberId, probe: ProbeId, alive: bool, now: Instant) {
        match self.pending.get(&id) {
            Some(p) if p.probe == probe => {}
            _ => return, // abandoned or unknown probe
        }
        let p = self.pending.remove(&id).expect("checked above");
        if alive {
            self.resolve_alive(p, now);
        } else {
            self.resolve_dead(p);
        }
    }

    fn resolve_dead(&mut self, p: Pending) {
        let id = p.member.id();
        if self.remove_member(&id) {
            self.remove_suspects.remove(&id);
            self.outputs.push_back(Output::MemberDisappeared(p.member));
        }
    }

    fn resolve_alive(&mut self, p: Pending, now: Instant) {
        let id = p.member.id();
        if !self.members.contains_key(&id) {
            self.members.insert(id.clone(), p.member.clone());
            self.order.push(id.clone());
            self.sort();
            self.outputs.push_back(Output::MemberAdded(p.member));
            if p.verify_disappearance {
                self.remove_suspects.insert(id, now);
            }
        } else if p.verify_disappearance {
            self.remove_suspects.insert(id, now);
        } else if let Some(since) = self.remove_suspects.get(&id).copied() {
            self.drop_suspicion_if_old(&id, since, now);
        }
    }

    fn drop_suspicion_if_old(&mut self, id: &MemberId, since: Instant, now: Instant) {
        let timeout = self.config.remove_suspects_timeout.as_secs();
        if timeout > 0 && now.saturating_duration_since(since).as_secs() > timeout {
            self.remove_suspects.remove(id);
        }
    }

    /// Starts a probe, or joins the one in flight.
    fn probe(&mut self, member: Member, verify_disappearance: bool) {
        let id = member.id();
        if let Some(p) = self.pending.get_mut(&id) {
            p.verify_disappearance |= verify_disappearance;
            p.member = member;
            return;
        }
        let probe = ProbeId(self.next_probe);
        self.next_probe += 1;
        let pending = Pending { probe, member: member.clone(), verify_disappearance };
        if member.is_shutdown() {
            // `memberAlive` answers false for a shutdown member without connecting.
            self.resolve_dead(pending);
            return;
        }
        self.pending.insert(id, pending);
        self.outputs.push_back(Output::Probe { probe, member });
    }

    fn remove_member(&mut self, id: &MemberId) -> bool {
        if self.members.remove(id).is_some() {
            self.order.retain(|o| o != id);
            true
        } else {
            false
        }
    }

    fn sorted_below(&self) -> Vec<Member> {
        let mut below: Vec<Member> = self.below.values().cloned().collect();
        below.sort_by_key(|m| (Reverse(m.alive), m.id()));
        below
    }

    fn sort(&mut self) {
        let members = &self.members;
        self.order.sort_by_key(|id| Reverse(members[id].alive));
    }
}

#[cfg(test)]
mod tests;
