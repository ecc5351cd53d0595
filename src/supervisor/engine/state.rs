//! The engine's state: where each service is in its life, with the data that belongs there, and
//! the stage of the whole run.
//!
//! A [`Lifecycle`] variant carries what its phase needs (a backoff knows its timer, a stopping
//! instance knows its kill timer and what comes after it), so a state that makes no sense (a
//! kill timer without a process, a ready service that was never spawned) cannot be written down.
//! The user-facing [`Phase`] is derived from it and never stored.
//!
//! What outlives an instance (restart counts, the crash-loop history, the last exit and the
//! reason shown in `ps`) is in [`ServiceState`] beside the lifecycle. Inputs find the instance
//! they are about by its generation, never by "the current one": a service with several
//! instances at once (replicas, or a new one started before the old one stops) holds one
//! lifecycle per instance, and the transitions stay the same.

use std::time::{Duration, Instant};

use crate::supervisor::engine::restart_rule::CrashLoop;
use crate::supervisor::engine::{Phase, RestartCause, RestartCounts};
use crate::supervisor::event::Exit;

/// Where one service is in its life. Each variant is one row of the transition table in
/// `engine.rs`; the live ones (`Starting`, `Running`, `StopQueued`, `Stopping`) hold the
/// [`Instance`] whose processes are alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lifecycle {
    /// Not part of this run.
    Inactive,
    /// Waiting for its dependencies to meet their conditions.
    Waiting,
    /// Instance `generation` was decided but has no process yet: its ports are being awaited (on
    /// a restart), then it is spawned. `shortages` counts the spawns before it that failed for
    /// lack of wrangle's own resources (the retry delay grows with it).
    Launching { generation: u64, shortages: u32 },
    /// Spawned; its readiness probe has not passed yet.
    Starting(Instance),
    /// Ready (or spawned, when it has no probe).
    Running(Instance),
    /// A user asked it to stop (directly, or because something it depends on was stopped): it is
    /// stopped once nothing that depends on it is alive, and runs until then.
    StopQueued { instance: Instance, ready: bool },
    /// Its stop signal was sent; it waits for the tree to be gone. `kill_timer` is the sequence
    /// of the timer that sends SIGKILL (`None` once SIGKILL was sent); `then` says what happens
    /// once the tree is gone.
    Stopping {
        instance: Instance,
        ready: bool,
        kill_timer: Option<u64>,
        then: AfterStop,
    },
    /// Waiting for timer `timer` to start it again. `shortages` as in `Launching`.
    Backoff { timer: u64, shortages: u32 },
    /// Ended on its own and will not be restarted.
    Exited(Exit),
    /// Given up on: a crash loop, or a failure with no restart.
    Failed,
    /// Stopped on request.
    Stopped,
}

/// What happens once the tree of a stopping instance is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterStop {
    /// Stay stopped.
    Stay,
    /// The restart policy decides, as after a crash: it lost its chance to become ready (the
    /// readiness timeout passed after start-up).
    Recover,
    /// Start it again at once: a requested restart, for this cause.
    Respawn(RestartCause),
    /// Mark it failed (the reason is already in [`ServiceState::reason`]): a limit was exceeded
    /// too often.
    GiveUp,
}

/// One instance of a service: the processes of one spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Instance {
    /// Inputs about this instance carry it; inputs about another generation are stale.
    pub(super) generation: u64,
    pub(super) spawned_at: Instant,
    pub(super) leader: Leader,
}

/// The instance's first process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leader {
    Alive,
    /// It exited with `status`; `outlived` when other processes of its tree lived on (a
    /// daemonizing service), so its status is not the service's.
    Exited {
        status: Exit,
        outlived: bool,
    },
}

impl Instance {
    pub(super) fn new(generation: u64, spawned_at: Instant) -> Instance {
        Instance {
            generation,
            spawned_at,
            leader: Leader::Alive,
        }
    }

    /// The leader's exit status, if it exited.
    pub(super) fn leader_status(&self) -> Option<Exit> {
        match self.leader {
            Leader::Alive => None,
            Leader::Exited { status, .. } => Some(status),
        }
    }

    /// How the instance as a whole ended, once its tree is gone: its leader's status, unless
    /// other processes outlived the leader (then nothing reports the service's status).
    pub(super) fn end_status(&self) -> Exit {
        match self.leader {
            Leader::Exited {
                status,
                outlived: false,
            } => status,
            _ => Exit::Unknown,
        }
    }

    pub(super) fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.spawned_at)
    }
}

