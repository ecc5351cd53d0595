//! The router of API v1: every route, its handler, and how failures become [`ApiError`] JSON.
//!
//! [`ROUTES`] is the list of routes, and the router is built from it: a route missing from it is
//! not served, and a test checks that every entry has a handler and is documented in
//! `docs/api.yaml`. Every response that is not a success carries an [`ApiError`] body, including
//! axum's own rejections (bad JSON, too large a body, a wrong method, an unknown route): they are
//! mapped here and never reach the client as axum's plain-text bodies.
//!
//! Handlers never wait for the supervisor to read state (the status snapshot is in a `watch`
//! channel) and wait at most [`REPLY_TIMEOUT`] for it to accept a change.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_stream::{Stream, StreamExt};

use crate::api::wire::{
    ApiError, Event, FlushReport, FlushRequest, Lagged, LogLine, ProjectStatus, Reply, Request,
};
use crate::api::{ApiContext, LogEvent};
use crate::human;

/// Every route the router serves, as (method, path) with axum's `{capture}` syntax.
/// `docs/api.yaml` must document exactly these (a test checks).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/status"),
    ("GET", "/v1/services"),
    ("GET", "/v1/services/{name}"),
    ("POST", "/v1/services/{name}/start"),
    ("POST", "/v1/services/{name}/stop"),
    ("POST", "/v1/services/{name}/restart"),
    ("POST", "/v1/actions"),
    ("POST", "/v1/shutdown"),
    ("GET", "/v1/events"),
    ("GET", "/v1/logs"),
    ("POST", "/v1/logs/flush"),
    ("GET", "/v1/resources"),
    ("GET", "/v1/services/{name}/details"),
    ("GET", "/v1/graph"),
    ("POST", "/v1/dashboard"),
    ("POST", "/v1/dashboard/token"),
];

/// Routes served on the control socket only, never over the dashboard's TCP listener: they hand
/// out or replace the dashboard's token, which only the socket's owner may do.
pub const SOCKET_ONLY_PATHS: &[&str] = &["/v1/dashboard", "/v1/dashboard/token"];

/// The largest request body accepted; larger ones are answered 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// How long a request body may take to arrive once its headers have; then the request is
/// answered 408. Without it, a client that announced a body and stalled held its connection
/// open forever (the header timeout of `server` only covers the headers).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a handler waits for the daemon to answer a request before answering 503.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest time between two snapshots on `GET /v1/status?follow=true`: changes in between
/// are folded into the next one (a crash loop or a 50-service start changes the status hundreds
/// of times a second).
pub const STATUS_STREAM_INTERVAL: Duration = Duration::from_millis(250);
/// How often an idle SSE stream gets a keep-alive comment.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Log lines returned when `n` is not given.
pub const DEFAULT_LOG_LINES: usize = 100;
/// The most past events one `events` stream starts with (a larger `n` is clamped to it; the
/// daemon keeps no more anyway).
pub const MAX_PAST_EVENTS: usize = 1_000;
/// The most log lines one `logs` call returns (a larger `n` is clamped to it).
pub const MAX_LOG_LINES: usize = 10_000;

/// The API's router, ready to serve.
///
/// SSE streams end when `stop` becomes true (so a graceful shutdown does not wait for clients
/// that follow forever); if its sender is dropped, they never end that way.
pub fn router(context: ApiContext, stop: watch::Receiver<bool>) -> Router {
    build(AppState {
        context,
        stop,
        reply_timeout: REPLY_TIMEOUT,
    })
}

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) context: ApiContext,
    pub(crate) stop: watch::Receiver<bool>,
    /// [`REPLY_TIMEOUT`], shorter in tests.
    pub(crate) reply_timeout: Duration,
}

