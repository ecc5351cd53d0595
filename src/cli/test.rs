//! `wrangle test [SERVICE...] [-- CMD [ARGS...]] [--junit FILE]`: a smoke test for CI. Starts
//! the project (or the named services and what they depend on) in the foreground, waits until
//! everything is ready, runs CMD with every service's port in `WRANGLE_PORT_<NAME>`, then stops
//! everything and proves nothing is left (the same run and final sweep as `wrangle up`, served
//! on the control socket like one, through `daemon::foreground_with`).
//!
//! Exit code: CMD's (128 + the signal's number when a signal ended it) when it ran, unless it
//! succeeded but the run did not end cleanly (a service failed for good, or a process survived
//! the stop); without CMD, 0 once everything was ready and stopped cleanly; otherwise wrangle's
//! usual codes (1 failed, 3 not ready, 4 refused), and 1 when the run was stopped (Ctrl+C,
//! `wrangle down`) before everything was ready.

pub mod junit;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use tokio::sync::{Notify, oneshot, watch};

use crate::api::wire::ProjectStatus;
use crate::cli;
use crate::daemon::Companion;
use crate::environment::MANAGER_VARIABLES;
use crate::exit;
use crate::human;
use crate::launch;
use crate::output::{Printer, numbered, reporter};
use crate::spec::{ProjectSpec, Signal};
use crate::supervisor::event::Event;
use crate::sys::reaper::{ExitStatus, Reaper};
use crate::sys::spawn::{Output, SpawnRequest, signal_group};
use crate::sys::tree::{RUN_VAR, SERVICE_VAR};

use junit::{Case, Suite, Verdict};

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    #[command(flatten)]
    pub profile: crate::cli::ProfileArgs,
    /// Services to start, with everything they depend on (default: all).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// The command to run once everything is ready (after `--`), with `WRANGLE_PORT_<NAME>` set
    /// for every service with a port.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// Also write a JUnit XML report here: a test case per service's readiness, and one for CMD.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

/// How long CMD gets to end after SIGTERM (the run is stopping) before its group is killed.
const COMMAND_GRACE: Duration = Duration::from_secs(10);

pub fn test(file: Option<PathBuf>, args: TestArgs) -> u8 {
    let stderr_color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let mut notice = |text: String| eprintln!("{text}");
    let began = Instant::now();
    let began_at = SystemTime::now();
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
    let spec = Arc::clone(&prepared.spec);
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let names: Vec<String> = spec
        .services
        .iter()
        .map(|service| service.name.clone())
        .collect();
    let printer = Printer::new(
        &names,
        Printer::color_wanted(stdout_is_terminal, |key| std::env::var(key).ok()),
        stdout_is_terminal,
        Box::new(std::io::stdout()),
    )
    .with_controls(args.output.controls(stdout_is_terminal))
    .numbered(numbered(&spec));
    let check = Rc::new(Check {
        command: args.command.clone(),
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        cases: RefCell::new(Vec::new()),
        ready: Cell::new(false),
        command_result: RefCell::new(None),
        stop: Rc::new(Notify::new()),
    });
    let companion: Rc<dyn Companion> = check.clone();
    let code = launch::block_on_local(crate::daemon::foreground_with(
        &prepared,
        printer,
        stdout_is_terminal,
        companion,
    ))
    .unwrap_or_else(|error| cli::launch_failed(&error));
    drop(prepared.sockets);
    drop(prepared.lock);

    let code = check.exit_code(code);
    if let Some(path) = &args.junit {
        let suite = check.suite(&spec, &project_name(&spec), began_at, began.elapsed());
        // Replaced whole (a CI job's earlier report goes), never written through a planted link.
        if let Err(error) = crate::sys::file::replace(path, junit::render(&suite).as_bytes()) {
            eprintln!(
                "error: cannot write the JUnit report {}: {error}",
                path.display()
            );
            return match code {
                exit::SUCCESS => exit::SERVICE_FAILED,
                code => code,
            };
        }
    }
    code
}

/// The project's name, as `ps` shows it: the directory holding its config.
fn project_name(spec: &ProjectSpec) -> String {
    spec.source
        .parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "wrangle".to_string())
}

/// The smoke test beside the run: records each instance's start-up, runs CMD once everything is
/// ready.
struct Check {
    command: Vec<String>,
    cwd: PathBuf,
    /// Per instance (by label, in the order they started), how its start-up went.
    cases: RefCell<Vec<(String, Startup)>>,
    /// Every service became ready.
    ready: Cell<bool>,
    command_result: RefCell<Option<CommandResult>>,
    /// The run began stopping: CMD gets SIGTERM.
    stop: Rc<Notify>,
}

#[derive(Debug, Clone)]
enum Startup {
    Starting,
    Ready(Duration),
    Failed { kind: &'static str, message: String },
}

#[derive(Debug, Clone)]
struct CommandResult {
    elapsed: Duration,
    /// The exit code wrangle passes on, or why CMD could not run.
    outcome: Result<u8, String>,
    /// How it ended, in words (`exited with code 1`).
    description: String,
}

impl Check {
    /// The first verdict of an instance's start-up stands: what happens after (a restart, a
    /// failure while stopping) is not start-up.
    fn record(&self, label: String, startup: Startup) {
        let mut cases = self.cases.borrow_mut();
        match cases.iter_mut().find(|(known, _)| *known == label) {
            None => cases.push((label, startup)),
            Some((_, current @ Startup::Starting)) if !matches!(startup, Startup::Starting) => {
                *current = startup
            }
            Some(_) => {}
        }
    }

