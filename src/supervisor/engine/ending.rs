//! The end of a tree: its leader's exit, the tree gone (after a stop, or on its own), the restart
//! policy and the crash-loop rule that decide what follows, and the timers that move a backoff or
//! a stop along.

use std::time::{Duration, Instant};

use crate::exit;
use crate::spec::{RestartPolicy, ServiceId, Signal};
use crate::supervisor::engine::restart_rule::{self, RunEnd, Verdict};
use crate::supervisor::engine::state::{AfterStop, Leader, Lifecycle, Stage};
use crate::supervisor::engine::{Effect, Effects, Engine, RestartCause, TimerKind};
use crate::supervisor::event::{Event, Exit, InstanceId};

impl Engine {
    pub(super) fn leader_exited(
        &mut self,
        service: ServiceId,
        generation: u64,
        status: Exit,
        survivors: usize,
        fx: &mut Effects,
    ) {
        let Some(id) = self.of_generation(service, generation) else {
            return;
        };
        let Some(tree) = self
            .instance_mut(id)
            .and_then(|state| state.lifecycle.tree_mut())
            .filter(|tree| tree.generation == generation)
        else {
            return;
        };
        tree.leader = Leader::Exited {
            status,
            outlived: survivors > 0,
        };
        if survivors > 0 {
            fx.push(Effect::Publish(Event::LeaderExited {
                instance: id,
                status,
                survivors,
            }));
        }
    }

