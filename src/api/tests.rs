//! Tests of the whole API layer over real Unix sockets: the real server, the real client (or raw
//! HTTP where the client has no call for it), and a test task playing the daemon.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::StreamExt;

use crate::api::client::{Client, ClientError};
use crate::api::routes::{self, AppState, ROUTES};
use crate::api::server::{self, bind};
use crate::api::wire::{
    ApiError, DashboardInfo, EnvVar, ErrorCode, Event, LogLine, LogStream, ProjectGraph,
    ProjectStatus, Reply, Request, ResourceHistory, ResourcePoint, ServiceConfig, ServiceDetails,
    ServiceHistory, ServiceState, ServiceStatus, Skipped,
};
use crate::api::{
    ApiContext, DashboardControl, LazyBroadcast, LogEvent, LogFollow, LogSource, LogTail, Records,
    RequestEnvelope, ResourceSource,
};
use crate::human;
use crate::test_support::runtime;

// ---------------------------------------------------------------------------------------------
// The fake daemon side.

/// An in-memory log store.
struct FakeLogs {
    lines: Mutex<Vec<LogLine>>,
    live: broadcast::Sender<LogEvent>,
    /// Every place for a follower is taken.
    full: std::sync::atomic::AtomicBool,
}

impl FakeLogs {
    fn new() -> FakeLogs {
        FakeLogs {
            lines: Mutex::new(Vec::new()),
            live: broadcast::channel(64).0,
            full: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn publish(&self, line: LogLine) {
        self.lines.lock().unwrap().push(line.clone());
        let _ = self.live.send(LogEvent::Line(line));
    }

    fn select(&self, services: &[String], n: usize, since: Option<SystemTime>) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap();
        let selected: Vec<LogLine> = lines
            .iter()
            .filter(|line| services.is_empty() || services.contains(&line.service))
            .filter(|line| match since {
                Some(since) => humantime::parse_rfc3339(&line.time).unwrap() > since,
                None => true,
            })
            .cloned()
            .collect();
        selected[selected.len().saturating_sub(n)..].to_vec()
    }
}

impl LogSource for FakeLogs {
    fn counts(&self, _service: &str) -> Option<crate::api::LogCounts> {
        None
    }

    fn flush(&self, services: &[String]) -> crate::api::LogFlush {
        let flushed = services
            .iter()
            .map(|name| crate::api::wire::FlushedLogs {
                name: name.clone(),
                files: 1,
                bytes: 10,
                error: None,
            })
            .collect();
        Box::pin(async move { Ok(flushed) })
    }

    fn tail(&self, services: &[String], n: usize, since: Option<SystemTime>) -> LogTail {
        let lines = self.select(services, n, since);
        Box::pin(async move { Ok(lines) })
    }

    fn follow(&self, services: &[String], n: usize, since: Option<SystemTime>) -> LogFollow {
        if self.full.load(std::sync::atomic::Ordering::Relaxed) {
            return Box::pin(async { Err(ApiError::unavailable("64 clients already follow")) });
        }
        // Subscribed and read under the lock of `lines`, as the real source reads the tail and
        // goes on from exactly its end.
        let guard = self.lines.lock().unwrap();
        let receiver = self.live.subscribe();
        drop(guard);
        let tail = self.select(services, n, since);
        let services = services.to_vec();
        let live = tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |item| {
            item.ok().filter(|event| match event {
                LogEvent::Line(line) => services.is_empty() || services.contains(&line.service),
                LogEvent::Skipped(_) => true,
            })
        });
        let stream = tokio_stream::iter(tail.into_iter().map(LogEvent::Line)).chain(live);
        Box::pin(async move {
            let stream: Pin<Box<dyn tokio_stream::Stream<Item = LogEvent> + Send>> =
                Box::pin(stream);
            Ok(stream)
        })
    }
}

fn service(name: &str, state: ServiceState) -> ServiceStatus {
    ServiceStatus {
        log_lines_dropped: 0,
        log_error: None,
        name: name.to_string(),
        instance: 0,
        instances: 1,
        reloading: false,
        state,
        pid: Some(4242),
        started_at: Some("2026-09-01T10:00:01.500Z".to_string()),
        restarts: 0,
        last_exit: None,
        ports: vec![8080],
        sockets: Vec::new(),
        readiness: Some("http http://127.0.0.1:8080/health".to_string()),
        reason: None,
        log_bytes: 0,
        resources: None,
        restarts_by_cause: Default::default(),
        last_restart_reason: None,
        startup_seconds: None,
        probe: None,
        warnings: Vec::new(),
        next_run: None,
    }
}

/// Fixed samples: two for each service of [`project`].
struct FakeResources {
    reads: Mutex<usize>,
}

impl ResourceSource for FakeResources {
    fn watching(&self) {
        *self.reads.lock().unwrap() += 1;
    }

    fn history(&self, services: &[String]) -> ResourceHistory {
        *self.reads.lock().unwrap() += 1;
        let points = |memory: u64| {
            (0..2)
                .map(|index| ResourcePoint {
                    time_ms: 1_000 + index * 1_000,
                    cpu_percent: 12.5,
                    memory_bytes: memory + index,
                })
                .collect()
        };
        ResourceHistory {
            interval_ms: 1_000,
            daemon: points(100),
            services: [("db", 200), ("web", 300)]
                .into_iter()
                .filter(|(name, _)| services.is_empty() || services.iter().any(|s| s == name))
                .map(|(name, memory)| ServiceHistory {
                    name: name.to_string(),
                    points: points(memory),
                })
                .collect(),
        }
    }
}

