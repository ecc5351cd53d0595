//! Moving service output from pipes to files without copying it through wrangle's memory, and
//! waiting on many pipes at once: `splice(2)` from a pipe to a file, the bytes waiting in a pipe
//! (`FIONREAD`), non-blocking mode, an epoll set ([`Poller`]) and an eventfd to wake it
//! ([`Waker`]). Used by the log writer's thread (`crate::logs`); it decides, this only does.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{EventfdFlags, epoll};
use rustix::io::Errno;
use rustix::pipe::SpliceFlags;

/// Moves up to `len` bytes from the pipe `pipe` to the end of `file` (opened for appending)
/// inside the kernel. `Ok(0)` means end of file: the pipe's last writer is gone and it is empty.
/// Never waits for the pipe: an empty pipe is `WouldBlock`. Fails with `InvalidInput` where the
/// file's filesystem cannot take spliced bytes (the caller copies instead).
pub fn splice_to_file(pipe: BorrowedFd<'_>, file: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    loop {
        match rustix::pipe::splice(
            pipe,
            None,
            file,
            None,
            len,
            SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
        ) {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// The bytes waiting in the pipe `pipe`.
pub fn bytes_waiting(pipe: BorrowedFd<'_>) -> io::Result<usize> {
    let bytes = rustix::io::ioctl_fionread(pipe)?;
    Ok(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// Reads from `fd` without waiting (`WouldBlock` when there is nothing), retrying on EINTR.
pub fn read_now(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buffer) {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Puts `fd` in non-blocking mode (for a pipe read by [`Poller`]'s owner).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// The most events [`Poller::wait`] takes at once (more wait for the next call).
const EVENTS_PER_WAIT: usize = 64;

/// An epoll set of file descriptors, each with a token; level-triggered readability.
#[derive(Debug)]
pub struct Poller {
    epoll: OwnedFd,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Watches `fd` for readability (and hang-up) under `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
        )?;
        Ok(())
    }

    /// Stops watching `fd` (before it is closed).
    pub fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        epoll::delete(&self.epoll, fd)?;
        Ok(())
    }

    /// Waits until a watched descriptor is readable (or hung up), at most `timeout` (`None`:
    /// for ever; zero: not at all), and calls `ready` with each one's token.
    pub fn wait(&self, timeout: Option<Duration>, mut ready: impl FnMut(u64)) -> io::Result<()> {
        let timeout = timeout.map(|timeout| rustix::event::Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        });
        let mut events = [std::mem::MaybeUninit::<epoll::Event>::uninit(); EVENTS_PER_WAIT];
        loop {
            match epoll::wait(&self.epoll, &mut events, timeout.as_ref()) {
                Err(Errno::INTR) => continue,
                Err(error) => return Err(error.into()),
                Ok((got, _)) => {
                    for event in got.iter() {
                        ready(event.data.u64());
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// An eventfd that wakes a [`Poller`] it is added to: [`Waker::wake`] from any thread, and
/// [`Waker::reset`] by the waiting thread once woken.
#[derive(Debug)]
pub struct Waker(OwnedFd);

impl Waker {
    pub fn new() -> io::Result<Waker> {
        Ok(Waker(rustix::event::eventfd(
            0,
            EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
        )?))
    }

    pub fn wake(&self) {
        // Only fails when the counter would overflow (it is then readable anyway).
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    pub fn reset(&self) {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&self.0, &mut counter);
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
