//! The `Observer` of a run that answers: what each event, state change, probe attempt and
//! resource sample becomes for the output (a terminal, `up -d`, then `daemon.log`), the API's
//! status and events, the dashboard's records, a companion, and the state file recovery reads.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::Notice;
use crate::api::LazyBroadcast;
use crate::api::wire::{self, ProjectStatus};
use crate::daemon::companion::Accompanied;
use crate::daemon::own_log::DaemonLog;
use crate::daemon::records::ProjectRecords;
use crate::daemon::resources::ResourceStore;
use crate::daemon::status::{LiveFigures, exit_info, millis, service_status, wire_usage};
use crate::human;
use crate::launch::DETACHED_MARKER;
use crate::launch::state::{self, DaemonRecord, ServiceRecord, StateWriter};
use crate::logs::LogStore;
use crate::output::{Reporter, reporter};
use crate::spec::{ApplyChange, MonitorSpec, ProjectSpec, ServiceId};
use crate::stream::Stream;
use crate::supervisor::event::{Event, Exit, InstanceId};
use crate::supervisor::monitor::{Figures, ResourceReport};
use crate::supervisor::runtime::{InstanceSnapshot, Observer, RunOutcome};
use crate::sys::sentinel::ParentLink;

/// A leader as the state file records it. Its start time and process group never change while
/// it lives (its pid cannot be reused while it is unreaped), so they are read once per instance
/// (known by pid and spawn time: a later instance could, in theory, get the same pid).
#[derive(Debug, Clone, Copy)]
pub(super) struct KnownLeader {
    pid: i32,
    spawned: Option<SystemTime>,
    start_time: u64,
    pgid: i32,
}

/// The front-end of a run that answers: the output (a daemon's while the CLI is attached, then
/// `daemon.log`; a foreground run's on its terminal throughout); events and state for the API.
pub(super) struct DaemonObserver {
    /// Told `READY=1` at detach and `STOPPING=1` at shutdown (`NOTIFY_SOCKET`), when set.
    pub(super) service_manager: Option<crate::daemon::sd_notify::ServiceManager>,
    /// The spec the run follows; `apply` replaces it ([`Observer::spec_changed`]).
    pub(super) spec: RefCell<Arc<ProjectSpec>>,
    pub(super) reporter: Reporter,
    /// The output is read: a foreground run's terminal, or the CLI that started the daemon.
    pub(super) attached: Cell<bool>,
    /// A foreground run: its terminal reads the output until the end (never detaches).
    pub(super) stays_attached: bool,
    pub(super) daemon_log_path: PathBuf,
    /// Where the output goes once detached: `daemon.log`, rotated as it grows.
    pub(super) daemon_log: DaemonLog,
    /// The link to the sentinel above the daemon.
    pub(super) link: Option<Rc<ParentLink>>,
    pub(super) events: Arc<LazyBroadcast<wire::Event>>,
    pub(super) status: watch::Sender<Arc<ProjectStatus>>,
    pub(super) store: Arc<LogStore>,
    /// The daemon's state file (a foreground run keeps none).
    pub(super) state: Option<StateWriter>,
    /// A foreground run's companion (`wrangle test`), and what it is handed.
    pub(super) companion: Option<Accompanied>,
    /// `notice` as a shareable function, for the companion (set once the observer exists).
    pub(super) notices: RefCell<Option<Notice>>,
    /// The run's identity; `services` is refreshed when a leader appears.
    pub(super) record: DaemonRecord,
    /// Per instance, the identity of its current tree's leader, read once.
    pub(super) leaders: RefCell<HashMap<InstanceId, KnownLeader>>,
    /// The leaders of the last record sent to the state file.
    pub(super) written: RefCell<Vec<ServiceRecord>>,
    /// Figures that are not part of the supervisor's state snapshots.
    pub(super) live: RefCell<LiveFigures>,
    pub(super) resources: ResourceStore,
    pub(super) records: ProjectRecords,
}

impl DaemonObserver {
    pub(super) fn spec(&self) -> Arc<ProjectSpec> {
        Arc::clone(&self.spec.borrow())
    }

    fn record_probe_attempt(&self, instance: InstanceId, latency: Duration, passed: bool) {
        let (stats, position) = {
            let mut live = self.live.borrow_mut();
            let position = live.order.iter().position(|id| *id == instance);
            let stats = live.probes.entry(instance).or_default();
            if passed {
                stats.successes += 1;
            } else {
                stats.failures += 1;
            }
            stats.last_latency_seconds = Some(latency.as_secs_f64());
            (*stats, position)
        };
        self.status.send_modify(|status| {
            let mut updated = (**status).clone();
            if let Some(entry) = position.and_then(|at| updated.services.get_mut(at)) {
                entry.probe = Some(stats);
            }
            *status = Arc::new(updated);
        });
    }

