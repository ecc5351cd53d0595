//! `wrangle export systemd`: one `.service` unit per service and a `.target` that groups the
//! project, for the system or a user's service manager.
//!
//! | wrangle | systemd |
//! |---|---|
//! | `depends_on` (any condition) | `Requires=` and `After=` |
//! | a `completed` dependency | that service is `Type=oneshot` with `RemainAfterExit=yes` |
//! | `ready = { notify = true }` | `Type=notify`, `NotifyAccess=all`, `TimeoutStartSec=` |
//! | any other probe | none: `Type=exec`, and a note |
//! | `restart`, `backoff_initial` | `Restart=`, `RestartSec=` |
//! | `max_restarts`, `restart_window` | `StartLimitBurst=` (one more: it counts starts), `StartLimitIntervalSec=` |
//! | `stop_signal`, `stop_timeout` | `KillSignal=`, `TimeoutStopSec=` (the whole cgroup, as wrangle stops the whole tree) |
//! | `max_memory` | `MemoryMax=` |
//! | `env`, `env_file`, `PORT` | `Environment=`, one per variable, merged as wrangle merges them |
//! | `cwd` | `WorkingDirectory=` |
//!
//! Quoting follows systemd.service(5) and systemd.exec(5): in `ExecStart=` a word is written
//! bare only when it holds nothing special, else in double quotes with C escapes; `%` is written
//! `%%` (specifiers) and `$` is written `$$` (variable expansion, `ExecStart=` only).

use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

use super::{
    Export, ExportError, Format, Options, OutputFile, common_service_notes, duration_text, header,
    path_text, project_name, project_notes, sanitize, wrap_comment,
};
use crate::spec::{DependencyCondition, ProjectSpec, ReadyCheck, RestartPolicy, ServiceSpec};

/// systemd's limit on a unit name, suffix included.
const MAX_UNIT_NAME_BYTES: usize = 255;

/// The first characters of an `ExecStart=` command that systemd reads as prefixes (`-`, `@`,
/// ...) rather than as part of the program: a program starting with one is written quoted.
const EXEC_PREFIXES: &[char] = &['-', '@', ':', '+', '!', '|'];

pub(super) fn export(spec: &ProjectSpec, options: &Options) -> Result<Export, ExportError> {
    let prefix = unit_prefix(&project_name(spec, options));
    let target = format!("{prefix}.target");
    let unit_of = |service: &ServiceSpec| format!("{prefix}-{}.service", service.name);
    let mut problems = Vec::new();
    if target.len() > MAX_UNIT_NAME_BYTES {
        problems.push(format!(
            "the unit name {target} is longer than systemd's {MAX_UNIT_NAME_BYTES} bytes: choose \
             a shorter --name"
        ));
    }
    let oneshot = completed_dependencies(spec);
    let mut files = Vec::new();
    let mut notes = 0;
    for (id, service) in spec.services.iter().enumerate() {
        let unit = unit_of(service);
        if unit.len() > MAX_UNIT_NAME_BYTES {
            problems.push(format!(
                "the unit name {unit} is longer than systemd's {MAX_UNIT_NAME_BYTES} bytes: \
                 choose a shorter --name or service name"
            ));
            continue;
        }
        match service_unit(spec, service, oneshot[id], &target, &unit_of) {
            Ok((text, service_notes)) => {
                notes += service_notes;
                files.push(OutputFile { name: unit, text });
            }
            Err(problem) => problems.push(format!("service \"{}\": {problem}", service.name)),
        }
    }
    if !problems.is_empty() {
        return Err(ExportError {
            format: Format::Systemd,
            problems,
        });
    }
    let units: Vec<String> = spec.services.iter().map(unit_of).collect();
    let (target_text, target_notes) = target_unit(spec, &prefix, &units);
    notes += target_notes;
    files.push(OutputFile {
        name: target,
        text: target_text,
    });
    Ok(Export {
        format: Format::Systemd,
        files,
        notes,
        copies_env_files: spec.services.iter().any(|s| !s.env_files.is_empty()),
    })
}

/// The project's name reduced to what a unit name may hold: letters, digits, `_`, `.` and `-`
/// (systemd also allows `:`, `\` and `@`, which have meanings of their own).
fn unit_prefix(name: &str) -> String {
    sanitize(
        name,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'),
        '_',
        "project",
    )
}

/// Which services some service depends on with `completed`: those run as oneshots.
fn completed_dependencies(spec: &ProjectSpec) -> Vec<bool> {
    let mut oneshot = vec![false; spec.services.len()];
    for service in &spec.services {
        for dependency in &service.depends_on {
            if dependency.condition == DependencyCondition::Completed {
                oneshot[dependency.service] = true;
            }
        }
    }
    oneshot
}