/// Recorded events in memory, and fixed details and graph.
#[derive(Default)]
struct FakeRecords {
    events: Mutex<Vec<Event>>,
}

impl Records for FakeRecords {
    fn events(&self, services: &[String], n: usize) -> Vec<Event> {
        let events = self.events.lock().unwrap();
        let selected: Vec<Event> = events
            .iter()
            .filter(|event| {
                services.is_empty()
                    || event
                        .service
                        .as_ref()
                        .is_none_or(|service| services.contains(service))
            })
            .cloned()
            .collect();
        selected[selected.len().saturating_sub(n)..].to_vec()
    }

    fn service(&self, name: &str) -> Option<ServiceDetails> {
        (name == "web").then(|| ServiceDetails {
            name: name.to_string(),
            config: ServiceConfig {
                command: vec!["./web".into()],
                shell: false,
                cwd: "/srv/app".into(),
                env: vec![EnvVar {
                    name: "TOKEN".into(),
                    value: "••••••".into(),
                    masked: true,
                }],
                depends_on: vec![],
                settings: vec![],
            },
            restarts: vec![],
            probes: vec![],
            last_probe_failure: None,
            runs: Vec::new(),
        })
    }

    fn graph(&self) -> ProjectGraph {
        ProjectGraph {
            services: vec![],
            critical_path: vec!["db".into(), "web".into()],
            total_seconds: Some(1.5),
        }
    }
}

/// A dashboard that always serves at one address; rotations count up the token.
struct FakeDashboard {
    rotations: Mutex<u32>,
}

impl FakeDashboard {
    fn info(&self) -> DashboardInfo {
        let token = format!("{:064x}", *self.rotations.lock().unwrap());
        DashboardInfo {
            listen: Some("127.0.0.1:8421".to_string()),
            url: Some(format!("http://127.0.0.1:8421/#token={token}")),
            token,
        }
    }
}

impl DashboardControl for FakeDashboard {
    fn open(&self) -> Result<DashboardInfo, ApiError> {
        Ok(self.info())
    }

    fn rotate_token(&self) -> Result<DashboardInfo, ApiError> {
        *self.rotations.lock().unwrap() += 1;
        Ok(self.info())
    }
}

fn project() -> ProjectStatus {
    ProjectStatus {
        project: "/srv/app/wrangle.toml".to_string(),
        name: "app".to_string(),
        daemon_pid: 4000,
        started_at: "2026-09-01T10:00:00.000Z".to_string(),
        services: vec![
            service("db", ServiceState::Ready),
            service("web", ServiceState::Running),
        ],
        daemon_resources: None,
        sample_interval_ms: 5_000,
        foreground: false,
        profiles: Vec::new(),
    }
}

fn event(kind: &str, message: &str) -> Event {
    Event {
        time: human::time(SystemTime::now()),
        kind: kind.to_string(),
        service: Some("web".to_string()),
        instance: Some(0),
        message: message.to_string(),
        pid: Some(4242),
    }
}

fn line(service: &str, text: &str, age: Duration) -> LogLine {
    LogLine {
        time: human::time(SystemTime::now() - age),
        service: service.to_string(),
        stream: LogStream::Stdout,
        text: text.to_string(),
        partial: false,
    }
}

/// How the fake daemon treats requests.
#[derive(Clone, Copy, PartialEq)]
enum Daemon {
    /// Accepts every request.
    Answers,
    /// Takes requests and drops them unanswered.
    Drops,
    /// Takes requests and never answers.
    Silent,
    /// Is gone: the request channel is closed.
    Gone,
}

/// A served API on a temporary socket, with the daemon's ends of its channels.
struct Harness {
    dir: tempfile::TempDir,
    socket: PathBuf,
    client: Client,
    status: watch::Sender<Arc<ProjectStatus>>,
    events: Arc<LazyBroadcast<Event>>,
    records: Arc<FakeRecords>,
    logs: Arc<FakeLogs>,
    /// Requests the fake daemon received.
    received: Arc<Mutex<Vec<Request>>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Harness {
    /// Must run inside the test runtime.
    fn start(daemon: Daemon, event_capacity: usize) -> Harness {
        let dir = private_dir();
        let socket = dir.path().join("api.sock");
        let listener = bind(&socket).unwrap();
        let (status, status_receiver) = watch::channel(Arc::new(project()));
        let (requests, request_receiver) = mpsc::unbounded_channel::<RequestEnvelope>();
        let events = Arc::new(LazyBroadcast::new(event_capacity));
        let logs = Arc::new(FakeLogs::new());
        let received = Arc::new(Mutex::new(Vec::new()));
        let records = Arc::new(FakeRecords::default());
        let context = ApiContext {
            status: status_receiver.clone(),
            requests,
            events: Arc::clone(&events),
            logs: logs.clone(),
            resources: Arc::new(FakeResources {
                reads: Mutex::new(0),
            }),
            records: records.clone(),
            dashboard: Some(Arc::new(FakeDashboard {
                rotations: Mutex::new(0),
            })),
        };
        match daemon {
            Daemon::Gone => drop(request_receiver),
            _ => {
                tokio::spawn(play_daemon(
                    daemon,
                    request_receiver,
                    status_receiver,
                    received.clone(),
                ));
            }
        }
        let (shutdown, shutdown_receiver) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve_router(
            listener,
            move |stop| {
                routes::build(AppState {
                    context,
                    stop,
                    reply_timeout: Duration::from_millis(300),
                })
            },
            server::LIMITS,
            async move {
                let _ = shutdown_receiver.await;
            },
        ));
        Harness {
            client: Client::new(socket.clone()),
            dir,
            socket,
            status,
            events,
            records,
            logs,
            received,
            shutdown: Some(shutdown),
            server,
        }
    }

