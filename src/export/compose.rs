//! `wrangle export compose`: one Compose file (the Compose specification, as Docker Compose v2
//! reads it).
//!
//! | wrangle | Compose |
//! |---|---|
//! | `command` | `entrypoint` (the image's own entrypoint and command are replaced) |
//! | `cwd` | `working_dir`, with the project directory bind-mounted at the same path |
//! | `env`, `env_file`, `PORT` | `environment` |
//! | `port` | `ports`, published on 127.0.0.1 only |
//! | a TCP `[sockets.NAME]` the service receives | `ports` as for `port` (one instance), else `expose` |
//! | `instances = N` | `deploy.replicas: N` |
//! | `ready` http, tcp, exec | `healthcheck` (curl, bash's `/dev/tcp`, the command itself) |
//! | `depends_on` started, ready, completed | `service_started`, `service_healthy`, `service_completed_successfully`; `restart = true` as is |
//! | `restart` | `restart`: `"no"`, `on-failure`, `always` |
//! | `stop_signal`, `stop_timeout` | `stop_signal`, `stop_grace_period` |
//! | `max_memory` | `mem_limit` |
//! | `limits` | `ulimits` (`-1`: unlimited) |
//! | `user`, `group` | `user: USER[:GROUP]` (a group alone: `group_add` and a note) |
//! | `cpu_max` | `cpus` |
//! | `live` | none: a note (Docker does not restart an unhealthy container) |
//!
//! Compose expands `$VAR` and `${VAR}` in every value of the file, so every `$` of the project's
//! values is written `$$`.

use super::yaml::{self, MapBuilder, Node};
use super::{
    Export, ExportError, Format, HttpUrl, Options, OutputFile, attempt_timeout,
    common_service_notes, duration_text, header, path_text, project_name, project_notes, sanitize,
    wrap_comment,
};
use crate::spec::{
    DependencyCondition, Instances, ListenAddress, ProjectSpec, ReadyCheck, RestartPolicy,
    ServiceSpec,
};

/// The name of the file when written to standard output (for messages only).
pub(super) const FILE_NAME: &str = "compose.yaml";

pub(super) fn export(spec: &ProjectSpec, options: &Options) -> Result<Export, ExportError> {
    let mut problems = Vec::new();
    let root = match path_text(&spec.root, "the project directory") {
        Ok(root) => root.to_string(),
        Err(problem) => {
            problems.push(problem);
            String::new()
        }
    };
    let mut notes = 0;
    let mut services = MapBuilder::new();
    for service in &spec.services {
        let image = service
            .kubernetes
            .image
            .clone()
            .or_else(|| options.image.clone());
        let Some(image) = image else {
            problems.push(format!(
                "service \"{}\" has no image: wrangle runs commands, not images; pass --image \
                 IMAGE, or set [services.{}.kubernetes] image",
                service.name, service.name
            ));
            continue;
        };
        match service_entry(spec, service, &image, &root) {
            Ok((entry, service_notes)) => {
                notes += service_notes.len();
                services.comments(service_notes);
                services.entry(service.name.clone(), entry);
            }
            Err(problem) => problems.push(format!("service \"{}\": {problem}", service.name)),
        }
    }
    if !problems.is_empty() {
        return Err(ExportError {
            format: Format::Compose,
            problems,
        });
    }
    let mut text = header(Format::Compose, spec).join("\n");
    text.push_str("\n#\n");
    let mut general = project_notes(
        spec,
        "Compose",
        "Docker has events (docker events) and logging drivers.",
    );
    general.extend(general_notes());
    notes += general.len();
    for note in &general {
        for line in wrap_comment(note) {
            text.push_str(&format!("# {line}\n"));
        }
    }
    let mut file = MapBuilder::new();
    file.entry(
        "name",
        Node::str(compose_project_name(&project_name(spec, options))),
    )
    .entry("services", services.build());
    text.push_str(&yaml::document(&file.build()));
    Ok(Export {
        format: Format::Compose,
        files: vec![OutputFile {
            name: FILE_NAME.to_string(),
            text,
        }],
        notes,
        copies_env_files: spec.services.iter().any(|s| !s.env_files.is_empty()),
    })
}

