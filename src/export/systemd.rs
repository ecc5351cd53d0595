//! `wrangle export systemd`: one `.service` unit per service and a `.target` that groups the
//! project, for the system or a user's service manager.
//!
//! | wrangle | systemd |
//! |---|---|
//! | `depends_on` (any condition) | `Requires=` and `After=` |
//! | a `completed` dependency | that service is `Type=oneshot` with `RemainAfterExit=yes` |
//! | `ready = { notify = true }` | `Type=notify`, `NotifyAccess=all`, `TimeoutStartSec=` |
//! | any other probe | none: `Type=exec`, and a note |
//! | `live` | none: a note (systemd's watchdog needs the service's own `WATCHDOG=1`) |
//! | `restart`, `backoff_initial` | `Restart=`, `RestartSec=` |
//! | `max_restarts`, `restart_window` | `StartLimitBurst=` (one more: it counts starts), `StartLimitIntervalSec=` |
//! | `stop_signal`, `stop_timeout` | `KillSignal=`, `TimeoutStopSec=` (the whole cgroup, as wrangle stops the whole tree) |
//! | `max_memory` | `MemoryMax=` |
//! | `nice`, `limits` | `Nice=`, `LimitNOFILE=`, `LimitNPROC=`, `LimitCORE=`, `LimitMEMLOCK=` |
//! | `user`, `group` | `User=`, `Group=` (as written) |
//! | `cpu_max` | `CPUQuota=` (percent of one CPU) |
//! | `env`, `env_file`, `PORT` | `Environment=`, one per variable, merged as wrangle merges them |
//! | `cwd` | `WorkingDirectory=` |
//! | `[sockets.NAME]` | `<project>-NAME.socket` (`ListenStream=`, `SocketMode=`, `FileDescriptorName=NAME`) |
//! | `sockets` | `Sockets=`, `Requires=` and `After=` of those socket units |
//! | `instances = N` | a template `<project>-NAME@.service`, instances `@0` ... `@N-1` (`WRANGLE_INSTANCE=%i`) |
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
use crate::spec::{
    DependencyCondition, Instances, ListenAddress, ProjectSpec, ReadyCheck, ResourceLimits,
    RestartPolicy, ServiceSpec, SocketSpec,
};

/// systemd's limit on a unit name, suffix included.
const MAX_UNIT_NAME_BYTES: usize = 255;

/// The first characters of an `ExecStart=` command that systemd reads as prefixes (`-`, `@`,
/// ...) rather than as part of the program: a program starting with one is written quoted.
const EXEC_PREFIXES: &[char] = &['-', '@', ':', '+', '!', '|'];

