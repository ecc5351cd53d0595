//! `[[notify]]` entries: shape-checked here, one value at a time like the rest of the file, and
//! resolved against the project's service names by [`resolve`] (called from `config::resolve`).
//!
//! A child of `document` so that it shares the `Reader` and its located-diagnostic helpers.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::probes::check_webhook_url;
use super::values::describe;
use super::{Reader, Value};
use crate::config::diagnostic::{Diagnostic, SourceFile};
use crate::spec::{
    CaFile, CommandSpec, EVENT_KINDS, NotifySpec, NotifyTarget, PayloadFormat, WebhookSpec,
};

/// Keys allowed in a `[[notify]]` table.
pub(crate) const NOTIFY_KEYS: &[&str] = &[
    "on",
    "services",
    "webhook",
    "command",
    "timeout",
    "retries",
    "rate_limit",
    "rate_window",
    "format",
    "ca_file",
];

pub(crate) const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_NOTIFY_RETRIES: u32 = 3;
pub(crate) const DEFAULT_RATE_LIMIT: u32 = 10;
pub(crate) const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);
/// Retries beyond this only delay the next notification of the same entry.
const MAX_RETRIES: i64 = 10;
const MAX_RATE_LIMIT: i64 = 10_000;
/// A notification that takes longer than this is not coming.
const MAX_TIMEOUT: (Duration, &str) = (Duration::from_secs(3600), "1h");
/// Longer windows would only hide a crash loop's summary for days.
const MAX_RATE_WINDOW: (Duration, &str) = (Duration::from_secs(24 * 3600), "24h");

/// One `[[notify]]` entry after the shape check.
#[derive(Debug)]
pub(crate) struct RawNotify {
    /// `None` when the entry has a problem (already reported).
    pub(crate) spec: Option<NotifySpec>,
    /// `services = [...]`, kept with spans until the service names are known.
    pub(crate) services: Vec<Spanned<String>>,
    /// `ca_file`, read by `resolve` (relative to the project's directory).
    pub(crate) ca_file: Option<Spanned<String>>,
}

