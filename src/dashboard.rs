//! The web dashboard: the control API and a small web application served by the daemon over
//! plain HTTP on a TCP address (`[dashboard] listen`, or a free loopback port picked when
//! `wrangle dashboard` asks for one), behind a login token.
//!
//! # Theory of operation
//!
//! The listener serves one router made of three parts (see [`router`]):
//!
//! - the very same API router as the control socket (`api::routes`), so the dashboard is just
//!   one more client of the API and `docs/api.yaml` describes both transports;
//! - the session routes (`/v1/session`: trade the token for a cookie, check it, drop it);
//! - the page shell and its assets (`assets`), embedded in the binary: no CDN, no build step.
//!
//! Everything passes through one guard (`auth::guard`) that decides before any handler runs:
//! the `Host` must be this listener's (a DNS-rebinding page gets nothing), every `/v1/` route
//! needs the token (`Authorization: Bearer`) or the session cookie it was traded for, a request
//! from another `Origin` is refused, and one that changes something on the strength of the
//! cookie alone must carry the dashboard's own `Origin` (CSRF). Every response carries a strict
//! Content-Security-Policy and its companions. The routes that hand out or replace the token
//! (`api::routes::SOCKET_ONLY_PATHS`) are not served here at all.
//!
//! The token (`token`) is stored 0600 in the project's state directory and outlives the daemon;
//! sessions live in the daemon's memory only. Rotating the token (`wrangle dashboard
//! --rotate-token`, through the control socket) drops every session and closes every stream
//! opened with the old credentials, so an open page is signed out at once.
//!
//! **Invariant:** nothing about the project (names, paths, output) is served without the token;
//! the static shell shows nothing until the API answers it. **Invariant:** imports only the API's
//! wire types and traits, `paths` and `preflight`'s messages; nothing of `supervisor`.
//!
//! # Caveats
//!
//! - Plain HTTP: on a non-loopback address the token and everything else cross the network in
//!   clear. Allowed, with a warning; put a TLS proxy in front for anything but a trusted network.
//! - Browsers send cookies for a host to every port of it, so another web server on 127.0.0.1
//!   that the same browser visits could see the session cookie. The cookie is therefore a
//!   session of its own (not the token), named after the port, and it expires
//!   ([`auth::SESSION_LIFETIME`]) or ends with a rotation.

mod assets;
mod auth;
pub mod token;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post};
use tokio::sync::{oneshot, watch};

use crate::api::wire::{ApiError, DashboardInfo};
use crate::api::{ApiContext, DashboardControl};
use crate::exit;
use crate::listener::{self, Limits};
use crate::preflight;
use crate::spec::{DashboardSpec, ListenAddress, ProjectSpec};
use crate::sys::ports;

pub use auth::{COOKIE_PREFIX, SESSION_LIFETIME};
pub use token::Token;

/// What the dashboard's listener allows (see `crate::listener`). Anyone who reaches the address
/// may connect, so the cap is modest; a page holds two or three event streams, and a page that
/// stops reading one (its tab frozen) is closed after a while and reconnects when it wakes.
pub const LIMITS: Limits = Limits {
    name: "dashboard",
    max_connections: 64,
    header_timeout: crate::api::server::HEADER_READ_TIMEOUT,
    body_timeout: crate::api::routes::BODY_READ_TIMEOUT,
    max_body_bytes: crate::api::routes::BODY_LIMIT,
    request_timeout: Duration::from_secs(30),
    stall_timeout: Some(Duration::from_secs(30)),
};

/// The routes the dashboard's listener serves besides the API's (`api::routes::ROUTES`, minus
/// `SOCKET_ONLY_PATHS`). `docs/api.yaml` documents exactly the union of both (a test checks).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/services/{name}"),
    ("GET", "/graph"),
    ("GET", "/timeline"),
    ("GET", "/assets/boot.js"),
    ("GET", "/assets/app.js"),
    ("GET", "/assets/style.css"),
    ("GET", "/assets/icon.svg"),
    ("GET", "/v1/session"),
    ("POST", "/v1/session"),
    ("DELETE", "/v1/session"),
];

