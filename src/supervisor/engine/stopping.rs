//! Stopping: a user's start/stop/restart of a service or of one instance, the graceful restart at
//! `max_memory` or after failed liveness probes, the shutdown of everything in reverse dependency order, and the stop of one tree
//! (its stop signal, then SIGKILL after its timeout).

use std::time::{Duration, Instant};

use crate::exit;
use crate::spec::{ServiceId, Signal};
use crate::supervisor::engine::restart_rule::{RunEnd, Verdict};
use crate::supervisor::engine::state::{AfterStop, Lifecycle, Stage};
use crate::supervisor::engine::{Effect, Effects, Engine, RestartCause, ServiceAction, TimerKind};
use crate::supervisor::event::{Event, InstanceId};
use crate::supervisor::graph;

impl Engine {
    pub(super) fn control(
        &mut self,
        now: Instant,
        service: ServiceId,
        action: ServiceAction,
        fx: &mut Effects,
    ) {
        if !matches!(self.stage, Stage::StartingUp { .. } | Stage::Running) {
            return;
        }
        self.interrupt_reload(service, action_name(action), fx);
        // A user's stop holds until a user's start: scheduled times do not undo it.
        self.set_schedule(service, action != ServiceAction::Stop);
        match action {
            ServiceAction::Stop => self.stop_with_dependents(now, service, fx),
            ServiceAction::Restart
                if self.services[service]
                    .instances
                    .iter()
                    .any(|state| state.lifecycle.alive()) =>
            {
                for id in self.ids(service) {
                    self.restart_instance(id, fx);
                }
                // Its instances that had ended start again too.
                self.wake_ended(service);
                self.advance(now, fx);
            }
            // Start it with whatever it depends on that is not running (like `up NAME`).
            ServiceAction::Start | ServiceAction::Restart => {
                self.start_with_dependencies(now, service, fx)
            }
        }
    }

    /// A user's request about one instance: what depends on the service is left alone, since
    /// the service's other instances go on.
    pub(super) fn instance_control(
        &mut self,
        now: Instant,
        id: InstanceId,
        action: ServiceAction,
        fx: &mut Effects,
    ) {
        if !matches!(self.stage, Stage::StartingUp { .. } | Stage::Running) {
            return;
        }
        let Some(lifecycle) = self.instance(id).map(|state| state.lifecycle) else {
            return;
        };
        self.interrupt_reload(id.service, action_name(action), fx);
        match (lifecycle, action) {
            (_, ServiceAction::Stop) => {
                self.stop_alone(id, fx);
                self.advance(now, fx);
            }
            (
                Lifecycle::Starting(_)
                | Lifecycle::Running(_)
                | Lifecycle::StopQueued { .. }
                | Lifecycle::Stopping { .. },
                ServiceAction::Restart,
            ) => self.restart_instance(id, fx),
            (_, ServiceAction::Start | ServiceAction::Restart) => {
                // Its service's dependencies are started too, like `up NAME` would.
                let wanted = graph::selection(&self.spec, &[id.service]);
                for (service, selected) in wanted.into_iter().enumerate() {
                    if selected && service != id.service {
                        self.wake_ended(service);
                    }
                }
                if let Some(state) = self.instance_mut(id)
                    && state.lifecycle.ended()
                {
                    state.lifecycle = Lifecycle::Waiting;
                    state.crash_loop = Default::default();
                }
                self.advance(now, fx);
            }
        }
    }

    /// Stops a live instance and starts it again at once (not counted as a crash).
    fn restart_instance(&mut self, id: InstanceId, fx: &mut Effects) {
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        let respawn = AfterStop::Respawn(RestartCause::Manual);
        match state.lifecycle {
            // Retiring (a scale down) wins over a restart.
            Lifecycle::Stopping {
                then: AfterStop::Retire,
                ..
            } => return,
            Lifecycle::Stopping { .. } => state.lifecycle.set_after_stop(respawn),
            Lifecycle::Starting(_) | Lifecycle::Running(_) | Lifecycle::StopQueued { .. } => {
                self.stop_instance(id, respawn, fx)
            }
            _ => return,
        }
        if let Some(state) = self.instance_mut(id) {
            state.last_restart_reason = Some("restart requested".to_string());
        }
    }

