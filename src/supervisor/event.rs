//! The one vocabulary for what happens to a project. The engine emits events; front-ends (the
//! foreground reporter, and the daemon, which turns them into status snapshots, `wire::Event`s for
//! the API and notifications) consume them and never reach into the engine's state.

use std::time::Duration;

use crate::spec::schedule::ScheduleAction;
use crate::spec::{DependencyCondition, Instances, ProjectSpec, ServiceId, Signal};

/// One instance of a service: the service, and the instance's number (`WRANGLE_INSTANCE`, shown
/// as `SERVICE:NUMBER`). At most one process tree runs per instance at any time, so an instance is
/// also what wrangle spawns, watches, samples and signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    pub service: ServiceId,
    pub number: u32,
}

impl InstanceId {
    pub fn new(service: ServiceId, number: u32) -> InstanceId {
        InstanceId { service, number }
    }

    /// `web` for the only instance of a service that has one, `web:2` otherwise.
    pub fn label(self, spec: &ProjectSpec) -> String {
        let service = &spec.services[self.service];
        if self.number == 0 && service.instances == Instances::Count(1) {
            service.name.clone()
        } else {
            format!("{}:{}", service.name, self.number)
        }
    }
}

/// How a process, or a whole service tree, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// The leader exited but other processes of the tree lived on; when they ended, there was no
    /// status of the service as a whole to report.
    Unknown,
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// `code 1`, `signal SIGKILL`, `unknown status`.
    pub fn describe(self) -> String {
        match self {
            Exit::Code(code) => format!("code {code}"),
            Exit::Signal(signal) => format!("signal {}", Signal(signal).name()),
            Exit::Unknown => "unknown status (its processes outlived the main one)".to_string(),
        }
    }
}

/// What a resource warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The service waits for its dependencies to meet their conditions.
    Waiting {
        service: ServiceId,
        dependencies: Vec<(ServiceId, DependencyCondition)>,
    },
    /// The service's process was spawned (`restart` counts restarts, 0 for the first start).
    Started {
        instance: InstanceId,
        pid: i32,
        restart: u32,
    },
    /// The readiness probe passed (or the service has none), `elapsed` after spawn.
    Ready {
        instance: InstanceId,
        elapsed: Duration,
    },
    /// The first process exited but others of its tree live on: the service is still running.
    LeaderExited {
        instance: InstanceId,
        status: Exit,
        survivors: usize,
    },
    /// The whole tree ended without being asked to.
    Exited {
        instance: InstanceId,
        status: Exit,
        uptime: Duration,
    },
    /// The tree grew past `max_memory`; it is being restarted gracefully.
    MemoryLimitExceeded {
        instance: InstanceId,
        reason: String,
    },
    /// The liveness probe (`live`) failed too many times in a row; the instance is being
    /// restarted (or given up on, by the crash-loop rule).
    LivenessFailed {
        instance: InstanceId,
        reason: String,
    },
    /// A resource warning started (`active`) or ended: usage stayed above (or back below) a
    /// `cpu_warn`/`memory_warn` threshold for `warn_after`.
    ResourceWarning {
        instance: InstanceId,
        resource: Resource,
        active: bool,
        message: String,
    },
    /// After readiness, the probe failed [`crate::spec::ReadyProbe::LOST_AFTER`] rechecks in a
    /// row (reported only: the service keeps running).
    ReadinessLost {
        instance: InstanceId,
        failure: String,
    },
    /// A recheck passed again after readiness was lost.
    ReadinessRestored { instance: InstanceId },
    /// A restart is scheduled.
    Restarting {
        instance: InstanceId,
        delay: Duration,
        attempt: u32,
    },
    /// A restart could not even be attempted (e.g. a port held by a stranger).
    RestartBlocked {
        instance: InstanceId,
        reason: String,
    },
    /// wrangle gave up on the service; it will not be restarted.
    Failed {
        instance: InstanceId,
        reason: String,
    },
    /// The command could not be started at all. `retry`: wrangle itself was short of resources
    /// (file descriptors, memory, processes), which says nothing about the service: it tries
    /// again after this delay, counting neither a crash nor a restart.
    SpawnFailed {
        instance: InstanceId,
        error: String,
        retry: Option<Duration>,
    },
    /// The readiness probe did not pass within its timeout.
    NotReady {
        instance: InstanceId,
        timeout: Duration,
        last_failure: Option<String>,
    },
    /// The stop signal was sent to the whole tree.
    Stopping {
        instance: InstanceId,
        signal: Signal,
    },
    /// The tree is being killed with SIGKILL (`after` the stop timeout, or at once on a forced stop).
    Killing {
        instance: InstanceId,
        after: Option<Duration>,
    },
    /// Every process of the service is gone after a stop.
    Stopped {
        instance: InstanceId,
        status: Option<Exit>,
    },
    /// Start-up finished: every selected service is ready (or completed).
    AllReady { count: usize, elapsed: Duration },
    /// Start-up failed because of `service`; everything started is being stopped.
    StartupFailed {
        instance: InstanceId,
        reason: String,
    },
    /// A stop of everything began.
    ShuttingDown { forced: bool },
    /// `wrangle scale`: the service now has `to` instances instead of `from`.
    Scaled {
        service: ServiceId,
        from: u32,
        to: u32,
    },
    /// `wrangle reload` began: a rolling replacement of `instances` instances, one at a time.
    /// `restart`: the service cannot overlap its old and new processes, so it is restarted
    /// instead, and says why.
    Reloading {
        service: ServiceId,
        instances: u32,
        restart: Option<String>,
    },
    /// Every instance of the service was replaced, each new one ready before its predecessor
    /// was stopped.
    Reloaded {
        service: ServiceId,
        elapsed: Duration,
    },
    /// The reload stopped before replacing every instance; the instances not replaced yet keep
    /// serving.
    ReloadFailed { service: ServiceId, reason: String },
    /// A scheduled time of the service came, and it is started (or restarted).
    ScheduleFired {
        service: ServiceId,
        action: ScheduleAction,
    },
    /// A scheduled time of the service came while its previous run went on: it was skipped.
    ScheduleSkipped { service: ServiceId, reason: String },
}

