//! Profiles and the local override file: `[profiles.NAME]` tables and `wrangle.local.toml`,
//! laid over the document before its shape is read.
//!
//! # Theory of operation
//! Overlaying works on the parser's spanned tree, before any key is read, so every key of
//! `[defaults]` and `[services.NAME]` can be overlaid without the readers knowing, and a value
//! keeps its span: a problem in a value that a profile or the local file set is reported where
//! that value is written. The local file is parsed on its own and its spans are moved past
//! `wrangle.toml`'s text: both texts form one `SourceFile` whose parts the diagnostics tell
//! apart.
//!
//! The order is: `wrangle.toml`, then each selected profile in the order given (later wins),
//! then `wrangle.local.toml`. A profile may be defined in either file (the local file's
//! `[profiles.NAME]` tables are merged into the definitions first).
//!
//! The merge rule: a table is merged key by key, recursively (a service's table, `env`,
//! `limits`); anything else (arrays included) is replaced whole, and so are `ready` and `live`,
//! whose keys depend on the probe's kind.
//!
//! Every profile's shape is checked whether or not it is selected (its tables, their keys, and
//! that each service it names is defined); the values of the selected ones are checked, like
//! any, once laid over the document.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{DEFAULTS_KEYS, Reader, SERVICE_KEYS, Value};
use crate::config::diagnostic::Diagnostic;

/// The top-level table of profiles.
pub(crate) const PROFILES_KEY: &str = "profiles";
/// Keys allowed in `[profiles.NAME]`.
pub(crate) const PROFILE_KEYS: &[&str] = &["defaults", "services"];
/// Replaced whole by an overlay, never merged: a probe's keys depend on its kind.
const REPLACED_WHOLE: &[&str] = &["ready", "live"];

impl Reader<'_> {
    /// Takes `[profiles]` out of `document` and `local`, checks every profile, and lays the
    /// `selected` ones (in order), then `local`, over `document`.
    pub(super) fn overlay<'i>(
        &mut self,
        document: &mut DeTable<'i>,
        mut local: Option<DeTable<'i>>,
        selected: &[String],
    ) {
        let mut profiles = DeTable::new();
        self.take_profiles(document, &mut profiles);
        if let Some(local) = &mut local {
            self.take_profiles(local, &mut profiles);
        }
        let mut known: Vec<String> = service_names(document);
        if let Some(local) = &local {
            known.extend(service_names(local));
        }
        for (name, profile) in profiles.iter() {
            let checks_keys = !selected
                .iter()
                .any(|chosen| chosen == name.get_ref().as_ref());
            self.check_profile(name.get_ref(), profile, &known, checks_keys);
        }
        for name in selected {
            match profiles.get(name.as_str()) {
                Some(profile) => {
                    if let DeValue::Table(profile) = profile.get_ref() {
                        // Malformed parts were reported by `check_profile`.
                        let mut overlay = DeTable::new();
                        for (key, value) in profile.iter() {
                            if PROFILE_KEYS.contains(&key.get_ref().as_ref()) && is_table(value) {
                                overlay.insert(key.clone(), value.clone());
                            }
                        }
                        merge(document, overlay);
                    }
                }
                None => {
                    let names: Vec<&str> =
                        profiles.keys().map(|key| key.get_ref().as_ref()).collect();
                    let note = match names.is_empty() {
                        true => {
                            "this project defines no profile (a [profiles.NAME] table)".to_string()
                        }
                        false => format!("profiles: {}", names.join(", ")),
                    };
                    self.push(
                        Diagnostic::in_file(self.file, format!("no profile named \"{name}\""))
                            .with_suggestion(name, names.iter().copied())
                            .with_note(note),
                    );
                }
            }
        }
        if let Some(local) = local {
            merge(document, local);
        }
    }

    /// Moves the profiles of `document` into `profiles` (merged into those already there).
    fn take_profiles<'i>(&mut self, document: &mut DeTable<'i>, profiles: &mut DeTable<'i>) {
        let Some(value) = document.remove(PROFILES_KEY) else {
            return;
        };
        if self
            .table(&value, PROFILES_KEY, "a table of profiles")
            .is_none()
        {
            return;
        }
        if let DeValue::Table(table) = value.into_inner() {
            merge(profiles, table);
        }
    }

    /// Reports what is wrong with the shape of profile `name`: its tables, the keys of each
    /// when `checks_keys` (a selected profile's keys are checked where they land), and services
    /// that are not defined (by `known`, or by the profile itself with a `command`).
    fn check_profile(
        &mut self,
        name: &str,
        profile: &Value<'_>,
        known: &[String],
        checks_keys: bool,
    ) {
        let place = format!("profiles.{name}");
        let Some(table) = self.table(profile, &place, "a table") else {
            return;
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "defaults" => {
                    let path = format!("{place}.defaults");
                    let Some(defaults) = self.table(value, &path, "a table") else {
                        continue;
                    };
                    if checks_keys {
                        for (key, _) in defaults.iter() {
                            let written = key.get_ref().as_ref();
                            if !DEFAULTS_KEYS.contains(&written) {
                                self.unknown_key(key, written, &format!("[{path}]"), DEFAULTS_KEYS);
                            }
                        }
                    }
                }
                "services" => {
                    let path = format!("{place}.services");
                    let Some(services) = self.table(value, &path, "a table of services") else {
                        continue;
                    };
                    for (service, settings) in services.iter() {
                        let service_name = service.get_ref().as_ref();
                        let path = format!("{path}.{service_name}");
                        let Some(settings) = self.table(settings, &path, "a table") else {
                            continue;
                        };
                        let defined = known.iter().any(|known| known == service_name)
                            || settings.contains_key("command");
                        if !defined {
                            self.push(
                                Diagnostic::at(
                                    self.file,
                                    service.span(),
                                    format!("profile \"{name}\" changes service \"{service_name}\", which is not defined"),
                                    "no service with this name",
                                )
                                .with_suggestion(service_name, known.iter().map(String::as_str))
                                .with_note("a profile changes services of wrangle.toml (or wrangle.local.toml), or defines one with its `command`"),
                            );
                        }
                        if checks_keys {
                            for (key, _) in settings.iter() {
                                let written = key.get_ref().as_ref();
                                if !SERVICE_KEYS.contains(&written) {
                                    self.unknown_key(
                                        key,
                                        written,
                                        &format!("[{path}]"),
                                        SERVICE_KEYS,
                                    );
                                }
                            }
                        }
                    }
                }
                other => self.unknown_key(key, other, &format!("[{place}]"), PROFILE_KEYS),
            }
        }
    }
}

