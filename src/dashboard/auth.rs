//! Who may use the dashboard's listener, and the headers every answer carries.
//!
//! [`guard`] runs before every handler and decides in this order:
//!
//! 1. `Host` must name this listener (a loopback name or address and its port) when it listens
//!    on loopback: a page of another site whose name was made to resolve to 127.0.0.1 (DNS
//!    rebinding) gets a 403, not even the shell.
//! 2. Pages and assets are public: they hold nothing about the project.
//! 3. On `/v1/`, a request carrying an `Origin` other than the dashboard's own is refused (403),
//!    whatever its credentials.
//! 4. It needs credentials: `Authorization: Bearer TOKEN`, or the session cookie that
//!    `POST /v1/session` set after the token was presented once. Without them: 401 and a body
//!    that says nothing about the project.
//! 5. A request that changes something (any method but GET and HEAD) authenticated by the cookie
//!    alone must carry the dashboard's own `Origin` (CSRF: a browser adds `Origin` to every
//!    such request, a forged form on another site could not carry ours). Scripts that send the
//!    bearer token need no `Origin`.
//! 6. The routes that hand out the token (`api::routes::SOCKET_ONLY_PATHS`) do not exist here.
//!
//! Streams opened with credentials end when the token is rotated: the generation counter moves
//! and every such response body stops, so the page reconnects, is refused and signs out.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;

use crate::api::routes::SOCKET_ONLY_PATHS;
use crate::api::wire::ApiError;
use crate::dashboard::token::{Token, constant_time_eq};

/// The session cookie's name is this followed by the listener's port: browsers send a host's
/// cookies to all its ports, so two dashboards on one machine must not overwrite each other's.
pub const COOKIE_PREFIX: &str = "wrangle_session_";
/// How long a session lasts after the token was presented (a working day and then some).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// The most sessions kept; signing in once more drops the oldest.
const MAX_SESSIONS: usize = 64;

/// The policy of every response: scripts, styles and images from the dashboard itself only,
/// never inline and never `eval`; fetches and event streams to the dashboard only; no frames of
/// it anywhere; no plugins, no `<base>`, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The login state of one listener.
pub(crate) struct Auth {
    token: RwLock<Token>,
    sessions: Mutex<Vec<Session>>,
    /// Moves at each rotation; streams opened before it end.
    generation: watch::Sender<u64>,
    port: u16,
    cookie_name: String,
    /// The listener is on loopback, so `Host` must name loopback too.
    loopback_only: bool,
}

struct Session {
    id: Token,
    created: Instant,
}

/// How a request proved itself; handlers find it in the request's extensions.
#[derive(Debug, Clone)]
pub(crate) enum Credential {
    Bearer,
    Cookie(Token),
}

impl Auth {
    pub(crate) fn new(token: Token, address: SocketAddr) -> Auth {
        Auth {
            token: RwLock::new(token),
            sessions: Mutex::new(Vec::new()),
            generation: watch::channel(0).0,
            port: address.port(),
            cookie_name: format!("{COOKIE_PREFIX}{}", address.port()),
            loopback_only: address.ip().is_loopback(),
        }
    }

