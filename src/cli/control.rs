//! `wrangle start|stop|restart SERVICE...` and `wrangle down`: ask the daemon, then wait
//! (bounded) until it is done, so scripts can rely on the state when the command returns. A
//! `SERVICE` is every instance of the service; `SERVICE:I` is its instance `I` alone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use crate::api::client::{Client, ClientError};
use crate::api::wire::{Event, ProjectStatus, Reply, Request, ServiceState, ServiceStatus};
use crate::cli::outcome;
use crate::cli::project::{self, Project};
use crate::cli::status::client_failure;
use crate::exit;
use crate::sys::{lock, process_table};

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// The services to act on: `NAME` (every instance) or `NAME:I` (instance I).
    #[arg(value_name = "SERVICE", required_unless_present = "all")]
    pub services: Vec<String>,
    /// Act on every service.
    #[arg(long, conflicts_with = "services")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// Print the outcome as one JSON object (`ok`, `exit_code`, `stopped`, the daemon's
    /// `events` until it exited) instead of the events as lines, for scripts.
    #[arg(long)]
    pub json: bool,
    /// Stop every project `wrangle save` recorded that runs now (the stop of the
    /// `startup --saved` unit).
    #[arg(long, conflicts_with = "json")]
    pub saved: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

/// How long `start`/`restart` wait for readiness and `stop` for the trees to end, at most.
const SETTLE_LIMIT: Duration = Duration::from_secs(300);
/// How long `down` waits for the instance to release the project lock.
const DOWN_LIMIT: Duration = Duration::from_secs(600);

pub fn control(file: Option<PathBuf>, action: Action, args: ControlArgs) -> u8 {
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let services = if args.all { Vec::new() } else { args.services };
    let request = match action {
        Action::Start => Request::Start { services },
        Action::Stop => Request::Stop { services },
        Action::Restart => Request::Restart { services },
    };
    let client = Client::new(project.paths.control_socket.clone());
    let outcome = project::block_on(async {
        let reply = client.request(&request).await?;
        let Reply::Accepted { services } = reply else {
            return Err(ClientError::Protocol("the daemon is shutting down".into()));
        };
        let before = client.status().await?;
        let settled = settle(&client, &services, action, &before).await?;
        Ok::<_, ClientError>(settled)
    });
    match outcome {
        Ok(Ok(final_status)) => report(&final_status, action),
        Ok(Err(error)) => client_failure(&project, &error),
        Err(code) => code,
    }
}

/// Whether `selector` (`web`, or `web:2`) names this entry of the status.
pub fn covers(selector: &str, entry: &ServiceStatus) -> bool {
    match selector.split_once(':') {
        Some((name, number)) => entry.name == name && number.parse() == Ok(entry.instance),
        None => entry.name == selector,
    }
}

/// Polls the status until every instance named reached the state the action aims for (or
/// failed), or the limit is over. Polling `/v1/status` costs microseconds on the daemon's side.
async fn settle(
    client: &Client,
    services: &[String],
    action: Action,
    _before: &ProjectStatus,
) -> Result<Vec<(String, ServiceState)>, ClientError> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    // A restart is accepted before the old instance is even signalled: give the daemon a moment
    // to move the service out of its running state before "running" counts as done.
    let mut delay = Duration::from_millis(10);
    loop {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
        let status = client.status().await?;
        let states: Vec<(String, ServiceState)> = status
            .services
            .iter()
            .filter(|entry| services.iter().any(|selector| covers(selector, entry)))
            .map(|entry| (entry.label(), entry.state))
            .collect();
        let done = states.iter().all(|(_, state)| match action {
            Action::Stop => matches!(
                state,
                ServiceState::Stopped
                    | ServiceState::Exited
                    | ServiceState::Failed
                    | ServiceState::Inactive
            ),
            Action::Start | Action::Restart => {
                matches!(
                    state,
                    ServiceState::Ready
                        | ServiceState::Running
                        | ServiceState::Exited
                        | ServiceState::Failed
                )
            }
        });
        if done || Instant::now() >= deadline {
            return Ok(states);
        }
    }
}

fn report(states: &[(String, ServiceState)], action: Action) -> u8 {
    let mut code = exit::SUCCESS;
    for (name, state) in states {
        let state_text = serde_json::to_value(state)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        crate::stdout::line(format_args!("{name}: {state_text}"));
        let failed = matches!(state, ServiceState::Failed)
            || (action != Action::Stop
                && !matches!(
                    state,
                    ServiceState::Ready | ServiceState::Running | ServiceState::Exited
                ));
        if failed {
            code = exit::SERVICE_FAILED;
        }
    }
    code
}

pub fn down(file: Option<PathBuf>, json: bool) -> u8 {
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return json_failure(json, code),
    };
    let holder = match lock::holder(&project.paths.lock_file) {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            eprintln!(
                "error: no wrangle is running for {}",
                project.config.display()
            );
            return json_failure(json, exit::SERVICE_FAILED);
        }
        Err(error) => {
            eprintln!("error: {error}");
            return json_failure(json, exit::SERVICE_FAILED);
        }
    };
    let client = Client::new(project.paths.control_socket.clone());
    match project::block_on(down_daemon(&client, &project, holder, json)) {
        Ok(Ok(events)) if json => outcome::print(
            exit::SUCCESS,
            outcome::fields([
                ("config", project.config.display().to_string().into()),
                ("stopped", "daemon".into()),
                (
                    "events",
                    serde_json::to_value(events).unwrap_or(serde_json::Value::Null),
                ),
            ]),
        ),
        Ok(Ok(_)) => exit::SUCCESS,
        Ok(Err(ClientError::NotRunning)) => down_foreground(&project, holder, json),
        Ok(Err(error)) => json_failure(json, client_failure(&project, &error)),
        Err(code) => json_failure(json, code),
    }
}

