//! The multicast membership service: heartbeats out, member list in.
//!
//! Spec: `org.apache.catalina.tribes.membership.McastService` (attributes and defaults),
//! `McastServiceImpl` (`send`, `receive`, `memberDataReceived`, `checkExpired`, `stop`) and
//! `Membership` (`memberAlive`, `expire`, the alive-time order). The behaviour is the same on
//! Tomcat 9.0, 10.1 and 11.0.
//!
//! One [`Membership`] is one started service level pair (receiver and sender). The runtime owns
//! the multicast socket and the clock and does, in a loop:
//!
//! ```text
//! select! {
//!     datagram = socket.recv_from() => membership.handle_datagram(now, &datagram, from),
//!     _ = sleep_until(membership.poll_timeout()) => membership.handle_timeout(now),
//! }
//! while let Some(out) = membership.poll_output() { /* send, notify, log */ }
//! ```
//!
//! # Time
//!
//! Inputs carry a [`std::time::Instant`]. Tomcat's clock is `System.currentTimeMillis()`, so every
//! comparison here is made on whole milliseconds: a member is gone when the whole milliseconds
//! since we last heard it are strictly more than `dropTime` (`Membership.MbrEntry.hasExpired`),
//! and a heartbeat's `alive` is the whole milliseconds since the start instant. An input whose
//! instant is earlier than one already seen is treated as happening at the latest instant seen,
//! so the machine's clock never goes backwards.

use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tribes_wire::member::{MAX_HOST_LEN, MBR_BEGIN, SHUTDOWN_PAYLOAD};
use tribes_wire::{DecodeError, Member, MemberId};

/// `McastServiceImpl.MAX_PACKET_SIZE`: the largest heartbeat datagram Tomcat sends or reads.
pub const MAX_PACKET_SIZE: usize = 65535;

/// The `<Membership className="org.apache.catalina.tribes.membership.McastService">` attributes,
/// with Tomcat's defaults (`McastConfig::default()`).
///
/// The socket fields (`address`, `port`, `bind`, `ttl`, `so_timeout`, `local_loopback_disabled`)
/// and the recovery fields are for the runtime; the machine uses `frequency`, `drop_time`,
/// `domain`, `payload` and `domain_filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McastConfig {
    /// `address`: the multicast group.
    pub address: IpAddr,
    /// `port`: the group's UDP port.
    pub port: u16,
    /// `frequency`: time between two heartbeats. Tomcat counts whole milliseconds; so do we.
    pub frequency: Duration,
    /// `dropTime`: a member not heard for strictly more than this (whole ms) disappears.
    pub drop_time: Duration,
    /// `bind`: the local interface address for the multicast socket; the OS picks one when unset.
    pub bind: Option<IpAddr>,
    /// `ttl`: the multicast TTL; the OS default when unset (Tomcat's `-1`).
    pub ttl: Option<u32>,
    /// `soTimeout`: receive timeout of the socket; unset or zero means `frequency`
    /// ([`McastConfig::effective_so_timeout`]). A tokio runtime does not need it.
    pub so_timeout: Option<Duration>,
    /// `domain`: the cluster domain bytes put in every heartbeat ([`parse_domain`] reads the
    /// attribute's string form). Tomcat's McastService does not filter on it.
    pub domain: Bytes,
    /// The application payload put in every heartbeat (`McastService.setPayload`), empty by default.
    pub payload: Bytes,
    /// `localLoopbackDisabled`: when true, clear IP_MULTICAST_LOOP.
    pub local_loopback_disabled: bool,
    /// `recoveryEnabled`: restart the socket after `recovery_counter` consecutive errors.
    pub recovery_enabled: bool,
    /// `recoveryCounter`.
    pub recovery_counter: u32,
    /// `recoverySleepTime`: pause between recovery attempts.
    pub recovery_sleep_time: Duration,
    /// Not a McastService attribute: admit only members whose domain equals ours, as a
    /// `DomainFilterInterceptor` configured with the same domain would. Members of other domains
    /// are still recorded ([`Membership::foreign_domain_members`]) but never reported as added.
    /// Default false, as in stock Tomcat.
    pub domain_filter: bool,
}