fn general_notes() -> Vec<String> {
    vec![
        "wrangle runs commands, not images: each service runs its command in the image named, \
         with the project directory mounted at the same path and its working directory there, \
         so relative paths keep working. For a self-contained image, drop volumes and \
         working_dir."
            .to_string(),
        "Each service has its own network namespace: services reach each other by service name \
         (http://api:8080), not at 127.0.0.1 as under wrangle, and ports are published on \
         127.0.0.1 only. To keep wrangle's addresses, set network_mode: host on every service \
         (and drop ports)."
            .to_string(),
        "wrangle's crash-loop rule (max_restarts, restart_window, min_uptime) and its backoff \
         have no Compose equivalent: Docker restarts a container with its own delay (doubling \
         from 100ms up to a minute) and never gives up."
            .to_string(),
        "A healthcheck keeps running after it first passes (wrangle stops unless recheck is \
         set): 3 failures in a row mark the service unhealthy."
            .to_string(),
    ]
}

/// `$` written `$$`, so that Compose's interpolation gives back the value.
fn literal(text: &str) -> Node {
    Node::Str(text.replace('$', "$$"))
}

fn service_entry(
    spec: &ProjectSpec,
    service: &ServiceSpec,
    image: &str,
    root: &str,
) -> Result<(Node, Vec<String>), String> {
    let mut notes = common_service_notes(&spec.root, service, "Compose");
    if service.command.shell {
        notes.push(format!(
            "shell = true: {} runs as sh -c in the image, which needs a shell named sh on its \
             PATH.",
            service.name
        ));
    }
    let cwd = path_text(&service.cwd, "the working directory")?;
    let mut entry = MapBuilder::new();
    entry
        .entry("image", literal(image))
        .entry(
            "entrypoint",
            Node::Seq(
                service
                    .command
                    .argv
                    .iter()
                    .map(|word| yaml::Item::new(literal(word)))
                    .collect(),
            ),
        )
        .entry("working_dir", literal(cwd));
    let mut mounts = vec![root.to_string()];
    if !service.cwd.starts_with(&spec.root) {
        mounts.push(cwd.to_string());
    }
    entry.entry(
        "volumes",
        Node::seq(
            mounts
                .iter()
                .map(|path| {
                    let mut mount = MapBuilder::new();
                    mount
                        .entry("type", Node::str("bind"))
                        .entry("source", literal(path))
                        .entry("target", literal(path));
                    mount.build()
                })
                .collect(),
        ),
    );
    if !service.env.is_empty() {
        let mut environment = MapBuilder::new();
        for (name, value) in &service.env {
            // Compose interpolates values, not keys.
            environment.entry(name.clone(), literal(value));
        }
        entry.entry("environment", environment.build());
    }
    // A published port is bound once on the host: only a service with one instance can have
    // its socket's port published; several replicas expose it to the project's network.
    let replicas = match service.instances {
        Instances::Count(count) => count,
        Instances::PerCpu => 1,
    };
    let mut published = service.ports.clone();
    let mut exposed = Vec::new();
    for socket in &service.sockets {
        let socket = &spec.sockets[*socket];
        match &socket.listen {
            ListenAddress::Tcp(address) => {
                notes.push(format!(
                    "sockets: Compose passes no listening socket (LISTEN_FDS is not set): the \
                     program must listen on port {} of all addresses itself, in place of \
                     [sockets.{}] ({}).",
                    address.port(),
                    socket.name,
                    socket.listen.describe()
                ));
                match replicas {
                    1 => published.push(address.port()),
                    _ => exposed.push(address.port()),
                }
            }
            ListenAddress::Unix(_) => notes.push(format!(
                "sockets: [sockets.{}] ({}) is a Unix socket; containers could share it in a \
                 volume, but the program would have to bind it itself: not exported.",
                socket.name,
                socket.listen.describe()
            )),
        }
    }
    if !published.is_empty() {
        entry.entry(
            "ports",
            Node::seq(
                published
                    .iter()
                    .map(|port| Node::str(format!("127.0.0.1:{port}:{port}")))
                    .collect(),
            ),
        );
    }
    if !exposed.is_empty() {
        notes.push(format!(
            "With {replicas} replicas the socket's port cannot be published on the host (each \
             replica would bind it): it is exposed to the other services only; publish it \
             through a proxy."
        ));
        entry.entry(
            "expose",
            Node::seq(
                exposed
                    .iter()
                    .map(|port| Node::str(port.to_string()))
                    .collect(),
            ),
        );
    }
    match service.instances {
        Instances::Count(1) => {}
        Instances::Count(count) => {
            notes.push(format!(
                "instances = {count}: {count} replicas, interchangeable: they get no \
                 WRANGLE_INSTANCE or WRANGLE_INSTANCES."
            ));
            let mut deploy = MapBuilder::new();
            deploy.entry("replicas", Node::Int(i64::from(count)));
            entry.entry("deploy", deploy.build());
        }
        Instances::PerCpu => notes.push(
            "instances = \"max\" (one per CPU) has no equivalent: 1 replica; use docker \
             compose up --scale."
                .to_string(),
        ),
    }
    if service
        .ready
        .as_ref()
        .is_some_and(|probe| probe.per_instance)
    {
        notes.push(
            "ready.per_instance: every replica's healthcheck runs in its own container, on the \
             probe's own port."
                .to_string(),
        );
    }
    if let Some(probe) = &service.ready {
        match healthcheck_test(&probe.check) {
            Ok((test, needs)) => {
                if let Some(needs) = needs {
                    notes.push(format!(
                        "The healthcheck runs in the container and needs {needs} in the image."
                    ));
                }
                if let Some(recheck) = probe.recheck {
                    notes.push(format!(
                        "ready.recheck = {}: Compose runs a healthcheck at one interval, before \
                         and after the service is healthy.",
                        duration_text(recheck)
                    ));
                }
                let mut healthcheck = MapBuilder::new();
                healthcheck
                    .entry("test", test)
                    .entry("interval", Node::str(duration_text(probe.interval)))
                    .entry(
                        "timeout",
                        Node::str(duration_text(attempt_timeout(probe.interval))),
                    )
                    .entry(
                        "retries",
                        Node::Int(i64::from(crate::spec::ReadyProbe::LOST_AFTER)),
                    )
                    .entry("start_period", Node::str(duration_text(probe.timeout)));
                entry.entry("healthcheck", healthcheck.build());
            }
            Err(why) => notes.push(why),
        }
    }
    if !service.depends_on.is_empty() {
        let mut depends_on = MapBuilder::new();
        for dependency in &service.depends_on {
            let other = &spec.services[dependency.service];
            let condition = match dependency.condition {
                DependencyCondition::Started => "service_started",
                DependencyCondition::Completed => "service_completed_successfully",
                DependencyCondition::Ready => match &other.ready {
                    None => "service_started",
                    Some(probe) if healthcheck_test(&probe.check).is_ok() => "service_healthy",
                    Some(_) => {
                        notes.push(format!(
                            "depends_on {} = \"ready\": {} has no healthcheck (its readiness \
                             check has no equivalent), so this service waits only for it to \
                             start.",
                            other.name, other.name
                        ));
                        "service_started"
                    }
                },
            };
            let mut edge = MapBuilder::new();
            edge.entry("condition", Node::str(condition));
            if dependency.restart {
                edge.entry("restart", Node::Bool(true));
            }
            depends_on.entry(other.name.clone(), edge.build());
        }
        entry.entry("depends_on", depends_on.build());
    }
    let completed_by_others = spec.services.iter().any(|other| {
        other.depends_on.iter().any(|dependency| {
            spec.services[dependency.service].name == service.name
                && dependency.condition == DependencyCondition::Completed
        })
    });
    if completed_by_others && service.restart.policy == RestartPolicy::Always {
        notes.push(
            "restart = \"always\": others wait for this service to complete, and Compose will \
             start it again after it does."
                .to_string(),
        );
    }
    let restart = match service.restart.policy {
        RestartPolicy::Never => "no",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Always => "always",
    };
    entry
        .entry("restart", Node::str(restart))
        .entry("stop_signal", Node::str(signal_text(service.stop.signal)))
        .entry(
            "stop_grace_period",
            Node::str(duration_text(service.stop.timeout)),
        );
    if let Some(bytes) = service.limits.max_memory {
        notes.push(
            "max_memory: wrangle restarts the service gracefully when it uses more; with \
             mem_limit the kernel kills it instead (then restart applies)."
                .to_string(),
        );
        entry.entry(
            "mem_limit",
            Node::Int(i64::try_from(bytes).unwrap_or(i64::MAX)),
        );
    }
    if let Some(nice) = service.process.nice {
        notes.push(format!(
            "nice = {nice} has no Compose equivalent: cpu_shares weighs the container's CPU \
             time instead."
        ));
    }
    let mut ulimits = MapBuilder::new();
    for (key, limit) in service.process.rlimits.each() {
        if let Some(limit) = limit {
            // Docker reads -1 as unlimited; one number sets the soft and the hard limit.
            let value = match limit {
                crate::spec::ResourceLimits::UNLIMITED => -1,
                limit => i64::try_from(limit).unwrap_or(i64::MAX),
            };
            ulimits.entry(key, Node::Int(value));
        }
    }
    if !ulimits.is_empty() {
        entry.entry("ulimits", ulimits.build());
    }
    if let Some(run_as) = &service.process.run_as {
        match (&run_as.user, &run_as.group) {
            (Some(user), Some(group)) => {
                entry.entry("user", Node::str(format!("{user}:{group}")));
            }
            (Some(user), None) => {
                entry.entry("user", Node::str(user));
            }
            (None, Some(group)) => {
                entry.entry("group_add", Node::seq(vec![Node::str(group)]));
                notes.push(format!(
                    "group = \"{group}\" without user: Compose sets a primary group only with \
                     a user (user: NAME:GROUP); it is added as a supplementary group instead."
                ));
            }
            (None, None) => {}
        }
    }
    if let Some(live) = &service.live {
        notes.push(format!(
            "live = {{ {} }} has no Compose equivalent: Docker marks a container unhealthy from \
             its healthcheck but does not restart it for that. The check is not exported.",
            live.check.describe()
        ));
    }
    if let Some(millionths) = service.process.cpu_max {
        entry.entry("cpus", Node::str(super::cpu_text(millionths)));
    }
    Ok((entry.build(), notes))
}

