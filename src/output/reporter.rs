//! The foreground front-end: turns the supervisor's events into the words a developer reads, and
//! keeps the progress line and the last lines of each service for failure reports.
//!
//! It only consumes events and output; it never changes what the supervisor does.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::output::{Printer, Tone};
use crate::spec::{ProjectSpec, ServiceId};
use crate::supervisor::engine::humanize;
use crate::supervisor::event::{Event, Exit, Stream};
use crate::supervisor::runtime::{Observer, RunOutcome};

/// How many of a service's last lines are kept to explain a failure.
const TAIL_LINES: usize = 12;

pub struct Reporter {
    printer: Printer,
    spec: Arc<ProjectSpec>,
    state: RefCell<ReporterState>,
}

#[derive(Default)]
struct ReporterState {
    tails: BTreeMap<ServiceId, VecDeque<String>>,
    /// Services waiting for readiness: since when, and the last probe failure.
    waiting_ready: BTreeMap<ServiceId, (Instant, Option<String>)>,
    shutting_down: bool,
}

impl Reporter {
    pub fn new(printer: Printer, spec: Arc<ProjectSpec>) -> Reporter {
        Reporter {
            printer,
            spec,
            state: RefCell::new(ReporterState::default()),
        }
    }

    fn name(&self, service: ServiceId) -> &str {
        &self.spec.services[service].name
    }

    /// Redraws the progress line ("waiting for api (http …) 1.2s: connection refused").
    pub fn tick(&self) {
        let state = self.state.borrow();
        if state.waiting_ready.is_empty() || state.shutting_down {
            self.printer.set_status(None);
            return;
        }
        let parts: Vec<String> = state
            .waiting_ready
            .iter()
            .map(|(service, (since, failure))| {
                let probe = self.spec.services[*service]
                    .ready
                    .as_ref()
                    .map(|probe| probe.check.describe())
                    .unwrap_or_default();
                let mut part = format!(
                    "{} ({probe}) {:.1}s",
                    self.name(*service),
                    since.elapsed().as_secs_f64()
                );
                if let Some(failure) = failure {
                    part.push_str(&format!(": {failure}"));
                }
                part
            })
            .collect();
        self.printer
            .set_status(Some(format!("waiting for {}", parts.join(", "))));
    }

    /// The closing lines: what was stopped, whether anything was left, whether ports are free.
    pub fn summary(&self, outcome: &RunOutcome) {
        self.printer.set_status(None);
        if outcome.swept > 0 {
            self.printer.message(
                Tone::Warn,
                &format!(
                    "killed {} leftover process(es) that no stop signal reached",
                    outcome.swept
                ),
            );
        }
        if outcome.leftovers.is_empty() {
            let mut text = "every process is stopped".to_string();
            if !outcome.ports_checked.is_empty() && outcome.ports_in_use.is_empty() {
                let ports: Vec<String> = outcome.ports_checked.iter().map(u16::to_string).collect();
                text.push_str(&format!(
                    "; port{} {} free",
                    if ports.len() == 1 { "" } else { "s" },
                    ports.join(", ")
                ));
            }
            self.printer.message(Tone::Good, &text);
        } else {
            for (pid, command) in &outcome.leftovers {
                self.printer.message(
                    Tone::Error,
                    &format!("still running after stop: PID {pid}: {command}"),
                );
            }
        }
        for (_, holder) in &outcome.ports_in_use {
            self.printer
                .message(Tone::Error, &format!("{holder} after the stop"));
        }
    }

    fn say(&self, service: ServiceId, tone: Tone, text: &str) {
        self.printer.service_message(service, tone, text);
    }

    fn show_tail(&self, service: ServiceId) {
        let state = self.state.borrow();
        let Some(tail) = state.tails.get(&service).filter(|tail| !tail.is_empty()) else {
            self.printer.message(
                Tone::Info,
                &format!("{} printed nothing", self.name(service)),
            );
            return;
        };
        self.printer.message(
            Tone::Info,
            &format!("last output of {}:", self.name(service)),
        );
        for line in tail {
            self.printer.message(Tone::Info, &format!("  {line}"));
        }
    }
}

