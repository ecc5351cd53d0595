//! The command line: parses arguments with clap and hands each verb to its module under `cli/`.
//!
//! This is the edge of the program: errors become messages and exit codes here (see
//! [`crate::exit`]).

pub mod detach;
pub mod project;
pub mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Run a project's services in dependency order, gated on readiness, and leave nothing behind.
#[derive(Debug, Parser)]
#[command(name = "wrangle", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// Use this config file instead of looking for wrangle.toml (or a Procfile) from the current
    /// directory upwards.
    #[arg(short = 'f', long = "file", global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start services (all, or the named ones and what they depend on) in the foreground;
    /// Ctrl+C stops everything.
    Up(up::UpArgs),
    /// Internal: the helper that stops a run's services if wrangle is killed.
    #[command(name = "__sentinel", hide = true)]
    Sentinel,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success (including a clean stop after Ctrl+C)
  1  a service failed (exited during start-up, or crash-looped)
  2  invalid usage or configuration
  3  a readiness probe did not pass in time
  4  pre-flight refused (another instance runs, or a port is held)";

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Up(args) => up::run(cli.file, args),
        Command::Sentinel => {
            crate::sys::sentinel::run(std::io::stdin().lock());
            crate::exit::SUCCESS
        }
    }
}
