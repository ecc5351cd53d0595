//! The real [`System`]: services spawned through the reaper into their cgroups, members found in
//! cgroups or by attributing a /proc scan, signals through verified pidfds or a process group
//! whose leader is unreaped, and ports checked by binding them.
//!
//! **Invariant:** nothing here waits for a child except through [`Reaper`]; nothing signals a pid
//! except through a pidfd opened and checked against the scanned process, or a process group
//! whose leader is known to be unreaped.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::environment::MANAGER_VARIABLES;
use crate::human;
use crate::probe::ProbeFailure;
use crate::spec::{CommandSpec, ProjectSpec, Signal};
use crate::supervisor::event::InstanceId;
use crate::sys::cgroup::{RunCgroup, ServiceCgroup};
use crate::sys::ports;
use crate::sys::process_table::{self, ProcessInfo};
use crate::sys::reaper::{ExitStatus, Reaper};
use crate::sys::sockets::BoundSockets;
use crate::sys::spawn::{
    ChildLimits, Credentials, JoinCgroup, Output, SpawnRequest, pidfd_signal, signal_group,
};
use crate::sys::tree::{
    self, INSTANCE_VAR, INSTANCES_VAR, Owners, Ownership, RUN_VAR, SERVICE_VAR,
};

use super::Observer;
use super::system::{Spawned, System};

/// What the real system needs to know about the run.
pub(crate) struct OsOptions {
    /// Identifies this run in every service's environment (`WRANGLE_RUN`).
    pub run_token: String,
    /// `PR_SET_PDEATHSIG` (SIGTERM) for every service leader.
    pub die_with_parent: bool,
    /// wrangle helper processes that are not services (the sentinel).
    pub helper_pids: Vec<i32>,
    /// The run's cgroup, when the machine lets wrangle create one.
    pub cgroup: Option<Rc<RunCgroup>>,
    /// The project's sockets, for the services that receive them.
    pub sockets: Arc<BoundSockets>,
    /// The sentinel, when this daemon took over a run: the leaders it adopted are its children.
    pub adopted_root: Option<i32>,
}

pub(crate) struct Os {
    /// Replaced by `wrangle apply` (see [`System::spec_changed`]).
    spec: RefCell<Arc<ProjectSpec>>,
    reaper: Rc<Reaper>,
    /// For notices about degraded modes (no cgroups).
    observer: Rc<dyn Observer>,
    run_token: String,
    die_with_parent: bool,
    supervisor_pid: i32,
    adopted_root: Option<i32>,
    /// The sentinel and such: measured as wrangle's own.
    helper_pids: Vec<i32>,
    /// Dropped when the kernel refuses to move processes into cgroups.
    run_cgroup: RefCell<Option<Rc<RunCgroup>>>,
    sockets: Arc<BoundSockets>,
    processes: RefCell<Processes>,
    /// The process-table scan of the current turn (see [`Os::members`]); cleared by
    /// [`System::new_turn`].
    scan_cache: RefCell<Option<Rc<Ownership>>>,
    /// `cpu_max` was found unenforceable, and said so (once per run).
    cpu_max_warned: std::cell::Cell<bool>,
}

/// What attributes processes to instances.
struct Processes {
    /// Live (unreaped) leaders by pid.
    leaders: HashMap<i32, InstanceId>,
    /// wrangle's own helper processes (sentinel, exec probes): never attributed to a service.
    /// The reaper knows the others ([`Reaper::helpers`]: notification commands).
    helpers: HashSet<i32>,
    /// Each instance's cgroup, once created.
    cgroups: HashMap<InstanceId, ServiceCgroup>,
    /// Every instance ever spawned in this run: the owners a process can be attributed to (an
    /// orphan of a retired instance still carries its marks).
    owners: Vec<InstanceId>,
}

impl Os {
    fn spec(&self) -> Arc<ProjectSpec> {
        Arc::clone(&self.spec.borrow())
    }

    pub(crate) fn new(
        spec: Arc<ProjectSpec>,
        reaper: Rc<Reaper>,
        observer: Rc<dyn Observer>,
        options: OsOptions,
    ) -> Os {
        Os {
            processes: RefCell::new(Processes {
                leaders: HashMap::new(),
                helpers: options.helper_pids.iter().copied().collect(),
                cgroups: HashMap::new(),
                owners: Vec::new(),
            }),
            spec: RefCell::new(spec),
            reaper,
            observer,
            run_token: options.run_token,
            die_with_parent: options.die_with_parent,
            supervisor_pid: rustix::process::getpid().as_raw_nonzero().get(),
            adopted_root: options.adopted_root,
            helper_pids: options.helper_pids,
            run_cgroup: RefCell::new(options.cgroup),
            sockets: options.sockets,
            scan_cache: RefCell::new(None),
            cpu_max_warned: std::cell::Cell::new(false),
        }
    }

