//! Readers of single values, shared by every part of the file: strings, booleans, integers in
//! range, durations, sizes, percentages, signals, argv arrays and command lines. Each one checks
//! a value's type and form and, when it is wrong, reports it at the value with what was expected.
//!
//! A reader returns `None` after reporting, so its caller can go on with the next key: no problem
//! stops the walk. Adding a new kind of value means adding a reader here; adding a key that takes
//! an existing kind is a change to the part of the file that owns the key.

use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Reader, Value};
use crate::config::command_line::split_command_line;
use crate::config::diagnostic::Diagnostic;
use crate::spec::Signal;

pub(super) const SIZE_HELP: &str =
    "write a size such as \"10MiB\", \"500KB\" or \"1GiB\"; a bare integer means bytes";
pub(super) const DURATION_HELP: &str =
    "write a duration such as \"500ms\", \"10s\" or \"1m 30s\"; a bare integer means seconds";

/// Parses "10MiB", "500 KB", "1gib", "4096": a number and an optional unit (B, KB, MB, GB:
/// powers of 1000; KiB, MiB, GiB: powers of 1024).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * multiplier;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

impl Reader<'_> {
    pub(super) fn signal(&mut self, value: &Value<'_>, path: &str) -> Option<Signal> {
        let text = match value.get_ref() {
            DeValue::String(text) => text.to_string(),
            DeValue::Integer(_) => self.integer(value, path, "a signal")?.to_string(),
            _ => {
                self.wrong_type(value, path, "a signal name such as \"SIGTERM\" or a number");
                return None;
            }
        };
        if let Some(signal) = Signal::parse(&text) {
            return Some(signal);
        }
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        let names: Vec<String> = Signal::NAMED
            .iter()
            .map(|(name, _)| format!("SIG{name}"))
            .collect();
        let typed = format!("SIG{bare}");
        let mut diagnostic = Diagnostic::at(
            self.file,
            value.span(),
            format!("unknown signal \"{text}\" for `{path}`"),
            "expected a signal name or a number from 1 to 64",
        )
        .with_suggestion(&typed, names.iter().map(String::as_str));
        diagnostic = diagnostic.with_note(format!("known names: {}", names.join(", ")));
        self.push(diagnostic);
        None
    }

    /// A duration: a humantime string or an integer number of seconds.
    pub(super) fn duration(
        &mut self,
        value: &Value<'_>,
        path: &str,
        must_be_positive: bool,
    ) -> Option<Spanned<Duration>> {
        let duration = match value.get_ref() {
            DeValue::Integer(_) => {
                let seconds = self.integer(value, path, "a duration")?;
                let Ok(seconds) = u64::try_from(seconds) else {
                    self.push(
                        Diagnostic::at(
                            self.file,
                            value.span(),
                            format!("`{path}` must not be negative"),
                            "negative duration",
                        )
                        .with_help(DURATION_HELP),
                    );
                    return None;
                };
                Duration::from_secs(seconds)
            }
            DeValue::String(text) => match humantime::parse_duration(text) {
                Ok(duration) => duration,
                Err(error) => {
                    self.push(
                        Diagnostic::at(
                            self.file,
                            value.span(),
                            format!("invalid duration \"{text}\" for `{path}`"),
                            error.to_string(),
                        )
                        .with_help(DURATION_HELP),
                    );
                    return None;
                }
            },
            _ => {
                self.wrong_type(
                    value,
                    path,
                    "a duration such as \"10s\" or an integer of seconds",
                );
                return None;
            }
        };
        if must_be_positive && duration.is_zero() {
            self.push(Diagnostic::at(
                self.file,
                value.span(),
                format!("`{path}` must be greater than zero"),
                "zero is not allowed here",
            ));
            return None;
        }
        Some(Spanned::new(value.span(), duration))
    }

    pub(super) fn table<'v, 'i>(
        &mut self,
        value: &'v Value<'i>,
        path: &str,
        expected: &str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, path, expected);
                None
            }
        }
    }

    pub(super) fn string(&mut self, value: &Value<'_>, path: &str) -> Option<Spanned<String>> {
        match value.get_ref() {
            DeValue::String(text) => Some(Spanned::new(value.span(), text.to_string())),
            _ => {
                self.wrong_type(value, path, "a string");
                None
            }
        }
    }

    /// A string or an array of strings, each kept with its span.
    pub(super) fn strings(
        &mut self,
        value: &Value<'_>,
        path: &str,
    ) -> Option<Vec<Spanned<String>>> {
        const EXPECTED: &str = "a string or an array of strings";
        match value.get_ref() {
            DeValue::String(text) => Some(vec![Spanned::new(value.span(), text.to_string())]),
            DeValue::Array(items) => {
                let mut strings = Vec::with_capacity(items.len());
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(text) => {
                            strings.push(Spanned::new(item.span(), text.to_string()))
                        }
                        _ => self.wrong_type(item, path, EXPECTED),
                    }
                }
                Some(strings)
            }
            _ => {
                self.wrong_type(value, path, EXPECTED);
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, value: &Value<'_>, path: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => {
                self.wrong_type(value, path, "a boolean (true or false)");
                None
            }
        }
    }

    pub(super) fn integer(&mut self, value: &Value<'_>, path: &str, expected: &str) -> Option<i64> {
        let DeValue::Integer(integer) = value.get_ref() else {
            self.wrong_type(value, path, expected);
            return None;
        };
        match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(number) => Some(number),
            Err(_) => {
                self.push(Diagnostic::at(
                    self.file,
                    value.span(),
                    format!("integer out of range for `{path}`"),
                    format!("expected {expected}"),
                ));
                None
            }
        }
    }

    pub(super) fn in_range(
        &mut self,
        number: i64,
        value: &Value<'_>,
        path: &str,
        low: i64,
        high: i64,
    ) -> Option<i64> {
        if (low..=high).contains(&number) {
            return Some(number);
        }
        self.push(Diagnostic::at(
            self.file,
            value.span(),
            format!("{number} is out of range for `{path}`"),
            format!("expected an integer from {low} to {high}"),
        ));
        None
    }

    pub(super) fn wrong_type(&mut self, value: &Value<'_>, path: &str, expected: &str) {
        let found = describe(value.get_ref());
        self.push(Diagnostic::at(
            self.file,
            value.span(),
            format!("expected {expected} for `{path}`, found {found}"),
            format!("expected {expected}"),
        ));
    }

    pub(super) fn unknown_key(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        name: &str,
        place: &str,
        expected: &[&str],
    ) {
        self.push(
            Diagnostic::at(
                self.file,
                key.span(),
                format!("unknown key `{name}` in {place}"),
                "unknown key",
            )
            .with_suggestion(name, expected.iter().copied())
            .with_note(format!("expected one of: {}", expected.join(", "))),
        );
    }

    /// A CPU threshold in percent of one core: `80`, `150.5` or `"80%"`.
    pub(super) fn cpu_percent(&mut self, value: &Value<'_>, path: &str) -> Option<u32> {
        const EXPECTED: &str = "a percentage of one core such as 80 or \"150%\"";
        let percent = match value.get_ref() {
            DeValue::Integer(_) => self
                .integer(value, path, EXPECTED)
                .map(|number| number as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            DeValue::String(text) => text.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return None;
            }
        };
        match percent {
            Some(percent) if (1.0..=100_000.0).contains(&percent) => Some(percent.round() as u32),
            _ => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid CPU percentage for `{path}`"),
                        "expected 1 to 100000 (percent of one core)",
                    )
                    .with_help("100 means one full core; 250 means two and a half"),
                );
                None
            }
        }
    }

    /// A user or group: a name (`"www-data"`) or a numeric id (`33` or `"33"`), as text.
    pub(super) fn account_name(
        &mut self,
        value: &Value<'_>,
        path: &str,
    ) -> Option<Spanned<String>> {
        const EXPECTED: &str = "a user or group name such as \"www-data\", or a numeric id";
        let text = match value.get_ref() {
            DeValue::Integer(_) => self
                .integer(value, path, EXPECTED)
                .and_then(|number| self.in_range(number, value, path, 0, u32::MAX.into()))?
                .to_string(),
            DeValue::String(text) => text.to_string(),
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return None;
            }
        };
        // The rule of `useradd` (and systemd's `User=`), which keeps a name from being read as
        // a number or an option, or from breaking the passwd file's fields.
        let valid = !text.is_empty()
            && text.len() <= 256
            && !text.starts_with('-')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
        if !valid {
            self.push(
                Diagnostic::at(
                    self.file,
                    value.span(),
                    format!("invalid name \"{text}\" for `{path}`"),
                    "expected letters, digits, '_', '-', '.', or a numeric id",
                )
                .with_help("for example user = \"www-data\" or user = 33"),
            );
            return None;
        }
        Some(Spanned::new(value.span(), text))
    }

    /// `cpu_max`: `"50%"` of one CPU, or a number of CPUs (`"1.5"`, `2`), into millionths of
    /// one CPU; from 1% to 10000 CPUs.
    pub(super) fn cpu_max(&mut self, value: &Value<'_>, path: &str) -> Option<u64> {
        const EXPECTED: &str = "a share of one CPU such as \"50%\", or CPUs such as \"1.5\"";
        let cpus = match value.get_ref() {
            DeValue::Integer(_) => self
                .integer(value, path, EXPECTED)
                .map(|number| number as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            DeValue::String(text) => {
                let text = text.trim();
                match text.strip_suffix('%') {
                    Some(percent) => percent.trim().parse::<f64>().ok().map(|p| p / 100.0),
                    None => text.parse::<f64>().ok(),
                }
            }
            _ => {
                self.wrong_type(value, path, EXPECTED);
                return None;
            }
        };
        match cpus {
            Some(cpus) if (0.01..=10_000.0).contains(&cpus) => {
                Some((cpus * 1_000_000.0).round() as u64)
            }
            _ => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid CPU limit for `{path}`"),
                        "expected \"1%\" to \"1000000%\", or 0.01 to 10000 CPUs",
                    )
                    .with_help("\"50%\" is half of one CPU; \"1.5\" is one and a half CPUs"),
                );
                None
            }
        }
    }

    /// A size: "10MiB", "500KB", "1 GiB" (binary and decimal units), or an integer of bytes.
    /// At least 4 KiB: anything smaller is a typo, not a log file.
    pub(super) fn size(&mut self, value: &Value<'_>, path: &str) -> Option<u64> {
        let bytes = match value.get_ref() {
            DeValue::Integer(_) => u64::try_from(self.integer(value, path, "a size")?).ok(),
            DeValue::String(text) => parse_size(text),
            _ => {
                self.wrong_type(
                    value,
                    path,
                    "a size such as \"10MiB\" or an integer of bytes",
                );
                return None;
            }
        };
        match bytes {
            Some(bytes) if bytes >= 4096 => Some(bytes),
            Some(_) => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("`{path}` must be at least 4KiB"),
                        "too small",
                    )
                    .with_help(SIZE_HELP),
                );
                None
            }
            None => {
                self.push(
                    Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid size for `{path}`"),
                        "not a size",
                    )
                    .with_help(SIZE_HELP),
                );
                None
            }
        }
    }

    /// A non-empty array of NUL-free strings.
    pub(super) fn argv(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<String>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(value, path, "an array of strings");
            return None;
        };
        if items.is_empty() {
            self.push(Diagnostic::at(
                self.file,
                value.span(),
                format!("`{path}` is empty"),
                "expected at least the program to run",
            ));
            return None;
        }
        let mut argv = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(word) if word.contains('\0') => {
                    ok = false;
                    self.push(Diagnostic::at(
                        self.file,
                        item.span(),
                        format!("`{path}` contains a NUL character"),
                        "a program argument cannot contain NUL",
                    ));
                }
                DeValue::String(word) => argv.push(word.to_string()),
                _ => {
                    ok = false;
                    self.wrong_type(item, path, "a string (every argv element is a string)");
                }
            }
        }
        ok.then_some(argv)
    }

    /// A command run without a shell (`ready.exec`, `[[notify]].command`): an argv array, or a
    /// string split into words by [`split_command_line`].
    pub(super) fn command_argv(&mut self, value: &Value<'_>, path: &str) -> Option<Vec<String>> {
        let argv = match value.get_ref() {
            DeValue::String(line) => match split_command_line(line) {
                Ok(argv) => argv,
                Err(problem) => {
                    self.push(Diagnostic::at(
                        self.file,
                        value.span(),
                        format!("invalid `{path}`: {problem}"),
                        problem,
                    ));
                    return None;
                }
            },
            DeValue::Array(_) => self.argv(value, path)?,
            _ => {
                self.wrong_type(value, path, "a string or an array of strings");
                return None;
            }
        };
        if argv.iter().any(|word| word.contains('\0')) {
            self.push(Diagnostic::at(
                self.file,
                value.span(),
                format!("`{path}` contains a NUL character"),
                "a program argument cannot contain NUL",
            ));
            return None;
        }
        Some(argv)
    }
}

/// "an integer", "a table": what a value is, for "found ..." messages.
pub(super) fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}
