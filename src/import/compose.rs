//! Compose files (`compose.yaml`, `docker-compose.yml`, the Compose specification): a service
//! with a `command` or an `entrypoint` becomes a service run on this machine; a service that only
//! names an image becomes a commented-out `docker run` service (uncomment it to run the
//! container under wrangle), and what depends on it says so.
//!
//! Compose runs each command in a container; wrangle runs it here. So paths inside the container
//! (`working_dir`, volumes) are comments, the build context is the working directory, and a
//! published port `"8080:80"` maps to the port the process itself listens on (80), since no
//! container publishes it.

use std::path::Path;

use serde_norway::{Mapping, Value};
use toml_edit::InlineTable;

use crate::import::draft::{self, Draft, Service};
use crate::import::source::{self, Options, brief, environment, scalar_text, string_list};
use crate::import::{Copies, ImportError, Names, Paths, cpu_max, run_as, set_instances};

pub fn import(path: &Path, paths: &Paths) -> Result<Draft, ImportError> {
    let value = source::parse_yaml(&source::read_text(path)?, path)?;
    let Value::Mapping(top) = &value else {
        return Err(ImportError::new(format!(
            "{}: a Compose file is a mapping with `services`",
            path.display()
        )));
    };
    let mut options = Options::new(top);
    let Some(Value::Mapping(services)) = options.take("services") else {
        return Err(ImportError::new(format!(
            "{}: no `services` mapping",
            path.display()
        )));
    };
    options.explain("version", "obsolete in the Compose specification");
    options.explain(
        "name",
        "the project is named after the wrangle.toml's directory",
    );
    for key in ["networks", "volumes", "secrets", "configs"] {
        options.explain(key, "containers only");
    }
    options.take_matching(|key| key.starts_with("x-"));
    let mut draft = Draft::default();
    draft.footer.extend(options.notes("Compose"));

    let mut names = Names::default();
    let mut imported: Vec<(String, String)> = Vec::new();
    let mut image_only = Vec::new();
    for (key, definition) in services {
        let wanted = scalar_text(key).unwrap_or_default();
        let Value::Mapping(definition) = definition else {
            continue;
        };
        let (name, _) = names.claim(&wanted, "service");
        let runs_here = definition.contains_key("command") || definition.contains_key("entrypoint");
        if !runs_here {
            image_only.push(wanted.clone());
        }
        imported.push((wanted, name));
    }
    for ((wanted, name), (_, definition)) in imported.iter().zip(services.iter()) {
        let Value::Mapping(definition) = definition else {
            continue;
        };
        let service = service(name, wanted, definition, &imported, &image_only, paths);
        draft.services.push(service);
    }
    if draft.services.is_empty() {
        return Err(ImportError::new(format!(
            "{}: `services` is empty",
            path.display()
        )));
    }
    if !image_only.is_empty() {
        draft.header.push(format!(
            "Services that only name an image are written as commented-out `docker run` services: {}.",
            image_only.join(", ")
        ));
    }
    Ok(draft)
}

