//! The foreground front-end: turns the supervisor's events into the words a developer reads, and
//! keeps the progress line and the last lines of each service for failure reports.
//!
//! It only consumes events and output; it never changes what the supervisor does.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::human;
use crate::output::{Printer, Tone};
use crate::spec::schedule::ScheduleAction;
use crate::spec::{ProjectSpec, ServiceId};
use crate::stream::Stream;
use crate::supervisor::event::{Event, Exit, InstanceId, Resource};
use crate::supervisor::runtime::{Observer, RunOutcome};

/// How many of a service's last lines are kept to explain a failure.
const TAIL_LINES: usize = 12;

pub struct Reporter {
    printer: Printer,
    /// Replaced by `wrangle apply` ([`Reporter::spec_changed`]).
    spec: RefCell<Arc<ProjectSpec>>,
    state: RefCell<ReporterState>,
    /// A person at a terminal can press Ctrl+C (the foreground run); a daemon's log has no one.
    interactive: bool,
}

#[derive(Default)]
struct ReporterState {
    tails: BTreeMap<InstanceId, VecDeque<String>>,
    /// Instances waiting for readiness: since when, and the last probe failure.
    waiting_ready: BTreeMap<InstanceId, (Instant, Option<String>)>,
    shutting_down: bool,
}

/// Said once at the start of a run by root when a service has no `user`: it runs as root.
pub const ROOT_NOTICE: &str = "running as root: services without `user` run as root too";

impl Reporter {
    /// When wrangle runs as root and some of the services it starts (`starting`) have no `user`,
    /// says so once ([`ROOT_NOTICE`]), naming them: they run as root.
    pub fn notice_if_root(&self, starting: &[crate::spec::ServiceId]) {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let spec = self.spec();
        let as_root: Vec<&str> = starting
            .iter()
            .filter_map(|id| spec.services.get(*id))
            .filter(|service| {
                service
                    .process
                    .run_as
                    .as_ref()
                    .is_none_or(|run_as| run_as.user.is_none())
            })
            .map(|service| service.name.as_str())
            .collect();
        if !as_root.is_empty() {
            self.printer.message(
                Tone::Warn,
                &format!(
                    "{ROOT_NOTICE} ({}); give them user = \"NAME\"",
                    as_root.join(", ")
                ),
            );
        }
    }

    pub fn new(printer: Printer, spec: Arc<ProjectSpec>, interactive: bool) -> Reporter {
        Reporter {
            printer,
            spec: RefCell::new(spec),
            state: RefCell::new(ReporterState::default()),
            interactive,
        }
    }

    /// Events and lines name the services of `spec` from now on (`wrangle apply`).
    pub fn spec_changed(&self, spec: &Arc<ProjectSpec>) {
        let names: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
        self.printer
            .services_changed(&names, crate::output::numbered(spec));
        self.spec.replace(Arc::clone(spec));
    }

