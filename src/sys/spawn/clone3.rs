//! The one piece of assembly in wrangle: the `clone3` system call, returning in the child into a
//! function on a stack of the caller's choosing.
//!
//! # Why assembly
//! [`super::vfork`] starts children with `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
//! CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP)`: no copy of wrangle's memory, the child born in its
//! cgroup, its pidfd returned. No library offers that call: glibc keeps its `clone3` wrapper
//! internal, rustix and std have none, and `posix_spawn` cannot set a parent-death signal. A
//! child that shares its parent's memory cannot return from the system call into compiled Rust
//! code either: it must switch to its own stack before running anything. Hence a dozen lines of
//! assembly, here and nowhere else, behind one `unsafe fn` with a written contract and tests of
//! their own.
//!
//! # Boundary
//! This module knows nothing of processes, programs or services: [`clone3`] starts `child(context)`
//! in a new task and returns the kernel's answer. What the child does is the caller's (and must
//! be async-signal-safe: it runs on the caller's memory while the caller is suspended). Off
//! x86_64 the call answers ENOSYS, which makes callers fall back to `std::process::Command`.

/// `CLONE_VM`: the child runs in the parent's memory (no copy of the page tables).
pub(super) const CLONE_VM: u64 = 0x100;
/// `CLONE_VFORK`: the parent is suspended until the child execs or exits.
pub(super) const CLONE_VFORK: u64 = 0x4000;
/// `CLONE_PIDFD`: the kernel stores a pidfd of the child at `CloneArgs::pidfd`.
pub(super) const CLONE_PIDFD: u64 = 0x1000;
/// `CLONE_CLEAR_SIGHAND`: every signal handler is reset to its default in the child (5.5).
pub(super) const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
/// `CLONE_INTO_CGROUP`: the child starts in the cgroup whose directory `CloneArgs::cgroup` is
/// (5.7).
pub(super) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` (linux/sched.h), the version with `cgroup` (Linux 5.7).
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// `clone3(args)`; in the child, calls `child(context)` on the stack `args` describes, which
/// never returns. Returns the child's pid in the parent, or `-errno` when the kernel refused.
///
/// # Safety
/// - `args.stack`/`args.stack_size` describe memory that stays valid and unused by anyone else
///   until the child has exec'd or exited;
/// - with `CLONE_VM`, `args.flags` includes `CLONE_VFORK` (the caller is suspended while the child
///   runs in its memory), and `child` only makes async-signal-safe calls and ends with `execve`
///   or `_exit`;
/// - `context` stays valid until the child has exec'd or exited;
/// - any pointer in `args` (`pidfd`, ...) points at memory the kernel may write.
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn clone3<T>(
    args: &mut CloneArgs,
    child: extern "C" fn(*const T) -> !,
    context: *const T,
) -> isize {
    let result: isize;
    // SAFETY: see the function's contract. In the parent the syscall clobbers only rcx and r11
    // (declared). In the child (rax == 0) the kernel has switched to the new stack; the code
    // clears the frame pointer, aligns the stack as the ABI wants at a call, calls `child`, and
    // never comes back into the compiled code (`ud2` if it ever returned).
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "and rsp, -16",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => result,
            in("rdi") args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") context,
            in("r13") child,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// Elsewhere there is no trampoline: callers take their portable path.
///
/// # Safety
/// Always safe; `unsafe` only to match the x86_64 signature.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn clone3<T>(
    _args: &mut CloneArgs,
    _child: extern "C" fn(*const T) -> !,
    _context: *const T,
) -> isize {
    -(libc::ENOSYS as isize)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rustix::process::{Pid, WaitOptions};

    use super::*;

    /// What the test child writes back into the parent's memory.
    struct Shared {
        /// The address of a local of the child: proves which stack it ran on.
        local_at: AtomicUsize,
        exit_code: i32,
    }

    extern "C" fn child(shared: *const Shared) -> ! {
        // SAFETY: the parent keeps `shared` alive and is suspended until we exit.
        let shared = unsafe { &*shared };
        let local = 0u8;
        shared
            .local_at
            .store(std::ptr::addr_of!(local) as usize, Ordering::Release);
        // SAFETY: ends this child without running anything of the parent's.
        unsafe { libc::_exit(shared.exit_code) }
    }

    fn wait(pid: isize) -> rustix::process::WaitStatus {
        let pid = Pid::from_raw(pid as i32).expect("a pid");
        rustix::process::waitpid(Some(pid), WaitOptions::empty())
            .expect("waitpid")
            .expect("a status")
            .1
    }

    #[test]
    fn the_child_runs_on_the_given_stack_in_shared_memory_and_returns_a_pidfd() {
        let mut stack = vec![0u8; 16 * 1024];
        let shared = Shared {
            local_at: AtomicUsize::new(0),
            exit_code: 7,
        };
        let mut pidfd: libc::c_int = -1;
        let mut args = CloneArgs {
            flags: CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND,
            pidfd: &raw mut pidfd as u64,
            exit_signal: libc::SIGCHLD as u64,
            stack: stack.as_mut_ptr() as u64,
            stack_size: stack.len() as u64,
            ..CloneArgs::default()
        };
        // SAFETY: the stack and `shared` outlive the child, which only stores and `_exit`s.
        let pid = unsafe { clone3(&mut args, child, &shared) };
        assert!(pid > 0, "clone3 failed: {}", -pid);
        // CLONE_VFORK: we resume only after the child exited, so its store is visible.
        let at = shared.local_at.load(Ordering::Acquire);
        let range = stack.as_ptr() as usize..stack.as_ptr() as usize + stack.len();
        assert!(range.contains(&at), "{at:#x} outside {range:x?}");
        // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        // The pidfd is the child's (a zombie until reaped): the kernel says whose in fdinfo.
        let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
            .expect("fdinfo");
        assert!(
            fdinfo.lines().any(|line| line == format!("Pid:\t{pid}")),
            "{fdinfo}"
        );
        assert_eq!(wait(pid).exit_status(), Some(7));
    }

    #[test]
    fn a_refusal_is_a_negative_errno_and_starts_nothing() {
        let mut stack = vec![0u8; 16 * 1024];
        let shared = Shared {
            local_at: AtomicUsize::new(0),
            exit_code: 0,
        };
        let mut args = CloneArgs {
            // CLONE_INTO_CGROUP with a descriptor that is not a cgroup directory.
            flags: CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            stack: stack.as_mut_ptr() as u64,
            stack_size: stack.len() as u64,
            cgroup: u64::from(u32::MAX >> 1),
            ..CloneArgs::default()
        };
        // SAFETY: as above; the kernel refuses before any child exists.
        let result = unsafe { clone3(&mut args, child, &shared) };
        assert!(result < 0, "started {result}");
        assert_eq!(shared.local_at.load(Ordering::Acquire), 0, "no child ran");
    }
}