fn service(
    name: &str,
    wanted: &str,
    definition: &Mapping,
    imported: &[(String, String)],
    image_only: &[String],
    paths: &Paths,
) -> Service {
    let mut options = Options::new(definition);
    let mut service = Service::new(name);
    if name != wanted {
        service.comments.push(format!(
            "Compose service {}: renamed, not a valid service name",
            brief(&Value::String(wanted.to_string()))
        ));
    }
    let entrypoint = options.take("entrypoint");
    let command = options.take("command");
    let image = options.take("image").and_then(scalar_text);
    let environment_value = options.take("environment");
    let ports = options.take("ports");
    if entrypoint.is_none() && command.is_none() {
        return docker_run(
            name,
            wanted,
            image.as_deref(),
            environment_value,
            ports,
            options,
        );
    }
    // One string alone stays a string: wrangle splits it into words as Compose does, without
    // a shell. Anything else becomes the argv entrypoint ++ command.
    let lone_line = match (entrypoint, command) {
        (Some(one), None) | (None, Some(one)) => scalar_text(one).filter(|line| {
            crate::config::split_command_line(line).is_ok_and(|words| !words.is_empty())
        }),
        _ => None,
    };
    let entry = match lone_line {
        Some(line) => service.set("command", line),
        None => {
            let mut parts: Vec<String> = Vec::new();
            for value in [entrypoint, command].into_iter().flatten() {
                match value {
                    Value::Sequence(_) => parts.extend(string_list(value).unwrap_or_default()),
                    other => {
                        if let Some(text) = scalar_text(other) {
                            parts.extend(
                                crate::config::split_command_line(&text)
                                    .unwrap_or_else(|_| vec![text]),
                            );
                        }
                    }
                }
            }
            service.set("command", draft::strings(&parts))
        }
    };
    if let Some(image) = &image {
        entry.comment(format!(
            "ran in image {image}; here it runs on this machine: check the program exists"
        ));
    }

    if let Some(build) = options.take("build") {
        let context = match build {
            Value::Mapping(build) => build.get("context").and_then(scalar_text),
            other => scalar_text(other),
        };
        if let Some(context) = context {
            service
                .set("cwd", paths.rebase(&context))
                .comment("the build context");
        }
    }
    if let Some(directory) = options.take("working_dir").and_then(scalar_text) {
        service.note(format!(
            "not imported: working_dir = {directory:?}: a directory inside the container"
        ));
    }
    if let Some(value) = environment_value {
        let (pairs, passed) = environment(value);
        if !pairs.is_empty() {
            if pairs.iter().any(|(_, value)| value.contains("${")) {
                service.note(
                    "Compose interpolates ${VAR} in environment values from the shell and .env; \
                     wrangle passes them literally: write the values out",
                );
            }
            service.set("env", draft::string_table(&pairs));
        }
        if !passed.is_empty() {
            service.note(format!(
                "environment {}: passed through from wrangle's own environment",
                passed.join(", ")
            ));
        }
    }
    if let Some(files) = options.take("env_file") {
        let list: Vec<String> = match files {
            Value::Sequence(items) => items
                .iter()
                .filter_map(|item| match item {
                    Value::Mapping(entry) => entry.get("path").and_then(scalar_text),
                    other => scalar_text(other),
                })
                .collect(),
            other => scalar_text(other).into_iter().collect(),
        };
        let rebased: Vec<String> = list.iter().map(|file| paths.rebase(file)).collect();
        match rebased.as_slice() {
            [] => {}
            [one] => {
                service.set("env_file", one.as_str());
            }
            many => {
                service.set("env_file", draft::strings(many));
            }
        }
    }
    if let Some(ports) = ports {
        let targets = port_targets(ports);
        match targets.as_slice() {
            [] => service.note(format!("not imported: ports = {}", brief(ports))),
            [(port, written)] => {
                service.set("port", i64::from(*port)).comment(format!(
                    "published as {written}: the process listens on {port}"
                ));
            }
            many => {
                let mut array = toml_edit::Array::new();
                for (port, _) in many {
                    array.push(i64::from(*port));
                }
                let written: Vec<&str> = many.iter().map(|(_, written)| written.as_str()).collect();
                service
                    .set("port", toml_edit::Value::Array(array))
                    .comment(format!(
                        "published as {}: the process listens on these",
                        written.join(", ")
                    ));
            }
        }
    }
    if let Some(depends_on) = options.take("depends_on") {
        depends(&mut service, depends_on, imported, image_only);
    }
    if let Some(healthcheck) = options.take("healthcheck") {
        health(&mut service, healthcheck);
    }
    restart(&mut service, &mut options);
    if let Some(signal) = options.take("stop_signal").and_then(scalar_text) {
        service.set("stop_signal", signal);
    }
    if let Some(period) = options.take("stop_grace_period").and_then(scalar_text) {
        match humantime::parse_duration(&period) {
            Ok(_) => {
                service.set("stop_timeout", period);
            }
            Err(_) => service.note(format!("not imported: stop_grace_period = {period:?}")),
        }
    }
    if let Some(limit) = options.take("mem_limit") {
        memory_limit(&mut service, limit, "mem_limit");
    }
    if let Some(ulimits) = options.take("ulimits") {
        limits(&mut service, ulimits);
    }
    if let Some(user) = options.take("user") {
        let text = scalar_text(user).unwrap_or_default();
        let (user, group) = match text.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (text.as_str(), None),
        };
        run_as(&mut service, user, group, "user");
    }
    if let Some(cpus) = options.take("cpus") {
        cpu_max(&mut service, cpus, "cpus");
    }
    if let Some(scale) = options.take("scale")
        && !service.has("instances")
    {
        replicas_to_instances(&mut service, scale, "scale");
    }
    profiles(&mut service, &mut options);
    explain_rest(&mut options);
    service.notes.extend(options.notes("Compose"));
    service
}

