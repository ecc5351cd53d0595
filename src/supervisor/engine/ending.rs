//! The end of an instance: its leader's exit, its tree gone (after a stop, or on its own), the
//! restart policy and the crash-loop rule that decide what follows, and the timers that move a
//! backoff or a stop along.

use std::time::{Duration, Instant};

use crate::exit;
use crate::spec::{RestartPolicy, ServiceId, Signal};
use crate::supervisor::engine::restart_rule::{self, RunEnd, Verdict};
use crate::supervisor::engine::state::{AfterStop, Leader, Lifecycle, Stage};
use crate::supervisor::engine::{Effect, Effects, Engine, RestartCause, TimerKind};
use crate::supervisor::event::{Event, Exit};

impl Engine {
    pub(super) fn leader_exited(
        &mut self,
        service: ServiceId,
        generation: u64,
        status: Exit,
        survivors: usize,
        fx: &mut Effects,
    ) {
        let Some(instance) = self.services[service]
            .lifecycle
            .instance_mut()
            .filter(|instance| instance.generation == generation)
        else {
            return;
        };
        instance.leader = Leader::Exited {
            status,
            outlived: survivors > 0,
        };
        if survivors > 0 {
            fx.push(Effect::Publish(Event::LeaderExited {
                service,
                status,
                survivors,
            }));
        }
    }

    /// Every process of instance `generation` is gone.
    pub(super) fn tree_gone(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        fx: &mut Effects,
    ) {
        let shutting_down = self.is_shutting_down();
        let state = &mut self.services[service];
        let lifecycle = state.lifecycle;
        let Some(instance) = lifecycle.instance_of(generation) else {
            return;
        };
        let status = instance.end_status();
        state.last_exit = Some(status);
        let stopped = Effect::Publish(Event::Stopped {
            service,
            status: instance.leader_status(),
        });
        match (lifecycle, shutting_down) {
            (
                Lifecycle::Stopping {
                    then: AfterStop::Respawn(cause),
                    ..
                },
                false,
            ) => {
                fx.push(stopped);
                // Through `Waiting`: a dependent restarted with its dependency waits until the
                // new instance of the dependency meets its condition.
                state.record_restart(cause);
                state.lifecycle = Lifecycle::Waiting;
                self.advance(now, fx);
            }
            (
                Lifecycle::Stopping {
                    then: AfterStop::Recover,
                    ..
                },
                false,
            ) => {
                // No `Exited` event: wrangle stopped it. The restart policy decides as for a crash.
                let end = RunEnd::Crashed {
                    uptime: instance.uptime(now),
                };
                self.after_run(now, service, status, end, fx);
            }
            (
                Lifecycle::Stopping {
                    then: AfterStop::GiveUp,
                    ..
                },
                false,
            ) => {
                state.lifecycle = Lifecycle::Stopped;
                fx.push(stopped);
                let reason = state.reason.clone().unwrap_or_default();
                self.give_up(service, reason, fx);
                self.advance(now, fx);
            }
            // A stop that stays stopped, or anything while everything stops. A tree that ended
            // on its own when it was to be stopped anyway is stopped too.
            (Lifecycle::Stopping { .. } | Lifecycle::StopQueued { .. }, _) | (_, true) => {
                state.lifecycle = Lifecycle::Stopped;
                fx.push(stopped);
                self.advance(now, fx);
            }
            (Lifecycle::Starting(_) | Lifecycle::Running(_), false) => {
                self.exited(now, service, status, instance.uptime(now), fx)
            }
            // `instance_of` found a live instance: one of the states above.
            _ => {}
        }
    }

    /// The instance ended on its own, with `status`.
    fn exited(
        &mut self,
        now: Instant,
        service: ServiceId,
        status: Exit,
        uptime: Duration,
        fx: &mut Effects,
    ) {
        fx.push(Effect::Publish(Event::Exited {
            service,
            status,
            uptime,
        }));
        if status.success() {
            self.services[service].completed = true;
        }
        if let Stage::StartingUp { .. } = self.stage
            && !status.success()
        {
            self.services[service].lifecycle = Lifecycle::Exited(status);
            let reason = format!("exited with {} during start-up", status.describe());
            self.fail_startup(service, exit::SERVICE_FAILED, reason, fx);
            return;
        }
        let end = if status.success() {
            RunEnd::Clean
        } else {
            RunEnd::Crashed { uptime }
        };
        self.after_run(now, service, status, end, fx);
    }

