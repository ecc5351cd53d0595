//! The sentinel above the daemon: `wrangle __sentinel --daemon ARGS` starts
//! `wrangle __daemon --sentinel-fd N ARGS` as its only child and stays its parent for the
//! daemon's whole life.
//!
//! # Theory of operation
//! The sentinel is a child subreaper, so every process of the run stays its descendant, and it
//! waits, in one `poll`, for three things:
//! - the daemon's end (its pidfd): the sentinel reaps it, then stops every descendant left
//!   (SIGTERM, the grace period, then SIGKILL; the run's cgroup is killed with `cgroup.kill` when
//!   there is one) until it has no child at all, which proves nothing is left. When the daemon
//!   died, or left anything behind, it writes a [`Report`] and a line in `daemon.log`. It exits
//!   with the daemon's code (1 when the daemon was killed by a signal), which `up -d` passes on
//!   while it is still attached;
//! - a message on the link from the daemon ([`ParentLink`], a socket pair, see [`link`]): lines
//!   `grace MILLIS`, `cgroup PATH`, `log PATH`, `report PATH` (sent before the first service
//!   starts); `detached`, after which the sentinel lets go of the pipes to `up -d` so that
//!   `up -d` sees end-of-file; `stopping` (the run is being stopped on purpose); `hold TAG` with
//!   descriptors, which the sentinel keeps (the project lock, each `[sockets]` socket, the read
//!   ends of each instance's output pipes), and `release TAG`, which closes them;
//! - SIGTERM, SIGINT, SIGHUP or SIGQUIT (blocked, read from a signalfd): passed on to the
//!   daemon, which stops everything in order; SIGCHLD: a child ended, reaped at once (leaders a
//!   dead daemon left are the sentinel's children: their end is told to the daemon on the link,
//!   `exited PID code N` or `exited PID signal N`).
//!
//! # A successor
//! When the daemon died (a signal, or a panic's code 101) after it said `detached`, and not
//! while `stopping`, and the sentinel holds the lock, it starts `wrangle __daemon --adopt` with
//! every held descriptor inherited, their tags as the first message on the new link (`held FD
//! TAG`), and notes it in `daemon.log`. A successor that exits before it says `detached` (it took
//! over), or within [`SETTLED`] of its start, counts as failed: the next one waits [`REBIRTHS`], and after the last the sentinel stops
//! the run instead. The successor's end is watched like the first daemon's.
//!
//! # Caveats
//! The sentinel keeps stdout and stderr (the pipes to `up -d`) until the daemon detaches, so that
//! a daemon killed during start-up is reported by the sentinel and `up -d` learns its code.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::WaitOptions;

use super::link::{self, Received};
use super::report::Report;
use super::{ADOPT_OPTION, KILL_LIMIT, LINK_OPTION, MAX_GRACE};
use crate::sys::inherit::Inherit;
use crate::sys::memory::Releasable;
use crate::sys::process_table::{self, ProcessInfo};
use crate::sys::tree::{self, ProcessId};

/// The signals passed on to the daemon.
const FORWARDED: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// The signals read from the signalfd: those passed on, and children ending.
const WATCHED: [i32; 5] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGCHLD,
];

/// The most entries the sentinel holds (two pipes per instance, the sockets, the lock); the
/// daemon's further ones are closed, and their services cannot be taken over by a successor.
const MAX_HELD: usize = 16 * 1024;

/// The body of `wrangle __sentinel --daemon ARGS`; returns the exit code.
pub fn run(daemon_args: Vec<OsString>) -> u8 {
    let watch = match Watch::start(daemon_args) {
        Ok(watch) => watch,
        Err(error) => {
            eprintln!("error: cannot start the daemon: {error}");
            return 1;
        }
    };
    watch.run()
}

/// What the daemon told the sentinel.
#[derive(Debug)]
struct Settings {
    grace: Duration,
    cgroup: Option<PathBuf>,
    log: Option<PathBuf>,
    report: Option<PathBuf>,
    detached: bool,
    /// The daemon is stopping the run on purpose (`down`, a signal).
    stopping: bool,
}

