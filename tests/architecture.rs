//! ARCHITECTURE.md checked against the code: its dependency rule, and its code map.
//!
//! ARCHITECTURE.md's "Dependency direction" table is the one place that says which top-level
//! module may use which (through `crate::`, `super::` or, in `main.rs`, `wrangle::`), and which
//! kernel interfaces (`rustix`, `libc`) each may call. This test reads every file under `src/`,
//! collects those references per top-level module, and fails when one is not allowed by the
//! table, when the table allows something nobody uses (so the document cannot drift from the
//! code), when a module has no row, or when the allowed arrows form a cycle.
//!
//! Test code is exempt (`tests.rs` files, files under a `tests/` directory, `test_support.rs`,
//! and every item under `#[cfg(test)]`): tests may build their fixtures from any module.
//!
//! The code map has one line per file: a second test fails when a file under `src/` is not named
//! there, or a named file does not exist. A third checks that `unsafe` is allowed in `sys` alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What the next person should do when the rule fails, appended to every failure.
const ADVICE: &str = "\
The table under \"## Dependency direction\" in ARCHITECTURE.md is the rule. Either:
  - use what you need through a module you may use: vocabulary shared by several modules
    (streams, exit codes, human formats, ...) belongs in a leaf module that imports nothing of
    the crate, and process or kernel calls belong in `sys`; or
  - if the new arrow is right, add it to that row of the table in the same commit, keeping the
    graph free of cycles (a module below another never uses it).
An allowed entry nobody uses must be removed from the table: it documents an arrow that is gone.";

