//! Instances coming and going: `wrangle scale` (more or fewer instances of a service) and the
//! rolling `wrangle reload` (every instance replaced, one at a time, each new one ready before
//! the one it replaces is stopped).
//!
//! # The reload, step by step
//! A reload of a service whose instances share its sockets (so an old and a new process can
//! serve side by side) repeats one step until nothing is left to replace:
//!
//! 1. add an instance with the lowest number no instance has, and wait until it is ready;
//! 2. pick the instance it replaces (the lowest-numbered of those that ran when the reload
//!    began, or, once they are all replaced, the one numbered past the wanted count), send it
//!    its stop signal and wait until its tree is gone (its in-flight requests finish, up to
//!    `stop_timeout`).
//!
//! With 4 instances the first step starts instance 4 and stops 0, the next starts 0 and stops
//! 1, ..., and the last starts 3 and stops 4: five starts, never fewer than four ready
//! instances, no two live instances with one number (so an instance number may select an
//! address: `per_instance` probes), and the same numbers 0..N-1 at the end as at the start.
//!
//! A new instance that cannot be started, exits, or misses its readiness timeout ends the
//! reload at once: it is stopped and removed, the instances not replaced yet keep serving
//! (with the extra one of step 1, if it was started: the count stays N), and `ReloadFailed`
//! says why. A user's start, stop, restart or scale of the service, or a shutdown, ends the
//! reload too (the instance being started is removed; the one being stopped goes).
//!
//! A service without sockets, or one that binds a declared `port` itself, cannot run an old
//! and a new process side by side: its reload is a restart of every instance, and `Reloading`
//! says so. It still ends with `Reloaded` once every restarted instance is ready again, or with
//! `ReloadFailed` when one is not (that instance then follows its restart policy as usual).

use std::time::Instant;

use crate::spec::{MAX_INSTANCES, ServiceId};
use crate::supervisor::engine::state::{AfterStop, Lifecycle, Stage};
use crate::supervisor::engine::{Effect, Effects, Engine, ServiceAction};
use crate::supervisor::event::{Event, InstanceId};

/// A rolling reload in progress.
#[derive(Debug, Clone)]
pub(super) struct Reload {
    began: Instant,
    /// The instances that ran when the reload began and are not replaced yet, by number.
    old: Vec<u32>,
    step: Step,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Instance `number` was added to take over; it is not ready yet.
    Starting(u32),
    /// Instance `number` was replaced; its tree is being stopped.
    Retiring(u32),
    /// A reload that is a restart: these instances are not ready again yet.
    Restarting(Vec<u32>),
}

impl Engine {
    /// `wrangle scale`: adds instances (with the lowest free numbers) or retires the highest
    /// numbered ones. Added instances start like the service's others would (they wait for its
    /// dependencies); a service that is not running gets them stopped.
    pub(super) fn scale(&mut self, now: Instant, service: ServiceId, count: u32, fx: &mut Effects) {
        if !matches!(self.stage, Stage::StartingUp { .. } | Stage::Running) {
            return;
        }
        let count = count.clamp(1, MAX_INSTANCES);
        self.interrupt_reload(service, "scale", fx);
        let state = &mut self.services[service];
        state.wanted = count;
        let staying: Vec<u32> = state
            .instances
            .iter()
            .filter(|instance| !is_retiring(instance.lifecycle))
            .map(|instance| instance.number)
            .collect();
        let from = u32::try_from(staying.len()).unwrap_or(u32::MAX);
        if from < count {
            let running = state
                .instances
                .iter()
                .any(|instance| !instance.lifecycle.ended());
            let all_inactive = state
                .instances
                .iter()
                .all(|instance| instance.lifecycle == Lifecycle::Inactive);
            let lifecycle = match (running, all_inactive) {
                (true, _) => Lifecycle::Waiting,
                (false, true) => Lifecycle::Inactive,
                (false, false) => Lifecycle::Stopped,
            };
            for _ in from..count {
                let number = state.free_number();
                state.add(number, lifecycle);
            }
        }
        for number in staying
            .iter()
            .rev()
            .take(from.saturating_sub(count) as usize)
        {
            self.retire_now_or_when_stopped(InstanceId::new(service, *number), fx);
        }
        fx.push(Effect::Publish(Event::Scaled {
            service,
            from,
            to: count,
        }));
        self.advance(now, fx);
    }

