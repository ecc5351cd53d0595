//! A run that answers: the per-project daemon (`wrangle __daemon`, started by `wrangle up -d`)
//! and the foreground `wrangle up`, both controlled through the same API on the same private
//! socket, so `ps`, `logs`, `start/stop/restart`, `top` and `down` work from another terminal
//! against either.
//!
//! # Theory of operation
//! `up -d` starts the daemon's sentinel (`sys::sentinel`), which starts this process as its only
//! child, with stdout and stderr on pipes to the CLI and a link to the sentinel
//! (`--sentinel-fd`). It prepares the project exactly like a foreground `up` (config, lock,
//! ports, with the same messages and exit codes), binds the control socket, opens the log store,
//! tells the sentinel how to stop the run should the daemon die (grace, cgroup, where to write),
//! and runs a session with [`Lifetime::UntilShutdown`]. While the project starts, the foreground
//! output goes to the CLI; when every service is up the daemon tells the sentinel, prints the
//! detach marker and points its stdout and stderr at `daemon.log`, so the CLI returns. If
//! start-up fails, the daemon stops everything and exits with the start-up's code, which the
//! sentinel and then the CLI pass on.
//!
//! A foreground run ([`foreground`]) is served the same way, with the same routes, peer checks,
//! listener limits and log files (so `logs` reads a foreground run's output exactly as it reads
//! a daemon's): only its front-end differs. Its output stays on the terminal
//! for the whole run, it ends when every service has ended (or on Ctrl+C), and it keeps no
//! state file (its sentinel beside it, not recovery, covers a foreground wrangle killed with
//! SIGKILL); the metrics endpoint and notifications stay the daemon's.
//!
//! This is the only module that wires everything together: the supervisor (through
//! [`Observer`] and control requests), the API (through [`ApiContext`] channels, since the API
//! is `Send` and the supervisor is not), the log store, the notifier (`crate::notify`, one
//! more subscriber of the events, given a bounded moment at exit to send what is queued), the
//! metrics endpoint (`[metrics]`, which reads the API's status snapshots; see [`crate::metrics`]),
//! and the web dashboard (the API again, on TCP behind a token; see [`crate::dashboard`]).
//!
//! # Caveats
//! - If the daemon itself dies after start-up (SIGKILL, a panic), its sentinel starts a successor
//!   (`--adopt`, see [`succession`] and `sys::sentinel`) that takes the running services over;
//!   services have no death signal under a daemon for this reason.
//! - SIGHUP stops everything, like SIGTERM; it does not reload the config.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};

mod config_view;
mod follow;
mod own_log;
pub mod records;
pub mod resources;
mod status;
mod succession;

use crate::api::wire::{self, ApiError, ProjectStatus, Reply, Request};
use crate::api::{ApiContext, LazyBroadcast, RequestEnvelope, server};
use crate::daemon::follow::StoreSource;
use crate::daemon::own_log::DaemonLog;
use crate::daemon::records::ProjectRecords;
use crate::daemon::resources::ResourceStore;
use crate::daemon::status::{LiveFigures, millis, service_status, wire_usage};
use crate::dashboard::Dashboard;
use crate::exit;
use crate::human;
use crate::launch::state::{self, DaemonRecord, ServiceRecord, StateWriter};
use crate::launch::{self, DETACHED_MARKER, LaunchError, Prepared};
use crate::listener::{self, Limits};
use crate::logs::{LogSettings, LogStore};
use crate::output::{Controls, Printer, Reporter, Tone, numbered, reporter};
use crate::spec::{MAX_INSTANCES, MonitorSpec, ProjectSpec, ServiceId};
use crate::stream::Stream;
use crate::supervisor::engine::{Lifetime, ServiceAction};
use crate::supervisor::event::{Event, InstanceId};
use crate::supervisor::monitor::{Figures, ResourceReport};
use crate::supervisor::runtime::{Control, ControlRequest, InstanceSnapshot, Observer, RunOutcome};
use crate::supervisor::session::{Session, SessionOptions, Succession};
use crate::sys::reaper::Reaper;
use crate::sys::sentinel::{LinkSettings, ParentLink};

/// Events kept for slow SSE clients before they lag.
const EVENT_BUFFER: usize = 1024;

