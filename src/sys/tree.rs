//! Which processes belong to which service, and signalling them without PID-reuse races.
//!
//! # Theory of operation
//! A service is its whole process tree, not its first pid. wrangle is a child subreaper, so every
//! process a service starts stays below wrangle in the process tree, even after double-forks and
//! `setsid`: when its parent dies it is re-parented to wrangle. To attribute a process, walk up its
//! parent chain to the ancestor that is a direct child of wrangle (its *top*):
//! - a top that is the live leader of a service belongs to that service;
//! - any other top is an adopted orphan: it is attributed by the `WRANGLE_RUN`/`WRANGLE_SERVICE`
//!   variables every service is started with (inherited by its descendants), or else by its
//!   session or process group matching a leader's.
//!
//! Anything below wrangle that cannot be attributed is a *stray*: it is still stopped when wrangle
//! shuts down, so "nothing left behind" never depends on attribution being perfect.
//!
//! Signals go through pidfds: a pidfd is opened first, then the process's start time is checked
//! again, so a pid that was reused between the scan and the signal is never signalled.
//!
//! # Caveats
//! A process that clears its environment *and* leaves its service's session is attributed only
//! while its parent chain is intact; once orphaned it becomes a stray (stopped at shutdown).

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::sys::process_table::{self, ProcessInfo};
use crate::sys::spawn::{open_pidfd, pidfd_signal};

/// Set in every service's environment to the id of the wrangle run that started it.
pub const RUN_VAR: &str = "WRANGLE_RUN";
/// Set in every service's environment to the service's name.
pub const SERVICE_VAR: &str = "WRANGLE_SERVICE";
/// Set in every service's environment to its instance's number (0 for the only one).
pub const INSTANCE_VAR: &str = "WRANGLE_INSTANCE";
/// Set in every service's environment to the number of instances the service has.
pub const INSTANCES_VAR: &str = "WRANGLE_INSTANCES";

/// A pid together with its start time: unlike a bare pid, it cannot be confused with a later
/// process that reuses the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessId {
    pub pid: i32,
    pub start_time: u64,
}

impl From<&ProcessInfo> for ProcessId {
    fn from(info: &ProcessInfo) -> Self {
        ProcessId {
            pid: info.pid,
            start_time: info.start_time,
        }
    }
}

/// What the supervisor knows when it asks who owns what.
pub struct Owners<'a> {
    /// wrangle's own pid: the root of everything it supervises.
    pub supervisor_pid: i32,
    /// A second root, for a daemon that took over a run: the sentinel, whose children are the
    /// leaders the dead daemon had started (the daemon itself is the sentinel's child too, and
    /// never attributed).
    pub adopted_root: Option<i32>,
    /// The id of this wrangle run, as set in `RUN_VAR`.
    pub run_token: &'a str,
    /// What each owner's processes carry in `SERVICE_VAR` and `INSTANCE_VAR`; an owner is an
    /// index into this slice.
    pub marks: &'a [(&'a str, u32)],
    /// Live leaders (direct children) by pid, with their owner.
    pub leaders: &'a HashMap<i32, usize>,
    /// Processes to leave out entirely (wrangle's helpers such as the sentinel).
    pub ignore: &'a [i32],
}

/// The result of one scan: every live process below wrangle, by owner.
#[derive(Debug, Default)]
pub struct Ownership {
    pub by_owner: HashMap<usize, Vec<ProcessInfo>>,
    pub strays: Vec<ProcessInfo>,
}

impl Ownership {
    pub fn of(&self, owner: usize) -> &[ProcessInfo] {
        self.by_owner.get(&owner).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.strays.is_empty() && self.by_owner.values().all(Vec::is_empty)
    }

    pub fn total(&self) -> usize {
        self.strays.len() + self.by_owner.values().map(Vec::len).sum::<usize>()
    }
}

/// Scans /proc and attributes every live process below wrangle.
pub fn scan_ownership(owners: &Owners<'_>) -> Ownership {
    attribute(&process_table::scan(), owners, |pid, key| {
        process_table::environ_var(pid, key)
    })
}

/// Attribution over a given process table; `environ` is injected so tests can feed tables.
pub fn attribute(
    table: &[ProcessInfo],
    owners: &Owners<'_>,
    environ: impl Fn(i32, &str) -> Option<String>,
) -> Ownership {
    let by_pid: HashMap<i32, &ProcessInfo> = table.iter().map(|info| (info.pid, info)).collect();
    let mut top_owner: HashMap<i32, Option<usize>> = HashMap::new();
    let mut ownership = Ownership::default();
    for info in table {
        // Zombies hold no resources and cannot be signalled; they are reaped by their parent.
        if info.state == 'Z'
            || info.pid == owners.supervisor_pid
            || owners.ignore.contains(&info.pid)
        {
            continue;
        }
        let Some(top) = top_ancestor(info, &by_pid, owners.supervisor_pid, owners.adopted_root)
        else {
            continue;
        };
        if owners.ignore.contains(&top.pid) {
            continue;
        }
        let owner = *top_owner
            .entry(top.pid)
            .or_insert_with(|| owner_of_top(top, owners, &environ));
        match owner {
            Some(owner) => ownership
                .by_owner
                .entry(owner)
                .or_default()
                .push(info.clone()),
            None => ownership.strays.push(info.clone()),
        }
    }
    ownership
}

