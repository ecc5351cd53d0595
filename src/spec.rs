//! The validated description of a project: what to run, in which order, and how to tell it is ready.
//!
//! This module owns plain data only. It is what `config` produces after parsing and checking a
//! `wrangle.toml` (or a Procfile), and what the supervisor consumes. It knows nothing of TOML,
//! spans, serde, processes or time sources.
//!
//! **Invariant:** a `ProjectSpec` is always valid: every dependency names an existing service,
//! the dependency graph has no cycle, every duration is positive where it must be, every regex
//! compiled. Code downstream never re-validates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

mod apply;
mod diff;
mod notify;
pub mod schedule;
pub mod secret;
mod sockets;

pub use apply::{ApplyChange, Merged, merge};
pub use diff::{EnvChange, ProjectDiff, ServiceChange, SettingChange, diff};
pub use notify::{
    CaFile, EVENT_KINDS, NOTIFICATION_KINDS, NotifySpec, NotifyTarget, PayloadFormat,
    SUPPRESSED_KIND, WebhookSpec,
};
pub use sockets::{ListenAddress, SocketId, SocketSpec, UnixSocketSpec};

/// The longest service name, in bytes. A name becomes a file name (`<name>.log.<n>` and its
/// `.idx` in the log directory, which must fit in the 255 bytes a file name may have) and a
/// cgroup directory's name.
pub const MAX_SERVICE_NAME_BYTES: usize = 200;

/// The service name rule: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most [`MAX_SERVICE_NAME_BYTES`]. The
/// config refuses a name that breaks it, with its location; `logs` checks it again because the
/// name becomes a file name.
pub fn is_valid_service_name(name: &str) -> bool {
    has_service_name_characters(name) && name.len() <= MAX_SERVICE_NAME_BYTES
}

/// The character part of the name rule alone: `[A-Za-z0-9][A-Za-z0-9_.-]*`, any length.
pub fn has_service_name_characters(name: &str) -> bool {
    let mut bytes = name.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
}

/// The most instances a service may have (`instances`, `wrangle scale`): each is a process tree
/// that wrangle watches, samples and logs for.
pub const MAX_INSTANCES: u32 = 1024;

/// The longest container image reference accepted (`[services.NAME.kubernetes] image`,
/// `--image`); real ones are a few dozen bytes.
pub const MAX_IMAGE_BYTES: usize = 1024;

/// What is wrong with a container image reference, if anything: it must be non-empty, at most
/// [`MAX_IMAGE_BYTES`], and without whitespace or control characters (it is written into YAML
/// and read by a container runtime, which would refuse it later and less clearly).
pub fn container_image_problem(image: &str) -> Option<String> {
    if image.is_empty() {
        return Some("an image cannot be empty".to_string());
    }
    if image.len() > MAX_IMAGE_BYTES {
        return Some(format!(
            "{} bytes long; an image is at most {MAX_IMAGE_BYTES} bytes",
            image.len()
        ));
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("an image contains no whitespace or control characters".to_string());
    }
    None
}

/// Index of a service inside [`ProjectSpec::services`]. Dependencies are stored as ids, not names,
/// so the engine never looks a name up.
pub type ServiceId = usize;

/// A whole project: its services in declaration order.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    /// The file the spec was read from (wrangle.toml or Procfile), canonicalised.
    pub source: PathBuf,
    /// The directory that relative paths are resolved against (the source file's directory).
    pub root: PathBuf,
    /// Services in the order they were declared; `ServiceId` indexes this. After `apply`
    /// (see [`merge`]), services the config added follow the others, and those it removed stay
    /// in place, listed in `retired`: an id names one service for the daemon's whole life.
    pub services: Vec<ServiceSpec>,
    /// Services no longer in the config (removed by `apply`), kept only so that their ids stay
    /// valid: nothing starts them, and front-ends do not show them. Empty for a loaded config.
    pub retired: BTreeSet<ServiceId>,
    /// Listening sockets wrangle binds before any service starts and passes to the services that
    /// list them (`[sockets.NAME]`), in declaration order; `SocketId` indexes this.
    pub sockets: Vec<SocketSpec>,
    /// Where the daemon keeps service output (`[logs]`).
    pub logs: LogSpec,
    /// Whom the daemon tells about which events (`[[notify]]`), in declaration order.
    pub notify: Vec<NotifySpec>,
    /// How resources are sampled (`[monitor]`).
    pub monitor: MonitorSpec,
    /// The Prometheus endpoint (`[metrics]`), when one is wanted.
    pub metrics: Option<MetricsSpec>,
    /// The web dashboard's address (`[dashboard]`), when the daemon should serve it from the
    /// start (`wrangle dashboard` can also start it on a free loopback port).
    pub dashboard: Option<DashboardSpec>,
    /// The profiles laid over the config (`--profile`, `WRANGLE_PROFILE`), in order.
    pub profiles: Vec<String>,
}

