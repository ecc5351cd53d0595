//! The `NOTIFY_SOCKET` server: wrangle plays systemd's part of the sd_notify protocol so that
//! services which announce `READY=1` can use that as their readiness probe.
//!
//! This owns one Unix datagram socket: binding it safely, reading datagrams with the sender's
//! credentials, parsing them, and removing the socket file again. It does not decide what a
//! message means for the service (the supervisor matches `sender_pid` and `main_pid` against the
//! process tree) and does not put `NOTIFY_SOCKET` into anyone's environment.
//!
//! # Caveats
//!
//! The socket file exists for a moment with umask-derived permissions before it is chmod'ed to
//! 0600. Sockets belong in a private directory (`$XDG_RUNTIME_DIR`), which makes that window
//! harmless; the chmod is for the case where the directory is shared with the user's other files.
//!
//! See: man 3 sd_notify, man 7 unix (SO_PASSCRED, SCM_CREDENTIALS).

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram as StdUnixDatagram;
use std::path::{Path, PathBuf};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// The largest datagram accepted. systemd rejects anything over its own buffer of the same order;
/// a real notification is a few dozen bytes.
const MAX_DATAGRAM: usize = 4096;

/// A bound `NOTIFY_SOCKET`. Dropping it removes the socket file.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    /// Device and inode of the file we created, so that `Drop` never removes a file someone else
    /// put at the same path after us.
    identity: Option<(u64, u64)>,
}

/// One notification, parsed. Fields not sent are `false`/`None`; unknown keys are ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NotifyMessage {
    /// `READY=1`.
    pub ready: bool,
    /// `STOPPING=1`.
    pub stopping: bool,
    /// `STATUS=…`: free text the service wants shown.
    pub status: Option<String>,
    /// `MAINPID=…`: the service says its main process is this pid (for forking daemons).
    pub main_pid: Option<i32>,
    /// The pid of the process that sent the datagram, from `SCM_CREDENTIALS`, when the kernel
    /// supplied it.
    pub sender_pid: Option<i32>,
}

impl NotifySocket {
    /// Bind a Unix datagram socket at `path`, mode 0600, with `SO_PASSCRED` on.
    ///
    /// A stale socket file at that exact path (left by a crashed wrangle) is removed first, but
    /// only when it *is* a socket: a symlink or a regular file there is never followed or
    /// removed, and the bind then fails with `AddrInUse`. Must be called inside a tokio runtime
    /// (the socket is registered with it); outside one this returns an error.
    pub fn bind(path: &Path) -> io::Result<NotifySocket> {
        // tokio panics when registering outside a runtime; turn that into an error instead.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "NotifySocket::bind must be called inside a tokio runtime",
            ));
        }
        match std::fs::symlink_metadata(path) {
            Ok(metadata) if metadata.file_type().is_socket() => std::fs::remove_file(path)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let std_socket = StdUnixDatagram::bind(path)?;
        // From here on the file is ours; a guard removes it if a later step fails.
        let guard = RemoveOnError(Some(path));
        // chmod after bind rather than through umask: umask is process-wide and other threads
        // create files too.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        rustix::net::sockopt::set_socket_passcred(&std_socket, true)?;
        std_socket.set_nonblocking(true)?;
        let identity = std::fs::symlink_metadata(path)
            .ok()
            .map(|metadata| (metadata.dev(), metadata.ino()));
        let socket = UnixDatagram::from_std(std_socket)?;
        guard.disarm();
        Ok(NotifySocket {
            socket,
            path: path.to_path_buf(),
            identity,
        })
    }

    /// The path to put into a service's `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Next datagram, parsed. Messages are newline-separated KEY=VALUE; all of them are returned
    /// in one [`NotifyMessage`].
    ///
    /// An error of kind `InvalidData` (a datagram too large to be a notification) concerns that
    /// datagram only; the socket stays usable. Cancel-safe: a datagram is either returned or
    /// left in the socket.
    pub async fn recv(&self) -> io::Result<NotifyMessage> {
        let mut data = [0u8; MAX_DATAGRAM];
        let (length, sender_pid) = self
            .socket
            .async_io(Interest::READABLE, || receive(&self.socket, &mut data))
            .await?;
        let mut message = parse(&data[..length]);
        message.sender_pid = sender_pid;
        Ok(message)
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let still_ours = std::fs::symlink_metadata(&self.path)
            .map(|metadata| Some((metadata.dev(), metadata.ino())) == self.identity)
            .unwrap_or(false);
        if still_ours {
            // Nothing useful to do on failure while dropping; a stale socket is removed by the
            // next bind anyway.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes the socket file unless disarmed: `bind`'s cleanup for its fallible steps.
struct RemoveOnError<'a>(Option<&'a Path>);

impl RemoveOnError<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnError<'_> {
    fn drop(&mut self) {
        if let Some(path) = self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One non-blocking `recvmsg`: the datagram's length and the sender's pid.
fn receive(socket: &UnixDatagram, data: &mut [u8]) -> io::Result<(usize, Option<i32>)> {
    let mut control_space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
    let mut control = RecvAncillaryBuffer::new(&mut control_space);
    let mut iov = [IoSliceMut::new(data)];
    // CMSG_CLOEXEC: a sender may attach file descriptors we never asked for; rustix closes
    // those when the buffer drops, and until then they must not leak into a spawn.
    let received = rustix::net::recvmsg(
        socket,
        &mut iov,
        &mut control,
        RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut sender_pid = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmCredentials(credentials) = message {
            sender_pid = Some(credentials.pid.as_raw_nonzero().get());
        }
    }
    if received.flags.contains(ReturnFlags::TRUNC) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("notification larger than {MAX_DATAGRAM} bytes ignored"),
        ));
    }
    Ok((received.bytes, sender_pid))
}