/// The image-only service as a commented-out `docker run`.
fn docker_run(
    name: &str,
    wanted: &str,
    image: Option<&str>,
    environment_value: Option<&Value>,
    ports: Option<&Value>,
    mut options: Options<'_>,
) -> Service {
    let mut service = Service::new(name);
    service.commented_out = true;
    service.comments.push(format!(
        "Compose service {wanted:?} only names an image: not imported. To run the container under \
         wrangle, uncomment (and check) the service below and add it to depends_on where needed."
    ));
    let mut argv = vec![
        "docker".to_string(),
        "run".to_string(),
        "--rm".to_string(),
        "--init".to_string(),
        "--name".to_string(),
        format!("wrangle-{name}"),
    ];
    let mut host_ports = Vec::new();
    if let Some(ports) = ports {
        for written in port_strings(ports) {
            if let Some(host) = published(&written) {
                host_ports.push(host);
            }
            argv.push("-p".to_string());
            argv.push(written);
        }
    }
    if let Some(value) = environment_value {
        let (pairs, passed) = environment(value);
        for (key, value) in pairs {
            argv.push("-e".to_string());
            argv.push(format!("{key}={value}"));
        }
        for key in passed {
            argv.push("-e".to_string());
            argv.push(key);
        }
    }
    argv.push(image.unwrap_or("IMAGE").to_string());
    service.set("command", draft::strings(&argv));
    match host_ports.as_slice() {
        [] => {}
        [one] => {
            service.set("port", i64::from(*one));
            let mut ready = InlineTable::new();
            ready.insert("tcp", toml_edit::Value::from(i64::from(*one)));
            ready.insert("timeout", toml_edit::Value::from("2m"));
            service.set("ready", ready);
        }
        many => {
            let mut array = toml_edit::Array::new();
            for port in many {
                array.push(i64::from(*port));
            }
            service.set("port", toml_edit::Value::Array(array));
        }
    }
    service.set("stop_signal", "SIGTERM");
    options.explain(
        "healthcheck",
        "the container keeps its own healthcheck; the tcp probe above waits for the published port",
    );
    options.explain("depends_on", "add depends_on when you enable it");
    options.explain(
        "restart",
        "add restart when you enable it (Compose's default: never)",
    );
    profiles(&mut service, &mut options);
    explain_rest(&mut options);
    for note in options.notes("Compose") {
        service.note(note);
    }
    service
}

fn depends(
    service: &mut Service,
    value: &Value,
    imported: &[(String, String)],
    image_only: &[String],
) {
    let mut table = InlineTable::new();
    let add = |wanted: &str,
               condition: &str,
               restart: bool,
               table: &mut InlineTable,
               service: &mut Service| {
        if image_only.iter().any(|name| name == wanted) {
            service.note(format!(
                "depends_on {wanted} ({condition}): {wanted} only names an image and is commented \
                 out; add it back here if you run it under wrangle"
            ));
            return;
        }
        let Some((_, name)) = imported.iter().find(|(source, _)| source == wanted) else {
            service.note(format!(
                "not imported: depends_on {wanted}: no such service"
            ));
            return;
        };
        if restart {
            let mut entry = InlineTable::new();
            entry.insert("condition", toml_edit::Value::from(condition));
            entry.insert("restart", toml_edit::Value::from(true));
            table.insert(name, toml_edit::Value::InlineTable(entry));
        } else {
            table.insert(name, toml_edit::Value::from(condition));
        }
    };
    match value {
        Value::Sequence(_) => {
            for wanted in string_list(value).unwrap_or_default() {
                // Compose's short form waits for the start only.
                add(&wanted, "started", false, &mut table, service);
            }
        }
        Value::Mapping(mapping) => {
            for (key, options) in mapping {
                let wanted = scalar_text(key).unwrap_or_default();
                let condition_text = options
                    .get("condition")
                    .and_then(scalar_text)
                    .unwrap_or_else(|| "service_started".to_string());
                let condition = match condition_text.as_str() {
                    "service_healthy" => "ready",
                    "service_completed_successfully" => "completed",
                    _ => "started",
                };
                let restart = options.get("restart").and_then(Value::as_bool) == Some(true);
                if options.get("required").and_then(Value::as_bool) == Some(false) {
                    service.note(format!(
                        "depends_on {wanted}: required = false has no equivalent; the dependency is required"
                    ));
                }
                add(&wanted, condition, restart, &mut table, service);
            }
        }
        _ => {}
    }
    if !table.is_empty() {
        service.set("depends_on", table);
    }
}