impl Reader<'_> {
    /// The top-level `notify` key: an array of tables (`[[notify]]`).
    pub(super) fn notify_entries(&mut self, value: &Value<'_>) -> Vec<RawNotify> {
        let DeValue::Array(items) = value.get_ref() else {
            let mut diagnostic = Diagnostic::at(
                self.file,
                value.span(),
                format!(
                    "expected an array of tables for `notify`, found {}",
                    describe(value.get_ref())
                ),
                "expected [[notify]] entries",
            );
            if let DeValue::Table(_) = value.get_ref() {
                diagnostic = diagnostic
                    .with_help("write [[notify]] (with double brackets): there may be many");
            }
            self.push(diagnostic);
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| self.notify_entry(item, &format!("notify[{index}]")))
            .collect()
    }

    fn notify_entry(&mut self, value: &Value<'_>, path: &str) -> RawNotify {
        let mut raw = RawNotify {
            spec: None,
            services: Vec::new(),
            ca_file: None,
        };
        let Some(table) = self.table(value, path, "a table") else {
            return raw;
        };
        let mut ok = true;
        let mut on: Option<Vec<String>> = None;
        let mut on_seen = false;
        let mut target: Option<(Range<usize>, &'static str, Option<NotifyTarget>)> = None;
        let mut timeout = DEFAULT_NOTIFY_TIMEOUT;
        let mut retries: Option<(Range<usize>, u32)> = None;
        let mut rate_limit = DEFAULT_RATE_LIMIT;
        let mut rate_window = DEFAULT_RATE_WINDOW;
        let mut format: Option<(Range<usize>, PayloadFormat)> = None;
        let mut ca_file_key: Option<Range<usize>> = None;
        for (key, item) in table.iter() {
            let name = key.get_ref().as_ref();
            let key_path = format!("{path}.{name}");
            match name {
                "on" => {
                    on_seen = true;
                    on = self.notify_on(item, &key_path);
                    ok &= on.is_some();
                }
                "services" => match self.strings(item, &key_path) {
                    Some(services) => raw.services = self.unique(services, &key_path),
                    None => ok = false,
                },
                "webhook" | "command" => {
                    let kind: &'static str = if name == "webhook" {
                        "webhook"
                    } else {
                        "command"
                    };
                    if let Some((first, _, _)) = &target {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                key.span(),
                                format!("`{path}` sets both `webhook` and `command`"),
                                "second target",
                            )
                            .with_context(first.clone(), "first target")
                            .with_help("use one [[notify]] entry per target"),
                        );
                        ok = false;
                        continue;
                    }
                    let parsed = match kind {
                        "webhook" => self.webhook(item, &key_path),
                        _ => self.notify_command(item, &key_path),
                    };
                    target = Some((key.span(), kind, parsed));
                }
                "timeout" => match self.bounded_duration(item, &key_path, MAX_TIMEOUT) {
                    Some(duration) => timeout = duration,
                    None => ok = false,
                },
                "retries" => {
                    match self
                        .integer(item, &key_path, "a number of retries")
                        .and_then(|number| self.in_range(number, item, &key_path, 0, MAX_RETRIES))
                        .and_then(|number| u32::try_from(number).ok())
                    {
                        Some(number) => retries = Some((key.span(), number)),
                        None => ok = false,
                    }
                }
                "rate_limit" => {
                    match self
                        .integer(item, &key_path, "a number of notifications")
                        .and_then(|number| {
                            self.in_range(number, item, &key_path, 1, MAX_RATE_LIMIT)
                        })
                        .and_then(|number| u32::try_from(number).ok())
                    {
                        Some(number) => rate_limit = number,
                        None => ok = false,
                    }
                }
                "rate_window" => match self.bounded_duration(item, &key_path, MAX_RATE_WINDOW) {
                    Some(duration) => rate_window = duration,
                    None => ok = false,
                },
                "format" => match self.payload_format(item, &key_path) {
                    Some(chosen) => format = Some((key.span(), chosen)),
                    None => ok = false,
                },
                "ca_file" => match self.string(item, &key_path) {
                    Some(path) if !path.get_ref().is_empty() => {
                        ca_file_key = Some(key.span());
                        raw.ca_file = Some(path);
                    }
                    Some(path) => {
                        self.push(Diagnostic::at(
                            self.file,
                            path.span(),
                            format!("`{key_path}` is empty"),
                            "expected the path of a PEM file",
                        ));
                        ok = false;
                    }
                    None => ok = false,
                },
                other => self.unknown_key(key, other, &format!("[[notify]] ({path})"), NOTIFY_KEYS),
            }
        }
        if !on_seen {
            self.push(
                Diagnostic::at(
                    self.file,
                    self.entry_span(value, table),
                    format!("`{path}` has no `on`"),
                    "`on` is required",
                )
                .with_help("list the events to notify about, e.g. on = [\"crashed\", \"failed\"]"),
            );
            ok = false;
        }
        let target = match target {
            Some((_, kind, Some(mut target))) => {
                if let NotifyTarget::Webhook(webhook) = &mut target {
                    if let Some((_, chosen)) = format {
                        webhook.format = chosen;
                    }
                    if let Some(span) = &ca_file_key
                        && !webhook.url.to_ascii_lowercase().starts_with("https://")
                    {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                span.clone(),
                                format!("`{path}.ca_file` only applies to an https:// webhook"),
                                "not used over http://",
                            )
                            .with_help("remove it, or use the receiver's https:// URL"),
                        );
                        ok = false;
                    }
                }
                let webhook_only = [
                    (format.as_ref().map(|(span, _)| span), "format"),
                    (ca_file_key.as_ref(), "ca_file"),
                ];
                for (span, key) in webhook_only {
                    if let (Some(span), "command") = (span, kind) {
                        self.push(
                            Diagnostic::at(
                                self.file,
                                span.clone(),
                                format!("`{path}.{key}` only applies to a webhook"),
                                "not used by a command",
                            )
                            .with_help("a command gets wrangle's JSON payload on stdin"),
                        );
                        ok = false;
                    }
                }
                if let (Some((span, _)), "command") = (&retries, kind) {
                    self.push(
                        Diagnostic::at(
                            self.file,
                            span.clone(),
                            format!("`{path}.retries` only applies to a webhook"),
                            "not used by a command",
                        )
                        .with_help(
                            "a command is run once: it may have done part of its work before it \
                             failed; retry inside the command if it is safe to",
                        ),
                    );
                    ok = false;
                }
                Some(target)
            }
            Some((_, _, None)) => None,
            None => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        self.entry_span(value, table),
                        format!("`{path}` has no target"),
                        "expected `webhook` or `command`",
                    )
                    .with_help(
                        "add webhook = \"http://127.0.0.1:9000/hook\" or command = [\"notify-send\", \"wrangle\"]",
                    ),
                );
                None
            }
        };
        let retries = match &target {
            Some(NotifyTarget::Webhook(_)) => retries
                .map(|(_, retries)| retries)
                .unwrap_or(DEFAULT_NOTIFY_RETRIES),
            _ => 0,
        };
        if let (true, Some(on), Some(target)) = (ok, on, target) {
            raw.spec = Some(NotifySpec {
                on,
                // Filled in by `resolve` once the names are checked.
                services: Vec::new(),
                target,
                timeout,
                retries,
                rate_limit,
                rate_window,
            });
        }
        raw
    }

    /// A positive duration no longer than `max`.
    fn bounded_duration(
        &mut self,
        value: &Value<'_>,
        path: &str,
        (max, max_text): (Duration, &str),
    ) -> Option<Duration> {
        let duration = self.duration(value, path, true)?.into_inner();
        if duration > max {
            self.push(Diagnostic::at(
                self.file,
                value.span(),
                format!("`{path}` must be at most {max_text}"),
                "too long",
            ));
            return None;
        }
        Some(duration)
    }

    /// Where to point at a whole entry: its first key (a `[[notify]]` table's own span may cover
    /// only its header, or nothing useful for an inline table).
    fn entry_span(&self, value: &Value<'_>, table: &DeTable<'_>) -> Range<usize> {
        table
            .iter()
            .next()
            .map(|(key, _)| key.span())
            .unwrap_or_else(|| value.span())
    }

    /// `on`: event kinds, each known, none twice, at least one.
    fn notify_on(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<String>> {
        let kinds = self.strings(value, path)?;
        if kinds.is_empty() {
            self.push(
                Diagnostic::at(
                    self.file,
                    value.span(),
                    format!("`{path}` is empty"),
                    "expected at least one event kind",
                )
                .with_help("for example: on = [\"crashed\", \"failed\"]"),
            );
            return None;
        }
        let known: Vec<&str> = EVENT_KINDS.iter().map(|(name, _)| *name).collect();
        let mut ok = true;
        for kind in &kinds {
            if known.contains(&kind.get_ref().as_str()) {
                continue;
            }
            ok = false;
            self.push(
                Diagnostic::at(
                    self.file,
                    kind.span(),
                    format!("unknown event kind \"{}\" in `{path}`", kind.get_ref()),
                    "unknown event kind",
                )
                .with_suggestion(kind.get_ref(), known.iter().copied())
                .with_note(format!("known kinds: {}", known.join(", "))),
            );
        }
        let kinds = self.unique(kinds, path);
        ok.then(|| kinds.into_iter().map(Spanned::into_inner).collect())
    }

    /// Reports a value listed twice (at the second) and keeps the first of each.
    fn unique(&mut self, values: Vec<Spanned<String>>, path: &str) -> Vec<Spanned<String>> {
        let mut kept: Vec<Spanned<String>> = Vec::with_capacity(values.len());
        for value in values {
            if let Some(first) = kept.iter().find(|kept| kept.get_ref() == value.get_ref()) {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("`{path}` lists \"{}\" twice", value.get_ref()),
                        "listed again here",
                    )
                    .with_context(first.span(), "first listed here"),
                );
                continue;
            }
            kept.push(value);
        }
        kept
    }

    /// `webhook`: an `http://` or `https://` URL; the format and trust are set by their keys.
    fn webhook(&mut self, value: &Value<'_>, path: &str) -> Option<NotifyTarget> {
        let url = self.string(value, path)?;
        match check_webhook_url(url.get_ref()) {
            Ok(()) => Some(NotifyTarget::Webhook(WebhookSpec::json(url.into_inner()))),
            Err((message, label)) => {
                self.push(
                    Diagnostic::at(self.file, value.span(), message, label).with_help(
                        "for example: webhook = \"https://hooks.slack.com/services/...\"",
                    ),
                );
                None
            }
        }
    }

    /// `format`: one of [`PayloadFormat::ALL`].
    fn payload_format(&mut self, value: &Value<'_>, path: &str) -> Option<PayloadFormat> {
        let name = self.string(value, path)?;
        let found = PayloadFormat::ALL
            .iter()
            .find(|(known, _)| *known == name.get_ref().as_str());
        if let Some((_, format)) = found {
            return Some(*format);
        }
        let known: Vec<&str> = PayloadFormat::ALL.iter().map(|(name, _)| *name).collect();
        self.push(
            Diagnostic::at(
                self.file,
                name.span(),
                format!("unknown webhook format \"{}\" in `{path}`", name.get_ref()),
                "unknown format",
            )
            .with_suggestion(name.get_ref(), known.iter().copied())
            .with_note(format!("formats: {}", known.join(", "))),
        );
        None
    }

    /// `command`: an argv array, or a string split into words without a shell.
    fn notify_command(&mut self, value: &Value<'_>, path: &str) -> Option<NotifyTarget> {
        let argv = self.command_argv(value, path)?;
        Some(NotifyTarget::Command(CommandSpec { argv, shell: false }))
    }
}

