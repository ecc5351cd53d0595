//! `wrangle startup` and `wrangle unstartup`: a systemd unit that brings a project's daemon up
//! at boot (or, with `--saved`, every project `wrangle save` recorded), and its removal.
//!
//! The project's unit is `Type=notify`: its `ExecStart=` is `wrangle up -d`, whose daemon says
//! `READY=1` once every service is ready, naming its sentinel as the unit's main process
//! (`daemon::sd_notify`); `ExecStop=` is `wrangle down`; systemd restarts the unit when the run
//! ends in failure (`Restart=on-failure`). The `--saved` unit is a `oneshot` that runs
//! `wrangle resurrect` (each project's `up -d` waits for its readiness) and `wrangle down
//! --saved` at stop.
//!
//! The unit is written to systemd's directory for system units (`/etc/systemd/system`) or for
//! the user's manager (`$XDG_CONFIG_HOME/systemd/user`), or to `WRANGLE_SYSTEMD_DIR` when set
//! (tests, and packaging into another root). A unit file is only ever replaced or removed when
//! it starts with [`MARKER`]: one wrangle did not write is left alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::exit;

/// The first line of every unit `startup` writes.
pub const MARKER: &str = "# Written by `wrangle startup`";

/// Overrides the directory units are written to (and skips `systemctl`).
pub const SYSTEMD_DIR_VAR: &str = "WRANGLE_SYSTEMD_DIR";

/// What exists when systemd is the running init system (sd_booted(3)).
const SYSTEMD_RUNNING: &str = "/run/systemd/system";

#[derive(Debug, Args)]
pub struct StartupArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// A system unit (the default as root), run as the invoking user unless --as says.
    #[arg(long, conflicts_with = "user")]
    pub system: bool,
    /// A unit of your user's manager (the default when not root); see the message about
    /// lingering, without which it starts at your first login rather than at boot.
    #[arg(long)]
    pub user: bool,
    /// With --system: the user the daemon runs as.
    #[arg(long = "as", value_name = "USER", requires = "system")]
    pub run_as: Option<String>,
    /// Write the unit to standard output and change nothing (works without systemd).
    #[arg(long)]
    pub print: bool,
    /// One unit for the user that runs `wrangle resurrect` at boot (the projects `wrangle save`
    /// recorded) instead of one for this project.
    #[arg(long)]
    pub saved: bool,
}

#[derive(Debug, Args)]
pub struct UnstartupArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// The system unit (the default as root).
    #[arg(long, conflicts_with = "user")]
    pub system: bool,
    /// The user manager's unit (the default when not root).
    #[arg(long)]
    pub user: bool,
    /// The `--saved` unit instead of this project's.
    #[arg(long)]
    pub saved: bool,
}

/// Which service manager a unit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    System,
    User,
}

impl Scope {
    fn choose(system: bool, user: bool) -> Scope {
        match (system, user) {
            (true, _) => Scope::System,
            (_, true) => Scope::User,
            _ if crate::sys::accounts::running_as_root() => Scope::System,
            _ => Scope::User,
        }
    }

    fn systemctl_args(self) -> &'static [&'static str] {
        match self {
            Scope::System => &[],
            Scope::User => &["--user"],
        }
    }
}

/// Everything a unit says, decided before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPlan {
    pub scope: Scope,
    /// wrangle's own executable, absolute.
    pub exe: PathBuf,
    /// The project's config (canonical), or `None` for the `--saved` unit.
    pub config: Option<PathBuf>,
    /// The directory the daemon starts in.
    pub working_directory: PathBuf,
    /// System units: the user (and its group) the daemon runs as.
    pub user: Option<String>,
    /// `WRANGLE_HOME` and `XDG_STATE_HOME` as the installing shell has them, so the daemon's
    /// state is where `wrangle ps` looks for it.
    pub environment: Vec<(String, String)>,
}

impl UnitPlan {
    /// The unit's file name: `wrangle-<project dir>-<hash>.service` (the name of the project's
    /// state directory), or `wrangle-saved.service`.
    pub fn file_name(&self) -> String {
        match &self.config {
            Some(config) => format!("wrangle-{}.service", crate::paths::project_dir_name(config)),
            None => "wrangle-saved.service".to_string(),
        }
    }