pub(crate) fn build(state: AppState) -> Router {
    let mut router = Router::new();
    for &(method, path) in ROUTES {
        // An entry without a handler is skipped (a unit test catches it): building the router
        // must not panic.
        if let Some(method_router) = handler(method, path) {
            router = router.route(path, method_router);
        }
    }
    router
        // Must come after the routes: it applies to the method routers registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The handler of a route in [`ROUTES`].
fn handler(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    let method_router = match (method, path) {
        ("GET", "/v1/status") => get(status),
        ("GET", "/v1/services") => get(services),
        ("GET", "/v1/services/{name}") => get(service),
        ("POST", "/v1/services/{name}/start") => post(start),
        ("POST", "/v1/services/{name}/stop") => post(stop),
        ("POST", "/v1/services/{name}/restart") => post(restart),
        ("POST", "/v1/actions") => post(actions),
        ("POST", "/v1/shutdown") => post(shutdown),
        ("GET", "/v1/events") => get(events),
        ("GET", "/v1/logs") => get(logs),
        ("POST", "/v1/logs/flush") => post(flush_logs),
        ("GET", "/v1/resources") => get(resources),
        ("GET", "/v1/services/{name}/details") => get(details),
        ("GET", "/v1/graph") => get(graph),
        ("POST", "/v1/dashboard") => post(dashboard),
        ("POST", "/v1/dashboard/token") => post(dashboard_token),
        _ => return None,
    };
    Some(method_router)
}

// ---------------------------------------------------------------------------------------------
// Reads: answered from the snapshot.

async fn status(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let mut follow = false;
    let pairs = match form_pairs(query.as_deref().unwrap_or("")) {
        Ok(pairs) => pairs,
        Err(error) => return error.into_response(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "follow" => match parse_bool("follow", &value) {
                Ok(value) => follow = value,
                Err(error) => return error.into_response(),
            },
            other => {
                return ApiError::bad_request(format!(
                    "unknown query parameter \"{other}\" (expected: follow)"
                ))
                .into_response();
            }
        }
    }
    if !follow {
        return json(
            StatusCode::OK,
            &*with_fresh_log_counts(&state, snapshot(&state)),
        );
    }
    // The current snapshot at once, then the latest one after each change, at most every
    // STATUS_STREAM_INTERVAL (a watch keeps only the latest value, so a slow reader skips
    // snapshots, never falls behind). A follower counts as watching resources, so the
    // monitor samples at its fast interval while someone follows.
    let resources = Arc::clone(&state.context.resources);
    let snapshots = WatchStream::new(state.context.status.clone())
        .throttle(STATUS_STREAM_INTERVAL)
        .map(move |snapshot| {
            resources.watching();
            SseEvent::default().event("status").json_data(&*snapshot)
        });
    sse(until_stopped(snapshots, state.stop.clone()))
}

async fn services(State(state): State<AppState>) -> Response {
    json(StatusCode::OK, &snapshot(&state).services)
}

async fn service(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(name) = match name {
        Ok(name) => name,
        Err(rejection) => return bad_path(rejection),
    };
    let snapshot = snapshot(&state);
    // `web` is the service's first instance; `web:2` one of its instances.
    let (service_name, number) = match name.split_once(':') {
        Some((service_name, number)) => (service_name, number.parse::<u32>().ok()),
        None => (name.as_str(), None),
    };
    match snapshot.services.iter().find(|service| {
        service.name == service_name && number.is_none_or(|number| service.instance == number)
    }) {
        Some(service) => json(StatusCode::OK, service),
        None => unknown_service(&name).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Changes: forwarded to the daemon.

async fn start(state: State<AppState>, name: Result<Path<String>, PathRejection>) -> Response {
    control(state, name, |services| Request::Start { services }).await
}

async fn stop(state: State<AppState>, name: Result<Path<String>, PathRejection>) -> Response {
    control(state, name, |services| Request::Stop { services }).await
}

async fn restart(state: State<AppState>, name: Result<Path<String>, PathRejection>) -> Response {
    control(state, name, |services| Request::Restart { services }).await
}

async fn control(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    request: impl FnOnce(Vec<String>) -> Request,
) -> Response {
    let Path(name) = match name {
        Ok(name) => name,
        Err(rejection) => return bad_path(rejection),
    };
    if let Err(error) = check_services(&state, std::slice::from_ref(&name)) {
        return error.into_response();
    }
    forward(&state, request(vec![name])).await
}

async fn actions(State(state): State<AppState>, body: JsonBody<Request>) -> Response {
    let JsonBody(request) = body;
    let named = match &request {
        Request::Start { services }
        | Request::Stop { services }
        | Request::Restart { services }
        | Request::Reload { services } => services.as_slice(),
        Request::Scale { service, .. } => std::slice::from_ref(service),
        Request::Shutdown | Request::Apply { .. } => &[],
    };
    if let Err(error) = check_services(&state, named) {
        return error.into_response();
    }
    forward(&state, request).await
}

async fn shutdown(State(state): State<AppState>) -> Response {
    forward(&state, Request::Shutdown).await
}

// ---------------------------------------------------------------------------------------------
// The dashboard (control socket only: see SOCKET_ONLY_PATHS).

async fn dashboard(State(state): State<AppState>) -> Response {
    match &state.context.dashboard {
        Some(dashboard) => match dashboard.open() {
            Ok(info) => json(StatusCode::OK, &info),
            Err(error) => error.into_response(),
        },
        None => no_dashboard(),
    }
}

async fn dashboard_token(State(state): State<AppState>) -> Response {
    match &state.context.dashboard {
        Some(dashboard) => match dashboard.rotate_token() {
            Ok(info) => json(StatusCode::OK, &info),
            Err(error) => error.into_response(),
        },
        None => no_dashboard(),
    }
}

fn no_dashboard() -> Response {
    ApiError::not_found("this server has no dashboard to control").into_response()
}

/// Sends a request to the daemon and turns its answer (or its silence) into a response.
async fn forward(state: &AppState, request: Request) -> Response {
    let (answer, answered) = oneshot::channel();
    if state.context.requests.send((request, answer)).is_err() {
        return ApiError::unavailable(
            "the daemon no longer accepts requests (it is shutting down)",
        )
        .into_response();
    }
    match tokio::time::timeout(state.reply_timeout, answered).await {
        Ok(Ok(Ok(reply))) => json::<Reply>(StatusCode::ACCEPTED, &reply),
        Ok(Ok(Err(error))) => error.into_response(),
        Ok(Err(_dropped)) => {
            ApiError::unavailable("the daemon dropped the request without answering")
                .into_response()
        }
        Err(_elapsed) => ApiError::unavailable(format!(
            "the daemon did not answer within {}",
            human::duration(state.reply_timeout)
        ))
        .into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Streams.

async fn events(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let pairs = match form_pairs(query.as_deref().unwrap_or("")) {
        Ok(pairs) => pairs,
        Err(error) => return error.into_response(),
    };
    let mut services = Vec::new();
    let mut n = 0;
    for (key, value) in pairs {
        match key.as_str() {
            "service" => services.push(value),
            "n" => match value.parse::<usize>() {
                Ok(value) => n = value.min(MAX_PAST_EVENTS),
                Err(_) => {
                    return ApiError::bad_request(format!(
                        "n must be a number of events, not {value:?}"
                    ))
                    .into_response();
                }
            },
            other => {
                return ApiError::bad_request(format!(
                    "unknown query parameter \"{other}\" (expected: service, n)"
                ))
                .into_response();
            }
        }
    }
    if let Err(error) = check_services(&state, &services) {
        return error.into_response();
    }
    // Subscribe before reading the record, so no event falls between the two; the daemon
    // records an event before it publishes it, so one that is in both is at the end of the
    // record and at the start of the stream, and skipped there (as `logs` does with lines).
    let receiver = state.context.events.subscribe();
    let past = match n {
        0 => Vec::new(),
        n => state.context.records.events(&services, n),
    };
    let mut overlap = past.clone();
    let wanted = move |event: &Event| {
        services.is_empty()
            || event
                .service
                .as_ref()
                .is_none_or(|service| services.contains(service))
    };
    let live = BroadcastStream::new(receiver).filter_map(move |item| match item {
        Ok(event) => {
            if !wanted(&event) {
                return None;
            }
            if let Some(position) = overlap.iter().position(|seen| *seen == event) {
                overlap.drain(..=position);
                return None;
            }
            overlap = Vec::new();
            Some(event_sse(&event))
        }
        Err(BroadcastStreamRecvError::Lagged(skipped)) => Some(lagged(skipped)),
    });
    let head = tokio_stream::iter(past).map(|event| event_sse(&event));
    sse(until_stopped(head.chain(live), state.stop.clone()))
}

fn event_sse(event: &Event) -> Result<SseEvent, axum::Error> {
    SseEvent::default()
        .event(sse_event_name(&event.kind))
        .json_data(event)
}

/// `GET /v1/services/{name}/details`: config and histories.
async fn details(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(name) = match name {
        Ok(name) => name,
        Err(rejection) => return bad_path(rejection),
    };
    match state.context.records.service(&name) {
        Some(details) => json(StatusCode::OK, &details),
        None => unknown_service(&name).into_response(),
    }
}

/// `GET /v1/graph`: the dependency graph and the latest start-up's timings.
async fn graph(State(state): State<AppState>) -> Response {
    json(StatusCode::OK, &state.context.records.graph())
}

/// `POST /v1/logs/flush`: empties services' log files (`wrangle flush`).
async fn flush_logs(State(state): State<AppState>, body: JsonBody<FlushRequest>) -> Response {
    let JsonBody(request) = body;
    if let Err(error) = check_services(&state, &request.services) {
        return error.into_response();
    }
    match state.context.logs.flush(&request.services).await {
        Ok(services) => json(StatusCode::OK, &FlushReport { services }),
        Err(error) => error.into_response(),
    }
}

/// The parameters of `GET /v1/logs`.
#[derive(Debug, PartialEq)]
struct LogsQuery {
    services: Vec<String>,
    n: usize,
    since: Option<Duration>,
    follow: bool,
}

async fn logs(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let query = match parse_logs_query(query.as_deref().unwrap_or("")) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = check_services(&state, &query.services) {
        return error.into_response();
    }
    let since = query.since.map(|since| {
        SystemTime::now()
            .checked_sub(since)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    });
    if !query.follow {
        return match state
            .context
            .logs
            .tail(&query.services, query.n, since)
            .await
        {
            Ok(lines) => json(StatusCode::OK, &lines),
            Err(error) => error.into_response(),
        };
    }
    // The source gives the tail and then the lines after it, with nothing in between lost or
    // repeated.
    let lines = match state
        .context
        .logs
        .follow(&query.services, query.n, since)
        .await
    {
        Ok(lines) => lines,
        Err(error) => return error.into_response(),
    };
    let events = lines.map(|event| match event {
        LogEvent::Line(line) => line_event(&line),
        LogEvent::Skipped(skipped) => SseEvent::default().event("skipped").json_data(skipped),
    });
    sse(until_stopped(events, state.stop.clone()))
}

/// `GET /v1/resources?service=NAME...`: recent samples, oldest first.
async fn resources(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let pairs = match form_pairs(query.as_deref().unwrap_or("")) {
        Ok(pairs) => pairs,
        Err(error) => return error.into_response(),
    };
    let mut services = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "service" => services.push(value),
            other => {
                return ApiError::bad_request(format!(
                    "unknown query parameter \"{other}\" (expected: service)"
                ))
                .into_response();
            }
        }
    }
    if let Err(error) = check_services(&state, &services) {
        return error.into_response();
    }
    json(StatusCode::OK, &state.context.resources.history(&services))
}

fn line_event(line: &LogLine) -> Result<SseEvent, axum::Error> {
    SseEvent::default().event("line").json_data(line)
}

fn lagged(skipped: u64) -> Result<SseEvent, axum::Error> {
    SseEvent::default()
        .event("lagged")
        .json_data(Lagged { skipped })
}

fn sse<S>(stream: S) -> Response
where
    S: Stream<Item = Result<SseEvent, axum::Error>> + Send + 'static,
{
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE_INTERVAL))
        .into_response()
}

/// An SSE event name made of `[a-z0-9_]` only: the kind comes from the daemon, and a line break
/// in it would make axum panic (and would break the framing anyway).
fn sse_event_name(kind: &str) -> String {
    let name: String = kind
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if name.is_empty() {
        "event".to_string()
    } else {
        name
    }
}

enum Step<T> {
    Item(T),
    Stop,
}

/// `stream` until `stop` becomes true.
fn until_stopped<S>(
    stream: S,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = S::Item> + Send + 'static
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    let stopped = WatchStream::new(stop)
        .filter(|stopped| *stopped)
        .map(|_| Step::Stop);
    stream
        .map(Step::Item)
        .merge(stopped)
        .map_while(|step| match step {
            Step::Item(item) => Some(item),
            Step::Stop => None,
        })
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// `status` with each service's log counts as they are now: they grow without state changes,
/// and the snapshot has them only as of the last resource sample.
fn with_fresh_log_counts(state: &AppState, mut status: Arc<ProjectStatus>) -> Arc<ProjectStatus> {
    let logs = &state.context.logs;
    let stale = |entry: &crate::api::wire::ServiceStatus| {
        logs.counts(&entry.name).filter(|counts| {
            (counts.bytes_written, counts.lines_dropped)
                != (entry.log_bytes, entry.log_lines_dropped)
        })
    };
    if status.services.iter().any(|entry| stale(entry).is_some()) {
        let updated = Arc::make_mut(&mut status);
        for entry in &mut updated.services {
            if let Some(counts) = logs.counts(&entry.name) {
                entry.log_bytes = counts.bytes_written;
                entry.log_lines_dropped = counts.lines_dropped;
            }
        }
    }
    status
}

fn snapshot(state: &AppState) -> Arc<ProjectStatus> {
    // Clone the `Arc` and release the watch's read lock at once.
    state.context.status.borrow().clone()
}

fn unknown_service(name: &str) -> ApiError {
    ApiError::not_found(format!("no service named \"{name}\""))
}

/// Every name must be a service of the snapshot.
fn check_services(state: &AppState, names: &[String]) -> Result<(), ApiError> {
    if names.is_empty() {
        return Ok(());
    }
    let snapshot = snapshot(state);
    // An instance (`web:2`) is checked by the daemon, which knows its instances.
    fn service_name(name: &str) -> &str {
        name.split_once(':').map_or(name, |(service, _)| service)
    }
    match names.iter().find(|name| {
        !snapshot
            .services
            .iter()
            .any(|s| s.name == service_name(name))
    }) {
        Some(unknown) => Err(unknown_service(unknown)),
        None => Ok(()),
    }
}

/// A JSON response. Serializing the wire types cannot fail, but if it did the client would get
/// a 500 rather than the daemon a panic.
fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from(body),
        )
            .into_response(),
        Err(error) => {
            ApiError::internal(format!("cannot serialize the response: {error}")).into_response()
        }
    }
}

