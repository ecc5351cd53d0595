//! [`serve`] against real TCP clients that stall, flood, or stop reading.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use super::*;

/// The size of `/big`: more than any socket buffers hold.
const BIG: usize = 32 * 1024 * 1024;
/// How long a test waits for something that must happen.
const WAIT: Duration = Duration::from_secs(10);

fn limits() -> Limits {
    Limits {
        name: "test",
        max_connections: 8,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        max_body_bytes: 16,
        request_timeout: Duration::from_millis(500),
        stall_timeout: None,
    }
}

fn router() -> Router {
    Router::new()
        .route("/small", get(|| async { "ok" }))
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/events",
            get(|| stream(Some(Duration::from_millis(20)), 8)),
        )
        .route("/flood", get(|| stream(None, 64 * 1024)))
}

/// An event stream of `chunk`-byte pieces, one per `pace` (or as fast as it is read).
async fn stream(pace: Option<Duration>, chunk: usize) -> Response {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, Infallible>>(1);
    tokio::spawn(async move {
        while sender
            .send(Ok(Bytes::from(vec![b'e'; chunk])))
            .await
            .is_ok()
        {
            if let Some(pace) = pace {
                tokio::time::sleep(pace).await;
            }
        }
    });
    Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(ReceiverStream::new(receiver)))
        .expect("a valid response")
}

struct Server {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(limits: Limits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router(), limits, async move {
            let _ = stopped.await;
        }));
        Server {
            address,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address).await.expect("connect")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("the server stops")
            .expect("the server task ends cleanly");
    }
}

/// Reads until the server closes the connection (or resets it); the bytes read. Fails the test
/// when the connection is still open after [`WAIT`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = vec![0; 256 * 1024];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_elapsed) => panic!(
                "the connection is still open after {WAIT:?} ({} bytes read)",
                received.len()
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

fn status_line(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_half_a_request_is_closed_after_the_header_timeout() {
    let server = Server::start(limits()).await;
    let started = Instant::now();
    let mut silent = server.connect().await;
    let mut half = server.connect().await;
    half.write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    read_until_closed(&mut silent).await;
    read_until_closed(&mut half).await;
    assert!(started.elapsed() >= limits().header_timeout);
    server.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_once_idle_for_the_header_timeout() {
    let server = Server::start(limits()).await;
    let mut client = server.connect().await;
    client
        .write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut client).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
    assert!(
        answer.ends_with(b"ok"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    server.stop().await;
}

#[tokio::test]
async fn at_the_cap_a_further_client_waits_in_the_backlog_until_a_connection_closes() {
    let mut capped = limits();
    capped.max_connections = 2;
    capped.header_timeout = Duration::from_secs(30);
    let server = Server::start(capped).await;
    let first = server.connect().await;
    let _second = server.connect().await;
    let mut third = server.connect().await;
    third
        .write_all(b"GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "the third client was served while two connections held the cap: {early:?}"
    );
    drop(first);
    let answer = read_until_closed(&mut third).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_and_a_stalled_body_fails_within_the_body_timeout() {
    let server = Server::start(limits()).await;
    let mut large = server.connect().await;
    large
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n01234567890123456")
        .await
        .expect("write");
    let answer = read_until_closed(&mut large).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 413 Payload Too Large");

    let mut fitting = server.connect().await;
    fitting
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n0123456789012345")
        .await
        .expect("write");
    let answer = read_until_closed(&mut fitting).await;
    assert!(
        answer.ends_with(b"16"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let started = Instant::now();
    let mut stalled = server.connect().await;
    stalled
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stalled).await;
    assert!(
        !status_line(&answer).starts_with("HTTP/1.1 200"),
        "a body that never arrived was answered as complete: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() >= limits().body_timeout);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_closed_after_the_request_timeout() {
    let server = Server::start(limits()).await;
    let mut client = server.connect().await;
    client
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // The client reads nothing for longer than the request may take.
    tokio::time::sleep(limits().request_timeout * 3).await;
    let answer = read_until_closed(&mut client).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
    assert!(
        answer.len() < BIG,
        "all {} bytes were delivered to a client that stalled",
        answer.len()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_event_stream_outlives_the_request_timeout_while_it_is_read() {
    let server = Server::start(limits()).await;
    let mut client = server.connect().await;
    client
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = vec![0; 64 * 1024];
    let until = Instant::now() + limits().request_timeout * 3;
    let mut received = 0;
    while Instant::now() < until {
        let read = tokio::time::timeout(WAIT, client.read(&mut buffer))
            .await
            .expect("the stream goes on")
            .expect("read");
        assert_ne!(read, 0, "the stream was closed after {received} bytes");
        received += read;
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unread_event_stream_is_closed_after_the_stall_timeout() {
    let mut stalling = limits();
    stalling.stall_timeout = Some(Duration::from_millis(300));
    let server = Server::start(stalling).await;
    let mut client = server.connect().await;
    client
        .write_all(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answer = read_until_closed(&mut client).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_ends_idle_connections() {
    let mut slow = limits();
    slow.header_timeout = Duration::from_secs(30);
    let server = Server::start(slow).await;
    let mut idle = server.connect().await;
    let mut client = server.connect().await;
    client
        .write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut head = vec![0; 1024];
    let read = tokio::time::timeout(WAIT, client.read(&mut head))
        .await
        .expect("answered")
        .expect("read");
    assert!(head[..read].starts_with(b"HTTP/1.1 200 OK"));
    server.stop().await;
    read_until_closed(&mut idle).await;
    read_until_closed(&mut client).await;
}

#[test]
fn caps_shrink_in_proportion_to_fit_the_descriptors_left_after_the_reserve() {
    let mut control = limits();
    control.max_connections = 512;
    let mut metrics = limits();
    metrics.max_connections = 64;
    assert_eq!(
        fit_to_descriptors(&mut [&mut control, &mut metrics], 1 << 20, reserve(3)),
        None
    );
    assert_eq!(
        (control.max_connections, metrics.max_connections),
        (512, 64)
    );

    // 1024 descriptors, 20 services: 1024 - (256 + 320) = 448 for clients.
    let warning = fit_to_descriptors(&mut [&mut control, &mut metrics], 1024, reserve(20))
        .expect("a warning");
    assert_eq!(
        (control.max_connections, metrics.max_connections),
        (398, 49)
    );
    assert!(warning.contains("test 398, test 49"), "{warning}");
    assert!(control.max_connections + metrics.max_connections <= 448);

    // Nothing left: each keeps a few.
    fit_to_descriptors(&mut [&mut control, &mut metrics], 256, reserve(20));
    assert_eq!((control.max_connections, metrics.max_connections), (4, 4));
}

/// Every listener goes through [`serve`]: nothing else in the crate serves HTTP connections, so
/// none can do without the limits (a later listener included).
#[test]
fn no_listener_is_served_any_other_way() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut pending = vec![src.clone()];
    let mut offenders = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src");
            if relative.starts_with("listener") || relative == std::path::Path::new("listener.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for needle in ["axum::serve", "server::conn", "serve_connection"] {
                if text.contains(needle) {
                    offenders.push(format!("{} uses {needle}", relative.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "serve every listener with `listener::serve` and its `Limits` instead: {offenders:?}"
    );
}