/// The body of `wrangle __daemon`: the exit code of the run, or why it could not be launched
/// (which the command line renders, as for a foreground `up`). `controls`: how service output
/// printed during start-up (relayed by `up -d` to its terminal) treats control characters.
/// `sentinel_fd` is the link to the sentinel above it (see `sys::sentinel`).
pub fn run(
    file: Option<PathBuf>,
    profiles: &[String],
    services: &[String],
    clean: bool,
    controls: Controls,
    sentinel_fd: Option<i32>,
    successor: bool,
) -> Result<u8, LaunchError> {
    let link = match sentinel_fd.map(ParentLink::adopt).transpose() {
        Ok(link) => link.map(Rc::new),
        Err(error) => {
            eprintln!("error: cannot use the link to the sentinel: {error}");
            return Ok(exit::SERVICE_FAILED);
        }
    };
    // Clients and supervision share one descriptor table: take all of it (services are given
    // back the limit wrangle was started with; see `sys::nofile`).
    if let Err(error) = crate::sys::nofile::raise_soft_to_hard() {
        eprintln!("warning: cannot raise the descriptor limit to its hard limit: {error}");
    }
    // Printed to `up -d`, which relays them to its terminal (and sets CLICOLOR_FORCE for colour).
    let stderr_color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let mut notice = |text: String| eprintln!("{text}");
    let (prepared, succession) = match (&link, successor) {
        (Some(link), true) => {
            let held = link
                .take_held()
                .map_err(|error| LaunchError::Succession(error.to_string()))?;
            let held = succession::Held::sort(held);
            let lock = held.lock.ok_or_else(|| {
                LaunchError::Succession("the sentinel holds no project lock".to_string())
            })?;
            let prepared = launch::prepare_successor(file, profiles, services, lock, held.sockets)?;
            let record = state::read(&prepared.paths.state_file);
            let (adopted, notes) = match &record {
                Some(record) => succession::adopt(&prepared.spec, record, held.outputs, link),
                None => (
                    Vec::new(),
                    vec!["no record of the run was found".to_string()],
                ),
            };
            let succession = Succession {
                run_token: record
                    .as_ref()
                    .map(|record| record.run_token.clone())
                    .unwrap_or_default(),
                cgroup: record.and_then(|record| record.cgroup),
                adopted,
            };
            (prepared, Some((succession, notes)))
        }
        _ => {
            let prepared = launch::prepare(file, profiles, services, stderr_color, &mut notice)?;
            if clean {
                // Printed to `up -d`, which relays it, as a foreground `up --clean` prints it.
                let cleaned = launch::clean::before_start(&prepared);
                for line in &cleaned.lines {
                    match launch::clean::Cleaned::is_failure(line) {
                        true => eprintln!("{line}"),
                        false => println!("{line}"),
                    }
                }
                if cleaned.exit_code() == exit::SUCCESS {
                    println!("{}", cleaned.summary());
                } else {
                    eprintln!("{}", cleaned.summary());
                    drop(prepared.sockets);
                    drop(prepared.lock);
                    return Ok(cleaned.exit_code());
                }
            }
            (prepared, None)
        }
    };
    let front = Front::Background {
        link,
        controls,
        succession,
    };
    let code = launch::block_on_local(serve(&prepared, front))?;
    // The sockets close (and their files go) while the project is still locked: a run started
    // right after this one never finds them in its way.
    drop(prepared.sockets);
    drop(prepared.lock);
    Ok(code)
}

/// Runs a prepared project in the foreground (`wrangle up`): `printer` shows everything on the
/// terminal for the whole run (with a progress line when `progress`), and the control socket
/// answers the same requests as a daemon's. Ends when every service has ended, on Ctrl+C, or
/// on `wrangle down`; returns the exit code.
pub async fn foreground(prepared: &Prepared, printer: Printer, progress: bool) -> u8 {
    serve(
        prepared,
        Front::Foreground {
            printer,
            progress,
            companion: None,
        },
    )
    .await
}

/// [`foreground`] with a companion (`wrangle test`): it sees every event, and once every
/// service is ready it runs beside supervision; then the run stops (unless something already
/// stops it). The run also ends as a foreground run does (start-up failure, Ctrl+C, `down`).
pub async fn foreground_with(
    prepared: &Prepared,
    printer: Printer,
    progress: bool,
    companion: Rc<dyn Companion>,
) -> u8 {
    serve(
        prepared,
        Front::Foreground {
            printer,
            progress,
            companion: Some(companion),
        },
    )
    .await
}

