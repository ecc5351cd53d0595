//! Notifications: telling someone outside when something happens to the project (`[[notify]]`
//! entries: a webhook or a command per entry, fired by chosen event kinds, rate-limited).
//!
//! # Theory of operation
//! The daemon publishes every event as a [`wire::Event`] on its `events` broadcast; the
//! notifier is one more subscriber, in its own task on the daemon's thread. Its dispatcher
//! matches each event against every entry (`on`, `services`), asks the entry's
//! [`RateLimiter`] whether it may go out, builds the [`NotificationPayload`] and queues it for
//! the entry's worker. Each entry has its own worker task and a bounded queue, and delivers one
//! notification at a time, in order: a receiver that hangs delays only its own entry's later
//! notifications, never another entry's, and never supervision (the dispatcher never awaits a
//! delivery, and the supervisor never awaits the notifier).
//!
//! A webhook is an HTTP/1.1 `POST` over a fresh connection ([`webhook`]), through TLS for an
//! `https://` URL ([`tls`]: the system's certificate store plus the entry's `ca_file`; a refused
//! certificate is reported with the reason, never ignored), each attempt bounded by the entry's
//! `timeout`, retried `retries` times with exponential backoff. Its body is wrangle's JSON
//! payload or, with `format`, the shape a chat service expects ([`format`]).
//! A command runs through the one [`Reaper`] as wrangle's helper ([`command`]): payload on
//! stdin and in `WRANGLE_*` variables, output discarded, its group killed if it overruns.
//!
//! What cannot be sent is counted, never silently lost: events over the rate limit and events
//! that find the queue full are counted per entry and reported as `suppressed` with the next
//! notification, or as a summary (kind [`SUPPRESSED_KIND`]) as soon as the window has room.
//! Events the notifier itself missed (its broadcast receiver lagged) and every failed delivery
//! are reported through the daemon's notices (the foreground output, then `daemon.log`).
//!
//! The notifier depends on `spec` (what to do), `api::wire` (the event and payload formats),
//! `probe` (the connect step it shares with HTTP probes) and `sys` (the reaper); the daemon is
//! the only module that starts it.
//!
//! # Caveats
//! - Only the daemon notifies; a foreground `wrangle up` shows events on the terminal instead.
//! - At shutdown, notifications already queued get [`FINISH_LIMIT`] to go out (events up to
//!   `shutdown_complete` included); whatever is left then is counted in the last notice.
//! - No client certificates, proxies or redirects: a webhook URL is posted to directly.

mod command;
mod format;
mod limit;
mod tls;
mod webhook;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use limit::RateLimiter;

use crate::api::wire::{self, NotificationPayload};
use crate::human;
use crate::spec::{
    NOTIFICATION_KINDS, NotifySpec, NotifyTarget, ProjectSpec, SUPPRESSED_KIND, WebhookSpec,
};
use crate::sys::reaper::Reaper;
use tls::Trust;

/// Notifications waiting for one entry's worker; more are counted as suppressed. The rate
/// limit keeps a queue short unless the receiver is much slower than the limit.
const QUEUE_LIMIT: usize = 64;
/// How long the daemon waits at exit for queued notifications to go out.
pub const FINISH_LIMIT: Duration = Duration::from_secs(5);
/// The first delay between webhook attempts; doubled after each failed attempt.
const RETRY_INITIAL: Duration = Duration::from_millis(500);
/// The longest delay between webhook attempts.
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How soon the dispatcher looks again at a summary that found its entry's queue full.
const FULL_QUEUE_RECHECK: Duration = Duration::from_secs(1);
/// The payload format's version (`NotificationPayload::version`).
const PAYLOAD_VERSION: u32 = 1;

/// Where a notifier reports trouble: a line for the daemon's output.
pub type Notices = Rc<dyn Fn(&str)>;