    fn received(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }

    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(5), &mut self.server)
            .await
            .expect("serve returns after shutdown");
        result.unwrap().unwrap();
    }

    /// Waits until `n` clients follow the event stream.
    async fn wait_for_event_followers(&self, n: usize) {
        wait_until(|| self.events.receiver_count() >= n).await;
    }
}

async fn play_daemon(
    daemon: Daemon,
    mut requests: mpsc::UnboundedReceiver<RequestEnvelope>,
    status: watch::Receiver<Arc<ProjectStatus>>,
    received: Arc<Mutex<Vec<Request>>>,
) {
    let mut unanswered = Vec::new();
    while let Some((request, answer)) = requests.recv().await {
        received.lock().unwrap().push(request.clone());
        let reply = match request {
            Request::Shutdown => Reply::ShuttingDown,
            Request::Apply { .. } => Reply::Plan {
                plan: Default::default(),
            },
            Request::Scale { service, .. } => Reply::Accepted {
                services: vec![service],
            },
            Request::Start { services }
            | Request::Stop { services }
            | Request::Restart { services }
            | Request::Reload { services } => Reply::Accepted {
                services: if services.is_empty() {
                    let snapshot = status.borrow().clone();
                    snapshot.services.iter().map(|s| s.name.clone()).collect()
                } else {
                    services
                },
            },
        };
        match daemon {
            Daemon::Answers => {
                let _ = answer.send(Ok(reply));
            }
            Daemon::Drops => drop(answer),
            Daemon::Silent | Daemon::Gone => unanswered.push(answer),
        }
    }
}

/// A temporary directory as the daemon's state directory is: 0700 (tempfile leaves the umask's
/// mode).
fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

async fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 5s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One raw HTTP/1.1 exchange (`Connection: close`): the status and the body.
async fn raw(socket: &Path, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) and close before reading the whole body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let mut buffer = [0; 8192];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buffer[..n]),
            // Closing with our unread bytes in its queue makes the kernel report a reset to us
            // after the data it did send.
            Err(error) if error.kind() == ErrorKind::ConnectionReset && !response.is_empty() => {
                break;
            }
            Err(error) => panic!("reading the response: {error}"),
        }
    }
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// A raw exchange whose body must be an `ApiError`.
async fn raw_error(socket: &Path, method: &str, path: &str, body: &[u8]) -> (u16, ApiError) {
    let (status, body) = raw(socket, method, path, body).await;
    let error = serde_json::from_str(&body)
        .unwrap_or_else(|error| panic!("not an ApiError ({error}): {body:?}"));
    (status, error)
}

// ---------------------------------------------------------------------------------------------
// Reads.

#[test]
fn status_round_trip_and_snapshot_updates() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        assert_eq!(harness.client.status().await.unwrap(), project());

        let mut changed = project();
        changed.services[1].state = ServiceState::Backoff;
        changed.services[1].restarts = 3;
        harness.status.send_replace(Arc::new(changed.clone()));
        assert_eq!(harness.client.status().await.unwrap(), changed);
        // Reads never ask the daemon.
        assert!(harness.received().is_empty());
        harness.stop().await;
    });
}

#[test]
fn services_and_one_service() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let (status, body) = raw(&harness.socket, "GET", "/v1/services", b"").await;
        assert_eq!(status, 200);
        let services: Vec<ServiceStatus> = serde_json::from_str(&body).unwrap();
        assert_eq!(services, project().services);

        let (status, body) = raw(&harness.socket, "GET", "/v1/services/web", b"").await;
        assert_eq!(status, 200);
        let web: ServiceStatus = serde_json::from_str(&body).unwrap();
        assert_eq!(web.name, "web");

        let (status, error) = raw_error(&harness.socket, "GET", "/v1/services/wbe", b"").await;
        assert_eq!(status, 404);
        assert_eq!(error, ApiError::not_found("no service named \"wbe\""));
        harness.stop().await;
    });
}

#[test]
fn resources_all_or_some_services_and_refuses_unknown_ones() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let all = harness.client.resources(&[]).await.unwrap();
        assert_eq!(all.interval_ms, 1_000);
        assert_eq!(all.daemon.len(), 2);
        let names: Vec<&str> = all.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!(all.services[1].points[1].memory_bytes, 301);

        let web = harness.client.resources(&["web".into()]).await.unwrap();
        assert_eq!(web.services.len(), 1);
        assert_eq!(web.services[0].name, "web");

        let (status, error) =
            raw_error(&harness.socket, "GET", "/v1/resources?service=wbe", b"").await;
        assert_eq!(status, 404);
        assert_eq!(error, ApiError::not_found("no service named \"wbe\""));
        let (status, error) = raw_error(&harness.socket, "GET", "/v1/resources?n=3", b"").await;
        assert_eq!(status, 400);
        assert_eq!(error.code, ErrorCode::BadRequest);
        harness.stop().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Changes.

