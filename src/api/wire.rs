//! Version 1 of the control API's wire format: the only types of the crate that derive
//! `Serialize`/`Deserialize` for the API (and for `--json` output, which prints the same types).
//!
//! These types are a serializable counterpart of the supervisor's domain types, converted by the
//! daemon by hand, so the supervisor can change without breaking clients and the JSON can change
//! only by a new version of the routes (`/v2/`). JSON field and variant names are snake_case.
//! `docs/api.yaml` describes every type here under `components/schemas`, and a test checks that
//! none is missing. That test reads this file, and a reader of the API wants every type in one
//! place: that is why it is one file of about 800 lines, not a file per route.
//!
//! Absent optional values are serialized as `null` (the field is always present); when
//! deserializing, a missing optional field is `None` and unknown fields are ignored, so a client
//! and a daemon of neighbouring versions still understand each other.

use std::fmt;
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::human;

/// A snapshot of the whole project: the answer to `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectStatus {
    /// The project's config file (an absolute path).
    pub project: String,
    /// The project's name: the name of the directory holding the config.
    pub name: String,
    /// The daemon's process id.
    pub daemon_pid: u32,
    /// When the daemon started, RFC 3339 in UTC with milliseconds.
    pub started_at: String,
    /// Every service of the project, in declaration order.
    pub services: Vec<ServiceStatus>,
    /// What the daemon itself costs (with its sentinel helper), from the last sample.
    #[serde(default)]
    pub daemon_resources: Option<ResourceUsage>,
    /// How often resources are sampled, in milliseconds (faster while a client such as
    /// `wrangle top` reads `GET /v1/resources`).
    #[serde(default)]
    pub sample_interval_ms: u64,
    /// The run is a foreground `wrangle up` (its output is on a terminal, where Ctrl+C stops it),
    /// not a daemon; `daemon_pid` is that wrangle's process id.
    #[serde(default)]
    pub foreground: bool,
    /// The profiles laid over the config for this run (`--profile`, `WRANGLE_PROFILE`), in
    /// order.
    #[serde(default)]
    pub profiles: Vec<String>,
}

/// One instance of a service: an element of `ProjectStatus::services` (a service with several
/// instances has one entry per instance, each with the service's `name`) and an element of the
/// answer to `GET /v1/services/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The service's name, as in the config.
    pub name: String,
    /// The instance's number (`WRANGLE_INSTANCE`; 0 for a service's only instance).
    #[serde(default)]
    pub instance: u32,
    /// How many instances the service should have (`instances`, `wrangle scale`); during a
    /// reload one more may run.
    #[serde(default = "one")]
    pub instances: u32,
    /// A rolling reload of the service is in progress.
    #[serde(default)]
    pub reloading: bool,
    /// Where the service is in its lifecycle.
    pub state: ServiceState,
    /// The pid of the current instance's main process, while there is one.
    pub pid: Option<i32>,
    /// When the current instance was spawned, RFC 3339 in UTC.
    pub started_at: Option<String>,
    /// How many times the service was restarted since the daemon started it.
    pub restarts: u32,
    /// How the previous instance ended, if one did.
    pub last_exit: Option<ExitInfo>,
    /// The TCP ports the service declares.
    pub ports: Vec<u16>,
    /// The sockets the service receives, as `NAME=ADDRESS` (`http=tcp://127.0.0.1:8080`), in the
    /// order of its descriptors (3, 4, ...).
    #[serde(default)]
    pub sockets: Vec<String>,
    /// The readiness probe, described for humans (`http http://127.0.0.1:8080/health`).
    pub readiness: Option<String>,
    /// Why the service failed, crashed or is blocked, when known.
    pub reason: Option<String>,
    /// Output lines that could not be written to the log file (a full disk, an unwritable
    /// directory); they were dropped so that supervision never stops.
    #[serde(default)]
    pub log_lines_dropped: u64,
    /// Why the log file cannot be written right now, while it cannot.
    #[serde(default)]
    pub log_error: Option<String>,
    /// Bytes of output written to the service's log files since the daemon started.
    #[serde(default)]
    pub log_bytes: u64,
    /// What the service's whole process tree costs, from the last sample; `None` before the
    /// first sample of the current instance and while nothing runs.
    #[serde(default)]
    pub resources: Option<ResourceUsage>,
    /// Restarts since the daemon started, by cause: `crash` (it exited and the restart policy
    /// restarted it), `manual` (`wrangle restart`), `dependency` (a dependency it is tied to
    /// with `restart = true` got a new instance), `memory_limit` (its tree exceeded
    /// `max_memory`), `liveness` (its liveness probe failed `live.failures` times in a row).
    /// Causes that never happened are absent.
    #[serde(default)]
    pub restarts_by_cause: std::collections::BTreeMap<String, u32>,
    /// Why the latest restart happened, for humans (`memory limit: 612MiB > 500MiB`).
    #[serde(default)]
    pub last_restart_reason: Option<String>,
    /// Seconds from spawn until the current (or last) instance was ready.
    #[serde(default)]
    pub startup_seconds: Option<f64>,
    /// The readiness probe's record, for services that have one.
    #[serde(default)]
    pub probe: Option<ProbeStats>,
    /// Warnings in force: `cpu` and/or `memory`, while the tree stays above `cpu_warn` or
    /// `memory_warn` after `warn_after`; `readiness` while rechecks of its probe fail.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The service's next scheduled time (`schedule`, `every`), RFC 3339 in UTC with
    /// milliseconds; `None` for a service without a schedule. How its last run ended is
    /// `last_exit`.
    #[serde(default)]
    pub next_run: Option<String>,
}

