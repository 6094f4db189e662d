//! `tribesd run`: join the group as a member (heartbeats, a receiver that answers probes and
//! ACKs), replicate the held contexts' sessions as DeltaManager does (data messages go through a
//! GroupChannel to the session service; SYNC ACKs leave after processing), and leave gracefully
//! on SIGINT or SIGTERM with the shutdown heartbeat. The node itself is `tribes::node::Node`,
//! shared with the Java bridge.

use std::process::ExitCode;

use clap::Args;
use tribes::node::{Node, NodeError, NodeOptions, MEMBER_WAIT};

use crate::config::{ClusterArgs, SessionArgs};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub sessions: SessionArgs,
    /// Where local tools (`tribesd sessions`, `tribesd session ...`) reach this node.
    #[command(flatten)]
    pub socket: crate::sessions::SocketArg,
}

pub fn run(args: &RunArgs) -> ExitCode {
    let mut settings = match args.cluster.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = args.sessions.apply(&mut settings.sessions) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    for hint in crate::config::context_name_hints(&settings.sessions) {
        tracing::warn!("{hint}");
    }
    if let Err(e) = settings.sessions.manager_config() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    settings.log_start_notes();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        let options = NodeOptions { control_socket: Some(args.socket.path()), member_wait: MEMBER_WAIT };
        let node = match Node::start(settings, options).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: {e}");
                if let NodeError::Membership { hint: Some(h), .. } = &e {
                    eprintln!("hint: {h}");
                }
                return ExitCode::from(1);
            }
        };
        wait_for_signal().await;
        node.stop().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
