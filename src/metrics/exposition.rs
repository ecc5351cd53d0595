//! The metric families: their names, types, labels and help, and how each is computed from a
//! [`ProjectStatus`] snapshot. Pure functions of the snapshot; [`SnapshotCollector`] hands them
//! to `prometheus-client` at scrape time.
//!
//! Names follow Prometheus conventions: a `wrangle_` prefix, base units (`_seconds`, `_bytes`),
//! `_total` on counters, a `service` label on per-service families (`NAME:INSTANCE`, one series
//! per instance, for a service that has several). A family whose value is not known for a
//! service (no resource sample yet, no probe, never exited) has no sample for it.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use tokio::sync::watch;

use crate::api::wire::{ProjectStatus, ResourceUsage, ServiceState, ServiceStatus};
use crate::human;

/// A metric family as exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The name of its samples (a counter's ends in `_total`).
    pub name: &'static str,
    pub kind: Kind,
    /// Its label names, in order.
    pub labels: &'static [&'static str],
    /// Its `# HELP` text (one line; no backslashes).
    pub help: &'static str,
}

/// The metric types wrangle exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

const BUILD_INFO: Family = Family {
    name: "wrangle_build_info",
    kind: Kind::Gauge,
    labels: &["version"],
    help: "Always 1; the version of the wrangle daemon serving these metrics",
};
const PROJECT_INFO: Family = Family {
    name: "wrangle_project_info",
    kind: Kind::Gauge,
    labels: &["project", "config"],
    help: "Always 1; the project this daemon runs: its name and config file",
};
const DAEMON_START_TIME: Family = Family {
    name: "wrangle_daemon_start_time_seconds",
    kind: Kind::Gauge,
    labels: &[],
    help: "When the daemon started, in seconds since the Unix epoch",
};
const DAEMON_CPU: Family = Family {
    name: "wrangle_daemon_cpu_seconds_total",
    kind: Kind::Counter,
    labels: &[],
    help: "CPU time used by the daemon and its helper process, in seconds",
};
const DAEMON_MEMORY: Family = Family {
    name: "wrangle_daemon_resident_memory_bytes",
    kind: Kind::Gauge,
    labels: &[],
    help: "Resident memory of the daemon and its helper process, in bytes",
};
const DAEMON_PROCESSES: Family = Family {
    name: "wrangle_daemon_processes",
    kind: Kind::Gauge,
    labels: &[],
    help: "Processes of the daemon: itself and its helper",
};
const DAEMON_THREADS: Family = Family {
    name: "wrangle_daemon_threads",
    kind: Kind::Gauge,
    labels: &[],
    help: "Threads of the daemon and its helper process",
};
const DAEMON_OPEN_FDS: Family = Family {
    name: "wrangle_daemon_open_fds",
    kind: Kind::Gauge,
    labels: &[],
    help: "Open file descriptors of the daemon and its helper process",
};
const SERVICE_STATE: Family = Family {
    name: "wrangle_service_state",
    kind: Kind::Gauge,
    labels: &["service", "state"],
    help: "1 for the state the service is in, 0 for every other state",
};
const SERVICE_UP: Family = Family {
    name: "wrangle_service_up",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "1 while the service runs and is ready (state running or ready), else 0",
};
const SERVICE_START_TIME: Family = Family {
    name: "wrangle_service_start_time_seconds",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "When the current instance of the service was spawned, in seconds since the Unix epoch",
};
const SERVICE_RESTARTS: Family = Family {
    name: "wrangle_service_restarts_total",
    kind: Kind::Counter,
    labels: &["service", "cause"],
    help: "Restarts since the daemon started, by cause (crash, manual, dependency, memory_limit, liveness)",
};
const SERVICE_LAST_EXIT_CODE: Family = Family {
    name: "wrangle_service_last_exit_code",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "Exit code of the service's previous instance, when it exited with a code",
};
const SERVICE_LAST_EXIT_SIGNAL: Family = Family {
    name: "wrangle_service_last_exit_signal",
    kind: Kind::Gauge,
    labels: &["service", "signal"],
    help: "1, labelled with the signal that ended the service's previous instance, when one did",
};
const SERVICE_CPU: Family = Family {
    name: "wrangle_service_cpu_seconds_total",
    kind: Kind::Counter,
    labels: &["service"],
    help: "CPU time used by the service's process tree (current instance), in seconds",
};
const SERVICE_MEMORY: Family = Family {
    name: "wrangle_service_resident_memory_bytes",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "Resident memory of the service's whole process tree, in bytes",
};
const SERVICE_PROCESSES: Family = Family {
    name: "wrangle_service_processes",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "Live processes in the service's tree",
};
const SERVICE_THREADS: Family = Family {
    name: "wrangle_service_threads",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "Threads in the service's process tree",
};
const SERVICE_OPEN_FDS: Family = Family {
    name: "wrangle_service_open_fds",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "Open file descriptors in the service's process tree",
};
const SERVICE_WARNING: Family = Family {
    name: "wrangle_service_warning",
    kind: Kind::Gauge,
    labels: &["service", "warning"],
    help: "1 while a warning (cpu, memory, readiness) is in force for the service, else 0",
};
const SERVICE_PROBE_LATENCY: Family = Family {
    name: "wrangle_service_readiness_probe_latency_seconds",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "How long the latest readiness probe attempt took, in seconds",
};
const SERVICE_PROBE_FAILURES: Family = Family {
    name: "wrangle_service_readiness_probe_failures_total",
    kind: Kind::Counter,
    labels: &["service"],
    help: "Readiness probe attempts that failed",
};
const SERVICE_PROBE_SUCCESSES: Family = Family {
    name: "wrangle_service_readiness_probe_successes_total",
    kind: Kind::Counter,
    labels: &["service"],
    help: "Readiness probe attempts that passed",
};
const SERVICE_STARTUP: Family = Family {
    name: "wrangle_service_startup_duration_seconds",
    kind: Kind::Gauge,
    labels: &["service"],
    help: "Seconds from spawn until the current (or last) instance was ready",
};
const SERVICE_LOG_BYTES: Family = Family {
    name: "wrangle_service_log_bytes_total",
    kind: Kind::Counter,
    labels: &["service"],
    help: "Bytes of service output written to its log files",
};
const SERVICE_LOG_DROPPED: Family = Family {
    name: "wrangle_service_log_lines_dropped_total",
    kind: Kind::Counter,
    labels: &["service"],
    help: "Output lines that could not be written to the log files and were dropped",
};

