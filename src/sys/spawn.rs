//! Starting a child process the way a supervisor needs it: in its own session and process group,
//! optionally tied to our death, with its output on pipes, and with a pidfd opened before anyone
//! can reap it.
//!
//! This module only builds and starts processes. It does not wait for them: exit statuses belong
//! to [`crate::sys::reaper`], which is the only caller of [`spawn`].
//!
//! A child is started by one `clone3` that shares wrangle's memory until the child execs
//! (vfork-style, [`vfork`]), starts it in its service's cgroup and returns its pidfd. Where the
//! kernel does not offer that (or off x86_64), `std::process::Command` does the same with a fork
//! and a `pre_exec` that joins the cgroup by writing its `cgroup.procs`. Both report a failure to
//! exec as an error of the spawn, never as an exit.
//!
//! # Caveats
//! - The child side (the vfork child, or the `pre_exec` closure) runs between clone and `exec` in
//!   a process that may have several threads, so it makes only async-signal-safe calls: plain
//!   syscalls, no allocation, no locks, no logging. Everything it needs is prepared before.
//! - `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, not the process (see
//!   `man 2 PR_SET_PDEATHSIG`). Callers must spawn from a thread that lives as long as wrangle:
//!   wrangle runs a current-thread runtime on the main thread for that reason.
//! - std's `Command` resets `SIGPIPE` in the child but not the signal mask, which a child inherits
//!   (the sentinel blocks the signals it passes on to the daemon): both ways of starting a child
//!   empty the mask themselves ([`unblock_all_signals`]). wrangle never sets any other signal to
//!   `SIG_IGN` in a process that starts children, so nothing else needs resetting.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rustix::process::{Pid, PidfdFlags, Signal};

use crate::sys::inherit::Inherit;

mod clone3;
mod listen;
mod vfork;

pub use listen::ListenFds;

/// What to start.
#[derive(Debug)]
pub struct SpawnRequest {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Added to (or replacing entries of) wrangle's own environment.
    pub env: BTreeMap<String, String>,
    /// Removed from the inherited environment (e.g. wrangle's own `NOTIFY_SOCKET`).
    pub env_remove: Vec<String>,
    /// Where stdout and stderr go.
    pub output: Output,
    /// Send the child this signal when the spawning thread (wrangle's main thread) dies.
    pub death_signal: Option<i32>,
    /// The cgroup the child must start in.
    pub cgroup: Option<JoinCgroup>,
    /// Standard input; /dev/null when None.
    pub stdin: Option<OwnedFd>,
    /// Listening sockets the child receives by socket activation: at 3, 4, ... with
    /// `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` (its own pid) set (see `listen`).
    pub listen: Option<ListenFds>,
    /// Its scheduling priority and resource limits.
    pub limits: ChildLimits,
    /// The user and groups it runs as (wrangle must be root); `None`: wrangle's own.
    pub credentials: Option<Credentials>,
}

/// Who a child runs as, set between clone and exec after its limits (raising a limit or the
/// priority needs root's privileges, which this gives up) and before its parent-death signal
/// (which the kernel clears when the credentials change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    uid: rustix::process::Uid,
    gid: rustix::process::Gid,
    /// The supplementary groups, prepared here since the child may not allocate.
    groups: Vec<rustix::process::Gid>,
}

impl Credentials {
    pub fn new(uid: u32, gid: u32, groups: &[u32]) -> Credentials {
        Credentials {
            uid: rustix::process::Uid::from_raw(uid),
            gid: rustix::process::Gid::from_raw(gid),
            groups: groups
                .iter()
                .map(|gid| rustix::process::Gid::from_raw(*gid))
                .collect(),
        }
    }

    /// Groups first, then the group, then the user: each later step gives up the privilege the
    /// earlier ones need. Plain system calls for this thread only (the child has no other), no
    /// allocation.
    pub(crate) fn apply(&self) -> Result<(), rustix::io::Errno> {
        rustix::thread::set_thread_groups(&self.groups)?;
        rustix::thread::set_thread_gid(self.gid)?;
        rustix::thread::set_thread_uid(self.uid)?;
        Ok(())
    }
}

