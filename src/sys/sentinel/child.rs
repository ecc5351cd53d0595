//! The sentinel beside a foreground run: wrangle's child, watching a pipe.
//!
//! wrangle starts `wrangle __sentinel` in its own session with the read end of a pipe as stdin
//! and keeps the only write end (close-on-exec, so no service inherits it). It writes the run's
//! token, its cgroup and the grace period, and `done` when it has stopped everything itself. When
//! wrangle dies any other way the kernel closes the pipe, the sentinel reads end-of-file and stops
//! the run: SIGTERM to every process of the run (the leaders already got it as their death
//! signal), the grace period, then SIGKILL to the whole run cgroup when there is one
//! (`cgroup.kill`) and to every process carrying the run's `WRANGLE_RUN` token, until none is
//! left.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{COMMAND, KILL_LIMIT, MAX_GRACE};
use crate::sys::memory::Releasable;
use crate::sys::process_table;
use crate::sys::reaper::{ExitStatus, Reaper};
use crate::sys::spawn::{Output, SpawnRequest};
use crate::sys::tree::{self, RUN_VAR};

/// wrangle's side of a running sentinel.
pub struct Sentinel {
    pub pid: i32,
    pipe: File,
    exit: tokio::sync::oneshot::Receiver<ExitStatus>,
}

impl Sentinel {
    /// Starts `wrangle __sentinel` for the run identified by `run_token`.
    pub fn start(
        reaper: &Reaper,
        run_token: &str,
        cgroup: Option<&Path>,
        grace: Duration,
    ) -> io::Result<Sentinel> {
        let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let exe = std::env::current_exe()?;
        let mut request = SpawnRequest {
            argv: vec![exe.to_string_lossy().into_owned(), COMMAND.to_string()],
            cwd: PathBuf::from("/"),
            env: Default::default(),
            env_remove: vec![RUN_VAR.to_string()],
            output: Output::Discard,
            // The sentinel must outlive wrangle: that is its whole purpose.
            death_signal: None,
            cgroup: None,
            stdin: Some(read_end),
            listen: None,
            limits: Default::default(),
            credentials: None,
        };
        let (child, exit) = reaper.spawn(&mut request)?;
        let mut pipe = File::from(write_end);
        // One write: the sentinel reads it all at once, then only waits.
        let mut settings = format!("{run_token}\n");
        if let Some(cgroup) = cgroup {
            settings.push_str(&format!("cgroup {}\n", cgroup.display()));
        }
        settings.push_str(&format!("grace {}\nwait\n", grace.as_millis()));
        pipe.write_all(settings.as_bytes())?;
        Ok(Sentinel {
            pid: child.pid,
            pipe,
            exit,
        })
    }

    /// Tells the sentinel that wrangle stopped everything itself, and waits (briefly) for it to
    /// exit, so wrangle never leaves even its own helper behind.
    pub async fn dismiss(mut self) {
        // If the sentinel is already gone there is nothing to dismiss.
        let _ = self.pipe.write_all(b"done\n");
        drop(self.pipe);
        let _ = tokio::time::timeout(Duration::from_millis(500), self.exit).await;
    }
}

/// The body of `wrangle __sentinel`: waits on `input` (its stdin), then cleans up if wrangle
/// died. Returns the number of processes it had to kill.
pub fn watch(input: BorrowedFd<'_>) -> usize {
    // Terminal and polite signals must not take the sentinel down before it can do its job; it
    // leaves when wrangle says `done` or when its pipe closes.
    super::ignore_polite_signals();
    let mut received: Vec<u8> = Vec::new();
    let mut lines_read = 0;
    let mut run_token = None;
    let mut cgroup = None;
    let mut grace = Duration::ZERO;
    let mut settled = false;
    let mut chunk = [0u8; 512];
    loop {
        if settled {
            // Everything is said: from here on the sentinel only waits.
            let releasable = Releasable::find();
            releasable.release();
        }
        let read = match rustix::io::read(input, &mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        };
        if received.len() < MAX_INPUT {
            received.extend_from_slice(&chunk[..read]);
        }
        settled = false;
        while let Some(end) = memchr::memchr(b'\n', &received) {
            let line: Vec<u8> = received.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            lines_read += 1;
            if lines_read == 1 {
                run_token = Some(line);
            } else if line == "done" {
                return 0;
            } else if line == "wait" {
                settled = true;
            } else if let Some(path) = line.strip_prefix("cgroup ") {
                cgroup = Some(PathBuf::from(path));
            } else if let Some(millis) = line.strip_prefix("grace ") {
                grace = Duration::from_millis(millis.parse().unwrap_or(0)).min(MAX_GRACE);
            }
        }
    }
    let Some(run_token) = run_token else {
        return 0;
    };
    // wrangle is gone: first the polite way, as a stop would have done.
    // Processes that appear meanwhile (a service forking as it stops) get SIGTERM too.
    let deadline = Instant::now() + grace;
    let mut signalled = HashSet::new();
    loop {
        let run = members(&run_token, cgroup.as_deref());
        if run.is_empty() || Instant::now() >= deadline {
            break;
        }
        let new: Vec<_> = run
            .into_iter()
            .filter(|info| signalled.insert(tree::ProcessId::from(info)))
            .collect();
        tree::signal_all(&new, rustix::process::Signal::TERM.as_raw());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Then SIGKILL. The cgroup, when there is one, is exact; the marker scan catches the rest.
    if let Some(cgroup) = &cgroup {
        crate::sys::cgroup::kill_and_remove(cgroup);
    }
    kill_marked(&run_token, KILL_LIMIT)
}

/// The most the sentinel keeps of what wrangle writes before `wait` (a token, a path, a number).
const MAX_INPUT: usize = 64 * 1024;

/// Every live process of the run: those carrying its token, and those in its cgroup.
fn members(run_token: &str, cgroup: Option<&Path>) -> Vec<process_table::ProcessInfo> {
    let in_cgroup: Vec<i32> = cgroup
        .iter()
        .flat_map(|path| crate::sys::cgroup::run_pids(path))
        .collect();
    let own_pid = std::process::id() as i32;
    process_table::scan()
        .into_iter()
        .filter(|info| info.pid != own_pid && info.state != 'Z')
        .filter(|info| {
            in_cgroup.contains(&info.pid)
                || process_table::environ_var(info.pid, RUN_VAR).as_deref() == Some(run_token)
        })
        .collect()
}

/// SIGKILLs every process whose environment carries `run_token`, rescanning until none is left
/// (a dying parent may have forked meanwhile) or `limit` has passed.
pub fn kill_marked(run_token: &str, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let own_pid = std::process::id() as i32;
    let mut killed = 0;
    loop {
        let marked: Vec<_> = process_table::scan()
            .into_iter()
            .filter(|info| info.pid != own_pid && info.state != 'Z')
            .filter(|info| {
                process_table::environ_var(info.pid, RUN_VAR).as_deref() == Some(run_token)
            })
            .collect();
        if marked.is_empty() || Instant::now() >= deadline {
            return killed;
        }
        killed += tree::signal_all(&marked, 9);
        std::thread::sleep(Duration::from_millis(5));
    }
}