    /// Every process of tree `generation` is gone.
    pub(super) fn tree_gone(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        fx: &mut Effects,
    ) {
        let Some(id) = self.of_generation(service, generation) else {
            return;
        };
        let shutting_down = self.is_shutting_down();
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        let lifecycle = state.lifecycle;
        let Some(tree) = lifecycle.tree_of(generation) else {
            return;
        };
        let status = tree.end_status();
        state.last_exit = Some(status);
        let stopped = Effect::Publish(Event::Stopped {
            instance: id,
            status: tree.leader_status(),
        });
        match (lifecycle, shutting_down) {
            (
                Lifecycle::Stopping {
                    then: AfterStop::Retire,
                    ..
                },
                _,
            ) => {
                fx.push(stopped);
                self.retire(now, id, fx);
            }
            (
                Lifecycle::Stopping {
                    then: AfterStop::Respawn(cause),
                    ..
                },
                false,
            ) => {
                fx.push(stopped);
                // Through `Waiting`: a dependent restarted with its dependency waits until the
                // new tree of the dependency meets its condition.
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
                    uptime: tree.uptime(now),
                };
                self.after_run(now, id, status, end, fx);
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
                self.give_up(id, reason, fx);
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
                self.exited(now, id, status, tree.uptime(now), fx)
            }
            // `tree_of` found a live tree: one of the states above.
            _ => {}
        }
    }

    /// The tree ended on its own, with `status`.
    fn exited(
        &mut self,
        now: Instant,
        id: InstanceId,
        status: Exit,
        uptime: Duration,
        fx: &mut Effects,
    ) {
        fx.push(Effect::Publish(Event::Exited {
            instance: id,
            status,
            uptime,
        }));
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        if status.success() {
            state.completed = true;
        }
        let was_ready = state.lifecycle.ready();
        if !was_ready {
            let reason = format!("exited with {} before it was ready", status.describe());
            if self.replacement_failed(now, id, &reason, false, fx) {
                return;
            }
        }
        if let Stage::StartingUp { .. } = self.stage
            && !status.success()
        {
            if let Some(state) = self.instance_mut(id) {
                state.lifecycle = Lifecycle::Exited(status);
            }
            let reason = format!("exited with {} during start-up", status.describe());
            self.fail_startup(id, exit::SERVICE_FAILED, reason, fx);
            return;
        }
        let end = if status.success() {
            RunEnd::Clean
        } else {
            RunEnd::Crashed { uptime }
        };
        self.after_run(now, id, status, end, fx);
    }

    /// The restart policy: restart the instance (through the crash-loop rule), or leave it
    /// exited.
    fn after_run(
        &mut self,
        now: Instant,
        id: InstanceId,
        status: Exit,
        end: RunEnd,
        fx: &mut Effects,
    ) {
        let restart = match (self.spec.services[id.service].restart.policy, end) {
            (RestartPolicy::Never, _) | (RestartPolicy::OnFailure, RunEnd::Clean) => false,
            (RestartPolicy::OnFailure | RestartPolicy::Always, _) => true,
        };
        if restart {
            self.restart_after(now, id, end, fx);
            return;
        }
        if let Some(state) = self.instance_mut(id) {
            state.lifecycle = Lifecycle::Exited(status);
        }
        if !status.success() {
            self.any_failed = true;
        }
        self.advance(now, fx);
    }

    /// Restarts the instance after a backoff, unless the crash-loop rule gives up on it.
    pub(super) fn restart_after(
        &mut self,
        now: Instant,
        id: InstanceId,
        end: RunEnd,
        fx: &mut Effects,
    ) {
        let restart_spec = self.spec.services[id.service].restart;
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        let attempt = match state.crash_loop.run_ended(now, &restart_spec, end) {
            Verdict::Restart { attempt } => attempt,
            Verdict::GiveUp(reason) => {
                self.give_up(id, reason, fx);
                self.advance(now, fx);
                return;
            }
        };
        let delay = restart_rule::restart_delay(&restart_spec, attempt, self.next_random());
        let timer = self.services[id.service].next_timer();
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        state.record_restart(RestartCause::Crash);
        state.last_restart_reason = state.reason.clone().or_else(|| {
            state
                .last_exit
                .map(|exit| format!("it exited with {}", exit.describe()))
        });
        state.lifecycle = Lifecycle::Backoff {
            timer,
            shortages: 0,
        };
        fx.push(Effect::Publish(Event::Restarting {
            instance: id,
            delay,
            attempt: state.restarts,
        }));
        if delay.is_zero() {
            self.launch(id, 0, fx);
        } else {
            fx.push(Effect::ArmTimer {
                service: id.service,
                sequence: timer,
                kind: TimerKind::Restart,
                after: delay,
            });
        }
    }

    pub(super) fn give_up(&mut self, id: InstanceId, reason: String, fx: &mut Effects) {
        if let Some(state) = self.instance_mut(id) {
            state.lifecycle = Lifecycle::Failed;
            state.reason = Some(reason.clone());
        }
        self.any_failed = true;
        fx.push(Effect::Publish(Event::Failed {
            instance: id,
            reason,
        }));
    }

    /// Timer `sequence` fired: it moves the state that armed it along, if the instance is still
    /// in that state.
    pub(super) fn timer(
        &mut self,
        service: ServiceId,
        sequence: u64,
        kind: TimerKind,
        fx: &mut Effects,
    ) {
        let Some(id) = self.services[service]
            .instances
            .iter()
            .find(|state| state.lifecycle.waits_for(sequence))
            .map(|state| InstanceId::new(service, state.number))
        else {
            // The timer of a state the instance has left.
            return;
        };
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        match (state.lifecycle, kind) {
            (Lifecycle::Backoff { shortages, .. }, TimerKind::Restart) => {
                self.launch(id, shortages, fx)
            }
            (
                Lifecycle::Stopping {
                    tree, ready, then, ..
                },
                TimerKind::StopTimeout,
            ) => {
                state.lifecycle = Lifecycle::Stopping {
                    tree,
                    ready,
                    kill_timer: None,
                    then,
                };
                let after = self.spec.services[service].stop.timeout;
                fx.push(Effect::Publish(Event::Killing {
                    instance: id,
                    after: Some(after),
                }));
                fx.push(Effect::Signal {
                    instance: id,
                    signal: Signal::KILL,
                });
            }
            _ => {}
        }
    }
}
