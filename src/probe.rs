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

pub use http::http_attempt;
pub use notify::{NotifyMessage, NotifySocket};
pub use schedule::ProbeSchedule;
pub use tcp::tcp_attempt;
// The connect step and its wording, shared with notification webhooks (`crate::notify`).
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
            short_duration(attempt_timeout)
        ))
    }
}

/// A duration as a user wrote it in the config: "1s", "250ms", "1.5s".
fn short_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    if millis.is_multiple_of(1000) {
        return format!("{}s", millis / 1000);
    }
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_duration_reads_like_config() {
        assert_eq!(short_duration(Duration::from_secs(1)), "1s");
        assert_eq!(short_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(short_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(short_duration(Duration::ZERO), "0ms");
    }
}
