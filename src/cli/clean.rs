//! `wrangle clean [SERVICE...]`: delete services' `clean` paths (all services', or the named
//! ones' alone) while holding the project lock, so never under a running project. Also what
//! `up --clean` prints before a start.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::cli;
use crate::launch::{self, clean::Cleaned};
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    #[command(flatten)]
    pub profile: crate::cli::ProfileArgs,
    /// Services whose `clean` paths to delete (default: every service's). Dependencies are not
    /// included.
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

pub fn clean(file: Option<PathBuf>, args: CleanArgs) -> u8 {
    let color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let mut notice = |text: String| eprintln!("{text}");
    let locked = match launch::lock_project(
        file,
        &args.profile.selected(),
        &args.services,
        color,
        &mut notice,
    ) {
        Ok(locked) => locked,
        Err(error) => return cli::launch_failed(&error),
    };
    let ids: Vec<usize> = match locked.selected.is_empty() {
        true => (0..locked.spec.services.len()).collect(),
        false => locked.selected.clone(),
    };
    let cleaned = launch::clean::services(&locked.spec, &ids);
    report(&cleaned)
}

/// Prints what cleaning did (failures on stderr) and returns the exit code: 4 when any path
/// was refused or failed, as a refusal before anything starts.
pub fn report(cleaned: &Cleaned) -> u8 {
    for line in &cleaned.lines {
        match Cleaned::is_failure(line) {
            true => eprintln!("{line}"),
            false => crate::stdout::line(format_args!("{line}")),
        }
    }
    match cleaned.failures.is_empty() {
        true => crate::stdout::line(format_args!("{}", cleaned.summary())),
        false => eprintln!("{}", cleaned.summary()),
    }
    cleaned.exit_code()
}
