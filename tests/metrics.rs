//! The daemon's Prometheus endpoint (`[metrics] listen`): scraped over real TCP with a plain
//! HTTP/1.1 GET, parsed by an independent exposition parser (`prometheus-parse`), and checked
//! for the series a user alerts on; a held address refuses `up -d` with exit 4.
//!
//! Daemons are stopped by the harness's `DaemonGuard`, however the test ends.

use std::net::TcpStream;

use crate::support::{
    Answer, Daemon, DaemonGuard, Project, WAIT, assert_no_survivors, failed_detach, free_port,
    listener, request, wait_until,
};

/// `GET path` on 127.0.0.1:port; None if the connection fails.
fn get(port: u16, path: &str) -> Option<Answer> {
    request(port, "GET", path, &[])
}

/// The samples of one scrape.
struct Scrape {
    text: String,
    samples: Vec<prometheus_parse::Sample>,
}

impl Scrape {
    /// The value of `name{labels}` (exactly these labels), if exposed.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|sample| {
                sample.metric == name
                    && sample.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(key, value)| sample.labels.get(key) == Some(*value))
            })
            .map(|sample| match sample.value {
                prometheus_parse::Value::Counter(value)
                | prometheus_parse::Value::Gauge(value)
                | prometheus_parse::Value::Untyped(value) => value,
                _ => f64::NAN,
            })
    }

    /// Like [`Scrape::value`], failing the test with the scrape when the series is absent.
    fn expect(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in the scrape:\n{}", self.text))
    }
}

/// Scrapes `/metrics` and parses it; fails the test on a bad status, a wrong content type, or a
/// line the parser did not understand.
fn scrape(port: u16) -> Scrape {
    let response = get(port, "/metrics").expect("connect to the metrics endpoint");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.body;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_string())))
        .unwrap_or_else(|error| panic!("the exposition does not parse ({error}):\n{text}"));
    let sample_lines = text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .count();
    assert_eq!(
        scrape.samples.len(),
        sample_lines,
        "the parser did not understand every sample line:\n{text}"
    );
    // Every sample belongs to a family with a TYPE (the parser leaves the others untyped), and
    // every family has a HELP.
    for sample in &scrape.samples {
        assert!(
            !matches!(sample.value, prometheus_parse::Value::Untyped(_)),
            "{} has no TYPE line:\n{text}",
            sample.metric
        );
        assert!(
            scrape.docs.contains_key(&sample.metric),
            "{} has no HELP line:\n{text}",
            sample.metric
        );
    }
    Scrape {
        text,
        samples: scrape.samples,
    }
}

/// Scrapes until `condition` holds (bounded by `WAIT`); the last scrape.
fn scrape_until(port: u16, what: &str, condition: impl Fn(&Scrape) -> bool) -> Scrape {
    let mut last = None;
    let done = wait_until(WAIT, || {
        let scraped = scrape(port);
        let done = condition(&scraped);
        last = Some(scraped);
        done
    });
    let last = last.expect("scraped at least once");
    assert!(done, "{what} within {WAIT:?}; last scrape:\n{}", last.text);
    last
}

