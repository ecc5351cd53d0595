//! `wrangle scale SERVICE N` and `wrangle reload SERVICE...`: the instances of a running
//! daemon's services, more or fewer, or replaced one at a time. Each waits (bounded) until the
//! daemon is done, says what happened, and exits 1 when it did not work out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::{mpsc, oneshot};

use crate::api::client::{Client, ClientError};
use crate::api::wire::{Event, ProjectStatus, Reply, Request, ServiceState};
use crate::cli::project;
use crate::cli::status::client_failure;
use crate::exit;

#[derive(Debug, Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// The service to scale.
    #[arg(value_name = "SERVICE")]
    pub service: String,
    /// How many instances it should run (1 to 1024).
    #[arg(value_name = "N")]
    pub instances: u32,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// The services to reload.
    #[arg(value_name = "SERVICE", required_unless_present = "all")]
    pub services: Vec<String>,
    /// Reload every service.
    #[arg(long, conflicts_with = "services")]
    pub all: bool,
}

/// How long `scale` waits for the instances it starts to be ready and those it stops to be gone.
const SCALE_LIMIT: Duration = Duration::from_secs(300);
/// How long `reload` waits for the last service to be replaced: a reload takes as long as each
/// instance needs to be ready, plus each old one's `stop_timeout`, one after the other.
const RELOAD_LIMIT: Duration = Duration::from_secs(3600);

pub fn scale(file: Option<PathBuf>, args: ScaleArgs) -> u8 {
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let request = Request::Scale {
        service: args.service.clone(),
        instances: args.instances,
    };
    let outcome = project::block_on(async {
        client.request(&request).await?;
        settle_scale(&client, &args.service, args.instances).await
    });
    match outcome {
        Ok(Ok(status)) => report_scale(&status, &args.service, args.instances),
        Ok(Err(error)) => client_failure(&project, &error),
        Err(code) => code,
    }
}

/// Polls until the service has exactly `count` instances, each ready, running or given up on.
async fn settle_scale(
    client: &Client,
    service: &str,
    count: u32,
) -> Result<ProjectStatus, ClientError> {
    let deadline = Instant::now() + SCALE_LIMIT;
    let mut delay = Duration::from_millis(10);
    loop {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
        let status = client.status().await?;
        let entries: Vec<_> = status
            .services
            .iter()
            .filter(|s| s.name == service)
            .collect();
        let settled = entries.len() == count as usize
            && entries.iter().all(|entry| {
                matches!(
                    entry.state,
                    ServiceState::Ready
                        | ServiceState::Running
                        | ServiceState::Failed
                        | ServiceState::Stopped
                        | ServiceState::Exited
                        | ServiceState::Crashed
                )
            });
        if settled || Instant::now() >= deadline {
            return Ok(status);
        }
    }
}

fn report_scale(status: &ProjectStatus, service: &str, count: u32) -> u8 {
    let entries: Vec<_> = status
        .services
        .iter()
        .filter(|s| s.name == service)
        .collect();
    let mut code = exit::SUCCESS;
    for entry in &entries {
        crate::stdout::line(format_args!("{}: {}", entry.label(), entry.state));
        if !matches!(entry.state, ServiceState::Ready | ServiceState::Running) {
            code = exit::SERVICE_FAILED;
        }
    }
    if entries.len() != count as usize {
        eprintln!(
            "error: {service} has {} instances, not {count}, after {}s",
            entries.len(),
            SCALE_LIMIT.as_secs()
        );
        code = exit::SERVICE_FAILED;
    }
    code
}

pub fn reload(file: Option<PathBuf>, args: ReloadArgs) -> u8 {
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let services = if args.all { Vec::new() } else { args.services };
    let client = Client::new(project.paths.control_socket.clone());
    match project::block_on(reload_and_follow(&client, services)) {
        Ok(Ok(code)) => code,
        Ok(Err(error)) => client_failure(&project, &error),
        Err(code) => code,
    }
}

/// Subscribes to the daemon's events, asks for the reload, and prints what happens to the
/// services reloaded until each one is `reloaded` or `reload_failed`.
async fn reload_and_follow(client: &Client, services: Vec<String>) -> Result<u8, ClientError> {
    let (subscribed, subscribed_receiver) = oneshot::channel();
    let (events, mut received) = mpsc::unbounded_channel::<Event>();
    let follow = async move {
        // The sender goes with the stream: once it ends, the reader below sees the end too.
        client
            .follow_events_subscribed(Some(subscribed), move |event| events.send(event).is_ok())
            .await
    };
    let work = async {
        // Only once subscribed: no event of the reload can come before it.
        if subscribed_receiver.await.is_err() {
            return Err(ClientError::Protocol("the event stream ended".into()));
        }
        let reply = client.request(&Request::Reload { services }).await?;
        let Reply::Accepted {
            services: mut names,
        } = reply
        else {
            return Err(ClientError::Protocol("the daemon is shutting down".into()));
        };
        let mut failed = false;
        while !names.is_empty() {
            let Some(event) = received.recv().await else {
                return Err(ClientError::Protocol(
                    "the daemon closed its event stream during the reload".into(),
                ));
            };
            follow_reload(&event, &mut names, &mut failed);
        }
        Ok(if failed {
            exit::SERVICE_FAILED
        } else {
            exit::SUCCESS
        })
    };
    let both = async {
        tokio::pin!(follow);
        tokio::pin!(work);
        let mut following = true;
        loop {
            tokio::select! {
                result = &mut work => return result,
                followed = &mut follow, if following => {
                    following = false;
                    followed?;
                }
            }
        }
    };
    match tokio::time::timeout(RELOAD_LIMIT, both).await {
        Ok(result) => result,
        Err(_elapsed) => {
            eprintln!(
                "error: still reloading after {}s; see `wrangle ps`",
                RELOAD_LIMIT.as_secs()
            );
            Ok(exit::SERVICE_FAILED)
        }
    }
}

/// Prints an event about a service being reloaded; a service is done (removed from `names`) at
/// `reloaded` or `reload_failed`.
fn follow_reload(event: &Event, names: &mut Vec<String>, failed: &mut bool) {
    let Some(service) = &event.service else {
        return;
    };
    if !names.contains(service) {
        return;
    }
    let who = match event.instance {
        Some(number) => format!("{service}:{number}"),
        None => service.clone(),
    };
    crate::stdout::line(format_args!("{who}: {}", event.message));
    match event.kind.as_str() {
        "reloaded" => names.retain(|name| name != service),
        "reload_failed" => {
            *failed = true;
            names.retain(|name| name != service);
        }
        _ => {}
    }
}