pub(super) fn export(spec: &ProjectSpec, options: &Options) -> Result<Export, ExportError> {
    let prefix = unit_prefix(&project_name(spec, options));
    let target = format!("{prefix}.target");
    let names = UnitNames {
        prefix: prefix.clone(),
    };
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
        let unit = names.file(service);
        let longest = names.units(service).pop().unwrap_or_default();
        if longest.len().max(unit.len()) > MAX_UNIT_NAME_BYTES {
            problems.push(format!(
                "the unit name {unit} is longer than systemd's {MAX_UNIT_NAME_BYTES} bytes: \
                 choose a shorter --name or service name"
            ));
            continue;
        }
        match service_unit(spec, service, oneshot[id], &target, &names) {
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
    for socket in &spec.sockets {
        let unit = names.socket(&socket.name);
        if unit.len() > MAX_UNIT_NAME_BYTES {
            problems.push(format!(
                "the unit name {unit} is longer than systemd's {MAX_UNIT_NAME_BYTES} bytes: \
                 choose a shorter --name or socket name"
            ));
            continue;
        }
        match socket_unit(spec, socket, &target, &names) {
            Ok(Some((text, socket_notes))) => {
                notes += socket_notes;
                files.push(OutputFile { name: unit, text });
            }
            Ok(None) => {}
            Err(problem) => problems.push(format!("socket \"{}\": {problem}", socket.name)),
        }
    }
    if !problems.is_empty() {
        return Err(ExportError {
            format: Format::Systemd,
            problems,
        });
    }
    let mut units: Vec<String> = spec.services.iter().flat_map(|s| names.units(s)).collect();
    units.extend(
        spec.sockets
            .iter()
            .filter(|socket| socket_users(spec, socket).next().is_some())
            .map(|socket| names.socket(&socket.name)),
    );
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

/// The names of the units of a project.
struct UnitNames {
    prefix: String,
}

impl UnitNames {
    /// The file a service is written to: `<project>-NAME.service`, or the template
    /// `<project>-NAME@.service` for a service with instances.
    fn file(&self, service: &ServiceSpec) -> String {
        match instance_count(service) {
            None => format!("{}-{}.service", self.prefix, service.name),
            Some(_) => format!("{}-{}@.service", self.prefix, service.name),
        }
    }

    /// The units that run a service, in instance order: one unit, or one per instance of the
    /// template (`@0` ... `@N-1`; only `@0` for `instances = "max"`, which is counted where the
    /// service runs).
    fn units(&self, service: &ServiceSpec) -> Vec<String> {
        match instance_count(service) {
            None => vec![self.file(service)],
            Some(count) => (0..count.unwrap_or(1))
                .map(|instance| format!("{}-{}@{instance}.service", self.prefix, service.name))
                .collect(),
        }
    }

    fn socket(&self, name: &str) -> String {
        format!("{}-{name}.socket", self.prefix)
    }
}

/// `None` for a service with one instance (a plain unit); else the number of instances, itself
/// `None` for `"max"` (one per CPU of the machine that runs it).
fn instance_count(service: &ServiceSpec) -> Option<Option<u32>> {
    match service.instances {
        Instances::Count(1) => None,
        Instances::Count(count) => Some(Some(count)),
        Instances::PerCpu => Some(None),
    }
}

/// The services that receive `socket`, in declaration order.
fn socket_users<'s>(
    spec: &'s ProjectSpec,
    socket: &'s SocketSpec,
) -> impl Iterator<Item = &'s ServiceSpec> {
    spec.services.iter().filter(move |service| {
        service
            .sockets
            .iter()
            .any(|id| spec.sockets[*id].name == socket.name)
    })
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
    names: &UnitNames,
) -> Result<(String, usize), String> {
    let mut unit = UnitText::default();
    for line in header(Format::Systemd, spec) {
        unit.comment(&line);
    }
    let mut notes = common_service_notes(&spec.root, service, "systemd");
    let exec_start = exec_start(&service.command.argv, &service.cwd)?;
    let working_directory = unit_path(&service.cwd, "the working directory")?;

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
    if let Some(live) = &service.live {
        notes.push(format!(
            "live = {{ {} }} has no systemd equivalent: systemd restarts a unit whose program \
             exits, not one that stops answering (its watchdog, WatchdogSec=, needs the service \
             itself to send WATCHDOG=1 to $NOTIFY_SOCKET). The check is not exported.",
            live.check.describe()
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
                names.file(other),
                other.name
            ));
        }
        if dependency.restart {
            notes.push(format!(
                "depends_on {} with restart = true: Requires= restarts this unit when {} is \
                 restarted with systemctl, but not after systemd restarts a crashed {}.",
                other.name,
                names.file(other),
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
    match instance_count(service) {
        None => {}
        Some(Some(count)) => notes.push(format!(
            "instances = {count}: a template unit; {target} wants its instances @0 to @{}, and \
             the instance name is WRANGLE_INSTANCE. systemctl start {} adds one, and units that \
             depend on this service wait for the instances listed here only.",
            count - 1,
            names.file(service).replace("@.", &format!("@{count}."))
        )),
        Some(None) => notes.push(format!(
            "instances = \"max\" (one per CPU) is counted on the machine that runs the \
             service: {target} wants instance @0 only; enable one more per CPU there \
             (systemctl enable {}), and set WRANGLE_INSTANCES to the count with a drop-in.",
            names.file(service).replace("@.", "@1.")
        )),
    }
    if service.sockets.len() > 1 {
        notes.push(
            "sockets: systemd passes them in an order of its own, not the order of the \
             sockets list: a program that receives several finds each by its name in \
             LISTEN_FDNAMES (FileDescriptorName=)."
                .to_string(),
        );
    }
    if !notes.is_empty() {
        unit.comment("#");
        for note in &notes {
            unit.note(note);
        }
    }

    unit.section("Unit");
    let description = match instance_count(service) {
        None => format!("{} of {target} (exported from wrangle)", service.name),
        Some(_) => format!(
            "{} of {target} (exported from wrangle), instance ",
            service.name
        ),
    };
    let mut description = escape_specifiers(&description);
    if instance_count(service).is_some() {
        description.push_str("%i");
    }
    unit.set("Description", &description);
    unit.set("PartOf", target);
    let sockets: Vec<String> = service
        .sockets
        .iter()
        .map(|id| names.socket(&spec.sockets[*id].name))
        .collect();
    let needed: Vec<String> = service
        .depends_on
        .iter()
        .flat_map(|dependency| names.units(&spec.services[dependency.service]))
        .chain(sockets.iter().cloned())
        .collect();
    for name in &needed {
        unit.set("Requires", name);
    }
    for name in &needed {
        unit.set("After", name);
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
    for name in &sockets {
        unit.set("Sockets", name);
    }
    unit.set("ExecStart", &exec_start);
    unit.set("WorkingDirectory", &working_directory);
    for assignment in environment {
        unit.set("Environment", &assignment);
    }
    if let Some(count) = instance_count(service) {
        // `%i` is the instance name: the one specifier written on purpose.
        unit.set("Environment", "\"WRANGLE_INSTANCE=%i\"");
        if let Some(count) = count {
            unit.set("Environment", &format!("\"WRANGLE_INSTANCES={count}\""));
        }
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
    if let Some(nice) = service.process.nice {
        unit.set("Nice", &nice.to_string());
    }
    for (key, limit) in service.process.rlimits.each() {
        if let Some(limit) = limit {
            let value = match limit {
                ResourceLimits::UNLIMITED => "infinity".to_string(),
                limit => limit.to_string(),
            };
            // Soft and hard alike, as wrangle sets them.
            unit.set(&format!("Limit{}", key.to_ascii_uppercase()), &value);
        }
    }
    if let Some(run_as) = &service.process.run_as {
        if let Some(user) = &run_as.user {
            unit.set("User", user);
        }
        if let Some(group) = &run_as.group {
            unit.set("Group", group);
        }
    }
    if let Some(millionths) = service.process.cpu_max {
        unit.set("CPUQuota", &cpu_quota(millionths));
    }

    unit.section("Install");
    unit.set("WantedBy", target);
    Ok((unit.text, unit.notes))
}

/// `cpu_max` as `CPUQuota=`: percent of one CPU, to the hundredth systemd accepts.
fn cpu_quota(millionths: u64) -> String {
    let hundredths = millionths.div_ceil(100);
    match hundredths % 100 {
        0 => format!("{}%", hundredths / 100),
        part => format!("{}.{part:02}%", hundredths / 100),
    }
}

/// The `.socket` unit of `[sockets.NAME]`, or `None` when no service receives it (wrangle would
/// bind it for nobody; the target's notes say so).
fn socket_unit(
    spec: &ProjectSpec,
    socket: &SocketSpec,
    target: &str,
    names: &UnitNames,
) -> Result<Option<(String, usize)>, String> {
    let users: Vec<&ServiceSpec> = socket_users(spec, socket).collect();
    let Some(first) = users.first() else {
        return Ok(None);
    };
    let mut unit = UnitText::default();
    for line in header(Format::Systemd, spec) {
        unit.comment(&line);
    }
    let mut notes = Vec::new();
    // systemd starts the `Service=` unit on the first connection; every service that lists the
    // socket receives it through its own `Sockets=`, and the target starts them all anyway.
    let activated = names.units(first).remove(0);
    if users.len() > 1 {
        let names: Vec<&str> = users.iter().map(|user| user.name.as_str()).collect();
        notes.push(format!(
            "Received by {}: a connection before the target has started them all starts {} \
             (Service=).",
            names.join(", "),
            activated
        ));
    }
    unit.comment("#");
    notes.push(
        "wrangle binds the socket as the user who runs it; systemd binds it before any service \
         starts and keeps it open across restarts, as wrangle does."
            .to_string(),
    );
    for note in &notes {
        unit.note(note);
    }
    unit.section("Unit");
    unit.set(
        "Description",
        &escape_specifiers(&format!(
            "socket {} of {target} (exported from wrangle)",
            socket.name
        )),
    );
    unit.set("PartOf", target);
    unit.section("Socket");
    match &socket.listen {
        ListenAddress::Tcp(address) => unit.set("ListenStream", &address.to_string()),
        ListenAddress::Unix(unix) => {
            let path = unit_path(&unix.path, "the socket's path")?;
            unit.set("ListenStream", &path);
            unit.set("SocketMode", &format!("{:04o}", unix.mode));
        }
    }
    unit.set("FileDescriptorName", &socket.name);
    unit.set("Service", &activated);
    unit.section("Install");
    unit.set("WantedBy", target);
    Ok(Some((unit.text, unit.notes)))
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
    let unused: Vec<&str> = spec
        .sockets
        .iter()
        .filter(|socket| socket_users(spec, socket).next().is_none())
        .map(|socket| socket.name.as_str())
        .collect();
    if !unused.is_empty() {
        notes.push(format!(
            "Not exported: [sockets] {}, which no service receives.",
            unused.join(", ")
        ));
    }
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

/// Every word of `argv` as [`exec_word`] writes it, separated by spaces.
pub(super) fn command_line(argv: &[String]) -> String {
    argv.iter()
        .enumerate()
        .map(|(index, word)| exec_word(word, index == 0))
        .collect::<Vec<_>>()
        .join(" ")
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
pub(super) fn quoted(text: &str) -> String {
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

/// A path as `WorkingDirectory=` and `ListenStream=` take it: the rest of the line, so it cannot
/// hold what a line cannot (control characters, leading or trailing blanks); `%` becomes `%%`.
pub(super) fn unit_path(path: &Path, what: &str) -> Result<String, String> {
    let text = path_text(path, what)?;
    if text.chars().any(char::is_control) || text.trim() != text {
        return Err(format!(
            "{what} {text:?} holds characters a unit file cannot hold in a path"
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
mod tests;