/// A unit file being written: comment lines, then sections.
#[derive(Default)]
struct UnitText {
    text: String,
    notes: usize,
}

impl UnitText {
    fn comment(&mut self, line: &str) {
        let _ = writeln!(self.text, "{line}");
    }

    fn note(&mut self, note: &str) {
        for line in wrap_comment(note) {
            let _ = writeln!(self.text, "# {line}");
        }
        self.notes += 1;
    }

    fn section(&mut self, name: &str) {
        let _ = writeln!(self.text, "\n[{name}]");
    }

    fn set(&mut self, key: &str, value: &str) {
        let _ = writeln!(self.text, "{key}={value}");
    }
}

fn service_unit(
    spec: &ProjectSpec,
    service: &ServiceSpec,
    oneshot: bool,
    target: &str,
    unit_of: &dyn Fn(&ServiceSpec) -> String,
) -> Result<(String, usize), String> {
    let mut unit = UnitText::default();
    for line in header(Format::Systemd, spec) {
        unit.comment(&line);
    }
    let mut notes = common_service_notes(&spec.root, service, "systemd");
    let exec_start = exec_start(&service.command.argv, &service.cwd)?;
    let working_directory = working_directory(&service.cwd)?;

    let notify = matches!(
        service.ready.as_ref().map(|probe| &probe.check),
        Some(ReadyCheck::Notify)
    );
    if let Some(probe) = &service.ready
        && !notify
    {
        notes.push(format!(
            "ready = {{ {} }} has no systemd equivalent: systemd counts the service as started \
             once its program runs (Type=exec), so units ordered after it do not wait for this \
             check. To keep the order exact, have the service send READY=1 to $NOTIFY_SOCKET \
             and use ready = {{ notify = true }} (Type=notify).",
            probe.check.describe()
        ));
    }
    for dependency in &service.depends_on {
        let other = &spec.services[dependency.service];
        if dependency.condition == DependencyCondition::Ready
            && let Some(probe) = &other.ready
            && !matches!(probe.check, ReadyCheck::Notify)
        {
            notes.push(format!(
                "depends_on {} = \"ready\": After={} waits until {} has started, not until its \
                 readiness check passes (it has no systemd equivalent).",
                other.name,
                unit_of(other),
                other.name
            ));
        }
        if dependency.restart {
            notes.push(format!(
                "depends_on {} with restart = true: Requires= restarts this unit when {} is \
                 restarted with systemctl, but not after systemd restarts a crashed {}.",
                other.name,
                unit_of(other),
                other.name
            ));
        }
    }
    let restart = &service.restart;
    let mut restart_value = match restart.policy {
        RestartPolicy::Never => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
    };
    if oneshot && restart.policy == RestartPolicy::Always {
        restart_value = "on-failure";
        notes.push(
            "restart = \"always\": a oneshot unit (others wait for it to complete) may only \
             restart on failure in systemd; Restart=on-failure."
                .to_string(),
        );
    }
    if let Some(bytes) = service.limits.max_memory {
        notes.push(format!(
            "max_memory = {}: wrangle restarts the service gracefully when it uses more; with \
             MemoryMax= the kernel kills it instead (and Restart= applies).",
            super::size_text(bytes)
        ));
    }
    let (environment, skipped) = environment(service);
    if !skipped.is_empty() {
        notes.push(format!(
            "Not exported: the variables {} (systemd accepts only names of letters, digits and \
             _ that do not start with a digit).",
            skipped.join(", ")
        ));
    }
    if !notes.is_empty() {
        unit.comment("#");
        for note in &notes {
            unit.note(note);
        }
    }

    unit.section("Unit");
    unit.set(
        "Description",
        &escape_specifiers(&format!(
            "{} of {target} (exported from wrangle)",
            service.name
        )),
    );
    unit.set("PartOf", target);
    for dependency in &service.depends_on {
        unit.set("Requires", &unit_of(&spec.services[dependency.service]));
    }
    for dependency in &service.depends_on {
        unit.set("After", &unit_of(&spec.services[dependency.service]));
    }
    if restart.policy != RestartPolicy::Never {
        unit.set("StartLimitIntervalSec", &duration_text(restart.window));
        unit.set("StartLimitBurst", &(restart.max_restarts + 1).to_string());
    }

    unit.section("Service");
    match (oneshot, notify) {
        (true, _) => {
            unit.set("Type", "oneshot");
            unit.set("RemainAfterExit", "yes");
            // A oneshot counts as started once it has completed: however long it runs.
            unit.set("TimeoutStartSec", "infinity");
        }
        (false, true) => {
            unit.set("Type", "notify");
            unit.set("NotifyAccess", "all");
        }
        (false, false) => unit.set("Type", "exec"),
    }
    unit.set("ExecStart", &exec_start);
    unit.set("WorkingDirectory", &working_directory);
    for assignment in environment {
        unit.set("Environment", &assignment);
    }
    unit.set("Restart", restart_value);
    if restart.policy != RestartPolicy::Never {
        unit.set("RestartSec", &duration_text(restart.backoff_initial));
    }
    if let (Some(probe), false) = (&service.ready, oneshot)
        && notify
    {
        unit.set("TimeoutStartSec", &duration_text(probe.timeout));
    }
    unit.set("KillSignal", &signal_name(service.stop.signal));
    unit.set("TimeoutStopSec", &duration_text(service.stop.timeout));
    if let Some(bytes) = service.limits.max_memory {
        unit.set("MemoryMax", &bytes.to_string());
    }

    unit.section("Install");
    unit.set("WantedBy", target);
    Ok((unit.text, unit.notes))
}

