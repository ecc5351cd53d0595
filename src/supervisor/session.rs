//! A session: everything a run of the runtime needs around it, shared by the foreground `up` and
//! the daemon — signal handling, the subreaper, the reaper, the run's cgroup and the sentinel —
//! and the clean-up after it.
//!
//! Must be called inside a `LocalSet` on a current-thread runtime on the main thread (see
//! `runtime` for why).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::logs::LogStore;
use crate::spec::{ProjectSpec, ServiceId};
use crate::supervisor::engine::Lifetime;
use crate::supervisor::runtime::{
    self, AdoptedInstance, ControlRequest, Observer, RunOptions, RunOutcome,
};
use crate::supervisor::watch;
use crate::sys::cgroup::RunCgroup;
use crate::sys::reaper::Reaper;
use crate::sys::sentinel::{ParentLink, Sentinel};
use crate::sys::sockets::BoundSockets;
use crate::sys::spawn::become_subreaper;

/// The sentinel's grace for `spec`: its longest `stop_timeout`.
pub fn stop_grace(spec: &ProjectSpec) -> std::time::Duration {
    spec.services
        .iter()
        .map(|service| service.stop.timeout)
        .max()
        .unwrap_or_default()
}

pub struct SessionOptions {
    pub lifetime: Lifetime,
    /// Tie service leaders to wrangle's life and have a sentinel: if wrangle is killed, its
    /// services die with it.
    pub die_with_wrangle: bool,
    /// The sentinel above this process (the daemon's parent), when there is one; otherwise a
    /// sentinel is started beside the run when `die_with_wrangle` (see `sys::sentinel`).
    pub parent_sentinel: Option<i32>,
    /// A private directory for per-service sockets.
    pub socket_dir: PathBuf,
    /// How long services get to stop on SIGTERM if wrangle itself is killed (the sentinel's
    /// grace): the project's longest `stop_timeout`.
    pub stop_grace: std::time::Duration,
    /// Where service output is kept (the daemon), if anywhere besides the observer.
    pub log_store: Option<Arc<LogStore>>,
    /// The project's sockets, bound in pre-flight, for the services that receive them.
    pub sockets: Arc<BoundSockets>,
    /// The sentinel above the daemon, to hold output pipes (see [`RunOptions::holder`]).
    pub holder: Option<Rc<ParentLink>>,
    /// A daemon taking over the run of one that died keeps its token, cgroup and instances.
    pub successor: Option<Succession>,
    /// Where SIGHUP goes, when the front-end reloads its config on it (the daemon's `apply`);
    /// otherwise SIGHUP stops everything, like SIGTERM.
    pub hangup: Option<mpsc::UnboundedSender<()>>,
}

/// What a daemon that died leaves its successor (see `sys::sentinel`).
pub struct Succession {
    pub run_token: String,
    pub cgroup: Option<PathBuf>,
    pub adopted: Vec<AdoptedInstance>,
}

/// A session set up and ready to run: signals routed, subreaper, reaper, cgroup and sentinel in
/// place. Set up first and run second so the daemon can record the run's identity (token,
/// cgroup) before any service exists.
pub struct Session {
    options: SessionOptions,
    reaper: Rc<Reaper>,
    run_token: String,
    cgroup: Option<Rc<RunCgroup>>,
    sentinel: Option<Sentinel>,
    /// Another end of the control channel, for restarts on change (`watch`).
    control_sender: mpsc::UnboundedSender<ControlRequest>,
    control_receiver: mpsc::UnboundedReceiver<ControlRequest>,
}

