//! A Unix listener that only hands over connections from our own user.
//!
//! The socket's 0600 mode in a 0700 directory already keeps other users out; checking the peer's
//! credentials (`SO_PEERCRED`) on every connection is defence in depth against a directory made
//! world-accessible by mistake or a socket fd passed on. A refused connection is closed at once,
//! before a byte is read, and counted.
//!
//! See: man 7 unix (`SO_PEERCRED`: the credentials of the peer at `connect` time).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::process::{Uid, geteuid};
use tokio::net::{UnixListener, UnixStream};

use crate::listener::Listen;

/// Connections refused because their peer was another user, since the process started.
pub(crate) static REFUSED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

pub(crate) struct PeerCheckedListener {
    listener: UnixListener,
    euid: Uid,
}

impl PeerCheckedListener {
    pub(crate) fn new(listener: UnixListener) -> PeerCheckedListener {
        PeerCheckedListener {
            listener,
            euid: geteuid(),
        }
    }

    fn is_ours(&self, stream: &UnixStream) -> bool {
        match rustix::net::sockopt::socket_peercred(stream) {
            Ok(credentials) => credentials.uid == self.euid,
            // No credentials, no service.
            Err(_) => false,
        }
    }
}

impl Listen for PeerCheckedListener {
    type Io = UnixStream;

    async fn accept(&mut self) -> io::Result<UnixStream> {
        self.listener.accept().await.map(|(stream, _)| stream)
    }

    fn admit(&self, stream: &UnixStream) -> bool {
        if self.is_ours(stream) {
            return true;
        }
        REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        false
    }
}