impl Lifecycle {
    /// The phase users see (ps, events, API).
    pub(super) fn phase(&self) -> Phase {
        match self {
            Lifecycle::Inactive => Phase::Inactive,
            Lifecycle::Waiting => Phase::Waiting,
            Lifecycle::Launching { .. } | Lifecycle::Starting(_) => Phase::Starting,
            Lifecycle::StopQueued { ready: false, .. } => Phase::Starting,
            Lifecycle::Running(_) | Lifecycle::StopQueued { ready: true, .. } => Phase::Running,
            Lifecycle::Stopping { .. } => Phase::Stopping,
            Lifecycle::Backoff { .. } => Phase::Backoff,
            Lifecycle::Exited(exit) => Phase::Exited(*exit),
            Lifecycle::Failed => Phase::Failed,
            Lifecycle::Stopped => Phase::Stopped,
        }
    }

    /// The live instance, whose processes run.
    pub(super) fn instance(&self) -> Option<&Instance> {
        match self {
            Lifecycle::Starting(instance)
            | Lifecycle::Running(instance)
            | Lifecycle::StopQueued { instance, .. }
            | Lifecycle::Stopping { instance, .. } => Some(instance),
            _ => None,
        }
    }

    pub(super) fn instance_mut(&mut self) -> Option<&mut Instance> {
        match self {
            Lifecycle::Starting(instance)
            | Lifecycle::Running(instance)
            | Lifecycle::StopQueued { instance, .. }
            | Lifecycle::Stopping { instance, .. } => Some(instance),
            _ => None,
        }
    }

    /// The live instance, if it is instance `generation`: inputs about any other are stale.
    pub(super) fn instance_of(&self, generation: u64) -> Option<Instance> {
        self.instance()
            .filter(|instance| instance.generation == generation)
            .copied()
    }

    /// The live instance and its readiness, unless it is already stopping.
    pub(super) fn stoppable(&self) -> Option<(Instance, bool)> {
        match *self {
            Lifecycle::Starting(instance) => Some((instance, false)),
            Lifecycle::Running(instance) => Some((instance, true)),
            Lifecycle::StopQueued { instance, ready } => Some((instance, ready)),
            _ => None,
        }
    }

    /// Changes what follows the stop of a stopping instance (nothing otherwise).
    pub(super) fn set_after_stop(&mut self, after_stop: AfterStop) {
        if let Lifecycle::Stopping { then, .. } = self {
            *then = after_stop;
        }
    }

    /// Whether processes of the service are alive.
    pub(super) fn alive(&self) -> bool {
        self.instance().is_some()
    }

    /// Whether the live instance's readiness probe has passed (or it has none).
    pub(super) fn ready(&self) -> bool {
        matches!(
            self,
            Lifecycle::Running(_)
                | Lifecycle::StopQueued { ready: true, .. }
                | Lifecycle::Stopping { ready: true, .. }
        )
    }

    /// Ended, and nothing will start it again unless asked.
    pub(super) fn ended(&self) -> bool {
        matches!(
            self,
            Lifecycle::Inactive | Lifecycle::Exited(_) | Lifecycle::Failed | Lifecycle::Stopped
        )
    }
}

/// One service: its lifecycle, and what outlives each instance.
#[derive(Debug, Clone)]
pub(super) struct ServiceState {
    pub(super) lifecycle: Lifecycle,
    /// The generation of the latest instance decided: each spawn takes the next one.
    pub(super) generation: u64,
    /// The sequence of the latest timer armed: each timer takes the next one.
    pub(super) timer_sequence: u64,
    /// The latest instance exited with status 0 on its own (the `completed` condition); false
    /// again once a new instance is decided.
    pub(super) completed: bool,
    pub(super) restarts: u32,
    pub(super) restart_causes: RestartCounts,
    /// Why the latest restart happened, for humans.
    pub(super) last_restart_reason: Option<String>,
    pub(super) crash_loop: CrashLoop,
    /// How the last instance ended.
    pub(super) last_exit: Option<Exit>,
    /// Why it failed or could not be (re)started, until it is ready again.
    pub(super) reason: Option<String>,
}

impl ServiceState {
    pub(super) fn new() -> ServiceState {
        ServiceState {
            lifecycle: Lifecycle::Inactive,
            generation: 0,
            timer_sequence: 0,
            completed: false,
            restarts: 0,
            restart_causes: RestartCounts::default(),
            last_restart_reason: None,
            crash_loop: CrashLoop::default(),
            last_exit: None,
            reason: None,
        }
    }

    /// The sequence for a new timer; a timer armed earlier no longer matches anything.
    pub(super) fn next_timer(&mut self) -> u64 {
        self.timer_sequence += 1;
        self.timer_sequence
    }

    pub(super) fn record_restart(&mut self, cause: RestartCause) {
        self.restarts += 1;
        self.restart_causes.record(cause);
    }
}

/// Where the whole run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Before `Start`.
    Idle,
    /// Starting the selected services: any failure fails the whole run.
    StartingUp { began: Instant },
    /// Start-up is over: crashes follow each service's restart policy.
    Running,
    /// Stopping everything in reverse dependency order; exits with `code` once nothing is
    /// alive. `forced`: SIGKILL was sent to everything.
    ShuttingDown { code: u8, forced: bool },
    /// `Effect::Exit` was emitted; nothing more happens.
    Done,
}
