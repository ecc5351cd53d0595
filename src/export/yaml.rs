//! A small YAML writer for the Kubernetes and Compose exports: maps, sequences and scalars, with
//! comment lines, in block style (flow style for short lists of scalars).
//!
//! Written by hand rather than through a serializer because the output carries comments (what has
//! no equivalent, and why), which no serde serializer writes. Correct quoting is the whole job:
//! a string is written plain only when every YAML parser, YAML 1.1 ones included (Kubernetes
//! reads YAML 1.1 booleans such as `on` and `yes`), reads it back as that same string; every other
//! string is double-quoted with escapes, so no value (a colon, a `#`, a newline, a leading `-`,
//! `no`, a number) can change the document's structure or type.

use std::fmt::Write;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Str(String),
    Int(i64),
    Bool(bool),
    Map(Vec<Entry>),
    Seq(Vec<Item>),
}

/// One `key: value` of a map, with the comment lines written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Node,
    pub comments: Vec<String>,
}

/// One `- value` of a sequence, with the comment lines written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub value: Node,
    pub comments: Vec<String>,
}

impl Node {
    pub fn str(text: impl Into<String>) -> Node {
        Node::Str(text.into())
    }

    /// A sequence of strings.
    pub fn strings<S: AsRef<str>>(items: &[S]) -> Node {
        Node::Seq(
            items
                .iter()
                .map(|item| Item::new(Node::str(item.as_ref())))
                .collect(),
        )
    }

    pub fn seq(items: Vec<Node>) -> Node {
        Node::Seq(items.into_iter().map(Item::new).collect())
    }
}

impl Item {
    pub fn new(value: Node) -> Item {
        Item {
            value,
            comments: Vec::new(),
        }
    }
}

/// Builds a map entry by entry, in the order the entries are added.
#[derive(Debug, Default)]
pub struct MapBuilder {
    entries: Vec<Entry>,
    pending_comments: Vec<String>,
}

impl MapBuilder {
    pub fn new() -> MapBuilder {
        MapBuilder::default()
    }

    /// Comment lines written above the next entry.
    pub fn comments(&mut self, texts: impl IntoIterator<Item = String>) -> &mut MapBuilder {
        self.pending_comments.extend(texts);
        self
    }

