//! Notifications: which events of a project to tell someone about, and how (`[[notify]]`).
//!
//! Plain data, like the rest of `spec`: what `config` checked and the daemon's notifier
//! (`crate::notify`) carries out. [`EVENT_KINDS`] is the one list of event names a `[[notify]]`
//! entry may ask for; it is the vocabulary of the daemon's events (`wire::Event::kind`).

use std::path::PathBuf;
use std::time::Duration;

use crate::spec::CommandSpec;

/// Every kind of event the daemon publishes, with what it means. `on = [...]` in `[[notify]]`
/// accepts exactly these names.
pub const EVENT_KINDS: &[(&str, &str)] = &[
    (
        "crashed",
        "a service exited unsuccessfully without being asked to",
    ),
    (
        "failed",
        "wrangle gave up on a service: it will not be restarted",
    ),
    (
        "restarted",
        "a service was started again (any start after its first)",
    ),
    (
        "restarting",
        "a restart of a service is scheduled after a backoff delay",
    ),
    (
        "exited",
        "a service exited successfully without being asked to",
    ),
    (
        "spawn_failed",
        "a service's command could not be started at all",
    ),
    (
        "not_ready",
        "a service's readiness probe did not pass within its timeout",
    ),
    (
        "startup_failed",
        "start-up failed because of a service; everything is being stopped",
    ),
    (
        "restart_blocked",
        "a restart could not be attempted (a port held by another process)",
    ),
    (
        "memory_limit",
        "a service was restarted for exceeding its max_memory",
    ),
    (
        "liveness_failed",
        "a service failed its liveness probe (live) too many times in a row and is restarted",
    ),
    (
        "readiness_lost",
        "a ready service failed its readiness rechecks (ready.recheck) 3 times in a row",
    ),
    (
        "readiness_restored",
        "a recheck passed again after readiness was lost",
    ),
    (
        "cpu_warning",
        "a service stayed above its cpu_warn threshold",
    ),
    (
        "memory_warning",
        "a service stayed above its memory_warn threshold",
    ),
    (
        "cpu_warning_cleared",
        "a service's CPU use is back below its cpu_warn threshold",
    ),
    (
        "memory_warning_cleared",
        "a service's memory is back below its memory_warn threshold",
    ),
    (
        "log_trouble",
        "a service's log file cannot be written; lines are dropped",
    ),
    ("log_recovered", "a service's log file is written again"),
    ("started", "a service was started for the first time"),
    (
        "ready",
        "a service passed its readiness probe (or started, without one)",
    ),
    ("waiting", "a service waits for its dependencies"),
    (
        "leader_exited",
        "a service's main process exited but others of its tree live on",
    ),
    ("stopping", "a service was sent its stop signal"),
    (
        "killing",
        "a service's processes are being killed with SIGKILL",
    ),
    ("stopped", "every process of a service is gone after a stop"),
    (
        "all_ready",
        "start-up finished: every selected service is ready",
    ),
    ("shutting_down", "a stop of the whole project began"),
    (
        "scaled",
        "a service's number of instances was changed (wrangle scale)",
    ),
    (
        "reloading",
        "a reload of a service began (or, for a service without sockets, a restart in its place)",
    ),
    (
        "reloaded",
        "every instance of a service was replaced by a reload, without downtime",
    ),
    (
        "reload_failed",
        "a reload stopped before replacing every instance; the others keep serving",
    ),
    (
        "config_applied",
        "the config was read again and applied (wrangle apply, SIGHUP)",
    ),
    (
        "apply_failed",
        "a SIGHUP found a config that cannot be applied; nothing was changed",
    ),
    (
        "scheduled",
        "a scheduled time of a service came (schedule, every): it is started or restarted",
    ),
    (
        "schedule_skipped",
        "a scheduled time of a service was skipped: its previous run was still going",
    ),
    (
        "shutdown_complete",
        "the daemon stopped everything and is about to exit",
    ),
];

/// Events the daemon publishes about its own notifications (for the dashboard's timeline).
/// Never notified about (a notification about a notification would never end), so not in
/// [`EVENT_KINDS`]: `on = [...]` refuses them.
pub const NOTIFICATION_KINDS: &[(&str, &str)] = &[
    (
        "notification_sent",
        "a [[notify]] entry delivered a notification",
    ),
    (
        "notification_failed",
        "a [[notify]] entry could not deliver a notification",
    ),
];

/// The kind of the summary a `[[notify]]` entry sends when its rate limit let events go
/// unsent: `suppressed` in its payload says how many.
pub const SUPPRESSED_KIND: &str = "suppressed";

