//! Listening sockets that wrangle binds once and hands to services (socket activation): TCP
//! sockets, and Unix stream sockets whose files are created and removed with care.
//!
//! # Why wrangle binds them
//! A socket bound by wrangle outlives every process that serves it: during a restart, connections
//! wait in its backlog instead of being refused, and several instances (or an old and a new one,
//! during a reload) accept from the same queue. The kernel hands each connection to one of the
//! processes blocked in `accept`; wrangle itself never accepts.
//!
//! # How
//! Sockets are opened close-on-exec (the spawner clears the flag in the children that receive
//! them, see `sys::spawn`) and left **blocking**: the flag belongs to the open file, which every
//! process holding the socket shares, and programs written for systemd expect a blocking socket
//! (they set non-blocking themselves when they want it). TCP sockets get `SO_REUSEADDR`, so a run
//! can bind the address while connections of an earlier run linger in `TIME_WAIT`.
//!
//! A Unix socket's file is only created where nobody else can interfere: its directory must
//! belong to this user (or root) and be writable by nobody else, unless it is sticky like `/tmp`
//! (then others cannot remove or rename our file). An existing file at the path is never
//! followed if it is a symbolic link, never removed unless it is a socket of this user that
//! nothing listens on any more (a stale one, left by a run that was killed), and a live one is
//! refused. The file gets its mode before the socket listens, and is removed at the end of the
//! run only if it is still the file wrangle created (same device and inode).

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::sys::spawn::ListenFds;

/// The backlog asked for; the kernel caps it at `net.core.somaxconn` (4096 on current kernels).
/// Connections wait there while no instance accepts (during a restart).
const BACKLOG: i32 = 4096;

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(OwnedFd),
    Unix(UnixSocket),
}

impl Listener {
    pub fn fd(&self) -> &OwnedFd {
        match self {
            Listener::Tcp(fd) => fd,
            Listener::Unix(socket) => &socket.fd,
        }
    }
}

/// A run's sockets, by their index in the project, each with the name a service receives.
/// Dropping them closes the sockets and removes the files of Unix ones.
#[derive(Debug, Default)]
pub struct BoundSockets {
    sockets: Vec<(String, Listener)>,
}

impl BoundSockets {
    pub fn new(sockets: Vec<(String, Listener)>) -> BoundSockets {
        BoundSockets { sockets }
    }

    /// What a child receiving the sockets numbered `ids` (in that order) gets; `None` for none.
    pub fn listen_fds(&self, ids: &[usize]) -> Option<ListenFds> {
        if ids.is_empty() {
            return None;
        }
        let chosen: Vec<&(String, Listener)> =
            ids.iter().filter_map(|id| self.sockets.get(*id)).collect();
        Some(ListenFds {
            fds: chosen
                .iter()
                .map(|(_, listener)| std::os::fd::AsRawFd::as_raw_fd(listener.fd()))
                .collect(),
            names: chosen.iter().map(|(name, _)| name.clone()).collect(),
        })
    }