/// Why the dashboard cannot serve at its address. Nothing has been started when this happens.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// Another process listens on the address.
    #[error("{}\n  or choose another address for `listen` in [dashboard]", held_message(*.listen, .holders))]
    AddressInUse {
        listen: SocketAddr,
        holders: Vec<ports::PortHolder>,
    },
    /// A service declares the same port: one of the two could never start.
    #[error(
        "[dashboard] listen = \"{listen}\" uses port {}, which service {service} declares\n  \
         choose another address for `listen` in [dashboard]",
        .listen.port()
    )]
    ServicePort { listen: SocketAddr, service: String },
    /// A `[sockets.NAME]` listens on the same port: wrangle binds it first, so the dashboard
    /// never could.
    #[error(
        "[dashboard] listen = \"{listen}\" uses port {}, which [sockets.{socket}] listens on\n  \
         choose another address for `listen` in [dashboard]",
        .listen.port()
    )]
    SocketPort { listen: SocketAddr, socket: String },
    /// `[metrics]` listens on the same port.
    #[error(
        "[dashboard] listen = \"{listen}\" uses port {}, which [metrics] listens on\n  \
         choose another address for `listen` in [dashboard] or in [metrics]",
        .listen.port()
    )]
    MetricsPort { listen: SocketAddr },
    /// Any other bind failure: an address that is not on this machine, a privileged port.
    #[error("cannot serve the dashboard on {listen} ([dashboard] listen): {source}")]
    Bind {
        listen: SocketAddr,
        #[source]
        source: io::Error,
    },
}

impl DashboardError {
    /// The exit code `up -d` ends with: a held or unusable address is a pre-flight refusal (4),
    /// like a held service port; a clash within the config is a configuration error (2).
    pub fn exit_code(&self) -> u8 {
        match self {
            DashboardError::AddressInUse { .. } | DashboardError::Bind { .. } => {
                exit::PREFLIGHT_REFUSED
            }
            DashboardError::ServicePort { .. }
            | DashboardError::SocketPort { .. }
            | DashboardError::MetricsPort { .. } => exit::INVALID,
        }
    }
}

/// Binds `[dashboard] listen` (before anything is started, so a conflict refuses the run).
/// Must be called within a tokio runtime (the listener registers with its reactor).
pub fn bind(
    spec: &ProjectSpec,
    dashboard: DashboardSpec,
) -> Result<tokio::net::TcpListener, DashboardError> {
    let listen = dashboard.listen;
    if let Some(service) = spec
        .services
        .iter()
        .find(|service| service.ports.contains(&listen.port()))
    {
        return Err(DashboardError::ServicePort {
            listen,
            service: service.name.clone(),
        });
    }
    if let Some(socket) = spec.sockets.iter().find(|socket| {
        matches!(socket.listen, ListenAddress::Tcp(address) if address.port() == listen.port())
    }) {
        return Err(DashboardError::SocketPort {
            listen,
            socket: socket.name.clone(),
        });
    }
    if spec
        .metrics
        .is_some_and(|metrics| metrics.listen.port() == listen.port())
    {
        return Err(DashboardError::MetricsPort { listen });
    }
    bind_address(listen).map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => DashboardError::AddressInUse {
            listen,
            holders: ports::listeners(listen.port()),
        },
        _ => DashboardError::Bind { listen, source },
    })
}

/// What the daemon says when the dashboard listens beyond this machine: anyone who can reach the
/// address and has the token controls the project, over unencrypted HTTP. `None` for loopback.
pub fn exposure_warning(listen: SocketAddr) -> Option<String> {
    if listen.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "the dashboard listens on {listen}, which is not a loopback address: whoever can reach it \
         and has the token controls this project, and plain HTTP is not encrypted (use \
         127.0.0.1, or put a TLS proxy in front)"
    ))
}

