//! Which descriptors a child inherits: 0, 1 and 2, and only what wrangle passes on purpose.
//!
//! # Why
//! A descriptor without close-on-exec survives `exec`. wrangle opens all of its own descriptors
//! close-on-exec, but it may have been started holding descriptors it knows nothing of: a shell's
//! `exec 9>deploy.lock; flock 9; wrangle up -d`, a test harness's pipes. Passed on to the daemon
//! and from it to every service, such a descriptor keeps a lock held, a pipe open or a file busy
//! until `down`. So every child wrangle starts (services, probes, notification commands, the
//! sentinel, the daemon) marks every descriptor above 2 close-on-exec between clone and exec,
//! except those it is given on purpose ([`Inherit::apply`]'s `keep`).
//!
//! # How
//! One `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)` (Linux 5.11) in the child: a single system call
//! whatever the number of descriptors, and async-signal-safe. Marking rather than closing keeps
//! a spawner's own exec-error pipe (std's `Command` has one) working until the exec. Where the
//! kernel lacks it (ENOSYS before 5.9, EINVAL for the flag before 5.11), [`Inherit::prepare`]
//! lists the parent's open descriptors (`/proc/self/fd`) before the clone, and the child marks
//! each of them with `fcntl`. Either way the child allocates nothing.
//!
//! # Caveats
//! A descriptor opened without close-on-exec by another thread of the parent after
//! [`Inherit::prepare`] listed them would slip through the fallback; wrangle opens none.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering};

/// Whether `close_range` with `CLOSE_RANGE_CLOEXEC` works here: 0 not known yet, 1 yes, 2 no.
static CLOSE_RANGE: AtomicU8 = AtomicU8::new(0);

#[cfg(test)]
thread_local! {
    /// Per test thread, so that tests running side by side do not see each other's choice.
    static FORCED_FALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes [`Inherit::prepare`] take the fallback (or not) on this thread, to test it.
#[cfg(test)]
pub(crate) fn force_fallback_for_tests(fallback: bool) {
    FORCED_FALLBACK.with(|forced| forced.set(fallback));
}

/// What a child needs to drop what it must not inherit, prepared by the parent before the clone.
#[derive(Debug, Clone, Default)]
pub struct Inherit {
    /// `None`: one `close_range` does it. `Some`: the parent's descriptors above 2, to mark one by
    /// one.
    listed: Option<Vec<RawFd>>,
}

impl Inherit {
    /// Prepares for a child about to be started from this process.
    pub fn prepare() -> io::Result<Inherit> {
        if close_range_works() {
            return Ok(Inherit { listed: None });
        }
        let mut listed = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd")? {
            let name = entry?.file_name();
            if let Some(fd) = name.to_str().and_then(|name| name.parse::<RawFd>().ok())
                && fd > 2
            {
                listed.push(fd);
            }
        }
        Ok(Inherit {
            listed: Some(listed),
        })
    }

    /// In the child, between clone and exec: marks every descriptor above 2 close-on-exec except
    /// those in `keep` (in any order), which lose close-on-exec so that the program gets them.
    /// Async-signal-safe: plain system calls on prepared values, nothing allocated. Returns the
    /// errno of a failure.
    pub fn apply(&self, keep: &[RawFd]) -> Result<(), i32> {
        match &self.listed {
            None => {
                // The gaps between kept descriptors, from 3 up. A kept descriptor below one seen
                // before lies in a range already marked: the loop below unmarks it.
                let mut first: u32 = 3;
                for &kept in keep {
                    let Ok(kept) = u32::try_from(kept) else {
                        continue;
                    };
                    if kept >= first {
                        if kept > first {
                            mark_range(first, kept - 1)?;
                        }
                        first = kept + 1;
                    }
                }
                mark_range(first, u32::MAX)?;
            }
            Some(listed) => {
                for &fd in listed.iter().filter(|fd| !keep.contains(fd)) {
                    // SAFETY: fcntl on a descriptor number; one that was closed meanwhile
                    // fails with EBADF, which is what we want anyway.
                    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
                }
            }
        }
        for &fd in keep {
            // SAFETY: fcntl on a descriptor the caller passes on purpose and keeps open.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
                return Err(errno());
            }
        }
        Ok(())
    }
}

