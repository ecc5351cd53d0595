//! The JSON Schema of `wrangle.toml`, for editors: a TOML language server (Taplo, Even Better
//! TOML) given `docs/wrangle.schema.json` completes keys, shows what each one means and flags
//! unknown keys and values of the wrong type while the file is being written.
//!
//! The set of keys comes from the readers' own key tables (`document::*_KEYS`, the lists that
//! decide what "unknown key" means), so the schema cannot offer a key the loader rejects or miss
//! one it accepts. What this module adds is each key's shape (the value types the reader takes)
//! and a one-line description; a key without a shape here is a failing unit test, not a silent
//! gap. The schema checks what can be checked value by value; what the loader decides across
//! values (dependency names, cycles, ports declared twice, files that exist) it cannot express.
//!
//! It is JSON Schema draft-07, the newest draft the TOML language servers read.

use serde_json::{Map, Value, json};

use crate::config::document::{
    CONDITIONS, DASHBOARD_KEYS, DEFAULTS_KEYS, LIVE_KEYS, LIVE_KINDS, LOGS_KEYS, METRICS_KEYS,
    MONITOR_KEYS, NOTIFY_KEYS, PROFILE_KEYS, READY_KEYS, READY_KINDS, RESTART_POLICIES,
    SERVICE_KEYS, SOCKET_KEYS, TOP_LEVEL_KEYS,
};
use crate::spec::{EVENT_KINDS, PayloadFormat};
use crate::spec::{MAX_IMAGE_BYTES, MAX_INSTANCES, MAX_SERVICE_NAME_BYTES};

/// A table of the file, with the reader's list of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Top,
    Service,
    Defaults,
    Ready,
    Live,
    Notify,
    Socket,
    Logs,
    Monitor,
    Metrics,
    Dashboard,
    Profile,
}

impl Table {
    pub(crate) const ALL: [Table; 12] = [
        Table::Top,
        Table::Service,
        Table::Defaults,
        Table::Ready,
        Table::Live,
        Table::Notify,
        Table::Socket,
        Table::Logs,
        Table::Monitor,
        Table::Metrics,
        Table::Dashboard,
        Table::Profile,
    ];

    /// The keys its reader accepts (the reader's own list).
    pub(crate) fn keys(self) -> &'static [&'static str] {
        match self {
            Table::Top => TOP_LEVEL_KEYS,
            Table::Service => SERVICE_KEYS,
            Table::Defaults => DEFAULTS_KEYS,
            Table::Ready => READY_KEYS,
            Table::Live => LIVE_KEYS,
            Table::Notify => NOTIFY_KEYS,
            Table::Socket => SOCKET_KEYS,
            Table::Logs => LOGS_KEYS,
            Table::Monitor => MONITOR_KEYS,
            Table::Metrics => METRICS_KEYS,
            Table::Dashboard => DASHBOARD_KEYS,
            Table::Profile => PROFILE_KEYS,
        }
    }

    /// Its name in the schema's `definitions`.
    fn definition(self) -> &'static str {
        match self {
            Table::Top => "project",
            Table::Service => "service",
            Table::Defaults => "defaults",
            Table::Ready => "ready",
            Table::Live => "live",
            Table::Notify => "notify",
            Table::Socket => "socket",
            Table::Logs => "logs",
            Table::Monitor => "monitor",
            Table::Metrics => "metrics",
            Table::Dashboard => "dashboard",
            Table::Profile => "profile",
        }
    }
}

/// The schema, as written to `docs/wrangle.schema.json` (pretty-printed, ending in a newline).
pub fn json_schema() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema as a JSON value.
pub(crate) fn schema() -> Value {
    let mut definitions = Map::new();
    for table in Table::ALL {
        if table == Table::Top {
            continue;
        }
        definitions.insert(table.definition().to_string(), object_of(table));
    }
    // A profile's or the local file's service table: any key of a service, none required (it
    // changes a service defined elsewhere).
    let mut overlay = object_of(Table::Service);
    if let Value::Object(overlay) = &mut overlay {
        overlay.remove("required");
    }
    definitions.insert("service_overlay".to_string(), overlay);
    let mut root = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "wrangle.toml",
        "description": "A wrangle project: its services and how to run them (docs/config.md).",
    });
    if let (Value::Object(root), Value::Object(project)) = (&mut root, object_of(Table::Top)) {
        root.extend(project);
        root.insert("definitions".to_string(), Value::Object(definitions));
    }
    root
}