#[test]
fn metrics_are_served_parsed_and_follow_the_services() {
    let metrics_port = free_port();
    let db_port = free_port();
    let project = Project::new(&format!(
        r#"
[metrics]
listen = "127.0.0.1:{metrics_port}"

[monitor]
interval = "200ms"

[services.db]
command = {db}
port = {db_port}
ready = {{ tcp = {db_port}, interval = "50ms" }}

[services.web]
command = ["sh", "-c", "echo hello from web; exec sleep 430"]
depends_on = ["db"]

[services.chatty]
command = ["sh", "-c", "while :; do echo tick; sleep 0.1; done"]

[services.flaky]
command = ["sh", "-c", "if [ -f crashed ]; then exec sleep 431; fi; while [ ! -f crash ]; do sleep 0.05; done; touch crashed; exit 3"]
backoff_initial = "100ms"
"#,
        db = listener(db_port),
    ));
    let daemon = Daemon::start(&project, &[]);

    let first = scrape(metrics_port);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        first.expect("wrangle_build_info", &[("version", version)]),
        1.0
    );
    let project_name = project
        .root()
        .file_name()
        .expect("project dir name")
        .to_string_lossy()
        .into_owned();
    let config = project.path("wrangle.toml").display().to_string();
    assert_eq!(
        first.expect(
            "wrangle_project_info",
            &[("project", &project_name), ("config", &config)]
        ),
        1.0
    );
    let started = first.expect("wrangle_daemon_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        started <= now && now - started < 120.0,
        "{started} vs {now}"
    );
    for service in ["db", "web", "flaky"] {
        assert_eq!(
            first.expect("wrangle_service_up", &[("service", service)]),
            1.0,
            "{service}"
        );
        assert_eq!(
            first.expect(
                "wrangle_service_restarts_total",
                &[("service", service), ("cause", "crash")]
            ),
            0.0
        );
        let start = first.expect(
            "wrangle_service_start_time_seconds",
            &[("service", service)],
        );
        assert!(start >= started - 1.0 && start <= now, "{service}: {start}");
        // Never exited: no exit series.
        assert_eq!(
            first.value("wrangle_service_last_exit_code", &[("service", service)]),
            None
        );
    }
    assert_eq!(
        first.expect(
            "wrangle_service_state",
            &[("service", "db"), ("state", "ready")]
        ),
        1.0
    );
    assert_eq!(
        first.expect(
            "wrangle_service_state",
            &[("service", "web"), ("state", "running")]
        ),
        1.0
    );
    let states: f64 = first
        .samples
        .iter()
        .filter(|sample| {
            sample.metric == "wrangle_service_state" && sample.labels.get("service") == Some("web")
        })
        .map(|sample| match sample.value {
            prometheus_parse::Value::Gauge(value) => value,
            _ => f64::NAN,
        })
        .sum();
    assert_eq!(states, 1.0, "exactly one state of web is 1");

    // Resource figures, once sampled: every running tree has memory, a process, threads and
    // files; the daemon too. Readiness and start-up figures for the service with a probe.
    let sampled = scrape_until(metrics_port, "resources sampled", |scrape| {
        ["db", "web", "flaky"].iter().all(|service| {
            scrape
                .value(
                    "wrangle_service_resident_memory_bytes",
                    &[("service", service)],
                )
                .is_some()
        }) && scrape
            .value("wrangle_daemon_resident_memory_bytes", &[])
            .is_some()
    });
    for service in ["db", "web", "flaky"] {
        let labels = [("service", service)];
        assert!(sampled.expect("wrangle_service_resident_memory_bytes", &labels) > 0.0);
        assert!(sampled.expect("wrangle_service_processes", &labels) >= 1.0);
        assert!(sampled.expect("wrangle_service_threads", &labels) >= 1.0);
        assert!(sampled.expect("wrangle_service_open_fds", &labels) >= 1.0);
        assert!(sampled.expect("wrangle_service_cpu_seconds_total", &labels) >= 0.0);
        assert_eq!(
            sampled.expect(
                "wrangle_service_warning",
                &[("service", service), ("warning", "memory")]
            ),
            0.0
        );
    }
    assert!(sampled.expect("wrangle_daemon_resident_memory_bytes", &[]) > 0.0);
    assert!(sampled.expect("wrangle_daemon_cpu_seconds_total", &[]) > 0.0);
    assert!(sampled.expect("wrangle_daemon_processes", &[]) >= 1.0);
    let db = [("service", "db")];
    assert!(sampled.expect("wrangle_service_readiness_probe_successes_total", &db) >= 1.0);
    assert!(sampled.expect("wrangle_service_readiness_probe_failures_total", &db) >= 0.0);
    let latency = sampled.expect("wrangle_service_readiness_probe_latency_seconds", &db);
    assert!((0.0..10.0).contains(&latency), "{latency}");
    let startup = sampled.expect("wrangle_service_startup_duration_seconds", &db);
    assert!(startup > 0.0 && startup < 10.0, "{startup}");
    // No probe, no probe series.
    assert_eq!(
        sampled.value(
            "wrangle_service_readiness_probe_failures_total",
            &[("service", "web")]
        ),
        None
    );

    // A crash after start-up: restarted once (cause crash), the exit code recorded, up again.
    project.write("crash", "");
    let after = scrape_until(metrics_port, "flaky restarted and up again", |scrape| {
        scrape.value(
            "wrangle_service_restarts_total",
            &[("service", "flaky"), ("cause", "crash")],
        ) == Some(1.0)
            && scrape.value("wrangle_service_up", &[("service", "flaky")]) == Some(1.0)
    });
    assert_eq!(
        after.expect("wrangle_service_last_exit_code", &[("service", "flaky")]),
        3.0
    );
    assert_eq!(
        after.expect(
            "wrangle_service_restarts_total",
            &[("service", "flaky"), ("cause", "manual")]
        ),
        0.0
    );

    // A manual restart is counted as such.
    let restart = project.run(&["restart", "web"]);
    assert_eq!(restart.code, 0, "{restart:#?}");
    scrape_until(metrics_port, "web's manual restart counted", |scrape| {
        scrape.value(
            "wrangle_service_restarts_total",
            &[("service", "web"), ("cause", "manual")],
        ) == Some(1.0)
    });

    // Output written to the log files is counted, and the count moves without state changes.
    let chatty = [("service", "chatty")];
    let before = scrape(metrics_port).expect("wrangle_service_log_bytes_total", &chatty);
    scrape_until(metrics_port, "chatty's log bytes growing", |scrape| {
        scrape
            .value("wrangle_service_log_bytes_total", &chatty)
            .is_some_and(|bytes| bytes > before)
    });
    assert_eq!(
        scrape(metrics_port).expect("wrangle_service_log_lines_dropped_total", &chatty),
        0.0
    );

    let other = get(metrics_port, "/").expect("connect");
    assert_eq!(other.status, 404, "{}", other.body);

    // Stopping the daemon closes the endpoint.
    let down = project.run(&["down"]);
    assert_eq!(down.code, 0, "{down:#?}");
    assert!(
        wait_until(WAIT, || TcpStream::connect(("127.0.0.1", metrics_port))
            .is_err()),
        "the metrics port is still open after `down`"
    );
    drop(daemon);
    assert_no_survivors(&project.mark);
}