/// A line on the run's output, as a shareable function.
pub type Notice = Rc<dyn Fn(&str)>;

/// What runs beside a foreground run once it is up (see [`foreground_with`]).
pub trait Companion {
    /// Every event of the run, as it happens.
    fn event(&self, spec: &ProjectSpec, event: &Event);
    /// Every selected service is ready: the companion's part, which runs beside supervision.
    /// `status` is the run's state (as `ps` shows it), `reaper` the run's one reaper (to start
    /// processes through), `notice` a line on the run's output.
    fn all_ready(
        self: Rc<Self>,
        status: watch::Receiver<Arc<ProjectStatus>>,
        reaper: Rc<Reaper>,
        notice: Rc<dyn Fn(&str)>,
    ) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// Who the run's output is for, and what else that decides.
enum Front {
    /// `wrangle __daemon`: start-up is relayed to `up -d` (service output treated by
    /// `controls`), then written to `daemon.log`; runs until shut down; records its state for
    /// recovery; tells the sentinel above it (`link`) how to stop the run. `succession`: the run
    /// a successor takes over, and notes about what it could not adopt.
    Background {
        link: Option<Rc<ParentLink>>,
        controls: Controls,
        succession: Option<(Succession, Vec<String>)>,
    },
    /// `wrangle up`: a terminal reads the output (`printer`) for the whole run (redrawing a
    /// progress line when `progress`); the run ends once every service has ended. With a
    /// `companion` (`wrangle test`), the run ends when the companion is done instead.
    Foreground {
        printer: Printer,
        progress: bool,
        companion: Option<Rc<dyn Companion>>,
    },
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

async fn serve(prepared: &Prepared, front: Front) -> u8 {
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
    let mut context = ApiContext {
        status: status.clone(),
        requests,
        events: Arc::clone(&events),
        logs: Arc::new(StoreSource {
            store: Arc::clone(&store),
            names: names.clone().into(),
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
    reporter.notice_if_root();
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
    let observer = Rc::new(DaemonObserver {
        spec: Arc::clone(&spec),
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

/// After the log store signals trouble, how long the daemon waits for more before reporting:
/// a failing disk drops lines by the thousand, and one report per moment is enough.
const LOG_HEALTH_DEBOUNCE: Duration = Duration::from_millis(500);

/// Reports log-file trouble (a full disk, an unwritable directory) in `ps` and as an event, and
/// its end: output is dropped and counted meanwhile, never allowed to stop supervision.
async fn watch_log_health(observer: Rc<DaemonObserver>) {
    let services = observer.spec.services.len();
    let mut seen: Vec<(u64, bool)> = vec![(0, false); services];
    loop {
        // Event-driven: an idle daemon never wakes up for this.
        observer.store.trouble().await;
        tokio::time::sleep(LOG_HEALTH_DEBOUNCE).await;
        let mut changed = false;
        for (service, seen) in seen.iter_mut().enumerate() {
            let stats = observer.store.stats(service);
            let now = (stats.lines_dropped, stats.failing);
            if now == *seen {
                continue;
            }
            changed = true;
            let name = observer.spec.services[service].name.clone();
            let (kind, message) = match (stats.failing, seen.1) {
                (true, _) => (
                    "log_trouble",
                    format!(
                        "cannot write its log file ({}); {} line(s) dropped so far",
                        stats.last_error.as_deref().unwrap_or("unknown error"),
                        stats.lines_dropped
                    ),
                ),
                (false, true) => (
                    "log_recovered",
                    format!(
                        "its log file is written again; {} line(s) were dropped",
                        stats.lines_dropped
                    ),
                ),
                (false, false) => (
                    "log_trouble",
                    format!(
                        "{} line(s) could not be written to its log file",
                        stats.lines_dropped
                    ),
                ),
            };
            observer.reporter.notice(&format!("{name}: {message}"));
            observer.publish(wire::Event {
                time: human::time(SystemTime::now()),
                kind: kind.to_string(),
                service: Some(name),
                instance: None,
                message,
                pid: None,
            });
            *seen = now;
        }
        if changed {
            observer.status.send_modify(|status| {
                let mut updated = (**status).clone();
                let live = observer.live.borrow();
                for (entry, id) in updated.services.iter_mut().zip(&live.order) {
                    let stats = observer.store.stats(id.service);
                    entry.log_lines_dropped = stats.lines_dropped;
                    entry.log_error = stats.failing.then(|| stats.last_error.clone()).flatten();
                }
                *status = Arc::new(updated);
            });
        }
    }
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

/// Turns API requests into supervisor controls, and answers once they have been applied (so a
/// client that then reads the status sees their effect). `status` says which instances exist,
/// for requests that name one (`web:2`).
async fn answer_requests(
    mut requests: mpsc::UnboundedReceiver<RequestEnvelope>,
    controls: mpsc::UnboundedSender<ControlRequest>,
    spec: Arc<ProjectSpec>,
    origin: launch::Origin,
    status: watch::Receiver<Arc<ProjectStatus>>,
) {
    while let Some((request, reply)) = requests.recv().await {
        let resolved = match request {
            Request::Shutdown => {
                let _ = controls.send(ControlRequest::new(Control::Shutdown));
                let _ = reply.send(Ok(Reply::ShuttingDown));
                continue;
            }
            Request::Apply { dry_run } => {
                let _ = reply.send(apply_plan(&spec, origin, dry_run));
                continue;
            }
            Request::Start { services } => {
                controls_for(&spec, &status.borrow(), &services, ServiceAction::Start)
            }
            Request::Stop { services } => {
                controls_for(&spec, &status.borrow(), &services, ServiceAction::Stop)
            }
            Request::Restart { services } => {
                controls_for(&spec, &status.borrow(), &services, ServiceAction::Restart)
            }
            Request::Reload { services } => service_ids(&spec, &services).map(|ids| {
                ids.into_iter()
                    .map(|service| {
                        (
                            Control::Reload { service },
                            spec.services[service].name.clone(),
                        )
                    })
                    .collect()
            }),
            Request::Scale { service, instances } => scale(&spec, &service, instances),
        };
        let resolved = match resolved {
            Ok(resolved) => resolved,
            Err(error) => {
                let _ = reply.send(Err(error));
                continue;
            }
        };
        let mut applied = Vec::new();
        let mut names = Vec::new();
        for (control, name) in resolved {
            let (done, applied_receiver) = oneshot::channel();
            if controls
                .send(ControlRequest {
                    control,
                    done: Some(done),
                })
                .is_err()
            {
                break;
            }
            applied.push(applied_receiver);
            names.push(name);
        }
        for receiver in applied {
            let _ = receiver.await;
        }
        let _ = reply.send(Ok(Reply::Accepted { services: names }));
    }
}

/// `apply`: the config file read again under the trust rule it was first read with, fully
/// validated, and compared with the running spec. Acting on the plan is not served yet: the
/// running spec is shared by the engine, the runtime, the log store, the status and metrics,
/// which all need to follow a new one at the same turn.
fn apply_plan(
    spec: &ProjectSpec,
    origin: launch::Origin,
    dry_run: bool,
) -> Result<Reply, ApiError> {
    let new = launch::load_again(&spec.source, origin, &spec.profiles)
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let plan = plan_of(crate::spec::diff(spec, &new));
    if !dry_run {
        return Err(ApiError::forbidden(
            "acting on the plan is not available yet: use `wrangle apply --dry-run` to see it, \
             then `wrangle down` and `wrangle up`",
        ));
    }
    Ok(Reply::Plan { plan })
}

/// The plan as the API gives it.
fn plan_of(diff: crate::spec::ProjectDiff) -> wire::ApplyPlan {
    wire::ApplyPlan {
        added: diff.added,
        removed: diff.removed,
        changed: diff
            .changed
            .into_iter()
            .map(|change| wire::ChangedService {
                name: change.name,
                keys: change.keys.iter().map(|key| key.to_string()).collect(),
                env: change
                    .env
                    .into_iter()
                    .map(|env| wire::EnvDifference {
                        name: env.name,
                        before: env.before,
                        after: env.after,
                    })
                    .collect(),
            })
            .collect(),
        settings: diff.settings.iter().map(|key| key.to_string()).collect(),
    }
}

/// The controls of a start, stop or restart of `selectors` (all services when empty): a service
/// by name, or one instance as `NAME:NUMBER`; each with the name the reply gives it back.
fn controls_for(
    spec: &ProjectSpec,
    status: &ProjectStatus,
    selectors: &[String],
    action: ServiceAction,
) -> Result<Vec<(Control, String)>, ApiError> {
    if selectors.is_empty() {
        let all: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
        return controls_for(spec, status, &all, action);
    }
    selectors
        .iter()
        .map(|selector| {
            let Some((name, number)) = selector.split_once(':') else {
                let service = service_id(spec, selector)?;
                return Ok((Control::Service { service, action }, selector.clone()));
            };
            let service = service_id(spec, name)?;
            let number: u32 = number.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "\"{selector}\" is not SERVICE or SERVICE:INSTANCE (an instance is a number)"
                ))
            })?;
            let exists = status
                .services
                .iter()
                .any(|entry| entry.name == name && entry.instance == number);
            if !exists {
                let numbers: Vec<String> = status
                    .services
                    .iter()
                    .filter(|entry| entry.name == name)
                    .map(|entry| format!("{name}:{}", entry.instance))
                    .collect();
                return Err(ApiError::not_found(format!(
                    "no instance {selector} (instances: {})",
                    numbers.join(", ")
                )));
            }
            let instance = InstanceId::new(service, number);
            Ok((Control::Instance { instance, action }, selector.clone()))
        })
        .collect()
}

fn service_id(spec: &ProjectSpec, name: &str) -> Result<ServiceId, ApiError> {
    spec.service_id(name)
        .ok_or_else(|| ApiError::not_found(format!("no service named \"{name}\"")))
}

/// The services named (all of them when none is).
fn service_ids(spec: &ProjectSpec, names: &[String]) -> Result<Vec<ServiceId>, ApiError> {
    if names.is_empty() {
        return Ok((0..spec.services.len()).collect());
    }
    names.iter().map(|name| service_id(spec, name)).collect()
}

fn scale(spec: &ProjectSpec, name: &str, count: u32) -> Result<Vec<(Control, String)>, ApiError> {
    let service = service_id(spec, name)?;
    if !(1..=MAX_INSTANCES).contains(&count) {
        return Err(ApiError::bad_request(format!(
            "a service runs 1 to {MAX_INSTANCES} instances, not {count} (stop it with `wrangle stop {name}`)"
        )));
    }
    Ok(vec![(Control::Scale { service, count }, name.to_string())])
}

/// A leader as the state file records it. Its start time and process group never change while
/// it lives (its pid cannot be reused while it is unreaped), so they are read once per instance
/// (known by pid and spawn time: a later instance could, in theory, get the same pid).
#[derive(Debug, Clone, Copy)]
struct KnownLeader {
    pid: i32,
    spawned: Option<SystemTime>,
    start_time: u64,
    pgid: i32,
}

/// A companion and what it needs from the run (see [`Companion`]).
struct Accompanied {
    companion: Rc<dyn Companion>,
    reaper: Rc<Reaper>,
    controls: mpsc::UnboundedSender<ControlRequest>,
    status: watch::Receiver<Arc<ProjectStatus>>,
    /// The run is stopping already (Ctrl+C, `down`, a failure): a second stop request would
    /// skip the grace period, so the companion's end must not send one.
    stopping: Rc<Cell<bool>>,
    /// The companion's part while it runs.
    part: RefCell<Option<tokio::task::JoinHandle<()>>>,
}

impl Accompanied {
    /// Runs the companion's part beside supervision, then stops the run.
    fn start(&self, notice: Rc<dyn Fn(&str)>) {
        let part = Rc::clone(&self.companion).all_ready(
            self.status.clone(),
            Rc::clone(&self.reaper),
            notice,
        );
        let controls = self.controls.clone();
        let stopping = Rc::clone(&self.stopping);
        let task = tokio::task::spawn_local(async move {
            part.await;
            if !stopping.get() {
                let _ = controls.send(ControlRequest::new(Control::Shutdown));
            }
        });
        self.part.replace(Some(task));
    }

    /// Waits (bounded) for the companion's part to end after the run was stopped by something
    /// else, so what it started is gone before wrangle exits.
    async fn finish(&self) {
        let task = self.part.borrow_mut().take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(COMPANION_GRACE, task).await;
        }
    }
}

/// How long a companion's part may take to end once the run has stopped (it was told to stop
/// when the run began stopping).
const COMPANION_GRACE: Duration = Duration::from_secs(15);

/// The front-end of a run that answers: the output (a daemon's while the CLI is attached, then
/// `daemon.log`; a foreground run's on its terminal throughout); events and state for the API.
struct DaemonObserver {
    spec: Arc<ProjectSpec>,
    reporter: Reporter,
    /// The output is read: a foreground run's terminal, or the CLI that started the daemon.
    attached: Cell<bool>,
    /// A foreground run: its terminal reads the output until the end (never detaches).
    stays_attached: bool,
    daemon_log_path: PathBuf,
    /// Where the output goes once detached: `daemon.log`, rotated as it grows.
    daemon_log: DaemonLog,
    /// The link to the sentinel above the daemon.
    link: Option<Rc<ParentLink>>,
    events: Arc<LazyBroadcast<wire::Event>>,
    status: watch::Sender<Arc<ProjectStatus>>,
    store: Arc<LogStore>,
    /// The daemon's state file (a foreground run keeps none).
    state: Option<StateWriter>,
    /// A foreground run's companion (`wrangle test`), and what it is handed.
    companion: Option<Accompanied>,
    /// `notice` as a shareable function, for the companion (set once the observer exists).
    notices: RefCell<Option<Notice>>,
    /// The run's identity; `services` is refreshed when a leader appears.
    record: DaemonRecord,
    /// Per instance, the identity of its current tree's leader, read once.
    leaders: RefCell<HashMap<InstanceId, KnownLeader>>,
    /// The leaders of the last record sent to the state file.
    written: RefCell<Vec<ServiceRecord>>,
    /// Figures that are not part of the supervisor's state snapshots.
    live: RefCell<LiveFigures>,
    resources: ResourceStore,
    records: ProjectRecords,
}

impl DaemonObserver {
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
                        name: id.label(&self.spec),
                        service: self.spec.services[id.service].name.clone(),
                        instance: id.number,
                        generation: snapshot.view.generation,
                        ready: snapshot.view.ready,
                        pid,
                        start_time,
                        pgid,
                        restarts: snapshot.view.restarts,
                        ports: self.spec.services[id.service].ports.clone(),
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
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "{DETACHED_MARKER}{}", std::process::id());
        let _ = stdout.flush();
        self.daemon_log.attach(
            &self.daemon_log_path,
            self.spec.logs.max_file_bytes,
            self.spec.logs.keep_files,
        );
        // Start-up is over: the code that only it ran (reading the config, the command line,
        // the first spawns) need not stay resident; what the run uses from now on is mapped
        // back on first use (see `sys::memory`).
        crate::sys::memory::release_file_pages();
    }

    /// Records an event, then sends it to its followers (in that order: see
    /// `api::routes::events`).
    fn publish(&self, event: wire::Event) {
        self.records.event(&event);
        let _ = self.events.send(event);
    }

    /// The run is over: say how it ended, to the log and to event followers (`down`).
    fn finished(&self, outcome: &RunOutcome) {
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
        let (service, message) = match reporter::describe(&self.spec, event) {
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
                self.set_readiness_lost(*instance, false)
            }
            Event::Exited {
                instance, status, ..
            } if status.success() => self.records.completed(*instance, SystemTime::now()),
            Event::ReadinessRestored { instance } => self.set_readiness_lost(*instance, false),
            Event::ReadinessLost { instance, .. } => self.set_readiness_lost(*instance, true),
            _ => {}
        }
        self.publish(wire::Event {
            time: human::time(SystemTime::now()),
            kind: reporter::kind(event).to_string(),
            service: service.map(|service| self.spec.services[service].name.clone()),
            // Only where `ps` names instances too: a service with several.
            instance: event
                .instance()
                .filter(|instance| instance.label(&self.spec).contains(':'))
                .map(|instance| instance.number),
            message,
            pid,
        });
        if let Event::AllReady { .. } = event {
            self.detach();
        }
        if let Some(accompanied) = &self.companion {
            accompanied.companion.event(&self.spec, event);
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
        let base = self.spec.monitor.interval;
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
        let mut points: Vec<Option<wire::ResourcePoint>> = vec![None; self.spec.services.len()];
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

    fn state_changed(&self, instances: &[InstanceSnapshot]) {
        let statuses: Vec<wire::ServiceStatus> = instances
            .iter()
            .map(|snapshot| {
                let log = self.store.stats(snapshot.view.id.service);
                service_status(&self.spec, snapshot, &log)
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
