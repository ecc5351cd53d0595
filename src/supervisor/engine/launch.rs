//! Starting services: the selection, dependency gating, a new tree of an instance from its ports
//! to its spawn, readiness, and the end of start-up (complete, or failed for everyone).

use std::time::{Duration, Instant};

use crate::exit;
use crate::human;
use crate::spec::{DependencyCondition, RestartPolicy, ServiceId};
use crate::supervisor::engine::restart_rule::{self, RunEnd};
use crate::supervisor::engine::state::{AfterStop, Lifecycle, Stage, Tree};
use crate::supervisor::engine::{
    Effect, Effects, Engine, Lifetime, Phase, RestartCause, SpawnFault,
};
use crate::supervisor::event::{Event, InstanceId};
use crate::supervisor::graph;

/// The runtime's answer about a launching tree.
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
        // Every service (a job a schedule starts waits for its first time: nothing depends on
        // one), or the named ones and what they depend on (a named job runs at once).
        let selection = match roots.is_empty() {
            true => self
                .spec
                .services
                .iter()
                .map(|service| {
                    service
                        .schedule
                        .as_ref()
                        .is_none_or(|schedule| !schedule.waits())
                })
                .collect(),
            false => graph::selection(&self.spec, roots),
        };
        for service in 0..self.services.len() {
            let armed = roots.is_empty() || selection.get(service).copied().unwrap_or(false);
            self.set_schedule(service, armed);
        }
        for (service, selected) in selection.into_iter().enumerate() {
            if selected {
                // Adopted instances already run.
                for instance in &mut self.services[service].instances {
                    if instance.lifecycle == Lifecycle::Inactive {
                        instance.lifecycle = Lifecycle::Waiting;
                    }
                }
            }
        }
        for service in 0..self.services.len() {
            let depends_on = &self.spec.services[service].depends_on;
            let waiting = self.services[service]
                .instances
                .iter()
                .any(|instance| instance.lifecycle == Lifecycle::Waiting);
            if waiting && !depends_on.is_empty() {
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

    /// Takes over a running instance (before `Start`): its tree is `generation`, the service's
    /// next spawn gets a later one, and it keeps its restart count.
    pub(super) fn adopt(
        &mut self,
        now: Instant,
        instance: InstanceId,
        generation: u64,
        ready: bool,
        restarts: u32,
    ) {
        if self.stage != Stage::Idle || instance.service >= self.services.len() {
            return;
        }
        let tree = Tree::new(generation, now);
        let lifecycle = match ready {
            true => Lifecycle::Running(tree),
            false => Lifecycle::Starting(tree),
        };
        let service = &mut self.services[instance.service];
        if service.position(instance.number).is_none() {
            service.add(instance.number, lifecycle);
        }
        let count = u32::try_from(service.instances.len()).unwrap_or(u32::MAX);
        service.wanted = service.wanted.max(count);
        service.generation = service.generation.max(generation);
        if let Some(at) = service.position(instance.number) {
            let state = &mut service.instances[at];
            state.lifecycle = lifecycle;
            state.generation = generation;
            state.restarts = restarts;
        }
    }

    /// Starts every waiting instance whose service's dependencies are met, fails start-up when
    /// one can never be met, stops queued stops nothing alive depends on any more, and notices
    /// when start-up is complete or everything has ended. Called after every change others may
    /// wait for.
    pub(super) fn advance(&mut self, now: Instant, fx: &mut Effects) {
        if self.is_shutting_down() {
            self.advance_shutdown(fx);
            return;
        }
        self.advance_queued_stops(fx);
        for service in 0..self.services.len() {
            let waiting: Vec<InstanceId> = self.services[service]
                .instances
                .iter()
                .filter(|instance| instance.lifecycle == Lifecycle::Waiting)
                .map(|instance| InstanceId::new(service, instance.number))
                .collect();
            if waiting.is_empty() {
                continue;
            }
            match self.dependencies_status(service) {
                DependencyStatus::Met => {
                    for id in waiting {
                        self.launch(id, 0, fx);
                    }
                }
                DependencyStatus::Pending => {}
                DependencyStatus::Impossible(reason) => {
                    self.fail_startup(waiting[0], exit::SERVICE_FAILED, reason, fx);
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
                .filter(|service| {
                    service
                        .instances
                        .iter()
                        .any(|instance| instance.lifecycle != Lifecycle::Inactive)
                })
                .count();
            let elapsed = now.saturating_duration_since(began);
            fx.push(Effect::Publish(Event::AllReady { count, elapsed }));
        }
        let all_ended = self.all_instances().all(|state| state.lifecycle.ended());
        // A service whose schedule is on will run again: a foreground run waits for it.
        if self.stage == Stage::Running
            && self.lifetime == Lifetime::UntilIdle
            && all_ended
            && !self.any_schedule_on()
        {
            let code = if self.any_failed {
                exit::SERVICE_FAILED
            } else {
                exit::SUCCESS
            };
            self.stage = Stage::Done;
            fx.push(Effect::Exit { code });
        }
    }

    /// Whether the dependencies of `service` meet their conditions. A dependency with several
    /// instances is `started` or `ready` when as many of its instances as it should have are;
    /// `completed` when every one of them is.
    fn dependencies_status(&self, service: ServiceId) -> DependencyStatus {
        let mut status = DependencyStatus::Met;
        for dependency in &self.spec.services[service].depends_on {
            let state = &self.services[dependency.service];
            let meeting = state
                .instances
                .iter()
                .filter(|instance| match dependency.condition {
                    DependencyCondition::Started => instance.lifecycle.alive(),
                    DependencyCondition::Ready => instance.lifecycle.ready(),
                    DependencyCondition::Completed => instance.completed,
                })
                .count();
            let needed = match dependency.condition {
                DependencyCondition::Completed => state.instances.len().max(1),
                _ => state.wanted as usize,
            };
            if meeting >= needed {
                continue;
            }
            let impossible = state
                .instances
                .iter()
                .find_map(|instance| match instance.lifecycle {
                    Lifecycle::Exited(exit)
                        if !(dependency.condition == DependencyCondition::Completed
                            && exit.success()) =>
                    {
                        Some(format!("exited with {}", exit.describe()))
                    }
                    Lifecycle::Failed => Some("failed".to_string()),
                    Lifecycle::Stopped => Some("was stopped".to_string()),
                    _ => None,
                });
            let Some(what) = impossible else {
                status = DependencyStatus::Pending;
                continue;
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
        self.all_instances()
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

    /// Decides a new tree of an instance: it is spawned at once, or once its ports are free on a
    /// restart. `shortages`: spawns before it failed for lack of wrangle's own resources.
    pub(super) fn launch(&mut self, id: InstanceId, shortages: u32, fx: &mut Effects) {
        let service_state = &mut self.services[id.service];
        service_state.generation += 1;
        let generation = service_state.generation;
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        // An earlier tree existed: its ports may still be draining (the first start was checked
        // by pre-flight), and dependents that asked for it restart with it.
        let is_restart = state.generation > 0;
        state.generation = generation;
        state.completed = false;
        state.lifecycle = Lifecycle::Launching {
            generation,
            shortages,
        };
        if is_restart && !self.spec.services[id.service].ports.is_empty() {
            fx.push(Effect::AwaitPorts {
                instance: id,
                generation,
            });
        } else {
            fx.push(Effect::Spawn {
                instance: id,
                generation,
            });
        }
        if is_restart {
            self.restart_dependents_of(id.service, fx);
        }
    }

    /// Dependents whose `depends_on` edge to `service` says `restart = true` are stopped and
    /// started again once the new tree of `service` meets their condition. A dependent a user
    /// asked to stop stays stopped.
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
            for id in self.ids(dependent) {
                let Some(state) = self.instance_mut(id) else {
                    continue;
                };
                match state.lifecycle {
                    Lifecycle::Starting(_) | Lifecycle::Running(_) => {
                        self.stop_instance(id, respawn, fx)
                    }
                    Lifecycle::Stopping {
                        then: AfterStop::Recover | AfterStop::Respawn(_),
                        ..
                    } => state.lifecycle.set_after_stop(respawn),
                    // Not alive, being retired, or a user asked it to stop.
                    _ => continue,
                }
                let name = self.spec.services[service].name.clone();
                if let Some(state) = self.instance_mut(id) {
                    state.last_restart_reason =
                        Some(format!("its dependency {name} was restarted"));
                }
            }
        }
    }

    /// The runtime answered about tree `generation`: its ports are free, or it was spawned, or
    /// it could not be.
    pub(super) fn launch_answered(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        answer: Answer,
        fx: &mut Effects,
    ) {
        let Some(id) = self.of_generation(service, generation) else {
            return;
        };
        let Some(Lifecycle::Launching { shortages, .. }) =
            self.instance(id).map(|state| state.lifecycle)
        else {
            // No launch is pending: it was stopped, or the run shut down, meanwhile.
            return;
        };
        match answer {
            Answer::PortsFree => fx.push(Effect::Spawn {
                instance: id,
                generation,
            }),
            Answer::Spawned(pid) => {
                let Some(state) = self.instance_mut(id) else {
                    return;
                };
                state.lifecycle = Lifecycle::Starting(Tree::new(generation, now));
                fx.push(Effect::Publish(Event::Started {
                    instance: id,
                    pid,
                    restart: state.restarts,
                }));
                if self.spec.services[service].ready.is_none() {
                    self.become_ready(now, id, fx);
                } else {
                    self.advance(now, fx);
                }
            }
            Answer::SpawnFailed(error, SpawnFault::Supervisor) => {
                self.retry_after_shortage(id, shortages, error, fx)
            }
            Answer::SpawnFailed(error, SpawnFault::Service) => {
                let reason = format!("cannot start: {error}");
                fx.push(Effect::Publish(Event::SpawnFailed {
                    instance: id,
                    error,
                    retry: None,
                }));
                self.ended_without_process(now, id, reason, fx);
            }
            Answer::Blocked(reason) => {
                fx.push(Effect::Publish(Event::RestartBlocked {
                    instance: id,
                    reason: reason.clone(),
                }));
                self.ended_without_process(now, id, reason, fx);
            }
        }
    }

    /// wrangle could not spawn the instance for lack of its own resources: that says nothing
    /// about the service, so it is tried again later without counting a crash or a restart.
    fn retry_after_shortage(
        &mut self,
        id: InstanceId,
        shortages: u32,
        error: String,
        fx: &mut Effects,
    ) {
        let shortages = shortages.saturating_add(1);
        let delay = restart_rule::shortage_delay(shortages, self.next_random());
        let timer = self.services[id.service].next_timer();
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        state.lifecycle = Lifecycle::Backoff { timer, shortages };
        state.reason = Some(format!(
            "cannot start: {error} (wrangle itself is short of resources; retrying)"
        ));
        fx.push(Effect::Publish(Event::SpawnFailed {
            instance: id,
            error,
            retry: Some(delay),
        }));
        fx.push(Effect::ArmTimer {
            service: id.service,
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
        id: InstanceId,
        reason: String,
        fx: &mut Effects,
    ) {
        if let Some(state) = self.instance_mut(id) {
            state.reason = Some(reason.clone());
        }
        if self.replacement_failed(now, id, &reason, false, fx) {
            return;
        }
        match (self.stage, self.spec.services[id.service].restart.policy) {
            (Stage::StartingUp { .. }, _) => {
                if let Some(state) = self.instance_mut(id) {
                    state.lifecycle = Lifecycle::Failed;
                }
                self.fail_startup(id, exit::SERVICE_FAILED, reason, fx);
            }
            (_, RestartPolicy::Never) => {
                self.give_up(id, reason, fx);
                self.advance(now, fx);
            }
            _ => {
                let end = RunEnd::Crashed {
                    uptime: Duration::ZERO,
                };
                self.restart_after(now, id, end, fx);
            }
        }
    }

    /// A readiness probe of tree `generation` concluded.
    pub(super) fn readiness(
        &mut self,
        now: Instant,
        service: ServiceId,
        generation: u64,
        probe: Probe,
        fx: &mut Effects,
    ) {
        let Some(id) = self.of_generation(service, generation) else {
            return;
        };
        let Some(lifecycle) = self.instance(id).map(|state| state.lifecycle) else {
            return;
        };
        if lifecycle.tree_of(generation).is_none() {
            return;
        }
        match (lifecycle, probe) {
            (
                Lifecycle::Starting(_) | Lifecycle::StopQueued { ready: false, .. },
                Probe::Passed,
            ) => self.become_ready(now, id, fx),
            (Lifecycle::Starting(_), Probe::TimedOut { last_failure }) => {
                self.publish_not_ready(id, last_failure.clone(), fx);
                let timeout = self.probe_timeout(service);
                let mut reason = format!("not ready after {}", human::duration(timeout));
                if let Some(failure) = &last_failure {
                    reason.push_str(&format!(" (last probe: {failure})"));
                }
                if self.replacement_failed(now, id, &reason, true, fx) {
                    return;
                }
                if let Stage::StartingUp { .. } = self.stage {
                    self.fail_startup(id, exit::NOT_READY, reason, fx);
                } else {
                    // After start-up, a tree that never became ready is stopped and counts as
                    // a crash.
                    self.stop_instance(id, AfterStop::Recover, fx);
                }
            }
            // It is to be stopped anyway: say so, and let the queued stop happen.
            (Lifecycle::StopQueued { ready: false, .. }, Probe::TimedOut { last_failure }) => {
                self.publish_not_ready(id, last_failure, fx)
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

    fn publish_not_ready(&self, id: InstanceId, last_failure: Option<String>, fx: &mut Effects) {
        fx.push(Effect::Publish(Event::NotReady {
            instance: id,
            timeout: self.probe_timeout(id.service),
            last_failure,
        }));
    }

    fn become_ready(&mut self, now: Instant, id: InstanceId, fx: &mut Effects) {
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        let tree = match state.lifecycle {
            Lifecycle::Starting(tree) => {
                state.lifecycle = Lifecycle::Running(tree);
                tree
            }
            Lifecycle::StopQueued { tree, ready: false } => {
                state.lifecycle = Lifecycle::StopQueued { tree, ready: true };
                tree
            }
            _ => return,
        };
        state.reason = None;
        fx.push(Effect::Publish(Event::Ready {
            instance: id,
            elapsed: tree.uptime(now),
        }));
        self.replacement_ready(now, id, fx);
        self.advance(now, fx);
    }

    /// Start-up cannot complete because of instance `id`: everything is stopped, and the run
    /// exits with `code`.
    pub(super) fn fail_startup(
        &mut self,
        id: InstanceId,
        code: u8,
        reason: String,
        fx: &mut Effects,
    ) {
        if let Some(state) = self.instance_mut(id)
            && state.lifecycle == Lifecycle::Waiting
        {
            state.lifecycle = Lifecycle::Failed;
        }
        self.any_failed = true;
        fx.push(Effect::Publish(Event::StartupFailed {
            instance: id,
            reason,
        }));
        self.shutdown(code, false, fx);
    }
}
