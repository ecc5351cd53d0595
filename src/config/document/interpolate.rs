//! Interpolation: `${PORT}`, `${services.NAME.port}`, `${VAR}` and `${VAR:-default}` in a
//! service's `command`, `env` values, `cwd`, and its `ready`/`live` probes (`http`, `tcp`,
//! `exec`), put in on the spanned tree after the overlays and before any key is read.
//!
//! # Theory of operation
//! Working on the tree, before the shape is read, means every reader sees final values (a probe
//! URL is checked with its port in it) and a value keeps its span: a problem is located at the
//! reference itself when the string is written without escapes, else at the whole string.
//!
//! The rule, chosen so that what worked before keeps working: only `${` starts a reference; `$${`
//! is a literal `${`; every other `$` is left as written (`$HOME`, `$$`, `$1` and `$(...)` reach a
//! shell untouched). Nothing is ever run through a shell to expand anything.
//!
//! `${VAR}` looks in the env files of the service (`[defaults]`' first, then its own: the same
//! order as its environment), then in the environment wrangle was started in. `${PORT}` is the
//! service's own port and `${services.NAME.port}` another's, which makes NAME a dependency (as
//! `depends_on = ["NAME"]` would) unless it is one already. In `[defaults]`, only `${VAR}` is
//! known: a port belongs to one service. A `log` pattern is never interpolated (`$` is a regex
//! anchor there), nor is any other key.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::{Range, RangeInclusive};

use toml::Spanned;
use toml::de::{DeArray, DeString, DeTable, DeValue};

use super::{Reader, Value};
use crate::config::diagnostic::{Diagnostic, SourceFile};
use crate::config::trust::PortPicking;

/// The keys of a service (or `[defaults]`) whose strings are interpolated.
pub(crate) const INTERPOLATED_KEYS: &[&str] = &["command", "env", "cwd", "ready", "live"];
/// The probe kinds whose values are interpolated (not `log`, whose `$` is a regex anchor).
const INTERPOLATED_PROBE_KINDS: &[&str] = &["http", "tcp", "exec"];

/// Where `${VAR}` finds its values, given by the loader (the document reads no file itself).
pub(crate) struct Sources<'s> {
    /// The environment wrangle was started in.
    pub(crate) environment: &'s BTreeMap<String, String>,
    /// The pairs of an env file, as written in the config (relative to the project root);
    /// `None` when it cannot be used (`resolve` says why).
    pub(crate) env_file: EnvFileReader<'s>,
    /// How `port = "auto"` and ranges get their port.
    pub(crate) ports: &'s PortPicking,
}

/// Reads an env file named in the config (as written) into its variables, in file order.
pub(crate) type EnvFileReader<'s> = Box<dyn FnMut(&str) -> Option<Vec<(String, String)>> + 's>;

impl Sources<'static> {
    /// No environment and no env files, and a port request gets the first port of its range
    /// (40000 for `"auto"`): tests of the shape alone.
    #[cfg(test)]
    pub(crate) fn none() -> Sources<'static> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        static NO_PORTS: std::sync::LazyLock<PortPicking> =
            std::sync::LazyLock::new(|| PortPicking {
                pick: |range, _| Some(range.map_or(40000, |range| *range.start())),
                kept: Default::default(),
            });
        Sources {
            environment: &EMPTY,
            env_file: Box::new(|_| None),
            ports: &NO_PORTS,
        }
    }
}

/// A service's port as the tree says, for `${PORT}` and `${services.NAME.port}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    None,
    One(u16),
    Several,
    /// Malformed: the shape check reports it; references to it are not reported again.
    Invalid,
}

/// What the references of one table are resolved against.
struct Scope<'a> {
    /// `None` in `[defaults]`.
    service: Option<&'a str>,
    port: Port,
    ports: &'a BTreeMap<String, Port>,
    disabled: &'a [String],
    /// The env files' pairs, later files winning.
    env_files: BTreeMap<String, String>,
    environment: &'a BTreeMap<String, String>,
}

/// One `${...}` as written.
#[derive(Debug, PartialEq, Eq)]
struct Reference<'t> {
    name: &'t str,
    default: Option<&'t str>,
}