/// Resource sampling (`[monitor]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSpec {
    /// How often every service's tree is sampled while nobody watches. Services with a limit or
    /// a warning are checked at least every [`MonitorSpec::LIMIT_INTERVAL`].
    pub interval: Duration,
    /// How long samples are kept for `GET /v1/resources` and `wrangle top`.
    pub history: Duration,
}

impl MonitorSpec {
    /// The longest time a limit goes unchecked (PM2 checks every 30 s; a leak grows a lot in 30 s).
    pub const LIMIT_INTERVAL: Duration = Duration::from_secs(1);
    /// The interval while a client (`wrangle top`) watches.
    pub const WATCHED_INTERVAL: Duration = Duration::from_secs(1);
}

impl Default for MonitorSpec {
    fn default() -> Self {
        MonitorSpec {
            interval: Duration::from_secs(10),
            history: Duration::from_secs(600),
        }
    }
}

/// The Prometheus endpoint (`[metrics]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSpec {
    /// Where `GET /metrics` is served (plain HTTP).
    pub listen: std::net::SocketAddr,
}

/// The web dashboard (`[dashboard]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardSpec {
    /// Where the dashboard and the API are served over plain HTTP (token required).
    pub listen: std::net::SocketAddr,
}

/// Size limits of the daemon's log files, per project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSpec {
    /// A service's current file is rotated before it would grow past this.
    pub max_file_bytes: u64,
    /// Rotated files kept per service, besides the current one.
    pub keep_files: u32,
    /// The most bytes of log files for the whole project; the oldest rotated files go first.
    pub budget_bytes: u64,
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            max_file_bytes: 10 * 1024 * 1024,
            keep_files: 5,
            budget_bytes: 256 * 1024 * 1024,
        }
    }
}

impl ProjectSpec {
    /// Finds a service of the config by name (never a retired one).
    pub fn service_id(&self, name: &str) -> Option<ServiceId> {
        self.current()
            .find(|(_, service)| service.name == name)
            .map(|(id, _)| id)
    }

    /// The services of the config, with their ids: every service but the retired ones.
    pub fn current(&self) -> impl Iterator<Item = (ServiceId, &ServiceSpec)> {
        self.services
            .iter()
            .enumerate()
            .filter(|(id, _)| !self.retired.contains(id))
    }

    /// Whether `service` is one of the config's (not retired by `apply`).
    pub fn is_current(&self, service: ServiceId) -> bool {
        service < self.services.len() && !self.retired.contains(&service)
    }
}

/// One service: a command and the rules wrangle applies to it.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub command: CommandSpec,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// Variables added to wrangle's own environment, after `env_file` and `env` were merged and
    /// `PORT` was set for a single declared port. Ordered for reproducible spawns.
    pub env: BTreeMap<String, String>,
    /// The env files whose variables are in `env` (absolute, in the order they were read: those
    /// of `[defaults]` first). Their values are already merged; this says where they came from
    /// (an export says which values it copies out of them).
    pub env_files: Vec<PathBuf>,
    /// TCP ports the service listens on: checked free before start and before each restart.
    pub ports: Vec<u16>,
    pub depends_on: Vec<Dependency>,
    pub ready: Option<ReadyProbe>,
    /// Whether a running service still works (`live`): failing it restarts the instance.
    pub live: Option<LiveProbe>,
    pub restart: RestartSpec,
    pub stop: StopSpec,
    pub limits: LimitSpec,
    /// The sockets the service receives, in the order it listed them: they become its file
    /// descriptors 3, 4, ... (systemd's socket activation).
    pub sockets: Vec<SocketId>,
    /// How many copies of the service run at once.
    pub instances: Instances,
    /// Settings only `wrangle export kubernetes` (and `compose`) reads.
    pub kubernetes: KubernetesSpec,
    /// How its processes are set up besides their command: priority and resource limits.
    pub process: ProcessSpec,
    /// Restart on change (`watch`), when the service watches anything.
    pub watch: Option<WatchSpec>,
    /// Paths that `wrangle clean` and `up --clean` delete, relative to [`ProjectSpec::root`]:
    /// each a non-empty sequence of normal components (no `.`, `..` or root).
    pub clean: Vec<PathBuf>,
    /// Runs by the clock (`schedule`, `every`, `on_schedule`).
    pub schedule: Option<schedule::ScheduleSpec>,
}

