//! The status snapshot the API serves: how the supervisor's state, the resource monitor's
//! figures, probe statistics and log figures become a [`wire::ProjectStatus`].

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::api::wire::{self, ExitInfo, ProjectStatus, ServiceState, ServiceStatus};
use crate::human;
use crate::logs::LogStats;
use crate::spec::{ProjectSpec, Signal};
use crate::stream::Stream;
use crate::supervisor::engine::{Phase, RestartCause};
use crate::supervisor::event::{Exit, InstanceId};
use crate::supervisor::monitor::Figures;
use crate::supervisor::runtime::InstanceSnapshot;

/// What the daemon learns besides state: resource samples, probe attempts, start-up times, per
/// instance. Kept here so each status snapshot carries them.
pub(super) struct LiveFigures {
    pub(super) resources: HashMap<InstanceId, wire::ResourceUsage>,
    pub(super) warnings: HashMap<InstanceId, Vec<String>>,
    /// Rechecks say readiness was lost (and not yet restored) for the instance's current tree.
    pub(super) readiness_lost: HashSet<InstanceId>,
    pub(super) probes: HashMap<InstanceId, wire::ProbeStats>,
    pub(super) startup_seconds: HashMap<InstanceId, f64>,
    pub(super) daemon: Option<wire::ResourceUsage>,
    /// The interval of the latest sample.
    pub(super) interval_ms: u64,
    /// The instance of each entry of the status's `services`, in order.
    pub(super) order: Vec<InstanceId>,
}

impl LiveFigures {
    pub(super) fn new(interval: Duration) -> LiveFigures {
        LiveFigures {
            resources: HashMap::new(),
            warnings: HashMap::new(),
            readiness_lost: HashSet::new(),
            probes: HashMap::new(),
            startup_seconds: HashMap::new(),
            daemon: None,
            interval_ms: millis(interval),
            order: Vec::new(),
        }
    }

    /// Copies the figures into a status snapshot.
    pub(super) fn apply(&self, status: &mut ProjectStatus) {
        status.daemon_resources = self.daemon;
        status.sample_interval_ms = self.interval_ms;
        for (entry, id) in status.services.iter_mut().zip(&self.order) {
            let running = entry.pid.is_some();
            entry.resources = self.resources.get(id).copied().filter(|_| running);
            entry.warnings = if running {
                let mut warnings = self.warnings.get(id).cloned().unwrap_or_default();
                if self.readiness_lost.contains(id) {
                    warnings.push("readiness".to_string());
                }
                warnings
            } else {
                Vec::new()
            };
            entry.probe = self.probes.get(id).copied();
            entry.startup_seconds = self.startup_seconds.get(id).copied();
        }
    }
}

/// An exit status as the API shows it.
pub(super) fn exit_info(exit: Exit) -> ExitInfo {
    match exit {
        Exit::Code(code) => ExitInfo {
            code: Some(code),
            signal: None,
        },
        Exit::Signal(signal) => ExitInfo {
            code: None,
            signal: Some(Signal(signal).name()),
        },
        Exit::Unknown => ExitInfo {
            code: None,
            signal: None,
        },
    }
}

pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A sample's figures as the API shows them.
pub(super) fn wire_usage(figures: &Figures) -> wire::ResourceUsage {
    wire::ResourceUsage {
        cpu_percent: figures.rates.cpu_percent_of_core,
        cpu_machine_percent: figures.rates.cpu_percent_of_machine,
        cpu_seconds: figures.cpu_seconds,
        memory_bytes: figures.usage.rss_bytes,
        processes: figures.usage.processes,
        threads: figures.usage.threads,
        open_fds: figures.usage.open_fds,
    }
}

pub(super) fn wire_stream(stream: Stream) -> wire::LogStream {
    match stream {
        Stream::Stdout => wire::LogStream::Stdout,
        Stream::Stderr => wire::LogStream::Stderr,
    }
}

/// One instance as `ps` shows it.
pub(super) fn service_status(
    spec: &ProjectSpec,
    snapshot: &InstanceSnapshot,
    log: &LogStats,
) -> ServiceStatus {
    let service_spec = &spec.services[snapshot.view.id.service];
    let view = &snapshot.view;
    let state = match view.phase {
        Phase::Inactive => ServiceState::Inactive,
        Phase::Waiting => ServiceState::Waiting,
        Phase::Starting => ServiceState::Starting,
        Phase::Running if service_spec.ready.is_some() => ServiceState::Ready,
        Phase::Running => ServiceState::Running,
        Phase::Backoff => ServiceState::Backoff,
        Phase::Stopping => ServiceState::Stopping,
        Phase::Exited(exit) if exit.success() => ServiceState::Exited,
        Phase::Exited(_) => ServiceState::Crashed,
        Phase::Failed => ServiceState::Failed,
        Phase::Stopped => ServiceState::Stopped,
    };
    ServiceStatus {
        name: service_spec.name.clone(),
        instance: view.id.number,
        instances: snapshot.wanted,
        reloading: snapshot.reloading,
        state,
        pid: snapshot.pid,
        started_at: snapshot.started_at.map(human::time),
        restarts: view.restarts,
        last_exit: view.last_exit.map(exit_info),
        ports: service_spec.ports.clone(),
        sockets: service_spec
            .sockets
            .iter()
            .map(|id| {
                let socket = &spec.sockets[*id];
                format!("{}={}", socket.name, socket.listen.describe())
            })
            .collect(),
        readiness: service_spec
            .ready
            .as_ref()
            .map(|probe| probe.check.describe()),
        reason: view.reason.clone(),
        log_lines_dropped: log.lines_dropped,
        log_error: log.failing.then(|| log.last_error.clone()).flatten(),
        log_bytes: log.bytes_written,
        resources: None,
        restarts_by_cause: RestartCause::ALL
            .iter()
            .filter(|cause| view.restart_causes.get(**cause) > 0)
            .map(|cause| (cause.as_str().to_string(), view.restart_causes.get(*cause)))
            .collect(),
        last_restart_reason: view.last_restart_reason.clone(),
        startup_seconds: None,
        probe: None,
        warnings: Vec::new(),
        next_run: service_spec
            .schedule
            .as_ref()
            .filter(|_| view.scheduled)
            .and_then(|schedule| schedule.next_local(std::time::SystemTime::now()))
            .map(human::time),
    }
}
