//! Reading a `wrangle.toml` into a spanned raw form: the shape of the file, checked key by key.
//!
//! This module owns everything that can be decided by looking at one value at a time: which keys
//! exist where, the type of every value, enumerations (`restart`, conditions, signals), durations,
//! ports, probe URLs and regexes. It walks the parser's spanned document (`toml::de::DeTable`)
//! by hand rather than deriving serde structs, because that gives a precise span for every key
//! *and* every value and lets one pass report all problems instead of stopping at the first.
//!
//! It does not touch the file system and does not look across services: defaults, env files,
//! working directories, ports shared between services and the dependency graph belong to
//! `resolve`, which consumes [`RawProject`]. Values keep their spans (`toml::Spanned`) only where
//! `resolve` may still complain about them.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::diagnostic::{Diagnostic, SourceFile};
use crate::spec::{
    CommandSpec, DependencyCondition, ReadyCheck, ReadyProbe, RestartPolicy, Signal,
};

mod notify;

pub(crate) use notify::{RawNotify, resolve as resolve_notify};

type Value<'i> = Spanned<DeValue<'i>>;

/// Keys allowed at the top level.
const TOP_LEVEL_KEYS: &[&str] = &[
    "services", "defaults", "logs", "monitor", "metrics", "notify",
];
const LOGS_KEYS: &[&str] = &["max_file_size", "keep_files", "budget"];
const MONITOR_KEYS: &[&str] = &["interval", "history"];
const METRICS_KEYS: &[&str] = &["listen"];
/// The shortest sampling interval accepted: sampling costs CPU in proportion to its rate.
const MIN_MONITOR_INTERVAL: Duration = Duration::from_millis(100);
/// The most samples kept per service (history / interval): bounds the monitor's memory.
const MAX_HISTORY_SAMPLES: u128 = 100_000;
const SIZE_HELP: &str =
    "write a size such as \"10MiB\", \"500KB\" or \"1GiB\"; a bare integer means bytes";

/// Keys allowed in a `[services.NAME]` table.
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "command",
    "shell",
    "cwd",
    "env",
    "env_file",
    "port",
    "depends_on",
    "ready",
    "restart",
    "backoff_initial",
    "backoff_max",
    "max_restarts",
    "restart_window",
    "min_uptime",
    "stop_signal",
    "stop_timeout",
    "max_memory",
    "cpu_warn",
    "memory_warn",
    "warn_after",
];

/// Keys allowed in `[defaults]`: the settings that make sense for many services at once.
pub(crate) const DEFAULTS_KEYS: &[&str] = &[
    "cwd",
    "env",
    "env_file",
    "restart",
    "backoff_initial",
    "backoff_max",
    "max_restarts",
    "restart_window",
    "min_uptime",
    "stop_signal",
    "stop_timeout",
    "shell",
    "max_memory",
    "cpu_warn",
    "memory_warn",
    "warn_after",
];

const READY_KINDS: &[&str] = &["http", "tcp", "exec", "log", "notify"];
const READY_KEYS: &[&str] = &[
    "http", "tcp", "exec", "log", "notify", "interval", "timeout", "recheck",
];
const RESTART_POLICIES: &[&str] = &["never", "on-failure", "always"];
const CONDITIONS: &[&str] = &["started", "ready", "completed"];

/// Built-in probe timings, used when `ready` does not set them.
pub(crate) const DEFAULT_READY_INTERVAL: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

const DURATION_HELP: &str =
    "write a duration such as \"500ms\", \"10s\" or \"1m 30s\"; a bare integer means seconds";

/// The whole file, shape-checked.
#[derive(Debug, Default)]
pub(crate) struct RawProject {
    pub(crate) defaults: RawSettings,
    pub(crate) services: Vec<RawService>,
    pub(crate) logs: crate::spec::LogSpec,
    pub(crate) notify: Vec<RawNotify>,
    pub(crate) monitor: crate::spec::MonitorSpec,
    pub(crate) metrics: Option<crate::spec::MetricsSpec>,
}

/// Settings that `[defaults]` and a service share. A service's own value wins.
#[derive(Debug, Default)]
pub(crate) struct RawSettings {
    pub(crate) cwd: Option<Spanned<String>>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) env_file: Vec<Spanned<String>>,
    pub(crate) restart: Option<RestartPolicy>,
    pub(crate) backoff_initial: Option<Spanned<Duration>>,
    pub(crate) backoff_max: Option<Spanned<Duration>>,
    pub(crate) max_restarts: Option<u32>,
    pub(crate) restart_window: Option<Duration>,
    pub(crate) min_uptime: Option<Duration>,
    pub(crate) stop_signal: Option<Signal>,
    pub(crate) stop_timeout: Option<Duration>,
    pub(crate) shell: Option<Spanned<bool>>,
    pub(crate) max_memory: Option<u64>,
    /// Percent of one core.
    pub(crate) cpu_warn: Option<u32>,
    pub(crate) memory_warn: Option<u64>,
    pub(crate) warn_after: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct RawService {
    pub(crate) name: Spanned<String>,
    /// `None` when missing or malformed; the problem has been reported already.
    pub(crate) command: Option<Spanned<RawCommand>>,
    pub(crate) settings: RawSettings,
    pub(crate) ports: Vec<Spanned<u16>>,
    pub(crate) depends_on: Vec<RawDependency>,
    pub(crate) ready: Option<ReadyProbe>,
}

