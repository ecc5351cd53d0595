//! One run that answers, from the listeners bound to the last log line flushed: the log store,
//! the control socket, the metrics endpoint and the dashboard are opened, the API is started,
//! the session is started (and told to the sentinel), the observer is built and the run
//! awaited; then everything is closed in an order that lets the last events and lines out.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

use super::Front;
use crate::api::wire::{self, ProjectStatus};
use crate::api::{ApiContext, LazyBroadcast, server};
use crate::daemon::companion::Accompanied;
use crate::daemon::follow::StoreSource;
use crate::daemon::log_health::watch_log_health;
use crate::daemon::observer::DaemonObserver;
use crate::daemon::own_log::DaemonLog;
use crate::daemon::records::ProjectRecords;
use crate::daemon::requests::answer_requests;
use crate::daemon::resources::ResourceStore;
use crate::daemon::status::LiveFigures;
use crate::dashboard::Dashboard;
use crate::exit;
use crate::human;
use crate::launch::Prepared;
use crate::launch::state::{self, DaemonRecord, StateWriter};
use crate::listener::{self, Limits};
use crate::logs::{LogSettings, LogStore};
use crate::output::{Printer, Reporter, Tone, numbered, reporter};
use crate::spec::ProjectSpec;
use crate::supervisor::engine::Lifetime;
use crate::supervisor::runtime::Observer;
use crate::supervisor::session::{Session, SessionOptions};
use crate::sys::sentinel::{LinkSettings, ParentLink};

/// Events kept for slow SSE clients before they lag.
const EVENT_BUFFER: usize = 1024;