impl Settings {
    fn apply(&mut self, line: &str) {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "grace" => {
                if let Ok(millis) = value.parse() {
                    self.grace = Duration::from_millis(millis).min(MAX_GRACE);
                }
            }
            "cgroup" => self.cgroup = Some(PathBuf::from(value)),
            "log" => self.log = Some(PathBuf::from(value)),
            "report" => self.report = Some(PathBuf::from(value)),
            "detached" => self.detached = true,
            "stopping" => self.stopping = true,
            _ => {}
        }
    }
}

/// A started daemon and what the sentinel watches it with.
struct Watch {
    daemon: ProcessId,
    pidfd: OwnedFd,
    signals: OwnedFd,
    link: Option<OwnedFd>,
    settings: Settings,
    /// What the daemon gave the sentinel to hold, by tag (see [`ParentLink::hold`]).
    held: Vec<(String, Vec<OwnedFd>)>,
    /// The arguments the daemon was started with, for a successor.
    daemon_args: Vec<OsString>,
    /// Successors in a row that died before they had taken over, or soon after (see
    /// [`REBIRTHS`] and [`SETTLED`]).
    failed_rebirths: u32,
    /// When the last successor was started.
    reborn_at: Option<Instant>,
    /// The daemon now running is a successor (it takes the run over; it does not start it).
    successor: bool,
    /// The last daemon that said it was up (`detached`): the one whose record the state file
    /// holds, which the report names.
    recorded: ProcessId,
}

/// Successors in a row that may die before taking over (a daemon that cannot start: a broken
/// config, a bug) before the sentinel stops the run instead; the delay before each one.
const REBIRTHS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(500),
    Duration::from_secs(2),
];

/// A successor that dies sooner than this after it was started counts as failed even if it had
/// taken over: a daemon that crashes on every take-over must not be restarted in a tight loop.
const SETTLED: Duration = Duration::from_secs(10);

/// A daemon as started: its pid, a pidfd and the sentinel's end of its link.
struct Started {
    daemon: ProcessId,
    pidfd: OwnedFd,
    link: OwnedFd,
}

/// Starts `wrangle __daemon --sentinel-fd N ARGS` (with `--adopt` and the held descriptors
/// inherited when `held` is given, their tags told on the link first).
fn start_daemon(
    daemon_args: &[OsString],
    held: Option<&[(String, Vec<OwnedFd>)]>,
) -> io::Result<Started> {
    let (link, daemon_end) = link::pair()?;
    let exe = std::env::current_exe()?;
    let daemon_fd = daemon_end.as_raw_fd();
    let mut keep = vec![daemon_fd];
    let mut command = Command::new(exe);
    command
        .arg("__daemon")
        .arg(LINK_OPTION)
        .arg(daemon_fd.to_string());
    if let Some(held) = held {
        // One message: what each inherited descriptor is. Read by the successor first.
        let mut told = String::new();
        for (tag, fds) in held {
            for fd in fds {
                told.push_str(&format!("held {} {tag}\n", fd.as_raw_fd()));
                keep.push(fd.as_raw_fd());
            }
        }
        told.truncate(told.len().min(link::MAX_MESSAGE_BYTES));
        link::send(link.as_fd(), told.as_bytes(), &[], false)?;
        command.arg(ADOPT_OPTION);
    }
    command.args(daemon_args);
    // `Inherit::apply` wants them in order.
    keep.sort_unstable();
    let inherit = Inherit::prepare()?;
    let nofile = crate::sys::nofile::original().copied();
    // SAFETY: sigprocmask, setrlimit, close_range and fcntl are plain system calls on prepared
    // values.
    unsafe {
        command.pre_exec(move || {
            // The forwarded signals are blocked here; the daemon must receive them.
            crate::sys::spawn::unblock_all_signals()?;
            if let Some(limit) = &nofile {
                crate::sys::nofile::restore_in_child(limit)?;
            }
            inherit.apply(&keep).map_err(io::Error::from_raw_os_error)
        });
    }
    let child = command.spawn()?;
    drop(daemon_end);
    let pid = child.id() as i32;
    // Our unreaped child: its pid cannot be reused before we wait for it.
    let pidfd = crate::sys::spawn::open_pidfd(pid)?;
    // Dropping `child` neither waits nor kills.
    drop(child);
    let start_time = process_table::process(pid)
        .map(|info| info.start_time)
        .unwrap_or_default();
    Ok(Started {
        daemon: ProcessId { pid, start_time },
        pidfd,
        link,
    })
}