    fn exit_code(&self, run_code: u8) -> u8 {
        match &*self.command_result.borrow() {
            Some(CommandResult {
                outcome: Ok(code), ..
            }) => {
                if *code == exit::SUCCESS && run_code != exit::SUCCESS {
                    eprintln!(
                        "wrangle: the command passed, but the run did not end cleanly (exit {run_code})"
                    );
                    run_code
                } else {
                    *code
                }
            }
            // CMD could not be started at all: a usage problem of the test's.
            Some(CommandResult {
                outcome: Err(_), ..
            }) => exit::INVALID,
            None if run_code == exit::SUCCESS && !self.ready.get() => {
                eprintln!("wrangle: the run was stopped before every service was ready");
                exit::SERVICE_FAILED
            }
            None => run_code,
        }
    }

    /// The JUnit report: every service of the run (started or not), then CMD.
    fn suite(
        &self,
        spec: &ProjectSpec,
        name: &str,
        began_at: SystemTime,
        elapsed: Duration,
    ) -> Suite {
        let cases = self.cases.borrow();
        let mut report: Vec<Case> = cases
            .iter()
            .map(|(label, startup)| {
                let (elapsed, verdict) = match startup {
                    Startup::Ready(elapsed) => (Some(*elapsed), Verdict::Passed),
                    // Ready by the end of start-up without a word about it: a service without a
                    // probe that has run on, or one that completed.
                    Startup::Starting if self.ready.get() => (None, Verdict::Passed),
                    Startup::Starting => (
                        None,
                        Verdict::Skipped {
                            message: "stopped before it was ready".into(),
                        },
                    ),
                    Startup::Failed { kind, message } => (
                        None,
                        Verdict::Failed {
                            kind: (*kind).to_string(),
                            message: message.clone(),
                            details: format!("{label}: {message}"),
                        },
                    ),
                };
                Case {
                    classname: "readiness".into(),
                    name: label.clone(),
                    elapsed,
                    verdict,
                }
            })
            .collect();
        for service in &spec.services {
            let started = cases.iter().any(|(label, _)| {
                *label == service.name || label.starts_with(&format!("{}:", service.name))
            });
            // Only the services of this run are in the report: those the run started, and
            // those it never got to because start-up ended first.
            if !started && !self.ready.get() {
                report.push(Case {
                    classname: "readiness".into(),
                    name: service.name.clone(),
                    elapsed: None,
                    verdict: Verdict::Skipped {
                        message: "not started: start-up ended before it".into(),
                    },
                });
            }
        }
        if !self.command.is_empty() {
            let name = self.command.join(" ");
            report.push(match &*self.command_result.borrow() {
                Some(result) => Case {
                    classname: "command".into(),
                    name,
                    elapsed: Some(result.elapsed),
                    verdict: match result.outcome {
                        Ok(exit::SUCCESS) => Verdict::Passed,
                        Ok(_) => Verdict::Failed {
                            kind: "exit_status".into(),
                            message: result.description.clone(),
                            details: result.description.clone(),
                        },
                        Err(ref error) => Verdict::Failed {
                            kind: "spawn".into(),
                            message: error.clone(),
                            details: error.clone(),
                        },
                    },
                },
                None => Case {
                    classname: "command".into(),
                    name,
                    elapsed: None,
                    verdict: Verdict::Skipped {
                        message: "not run: the services did not all become ready".into(),
                    },
                },
            });
        }
        Suite {
            name: name.to_string(),
            timestamp: human::time(began_at),
            elapsed,
            cases: report,
        }
    }

