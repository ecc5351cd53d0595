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
use std::time::Duration;

use tokio::sync::oneshot;

use crate::probe::ProbeFailure;
use crate::spec::{CommandSpec, ServiceId, Signal};
use crate::sys::process_table::ProcessInfo;
use crate::sys::reaper::ExitStatus;

/// A new instance of a service, as [`System::spawn`] hands it over.
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
    /// Starts instance `generation` of `service` (its command, environment and cgroup come from
    /// the spec), with `NOTIFY_SOCKET` set to `notify_socket` when given. Returns at once.
    fn spawn(
        &self,
        service: ServiceId,
        generation: u64,
        notify_socket: Option<&Path>,
    ) -> io::Result<Spawned>;

    /// The leader `pid` of `service` was reaped: it no longer identifies the service.
    fn leader_reaped(&self, service: ServiceId, pid: i32);

    /// A new turn of the executor's loop: whatever was learnt about the process table before is
    /// stale.
    fn new_turn(&self);

    /// The live processes of `service`, possibly from a scan made earlier in this turn (a stop
    /// of 50 services then costs one scan).
    fn members(&self, service: ServiceId) -> Vec<ProcessInfo>;

    /// The live processes of `service`, from a fresh look.
    fn rescan_members(&self, service: ServiceId) -> Vec<ProcessInfo>;

    /// Sends `signal` to every process of `service`. `unreaped_leader` is the pid of its leader
    /// while it is known not to be reaped: its process group is then signalled as one (its id
    /// cannot have been reused).
    fn signal_tree(&self, service: ServiceId, unreaped_leader: Option<i32>, signal: Signal);

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

    /// The processes whose resources count for `service` (its cgroup, or its members).
    fn sample_pids(&self, service: ServiceId) -> Vec<i32>;

    /// wrangle's own processes (itself and its helpers), measured as the manager's share.
    fn own_pids(&self) -> Vec<i32>;

    /// Runs an exec readiness probe of `service` once, bounded by `timeout`: `Ok` on exit 0.
    fn exec_probe(
        &self,
        service: ServiceId,
        command: &CommandSpec,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), ProbeFailure>>;
}
