//! The clock of runs by the clock (`schedule`, `every`): one task on the supervisor's thread
//! sleeps until the next scheduled time of any service, then tells the runtime, which feeds
//! `Input::Scheduled` to the engine. The engine decides what a time does (a start, a restart,
//! a skip while the previous run goes on, nothing while the schedule is off); this task only
//! keeps time.
//!
//! Times are computed from the wall clock in the system's time zone (`spec::schedule`), and the
//! task never sleeps longer than [`LONGEST_NAP`] at once: tokio's timers follow the monotonic
//! clock, which stands still while the machine is suspended and ignores the wall clock being
//! set, so one long sleep would wake late. A time missed by more than [`LATENESS_ALLOWED`] (the
//! machine slept through it) is not caught up: the next one is taken from now. When the config
//! is applied, every next time is computed afresh from the new spec.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::spec::{ProjectSpec, ServiceId};

/// The longest the task sleeps before it looks at the wall clock again.
pub const LONGEST_NAP: Duration = Duration::from_secs(30);

/// A time is still acted on if the task wakes this late for it (a busy machine); later than
/// that it counts as missed.
pub const LATENESS_ALLOWED: Duration = Duration::from_secs(60);

/// Calls `fire` at each scheduled time of each service of the spec `specs` holds, until `fire`
/// says the run is over (returns false) or `specs`' sender is gone.
pub async fn run(mut specs: watch::Receiver<Arc<ProjectSpec>>, fire: impl Fn(ServiceId) -> bool) {
    let mut next = next_times(&specs.borrow_and_update(), SystemTime::now());
    loop {
        let now = SystemTime::now();
        let spec = Arc::clone(&specs.borrow());
        for (service, due) in &mut next {
            if *due > now {
                continue;
            }
            let late = now.duration_since(*due).unwrap_or_default();
            if late <= LATENESS_ALLOWED && !fire(*service) {
                return;
            }
            // The next one from the later of the two: a time fired late is not fired twice.
            let following = spec.services[*service]
                .schedule
                .as_ref()
                .and_then(|schedule| schedule.next_local((*due).max(now)));
            *due = following.unwrap_or(SystemTime::UNIX_EPOCH);
        }
        // A schedule with no time left (a seventh field whose years have passed) is done.
        next.retain(|(_, due)| *due != SystemTime::UNIX_EPOCH);
        let soonest = next.iter().map(|(_, due)| *due).min();
        let nap = soonest.map(|due| {
            due.duration_since(SystemTime::now())
                .unwrap_or_default()
                .min(LONGEST_NAP)
        });
        tokio::select! {
            _ = nap_for(nap) => {}
            changed = specs.changed() => {
                if changed.is_err() {
                    return;
                }
                next = next_times(&specs.borrow_and_update(), SystemTime::now());
            }
        }
    }
}

/// The next time after `now` of every service of `spec` with a schedule.
fn next_times(spec: &ProjectSpec, now: SystemTime) -> Vec<(ServiceId, SystemTime)> {
    spec.current()
        .filter_map(|(service, declared)| {
            let next = declared.schedule.as_ref()?.next_local(now)?;
            Some((service, next))
        })
        .collect()
}

/// Sleeps for `nap`, or forever without one.
async fn nap_for(nap: Option<Duration>) {
    match nap {
        Some(nap) => tokio::time::sleep(nap).await,
        None => std::future::pending().await,
    }
}
