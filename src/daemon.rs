//! A run that answers: the per-project daemon (`wrangle __daemon`, started by `wrangle up -d`)
//! and the foreground `wrangle up`, both controlled through the same API on the same private
//! socket, so `ps`, `logs`, `start/stop/restart`, `top` and `down` work from another terminal
//! against either.
//!
//! # Theory of operation
//! `up -d` starts the daemon's sentinel (`sys::sentinel`), which starts this process as its only
//! child, with stdout and stderr on pipes to the CLI and a link to the sentinel
//! (`--sentinel-fd`). It prepares the project exactly like a foreground `up` (config, lock,
//! ports, with the same messages and exit codes), binds the control socket, opens the log store,
//! tells the sentinel how to stop the run should the daemon die (grace, cgroup, where to write),
//! and runs a session with `Lifetime::UntilShutdown`. While the project starts, the foreground
//! output goes to the CLI; when every service is up the daemon tells the sentinel, prints the
//! detach marker and points its stdout and stderr at `daemon.log`, so the CLI returns. If
//! start-up fails, the daemon stops everything and exits with the start-up's code, which the
//! sentinel and then the CLI pass on.
//!
//! A foreground run ([`foreground`]) is served the same way, with the same routes, peer checks,
//! listener limits and log files (so `logs` reads a foreground run's output exactly as it reads
//! a daemon's): only its front-end differs. Its output stays on the terminal
//! for the whole run, it ends when every service has ended (or on Ctrl+C), and it keeps no
//! state file (its sentinel beside it, not recovery, covers a foreground wrangle killed with
//! SIGKILL); the metrics endpoint and notifications stay the daemon's.
//!
//! This is the only module that wires everything together: the supervisor (through its
//! `Observer` and control requests), the API (through `ApiContext` channels, since the API
//! is `Send` and the supervisor is not), the log store, the notifier (`crate::notify`, one
//! more subscriber of the events, given a bounded moment at exit to send what is queued), the
//! metrics endpoint (`[metrics]`, which reads the API's status snapshots; see [`crate::metrics`]),
//! and the web dashboard (the API again, on TCP behind a token; see [`crate::dashboard`]).
//!
//! This file holds the entry points and what they choose ([`Front`]); [`serve`] wires and runs
//! the run; [`observer`] turns what the supervisor reports into output, status, events and the
//! state file; [`requests`] turns API requests into controls; [`companion`] runs `wrangle
//! test`'s part; [`log_health`] reports log-file trouble.
//!
//! # Caveats
//! - If the daemon itself dies after start-up (SIGKILL, a panic), its sentinel starts a successor
//!   (`--adopt`, see [`succession`] and `sys::sentinel`) that takes the running services over;
//!   services have no death signal under a daemon for this reason.
//! - SIGHUP applies the config (the same request as `wrangle apply`, see [`apply`]); the
//!   outcome goes to `daemon.log` and the events. SIGTERM and SIGINT stop everything. A
//!   foreground run's SIGHUP (its terminal went away) stops it, like Ctrl+C.

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::watch;

mod apply;
mod companion;
pub mod config_view;
mod follow;
mod log_health;
mod observer;
mod own_log;
pub mod records;
mod requests;
pub mod resources;
mod sd_notify;
mod serve;
mod status;
mod succession;

use crate::api::wire::ProjectStatus;
use crate::daemon::serve::serve;
use crate::exit;
use crate::launch::state;
use crate::launch::{self, LaunchError, Prepared};
use crate::output::{Controls, Printer};
use crate::spec::ProjectSpec;
use crate::supervisor::event::Event;
use crate::supervisor::session::Succession;
use crate::sys::reaper::Reaper;
use crate::sys::sentinel::ParentLink;