    /// The cgroup the child starts in, creating the instance's cgroup on first use: named after
    /// the service (`web`) for its instance 0, `web@2` for its others (a name no service can
    /// have).
    fn instance_cgroup(&self, instance: InstanceId) -> Option<JoinCgroup> {
        let run_cgroup = self.run_cgroup.borrow().clone()?;
        let mut processes = self.processes.borrow_mut();
        // Removed while it was empty (a successor's run taken for abandoned): made again.
        if processes
            .cgroups
            .get(&instance)
            .is_some_and(ServiceCgroup::is_gone)
        {
            processes.cgroups.remove(&instance);
        }
        if let std::collections::hash_map::Entry::Vacant(entry) = processes.cgroups.entry(instance)
        {
            let service_name = &self.spec().services[instance.service].name;
            let name = match instance.number {
                0 => service_name.clone(),
                number => format!("{service_name}@{number}"),
            };
            match run_cgroup.service(&name) {
                Ok(cgroup) => {
                    if let Some(max) = self.spec().services[instance.service].limits.max_memory {
                        // The kernel's limit is a backstop above wrangle's: the graceful
                        // restart at `max_memory` comes first, the OOM killer only for a leak
                        // too fast for a check every second.
                        let backstop = max.saturating_add(max / 4);
                        if let Err(error) = cgroup.set_memory_max(backstop) {
                            self.observer.notice(&format!(
                                "{name}: cannot set its kernel memory limit ({error}); max_memory is enforced by wrangle alone"
                            ));
                        }
                    }
                    if let Some(cpu_max) = self.spec().services[instance.service].process.cpu_max {
                        let set = run_cgroup
                            .enable_cpu()
                            .and_then(|_| cgroup.set_cpu_max(cpu_max));
                        match set {
                            Ok(true) => {}
                            Ok(false) => self.cpu_max_unenforced(
                                "the cgroup v2 cpu controller is not available to wrangle here",
                            ),
                            Err(error) => self
                                .cpu_max_unenforced(&format!("cannot write its cpu.max ({error})")),
                        }
                    }
                    entry.insert(cgroup);
                }
                Err(error) => {
                    self.observer.notice(&format!(
                        "{name}: cannot create its cgroup ({error}); using its process group"
                    ));
                    return None;
                }
            }
        }
        processes.cgroups.get(&instance).map(ServiceCgroup::join)
    }

    /// Says once per run that `cpu_max` is not enforced, and why.
    fn cpu_max_unenforced(&self, reason: &str) {
        if self.cpu_max_warned.replace(true) {
            return;
        }
        self.observer.notice(&format!(
            "cpu_max is not enforced: {reason}; services run without a CPU limit (cpu_max \
             needs a cgroup v2 subtree with the cpu controller: root, or a delegated one)"
        ));
    }

    /// Every live process below wrangle, attributed. A full /proc scan: used for the final sweep
    /// and, without cgroups, for per-service queries (through the turn's cache).
    fn scan_all(&self) -> Ownership {
        let processes = self.processes.borrow();
        let ignore: Vec<i32> = processes
            .helpers
            .iter()
            .copied()
            .chain(self.reaper.helpers())
            .collect();
        // Owners are indexes into `processes.owners`.
        let spec = self.spec();
        let marks: Vec<(&str, u32)> = processes
            .owners
            .iter()
            .map(|owner| (spec.services[owner.service].name.as_str(), owner.number))
            .collect();
        let owner_of = |instance: &InstanceId| {
            processes
                .owners
                .iter()
                .position(|owner| owner == instance)
                .unwrap_or(usize::MAX)
        };
        let leaders: HashMap<i32, usize> = processes
            .leaders
            .iter()
            .map(|(pid, instance)| (*pid, owner_of(instance)))
            .collect();
        let mut ownership = tree::scan_ownership(&Owners {
            supervisor_pid: self.supervisor_pid,
            adopted_root: self.adopted_root,
            run_token: &self.run_token,
            marks: &marks,
            leaders: &leaders,
            ignore: &ignore,
        });
        // A cgroup's member list is exact: it settles every process the tree walk could not
        // attribute (an orphan that cleared its environment and left its session).
        for (instance, cgroup) in &processes.cgroups {
            let owner = owner_of(instance);
            let members = cgroup.pids();
            let (claimed, strays): (Vec<_>, Vec<_>) = ownership
                .strays
                .drain(..)
                .partition(|info| members.contains(&info.pid));
            ownership.strays = strays;
            ownership.by_owner.entry(owner).or_default().extend(claimed);
        }
        ownership
    }