fn bind_address(listen: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

fn held_message(listen: SocketAddr, holders: &[ports::PortHolder]) -> String {
    let subject = format!("dashboard address {listen} ([dashboard] listen)");
    preflight::address_held_message(&subject, listen.port(), holders)
}

/// The daemon's dashboard: serving or not, and its token. Shared with the API (as
/// [`DashboardControl`]) so that `wrangle dashboard` can start it and rotate its token.
pub struct Dashboard {
    token_path: PathBuf,
    /// The API's context for the dashboard's copy of the router (without a dashboard of its
    /// own: the control routes are socket-only).
    context: ApiContext,
    limits: Limits,
    running: Mutex<Option<Running>>,
}

/// A dashboard that serves.
struct Running {
    address: SocketAddr,
    auth: Arc<auth::Auth>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Why the dashboard could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Token(#[from] token::TokenError),
    #[error("the dashboard already serves on {0}")]
    AlreadyServing(SocketAddr),
    #[error("cannot read the dashboard's address: {0}")]
    Io(#[source] io::Error),
}

impl Dashboard {
    /// A dashboard that serves nowhere yet. `context` is the API's (its `dashboard` is ignored).
    pub fn new(token_path: PathBuf, context: ApiContext, limits: Limits) -> Dashboard {
        Dashboard {
            token_path,
            context: ApiContext {
                dashboard: None,
                ..context
            },
            limits,
            running: Mutex::new(None),
        }
    }

    /// Starts serving on `listener` in a task of the current runtime (reading or creating the
    /// token first). Returns the address served and whether an unsound token file was
    /// replaced.
    pub fn serve(
        &self,
        listener: tokio::net::TcpListener,
    ) -> Result<(SocketAddr, bool), StartError> {
        let mut running = self.lock();
        if let Some(running) = running.as_ref() {
            return Err(StartError::AlreadyServing(running.address));
        }
        let address = listener.local_addr().map_err(StartError::Io)?;
        let (token, replaced) = token::load_or_create(&self.token_path)?;
        let auth = Arc::new(auth::Auth::new(token, address));
        let (stop, stopped) = oneshot::channel::<()>();
        // Event streams end when it is set, so that their connections can close at shutdown.
        let (end_streams, streams_end) = watch::channel(false);
        let router = router(self.context.clone(), Arc::clone(&auth), streams_end);
        let task = tokio::spawn(listener::serve(
            listener,
            router,
            self.limits.clone(),
            async move {
                let _ = stopped.await;
                end_streams.send_replace(true);
            },
        ));
        *running = Some(Running {
            address,
            auth,
            stop,
            task,
        });
        Ok((address, replaced))
    }

    /// Where the dashboard serves, if it does.
    pub fn address(&self) -> Option<SocketAddr> {
        self.lock().as_ref().map(|running| running.address)
    }

    /// Stops serving: no new connections; requests in flight get a bounded moment to finish and
    /// streams end.
    pub async fn stop(&self) {
        let running = self.lock().take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            let _ = tokio::time::timeout(listener::DRAIN_TIMEOUT, running.task).await;
        }
    }

    fn info(&self, token: &Token) -> DashboardInfo {
        let address = self.address();
        DashboardInfo {
            listen: address.map(|address| address.to_string()),
            url: address.map(|address| login_url(address, token)),
            token: token.as_str().to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        // Nothing that holds the lock can panic midway; a poisoned value is consistent.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DashboardControl for Dashboard {
    fn open(&self) -> Result<DashboardInfo, ApiError> {
        let serving = self.lock().as_ref().map(|running| running.auth.token());
        let token = match serving {
            Some(token) => token,
            None => {
                // A free port on loopback: only this machine's users can connect, and only the
                // token holder gets anything from it.
                let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                let listener = bind_address(listen).map_err(|error| {
                    ApiError::unavailable(format!("cannot listen on {listen}: {error}"))
                })?;
                match self.serve(listener) {
                    Ok(_) => {}
                    // Someone else started it in between: use theirs.
                    Err(StartError::AlreadyServing(_)) => {}
                    Err(error) => return Err(ApiError::internal(error.to_string())),
                }
                self.lock()
                    .as_ref()
                    .map(|running| running.auth.token())
                    .ok_or_else(|| ApiError::internal("the dashboard stopped while starting"))?
            }
        };
        Ok(self.info(&token))
    }

    fn rotate_token(&self) -> Result<DashboardInfo, ApiError> {
        let token = token::write_new(&self.token_path)
            .map_err(|error| ApiError::internal(error.to_string()))?;
        if let Some(running) = self.lock().as_ref() {
            running.auth.rotate(token.clone());
        }
        Ok(self.info(&token))
    }
}

/// The address a browser on this machine should open for `address`, with the token in the
/// fragment (never sent to a server, never in a `Referer`): an unspecified address (`0.0.0.0`,
/// `::`) is reached through loopback.
pub fn login_url(address: SocketAddr, token: &Token) -> String {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!(
        "http://{}/#token={}",
        SocketAddr::new(ip, address.port()),
        token.as_str()
    )
}

/// The dashboard's whole router: pages and assets, sessions, and the API, behind the guard.
fn router(context: ApiContext, auth: Arc<auth::Auth>, stop: watch::Receiver<bool>) -> Router {
    let api = crate::api::routes::router(context, stop);
    let mut own = Router::new();
    for &(method, path) in ROUTES {
        // An entry without a handler is skipped (a unit test catches it): building the router
        // must not panic.
        if let Some(method_router) = handler(method, path) {
            own = own.route(path, method_router);
        }
    }
    own.with_state(Arc::clone(&auth))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(auth, auth::guard))
}

/// The handler of a route in [`ROUTES`].
fn handler(method: &str, path: &str) -> Option<MethodRouter<Arc<auth::Auth>>> {
    let method_router = match (method, path) {
        ("GET", "/" | "/services/{name}" | "/graph" | "/timeline") => get(assets::shell),
        ("GET", "/assets/boot.js") => get(assets::boot_js),
        ("GET", "/assets/app.js") => get(assets::app_js),
        ("GET", "/assets/style.css") => get(assets::style_css),
        ("GET", "/assets/icon.svg") => get(assets::icon_svg),
        ("GET", "/v1/session") => get(auth::session_check),
        ("POST", "/v1/session") => post(auth::session_open),
        ("DELETE", "/v1/session") => delete(auth::session_close),
        _ => return None,
    };
    Some(method_router)
}
