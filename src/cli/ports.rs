//! `wrangle ports [--free [--yes]]`: every port the project's services declare, with what holds
//! it (PID, command, user, and whether it is this project's own running wrangle or one of its
//! services); `--free` stops the holders that are someone else's.
//!
//! Stopping a process is dangerous, so `--free` stops a holder only when it runs as the current
//! user, is not this project's (those are stopped with `wrangle stop`/`down`), and the user said
//! yes (asked on the terminal, or `--yes`; without a terminal and without `--yes` it refuses).
//! The holder is pinned by a pidfd checked against the scanned start time before it is
//! signalled (a pid reused meanwhile is never hit): SIGTERM, then SIGKILL after
//! [`STOP_GRACE`]. Another user's process is never signalled, whoever runs wrangle (root too).
//!
//! Reading the config takes no lock: the ports of a running project can be listed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cli::project;
use crate::exit;
use crate::spec::{ProjectSpec, Signal};
use crate::sys::ports::{self, PortHolder};
use crate::sys::process_table;
use crate::sys::spawn::pidfd_signal;
use crate::sys::tree;

#[derive(Debug, Args)]
pub struct PortsArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    #[command(flatten)]
    pub profile: crate::cli::ProfileArgs,
    /// Stop the processes of the current user that hold a declared port (asking first), so the
    /// project can start. Never another user's process, never this project's own.
    #[arg(long)]
    pub free: bool,
    /// With --free: do not ask (needed without a terminal).
    #[arg(long, requires = "free")]
    pub yes: bool,
}

/// How long a holder gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a SIGKILLed holder may take to be gone.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// A declared port and who holds it.
struct Row {
    port: u16,
    service: String,
    holders: Vec<Holder>,
}

struct Holder {
    found: PortHolder,
    /// The service of this project's running wrangle it belongs to (or `wrangle` itself).
    ours: Option<String>,
}

pub fn ports(file: Option<PathBuf>, args: PortsArgs) -> u8 {
    let spec = match project::load_spec(file, &args.profile.selected()) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    let rows = rows(&spec);
    crate::stdout::text(format_args!("{}", table(&rows)));
    if !args.free {
        return exit::SUCCESS;
    }
    free(&rows, args.yes)
}

/// Every declared port in service order, with its holders.
fn rows(spec: &ProjectSpec) -> Vec<Row> {
    let declared: Vec<(u16, String)> = spec
        .services
        .iter()
        .flat_map(|service| {
            service
                .ports
                .iter()
                .map(|port| (*port, service.name.clone()))
        })
        .collect();
    let ports: Vec<u16> = declared.iter().map(|(port, _)| *port).collect();
    let mut holders = ports::listeners_of(&ports);
    let wrangle = running_wrangle(spec);
    declared
        .into_iter()
        .map(|(port, service)| Row {
            port,
            holders: holders
                .remove(&port)
                .unwrap_or_default()
                .into_iter()
                .map(|found| Holder {
                    ours: found
                        .pid
                        .zip(wrangle)
                        .and_then(|(pid, wrangle)| owned_by(pid, wrangle, spec)),
                    found,
                })
                .collect(),
            service,
        })
        .collect()
}

/// The pid of the wrangle that runs this project (daemon or foreground), if one does.
fn running_wrangle(spec: &ProjectSpec) -> Option<i32> {
    let paths = crate::paths::Home::from_env()
        .and_then(|home| home.project(&spec.source))
        .ok()?;
    // Locked with an unreadable pid: nothing to compare with.
    crate::sys::lock::holder(&paths.lock_file)
        .ok()
        .flatten()
        .flatten()
}

/// Whether `pid` is `wrangle` or below it (one of its services' trees: wrangle is their
/// subreaper, so they stay below it): then which service, by the `WRANGLE_SERVICE` mark every
/// service's process carries, or `wrangle` for wrangle itself.
fn owned_by(pid: i32, wrangle: i32, spec: &ProjectSpec) -> Option<String> {
    let mut current = pid;
    // Bounded: a parent chain is short, and a race must not loop.
    for _ in 0..4096 {
        if current == wrangle {
            if pid == wrangle {
                return Some("wrangle".to_string());
            }
            let service = process_table::environ_var(pid, tree::SERVICE_VAR)
                .filter(|name| spec.service_id(name).is_some());
            return Some(service.unwrap_or_else(|| "wrangle".to_string()));
        }
        match process_table::process(current) {
            Some(info) if info.ppid > 1 => current = info.ppid,
            _ => return None,
        }
    }
    None
}