/// What a child is given besides its command (`nice`, `limits` of its service), set between
/// clone and exec by both ways of starting it. Its own children inherit it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildLimits {
    /// The scheduling priority (`setpriority`), -20 to 19.
    pub nice: Option<i32>,
    /// `RLIMIT_NOFILE`, set as the soft and the hard limit; `u64::MAX`: unlimited. Applied after
    /// the descriptor limit wrangle restores for every child, so it wins over it.
    pub nofile: Option<u64>,
    /// `RLIMIT_NPROC`, likewise.
    pub nproc: Option<u64>,
    /// `RLIMIT_CORE`, likewise.
    pub core: Option<u64>,
    /// `RLIMIT_MEMLOCK`, likewise.
    pub memlock: Option<u64>,
}

impl ChildLimits {
    /// Sets them on the calling process: for the child between clone and exec, so plain system
    /// calls on values prepared before, no allocation. Raising a hard limit or lowering the nice
    /// value needs privileges (EPERM, EACCES otherwise): the spawn fails rather than run the
    /// service without what it asked for.
    pub(crate) fn apply(&self) -> Result<(), rustix::io::Errno> {
        use rustix::process::{Resource, Rlimit};
        for (resource, limit) in [
            (Resource::Nofile, self.nofile),
            (Resource::Nproc, self.nproc),
            (Resource::Core, self.core),
            (Resource::Memlock, self.memlock),
        ] {
            if let Some(limit) = limit {
                // `None` is RLIM_INFINITY.
                let value = (limit != u64::MAX).then_some(limit);
                rustix::process::setrlimit(
                    resource,
                    Rlimit {
                        current: value,
                        maximum: value,
                    },
                )?;
            }
        }
        if let Some(nice) = self.nice {
            rustix::process::setpriority_process(None, nice)?;
        }
        Ok(())
    }
}

/// A cgroup to start a child in: its directory (for `CLONE_INTO_CGROUP`; `None` where that must
/// not be used) and its open `cgroup.procs` (for joining between clone and exec otherwise). Both
/// stay open for as long as the cgroup is used.
#[derive(Debug, Clone, Copy)]
pub struct JoinCgroup {
    pub dir: Option<RawFd>,
    pub procs: RawFd,
}

/// Where a child's stdout and stderr go.
#[derive(Debug)]
pub enum Output {
    /// /dev/null.
    Discard,
    /// Pipes read by wrangle, whose write ends the child gets reopened read-write (through
    /// `/proc/self/fd`), so the pipe always has a reader: if wrangle dies, the service's writes
    /// do not fail with EPIPE (and kill it with SIGPIPE) while it is being stopped gracefully;
    /// they only block once the pipe is full.
    Capture,
    /// wrangle's own stdout and stderr (a command the user runs through wrangle, whose output is
    /// theirs: `wrangle test -- CMD`).
    Inherit,
}