#[derive(Debug)]
pub(crate) enum RawCommand {
    /// `command = ["prog", "arg"]`: used as is.
    Argv(Vec<String>),
    /// `command = "prog arg"`: split into words, or handed to `sh -c` with `shell = true`.
    Line(String),
}

#[derive(Debug)]
pub(crate) struct RawDependency {
    pub(crate) name: Spanned<String>,
    pub(crate) condition: DependencyCondition,
    pub(crate) restart: bool,
}

/// Splits a command line into argv words the way a POSIX shell splits words, without any of
/// the shell's other powers: `;`, `|`, `&&`, `$(...)`, backticks, globs and `#` stay literal
/// words. Quoting works as in `sh`: `'...'` is literal, `"..."` keeps spaces and honours `\"`,
/// `\\`, `\$` and `` \` ``, and a backslash outside quotes escapes the next character.
///
/// Written here rather than taken from `shlex::split`, which treats a word starting with `#` as
/// the start of a comment and would silently drop the rest of the command.
///
/// Returns a message when the line cannot be split or yields no word.
pub(crate) fn split_command_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(quoted) => word.push(quoted),
                        None => return Err("unbalanced quotes or trailing backslash in command"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => word.push(escaped),
                            Some('\n') => {}
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => {
                                return Err("unbalanced quotes or trailing backslash in command");
                            }
                        },
                        Some(quoted) => word.push(quoted),
                        None => return Err("unbalanced quotes or trailing backslash in command"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(escaped) => {
                    in_word = true;
                    word.push(escaped);
                }
                None => return Err("unbalanced quotes or trailing backslash in command"),
            },
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("command is empty");
    }
    Ok(words)
}

/// Parses "10MiB", "500 KB", "1gib", "4096": a number and an optional unit (B, KB, MB, GB:
/// powers of 1000; KiB, MiB, GiB: powers of 1024).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * multiplier;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Checks the service name rule: `[A-Za-z0-9][A-Za-z0-9_.-]*`.
pub(crate) fn is_valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub(crate) const SERVICE_NAME_RULE: &str = "a service name starts with a letter or digit and \
     contains only letters, digits, '_', '.' and '-'";

/// Parses and shape-checks `file`. A TOML syntax error is returned alone: the parser cannot
/// recover reliably, so anything reported after it would be noise.
pub(crate) fn read(file: &Arc<SourceFile>) -> (RawProject, Vec<Diagnostic>) {
    let mut reader = Reader {
        file,
        diagnostics: Vec::new(),
    };
    let document = match DeTable::parse(file.text()) {
        Ok(document) => document,
        Err(error) => {
            let message = error.message().trim().to_string();
            let diagnostic = match error.span() {
                Some(span) => Diagnostic::at(
                    file,
                    span,
                    format!("invalid TOML: {message}"),
                    message.clone(),
                ),
                None => Diagnostic::in_file(file, format!("invalid TOML: {message}")),
            };
            return (RawProject::default(), vec![diagnostic]);
        }
    };
    let project = reader.project(document.get_ref());
    (project, reader.diagnostics)
}