#[test]
fn start_stop_restart_are_forwarded_to_the_daemon() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        for action in ["start", "stop", "restart"] {
            let path = format!("/v1/services/web/{action}");
            let (status, body) = raw(&harness.socket, "POST", &path, b"").await;
            assert_eq!(status, 202, "{action}: {body}");
            let reply: Reply = serde_json::from_str(&body).unwrap();
            assert_eq!(
                reply,
                Reply::Accepted {
                    services: vec!["web".into()]
                }
            );
        }
        let web = || vec!["web".to_string()];
        assert_eq!(
            harness.received(),
            vec![
                Request::Start { services: web() },
                Request::Stop { services: web() },
                Request::Restart { services: web() },
            ]
        );

        // `--all` through /v1/actions with the real client.
        let reply = harness
            .client
            .request(&Request::Restart { services: vec![] })
            .await
            .unwrap();
        assert_eq!(
            reply,
            Reply::Accepted {
                services: vec!["db".into(), "web".into()]
            }
        );

        let (status, body) = raw(&harness.socket, "POST", "/v1/shutdown", b"").await;
        assert_eq!(status, 202);
        assert_eq!(
            serde_json::from_str::<Reply>(&body).unwrap(),
            Reply::ShuttingDown
        );
        assert_eq!(harness.received().len(), 5);
        assert_eq!(harness.received()[4], Request::Shutdown);
        harness.stop().await;
    });
}

#[test]
fn unknown_services_are_refused_before_reaching_the_daemon() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let (status, error) =
            raw_error(&harness.socket, "POST", "/v1/services/nope/restart", b"").await;
        assert_eq!((status, error.code), (404, ErrorCode::NotFound));

        let error = harness
            .client
            .request(&Request::Stop {
                services: vec!["web".into(), "nope".into()],
            })
            .await
            .unwrap_err();
        match error {
            ClientError::Api(error) => {
                assert_eq!(error, ApiError::not_found("no service named \"nope\""))
            }
            other => panic!("expected a 404, got {other:?}"),
        }
        assert!(harness.received().is_empty());
        harness.stop().await;
    });
}

#[test]
fn a_daemon_that_cannot_answer_is_a_503() {
    runtime().block_on(async {
        for daemon in [Daemon::Gone, Daemon::Drops, Daemon::Silent] {
            let harness = Harness::start(daemon, 16);
            let started = Instant::now();
            let error = harness
                .client
                .request(&Request::Start { services: vec![] })
                .await
                .unwrap_err();
            match error {
                ClientError::Api(error) => assert_eq!(error.code, ErrorCode::Unavailable),
                other => panic!("expected a 503, got {other:?}"),
            }
            // The silent daemon is given the (shortened) reply timeout, the others none.
            assert!(started.elapsed() < Duration::from_secs(3));
            let (status, _) = raw_error(&harness.socket, "POST", "/v1/shutdown", b"").await;
            assert_eq!(status, 503);
            harness.stop().await;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Errors: always ApiError JSON.

#[test]
fn unknown_route_wrong_method_bad_json_and_large_body_are_json_errors() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let socket = &harness.socket;

        let (status, error) = raw_error(socket, "GET", "/v1/nothing", b"").await;
        assert_eq!((status, error.code), (404, ErrorCode::NotFound));
        let (status, error) = raw_error(socket, "GET", "/status", b"").await;
        assert_eq!((status, error.code), (404, ErrorCode::NotFound));

        let (status, error) = raw_error(socket, "POST", "/v1/status", b"").await;
        assert_eq!((status, error.code), (405, ErrorCode::BadRequest));
        assert!(error.error.contains("POST"), "{error:?}");
        let (status, error) = raw_error(socket, "DELETE", "/v1/services/web", b"").await;
        assert_eq!((status, error.code), (405, ErrorCode::BadRequest));

        for body in [
            &b"{\"action\": \"start\""[..],
            b"",
            b"[]",
            b"{\"action\": \"explode\"}",
            b"{\"action\": \"stop\", \"services\": \"web\"}",
            b"\xff\xfe",
        ] {
            let (status, error) = raw_error(socket, "POST", "/v1/actions", body).await;
            assert_eq!(
                (status, error.code),
                (400, ErrorCode::BadRequest),
                "{body:?}"
            );
        }

        let mut large = b"{\"action\":\"start\",\"services\":[\"".to_vec();
        large.extend(std::iter::repeat_n(b'a', 70 * 1024));
        large.extend(b"\"]}");
        let (status, error) = raw_error(socket, "POST", "/v1/actions", &large).await;
        assert_eq!((status, error.code), (413, ErrorCode::BadRequest));

        let (status, error) = raw_error(socket, "GET", "/v1/logs?lines=3", b"").await;
        assert_eq!((status, error.code), (400, ErrorCode::BadRequest));

        // Nothing malformed reached the daemon, and the server still serves.
        assert!(harness.received().is_empty());
        assert_eq!(harness.client.status().await.unwrap().name, "app");
        harness.stop().await;
    });
}

#[test]
fn every_registered_route_is_served() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        for &(method, path) in ROUTES {
            let path = path.replace("{name}", "web");
            if path.ends_with("/events") {
                continue; // An endless stream; covered by its own tests.
            }
            let body: &[u8] = if path.ends_with("/actions") {
                b"{\"action\":\"start\"}"
            } else if path.ends_with("/flush") {
                b"{}"
            } else {
                b""
            };
            let (status, body) = raw(&harness.socket, method, &path, body).await;
            assert!(
                status == 200 || status == 202,
                "{method} {path}: {status} {body}"
            );
        }
        harness.stop().await;
    });
}

