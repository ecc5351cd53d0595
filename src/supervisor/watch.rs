//! Restart on change (`watch`): file-system watchers per service, and the debounce that turns a
//! burst of changes into one restart request on the control path.
//!
//! # Theory of operation
//!
//! Each service with `watch` entries gets its own `notify` watcher (inotify; its thread blocks in
//! the kernel until something changes). The watcher's callback runs on that thread: it asks the
//! service's [`Filter`] whether a changed path concerns the service and sends only those on a
//! channel, so ignored files (`.gitignore`, `watch_ignore`) never wake the supervisor's thread.
//! There [`debounce`] waits until the service's changes have been quiet for `watch_debounce`
//! (or at most [`MAX_DELAY_FACTOR`] times that since the first one, so a file rewritten all the
//! time still restarts the service now and then), says which file changed, and sends one
//! `restart` (a `reload` for a service with sockets) as a `ControlRequest`, as `wrangle restart`
//! would. Nothing runs on a timer while nothing changes: the daemon idles.
//!
//! Directories are watched recursively (a directory created later is watched too); a watched
//! file is watched through its directory, so an editor that saves by writing a new file and
//! renaming it over the old one is followed. When the kernel's inotify watch limit is reached,
//! the service is watched by polling instead (every [`POLL_INTERVAL`]), and the user is told
//! once, with the setting to raise.
//!
//! notify's own debouncer crates are not used: their thread wakes up every quarter of the
//! debounce time for as long as the watcher lives, which an idle daemon must not do.

mod filter;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use notify::{Event, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::spec::{ProjectSpec, ServiceId};
use crate::supervisor::engine::ServiceAction;
use crate::supervisor::runtime::{Control, ControlRequest, Observer};

pub(crate) use filter::Filter;

/// How often a service is polled when inotify cannot watch it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A service restarts at the latest this many debounce times after the first change of a burst,
/// even if changes go on.
pub const MAX_DELAY_FACTOR: u32 = 10;

/// A changed path that concerns a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub service: ServiceId,
    pub path: PathBuf,
}

/// The watchers of a run; dropping it stops them (their threads end).
pub struct Watchers {
    _watchers: Vec<Box<dyn Watcher>>,
}

/// Starts watching the `watch` entries of `services`. Changes that concern a service are sent
/// on `changes`. Returns the watchers and what the user should be told (paths that do not exist,
/// a fallback to polling).
pub fn start(
    spec: &ProjectSpec,
    services: &[ServiceId],
    changes: &mpsc::UnboundedSender<Change>,
) -> (Watchers, Vec<String>) {
    let mut watchers: Vec<Box<dyn Watcher>> = Vec::new();
    let mut notices = Vec::new();
    let mut limit_told = false;
    for &id in services {
        let Some(service) = spec.services.get(id) else {
            continue;
        };
        let Some(watch) = &service.watch else {
            continue;
        };
        let filter = Filter::new(&service.cwd, watch);
        let targets = targets(watch.entries.iter().map(|entry| entry.root.as_path()));
        for missing in &targets.missing {
            notices.push(format!(
                "{}: watch path {} does not exist: not watched",
                service.name,
                shown(&spec.root, missing)
            ));
        }
        let handler = handler(id, filter, changes.clone());
        match watch_with(
            RecommendedWatcher::new(handler.clone(), notify::Config::default()),
            &targets,
        ) {
            Ok(watcher) => watchers.push(watcher),
            Err(error) => {
                let limit = matches!(error.kind, notify::ErrorKind::MaxFilesWatch);
                if limit && !limit_told {
                    limit_told = true;
                    notices.push(format!(
                        "the inotify watch limit is reached{}: raise it with `sudo sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d to keep it)",
                        current_limit()
                            .map(|limit| format!(" (fs.inotify.max_user_watches = {limit})"))
                            .unwrap_or_default()
                    ));
                }
                let config = notify::Config::default().with_poll_interval(POLL_INTERVAL);
                match watch_with(PollWatcher::new(handler, config), &targets) {
                    Ok(watcher) => {
                        notices.push(format!(
                            "{}: watching by polling every {} ({})",
                            service.name,
                            crate::human::duration(POLL_INTERVAL),
                            match limit {
                                true => "the inotify limit is reached".to_string(),
                                false => format!("inotify failed: {error}"),
                            }
                        ));
                        watchers.push(watcher);
                    }
                    Err(error) => notices.push(format!(
                        "{}: cannot watch for changes: {error}",
                        service.name
                    )),
                }
            }
        }
    }
    (
        Watchers {
            _watchers: watchers,
        },
        notices,
    )
}

/// What to hand to the kernel: directories recursively, files through their directory.
struct Targets {
    recursive: Vec<PathBuf>,
    flat: Vec<PathBuf>,
    missing: Vec<PathBuf>,
}

fn targets<'p>(roots: impl Iterator<Item = &'p Path>) -> Targets {
    let mut targets = Targets {
        recursive: Vec::new(),
        flat: Vec::new(),
        missing: Vec::new(),
    };
    for root in roots {
        match std::fs::metadata(root) {
            Ok(metadata) if metadata.is_dir() => push_new(&mut targets.recursive, root),
            Ok(_) => match root.parent() {
                Some(parent) => push_new(&mut targets.flat, parent),
                None => push_new(&mut targets.missing, root),
            },
            Err(_) => push_new(&mut targets.missing, root),
        }
    }
    targets
}

