//! A [`System`] without processes: spawns are answered with a made-up pid and real pipes (the
//! test writes the output and closes them), exits, survivors and strays are scripted by the
//! test, and every effect the executor asks for is recorded as a [`Call`].
//!
//! Signals act like the kernel's defaults unless a process is told to ignore them: a process
//! signalled with anything but SIGKILL dies only if it does not [`Recording::ignore_term`]. A
//! dying leader closes its instance's pipes and reports its status, as a real one would.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use rustix::io::Errno;
use tokio::sync::{Notify, oneshot};

use crate::probe::ProbeFailure;
use crate::spec::{CommandSpec, ServiceId, Signal};
use crate::stream::Stream;
use crate::supervisor::event::InstanceId;
use crate::sys::process_table::ProcessInfo;
use crate::sys::reaper::ExitStatus;

use super::super::system::{Spawned, System};

/// How long (in the test's paused time) a wait for the executor may take before the test fails.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

/// What the executor asked of the system, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Call {
    Spawn {
        service: ServiceId,
        generation: u64,
        pid: i32,
    },
    /// A spawn the test made fail.
    SpawnRefused {
        service: ServiceId,
        generation: u64,
    },
    LeaderReaped {
        service: ServiceId,
        pid: i32,
    },
    SignalTree {
        service: ServiceId,
        unreaped_leader: Option<i32>,
        signal: Signal,
    },
    /// Processes signalled one by one (a late member, the sweep), in pid order.
    SignalProcesses {
        pids: Vec<i32>,
        signal: Signal,
    },
    /// A fresh look at the members of `service` (the tree watcher's).
    Rescan {
        service: ServiceId,
    },
    Reap,
    ExecProbe {
        service: ServiceId,
    },
}

/// One made-up process.
struct Process {
    /// The instance it belongs to.
    owner: Option<InstanceId>,
    /// The leader's pid (its process group).
    group: i32,
    ignores_term: bool,
    /// Survives even SIGKILL (a process in uninterruptible sleep).
    unkillable: bool,
}

/// One spawned tree.
struct Instance {
    owner: InstanceId,
    leader: i32,
    exit: Option<oneshot::Sender<ExitStatus>>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    /// Another process holds the pipes too: they stay open when the leader dies.
    output_shared: bool,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    next_pid: i32,
    /// Live processes by pid.
    processes: BTreeMap<i32, Process>,
    instances: Vec<Instance>,
    /// The errors the next spawns of a service fail with, in order.
    refuse: HashMap<ServiceId, VecDeque<Errno>>,
    /// Services whose leaders ignore SIGTERM (and every other catchable signal).
    ignore_term: BTreeSet<ServiceId>,
    /// Ports held by someone, with who.
    busy_ports: BTreeMap<u16, String>,
    /// Results of the next exec probes of a service (passing when none is left).
    exec_results: HashMap<ServiceId, VecDeque<Result<(), String>>>,
}

pub(super) struct Recording {
    state: RefCell<State>,
    /// Told about every change, for the test's waits and for [`System::exited`].
    changed: Notify,
}

/// A test's hold on one spawned instance (by its spawn order).
pub(super) struct Handle<'a> {
    system: &'a Recording,
    index: usize,
}

impl Recording {
    pub(super) fn new() -> Rc<Recording> {
        Rc::new(Recording {
            state: RefCell::new(State {
                next_pid: 1000,
                ..State::default()
            }),
            changed: Notify::new(),
        })
    }

    pub(super) fn calls(&self) -> Vec<Call> {
        self.state.borrow().calls.clone()
    }

