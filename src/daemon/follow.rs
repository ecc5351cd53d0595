//! Service output for the API: the last lines from the log store, and live lines for `logs -f`
//! clients, each through its own channel.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;

use crate::api::wire;
use crate::api::{LogSource, format_time};
use crate::daemon::status::wire_stream;
use crate::logs::LogStore;
use crate::spec::ServiceId;

/// Log lines kept for each slow `logs -f` client before it lags.
const LOG_BUFFER: usize = 4096;

/// The log store as the API sees it.
pub(super) struct StoreSource {
    pub(super) store: Arc<LogStore>,
    pub(super) names: Vec<String>,
    pub(super) followers: Followers,
}

/// The `logs -f` clients, each with its own channel and service filter: a service that floods
/// its output fills only the channels of those who follow it, so someone following a quiet
/// service never loses its lines to another's flood.
#[derive(Clone, Default)]
pub(super) struct Followers(Arc<std::sync::Mutex<Vec<Follower>>>);

struct Follower {
    /// Empty: every service.
    services: Vec<String>,
    sender: broadcast::Sender<wire::LogLine>,
}

impl Followers {
    fn subscribe(&self, services: &[String]) -> broadcast::Receiver<wire::LogLine> {
        let (sender, receiver) = broadcast::channel(LOG_BUFFER);
        self.lock().push(Follower {
            services: services.to_vec(),
            sender,
        });
        receiver
    }

    /// Whether a follower (still there) wants the lines of `service`.
    pub(super) fn wants(&self, service: &str) -> bool {
        let mut followers = self.lock();
        if followers.is_empty() {
            return false;
        }
        followers.retain(|follower| follower.sender.receiver_count() > 0);
        followers.iter().any(|follower| {
            follower.services.is_empty() || follower.services.iter().any(|name| name == service)
        })
    }

    /// Sends the line made by `line` to every follower of `service`; makes it only if one
    /// exists, and forgets followers that went away.
    pub(super) fn publish(&self, service: &str, line: impl FnOnce() -> wire::LogLine) {
        let mut followers = self.lock();
        if followers.is_empty() {
            return;
        }
        followers.retain(|follower| follower.sender.receiver_count() > 0);
        let mut interested = followers
            .iter()
            .filter(|follower| {
                follower.services.is_empty() || follower.services.iter().any(|name| name == service)
            })
            .peekable();
        if interested.peek().is_none() {
            return;
        }
        let line = line();
        for follower in interested {
            let _ = follower.sender.send(line.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Follower>> {
        // A poisoned lock only means a panic elsewhere; the list itself is intact.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LogSource for StoreSource {
    fn tail(&self, services: &[String], n: usize, since: Option<SystemTime>) -> Vec<wire::LogLine> {
        let ids: Vec<ServiceId> = services
            .iter()
            .filter_map(|name| self.names.iter().position(|known| known == name))
            .collect();
        self.store
            .tail(&ids, n, since)
            .iter()
            .map(|line| wire::LogLine {
                time: format_time(line.time),
                service: self.names.get(line.service).cloned().unwrap_or_default(),
                stream: wire_stream(line.stream),
                text: line.text.clone(),
                partial: line.partial,
            })
            .collect()
    }

    fn subscribe(&self, services: &[String]) -> broadcast::Receiver<wire::LogLine> {
        self.followers.subscribe(services)
    }
}
