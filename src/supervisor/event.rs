//! The one vocabulary for what happens to a project. The engine emits events; front-ends (the
//! foreground reporter, and the daemon, which turns them into status snapshots, `wire::Event`s for
//! the API and notifications) consume them and never reach into the engine's state.

use std::time::Duration;

use crate::spec::{DependencyCondition, ServiceId, Signal};

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
        service: ServiceId,
        pid: i32,
        restart: u32,
    },
    /// The readiness probe passed (or the service has none), `elapsed` after spawn.
    Ready {
        service: ServiceId,
        elapsed: Duration,
    },
    /// The first process exited but others of its tree live on: the service is still running.
    LeaderExited {
        service: ServiceId,
        status: Exit,
        survivors: usize,
    },
    /// The whole tree ended without being asked to.
    Exited {
        service: ServiceId,
        status: Exit,
        uptime: Duration,
    },
    /// The tree grew past `max_memory`; it is being restarted gracefully.
    MemoryLimitExceeded { service: ServiceId, reason: String },
    /// A resource warning started (`active`) or ended: usage stayed above (or back below) a
    /// `cpu_warn`/`memory_warn` threshold for `warn_after`.
    ResourceWarning {
        service: ServiceId,
        resource: Resource,
        active: bool,
        message: String,
    },
    /// After readiness, the probe failed [`crate::spec::ReadyProbe::LOST_AFTER`] rechecks in a
    /// row (reported only: the service keeps running).
    ReadinessLost { service: ServiceId, failure: String },
    /// A recheck passed again after readiness was lost.
    ReadinessRestored { service: ServiceId },
    /// A restart is scheduled.
    Restarting {
        service: ServiceId,
        delay: Duration,
        attempt: u32,
    },
    /// A restart could not even be attempted (e.g. a port held by a stranger).
    RestartBlocked { service: ServiceId, reason: String },
    /// wrangle gave up on the service; it will not be restarted.
    Failed { service: ServiceId, reason: String },
    /// The command could not be started at all. `retry`: wrangle itself was short of resources
    /// (file descriptors, memory, processes), which says nothing about the service: it tries
    /// again after this delay, counting neither a crash nor a restart.
    SpawnFailed {
        service: ServiceId,
        error: String,
        retry: Option<Duration>,
    },
    /// The readiness probe did not pass within its timeout.
    NotReady {
        service: ServiceId,
        timeout: Duration,
        last_failure: Option<String>,
    },
    /// The stop signal was sent to the whole tree.
    Stopping { service: ServiceId, signal: Signal },
    /// The tree is being killed with SIGKILL (`after` the stop timeout, or at once on a forced stop).
    Killing {
        service: ServiceId,
        after: Option<Duration>,
    },
    /// Every process of the service is gone after a stop.
    Stopped {
        service: ServiceId,
        status: Option<Exit>,
    },
    /// Start-up finished: every selected service is ready (or completed).
    AllReady { count: usize, elapsed: Duration },
    /// Start-up failed because of `service`; everything started is being stopped.
    StartupFailed { service: ServiceId, reason: String },
    /// A stop of everything began.
    ShuttingDown { forced: bool },
}