/// The names of the services `document` defines.
fn service_names(document: &DeTable<'_>) -> Vec<String> {
    match document.get("services").map(Spanned::get_ref) {
        Some(DeValue::Table(services)) => services
            .keys()
            .map(|key| key.get_ref().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// Lays `over` on `base`: tables merged key by key, anything else replaced (see the module
/// docs). New keys come after the existing ones, in `over`'s order.
pub(super) fn merge<'i>(base: &mut DeTable<'i>, over: DeTable<'i>) {
    for (key, value) in over {
        let whole = REPLACED_WHOLE.contains(&key.get_ref().as_ref());
        let existing = base.get_mut(key.get_ref().as_ref());
        match existing {
            Some(existing) if !whole && is_table(existing) && is_table(&value) => {
                if let (DeValue::Table(base_table), DeValue::Table(over_table)) =
                    (existing.get_mut(), value.into_inner())
                {
                    merge(base_table, over_table);
                }
            }
            _ => {
                base.insert(key, value);
            }
        }
    }
}

fn is_table(value: &Value<'_>) -> bool {
    matches!(value.get_ref(), DeValue::Table(_))
}

/// Moves every span of `table` (keys and values, at any depth) `by` bytes further: the local
/// file's spans, past `wrangle.toml`'s text in their shared `SourceFile`.
pub(super) fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    let mut shifted = DeTable::new();
    for (key, value) in table {
        let span = moved(key.span(), by);
        shifted.insert(Spanned::new(span, key.into_inner()), shift(value, by));
    }
    shifted
}

fn shift(value: Value<'_>, by: usize) -> Value<'_> {
    let span = moved(value.span(), by);
    let inner = match value.into_inner() {
        DeValue::Table(table) => DeValue::Table(shift_table(table, by)),
        DeValue::Array(mut array) => {
            for item in array.iter_mut() {
                let taken = std::mem::replace(item, Spanned::new(0..0, DeValue::Boolean(false)));
                *item = shift(taken, by);
            }
            DeValue::Array(array)
        }
        scalar => scalar,
    };
    Spanned::new(span, inner)
}

fn moved(span: Range<usize>, by: usize) -> Range<usize> {
    span.start.saturating_add(by)..span.end.saturating_add(by)
}
