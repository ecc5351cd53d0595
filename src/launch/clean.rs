//! Deleting services' `clean` paths before a start (`wrangle up --clean`) or on request
//! (`wrangle clean`), always while holding the project lock, so nothing deletes files a run of
//! the project is using.
//!
//! The deleting itself is `sys::clean` (relative to directory descriptors, nothing followed);
//! this module picks the paths, keeps going after a failed one, and words what happened. Nothing
//! here prints: the caller gets the lines.

use std::path::PathBuf;

use crate::exit;
use crate::human;
use crate::launch::Prepared;
use crate::spec::{ProjectSpec, ServiceId};
use crate::sys::clean::{self, CleanError};

/// What cleaning did: a line per path, the space freed, and whether any path failed.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub lines: Vec<String>,
    /// Disk space freed, in bytes (allocated blocks of what was removed).
    pub freed: u64,
    /// The paths that could not be (entirely) removed, with why.
    pub failures: Vec<(PathBuf, CleanError)>,
}

impl Cleaned {
    /// 0, or 4 when any path was refused or failed: a refusal before anything starts.
    pub fn exit_code(&self) -> u8 {
        match self.failures.is_empty() {
            true => exit::SUCCESS,
            false => exit::PREFLIGHT_REFUSED,
        }
    }

    /// Whether `line` (one of [`Cleaned::lines`]) tells of a failure.
    pub fn is_failure(line: &str) -> bool {
        line.contains(": error: ")
    }

    /// The closing line: what was freed, or that nothing was to clean.
    pub fn summary(&self) -> String {
        match (self.failures.len(), self.freed) {
            (0, _) if self.lines.is_empty() => "clean: no service has `clean` paths".to_string(),
            (0, freed) => format!("clean: {} freed", human::bytes(freed)),
            (failed, freed) => format!(
                "clean: {} freed; {failed} path{} refused or failed",
                human::bytes(freed),
                if failed == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Deletes the `clean` paths of `services` (each once, in declaration order), going on after
/// a failure so that one report says everything.
pub fn services(spec: &ProjectSpec, services: &[ServiceId]) -> Cleaned {
    let mut cleaned = Cleaned::default();
    let mut done: Vec<&PathBuf> = Vec::new();
    for service in services.iter().filter_map(|&id| spec.services.get(id)) {
        for path in &service.clean {
            if done.contains(&path) {
                continue;
            }
            done.push(path);
            let shown = path.display();
            let name = &service.name;
            match clean::remove_below(&spec.root, path) {
                Ok(removed) if !removed.existed => {
                    cleaned
                        .lines
                        .push(format!("{name}: {shown}: nothing there"));
                }
                Ok(removed) => {
                    cleaned.freed = cleaned.freed.saturating_add(removed.bytes);
                    cleaned.lines.push(format!(
                        "{name}: removed {shown} ({} in {} entr{})",
                        human::bytes(removed.bytes),
                        removed.entries,
                        if removed.entries == 1 { "y" } else { "ies" }
                    ));
                }
                Err(error) => {
                    let removed = error.removed();
                    cleaned.freed = cleaned.freed.saturating_add(removed.bytes);
                    let mut text = format!("{name}: error: {shown}: {error}");
                    let mut source = std::error::Error::source(&error);
                    while let Some(cause) = source {
                        text.push_str(&format!(": {cause}"));
                        source = cause.source();
                    }
                    if removed.entries > 0 {
                        text.push_str(&format!(
                            " ({} freed before that)",
                            human::bytes(removed.bytes)
                        ));
                    }
                    cleaned.lines.push(text);
                    cleaned.failures.push((path.clone(), error));
                }
            }
        }
    }
    cleaned
}

/// `up --clean`: the `clean` paths of every service the run starts, deleted after the project
/// is locked and before anything starts.
pub fn before_start(prepared: &Prepared) -> Cleaned {
    services(
        &prepared.spec,
        &super::run_ids(&prepared.spec, &prepared.selected),
    )
}
