//! `wrangle describe SERVICE [--json]`: everything about one service in one place: its
//! resolved config (environment values that look secret masked by `spec::secret`'s rule), its
//! dependencies both ways, and, while a daemon runs it, each instance's state, PID and
//! restarts, the processes of its trees, who holds its ports, its readiness probe's record, its
//! restart history with causes, and its log files with their sizes.
//!
//! The config comes from the daemon when one runs (what it runs, which may be older than the
//! file) and from the file otherwise. Processes, port holders and log files are read here, from
//! `/proc` and the log directory (never following a symbolic link), as the daemon's user.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Args;

use crate::api::client::{Client, ClientError};
use crate::api::wire::{
    ExitInfo, LogFileInfo, PortInfo, ProcessEntry, RunRecord, ServiceDescription, ServiceState,
    ServiceStatus,
};
use crate::cli::project;
use crate::cli::status::client_failure;
use crate::daemon::config_view;
use crate::exit;
use crate::human;
use crate::launch;
use crate::sys::{ports, process_table};

#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// The service to describe.
    #[arg(value_name = "SERVICE")]
    pub service: String,
    /// Print the description as JSON (`ServiceDescription` in docs/api.yaml), for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn describe(file: Option<PathBuf>, args: DescribeArgs) -> u8 {
    let project = match project::locate(file.clone()) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let name = args.service.clone();
    let from_daemon = project::block_on(async {
        let status = client.status().await?;
        let details = client.service_details(&name).await?;
        let graph = client.graph().await?;
        Ok::<_, ClientError>((status, details, graph))
    });
    let mut declared_ports: Vec<u16> = Vec::new();
    let mut description = match from_daemon {
        Err(code) => return code,
        Ok(Ok((status, details, graph))) => ServiceDescription {
            name: details.name.clone(),
            project: status.project.clone(),
            daemon_pid: Some(status.daemon_pid),
            dependents: graph
                .services
                .iter()
                .filter(|node| node.depends_on.iter().any(|edge| edge.service == name))
                .map(|node| node.name.clone())
                .collect(),
            instances: status
                .services
                .into_iter()
                .filter(|service| service.name == name)
                .collect(),
            config: details.config,
            restarts: details.restarts,
            probes: details.probes,
            last_probe_failure: details.last_probe_failure,
            runs: details.runs,
            processes: Vec::new(),
            ports: Vec::new(),
            log_files: Vec::new(),
        },
        Ok(Err(ClientError::NotRunning)) => match from_file(file, &name) {
            Ok((description, ports)) => {
                declared_ports = ports;
                description
            }
            Err(code) => return code,
        },
        Ok(Err(error)) => return client_failure(&project, &error),
    };
    if let Some(instance) = description.instances.first() {
        declared_ports = instance.ports.clone();
    }
    description.processes = processes(&description.instances);
    description.ports = port_holders(&declared_ports);
    description.log_files = log_files(&project.paths.log_dir, &description.name);
    if args.json {
        return match serde_json::to_string_pretty(&description) {
            Ok(text) => {
                crate::stdout::line(text);
                exit::SUCCESS
            }
            Err(error) => {
                eprintln!("error: cannot encode the description: {error}");
                exit::SERVICE_FAILED
            }
        };
    }
    crate::stdout::text(text(&description, SystemTime::now()));
    exit::SUCCESS
}

/// The description from the config file alone (no daemon runs the project), and the service's
/// declared ports.
fn from_file(file: Option<PathBuf>, name: &str) -> Result<(ServiceDescription, Vec<u16>), u8> {
    let mut notice = |text: String| eprintln!("{text}");
    let spec = launch::load(file, &[], false, &mut notice)
        .map_err(|error| crate::cli::launch_failed(&error))?;
    let Some(id) = spec.service_id(name) else {
        let known: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "error: no service named \"{name}\" in {}\n  services: {}",
            spec.source.display(),
            known.join(", ")
        );
        return Err(exit::INVALID);
    };
    let description = ServiceDescription {
        name: name.to_string(),
        project: spec.source.display().to_string(),
        daemon_pid: None,
        config: config_view::service_config(&spec, id),
        dependents: spec
            .services
            .iter()
            .filter(|service| service.depends_on.iter().any(|edge| edge.service == id))
            .map(|service| service.name.clone())
            .collect(),
        instances: Vec::new(),
        restarts: Vec::new(),
        probes: Vec::new(),
        last_probe_failure: None,
        runs: Vec::new(),
        processes: Vec::new(),
        ports: Vec::new(),
        log_files: Vec::new(),
    };
    Ok((description, spec.services[id].ports.clone()))
}

