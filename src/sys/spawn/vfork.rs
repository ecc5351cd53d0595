//! The fast way to start a child: one `clone3` with `CLONE_VM | CLONE_VFORK`, straight into the
//! service's cgroup (`CLONE_INTO_CGROUP`), with its pidfd (`CLONE_PIDFD`) and with every signal
//! handler reset (`CLONE_CLEAR_SIGHAND`). This is what glibc's `posix_spawn` does (2.39 and later
//! for the cgroup); `posix_spawn` itself cannot set a parent-death signal, hence our own.
//!
//! # Why
//! A `fork` copies wrangle's page tables, and the child then tears the copy down again in `exec`;
//! both are on the restart path, because the parent waits for the `exec`. Joining a cgroup by
//! writing `cgroup.procs` takes the kernel's cgroup write lock, which waits for an RCU grace period
//! when no migration happened lately: tens of milliseconds on a loaded machine, paid by the first
//! service of every start-up. `CLONE_INTO_CGROUP` places the child at creation, under the read
//! side of that lock.
//!
//! # How
//! The child runs on a stack of its own, in wrangle's memory, while the calling thread is suspended
//! until the child has called `execve` (or exited). It only reads what the parent prepared (paths,
//! argv, envp, descriptor numbers), makes plain system calls (no allocation, no locks, no panics),
//! and reports a failure by storing its `errno` in the shared [`ChildContext::error`] before
//! `_exit`. Signal handlers are reset by the kernel at clone time (`CLONE_CLEAR_SIGHAND`), so no
//! handler of wrangle's can run in the child; ignored signals stay ignored, so the child restores
//! `SIGPIPE` (ignored by Rust's runtime) and an empty signal mask, as `std::process` does. After
//! moving its stdio into place it marks every other descriptor close-on-exec
//! ([`crate::sys::inherit`]). The system call itself, the one piece of assembly, is in
//! [`super::clone3`].
//!
//! # Caveats
//! - x86_64 only (the clone trampoline is assembly); elsewhere, and wherever the kernel refuses
//!   `clone3` or one of its flags (Linux < 5.7, seccomp filters that answer ENOSYS), the caller
//!   falls back to `std::process::Command` and remembers not to try again. The unit tests run
//!   both ways; an integration test runs wrangle under a seccomp filter that refuses `clone3`.
//! - The program is looked up in the child's `PATH` (from the child's environment, `/bin:/usr/bin`
//!   when it has none) like `execvp`, including the fallback to `/bin/sh` for an executable file
//!   without a `#!` line.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

use rustix::process::{Pid, Signal};

use super::clone3::{
    CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP, CLONE_PIDFD, CLONE_VFORK, CLONE_VM, CloneArgs, clone3,
};
use super::listen::{PidEntry, Placement};
use crate::sys::inherit::Inherit;

/// The child's stack. The child makes a handful of system calls, so this is plenty, also in debug
/// builds.
const STACK_BYTES: usize = 64 * 1024;

/// Set once the kernel refused `clone3` (or one of our flags): from then on the caller uses
/// `std::process::Command`.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// What the child needs, prepared by the parent before the clone. Borrowed by the child, which
/// runs in the same memory while the parent waits.
pub(super) struct Plan {
    /// Paths to try in order (one when the program names a path, else one per `PATH` entry).
    candidates: Vec<CString>,
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: CString,
    /// `LISTEN_PID=`, completed by the child (socket activation), after the entries of `env`.
    pid_entry: Option<PidEntry>,
}

