//! PM2 ecosystem files (`ecosystem.config.js`, `.cjs`, `.json`, `.yaml`): each app of `apps`
//! becomes a service.
//!
//! PM2 restarts an app whenever it exits (`autorestart`, on by default), so apps map to
//! `restart = "always"`; `stop_exit_codes = [0]` to `"on-failure"`. Its `max_restarts` counts
//! unstable restarts (runs shorter than `min_uptime`), wrangle's quick crashes in a row: the same
//! rule. Times are milliseconds in PM2. Memory sizes (`300M`) are binary units in PM2.

use std::path::Path;

use serde_norway::Value;

use crate::import::draft::{self, Draft, Service};
use crate::import::source::{self, Options, brief, scalar_text, string_list};
use crate::import::{Copies, ImportError, Names, Paths, millis, run_as, set_instances};

pub fn import(path: &Path, paths: &Paths) -> Result<Draft, ImportError> {
    let extension = path
        .extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let (value, evaluated) = match extension.as_str() {
        "js" | "cjs" | "mjs" => {
            let json = crate::import::node::evaluate(path)?;
            (
                source::parse_json(&json, "the ecosystem file's exports")?,
                true,
            )
        }
        "json" => (
            source::parse_json(&source::read_text(path)?, &path.display().to_string())?,
            false,
        ),
        "yaml" | "yml" => (source::parse_yaml(&source::read_text(path)?, path)?, false),
        _ => {
            return Err(ImportError::new(format!(
                "{}: a PM2 ecosystem file ends in .js, .cjs, .json, .yaml or .yml",
                path.display()
            )));
        }
    };
    let mut draft = Draft::default();
    if evaluated {
        draft.header.push(format!(
            "{} was evaluated with node to read its exports.",
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
    }
    let apps: Vec<&Value> = match &value {
        Value::Sequence(apps) => apps.iter().collect(),
        Value::Mapping(mapping) => {
            let mut top = Options::new(mapping);
            let apps = match top.take("apps") {
                Some(Value::Sequence(apps)) => apps.iter().collect(),
                Some(app @ Value::Mapping(_)) => vec![app],
                Some(other) => {
                    return Err(ImportError::new(format!(
                        "{}: `apps` must be a list of apps, not {}",
                        path.display(),
                        brief(other)
                    )));
                }
                None if mapping.contains_key("script") => vec![&value],
                None => Vec::new(),
            };
            top.explain(
                "deploy",
                "wrangle runs a project, it does not deploy it (keep using pm2 deploy or your CI)",
            );
            if !mapping.contains_key("script") {
                draft.footer.extend(top.notes("ecosystem"));
            }
            apps
        }
        _ => Vec::new(),
    };
    if apps.is_empty() {
        return Err(ImportError::new(format!(
            "{}: no apps found (expected `apps: [...]` with at least one app)",
            path.display()
        )));
    }
    let mut names = Names::default();
    for (index, app) in apps.into_iter().enumerate() {
        let Value::Mapping(app) = app else {
            return Err(ImportError::new(format!(
                "{}: app {} is not an object",
                path.display(),
                index + 1
            )));
        };
        draft
            .services
            .push(app_service(app, index, paths, &mut names)?);
    }
    Ok(draft)
}

fn app_service(
    app: &serde_norway::Mapping,
    index: usize,
    paths: &Paths,
    names: &mut Names,
) -> Result<Service, ImportError> {
    let mut options = Options::new(app);
    let script = options
        .take("script")
        .and_then(scalar_text)
        .ok_or_else(|| ImportError::new(format!("app {} has no `script`", index + 1)))?;
    let wanted = match options.take("name").and_then(scalar_text) {
        Some(name) => name,
        None => Path::new(&script)
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("app{}", index + 1)),
    };
    let (name, renamed) = names.claim(&wanted, &format!("app{}", index + 1));
    let mut service = Service::new(name);
    service.comments.extend(renamed);

    // The command: [interpreter, interpreter_args..., script, args...].
    let interpreter = options.take("interpreter").and_then(scalar_text);
    let mut interpreter_args = Vec::new();
    for key in ["interpreter_args", "node_args"] {
        if let Some(value) = options.take(key) {
            interpreter_args.extend(words(value));
        }
    }
    let args = options.take("args").map(words).unwrap_or_default();
    let (program, note) = interpreter_for(&script, interpreter.as_deref());
    let mut argv = Vec::new();
    if let Some(program) = program {
        argv.push(program);
        argv.extend(interpreter_args.iter().cloned());
    } else if !interpreter_args.is_empty() {
        service.note(format!(
            "not imported: interpreter arguments {}: the script runs without an interpreter",
            interpreter_args.join(" ")
        ));
    }
    argv.push(script);
    argv.extend(args);
    let entry = service.set("command", draft::strings(&argv));
    if let Some(note) = note {
        entry.comment(note);
    }

    if let Some(cwd) = options.take("cwd").and_then(scalar_text) {
        service.set("cwd", paths.rebase(&cwd));
    }
    if let Some(env) = options.take("env") {
        let (pairs, _) = source::environment(env);
        if let Some(port) = pairs
            .iter()
            .find(|(name, _)| name == "PORT")
            .and_then(|(_, value)| value.parse::<u16>().ok())
            .filter(|port| *port > 0)
        {
            service
                .set("port", i64::from(port))
                .comment("from env.PORT: wrangle checks the port is free before each start");
        }
        if !pairs.is_empty() {
            service.set("env", draft::string_table(&pairs));
        }
    }
    for (key, value) in options.take_matching(|key| key.starts_with("env_")) {
        let profile = key.trim_start_matches("env_");
        let (pairs, _) = source::environment(value);
        if profile.is_empty() || pairs.is_empty() {
            service.note(format!(
                "not imported: {key} = {}: no variables",
                brief(value)
            ));
            continue;
        }
        // Merged over `env` when selected, as pm2 merges env_NAME over env.
        service
            .set_in_profile(profile, "env", draft::string_table(&pairs))
            .comment(format!(
                "pm2's {key} (pm2 start --env {profile}): wrangle up --profile {profile}"
            ));
    }

    // Restart on change.
    match options.take("watch") {
        Some(Value::Bool(true)) => {
            service
                .set("watch", draft::strings(&["."]))
                .comment("watch = true: pm2 watches the app's directory");
        }
        Some(value @ (Value::Sequence(_) | Value::String(_))) => {
            if let Some(paths) = string_list(value) {
                service.set("watch", draft::strings(&paths));
            }
        }
        None | Some(Value::Bool(false)) => {}
        Some(other) => service.note(format!(
            "not imported: watch = {}: expected true or a list of paths",
            brief(other)
        )),
    }
    if let Some(ignored) = options.take("ignore_watch").and_then(string_list) {
        service
            .set("watch_ignore", draft::strings(&ignored))
            .comment("pm2's ignore_watch: wrangle reads globs (rewrite a regular expression)");
    }
    if let Some(delay) = options.take("watch_delay").and_then(duration_ms) {
        service
            .set("watch_debounce", delay)
            .comment("watch_delay: how long changes must be quiet before the restart");
    }

    // Restarts.
    let autorestart = options.take("autorestart").and_then(Value::as_bool);
    let stop_exit_codes = options.take("stop_exit_codes");
    match (autorestart, stop_exit_codes) {
        (Some(false), _) => {
            service
                .set("restart", "never")
                .comment("autorestart = false");
        }
        (_, Some(codes)) if string_list(codes).is_some_and(|codes| codes == ["0"]) => {
            service
                .set("restart", "on-failure")
                .comment("stop_exit_codes = [0]: an exit with status 0 is not restarted");
        }
        (_, codes) => {
            service
                .set("restart", "always")
                .comment("pm2 restarts an app whenever it exits");
            if let Some(codes) = codes {
                service.note(format!(
                    "not imported: stop_exit_codes = {}: wrangle's on-failure spares only status 0",
                    brief(codes)
                ));
            }
        }
    }
    if let Some(value) = options.take("cron_restart") {
        let expression = scalar_text(value).unwrap_or_default();
        match crate::spec::schedule::parse_cron(&expression, std::time::SystemTime::now()) {
            Ok(_) => {
                service.set("schedule", expression);
                service
                    .set("on_schedule", "restart")
                    .comment("cron_restart: restarted at these times (local time)");
            }
            Err(why) => service.note(format!(
                "not imported: cron_restart = {}: not a cron expression wrangle reads ({why})",
                brief(value)
            )),
        }
    }
    if let Some(count) = options.take("max_restarts").and_then(Value::as_u64) {
        service.set("max_restarts", count as i64);
    }
    if let Some(value) = options.take("min_uptime") {
        match duration_ms(value) {
            Some(text) => {
                service.set("min_uptime", text);
            }
            None => service.note(format!(
                "not imported: min_uptime = {}: not a duration",
                brief(value)
            )),
        }
    }
    let exponential = options.take("exp_backoff_restart_delay");
    let fixed = options.take("restart_delay");
    match (
        exponential.and_then(Value::as_u64),
        fixed.and_then(Value::as_u64),
    ) {
        (Some(initial), fixed) => {
            service.set("backoff_initial", millis(initial));
            service
                .set("backoff_max", "15s")
                .comment("exp_backoff_restart_delay: pm2 doubles the delay up to 15s");
            if let Some(fixed) = fixed {
                service.note(format!(
                    "not imported: restart_delay = {fixed}: exp_backoff_restart_delay is used"
                ));
            }
        }
        (None, Some(delay)) => {
            service.set("backoff_initial", millis(delay));
            service
                .set("backoff_max", millis(delay.max(1)))
                .comment("restart_delay: a fixed delay between restarts");
        }
        (None, None) => {}
    }
    let uid = options.take("uid").and_then(scalar_text);
    let gid = options.take("gid").and_then(scalar_text);
    match (&uid, &gid) {
        (Some(user), group) => run_as(&mut service, user, group.as_deref(), "uid"),
        (None, Some(group)) => run_as(&mut service, "", Some(group), "gid"),
        (None, None) => {}
    }
    if let Some(ms) = options.take("kill_timeout").and_then(Value::as_u64) {
        service.set("stop_timeout", millis(ms.max(1)));
    }
    if let Some(value) = options.take("max_memory_restart") {
        match memory(value) {
            Some(size) => {
                service.set("max_memory", size);
            }
            None => service.note(format!(
                "not imported: max_memory_restart = {}: not a size",
                brief(value)
            )),
        }
    }

    // Readiness.
    let wait_ready = options.take("wait_ready").and_then(Value::as_bool) == Some(true);
    let listen_timeout = options.take("listen_timeout").and_then(Value::as_u64);
    if wait_ready {
        service.note(
            "not imported: wait_ready = true: pm2 waits for process.send('ready'); add a `ready` \
             probe instead (http, tcp, log, or notify with sd_notify)",
        );
        if let Some(ms) = listen_timeout {
            service.note(format!(
                "listen_timeout = {ms}: use it as the probe's timeout = \"{}\"",
                millis(ms)
            ));
        }
    } else if let Some(ms) = listen_timeout {
        service.note(format!(
            "not imported: listen_timeout = {ms}: pm2's wait for readiness; set ready.timeout \
             with a probe"
        ));
    }

    instances(&mut service, &mut options);
    explain_rest(&mut options);
    service.notes.extend(options.notes("pm2"));
    Ok(service)
}

/// `instances` (a count; 0, "max" or -1 mean one per CPU, -1 less one) and `exec_mode`: PM2's
/// cluster mode shares one port between the copies through Node's cluster module, which
/// wrangle's equivalent is a socket they share.
fn instances(service: &mut Service, options: &mut Options<'_>) {
    let mode = options.take("exec_mode").and_then(scalar_text);
    let instance_var = options.take("instance_var").and_then(scalar_text);
    let increment_var = options.take("increment_var").and_then(scalar_text);
    let Some(value) = options.take("instances") else {
        return;
    };
    let text = scalar_text(value).unwrap_or_default();
    let copies = match text.trim() {
        "max" | "0" => Some(Copies::PerCpu),
        "-1" => {
            service.note("instances = -1 (every CPU but one) became \"max\" (every CPU)");
            Some(Copies::PerCpu)
        }
        number => number.parse::<u32>().ok().map(Copies::Count),
    };
    let Some(copies) = copies else {
        service.note(format!(
            "not imported: instances = {}: not a count",
            brief(value)
        ));
        return;
    };
    set_instances(service, copies, &format!("instances = {}", brief(value)));
    if copies == Copies::Count(1) {
        return;
    }
    if mode
        .as_deref()
        .is_some_and(|mode| mode.starts_with("cluster"))
    {
        service.note(
            "exec_mode = \"cluster\": pm2's copies share one port through Node's cluster \
             module; wrangle's instances are separate processes (share a [sockets] entry)",
        );
    }
    service.note(format!(
        "pm2 sets {} to the instance number: wrangle sets WRANGLE_INSTANCE",
        instance_var.as_deref().unwrap_or("NODE_APP_INSTANCE")
    ));
    if let Some(variable) = increment_var {
        service.note(format!(
            "not imported: increment_var = {variable:?}: derive the value from WRANGLE_INSTANCE"
        ));
    }
}

fn explain_rest(options: &mut Options<'_>) {
    const LOGS: &str = "wrangle keeps each service's output in its own log files (`wrangle logs`; \
                        [logs] sets rotation)";
    for (key, why) in [
        (
            "watch_options",
            "chokidar's options: wrangle watches with inotify (polling past the watch limit)",
        ),
        ("out_file", LOGS),
        ("error_file", LOGS),
        ("log_file", LOGS),
        ("output", LOGS),
        ("error", LOGS),
        ("log", LOGS),
        ("merge_logs", LOGS),
        ("combine_logs", LOGS),
        ("log_date_format", LOGS),
        ("log_type", LOGS),
        ("time", LOGS),
        ("disable_logs", LOGS),
        ("pid_file", "wrangle tracks processes itself (`wrangle ps`)"),
        (
            "autostart",
            "`wrangle up` starts every service; start some with `wrangle up NAME...`",
        ),
        (
            "namespace",
            "no namespaces: one wrangle.toml is one project",
        ),
        (
            "treekill",
            "wrangle always stops a service's whole process tree",
        ),
        (
            "shutdown_with_message",
            "wrangle stops with stop_signal (default SIGTERM)",
        ),
        (
            "kill_retry_time",
            "wrangle sends SIGKILL once stop_timeout passes",
        ),
        ("vizion", "no version-control metadata"),
        ("post_update", "no update hooks"),
        ("force", "wrangle never starts a second copy of a project"),
        (
            "source_map_support",
            "a Node option; pass --enable-source-maps in node_args",
        ),
        (
            "filter_env",
            "services inherit wrangle's environment; unset variables in a wrapper",
        ),
        ("append_env_to_name", "no per-environment names"),
        ("user", "services run as the user who runs wrangle"),
    ] {
        options.explain(key, why);
    }
}

/// The interpreter PM2 would use for `script`, as the program of the command, and a comment
/// when wrangle's choice needs checking.
fn interpreter_for(script: &str, interpreter: Option<&str>) -> (Option<String>, Option<String>) {
    match interpreter {
        Some("none") => return (None, None),
        Some(program) => return (Some(program.to_string()), None),
        None => {}
    }
    let extension = Path::new(script)
        .extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let program = match extension.as_str() {
        "js" | "cjs" | "mjs" => "node",
        "ts" | "tsx" => "ts-node",
        "py" => "python3",
        "sh" => "bash",
        "rb" => "ruby",
        "php" => "php",
        "pl" => "perl",
        "coffee" => "coffee",
        _ => {
            return (
                None,
                Some(format!(
                    "pm2 runs {script:?} without an interpreter when it is a program on PATH"
                )),
            );
        }
    };
    let note = (extension == "py")
        .then(|| "pm2 runs .py files with `python`; python3 is used here".to_string());
    (Some(program.to_string()), note)
}

/// `args` as a string (split into words like a shell would, without one) or a list.
fn words(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(_) => string_list(value).unwrap_or_default(),
        other => match scalar_text(other) {
            Some(text) => crate::config::split_command_line(&text).unwrap_or_else(|_| vec![text]),
            None => Vec::new(),
        },
    }
}

