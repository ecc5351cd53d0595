//! The seam between the executor and the operating system: every process the executor starts,
//! signals, counts or waits for goes through [`System`].
//!
//! The real implementation is [`super::os::Os`] (the reaper, cgroups, /proc scans, verified
//! pidfds, port checks). The executor's own rules (a spawn answered in the same turn, output read
//! to the end before a tree is declared gone, the final sweep, the wait for ports before a restart,
//! stale generations ignored) are tested against a recording implementation that answers spawns
//! with real pipes but no process, and lets a test script exits, members and output
//! (`runtime/tests/recording.rs`).
//!
//! What stays outside: output pipes are real file descriptors either way (the output reader is
//! the same code in tests and in production), and HTTP/TCP probes and resource measurements talk
//! to the network and /proc directly.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::probe::ProbeFailure;
use crate::spec::{CommandSpec, ProjectSpec, Signal};
use crate::supervisor::event::InstanceId;
use crate::sys::process_table::ProcessInfo;
use crate::sys::reaper::ExitStatus;

/// A new tree of an instance, as [`System::spawn`] hands it over.
pub(crate) struct Spawned {
    /// Its leader's pid.
    pub pid: i32,
    /// The read ends of its output pipes.
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The leader's exit status, once it has been reaped (an error: the status was lost).
    pub exit: oneshot::Receiver<ExitStatus>,
}

/// The operating system as the executor uses it. Single-threaded like the executor: tasks of the
/// run hold it in an `Rc`.
pub(crate) trait System: 'static {
    /// Starts tree `generation` of `instance` (its command, environment, sockets and cgroup come
    /// from the spec), with `WRANGLE_INSTANCES` set to `instances` and `NOTIFY_SOCKET` to
    /// `notify_socket` when given. Returns at once.
    fn spawn(
        &self,
        instance: InstanceId,
        generation: u64,
        instances: u32,
        notify_socket: Option<&Path>,
    ) -> io::Result<Spawned>;

    /// `pid` leads `instance`, taken over from a daemon that died (proven by the caller): it is
    /// not our child, so only its members are signalled, never its group.
    fn adopt(&self, instance: InstanceId, pid: i32);

    /// The leader `pid` of `instance` was reaped: it no longer identifies the instance.
    fn leader_reaped(&self, instance: InstanceId, pid: i32);

    /// A new turn of the executor's loop: whatever was learnt about the process table before is
    /// stale.
    fn new_turn(&self);

    /// Spawns from now on read `spec` (`wrangle apply`; every id names the same service).
    fn spec_changed(&self, spec: &Arc<ProjectSpec>) {
        let _ = spec;
    }

    /// The live processes of `instance`, possibly from a scan made earlier in this turn (a stop
    /// of 50 services then costs one scan).
    fn members(&self, instance: InstanceId) -> Vec<ProcessInfo>;

    /// The live processes of `instance`, from a fresh look.
    fn rescan_members(&self, instance: InstanceId) -> Vec<ProcessInfo>;

    /// Sends `signal` to every process of `instance`. `unreaped_leader` is the pid of its leader
    /// while it is known not to be reaped: its process group is then signalled as one (its id
    /// cannot have been reused).
    fn signal_tree(&self, instance: InstanceId, unreaped_leader: Option<i32>, signal: Signal);

    /// Sends `signal` to each of `processes` that is still the process that was found; returns
    /// the pids of those signalled.
    fn signal_processes(&self, processes: &[ProcessInfo], signal: Signal) -> Vec<i32>;

    /// Resolves once every one of `processes` has exited (or can no longer be watched; the
    /// caller rescans either way).
    fn exited(&self, processes: &[ProcessInfo]) -> impl Future<Output = ()>;

    /// Every process below wrangle that is not one of its helpers, whichever service it belongs
    /// to (or none): what the final sweep must leave behind empty.
    fn leftovers(&self) -> Vec<ProcessInfo>;

    /// Collects the exit statuses of children that have ended (the sweep's kills).
    fn reap(&self);

    /// How a leftover process is named in the run's report (its command line).
    fn describe(&self, process: &ProcessInfo) -> String;

    /// Whether `port` can be bound now.
    fn port_free(&self, port: u16) -> bool;

    /// Who holds `port`, for humans ("port 8080 is held by PID 4242 (user alice): ...").
    fn port_holders(&self, port: u16) -> String;

    /// The processes whose resources count for `instance` (its cgroup, or its members).
    fn sample_pids(&self, instance: InstanceId) -> Vec<i32>;

    /// wrangle's own processes (itself and its helpers), measured as the manager's share.
    fn own_pids(&self) -> Vec<i32>;

    /// Runs an exec readiness probe of `instance` once, bounded by `timeout`: `Ok` on exit 0.
    /// The probe has the instance's `WRANGLE_INSTANCE` in its environment.
    fn exec_probe(
        &self,
        instance: InstanceId,
        command: &CommandSpec,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), ProbeFailure>>;
}