impl Plan {
    /// `env` is the child's whole environment, besides `LISTEN_PID` when `listen_pid`.
    pub(super) fn new(
        argv: &[String],
        env: Vec<(OsString, OsString)>,
        cwd: &std::path::Path,
        listen_pid: bool,
    ) -> io::Result<Plan> {
        let nul = |_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the command");
        let Some(program) = argv.first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
        };
        let path_var = env
            .iter()
            .find(|(key, _)| key == "PATH")
            .map(|(_, value)| value.clone());
        let candidates = if program.contains('/') {
            vec![CString::new(program.as_str()).map_err(nul)?]
        } else {
            let path = path_var.unwrap_or_else(|| OsString::from("/bin:/usr/bin"));
            path.as_bytes()
                .split(|byte| *byte == b':')
                .map(|dir| {
                    let mut full = dir.to_vec();
                    if !full.is_empty() && !full.ends_with(b"/") {
                        full.push(b'/');
                    }
                    full.extend_from_slice(program.as_bytes());
                    CString::new(full).map_err(nul)
                })
                .collect::<io::Result<_>>()?
        };
        let argv = argv
            .iter()
            .map(|arg| CString::new(arg.as_str()).map_err(nul))
            .collect::<io::Result<_>>()?;
        let env = env
            .into_iter()
            .map(|(key, value)| {
                let mut entry = key.into_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                CString::new(entry).map_err(nul)
            })
            .collect::<io::Result<_>>()?;
        let cwd = CString::new(cwd.as_os_str().as_bytes()).map_err(nul)?;
        Ok(Plan {
            candidates,
            argv,
            env,
            cwd,
            pid_entry: listen_pid.then(PidEntry::new),
        })
    }
}

/// What `execve` is called with, as pointers into a [`Plan`] (which must outlive it), and the
/// `execvp`-like search over the candidates. Used by the vfork child, and by the fallback's
/// `pre_exec` when it must exec itself (see `super::spawn_with_command`).
pub(super) struct Exec {
    candidates: Vec<*const libc::c_char>,
    argv: Vec<*const libc::c_char>,
    /// `["/bin/sh", <candidate>, argv[1..]..., NULL]`: the child fills in slot 1 when a
    /// candidate turns out to be a script without `#!` (ENOEXEC), like `execvp`.
    sh_argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl Exec {
    pub(super) fn new(plan: &Plan) -> Exec {
        let to_ptrs = |strings: &[CString]| -> Vec<*const libc::c_char> {
            strings.iter().map(|s| s.as_ptr()).collect()
        };
        static SH: &CStr = c"/bin/sh";
        let mut sh_argv = vec![SH.as_ptr(), std::ptr::null()];
        sh_argv.extend(plan.argv.iter().skip(1).map(|arg| arg.as_ptr()));
        sh_argv.push(std::ptr::null());
        let mut argv = to_ptrs(&plan.argv);
        argv.push(std::ptr::null());
        let mut envp = to_ptrs(&plan.env);
        envp.extend(plan.pid_entry.as_ref().map(PidEntry::as_ptr));
        envp.push(std::ptr::null());
        Exec {
            candidates: to_ptrs(&plan.candidates),
            argv,
            sh_argv,
            envp,
        }
    }

    /// Tries each candidate like `execvp`; returns the errno that best says why none could be
    /// run (only returns on failure). Async-signal-safe.
    pub(super) fn run(&self) -> i32 {
        let mut result = libc::ENOENT;
        let mut denied = false;
        for &candidate in &self.candidates {
            // SAFETY: NUL-terminated strings and NULL-terminated arrays prepared by the parent.
            unsafe { libc::execve(candidate, self.argv.as_ptr(), self.envp.as_ptr()) };
            let error = last_errno();
            match error {
                libc::ENOEXEC => {
                    // A script without `#!`: run it with the shell, as execvp does.
                    let sh_argv = self.sh_argv.as_ptr().cast_mut();
                    // SAFETY: slot 1 of `sh_argv` exists (it holds a placeholder) and is only
                    // ever written here, by the child, while the parent does not read it.
                    unsafe {
                        *sh_argv.add(1) = candidate;
                        libc::execve(*sh_argv, sh_argv, self.envp.as_ptr());
                    }
                    return last_errno();
                }
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ELOOP | libc::ENAMETOOLONG => {}
                other => return other,
            }
            result = error;
        }
        if denied { libc::EACCES } else { result }
    }
}

/// Completes `LISTEN_PID` with the calling process's pid, when the plan has the entry. For the
/// child, just before its exec. Async-signal-safe.
pub(super) fn fill_listen_pid(plan: &Plan) {
    if let Some(entry) = &plan.pid_entry {
        entry.fill(rustix::process::getpid().as_raw_nonzero().get());
    }
}

/// The child's side of the descriptors and settings.
pub(super) struct Setup<'a> {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Drops every other descriptor the child would inherit.
    pub inherit: &'a Inherit,
    /// Listening sockets to place at 3, 4, ... (socket activation).
    pub placement: Option<&'a Placement>,
    pub death_signal: Option<Signal>,
    /// The cgroup to start in: its directory (for `CLONE_INTO_CGROUP`, when `Some`) and its
    /// `cgroup.procs` (which the child writes `0` to otherwise).
    pub cgroup: Option<(Option<RawFd>, RawFd)>,
    /// The descriptor limit to set (the one wrangle was started with, when it raised its own).
    pub nofile: Option<rustix::process::Rlimit>,
    /// The service's priority and limits, set after `nofile`.
    pub limits: super::ChildLimits,
    /// Who it runs as, set after the limits.
    pub credentials: Option<&'a super::Credentials>,
}

