//! `schedule` and `every`: when a service runs (or is restarted) by the clock, and the next such
//! time after a given instant.
//!
//! A cron expression is read by `croner` (five fields, minute first; an optional sixth in front
//! for seconds, an optional seventh at the end for the year; `@hourly` and the like) and
//! evaluated in a time zone (`jiff`): the system's (`TZ`, else `/etc/localtime`) when the daemon
//! runs, a fixed one in tests. Daylight saving time is handled as croner does (after the Open
//! Cron Pattern Specification and Vixie cron): a fixed time that falls into a gap (spring
//! forward) runs at the end of the gap, wildcard and interval times inside the gap do not exist,
//! and in a repeated hour (fall back) a fixed time runs once while wildcard and interval times
//! run in both passes. `every` is a fixed period in real time instead: its times are the
//! multiples of the period since the Unix epoch, so the next one depends on the clock alone.
//!
//! [`ScheduleSpec::next_after`] is a pure function of an instant and a zone: the daemon's
//! scheduler (`supervisor::schedule`) asks it with the wall clock, the tests with fixed instants.

use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;

/// When a service runs by the clock, and what its times do.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub when: ScheduleWhen,
    pub action: ScheduleAction,
}

#[derive(Debug, Clone)]
pub enum ScheduleWhen {
    /// A cron expression, as written (`*/5 * * * *`), and compiled.
    Cron {
        expression: String,
        cron: Box<croner::Cron>,
    },
    /// A fixed period, at least a second (its times are the multiples of it since the Unix
    /// epoch).
    Every(Duration),
}

/// What a scheduled time does (`on_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    /// Start the service at each time (it is not started with the others): a run still going
    /// then is reported and the time skipped, so two runs never overlap. For one-shot jobs.
    Start,
    /// Restart the service at each time (it starts with the others), as PM2's `cron_restart`.
    Restart,
}

impl ScheduleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleAction::Start => "start",
            ScheduleAction::Restart => "restart",
        }
    }
}

/// Reads a cron expression; the error says why it was refused, in words. An expression that
/// no time after `now` matches (`0 0 30 2 *`, a year that has passed) is refused too: its job
/// would never run.
pub fn parse_cron(expression: &str, now: SystemTime) -> Result<croner::Cron, String> {
    use std::str::FromStr;
    let cron = croner::Cron::from_str(expression).map_err(|error| describe_error(&error))?;
    match next_cron_time(&cron, now, &TimeZone::UTC) {
        Some(_) => Ok(cron),
        None => Err("no time matches it".to_string()),
    }
}

fn describe_error(error: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    let text = match error {
        CronError::EmptyPattern => "the expression is empty".to_string(),
        CronError::InvalidPattern(why) | CronError::ComponentError(why) => why.clone(),
        other => other.to_string(),
    };
    text.trim_end_matches('.').to_string()
}

impl ScheduleSpec {
    /// Whether the service waits for its first time instead of starting with the others.
    pub fn waits(&self) -> bool {
        self.action == ScheduleAction::Start
    }

    /// The first scheduled time strictly after `after`, a cron expression read in `zone`; `None`
    /// when there is none within croner's search range (a year with no matching day, or a
    /// seventh field whose years have passed) or it cannot be represented.
    pub fn next_after(&self, after: SystemTime, zone: &TimeZone) -> Option<SystemTime> {
        match &self.when {
            ScheduleWhen::Every(period) => next_multiple(after, *period),
            ScheduleWhen::Cron { cron, .. } => next_cron_time(cron, after, zone),
        }
    }

    /// [`next_after`](Self::next_after) in the system's time zone (`TZ`, else
    /// `/etc/localtime`; UTC when neither can be read).
    pub fn next_local(&self, after: SystemTime) -> Option<SystemTime> {
        self.next_after(after, &TimeZone::system())
    }

    /// The schedule for humans, as the config writes it: `*/5 * * * * (local time)` or
    /// `every 10m`.
    pub fn describe(&self) -> String {
        match &self.when {
            ScheduleWhen::Cron { expression, .. } => format!("{expression} (local time)"),
            ScheduleWhen::Every(period) => {
                format!("every {}", humantime::format_duration(*period))
            }
        }
    }
}

/// The first time `cron` matches in `zone` strictly after `after`.
fn next_cron_time(cron: &croner::Cron, after: SystemTime, zone: &TimeZone) -> Option<SystemTime> {
    let start = jiff::Timestamp::try_from(after)
        .ok()?
        .to_zoned(zone.clone());
    let next = cron.find_next_occurrence(&start, false).ok()?;
    Some(SystemTime::from(next.timestamp()))
}

/// The first multiple of `period` since the Unix epoch strictly after `after`.
fn next_multiple(after: SystemTime, period: Duration) -> Option<SystemTime> {
    let period = period.as_nanos();
    if period == 0 {
        return None;
    }
    let since_epoch = after
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let next = (since_epoch / period + 1).checked_mul(period)?;
    let seconds = u64::try_from(next / 1_000_000_000).ok()?;
    let nanos = u32::try_from(next % 1_000_000_000).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests;
