//! `wrangle ps` (alias `status`) and `wrangle ls`: what runs, read from the daemon's API.

use std::time::SystemTime;

use clap::Args;

use crate::api::client::{Client, ClientError};
use crate::api::wire::{ProjectStatus, ServiceState, ServiceStatus};
use crate::cli::project::{self, Project};
use crate::exit;
use crate::human;
use crate::paths::Home;
use crate::sys::lock;

#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// Print the status as JSON (the API's `ProjectStatus`), for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print the list as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn ps(file: Option<std::path::PathBuf>, args: PsArgs) -> u8 {
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let status = match project::block_on(client.status()) {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => return client_failure(&project, &error),
        Err(code) => return code,
    };
    if args.json {
        return print_json(&status);
    }
    crate::stdout::text(format_args!("{}", table(&status)));
    if !status.profiles.is_empty() {
        // After the table, whose header stays the first line for scripts.
        crate::stdout::line(format_args!("profiles: {}", status.profiles.join(", ")));
    }
    exit::SUCCESS
}

pub fn ls(args: LsArgs) -> u8 {
    let home = match Home::from_env() {
        Ok(home) => home,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::INVALID;
        }
    };
    let mut rows = Vec::new();
    let entries = std::fs::read_dir(home.root.join("projects"))
        .into_iter()
        .flatten()
        .flatten();
    for entry in entries {
        let dir = entry.path();
        let Ok(config) = std::fs::read_to_string(dir.join("project")) else {
            continue;
        };
        let config = config.trim_end().to_string();
        let Ok(Some(pid)) = lock::holder(&dir.join("lock")) else {
            continue;
        };
        let socket = match home.project(std::path::Path::new(&config)) {
            Ok(paths) => paths.control_socket,
            Err(_) => dir.join("run/control.sock"),
        };
        let status = project::block_on(Client::new(socket).status())
            .ok()
            .and_then(Result::ok);
        rows.push(ProjectRow {
            config,
            pid,
            status,
        });
    }
    rows.sort_by(|a, b| a.config.cmp(&b.config));
    if args.json {
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "project": row.config,
                    "pid": row.pid,
                    "mode": mode(row.status.as_ref()),
                    "services": row.status.as_ref().map(|status| status.services.len()),
                    "up": row.status.as_ref().map(count_up),
                })
            })
            .collect();
        return print_json(&json);
    }
    if rows.is_empty() {
        crate::stdout::line(format_args!("no wrangle is running for this user"));
        return exit::SUCCESS;
    }
    let mut lines = vec![vec![
        "PROJECT".to_string(),
        "PID".into(),
        "MODE".into(),
        "SERVICES".into(),
    ]];
    for row in &rows {
        let services = match &row.status {
            Some(status) => format!("{}/{} up", count_up(status), status.services.len()),
            None => "-".to_string(),
        };
        let mode = mode(row.status.as_ref());
        let pid = row
            .pid
            .map(|pid| pid.to_string())
            .unwrap_or_else(|| "?".into());
        lines.push(vec![row.config.clone(), pid, mode.into(), services]);
    }
    crate::stdout::text(format_args!("{}", align(&lines)));
    exit::SUCCESS
}

/// How a project runs, for `ls`: `?` while its wrangle does not answer (still starting up, or
/// a wrangle that serves no socket).
fn mode(status: Option<&ProjectStatus>) -> &'static str {
    match status {
        Some(status) if status.foreground => "foreground",
        Some(_) => "daemon",
        None => "?",
    }
}

struct ProjectRow {
    config: String,
    pid: Option<i32>,
    status: Option<ProjectStatus>,
}

fn count_up(status: &ProjectStatus) -> usize {
    status
        .services
        .iter()
        .filter(|service| matches!(service.state, ServiceState::Ready | ServiceState::Running))
        .count()
}

