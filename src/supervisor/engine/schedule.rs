//! Runs by the clock (`schedule`, `every`): whether a service's schedule is on, and what one of
//! its times does. A job (`on_schedule = "start"`) is started unless its previous run still
//! goes on, in which case the time is skipped and said so (two runs never overlap); a service
//! with `on_schedule = "restart"` is restarted (or started, if it had ended).
//!
//! A schedule is on for the services of the run that have one (a job is not started with the
//! others, only armed). A user's `stop` of the service, or of something it depends on, turns it
//! off, so a stopped service stays stopped; a user's `start` or `restart` turns it on again.
//! Times are only acted on once start-up is over: a run that failed during start-up would fail
//! the whole `up`.

use std::time::Instant;

use crate::spec::ServiceId;
use crate::spec::schedule::ScheduleAction;
use crate::supervisor::engine::state::Stage;
use crate::supervisor::engine::{Effect, Effects, Engine, Phase, ServiceAction};
use crate::supervisor::event::Event;

impl Engine {
    /// One of the scheduled times of `service` came.
    pub(super) fn scheduled(&mut self, now: Instant, service: ServiceId, fx: &mut Effects) {
        let Some(action) = self
            .spec
            .services
            .get(service)
            .and_then(|declared| declared.schedule.as_ref())
            .map(|schedule| schedule.action)
        else {
            return;
        };
        if !self.services[service].schedule_on {
            return;
        }
        let skipped = match self.stage {
            Stage::Running => match action {
                ScheduleAction::Start => self.run_going_on(service),
                ScheduleAction::Restart => None,
            },
            Stage::StartingUp { .. } => Some("start-up is not complete yet"),
            Stage::Idle | Stage::ShuttingDown { .. } | Stage::Done => return,
        };
        if let Some(reason) = skipped {
            fx.push(Effect::Publish(Event::ScheduleSkipped {
                service,
                reason: reason.to_string(),
            }));
            return;
        }
        fx.push(Effect::Publish(Event::ScheduleFired { service, action }));
        let action = match action {
            ScheduleAction::Start => ServiceAction::Start,
            ScheduleAction::Restart => ServiceAction::Restart,
        };
        self.control(now, service, action, fx);
    }

    /// Why the previous run of `service` still goes on, if it does.
    fn run_going_on(&self, service: ServiceId) -> Option<&'static str> {
        self.services[service]
            .instances
            .iter()
            .find_map(|state| match state.lifecycle.phase() {
                Phase::Starting | Phase::Running => Some("its previous run is still going"),
                Phase::Waiting => Some("its previous run still waits for its dependencies"),
                Phase::Backoff => Some("its previous run failed and waits to be retried"),
                Phase::Stopping => Some("its previous run is still stopping"),
                Phase::Inactive | Phase::Exited(_) | Phase::Failed | Phase::Stopped => None,
            })
    }

    /// Turns the schedule of `service` on (if it has one) or off.
    pub(super) fn set_schedule(&mut self, service: ServiceId, on: bool) {
        let has_one = self
            .spec
            .services
            .get(service)
            .is_some_and(|declared| declared.schedule.is_some());
        if let Some(state) = self.services.get_mut(service) {
            state.schedule_on = on && has_one;
        }
    }

    /// Whether the schedule of `service` is on: its times start (or restart) it.
    pub fn schedule_on(&self, service: ServiceId) -> bool {
        self.services
            .get(service)
            .is_some_and(|state| state.schedule_on)
    }

    /// Whether a service's schedule is on: a run in the foreground goes on for it, even when
    /// nothing runs.
    pub(super) fn any_schedule_on(&self) -> bool {
        self.services.iter().any(|state| state.schedule_on)
    }
}