/// A started child. The pidfd refers to exactly this process for its whole life, so signals sent
/// through it can never reach a process that later reuses the pid.
#[derive(Debug)]
pub struct SpawnedChild {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Starts the child. Must only be called by the reaper, with its registry locked, so the child
/// cannot be reaped before its pidfd exists.
///
/// Uses [`vfork::spawn`] (one `clone3`, no copy of wrangle's memory, straight into the cgroup)
/// where the kernel supports it, else `std::process::Command` with a `pre_exec` that joins the
/// cgroup; both set the child up the same way.
pub(crate) fn spawn(request: &mut SpawnRequest) -> io::Result<SpawnedChild> {
    if request.argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    let null = || -> io::Result<OwnedFd> {
        use rustix::fs::{Mode, OFlags};
        Ok(rustix::fs::open(
            "/dev/null",
            OFlags::RDWR | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    };
    let stdin = match request.stdin.take() {
        Some(fd) => fd,
        None => null()?,
    };
    // The child's output ends, and our read ends of the pipes (kept until the child has its ends).
    let (stdout, stderr, readers) = match &request.output {
        Output::Discard => (null()?, null()?, None),
        Output::Inherit => (
            std::io::stdout().as_fd().try_clone_to_owned()?,
            std::io::stderr().as_fd().try_clone_to_owned()?,
            None,
        ),
        Output::Capture => {
            let (stdout_reader, stdout_writer) = held_pipe()?;
            let (stderr_reader, stderr_writer) = held_pipe()?;
            (
                stdout_writer,
                stderr_writer,
                Some((stdout_reader, stderr_reader)),
            )
        }
    };
    let death_signal = request.death_signal.and_then(Signal::from_named_raw);
    let inherit = Inherit::prepare()?;
    let placement = request
        .listen
        .as_ref()
        .map(listen::Placement::prepare)
        .transpose()?;
    let child = spawn_fast(
        request,
        &stdin,
        &stdout,
        &stderr,
        death_signal,
        &inherit,
        placement.as_ref(),
    )?;
    let (pid, pidfd) = match child {
        Some(child) => child,
        None => spawn_with_command(
            request,
            stdin,
            stdout,
            stderr,
            death_signal,
            inherit,
            placement,
        )?,
    };
    let (stdout, stderr) = match readers {
        Some((stdout, stderr)) => (Some(stdout), Some(stderr)),
        None => (None, None),
    };
    Ok(SpawnedChild {
        pid,
        pidfd,
        stdout,
        stderr,
    })
}

/// [`vfork::spawn`], or `None` when it is not available here.
fn spawn_fast(
    request: &SpawnRequest,
    stdin: &OwnedFd,
    stdout: &OwnedFd,
    stderr: &OwnedFd,
    death_signal: Option<Signal>,
    inherit: &Inherit,
    placement: Option<&listen::Placement>,
) -> io::Result<Option<(i32, OwnedFd)>> {
    if !vfork::available() {
        return Ok(None);
    }
    let plan = plan_of(request)?;
    // The child moves these onto 0, 1 and 2: none may already be one of those.
    let [stdin, stdout, stderr] = [stdin, stdout, stderr].map(|fd| {
        fd.try_clone()
            .and_then(vfork::above_stdio)
            .map(|fd| (fd.as_raw_fd(), fd))
    });
    let (stdin, stdout, stderr) = (stdin?, stdout?, stderr?);
    let setup = vfork::Setup {
        stdin: stdin.0,
        stdout: stdout.0,
        stderr: stderr.0,
        inherit,
        placement,
        death_signal,
        cgroup: request.cgroup.map(|cgroup| (cgroup.dir, cgroup.procs)),
        nofile: crate::sys::nofile::original().copied(),
        limits: request.limits,
        credentials: request.credentials.as_ref(),
    };
    vfork::spawn(&plan, &setup)
}

/// The child's program, arguments and whole environment, for [`vfork::Exec`]: with
/// `LISTEN_FDS` and `LISTEN_FDNAMES`, and the `LISTEN_PID` entry the child completes, when it
/// receives sockets.
fn plan_of(request: &SpawnRequest) -> io::Result<vfork::Plan> {
    let listen_variables = request.listen.as_ref().map(ListenFds::variables);
    let set = request.env.iter().chain(
        listen_variables
            .iter()
            .flatten()
            .map(|(key, value)| (key, value)),
    );
    let env = vfork::child_env(&request.env_remove, set);
    vfork::Plan::new(&request.argv, env, &request.cwd, request.listen.is_some())
}

/// What a fallback child with sockets execs itself, prepared before the fork: std's `Command`
/// cannot set `LISTEN_PID` to a pid it learns only in the child.
struct OwnExec {
    plan: vfork::Plan,
    exec: vfork::Exec,
    placement: listen::Placement,
}

// SAFETY: the raw pointers in `exec` point into `plan`'s heap buffers, which `OwnExec` owns and
// nobody changes; the value is only used in the forked child (a copy of the parent's memory) by
// the `pre_exec` closure that owns it.
unsafe impl Send for OwnExec {}
// SAFETY: as above: nothing mutates it except the child, in its own copy.
unsafe impl Sync for OwnExec {}

/// The portable way: `std::process::Command` (a fork) with an async-signal-safe `pre_exec`.
/// With sockets, the `pre_exec` places them and execs the program itself with `LISTEN_PID` set to
/// its pid (std's exec, which would come next, never runs); an exec failure is then reported by
/// std like any `pre_exec` error.
fn spawn_with_command(
    request: &SpawnRequest,
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    death_signal: Option<Signal>,
    inherit: Inherit,
    placement: Option<listen::Placement>,
) -> io::Result<(i32, OwnedFd)> {
    let own_exec = match placement {
        Some(placement) => {
            let plan = plan_of(request)?;
            let exec = vfork::Exec::new(&plan);
            Some(OwnExec {
                plan,
                exec,
                placement,
            })
        }
        None => None,
    };
    let (program, args) = request
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&request.cwd)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    for key in &request.env_remove {
        command.env_remove(key);
    }
    command.envs(
        request
            .env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    // Everything the child-side closure reads is computed here, before the fork.
    let expected_parent = rustix::process::getpid();
    let cgroup_procs = request.cgroup.map(|cgroup| cgroup.procs);
    let nofile = crate::sys::nofile::original().copied();
    let limits = request.limits;
    let credentials = request.credentials.clone();
    // SAFETY: the closure only performs async-signal-safe syscalls (setsid, prctl, getppid,
    // write, setrlimit, setpriority, setgroups, setgid, setuid, close_range or fcntl, dup2,
    // getpid, execve) on values prepared before;
    // it allocates nothing and takes no locks.
    unsafe {
        command.pre_exec(move || {
            child_setup(
                expected_parent,
                death_signal,
                cgroup_procs,
                nofile,
                &limits,
                credentials.as_ref(),
            )?;
            // std has put stdio in place already (and changed directory); nothing else may
            // reach the program but its sockets.
            let Some(own) = &own_exec else {
                return inherit.apply(&[]).map_err(io::Error::from_raw_os_error);
            };
            own.placement
                .apply()
                .map_err(io::Error::from_raw_os_error)?;
            inherit
                .apply(own.placement.targets())
                .map_err(io::Error::from_raw_os_error)?;
            vfork::fill_listen_pid(&own.plan);
            Err(io::Error::from_raw_os_error(own.exec.run()))
        });
    }

    let child = command.spawn()?;
    let pid = child.id() as i32;
    let pidfd = open_pidfd(pid)?;
    // Dropping `child` neither waits nor kills: the reaper owns the exit status.
    drop(child);
    Ok((pid, pidfd))
}

/// Runs in the child between fork and exec. Async-signal-safe only.
fn child_setup(
    expected_parent: Pid,
    death_signal: Option<Signal>,
    cgroup_procs: Option<RawFd>,
    nofile: Option<rustix::process::Rlimit>,
    limits: &ChildLimits,
    credentials: Option<&Credentials>,
) -> io::Result<()> {
    unblock_all_signals()?;
    // A new session makes the child the leader of its own process group, so the whole tree can
    // be signalled at once and the terminal's Ctrl+C reaches wrangle only: wrangle decides the
    // stop order.
    rustix::process::setsid()?;
    if let Some(fd) = cgroup_procs {
        // SAFETY: the fd was opened by the parent before fork and stays open until after spawn
        // returns; borrowing it for one write is sound.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        // Writing "0" moves the writing process itself, so no pid formatting is needed here.
        rustix::io::write(fd, b"0")?;
    }
    // The limit wrangle was started with, not the one the daemon raised its own to.
    if let Some(limit) = &nofile {
        crate::sys::nofile::restore_in_child(limit)?;
    }
    limits.apply()?;
    if let Some(credentials) = credentials {
        credentials.apply()?;
    }
    // Last: a change of credentials clears the parent-death signal.
    if let Some(signal) = death_signal {
        rustix::process::set_parent_process_death_signal(Some(signal))?;
        // If wrangle died between fork and prctl, the signal will never come: give up now.
        // See: https://github.com/containers/bubblewrap/pull/730
        if rustix::process::getppid() != Some(expected_parent) {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::SRCH.raw_os_error(),
            ));
        }
    }
    Ok(())
}

/// Empties the calling thread's signal mask: for a child between fork and exec, since a program
/// starts with the mask of the thread that started it, and std's `Command` leaves it as it is.
/// Async-signal-safe.
pub(crate) fn unblock_all_signals() -> io::Result<()> {
    // SAFETY: sigemptyset initialises the local set; pthread_sigmask only changes this thread's
    // mask. Both are async-signal-safe and allocate nothing.
    let result = unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(result))
    }
}

