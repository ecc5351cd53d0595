//! The dashboard's listener over real TCP: who gets in, what every answer carries, sessions and
//! their end at a token rotation, the connection cap, and the routes' documentation. The API
//! behind it is the real router with a test task playing the daemon.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;

use crate::api::wire::{
    self, DashboardInfo, LogLine, LogStream, ProjectStatus, Reply, Request, ResourceHistory,
    ServiceState, ServiceStatus,
};
use crate::api::{
    ApiContext, DashboardControl, LazyBroadcast, LogEvent, LogFollow, LogSource, LogTail, Records,
    RequestEnvelope, ResourceSource,
};
use crate::dashboard::{Dashboard, LIMITS, ROUTES, auth::CONTENT_SECURITY_POLICY};
use crate::listener::Limits;
use crate::test_support::runtime;

/// A log of one hostile line, followed forever.
struct Logs;

fn hostile_line() -> LogLine {
    LogLine {
        time: crate::human::time(SystemTime::now()),
        service: "web".to_string(),
        stream: LogStream::Stdout,
        text: "<script>alert(1)</script>".to_string(),
        partial: false,
    }
}

impl LogSource for Logs {
    fn counts(&self, _service: &str) -> Option<crate::api::LogCounts> {
        None
    }

    fn tail(&self, _services: &[String], _n: usize, _since: Option<SystemTime>) -> LogTail {
        Box::pin(async { Ok(vec![hostile_line()]) })
    }

    fn follow(&self, _services: &[String], _n: usize, _since: Option<SystemTime>) -> LogFollow {
        let stream =
            tokio_stream::iter([LogEvent::Line(hostile_line())]).chain(tokio_stream::pending());
        Box::pin(async move {
            let stream: std::pin::Pin<Box<dyn tokio_stream::Stream<Item = LogEvent> + Send>> =
                Box::pin(stream);
            Ok(stream)
        })
    }
}

struct NoRecords;

impl Records for NoRecords {
    fn events(&self, _services: &[String], _n: usize) -> Vec<wire::Event> {
        Vec::new()
    }

    fn service(&self, _name: &str) -> Option<wire::ServiceDetails> {
        None
    }

    fn graph(&self) -> wire::ProjectGraph {
        wire::ProjectGraph {
            services: Vec::new(),
            critical_path: Vec::new(),
            total_seconds: None,
        }
    }
}

struct Resources;

impl ResourceSource for Resources {
    fn history(&self, _services: &[String]) -> ResourceHistory {
        ResourceHistory {
            interval_ms: 1000,
            daemon: Vec::new(),
            services: Vec::new(),
        }
    }

    fn watching(&self) {}
}