/// `table` as a closed object: its keys with their shapes, nothing else.
fn object_of(table: Table) -> Value {
    let mut properties = Map::new();
    for key in table.keys() {
        let shape = shape(table, key).unwrap_or_else(|| json!({}));
        properties.insert((*key).to_string(), shape);
    }
    let mut object = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if let Value::Object(object) = &mut object {
        match table {
            Table::Top => {
                object.insert("required".to_string(), json!(["services"]));
            }
            Table::Service => {
                object.insert("required".to_string(), json!(["command"]));
            }
            Table::Ready | Table::Live => {
                // Exactly one probe kind: each branch requires a different one, so a table with
                // two kinds matches two branches and fails `oneOf`.
                let all_kinds = match table {
                    Table::Live => LIVE_KINDS,
                    _ => READY_KINDS,
                };
                let kinds: Vec<Value> = all_kinds
                    .iter()
                    .map(|kind| json!({ "required": [kind] }))
                    .collect();
                object.insert("oneOf".to_string(), Value::Array(kinds));
            }
            Table::Notify => {
                object.insert("required".to_string(), json!(["on"]));
                object.insert(
                    "oneOf".to_string(),
                    json!([{ "required": ["webhook"] }, { "required": ["command"] }]),
                );
            }
            Table::Metrics | Table::Dashboard | Table::Socket => {
                object.insert("required".to_string(), json!(["listen"]));
            }
            Table::Defaults | Table::Logs | Table::Monitor | Table::Profile => {}
        }
    }
    object
}

/// The shape of `key` in `table`: its value types and a description. `None` for a key this
/// module does not know yet (the unit tests fail on it).
pub(crate) fn shape(table: Table, key: &str) -> Option<Value> {
    let (mut shape, description) = match table {
        Table::Top => top_level(key)?,
        Table::Service | Table::Defaults => service(key)?,
        Table::Ready => ready(key)?,
        Table::Live => live(key)?,
        Table::Notify => notify(key)?,
        Table::Socket => socket(key)?,
        Table::Logs => logs(key)?,
        Table::Monitor => monitor(key)?,
        Table::Metrics => metrics(key)?,
        Table::Dashboard => dashboard(key)?,
        Table::Profile => profile(key)?,
    };
    if let Value::Object(object) = &mut shape {
        object.insert("description".to_string(), json!(description));
    }
    Some(shape)
}

type Shape = (Value, &'static str);

fn top_level(key: &str) -> Option<Shape> {
    let name_pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]*$";
    Some(match key {
        "services" => (
            json!({
                "type": "object",
                "minProperties": 1,
                "propertyNames": { "pattern": name_pattern, "maxLength": MAX_SERVICE_NAME_BYTES },
                "additionalProperties": { "$ref": "#/definitions/service" },
            }),
            "The services, one table each ([services.NAME]), in start-tie order.",
        ),
        "defaults" => (
            json!({ "$ref": "#/definitions/defaults" }),
            "Settings for every service that does not set them itself.",
        ),
        "sockets" => (
            json!({
                "type": "object",
                "propertyNames": { "pattern": name_pattern, "maxLength": MAX_SERVICE_NAME_BYTES },
                "additionalProperties": { "$ref": "#/definitions/socket" },
            }),
            "Listening sockets wrangle binds once, before any service starts ([sockets.NAME]).",
        ),
        "logs" => (
            json!({ "$ref": "#/definitions/logs" }),
            "Limits of the daemon's log files.",
        ),
        "notify" => (
            json!({ "type": "array", "items": { "$ref": "#/definitions/notify" } }),
            "Notifications: a webhook or a command fired on events ([[notify]]).",
        ),
        "monitor" => (
            json!({ "$ref": "#/definitions/monitor" }),
            "How the daemon samples what each service costs.",
        ),
        "metrics" => (
            json!({ "$ref": "#/definitions/metrics" }),
            "Serve Prometheus metrics from the daemon.",
        ),
        "dashboard" => (
            json!({ "$ref": "#/definitions/dashboard" }),
            "Serve the web dashboard (and the control API, behind a token) from the daemon.",
        ),
        "profiles" => (
            json!({
                "type": "object",
                "additionalProperties": { "$ref": "#/definitions/profile" },
            }),
            "Profiles laid over the config when selected (--profile NAME, WRANGLE_PROFILE).",
        ),
        _ => return None,
    })
}

