//! `wrangle up`: load the project, refuse early when it cannot run, then run it in the
//! foreground until Ctrl+C (or until every service has ended) and prove that nothing is left.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config;
use crate::exit;
use crate::output::{Printer, Reporter, reporter};
use crate::paths::Home;
use crate::preflight::{self, PreflightError};
use crate::spec::{ProjectSpec, ServiceId};
use crate::supervisor::engine::Lifetime;
use crate::supervisor::runtime::{self, Control, RunOptions};
use crate::sys::cgroup::RunCgroup;
use crate::sys::reaper::Reaper;
use crate::sys::sentinel::Sentinel;
use crate::sys::spawn::become_subreaper;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Services to start, with everything they depend on (default: all).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

pub fn run(file: Option<PathBuf>, args: UpArgs) -> u8 {
    let stderr_color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let config_path = match file {
        Some(path) => path,
        None => {
            let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            match config::discover(&start) {
                Ok(path) => path,
                Err(error) => {
                    eprintln!("{}", error.render(stderr_color));
                    return exit::INVALID;
                }
            }
        }
    };
    let spec = match config::load(&config_path) {
        Ok(spec) => Arc::new(spec),
        Err(error) => {
            eprintln!("{}", error.render(stderr_color));
            return exit::INVALID;
        }
    };
    let selected = match select(&spec, &args.services) {
        Ok(selected) => selected,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::INVALID;
        }
    };

    let project = match Home::from_env().and_then(|home| home.project(&spec.source)) {
        Ok(project) => project,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::INVALID;
        }
    };
    // Held for the whole run; the kernel releases it when this process ends, however it ends.
    let _lock = match preflight::acquire_lock(&project, &spec.source) {
        Ok(lock) => lock,
        Err(error) => return refuse(&error),
    };
    let run_set = crate::supervisor::graph::selection(&spec, &selected);
    let run_ids: Vec<ServiceId> = (0..spec.services.len()).filter(|id| run_set[*id]).collect();
    if let Err(error) = preflight::check_ports(&spec, &run_ids) {
        return refuse(&error);
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(
        &runtime,
        supervise(spec, selected, project.runtime_dir.clone()),
    )
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

fn refuse(error: &PreflightError) -> u8 {
    eprintln!("error: {error}");
    match error {
        PreflightError::AlreadyRunning { .. } | PreflightError::PortsHeld(_) => {
            exit::PREFLIGHT_REFUSED
        }
        _ => exit::SERVICE_FAILED,
    }
}

async fn supervise(spec: Arc<ProjectSpec>, selected: Vec<ServiceId>, socket_dir: PathBuf) -> u8 {
    let (controls, control_receiver) = mpsc::unbounded_channel();
    // Signal handlers come first: from here on Ctrl+C, SIGTERM and SIGHUP mean "stop everything
    // in order", never "die and leave the services behind".
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        match signal(kind) {
            Ok(mut stream) => {
                let controls = controls.clone();
                tokio::task::spawn_local(async move {
                    while stream.recv().await.is_some() {
                        if controls.send(Control::Shutdown).is_err() {
                            return;
                        }
                    }
                });
            }
            Err(error) => {
                eprintln!("error: cannot install a signal handler: {error}");
                return exit::SERVICE_FAILED;
            }
        }
    }
    if let Err(error) = become_subreaper() {
        eprintln!(
            "warning: cannot become a child subreaper ({error}); double-forked processes may escape"
        );
    }
    let reaper = match Reaper::start() {
        Ok(reaper) => reaper,
        Err(error) => {
            eprintln!("error: cannot listen for SIGCHLD: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    let run_token = run_token();
    let cgroup = match std::env::var_os("WRANGLE_NO_CGROUP") {
        // For troubleshooting, and for testing the process-group path on machines with cgroups.
        Some(value) if !value.is_empty() && value != "0" => None,
        _ => RunCgroup::create(&run_token).ok().map(Rc::new),
    };
    let sentinel = match Sentinel::start(
        &reaper,
        &run_token,
        cgroup.as_deref().map(RunCgroup::path),
    ) {
        Ok(sentinel) => Some(sentinel),
        Err(error) => {
            eprintln!(
                "warning: cannot start the sentinel ({error}); if wrangle is killed with SIGKILL, services' children may survive"
            );
            None
        }
    };

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
    );
    let reporter = Rc::new(Reporter::new(printer, Arc::clone(&spec)));
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

    let options = RunOptions {
        run_token,
        die_with_parent: true,
        socket_dir,
        helper_pids: sentinel.iter().map(|sentinel| sentinel.pid).collect(),
        cgroup: cgroup.clone(),
        random_seed: seed(),
        lifetime: Lifetime::UntilIdle,
    };
    let observer: Rc<dyn runtime::Observer> = reporter.clone();
    let outcome = runtime::run(spec, selected, reaper, observer, control_receiver, options).await;
    if let Some(cgroup) = &cgroup {
        // Everything was already stopped and verified; this only removes the empty cgroups (and
        // would kill anything that slipped through, which the summary would then have reported).
        cgroup.kill_and_remove();
    }
    reporter.summary(&outcome);
    if let Some(sentinel) = sentinel {
        sentinel.dismiss();
    }
    if outcome.leftovers.is_empty() {
        outcome.code
    } else {
        exit::SERVICE_FAILED
    }
}

/// Unique per run: our pid plus the time, so a later run (even with a reused pid) differs.
fn run_token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos:x}", std::process::id())
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    u64::from(nanos) ^ (u64::from(std::process::id()) << 32)
}