/// A pipe: our read end, and a read-write descriptor of it for the child. Reopening the write
/// end through `/proc/self/fd` with `O_RDWR` gives a descriptor that is both a reader and a
/// writer of the same pipe (see: man 7 pipe, man 7 fifo), so the pipe never loses its last reader
/// while the child lives. Both close-on-exec; std moves the child's end to 1 or 2.
fn held_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let path = format!("/proc/self/fd/{}", writer.as_raw_fd());
    let read_write =
        rustix::fs::open(path.as_str(), OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    drop(writer);
    Ok((reader, read_write))
}

/// Grows the buffer of the pipe `fd` to `bytes` (for a service that fills it: it then writes
/// on while wrangle reads, instead of waiting on every read). Best effort, and only ever grows:
/// the kernel refuses above `/proc/sys/fs/pipe-max-size` or the user's pipe allowance, and
/// the pipe then keeps its size.
pub fn grow_pipe(fd: impl AsFd, bytes: usize) {
    let current = rustix::pipe::fcntl_getpipe_size(&fd).unwrap_or(usize::MAX);
    if current < bytes {
        let _ = rustix::pipe::fcntl_setpipe_size(&fd, bytes);
    }
}

/// Opens a pidfd for `pid`. Only race-free when `pid` is our unreaped child or the caller checks
/// afterwards that the process is the one it meant (see [`crate::sys::tree`]).
pub fn open_pidfd(pid: i32) -> io::Result<OwnedFd> {
    let pid =
        Pid::from_raw(pid).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pid 0"))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// Sends `signal` through a pidfd. ESRCH (already exited) is not an error for a supervisor.
pub fn pidfd_signal(pidfd: &OwnedFd, signal: i32) -> io::Result<()> {
    let Some(signal) = Signal::from_named_raw(signal) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsupported signal {signal}"),
        ));
    };
    match rustix::process::pidfd_send_signal(pidfd, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Signals a whole process group. Only race-free while a member of the group is known to be
/// unreaped (its pid, and so the group id, cannot be reused meanwhile).
pub fn signal_group(pgid: i32, signal: i32) -> io::Result<()> {
    let (Some(pgid), Some(signal)) = (Pid::from_raw(pgid), Signal::from_named_raw(signal)) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad process group or signal",
        ));
    };
    match rustix::process::kill_process_group(pgid, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Whether the child `pid` has exited, without reaping it (`waitid` with `WNOWAIT`): while it
/// stays unreaped its pid, and so a group it leads, cannot be reused, so [`signal_group`] can
/// still clean up what it left behind before the caller reaps it.
pub fn exited_unreaped(pid: i32) -> io::Result<bool> {
    let Some(pid) = Pid::from_raw(pid) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad pid"));
    };
    let options = rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::NOHANG
        | rustix::process::WaitIdOptions::NOWAIT;
    Ok(rustix::process::waitid(rustix::process::WaitId::Pid(pid), options)?.is_some())
}