/// What a service's first process is given before it execs (`nice`, `limits`, `user`,
/// `group`, `cpu_max`); the processes it starts inherit it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The scheduling priority, from -20 (first) to 19 (last); `None` keeps wrangle's own.
    pub nice: Option<i32>,
    /// Resource limits, each set as both the soft and the hard limit.
    pub rlimits: ResourceLimits,
    /// Who it runs as (`user`, `group`); `None`: wrangle's own user.
    pub run_as: Option<RunAs>,
    /// `cpu_max`: the CPU time it may use, in millionths of one CPU per second (`"50%"` is
    /// 500 000, `"1.5"` is 1 500 000); `None`: no limit.
    pub cpu_max: Option<u64>,
}

/// `user` and `group` as written, and what they are on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// `user` as written (a name or a number); `None` when only `group` is set.
    pub user: Option<String>,
    /// `group` as written (a name or a number).
    pub group: Option<String>,
    /// The accounts they name here; `None` only in a spec loaded for `export`, which may name
    /// users of the machine it is exported to and never runs anything.
    pub account: Option<Account>,
}

/// The credentials a service runs with when wrangle runs as root (as anyone else, wrangle's own,
/// which the config checked these are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name (`USER`, `LOGNAME`), or the number as text when it has none.
    pub name: String,
    pub uid: u32,
    /// The primary group: `group`, else the user's own.
    pub gid: u32,
    /// The supplementary groups (the user's memberships in the group file, primary first).
    pub groups: Vec<u32>,
    /// `HOME`.
    pub home: PathBuf,
}

/// `limits = { nofile, nproc, core, memlock }`: each `None` when not set (the limit wrangle was
/// started with applies), [`ResourceLimits::UNLIMITED`] for no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Open file descriptors (`RLIMIT_NOFILE`).
    pub nofile: Option<u64>,
    /// Processes and threads of the service's user (`RLIMIT_NPROC`).
    pub nproc: Option<u64>,
    /// Bytes of a core dump (`RLIMIT_CORE`); 0: no core dumps.
    pub core: Option<u64>,
    /// Bytes of memory locked in RAM (`RLIMIT_MEMLOCK`).
    pub memlock: Option<u64>,
}

impl ResourceLimits {
    /// No limit (`"unlimited"`, the kernel's `RLIM_INFINITY`).
    pub const UNLIMITED: u64 = u64::MAX;
    /// The key names of `limits`, in the order of [`ResourceLimits::each`].
    pub const KEYS: [&'static str; 4] = ["nofile", "nproc", "core", "memlock"];

    /// Every limit with its key name, set or not, in the order of [`ResourceLimits::KEYS`].
    pub fn each(&self) -> [(&'static str, Option<u64>); 4] {
        [
            ("nofile", self.nofile),
            ("nproc", self.nproc),
            ("core", self.core),
            ("memlock", self.memlock),
        ]
    }

    /// Each key of `self` that is set, else that of `fallback` (`[defaults]`).
    pub fn or(self, fallback: ResourceLimits) -> ResourceLimits {
        ResourceLimits {
            nofile: self.nofile.or(fallback.nofile),
            nproc: self.nproc.or(fallback.nproc),
            core: self.core.or(fallback.core),
            memlock: self.memlock.or(fallback.memlock),
        }
    }
}

/// What a service watches (`watch`, `watch_ignore`, `watch_debounce`): a change of a watched
/// file that nothing ignores restarts it, once per burst.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    /// What is watched, in the order written.
    pub entries: Vec<WatchEntry>,
    /// Changes whose path (relative to the service's `cwd`) matches one of these are ignored.
    pub ignore: Vec<globset::GlobMatcher>,
    /// The project's `.gitignore` and `.ignore` files that apply, read when the config was
    /// loaded.
    pub ignore_files: Vec<IgnoreFile>,
    /// How long changes must have been quiet before the restart.
    pub debounce: Duration,
}

/// One `watch` entry: a path, or a glob below the literal directory it starts with.
#[derive(Debug, Clone)]
pub struct WatchEntry {
    /// Absolute: the file or directory (watched recursively) that changes are looked for in.
    pub root: PathBuf,
    /// For a glob, the pattern a changed path (relative to the service's `cwd`) must match.
    pub glob: Option<globset::GlobMatcher>,
}

/// A `.gitignore` or `.ignore` file: its patterns apply below `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreFile {
    pub dir: PathBuf,
    pub path: PathBuf,
    pub text: String,
}