fn bad_path(rejection: PathRejection) -> Response {
    ApiError::bad_request(format!("bad path: {}", rejection.body_text())).into_response()
}

async fn route_not_found(uri: Uri) -> Response {
    ApiError::not_found(format!("no route {}", uri.path())).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::bad_request(format!("method {method} is not allowed on {}", uri.path()))
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// 408: the body did not arrive within [`BODY_READ_TIMEOUT`] (by this handler's clock or the
/// listener's, whichever ran out first).
fn body_timed_out() -> Response {
    ApiError::bad_request(format!(
        "the request body did not arrive within {}",
        human::duration(BODY_READ_TIMEOUT)
    ))
    .with_status(StatusCode::REQUEST_TIMEOUT)
}

/// A JSON request body, whatever its content type, with every failure as an [`ApiError`]:
/// 413 beyond [`BODY_LIMIT`], 408 when it does not arrive within [`BODY_READ_TIMEOUT`], 400
/// for anything that is not the expected JSON.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let read = tokio::time::timeout(BODY_READ_TIMEOUT, Bytes::from_request(request, state));
        let bytes = match read.await {
            Err(_elapsed) => return Err(body_timed_out()),
            Ok(read) => read,
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::bad_request(format!(
                    "the request body is larger than {BODY_LIMIT} bytes"
                ))
                .with_status(StatusCode::PAYLOAD_TOO_LARGE));
            }
            Err(rejection) if crate::listener::is_body_timeout(&rejection) => {
                return Err(body_timed_out());
            }
            Err(rejection) => {
                return Err(ApiError::bad_request(format!(
                    "cannot read the request body: {}",
                    rejection.body_text()
                ))
                .into_response());
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(JsonBody(value)),
            Err(error) => {
                Err(ApiError::bad_request(format!("malformed JSON body: {error}")).into_response())
            }
        }
    }
}

