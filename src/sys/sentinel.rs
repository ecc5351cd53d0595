//! The sentinel: a tiny helper process that stops a run's services if wrangle itself is killed
//! with SIGKILL (or crashes) and so cannot stop them.
//!
//! # Theory of operation
//! Each service leader is started with `PR_SET_PDEATHSIG = SIGKILL`, but that signal reaches only
//! the leader: its children, double-forked daemons and `setsid` escapees would be re-parented to
//! init and live on. So a foreground run also starts `wrangle __sentinel` in its own session, with
//! the read end of a pipe as stdin. wrangle keeps the only write end (close-on-exec, so no service
//! inherits it). When wrangle exits normally it writes `done` first and the sentinel exits. When
//! wrangle dies any other way, the kernel closes the pipe, the sentinel reads end-of-file and
//! stops the run cleanly: SIGTERM to every process of the run (the leaders already got it as
//! their death signal), a grace period (the project's longest `stop_timeout`, at most 10 s),
//! then
//! SIGKILLs every process of the run: the whole run cgroup when there is one (`cgroup.kill`), then
//! every process carrying this run's `WRANGLE_RUN` token, until none is left.
//!
//! # Caveats
//! A process that cleared its environment and escaped the leader's session cannot be found by the
//! sentinel. The daemon uses it too, so a killed daemon leaves nothing orphaned (see
//! `daemon::state` for what the next command does if even the sentinel was killed).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sys::process_table;
use crate::sys::reaper::Reaper;
use crate::sys::spawn::{Output, SpawnRequest};
use crate::sys::tree::{self, RUN_VAR};

/// The parent's side of a running sentinel.
pub struct Sentinel {
    pub pid: i32,
    pipe: File,
    exit: tokio::sync::oneshot::Receiver<crate::sys::reaper::ExitStatus>,
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
            argv: vec![exe.to_string_lossy().into_owned(), "__sentinel".to_string()],
            cwd: std::path::PathBuf::from("/"),
            env: Default::default(),
            env_remove: vec![RUN_VAR.to_string()],
            output: Output::Discard,
            // The sentinel must outlive wrangle: that is its whole purpose.
            death_signal: None,
            cgroup: None,
            stdin: Some(read_end),
        };
        let (child, exit) = reaper.spawn(&mut request)?;
        let mut pipe = File::from(write_end);
        writeln!(pipe, "{run_token}")?;
        if let Some(cgroup) = cgroup {
            writeln!(pipe, "cgroup {}", cgroup.display())?;
        }
        writeln!(pipe, "grace {}", grace.as_millis())?;
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
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), self.exit).await;
    }
}

/// The body of `wrangle __sentinel`: waits on stdin, then cleans up if wrangle died.
/// Returns the number of processes it had to kill.
pub fn run(stdin: impl Read) -> usize {
    // Terminal and polite signals must not take the sentinel down before it can do its job; it
    // leaves when wrangle says `done` or when its pipe closes.
    ignore_polite_signals();
    let mut lines = BufReader::new(stdin).lines();
    let Some(Ok(run_token)) = lines.next() else {
        return 0;
    };
    let mut cgroup = None;
    let mut grace = Duration::ZERO;
    for line in lines {
        match line {
            Ok(line) if line == "done" => return 0,
            Ok(line) => {
                if let Some(path) = line.strip_prefix("cgroup ") {
                    cgroup = Some(PathBuf::from(path));
                } else if let Some(millis) = line.strip_prefix("grace ") {
                    grace = Duration::from_millis(millis.parse().unwrap_or(0)).min(MAX_GRACE);
                }
            }
            Err(_) => break,
        }
    }
    // wrangle is gone: first the polite way, as a stop would have done.
    // Processes that appear meanwhile (a service forking as it stops) get SIGTERM too.
    let deadline = Instant::now() + grace;
    let mut signalled = std::collections::HashSet::new();
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
    kill_marked(&run_token, Duration::from_secs(10))
}

/// The longest grace the sentinel gives a dead wrangle's services before SIGKILL.
const MAX_GRACE: Duration = Duration::from_secs(10);

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

fn ignore_polite_signals() {
    use rustix::process::Signal;
    for signal in [Signal::INT, Signal::TERM, Signal::HUP, Signal::QUIT] {
        // SAFETY: setting SIG_IGN installs no handler code; the sentinel is single-threaded and
        // spawns nothing, so the ignored disposition cannot leak into a service.
        let _ = unsafe { ignore_signal(signal) };
    }
}

/// # Safety
/// Changes a process-wide signal disposition; callers must own the process's signal handling.
unsafe fn ignore_signal(signal: rustix::process::Signal) -> io::Result<()> {
    // Neither std nor rustix's safe API can set a disposition, and a whole signal crate for one
    // SIG_IGN is not worth it: this is the C library's `signal(2)`, which std already links.
    // SAFETY: `signal(2)` with SIG_IGN takes a valid signal number and installs no handler code.
    let previous = unsafe { libc_signal(signal.as_raw(), SIG_IGN) };
    if previous == SIG_ERR {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

const SIG_IGN: usize = 1;
const SIG_ERR: usize = usize::MAX;

unsafe extern "C" {
    #[link_name = "signal"]
    fn libc_signal(signum: i32, handler: usize) -> usize;
}
