//! Finding and loading a project's configuration: `wrangle.toml` or a Procfile, into a
//! [`ProjectSpec`].
//!
//! This module owns the file formats and every check on them. It hands the rest of wrangle a
//! spec that is valid by construction, or a [`ConfigError`] listing every problem with its
//! `path:line:column`, rendered the way rustc does. It imports only [`crate::spec`] (and
//! `human`, to write durations in messages): no process, no async runtime, no terminal handling
//! (the caller decides whether to colour).
//!
//! # Theory of operation
//!
//! Loading is "parse, then resolve":
//!
//! 1. `document` walks the parser's spanned TOML tree and checks the shape of the file one value
//!    at a time (keys, types, enumerations, durations, probe kinds), keeping spans where later
//!    checks may still need them.
//! 2. `resolve` applies `[defaults]` and built-in defaults, reads env files, checks working
//!    directories, ports across services and the dependency graph, and builds the spec.
//!
//! Both stages collect diagnostics instead of returning at the first one, so a user fixes a
//! file in one round trip. A TOML syntax error is the exception: it is reported alone. A
//! Procfile has its own small parser in `procfile`. Nothing here panics on any input: the file
//! may be anything, and a config error must be a message, not a crash.
//!
//! Before anything is parsed, `trust` decides whether the file may be used at all: a config file
//! found by walking up, or an env file, that another user could have written is refused (the
//! caller says who runs wrangle and which directories they trust). Every file is read through
//! it: never blocking, only regular files, bounded in size.
//!
//! A `wrangle.toml` may be overlaid: by the profiles the caller selects (`[profiles.NAME]`) and
//! by `wrangle.local.toml` beside it, if present (a developer's own settings, read through the
//! same gate as the config). Both are laid over the document before its shape is read
//! (`document::profiles`), and a problem in either is located in the file that has it.

mod command_line;
mod diagnostic;
mod document;
mod dotenv;
mod procfile;
mod resolve;
mod schema;
mod trust;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::diagnostic::SourceFile;
pub use crate::config::diagnostic::{ConfigError, Diagnostic};
pub use crate::config::schema::json_schema;
pub use crate::config::trust::{Accounts, Origin, PortPicking, TRUSTED_DIRS_VAR, Trust, UserEntry};
use crate::config::trust::{Gate, MAX_CONFIG_BYTES, Verdict};
use crate::spec::ProjectSpec;

/// The file name that wins when a directory has both.
pub const CONFIG_FILE_NAME: &str = "wrangle.toml";
/// The fallback, for projects that already have one.
pub const PROCFILE_NAME: &str = "Procfile";
/// Beside `wrangle.toml`, laid over it last: a developer's own settings, kept out of git.
pub const LOCAL_FILE_NAME: &str = "wrangle.local.toml";

