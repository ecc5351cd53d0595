//! The daemon's control API, version 1: HTTP/1 with JSON bodies and server-sent events on a
//! private Unix socket. `docs/api.yaml` (OpenAPI 3.1) is the reference; a test keeps it in step
//! with the routes and the wire types.
//!
//! # Theory of operation
//!
//! The daemon's supervisor lives on one current-thread runtime and is built on `Rc`/`RefCell`:
//! it is not `Send`, and the API never touches it. Instead the daemon hands the API an
//! [`ApiContext`] made of `Send` channel ends, and the API only ever reads or writes those:
//!
//! - reads (`status`, `services`) answer from the latest [`wire::ProjectStatus`] snapshot in a
//!   `watch` channel, which the daemon replaces after every change, so they never wait for the
//!   supervisor;
//! - changes (`start`, `stop`, `restart`, `shutdown`) are sent as a [`wire::Request`] with a
//!   oneshot for the answer; a closed channel or no answer within 10 s is a 503, never a hang;
//! - `events` streams subscribe to a `broadcast` channel: a client too slow to keep up loses
//!   items (and is told how many with a `lagged` event), never the daemon;
//! - `logs` reads through a [`LogSource`]: the daemon's reads the log files, and a follower is
//!   read only as fast as its client takes the lines (so one that stalls costs nothing).
//!
//! [`server`] binds the socket (0600 in a 0700 directory of ours) and refuses every connection
//! whose peer is another user (`SO_PEERCRED`), [`routes`] is the router, [`client`] is what the
//! CLI uses to talk to a daemon, and [`wire`] holds the JSON types.
//!
//! **Invariant:** imports nothing from `supervisor`; only [`wire`] derives serde.
//!
//! # Caveats
//!
//! - The socket's permissions are the only authentication; the peer check is defence in depth
//!   (a socket handed over, a directory made world-accessible by mistake).
//! - Accepted requests are acknowledged before the work is done (`202 Accepted`): clients that
//!   want to wait for the result follow `/v1/events` or poll `/v1/status`.

pub mod client;
mod peer;
pub mod routes;
pub mod server;
#[cfg(test)]
pub(crate) mod tests;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::mutex;

/// One request to the daemon together with the way to answer it.
pub type RequestEnvelope = (
    wire::Request,
    oneshot::Sender<Result<wire::Reply, wire::ApiError>>,
);

/// Everything the API needs, all `Send + Sync + Clone`.
#[derive(Clone)]
pub struct ApiContext {
    /// Latest status snapshot, replaced by the daemon after each change (ps must answer in µs:
    /// no round trip to the supervisor).
    pub status: watch::Receiver<Arc<wire::ProjectStatus>>,
    /// Requests that change something; the daemon answers on the oneshot.
    pub requests: mpsc::UnboundedSender<RequestEnvelope>,
    /// Every event, for SSE (bounded; a lagging client loses events, never the daemon).
    pub events: Arc<LazyBroadcast<wire::Event>>,
    /// Service output, for `logs`: a trait object so the API does not depend on the log store's
    /// implementation.
    pub logs: Arc<dyn LogSource>,
    /// Recent resource samples, for `GET /v1/resources` (`wrangle top`).
    pub resources: Arc<dyn ResourceSource>,
    /// What the daemon keeps on record (recent events, restart and probe histories, resolved
    /// configs, the start-up's timings), for the dashboard's views.
    pub records: Arc<dyn Records>,
    /// The web dashboard, for `POST /v1/dashboard` and `POST /v1/dashboard/token` (control
    /// socket only); `None` where there is none to control (the dashboard's own copy of the
    /// API, tests).
    pub dashboard: Option<Arc<dyn DashboardControl>>,
}

/// A `broadcast` channel that exists only while someone listens.
///
/// A tokio broadcast channel allocates and initialises all its slots when it is made (1024
/// events are 128 KiB), and a value sent while nobody listens is dropped anyway. So the channel
/// is made by the first [`subscribe`](Self::subscribe) and dropped by the first
/// [`send`](Self::send) that finds no receiver left: to receivers, which only ever see what
/// is sent after they subscribed, this is the same channel; an idle daemon keeps no slots.
pub struct LazyBroadcast<T> {
    capacity: usize,
    sender: std::sync::Mutex<Option<broadcast::Sender<T>>>,
}

impl<T: Clone> LazyBroadcast<T> {
    pub fn new(capacity: usize) -> LazyBroadcast<T> {
        LazyBroadcast {
            capacity,
            sender: std::sync::Mutex::new(None),
        }
    }