impl Watch {
    fn start(daemon_args: Vec<OsString>) -> io::Result<Watch> {
        if let Err(error) = crate::sys::spawn::become_subreaper() {
            eprintln!(
                "warning: the sentinel cannot become a child subreaper ({error}); processes that leave their service may escape it"
            );
        }
        let signals = block_forwarded_signals()?;
        // It holds two pipes per instance: as many descriptors as it may have (the daemon is
        // given back the limit the sentinel was started with).
        let _ = crate::sys::nofile::raise_soft_to_hard();
        let started = start_daemon(&daemon_args, None)?;
        Ok(Watch {
            daemon: started.daemon,
            pidfd: started.pidfd,
            signals,
            link: Some(started.link),
            held: Vec::new(),
            daemon_args,
            failed_rebirths: 0,
            reborn_at: None,
            successor: false,
            recorded: started.daemon,
            settings: Settings {
                grace: MAX_GRACE,
                cgroup: None,
                log: None,
                report: None,
                detached: false,
                stopping: false,
            },
        })
    }

    fn run(mut self) -> u8 {
        let status = loop {
            let status = self.wait_for_the_daemon();
            // Whatever the daemon said last, before it went.
            self.read_link();
            if !self.rebirth(status) {
                break status;
            }
        };
        // The project lock among them: the next command may take it while we stop the run.
        self.held.clear();
        let stopped = stop_descendants(self.settings.grace, self.settings.cgroup.as_deref());
        let code = match status {
            Some(Ending::Code(code)) => u8::try_from(code).unwrap_or(1),
            Some(Ending::Signal(_)) | None => 1,
        };
        let died = !matches!(status, Some(Ending::Code(_)));
        if died || !stopped.is_empty() {
            self.tell(status, &stopped);
        }
        code
    }

    /// After the daemon ended with `status`: starts a successor that takes the run over, when the
    /// daemon died (a signal, a panic) after start-up and not while stopping the run on purpose,
    /// or when a successor could not take over (it exited before saying so: a broken config),
    /// and the sentinel holds the project lock for it. Returns whether it did.
    fn rebirth(&mut self, status: Option<Ending>) -> bool {
        let died = matches!(
            status,
            Some(Ending::Signal(_)) | Some(Ending::Code(PANIC_CODE))
        );
        let died_young = self
            .reborn_at
            .is_some_and(|reborn| reborn.elapsed() < SETTLED);
        let successor_failed = self.successor && (!self.settings.detached || died_young);
        let holds_lock = self
            .held
            .iter()
            .any(|(tag, fds)| tag == "lock" && !fds.is_empty());
        if !(died || successor_failed) || self.settings.stopping || !holds_lock {
            return false;
        }
        if successor_failed {
            self.failed_rebirths += 1;
        } else if self.settings.detached {
            self.failed_rebirths = 0;
        } else {
            // The first daemon died during start-up: `up -d` reports it, nothing was running.
            return false;
        }
        let Some(delay) = REBIRTHS.get(self.failed_rebirths as usize) else {
            self.note(&format!(
                "{} successive daemons died before taking over, or soon after; stopping the run",
                self.failed_rebirths
            ));
            return false;
        };
        // Leaders are our children now; their ends are told to the successor once it runs.
        std::thread::sleep(*delay);
        let previous = self.daemon.pid;
        match start_daemon(&self.daemon_args, Some(&self.held)) {
            Ok(started) => {
                self.daemon = started.daemon;
                self.pidfd = started.pidfd;
                self.link = Some(started.link);
                self.settings.detached = false;
                self.successor = true;
                self.reborn_at = Some(Instant::now());
                self.note(&format!(
                    "the daemon (PID {previous}) {}; its services keep running, taken over by a new daemon (PID {})",
                    describe(status),
                    self.daemon.pid
                ));
                // Exits of services that ended meanwhile are reported to the successor.
                self.reap_children();
                true
            }
            Err(error) => {
                self.note(&format!(
                    "the daemon (PID {previous}) {} and no successor could be started ({error}); stopping the run",
                    describe(status)
                ));
                false
            }
        }
    }

