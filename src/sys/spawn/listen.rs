//! Socket activation for a child (systemd's protocol, `man 3 sd_listen_fds`): its listening
//! sockets as file descriptors 3, 4, ... in order, `LISTEN_FDS` (how many), `LISTEN_FDNAMES`
//! (their names, `:`-separated) and `LISTEN_PID`, which must be the pid of the process that runs
//! the program (libsystemd and go-systemd ignore the sockets otherwise).
//!
//! # LISTEN_PID without a trampoline
//! The child's pid is known only after the clone, and the child may not allocate (it runs in
//! wrangle's memory, between clone and exec). A trampoline (`wrangle __exec`, which would set the
//! variable and exec the program) costs a second exec of wrangle's binary on every start, and a
//! missing program would then be an exit of the trampoline rather than an error of the spawn.
//! Instead the parent reserves the entry `LISTEN_PID=` followed by room for the digits of any
//! pid, as one of the child's environment strings, and the child writes its own pid into it with
//! `getpid()` just before `execve` ([`PidEntry::fill`]: digits into memory prepared earlier, no
//! allocation). The same entry serves the `std::process` fallback, whose `pre_exec` then execs
//! itself (see `super::spawn_with_command`).
//!
//! # Placing the sockets
//! The sockets are duplicated (close-on-exec) to descriptors at or above `3 + count` before the
//! clone ([`Placement::prepare`]), so that moving them onto 3, 4, ... in the child never
//! overwrites a source it has yet to move. `dup2` makes each target inheritable; everything else
//! above 2 is then marked close-on-exec ([`crate::sys::inherit`]).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};

/// The first descriptor a socket goes to (`SD_LISTEN_FDS_START`).
pub const FIRST_FD: RawFd = 3;

/// The sockets a child receives, in order, with their names (each without `:`).
#[derive(Debug, Clone, Default)]
pub struct ListenFds {
    /// Open listening sockets; the caller keeps them open until the spawn returns.
    pub fds: Vec<RawFd>,
    pub names: Vec<String>,
}

impl ListenFds {
    /// `LISTEN_FDS` and `LISTEN_FDNAMES`. `LISTEN_PID` is the child's own ([`PidEntry`]).
    pub(super) fn variables(&self) -> [(String, String); 2] {
        [
            ("LISTEN_FDS".to_string(), self.fds.len().to_string()),
            ("LISTEN_FDNAMES".to_string(), self.names.join(":")),
        ]
    }
}

const PID_PREFIX: &[u8] = b"LISTEN_PID=";
/// Digits of the largest pid (`pid_max` is at most 2^22 on 64-bit Linux; room for any `i32`).
const PID_DIGITS: usize = 10;

/// The environment entry `LISTEN_PID=<pid>`, its digits written by the child. Atomic bytes, so
/// that the child may write them through a shared reference (it runs in the parent's memory).
#[derive(Debug)]
pub(super) struct PidEntry {
    bytes: Box<[AtomicU8]>,
}

impl PidEntry {
    pub(super) fn new() -> PidEntry {
        let bytes: Box<[AtomicU8]> = PID_PREFIX
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0, PID_DIGITS + 1))
            .map(AtomicU8::new)
            .collect();
        PidEntry { bytes }
    }

    /// A pointer to the NUL-terminated entry, for `envp`.
    pub(super) fn as_ptr(&self) -> *const libc::c_char {
        self.bytes.as_ptr().cast()
    }

    /// Writes `pid` after `LISTEN_PID=`, NUL-terminated. Async-signal-safe: no allocation.
    pub(super) fn fill(&self, pid: i32) {
        let mut digits = [0u8; PID_DIGITS];
        let mut rest = pid.unsigned_abs();
        let mut length = 0;
        loop {
            digits[length] = b'0' + (rest % 10) as u8;
            rest /= 10;
            length += 1;
            if rest == 0 || length == PID_DIGITS {
                break;
            }
        }
        let at = PID_PREFIX.len();
        for index in 0..length {
            self.bytes[at + index].store(digits[length - 1 - index], Ordering::Relaxed);
        }
        self.bytes[at + length].store(0, Ordering::Relaxed);
    }

    #[cfg(test)]
    fn text(&self) -> String {
        let bytes: Vec<u8> = self
            .bytes
            .iter()
            .map(|byte| byte.load(Ordering::Relaxed))
            .take_while(|byte| *byte != 0)
            .collect();
        String::from_utf8(bytes).expect("ascii")
    }
}

/// The sockets moved out of the way of their targets, before the clone.
#[derive(Debug)]
pub(super) struct Placement {
    /// Close-on-exec duplicates, each at or above `FIRST_FD + count`.
    sources: Vec<OwnedFd>,
    /// `FIRST_FD..FIRST_FD + count`: what the child keeps.
    targets: Vec<RawFd>,
}

impl Placement {
    pub(super) fn prepare(listen: &ListenFds) -> io::Result<Placement> {
        let count = RawFd::try_from(listen.fds.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many sockets"))?;
        let above = FIRST_FD + count;
        let sources = listen
            .fds
            .iter()
            .map(|fd| {
                // SAFETY: the caller keeps the socket open until the spawn returns; it is only
                // borrowed to duplicate it.
                let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
                Ok(rustix::io::fcntl_dupfd_cloexec(fd, above)?)
            })
            .collect::<io::Result<Vec<OwnedFd>>>()?;
        Ok(Placement {
            sources,
            targets: (FIRST_FD..above).collect(),
        })
    }

    /// The descriptors the program gets.
    pub(super) fn targets(&self) -> &[RawFd] {
        &self.targets
    }

    /// In the child: moves each socket onto its target. Async-signal-safe. Returns the errno of
    /// a failure.
    pub(super) fn apply(&self) -> Result<(), i32> {
        for (source, target) in self.sources.iter().zip(&self.targets) {
            // Every source is above every target (see `prepare`), so no move overwrites a
            // source still to be moved; dup2 leaves the target without close-on-exec.
            // SAFETY: plain dup2 on descriptors the parent keeps open until the exec.
            if unsafe { libc::dup2(source.as_raw_fd(), *target) } < 0 {
                return Err(io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EBADF));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_entry_holds_any_pid_and_ends_where_the_digits_do() {
        let entry = PidEntry::new();
        entry.fill(4_194_304);
        assert_eq!(entry.text(), "LISTEN_PID=4194304");
        // A shorter pid after a longer one: the NUL comes right after its digits.
        entry.fill(7);
        assert_eq!(entry.text(), "LISTEN_PID=7");
        entry.fill(i32::MAX);
        assert_eq!(entry.text(), format!("LISTEN_PID={}", i32::MAX));
    }

    #[test]
    fn sources_are_placed_above_every_target() {
        let sockets: Vec<OwnedFd> = (0..3)
            .map(|_| {
                crate::sys::sockets::bind_tcp("127.0.0.1:0".parse().expect("addr")).expect("bind")
            })
            .collect();
        let listen = ListenFds {
            fds: sockets.iter().map(AsRawFd::as_raw_fd).collect(),
            names: vec!["a".into(), "b".into(), "c".into()],
        };
        let placement = Placement::prepare(&listen).expect("prepare");
        assert_eq!(placement.targets(), &[3, 4, 5]);
        assert!(placement.sources.iter().all(|fd| fd.as_raw_fd() >= 6));
        assert_eq!(
            listen.variables(),
            [
                ("LISTEN_FDS".to_string(), "3".to_string()),
                ("LISTEN_FDNAMES".to_string(), "a:b:c".to_string())
            ]
        );
    }
}