#[test]
fn the_dashboard_is_opened_and_its_token_rotated_through_the_socket() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let info = harness.client.dashboard().await.unwrap();
        assert_eq!(info.listen.as_deref(), Some("127.0.0.1:8421"));
        assert_eq!(info.token, format!("{:064x}", 0));
        let rotated = harness.client.rotate_dashboard_token().await.unwrap();
        assert_eq!(rotated.token, format!("{:064x}", 1));
        assert_eq!(
            rotated.url,
            Some(format!("http://127.0.0.1:8421/#token={}", rotated.token))
        );
        harness.stop().await;
    });
}

#[test]
fn the_status_can_be_followed_as_a_stream_of_snapshots() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mut stream = UnixStream::connect(&harness.socket).await.unwrap();
        stream
            .write_all(b"GET /v1/status?follow=true HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut seen = String::new();
        let mut buffer = [0u8; 8192];
        let mut read_until = async |needle: &str, seen: &mut String| {
            while !seen.contains(needle) {
                let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                    .await
                    .expect("within 5 s")
                    .unwrap();
                assert!(read > 0, "closed: {seen}");
                seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        };
        read_until("\"state\":\"running\"", &mut seen).await;
        assert!(seen.contains("event: status"), "{seen}");
        assert!(seen.contains("text/event-stream"), "{seen}");
        // A change is sent as a new snapshot.
        harness.status.send_modify(|status| {
            let mut updated = (**status).clone();
            updated.services[1].state = ServiceState::Crashed;
            *status = Arc::new(updated);
        });
        read_until("\"state\":\"crashed\"", &mut seen).await;
        let (status, body) = raw(&harness.socket, "GET", "/v1/status?follow=maybe", b"").await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/status?n=3", b"").await;
        assert_eq!(status, 400, "{body}");
        harness.stop().await;
    });
}

// ---------------------------------------------------------------------------------------------
// Streams.

#[test]
fn events_are_received_in_order() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let client = harness.client.clone();
        let follower = tokio::spawn(async move {
            let mut received = Vec::new();
            client
                .follow_events(|event| {
                    received.push(event);
                    received.len() < 5
                })
                .await
                .map(|()| received)
        });
        harness.wait_for_event_followers(1).await;
        let sent: Vec<Event> = ["started", "ready", "crashed", "restarting", "stopped"]
            .iter()
            .map(|kind| event(kind, &format!("{kind} happened")))
            .collect();
        for event in &sent {
            assert_eq!(harness.events.send(event.clone()), 1);
        }
        let received = tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(received, sent);
        harness.stop().await;
    });
}

#[test]
fn an_event_stream_can_start_with_the_recorded_past_without_gap_or_repeat() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mut past = Vec::new();
        for (index, kind) in ["started", "ready", "crashed"].iter().enumerate() {
            let mut recorded = event(kind, &format!("past {index}"));
            if index == 1 {
                recorded.service = Some("db".to_string());
            }
            past.push(recorded);
        }
        *harness.records.events.lock().unwrap() = past.clone();
        let mut stream = UnixStream::connect(&harness.socket).await.unwrap();
        stream
            .write_all(b"GET /v1/events?n=5&service=web HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        harness.wait_for_event_followers(1).await;
        // Recorded and published while the stream was being opened: sent once, not twice.
        assert_eq!(harness.events.send(past[2].clone()), 1);
        let live = event("restarting", "live");
        let mut of_db = event("ready", "of db");
        of_db.service = Some("db".to_string());
        assert_eq!(
            harness.events.send(of_db),
            1,
            "filtered after the broadcast"
        );
        assert_eq!(harness.events.send(live.clone()), 1);
        let mut seen = String::new();
        let mut buffer = [0u8; 8192];
        while !seen.contains("\"live\"") {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                .await
                .expect("within 5 s")
                .unwrap();
            assert!(read > 0, "closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
        let messages: Vec<&str> = seen
            .split("\"message\":\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(messages, ["past 0", "past 2", "live"], "{seen}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/events?n=x", b"").await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/events?service=nope", b"").await;
        assert_eq!(status, 404, "{body}");
        harness.stop().await;
    });
}

#[test]
fn details_and_graph_come_from_the_records() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let (status, body) = raw(&harness.socket, "GET", "/v1/services/web/details", b"").await;
        assert_eq!(status, 200, "{body}");
        let details: ServiceDetails = serde_json::from_str(&body).unwrap();
        assert_eq!(details.config.env[0].value, "••••••");
        let (status, body) = raw(&harness.socket, "GET", "/v1/services/nope/details", b"").await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = raw(&harness.socket, "GET", "/v1/graph", b"").await;
        assert_eq!(status, 200, "{body}");
        let graph: ProjectGraph = serde_json::from_str(&body).unwrap();
        assert_eq!(graph.critical_path, ["db", "web"]);
        harness.stop().await;
    });
}

