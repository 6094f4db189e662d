//! The static-members service: the `tribes-proto` machine driven by a task that probes declared
//! members over TCP (TcpFailureDetector's `memberAlive` with its send test) and tells them when we
//! start and stop (StaticMembershipInterceptor's `MEMBER_START` / `MEMBER_STOP`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tribes_proto::failure_detector::FailureDetectorConfig;
use tribes_proto::static_members::{Output, StaticMembers};
use tribes_wire::{control, Member, MemberId, SendOptions};

use crate::channel::{message_id, now_ms};
use crate::membership::MembershipEvent;

/// TcpFailureDetector's `connectTimeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// A running static-members service.
pub struct StaticMembersService {
    events: broadcast::Sender<MembershipEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl StaticMembersService {
    /// Starts probing `members` every `interval`, as `local`. Must be called inside a runtime.
    pub fn start(local: Member, members: Vec<Member>, interval: Duration) -> StaticMembersService {
        let (events, _) = broadcast::channel(256);
        let (stop_tx, stop_rx) = oneshot::channel();
        let machine = StaticMembers::new(members, interval, std::time::Instant::now());
        let task = tokio::spawn(run(machine, local, events.clone(), stop_rx));
        StaticMembersService { events, stop: Some(stop_tx), task: Some(task) }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<MembershipEvent> {
        self.events.subscribe()
    }

    /// Tells the present members we stop (`MEMBER_STOP`) and ends the task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StaticMembersService {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(
    mut machine: StaticMembers,
    local: Member,
    events: broadcast::Sender<MembershipEvent>,
    mut stop: oneshot::Receiver<()>,
) {
    let (results_tx, mut results) = mpsc::channel::<(MemberId, bool)>(64);
    // StaticMembershipInterceptor.start: tell every declared member we are here.
    for m in machine.declared() {
        let (m, local) = (m.clone(), local.clone());
        tokio::spawn(async move { notify(&m, &local, control::MEMBER_START).await });
    }
    loop {
        let deadline = machine.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            Some((id, alive)) = results.recv() => machine.probe_finished(&id, alive),
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                machine.handle_timeout(std::time::Instant::now());
            }
            _ = &mut stop => {
                machine.stop();
                let present: Vec<Member> = machine.present().cloned().collect();
                for m in present {
                    notify(&m, &local, control::MEMBER_STOP).await;
                }
                return;
            }
        }
        while let Some(out) = machine.poll_output() {
            match out {
                Output::Probe(m) => {
                    let (tx, local) = (results_tx.clone(), local.clone());
                    tokio::spawn(async move {
                        let alive = crate::detector::probe(&m, &local, &FailureDetectorConfig::default()).await;
                        let _ = tx.send((m.id(), alive)).await;
                    });
                }
                Output::MemberAdded(m) => {
                    tracing::info!(member = %m.id(), "static member added");
                    let _ = events.send(MembershipEvent::Added(m));
                }
                Output::MemberDisappeared { member, shutdown } => {
                    tracing::info!(member = %member.id(), shutdown, "static member disappeared");
                    let reason = if shutdown {
                        tribes_proto::membership::DisappearReason::Shutdown
                    } else {
                        tribes_proto::membership::DisappearReason::Timeout
                    };
                    let _ = events.send(MembershipEvent::Disappeared { member, reason });
                }
            }
        }
    }
}

/// The member's receiver address, when its host is an IP address and its port fits.
pub(crate) fn address(m: &Member) -> Option<SocketAddr> {
    Some(SocketAddr::new(m.ip()?, u16::try_from(m.port).ok()?))
}

/// A StaticMembershipInterceptor notification (options = its optionFlag, 0 by default).
async fn notify(m: &Member, local: &Member, payload: &'static [u8]) {
    let Some(addr) = address(m) else { return };
    let frame = control::control_message(local.clone(), payload, SendOptions(0), message_id(), now_ms()).to_frame();
    if let Ok(Ok(mut s)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        let _ = s.write_all(&frame).await;
        let _ = s.shutdown().await;
    }
}
