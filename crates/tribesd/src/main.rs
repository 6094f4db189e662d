//! `tribesd`: a Tomcat Tribes cluster node and the operator's tools.
//!
//! Today it has one subcommand, `decode`, which prints every field of a captured Tribes frame
//! stream or member packet. `run`, `members`, `sessions` and `stats` come later.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod decode;

#[derive(Debug, Parser)]
#[command(name = "tribesd", version, about = "A Tomcat Tribes cluster node and the operator's tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode Tribes bytes (frames, a member packet or a bare ChannelData) and print every field.
    Decode(decode::DecodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
    }
}
