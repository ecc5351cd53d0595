//! What changed between two specs of one project: the services added, removed and changed (with
//! the keys that changed, and environment differences with secret-looking values masked), and
//! the project-level settings that changed. `wrangle apply` prints it as its plan and acts on
//! exactly that.
//!
//! Pure data in, data out: services are matched by name (their ids may differ between the two
//! specs), dependencies and sockets compared by the names they point at.

use std::collections::BTreeSet;

use super::secret;
use super::{LiveProbe, ProjectSpec, ReadyProbe, ServiceSpec};

/// The differences between the running spec and a newly loaded one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectDiff {
    /// Services only the new spec has, in its order.
    pub added: Vec<String>,
    /// Services only the old spec has, in its order.
    pub removed: Vec<String>,
    /// Services both have that differ, in the new spec's order.
    pub changed: Vec<ServiceChange>,
    /// Project-level settings that differ (`[logs]`, `[monitor]`, `[metrics]`, `[[notify]]`,
    /// `[dashboard]`, `[sockets]`), each saying whether `apply` can change it live.
    pub settings: Vec<SettingChange>,
}

/// A project-level setting that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingChange {
    /// The table as the user writes it: `[logs]`, `[[notify]]`...
    pub key: &'static str,
    /// `apply` changes it in the running daemon; otherwise the daemon keeps the running value
    /// until `wrangle down` and `wrangle up`.
    pub live: bool,
}

impl ProjectDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.settings.is_empty()
    }

    /// The settings that differ but cannot change while the daemon runs.
    pub fn needing_restart(&self) -> impl Iterator<Item = &'static str> {
        self.settings
            .iter()
            .filter(|setting| !setting.live)
            .map(|setting| setting.key)
    }
}

/// One service whose settings differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceChange {
    pub name: String,
    /// The config keys that differ, as the user writes them (`command`, `env`, `ready`...).
    pub keys: Vec<&'static str>,
    /// Variables added, removed or changed (after `env_file`, `env` and `PORT` were merged).
    pub env: Vec<EnvChange>,
}

impl ServiceChange {
    /// Only `instances` differs: the change is a scale, not a new process per instance.
    pub fn only_instances(&self) -> bool {
        self.keys == ["instances"]
    }

    /// Something the processes are made from differs: each instance needs a new one. `instances`
    /// (a scale) and `schedule` (when it runs) do not.
    pub fn replaces_processes(&self) -> bool {
        self.keys
            .iter()
            .any(|key| !matches!(*key, "instances" | "schedule"))
    }
}

/// A variable that differs, its values as they may be shown ([`secret::shown_value`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvChange {
    pub name: String,
    /// `None`: the variable is new.
    pub before: Option<String>,
    /// `None`: the variable is gone.
    pub after: Option<String>,
}

/// Compares the running spec `old` with `new`. Services `old` retired (see
/// [`ProjectSpec::retired`]) count as absent.
pub fn diff(old: &ProjectSpec, new: &ProjectSpec) -> ProjectDiff {
    let names = |spec: &ProjectSpec| -> BTreeSet<String> {
        spec.current().map(|(_, s)| s.name.clone()).collect()
    };
    let (old_names, new_names) = (names(old), names(new));
    let added = new
        .current()
        .filter(|(_, service)| !old_names.contains(&service.name))
        .map(|(_, service)| service.name.clone())
        .collect();
    let removed = old
        .current()
        .filter(|(_, service)| !new_names.contains(&service.name))
        .map(|(_, service)| service.name.clone())
        .collect();
    let changed = new
        .current()
        .filter_map(|(_, after)| {
            let before = old.services.get(old.service_id(&after.name)?)?;
            let change = service_change(old, before, new, after);
            (!change.keys.is_empty()).then_some(change)
        })
        .collect();
    ProjectDiff {
        added,
        removed,
        changed,
        settings: setting_changes(old, new),
    }
}

