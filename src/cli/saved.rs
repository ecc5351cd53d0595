//! `wrangle save`, `wrangle resurrect` and `wrangle down --saved`: the projects running now,
//! recorded for this user, brought back up after a reboot (PM2's `save`/`resurrect`), or stopped
//! together. `wrangle startup --saved` installs a unit that runs `resurrect` at boot.
//!
//! The record is `saved.json` in wrangle's home (`WRANGLE_HOME`, or `$XDG_STATE_HOME/wrangle`),
//! written atomically and 0600, and read back only when it is a regular file of ours that no
//! one else can read or write (`paths::read_private_file`): it decides which commands run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::client::Client;
use crate::cli::project;
use crate::exit;
use crate::paths::{Durability, Home};
use crate::sys::lock;

/// The record's file name in wrangle's home.
pub const SAVED_FILE: &str = "saved.json";

/// The largest record read back (a few thousand projects).
const MAX_SAVED_BYTES: usize = 1 << 20;

/// What `save` writes.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Saved {
    /// The projects' config files, absolute, in order.
    projects: Vec<PathBuf>,
}

pub fn save() -> u8 {
    let home = match Home::from_env() {
        Ok(home) => home,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::INVALID;
        }
    };
    let saved = Saved {
        projects: running_daemons(&home),
    };
    let mut text = match serde_json::to_vec_pretty(&saved) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot encode the record: {error}");
            return exit::SERVICE_FAILED;
        }
    };
    text.push(b'\n');
    let path = home.root.join(SAVED_FILE);
    if let Err(error) = crate::paths::write_private_file(&path, &text, Durability::Synced) {
        eprintln!("error: {error}");
        return exit::SERVICE_FAILED;
    }
    if saved.projects.is_empty() {
        crate::stdout::line(format!(
            "wrangle  * no project runs in the background now: saved an empty list to {}",
            path.display()
        ));
        return exit::SUCCESS;
    }
    for config in &saved.projects {
        crate::stdout::line(format!("wrangle  * saved {}", config.display()));
    }
    crate::stdout::line(format!(
        "wrangle  * {} project(s) saved to {}: `wrangle resurrect` brings them up",
        saved.projects.len(),
        path.display()
    ));
    exit::SUCCESS
}

pub fn resurrect() -> u8 {
    let (home, saved) = match read_saved() {
        Ok(read) => read,
        Err(code) => return code,
    };
    if saved.projects.is_empty() {
        crate::stdout::line(
            "wrangle  * no saved project (`wrangle save` records the running ones)",
        );
        return exit::SUCCESS;
    }
    let total = saved.projects.len();
    let mut failed = Vec::new();
    for (index, config) in saved.projects.iter().enumerate() {
        crate::stdout::line(format!(
            "wrangle  * resurrect {}/{total}: {}",
            index + 1,
            config.display()
        ));
        if is_running(&home, config) {
            crate::stdout::line(format!("wrangle  * already running: {}", config.display()));
            continue;
        }
        // Each project's daemon answers to its own `up -d`, not to a service manager that
        // started `resurrect` (its unit is a oneshot).
        // The project's default profiles: `save` records the config alone.
        let code = crate::cli::detach::start_daemon_with(
            Some(config.clone()),
            &[],
            &[],
            false,
            &crate::cli::OutputArgs::default(),
            false,
            true,
        );
        if code != exit::SUCCESS {
            failed.push((config, code));
        }
    }
    if failed.is_empty() {
        crate::stdout::line(format!(
            "wrangle  * resurrected {total} of {total} project(s)"
        ));
        return exit::SUCCESS;
    }
    for (config, code) in &failed {
        eprintln!(
            "error: {} did not come up (exit code {code})",
            config.display()
        );
    }
    crate::stdout::line(format!(
        "wrangle  * resurrected {} of {total} project(s)",
        total - failed.len()
    ));
    exit::SERVICE_FAILED
}

/// `down --saved`: every saved project that runs is stopped; one that does not is skipped.
pub fn down_saved(json: bool) -> u8 {
    let (home, saved) = match read_saved() {
        Ok(read) => read,
        Err(code) => return code,
    };
    let mut worst = exit::SUCCESS;
    for config in &saved.projects {
        if !is_running(&home, config) {
            crate::stdout::line(format!("wrangle  * not running: {}", config.display()));
            continue;
        }
        let code = crate::cli::control::down(Some(config.clone()), json);
        worst = worst.max(code);
    }
    worst
}

fn read_saved() -> Result<(Home, Saved), u8> {
    let home = Home::from_env().map_err(|error| {
        eprintln!("error: {error}");
        exit::INVALID
    })?;
    let path = home.root.join(SAVED_FILE);
    let bytes = match crate::paths::read_private_file(&path, MAX_SAVED_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok((home, Saved::default())),
        Err(error) => {
            eprintln!("error: {error}");
            return Err(exit::INVALID);
        }
    };
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|error| {
        eprintln!(
            "error: {} is not a record of `wrangle save`: {error}",
            path.display()
        );
        exit::INVALID
    })?;
    if let Some(relative) = saved.projects.iter().find(|path| !path.is_absolute()) {
        eprintln!(
            "error: {} names a relative path ({}): only `wrangle save` should write it",
            path.display(),
            relative.display()
        );
        return Err(exit::INVALID);
    }
    Ok((home, saved))
}

/// The configs of this user's projects whose daemon answers now, sorted.
fn running_daemons(home: &Home) -> Vec<PathBuf> {
    let mut configs = Vec::new();
    let entries = std::fs::read_dir(home.root.join("projects"))
        .into_iter()
        .flatten()
        .flatten();
    for entry in entries {
        let dir = entry.path();
        let Ok(config) = std::fs::read_to_string(dir.join("project")) else {
            continue;
        };
        let config = PathBuf::from(config.trim_end());
        if !matches!(lock::holder(&dir.join("lock")), Ok(Some(_))) {
            continue;
        }
        // A daemon, not a foreground run: only a daemon can be brought back by `up -d`.
        let Ok(paths) = home.project(&config) else {
            continue;
        };
        let answers = project::block_on(Client::new(paths.control_socket).status())
            .ok()
            .and_then(Result::ok)
            .is_some();
        if answers {
            configs.push(config);
        }
    }
    configs.sort();
    configs
}

/// Whether some wrangle holds the project's lock now.
fn is_running(home: &Home, config: &Path) -> bool {
    home.project(config)
        .ok()
        .is_some_and(|paths| matches!(lock::holder(&paths.lock_file), Ok(Some(_))))
}