    fn set_readiness_lost(&self, instance: InstanceId, lost: bool) {
        let changed = {
            let mut live = self.live.borrow_mut();
            match lost {
                true => live.readiness_lost.insert(instance),
                false => live.readiness_lost.remove(&instance),
            }
        };
        if changed {
            let live = self.live.borrow();
            self.status.send_modify(|status| {
                let mut updated = (**status).clone();
                live.apply(&mut updated);
                *status = Arc::new(updated);
            });
        }
    }

    /// The next scheduled time of `service` in the status, from now.
    fn refresh_next_run(&self, service: ServiceId) {
        let spec = self.spec();
        let Some(declared) = spec.services.get(service) else {
            return;
        };
        let Some(schedule) = &declared.schedule else {
            return;
        };
        let next = schedule.next_local(SystemTime::now()).map(human::time);
        self.status.send_modify(|status| {
            let mut updated = (**status).clone();
            for entry in &mut updated.services {
                if entry.name == declared.name && entry.next_run.is_some() {
                    entry.next_run = next.clone();
                }
            }
            *status = Arc::new(updated);
        });
    }

    /// Writes the state file when `instances` name a leader the last record did not.
    fn record_leaders(&self, state: &StateWriter, instances: &[InstanceSnapshot]) {
        let services_record: Vec<ServiceRecord> = {
            let mut leaders = self.leaders.borrow_mut();
            leaders.retain(|id, _| instances.iter().any(|snapshot| snapshot.view.id == *id));
            instances
                .iter()
                .filter_map(|snapshot| {
                    let id = snapshot.view.id;
                    let pid = snapshot.pid?;
                    let known = leaders.get(&id).copied().filter(|leader| {
                        leader.pid == pid && leader.spawned == snapshot.started_at
                    });
                    // Read once per instance (see `KnownLeader`), not at every state change of
                    // any service.
                    let leader = match known {
                        Some(leader) => leader,
                        None => {
                            let info = crate::sys::process_table::process(pid)?;
                            let leader = KnownLeader {
                                pid,
                                spawned: snapshot.started_at,
                                start_time: info.start_time,
                                pgid: info.pgid,
                            };
                            leaders.insert(id, leader);
                            leader
                        }
                    };
                    let (start_time, pgid) = (leader.start_time, leader.pgid);
                    Some(ServiceRecord {
                        name: id.label(&self.spec()),
                        service: self.spec().services[id.service].name.clone(),
                        instance: id.number,
                        generation: snapshot.view.generation,
                        ready: snapshot.view.ready,
                        pid,
                        start_time,
                        pgid,
                        restarts: snapshot.view.restarts,
                        ports: self.spec().services[id.service].ports.clone(),
                    })
                })
                .collect()
        };
        // A record is only written when it names a leader the last written one does not. A
        // change that only drops leaders (they exited, or the run is stopping) leaves the older
        // record on disk, which is still a correct input for recovery if this daemon is killed
        // now: recovery trusts a recorded leader only if pid, start time and process group all
        // match a live process, so a leader that is gone is simply not found, while every leader
        // that lives is in it. (That is also why a stop of 50 services writes nothing until
        // `finish` removes the file.)
        let new_leader = state::names_new_leader(&self.written.borrow(), &services_record);
        if new_leader {
            self.written.replace(services_record.clone());
            state.record(DaemonRecord {
                services: services_record,
                ..self.record.clone()
            });
        }
    }

    /// Start-up is over and everything is up: tell the CLI, then write to `daemon.log` instead.
    fn detach(&self) {
        if self.stays_attached || !self.attached.replace(false) {
            return;
        }
        // The sentinel lets go of its ends of the pipes to `up -d` too, so `up -d` sees their end.
        if let Some(link) = &self.link {
            let _ = link.detached();
        }
        // Before `up -d` may exit: the unit's main process becomes the sentinel (which
        // outlives a daemon that dies) before its first one is gone.
        if let (Some(manager), Some(link)) = (&self.service_manager, &self.link) {
            let count = self.spec().services.len();
            if let Err(error) = manager.ready(
                link.sentinel_pid() as u32,
                &format!("{count} service(s) up"),
            ) {
                self.reporter
                    .notice(&format!("cannot tell the service manager: {error}"));
            }
        }
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "{DETACHED_MARKER}{}", std::process::id());
        let _ = stdout.flush();
        self.daemon_log.attach(
            &self.daemon_log_path,
            self.spec().logs.max_file_bytes,
            self.spec().logs.keep_files,
        );
        // Start-up is over: the code that only it ran (reading the config, the command line,
        // the first spawns) need not stay resident; what the run uses from now on is mapped
        // back on first use (see `sys::memory`).
        crate::sys::memory::release_file_pages();
    }

    /// Records an event, then sends it to its followers (in that order: see
    /// `api::routes::events`).
    pub(super) fn publish(&self, event: wire::Event) {
        self.records.event(&event);
        let _ = self.events.send(event);
    }

    /// The run is over: say how it ended, to the log and to event followers (`down`).
    pub(super) fn finished(&self, outcome: &RunOutcome) {
        self.reporter.summary(outcome);
        let message = if outcome.leftovers.is_empty() {
            let mut text = "every process is stopped".to_string();
            if !outcome.ports_checked.is_empty() && outcome.ports_in_use.is_empty() {
                let ports: Vec<String> = outcome.ports_checked.iter().map(u16::to_string).collect();
                text.push_str(&format!("; ports {} free", ports.join(", ")));
            }
            text
        } else {
            format!(
                "{} process(es) could not be stopped",
                outcome.leftovers.len()
            )
        };
        self.publish(wire::Event {
            time: human::time(SystemTime::now()),
            kind: "shutdown_complete".to_string(),
            service: None,
            instance: None,
            message,
            pid: None,
        });
    }
}