/// `healthcheck` as a readiness probe that keeps checking (`recheck`), as Docker's does.
fn health(service: &mut Service, value: &Value) {
    let Value::Mapping(check) = value else {
        return;
    };
    let mut options = Options::new(check);
    if options.take("disable").and_then(Value::as_bool) == Some(true) {
        service.note("healthcheck disabled: no readiness probe");
        return;
    }
    let argv: Option<Vec<String>> = match options.take("test") {
        Some(test @ Value::Sequence(_)) => {
            let words = string_list(test).unwrap_or_default();
            match words.split_first() {
                Some((first, rest)) if first == "CMD" => Some(rest.to_vec()),
                Some((first, rest)) if first == "CMD-SHELL" => {
                    Some(vec!["sh".to_string(), "-c".to_string(), rest.join(" ")])
                }
                _ => None,
            }
        }
        Some(test) => scalar_text(test).map(|line| vec!["sh".to_string(), "-c".to_string(), line]),
        None => None,
    };
    let Some(argv) = argv.filter(|argv| !argv.is_empty()) else {
        service.note(format!("not imported: healthcheck = {}", brief(value)));
        return;
    };
    let mut ready = InlineTable::new();
    ready.insert("exec", draft::strings(&argv));
    let interval = options
        .take("interval")
        .and_then(scalar_text)
        .filter(|text| humantime::parse_duration(text).is_ok());
    let start_period = options
        .take("start_period")
        .and_then(scalar_text)
        .and_then(|text| humantime::parse_duration(&text).ok());
    let retries = options.take("retries").and_then(Value::as_u64).unwrap_or(3);
    let timeout = options.take("timeout");
    options.take("start_interval");
    let interval_duration = interval
        .as_deref()
        .and_then(|text| humantime::parse_duration(text).ok())
        .unwrap_or(std::time::Duration::from_secs(30));
    if let Some(interval) = &interval {
        ready.insert("interval", toml_edit::Value::from(interval.as_str()));
    }
    // Docker gives a container start_period, then `retries` failed checks, to become healthy.
    let total = start_period.unwrap_or_default() + interval_duration * (retries.max(1) as u32);
    ready.insert(
        "timeout",
        toml_edit::Value::from(humantime::format_duration(total).to_string()),
    );
    ready.insert(
        "recheck",
        toml_edit::Value::from(humantime::format_duration(interval_duration).to_string()),
    );
    let entry = service.set_table("ready", ready);
    entry.comment("from healthcheck: readiness, then rechecked at the same interval");
    if let Some(timeout) = timeout {
        entry.comment(format!(
            "healthcheck timeout {} per check has no equivalent",
            brief(timeout)
        ));
    }
    for note in options.notes("healthcheck") {
        service.note(note);
    }
}