struct Reader<'f> {
    file: &'f Arc<SourceFile>,
    diagnostics: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn project(&mut self, document: &DeTable<'_>) -> RawProject {
        let mut project = RawProject::default();
        let mut services_seen = false;
        for (key, value) in document.iter() {
            match key.get_ref().as_ref() {
                "services" => {
                    services_seen = true;
                    let Some(services) = self.table(value, "services", "a table of services")
                    else {
                        continue;
                    };
                    if services.is_empty() {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                key.span(),
                                "no service is defined",
                                "`services` is empty",
                            )
                            .with_help("add a service: [services.web] with command = \"...\""),
                        );
                    }
                    for (name, service) in services.iter() {
                        project.services.push(self.service(name, service));
                    }
                }
                "defaults" => {
                    if let Some(defaults) = self.table(value, "defaults", "a table") {
                        project.defaults = self.defaults(defaults);
                    }
                }
                "logs" => {
                    if let Some(logs) = self.table(value, "logs", "a table") {
                        project.logs = self.logs(logs);
                    }
                }
                "notify" => project.notify = self.notify_entries(value),
                "monitor" => {
                    if let Some(monitor) = self.table(value, "monitor", "a table") {
                        project.monitor = self.monitor(monitor);
                    }
                }
                "metrics" => {
                    if let Some(metrics) = self.table(value, "metrics", "a table") {
                        project.metrics = self.metrics(metrics);
                    }
                }
                other => self.unknown_key(key, other, "the top level", TOP_LEVEL_KEYS),
            }
        }
        if !services_seen {
            self.push(
                Diagnostic::in_file(self.file, "no service is defined: `[services]` is missing")
                    .with_help(
                        "add a service, for example:\n[services.web]\ncommand = \"python -m http.server 8000\"",
                    ),
            );
        }
        project
    }

    /// `[logs]`: the daemon's log file limits.
    fn logs(&mut self, table: &DeTable<'_>) -> crate::spec::LogSpec {
        let mut logs = crate::spec::LogSpec::default();
        let mut max_file_span = None;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "max_file_size" => {
                    if let Some(size) = self.size(value, "logs.max_file_size") {
                        logs.max_file_bytes = size;
                        max_file_span = Some(value.span());
                    }
                }
                "budget" => {
                    if let Some(size) = self.size(value, "logs.budget") {
                        logs.budget_bytes = size;
                    }
                }
                "keep_files" => {
                    if let Some(count) = self.integer(value, "logs.keep_files", "a number of files")
                    {
                        match u32::try_from(count) {
                            Ok(count) if count <= 1000 => logs.keep_files = count,
                            _ => self.push(Diagnostic::at(
                                self.file,
                                value.span(),
                                "`logs.keep_files` must be between 0 and 1000",
                                "out of range",
                            )),
                        }
                    }
                }
                other => self.unknown_key(key, other, "[logs]", LOGS_KEYS),
            }
        }
        if logs.budget_bytes < logs.max_file_bytes {
            let span = max_file_span.unwrap_or_else(|| {
                table
                    .iter()
                    .next()
                    .map(|(key, _)| key.span())
                    .unwrap_or(0..0)
            });
            self.push(
                Diagnostic::at(
                    self.file,
                    span,
                    "`logs.budget` is smaller than `logs.max_file_size`",
                    "one file would not fit in the budget",
                )
                .with_help("raise `budget` or lower `max_file_size`"),
            );
        }
        logs
    }

    /// `[monitor]`: how often resources are sampled and how long samples are kept.
    fn monitor(&mut self, table: &DeTable<'_>) -> crate::spec::MonitorSpec {
        let mut monitor = crate::spec::MonitorSpec::default();
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "interval" => {
                    let Some(interval) = self.duration(value, "monitor.interval", true) else {
                        continue;
                    };
                    if *interval.get_ref() < MIN_MONITOR_INTERVAL {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                value.span(),
                                "`monitor.interval` must be at least 100ms",
                                "too short",
                            )
                            .with_help("sampling costs CPU at every tick; 1s to 10s is usual"),
                        );
                        continue;
                    }
                    monitor.interval = interval.into_inner();
                }
                "history" => {
                    if let Some(history) = self.duration(value, "monitor.history", false) {
                        monitor.history = history.into_inner();
                    }
                }
                other => self.unknown_key(key, other, "[monitor]", MONITOR_KEYS),
            }
        }
        if monitor.history.as_millis() / monitor.interval.as_millis().max(1) > MAX_HISTORY_SAMPLES {
            self.push(
                Diagnostic::in_file(
                    self.file,
                    format!(
                        "`monitor.history` keeps more than {MAX_HISTORY_SAMPLES} samples per service"
                    ),
                )
                .with_help("shorten `history` or lengthen `interval`"),
            );
        }
        monitor
    }

    /// `[metrics]`: where the Prometheus endpoint listens.
    fn metrics(&mut self, table: &DeTable<'_>) -> Option<crate::spec::MetricsSpec> {
        const EXPECTED: &str = "an address such as \"127.0.0.1:9464\" or a port number";
        let mut metrics = None;
        let mut listen_seen = false;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "listen" => {
                    listen_seen = true;
                    let address = match value.get_ref() {
                        DeValue::Integer(_) => self
                            .integer(value, "metrics.listen", EXPECTED)
                            .and_then(|port| self.in_range(port, value, "metrics.listen", 1, 65535))
                            .map(|port| std::net::SocketAddr::from(([127, 0, 0, 1], port as u16))),
                        DeValue::String(text) => match text.parse::<std::net::SocketAddr>() {
                            Ok(address) => Some(address),
                            Err(_) => {
                                self.push(
                                    Diagnostic::at(
                                        self.file,
                                        value.span(),
                                        format!("invalid address \"{text}\" for `metrics.listen`"),
                                        "not an IP address with a port",
                                    )
                                    .with_help(
                                        "write \"127.0.0.1:9464\" (or \"[::1]:9464\"); host names are not resolved",
                                    ),
                                );
                                None
                            }
                        },
                        _ => {
                            self.wrong_type(value, "metrics.listen", EXPECTED);
                            None
                        }
                    };
                    metrics = address.map(|listen| crate::spec::MetricsSpec { listen });
                }
                other => self.unknown_key(key, other, "[metrics]", METRICS_KEYS),
            }
        }
        if !listen_seen {
            self.push(
                Diagnostic::in_file(self.file, "`[metrics]` has no `listen` address").with_help(
                    "add listen = \"127.0.0.1:9464\", or remove [metrics] to serve none",
                ),
            );
        }
        metrics
    }

    /// A CPU threshold in percent of one core: `80`, `150.5` or `"80%"`.
    fn cpu_percent(&mut self, value: &Value<'_>, path: &str) -> Option<u32> {
        const EXPECTED: &str = "a percentage of one core such as 80 or \"150%\"";
        let percent = match value.get_ref() {
            DeValue::Integer(_) => self
                .integer(value, path, EXPECTED)
                .map(|number| number as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            DeValue::String(text) => text.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return None;
            }
        };
        match percent {
            Some(percent) if (1.0..=100_000.0).contains(&percent) => Some(percent.round() as u32),
            _ => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid CPU percentage for `{path}`"),
                        "expected 1 to 100000 (percent of one core)",
                    )
                    .with_help("100 means one full core; 250 means two and a half"),
                );
                None
            }
        }
    }

    /// A size: "10MiB", "500KB", "1 GiB" (binary and decimal units), or an integer of bytes.
    /// At least 4 KiB: anything smaller is a typo, not a log file.
    fn size(&mut self, value: &Value<'_>, path: &str) -> Option<u64> {
        let bytes = match value.get_ref() {
            DeValue::Integer(_) => u64::try_from(self.integer(value, path, "a size")?).ok(),
            DeValue::String(text) => parse_size(text),
            _ => {
                self.wrong_type(
                    value,
                    path,
                    "a size such as \"10MiB\" or an integer of bytes",
                );
                return None;
            }
        };
        match bytes {
            Some(bytes) if bytes >= 4096 => Some(bytes),
            Some(_) => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("`{path}` must be at least 4KiB"),
                        "too small",
                    )
                    .with_help(SIZE_HELP),
                );
                None
            }
            None => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid size for `{path}`"),
                        "not a size",
                    )
                    .with_help(SIZE_HELP),
                );
                None
            }
        }
    }

    fn defaults(&mut self, table: &DeTable<'_>) -> RawSettings {
        let mut settings = RawSettings::default();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            if self.setting(name, value, "defaults", &mut settings) {
                continue;
            }
            if SERVICE_KEYS.contains(&name) {
                self.push(
                    Diagnostic::at(
                        self.file,
                        key.span(),
                        format!("`{name}` cannot be set in [defaults]"),
                        "only allowed in a service",
                    )
                    .with_help(format!("set `{name}` in each [services.NAME] table"))
                    .with_note(format!("[defaults] accepts: {}", DEFAULTS_KEYS.join(", "))),
                );
                continue;
            }
            self.unknown_key(key, name, "[defaults]", DEFAULTS_KEYS);
        }
        settings
    }

    fn service(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Value<'_>,
    ) -> RawService {
        let name_text = name.get_ref().to_string();
        if !is_valid_service_name(&name_text) {
            self.push(Diagnostic::at(
                self.file,
                name.span(),
                format!("invalid service name \"{name_text}\""),
                SERVICE_NAME_RULE,
            ));
        }
        let mut service = RawService {
            name: Spanned::new(name.span(), name_text.clone()),
            command: None,
            settings: RawSettings::default(),
            ports: Vec::new(),
            depends_on: Vec::new(),
            ready: None,
        };
        let path = format!("services.{name_text}");
        let Some(table) = self.table(value, &path, "a table") else {
            return service;
        };
        let mut command_seen = false;
        for (key, value) in table.iter() {
            let key_name = key.get_ref().as_ref();
            let key_path = format!("{path}.{key_name}");
            if self.setting(key_name, value, &path, &mut service.settings) {
                continue;
            }
            match key_name {
                "command" => {
                    command_seen = true;
                    service.command = self.command(value, &key_path);
                }
                "port" => service.ports = self.ports(value, &key_path),
                "depends_on" => service.depends_on = self.depends_on(value, &key_path),
                "ready" => service.ready = self.ready(value, &key_path),
                _ => self.unknown_key(key, key_name, &format!("[{path}]"), SERVICE_KEYS),
            }
        }
        if !command_seen {
            self.push(
                Diagnostic::at(
                    self.file,
                    name.span(),
                    format!("service \"{name_text}\" has no `command`"),
                    "`command` is required",
                )
                .with_help(
                    "add command = \"program --flag\" or command = [\"program\", \"--flag\"]",
                ),
            );
        }
        service
    }

    /// Handles a key shared by `[defaults]` and services. Returns false for any other key.
    fn setting(
        &mut self,
        key: &str,
        value: &Value<'_>,
        table_path: &str,
        settings: &mut RawSettings,
    ) -> bool {
        let path = format!("{table_path}.{key}");
        match key {
            "cwd" => settings.cwd = self.string(value, &path),
            "env" => settings.env = self.env(value, &path),
            "env_file" => settings.env_file = self.strings(value, &path).unwrap_or_default(),
            "restart" => settings.restart = self.restart_policy(value, &path),
            "backoff_initial" => settings.backoff_initial = self.duration(value, &path, false),
            "backoff_max" => settings.backoff_max = self.duration(value, &path, true),
            "max_restarts" => {
                settings.max_restarts = self
                    .integer(value, &path, "a non-negative integer")
                    .and_then(|number| self.in_range(number, value, &path, 0, u32::MAX.into()))
                    .and_then(|number| u32::try_from(number).ok());
            }
            "restart_window" => {
                settings.restart_window = self.duration(value, &path, true).map(Spanned::into_inner)
            }
            "min_uptime" => {
                settings.min_uptime = self.duration(value, &path, false).map(Spanned::into_inner)
            }
            "stop_signal" => settings.stop_signal = self.signal(value, &path),
            "stop_timeout" => {
                settings.stop_timeout = self.duration(value, &path, true).map(Spanned::into_inner)
            }
            "shell" => {
                settings.shell = self
                    .boolean(value, &path)
                    .map(|shell| Spanned::new(value.span(), shell))
            }
            "max_memory" => settings.max_memory = self.size(value, &path),
            "memory_warn" => settings.memory_warn = self.size(value, &path),
            "cpu_warn" => settings.cpu_warn = self.cpu_percent(value, &path),
            "warn_after" => {
                settings.warn_after = self.duration(value, &path, false).map(Spanned::into_inner)
            }
            _ => return false,
        }
        true
    }

    fn command(&mut self, value: &Value<'_>, path: &str) -> Option<Spanned<RawCommand>> {
        const EXPECTED: &str = "a string or an array of strings";
        let command = match value.get_ref() {
            DeValue::String(line) => {
                if line.contains('\0') {
                    self.push(Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("`{path}` contains a NUL character"),
                        "a program argument cannot contain NUL",
                    ));
                    return None;
                }
                RawCommand::Line(line.to_string())
            }
            DeValue::Array(_) => {
                let argv = self.argv(value, path)?;
                RawCommand::Argv(argv)
            }
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return None;
            }
        };
        Some(Spanned::new(value.span(), command))
    }

    /// A non-empty array of NUL-free strings.
    fn argv(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<String>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(value, path, "an array of strings");
            return None;
        };
        if items.is_empty() {
            self.push(Diagnostic::at(
                self.file,
                value.span(),
                format!("`{path}` is empty"),
                "expected at least the program to run",
            ));
            return None;
        }
        let mut argv = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(word) if word.contains('\0') => {
                    ok = false;
                    self.push(Diagnostic::at(
                        self.file,
                        item.span(),
                        format!("`{path}` contains a NUL character"),
                        "a program argument cannot contain NUL",
                    ));
                }
                DeValue::String(word) => argv.push(word.to_string()),
                _ => {
                    ok = false;
                    self.wrong_type(item, path, "a string (every argv element is a string)");
                }
            }
        }
        ok.then_some(argv)
    }

    fn env(&mut self, value: &Value<'_>, path: &str) -> Vec<(String, String)> {
        let Some(table) = self.table(value, path, "a table of NAME = \"value\"") else {
            return Vec::new();
        };
        let mut env = Vec::new();
        for (key, item) in table.iter() {
            let name = key.get_ref().as_ref();
            if name.is_empty() || name.contains(['=', '\0']) {
                self.push(Diagnostic::at(
                    self.file,
                    key.span(),
                    format!("invalid environment variable name \"{name}\" in `{path}`"),
                    "a name cannot be empty or contain '=' or NUL",
                ));
                continue;
            }
            let text = match item.get_ref() {
                DeValue::String(text) => text.to_string(),
                DeValue::Integer(_) => match self.integer(item, path, "an integer") {
                    Some(number) => number.to_string(),
                    None => continue,
                },
                DeValue::Float(float) => float.as_str().to_string(),
                DeValue::Boolean(flag) => flag.to_string(),
                _ => {
                    self.wrong_type(
                        item,
                        &format!("{path}.{name}"),
                        "a string, number or boolean",
                    );
                    continue;
                }
            };
            if text.contains('\0') {
                self.push(Diagnostic::at(
                    self.file,
                    item.span(),
                    format!("`{path}.{name}` contains a NUL character"),
                    "an environment value cannot contain NUL",
                ));
                continue;
            }
            env.push((name.to_string(), text));
        }
        env
    }

    fn ports(&mut self, value: &Value<'_>, path: &str) -> Vec<Spanned<u16>> {
        const EXPECTED: &str = "a port number (1-65535) or an array of them";
        let items: Vec<&Value<'_>> = match value.get_ref() {
            DeValue::Integer(_) => vec![value],
            DeValue::Array(items) => items.iter().collect(),
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return Vec::new();
            }
        };
        let mut ports = Vec::new();
        for item in items {
            if let Some(port) = self.port(item, path) {
                ports.push(Spanned::new(item.span(), port));
            }
        }
        ports
    }

    fn port(&mut self, value: &Value<'_>, path: &str) -> Option<u16> {
        let number = self.integer(value, path, "a port number (1-65535)")?;
        let number = self.in_range(number, value, path, 1, 65535)?;
        u16::try_from(number).ok()
    }

    fn depends_on(&mut self, value: &Value<'_>, path: &str) -> Vec<RawDependency> {
        let mut dependencies: Vec<RawDependency> = Vec::new();
        match value.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    let Some(name) = self.string(item, path) else {
                        continue;
                    };
                    if let Some(first) = dependencies
                        .iter()
                        .find(|dependency| dependency.name.get_ref() == name.get_ref())
                    {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                item.span(),
                                format!("`{path}` lists \"{}\" twice", name.get_ref()),
                                "listed again here",
                            )
                            .with_context(first.name.span(), "first listed here"),
                        );
                        continue;
                    }
                    dependencies.push(RawDependency {
                        name,
                        condition: DependencyCondition::Ready,
                        restart: false,
                    });
                }
            }
            DeValue::Table(table) => {
                for (key, item) in table.iter() {
                    let name = key.get_ref().to_string();
                    let condition_path = format!("{path}.{name}");
                    // `db = "ready"`, or `db = { condition = "ready", restart = true }`.
                    let (text, restart) = match item.get_ref() {
                        DeValue::Table(options) => {
                            let mut condition = None;
                            let mut restart = false;
                            for (option, option_value) in options.iter() {
                                let option_path = format!("{condition_path}.{}", option.get_ref());
                                match option.get_ref().as_ref() {
                                    "condition" => condition = self.string(option_value, &option_path),
                                    "restart" => restart = self.boolean(option_value, &option_path).unwrap_or(false),
                                    other => self.unknown_key(option, other, &condition_path, &["condition", "restart"]),
                                }
                            }
                            let text = condition.unwrap_or_else(|| Spanned::new(item.span(), "ready".to_string()));
                            (text, restart)
                        }
                        _ => match self.string(item, &condition_path) {
                            Some(text) => (text, false),
                            None => continue,
                        },
                    };
                    let condition = match text.get_ref().as_str() {
                        "started" => DependencyCondition::Started,
                        "ready" => DependencyCondition::Ready,
                        "completed" => DependencyCondition::Completed,
                        other => {
                            self.push(
                                Diagnostic::at(
                                    self.file,
                                    item.span(),
                                    format!(
                                        "invalid dependency condition \"{other}\" for `{condition_path}`"
                                    ),
                                    "expected \"started\", \"ready\" or \"completed\"",
                                )
                                .with_suggestion(other, CONDITIONS.iter().copied()),
                            );
                            continue;
                        }
                    };
                    dependencies.push(RawDependency {
                        name: Spanned::new(key.span(), name),
                        condition,
                        restart,
                    });
                }
            }
            _ => self.wrong_type(
                value,
                path,
                "an array of service names or a table of name = \"started\" | \"ready\" | \"completed\" (or { condition = ..., restart = true })",
            ),
        }
        dependencies
    }

    fn ready(&mut self, value: &Value<'_>, path: &str) -> Option<ReadyProbe> {
        let table = self.table(
            value,
            path,
            "a table with one of http, tcp, exec, log or notify",
        )?;
        let mut check: Option<(Range<usize>, Option<ReadyCheck>)> = None;
        let mut interval = DEFAULT_READY_INTERVAL;
        let mut timeout = DEFAULT_READY_TIMEOUT;
        let mut recheck: Option<Spanned<Duration>> = None;
        let mut ok = true;
        for (key, item) in table.iter() {
            let kind = key.get_ref().as_ref();
            let key_path = format!("{path}.{kind}");
            match kind {
                "interval" => match self.duration(item, &key_path, true) {
                    Some(duration) => interval = duration.into_inner(),
                    None => ok = false,
                },
                "timeout" => match self.duration(item, &key_path, true) {
                    Some(duration) => timeout = duration.into_inner(),
                    None => ok = false,
                },
                "recheck" => match self.duration(item, &key_path, true) {
                    Some(duration) => recheck = Some(duration),
                    None => ok = false,
                },
                kind if READY_KINDS.contains(&kind) => {
                    if let Some((first_span, _)) = &check {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                key.span(),
                                format!("`{path}` sets more than one probe kind"),
                                "second probe kind",
                            )
                            .with_context(first_span.clone(), "first probe kind")
                            .with_help("keep exactly one of http, tcp, exec, log or notify"),
                        );
                        ok = false;
                        continue;
                    }
                    let parsed = self.ready_check(kind, item, &key_path);
                    check = Some((key.span(), parsed));
                }
                other => self.unknown_key(key, other, &format!("`{path}`"), READY_KEYS),
            }
        }
        let Some((_, parsed)) = check else {
            self.push(
                Diagnostic::at(
                    self.file,
                    value.span(),
                    format!("`{path}` sets no probe kind"),
                    "expected exactly one of http, tcp, exec, log or notify",
                )
                .with_help("for example: ready = { tcp = 5432 }"),
            );
            return None;
        };
        let check = parsed?;
        if let Some(recheck) = &recheck
            && matches!(check, ReadyCheck::Log { .. } | ReadyCheck::Notify)
        {
            self.push(
                Diagnostic::at(
                    self.file,
                    recheck.span(),
                    format!("`{path}.recheck` needs an http, tcp or exec probe"),
                    "this probe cannot be repeated",
                )
                .with_help("a log line or READY=1 happens once; remove `recheck`"),
            );
            ok = false;
        }
        ok.then_some(ReadyProbe {
            check,
            interval,
            timeout,
            recheck: recheck.map(Spanned::into_inner),
        })
    }

    fn ready_check(&mut self, kind: &str, value: &Value<'_>, path: &str) -> Option<ReadyCheck> {
        match kind {
            "http" => {
                let url = self.string(value, path)?;
                match check_http_url(url.get_ref()) {
                    Ok(()) => Some(ReadyCheck::Http {
                        url: url.into_inner(),
                    }),
                    Err((message, label)) => {
                        self.push(
                            Diagnostic::at(self.file, value.span(), message, label)
                                .with_help("for example: http = \"http://127.0.0.1:8080/health\""),
                        );
                        None
                    }
                }
            }
            "tcp" => self.tcp(value, path),
            "exec" => {
                let argv = match value.get_ref() {
                    DeValue::String(line) => match split_command_line(line) {
                        Ok(argv) => argv,
                        Err(problem) => {
                            self.push(Diagnostic::at(
                                self.file,
                                value.span(),
                                format!("invalid `{path}`: {problem}"),
                                problem,
                            ));
                            return None;
                        }
                    },
                    DeValue::Array(_) => self.argv(value, path)?,
                    _ => {
                        self.wrong_type(value, path, "a string or an array of strings");
                        return None;
                    }
                };
                if argv.iter().any(|word| word.contains('\0')) {
                    self.push(Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("`{path}` contains a NUL character"),
                        "a program argument cannot contain NUL",
                    ));
                    return None;
                }
                Some(ReadyCheck::Exec {
                    command: CommandSpec { argv, shell: false },
                })
            }
            "log" => {
                let pattern = self.string(value, path)?;
                match regex::Regex::new(pattern.get_ref()) {
                    Ok(regex) => Some(ReadyCheck::Log { pattern: regex }),
                    Err(error) => {
                        let detail = error.to_string();
                        self.push(
                            Diagnostic::at(
                                self.file,
                                value.span(),
                                format!("invalid regex in `{path}`"),
                                "this regex does not compile",
                            )
                            .with_note(detail),
                        );
                        None
                    }
                }
            }
            _ => {
                // notify: the only meaningful value is `true`; `false` would leave no probe
                // kind, which is better said outright than silently ignored.
                match self.boolean(value, path)? {
                    true => Some(ReadyCheck::Notify),
                    false => {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                value.span(),
                                format!("`{path}` must be true"),
                                "notify = false is not a probe",
                            )
                            .with_help("remove `ready` to start dependents without waiting"),
                        );
                        None
                    }
                }
            }
        }
    }

    fn tcp(&mut self, value: &Value<'_>, path: &str) -> Option<ReadyCheck> {
        if let DeValue::Integer(_) = value.get_ref() {
            let port = self.port(value, path)?;
            return Some(ReadyCheck::Tcp {
                host: "127.0.0.1".to_string(),
                port,
            });
        }
        let DeValue::String(text) = value.get_ref() else {
            self.wrong_type(value, path, "a port number or a \"host:port\" string");
            return None;
        };
        let parsed = text.rsplit_once(':').and_then(|(host, port)| {
            let host = host
                .strip_prefix('[')
                .and_then(|inner| inner.strip_suffix(']'))
                .unwrap_or(host);
            let port = port.parse::<u16>().ok().filter(|port| *port != 0)?;
            let host_ok =
                !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c == '/');
            host_ok.then(|| (host.to_string(), port))
        });
        match parsed {
            Some((host, port)) => Some(ReadyCheck::Tcp { host, port }),
            None => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid TCP address \"{text}\" for `{path}`"),
                        "expected \"host:port\" with a port from 1 to 65535",
                    )
                    .with_help("for example: tcp = \"127.0.0.1:5432\" or tcp = 5432"),
                );
                None
            }
        }
    }

    fn restart_policy(&mut self, value: &Value<'_>, path: &str) -> Option<RestartPolicy> {
        let text = self.string(value, path)?;
        match text.get_ref().as_str() {
            "never" => Some(RestartPolicy::Never),
            "on-failure" => Some(RestartPolicy::OnFailure),
            "always" => Some(RestartPolicy::Always),
            other => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid restart policy \"{other}\" for `{path}`"),
                        "expected \"never\", \"on-failure\" or \"always\"",
                    )
                    .with_suggestion(other, RESTART_POLICIES.iter().copied()),
                );
                None
            }
        }
    }

    fn signal(&mut self, value: &Value<'_>, path: &str) -> Option<Signal> {
        let text = match value.get_ref() {
            DeValue::String(text) => text.to_string(),
            DeValue::Integer(_) => self.integer(value, path, "a signal")?.to_string(),
            _ => {
                self.wrong_type(value, path, "a signal name such as \"SIGTERM\" or a number");
                return None;
            }
        };
        if let Some(signal) = Signal::parse(&text) {
            return Some(signal);
        }
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        let names: Vec<String> = Signal::NAMED
            .iter()
            .map(|(name, _)| format!("SIG{name}"))
            .collect();
        let typed = format!("SIG{bare}");
        let mut diagnostic = Diagnostic::at(
            self.file,
            value.span(),
            format!("unknown signal \"{text}\" for `{path}`"),
            "expected a signal name or a number from 1 to 64",
        )
        .with_suggestion(&typed, names.iter().map(String::as_str));
        diagnostic = diagnostic.with_note(format!("known names: {}", names.join(", ")));
        self.push(diagnostic);
        None
    }

    /// A duration: a humantime string or an integer number of seconds.
    fn duration(
        &mut self,
        value: &Value<'_>,
        path: &str,
        must_be_positive: bool,
    ) -> Option<Spanned<Duration>> {
        let duration = match value.get_ref() {
            DeValue::Integer(_) => {
                let seconds = self.integer(value, path, "a duration")?;
                let Ok(seconds) = u64::try_from(seconds) else {
                    self.push(
                        Diagnostic::at(
                            self.file,
                            value.span(),
                            format!("`{path}` must not be negative"),
                            "negative duration",
                        )
                        .with_help(DURATION_HELP),
                    );
                    return None;
                };
                Duration::from_secs(seconds)
            }
            DeValue::String(text) => match humantime::parse_duration(text) {
                Ok(duration) => duration,
                Err(error) => {
                    self.push(
                        Diagnostic::at(
                            self.file,
                            value.span(),
                            format!("invalid duration \"{text}\" for `{path}`"),
                            error.to_string(),
                        )
                        .with_help(DURATION_HELP),
                    );
                    return None;
                }
            },
            _ => {
                self.wrong_type(
                    value,
                    path,
                    "a duration such as \"10s\" or an integer of seconds",
                );
                return None;
            }
        };
        if must_be_positive && duration.is_zero() {
            self.push(Diagnostic::at(
                self.file,
                value.span(),
                format!("`{path}` must be greater than zero"),
                "zero is not allowed here",
            ));
            return None;
        }
        Some(Spanned::new(value.span(), duration))
    }

    fn table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: &str,
        expected: &str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, path, expected);
                None
            }
        }
    }

    fn string(&mut self, value: &Value<'_>, path: &str) -> Option<Spanned<String>> {
        match value.get_ref() {
            DeValue::String(text) => Some(Spanned::new(value.span(), text.to_string())),
            _ => {
                self.wrong_type(value, path, "a string");
                None
            }
        }
    }

    /// A string or an array of strings, each kept with its span.
    fn strings(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<Spanned<String>>> {
        const EXPECTED: &str = "a string or an array of strings";
        match value.get_ref() {
            DeValue::String(text) => Some(vec![Spanned::new(value.span(), text.to_string())]),
            DeValue::Array(items) => {
                let mut strings = Vec::with_capacity(items.len());
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(text) => {
                            strings.push(Spanned::new(item.span(), text.to_string()))
                        }
                        _ => self.wrong_type(item, path, EXPECTED),
                    }
                }
                Some(strings)
            }
            _ => {
                self.wrong_type(value, path, EXPECTED);
                None
            }
        }
    }

    fn boolean(&mut self, value: &Value<'_>, path: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.wrong_type(value, path, "a boolean (true or false)");
                None
            }
        }
    }

    fn integer(&mut self, value: &Value<'_>, path: &str, expected: &str) -> Option<i64> {
        let DeValue::Integer(integer) = value.get_ref() else {
            self.wrong_type(value, path, expected);
            return None;
        };
        match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(number) => Some(number),
            Err(_) => {
                self.push(Diagnostic::at(
                    self.file,
                    value.span(),
                    format!("integer out of range for `{path}`"),
                    format!("expected {expected}"),
                ));
                None
            }
        }
    }

    fn in_range(
        &mut self,
        number: i64,
        value: &Value<'_>,
        path: &str,
        low: i64,
        high: i64,
    ) -> Option<i64> {
        if (low..=high).contains(&number) {
            return Some(number);
        }
        self.push(Diagnostic::at(
            self.file,
            value.span(),
            format!("{number} is out of range for `{path}`"),
            format!("expected an integer from {low} to {high}"),
        ));
        None
    }

    fn wrong_type(&mut self, value: &Value<'_>, path: &str, expected: &str) {
        let found = describe(value.get_ref());
        self.push(Diagnostic::at(
            self.file,
            value.span(),
            format!("expected {expected} for `{path}`, found {found}"),
            format!("expected {expected}"),
        ));
    }

    fn unknown_key(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        name: &str,
        place: &str,
        expected: &[&str],
    ) {
        self.push(
            Diagnostic::at(
                self.file,
                key.span(),
                format!("unknown key `{name}` in {place}"),
                "unknown key",
            )
            .with_suggestion(name, expected.iter().copied())
            .with_note(format!("expected one of: {}", expected.join(", "))),
        );
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}