#[test]
fn every_module_uses_only_what_architecture_md_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let table = parse_table(&architecture).unwrap_or_else(|error| panic!("{error}\n\n{ADVICE}"));
    let references = scan_crate(&root.join("src"));

    let mut problems = Vec::new();
    let modules: BTreeSet<&str> = references.keys().map(String::as_str).collect();
    for module in &modules {
        if !table.contains_key(*module) {
            problems.push(format!(
                "`{module}` (src/{module}.rs) has no row in the table"
            ));
        }
    }
    for module in table.keys() {
        if !modules.contains(module.as_str()) {
            problems.push(format!(
                "the table has a row for `{module}`, which is not a module under src/"
            ));
        }
    }
    for (module, uses) in &references {
        let Some(allowed) = table.get(module) else {
            continue;
        };
        for reference in uses {
            if !allowed
                .iter()
                .any(|entry| is_prefix(entry, &reference.path))
            {
                problems.push(format!(
                    "{}:{}: `{module}` uses `{}`, which its row does not allow",
                    reference.file,
                    reference.line,
                    reference.display()
                ));
            }
        }
        for entry in allowed {
            if !uses
                .iter()
                .any(|reference| is_prefix(entry, &reference.path))
            {
                problems.push(format!(
                    "the row of `{module}` allows `{}`, which no code of `{module}` uses",
                    entry.join("::")
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(&table) {
        problems.push(format!(
            "the allowed arrows form a cycle: {}",
            cycle.join(" -> ")
        ));
    }
    assert!(
        problems.is_empty(),
        "the dependency rule is broken:\n  {}\n\n{ADVICE}",
        problems.join("\n  ")
    );
}

#[test]
fn the_code_map_names_every_file_under_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = architecture
        .split("\n## ")
        .find(|section| section.starts_with("Code map"))
        .expect("ARCHITECTURE.md has a \"## Code map\" section");
    // Every `path.rs` or `directory/` in backticks, relative to src/.
    let named: BTreeSet<&str> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|text| !text.contains(' ') && (text.ends_with(".rs") || text.ends_with('/')))
        .collect();
    let mut files = Vec::new();
    collect_rs_files(&root.join("src"), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(root.join("src"))
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let covered = named.iter().any(|name| match name.ends_with('/') {
            true => relative.starts_with(name),
            false => relative == *name,
        });
        if !covered {
            problems.push(format!("src/{relative} is not in the code map"));
        }
    }
    for name in &named {
        if !root.join("src").join(name).exists() {
            problems.push(format!(
                "the code map names src/{name}, which does not exist"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's code map and src/ disagree:\n  {}\n\nThe code map has one line per file \
         (a directory of tests may be named as `dir/`): add a line for a new file, under its \
         module's heading, saying what it owns; remove or rename the line of a file that moved.",
        problems.join("\n  ")
    );
}

#[test]
fn unsafe_code_is_allowed_in_sys_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("unsafe_code = \"deny\""),
        "Cargo.toml must deny unsafe_code for the whole crate ([lints.rust])"
    );
    let mut files = Vec::new();
    collect_rs_files(&root.join("src"), &mut files);
    let mut allowed_at = Vec::new();
    for file in &files {
        let text = strip_comments_and_literals(&fs::read_to_string(file).expect("read"));
        let tokens: Vec<String> = tokenize(&text)
            .into_iter()
            .map(|token| token.text)
            .collect();
        for (index, window) in tokens.windows(4).enumerate() {
            if window == ["allow", "(", "unsafe_code", ")"] {
                // What the attribute is on: the item after its closing `]`.
                let item: Vec<&str> = tokens[index + 5..]
                    .iter()
                    .take(3)
                    .map(String::as_str)
                    .collect();
                let relative = file.strip_prefix(root).expect("under the root");
                allowed_at.push(format!("{} on `{}`", relative.display(), item.join(" ")));
            }
        }
    }
    assert_eq!(
        allowed_at,
        ["src/lib.rs on `pub mod sys`"],
        "`unsafe` belongs in `sys` alone (each block with a `// Safety:` comment): the crate \
         denies it, and only lib.rs allows it, on `pub mod sys`. Move the code that needs it \
         behind a safe function of `sys`."
    );
}

// ---------------------------------------------------------------------------------------------
// The table.

/// Row of each module: the paths it may use, each as segments. Crate paths are written without
/// `crate::` (`api::wire`), kernel interfaces with their crate (`rustix::fs`, `libc`).
type Table = BTreeMap<String, Vec<Vec<String>>>;

fn parse_table(architecture: &str) -> Result<Table, String> {
    let section = architecture
        .split("\n## ")
        .find(|section| section.starts_with("Dependency direction"))
        .ok_or("ARCHITECTURE.md has no \"## Dependency direction\" section")?;
    let mut table = Table::new();
    for (number, line) in section.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('|') || line.starts_with("|---") || line.starts_with("| module") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [module, crate_uses, kernel_uses] = cells[..] else {
            return Err(format!(
                "row {number} of the dependency table does not have 3 cells: {line:?}"
            ));
        };
        let module = module
            .strip_prefix('`')
            .and_then(|module| module.strip_suffix('`'))
            .ok_or_else(|| format!("row {number}: the module is not in backticks: {line:?}"))?;
        let mut allowed = Vec::new();
        for cell in [crate_uses, kernel_uses] {
            if cell == "nothing" {
                continue;
            }
            for entry in cell.split(',').map(str::trim) {
                let path = entry
                    .strip_prefix('`')
                    .and_then(|entry| entry.strip_suffix('`'))
                    .ok_or_else(|| {
                        format!("row `{module}`: {entry:?} is not a path in backticks or `nothing`")
                    })?;
                allowed.push(path.split("::").map(String::from).collect());
            }
        }
        if table.insert(module.to_string(), allowed).is_some() {
            return Err(format!("the table has two rows for `{module}`"));
        }
    }
    match table.is_empty() {
        true => Err("the dependency table has no rows".into()),
        false => Ok(table),
    }
}

fn is_prefix(entry: &[String], path: &[String]) -> bool {
    entry.len() <= path.len() && entry.iter().zip(path).all(|(a, b)| a == b)
}

/// A cycle among the allowed arrows between modules of the crate, if there is one.
fn find_cycle(table: &Table) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        table: &Table,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_string());
        for entry in table.get(module).into_iter().flatten() {
            if table.contains_key(&entry[0])
                && let Some(cycle) = visit(&entry[0], table, path, done)
            {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_string());
        None
    }
    let mut done = BTreeSet::new();
    table
        .keys()
        .find_map(|module| visit(module, table, &mut Vec::new(), &mut done))
}

