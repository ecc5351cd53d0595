//! `wrangle apply` (and SIGHUP) in the daemon: the config read again, compared with the running
//! spec, and, unless it is a dry run, acted on through the supervisor.
//!
//! The new spec is the running one with the loaded config merged in, every id kept
//! (`spec::merge`); it goes to the supervisor as one [`Control::Apply`], which switches the
//! engine, the runtime, the system and the observer (status, log store, records, reporter) in
//! the same turn, then starts, stops, reloads or restarts what the plan says. The answer comes
//! once that is applied, so a client reading the status next sees the new services. A config
//! that cannot be read or is invalid changes nothing; so does a `[sockets]` difference (services
//! would be given sockets the daemon never bound). Other settings that cannot change live keep
//! their running values, and the plan says so.

use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};

use crate::api::RequestEnvelope;
use crate::api::wire::{self, ApiError, Reply, Request};
use crate::daemon::observer::DaemonObserver;
use crate::human;
use crate::launch;
use crate::spec::{ApplyChange, ProjectDiff, ProjectSpec};
use crate::supervisor::engine::NewSpec;
use crate::supervisor::runtime::{Control, ControlRequest, Observer};

/// Serves an `apply` request. `spec` is the spec the daemon runs; it becomes the new one once
/// the supervisor has taken it.
pub(super) async fn apply(
    spec: &mut Arc<ProjectSpec>,
    origin: launch::Origin,
    dry_run: bool,
    controls: &mpsc::UnboundedSender<ControlRequest>,
) -> Result<Reply, ApiError> {
    // A service with `port = "auto"` keeps the port it holds (unless it no longer fits).
    let loaded = launch::load_again(&spec.source, origin, &spec.profiles, launch::ports_of(spec))
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    if dry_run {
        let plan = plan_of(&crate::spec::diff(spec, &loaded));
        return Ok(Reply::Plan { plan });
    }
    let Some(merged) = crate::spec::merge(spec, &loaded) else {
        return Err(ApiError::forbidden(
            "[sockets] differs from what the daemon runs: nothing was changed (a socket is \
             bound once, before any service starts: `wrangle down` and `wrangle up` apply it)",
        ));
    };
    let plan = plan_of(&merged.diff);
    if merged.changes.is_empty() && merged.spec.monitor == spec.monitor {
        return Ok(Reply::Applied { plan });
    }
    let new = Arc::new(merged.spec);
    let (done, applied) = oneshot::channel();
    let request = ControlRequest {
        control: Control::Apply {
            spec: NewSpec(Arc::clone(&new)),
            changes: merged.changes,
        },
        done: Some(done),
    };
    if controls.send(request).is_err() || applied.await.is_err() {
        return Err(ApiError::unavailable("the daemon is shutting down"));
    }
    *spec = new;
    Ok(Reply::Applied { plan })
}

/// The plan as the API gives it.
pub(super) fn plan_of(diff: &ProjectDiff) -> wire::ApplyPlan {
    wire::ApplyPlan {
        added: diff.added.clone(),
        removed: diff.removed.clone(),
        changed: diff
            .changed
            .iter()
            .map(|change| wire::ChangedService {
                name: change.name.clone(),
                keys: change.keys.iter().map(|key| key.to_string()).collect(),
                env: change
                    .env
                    .iter()
                    .map(|env| wire::EnvDifference {
                        name: env.name.clone(),
                        before: env.before.clone(),
                        after: env.after.clone(),
                    })
                    .collect(),
            })
            .collect(),
        settings: diff
            .settings
            .iter()
            .map(|setting| wire::SettingDifference {
                name: setting.key.to_string(),
                live: setting.live,
            })
            .collect(),
    }
}

/// What an apply does, in words, for `daemon.log` and the `config_applied` event.
pub(super) fn summary(spec: &ProjectSpec, changes: &[ApplyChange]) -> String {
    let name = |service: usize| spec.services[service].name.as_str();
    let mut parts = Vec::new();
    for change in changes {
        parts.push(match *change {
            ApplyChange::Add(service) => format!("{} added", name(service)),
            ApplyChange::Remove(service) => format!("{} removed", name(service)),
            ApplyChange::Change {
                service,
                replace: false,
                instances: true,
                ..
            } => format!("{} scaled", name(service)),
            ApplyChange::Change {
                service,
                replace: false,
                ..
            } => format!("{} rescheduled", name(service)),
            ApplyChange::Change { service, .. } => format!("{} changed", name(service)),
        });
    }
    match parts.is_empty() {
        true => "config applied: no service changed".to_string(),
        false => format!("config applied: {}", parts.join(", ")),
    }
}

/// SIGHUP: the config applied as `wrangle apply` would, through the same request; the outcome
/// goes to `daemon.log` (a success also as the `config_applied` event the apply publishes, a
/// refusal as `apply_failed`).
pub(super) async fn apply_on_hangup(
    mut hangups: mpsc::UnboundedReceiver<()>,
    requests: mpsc::UnboundedSender<RequestEnvelope>,
    observer: Rc<DaemonObserver>,
) {
    while hangups.recv().await.is_some() {
        observer.notice("SIGHUP: reading the config again to apply it");
        let (reply, answer) = oneshot::channel();
        if requests
            .send((Request::Apply { dry_run: false }, reply))
            .is_err()
        {
            return;
        }
        let failure = match answer.await {
            Ok(Ok(Reply::Applied { plan })) => {
                if plan == wire::ApplyPlan::default() {
                    observer.notice("SIGHUP: nothing to apply: the config matches what runs");
                }
                let kept: Vec<&str> = plan
                    .settings
                    .iter()
                    .filter(|setting| !setting.live)
                    .map(|setting| setting.name.as_str())
                    .collect();
                if !kept.is_empty() {
                    observer.notice(&format!(
                        "SIGHUP: {} changed but not applied (needs `wrangle down` and `wrangle up`)",
                        kept.join(", ")
                    ));
                }
                continue;
            }
            Ok(Ok(_)) => "an unexpected answer".to_string(),
            Ok(Err(error)) => error.error,
            // The daemon is stopping.
            Err(_) => return,
        };
        let message = format!("the config was not applied, nothing changed: {failure}");
        observer.notice(&format!("SIGHUP: {message}"));
        observer.publish(wire::Event {
            time: human::time(SystemTime::now()),
            kind: "apply_failed".to_string(),
            service: None,
            instance: None,
            message,
            pid: None,
        });
    }
}
