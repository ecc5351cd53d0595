//! `wrangle export systemd|kubernetes|compose`: load the project's config, render it
//! (`crate::export`), write the files (or standard output), and say what was written and how
//! many settings have no equivalent.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::exit;
use crate::export::{self, Export, Options, WriteReport};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: Target,
}

#[derive(Debug, Subcommand)]
pub enum Target {
    /// One systemd unit per service and a .target for the project, in DIR.
    Systemd(SystemdArgs),
    /// Per service a Deployment (a Job for restart = "never"), a Service and a ConfigMap: one
    /// file per service in DIR, or one stream on standard output with `-`.
    Kubernetes(KubernetesArgs),
    /// A Compose file (FILE, or standard output with `-`).
    Compose(ComposeArgs),
}

#[derive(Debug, Args)]
pub struct SystemdArgs {
    /// The directory to write the units to (created when missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct KubernetesArgs {
    /// The directory to write the manifests to (created when missing), or `-` for standard
    /// output.
    #[arg(value_name = "DIR|-")]
    pub destination: PathBuf,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The file to write (its directory must exist), or `-` for standard output.
    #[arg(value_name = "FILE|-")]
    pub destination: PathBuf,
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The container image of every service without `[services.NAME.kubernetes] image`
    /// (wrangle runs commands, not images): required unless every service names its own.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub project: crate::cli::ProjectArgs,
    #[command(flatten)]
    pub profile: crate::cli::ProfileArgs,
    /// Replace files in the way that wrangle export did not write (and symbolic links, which are
    /// replaced, never followed).
    #[arg(long)]
    pub force: bool,
    /// The project's name in the output (unit names, labels); by default the name of the
    /// directory that holds the config.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

impl ExportArgs {
    pub fn project(&self) -> crate::cli::ProjectArgs {
        match &self.target {
            Target::Systemd(args) => args.common.project.clone(),
            Target::Kubernetes(args) => args.common.project.clone(),
            Target::Compose(args) => args.common.project.clone(),
        }
    }
}

/// Where the files go.
enum Destination<'a> {
    Dir(&'a Path),
    File(&'a Path),
    Stdout,
}

pub fn export(file: Option<PathBuf>, args: ExportArgs) -> u8 {
    let (common, image) = match &args.target {
        Target::Systemd(args) => (&args.common, None),
        Target::Kubernetes(args) => (&args.common, args.image.image.clone()),
        Target::Compose(args) => (&args.common, args.image.image.clone()),
    };
    if let Some(problem) = image
        .as_deref()
        .and_then(crate::spec::container_image_problem)
    {
        eprintln!("error: invalid --image: {problem}");
        return exit::INVALID;
    }
    if let Some(name) = &common.name
        && (name.trim().is_empty() || name.chars().any(char::is_control))
    {
        eprintln!(
            "error: invalid --name {name:?}: it must have a visible character, and no control characters"
        );
        return exit::INVALID;
    }
    let color = crate::output::Printer::color_wanted(std::io::stderr().is_terminal(), |key| {
        std::env::var(key).ok()
    });
    let spec =
        match crate::launch::load_for_export(file, &common.profile.selected(), color, &mut |text| {
            eprintln!("{text}")
        }) {
            Ok(spec) => spec,
            Err(error) => return crate::cli::launch_failed(&error),
        };
    let options = Options {
        image,
        name: common.name.clone(),
    };
    let is_stdout = |path: &Path| path == Path::new("-");
    let (rendered, destination) = match &args.target {
        Target::Systemd(args) => (
            export::systemd(&spec, &options),
            Destination::Dir(&args.dir),
        ),
        Target::Kubernetes(args) => {
            let stream = is_stdout(&args.destination);
            let destination = match stream {
                true => Destination::Stdout,
                false => Destination::Dir(&args.destination),
            };
            (export::kubernetes(&spec, &options, stream), destination)
        }
        Target::Compose(args) => {
            let destination = match is_stdout(&args.destination) {
                true => Destination::Stdout,
                false => Destination::File(&args.destination),
            };
            (export::compose(&spec, &options), destination)
        }
    };
    let rendered = match rendered {
        Ok(rendered) => rendered,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::INVALID;
        }
    };
    let code = match destination {
        Destination::Stdout => print(&rendered),
        Destination::Dir(dir) => report(export::write_into_dir(dir, &rendered, common.force)),
        Destination::File(path) => report(export::write_to_file(path, &rendered, common.force)),
    };
    if code == exit::SUCCESS && rendered.notes > 0 {
        eprintln!(
            "note: {} setting(s) have no {} equivalent; each is explained in a comment in the output",
            rendered.notes,
            rendered.format.name()
        );
    }
    code
}

fn print(rendered: &Export) -> u8 {
    let mut stdout = std::io::stdout().lock();
    let written = rendered
        .files
        .iter()
        .try_for_each(|file| stdout.write_all(file.text.as_bytes()))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => exit::SUCCESS,
        // A reader that stopped early (`| head`) is not an error.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot write to standard output: {error}");
            exit::INVALID
        }
    }
}

fn report(result: Result<WriteReport, export::WriteError>) -> u8 {
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::INVALID;
        }
    };
    for path in &report.written {
        crate::stdout::line(format_args!("wrote {}", path.display()));
    }
    for path in &report.unchanged {
        crate::stdout::line(format_args!("unchanged {}", path.display()));
    }
    for path in &report.stale {
        eprintln!(
            "note: {} was written by an earlier export of this project and is not part of this \
             one: left in place, remove it if it is no longer wanted",
            path.display()
        );
    }
    exit::SUCCESS
}