    /// `start`: the service's ended instances and what it depends on that is not running.
    fn start_with_dependencies(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        let wanted = graph::selection(&self.spec, &[service]);
        for (id, selected) in wanted.into_iter().enumerate() {
            if selected {
                self.wake_ended(id);
            }
        }
        self.advance(now, fx);
    }

    /// Every ended instance of `service` waits to be started again. A fresh start is a fresh
    /// chance: the crash-loop history is forgotten.
    fn wake_ended(&mut self, service: ServiceId) {
        for state in &mut self.services[service].instances {
            if state.lifecycle.ended() {
                state.lifecycle = Lifecycle::Waiting;
                state.crash_loop = Default::default();
            }
        }
    }

    /// Stops `service` and, first, what depends on it: leaving a dependent running on a stopped
    /// dependency would leave it broken.
    fn stop_with_dependents(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        let affected = graph::with_dependents(&self.dependents, service);
        for (affected_service, affected) in affected.into_iter().enumerate() {
            if !affected {
                continue;
            }
            self.set_schedule(affected_service, false);
            for id in self.ids(affected_service) {
                let Some(state) = self.instance_mut(id) else {
                    continue;
                };
                match state.lifecycle {
                    // Stopped in reverse dependency order by `advance_queued_stops`.
                    Lifecycle::Starting(tree) => {
                        state.lifecycle = Lifecycle::StopQueued { tree, ready: false }
                    }
                    Lifecycle::Running(tree) => {
                        state.lifecycle = Lifecycle::StopQueued { tree, ready: true }
                    }
                    Lifecycle::Stopping {
                        then: AfterStop::Retire,
                        ..
                    } => {}
                    Lifecycle::Stopping { .. } => state.lifecycle.set_after_stop(AfterStop::Stay),
                    Lifecycle::Waiting
                    | Lifecycle::Launching { .. }
                    | Lifecycle::Backoff { .. } => self.stop_pending(id, fx),
                    Lifecycle::StopQueued { .. }
                    | Lifecycle::Inactive
                    | Lifecycle::Exited(_)
                    | Lifecycle::Failed
                    | Lifecycle::Stopped => {}
                }
            }
        }
        self.advance(now, fx);
    }

    /// Stops one instance now, whatever depends on its service.
    fn stop_alone(&mut self, id: InstanceId, fx: &mut Effects) {
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        match state.lifecycle {
            Lifecycle::Stopping {
                then: AfterStop::Retire,
                ..
            } => {}
            Lifecycle::Stopping { .. } => state.lifecycle.set_after_stop(AfterStop::Stay),
            Lifecycle::Waiting | Lifecycle::Launching { .. } | Lifecycle::Backoff { .. } => {
                self.stop_pending(id, fx)
            }
            _ => self.stop_instance(id, AfterStop::Stay, fx),
        }
    }

    /// Nothing runs yet: a pending spawn or restart is abandoned, and late answers about it find
    /// no launch or backoff to apply to.
    fn stop_pending(&mut self, id: InstanceId, fx: &mut Effects) {
        if let Some(state) = self.instance_mut(id) {
            state.lifecycle = Lifecycle::Stopped;
            fx.push(Effect::Publish(Event::Stopped {
                instance: id,
                status: None,
            }));
        }
    }

