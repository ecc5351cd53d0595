//! Reading a Procfile (the Heroku / foreman format) into a [`ProjectSpec`].
//!
//! This module owns the line syntax `name: command`, `#` comments and blank lines. A Procfile
//! says nothing but names and commands, so every other setting takes wrangle's built-in default:
//! the working directory is the Procfile's directory, there are no ports, dependencies or
//! readiness probes. Procfile commands are shell lines by convention (`web: bundle exec rails s
//! -p $PORT`), so they run as `sh -c COMMAND`; that is the one place wrangle uses a shell
//! without an explicit `shell = true`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::diagnostic::{Diagnostic, SourceFile};
use crate::config::document::service_name_problem;
use crate::config::resolve::{DEFAULT_RESTART, DEFAULT_STOP};
use crate::spec::{CommandSpec, ProjectSpec, ServiceSpec};

/// Parses the Procfile in `file`. Reports every bad line, not just the first.
pub(crate) fn parse(
    file: &Arc<SourceFile>,
    source: PathBuf,
    root: PathBuf,
) -> Result<ProjectSpec, Vec<Diagnostic>> {
    let mut services: Vec<ServiceSpec> = Vec::new();
    // Span of each accepted name, parallel to `services`, for "first defined here".
    let mut name_spans = Vec::new();
    let mut diagnostics = Vec::new();
    let mut line_start = 0;
    for raw_line in file.text().split_inclusive('\n') {
        let offset = line_start;
        line_start += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some(colon) = line.find(':') else {
            diagnostics.push(
                Diagnostic::at(
                    file,
                    offset + indent..offset + indent + content.len(),
                    "invalid Procfile line: expected `name: command`",
                    "no `:` on this line",
                )
                .with_help("for example: web: python -m http.server 8000"),
            );
            continue;
        };
        let name = line[..colon].trim();
        let name_span = offset + indent..offset + indent + name.len();
        if let Some(problem) = service_name_problem(name) {
            diagnostics.push(Diagnostic::at(
                file,
                name_span,
                format!("invalid service name \"{name}\" in Procfile"),
                problem,
            ));
            continue;
        }
        let command = line[colon + 1..].trim();
        if command.is_empty() {
            diagnostics.push(Diagnostic::at(
                file,
                offset + colon..offset + colon + 1,
                format!("service \"{name}\" has no command"),
                "expected a command after `:`",
            ));
            continue;
        }
        if command.contains('\0') {
            diagnostics.push(Diagnostic::at(
                file,
                offset + colon + 1..offset + line.len(),
                format!("the command of service \"{name}\" contains a NUL character"),
                "a program argument cannot contain NUL",
            ));
            continue;
        }
        if let Some(first) = services.iter().position(|service| service.name == name) {
            let mut diagnostic = Diagnostic::at(
                file,
                name_span,
                format!("service \"{name}\" is defined twice"),
                "defined again here",
            );
            if let Some(first_span) = name_spans.get(first) {
                diagnostic =
                    diagnostic.with_context(Clone::clone(first_span), "first defined here");
            }
            diagnostics.push(diagnostic);
            continue;
        }
        name_spans.push(name_span);
        services.push(ServiceSpec {
            name: name.to_string(),
            command: CommandSpec {
                argv: vec!["sh".to_string(), "-c".to_string(), command.to_string()],
                shell: true,
            },
            cwd: root.clone(),
            env: BTreeMap::new(),
            env_files: Vec::new(),
            ports: Vec::new(),
            depends_on: Vec::new(),
            ready: None,
            live: None,
            restart: DEFAULT_RESTART,
            stop: DEFAULT_STOP,
            limits: crate::spec::LimitSpec::default(),
            sockets: Vec::new(),
            instances: crate::spec::Instances::Count(1),
            kubernetes: Default::default(),
            process: Default::default(),
            clean: Vec::new(),
            watch: None,
            schedule: None,
        });
    }
    if services.is_empty() && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::in_file(file, "the Procfile defines no service")
                .with_help("add a line such as: web: python -m http.server 8000"),
        );
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(ProjectSpec {
        source,
        root,
        services,
        retired: Default::default(),
        sockets: Vec::new(),
        logs: crate::spec::LogSpec::default(),
        notify: Vec::new(),
        monitor: crate::spec::MonitorSpec::default(),
        metrics: None,
        dashboard: None,
        profiles: Vec::new(),
    })
}
