//! The descriptor limit (`RLIMIT_NOFILE`): reading it, raising the daemon's soft limit to its
//! hard limit, and giving services the limit wrangle was started with.
//!
//! A daemon serves clients and supervises services with the same descriptor table, so it runs with
//! as many descriptors as it may have ([`raise_soft_to_hard`]). Its services do not inherit that:
//! a program written for the usual soft limit (1024: `select()`'s `FD_SETSIZE`, or a loop that
//! closes every descriptor up to the limit) must not meet a million. [`spawn`](crate::sys::spawn)
//! sets each child's limit back to [`original`] between clone and exec.
//!
//! [`original`] is recorded once, by the first raise, and never changes afterwards: it is a fact
//! of the process (the limit it was started with), not state that moves.

use std::io;
use std::sync::OnceLock;

use rustix::process::{Resource, Rlimit};

/// The limit the process had before [`raise_soft_to_hard`] changed it; unset when it never did.
static ORIGINAL: OnceLock<Rlimit> = OnceLock::new();

/// The soft and hard descriptor limits, as `(soft, hard)`; `u64::MAX` stands for unlimited.
pub fn limits() -> (u64, u64) {
    let limit = rustix::process::getrlimit(Resource::Nofile);
    (
        limit.current.unwrap_or(u64::MAX),
        limit.maximum.unwrap_or(u64::MAX),
    )
}

/// Raises the soft descriptor limit to the hard one; returns the new soft limit. Records the
/// limit as it was for [`original`] (the first time only).
pub fn raise_soft_to_hard() -> io::Result<u64> {
    let before = rustix::process::getrlimit(Resource::Nofile);
    if before.current == before.maximum {
        return Ok(before.current.unwrap_or(u64::MAX));
    }
    let raised = Rlimit {
        current: before.maximum,
        maximum: before.maximum,
    };
    rustix::process::setrlimit(Resource::Nofile, raised)?;
    let _ = ORIGINAL.set(before);
    Ok(limits().0)
}

/// The limit to give children: the one the process was started with, when it was raised since.
pub fn original() -> Option<&'static Rlimit> {
    ORIGINAL.get()
}

/// Sets the calling process's limit to `limit`. For the child between clone and exec: one plain
/// syscall, no allocation.
pub(crate) fn restore_in_child(limit: &Rlimit) -> io::Result<()> {
    rustix::process::setrlimit(Resource::Nofile, *limit)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_ordered() {
        let (soft, hard) = limits();
        assert!(soft <= hard, "soft {soft} > hard {hard}");
        assert!(soft > 2, "a process with stdio has more than 2 descriptors");
    }
}
