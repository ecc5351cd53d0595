//! What the daemon keeps on record for the dashboard, in bounded memory: the latest events (so a
//! page opened now can show what happened before), each service's restarts with their causes and
//! its readiness probe's recent attempts, each service's resolved config (secrets masked), and
//! the timings of the latest start-up for the dependency graph and its critical path.
//!
//! A service with a schedule (`schedule`, `every`) also has its latest runs: when each started,
//! when and how it ended.
//!
//! A service with several instances has one history: each restart and probe attempt names its
//! instance; the start-up timings are instance 0's (every service starts with an instance 0, and
//! what its dependants wait for is the service's readiness, which instance 0 shares).
//!
//! Written by the supervisor's thread (the daemon's observer), read by the API's; every record is
//! a small ring, so an idle daemon keeps almost nothing and a busy one never grows.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use crate::api::Records;
use crate::api::wire::{self, ExitInfo, ProbeAttempt, RestartRecord, RunRecord, ServiceStatus};
use crate::daemon::config_view::service_config;
use crate::human;
use crate::spec::{DependencyCondition, ProjectSpec, ServiceId};
use crate::supervisor::event::InstanceId;

/// Events kept for pages opened later.
pub const EVENTS_KEPT: usize = 500;
/// Restarts kept per service.
pub const RESTARTS_KEPT: usize = 50;
/// Probe attempts kept per service.
pub const PROBES_KEPT: usize = 60;
/// Runs kept per service with a schedule.
pub const RUNS_KEPT: usize = 20;

/// Shared between the supervisor's thread (writes) and the API's (reads).
#[derive(Clone)]
pub struct ProjectRecords(Arc<Shared>);

struct Shared {
    /// What changes only with the spec (`wrangle apply`).
    layout: std::sync::RwLock<Arc<Layout>>,
    inner: Mutex<Inner>,
}

/// The services as the spec describes them, by id (retired ones included: ids are kept).
struct Layout {
    names: Vec<String>,
    /// Not retired by `apply`: the others are shown nowhere.
    current: Vec<bool>,
    configs: Vec<wire::ServiceConfig>,
    dependencies: Vec<Vec<(ServiceId, DependencyCondition, bool)>>,
    layers: Vec<u32>,
    /// Has a schedule: its runs are kept.
    scheduled: Vec<bool>,
}

impl Layout {
    fn of(spec: &ProjectSpec) -> Layout {
        let dependencies: Vec<Vec<(ServiceId, DependencyCondition, bool)>> = spec
            .services
            .iter()
            .map(|service| {
                service
                    .depends_on
                    .iter()
                    .map(|dependency| {
                        (dependency.service, dependency.condition, dependency.restart)
                    })
                    .collect()
            })
            .collect();
        Layout {
            names: spec.services.iter().map(|s| s.name.clone()).collect(),
            current: (0..spec.services.len())
                .map(|service| spec.is_current(service))
                .collect(),
            configs: (0..spec.services.len())
                .map(|service| service_config(spec, service))
                .collect(),
            layers: layers(&dependencies),
            dependencies,
            scheduled: spec
                .services
                .iter()
                .map(|service| service.schedule.is_some())
                .collect(),
        }
    }

    /// The id of a service of the config (not a retired one).
    fn current_id(&self, name: &str) -> Option<ServiceId> {
        (0..self.names.len()).find(|&service| self.current[service] && self.names[service] == name)
    }
}

#[derive(Default)]
struct Inner {
    events: VecDeque<wire::Event>,
    restarts: Vec<VecDeque<RestartRecord>>,
    probes: Vec<VecDeque<ProbeAttempt>>,
    runs: Vec<VecDeque<RunRecord>>,
    last_probe_failure: Vec<Option<String>>,
    /// Restarts by cause of each instance as last seen in a status, to find new ones; only the
    /// instances of the latest status (at most `MAX_INSTANCES` per service).
    counted: HashMap<InstanceId, BTreeMap<String, u32>>,
    /// Restarts of instance 0 as last seen at its spawn: a spawn that does not raise it is a
    /// start, not a restart.
    restarts_at_spawn: Vec<u32>,
    startup: Vec<Startup>,
}

