//! `wrangle up -d`: start the project's daemon and stay with it until it is up.
//!
//! We start the daemon's sentinel (`wrangle __sentinel --daemon`, see `sys::sentinel`) in its
//! own session, with its stdout and stderr on pipes to us and no other descriptor of ours (a lock
//! the caller holds must not be held by the daemon and every service until `down`). The sentinel
//! starts the daemon (`wrangle __daemon`) below it, with the same stdout and stderr. The daemon
//! does everything a foreground `up` does (config, lock, ports, start-up) and prints the same
//! output, which we relay. When every service is up it prints [`DETACHED_MARKER`] and points its
//! output at its log file, and the sentinel lets go of the pipes: we see end-of-file and return
//! 0. When start-up fails the daemon stops everything and exits with the same code a foreground
//! `up` would (1, 2, 3 or 4); the sentinel exits with that code, which we return.
//!
//! With `--json`, the daemon's output is kept (its last [`JSON_OUTPUT_LINES`] lines) instead of
//! relayed, and one JSON object says how it went (`cli::outcome`): the daemon's PID and the
//! services' status once up, the last lines when start-up failed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use crate::api::client::Client;
use crate::cli::{outcome, project};
use crate::exit;
use crate::launch::DETACHED_MARKER;
use crate::sys::spawn::spawn_detached;

/// How many lines of the daemon's output a failed `up -d --json` reports.
const JSON_OUTPUT_LINES: usize = 50;

pub fn start_daemon(
    file: Option<PathBuf>,
    profiles: &[String],
    services: &[String],
    clean: bool,
    output: &crate::cli::OutputArgs,
    json: bool,
) -> u8 {
    start_daemon_with(file, profiles, services, clean, output, json, false)
}

/// [`start_daemon`]; with `forget_service_manager`, the daemon does not get our
/// `NOTIFY_SOCKET` (`resurrect` under a `oneshot` unit: the projects' daemons must not claim
/// the unit's main process).
pub fn start_daemon_with(
    file: Option<PathBuf>,
    profiles: &[String],
    services: &[String],
    clean: bool,
    output: &crate::cli::OutputArgs,
    json: bool,
    forget_service_manager: bool,
) -> u8 {
    let failed = |code: u8, lines: VecDeque<String>| match json {
        true => outcome::print(code, outcome::fields([("output", Vec::from(lines).into())])),
        false => code,
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("error: cannot find wrangle's own executable: {error}");
            return failed(exit::SERVICE_FAILED, VecDeque::new());
        }
    };
    let project_file = file.clone();
    // Output that is kept for JSON is not for a terminal: no colour, control characters as is.
    let stdout_is_terminal = !json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut argv = vec![
        exe.to_string_lossy().into_owned(),
        crate::sys::sentinel::COMMAND.to_string(),
        crate::sys::sentinel::DAEMON_OPTION.to_string(),
    ];
    if let Some(file) = file {
        argv.push("-f".to_string());
        argv.push(cwd.join(file).to_string_lossy().into_owned());
    }
    // Service output reaches our terminal through us: the daemon renders it as we would.
    argv.extend(output.relayed(stdout_is_terminal));
    // Named, not left to WRANGLE_PROFILE: a successor daemon starts with these same arguments.
    for profile in profiles {
        argv.push(format!("--profile={profile}"));
    }
    if clean {
        argv.push("--clean".to_string());
    }
    argv.push("--".to_string());
    argv.extend(services.iter().cloned());
    // The daemon's output is a pipe, so it would choose no colour; decide for it as we would.
    let color =
        crate::output::Printer::color_wanted(stdout_is_terminal, |key| std::env::var(key).ok())
            && !json;
    let env = if color {
        vec![("CLICOLOR_FORCE".to_string(), "1".to_string())]
    } else {
        Vec::new()
    };
    let env_remove: &[&str] = match forget_service_manager {
        true => &[crate::environment::NOTIFY_SOCKET],
        false => &[],
    };
    let (mut child, output, errors) = match spawn_detached(&argv, &cwd, &env, env_remove) {
        Ok(spawned) => spawned,
        Err(error) => {
            eprintln!("error: cannot start the daemon: {error}");
            return failed(exit::SERVICE_FAILED, VecDeque::new());
        }
    };
    // Errors go to our stderr as they would from a foreground `up`; a thread relays them while
    // this one relays the output.
    let relay_errors = std::thread::spawn(move || {
        let _ = std::io::copy(&mut BufReader::new(errors), &mut std::io::stderr());
    });
    let mut detached_pid = None;
    let mut kept = VecDeque::new();
    let stdout = std::io::stdout();
    for line in BufReader::new(output).split(b'\n') {
        let Ok(line) = line else { break };
        if let Some(pid) = line.strip_prefix(DETACHED_MARKER.as_bytes()) {
            detached_pid = String::from_utf8_lossy(pid).trim().parse::<u32>().ok();
            continue;
        }
        if json {
            if kept.len() == JSON_OUTPUT_LINES {
                kept.pop_front();
            }
            kept.push_back(String::from_utf8_lossy(&line).into_owned());
            continue;
        }
        let mut out = stdout.lock();
        let _ = out.write_all(&line);
        let _ = out.write_all(b"\n");
    }
    // After detaching, the daemon's stderr is its log file and the sentinel's /dev/null: our end
    // is at end-of-file too.
    let _ = relay_errors.join();
    match detached_pid {
        Some(pid) if json => up_outcome(project_file, pid),
        Some(pid) => {
            crate::stdout::line(format_args!(
                "wrangle  * running in the background (daemon PID {pid}): `wrangle ps` to see it, `wrangle logs -f` to follow, `wrangle down` to stop"
            ));
            exit::SUCCESS
        }
        None => match child.wait() {
            Ok(status) => failed(
                status
                    .code()
                    .and_then(|code| u8::try_from(code).ok())
                    .unwrap_or(exit::SERVICE_FAILED),
                kept,
            ),
            Err(error) => {
                eprintln!("error: lost track of the daemon's sentinel: {error}");
                failed(exit::SERVICE_FAILED, kept)
            }
        },
    }
}

/// The outcome of a start that succeeded: the daemon's PID and its status (the API's
/// `ProjectStatus`, as `ps --json` prints it). The daemon is up either way; a status that
/// cannot be read is `null`, with the reason in `status_error`.
fn up_outcome(file: Option<PathBuf>, pid: u32) -> u8 {
    let mut fields = outcome::fields([("daemon_pid", pid.into())]);
    let status = project::locate(file).map_err(|_| "cannot locate the project".to_string());
    let status = status.and_then(|project| {
        let client = Client::new(project.paths.control_socket.clone());
        match project::block_on(client.status()) {
            Ok(Ok(status)) => {
                serde_json::to_value(status).map_err(|error| format!("cannot encode: {error}"))
            }
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("no runtime for the client".to_string()),
        }
    });
    match status {
        Ok(status) => {
            fields.insert("status".to_string(), status);
        }
        Err(error) => {
            fields.insert("status".to_string(), serde_json::Value::Null);
            fields.insert("status_error".to_string(), error.into());
        }
    }
    outcome::print(exit::SUCCESS, fields)
}