/// One `[[notify]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySpec {
    /// The event kinds that fire this entry (names from [`EVENT_KINDS`]), never empty.
    pub on: Vec<String>,
    /// Only events of these services fire it; empty means every service. Project-wide events
    /// (`all_ready`, `shutting_down`, ...) are not filtered: `on` alone decides them.
    pub services: Vec<String>,
    pub target: NotifyTarget,
    /// The longest one delivery may take: one HTTP attempt, or the command's run.
    pub timeout: Duration,
    /// Further attempts after a failed webhook delivery, with backoff (0 for commands).
    pub retries: u32,
    /// At most this many notifications per `rate_window`; more events are counted and reported
    /// as one summary when the window has room again.
    pub rate_limit: u32,
    pub rate_window: Duration,
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// POST the payload to an `http://` or `https://` URL.
    Webhook(WebhookSpec),
    /// Run this argv (never through a shell) with the payload on stdin and in `WRANGLE_*`
    /// variables.
    Command(CommandSpec),
}

/// A webhook: where to POST, in which shape, and whom to trust for `https://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    /// An `http://` or `https://` URL (checked).
    pub url: String,
    pub format: PayloadFormat,
    /// Certificates trusted for an `https://` URL besides the system's store (`ca_file`).
    pub ca_file: Option<CaFile>,
}

/// The certificates of a `ca_file`, read and checked when the config was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    /// Where they came from (absolute), for messages.
    pub path: PathBuf,
    /// Each certificate in DER, at least one.
    pub certificates: Vec<Vec<u8>>,
}

/// The shape of a webhook's body (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// wrangle's own JSON payload (`NotificationPayload`): the default.
    Json,
    /// `{"text": "..."}`: Slack's incoming webhooks, and Mattermost, Rocket.Chat, Google Chat
    /// and Teams' workflows that take the same shape.
    Slack,
    /// `{"content": "..."}`: Discord's webhooks.
    Discord,
    /// The line alone as `text/plain`: ntfy and other receivers that take a plain body.
    Text,
}

impl PayloadFormat {
    /// Every format with its name in the config, the default first.
    pub const ALL: &[(&str, PayloadFormat)] = &[
        ("json", PayloadFormat::Json),
        ("slack", PayloadFormat::Slack),
        ("discord", PayloadFormat::Discord),
        ("text", PayloadFormat::Text),
    ];
}

impl NotifyTarget {
    /// For messages: `webhook http://...` or `command notify-send ...`.
    pub fn describe(&self) -> String {
        match self {
            NotifyTarget::Webhook(webhook) => format!("webhook {}", webhook.url),
            NotifyTarget::Command(command) => format!("command {}", command.display()),
        }
    }
}

impl WebhookSpec {
    /// A JSON webhook to `url` with the system's trust store only.
    pub fn json(url: impl Into<String>) -> WebhookSpec {
        WebhookSpec {
            url: url.into(),
            format: PayloadFormat::Json,
            ca_file: None,
        }
    }
}

impl NotifySpec {
    /// Whether an event of `kind` about `service` (None: project-wide) fires this entry.
    pub fn wants(&self, kind: &str, service: Option<&str>) -> bool {
        if !self.on.iter().any(|wanted| wanted == kind) {
            return false;
        }
        match service {
            Some(service) if !self.services.is_empty() => {
                self.services.iter().any(|name| name == service)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(on: &[&str], services: &[&str]) -> NotifySpec {
        NotifySpec {
            on: on.iter().map(|kind| kind.to_string()).collect(),
            services: services.iter().map(|name| name.to_string()).collect(),
            target: NotifyTarget::Webhook(WebhookSpec::json("http://127.0.0.1:1/")),
            timeout: Duration::from_secs(5),
            retries: 3,
            rate_limit: 10,
            rate_window: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_entry_wants_its_kinds_of_its_services_and_project_wide_events() {
        let all = entry(&["crashed", "all_ready"], &[]);
        assert!(all.wants("crashed", Some("api")));
        assert!(all.wants("all_ready", None));
        assert!(!all.wants("started", Some("api")));

        let api = entry(&["crashed", "all_ready"], &["api"]);
        assert!(api.wants("crashed", Some("api")));
        assert!(!api.wants("crashed", Some("web")));
        assert!(api.wants("all_ready", None));
    }

    #[test]
    fn event_kinds_are_unique_snake_case_names() {
        let mut names: Vec<&str> = EVENT_KINDS.iter().map(|(name, _)| *name).collect();
        assert!(
            names
                .iter()
                .all(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a kind is listed twice");
        assert!(!names.contains(&SUPPRESSED_KIND));
    }
}