#[test]
fn a_held_metrics_address_refuses_up_d_with_exit_4_naming_the_holder() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let project = Project::new(&format!(
        r#"
[metrics]
listen = "127.0.0.1:{port}"

[services.web]
command = ["sh", "-c", "touch started.flag; exec sleep 432"]
"#
    ));
    let output = failed_detach(&project, 4);
    let me = std::process::id();
    assert!(
        output.contains(&format!(
            "error: metrics address 127.0.0.1:{port} ([metrics] listen) is in use by PID {me} ("
        )),
        "{output}"
    );
    assert!(
        output.contains(&format!("  free it with: kill {me}")),
        "{output}"
    );
    assert!(!project.exists("started.flag"), "the service was started");
    drop(holder);
}

#[test]
fn foreground_up_does_not_serve_metrics() {
    let metrics_port = free_port();
    let project = Project::new(&format!(
        r#"
[metrics]
listen = "127.0.0.1:{metrics_port}"

[services.web]
command = ["sleep", "433"]
"#
    ));
    let _guard = DaemonGuard::new(&project);
    let mut wrangle = project.up(&[]);
    wrangle.expect_line("wrangle * all 1 service up in");
    assert!(
        TcpStream::connect(("127.0.0.1", metrics_port)).is_err(),
        "a foreground up listens on the metrics port"
    );
    wrangle.signal("INT");
    assert_eq!(wrangle.wait_exit(WAIT), 0, "{}", wrangle.transcript());
    assert_no_survivors(&project.mark);
}
