//! `wrangle up`: load the project, refuse early when it cannot run, then run it in the
//! foreground until Ctrl+C (or until every service has ended) and prove that nothing is left;
//! or, with `-d`, hand it to a daemon (see `cli::detach`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use clap::Args;
use tokio::sync::mpsc;

use crate::cli::detach;
use crate::config;
use crate::exit;
use crate::output::{Printer, Reporter, reporter};
use crate::paths::{Home, ProjectPaths};
use crate::preflight::{self, PreflightError};
use crate::spec::{ProjectSpec, ServiceId};
use crate::supervisor::engine::Lifetime;
use crate::supervisor::runtime::Observer;
use crate::supervisor::session::{Session, SessionOptions};
use crate::sys::lock::ProjectLock;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// Services to start, with everything they depend on (default: all).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Run in the background: start a daemon for this project, wait until every service is
    /// ready, print a summary and return. Control it with `ps`, `logs`, `stop`, `down`...
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

pub fn run(file: Option<PathBuf>, args: UpArgs) -> u8 {
    if args.detach {
        return detach::start_daemon(file, &args.services, &args.output);
    }
    let prepared = match prepare(file, &args.services) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let code = crate::cli::project::block_on_local(foreground(&prepared, &args.output))
        .unwrap_or_else(|code| code);
    drop(prepared.lock);
    code
}

/// A project ready to run: loaded, checked, locked, its ports free.
pub struct Prepared {
    pub spec: Arc<ProjectSpec>,
    pub selected: Vec<ServiceId>,
    pub paths: ProjectPaths,
    /// Held for the whole run; the kernel releases it when the process ends, however it ends.
    pub lock: ProjectLock,
}

/// Loads the config, resolves the named services, takes the project lock and checks ports.
/// Prints why and returns the exit code when the project cannot run.
pub fn prepare(file: Option<PathBuf>, services: &[String]) -> Result<Prepared, u8> {
    let stderr_color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let (config_path, origin) = match file {
        Some(path) => (path, config::Origin::Named),
        None => {
            let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let found = config::discover(&start).map_err(|error| {
                eprintln!("{}", error.render(stderr_color));
                exit::INVALID
            })?;
            (found, config::Origin::Discovered)
        }
    };
    let loaded = config_trust()
        .and_then(|trust| config::load(&config_path, origin, &trust))
        .map_err(|error| {
            eprintln!("{}", error.render(stderr_color));
            exit::INVALID
        })?;
    for warning in &loaded.warnings {
        eprintln!("{}", warning.render(stderr_color));
    }
    let spec = Arc::new(loaded.spec);
    let selected = select(&spec, services).map_err(|message| {
        eprintln!("error: {message}");
        exit::INVALID
    })?;
    let paths = Home::from_env()
        .and_then(|home| home.project(&spec.source))
        .map_err(|error| {
            eprintln!("error: {error}");
            exit::INVALID
        })?;
    let lock = preflight::acquire_lock(&paths, &spec.source).map_err(|error| refuse(&error))?;
    // We hold the lock: a record left in the state file is a dead daemon's (see daemon::state).
    if let Some(message) = crate::daemon::state::recover(&paths.state_file).message() {
        eprintln!("{message}");
    }
    let run_set = crate::supervisor::graph::selection(&spec, &selected);
    let run_ids: Vec<ServiceId> = (0..spec.services.len()).filter(|id| run_set[*id]).collect();
    preflight::check_ports(&spec, &run_ids).map_err(|error| refuse(&error))?;
    Ok(Prepared {
        spec,
        selected,
        paths,
        lock,
    })
}

/// Who loads the config (the effective user and group) and the directories they trust beyond
/// the config's rule (`WRANGLE_TRUSTED_DIRS`).
fn config_trust() -> Result<config::Trust, config::ConfigError> {
    let trust = config::Trust::new(
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
    .with_user_names(crate::sys::process_table::user_name);
    match std::env::var_os(config::TRUSTED_DIRS_VAR) {
        Some(value) => trust.with_trusted_dirs(&value),
        None => Ok(trust),
    }
}

/// Maps service names from the command line to ids; unknown names get a suggestion.
fn select(spec: &ProjectSpec, names: &[String]) -> Result<Vec<ServiceId>, String> {
    names
        .iter()
        .map(|name| {
            spec.service_id(name).ok_or_else(|| {
                let known: Vec<&str> = spec
                    .services
                    .iter()
                    .map(|service| service.name.as_str())
                    .collect();
                let suggestion = known
                    .iter()
                    .filter(|candidate| strsim::levenshtein(name, candidate) <= 2)
                    .min_by_key(|candidate| strsim::levenshtein(name, candidate))
                    .map(|candidate| format!(" (did you mean \"{candidate}\"?)"))
                    .unwrap_or_default();
                format!(
                    "no service named \"{name}\" in {}{suggestion}\n  services: {}",
                    spec.source.display(),
                    known.join(", ")
                )
            })
        })
        .collect()
}

pub fn refuse(error: &PreflightError) -> u8 {
    eprintln!("error: {error}");
    match error {
        PreflightError::AlreadyRunning { .. } | PreflightError::PortsHeld(_) => {
            exit::PREFLIGHT_REFUSED
        }
        _ => exit::SERVICE_FAILED,
    }
}

async fn foreground(prepared: &Prepared, output: &crate::cli::OutputArgs) -> u8 {
    let spec = Arc::clone(&prepared.spec);
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let color = Printer::color_wanted(stdout_is_terminal, |key| std::env::var(key).ok());
    let names: Vec<String> = spec
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
    .with_controls(output.controls(stdout_is_terminal));
    let reporter = Rc::new(Reporter::new(printer, Arc::clone(&spec), true));
    if stdout_is_terminal {
        let ticking = Rc::clone(&reporter);
        tokio::task::spawn_local(async move {
            let mut interval = tokio::time::interval(reporter::TICK);
            loop {
                interval.tick().await;
                ticking.tick();
            }
        });
    }
    let options = SessionOptions {
        lifetime: Lifetime::UntilIdle,
        die_with_wrangle: true,
        parent_sentinel: None,
        socket_dir: prepared.paths.runtime_dir.clone(),
        stop_grace: crate::supervisor::session::stop_grace(&prepared.spec),
        log_store: None,
    };
    let session = match Session::start(options, reporter.as_ref(), mpsc::unbounded_channel()) {
        Ok(session) => session,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::SERVICE_FAILED;
        }
    };
    reporter.notice_if_root();
    if !spec.notify.is_empty() {
        // Said once, so nobody waits for a notification that a foreground run never sends.
        reporter.notice("[[notify]] entries are not used in the foreground: the daemon sends notifications (wrangle up -d)");
    }
    let observer: Rc<dyn Observer> = reporter.clone();
    let outcome = session.run(spec, prepared.selected.clone(), observer).await;
    reporter.summary(&outcome);
    if outcome.leftovers.is_empty() {
        outcome.code
    } else {
        exit::SERVICE_FAILED
    }
}
