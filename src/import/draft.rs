//! The wrangle.toml an import writes, as data, and its rendering.
//!
//! A mapper fills a [`Draft`]: services in the order of the source file, each with its keys in
//! the order a person reads them, a comment above any key that needs one, and notes for what
//! could not be carried over. Values are `toml_edit` values (ordered arrays and inline tables);
//! [`Draft::render`] lays the file out and writes every key and value on one line, strings as
//! basic strings with every quote, backslash and control character escaped, so a name or value
//! holding quotes, newlines, `#` or control characters comes out as valid TOML that reads back
//! as the same string, also inside a commented-out service. Comment text is made safe the same
//! way (one `#` per line, control characters escaped), so nothing from the source file can end
//! a comment and become a key.

use toml_edit::{Array, InlineTable, Value};

/// A whole file.
#[derive(Debug, Default)]
pub struct Draft {
    /// Comment lines at the top of the file.
    pub header: Vec<String>,
    /// `[defaults]`, written when it has entries.
    pub defaults: Vec<Entry>,
    pub services: Vec<Service>,
    /// Comment lines at the end of the file (what was not imported at all).
    pub footer: Vec<String>,
}

/// One `[services.NAME]` table.
#[derive(Debug)]
pub struct Service {
    pub name: String,
    /// Comment lines above the table header.
    pub comments: Vec<String>,
    pub entries: Vec<Entry>,
    /// Comment lines after the table's keys: options with no equivalent, and why.
    pub notes: Vec<String>,
    /// Written entirely as comments: a service the user may enable by uncommenting it (a
    /// Compose service that only names an image).
    pub commented_out: bool,
    /// What profiles change about it, per profile in order: `[profiles.P.services.NAME]`
    /// tables, written after every service.
    pub profiles: Vec<(String, Vec<Entry>)>,
}

/// `key = value`, or a sub-table `[services.NAME.key]` when `value` is a table that reads
/// better on lines of its own.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    /// Comment lines above the key.
    pub comments: Vec<String>,
    pub as_table: bool,
}

impl Service {
    pub fn new(name: impl Into<String>) -> Service {
        Service {
            name: name.into(),
            comments: Vec::new(),
            entries: Vec::new(),
            notes: Vec::new(),
            commented_out: false,
            profiles: Vec::new(),
        }
    }

    /// Adds `key = value`.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Entry {
        self.entries.push(Entry {
            key: key.to_string(),
            value: value.into(),
            comments: Vec::new(),
            as_table: false,
        });
        self.entries.last_mut().expect("just pushed")
    }

    /// Adds a table value written as `[services.NAME.key]`.
    pub fn set_table(&mut self, key: &str, table: InlineTable) -> &mut Entry {
        let entry = self.set(key, table);
        entry.as_table = true;
        entry
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|entry| entry.key == key)
    }

    /// Takes `key` out of the table.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let index = self.entries.iter().position(|entry| entry.key == key)?;
        Some(self.entries.remove(index))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|entry| entry.key == key)
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Adds `key = value` to what profile `profile` changes about the service.
    pub fn set_in_profile(
        &mut self,
        profile: &str,
        key: &str,
        value: impl Into<Value>,
    ) -> &mut Entry {
        let at = match self.profiles.iter().position(|(name, _)| name == profile) {
            Some(at) => at,
            None => {
                self.profiles.push((profile.to_string(), Vec::new()));
                self.profiles.len() - 1
            }
        };
        let entries = &mut self.profiles[at].1;
        entries.push(Entry {
            key: key.to_string(),
            value: value.into(),
            comments: Vec::new(),
            as_table: false,
        });
        entries.last_mut().expect("just pushed")
    }
}

impl Entry {
    pub fn comment(&mut self, text: impl Into<String>) -> &mut Entry {
        self.comments.push(text.into());
        self
    }
}

/// An array of strings.
pub fn strings<S: AsRef<str>>(items: &[S]) -> Value {
    let mut array = Array::new();
    for item in items {
        array.push(item.as_ref());
    }
    Value::Array(array)
}

/// An inline table of string values, in order.
pub fn string_table(pairs: &[(String, String)]) -> InlineTable {
    let mut table = InlineTable::new();
    for (key, value) in pairs {
        table.insert(key, Value::from(value.as_str()));
    }
    table
}