fn table(rows: &[Row]) -> String {
    let mut lines = vec![[
        "PORT".to_string(),
        "SERVICE".to_string(),
        "STATE".to_string(),
        "PID".to_string(),
        "USER".to_string(),
        "COMMAND".to_string(),
    ]];
    for row in rows {
        if row.holders.is_empty() {
            lines.push([
                row.port.to_string(),
                row.service.clone(),
                "free".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for holder in &row.holders {
            let state = match &holder.ours {
                Some(service) if service == "wrangle" => "ours (wrangle)".to_string(),
                Some(service) => format!("ours ({service})"),
                None => "held".to_string(),
            };
            lines.push([
                row.port.to_string(),
                row.service.clone(),
                state,
                holder
                    .found
                    .pid
                    .map_or_else(|| "?".to_string(), |pid| pid.to_string()),
                holder.found.user.clone(),
                holder
                    .found
                    .command
                    .clone()
                    .unwrap_or_else(|| "(unreadable: another user's process)".to_string()),
            ]);
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| {
            lines
                .iter()
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in &lines {
        let mut out = String::new();
        for (column, cell) in line.iter().enumerate() {
            if column + 1 == line.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[column]));
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    }
    text
}

/// `--free`: stops each holder that may be stopped; 0 when every declared port that was held by
/// someone else's process is free now, 1 otherwise.
fn free(rows: &[Row], yes: bool) -> u8 {
    let me = rustix::process::geteuid().as_raw();
    let can_ask = std::io::stdin().is_terminal();
    let mut code = exit::SUCCESS;
    for row in rows {
        for holder in &row.holders {
            let port = row.port;
            if let Some(service) = &holder.ours {
                crate::stdout::line(format_args!(
                    "port {port}: held by this project's own {}; stop it with `wrangle stop {service}` or `wrangle down`",
                    if service == "wrangle" {
                        "wrangle".to_string()
                    } else {
                        format!("service {service}")
                    }
                ));
                continue;
            }
            match stop(port, &holder.found, me, yes, can_ask) {
                Ok(message) => crate::stdout::line(format_args!("{message}")),
                Err(Refused::NoTerminal) => {
                    eprintln!(
                        "error: `ports --free` asks before stopping a process, and there is no terminal to ask on\n  \
                         pass --yes to stop the current user's holders without asking"
                    );
                    return exit::INVALID;
                }
                Err(Refused::Because(message)) => {
                    eprintln!("{message}");
                    code = exit::SERVICE_FAILED;
                }
            }
        }
    }
    code
}

/// Why a holder was not stopped.
enum Refused {
    /// It would have to be confirmed, and there is no terminal to ask on.
    NoTerminal,
    Because(String),
}

/// Stops one holder of `port` if it may be stopped: what happened, or why not. `can_ask`: there
/// is a terminal to confirm on.
fn stop(
    port: u16,
    holder: &PortHolder,
    me: u32,
    yes: bool,
    can_ask: bool,
) -> Result<String, Refused> {
    let refused = |message: String| Err(Refused::Because(message));
    let Some(pid) = holder.pid else {
        return refused(format!(
            "port {port}: held by a process of user {} that cannot be seen: left alone (not yours)",
            holder.user
        ));
    };
    let Some(info) = process_table::process(pid) else {
        return Ok(format!("port {port}: PID {pid} has exited already"));
    };
    let command = holder.command.clone().unwrap_or_else(|| info.comm.clone());
    // Both the socket's owner and the process's user must be us: root's wrangle does not stop
    // another user's process either.
    if holder.uid != me || info.uid != me {
        return refused(format!(
            "port {port}: held by PID {pid} ({command}) of user {}: refused, wrangle never stops another user's process",
            process_table::user_name(info.uid)
        ));
    }
    if !yes {
        if !can_ask {
            return Err(Refused::NoTerminal);
        }
        let question = format!("stop PID {pid} ({command}), which holds port {port}? [y/N] ");
        if !confirm(&question) {
            return refused(format!(
                "port {port}: PID {pid} left running (not confirmed)"
            ));
        }
    }
    // Pinned: from here on the pidfd is this process, even if its pid is reused.
    let Some(held) = tree::hold(&info) else {
        return Ok(format!("port {port}: PID {pid} has exited already"));
    };
    if let Err(error) = pidfd_signal(&held.pidfd, Signal::TERM.0) {
        return refused(format!("port {port}: cannot signal PID {pid}: {error}"));
    }
    let how = if tree::wait_gone(held.id, STOP_GRACE) {
        "stopped it with SIGTERM"
    } else {
        if let Err(error) = pidfd_signal(&held.pidfd, Signal::KILL.0) {
            return refused(format!("port {port}: cannot kill PID {pid}: {error}"));
        }
        if !tree::wait_gone(held.id, KILL_WAIT) {
            return refused(format!("port {port}: PID {pid} survived SIGKILL"));
        }
        "killed it with SIGKILL after SIGTERM was ignored for 5s"
    };
    // Another process (a child that inherited the socket) may still hold the port.
    match ports::is_free(port) {
        true => Ok(format!(
            "port {port}: {how} (PID {pid}, {command}); the port is free"
        )),
        false => refused(format!(
            "port {port}: {how} (PID {pid}, {command}), but the port is still held; run `wrangle ports` again"
        )),
    }
}

/// Asks `question` on the terminal; yes only for `y` or `yes`.
fn confirm(question: &str) -> bool {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question}");
    let _ = stderr.flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