    /// Stops an instance for good: removed once its tree is gone, at once when it has none.
    fn retire_now_or_when_stopped(&mut self, id: InstanceId, fx: &mut Effects) {
        let Some(state) = self.instance_mut(id) else {
            return;
        };
        match state.lifecycle {
            Lifecycle::Stopping { .. } => state.lifecycle.set_after_stop(AfterStop::Retire),
            lifecycle if lifecycle.stoppable().is_some() => {
                self.stop_instance(id, AfterStop::Retire, fx)
            }
            _ => self.remove(id),
        }
    }

    fn remove(&mut self, id: InstanceId) {
        let service = &mut self.services[id.service];
        if let Some(at) = service.position(id.number) {
            service.instances.remove(at);
        }
    }

    /// The tree of a retired instance is gone: the instance goes, and a reload waiting for it
    /// takes its next step.
    pub(super) fn retire(&mut self, now: Instant, id: InstanceId, fx: &mut Effects) {
        self.remove(id);
        let waited = self.services[id.service]
            .reload
            .as_ref()
            .is_some_and(|reload| reload.step == Step::Retiring(id.number));
        if waited {
            self.reload_next(now, id.service, fx);
        }
        self.advance(now, fx);
    }

    /// `wrangle reload`: begins a rolling reload (see the module's doc), or restarts a service
    /// whose old and new processes cannot overlap.
    pub(super) fn reload(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        if !matches!(self.stage, Stage::StartingUp { .. } | Stage::Running)
            || self.services[service].reload.is_some()
        {
            return;
        }
        let live: Vec<u32> = self.services[service]
            .instances
            .iter()
            .filter(|instance| instance.lifecycle.stoppable().is_some())
            .map(|instance| instance.number)
            .collect();
        if live.is_empty() {
            fx.push(Effect::Publish(Event::ReloadFailed {
                service,
                reason: "it is not running (start it with `wrangle start`)".to_string(),
            }));
            return;
        }
        let instances = u32::try_from(live.len()).unwrap_or(u32::MAX);
        let service_spec = &self.spec.services[service];
        let overlap_refused = if service_spec.sockets.is_empty() {
            Some(
                "it receives no socket, so an old and a new process cannot share its address"
                    .to_string(),
            )
        } else {
            service_spec.ports.first().map(|port| {
                format!(
                    "it binds port {port} itself, which an old and a new process cannot both hold"
                )
            })
        };
        if let Some(reason) = overlap_refused {
            fx.push(Effect::Publish(Event::Reloading {
                service,
                instances,
                restart: Some(reason),
            }));
            self.control(now, service, ServiceAction::Restart, fx);
            self.services[service].reload = Some(Reload {
                began: now,
                old: Vec::new(),
                step: Step::Restarting(live),
            });
            return;
        }
        fx.push(Effect::Publish(Event::Reloading {
            service,
            instances,
            restart: None,
        }));
        self.services[service].reload = Some(Reload {
            began: now,
            old: live,
            step: Step::Starting(u32::MAX),
        });
        self.reload_next(now, service, fx);
    }

    /// Starts the next replacement, or ends the reload when nothing is left to replace.
    fn reload_next(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        let state = &mut self.services[service];
        let Some(reload) = &state.reload else {
            return;
        };
        let wanted = state.wanted;
        let extra = state
            .instances
            .iter()
            .any(|instance| instance.number >= wanted && !reload.old.contains(&instance.number));
        if reload.old.is_empty() && !extra {
            let elapsed = now.saturating_duration_since(reload.began);
            state.reload = None;
            fx.push(Effect::Publish(Event::Reloaded { service, elapsed }));
            return;
        }
        let number = state.free_number();
        state.add(number, Lifecycle::Waiting);
        if let Some(reload) = &mut state.reload {
            reload.step = Step::Starting(number);
        }
        self.advance(now, fx);
    }

