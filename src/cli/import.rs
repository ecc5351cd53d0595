//! `wrangle import FORMAT FILE` and `wrangle init`: draft a wrangle.toml (`crate::import`),
//! check it through the real config loader, and write it without overwriting anything unless
//! asked, never through a planted symbolic link (`sys::file`).

use std::path::{Path, PathBuf};

use crate::config;
use crate::exit;
use crate::import::{self, Format, Request};
use crate::sys::file;

/// `wrangle import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: ImportSource,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImportSource {
    /// A PM2 ecosystem file (.js, .cjs, .json, .yaml). A JavaScript file is evaluated with
    /// `node` to read its exports: that runs its code, as `pm2 start` would.
    Pm2(SourceArgs),
    /// A process-compose file (process-compose.yaml).
    #[command(name = "process-compose")]
    ProcessCompose(SourceArgs),
    /// A Compose file (compose.yaml, docker-compose.yml): services with a command or an
    /// entrypoint run here; image-only services are written as commented-out `docker run`.
    Compose(SourceArgs),
    /// A Procfile (Heroku, foreman).
    Procfile(ProcfileArgs),
}

#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// The file to import.
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct ProcfileArgs {
    /// The Procfile to import.
    pub file: PathBuf,
    /// foreman's env file, as `[defaults] env_file` (relative to the current directory).
    #[arg(long = "env", value_name = "FILE")]
    pub env: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Where to write the wrangle.toml; `-` for standard output.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "wrangle.toml"
    )]
    pub output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ImportArgs) -> u8 {
    let (format, file, env_file, output) = match args.source {
        ImportSource::Pm2(args) => (Format::Pm2, args.file, None, args.output),
        ImportSource::ProcessCompose(args) => {
            (Format::ProcessCompose, args.file, None, args.output)
        }
        ImportSource::Compose(args) => (Format::Compose, args.file, None, args.output),
        ImportSource::Procfile(args) => (Format::Procfile, args.file, args.env, args.output),
    };
    let to_stdout = output.output.as_os_str() == "-";
    let target = match to_stdout {
        true => current_dir().join(config::CONFIG_FILE_NAME),
        false => absolute(&output.output),
    };
    if !to_stdout && !output.force && std::fs::symlink_metadata(&target).is_ok() {
        eprintln!(
            "error: {} exists; add --force to replace it, or -o FILE to write elsewhere",
            output.output.display()
        );
        return exit::INVALID;
    }
    let request = Request {
        format,
        source: file,
        output_dir: parent(&target),
        env_file,
    };
    let draft = match import::import(&request) {
        Ok(draft) => draft,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::INVALID;
        }
    };
    let text = draft.render();
    let Some(service_count) = check(&target, &text) else {
        return exit::INVALID;
    };
    if to_stdout {
        crate::stdout::text(format_args!("{text}"));
        return exit::SUCCESS;
    }
    let written = match output.force {
        true => file::replace(&target, text.as_bytes()),
        false => file::create_new(&target, text.as_bytes()),
    };
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {} ({service_count} service(s)): check the comments, then `wrangle up`",
                output.output.display()
            );
            exit::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write {}: {error}", output.output.display());
            exit::INVALID
        }
    }
}

/// `wrangle init`: a wrangle.toml for the current directory, never over an existing one.
pub fn init() -> u8 {
    let dir = current_dir();
    let target = dir.join(config::CONFIG_FILE_NAME);
    if std::fs::symlink_metadata(&target).is_ok() {
        eprintln!(
            "error: {} already exists; wrangle init never replaces it",
            config::CONFIG_FILE_NAME
        );
        return exit::INVALID;
    }
    let detected = match import::detect(&dir) {
        Ok(detected) => detected,
        Err(error) => {
            eprintln!("error: {error}");
            return exit::INVALID;
        }
    };
    let text = detected.draft.render();
    let Some(service_count) = check(&target, &text) else {
        return exit::INVALID;
    };
    match file::create_new(&target, text.as_bytes()) {
        Ok(()) => {
            match detected.from {
                Some(from) => eprintln!(
                    "wrote {} from {from} ({service_count} service(s)): check the comments, then \
                     `wrangle up`",
                    config::CONFIG_FILE_NAME
                ),
                None => eprintln!(
                    "wrote {} with an example (nothing to import was found): edit it, then \
                     `wrangle up`",
                    config::CONFIG_FILE_NAME
                ),
            }
            exit::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write {}: {error}", config::CONFIG_FILE_NAME);
            exit::INVALID
        }
    }
}

/// Loads `text` as the file at `target` would be; the number of services, or `None` after
/// printing why it does not load (a bug in the import, or a path of the source that does not
/// exist here).
fn check(target: &Path, text: &str) -> Option<usize> {
    // Accounts as written: a draft may name users of the machine it will run on.
    let loaded = crate::launch::config_trust()
        .and_then(|trust| config::check_text(target, text.to_string(), &trust.exporting()));
    match loaded {
        Ok(loaded) => Some(loaded.spec.services.len()),
        Err(error) => {
            eprintln!("{}", error.render(false));
            eprintln!(
                "error: the imported config does not load (above); nothing was written. This is \
                 what it would have been:\n{text}"
            );
            None
        }
    }
}

fn current_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
}