/// Checks a probe URL: `http://` followed by a host, an optional port and an optional path.
fn check_http_url(url: &str) -> Result<(), (String, &'static str)> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err((
            format!("https probes are not supported: \"{url}\""),
            "https probes are not supported",
        ));
    }
    let malformed = || {
        (
            format!("expected an http:// URL, found \"{url}\""),
            "expected an http:// URL",
        )
    };
    if !lower.starts_with("http://") {
        return Err(malformed());
    }
    let rest = &url["http://".len()..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || url.contains(char::is_whitespace) || authority.contains('@') {
        return Err(malformed());
    }
    // A port, when present, must be a valid TCP port. `[::1]:80` keeps its colons in brackets.
    let port = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            if host.is_empty() {
                return Err(malformed());
            }
            Some(port)
        }
        _ => None,
    };
    if let Some(port) = port
        && port.parse::<u16>().ok().filter(|port| *port != 0).is_none()
    {
        return Err(malformed());
    }
    Ok(())
}

/// "an integer", "a table": what a value is, for "found ..." messages.
fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_are_checked() {
        assert!(check_http_url("http://127.0.0.1:8080/health").is_ok());
        assert!(check_http_url("http://localhost/").is_ok());
        assert!(check_http_url("http://[::1]:80/x").is_ok());
        assert!(check_http_url("https://x/").is_err());
        assert!(check_http_url("ftp://x/").is_err());
        assert!(check_http_url("http://").is_err());
        assert!(check_http_url("http://x:99999/").is_err());
        assert!(check_http_url("http://x:/").is_err());
        assert!(check_http_url("http://a b/").is_err());
    }

    #[test]
    fn service_names_follow_the_rule() {
        for good in ["web", "a", "0", "api-v2", "db.primary", "x_y"] {
            assert!(is_valid_service_name(good), "{good}");
        }
        for bad in ["", "-web", ".x", "a b", "a/b", "é"] {
            assert!(!is_valid_service_name(bad), "{bad}");
        }
    }

    #[test]
    fn command_lines_split_like_shell_words_without_a_shell() {
        assert_eq!(
            split_command_line("echo a; rm -rf / $(whoami) `x` *"),
            Ok(vec![
                "echo".to_string(),
                "a;".to_string(),
                "rm".to_string(),
                "-rf".to_string(),
                "/".to_string(),
                "$(whoami)".to_string(),
                "`x`".to_string(),
                "*".to_string(),
            ])
        );
        assert!(split_command_line("echo 'open").is_err());
        assert!(split_command_line("   ").is_err());
    }

    #[test]
    fn split_keeps_hash_and_shell_operators_literal_and_honours_quotes() {
        let words = |line: &str| split_command_line(line).expect("splits");
        assert_eq!(
            words("prog before #hash after"),
            ["prog", "before", "#hash", "after"]
        );
        assert_eq!(
            words("a;b | c && $(d) `e` *"),
            ["a;b", "|", "c", "&&", "$(d)", "`e`", "*"]
        );
        assert_eq!(
            words(r#"say "two words" 'it''s' x\ y"#),
            ["say", "two words", "its", "x y"]
        );
        assert_eq!(
            words(r#"echo "a \"q\" \$HOME \n""#),
            ["echo", r#"a "q" $HOME \n"#]
        );
        assert_eq!(words("echo '' \"\""), ["echo", "", ""]);
        assert!(split_command_line("echo \\").is_err());
        assert!(split_command_line("echo \"open").is_err());
    }
}
