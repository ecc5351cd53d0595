//! Finding the project a command is about: its config file and its private directory, without
//! requiring the config to be valid (a broken config must not stop `ps` or `down` from
//! reaching a daemon that runs the last good one).

use std::path::PathBuf;

use crate::config;
use crate::exit;
use crate::paths::{Home, ProjectPaths};

pub struct Project {
    pub config: PathBuf,
    pub paths: ProjectPaths,
}

/// The project of `-f PATH`, or of the config found from the current directory upwards.
/// Prints the reason and returns the exit code when there is none.
pub fn locate(file: Option<PathBuf>) -> Result<Project, u8> {
    let config = match file {
        Some(path) => path,
        None => {
            let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            match config::discover(&start) {
                Ok(path) => path,
                Err(error) => {
                    eprintln!("{}", error.render(false));
                    return Err(exit::INVALID);
                }
            }
        }
    };
    match Home::from_env().and_then(|home| home.project(&config)) {
        Ok(paths) => {
            recover_if_abandoned(&paths);
            Ok(Project { config, paths })
        }
        Err(error) => {
            eprintln!("error: {error}");
            Err(exit::INVALID)
        }
    }
}

/// When a daemon died without cleaning up (its state file is there but nobody holds the lock),
/// stops what it left behind before the command goes on, and says so. The lock is taken for the
/// duration, so a daemon starting at the same moment cannot have its fresh record mistaken for
/// the dead one's.
fn recover_if_abandoned(paths: &ProjectPaths) {
    if !paths.state_file.exists() {
        return;
    }
    let Ok(_lock) = crate::sys::lock::try_lock(&paths.lock_file) else {
        return;
    };
    if let Some(message) = crate::daemon::state::recover(&paths.state_file).message() {
        eprintln!("{message}");
    }
}

/// A current-thread runtime for a client command.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, u8> {
    Ok(runtime()?.block_on(future))
}

/// A current-thread runtime with a `LocalSet`, on this (the main) thread, for a run of the
/// supervisor: it is built on `Rc` and spawns with `spawn_local`, and the main thread is the one
/// that lives as long as wrangle (see `sys::spawn` on `PR_SET_PDEATHSIG`).
pub fn block_on_local<T>(future: impl std::future::Future<Output = T>) -> Result<T, u8> {
    let runtime = runtime()?;
    Ok(tokio::task::LocalSet::new().block_on(&runtime, future))
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("error: cannot start the async runtime: {error}");
            exit::SERVICE_FAILED
        })
}