/// What is wrong with a reference: the message, the label at it, and help lines.
struct Problem {
    message: String,
    label: String,
    help: Vec<String>,
}

impl Reader<'_> {
    /// Interpolates every service's (and `[defaults]`') values in `document`, adding the
    /// dependencies that `${services.NAME.port}` implies. Problems are reported and the value
    /// left as written.
    pub(super) fn interpolate(&mut self, document: &mut DeTable<'_>, sources: &mut Sources<'_>) {
        let (mut ports, disabled, requests) = service_ports(document);
        let declared = declared_ports(&ports, document);
        self.pick_ports(&mut ports, requests, declared, sources.ports);
        if let Some(defaults) = document.get_mut("defaults")
            && let DeValue::Table(defaults) = defaults.get_mut()
        {
            let env_files = read_env_files(defaults, None, sources);
            let scope = Scope {
                service: None,
                port: Port::None,
                ports: &ports,
                disabled: &disabled,
                env_files,
                environment: sources.environment,
            };
            for key in ["cwd", "env"] {
                if let Some(value) = defaults.get_mut(key) {
                    self.interpolate_value(
                        value,
                        &format!("defaults.{key}"),
                        &scope,
                        &mut Vec::new(),
                    );
                }
            }
        }
        let defaults_env_files: Vec<String> = match document.get("defaults").map(Spanned::get_ref) {
            Some(DeValue::Table(defaults)) => env_file_names(defaults),
            _ => Vec::new(),
        };
        let Some(services) = document.get_mut("services") else {
            return;
        };
        let DeValue::Table(services) = services.get_mut() else {
            return;
        };
        for (name, service) in services.iter_mut() {
            let name = name.get_ref().to_string();
            if disabled.contains(&name) {
                continue;
            }
            let DeValue::Table(table) = service.get_mut() else {
                continue;
            };
            let env_files = read_env_files(table, Some(&defaults_env_files), sources);
            let scope = Scope {
                service: Some(&name),
                port: ports.get(&name).copied().unwrap_or(Port::None),
                ports: &ports,
                disabled: &disabled,
                env_files,
                environment: sources.environment,
            };
            let mut needed = Vec::new();
            for key in INTERPOLATED_KEYS {
                let Some(value) = table.get_mut(*key) else {
                    continue;
                };
                let path = format!("services.{name}.{key}");
                match *key {
                    "ready" | "live" => {
                        let DeValue::Table(probe) = value.get_mut() else {
                            continue;
                        };
                        for kind in INTERPOLATED_PROBE_KINDS {
                            if let Some(check) = probe.get_mut(*kind) {
                                let path = format!("{path}.{kind}");
                                self.interpolate_value(check, &path, &scope, &mut needed);
                            }
                        }
                    }
                    _ => self.interpolate_value(value, &path, &scope, &mut needed),
                }
            }
            add_dependencies(table, needed);
        }
    }

    /// Gives each `port = "auto"` or range its port: the one `picking` keeps for the service if
    /// it still fits, else a free one (never one another service declares or was given).
    fn pick_ports(
        &mut self,
        ports: &mut BTreeMap<String, Port>,
        requests: Vec<Request>,
        mut taken: Vec<u16>,
        picking: &PortPicking,
    ) {
        for request in requests {
            let fits = |port: &u16| {
                request
                    .range
                    .as_ref()
                    .is_none_or(|range| range.contains(port))
                    && !taken.contains(port)
            };
            let kept = picking.kept.get(&request.service).copied().filter(fits);
            match kept.or_else(|| (picking.pick)(request.range.clone(), &taken)) {
                Some(port) => {
                    taken.push(port);
                    self.picked_ports.insert(request.service.clone(), port);
                    ports.insert(request.service, Port::One(port));
                }
                None => {
                    let (message, label) = match &request.range {
                        Some(range) => (
                            format!(
                                "no free port in {}-{} for service \"{}\"",
                                range.start(),
                                range.end(),
                                request.service
                            ),
                            "every port in this range is in use or declared by another service",
                        ),
                        None => (
                            format!("no free port for service \"{}\"", request.service),
                            "no port could be picked",
                        ),
                    };
                    self.diagnostics.push(
                        Diagnostic::at(self.file, request.span, message, label)
                            .with_help("widen the range, or free a port in it (`wrangle ports`)"),
                    );
                }
            }
        }
    }

    /// Interpolates the strings of `value`: a string, an array's strings, a table's strings.
    fn interpolate_value(
        &mut self,
        value: &mut Value<'_>,
        path: &str,
        scope: &Scope<'_>,
        needed: &mut Vec<Spanned<String>>,
    ) {
        let span = value.span();
        match value.get_mut() {
            DeValue::String(text) => {
                if let Some(expanded) = self.expand(text, span, path, scope, needed) {
                    *text = Cow::Owned(expanded);
                }
            }
            DeValue::Array(items) => {
                for item in items.iter_mut() {
                    self.interpolate_value(item, path, scope, needed);
                }
            }
            DeValue::Table(table) => {
                for (key, item) in table.iter_mut() {
                    let path = format!("{path}.{}", key.get_ref());
                    self.interpolate_value(item, &path, scope, needed);
                }
            }
            _ => {}
        }
    }

    /// `text` (the string at `span`) with its references put in; `None` when unchanged or when a
    /// problem was reported.
    fn expand(
        &mut self,
        text: &DeString<'_>,
        span: Range<usize>,
        path: &str,
        scope: &Scope<'_>,
        needed: &mut Vec<Spanned<String>>,
    ) -> Option<String> {
        if !text.contains("${") {
            return None;
        }
        let inner = inner_start(self.file, &span, text);
        let locate = |range: Range<usize>| match inner {
            Some(start) => start + range.start..start + range.end,
            None => span.clone(),
        };
        let mut ok = true;
        let expanded = expand(text, |reference, range| {
            match scope.lookup(reference, path) {
                Ok((value, dependency)) => {
                    if let Some(dependency) = dependency {
                        needed.push(Spanned::new(locate(range), dependency.to_string()));
                    }
                    Some(value)
                }
                Err(problem) => {
                    ok = false;
                    let mut diagnostic =
                        Diagnostic::at(self.file, locate(range), problem.message, problem.label);
                    for help in problem.help {
                        diagnostic = diagnostic.with_help(help);
                    }
                    self.diagnostics.push(diagnostic);
                    None
                }
            }
        });
        match expanded {
            Ok(expanded) => ok.then_some(expanded),
            Err((range, problem)) => {
                let mut diagnostic =
                    Diagnostic::at(self.file, locate(range), problem.message, problem.label);
                for help in problem.help {
                    diagnostic = diagnostic.with_help(help);
                }
                self.diagnostics.push(diagnostic);
                None
            }
        }
    }
}

