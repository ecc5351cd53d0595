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

mod changes;
pub(crate) mod docs;
mod socket;
mod streams;
