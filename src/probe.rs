//! Readiness-probe primitives: one attempt of an HTTP or TCP check, the `NOTIFY_SOCKET` server
//! for services that speak systemd's sd_notify, and the schedule that spaces attempts out.
//!
//! This module owns *single attempts* and their wording. It does not decide when a service is
//! ready, when a probe has run out of time, or what happens next: the supervisor's engine owns
//! those decisions and calls in here. Nothing here spawns a process (the exec probe goes through
//! the spawner, because one reaper owns every child), and nothing here retries on its own.
//!
//! A failed attempt is a [`ProbeFailure`]: a short reason in the user's words, because the last
//! one is what the user sees when readiness times out ("connection refused", "HTTP 503").

mod http;
mod notify;
mod schedule;
mod tcp;

use std::fmt;
use std::time::Duration;

use crate::human;

pub use http::http_attempt;
// The one-shot HTTP/1.1 client, shared with notification webhooks (`crate::notify`).
pub(crate) use http::{HttpTarget, exchange, exchange_on};
pub use notify::{NotifyMessage, NotifySocket};
pub use schedule::ProbeSchedule;
pub use tcp::tcp_attempt;
pub(crate) use tcp::{connect, io_reason};

/// Why one probe attempt did not pass, in words for the user: "connection refused", "HTTP 503",
/// "HTTP 302 (a redirect is not ready)", "timed out after 1s".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure(pub String);

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProbeFailure {}

impl ProbeFailure {
    /// The failure for an attempt cut off by its own time limit.
    fn timed_out(attempt_timeout: Duration) -> ProbeFailure {
        ProbeFailure(format!(
            "timed out after {}",
            human::duration(attempt_timeout)
        ))
    }
}
