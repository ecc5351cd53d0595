//! `wrangle import` and `wrangle init`: another tool's config (a PM2 ecosystem file, a Compose
//! file, a process-compose file, a Procfile) into an equivalent, commented `wrangle.toml`.
//!
//! # Theory of operation
//!
//! Each format has a mapper that reads the source into one value type (YAML and JSON share
//! `serde_norway::Value`, which keeps the order of keys: declaration order is start order) and
//! fills a [`draft::Draft`]: a service per process, each option of the source either mapped to a
//! wrangle key or written as a comment that says why it has no equivalent ([`source::Options`]
//! makes sure no option is silently dropped). The draft is rendered through `toml_edit`'s
//! encoder, so any name or value comes out as valid TOML. The caller (`cli::import`) loads the
//! text through the real config loader before writing it: an import that would not load is an
//! error, never a file.
//!
//! Paths in the source are relative to the source file's directory; the output's are relative to
//! the output file's directory ([`Paths`]). A PM2 ecosystem file in JavaScript is evaluated by
//! `node` (see `node`): that runs the file's code, as PM2 itself would.
//!
//! This module reads files and may run `node`; it never writes (the CLI does, safely).

mod compose;
mod detect;
pub mod draft;
mod node;
mod pm2;
mod process_compose;
mod procfile;
mod source;

use std::fmt;
use std::path::{Component, Path, PathBuf};

pub use crate::import::detect::{Detected, detect};
use crate::import::draft::Draft;

/// The formats `wrangle import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pm2,
    ProcessCompose,
    Compose,
    Procfile,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Pm2 => "pm2",
            Format::ProcessCompose => "process-compose",
            Format::Compose => "compose",
            Format::Procfile => "procfile",
        }
    }
}

/// What went wrong, in the user's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    message: String,
}

