//! Which processes are a service's, and their end: signalling a tree, the members of a service
//! (its cgroup, or a /proc scan shared by every query of a turn), watching a tree whose leader
//! exited until its last process is gone, and the final sweep after everything has stopped.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use crate::spec::{ServiceId, Signal};
use crate::supervisor::engine::Input;
use crate::sys::cgroup::ServiceCgroup;
use crate::sys::process_table::{self, ProcessInfo};
use crate::sys::reaper::Reaper;
use crate::sys::spawn::signal_group;
use crate::sys::tree::{self, Owners, Ownership};

use super::output::OutputDrained;
use super::ports;
use super::{Message, RunOutcome, Runtime};

/// How long the final sweep keeps killing leftovers before giving up and reporting them.
const SWEEP_LIMIT: Duration = Duration::from_secs(5);

/// State shared with the tasks of this run (single thread: `Rc`/`RefCell`).
pub(super) struct Shared {
    /// Live (unreaped) leaders by pid.
    pub(super) leaders: HashMap<i32, ServiceId>,
    /// wrangle's own helper processes (sentinel, exec probes): never attributed to a service.
    pub(super) helpers: HashSet<i32>,
    /// The reaper, which knows the other helpers ([`Reaper::helpers`]: notification commands).
    pub(super) reaper: Rc<Reaper>,
    /// Each service's cgroup, once created.
    pub(super) cgroups: Vec<Option<ServiceCgroup>>,
}

impl Runtime {
    /// Sends `signal` to every process of the service's tree.
    pub(super) fn signal_service(&mut self, service: ServiceId, signal: Signal) {
        let Some(instance) = &self.instances[service] else {
            return;
        };
        let mut group_signalled = None;
        if instance.leader_unreaped {
            // Race-free: the leader is unreaped, so its pid and its group id stay ours. One
            // kill(-pgid) also reaches children forked while we are signalling.
            if signal_group(instance.pid, signal.0).is_ok() {
                group_signalled = Some(instance.pid);
            }
        }
        let others: Vec<_> = self
            .members_except(service, group_signalled)
            .into_iter()
            .filter(|info| Some(info.pgid) != group_signalled)
            .collect();
        tree::signal_all(&others, signal.0);
        if signal == Signal::KILL {
            // Atomic with respect to forks, and reaches processes that left the session and
            // cleared their environment.
            if let Some(cgroup) = &self.shared.borrow().cgroups[service] {
                let _ = cgroup.kill();
            }
        }
        instance.signal_late_members.set(Some(signal));
        instance.rescan.notify_one();
    }

    pub(super) fn owners_snapshot(&self) -> OwnersSnapshot {
        OwnersSnapshot {
            supervisor_pid: self.supervisor_pid,
            run_token: self.options.run_token.clone(),
            service_names: self.service_names.clone(),
        }
    }

    /// [`Runtime::members`] without `leader`, which is not even looked up in `/proc` when the
    /// service's cgroup lists the members (a stop of 50 one-process services then reads no
    /// process at all). For callers that reached `leader` otherwise (its process group).
    fn members_except(&self, service: ServiceId, leader: Option<i32>) -> Vec<ProcessInfo> {
        let Some(leader) = leader else {
            return self.members(service);
        };
        let shared = self.shared.borrow();
        match &shared.cgroups[service] {
            Some(cgroup) => cgroup
                .pids()
                .into_iter()
                .filter(|pid| *pid != leader)
                .filter_map(process_table::process)
                .filter(|info| info.state != 'Z')
                .collect(),
            None => {
                drop(shared);
                self.members(service)
                    .into_iter()
                    .filter(|info| info.pid != leader)
                    .collect()
            }
        }
    }

    /// The live processes of one service (see [`OwnersSnapshot::members`]).
    pub(super) fn members(&self, service: ServiceId) -> Vec<ProcessInfo> {
        self.owners_snapshot()
            .members(&self.shared.borrow(), service, &self.scan_cache)
    }