    /// The unit file's text.
    pub fn render(&self) -> Result<String, String> {
        let exe = self.exe.to_string_lossy().into_owned();
        let command = |args: &[&str]| {
            let mut argv = vec![exe.clone()];
            argv.extend(args.iter().map(|arg| arg.to_string()));
            crate::export::systemd_command_line(&argv)
        };
        let mut text = String::new();
        let mut line = |line: String| {
            text.push_str(&line);
            text.push('\n');
        };
        line(MARKER.to_string());
        let description = match &self.config {
            Some(config) => format!(
                "wrangle: the project {}",
                crate::export::systemd_path(config, "the config path")?
            ),
            None => "wrangle: the projects `wrangle save` recorded".to_string(),
        };
        line("# `wrangle unstartup` removes it.".to_string());
        line(String::new());
        line("[Unit]".to_string());
        line(format!("Description={description}"));
        if self.scope == Scope::System {
            line("Wants=network-online.target".to_string());
            line("After=network-online.target".to_string());
        }
        line(String::new());
        line("[Service]".to_string());
        match &self.config {
            Some(config) => {
                let config = config.to_string_lossy().into_owned();
                line("Type=notify".to_string());
                // The daemon below `up -d` sends READY=1 and names its sentinel as the main
                // process (MAINPID=).
                line("NotifyAccess=all".to_string());
                line(format!(
                    "ExecStart={}",
                    command(&["up", "-d", "-f", &config])
                ));
                line(format!("ExecStop={}", command(&["down", "-f", &config])));
                line("Restart=on-failure".to_string());
                line("RestartSec=5s".to_string());
                // Every service must be ready first; `up -d` gives up on its own when a probe's
                // timeout passes.
                line("TimeoutStartSec=infinity".to_string());
            }
            None => {
                line("Type=oneshot".to_string());
                line("RemainAfterExit=yes".to_string());
                line(format!("ExecStart={}", command(&["resurrect"])));
                line(format!("ExecStop={}", command(&["down", "--saved"])));
                line("TimeoutStartSec=infinity".to_string());
            }
        }
        // `wrangle down` stops the services in dependency order; systemd only cleans up what
        // is left after it.
        line("KillMode=mixed".to_string());
        line("TimeoutStopSec=5min".to_string());
        line(format!(
            "WorkingDirectory={}",
            crate::export::systemd_path(&self.working_directory, "the working directory")?
        ));
        if let Some(user) = &self.user {
            line(format!("User={user}"));
        }
        for (name, value) in &self.environment {
            line(format!(
                "Environment={}",
                crate::export::systemd_quoted(&format!("{name}={value}"))
            ));
        }
        line(String::new());
        line("[Install]".to_string());
        line(match self.scope {
            Scope::System => "WantedBy=multi-user.target".to_string(),
            Scope::User => "WantedBy=default.target".to_string(),
        });
        Ok(text)
    }
}

pub fn startup(file: Option<PathBuf>, args: StartupArgs) -> u8 {
    let scope = Scope::choose(args.system, args.user);
    let plan = match plan(file, &args, scope) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::INVALID;
        }
    };
    let text = match plan.render() {
        Ok(text) => text,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::INVALID;
        }
    };
    if args.print {
        let mut stdout = std::io::stdout().lock();
        return match stdout.write_all(text.as_bytes()) {
            Ok(()) => exit::SUCCESS,
            Err(_) => exit::SERVICE_FAILED,
        };
    }
    let target = match unit_dir(scope) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::PREFLIGHT_REFUSED;
        }
    };
    let path = target.dir.join(plan.file_name());
    if let Err(message) = write_unit(&target.dir, &path, &text) {
        eprintln!("error: {message}");
        return exit::SERVICE_FAILED;
    }
    crate::stdout::line(format!("wrangle  * wrote {}", path.display()));
    if target.systemctl {
        let name = plan.file_name();
        for args in [vec!["daemon-reload"], vec!["enable", name.as_str()]] {
            if let Err(message) = systemctl(scope, &args) {
                eprintln!("error: {message}");
                return exit::SERVICE_FAILED;
            }
        }
        crate::stdout::line(format!("wrangle  * enabled {name}: it starts at boot"));
        let user = scope.systemctl_args().join(" ");
        let user = if user.is_empty() {
            user
        } else {
            format!("{user} ")
        };
        crate::stdout::line(format!(
            "wrangle  * to hand a running project to it now: `wrangle down`, then `systemctl {user}start {name}`"
        ));
    }
    if scope == Scope::User {
        let name = crate::sys::process_table::user_name(crate::sys::accounts::effective_uid());
        crate::stdout::line(format!(
            "wrangle  * a user unit starts when {name} logs in; to start it at boot without a login, enable lingering: `loginctl enable-linger {name}`"
        ));
    }
    exit::SUCCESS
}

pub fn unstartup(file: Option<PathBuf>, args: UnstartupArgs) -> u8 {
    let scope = Scope::choose(args.system, args.user);
    let file_name = match args.saved {
        true => "wrangle-saved.service".to_string(),
        false => match config_path(file) {
            Ok(config) => format!(
                "wrangle-{}.service",
                crate::paths::project_dir_name(&config)
            ),
            Err(message) => {
                eprintln!("error: {message}");
                return exit::INVALID;
            }
        },
    };
    let target = match unit_dir(scope) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::PREFLIGHT_REFUSED;
        }
    };
    let path = target.dir.join(&file_name);
    match std::fs::symlink_metadata(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            crate::stdout::line(format!("wrangle  * no unit {} to remove", path.display()));
            return exit::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", path.display());
            return exit::SERVICE_FAILED;
        }
        Ok(_) => {}
    }
    if let Err(message) = check_ours(&path) {
        eprintln!("error: {message}");
        return exit::SERVICE_FAILED;
    }
    if target.systemctl
        && let Err(message) = systemctl(scope, &["disable", file_name.as_str()])
    {
        eprintln!("error: {message}");
        return exit::SERVICE_FAILED;
    }
    if let Err(error) = std::fs::remove_file(&path) {
        eprintln!("error: cannot remove {}: {error}", path.display());
        return exit::SERVICE_FAILED;
    }
    if target.systemctl
        && let Err(message) = systemctl(scope, &["daemon-reload"])
    {
        eprintln!("error: {message}");
        return exit::SERVICE_FAILED;
    }
    crate::stdout::line(format!("wrangle  * removed {}", path.display()));
    exit::SUCCESS
}