/// Parses newline-separated `KEY=VALUE` assignments. Later assignments win, as in systemd.
fn parse(data: &[u8]) -> NotifyMessage {
    let text = String::from_utf8_lossy(data);
    let mut message = NotifyMessage::default();
    for line in text.split('\n') {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "READY" => message.ready = value == "1",
            "STOPPING" => message.stopping = value == "1",
            "STATUS" => message.status = Some(value.to_string()),
            // A pid of 0 or below names no process; ignore it rather than pass it on.
            "MAINPID" => message.main_pid = value.parse().ok().filter(|pid: &i32| *pid > 0),
            _ => {}
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::runtime;

    use std::time::Duration;

    fn recv_within(socket: &NotifySocket, runtime: &tokio::runtime::Runtime) -> NotifyMessage {
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), socket.recv()).await })
            .expect("a datagram within 10s")
            .expect("recv")
    }

    #[test]
    fn parses_every_key() {
        let message = parse(b"READY=1\nSTATUS=up and running\nMAINPID=4242\nWATCHDOG=1\n");
        assert_eq!(
            message,
            NotifyMessage {
                ready: true,
                stopping: false,
                status: Some("up and running".to_string()),
                main_pid: Some(4242),
                sender_pid: None,
            }
        );
        assert!(parse(b"STOPPING=1").stopping);
        assert_eq!(parse(b""), NotifyMessage::default());
        assert_eq!(parse(b"READY=0"), NotifyMessage::default());
        assert_eq!(parse(b"MAINPID=-1\nMAINPID=x"), NotifyMessage::default());
        assert_eq!(parse(b"\xff\xfe=\n=\nnoequals"), NotifyMessage::default());
        assert_eq!(parse(b"STATUS=a=b").status.as_deref(), Some("a=b"));
    }

    #[test]
    fn receives_from_a_std_socket_with_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let runtime = runtime();
        let socket = runtime
            .block_on(async { NotifySocket::bind(&path) })
            .expect("bind");
        assert_eq!(socket.path(), path);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let client = StdUnixDatagram::unbound().expect("client");
        client.send_to(b"READY=1\nSTATUS=up", &path).expect("send");
        let message = recv_within(&socket, &runtime);
        assert!(message.ready);
        assert_eq!(message.status.as_deref(), Some("up"));
        assert_eq!(message.sender_pid, Some(std::process::id() as i32));

        drop(socket);
        assert!(!path.exists(), "socket file removed on drop");
    }

    #[test]
    fn receives_from_a_real_child_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let runtime = runtime();
        let socket = runtime
            .block_on(async { NotifySocket::bind(&path) })
            .expect("bind");
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import socket,os; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); \
                 s.connect(os.environ['NOTIFY_SOCKET']); s.send(b'READY=1')",
            )
            .env("NOTIFY_SOCKET", &path)
            .spawn()
            .expect("python3 runs");
        let child_pid = child.id() as i32;
        let message = recv_within(&socket, &runtime);
        let status = child.wait().expect("wait");
        assert!(status.success());
        assert!(message.ready);
        assert_eq!(message.sender_pid, Some(child_pid));
    }

    #[test]
    fn oversized_datagram_is_an_error_and_the_socket_survives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let runtime = runtime();
        let socket = runtime
            .block_on(async { NotifySocket::bind(&path) })
            .expect("bind");
        let client = StdUnixDatagram::unbound().expect("client");
        let mut big = b"STATUS=".to_vec();
        big.resize(MAX_DATAGRAM + 100, b'x');
        client.send_to(&big, &path).expect("send big");
        client.send_to(b"READY=1", &path).expect("send");
        let err = runtime.block_on(socket.recv()).expect_err("too large");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(recv_within(&socket, &runtime).ready);
    }

    #[test]
    fn stale_socket_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let stale = StdUnixDatagram::bind(&path).expect("stale");
        drop(stale);
        assert!(path.exists());
        let runtime = runtime();
        let socket = runtime
            .block_on(async { NotifySocket::bind(&path) })
            .expect("rebind");
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn regular_file_and_symlink_are_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = runtime();

        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").expect("write");
        let err = runtime
            .block_on(async { NotifySocket::bind(&file) })
            .expect_err("not a socket");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");

        // A symlink to a stale socket: neither the link nor its target may be removed.
        let target = dir.path().join("target.sock");
        drop(StdUnixDatagram::bind(&target).expect("target"));
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = runtime
            .block_on(async { NotifySocket::bind(&link) })
            .expect_err("symlink");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert!(target.exists());
    }

    #[test]
    fn bind_outside_a_runtime_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        assert!(NotifySocket::bind(&path).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn drop_leaves_a_replacement_file_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let runtime = runtime();
        let socket = runtime
            .block_on(async { NotifySocket::bind(&path) })
            .expect("bind");
        std::fs::remove_file(&path).expect("remove");
        std::fs::write(&path, "someone else").expect("write");
        drop(socket);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "someone else"
        );
    }
}