/// The glob dialect of `watch` and `watch_ignore`, the one place it is defined: `*` and `?`
/// stay within a name, `**` crosses directories, `\\` escapes, `{a,b}` alternates.
pub fn glob(text: &str) -> Result<globset::Glob, globset::Error> {
    globset::GlobBuilder::new(text)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// How many instances of a service run (`instances`). Each instance is its own process tree
/// with its own readiness; they differ only by `WRANGLE_INSTANCE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// This many, at least 1 and at most [`MAX_INSTANCES`].
    Count(u32),
    /// One per CPU wrangle may run on (`"max"`), counted when the run starts.
    PerCpu,
}

impl Instances {
    /// The number of instances, given how many CPUs wrangle may run on.
    pub fn count(self, cpus: u32) -> u32 {
        match self {
            Instances::Count(count) => count,
            Instances::PerCpu => cpus.clamp(1, MAX_INSTANCES),
        }
    }
}

/// `[services.NAME.kubernetes]`: what a container of the service needs that wrangle itself does
/// not (it runs commands, not images).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubernetesSpec {
    /// The container image the service's command runs in; `--image` of the export otherwise.
    pub image: Option<String>,
}

/// Resource limits and warnings of one service; each applies to its whole process tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSpec {
    /// Restart the service gracefully when its resident memory exceeds this many bytes (and,
    /// where wrangle has the cgroup memory controller, let the kernel enforce it too).
    pub max_memory: Option<u64>,
    /// Warn when CPU use stays above this percentage of one core for `warn_after`.
    pub cpu_warn: Option<u32>,
    /// Warn when resident memory stays above this many bytes for `warn_after`.
    pub memory_warn: Option<u64>,
    /// How long a value must stay above a warning threshold before the warning fires (and
    /// below it before the warning clears): no flapping on one spike.
    pub warn_after: Duration,
}

impl Default for LimitSpec {
    fn default() -> Self {
        LimitSpec {
            max_memory: None,
            cpu_warn: None,
            memory_warn: None,
            warn_after: Duration::from_secs(30),
        }
    }
}

impl LimitSpec {
    /// Whether anything here needs sampling at the limit interval.
    pub fn any(&self) -> bool {
        self.max_memory.is_some() || self.cpu_warn.is_some() || self.memory_warn.is_some()
    }
}

/// What to execute. Never interpreted by a shell unless the user asked for one explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// argv: program first. Never empty.
    pub argv: Vec<String>,
    /// True when `argv` is `["sh", "-c", script]` because the user set `shell = true` (or the
    /// command came from a Procfile, whose lines are shell by convention).
    pub shell: bool,
}

impl CommandSpec {
    /// The command as the user would recognise it, for messages.
    pub fn display(&self) -> String {
        if self.shell {
            return self.argv.last().cloned().unwrap_or_default();
        }
        self.argv
            .iter()
            .map(|arg| quote_word(arg))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One argv word written so that `command = "..."` (and a POSIX shell, past the program name) reads
/// it back unchanged: as is when it holds only characters that splitting and expansion leave
/// alone, otherwise in single quotes, a `'` inside written as `'\''`.
fn quote_word(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "+-./:@_,=%^".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.into();
    }
    format!("'{}'", word.replace('\'', r"'\''")).into()
}

/// An edge of the dependency graph: `service` must meet `condition` before the dependent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    pub service: ServiceId,
    pub condition: DependencyCondition,
    /// Restart the dependent whenever this dependency gets a new instance (a requested restart
    /// or a crash restart), once the new instance meets `condition` again.
    pub restart: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyCondition {
    /// The dependency's process was spawned.
    Started,
    /// The dependency's readiness probe passed (or it was started, when it has no probe).
    Ready,
    /// The dependency exited with status 0: a one-shot task such as a migration.
    Completed,
}

impl DependencyCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyCondition::Started => "started",
            DependencyCondition::Ready => "ready",
            DependencyCondition::Completed => "completed",
        }
    }
}

