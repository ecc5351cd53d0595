//! Finding the project a command is about: its config file and its private directory, without
//! requiring the config to be valid (a broken config must not stop `ps` or `down` from
//! reaching a daemon that runs the last good one).

use std::path::PathBuf;

use crate::cli;
use crate::config;
use crate::exit;
use crate::launch;
use crate::paths::{Home, ProjectPaths};

/// The project's config, loaded and checked, without taking its lock (for commands that only
/// look: `graph`, `ports`). Prints its warnings, or its problems and returns the exit code.
pub fn load_spec(
    file: Option<PathBuf>,
    profiles: &[String],
) -> Result<crate::spec::ProjectSpec, u8> {
    let color = crate::output::Printer::color_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        |key| std::env::var(key).ok(),
    );
    let (path, origin) = match file {
        Some(path) => (path, config::Origin::Named),
        None => {
            let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            match config::discover(&start) {
                Ok(path) => (path, config::Origin::Discovered),
                Err(error) => {
                    eprintln!("{}", error.render(color));
                    return Err(exit::INVALID);
                }
            }
        }
    };
    // `port = "auto"`: the port the running project gave the service, if it runs.
    let kept = launch::recorded_ports(&path);
    match launch::config_trust().and_then(|trust| {
        config::load_with_profiles(&path, origin, &trust.with_kept_ports(kept), profiles)
    }) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("{}", warning.render(color));
            }
            Ok(loaded.spec)
        }
        Err(error) => {
            eprintln!("{}", error.render(color));
            Err(exit::INVALID)
        }
    }
}

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
            if let Some(notice) = launch::recover_abandoned(&paths) {
                eprintln!("{notice}");
            }
            Ok(Project { config, paths })
        }
        Err(error) => {
            eprintln!("error: {error}");
            Err(exit::INVALID)
        }
    }
}

/// A current-thread runtime for a client command; prints why and returns the exit code when
/// there is none.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> Result<T, u8> {
    match launch::runtime() {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(error) => Err(cli::launch_failed(&error)),
    }
}
