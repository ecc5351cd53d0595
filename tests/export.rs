//! `wrangle export`: the real binary on copies of `examples/demo` and of a project that uses every
//! key (`tests/fixtures/export/every-key`), compared with golden files; the output checked by
//! independent readers: `systemd-analyze verify`, the Kubernetes and Compose JSON schemas, a
//! YAML 1.1 parser; the Compose file read back and compared with the config; and the rules for
//! writing files (symbolic links, files an export did not write, private modes).
//!
//! Golden files live in `tests/golden/export/<project>/`, with the project's directory written
//! `/srv/<project>`. After an intended change of the output, rewrite them with
//! `WRANGLE_BLESS=1 cargo nextest run -E 'test(export::)'` and review the diff.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::support::{self, Finished, Project};

/// A fixture project copied into a test's temporary directory under its own name (the name
/// becomes the project's name in the output).
struct Exported {
    project: Project,
    name: &'static str,
}

impl Exported {
    fn new(name: &'static str) -> Exported {
        let source = match name {
            "demo" => repo().join("examples/demo"),
            other => repo().join("tests/fixtures/export").join(other),
        };
        let project = Project::empty();
        copy_tree(&source, &project.path(name));
        Exported { project, name }
    }

    fn root(&self) -> PathBuf {
        self.project.path(self.name)
    }

    fn config(&self) -> String {
        format!("{}/wrangle.toml", self.name)
    }

    /// `wrangle export FORMAT -f <project>/wrangle.toml ARGS`, which must succeed.
    fn export(&self, format: &str, args: &[&str]) -> Finished {
        let config = self.config();
        let mut all = vec!["export", format, "-f", config.as_str()];
        all.extend_from_slice(args);
        let finished = self.project.run(&all);
        assert_eq!(finished.code, 0, "wrangle {all:?}: {finished:?}");
        finished
    }

    /// The text with this copy's directory written as `/srv/<name>`, as in the golden files.
    fn normalize(&self, text: &str) -> String {
        text.replace(
            &self.root().display().to_string(),
            &format!("/srv/{}", self.name),
        )
    }

    fn spec(&self) -> wrangle::spec::ProjectSpec {
        // As `wrangle export` loads it: `user` and `group` name the target's accounts.
        let trust = wrangle::config::Trust::new(
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        )
        .exporting();
        wrangle::config::load(
            &self.root().join("wrangle.toml"),
            wrangle::config::Origin::Named,
            &trust,
        )
        .expect("the fixture loads")
        .spec
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy's directory");
    for entry in fs::read_dir(from).expect("read a fixture directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            // fs::copy keeps the mode: bin/server stays executable.
            fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// Compares `actual` with the golden file `tests/golden/export/<relative>` (see
/// `support::check_golden`).
fn check_golden(relative: &str, actual: &str) {
    support::check_golden(
        &repo().join("tests/golden/export").join(relative),
        actual,
        "WRANGLE_BLESS=1 cargo nextest run -E 'test(export::)'",
    );
}

/// A Compose list of ports (`ports`, `expose`) as strings; empty when absent.
fn port_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| port.as_str().expect("a port").to_string())
        .collect()
}

/// The files of a directory, by name, sorted.
fn files_in(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fs::read_dir(dir)
        .expect("read the output directory")
        .map(|entry| {
            let entry = entry.expect("an entry");
            (
                entry.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(entry.path()).expect("read an output file"),
            )
        })
        .collect();
    files.sort();
    files
}

/// Every YAML document of `text`, read by serde_norway.
fn yaml_documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).expect("valid YAML"))
        .collect()
}

// --- systemd ---------------------------------------------------------------------------------

fn export_systemd(exported: &Exported) -> PathBuf {
    let dir = exported.project.path("units");
    exported.export("systemd", &[dir.to_str().expect("utf-8")]);
    dir
}