fn one() -> u32 {
    1
}

impl ServiceStatus {
    /// How `ps` names the entry: the service's name for its only instance, `web:2` otherwise.
    pub fn label(&self) -> String {
        if self.instances == 1 && self.instance == 0 {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.instance)
        }
    }

    /// How long the current instance has run at `now`: zero for a start in the future (the
    /// daemon's clock and a client's may disagree a little); None while nothing runs or when
    /// `started_at` is not a time.
    pub fn uptime_at(&self, now: SystemTime) -> Option<Duration> {
        let started = human::parse_time(self.started_at.as_deref()?)?;
        Some(now.duration_since(started).unwrap_or_default())
    }
}

/// What a set of processes costs: one service's whole tree, or the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// CPU use over the last sampling interval, in percent of one core (200 = two full cores).
    pub cpu_percent: f64,
    /// The same, in percent of the whole machine (all cores).
    pub cpu_machine_percent: f64,
    /// CPU time used by the live processes and the children they reaped, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, summed over the processes.
    pub memory_bytes: u64,
    /// Live processes.
    pub processes: u32,
    /// Threads, summed.
    pub threads: u32,
    /// Open file descriptors, summed.
    pub open_fds: u32,
}

/// A readiness probe's record for one service.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbeStats {
    /// Attempts that failed, since the daemon started.
    pub failures: u64,
    /// Attempts that passed.
    pub successes: u64,
    /// How long the latest attempt took, in seconds.
    pub last_latency_seconds: Option<f64>,
}

/// Recent resource samples: the answer to `GET /v1/resources`. Kept in bounded memory by the
/// daemon (`[monitor] history`); oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceHistory {
    /// The sampling interval, in milliseconds.
    pub interval_ms: u64,
    /// The daemon's own samples.
    pub daemon: Vec<ResourcePoint>,
    /// Each service's samples, in declaration order.
    pub services: Vec<ServiceHistory>,
}

/// One service's recent samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHistory {
    pub name: String,
    pub points: Vec<ResourcePoint>,
}

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResourcePoint {
    /// When it was taken, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// CPU use since the previous sample, in percent of one core.
    pub cpu_percent: f64,
    /// Resident memory.
    pub memory_bytes: u64,
}

/// Where a service is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Waiting for its dependencies.
    Waiting,
    /// Spawned; the readiness probe has not passed yet.
    Starting,
    /// Running and its readiness probe passed.
    Ready,
    /// Running; it has no readiness probe.
    Running,
    /// Asked to stop; its processes are not all gone yet.
    Stopping,
    /// Stopped on request.
    Stopped,
    /// Exited on its own and will not be restarted (e.g. a one-shot task that succeeded).
    Exited,
    /// Exited unexpectedly; a restart decision is pending.
    Crashed,
    /// Waiting out the delay before a restart.
    Backoff,
    /// Given up on: it will not be restarted.
    Failed,
    /// Not started: not selected, or never asked for.
    Inactive,
}

