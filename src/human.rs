//! How wrangle writes quantities for people, the same way in every message, table and payload:
//! durations (`1.5s`), uptimes (`3m07s`), sizes (`45.2MiB`, the units the config accepts) and
//! points in time (RFC 3339 in UTC with milliseconds, as the API and `logs` show them).
//!
//! Vocabulary shared by the supervisor, the daemon, the API and every front-end: it imports
//! nothing of the crate.

use std::time::{Duration, SystemTime};

/// A duration for messages, as a user would write it in the config: `412ms`, `1.5s`, `10s`,
/// `2m`, `2m30s`.
pub fn duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return match ms.is_multiple_of(1000) {
            true => format!("{}s", ms / 1000),
            false => format!("{:.1}s", duration.as_secs_f64()),
        };
    }
    match ms.is_multiple_of(60_000) {
        true => format!("{}m", ms / 60_000),
        false => format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// How long something has run, in two units at most, as `ps` and `top` show it: `42s`,
/// `3m07s`, `5h02m`, `2d03h`.
pub fn uptime(uptime: Duration) -> String {
    let secs = uptime.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// A size in the binary units the config accepts: `512B`, `300KiB`, `45.2MiB`, `1.5GiB`; whole
/// numbers past 100 or when the decimal would be 0.
pub fn bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            // Three significant digits at most: f64 is exact enough for display.
            let value = bytes as f64 / size as f64;
            return match value >= 100.0 || value.fract() < 0.05 {
                true => format!("{value:.0}{unit}"),
                false => format!("{value:.1}{unit}"),
            };
        }
    }
    format!("{bytes}B")
}

/// A point in time as wrangle writes it everywhere (API, `logs`, notifications): RFC 3339 in UTC
/// with milliseconds, `2026-01-01T12:00:00.250Z`.
pub fn time(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// A time written by [`time`] (or any RFC 3339 time in UTC) read back.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

/// How long ago `started` was at `now`, as an [`uptime`]; `0s` for a start in the future (clocks
/// of two processes may disagree by a little).
pub fn uptime_since(started: SystemTime, now: SystemTime) -> String {
    uptime(now.duration_since(started).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_config() {
        assert_eq!(duration(Duration::ZERO), "0ms");
        assert_eq!(duration(Duration::from_millis(412)), "412ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration(Duration::from_secs(10)), "10s");
        assert_eq!(duration(Duration::from_secs(120)), "2m");
        assert_eq!(duration(Duration::from_secs(150)), "2m30s");
    }

    #[test]
    fn uptimes_have_two_units_at_most() {
        assert_eq!(uptime(Duration::ZERO), "0s");
        assert_eq!(uptime(Duration::from_secs(59)), "59s");
        assert_eq!(uptime(Duration::from_secs(187)), "3m07s");
        assert_eq!(uptime(Duration::from_secs(5 * 3600 + 125)), "5h02m");
        assert_eq!(
            uptime(Duration::from_secs(2 * 86400 + 3 * 3600 + 5)),
            "2d03h"
        );
    }

    #[test]
    fn sizes_use_the_config_units() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(1023), "1023B");
        assert_eq!(bytes(1024), "1KiB");
        assert_eq!(bytes(300 * 1024), "300KiB");
        assert_eq!(bytes(45_200 * 1024), "44.1MiB");
        assert_eq!(bytes(500 * 1024 * 1024), "500MiB");
        assert_eq!(bytes(1536 * 1024 * 1024), "1.5GiB");
        assert_eq!(bytes(u64::MAX), "16777216TiB");
    }

    #[test]
    fn times_are_rfc3339_with_milliseconds_and_read_back() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_250);
        assert_eq!(time(at), "2026-01-01T00:00:00.250Z");
        assert_eq!(parse_time(&time(at)), Some(at));
        assert_eq!(parse_time("yesterday"), None);
        let later = at + Duration::from_secs(65);
        assert_eq!(uptime_since(at, later), "1m05s");
        assert_eq!(uptime_since(later, at), "0s");
    }
}
