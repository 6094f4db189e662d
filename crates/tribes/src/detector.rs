//! The failure-detector service: the `tribes-proto` [`TcpFailureDetector`] machine driven by a
//! task that sits between the membership service (below) and the application (above), as
//! Tomcat's `TcpFailureDetector` interceptor does.
//!
//! - Membership events from below ([`MembershipEvent`], e.g. from
//!   [`MembershipService::subscribe`](crate::membership::MembershipService::subscribe)) go into the
//!   machine; what the layers above should see comes out of [`FailureDetectorService::subscribe`].
//! - Every [`Output::Probe`] is performed as a spawned TCP probe ([`probe`]: connect within
//!   `connectTimeout`, write the `TCP_FAIL_DETECT` frame, close) whose verdict goes back into the
//!   machine.
//! - The channel heartbeat ([`HEARTBEAT_INTERVAL`], `GroupChannel.heartbeatSleeptime`) runs
//!   `performBasicCheck`.
//! - [`FailureDetectorService::report_send_failure`] is `TcpFailureDetector.sendMessage`'s catch:
//!   a member that could not be sent to (for another reason than a remote processing failure) is
//!   probed at once, and removed as soon as its port refuses, long before `dropTime`.
//!
//! Spec: `/work/shared/spec/interceptors.md` §1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tribes_proto::failure_detector::{FailureDetectorConfig, Input, Output, ProbeId, TcpFailureDetector};
use tribes_proto::membership::DisappearReason;
use tribes_wire::{control, Member, MemberId};

use crate::channel::{message_id, now_ms};
use crate::membership::MembershipEvent;
use crate::sender::SendError;

/// `GroupChannel.heartbeatSleeptime`: how often the detector runs its basic check.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

enum Command {
    /// A send to this member failed (not a remote processing failure).
    SendFailed(Member),
    /// The same, by id: resolved against the members the detector shows above.
    SendFailedId(MemberId),
    /// `checkMembers(true)` (TcpPingInterceptor).
    ForcedCheck,
}

/// A running failure-detector service. Dropping it stops the task.
/// Asks a [`FailureDetectorService`] for forced checks; does nothing once it stopped.
#[derive(Clone)]
pub struct CheckHandle(mpsc::UnboundedSender<Command>);

impl CheckHandle {
    /// See [`FailureDetectorService::forced_check`].
    pub fn forced_check(&self) {
        let _ = self.0.send(Command::ForcedCheck);
    }
}

pub struct FailureDetectorService {
    events: broadcast::Sender<MembershipEvent>,
    commands: mpsc::UnboundedSender<Command>,
    members: Arc<Mutex<Vec<Member>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FailureDetectorService {
    /// Starts the detector for the node `local`, fed by `below` (the membership service's events),
    /// with the channel heartbeat every [`HEARTBEAT_INTERVAL`]. Must be called inside a runtime.
    pub fn start(
        local: Member,
        config: FailureDetectorConfig,
        below: broadcast::Receiver<MembershipEvent>,
    ) -> FailureDetectorService {
        Self::start_with_heartbeat(local, config, below, HEARTBEAT_INTERVAL)
    }

    /// [`FailureDetectorService::start`] with another heartbeat interval.
    pub fn start_with_heartbeat(
        local: Member,
        config: FailureDetectorConfig,
        below: broadcast::Receiver<MembershipEvent>,
        heartbeat: Duration,
    ) -> FailureDetectorService {
        let (events, _) = broadcast::channel(1024);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let members = Arc::new(Mutex::new(Vec::new()));
        let (probes_tx, probes_rx) = mpsc::unbounded_channel();
        let runner = Runner {
            machine: TcpFailureDetector::new(local.id(), config.clone()),
            config: Arc::new(config),
            local,
            events: events.clone(),
            members: members.clone(),
            probes_tx,
        };
        let task = tokio::spawn(runner.run(below, commands_rx, probes_rx, stop_rx, heartbeat));
        FailureDetectorService { events, commands, members, stop: Some(stop_tx), task: Some(task) }
    }

    /// The membership events for the layers above: `Added` once a member answered a probe,
    /// `Disappeared` once it is verified gone (or sent its shutdown heartbeat), and `Updated` for
    /// members already shown above.
    pub fn subscribe(&self) -> broadcast::Receiver<MembershipEvent> {
        self.events.subscribe()
    }

    /// The members the layers above see, longest-running first.
    pub fn members(&self) -> Vec<Member> {
        self.members.lock().expect("members lock").clone()
    }

    /// Sending to `member` failed with a cause that is not a remote processing failure
    /// ([`FailureCause::is_remote_process_failure`](crate::sender::FailureCause::is_remote_process_failure)
    /// is false): probe it now; if the probe fails it is removed at once.
    pub fn report_send_failure(&self, member: Member) {
        let _ = self.commands.send(Command::SendFailed(member));
    }

    /// [`report_send_failure`](Self::report_send_failure) for every faulty member of `error` whose
    /// cause is not a remote processing failure (`TcpFailureDetector.sendMessage`). Members the
    /// detector does not show above are ignored.
    pub fn report_send_error(&self, error: &SendError) {
        for f in error.faulty.iter().filter(|f| !f.cause.is_remote_process_failure()) {
            let _ = self.commands.send(Command::SendFailedId(f.member.clone()));
        }
    }

    /// A forced check (`checkMembers(true)`): probe every member the layer below reports.
    pub fn forced_check(&self) {
        let _ = self.commands.send(Command::ForcedCheck);
    }

    /// A handle that asks for forced checks from another task (TcpPingInterceptor's timer).
    pub fn check_handle(&self) -> CheckHandle {
        CheckHandle(self.commands.clone())
    }

    /// Ends the task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FailureDetectorService {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Runner {
    machine: TcpFailureDetector,
    config: Arc<FailureDetectorConfig>,
    local: Member,
    events: broadcast::Sender<MembershipEvent>,
    members: Arc<Mutex<Vec<Member>>>,
    probes_tx: mpsc::UnboundedSender<(MemberId, ProbeId, bool)>,
}

impl Runner {
    async fn run(
        mut self,
        mut below: broadcast::Receiver<MembershipEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut probes: mpsc::UnboundedReceiver<(MemberId, ProbeId, bool)>,
        mut stop: oneshot::Receiver<()>,
        heartbeat: Duration,
    ) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut below_open = true;
        loop {
            tokio::select! {
                e = below.recv(), if below_open => match e {
                    Ok(event) => self.handle_below(event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Lost events: the next heartbeat adds members we missed; missed
                        // disappearances are caught when sends to them fail.
                        tracing::warn!(missed = n, "failure detector lagged behind the membership events");
                    }
                    Err(broadcast::error::RecvError::Closed) => below_open = false,
                },
                Some(c) = commands.recv() => match c {
                    Command::SendFailed(member) => self.machine.handle_input(Input::SendFailed { member }),
                    Command::SendFailedId(id) => {
                        let member = self.machine.members().find(|m| m.id() == id).cloned();
                        if let Some(member) = member {
                            self.machine.handle_input(Input::SendFailed { member });
                        }
                    }
                    Command::ForcedCheck => self.machine.handle_input(Input::ForcedCheck(std::time::Instant::now())),
                },
                Some((member, probe, alive)) = probes.recv() => {
                    tracing::debug!(member = %member, alive, "failure detector probe finished");
                    let now = std::time::Instant::now();
                    self.machine.handle_input(Input::ProbeFinished { member, probe, alive, now });
                }
                _ = ticks.tick() => self.machine.handle_input(Input::Heartbeat(std::time::Instant::now())),
                _ = &mut stop => return,
            }
            self.drain();
        }
    }