/// How wrangle decides that a started service is ready to be depended on.
#[derive(Debug, Clone)]
pub struct ReadyProbe {
    pub check: ReadyCheck,
    /// The longest gap between two attempts. The first attempts come faster (tens of ms) and back
    /// off to this interval, so a service that is ready quickly is seen quickly.
    pub interval: Duration,
    /// Readiness not reached within this time (from spawn) is a failure.
    pub timeout: Duration,
    /// Once ready, probe again this often: [`ReadyProbe::LOST_AFTER`] failures in a row mean
    /// readiness was lost (reported, not acted on), a later pass that it is back. `None`: the
    /// probe stops at the first pass. Only for checks wrangle can repeat (http, tcp, exec).
    pub recheck: Option<Duration>,
    /// http and tcp only: each instance is probed on the probe's port plus its instance number
    /// (`WRANGLE_INSTANCE`), so that the probe reaches that instance and no other.
    pub per_instance: bool,
}

impl ReadyProbe {
    /// Consecutive failed rechecks that count as readiness lost: one failure can be a blip.
    pub const LOST_AFTER: u32 = 3;
}

/// How wrangle checks that a running instance still works (`live`): a hung process that keeps
/// its port open passes no readiness recheck, and is restarted by this.
#[derive(Debug, Clone)]
pub struct LiveProbe {
    /// An http, tcp or exec check (the config refuses log and notify: they cannot be repeated).
    pub check: ReadyCheck,
    /// The time between two attempts; the first one comes this long after the instance is ready.
    pub interval: Duration,
    /// The longest one attempt may take before it counts as failed.
    pub timeout: Duration,
    /// Consecutive failed attempts that restart the instance (at least 1).
    pub failures: u32,
    /// As [`ReadyProbe::per_instance`]: http and tcp checks reach each instance at the probe's
    /// port plus its number.
    pub per_instance: bool,
}

impl LiveProbe {
    /// Consecutive failures that restart an instance unless `failures` says otherwise.
    pub const DEFAULT_FAILURES: u32 = 3;
}

#[derive(Debug, Clone)]
pub enum ReadyCheck {
    /// GET this URL; ready on a 2xx status only (3xx is not ready).
    Http { url: String },
    /// Ready once a TCP connection to host:port succeeds.
    Tcp { host: String, port: u16 },
    /// Run this argv (in the service's cwd and env); ready when it exits 0.
    Exec { command: CommandSpec },
    /// Ready when a line of the service's output (stdout or stderr) matches.
    Log { pattern: regex::Regex },
    /// Ready when the service sends `READY=1` to `$NOTIFY_SOCKET` (systemd's sd_notify).
    Notify,
}

impl ReadyCheck {
    /// The check for one instance of a `per_instance` probe: the port of an http or tcp check
    /// moved up by the instance number (`None` when that leaves the range of ports). Any other
    /// check is the same for every instance.
    pub fn for_instance(&self, instance: u32) -> Option<ReadyCheck> {
        let shifted = |port: u16| {
            u16::try_from(u32::from(port) + instance)
                .ok()
                .filter(|port| *port != 0)
        };
        match self {
            ReadyCheck::Tcp { host, port } => Some(ReadyCheck::Tcp {
                host: host.clone(),
                port: shifted(*port)?,
            }),
            ReadyCheck::Http { url } => {
                let (scheme, rest) = url.split_at("http://".len().min(url.len()));
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (authority, tail) = rest.split_at(end);
                let (host, port) = match authority.rsplit_once(':') {
                    Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
                    _ => (authority, 80),
                };
                Some(ReadyCheck::Http {
                    url: format!("{scheme}{host}:{}{tail}", shifted(port)?),
                })
            }
            other => Some(other.clone()),
        }
    }

