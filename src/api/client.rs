//! The client the CLI uses to talk to a project's daemon: HTTP/1 over the control socket, one
//! fresh connection per call, no pool.
//!
//! The CLI must never hang because no daemon runs: a missing socket or a refused connection is
//! [`ClientError::NotRunning`] at once, and every call but the `follow_*` ones is bounded by
//! [`CALL_TIMEOUT`]. The connection is driven inside the call's own future (not spawned), so
//! dropping a call tears its socket down with it, and the `follow_*` callbacks need not be `Send`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::api::wire::{
    ApiError, DashboardInfo, Event, FlushReport, FlushRequest, Lagged, LogLine, LogStream,
    ProjectGraph, ProjectStatus, Reply, Request, ResourceHistory, ServiceDetails, Skipped,
};
use crate::human;

/// The bound on every call that does not follow a stream: connecting, sending, and reading the
/// whole answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read (10 000 log lines of the longest kind fit).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// The largest single SSE event read.
const MAX_SSE_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// A client of one daemon, named by its control socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listens on the socket (it does not exist, or nobody accepts on it).
    #[error("no daemon is running for this project")]
    NotRunning,
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// Talking to the daemon failed (including a timeout, as `TimedOut`).
    #[error("cannot talk to the daemon: {0}")]
    Io(#[from] io::Error),
    /// The daemon's answer made no sense (not HTTP, not the expected JSON).
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl Client {
    pub fn new(socket: PathBuf) -> Client {
        Client { socket }
    }

    /// The control socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<ProjectStatus, ClientError> {
        self.call(Method::GET, "/v1/status".to_string(), None).await
    }

    /// `POST /v1/actions`.
    pub async fn request(&self, request: &Request) -> Result<Reply, ClientError> {
        let body = serde_json::to_vec(request)
            .map_err(|error| ClientError::Protocol(format!("cannot encode request: {error}")))?;
        self.call(Method::POST, "/v1/actions".to_string(), Some(body))
            .await
    }

    /// `POST /v1/dashboard`: where the dashboard serves and its token (started on a free
    /// loopback port first if it serves nowhere yet).
    pub async fn dashboard(&self) -> Result<DashboardInfo, ClientError> {
        self.call(Method::POST, "/v1/dashboard".to_string(), None)
            .await
    }

    /// `POST /v1/dashboard/token`: replaces the dashboard's token, signing every session out.
    pub async fn rotate_dashboard_token(&self) -> Result<DashboardInfo, ClientError> {
        self.call(Method::POST, "/v1/dashboard/token".to_string(), None)
            .await
    }

    /// `GET /v1/logs`: the last `n` lines of these services (all when empty), only those of the
    /// last `since` (a duration such as `10m`) when given.
    pub async fn logs(
        &self,
        services: &[String],
        n: usize,
        since: Option<&str>,
    ) -> Result<Vec<LogLine>, ClientError> {
        let path = logs_path(services, n, since, false);
        self.call(Method::GET, path, None).await
    }

    /// `GET /v1/services/{name}/details`: the service's resolved config and histories.
    pub async fn service_details(&self, name: &str) -> Result<ServiceDetails, ClientError> {
        let path = format!("/v1/services/{}/details", percent_encode(name));
        self.call(Method::GET, path, None).await
    }

    /// `GET /v1/graph`: the dependency graph with the latest start-up's timings.
    pub async fn graph(&self) -> Result<ProjectGraph, ClientError> {
        self.call(Method::GET, "/v1/graph".to_string(), None).await
    }

    /// `POST /v1/logs/flush`: empties the log files of these services (all when empty).
    pub async fn flush_logs(&self, services: &[String]) -> Result<FlushReport, ClientError> {
        let request = FlushRequest {
            services: services.to_vec(),
        };
        let body = serde_json::to_vec(&request)
            .map_err(|error| ClientError::Protocol(format!("cannot encode request: {error}")))?;
        self.call(Method::POST, "/v1/logs/flush".to_string(), Some(body))
            .await
    }

    /// `GET /v1/resources`: recent samples of these services (all when empty). Also keeps the
    /// daemon sampling at its fast interval while it is called regularly.
    pub async fn resources(&self, services: &[String]) -> Result<ResourceHistory, ClientError> {
        let mut path = "/v1/resources".to_string();
        for (index, service) in services.iter().enumerate() {
            path.push_str(if index == 0 { "?service=" } else { "&service=" });
            path.push_str(&percent_encode(service));
        }
        self.call(Method::GET, path, None).await
    }

    /// Follows `/v1/logs?follow=true`: the last `n` lines, then every new one, until the daemon
    /// closes the stream or `on_line` returns false.
    ///
    /// When this client reads so slowly that output it had not read was removed from the log
    /// files, `on_line` gets a notice in its place: a line of service `wrangle` on stderr saying
    /// how much was skipped.
    pub async fn follow_logs(
        &self,
        services: &[String],
        n: usize,
        mut on_line: impl FnMut(LogLine) -> bool,
    ) -> Result<(), ClientError> {
        let path = logs_path(services, n, None, true);
        self.follow(path, |name, data| match name {
            "line" => Ok(Some(on_line(parse::<LogLine>(data)?))),
            "skipped" => {
                let skipped = parse::<Skipped>(data)?;
                let amount = match skipped.bytes {
                    Some(bytes) => format!("{bytes} bytes of output"),
                    None => "output".to_string(),
                };
                Ok(Some(on_line(LogLine {
                    time: human::time(SystemTime::now()),
                    service: "wrangle".to_string(),
                    stream: LogStream::Stderr,
                    text: format!(
                        "{}: {amount} skipped: this client read too slowly, and the log files \
                         no longer hold it",
                        skipped.service
                    ),
                    partial: false,
                })))
            }
            _ => Ok(None),
        })
        .await
    }

    /// Follows `/v1/events` until the daemon closes the stream or `on_event` returns false.
    ///
    /// When this client reads too slowly and the daemon drops events for it, `on_event` gets an
    /// event of kind `lagged` in their place, saying how many were skipped.
    pub async fn follow_events(
        &self,
        on_event: impl FnMut(Event) -> bool,
    ) -> Result<(), ClientError> {
        self.follow_events_subscribed(None, on_event).await
    }

    /// [`Client::follow_events`], saying on `subscribed` once the daemon has subscribed this
    /// client: a request sent after that cannot have events this client misses.
    pub async fn follow_events_subscribed(
        &self,
        subscribed: Option<tokio::sync::oneshot::Sender<()>>,
        mut on_event: impl FnMut(Event) -> bool,
    ) -> Result<(), ClientError> {
        let path = "/v1/events".to_string();
        self.follow_from(path, subscribed, |name, data| match name {
            "lagged" => {
                let lagged = parse::<Lagged>(data)?;
                Ok(Some(on_event(Event {
                    time: human::time(SystemTime::now()),
                    kind: "lagged".to_string(),
                    service: None,
                    instance: None,
                    message: format!(
                        "{} events skipped: this client read too slowly",
                        lagged.skipped
                    ),
                    pid: None,
                })))
            }
            _ => Ok(Some(on_event(parse::<Event>(data)?))),
        })
        .await
    }

    /// One bounded call whose successful answer is JSON.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let exchange = async {
            let mut exchange = self.open(method, &path, body).await?;
            let status = exchange.status;
            let body = exchange.read_to_end().await?;
            if !status.is_success() {
                return Err(error_from(status, &body));
            }
            serde_json::from_slice(&body).map_err(|error| {
                ClientError::Protocol(format!("cannot parse the answer to {path}: {error}"))
            })
        };
        match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(timed_out()),
        }
    }

    /// Follows an SSE route: `on_event(name, data)` for each event until the stream ends or the
    /// callback says `Some(false)` (`None`: an event this client does not know, skipped).
    async fn follow(
        &self,
        path: String,
        on_event: impl FnMut(&str, &str) -> Result<Option<bool>, ClientError>,
    ) -> Result<(), ClientError> {
        self.follow_from(path, None, on_event).await
    }

    /// [`Client::follow`], telling `subscribed` once the stream's head has come: the daemon
    /// subscribes a stream before it answers.
    async fn follow_from(
        &self,
        path: String,
        subscribed: Option<tokio::sync::oneshot::Sender<()>>,
        mut on_event: impl FnMut(&str, &str) -> Result<Option<bool>, ClientError>,
    ) -> Result<(), ClientError> {
        let opened = tokio::time::timeout(CALL_TIMEOUT, self.open(Method::GET, &path, None));
        let mut exchange = match opened.await {
            Ok(result) => result?,
            Err(_elapsed) => return Err(timed_out()),
        };
        if !exchange.status.is_success() {
            let status = exchange.status;
            let body = tokio::time::timeout(CALL_TIMEOUT, exchange.read_to_end())
                .await
                .map_err(|_elapsed| timed_out())??;
            return Err(error_from(status, &body));
        }
        if let Some(subscribed) = subscribed {
            let _ = subscribed.send(());
        }
        let mut parser = SseParser::default();
        while let Some(chunk) = exchange.next_chunk().await? {
            for (name, data) in parser.push(&chunk)? {
                if on_event(&name, &data)? == Some(false) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Connects, sends the request, and waits for the response's head.
    async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Exchange, ClientError> {
        let stream = match UnixStream::connect(&self.socket).await {
            Ok(stream) => stream,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Err(ClientError::NotRunning);
            }
            Err(error) => return Err(ClientError::Io(error)),
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|error| hyper_error(&error))?;
        let mut connection: Connection = Box::pin(async move {
            let _ = connection.await;
            std::future::pending::<Infallible>().await
        });
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "localhost")
            .header(ACCEPT, "application/json, text/event-stream");
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|error| ClientError::Protocol(format!("cannot build request: {error}")))?;
        let response = tokio::select! {
            response = sender.send_request(request) => response,
            never = &mut connection => match never {},
        };
        let response = response.map_err(|error| hyper_error(&error))?;
        Ok(Exchange {
            status: response.status(),
            body: response.into_body(),
            connection,
        })
    }
}