// ---------------------------------------------------------------------------------------------
// The code.

/// One use of another module or of a kernel interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    /// Segments: `["api", "wire", "Event"]` for `crate::api::wire::Event`, `["rustix", "fs",
    /// "openat"]` for a kernel call.
    path: Vec<String>,
    /// Whether `path` is inside the crate (it is shown with `crate::`).
    in_crate: bool,
    file: String,
    line: usize,
}

impl Reference {
    fn display(&self) -> String {
        match self.in_crate {
            true => format!("crate::{}", self.path.join("::")),
            false => self.path.join("::"),
        }
    }
}

/// Every reference of non-test code under `src`, by top-level module.
fn scan_crate(src: &Path) -> BTreeMap<String, BTreeSet<Reference>> {
    let mut files = Vec::new();
    collect_rs_files(src, &mut files);
    files.sort();
    // Modules declared `#[cfg(test)] mod name;` are test code wherever their file is.
    let mut test_modules = BTreeSet::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read a source file");
        let module = module_path(src, file);
        for name in scan(&text, &module, false).test_module_files {
            let mut path = module.clone();
            path.push(name);
            test_modules.insert(path);
        }
    }
    let mut references: BTreeMap<String, BTreeSet<Reference>> = BTreeMap::new();
    for file in &files {
        let module = module_path(src, file);
        let relative = file.strip_prefix(src).expect("under src");
        let is_test_file = relative.file_name().is_some_and(|name| name == "tests.rs")
            || relative
                .components()
                .any(|part| part.as_os_str() == "tests")
            || test_modules
                .iter()
                .any(|test| module.starts_with(test.as_slice()));
        let Some(top) = module.first().cloned() else {
            continue; // lib.rs: the module list only.
        };
        if test_modules.contains(&vec![top.clone()]) {
            continue; // A test-only module of the crate (`test_support`): no row needed.
        }
        let entry = references.entry(top.clone()).or_default();
        if is_test_file {
            continue;
        }
        let text = fs::read_to_string(file).expect("read a source file");
        let is_binary = module == ["main"];
        for (path, line) in scan(&text, &module, is_binary).references {
            let in_crate = !matches!(path[0].as_str(), "rustix" | "libc");
            if in_crate && path[0] == top {
                continue;
            }
            entry.insert(Reference {
                path,
                in_crate,
                file: format!("src/{}", relative.display()),
                line,
            });
        }
    }
    references
}

fn collect_rs_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir)
        .expect("read a source directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            collect_rs_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The module a file is: `src/api/wire.rs` is `["api", "wire"]`, `src/lib.rs` is `[]`, the
/// binary's `src/main.rs` is `["main"]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let path: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    match path.as_slice() {
        [only] if only == "lib" => Vec::new(),
        _ => path,
    }
}

/// What [`scan`] finds in one file.
#[derive(Debug, Default, PartialEq)]
struct Scanned {
    /// Paths from the crate root (or `rustix`/`libc` paths), with their line.
    references: Vec<(Vec<String>, usize)>,
    /// Names of `#[cfg(test)] mod name;` declarations (modules in files of their own).
    test_module_files: Vec<String>,
}

