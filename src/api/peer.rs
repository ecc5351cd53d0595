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
use std::time::Duration;

use rustix::process::{Uid, geteuid};
use tokio::net::{UnixListener, UnixStream};

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

impl axum::serve::Listener for PeerCheckedListener {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (UnixStream, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, address)) => {
                    if self.is_ours(&stream) {
                        return (stream, address);
                    }
                    REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                }
                Err(error) => accept_failed(error).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// `accept` cannot return an error to axum, so it waits and retries. A connection that died in
/// the backlog is skipped at once; anything else (mostly EMFILE/ENFILE: out of descriptors) is
/// retried after a pause, as hyper 0.14's server did, rather than spinning.
async fn accept_failed(error: io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => {}
        _ => tokio::time::sleep(Duration::from_millis(200)).await,
    }
}
