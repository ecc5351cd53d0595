//! Unit tests of the metrics endpoint: the exposition of known snapshots (exact text), the
//! absence of unknown values, both text formats through an independent parser, content
//! negotiation, the HTTP routes, and the bind errors.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use tokio::sync::watch;

use super::exposition::{RESTART_CAUSES, STATES};
use super::*;
use crate::api::wire::{ExitInfo, ProbeStats, ResourceUsage, ServiceState, ServiceStatus};
use crate::supervisor::engine::RestartCause;

fn service(name: &str, state: ServiceState) -> ServiceStatus {
    ServiceStatus {
        name: name.to_string(),
        instance: 0,
        instances: 1,
        reloading: false,
        state,
        pid: None,
        started_at: None,
        restarts: 0,
        last_exit: None,
        ports: Vec::new(),
        sockets: Vec::new(),
        readiness: None,
        reason: None,
        log_lines_dropped: 0,
        log_error: None,
        log_bytes: 0,
        resources: None,
        restarts_by_cause: BTreeMap::new(),
        last_restart_reason: None,
        startup_seconds: None,
        probe: None,
        warnings: Vec::new(),
        next_run: None,
    }
}

fn project(services: Vec<ServiceStatus>) -> ProjectStatus {
    ProjectStatus {
        project: "/home/alice/shop/wrangle.toml".to_string(),
        name: "shop".to_string(),
        daemon_pid: 4242,
        started_at: "2026-01-02T03:04:05.500Z".to_string(),
        services,
        daemon_resources: None,
        sample_interval_ms: 5000,
        foreground: false,
        profiles: Vec::new(),
    }
}

fn usage(cpu_seconds: f64, memory_bytes: u64) -> ResourceUsage {
    ResourceUsage {
        cpu_percent: 12.5,
        cpu_machine_percent: 6.25,
        cpu_seconds,
        memory_bytes,
        processes: 3,
        threads: 7,
        open_fds: 21,
    }
}

/// Every optional figure known: every family has samples.
fn full_snapshot() -> ProjectStatus {
    let mut api = service("api", ServiceState::Ready);
    api.pid = Some(100);
    api.started_at = Some("2026-01-02T03:05:00Z".to_string());
    api.restarts = 3;
    api.restarts_by_cause = BTreeMap::from([("crash".to_string(), 2), ("manual".to_string(), 1)]);
    api.last_exit = Some(ExitInfo {
        code: Some(1),
        signal: None,
    });
    api.resources = Some(usage(1.5, 52_428_800));
    api.probe = Some(ProbeStats {
        failures: 4,
        successes: 9,
        last_latency_seconds: Some(0.25),
    });
    api.startup_seconds = Some(0.75);
    api.log_bytes = 2048;
    api.log_lines_dropped = 5;
    api.warnings = vec!["memory".to_string()];
    let mut worker = service("worker", ServiceState::Backoff);
    worker.last_exit = Some(ExitInfo {
        code: None,
        signal: Some("SIGKILL".to_string()),
    });
    worker.restarts_by_cause = BTreeMap::from([("memory_limit".to_string(), 1)]);
    let mut status = project(vec![api, worker]);
    status.daemon_resources = Some(usage(0.5, 6_000_000));
    status
}

fn render(status: ProjectStatus, format: Format) -> String {
    let (_sender, receiver) = watch::channel(Arc::new(status));
    Exporter::new(receiver).render(format).expect("encode")
}