/// The references of one file's non-test code, `module` being the file's module path. In the
/// binary (`main.rs`), `wrangle::` is the crate's root.
fn scan(text: &str, module: &[String], is_binary: bool) -> Scanned {
    let tokens = tokenize(&strip_comments_and_literals(text));
    let mut scanned = Scanned::default();
    // Open brackets: for each, the inline module it opens, if any.
    let mut open: Vec<Option<String>> = Vec::new();
    let mut next_is_test = false;
    let mut index = 0;
    while index < tokens.len() {
        let token = &tokens[index];
        match token.text.as_str() {
            "#" if is_cfg_test(&tokens, index) => {
                next_is_test = true;
                index = skip_attribute(&tokens, index);
                continue;
            }
            "#" if next_is_test && tokens.get(index + 1).is_some_and(|t| t.text == "[") => {
                index = skip_attribute(&tokens, index);
                continue;
            }
            _ if next_is_test => {
                next_is_test = false;
                if token.text == "mod"
                    && let Some(name) = tokens.get(index + 1)
                    && tokens.get(index + 2).is_some_and(|t| t.text == ";")
                {
                    scanned.test_module_files.push(name.text.clone());
                }
                index = skip_item(&tokens, index);
                continue;
            }
            "{" | "(" | "[" => {
                let is_module = index >= 2
                    && tokens[index - 2].text == "mod"
                    && is_identifier(&tokens[index - 1].text);
                open.push(is_module.then(|| tokens[index - 1].text.clone()));
            }
            "}" | ")" | "]" => {
                open.pop();
            }
            root @ ("crate" | "super" | "self" | "rustix" | "libc" | "wrangle")
                if tokens.get(index + 1).is_some_and(|t| t.text == "::")
                    && !(index >= 1 && matches!(tokens[index - 1].text.as_str(), "$" | "::"))
                    && (root != "wrangle" || is_binary) =>
            {
                let mut current: Vec<String> = module.to_vec();
                current.extend(open.iter().flatten().cloned());
                let (paths, end) = parse_use_tree(&tokens, index);
                for path in paths {
                    if let Some(resolved) = resolve(&path, &current) {
                        scanned.references.push((resolved, token.line));
                    }
                }
                index = end;
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    scanned
}

/// A path as written (`super::super::x::Y`) from the crate root, given the module it is
/// written in; `rustix` and `libc` paths stay as they are. None for a path that stays inside
/// its own module (`self::`).
fn resolve(path: &[String], current: &[String]) -> Option<Vec<String>> {
    match path[0].as_str() {
        "crate" | "wrangle" => Some(path[1..].to_vec()),
        "rustix" | "libc" => Some(path.to_vec()),
        "self" => None,
        _ => {
            let supers = path
                .iter()
                .take_while(|segment| *segment == "super")
                .count();
            // Above the crate root is an error the compiler reports; here it is the root.
            let kept = current.len().saturating_sub(supers);
            let mut resolved = current[..kept].to_vec();
            resolved.extend(path[supers..].iter().cloned());
            Some(resolved)
        }
    }
}

/// The paths of a use tree or an expression path starting at `start` (`a::b::{c, d::e}` is
/// `a::b::c` and `a::b::d::e`), and the index after it.
fn parse_use_tree(tokens: &[Token], start: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut index = start;
    loop {
        let Some(token) = tokens.get(index) else {
            return (vec![prefix], index);
        };
        if is_identifier(&token.text) {
            prefix.push(token.text.clone());
            index += 1;
        } else if token.text == "*" {
            prefix.push("*".into());
            return (vec![prefix], index + 1);
        } else if token.text == "{" {
            let mut paths = Vec::new();
            index += 1;
            loop {
                match tokens.get(index).map(|token| token.text.as_str()) {
                    None => return (paths, index),
                    Some("}") => return (paths, index + 1),
                    Some(",") => index += 1,
                    Some(_) => {
                        let (inner, end) = parse_use_tree(tokens, index);
                        for path in inner {
                            let mut full = prefix.clone();
                            // `{self, ...}` names the prefix itself.
                            full.extend(path.into_iter().filter(|segment| segment != "self"));
                            paths.push(full);
                        }
                        // `as name` renames; nothing to record.
                        index = match tokens.get(end).map(|token| token.text.as_str()) {
                            Some("as") => end + 2,
                            _ => end,
                        };
                    }
                }
            }
        } else {
            return (vec![prefix], index);
        }
        // After a segment: `::` continues the path, unless a turbofish (`::<T>`) follows.
        match (tokens.get(index), tokens.get(index + 1)) {
            (Some(colons), Some(next)) if colons.text == "::" && next.text != "<" => index += 1,
            _ => return (vec![prefix], index),
        }
    }
}

/// Whether `#[cfg(test)]` starts at `index`.
fn is_cfg_test(tokens: &[Token], index: usize) -> bool {
    let texts: Vec<&str> = tokens[index..]
        .iter()
        .take(7)
        .map(|token| token.text.as_str())
        .collect();
    texts == ["#", "[", "cfg", "(", "test", ")", "]"]
}

/// The index after the attribute `#[...]` starting at `index`.
fn skip_attribute(tokens: &[Token], index: usize) -> usize {
    let mut depth = 0;
    for (offset, token) in tokens[index + 1..].iter().enumerate() {
        match token.text.as_str() {
            "[" | "(" | "{" => depth += 1,
            "]" | ")" | "}" => {
                depth -= 1;
                if depth == 0 {
                    return index + 1 + offset + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The index after the item starting at `index`: its `;` or its closing brace.
fn skip_item(tokens: &[Token], index: usize) -> usize {
    let mut depth = 0;
    for (offset, token) in tokens[index..].iter().enumerate() {
        match token.text.as_str() {
            "[" | "(" | "{" => depth += 1,
            "]" | ")" => depth -= 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return index + offset + 1;
                }
            }
            ";" if depth == 0 => return index + offset + 1,
            _ => {}
        }
    }
    tokens.len()
}

fn is_identifier(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

/// Identifiers (and numbers), `::`, and every other character as a token of its own.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c == '\n' {
            line += 1;
            index += 1;
        } else if c.is_whitespace() {
            index += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = index;
            while index < chars.len() && (chars[index].is_alphanumeric() || chars[index] == '_') {
                index += 1;
            }
            let word: String = chars[start..index].iter().collect();
            // A raw identifier (`r#type`) is its name.
            tokens.push(Token { text: word, line });
        } else if c == ':' && chars.get(index + 1) == Some(&':') {
            tokens.push(Token {
                text: "::".into(),
                line,
            });
            index += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            index += 1;
        }
    }
    tokens
}

/// The text with comments and the insides of string and character literals blanked out (new
/// lines kept, so line numbers stay right): a path in a comment or a string is not a use.
fn strip_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let starts_token = |index: usize| {
        index == 0 || !(chars[index - 1].is_alphanumeric() || chars[index - 1] == '_')
    };
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let next = chars.get(index + 1).copied();
        if c == '/' && next == Some('/') {
            while index < chars.len() && chars[index] != '\n' {
                out.push(' ');
                index += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while index < chars.len() {
                if chars[index] == '/' && chars.get(index + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    index += 2;
                } else if chars[index] == '*' && chars.get(index + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    index += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[index]));
                    index += 1;
                }
            }
        } else if starts_token(index)
            && let Some(hashes) = raw_string_start(&chars, index)
        {
            // r"...", r#"..."#, br"...", cr"...": no escapes; ends at `"` and as many `#`s.
            let quote = chars[index..]
                .iter()
                .position(|c| *c == '"')
                .expect("a raw string has a quote");
            for _ in 0..=quote {
                out.push(' ');
            }
            index += quote + 1;
            while index < chars.len() {
                let closes = chars[index] == '"'
                    && (1..=hashes).all(|offset| chars.get(index + offset) == Some(&'#'));
                if closes {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    index += hashes + 1;
                    break;
                }
                out.push(blank(chars[index]));
                index += 1;
            }
        } else if c == '"' {
            out.push(' ');
            index += 1;
            while index < chars.len() && chars[index] != '"' {
                if chars[index] == '\\' {
                    out.push(' ');
                    index += 1;
                }
                if let Some(&inside) = chars.get(index) {
                    out.push(blank(inside));
                }
                index += 1;
            }
            out.push(' ');
            index += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(index + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\''); a lone `'` starts a lifetime or a label.
            out.push(' ');
            index += 1;
            if chars.get(index) == Some(&'\\') {
                // The backslash and the character it escapes (which may be a `'`).
                out.push_str("  ");
                index += 2;
            }
            while index < chars.len() && chars[index] != '\'' {
                out.push(' ');
                index += 1;
            }
            out.push(' ');
            index += 1;
        } else {
            out.push(c);
            index += 1;
        }
    }
    out
}

/// The number of `#`s when a raw string literal starts at `index`.
fn raw_string_start(chars: &[char], index: usize) -> Option<usize> {
    let mut at = index;
    if matches!(chars.get(at), Some('b' | 'c')) {
        at += 1;
    }
    if chars.get(at) != Some(&'r') {
        return None;
    }
    at += 1;
    let hashes = chars[at..].iter().take_while(|c| **c == '#').count();
    (chars.get(at + hashes) == Some(&'"')).then_some(hashes)
}

// ---------------------------------------------------------------------------------------------
// The scanner's own rules.

fn paths_in(text: &str, module: &[&str]) -> Vec<String> {
    let module: Vec<String> = module.iter().map(|segment| segment.to_string()).collect();
    scan(text, &module, false)
        .references
        .into_iter()
        .map(|(path, _)| path.join("::"))
        .collect()
}

#[test]
fn scanner_expands_groups_and_resolves_super() {
    let text = "use crate::{api::{self, wire::Event}, sys::tree as t, spec};\n\
                use super::spec::ServiceId;\n\
                fn f() { let _ = crate::human::duration(d); super::super::exit::SUCCESS; }\n\
                mod inner { use super::super::paths; }\n";
    assert_eq!(
        paths_in(text, &["daemon", "status"]),
        [
            "api",
            "api::wire::Event",
            "sys::tree",
            "spec",
            "daemon::spec::ServiceId",
            "human::duration",
            "exit::SUCCESS",
            "daemon::paths",
        ]
    );
    assert_eq!(paths_in("use super::x::Y;", &["cli"]), ["x::Y"]);
}

#[test]
fn scanner_skips_comments_strings_and_test_code() {
    let text = r####"
        // crate::a in a comment
        /* crate::b /* nested crate::c */ */
        const S: &str = "crate::d \" crate::e";
        const R: &str = r#"crate::f "quoted" crate::g"#;
        const C: char = '"'; const Q: char = '\''; fn l<'a>(x: &'a str) {}
        #[cfg(test)]
        use crate::h;
        #[cfg(test)]
        #[allow(dead_code)]
        mod tests { use crate::i; }
        #[cfg(test)]
        mod more;
        use crate::j::{k, l::*};
        let x = crate::m::f::<u8>();
        let y = $crate::n;
        "####;
    let scanned = scan(text, &["x".to_string()], false);
    let paths: Vec<String> = scanned
        .references
        .iter()
        .map(|(path, _)| path.join("::"))
        .collect();
    assert_eq!(paths, ["j::k", "j::l::*", "m::f"]);
    assert_eq!(scanned.test_module_files, ["more"]);
    assert_eq!(
        scanned.references[0].1, 14,
        "line numbers survive stripping"
    );
}

#[test]
fn table_rows_parse_and_cycles_are_found() {
    let doc = "# A\n\n## Dependency direction\n\n| module | may use | kernel |\n|---|---|---|\n\
               | `a` | `b::c`, `d` | `rustix::fs` |\n| `b` | `a` | nothing |\n| `d` | nothing | nothing |\n\n## Next\n";
    let table = parse_table(doc).expect("parses");
    assert_eq!(
        table["a"],
        [vec!["b", "c"], vec!["d"], vec!["rustix", "fs"]]
    );
    assert_eq!(
        find_cycle(&table),
        Some(vec!["a".to_string(), "b".into(), "a".into()])
    );
    assert!(parse_table("## Dependency direction\n| `a` | b |\n").is_err());
}
