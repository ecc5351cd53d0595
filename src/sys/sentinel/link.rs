//! The wire between the daemon and the sentinel above it: one `SOCK_SEQPACKET` socket pair.
//!
//! A message is a few text lines, and may carry descriptors (`SCM_RIGHTS`): that is how the
//! sentinel comes to hold duplicates of what the daemon must not lose when it dies (the project
//! lock, the `[sockets]`, the read ends of every service's output pipes). Packets keep their
//! boundaries, so descriptors always arrive with the line that names them.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// The most a message may say; more is cut off by the kernel (`MSG_TRUNC`) and ignored.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The most descriptors one message carries.
pub const MAX_FDS_PER_MESSAGE: usize = 8;

/// A connected pair, both ends close-on-exec (the one passed to a child is unmarked by its
/// spawner).
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Whether `fd` is a socket of the kind [`pair`] makes.
pub fn is_link(fd: BorrowedFd<'_>) -> bool {
    rustix::net::sockopt::socket_type(fd).is_ok_and(|kind| kind == SocketType::SEQPACKET)
}

/// Sends `text` with `fds` (at most [`MAX_FDS_PER_MESSAGE`]) as one message.
pub fn send(
    link: BorrowedFd<'_>,
    text: &[u8],
    fds: &[BorrowedFd<'_>],
    wait: bool,
) -> io::Result<()> {
    let mut space =
        [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MESSAGE))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = &fds[..fds.len().min(MAX_FDS_PER_MESSAGE)];
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("descriptors do not fit one message"));
    }
    let flags = if wait {
        SendFlags::NOSIGNAL
    } else {
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT
    };
    loop {
        match rustix::net::sendmsg(link, &[io::IoSlice::new(text)], &mut control, flags) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// One received message.
#[derive(Debug)]
pub enum Received {
    Message {
        text: Vec<u8>,
        fds: Vec<OwnedFd>,
    },
    /// The other end is closed.
    End,
    /// Nothing to read now (a non-blocking end).
    Nothing,
}

/// Receives one message into a fresh buffer; descriptors beyond [`MAX_FDS_PER_MESSAGE`] are
/// closed by the kernel (`MSG_CTRUNC`), and received ones are close-on-exec.
pub fn receive(link: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<Received> {
    let mut space =
        [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MESSAGE))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = loop {
        match rustix::net::recvmsg(
            link,
            &mut [io::IoSliceMut::new(buffer)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        ) {
            Ok(received) => break received,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(Received::Nothing),
            Err(errno) => return Err(errno.into()),
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    if received.bytes == 0 && fds.is_empty() {
        return Ok(Received::End);
    }
    Ok(Received::Message {
        text: buffer[..received.bytes.min(buffer.len())].to_vec(),
        fds,
    })
}

/// The daemon's end of the link to the sentinel above it.
#[derive(Debug)]
pub struct ParentLink {
    link: OwnedFd,
    sentinel_pid: i32,
}

/// What the daemon tells its sentinel before the first service starts.
#[derive(Debug)]
pub struct LinkSettings<'a> {
    /// How long services get to stop on SIGTERM if the daemon dies.
    pub grace: Duration,
    /// The run's cgroup, when there is one.
    pub cgroup: Option<&'a Path>,
    /// The daemon's log, where the sentinel says what it did.
    pub log: &'a Path,
    /// Where the sentinel writes its report for the next command.
    pub report: &'a Path,
}

/// How long the daemon waits for room on the link (the sentinel reads it at once; one that
/// does not is stopped or stuck, and supervision must not wait for it).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

impl ParentLink {
    /// Takes over descriptor `fd`, given on the command line by the sentinel that started this
    /// process: it must be open and a link ([`pair`]). It is made close-on-exec, so no service
    /// inherits it.
    pub fn adopt(fd: RawFd) -> io::Result<ParentLink> {
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("descriptor {fd} {what}"),
            )
        };
        if fd <= 2 {
            return Err(invalid("is standard input or output"));
        }
        // SAFETY: F_GETFD reads a flag of a descriptor number; a closed one fails with EBADF.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor is open (just checked) and was passed to this process for this
        // purpose alone: nothing else in it knows the number, so this is its only owner.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
        if !is_link(fd.as_fd()) {
            return Err(invalid(
                "is not the sentinel's link (a sequenced-packet socket)",
            ));
        }
        rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Send,
            Some(SEND_TIMEOUT),
        )?;
        let sentinel_pid = rustix::process::getppid().map_or(0, |pid| pid.as_raw_nonzero().get());
        Ok(ParentLink {
            link: fd,
            sentinel_pid,
        })
    }

    /// The sentinel's pid (the daemon's parent).
    pub fn sentinel_pid(&self) -> i32 {
        self.sentinel_pid
    }

    /// The daemon's end itself, to wait for what the sentinel says.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.link.as_fd()
    }

    /// Tells the sentinel how to stop the run if the daemon dies. Paths that a line cannot carry
    /// (with a newline) are left out.
    pub fn tell(&self, settings: &LinkSettings<'_>) -> io::Result<()> {
        let mut text = format!("grace {}\n", settings.grace.as_millis());
        let mut path_line = |key: &str, path: &Path| {
            let path = path.to_string_lossy();
            if !path.contains('\n') {
                text.push_str(&format!("{key} {path}\n"));
            }
        };
        if let Some(cgroup) = settings.cgroup {
            path_line("cgroup", cgroup);
        }
        path_line("log", settings.log);
        path_line("report", settings.report);
        send(self.link.as_fd(), text.as_bytes(), &[], true)
    }

    /// Tells the sentinel that the daemon is about to detach from `up -d`: it lets go of the
    /// pipes to `up -d` so that `up -d` sees their end.
    pub fn detached(&self) -> io::Result<()> {
        send(self.link.as_fd(), b"detached\n", &[], true)
    }

    /// Tells the sentinel that the run is being stopped on purpose: if the daemon dies from now
    /// on, the sentinel stops what is left instead of starting a successor.
    pub fn stopping(&self) -> io::Result<()> {
        send(self.link.as_fd(), b"stopping\n", &[], true)
    }

    /// Has the sentinel hold duplicates of `fds` under `tag` (one word or several, no newline),
    /// for a successor should the daemon die (see `sys::sentinel`).
    pub fn hold(&self, tag: &str, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        if tag.contains('\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a tag is one line",
            ));
        }
        send(
            self.link.as_fd(),
            format!("hold {tag}\n").as_bytes(),
            fds,
            true,
        )
    }

    /// For a successor (`--adopt`): what the sentinel held for it, by tag, each descriptor
    /// inherited at the number the sentinel's first message names (`held FD TAG`). Descriptors
    /// that are not open are left out.
    pub fn take_held(&self) -> io::Result<Vec<(String, OwnedFd)>> {
        let mut buffer = vec![0u8; MAX_MESSAGE_BYTES];
        let text = match receive(self.link.as_fd(), &mut buffer)? {
            Received::Message { text, .. } => text,
            Received::End | Received::Nothing => {
                return Err(io::Error::other(
                    "the sentinel said nothing of what it holds",
                ));
            }
        };
        let mut held = Vec::new();
        for line in String::from_utf8_lossy(&text).lines() {
            let Some((fd, tag)) = line
                .strip_prefix("held ")
                .and_then(|rest| rest.split_once(' '))
            else {
                continue;
            };
            let Ok(fd) = fd.parse::<RawFd>() else {
                continue;
            };
            if fd <= 2 || fd == self.link.as_raw_fd() || held_already(&held, fd) {
                continue;
            }
            // SAFETY: F_GETFD reads a flag of a descriptor number; a closed one fails.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                continue;
            }
            // SAFETY: the sentinel passed this open descriptor to this process for this purpose
            // alone (and said so on the link, which only it can write): its only owner is us.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
            held.push((tag.to_string(), fd));
        }
        Ok(held)
    }

    /// Has the sentinel close what it holds under `tag`.
    pub fn release(&self, tag: &str) -> io::Result<()> {
        send(
            self.link.as_fd(),
            format!("release {tag}\n").as_bytes(),
            &[],
            true,
        )
    }
}