    /// The owner index of `instance` in the attribution of a scan (see [`Os::scan_all`]).
    fn owner(&self, instance: InstanceId) -> usize {
        self.processes
            .borrow()
            .owners
            .iter()
            .position(|owner| *owner == instance)
            .unwrap_or(usize::MAX)
    }

    /// The members listed by the instance's cgroup, without `except`; `None` without a cgroup.
    fn cgroup_members(
        &self,
        instance: InstanceId,
        except: Option<i32>,
    ) -> Option<Vec<ProcessInfo>> {
        let processes = self.processes.borrow();
        let cgroup = processes.cgroups.get(&instance)?;
        Some(
            cgroup
                .pids()
                .into_iter()
                .filter(|pid| Some(*pid) != except)
                .filter_map(process_table::process)
                .filter(|info| info.state != 'Z')
                .collect(),
        )
    }
}

impl System for Os {
    fn spawn(
        &self,
        instance: InstanceId,
        _generation: u64,
        instances: u32,
        notify_socket: Option<&Path>,
    ) -> io::Result<Spawned> {
        let service_spec = &self.spec().services[instance.service];
        let mut env = service_spec.env.clone();
        env.insert(RUN_VAR.to_string(), self.run_token.clone());
        env.insert(SERVICE_VAR.to_string(), service_spec.name.clone());
        env.insert(INSTANCE_VAR.to_string(), instance.number.to_string());
        env.insert(INSTANCES_VAR.to_string(), instances.to_string());
        if let Some(path) = notify_socket {
            env.insert(
                "NOTIFY_SOCKET".to_string(),
                path.to_string_lossy().into_owned(),
            );
        }
        let credentials = credentials(&service_spec.process, &mut env);
        let cgroup = self.instance_cgroup(instance);
        if cgroup.is_none() && service_spec.process.cpu_max.is_some() {
            self.cpu_max_unenforced("wrangle runs its services without cgroups here");
        }
        let mut request = SpawnRequest {
            argv: service_spec.command.argv.clone(),
            cwd: service_spec.cwd.clone(),
            env,
            // wrangle's own systemd/socket-activation variables are not the service's.
            env_remove: MANAGER_VARIABLES.map(String::from).to_vec(),
            output: Output::Capture,
            death_signal: self.die_with_parent.then_some(Signal::TERM.0),
            cgroup,
            stdin: None,
            listen: self.sockets.listen_fds(&service_spec.sockets),
            limits: child_limits(&service_spec.process),
            credentials,
        };
        let spawned = match self.reaper.spawn(&mut request) {
            Err(error) if request.cgroup.is_some() && is_cgroup_refusal(&error) => {
                // The cgroup exists but the kernel refused the move (delegation rules): run
                // without cgroups rather than not at all.
                self.observer.notice(&format!(
                    "cannot move processes into cgroups ({error}); continuing with process groups only"
                ));
                self.run_cgroup.replace(None);
                self.processes.borrow_mut().cgroups.clear();
                request.cgroup = None;
                self.reaper.spawn(&mut request)
            }
            other => other,
        };
        let (child, exit) = spawned?;
        let mut processes = self.processes.borrow_mut();
        processes.leaders.insert(child.pid, instance);
        if !processes.owners.contains(&instance) {
            processes.owners.push(instance);
        }
        drop(processes);
        // The pidfd is dropped: the leader is our unreaped child, so signalling its group is
        // race-free until the reaper reports it, and members are held through fresh pidfds.
        Ok(Spawned {
            pid: child.pid,
            stdout: child.stdout,
            stderr: child.stderr,
            exit,
        })
    }

    fn adopt(&self, instance: InstanceId, pid: i32) {
        // Its cgroup (where it runs already) is found again by name, for exact membership.
        let _ = self.instance_cgroup(instance);
        let mut processes = self.processes.borrow_mut();
        processes.leaders.insert(pid, instance);
        if !processes.owners.contains(&instance) {
            processes.owners.push(instance);
        }
    }

    fn leader_reaped(&self, _instance: InstanceId, pid: i32) {
        self.processes.borrow_mut().leaders.remove(&pid);
    }

