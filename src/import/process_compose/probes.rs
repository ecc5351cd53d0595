//! process-compose probes: `readiness_probe` becomes `ready` (rechecked at its period, as
//! process-compose keeps probing), `liveness_probe` becomes `live` (the service is restarted
//! after `failure_threshold` failed checks in a row). Both check with `exec` or `http_get`.

use serde_norway::{Mapping, Value};
use toml_edit::InlineTable;

use crate::import::draft::{self, Service};
use crate::import::source::{Options, scalar_text};

/// A readiness probe (`exec` or `http_get`) as `ready`.
pub(super) fn readiness(service: &mut Service, probe: &Mapping) {
    let mut options = Options::new(probe);
    let Some((kind, check)) = check(service, &mut options, "readiness_probe") else {
        return;
    };
    let timing = Timing::take(&mut options);
    let mut ready = InlineTable::new();
    ready.insert(kind, check);
    ready.insert(
        "interval",
        toml_edit::Value::from(format!("{}s", timing.period)),
    );
    ready.insert(
        "timeout",
        toml_edit::Value::from(format!(
            "{}s",
            timing.initial + timing.period * timing.failures
        )),
    );
    ready.insert(
        "recheck",
        toml_edit::Value::from(format!("{}s", timing.period)),
    );
    let entry = service.set_table("ready", ready);
    entry.comment(
        "readiness_probe: timeout = initial_delay_seconds + period_seconds x failure_threshold; \
         rechecked at the same period",
    );
    if let Some(timeout) = timing.timeout {
        entry.comment(format!(
            "timeout_seconds = {timeout} per check has no equivalent"
        ));
    }
    if let Some(successes) = timing.successes.filter(|count| *count > 1) {
        entry.comment(format!(
            "success_threshold = {successes}: one passed check makes it ready"
        ));
    }
    for note in options.notes("readiness_probe") {
        service.note(note);
    }
}

/// A liveness probe (`exec` or `http_get`) as `live`.
pub(super) fn liveness(service: &mut Service, probe: &Mapping) {
    let mut options = Options::new(probe);
    let Some((kind, check)) = check(service, &mut options, "liveness_probe") else {
        return;
    };
    let timing = Timing::take(&mut options);
    let mut live = InlineTable::new();
    live.insert(kind, check);
    live.insert(
        "interval",
        toml_edit::Value::from(format!("{}s", timing.period)),
    );
    // process-compose waits 1 s for a check by default.
    live.insert(
        "timeout",
        toml_edit::Value::from(format!("{}s", timing.timeout.unwrap_or(1).max(1))),
    );
    live.insert(
        "failures",
        toml_edit::Value::from(i64::try_from(timing.failures.min(1000)).unwrap_or(1000)),
    );
    let entry = service.set_table("live", live);
    entry.comment(
        "liveness_probe: after `failures` failed checks in a row the service is restarted, \
         whatever its restart policy",
    );
    if timing.initial > 0 {
        entry.comment(format!(
            "initial_delay_seconds = {}: the first check comes one interval after the service \
             is ready",
            timing.initial
        ));
    }
    if let Some(successes) = timing.successes.filter(|count| *count > 1) {
        entry.comment(format!(
            "success_threshold = {successes}: one passed check resets the count"
        ));
    }
    for note in options.notes("liveness_probe") {
        service.note(note);
    }
}

/// The probe's timing, with process-compose's defaults.
struct Timing {
    initial: u64,
    /// At least 1.
    period: u64,
    timeout: Option<u64>,
    /// At least 1.
    failures: u64,
    successes: Option<u64>,
}

impl Timing {
    fn take(options: &mut Options<'_>) -> Timing {
        let number =
            |options: &mut Options<'_>, key: &str| options.take(key).and_then(Value::as_u64);
        Timing {
            initial: number(options, "initial_delay_seconds").unwrap_or(0),
            period: number(options, "period_seconds").unwrap_or(10).max(1),
            timeout: number(options, "timeout_seconds"),
            failures: number(options, "failure_threshold").unwrap_or(3).max(1),
            successes: number(options, "success_threshold"),
        }
    }
}

/// What the probe checks, as wrangle writes it: `("exec", [...])` or `("http", "http://...")`;
/// `None` (after a note) when it checks nothing wrangle can.
fn check(
    service: &mut Service,
    options: &mut Options<'_>,
    what: &str,
) -> Option<(&'static str, toml_edit::Value)> {
    if let Some(Value::Mapping(exec)) = options.take("exec") {
        let mut exec = Options::new(exec);
        let command = exec.take("command").and_then(scalar_text);
        exec.explain("working_dir", "the probe runs in the service's cwd");
        for note in exec.notes(&format!("{what}.exec")) {
            service.note(format!("{what}.exec: {note}"));
        }
        if let Some(command) = command {
            return Some((
                "exec",
                draft::strings(&["sh".to_string(), "-c".to_string(), command]),
            ));
        }
    }
    if let Some(Value::Mapping(http)) = options.take("http_get") {
        let mut http = Options::new(http);
        let scheme = http
            .take("scheme")
            .and_then(scalar_text)
            .unwrap_or_else(|| "http".to_string());
        let host = http
            .take("host")
            .and_then(scalar_text)
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let port = http.take("port").and_then(scalar_text).unwrap_or_default();
        let path = http.take("path").and_then(scalar_text).unwrap_or_default();
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        http.explain("headers", "probes send no headers of their own");
        http.explain("status_code", "a probe passes on any 2xx status");
        for note in http.notes(&format!("{what}.http_get")) {
            service.note(format!("{what}.http_get: {note}"));
        }
        if scheme == "http" {
            return Some((
                "http",
                toml_edit::Value::from(format!("http://{host}:{port}{path}")),
            ));
        }
        service.note(format!(
            "not imported: {what}.http_get with scheme {scheme}: probes speak http://"
        ));
        return None;
    }
    service.note(format!("not imported: {what} without exec or http_get"));
    None
}
