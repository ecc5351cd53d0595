//! Listening sockets that wrangle binds once and passes to the services that list them
//! (`[sockets.NAME]`), by systemd's socket-activation protocol.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Index of a socket inside [`crate::spec::ProjectSpec::sockets`].
pub type SocketId = usize;

/// One `[sockets.NAME]`: where it listens. Its name is what a service receives in
/// `LISTEN_FDNAMES`; it follows the service name rule, so it never holds the `:` that separates
/// names there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    pub name: String,
    pub listen: ListenAddress,
}

/// Where a socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `tcp://HOST:PORT`, HOST an IP address.
    Tcp(SocketAddr),
    /// `unix:PATH`: a stream socket at an absolute path (a relative one was resolved against the
    /// config file's directory).
    Unix(UnixSocketSpec),
}

/// A Unix stream socket's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocketSpec {
    /// Absolute, and short enough for `sun_path`.
    pub path: PathBuf,
    /// The socket file's permission bits: who may connect (write permission is what `connect`
    /// needs).
    pub mode: u32,
}

impl UnixSocketSpec {
    /// Owner only: whoever else should connect is said in `mode`.
    pub const DEFAULT_MODE: u32 = 0o600;
}

impl ListenAddress {
    /// As written in the config: `tcp://127.0.0.1:8080`, `unix:/run/app.sock`.
    pub fn describe(&self) -> String {
        match self {
            ListenAddress::Tcp(address) => format!("tcp://{address}"),
            ListenAddress::Unix(unix) => format!("unix:{}", unix.path.display()),
        }
    }
}
