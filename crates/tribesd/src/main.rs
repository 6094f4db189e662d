//! `tribesd`: a Tomcat Tribes cluster node and the operator's tools.
//!
//! - `run`: join a Tomcat cluster as a member (multicast membership and a receiver).
//! - `members`: listen to the membership group without joining it; a multicast doctor.
//! - `ping`: send acknowledged messages to a member and print round-trip times.
//! - `decode`: print every field of a captured Tribes frame stream or member packet.
//! - `sessions`, `session ...`: what the running local node holds, and changes by hand (control
//!   socket).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod config;
mod decode;
mod members;
mod ping;
mod run;
mod sessions;

#[derive(Debug, Parser)]
#[command(name = "tribesd", version, about = "A Tomcat Tribes cluster node and the operator's tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Join the cluster as a member, configured like Tomcat's <Cluster> (--server-xml and flags).
    Run(Box<run::RunArgs>),
    /// Listen to the membership group and list every member heard (does not join).
    Members(members::MembersArgs),
    /// Decode Tribes bytes (frames, a member packet or a bare ChannelData) and print every field.
    Decode(decode::DecodeArgs),
    /// Send acknowledged ByteMessages to a member's receiver and print round-trip times.
    Ping(ping::PingArgs),
    /// List the contexts and sessions the running local node holds (through its control socket).
    Sessions(sessions::SessionsArgs),
    /// Change a session on the running local node by hand; replicated like a request's changes.
    Session(sessions::SessionArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Members(args) => members::run(&args),
        Command::Decode(args) => decode::run(&args),
        Command::Ping(args) => ping::run(&args),
        Command::Sessions(args) => sessions::run_sessions(&args),
        Command::Session(args) => sessions::run_session(&args),
    }
}

/// Logs go to stderr; `RUST_LOG` filters them (info by default).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
