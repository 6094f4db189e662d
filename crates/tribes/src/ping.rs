//! TcpPingInterceptor as a ping sender (`group.interceptors.TcpPingInterceptor.sendPingMessage`):
//! for a stack with a TcpPingInterceptor and no TcpFailureDetector below it, every `interval` a
//! ping goes to every member, to keep the data connections alive and notice dead ones.
//!
//! Spec: `interceptors.md` §3. The message: ChannelData with options = the interceptor's
//! `optionFlag` (0 by default: no BYTE_MESSAGE, no ACK), payload `TCP_PING_DATA` (64 bytes), sent
//! through the pooled sender (below the channel's dispatcher, as the interceptor sends below
//! itself). A stock receiver with a TcpPingInterceptor drops it silently; our receiver drops it
//! too. With a TcpFailureDetector below the interceptor no ping is sent: the detector's forced
//! check runs instead (`tribes::node`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tribes_wire::control::TCP_PING_DATA;
use tribes_wire::{Member, SendOptions};

use crate::channel::{GroupChannel, Payload};

/// The members to ping, asked before each round (e.g. the membership's current list).
pub type MemberSource = Arc<dyn Fn() -> Vec<Member> + Send + Sync>;

/// Sends a ping to every member of `members()` every `interval` with options `option_flag`
/// (TcpPingInterceptor's `optionFlag`, 0 by default), until the task is aborted. Our own member
/// is skipped. A failed ping is logged (as stock does) and the next round goes on.
pub fn spawn_pinger(
    channel: Arc<GroupChannel>,
    interval: Duration,
    option_flag: SendOptions,
    members: MemberSource,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let local = channel.local().id();
            let mut to = members();
            to.retain(|m| m.id() != local);
            if to.is_empty() {
                continue;
            }
            if let Err(e) = ping(&channel, &to, option_flag).await {
                tracing::warn!(error = %e, "tcp ping failed");
            }
        }
    })
}

/// One ping to `members` (`TcpPingInterceptor.sendPingMessage`).
pub async fn ping(
    channel: &GroupChannel,
    members: &[Member],
    option_flag: SendOptions,
) -> Result<(), crate::sender::SendError> {
    // Built as the interceptor does, below GroupChannel: the options are the flag alone.
    let mut message = channel.message(&Payload::Serialized(Bytes::from_static(&TCP_PING_DATA)), option_flag);
    message.options = option_flag;
    channel.sender().send(message.to_frame(), option_flag, members).await.map(drop)
}