impl Observer for DaemonObserver {
    fn event(&self, event: &Event) {
        self.reporter.event(event);
        let (service, message) = match reporter::describe(&self.spec(), event) {
            Some((service, _, text)) => (service, text),
            None => (event.service(), reporter::kind(event).to_string()),
        };
        let pid = match event {
            Event::Started { pid, .. } => Some(*pid),
            _ => None,
        };
        // On record before it is published: a page that reads the records when the event
        // comes (the graph's start-up timings) finds them there.
        match event {
            Event::Ready { instance, elapsed } => {
                self.live
                    .borrow_mut()
                    .startup_seconds
                    .insert(*instance, elapsed.as_secs_f64());
                self.records.ready(*instance, SystemTime::now());
            }
            Event::Started {
                instance, restart, ..
            } => {
                self.records.spawned(*instance, SystemTime::now(), *restart);
                self.records.run_started(*instance, SystemTime::now());
                self.set_readiness_lost(*instance, false)
            }
            Event::Exited {
                instance, status, ..
            } => {
                let now = SystemTime::now();
                let exit = Some(*status)
                    .filter(|status| *status != Exit::Unknown)
                    .map(exit_info);
                self.records.run_ended(*instance, now, exit, false);
                if status.success() {
                    self.records.completed(*instance, now);
                }
            }
            Event::Stopped { instance, status } => {
                let exit = status
                    .filter(|status| *status != Exit::Unknown)
                    .map(exit_info);
                self.records
                    .run_ended(*instance, SystemTime::now(), exit, true);
            }
            Event::ReadinessRestored { instance } => self.set_readiness_lost(*instance, false),
            Event::ReadinessLost { instance, .. } => self.set_readiness_lost(*instance, true),
            // A skipped time changes no state: the next one is shown all the same.
            Event::ScheduleSkipped { service, .. } => self.refresh_next_run(*service),
            _ => {}
        }
        self.publish(wire::Event {
            time: human::time(SystemTime::now()),
            kind: reporter::kind(event).to_string(),
            service: service.map(|service| self.spec().services[service].name.clone()),
            // Only where `ps` names instances too: a service with several.
            instance: event
                .instance()
                .filter(|instance| instance.label(&self.spec()).contains(':'))
                .map(|instance| instance.number),
            message,
            pid,
        });
        if let Event::AllReady { .. } = event {
            self.detach();
        }
        if let Some(accompanied) = &self.companion {
            accompanied.companion.event(&self.spec(), event);
            match event {
                Event::ShuttingDown { .. } => accompanied.stopping.set(true),
                Event::AllReady { .. } => {
                    let notice = self.notices.borrow().clone();
                    if let Some(notice) = notice {
                        accompanied.start(notice);
                    }
                }
                _ => {}
            }
        }
        if let (Event::ShuttingDown { .. }, Some(manager)) = (event, &self.service_manager)
            && let Err(error) = manager.stopping("stopping every service")
        {
            self.reporter
                .notice(&format!("cannot tell the service manager: {error}"));
        }
    }

    fn probe_attempt(&self, instance: InstanceId, latency: Duration, passed: bool) {
        self.records
            .probe(instance, SystemTime::now(), latency, passed);
        self.record_probe_attempt(instance, latency, passed);
    }