fn restart(service: &mut Service, options: &mut Options<'_>) {
    let policy = options.take("restart").and_then(scalar_text);
    let deploy = options.take("deploy");
    let mut restart_policy = None;
    if let Some(Value::Mapping(deploy)) = deploy {
        let mut deploy_options = Options::new(deploy);
        if let Some(Value::Mapping(policy)) = deploy_options.take("restart_policy") {
            restart_policy = Some(policy);
        }
        if let Some(Value::Mapping(resources)) = deploy_options.take("resources")
            && let Some(limit) = resources
                .get("limits")
                .and_then(|limits| limits.get("memory"))
        {
            memory_limit(service, limit, "deploy.resources.limits.memory");
        }
        if let Some(replicas) = deploy_options.take("replicas") {
            replicas_to_instances(service, replicas, "deploy.replicas");
        }
        for note in deploy_options.notes("deploy") {
            service.note(note);
        }
    }
    match policy.as_deref() {
        None | Some("no") if restart_policy.is_none() => {
            service
                .set("restart", "never")
                .comment("Compose does not restart by default");
        }
        None | Some("no") => {}
        Some("always") | Some("unless-stopped") => {
            service.set("restart", "always");
        }
        Some(other) if other.starts_with("on-failure") => {
            service.set("restart", "on-failure");
            if let Some(count) = other
                .split_once(':')
                .and_then(|(_, count)| count.parse::<i64>().ok())
            {
                service.set("max_restarts", count);
            }
        }
        Some(other) => service.note(format!("not imported: restart = {other:?}")),
    }
    if let Some(policy) = restart_policy {
        let condition = policy.get("condition").and_then(scalar_text);
        if !service.has("restart") {
            let mapped = match condition.as_deref() {
                Some("none") => "never",
                Some("on-failure") => "on-failure",
                _ => "always",
            };
            service
                .set("restart", mapped)
                .comment("deploy.restart_policy");
        }
        if let Some(delay) = policy.get("delay").and_then(scalar_text)
            && humantime::parse_duration(&delay).is_ok()
        {
            service.set("backoff_initial", delay);
        }
        if let Some(attempts) = policy.get("max_attempts").and_then(Value::as_i64)
            && !service.has("max_restarts")
        {
            service.set("max_restarts", attempts);
        }
        if let Some(window) = policy.get("window").and_then(scalar_text)
            && humantime::parse_duration(&window).is_ok()
        {
            service.set("restart_window", window);
        }
    }
}

/// `ulimits` as `limits`: nofile, nproc, core and memlock (-1 is unlimited). wrangle sets one
/// value as both the soft and the hard limit: of a `{ soft, hard }` pair, the soft one.
fn limits(service: &mut Service, value: &Value) {
    let Value::Mapping(ulimits) = value else {
        service.note(format!("not imported: ulimits = {}", brief(value)));
        return;
    };
    let mut table = InlineTable::new();
    for (key, limit) in ulimits {
        let name = scalar_text(key).unwrap_or_default();
        let (soft, hard) = match limit {
            Value::Mapping(pair) => (
                pair.get("soft").and_then(Value::as_i64),
                pair.get("hard").and_then(Value::as_i64),
            ),
            other => (other.as_i64(), other.as_i64()),
        };
        let known = matches!(name.as_str(), "nofile" | "nproc" | "core" | "memlock");
        let written = match soft {
            Some(-1) => Some(toml_edit::Value::from("unlimited")),
            Some(count) if count >= 0 => Some(toml_edit::Value::from(count)),
            _ => None,
        };
        match (known, written) {
            (true, Some(written)) => {
                if soft != hard {
                    service.note(format!(
                        "ulimits.{name}: soft and hard differ; wrangle sets both to the soft \
                         limit, {}",
                        draft::value(&written)
                    ));
                }
                table.insert(&name, written);
            }
            _ => service.note(format!(
                "not imported: ulimits.{name} = {}: wrangle sets nofile, nproc, core and memlock",
                brief(limit)
            )),
        }
    }
    if !table.is_empty() {
        service.set("limits", table);
    }
}

/// `deploy.replicas` or `scale`: copies of the container, as instances of the service.
fn replicas_to_instances(service: &mut Service, value: &Value, key: &str) {
    match value.as_u64().and_then(|count| u32::try_from(count).ok()) {
        Some(count) => set_instances(service, Copies::Count(count), &format!("{key} = {count}")),
        None => service.note(format!(
            "not imported: {key} = {}: not a count",
            brief(value)
        )),
    }
}

