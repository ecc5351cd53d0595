//! `[services.NAME]` tables and `[defaults]`: a service's command, its settings (the keys that
//! `[defaults]` may also set), its environment, ports and dependencies, and the service name
//! rule. Its probes (`ready`, `live`) are read by `probes`.
//!
//! A key that a service and `[defaults]` share goes in `RawSettings` and in `setting`; a key
//! only a service may have goes in `RawService` and in `service`.

use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Reader, Value};
use crate::config::diagnostic::Diagnostic;
use crate::spec::schedule::ScheduleAction;
use crate::spec::{
    DependencyCondition, Instances, KubernetesSpec, LiveProbe, MAX_INSTANCES,
    MAX_SERVICE_NAME_BYTES, ReadyProbe, ResourceLimits, RestartPolicy, Signal,
    container_image_problem, has_service_name_characters,
};

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
    "live",
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
    "sockets",
    "instances",
    "kubernetes",
    "nice",
    "limits",
    "user",
    "group",
    "cpu_max",
    "clean",
    "watch",
    "watch_ignore",
    "watch_debounce",
    "enabled",
    "schedule",
    "every",
    "on_schedule",
];

/// Keys allowed in `[services.NAME.kubernetes]`.
const KUBERNETES_KEYS: &[&str] = &["image"];

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
    "nice",
    "limits",
    "user",
    "group",
    "cpu_max",
    "watch_ignore",
    "watch_debounce",
];
pub(crate) const RESTART_POLICIES: &[&str] = &["never", "on-failure", "always"];
pub(crate) const CONDITIONS: &[&str] = &["started", "ready", "completed"];

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
    pub(crate) nice: Option<i32>,
    /// Merged per key with `[defaults]`.
    pub(crate) limits: ResourceLimits,
    /// `user` as written (a name, or a number as text).
    pub(crate) user: Option<Spanned<String>>,
    /// `group` as written (a name, or a number as text).
    pub(crate) group: Option<Spanned<String>>,
    /// `cpu_max` in millionths of one CPU.
    pub(crate) cpu_max: Option<u64>,
    /// Globs of changes that do not restart a service; `[defaults]`' and the service's add up.
    pub(crate) watch_ignore: Vec<Spanned<String>>,
    pub(crate) watch_debounce: Option<Duration>,
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
    pub(crate) live: Option<LiveProbe>,
    /// The names of the sockets it receives, in order.
    pub(crate) sockets: Vec<Spanned<String>>,
    pub(crate) instances: Option<Spanned<Instances>>,
    pub(crate) kubernetes: KubernetesSpec,
    /// Paths to delete before a start with `--clean` (`wrangle clean`), as written.
    pub(crate) clean: Vec<Spanned<String>>,
    /// Paths and globs whose changes restart the service, as written (relative to its cwd).
    pub(crate) watch: Vec<Spanned<String>>,
    /// `enabled = false` leaves the service out of the project (a profile's switch).
    pub(crate) enabled: bool,
    /// `schedule`: the cron expression as written and compiled.
    pub(crate) schedule: Option<Spanned<(String, croner::Cron)>>,
    /// `every`.
    pub(crate) every: Option<Spanned<Duration>>,
    /// `on_schedule`.
    pub(crate) on_schedule: Option<Spanned<ScheduleAction>>,
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

/// `port = "auto"` (`Some(None)`: any free port) or `port = "A-B"` (`Some(Some(A..=B))`, with
/// 1 <= A <= B); `None` for any other string.
pub(crate) fn port_request(text: &str) -> Option<Option<std::ops::RangeInclusive<u16>>> {
    if text == "auto" {
        return Some(None);
    }
    let (low, high) = text.split_once('-')?;
    let low: u16 = low.trim().parse().ok()?;
    let high: u16 = high.trim().parse().ok()?;
    (low >= 1 && low <= high).then_some(Some(low..=high))
}

