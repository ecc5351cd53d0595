//! `wrangle apply`: the engine runs a new spec from the next input on, and acts on what changed.
//!
//! The new spec keeps every id (`spec::merge`): a service's state, generations and timers carry
//! over, so an input in flight about a tree of the old spec still finds (or misses) the right
//! instance. Added services get states of their own (appended), and start like `Control(Start)`:
//! after their dependencies, readiness-gated. Removed services are stopped like `Control(Stop)`,
//! what depends on them first (only other removed services can); they stay in the spec as
//! retired, stopped for good. A changed service that runs is reloaded (`reload.rs`: rolling where
//! old and new processes can overlap, a restart otherwise) after its instance count is set; one
//! that had failed is started again; any other (stopped, exited, waiting, in backoff) keeps its
//! state, and its next spawn reads the new spec. Services that did not change are not touched.
//! An added job (`on_schedule = "start"`) only has its schedule turned on; a changed schedule
//! turns on or off and replaces nothing.

use std::sync::Arc;
use std::time::Instant;

use crate::spec::{ApplyChange, ProjectSpec, ServiceId};
use crate::supervisor::engine::state::{InstanceState, Lifecycle, ServiceState, Stage};
use crate::supervisor::engine::{Effects, Engine, ServiceAction};
use crate::supervisor::graph;

impl Engine {
    pub(super) fn apply(
        &mut self,
        now: Instant,
        spec: Arc<ProjectSpec>,
        changes: &[ApplyChange],
        fx: &mut Effects,
    ) {
        if !matches!(self.stage, Stage::StartingUp { .. } | Stage::Running) {
            return;
        }
        while self.services.len() < spec.services.len() {
            let count = spec.services[self.services.len()]
                .instances
                .count(self.cpus);
            self.services.push(ServiceState::new(count));
        }
        self.dependents = graph::dependents(&spec);
        self.spec = spec;
        for change in changes {
            match *change {
                ApplyChange::Add(service) => self.add_service(now, service, fx),
                ApplyChange::Remove(service) => self.control(now, service, ServiceAction::Stop, fx),
                ApplyChange::Change {
                    service,
                    instances,
                    schedule,
                    replace,
                } => {
                    if schedule {
                        self.schedule_changed(service);
                    }
                    self.change_service(now, service, instances, replace, fx)
                }
            }
        }
        self.advance(now, fx);
    }

    fn add_service(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        let wanted = self.spec.services[service].instances.count(self.cpus);
        let state = &mut self.services[service];
        // It ran here before and was removed: its old instances are gone for good, and it
        // starts afresh with the instances it has now (its counters go on, so nothing late
        // about an old tree can reach a new one).
        if state
            .instances
            .iter()
            .all(|instance| instance.lifecycle.ended())
        {
            state.wanted = wanted;
            state.reload = None;
            state.instances = (0..wanted)
                .map(|number| InstanceState::new(number, Lifecycle::Inactive))
                .collect();
        }
        // A job waits for its first time.
        if self.spec.services[service]
            .schedule
            .as_ref()
            .is_some_and(|schedule| schedule.waits())
        {
            self.set_schedule(service, true);
            return;
        }
        self.control(now, service, ServiceAction::Start, fx);
    }

    /// Its `schedule`, `every` or `on_schedule` changed: the schedule is on if it has one and
    /// the service is part of the run (its schedule was on, or it runs or ran and was not
    /// stopped); off without one. Nothing is started or stopped for it.
    fn schedule_changed(&mut self, service: ServiceId) {
        let state = &self.services[service];
        let part_of_the_run = state.schedule_on
            || state.instances.iter().any(|instance| {
                !matches!(instance.lifecycle, Lifecycle::Inactive | Lifecycle::Stopped)
            });
        self.set_schedule(service, part_of_the_run);
    }

    fn change_service(
        &mut self,
        now: Instant,
        service: ServiceId,
        instances: bool,
        replace: bool,
        fx: &mut Effects,
    ) {
        if instances {
            let count = self.spec.services[service].instances.count(self.cpus);
            self.scale(now, service, count, fx);
        }
        if !replace {
            return;
        }
        let state = &self.services[service];
        let running = state
            .instances
            .iter()
            .any(|instance| instance.lifecycle.stoppable().is_some());
        let failed = state
            .instances
            .iter()
            .any(|instance| instance.lifecycle == Lifecycle::Failed);
        if running {
            self.reload(now, service, fx);
        } else if failed {
            self.control(now, service, ServiceAction::Start, fx);
        }
    }
}