pub(super) async fn serve(prepared: &Prepared, front: Front) -> u8 {
    let (link, output, succession, progress, companion) = match front {
        Front::Background {
            link,
            controls,
            succession,
        } => (link, Err(controls), succession, false, None),
        Front::Foreground {
            printer,
            progress,
            companion,
        } => (None, Ok(printer), None, progress, companion),
    };
    let is_foreground = output.is_ok();
    let (succession, takeover_notes) = match succession {
        Some((succession, notes)) => (Some(succession), notes),
        None => (None, Vec::new()),
    };
    let successor = succession.is_some();
    let adopted_count = succession
        .as_ref()
        .map_or(0, |succession| succession.adopted.len());
    let spec = Arc::clone(&prepared.spec);
    // Bound first, before anything exists: a held address refuses the run like a held port.
    // (The daemon's: a foreground run serves no metrics.)
    let metrics_listener = match spec
        .metrics
        .filter(|_| !is_foreground)
        .map(|metrics| crate::metrics::bind(&spec, metrics))
    {
        None => None,
        Some(Ok(listener)) => Some(listener),
        Some(Err(error)) => {
            eprintln!("error: {error}");
            return error.exit_code();
        }
    };
    let dashboard_listener = match spec
        .dashboard
        .map(|dashboard| crate::dashboard::bind(&spec, dashboard))
    {
        None => None,
        Some(Ok(listener)) => Some(listener),
        Some(Err(error)) => {
            eprintln!("error: {error}");
            return error.exit_code();
        }
    };
    let names = service_names(&spec);
    let settings = LogSettings {
        dir: prepared.paths.log_dir.clone(),
        max_file_bytes: spec.logs.max_file_bytes,
        keep_files: spec.logs.keep_files,
        budget_bytes: spec.logs.budget_bytes,
    };
    let store = match LogStore::open(settings, &names) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!("error: cannot open the log directory: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    let listener = match server::bind(&prepared.paths.control_socket) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::SERVICE_FAILED;
        }
    };

    let started_at = SystemTime::now();
    let (status_sender, status) = watch::channel(Arc::new(ProjectStatus {
        project: spec.source.display().to_string(),
        name: project_name(&spec),
        daemon_pid: std::process::id(),
        started_at: human::time(started_at),
        services: Vec::new(),
        daemon_resources: None,
        sample_interval_ms: u64::try_from(spec.monitor.interval.as_millis()).unwrap_or(u64::MAX),
        foreground: is_foreground,
        profiles: spec.profiles.clone(),
    }));
    // Made only while a client follows events or [[notify]] listens (see `LazyBroadcast`).
    let events = Arc::new(LazyBroadcast::new(EVENT_BUFFER));
    let resources = ResourceStore::new(&spec);
    let records = ProjectRecords::new(&spec);
    let (requests, request_receiver) = mpsc::unbounded_channel();
    // SIGHUP applies the config, through the same request as `wrangle apply`.
    let hangup_requests = requests.clone();
    let (hangup, hangups) = mpsc::unbounded_channel();
    let mut context = ApiContext {
        status: status.clone(),
        requests,
        events: Arc::clone(&events),
        logs: Arc::new(StoreSource {
            store: Arc::clone(&store),
        }),
        resources: Arc::new(resources.clone()),
        records: Arc::new(records.clone()),
        dashboard: None,
    };
    let (control_limits, metrics_limits, dashboard_limits) =
        listener_limits(&spec, metrics_listener.is_some());
    // Serves nowhere until `[dashboard] listen` or `wrangle dashboard` asks for it.
    let dashboard = Arc::new(Dashboard::new(
        prepared.paths.dashboard_token.clone(),
        context.clone(),
        dashboard_limits,
    ));
    context.dashboard = Some(dashboard.clone());
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let metrics = metrics_listener.map(|listener| {
        crate::metrics::Endpoint::start(listener, context.status.clone(), metrics_limits)
    });
    let api = tokio::spawn(server::serve(
        listener,
        context,
        control_limits,
        async move {
            let _ = api_stopped.await;
        },
    ));

    let (controls, control_receiver) = mpsc::unbounded_channel();
    tokio::task::spawn_local(answer_requests(
        request_receiver,
        controls.clone(),
        Arc::clone(&spec),
        prepared.origin,
        status.clone(),
    ));

    let daemon_log = DaemonLog::default();
    if successor {
        // Nobody reads a successor's output but the log.
        daemon_log.attach(
            &prepared.paths.daemon_log,
            spec.logs.max_file_bytes,
            spec.logs.keep_files,
        );
    }
    let printer = match output {
        // Never attached to `daemon_log`: a foreground run's output stays on its terminal.
        Ok(printer) => printer,
        Err(output_controls) => Printer::new(
            &names,
            Printer::color_wanted(false, |key| std::env::var(key).ok()),
            false,
            daemon_log.writer(),
        )
        .with_controls(output_controls)
        .numbered(numbered(&spec)),
    };
    let options = SessionOptions {
        // A companion decides when the run is over, even if every service ends before it.
        lifetime: match is_foreground && companion.is_none() {
            true => Lifetime::UntilIdle,
            false => Lifetime::UntilShutdown,
        },
        die_with_wrangle: true,
        parent_sentinel: link.as_deref().map(ParentLink::sentinel_pid),
        socket_dir: prepared.paths.runtime_dir.clone(),
        stop_grace: crate::supervisor::session::stop_grace(&prepared.spec),
        log_store: Some(Arc::clone(&store)),
        sockets: Arc::clone(&prepared.sockets),
        holder: link.clone(),
        successor: succession,
        // A daemon applies the config on SIGHUP; a terminal's hangup ends a foreground run,
        // like Ctrl+C.
        hangup: (!is_foreground).then_some(hangup),
    };
    if let Some(listener) = dashboard_listener {
        match dashboard.serve(listener) {
            Ok((address, replaced)) => {
                if replaced {
                    printer.message(
                        Tone::Warn,
                        "the dashboard's token file was not a private file of ours: replaced by a new token",
                    );
                }
                if let Some(warning) = crate::dashboard::exposure_warning(address) {
                    printer.message(Tone::Warn, &warning);
                }
                printer.message(
                    Tone::Info,
                    &format!(
                        "dashboard on http://{address}/ (`wrangle dashboard` prints a link with the login token)"
                    ),
                );
            }
            Err(error) => {
                eprintln!("error: cannot start the dashboard: {error}");
                return exit::SERVICE_FAILED;
            }
        }
    }
    let reporter = Reporter::new(printer, Arc::clone(&spec), is_foreground);
    let session = match Session::start(options, &reporter, (controls.clone(), control_receiver)) {
        Ok(session) => session,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::SERVICE_FAILED;
        }
    };
    if let Some(link) = &link {
        // Before the first service exists: from here on the sentinel can stop the run alone.
        let told = link.tell(&LinkSettings {
            grace: crate::supervisor::session::stop_grace(&prepared.spec),
            cgroup: session.cgroup_path(),
            log: &prepared.paths.daemon_log,
            report: &state::sentinel_report_path(&prepared.paths.state_file),
        });
        if let Err(error) = told {
            reporter.notice(&format!(
                "cannot tell the sentinel how to stop the run ({error}); if the daemon is killed, it stops it with its defaults"
            ));
        }
        // What a successor needs and could not get back otherwise: the lock (so no other command
        // takes the project while no daemon runs) and the sockets (a successor's are held
        // already).
        let held = if successor {
            Ok(())
        } else {
            link.hold("lock", &[prepared.lock.fd()]).and_then(|()| {
                prepared
                    .sockets
                    .fds()
                    .enumerate()
                    .try_for_each(|(index, fd)| link.hold(&format!("socket {index}"), &[fd]))
            })
        };
        if let Err(error) = held {
            reporter.notice(&format!(
                "the sentinel cannot hold the project lock and sockets ({error}); if the daemon dies, its services are stopped"
            ));
        }
    }
    reporter.notice_if_root(&crate::launch::run_ids(&prepared.spec, &prepared.selected));
    if is_foreground && !spec.notify.is_empty() {
        // Said once, so nobody waits for a notification that a foreground run never sends.
        reporter.notice("[[notify]] entries are not used in the foreground: the daemon sends notifications (wrangle up -d)");
    }
    // A foreground wrangle killed with SIGKILL is covered by the sentinel beside it; only a
    // daemon's run is recorded for recovery (see `launch::state`).
    let state = match is_foreground {
        true => None,
        false => match StateWriter::start(prepared.paths.state_file.clone()) {
            Ok(state) => Some(state),
            Err(error) => {
                eprintln!("error: cannot start recording the daemon's state: {error}");
                return exit::SERVICE_FAILED;
            }
        },
    };
    let own = crate::sys::process_table::process(std::process::id() as i32);
    let sentinel = link
        .as_ref()
        .and_then(|link| crate::sys::process_table::process(link.sentinel_pid()))
        .map(|info| (info.pid, info.start_time));
    // The service manager that started `up -d` (a `Type=notify` unit of `wrangle startup`).
    let service_manager =
        crate::daemon::sd_notify::ServiceManager::from_env().unwrap_or_else(|error| {
            eprintln!("warning: {error}: the service manager is not told when the daemon is ready");
            None
        });
    let observer = Rc::new(DaemonObserver {
        service_manager,
        spec: std::cell::RefCell::new(Arc::clone(&spec)),
        reporter,
        attached: Cell::new(!successor),
        stays_attached: is_foreground,
        daemon_log_path: prepared.paths.daemon_log.clone(),
        daemon_log,
        events: Arc::clone(&events),
        status: status_sender,
        store: Arc::clone(&store),
        state,
        record: DaemonRecord {
            daemon_pid: std::process::id() as i32,
            daemon_start_time: own.map(|info| info.start_time).unwrap_or_default(),
            run_token: session.run_token().to_string(),
            cgroup: session.cgroup_path().map(PathBuf::from),
            sentinel,
            services: Vec::new(),
        },
        link,
        leaders: RefCell::new(HashMap::new()),
        written: RefCell::new(Vec::new()),
        live: RefCell::new(LiveFigures::new(spec.monitor.interval)),
        resources,
        records,
        companion: companion.map(|companion| Accompanied {
            companion,
            reaper: session.reaper(),
            controls: controls.clone(),
            status: status.clone(),
            stopping: Rc::new(Cell::new(false)),
            part: RefCell::new(None),
        }),
        notices: RefCell::new(None),
    });
    // Weak: the observer holds this function, which must not keep the observer alive.
    let notices = Rc::downgrade(&observer);
    observer.notices.replace(Some(Rc::new(move |text: &str| {
        if let Some(observer) = notices.upgrade() {
            observer.notice(text);
        }
    })));
    tokio::task::spawn_local(watch_log_health(Rc::clone(&observer)));
    tokio::task::spawn_local(crate::daemon::apply::apply_on_hangup(
        hangups,
        hangup_requests,
        Rc::clone(&observer),
    ));
    if progress {
        let ticking = Rc::clone(&observer);
        tokio::task::spawn_local(async move {
            let mut interval = tokio::time::interval(reporter::TICK);
            loop {
                interval.tick().await;
                ticking.reporter.tick();
            }
        });
    }
    // Subscribed before the first event; delivery runs beside supervision, never in its way.
    let notices = Rc::clone(&observer);
    let deliveries = Rc::clone(&observer);
    let notifier = match is_foreground {
        true => None,
        false => crate::notify::Notifier::start(
            &spec,
            events.subscribe(),
            session.reaper(),
            Rc::new(move |text: &str| notices.notice(text)),
            Rc::new(move |delivery: &crate::notify::Delivery<'_>| {
                let about = &delivery.event.kind;
                let (kind, message) = match delivery.outcome {
                    Ok(()) => (
                        "notification_sent",
                        format!("{}: sent ({about})", delivery.target),
                    ),
                    Err(reason) => (
                        "notification_failed",
                        format!("{}: not sent ({about}): {reason}", delivery.target),
                    ),
                };
                deliveries.publish(wire::Event {
                    time: human::time(SystemTime::now()),
                    kind: kind.to_string(),
                    service: delivery.event.service.clone(),
                    instance: delivery.event.instance,
                    message,
                    pid: None,
                });
            }),
        ),
    };
    // Recorded before the first service exists, so no process of this run is ever unrecorded.
    // (A successor keeps the record it took over until its own names the adopted leaders.)
    if successor {
        for note in &takeover_notes {
            observer.notice(note);
        }
        observer.notice(&format!(
            "a new daemon (PID {}) took over the run: {adopted_count} instance(s) kept running",
            std::process::id()
        ));
        // Taken over: the sentinel counts this daemon as started.
        if let Some(link) = &observer.link {
            let _ = link.detached();
        }
    } else if let Some(state) = &observer.state {
        state.record(observer.record.clone());
    }
    let as_observer: Rc<dyn Observer> = observer.clone();
    let outcome = session
        .run(spec, prepared.selected.clone(), as_observer)
        .await;
    if let Some(accompanied) = &observer.companion {
        accompanied.finish().await;
    }
    observer.finished(&outcome);
    let code = if outcome.leftovers.is_empty() {
        outcome.code
    } else {
        exit::SERVICE_FAILED
    };
    // Let the last events reach followers (`down` waits for the stream to end), then close: the
    // SSE tasks run on this thread, so they have taken every event once the broadcast queue is
    // empty, and write it in the same turn. Bounded, for a follower that stopped reading.
    let delivered = async {
        while !events.is_empty() {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
    };
    let _ = tokio::time::timeout(Duration::from_millis(2), delivered).await;
    let _ = stop_api.send(());
    let _ = tokio::time::timeout(server::DRAIN_TIMEOUT, api).await;
    if let Some(metrics) = metrics {
        metrics.stop().await;
    }
    dashboard.stop().await;
    remove_own_socket(&prepared.paths.control_socket);
    // The run's last notifications (up to `shutdown_complete`) get a bounded moment to go out.
    if let Some(notifier) = notifier {
        notifier.finish().await;
    }
    // Everything is stopped and verified: nothing is left for a successor to recover. The
    // state thread removes the record while the log files are flushed.
    if let Some(state) = &observer.state {
        state.finish();
    }
    // Every service is gone, so no more lines come: make sure the last ones reach the files.
    if tokio::time::timeout(Duration::from_secs(5), store.flush())
        .await
        .is_err()
    {
        eprintln!("warning: the log files may miss the last lines (the disk did not keep up)");
    }
    if let Some(state) = &observer.state {
        state.finished();
    }
    code
}