    /// Everything sent from now on (the last `capacity` of it for a receiver that lags).
    pub fn subscribe(&self) -> broadcast::Receiver<T> {
        self.lock()
            .get_or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Sends `value` to every receiver; returns how many there were (0: it was dropped).
    pub fn send(&self, value: T) -> usize {
        let mut sender = self.lock();
        let receivers = sender
            .as_ref()
            .map_or(0, |sender| sender.send(value).unwrap_or(0));
        if receivers == 0 {
            // The last receiver went away: give the slots back until someone subscribes again.
            *sender = None;
        }
        receivers
    }

    pub fn receiver_count(&self) -> usize {
        self.lock()
            .as_ref()
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Whether every receiver has taken every value sent (so with no channel at all).
    pub fn is_empty(&self) -> bool {
        self.lock().as_ref().is_none_or(broadcast::Sender::is_empty)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<broadcast::Sender<T>>> {
        mutex::lock(&self.sender)
    }
}

/// Where `GET /v1/resources` reads recent samples from (the daemon's resource monitor).
pub trait ResourceSource: Send + Sync {
    /// The samples kept for these services (all when empty). Asking also tells the monitor that
    /// someone watches, so it samples at its fast interval for a while.
    fn history(&self, services: &[String]) -> wire::ResourceHistory;

    /// Tells the monitor that someone watches (a client follows the status stream), as a read
    /// of the history does.
    fn watching(&self);
}

/// What the daemon keeps on record, in bounded memory (implemented by `daemon::records`).
pub trait Records: Send + Sync {
    /// The last `n` events (oldest first) about these services (all when empty; project-wide
    /// events are included either way).
    fn events(&self, services: &[String], n: usize) -> Vec<wire::Event>;

    /// One service's config and histories; `None` for an unknown name.
    fn service(&self, name: &str) -> Option<wire::ServiceDetails>;

    /// The dependency graph with the latest start-up's timings.
    fn graph(&self) -> wire::ProjectGraph;
}

/// The web dashboard as the API sees it (implemented by `crate::dashboard`).
pub trait DashboardControl: Send + Sync {
    /// Where the dashboard serves and its token; starts serving on a free loopback port first
    /// when it serves nowhere yet. Must be called within the daemon's runtime.
    fn open(&self) -> Result<wire::DashboardInfo, wire::ApiError>;

    /// Replaces the token: every session signed in with the old one ends (its streams close and
    /// its next request is answered 401). Serving, or not, goes on as before.
    fn rotate_token(&self) -> Result<wire::DashboardInfo, wire::ApiError>;
}

/// Where `logs` reads service output from (the daemon's log store).
pub trait LogSource: Send + Sync {
    /// Last `n` lines (merged by time) of these services (all when empty), optionally only those
    /// after `since`.
    fn tail(&self, services: &[String], n: usize, since: Option<SystemTime>) -> LogTail;

    /// What [`LogSource::tail`] gives, then every line from now on of these services (all when
    /// empty), for as long as the stream is read. A follower that does not read costs the source
    /// nothing but its place: an error when there is no place left.
    fn follow(&self, services: &[String], n: usize, since: Option<SystemTime>) -> LogFollow;

    /// The bytes a service's output has written to its files and the lines dropped so far, as
    /// they are now (the status snapshot has them as of its last refresh): `None` for a name
    /// the source does not know.
    fn counts(&self, service: &str) -> Option<LogCounts>;

    /// Empties the log files of these services (all when empty), after writing out what they
    /// printed so far (`wrangle flush`). A source without files of its own has nothing to
    /// empty and says so.
    fn flush(&self, _services: &[String]) -> LogFlush {
        Box::pin(async { Err(wire::ApiError::not_found("this server keeps no log files")) })
    }
}

/// See [`LogSource::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCounts {
    pub bytes_written: u64,
    pub lines_dropped: u64,
}

/// The answer of [`LogSource::flush`].
pub type LogFlush =
    Pin<Box<dyn Future<Output = Result<Vec<wire::FlushedLogs>, wire::ApiError>> + Send>>;

/// The answer of [`LogSource::tail`].
pub type LogTail = Pin<Box<dyn Future<Output = Result<Vec<wire::LogLine>, wire::ApiError>> + Send>>;

/// The answer of [`LogSource::follow`].
pub type LogFollow = Pin<
    Box<
        dyn Future<
                Output = Result<
                    Pin<Box<dyn tokio_stream::Stream<Item = LogEvent> + Send>>,
                    wire::ApiError,
                >,
            > + Send,
    >,
>;

/// An item of a followed log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    Line(wire::LogLine),
    Skipped(wire::Skipped),
}