fn push_new(list: &mut Vec<PathBuf>, path: &Path) {
    if !list.iter().any(|known| known == path) {
        list.push(path.to_path_buf());
    }
}

fn watch_with<W: Watcher + 'static>(
    watcher: notify::Result<W>,
    targets: &Targets,
) -> notify::Result<Box<dyn Watcher>> {
    let mut watcher = watcher?;
    for path in &targets.recursive {
        watcher.watch(path, RecursiveMode::Recursive)?;
    }
    for path in &targets.flat {
        watcher.watch(path, RecursiveMode::NonRecursive)?;
    }
    Ok(Box::new(watcher))
}

/// The callback on the watcher's thread: what concerns the service goes on the channel.
fn handler(
    service: ServiceId,
    filter: Filter,
    changes: mpsc::UnboundedSender<Change>,
) -> impl notify::EventHandler + Clone {
    let filter = std::sync::Arc::new(filter);
    move |event: notify::Result<Event>| {
        let Ok(event) = event else {
            // A lost event (queue overflow) cannot name its file; the next change will.
            return;
        };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in event.paths {
            if filter.wants(&path) {
                let _ = changes.send(Change { service, path });
            }
        }
    }
}

/// The inotify watch limit, for the message that says it was reached.
fn current_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `path` relative to the project root when it is inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A burst of changes to one service: when it started, when the last change came, and the
/// files, the first ones kept.
struct Burst {
    first: Instant,
    last: Instant,
    paths: Vec<PathBuf>,
    more: usize,
}

/// How many changed files a restart names.
const NAMED_FILES: usize = 3;

/// On the supervisor's thread: turns `changes` into one restart request per quiet burst, sent
/// on `controls`, each announced through `observer`. Ends when `changes` closes (the watchers
/// are gone) or `controls` does (the run is over).
pub async fn debounce(
    spec: std::sync::Arc<ProjectSpec>,
    mut changes: mpsc::UnboundedReceiver<Change>,
    controls: mpsc::UnboundedSender<ControlRequest>,
    observer: Rc<dyn Observer>,
) {
    let mut bursts: HashMap<ServiceId, Burst> = HashMap::new();
    loop {
        let due = bursts
            .iter()
            .map(|(&service, burst)| due_at(&spec, service, burst))
            .min();
        let change = match due {
            Some(due) => tokio::select! {
                change = changes.recv() => change,
                () = tokio::time::sleep_until(due) => {
                    let now = Instant::now();
                    let ready: Vec<ServiceId> = bursts
                        .iter()
                        .filter(|(service, burst)| due_at(&spec, **service, burst) <= now)
                        .map(|(service, _)| *service)
                        .collect();
                    for service in ready {
                        if let Some(burst) = bursts.remove(&service)
                            && !restart(&spec, service, &burst, &controls, observer.as_ref())
                        {
                            return;
                        }
                    }
                    continue;
                }
            },
            None => changes.recv().await,
        };
        let Some(change) = change else {
            return;
        };
        let now = Instant::now();
        let burst = bursts.entry(change.service).or_insert_with(|| Burst {
            first: now,
            last: now,
            paths: Vec::new(),
            more: 0,
        });
        burst.last = now;
        if burst.paths.contains(&change.path) {
            continue;
        }
        match burst.paths.len() < NAMED_FILES {
            true => burst.paths.push(change.path),
            false => burst.more += 1,
        }
    }
}

fn due_at(spec: &ProjectSpec, service: ServiceId, burst: &Burst) -> Instant {
    let debounce = spec
        .services
        .get(service)
        .and_then(|service| service.watch.as_ref())
        .map(|watch| watch.debounce)
        .unwrap_or_default();
    (burst.last + debounce).min(burst.first + debounce * MAX_DELAY_FACTOR)
}

/// Announces and requests the restart; false when the run no longer takes requests.
fn restart(
    spec: &ProjectSpec,
    service: ServiceId,
    burst: &Burst,
    controls: &mpsc::UnboundedSender<ControlRequest>,
    observer: &dyn Observer,
) -> bool {
    let Some(declared) = spec.services.get(service) else {
        return true;
    };
    let mut files: Vec<String> = burst
        .paths
        .iter()
        .map(|path| shown(&spec.root, path))
        .collect();
    if burst.more > 0 {
        files.push(format!("{} more", burst.more));
    }
    // A service with sockets can be replaced without a gap (a reload); another is restarted.
    let (control, verb) = match declared.sockets.is_empty() {
        true => (
            Control::Service {
                service,
                action: ServiceAction::Restart,
            },
            "restarting",
        ),
        false => (Control::Reload { service }, "reloading"),
    };
    observer.notice(&format!(
        "{}: {} changed: {verb}",
        declared.name,
        files.join(", ")
    ));
    controls.send(ControlRequest::new(control)).is_ok()
}