impl Default for McastConfig {
    fn default() -> Self {
        McastConfig {
            address: IpAddr::V4(Ipv4Addr::new(228, 0, 0, 4)),
            port: 45564,
            frequency: Duration::from_millis(500),
            drop_time: Duration::from_millis(3000),
            bind: None,
            ttl: None,
            so_timeout: None,
            domain: Bytes::new(),
            payload: Bytes::new(),
            local_loopback_disabled: false,
            recovery_enabled: true,
            recovery_counter: 10,
            recovery_sleep_time: Duration::from_millis(5000),
            domain_filter: false,
        }
    }
}

impl McastConfig {
    /// The socket receive timeout Tomcat uses: `soTimeout` when positive, else `frequency`.
    pub fn effective_so_timeout(&self) -> Duration {
        self.so_timeout.filter(|t| !t.is_zero()).unwrap_or(self.frequency)
    }

    /// Sets `domain` from the attribute's string form (see [`parse_domain`]).
    pub fn set_domain_str(&mut self, value: &str) -> Result<(), ParseBytesError> {
        self.domain = parse_domain(value)?;
        Ok(())
    }
}

/// Why a `domain` (or other byte-valued) attribute string cannot be turned into bytes. Nothing
/// was changed; fix the configuration value.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseBytesError {
    /// A byte-list value has an element that `Byte.parseByte` refuses.
    #[error(
        "{value:?}: {token:?} is not a byte (write signed decimals from -128 to 127 separated by \
         commas, without spaces, as Tomcat's Byte.parseByte does)"
    )]
    BadByte { value: String, token: String },
    /// The value was expected to be a `{...}` byte list.
    #[error("{value:?} is not a byte list (it must start with '{{', like {{1,2,-3}})")]
    NotAList { value: String },
    /// A text value has a character that ISO-8859-1 cannot encode. Tomcat would silently send it
    /// as `?` (0x3f); we refuse so that the domain is never different from what was written.
    #[error(
        "{value:?} has {ch:?}, which ISO-8859-1 cannot encode (Tomcat would send '?' for it); \
         write the bytes as a {{...}} list instead"
    )]
    NotLatin1 { value: String, ch: char },
}

/// Tomcat's reading of a `domain` attribute (`McastService.setDomain(String)`): a value starting
/// with `{` is a byte list (`Arrays.fromString`), anything else is its ISO-8859-1 bytes
/// (`Arrays.convert`).
pub fn parse_domain(value: &str) -> Result<Bytes, ParseBytesError> {
    if value.starts_with('{') {
        return parse_byte_list(value).map(Bytes::from);
    }
    value
        .chars()
        .map(|ch| u8::try_from(u32::from(ch)).map_err(|_| ParseBytesError::NotLatin1 { value: value.to_string(), ch }))
        .collect::<Result<Vec<u8>, _>>()
        .map(Bytes::from)
}

/// Tomcat's byte-list syntax (`tribes.util.Arrays.fromString`): the value must start with `{`;
/// it is split on `{`, `,` and `}` with empty pieces skipped (so `{}` is empty and `{1,,2` is
/// `[1, 2]`, as in Tomcat), and each piece is a signed decimal byte (`Byte.parseByte`: optional
/// `+` or `-`, no spaces, -128 to 127).
pub fn parse_byte_list(value: &str) -> Result<Vec<u8>, ParseBytesError> {
    if !value.starts_with('{') {
        return Err(ParseBytesError::NotAList { value: value.to_string() });
    }
    value
        .split(['{', ',', '}'])
        .filter(|token| !token.is_empty())
        .map(|token| {
            token
                .parse::<i8>()
                .map(|b| b as u8)
                .map_err(|_| ParseBytesError::BadByte { value: value.to_string(), token: token.to_string() })
        })
        .collect()
}

/// Why the local member cannot be advertised. Nothing was changed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The heartbeat would not fit one datagram (`memberImpl.large.payload`); shrink the payload.
    #[error("the heartbeat would be {len} bytes, over the {MAX_PACKET_SIZE} byte datagram limit")]
    PacketTooLarge { len: usize },
    /// The local host address is longer than a member packet can carry.
    #[error("the local host is {len} bytes long, over the {MAX_HOST_LEN} byte limit")]
    HostTooLong { len: usize },
    /// `frequency` is under one millisecond: the heartbeat timer would never advance.
    #[error("the heartbeat frequency must be at least 1 ms")]
    ZeroFrequency,
}