#[test]
fn sse_framing_uses_the_kind_as_event_name() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mut stream = UnixStream::connect(&harness.socket).await.unwrap();
        stream
            .write_all(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        harness.wait_for_event_followers(1).await;
        assert_eq!(
            harness
                .events
                .send(event("restart_blocked", "port 8080 is held")),
            1
        );
        let mut received = Vec::new();
        let mut buffer = [0; 4096];
        let expected_name = "event: restart_blocked\ndata: {";
        tokio::time::timeout(Duration::from_secs(5), async {
            while !String::from_utf8_lossy(&received).contains(expected_name) {
                let n = stream.read(&mut buffer).await.unwrap();
                assert!(n > 0, "stream closed early");
                received.extend_from_slice(&buffer[..n]);
            }
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("content-type: text/event-stream"), "{text}");
        harness.stop().await;
    });
}

#[test]
fn a_lagging_client_is_told_and_the_server_goes_on() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 4);
        let client = harness.client.clone();
        let (sender, mut received) = mpsc::unbounded_channel();
        let follower = tokio::spawn(async move {
            client
                .follow_events(move |event| {
                    let last = event.kind == "last";
                    let _ = sender.send(event);
                    !last
                })
                .await
        });
        harness.wait_for_event_followers(1).await;
        // No await between sends: on this current-thread runtime the server cannot read any of
        // them before the channel (capacity 4) has overflowed.
        for i in 0..50 {
            assert_eq!(harness.events.send(event("tick", &format!("tick {i}"))), 1);
        }
        let first = tokio::time::timeout(Duration::from_secs(5), received.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.kind, "lagged");
        assert!(first.message.starts_with("46 events skipped"), "{first:?}");
        for i in 46..50 {
            let tick = received.recv().await.unwrap();
            assert_eq!(tick.message, format!("tick {i}"));
        }

        // The stream goes on, and so does the server.
        assert_eq!(harness.events.send(event("last", "done")), 1);
        assert_eq!(received.recv().await.unwrap().kind, "last");
        tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(harness.client.status().await.unwrap().name, "app");
        harness.stop().await;
    });
}

#[test]
fn logs_tail() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let hour = Duration::from_secs(3600);
        harness.logs.publish(line("web", "old", 2 * hour));
        harness.logs.publish(line("db", "db 1", Duration::ZERO));
        harness.logs.publish(line("web", "web 1", Duration::ZERO));
        harness.logs.publish(line("web", "web 2", Duration::ZERO));

        let texts = |lines: Vec<LogLine>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        let client = &harness.client;
        assert_eq!(
            texts(client.logs(&[], 100, None).await.unwrap()),
            ["old", "db 1", "web 1", "web 2"]
        );
        assert_eq!(
            texts(client.logs(&["web".into()], 2, None).await.unwrap()),
            ["web 1", "web 2"]
        );
        assert_eq!(
            texts(client.logs(&["web".into()], 100, Some("1h")).await.unwrap()),
            ["web 1", "web 2"]
        );
        match client.logs(&["nope".into()], 10, None).await {
            Err(ClientError::Api(error)) => assert_eq!(error.code, ErrorCode::NotFound),
            other => panic!("expected a 404, got {other:?}"),
        }
        match client.logs(&[], 10, Some("yesterday")).await {
            Err(ClientError::Api(error)) => assert_eq!(error.code, ErrorCode::BadRequest),
            other => panic!("expected a 400, got {other:?}"),
        }
        harness.stop().await;
    });
}

#[test]
fn logs_follow_sends_the_tail_then_live_lines() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        harness.logs.publish(line("web", "web 1", Duration::ZERO));
        harness.logs.publish(line("db", "db 1", Duration::ZERO));
        harness.logs.publish(line("web", "web 2", Duration::ZERO));
        harness.logs.publish(line("web", "web 3", Duration::ZERO));

        let client = harness.client.clone();
        let (sender, mut received) = mpsc::unbounded_channel();
        let follower = tokio::spawn(async move {
            client
                .follow_logs(&["web".into()], 2, move |line| {
                    let last = line.text == "live";
                    let _ = sender.send(line.text);
                    !last
                })
                .await
        });
        for expected in ["web 2", "web 3"] {
            let text = tokio::time::timeout(Duration::from_secs(5), received.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(text, expected);
        }
        // The client has the tail, so the server has subscribed: publish live lines, and a skip
        // (output removed before this client read it), which the client turns into a notice.
        harness
            .logs
            .publish(line("db", "not followed", Duration::ZERO));
        let _ = harness.logs.live.send(LogEvent::Skipped(Skipped {
            service: "web".to_string(),
            bytes: Some(4096),
        }));
        harness.logs.publish(line("web", "live", Duration::ZERO));
        tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let notice = received.recv().await.unwrap();
        assert!(
            notice.starts_with("web: 4096 bytes of output skipped"),
            "{notice}"
        );
        assert_eq!(received.recv().await.unwrap(), "live");
        assert!(received.recv().await.is_none());

        // No place left for a follower: a 503 with the source's reason.
        harness
            .logs
            .full
            .store(true, std::sync::atomic::Ordering::Relaxed);
        match harness.client.follow_logs(&[], 10, |_| true).await {
            Err(ClientError::Api(error)) => {
                assert_eq!(error.code, ErrorCode::Unavailable);
                assert!(error.error.contains("already follow"), "{error:?}");
            }
            other => panic!("expected a 503, got {other:?}"),
        }
        harness.stop().await;
    });
}