fn service(name: &str) -> ServiceStatus {
    ServiceStatus {
        name: name.to_string(),
        instance: 0,
        instances: 1,
        reloading: false,
        state: ServiceState::Running,
        pid: Some(4242),
        started_at: None,
        restarts: 0,
        last_exit: None,
        ports: vec![],
        sockets: Vec::new(),
        readiness: None,
        reason: None,
        log_lines_dropped: 0,
        log_error: None,
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

/// A served dashboard on 127.0.0.1 with a daemon task that accepts every request.
struct Harness {
    _dir: tempfile::TempDir,
    dashboard: Arc<Dashboard>,
    address: SocketAddr,
    token: String,
}

impl Harness {
    /// Must run inside the test runtime.
    fn start(limits: Limits) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let (_status_sender, status) = watch::channel(Arc::new(ProjectStatus {
            project: "/srv/secret-project/wrangle.toml".to_string(),
            name: "secret-project".to_string(),
            daemon_pid: 1,
            started_at: crate::human::time(SystemTime::now()),
            services: vec![service("web")],
            daemon_resources: None,
            sample_interval_ms: 1000,
            foreground: false,
            profiles: Vec::new(),
        }));
        // The status must outlive the test's requests: leak the sender into the daemon task.
        let (requests, mut received) = mpsc::unbounded_channel::<RequestEnvelope>();
        tokio::spawn(async move {
            let _status_sender = _status_sender;
            while let Some((request, answer)) = received.recv().await {
                let services = match request {
                    Request::Start { services }
                    | Request::Stop { services }
                    | Request::Restart { services }
                    | Request::Reload { services } => services,
                    Request::Scale { service, .. } => vec![service],
                    Request::Shutdown | Request::Apply { .. } => Vec::new(),
                };
                let _ = answer.send(Ok(Reply::Accepted { services }));
            }
        });
        let context = ApiContext {
            status,
            requests,
            events: Arc::new(LazyBroadcast::new(16)),
            logs: Arc::new(Logs),
            resources: Arc::new(Resources),
            records: Arc::new(NoRecords),
            dashboard: None,
        };
        let dashboard = Arc::new(Dashboard::new(
            dir.path().join("dashboard.token"),
            context,
            limits,
        ));
        let info = dashboard.open().expect("open");
        let address: SocketAddr = info.listen.expect("listens").parse().expect("address");
        assert!(address.ip().is_loopback());
        Harness {
            _dir: dir,
            dashboard,
            address,
            token: info.token,
        }
    }

    fn host(&self) -> String {
        self.address.to_string()
    }

    fn origin(&self) -> String {
        format!("http://{}", self.address)
    }

    fn bearer(&self) -> (String, String) {
        (
            "Authorization".to_string(),
            format!("Bearer {}", self.token),
        )
    }

    async fn send(&self, method: &str, path: &str, headers: &[(String, String)]) -> Answer {
        let mut all = vec![("Host".to_string(), self.host())];
        all.extend_from_slice(headers);
        exchange(self.address, method, path, &all).await
    }

    /// Signs in with the token; the cookie (`name=value`) to send.
    async fn sign_in(&self) -> String {
        let answer = self.send("POST", "/v1/session", &[self.bearer()]).await;
        assert_eq!(answer.status, 204, "{answer:?}");
        let cookie = answer.header("set-cookie").expect("a cookie").to_string();
        cookie.split(';').next().expect("name=value").to_string()
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`, read to the end (bounded).
async fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
) -> Answer {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("answered within 5 s")
        .expect("read");
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(raw: &str) -> Answer {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

#[test]
fn pages_are_public_and_every_answer_carries_the_security_headers() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        for path in ["/", "/services/web", "/graph", "/timeline"] {
            let page = harness.send("GET", path, &[]).await;
            assert_eq!(page.status, 200, "{path}: {page:?}");
            assert_eq!(
                page.header("content-type"),
                Some("text/html; charset=utf-8")
            );
            assert!(page.body.contains("/assets/app.js"));
            assert!(
                !page.body.contains("secret-project"),
                "the shell shows nothing"
            );
        }
        let script = harness.send("GET", "/assets/app.js", &[]).await;
        assert_eq!(script.status, 200);
        assert_eq!(
            script.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        let etag = script.header("etag").expect("etag").to_string();
        let again = harness
            .send("GET", "/assets/app.js", &[header("If-None-Match", etag)])
            .await;
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());

        let refused = harness.send("GET", "/v1/status", &[]).await;
        let api = harness.send("GET", "/v1/status", &[harness.bearer()]).await;
        let missing = harness.send("GET", "/nowhere", &[]).await;
        for answer in [&script, &refused, &api, &missing] {
            assert_eq!(
                answer.header("content-security-policy"),
                Some(CONTENT_SECURITY_POLICY),
                "{answer:?}"
            );
            assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
            assert_eq!(answer.header("x-frame-options"), Some("DENY"));
        }
        for answer in [&refused, &api] {
            assert_eq!(answer.header("cache-control"), Some("no-store"));
        }
        let policy = CONTENT_SECURITY_POLICY;
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("connect-src 'self'"));
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
        harness.dashboard.stop().await;
    });
}

#[test]
fn the_api_needs_the_token_and_says_nothing_without_it() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        for (method, path) in [
            ("GET", "/v1/status"),
            ("GET", "/v1/services/web"),
            ("GET", "/v1/logs?service=web"),
            ("GET", "/v1/events"),
            ("GET", "/v1/status?follow=true"),
            ("POST", "/v1/services/web/restart"),
            ("GET", "/v1/session"),
            ("GET", "/v1/no-such-route"),
            ("POST", "/v1/dashboard"),
        ] {
            for credentials in [
                vec![],
                vec![header("Authorization", "Bearer 0123")],
                vec![header("Authorization", format!("Basic {}", harness.token))],
                vec![header("Cookie", "wrangle_session_1=abc")],
                vec![header(
                    "Cookie",
                    format!("wrangle_session_{}=nope", harness.address.port()),
                )],
            ] {
                let answer = harness.send(method, path, &credentials).await;
                assert_eq!(
                    answer.status, 401,
                    "{method} {path} {credentials:?}: {answer:?}"
                );
                assert!(
                    answer.body.contains("\"code\":\"unauthorized\"")
                        && !answer.body.contains("secret-project")
                        && !answer.body.contains("web")
                        && !answer.body.contains("/srv"),
                    "{answer:?}"
                );
                assert_eq!(
                    answer.header("www-authenticate"),
                    Some("Bearer realm=\"wrangle\"")
                );
            }
        }
        let status = harness.send("GET", "/v1/status", &[harness.bearer()]).await;
        assert_eq!(status.status, 200, "{status:?}");
        assert!(status.body.contains("secret-project"));

        // The token's own routes are not served here, even with the token.
        for path in ["/v1/dashboard", "/v1/dashboard/token"] {
            let answer = harness.send("POST", path, &[harness.bearer()]).await;
            assert_eq!(answer.status, 404, "{path}: {answer:?}");
        }
        harness.dashboard.stop().await;
    });
}

#[test]
fn another_host_or_origin_is_refused_whatever_its_credentials() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        let cookie = harness.sign_in().await;
        let port = harness.address.port();

        // DNS rebinding: another name for 127.0.0.1 gets nothing, not even the shell.
        for host in [format!("evil.example:{port}"), "127.0.0.1:1".to_string()] {
            let answer =
                exchange(harness.address, "GET", "/", &[header("Host", host.clone())]).await;
            assert_eq!(answer.status, 403, "{host}: {answer:?}");
        }
        let localhost = exchange(
            harness.address,
            "GET",
            "/",
            &[header("Host", format!("localhost:{port}"))],
        )
        .await;
        assert_eq!(localhost.status, 200);

        for credentials in [
            vec![],
            vec![harness.bearer()],
            vec![header("Cookie", cookie.clone())],
        ] {
            let mut headers = credentials.clone();
            headers.push(header("Origin", "http://evil.example"));
            let post = harness
                .send("POST", "/v1/services/web/restart", &headers)
                .await;
            assert_eq!(post.status, 403, "{credentials:?}: {post:?}");
            let read = harness.send("GET", "/v1/status", &headers).await;
            assert_eq!(read.status, 403, "{credentials:?}: {read:?}");
        }
        harness.dashboard.stop().await;
    });
}

#[test]
fn the_cookie_needs_our_origin_to_change_anything_and_the_bearer_does_not() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        let cookie = harness.sign_in().await;
        let read = harness
            .send("GET", "/v1/status", &[header("Cookie", cookie.clone())])
            .await;
        assert_eq!(read.status, 200, "{read:?}");

        let without_origin = harness
            .send(
                "POST",
                "/v1/services/web/restart",
                &[header("Cookie", cookie.clone())],
            )
            .await;
        assert_eq!(without_origin.status, 403, "{without_origin:?}");
        let with_origin = harness
            .send(
                "POST",
                "/v1/services/web/restart",
                &[
                    header("Cookie", cookie.clone()),
                    header("Origin", harness.origin()),
                ],
            )
            .await;
        assert_eq!(with_origin.status, 202, "{with_origin:?}");
        let script = harness
            .send("POST", "/v1/services/web/restart", &[harness.bearer()])
            .await;
        assert_eq!(script.status, 202, "{script:?}");

        // Signing out ends the session and clears the cookie.
        let out = harness
            .send(
                "DELETE",
                "/v1/session",
                &[
                    header("Cookie", cookie.clone()),
                    header("Origin", harness.origin()),
                ],
            )
            .await;
        assert_eq!(out.status, 204, "{out:?}");
        assert!(
            out.header("set-cookie")
                .is_some_and(|value| value.contains("Max-Age=0"))
        );
        let after = harness
            .send("GET", "/v1/status", &[header("Cookie", cookie)])
            .await;
        assert_eq!(after.status, 401);
        harness.dashboard.stop().await;
    });
}

#[test]
fn the_session_cookie_is_http_only_and_strict() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        let answer = harness
            .send("POST", "/v1/session", &[harness.bearer()])
            .await;
        let cookie = answer.header("set-cookie").expect("cookie");
        let port = harness.address.port();
        assert!(
            cookie.starts_with(&format!("wrangle_session_{port}=")),
            "{cookie}"
        );
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let value = cookie
            .split(';')
            .next()
            .expect("pair")
            .split('=')
            .nth(1)
            .expect("value");
        assert_ne!(
            value, harness.token,
            "the cookie is a session, not the token"
        );
        assert_eq!(value.len(), 64);
        harness.dashboard.stop().await;
    });
}

#[test]
fn a_rotation_signs_every_session_out_and_ends_their_streams() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        let cookie = harness.sign_in().await;

        // A page's live stream, opened with the cookie.
        let mut stream = TcpStream::connect(harness.address).await.expect("connect");
        let request = format!(
            "GET /v1/status?follow=true HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n",
            harness.host()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("event: status") {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                .await
                .expect("a first snapshot within 5 s")
                .expect("read");
            assert!(read > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buffer[..read]);
        }
        assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));

        let info: DashboardInfo = harness.dashboard.rotate_token().expect("rotate");
        assert_ne!(info.token, harness.token);
        assert_eq!(
            std::fs::read_to_string(harness._dir.path().join("dashboard.token"))
                .expect("token file")
                .trim(),
            info.token
        );

        // The stream ends (the chunked body's last chunk, then the connection stays or closes).
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if String::from_utf8_lossy(&seen).ends_with("0\r\n\r\n") {
                    return true;
                }
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return true,
                    Ok(read) => seen.extend_from_slice(&buffer[..read]),
                }
            }
        })
        .await;
        assert_eq!(ended, Ok(true), "the stream did not end at the rotation");

        for credentials in [vec![header("Cookie", cookie)], vec![harness.bearer()]] {
            let answer = harness.send("GET", "/v1/status", &credentials).await;
            assert_eq!(answer.status, 401, "{answer:?}");
        }
        let new = harness
            .send(
                "GET",
                "/v1/status",
                &[header("Authorization", format!("Bearer {}", info.token))],
            )
            .await;
        assert_eq!(new.status, 200);
        harness.dashboard.stop().await;
    });
}

#[test]
fn the_listener_is_capped_and_stalled_connections_time_out() {
    runtime().block_on(async {
        let harness = Harness::start(Limits {
            max_connections: 3,
            header_timeout: Duration::from_secs(2),
            ..LIMITS
        });
        // Three connections that never send a request hold every slot...
        let mut stalled = Vec::new();
        for _ in 0..3 {
            stalled.push(TcpStream::connect(harness.address).await.expect("connect"));
        }
        // ...so a fourth waits in the backlog, unanswered, until the header timeout frees one.
        let mut extra = TcpStream::connect(harness.address).await.expect("connect");
        extra
            .write_all(
                format!(
                    "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    harness.host()
                )
                .as_bytes(),
            )
            .await
            .expect("write");
        let mut first = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(300), extra.read(&mut first)).await;
        assert!(early.is_err(), "answered while every slot was held");
        for mut connection in stalled {
            let mut rest = Vec::new();
            let closed =
                tokio::time::timeout(Duration::from_secs(5), connection.read_to_end(&mut rest))
                    .await;
            assert!(closed.is_ok(), "a stalled connection stayed open");
        }
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), extra.read_to_end(&mut answer))
            .await
            .expect("answered once a slot was free")
            .expect("read");
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        harness.dashboard.stop().await;
    });
}

#[test]
fn open_is_idempotent_and_stop_closes_the_port() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        let again = harness.dashboard.open().expect("open again");
        assert_eq!(again.listen, Some(harness.address.to_string()));
        assert_eq!(
            again.url,
            Some(format!(
                "http://{}/#token={}",
                harness.address, harness.token
            ))
        );
        harness.dashboard.stop().await;
        assert!(TcpStream::connect(harness.address).await.is_err());
    });
}

#[test]
fn service_output_is_served_as_json_text_never_as_markup() {
    runtime().block_on(async {
        let harness = Harness::start(LIMITS);
        let answer = harness
            .send("GET", "/v1/logs?service=web", &[harness.bearer()])
            .await;
        assert_eq!(answer.status, 200);
        // JSON, never sniffed as markup: the page puts it into text nodes.
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        let lines: Vec<wire::LogLine> = serde_json::from_str(&answer.body).expect("json");
        assert_eq!(lines[0].text, "<script>alert(1)</script>");
        harness.dashboard.stop().await;
    });
}

#[test]
fn every_route_has_a_handler() {
    for &(method, path) in ROUTES {
        assert!(
            super::handler(method, path).is_some(),
            "{method} {path} is listed in ROUTES but has no handler"
        );
    }
}

#[test]
fn the_api_doc_documents_exactly_what_both_listeners_serve() {
    use crate::api::routes::ROUTES as API_ROUTES;
    let served: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .chain(ROUTES)
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        served.len(),
        API_ROUTES.len() + ROUTES.len(),
        "a route is listed twice"
    );
    let documented = crate::api::tests::docs::documented_routes(crate::api::tests::docs::API_DOC);
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "routes not in docs/api.yaml: {undocumented:?}; documented but not served: {unserved:?}"
    );
}
