//! `wrangle up`: load the project, refuse early when it cannot run, then run it in the
//! foreground until Ctrl+C (or until every service has ended) and prove that nothing is left,
//! answering other terminals' `ps`, `logs`, `restart`, `down`... on the project's control socket
//! like a daemon (see `daemon::foreground`); or, with `-d`, hand it to a daemon (see
//! `cli::detach`).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::cli::{self, detach};
use crate::exit;
use crate::launch::{self, Prepared};
use crate::output::{Printer, numbered};

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    #[command(flatten)]
    pub profile: crate::cli::ProfileArgs,
    /// Services to start, with everything they depend on (default: all).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Run in the background: start a daemon for this project, wait until every service is
    /// ready, print a summary and return. Control it with `ps`, `logs`, `stop`, `down`...
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Delete the `clean` paths of the services to start (see `wrangle clean`) once the project
    /// is locked, before anything starts.
    #[arg(long)]
    pub clean: bool,
    /// With -d: print the outcome as one JSON object (`ok`, `exit_code`, `daemon_pid`, the
    /// services' `status` once up, or the last `output` lines of a failed start), for scripts.
    #[arg(long, requires = "detach")]
    pub json: bool,
    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(file: Option<PathBuf>, args: UpArgs) -> u8 {
    if args.detach {
        return detach::start_daemon(
            file,
            &args.profile.selected(),
            &args.services,
            args.clean,
            &args.output,
            args.json,
        );
    }
    let stderr_color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let mut notice = |text: String| eprintln!("{text}");
    let prepared = match launch::prepare(
        file,
        &args.profile.selected(),
        &args.services,
        stderr_color,
        &mut notice,
    ) {
        Ok(prepared) => prepared,
        Err(error) => return cli::launch_failed(&error),
    };
    if args.clean {
        let code = cli::clean::report(&launch::clean::before_start(&prepared));
        if code != exit::SUCCESS {
            drop(prepared.sockets);
            drop(prepared.lock);
            return code;
        }
    }
    let code = launch::block_on_local(foreground(&prepared, &args.output))
        .unwrap_or_else(|error| cli::launch_failed(&error));
    // The sockets close (and their files go) while the project is still locked: a run started
    // right after this one never finds them in its way.
    drop(prepared.sockets);
    drop(prepared.lock);
    code
}

async fn foreground(prepared: &Prepared, output: &crate::cli::OutputArgs) -> u8 {
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let color = Printer::color_wanted(stdout_is_terminal, |key| std::env::var(key).ok());
    let names: Vec<String> = prepared
        .spec
        .services
        .iter()
        .map(|service| service.name.clone())
        .collect();
    let printer = Printer::new(
        &names,
        color,
        stdout_is_terminal,
        Box::new(std::io::stdout()),
    )
    .with_controls(output.controls(stdout_is_terminal))
    .numbered(numbered(&prepared.spec));
    crate::daemon::foreground(prepared, printer, stdout_is_terminal).await
}
