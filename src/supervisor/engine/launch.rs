//! Starting services: the selection, dependency gating, a new instance from its ports to its spawn,
//! readiness, and the end of start-up (complete, or failed for everyone).

use std::time::{Duration, Instant};

use crate::exit;
use crate::human;
use crate::spec::{DependencyCondition, RestartPolicy, ServiceId};
use crate::supervisor::engine::restart_rule::{self, RunEnd};
use crate::supervisor::engine::state::{AfterStop, Instance, Lifecycle, Stage};
use crate::supervisor::engine::{
    Effect, Effects, Engine, Lifetime, Phase, RestartCause, SpawnFault,
};
use crate::supervisor::event::Event;
use crate::supervisor::graph;

/// The runtime's answer about a launching instance.
pub(super) enum Answer {
    PortsFree,
    Spawned(i32),
    SpawnFailed(String, SpawnFault),
    /// Its ports stayed held.
    Blocked(String),
}

/// What a readiness probe concluded.
pub(super) enum Probe {
    Passed,
    TimedOut { last_failure: Option<String> },
}

enum DependencyStatus {
    Met,
    Pending,
    Impossible(String),
}

impl Engine {
    pub(super) fn start(&mut self, now: Instant, roots: &[ServiceId], fx: &mut Effects) {
        if self.stage != Stage::Idle {
            return;
        }
        self.stage = Stage::StartingUp { began: now };
        for (service, selected) in graph::selection(&self.spec, roots).into_iter().enumerate() {
            if selected {
                self.services[service].lifecycle = Lifecycle::Waiting;
            }
        }
        for (service, state) in self.services.iter().enumerate() {
            let depends_on = &self.spec.services[service].depends_on;
            if state.lifecycle == Lifecycle::Waiting && !depends_on.is_empty() {
                let dependencies = depends_on
                    .iter()
                    .map(|dependency| (dependency.service, dependency.condition))
                    .collect();
                fx.push(Effect::Publish(Event::Waiting {
                    service,
                    dependencies,
                }));
            }
        }
        self.advance(now, fx);
    }

    /// Starts every waiting service whose dependencies are met, fails start-up when one can never
    /// be met, stops queued stops nothing alive depends on any more, and notices when start-up is
    /// complete or everything has ended. Called after every change others may wait for.
    pub(super) fn advance(&mut self, now: Instant, fx: &mut Effects) {
        if self.is_shutting_down() {
            self.advance_shutdown(fx);
            return;
        }
        self.advance_queued_stops(fx);
        for service in 0..self.services.len() {
            if self.services[service].lifecycle != Lifecycle::Waiting {
                continue;
            }
            match self.dependencies_status(service) {
                DependencyStatus::Met => self.launch(service, 0, fx),
                DependencyStatus::Pending => {}
                DependencyStatus::Impossible(reason) => {
                    self.fail_startup(service, exit::SERVICE_FAILED, reason, fx);
                    return;
                }
            }
        }
        if let Stage::StartingUp { began } = self.stage
            && self.startup_complete()
        {
            self.stage = Stage::Running;
            let count = self
                .services
                .iter()
                .filter(|state| state.lifecycle != Lifecycle::Inactive)
                .count();
            let elapsed = now.saturating_duration_since(began);
            fx.push(Effect::Publish(Event::AllReady { count, elapsed }));
        }
        let all_ended = self.services.iter().all(|state| state.lifecycle.ended());
        if self.stage == Stage::Running && self.lifetime == Lifetime::UntilIdle && all_ended {
            let code = if self.any_failed {
                exit::SERVICE_FAILED
            } else {
                exit::SUCCESS
            };
            self.stage = Stage::Done;
            fx.push(Effect::Exit { code });
        }
    }

    fn dependencies_status(&self, service: ServiceId) -> DependencyStatus {
        let mut status = DependencyStatus::Met;
        for dependency in &self.spec.services[service].depends_on {
            let state = &self.services[dependency.service];
            let met = match dependency.condition {
                DependencyCondition::Started => state.lifecycle.alive(),
                DependencyCondition::Ready => state.lifecycle.ready(),
                DependencyCondition::Completed => state.completed,
            };
            if met {
                continue;
            }
            let what = match state.lifecycle {
                Lifecycle::Exited(exit) => format!("exited with {}", exit.describe()),
                Lifecycle::Failed => "failed".to_string(),
                Lifecycle::Stopped => "was stopped".to_string(),
                _ => {
                    status = DependencyStatus::Pending;
                    continue;
                }
            };
            let name = &self.spec.services[dependency.service].name;
            return DependencyStatus::Impossible(format!(
                "depends on {name} being {}, but {name} {what}",
                dependency.condition.as_str()
            ));
        }
        status
    }