/// Why a member left the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisappearReason {
    /// Not heard from for more than `dropTime` (`McastServiceImpl.checkExpired`).
    Timeout,
    /// It sent a heartbeat whose command is `BABY-ALEX` (`Member.SHUTDOWN_PAYLOAD`).
    Shutdown,
}

/// What the machine asks the runtime to do or to tell, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes (one member packet) to `address:port`.
    SendHeartbeat(Bytes),
    /// A member was heard for the first time (`MembershipListener.memberAdded`). Tomcat passes it
    /// up to the failure detector, which probes it before the application sees it.
    MemberAdded(Member),
    /// A known member's alive time went down (it restarted its clock under the same unique id)
    /// or its payload changed. Tomcat has no such event; it only re-sorts the list. The
    /// member carries Tomcat's stored view: the fields of its first packet with `alive`,
    /// `payload` and `command` from the latest one.
    MemberUpdated(Member),
    /// A member left (`MembershipListener.memberDisappeared`). For [`DisappearReason::Shutdown`]
    /// this is the shutdown packet's member, whose command is `BABY-ALEX`, as Tomcat passes it
    /// (TcpFailureDetector skips its probe for exactly that reason); for
    /// [`DisappearReason::Timeout`] it is the stored member.
    MemberDisappeared { member: Member, reason: DisappearReason },
    /// A datagram started with `TRIBES-B` but is not a valid member packet. It was dropped and
    /// counted (Tomcat logs these at debug level).
    Malformed { from: SocketAddr, error: DecodeError },
    /// A datagram that does not start with `TRIBES-B`: zero or more `FLT2002` frames sent with
    /// `SEND_OPTIONS_MULTICAST` (`McastServiceImpl.memberBroadcastsReceived`). Passed on
    /// untouched; frames whose address is the local member are to be skipped by the consumer.
    DataFrames { from: SocketAddr, bytes: Bytes },
}

/// Counters since the machine was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MembershipStats {
    /// Datagrams given to [`Membership::handle_datagram`] before [`Membership::stop`].
    pub datagrams: u64,
    /// Valid member packets from other members, shutdowns included.
    pub member_packets: u64,
    /// Member packets with the `BABY-ALEX` command.
    pub shutdown_packets: u64,
    /// Our own packets (multicast loopback), ignored.
    pub own_packets: u64,
    /// Member packets whose domain differs from ours (admitted or not).
    pub foreign_domain_packets: u64,
    /// Datagrams that started with `TRIBES-B` but did not decode.
    pub malformed: u64,
    /// Datagrams passed on as [`Output::DataFrames`].
    pub data_datagrams: u64,
    /// Heartbeats we emitted, the shutdown heartbeat included.
    pub heartbeats_sent: u64,
    pub members_added: u64,
    pub members_timed_out: u64,
    pub members_shut_down: u64,
}

/// What we know about one remote member, for `tribesd members` and the doctor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Tomcat's stored view of the member: fields of its first packet, with `alive`, `payload`
    /// and `command` from the latest packet whose alive time differed.
    pub member: Member,
    /// False when `domain_filter` kept it out of the member list.
    pub admitted: bool,
    /// Whether its domain equals ours.
    pub domain_matches: bool,
    /// When its first packet (of this appearance) arrived.
    pub first_heard: Instant,
    /// When its latest packet arrived (`MbrEntry.lastHeardFrom`).
    pub last_heard: Instant,
    /// Source address of its latest datagram; differs from `member.host` behind NAT or when a node
    /// advertises the wrong interface.
    pub last_from: SocketAddr,
    /// Packets received during this appearance.
    pub packets: u64,
    /// Gap between its two latest packets.
    pub last_interval: Option<Duration>,
    /// Smoothed gap between its packets (EWMA, weight 1/8 for the newest gap, as TCP's SRTT).
    /// Should be close to its `frequency`.
    pub mean_interval: Option<Duration>,
    /// The first instant at which it counts as gone unless heard again.
    pub expires_at: Instant,
}

#[derive(Debug, Clone)]
struct Entry {
    member: Member,
    admitted: bool,
    first_heard: Instant,
    last_heard: Instant,
    last_from: SocketAddr,
    packets: u64,
    last_interval: Option<Duration>,
    mean_interval: Option<Duration>,
}

