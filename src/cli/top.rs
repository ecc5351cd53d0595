//! `wrangle top`, the command-line side: finds the project, refuses early (no terminal: exit 2;
//! no daemon: exit 1, as every verb), runs the UI of [`crate::top`], and turns how it ended
//! into a message and an exit code once the terminal is restored.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::api::client::Client;
use crate::cli::status::client_failure;
use crate::cli::{self, project};
use crate::exit;
use crate::launch;
use crate::output::Printer;
use crate::top::Outcome;

/// The keys, for `wrangle top --help` (the screen's footer says the same, shorter).
pub const KEYS: &str = "\
Keys:
  Up/Down, j/k    select a service (PgUp/PgDn, Home/End: by pages, to the ends)
  r               restart the selected service
  s               stop it (and what depends on it)
  a, S            start it (and what it depends on)
  l, Enter        its log, full-screen (Up/Down and PgUp/PgDn scroll, End follows, Esc back)
  q, Esc, Ctrl+C  quit

Needs a terminal (exit 2 otherwise); exits 1 when no daemon runs or when it goes away.
NO_COLOR=1 turns colours off.";

#[derive(Debug, Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
}

pub fn top(file: Option<PathBuf>, _args: TopArgs) -> u8 {
    // A full-screen UI written into a pipe or a file is garbage to whoever reads it.
    if !std::io::stdout().is_terminal() {
        eprintln!(
            "error: wrangle top needs a terminal, and its output is not one\n  \
             for scripts, use `wrangle ps --json`"
        );
        return exit::INVALID;
    }
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let color = Printer::color_wanted(true, |key| std::env::var(key).ok());
    let outcome = launch::block_on_local(async {
        let status = client.status().await?;
        Ok(crate::top::run(client.clone(), status, color).await)
    })
    .map_err(|error| cli::launch_failed(&error));
    match outcome {
        Ok(Ok(Outcome::Quit)) => exit::SUCCESS,
        Ok(Ok(Outcome::Gone)) => {
            eprintln!(
                "error: the wrangle daemon for {} is gone: it stopped or was killed",
                project.config.display()
            );
            exit::SERVICE_FAILED
        }
        Ok(Ok(Outcome::Failed(error))) => {
            eprintln!("error: {error}");
            exit::SERVICE_FAILED
        }
        Ok(Err(error)) => client_failure(&project, &error),
        Err(code) => code,
    }
}
