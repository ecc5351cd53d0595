//! `wrangle export kubernetes`: per service a ConfigMap (its environment), a Deployment (a Job
//! for `restart = "never"`) and, when it declares ports, a Service; for Kubernetes 1.33 (the
//! kinds used are stable since long before: apps/v1, batch/v1, v1).
//!
//! | wrangle | Kubernetes |
//! |---|---|
//! | `command` | the container's `command` (the image's entrypoint is replaced), `$` written `$$` |
//! | `env`, `env_file`, `PORT` | a ConfigMap `<service>-env`, through `envFrom` |
//! | `port`, a TCP `[sockets.NAME]` the service receives | `containerPort`s, and a Service of the same name |
//! | `instances = N` | `replicas: N` (a Job: `parallelism` and `completions`) |
//! | `ready` http, tcp, exec | `startupProbe` (the deadline: `timeout`) and `readinessProbe` (`recheck`) |
//! | a `completed` dependency | an init container of each dependent that runs it |
//! | `restart = "never"` | a Job (`backoffLimit: 0`); otherwise a Deployment |
//! | `live` http, tcp, exec | `livenessProbe` (`interval`, `timeout`, `failures`) |
//! | `max_memory` | `resources.limits.memory` |
//! | `cpu_max` | `resources.limits.cpu` (millicores) |
//! | `user`, `group` (numeric) | `securityContext.runAsUser`, `runAsGroup`; a name is a note |
//! | `stop_timeout` | `terminationGracePeriodSeconds` |

use std::collections::HashMap;

use self::probes::{ProbeAction, liveness_probe, probe_action, readiness_probe, startup_probe};
use super::yaml::{self, MapBuilder, Node};
use super::{
    Export, ExportError, Format, Options, OutputFile, common_service_notes, header, project_name,
    project_notes, whole_seconds,
};
use crate::spec::{
    DependencyCondition, Instances, ListenAddress, ProjectSpec, RestartPolicy, ServiceId, Signal,
};

/// `user` and `group` as `runAsUser`/`runAsGroup`, which take numeric ids only: a name is a note
/// (the image's `USER` decides then).
fn security_context(service: &crate::spec::ServiceSpec, notes: &mut Vec<String>) -> Option<Node> {
    let run_as = service.process.run_as.as_ref()?;
    let mut context = MapBuilder::new();
    for (key, field, written) in [
        ("user", "runAsUser", &run_as.user),
        ("group", "runAsGroup", &run_as.group),
    ] {
        let Some(written) = written else {
            continue;
        };
        match written.parse::<u32>() {
            Ok(id) => {
                context.entry(field, Node::Int(id.into()));
            }
            Err(_) => notes.push(format!(
                "{key} = \"{written}\": {field} takes a numeric id only; set the image's USER \
                 instead, or write the id in wrangle.toml."
            )),
        }
    }
    (!context.is_empty()).then(|| context.build())
}

/// The longest name of a Service (a DNS-1035 label) and of a label value.
const MAX_LABEL: usize = 63;

const NAME_LABEL: &str = "app.kubernetes.io/name";
const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";

