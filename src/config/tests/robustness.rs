//! Inputs nobody would write: syntax errors, truncated and mutated files, deep nesting, and
//! locations at the very end of a file. Nothing here may panic.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

use super::{FULL, load, load_error, load_toml, write};

#[test]
fn syntax_errors_stop_at_the_first() {
    let error = load_error("[services.a]\ncommand = \"x\nport = 1\n[[[\n");
    assert_eq!(error.diagnostics().len(), 1, "{error}");
    assert!(error.diagnostics()[0].message().starts_with("invalid TOML"));
    assert!(error.diagnostics()[0].line_column().is_some());
}

#[test]
fn rendered_location_matches_line_column_even_at_end_of_file() {
    for text in [
        "[services.a]\ncommand = [\n",
        "[services.a]\ncommand = [",
        "[services.a]\ncommand = \"x\"\n\n\n[services.b]\ncomand = 1\n",
        "[services.é]\ncommand = \"é\" ; bad = 1\n",
        "[services.a]\ncommand = \"é\"\nbad = 1\n",
    ] {
        let error = load_error(text);
        let rendered = error.render(false);
        for diagnostic in error.diagnostics() {
            let Some((line, column)) = diagnostic.line_column() else {
                continue;
            };
            assert!(
                rendered.contains(&format!("wrangle.toml:{line}:{column}")),
                "{line}:{column} not in:\n{rendered}"
            );
        }
    }
}

/// A tiny deterministic generator, so the mutation test needs no extra crate and is
/// reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

#[test]
fn mutated_and_truncated_inputs_never_panic() {
    let dir = TempDir::new().expect("tempdir");
    fs::create_dir(dir.path().join("db")).expect("mkdir");
    write(dir.path(), ".env", "FROM_FILE=one\n");
    write(dir.path(), "api.env", "FROM_FILE=two\n");
    let toml_path = dir.path().join("wrangle.toml");
    let procfile_path = dir.path().join("Procfile");
    let procfile = "web: serve --port $PORT\n# c\nworker: ./w\n";
    let interesting: &[u8] = b"[]{}=\"'#:.,\n\\ 0x-_$`*;|&\xff\xc3\x00";
    let mut random = Lcg(0x5eed);

    let check = |path: &Path, bytes: &[u8]| {
        fs::write(path, bytes).expect("write");
        if let Err(error) = load(path) {
            let _ = error.render(true);
            let _ = error.render(false);
            for diagnostic in error.diagnostics() {
                let _ = diagnostic.line_column();
            }
        }
    };

    for (path, base) in [(&toml_path, FULL), (&procfile_path, procfile)] {
        let base = base.as_bytes();
        for cut in 0..base.len() {
            check(path, &base[..cut]);
        }
        for _ in 0..1000 {
            let mut bytes = base.to_vec();
            for _ in 0..=random.below(4) {
                let index = random.below(bytes.len());
                match random.below(4) {
                    0 => {
                        bytes.remove(index.min(bytes.len().saturating_sub(1)));
                    }
                    1 => bytes.insert(index, interesting[random.below(interesting.len())]),
                    2 => {
                        let last = bytes.len() - 1;
                        bytes[index.min(last)] = random.below(256) as u8;
                    }
                    _ => {
                        let end = (index + random.below(40)).min(bytes.len());
                        let chunk = bytes[index..end].to_vec();
                        let at = random.below(bytes.len());
                        bytes.splice(at..at, chunk);
                    }
                }
                if bytes.is_empty() {
                    bytes.push(b'x');
                }
            }
            check(path, &bytes);
        }
    }
}

#[test]
fn deeply_nested_values_do_not_overflow_the_stack() {
    for n in [1000usize, 100_000] {
        let text = format!("a = {}{}\n", "[".repeat(n), "]".repeat(n));
        let _ = load_toml(&text);
        let text = format!("a = {}1{}\n", "{b=".repeat(n), "}".repeat(n));
        let _ = load_toml(&text);
    }
}