#[test]
fn shutdown_ends_streams_and_serve_returns() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let client = harness.client.clone();
        let follower = tokio::spawn(async move { client.follow_events(|_| true).await });
        harness.wait_for_event_followers(1).await;
        let socket = harness.socket.clone();
        let started = Instant::now();
        harness.stop().await;
        // Well within the drain timeout: the SSE stream ended instead of being waited for.
        assert!(started.elapsed() < server::DRAIN_TIMEOUT);
        tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        // Nobody accepts any more: the socket file is left, but connecting is refused.
        match Client::new(socket).status().await {
            Err(ClientError::NotRunning) => {}
            other => panic!("expected NotRunning, got {other:?}"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The socket.

#[test]
fn socket_is_0600_and_the_directory_must_be_private_and_ours() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let mode = std::fs::symlink_metadata(&harness.socket).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(harness.dir.path()).unwrap().mode() & 0o777,
            0o700
        );
        harness.stop().await;

        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = bind(&dir.path().join("api.sock")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::PermissionDenied);
        assert!(error.to_string().contains("0755"), "{error}");

        // A symlink to a private directory is not followed.
        let private = private_dir();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(private.path(), &link).unwrap();
        let error = bind(&link.join("api.sock")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");

        let error = bind(&dir.path().join("missing").join("api.sock")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    });
}

#[test]
fn a_stale_socket_is_replaced_but_nothing_else() {
    runtime().block_on(async {
        let dir = private_dir();
        let socket = dir.path().join("api.sock");
        drop(bind(&socket).unwrap());
        assert!(socket.exists(), "the stale socket file is left behind");
        let listener = bind(&socket).unwrap();
        drop(listener);

        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").unwrap();
        let error = bind(&file).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

        // A symlink to a socket is not a socket: refused, and neither it nor its target goes.
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&socket, &link).unwrap();
        let error = bind(&link).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert!(std::fs::symlink_metadata(&socket).is_ok());
    });
}

/// Connects to `socket` as uid/gid 65534 (or as ourselves with `--same-user`), sends a GET, and
/// prints `closed` or `response ...`.
const PEER_SCRIPT: &str = r#"
import os, socket, sys
if sys.argv[2] != "--same-user":
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = s.recv(65536)
except (ConnectionResetError, BrokenPipeError):
    data = b""
print("closed" if not data else "response " + data.split(b"\r\n")[0].decode())
"#;

#[test]
fn a_connection_from_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to connect as another user");
        return;
    }
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        // Open the socket to everyone, so that only the peer check can refuse.
        std::fs::set_permissions(harness.dir.path(), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        std::fs::set_permissions(&harness.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let run_as = |who: &'static str| {
            let socket = harness.socket.clone();
            tokio::task::spawn_blocking(move || {
                let output = std::process::Command::new("python3")
                    .args(["-c", PEER_SCRIPT])
                    .arg(&socket)
                    .arg(who)
                    .output()
                    .expect("python3 runs");
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                String::from_utf8_lossy(&output.stdout).trim().to_string()
            })
        };
        // The control: the same script as ourselves gets an answer.
        assert_eq!(
            run_as("--same-user").await.unwrap(),
            "response HTTP/1.1 200 OK"
        );

        let refused_before = server::refused_connections();
        assert_eq!(run_as("--nobody").await.unwrap(), "closed");
        assert!(server::refused_connections() > refused_before);

        // And the server goes on serving its own user.
        assert_eq!(harness.client.status().await.unwrap().name, "app");
        harness.stop().await;
    });
}

#[test]
fn the_client_fails_fast_when_no_daemon_runs() {
    runtime().block_on(async {
        let dir = private_dir();
        let started = Instant::now();
        let client = Client::new(dir.path().join("api.sock"));
        assert!(matches!(
            client.status().await,
            Err(ClientError::NotRunning)
        ));
        assert!(matches!(
            client.follow_events(|_| true).await,
            Err(ClientError::NotRunning)
        ));

        // A socket file nobody listens on (a daemon that died).
        drop(bind(&dir.path().join("api.sock")).unwrap());
        assert!(matches!(
            client.request(&Request::Shutdown).await,
            Err(ClientError::NotRunning)
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
    });
}

// ---------------------------------------------------------------------------------------------
// docs/api.yaml stays in step with the router and the wire types.

pub(crate) const API_DOC: &str = include_str!("../../docs/api.yaml");

/// The (METHOD, path) pairs under `paths:`, by indentation: paths at two spaces, methods at four.
pub(crate) fn documented_routes(doc: &str) -> BTreeSet<(String, String)> {
    const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut path = None;
    for line in doc.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(key) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
            && !key.starts_with(' ')
        {
            path = Some(key.trim_matches(['"', '\'']).to_string());
            continue;
        }
        if let Some(key) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && METHODS.contains(&key)
        {
            let path = path.clone().expect("a method under a path");
            routes.insert((key.to_ascii_uppercase(), path));
        }
    }
    routes
}

/// The keys directly under `components:` → `schemas:`.
fn documented_schemas(doc: &str) -> BTreeSet<String> {
    let mut schemas = BTreeSet::new();
    let mut in_components = false;
    let mut in_schemas = false;
    for line in doc.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_components = line.trim_end() == "components:";
            in_schemas = false;
            continue;
        }
        if in_components && line.starts_with("  ") && !line.starts_with("   ") {
            in_schemas = line.trim_end() == "  schemas:";
            continue;
        }
        if in_schemas
            && let Some(key) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && !key.starts_with(' ')
        {
            schemas.insert(key.to_string());
        }
    }
    schemas
}