/// Every family, in the order they are exposed.
pub const FAMILIES: &[Family] = &[
    BUILD_INFO,
    PROJECT_INFO,
    DAEMON_START_TIME,
    DAEMON_CPU,
    DAEMON_MEMORY,
    DAEMON_PROCESSES,
    DAEMON_THREADS,
    DAEMON_OPEN_FDS,
    SERVICE_STATE,
    SERVICE_UP,
    SERVICE_START_TIME,
    SERVICE_RESTARTS,
    SERVICE_LAST_EXIT_CODE,
    SERVICE_LAST_EXIT_SIGNAL,
    SERVICE_CPU,
    SERVICE_MEMORY,
    SERVICE_PROCESSES,
    SERVICE_THREADS,
    SERVICE_OPEN_FDS,
    SERVICE_WARNING,
    SERVICE_PROBE_LATENCY,
    SERVICE_PROBE_FAILURES,
    SERVICE_PROBE_SUCCESSES,
    SERVICE_STARTUP,
    SERVICE_LOG_BYTES,
    SERVICE_LOG_DROPPED,
];

/// Every state, for `wrangle_service_state` (one sample per state and service).
pub const STATES: [ServiceState; 11] = [
    ServiceState::Waiting,
    ServiceState::Starting,
    ServiceState::Ready,
    ServiceState::Running,
    ServiceState::Stopping,
    ServiceState::Stopped,
    ServiceState::Exited,
    ServiceState::Crashed,
    ServiceState::Backoff,
    ServiceState::Failed,
    ServiceState::Inactive,
];

/// Restart causes always exposed (from 0), so `increase()` sees the first restart of each.
/// Causes the snapshot carries beyond these are exposed too.
pub const RESTART_CAUSES: [&str; 5] = ["crash", "manual", "dependency", "memory_limit", "liveness"];

/// Warning kinds always exposed (0 or 1); kinds the snapshot carries beyond these are exposed
/// too.
pub const WARNINGS: [&str; 3] = ["cpu", "memory", "readiness"];

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

/// One sample of a family: its label values (in the family's label order) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<String>,
    pub value: Value,
}

