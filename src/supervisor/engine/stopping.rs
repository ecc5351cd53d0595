//! Stopping: a user's start/stop/restart of one service, the graceful restart at `max_memory`,
//! the shutdown of everything in reverse dependency order, and the stop of one instance (its stop
//! signal, then SIGKILL after its timeout).

use std::time::Instant;

use crate::exit;
use crate::spec::{ServiceId, Signal};
use crate::supervisor::engine::restart_rule::{RunEnd, Verdict};
use crate::supervisor::engine::state::{AfterStop, Lifecycle, Stage};
use crate::supervisor::engine::{Effect, Effects, Engine, RestartCause, ServiceAction, TimerKind};
use crate::supervisor::event::Event;
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
        let lifecycle = self.services[service].lifecycle;
        match (lifecycle, action) {
            (_, ServiceAction::Stop) => self.stop_with_dependents(now, service, fx),
            (Lifecycle::Stopping { .. }, ServiceAction::Restart) => {
                let respawn = AfterStop::Respawn(RestartCause::Manual);
                self.services[service].lifecycle.set_after_stop(respawn);
                self.services[service].last_restart_reason = Some("restart requested".to_string());
            }
            (
                Lifecycle::Starting(_) | Lifecycle::Running(_) | Lifecycle::StopQueued { .. },
                ServiceAction::Restart,
            ) => {
                self.stop_instance(service, AfterStop::Respawn(RestartCause::Manual), fx);
                self.services[service].last_restart_reason = Some("restart requested".to_string());
            }
            // Start it with whatever it depends on that is not running (like `up NAME`).
            (_, ServiceAction::Start | ServiceAction::Restart) => {
                let wanted = graph::selection(&self.spec, &[service]);
                for (id, selected) in wanted.into_iter().enumerate() {
                    let state = &mut self.services[id];
                    if selected && state.lifecycle.ended() {
                        state.lifecycle = Lifecycle::Waiting;
                        // A fresh start is a fresh chance: the crash-loop history is forgotten.
                        state.crash_loop = Default::default();
                    }
                }
                self.advance(now, fx);
            }
        }
    }

    /// Stops `service` and, first, what depends on it: leaving a dependent running on a stopped
    /// dependency would leave it broken.
    fn stop_with_dependents(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        let affected = graph::with_dependents(&self.dependents, service);
        for (id, affected) in affected.into_iter().enumerate() {
            if !affected {
                continue;
            }
            let state = &mut self.services[id];
            match state.lifecycle {
                // Stopped in reverse dependency order by `advance_queued_stops`.
                Lifecycle::Starting(instance) => {
                    state.lifecycle = Lifecycle::StopQueued {
                        instance,
                        ready: false,
                    }
                }
                Lifecycle::Running(instance) => {
                    state.lifecycle = Lifecycle::StopQueued {
                        instance,
                        ready: true,
                    }
                }
                Lifecycle::Stopping { .. } => state.lifecycle.set_after_stop(AfterStop::Stay),
                // Nothing runs yet: a pending spawn or restart is abandoned, and late answers
                // about it find no launch or backoff to apply to.
                Lifecycle::Waiting | Lifecycle::Launching { .. } | Lifecycle::Backoff { .. } => {
                    state.lifecycle = Lifecycle::Stopped;
                    fx.push(Effect::Publish(Event::Stopped {
                        service: id,
                        status: None,
                    }));
                }
                Lifecycle::StopQueued { .. }
                | Lifecycle::Inactive
                | Lifecycle::Exited(_)
                | Lifecycle::Failed
                | Lifecycle::Stopped => {}
            }
        }
        self.advance(now, fx);
    }

    /// A graceful restart of an instance whose tree grew past `max_memory`. It counts in the
    /// crash-loop window: a service that outgrows its limit right after every start is given up
    /// on, loudly, rather than restarted forever.
    pub(super) fn memory_limit_exceeded(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        reason: String,
        fx: &mut Effects,
    ) {
        if !matches!(self.stage, Stage::StartingUp { .. } | Stage::Running) {
            return;
        }
        let instance = match self.services[service].lifecycle {
            Lifecycle::Starting(instance) | Lifecycle::Running(instance)
                if instance.generation == generation =>
            {
                instance
            }
            // Another instance's report, or one that is being stopped anyway.
            _ => return,
        };
        fx.push(Effect::Publish(Event::MemoryLimitExceeded {
            service,
            reason: reason.clone(),
        }));
        let restart_spec = self.spec.services[service].restart;
        let end = RunEnd::MemoryLimit {
            uptime: instance.uptime(now),
        };
        let state = &mut self.services[service];
        let then = match state.crash_loop.run_ended(now, &restart_spec, end) {
            Verdict::Restart { .. } => AfterStop::Respawn(RestartCause::MemoryLimit),
            Verdict::GiveUp(rule) => {
                state.reason = Some(format!("{reason}; {rule}"));
                AfterStop::GiveUp
            }
        };
        state.last_restart_reason = Some(reason);
        self.stop_instance(service, then, fx);
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
        for state in &mut self.services {
            // Nothing runs for these: they are simply stopped, and a late answer about a pending
            // spawn or a late restart timer finds nothing to apply to.
            if let Lifecycle::Waiting | Lifecycle::Launching { .. } | Lifecycle::Backoff { .. } =
                state.lifecycle
            {
                state.lifecycle = Lifecycle::Stopped;
            }
        }
        if forced {
            for service in 0..self.services.len() {
                self.kill_now(service, fx);
            }
        }
        self.advance_shutdown(fx);
    }

    /// SIGKILL to a live instance's tree at once (a forced shutdown).
    fn kill_now(&mut self, service: ServiceId, fx: &mut Effects) {
        let state = &mut self.services[service];
        let (instance, ready, then) = match state.lifecycle {
            Lifecycle::Stopping {
                instance,
                ready,
                then,
                ..
            } => (instance, ready, then),
            lifecycle => match lifecycle.stoppable() {
                Some((instance, ready)) => (instance, ready, AfterStop::Stay),
                None => return,
            },
        };
        state.lifecycle = Lifecycle::Stopping {
            instance,
            ready,
            kill_timer: None,
            then,
        };
        fx.push(Effect::Publish(Event::Killing {
            service,
            after: None,
        }));
        fx.push(Effect::Signal {
            service,
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
            if self.services[service].lifecycle.stoppable().is_some()
                && !self.dependents_alive(service)
            {
                self.stop_instance(service, AfterStop::Stay, fx);
            }
        }
        if self.services.iter().all(|state| !state.lifecycle.alive()) {
            self.stage = Stage::Done;
            fx.push(Effect::Exit { code });
        }
    }

    /// Stops each service whose stop is queued once nothing alive depends on it.
    pub(super) fn advance_queued_stops(&mut self, fx: &mut Effects) {
        for service in 0..self.services.len() {
            if let Lifecycle::StopQueued { .. } = self.services[service].lifecycle
                && !self.dependents_alive(service)
            {
                self.stop_instance(service, AfterStop::Stay, fx);
            }
        }
    }

    fn dependents_alive(&self, service: ServiceId) -> bool {
        self.dependents[service]
            .iter()
            .any(|dependent| self.services[*dependent].lifecycle.alive())
    }

    /// Sends the stop signal to a live instance's tree and arms the timer for SIGKILL; `then`
    /// says what follows once the tree is gone. Nothing happens to an instance already stopping.
    pub(super) fn stop_instance(&mut self, service: ServiceId, then: AfterStop, fx: &mut Effects) {
        let stop = self.spec.services[service].stop;
        let state = &mut self.services[service];
        let Some((instance, ready)) = state.lifecycle.stoppable() else {
            return;
        };
        let timer = state.next_timer();
        state.lifecycle = Lifecycle::Stopping {
            instance,
            ready,
            kill_timer: Some(timer),
            then,
        };
        fx.push(Effect::Publish(Event::Stopping {
            service,
            signal: stop.signal,
        }));
        fx.push(Effect::Signal {
            service,
            signal: stop.signal,
        });
        fx.push(Effect::ArmTimer {
            service,
            sequence: timer,
            kind: TimerKind::StopTimeout,
            after: stop.timeout,
        });
    }
}
