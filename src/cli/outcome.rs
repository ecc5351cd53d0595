//! The machine-readable outcome of `up -d --json` and `down --json`: one JSON object on
//! standard output, `{"ok": BOOL, "exit_code": N, ...}`, whatever happened, so a script needs
//! neither the human lines nor the exit code alone. Why a command failed is still written to
//! standard error, as without `--json`.

use serde_json::{Map, Value};

/// Prints `{"ok": code == 0, "exit_code": code}` with `fields` after them; returns `code`.
pub fn print(code: u8, fields: Map<String, Value>) -> u8 {
    let mut object = Map::new();
    object.insert("ok".to_string(), Value::Bool(code == 0));
    object.insert("exit_code".to_string(), Value::from(code));
    object.extend(fields);
    match serde_json::to_string_pretty(&Value::Object(object)) {
        Ok(json) => crate::stdout::line(format_args!("{json}")),
        // Only a value that cannot be encoded fails; say so rather than print nothing.
        Err(error) => eprintln!("error: cannot encode the outcome as JSON: {error}"),
    }
    code
}

/// `fields` from pairs, for [`print`].
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}