fn profile(key: &str) -> Option<Shape> {
    Some(match key {
        "defaults" => (
            json!({ "$ref": "#/definitions/defaults" }),
            "[defaults] keys the profile sets (merged over [defaults]).",
        ),
        "services" => (
            json!({
                "type": "object",
                "additionalProperties": { "$ref": "#/definitions/service_overlay" },
            }),
            "Per service, keys the profile sets (merged over [services.NAME]); enabled = false \
             leaves a service out.",
        ),
        _ => return None,
    })
}

fn service(key: &str) -> Option<Shape> {
    Some(match key {
        "command" => (
            command(),
            "What to run: an argv array, or a string split into words (never run by a shell \
             unless shell = true).",
        ),
        "shell" => (
            json!({ "type": "boolean" }),
            "Run a string command as `sh -c COMMAND`.",
        ),
        "cwd" => (
            json!({ "type": "string" }),
            "Working directory, relative to the config file's directory.",
        ),
        "env" => (
            json!({
                "type": "object",
                "additionalProperties": { "type": ["string", "integer", "number", "boolean"] },
            }),
            "Environment variables added for the service.",
        ),
        "env_file" => (
            one_or_many(json!({ "type": "string" })),
            "Dotenv files, relative to the config file's directory; later files win.",
        ),
        "port" => (
            json!({ "anyOf": [
                one_or_many(port()),
                { "type": "string", "pattern": "^(auto|[0-9]{1,5}-[0-9]{1,5})$" },
            ] }),
            "TCP ports the service listens on; checked free before each start. One port sets \
             PORT. \"auto\" or a range \"3000-3100\": a free one picked at start.",
        ),
        "depends_on" => (depends_on(), "Services that must reach a condition first."),
        "ready" => (
            json!({ "$ref": "#/definitions/ready" }),
            "How wrangle decides the service is ready: exactly one probe kind.",
        ),
        "live" => (
            json!({ "$ref": "#/definitions/live" }),
            "Whether a running service still works: repeated failures restart it.",
        ),
        "restart" => (
            json!({ "enum": RESTART_POLICIES }),
            "When to restart a service that exited.",
        ),
        "backoff_initial" => (duration(), "Delay before the first restart."),
        "backoff_max" => (duration(), "Upper bound of the restart delay."),
        "max_restarts" => (
            json!({ "type": "integer", "minimum": 0 }),
            "Quick crashes in a row, or restarts within restart_window, before giving up.",
        ),
        "restart_window" => (duration(), "The sliding window of max_restarts."),
        "min_uptime" => (
            duration(),
            "A run this long stayed up: the crash streak ends.",
        ),
        "stop_signal" => (
            json!({
                "anyOf": [
                    { "type": "string" },
                    { "type": "integer", "minimum": 1, "maximum": 64 },
                ],
            }),
            "The signal that asks the service to stop (a name such as \"SIGINT\", or a number).",
        ),
        "stop_timeout" => (
            duration(),
            "How long to wait after stop_signal before SIGKILL.",
        ),
        "max_memory" => (
            size(),
            "Restart the service when its tree's memory stays above this.",
        ),
        "cpu_warn" => (
            json!({
                "anyOf": [
                    { "type": "number", "minimum": 1, "maximum": 100000 },
                    { "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%?\\s*$" },
                ],
            }),
            "Warn when CPU use (percent of one core) stays above this for warn_after.",
        ),
        "memory_warn" => (size(), "Warn when memory stays above this for warn_after."),
        "warn_after" => (
            duration(),
            "How long a value must stay past a threshold to warn.",
        ),
        "sockets" => (
            json!({ "type": "array", "items": { "type": "string" } }),
            "The [sockets] the service receives, by name; the first is file descriptor 3.",
        ),
        "instances" => (
            json!({
                "anyOf": [
                    { "type": "integer", "minimum": 1, "maximum": MAX_INSTANCES },
                    { "const": "max" },
                ],
            }),
            "How many copies of the service run (\"max\": one per CPU).",
        ),
        "nice" => (
            json!({ "type": "integer", "minimum": -20, "maximum": 19 }),
            "The scheduling priority of the service's processes, -20 (first) to 19 (last).",
        ),
        "limits" => (
            {
                let count = json!({
                    "anyOf": [
                        { "type": "integer", "minimum": 0 },
                        { "const": "unlimited" },
                    ],
                });
                let bytes = json!({
                    "anyOf": [
                        { "type": "integer", "minimum": 0 },
                        { "type": "string" },
                    ],
                });
                json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "nofile": count,
                        "nproc": count,
                        "core": bytes,
                        "memlock": bytes,
                    },
                })
            },
            "Resource limits (setrlimit), each the soft and the hard limit: nofile, nproc, \
             core and memlock (bytes, or a size), or \"unlimited\".",
        ),
        "user" => (
            json!({
                "anyOf": [
                    { "type": "integer", "minimum": 0, "maximum": 4294967295u64 },
                    { "type": "string", "pattern": "^[A-Za-z0-9_.$][A-Za-z0-9_.$-]*$" },
                ],
            }),
            "The user the service runs as (a name or a numeric id), with its groups, HOME, USER \
             and LOGNAME; only root can name another user than its own.",
        ),
        "group" => (
            json!({
                "anyOf": [
                    { "type": "integer", "minimum": 0, "maximum": 4294967295u64 },
                    { "type": "string", "pattern": "^[A-Za-z0-9_.$][A-Za-z0-9_.$-]*$" },
                ],
            }),
            "The primary group the service runs with (a name or a numeric id); default: the \
             user's own.",
        ),
        "cpu_max" => (
            json!({
                "anyOf": [
                    { "type": "number", "exclusiveMinimum": 0 },
                    { "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%?\\s*$" },
                ],
            }),
            "The CPU time the service may use, through cgroup v2 cpu.max: \"50%\" of one CPU, \
             or a number of CPUs such as \"1.5\".",
        ),
        "kubernetes" => (
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "image": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_IMAGE_BYTES,
                        "pattern": "^[^\\s]+$",
                        "description": "The container image the service's command runs in.",
                    },
                },
            }),
            "What `wrangle export kubernetes` and `compose` need that wrangle does not: the image.",
        ),
        "clean" => (
            one_or_many(json!({ "type": "string", "minLength": 1 })),
            "Paths (relative to the project root, inside it) that `wrangle clean` and `up --clean` \
             delete.",
        ),
        "watch" => (
            one_or_many(json!({ "type": "string", "minLength": 1 })),
            "Paths and globs (relative to cwd) whose changes restart the service.",
        ),
        "watch_ignore" => (
            one_or_many(json!({ "type": "string", "minLength": 1 })),
            "Globs of changes that restart nothing (no `/`: a name at any depth).",
        ),
        "watch_debounce" => (
            duration(),
            "How long changes must be quiet before the restart (default 200ms).",
        ),
        "schedule" => (
            json!({ "type": "string", "minLength": 1 }),
            "A cron expression in local time (`*/5 * * * *`; a sixth field in front for seconds): \
             the service runs (or, with on_schedule = \"restart\", restarts) at those times.",
        ),
        "every" => (
            duration(),
            "A fixed period (at least 1s; its multiples since the Unix epoch): the service runs \
             (or restarts) at those times.",
        ),
        "on_schedule" => (
            json!({ "enum": ["start", "restart"] }),
            "What a scheduled time does: start the job (default; a run still going skips it) or \
             restart the service.",
        ),
        "enabled" => (
            json!({ "type": "boolean" }),
            "false leaves the service out of the project (default true); for profiles.",
        ),
        _ => return None,
    })
}

