//! process-compose files (`process-compose.yaml`): each entry of `processes` becomes a service.
//!
//! process-compose runs a command through a shell (`bash -c` unless `shell` says otherwise), so
//! commands become `shell = true` services (`sh -c`); an `entrypoint` list runs as it is. Its
//! probes map to `ready` and `live` (`probes.rs`), its `schedule` and `watch` to wrangle's
//! (`triggers.rs`), its availability to the restart policy. Variables are lists of
//! `NAME=value`. Every key of a process either maps or is named in a comment with the reason.

mod probes;
mod triggers;

use std::path::Path;

use serde_norway::{Mapping, Value};
use toml_edit::InlineTable;

use crate::import::draft::{self, Draft, Service};
use crate::import::source::{self, Options, brief, environment, scalar_text, string_list};
use crate::import::{Copies, ImportError, Names, Paths, set_instances};

pub fn import(path: &Path, paths: &Paths) -> Result<Draft, ImportError> {
    let value = source::parse_yaml(&source::read_text(path)?, path)?;
    let Value::Mapping(top) = &value else {
        return Err(ImportError::new(format!(
            "{}: a process-compose file is a mapping with `processes`",
            path.display()
        )));
    };
    let mut options = Options::new(top);
    let Some(Value::Mapping(processes)) = options.take("processes") else {
        return Err(ImportError::new(format!(
            "{}: no `processes` mapping",
            path.display()
        )));
    };
    let mut draft = Draft::default();
    if let Some(value) = options.take("environment") {
        let (pairs, _) = environment(value);
        if !pairs.is_empty() {
            draft
                .defaults
                .push(draft_entry("env", draft::string_table(&pairs)));
        }
    }
    if let Some(Value::Mapping(shell)) = options.take("shell") {
        let command = shell.get("shell_command").and_then(scalar_text);
        if command
            .as_deref()
            .is_some_and(|command| !command.ends_with("sh"))
            || command.is_some()
        {
            draft.header.push(format!(
                "process-compose ran commands with {} {}; wrangle runs shell commands with sh -c.",
                command.unwrap_or_default(),
                shell
                    .get("shell_argument")
                    .and_then(scalar_text)
                    .unwrap_or_else(|| "-c".to_string())
            ));
        }
    }
    options.explain("version", "no versions");
    options.explain("is_strict", "wrangle always rejects unknown keys");
    for key in [
        "log_location",
        "log_level",
        "log_length",
        "log_configuration",
        "log_format",
    ] {
        options.explain(
            key,
            "wrangle keeps each service's output in its own log files",
        );
    }
    options.explain("vars", "no template variables: write the values out");
    options.explain(
        "disable_env_expansion",
        "wrangle never expands variables in commands",
    );
    options.explain(
        "ordered_shutdown",
        "wrangle always stops in reverse dependency order",
    );
    options.explain(
        "env_cmds",
        "no commands run to fill variables: write the values into env or an env_file",
    );
    options.explain("extends", "merge the files into one before importing");
    draft.footer.extend(options.notes("process-compose"));

    let mut names = Names::default();
    let mut renamed: Vec<(String, String)> = Vec::new();
    for key in processes.keys() {
        let wanted = scalar_text(key).unwrap_or_default();
        let (name, _) = names.claim(&wanted, "process");
        renamed.push((wanted, name));
    }
    for ((wanted, name), (_, definition)) in renamed.iter().zip(processes.iter()) {
        let Value::Mapping(definition) = definition else {
            continue;
        };
        draft
            .services
            .push(process(name, wanted, definition, &renamed, paths));
    }
    if draft.services.is_empty() {
        return Err(ImportError::new(format!(
            "{}: `processes` is empty",
            path.display()
        )));
    }
    Ok(draft)
}

fn draft_entry(key: &str, table: InlineTable) -> crate::import::draft::Entry {
    crate::import::draft::Entry {
        key: key.to_string(),
        value: toml_edit::Value::InlineTable(table),
        comments: Vec::new(),
        as_table: false,
    }
}