/// The body of `wrangle __daemon`: the exit code of the run, or why it could not be launched
/// (which the command line renders, as for a foreground `up`). `controls`: how service output
/// printed during start-up (relayed by `up -d` to its terminal) treats control characters.
/// `sentinel_fd` is the link to the sentinel above it (see `sys::sentinel`).
pub fn run(
    file: Option<PathBuf>,
    profiles: &[String],
    services: &[String],
    clean: bool,
    controls: Controls,
    sentinel_fd: Option<i32>,
    successor: bool,
) -> Result<u8, LaunchError> {
    let link = match sentinel_fd.map(ParentLink::adopt).transpose() {
        Ok(link) => link.map(Rc::new),
        Err(error) => {
            eprintln!("error: cannot use the link to the sentinel: {error}");
            return Ok(exit::SERVICE_FAILED);
        }
    };
    // Clients and supervision share one descriptor table: take all of it (services are given
    // back the limit wrangle was started with; see `sys::nofile`).
    if let Err(error) = crate::sys::nofile::raise_soft_to_hard() {
        eprintln!("warning: cannot raise the descriptor limit to its hard limit: {error}");
    }
    // Printed to `up -d`, which relays them to its terminal (and sets CLICOLOR_FORCE for colour).
    let stderr_color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let mut notice = |text: String| eprintln!("{text}");
    let (prepared, succession) = match (&link, successor) {
        (Some(link), true) => {
            let held = link
                .take_held()
                .map_err(|error| LaunchError::Succession(error.to_string()))?;
            let held = succession::Held::sort(held);
            let lock = held.lock.ok_or_else(|| {
                LaunchError::Succession("the sentinel holds no project lock".to_string())
            })?;
            let prepared = launch::prepare_successor(file, profiles, services, lock, held.sockets)?;
            let record = state::read(&prepared.paths.state_file);
            let (adopted, notes) = match &record {
                Some(record) => succession::adopt(&prepared.spec, record, held.outputs, link),
                None => (
                    Vec::new(),
                    vec!["no record of the run was found".to_string()],
                ),
            };
            let succession = Succession {
                run_token: record
                    .as_ref()
                    .map(|record| record.run_token.clone())
                    .unwrap_or_default(),
                cgroup: record.and_then(|record| record.cgroup),
                adopted,
            };
            (prepared, Some((succession, notes)))
        }
        _ => {
            let prepared = launch::prepare(file, profiles, services, stderr_color, &mut notice)?;
            if clean {
                // Printed to `up -d`, which relays it, as a foreground `up --clean` prints it.
                let cleaned = launch::clean::before_start(&prepared);
                for line in &cleaned.lines {
                    match launch::clean::Cleaned::is_failure(line) {
                        true => eprintln!("{line}"),
                        false => crate::stdout::line(format_args!("{line}")),
                    }
                }
                if cleaned.exit_code() == exit::SUCCESS {
                    crate::stdout::line(format_args!("{}", cleaned.summary()));
                } else {
                    eprintln!("{}", cleaned.summary());
                    drop(prepared.sockets);
                    drop(prepared.lock);
                    return Ok(cleaned.exit_code());
                }
            }
            (prepared, None)
        }
    };
    let front = Front::Background {
        link,
        controls,
        succession,
    };
    let code = launch::block_on_local(serve(&prepared, front))?;
    // The sockets close (and their files go) while the project is still locked: a run started
    // right after this one never finds them in its way.
    drop(prepared.sockets);
    drop(prepared.lock);
    Ok(code)
}

/// Runs a prepared project in the foreground (`wrangle up`): `printer` shows everything on the
/// terminal for the whole run (with a progress line when `progress`), and the control socket
/// answers the same requests as a daemon's. Ends when every service has ended, on Ctrl+C, or
/// on `wrangle down`; returns the exit code.
pub async fn foreground(prepared: &Prepared, printer: Printer, progress: bool) -> u8 {
    serve(
        prepared,
        Front::Foreground {
            printer,
            progress,
            companion: None,
        },
    )
    .await
}

/// [`foreground`] with a companion (`wrangle test`): it sees every event, and once every
/// service is ready it runs beside supervision; then the run stops (unless something already
/// stops it). The run also ends as a foreground run does (start-up failure, Ctrl+C, `down`).
pub async fn foreground_with(
    prepared: &Prepared,
    printer: Printer,
    progress: bool,
    companion: Rc<dyn Companion>,
) -> u8 {
    serve(
        prepared,
        Front::Foreground {
            printer,
            progress,
            companion: Some(companion),
        },
    )
    .await
}

/// A line on the run's output, as a shareable function.
pub type Notice = Rc<dyn Fn(&str)>;

/// What runs beside a foreground run once it is up (see [`foreground_with`]).
pub trait Companion {
    /// Every event of the run, as it happens.
    fn event(&self, spec: &ProjectSpec, event: &Event);
    /// Every selected service is ready: the companion's part, which runs beside supervision.
    /// `status` is the run's state (as `ps` shows it), `reaper` the run's one reaper (to start
    /// processes through), `notice` a line on the run's output.
    fn all_ready(
        self: Rc<Self>,
        status: watch::Receiver<Arc<ProjectStatus>>,
        reaper: Rc<Reaper>,
        notice: Rc<dyn Fn(&str)>,
    ) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// Who the run's output is for, and what else that decides.
enum Front {
    /// `wrangle __daemon`: start-up is relayed to `up -d` (service output treated by
    /// `controls`), then written to `daemon.log`; runs until shut down; records its state for
    /// recovery; tells the sentinel above it (`link`) how to stop the run. `succession`: the run
    /// a successor takes over, and notes about what it could not adopt.
    Background {
        link: Option<Rc<ParentLink>>,
        controls: Controls,
        succession: Option<(Succession, Vec<String>)>,
    },
    /// `wrangle up`: a terminal reads the output (`printer`) for the whole run (redrawing a
    /// progress line when `progress`); the run ends once every service has ended. With a
    /// `companion` (`wrangle test`), the run ends when the companion is done instead.
    Foreground {
        printer: Printer,
        progress: bool,
        companion: Option<Rc<dyn Companion>>,
    },
}
