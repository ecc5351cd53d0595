//! The one place where wrangle collects exit statuses.
//!
//! # Theory of operation
//! wrangle is a child subreaper, so besides the processes it spawns it inherits every process its
//! services orphan. All of them must be reaped, and a `waitpid(-1)` loop would steal the statuses
//! of children that anything else (such as `tokio::process`) waits for. So nothing else in wrangle
//! waits for children: every child is started through [`Reaper::spawn`], which registers the pid
//! under the registry lock before the reaper can run, and the reaper, woken by `SIGCHLD`, reaps
//! with `waitpid(-1, WNOHANG)` until nothing is left and hands each status to whoever registered
//! that pid. Because spawning and registering happen on the reaper's own thread without an await
//! in between, a status can never arrive before its registration; a status nobody registered
//! belongs to an adopted orphan and is dropped (orphans are tracked through pidfds, see
//! [`crate::sys::tree`]). Keeping such statuses would be a bug: the pid may be reused by the next
//! spawn, which would then receive a stranger's exit status.
//!
//! # Caveats
//! Signals coalesce: one `SIGCHLD` may stand for many exits, hence the loop until `ECHILD`/0.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::rc::Rc;

use rustix::process::WaitOptions;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::sys::spawn::{SpawnRequest, SpawnedChild, spawn};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

#[derive(Default)]
struct Registry {
    waiting: HashMap<i32, oneshot::Sender<ExitStatus>>,
    /// Children that are wrangle's own helpers (notification commands), not services: the
    /// supervisor's sweep leaves them (and their descendants) alone until they are reaped.
    helpers: HashSet<i32>,
}

/// Owns all reaping for this process. Single-threaded by design (wrangle runs one current-thread
/// runtime), hence `Rc` and `RefCell`.
pub struct Reaper {
    registry: RefCell<Registry>,
}

impl Reaper {
    /// Installs the `SIGCHLD` listener and starts the reaping task on the current `LocalSet`.
    pub fn start() -> io::Result<Rc<Reaper>> {
        let mut sigchld = signal(SignalKind::child())?;
        let reaper = Rc::new(Reaper {
            registry: RefCell::new(Registry::default()),
        });
        let task_reaper = Rc::clone(&reaper);
        tokio::task::spawn_local(async move {
            loop {
                task_reaper.reap_ready();
                if sigchld.recv().await.is_none() {
                    return;
                }
            }
        });
        Ok(reaper)
    }

    /// Starts a child and returns it with a receiver for its exit status.
    pub fn spawn(
        &self,
        request: &mut SpawnRequest,
    ) -> io::Result<(SpawnedChild, oneshot::Receiver<ExitStatus>)> {
        // The registry is borrowed across spawn and registration. Reaping happens on this same
        // thread, so it cannot interleave; the borrow makes that ordering explicit.
        let mut registry = self.registry.borrow_mut();
        let child = spawn(request)?;
        let (sender, receiver) = oneshot::channel();
        registry.waiting.insert(child.pid, sender);
        Ok((child, receiver))
    }

    /// [`Reaper::spawn`] for one of wrangle's own helpers: until it is reaped, [`Reaper::helpers`]
    /// names it, so the supervisor never takes it (or what it starts) for a stray of the run.
    pub fn spawn_helper(
        &self,
        request: &mut SpawnRequest,
    ) -> io::Result<(SpawnedChild, oneshot::Receiver<ExitStatus>)> {
        let (child, exit) = self.spawn(request)?;
        self.registry.borrow_mut().helpers.insert(child.pid);
        Ok((child, exit))
    }

    /// The live (unreaped) helpers started by [`Reaper::spawn_helper`].
    pub fn helpers(&self) -> Vec<i32> {
        self.registry.borrow().helpers.iter().copied().collect()
    }

    /// Reaps every child that has exited so far.
    pub fn reap_ready(&self) {
        loop {
            let (pid, status) = match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => (pid.as_raw_nonzero().get(), status),
                // No more exited children (Ok(None)) or no children at all (ECHILD).
                Ok(None) | Err(_) => return,
            };
            let status = match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => ExitStatus::Code(code),
                (None, Some(signal)) => ExitStatus::Signal(signal),
                // Stopped/continued are not reported without WUNTRACED/WCONTINUED.
                (None, None) => continue,
            };
            // An unregistered pid is an adopted orphan: its service learns of its end through a
            // pidfd, so the status is simply dropped.
            let mut registry = self.registry.borrow_mut();
            registry.helpers.remove(&pid);
            if let Some(sender) = registry.waiting.remove(&pid) {
                // The receiver may be gone when nobody cares any more; that is fine.
                let _ = sender.send(status);
            }
        }
    }
}