fn process(
    name: &str,
    wanted: &str,
    definition: &Mapping,
    renamed: &[(String, String)],
    paths: &Paths,
) -> Service {
    let mut options = Options::new(definition);
    let mut service = Service::new(name);
    if name != wanted {
        service.comments.push(format!(
            "process {wanted:?}: renamed, not a valid service name"
        ));
    }
    if let Some(description) = options.take("description").and_then(scalar_text) {
        service.comments.push(description);
    }
    let command = options.take("command").and_then(scalar_text);
    let entrypoint = options
        .take("entrypoint")
        .and_then(string_list)
        .filter(|argv| !argv.is_empty());
    match (command, entrypoint) {
        (Some(command), entrypoint) => {
            service.set("command", command);
            service.set("shell", true);
            if let Some(argv) = entrypoint {
                service.note(format!(
                    "not imported: entrypoint = {argv:?}: process-compose runs command when both are set"
                ));
            }
        }
        (None, Some(argv)) => {
            service
                .set("command", draft::strings(&argv))
                .comment("entrypoint: run as it is, without a shell");
        }
        (None, None) => service.note("no command: add one"),
    }
    if options.take("disabled").and_then(Value::as_bool) == Some(true) {
        service.comments.push(
            "disabled in process-compose: wrangle starts every service; start the others with \
             `wrangle up NAME...`"
                .to_string(),
        );
    }
    if let Some(directory) = options.take("working_dir").and_then(scalar_text) {
        service.set("cwd", paths.rebase(&directory));
    }
    if let Some(value) = options.take("environment") {
        let (pairs, passed) = environment(value);
        if !pairs.is_empty() {
            service.set("env", draft::string_table(&pairs));
        }
        if !passed.is_empty() {
            service.note(format!(
                "environment {}: passed through from wrangle's environment",
                passed.join(", ")
            ));
        }
    }
    if let Some(files) = options.take("env_file")
        && let Some(list) = source::string_list(files)
    {
        let rebased: Vec<String> = list.iter().map(|file| paths.rebase(file)).collect();
        service.set("env_file", draft::strings(&rebased));
    }
    if let Some(Value::Mapping(depends_on)) = options.take("depends_on") {
        let mut table = InlineTable::new();
        for (key, condition) in depends_on {
            let wanted = scalar_text(key).unwrap_or_default();
            let Some((_, target)) = renamed.iter().find(|(source, _)| *source == wanted) else {
                service.note(format!(
                    "not imported: depends_on {wanted}: no such process"
                ));
                continue;
            };
            let condition_text = condition
                .get("condition")
                .and_then(scalar_text)
                .unwrap_or_else(|| "process_started".to_string());
            let mapped = match condition_text.as_str() {
                "process_healthy" | "process_log_ready" => "ready",
                "process_completed_successfully" => "completed",
                "process_completed" => {
                    service.note(format!(
                        "depends_on {wanted}: process_completed (any exit status) became \
                         completed, which needs status 0"
                    ));
                    "completed"
                }
                _ => "started",
            };
            table.insert(target, toml_edit::Value::from(mapped));
        }
        if !table.is_empty() {
            service.set("depends_on", table);
        }
    }
    let log_line = options.take("ready_log_line").and_then(scalar_text);
    let readiness = options.take("readiness_probe");
    match (readiness, log_line) {
        (Some(Value::Mapping(probe)), log_line) => {
            probes::readiness(&mut service, probe);
            if let Some(line) = log_line {
                service.note(format!(
                    "not imported: ready_log_line = {line:?}: readiness_probe is used"
                ));
            }
        }
        (_, Some(line)) => {
            let mut ready = InlineTable::new();
            ready.insert("log", toml_edit::Value::from(regex::escape(&line)));
            service
                .set("ready", ready)
                .comment("ready_log_line: the line is matched literally");
        }
        _ => {}
    }
    match options.take("liveness_probe") {
        Some(Value::Mapping(probe)) => probes::liveness(&mut service, probe),
        Some(other) => service.note(format!(
            "not imported: liveness_probe = {}: not a mapping",
            brief(other)
        )),
        None => {}
    }
    let scheduled = match options.take("schedule") {
        Some(Value::Mapping(schedule)) => triggers::schedule(&mut service, schedule),
        Some(other) => {
            service.note(format!(
                "not imported: schedule = {}: not a mapping",
                brief(other)
            ));
            false
        }
        None => false,
    };
    match options.take("watch") {
        Some(Value::Mapping(watch)) => triggers::watch(&mut service, watch),
        Some(other) => service.note(format!(
            "not imported: watch = {}: not a mapping",
            brief(other)
        )),
        None => {}
    }
    if let Some(Value::Mapping(availability)) = options.take("availability") {
        let mut availability_options = Options::new(availability);
        match availability_options
            .take("restart")
            .and_then(scalar_text)
            .as_deref()
        {
            Some("always") => {
                service.set("restart", "always");
            }
            Some("on_failure") => {
                service.set("restart", "on-failure");
            }
            Some("exit_on_failure") => {
                service.set("restart", "never").comment(
                    "exit_on_failure: a failure of this service during start-up stops the project; \
                     later it is not restarted",
                );
            }
            Some(_) | None => {
                service.set("restart", "never");
            }
        }
        if let Some(seconds) = availability_options
            .take("backoff_seconds")
            .and_then(Value::as_u64)
        {
            service.set("backoff_initial", format!("{seconds}s"));
            service
                .set("backoff_max", format!("{}s", seconds.max(1)))
                .comment("backoff_seconds: a fixed delay");
        }
        if let Some(count) = availability_options
            .take("max_restarts")
            .and_then(Value::as_i64)
        {
            service.set("max_restarts", count);
        }
        availability_options.explain(
            "exit_on_end",
            "the project ends with Ctrl+C or `wrangle down`, not with one service",
        );
        availability_options.explain("exit_on_skipped", "no skipped processes in wrangle");
        for note in availability_options.notes("availability") {
            service.note(note);
        }
    } else {
        service
            .set("restart", "never")
            .comment("process-compose does not restart by default");
    }
    // A job (started by its schedule) that always restarts would never end: wrangle refuses it.
    if scheduled
        && let Some(entry) = service.get_mut("restart")
        && entry.value.as_str() == Some("always")
    {
        entry.value = toml_edit::Value::from("on-failure");
        entry.comment(
            "availability.restart = always: on-failure for a job run by its schedule (restarted \
             after every run, it would never end)",
        );
    }
    if let Some(Value::Mapping(shutdown)) = options.take("shutdown") {
        let mut shutdown_options = Options::new(shutdown);
        if let Some(signal) = shutdown_options.take("signal").and_then(Value::as_i64) {
            service.set("stop_signal", signal);
        }
        if let Some(seconds) = shutdown_options
            .take("timeout_seconds")
            .and_then(Value::as_u64)
        {
            service.set("stop_timeout", format!("{}s", seconds.max(1)));
        }
        shutdown_options.explain(
            "command",
            "wrangle stops a service with stop_signal; no stop command",
        );
        shutdown_options.explain("parent_only", "wrangle signals the whole process tree");
        for note in shutdown_options.notes("shutdown") {
            service.note(note);
        }
    }
    for key in ["log_location", "log_configuration"] {
        options.explain(
            key,
            "wrangle keeps each service's output in its own log files",
        );
    }
    if let Some(replicas) = options.take("replicas") {
        match replicas
            .as_u64()
            .and_then(|count| u32::try_from(count).ok())
        {
            Some(count) => {
                set_instances(
                    &mut service,
                    Copies::Count(count),
                    &format!("replicas = {count}"),
                );
                if count > 1 {
                    service.note(
                        "process-compose sets PC_REPLICA_NUM to the replica number: wrangle sets \
                         WRANGLE_INSTANCE",
                    );
                }
            }
            None => service.note(format!(
                "not imported: replicas = {}: not a count",
                brief(replicas)
            )),
        }
    }
    options.explain(
        "is_daemon",
        "a service must stay in the foreground: run it without daemonizing",
    );
    options.explain("is_tty", "services get pipes, not a terminal");
    options.explain("is_interactive", "services get no input");
    options.explain("is_elevated", "services run as the user who runs wrangle");
    options.explain("namespace", "one wrangle.toml is one project");
    options.explain("launch_timeout_seconds", "use ready.timeout with a probe");
    options.explain("vars", "no template variables: write the values out");
    options.explain(
        "is_foreground",
        "services get pipes, not a terminal: follow one with `wrangle logs -f NAME`",
    );
    options.explain(
        "disable_ansi_colors",
        "output is kept as the service writes it; set NO_COLOR in env if it honours that",
    );
    service.notes.extend(options.notes("process-compose"));
    service
}