    /// A graceful restart wrangle itself decides on (`why`: a tree past `max_memory`, or one
    /// whose liveness probe failed too often); `reason` says what was seen. It counts in the
    /// crash-loop window like a crash, so a service that needs it right after every start is
    /// given up on, loudly, rather than restarted forever.
    pub(super) fn forced_restart(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        why: ForcedRestart,
        reason: String,
        fx: &mut Effects,
    ) {
        if !matches!(self.stage, Stage::StartingUp { .. } | Stage::Running) {
            return;
        }
        let Some(id) = self.of_generation(service, generation) else {
            return;
        };
        let restart_spec = self.spec.services[service].restart;
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        let tree = match state.lifecycle {
            Lifecycle::Starting(tree) | Lifecycle::Running(tree) => tree,
            // One that is being stopped anyway.
            _ => return,
        };
        fx.push(Effect::Publish(why.event(id, reason.clone())));
        let end = why.run_end(tree.uptime(now));
        let reason = why.restart_reason(reason);
        let then = match state.crash_loop.run_ended(now, &restart_spec, end) {
            Verdict::Restart { .. } => AfterStop::Respawn(why.cause()),
            Verdict::GiveUp(rule) => {
                state.reason = Some(format!("{reason}; {rule}"));
                AfterStop::GiveUp
            }
        };
        state.last_restart_reason = Some(reason);
        self.stop_instance(id, then, fx);
    }

    pub(super) fn shutdown(&mut self, code: u8, force: bool, fx: &mut Effects) {
        let forced = match self.stage {
            // A second request while stopping skips the grace period.
            Stage::ShuttingDown {
                code: first_code, ..
            } => {
                self.stage = Stage::ShuttingDown {
                    code: first_code,
                    forced: true,
                };
                true
            }
            Stage::Done => return,
            Stage::Idle | Stage::StartingUp { .. } | Stage::Running => {
                let code = if code == exit::SUCCESS && self.any_failed {
                    exit::SERVICE_FAILED
                } else {
                    code
                };
                self.stage = Stage::ShuttingDown {
                    code,
                    forced: force,
                };
                force
            }
        };
        fx.push(Effect::Publish(Event::ShuttingDown { forced }));
        for service in 0..self.services.len() {
            self.interrupt_reload(service, "shutdown", fx);
            for state in &mut self.services[service].instances {
                // Nothing runs for these: they are simply stopped, and a late answer about a
                // pending spawn or a late restart timer finds nothing to apply to.
                if let Lifecycle::Waiting
                | Lifecycle::Launching { .. }
                | Lifecycle::Backoff { .. } = state.lifecycle
                {
                    state.lifecycle = Lifecycle::Stopped;
                }
            }
        }
        if forced {
            for service in 0..self.services.len() {
                for id in self.ids(service) {
                    self.kill_now(id, fx);
                }
            }
        }
        self.advance_shutdown(fx);
    }

    /// SIGKILL to a live tree at once (a forced shutdown).
    fn kill_now(&mut self, id: InstanceId, fx: &mut Effects) {
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        let (tree, ready, then) = match state.lifecycle {
            Lifecycle::Stopping {
                tree, ready, then, ..
            } => (tree, ready, then),
            lifecycle => match lifecycle.stoppable() {
                Some((tree, ready)) => (tree, ready, AfterStop::Stay),
                None => return,
            },
        };
        state.lifecycle = Lifecycle::Stopping {
            tree,
            ready,
            kill_timer: None,
            then,
        };
        fx.push(Effect::Publish(Event::Killing {
            instance: id,
            after: None,
        }));
        fx.push(Effect::Signal {
            instance: id,
            signal: Signal::KILL,
        });
    }

    /// Stops every live service none of whose dependents is alive any more; exits when nothing
    /// is alive.
    pub(super) fn advance_shutdown(&mut self, fx: &mut Effects) {
        let Stage::ShuttingDown { code, .. } = self.stage else {
            return;
        };
        for service in 0..self.services.len() {
            if self.dependents_alive(service) {
                continue;
            }
            for id in self.ids(service) {
                if self
                    .instance(id)
                    .is_some_and(|state| state.lifecycle.stoppable().is_some())
                {
                    self.stop_instance(id, AfterStop::Stay, fx);
                }
            }
        }
        if self.all_instances().all(|state| !state.lifecycle.alive()) {
            self.stage = Stage::Done;
            fx.push(Effect::Exit { code });
        }
    }