impl Scope<'_> {
    /// The value of `reference` in `path`, and the service it makes a dependency of this one.
    fn lookup<'r>(
        &self,
        reference: &Reference<'r>,
        path: &str,
    ) -> Result<(String, Option<&'r str>), Problem> {
        let name = reference.name;
        if let Some(rest) = name.strip_prefix("services.") {
            return self.service_port(rest, reference, path);
        }
        if name == "PORT" {
            return match (self.service, self.port) {
                (_, Port::One(port)) => Ok((port.to_string(), None)),
                (_, Port::Invalid) => Ok((String::new(), None)),
                (None, _) => Err(Problem {
                    message: format!("`${{PORT}}` in `{path}`: [defaults] has no port"),
                    label: "a port belongs to one service".to_string(),
                    help: vec!["write `${PORT}` in each service's own table".to_string()],
                }),
                (Some(_), _) if reference.default.is_some() => {
                    Ok((reference.default.unwrap_or_default().to_string(), None))
                }
                (Some(service), Port::Several) => Err(Problem {
                    message: format!(
                        "`${{PORT}}` in `{path}`: service \"{service}\" has several ports"
                    ),
                    label: "which one is meant is unclear".to_string(),
                    help: vec!["write the port number itself".to_string()],
                }),
                (Some(service), _) => Err(Problem {
                    message: format!("`${{PORT}}` in `{path}`: service \"{service}\" has no port"),
                    label: "no `port` to put in".to_string(),
                    help: vec![
                        "declare it with port = 8080 (or \"auto\")".to_string(),
                        "or give a default: `${PORT:-8080}`".to_string(),
                    ],
                }),
            };
        }
        if !is_variable_name(name) {
            return Err(Problem {
                message: format!("invalid reference `${{{name}}}` in `{path}`"),
                label: "not a variable name".to_string(),
                help: vec![
                    "a reference is ${PORT}, ${services.NAME.port}, ${VAR} or ${VAR:-default}, \
                     where VAR is letters, digits and '_'"
                        .to_string(),
                    "write `$${` for a literal `${` (for a shell, say)".to_string(),
                ],
            });
        }
        let found = self
            .env_files
            .get(name)
            .or_else(|| self.environment.get(name));
        match (found, reference.default) {
            (Some(value), Some(default)) if value.is_empty() => Ok((default.to_string(), None)),
            (Some(value), _) => Ok((value.clone(), None)),
            (None, Some(default)) => Ok((default.to_string(), None)),
            (None, None) => {
                let candidates = self
                    .env_files
                    .keys()
                    .chain(self.environment.keys())
                    .map(String::as_str)
                    .chain(self.service.is_some().then_some("PORT"));
                let mut help = Vec::new();
                if let Some(suggestion) = crate::config::diagnostic::did_you_mean(name, candidates)
                {
                    help.push(format!("did you mean \"{suggestion}\"?"));
                }
                help.push(format!(
                    "give a default with `${{{name}:-value}}`, or write `$${{{name}}}` to pass \
                     it on as written (to a shell)"
                ));
                Err(Problem {
                    message: format!("unknown variable `${{{name}}}` in `{path}`"),
                    label: "not set in the env files or in wrangle's environment".to_string(),
                    help,
                })
            }
        }
    }

    /// `${services.REST}`: another service's port.
    fn service_port<'r>(
        &self,
        rest: &'r str,
        reference: &Reference<'r>,
        path: &str,
    ) -> Result<(String, Option<&'r str>), Problem> {
        let written = reference.name;
        let Some((service, "port")) = rest.rsplit_once('.') else {
            return Err(Problem {
                message: format!("invalid reference `${{{written}}}` in `{path}`"),
                label: "a service's value is read as ${services.NAME.port}".to_string(),
                help: vec!["only a service's `port` can be put in".to_string()],
            });
        };
        if self.disabled.iter().any(|name| name == service) {
            return Err(Problem {
                message: format!(
                    "`${{{written}}}` in `{path}` names service \"{service}\", which is left out"
                ),
                label: "`enabled = false`".to_string(),
                help: vec![format!(
                    "enable \"{service}\" too, or leave this service out"
                )],
            });
        }
        let Some(port) = self.ports.get(service) else {
            let mut help = Vec::new();
            let names = self.ports.keys().map(String::as_str);
            if let Some(suggestion) = crate::config::diagnostic::did_you_mean(service, names) {
                help.push(format!("did you mean \"{suggestion}\"?"));
            }
            let known: Vec<&str> = self.ports.keys().map(String::as_str).collect();
            help.push(format!("services: {}", known.join(", ")));
            return Err(Problem {
                message: format!(
                    "`${{{written}}}` in `{path}` names unknown service \"{service}\""
                ),
                label: "no service with this name".to_string(),
                help,
            });
        };
        let dependency = (self.service != Some(service)).then_some(service);
        match port {
            Port::One(port) => Ok((port.to_string(), dependency)),
            Port::Invalid => Ok((String::new(), dependency)),
            Port::None | Port::Several if reference.default.is_some() => Ok((
                reference.default.unwrap_or_default().to_string(),
                dependency,
            )),
            Port::Several => Err(Problem {
                message: format!(
                    "`${{{written}}}` in `{path}`: service \"{service}\" has several ports"
                ),
                label: "which one is meant is unclear".to_string(),
                help: vec!["write the port number itself".to_string()],
            }),
            Port::None => Err(Problem {
                message: format!("`${{{written}}}` in `{path}`: service \"{service}\" has no port"),
                label: "no `port` to put in".to_string(),
                help: vec![format!("declare one in [services.{service}]: port = 8080")],
            }),
        }
    }
}