/// The processes of each instance's tree: its main process and every descendant, from one scan
/// of `/proc`.
fn processes(instances: &[ServiceStatus]) -> Vec<ProcessEntry> {
    let leaders: Vec<(u32, i32)> = instances
        .iter()
        .filter_map(|instance| Some((instance.instance, instance.pid?)))
        .collect();
    if leaders.is_empty() {
        return Vec::new();
    }
    let table = process_table::scan();
    let mut entries = Vec::new();
    for (instance, leader) in leaders {
        let mut tree = vec![leader];
        let mut at = 0;
        while at < tree.len() {
            let parent = tree[at];
            tree.extend(
                table
                    .iter()
                    .filter(|process| process.ppid == parent && process.pid != parent)
                    .map(|process| process.pid),
            );
            at += 1;
        }
        for pid in tree {
            let Some(process) = table.iter().find(|process| process.pid == pid) else {
                continue;
            };
            entries.push(ProcessEntry {
                instance,
                pid,
                ppid: process.ppid,
                command: process_table::cmdline(pid).unwrap_or_else(|| process.comm.clone()),
            });
        }
    }
    entries
}

/// Each declared port and who listens on it now.
fn port_holders(declared: &[u16]) -> Vec<PortInfo> {
    // This command's user (the daemon's: only it may use the socket).
    let own_uid = i32::try_from(std::process::id())
        .ok()
        .and_then(process_table::process)
        .map_or(u32::MAX, |process| process.uid);
    ports::listeners_of(declared)
        .into_iter()
        .map(|(port, holders)| PortInfo {
            port,
            holders: holders
                .into_iter()
                .map(|holder| {
                    let mut text = match holder.pid {
                        Some(pid) => format!("PID {pid}"),
                        None => "an unknown process".to_string(),
                    };
                    if let Some(command) = holder.command {
                        text.push_str(&format!(" ({command})"));
                    }
                    if holder.uid != own_uid {
                        text.push_str(&format!(" of user {}", holder.user));
                    }
                    text
                })
                .collect(),
        })
        .collect()
}

/// The service's log files (current, then rotated newest first) with their sizes; only regular
/// files, never through a symbolic link.
fn log_files(dir: &Path, name: &str) -> Vec<LogFileInfo> {
    let current = format!("{name}.log");
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name().into_string().ok()?;
            let generation = match file_name.strip_prefix(&current)? {
                "" => 0,
                rest => {
                    let digits = rest.strip_prefix('.')?;
                    if digits.starts_with('0') {
                        return None;
                    }
                    digits.parse().ok()?
                }
            };
            Some((generation, entry.path()))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|(_, path)| {
            let metadata = std::fs::symlink_metadata(&path).ok()?;
            metadata.is_file().then(|| LogFileInfo {
                path: path.display().to_string(),
                bytes: metadata.len(),
            })
        })
        .collect()
}

/// The description for humans.
pub fn text(description: &ServiceDescription, now: SystemTime) -> String {
    let mut out = String::new();
    let mut row = |key: &str, value: &str| {
        out.push_str(&format!("{key:<12} {value}\n"));
    };
    row("service", &description.name);
    row("project", &description.project);
    // The project's wrangle: a daemon, or a foreground `up` (which answers the same API).
    match description.daemon_pid {
        Some(pid) => row("wrangle", &format!("PID {pid}")),
        None => row("wrangle", "not running (the config file is shown)"),
    }
    for instance in &description.instances {
        let label = match description.instances.len() {
            1 => "state".to_string(),
            _ => format!("instance {}", instance.instance),
        };
        row(&label, &instance_text(instance, now));
    }
    let config = &description.config;
    let command = match config.shell {
        true => config.command.last().cloned().unwrap_or_default(),
        false => config
            .command
            .iter()
            .map(|word| quoted(word))
            .collect::<Vec<_>>()
            .join(" "),
    };
    row("command", &command);
    row("cwd", &config.cwd);
    for (index, var) in config.env.iter().enumerate() {
        row(
            if index == 0 { "env" } else { "" },
            &format!("{}={}", var.name, var.value),
        );
    }
    let depends: Vec<String> = config
        .depends_on
        .iter()
        .map(|edge| {
            let restart = if edge.restart { ", restart" } else { "" };
            format!("{} ({}{restart})", edge.service, edge.condition)
        })
        .collect();
    row("depends on", &none_if_empty(&depends.join(", ")));
    row(
        "dependents",
        &none_if_empty(&description.dependents.join(", ")),
    );
    for setting in &config.settings {
        // The ports are shown below with who holds them.
        if setting.key != "port" {
            row(&setting.key, &setting.value);
        }
    }
    for port in &description.ports {
        let holders = match port.holders.is_empty() {
            true => "free".to_string(),
            false => format!("held by {}", port.holders.join(", ")),
        };
        row("port", &format!("{} {holders}", port.port));
    }
    for (index, process) in description.processes.iter().enumerate() {
        row(
            if index == 0 { "processes" } else { "" },
            &format!("{} {}", process.pid, process.command),
        );
    }
    if !description.probes.is_empty() {
        let passed = description.probes.iter().filter(|a| a.passed).count();
        let failed = description.probes.len() - passed;
        row(
            "probe",
            &format!(
                "last {} attempts: {passed} passed, {failed} failed",
                description.probes.len()
            ),
        );
    }
    if let Some(failure) = &description.last_probe_failure {
        row("probe error", failure);
    }
    for (index, restart) in description.restarts.iter().enumerate() {
        let mut text = format!("{} {}", restart.time, restart.cause);
        if let Some(reason) = &restart.reason {
            text.push_str(&format!(": {reason}"));
        }
        row(if index == 0 { "restarts" } else { "" }, &text);
    }
    for (index, run) in description.runs.iter().enumerate() {
        row(if index == 0 { "runs" } else { "" }, &run_text(run));
    }
    if description.log_files.is_empty() {
        row("logs", "none");
    }
    for (index, file) in description.log_files.iter().enumerate() {
        row(
            if index == 0 { "logs" } else { "" },
            &format!("{} ({})", file.path, human::bytes(file.bytes)),
        );
    }
    out
}

