//! Launching a run of a project: what the two front-ends that run one, the foreground
//! `wrangle up` (`cli::up`) and the daemon (`daemon`), both need before the supervisor starts,
//! and what a daemon leaves for the next command to find.
//!
//! [`prepare`] finds and loads the config, resolves the named services, takes the project lock,
//! recovers from a daemon that died without stopping its services ([`state`]), checks the
//! declared ports and binds the project's `[sockets]`; [`block_on_local`] builds the runtime a run needs. Failures are a
//! [`LaunchError`], which the command line renders into a message and an exit code: nothing here
//! prints. [`DETACHED_MARKER`] is the line by which a daemon tells `up -d` that it is up.
//!
//! Below both `cli` and `daemon`, so that `cli` starts the daemon (`daemon::run`) and the daemon
//! prepares its run the same way a foreground `up` does, without either importing the other.

pub mod clean;
pub mod state;

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, ConfigError};
use crate::exit;
use crate::paths::{Home, PathsError, ProjectPaths};
use crate::preflight::{self, PreflightError};
use crate::spec::{ProjectSpec, ServiceId};
use crate::sys::lock::{self, ProjectLock};
use crate::sys::sockets::BoundSockets;

/// The daemon's last line to `up -d`: it is up and detached, followed by its pid. A NUL first
/// byte cannot start a line of relayed service output (those start with the service's name).
pub const DETACHED_MARKER: &str = "\0wrangle-daemon-detached";

/// A project ready to run: loaded, checked, locked, its ports free, its sockets bound.
pub struct Prepared {
    pub spec: Arc<ProjectSpec>,
    /// How the config file was chosen: `apply` reads it again under the same trust rule.
    pub origin: config::Origin,
    pub selected: Vec<ServiceId>,
    pub paths: ProjectPaths,
    /// Held for the whole run; the kernel releases it when the process ends, however it ends.
    pub lock: ProjectLock,
    /// The project's `[sockets]`, listening for the whole run (services receive them). Drop
    /// them before the lock: their Unix files go, and a run started right after finds nothing
    /// in its way.
    pub sockets: Arc<BoundSockets>,
}