/// The latest start (from scratch, not a restart) of one service.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Startup {
    pub spawned: Option<SystemTime>,
    pub ready: Option<SystemTime>,
    pub completed: Option<SystemTime>,
    /// The instance spawned then is still the current one.
    current: bool,
}

impl ProjectRecords {
    pub fn new(spec: &ProjectSpec) -> ProjectRecords {
        let services = spec.services.len();
        ProjectRecords(Arc::new(Shared {
            layout: std::sync::RwLock::new(Arc::new(Layout::of(spec))),
            inner: Mutex::new(Inner {
                restarts: vec![VecDeque::new(); services],
                probes: vec![VecDeque::new(); services],
                runs: vec![VecDeque::new(); services],
                last_probe_failure: vec![None; services],
                counted: HashMap::new(),
                restarts_at_spawn: vec![0; services],
                startup: vec![Startup::default(); services],
                events: VecDeque::new(),
            }),
        }))
    }

    /// The services of `spec` from now on (`wrangle apply`: ids kept, added ones after the
    /// others); what was recorded of each service stays with its id.
    pub fn spec_changed(&self, spec: &ProjectSpec) {
        let layout = Arc::new(Layout::of(spec));
        let services = layout.names.len();
        {
            let mut inner = self.lock();
            inner.restarts.resize(services, VecDeque::new());
            inner.probes.resize(services, VecDeque::new());
            inner.runs.resize(services, VecDeque::new());
            inner.last_probe_failure.resize(services, None);
            inner.restarts_at_spawn.resize(services, 0);
            inner.startup.resize(services, Startup::default());
        }
        *self
            .0
            .layout
            .write()
            .unwrap_or_else(PoisonError::into_inner) = layout;
    }

