//! `wrangle run SERVICE -- CMD [ARGS...]`: a one-off command in a service's environment and
//! working directory (its `env`, env files and `PORT`, as the service would get them), with what
//! the service depends on started first if it is not running; exits with the command's code.
//!
//! The dependencies are started by the wrangle that runs the project, if one does (a daemon or
//! a foreground `up`: `wrangle start DEP...` against it), or else by a daemon started for them
//! alone (`wrangle up -d DEP...`), which is left running for the next command, as
//! `docker compose run` leaves its dependencies (`wrangle down` stops it). Either way their
//! output goes to standard error, so the command's standard output is its own. The service
//! itself is not started: the command runs in its place.
//!
//! The command gets wrangle's standard input, output and terminal, and runs as the user who runs
//! wrangle (as services do). A Ctrl+C on the terminal reaches it directly: wrangle ignores it
//! and passes on how the command ended; SIGTERM and SIGHUP sent to wrangle are passed on to it
//! (through a pidfd, so never to another process). Like a command run from a shell, it is not
//! stopped if wrangle itself is killed.
//!
//! Exit code: the command's (128 + N when signal N ended it); 2 for an unknown service or a
//! command that cannot be started; the start's code (1, 3, 4) when a dependency did not start.

use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::Args;
use tokio::signal::unix::{SignalKind, signal};

use crate::api::client::{Client, ClientError};
use crate::cli::project;
use crate::cli::status::client_failure;
use crate::environment::MANAGER_VARIABLES;
use crate::exit;
use crate::launch;
use crate::spec::ServiceSpec;
use crate::sys::child::{ChildHandle, Signal};
use crate::sys::tree::{RUN_VAR, SERVICE_VAR};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    #[command(flatten)]
    pub profile: crate::cli::ProfileArgs,
    /// The service whose environment and working directory the command runs in.
    #[arg(value_name = "SERVICE")]
    pub service: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

pub fn run(file: Option<PathBuf>, args: RunArgs) -> u8 {
    let profiles = args.profile.selected();
    let spec = match project::load_spec(file.clone(), &profiles) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    let service = match launch::select(&spec, std::slice::from_ref(&args.service)) {
        Ok(ids) => &spec.services[ids[0]],
        Err(message) => {
            eprintln!("error: {message}");
            return exit::INVALID;
        }
    };
    let dependencies: Vec<String> = service
        .depends_on
        .iter()
        .map(|dependency| spec.services[dependency.service].name.clone())
        .collect();
    if !dependencies.is_empty() {
        let code = start_dependencies(file, &profiles, &dependencies);
        if code != exit::SUCCESS {
            return code;
        }
    }
    run_command(service, &args.command)
}

/// Starts `dependencies` through the running wrangle, or in a new daemon when none runs; the
/// exit code of that start.
fn start_dependencies(file: Option<PathBuf>, profiles: &[String], dependencies: &[String]) -> u8 {
    let project = match project::locate(file.clone()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let mut argv: Vec<String> = Vec::new();
    if let Some(file) = &file {
        argv.push("-f".to_string());
        argv.push(file.to_string_lossy().into_owned());
    }
    match project::block_on(client.status()) {
        Ok(Ok(_)) => argv.push("start".to_string()),
        Ok(Err(ClientError::NotRunning)) => {
            eprintln!(
                "wrangle: no wrangle runs this project: starting {} in a daemon (`wrangle down` stops it)",
                dependencies.join(", ")
            );
            argv.extend(["up".to_string(), "-d".to_string()]);
            argv.extend(
                profiles
                    .iter()
                    .map(|profile| format!("--profile={profile}")),
            );
        }
        Ok(Err(error)) => return client_failure(&project, &error),
        Err(code) => return code,
    }
    argv.push("--".to_string());
    argv.extend(dependencies.iter().cloned());
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("error: cannot find wrangle's own executable: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    // Its output on our standard error: the command's standard output stays the command's.
    let stdout = match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(stderr) => Stdio::from(stderr),
        Err(error) => {
            eprintln!("error: cannot pass on standard error: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    match Command::new(exe)
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(stdout)
        .status()
    {
        Ok(status) => match status.code() {
            Some(0) => exit::SUCCESS,
            Some(code) => u8::try_from(code).unwrap_or(exit::SERVICE_FAILED),
            None => exit::SERVICE_FAILED,
        },
        Err(error) => {
            eprintln!("error: cannot start the dependencies: {error}");
            exit::SERVICE_FAILED
        }
    }
}

/// Runs `command` in `service`'s environment and working directory to its end; its exit code.
fn run_command(service: &ServiceSpec, command: &[String]) -> u8 {
    let program = &command[0];
    let mut builder = Command::new(program);
    builder
        .args(&command[1..])
        .current_dir(&service.cwd)
        .envs(&service.env)
        // Never taken for a member of a run.
        .env_remove(RUN_VAR)
        .env_remove(SERVICE_VAR);
    // Nothing of a service manager's protocol that describes wrangle.
    for variable in MANAGER_VARIABLES {
        builder.env_remove(variable);
    }
    let mut child = match builder.spawn() {
        Ok(child) => child,
        Err(error) => {
            let reason = match error.kind() {
                std::io::ErrorKind::NotFound => format!("command not found: {program}"),
                std::io::ErrorKind::PermissionDenied => format!("permission denied: {program}"),
                _ => format!("cannot run {program}: {error}"),
            };
            eprintln!("error: {reason}");
            return exit::INVALID;
        }
    };
    // Opened while the child is unreaped, so it names this process for as long as it is held.
    let handle = ChildHandle::of(&child);
    let waited = launch::block_on_local(async move {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let mut waiting = tokio::task::spawn_blocking(move || child.wait());
        loop {
            let forward = tokio::select! {
                status = &mut waiting => {
                    return status.map_err(std::io::Error::other).and_then(|waited| waited);
                }
                // The terminal sends these to the command too: it decides.
                _ = interrupt.recv() => None,
                _ = quit.recv() => None,
                _ = terminate.recv() => Some(Signal::TERM),
                _ = hangup.recv() => Some(Signal::HUP),
            };
            if let (Some(signal), Some(handle)) = (forward, &handle) {
                handle.signal(signal);
            }
        }
    });
    match waited {
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => u8::try_from(code).unwrap_or(exit::SERVICE_FAILED),
            (None, Some(signal)) => 128u8.saturating_add(u8::try_from(signal).unwrap_or(0)),
            (None, None) => exit::SERVICE_FAILED,
        },
        Ok(Err(error)) => {
            eprintln!("error: cannot wait for {program}: {error}");
            exit::SERVICE_FAILED
        }
        Err(error) => crate::cli::launch_failed(&error),
    }
}