fn ready(key: &str) -> Option<Shape> {
    Some(match key {
        "http" => (
            json!({ "type": "string", "pattern": "^http://" }),
            "GET this http:// URL; ready on a 2xx status.",
        ),
        "tcp" => (
            json!({ "anyOf": [port(), { "type": "string" }] }),
            "Ready once a TCP connection succeeds: a port (127.0.0.1) or \"host:port\".",
        ),
        "exec" => (
            command(),
            "Ready when this command exits 0 (never run by a shell).",
        ),
        "log" => (
            json!({ "type": "string" }),
            "Ready when a line of output matches this regex.",
        ),
        "notify" => (
            json!({ "const": true }),
            "Ready when the service sends READY=1 to $NOTIFY_SOCKET.",
        ),
        "interval" => (duration(), "The longest gap between two attempts."),
        "timeout" => (
            duration(),
            "No readiness within this time after spawn is a failure.",
        ),
        "recheck" => (
            duration(),
            "Once ready, probe again this often (http, tcp, exec).",
        ),
        "per_instance" => (
            json!({ "type": "boolean" }),
            "http and tcp: probe each instance on the probe's port plus its instance number.",
        ),
        _ => return None,
    })
}

fn live(key: &str) -> Option<Shape> {
    Some(match key {
        "http" | "tcp" | "exec" => {
            let (shape, _) = ready(key)?;
            let description = match key {
                "http" => "GET this http:// URL; a pass is a 2xx status.",
                "tcp" => "A pass is an accepted TCP connection (it cannot see a hung process).",
                _ => "A pass is this command exiting 0 (never run by a shell).",
            };
            (shape, description)
        }
        "interval" => (duration(), "The time between two attempts."),
        "timeout" => (duration(), "An attempt that takes longer fails."),
        "failures" => (
            json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
            "Failed attempts in a row that restart the service.",
        ),
        "per_instance" => (
            json!({ "type": "boolean" }),
            "http and tcp: probe each instance on the probe's port plus its instance number.",
        ),
        _ => return None,
    })
}