impl Session {
    /// Ctrl+C and SIGTERM become `Control::Shutdown`, and SIGHUP too unless
    /// [`SessionOptions::hangup`] takes it; other control sources (the daemon's API) send on
    /// `controls`. An error is a set-up failure, as a message; nothing was started.
    pub fn start(
        mut options: SessionOptions,
        observer: &dyn Observer,
        controls: (
            mpsc::UnboundedSender<ControlRequest>,
            mpsc::UnboundedReceiver<ControlRequest>,
        ),
    ) -> Result<Session, String> {
        let (control_sender, control_receiver) = controls;
        // Signal handlers come first: from here on Ctrl+C, SIGTERM and SIGHUP mean "stop
        // everything in order" (or, for SIGHUP, whatever the front-end makes of it), never "die
        // and leave the services behind".
        let hangup = options.hangup.take();
        let hangup_stops = hangup.is_none();
        if let Some(hangup) = hangup {
            let mut stream = signal(SignalKind::hangup())
                .map_err(|error| format!("cannot install a signal handler: {error}"))?;
            tokio::task::spawn_local(async move {
                while stream.recv().await.is_some() {
                    if hangup.send(()).is_err() {
                        return;
                    }
                }
            });
        }
        let hangup_stops = std::iter::once(SignalKind::hangup()).filter(|_| hangup_stops);
        for kind in [SignalKind::interrupt(), SignalKind::terminate()]
            .into_iter()
            .chain(hangup_stops)
        {
            let mut stream = signal(kind)
                .map_err(|error| format!("cannot install a signal handler: {error}"))?;
            let controls = control_sender.clone();
            tokio::task::spawn_local(async move {
                while stream.recv().await.is_some() {
                    if controls
                        .send(ControlRequest::new(runtime::Control::Shutdown))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        if let Err(error) = become_subreaper() {
            observer.notice(&format!(
                "cannot become a child subreaper ({error}); double-forked processes may escape"
            ));
        }
        let reaper =
            Reaper::start().map_err(|error| format!("cannot listen for SIGCHLD: {error}"))?;
        let (run_token, cgroup) = match &mut options.successor {
            Some(successor) => {
                let cgroup = successor.cgroup.as_deref().and_then(|path| {
                    RunCgroup::adopt(path)
                        .map_err(|error| {
                            observer.notice(&format!(
                                "cannot take over the run's cgroup ({error}); using process groups"
                            ))
                        })
                        .ok()
                });
                (successor.run_token.clone(), cgroup.map(Rc::new))
            }
            None => {
                let run_token = run_token();
                let cgroup = match std::env::var_os("WRANGLE_NO_CGROUP") {
                    // For troubleshooting, and for testing the process-group path on machines
                    // with cgroups.
                    Some(value) if !value.is_empty() && value != "0" => None,
                    _ => RunCgroup::create(&run_token).ok().map(Rc::new),
                };
                (run_token, cgroup)
            }
        };
        let sentinel = if options.die_with_wrangle && options.parent_sentinel.is_none() {
            let cgroup_path = cgroup.as_deref().map(RunCgroup::path);
            match Sentinel::start(&reaper, &run_token, cgroup_path, options.stop_grace) {
                Ok(sentinel) => Some(sentinel),
                Err(error) => {
                    observer.notice(&format!(
                        "cannot start the sentinel ({error}); if wrangle is killed with SIGKILL, services' children may survive"
                    ));
                    None
                }
            }
        } else {
            None
        };
        Ok(Session {
            options,
            reaper,
            run_token,
            cgroup,
            sentinel,
            control_sender,
            control_receiver,
        })
    }

    /// The token every service of this run carries in `WRANGLE_RUN`.
    pub fn run_token(&self) -> &str {
        &self.run_token
    }

    /// The one reaper, for helpers that run beside the services (notification commands).
    pub fn reaper(&self) -> Rc<Reaper> {
        Rc::clone(&self.reaper)
    }

    /// The run's cgroup, when the machine gave us one.
    pub fn cgroup_path(&self) -> Option<&Path> {
        self.cgroup.as_deref().map(RunCgroup::path)
    }

    /// Runs `selected` services of `spec` until the engine is done, then cleans up.
    pub async fn run(
        self,
        spec: Arc<ProjectSpec>,
        selected: Vec<ServiceId>,
        observer: Rc<dyn Observer>,
    ) -> RunOutcome {
        let run_options = RunOptions {
            run_token: self.run_token,
            // Below a daemon's sentinel, services must outlive the daemon (the sentinel stops them,
            // or a successor takes them over); a foreground run's die with it.
            die_with_parent: self.options.die_with_wrangle
                && self.options.parent_sentinel.is_none(),
            socket_dir: self.options.socket_dir,
            helper_pids: self
                .sentinel
                .iter()
                .map(|sentinel| sentinel.pid)
                .chain(self.options.parent_sentinel)
                .collect(),
            cgroup: self.cgroup.clone(),
            random_seed: seed(),
            lifetime: self.options.lifetime,
            log_store: self.options.log_store,
            sockets: self.options.sockets,
            holder: self.options.holder,
            adopted_root: self
                .options
                .successor
                .as_ref()
                .and(self.options.parent_sentinel),
            adopted: self
                .options
                .successor
                .map(|successor| successor.adopted)
                .unwrap_or_default(),
        };
        // Restart on change: watchers on their own threads, the debounce on this one, sending on
        // the control channel like `wrangle restart`.
        let (change_sender, changes) = mpsc::unbounded_channel();
        let run_set = crate::supervisor::graph::selection(&spec, &selected);
        let watched: Vec<ServiceId> = (0..spec.services.len()).filter(|id| run_set[*id]).collect();
        let (watchers, notices) = watch::start(&spec, &watched, &change_sender);
        drop(change_sender);
        for notice in &notices {
            observer.notice(notice);
        }
        let debounce = tokio::task::spawn_local(watch::debounce(
            Arc::clone(&spec),
            changes,
            self.control_sender,
            Rc::clone(&observer),
        ));
        let outcome = runtime::run(
            spec,
            selected,
            self.reaper,
            observer,
            self.control_receiver,
            run_options,
        )
        .await;
        drop(watchers);
        debounce.abort();
        // Everything was already stopped and verified; this only removes the empty cgroups (and
        // would kill anything that slipped through, which the summary then reports). On a thread
        // of its own, while the sentinel is dismissed: an `rmdir` of a cgroup is slow.
        let cleanup = self.cgroup.as_ref().map(|cgroup| {
            let path = cgroup.path().to_path_buf();
            std::thread::Builder::new()
                .name("wrangle-cgroup".into())
                .spawn(move || crate::sys::cgroup::kill_and_remove(&path))
        });
        if let Some(sentinel) = self.sentinel {
            sentinel.dismiss().await;
        }
        match cleanup {
            Some(Ok(thread)) => {
                let _ = thread.join();
            }
            // No thread to be had: do it here.
            Some(Err(_)) => {
                if let Some(cgroup) = &self.cgroup {
                    cgroup.kill_and_remove();
                }
            }
            None => {}
        }
        outcome
    }
}

/// Unique per run: our pid plus the time, so a later run (even with a reused pid) differs.
fn run_token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos:x}", std::process::id())
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    u64::from(nanos) ^ (u64::from(std::process::id()) << 32)
}
