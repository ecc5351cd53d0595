//! The Prometheus endpoint (`[metrics] listen = "127.0.0.1:9464"`): `GET /metrics` on a TCP
//! listener of the daemon, describing the project as its latest status snapshot does.
//!
//! # Theory of operation
//!
//! There is no bookkeeping for metrics anywhere: the daemon already keeps the latest
//! [`ProjectStatus`] in a `watch` channel for the API, and every scrape turns that snapshot into
//! metric families (`exposition`, a pure function of the snapshot and the build's version).
//! The supervisor's thread does nothing per event or per sample for metrics; a series whose value
//! is not known (no resource sample yet, no readiness probe, no exit yet) is simply absent.
//!
//! The families are encoded by `prometheus-client` (a `Collector` that reads the snapshot at
//! scrape time), which writes the OpenMetrics 1.0 text format. Prometheus asks for that format in
//! its `Accept` header; every other client (curl, older scrapers, most parsers) gets the classic
//! Prometheus text format 0.0.4, derived from the same text: counter families are named with their
//! `_total` suffix in `# HELP` and `# TYPE`, and the `# EOF` marker is left out.
//!
//! This module owns the endpoint: binding its address (with a message naming whoever holds it),
//! the HTTP routes (`/metrics`, 404 elsewhere), content negotiation and the metric names. The
//! user reference is `docs/metrics.md`; a test checks that it names every family.
//!
//! **Invariant:** its figures come only from the API's wire types (`ProjectStatus`); imports
//! nothing from `supervisor`.
//!
//! # Caveats
//!
//! - Only the daemon (`wrangle up -d`) serves metrics; a foreground `wrangle up` has no status
//!   snapshot to read and ignores `[metrics]`.
//! - Like the snapshot, the figures are as fresh as its last update (a state change, a resource
//!   sample, log trouble); a scrape never waits for the supervisor.
//! - There is no authentication: the address should be a loopback or otherwise private one.
//!   Whoever reaches it can hold at most [`LIMITS`]' connections, each briefly; that can delay
//!   scrapes, but never the daemon's supervision or its control socket (see [`crate::listener`]).

mod exposition;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::sync::{oneshot, watch};

use crate::api::wire::ProjectStatus;
use crate::exit;
use crate::listener::{self, Limits};
use crate::preflight;
use crate::spec::{MetricsSpec, ProjectSpec};
use crate::sys::ports;

pub use exposition::{FAMILIES, Family, Kind};

/// The version in `wrangle_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `Content-Type` of the classic Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The two text formats a scrape can get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4 (the default).
    PrometheusText,
    /// OpenMetrics 1.0.0 text, for scrapers that ask for it.
    OpenMetricsText,
}

/// Why the endpoint cannot serve at its address. Nothing has been started when this happens.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Another process listens on the address (or on the same port of a wildcard address).
    #[error("{}\n  or choose another address for `listen` in [metrics]", held_message(*.listen, .holders))]
    AddressInUse {
        listen: SocketAddr,
        holders: Vec<ports::PortHolder>,
    },
    /// A service declares the same port: one of the two could never start.
    #[error(
        "[metrics] listen = \"{listen}\" uses port {}, which service {service} declares\n  \
         choose another address for `listen` in [metrics]",
        .listen.port()
    )]
    ServicePort { listen: SocketAddr, service: String },
    /// Any other bind failure: an address that is not on this machine, a privileged port.
    #[error("cannot serve metrics on {listen} ([metrics] listen): {source}")]
    Bind {
        listen: SocketAddr,
        #[source]
        source: io::Error,
    },
}

impl MetricsError {
    /// The exit code `up -d` ends with: a port conflict is a pre-flight refusal (4), like a held
    /// service port; a clash within the config is a configuration error (2).
    pub fn exit_code(&self) -> u8 {
        match self {
            MetricsError::AddressInUse { .. } | MetricsError::Bind { .. } => {
                exit::PREFLIGHT_REFUSED
            }
            MetricsError::ServicePort { .. } => exit::INVALID,
        }
    }
}

/// Binds the endpoint's address (before anything is started, so a conflict refuses the run).
/// Must be called within a tokio runtime (the listener registers with its reactor).
pub fn bind(
    spec: &ProjectSpec,
    metrics: MetricsSpec,
) -> Result<tokio::net::TcpListener, MetricsError> {
    let listen = metrics.listen;
    if let Some(service) = spec
        .services
        .iter()
        .find(|service| service.ports.contains(&listen.port()))
    {
        return Err(MetricsError::ServicePort {
            listen,
            service: service.name.clone(),
        });
    }
    let listener = std::net::TcpListener::bind(listen).map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => MetricsError::AddressInUse {
            listen,
            holders: ports::listeners(listen.port()),
        },
        _ => MetricsError::Bind { listen, source },
    })?;
    listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
        .map_err(|source| MetricsError::Bind { listen, source })
}

fn held_message(listen: SocketAddr, holders: &[ports::PortHolder]) -> String {
    let subject = format!("metrics address {listen} ([metrics] listen)");
    preflight::address_held_message(&subject, listen.port(), holders)
}