fn notify(key: &str) -> Option<Shape> {
    let kinds: Vec<&str> = EVENT_KINDS.iter().map(|(kind, _)| *kind).collect();
    Some(match key {
        "on" => (
            one_or_many(json!({ "enum": kinds })),
            "The events that fire this entry.",
        ),
        "services" => (
            one_or_many(json!({ "type": "string" })),
            "Only events of these services fire it (default: every service).",
        ),
        "webhook" => (
            json!({ "type": "string", "pattern": "^https?://" }),
            "POST the payload to this http:// or https:// URL.",
        ),
        "format" => {
            let formats: Vec<&str> = PayloadFormat::ALL.iter().map(|(name, _)| *name).collect();
            (
                json!({ "enum": formats }),
                "Webhooks: the body's shape (json, slack, discord or text).",
            )
        }
        "ca_file" => (
            json!({ "type": "string", "minLength": 1 }),
            "https:// webhooks: a PEM file of certificates trusted besides the system's store.",
        ),
        "command" => (
            command(),
            "Run this command with the payload on its standard input.",
        ),
        "timeout" => (duration(), "The longest one attempt may take (at most 1h)."),
        "retries" => (
            json!({ "type": "integer", "minimum": 0, "maximum": 10 }),
            "Webhooks: further attempts after a failed one.",
        ),
        "rate_limit" => (
            json!({ "type": "integer", "minimum": 1, "maximum": 10000 }),
            "At most this many notifications per rate_window.",
        ),
        "rate_window" => (
            duration(),
            "The sliding window of rate_limit (at most 24h).",
        ),
        _ => return None,
    })
}

