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
//! Adding a key is a change to the part that owns it: its key list, one match arm, one field.

use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::diagnostic::{Diagnostic, SourceFile};

mod notify;
mod probes;
mod project;
mod services;
mod sockets;
mod values;

pub(crate) use notify::{NOTIFY_KEYS, RawNotify, resolve as resolve_notify};
pub(crate) use probes::{LIVE_KEYS, LIVE_KINDS, READY_KEYS, READY_KINDS};
pub(crate) use project::{
    DASHBOARD_KEYS, LOGS_KEYS, METRICS_KEYS, MONITOR_KEYS, RawProject, TOP_LEVEL_KEYS,
};
pub(crate) use services::{
    CONDITIONS, DEFAULTS_KEYS, RESTART_POLICIES, RawCommand, RawService, RawSettings, SERVICE_KEYS,
    service_name_problem,
};
pub(crate) use sockets::{RawListen, RawSocket, SOCKET_KEYS};

type Value<'i> = Spanned<DeValue<'i>>;

/// Parses and shape-checks `file`. A TOML syntax error is returned alone: the parser cannot
/// recover reliably, so anything reported after it would be noise.
pub(crate) fn read(file: &Arc<SourceFile>) -> (RawProject, Vec<Diagnostic>) {
    let mut reader = Reader {
        file,
        diagnostics: Vec::new(),
    };
    let document = match DeTable::parse(file.text()) {
        Ok(document) => document,
        Err(error) => {
            let message = error.message().trim().to_string();
            let diagnostic = match error.span() {
                Some(span) => Diagnostic::at(
                    file,
                    span,
                    format!("invalid TOML: {message}"),
                    message.clone(),
                ),
                None => Diagnostic::in_file(file, format!("invalid TOML: {message}")),
            };
            return (RawProject::default(), vec![diagnostic]);
        }
    };
    let project = reader.project(document.get_ref());
    (project, reader.diagnostics)
}

struct Reader<'f> {
    file: &'f Arc<SourceFile>,
    diagnostics: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}