    /// The signals sent to `service`'s tree, in order.
    pub(super) fn tree_signals(&self, service: ServiceId) -> Vec<Signal> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::SignalTree {
                    service: signalled,
                    signal,
                    ..
                } if signalled == service => Some(signal),
                _ => None,
            })
            .collect()
    }

    /// How many times the members of `service` were looked at afresh.
    pub(super) fn rescans(&self, service: ServiceId) -> usize {
        let rescan = Call::Rescan { service };
        self.state
            .borrow()
            .calls
            .iter()
            .filter(|call| **call == rescan)
            .count()
    }

    /// How many instances have been spawned so far.
    pub(super) fn spawns(&self) -> usize {
        self.state.borrow().instances.len()
    }

    /// The next `times` spawns of `service` fail with `errno`.
    pub(super) fn refuse_spawns(&self, service: ServiceId, errno: Errno, times: usize) {
        let mut state = self.state.borrow_mut();
        let refusals = state.refuse.entry(service).or_default();
        refusals.extend(std::iter::repeat_n(errno, times));
    }

    pub(super) fn ignore_term(&self, service: ServiceId) {
        self.state.borrow_mut().ignore_term.insert(service);
    }

    pub(super) fn hold_port(&self, port: u16, holder: &str) {
        self.state
            .borrow_mut()
            .busy_ports
            .insert(port, holder.to_string());
        self.changed.notify_waiters();
    }

    pub(super) fn release_port(&self, port: u16) {
        self.state.borrow_mut().busy_ports.remove(&port);
        self.changed.notify_waiters();
    }

    pub(super) fn fail_exec_probes(&self, service: ServiceId, failures: usize) {
        let mut state = self.state.borrow_mut();
        let results = state.exec_results.entry(service).or_default();
        results.extend((0..failures).map(|n| Err(format!("attempt {n} failed"))));
    }

    /// A process below wrangle that belongs to no service (or to `service`, found by a scan
    /// but never signalled through its tree).
    pub(super) fn add_stray(&self, service: Option<ServiceId>, unkillable: bool) -> i32 {
        let mut state = self.state.borrow_mut();
        let pid = state.next_pid;
        state.next_pid += 1;
        state.processes.insert(
            pid,
            Process {
                owner: service.map(|service| InstanceId::new(service, 0)),
                group: pid,
                ignores_term: false,
                unkillable,
            },
        );
        pid
    }

    pub(super) fn is_alive(&self, pid: i32) -> bool {
        self.state.borrow().processes.contains_key(&pid)
    }

    /// The `index`th instance spawned (0 for the first), once it has been.
    pub(super) async fn spawned(&self, index: usize) -> Handle<'_> {
        self.until(|| self.spawns() > index).await;
        Handle {
            system: self,
            index,
        }
    }

    /// Waits until `condition` holds; it is checked after every change the system sees.
    pub(super) async fn until(&self, mut condition: impl FnMut() -> bool) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if condition() {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(WAIT_LIMIT, wait).await.is_err() {
            panic!("the system never got there; calls: {:#?}", self.calls());
        }
    }

    fn record(&self, call: Call) {
        self.state.borrow_mut().calls.push(call);
        self.changed.notify_waiters();
    }

    fn info(pid: i32, process: &Process) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid: 1,
            pgid: process.group,
            sid: process.group,
            start_time: pid as u64,
            uid: 0,
            state: 'S',
            comm: "fake".to_string(),
        }
    }

    fn members_of(&self, instance: InstanceId) -> Vec<ProcessInfo> {
        self.state
            .borrow()
            .processes
            .iter()
            .filter(|(_, process)| process.owner == Some(instance))
            .map(|(pid, process)| Recording::info(*pid, process))
            .collect()
    }

    /// Delivers `signal` to `pid` the way the kernel's default actions would; true when the
    /// process was there to be signalled.
    fn deliver(&self, pid: i32, signal: Signal) -> bool {
        let mut state = self.state.borrow_mut();
        let Some(process) = state.processes.get(&pid) else {
            return false;
        };
        let dies = !process.unkillable && (signal == Signal::KILL || !process.ignores_term);
        if dies {
            state.processes.remove(&pid);
            // A leader that dies closes its pipes and is reaped.
            if let Some(instance) = state
                .instances
                .iter_mut()
                .find(|instance| instance.leader == pid)
            {
                if !instance.output_shared {
                    instance.stdout = None;
                    instance.stderr = None;
                }
                if let Some(exit) = instance.exit.take() {
                    let _ = exit.send(ExitStatus::Signal(signal.0));
                }
            }
        }
        true
    }
}

impl Handle<'_> {
    pub(super) fn pid(&self) -> i32 {
        self.system.state.borrow().instances[self.index].leader
    }

    /// The service prints `text` on `stream`.
    pub(super) fn print(&self, stream: Stream, text: &str) {
        let state = self.system.state.borrow();
        let instance = &state.instances[self.index];
        let pipe = match stream {
            Stream::Stdout => &instance.stdout,
            Stream::Stderr => &instance.stderr,
        };
        let pipe = pipe.as_ref().expect("the pipe is still open");
        let mut bytes = text.as_bytes();
        while !bytes.is_empty() {
            let written = rustix::io::write(pipe, bytes).expect("writing to the test's pipe");
            bytes = &bytes[written..];
        }
    }

    /// Closes both output pipes (every process holding them is gone).
    pub(super) fn close_output(&self) {
        let mut state = self.system.state.borrow_mut();
        let instance = &mut state.instances[self.index];
        instance.stdout = None;
        instance.stderr = None;
    }

    /// A process outside the service holds the output pipes too, so they stay open until
    /// [`Handle::close_output`].
    pub(super) fn share_output(&self) {
        self.system.state.borrow_mut().instances[self.index].output_shared = true;
    }

    /// The leader exits with `status` and is reaped; its pipes stay open if another process
    /// holds them (see [`Handle::close_output`]).
    pub(super) fn exit(&self, status: ExitStatus) {
        let mut state = self.system.state.borrow_mut();
        let leader = state.instances[self.index].leader;
        state.processes.remove(&leader);
        if let Some(exit) = state.instances[self.index].exit.take() {
            let _ = exit.send(status);
        }
        drop(state);
        self.system.changed.notify_waiters();
    }

    /// The leader forks a child that stays in its service (a daemonized worker).
    pub(super) fn fork(&self) -> i32 {
        let mut state = self.system.state.borrow_mut();
        let (owner, leader) = {
            let instance = &state.instances[self.index];
            (instance.owner, instance.leader)
        };
        let ignores_term = state.ignore_term.contains(&owner.service);
        let pid = state.next_pid;
        state.next_pid += 1;
        state.processes.insert(
            pid,
            Process {
                owner: Some(owner),
                group: leader,
                ignores_term,
                unkillable: false,
            },
        );
        pid
    }

    /// A process other than the leader exits.
    pub(super) fn member_exits(&self, pid: i32) {
        self.system.state.borrow_mut().processes.remove(&pid);
        self.system.changed.notify_waiters();
    }
}

