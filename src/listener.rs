//! Serving HTTP on a listener within limits. Every listener of the daemon (the control socket,
//! `[metrics]`, and any later one) is served by [`serve`], so that no client, stalled, slow or
//! hostile, can hold more than a bounded number of connections for a bounded time, nor take the
//! descriptors that supervision (spawning, pipes, pidfds, log files) needs.
//!
//! # Theory of operation
//!
//! [`Limits`] says what one listener allows; [`serve`] enforces it:
//!
//! - **Connections:** at most `max_connections` at once. At the cap the listener stops accepting
//!   until one closes: further clients wait in the kernel's backlog, whose sockets are not the
//!   daemon's descriptors. [`fit_to_descriptors`] shrinks the caps of all listeners so that
//!   together they leave [`reserve`] descriptors free, and as a last guard a connection accepted
//!   on a descriptor numbered within [`DESCRIPTOR_FLOOR`] of the soft limit is closed at once and
//!   accepting pauses (the kernel gives the lowest free number, so a high number means the table
//!   is nearly full).
//! - **Headers:** `header_timeout` from accept, and from the end of each response on a kept-alive
//!   connection, until the next request's headers are in; so it is also the idle timeout. A
//!   request head larger than [`MAX_BUFFER`] is refused.
//! - **Body:** at most `max_body_bytes`, arriving within `body_timeout` of the headers; beyond
//!   either, reading it fails (axum answers 413 for the size).
//! - **Request:** a response that is not an event stream (`text/event-stream`) must be written
//!   out, to the last byte accepted by the kernel, within `request_timeout` of the headers; so a
//!   client that stops reading an answer, or reads it a byte at a time, is closed.
//! - **Streams:** an event stream may last as long as its route keeps it; with `stall_timeout`
//!   set, a client that reads nothing of it for that long (the socket stays full) is closed.
//!
//! A connection over a limit is closed: dropping hyper's connection closes its socket.
//!
//! # Caveats
//!
//! - `tokio::spawn`s one task per connection: call it within a runtime whose tasks are `Send`
//!   (a current-thread runtime, with or without a `LocalSet`, is fine).
//! - The checks of `request_timeout` and `stall_timeout` run on a tick of a quarter of the
//!   shorter one, so a connection is closed up to that much later than its deadline.

mod guard;

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::sys::nofile;

use guard::{GuardedIo, GuardedService, Progress};

pub use guard::BodyTimeout;

/// How long [`serve`] lets open connections finish once its `shutdown` completes.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// hyper's read and write buffer of a connection: the largest request head accepted, and the most
/// of a response buffered before the socket takes it.
pub const MAX_BUFFER: usize = 64 * 1024;

/// A connection accepted on a descriptor this close to the soft limit is closed at once.
pub const DESCRIPTOR_FLOOR: u64 = 64;

/// How long accepting pauses after a failure (EMFILE and the like) or a connection refused for
/// the descriptor floor, rather than spinning.
const ACCEPT_PAUSE: Duration = Duration::from_millis(200);

/// What one listener allows its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Names the listener in messages ("control socket", "metrics").
    pub name: &'static str,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// From accept (or the end of the previous response) until a request's headers are in.
    pub header_timeout: Duration,
    /// From the headers until the whole body is in.
    pub body_timeout: Duration,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// From the headers until a response that is not an event stream is written out.
    pub request_timeout: Duration,
    /// How long an event stream may go unread (its socket full) before it is closed; `None`: as
    /// long as its route keeps it.
    pub stall_timeout: Option<Duration>,
}

/// Connections refused since the process started because the descriptor table was nearly full.
static REFUSED_NEAR_LIMIT: AtomicU64 = AtomicU64::new(0);

/// Connections [`serve`] closed at once because the descriptor table was nearly full, since the
/// process started.
pub fn refused_near_descriptor_limit() -> u64 {
    REFUSED_NEAR_LIMIT.load(Ordering::Relaxed)
}

/// Descriptors kept free for supervision, whatever clients do: a base for the daemon itself
/// (log writer, state file, sockets of probes and notifications, a burst of helpers) and a share
/// per service (two output pipes, a pidfd, the log file and its index, cgroup files, a probe's
/// connection or process, pidfds of a tree being stopped).
pub fn reserve(services: usize) -> u64 {
    256 + 16 * u64::try_from(services).unwrap_or(u64::MAX / 32)
}

