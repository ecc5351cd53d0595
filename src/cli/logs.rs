//! `wrangle logs [SERVICE...] [-f] [-n N] [--since DURATION]`: service output from the daemon,
//! merged and prefixed like the foreground output.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use crate::api::client::Client;
use crate::api::wire::{LogLine, LogStream};
use crate::cli::project;
use crate::cli::status::client_failure;
use crate::exit;
use crate::output::Printer;
use crate::stream::Stream;
use crate::supervisor::event::InstanceId;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Use this config file instead of looking for wrangle.toml upwards (`-f` means follow here).
    #[arg(long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Only these services (default: all).
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Keep printing new lines until Ctrl+C (or until stdout is closed, e.g. by `| head`).
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the last lines to print first.
    #[arg(short = 'n', long = "lines", default_value_t = 100, value_name = "N")]
    pub lines: usize,
    /// Only lines from this long ago onwards, e.g. `10m` or `1h 30m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<String>,
    #[command(flatten)]
    pub output: crate::cli::OutputArgs,
}

fn parse_duration(text: &str) -> Result<String, String> {
    humantime::parse_duration(text)
        .map(|_| text.to_string())
        .map_err(|error| format!("{error} (write e.g. \"30s\", \"10m\" or \"1h 30m\")"))
}

pub fn logs(file: Option<PathBuf>, args: LogsArgs) -> u8 {
    let project = match project::locate(file) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let client = Client::new(project.paths.control_socket.clone());
    let outcome = project::block_on(async {
        // The names give the printer its column width and colours, in the project's order.
        let status = client.status().await?;
        let names: Vec<String> = status
            .services
            .iter()
            .map(|service| service.name.clone())
            .collect();
        if let Some(unknown) = args.services.iter().find(|name| !names.contains(name)) {
            return Err(crate::api::client::ClientError::Api(
                crate::api::wire::ApiError {
                    error: format!(
                        "no service named \"{unknown}\"; services: {}",
                        names.join(", ")
                    ),
                    code: crate::api::wire::ErrorCode::NotFound,
                },
            ));
        }
        let is_terminal = std::io::stdout().is_terminal();
        let color = Printer::color_wanted(is_terminal, |key| std::env::var(key).ok());
        let printer = Printer::new(&names, color, false, Box::new(std::io::stdout()))
            .with_controls(args.output.controls(is_terminal));
        let print = |line: LogLine| {
            let Some(service) = names.iter().position(|name| *name == line.service) else {
                // wrangle's own notices (e.g. lines skipped for a slow reader).
                printer.message(crate::output::Tone::Warn, &line.text);
                return true;
            };
            let stream = match line.stream {
                LogStream::Stdout => Stream::Stdout,
                LogStream::Stderr => Stream::Stderr,
            };
            printer.service_line(
                InstanceId::new(service, 0),
                stream,
                line.text.as_bytes(),
                line.partial,
            );
            // Once stdout is gone (`| head` exited), following on would print to nobody.
            !printer.is_broken()
        };
        if args.follow {
            // Also when nothing comes to print: a closed stdout ends the follow quietly, with
            // status 0, as other Unix tools do on EPIPE.
            tokio::select! {
                followed = client.follow_logs(&args.services, args.lines, print) => followed,
                () = crate::sys::stdio::stdout_gone() => Ok(()),
            }
        } else {
            let lines = client
                .logs(&args.services, args.lines, args.since.as_deref())
                .await?;
            lines.into_iter().for_each(|line| {
                print(line);
            });
            Ok(())
        }
    });
    match outcome {
        Ok(Ok(())) => exit::SUCCESS,
        Ok(Err(error)) => client_failure(&project, &error),
        Err(code) => code,
    }
}
