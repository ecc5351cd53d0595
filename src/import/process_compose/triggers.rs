//! What else starts or restarts a process-compose process: its `schedule` (a cron expression or
//! an interval) becomes `schedule` or `every`, a job that waits for its times; its `watch`
//! (paths with include and exclude globs) becomes `watch`, `watch_ignore` and `watch_debounce`.

use std::time::Duration;

use serde_norway::{Mapping, Value};

use crate::import::draft::{self, Service};
use crate::import::source::{Options, brief, scalar_text, string_list};

/// `schedule`: `cron` (with `timezone`) or `interval`. Returns whether a schedule was written:
/// the service is then a job, whose restart policy must not be `always`.
pub(super) fn schedule(service: &mut Service, schedule: &Mapping) -> bool {
    let mut options = Options::new(schedule);
    let cron = options.take("cron").and_then(scalar_text);
    let interval = options.take("interval").and_then(scalar_text);
    let mut written = false;
    if let Some(cron) = cron {
        match crate::spec::schedule::parse_cron(&cron, std::time::SystemTime::now()) {
            Ok(_) => {
                service
                    .set("schedule", cron.as_str())
                    .comment("schedule.cron: run at these times, in the local time zone");
                written = true;
            }
            Err(why) => service.note(format!(
                "not imported: schedule.cron = {cron:?}: not a cron expression wrangle reads ({why})"
            )),
        }
        if let Some(interval) = interval {
            service.note(format!(
                "not imported: schedule.interval = {interval:?}: process-compose uses cron when both are set"
            ));
        }
    } else if let Some(interval) = interval {
        match humantime::parse_duration(&interval) {
            Ok(period) if period >= Duration::from_secs(1) => {
                service.set("every", interval.as_str()).comment(
                    "schedule.interval: wrangle's times are the multiples of it since the Unix \
                     epoch, not counted from the start",
                );
                written = true;
            }
            _ => service.note(format!(
                "not imported: schedule.interval = {interval:?}: every needs a duration of at \
                 least 1s such as \"30m\" or \"1h30m\""
            )),
        }
    }
    if let Some(zone) = options.take("timezone").and_then(scalar_text) {
        service.note(format!(
            "schedule.timezone = {zone:?}: wrangle reads cron expressions in its own local time \
             zone (run it with TZ={zone} for this one)"
        ));
    }
    if options.take("run_on_start").and_then(Value::as_bool) == Some(true) {
        service.note(
            "schedule.run_on_start: a job runs at its times only; `wrangle start NAME` runs it at once",
        );
    }
    if let Some(count) = options
        .take("max_concurrent")
        .and_then(Value::as_u64)
        .filter(|count| *count > 1)
    {
        service.note(format!(
            "schedule.max_concurrent = {count}: wrangle never runs two runs of a job at once (a \
             time during a run is skipped)"
        ));
    }
    for note in options.notes("schedule") {
        service.note(format!("schedule: {note}"));
    }
    written
}

/// `watch`: each path (relative to the working directory) with its `include` globs as watch
/// entries, its `exclude` globs as `watch_ignore`, `debounce` as `watch_debounce`.
pub(super) fn watch(service: &mut Service, watch: &Mapping) {
    let mut options = Options::new(watch);
    let mut entries: Vec<String> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    if let Some(paths) = options.take("paths") {
        let Value::Sequence(paths) = paths else {
            service.note(format!(
                "not imported: watch.paths = {}: not a list",
                brief(paths)
            ));
            return;
        };
        for path in paths {
            let Value::Mapping(path) = path else {
                service.note(format!(
                    "not imported: watch.paths entry {}: not a mapping",
                    brief(path)
                ));
                continue;
            };
            let mut path_options = Options::new(path);
            let Some(root) = path_options.take("path").and_then(scalar_text) else {
                service.note("not imported: a watch.paths entry without path");
                continue;
            };
            let root = root.trim_end_matches('/').to_string();
            let under = |pattern: &str| match pattern.contains('/') {
                // Relative to the watched path.
                true => format!("{root}/{}", pattern.trim_start_matches('/')),
                // A name at any depth below it.
                false => format!("{root}/**/{pattern}"),
            };
            let include = path_options
                .take("include")
                .and_then(string_list)
                .unwrap_or_default();
            match include.is_empty() {
                true => entries.push(root.clone()),
                false => entries.extend(include.iter().map(|pattern| under(pattern))),
            }
            if let Some(exclude) = path_options.take("exclude").and_then(string_list) {
                ignored.extend(exclude.iter().map(|pattern| under(pattern)));
            }
            for note in path_options.notes("watch.paths") {
                service.note(format!("watch: {note}"));
            }
        }
    }
    if entries.is_empty() {
        service.note("not imported: watch without paths watches nothing");
    } else {
        service
            .set("watch", draft::strings(&entries))
            .comment("watch: relative to the service's cwd; .gitignore'd paths are ignored too");
        if !ignored.is_empty() {
            service.set("watch_ignore", draft::strings(&ignored));
        }
    }
    if let Some(debounce) = options.take("debounce").and_then(scalar_text) {
        match humantime::parse_duration(&debounce) {
            Ok(_) => {
                service.set("watch_debounce", debounce.as_str());
            }
            Err(_) => service.note(format!(
                "not imported: watch.debounce = {debounce:?}: not a duration wrangle reads"
            )),
        }
    }
    if options.take("cascade").and_then(Value::as_bool) == Some(true) {
        service.note(
            "watch.cascade: what depends on it restarts with it when its depends_on entry says \
             restart = true",
        );
    }
    options.explain(
        "max_entries",
        "wrangle polls when the inotify limit is reached",
    );
    options.explain("buffer_size", "a Windows setting");
    options.explain(
        "disable_default_excludes",
        "wrangle ignores .git and what .gitignore and .ignore list, and nothing else",
    );
    for note in options.notes("watch") {
        service.note(format!("watch: {note}"));
    }
}