impl Entry {
    fn heard(&mut self, now: Instant, from: SocketAddr) {
        let gap = now.saturating_duration_since(self.last_heard);
        self.last_interval = Some(gap);
        self.mean_interval = Some(match self.mean_interval {
            None => gap,
            Some(mean) => mean * 7 / 8 + gap / 8,
        });
        self.last_heard = now;
        self.last_from = from;
        self.packets += 1;
    }
}

/// The multicast membership machine: `McastServiceImpl` with its `Membership`.
///
/// Create it when the service starts (it queues the first heartbeat at once, as
/// `McastServiceImpl.start` does), feed it every datagram and every timeout, drain
/// [`Membership::poll_output`] after each call, and call [`Membership::stop`] on orderly shutdown.
#[derive(Debug)]
pub struct Membership {
    config: McastConfig,
    /// The advertised member; its `alive` is rewritten for every heartbeat.
    local: Member,
    local_id: MemberId,
    start: Instant,
    /// Latest instant seen.
    now: Instant,
    /// None once stopped.
    next_heartbeat: Option<Instant>,
    entries: HashMap<MemberId, Entry>,
    /// Admitted members, alive time descending; ties keep their earlier order (Java's stable sort).
    order: Vec<MemberId>,
    outputs: VecDeque<Output>,
    stats: MembershipStats,
}

impl Membership {
    /// Starts the service at `now` and queues the first heartbeat (alive 0).
    ///
    /// `local` gives host, port, secure and UDP ports and unique id (from the receiver and a
    /// SecureRandom id, chosen by the caller). Its `alive` and `command` are ignored, and its
    /// `domain` and `payload` are replaced by the config's: the config is the source of truth, as
    /// McastService copies its own domain and payload into the local member at start.
    pub fn new(local: Member, config: McastConfig, now: Instant) -> Result<Self, MembershipError> {
        if config.frequency < Duration::from_millis(1) {
            return Err(MembershipError::ZeroFrequency);
        }
        let local = Member {
            alive: 0,
            command: Bytes::new(),
            domain: config.domain.clone(),
            payload: config.payload.clone(),
            ..local
        };
        check_packet(&local)?;
        let mut machine = Membership {
            local_id: local.id(),
            local,
            config,
            start: now,
            now,
            next_heartbeat: None,
            entries: HashMap::new(),
            order: Vec::new(),
            outputs: VecDeque::new(),
            stats: MembershipStats::default(),
        };
        machine.send_heartbeat(now);
        machine.next_heartbeat = Some(now + machine.config.frequency);
        Ok(machine)
    }

    /// A datagram read from the multicast socket.
    ///
    /// `TRIBES-B` packets update the member list (our own are ignored, undecodable ones become
    /// [`Output::Malformed`]); anything else becomes [`Output::DataFrames`]. Then members due
    /// expire, as Tomcat checks after every receive. Ignored after [`Membership::stop`].
    pub fn handle_datagram(&mut self, now: Instant, datagram: &Bytes, from: SocketAddr) {
        if self.is_stopped() {
            return;
        }
        let now = self.advance(now);
        self.stats.datagrams += 1;
        if !datagram.starts_with(&MBR_BEGIN) {
            self.stats.data_datagrams += 1;
            self.outputs.push_back(Output::DataFrames { from, bytes: datagram.clone() });
        } else {
            match Member::decode(datagram) {
                Ok(member) => self.member_packet(now, member, from),
                Err(error) => {
                    self.stats.malformed += 1;
                    self.outputs.push_back(Output::Malformed { from, error });
                }
            }
        }
        self.expire(now);
    }