/// The running endpoint; [`Endpoint::stop`] ends it.
pub struct Endpoint {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl Endpoint {
    /// Serves `GET /metrics` on `listener` from the snapshots of `status`, within `limits`, in a
    /// task of the current runtime.
    pub fn start(
        listener: tokio::net::TcpListener,
        status: watch::Receiver<Arc<ProjectStatus>>,
        limits: Limits,
    ) -> Endpoint {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Exporter::new(status), limits, async move {
            let _ = stopped.await;
        }));
        Endpoint { stop, task }
    }

    /// Stops accepting, lets scrapes in flight finish (bounded), and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(listener::DRAIN_TIMEOUT, self.task).await;
    }
}

/// What the endpoint allows its clients (see [`crate::listener`]). Anyone who can reach the
/// address is a client, so everything is tight: a scrape is one small request answered at once.
pub const LIMITS: Limits = Limits {
    name: "metrics",
    max_connections: 64,
    header_timeout: Duration::from_secs(5),
    body_timeout: Duration::from_secs(5),
    max_body_bytes: 4 * 1024,
    request_timeout: Duration::from_secs(10),
    stall_timeout: Some(Duration::from_secs(10)),
};

/// Serves the endpoint within `limits` (normally [`LIMITS`], with a cap fitted to the descriptor
/// limit) until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    exporter: Exporter,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    listener::serve(listener, router(exporter), limits, shutdown).await;
    Ok(())
}

/// `GET /metrics` (and `HEAD`); 404 for every other path, 405 for other methods.
pub fn router(exporter: Exporter) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .with_state(Arc::new(exporter))
}

async fn scrape(State(exporter): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT));
    match exporter.render(format) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            )],
            body,
        )
            .into_response(),
        // Encoding into a String cannot fail; should it ever, the scraper sees why.
        Err(fmt::Error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "error: the metrics could not be encoded\n",
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: wrangle serves its metrics at /metrics\n",
    )
        .into_response()
}

/// Encodes the latest snapshot on demand.
pub struct Exporter {
    registry: Registry,
}

impl Exporter {
    /// An exporter reading `status` at each scrape.
    pub fn new(status: watch::Receiver<Arc<ProjectStatus>>) -> Exporter {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(exposition::SnapshotCollector::new(
            status, VERSION,
        )));
        Exporter { registry }
    }

    /// The whole exposition in `format`.
    pub fn render(&self, format: Format) -> Result<String, fmt::Error> {
        let mut openmetrics = String::new();
        prometheus_client::encoding::text::encode(&mut openmetrics, &self.registry)?;
        Ok(match format {
            Format::OpenMetricsText => openmetrics,
            Format::PrometheusText => prometheus_text(&openmetrics),
        })
    }
}

impl Format {
    /// The format for a request's `Accept` header: OpenMetrics when the client asks for it at
    /// least as much as for plain text (Prometheus does), else the Prometheus text format.
    pub fn negotiate(accept: Option<&HeaderValue>) -> Format {
        let Some(accept) = accept.and_then(|value| value.to_str().ok()) else {
            return Format::PrometheusText;
        };
        let mut openmetrics = 0.0_f64;
        let mut text = 0.0_f64;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut quality = 1.0_f64;
            let mut version = None;
            for parameter in parts {
                let Some((key, value)) = parameter.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "q" => quality = value.parse().unwrap_or(0.0),
                    "version" => version = Some(value.to_string()),
                    _ => {}
                }
            }
            let quality = if quality.is_finite() { quality } else { 0.0 };
            match media.as_str() {
                "application/openmetrics-text"
                    if version.as_deref().is_none_or(|version| version == "1.0.0") =>
                {
                    openmetrics = openmetrics.max(quality);
                }
                "text/plain" if version.as_deref().is_none_or(|version| version == "0.0.4") => {
                    text = text.max(quality);
                }
                "text/*" | "*/*" => text = text.max(quality),
                _ => {}
            }
        }
        match openmetrics > 0.0 && openmetrics >= text {
            true => Format::OpenMetricsText,
            false => Format::PrometheusText,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => PROMETHEUS_TEXT,
            Format::OpenMetricsText => OPENMETRICS_TEXT,
        }
    }
}

/// OpenMetrics text as written by `prometheus-client` (counters and gauges, no units, no
/// exemplars) → Prometheus text 0.0.4: a counter family is named like its samples (with
/// `_total`) in `# HELP` and `# TYPE`, `unknown` is `untyped`, and there is no `# EOF`.
fn prometheus_text(openmetrics: &str) -> String {
    let counter = |line: &str| {
        line.strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" counter"))
            .map(str::to_string)
    };
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut text = String::with_capacity(openmetrics.len());
    for (index, line) in lines.iter().enumerate() {
        if *line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            // prometheus-client writes a family's `# TYPE` right after its `# HELP`.
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let next = lines.get(index + 1).copied().unwrap_or_default();
            if counter(next).as_deref() == Some(name) {
                text.push_str(&format!("# HELP {name}_total {help}\n"));
                continue;
            }
        } else if let Some(name) = counter(line) {
            text.push_str(&format!("# TYPE {name}_total counter\n"));
            continue;
        } else if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" unknown"))
        {
            text.push_str(&format!("# TYPE {name} untyped\n"));
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;