#[test]
fn systemd_units_of_the_demo_match_the_golden_files() {
    let exported = Exported::new("demo");
    let dir = export_systemd(&exported);
    for (name, text) in files_in(&dir) {
        check_golden(&format!("demo/systemd/{name}"), &exported.normalize(&text));
    }
}

#[test]
fn systemd_units_of_every_key_match_the_golden_files() {
    let exported = Exported::new("every-key");
    let dir = export_systemd(&exported);
    let files = files_in(&dir);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "every-key-Odd_Name.v2.service",
            "every-key-admin.socket",
            "every-key-api.service",
            "every-key-checker.service",
            "every-key-db.service",
            "every-key-http.socket",
            "every-key-migrate.service",
            "every-key-notifier.service",
            "every-key-report.service",
            "every-key-web@.service",
            "every-key-worker@.service",
            "every-key.target",
        ]
    );
    for (name, text) in &files {
        check_golden(
            &format!("every-key/systemd/{name}"),
            &exported.normalize(text),
        );
    }
}

/// `systemd-analyze verify` on every unit of both projects: no error and no warning. Skipped,
/// with the reason printed, where systemd's tools are not installed.
#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    for name in ["demo", "every-key"] {
        let exported = Exported::new(name);
        let dir = export_systemd(&exported);
        let units: Vec<PathBuf> = files_in(&dir)
            .into_iter()
            .map(|(file, _)| dir.join(file))
            .collect();
        let output = Command::new("systemd-analyze")
            .arg("verify")
            .args(&units)
            .env("SYSTEMD_LOG_COLOR", "0")
            .output()
            .expect("run systemd-analyze");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stderr.trim().is_empty(),
            "systemd-analyze verify {name}: {:?}\n{stderr}",
            output.status
        );
    }
}

// --- Kubernetes --------------------------------------------------------------------------------

fn export_kubernetes_stream(exported: &Exported) -> String {
    let finished = exported.export("kubernetes", &["-", "--image", "registry.example/base:2"]);
    finished.stdout
}

#[test]
fn kubernetes_manifests_match_the_golden_files() {
    for name in ["demo", "every-key"] {
        let exported = Exported::new(name);
        let stream = export_kubernetes_stream(&exported);
        check_golden(
            &format!("{name}/kubernetes.yaml"),
            &exported.normalize(&stream),
        );
    }
}

/// The directory form holds the same documents as the stream, one file per service that has
/// anything of its own to apply, each with the header.
#[test]
fn kubernetes_directory_files_split_the_stream_by_service() {
    let exported = Exported::new("every-key");
    let stream = export_kubernetes_stream(&exported);
    let dir = exported.project.path("manifests");
    exported.export(
        "kubernetes",
        &[
            dir.to_str().expect("utf-8"),
            "--image",
            "registry.example/base:2",
        ],
    );
    let files = files_in(&dir);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "api.yaml",
            "checker.yaml",
            "db.yaml",
            "migrate.yaml",
            "notifier.yaml",
            "odd-name-v2.yaml",
            "report.yaml",
            "web.yaml",
            "worker.yaml",
        ]
    );
    let header_end = stream.find("\n---\n").expect("a first document") + 1;
    let header = &stream[..header_end];
    let mut joined = String::from(header);
    for service in [
        "db",
        "migrate",
        "api",
        "worker",
        "notifier",
        "checker",
        "odd-name-v2",
        "report",
        "web",
    ] {
        let (_, text) = files
            .iter()
            .find(|(name, _)| *name == format!("{service}.yaml"))
            .expect("a file per service");
        let body = text.strip_prefix(header).expect("the same header");
        joined.push_str(body);
    }
    assert_eq!(joined, stream);
}