    /// The restart policy: restart the service (through the crash-loop rule), or leave it
    /// exited.
    fn after_run(
        &mut self,
        now: Instant,
        service: ServiceId,
        status: Exit,
        end: RunEnd,
        fx: &mut Effects,
    ) {
        let restart = match (self.spec.services[service].restart.policy, end) {
            (RestartPolicy::Never, _) | (RestartPolicy::OnFailure, RunEnd::Clean) => false,
            (RestartPolicy::OnFailure | RestartPolicy::Always, _) => true,
        };
        if restart {
            self.restart_after(now, service, end, fx);
            return;
        }
        self.services[service].lifecycle = Lifecycle::Exited(status);
        if !status.success() {
            self.any_failed = true;
        }
        self.advance(now, fx);
    }

    /// Restarts the service after a backoff, unless the crash-loop rule gives up on it.
    pub(super) fn restart_after(
        &mut self,
        now: Instant,
        service: ServiceId,
        end: RunEnd,
        fx: &mut Effects,
    ) {
        let restart_spec = self.spec.services[service].restart;
        let attempt = match self.services[service]
            .crash_loop
            .run_ended(now, &restart_spec, end)
        {
            Verdict::Restart { attempt } => attempt,
            Verdict::GiveUp(reason) => {
                self.give_up(service, reason, fx);
                self.advance(now, fx);
                return;
            }
        };
        let delay = restart_rule::restart_delay(&restart_spec, attempt, self.next_random());
        let state = &mut self.services[service];
        state.record_restart(RestartCause::Crash);
        state.last_restart_reason = state.reason.clone().or_else(|| {
            state
                .last_exit
                .map(|exit| format!("it exited with {}", exit.describe()))
        });
        let timer = state.next_timer();
        state.lifecycle = Lifecycle::Backoff {
            timer,
            shortages: 0,
        };
        fx.push(Effect::Publish(Event::Restarting {
            service,
            delay,
            attempt: state.restarts,
        }));
        if delay.is_zero() {
            self.launch(service, 0, fx);
        } else {
            fx.push(Effect::ArmTimer {
                service,
                sequence: timer,
                kind: TimerKind::Restart,
                after: delay,
            });
        }
    }

    pub(super) fn give_up(&mut self, service: ServiceId, reason: String, fx: &mut Effects) {
        let state = &mut self.services[service];
        state.lifecycle = Lifecycle::Failed;
        state.reason = Some(reason.clone());
        self.any_failed = true;
        fx.push(Effect::Publish(Event::Failed { service, reason }));
    }

    /// Timer `sequence` fired: it moves the state that armed it along, if the service is still in
    /// that state.
    pub(super) fn timer(
        &mut self,
        service: ServiceId,
        sequence: u64,
        kind: TimerKind,
        fx: &mut Effects,
    ) {
        let state = &mut self.services[service];
        match (state.lifecycle, kind) {
            (Lifecycle::Backoff { timer, shortages }, TimerKind::Restart) if timer == sequence => {
                self.launch(service, shortages, fx)
            }
            (
                Lifecycle::Stopping {
                    instance,
                    ready,
                    kill_timer: Some(timer),
                    then,
                },
                TimerKind::StopTimeout,
            ) if timer == sequence => {
                state.lifecycle = Lifecycle::Stopping {
                    instance,
                    ready,
                    kill_timer: None,
                    then,
                };
                let after = self.spec.services[service].stop.timeout;
                fx.push(Effect::Publish(Event::Killing {
                    service,
                    after: Some(after),
                }));
                fx.push(Effect::Signal {
                    service,
                    signal: Signal::KILL,
                });
            }
            // The timer of a state the service has left.
            _ => {}
        }
    }
}