/// The healthcheck's `test` for a probe, with what the image needs for it; or why there is none.
fn healthcheck_test(check: &ReadyCheck) -> Result<(Node, Option<&'static str>), String> {
    let cmd = |words: Vec<String>| {
        let mut all = vec![Node::str("CMD")];
        all.extend(words.iter().map(|word| literal(word)));
        Node::seq(all)
    };
    match check {
        ReadyCheck::Http { url } => {
            if HttpUrl::parse(url).is_none() {
                return Err(format!(
                    "ready = {{ {} }}: the URL could not be read for a healthcheck.",
                    check.describe()
                ));
            }
            // curl without --location: a redirect is not followed, as wrangle does not follow it.
            let words = ["curl", "--fail", "--silent", "--output", "/dev/null", url]
                .map(String::from)
                .to_vec();
            Ok((cmd(words), Some("curl")))
        }
        ReadyCheck::Tcp { host, port } => {
            let script = format!(
                "exec 3<>{}",
                shell_quote(&format!("/dev/tcp/{host}/{port}"))
            );
            let words = ["bash".to_string(), "-c".to_string(), script];
            Ok((cmd(words.to_vec()), Some("bash")))
        }
        ReadyCheck::Exec { command } => Ok((cmd(command.argv.clone()), None)),
        ReadyCheck::Log { .. } => Err(format!(
            "ready = {{ {} }} has no Compose equivalent (a healthcheck cannot read the \
             container's output): no healthcheck.",
            check.describe()
        )),
        ReadyCheck::Notify => Err(
            "ready = { notify = true } (sd_notify) has no Compose equivalent: no healthcheck."
                .to_string(),
        ),
    }
}