impl Event {
    /// The instance the event is about, for events about one instance.
    pub fn instance(&self) -> Option<InstanceId> {
        match self {
            Event::Started { instance, .. }
            | Event::Ready { instance, .. }
            | Event::LeaderExited { instance, .. }
            | Event::Exited { instance, .. }
            | Event::MemoryLimitExceeded { instance, .. }
            | Event::LivenessFailed { instance, .. }
            | Event::ResourceWarning { instance, .. }
            | Event::ReadinessLost { instance, .. }
            | Event::ReadinessRestored { instance }
            | Event::Restarting { instance, .. }
            | Event::RestartBlocked { instance, .. }
            | Event::Failed { instance, .. }
            | Event::SpawnFailed { instance, .. }
            | Event::NotReady { instance, .. }
            | Event::Stopping { instance, .. }
            | Event::Killing { instance, .. }
            | Event::Stopped { instance, .. }
            | Event::StartupFailed { instance, .. } => Some(*instance),
            Event::Waiting { .. }
            | Event::AllReady { .. }
            | Event::ShuttingDown { .. }
            | Event::Scaled { .. }
            | Event::Reloading { .. }
            | Event::Reloaded { .. }
            | Event::ReloadFailed { .. }
            | Event::ScheduleFired { .. }
            | Event::ScheduleSkipped { .. } => None,
        }
    }

    /// The service the event is about; `None` for project-wide events.
    pub fn service(&self) -> Option<ServiceId> {
        match self {
            Event::Waiting { service, .. }
            | Event::Scaled { service, .. }
            | Event::Reloading { service, .. }
            | Event::Reloaded { service, .. }
            | Event::ReloadFailed { service, .. }
            | Event::ScheduleFired { service, .. }
            | Event::ScheduleSkipped { service, .. } => Some(*service),
            Event::AllReady { .. } | Event::ShuttingDown { .. } => None,
            _ => self.instance().map(|instance| instance.service),
        }
    }
}