    /// Runs CMD to its end; SIGTERM to its group when the run begins stopping, SIGKILL if it
    /// is still there [`COMMAND_GRACE`] later.
    async fn run_command(
        &self,
        status: &watch::Receiver<Arc<ProjectStatus>>,
        reaper: &Reaper,
        notice: &dyn Fn(&str),
    ) -> CommandResult {
        let mut request = SpawnRequest {
            argv: self.command.clone(),
            cwd: self.cwd.clone(),
            env: port_variables(&status.borrow()),
            // Never taken for a member of a service, and nothing of wrangle's own protocol leaks.
            env_remove: [RUN_VAR.to_string(), SERVICE_VAR.to_string()]
                .into_iter()
                .chain(MANAGER_VARIABLES.map(String::from))
                .collect(),
            output: Output::Inherit,
            // It dies with wrangle, like a service.
            death_signal: Some(Signal::TERM.0),
            cgroup: None,
            stdin: None,
            listen: None,
            // wrangle's own priority and limits: CMD is the user's, not a service.
            limits: Default::default(),
            credentials: None,
        };
        let began = Instant::now();
        let program = self.command[0].clone();
        notice(&format!("running: {}", self.command.join(" ")));
        let (child, mut exit) = match reaper.spawn_helper(&mut request) {
            Ok(spawned) => spawned,
            Err(error) => {
                let reason = match error.kind() {
                    std::io::ErrorKind::NotFound => format!("command not found: {program}"),
                    std::io::ErrorKind::PermissionDenied => {
                        format!("permission denied: {program}")
                    }
                    _ => format!("cannot run {program}: {error}"),
                };
                notice(&format!("error: {reason}"));
                return CommandResult {
                    elapsed: began.elapsed(),
                    description: reason.clone(),
                    outcome: Err(reason),
                };
            }
        };
        let status = tokio::select! {
            status = &mut exit => status.ok(),
            () = self.stop.notified() => stop_command(child.pid, exit).await,
        };
        let (outcome, description) = match status {
            Some(ExitStatus::Code(code)) => (
                Ok(u8::try_from(code).unwrap_or(exit::SERVICE_FAILED)),
                format!("exited with code {code}"),
            ),
            Some(ExitStatus::Signal(signal)) => (
                Ok(128u8.saturating_add(u8::try_from(signal).unwrap_or(0))),
                format!("killed by {}", Signal(signal).name()),
            ),
            None => (
                Ok(exit::SERVICE_FAILED),
                "its exit status was lost".to_string(),
            ),
        };
        let elapsed = began.elapsed();
        notice(&format!(
            "command {description} after {}",
            human::duration(elapsed)
        ));
        CommandResult {
            elapsed,
            outcome,
            description,
        }
    }
}

/// Stops CMD (its own process group, `pid`) as the run stops: SIGTERM, then SIGKILL after
/// [`COMMAND_GRACE`]; returns how it ended. A group is only signalled while CMD is unreaped: the
/// reaper sends the status in the same turn it reaps, so an empty channel means its pid, and so
/// its group id, is still its own (see `sys::spawn::signal_group`).
async fn stop_command(pid: i32, mut exit: oneshot::Receiver<ExitStatus>) -> Option<ExitStatus> {
    for (signal, grace) in [(Signal::TERM, Some(COMMAND_GRACE)), (Signal::KILL, None)] {
        match exit.try_recv() {
            Ok(status) => return Some(status),
            Err(oneshot::error::TryRecvError::Closed) => return None,
            Err(oneshot::error::TryRecvError::Empty) => {
                let _ = signal_group(pid, signal.0);
            }
        }
        match grace {
            Some(grace) => {
                if let Ok(status) = tokio::time::timeout(grace, &mut exit).await {
                    return status.ok();
                }
            }
            None => return exit.await.ok(),
        }
    }
    None
}

/// `WRANGLE_PORT_<NAME>` for every service with a port (its first), the name upper-cased with
/// `-` and `.` as `_`.
fn port_variables(status: &ProjectStatus) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::new();
    for service in &status.services {
        if let Some(port) = service.ports.first() {
            variables
                .entry(port_variable(&service.name))
                .or_insert_with(|| port.to_string());
        }
    }
    variables
}

fn port_variable(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|character| match character {
            '-' | '.' => '_',
            other => other.to_ascii_uppercase(),
        })
        .collect();
    format!("WRANGLE_PORT_{name}")
}

impl Companion for Check {
    fn event(&self, spec: &ProjectSpec, event: &Event) {
        let label = |instance: crate::supervisor::event::InstanceId| instance.label(spec);
        let words = || {
            reporter::describe(spec, event)
                .map(|(_, _, text)| text)
                .unwrap_or_else(|| reporter::kind(event).to_string())
        };
        match event {
            Event::Started { instance, .. } => self.record(label(*instance), Startup::Starting),
            Event::Ready { instance, elapsed } => {
                self.record(label(*instance), Startup::Ready(*elapsed))
            }
            Event::NotReady { instance, .. } => self.record(
                label(*instance),
                Startup::Failed {
                    kind: "not_ready",
                    message: words(),
                },
            ),
            Event::StartupFailed { instance, .. } => self.record(
                label(*instance),
                Startup::Failed {
                    kind: "startup_failed",
                    message: words(),
                },
            ),
            Event::Failed { instance, .. } | Event::SpawnFailed { instance, .. } => self.record(
                label(*instance),
                Startup::Failed {
                    kind: "failed",
                    message: words(),
                },
            ),
            Event::AllReady { .. } => self.ready.set(true),
            Event::ShuttingDown { .. } => self.stop.notify_one(),
            _ => {}
        }
    }

    fn all_ready(
        self: Rc<Self>,
        status: watch::Receiver<Arc<ProjectStatus>>,
        reaper: Rc<Reaper>,
        notice: Rc<dyn Fn(&str)>,
    ) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            if self.command.is_empty() {
                return;
            }
            let result = self.run_command(&status, &reaper, notice.as_ref()).await;
            self.command_result.replace(Some(result));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variables_are_named_after_services() {
        assert_eq!(port_variable("web"), "WRANGLE_PORT_WEB");
        assert_eq!(
            port_variable("api-v2.internal"),
            "WRANGLE_PORT_API_V2_INTERNAL"
        );
    }
}