/// What is wrong with a service name, as a label for the name's location; `None` when it
/// follows the rule (`spec::is_valid_service_name`).
pub(crate) fn service_name_problem(name: &str) -> Option<String> {
    if !has_service_name_characters(name) {
        return Some(
            "a service name starts with a letter or digit and contains only letters, digits, \
             '_', '.' and '-'"
                .to_string(),
        );
    }
    (name.len() > MAX_SERVICE_NAME_BYTES).then(|| {
        format!(
            "{} bytes long; a service name is at most {MAX_SERVICE_NAME_BYTES} bytes",
            name.len()
        )
    })
}

impl Reader<'_> {
    pub(super) fn defaults(&mut self, table: &DeTable<'_>) -> RawSettings {
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

    pub(super) fn service(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        value: &Value<'_>,
    ) -> RawService {
        let name_text = name.get_ref().to_string();
        if let Some(problem) = service_name_problem(&name_text) {
            self.push(Diagnostic::at(
                self.file,
                name.span(),
                format!("invalid service name \"{name_text}\""),
                problem,
            ));
        }
        let mut service = RawService {
            name: Spanned::new(name.span(), name_text.clone()),
            command: None,
            settings: RawSettings::default(),
            ports: Vec::new(),
            depends_on: Vec::new(),
            ready: None,
            live: None,
            sockets: Vec::new(),
            instances: None,
            kubernetes: KubernetesSpec::default(),
            clean: Vec::new(),
            watch: Vec::new(),
            enabled: true,
            schedule: None,
            every: None,
            on_schedule: None,
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
                "port" => service.ports = self.ports(value, &key_path, &name_text),
                "depends_on" => service.depends_on = self.depends_on(value, &key_path),
                "ready" => service.ready = self.ready(value, &key_path),
                "live" => service.live = self.live(value, &key_path),
                "sockets" => service.sockets = self.strings(value, &key_path).unwrap_or_default(),
                "instances" => service.instances = self.instances(value, &key_path),
                "kubernetes" => service.kubernetes = self.kubernetes(value, &key_path),
                "clean" => service.clean = self.strings(value, &key_path).unwrap_or_default(),
                "watch" => service.watch = self.globs(value, &key_path),
                "enabled" => service.enabled = self.boolean(value, &key_path).unwrap_or(true),
                "schedule" => service.schedule = self.cron(value, &key_path),
                "every" => {
                    service.every = self
                        .duration(value, &key_path, true)
                        .filter(|every| self.at_least_a_second(value, &key_path, *every.get_ref()))
                }
                "on_schedule" => service.on_schedule = self.schedule_action(value, &key_path),
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
            "nice" => {
                settings.nice = self
                    .integer(value, &path, "an integer from -20 to 19")
                    .and_then(|number| self.in_range(number, value, &path, -20, 19))
                    .and_then(|number| i32::try_from(number).ok())
            }
            "limits" => settings.limits = self.limits(value, &path),
            "user" => settings.user = self.account_name(value, &path),
            "group" => settings.group = self.account_name(value, &path),
            "cpu_max" => settings.cpu_max = self.cpu_max(value, &path),
            "watch_ignore" => settings.watch_ignore = self.globs(value, &path),
            "watch_debounce" => {
                settings.watch_debounce =
                    self.duration(value, &path, false).map(Spanned::into_inner)
            }
            _ => return false,
        }
        true
    }

    /// `[services.NAME.kubernetes]`: `image`.
    fn kubernetes(&mut self, value: &Value<'_>, path: &str) -> KubernetesSpec {
        let mut kubernetes = KubernetesSpec::default();
        let Some(table) = self.table(value, path, "a table such as { image = \"app:1.0\" }") else {
            return kubernetes;
        };
        for (key, item) in table.iter() {
            let name = key.get_ref().as_ref();
            match name {
                "image" => {
                    let image_path = format!("{path}.image");
                    let Some(image) = self.string(item, &image_path) else {
                        continue;
                    };
                    match container_image_problem(image.get_ref()) {
                        Some(problem) => self.push(Diagnostic::at(
                            self.file,
                            image.span(),
                            format!("invalid image \"{}\" in `{image_path}`", image.get_ref()),
                            problem,
                        )),
                        None => kubernetes.image = Some(image.into_inner()),
                    }
                }
                _ => self.unknown_key(key, name, &format!("[{path}]"), KUBERNETES_KEYS),
            }
        }
        kubernetes
    }

    /// `limits = { nofile = N, nproc = N, core = N, memlock = N }`: each a non-negative integer
    /// or `"unlimited"`; `core` and `memlock`, which count bytes, also a size (`"64MiB"`).
    fn limits(&mut self, value: &Value<'_>, path: &str) -> ResourceLimits {
        let mut limits = ResourceLimits::default();
        let Some(table) = self.table(value, path, "a table such as { nofile = 65536 }") else {
            return limits;
        };
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let key_path = format!("{path}.{name}");
            let bytes = matches!(name, "core" | "memlock");
            let slot = match name {
                "nofile" => &mut limits.nofile,
                "nproc" => &mut limits.nproc,
                "core" => &mut limits.core,
                "memlock" => &mut limits.memlock,
                _ => {
                    self.unknown_key(key, name, &format!("`{path}`"), &ResourceLimits::KEYS);
                    continue;
                }
            };
            *slot = self.limit(value, &key_path, bytes);
        }
        limits
    }

    /// One resource limit: a non-negative integer, `"unlimited"`, or (`bytes`) a size.
    fn limit(&mut self, value: &Value<'_>, path: &str, bytes: bool) -> Option<u64> {
        let expected = match bytes {
            true => "a number of bytes, a size such as \"64MiB\", or \"unlimited\"",
            false => "a non-negative integer or \"unlimited\"",
        };
        let limit = match value.get_ref() {
            DeValue::Integer(_) => self
                .integer(value, path, expected)
                .and_then(|number| u64::try_from(number).ok()),
            DeValue::String(text) if text.trim() == "unlimited" => Some(ResourceLimits::UNLIMITED),
            DeValue::String(text) if bytes => super::values::parse_size(text),
            _ => None,
        };
        if limit.is_none() {
            self.push(Diagnostic::at(
                self.file,
                value.span(),
                format!("invalid limit for `{path}`"),
                format!("expected {expected}"),
            ));
        }
        limit
    }

    /// `watch` and `watch_ignore`: strings, each a path or a glob (checked here, so the watcher
    /// never meets a bad one).
    fn globs(&mut self, value: &Value<'_>, path: &str) -> Vec<Spanned<String>> {
        let mut globs = self.strings(value, path).unwrap_or_default();
        globs.retain(|glob| {
            let problem = match glob.get_ref().as_str() {
                "" => "an empty path".to_string(),
                text => match crate::spec::glob(text) {
                    Ok(_) => return true,
                    Err(error) => error.kind().to_string(),
                },
            };
            self.push(
                Diagnostic::at(
                    self.file,
                    glob.span(),
                    format!("invalid glob \"{}\" in `{path}`", glob.get_ref()),
                    problem,
                )
                .with_help("`*` matches within a name, `**` any number of directories, `?` one character, `[abc]` a set, `{a,b}` either; `\\` escapes"),
            );
            false
        });
        globs
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

    fn ports(&mut self, value: &Value<'_>, path: &str, service: &str) -> Vec<Spanned<u16>> {
        const EXPECTED: &str = "a port number (1-65535), an array of them, \"auto\" or a range \
                                such as \"3000-3100\"";
        let items: Vec<&Value<'_>> = match value.get_ref() {
            DeValue::Integer(_) => vec![value],
            DeValue::Array(items) => items.iter().collect(),
            // Picked by `interpolate` (which reported a range with no free port).
            DeValue::String(text) if port_request(text).is_some() => {
                return self
                    .picked_ports
                    .get(service)
                    .map(|port| Spanned::new(value.span(), *port))
                    .into_iter()
                    .collect();
            }
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

    pub(super) fn port(&mut self, value: &Value<'_>, path: &str) -> Option<u16> {
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

    /// `instances = N` (1 to [`MAX_INSTANCES`]) or `"max"`: one per CPU.
    fn instances(&mut self, value: &Value<'_>, path: &str) -> Option<Spanned<Instances>> {
        const EXPECTED: &str = "a number of instances or \"max\"";
        let instances = match value.get_ref() {
            DeValue::Integer(_) => {
                let count = self.integer(value, path, EXPECTED)?;
                let count = self.in_range(count, value, path, 1, MAX_INSTANCES.into())?;
                Instances::Count(u32::try_from(count).ok()?)
            }
            DeValue::String(text) if text.as_ref() == "max" => Instances::PerCpu,
            DeValue::String(text) => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid instance count \"{text}\" for `{path}`"),
                        "expected a number or \"max\"",
                    )
                    .with_help("instances = 4, or instances = \"max\" for one per CPU"),
                );
                return None;
            }
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return None;
            }
        };
        Some(Spanned::new(value.span(), instances))
    }

    /// `schedule`: a cron expression croner accepts.
    fn cron(&mut self, value: &Value<'_>, path: &str) -> Option<Spanned<(String, croner::Cron)>> {
        let text = self.string(value, path)?;
        match crate::spec::schedule::parse_cron(text.get_ref(), std::time::SystemTime::now()) {
            Ok(cron) => Some(Spanned::new(value.span(), (text.get_ref().clone(), cron))),
            Err(why) => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!(
                            "invalid cron expression \"{}\" for `{path}`",
                            text.get_ref()
                        ),
                        why,
                    )
                    .with_help(
                        "five fields, minute hour day-of-month month day-of-week, such as \
                         \"*/5 * * * *\" or \"30 2 * * MON-FRI\" (a sixth in front for seconds)",
                    ),
                );
                None
            }
        }
    }

    /// Whether `every` is at least a second (a shorter period would keep a job starting).
    fn at_least_a_second(&mut self, value: &Value<'_>, path: &str, every: Duration) -> bool {
        if every >= Duration::from_secs(1) {
            return true;
        }
        self.push(Diagnostic::at(
            self.file,
            value.span(),
            format!("`{path}` must be at least 1s"),
            "too short",
        ));
        false
    }

    fn schedule_action(
        &mut self,
        value: &Value<'_>,
        path: &str,
    ) -> Option<Spanned<ScheduleAction>> {
        let text = self.string(value, path)?;
        match text.get_ref().as_str() {
            "start" => Some(Spanned::new(value.span(), ScheduleAction::Start)),
            "restart" => Some(Spanned::new(value.span(), ScheduleAction::Restart)),
            other => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid value \"{other}\" for `{path}`"),
                        "expected \"start\" or \"restart\"",
                    )
                    .with_suggestion(other, ["start", "restart"]),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_follow_the_rule() {
        let longest = "a".repeat(MAX_SERVICE_NAME_BYTES);
        for good in ["web", "a", "0", "api-v2", "db.primary", "x_y", &longest] {
            assert_eq!(service_name_problem(good), None, "{good}");
        }
        for bad in ["", "-web", ".x", "a b", "a/b", "é"] {
            let problem = service_name_problem(bad).expect(bad);
            assert!(
                problem.contains("starts with a letter or digit"),
                "{problem}"
            );
        }
        let too_long = "a".repeat(MAX_SERVICE_NAME_BYTES + 1);
        let problem = service_name_problem(&too_long).expect("too long");
        assert_eq!(
            problem,
            "201 bytes long; a service name is at most 200 bytes"
        );
    }
}
