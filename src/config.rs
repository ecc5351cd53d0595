//! Finding and loading a project's configuration: `wrangle.toml` or a Procfile, into a
//! [`ProjectSpec`].
//!
//! This module owns the file formats and every check on them. It hands the rest of wrangle a
//! spec that is valid by construction, or a [`ConfigError`] listing every problem with its
//! `path:line:column`, rendered the way rustc does. It imports only [`crate::spec`]: no process,
//! no async runtime, no terminal handling (the caller decides whether to colour).
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

mod command_line;
mod diagnostic;
mod document;
mod dotenv;
mod procfile;
mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::diagnostic::SourceFile;
pub use crate::config::diagnostic::{ConfigError, Diagnostic};
use crate::spec::ProjectSpec;

/// The file name that wins when a directory has both.
pub const CONFIG_FILE_NAME: &str = "wrangle.toml";
/// The fallback, for projects that already have one.
pub const PROCFILE_NAME: &str = "Procfile";

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

/// Reads and fully validates the configuration at `path`.
///
/// A file whose name starts with `Procfile` is read as a Procfile; anything else as
/// `wrangle.toml`. Relative paths inside the file are resolved against its directory.
pub fn load(path: &Path) -> Result<ProjectSpec, ConfigError> {
    let unreadable = |error: std::io::Error| {
        ConfigError::single(Diagnostic::unlocated(format!(
            "cannot read file {}: {error}",
            path.display()
        )))
    };
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let source = std::fs::canonicalize(path).map_err(unreadable)?;
    let root = match source.parent() {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("/"),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            return Err(ConfigError::single(Diagnostic::unlocated(format!(
                "cannot read file {}: not valid UTF-8 (at byte {})",
                path.display(),
                error.utf8_error().valid_up_to()
            ))));
        }
    };
    let file = Arc::new(SourceFile::new(path.to_path_buf(), text));
    if is_procfile(path) {
        return procfile::parse(&file, source, root).map_err(ConfigError::new);
    }
    load_toml(&file, source, root)
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
) -> Result<ProjectSpec, ConfigError> {
    let (raw, mut diagnostics) = document::read(file);
    // A syntax error leaves no document to resolve; the shape check reported it alone.
    if raw.services.is_empty() && !diagnostics.is_empty() {
        return Err(ConfigError::new(diagnostics));
    }
    match resolve::resolve(&raw, file, source, root, &mut diagnostics) {
        Some(spec) => Ok(spec),
        None => Err(ConfigError::new(diagnostics)),
    }
}

#[cfg(test)]
mod tests;