pub(super) fn export(
    spec: &ProjectSpec,
    options: &Options,
    stream: bool,
) -> Result<Export, ExportError> {
    let mut problems = Vec::new();
    let names = object_names(spec, &mut problems);
    let images: Vec<String> = spec
        .services
        .iter()
        .map(|service| {
            match service
                .kubernetes
                .image
                .clone()
                .or_else(|| options.image.clone())
            {
                Some(image) => image,
                None => {
                    problems.push(format!(
                        "service \"{}\" has no image: wrangle runs commands, not images; pass \
                         --image IMAGE, or set [services.{}.kubernetes] image",
                        service.name, service.name
                    ));
                    String::new()
                }
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(ExportError {
            format: Format::Kubernetes,
            problems,
        });
    }
    let context = Context {
        spec,
        names,
        images,
        part_of: label_value(&project_name(spec, options)),
        init_only: completed_dependencies(spec),
    };
    let mut notes = 0;
    let mut header_lines = header(Format::Kubernetes, spec);
    let mut project = project_notes(
        spec,
        "Kubernetes",
        "Kubernetes has events, metrics-server and kubectl logs.",
    );
    project.extend(general_notes());
    notes += project.len();
    header_lines.push("#".to_string());
    for note in &project {
        for line in super::wrap_comment(note) {
            header_lines.push(format!("# {line}"));
        }
    }
    let mut files = Vec::new();
    let mut all_documents = String::new();
    for id in 0..spec.services.len() {
        let (documents, service_notes) = context.service_documents(id);
        notes += service_notes;
        if documents.is_empty() {
            continue;
        }
        if stream {
            all_documents.push_str(&documents);
        } else {
            files.push(OutputFile {
                name: format!("{}.yaml", context.names[id]),
                text: format!("{}\n{documents}", header_lines.join("\n")),
            });
        }
    }
    if stream {
        files.push(OutputFile {
            name: "kubernetes.yaml".to_string(),
            text: format!("{}\n{all_documents}", header_lines.join("\n")),
        });
    }
    Ok(Export {
        format: Format::Kubernetes,
        files,
        notes,
        copies_env_files: spec.services.iter().any(|s| !s.env_files.is_empty()),
    })
}

/// What the file header says once instead of every workload.
fn general_notes() -> Vec<String> {
    vec![
        "wrangle runs commands, not images: each container runs its service's command in the \
         image named, which must hold the program and the project's files, in its working \
         directory (WORKDIR)."
            .to_string(),
        "Workloads reach each other through their Service's name (http://api:8080), not at \
         127.0.0.1 as under wrangle, and must listen on all addresses (0.0.0.0) for Services \
         and probes to reach them."
            .to_string(),
        "restart = \"never\" becomes a Job that runs the service once; any other policy a \
         Deployment, which restarts the container after any exit (also a successful one, \
         unlike on-failure) with its own back-off (10s, doubling up to 5 minutes) and never \
         gives up: wrangle's crash-loop rule (max_restarts, restart_window, min_uptime) and \
         backoff have no equivalent."
            .to_string(),
        "Readiness probes keep running after they first pass (wrangle stops unless recheck is \
         set): 3 failures in a row take a pod out of its Service until one passes again."
            .to_string(),
    ]
}

struct Context<'s> {
    spec: &'s ProjectSpec,
    /// Each service's object name (a DNS-1035 label).
    names: Vec<String>,
    images: Vec<String>,
    /// The `app.kubernetes.io/part-of` label.
    part_of: String,
    /// Services some service depends on with `completed`: they run as init containers of their
    /// dependents, with no workload of their own.
    init_only: Vec<bool>,
}

impl Context<'_> {
    /// The YAML documents of one service (each starting with `---`) and how many notes they
    /// carry; empty for a service that has nothing of its own to apply.
    fn service_documents(&self, id: ServiceId) -> (String, usize) {
        let service = &self.spec.services[id];
        let mut out = String::new();
        let mut notes = common_service_notes(&self.spec.root, service, "Kubernetes");
        let (config_map, skipped) = self.config_map(id);
        if !skipped.is_empty() {
            notes.push(format!(
                "Not exported: the variables {} (a ConfigMap key holds only letters, digits, \
                 '-', '_' and '.').",
                skipped.join(", ")
            ));
        }
        if self.init_only[id] {
            let dependents: Vec<&str> = self
                .spec
                .services
                .iter()
                .filter(|other| {
                    other.depends_on.iter().any(|dependency| {
                        dependency.service == id
                            && dependency.condition == DependencyCondition::Completed
                    })
                })
                .map(|other| other.name.as_str())
                .collect();
            notes.push(format!(
                "{} runs as an init container of {} (which depend on it completing), so it has \
                 no workload of its own.",
                service.name,
                dependents.join(", ")
            ));
            let count = notes.len();
            if let Some(config_map) = config_map {
                document(&mut out, &notes, &config_map);
            }
            return (out, count);
        }
        let workload = self.workload(id, &mut notes);
        let count = notes.len();
        match config_map {
            Some(config_map) => {
                document(&mut out, &notes, &config_map);
                document(&mut out, &[], &workload);
            }
            None => document(&mut out, &notes, &workload),
        }
        if !self.ports(id).is_empty() {
            document(&mut out, &[], &self.service_object(id));
        }
        (out, count)
    }

    /// The ports the service's pods listen on: its `port`s, then the ports of the TCP sockets
    /// it receives (its program binds them itself in a pod).
    fn ports(&self, id: ServiceId) -> Vec<u16> {
        let service = &self.spec.services[id];
        let mut ports = service.ports.clone();
        for socket in &service.sockets {
            if let ListenAddress::Tcp(address) = &self.spec.sockets[*socket].listen
                && !ports.contains(&address.port())
            {
                ports.push(address.port());
            }
        }
        ports
    }

    /// Notes on the sockets a service receives, and on its instances.
    fn socket_and_instance_notes(&self, id: ServiceId, notes: &mut Vec<String>) {
        let service = &self.spec.services[id];
        for socket in &service.sockets {
            let socket = &self.spec.sockets[*socket];
            notes.push(match &socket.listen {
                ListenAddress::Tcp(address) => format!(
                    "sockets: Kubernetes passes no listening socket (LISTEN_FDS is not set): the \
                     program must listen on port {} of all addresses itself, in place of \
                     [sockets.{}] ({}).",
                    address.port(),
                    socket.name,
                    socket.listen.describe()
                ),
                ListenAddress::Unix(_) => format!(
                    "sockets: [sockets.{}] ({}) is a Unix socket, which has no equivalent \
                     between pods: not exported.",
                    socket.name,
                    socket.listen.describe()
                ),
            });
        }
        match service.instances {
            Instances::Count(1) => {}
            Instances::Count(count) => notes.push(format!(
                "instances = {count}: {count} pods, interchangeable: they get no \
                 WRANGLE_INSTANCE or WRANGLE_INSTANCES (a StatefulSet numbers its pods, in their \
                 names)."
            )),
            Instances::PerCpu => notes.push(
                "instances = \"max\" (one per CPU) has no equivalent: 1 replica; scale with \
                 kubectl scale or a HorizontalPodAutoscaler."
                    .to_string(),
            ),
        }
        if service
            .ready
            .as_ref()
            .is_some_and(|probe| probe.per_instance)
        {
            notes.push(
                "ready.per_instance: every pod is probed on the probe's own port (each pod has \
                 its own address)."
                    .to_string(),
            );
        }
    }

    fn labels(&self, id: ServiceId) -> Node {
        let mut labels = MapBuilder::new();
        labels
            .entry(NAME_LABEL, Node::str(&self.names[id]))
            .entry(PART_OF_LABEL, Node::str(&self.part_of));
        labels.build()
    }

    fn metadata(&self, name: &str, id: ServiceId) -> Node {
        let mut metadata = MapBuilder::new();
        metadata
            .entry("name", Node::str(name))
            .entry("labels", self.labels(id));
        metadata.build()
    }

    fn config_map_name(&self, id: ServiceId) -> String {
        format!("{}-env", self.names[id])
    }

    /// The service's environment as a ConfigMap (none when it is empty), and the variables whose
    /// names a ConfigMap cannot hold.
    fn config_map(&self, id: ServiceId) -> (Option<Node>, Vec<String>) {
        let service = &self.spec.services[id];
        let mut data = MapBuilder::new();
        let mut skipped = Vec::new();
        for (name, value) in &service.env {
            match is_config_map_key(name) {
                true => {
                    data.entry(name.clone(), Node::str(value));
                }
                false => skipped.push(name.clone()),
            }
        }
        if data.is_empty() {
            return (None, skipped);
        }
        let mut config_map = MapBuilder::new();
        config_map
            .entry("apiVersion", Node::str("v1"))
            .entry("kind", Node::str("ConfigMap"))
            .entry("metadata", self.metadata(&self.config_map_name(id), id))
            .entry("data", data.build());
        (Some(config_map.build()), skipped)
    }

    fn has_config_map(&self, id: ServiceId) -> bool {
        self.spec.services[id]
            .env
            .keys()
            .any(|name| is_config_map_key(name))
    }

    /// A Deployment, or a Job for a service that is never restarted.
    fn workload(&self, id: ServiceId, notes: &mut Vec<String>) -> Node {
        let service = &self.spec.services[id];
        let job = service.restart.policy == RestartPolicy::Never;
        let replicas = match service.instances {
            Instances::Count(count) => i64::from(count),
            Instances::PerCpu => 1,
        };
        let mut pod = MapBuilder::new();
        if job {
            pod.entry("restartPolicy", Node::str("Never"));
        }
        pod.entry(
            "terminationGracePeriodSeconds",
            Node::Int(seconds_i64(whole_seconds(service.stop.timeout, 1))),
        );
        let init = self.init_containers(id, notes);
        if !init.is_empty() {
            pod.entry("initContainers", Node::seq(init));
        }
        pod.entry("containers", Node::seq(vec![self.container(id, notes)]));
        let mut template = MapBuilder::new();
        template
            .entry("metadata", {
                let mut metadata = MapBuilder::new();
                metadata.entry("labels", self.labels(id));
                metadata.build()
            })
            .entry("spec", pod.build());
        let mut spec = MapBuilder::new();
        match job {
            true => {
                if replicas > 1 {
                    spec.entry("parallelism", Node::Int(replicas))
                        .entry("completions", Node::Int(replicas));
                }
                spec.entry("backoffLimit", Node::Int(0));
            }
            false => {
                spec.entry("replicas", Node::Int(replicas))
                    .entry("selector", {
                        let mut selector = MapBuilder::new();
                        selector.entry("matchLabels", self.labels(id));
                        selector.build()
                    });
            }
        }
        spec.entry("template", template.build());
        let mut workload = MapBuilder::new();
        let (api_version, kind) = match job {
            true => ("batch/v1", "Job"),
            false => ("apps/v1", "Deployment"),
        };
        workload
            .entry("apiVersion", Node::str(api_version))
            .entry("kind", Node::str(kind))
            .entry("metadata", self.metadata(&self.names[id], id))
            .entry("spec", spec.build());
        workload.build()
    }

    /// The service's own container, with its probes and notes on what has no equivalent.
    fn container(&self, id: ServiceId, notes: &mut Vec<String>) -> Node {
        let service = &self.spec.services[id];
        let mut container = self.container_base(id, notes);
        self.socket_and_instance_notes(id, notes);
        let ports = self.ports(id);
        if !ports.is_empty() {
            let ports = ports
                .iter()
                .map(|port| {
                    let mut entry = MapBuilder::new();
                    entry
                        .entry("name", Node::str(port_name(*port)))
                        .entry("containerPort", Node::Int(i64::from(*port)));
                    entry.build()
                })
                .collect();
            container.entry("ports", Node::seq(ports));
        }
        let mut startup_probe_written = false;
        if let Some(probe) = &service.ready {
            match probe_action(&probe.check) {
                ProbeAction::Exported(action) => {
                    startup_probe_written = true;
                    if probe.interval.subsec_nanos() > 0 {
                        notes.push(format!(
                            "ready.interval = {}: Kubernetes probes at most once a second.",
                            super::duration_text(probe.interval)
                        ));
                    }
                    container.entry("startupProbe", startup_probe(&action, probe));
                    container.entry("readinessProbe", readiness_probe(action, probe));
                }
                ProbeAction::None(why) => notes.push(why),
            }
        }
        if let Some(live) = &service.live {
            match probe_action(&live.check) {
                ProbeAction::Exported(action) => {
                    if live.interval.subsec_nanos() > 0 || live.timeout.subsec_nanos() > 0 {
                        notes.push(
                            "live: Kubernetes probes in whole seconds; the interval and \
                             timeout are rounded up."
                                .to_string(),
                        );
                    }
                    if !startup_probe_written {
                        notes.push(
                            "live: wrangle checks liveness from the instance's readiness on; \
                             Kubernetes from the container's start, and no startupProbe holds \
                             it back here: add initialDelaySeconds if the service starts slowly."
                                .to_string(),
                        );
                    }
                    container.entry("livenessProbe", liveness_probe(action, live));
                }
                ProbeAction::None(why) => notes.push(why),
            }
        }
        if !matches!(service.stop.signal, Signal::TERM) {
            notes.push(format!(
                "stop_signal = {}: Kubernetes stops a container with the image's STOPSIGNAL \
                 (SIGTERM unless the image says otherwise); set STOPSIGNAL in the image.",
                service.stop.signal.name()
            ));
        }
        if service.limits.max_memory.is_some() {
            notes.push(
                "max_memory: wrangle restarts the service gracefully when it uses more; with \
                 resources.limits.memory the kernel kills it instead (OOMKilled), then it is \
                 restarted."
                    .to_string(),
            );
        }
        if let Some(nice) = service.process.nice {
            notes.push(format!(
                "nice = {nice} has no Kubernetes equivalent: a pod's CPU share is its \
                 resources.requests.cpu."
            ));
        }
        let limits: Vec<&str> = service
            .process
            .rlimits
            .each()
            .into_iter()
            .filter(|(_, limit)| limit.is_some())
            .map(|(key, _)| key)
            .collect();
        if !limits.is_empty() {
            notes.push(format!(
                "limits ({}) have no Kubernetes equivalent: a container gets the ulimits of \
                 its container runtime, set on the node.",
                limits.join(", ")
            ));
        }
        let others: Vec<String> = service
            .depends_on
            .iter()
            .filter(|dependency| dependency.condition != DependencyCondition::Completed)
            .map(|dependency| {
                format!(
                    "{} ({})",
                    self.spec.services[dependency.service].name,
                    dependency.condition.as_str()
                )
            })
            .collect();
        let restarted: Vec<&str> = service
            .depends_on
            .iter()
            .filter(|dependency| dependency.restart)
            .map(|dependency| self.spec.services[dependency.service].name.as_str())
            .collect();
        if !restarted.is_empty() {
            notes.push(format!(
                "depends_on {} with restart = true has no Kubernetes equivalent: a new pod of \
                 it does not restart this one.",
                restarted.join(", ")
            ));
        }
        if !others.is_empty() {
            notes.push(format!(
                "depends_on {}: Kubernetes starts every workload at once, so this one does not \
                 wait; it is restarted until what it needs answers, and its readiness probe \
                 keeps traffic away until then.",
                others.join(", ")
            ));
        }
        container.build()
    }

    /// What the service's container and an init container running it share: name, image,
    /// command, environment, working directory, memory limit.
    fn container_base(&self, id: ServiceId, notes: &mut Vec<String>) -> MapBuilder {
        let service = &self.spec.services[id];
        let mut container = MapBuilder::new();
        container
            .entry("name", Node::str(&self.names[id]))
            .entry("image", Node::str(&self.images[id]))
            .entry(
                "command",
                Node::Seq(
                    service
                        .command
                        .argv
                        .iter()
                        .map(|word| yaml::Item::new(Node::Str(word.replace('$', "$$"))))
                        .collect(),
                ),
            );
        if service.command.shell {
            notes.push(format!(
                "shell = true: {} runs as sh -c in the image, which needs a shell named sh on \
                 its PATH.",
                service.name
            ));
        }
        if service.cwd != self.spec.root {
            notes.push(format!(
                "cwd: wrangle runs {} in {}; set workingDir to where that directory is in the \
                 image.",
                service.name,
                super::project_path(&self.spec.root, &service.cwd)
            ));
        }
        if self.has_config_map(id) {
            let mut reference = MapBuilder::new();
            reference.entry("name", Node::str(self.config_map_name(id)));
            let mut source = MapBuilder::new();
            source.entry("configMapRef", reference.build());
            container.entry("envFrom", Node::seq(vec![source.build()]));
        }
        let mut limits = MapBuilder::new();
        if let Some(millionths) = service.process.cpu_max {
            // Millicores, at least the 1m Kubernetes accepts.
            limits.entry(
                "cpu",
                Node::str(format!("{}m", millionths.div_ceil(1000).max(1))),
            );
        }
        if let Some(bytes) = service.limits.max_memory {
            limits.entry("memory", Node::str(quantity(bytes)));
        }
        if !limits.is_empty() {
            let mut resources = MapBuilder::new();
            resources.entry("limits", limits.build());
            container.entry("resources", resources.build());
        }
        if let Some(context) = security_context(service, notes) {
            container.entry("securityContext", context);
        }
        container
    }

    /// The completed dependencies of `id`, and theirs, dependencies first: each as an init
    /// container that runs it to completion before the pod's containers start.
    fn init_containers(&self, id: ServiceId, notes: &mut Vec<String>) -> Vec<Node> {
        let mut order = Vec::new();
        self.collect_completed(id, &mut order);
        order
            .into_iter()
            .map(|dependency| {
                let other = &self.spec.services[dependency];
                notes.push(format!(
                    "depends_on {} = \"completed\": {} runs as an init container before this \
                     pod's containers start: once per pod (each replica, each new pod), not \
                     once for the project.",
                    other.name, other.name
                ));
                if other.ready.is_some() {
                    notes.push(format!(
                        "The readiness check of {} is not exported: an init container has no \
                         probes.",
                        other.name
                    ));
                }
                let waits: Vec<&str> = other
                    .depends_on
                    .iter()
                    .filter(|inner| inner.condition != DependencyCondition::Completed)
                    .map(|inner| self.spec.services[inner.service].name.as_str())
                    .collect();
                if !waits.is_empty() {
                    notes.push(format!(
                        "{} depends on {}, which an init container cannot wait for: it fails \
                         (and the pod restarts) until they answer.",
                        other.name,
                        waits.join(", ")
                    ));
                }
                let mut ignored = Vec::new();
                self.container_base(dependency, &mut ignored).build()
            })
            .collect()
    }

    fn collect_completed(&self, id: ServiceId, order: &mut Vec<ServiceId>) {
        for dependency in &self.spec.services[id].depends_on {
            if dependency.condition == DependencyCondition::Completed
                && !order.contains(&dependency.service)
            {
                self.collect_completed(dependency.service, order);
                if !order.contains(&dependency.service) {
                    order.push(dependency.service);
                }
            }
        }
    }

    /// A ClusterIP Service with the service's ports, named like its workload.
    fn service_object(&self, id: ServiceId) -> Node {
        let ports = self
            .ports(id)
            .iter()
            .map(|port| {
                let mut entry = MapBuilder::new();
                entry
                    .entry("name", Node::str(port_name(*port)))
                    .entry("port", Node::Int(i64::from(*port)))
                    .entry("targetPort", Node::Int(i64::from(*port)));
                entry.build()
            })
            .collect();
        let mut spec = MapBuilder::new();
        spec.entry("selector", self.labels(id))
            .entry("ports", Node::seq(ports));
        let mut object = MapBuilder::new();
        object
            .entry("apiVersion", Node::str("v1"))
            .entry("kind", Node::str("Service"))
            .entry("metadata", self.metadata(&self.names[id], id))
            .entry("spec", spec.build());
        object.build()
    }
}