impl ImportError {
    pub fn new(message: impl Into<String>) -> ImportError {
        ImportError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for ImportError {}

/// One import.
#[derive(Debug, Clone)]
pub struct Request {
    pub format: Format,
    /// The source file.
    pub source: PathBuf,
    /// The directory the wrangle.toml will be in (relative paths are written against it).
    pub output_dir: PathBuf,
    /// `import procfile --env FILE`: the env file foreman would read.
    pub env_file: Option<PathBuf>,
}

/// Reads and maps `request.source` into a draft of the wrangle.toml.
pub fn import(request: &Request) -> Result<Draft, ImportError> {
    let source = std::path::absolute(&request.source).map_err(|error| {
        ImportError::new(format!(
            "cannot resolve {}: {error}",
            request.source.display()
        ))
    })?;
    let output_dir = std::path::absolute(&request.output_dir).map_err(|error| {
        ImportError::new(format!(
            "cannot resolve {}: {error}",
            request.output_dir.display()
        ))
    })?;
    let paths = Paths {
        source_dir: source
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/")),
        output_dir,
    };
    let file_name = source
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut draft = match request.format {
        Format::Pm2 => pm2::import(&source, &paths)?,
        Format::ProcessCompose => process_compose::import(&source, &paths)?,
        Format::Compose => compose::import(&source, &paths)?,
        Format::Procfile => procfile::import(&source, request.env_file.as_deref(), &paths)?,
    };
    let mut header = vec![
        format!(
            "Imported from {file_name} by `wrangle import {}`.",
            request.format.name()
        ),
        "Check each service before `wrangle up`: comments say what was mapped with a caveat and"
            .to_string(),
        "what has no equivalent. Reference: docs/config.md.".to_string(),
    ];
    header.append(&mut draft.header);
    draft.header = header;
    Ok(draft)
}

/// Where relative paths of the source and of the output start.
#[derive(Debug, Clone)]
pub struct Paths {
    pub source_dir: PathBuf,
    pub output_dir: PathBuf,
}

impl Paths {
    /// A path written in the source (relative to its directory) as the output must write it:
    /// unchanged when both files are in one directory, else relative to the output's directory
    /// when it is below it (an absolute path too), else absolute.
    pub fn rebase(&self, written: &str) -> String {
        let path = Path::new(written);
        if !path.is_absolute() && self.source_dir == self.output_dir {
            return written.to_string();
        }
        let joined = normalize(&self.source_dir.join(path));
        match joined.strip_prefix(&self.output_dir) {
            Ok(relative) if relative.as_os_str().is_empty() => ".".to_string(),
            Ok(relative) => relative.display().to_string(),
            Err(_) => joined.display().to_string(),
        }
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A service name wrangle accepts, made from `name` (another tool's names may hold spaces or
/// slashes): invalid characters become `-`; `None` when nothing usable is left.
pub fn service_name(name: &str) -> Option<String> {
    let mut cleaned: String = name
        .chars()
        .map(|char| match char {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '_' | '.' | '-' => char,
            _ => '-',
        })
        .collect();
    let start = cleaned
        .find(|char: char| char.is_ascii_alphanumeric())
        .unwrap_or(cleaned.len());
    cleaned.drain(..start);
    cleaned.truncate(crate::spec::MAX_SERVICE_NAME_BYTES);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Names that are unique in a draft: a second `web` becomes `web-2`.
#[derive(Debug, Default)]
struct Names {
    taken: Vec<String>,
}

impl Names {
    /// A unique valid name for `wanted`, and a comment when it differs from `wanted`.
    fn claim(&mut self, wanted: &str, fallback: &str) -> (String, Option<String>) {
        let base = service_name(wanted).unwrap_or_else(|| fallback.to_string());
        let mut name = base.clone();
        let mut counter = 2;
        while self.taken.contains(&name) {
            name = format!("{base}-{counter}");
            counter += 1;
        }
        self.taken.push(name.clone());
        let note = (name != wanted).then(|| {
            format!(
                "named {name}: {} is not a valid or unique service name",
                serde_json::to_string(wanted).unwrap_or_default()
            )
        });
        (name, note)
    }
}

/// How many copies of a process another tool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copies {
    Count(u32),
    /// One per CPU.
    PerCpu,
}

/// Sets `instances` (when more than one copy runs) with a comment naming where it came from
/// (`from`) and, since several instances cannot each bind one port, turns a declared `port` into
/// a note: the loader rejects a service with both. An `http` or `tcp` probe on a shared address
/// reaches any instance; the note says how to probe each one.
fn set_instances(service: &mut draft::Service, copies: Copies, from: &str) {
    let value = match copies {
        Copies::Count(0 | 1) => return,
        Copies::Count(count) => {
            toml_edit::Value::from(i64::from(count.min(crate::spec::MAX_INSTANCES)))
        }
        Copies::PerCpu => toml_edit::Value::from("max"),
    };
    service.set("instances", value).comment(format!(
        "{from}; each instance gets WRANGLE_INSTANCE (0, 1, ...) and WRANGLE_INSTANCES"
    ));
    if let Some(port) = service.remove("port") {
        service.note(format!(
            "port = {} not declared: several instances cannot each bind one port. Give the \
             service a [sockets] entry they share (docs/config.md#sockets-1), or let each \
             instance listen on a port chosen from WRANGLE_INSTANCE",
            draft::value(&port.value)
        ));
    }
    let probes_an_address = service.entries.iter().any(|entry| {
        entry.key == "ready"
            && matches!(&entry.value, toml_edit::Value::InlineTable(table)
                if table.contains_key("http") || table.contains_key("tcp"))
    });
    if probes_an_address {
        service.note(
            "ready probes one address for every instance: any of them may answer. Use \
             per_instance = true with an address chosen from WRANGLE_INSTANCE, or a log, exec \
             or notify probe (docs/config.md, \"Readiness is per instance\")",
        );
    }
}

/// A duration in milliseconds as wrangle writes it ("1500ms", "2s", "1m").
/// `user` and `group` from a source's user (and group), when they are names or ids wrangle
/// accepts; a note otherwise. wrangle switches to them only when it runs as root.
fn run_as(service: &mut draft::Service, user: &str, group: Option<&str>, from: &str) {
    let valid = |name: &str| {
        !name.is_empty()
            && name.len() <= 256
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
    };
    for (key, name) in [("user", Some(user)), ("group", group)] {
        let Some(name) = name.filter(|name| !name.is_empty()) else {
            continue;
        };
        match valid(name) {
            true => {
                service
                    .set(key, name)
                    .comment(format!("{from}: applies when wrangle runs as root"));
            }
            false => service.note(format!("not imported: {from} {key} {name:?}")),
        }
    }
}

/// `cpu_max` from a number of CPUs (Compose's `cpus`), when it is one wrangle accepts.
fn cpu_max(service: &mut draft::Service, value: &serde_norway::Value, from: &str) {
    let text = source::scalar_text(value).unwrap_or_default();
    match text.trim().parse::<f64>() {
        Ok(cpus) if (0.01..=10_000.0).contains(&cpus) => {
            service.set("cpu_max", text.trim());
        }
        _ => service.note(format!("not imported: {from} = {}", source::brief(value))),
    }
}

fn millis(ms: u64) -> String {
    match ms {
        0 => "0s".to_string(),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests;