/// Every document is valid against the Kubernetes 1.33 schema of its kind, and holds what a
/// schema cannot check: names Kubernetes accepts, selectors that match their pods, a Job that
/// does not restart, envFrom naming a ConfigMap of the output.
#[test]
fn kubernetes_manifests_are_valid_for_kubernetes_1_33() {
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(repo().join("tests/fixtures/export/schemas/kubernetes-1.33.json"))
            .expect("read the vendored schema"),
    )
    .expect("the schema is JSON");
    for name in ["demo", "every-key"] {
        let exported = Exported::new(name);
        let documents = yaml_documents(&export_kubernetes_stream(&exported));
        assert!(!documents.is_empty());
        let config_maps: Vec<&str> = documents
            .iter()
            .filter(|document| document["kind"] == "ConfigMap")
            .map(|document| document["metadata"]["name"].as_str().expect("a name"))
            .collect();
        for document in &documents {
            let kind = document["kind"].as_str().expect("a kind");
            let mut rooted = schema.clone();
            rooted["$ref"] = Value::String(format!("#/$defs/{kind}"));
            let validator = jsonschema::validator_for(&rooted).expect("the schema compiles");
            let errors: Vec<String> = validator
                .iter_errors(document)
                .map(|error| format!("{} at {}", error, error.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{name}: {kind} {} is invalid:\n{}",
                document["metadata"]["name"],
                errors.join("\n")
            );
            let object = document["metadata"]["name"].as_str().expect("a name");
            assert!(is_dns_label(object), "{object} is not a DNS label");
            if kind == "Deployment" || kind == "Job" {
                check_pod(document, kind, &config_maps);
            }
        }
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_pod(workload: &Value, kind: &str, config_maps: &[&str]) {
    let template = &workload["spec"]["template"];
    let pod = &template["spec"];
    if kind == "Deployment" {
        let selector = workload["spec"]["selector"]["matchLabels"]
            .as_object()
            .expect("matchLabels");
        for (key, value) in selector {
            assert_eq!(&template["metadata"]["labels"][key], value, "{workload}");
        }
        assert!(pod.get("restartPolicy").is_none() || pod["restartPolicy"] == "Always");
    } else {
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(workload["spec"]["backoffLimit"], 0);
    }
    let mut names = Vec::new();
    for list in ["initContainers", "containers"] {
        for container in pod[list].as_array().into_iter().flatten() {
            let name = container["name"].as_str().expect("a container name");
            assert!(is_dns_label(name), "{name}");
            names.push(name);
            for source in container["envFrom"].as_array().into_iter().flatten() {
                let config_map = source["configMapRef"]["name"].as_str().expect("a name");
                assert!(config_maps.contains(&config_map), "{config_map} is missing");
            }
            if list == "initContainers" {
                for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                    assert!(container.get(probe).is_none(), "{name} has a {probe}");
                }
            }
        }
    }
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "container names repeat in {workload}");
}

