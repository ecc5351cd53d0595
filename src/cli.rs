//! The command line: parses arguments with clap and hands each verb to its module under `cli/`.
//!
//! This is the edge of the program: errors become messages and exit codes here (see
//! [`crate::exit`]).

pub mod apply;
pub mod clean;
pub mod control;
pub mod dashboard;
pub mod describe;
pub mod detach;
pub mod export;
pub mod flush;
pub mod generate;
pub mod graph;
pub mod import;
pub mod instances;
pub mod logs;
pub mod outcome;
pub mod ports;
pub mod project;
pub mod run;
pub mod saved;
pub mod startup;
pub mod status;
pub mod test;
pub mod top;
pub mod up;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::launch::LaunchError;
use crate::output::Printer;

/// Run a project's services in dependency order, gated on readiness, and leave nothing behind.
#[derive(Debug, Parser)]
#[command(name = "wrangle", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// Use this config file instead of looking for wrangle.toml (or a Procfile) from the current
    /// directory upwards. Also accepted after the command (`wrangle up -f PATH`), except for
    /// `logs`, where `-f` means follow (use `--file` there).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start services (all, or the named ones and what they depend on) in the foreground;
    /// Ctrl+C stops everything. With -d, in a background daemon.
    Up(up::UpArgs),
    /// Smoke-test the project for CI: start it (or the named services), wait until everything is
    /// ready, run CMD (after `--`) with every port in WRANGLE_PORT_<NAME>, stop everything and
    /// prove nothing is left. Exits with CMD's code.
    Test(test::TestArgs),
    /// Run CMD (after `--`) in SERVICE's environment and working directory, with what SERVICE
    /// depends on started first if it is not running. Exits with CMD's code.
    Run(run::RunArgs),
    /// Show the dependency graph in layers (or Graphviz dot with --dot), with readiness times
    /// from a running wrangle and the critical path marked.
    Graph(graph::GraphArgs),
    /// List every declared port with its holder (PID, command, user, this project's or not);
    /// --free stops the current user's holders after asking (never another user's).
    Ports(ports::PortsArgs),
    /// Show the state of every service of the project's daemon.
    #[command(visible_alias = "status")]
    Ps(status::PsArgs),
    /// Everything about one service: resolved config (secrets masked), dependencies both ways,
    /// and from the daemon its state, PIDs, ports, probe and restart history, log files.
    Describe(describe::DescribeArgs),
    /// Print service output from the daemon, merged and prefixed; -f follows it.
    Logs(logs::LogsArgs),
    /// Empty services' log files (all services', or the named ones'), rotated files included;
    /// through the daemon when one runs.
    Flush(flush::FlushArgs),
    /// Start services (and what they depend on) in the running daemon.
    Start(control::ControlArgs),
    /// Stop services in the running daemon; they stay stopped until started again.
    Stop(control::ControlArgs),
    /// Restart services in the running daemon.
    Restart(control::ControlArgs),
    /// Replace every instance of services in the running daemon, one at a time, each new one
    /// ready before the one it replaces stops (a service without sockets is restarted).
    Reload(instances::ReloadArgs),
    /// Run N instances of a service in the running daemon, starting or stopping as few as that
    /// takes.
    Scale(instances::ScaleArgs),
    /// Read wrangle.toml again and apply it to the running project (daemon or foreground):
    /// start the services added,
    /// stop those removed, reload those changed, leave the rest alone (the plan is printed,
    /// secrets masked; --dry-run prints it only).
    Apply(apply::ApplyArgs),
    /// Stop everything and end the project's wrangle (daemon or foreground).
    Down(control::DownArgs),
    /// Delete services' `clean` paths (caches, build output) while the project is not running.
    Clean(clean::CleanArgs),
    /// List every project with a running wrangle for this user.
    Ls(status::LsArgs),
    /// Record the projects running in the background now (for this user), for `resurrect`.
    Save,
    /// Bring up every project `wrangle save` recorded, each with `up -d`, saying how each went;
    /// exits non-zero when one did not come up.
    Resurrect,
    /// Install a systemd unit that brings this project's daemon up at boot (`--saved`: one that
    /// runs `resurrect`); `--print` shows it and changes nothing.
    Startup(startup::StartupArgs),
    /// Remove the unit `wrangle startup` installed.
    Unstartup(startup::UnstartupArgs),
    /// Watch the daemon's services live, full-screen: CPU, memory, logs; restart, stop, start.
    #[command(after_help = top::KEYS)]
    Top(top::TopArgs),
    /// Write the project as systemd units, Kubernetes manifests or a Compose file, with
    /// dependencies and probes carried over, and a comment for what has no equivalent.
    Export(export::ExportArgs),
    /// Convert a PM2, process-compose, Compose or Procfile setup into a commented wrangle.toml.
    Import(import::ImportArgs),
    /// Write a starting wrangle.toml for the current directory from what is there (a Procfile,
    /// an ecosystem, Compose or process-compose file, package.json scripts, a Python web entry
    /// point), or a commented example. Never replaces an existing wrangle.toml.
    Init,
    /// Write a completion script for bash, zsh or fish to standard output (service names of the
    /// current project complete too).
    Completions(generate::CompletionsArgs),
    /// Write the man page (or, with --dir, every page) of wrangle.
    Man(generate::ManArgs),
    /// Write the JSON Schema of wrangle.toml to standard output, for editors.
    Schema,
    /// Internal: the service names of the current project, for completion scripts.
    #[command(name = "__services", hide = true)]
    Services(ProjectArgs),
    /// Print the web dashboard's address with a login token (starting it on a free loopback
    /// port when the config names no [dashboard] listen); --open opens it in a browser.
    Dashboard(dashboard::DashboardArgs),
    /// Internal: the project's daemon, started by `up -d` below its sentinel. (The sentinel,
    /// `__sentinel`, is chosen in `main` before this parser runs.)
    #[command(name = "__daemon", hide = true)]
    Daemon(DaemonArgs),
}