    fn new_turn(&self) {
        // A scan a few microseconds old is safe within a turn: survivors it misses are found by
        // the tree watcher, which always rescans before declaring a tree gone.
        self.scan_cache.take();
    }

    fn spec_changed(&self, spec: &Arc<ProjectSpec>) {
        self.spec.replace(Arc::clone(spec));
    }

    /// Exact and cheap from the instance's cgroup when it has one, else from a full scan shared
    /// by every query of the same turn (a stop of 50 services then costs one scan, not 50).
    fn members(&self, instance: InstanceId) -> Vec<ProcessInfo> {
        if let Some(members) = self.cgroup_members(instance, None) {
            return members;
        }
        let mut cache = self.scan_cache.borrow_mut();
        if cache.is_none() {
            *cache = Some(Rc::new(self.scan_all()));
        }
        let owner = self.owner(instance);
        cache
            .as_ref()
            .map(|ownership| ownership.of(owner).to_vec())
            .unwrap_or_default()
    }

    fn rescan_members(&self, instance: InstanceId) -> Vec<ProcessInfo> {
        match self.cgroup_members(instance, None) {
            Some(members) => members,
            None => self.scan_all().of(self.owner(instance)).to_vec(),
        }
    }

    fn signal_tree(&self, instance: InstanceId, unreaped_leader: Option<i32>, signal: Signal) {
        // Race-free: the leader is unreaped, so its pid and its group id stay ours. One
        // kill(-pgid) also reaches children forked while we are signalling.
        let group = unreaped_leader.filter(|leader| signal_group(*leader, signal.0).is_ok());
        // The others; with a cgroup, the leader (reached through its group) is not even looked
        // up in /proc (a stop of 50 one-process services then reads no process at all).
        let others: Vec<_> = match self.cgroup_members(instance, group) {
            Some(members) => members,
            None => self
                .members(instance)
                .into_iter()
                .filter(|info| Some(info.pid) != group)
                .collect(),
        };
        let others: Vec<_> = others
            .into_iter()
            .filter(|info| Some(info.pgid) != group)
            .collect();
        tree::signal_all(&others, signal.0);
        if signal == Signal::KILL {
            // Atomic with respect to forks, and reaches processes that left the session and
            // cleared their environment.
            if let Some(cgroup) = self.processes.borrow().cgroups.get(&instance) {
                let _ = cgroup.kill();
            }
        }
    }

    fn signal_processes(&self, processes: &[ProcessInfo], signal: Signal) -> Vec<i32> {
        processes
            .iter()
            .filter_map(tree::hold)
            .filter(|held| pidfd_signal(&held.pidfd, signal.0).is_ok())
            .map(|held| held.id.pid)
            .collect()
    }

    async fn exited(&self, processes: &[ProcessInfo]) {
        let held: Vec<_> = processes.iter().filter_map(tree::hold).collect();
        for process in held {
            // An error here means the pidfd cannot be polled; the caller rescans either way.
            let _ = tree::exited(process.pidfd).await;
        }
    }

    fn leftovers(&self) -> Vec<ProcessInfo> {
        let ownership = self.scan_all();
        ownership
            .by_owner
            .into_values()
            .flatten()
            .chain(ownership.strays)
            .collect()
    }

    fn reap(&self) {
        self.reaper.reap_ready();
    }

    fn describe(&self, process: &ProcessInfo) -> String {
        process_table::cmdline(process.pid).unwrap_or_else(|| process.comm.clone())
    }

    fn port_free(&self, port: u16) -> bool {
        ports::can_bind(port)
    }

    fn port_holders(&self, port: u16) -> String {
        let holders = ports::listeners(port);
        if holders.is_empty() {
            return format!("port {port} is in use");
        }
        let described: Vec<String> = holders
            .iter()
            .map(|holder| match (holder.pid, &holder.command) {
                (Some(pid), Some(command)) => {
                    format!("PID {pid} (user {}): {command}", holder.user)
                }
                (Some(pid), None) => format!("PID {pid} (user {})", holder.user),
                (None, _) => format!("a process of user {} (uid {})", holder.user, holder.uid),
            })
            .collect();
        format!("port {port} is held by {}", described.join(", "))
    }

    fn sample_pids(&self, instance: InstanceId) -> Vec<i32> {
        let cgroup_pids = self
            .processes
            .borrow()
            .cgroups
            .get(&instance)
            .map(ServiceCgroup::pids);
        cgroup_pids.unwrap_or_else(|| self.members(instance).iter().map(|info| info.pid).collect())
    }

    fn own_pids(&self) -> Vec<i32> {
        let mut own = vec![self.supervisor_pid];
        own.extend(&self.helper_pids);
        own
    }