/// How a process ended: by an exit code or by a signal (neither is known when its processes
/// outlived the main one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit code, when the process exited.
    pub code: Option<i32>,
    /// The signal's name (`SIGKILL`), when a signal ended the process.
    pub signal: Option<String>,
}

/// A request that changes something, answered by the daemon with a [`Reply`]: the body of
/// `POST /v1/actions`. An empty `services` list means every service; `start`, `stop` and
/// `restart` also take one instance as `SERVICE:INSTANCE` (`web:2`).
///
/// JSON: `{"action": "restart", "services": ["web"]}`, `{"action": "shutdown"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Request {
    /// Start these services (and what they depend on).
    Start {
        /// The services to start; empty for all.
        #[serde(default)]
        services: Vec<String>,
    },
    /// Stop these services (and what depends on them).
    Stop {
        /// The services to stop; empty for all.
        #[serde(default)]
        services: Vec<String>,
    },
    /// Restart these services.
    Restart {
        /// The services to restart; empty for all.
        #[serde(default)]
        services: Vec<String>,
    },
    /// Replace every instance of these services, one at a time, each new one ready before the
    /// one it replaces stops; a service without sockets is restarted instead. Follow
    /// `/v1/events` for `reloaded` or `reload_failed`.
    Reload {
        /// The services to reload; empty for all.
        #[serde(default)]
        services: Vec<String>,
    },
    /// Run `instances` instances of `service` (1 to 1024), starting or stopping as few as that
    /// takes.
    Scale {
        /// The service to scale.
        service: String,
        /// How many instances it should run.
        instances: u32,
    },
    /// Stop everything and end the daemon.
    Shutdown,
    /// Read the project's config file again, fully validated, and compare it with the running
    /// one: with `dry_run`, the answer is a [`Reply::Plan`] and nothing changes; without, the
    /// daemon acts on the plan (added services started, removed ones stopped, changed ones
    /// reloaded or restarted, the rest left alone) and answers [`Reply::Applied`] once the
    /// changes are under way.
    Apply {
        /// Print the plan and touch nothing.
        #[serde(default)]
        dry_run: bool,
    },
}

/// The daemon's answer to a [`Request`] it accepted. The work happens afterwards: follow
/// `/v1/events` or poll `/v1/status` to see it done.
///
/// JSON: `{"status": "accepted", "services": ["web", "db"]}`, `{"status": "shutting_down"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reply {
    /// The request was accepted for these services (the request's list resolved: dependencies
    /// added, an empty list expanded to all).
    Accepted {
        /// The services the request applies to.
        services: Vec<String>,
    },
    /// The daemon is stopping every service and will then exit.
    ShuttingDown,
    /// What differs between the running config and the file now (`apply --dry-run`).
    Plan {
        /// The differences.
        plan: ApplyPlan,
    },
    /// What differed, now being acted on (`apply`): the services' changes are under way (follow
    /// `/v1/events` or poll `/v1/status`); settings with `live: false` were left as they run.
    Applied {
        /// The differences acted on.
        plan: ApplyPlan,
    },
}

/// What differs between the running config and the config file now: what `apply` would act on.
/// Environment values that look secret (see `spec::secret`) are masked as `<masked>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyPlan {
    /// Services only the file has.
    pub added: Vec<String>,
    /// Services only the running config has.
    pub removed: Vec<String>,
    /// Services both have that differ.
    pub changed: Vec<ChangedService>,
    /// Project settings that differ (`[logs]`, `[monitor]`, `[metrics]`, `[[notify]]`,
    /// `[dashboard]`, `[sockets]`).
    pub settings: Vec<SettingDifference>,
}

/// A project setting that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingDifference {
    /// The table as written in wrangle.toml: `[logs]`, `[[notify]]`...
    pub name: String,
    /// `apply` changes it in the running daemon; when false, the daemon keeps running with the
    /// old value until `wrangle down` and `wrangle up` (and a `[sockets]` difference stops
    /// `apply` from changing anything).
    pub live: bool,
}

/// A service whose settings differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedService {
    pub name: String,
    /// The config keys that differ (`command`, `env`, `ready`, ...).
    pub keys: Vec<String>,
    /// Environment variables that differ.
    pub env: Vec<EnvDifference>,
}