/// What the Kubernetes output says of every-key's services, read back: the environment exactly
/// (ConfigMap keys and values), the commands with `$$` expansion undone, probes and init
/// containers.
#[test]
fn kubernetes_manifests_carry_the_values_exactly() {
    let exported = Exported::new("every-key");
    let spec = exported.spec();
    let documents = yaml_documents(&export_kubernetes_stream(&exported));
    let find = |kind: &str, name: &str| {
        documents
            .iter()
            .find(|document| document["kind"] == kind && document["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    };
    let api = spec.services.iter().find(|s| s.name == "api").expect("api");
    let data = find("ConfigMap", "api-env")["data"]
        .as_object()
        .expect("data")
        .clone();
    let exported_env: Vec<(String, String)> = data
        .into_iter()
        .map(|(key, value)| (key, value.as_str().expect("a string").to_string()))
        .collect();
    let expected_env: Vec<(String, String)> = api
        .env
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    assert_eq!(exported_env, expected_env);
    let deployment = find("Deployment", "api");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/api:1.4");
    let command: Vec<String> = container["command"]
        .as_array()
        .expect("a command")
        .iter()
        .map(|word| word.as_str().expect("a word").replace("$$", "$"))
        .collect();
    assert_eq!(command, api.command.argv);
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        "/health?full=1"
    );
    assert_eq!(container["readinessProbe"]["periodSeconds"], 10);
    assert_eq!(container["startupProbe"]["failureThreshold"], 60);
    assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(pod["initContainers"][0]["name"], "migrate");
    let job = &find("Job", "report")["spec"];
    assert_eq!(job["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["initContainers"][0]["image"], "registry.example/base:2");
    let migrate = find("ConfigMap", "migrate-env");
    assert_eq!(migrate["data"]["YES"], "yes");
    assert!(
        documents
            .iter()
            .all(|document| document["metadata"]["name"] != "migrate"
                || document["kind"] == "ConfigMap"),
        "migrate runs as an init container only"
    );
}

// --- Compose ---------------------------------------------------------------------------------

fn export_compose(exported: &Exported) -> String {
    let file = exported.project.path("compose.yaml");
    exported.export(
        "compose",
        &[
            file.to_str().expect("utf-8"),
            "--image",
            "registry.example/base:2",
        ],
    );
    fs::read_to_string(file).expect("read the compose file")
}

#[test]
fn compose_files_match_the_golden_files() {
    for name in ["demo", "every-key"] {
        let exported = Exported::new(name);
        let text = export_compose(&exported);
        check_golden(&format!("{name}/compose.yaml"), &exported.normalize(&text));
    }
}

#[test]
fn compose_files_are_valid_against_the_compose_specification() {
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(repo().join("tests/fixtures/export/schemas/compose-spec.json"))
            .expect("read the vendored schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for name in ["demo", "every-key"] {
        let exported = Exported::new(name);
        let documents = yaml_documents(&export_compose(&exported));
        assert_eq!(documents.len(), 1);
        let errors: Vec<String> = validator
            .iter_errors(&documents[0])
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    }
}

/// The Compose file read back gives the project again: every service with its command, working
/// directory, environment (exactly, `$$` undone), ports, dependency conditions, restart policy,
/// stop settings, memory limit and healthcheck.
#[test]
fn the_compose_file_reads_back_as_the_project() {
    use wrangle::spec::{DependencyCondition, Instances, ListenAddress, ReadyCheck, RestartPolicy};
    for name in ["demo", "every-key"] {
        let exported = Exported::new(name);
        let spec = exported.spec();
        let documents = yaml_documents(&export_compose(&exported));
        let services = documents[0]["services"].as_object().expect("services");
        let unescape = |value: &Value| value.as_str().expect("a string").replace("$$", "$");
        // serde_json's map is sorted by key: compare the sets (the golden files show the order).
        let names: Vec<&str> = services.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
        expected.sort();
        assert_eq!(names, expected, "{name}");
        for service in &spec.services {
            let entry = &services[&service.name];
            let context = format!("{name}/{}", service.name);
            let entrypoint: Vec<String> = entry["entrypoint"]
                .as_array()
                .expect("an entrypoint")
                .iter()
                .map(unescape)
                .collect();
            assert_eq!(entrypoint, service.command.argv, "{context}");
            assert_eq!(
                unescape(&entry["working_dir"]),
                service.cwd.to_str().expect("utf-8"),
                "{context}"
            );
            let environment: Vec<(String, String)> = entry["environment"]
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(key, value)| (key.clone(), unescape(value)))
                        .collect()
                })
                .unwrap_or_default();
            let expected_env: Vec<(String, String)> = service
                .env
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            assert_eq!(environment, expected_env, "{context}");
            let ports = port_list(&entry["ports"]);
            // A TCP socket's port is published like a `port` for one instance, exposed to the
            // other services only for several (each replica would bind it on the host).
            let socket_ports: Vec<u16> = service
                .sockets
                .iter()
                .filter_map(|id| match &spec.sockets[*id].listen {
                    ListenAddress::Tcp(address) => Some(address.port()),
                    ListenAddress::Unix(_) => None,
                })
                .collect();
            let replicas = match service.instances {
                Instances::Count(count) => count,
                Instances::PerCpu => 1,
            };
            let (published, exposed) = match replicas {
                1 => (socket_ports, Vec::new()),
                _ => (Vec::new(), socket_ports),
            };
            let expected_ports: Vec<String> = service
                .ports
                .iter()
                .chain(&published)
                .map(|port| format!("127.0.0.1:{port}:{port}"))
                .collect();
            assert_eq!(ports, expected_ports, "{context}");
            let exposed_ports = port_list(&entry["expose"]);
            let exposed: Vec<String> = exposed.iter().map(u16::to_string).collect();
            assert_eq!(exposed_ports, exposed, "{context}");
            match replicas {
                1 => assert!(entry.get("deploy").is_none(), "{context}"),
                count => assert_eq!(entry["deploy"]["replicas"], count, "{context}"),
            }
            let restart = match service.restart.policy {
                RestartPolicy::Never => "no",
                RestartPolicy::OnFailure => "on-failure",
                RestartPolicy::Always => "always",
            };
            assert_eq!(entry["restart"], restart, "{context}");
            let signal = service.stop.signal.name();
            let signal = match signal.starts_with("SIG") {
                true => signal,
                false => service.stop.signal.0.to_string(),
            };
            assert_eq!(entry["stop_signal"], Value::String(signal), "{context}");
            assert_eq!(
                humantime::parse_duration(entry["stop_grace_period"].as_str().expect("a period"))
                    .expect("a duration"),
                service.stop.timeout,
                "{context}"
            );
            match service.limits.max_memory {
                Some(bytes) => assert_eq!(entry["mem_limit"], bytes, "{context}"),
                None => assert!(entry.get("mem_limit").is_none(), "{context}"),
            }
            for (key, limit) in service.process.rlimits.each() {
                let exported = entry["ulimits"].get(key);
                match limit {
                    None => assert!(exported.is_none(), "{context}: {key}"),
                    Some(u64::MAX) => assert_eq!(exported, Some(&Value::from(-1)), "{context}"),
                    Some(limit) => assert_eq!(exported, Some(&Value::from(limit)), "{context}"),
                }
            }
            for dependency in &service.depends_on {
                let other = &spec.services[dependency.service];
                let edge = &entry["depends_on"][&other.name];
                let condition = match (dependency.condition, &other.ready) {
                    (DependencyCondition::Started, _) => "service_started",
                    (DependencyCondition::Completed, _) => "service_completed_successfully",
                    (DependencyCondition::Ready, None) => "service_started",
                    (DependencyCondition::Ready, Some(probe)) => match probe.check {
                        ReadyCheck::Log { .. } | ReadyCheck::Notify => "service_started",
                        _ => "service_healthy",
                    },
                };
                assert_eq!(edge["condition"], condition, "{context} -> {}", other.name);
                assert_eq!(
                    edge.get("restart").is_some_and(|restart| restart == true),
                    dependency.restart,
                    "{context}"
                );
            }
            let test = &entry["healthcheck"]["test"];
            match service.ready.as_ref().map(|probe| &probe.check) {
                Some(ReadyCheck::Exec { command }) => {
                    let words: Vec<String> = test
                        .as_array()
                        .expect("a test")
                        .iter()
                        .map(unescape)
                        .collect();
                    assert_eq!(words[0], "CMD");
                    assert_eq!(words[1..], command.argv[..], "{context}");
                }
                Some(ReadyCheck::Http { url }) => {
                    assert_eq!(
                        test.as_array().and_then(|words| words.last()).map(unescape),
                        Some(url.clone()),
                        "{context}"
                    );
                }
                Some(ReadyCheck::Tcp { host, port }) => {
                    let script = unescape(&test[3]);
                    assert!(
                        script.contains(&format!("/dev/tcp/{host}/{port}")),
                        "{script}"
                    );
                }
                Some(ReadyCheck::Log { .. } | ReadyCheck::Notify) | None => {
                    assert!(entry.get("healthcheck").is_none(), "{context}")
                }
            }
        }
    }
}

// --- YAML read by another parser ------------------------------------------------------------

/// PyYAML reads YAML 1.1 (as Kubernetes' own parser does for booleans: `on`, `yes`, `no`): every
/// document it reads equals what serde_norway (YAML 1.2) reads, so no value of every-key changed
/// type or shape between the two. Skipped, with the reason printed, without PyYAML.
#[test]
fn a_yaml_1_1_parser_reads_the_same_values() {
    let probe = Command::new("python3").args(["-c", "import yaml"]).output();
    if !probe.is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: PyYAML is not installed (apt-get install python3-yaml)");
        return;
    }
    let exported = Exported::new("every-key");
    for text in [
        export_kubernetes_stream(&exported),
        export_compose(&exported),
    ] {
        let input = exported.project.path("input.yaml");
        fs::write(&input, &text).expect("write the input");
        let output = Command::new("python3")
            .args([
                "-c",
                "import json, sys, yaml\n\
                 json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
            ])
            .arg(&input)
            .output()
            .expect("run python3");
        assert!(output.status.success(), "{output:?}");
        let python: Value = serde_json::from_slice(&output.stdout).expect("JSON from python");
        assert_eq!(python, Value::Array(yaml_documents(&text)));
    }
}