    /// Through the reaper (never `tokio::process`: one reaper owns all children). A probe that
    /// overruns its attempt timeout is killed with its group.
    async fn exec_probe(
        &self,
        instance: InstanceId,
        command: &CommandSpec,
        timeout: Duration,
    ) -> Result<(), ProbeFailure> {
        let service_spec = &self.spec().services[instance.service];
        let mut env = service_spec.env.clone();
        // Which instance to look at, when several share an address.
        env.insert(INSTANCE_VAR.to_string(), instance.number.to_string());
        // As the service's user: a probe needs no more than the service has.
        let credentials = credentials(&service_spec.process, &mut env);
        let mut request = SpawnRequest {
            argv: command.argv.clone(),
            cwd: service_spec.cwd.clone(),
            env,
            // Without the run marker the probe is never mistaken for a member of the service.
            env_remove: [RUN_VAR.to_string(), SERVICE_VAR.to_string()]
                .into_iter()
                .chain(MANAGER_VARIABLES.map(String::from))
                .collect(),
            output: Output::Discard,
            // A probe is wrangle's own helper: it dies with wrangle, at once.
            death_signal: Some(Signal::KILL.0),
            cgroup: None,
            stdin: None,
            listen: None,
            // A probe is a short check, not the service: wrangle's own priority and limits.
            limits: ChildLimits::default(),
            credentials,
        };
        let (child, exit) = self
            .reaper
            .spawn(&mut request)
            .map_err(|error| ProbeFailure(format!("cannot run {}: {error}", command.display())))?;
        let pid = child.pid;
        self.processes.borrow_mut().helpers.insert(pid);
        let result = match tokio::time::timeout(timeout, exit).await {
            Ok(Ok(ExitStatus::Code(0))) => Ok(()),
            Ok(Ok(ExitStatus::Code(code))) => Err(ProbeFailure(format!("exited with code {code}"))),
            Ok(Ok(ExitStatus::Signal(signal))) => {
                Err(ProbeFailure(format!("killed by {}", Signal(signal).name())))
            }
            Ok(Err(_)) => Err(ProbeFailure("exit status lost".to_string())),
            Err(_) => {
                // Still unreaped: the group id is ours to signal.
                let _ = signal_group(pid, Signal::KILL.0);
                Err(ProbeFailure(format!(
                    "timed out after {}",
                    human::duration(timeout)
                )))
            }
        };
        self.processes.borrow_mut().helpers.remove(&pid);
        result
    }
}

/// The kernel refusing a move into a cgroup shows up as one of these from the child's setup.
fn is_cgroup_refusal(error: &io::Error) -> bool {
    // ENODEV: the cgroup was removed under us (by an administrator, or an older wrangle in
    // another pid namespace); process groups still work.
    matches!(error.raw_os_error(), Some(code) if code == rustix::io::Errno::ACCESS.raw_os_error()
        || code == rustix::io::Errno::NODEV.raw_os_error()
        || code == rustix::io::Errno::PERM.raw_os_error()
        || code == rustix::io::Errno::BUSY.raw_os_error()
        || code == rustix::io::Errno::NOTSUP.raw_os_error()
        || code == rustix::io::Errno::OPNOTSUPP.raw_os_error())
}

/// The credentials a service's processes switch to, with `HOME`, `USER` and `LOGNAME` added to
/// `env` (unless the service sets them): only when wrangle runs as root, since as anyone else
/// the config allowed only wrangle's own user and group, which the child already has.
fn credentials(
    process: &crate::spec::ProcessSpec,
    env: &mut std::collections::BTreeMap<String, String>,
) -> Option<Credentials> {
    let account = process.run_as.as_ref()?.account.as_ref()?;
    if !crate::sys::accounts::running_as_root() {
        return None;
    }
    if process.run_as.as_ref()?.user.is_some() {
        for (key, value) in [
            ("HOME", account.home.to_string_lossy().into_owned()),
            ("USER", account.name.clone()),
            ("LOGNAME", account.name.clone()),
        ] {
            env.entry(key.to_string()).or_insert(value);
        }
    }
    Some(Credentials::new(account.uid, account.gid, &account.groups))
}

/// The spawn's form of a service's `nice` and `limits`.
fn child_limits(process: &crate::spec::ProcessSpec) -> ChildLimits {
    let limits = &process.rlimits;
    ChildLimits {
        nice: process.nice,
        nofile: limits.nofile,
        nproc: limits.nproc,
        core: limits.core,
        memlock: limits.memlock,
    }
}