    /// The deadline from [`Membership::poll_timeout`] passed (calling it early or late is fine):
    /// sends the heartbeat when due and expires silent members.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_stopped() {
            return;
        }
        let now = self.advance(now);
        if let Some(due) = self.next_heartbeat {
            if now >= due {
                self.send_heartbeat(now);
                // A fixed rate; after a stall, one heartbeat and a fresh period rather than a burst.
                let mut next = due + self.config.frequency;
                if next <= now {
                    next = now + self.config.frequency;
                }
                self.next_heartbeat = Some(next);
            }
        }
        self.expire(now);
    }

    /// Stops the service (`McastServiceImpl.stop` of the last level): queues the shutdown
    /// heartbeat, our packet with the command `BABY-ALEX`. Later inputs are ignored. Members are
    /// not reported as disappeared, as in Tomcat.
    pub fn stop(&mut self, now: Instant) {
        if self.is_stopped() {
            return;
        }
        let now = self.advance(now);
        self.local.command = Bytes::from_static(&SHUTDOWN_PAYLOAD);
        self.send_heartbeat(now);
        self.next_heartbeat = None;
    }

    /// Changes the advertised payload and sends a heartbeat at once (`McastService.setPayload`).
    /// The periodic schedule is not moved.
    pub fn set_payload(&mut self, now: Instant, payload: Bytes) -> Result<(), MembershipError> {
        let candidate = Member { payload: payload.clone(), ..self.local.clone() };
        check_packet(&candidate)?;
        self.config.payload = payload.clone();
        self.local.payload = payload;
        self.send_now(now);
        Ok(())
    }

    /// Changes the advertised domain and sends a heartbeat at once (`McastService.setDomain`).
    /// With `domain_filter`, members already admitted stay (as with DomainFilterInterceptor);
    /// newcomers are judged against the new domain.
    pub fn set_domain(&mut self, now: Instant, domain: Bytes) -> Result<(), MembershipError> {
        let candidate = Member { domain: domain.clone(), ..self.local.clone() };
        check_packet(&candidate)?;
        self.config.domain = domain.clone();
        self.local.domain = domain;
        self.send_now(now);
        Ok(())
    }

    /// The next output, in the order the machine produced them.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`Membership::handle_timeout`]: the next heartbeat or the first instant a
    /// member expires, whichever is earlier. None once stopped.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let heartbeat = self.next_heartbeat?;
        let expiry = self.entries.values().map(|e| self.expires_at(e)).min();
        Some(expiry.map_or(heartbeat, |e| e.min(heartbeat)))
    }

    /// Whether [`Membership::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.next_heartbeat.is_none()
    }

    /// The members, longest-running first (`Membership.getMembers`).
    pub fn members(&self) -> impl ExactSizeIterator<Item = &Member> + '_ {
        self.order.iter().map(|id| &self.entries[id].member)
    }

    /// The member with the largest alive time: the one stock nodes ask for session state.
    pub fn oldest(&self) -> Option<&Member> {
        self.members().next()
    }

    /// The stored member equal to `id` (`Membership.getMember`), if admitted.
    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.entries.get(id).filter(|e| e.admitted).map(|e| &e.member)
    }

    /// Observation data of the admitted members, in [`Membership::members`] order.
    pub fn member_views(&self) -> Vec<MemberView> {
        self.order.iter().map(|id| self.view(&self.entries[id])).collect()
    }

    /// Observation data of one member heard from, admitted or not.
    pub fn member_view(&self, id: &MemberId) -> Option<MemberView> {
        self.entries.get(id).map(|e| self.view(e))
    }

    /// Members currently heard whose domain differs from ours, admitted or not (with
    /// `domain_filter` off they are in [`Membership::members`] too): what a doctor reports as a
    /// domain mismatch. Sorted by id.
    pub fn foreign_domain_members(&self) -> Vec<MemberView> {
        let mut views: Vec<MemberView> =
            self.entries.values().filter(|e| e.member.domain != self.local.domain).map(|e| self.view(e)).collect();
        views.sort_by_key(|v| v.member.id());
        views
    }

    /// The local member as `getLocalMember(true)` returns it: alive time refreshed to `now`.
    pub fn local_member(&self, now: Instant) -> Member {
        Member { alive: self.alive_at(now), ..self.local.clone() }
    }

    pub fn local_id(&self) -> &MemberId {
        &self.local_id
    }

    /// The instant the service started (alive 0).
    pub fn start_time(&self) -> Instant {
        self.start
    }

    pub fn config(&self) -> &McastConfig {
        &self.config
    }

    pub fn stats(&self) -> MembershipStats {
        self.stats
    }

    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    fn alive_at(&self, now: Instant) -> i64 {
        i64::try_from(now.saturating_duration_since(self.start).as_millis()).unwrap_or(i64::MAX)
    }

    fn send_now(&mut self, now: Instant) {
        if !self.is_stopped() {
            let now = self.advance(now);
            self.send_heartbeat(now);
        }
    }

    fn send_heartbeat(&mut self, now: Instant) {
        self.local.alive = self.alive_at(now);
        self.stats.heartbeats_sent += 1;
        self.outputs.push_back(Output::SendHeartbeat(self.local.to_bytes()));
    }

    /// `McastServiceImpl.memberDataReceived` and `Membership.memberAlive`.
    fn member_packet(&mut self, now: Instant, member: Member, from: SocketAddr) {
        let id = member.id();
        if id == self.local_id {
            self.stats.own_packets += 1;
            return;
        }
        self.stats.member_packets += 1;
        if member.is_shutdown() {
            self.stats.shutdown_packets += 1;
            if let Some(entry) = self.entries.remove(&id) {
                if entry.admitted {
                    self.order.retain(|o| *o != id);
                    self.stats.members_shut_down += 1;
                    self.outputs.push_back(Output::MemberDisappeared { member, reason: DisappearReason::Shutdown });
                }
            }
            return;
        }
        let domain_matches = member.domain == self.local.domain;
        if !domain_matches {
            self.stats.foreign_domain_packets += 1;
        }
        match self.entries.get_mut(&id) {
            None => {
                let admitted = domain_matches || !self.config.domain_filter;
                self.entries.insert(
                    id.clone(),
                    Entry {
                        member: member.clone(),
                        admitted,
                        first_heard: now,
                        last_heard: now,
                        last_from: from,
                        packets: 1,
                        last_interval: None,
                        mean_interval: None,
                    },
                );
                if admitted {
                    self.order.push(id);
                    self.sort();
                    self.stats.members_added += 1;
                    self.outputs.push_back(Output::MemberAdded(member));
                }
            }
            Some(entry) => {
                entry.heard(now, from);
                let stored = &mut entry.member;
                if stored.alive != member.alive {
                    let restarted = member.alive < stored.alive;
                    let payload_changed = stored.payload != member.payload;
                    stored.alive = member.alive;
                    stored.payload = member.payload;
                    stored.command = member.command;
                    if entry.admitted {
                        let updated = entry.member.clone();
                        self.sort();
                        if restarted || payload_changed {
                            self.outputs.push_back(Output::MemberUpdated(updated));
                        }
                    }
                }
            }
        }
    }

    /// `Membership.expire(dropTime)` and `McastServiceImpl.checkExpired`.
    fn expire(&mut self, now: Instant) {
        let drop_ms = self.config.drop_time.as_millis();
        let mut gone: Vec<(Instant, MemberId)> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_heard).as_millis() > drop_ms)
            .map(|(id, e)| (e.last_heard, id.clone()))
            .collect();
        gone.sort();
        for (_, id) in gone {
            let entry = self.entries.remove(&id).expect("expired member is in the map");
            if entry.admitted {
                self.order.retain(|o| *o != id);
                self.stats.members_timed_out += 1;
                self.outputs
                    .push_back(Output::MemberDisappeared { member: entry.member, reason: DisappearReason::Timeout });
            }
        }
    }

    /// First instant at which `whole ms since last heard > drop_time ms`.
    fn expires_at(&self, entry: &Entry) -> Instant {
        let drop_ms = u64::try_from(self.config.drop_time.as_millis()).unwrap_or(u64::MAX / 2);
        entry.last_heard + Duration::from_millis(drop_ms + 1)
    }

    fn sort(&mut self) {
        let entries = &self.entries;
        self.order.sort_by_key(|id| Reverse(entries[id].member.alive));
    }

    fn view(&self, e: &Entry) -> MemberView {
        MemberView {
            member: e.member.clone(),
            admitted: e.admitted,
            domain_matches: e.member.domain == self.local.domain,
            first_heard: e.first_heard,
            last_heard: e.last_heard,
            last_from: e.last_from,
            packets: e.packets,
            last_interval: e.last_interval,
            mean_interval: e.mean_interval,
            expires_at: self.expires_at(e),
        }
    }
}

fn check_packet(member: &Member) -> Result<(), MembershipError> {
    if member.host.len() > MAX_HOST_LEN {
        return Err(MembershipError::HostTooLong { len: member.host.len() });
    }
    // The shutdown heartbeat is the longest one we send.
    let len = member.encoded_len() + if member.is_shutdown() { 0 } else { SHUTDOWN_PAYLOAD.len() };
    if len > MAX_PACKET_SIZE {
        return Err(MembershipError::PacketTooLarge { len });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