// --- Errors and writing files --------------------------------------------------------------

#[test]
fn an_image_is_required_unless_every_service_names_one() {
    let exported = Exported::new("demo");
    let config = exported.config();
    for format in ["kubernetes", "compose"] {
        let finished = exported
            .project
            .run(&["export", format, "-f", &config, "-"]);
        assert_eq!(finished.code, 2, "{finished:?}");
        assert!(
            finished.stderr.contains(
                "service \"db\" has no image: wrangle runs commands, not images; pass --image IMAGE"
            ),
            "{finished:?}"
        );
        assert!(
            finished.stderr.contains("service \"worker\""),
            "{finished:?}"
        );
        assert!(finished.stdout.is_empty(), "{finished:?}");
        let finished =
            exported
                .project
                .run(&["export", format, "-f", &config, "-", "--image", "bad image"]);
        assert_eq!(finished.code, 2, "{finished:?}");
        assert!(finished.stderr.contains("invalid --image"), "{finished:?}");
    }
}

#[test]
fn a_config_error_is_reported_with_its_location_and_nothing_is_written() {
    let project = Project::new("[services.api]\ncomand = \"x\"\n");
    let finished = project.run(&["export", "systemd", "units"]);
    assert_eq!(finished.code, 2, "{finished:?}");
    assert!(finished.stderr.contains("wrangle.toml:2:1"), "{finished:?}");
    assert!(!project.exists("units"));
}

