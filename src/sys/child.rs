//! A child of a command (`wrangle run`'s), held by a pidfd opened while it is unreaped: a signal
//! sent through it reaches exactly that process, never one that took its PID after it exited.

use std::os::fd::OwnedFd;
use std::process::Child;

use rustix::process::{Pid, PidfdFlags};

pub use rustix::process::Signal;

/// See the module docs.
pub struct ChildHandle(OwnedFd);

impl ChildHandle {
    /// The handle of `child`, which must not have been waited for; `None` where pidfds are not
    /// available (kernels before 5.3).
    pub fn of(child: &Child) -> Option<ChildHandle> {
        rustix::process::pidfd_open(Pid::from_child(child), PidfdFlags::empty())
            .ok()
            .map(ChildHandle)
    }

    /// Sends `signal`; a child that has exited meanwhile is not an error worth reporting.
    pub fn signal(&self, signal: Signal) {
        let _ = rustix::process::pidfd_send_signal(&self.0, signal);
    }
}