    /// A line in the daemon's log, the sentinel's own.
    fn note(&self, message: &str) {
        if let Some(log) = &self.settings.log {
            let _ = append_line(log, &format!("wrangle  ! {message}"));
        }
    }

    /// Waits until the daemon has ended and reaps it; passes signals on, and reaps the run's
    /// other processes that are the sentinel's children (leaders of a dead daemon's services),
    /// telling the daemon how they ended.
    fn wait_for_the_daemon(&mut self) -> Option<Ending> {
        // Before the first wait, and after each message: from there on the sentinel only waits.
        let mut settled = true;
        loop {
            let releasable = settled.then(Releasable::find);
            let link = self.link.as_ref().unwrap_or(&self.pidfd);
            let mut fds = [
                PollFd::new(&self.pidfd, PollFlags::IN),
                PollFd::new(&self.signals, PollFlags::IN),
                PollFd::new(link, PollFlags::IN),
            ];
            let watched = if self.link.is_some() { 3 } else { 2 };
            if let Some(releasable) = &releasable {
                releasable.release();
            }
            if let Err(error) = rustix::event::poll(&mut fds[..watched], None)
                && error != rustix::io::Errno::INTR
            {
                // Cannot wait: sleep a little rather than spin, and look again.
                std::thread::sleep(Duration::from_millis(100));
            }
            let ready = fds.map(|fd| !fd.revents().is_empty());
            settled = false;
            if watched == 3 && ready[2] {
                self.read_link();
                settled = true;
            }
            if ready[1] {
                self.forward_signals();
            }
            if (ready[0] || ready[1])
                && let Some(ending) = self.reap_children()
            {
                return ending;
            }
        }
    }