fn service_change(
    old: &ProjectSpec,
    before: &ServiceSpec,
    new: &ProjectSpec,
    after: &ServiceSpec,
) -> ServiceChange {
    let mut keys = Vec::new();
    let mut differs = |key: &'static str, differ: bool| {
        if differ {
            keys.push(key);
        }
    };
    differs("command", before.command != after.command);
    differs("cwd", before.cwd != after.cwd);
    differs("env", before.env != after.env);
    differs("port", before.ports != after.ports);
    // `schedule`, `every` and `on_schedule` are one key: when and how it runs by the clock.
    let schedule = |service: &ServiceSpec| {
        service
            .schedule
            .as_ref()
            .map(|schedule| format!("{} {}", schedule.describe(), schedule.action.as_str()))
    };
    differs("schedule", schedule(before) != schedule(after));
    let dependencies = |spec: &ProjectSpec, service: &ServiceSpec| -> Vec<String> {
        service
            .depends_on
            .iter()
            .map(|dependency| {
                format!(
                    "{} {} {}",
                    spec.services[dependency.service].name,
                    dependency.condition.as_str(),
                    dependency.restart
                )
            })
            .collect()
    };
    differs(
        "depends_on",
        dependencies(old, before) != dependencies(new, after),
    );
    differs(
        "ready",
        before.ready.as_ref().map(ready_key) != after.ready.as_ref().map(ready_key),
    );
    differs(
        "live",
        before.live.as_ref().map(live_key) != after.live.as_ref().map(live_key),
    );
    differs("restart", before.restart != after.restart);
    differs("stop_signal", before.stop.signal != after.stop.signal);
    differs("stop_timeout", before.stop.timeout != after.stop.timeout);
    differs(
        "max_memory",
        before.limits.max_memory != after.limits.max_memory,
    );
    differs("cpu_warn", before.limits.cpu_warn != after.limits.cpu_warn);
    differs(
        "memory_warn",
        before.limits.memory_warn != after.limits.memory_warn,
    );
    differs(
        "warn_after",
        before.limits.warn_after != after.limits.warn_after,
    );
    differs("nice", before.process.nice != after.process.nice);
    differs("limits", before.process.rlimits != after.process.rlimits);
    let sockets = |spec: &'_ ProjectSpec, service: &ServiceSpec| -> Vec<super::SocketSpec> {
        service
            .sockets
            .iter()
            .map(|socket| spec.sockets[*socket].clone())
            .collect()
    };
    differs("sockets", sockets(old, before) != sockets(new, after));
    differs("instances", before.instances != after.instances);
    differs(
        "watch",
        before.watch.as_ref().map(watch_key) != after.watch.as_ref().map(watch_key),
    );
    // `kubernetes` is read by `export` alone: nothing that runs differs.
    ServiceChange {
        name: after.name.clone(),
        keys,
        env: env_changes(before, after),
    }
}

/// A probe as a comparable value: its check as described, and its settings.
fn ready_key(probe: &ReadyProbe) -> String {
    format!(
        "{} {:?} {:?} {:?} {}",
        probe.check.describe(),
        probe.interval,
        probe.timeout,
        probe.recheck,
        probe.per_instance
    )
}

fn live_key(probe: &LiveProbe) -> String {
    format!(
        "{} {:?} {:?} {} {}",
        probe.check.describe(),
        probe.interval,
        probe.timeout,
        probe.failures,
        probe.per_instance
    )
}

/// What is watched as a comparable value: the roots, the globs as written, the ignore patterns
/// and files, the debounce.
fn watch_key(watch: &super::WatchSpec) -> String {
    let entries: Vec<String> = watch
        .entries
        .iter()
        .map(|entry| {
            format!(
                "{} {:?}",
                entry.root.display(),
                entry.glob.as_ref().map(|glob| glob.glob().glob())
            )
        })
        .collect();
    let ignore: Vec<&str> = watch.ignore.iter().map(|glob| glob.glob().glob()).collect();
    format!(
        "{entries:?} {ignore:?} {:?} {:?}",
        watch.ignore_files, watch.debounce
    )
}

fn env_changes(before: &ServiceSpec, after: &ServiceSpec) -> Vec<EnvChange> {
    let names: BTreeSet<&String> = before.env.keys().chain(after.env.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (before.env.get(name), after.env.get(name));
            (old != new).then(|| EnvChange {
                name: name.clone(),
                before: old.map(|value| secret::shown_value(name, value).to_string()),
                after: new.map(|value| secret::shown_value(name, value).to_string()),
            })
        })
        .collect()
}

/// Which project settings differ. Only `[monitor]` is read afresh by the running daemon at each
/// sample; the others shape what the daemon set up before its first service (the log writer,
/// listeners, notification workers, bound sockets), so they wait for `down` and `up`.
fn setting_changes(old: &ProjectSpec, new: &ProjectSpec) -> Vec<SettingChange> {
    let candidates = [
        ("[logs]", old.logs != new.logs, false),
        ("[monitor]", old.monitor != new.monitor, true),
        ("[metrics]", old.metrics != new.metrics, false),
        ("[[notify]]", old.notify != new.notify, false),
        ("[dashboard]", old.dashboard != new.dashboard, false),
        ("[sockets]", old.sockets != new.sockets, false),
    ];
    candidates
        .into_iter()
        .filter(|(_, differs, _)| *differs)
        .map(|(key, _, live)| SettingChange { key, live })
        .collect()
}

#[cfg(test)]
mod tests;