#[test]
fn a_file_the_export_did_not_write_is_not_replaced_without_force() {
    let exported = Exported::new("demo");
    let dir = exported.project.path("units");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("demo-api.service"), "# my own unit\n").expect("write");
    let config = exported.config();
    let dir_text = dir.to_str().expect("utf-8");
    let finished = exported
        .project
        .run(&["export", "systemd", "-f", &config, dir_text]);
    assert_eq!(finished.code, 2, "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("demo-api.service: a file that wrangle export did not write; use --force"),
        "{finished:?}"
    );
    assert_eq!(files_in(&dir).len(), 1, "nothing else was written");
    let finished = exported
        .project
        .run(&["export", "systemd", "-f", &config, dir_text, "--force"]);
    assert_eq!(finished.code, 0, "{finished:?}");
    let unit = fs::read_to_string(dir.join("demo-api.service")).expect("read");
    assert!(unit.starts_with("# Generated by `wrangle export systemd`"));
}

#[test]
fn a_planted_symbolic_link_is_never_followed() {
    let exported = Exported::new("demo");
    let dir = exported.project.path("units");
    fs::create_dir(&dir).expect("mkdir");
    let victim = exported.project.path("victim");
    fs::write(&victim, "precious\n").expect("write");
    std::os::unix::fs::symlink(&victim, dir.join("demo-db.service")).expect("symlink");
    let config = exported.config();
    let dir_text = dir.to_str().expect("utf-8");
    let finished = exported
        .project
        .run(&["export", "systemd", "-f", &config, dir_text]);
    assert_eq!(finished.code, 2, "{finished:?}");
    assert!(
        finished.stderr.contains("demo-db.service: a symbolic link"),
        "{finished:?}"
    );
    let finished = exported
        .project
        .run(&["export", "systemd", "-f", &config, dir_text, "--force"]);
    assert_eq!(finished.code, 0, "{finished:?}");
    assert_eq!(fs::read_to_string(&victim).expect("read"), "precious\n");
    let link = fs::symlink_metadata(dir.join("demo-db.service")).expect("stat");
    assert!(link.is_file(), "the link itself was replaced by the unit");
}