/// A response being read, with the connection that carries it.
struct Exchange {
    status: StatusCode,
    body: Incoming,
    connection: Connection,
}

/// The connection driver of one exchange: it never completes (its output type is uninhabited);
/// it is polled next to the request and the body so that the connection makes progress, and
/// once the connection ends, they fail on their own.
type Connection = Pin<Box<dyn Future<Output = Infallible> + Send>>;

impl Exchange {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            let frame = tokio::select! {
                frame = self.body.frame() => frame,
                never = &mut self.connection => match never {},
            };
            match frame {
                None => return Ok(None),
                Some(Err(error)) => return Err(hyper_error(&error)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                    // Trailers: nothing for us.
                }
            }
        }
    }

    async fn read_to_end(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ClientError::Protocol(format!(
                    "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Splits an SSE byte stream into (event name, data) pairs.
///
/// See: <https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>
#[derive(Default)]
struct SseParser {
    buffer: Vec<u8>,
    name: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<(String, String)>, ClientError> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut consumed = 0;
        while let Some(end) = self.buffer[consumed..].iter().position(|&b| b == b'\n') {
            let line = &self.buffer[consumed..consumed + end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = String::from_utf8_lossy(line).into_owned();
            consumed += end + 1;
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        self.buffer.drain(..consumed);
        if self.buffer.len() + self.data.len() > MAX_SSE_EVENT_BYTES {
            return Err(ClientError::Protocol(format!(
                "an event is larger than {MAX_SSE_EVENT_BYTES} bytes"
            )));
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Option<(String, String)> {
        if line.is_empty() {
            let name = std::mem::take(&mut self.name);
            let data = std::mem::take(&mut self.data);
            let has_data = std::mem::replace(&mut self.has_data, false);
            if !has_data {
                return None;
            }
            let name = if name.is_empty() {
                "message".to_string()
            } else {
                name
            };
            return Some((name, data));
        }
        if line.starts_with(':') {
            return None; // A comment: keep-alive.
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // id, retry, and unknown fields.
        }
        None
    }
}

fn logs_path(services: &[String], n: usize, since: Option<&str>, follow: bool) -> String {
    let mut path = format!("/v1/logs?n={n}");
    for service in services {
        path.push_str("&service=");
        path.push_str(&percent_encode(service));
    }
    if let Some(since) = since {
        path.push_str("&since=");
        path.push_str(&percent_encode(since));
    }
    if follow {
        path.push_str("&follow=true");
    }
    path
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte))
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

fn parse<T: DeserializeOwned>(data: &str) -> Result<T, ClientError> {
    serde_json::from_str(data)
        .map_err(|error| ClientError::Protocol(format!("cannot parse event data: {error}")))
}

/// An error status: the daemon's `ApiError` when the body is one.
fn error_from(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(error) => ClientError::Api(error),
        Err(_) => ClientError::Protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

fn hyper_error(error: &hyper::Error) -> ClientError {
    let io_source = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<io::Error>())
        .map(|source| io::Error::new(source.kind(), source.to_string()));
    match io_source {
        Some(io_error) => ClientError::Io(io_error),
        None if error.is_incomplete_message() || error.is_canceled() || error.is_closed() => {
            ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection before answering",
            ))
        }
        None => ClientError::Protocol(error.to_string()),
    }
}

fn timed_out() -> ClientError {
    ClientError::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the daemon did not answer within {}",
            human::duration(CALL_TIMEOUT)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_chunks_comments_and_multiline_data() {
        let mut parser = SseParser::default();
        let mut events = parser.push(b": keep-alive\n\nevent: rea").unwrap();
        events.extend(parser.push(b"dy\r\ndata: {\"a\":\n").unwrap());
        events.extend(parser.push(b"data: 1}\n\ndata:x\n\n").unwrap());
        assert_eq!(
            events,
            vec![
                ("ready".to_string(), "{\"a\":\n1}".to_string()),
                ("message".to_string(), "x".to_string()),
            ]
        );
    }

    #[test]
    fn sse_parser_bounds_an_endless_line() {
        let mut parser = SseParser::default();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut result = Ok(Vec::new());
        for _ in 0..20 {
            result = parser.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(ClientError::Protocol(_))));
    }

    #[test]
    fn logs_path_encodes_names() {
        assert_eq!(
            logs_path(&["a b".into(), "c&d".into()], 5, Some("1m"), true),
            "/v1/logs?n=5&service=a%20b&service=c%26d&since=1m&follow=true"
        );
    }
}