/// The samples of every family that has at least one, in [`FAMILIES`] order.
pub fn samples(status: &ProjectStatus, version: &str) -> Vec<(Family, Vec<Sample>)> {
    let services = &status.services;
    let mut families: Vec<(Family, Vec<Sample>)> = Vec::new();
    let mut add = |family: Family, samples: Vec<Sample>| {
        if !samples.is_empty() {
            families.push((family, samples));
        }
    };
    let single = |value: Option<Value>| -> Vec<Sample> {
        value
            .filter(is_finite)
            .map(|value| Sample {
                labels: Vec::new(),
                value,
            })
            .into_iter()
            .collect()
    };
    let daemon = status.daemon_resources.as_ref();

    add(BUILD_INFO, vec![sample(&[version], Value::Unsigned(1))]);
    add(
        PROJECT_INFO,
        vec![sample(&[&status.name, &status.project], Value::Unsigned(1))],
    );
    add(
        DAEMON_START_TIME,
        single(epoch_seconds(&status.started_at).map(Value::Float)),
    );
    add(DAEMON_CPU, single(daemon.map(cpu)));
    add(DAEMON_MEMORY, single(daemon.map(memory)));
    add(DAEMON_PROCESSES, single(daemon.map(processes)));
    add(DAEMON_THREADS, single(daemon.map(threads)));
    add(DAEMON_OPEN_FDS, single(daemon.map(open_fds)));

    add(
        SERVICE_STATE,
        services
            .iter()
            .flat_map(|service| {
                STATES.iter().map(move |state| {
                    sample(
                        &[&service.label(), &state.to_string()],
                        Value::Unsigned(u64::from(service.state == *state)),
                    )
                })
            })
            .collect(),
    );
    add(
        SERVICE_UP,
        per_service(services, |service| {
            let up = matches!(service.state, ServiceState::Running | ServiceState::Ready);
            Some(Value::Unsigned(u64::from(up)))
        }),
    );
    add(
        SERVICE_START_TIME,
        per_service(services, |service| {
            let started_at = service.started_at.as_deref()?;
            epoch_seconds(started_at).map(Value::Float)
        }),
    );
    add(
        SERVICE_RESTARTS,
        services
            .iter()
            .flat_map(|service| {
                let extra = service
                    .restarts_by_cause
                    .keys()
                    .map(String::as_str)
                    .filter(|cause| !RESTART_CAUSES.contains(cause));
                RESTART_CAUSES.into_iter().chain(extra).map(move |cause| {
                    let count = service.restarts_by_cause.get(cause).copied().unwrap_or(0);
                    sample(
                        &[&service.label(), cause],
                        Value::Unsigned(u64::from(count)),
                    )
                })
            })
            .collect(),
    );
    add(
        SERVICE_LAST_EXIT_CODE,
        per_service(services, |service| {
            let code = service.last_exit.as_ref()?.code?;
            Some(Value::Signed(i64::from(code)))
        }),
    );
    add(
        SERVICE_LAST_EXIT_SIGNAL,
        services
            .iter()
            .filter_map(|service| {
                let signal = service.last_exit.as_ref()?.signal.as_deref()?;
                Some(sample(&[&service.label(), signal], Value::Unsigned(1)))
            })
            .collect(),
    );
    let usage = |service: &ServiceStatus| service.resources;
    add(
        SERVICE_CPU,
        per_service(services, |s| usage(s).map(|u| cpu(&u))),
    );
    add(
        SERVICE_MEMORY,
        per_service(services, |s| usage(s).map(|u| memory(&u))),
    );
    add(
        SERVICE_PROCESSES,
        per_service(services, |s| usage(s).map(|u| processes(&u))),
    );
    add(
        SERVICE_THREADS,
        per_service(services, |s| usage(s).map(|u| threads(&u))),
    );
    add(
        SERVICE_OPEN_FDS,
        per_service(services, |s| usage(s).map(|u| open_fds(&u))),
    );
    add(
        SERVICE_WARNING,
        services
            .iter()
            .flat_map(|service| {
                let extra = service
                    .warnings
                    .iter()
                    .map(String::as_str)
                    .filter(|warning| !WARNINGS.contains(warning));
                WARNINGS.into_iter().chain(extra).map(move |resource| {
                    let active = service.warnings.iter().any(|warning| warning == resource);
                    sample(
                        &[&service.label(), resource],
                        Value::Unsigned(u64::from(active)),
                    )
                })
            })
            .collect(),
    );
    add(
        SERVICE_PROBE_LATENCY,
        per_service(services, |service| {
            service.probe?.last_latency_seconds.map(Value::Float)
        }),
    );
    add(
        SERVICE_PROBE_FAILURES,
        per_service(services, |service| {
            service.probe.map(|probe| Value::Unsigned(probe.failures))
        }),
    );
    add(
        SERVICE_PROBE_SUCCESSES,
        per_service(services, |service| {
            service.probe.map(|probe| Value::Unsigned(probe.successes))
        }),
    );
    add(
        SERVICE_STARTUP,
        per_service(services, |service| {
            service.startup_seconds.map(Value::Float)
        }),
    );
    add(
        SERVICE_LOG_BYTES,
        per_service(services, |service| Some(Value::Unsigned(service.log_bytes))),
    );
    add(
        SERVICE_LOG_DROPPED,
        per_service(services, |service| {
            Some(Value::Unsigned(service.log_lines_dropped))
        }),
    );
    families
}