    fn spec(&self) -> Arc<ProjectSpec> {
        Arc::clone(&self.spec.borrow())
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
            .map(|(instance, (since, failure))| {
                let probe = self.spec().services[instance.service]
                    .ready
                    .as_ref()
                    .map(|probe| probe.check.describe())
                    .unwrap_or_default();
                let mut part = format!(
                    "{} ({probe}) {:.1}s",
                    instance.label(&self.spec()),
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

    fn show_tail(&self, instance: InstanceId) {
        let state = self.state.borrow();
        let label = instance.label(&self.spec());
        let Some(tail) = state.tails.get(&instance).filter(|tail| !tail.is_empty()) else {
            self.printer
                .message(Tone::Info, &format!("{label} printed nothing"));
            return;
        };
        self.printer
            .message(Tone::Info, &format!("last output of {label}:"));
        for line in tail {
            self.printer.message(Tone::Info, &format!("  {line}"));
        }
    }
}

/// What an event says to a person: about which service (`None`: the whole project; the event's
/// instance, when it has one, names it further), in which tone, in which words. `None` when there
/// is nothing worth a line (a service without a probe is "ready" as soon as it started;
/// "starting" already said so). Shared by the foreground output and the daemon's event stream,
/// so both speak the same words.
pub fn describe(spec: &ProjectSpec, event: &Event) -> Option<(Option<ServiceId>, Tone, String)> {
    let name = |service: ServiceId| spec.services[service].name.as_str();
    let (tone, text) = match event {
        Event::Waiting { dependencies, .. } => {
            let list: Vec<String> = dependencies
                .iter()
                .map(|(dependency, condition)| {
                    format!("{} ({})", name(*dependency), condition.as_str())
                })
                .collect();
            (Tone::Info, format!("waiting for {}", list.join(", ")))
        }
        Event::Started {
            instance,
            pid,
            restart,
        } => {
            let command = spec.services[instance.service].command.display();
            let text = match restart {
                0 => format!("starting: {command} (pid {pid})"),
                n => format!("restarted (pid {pid}, restart #{n})"),
            };
            (Tone::Info, text)
        }
        Event::Ready { instance, elapsed } => {
            spec.services[instance.service].ready.as_ref()?;
            (
                Tone::Good,
                format!("ready in {}", human::duration(*elapsed)),
            )
        }
        Event::LeaderExited {
            status, survivors, ..
        } => (
            Tone::Info,
            format!(
                "main process exited with {}; {survivors} process{} of its tree live on, so it is still running",
                status.describe(),
                if *survivors == 1 { "" } else { "es" }
            ),
        ),
        Event::Exited { status, uptime, .. } => {
            let (tone, verb) = match status {
                Exit::Code(0) => (Tone::Info, "exited"),
                _ => (Tone::Error, "crashed: exited"),
            };
            (
                tone,
                format!(
                    "{verb} with {} after {}",
                    status.describe(),
                    human::duration(*uptime)
                ),
            )
        }
        Event::Restarting { delay, attempt, .. } => (
            Tone::Warn,
            format!(
                "restarting in {} (restart #{attempt})",
                human::duration(*delay)
            ),
        ),
        Event::MemoryLimitExceeded { reason, .. } => {
            (Tone::Warn, format!("{reason}: restarting it"))
        }
        Event::LivenessFailed { reason, .. } => (
            Tone::Error,
            format!("liveness probe failed ({reason}): restarting it"),
        ),
        Event::ResourceWarning {
            active, message, ..
        } => (
            if *active { Tone::Warn } else { Tone::Info },
            message.clone(),
        ),
        Event::ReadinessLost { failure, .. } => (Tone::Error, format!("readiness lost: {failure}")),
        Event::ReadinessRestored { .. } => (Tone::Good, "ready again".to_string()),
        Event::RestartBlocked { reason, .. } => (Tone::Error, format!("cannot restart: {reason}")),
        Event::Failed { reason, .. } => (Tone::Error, format!("FAILED: {reason}")),
        Event::SpawnFailed {
            error, retry: None, ..
        } => (Tone::Error, format!("cannot start: {error}")),
        Event::SpawnFailed {
            error,
            retry: Some(delay),
            ..
        } => (
            Tone::Warn,
            format!(
                "cannot start: {error}: wrangle itself is short of resources, not the service; \
                 retrying in {} (not counted as a crash)",
                human::duration(*delay)
            ),
        ),
        Event::NotReady {
            timeout,
            last_failure,
            ..
        } => {
            let mut text = format!("not ready after {}", human::duration(*timeout));
            if let Some(failure) = last_failure {
                text.push_str(&format!(" (last probe: {failure})"));
            }
            (Tone::Error, text)
        }
        Event::Stopping { signal, .. } => (Tone::Info, format!("stopping ({})", signal.name())),
        Event::Killing { after, .. } => {
            let text = match after {
                Some(after) => {
                    format!(
                        "still running after {}: sending SIGKILL to its whole tree",
                        human::duration(*after)
                    )
                }
                None => "killing its whole tree (SIGKILL)".to_string(),
            };
            (Tone::Warn, text)
        }
        Event::Stopped { .. } => (Tone::Info, "stopped".to_string()),
        Event::AllReady { count, elapsed } => {
            let noun = if *count == 1 { "service" } else { "services" };
            return Some((
                None,
                Tone::Good,
                format!("all {count} {noun} up in {}", human::duration(*elapsed)),
            ));
        }
        Event::StartupFailed { instance, reason } => {
            return Some((
                None,
                Tone::Error,
                format!("start-up failed: {} {reason}", instance.label(spec)),
            ));
        }
        Event::ShuttingDown { forced: true } => (
            Tone::Warn,
            "stopping now: killing every process (SIGKILL)".into(),
        ),
        Event::ShuttingDown { forced: false } => (Tone::Info, "stopping all services".into()),
        Event::Scaled { from, to, .. } => (
            Tone::Info,
            format!("scaled from {from} to {to} instance{}", plural(*to)),
        ),
        Event::Reloading {
            instances,
            restart: None,
            ..
        } => (
            Tone::Info,
            format!(
                "reloading {instances} instance{}, one at a time (each new one ready before the one it replaces stops)",
                plural(*instances)
            ),
        ),
        Event::Reloading {
            restart: Some(why), ..
        } => (Tone::Warn, format!("reload is a restart: {why}")),
        Event::Reloaded { elapsed, .. } => (
            Tone::Good,
            format!(
                "reloaded in {}: every instance replaced",
                human::duration(*elapsed)
            ),
        ),
        Event::ReloadFailed { reason, .. } => (Tone::Error, format!("reload stopped: {reason}")),
        Event::ScheduleFired { action, .. } => (
            Tone::Info,
            match action {
                ScheduleAction::Start => "its scheduled time: starting".to_string(),
                ScheduleAction::Restart => "its scheduled time: restarting".to_string(),
            },
        ),
        Event::ScheduleSkipped { reason, .. } => (
            Tone::Warn,
            format!("its scheduled time was skipped: {reason}"),
        ),
    };
    Some((event.service(), tone, text))
}

fn plural(count: u32) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The event's name for programs: the API's `kind` and the SSE event name.
pub fn kind(event: &Event) -> &'static str {
    match event {
        Event::Waiting { .. } => "waiting",
        Event::Started { restart: 0, .. } => "started",
        Event::Started { .. } => "restarted",
        Event::Ready { .. } => "ready",
        Event::LeaderExited { .. } => "leader_exited",
        Event::Exited { status, .. } if status.success() => "exited",
        Event::Exited { .. } => "crashed",
        Event::Restarting { .. } => "restarting",
        Event::RestartBlocked { .. } => "restart_blocked",
        Event::MemoryLimitExceeded { .. } => "memory_limit",
        Event::LivenessFailed { .. } => "liveness_failed",
        Event::ReadinessLost { .. } => "readiness_lost",
        Event::ReadinessRestored { .. } => "readiness_restored",
        Event::ResourceWarning {
            resource: Resource::Cpu,
            active: true,
            ..
        } => "cpu_warning",
        Event::ResourceWarning {
            resource: Resource::Memory,
            active: true,
            ..
        } => "memory_warning",
        Event::ResourceWarning {
            resource: Resource::Cpu,
            ..
        } => "cpu_warning_cleared",
        Event::ResourceWarning { .. } => "memory_warning_cleared",
        Event::Failed { .. } => "failed",
        Event::SpawnFailed { .. } => "spawn_failed",
        Event::NotReady { .. } => "not_ready",
        Event::Stopping { .. } => "stopping",
        Event::Killing { .. } => "killing",
        Event::Stopped { .. } => "stopped",
        Event::AllReady { .. } => "all_ready",
        Event::StartupFailed { .. } => "startup_failed",
        Event::ShuttingDown { .. } => "shutting_down",
        Event::Scaled { .. } => "scaled",
        Event::Reloading { .. } => "reloading",
        Event::Reloaded { .. } => "reloaded",
        Event::ReloadFailed { .. } => "reload_failed",
        Event::ScheduleFired { .. } => "scheduled",
        Event::ScheduleSkipped { .. } => "schedule_skipped",
    }
}

impl Observer for Reporter {
    fn event(&self, event: &Event) {
        // Progress-line bookkeeping first, then the words.
        {
            let mut state = self.state.borrow_mut();
            match event {
                Event::Started { instance, .. }
                    if self.spec().services[instance.service].ready.is_some() =>
                {
                    state
                        .waiting_ready
                        .insert(*instance, (Instant::now(), None));
                }
                Event::Ready { instance, .. }
                | Event::Exited { instance, .. }
                | Event::SpawnFailed { instance, .. }
                | Event::NotReady { instance, .. }
                | Event::Stopped { instance, .. } => {
                    state.waiting_ready.remove(instance);
                }
                Event::ShuttingDown { .. } => {
                    state.shutting_down = true;
                    state.waiting_ready.clear();
                }
                _ => {}
            }
        }
        if matches!(
            event,
            Event::AllReady { .. } | Event::StartupFailed { .. } | Event::ShuttingDown { .. }
        ) {
            self.printer.set_status(None);
        }
        if let Some((service, tone, mut text)) = describe(&self.spec(), event) {
            if self.interactive {
                match event {
                    Event::AllReady { .. } => text.push_str("; press Ctrl+C to stop"),
                    Event::ShuttingDown { forced: false } => {
                        text.push_str(" (Ctrl+C again to kill them at once)")
                    }
                    _ => {}
                }
            }
            match (event.instance(), service) {
                (Some(instance), Some(_)) => self.printer.instance_message(instance, tone, &text),
                (None, Some(service)) => self.printer.service_message(service, tone, &text),
                (_, None) => self.printer.message(tone, &text),
            }
        }
        if let Event::StartupFailed { instance, .. } = event {
            self.show_tail(*instance);
        }
        self.tick();
    }

    fn output(&self, instance: InstanceId, stream: Stream, line: &[u8], partial: bool) {
        self.printer.service_line(instance, stream, line, partial);
        let mut state = self.state.borrow_mut();
        let tail = state.tails.entry(instance).or_default();
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

    fn probe_failed(&self, instance: InstanceId, failure: &str) {
        if let Some(entry) = self.state.borrow_mut().waiting_ready.get_mut(&instance) {
            entry.1 = Some(failure.to_string());
        }
    }
}

/// How often the progress line is redrawn while something is starting.
pub const TICK: Duration = Duration::from_millis(200);
