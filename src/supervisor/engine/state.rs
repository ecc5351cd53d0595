//! The engine's state: where each instance of each service is in its life, with the data that
//! belongs there, and the stage of the whole run.
//!
//! A [`Lifecycle`] variant carries what its phase needs (a backoff knows its timer, a stopping
//! tree knows its kill timer and what comes after it), so a state that makes no sense (a kill
//! timer without a process, a ready instance that was never spawned) cannot be written down. The
//! user-facing [`Phase`] is derived from it and never stored.
//!
//! A service has one or more instances ([`InstanceState`], numbered as `WRANGLE_INSTANCE`),
//! each with its own lifecycle; one process [`Tree`] at most runs per instance at a time. What
//! outlives a tree (restart counts, the crash-loop history, the last exit and the reason shown in
//! `ps`) is kept per instance beside its lifecycle; the counters that name trees and timers
//! (`generation`, `timer_sequence`) are per service, so a generation or a timer sequence alone
//! finds its instance among the service's. Inputs find the tree they are about by its
//! generation, never by "the current one".

use std::time::{Duration, Instant};

use crate::supervisor::engine::reload::Reload;
use crate::supervisor::engine::restart_rule::CrashLoop;
use crate::supervisor::engine::{Phase, RestartCause, RestartCounts};
use crate::supervisor::event::Exit;

/// Where one instance is in its life. Each variant is one row of the transition table in
/// `engine.rs`; the live ones (`Starting`, `Running`, `StopQueued`, `Stopping`) hold the
/// [`Tree`] whose processes are alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lifecycle {
    /// Not part of this run.
    Inactive,
    /// Waiting for its service's dependencies to meet their conditions.
    Waiting,
    /// Tree `generation` was decided but has no process yet: its ports are being awaited (on a
    /// restart), then it is spawned. `shortages` counts the spawns before it that failed for
    /// lack of wrangle's own resources (the retry delay grows with it).
    Launching { generation: u64, shortages: u32 },
    /// Spawned; its readiness probe has not passed yet.
    Starting(Tree),
    /// Ready (or spawned, when it has no probe).
    Running(Tree),
    /// A user asked it to stop (directly, or because something it depends on was stopped): it is
    /// stopped once nothing that depends on it is alive, and runs until then.
    StopQueued { tree: Tree, ready: bool },
    /// Its stop signal was sent; it waits for the tree to be gone. `kill_timer` is the sequence
    /// of the timer that sends SIGKILL (`None` once SIGKILL was sent); `then` says what happens
    /// once the tree is gone.
    Stopping {
        tree: Tree,
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
    /// Mark it failed (the reason is already in [`InstanceState::reason`]): a limit was exceeded
    /// too often.
    GiveUp,
    /// The instance is no longer wanted (a scale down, a reload replaced it): it is removed.
    Retire,
}

/// The processes of one spawn of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tree {
    /// Inputs about this tree carry it; inputs about another generation are stale.
    pub(super) generation: u64,
    pub(super) spawned_at: Instant,
    pub(super) leader: Leader,
}

/// The tree's first process.
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