/// `text` with every reference replaced by what `resolve` gives for it (`None`: a problem it
/// reported; the rest is still scanned). A malformed reference ends the scan with its range in
/// `text` and the problem.
fn expand(
    text: &str,
    mut resolve: impl FnMut(&Reference<'_>, Range<usize>) -> Option<String>,
) -> Result<String, (Range<usize>, Problem)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            offset += dollar + 3;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            offset += dollar + 1;
            continue;
        }
        let start = offset + dollar;
        let Some(close) = after.find('}') else {
            return Err((
                start..offset + rest.len(),
                Problem {
                    message: "unclosed `${` in a value".to_string(),
                    label: "no `}` after this".to_string(),
                    help: vec!["write `$${` for a literal `${` (for a shell, say)".to_string()],
                },
            ));
        };
        let body = &after[2..close];
        let reference = match body.split_once(":-") {
            Some((name, default)) => Reference {
                name,
                default: Some(default),
            },
            None => Reference {
                name: body,
                default: None,
            },
        };
        if let Some(value) = resolve(&reference, start..start + close + 1) {
            out.push_str(&value);
        }
        rest = &after[close + 1..];
        offset = start + close + 1;
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where the text of the string at `span` starts in the file, when it is written without
/// escapes (so an offset in the value is an offset in the file); `None` otherwise.
fn inner_start(file: &SourceFile, span: &Range<usize>, value: &str) -> Option<usize> {
    let written = file.text().get(span.clone())?;
    for quote in ["\"\"\"", "'''", "\"", "'"] {
        let Some(inner) = written
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        else {
            continue;
        };
        if inner == value {
            return Some(span.start + quote.len());
        }
        // A multi-line string drops the newline right after its opening quotes.
        if quote.len() == 3 && inner.strip_prefix('\n') == Some(value) {
            return Some(span.start + quote.len() + 1);
        }
        return None;
    }
    None
}