/// The `key=value` pairs of a query string, percent-decoded, in order.
fn form_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn parse_logs_query(query: &str) -> Result<LogsQuery, ApiError> {
    let mut parsed = LogsQuery {
        services: Vec::new(),
        n: DEFAULT_LOG_LINES,
        since: None,
        follow: false,
    };
    for (key, value) in form_pairs(query)? {
        match key.as_str() {
            "service" => parsed.services.push(value),
            "n" => {
                let n: usize = value.parse().map_err(|_| {
                    ApiError::bad_request(format!("n must be a number of lines, not {value:?}"))
                })?;
                parsed.n = n.min(MAX_LOG_LINES);
            }
            "since" => {
                let since = humantime::parse_duration(&value).map_err(|error| {
                    ApiError::bad_request(format!(
                        "since must be a duration such as 10s or 5m, not {value:?}: {error}"
                    ))
                })?;
                parsed.since = Some(since);
            }
            "follow" => parsed.follow = parse_bool("follow", &value)?,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {key:?} (expected service, n, since, follow)"
                )));
            }
        }
    }
    Ok(parsed)
}

/// A boolean query parameter: `true`, `1` or nothing; `false` or `0`.
fn parse_bool(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "{key} must be true or false, not {value:?}"
        ))),
    }
}

/// `application/x-www-form-urlencoded` decoding of one key or value.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    let malformed = || ApiError::bad_request(format!("malformed query string near {text:?}"));
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = input.next().and_then(hex_value).ok_or_else(malformed)?;
                let low = input.next().and_then(hex_value).ok_or_else(malformed)?;
                bytes.push(high << 4 | low);
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).map_err(|_| malformed())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