/// Where a notifier reports how each delivery went (the daemon records it as an event of
/// [`crate::spec::NOTIFICATION_KINDS`], for the dashboard's timeline).
pub type Deliveries = Rc<dyn Fn(&Delivery<'_>)>;

/// One delivery's outcome.
pub struct Delivery<'a> {
    /// The entry's target, for humans (`webhook http://...`, `command ./page-me`).
    pub target: &'a str,
    /// The event the notification was about.
    pub event: &'a wire::Event,
    /// `Err(why)` when it was not delivered.
    pub outcome: Result<(), &'a str>,
}

/// The running notifier of a daemon. Dropping it stops everything at once; [`Notifier::finish`]
/// lets queued notifications go out first.
pub struct Notifier {
    stop: Option<oneshot::Sender<()>>,
    dispatcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    /// Notifications queued or in delivery, over all entries.
    pending: Rc<Cell<usize>>,
    notices: Notices,
}

impl Notifier {
    /// Starts notifying about `events` as `spec.notify` says. Returns `None` when the project
    /// has no `[[notify]]` entry (nothing is started).
    pub fn start(
        spec: &Arc<ProjectSpec>,
        events: broadcast::Receiver<wire::Event>,
        reaper: Rc<Reaper>,
        notices: Notices,
        deliveries: Deliveries,
    ) -> Option<Notifier> {
        if spec.notify.is_empty() {
            return None;
        }
        let source = Rc::new(Source {
            project: spec
                .root
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            project_path: spec.source.display().to_string(),
            host: host_name(),
            root: spec.root.clone(),
        });
        let pending = Rc::new(Cell::new(0));
        let mut entries = Vec::with_capacity(spec.notify.len());
        let mut workers = Vec::with_capacity(spec.notify.len());
        for (index, entry_spec) in spec.notify.iter().enumerate() {
            let (queue, jobs) = mpsc::channel(QUEUE_LIMIT);
            let entry_spec = Rc::new(entry_spec.clone());
            let worker = Worker {
                target: entry_spec.target.describe(),
                deliveries: Rc::clone(&deliveries),
                name: format!("notify[{index}] ({})", entry_spec.target.describe()),
                spec: Rc::clone(&entry_spec),
                source: Rc::clone(&source),
                reaper: Rc::clone(&reaper),
                pending: Rc::clone(&pending),
                notices: Rc::clone(&notices),
            };
            workers.push(tokio::task::spawn_local(worker.run(jobs)));
            entries.push(Entry {
                limiter: RateLimiter::new(entry_spec.rate_limit, entry_spec.rate_window),
                spec: entry_spec,
                queue,
            });
        }
        let (stop, stopped) = oneshot::channel();
        let dispatcher = Dispatcher {
            entries,
            source,
            pending: Rc::clone(&pending),
            notices: Rc::clone(&notices),
        };
        let dispatcher = tokio::task::spawn_local(dispatcher.run(events, stopped));
        Some(Notifier {
            stop: Some(stop),
            dispatcher,
            workers,
            pending,
            notices,
        })
    }

    /// Takes the events published so far, lets the queued notifications go out for up to
    /// [`FINISH_LIMIT`], then stops; says how many were left unsent, if any.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The dispatcher takes what is left on the broadcast and closes the queues, so each
        // worker ends after its last notification.
        let _ = (&mut self.dispatcher).await;
        let workers = &mut self.workers;
        let drained = tokio::time::timeout(FINISH_LIMIT, async {
            for worker in workers.iter_mut() {
                let _ = worker.await;
            }
        })
        .await;
        if drained.is_err() && self.pending.get() > 0 {
            (self.notices)(&format!(
                "notify: {} notification(s) not sent: wrangle is exiting",
                self.pending.get()
            ));
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // Aborting drops the deliveries in progress; a command's guard kills it.
        self.dispatcher.abort();
        for worker in &self.workers {
            worker.abort();
        }
    }
}

/// What every payload says about where it comes from.
struct Source {
    project: String,
    project_path: String,
    host: String,
    /// Commands run in the project's directory.
    root: PathBuf,
}

impl Source {
    fn payload(&self, event: wire::Event, suppressed: u64) -> NotificationPayload {
        NotificationPayload {
            version: PAYLOAD_VERSION,
            project: self.project.clone(),
            project_path: self.project_path.clone(),
            host: self.host.clone(),
            event,
            suppressed,
        }
    }
}

