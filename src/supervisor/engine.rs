//! The lifecycle engine: a state machine without IO that decides what happens to every service.
//!
//! # Theory of operation
//! The runtime feeds [`Input`]s (a process spawned, a probe passed, a tree ended, a timer fired, a
//! stop was asked) and carries out the [`Effect`]s the engine returns (spawn, signal a tree, arm a
//! timer, publish an event, exit). Time and randomness are inputs too, so every rule here (start
//! order, readiness gating, backoff, crash loops, reverse-order stop) is tested without a process.
//!
//! Each service has a `generation`, incremented at every spawn: inputs about an older instance
//! (a late probe result, the end of a tree already replaced) are ignored. Timers carry a sequence
//! number for the same reason, so a stale timer never fires into a newer state.
//!
//! Start-up and steady state differ on purpose: during start-up any service that exits with a
//! failure, cannot be spawned, or misses its readiness timeout fails the whole `up` (everything is
//! stopped and wrangle exits 1 or 3), because a half-started project is worse than none. After
//! start-up, crashes are handled by each service's restart policy.
//!
//! **Invariant:** no IO, no clock, no randomness of its own. Only `spec` and `std` are imported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::spec::{DependencyCondition, ProjectSpec, RestartPolicy, ServiceId, Signal};
use crate::supervisor::backoff::{self, RestartWindow, STABLE_UPTIME};
use crate::supervisor::event::{Event, Exit};
use crate::supervisor::graph;

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
    /// A user's request about one service (`wrangle start|stop|restart NAME`).
    Control {
        service: ServiceId,
        action: ServiceAction,
    },
    /// The tree of instance `generation` exceeds its `max_memory`: restart it gracefully.
    /// `reason` says by how much, for humans.
    MemoryLimitExceeded {
        service: ServiceId,
        generation: u64,
        reason: String,
    },
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
}

impl RestartCause {
    pub const ALL: [RestartCause; 4] = [
        RestartCause::Crash,
        RestartCause::Manual,
        RestartCause::Dependency,
        RestartCause::MemoryLimit,
    ];