/// The `ps` table: one row per instance (a service's only instance is named like the service).
pub fn table(status: &ProjectStatus) -> String {
    let mut lines = vec![
        [
            "NAME",
            "STATE",
            "PID",
            "UPTIME",
            "CPU",
            "MEM",
            "RESTARTS",
            "LAST EXIT",
            "PORTS",
            "READINESS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for service in &status.services {
        let mut state = state_name(service);
        if service.reloading {
            state.push_str(" (reloading)");
        }
        lines.push(vec![
            service.label(),
            state,
            service
                .pid
                .map(|pid| pid.to_string())
                .unwrap_or_else(|| "-".into()),
            service
                .uptime_at(SystemTime::now())
                .map_or_else(|| "-".into(), human::uptime),
            service
                .resources
                .map(|usage| format_cpu(usage.cpu_percent))
                .unwrap_or_else(|| "-".into()),
            service
                .resources
                .map(|usage| human::bytes(usage.memory_bytes))
                .unwrap_or_else(|| "-".into()),
            service.restarts.to_string(),
            last_exit(service),
            if service.ports.is_empty() && service.sockets.is_empty() {
                "-".into()
            } else {
                service
                    .ports
                    .iter()
                    .map(u16::to_string)
                    .chain(service.sockets.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(",")
            },
            service.readiness.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut text = align(&lines);
    let now = SystemTime::now();
    for service in &status.services {
        if let Some(next) = service
            .next_run
            .as_deref()
            .filter(|_| service.instance == 0)
        {
            let within = human::parse_time(next)
                .and_then(|at| at.duration_since(now).ok())
                .map(|wait| format!(" (in {})", human::uptime(wait)))
                .unwrap_or_default();
            text.push_str(&format!(
                "{}: next scheduled run at {next}{within}\n",
                service.name
            ));
        }
        if let Some(reason) = &service.reason {
            text.push_str(&format!("{}: {reason}\n", service.label()));
        }
        for warning in &service.warnings {
            text.push_str(&format!(
                "{}: warning: {warning} use above its {warning}_warn threshold\n",
                service.label()
            ));
        }
        if let Some(error) = &service.log_error {
            text.push_str(&format!(
                "{}: cannot write its log file: {error}\n",
                service.name
            ));
        }
        if service.log_lines_dropped > 0 {
            text.push_str(&format!(
                "{}: {} output line(s) could not be written to its log file and were dropped\n",
                service.name, service.log_lines_dropped
            ));
        }
    }
    text
}

/// `0.4%`, `12%`, `180%` (percent of one core, like `top`).
fn format_cpu(percent: f64) -> String {
    if percent < 10.0 {
        format!("{percent:.1}%")
    } else {
        format!("{percent:.0}%")
    }
}

fn state_name(service: &ServiceStatus) -> String {
    serde_json::to_value(service.state)
        .ok()
        .and_then(|value| value.as_str().map(String::from))
        .unwrap_or_else(|| "?".into())
}

fn last_exit(service: &ServiceStatus) -> String {
    match &service.last_exit {
        Some(exit) => match (&exit.code, &exit.signal) {
            (Some(code), _) => format!("code {code}"),
            (None, Some(signal)) => signal.clone(),
            (None, None) => "unknown".into(),
        },
        None => "-".into(),
    }
}

/// Left-aligned columns separated by two spaces; no trailing spaces.
fn align(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            lines
                .iter()
                .filter_map(|line| line.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in lines {
        let mut row = String::new();
        for (column, cell) in line.iter().enumerate() {
            row.push_str(cell);
            if column + 1 < line.len() {
                row.push_str(&" ".repeat(widths[column] - cell.chars().count() + 2));
            }
        }
        text.push_str(row.trim_end());
        text.push('\n');
    }
    text
}

fn print_json(value: &impl serde::Serialize) -> u8 {
    match serde_json::to_string_pretty(value) {
        Ok(json) => {
            crate::stdout::line(format_args!("{json}"));
            exit::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot encode JSON: {error}");
            exit::SERVICE_FAILED
        }
    }
}

/// The message for a failed API call: most often, that no daemon runs for this project.
pub fn client_failure(project: &Project, error: &ClientError) -> u8 {
    match error {
        ClientError::NotRunning => {
            match lock::holder(&project.paths.lock_file) {
                Ok(Some(pid)) => {
                    let pid = pid.map(|pid| format!(" (PID {pid})")).unwrap_or_default();
                    eprintln!(
                        "error: a wrangle holds this project{pid} but does not answer on its control socket\n  \
                         it may still be starting; try again in a moment"
                    );
                }
                _ => eprintln!(
                    "error: no wrangle daemon is running for {}\n  start one with: wrangle up -d",
                    project.config.display()
                ),
            }
            exit::SERVICE_FAILED
        }
        ClientError::Api(api_error) => {
            eprintln!("error: {}", api_error.error);
            match api_error.code {
                crate::api::wire::ErrorCode::NotFound | crate::api::wire::ErrorCode::BadRequest => {
                    exit::INVALID
                }
                _ => exit::SERVICE_FAILED,
            }
        }
        other => {
            eprintln!("error: {other}");
            exit::SERVICE_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_keeps_one_decimal_below_ten_percent() {
        assert_eq!(format_cpu(0.0), "0.0%");
        assert_eq!(format_cpu(3.04), "3.0%");
        assert_eq!(format_cpu(42.6), "43%");
        assert_eq!(format_cpu(180.2), "180%");
    }

    #[test]
    fn columns_are_aligned_without_trailing_spaces() {
        let lines = vec![
            vec!["A".to_string(), "BB".into()],
            vec!["CCC".into(), "D".into()],
        ];
        assert_eq!(align(&lines), "A    BB\nCCC  D\n");
    }
}