    /// After the engine has stopped everything: make sure nothing of ours is left (killing any
    /// stray the stops did not reach), and that every declared port is free again.
    pub(super) async fn finish(mut self, code: u8) -> RunOutcome {
        let deadline = Instant::now() + SWEEP_LIMIT;
        let mut swept = 0;
        let leftovers = loop {
            let ownership = self.owners_snapshot().scan_all(&self.shared.borrow());
            let all: Vec<_> = ownership
                .by_service
                .into_values()
                .flatten()
                .chain(ownership.strays)
                .collect();
            if all.is_empty() || Instant::now() >= deadline {
                break all;
            }
            swept += tree::signal_all(&all, Signal::KILL.0);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.reaper.reap_ready();
        };
        // Every process is gone, so every pipe is at end-of-file; let the readers print what was
        // still buffered (bounded, in case a pipe was passed to a process outside wrangle's view).
        let readers = std::mem::take(&mut self.readers);
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            for reader in readers {
                let _ = reader.await;
            }
        })
        .await;
        let leftovers = leftovers
            .iter()
            .map(|info| {
                (
                    info.pid,
                    crate::sys::process_table::cmdline(info.pid)
                        .unwrap_or_else(|| info.comm.clone()),
                )
            })
            .collect();

        let (ports_checked, ports_in_use) = ports::check_released(&self.spec).await;
        RunOutcome {
            code,
            leftovers,
            swept,
            ports_in_use,
            ports_checked,
        }
    }
}

/// The parts of [`Owners`] that tasks can carry around.
#[derive(Clone)]
pub(super) struct OwnersSnapshot {
    supervisor_pid: i32,
    run_token: String,
    service_names: Vec<String>,
}

impl OwnersSnapshot {
    /// Every live process below wrangle, attributed. A full /proc scan: used for the final sweep
    /// and, without cgroups, for per-service queries (through the turn cache).
    fn scan_all(&self, shared: &Shared) -> Ownership {
        let ignore: Vec<i32> = shared
            .helpers
            .iter()
            .copied()
            .chain(shared.reaper.helpers())
            .collect();
        let mut ownership = tree::scan_ownership(&Owners {
            supervisor_pid: self.supervisor_pid,
            run_token: &self.run_token,
            service_names: &self.service_names,
            leaders: &shared.leaders,
            ignore: &ignore,
        });
        // A cgroup's member list is exact: it settles every process the tree walk could not
        // attribute (an orphan that cleared its environment and left its session).
        for (service, cgroup) in shared.cgroups.iter().enumerate() {
            let Some(cgroup) = cgroup else { continue };
            let members = cgroup.pids();
            let (claimed, strays): (Vec<_>, Vec<_>) = ownership
                .strays
                .drain(..)
                .partition(|info| members.contains(&info.pid));
            ownership.strays = strays;
            ownership
                .by_service
                .entry(service)
                .or_default()
                .extend(claimed);
        }
        ownership
    }

    /// The live processes of one service: exact and cheap from its cgroup when it has one, else
    /// from a full scan, shared through `cache` by every query of the same turn (a stop of 50
    /// services then costs one scan, not 50).
    fn members(
        &self,
        shared: &Shared,
        service: ServiceId,
        cache: &RefCell<Option<Rc<Ownership>>>,
    ) -> Vec<ProcessInfo> {
        if let Some(cgroup) = &shared.cgroups[service] {
            return cgroup
                .pids()
                .into_iter()
                .filter_map(process_table::process)
                .filter(|info| info.state != 'Z')
                .collect();
        }
        let mut cache = cache.borrow_mut();
        let ownership = cache.get_or_insert_with(|| Rc::new(self.scan_all(shared)));
        ownership.of(service).to_vec()
    }
}

/// Follows a tree whose leader exited until its last process is gone.
pub(super) struct TreeWatcher {
    pub(super) service: ServiceId,
    pub(super) generation: u64,
    pub(super) output_drained: Option<OutputDrained>,
    pub(super) rescan: Rc<Notify>,
    pub(super) signal_late_members: Rc<Cell<Option<Signal>>>,
    pub(super) owners: OwnersSnapshot,
    pub(super) shared: Rc<RefCell<Shared>>,
    pub(super) sender: mpsc::UnboundedSender<Message>,
}

impl TreeWatcher {
    pub(super) async fn run(mut self) {
        loop {
            let members =
                self.owners
                    .members(&self.shared.borrow(), self.service, &RefCell::new(None));
            if members.is_empty() {
                if let Some(output_drained) = self.output_drained.take() {
                    output_drained.wait().await;
                }
                let message = Input::TreeGone {
                    service: self.service,
                    generation: self.generation,
                };
                let _ = self.sender.send(Message::Engine(message));
                return;
            }
            if let Some(signal) = self.signal_late_members.get() {
                tree::signal_all(&members, signal.0);
            }
            let held: Vec<_> = members.iter().filter_map(tree::hold).collect();
            let all_exited = async {
                for process in held {
                    // An error here means the pidfd cannot be polled; rescanning is the fallback.
                    let _ = tree::exited(process.pidfd).await;
                }
            };
            tokio::select! {
                () = all_exited => {}
                () = self.rescan.notified() => {}
            }
        }
    }
}