/// Every service's port as written (`Invalid` until picked for a request), the services left
/// out (`enabled = false`), and the requests for a port to pick (`"auto"` or a range).
fn service_ports(document: &DeTable<'_>) -> (BTreeMap<String, Port>, Vec<String>, Vec<Request>) {
    let mut ports = BTreeMap::new();
    let mut disabled = Vec::new();
    let mut requests = Vec::new();
    let Some(DeValue::Table(services)) = document.get("services").map(Spanned::get_ref) else {
        return (ports, disabled, requests);
    };
    for (name, service) in services.iter() {
        let name = name.get_ref().to_string();
        let DeValue::Table(table) = service.get_ref() else {
            ports.insert(name, Port::Invalid);
            continue;
        };
        if let Some(DeValue::Boolean(false)) = table.get("enabled").map(Spanned::get_ref) {
            disabled.push(name);
            continue;
        }
        let port = match table.get("port").map(Spanned::get_ref) {
            None => Port::None,
            Some(DeValue::Integer(_)) => port_number(table.get("port")),
            Some(DeValue::Array(items)) => match items.len() {
                0 => Port::None,
                1 => port_number(items.first()),
                _ => Port::Several,
            },
            Some(DeValue::String(text)) => {
                if let Some(range) = super::services::port_request(text)
                    && let Some(value) = table.get("port")
                {
                    requests.push(Request {
                        service: name.clone(),
                        range,
                        span: value.span(),
                    });
                }
                Port::Invalid
            }
            Some(_) => Port::Invalid,
        };
        ports.insert(name, port);
    }
    (ports, disabled, requests)
}

/// `port = "auto"` or `port = "A-B"` of a service.
struct Request {
    service: String,
    /// `None` for `"auto"`.
    range: Option<RangeInclusive<u16>>,
    span: Range<usize>,
}

/// Every port a service declares by number (they are not picked for another).
fn declared_ports(ports: &BTreeMap<String, Port>, document: &DeTable<'_>) -> Vec<u16> {
    let mut declared: Vec<u16> = ports
        .values()
        .filter_map(|port| match port {
            Port::One(port) => Some(*port),
            _ => None,
        })
        .collect();
    if let Some(DeValue::Table(services)) = document.get("services").map(Spanned::get_ref) {
        for service in services.values() {
            if let DeValue::Table(table) = service.get_ref()
                && let Some(DeValue::Array(items)) = table.get("port").map(Spanned::get_ref)
            {
                for item in items.iter() {
                    if let Port::One(port) = port_number(Some(item)) {
                        declared.push(port);
                    }
                }
            }
        }
    }
    declared
}