    fn layout(&self) -> Arc<Layout> {
        Arc::clone(&self.0.layout.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records an event (before it is published: see `api::routes::events`).
    pub fn event(&self, event: &wire::Event) {
        push_bounded(&mut self.lock().events, event.clone(), EVENTS_KEPT);
    }

    /// A probe attempt ended.
    pub fn probe(&self, instance: InstanceId, at: SystemTime, latency: Duration, passed: bool) {
        let attempt = ProbeAttempt {
            instance: instance.number,
            time_ms: millis_since_epoch(at),
            passed,
            latency_seconds: latency.as_secs_f64(),
        };
        if let Some(series) = self.lock().probes.get_mut(instance.service) {
            push_bounded(series, attempt, PROBES_KEPT);
        }
    }

    /// Why the latest probe attempt failed.
    pub fn probe_failure(&self, instance: InstanceId, failure: &str) {
        if let Some(slot) = self.lock().last_probe_failure.get_mut(instance.service) {
            *slot = Some(failure.to_string());
        }
    }

    /// A new status (one entry per instance): each restart counted since the last one becomes
    /// a record.
    pub fn statuses(&self, at: SystemTime, statuses: &[ServiceStatus]) {
        let layout = self.layout();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut counted = HashMap::with_capacity(statuses.len());
        for status in statuses {
            let Some(service) = layout.current_id(&status.name) else {
                continue;
            };
            let instance = InstanceId::new(service, status.instance);
            let before = inner.counted.remove(&instance).unwrap_or_default();
            let records = &mut inner.restarts[service];
            for (cause, &count) in &status.restarts_by_cause {
                let seen = before.get(cause).copied().unwrap_or(0);
                for _ in seen..count {
                    let record = RestartRecord {
                        instance: status.instance,
                        time: human::time(at),
                        cause: cause.clone(),
                        reason: status.last_restart_reason.clone(),
                        last_exit: status.last_exit.clone().filter(|_| cause == "crash"),
                    };
                    push_bounded(records, record, RESTARTS_KEPT);
                }
            }
            counted.insert(instance, status.restarts_by_cause.clone());
        }
        // Retired instances are forgotten: a new one of the same number counts from its own 0.
        inner.counted = counted;
    }

    /// A tree of `instance` was spawned `at`: a run, for a service with a schedule.
    pub fn run_started(&self, instance: InstanceId, at: SystemTime) {
        if !self
            .layout()
            .scheduled
            .get(instance.service)
            .copied()
            .unwrap_or(false)
        {
            return;
        }
        let record = RunRecord {
            instance: instance.number,
            started_at: human::time(at),
            ended_at: None,
            exit: None,
            stopped: false,
        };
        if let Some(runs) = self.lock().runs.get_mut(instance.service) {
            push_bounded(runs, record, RUNS_KEPT);
        }
    }

    /// The running tree of `instance` ended `at` (`stopped`: it was stopped), with `exit`.
    pub fn run_ended(
        &self,
        instance: InstanceId,
        at: SystemTime,
        exit: Option<ExitInfo>,
        stopped: bool,
    ) {
        let mut inner = self.lock();
        let Some(runs) = inner.runs.get_mut(instance.service) else {
            return;
        };
        if let Some(run) = runs
            .iter_mut()
            .rev()
            .find(|run| run.instance == instance.number)
            .filter(|run| run.ended_at.is_none())
        {
            run.ended_at = Some(human::time(at));
            run.exit = exit;
            run.stopped = stopped;
        }
    }

    /// An instance was spawned; `restarts` is its restart count at that moment.
    pub fn spawned(&self, instance: InstanceId, at: SystemTime, restarts: u32) {
        if instance.number != 0 {
            return;
        }
        let service = instance.service;
        let mut inner = self.lock();
        let Some(seen) = inner.restarts_at_spawn.get_mut(service) else {
            return;
        };
        let restart = restarts > *seen;
        *seen = restarts;
        let startup = &mut inner.startup[service];
        if restart {
            startup.current = false;
            return;
        }
        *startup = Startup {
            spawned: Some(at),
            current: true,
            ..Startup::default()
        };
    }

    /// The current instance became ready, as the daemon learnt `at` (the same clock as
    /// [`spawned`](Self::spawned), and in the order the events came: a dependency's readiness
    /// is never recorded after the spawn it allowed).
    pub fn ready(&self, instance: InstanceId, at: SystemTime) {
        if instance.number != 0 {
            return;
        }
        if let Some(startup) = self.lock().startup.get_mut(instance.service)
            && startup.current
            && startup.ready.is_none()
        {
            startup.ready = Some(at);
        }
    }

    /// The current instance exited on its own, successfully.
    pub fn completed(&self, instance: InstanceId, at: SystemTime) {
        if instance.number != 0 {
            return;
        }
        if let Some(startup) = self.lock().startup.get_mut(instance.service)
            && startup.current
        {
            startup.completed = Some(at);
            startup.current = false;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing that holds the lock panics midway; a poisoned record is still consistent.
        self.0.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wire_dependencies(layout: &Layout, service: ServiceId) -> Vec<wire::Dependency> {
        layout.dependencies[service]
            .iter()
            .map(|&(dependency, condition, restart)| wire::Dependency {
                service: layout.names[dependency].clone(),
                condition: condition.as_str().to_string(),
                restart,
            })
            .collect()
    }
}

impl Records for ProjectRecords {
    fn events(&self, services: &[String], n: usize) -> Vec<wire::Event> {
        let inner = self.lock();
        let mut selected: Vec<wire::Event> = inner
            .events
            .iter()
            .rev()
            .filter(|event| {
                services.is_empty()
                    || event
                        .service
                        .as_ref()
                        .is_none_or(|service| services.contains(service))
            })
            .take(n)
            .cloned()
            .collect();
        selected.reverse();
        selected
    }

    fn service(&self, name: &str) -> Option<wire::ServiceDetails> {
        let layout = self.layout();
        let service = layout.current_id(name)?;
        let inner = self.lock();
        Some(wire::ServiceDetails {
            name: name.to_string(),
            config: layout.configs[service].clone(),
            restarts: inner.restarts[service].iter().cloned().collect(),
            probes: inner.probes[service].iter().copied().collect(),
            last_probe_failure: inner.last_probe_failure[service].clone(),
            runs: inner.runs[service].iter().cloned().collect(),
        })
    }

    fn graph(&self) -> wire::ProjectGraph {
        let layout = self.layout();
        let startup = self.lock().startup.clone();
        let origin = startup.iter().filter_map(|times| times.spawned).min();
        let offset = |time: Option<SystemTime>| {
            let origin = origin?;
            Some(
                time?
                    .duration_since(origin)
                    .unwrap_or_default()
                    .as_secs_f64(),
            )
        };
        let path = critical_path(&layout.dependencies, &startup);
        let total = path.last().and_then(|&last| offset(finish(&startup[last])));
        wire::ProjectGraph {
            services: (0..layout.names.len())
                .filter(|&service| layout.current[service])
                .map(|service| {
                    let times = &startup[service];
                    wire::GraphNode {
                        name: layout.names[service].clone(),
                        depends_on: Self::wire_dependencies(&layout, service),
                        layer: layout.layers[service],
                        started_seconds: offset(times.spawned),
                        ready_seconds: offset(times.ready),
                        completed_seconds: offset(times.completed),
                        startup_seconds: match (times.spawned, times.ready) {
                            (Some(spawned), Some(ready)) => Some(
                                ready
                                    .duration_since(spawned)
                                    .unwrap_or_default()
                                    .as_secs_f64(),
                            ),
                            _ => None,
                        },
                    }
                })
                .collect(),
            critical_path: path
                .iter()
                .map(|&service| layout.names[service].clone())
                .collect(),
            total_seconds: total,
        }
    }
}

/// When a service's start-up step ended: ready, or completed for a one-shot task.
fn finish(times: &Startup) -> Option<SystemTime> {
    times.completed.max(times.ready).or(times.spawned)
}

/// When `dependency` met `condition` in the latest start-up.
fn gate(times: &Startup, condition: DependencyCondition) -> Option<SystemTime> {
    match condition {
        DependencyCondition::Started => times.spawned,
        DependencyCondition::Ready => times.ready.or(times.spawned),
        DependencyCondition::Completed => times.completed,
    }
}

/// The chain that decided how long the start-up took: from the service that finished last,
/// back through the dependency each one waited for longest (the one whose condition was met
/// last before it was spawned), to a service that waited for nothing.
pub fn critical_path(
    dependencies: &[Vec<(ServiceId, DependencyCondition, bool)>],
    startup: &[Startup],
) -> Vec<ServiceId> {
    let Some(mut current) = (0..startup.len())
        .filter(|&service| finish(&startup[service]).is_some())
        .max_by_key(|&service| finish(&startup[service]))
    else {
        return Vec::new();
    };
    let mut path = vec![current];
    // A DAG: each step goes to a dependency, so at most one step per service.
    for _ in 0..startup.len() {
        let Some(spawned) = startup[current].spawned else {
            break;
        };
        let waited_for = dependencies[current]
            .iter()
            .filter_map(|&(dependency, condition, _)| {
                let met = gate(&startup[dependency], condition)?;
                (met <= spawned).then_some((met, dependency))
            })
            .max();
        match waited_for {
            Some((_, dependency)) if !path.contains(&dependency) => {
                path.push(dependency);
                current = dependency;
            }
            _ => break,
        }
    }
    path.reverse();
    path
}

/// Each service's layer: 0 without dependencies, else one more than its deepest dependency.
fn layers(dependencies: &[Vec<(ServiceId, DependencyCondition, bool)>]) -> Vec<u32> {
    let mut layers = vec![0u32; dependencies.len()];
    // The graph is acyclic (config refuses cycles): n rounds reach a fixed point.
    for _ in 0..dependencies.len() {
        let mut changed = false;
        for (service, edges) in dependencies.iter().enumerate() {
            let layer = edges
                .iter()
                .map(|&(dependency, _, _)| layers.get(dependency).map_or(0, |layer| layer + 1))
                .max()
                .unwrap_or(0);
            if layer != layers[service] {
                layers[service] = layer;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layers
}

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

fn push_bounded<T>(ring: &mut VecDeque<T>, item: T, capacity: usize) {
    while ring.len() >= capacity {
        ring.pop_front();
    }
    ring.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::wire::ExitInfo;

    fn exit_code(code: i32) -> ExitInfo {
        ExitInfo {
            code: Some(code),
            signal: None,
        }
    }

    use DependencyCondition::{Completed, Ready, Started};

    fn at(ms: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
    }

    fn times(spawned: u64, ready: Option<u64>, completed: Option<u64>) -> Startup {
        Startup {
            spawned: at(spawned),
            ready: ready.and_then(at),
            completed: completed.and_then(at),
            current: true,
        }
    }

    #[test]
    fn the_critical_path_follows_what_each_service_waited_for_longest() {
        // db (0 → ready 800), cache (0 → ready 100), migrate (needs db ready; 800 → done 1500),
        // api (needs db ready, migrate completed, cache ready; 1500 → ready 1900),
        // web (needs api started; 1500 → ready 1600), worker (needs cache; 100 → 150).
        let dependencies = vec![
            vec![],
            vec![],
            vec![(0, Ready, false)],
            vec![(0, Ready, false), (2, Completed, false), (1, Ready, false)],
            vec![(3, Started, false)],
            vec![(1, Ready, false)],
        ];
        let startup = vec![
            times(0, Some(800), None),
            times(0, Some(100), None),
            times(800, Some(800), Some(1500)),
            times(1500, Some(1900), None),
            times(1500, Some(1600), None),
            times(100, Some(150), None),
        ];
        assert_eq!(critical_path(&dependencies, &startup), vec![0, 2, 3]);
        assert_eq!(layers(&dependencies), vec![0, 0, 1, 2, 3, 1]);
    }

    #[test]
    fn nothing_started_means_no_path() {
        let dependencies = vec![vec![], vec![(0, Ready, false)]];
        assert!(critical_path(&dependencies, &[Startup::default(); 2]).is_empty());
        // Only the dependency ran: the path is that one service.
        let startup = [times(0, Some(10), None), Startup::default()];
        assert_eq!(critical_path(&dependencies, &startup), vec![0]);
    }

    fn spec(toml: &str) -> (tempfile::TempDir, ProjectSpec) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wrangle.toml");
        std::fs::write(&path, toml).expect("write");
        let me = crate::config::Trust::new(
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let spec = crate::config::load(&path, crate::config::Origin::Discovered, &me)
            .expect("valid config")
            .spec;
        (dir, spec)
    }

    #[test]
    fn restarts_are_recorded_once_each_with_their_cause() {
        let (_dir, spec) = spec("[services.a]\ncommand = \"true\"\n");
        let records = ProjectRecords::new(&spec);
        let mut status = crate::api::wire::ServiceStatus {
            name: "a".into(),
            instance: 0,
            instances: 1,
            reloading: false,
            state: wire::ServiceState::Running,
            pid: Some(1),
            started_at: None,
            restarts: 0,
            last_exit: None,
            ports: vec![],
            sockets: vec![],
            readiness: None,
            reason: None,
            log_lines_dropped: 0,
            log_error: None,
            log_bytes: 0,
            resources: None,
            restarts_by_cause: BTreeMap::new(),
            last_restart_reason: None,
            startup_seconds: None,
            probe: None,
            warnings: vec![],
            next_run: None,
        };
        let now = SystemTime::now();
        records.statuses(now, std::slice::from_ref(&status));
        status.restarts_by_cause.insert("crash".into(), 2);
        status.last_exit = Some(exit_code(3));
        records.statuses(now, std::slice::from_ref(&status));
        records.statuses(now, std::slice::from_ref(&status));
        status.restarts_by_cause.insert("manual".into(), 1);
        status.last_restart_reason = Some("asked".into());
        records.statuses(now, std::slice::from_ref(&status));
        let details = records.service("a").expect("known");
        let causes: Vec<&str> = details.restarts.iter().map(|r| r.cause.as_str()).collect();
        assert_eq!(causes, ["crash", "crash", "manual"]);
        assert_eq!(details.restarts[0].last_exit, Some(exit_code(3)));
        assert_eq!(details.restarts[2].last_exit, None);
        assert_eq!(details.restarts[2].reason.as_deref(), Some("asked"));
        assert!(records.service("b").is_none());
    }

    #[test]
    fn records_are_bounded_and_events_filtered_by_service() {
        let (_dir, spec) =
            spec("[services.a]\ncommand = \"true\"\n\n[services.b]\ncommand = \"true\"\n");
        let records = ProjectRecords::new(&spec);
        for index in 0..(EVENTS_KEPT + 10) {
            records.event(&wire::Event {
                time: format!("{index}"),
                kind: "started".into(),
                service: Some(if index % 2 == 0 { "a" } else { "b" }.into()),
                instance: None,
                message: String::new(),
                pid: None,
            });
            records.probe(
                InstanceId::new(0, 0),
                SystemTime::now(),
                Duration::from_millis(3),
                index % 3 == 0,
            );
        }
        records.event(&wire::Event {
            time: "project".into(),
            kind: "all_ready".into(),
            service: None,
            instance: None,
            message: String::new(),
            pid: None,
        });
        assert_eq!(records.lock().events.len(), EVENTS_KEPT);
        let a = records.events(&["a".to_string()], 3);
        let times: Vec<&str> = a.iter().map(|event| event.time.as_str()).collect();
        let last_a = EVENTS_KEPT + 10 - 2;
        assert_eq!(
            times,
            [
                format!("{}", last_a - 2),
                format!("{last_a}"),
                "project".to_string()
            ]
        );
        assert_eq!(records.events(&[], 1)[0].time, "project");
        assert_eq!(records.service("a").expect("a").probes.len(), PROBES_KEPT);
    }

    #[test]
    fn a_restart_is_not_a_start_up_but_a_start_after_a_stop_is() {
        let (_dir, spec) = spec(
            "[services.db]\ncommand = \"true\"\n\n[services.api]\ncommand = \"true\"\ndepends_on = [\"db\"]\n",
        );
        let records = ProjectRecords::new(&spec);
        let t = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms);
        records.spawned(InstanceId::new(0, 0), t(0), 0);
        records.ready(InstanceId::new(0, 0), t(300));
        records.spawned(InstanceId::new(1, 0), t(300), 0);
        records.ready(InstanceId::new(1, 0), t(500));
        let graph = records.graph();
        assert_eq!(graph.critical_path, ["db", "api"]);
        assert_eq!(graph.total_seconds, Some(0.5));
        assert_eq!(graph.services[1].started_seconds, Some(0.3));
        assert_eq!(graph.services[1].startup_seconds, Some(0.2));
        assert_eq!(graph.services[1].layer, 1);
        assert_eq!(graph.services[1].depends_on[0].condition, "ready");

        // A crash restart of api: its start-up times stay.
        records.spawned(InstanceId::new(1, 0), t(9_000), 1);
        records.ready(InstanceId::new(1, 0), t(9_050));
        assert_eq!(records.graph().services[1].startup_seconds, Some(0.2));
        // A start after a stop (the restart count did not move): a new start-up.
        records.spawned(InstanceId::new(1, 0), t(20_000), 1);
        records.ready(InstanceId::new(1, 0), t(20_070));
        let later = records.graph();
        assert!((later.services[1].startup_seconds.expect("timed") - 0.07).abs() < 1e-9);
    }
}