/// Checks every entry's `services` against the project's service names and returns the specs,
/// in order. Entries with a problem are left out (their problems are in `diagnostics`, so no
/// spec is built from this file at all).
///
/// `read_ca_file` reads an entry's `ca_file` (through the load's trust gate) and reports its
/// own problems.
pub(crate) fn resolve(
    entries: &[RawNotify],
    service_names: &[&str],
    file: &Arc<SourceFile>,
    read_ca_file: &mut dyn FnMut(&Spanned<String>) -> Option<CaFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<NotifySpec> {
    let mut specs = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let mut ok = true;
        for name in &entry.services {
            if service_names.contains(&name.get_ref().as_str()) {
                continue;
            }
            ok = false;
            diagnostics.push(
                Diagnostic::at(
                    file,
                    name.span(),
                    format!(
                        "unknown service \"{}\" in `notify[{index}].services`",
                        name.get_ref()
                    ),
                    "no such service",
                )
                .with_suggestion(name.get_ref(), service_names.iter().copied())
                .with_note(format!("services: {}", service_names.join(", "))),
            );
        }
        let ca_file = match &entry.ca_file {
            Some(reference) => match read_ca_file(reference) {
                Some(ca_file) => Some(ca_file),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        if let (true, Some(spec)) = (ok, &entry.spec) {
            let mut target = spec.target.clone();
            if let NotifyTarget::Webhook(webhook) = &mut target {
                webhook.ca_file = ca_file;
            }
            specs.push(NotifySpec {
                target,
                services: entry
                    .services
                    .iter()
                    .map(|name| name.get_ref().clone())
                    .collect(),
                ..spec.clone()
            });
        }
    }
    specs
}