fn sample(labels: &[&str], value: Value) -> Sample {
    Sample {
        labels: labels.iter().map(|label| label.to_string()).collect(),
        value,
    }
}

/// One sample per service whose value is known (and finite), labelled with its name.
fn per_service(
    services: &[ServiceStatus],
    value: impl Fn(&ServiceStatus) -> Option<Value>,
) -> Vec<Sample> {
    services
        .iter()
        .filter_map(|service| {
            let value = value(service).filter(is_finite)?;
            Some(sample(&[&service.label()], value))
        })
        .collect()
}

/// NaN and infinities would be valid in the format but mean nothing here: such a sample is left
/// out, like an unknown one.
fn is_finite(value: &Value) -> bool {
    match value {
        Value::Float(value) => value.is_finite(),
        Value::Unsigned(_) | Value::Signed(_) => true,
    }
}

fn cpu(usage: &ResourceUsage) -> Value {
    Value::Float(usage.cpu_seconds)
}

fn memory(usage: &ResourceUsage) -> Value {
    Value::Unsigned(usage.memory_bytes)
}

fn processes(usage: &ResourceUsage) -> Value {
    Value::Unsigned(u64::from(usage.processes))
}

fn threads(usage: &ResourceUsage) -> Value {
    Value::Unsigned(u64::from(usage.threads))
}

fn open_fds(usage: &ResourceUsage) -> Value {
    Value::Unsigned(u64::from(usage.open_fds))
}

/// An API time (RFC 3339) as seconds since the Unix epoch.
fn epoch_seconds(time: &str) -> Option<f64> {
    let time = human::parse_time(time)?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

/// Reads the latest snapshot at each scrape and encodes its families.
#[derive(Debug)]
pub struct SnapshotCollector {
    status: watch::Receiver<Arc<ProjectStatus>>,
    version: &'static str,
}

impl SnapshotCollector {
    pub fn new(status: watch::Receiver<Arc<ProjectStatus>>, version: &'static str) -> Self {
        SnapshotCollector { status, version }
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        // Hold the snapshot, not the channel's lock, while encoding.
        let status = Arc::clone(&self.status.borrow());
        for (family, samples) in samples(&status, self.version) {
            let (name, metric_type) = match family.kind {
                // prometheus-client appends `_total` to a counter's samples itself.
                Kind::Counter => (
                    family.name.strip_suffix("_total").unwrap_or(family.name),
                    MetricType::Counter,
                ),
                Kind::Gauge => (family.name, MetricType::Gauge),
            };
            let mut metric = encoder.encode_descriptor(name, family.help, None, metric_type)?;
            if family.labels.is_empty() {
                // One sample, written without braces (`name 1`, not `name{} 1`).
                if let Some(sample) = samples.first() {
                    encode_value(family.kind, sample.value, metric)?;
                }
                continue;
            }
            for sample in &samples {
                let labels: Vec<(&str, &str)> = family
                    .labels
                    .iter()
                    .copied()
                    .zip(sample.labels.iter().map(String::as_str))
                    .collect();
                encode_value(family.kind, sample.value, metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn encode_value(
    kind: Kind,
    value: Value,
    encoder: MetricEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    match (kind, value) {
        (Kind::Counter, Value::Unsigned(value)) => ConstCounter::new(value).encode(encoder),
        (Kind::Counter, Value::Float(value)) => ConstCounter::new(value).encode(encoder),
        // A counter is never negative; nothing computes one.
        (Kind::Counter, Value::Signed(value)) => {
            ConstCounter::new(u64::try_from(value).unwrap_or(0)).encode(encoder)
        }
        (Kind::Gauge, Value::Unsigned(value)) => ConstGauge::new(value).encode(encoder),
        (Kind::Gauge, Value::Signed(value)) => ConstGauge::new(value).encode(encoder),
        (Kind::Gauge, Value::Float(value)) => ConstGauge::new(value).encode(encoder),
    }
}