    /// Stops each instance whose stop is queued once nothing alive depends on its service.
    pub(super) fn advance_queued_stops(&mut self, fx: &mut Effects) {
        for service in 0..self.services.len() {
            let queued: Vec<InstanceId> = self.services[service]
                .instances
                .iter()
                .filter(|state| matches!(state.lifecycle, Lifecycle::StopQueued { .. }))
                .map(|state| InstanceId::new(service, state.number))
                .collect();
            if queued.is_empty() || self.dependents_alive(service) {
                continue;
            }
            for id in queued {
                self.stop_instance(id, AfterStop::Stay, fx);
            }
        }
    }

    fn dependents_alive(&self, service: ServiceId) -> bool {
        self.dependents[service].iter().any(|dependent| {
            self.services[*dependent]
                .instances
                .iter()
                .any(|state| state.lifecycle.alive())
        })
    }

    /// Sends the stop signal to a live tree and arms the timer for SIGKILL; `then` says what
    /// follows once the tree is gone. Nothing happens to a tree already stopping.
    pub(super) fn stop_instance(&mut self, id: InstanceId, then: AfterStop, fx: &mut Effects) {
        let stop = self.spec.services[id.service].stop;
        let Some((tree, ready)) = self
            .instance(id)
            .and_then(|state| state.lifecycle.stoppable())
        else {
            return;
        };
        let timer = self.services[id.service].next_timer();
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        state.lifecycle = Lifecycle::Stopping {
            tree,
            ready,
            kill_timer: Some(timer),
            then,
        };
        fx.push(Effect::Publish(Event::Stopping {
            instance: id,
            signal: stop.signal,
        }));
        fx.push(Effect::Signal {
            instance: id,
            signal: stop.signal,
        });
        fx.push(Effect::ArmTimer {
            service: id.service,
            sequence: timer,
            kind: TimerKind::StopTimeout,
            after: stop.timeout,
        });
    }
}

/// How a user's action is named when it interrupts a reload.
fn action_name(action: ServiceAction) -> &'static str {
    match action {
        ServiceAction::Start => "start",
        ServiceAction::Stop => "stop",
        ServiceAction::Restart => "restart",
    }
}

/// Why wrangle restarts a running tree of its own accord (not its restart policy, not a user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ForcedRestart {
    /// It grew past `max_memory`: not a crash, but a restart all the same.
    MemoryLimit,
    /// Its liveness probe failed too many times in a row: it is hung, or broken in a way its
    /// process cannot see. A crash for the crash-loop rule (a quick one when it did not stay up
    /// `min_uptime`), whatever the restart policy says: a process that stopped working did not
    /// choose to end.
    Liveness,
}

impl ForcedRestart {
    /// The event that says it happened.
    fn event(self, instance: InstanceId, reason: String) -> Event {
        match self {
            ForcedRestart::MemoryLimit => Event::MemoryLimitExceeded { instance, reason },
            ForcedRestart::Liveness => Event::LivenessFailed { instance, reason },
        }
    }

    /// How the crash-loop rule counts the run it ends.
    fn run_end(self, uptime: Duration) -> RunEnd {
        match self {
            ForcedRestart::MemoryLimit => RunEnd::MemoryLimit { uptime },
            ForcedRestart::Liveness => RunEnd::Crashed { uptime },
        }
    }

    /// The reason `ps` and the records give for the restart.
    fn restart_reason(self, reason: String) -> String {
        match self {
            ForcedRestart::MemoryLimit => reason,
            ForcedRestart::Liveness => format!("liveness probe failed: {reason}"),
        }
    }

    fn cause(self) -> RestartCause {
        match self {
            ForcedRestart::MemoryLimit => RestartCause::MemoryLimit,
            ForcedRestart::Liveness => RestartCause::Liveness,
        }
    }
}