    pub fn entry(&mut self, key: impl Into<String>, value: Node) -> &mut MapBuilder {
        self.entries.push(Entry {
            key: key.into(),
            value,
            comments: std::mem::take(&mut self.pending_comments),
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The map. Comments with no entry after them are dropped: write them before an entry.
    pub fn build(&mut self) -> Node {
        Node::Map(std::mem::take(&mut self.entries))
    }
}

/// Writes `node` as one YAML document body (no `---`); a map or a sequence at the top level.
pub fn document(node: &Node) -> String {
    let mut out = String::new();
    match node {
        Node::Map(entries) => write_map(&mut out, entries, 0),
        Node::Seq(items) => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// `# text` lines at `indent`, long text wrapped at word boundaries; control characters are
/// shown escaped so that nothing in `text` can end the comment.
pub fn comment_lines(out: &mut String, text: &str, indent: usize) {
    for line in super::wrap_comment(text) {
        let _ = writeln!(out, "{:indent$}# {line}", "");
    }
}

fn write_map(out: &mut String, entries: &[Entry], indent: usize) {
    if entries.is_empty() {
        let _ = writeln!(out, "{:indent$}{{}}", "");
        return;
    }
    for entry in entries {
        for comment in &entry.comments {
            comment_lines(out, comment, indent);
        }
        let _ = write!(out, "{:indent$}{}:", "", scalar_string(&entry.key));
        write_value_after_key(out, &entry.value, indent);
    }
}

fn write_value_after_key(out: &mut String, value: &Node, indent: usize) {
    match value {
        Node::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            write_map(out, entries, indent + 2);
        }
        Node::Seq(items) if !is_flow(items) => {
            out.push('\n');
            write_seq(out, items, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Item], indent: usize) {
    if items.is_empty() {
        let _ = writeln!(out, "{:indent$}[]", "");
        return;
    }
    for item in items {
        for comment in &item.comments {
            comment_lines(out, comment, indent);
        }
        match &item.value {
            Node::Map(entries) if !entries.is_empty() => {
                // The first entry goes on the dash's line; its comments go above the dash.
                for (index, entry) in entries.iter().enumerate() {
                    for comment in &entry.comments {
                        comment_lines(out, comment, indent + if index == 0 { 0 } else { 2 });
                    }
                    let dash = if index == 0 { "- " } else { "  " };
                    let _ = write!(out, "{:indent$}{dash}{}:", "", scalar_string(&entry.key));
                    write_value_after_key(out, &entry.value, indent + 2);
                }
            }
            Node::Seq(inner) if !is_flow(inner) => {
                let _ = writeln!(out, "{:indent$}-", "");
                write_seq(out, inner, indent + 2);
            }
            other => {
                let _ = writeln!(out, "{:indent$}- {}", "", inline(other));
            }
        }
    }
}

/// A sequence written `[a, b]` on one line: only scalars, no comments, short enough.
fn is_flow(items: &[Item]) -> bool {
    const MAX_FLOW_WIDTH: usize = 72;
    let scalars = items
        .iter()
        .all(|item| item.comments.is_empty() && !matches!(item.value, Node::Map(_) | Node::Seq(_)));
    scalars
        && items
            .iter()
            .map(|item| inline(&item.value).len() + 2)
            .sum::<usize>()
            <= MAX_FLOW_WIDTH
}

/// A scalar, an empty collection or a flow sequence on one line.
fn inline(node: &Node) -> String {
    match node {
        Node::Str(text) => scalar_string(text),
        Node::Int(number) => number.to_string(),
        Node::Bool(flag) => flag.to_string(),
        Node::Map(entries) => {
            // Only an empty map is written inline; a flow map is still correct YAML.
            let inner: Vec<String> = entries
                .iter()
                .map(|entry| format!("{}: {}", scalar_string(&entry.key), inline(&entry.value)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Node::Seq(items) => {
            let inner: Vec<String> = items.iter().map(|item| inline(&item.value)).collect();
            format!("[{}]", inner.join(", "))
        }
    }
}

/// `text` as a YAML scalar that every parser reads back as this exact string: plain when that is
/// safe, else double-quoted.
pub fn scalar_string(text: &str) -> String {
    if is_plain_safe(text) {
        return text.to_string();
    }
    double_quoted(text)
}

/// Plain only for identifier-like strings: a letter, `_` or `/` first, then letters, digits and
/// `_./-`, and not one of the words YAML 1.1 or 1.2 reads as a boolean or null. Such a string
/// cannot be a number (no digit first, no `.` first), cannot hold an indicator (`:`, `#`, `-`
/// first, quotes, brackets) and cannot be a date.
fn is_plain_safe(text: &str) -> bool {
    const RESERVED: &[&str] = &["y", "yes", "n", "no", "true", "false", "on", "off", "null"];
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
}

/// A double-quoted scalar: `\` and `"` escaped, and every character YAML does not allow as is
/// (controls, DEL, C1 controls, line and paragraph separators, the byte order mark, U+FFFE and
/// U+FFFF) written as an escape.
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{1b}' => out.push_str("\\e"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02X}"),
                    0x100..=0xffff => write!(out, "\\u{code:04X}"),
                    _ => write!(out, "\\U{code:08X}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters outside YAML's printable set, or that some parsers treat as line breaks.
pub fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
        | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_like_strings_are_plain_and_everything_else_is_quoted() {
        for plain in [
            "api",
            "python3",
            "app.kubernetes.io/name",
            "/usr/bin/env",
            "a_b-c",
        ] {
            assert_eq!(scalar_string(plain), plain);
        }
        let quoted = [
            ("", r#""""#),
            ("yes", r#""yes""#),
            ("No", r#""No""#),
            ("on", r#""on""#),
            ("OFF", r#""OFF""#),
            ("y", r#""y""#),
            ("null", r#""null""#),
            ("~", r#""~""#),
            ("8080", r#""8080""#),
            ("0x1F", r#""0x1F""#),
            ("1e3", r#""1e3""#),
            (".inf", r#"".inf""#),
            ("-x", r#""-x""#),
            ("- x", r#""- x""#),
            ("a: b", r#""a: b""#),
            ("a:b", r#""a:b""#),
            ("#not a comment", r##""#not a comment""##),
            ("x #y", r##""x #y""##),
            ("say \"hi\"", r#""say \"hi\"""#),
            ("back\\slash", r#""back\\slash""#),
            ("two\nlines", r#""two\nlines""#),
            ("tab\there", r#""tab\there""#),
            ("bell\u{7}", r#""bell\x07""#),
            ("del\u{7f}", r#""del\x7F""#),
            ("nel\u{85}", r#""nel\x85""#),
            ("ls\u{2028}", r#""ls\u2028""#),
            ("bom\u{feff}", r#""bom\uFEFF""#),
            ("ünï", r#""ünï""#),
            ("{a}", r#""{a}""#),
            ("[a]", r#""[a]""#),
            ("&anchor", r#""&anchor""#),
            ("*alias", r#""*alias""#),
            ("!tag", r#""!tag""#),
            ("%TAG", r#""%TAG""#),
            ("@x", r#""@x""#),
            ("`x`", r#""`x`""#),
            ("|", r#""|""#),
            (">", r#"">""#),
            ("2024-01-01", r#""2024-01-01""#),
            ("1:20", r#""1:20""#),
            ("<<", r#""<<""#),
            ("a b", r#""a b""#),
            (" lead", r#"" lead""#),
        ];
        for (text, expected) in quoted {
            assert_eq!(scalar_string(text), expected, "for {text:?}");
        }
    }

    #[test]
    fn maps_sequences_and_comments_are_laid_out_in_block_style() {
        let mut container = MapBuilder::new();
        container
            .entry("name", Node::str("api"))
            .comments(["why this is so".to_string()])
            .entry("command", Node::strings(&["python3", "api.py", "a b"]))
            .entry("ports", {
                let mut port = MapBuilder::new();
                port.entry("containerPort", Node::Int(8080));
                Node::seq(vec![port.build()])
            })
            .entry("env", Node::Map(Vec::new()))
            .entry("args", Node::Seq(Vec::new()))
            .entry("ok", Node::Bool(true));
        let mut root = MapBuilder::new();
        root.entry("containers", Node::seq(vec![container.build()]));
        let expected = "\
containers:
  - name: api
    # why this is so
    command: [python3, api.py, \"a b\"]
    ports:
      - containerPort: 8080
    env: {}
    args: []
    ok: true
";
        assert_eq!(document(&root.build()), expected);
    }

    #[test]
    fn long_scalar_lists_and_nested_lists_use_block_style() {
        let long: Vec<String> = (0..20).map(|n| format!("argument-{n}")).collect();
        let mut root = MapBuilder::new();
        root.entry("long", Node::strings(&long[..2]))
            .entry("longer", Node::strings(&long))
            .entry(
                "nested",
                Node::seq(vec![Node::seq(vec![Node::Int(1), Node::Int(2)])]),
            );
        let text = document(&root.build());
        assert!(text.starts_with("long: [argument-0, argument-1]\nlonger:\n  - argument-0\n"));
        assert!(text.ends_with("nested:\n  - [1, 2]\n"), "{text}");
    }

    #[test]
    fn a_comment_cannot_be_ended_by_its_text() {
        let mut out = String::new();
        comment_lines(&mut out, "first\nkey: injected\r\u{2028}", 2);
        assert_eq!(out, "  # first\\nkey: injected\\r\\u2028\n");
    }

    #[test]
    fn the_first_entry_of_a_map_in_a_sequence_keeps_its_comments_above_the_dash() {
        let mut item = MapBuilder::new();
        item.comments(["about a".to_string()])
            .entry("a", Node::Int(1));
        item.entry("b", Node::Int(2));
        let mut root = MapBuilder::new();
        root.entry("items", Node::seq(vec![item.build()]));
        assert_eq!(
            document(&root.build()),
            "items:\n  # about a\n  - a: 1\n    b: 2\n"
        );
    }
}
