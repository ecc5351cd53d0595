//! Reading a `wrangle.toml` into a spanned raw form: the shape of the file, checked key by key.
//!
//! This module owns everything that can be decided by looking at one value at a time: which keys
//! exist where, the type of every value, enumerations (`restart`, conditions, signals), durations,
//! ports, probe URLs and regexes. It walks the parser's spanned document (`toml::de::DeTable`)
//! by hand rather than deriving serde structs, because that gives a precise span for every key
//! *and* every value and lets one pass report all problems instead of stopping at the first.
//!
//! It does not touch the file system and does not look across services: defaults, env files,
//! working directories, ports shared between services and the dependency graph belong to
//! `resolve`, which consumes [`RawProject`]. Values keep their spans (`toml::Spanned`) only where
//! `resolve` may still complain about them.
//!
//! One [`Reader`] walks the whole file; each part of the file has its own reader methods, in the
//! file named after that part (in reading order):
//! - `project`: the top level, `[logs]`, `[monitor]`, `[metrics]`, `[dashboard]`;
//! - `services`: `[services.NAME]` and `[defaults]`, and the service name rule;
//! - `sockets`: `[sockets.NAME]`, the listening sockets wrangle passes to services;
//! - `probes`: a service's `ready`;
//! - `notify`: `[[notify]]` entries;
//! - `values`: readers of single values that every part uses (durations, sizes, signals, argv).
//!
//! Before any of them, `profiles` lays the selected `[profiles.NAME]` tables and
//! `wrangle.local.toml` over the document, then `interpolate` puts in the `${...}` references of
//! the values that may have them.
//!
//! Adding a key is a change to the part that owns it: its key list, one match arm, one field.

use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::diagnostic::{Diagnostic, SourceFile};

mod interpolate;
mod notify;
mod probes;
mod profiles;
mod project;
mod services;
mod sockets;
mod values;

pub(crate) use interpolate::Sources;
pub(crate) use notify::{NOTIFY_KEYS, RawNotify, resolve as resolve_notify};
pub(crate) use probes::{LIVE_KEYS, LIVE_KINDS, READY_KEYS, READY_KINDS};
pub(crate) use profiles::PROFILE_KEYS;
pub(crate) use project::{
    DASHBOARD_KEYS, LOGS_KEYS, METRICS_KEYS, MONITOR_KEYS, RawProject, TOP_LEVEL_KEYS,
};
pub(crate) use services::{
    CONDITIONS, DEFAULTS_KEYS, RESTART_POLICIES, RawCommand, RawDependency, RawService,
    RawSettings, SERVICE_KEYS, service_name_problem,
};
pub(crate) use sockets::{RawListen, RawSocket, SOCKET_KEYS};

type Value<'i> = Spanned<DeValue<'i>>;

/// Parses and shape-checks `file`, with the `profiles` selected (in order) and the local file
/// laid over it (see `profiles`). `file` is `wrangle.toml` alone, or `wrangle.toml` followed by
/// `wrangle.local.toml` (`SourceFile::combined`). A TOML syntax error is returned alone: the
/// parser cannot recover reliably, so anything reported after it would be noise.
pub(crate) fn read(
    file: &Arc<SourceFile>,
    profiles: &[String],
    sources: &mut Sources<'_>,
) -> (RawProject, Vec<Diagnostic>) {
    let mut reader = Reader {
        file,
        diagnostics: Vec::new(),
        picked_ports: Default::default(),
    };
    let mut documents = Vec::new();
    for (start, part) in file.parts() {
        let text = &file.text()[start..start + part.text().len()];
        match DeTable::parse(text) {
            Ok(document) => documents.push(profiles::shift_table(document.into_inner(), start)),
            Err(error) => {
                let message = error.message().trim().to_string();
                let diagnostic = match error.span() {
                    Some(span) => Diagnostic::at(
                        file,
                        span.start + start..span.end + start,
                        format!("invalid TOML: {message}"),
                        message.clone(),
                    ),
                    None => Diagnostic::in_file(file, format!("invalid TOML: {message}")),
                };
                return (RawProject::default(), vec![diagnostic]);
            }
        }
    }
    let mut documents = documents.into_iter();
    let mut document = documents.next().unwrap_or_default();
    reader.overlay(&mut document, documents.next(), profiles);
    reader.interpolate(&mut document, sources);
    let mut project = reader.project(&document);
    // Left out by `enabled = false` (a profile's, usually): known, so that what still names
    // them is told why they are missing.
    let (enabled, disabled): (Vec<RawService>, Vec<RawService>) =
        std::mem::take(&mut project.services)
            .into_iter()
            .partition(|service| service.enabled);
    project.services = enabled;
    project.disabled = disabled
        .into_iter()
        .map(|service| service.name.into_inner())
        .collect();
    if project.services.is_empty() && !project.disabled.is_empty() {
        reader.push(Diagnostic::in_file(
            file,
            format!(
                "every service is left out (enabled = false): {}",
                project.disabled.join(", ")
            ),
        ));
    }
    (project, reader.diagnostics)
}

struct Reader<'f> {
    file: &'f Arc<SourceFile>,
    diagnostics: Vec<Diagnostic>,
    /// The port picked for each service with `port = "auto"` or a range (by `interpolate`).
    picked_ports: std::collections::BTreeMap<String, u16>,
}

impl Reader<'_> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}