/// `close_range(first, last, CLOSE_RANGE_CLOEXEC)`.
fn mark_range(first: u32, last: u32) -> Result<(), i32> {
    // SAFETY: close_range only changes flags of this process's descriptors in the range; it
    // reads no memory of ours.
    let result = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            last,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if result < 0 { Err(errno()) } else { Ok(()) }
}

/// Whether the kernel marks ranges close-on-exec, found out once per process on an empty range.
fn close_range_works() -> bool {
    #[cfg(test)]
    if FORCED_FALLBACK.with(std::cell::Cell::get) {
        return false;
    }
    match CLOSE_RANGE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // No descriptor can have the largest number, so this changes nothing.
            let works = mark_range(u32::MAX, u32::MAX).is_ok();
            CLOSE_RANGE.store(if works { 1 } else { 2 }, Ordering::Relaxed);
            works
        }
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::test_support::ChildGuard;

    /// A descriptor that is *not* close-on-exec, like one inherited from a shell.
    fn inheritable() -> OwnedFd {
        let fd = OwnedFd::from(tempfile::tempfile().expect("tempfile"));
        let flags = rustix::io::fcntl_getfd(&fd).expect("getfd");
        rustix::io::fcntl_setfd(&fd, flags - rustix::io::FdFlags::CLOEXEC).expect("setfd");
        fd
    }

    /// The descriptors of a `sleep` started with `inherit` and `keep`, read from outside.
    fn child_fds(inherit: &Inherit, keep: Vec<RawFd>) -> Vec<RawFd> {
        let mut command = Command::new("sleep");
        command
            .arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let inherit = inherit.clone();
        // SAFETY: `apply` is async-signal-safe and uses only what was prepared before.
        unsafe {
            command.pre_exec(move || inherit.apply(&keep).map_err(io::Error::from_raw_os_error));
        }
        let child = ChildGuard(command.spawn().expect("sleep"));
        let pid = child.0.id();
        let dir = format!("/proc/{pid}/fd");
        // `spawn` returns once the exec has happened, but the program's loader may still hold a
        // library it opens (fd 3, for a moment): the table is read once `sleep` sleeps.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let sleeping = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| Some(stat.rsplit_once(") ")?.1.starts_with('S')))
                .unwrap_or(false)
        };
        while !sleeping() {
            assert!(std::time::Instant::now() < deadline, "sleep never slept");
            std::thread::yield_now();
        }
        let mut fds: Vec<RawFd> = std::fs::read_dir(dir)
            .expect("fd dir")
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        fds
    }

    fn each_way(test: impl Fn(bool)) {
        test(false);
        force_fallback_for_tests(true);
        test(true);
        force_fallback_for_tests(false);
    }

    #[test]
    fn a_child_inherits_only_stdio_and_what_is_kept() {
        each_way(|fallback| {
            let strays: Vec<OwnedFd> = (0..3).map(|_| inheritable()).collect();
            let kept = inheritable();
            let inherit = Inherit::prepare().expect("prepare");
            assert_eq!(inherit.listed.is_some(), fallback);
            assert_eq!(child_fds(&inherit, Vec::new()), vec![0, 1, 2], "{fallback}");
            assert_eq!(
                child_fds(&inherit, vec![kept.as_raw_fd()]),
                vec![0, 1, 2, kept.as_raw_fd()],
                "fallback: {fallback}"
            );
            // Without it, std passes them all on: the test would see them.
            let mut plain = Command::new("sleep");
            plain.arg("30").stdout(Stdio::null());
            let child = ChildGuard(plain.spawn().expect("sleep"));
            for stray in &strays {
                let path = format!("/proc/{}/fd/{}", child.0.id(), stray.as_raw_fd());
                assert!(std::path::Path::new(&path).exists(), "{path}");
            }
        });
    }

    #[test]
    fn kept_descriptors_split_the_range_wherever_they_are() {
        let fds: Vec<OwnedFd> = (0..5).map(|_| inheritable()).collect();
        let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        // Adjacent ones, and gaps before, between and after.
        let keep = vec![raw[1], raw[2], raw[4]];
        each_way(|fallback| {
            let inherit = Inherit::prepare().expect("prepare");
            let mut expected = vec![0, 1, 2];
            expected.extend(&keep);
            assert_eq!(
                child_fds(&inherit, keep.clone()),
                expected,
                "fallback: {fallback}"
            );
        });
    }
}
