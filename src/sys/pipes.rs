//! Moving service output from pipes to files without copying it through wrangle's memory, and
//! waiting on many pipes at once: `splice(2)` from a pipe to a file, through a [`Relay`] pipe,
//! the bytes waiting in a pipe (`FIONREAD`), non-blocking mode, an epoll set ([`Poller`]) and an
//! eventfd to wake it ([`Waker`]). Used by the log writer's thread (`crate::logs`); it decides,
//! this only does.

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

/// A private pipe between a service's pipe and its file.
///
/// Splicing a pipe to a file holds the pipe's lock for the whole copy into the page cache, so
/// the service's next write waits for it, and the two copies (the service's into the pipe, ours
/// into the file) take turns instead of running side by side on two cores. Splicing from pipe
/// to pipe copies nothing (the kernel moves its page references) and holds the service's pipe
/// only for that move; the copy into the file is then made from the relay, which nobody else
/// writes. Measured in bench/ (log throughput): the service's writes then go as fast as they go
/// to a file of its own.
#[derive(Debug)]
pub struct Relay {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Relay {
    /// A relay holding up to `capacity` bytes (or the most the system allows a pipe).
    pub fn new(capacity: usize) -> io::Result<Relay> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let capacity = rustix::pipe::fcntl_setpipe_size(&write, capacity)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&write))?;
        Ok(Relay {
            read,
            write,
            capacity,
        })
    }

    /// Moves up to `len` bytes (at most the relay's capacity) from `pipe` into the empty relay,
    /// without waiting: `Ok(0)` is the end of `pipe`, an empty `pipe` is `WouldBlock`.
    pub fn take(&self, pipe: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
        loop {
            match rustix::pipe::splice(
                pipe,
                None,
                &self.write,
                None,
                len.min(self.capacity),
                SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
            ) {
                Err(Errno::INTR) => continue,
                other => return other.map_err(io::Error::from),
            }
        }
    }

    /// Moves up to `len` of the bytes the relay holds to the end of `file` (see
    /// [`splice_to_file`]).
    pub fn give(&self, file: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
        splice_to_file(self.read.as_fd(), file, len)
    }

    /// Reads bytes the relay holds into `buffer` (when they cannot go to the file).
    pub fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        read_now(self.read.as_fd(), buffer)
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};

    use super::*;

    #[test]
    fn a_relay_moves_a_pipes_bytes_to_a_file_and_says_when_the_pipe_is_empty_or_ended() {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        set_nonblocking(read.as_fd()).unwrap();
        let relay = Relay::new(1 << 20).unwrap();
        let mut file = tempfile::tempfile().unwrap();

        // Empty: nothing to wait for.
        let empty = relay.take(read.as_fd(), 1 << 20).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);

        let mut writer = std::fs::File::from(write);
        let lines: Vec<u8> = (0..1000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        writer.write_all(&lines).unwrap();
        let taken = relay.take(read.as_fd(), 1 << 20).unwrap();
        assert_eq!(taken, lines.len());
        let mut given = 0;
        while given < taken {
            given += relay.give(file.as_fd(), taken - given).unwrap();
        }
        // A bound smaller than what the pipe holds is kept; the rest can be read back.
        writer.write_all(b"abcdef").unwrap();
        assert_eq!(relay.take(read.as_fd(), 4).unwrap(), 4);
        assert_eq!(relay.give(file.as_fd(), 4).unwrap(), 4);
        assert_eq!(relay.take(read.as_fd(), 10).unwrap(), 2);
        let mut back = [0u8; 8];
        assert_eq!(relay.read(&mut back).unwrap(), 2);
        assert_eq!(&back[..2], b"ef");

        drop(writer);
        assert_eq!(relay.take(read.as_fd(), 1 << 20).unwrap(), 0, "end of file");
        let mut written = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut written).unwrap();
        let mut expected = lines;
        expected.extend_from_slice(b"abcd");
        assert_eq!(written, expected);
    }
}