    fn handle_below(&mut self, event: MembershipEvent) {
        match event {
            MembershipEvent::Added(member) => self.machine.handle_input(Input::MemberAdded { member }),
            MembershipEvent::Updated(member) => {
                let id = member.id();
                self.machine.handle_input(Input::MemberUpdated { member: member.clone() });
                if self.machine.members().any(|m| m.id() == id) {
                    let _ = self.events.send(MembershipEvent::Updated(member));
                }
            }
            MembershipEvent::Disappeared { member, .. } => {
                self.machine.handle_input(Input::MemberDisappeared { member })
            }
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.machine.poll_output() {
            match out {
                Output::Probe { probe: id, member } => {
                    tracing::debug!(member = %member.id(), "failure detector probing");
                    let (tx, local, config) = (self.probes_tx.clone(), self.local.clone(), self.config.clone());
                    tokio::spawn(async move {
                        let alive = probe(&member, &local, &config).await;
                        let _ = tx.send((member.id(), id, alive));
                    });
                }
                Output::MemberAdded(m) => {
                    tracing::debug!(member = %m.id(), "failure detector: member added");
                    let _ = self.events.send(MembershipEvent::Added(m));
                }
                Output::MemberDisappeared(member) => {
                    let reason =
                        if member.is_shutdown() { DisappearReason::Shutdown } else { DisappearReason::Timeout };
                    tracing::debug!(member = %member.id(), ?reason, "failure detector: member disappeared");
                    let _ = self.events.send(MembershipEvent::Disappeared { member, reason });
                }
            }
        }
        *self.members.lock().expect("members lock") = self.machine.members().cloned().collect();
    }
}

/// TcpFailureDetector's `memberAlive`: a shutdown member is dead without a probe; otherwise
/// connect within `connectTimeout` (refused, unreachable, timed out: dead) and, with the send
/// test, write one `TCP_FAIL_DETECT` frame (`BYTE_MESSAGE`, plus `USE_ACK` and a one-byte read
/// within `readTestTimeout` with the read test), then close.
pub(crate) async fn probe(member: &Member, local: &Member, config: &FailureDetectorConfig) -> bool {
    if member.is_shutdown() {
        return false;
    }
    let Some(addr) = crate::static_members::address(member) else {
        return false;
    };
    let mut stream = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "failure detector probe: connect failed");
            return false;
        }
        Err(_) => {
            tracing::debug!(%addr, "failure detector probe: connect timed out");
            return false;
        }
    };
    if !config.perform_send_test {
        let _ = stream.shutdown().await;
        return true;
    }
    let frame = control::failure_detector_probe(local.clone(), message_id(), now_ms(), config.perform_read_test);
    if let Err(e) = stream.write_all(&frame.to_frame()).await {
        tracing::warn!(%addr, error = %e, "failure detector probe: sending the probe failed");
        return false;
    }
    let alive = if config.perform_read_test {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(config.read_test_timeout, stream.read(&mut byte)).await {
            Ok(Ok(n)) => n > 0,
            Ok(Err(e)) => {
                tracing::warn!(%addr, error = %e, "failure detector probe: read test failed");
                false
            }
            Err(_) => false,
        }
    } else {
        true
    };
    let _ = stream.shutdown().await;
    alive
}