    /// Each socket, by its index in the project.
    pub fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.sockets
            .iter()
            .map(|(_, listener)| std::os::fd::AsFd::as_fd(listener.fd()))
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

/// Binds and listens on a TCP address.
pub fn bind_tcp(address: SocketAddr) -> io::Result<OwnedFd> {
    let family = match address {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &address)?;
    rustix::net::listen(&fd, BACKLOG)?;
    Ok(fd)
}

/// Why a Unix socket cannot be created at its path.
#[derive(Debug, thiserror::Error)]
pub enum UnixSocketError {
    /// A process listens on the socket at this path.
    #[error("{} is in use: a process listens on it", .0.display())]
    InUse(PathBuf),
    /// Something other than a socket is there.
    #[error("{} exists and is not a socket ({}); wrangle does not replace it", .0.display(), .1)]
    NotASocket(PathBuf, &'static str),
    /// A socket of another user is there.
    #[error("{} is a socket of uid {}, not yours; wrangle does not remove it", .0.display(), .1)]
    Foreign(PathBuf, u32),
    /// The directory lets someone else replace the file.
    #[error("cannot create a socket in {}: {}", .0.display(), .1)]
    UnsafeDirectory(PathBuf, String),
    #[error("cannot create the socket {}: {}", .0.display(), .1)]
    Io(PathBuf, #[source] io::Error),
}

/// A listening Unix socket and the file it was bound to.
#[derive(Debug)]
pub struct UnixSocket {
    pub fd: OwnedFd,
    path: PathBuf,
    /// The file's identity right after it was bound: only that file is ever removed.
    file: (u64, u64),
}

impl UnixSocket {
    /// Creates the socket file at `path` (absolute) with permissions `mode`, and listens.
    pub fn bind(path: &Path, mode: u32) -> Result<UnixSocket, UnixSocketError> {
        let io_error = |error: io::Error| UnixSocketError::Io(path.to_path_buf(), error);
        let directory = path.parent().unwrap_or(Path::new("/"));
        check_directory(directory)?;
        clear_stale(path)?;
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|error| io_error(error.into()))?;
        let address = SocketAddrUnix::new(path).map_err(|error| io_error(error.into()))?;
        rustix::net::bind(&fd, &address).map_err(|error| match error {
            rustix::io::Errno::ADDRINUSE => UnixSocketError::InUse(path.to_path_buf()),
            other => io_error(other.into()),
        })?;
        // Nobody can connect yet: the socket does not listen. The directory was checked, so the
        // file at `path` is the one just bound.
        let metadata = std::fs::symlink_metadata(path).map_err(io_error)?;
        let socket = UnixSocket {
            fd,
            path: path.to_path_buf(),
            file: (metadata.dev(), metadata.ino()),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_error)?;
        rustix::net::listen(&socket.fd, BACKLOG).map_err(|error| io_error(error.into()))?;
        Ok(socket)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes over a listening socket bound to `path` by a daemon that died (held for us by the
    /// sentinel): it must be a Unix stream socket bound to exactly `path`, where a socket file of
    /// ours is; that file is the one removed at the end.
    pub fn adopt(fd: OwnedFd, path: &Path) -> io::Result<UnixSocket> {
        let not_it = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the socket held for {} {what}", path.display()),
            )
        };
        let bound = rustix::net::getsockname(&fd)?;
        let bound = SocketAddrUnix::try_from(bound).map_err(|_| not_it("is not a Unix socket"))?;
        if bound.path().map(|bound| bound.to_bytes().to_vec())
            != Some(path.as_os_str().as_encoded_bytes().to_vec())
        {
            return Err(not_it("is bound elsewhere"));
        }
        let metadata = std::fs::symlink_metadata(path)?;
        if !std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type())
            || metadata.uid() != rustix::process::geteuid().as_raw()
        {
            return Err(not_it("has no socket file of ours"));
        }
        Ok(UnixSocket {
            fd,
            path: path.to_path_buf(),
            file: (metadata.dev(), metadata.ino()),
        })
    }
}

impl Drop for UnixSocket {
    /// Removes the socket's file, if it is still the one this socket was bound to.
    fn drop(&mut self) {
        if let Ok(metadata) = std::fs::symlink_metadata(&self.path)
            && (metadata.dev(), metadata.ino()) == self.file
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The directory must not let anyone else put a file where the socket goes, or swap it later.
fn check_directory(directory: &Path) -> Result<(), UnixSocketError> {
    let unsafe_directory =
        |reason: String| UnixSocketError::UnsafeDirectory(directory.to_path_buf(), reason);
    let metadata = std::fs::metadata(directory)
        .map_err(|error| UnixSocketError::Io(directory.to_path_buf(), error))?;
    if !metadata.is_dir() {
        return Err(unsafe_directory("not a directory".to_string()));
    }
    let own_uid = rustix::process::geteuid().as_raw();
    if metadata.uid() != own_uid && metadata.uid() != 0 {
        return Err(unsafe_directory(format!(
            "it belongs to uid {}, not to you",
            metadata.uid()
        )));
    }
    let mode = metadata.mode();
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Err(unsafe_directory(format!(
            "others may write to it (mode {:04o}); use a directory only you can write to",
            mode & 0o7777
        )));
    }
    Ok(())
}

/// Removes a stale socket of ours at `path` (nothing listens on it); refuses anything else that
/// is there.
fn clear_stale(path: &Path) -> Result<(), UnixSocketError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(UnixSocketError::Io(path.to_path_buf(), error)),
    };
    let file_type = metadata.file_type();
    if file_type.is_symlink() {
        return Err(UnixSocketError::NotASocket(
            path.to_path_buf(),
            "a symbolic link, never followed",
        ));
    }
    if !std::os::unix::fs::FileTypeExt::is_socket(&file_type) {
        let what = if file_type.is_dir() {
            "a directory"
        } else if file_type.is_file() {
            "a regular file"
        } else {
            "a special file"
        };
        return Err(UnixSocketError::NotASocket(path.to_path_buf(), what));
    }
    let own_uid = rustix::process::geteuid().as_raw();
    if metadata.uid() != own_uid {
        return Err(UnixSocketError::Foreign(path.to_path_buf(), metadata.uid()));
    }
    if is_listening(path) {
        return Err(UnixSocketError::InUse(path.to_path_buf()));
    }
    std::fs::remove_file(path).map_err(|error| UnixSocketError::Io(path.to_path_buf(), error))
}