/// One environment variable that differs; `null` where it is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvDifference {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The body of `POST /v1/logs/flush` (`wrangle flush`). JSON: `{"services": ["web"]}`; an
/// empty or missing list means every service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushRequest {
    /// The services whose log files to empty; empty for all.
    #[serde(default)]
    pub services: Vec<String>,
}

/// The answer to `POST /v1/logs/flush`: what was removed, per service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushReport {
    /// Each service flushed, in declaration order.
    pub services: Vec<FlushedLogs>,
}

/// What flushing one service's logs removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushedLogs {
    pub name: String,
    /// Log files removed (rotated ones, and the current one, which starts again empty).
    pub files: u32,
    /// Their bytes, indexes included.
    pub bytes: u64,
    /// Why some of it could not be removed, if so (the rest was).
    pub error: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for humans (lowercase, no trailing period).
    pub error: String,
    /// What went wrong, for programs.
    pub code: ErrorCode,
}

/// The class of an [`ApiError`]; each has a default HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No such service or route (404).
    NotFound,
    /// The request is malformed: bad JSON, bad query parameter, wrong method, too large (400,
    /// or 405 and 413 where those apply).
    BadRequest,
    /// The request carries no valid credentials (401; only over the dashboard's TCP listener,
    /// where every `/v1/` route needs the token).
    Unauthorized,
    /// The daemon refuses the request (403).
    Forbidden,
    /// The daemon cannot answer now: shutting down, or too slow (503).
    Unavailable,
    /// A bug in the daemon (500).
    Internal,
}

/// Something that happened to the project, streamed by `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// What happened, snake_case (`started`, `ready`, `crashed`, `restarting`, `stopped`, ...);
    /// also the SSE event name.
    pub kind: String,
    /// The service it happened to; `None` for project-wide events.
    pub service: Option<String>,
    /// The instance it happened to (`WRANGLE_INSTANCE`), for a service that has several (`ps`
    /// shows them as `NAME:INSTANCE`); `None` for a service's only instance and for events about
    /// a whole service or the project.
    #[serde(default)]
    pub instance: Option<u32>,
    /// The event for humans (`exited with code 1 after 3.2s`).
    pub message: String,
    /// The pid concerned, if any.
    pub pid: Option<i32>,
}

/// One line of a service's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the line was read, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// The service that wrote it.
    pub service: String,
    /// The pipe it came from.
    pub stream: LogStream,
    /// The line without its line ending (lossily decoded as UTF-8).
    pub text: String,
    /// True when the line was too long and this is a piece of it that is not the last one.
    pub partial: bool,
}

/// Which output pipe of a service a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The data of a `skipped` SSE event of `GET /v1/logs?follow=true`: this client read so slowly
/// that output of `service` it had not read yet was removed from the log files (rotation beyond
/// `keep_files`, or the disk budget). The stream goes on with the oldest output left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The service whose output was skipped.
    pub service: String,
    /// How many bytes of its output were skipped, when known (lines were not counted).
    pub bytes: Option<u64>,
}

/// The data of a `lagged` SSE event: this client read too slowly and `skipped` items (events)
/// published meanwhile were dropped for it. The stream goes on after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lagged {
    /// How many items this client missed.
    pub skipped: u64,
}

/// What the daemon keeps on record about one service: the answer to
/// `GET /v1/services/{name}/details`. The histories are bounded (the most recent entries),
/// oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDetails {
    pub name: String,
    /// The service's resolved config.
    pub config: ServiceConfig,
    /// Its restarts, with their causes.
    pub restarts: Vec<RestartRecord>,
    /// Its readiness probe's recent attempts (empty without a probe).
    pub probes: Vec<ProbeAttempt>,
    /// Why the latest failed probe attempt failed, if one did.
    pub last_probe_failure: Option<String>,
    /// Its latest runs, oldest first, for a service with a schedule (`schedule`, `every`);
    /// empty for the others.
    #[serde(default)]
    pub runs: Vec<RunRecord>,
}