impl System for Recording {
    fn spawn(
        &self,
        instance: InstanceId,
        generation: u64,
        _instances: u32,
        _notify_socket: Option<&Path>,
    ) -> io::Result<Spawned> {
        let service = instance.service;
        let mut state = self.state.borrow_mut();
        if let Some(errno) = state.refuse.get_mut(&service).and_then(VecDeque::pop_front) {
            state.calls.push(Call::SpawnRefused {
                service,
                generation,
            });
            drop(state);
            self.changed.notify_waiters();
            return Err(io::Error::from_raw_os_error(errno.raw_os_error()));
        }
        let pid = state.next_pid;
        state.next_pid += 1;
        let (stdout, stdout_writer) = rustix::pipe::pipe()?;
        let (stderr, stderr_writer) = rustix::pipe::pipe()?;
        let (exit_sender, exit) = oneshot::channel();
        let ignores_term = state.ignore_term.contains(&service);
        state.processes.insert(
            pid,
            Process {
                owner: Some(instance),
                group: pid,
                ignores_term,
                unkillable: false,
            },
        );
        state.instances.push(Instance {
            owner: instance,
            leader: pid,
            exit: Some(exit_sender),
            stdout: Some(stdout_writer),
            stderr: Some(stderr_writer),
            output_shared: false,
        });
        state.calls.push(Call::Spawn {
            service,
            generation,
            pid,
        });
        drop(state);
        self.changed.notify_waiters();
        Ok(Spawned {
            pid,
            stdout: Some(stdout),
            stderr: Some(stderr),
            exit,
        })
    }

    fn adopt(&self, _instance: InstanceId, _pid: i32) {}

    fn leader_reaped(&self, instance: InstanceId, pid: i32) {
        self.record(Call::LeaderReaped {
            service: instance.service,
            pid,
        });
    }

    fn new_turn(&self) {}

    fn members(&self, instance: InstanceId) -> Vec<ProcessInfo> {
        self.members_of(instance)
    }

    fn rescan_members(&self, instance: InstanceId) -> Vec<ProcessInfo> {
        self.record(Call::Rescan {
            service: instance.service,
        });
        self.members_of(instance)
    }

    fn signal_tree(&self, instance: InstanceId, unreaped_leader: Option<i32>, signal: Signal) {
        self.record(Call::SignalTree {
            service: instance.service,
            unreaped_leader,
            signal,
        });
        for member in self.members_of(instance) {
            self.deliver(member.pid, signal);
        }
        self.changed.notify_waiters();
    }

    fn signal_processes(&self, processes: &[ProcessInfo], signal: Signal) -> Vec<i32> {
        let pids: Vec<i32> = processes.iter().map(|process| process.pid).collect();
        self.record(Call::SignalProcesses {
            pids: pids.clone(),
            signal,
        });
        let signalled = pids
            .into_iter()
            .filter(|pid| self.deliver(*pid, signal))
            .collect();
        self.changed.notify_waiters();
        signalled
    }

    async fn exited(&self, processes: &[ProcessInfo]) {
        loop {
            let changed = self.changed.notified();
            if processes.iter().all(|process| !self.is_alive(process.pid)) {
                return;
            }
            changed.await;
        }
    }

    fn leftovers(&self) -> Vec<ProcessInfo> {
        self.state
            .borrow()
            .processes
            .iter()
            .map(|(pid, process)| Recording::info(*pid, process))
            .collect()
    }

    fn reap(&self) {
        self.record(Call::Reap);
    }

    fn describe(&self, process: &ProcessInfo) -> String {
        format!("made-up process {}", process.pid)
    }

    fn port_free(&self, port: u16) -> bool {
        !self.state.borrow().busy_ports.contains_key(&port)
    }

    fn port_holders(&self, port: u16) -> String {
        match self.state.borrow().busy_ports.get(&port) {
            Some(holder) => format!("port {port} is held by {holder}"),
            None => format!("port {port} is in use"),
        }
    }

    fn sample_pids(&self, instance: InstanceId) -> Vec<i32> {
        self.members_of(instance)
            .iter()
            .map(|process| process.pid)
            .collect()
    }

    fn own_pids(&self) -> Vec<i32> {
        Vec::new()
    }

    async fn exec_probe(
        &self,
        instance: InstanceId,
        _command: &CommandSpec,
        _timeout: Duration,
    ) -> Result<(), ProbeFailure> {
        let service = instance.service;
        self.record(Call::ExecProbe { service });
        let result = self
            .state
            .borrow_mut()
            .exec_results
            .get_mut(&service)
            .and_then(VecDeque::pop_front);
        result.unwrap_or(Ok(())).map_err(ProbeFailure)
    }
}
