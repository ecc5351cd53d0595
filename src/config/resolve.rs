//! Turning a shape-checked [`RawProject`] into a [`ProjectSpec`]: the checks that need more than
//! one value at a time.
//!
//! This module owns: merging `[defaults]` under each service, built-in default values, working
//! directories (resolved against the config file's directory and checked to exist), env files and
//! the environment precedence, a webhook's `ca_file` (in `ca_file`), `PORT`, ports declared twice, `shell` against the form of
//! `command`, backoff bounds, dependency names to ids, and dependency cycles; sockets and
//! instances (in `sockets`). It is the only part of the config loader that reads files other
//! than the config itself, always through the load's trust gate (`trust::Gate`).
//!
//! Every check runs even after an earlier one failed, so one run reports everything wrong with a
//! file. A spec is returned only when no diagnostic was produced, which is what keeps
//! [`ProjectSpec`]'s "always valid" invariant.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::config::command_line::split_command_line;
use crate::config::diagnostic::{Diagnostic, SourceFile};
use crate::config::document::{RawCommand, RawProject, RawService};
use crate::config::dotenv;
use crate::config::trust::{Gate, NamedFile, Verdict};
use crate::human;
use crate::spec::{
    CommandSpec, Dependency, LimitSpec, ProcessSpec, ProjectSpec, RestartPolicy, RestartSpec,
    ServiceId, ServiceSpec, Signal, StopSpec,
};

mod ca_file;
mod run_as;
mod schedule;
mod sockets;
mod watch;

/// Restart behaviour when neither the service nor `[defaults]` says otherwise.
pub(crate) const DEFAULT_RESTART: RestartSpec = RestartSpec {
    policy: RestartPolicy::OnFailure,
    backoff_initial: Duration::from_millis(200),
    backoff_max: Duration::from_secs(30),
    max_restarts: 5,
    window: Duration::from_secs(60),
    min_uptime: Duration::from_secs(300),
};

/// How long changes must be quiet before a watching service restarts, unless it says.
pub(crate) const DEFAULT_WATCH_DEBOUNCE: Duration = Duration::from_millis(200);

/// Stop behaviour when neither the service nor `[defaults]` says otherwise.
pub(crate) const DEFAULT_STOP: StopSpec = StopSpec {
    signal: Signal::TERM,
    timeout: Duration::from_secs(10),
};

/// How the resolver reads the files a config names (env files): through the load's trust gate,
/// with the warnings it produces.
pub(crate) struct Files<'g, 'w> {
    pub(crate) gate: &'g Gate<'g>,
    pub(crate) warnings: &'w mut Vec<Diagnostic>,
}