impl Tree {
    pub(super) fn new(generation: u64, spawned_at: Instant) -> Tree {
        Tree {
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

    /// How the tree as a whole ended, once it is gone: its leader's status, unless other
    /// processes outlived the leader (then nothing reports the service's status).
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

    /// The live tree, whose processes run.
    pub(super) fn tree(&self) -> Option<&Tree> {
        match self {
            Lifecycle::Starting(tree)
            | Lifecycle::Running(tree)
            | Lifecycle::StopQueued { tree, .. }
            | Lifecycle::Stopping { tree, .. } => Some(tree),
            _ => None,
        }
    }

    pub(super) fn tree_mut(&mut self) -> Option<&mut Tree> {
        match self {
            Lifecycle::Starting(tree)
            | Lifecycle::Running(tree)
            | Lifecycle::StopQueued { tree, .. }
            | Lifecycle::Stopping { tree, .. } => Some(tree),
            _ => None,
        }
    }

    /// The live tree, if it is tree `generation`: inputs about any other are stale.
    pub(super) fn tree_of(&self, generation: u64) -> Option<Tree> {
        self.tree()
            .filter(|tree| tree.generation == generation)
            .copied()
    }

    /// Whether this lifecycle waits for something about tree `generation`: it is launching it or
    /// its processes live.
    pub(super) fn concerns(&self, generation: u64) -> bool {
        match self {
            Lifecycle::Launching { generation: g, .. } => *g == generation,
            other => other.tree_of(generation).is_some(),
        }
    }

    /// Whether this lifecycle waits for timer `sequence`.
    pub(super) fn waits_for(&self, sequence: u64) -> bool {
        match self {
            Lifecycle::Backoff { timer, .. } => *timer == sequence,
            Lifecycle::Stopping {
                kill_timer: Some(timer),
                ..
            } => *timer == sequence,
            _ => false,
        }
    }

    /// The live tree and its readiness, unless it is already stopping.
    pub(super) fn stoppable(&self) -> Option<(Tree, bool)> {
        match *self {
            Lifecycle::Starting(tree) => Some((tree, false)),
            Lifecycle::Running(tree) => Some((tree, true)),
            Lifecycle::StopQueued { tree, ready } => Some((tree, ready)),
            _ => None,
        }
    }

    /// Changes what follows the stop of a stopping tree (nothing otherwise).
    pub(super) fn set_after_stop(&mut self, after_stop: AfterStop) {
        if let Lifecycle::Stopping { then, .. } = self {
            *then = after_stop;
        }
    }

    /// Whether processes of the instance are alive.
    pub(super) fn alive(&self) -> bool {
        self.tree().is_some()
    }

    /// Whether the live tree's readiness probe has passed (or it has none).
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

/// One instance: its lifecycle, and what outlives each of its trees.
#[derive(Debug, Clone)]
pub(super) struct InstanceState {
    /// Its number: `WRANGLE_INSTANCE`, unique among the service's instances.
    pub(super) number: u32,
    pub(super) lifecycle: Lifecycle,
    /// The generation of its latest tree (0 before the first).
    pub(super) generation: u64,
    /// The latest tree exited with status 0 on its own (the `completed` condition); false again
    /// once a new tree is decided.
    pub(super) completed: bool,
    pub(super) restarts: u32,
    pub(super) restart_causes: RestartCounts,
    /// Why the latest restart happened, for humans.
    pub(super) last_restart_reason: Option<String>,
    pub(super) crash_loop: CrashLoop,
    /// How the last tree ended.
    pub(super) last_exit: Option<Exit>,
    /// Why it failed or could not be (re)started, until it is ready again.
    pub(super) reason: Option<String>,
}

impl InstanceState {
    pub(super) fn new(number: u32, lifecycle: Lifecycle) -> InstanceState {
        InstanceState {
            number,
            lifecycle,
            generation: 0,
            completed: false,
            restarts: 0,
            restart_causes: RestartCounts::default(),
            last_restart_reason: None,
            crash_loop: CrashLoop::default(),
            last_exit: None,
            reason: None,
        }
    }

    pub(super) fn record_restart(&mut self, cause: RestartCause) {
        self.restarts += 1;
        self.restart_causes.record(cause);
    }
}

/// One service: its instances (ordered by number), how many it should have, and the counters
/// that name its trees and timers.
#[derive(Debug, Clone)]
pub(super) struct ServiceState {
    /// How many instances it should have (`instances`, then `wrangle scale`). Between a scale
    /// down and the end of the instances it retires, and during a reload, it may have more.
    pub(super) wanted: u32,
    pub(super) instances: Vec<InstanceState>,
    /// The generation of the latest tree decided: each spawn takes the next one.
    pub(super) generation: u64,
    /// The sequence of the latest timer armed: each timer takes the next one.
    pub(super) timer_sequence: u64,
    /// The rolling reload in progress, if any.
    pub(super) reload: Option<Reload>,
    /// Its schedule (`schedule`, `every`) is on: its times start or restart it. On for the
    /// services of the run that have one; off once a user stops it (or something it depends
    /// on), on again when a user starts it.
    pub(super) schedule_on: bool,
}

impl ServiceState {
    pub(super) fn new(wanted: u32) -> ServiceState {
        ServiceState {
            wanted,
            instances: (0..wanted)
                .map(|number| InstanceState::new(number, Lifecycle::Inactive))
                .collect(),
            generation: 0,
            timer_sequence: 0,
            reload: None,
            schedule_on: false,
        }
    }

    /// The sequence for a new timer; a timer armed earlier no longer matches anything.
    pub(super) fn next_timer(&mut self) -> u64 {
        self.timer_sequence += 1;
        self.timer_sequence
    }

    /// The position of instance `number` in `instances`.
    pub(super) fn position(&self, number: u32) -> Option<usize> {
        self.instances
            .iter()
            .position(|instance| instance.number == number)
    }

    /// The lowest number no instance has: the number of the next one.
    pub(super) fn free_number(&self) -> u32 {
        (0..)
            .find(|number| self.position(*number).is_none())
            .unwrap_or(u32::MAX)
    }

    /// Adds an instance numbered `number` in `lifecycle`, keeping the order by number.
    pub(super) fn add(&mut self, number: u32, lifecycle: Lifecycle) {
        let at = self
            .instances
            .iter()
            .position(|instance| instance.number > number)
            .unwrap_or(self.instances.len());
        self.instances
            .insert(at, InstanceState::new(number, lifecycle));
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