fn socket(key: &str) -> Option<Shape> {
    Some(match key {
        "listen" => (
            json!({ "type": "string", "pattern": "^(tcp://|unix:)" }),
            "Where to listen: \"tcp://HOST:PORT\" or \"unix:PATH\".",
        ),
        "mode" => (
            json!({
                "anyOf": [
                    { "type": "string", "pattern": "^\\s*[0-7]{1,4}\\s*$" },
                    { "type": "integer", "minimum": 0, "maximum": 511 },
                ],
            }),
            "Unix sockets only: the socket file's permissions (\"0660\").",
        ),
        _ => return None,
    })
}

fn logs(key: &str) -> Option<Shape> {
    Some(match key {
        "max_file_size" => (size(), "Rotate a log file before it grows past this."),
        "keep_files" => (
            json!({ "type": "integer", "minimum": 0, "maximum": 1000 }),
            "Rotated files kept per service.",
        ),
        "budget" => (
            size(),
            "All log files of the project together; the oldest go first.",
        ),
        _ => return None,
    })
}

fn monitor(key: &str) -> Option<Shape> {
    Some(match key {
        "interval" => (
            duration(),
            "How often services are sampled while nobody watches (at least 100ms).",
        ),
        "history" => (duration(), "How long samples are kept."),
        _ => return None,
    })
}

fn metrics(key: &str) -> Option<Shape> {
    Some(match key {
        "listen" => (
            json!({ "anyOf": [port(), { "type": "string" }] }),
            "Where to serve /metrics: \"ip:port\", or a port on 127.0.0.1.",
        ),
        _ => return None,
    })
}

fn dashboard(key: &str) -> Option<Shape> {
    Some(match key {
        "listen" => (
            json!({ "anyOf": [port(), { "type": "string" }] }),
            "Where to serve the dashboard: \"ip:port\", or a port on 127.0.0.1.",
        ),
        _ => return None,
    })
}

/// A humantime string ("500ms", "1m 30s") or a whole number of seconds.
fn duration() -> Value {
    json!({
        "anyOf": [
            { "type": "string", "pattern": "^\\s*[0-9]+\\s*[A-Za-zµ]*(\\s*[0-9]+\\s*[A-Za-zµ]+)*\\s*$" },
            { "type": "integer", "minimum": 0 },
        ],
    })
}

/// "10MiB", "500 KB", or a whole number of bytes; at least 4 KiB.
fn size() -> Value {
    json!({
        "anyOf": [
            {
                "type": "string",
                "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*([BbKkMmGg]|[KkMmGg][Bb]|[KkMmGg][Ii][Bb])?\\s*$",
            },
            { "type": "integer", "minimum": 4096 },
        ],
    })
}

fn port() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": 65535 })
}

/// An argv array (not empty) or a command line.
fn command() -> Value {
    json!({
        "anyOf": [
            { "type": "string", "minLength": 1 },
            { "type": "array", "items": { "type": "string" }, "minItems": 1 },
        ],
    })
}

fn one_or_many(item: Value) -> Value {
    json!({ "anyOf": [item.clone(), { "type": "array", "items": item }] })
}

fn depends_on() -> Value {
    let condition = json!({ "enum": CONDITIONS });
    json!({
        "anyOf": [
            { "type": "array", "items": { "type": "string" } },
            {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        condition.clone(),
                        {
                            "type": "object",
                            "properties": {
                                "condition": condition,
                                "restart": { "type": "boolean" },
                            },
                            "additionalProperties": false,
                        },
                    ],
                },
            },
        ],
    })
}

#[cfg(test)]
mod tests;