/// The names of the `pub struct`s and `pub enum`s of `wire.rs`.
fn wire_types() -> BTreeSet<String> {
    include_str!("wire.rs")
        .lines()
        .filter_map(|line| {
            let rest = line
                .strip_prefix("pub struct ")
                .or_else(|| line.strip_prefix("pub enum "))?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            Some(name)
        })
        .collect()
}

#[test]
fn every_route_is_documented() {
    let registered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(registered.len(), ROUTES.len(), "ROUTES has duplicates");
    let documented = documented_routes(API_DOC);
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    // The other direction (everything documented is served, here or by the dashboard's
    // listener) is checked by the dashboard's tests, which know both lists.
    assert!(
        undocumented.is_empty(),
        "routes not in docs/api.yaml: {undocumented:?}"
    );
}

#[test]
fn every_wire_type_is_a_documented_schema() {
    let types = wire_types();
    assert!(
        types.contains("ProjectStatus") && types.len() >= 12,
        "{types:?}"
    );
    let schemas = documented_schemas(API_DOC);
    let missing: Vec<_> = types.difference(&schemas).collect();
    assert!(
        missing.is_empty(),
        "wire types missing under components/schemas: {missing:?}"
    );
}

#[test]
fn the_doc_parsers_see_what_they_should() {
    let doc = "openapi: 3.1.0\npaths:\n  /v1/a:\n    get:\n      x: 1\n    post:\n  \"/v1/b/{name}\":\n    \
               delete:\ncomponents:\n  schemas:\n    A:\n      type: object\n    B:\n  responses:\n    C:\n";
    let routes = documented_routes(doc);
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/v1/a"),
        ("POST", "/v1/a"),
        ("DELETE", "/v1/b/{name}"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(routes, expected);
    assert_eq!(
        documented_schemas(doc),
        BTreeSet::from(["A".to_string(), "B".to_string()])
    );
}

#[test]
fn a_lazy_broadcast_is_empty_once_every_receiver_took_every_value() {
    let events: LazyBroadcast<u32> = LazyBroadcast::new(4);
    assert!(events.is_empty(), "no channel");
    let mut first = events.subscribe();
    let mut second = events.subscribe();
    events.send(1);
    assert!(!events.is_empty());
    assert_eq!(first.try_recv(), Ok(1));
    assert!(!events.is_empty(), "the second receiver has not taken it");
    assert_eq!(second.try_recv(), Ok(1));
    assert!(events.is_empty());
}

#[test]
fn a_lazy_broadcast_holds_a_channel_only_while_someone_listens() {
    let events: LazyBroadcast<u32> = LazyBroadcast::new(4);
    assert!(
        events.lock().is_none(),
        "no channel before the first subscriber"
    );
    assert_eq!(events.send(1), 0, "nobody listens: dropped");
    assert!(events.lock().is_none());

    let mut first = events.subscribe();
    let mut second = events.subscribe();
    assert_eq!(events.receiver_count(), 2);
    assert_eq!(events.send(2), 2);
    assert_eq!(first.try_recv(), Ok(2));
    assert_eq!(second.try_recv(), Ok(2));

    drop(first);
    drop(second);
    assert_eq!(events.receiver_count(), 0);
    assert_eq!(events.send(3), 0);
    assert!(
        events.lock().is_none(),
        "the last receiver gone: slots given back"
    );

    // A new subscriber sees only what is sent after it came, and still lags like any other.
    let mut third = events.subscribe();
    for value in 4..10 {
        assert_eq!(events.send(value), 1);
    }
    assert_eq!(
        third.try_recv(),
        Err(broadcast::error::TryRecvError::Lagged(2))
    );
    assert_eq!(third.try_recv(), Ok(6));
}

#[test]
fn flushing_logs_names_known_services_only_and_answers_what_was_removed() {
    runtime().block_on(async {
        let harness = Harness::start(Daemon::Answers, 16);
        let report = harness
            .client
            .flush_logs(&["web".to_string()])
            .await
            .unwrap();
        assert_eq!(report.services.len(), 1);
        assert_eq!(report.services[0].name, "web");
        assert_eq!(
            (report.services[0].files, report.services[0].bytes),
            (1, 10)
        );
        let (status, body) = raw(
            &harness.socket,
            "POST",
            "/v1/logs/flush",
            b"{\"services\":[\"nope\"]}",
        )
        .await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("no service named \\\"nope\\\""), "{body}");
        let (status, body) = raw(&harness.socket, "POST", "/v1/logs/flush", b"[1]").await;
        assert_eq!(status, 400, "{body}");
        harness.stop().await;
    });
}