impl Observer for Reporter {
    fn event(&self, event: &Event) {
        match event {
            Event::Waiting {
                service,
                dependencies,
            } => {
                let list: Vec<String> = dependencies
                    .iter()
                    .map(|(dependency, condition)| {
                        format!("{} ({})", self.name(*dependency), condition.as_str())
                    })
                    .collect();
                self.say(
                    *service,
                    Tone::Info,
                    &format!("waiting for {}", list.join(", ")),
                );
            }
            Event::Started {
                service,
                pid,
                restart,
            } => {
                let command = self.spec.services[*service].command.display();
                let text = match restart {
                    0 => format!("starting: {command} (pid {pid})"),
                    n => format!("restarted (pid {pid}, restart #{n})"),
                };
                self.say(*service, Tone::Info, &text);
                if self.spec.services[*service].ready.is_some() {
                    self.state
                        .borrow_mut()
                        .waiting_ready
                        .insert(*service, (Instant::now(), None));
                }
            }
            Event::Ready { service, elapsed } => {
                if self.spec.services[*service].ready.is_some() {
                    self.say(
                        *service,
                        Tone::Good,
                        &format!("ready in {}", humanize(*elapsed)),
                    );
                }
                self.state.borrow_mut().waiting_ready.remove(service);
            }
            Event::LeaderExited {
                service,
                status,
                survivors,
            } => {
                self.say(
                    *service,
                    Tone::Info,
                    &format!(
                        "main process exited with {}; {survivors} process{} of its tree live on, so it is still running",
                        status.describe(),
                        if *survivors == 1 { "" } else { "es" }
                    ),
                );
            }
            Event::Exited {
                service,
                status,
                uptime,
            } => {
                self.state.borrow_mut().waiting_ready.remove(service);
                let (tone, verb) = match status {
                    Exit::Code(0) => (Tone::Info, "exited"),
                    _ => (Tone::Error, "crashed: exited"),
                };
                self.say(
                    *service,
                    tone,
                    &format!(
                        "{verb} with {} after {}",
                        status.describe(),
                        humanize(*uptime)
                    ),
                );
            }
            Event::Restarting {
                service,
                delay,
                attempt,
            } => {
                self.say(
                    *service,
                    Tone::Warn,
                    &format!("restarting in {} (restart #{attempt})", humanize(*delay)),
                );
            }
            Event::RestartBlocked { service, reason } => {
                self.say(*service, Tone::Error, &format!("cannot restart: {reason}"));
            }
            Event::Failed { service, reason } => {
                self.say(*service, Tone::Error, &format!("FAILED: {reason}"));
            }
            Event::SpawnFailed { service, error } => {
                self.state.borrow_mut().waiting_ready.remove(service);
                self.say(*service, Tone::Error, &format!("cannot start: {error}"));
            }
            Event::NotReady {
                service,
                timeout,
                last_failure,
            } => {
                self.state.borrow_mut().waiting_ready.remove(service);
                let mut text = format!("not ready after {}", humanize(*timeout));
                if let Some(failure) = last_failure {
                    text.push_str(&format!(" (last probe: {failure})"));
                }
                self.say(*service, Tone::Error, &text);
            }
            Event::Stopping { service, signal } => {
                self.say(
                    *service,
                    Tone::Info,
                    &format!("stopping ({})", signal.name()),
                );
            }
            Event::Killing { service, after } => {
                let text = match after {
                    Some(after) => format!(
                        "still running after {}: sending SIGKILL to its whole tree",
                        humanize(*after)
                    ),
                    None => "killing its whole tree (SIGKILL)".to_string(),
                };
                self.say(*service, Tone::Warn, &text);
            }
            Event::Stopped { service, .. } => {
                self.state.borrow_mut().waiting_ready.remove(service);
                self.say(*service, Tone::Info, "stopped");
            }
            Event::AllReady { count, elapsed } => {
                self.printer.set_status(None);
                let noun = if *count == 1 { "service" } else { "services" };
                self.printer.message(
                    Tone::Good,
                    &format!(
                        "all {count} {noun} up in {}; press Ctrl+C to stop",
                        humanize(*elapsed)
                    ),
                );
            }
            Event::StartupFailed { service, reason } => {
                self.printer.set_status(None);
                self.printer.message(
                    Tone::Error,
                    &format!("start-up failed: {} {reason}", self.name(*service)),
                );
                self.show_tail(*service);
            }
            Event::ShuttingDown { forced } => {
                let mut state = self.state.borrow_mut();
                state.shutting_down = true;
                state.waiting_ready.clear();
                drop(state);
                self.printer.set_status(None);
                if *forced {
                    self.printer
                        .message(Tone::Warn, "stopping now: killing every process (SIGKILL)");
                } else {
                    self.printer.message(
                        Tone::Info,
                        "stopping all services (Ctrl+C again to kill them at once)",
                    );
                }
            }
        }
        self.tick();
    }

    fn output(&self, service: ServiceId, stream: Stream, line: &[u8], partial: bool) {
        self.printer.service_line(service, stream, line, partial);
        let mut state = self.state.borrow_mut();
        let tail = state.tails.entry(service).or_default();
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        let text = String::from_utf8_lossy(line);
        // Keep failure reports readable: a line is cut at 400 characters.
        tail.push_back(text.chars().take(400).collect());
    }

    fn notice(&self, text: &str) {
        self.printer.message(Tone::Warn, text);
    }

    fn probe_failed(&self, service: ServiceId, failure: &str) {
        if let Some(entry) = self.state.borrow_mut().waiting_ready.get_mut(&service) {
            entry.1 = Some(failure.to_string());
        }
    }
}

/// How often the progress line is redrawn while something is starting.
pub const TICK: Duration = Duration::from_millis(200);