#[cfg(test)]
thread_local! {
    /// Per test thread, so that tests running side by side do not see each other's choice.
    static FORCED_FALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes [`available`] say no (or yes again) on this thread, to test the fallback.
#[cfg(test)]
pub(super) fn force_fallback_for_tests(fallback: bool) {
    FORCED_FALLBACK.with(|forced| forced.set(fallback));
}

/// Whether `CLONE_INTO_CGROUP` starts children alive here: 0 not known yet, 1 yes, 2 no.
static INTO_CGROUP: AtomicU8 = AtomicU8::new(0);

/// Whether a child started with `CLONE_INTO_CGROUP` lives, found out once per process by starting
/// one into `dir` that exits at once. Some kernels (seen on 6.18) kill such a child at birth
/// whenever the target cgroup's count of `cgroup.kill` writes differs from that of the parent's
/// cgroup (`cgroup_post_fork` compares the target's `kill_seq` with the one recorded from the
/// parent's cgroup). Callers never pass a cgroup that `cgroup.kill` was written to (see
/// `ServiceCgroup::join`); this probe covers a parent cgroup that was killed before.
fn into_cgroup_works(dir: RawFd, stack: &mut [u8]) -> bool {
    match INTO_CGROUP.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let mut args = CloneArgs {
        flags: CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.as_mut_ptr() as u64,
        stack_size: stack.len() as u64,
        cgroup: dir as u64,
        ..CloneArgs::default()
    };
    // SAFETY: as in `spawn`; the child only calls `_exit`.
    let result = unsafe { clone3(&mut args, probe_main, std::ptr::null()) };
    let works = match Pid::from_raw(result as i32).filter(|_| result > 0) {
        // Reaped here: the caller holds the reaper's registry, so nothing else can.
        Some(pid) => rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
            .ok()
            .flatten()
            .is_some_and(|(_, status)| status.exit_status() == Some(0)),
        // The flag is refused: the caller's fallback takes over, nothing to remember.
        None => return false,
    };
    INTO_CGROUP.store(if works { 1 } else { 2 }, Ordering::Relaxed);
    works
}

/// The probe child of [`into_cgroup_works`].
extern "C" fn probe_main(_context: *const ()) -> ! {
    // SAFETY: ends this child at once, running nothing of wrangle's.
    unsafe { libc::_exit(0) }
}

/// Whether [`spawn`] may be tried.
pub(super) fn available() -> bool {
    #[cfg(test)]
    if FORCED_FALLBACK.with(std::cell::Cell::get) {
        return false;
    }
    cfg!(target_arch = "x86_64") && !UNSUPPORTED.load(Ordering::Relaxed)
}

/// Shared between parent and child (same memory): the child's inputs, and its `errno` if it
/// could not exec.
struct ChildContext<'a> {
    plan: &'a Plan,
    exec: Exec,
    cwd: *const libc::c_char,
    setup_stdin: RawFd,
    setup_stdout: RawFd,
    setup_stderr: RawFd,
    inherit: &'a Inherit,
    placement: Option<&'a Placement>,
    death_signal: Option<Signal>,
    /// A `cgroup.procs` the child joins by writing `0` (when not started in it by the clone).
    cgroup_procs: Option<RawFd>,
    nofile: Option<rustix::process::Rlimit>,
    limits: super::ChildLimits,
    credentials: Option<&'a super::Credentials>,
    parent: Pid,
    error: AtomicI32,
}

