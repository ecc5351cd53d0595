//! The lifecycle engine: a state machine without IO that decides what happens to every service.
//!
//! # Theory of operation
//! The runtime feeds [`Input`]s (a process spawned, a probe passed, a tree ended, a timer fired, a
//! stop was asked) and carries out the [`Effect`]s the engine returns (spawn, signal a tree, arm a
//! timer, publish an event, exit). Time and randomness are inputs too, so every rule here (start
//! order, readiness gating, backoff, crash loops, reverse-order stop) is tested without a process.
//!
//! A service has one or more instances (`instances`, `wrangle scale`), numbered from 0. Each
//! instance is in one [`Lifecycle`](state::Lifecycle) state, which carries the data of that
//! state (the live tree, the timer it waits for, what follows a stop); the user-facing [`Phase`]
//! is derived from it. Every spawn takes a new `generation` of its service: inputs about another
//! tree (a late probe result, the end of a tree already replaced) find no instance waiting for
//! that generation and are ignored. Timers carry a sequence number for the same reason: a state
//! that waits for a timer names it, so a stale timer never fires into a newer state. Both are
//! numbered per service, so an input names its service and one number, and the engine finds the
//! instance. The transitions below are per instance; a service is `started`/`ready` for its
//! dependents when as many of its instances as it should have are.
//!
//! Start-up and steady state differ on purpose: during start-up any service that exits with a
//! failure, cannot be spawned, or misses its readiness timeout fails the whole `up` (everything is
//! stopped and wrangle exits 1 or 3), because a half-started project is worse than none. After
//! start-up, crashes are handled by each service's restart policy and the crash-loop rule
//! (`restart_rule.rs`). A spawn that fails because wrangle itself is short of resources
//! ([`SpawnFault::Supervisor`]) is the daemon's problem, never the service's: it is retried and
//! counts as nothing.
//!
//! # The transition table
//! One function per family of inputs, each one `match` over the service's state. Starting
//! (`launch.rs`):
//!
//! | State             | Input                            | Next                                 |
//! |-------------------|----------------------------------|--------------------------------------|
//! | Inactive, ended   | `Start`, `Control(Start)`        | Waiting                              |
//! | Waiting           | its dependencies are met         | Launching (await ports, then spawn)  |
//! | Launching         | `PortsFree`                      | Launching (spawn)                    |
//! | Launching         | `Spawned`                        | Starting (Running without a probe)   |
//! | Launching         | `SpawnFailed`, wrangle's fault   | Backoff, counted as nothing          |
//! | Launching         | `SpawnFailed`, `RestartBlocked`  | a crash of zero length (below)       |
//! | Starting          | `ProbePassed`                    | Running                              |
//! | Starting          | `ProbeTimedOut`                  | start-up fails; after it, Stopping   |
//! |                   |                                  | then the restart policy (`Recover`)  |
//!
//! Ending (`ending.rs`):
//!
//! | State             | Input                            | Next                                 |
//! |-------------------|----------------------------------|--------------------------------------|
//! | Starting, Running | `TreeGone`                       | restart policy and crash-loop rule:  |
//! |                   |                                  | Backoff, Exited or Failed            |
//! | Stopping          | `TreeGone`                       | per `AfterStop`: Stopped, Waiting    |
//! |                   |                                  | (respawn), Failed, restart policy    |
//! | StopQueued        | `TreeGone`                       | Stopped (it was to stop anyway)      |
//! | Backoff           | its restart `Timer`              | Launching                            |
//! | Stopping          | its kill `Timer`                 | Stopping, SIGKILL sent               |
//!
//! Stopping (`stopping.rs`):
//!
//! | State             | Input                            | Next                                 |
//! |-------------------|----------------------------------|--------------------------------------|
//! | Starting, Running | `Control(Stop)`                  | StopQueued, then Stopping once       |
//! |                   |                                  | nothing alive depends on it          |
//! | live              | `Control(Restart)`               | Stopping → Respawn                   |
//! | Starting, Running | `MemoryLimitExceeded`            | Stopping → Respawn, or GiveUp        |
//! | Starting, Running | `LivenessFailed`                 | Stopping → Respawn, or GiveUp        |
//! | any               | `Shutdown`                       | Stopping in reverse dependency order |
//! | live              | `InstanceControl`                | the same, for one instance alone     |
//!
//! Runs by the clock (`schedule.rs`): `Scheduled` starts a job whose previous run has ended (a
//! time during a run is skipped, with `ScheduleSkipped`) or restarts a service with
//! `on_schedule = "restart"`, like `Control(Start)` and `Control(Restart)`, while its schedule
//! is on; a user's `Control(Stop)` turns it off, `Control(Start)` on again.
//!
//! Applying a new config (`apply.rs`): `Apply` swaps the spec (every id kept), starts the added
//! services like `Control(Start)`, stops the removed ones like `Control(Stop)` (they stay
//! stopped for good), scales and reloads the changed ones that run (`Reload` restarts those
//! that cannot overlap), starts the changed ones that had failed, and leaves the rest alone.
//!
//! Instances (`reload.rs`): `Scale` adds instances (Waiting) or stops the highest-numbered ones
//! with `AfterStop::Retire` (removed once their tree is gone). `Reload` repeats "add an
//! instance, and once it is ready stop an old one with `Retire`, and once that tree is gone take
//! the next step", never below the wanted count of ready instances; a new instance that fails
//! ends it (`ReloadFailed`). A service that cannot overlap old and new processes is restarted
//! instead.
//!
//! **Invariant:** no IO, no clock, no randomness of its own. Only `spec`, `std`, the crate's
//! vocabulary (`exit`, `human`) and the supervisor's own (`event`, `graph`) are imported.