fn plan(file: Option<PathBuf>, args: &StartupArgs, scope: Scope) -> Result<UnitPlan, String> {
    let exe = std::env::current_exe()
        .map_err(|error| format!("cannot find wrangle's own executable: {error}"))?;
    let config = match args.saved {
        true => None,
        false => Some(config_path(file)?),
    };
    let working_directory = match &config {
        Some(config) => config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/")),
        None => PathBuf::from("/"),
    };
    let user = match scope {
        Scope::User => None,
        Scope::System => Some(match &args.run_as {
            Some(name) => {
                let valid = crate::sys::accounts::user(name).is_some();
                if !valid {
                    return Err(format!("--as {name}: no such user on this machine"));
                }
                name.clone()
            }
            None => crate::sys::process_table::user_name(crate::sys::accounts::effective_uid()),
        }),
    };
    let environment = ["WRANGLE_HOME", "XDG_STATE_HOME"]
        .into_iter()
        .filter_map(|name| {
            let value = std::env::var(name).ok()?;
            let absolute = std::path::absolute(&value).ok()?;
            Some((name.to_string(), absolute.to_string_lossy().into_owned()))
        })
        .collect();
    Ok(UnitPlan {
        scope,
        exe,
        config,
        working_directory,
        user,
        environment,
    })
}

/// The project's config, found as every command finds it, canonical.
fn config_path(file: Option<PathBuf>) -> Result<PathBuf, String> {
    let path = match file {
        Some(path) => path,
        None => {
            let cwd = std::env::current_dir()
                .map_err(|error| format!("cannot read the current directory: {error}"))?;
            crate::config::discover(&cwd).map_err(|error| error.render(false))?
        }
    };
    path.canonicalize()
        .map_err(|error| format!("cannot find {}: {error}", path.display()))
}

/// Where units go, and whether systemd is there to be told.
struct UnitDir {
    dir: PathBuf,
    systemctl: bool,
}

fn unit_dir(scope: Scope) -> Result<UnitDir, String> {
    if let Some(dir) = std::env::var_os(SYSTEMD_DIR_VAR).filter(|dir| !dir.is_empty()) {
        return Ok(UnitDir {
            dir: PathBuf::from(dir),
            systemctl: false,
        });
    }
    if !Path::new(SYSTEMD_RUNNING).is_dir() {
        return Err(format!(
            "systemd is not running here ({SYSTEMD_RUNNING} does not exist), so there is no \
             unit to install\n  instead: start `wrangle up -d` from this machine's init system \
             or container entrypoint (`wrangle resurrect` for the projects `wrangle save` \
             recorded), or see the unit with `wrangle startup --print`"
        ));
    }
    let dir = match scope {
        Scope::System => PathBuf::from("/etc/systemd/system"),
        Scope::User => {
            let config = std::env::var_os("XDG_CONFIG_HOME")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config"))
                })
                .ok_or("neither XDG_CONFIG_HOME nor HOME is set: where do your units go?")?;
            config.join("systemd/user")
        }
    };
    Ok(UnitDir {
        dir,
        systemctl: true,
    })
}

/// Refuses to touch a file at `path` that is not a regular file wrangle wrote (its first line
/// is [`MARKER`]) or that is not owned by us.
fn check_ours(path: &Path) -> Result<(), String> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::symlink_metadata(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if !metadata.file_type().is_file() {
        return Err(format!(
            "{} is not a regular file: left alone",
            path.display()
        ));
    }
    if metadata.uid() != crate::sys::accounts::effective_uid() {
        return Err(format!(
            "{} belongs to another user: left alone",
            path.display()
        ));
    }
    let mut head = vec![0u8; MARKER.len()];
    let mut file = std::fs::File::open(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let read = file.read(&mut head).unwrap_or(0);
    if &head[..read] != MARKER.as_bytes() {
        return Err(format!(
            "{} was not written by `wrangle startup`: left alone (remove it yourself)",
            path.display()
        ));
    }
    Ok(())
}

/// Writes the unit: the directory is created as needed; an existing file is replaced only when
/// wrangle wrote it.
fn write_unit(dir: &Path, path: &Path, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    if std::fs::symlink_metadata(path).is_ok() {
        check_ours(path)?;
    }
    crate::sys::file::replace(path, text.as_bytes())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// `systemctl [--user] ARGS`, which must succeed.
fn systemctl(scope: Scope, args: &[&str]) -> Result<(), String> {
    let output = std::process::Command::new("systemctl")
        .args(scope.systemctl_args())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| format!("cannot run systemctl: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "systemctl {} {} failed: {}",
        scope.systemctl_args().join(" "),
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}