/// Whether a connection to the socket at `path` is accepted (something listens there). A stale
/// socket refuses it.
fn is_listening(path: &Path) -> bool {
    let Ok(fd) = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    ) else {
        return false;
    };
    let Ok(address) = SocketAddrUnix::new(path) else {
        return false;
    };
    // Non-blocking: a listener with a full backlog answers EAGAIN, which still means someone
    // listens; only ECONNREFUSED (and ENOENT) say nobody does.
    match rustix::net::connect(&fd, &address) {
        Ok(()) => true,
        Err(rustix::io::Errno::CONNREFUSED | rustix::io::Errno::NOENT) => false,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use super::*;

    fn private_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        dir
    }

    #[test]
    fn a_tcp_socket_listens_blocking_and_close_on_exec() {
        let fd = bind_tcp("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let flags = rustix::fs::fcntl_getfl(&fd).expect("getfl");
        assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK));
        let fd_flags = rustix::io::fcntl_getfd(&fd).expect("getfd");
        assert!(fd_flags.contains(rustix::io::FdFlags::CLOEXEC));
        assert!(rustix::net::sockopt::socket_acceptconn(&fd).expect("acceptconn"));
        let local = rustix::net::getsockname(&fd).expect("getsockname");
        let local = SocketAddr::try_from(local).expect("inet");
        // A connection waits in the backlog even though nobody accepts yet.
        std::net::TcpStream::connect(local).expect("connect");
    }

    #[test]
    fn a_held_tcp_address_is_refused() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let error = bind_tcp(held.local_addr().expect("addr")).expect_err("in use");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_unix_socket_gets_its_mode_serves_and_is_removed_when_dropped() {
        let dir = private_dir();
        let path = dir.path().join("app.sock");
        let socket = UnixSocket::bind(&path, 0o660).expect("bind");
        let metadata = std::fs::symlink_metadata(&path).expect("exists");
        assert_eq!(metadata.mode() & 0o777, 0o660);
        let mut client = UnixStream::connect(&path).expect("connect");
        let accepted = rustix::net::accept(&socket.fd).expect("accept");
        client.write_all(b"hi").expect("write");
        let mut buffer = [0u8; 2];
        std::fs::File::from(accepted)
            .read_exact(&mut buffer)
            .expect("read");
        assert_eq!(&buffer, b"hi");
        drop(socket);
        assert!(!path.exists(), "removed with the socket");
    }

    #[test]
    fn a_stale_socket_of_ours_is_replaced_and_a_live_one_refused() {
        let dir = private_dir();
        let path = dir.path().join("app.sock");
        // A stale one: bound, never listening, its socket closed (the file stays).
        let stale = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        drop(stale);
        assert!(path.exists());
        let socket = UnixSocket::bind(&path, 0o600).expect("replaces the stale file");
        let error = UnixSocket::bind(&path, 0o600).expect_err("in use");
        assert!(matches!(error, UnixSocketError::InUse(_)), "{error}");
        assert!(error.to_string().contains("is in use"), "{error}");
        drop(socket);
    }

    #[test]
    fn files_that_are_not_our_sockets_are_never_removed() {
        let dir = private_dir();
        let file = dir.path().join("file.sock");
        std::fs::write(&file, "data").expect("write");
        let error = UnixSocket::bind(&file, 0o600).expect_err("a file");
        assert!(error.to_string().contains("a regular file"), "{error}");
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), "data");
        // A planted symlink, even to a stale socket of ours, is not followed.
        let target = dir.path().join("target.sock");
        drop(std::os::unix::net::UnixListener::bind(&target).expect("bind"));
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let error = UnixSocket::bind(&link, 0o600).expect_err("a symlink");
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(target.exists() && link.symlink_metadata().is_ok());
    }

    #[test]
    fn a_directory_others_may_write_to_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let error = UnixSocket::bind(&dir.path().join("s.sock"), 0o600).expect_err("unsafe");
        assert!(
            error.to_string().contains("others may write to it"),
            "{error}"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod");
        UnixSocket::bind(&dir.path().join("s.sock"), 0o600).expect("sticky is fine");
    }

    #[test]
    fn the_file_is_not_removed_once_it_was_replaced() {
        let dir = private_dir();
        let path = dir.path().join("app.sock");
        let socket = UnixSocket::bind(&path, 0o600).expect("bind");
        std::fs::remove_file(&path).expect("rm");
        std::fs::write(&path, "someone else's").expect("write");
        drop(socket);
        assert_eq!(
            std::fs::read_to_string(&path).expect("kept"),
            "someone else's"
        );
    }
}