    pub(crate) fn token(&self) -> Token {
        self.token
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the token, drops every session, and ends every stream opened before.
    pub(crate) fn rotate(&self, token: Token) {
        *self.token.write().unwrap_or_else(PoisonError::into_inner) = token;
        self.lock_sessions().clear();
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// A new session; its id goes into the cookie.
    fn open_session(&self) -> Result<Token, ApiError> {
        let id = Token::generate().map_err(|error| ApiError::internal(error.to_string()))?;
        let mut sessions = self.lock_sessions();
        sessions.retain(|session| session.created.elapsed() < SESSION_LIFETIME);
        if sessions.len() >= MAX_SESSIONS {
            sessions.remove(0);
        }
        sessions.push(Session {
            id: id.clone(),
            created: Instant::now(),
        });
        Ok(id)
    }

    fn close_session(&self, id: &Token) {
        self.lock_sessions().retain(|session| session.id != *id);
    }

    /// The live session with this id. Every stored id is compared, in constant time each, so the
    /// time taken says nothing about how close a guess was.
    fn session(&self, candidate: &str) -> Option<Token> {
        let sessions = self.lock_sessions();
        let mut found = None;
        for session in sessions.iter() {
            let matches = constant_time_eq(session.id.as_str().as_bytes(), candidate.as_bytes());
            if matches && session.created.elapsed() < SESSION_LIFETIME {
                found = Some(session.id.clone());
            }
        }
        found
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `host` (the `Host` header) names this listener. Any name will do on a listener
    /// beyond loopback (its users reach it by whatever name they have; the token decides).
    fn host_allowed(&self, host: Option<&str>) -> bool {
        if !self.loopback_only {
            return true;
        }
        let Some((name, port)) = host.and_then(split_host) else {
            return false;
        };
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        loopback && port.unwrap_or(80) == self.port
    }

    /// The decision for one request: refused (the response), public, or admitted with a
    /// credential.
    fn admit(&self, request: &Request) -> Result<Option<Credential>, Refusal> {
        let headers = request.headers();
        let host = header_text(headers, &header::HOST);
        if !self.host_allowed(host) {
            return Err(Refusal::Forbidden(
                "the Host header does not name this dashboard (open it by its loopback address)",
            ));
        }
        let path = request.uri().path();
        if !is_api(path) {
            return Ok(None);
        }
        let origin = header_text(headers, &header::ORIGIN);
        if let Some(origin) = origin {
            let own =
                host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("http://{host}")));
            if !own {
                return Err(Refusal::Forbidden(
                    "cross-origin requests are refused: only the dashboard's own pages may call it",
                ));
            }
        }
        let credential = match header_text(headers, &header::AUTHORIZATION) {
            Some(authorization) => match authorization.strip_prefix("Bearer ") {
                Some(candidate) if self.token().matches(candidate.trim()) => Credential::Bearer,
                _ => {
                    return Err(Refusal::Unauthorized(
                        "the token is not valid (was it rotated?)",
                    ));
                }
            },
            None => match self.cookie(headers).and_then(|value| self.session(&value)) {
                Some(session) => Credential::Cookie(session),
                None => return Err(Refusal::Unauthorized("sign in with the dashboard's token")),
            },
        };
        let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
        if changes && origin.is_none() && matches!(credential, Credential::Cookie(_)) {
            return Err(Refusal::Forbidden(
                "a request that changes something and is signed in by the session cookie must \
                 carry the dashboard's Origin",
            ));
        }
        if SOCKET_ONLY_PATHS.contains(&path) {
            return Err(Refusal::NoRoute(path.to_string()));
        }
        Ok(Some(credential))
    }

    /// The value of this listener's session cookie, if the request carries it.
    fn cookie(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie_name)
            .map(|(_, value)| value.trim().to_string())
    }