fn service_names(spec: &ProjectSpec) -> Vec<String> {
    spec.services
        .iter()
        .map(|service| service.name.clone())
        .collect()
}

/// The limits of the control socket, the metrics endpoint and the dashboard, their connection
/// caps fitted to the descriptor limit so that clients can never take the descriptors
/// supervision needs (warned about when they had to shrink). The dashboard is always counted:
/// `wrangle dashboard` can start it at any time.
fn listener_limits(spec: &ProjectSpec, with_metrics: bool) -> (Limits, Limits, Limits) {
    let mut control = server::LIMITS;
    let mut metrics = crate::metrics::LIMITS;
    let mut dashboard = crate::dashboard::LIMITS;
    let mut fitted = vec![&mut control, &mut dashboard];
    if with_metrics {
        fitted.push(&mut metrics);
    }
    let (soft_limit, _) = crate::sys::nofile::limits();
    let reserve = listener::reserve(spec.services.len());
    if let Some(warning) = listener::fit_to_descriptors(&mut fitted, soft_limit, reserve) {
        eprintln!("warning: {warning}");
    }
    (control, metrics, dashboard)
}

/// The project's name for `ps` and `ls`: its directory's name.
fn project_name(spec: &ProjectSpec) -> String {
    spec.root
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes the control socket on the way out, if it still is ours: a socket at that exact path
/// (never following a link). The project lock is still held, so no other daemon can own it.
fn remove_own_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}