/// Resolves `raw`. Appends every problem to `diagnostics`; returns a spec only if there was none
/// (counting those already in `diagnostics` from the shape check).
pub(crate) fn resolve(
    raw: &RawProject,
    file: &Arc<SourceFile>,
    source: PathBuf,
    root: PathBuf,
    files: Files<'_, '_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ProjectSpec> {
    let mut resolver = Resolver {
        file,
        root: &root,
        raw,
        files,
        env_files: HashMap::new(),
        ignore_texts: HashMap::new(),
        ports: HashMap::new(),
        diagnostics: Vec::new(),
    };
    let sockets = resolver.sockets();
    let services: Vec<Option<ServiceSpec>> = raw
        .services
        .iter()
        .map(|service| resolver.service(service))
        .collect();
    let edges = resolver.dependency_edges();
    resolver.report_cycles(&edges);
    diagnostics.append(&mut resolver.diagnostics);
    let names: Vec<&str> = raw
        .services
        .iter()
        .map(|service| service.name.get_ref().as_str())
        .collect();
    let notify = crate::config::document::resolve_notify(
        &raw.notify,
        &names,
        file,
        &mut |reference| resolver.ca_file(reference),
        diagnostics,
    );
    diagnostics.append(&mut resolver.diagnostics);
    if !diagnostics.is_empty() {
        return None;
    }
    let services: Option<Vec<ServiceSpec>> = services.into_iter().collect();
    Some(ProjectSpec {
        source,
        root,
        services: services?,
        retired: Default::default(),
        sockets: sockets?,
        logs: raw.logs,
        notify,
        monitor: raw.monitor,
        metrics: raw.metrics,
        dashboard: raw.dashboard,
        profiles: Vec::new(),
    })
}

struct Resolver<'a, 'g, 'w> {
    file: &'a Arc<SourceFile>,
    root: &'a Path,
    raw: &'a RawProject,
    files: Files<'g, 'w>,
    /// Env files read so far, by resolved path: a file named in `[defaults]` is read once, and
    /// its problems are reported once. `None` means it could not be used.
    env_files: HashMap<PathBuf, Option<Vec<(String, String)>>>,
    /// Ignore files read so far for `watch`, by path (`None`: absent or not used).
    ignore_texts: HashMap<PathBuf, Option<String>>,
    /// Ports declared so far, with the declaring service and the span of the declaration.
    ports: HashMap<u16, (String, std::ops::Range<usize>)>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Resolver<'a, '_, '_> {
    fn service(&mut self, service: &RawService) -> Option<ServiceSpec> {
        let raw = self.raw;
        let defaults = &raw.defaults;
        let settings = &service.settings;
        let name = service.name.get_ref();

        let cwd = match settings.cwd.as_ref().or(defaults.cwd.as_ref()) {
            Some(cwd) => self.directory(cwd),
            None => Some(self.root.to_path_buf()),
        };

        // Precedence, lowest first: [defaults] env files, [defaults] env, the service's env
        // files, the service's env. Within a level, later files win over earlier ones.
        let mut env = BTreeMap::new();
        let mut env_files = Vec::new();
        let mut env_ok = true;
        for layer in [defaults, settings] {
            for env_file in &layer.env_file {
                match self.env_file(env_file) {
                    Some(pairs) => {
                        env.extend(pairs);
                        env_files.push(self.root.join(env_file.get_ref()));
                    }
                    None => env_ok = false,
                }
            }
            env.extend(layer.env.iter().cloned());
        }

        let ports = self.ports(service);
        if let [port] = ports.as_slice() {
            env.entry("PORT".to_string())
                .or_insert_with(|| port.to_string());
        }

        let command = self.command(service);
        let restart = self.restart(service);
        let stop = StopSpec {
            signal: settings
                .stop_signal
                .or(defaults.stop_signal)
                .unwrap_or(DEFAULT_STOP.signal),
            timeout: settings
                .stop_timeout
                .or(defaults.stop_timeout)
                .unwrap_or(DEFAULT_STOP.timeout),
        };
        let depends_on = self.dependencies(service);
        let sockets = self.service_sockets(service);
        let instances = self.instances(service);
        let clean = self.clean_paths(service);
        let watch = cwd.as_deref().and_then(|cwd| self.watch(service, cwd));
        let run_as = self.run_as(service);
        let schedule = self.schedule(service, restart.as_ref().map(|restart| restart.policy));

        Some(ServiceSpec {
            name: name.clone(),
            command: command?,
            cwd: cwd?,
            env: env_ok.then_some(env)?,
            env_files,
            ports,
            depends_on: depends_on?,
            ready: service.ready.clone(),
            live: service.live.clone(),
            restart: restart?,
            stop,
            limits: LimitSpec {
                max_memory: settings.max_memory.or(defaults.max_memory),
                cpu_warn: settings.cpu_warn.or(defaults.cpu_warn),
                memory_warn: settings.memory_warn.or(defaults.memory_warn),
                warn_after: settings
                    .warn_after
                    .or(defaults.warn_after)
                    .unwrap_or(LimitSpec::default().warn_after),
            },
            sockets: sockets?,
            instances: instances?,
            kubernetes: service.kubernetes.clone(),
            process: ProcessSpec {
                nice: settings.nice.or(defaults.nice),
                rlimits: settings.limits.or(defaults.limits),
                run_as: run_as?,
                cpu_max: settings.cpu_max.or(defaults.cpu_max),
            },
            clean: clean?,
            watch,
            schedule: schedule?,
        })
    }

    /// Resolves a `cwd` against the config directory and checks it is a directory.
    fn directory(&mut self, cwd: &Spanned<String>) -> Option<PathBuf> {
        let joined = self.root.join(cwd.get_ref());
        let problem = match std::fs::metadata(&joined) {
            Ok(metadata) if metadata.is_dir() => {
                // Canonical, so the supervisor and messages see one spelling of the directory.
                return Some(std::fs::canonicalize(&joined).unwrap_or(joined));
            }
            Ok(_) => "not a directory".to_string(),
            Err(error) => error.to_string(),
        };
        self.diagnostics.push(
            Diagnostic::at(
                self.file,
                cwd.span(),
                format!("working directory \"{}\" does not exist", joined.display()),
                problem,
            )
            .with_note(format!(
                "a relative cwd is resolved against {}",
                self.root.display()
            )),
        );
        None
    }

    fn env_file(&mut self, reference: &Spanned<String>) -> Option<Vec<(String, String)>> {
        let path = self.root.join(reference.get_ref());
        if let Some(cached) = self.env_files.get(&path) {
            return cached.clone();
        }
        let loaded = self.read_env_file(reference, &path);
        self.env_files.insert(path, loaded.clone());
        loaded
    }

    /// The bytes of the `kind` file `reference` names (at `path`), read only if trusted (see
    /// `trust::Gate`); `None` after reporting, at `reference`, why it cannot be read.
    fn read_named_file(
        &mut self,
        kind: NamedFile,
        reference: &Spanned<String>,
        path: &Path,
    ) -> Option<Vec<u8>> {
        let checked = match self.files.gate.read(path, kind.max_bytes()) {
            Ok(checked) => checked,
            Err(problem) => {
                self.diagnostics.push(
                    Diagnostic::at(
                        self.file,
                        reference.span(),
                        format!("cannot read {} \"{}\"", kind.noun(), path.display()),
                        problem.to_string(),
                    )
                    .with_note(format!(
                        "a relative {} is resolved against {}",
                        kind.key(),
                        self.root.display()
                    )),
                );
                return None;
            }
        };
        match &checked.verdict {
            Verdict::Trusted => {}
            Verdict::Vouched(doubts) => {
                let warning =
                    self.files
                        .gate
                        .vouched_file(kind, self.file, reference.span(), path, doubts);
                self.files.warnings.push(warning);
            }
            Verdict::Refused(doubts) => {
                let refusal = self.files.gate.refused_file(
                    kind,
                    self.file,
                    reference.span(),
                    path,
                    &checked.real,
                    doubts,
                );
                self.diagnostics.push(refusal);
                return None;
            }
        }
        Some(checked.bytes)
    }

    fn read_env_file(
        &mut self,
        reference: &Spanned<String>,
        path: &Path,
    ) -> Option<Vec<(String, String)>> {
        let bytes = self.read_named_file(NamedFile::EnvFile, reference, path)?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                self.diagnostics.push(Diagnostic::at(
                    self.file,
                    reference.span(),
                    format!("env file \"{}\" is not valid UTF-8", path.display()),
                    format!("invalid UTF-8 at byte {}", error.utf8_error().valid_up_to()),
                ));
                return None;
            }
        };
        let declared_at = self.file.position(reference.span().start);
        let env_source = Arc::new(SourceFile::new(path.to_path_buf(), text));
        match dotenv::parse(env_source.text()) {
            Ok(pairs) => Some(pairs),
            Err(errors) => {
                for error in errors {
                    self.diagnostics.push(
                        Diagnostic::at(
                            &env_source,
                            error.span,
                            format!("invalid line in env file: {}", error.message),
                            error.message,
                        )
                        .with_note(format!("env_file declared at {declared_at}")),
                    );
                }
                None
            }
        }
    }

    /// The service's ports, after checking none is declared twice.
    fn ports(&mut self, service: &RawService) -> Vec<u16> {
        let name = service.name.get_ref();
        let mut ports = Vec::new();
        for port in &service.ports {
            let number = *port.get_ref();
            match self.ports.get(&number) {
                Some((owner, first_span)) => {
                    let message = if owner == name {
                        format!("port {number} is listed twice")
                    } else {
                        format!("port {number} is already declared by service \"{owner}\"")
                    };
                    self.diagnostics.push(
                        Diagnostic::at(self.file, port.span(), message, "declared again here")
                            .with_context(first_span.clone(), "first declared here"),
                    );
                }
                None => {
                    self.ports.insert(number, (name.clone(), port.span()));
                    ports.push(number);
                }
            }
        }
        ports
    }

    fn command(&mut self, service: &RawService) -> Option<CommandSpec> {
        let command = service.command.as_ref()?;
        let raw = self.raw;
        let shell = service
            .settings
            .shell
            .as_ref()
            .or(raw.defaults.shell.as_ref());
        let shell_on = shell.is_some_and(|shell| *shell.get_ref());
        match command.get_ref() {
            RawCommand::Line(line) if shell_on => Some(CommandSpec {
                argv: vec!["sh".to_string(), "-c".to_string(), line.clone()],
                shell: true,
            }),
            RawCommand::Line(line) => match split_command_line(line) {
                Ok(argv) => Some(CommandSpec { argv, shell: false }),
                Err(problem) => {
                    self.diagnostics.push(
                        Diagnostic::at(
                            self.file,
                            command.span(),
                            format!(
                                "invalid command for service \"{}\": {problem}",
                                service.name.get_ref()
                            ),
                            problem,
                        )
                        .with_note(
                            "the command is split into words like a shell would, but never run \
                             by a shell; set shell = true to run it with sh -c",
                        ),
                    );
                    None
                }
            },
            RawCommand::Argv(_) if shell_on => {
                let mut diagnostic = Diagnostic::at(
                    self.file,
                    command.span(),
                    "shell = true needs command to be a string",
                    "an array command is never run by a shell",
                )
                .with_help("write the command as one string, or remove shell = true");
                if let Some(shell) = shell {
                    diagnostic = diagnostic.with_context(shell.span(), "shell = true set here");
                }
                self.diagnostics.push(diagnostic);
                None
            }
            RawCommand::Argv(argv) => Some(CommandSpec {
                argv: argv.clone(),
                shell: false,
            }),
        }
    }

    fn restart(&mut self, service: &RawService) -> Option<RestartSpec> {
        let raw = self.raw;
        let defaults = &raw.defaults;
        let settings = &service.settings;
        let initial = settings
            .backoff_initial
            .as_ref()
            .or(defaults.backoff_initial.as_ref());
        let max = settings
            .backoff_max
            .as_ref()
            .or(defaults.backoff_max.as_ref());
        let initial_value = initial.map_or(DEFAULT_RESTART.backoff_initial, |d| *d.get_ref());
        let max_value = max.map_or(DEFAULT_RESTART.backoff_max, |d| *d.get_ref());
        if max_value < initial_value {
            let message = format!(
                "backoff_max ({}) must not be less than backoff_initial ({})",
                human::duration(max_value),
                human::duration(initial_value)
            );
            let diagnostic = match (max, initial) {
                (Some(max), Some(initial)) => {
                    Diagnostic::at(self.file, max.span(), message, "less than backoff_initial")
                        .with_context(initial.span(), "backoff_initial set here")
                }
                (Some(max), None) => Diagnostic::at(
                    self.file,
                    max.span(),
                    message,
                    "less than the default backoff_initial",
                ),
                (None, Some(initial)) => Diagnostic::at(
                    self.file,
                    initial.span(),
                    message,
                    "more than the default backoff_max",
                )
                .with_help("raise backoff_max as well"),
                // Both are built-in defaults, which are consistent.
                (None, None) => Diagnostic::in_file(self.file, message),
            };
            self.diagnostics.push(diagnostic);
            return None;
        }
        Some(RestartSpec {
            policy: settings
                .restart
                .or(defaults.restart)
                .unwrap_or(DEFAULT_RESTART.policy),
            backoff_initial: initial_value,
            backoff_max: max_value,
            max_restarts: settings
                .max_restarts
                .or(defaults.max_restarts)
                .unwrap_or(DEFAULT_RESTART.max_restarts),
            window: settings
                .restart_window
                .or(defaults.restart_window)
                .unwrap_or(DEFAULT_RESTART.window),
            min_uptime: settings
                .min_uptime
                .or(defaults.min_uptime)
                .unwrap_or(DEFAULT_RESTART.min_uptime),
        })
    }

    fn service_id(&self, name: &str) -> Option<ServiceId> {
        self.raw
            .services
            .iter()
            .position(|service| service.name.get_ref() == name)
    }

    fn dependencies(&mut self, service: &RawService) -> Option<Vec<Dependency>> {
        let mut dependencies = Vec::new();
        let mut ok = true;
        for dependency in &service.depends_on {
            let name = dependency.name.get_ref();
            if self.depends_on_a_job(service, dependency) {
                ok = false;
                continue;
            }
            match self.service_id(name) {
                Some(id) => dependencies.push(Dependency {
                    service: id,
                    condition: dependency.condition,
                    restart: dependency.restart,
                }),
                None if self.raw.disabled.iter().any(|disabled| disabled == name) => {
                    ok = false;
                    self.diagnostics.push(
                        Diagnostic::at(
                            self.file,
                            dependency.name.span(),
                            format!(
                                "service \"{}\" depends on service \"{name}\", which is left out",
                                service.name.get_ref()
                            ),
                            "`enabled = false`",
                        )
                        .with_help(format!(
                            "enable \"{name}\" too, or leave \"{}\" out as well",
                            service.name.get_ref()
                        )),
                    );
                }
                None => {
                    ok = false;
                    let raw = self.raw;
                    let known: Vec<&str> = raw
                        .services
                        .iter()
                        .map(|service| service.name.get_ref().as_str())
                        .collect();
                    self.diagnostics.push(
                        Diagnostic::at(
                            self.file,
                            dependency.name.span(),
                            format!(
                                "service \"{}\" depends on unknown service \"{name}\"",
                                service.name.get_ref()
                            ),
                            "no service with this name",
                        )
                        .with_suggestion(name, known.iter().copied())
                        .with_note(format!("services: {}", known.join(", "))),
                    );
                }
            }
        }
        ok.then_some(dependencies)
    }

    /// For each service, the services it depends on with the span naming each of them. Unknown
    /// names were reported already and are left out.
    fn dependency_edges(&self) -> Vec<Vec<(ServiceId, std::ops::Range<usize>)>> {
        self.raw
            .services
            .iter()
            .map(|service| {
                service
                    .depends_on
                    .iter()
                    .filter_map(|dependency| {
                        self.service_id(dependency.name.get_ref())
                            .map(|id| (id, dependency.name.span()))
                    })
                    .collect()
            })
            .collect()
    }

    /// Depth-first search for back edges. Iterative, so a long chain of services in a fuzzed
    /// file cannot overflow the stack.
    fn report_cycles(&mut self, edges: &[Vec<(ServiceId, std::ops::Range<usize>)>]) {
        const UNVISITED: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![UNVISITED; edges.len()];
        for start in 0..edges.len() {
            if state[start] != UNVISITED {
                continue;
            }
            state[start] = ON_PATH;
            let mut path: Vec<(ServiceId, usize)> = vec![(start, 0)];
            while let Some((node, next_edge)) = path.last().copied() {
                let Some((target, span)) = edges[node].get(next_edge) else {
                    state[node] = DONE;
                    path.pop();
                    continue;
                };
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                match state[*target] {
                    UNVISITED => {
                        state[*target] = ON_PATH;
                        path.push((*target, 0));
                    }
                    ON_PATH => {
                        let position = path.iter().position(|(id, _)| id == target).unwrap_or(0);
                        let mut names: Vec<&str> = path[position..]
                            .iter()
                            .map(|(id, _)| self.name(*id))
                            .collect();
                        names.push(self.name(*target));
                        let cycle = names.join(" -> ");
                        let message = if *target == node {
                            format!(
                                "service \"{}\" depends on itself (dependency cycle: {cycle})",
                                self.name(node)
                            )
                        } else {
                            format!("dependency cycle: {cycle}")
                        };
                        self.diagnostics.push(
                            Diagnostic::at(self.file, span.clone(), message, "closes the cycle")
                                .with_help("remove one of these dependencies"),
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    fn name(&self, id: ServiceId) -> &'a str {
        let raw: &'a RawProject = self.raw;
        raw.services
            .get(id)
            .map_or("?", |service| service.name.get_ref().as_str())
    }
}