/// The ancestor of `info` whose parent is wrangle or the adopted root (possibly `info` itself),
/// or None when `info` does not descend from either. Bounded, so a corrupted table cannot loop
/// forever.
fn top_ancestor<'t>(
    info: &'t ProcessInfo,
    by_pid: &HashMap<i32, &'t ProcessInfo>,
    supervisor_pid: i32,
    adopted_root: Option<i32>,
) -> Option<&'t ProcessInfo> {
    let mut current = info;
    for _ in 0..4096 {
        if current.ppid == supervisor_pid || Some(current.ppid) == adopted_root {
            return Some(current);
        }
        current = by_pid.get(&current.ppid)?;
    }
    None
}

fn owner_of_top(
    top: &ProcessInfo,
    owners: &Owners<'_>,
    environ: &impl Fn(i32, &str) -> Option<String>,
) -> Option<usize> {
    if let Some(service) = owners.leaders.get(&top.pid) {
        return Some(*service);
    }
    let marked = (environ(top.pid, RUN_VAR).as_deref() == Some(owners.run_token))
        .then(|| environ(top.pid, SERVICE_VAR))
        .flatten()
        .and_then(|name| {
            // Without the variable (a program that removed it): the service's first instance.
            let number = environ(top.pid, INSTANCE_VAR)
                .and_then(|number| number.parse::<u32>().ok())
                .unwrap_or(0);
            owners
                .marks
                .iter()
                .position(|(service, instance)| *service == name && *instance == number)
        });
    if marked.is_some() {
        return marked;
    }
    // A double-forked child that cleared its environment but kept its session or group.
    owners
        .leaders
        .iter()
        .find(|(leader, _)| **leader == top.sid || **leader == top.pgid)
        .map(|(_, service)| *service)
}

/// A process we hold a pidfd for, verified to be the process that was scanned.
pub struct HeldProcess {
    pub id: ProcessId,
    pub pidfd: OwnedFd,
}

/// Opens a pidfd for a scanned process and checks it is still the same process (same start time):
/// from then on the pidfd pins the identity. None when it has already exited.
pub fn hold(info: &ProcessInfo) -> Option<HeldProcess> {
    let pidfd = open_pidfd(info.pid).ok()?;
    let now = process_table::process(info.pid)?;
    if now.start_time != info.start_time || now.state == 'Z' {
        return None;
    }
    Some(HeldProcess {
        id: ProcessId::from(info),
        pidfd,
    })
}

/// What a daemon that died recorded of a service leader, and of its run.
#[derive(Debug, Clone, Copy)]
pub struct RecordedLeader<'a> {
    pub pid: i32,
    pub start_time: u64,
    pub pgid: i32,
    pub run_token: &'a str,
    /// The run's cgroup, when it had one.
    pub cgroup: Option<&'a std::path::Path>,
}

/// Proves that `recorded` is still the leader it was, for a successor to take it over: a pidfd
/// is opened first (from then on it is this process, whatever happens to the pid), then its start
/// time and process group must match the record (a reused pid matches neither), and it must be
/// of the run: in the run's cgroup, or carrying the run's token in its environment. `None`
/// otherwise, or when it has exited.
pub fn prove_leader(recorded: &RecordedLeader<'_>) -> Option<HeldProcess> {
    let pidfd = open_pidfd(recorded.pid).ok()?;
    let now = process_table::process(recorded.pid)?;
    if now.start_time != recorded.start_time || now.pgid != recorded.pgid || now.state == 'Z' {
        return None;
    }
    let in_cgroup = recorded
        .cgroup
        .is_some_and(|cgroup| crate::sys::cgroup::run_pids(cgroup).contains(&recorded.pid));
    let marked =
        || process_table::environ_var(recorded.pid, RUN_VAR).as_deref() == Some(recorded.run_token);
    if !in_cgroup && !marked() {
        return None;
    }
    Some(HeldProcess {
        id: ProcessId::from(&now),
        pidfd,
    })
}

/// Signals each process of `members` through a verified pidfd. Returns how many were signalled.
pub fn signal_all(members: &[ProcessInfo], signal: i32) -> usize {
    members
        .iter()
        .filter_map(hold)
        .filter(|held| pidfd_signal(&held.pidfd, signal).is_ok())
        .count()
}