/// `---`, the notes as comments, the document.
fn document(out: &mut String, notes: &[String], node: &Node) {
    out.push_str("---\n");
    for note in notes {
        yaml::comment_lines(out, note, 0);
    }
    out.push_str(&yaml::document(node));
}

fn seconds_i64(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// Services some service depends on with `completed`.
fn completed_dependencies(spec: &ProjectSpec) -> Vec<bool> {
    let mut init_only = vec![false; spec.services.len()];
    for service in &spec.services {
        for dependency in &service.depends_on {
            if dependency.condition == DependencyCondition::Completed {
                init_only[dependency.service] = true;
            }
        }
    }
    init_only
}

/// Each service's object name: lower case, `_` and `.` as `-`, starting with a letter (`s-` is
/// put first otherwise), at most 63 characters. Two services that would share a name are a
/// problem: the output would mix them up.
fn object_names(spec: &ProjectSpec, problems: &mut Vec<String>) -> Vec<String> {
    let names: Vec<String> = spec
        .services
        .iter()
        .map(|service| object_name(&service.name))
        .collect();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (name, service) in names.iter().zip(&spec.services) {
        if let Some(first) = seen.insert(name, &service.name) {
            problems.push(format!(
                "services \"{first}\" and \"{}\" would both be named \"{name}\" in Kubernetes \
                 (names are lower case, with '-' for '_' and '.', at most {MAX_LABEL} \
                 characters): rename one",
                service.name
            ));
        }
    }
    names
}

fn object_name(service: &str) -> String {
    let lowered: String = service
        .chars()
        .map(|c| match c {
            '_' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let prefixed = match lowered.starts_with(|c: char| c.is_ascii_alphabetic()) {
        true => lowered,
        false => format!("s-{lowered}"),
    };
    let truncated: String = prefixed.chars().take(MAX_LABEL).collect();
    truncated.trim_end_matches('-').to_string()
}

/// A label value: letters, digits, `-`, `_` and `.`, alphanumeric at both ends, at most 63.
fn label_value(text: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let ends = |c: char| !c.is_ascii_alphanumeric();
    let cleaned: String = text
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .collect();
    let truncated: String = cleaned.trim_matches(ends).chars().take(MAX_LABEL).collect();
    match truncated.trim_matches(ends) {
        "" => "project".to_string(),
        value => value.to_string(),
    }
}

/// A ConfigMap key: letters, digits, `-`, `_` and `.`, at most 253.
fn is_config_map_key(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A port's name (at most 15 characters, a letter in it): `tcp-8080`.
fn port_name(port: u16) -> String {
    format!("tcp-{port}")
}

/// Bytes as a Kubernetes quantity: `512Mi` when exact, else bytes.
fn quantity(bytes: u64) -> String {
    match super::binary_units(bytes) {
        Some((count, unit)) => format!("{count}{unit}"),
        None => bytes.to_string(),
    }
}

mod probes;
#[cfg(test)]
mod tests;