/// Everything about one service: what `wrangle describe SERVICE --json` prints. Not served by
/// a route: the command line puts it together from `/v1/status`, the service's details and
/// `/v1/graph` (or from the config file when no daemon runs), and what it reads itself from
/// `/proc` and the log directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDescription {
    pub name: String,
    /// The project's config file.
    pub project: String,
    /// The wrangle running the project (a daemon, or a foreground `up`); `None` when none does
    /// (then only the config is known).
    pub daemon_pid: Option<u32>,
    /// The resolved config (secret-looking environment values masked).
    pub config: ServiceConfig,
    /// The services that depend on this one.
    pub dependents: Vec<String>,
    /// Each instance's status (empty without a daemon).
    pub instances: Vec<ServiceStatus>,
    /// The processes of its instances' trees: each main process and its descendants.
    pub processes: Vec<ProcessEntry>,
    /// Its declared ports and who listens on them now.
    pub ports: Vec<PortInfo>,
    /// Its restarts, with their causes (the most recent, oldest first).
    pub restarts: Vec<RestartRecord>,
    /// Its readiness probe's recent attempts.
    pub probes: Vec<ProbeAttempt>,
    /// Why the latest failed probe attempt failed, if one did.
    pub last_probe_failure: Option<String>,
    /// Its latest runs with how they ended, oldest first, for a service with a schedule.
    #[serde(default)]
    pub runs: Vec<RunRecord>,
    /// Its log files, the current one first, with their sizes.
    pub log_files: Vec<LogFileInfo>,
}

/// A process of a service's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    /// The instance whose tree it is in.
    pub instance: u32,
    pub pid: i32,
    pub ppid: i32,
    /// Its command line (its name when the command line cannot be read).
    pub command: String,
}

/// A declared port and who listens on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    pub port: u16,
    /// The listeners, for humans (`PID 4242 (python3)`); empty when the port is free.
    pub holders: Vec<String>,
}

/// A log file of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFileInfo {
    pub path: String,
    pub bytes: u64,
}

/// A service's config as wrangle resolved it (defaults applied, env files read), with
/// secret-looking environment values masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// The argv (with `shell`, `["sh", "-c", script]`).
    pub command: Vec<String>,
    /// Whether the command runs through `sh -c`.
    pub shell: bool,
    /// The working directory (absolute).
    pub cwd: String,
    /// The variables wrangle adds to the service's environment (`env_file`, `env`, `PORT`),
    /// by name.
    pub env: Vec<EnvVar>,
    /// What it depends on.
    pub depends_on: Vec<Dependency>,
    /// Every other setting, for humans (`restart` = `on-failure`, `stop_timeout` = `10s`).
    pub settings: Vec<Setting>,
}

/// One environment variable of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    /// The value, or when `masked` what can be shown of it (`<masked>`, or a URL with its
    /// password replaced by `<masked>`; the rule is `spec::secret`'s).
    pub value: String,
    /// The name or the value looks like a secret (a password, token or key, a URL with a
    /// password, a long random string): the value is not sent.
    pub masked: bool,
}

/// An edge of the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What it must reach first: `started`, `ready` or `completed`.
    pub condition: String,
    /// The dependent is restarted whenever this dependency gets a new instance.
    pub restart: bool,
}

/// One setting of a service, for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// The config key (`ready`, `restart`, `max_memory`, ...).
    pub key: String,
    /// Its resolved value, as the config would write it.
    pub value: String,
}

/// One restart of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRecord {
    /// The instance that was restarted (0 for a service's only instance).
    pub instance: u32,
    /// When the daemon counted it, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// `crash`, `manual`, `dependency`, `memory_limit` (as in `restarts_by_cause`).
    pub cause: String,
    /// Why, for humans, when known (`memory limit: 612MiB > 500MiB`).
    pub reason: Option<String>,
    /// How the instance before it ended, when it did on its own.
    pub last_exit: Option<ExitInfo>,
}

/// One run of a service with a schedule: a tree from its spawn to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The instance that ran (0 for a service's only instance).
    pub instance: u32,
    /// When it was spawned, RFC 3339 in UTC with milliseconds.
    pub started_at: String,
    /// When it ended; `None` while it runs.
    pub ended_at: Option<String>,
    /// How it ended: its exit code or signal (`None` while it runs, or when its processes
    /// outlived the main one).
    pub exit: Option<ExitInfo>,
    /// It was stopped (by a user, a restart or the shutdown) rather than ending on its own.
    pub stopped: bool,
}

/// One attempt of a readiness probe (or of a recheck).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeAttempt {
    /// The instance probed (0 for a service's only instance).
    pub instance: u32,
    /// When it ended, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub passed: bool,
    /// How long it took, in seconds.
    pub latency_seconds: f64,
}