    fn sample_wakeup(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.resources.wakeup())
    }

    fn sample_interval(&self) -> Option<Duration> {
        let base = self.spec().monitor.interval;
        Some(if self.resources.watched() {
            base.min(MonitorSpec::WATCHED_INTERVAL)
        } else {
            base
        })
    }

    fn resources(&self, report: &ResourceReport) {
        let time_ms = report
            .at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, millis);
        let point = |figures: &Figures| wire::ResourcePoint {
            time_ms,
            cpu_percent: figures.rates.cpu_percent_of_core,
            memory_bytes: figures.usage.rss_bytes,
        };
        // The history is per service: the sum of its instances.
        let mut points: Vec<Option<wire::ResourcePoint>> = vec![None; self.spec().services.len()];
        for (instance, figures) in &report.instances {
            let added = point(figures);
            let entry = points[instance.service].get_or_insert(wire::ResourcePoint {
                time_ms,
                cpu_percent: 0.0,
                memory_bytes: 0,
            });
            entry.cpu_percent += added.cpu_percent;
            entry.memory_bytes = entry.memory_bytes.saturating_add(added.memory_bytes);
        }
        self.resources
            .record(report.interval, report.own.as_ref().map(point), &points);
        {
            let mut live = self.live.borrow_mut();
            live.interval_ms = millis(report.interval);
            live.daemon = report.own.as_ref().map(wire_usage);
            live.resources.clear();
            live.warnings.clear();
            for (instance, figures) in &report.instances {
                live.resources.insert(*instance, wire_usage(figures));
                let warnings = [
                    figures.cpu_warning.then_some("cpu"),
                    figures.memory_warning.then_some("memory"),
                ];
                live.warnings.insert(
                    *instance,
                    warnings.into_iter().flatten().map(str::to_string).collect(),
                );
            }
        }
        let live = self.live.borrow();
        self.status.send_modify(|status| {
            let mut updated = (**status).clone();
            live.apply(&mut updated);
            // Log figures move without state changes (a chatty service that runs for days): each
            // sample refreshes them too, for `ps` and the metrics' log counters.
            for (entry, id) in updated.services.iter_mut().zip(&live.order) {
                let log = self.store.stats(id.service);
                entry.log_bytes = log.bytes_written;
                entry.log_lines_dropped = log.lines_dropped;
            }
            *status = Arc::new(updated);
        });
    }

    fn output(&self, instance: InstanceId, stream: Stream, line: &[u8], partial: bool) {
        if self.attached.get() {
            self.reporter.output(instance, stream, line, partial);
        }
    }

    /// Lines are shown while the CLI that started the daemon is attached; afterwards they only
    /// go to the log files, which `logs -f` clients follow.
    fn wants_output(&self, _service: ServiceId) -> bool {
        self.attached.get()
    }

    fn probe_failed(&self, instance: InstanceId, failure: &str) {
        self.records.probe_failure(instance, failure);
        self.reporter.probe_failed(instance, failure);
    }

    fn notice(&self, text: &str) {
        self.reporter.notice(text);
    }

    fn spec_changed(&self, spec: &Arc<ProjectSpec>, changes: &[ApplyChange]) {
        let old = self.spec();
        let added: Vec<String> = spec.services[old.services.len().min(spec.services.len())..]
            .iter()
            .map(|service| service.name.clone())
            .collect();
        if let Err(error) = self.store.add_services(&added) {
            // Their output is then not kept (the store ignores unknown services); say so.
            self.reporter.notice(&format!(
                "the log files cannot take the added services: {error}"
            ));
        }
        self.reporter.spec_changed(spec);
        self.resources.spec_changed(spec);
        self.records.spec_changed(spec);
        self.spec.replace(Arc::clone(spec));
        let interval_ms = u64::try_from(spec.monitor.interval.as_millis()).unwrap_or(u64::MAX);
        self.status.send_modify(|status| {
            if status.sample_interval_ms != interval_ms {
                let mut updated = (**status).clone();
                updated.sample_interval_ms = interval_ms;
                *status = Arc::new(updated);
            }
        });
        let message = crate::daemon::apply::summary(spec, changes);
        self.reporter.notice(&message);
        self.publish(wire::Event {
            time: human::time(SystemTime::now()),
            kind: "config_applied".to_string(),
            service: None,
            instance: None,
            message,
            pid: None,
        });
    }

    fn state_changed(&self, instances: &[InstanceSnapshot]) {
        let statuses: Vec<wire::ServiceStatus> = instances
            .iter()
            .map(|snapshot| {
                let log = self.store.stats(snapshot.view.id.service);
                service_status(&self.spec(), snapshot, &log)
            })
            .collect();
        if let Some(state) = &self.state {
            self.record_leaders(state, instances);
        }
        self.live.borrow_mut().order = instances.iter().map(|snapshot| snapshot.view.id).collect();
        self.records.statuses(SystemTime::now(), &statuses);
        let live = self.live.borrow();
        self.status.send_modify(|status| {
            let mut updated = (**status).clone();
            updated.services = statuses;
            live.apply(&mut updated);
            *status = Arc::new(updated);
        });
    }
}