/// Shrinks the listeners' connection caps, in proportion, so that together they fit in
/// `descriptor_limit - reserve` (each keeps at least 4). Returns a warning when it had to.
pub fn fit_to_descriptors(
    listeners: &mut [&mut Limits],
    descriptor_limit: u64,
    reserve: u64,
) -> Option<String> {
    let wanted: u64 = listeners
        .iter()
        .map(|limits| limits.max_connections as u64)
        .sum();
    let available = descriptor_limit.saturating_sub(reserve);
    if wanted <= available {
        return None;
    }
    for limits in listeners.iter_mut() {
        let share = (limits.max_connections as u64).saturating_mul(available) / wanted.max(1);
        limits.max_connections = usize::try_from(share).unwrap_or(usize::MAX).max(4);
    }
    let caps: Vec<String> = listeners
        .iter()
        .map(|limits| format!("{} {}", limits.name, limits.max_connections))
        .collect();
    Some(format!(
        "the descriptor limit ({descriptor_limit}) leaves room for few clients: connections \
         are capped at {} (raise `ulimit -n` to allow more)",
        caps.join(", ")
    ))
}

/// Whether `error`, or an error it was caused by, is a request body's [`BodyTimeout`]: for a
/// handler that answers a body that did not arrive in time differently (408).
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyTimeout>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A source of connections for [`serve`].
pub trait Listen: Send + 'static {
    type Io: AsyncRead + AsyncWrite + AsFd + Unpin + Send + 'static;

    /// The next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Io>> + Send;

    /// Whether to serve this connection (e.g. its peer's user); a refused one is closed at once.
    fn admit(&self, _connection: &Self::Io) -> bool {
        true
    }
}

impl Listen for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<tokio::net::TcpStream> {
        tokio::net::TcpListener::accept(self)
            .await
            .map(|(stream, _)| stream)
    }
}

impl Listen for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;

    async fn accept(&mut self) -> io::Result<tokio::net::UnixStream> {
        tokio::net::UnixListener::accept(self)
            .await
            .map(|(stream, _)| stream)
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes.
///
/// Then no connection is accepted, every connection finishes the request it is serving and
/// closes (routes must end their event streams themselves, e.g. on a signal that `shutdown`
/// sends before completing), and this waits up to [`DRAIN_TIMEOUT`] for them; any still open
/// then ends on its own, within its limits.
pub async fn serve<L: Listen>(
    mut listener: L,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let ceiling = nofile::limits().0.saturating_sub(DESCRIPTOR_FLOOR);
    let (stop_sender, stop) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all of them are gone.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed.
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let connection = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        if !listener.admit(&connection) {
            continue;
        }
        if u64::try_from(connection.as_fd().as_raw_fd()).unwrap_or(u64::MAX) >= ceiling {
            drop(connection);
            REFUSED_NEAR_LIMIT.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(ACCEPT_PAUSE).await;
            continue;
        }
        tokio::spawn(serve_connection(
            connection,
            router.clone(),
            Arc::clone(&limits),
            stop.clone(),
            (open.clone(), slot),
        ));
    }
    drop(listener);
    stop_sender.send_replace(true);
    drop(open);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, all_closed.recv()).await;
}

/// A connection died in the backlog: skip it. Anything else (mostly EMFILE/ENFILE: out of
/// descriptors) is retried after a pause rather than in a spin.
async fn accept_failed(error: io::Error) {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => {}
        _ => tokio::time::sleep(ACCEPT_PAUSE).await,
    }
}

/// Serves one connection until the client closes it, a limit closes it, or the server stops
/// (then the request in flight is finished first). `held` is released when it ends: the drain
/// signal of [`serve`] and the connection's slot.
async fn serve_connection<I>(
    connection: I,
    router: Router,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
    held: (mpsc::Sender<()>, tokio::sync::OwnedSemaphorePermit),
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _held = held;
    let progress = Arc::new(Progress::default());
    let io = GuardedIo::new(connection, Arc::clone(&progress));
    let service = GuardedService::new(router, Arc::clone(&limits), Arc::clone(&progress));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_BUFFER)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let shortest = limits
        .stall_timeout
        .map_or(limits.request_timeout, |stall| {
            stall.min(limits.request_timeout)
        });
    let mut tick = tokio::time::interval(shortest / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            // An error (a timeout, garbage that is not HTTP) only ends this connection.
            _ = connection.as_mut() => return,
            // An error means the sender is gone, which only happens once `serve` returned.
            _ = stop.wait_for(|stopped| *stopped), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = tick.tick() => {
                if progress.overdue(tokio::time::Instant::now(), limits.stall_timeout) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