/// A parsed sample: name, sorted labels, value, type.
type Parsed = (String, Vec<(String, String)>, f64, &'static str);

/// The samples of a Prometheus-text exposition, parsed by `prometheus-parse`. Fails when a line
/// was not understood or a family has no TYPE.
fn parse(text: &str) -> Vec<Parsed> {
    let lines = text.lines().map(|line| Ok(line.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parse");
    let sample_lines = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .count();
    assert_eq!(
        scrape.samples.len(),
        sample_lines,
        "the parser skipped lines:\n{text}"
    );
    scrape
        .samples
        .iter()
        .map(|sample| {
            let (value, kind) = match sample.value {
                prometheus_parse::Value::Counter(value) => (value, "counter"),
                prometheus_parse::Value::Gauge(value) => (value, "gauge"),
                ref other => panic!(
                    "{} is not typed as a counter or gauge: {other:?}",
                    sample.metric
                ),
            };
            let mut labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            labels.sort();
            (sample.metric.clone(), labels, value, kind)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    labels.sort();
    labels
}

/// The value of the sample `name{labels}`, if exposed.
fn value(samples: &[Parsed], name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
    let wanted = labels(pairs);
    samples
        .iter()
        .find(|(metric, labels, _, _)| metric == name && *labels == wanted)
        .map(|(_, _, value, _)| *value)
}

#[test]
fn a_minimal_snapshot_is_encoded_exactly() {
    let mut web = service("web", ServiceState::Running);
    web.log_bytes = 10;
    let mut status = project(vec![web]);
    status.started_at = "2026-01-02T03:04:05Z".to_string();
    let text = render(status.clone(), Format::PrometheusText);
    let mut states = String::new();
    for state in STATES {
        let value = u8::from(state == ServiceState::Running);
        states.push_str(&format!(
            "wrangle_service_state{{service=\"web\",state=\"{state}\"}} {value}\n"
        ));
    }
    let expected = format!(
        "\
# HELP wrangle_build_info Always 1; the version of the wrangle daemon serving these metrics
# TYPE wrangle_build_info gauge
wrangle_build_info{{version=\"{VERSION}\"}} 1
# HELP wrangle_project_info Always 1; the project this daemon runs: its name and config file
# TYPE wrangle_project_info gauge
wrangle_project_info{{project=\"shop\",config=\"/home/alice/shop/wrangle.toml\"}} 1
# HELP wrangle_daemon_start_time_seconds When the daemon started, in seconds since the Unix epoch
# TYPE wrangle_daemon_start_time_seconds gauge
wrangle_daemon_start_time_seconds 1767323045.0
# HELP wrangle_service_state 1 for the state the service is in, 0 for every other state
# TYPE wrangle_service_state gauge
{states}\
# HELP wrangle_service_up 1 while the service runs and is ready (state running or ready), else 0
# TYPE wrangle_service_up gauge
wrangle_service_up{{service=\"web\"}} 1
# HELP wrangle_service_restarts_total Restarts since the daemon started, by cause (crash, manual, dependency, memory_limit, liveness)
# TYPE wrangle_service_restarts_total counter
wrangle_service_restarts_total{{service=\"web\",cause=\"crash\"}} 0
wrangle_service_restarts_total{{service=\"web\",cause=\"manual\"}} 0
wrangle_service_restarts_total{{service=\"web\",cause=\"dependency\"}} 0
wrangle_service_restarts_total{{service=\"web\",cause=\"memory_limit\"}} 0
wrangle_service_restarts_total{{service=\"web\",cause=\"liveness\"}} 0
# HELP wrangle_service_warning 1 while a warning (cpu, memory, readiness) is in force for the service, else 0
# TYPE wrangle_service_warning gauge
wrangle_service_warning{{service=\"web\",warning=\"cpu\"}} 0
wrangle_service_warning{{service=\"web\",warning=\"memory\"}} 0
wrangle_service_warning{{service=\"web\",warning=\"readiness\"}} 0
# HELP wrangle_service_log_bytes_total Bytes of service output written to its log files
# TYPE wrangle_service_log_bytes_total counter
wrangle_service_log_bytes_total{{service=\"web\"}} 10
# HELP wrangle_service_log_lines_dropped_total Output lines that could not be written to the log files and were dropped
# TYPE wrangle_service_log_lines_dropped_total counter
wrangle_service_log_lines_dropped_total{{service=\"web\"}} 0
"
    );
    assert_eq!(text, expected);

    // OpenMetrics: the same samples; counter families named without `_total`; `# EOF` last.
    let openmetrics = render(status, Format::OpenMetricsText);
    assert!(openmetrics.ends_with("\n# EOF\n"), "{openmetrics}");
    assert!(
        openmetrics.contains("# TYPE wrangle_service_log_bytes counter\n"),
        "{openmetrics}"
    );
    let samples = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(samples(&openmetrics), samples(&text));
}

#[test]
fn a_full_snapshot_exposes_every_family_with_its_values() {
    let text = render(full_snapshot(), Format::PrometheusText);
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split(' ').next().unwrap_or_default())
        .collect();
    let expected: Vec<&str> = FAMILIES.iter().map(|family| family.name).collect();
    assert_eq!(families, expected);

    let samples = parse(&text);
    for (name, _, _, kind) in &samples {
        let family = FAMILIES
            .iter()
            .find(|family| family.name == *name)
            .unwrap_or_else(|| panic!("{name} is not a known family"));
        let wanted = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        assert_eq!(*kind, wanted, "{name}");
    }
    let check = |name: &str, pairs: &[(&str, &str)], expected: f64| {
        assert_eq!(
            value(&samples, name, pairs),
            Some(expected),
            "{name}{pairs:?} in\n{text}"
        );
    };
    check("wrangle_build_info", &[("version", VERSION)], 1.0);
    check("wrangle_daemon_start_time_seconds", &[], 1_767_323_045.5);
    check("wrangle_daemon_cpu_seconds_total", &[], 0.5);
    check("wrangle_daemon_resident_memory_bytes", &[], 6_000_000.0);
    check("wrangle_daemon_open_fds", &[], 21.0);
    check(
        "wrangle_service_state",
        &[("service", "api"), ("state", "ready")],
        1.0,
    );
    check(
        "wrangle_service_state",
        &[("service", "api"), ("state", "running")],
        0.0,
    );
    check(
        "wrangle_service_state",
        &[("service", "worker"), ("state", "backoff")],
        1.0,
    );
    check("wrangle_service_up", &[("service", "api")], 1.0);
    check("wrangle_service_up", &[("service", "worker")], 0.0);
    check(
        "wrangle_service_start_time_seconds",
        &[("service", "api")],
        1_767_323_100.0,
    );
    for (service, cause, count) in [
        ("api", "crash", 2.0),
        ("api", "manual", 1.0),
        ("api", "dependency", 0.0),
        ("api", "memory_limit", 0.0),
        ("worker", "crash", 0.0),
        ("worker", "memory_limit", 1.0),
    ] {
        check(
            "wrangle_service_restarts_total",
            &[("service", service), ("cause", cause)],
            count,
        );
    }
    check("wrangle_service_last_exit_code", &[("service", "api")], 1.0);
    check(
        "wrangle_service_last_exit_signal",
        &[("service", "worker"), ("signal", "SIGKILL")],
        1.0,
    );
    check(
        "wrangle_service_cpu_seconds_total",
        &[("service", "api")],
        1.5,
    );
    check(
        "wrangle_service_resident_memory_bytes",
        &[("service", "api")],
        52_428_800.0,
    );
    check("wrangle_service_processes", &[("service", "api")], 3.0);
    check("wrangle_service_threads", &[("service", "api")], 7.0);
    check("wrangle_service_open_fds", &[("service", "api")], 21.0);
    check(
        "wrangle_service_warning",
        &[("service", "api"), ("warning", "memory")],
        1.0,
    );
    check(
        "wrangle_service_warning",
        &[("service", "api"), ("warning", "cpu")],
        0.0,
    );
    check(
        "wrangle_service_warning",
        &[("service", "api"), ("warning", "readiness")],
        0.0,
    );
    check(
        "wrangle_service_readiness_probe_latency_seconds",
        &[("service", "api")],
        0.25,
    );
    check(
        "wrangle_service_readiness_probe_failures_total",
        &[("service", "api")],
        4.0,
    );
    check(
        "wrangle_service_readiness_probe_successes_total",
        &[("service", "api")],
        9.0,
    );
    check(
        "wrangle_service_startup_duration_seconds",
        &[("service", "api")],
        0.75,
    );
    check(
        "wrangle_service_log_bytes_total",
        &[("service", "api")],
        2048.0,
    );
    check(
        "wrangle_service_log_lines_dropped_total",
        &[("service", "api")],
        5.0,
    );
}

#[test]
fn unknown_values_have_no_series() {
    let text = render(full_snapshot(), Format::PrometheusText);
    let samples = parse(&text);
    // The worker has no resource sample, no probe, no start time, and was ended by a signal.
    for name in [
        "wrangle_service_cpu_seconds_total",
        "wrangle_service_resident_memory_bytes",
        "wrangle_service_processes",
        "wrangle_service_threads",
        "wrangle_service_open_fds",
        "wrangle_service_readiness_probe_latency_seconds",
        "wrangle_service_readiness_probe_failures_total",
        "wrangle_service_startup_duration_seconds",
        "wrangle_service_start_time_seconds",
        "wrangle_service_last_exit_code",
    ] {
        assert_eq!(
            value(&samples, name, &[("service", "worker")]),
            None,
            "{name}"
        );
        assert!(value(&samples, name, &[("service", "api")]).is_some() || name.ends_with("code"));
    }
    // Without daemon figures, no daemon resource family at all (not even its HELP).
    let mut status = full_snapshot();
    status.daemon_resources = None;
    status.services[0].startup_seconds = Some(f64::NAN);
    let text = render(status, Format::PrometheusText);
    assert!(!text.contains("wrangle_daemon_cpu_seconds_total"), "{text}");
    assert!(
        !text.contains("wrangle_daemon_resident_memory_bytes"),
        "{text}"
    );
    assert!(
        !text.contains("startup_duration"),
        "NaN is left out: {text}"
    );
}

#[test]
fn each_instance_of_a_service_with_several_is_its_own_series() {
    let mut instances: Vec<ServiceStatus> = (0..2)
        .map(|number| {
            let mut entry = service("web", ServiceState::Ready);
            entry.instance = number;
            entry.instances = 2;
            entry
        })
        .collect();
    instances[1].state = ServiceState::Starting;
    instances.push(service("db", ServiceState::Ready));
    let samples = parse(&render(project(instances), Format::PrometheusText));
    let up = |service| value(&samples, "wrangle_service_up", &[("service", service)]);
    assert_eq!(up("web:0"), Some(1.0));
    assert_eq!(up("web:1"), Some(0.0));
    assert_eq!(
        up("db"),
        Some(1.0),
        "a service's only instance keeps its name"
    );
    assert_eq!(up("web"), None);
}

#[test]
fn label_values_are_escaped() {
    let mut status = project(vec![service("web", ServiceState::Stopped)]);
    status.project = "/tmp/a \"quoted\" dir\\x/wrangle.toml".to_string();
    let text = render(status, Format::PrometheusText);
    assert!(
        text.contains(r#"config="/tmp/a \"quoted\" dir\\x/wrangle.toml"} 1"#),
        "{text}"
    );
}

#[test]
fn families_follow_the_naming_conventions() {
    for family in FAMILIES {
        assert!(family.name.starts_with("wrangle_"), "{}", family.name);
        assert!(
            family
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            family.name
        );
        assert_eq!(
            family.kind == Kind::Counter,
            family.name.ends_with("_total"),
            "{}: counters and only counters end in _total",
            family.name
        );
        assert!(
            !family.help.contains(['\\', '\n']) && !family.help.is_empty(),
            "{}",
            family.name
        );
        if family.name.starts_with("wrangle_service_") {
            assert_eq!(family.labels.first(), Some(&"service"), "{}", family.name);
        }
    }
    let mut names: Vec<&str> = FAMILIES.iter().map(|family| family.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FAMILIES.len(), "duplicate family names");
}

#[test]
fn every_state_and_restart_cause_is_exposed() {
    // Fails to compile when a state is added, as a reminder to add it to STATES.
    fn listed(state: ServiceState) -> bool {
        match state {
            ServiceState::Waiting
            | ServiceState::Starting
            | ServiceState::Ready
            | ServiceState::Running
            | ServiceState::Stopping
            | ServiceState::Stopped
            | ServiceState::Exited
            | ServiceState::Crashed
            | ServiceState::Backoff
            | ServiceState::Failed
            | ServiceState::Inactive => STATES.contains(&state),
        }
    }
    assert!(STATES.iter().all(|state| listed(*state)));
    let mut unique = STATES.to_vec();
    unique.dedup();
    assert_eq!(unique.len(), 11);
    let causes: Vec<&str> = RestartCause::ALL
        .iter()
        .map(|cause| cause.as_str())
        .collect();
    assert_eq!(causes, RESTART_CAUSES);
}

#[test]
fn the_documentation_describes_every_family() {
    let docs = include_str!("../../docs/metrics.md");
    for family in FAMILIES {
        assert!(
            docs.contains(&format!("`{}`", family.name)),
            "docs/metrics.md does not describe {}",
            family.name
        );
    }
}

#[test]
fn negotiation_prefers_openmetrics_only_when_asked_for() {
    let negotiate = |accept: Option<&str>| {
        Format::negotiate(
            accept
                .map(|accept| HeaderValue::from_str(accept).expect("header"))
                .as_ref(),
        )
    };
    assert_eq!(negotiate(None), Format::PrometheusText);
    assert_eq!(negotiate(Some("*/*")), Format::PrometheusText);
    assert_eq!(negotiate(Some("text/plain")), Format::PrometheusText);
    // What Prometheus sends by default.
    assert_eq!(
        negotiate(Some(
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        )),
        Format::OpenMetricsText
    );
    assert_eq!(
        negotiate(Some("application/openmetrics-text")),
        Format::OpenMetricsText
    );
    assert_eq!(
        negotiate(Some(
            "text/plain;version=0.0.4;q=0.9, application/openmetrics-text; version=1.0.0; q=0.5"
        )),
        Format::PrometheusText
    );
    // A version we do not write, or q=0, is not a request for it.
    assert_eq!(
        negotiate(Some("application/openmetrics-text;version=0.0.1")),
        Format::PrometheusText
    );
    assert_eq!(
        negotiate(Some("application/openmetrics-text;q=0")),
        Format::PrometheusText
    );
}

/// One HTTP/1.0 request to `port`; the whole response.
fn http_get(port: u16, path: &str, accept: Option<&str>) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let accept = accept
        .map(|accept| format!("Accept: {accept}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{accept}Connection: close\r\n\r\n"
    )
    .expect("write request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

#[test]
fn the_endpoint_serves_metrics_and_404_elsewhere() {
    let runtime = crate::test_support::runtime();
    let (sender, status) = watch::channel(Arc::new(full_snapshot()));
    let (port, endpoint) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        (port, Endpoint::start(listener, status, super::LIMITS))
    });
    // The runtime serves while this thread makes blocking requests from another.
    let client = std::thread::spawn(move || {
        let metrics = http_get(port, "/metrics", None);
        let openmetrics = http_get(port, "/metrics", Some("application/openmetrics-text"));
        let other = http_get(port, "/", None);
        (metrics, openmetrics, other)
    });
    let (metrics, openmetrics, other) = runtime.block_on(async {
        loop {
            if client.is_finished() {
                break client.join().expect("client thread");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    assert!(
        metrics
            .to_ascii_lowercase()
            .contains(&format!("content-type: {PROMETHEUS_TEXT}\r\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains("wrangle_service_up{service=\"api\"} 1\n"),
        "{metrics}"
    );
    assert!(
        openmetrics
            .to_ascii_lowercase()
            .contains(&format!("content-type: {OPENMETRICS_TEXT}\r\n")),
        "{openmetrics}"
    );
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n"), "{other}");

    // A new snapshot is what the next scrape sees.
    let mut next = full_snapshot();
    next.services[0].state = ServiceState::Crashed;
    sender.send_replace(Arc::new(next));
    let client = std::thread::spawn(move || http_get(port, "/metrics", None));
    let metrics = runtime.block_on(async {
        loop {
            if client.is_finished() {
                break client.join().expect("client thread");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert!(
        metrics.contains("wrangle_service_up{service=\"api\"} 0\n"),
        "{metrics}"
    );
    runtime.block_on(endpoint.stop());
}

fn spec_with_port(port: u16) -> ProjectSpec {
    let toml = format!(
        "[metrics]\nlisten = {port}\n\n[services.web]\ncommand = \"true\"\n\n[services.db]\ncommand = \"true\"\nport = {}\n",
        port.wrapping_add(1).max(2)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wrangle.toml");
    std::fs::write(&path, toml).expect("write config");
    let me = crate::config::Trust::new(
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    crate::config::load(&path, crate::config::Origin::Discovered, &me)
        .expect("load")
        .spec
}

#[test]
fn a_held_address_names_its_holder_and_refuses_with_exit_4() {
    let runtime = crate::test_support::runtime();
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let spec = spec_with_port(port);
    let metrics = spec.metrics.expect("[metrics]");
    let error = runtime
        .block_on(async { bind(&spec, metrics) })
        .expect_err("the address is held");
    let pid = std::process::id();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "metrics address 127.0.0.1:{port} ([metrics] listen) is in use by PID {pid} ("
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("free it with: kill {pid}")),
        "{message}"
    );
    assert_eq!(error.exit_code(), exit::PREFLIGHT_REFUSED);
    drop(held);
    let listener = runtime
        .block_on(async { bind(&spec, metrics) })
        .expect("free again");
    drop(listener);
}

#[test]
fn a_service_declaring_the_metrics_port_is_a_config_error() {
    let port = 47_999;
    let mut spec = spec_with_port(port);
    spec.services[1].ports = vec![port];
    let metrics = spec.metrics.expect("[metrics]");
    let error = bind(&spec, metrics).expect_err("clash");
    assert_eq!(
        error.to_string(),
        format!(
            "[metrics] listen = \"127.0.0.1:{port}\" uses port {port}, which service db declares\n  \
             choose another address for `listen` in [metrics]"
        )
    );
    assert_eq!(error.exit_code(), exit::INVALID);
}