/// One run of a scheduled service: `2026-12-08T02:30:00.004Z exit code 0 after 1.2s`.
fn run_text(run: &RunRecord) -> String {
    let mut text = run.started_at.clone();
    if let Some(instance) = Some(run.instance).filter(|number| *number > 0) {
        text = format!("{text} (instance {instance})");
    }
    let Some(ended) = &run.ended_at else {
        text.push_str(" running");
        return text;
    };
    let how = match (&run.exit, run.stopped) {
        (
            Some(ExitInfo {
                code: Some(code), ..
            }),
            false,
        ) => format!("exit code {code}"),
        (
            Some(ExitInfo {
                code: Some(code), ..
            }),
            true,
        ) => format!("stopped, exit code {code}"),
        (
            Some(ExitInfo {
                signal: Some(signal),
                ..
            }),
            false,
        ) => format!("killed by {signal}"),
        (
            Some(ExitInfo {
                signal: Some(signal),
                ..
            }),
            true,
        ) => format!("stopped by {signal}"),
        (_, true) => "stopped".to_string(),
        (_, false) => "ended".to_string(),
    };
    text.push_str(&format!(" {how}"));
    let took = human::parse_time(&run.started_at)
        .zip(human::parse_time(ended))
        .and_then(|(started, ended)| ended.duration_since(started).ok());
    if let Some(took) = took {
        text.push_str(&format!(" after {}", human::duration(took)));
    }
    text
}

fn instance_text(instance: &ServiceStatus, now: SystemTime) -> String {
    let mut text = instance.state.to_string();
    if let Some(pid) = instance.pid {
        text.push_str(&format!(", PID {pid}"));
    }
    if let Some(uptime) = instance.uptime_at(now).filter(|_| {
        matches!(
            instance.state,
            ServiceState::Running | ServiceState::Ready | ServiceState::Starting
        )
    }) {
        text.push_str(&format!(", up {}", human::uptime(uptime)));
    }
    text.push_str(&format!(", {} restarts", instance.restarts));
    if !instance.restarts_by_cause.is_empty() {
        let causes: Vec<String> = instance
            .restarts_by_cause
            .iter()
            .map(|(cause, count)| format!("{cause} {count}"))
            .collect();
        text.push_str(&format!(" ({})", causes.join(", ")));
    }
    if let Some(exit) = &instance.last_exit {
        match (exit.code, &exit.signal) {
            (Some(code), _) => text.push_str(&format!(", last exit code {code}")),
            (None, Some(signal)) => text.push_str(&format!(", last killed by {signal}")),
            (None, None) => {}
        }
    }
    if let Some(reason) = &instance.reason {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(next) = &instance.next_run {
        text.push_str(&format!(", next run at {next}"));
    }
    text
}

/// A word as a shell would need it to read it back as one: as it is when it is plain, else in
/// single quotes.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&byte));
    match plain {
        true => word.to_string(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

fn none_if_empty(text: &str) -> String {
    match text.is_empty() {
        true => "none".to_string(),
        false => text.to_string(),
    }
}
