//! The status snapshot the API serves: how the supervisor's state, the resource monitor's
//! figures, probe statistics and log figures become a [`wire::ProjectStatus`].

use std::time::Duration;

use crate::api::wire::{self, ExitInfo, ProjectStatus, ServiceState, ServiceStatus};
use crate::human;
use crate::logs::LogStats;
use crate::spec::{ProjectSpec, ServiceId, Signal};
use crate::stream::Stream;
use crate::supervisor::engine::{Phase, RestartCause};
use crate::supervisor::event::Exit;
use crate::supervisor::monitor::Figures;
use crate::supervisor::runtime::ServiceSnapshot;

/// What the daemon learns besides state: resource samples, probe attempts, start-up times.
/// Kept here so each status snapshot carries them.
pub(super) struct LiveFigures {
    pub(super) resources: Vec<Option<wire::ResourceUsage>>,
    pub(super) warnings: Vec<Vec<String>>,
    /// Rechecks say readiness was lost (and not yet restored) for the current instance.
    pub(super) readiness_lost: Vec<bool>,
    pub(super) probes: Vec<Option<wire::ProbeStats>>,
    pub(super) startup_seconds: Vec<Option<f64>>,
    pub(super) daemon: Option<wire::ResourceUsage>,
    /// The interval of the latest sample.
    pub(super) interval_ms: u64,
}

impl LiveFigures {
    pub(super) fn new(services: usize, interval: Duration) -> LiveFigures {
        LiveFigures {
            resources: vec![None; services],
            warnings: vec![Vec::new(); services],
            readiness_lost: vec![false; services],
            probes: vec![None; services],
            startup_seconds: vec![None; services],
            daemon: None,
            interval_ms: millis(interval),
        }
    }

    /// Copies the figures into a status snapshot.
    pub(super) fn apply(&self, status: &mut ProjectStatus) {
        status.daemon_resources = self.daemon;
        status.sample_interval_ms = self.interval_ms;
        for (service, entry) in status.services.iter_mut().enumerate() {
            let running = entry.pid.is_some();
            entry.resources = self.resources[service].filter(|_| running);
            entry.warnings = if running {
                let mut warnings = self.warnings[service].clone();
                if self.readiness_lost[service] {
                    warnings.push("readiness".to_string());
                }
                warnings
            } else {
                Vec::new()
            };
            entry.probe = self.probes[service];
            entry.startup_seconds = self.startup_seconds[service];
        }
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

/// One service as `ps` shows it.
pub(super) fn service_status(
    spec: &ProjectSpec,
    service: ServiceId,
    snapshot: &ServiceSnapshot,
    log: &LogStats,
) -> ServiceStatus {
    let service_spec = &spec.services[service];
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
        state,
        pid: snapshot.pid,
        started_at: snapshot.started_at.map(human::time),
        restarts: view.restarts,
        last_exit: view.last_exit.map(|exit| match exit {
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
        }),
        ports: service_spec.ports.clone(),
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
    }
}