/// `wrangle __daemon`: the arguments of `up`, and the link to the sentinel above it.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub up: up::UpArgs,
    /// The descriptor of the link to the sentinel that started this daemon
    /// (`crate::sys::sentinel::LINK_OPTION`).
    #[arg(long = "sentinel-fd", hide = true, value_name = "FD")]
    pub sentinel_fd: Option<i32>,
    /// Take over the run of a daemon that died (`crate::sys::sentinel::ADOPT_OPTION`).
    #[arg(long = "adopt", hide = true, requires = "sentinel_fd")]
    pub adopt: bool,
}

/// Which project a command is about (see [`Cli::file`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProjectArgs {
    /// Use this config file instead of looking for wrangle.toml (or a Procfile) upwards.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// Which profiles to lay over the config (`up`, `test`, `run`, `clean`, `graph`, `ports`,
/// `export`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProfileArgs {
    /// Lay [profiles.NAME] of the config over it; repeatable, a later one wins (default: the
    /// comma-separated names in WRANGLE_PROFILE).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
}

/// The environment variable naming the profiles when `--profile` does not.
pub const PROFILE_VAR: &str = "WRANGLE_PROFILE";

impl ProfileArgs {
    /// The profiles selected: `--profile`, or else `WRANGLE_PROFILE`.
    pub fn selected(&self) -> Vec<String> {
        if !self.profiles.is_empty() {
            return self.profiles.clone();
        }
        std::env::var(PROFILE_VAR)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// How service output reaches a terminal (`up`, `logs`); off a terminal it is written as is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Write service output to the terminal exactly as printed, escape sequences included
    /// (by default control characters are shown visibly, as `^[`).
    #[arg(long, conflicts_with = "service_colors")]
    pub raw: bool,
    /// Keep the colours services print on a terminal (other control characters are still shown
    /// visibly).
    #[arg(long)]
    pub service_colors: bool,
    /// The output reaches a terminal through another process (`up -d` relays the daemon's).
    #[arg(long, hide = true)]
    pub for_terminal: bool,
}

impl OutputArgs {
    /// What service output's control characters may do, for output that `is_terminal`.
    pub fn controls(&self, is_terminal: bool) -> crate::output::Controls {
        use crate::output::Controls;
        match self.raw || !(is_terminal || self.for_terminal) {
            true => Controls::Raw,
            false => Controls::Visible {
                keep_colors: self.service_colors,
            },
        }
    }