    /// The snake_case name used in the API and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartCause::Crash => "crash",
            RestartCause::Manual => "manual",
            RestartCause::Dependency => "dependency",
            RestartCause::MemoryLimit => "memory_limit",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Restarts counted by cause (indexed by [`RestartCause`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartCounts([u32; 4]);

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
        service: ServiceId,
        generation: u64,
    },
    /// Spawn the service now and answer `Spawned` or `SpawnFailed`; then run its readiness probe
    /// (if any) and report `ProbePassed`/`ProbeTimedOut`, and report the tree's end.
    Spawn {
        service: ServiceId,
        generation: u64,
    },
    /// Send `signal` to every process of the service's tree.
    Signal {
        service: ServiceId,
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

/// Exit codes, kept in sync with `crate::exit` (the engine may not import it: it is IO-free and
/// `exit` is about the process).
pub mod code {
    pub const SUCCESS: u8 = 0;
    pub const SERVICE_FAILED: u8 = 1;
    pub const NOT_READY: u8 = 3;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    StartingUp,
    Running,
    ShuttingDown {
        code: u8,
        forced: bool,
    },
    /// `Effect::Exit` was emitted; nothing more happens.
    Done,
}

#[derive(Debug, Clone)]
struct ServiceState {
    phase: Phase,
    generation: u64,
    timer_sequence: u64,
    /// Whether the current generation has live processes.
    alive: bool,
    spawned_at: Option<Instant>,
    leader_exit: Option<Exit>,
    outlived_leader: bool,
    /// Facts about the current instance, for dependency conditions. Reset at each spawn, so a
    /// service started after its dependency was restarted waits for the new instance; services
    /// already running are not affected by a dependency's restart.
    instance_started: bool,
    instance_ready: bool,
    instance_completed: bool,
    /// Consecutive crashes since the last stable run: the backoff exponent.
    crash_streak: u32,
    restarts: u32,
    restart_causes: RestartCounts,
    /// Why the latest restart happened, for humans.
    last_restart_reason: Option<String>,
    window: RestartWindow,
    /// What happens once the tree of a stopping instance is gone.
    after_stop: AfterStop,
    last_exit: Option<Exit>,
    reason: Option<String>,
    /// A user asked it to stop (directly, or because something it depends on was stopped): it
    /// is stopped once nothing that depends on it is alive, like a shutdown but for some.
    stop_requested: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterStop {
    /// Stay stopped.
    Stay,
    /// Treat it as a crash: the restart policy decides (readiness lost on a restart).
    RestartAsCrash,
    /// Start it again at once: a requested restart, for this cause.
    Respawn(RestartCause),
    /// Mark it failed (with the reason already in `reason`): a limit was exceeded too often.
    GiveUp,
}

impl ServiceState {
    fn new() -> Self {
        ServiceState {
            phase: Phase::Inactive,
            generation: 0,
            timer_sequence: 0,
            alive: false,
            spawned_at: None,
            leader_exit: None,
            outlived_leader: false,
            instance_started: false,
            instance_ready: false,
            instance_completed: false,
            crash_streak: 0,
            restarts: 0,
            restart_causes: RestartCounts::default(),
            last_restart_reason: None,
            window: RestartWindow::default(),
            after_stop: AfterStop::Stay,
            last_exit: None,
            reason: None,
            stop_requested: false,
        }
    }
}

/// A read-only view of one service for front-ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
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
    /// The generation of the current (or last) instance: inputs about an instance carry it.
    pub generation: u64,
}

pub struct Engine {
    spec: Arc<ProjectSpec>,
    lifetime: Lifetime,
    dependents: Vec<Vec<ServiceId>>,
    services: Vec<ServiceState>,
    mode: Mode,
    startup_began: Option<Instant>,
    any_failed: bool,
    /// xorshift state for backoff jitter; seeded by the runtime so tests are deterministic.
    random_state: u64,
}

impl Engine {
    pub fn new(spec: Arc<ProjectSpec>, lifetime: Lifetime, random_seed: u64) -> Engine {
        let services = vec![ServiceState::new(); spec.services.len()];
        Engine {
            lifetime,
            dependents: graph::dependents(&spec),
            spec,
            services,
            mode: Mode::Idle,
            startup_began: None,
            any_failed: false,
            random_state: random_seed | 1,
        }
    }

    pub fn view(&self, service: ServiceId) -> ServiceView {
        let state = &self.services[service];
        ServiceView {
            phase: state.phase,
            alive: state.alive,
            ready: state.instance_ready,
            restarts: state.restarts,
            last_exit: state.last_exit,
            reason: state.reason.clone(),
            restart_causes: state.restart_causes,
            last_restart_reason: state.last_restart_reason.clone(),
            generation: state.generation,
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        matches!(self.mode, Mode::ShuttingDown { .. })
    }

    /// Feeds one input; returns what must happen next, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.mode == Mode::Done {
            return effects;
        }
        match input {
            Input::Start { services } => self.start(now, &services, &mut effects),
            Input::PortsFree {
                service,
                generation,
            } => {
                if self.is_current(service, generation)
                    && self.services[service].phase == Phase::Starting
                {
                    effects.push(Effect::Spawn {
                        service,
                        generation,
                    });
                }
            }
            Input::Spawned {
                service,
                generation,
                pid,
            } => self.spawned(now, service, generation, pid, &mut effects),
            Input::SpawnFailed {
                service,
                generation,
                error,
            } => {
                if self.is_current(service, generation) {
                    effects.push(Effect::Publish(Event::SpawnFailed {
                        service,
                        error: error.clone(),
                    }));
                    self.ended_without_process(
                        now,
                        service,
                        format!("cannot start: {error}"),
                        &mut effects,
                    );
                }
            }
            Input::ProbePassed {
                service,
                generation,
            } => {
                if self.is_current(service, generation)
                    && self.services[service].phase == Phase::Starting
                {
                    self.mark_ready(now, service, &mut effects);
                }
            }
            Input::ProbeTimedOut {
                service,
                generation,
                last_failure,
            } => {
                self.probe_timed_out(service, generation, last_failure, &mut effects);
            }
            Input::LeaderExited {
                service,
                generation,
                status,
                survivors,
            } => {
                if self.is_current(service, generation) {
                    let state = &mut self.services[service];
                    state.leader_exit = Some(status);
                    if survivors > 0 {
                        state.outlived_leader = true;
                        effects.push(Effect::Publish(Event::LeaderExited {
                            service,
                            status,
                            survivors,
                        }));
                    }
                }
            }
            Input::TreeGone {
                service,
                generation,
            } => self.tree_gone(now, service, generation, &mut effects),
            Input::RestartBlocked {
                service,
                generation,
                reason,
            } => {
                if self.is_current(service, generation)
                    && self.services[service].phase == Phase::Starting
                {
                    effects.push(Effect::Publish(Event::RestartBlocked {
                        service,
                        reason: reason.clone(),
                    }));
                    self.ended_without_process(now, service, reason, &mut effects);
                }
            }
            Input::Timer {
                service,
                sequence,
                kind,
            } => self.timer(now, service, sequence, kind, &mut effects),
            Input::Shutdown { force } => self.shutdown(code::SUCCESS, force, &mut effects),
            Input::Control { service, action } => self.control(now, service, action, &mut effects),
            Input::MemoryLimitExceeded {
                service,
                generation,
                reason,
            } => self.memory_limit_exceeded(now, service, generation, reason, &mut effects),
        }
        effects
    }

    fn is_current(&self, service: ServiceId, generation: u64) -> bool {
        self.services[service].generation == generation
    }

    fn start(&mut self, now: Instant, roots: &[ServiceId], effects: &mut Vec<Effect>) {
        if self.mode != Mode::Idle {
            return;
        }
        self.mode = Mode::StartingUp;
        self.startup_began = Some(now);
        for (service, selected) in graph::selection(&self.spec, roots).into_iter().enumerate() {
            if selected {
                self.services[service].phase = Phase::Waiting;
            }
        }
        for service in 0..self.services.len() {
            if self.services[service].phase == Phase::Waiting
                && !self.spec.services[service].depends_on.is_empty()
            {
                let dependencies = self.spec.services[service]
                    .depends_on
                    .iter()
                    .map(|dependency| (dependency.service, dependency.condition))
                    .collect();
                effects.push(Effect::Publish(Event::Waiting {
                    service,
                    dependencies,
                }));
            }
        }
        self.advance(now, effects);
    }

    /// Starts every waiting service whose dependencies are met, fails start-up when one can never
    /// be met, and notices when start-up is complete or everything has ended.
    fn advance(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if matches!(self.mode, Mode::ShuttingDown { .. }) {
            self.advance_shutdown(effects);
            return;
        }
        self.advance_requested_stops(effects);
        for service in 0..self.services.len() {
            if self.services[service].phase != Phase::Waiting {
                continue;
            }
            match self.dependencies_status(service) {
                DependencyStatus::Met => self.spawn(service, effects),
                DependencyStatus::Pending => {}
                DependencyStatus::Impossible(reason) => {
                    self.fail_startup(service, code::SERVICE_FAILED, reason, effects);
                    return;
                }
            }
        }
        if self.mode == Mode::StartingUp && self.startup_complete() {
            self.mode = Mode::Running;
            let count = self
                .services
                .iter()
                .filter(|state| state.phase != Phase::Inactive)
                .count();
            let elapsed = self
                .startup_began
                .map(|began| now.saturating_duration_since(began))
                .unwrap_or_default();
            effects.push(Effect::Publish(Event::AllReady { count, elapsed }));
        }
        if self.mode == Mode::Running && self.lifetime == Lifetime::UntilIdle && self.all_ended() {
            let code = if self.any_failed {
                code::SERVICE_FAILED
            } else {
                code::SUCCESS
            };
            self.mode = Mode::Done;
            effects.push(Effect::Exit { code });
        }
    }

    fn dependencies_status(&self, service: ServiceId) -> DependencyStatus {
        let mut status = DependencyStatus::Met;
        for dependency in &self.spec.services[service].depends_on {
            let state = &self.services[dependency.service];
            let name = &self.spec.services[dependency.service].name;
            let ended = matches!(
                state.phase,
                Phase::Exited(_) | Phase::Failed | Phase::Stopped
            );
            let met = match dependency.condition {
                DependencyCondition::Started => state.instance_started,
                DependencyCondition::Ready => state.instance_ready,
                DependencyCondition::Completed => state.instance_completed,
            };
            if met {
                continue;
            }
            if ended {
                let what = match state.phase {
                    Phase::Exited(exit) => format!("exited with {}", exit.describe()),
                    _ => "failed".to_string(),
                };
                return DependencyStatus::Impossible(format!(
                    "depends on {name} being {}, but {name} {what}",
                    dependency.condition.as_str()
                ));
            }
            status = DependencyStatus::Pending;
        }
        status
    }

    fn startup_complete(&self) -> bool {
        self.services.iter().all(|state| match state.phase {
            Phase::Inactive | Phase::Running => true,
            Phase::Exited(exit) => exit.success(),
            Phase::Waiting
            | Phase::Starting
            | Phase::Backoff
            | Phase::Stopping
            | Phase::Failed
            | Phase::Stopped => false,
        })
    }

    fn all_ended(&self) -> bool {
        self.services.iter().all(|state| {
            matches!(
                state.phase,
                Phase::Inactive | Phase::Exited(_) | Phase::Failed | Phase::Stopped
            )
        })
    }

    fn spawn(&mut self, service: ServiceId, effects: &mut Vec<Effect>) {
        let state = &mut self.services[service];
        // An earlier instance existed: its ports may still be draining (the first start was
        // checked by pre-flight), and dependents that asked for it restart with it.
        let is_restart = state.generation > 0;
        state.generation += 1;
        state.phase = Phase::Starting;
        state.leader_exit = None;
        state.outlived_leader = false;
        state.after_stop = AfterStop::Stay;
        state.stop_requested = false;
        state.instance_started = false;
        state.instance_ready = false;
        state.instance_completed = false;
        let generation = state.generation;
        if is_restart && !self.spec.services[service].ports.is_empty() {
            effects.push(Effect::AwaitPorts {
                service,
                generation,
            });
        } else {
            effects.push(Effect::Spawn {
                service,
                generation,
            });
        }
        if is_restart {
            self.restart_dependents_of(service, effects);
        }
    }

    /// Dependents whose `depends_on` edge to `service` says `restart = true` are stopped and
    /// started again once the new instance of `service` meets their condition.
    fn restart_dependents_of(&mut self, service: ServiceId, effects: &mut Vec<Effect>) {
        let dependents: Vec<ServiceId> = self.dependents[service]
            .iter()
            .copied()
            .filter(|dependent| {
                self.spec.services[*dependent]
                    .depends_on
                    .iter()
                    .any(|edge| edge.service == service && edge.restart)
            })
            .collect();
        for dependent in dependents {
            if !self.services[dependent].alive {
                continue;
            }
            if self.services[dependent].phase != Phase::Stopping {
                self.stop_service(dependent, effects);
            }
            let name = &self.spec.services[service].name;
            self.services[dependent].last_restart_reason =
                Some(format!("its dependency {name} was restarted"));
            self.services[dependent].after_stop = AfterStop::Respawn(RestartCause::Dependency);
        }
    }

    fn spawned(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        pid: i32,
        effects: &mut Vec<Effect>,
    ) {
        if !self.is_current(service, generation) {
            return;
        }
        let state = &mut self.services[service];
        state.alive = true;
        state.instance_started = true;
        state.spawned_at = Some(now);
        let restart = state.restarts;
        effects.push(Effect::Publish(Event::Started {
            service,
            pid,
            restart,
        }));
        if self.spec.services[service].ready.is_none() {
            self.mark_ready(now, service, effects);
        } else {
            self.advance(now, effects);
        }
    }

    fn mark_ready(&mut self, now: Instant, service: ServiceId, effects: &mut Vec<Effect>) {
        let state = &mut self.services[service];
        state.phase = Phase::Running;
        state.instance_ready = true;
        state.reason = None;
        let elapsed = state
            .spawned_at
            .map(|at| now.saturating_duration_since(at))
            .unwrap_or_default();
        effects.push(Effect::Publish(Event::Ready { service, elapsed }));
        self.advance(now, effects);
    }

    fn probe_timed_out(
        &mut self,
        service: ServiceId,
        generation: u64,
        last_failure: Option<String>,
        effects: &mut Vec<Effect>,
    ) {
        if !self.is_current(service, generation) || self.services[service].phase != Phase::Starting
        {
            return;
        }
        let timeout = self.spec.services[service]
            .ready
            .as_ref()
            .map(|probe| probe.timeout)
            .unwrap_or_default();
        effects.push(Effect::Publish(Event::NotReady {
            service,
            timeout,
            last_failure: last_failure.clone(),
        }));
        if self.mode == Mode::StartingUp {
            let mut reason = format!("not ready after {}", humanize(timeout));
            if let Some(failure) = last_failure {
                reason.push_str(&format!(" (last probe: {failure})"));
            }
            self.fail_startup(service, code::NOT_READY, reason, effects);
            return;
        }
        // After start-up, an instance that never became ready is stopped and counts as a crash.
        self.services[service].after_stop = AfterStop::RestartAsCrash;
        self.stop_service(service, effects);
    }

    fn tree_gone(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        effects: &mut Vec<Effect>,
    ) {
        if !self.is_current(service, generation) {
            return;
        }
        let state = &mut self.services[service];
        state.alive = false;
        let status = match (state.outlived_leader, state.leader_exit) {
            (false, Some(status)) => status,
            _ => Exit::Unknown,
        };
        state.last_exit = Some(status);
        // Nothing of this instance runs any more: it neither is started nor ready for anything
        // that waits on it now (a completed one-shot keeps its `completed`, set below).
        state.instance_started = false;
        state.instance_ready = false;
        let uptime = state
            .spawned_at
            .map(|at| now.saturating_duration_since(at))
            .unwrap_or_default();
        let shutting_down = matches!(self.mode, Mode::ShuttingDown { .. });
        let state = &mut self.services[service];
        if let (Phase::Stopping, AfterStop::Respawn(cause), false) =
            (state.phase, state.after_stop, shutting_down)
        {
            effects.push(Effect::Publish(Event::Stopped {
                service,
                status: state.leader_exit,
            }));
            // Through `Waiting`: a dependent restarted with its dependency waits until the new
            // instance of the dependency meets its condition.
            state.restarts += 1;
            state.restart_causes.record(cause);
            state.phase = Phase::Waiting;
            self.advance(now, effects);
            return;
        }
        if state.phase == Phase::Stopping && state.after_stop != AfterStop::RestartAsCrash {
            state.phase = Phase::Stopped;
            effects.push(Effect::Publish(Event::Stopped {
                service,
                status: state.leader_exit,
            }));
            if state.after_stop == AfterStop::GiveUp && !shutting_down {
                let reason = state.reason.clone().unwrap_or_default();
                self.give_up(service, reason, effects);
            }
            self.advance(now, effects);
            return;
        }
        if matches!(self.mode, Mode::ShuttingDown { .. }) {
            // It ended on its own while everything was being stopped: that is a stop too.
            state.phase = Phase::Stopped;
            effects.push(Effect::Publish(Event::Stopped {
                service,
                status: state.leader_exit,
            }));
            self.advance(now, effects);
            return;
        }
        let was_restart_after_stop = state.after_stop == AfterStop::RestartAsCrash;
        if !was_restart_after_stop {
            effects.push(Effect::Publish(Event::Exited {
                service,
                status,
                uptime,
            }));
        }
        if status.success() && !was_restart_after_stop {
            state.instance_completed = true;
        }
        if self.mode == Mode::StartingUp && !status.success() && !was_restart_after_stop {
            let reason = format!("exited with {} during start-up", status.describe());
            self.fail_startup(service, code::SERVICE_FAILED, reason, effects);
            return;
        }
        if uptime >= STABLE_UPTIME {
            self.services[service].crash_streak = 0;
        }
        let policy = self.spec.services[service].restart.policy;
        let restart = match policy {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => !status.success() || was_restart_after_stop,
            RestartPolicy::Always => true,
        };
        if !restart {
            self.services[service].phase = Phase::Exited(status);
            if !status.success() {
                self.any_failed = true;
            }
            self.advance(now, effects);
            return;
        }
        self.schedule_restart(now, service, effects);
    }

    /// A start attempt ended before any process existed (spawn failed, or ports stayed held).
    fn ended_without_process(
        &mut self,
        now: Instant,
        service: ServiceId,
        reason: String,
        effects: &mut Vec<Effect>,
    ) {
        self.services[service].alive = false;
        self.services[service].reason = Some(reason.clone());
        if matches!(self.mode, Mode::ShuttingDown { .. }) {
            self.services[service].phase = Phase::Stopped;
            self.advance(now, effects);
            return;
        }
        if self.mode == Mode::StartingUp
            || self.spec.services[service].restart.policy == RestartPolicy::Never
        {
            if self.mode == Mode::StartingUp {
                self.fail_startup(service, code::SERVICE_FAILED, reason, effects);
            } else {
                self.give_up(service, reason, effects);
                self.advance(now, effects);
            }
            return;
        }
        self.schedule_restart(now, service, effects);
    }

    fn schedule_restart(&mut self, now: Instant, service: ServiceId, effects: &mut Vec<Effect>) {
        let restart_spec = self.spec.services[service].restart;
        if !self.services[service].window.try_record(now, &restart_spec) {
            let reason = format!(
                "crash loop: more than {} restarts within {}; not restarting again",
                restart_spec.max_restarts,
                humanize(restart_spec.window)
            );
            self.give_up(service, reason, effects);
            self.advance(now, effects);
            return;
        }
        let unit_random = self.next_random();
        let state = &mut self.services[service];
        let delay = backoff::delay(&restart_spec, state.crash_streak, unit_random);
        state.crash_streak = state.crash_streak.saturating_add(1);
        state.restarts += 1;
        state.restart_causes.record(RestartCause::Crash);
        state.last_restart_reason = state.reason.clone().or_else(|| {
            state
                .last_exit
                .map(|exit| format!("it exited with {}", exit.describe()))
        });
        state.phase = Phase::Backoff;
        state.timer_sequence += 1;
        let attempt = state.restarts;
        let sequence = state.timer_sequence;
        effects.push(Effect::Publish(Event::Restarting {
            service,
            delay,
            attempt,
        }));
        if delay.is_zero() {
            self.spawn(service, effects);
        } else {
            effects.push(Effect::ArmTimer {
                service,
                sequence,
                kind: TimerKind::Restart,
                after: delay,
            });
        }
    }

    fn give_up(&mut self, service: ServiceId, reason: String, effects: &mut Vec<Effect>) {
        self.services[service].phase = Phase::Failed;
        self.services[service].reason = Some(reason.clone());
        self.any_failed = true;
        effects.push(Effect::Publish(Event::Failed { service, reason }));
    }

    fn timer(
        &mut self,
        now: Instant,
        service: ServiceId,
        sequence: u64,
        kind: TimerKind,
        effects: &mut Vec<Effect>,
    ) {
        let state = &self.services[service];
        if state.timer_sequence != sequence {
            return;
        }
        match (kind, state.phase) {
            (TimerKind::Restart, Phase::Backoff)
                if !matches!(self.mode, Mode::ShuttingDown { .. }) =>
            {
                self.spawn(service, effects);
            }
            (TimerKind::StopTimeout, Phase::Stopping) if state.alive => {
                let after = self.spec.services[service].stop.timeout;
                effects.push(Effect::Publish(Event::Killing {
                    service,
                    after: Some(after),
                }));
                effects.push(Effect::Signal {
                    service,
                    signal: Signal::KILL,
                });
            }
            _ => {}
        }
        let _ = now;
    }

    fn control(
        &mut self,
        now: Instant,
        service: ServiceId,
        action: ServiceAction,
        effects: &mut Vec<Effect>,
    ) {
        if matches!(
            self.mode,
            Mode::Idle | Mode::ShuttingDown { .. } | Mode::Done
        ) {
            return;
        }
        let state = &mut self.services[service];
        match action {
            ServiceAction::Stop => {
                // What depends on it stops too, first: leaving it running on a stopped
                // dependency would leave it broken.
                let affected = graph::with_dependents(&self.dependents, service);
                for (id, affected) in affected.into_iter().enumerate() {
                    if !affected {
                        continue;
                    }
                    let state = &mut self.services[id];
                    if state.alive {
                        state.stop_requested = true;
                        state.after_stop = AfterStop::Stay;
                    } else if matches!(
                        state.phase,
                        Phase::Waiting | Phase::Backoff | Phase::Starting
                    ) {
                        // Nothing runs yet: a pending spawn or restart is abandoned by moving on
                        // to a new generation and timer sequence, so late answers are ignored.
                        state.phase = Phase::Stopped;
                        state.generation += 1;
                        state.timer_sequence += 1;
                        effects.push(Effect::Publish(Event::Stopped {
                            service: id,
                            status: None,
                        }));
                    }
                }
                self.advance(now, effects);
            }
            ServiceAction::Restart if state.alive => {
                if state.phase != Phase::Stopping {
                    self.stop_service(service, effects);
                }
                self.services[service].last_restart_reason = Some("restart requested".to_string());
                self.services[service].after_stop = AfterStop::Respawn(RestartCause::Manual);
            }
            ServiceAction::Start | ServiceAction::Restart => {
                // Start it with whatever it depends on that is not running (like `up NAME`).
                let wanted = graph::selection(&self.spec, &[service]);
                for (id, selected) in wanted.into_iter().enumerate() {
                    let state = &mut self.services[id];
                    let idle = matches!(
                        state.phase,
                        Phase::Inactive | Phase::Stopped | Phase::Exited(_) | Phase::Failed
                    );
                    if selected && idle && !state.alive {
                        state.phase = Phase::Waiting;
                        // A fresh start is a fresh chance: the crash-loop history is forgotten.
                        state.window = RestartWindow::default();
                        state.crash_streak = 0;
                    }
                }
                self.advance(now, effects);
            }
        }
    }

    /// A graceful restart of an instance whose tree grew past `max_memory`. It counts against
    /// the crash-loop window: a service that outgrows its limit right after every start is
    /// given up on, loudly, rather than restarted forever.
    fn memory_limit_exceeded(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        reason: String,
        effects: &mut Vec<Effect>,
    ) {
        let state = &self.services[service];
        let stale = state.generation != generation
            || !state.alive
            || matches!(state.phase, Phase::Stopping)
            || state.stop_requested;
        if stale || matches!(self.mode, Mode::ShuttingDown { .. } | Mode::Done) {
            return;
        }
        effects.push(Effect::Publish(Event::MemoryLimitExceeded {
            service,
            reason: reason.clone(),
        }));
        let restart_spec = self.spec.services[service].restart;
        let within_limit = self.services[service].window.try_record(now, &restart_spec);
        self.stop_service(service, effects);
        let state = &mut self.services[service];
        state.last_restart_reason = Some(reason.clone());
        if within_limit {
            state.after_stop = AfterStop::Respawn(RestartCause::MemoryLimit);
        } else {
            state.after_stop = AfterStop::GiveUp;
            state.reason = Some(format!(
                "{reason}, more than {} times within {}; not restarting again",
                restart_spec.max_restarts,
                humanize(restart_spec.window)
            ));
        }
    }

    fn fail_startup(
        &mut self,
        service: ServiceId,
        code: u8,
        reason: String,
        effects: &mut Vec<Effect>,
    ) {
        if self.services[service].phase == Phase::Waiting {
            self.services[service].phase = Phase::Failed;
        }
        self.any_failed = true;
        effects.push(Effect::Publish(Event::StartupFailed { service, reason }));
        self.shutdown(code, false, effects);
    }

    fn shutdown(&mut self, code: u8, force: bool, effects: &mut Vec<Effect>) {
        let forced = match self.mode {
            // A second request while stopping skips the grace period.
            Mode::ShuttingDown {
                code: first_code, ..
            } => {
                self.mode = Mode::ShuttingDown {
                    code: first_code,
                    forced: true,
                };
                true
            }
            Mode::Done => return,
            _ => {
                let code = if code == code::SUCCESS && self.any_failed {
                    code::SERVICE_FAILED
                } else {
                    code
                };
                self.mode = Mode::ShuttingDown {
                    code,
                    forced: force,
                };
                force
            }
        };
        effects.push(Effect::Publish(Event::ShuttingDown { forced }));
        for state in &mut self.services {
            // Nothing runs for these: they are simply stopped. A pending spawn (Starting without a
            // live process) is abandoned: its generation is bumped so a late `PortsFree` is stale.
            match state.phase {
                Phase::Waiting | Phase::Backoff => state.phase = Phase::Stopped,
                Phase::Starting if !state.alive => {
                    state.phase = Phase::Stopped;
                    state.generation += 1;
                }
                _ => {}
            }
        }
        if forced {
            for service in 0..self.services.len() {
                if self.services[service].alive {
                    self.services[service].phase = Phase::Stopping;
                    effects.push(Effect::Publish(Event::Killing {
                        service,
                        after: None,
                    }));
                    effects.push(Effect::Signal {
                        service,
                        signal: Signal::KILL,
                    });
                }
            }
        }
        self.advance_shutdown(effects);
    }

    /// Stops every live service none of whose live dependents is still running; exits when
    /// nothing is alive any more.
    fn advance_shutdown(&mut self, effects: &mut Vec<Effect>) {
        let Mode::ShuttingDown { code, .. } = self.mode else {
            return;
        };
        for service in 0..self.services.len() {
            let state = &self.services[service];
            if !state.alive || state.phase == Phase::Stopping {
                continue;
            }
            let dependents_alive = self.dependents[service]
                .iter()
                .any(|dependent| self.services[*dependent].alive);
            if !dependents_alive {
                self.stop_service(service, effects);
            }
        }
        if self.services.iter().all(|state| !state.alive) {
            for state in &mut self.services {
                if matches!(
                    state.phase,
                    Phase::Stopping | Phase::Starting | Phase::Running
                ) {
                    state.phase = Phase::Stopped;
                }
            }
            self.mode = Mode::Done;
            effects.push(Effect::Exit { code });
        }
    }

    /// Stops each service whose stop was requested once nothing alive depends on it.
    fn advance_requested_stops(&mut self, effects: &mut Vec<Effect>) {
        for service in 0..self.services.len() {
            let state = &self.services[service];
            if !state.stop_requested || !state.alive || state.phase == Phase::Stopping {
                continue;
            }
            if !self.dependents[service]
                .iter()
                .any(|dependent| self.services[*dependent].alive)
            {
                self.stop_service(service, effects);
                self.services[service].after_stop = AfterStop::Stay;
            }
        }
    }

    fn stop_service(&mut self, service: ServiceId, effects: &mut Vec<Effect>) {
        let stop = self.spec.services[service].stop;
        let state = &mut self.services[service];
        state.phase = Phase::Stopping;
        state.timer_sequence += 1;
        let sequence = state.timer_sequence;
        effects.push(Effect::Publish(Event::Stopping {
            service,
            signal: stop.signal,
        }));
        effects.push(Effect::Signal {
            service,
            signal: stop.signal,
        });
        effects.push(Effect::ArmTimer {
            service,
            sequence,
            kind: TimerKind::StopTimeout,
            after: stop.timeout,
        });
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

enum DependencyStatus {
    Met,
    Pending,
    Impossible(String),
}

/// `1.5s`, `250ms`, `2m`: for messages.
pub fn humanize(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let secs = duration.as_secs_f64();
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{secs:.1}s")
        }
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::spec::{
        CommandSpec, Dependency, ReadyCheck, ReadyProbe, RestartSpec, ServiceSpec, StopSpec,
    };

    fn service(
        name: &str,
        depends_on: &[(ServiceId, DependencyCondition)],
        probe: bool,
    ) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            command: CommandSpec {
                argv: vec!["true".into()],
                shell: false,
            },
            cwd: PathBuf::from("/"),
            env: BTreeMap::new(),
            ports: Vec::new(),
            depends_on: depends_on
                .iter()
                .map(|(service, condition)| Dependency {
                    service: *service,
                    condition: *condition,
                    restart: false,
                })
                .collect(),
            ready: probe.then(|| ReadyProbe {
                check: ReadyCheck::Tcp {
                    host: "127.0.0.1".into(),
                    port: 1,
                },
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(30),
                recheck: None,
            }),
            restart: RestartSpec {
                policy: RestartPolicy::OnFailure,
                backoff_initial: Duration::from_millis(100),
                backoff_max: Duration::from_secs(5),
                max_restarts: 3,
                window: Duration::from_secs(60),
            },
            stop: StopSpec {
                signal: Signal::TERM,
                timeout: Duration::from_secs(10),
            },
            limits: Default::default(),
        }
    }

    fn project(services: Vec<ServiceSpec>) -> Arc<ProjectSpec> {
        Arc::new(ProjectSpec {
            source: PathBuf::from("/w/wrangle.toml"),
            root: PathBuf::from("/w"),
            services,
            logs: Default::default(),
            notify: Vec::new(),
            monitor: Default::default(),
            metrics: None,
        })
    }

    #[test]
    fn memory_limit_restarts_gracefully_and_counts_its_cause() {
        let mut harness = daemon(project(vec![
            service("api", &[], false),
            service("db", &[], false),
        ]));
        harness.feed(Input::Start { services: vec![] });
        let limit = |generation| Input::MemoryLimitExceeded {
            service: 0,
            generation,
            reason: "memory limit: 600MiB > 500MiB (max_memory)".to_string(),
        };
        harness.feed(limit(1));
        assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
        // A second report about the same instance while it stops changes nothing.
        harness.feed(limit(1));
        assert_eq!(harness.signals.len(), 1);
        harness.exit_tree(0, Exit::Signal(15));
        assert_eq!(harness.spawned_services(), vec![0, 1, 0]);
        assert_eq!(harness.phase(0), Phase::Running);
        let view = harness.engine.view(0);
        assert_eq!(view.restarts, 1);
        assert_eq!(view.restart_causes.get(RestartCause::MemoryLimit), 1);
        assert_eq!(view.restart_causes.get(RestartCause::Crash), 0);
        assert!(
            view.last_restart_reason
                .as_deref()
                .is_some_and(|reason| reason.starts_with("memory limit"))
        );
        assert!(
            harness
                .events
                .iter()
                .any(|event| matches!(event, Event::MemoryLimitExceeded { service: 0, .. }))
        );
        // A stale report about the previous instance is ignored.
        harness.feed(limit(1));
        assert_eq!(harness.signals.len(), 1);
        assert_eq!(harness.engine.view(1).restarts, 0);
    }

    #[test]
    fn a_service_over_its_memory_limit_after_every_start_is_given_up() {
        let mut leaking = service("leak", &[], false);
        leaking.restart.max_restarts = 2;
        let mut harness = daemon(project(vec![leaking]));
        harness.feed(Input::Start { services: vec![] });
        for _ in 0..3 {
            let generation = harness.generation(0);
            harness.feed(Input::MemoryLimitExceeded {
                service: 0,
                generation,
                reason: "memory limit: 9MiB > 8MiB (max_memory)".to_string(),
            });
            harness.exit_tree(0, Exit::Signal(15));
        }
        assert_eq!(harness.phase(0), Phase::Failed);
        assert_eq!(harness.spawned_services(), vec![0, 0, 0]);
        assert!(harness.events.iter().any(|event| matches!(
            event,
            Event::Failed { reason, .. } if reason.contains("more than 2 times")
        )));
    }

    #[test]
    fn restart_causes_tell_crashes_from_requests_and_dependencies() {
        let mut api = service("api", &[(0, DependencyCondition::Started)], false);
        // api restarts with db.
        api.depends_on[0].restart = true;
        let mut harness = daemon(project(vec![service("db", &[], false), api]));
        harness.feed(Input::Start { services: vec![] });
        harness.exit_tree(0, Exit::Code(1));
        harness.fire_last_timer(TimerKind::Restart);
        harness.exit_tree(1, Exit::Signal(15));
        harness.feed(Input::Control {
            service: 1,
            action: ServiceAction::Restart,
        });
        harness.exit_tree(1, Exit::Signal(15));
        let db = harness.engine.view(0);
        assert_eq!(db.restart_causes.get(RestartCause::Crash), 1);
        assert!(
            db.last_restart_reason
                .as_deref()
                .is_some_and(|reason| reason.contains("exited with code 1"))
        );
        let api = harness.engine.view(1);
        assert_eq!(api.restart_causes.get(RestartCause::Dependency), 1);
        assert_eq!(api.restart_causes.get(RestartCause::Manual), 1);
        assert_eq!(
            api.last_restart_reason.as_deref(),
            Some("restart requested")
        );
    }

    /// Drives an engine like the runtime does: spawns succeed at once with fake pids.
    struct Harness {
        engine: Engine,
        now: Instant,
        spawned: Vec<(ServiceId, u64)>,
        signals: Vec<(ServiceId, Signal)>,
        timers: Vec<(ServiceId, u64, TimerKind, Duration)>,
        events: Vec<Event>,
        exit: Option<u8>,
    }

    impl Harness {
        fn new(spec: Arc<ProjectSpec>) -> Harness {
            Harness {
                engine: Engine::new(spec, Lifetime::UntilIdle, 42),
                now: Instant::now(),
                spawned: Vec::new(),
                signals: Vec::new(),
                timers: Vec::new(),
                events: Vec::new(),
                exit: None,
            }
        }

        fn feed(&mut self, input: Input) {
            let mut queue = std::collections::VecDeque::from(self.engine.handle(self.now, input));
            while let Some(effect) = queue.pop_front() {
                match effect {
                    Effect::Spawn {
                        service,
                        generation,
                    } => {
                        self.spawned.push((service, generation));
                        let pid = 1000 + service as i32;
                        queue.extend(self.engine.handle(
                            self.now,
                            Input::Spawned {
                                service,
                                generation,
                                pid,
                            },
                        ));
                    }
                    Effect::AwaitPorts {
                        service,
                        generation,
                    } => {
                        queue.extend(self.engine.handle(
                            self.now,
                            Input::PortsFree {
                                service,
                                generation,
                            },
                        ));
                    }
                    Effect::Signal { service, signal } => self.signals.push((service, signal)),
                    Effect::ArmTimer {
                        service,
                        sequence,
                        kind,
                        after,
                    } => self.timers.push((service, sequence, kind, after)),
                    Effect::Publish(event) => self.events.push(event),
                    Effect::Exit { code } => self.exit = Some(code),
                }
            }
        }

        fn generation(&self, service: ServiceId) -> u64 {
            self.engine.services[service].generation
        }

        fn exit_tree(&mut self, service: ServiceId, status: Exit) {
            let generation = self.generation(service);
            self.feed(Input::LeaderExited {
                service,
                generation,
                status,
                survivors: 0,
            });
            self.feed(Input::TreeGone {
                service,
                generation,
            });
        }

        fn spawned_services(&self) -> Vec<ServiceId> {
            self.spawned.iter().map(|(service, _)| *service).collect()
        }

        fn phase(&self, service: ServiceId) -> Phase {
            self.engine.view(service).phase
        }

        fn fire_last_timer(&mut self, kind: TimerKind) {
            let (service, sequence, _, after) = *self
                .timers
                .iter()
                .rev()
                .find(|timer| timer.2 == kind)
                .expect("a timer of that kind");
            self.now += after;
            self.feed(Input::Timer {
                service,
                sequence,
                kind,
            });
        }
    }

    #[test]
    fn dependent_starts_only_after_its_dependency_is_ready() {
        // 0 db (probe) <- 1 api (probe, needs db ready) <- 2 web (needs api ready)
        let spec = project(vec![
            service("db", &[], true),
            service("api", &[(0, DependencyCondition::Ready)], true),
            service("web", &[(1, DependencyCondition::Ready)], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        assert_eq!(harness.spawned_services(), vec![0]);
        harness.feed(Input::ProbePassed {
            service: 0,
            generation: 1,
        });
        assert_eq!(harness.spawned_services(), vec![0, 1]);
        assert!(harness.exit.is_none());
        harness.feed(Input::ProbePassed {
            service: 1,
            generation: 1,
        });
        assert_eq!(harness.spawned_services(), vec![0, 1, 2]);
        assert!(
            harness
                .events
                .iter()
                .any(|event| matches!(event, Event::AllReady { count: 3, .. }))
        );
    }

    #[test]
    fn independent_services_start_together_and_started_condition_does_not_wait_for_readiness() {
        let spec = project(vec![
            service("a", &[], true),
            service("b", &[], true),
            service("c", &[(0, DependencyCondition::Started)], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        assert_eq!(harness.spawned_services(), vec![0, 1, 2]);
    }

    #[test]
    fn completed_condition_waits_for_a_successful_exit() {
        let spec = project(vec![
            service("migrate", &[], false),
            service("api", &[(0, DependencyCondition::Completed)], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        assert_eq!(harness.spawned_services(), vec![0]);
        harness.exit_tree(0, Exit::Code(0));
        assert_eq!(harness.spawned_services(), vec![0, 1]);
        assert_eq!(harness.phase(0), Phase::Exited(Exit::Code(0)));
        assert!(
            harness
                .events
                .iter()
                .any(|event| matches!(event, Event::AllReady { .. }))
        );
    }

    #[test]
    fn a_failed_one_shot_fails_start_up_with_code_1_and_stops_the_rest() {
        let spec = project(vec![
            service("db", &[], false),
            service("migrate", &[(0, DependencyCondition::Ready)], false),
            service("api", &[(1, DependencyCondition::Completed)], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.exit_tree(1, Exit::Code(2));
        assert!(
            harness
                .events
                .iter()
                .any(|event| matches!(event, Event::StartupFailed { service: 1, .. }))
        );
        assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
        assert!(harness.exit.is_none(), "db is still alive");
        harness.exit_tree(0, Exit::Signal(15));
        assert_eq!(harness.exit, Some(code::SERVICE_FAILED));
        assert_eq!(harness.spawned_services(), vec![0, 1], "api never starts");
    }

    #[test]
    fn readiness_timeout_during_start_up_exits_3() {
        let spec = project(vec![
            service("api", &[], true),
            service("web", &[(0, DependencyCondition::Ready)], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::ProbeTimedOut {
            service: 0,
            generation: 1,
            last_failure: Some("connection refused".into()),
        });
        assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
        harness.exit_tree(0, Exit::Signal(15));
        assert_eq!(harness.exit, Some(code::NOT_READY));
        assert_eq!(harness.spawned_services(), vec![0]);
    }

    #[test]
    fn crashes_after_start_up_back_off_then_the_service_is_marked_failed() {
        let spec = project(vec![
            service("worker", &[], false),
            service("other", &[], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        let mut delays = Vec::new();
        for _ in 0..3 {
            harness.exit_tree(0, Exit::Code(1));
            assert_eq!(harness.phase(0), Phase::Backoff);
            delays.push(harness.timers.last().expect("a restart timer").3);
            harness.fire_last_timer(TimerKind::Restart);
            assert_eq!(harness.phase(0), Phase::Running);
        }
        assert!(delays[0] < delays[2], "backoff grows: {delays:?}");
        harness.exit_tree(0, Exit::Code(1));
        assert_eq!(harness.phase(0), Phase::Failed);
        assert!(harness.events.iter().any(|event| matches!(event, Event::Failed { service: 0, reason } if reason.contains("crash loop"))));
        assert_eq!(harness.phase(1), Phase::Running, "others are untouched");
        assert!(harness.exit.is_none());
    }

    #[test]
    fn a_stale_timer_or_probe_result_is_ignored() {
        let spec = project(vec![service("api", &[], true)]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::ProbePassed {
            service: 0,
            generation: 7,
        });
        assert_eq!(harness.phase(0), Phase::Starting);
        harness.feed(Input::Timer {
            service: 0,
            sequence: 99,
            kind: TimerKind::Restart,
        });
        assert_eq!(harness.spawned.len(), 1);
    }

    #[test]
    fn shutdown_stops_in_reverse_dependency_order_and_kills_after_the_timeout() {
        let spec = project(vec![
            service("db", &[], false),
            service("api", &[(0, DependencyCondition::Ready)], false),
            service("web", &[(1, DependencyCondition::Ready)], false),
            service("cron", &[], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::Shutdown { force: false });
        assert_eq!(harness.signals, vec![(2, Signal::TERM), (3, Signal::TERM)]);
        harness.exit_tree(2, Exit::Signal(15));
        assert_eq!(harness.signals.last(), Some(&(1, Signal::TERM)));
        harness.fire_last_timer(TimerKind::StopTimeout);
        assert_eq!(harness.signals.last(), Some(&(1, Signal::KILL)));
        harness.exit_tree(1, Exit::Signal(9));
        harness.exit_tree(3, Exit::Signal(15));
        assert_eq!(harness.signals.last(), Some(&(0, Signal::TERM)));
        harness.exit_tree(0, Exit::Code(0));
        assert_eq!(harness.exit, Some(code::SUCCESS));
    }

    #[test]
    fn a_second_shutdown_kills_everything_at_once() {
        let spec = project(vec![
            service("db", &[], false),
            service("api", &[(0, DependencyCondition::Ready)], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::Shutdown { force: false });
        harness.feed(Input::Shutdown { force: false });
        assert!(harness.signals.contains(&(0, Signal::KILL)));
        assert!(harness.signals.contains(&(1, Signal::KILL)));
    }

    #[test]
    fn selecting_a_service_pulls_in_its_dependencies_only() {
        let spec = project(vec![
            service("db", &[], false),
            service("api", &[(0, DependencyCondition::Ready)], false),
            service("web", &[], false),
        ]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![1] });
        assert_eq!(harness.spawned_services(), vec![0, 1]);
        assert_eq!(harness.phase(2), Phase::Inactive);
    }

    #[test]
    fn a_daemonizing_service_keeps_running_after_its_leader_exits() {
        let spec = project(vec![service("redis", &[], true)]);
        let mut harness = Harness::new(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::LeaderExited {
            service: 0,
            generation: 1,
            status: Exit::Code(0),
            survivors: 1,
        });
        assert_eq!(harness.phase(0), Phase::Starting);
        harness.feed(Input::ProbePassed {
            service: 0,
            generation: 1,
        });
        assert_eq!(harness.phase(0), Phase::Running);
        // When the daemon later dies, its status is unknown: on-failure restarts it.
        harness.feed(Input::TreeGone {
            service: 0,
            generation: 1,
        });
        assert_eq!(harness.phase(0), Phase::Backoff);
    }

    #[test]
    fn restart_never_leaves_a_crashed_service_exited_and_exits_when_nothing_is_left() {
        let mut one_shot = service("job", &[], false);
        one_shot.restart.policy = RestartPolicy::Never;
        let mut harness = Harness::new(project(vec![one_shot]));
        harness.feed(Input::Start { services: vec![] });
        harness.exit_tree(0, Exit::Code(0));
        assert_eq!(harness.exit, Some(code::SUCCESS));
    }

    fn daemon(spec: Arc<ProjectSpec>) -> Harness {
        let mut harness = Harness::new(spec);
        harness.engine = Engine::new(
            Arc::clone(&harness.engine.spec),
            Lifetime::UntilShutdown,
            42,
        );
        harness
    }

    #[test]
    fn stop_then_start_one_service_leaves_the_others_alone() {
        let spec = project(vec![
            service("db", &[], false),
            service("api", &[(0, DependencyCondition::Ready)], false),
        ]);
        let mut harness = daemon(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::Control {
            service: 1,
            action: ServiceAction::Stop,
        });
        assert_eq!(harness.signals, vec![(1, Signal::TERM)]);
        harness.exit_tree(1, Exit::Signal(15));
        assert_eq!(harness.phase(1), Phase::Stopped);
        assert_eq!(harness.phase(0), Phase::Running);
        assert!(
            harness.exit.is_none(),
            "a daemon keeps running with a stopped service"
        );
        harness.feed(Input::Control {
            service: 1,
            action: ServiceAction::Start,
        });
        assert_eq!(harness.spawned_services(), vec![0, 1, 1]);
        assert_eq!(harness.phase(1), Phase::Running);
    }

    #[test]
    fn starting_a_service_starts_its_stopped_dependencies_first() {
        let spec = project(vec![
            service("db", &[], true),
            service("api", &[(0, DependencyCondition::Ready)], false),
        ]);
        let mut harness = daemon(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::ProbePassed {
            service: 0,
            generation: 1,
        });
        harness.feed(Input::Control {
            service: 1,
            action: ServiceAction::Stop,
        });
        harness.exit_tree(1, Exit::Signal(15));
        harness.feed(Input::Control {
            service: 0,
            action: ServiceAction::Stop,
        });
        harness.exit_tree(0, Exit::Signal(15));
        harness.feed(Input::Control {
            service: 1,
            action: ServiceAction::Start,
        });
        // db is spawned first; api waits for the new db instance to be ready.
        assert_eq!(&harness.spawned_services()[2..], &[0]);
        harness.feed(Input::ProbePassed {
            service: 0,
            generation: 2,
        });
        assert_eq!(&harness.spawned_services()[2..], &[0, 1]);
    }

    #[test]
    fn restart_respawns_without_counting_a_crash() {
        let spec = project(vec![service("api", &[], false)]);
        let mut harness = daemon(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::Control {
            service: 0,
            action: ServiceAction::Restart,
        });
        assert_eq!(harness.signals, vec![(0, Signal::TERM)]);
        harness.exit_tree(0, Exit::Signal(15));
        assert_eq!(harness.spawned_services(), vec![0, 0]);
        assert_eq!(harness.phase(0), Phase::Running);
        assert!(
            !harness
                .events
                .iter()
                .any(|event| matches!(event, Event::Exited { .. } | Event::Restarting { .. }))
        );
    }

    #[test]
    fn start_gives_a_failed_service_a_fresh_crash_window() {
        let mut crashing = service("job", &[], false);
        crashing.restart.max_restarts = 0;
        let mut harness = daemon(project(vec![crashing, service("other", &[], false)]));
        harness.feed(Input::Start { services: vec![] });
        harness.exit_tree(0, Exit::Code(1));
        assert_eq!(harness.phase(0), Phase::Failed);
        harness.feed(Input::Control {
            service: 0,
            action: ServiceAction::Start,
        });
        assert_eq!(harness.phase(0), Phase::Running);
        assert_eq!(harness.spawned_services(), vec![0, 1, 0]);
    }

    #[test]
    fn stopping_a_service_in_backoff_cancels_its_restart() {
        let mut harness = daemon(project(vec![service("job", &[], false)]));
        harness.feed(Input::Start { services: vec![] });
        harness.exit_tree(0, Exit::Code(1));
        assert_eq!(harness.phase(0), Phase::Backoff);
        harness.feed(Input::Control {
            service: 0,
            action: ServiceAction::Stop,
        });
        assert_eq!(harness.phase(0), Phase::Stopped);
        harness.fire_last_timer(TimerKind::Restart);
        assert_eq!(
            harness.spawned_services(),
            vec![0],
            "the stale restart timer is ignored"
        );
    }

    #[test]
    fn dependents_restart_with_their_dependency_only_when_asked_and_wait_for_it() {
        let mut spec = vec![
            service("db", &[], true),
            service("api", &[(0, DependencyCondition::Ready)], false),
            service("cron", &[(0, DependencyCondition::Ready)], false),
        ];
        spec[1].depends_on[0].restart = true;
        let mut harness = daemon(project(spec));
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::ProbePassed {
            service: 0,
            generation: 1,
        });
        assert_eq!(harness.spawned_services(), vec![0, 1, 2]);
        harness.feed(Input::Control {
            service: 0,
            action: ServiceAction::Restart,
        });
        harness.exit_tree(0, Exit::Signal(15));
        // db's new instance is spawned and api (restart = true) is stopped; cron is left alone.
        assert_eq!(harness.spawned_services(), vec![0, 1, 2, 0]);
        assert!(harness.signals.contains(&(1, Signal::TERM)));
        assert!(!harness.signals.contains(&(2, Signal::TERM)));
        harness.exit_tree(1, Exit::Signal(15));
        assert_eq!(
            harness.phase(1),
            Phase::Waiting,
            "api waits for the new db to be ready"
        );
        harness.feed(Input::ProbePassed {
            service: 0,
            generation: 2,
        });
        assert_eq!(harness.spawned_services(), vec![0, 1, 2, 0, 1]);
        assert_eq!(harness.phase(2), Phase::Running);
    }

    #[test]
    fn stopping_a_dependency_stops_its_dependents_first() {
        let spec = project(vec![
            service("db", &[], false),
            service("api", &[(0, DependencyCondition::Ready)], false),
            service("web", &[(1, DependencyCondition::Ready)], false),
            service("cron", &[], false),
        ]);
        let mut harness = daemon(spec);
        harness.feed(Input::Start { services: vec![] });
        harness.feed(Input::Control {
            service: 0,
            action: ServiceAction::Stop,
        });
        assert_eq!(harness.signals, vec![(2, Signal::TERM)], "web first");
        harness.exit_tree(2, Exit::Signal(15));
        assert_eq!(harness.signals.last(), Some(&(1, Signal::TERM)));
        harness.exit_tree(1, Exit::Signal(15));
        assert_eq!(harness.signals.last(), Some(&(0, Signal::TERM)));
        harness.exit_tree(0, Exit::Signal(15));
        for service in 0..3 {
            assert_eq!(harness.phase(service), Phase::Stopped);
        }
        assert_eq!(
            harness.phase(3),
            Phase::Running,
            "cron does not depend on db"
        );
        // Starting web brings its dependencies back, in order.
        harness.feed(Input::Control {
            service: 2,
            action: ServiceAction::Start,
        });
        assert_eq!(&harness.spawned_services()[4..], &[0, 1, 2]);
    }

    #[test]
    fn humanize_reads_naturally() {
        assert_eq!(humanize(Duration::from_millis(412)), "412ms");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humanize(Duration::from_secs(10)), "10s");
        assert_eq!(humanize(Duration::from_secs(120)), "2m");
    }
}