/// With `--json`, the outcome of a failed `down` (its reason went to stderr); `code` either way.
fn json_failure(json: bool, code: u8) -> u8 {
    match json {
        true => outcome::print(code, serde_json::Map::new()),
        false => code,
    }
}

/// Asks the daemon to stop everything, prints what happens (or, for `--json`, collects it), and
/// returns once it has exited.
async fn down_daemon(
    client: &Client,
    project: &Project,
    holder: Option<i32>,
    json: bool,
) -> Result<Vec<Event>, ClientError> {
    let mut events = Vec::new();
    // Follow the events first so nothing between the request and the end is missed; the stream
    // ends when the daemon closes its socket on the way out.
    let follow = client.follow_events(|event| {
        if json {
            events.push(event);
            return true;
        }
        let who = match (&event.service, event.instance) {
            (Some(service), Some(number)) => format!("{service}:{number}"),
            (Some(service), None) => service.clone(),
            (None, _) => "wrangle".to_string(),
        };
        crate::stdout::line(format_args!("{who}: {}", event.message));
        true
    });
    let request = async {
        // Give the event stream a head start on this single-threaded runtime.
        tokio::task::yield_now().await;
        client.request(&Request::Shutdown).await
    };
    let (followed, requested) = tokio::join!(follow, request);
    requested?;
    // An event stream cut short is not an error: the daemon closed it on its way out.
    let _ = followed;
    if wait_for_release(project, holder).await {
        Ok(events)
    } else {
        Err(ClientError::Protocol(
            "the daemon did not exit in time".into(),
        ))
    }
}

/// `down` for a foreground `wrangle up`: SIGTERM makes it stop everything in order.
fn down_foreground(project: &Project, pid: Option<i32>, json: bool) -> u8 {
    let code = stop_foreground(project, pid, json);
    match (json, pid) {
        (true, Some(pid)) if code == exit::SUCCESS => outcome::print(
            code,
            outcome::fields([
                ("config", project.config.display().to_string().into()),
                ("stopped", "foreground".into()),
                ("pid", pid.into()),
            ]),
        ),
        _ => json_failure(json, code),
    }
}

fn stop_foreground(project: &Project, pid: Option<i32>, json: bool) -> u8 {
    let Some(pid) = pid else {
        eprintln!("error: a wrangle holds the project lock but wrote no PID yet; try again");
        return exit::SERVICE_FAILED;
    };
    // Only signal what is verifiably a wrangle: the pid in the lock file is informational.
    let is_wrangle = process_table::cmdline(pid).is_some_and(|cmdline| cmdline.contains("wrangle"));
    let held = process_table::process(pid).and_then(|info| crate::sys::tree::hold(&info));
    let (true, Some(held)) = (is_wrangle, held) else {
        eprintln!("error: the lock holder (PID {pid}) is not a wrangle process; not signalling it");
        return exit::SERVICE_FAILED;
    };
    if let Err(error) = crate::sys::spawn::pidfd_signal(&held.pidfd, crate::spec::Signal::TERM.0) {
        eprintln!("error: cannot signal PID {pid}: {error}");
        return exit::SERVICE_FAILED;
    }
    if !json {
        crate::stdout::line(format_args!(
            "wrangle: asked the foreground wrangle (PID {pid}) to stop"
        ));
    }
    match project::block_on(wait_for_release(project, Some(pid))) {
        Ok(true) => {
            if !json {
                crate::stdout::line(format_args!("wrangle: stopped"));
            }
            exit::SUCCESS
        }
        Ok(false) => {
            eprintln!("error: PID {pid} did not stop in time");
            exit::SERVICE_FAILED
        }
        Err(code) => code,
    }
}

/// Waits until nobody holds the project lock (the instance has exited).
///
/// The lock is what counts; the holder's pid (from the lock file, informational) only serves to
/// wake up the moment that process exits instead of at the next poll: its exit releases the lock.
async fn wait_for_release(project: &Project, holder: Option<i32>) -> bool {
    let deadline = Instant::now() + DOWN_LIMIT;
    // Verified against its start time, so a reused pid is never waited for.
    let mut exit = holder
        .and_then(process_table::process)
        .and_then(|info| crate::sys::tree::hold(&info))
        .map(|held| Box::pin(crate::sys::tree::exited(held.pidfd)));
    while Instant::now() < deadline {
        if matches!(lock::holder(&project.paths.lock_file), Ok(None)) {
            return true;
        }
        // The daemon releases the lock as it exits, right after closing the event stream.
        let poll = tokio::time::sleep(Duration::from_millis(2));
        match exit.as_mut() {
            Some(exited) => tokio::select! {
                _ = exited => exit = None,
                () = poll => {}
            },
            None => poll.await,
        }
    }
    false
}
