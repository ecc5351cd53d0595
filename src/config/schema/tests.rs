//! The schema against the readers, the reference and real configs: every key the readers accept
//! has a shape, docs/config.md documents the same keys, the committed file is fresh, and an
//! independent validator accepts every config of the examples and the tests that the loader's
//! reader accepts (the schema must never flag a file wrangle runs), while rejecting the shape
//! errors it can see.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::config::diagnostic::SourceFile;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// With `WRANGLE_BLESS=1`, a stale generated file is rewritten instead of failing the test.
fn bless() -> bool {
    std::env::var_os("WRANGLE_BLESS").is_some_and(|value| value == "1")
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&schema()).expect("the schema is a valid draft-07 schema")
}

/// The TOML text as JSON, the way a TOML language server hands it to the schema.
fn as_json(text: &str) -> Option<Value> {
    let value: toml::Table = toml::from_str(text).ok()?;
    serde_json::to_value(value).ok()
}

/// Problems the loader's reader finds in `text` by looking at values one at a time.
fn reader_problems(text: &str) -> Vec<String> {
    let file = Arc::new(SourceFile::new(
        PathBuf::from("wrangle.toml"),
        text.to_string(),
    ));
    let (_, diagnostics) =
        crate::config::document::read(&file, &[], &mut crate::config::document::Sources::none());
    diagnostics
        .iter()
        .map(|diagnostic| diagnostic.message().to_string())
        .collect()
}

fn schema_errors(validator: &jsonschema::Validator, json: &Value) -> Vec<String> {
    validator
        .iter_errors(json)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

#[test]
fn every_key_of_every_reader_has_a_shape() {
    for table in Table::ALL {
        for key in table.keys() {
            assert!(
                shape(table, key).is_some(),
                "`{key}` of {table:?} has no shape in config/schema.rs: add one (and to \
                 docs/config.md)"
            );
        }
    }
}

#[test]
fn the_committed_schema_is_fresh() {
    let path = repository().join("docs/wrangle.schema.json");
    let generated = json_schema();
    let committed = fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if bless() {
        fs::write(&path, &generated).expect("rewrite docs/wrangle.schema.json");
        return;
    }
    panic!(
        "docs/wrangle.schema.json is stale: run `cargo run -- schema > docs/wrangle.schema.json` \
         (or the tests with WRANGLE_BLESS=1)"
    );
}

/// The keys documented in each part of docs/config.md: the first column of its `| Key |` tables,
/// and for `[defaults]` its "Allowed keys:" sentence.
fn documented_keys() -> Vec<(String, BTreeSet<String>)> {
    let text = fs::read_to_string(repository().join("docs/config.md")).expect("docs/config.md");
    let mut sections: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut in_key_table = false;
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ").or(line.strip_prefix("### ")) {
            sections.push((title.to_string(), BTreeSet::new()));
            in_key_table = false;
            continue;
        }
        let Some((_, keys)) = sections.last_mut() else {
            continue;
        };
        if line.starts_with("| Key |") {
            in_key_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_key_table = false;
        }
        if let Some(list) = line.strip_prefix("Allowed keys: ") {
            let mut list = list.to_string();
            // The sentence may wrap onto the next lines; they are joined by the caller's text.
            let rest = text
                .split_once(line)
                .map(|(_, rest)| rest)
                .unwrap_or_default();
            for next in rest.lines().skip(1) {
                if next.trim().is_empty() {
                    break;
                }
                list.push(' ');
                list.push_str(next);
            }
            let sentence = list.split(". ").next().unwrap_or_default();
            keys.extend(backticked(sentence));
            continue;
        }
        if in_key_table && !line.starts_with("|---") {
            let first_cell = line.split('|').nth(1).unwrap_or_default();
            keys.extend(backticked(first_cell));
        }
    }
    sections
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn docs_config_md_documents_exactly_the_keys_of_the_schema() {
    let sections = documented_keys();
    let section = |title: &str| -> BTreeSet<String> {
        sections
            .iter()
            .find(|(name, _)| name == title)
            .map(|(_, keys)| keys.clone())
            .unwrap_or_else(|| panic!("docs/config.md has no section {title:?}"))
    };
    let expected = |table: Table| -> BTreeSet<String> {
        table.keys().iter().map(|key| key.to_string()).collect()
    };
    for (title, table) in [
        ("Top level", Table::Top),
        ("Services", Table::Service),
        ("`[defaults]`", Table::Defaults),
        ("`ready`", Table::Ready),
        ("`live`", Table::Live),
        ("`[logs]`", Table::Logs),
        ("`[[notify]]`", Table::Notify),
        ("`[sockets]`", Table::Socket),
        ("`[monitor]`", Table::Monitor),
        ("`[metrics]`", Table::Metrics),
        ("`[dashboard]`", Table::Dashboard),
        ("`[profiles]`", Table::Profile),
    ] {
        assert_eq!(
            section(title),
            expected(table),
            "docs/config.md section {title:?} and the reader of {table:?} disagree"
        );
    }
    // The restart table details keys of a service.
    assert!(section("`restart`").is_subset(&expected(Table::Service)));
}