/// Why a run cannot be launched. [`LaunchError::exit_code`] is the code `wrangle up` exits with.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No config was found, or it is invalid: every problem, located (render it with
    /// [`ConfigError::render`] to choose colour).
    #[error("{}", .0.render(false))]
    Config(#[from] ConfigError),
    /// A service named on the command line does not exist.
    #[error("{0}")]
    UnknownService(String),
    /// The project's private directory cannot be used.
    #[error(transparent)]
    Paths(#[from] PathsError),
    /// Another wrangle runs the project, a declared port is held, or a socket cannot be bound.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] io::Error),
    /// A daemon taking over a run cannot use what the sentinel held for it.
    #[error("cannot take over the run: {0}")]
    Succession(String),
}

impl LaunchError {
    pub fn exit_code(&self) -> u8 {
        match self {
            LaunchError::Config(_) | LaunchError::UnknownService(_) | LaunchError::Paths(_) => {
                exit::INVALID
            }
            LaunchError::Preflight(error) if error.is_refusal() => exit::PREFLIGHT_REFUSED,
            LaunchError::Preflight(_) | LaunchError::Runtime(_) | LaunchError::Succession(_) => {
                exit::SERVICE_FAILED
            }
        }
    }
}

/// Loads the config (`file`, or the one found from the current directory upwards), resolves
/// the named services, takes the project lock, recovers from a dead daemon, checks ports and
/// binds the project's sockets.
///
/// What the user should know on the way (the config's warnings, rendered in colour when
/// `color`, and what recovery did) is handed to `notice` as it happens, so it comes before an
/// error that stops the launch later.
pub fn prepare(
    file: Option<PathBuf>,
    profiles: &[String],
    services: &[String],
    color: bool,
    notice: &mut dyn FnMut(String),
) -> Result<Prepared, LaunchError> {
    let Locked {
        spec,
        origin,
        selected,
        paths,
        lock,
    } = lock_project(file, profiles, services, color, notice)?;
    preflight::check_ports(&spec, &run_ids(&spec, &selected))?;
    let sockets = preflight::bind_sockets(&spec)?;
    Ok(Prepared {
        spec,
        origin,
        selected,
        paths,
        lock,
        sockets: Arc::new(sockets),
    })
}

/// A project loaded and locked, nothing checked or bound yet: what `wrangle clean` needs.
pub struct Locked {
    pub spec: Arc<ProjectSpec>,
    /// How the config file was chosen (see [`Prepared`]).
    pub origin: config::Origin,
    pub selected: Vec<ServiceId>,
    pub paths: ProjectPaths,
    /// Held while the caller works; the kernel releases it when the process ends.
    pub lock: ProjectLock,
}

/// The first steps of [`prepare`]: loads the config, resolves the named services, takes the
/// project lock and recovers from a dead daemon.
pub fn lock_project(
    file: Option<PathBuf>,
    profiles: &[String],
    services: &[String],
    color: bool,
    notice: &mut dyn FnMut(String),
) -> Result<Locked, LaunchError> {
    let origin = match file {
        Some(_) => config::Origin::Named,
        None => config::Origin::Discovered,
    };
    let spec = Arc::new(load(file, profiles, color, notice)?);
    let selected = select(&spec, services).map_err(LaunchError::UnknownService)?;
    let paths = Home::from_env()?.project(&spec.source)?;
    let lock = preflight::acquire_lock(&paths, &spec.source)?;
    // We hold the lock: a record left in the state file is a dead daemon's (see `state`).
    if let Some(recovered) = state::recover(&paths.state_file).message() {
        notice(recovered);
    }
    Ok(Locked {
        spec,
        origin,
        selected,
        paths,
        lock,
    })
}

/// [`prepare`] for a daemon taking over the run of one that died (see `sys::sentinel`): the
/// config is loaded again, but the lock and the sockets are the ones the sentinel held (`lock`,
/// `sockets`, by index), and there is nothing to recover and no port to check: the services
/// that hold them are the run's own.
pub fn prepare_successor(
    file: Option<PathBuf>,
    profiles: &[String],
    services: &[String],
    lock: std::os::fd::OwnedFd,
    mut sockets: Vec<(usize, std::os::fd::OwnedFd)>,
) -> Result<Prepared, LaunchError> {
    let origin = match file {
        Some(_) => config::Origin::Named,
        None => config::Origin::Discovered,
    };
    // The services it adopts hold the ports their predecessor picked: keep them.
    let spec = Arc::new(load_with(
        file,
        profiles,
        false,
        &mut |_| {},
        config_trust()?,
        Ports::KeepRecorded,
    )?);
    let selected = select(&spec, services).map_err(LaunchError::UnknownService)?;
    let paths = Home::from_env()?.project(&spec.source)?;
    let lock = ProjectLock::adopt(lock, &paths.lock_file)
        .map_err(|error| LaunchError::Succession(format!("the project lock: {error}")))?;
    let mut bound = Vec::with_capacity(spec.sockets.len());
    for (index, socket) in spec.sockets.iter().enumerate() {
        let held = sockets
            .iter()
            .position(|(held, _)| *held == index)
            .map(|at| sockets.swap_remove(at).1);
        let listener = match (&socket.listen, held) {
            (crate::spec::ListenAddress::Tcp(_), Some(fd)) => {
                crate::sys::sockets::Listener::Tcp(fd)
            }
            (crate::spec::ListenAddress::Unix(unix), Some(fd)) => {
                crate::sys::sockets::Listener::Unix(
                    crate::sys::sockets::UnixSocket::adopt(fd, &unix.path)
                        .map_err(|error| LaunchError::Succession(error.to_string()))?,
                )
            }
            (_, None) => {
                return Err(LaunchError::Succession(format!(
                    "the sentinel holds no socket {} (the config changed?)",
                    socket.name
                )));
            }
        };
        bound.push((socket.name.clone(), listener));
    }
    Ok(Prepared {
        spec,
        origin,
        selected,
        paths,
        lock,
        sockets: Arc::new(BoundSockets::new(bound)),
    })
}

/// Finds (unless `file` names it) and loads the project's config under the trust rule, with
/// the `profiles` selected, handing its warnings to `notice`: the first step of [`prepare`], and
/// all that `wrangle export` needs.
pub fn load(
    file: Option<PathBuf>,
    profiles: &[String],
    color: bool,
    notice: &mut dyn FnMut(String),
) -> Result<ProjectSpec, LaunchError> {
    load_with(file, profiles, color, notice, config_trust()?, Ports::Pick)
}

/// [`load`] for `wrangle export`: `user` and `group` are taken as written (they name accounts
/// of the machine the output is for).
pub fn load_for_export(
    file: Option<PathBuf>,
    profiles: &[String],
    color: bool,
    notice: &mut dyn FnMut(String),
) -> Result<ProjectSpec, LaunchError> {
    load_with(
        file,
        profiles,
        color,
        notice,
        config_trust()?.exporting(),
        Ports::Pick,
    )
}

fn load_with(
    file: Option<PathBuf>,
    profiles: &[String],
    color: bool,
    notice: &mut dyn FnMut(String),
    trust: config::Trust,
    keep: Ports,
) -> Result<ProjectSpec, LaunchError> {
    let (config_path, origin) = match file {
        Some(path) => (path, config::Origin::Named),
        None => (
            config::discover(&current_dir())?,
            config::Origin::Discovered,
        ),
    };
    let trust = match keep {
        Ports::Pick => trust,
        Ports::KeepRecorded => trust.with_kept_ports(recorded_ports(&config_path)),
    };
    let loaded = config::load_with_profiles(&config_path, origin, &trust, profiles)?;
    for warning in &loaded.warnings {
        notice(warning.render(color));
    }
    Ok(loaded.spec)
}

/// Where `port = "auto"` and ranges get their port when the config is loaded.
enum Ports {
    /// Free ones, picked now.
    Pick,
    /// Those the project's record says its services have (where they still fit), else free ones.
    KeepRecorded,
}

/// The ports the project's record (of its running wrangle, or the last one) says each service
/// with one port has: what `port = "auto"` keeps for a successor and for the commands about a
/// running project (`run`, `ports`, `graph`). Empty when there is no record.
pub fn recorded_ports(config: &Path) -> BTreeMap<String, u16> {
    let Ok(paths) = Home::from_env().and_then(|home| home.project(config)) else {
        return BTreeMap::new();
    };
    let Some(record) = state::read(&paths.state_file) else {
        return BTreeMap::new();
    };
    record
        .services
        .iter()
        .filter_map(|service| match service.ports.as_slice() {
            [port] => Some((service.service.clone(), *port)),
            _ => None,
        })
        .collect()
}

/// Each service's port, for those with one: what `apply` keeps of `port = "auto"`.
pub fn ports_of(spec: &ProjectSpec) -> BTreeMap<String, u16> {
    spec.services
        .iter()
        .filter_map(|service| match service.ports.as_slice() {
            [port] => Some((service.name.clone(), *port)),
            _ => None,
        })
        .collect()
}

/// How a run's config file was chosen (`-f`, or found upwards), which decides how far it is
/// trusted; `apply` reads it again under the same rule.
pub use config::Origin;

/// The config at `path` read again, as [`load`] read it first, with the same `profiles`
/// (`apply`); `port = "auto"` and ranges keep `kept_ports` where they still fit.
pub fn load_again(
    path: &Path,
    origin: Origin,
    profiles: &[String],
    kept_ports: BTreeMap<String, u16>,
) -> Result<ProjectSpec, LaunchError> {
    let trust = config_trust()?.with_kept_ports(kept_ports);
    Ok(config::load_with_profiles(path, origin, &trust, profiles)?.spec)
}

/// The services a run of `selected` starts: those and everything they depend on, in
/// declaration order.
pub fn run_ids(spec: &ProjectSpec, selected: &[ServiceId]) -> Vec<ServiceId> {
    let run_set = crate::supervisor::graph::selection(spec, selected);
    (0..spec.services.len()).filter(|id| run_set[*id]).collect()
}

/// Who loads the config (the effective user and group), the directories they trust beyond
/// the config's rule (`WRANGLE_TRUSTED_DIRS`), and the environment `${VAR}` reads.
pub fn config_trust() -> Result<config::Trust, ConfigError> {
    let trust = config::Trust::new(
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
    .with_user_names(crate::sys::process_table::user_name)
    .with_accounts(config::Accounts {
        user: |text| {
            crate::sys::accounts::user(text).map(|user| config::UserEntry {
                name: user.name,
                uid: user.uid,
                gid: user.gid,
                home: user.home,
            })
        },
        group: crate::sys::accounts::group,
        groups_of: crate::sys::accounts::groups_of,
    })
    .with_port_picker(crate::sys::ports::pick_free)
    .with_environment(
        // `${VAR}` in the config: a variable that is not UTF-8 is as good as unset.
        std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect(),
    );
    match std::env::var_os(config::TRUSTED_DIRS_VAR) {
        Some(value) => trust.with_trusted_dirs(&value),
        None => Ok(trust),
    }
}

/// For a command that only talks to a project's daemon: when a daemon died without cleaning up
/// (its state file is there but nobody holds the lock), stops what it left behind and says what
/// it did. The lock is taken for the duration, so a daemon starting at the same moment cannot
/// have its fresh record mistaken for the dead one's.
pub fn recover_abandoned(paths: &ProjectPaths) -> Option<String> {
    if !paths.state_file.exists() {
        return None;
    }
    let _lock = lock::try_lock(&paths.lock_file).ok()?;
    state::recover(&paths.state_file).message()
}

/// Runs `future` on a current-thread runtime with a `LocalSet`, on this (the main) thread: the
/// supervisor is built on `Rc` and spawns with `spawn_local`, and the main thread is the one
/// that lives as long as wrangle (see `sys::spawn` on `PR_SET_PDEATHSIG`).
pub fn block_on_local<T>(future: impl Future<Output = T>) -> Result<T, LaunchError> {
    let runtime = runtime()?;
    Ok(tokio::task::LocalSet::new().block_on(&runtime, future))
}

/// A current-thread runtime with every driver enabled (IO, time, signals).
pub fn runtime() -> Result<tokio::runtime::Runtime, LaunchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LaunchError::Runtime)
}

/// Where to look for the config from: the current directory, or `.` when it is gone.
fn current_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf())
}

/// Maps service names from the command line to ids; unknown names get a suggestion.
pub fn select(spec: &ProjectSpec, names: &[String]) -> Result<Vec<ServiceId>, String> {
    names
        .iter()
        .map(|name| {
            spec.service_id(name).ok_or_else(|| {
                let known: Vec<&str> = spec
                    .services
                    .iter()
                    .map(|service| service.name.as_str())
                    .collect();
                let suggestion = known
                    .iter()
                    .filter(|candidate| strsim::levenshtein(name, candidate) <= 2)
                    .min_by_key(|candidate| strsim::levenshtein(name, candidate))
                    .map(|candidate| format!(" (did you mean \"{candidate}\"?)"))
                    .unwrap_or_default();
                format!(
                    "no service named \"{name}\" in {}{suggestion}\n  services: {}",
                    spec.source.display(),
                    known.join(", ")
                )
            })
        })
        .collect()
}