mod apply;
mod ending;
mod launch;
mod reload;
mod restart_rule;
mod schedule;
mod state;
mod stopping;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::exit;
use crate::spec::{ApplyChange, ProjectSpec, ServiceId, Signal};
use crate::supervisor::event::{Event, Exit, InstanceId};
use crate::supervisor::graph;

use state::{InstanceState, ServiceState, Stage};
use stopping::ForcedRestart;

/// Where a service is in its life. Shown to users (ps, events), so the names are theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not part of this run (not selected).
    Inactive,
    /// Waiting for its dependencies.
    Waiting,
    /// Spawned (or about to be); readiness not reached yet.
    Starting,
    /// Ready, or started when it has no probe.
    Running,
    /// Waiting to be restarted after a crash.
    Backoff,
    /// Asked to stop; its tree is not gone yet.
    Stopping,
    /// Exited on its own and will not be restarted (`Exit::success` means completed).
    Exited(Exit),
    /// Given up on: crash loop, or a failure with no restart.
    Failed,
    /// Stopped on request.
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Before `Start`, for a daemon taking over the run of one that died: this instance runs,
    /// as tree `generation`, and was ready (or not yet); `Start` leaves it alone.
    Adopted {
        instance: InstanceId,
        generation: u64,
        ready: bool,
        restarts: u32,
    },
    /// Start the selected services (all when empty) and their dependencies.
    Start {
        services: Vec<ServiceId>,
    },
    /// The declared ports are free: the pending spawn of this generation may go ahead.
    PortsFree {
        service: ServiceId,
        generation: u64,
    },
    Spawned {
        service: ServiceId,
        generation: u64,
        pid: i32,
    },
    SpawnFailed {
        service: ServiceId,
        generation: u64,
        error: String,
        /// Whose failure it is: a shortage of wrangle's own is retried and counts as nothing.
        fault: SpawnFault,
    },
    ProbePassed {
        service: ServiceId,
        generation: u64,
    },
    ProbeTimedOut {
        service: ServiceId,
        generation: u64,
        last_failure: Option<String>,
    },
    /// The first process of the instance exited; `survivors` other processes of its tree remain.
    LeaderExited {
        service: ServiceId,
        generation: u64,
        status: Exit,
        survivors: usize,
    },
    /// Every process of the instance is gone.
    TreeGone {
        service: ServiceId,
        generation: u64,
    },
    /// A restart cannot proceed (its ports stayed held by another process).
    RestartBlocked {
        service: ServiceId,
        generation: u64,
        reason: String,
    },
    Timer {
        service: ServiceId,
        sequence: u64,
        kind: TimerKind,
    },
    /// Stop everything in reverse dependency order. A second request, or `force`, kills at once.
    Shutdown {
        force: bool,
    },
    /// A user's request about one service, every instance of it (`wrangle start|stop|restart
    /// NAME`).
    Control {
        service: ServiceId,
        action: ServiceAction,
    },
    /// One of the service's scheduled times came (`schedule`, `every`): it is started (or
    /// restarted, with `on_schedule = "restart"`), or the time is skipped while a run goes on.
    Scheduled {
        service: ServiceId,
    },
    /// A user's request about one instance (`wrangle start|stop|restart NAME:I`): what depends
    /// on the service is left alone.
    InstanceControl {
        instance: InstanceId,
        action: ServiceAction,
    },
    /// `wrangle scale NAME N`: run `count` instances of the service (at least 1).
    Scale {
        service: ServiceId,
        count: u32,
    },
    /// `wrangle reload NAME`: replace every instance, one at a time, each new one ready before
    /// its predecessor stops (`reload.rs`).
    Reload {
        service: ServiceId,
    },
    /// The tree of instance `generation` exceeds its `max_memory`: restart it gracefully.
    /// `reason` says by how much, for humans.
    MemoryLimitExceeded {
        service: ServiceId,
        generation: u64,
        reason: String,
    },
    /// The liveness probe (`live`) of tree `generation` failed `failures` times in a row:
    /// restart it, counted as a crash. `reason` says what failed, for humans.
    LivenessFailed {
        service: ServiceId,
        generation: u64,
        reason: String,
    },
    /// `wrangle apply`: run `spec` from now on (the running spec merged with the config read
    /// again, every id kept: see `spec::merge`) and carry out `changes` (`apply.rs`).
    Apply {
        spec: NewSpec,
        changes: Vec<ApplyChange>,
    },
}