    /// The arguments that make a relayed process decide as this one would for `is_terminal`.
    pub fn relayed(&self, is_terminal: bool) -> Vec<String> {
        let mut args = Vec::new();
        if self.raw {
            args.push("--raw".to_string());
        }
        if self.service_colors {
            args.push("--service-colors".to_string());
        }
        if is_terminal || self.for_terminal {
            args.push("--for-terminal".to_string());
        }
        args
    }
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success (including a clean stop after Ctrl+C)
  1  a service failed (exited during start-up, or crash-looped)
  2  invalid usage or configuration
  3  a readiness probe did not pass in time
  4  pre-flight refused (another instance runs, or a port or listen address is held)";

/// Runs the parsed command; returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    let top = cli.file;
    let file = move |project: ProjectArgs| project.file.or(top);
    match cli.command {
        Command::Up(args) => up::run(file(args.project.clone()), args),
        Command::Test(args) => test::test(file(args.project.clone()), args),
        Command::Run(args) => run::run(file(args.project.clone()), args),
        Command::Graph(args) => graph::graph(file(args.project.clone()), args),
        Command::Ports(args) => ports::ports(file(args.project.clone()), args),
        Command::Ps(args) => status::ps(file(args.project.clone()), args),
        Command::Logs(args) => logs::logs(
            file(ProjectArgs {
                file: args.file.clone(),
            }),
            args,
        ),
        Command::Describe(args) => describe::describe(file(args.project.clone()), args),
        Command::Flush(args) => flush::flush(file(args.project.clone()), args),
        Command::Start(args) => {
            control::control(file(args.project.clone()), control::Action::Start, args)
        }
        Command::Stop(args) => {
            control::control(file(args.project.clone()), control::Action::Stop, args)
        }
        Command::Restart(args) => {
            control::control(file(args.project.clone()), control::Action::Restart, args)
        }
        Command::Reload(args) => instances::reload(file(args.project.clone()), args),
        Command::Scale(args) => instances::scale(file(args.project.clone()), args),
        Command::Apply(args) => apply::apply(file(args.project.clone()), args),
        Command::Down(args) if args.saved => saved::down_saved(args.json),
        Command::Down(args) => control::down(file(args.project.clone()), args.json),
        Command::Clean(args) => clean::clean(file(args.project.clone()), args),
        Command::Ls(args) => status::ls(args),
        Command::Save => saved::save(),
        Command::Resurrect => saved::resurrect(),
        Command::Startup(args) => startup::startup(file(args.project.clone()), args),
        Command::Unstartup(args) => startup::unstartup(file(args.project.clone()), args),
        Command::Top(args) => top::top(file(args.project.clone()), args),
        Command::Export(args) => export::export(file(args.project()), args),
        Command::Import(args) => import::run(args),
        Command::Init => import::init(),
        Command::Completions(args) => generate::completions(&args),
        Command::Man(args) => generate::man(&args),
        Command::Schema => generate::schema(),
        Command::Services(args) => generate::services(file(args)),
        Command::Dashboard(args) => dashboard::dashboard(file(args.project.clone()), args),
        Command::Daemon(args) => crate::daemon::run(
            file(args.up.project.clone()),
            &args.up.profile.selected(),
            &args.up.services,
            args.up.clean,
            args.up.output.controls(false),
            args.sentinel_fd,
            args.adopt,
        )
        .unwrap_or_else(|error| launch_failed(&error)),
    }
}

/// Prints why a run could not be launched (a config error rendered like rustc's, in colour on
/// a terminal; anything else as `error: ...` with its causes) and returns the exit code for it.
pub fn launch_failed(error: &LaunchError) -> u8 {
    match error {
        LaunchError::Config(config) => {
            let color = Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
                std::env::var(key).ok()
            });
            eprintln!("{}", config.render(color));
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("error: {text}");
        }
    }
    error.exit_code()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        // clap checks its definition only when a command is parsed; this checks all of it (a
        // clash such as `-f` meaning two things panics here instead of in a user's hands).
        Cli::command().debug_assert();
    }

    #[test]
    fn file_is_accepted_before_and_after_the_command_and_logs_f_follows() {
        let cli = Cli::try_parse_from(["wrangle", "up", "-f", "x.toml", "-d"]).expect("parse");
        assert!(
            matches!(cli.command, Command::Up(ref args) if args.project.file.as_deref() == Some(std::path::Path::new("x.toml")) && args.detach)
        );
        let cli = Cli::try_parse_from(["wrangle", "-f", "y.toml", "ps"]).expect("parse");
        assert_eq!(cli.file.as_deref(), Some(std::path::Path::new("y.toml")));
        let cli = Cli::try_parse_from([
            "wrangle",
            "__daemon",
            crate::sys::sentinel::LINK_OPTION,
            "5",
            "-f",
            "z.toml",
            "api",
        ])
        .expect("parse");
        assert!(
            matches!(cli.command, Command::Daemon(ref args) if args.sentinel_fd == Some(5) && args.up.services == ["api"] && args.up.project.file.is_some())
        );
        let cli = Cli::try_parse_from(["wrangle", "logs", "-f", "api"]).expect("parse");
        assert!(
            matches!(cli.command, Command::Logs(ref args) if args.follow && args.services == ["api"])
        );
    }
}