impl Draft {
    pub fn render(&self) -> String {
        let mut out = String::new();
        comment_lines(&mut out, &self.header, "");
        if !self.defaults.is_empty() {
            separate(&mut out);
            out.push_str("[defaults]\n");
            plain_entries(&mut out, &self.defaults, "");
            sub_tables(&mut out, "defaults", &self.defaults, "");
        }
        for service in &self.services {
            separate(&mut out);
            comment_lines(&mut out, &service.comments, "");
            let prefix = if service.commented_out { "# " } else { "" };
            let path = format!("services.{}", key(&service.name));
            out.push_str(&format!("{prefix}[{path}]\n"));
            plain_entries(&mut out, &service.entries, prefix);
            comment_lines(&mut out, &service.notes, "");
            sub_tables(&mut out, &path, &service.entries, prefix);
        }
        for service in &self.services {
            let prefix = if service.commented_out { "# " } else { "" };
            for (profile, entries) in &service.profiles {
                separate(&mut out);
                let path = format!("profiles.{}.services.{}", key(profile), key(&service.name));
                out.push_str(&format!("{prefix}[{path}]\n"));
                plain_entries(&mut out, entries, prefix);
                sub_tables(&mut out, &path, entries, prefix);
            }
        }
        if !self.footer.is_empty() {
            separate(&mut out);
            comment_lines(&mut out, &self.footer, "");
        }
        out
    }
}

/// A blank line between sections, none at the top of the file.
fn separate(out: &mut String) {
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

fn plain_entries(out: &mut String, entries: &[Entry], prefix: &str) {
    for entry in entries.iter().filter(|entry| !entry.as_table) {
        comment_lines(out, &entry.comments, prefix);
        out.push_str(&format!(
            "{prefix}{} = {}\n",
            key(&entry.key),
            value(&as_written(entry))
        ));
    }
}

fn sub_tables(out: &mut String, path: &str, entries: &[Entry], prefix: &str) {
    for entry in entries.iter().filter(|entry| entry.as_table) {
        out.push('\n');
        comment_lines(out, &entry.comments, prefix);
        out.push_str(&format!("{prefix}[{path}.{}]\n", key(&entry.key)));
        if let Value::InlineTable(table) = &as_written(entry) {
            for (name, item) in table.iter() {
                out.push_str(&format!("{prefix}{} = {}\n", key(name), value(item)));
            }
        }
    }
}

/// The keys whose strings wrangle interpolates (`${...}`); the same list as the config's.
const INTERPOLATED_KEYS: &[&str] = &["command", "env", "cwd", "ready", "live"];

/// An entry's value as the file must say it: no source tool's `${` is wrangle's reference, so in
/// the keys wrangle interpolates every `${` is written `$${` (a probe's `log` pattern is not
/// interpolated and stays as it is).
fn as_written(entry: &Entry) -> Value {
    fn escape(value: &Value, probe: bool) -> Value {
        match value {
            Value::String(text) if text.value().contains("${") => {
                Value::from(text.value().replace("${", "$${"))
            }
            Value::Array(array) => {
                Value::Array(array.iter().map(|item| escape(item, false)).collect())
            }
            Value::InlineTable(table) => {
                let mut escaped = InlineTable::new();
                for (name, item) in table.iter() {
                    let item = match probe && name == "log" {
                        true => item.clone(),
                        false => escape(item, false),
                    };
                    escaped.insert(name, item);
                }
                Value::InlineTable(escaped)
            }
            other => other.clone(),
        }
    }
    let probe = matches!(entry.key.as_str(), "ready" | "live");
    match INTERPOLATED_KEYS.contains(&entry.key.as_str()) {
        true => escape(&entry.value, probe),
        false => entry.value.clone(),
    }
}

/// A key as TOML writes it: bare when it can be, quoted and escaped otherwise.
pub fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|char| char.is_ascii_alphanumeric() || char == '_' || char == '-');
    match bare {
        true => name.to_string(),
        false => basic_string(name),
    }
}

