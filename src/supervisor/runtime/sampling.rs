//! Resource sampling: when a sample is due, which processes each running instance has, and what
//! the monitor's verdicts become (an engine input for `max_memory`, an event for warnings).

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::spec::MonitorSpec;
use crate::supervisor::engine::Input;
use crate::supervisor::event::{Event, InstanceId};
use crate::supervisor::monitor::{Running, Verdict};

use super::system::System;
use super::{Message, Runtime};

/// Tolerance for a tick that comes a little early.
const SAMPLE_SLACK: Duration = Duration::from_millis(50);

impl<S: System> Runtime<S> {
    /// Starts the task that asks for a sample (a [`Message::SampleTick`]) when one may be due, if
    /// anything is ever sampled in this run.
    pub(super) fn start_sample_ticks(&self) {
        if self.sample_interval().is_none() {
            return;
        }
        // Sleeps one interval at a time, and wakes early when the front-end says the interval
        // may have shortened: an idle daemon nobody watches wakes only to sample.
        let sender = self.sender.clone();
        let observer = Rc::clone(&self.observer);
        let limits = self.has_limits();
        let wakeup = observer.sample_wakeup();
        tokio::task::spawn_local(async move {
            // The first sample at once, so figures exist as soon as services run.
            if sender.send(Message::SampleTick).is_err() {
                return;
            }
            loop {
                let Some(interval) = effective_interval(observer.sample_interval(), limits) else {
                    return;
                };
                match &wakeup {
                    Some(wakeup) => tokio::select! {
                        () = tokio::time::sleep(interval) => {}
                        () = wakeup.notified() => continue,
                    },
                    None => tokio::time::sleep(interval).await,
                }
                if sender.send(Message::SampleTick).is_err() {
                    return;
                }
            }
        });
    }

    /// The interval resources are sampled at now: what the front-end wants, and at least every
    /// [`MonitorSpec::LIMIT_INTERVAL`] when a service has a limit; `None`: no sampling.
    pub(super) fn sample_interval(&self) -> Option<Duration> {
        effective_interval(self.observer.sample_interval(), self.has_limits())
    }

    fn has_limits(&self) -> bool {
        self.spec
            .services
            .iter()
            .any(|service| service.limits.any())
    }

    pub(super) fn sample_if_due(&mut self) -> Option<u8> {
        let interval = self.sample_interval()?;
        let now = super::now();
        // A few milliseconds of slack keep a tick that comes slightly early from being skipped
        // (it would be a whole interval late).
        let due = self
            .last_sample
            .is_none_or(|last| now.saturating_duration_since(last) + SAMPLE_SLACK >= interval);
        if !due || self.engine.is_shutting_down() {
            return None;
        }
        self.last_sample = Some(now);
        let mut ids: Vec<InstanceId> = self.instances.keys().copied().collect();
        ids.sort_unstable();
        let running: Vec<Running> = ids
            .into_iter()
            .filter_map(|id| {
                let instance = self.instances.get(&id)?;
                let age = SystemTime::now()
                    .duration_since(instance.started_at)
                    .unwrap_or_default();
                let generation = instance.generation;
                let pids = self.system.sample_pids(id);
                Some(Running {
                    instance: id,
                    generation,
                    spawned: now.checked_sub(age).unwrap_or(now),
                    pids,
                })
            })
            .collect();
        let own = self.system.own_pids();
        let (report, verdicts) = self.monitor.sample(&self.spec, interval, &running, &own);
        self.observer.resources(&report);
        let mut code = None;
        for verdict in verdicts {
            match verdict {
                Verdict::MemoryLimit {
                    instance,
                    generation,
                    reason,
                } => {
                    code = code.or(self.feed(Input::MemoryLimitExceeded {
                        service: instance.service,
                        generation,
                        reason,
                    }));
                }
                Verdict::Warning {
                    instance,
                    resource,
                    active,
                    message,
                } => self.observer.event(&Event::ResourceWarning {
                    instance,
                    resource,
                    active,
                    message,
                }),
            }
        }
        code
    }
}

/// The interval resources are sampled at: what the front-end wants, and at least every
/// [`MonitorSpec::LIMIT_INTERVAL`] when a service has a limit; `None`: no sampling at all.
fn effective_interval(wanted: Option<Duration>, limits: bool) -> Option<Duration> {
    match (wanted, limits) {
        (Some(wanted), true) => Some(wanted.min(MonitorSpec::LIMIT_INTERVAL)),
        (None, true) => Some(MonitorSpec::LIMIT_INTERVAL),
        (wanted, false) => wanted,
    }
}