    /// Reaps every child that ended: the daemon's ending is returned, any other child's is told
    /// to the daemon (`exited PID code N` or `exited PID signal N`).
    fn reap_children(&mut self) -> Option<Option<Ending>> {
        let mut daemon_ending = None;
        loop {
            let (pid, status) = match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => (pid.as_raw_nonzero().get(), status),
                Ok(None) => break,
                Err(rustix::io::Errno::INTR) => continue,
                // ECHILD: no child at all, so the daemon too is gone.
                Err(_) => {
                    daemon_ending.get_or_insert(None);
                    break;
                }
            };
            let ending = match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => Ending::Code(code),
                (None, Some(signal)) => Ending::Signal(signal),
                (None, None) => continue,
            };
            if pid == self.daemon.pid {
                daemon_ending = Some(Some(ending));
                continue;
            }
            if let Some(link) = &self.link {
                let told = match ending {
                    Ending::Code(code) => format!("exited {pid} code {code}\n"),
                    Ending::Signal(signal) => format!("exited {pid} signal {signal}\n"),
                };
                // Never blocks: a daemon that does not read loses the status (it then sees the
                // end on its pidfd, without a status).
                let _ = link::send(link.as_fd(), told.as_bytes(), &[], false);
            }
        }
        daemon_ending
    }

    /// Reads every message the daemon sent and applies its lines; keeps what it gave to hold.
    fn read_link(&mut self) {
        let mut buffer = vec![0u8; link::MAX_MESSAGE_BYTES];
        loop {
            let Some(end) = &self.link else { return };
            let (text, mut fds) = match link::receive(end.as_fd(), &mut buffer) {
                Ok(Received::Message { text, fds }) => (text, fds),
                Ok(Received::End) => {
                    self.link = None;
                    return;
                }
                Ok(Received::Nothing) | Err(_) => return,
            };
            for line in text.split(|byte| *byte == b'\n') {
                let line = String::from_utf8_lossy(line);
                if let Some(tag) = line.strip_prefix("hold ") {
                    if self.held.len() < MAX_HELD {
                        self.held.push((tag.to_string(), std::mem::take(&mut fds)));
                    }
                } else if let Some(tag) = line.strip_prefix("release ") {
                    self.held.retain(|(held, _)| held != tag);
                } else {
                    let was_detached = self.settings.detached;
                    self.settings.apply(&line);
                    if self.settings.detached && !was_detached {
                        let_go_of_the_caller();
                        self.recorded = self.daemon;
                    }
                }
            }
        }
    }

    fn forward_signals(&self) {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        while let Ok(read) = rustix::io::read(&self.signals, &mut info) {
            if read < info.len() {
                return;
            }
            // `ssi_signo` is the first field of `struct signalfd_siginfo`.
            let signal = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32;
            // A child's end is read by `reap_children`, not passed on.
            if FORWARDED.contains(&signal) {
                let _ = crate::sys::spawn::pidfd_signal(&self.pidfd, signal);
            }
        }
    }

    /// Says what happened: on stderr (read by `up -d` while attached), in `daemon.log`, and in
    /// the report the next command reads.
    fn tell(&self, status: Option<Ending>, stopped: &[(i32, String)]) {
        let how = match status {
            Some(Ending::Code(code)) if code != PANIC_CODE => {
                format!("exited with code {code} leaving processes behind")
            }
            other => describe(other),
        };
        let message = format!(
            "the daemon (PID {}) {how}; its sentinel stopped {} process(es) of its run",
            self.daemon.pid,
            stopped.len()
        );
        if !self.settings.detached {
            eprintln!("error: {message}");
        }
        if let Some(log) = &self.settings.log {
            let _ = append_line(log, &format!("wrangle  ! {message}"));
        }
        if let Some(path) = &self.settings.report {
            let report = Report {
                daemon_pid: self.recorded.pid,
                daemon_start_time: self.recorded.start_time,
                stopped: stopped.to_vec(),
            };
            if let Err(error) = report.write(path)
                && let Some(log) = &self.settings.log
            {
                let _ = append_line(
                    log,
                    &format!("wrangle  ! cannot write {}: {error}", path.display()),
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Code(i32),
    Signal(i32),
}

/// The code of a Rust program that panicked.
const PANIC_CODE: i32 = 101;

/// How a daemon that died ended, in words.
fn describe(status: Option<Ending>) -> String {
    match status {
        Some(Ending::Signal(signal)) => format!("was killed by signal {signal}"),
        Some(Ending::Code(PANIC_CODE)) => "panicked".to_string(),
        Some(Ending::Code(code)) => format!("exited with code {code}"),
        None => "was lost".to_string(),
    }
}

/// Blocks the watched signals and returns a signalfd that reads them.
fn block_forwarded_signals() -> io::Result<OwnedFd> {
    // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain libc calls on a local set. The sentinel is single-threaded, so the process
    // mask is its one thread's mask; the daemon is started with an empty one.
    let fd = unsafe {
        libc::sigemptyset(&mut set);
        for signal in WATCHED {
            libc::sigaddset(&mut set, signal);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Points stdout and stderr at /dev/null, closing our ends of the pipes to `up -d`.
fn let_go_of_the_caller() {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    let _ = rustix::stdio::dup2_stdout(&null);
    let _ = rustix::stdio::dup2_stderr(&null);
}

/// Appends `line` to the daemon's log, which must be a regular file of ours (never a link).
fn append_line(path: &Path, line: &str) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(fd.as_fd())?;
    if !rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file()
        || stat.st_uid != rustix::process::geteuid().as_raw()
    {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a regular file of ours",
        ));
    }
    File::from(fd).write_all(format!("{line}\n").as_bytes())
}

/// Stops every descendant: SIGTERM to each (and to those that appear), until none is left or
/// `grace` has passed; then SIGKILL (the whole cgroup at once when there is one) until the
/// sentinel has no child left or [`KILL_LIMIT`] has passed. Returns what was signalled.
pub fn stop_descendants(grace: Duration, cgroup: Option<&Path>) -> Vec<(i32, String)> {
    let own = rustix::process::getpid().as_raw_nonzero().get();
    let mut signalled: HashSet<ProcessId> = HashSet::new();
    let mut stopped = Vec::new();
    let mut note = |found: &[ProcessInfo], stopped: &mut Vec<(i32, String)>| -> Vec<ProcessInfo> {
        let new: Vec<ProcessInfo> = found
            .iter()
            .filter(|info| signalled.insert(ProcessId::from(*info)))
            .cloned()
            .collect();
        for info in &new {
            let command = process_table::cmdline(info.pid).unwrap_or_else(|| info.comm.clone());
            stopped.push((info.pid, command));
        }
        new
    };
    let deadline = Instant::now() + grace;
    while reap_all() && Instant::now() < deadline {
        let found = descendants(own, &process_table::scan());
        let new = note(&found, &mut stopped);
        tree::signal_all(&new, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(20));
    }
    if !reap_all() {
        return stopped;
    }
    if let Some(cgroup) = cgroup {
        crate::sys::cgroup::kill_and_remove(cgroup);
    }
    let deadline = Instant::now() + KILL_LIMIT;
    while reap_all() && Instant::now() < deadline {
        let found = descendants(own, &process_table::scan());
        note(&found, &mut stopped);
        tree::signal_all(&found, libc::SIGKILL);
        std::thread::sleep(Duration::from_millis(5));
    }
    stopped
}

/// Reaps every child that has ended; returns whether any child is left.
fn reap_all() -> bool {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some(_)) => continue,
            Ok(None) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            // ECHILD: no child at all.
            Err(_) => return false,
        }
    }
}

