//! `wrangle dashboard [--open] [--rotate-token]`: the web dashboard's address with a login token,
//! from the project's daemon or foreground `up` (which starts serving on a free loopback port
//! when the config names no `[dashboard] listen`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::Args;

use crate::api::client::{Client, ClientError};
use crate::api::wire::DashboardInfo;
use crate::cli::project::{self, Project};
use crate::cli::status::client_failure;
use crate::exit;

#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    /// Also open the address in the default browser (`$BROWSER`, else `xdg-open`).
    #[arg(long)]
    pub open: bool,
    /// Replace the login token: every open dashboard is signed out, old links stop working.
    /// Works without a daemon too (the next one uses the new token).
    #[arg(long)]
    pub rotate_token: bool,
}

pub fn dashboard(file: Option<PathBuf>, args: DashboardArgs) -> u8 {
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    if args.rotate_token {
        return rotate(&project, &client, args.open);
    }
    match project::block_on(client.dashboard()) {
        Ok(Ok(info)) => show(&info, args.open),
        Ok(Err(error)) => client_failure(&project, &error),
        Err(code) => code,
    }
}

fn rotate(project: &Project, client: &Client, open: bool) -> u8 {
    match project::block_on(client.rotate_dashboard_token()) {
        Ok(Ok(info)) => {
            crate::stdout::line(format_args!(
                "the dashboard's token was replaced: every open dashboard is signed out"
            ));
            match info.url {
                Some(_) => show(&info, open),
                None => exit::SUCCESS,
            }
        }
        // No daemon: the token file is all there is to replace.
        Ok(Err(ClientError::NotRunning)) => {
            match crate::dashboard::token::write_new(&project.paths.dashboard_token) {
                Ok(_) => {
                    crate::stdout::line(format_args!(
                        "the dashboard's token was replaced (no daemon runs; the next one uses it)"
                    ));
                    exit::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    exit::SERVICE_FAILED
                }
            }
        }
        Ok(Err(error)) => client_failure(project, &error),
        Err(code) => code,
    }
}

/// Prints the address (the only line on stdout, for scripts) and opens it when asked.
fn show(info: &DashboardInfo, open: bool) -> u8 {
    let Some(url) = &info.url else {
        eprintln!("error: the daemon serves no dashboard");
        return exit::SERVICE_FAILED;
    };
    crate::stdout::line(format_args!("{url}"));
    if !open {
        return exit::SUCCESS;
    }
    match open_browser(url) {
        Ok(()) => exit::SUCCESS,
        Err(why) => {
            eprintln!("error: cannot open a browser ({why}); open the address above yourself");
            exit::SERVICE_FAILED
        }
    }
}

/// Runs `$BROWSER URL` (the first of its `:`-separated commands, split at white space, never
/// through a shell), else `xdg-open URL`, and waits for it: both hand the address to a browser
/// and return.
fn open_browser(url: &str) -> Result<(), String> {
    let browser = std::env::var("BROWSER")
        .ok()
        .and_then(|value| {
            value
                .split(':')
                .next()
                .map(|command| command.split_whitespace().map(str::to_string).collect())
        })
        .filter(|words: &Vec<String>| !words.is_empty());
    let words = browser.unwrap_or_else(|| vec!["xdg-open".to_string()]);
    let command = words.join(" ");
    let status = Command::new(&words[0])
        .args(&words[1..])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|error| format!("{command}: {error}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("{command} exited with {status}")),
    }
}