/// Every string literal in `source` (Rust) that contains `[services.`, unescaped, with format
/// placeholders (`{port}`, `{python:?}`) replaced by a digit and `{{ }}` by braces when the
/// literal has placeholders.
fn configs_in_rust_source(source: &str) -> Vec<String> {
    let mut configs = Vec::new();
    let bytes = source.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let rest = &source[index..];
        let literal = if let Some(after) = rest.strip_prefix("r#\"") {
            after.find("\"#").map(|end| {
                index += 3 + end + 2;
                after[..end].to_string()
            })
        } else if rest.starts_with('"') && !source[..index].ends_with('\'') {
            let mut text = String::new();
            let mut chars = rest[1..].char_indices();
            let mut end = None;
            while let Some((offset, char)) = chars.next() {
                match char {
                    '"' => {
                        end = Some(offset);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => text.push('\n'),
                        Some((_, 't')) => text.push('\t'),
                        Some((_, '\n')) => {
                            // A line continuation skips the next line's indentation.
                            let remaining = chars.as_str();
                            let skipped = remaining.len() - remaining.trim_start().len();
                            for _ in 0..skipped {
                                chars.next();
                            }
                        }
                        Some((_, other)) => text.push(other),
                        None => {}
                    },
                    other => text.push(other),
                }
            }
            end.map(|end| {
                index += 1 + end + 1;
                text
            })
        } else {
            None
        };
        match literal {
            Some(text) if text.contains("[services.") => configs.push(fill_placeholders(&text)),
            Some(_) => {}
            None => index += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    configs
}

fn fill_placeholders(text: &str) -> String {
    let placeholder = regex::Regex::new(r"\{[A-Za-z_][A-Za-z0-9_.]*(:\??)?\}|\{\}").expect("regex");
    if !placeholder.is_match(text) && !text.contains("{{") {
        return text.to_string();
    }
    let escaped = text.replace("{{", "\u{1}").replace("}}", "\u{2}");
    placeholder
        .replace_all(&escaped, "7")
        .replace('\u{1}', "{")
        .replace('\u{2}', "}")
}

fn rust_files(directory: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// Every config file of the examples and fixtures, and every config written by a test.
fn every_config() -> Vec<(String, String)> {
    let root = repository();
    let mut configs = Vec::new();
    let mut files = Vec::new();
    rust_files(&root.join("tests"), &mut files);
    rust_files(&root.join("src/config/tests"), &mut files);
    files.push(root.join("src/config/tests.rs"));
    for file in files {
        let source = fs::read_to_string(&file).expect("read a test source");
        for (number, config) in configs_in_rust_source(&source).into_iter().enumerate() {
            configs.push((format!("{} #{}", file.display(), number + 1), config));
        }
    }
    for directory in ["examples", "tests/fixtures"] {
        let mut stack = vec![root.join(directory)];
        while let Some(directory) = stack.pop() {
            for entry in fs::read_dir(&directory).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path
                    .extension()
                    .is_some_and(|extension| extension == "toml")
                {
                    let text = fs::read_to_string(&path).expect("read a config");
                    configs.push((path.display().to_string(), text));
                }
            }
        }
    }
    configs
}

#[test]
fn the_schema_accepts_every_config_the_reader_accepts() {
    let validator = validator();
    let configs = every_config();
    let mut checked = 0;
    let mut refused_by_both = 0;
    let mut failures = Vec::new();
    for (origin, text) in &configs {
        let Some(json) = as_json(text) else {
            continue;
        };
        let problems = reader_problems(text);
        let errors = schema_errors(&validator, &json);
        if problems.is_empty() {
            checked += 1;
            if !errors.is_empty() {
                failures.push(format!("{origin}:\n{text}\nschema: {errors:#?}"));
            }
        } else if !errors.is_empty() {
            refused_by_both += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "the schema rejects configs wrangle accepts:\n{}",
        failures.join("\n")
    );
    // The scan must have found the tests' configs (over a hundred), not silently nothing.
    assert!(checked > 100, "only {checked} configs found and checked");
    assert!(
        refused_by_both > 5,
        "only {refused_by_both} invalid configs"
    );
}

#[test]
fn the_schema_rejects_what_it_can_see() {
    let validator = validator();
    for text in [
        "",
        "[services]\n",
        "[services.web]\ncomand = \"x\"\n",
        "[services.web]\ncommand = 5\n",
        "[services.web]\ncommand = []\n",
        "[services.web]\ncommand = \"x\"\nrestart = \"sometimes\"\n",
        "[services.web]\ncommand = \"x\"\nport = 70000\n",
        "[services.web]\ncommand = \"x\"\nready = { http = \"http://x\", tcp = 1 }\n",
        "[services.web]\ncommand = \"x\"\nready = { interval = \"1s\" }\n",
        "[services.web]\ncommand = \"x\"\ndepends_on = { db = \"healthy\" }\n",
        "[services.web]\ncommand = \"x\"\nstop_timeout = \"soon\"\n",
        "[services.web]\ncommand = \"x\"\nmax_memory = \"lots\"\n",
        "[services.\"my app\"]\ncommand = \"x\"\n",
        "[defaults]\ncommand = \"x\"\n[services.web]\ncommand = \"x\"\n",
        "[services.web]\ncommand = \"x\"\n[[notify]]\non = [\"crashed\"]\n",
        "[services.web]\ncommand = \"x\"\n[[notify]]\non = \"crash\"\ncommand = \"x\"\n",
        "[services.web]\ncommand = \"x\"\n[logs]\nkeep_files = 5000\n",
        "[services.web]\ncommand = \"x\"\nsurprise = 1\n",
    ] {
        let json = as_json(text).expect("valid TOML");
        assert!(
            !schema_errors(&validator, &json).is_empty(),
            "the schema accepts:\n{text}"
        );
        assert!(
            !reader_problems(text).is_empty(),
            "the reader accepts:\n{text}"
        );
    }
}

#[test]
fn the_placeholder_filler_and_the_literal_scanner_work() {
    let source = r##"let a = format!(r#"[services.web]
port = {port}
command = ["{python}", "-c", "{{}}"]
"#, port = 1);
let b = "[services.x]\ncommand = \"sleep 1\"\n";
let c = "not a config";"##;
    let configs = configs_in_rust_source(source);
    assert_eq!(
        configs,
        [
            "[services.web]\nport = 7\ncommand = [\"7\", \"-c\", \"{}\"]\n",
            "[services.x]\ncommand = \"sleep 1\"\n",
        ]
    );
}
