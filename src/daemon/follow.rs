//! Service output for the API: the last lines of the log files, and `logs -f` clients, each a
//! follower of the files (see [`crate::logs::follow`]): a client that stops reading holds its
//! place among the followers and nothing else, however much the services print meanwhile.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use crate::api::wire::{self, ApiError};
use crate::api::{LogCounts, LogEvent, LogFlush, LogFollow, LogSource, LogTail};
use crate::daemon::status::wire_stream;
use crate::human;
use crate::logs::{FileLine, Follow, FollowItem, LogError, LogStore};
use crate::spec::ServiceId;

/// The log store as the API sees it. Services are named as the store knows them (which
/// `apply` grows; a removed service's files stay readable under its name).
pub(super) struct StoreSource {
    pub(super) store: Arc<LogStore>,
}

impl StoreSource {
    fn ids(&self, names: &[String], services: &[String]) -> Vec<ServiceId> {
        services
            .iter()
            .filter_map(|name| names.iter().position(|known| known == name))
            .collect()
    }
}

impl LogSource for StoreSource {
    fn counts(&self, service: &str) -> Option<LogCounts> {
        let id = self
            .store
            .names()
            .iter()
            .position(|known| known == service)?;
        let stats = self.store.stats(id);
        Some(LogCounts {
            bytes_written: stats.bytes_written,
            lines_dropped: stats.lines_dropped,
        })
    }

    fn flush(&self, services: &[String]) -> LogFlush {
        let names = self.store.names();
        let (store, ids) = (Arc::clone(&self.store), self.ids(&names, services));
        let none_known = !services.is_empty() && ids.is_empty();
        Box::pin(async move {
            // An empty list means all: one of unknown names must not become that.
            if none_known {
                return Ok(Vec::new());
            }
            let cleared = store.clear(&ids).await.ok_or_else(|| {
                ApiError::unavailable("the log writer has stopped (the daemon is shutting down)")
            })?;
            Ok(cleared
                .into_iter()
                .filter_map(|cleared| {
                    Some(wire::FlushedLogs {
                        name: names.get(cleared.service)?.clone(),
                        files: cleared.files,
                        bytes: cleared.bytes,
                        error: cleared.error,
                    })
                })
                .collect())
        })
    }

    fn tail(&self, services: &[String], n: usize, since: Option<SystemTime>) -> LogTail {
        let names = self.store.names();
        let (store, ids) = (Arc::clone(&self.store), self.ids(&names, services));
        Box::pin(async move {
            let lines = store.read_tail(&ids, n, since).await.map_err(|error| {
                ApiError::unavailable(format!("cannot read the log files: {error}"))
            })?;
            Ok(lines
                .into_iter()
                .map(|(service, line)| wire_line(&names, service, line))
                .collect())
        })
    }

    fn follow(&self, services: &[String], n: usize, since: Option<SystemTime>) -> LogFollow {
        let names = self.store.names();
        let (store, ids) = (Arc::clone(&self.store), self.ids(&names, services));
        Box::pin(async move {
            let (tail, follow) =
                store
                    .follow(&ids, n, since)
                    .await
                    .map_err(|error| match error {
                        LogError::TooManyFollowers => ApiError::unavailable(error.to_string()),
                        error => {
                            ApiError::unavailable(format!("cannot read the log files: {error}"))
                        }
                    })?;
            let ready = tail
                .into_iter()
                .map(|(service, line)| FollowItem::Line { service, line })
                .collect();
            let stream: Pin<Box<dyn tokio_stream::Stream<Item = LogEvent> + Send>> =
                Box::pin(FollowStream {
                    names,
                    ready,
                    follow: Some(follow),
                    next: None,
                });
            Ok(stream)
        })
    }
}

fn wire_line(names: &[String], service: ServiceId, line: FileLine) -> wire::LogLine {
    wire::LogLine {
        // A line no index record covers has no time of its own: it is shown as read now.
        time: human::time(line.time.unwrap_or_else(SystemTime::now)),
        service: names.get(service).cloned().unwrap_or_default(),
        stream: wire_stream(line.stream),
        text: line.text,
        partial: line.partial,
    }
}

/// A [`Follow`] as a stream of API events: it reads a round of the files only when the events
/// of the last one have been taken, so a client that stops reading stops the reads.
struct FollowStream {
    names: Arc<[String]>,
    /// Items of the last round (or the tail) not yet taken, made events as they are taken.
    ready: VecDeque<FollowItem>,
    /// `None` while a round is under way (it is in `next`) or once the follow ended.
    follow: Option<Follow>,
    next: Option<Round>,
}

type Round = Pin<Box<dyn Future<Output = (Follow, Option<Vec<FollowItem>>)> + Send>>;

impl tokio_stream::Stream for FollowStream {
    type Item = LogEvent;

    fn poll_next(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<LogEvent>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.ready.pop_front() {
                return Poll::Ready(Some(event(&this.names, item)));
            }
            if this.next.is_none() {
                let Some(mut follow) = this.follow.take() else {
                    return Poll::Ready(None);
                };
                // Everything before this round (the tail first) is taken.
                follow.tail_taken();
                this.next = Some(Box::pin(async move {
                    let items = follow.next().await;
                    (follow, items)
                }));
            }
            let Some(next) = this.next.as_mut() else {
                return Poll::Ready(None);
            };
            let (follow, items) = match next.as_mut().poll(context) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(done) => done,
            };
            this.next = None;
            let Some(items) = items else {
                return Poll::Ready(None);
            };
            this.follow = Some(follow);
            this.ready.extend(items);
        }
    }
}

fn event(names: &[String], item: FollowItem) -> LogEvent {
    match item {
        FollowItem::Line { service, line } => LogEvent::Line(wire_line(names, service, line)),
        FollowItem::Skipped { service, bytes } => LogEvent::Skipped(wire::Skipped {
            service: names.get(service).cloned().unwrap_or_default(),
            bytes,
        }),
    }
}