    fn set_cookie(&self, value: &str, max_age: Duration) -> HeaderValue {
        let cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
            self.cookie_name,
            max_age.as_secs()
        );
        // Made of a fixed name, hex digits and fixed attributes: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Runs before every handler of the dashboard's router (see the module docs).
pub(crate) async fn guard(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let api = is_api(request.uri().path());
    // Subscribed before the credentials are checked, so a rotation in between still ends the
    // stream.
    let generation = auth.generation.subscribe();
    let mut response = match auth.admit(&request) {
        Err(refusal) => refusal.into_response(),
        Ok(None) => next.run(request).await,
        Ok(Some(credential)) => {
            request.extensions_mut().insert(credential);
            end_streams_on_rotation(next.run(request).await, generation)
        }
    };
    add_security_headers(response.headers_mut(), api);
    response
}

/// `GET /v1/session`: 204 when signed in (the guard answered 401 otherwise).
pub(crate) async fn session_check() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `POST /v1/session`: trades the token (or a live session) for a new session cookie.
pub(crate) async fn session_open(State(auth): State<Arc<Auth>>) -> Response {
    match auth.open_session() {
        Ok(id) => (
            StatusCode::NO_CONTENT,
            [(
                header::SET_COOKIE,
                auth.set_cookie(id.as_str(), SESSION_LIFETIME),
            )],
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// `DELETE /v1/session`: signs this session out and clears the cookie.
pub(crate) async fn session_close(
    State(auth): State<Arc<Auth>>,
    Extension(credential): Extension<Credential>,
) -> Response {
    if let Credential::Cookie(id) = credential {
        auth.close_session(&id);
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth.set_cookie("", Duration::ZERO))],
    )
        .into_response()
}

fn is_api(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Why the guard refused a request.
enum Refusal {
    /// No valid credentials (401).
    Unauthorized(&'static str),
    /// Another site's `Host` or `Origin`, or a cookie-signed change without ours (403).
    Forbidden(&'static str),
    /// A route this listener does not serve (404).
    NoRoute(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized(error) => {
                let mut response = ApiError::unauthorized(format!(
                    "{error}: run `wrangle dashboard` in the project for a link, or send \
                     Authorization: Bearer TOKEN"
                ))
                .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"wrangle\""),
                );
                response
            }
            Refusal::Forbidden(error) => ApiError::forbidden(error).into_response(),
            Refusal::NoRoute(path) => {
                ApiError::not_found(format!("no route {path}")).into_response()
            }
        }
    }
}

fn header_text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `name` and `port` of a `Host` header: `127.0.0.1:8080`, `[::1]:8080`, `localhost`.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((name, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((name, None)),
            None => None,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => Some((name, Some(port.parse().ok()?))),
        None => Some((host, None)),
    }
}

/// The headers every answer of the dashboard carries; API answers are never cached.
fn add_security_headers(headers: &mut HeaderMap, api: bool) {
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

enum Step<T> {
    Item(T),
    Stop,
}

/// An event stream's body, ended when the token is rotated (other bodies are left alone: they
/// are complete answers already).
fn end_streams_on_rotation(response: Response, generation: watch::Receiver<u64>) -> Response {
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        return response;
    }
    let (parts, body) = response.into_parts();
    let rotated = WatchStream::from_changes(generation).map(|_| Step::Stop);
    let data = body
        .into_data_stream()
        .map(Step::Item)
        .merge(rotated)
        .map_while(|step| match step {
            Step::Item(item) => Some(item),
            Step::Stop => None,
        });
    Response::from_parts(parts, Body::from_stream(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers_are_split() {
        assert_eq!(
            split_host("127.0.0.1:8080"),
            Some(("127.0.0.1", Some(8080)))
        );
        assert_eq!(split_host("[::1]:8080"), Some(("::1", Some(8080))));
        assert_eq!(split_host("[::1]"), Some(("::1", None)));
        assert_eq!(split_host("localhost"), Some(("localhost", None)));
        assert_eq!(split_host("evil.example:x"), None);
        assert_eq!(split_host("[::1"), None);
    }

    #[test]
    fn only_loopback_names_of_our_port_are_our_host() {
        let token = Token::generate().expect("token");
        let auth = Auth::new(token.clone(), "127.0.0.1:8421".parse().expect("address"));
        for host in [
            "127.0.0.1:8421",
            "localhost:8421",
            "LOCALHOST:8421",
            "[::1]:8421",
            "127.0.0.2:8421",
        ] {
            assert!(auth.host_allowed(Some(host)), "{host}");
        }
        for host in [
            "evil.example:8421",
            "127.0.0.1:8422",
            "127.0.0.1",
            "192.168.1.2:8421",
            "",
        ] {
            assert!(!auth.host_allowed(Some(host)), "{host}");
        }
        assert!(!auth.host_allowed(None));

        let wide = Auth::new(token, "0.0.0.0:8421".parse().expect("address"));
        assert!(wide.host_allowed(Some("build-box.lan:8421")));
    }

    #[test]
    fn sessions_are_bounded_and_end_at_rotation() {
        let auth = Auth::new(
            Token::generate().expect("token"),
            "127.0.0.1:9".parse().expect("address"),
        );
        let first = auth.open_session().expect("session");
        assert!(auth.session(first.as_str()).is_some());
        assert!(auth.session("0").is_none());
        for _ in 0..MAX_SESSIONS {
            auth.open_session().expect("session");
        }
        assert_eq!(auth.lock_sessions().len(), MAX_SESSIONS);
        assert!(
            auth.session(first.as_str()).is_none(),
            "the oldest was dropped"
        );

        let last = auth.open_session().expect("session");
        let generation = auth.generation.subscribe();
        auth.rotate(Token::generate().expect("token"));
        assert!(auth.session(last.as_str()).is_none());
        assert!(generation.has_changed().expect("sender alive"));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_named_after_the_port() {
        let auth = Auth::new(
            Token::generate().expect("token"),
            "127.0.0.1:8421".parse().expect("address"),
        );
        let value = auth.set_cookie("abc", SESSION_LIFETIME);
        assert_eq!(
            value.to_str().expect("ascii"),
            "wrangle_session_8421=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; wrangle_session_8421=abc ; wrangle_session_9=x"),
        );
        assert_eq!(auth.cookie(&headers).as_deref(), Some("abc"));
    }
}
