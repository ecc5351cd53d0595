//! Log-file trouble made visible: the log store never lets a failing disk stop supervision (it
//! drops and counts lines instead); this task turns that, and its end, into `ps` fields and
//! events.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::api::wire;
use crate::daemon::observer::DaemonObserver;
use crate::human;
use crate::supervisor::runtime::Observer;

/// After the log store signals trouble, how long the daemon waits for more before reporting:
/// a failing disk drops lines by the thousand, and one report per moment is enough.
const LOG_HEALTH_DEBOUNCE: Duration = Duration::from_millis(500);

/// Reports log-file trouble (a full disk, an unwritable directory) in `ps` and as an event, and
/// its end: output is dropped and counted meanwhile, never allowed to stop supervision.
pub(super) async fn watch_log_health(observer: Rc<DaemonObserver>) {
    let mut seen: Vec<(u64, bool)> = Vec::new();
    loop {
        // Event-driven: an idle daemon never wakes up for this.
        observer.store.trouble().await;
        tokio::time::sleep(LOG_HEALTH_DEBOUNCE).await;
        let spec = observer.spec();
        // `apply` may have added services since.
        seen.resize(spec.services.len(), (0, false));
        let mut changed = false;
        for (service, seen) in seen.iter_mut().enumerate() {
            let stats = observer.store.stats(service);
            let now = (stats.lines_dropped, stats.failing);
            if now == *seen {
                continue;
            }
            changed = true;
            let name = spec.services[service].name.clone();
            let (kind, message) = match (stats.failing, seen.1) {
                (true, _) => (
                    "log_trouble",
                    format!(
                        "cannot write its log file ({}); {} line(s) dropped so far",
                        stats.last_error.as_deref().unwrap_or("unknown error"),
                        stats.lines_dropped
                    ),
                ),
                (false, true) => (
                    "log_recovered",
                    format!(
                        "its log file is written again; {} line(s) were dropped",
                        stats.lines_dropped
                    ),
                ),
                (false, false) => (
                    "log_trouble",
                    format!(
                        "{} line(s) could not be written to its log file",
                        stats.lines_dropped
                    ),
                ),
            };
            observer.reporter.notice(&format!("{name}: {message}"));
            observer.publish(wire::Event {
                time: human::time(SystemTime::now()),
                kind: kind.to_string(),
                service: Some(name),
                instance: None,
                message,
                pid: None,
            });
            *seen = now;
        }
        if changed {
            observer.status.send_modify(|status| {
                let mut updated = (**status).clone();
                let live = observer.live.borrow();
                for (entry, id) in updated.services.iter_mut().zip(&live.order) {
                    let stats = observer.store.stats(id.service);
                    entry.log_lines_dropped = stats.lines_dropped;
                    entry.log_error = stats.failing.then(|| stats.last_error.clone()).flatten();
                }
                *status = Arc::new(updated);
            });
        }
    }
}