    fn startup_complete(&self) -> bool {
        self.services
            .iter()
            .all(|state| match state.lifecycle.phase() {
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

    /// Decides a new instance: it is spawned at once, or once its ports are free on a restart.
    /// `shortages`: spawns before it failed for lack of wrangle's own resources.
    pub(super) fn launch(&mut self, service: ServiceId, shortages: u32, fx: &mut Effects) {
        let state = &mut self.services[service];
        // An earlier instance existed: its ports may still be draining (the first start was
        // checked by pre-flight), and dependents that asked for it restart with it.
        let is_restart = state.generation > 0;
        state.generation += 1;
        let generation = state.generation;
        state.completed = false;
        state.lifecycle = Lifecycle::Launching {
            generation,
            shortages,
        };
        if is_restart && !self.spec.services[service].ports.is_empty() {
            fx.push(Effect::AwaitPorts {
                service,
                generation,
            });
        } else {
            fx.push(Effect::Spawn {
                service,
                generation,
            });
        }
        if is_restart {
            self.restart_dependents_of(service, fx);
        }
    }

    /// Dependents whose `depends_on` edge to `service` says `restart = true` are stopped and
    /// started again once the new instance of `service` meets their condition. A dependent a
    /// user asked to stop stays stopped.
    fn restart_dependents_of(&mut self, service: ServiceId, fx: &mut Effects) {
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
        let respawn = AfterStop::Respawn(RestartCause::Dependency);
        for dependent in dependents {
            match self.services[dependent].lifecycle {
                Lifecycle::Starting(_) | Lifecycle::Running(_) => {
                    self.stop_instance(dependent, respawn, fx)
                }
                Lifecycle::Stopping {
                    then: AfterStop::Recover | AfterStop::Respawn(_),
                    ..
                } => self.services[dependent].lifecycle.set_after_stop(respawn),
                // Not alive, or a user asked it to stop.
                _ => continue,
            }
            let name = &self.spec.services[service].name;
            self.services[dependent].last_restart_reason =
                Some(format!("its dependency {name} was restarted"));
        }
    }

    /// The runtime answered about instance `generation`: its ports are free, or it was spawned,
    /// or it could not be.
    pub(super) fn launch_answered(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        answer: Answer,
        fx: &mut Effects,
    ) {
        match (self.services[service].lifecycle, answer) {
            (Lifecycle::Launching { generation: g, .. }, _) if g != generation => {}
            (Lifecycle::Launching { .. }, Answer::PortsFree) => fx.push(Effect::Spawn {
                service,
                generation,
            }),
            (Lifecycle::Launching { .. }, Answer::Spawned(pid)) => {
                let state = &mut self.services[service];
                state.lifecycle = Lifecycle::Starting(Instance::new(generation, now));
                fx.push(Effect::Publish(Event::Started {
                    service,
                    pid,
                    restart: state.restarts,
                }));
                if self.spec.services[service].ready.is_none() {
                    self.become_ready(now, service, fx);
                } else {
                    self.advance(now, fx);
                }
            }
            (Lifecycle::Launching { shortages, .. }, Answer::SpawnFailed(error, fault)) => {
                match fault {
                    SpawnFault::Supervisor => {
                        self.retry_after_shortage(service, shortages, error, fx)
                    }
                    SpawnFault::Service => {
                        let reason = format!("cannot start: {error}");
                        fx.push(Effect::Publish(Event::SpawnFailed {
                            service,
                            error,
                            retry: None,
                        }));
                        self.ended_without_process(now, service, reason, fx);
                    }
                }
            }
            (Lifecycle::Launching { .. }, Answer::Blocked(reason)) => {
                fx.push(Effect::Publish(Event::RestartBlocked {
                    service,
                    reason: reason.clone(),
                }));
                self.ended_without_process(now, service, reason, fx);
            }
            // No launch is pending: it was stopped, or the run shut down, meanwhile.
            _ => {}
        }
    }

    /// wrangle could not spawn the service for lack of its own resources: that says nothing
    /// about the service, so it is tried again later without counting a crash or a restart.
    fn retry_after_shortage(
        &mut self,
        service: ServiceId,
        shortages: u32,
        error: String,
        fx: &mut Effects,
    ) {
        let shortages = shortages.saturating_add(1);
        let delay = restart_rule::shortage_delay(shortages, self.next_random());
        let state = &mut self.services[service];
        let timer = state.next_timer();
        state.lifecycle = Lifecycle::Backoff { timer, shortages };
        state.reason = Some(format!(
            "cannot start: {error} (wrangle itself is short of resources; retrying)"
        ));
        fx.push(Effect::Publish(Event::SpawnFailed {
            service,
            error,
            retry: Some(delay),
        }));
        fx.push(Effect::ArmTimer {
            service,
            sequence: timer,
            kind: crate::supervisor::engine::TimerKind::Restart,
            after: delay,
        });
    }

    /// A start attempt ended before any process existed (it could not be spawned, or its ports
    /// stayed held): a crash of zero length.
    fn ended_without_process(
        &mut self,
        now: Instant,
        service: ServiceId,
        reason: String,
        fx: &mut Effects,
    ) {
        self.services[service].reason = Some(reason.clone());
        match (self.stage, self.spec.services[service].restart.policy) {
            (Stage::StartingUp { .. }, _) => {
                self.services[service].lifecycle = Lifecycle::Failed;
                self.fail_startup(service, exit::SERVICE_FAILED, reason, fx);
            }
            (_, RestartPolicy::Never) => {
                self.give_up(service, reason, fx);
                self.advance(now, fx);
            }
            _ => {
                let end = RunEnd::Crashed {
                    uptime: Duration::ZERO,
                };
                self.restart_after(now, service, end, fx);
            }
        }
    }

    /// A readiness probe of instance `generation` concluded.
    pub(super) fn readiness(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        probe: Probe,
        fx: &mut Effects,
    ) {
        let lifecycle = self.services[service].lifecycle;
        if lifecycle.instance_of(generation).is_none() {
            return;
        }
        match (lifecycle, probe) {
            (
                Lifecycle::Starting(_) | Lifecycle::StopQueued { ready: false, .. },
                Probe::Passed,
            ) => self.become_ready(now, service, fx),
            (Lifecycle::Starting(_), Probe::TimedOut { last_failure }) => {
                self.publish_not_ready(service, last_failure.clone(), fx);
                if let Stage::StartingUp { .. } = self.stage {
                    let timeout = self.probe_timeout(service);
                    let mut reason = format!("not ready after {}", human::duration(timeout));
                    if let Some(failure) = last_failure {
                        reason.push_str(&format!(" (last probe: {failure})"));
                    }
                    self.fail_startup(service, exit::NOT_READY, reason, fx);
                } else {
                    // After start-up, an instance that never became ready is stopped and counts
                    // as a crash.
                    self.stop_instance(service, AfterStop::Recover, fx);
                }
            }
            // It is to be stopped anyway: say so, and let the queued stop happen.
            (Lifecycle::StopQueued { ready: false, .. }, Probe::TimedOut { last_failure }) => {
                self.publish_not_ready(service, last_failure, fx)
            }
            // Already ready, or already stopping: a late result changes nothing.
            _ => {}
        }
    }

    fn probe_timeout(&self, service: ServiceId) -> Duration {
        self.spec.services[service]
            .ready
            .as_ref()
            .map(|probe| probe.timeout)
            .unwrap_or_default()
    }

    fn publish_not_ready(
        &self,
        service: ServiceId,
        last_failure: Option<String>,
        fx: &mut Effects,
    ) {
        fx.push(Effect::Publish(Event::NotReady {
            service,
            timeout: self.probe_timeout(service),
            last_failure,
        }));
    }

    fn become_ready(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        let state = &mut self.services[service];
        let instance = match state.lifecycle {
            Lifecycle::Starting(instance) => {
                state.lifecycle = Lifecycle::Running(instance);
                instance
            }
            Lifecycle::StopQueued {
                instance,
                ready: false,
            } => {
                state.lifecycle = Lifecycle::StopQueued {
                    instance,
                    ready: true,
                };
                instance
            }
            _ => return,
        };
        state.reason = None;
        fx.push(Effect::Publish(Event::Ready {
            service,
            elapsed: instance.uptime(now),
        }));
        self.advance(now, fx);
    }

    /// Start-up cannot complete because of `service`: everything is stopped, and the run exits
    /// with `code`.
    pub(super) fn fail_startup(
        &mut self,
        service: ServiceId,
        code: u8,
        reason: String,
        fx: &mut Effects,
    ) {
        if self.services[service].lifecycle == Lifecycle::Waiting {
            self.services[service].lifecycle = Lifecycle::Failed;
        }
        self.any_failed = true;
        fx.push(Effect::Publish(Event::StartupFailed { service, reason }));
        self.shutdown(code, false, fx);
    }
}