fn port_number(value: Option<&Value<'_>>) -> Port {
    let Some(DeValue::Integer(integer)) = value.map(Spanned::get_ref) else {
        return Port::Invalid;
    };
    match i64::from_str_radix(integer.as_str(), integer.radix())
        .ok()
        .and_then(|number| u16::try_from(number).ok())
    {
        Some(port) if port > 0 => Port::One(port),
        _ => Port::Invalid,
    }
}

/// The `env_file` names of a table, as written.
fn env_file_names(table: &DeTable<'_>) -> Vec<String> {
    match table.get("env_file").map(Spanned::get_ref) {
        Some(DeValue::String(name)) => vec![name.to_string()],
        Some(DeValue::Array(items)) => items
            .iter()
            .filter_map(|item| match item.get_ref() {
                DeValue::String(name) => Some(name.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The pairs of `[defaults]`' env files (`defaults`, for a service) then the table's own, later
/// files winning.
fn read_env_files(
    table: &DeTable<'_>,
    defaults: Option<&[String]>,
    sources: &mut Sources<'_>,
) -> BTreeMap<String, String> {
    let mut pairs = BTreeMap::new();
    let own = env_file_names(table);
    for name in defaults.unwrap_or_default().iter().chain(&own) {
        if let Some(read) = (sources.env_file)(name) {
            pairs.extend(read);
        }
    }
    pairs
}

/// Adds the services that `${services.NAME.port}` named to the table's `depends_on`, as
/// `depends_on = ["NAME"]` would (ready), unless it lists them already.
fn add_dependencies(table: &mut DeTable<'_>, needed: Vec<Spanned<String>>) {
    for name in needed {
        let span = name.span();
        let name = name.into_inner();
        match table.get_mut("depends_on").map(Spanned::get_mut) {
            None => {
                let mut items = DeArray::new();
                items.push(Spanned::new(
                    span.clone(),
                    DeValue::String(Cow::Owned(name)),
                ));
                table.insert(
                    Spanned::new(span.clone(), Cow::Borrowed("depends_on")),
                    Spanned::new(span, DeValue::Array(items)),
                );
            }
            Some(DeValue::Array(items)) => {
                let listed = items
                    .iter()
                    .any(|item| matches!(item.get_ref(), DeValue::String(text) if *text == name));
                if !listed {
                    items.push(Spanned::new(span, DeValue::String(Cow::Owned(name))));
                }
            }
            Some(DeValue::Table(conditions)) => {
                if conditions.get(name.as_str()).is_none() {
                    conditions.insert(
                        Spanned::new(span.clone(), Cow::Owned(name)),
                        Spanned::new(span, DeValue::String(Cow::Borrowed("ready"))),
                    );
                }
            }
            // Malformed: reported by the shape check.
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, String> {
        let mut problems = Vec::new();
        let expanded = expand(text, |reference, range| match reference.name {
            "A" => Some("alpha".to_string()),
            _ => {
                problems.push(format!("{}@{range:?}", reference.name));
                reference.default.map(str::to_string)
            }
        })
        .map_err(|(range, problem)| format!("{}@{range:?}", problem.message))?;
        match problems.is_empty() {
            true => Ok(expanded),
            false => Err(problems.join(",")),
        }
    }

    #[test]
    fn only_a_brace_starts_a_reference() {
        assert_eq!(run("x ${A} y").as_deref(), Ok("x alpha y"));
        assert_eq!(run("$A $$ $1 $(id) $").as_deref(), Ok("$A $$ $1 $(id) $"));
        assert_eq!(run("$${A} $${").as_deref(), Ok("${A} ${"));
        // Left to right: the first `$` is followed by `$$`, not `${`.
        assert_eq!(run("$$${A}").as_deref(), Ok("$${A}"));
    }

    #[test]
    fn problems_are_located_in_the_value() {
        assert_eq!(run("ab ${B} ${A}"), Err("B@3..7".to_string()));
        assert_eq!(
            run("ab ${A"),
            Err("unclosed `${` in a value@3..6".to_string())
        );
    }
}