/// One word for a POSIX shell: in single quotes, a `'` written `'\''`.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `SIGTERM`, or the number for a signal without a conventional name (Docker takes both).
fn signal_text(signal: crate::spec::Signal) -> String {
    let name = signal.name();
    match name.starts_with("SIG") {
        true => name,
        false => signal.0.to_string(),
    }
}

/// A Compose project name: lower-case letters, digits, `-` and `_`, a letter or digit first.
fn compose_project_name(name: &str) -> String {
    sanitize(
        &name.to_ascii_lowercase(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'),
        '_',
        "project",
    )
    .trim_start_matches(['-', '_'])
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_compose_rules() {
        assert_eq!(compose_project_name("Demo"), "demo");
        assert_eq!(compose_project_name("my app"), "my_app");
        assert_eq!(compose_project_name("_x"), "x");
        assert_eq!(compose_project_name("..."), "project");
    }

    #[test]
    fn a_tcp_check_cannot_inject_shell_words() {
        let (test, needs) = healthcheck_test(&ReadyCheck::Tcp {
            host: "a';rm -rf /;'".to_string(),
            port: 80,
        })
        .expect("exported");
        assert_eq!(needs, Some("bash"));
        let Node::Seq(items) = test else {
            panic!("a sequence");
        };
        assert_eq!(
            items[3].value,
            Node::str(r"exec 3<>'/dev/tcp/a'\'';rm -rf /;'\''/80'")
        );
    }
}