/// Compose memory sizes: bytes or a number with b, k, m, g (binary units; `kb` and the like too).
fn memory_limit(service: &mut Service, value: &Value, key: &str) {
    let text = scalar_text(value).unwrap_or_default();
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|char: char| char.is_ascii_alphabetic());
    let unit = match &lower[digits.len()..] {
        "" | "b" => "",
        "k" | "kb" => "KiB",
        "m" | "mb" => "MiB",
        "g" | "gb" => "GiB",
        _ => "?",
    };
    match digits.trim().parse::<u64>() {
        Ok(number)
            if unit != "?"
                && (!unit.is_empty() || number >= 4096)
                && !service.has("max_memory") =>
        {
            service
                .set("max_memory", format!("{number}{unit}"))
                .comment(format!("{key}: restarted when its memory stays above this"));
        }
        _ => service.note(format!("not imported: {key} = {}", brief(value))),
    }
}

/// Each entry of `ports` as Compose wrote it.
fn port_strings(value: &Value) -> Vec<String> {
    let Value::Sequence(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Mapping(long) => {
                let target = long.get("target").and_then(scalar_text)?;
                Some(match long.get("published").and_then(scalar_text) {
                    Some(published) => format!("{published}:{target}"),
                    None => target,
                })
            }
            other => scalar_text(other),
        })
        .collect()
}

/// The host side of `"[ip:]host:container[/proto]"`, when it is one port.
fn published(written: &str) -> Option<u16> {
    let without_protocol = written.split('/').next()?;
    let parts: Vec<&str> = without_protocol.rsplitn(3, ':').collect();
    match parts.as_slice() {
        [_container, host, ..] => host.parse().ok(),
        [only] => only.parse().ok(),
        _ => None,
    }
}

/// The container side of each TCP entry (the port the process listens on), with how it was
/// written.
fn port_targets(value: &Value) -> Vec<(u16, String)> {
    port_strings(value)
        .into_iter()
        .filter(|written| !written.ends_with("/udp"))
        .filter_map(|written| {
            let without_protocol = written.split('/').next()?.to_string();
            let target = without_protocol.rsplit(':').next()?;
            let port: u16 = target.parse().ok()?;
            (port > 0).then_some((port, written))
        })
        .collect()
}

/// `profiles: [debug]`: Compose starts the service only with one of its profiles active, so it
/// is left out (`enabled = false`) and each of them turns it on.
fn profiles(service: &mut Service, options: &mut Options<'_>) {
    let Some(value) = options.take("profiles") else {
        return;
    };
    let names = string_list(value).unwrap_or_default();
    if names.is_empty() {
        service.note(format!(
            "not imported: profiles = {}: expected a list of names",
            brief(value)
        ));
        return;
    }
    service.set("enabled", false).comment(format!(
        "Compose profiles {}: on with `wrangle up --profile NAME` (docker compose --profile NAME)",
        names.join(", ")
    ));
    for name in &names {
        service.set_in_profile(name, "enabled", true);
    }
}

fn explain_rest(options: &mut Options<'_>) {
    const CONTAINER: &str = "containers only";
    for key in [
        "volumes",
        "networks",
        "network_mode",
        "container_name",
        "hostname",
        "expose",
        "labels",
        "links",
        "extra_hosts",
        "dns",
        "cap_add",
        "cap_drop",
        "privileged",
        "platform",
        "pull_policy",
        "secrets",
        "configs",
        "devices",
        "tmpfs",
        "shm_size",
        "security_opt",
        "ipc",
        "pid",
        "init",
        "tty",
        "stdin_open",
        "read_only",
        "sysctls",
        "userns_mode",
        "isolation",
    ] {
        options.explain(key, CONTAINER);
    }
    options.explain(
        "cpu_shares",
        "no CPU limit (cpu_warn warns about sustained use)",
    );
    options.explain(
        "logging",
        "wrangle keeps each service's output in its own log files",
    );
    options.explain(
        "extends",
        "not followed: copy the extended service's options in",
    );
    options.take_matching(|key| key.starts_with("x-"));
}
