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
//!   daemon, which stops everything in order.
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
use rustix::process::{Pid, WaitOptions};

use super::link::{self, Received};
use super::report::Report;
use super::{KILL_LIMIT, LINK_OPTION, MAX_GRACE};
use crate::sys::inherit::Inherit;
use crate::sys::memory::Releasable;
use crate::sys::process_table::{self, ProcessInfo};
use crate::sys::tree::{self, ProcessId};

/// The signals passed on to the daemon.
const FORWARDED: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

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
}

impl Watch {
    fn start(daemon_args: Vec<OsString>) -> io::Result<Watch> {
        if let Err(error) = crate::sys::spawn::become_subreaper() {
            eprintln!(
                "warning: the sentinel cannot become a child subreaper ({error}); processes that leave their service may escape it"
            );
        }
        let signals = block_forwarded_signals()?;
        let (link, daemon_end) = link::pair()?;
        let exe = std::env::current_exe()?;
        let daemon_fd = daemon_end.as_raw_fd();
        let mut command = Command::new(exe);
        command
            .arg("__daemon")
            .arg(LINK_OPTION)
            .arg(daemon_fd.to_string())
            .args(daemon_args);
        let inherit = Inherit::prepare()?;
        // SAFETY: sigprocmask, close_range and fcntl are plain system calls on prepared values.
        unsafe {
            command.pre_exec(move || {
                // The forwarded signals are blocked here; the daemon must receive them.
                crate::sys::spawn::unblock_all_signals()?;
                inherit
                    .apply(&[daemon_fd])
                    .map_err(io::Error::from_raw_os_error)
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
        Ok(Watch {
            daemon: ProcessId { pid, start_time },
            pidfd,
            signals,
            link: Some(link),
            held: Vec::new(),
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
        let status = self.wait_for_the_daemon();
        // Whatever the daemon said last, before it went.
        self.read_link();
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

    /// Waits until the daemon has ended and reaps it; passes signals on meanwhile.
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
            if ready[0] {
                let pid = Pid::from_raw(self.daemon.pid)?;
                return match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
                    Ok(Some((_, status))) => {
                        match (status.exit_status(), status.terminating_signal()) {
                            (Some(code), _) => Some(Ending::Code(code)),
                            (None, Some(signal)) => Some(Ending::Signal(signal)),
                            (None, None) => continue,
                        }
                    }
                    Ok(None) => continue,
                    Err(_) => None,
                };
            }
        }
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
            let _ = crate::sys::spawn::pidfd_signal(&self.pidfd, signal);
        }
    }

    /// Says what happened: on stderr (read by `up -d` while attached), in `daemon.log`, and in
    /// the report the next command reads.
    fn tell(&self, status: Option<Ending>, stopped: &[(i32, String)]) {
        let how = match status {
            Some(Ending::Signal(signal)) => format!("was killed by signal {signal}"),
            Some(Ending::Code(code)) => format!("exited with code {code} leaving processes behind"),
            None => "was lost".to_string(),
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
                daemon_pid: self.daemon.pid,
                daemon_start_time: self.daemon.start_time,
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

#[derive(Debug, Clone, Copy)]
enum Ending {
    Code(i32),
    Signal(i32),
}

/// Blocks the forwarded signals and returns a signalfd that reads them.
fn block_forwarded_signals() -> io::Result<OwnedFd> {
    // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain libc calls on a local set. The sentinel is single-threaded, so the process
    // mask is its one thread's mask; the daemon is started with an empty one.
    let fd = unsafe {
        libc::sigemptyset(&mut set);
        for signal in FORWARDED {
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