/// Walks up from `start_dir` (like Cargo looks for `Cargo.toml`): in each directory
/// `wrangle.toml` wins, else `Procfile`. The first directory that has one decides.
pub fn discover(start_dir: &Path) -> Result<PathBuf, ConfigError> {
    let absolute = match std::path::absolute(start_dir) {
        Ok(absolute) => absolute,
        Err(error) => {
            return Err(ConfigError::single(Diagnostic::unlocated(format!(
                "cannot resolve directory {}: {error}",
                start_dir.display()
            ))));
        }
    };
    for directory in absolute.ancestors() {
        for name in [CONFIG_FILE_NAME, PROCFILE_NAME] {
            let candidate = directory.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(ConfigError::single(
        Diagnostic::unlocated(format!(
            "no {CONFIG_FILE_NAME} or {PROCFILE_NAME} found in {} or any parent directory",
            start_dir.display()
        ))
        .with_help(format!(
            "create a {CONFIG_FILE_NAME} in your project directory, for example:\n\
             [services.web]\ncommand = \"python -m http.server 8000\""
        )),
    ))
}

/// A project's config, loaded: the spec, and warnings to show once (a config named with `-f`
/// that wrangle would not have trusted by itself, and the env files under its directory).
#[derive(Debug)]
pub struct Loaded {
    pub spec: ProjectSpec,
    pub warnings: Vec<Diagnostic>,
}

/// Reads and fully validates the configuration at `path`, chosen as `origin`, reading only what
/// `trust` allows (see `trust.rs` for the rule: a discovered file, or an env file, that another
/// user could have written is refused).
///
/// A file whose name starts with `Procfile` is read as a Procfile; anything else as
/// `wrangle.toml`, with [`LOCAL_FILE_NAME`] beside it laid over it. Relative paths inside the
/// file are resolved against its directory.
pub fn load(path: &Path, origin: Origin, trust: &Trust) -> Result<Loaded, ConfigError> {
    load_with_profiles(path, origin, trust, &[])
}

/// [`load`] with the `profiles` selected laid over `wrangle.toml` (in order, a later one wins)
/// before the local file.
pub fn load_with_profiles(
    path: &Path,
    origin: Origin,
    trust: &Trust,
    profiles: &[String],
) -> Result<Loaded, ConfigError> {
    let gate = Gate::new(trust, path, origin);
    let checked = gate.read(path, MAX_CONFIG_BYTES).map_err(|problem| {
        ConfigError::single(Diagnostic::unlocated(format!(
            "cannot read file {}: {problem}",
            path.display()
        )))
    })?;
    let mut warnings = Vec::new();
    match &checked.verdict {
        Verdict::Trusted => {}
        Verdict::Vouched(doubts) => warnings.push(gate.vouched_config(path, doubts)),
        Verdict::Refused(doubts) => {
            return Err(ConfigError::single(gate.refused_config(
                path,
                &checked.real,
                doubts,
            )));
        }
    }
    let source = checked.real;
    let root = match source.parent() {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("/"),
    };
    let text = match String::from_utf8(checked.bytes) {
        Ok(text) => text,
        Err(error) => {
            return Err(ConfigError::single(Diagnostic::unlocated(format!(
                "cannot read file {}: not valid UTF-8 (at byte {})",
                path.display(),
                error.utf8_error().valid_up_to()
            ))));
        }
    };
    let file = SourceFile::new(path.to_path_buf(), text);
    let spec = if is_procfile(path) {
        if let Some(name) = profiles.first() {
            return Err(ConfigError::single(Diagnostic::unlocated(format!(
                "no profile named \"{name}\": a Procfile has no profiles"
            ))));
        }
        procfile::parse(&Arc::new(file), source, root).map_err(ConfigError::new)?
    } else {
        let file = match read_local(&root, &gate, &mut warnings)? {
            Some(local) => SourceFile::combined(file, vec![local]),
            None => file,
        };
        let mut spec = load_toml(
            &Arc::new(file),
            source,
            root,
            &gate,
            &mut warnings,
            profiles,
        )?;
        spec.profiles = profiles.to_vec();
        spec
    };
    Ok(Loaded { spec, warnings })
}

/// `wrangle.local.toml` in `root`, if there is one, read through `gate` like the config.
fn read_local(
    root: &Path,
    gate: &Gate<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Option<SourceFile>, ConfigError> {
    let path = root.join(LOCAL_FILE_NAME);
    let cannot = |problem: String| {
        ConfigError::single(Diagnostic::unlocated(format!(
            "cannot read file {}: {problem}",
            path.display()
        )))
    };
    let checked = match gate.read(&path, MAX_CONFIG_BYTES) {
        Ok(checked) => checked,
        Err(trust::Unreadable::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(problem) => return Err(cannot(problem.to_string())),
    };
    match &checked.verdict {
        Verdict::Trusted => {}
        Verdict::Vouched(doubts) => warnings.push(gate.vouched_config(&path, doubts)),
        Verdict::Refused(doubts) => {
            return Err(ConfigError::single(gate.refused_local(
                &path,
                &checked.real,
                doubts,
            )));
        }
    }
    match String::from_utf8(checked.bytes) {
        Ok(text) => Ok(Some(SourceFile::new(path.clone(), text))),
        Err(error) => Err(cannot(format!(
            "not valid UTF-8 (at byte {})",
            error.utf8_error().valid_up_to()
        ))),
    }
}

/// Checks a `wrangle.toml` that is not written yet: `text` as if it were the file at `path`
/// (relative paths inside it resolve against `path`'s directory; env files are read through
/// `trust` as for a config named with `-f`). `wrangle import` and `init` check their output
/// with it before writing anything.
pub fn check_text(path: &Path, text: String, trust: &Trust) -> Result<Loaded, ConfigError> {
    let gate = Gate::new(trust, path, Origin::Named);
    let root = match path.parent() {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("/"),
    };
    let file = Arc::new(SourceFile::new(path.to_path_buf(), text));
    let mut warnings = Vec::new();
    let spec = load_toml(&file, path.to_path_buf(), root, &gate, &mut warnings, &[])?;
    Ok(Loaded { spec, warnings })
}

/// A Procfile's services in order, as `(name, shell command line)`; problems located in `path`.
pub fn procfile_services(path: &Path, text: String) -> Result<Vec<(String, String)>, ConfigError> {
    let root = match path.parent() {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("/"),
    };
    let file = Arc::new(SourceFile::new(path.to_path_buf(), text));
    let spec = procfile::parse(&file, path.to_path_buf(), root).map_err(ConfigError::new)?;
    Ok(spec
        .services
        .into_iter()
        .map(|service| {
            let line = service.command.argv.last().cloned().unwrap_or_default();
            (service.name, line)
        })
        .collect())
}

/// Splits a command line into words the way `sh` would, without running one (the rule of a
/// string `command`).
pub fn split_command_line(line: &str) -> Result<Vec<String>, &'static str> {
    command_line::split_command_line(line)
}

fn is_procfile(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(PROCFILE_NAME))
}

/// Parses and resolves a `wrangle.toml` whose text is already in memory.
fn load_toml(
    file: &Arc<SourceFile>,
    source: PathBuf,
    root: PathBuf,
    gate: &Gate<'_>,
    warnings: &mut Vec<Diagnostic>,
    profiles: &[String],
) -> Result<ProjectSpec, ConfigError> {
    let env_root = root.clone();
    let mut sources = document::Sources {
        environment: gate.trust.environment(),
        ports: gate.trust.port_picking(),
        env_file: Box::new(move |written: &str| env_file_pairs(gate, &env_root.join(written))),
    };
    let (raw, mut diagnostics) = document::read(file, profiles, &mut sources);
    drop(sources);
    // A syntax error leaves no document to resolve; the shape check reported it alone.
    if raw.services.is_empty() && !diagnostics.is_empty() {
        return Err(ConfigError::new(diagnostics));
    }
    let files = resolve::Files { gate, warnings };
    match resolve::resolve(&raw, file, source, root, files, &mut diagnostics) {
        Some(spec) => Ok(spec),
        None => Err(ConfigError::new(diagnostics)),
    }
}

/// The pairs of the env file at `path` for `${VAR}`, if it may be used; a problem with it is
/// left for `resolve` to report (where it reads the file for the environment).
fn env_file_pairs(gate: &Gate<'_>, path: &Path) -> Option<Vec<(String, String)>> {
    let checked = gate.read(path, trust::MAX_ENV_FILE_BYTES).ok()?;
    if let Verdict::Refused(_) = checked.verdict {
        return None;
    }
    let text = String::from_utf8(checked.bytes).ok()?;
    dotenv::parse(&text).ok()
}

#[cfg(test)]
mod tests;