/// Every live process below `root` in `table`.
fn descendants(root: i32, table: &[ProcessInfo]) -> Vec<ProcessInfo> {
    let mut found = Vec::new();
    let mut parents = vec![root];
    let mut seen: HashSet<i32> = HashSet::from([root]);
    while let Some(parent) = parents.pop() {
        for info in table.iter().filter(|info| info.ppid == parent) {
            if seen.insert(info.pid) {
                parents.push(info.pid);
                if info.state != 'Z' {
                    found.push(info.clone());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: i32, ppid: i32, state: char) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            pgid: pid,
            sid: pid,
            start_time: 1,
            uid: 0,
            state,
            comm: format!("p{pid}"),
        }
    }

    #[test]
    fn descendants_are_every_live_process_below_the_root() {
        let table = vec![
            info(1, 0, 'S'),
            info(10, 1, 'S'),  // the sentinel
            info(11, 10, 'S'), // its child
            info(12, 11, 'S'), // a grandchild
            info(13, 12, 'Z'), // a zombie: not live
            info(14, 10, 'R'), // an orphan re-parented to the sentinel
            info(20, 1, 'S'),  // a stranger
            info(21, 20, 'S'), // the stranger's child
        ];
        let mut pids: Vec<i32> = descendants(10, &table).iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        assert_eq!(pids, vec![11, 12, 14]);
        assert!(descendants(99, &table).is_empty());
    }

    #[test]
    fn settings_are_read_line_by_line_and_bounded() {
        let mut settings = Settings {
            grace: MAX_GRACE,
            cgroup: None,
            log: None,
            report: None,
            detached: false,
            stopping: false,
        };
        for line in [
            "grace 1500",
            "cgroup /sys/fs/cgroup/x y",
            "log /tmp/d.log",
            "report /tmp/r",
            "something new",
        ] {
            settings.apply(line);
        }
        assert_eq!(settings.grace, Duration::from_millis(1500));
        assert_eq!(
            settings.cgroup.as_deref(),
            Some(Path::new("/sys/fs/cgroup/x y"))
        );
        assert!(!settings.detached);
        settings.apply("grace 999999999");
        assert_eq!(settings.grace, MAX_GRACE);
        settings.apply("grace x");
        assert_eq!(settings.grace, MAX_GRACE);
        settings.apply("detached");
        assert!(settings.detached);
    }
}