fn target_unit(spec: &ProjectSpec, prefix: &str, units: &[String]) -> (String, usize) {
    let mut unit = UnitText::default();
    for line in header(Format::Systemd, spec) {
        unit.comment(&line);
    }
    let mut notes = project_notes(
        spec,
        "systemd",
        "systemd has OnFailure= units for notifications and the journal for output.",
    );
    notes.extend([
        "Each service gets systemd's environment (PATH and little else) plus the variables in \
         its unit, not the environment wrangle was started with; a program named without a \
         path is looked up in systemd's own PATH."
            .to_string(),
        "wrangle's crash-loop rule counts quick crashes (min_uptime) and grows the delay between \
         restarts up to backoff_max; systemd waits RestartSec= before every restart (systemd 254 \
         and later can grow it with RestartSteps= and RestartMaxDelaySec=) and gives up after \
         StartLimitBurst= starts within StartLimitIntervalSec=, however long each run lasted."
            .to_string(),
        "wrangle checks that a service's ports are free before every start and names the \
         process that holds one; systemd does not."
            .to_string(),
    ]);
    unit.comment("#");
    for note in &notes {
        unit.note(note);
    }
    unit.section("Unit");
    unit.set(
        "Description",
        &escape_specifiers(&format!("{prefix} (exported from wrangle)")),
    );
    for name in units {
        unit.set("Wants", name);
    }
    unit.section("Install");
    unit.set("WantedBy", "default.target");
    (unit.text, unit.notes)
}

/// `ExecStart=`'s value: the program made absolute when it is a relative path (systemd accepts
/// only an absolute path or a bare name, looked up in its own `PATH`), every word quoted as
/// needed.
fn exec_start(argv: &[String], cwd: &Path) -> Result<String, String> {
    let Some((program, arguments)) = argv.split_first() else {
        return Err("the command is empty".to_string());
    };
    if program.is_empty() {
        return Err("the program name is empty, which systemd cannot run".to_string());
    }
    let program = match program.contains('/') && !program.starts_with('/') {
        true => {
            let absolute = normalize(&cwd.join(program));
            path_text(&absolute, "the program")?.to_string()
        }
        false => program.clone(),
    };
    let mut words = vec![exec_word(&program, true)];
    words.extend(arguments.iter().map(|argument| exec_word(argument, false)));
    Ok(words.join(" "))
}

/// `.` and `..` resolved by name (the working directory is canonical, so only the program's
/// own relative path is resolved this way).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// One word of a command line: bare when it holds only characters systemd leaves alone, else
/// double-quoted with C escapes. `%` becomes `%%` and `$` becomes `$$` either way.
fn exec_word(word: &str, program: bool) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._+,:=-".contains(c);
    let safe_start = |c: char| !program || !EXEC_PREFIXES.contains(&c);
    if !word.is_empty() && word.chars().all(plain) && word.chars().next().is_some_and(safe_start) {
        return word.to_string();
    }
    quoted(&word.replace('$', "$$"))
}

/// `"NAME=value"` for `Environment=`, for every variable whose name systemd accepts; the names
/// it would reject come second.
fn environment(service: &ServiceSpec) -> (Vec<String>, Vec<String>) {
    let mut assignments = Vec::new();
    let mut skipped = Vec::new();
    for (name, value) in &service.env {
        match is_shell_name(name) {
            true => assignments.push(quoted(&format!("{name}={value}"))),
            false => skipped.push(name.clone()),
        }
    }
    (assignments, skipped)
}