/// Waits, blocking, until the process `id` has ended or `limit` has passed; returns whether it
/// has ended (a process that does not live, or whose pid now belongs to another, has).
pub fn wait_gone(id: ProcessId, limit: std::time::Duration) -> bool {
    let Ok(pidfd) = open_pidfd(id.pid) else {
        return true;
    };
    // Checked after the pidfd is open, so the pidfd is the process we mean.
    match process_table::process(id.pid) {
        Some(now) if now.start_time == id.start_time && now.state != 'Z' => {}
        _ => return true,
    }
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let timeout = rustix::event::Timespec::try_from(left).unwrap_or_default();
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            // A pidfd polls readable once its process has exited.
            Ok(ready) if ready > 0 => return true,
            Ok(_) => return false,
            Err(rustix::io::Errno::INTR) if !left.is_zero() => continue,
            Err(_) => return false,
        }
    }
}

/// Waits until the process behind `pidfd` has exited (a pidfd polls readable at exit).
pub async fn exited(pidfd: OwnedFd) -> io::Result<()> {
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the descriptor stays open and refers
    // to the same pidfd for the AsyncFd's whole life.
    let fd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
        .map_err(io::Error::from)?;
    let _guard = fd.readable().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: i32, ppid: i32, sid: i32) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            pgid: sid,
            sid,
            start_time: pid as u64,
            uid: 0,
            state: 'S',
            comm: "x".into(),
        }
    }

    #[test]
    fn attributes_descendants_orphans_and_strays() {
        // Owners: api's only instance, web's instances 0 and 1.
        let names = [("api", 0), ("web", 0), ("web", 1)];
        let leaders = HashMap::from([(10, 0), (20, 1), (50, 2)]);
        let owners = Owners {
            supervisor_pid: 1,
            adopted_root: None,
            run_token: "run",
            marks: &names,
            leaders: &leaders,
            ignore: &[99],
        };
        let table = vec![
            process(1, 0, 1),
            process(10, 1, 10),   // api leader
            process(11, 10, 10),  // api child
            process(12, 11, 12),  // api grandchild that called setsid
            process(20, 1, 20),   // web leader
            process(30, 1, 30),   // orphan with a marker naming web
            process(31, 30, 30),  // its child
            process(40, 1, 40),   // orphan without marker, own session: a stray
            process(41, 1, 10),   // orphan without marker in api's session
            process(99, 1, 99),   // the sentinel: ignored
            process(500, 0, 500), // not ours
            process(50, 1, 50),   // web:1's leader
            process(60, 1, 60),   // orphan with a marker naming web:1
        ];
        let environ = |pid: i32, key: &str| match (pid, key) {
            (30 | 60, RUN_VAR) => Some("run".to_string()),
            (30 | 60, SERVICE_VAR) => Some("web".to_string()),
            (60, INSTANCE_VAR) => Some("1".to_string()),
            _ => None,
        };
        let ownership = attribute(&table, &owners, environ);
        let pids = |service| {
            ownership
                .of(service)
                .iter()
                .map(|p| p.pid)
                .collect::<Vec<_>>()
        };
        assert_eq!(pids(0), vec![10, 11, 12, 41]);
        assert_eq!(pids(1), vec![20, 30, 31]);
        assert_eq!(pids(2), vec![50, 60]);
        assert_eq!(
            ownership.strays.iter().map(|p| p.pid).collect::<Vec<_>>(),
            vec![40]
        );
        assert_eq!(ownership.total(), 10);
    }

    #[test]
    fn a_marker_from_another_run_is_not_ours() {
        let names = [("api", 0)];
        let leaders = HashMap::new();
        let owners = Owners {
            supervisor_pid: 1,
            adopted_root: None,
            run_token: "mine",
            marks: &names,
            leaders: &leaders,
            ignore: &[],
        };
        let table = vec![process(5, 1, 5)];
        let environ = |_: i32, key: &str| match key {
            RUN_VAR => Some("other".to_string()),
            _ => Some("api".to_string()),
        };
        let ownership = attribute(&table, &owners, environ);
        assert!(ownership.of(0).is_empty());
        assert_eq!(ownership.strays.len(), 1);
    }

    #[test]
    fn zombies_are_not_members() {
        let names = [("api", 0)];
        let leaders = HashMap::from([(10, 0)]);
        let owners = Owners {
            supervisor_pid: 1,
            adopted_root: None,
            run_token: "r",
            marks: &names,
            leaders: &leaders,
            ignore: &[],
        };
        let mut zombie = process(10, 1, 10);
        zombie.state = 'Z';
        let ownership = attribute(&[zombie], &owners, |_, _| None);
        assert!(ownership.is_empty());
    }
}