/// `fd` (a link's end) registered with the async runtime, to await what arrives on it.
pub fn watch(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the descriptor stays open and refers
    // to the same socket for the AsyncFd's whole life.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)
}

fn held_already(held: &[(String, OwnedFd)], fd: RawFd) -> bool {
    held.iter().any(|(_, owned)| owned.as_raw_fd() == fd)
}

/// How a child of the sentinel ended, as it tells the daemon (`exited PID code N`,
/// `exited PID signal N`): the pid, and the code or the signal.
pub fn parse_exit(line: &str) -> Option<(i32, Result<i32, i32>)> {
    let mut words = line.strip_prefix("exited ")?.split(' ');
    let pid = words.next()?.parse().ok()?;
    let kind = words.next()?;
    let number = words.next()?.parse().ok()?;
    match kind {
        "code" => Some((pid, Ok(number))),
        "signal" => Some((pid, Err(number))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn descriptors_travel_with_their_message() {
        let (a, b) = pair().expect("pair");
        assert!(is_link(a.as_fd()));
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        send(
            a.as_fd(),
            b"hold out web 1 3 stdout\n",
            &[reader.as_fd()],
            true,
        )
        .expect("send");
        send(a.as_fd(), b"grace 10\n", &[], true).expect("send");
        drop(reader);
        let mut buffer = vec![0; MAX_MESSAGE_BYTES];
        let Received::Message { text, fds } = receive(b.as_fd(), &mut buffer).expect("receive")
        else {
            panic!("a message was sent")
        };
        assert_eq!(text, b"hold out web 1 3 stdout\n");
        assert_eq!(fds.len(), 1);
        std::fs::File::from(writer).write_all(b"x").expect("write");
        let mut byte = [0u8; 1];
        std::fs::File::from(fds.into_iter().next().expect("fd"))
            .read_exact(&mut byte)
            .expect("the received end reads the pipe");
        assert_eq!(&byte, b"x");
        let Received::Message { text, fds } = receive(b.as_fd(), &mut buffer).expect("receive")
        else {
            panic!("a second message was sent")
        };
        assert_eq!((text.as_slice(), fds.len()), (&b"grace 10\n"[..], 0));
        assert!(matches!(
            receive(b.as_fd(), &mut buffer),
            Ok(Received::Nothing)
        ));
        drop(a);
        assert!(matches!(receive(b.as_fd(), &mut buffer), Ok(Received::End)));
    }

    #[test]
    fn a_link_must_be_an_open_link() {
        assert!(ParentLink::adopt(1).is_err());
        assert!(ParentLink::adopt(1_000_000).is_err());
        let (reader, _writer) = rustix::pipe::pipe().expect("pipe");
        let raw = reader.as_raw_fd();
        // Adopting takes ownership: hand it over.
        std::mem::forget(reader);
        let error = ParentLink::adopt(raw).expect_err("a pipe is not a link");
        assert!(
            error.to_string().contains("not the sentinel's link"),
            "{error}"
        );
        let (ours, theirs) = pair().expect("pair");
        let raw = ours.as_raw_fd();
        std::mem::forget(ours);
        let link = ParentLink::adopt(raw).expect("a link");
        link.release("out web 1 2").expect("send");
        let mut buffer = vec![0; MAX_MESSAGE_BYTES];
        assert!(matches!(
            receive(theirs.as_fd(), &mut buffer),
            Ok(Received::Message { text, .. }) if text == b"release out web 1 2\n"
        ));
    }

    #[test]
    fn exits_are_read_back() {
        assert_eq!(parse_exit("exited 42 code 3"), Some((42, Ok(3))));
        assert_eq!(parse_exit("exited 42 signal 9"), Some((42, Err(9))));
        assert_eq!(parse_exit("exited 42 nope 9"), None);
        assert_eq!(parse_exit("exited x code 9"), None);
        assert_eq!(parse_exit("held 3 lock"), None);
    }
}
