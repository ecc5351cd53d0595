//! `wrangle flush [SERVICE...]`: empty services' log files (PM2's `flush`). With a daemon, its
//! log writer does it (`POST /v1/logs/flush`), after writing out what the services printed so
//! far, so rotation, the disk budget and `logs -f` clients stay consistent; without one, the
//! same writer is opened on the files for the purpose while the project lock is held, so no
//! daemon starts meanwhile. Either way only the log directory's own files are touched, by the
//! log store's rules: never through a symbolic link, only regular files of known services.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::api::client::{Client, ClientError};
use crate::api::wire::{FlushReport, FlushedLogs};
use crate::cli::project;
use crate::cli::status::client_failure;
use crate::exit;
use crate::human;
use crate::launch;
use crate::logs::{LogSettings, LogStore};
use crate::output::Printer;

#[derive(Debug, Args)]
pub struct FlushArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// The services whose logs to empty (default: every service's).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Print what was removed as JSON (`{"services": [{"name", "files", "bytes", "error"}]}`).
    #[arg(long)]
    pub json: bool,
}

pub fn flush(file: Option<PathBuf>, args: FlushArgs) -> u8 {
    let project = match project::locate(file.clone()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let answer = match project::block_on(client.flush_logs(&args.services)) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    let report = match answer {
        Ok(report) => report,
        Err(ClientError::NotRunning) => match without_daemon(file, &args.services) {
            Ok(report) => report,
            Err(code) => return code,
        },
        Err(error) => return client_failure(&project, &error),
    };
    print(&report, args.json)
}

/// Flushes the files with no daemon running: the project locked, the log store opened on them.
fn without_daemon(file: Option<PathBuf>, services: &[String]) -> Result<FlushReport, u8> {
    let color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let mut notice = |text: String| eprintln!("{text}");
    let locked = launch::lock_project(file, &[], services, color, &mut notice)
        .map_err(|error| crate::cli::launch_failed(&error))?;
    let spec = &locked.spec;
    let names: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
    if std::fs::symlink_metadata(&locked.paths.log_dir).is_err() {
        // Never written: nothing to flush (and nothing to create).
        let chosen = chosen(&names, &locked.selected);
        return Ok(FlushReport {
            services: chosen
                .map(|name| FlushedLogs {
                    name: name.clone(),
                    files: 0,
                    bytes: 0,
                    error: None,
                })
                .collect(),
        });
    }
    let settings = LogSettings {
        dir: locked.paths.log_dir.clone(),
        max_file_bytes: spec.logs.max_file_bytes,
        keep_files: spec.logs.keep_files,
        budget_bytes: spec.logs.budget_bytes,
    };
    let store = LogStore::open(settings, &names).map_err(|error| {
        eprintln!("error: cannot open the log directory: {error}");
        exit::SERVICE_FAILED
    })?;
    let cleared = project::block_on(store.clear(&locked.selected))?;
    if let Err(error) = store.close() {
        eprintln!("error: {error}");
        return Err(exit::SERVICE_FAILED);
    }
    let Some(cleared) = cleared else {
        eprintln!("error: the log writer stopped before it flushed the files");
        return Err(exit::SERVICE_FAILED);
    };
    Ok(FlushReport {
        services: cleared
            .into_iter()
            .filter_map(|cleared| {
                Some(FlushedLogs {
                    name: names.get(cleared.service)?.clone(),
                    files: cleared.files,
                    bytes: cleared.bytes,
                    error: cleared.error,
                })
            })
            .collect(),
    })
    // The lock is released here, with `locked`.
}

/// The names of `selected` (all when empty).
fn chosen<'a>(
    names: &'a [String],
    selected: &'a [usize],
) -> Box<dyn Iterator<Item = &'a String> + 'a> {
    match selected.is_empty() {
        true => Box::new(names.iter()),
        false => Box::new(selected.iter().filter_map(|&id| names.get(id))),
    }
}

/// Prints the report (JSON, or a line per service with errors on stderr); exit 1 when a
/// service's files could not all be removed.
fn print(report: &FlushReport, json: bool) -> u8 {
    let failed = report
        .services
        .iter()
        .any(|service| service.error.is_some());
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => crate::stdout::line(text),
            Err(error) => {
                eprintln!("error: cannot encode the report: {error}");
                return exit::SERVICE_FAILED;
            }
        }
    } else {
        for service in &report.services {
            match service.files {
                0 => crate::stdout::line(format!("{}: no log files", service.name)),
                1 => crate::stdout::line(format!(
                    "{}: emptied its log file ({})",
                    service.name,
                    human::bytes(service.bytes)
                )),
                files => crate::stdout::line(format!(
                    "{}: emptied {files} log files ({})",
                    service.name,
                    human::bytes(service.bytes)
                )),
            }
            if let Some(error) = &service.error {
                eprintln!("error: {}: {error}", service.name);
            }
        }
    }
    match failed {
        true => exit::SERVICE_FAILED,
        false => exit::SUCCESS,
    }
}