/// The spec of an [`Input::Apply`], compared by identity (a spec is not comparable, and each
/// apply makes its own).
#[derive(Debug, Clone)]
pub struct NewSpec(pub Arc<ProjectSpec>);

impl PartialEq for NewSpec {
    fn eq(&self, other: &NewSpec) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Whose failure a failed spawn is. The runtime tells them apart by the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnFault {
    /// The service's: its command, working directory or permissions. Counts as a crash.
    Service,
    /// wrangle's own: it is short of file descriptors, memory or processes (EMFILE, ENFILE,
    /// ENOMEM, EAGAIN), for instance because clients hold its descriptors. Retried after a
    /// delay; never counted against the service, never marks it failed.
    Supervisor,
}

/// Why a service was started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartCause {
    /// It ended (or never became ready) and its restart policy restarted it.
    Crash,
    /// A user asked (`wrangle restart`).
    Manual,
    /// A dependency it is tied to with `restart = true` got a new instance.
    Dependency,
    /// Its tree exceeded `max_memory`.
    MemoryLimit,
    /// Its liveness probe (`live`) failed too many times in a row.
    Liveness,
}

impl RestartCause {
    pub const ALL: [RestartCause; 5] = [
        RestartCause::Crash,
        RestartCause::Manual,
        RestartCause::Dependency,
        RestartCause::MemoryLimit,
        RestartCause::Liveness,
    ];