    /// Instance `id` became ready: if a reload waited for it, the instance it replaces goes.
    pub(super) fn replacement_ready(&mut self, now: Instant, id: InstanceId, fx: &mut Effects) {
        let state = &mut self.services[id.service];
        if let Some(Reload {
            began,
            step: Step::Restarting(waiting),
            ..
        }) = &mut state.reload
        {
            waiting.retain(|number| *number != id.number);
            if waiting.is_empty() {
                let elapsed = now.saturating_duration_since(*began);
                state.reload = None;
                fx.push(Effect::Publish(Event::Reloaded {
                    service: id.service,
                    elapsed,
                }));
            }
            return;
        }
        let wanted = state.wanted;
        let Some(reload) = state
            .reload
            .as_mut()
            .filter(|reload| reload.step == Step::Starting(id.number))
        else {
            return;
        };
        let retiree = if reload.old.is_empty() {
            state
                .instances
                .iter()
                .map(|instance| instance.number)
                .find(|number| *number >= wanted && *number != id.number)
        } else {
            Some(reload.old.remove(0))
        };
        let Some(retiree) = retiree else {
            self.reload_next(now, id.service, fx);
            return;
        };
        if let Some(reload) = &mut self.services[id.service].reload {
            reload.step = Step::Retiring(retiree);
        }
        let retiree = InstanceId::new(id.service, retiree);
        let has_tree = self
            .instance(retiree)
            .is_some_and(|state| state.lifecycle.alive());
        if has_tree {
            self.retire_now_or_when_stopped(retiree, fx);
        } else {
            // It crashed meanwhile and waits for a restart (or never came back): nothing to
            // stop.
            self.remove(retiree);
            self.reload_next(now, id.service, fx);
        }
    }

    /// Instance `id` failed before it was ready (`alive`: its tree still runs). If it was a
    /// reload's new instance, the reload ends here: the instance is removed, the others keep
    /// serving. Returns whether that was the case (the caller then does nothing more).
    pub(super) fn replacement_failed(
        &mut self,
        now: Instant,
        id: InstanceId,
        reason: &str,
        alive: bool,
        fx: &mut Effects,
    ) -> bool {
        let state = &mut self.services[id.service];
        if let Some(Reload {
            step: Step::Restarting(waiting),
            ..
        }) = &state.reload
        {
            if waiting.contains(&id.number) {
                state.reload = None;
                let label = id.label(&self.spec);
                fx.push(Effect::Publish(Event::ReloadFailed {
                    service: id.service,
                    reason: format!("{label} {reason} after its restart"),
                }));
            }
            // The instance follows its restart policy, as after any restart.
            return false;
        }
        if !state
            .reload
            .as_ref()
            .is_some_and(|reload| reload.step == Step::Starting(id.number))
        {
            return false;
        }
        state.reload = None;
        let label = id.label(&self.spec);
        fx.push(Effect::Publish(Event::ReloadFailed {
            service: id.service,
            reason: format!(
                "the new instance {label} {reason}; the instances not replaced yet keep serving"
            ),
        }));
        if alive {
            self.stop_instance(id, AfterStop::Retire, fx);
        } else {
            self.remove(id);
        }
        self.advance(now, fx);
        true
    }

    /// Something else happens to the service (`what`): a reload in progress ends, and the
    /// instance it was starting goes.
    pub(super) fn interrupt_reload(&mut self, service: ServiceId, what: &str, fx: &mut Effects) {
        let Some(reload) = self.services[service].reload.take() else {
            return;
        };
        fx.push(Effect::Publish(Event::ReloadFailed {
            service,
            reason: format!("interrupted by {what}"),
        }));
        if let Step::Starting(number) = reload.step {
            self.retire_now_or_when_stopped(InstanceId::new(service, number), fx);
        }
    }
}

fn is_retiring(lifecycle: Lifecycle) -> bool {
    matches!(
        lifecycle,
        Lifecycle::Stopping {
            then: AfterStop::Retire,
            ..
        }
    )
}