/// Makes wrangle a child subreaper: processes that its services orphan (double-forks, `setsid`
/// daemons) are re-parented to wrangle instead of init, so they stay in view and are stopped with
/// their service. See: man 2 PR_SET_CHILD_SUBREAPER.
pub fn become_subreaper() -> io::Result<()> {
    Ok(rustix::process::set_child_subreaper(Some(
        rustix::process::getpid(),
    ))?)
}

/// The raw fd number, for passing into a pre-exec closure.
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}

/// Starts a process in a new session, detached from our terminal, with its stdout and stderr on
/// two pipes whose read ends are returned (stdout, stderr), and no other descriptor of ours. Used
/// by `up -d` to start the daemon's sentinel: it must outlive us, so it gets no death signal. The
/// caller may wait for it with `Child::wait` (the CLI is not a subreaper and runs no reaper).
pub fn spawn_detached(
    argv: &[String],
    cwd: &std::path::Path,
    env: &[(String, String)],
    env_remove: &[&str],
) -> io::Result<(std::process::Child, std::fs::File, std::fs::File)> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (error_read_end, stderr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::from(stderr));
    for key in env_remove {
        command.env_remove(key);
    }
    let inherit = Inherit::prepare()?;
    // SAFETY: setsid, close_range and fcntl are plain syscalls on prepared values; nothing is
    // allocated or locked in the child.
    unsafe {
        command.pre_exec(move || {
            rustix::process::setsid()?;
            unblock_all_signals()?;
            inherit.apply(&[]).map_err(io::Error::from_raw_os_error)
        });
    }
    let child = command.spawn()?;
    // Our copies of the write end are closed when `command` drops, so end-of-file on the read end
    // means the daemon closed (or redirected) its own.
    drop(command);
    Ok((
        child,
        std::fs::File::from(read_end),
        std::fs::File::from(error_read_end),
    ))
}

#[cfg(test)]
mod tests;