/// The project's dependency graph and its latest start-up: the answer to `GET /v1/graph`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectGraph {
    /// Every service, in declaration order.
    pub services: Vec<GraphNode>,
    /// The chain of services that decided how long the start-up took: from a service that
    /// depends on nothing to the last one to become ready, each waiting for the one before.
    /// Empty until a service was started.
    pub critical_path: Vec<String>,
    /// From the first spawn to the last service ready, in seconds, when known.
    pub total_seconds: Option<f64>,
}

/// A service in the graph, with its latest start from scratch (restarts after a crash are not
/// start-ups). Times are seconds after the first spawn of that start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    pub name: String,
    pub depends_on: Vec<Dependency>,
    /// 0 for a service that depends on nothing, else one more than its deepest dependency.
    pub layer: u32,
    /// When it was spawned.
    pub started_seconds: Option<f64>,
    /// When it became ready (or was started, without a probe).
    pub ready_seconds: Option<f64>,
    /// When it exited successfully on its own (a one-shot task that completed).
    pub completed_seconds: Option<f64>,
    /// From spawn to ready.
    pub startup_seconds: Option<f64>,
}

/// Where the web dashboard is served and how to sign in: the answer to `POST /v1/dashboard`
/// and `POST /v1/dashboard/token` (served on the control socket only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardInfo {
    /// The address the dashboard listens on (`127.0.0.1:8421`); `None` while it serves nowhere
    /// (after a token rotation with no dashboard running).
    pub listen: Option<String>,
    /// The dashboard's address for a browser, with the token in its fragment
    /// (`http://127.0.0.1:8421/#token=...`), which browsers never send to a server nor put in
    /// a `Referer`; `None` while it serves nowhere.
    pub url: Option<String>,
    /// The login token (64 hex digits), also accepted as `Authorization: Bearer TOKEN`.
    pub token: String,
}

/// What a `[[notify]]` entry sends: the body of a webhook's POST, and a command's stdin. Not
/// served by a route; versioned by `version`, which only changes when a field changes meaning.
///
/// JSON: `{"version": 1, "project": "shop", "project_path": "/home/u/shop/wrangle.toml",
/// "host": "laptop", "event": {...}, "suppressed": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPayload {
    /// The payload's format version: 1.
    pub version: u32,
    /// The project's name: the name of the directory holding the config.
    pub project: String,
    /// The project's config file (an absolute path).
    pub project_path: String,
    /// The machine's host name (empty when unknown).
    pub host: String,
    /// What happened. For a rate-limit summary, `kind` is `suppressed`, `service` is null and
    /// `message` says how many events went unsent.
    pub event: Event,
    /// Events of this entry that the rate limit (or a full queue) left unsent since its previous
    /// notification; usually 0.
    pub suppressed: u64,
}

impl ApiError {
    /// An error of this class.
    pub fn new(code: ErrorCode, error: impl Into<String>) -> ApiError {
        ApiError {
            error: error.into(),
            code,
        }
    }

    /// No such service or route (404).
    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, error)
    }

    /// A malformed request (400).
    pub fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, error)
    }

    /// A request without valid credentials (401).
    pub fn unauthorized(error: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, error)
    }

    /// A refused request (403).
    pub fn forbidden(error: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, error)
    }

    /// The daemon cannot answer now (503).
    pub fn unavailable(error: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unavailable, error)
    }

    /// A bug in the daemon (500).
    pub fn internal(error: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Internal, error)
    }

    /// This error as a response with another status than its code's (405, 413).
    pub fn with_status(self, status: StatusCode) -> Response {
        (status, axum::Json(self)).into_response()
    }
}

impl ErrorCode {
    /// The HTTP status an error of this class is answered with by default.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        self.with_status(status)
    }
}

impl fmt::Display for ServiceState {
    /// The snake_case name, as on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceState::Waiting => "waiting",
            ServiceState::Starting => "starting",
            ServiceState::Ready => "ready",
            ServiceState::Running => "running",
            ServiceState::Stopping => "stopping",
            ServiceState::Stopped => "stopped",
            ServiceState::Exited => "exited",
            ServiceState::Crashed => "crashed",
            ServiceState::Backoff => "backoff",
            ServiceState::Failed => "failed",
            ServiceState::Inactive => "inactive",
        })
    }
}

#[cfg(test)]
mod tests;