    /// A short description for progress and error messages, e.g. `http http://127.0.0.1:8080/health`.
    pub fn describe(&self) -> String {
        match self {
            ReadyCheck::Http { url } => format!("http {url}"),
            ReadyCheck::Tcp { host, port } => format!("tcp {host}:{port}"),
            ReadyCheck::Exec { command } => format!("exec {}", command.display()),
            ReadyCheck::Log { pattern } => format!("log /{}/", pattern.as_str()),
            ReadyCheck::Notify => "notify READY=1".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Never => "never",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartSpec {
    pub policy: RestartPolicy,
    /// Delay before the first restart; doubles with each quick crash in a row (with jitter).
    pub backoff_initial: Duration,
    /// Upper bound of the delay.
    pub backoff_max: Duration,
    /// More than this many quick crashes in a row, or restarts within `window`, mark the service
    /// failed (the crash-loop rule, `supervisor::engine::restart_rule`).
    pub max_restarts: u32,
    pub window: Duration,
    /// A run that lasts this long "stayed up": a crash after it is not a quick crash, and it
    /// resets the backoff. Zero turns the quick-crash rule off (only the window counts).
    pub min_uptime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSpec {
    /// Sent to the whole process tree first.
    pub signal: Signal,
    /// After this long, the whole tree gets SIGKILL.
    pub timeout: Duration,
}

/// A signal by number, with its conventional name. Kept as a number so `spec` needs no OS crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Signal {
    pub const HUP: Signal = Signal(1);
    pub const INT: Signal = Signal(2);
    pub const QUIT: Signal = Signal(3);
    pub const KILL: Signal = Signal(9);
    pub const USR1: Signal = Signal(10);
    pub const USR2: Signal = Signal(12);
    pub const TERM: Signal = Signal(15);

    /// Signals a user may name as `stop_signal`, by their Linux numbers.
    pub const NAMED: &'static [(&'static str, Signal)] = &[
        ("HUP", Signal::HUP),
        ("INT", Signal::INT),
        ("QUIT", Signal::QUIT),
        ("KILL", Signal::KILL),
        ("USR1", Signal::USR1),
        ("USR2", Signal::USR2),
        ("TERM", Signal::TERM),
        ("WINCH", Signal(28)),
    ];

    /// Parses `TERM`, `SIGTERM`, `sigterm` or `15`.
    pub fn parse(text: &str) -> Option<Signal> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some((_, signal)) = Signal::NAMED.iter().find(|(name, _)| *name == bare) {
            return Some(*signal);
        }
        match bare.parse::<i32>() {
            Ok(number) if (1..=64).contains(&number) => Some(Signal(number)),
            _ => None,
        }
    }

    /// `SIGTERM`, or `signal 42` for one without a conventional name here.
    pub fn name(self) -> String {
        match Signal::NAMED.iter().find(|(_, signal)| *signal == self) {
            Some((name, _)) => format!("SIG{name}"),
            None => match self.0 {
                6 => "SIGABRT".to_string(),
                11 => "SIGSEGV".to_string(),
                13 => "SIGPIPE".to_string(),
                14 => "SIGALRM".to_string(),
                other => format!("signal {other}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_parse_accepts_names_prefixes_and_numbers() {
        assert_eq!(Signal::parse("TERM"), Some(Signal::TERM));
        assert_eq!(Signal::parse("SIGINT"), Some(Signal::INT));
        assert_eq!(Signal::parse("sigquit"), Some(Signal::QUIT));
        assert_eq!(Signal::parse("9"), Some(Signal::KILL));
        assert_eq!(Signal::parse("SIGNOPE"), None);
        assert_eq!(Signal::parse("0"), None);
        assert_eq!(Signal::parse("65"), None);
    }

    #[test]
    fn command_display_quotes_arguments() {
        let command = CommandSpec {
            argv: vec!["echo".into(), "a b".into()],
            shell: false,
        };
        assert_eq!(command.display(), "echo 'a b'");
    }

    #[test]
    fn command_display_quotes_what_a_shell_would_read_otherwise() {
        let command = CommandSpec {
            argv: vec![
                "/usr/bin/env".into(),
                "--flag=1,2".into(),
                String::new(),
                "it's".into(),
                "$HOME".into(),
                "#x".into(),
                "ünï".into(),
            ],
            shell: false,
        };
        assert_eq!(
            command.display(),
            r#"/usr/bin/env --flag=1,2 '' 'it'\''s' '$HOME' '#x' 'ünï'"#
        );
    }
}
