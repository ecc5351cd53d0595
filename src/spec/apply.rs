//! `apply`'s new running spec: the loaded config merged into the running spec so that every
//! service keeps its id for the daemon's whole life, and what must happen to which id.
//!
//! Ids index everything the daemon keeps per service (the engine's states, the log files,
//! records), and inputs in flight carry them (a probe's result, a timer). Renumbering at an
//! apply would let a late input about one service reach another; instead a service keeps its
//! index: a changed one is replaced in place, an added one is appended (or, if it ran here
//! before and was removed, takes its old index back), and a removed one stays as a retired
//! entry ([`ProjectSpec::retired`]) that nothing starts or shows. Dependencies and sockets of the
//! loaded services are renumbered into the merged ids.
//!
//! Project settings that cannot change live (see [`super::diff`]) keep their running values, so
//! the spec always says what the daemon really does, and a later apply still reports them.

use super::diff::{ProjectDiff, diff};
use super::{ProjectSpec, ServiceId};

/// The merged spec and what `apply` does to reach it.
#[derive(Debug, Clone)]
pub struct Merged {
    pub spec: ProjectSpec,
    /// What changed, by name (the plan shown to the user).
    pub diff: ProjectDiff,
    /// What to do, by id in `spec`, in the loaded config's order (removals last).
    pub changes: Vec<ApplyChange>,
}

/// One service's part in an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyChange {
    /// New in the config: start it (with its dependencies, readiness-gated like `up`).
    Add(ServiceId),
    /// Gone from the config: stop it (what depends on it first) and retire it.
    Remove(ServiceId),
    /// Its settings changed: run `instances` copies (when that changed), follow its new
    /// `schedule` (when that changed) and replace its processes (when anything else changed).
    Change {
        service: ServiceId,
        instances: bool,
        schedule: bool,
        replace: bool,
    },
}

/// Merges `loaded` (the config read again) into `running`. `None` when `[sockets]` differs:
/// services would be given sockets the daemon has not bound (that needs `down` and `up`).
pub fn merge(running: &ProjectSpec, loaded: &ProjectSpec) -> Option<Merged> {
    let diff = diff(running, loaded);
    if running.sockets != loaded.sockets {
        return None;
    }
    let mut spec = running.clone();
    // Where each loaded service goes in the merged spec.
    let mut ids: Vec<ServiceId> = Vec::with_capacity(loaded.services.len());
    for service in &loaded.services {
        let known = running
            .services
            .iter()
            .position(|existing| existing.name == service.name);
        let id = match known {
            Some(id) => id,
            None => {
                spec.services.push(service.clone());
                spec.services.len() - 1
            }
        };
        ids.push(id);
    }
    for (loaded_id, service) in loaded.services.iter().enumerate() {
        let mut service = service.clone();
        for dependency in &mut service.depends_on {
            dependency.service = ids[dependency.service];
        }
        // `[sockets]` is the same in both, so socket ids are too.
        spec.services[ids[loaded_id]] = service;
    }
    spec.retired = (0..spec.services.len())
        .filter(|id| !ids.contains(id))
        .collect();
    // Read afresh at every sample; the rest keeps running as it was set up.
    spec.monitor = loaded.monitor;

    let mut changes = Vec::new();
    for (loaded_id, service) in loaded.services.iter().enumerate() {
        let id = ids[loaded_id];
        if diff.added.contains(&service.name) {
            changes.push(ApplyChange::Add(id));
        } else if let Some(change) = diff.changed.iter().find(|c| c.name == service.name) {
            changes.push(ApplyChange::Change {
                service: id,
                instances: change.keys.contains(&"instances"),
                schedule: change.keys.contains(&"schedule"),
                replace: change.replaces_processes(),
            });
        }
    }
    for name in &diff.removed {
        if let Some(id) = running.service_id(name) {
            changes.push(ApplyChange::Remove(id));
        }
    }
    Some(Merged {
        spec,
        diff,
        changes,
    })
}

#[cfg(test)]
mod tests;
