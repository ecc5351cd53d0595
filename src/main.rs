//! The `wrangle` binary: parse the command line, run it, exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wrangle::cli::Cli::parse();
    ExitCode::from(wrangle::cli::run(cli))
}
