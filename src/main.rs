//! The `wrangle` binary: parse the command line, run it, exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The sentinel is a process that mostly waits: it is chosen here, before the command line is
    // parsed or any runtime exists, so that it runs little more than its own loop (see
    // `wrangle::sys::sentinel`).
    let mut args = std::env::args_os();
    if args
        .nth(1)
        .is_some_and(|command| command == wrangle::sys::sentinel::COMMAND)
    {
        return ExitCode::from(wrangle::sys::sentinel::main(args));
    }
    let cli = wrangle::cli::Cli::parse();
    ExitCode::from(wrangle::cli::run(cli))
}