/// A value in TOML, on one line: strings as basic strings with every control character
/// escaped (never a multi-line string, which would break out of a commented-out line).
pub fn value(value: &Value) -> String {
    match value {
        Value::String(text) => basic_string(text.value()),
        Value::Array(array) => {
            let items: Vec<String> = array.iter().map(self::value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::InlineTable(table) => {
            let pairs: Vec<String> = table
                .iter()
                .map(|(name, item)| format!("{} = {}", key(name), self::value(item)))
                .collect();
            match pairs.is_empty() {
                true => "{}".to_string(),
                false => format!("{{ {} }}", pairs.join(", ")),
            }
        }
        other => {
            let mut other = other.clone();
            other.decor_mut().clear();
            other.to_string().trim().to_string()
        }
    }
}

/// `"text"` with TOML's escapes.
fn basic_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for char in text.chars() {
        match char {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            char if char.is_control() => out.push_str(&format!("\\u{:04X}", char as u32)),
            char => out.push(char),
        }
    }
    out.push('"');
    out
}

/// Each line of each comment as `# line`, with control characters escaped: nothing from the
/// source file can end the comment.
fn comment_lines(out: &mut String, comments: &[String], prefix: &str) {
    for comment in comments {
        for line in comment.split('\n') {
            let safe = safe_comment(line);
            out.push_str(prefix);
            if safe.is_empty() {
                out.push_str("#\n");
            } else {
                out.push_str(&format!("# {safe}\n"));
            }
        }
    }
}

/// `text` with every control character but tab written as an escape.
pub fn safe_comment(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for char in text.chars() {
        match char {
            '\t' => safe.push(char),
            char if char.is_control() => safe.push_str(&char.escape_unicode().to_string()),
            char => safe.push(char),
        }
    }
    safe.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_tools_dollar_brace_is_written_literal_where_wrangle_interpolates() {
        let mut draft = Draft::default();
        let mut service = Service::new("web");
        service.set("command", strings(&["sh", "-c", "echo ${HOME} $$"]));
        service.set_table(
            "env",
            string_table(&[("log".to_string(), "${X}".to_string())]),
        );
        let mut ready = InlineTable::new();
        ready.insert("log", Value::from("up ${1}"));
        service.set_table("ready", ready);
        service.set("watch", strings(&["${odd}"]));
        draft.services.push(service);
        let text = draft.render();
        assert!(text.contains(r#""echo $${HOME} $$""#), "{text}");
        assert!(text.contains(r#"log = "$${X}""#), "{text}");
        assert!(text.contains(r#"log = "up ${1}""#), "{text}");
        assert!(text.contains(r#"watch = ["${odd}"]"#), "{text}");
    }

    #[test]
    fn hostile_names_values_and_comments_stay_inside_their_strings() {
        let mut draft = Draft::default();
        draft
            .header
            .push("from a file\nwith [two] lines\r\n= 1".to_string());
        let mut service = Service::new("db.primary");
        service
            .set(
                "command",
                strings(&["sh", "-c", "echo \"a\" \\ 'b'\n[x]\nkey = 1 # c"]),
            )
            .comment("note\n[services.evil]\ncommand = \"x\"");
        let env = vec![
            ("A B".to_string(), "\u{7}\u{1b}[31m".to_string()),
            ("\"q\"".to_string(), "'''".to_string()),
        ];
        service.set("env", string_table(&env));
        service.note("trailing \u{0} note");
        draft.services.push(service);
        let mut hidden = Service::new("image-only");
        hidden.commented_out = true;
        hidden.set("command", strings(&["docker", "run", "a\nb"]));
        draft.services.push(hidden);
        let text = draft.render();
        let document: toml::Table = toml::from_str(&text).unwrap_or_else(|error| {
            panic!("not TOML: {error}\n{text}");
        });
        let services = document["services"].as_table().expect("services");
        assert_eq!(
            services.keys().collect::<Vec<_>>(),
            ["db.primary"],
            "{text}"
        );
        let service = services["db.primary"].as_table().expect("service");
        assert_eq!(
            service["command"].as_array().expect("array")[2].as_str(),
            Some("echo \"a\" \\ 'b'\n[x]\nkey = 1 # c")
        );
        let env = service["env"].as_table().expect("env");
        assert_eq!(env["A B"].as_str(), Some("\u{7}\u{1b}[31m"));
        assert_eq!(env["\"q\""].as_str(), Some("'''"));
        assert!(text.contains("# trailing \\u{0} note"), "{text}");
    }

    #[test]
    fn sub_tables_follow_the_plain_keys() {
        let mut service = Service::new("api");
        let mut ready = InlineTable::new();
        ready.insert("http", Value::from("http://127.0.0.1:8080/"));
        ready.insert("interval", Value::from("2s"));
        service.set_table("ready", ready);
        service.set("command", "./api");
        let draft = Draft {
            services: vec![service],
            ..Draft::default()
        };
        assert_eq!(
            draft.render(),
            "[services.api]\ncommand = \"./api\"\n\n[services.api.ready]\nhttp = \"http://127.0.0.1:8080/\"\ninterval = \"2s\"\n"
        );
    }
}