#[test]
fn exporting_again_replaces_its_own_files_and_reports_stale_ones() {
    let exported = Exported::new("demo");
    let dir = export_systemd(&exported);
    let config = exported.config();
    let dir_text = dir.to_str().expect("utf-8");
    let finished = exported
        .project
        .run(&["export", "systemd", "-f", &config, dir_text]);
    assert_eq!(finished.code, 0, "{finished:?}");
    assert!(
        finished.stdout.contains("unchanged ") && !finished.stdout.contains("wrote "),
        "{finished:?}"
    );
    // worker removed from the project: its unit is stale, reported and left in place.
    let toml = fs::read_to_string(exported.root().join("wrangle.toml")).expect("read");
    let without_worker = &toml[..toml.find("[services.worker]").expect("a worker")];
    fs::write(exported.root().join("wrangle.toml"), without_worker).expect("write");
    let finished = exported
        .project
        .run(&["export", "systemd", "-f", &config, dir_text]);
    assert_eq!(finished.code, 0, "{finished:?}");
    assert!(
        finished.stdout.contains("wrote ") && finished.stdout.contains("demo.target"),
        "{finished:?}"
    );
    assert!(
        finished
            .stderr
            .contains("demo-worker.service was written by an earlier export of this project"),
        "{finished:?}"
    );
    assert!(dir.join("demo-worker.service").exists());
}

#[test]
fn files_holding_env_file_values_are_private() {
    let exported = Exported::new("every-key");
    let dir = export_systemd(&exported);
    for (name, _) in files_in(&dir) {
        let mode = fs::metadata(dir.join(&name))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // Without env files: 0644, less what the umask (the same for wrangle as for this test)
    // takes away.
    let umask = fs::read_to_string("/proc/self/status")
        .expect("read /proc/self/status")
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))
        .map(|value| u32::from_str_radix(value.trim(), 8).expect("an octal umask"))
        .expect("a Umask line");
    let demo = Exported::new("demo");
    let dir = export_systemd(&demo);
    for (name, _) in files_in(&dir) {
        let mode = fs::metadata(dir.join(&name))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644 & !umask, "{name}: {mode:o}");
    }
}

#[test]
fn a_directory_anyone_can_write_to_is_refused() {
    let exported = Exported::new("demo");
    let dir = exported.project.path("shared");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    let config = exported.config();
    let finished = exported.project.run(&[
        "export",
        "systemd",
        "-f",
        &config,
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(finished.code, 2, "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("anyone can write to the directory"),
        "{finished:?}"
    );
    assert!(files_in(&dir).is_empty());
}

#[test]
fn kubernetes_to_standard_output_writes_no_file() {
    let exported = Exported::new("demo");
    let entries = |dir: &Path| fs::read_dir(dir).expect("read dir").count();
    let before = (entries(&exported.project.root()), entries(&exported.root()));
    let stream = export_kubernetes_stream(&exported);
    assert!(stream.starts_with("# Generated by `wrangle export kubernetes` from "));
    let after = (entries(&exported.project.root()), entries(&exported.root()));
    assert_eq!(after, before);
}