    /// The snake_case name used in the API and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartCause::Crash => "crash",
            RestartCause::Manual => "manual",
            RestartCause::Dependency => "dependency",
            RestartCause::MemoryLimit => "memory_limit",
            RestartCause::Liveness => "liveness",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Restarts counted by cause (indexed by [`RestartCause`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartCounts([u32; RestartCause::ALL.len()]);

impl RestartCounts {
    pub fn get(&self, cause: RestartCause) -> u32 {
        self.0[cause.index()]
    }

    fn record(&mut self, cause: RestartCause) {
        let count = &mut self.0[cause.index()];
        *count = count.saturating_add(1);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    /// Start it (and any dependency that is not running) if it is not running.
    Start,
    /// Stop its tree; it stays stopped until started again.
    Stop,
    /// Stop it if it runs, then start it again at once (not counted as a crash).
    Restart,
}

/// When the engine considers its work done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Exit when every service has ended on its own (the foreground `up`).
    UntilIdle,
    /// Exit only on `Shutdown` (the daemon: stopped services may be started again).
    UntilShutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// The backoff delay before a restart is over.
    Restart,
    /// The stop timeout is over: time for SIGKILL.
    StopTimeout,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Wait (bounded) until the service's declared ports are free, then answer `PortsFree` or
    /// `RestartBlocked`.
    AwaitPorts {
        instance: InstanceId,
        generation: u64,
    },
    /// Spawn tree `generation` of the instance now and answer `Spawned` or `SpawnFailed`; then
    /// run its readiness probe (if any) and report `ProbePassed`/`ProbeTimedOut`, and report the
    /// tree's end.
    Spawn {
        instance: InstanceId,
        generation: u64,
    },
    /// Send `signal` to every process of the instance's tree.
    Signal {
        instance: InstanceId,
        signal: Signal,
    },
    ArmTimer {
        service: ServiceId,
        sequence: u64,
        kind: TimerKind,
        after: Duration,
    },
    Publish(Event),
    /// Everything is stopped; exit with this code.
    Exit {
        code: u8,
    },
}

/// A read-only view of one instance for front-ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub id: InstanceId,
    pub phase: Phase,
    pub alive: bool,
    /// The readiness probe of the current instance has passed (or there is none).
    pub ready: bool,
    pub restarts: u32,
    /// How the last instance ended.
    pub last_exit: Option<Exit>,
    /// Why the service failed or could not be (re)started, until it is ready again.
    pub reason: Option<String>,
    pub restart_causes: RestartCounts,
    /// Why the latest restart happened, for humans.
    pub last_restart_reason: Option<String>,
    /// The generation of the instance's current (or last) tree: inputs about a tree carry it.
    pub generation: u64,
    /// Its service's schedule (`schedule`, `every`) is on: its times start or restart it.
    pub scheduled: bool,
}

pub struct Engine {
    spec: Arc<ProjectSpec>,
    lifetime: Lifetime,
    dependents: Vec<Vec<ServiceId>>,
    services: Vec<ServiceState>,
    stage: Stage,
    /// A service failed (given up on, failed start-up, or exited unsuccessfully for good): the
    /// run's exit code is 1 even if everything is stopped cleanly.
    any_failed: bool,
    /// xorshift state for backoff jitter; seeded by the runtime so tests are deterministic.
    random_state: u64,
    /// How many CPUs wrangle may run on, for `instances = "max"`.
    cpus: u32,
}

/// Effects are pushed here in order, by every transition.
type Effects = Vec<Effect>;

impl Engine {
    /// `cpus`: how many CPUs wrangle may run on, for `instances = "max"`.
    pub fn new(spec: Arc<ProjectSpec>, lifetime: Lifetime, random_seed: u64, cpus: u32) -> Engine {
        let services = spec
            .services
            .iter()
            .map(|service| ServiceState::new(service.instances.count(cpus)))
            .collect();
        Engine {
            lifetime,
            dependents: graph::dependents(&spec),
            spec,
            services,
            stage: Stage::Idle,
            any_failed: false,
            random_state: random_seed | 1,
            cpus,
        }
    }

    /// The service's instances, by number.
    pub fn instances(&self, service: ServiceId) -> Vec<InstanceView> {
        self.services[service]
            .instances
            .iter()
            .map(|state| InstanceView {
                id: InstanceId::new(service, state.number),
                phase: state.lifecycle.phase(),
                alive: state.lifecycle.alive(),
                ready: state.lifecycle.ready(),
                restarts: state.restarts,
                last_exit: state.last_exit,
                reason: state.reason.clone(),
                restart_causes: state.restart_causes,
                last_restart_reason: state.last_restart_reason.clone(),
                generation: state.generation,
                scheduled: self.services[service].schedule_on,
            })
            .collect()
    }

    /// How many instances the service should have.
    pub fn wanted(&self, service: ServiceId) -> u32 {
        self.services[service].wanted
    }

    /// Whether a rolling reload of the service is in progress.
    pub fn reloading(&self, service: ServiceId) -> bool {
        self.services[service].reload.is_some()
    }

    fn instance(&self, id: InstanceId) -> Option<&InstanceState> {
        let service = &self.services[id.service];
        service.position(id.number).map(|at| &service.instances[at])
    }

    fn instance_mut(&mut self, id: InstanceId) -> Option<&mut InstanceState> {
        let service = &mut self.services[id.service];
        let at = service.position(id.number)?;
        Some(&mut service.instances[at])
    }

    /// The instance whose lifecycle waits for something about tree `generation`.
    fn of_generation(&self, service: ServiceId, generation: u64) -> Option<InstanceId> {
        self.services[service]
            .instances
            .iter()
            .find(|state| state.lifecycle.concerns(generation))
            .map(|state| InstanceId::new(service, state.number))
    }

    /// Every instance of the service, by id.
    fn ids(&self, service: ServiceId) -> Vec<InstanceId> {
        self.services[service]
            .instances
            .iter()
            .map(|state| InstanceId::new(service, state.number))
            .collect()
    }

    /// Every instance of every service.
    fn all_instances(&self) -> impl Iterator<Item = &InstanceState> {
        self.services
            .iter()
            .flat_map(|service| service.instances.iter())
    }

    pub fn is_shutting_down(&self) -> bool {
        matches!(self.stage, Stage::ShuttingDown { .. })
    }

    /// Feeds one input; returns what must happen next, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.stage == Stage::Done {
            return effects;
        }
        let fx = &mut effects;
        match input {
            Input::Adopted {
                instance,
                generation,
                ready,
                restarts,
            } => self.adopt(now, instance, generation, ready, restarts),
            Input::Start { services } => self.start(now, &services, fx),
            Input::PortsFree {
                service,
                generation,
            } => self.launch_answered(now, service, generation, launch::Answer::PortsFree, fx),
            Input::InstanceControl { instance, action } => {
                self.instance_control(now, instance, action, fx)
            }
            Input::Scale { service, count } => self.scale(now, service, count, fx),
            Input::Reload { service } => self.reload(now, service, fx),
            Input::Scheduled { service } => self.scheduled(now, service, fx),
            Input::Spawned {
                service,
                generation,
                pid,
            } => self.launch_answered(now, service, generation, launch::Answer::Spawned(pid), fx),
            Input::SpawnFailed {
                service,
                generation,
                error,
                fault,
            } => {
                let answer = launch::Answer::SpawnFailed(error, fault);
                self.launch_answered(now, service, generation, answer, fx);
            }
            Input::RestartBlocked {
                service,
                generation,
                reason,
            } => {
                let answer = launch::Answer::Blocked(reason);
                self.launch_answered(now, service, generation, answer, fx);
            }
            Input::ProbePassed {
                service,
                generation,
            } => self.readiness(now, service, generation, launch::Probe::Passed, fx),
            Input::ProbeTimedOut {
                service,
                generation,
                last_failure,
            } => {
                let probe = launch::Probe::TimedOut { last_failure };
                self.readiness(now, service, generation, probe, fx);
            }
            Input::LeaderExited {
                service,
                generation,
                status,
                survivors,
            } => self.leader_exited(service, generation, status, survivors, fx),
            Input::TreeGone {
                service,
                generation,
            } => self.tree_gone(now, service, generation, fx),
            Input::Timer {
                service,
                sequence,
                kind,
            } => self.timer(service, sequence, kind, fx),
            Input::Shutdown { force } => self.shutdown(exit::SUCCESS, force, fx),
            Input::Control { service, action } => self.control(now, service, action, fx),
            Input::MemoryLimitExceeded {
                service,
                generation,
                reason,
            } => {
                let why = ForcedRestart::MemoryLimit;
                self.forced_restart(now, service, generation, why, reason, fx)
            }
            Input::LivenessFailed {
                service,
                generation,
                reason,
            } => {
                let why = ForcedRestart::Liveness;
                self.forced_restart(now, service, generation, why, reason, fx)
            }
            Input::Apply { spec, changes } => self.apply(now, spec.0, &changes, fx),
        }
        effects
    }

    /// xorshift64*: plenty for jitter, and deterministic under a fixed seed.
    fn next_random(&mut self) -> f64 {
        let mut x = self.random_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.random_state = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
