//! Reading a source file (YAML or JSON) into one value type, and taking its options one by one
//! so that none is forgotten.
//!
//! Every mapper walks a mapping through [`Options`]: it `take`s each option it maps, and
//! `explain`s each one it knows has no equivalent; whatever is left at the end is written as
//! "not imported: unknown option". So every option of the source file shows up in the output,
//! as a key or as a comment.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_norway::{Mapping, Value};

use crate::import::ImportError;

/// The largest source file read: far beyond any hand-written config.
pub const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Reads `path`: a regular file of at most [`MAX_SOURCE_BYTES`], as UTF-8.
pub fn read_text(path: &Path) -> Result<String, ImportError> {
    use std::io::Read;
    let fail =
        |reason: String| ImportError::new(format!("cannot read {}: {reason}", path.display()));
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nonblocking())
        .open(path)
        .map_err(|error| fail(error.to_string()))?;
    let metadata = file.metadata().map_err(|error| fail(error.to_string()))?;
    if !metadata.is_file() {
        return Err(fail("not a regular file".to_string()));
    }
    if metadata.len() > MAX_SOURCE_BYTES {
        return Err(fail(format!(
            "{} bytes, more than the {} MiB an import reads",
            metadata.len(),
            MAX_SOURCE_BYTES >> 20
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| fail(error.to_string()))?;
    String::from_utf8(bytes).map_err(|error| {
        fail(format!(
            "not valid UTF-8 (at byte {})",
            error.utf8_error().valid_up_to()
        ))
    })
}

fn nonblocking() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

/// Parses YAML (or JSON, which YAML reads too) with anchors resolved and `<<` merge keys
/// applied. `what` names the file in errors.
pub fn parse_yaml(text: &str, what: &Path) -> Result<Value, ImportError> {
    let mut value: Value = serde_norway::from_str(text).map_err(|error| {
        ImportError::new(format!("{} is not valid YAML: {error}", what.display()))
    })?;
    value.apply_merge().map_err(|error| {
        ImportError::new(format!(
            "{}: cannot apply `<<` merge keys: {error}",
            what.display()
        ))
    })?;
    Ok(value)
}

/// Parses JSON into the same value type, keeping the order of keys.
pub fn parse_json(text: &str, what: &str) -> Result<Value, ImportError> {
    serde_json::from_str(text)
        .map_err(|error| ImportError::new(format!("{what} is not valid JSON: {error}")))
}

/// A mapping's options, taken one at a time; what is left was not mapped.
pub struct Options<'v> {
    entries: Vec<(String, &'v Value)>,
    /// Options with no equivalent, with the reason, in the source's order.
    explained: Vec<(String, &'v Value, String)>,
}

impl<'v> Options<'v> {
    pub fn new(mapping: &'v Mapping) -> Options<'v> {
        let entries = mapping
            .iter()
            .map(|(key, value)| (scalar_text(key).unwrap_or_else(|| describe(key)), value))
            .collect();
        Options {
            entries,
            explained: Vec::new(),
        }
    }

    /// The option named `key`, once; `None` when absent or `null`.
    pub fn take(&mut self, key: &str) -> Option<&'v Value> {
        let index = self.entries.iter().position(|(name, _)| name == key)?;
        let (_, value) = self.entries.remove(index);
        (!value.is_null()).then_some(value)
    }

    /// Options whose name matches `matches`, taken, in order.
    pub fn take_matching(&mut self, matches: impl Fn(&str) -> bool) -> Vec<(String, &'v Value)> {
        let mut taken = Vec::new();
        let mut index = 0;
        while index < self.entries.len() {
            if matches(&self.entries[index].0) {
                taken.push(self.entries.remove(index));
            } else {
                index += 1;
            }
        }
        taken
    }

    /// Takes `key`, when present, as an option with no equivalent.
    pub fn explain(&mut self, key: &str, why: &str) {
        if let Some(index) = self.entries.iter().position(|(name, _)| name == key) {
            let (name, value) = self.entries.remove(index);
            self.explained.push((name, value, why.to_string()));
        }
    }

    /// One comment per option with no equivalent, then one per option nobody took.
    pub fn notes(self, tool: &str) -> Vec<String> {
        let mut notes: Vec<String> = self
            .explained
            .into_iter()
            .map(|(name, value, why)| format!("not imported: {name} = {}: {why}", brief(value)))
            .collect();
        notes.extend(self.entries.into_iter().map(|(name, value)| {
            format!(
                "not imported: {name} = {}: not a {tool} option wrangle knows",
                brief(value)
            )
        }));
        notes
    }
}

/// A scalar as text: strings as they are, numbers and booleans as written.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A value in one line for a comment: JSON, shortened.
pub fn brief(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| describe(value));
    const LIMIT: usize = 160;
    if text.chars().count() <= LIMIT {
        return text;
    }
    let cut: String = text.chars().take(LIMIT).collect();
    format!("{cut}…")
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            scalar_text(value).unwrap_or_default()
        }
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(tagged) => format!("{}", tagged.tag),
    }
}

/// A list of strings, or one string as a list of one.
pub fn string_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Sequence(items) => items.iter().map(scalar_text).collect(),
        other => scalar_text(other).map(|text| vec![text]),
    }
}

/// An environment: a mapping of names to scalars (`null` values are skipped: the variable is
/// passed through from wrangle's own environment), or a list of `NAME=value` strings (a bare
/// `NAME` passes it through). Returns the pairs and the names passed through.
pub fn environment(value: &Value) -> (Vec<(String, String)>, Vec<String>) {
    let mut pairs = Vec::new();
    let mut passed = Vec::new();
    match value {
        Value::Mapping(mapping) => {
            for (key, value) in mapping {
                let Some(name) = scalar_text(key) else {
                    continue;
                };
                match scalar_text(value) {
                    Some(text) => pairs.push((name, text)),
                    None => passed.push(name),
                }
            }
        }
        Value::Sequence(items) => {
            for item in items.iter().filter_map(scalar_text) {
                match item.split_once('=') {
                    Some((name, value)) => pairs.push((name.to_string(), value.to_string())),
                    None => passed.push(item),
                }
            }
        }
        _ => {}
    }
    (pairs, passed)
}