/// PM2 times: a number of milliseconds, or a string such as "10s" (a bare number string is
/// milliseconds too).
fn duration_ms(value: &Value) -> Option<String> {
    if let Some(ms) = value.as_u64() {
        return Some(millis(ms));
    }
    let text = value.as_str()?.trim();
    if let Ok(ms) = text.parse::<u64>() {
        return Some(millis(ms));
    }
    humantime::parse_duration(text)
        .ok()
        .map(|_| text.to_string())
}

/// `max_memory_restart`: "300M", "1G", "512K" (binary units) or bytes.
fn memory(value: &Value) -> Option<String> {
    if let Some(bytes) = value.as_u64() {
        return match bytes {
            bytes if bytes < 4096 => None,
            bytes if bytes % (1 << 20) == 0 => Some(format!("{}MiB", bytes >> 20)),
            bytes => Some(bytes.to_string()),
        };
    }
    let text = value.as_str()?.trim();
    let digits = text.trim_end_matches(|char: char| char.is_ascii_alphabetic());
    let number: u64 = digits.trim().parse().ok()?;
    let unit = text[digits.len()..].to_ascii_uppercase();
    let unit = match unit.as_str() {
        "" => return (number >= 4096).then(|| number.to_string()),
        "K" | "KB" => "KiB",
        "M" | "MB" => "MiB",
        "G" | "GB" => "GiB",
        _ => return None,
    };
    Some(format!("{number}{unit}"))
}