/// Starts the child; `Ok(None)` when this kernel (or architecture) does not support the fast path
/// and the caller must use `std::process::Command`.
pub(super) fn spawn(plan: &Plan, setup: &Setup<'_>) -> io::Result<Option<(i32, OwnedFd)>> {
    if !available() {
        return Ok(None);
    }
    let mut context = ChildContext {
        plan,
        exec: Exec::new(plan),
        cwd: plan.cwd.as_ptr(),
        setup_stdin: setup.stdin,
        setup_stdout: setup.stdout,
        setup_stderr: setup.stderr,
        inherit: setup.inherit,
        placement: setup.placement,
        death_signal: setup.death_signal,
        cgroup_procs: None,
        nofile: setup.nofile,
        limits: setup.limits,
        credentials: setup.credentials,
        parent: rustix::process::getpid(),
        error: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; STACK_BYTES];
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND,
        pidfd: &raw mut pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.as_mut_ptr() as u64,
        stack_size: STACK_BYTES as u64,
        ..CloneArgs::default()
    };
    match setup.cgroup {
        Some((Some(dir), _)) if into_cgroup_works(dir, &mut stack) => {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = dir as u64;
        }
        Some((_, procs)) => context.cgroup_procs = Some(procs),
        None => {}
    }
    // SAFETY: `args` is a valid `clone_args` whose stack is ours until the child has exec'd or
    // exited, which is when the kernel resumes this thread (CLONE_VFORK). The child runs
    // `child_main` on that stack and never returns into this function; it only reads `context`
    // (alive until after the call) and stores into its atomic `error`, `sh_argv[1]` and the
    // plan's atomic `LISTEN_PID` digits.
    let result = unsafe { clone3(&mut args, child_main, &context) };
    drop(stack);
    if result < 0 {
        let errno = -result as i32;
        if [libc::ENOSYS, libc::E2BIG, libc::EINVAL].contains(&errno) {
            // Too old a kernel (or a filter): never again for this process.
            UNSUPPORTED.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        return Err(io::Error::from_raw_os_error(errno));
    }
    let pid = result as i32;
    // SAFETY: the kernel stored a fresh pidfd (CLONE_PIDFD) that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let error = context.error.load(Ordering::Acquire);
    if error != 0 {
        // The child failed before exec and has exited (or is exiting): collect it here, since
        // no one registered it (the caller holds the reaper's registry, so the reaper cannot
        // run meanwhile).
        if let Some(pid) = Pid::from_raw(pid) {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        }
        // Wrapped, so that the caller can tell it from a refusal of the cgroup (which `clone3`
        // itself reports): only the kind and the text are kept.
        let error = io::Error::from_raw_os_error(error);
        return Err(io::Error::new(error.kind(), error));
    }
    Ok(Some((pid, pidfd)))
}

/// The child, between clone and exec: async-signal-safe system calls only, on values the parent
/// prepared. Never returns: execs, or stores its errno and exits with 127.
extern "C" fn child_main(context: *const ChildContext<'_>) -> ! {
    // SAFETY: the parent passed a pointer to a context that outlives this child's use of it (the
    // parent is suspended until we exec or exit).
    let context = unsafe { &*context };
    let errno = child_exec(context);
    context.error.store(errno.max(1), Ordering::Release);
    // SAFETY: `_exit` ends only this child (a process of its own: no CLONE_THREAD) without
    // running any of wrangle's exit handlers.
    unsafe { libc::_exit(127) }
}