/// A name made of letters, digits and `_`, not starting with a digit: what systemd accepts as
/// an environment variable's name.
fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `"text"` with C escapes (which systemd undoes in quoted words), `%` written `%%`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '%' => out.push_str("%%"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if super::yaml::needs_escape(c) => {
                let code = u32::from(c);
                let _ = match code {
                    0..=0x7f => write!(out, "\\x{code:02x}"),
                    _ => write!(out, "\\u{code:04x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `WorkingDirectory=`: a path is taken as the rest of the line, so it cannot hold what a line
/// cannot (control characters, leading or trailing blanks); `%` becomes `%%`.
fn working_directory(cwd: &Path) -> Result<String, String> {
    let text = path_text(cwd, "the working directory")?;
    if text.chars().any(char::is_control) || text.trim() != text {
        return Err(format!(
            "the working directory {text:?} holds characters a unit file cannot hold in a path"
        ));
    }
    Ok(escape_specifiers(text))
}

fn escape_specifiers(text: &str) -> String {
    text.replace('%', "%%")
}

/// `SIGTERM`, or the number for a signal without a conventional name (systemd accepts both).
fn signal_name(signal: crate::spec::Signal) -> String {
    let name = signal.name();
    match name.starts_with("SIG") {
        true => name,
        false => signal.0.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_words_are_quoted_and_escaped_only_when_needed() {
        let argv: Vec<String> = [
            "python3",
            "api.py",
            "--port=8080",
            "two words",
            "$HOME",
            "${PATH}",
            "100%",
            "%h",
            "say \"hi\"",
            "back\\slash",
            "line\nbreak",
            ";",
            "",
            "it's",
            "#hash",
            "ünï",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            exec_start(&argv, Path::new("/srv")).expect("valid"),
            r##"python3 api.py --port=8080 "two words" "$$HOME" "$${PATH}" "100%%" "%%h" "say \"hi\"" "back\\slash" "line\nbreak" ";" "" "it's" "#hash" "ünï""##
        );
    }

    #[test]
    fn a_relative_program_is_made_absolute_and_a_prefix_character_is_quoted() {
        let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            exec_start(&argv(&["./bin/../api", "x"]), Path::new("/srv/app")).expect("valid"),
            "/srv/app/api x"
        );
        assert_eq!(
            exec_start(&argv(&["bin/api"]), Path::new("/srv/app")).expect("valid"),
            "/srv/app/bin/api"
        );
        assert_eq!(
            exec_start(&argv(&["-dash", "-x"]), Path::new("/srv")).expect("valid"),
            r#""-dash" -x"#
        );
        assert_eq!(
            exec_start(&argv(&["@at"]), Path::new("/srv")).expect("valid"),
            r#""@at""#
        );
        assert!(exec_start(&argv(&[""]), Path::new("/srv")).is_err());
    }

    #[test]
    fn environment_values_are_quoted_and_bad_names_are_skipped() {
        let mut service = crate::export::tests::service("api");
        service.env = [
            ("PLAIN", "x"),
            ("SPACES", "a b"),
            ("QUOTES", "say \"hi\" it's"),
            ("PERCENT", "100%"),
            ("DOLLAR", "$HOME"),
            ("NEWLINE", "one\ntwo"),
            ("BELL", "\u{7}"),
            ("1BAD", "x"),
            ("has.dot", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (assignments, skipped) = environment(&service);
        assert_eq!(
            assignments,
            [
                r#""BELL=\x07""#,
                r#""DOLLAR=$HOME""#,
                r#""NEWLINE=one\ntwo""#,
                r#""PERCENT=100%%""#,
                r#""PLAIN=x""#,
                r#""QUOTES=say \"hi\" it's""#,
                r#""SPACES=a b""#,
            ]
        );
        assert_eq!(skipped, ["1BAD", "has.dot"]);
    }

    #[test]
    fn a_working_directory_with_a_control_character_cannot_be_exported() {
        assert_eq!(
            working_directory(Path::new("/srv/100%")).expect("valid"),
            "/srv/100%%"
        );
        assert!(working_directory(Path::new("/srv/a\nb")).is_err());
        assert!(working_directory(Path::new("/srv/trailing ")).is_err());
    }

    #[test]
    fn unit_names_keep_only_safe_characters() {
        assert_eq!(unit_prefix("demo"), "demo");
        assert_eq!(unit_prefix("my app"), "my_app");
        assert_eq!(unit_prefix("..."), "project");
        assert_eq!(unit_prefix("x@y:z"), "x_y_z");
    }
}