/// One entry as the dispatcher sees it.
struct Entry {
    spec: Rc<NotifySpec>,
    limiter: RateLimiter,
    queue: mpsc::Sender<NotificationPayload>,
}

struct Dispatcher {
    entries: Vec<Entry>,
    source: Rc<Source>,
    pending: Rc<Cell<usize>>,
    notices: Notices,
}

impl Dispatcher {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<wire::Event>,
        mut stopped: oneshot::Receiver<()>,
    ) {
        loop {
            let now = std::time::Instant::now();
            let summary_due = self
                .entries
                .iter_mut()
                .filter_map(|entry| {
                    let due = entry.limiter.summary_at(now)?;
                    // A full queue takes no summary: look again later rather than spin.
                    Some(match entry.queue.capacity() {
                        0 => due.max(now + FULL_QUEUE_RECHECK),
                        _ => due,
                    })
                })
                .min()
                .map(Instant::from_std);
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                received = events.recv() => match received {
                    Ok(event) => self.offer(&event),
                    Err(RecvError::Lagged(missed)) => self.missed(missed),
                    Err(RecvError::Closed) => break,
                },
                () = sleep_until(summary_due), if summary_due.is_some() => {
                    self.summaries();
                }
            }
        }
        // The last events of the run (up to `shutdown_complete`) are already on the broadcast.
        loop {
            match events.try_recv() {
                Ok(event) => self.offer(&event),
                Err(TryRecvError::Lagged(missed)) => self.missed(missed),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.summaries();
        for entry in &self.entries {
            if entry.limiter.suppressed() > 0 {
                (self.notices)(&format!(
                    "notify: {} event(s) for {} not sent: the rate limit was reached and wrangle is exiting",
                    entry.limiter.suppressed(),
                    entry.spec.target.describe()
                ));
            }
        }
        // Dropping `self` closes the queues: each worker ends after its last notification.
    }

    /// Queues `event` for every entry that wants it and whose rate limit has room.
    fn offer(&mut self, event: &wire::Event) {
        // A notification about a notification would never end; config refuses these kinds in
        // `on`, and this makes sure.
        if NOTIFICATION_KINDS
            .iter()
            .any(|(kind, _)| *kind == event.kind)
        {
            return;
        }
        let now = std::time::Instant::now();
        for entry in &mut self.entries {
            if !entry.spec.wants(&event.kind, event.service.as_deref()) {
                continue;
            }
            let Some(suppressed) = entry.limiter.admit(now) else {
                continue;
            };
            let payload = self.source.payload(event.clone(), suppressed);
            if entry.queue.try_send(payload).is_ok() {
                self.pending.set(self.pending.get() + 1);
            } else {
                // The worker is far behind (a receiver slower than the rate limit): count it.
                entry.limiter.unadmit(suppressed + 1);
            }
        }
    }

    /// Sends the summaries that are due: how many events the rate limit held back.
    fn summaries(&mut self) {
        let now = std::time::Instant::now();
        for entry in &mut self.entries {
            if entry.queue.capacity() == 0 {
                continue;
            }
            let Some(count) = entry.limiter.take_summary(now) else {
                continue;
            };
            let message = format!(
                "{count} more event(s) not sent: at most {} notification(s) per {}",
                entry.spec.rate_limit,
                human::duration(entry.spec.rate_window)
            );
            let event = wire::Event {
                time: human::time(SystemTime::now()),
                kind: SUPPRESSED_KIND.to_string(),
                service: None,
                instance: None,
                message,
                pid: None,
            };
            let payload = self.source.payload(event, count);
            if entry.queue.try_send(payload).is_ok() {
                self.pending.set(self.pending.get() + 1);
            } else {
                entry.limiter.unadmit(count);
            }
        }
    }

    fn missed(&self, missed: u64) {
        (self.notices)(&format!(
            "notify: {missed} event(s) were missed (the notifier fell behind); they were not sent"
        ));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Delivers one entry's notifications, one at a time.
struct Worker {
    name: String,
    /// The target, for humans.
    target: String,
    deliveries: Deliveries,
    spec: Rc<NotifySpec>,
    source: Rc<Source>,
    reaper: Rc<Reaper>,
    pending: Rc<Cell<usize>>,
    notices: Notices,
}

impl Worker {
    async fn run(self, mut jobs: mpsc::Receiver<NotificationPayload>) {
        while let Some(payload) = jobs.recv().await {
            let result = self.deliver(&payload).await;
            self.pending.set(self.pending.get().saturating_sub(1));
            (self.deliveries)(&Delivery {
                target: &self.target,
                event: &payload.event,
                outcome: result.as_ref().map(|_| ()).map_err(String::as_str),
            });
            if let Err(reason) = result {
                let about = match &payload.event.service {
                    Some(service) => format!("{} of {service}", payload.event.kind),
                    None => payload.event.kind.clone(),
                };
                (self.notices)(&format!("{}: not sent ({about}): {reason}", self.name));
            }
        }
    }

    async fn deliver(&self, payload: &NotificationPayload) -> Result<(), String> {
        match &self.spec.target {
            NotifyTarget::Webhook(webhook) => {
                let body = format::body(webhook.format, payload)?;
                self.post(webhook, &body).await
            }
            NotifyTarget::Command(command) => {
                let body = serde_json::to_vec(payload)
                    .map_err(|error| format!("cannot encode the payload: {error}"))?;
                command::run(
                    &self.reaper,
                    command,
                    &self.source.root,
                    command_env(payload),
                    body,
                    self.spec.timeout,
                )
                .await
            }
        }
    }

    /// The attempts of one webhook delivery, with backoff between them. The trust anchors of an
    /// `https://` URL are loaded once for the delivery and dropped after it (`tls`).
    async fn post(&self, webhook: &WebhookSpec, body: &webhook::Body) -> Result<(), String> {
        let trust = match webhook.url.get(..8) {
            Some(scheme) if scheme.eq_ignore_ascii_case("https://") => {
                // Reading and parsing the system's store takes milliseconds of file IO: off the
                // daemon's thread, which also runs the supervisor.
                let ca_file = webhook.ca_file.clone();
                let loaded = tokio::task::spawn_blocking(move || Trust::load(ca_file.as_ref()))
                    .await
                    .map_err(|error| format!("cannot load the trusted certificates: {error}"))?;
                Some(loaded?)
            }
            _ => None,
        };
        let attempts = self.spec.retries.saturating_add(1);
        let mut delay = RETRY_INITIAL;
        let mut attempt = 1;
        loop {
            let result = webhook::post(&webhook.url, trust.as_ref(), body, self.spec.timeout).await;
            let failure = match result {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            if failure.permanent || attempt >= attempts {
                return Err(match attempt {
                    1 => failure.reason,
                    _ => format!("{} (after {attempt} attempts)", failure.reason),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
            attempt += 1;
        }
    }
}

/// The payload as environment variables, for commands that do not read JSON. NUL bytes (which
/// no variable can hold) are dropped.
fn command_env(payload: &NotificationPayload) -> BTreeMap<String, String> {
    let event = &payload.event;
    let clean = |text: &str| text.replace('\0', "");
    [
        ("WRANGLE_EVENT", clean(&event.kind)),
        (
            "WRANGLE_SERVICE",
            clean(event.service.as_deref().unwrap_or("")),
        ),
        ("WRANGLE_MESSAGE", clean(&event.message)),
        ("WRANGLE_TIME", clean(&event.time)),
        (
            "WRANGLE_PID",
            event.pid.map(|pid| pid.to_string()).unwrap_or_default(),
        ),
        ("WRANGLE_PROJECT", clean(&payload.project)),
        ("WRANGLE_PROJECT_PATH", clean(&payload.project_path)),
        ("WRANGLE_HOST", clean(&payload.host)),
        ("WRANGLE_SUPPRESSED", payload.suppressed.to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect()
}

/// The machine's host name, from the kernel (empty when unreadable).
fn host_name() -> String {
    // See: man 5 proc, /proc/sys/kernel/hostname (the UTS namespace's name, as uname(2)).
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