/// Sets the child up and execs; returns the errno of what failed.
fn child_exec(context: &ChildContext<'_>) -> i32 {
    let errno = |error: rustix::io::Errno| error.raw_os_error();
    // Its own session and process group (see `super::child_setup` for why).
    if let Err(error) = rustix::process::setsid() {
        return errno(error);
    }
    if let Some(procs) = context.cgroup_procs {
        // SAFETY: the parent keeps the descriptor open until we exec. Writing "0" moves the
        // writer itself.
        if unsafe { libc::write(procs, b"0".as_ptr().cast(), 1) } < 0 {
            return last_errno();
        }
    }
    if let Some(limit) = &context.nofile
        && let Err(error) = crate::sys::nofile::restore_in_child(limit)
    {
        return error.raw_os_error().unwrap_or(libc::EINVAL);
    }
    if let Err(error) = context.limits.apply() {
        return errno(error);
    }
    if let Some(credentials) = context.credentials
        && let Err(error) = credentials.apply()
    {
        return errno(error);
    }
    // After the credentials, whose change would clear it.
    if let Some(signal) = context.death_signal {
        if let Err(error) = rustix::process::set_parent_process_death_signal(Some(signal)) {
            return errno(error);
        }
        // wrangle died between clone and prctl: the signal would never come.
        if rustix::process::getppid() != Some(context.parent) {
            return libc::ESRCH;
        }
    }
    for (source, target) in [
        (context.setup_stdin, 0),
        (context.setup_stdout, 1),
        (context.setup_stderr, 2),
    ] {
        // Sources are >= 3 (see the caller), so dup2 always makes a new, inheritable descriptor.
        // SAFETY: plain dup2 on descriptors the parent keeps open until we exec.
        if unsafe { libc::dup2(source, target) } < 0 {
            return last_errno();
        }
    }
    // Its sockets at 3, 4, ... and nothing else of wrangle's descriptors (nor of those wrangle
    // inherited) reaches the program.
    let keep = match context.placement {
        Some(placement) => {
            if let Err(errno) = placement.apply() {
                return errno;
            }
            placement.targets()
        }
        None => &[],
    };
    if let Err(errno) = context.inherit.apply(keep) {
        return errno;
    }
    // SAFETY: a NUL-terminated path the parent keeps alive.
    if unsafe { libc::chdir(context.cwd) } < 0 {
        return last_errno();
    }
    // Rust's runtime ignores SIGPIPE; the service must get the default, as with std::process.
    // Handlers were already reset by CLONE_CLEAR_SIGHAND.
    // SAFETY: plain system calls on local values.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
    // The pid is this process's own, as socket activation requires.
    fill_listen_pid(context.plan);
    context.exec.run()
}

pub(super) fn last_errno() -> i32 {
    // SAFETY: reads this thread's errno (the child borrows its parent thread's TLS, which that
    // thread does not use while it is suspended).
    unsafe { *libc::__errno_location() }
}

/// A descriptor number >= 3 for `fd` (duplicated when it is 0, 1 or 2), so that the child's
/// dup2 onto 0..=2 never meets a source it already overwrote.
pub(super) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// The child's whole environment: ours, minus `remove`, plus `set`.
pub(super) fn child_env<'a>(
    remove: &[String],
    set: impl Iterator<Item = (&'a String, &'a String)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(key, _)| !remove.iter().any(|name| OsStr::new(name) == key))
        .collect();
    for (key, value) in set {
        match env
            .iter_mut()
            .find(|(existing, _)| existing == OsStr::new(key))
        {
            Some(entry) => entry.1 = OsString::from(value),
            None => env.push((OsString::from(key), OsString::from(value))),
        }
    }
    env
}
