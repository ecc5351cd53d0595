//! The HTTP check: `GET` a URL over a fresh HTTP/1.1 connection; ready on a 2xx status only.
//! Also the one-shot HTTP/1.1 client it is built on ([`HttpTarget`], [`exchange`]), which
//! notification webhooks share.
//!
//! Each attempt opens its own connection and drops it afterwards: a pooled connection could
//! answer from a process that is already gone, and a fresh one tests what a client would see.
//! Probes have no TLS (they target the service directly, usually on localhost); webhooks bring
//! their own TLS stream to [`exchange_on`]. No redirect following (a 3xx usually means "log in
//! first", not "up"), and no body reading.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::{Body, Bytes};
use hyper::header::{CONNECTION, HOST, HeaderValue, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::probe::ProbeFailure;
use crate::probe::tcp::{connect, io_reason};

/// One HTTP attempt against `url` (`http://host[:port]/path`, port 80 by default).
///
/// Ready only when the response status is 2xx. The body is never read: the status line is the
/// whole answer, and a health endpoint that streams forever must not hold the attempt open. The
/// whole attempt (resolve, connect, request, response head) is bounded by `attempt_timeout`.
pub async fn http_attempt(url: &str, attempt_timeout: Duration) -> Result<(), ProbeFailure> {
    let target = HttpTarget::parse(url).map_err(ProbeFailure)?;
    match tokio::time::timeout(attempt_timeout, attempt(&target)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(ProbeFailure::timed_out(attempt_timeout)),
    }
}

async fn attempt(target: &HttpTarget) -> Result<(), ProbeFailure> {
    let request = Request::get(target.path.as_str())
        .body(Empty::<Bytes>::new())
        .map_err(|err| ProbeFailure(format!("cannot build request: {err}")))?;
    let status = exchange(target, request).await.map_err(ProbeFailure)?;
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        return Err(ProbeFailure(format!(
            "HTTP {} (a redirect is not ready)",
            status.as_u16()
        )));
    }
    Err(ProbeFailure(format!("HTTP {}", status.as_u16())))
}

/// Where to connect and what to ask for, taken apart from an `http://` URL once.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HttpTarget {
    /// The host as written, brackets included for an IPv6 literal.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The `Host` header: the host, plus the port only when the URL named one.
    pub(crate) authority: String,
    /// Path and query; `/` when the URL has none.
    pub(crate) path: String,
    /// An `https://` URL (only [`HttpTarget::parse_with_https`] accepts one).
    pub(crate) https: bool,
}

impl HttpTarget {
    /// `http://host[:port][/path]`; anything else is `invalid URL "...": why`.
    pub(crate) fn parse(url: &str) -> Result<HttpTarget, String> {
        Self::parse_schemes(url, false)
    }

    /// `http://` or `https://host[:port][/path]` (port 443 by default for https).
    pub(crate) fn parse_with_https(url: &str) -> Result<HttpTarget, String> {
        Self::parse_schemes(url, true)
    }

    fn parse_schemes(url: &str, allow_https: bool) -> Result<HttpTarget, String> {
        let invalid = |why: &str| format!("invalid URL {url:?}: {why}");
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") if allow_https => true,
            Some(_) if allow_https => {
                return Err(invalid("only http:// and https:// are supported"));
            }
            Some(_) => return Err(invalid("only http:// is supported")),
            None => return Err(invalid("missing http://")),
        };
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| invalid("missing host"))?;
        let authority = match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let path = uri
            .path_and_query()
            .map(|path| path.as_str())
            .filter(|path| !path.is_empty())
            .unwrap_or("/");
        Ok(HttpTarget {
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority,
            path: path.to_string(),
            https,
        })
    }
}

/// Sends `request` to `target` over a fresh connection and returns the response's status; the
/// body is never read. Adds `Host`, `User-Agent` and `Connection: close` (we drop the connection
/// after the status line; saying so lets the server close cleanly). A failure is a few words for
/// the user: "connection refused", "not an HTTP response". Not bounded in time: the caller
/// wraps it in its timeout.
pub(crate) async fn exchange<B>(
    target: &HttpTarget,
    request: Request<B>,
) -> Result<StatusCode, String>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = connect(&target.host, target.port)
        .await
        .map_err(|failure| failure.0)?;
    exchange_on(stream, target, request).await
}

/// [`exchange`] over a connection the caller opened (a TLS stream for an `https://` webhook).
pub(crate) async fn exchange_on<S, B>(
    stream: S,
    target: &HttpTarget,
    mut request: Request<B>,
) -> Result<StatusCode, String>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let headers = request.headers_mut();
    let authority = HeaderValue::from_str(&target.authority)
        .map_err(|_| format!("invalid host {:?}", target.authority))?;
    headers.insert(HOST, authority);
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("wrangle/", env!("CARGO_PKG_VERSION"))),
    );
    headers.insert(CONNECTION, HeaderValue::from_static("close"));

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| hyper_reason(&err))?;
    // The connection future is driven here, next to the request, rather than spawned: when the
    // caller's timeout drops this future, the socket goes with it, so a server that never
    // answers cannot pin a task and a file descriptor.
    let response = sender.send_request(request);
    let mut response = std::pin::pin!(response);
    let mut connection = std::pin::pin!(connection);
    let mut connection_done = false;
    let response = loop {
        tokio::select! {
            result = &mut response => break result,
            result = &mut connection, if !connection_done => {
                connection_done = true;
                if let Err(err) = result {
                    return Err(hyper_reason(&err));
                }
                // A clean end before the response makes `send_request` fail next; keep polling it.
            }
        }
    };
    response
        .map(|response| response.status())
        .map_err(|err| hyper_reason(&err))
}

/// A hyper error in a few words for the user.
fn hyper_reason(err: &hyper::Error) -> String {
    if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
        return "connection closed before a response".to_string();
    }
    if err.is_parse() {
        return "not an HTTP response".to_string();
    }
    // The source is usually the IO error (reset, broken pipe), which says more than hyper's
    // wrapper.
    let io_source =
        std::error::Error::source(err).and_then(|source| source.downcast_ref::<std::io::Error>());
    match io_source {
        Some(io_err) => io_reason(io_err),
        None => format!("HTTP error: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::runtime;

    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Instant;

    /// A one-connection HTTP server on 127.0.0.1 that reads the request head, sends `response`
    /// verbatim, and hands the request head back for inspection.
    fn serve_once(response: &'static str) -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (request_tx, request_rx) = mpsc::channel();
        thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let head = read_head(&mut stream);
            let _ = stream.write_all(response.as_bytes());
            let _ = request_tx.send(head);
        });
        (port, request_rx)
    }

    fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    fn probe(port: u16, path: &str) -> Result<(), ProbeFailure> {
        let url = format!("http://127.0.0.1:{port}{path}");
        runtime().block_on(http_attempt(&url, Duration::from_secs(5)))
    }

    #[test]
    fn ok_is_ready_and_request_is_well_formed() {
        let (port, request) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(probe(port, "/health?deep=1"), Ok(()));
        let head = request.recv().expect("request head");
        assert!(
            head.starts_with("GET /health?deep=1 HTTP/1.1\r\n"),
            "{head}"
        );
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        assert!(lower.contains("user-agent: wrangle/"), "{head}");
    }

    #[test]
    fn no_content_is_ready() {
        let (port, _request) = serve_once("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(probe(port, "/"), Ok(()));
    }

    #[test]
    fn endless_body_does_not_matter() {
        // Chunked with no final chunk: the body never ends, the status is all we need.
        let (port, _request) = serve_once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(probe(port, "/"), Ok(()));
    }

    #[test]
    fn redirect_is_not_ready() {
        let (port, _request) =
            serve_once("HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n");
        let failure = probe(port, "/").expect_err("302");
        assert_eq!(failure.0, "HTTP 302 (a redirect is not ready)");
        assert!(failure.0.contains("redirect"));
    }

    #[test]
    fn unavailable_is_not_ready() {
        let (port, _request) =
            serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(probe(port, "/"), Err(ProbeFailure("HTTP 503".to_string())));
    }

    #[test]
    fn closed_port_is_refused() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        assert_eq!(
            probe(port, "/"),
            Err(ProbeFailure("connection refused".to_string()))
        );
    }

    #[test]
    fn silent_server_times_out_within_the_attempt_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // Accept (the kernel does that through the backlog) and never answer; keep the listener
        // alive until the attempt is over.
        let url = format!("http://127.0.0.1:{port}/");
        let started = Instant::now();
        let result = runtime().block_on(http_attempt(&url, Duration::from_millis(300)));
        let elapsed = started.elapsed();
        drop(listener);
        assert_eq!(
            result,
            Err(ProbeFailure("timed out after 300ms".to_string()))
        );
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    }

    #[test]
    fn garbage_answer_is_not_http() {
        let (port, _request) = serve_once("SSH-2.0-OpenSSH_9.6\r\n");
        let failure = probe(port, "/").expect_err("garbage");
        assert_eq!(failure.0, "not an HTTP response");
    }

    #[test]
    fn connection_closed_without_answer() {
        let (port, _request) = serve_once("");
        let failure = probe(port, "/").expect_err("closed");
        assert_eq!(failure.0, "connection closed before a response");
    }

    #[test]
    fn target_parsing() {
        let target = HttpTarget::parse("http://localhost:8080/health").expect("valid");
        assert_eq!(
            target,
            HttpTarget {
                host: "localhost".to_string(),
                port: 8080,
                authority: "localhost:8080".to_string(),
                path: "/health".to_string(),
                https: false,
            }
        );
        let target = HttpTarget::parse_with_https("https://hooks.example.test/x").expect("valid");
        assert_eq!((target.port, target.https), (443, true));
        assert_eq!(target.authority, "hooks.example.test");
        assert!(HttpTarget::parse("https://hooks.example.test/x").is_err());
        let target = HttpTarget::parse("http://example.test").expect("valid");
        assert_eq!((target.port, target.path.as_str()), (80, "/"));
        assert_eq!(target.authority, "example.test");
        let target = HttpTarget::parse("http://[::1]:9000/x").expect("valid");
        assert_eq!((target.host.as_str(), target.port), ("[::1]", 9000));
        assert_eq!(target.authority, "[::1]:9000");
    }

    #[test]
    fn bad_urls_fail_without_panicking() {
        for url in [
            "",
            "localhost:8080",
            "https://example.test/",
            "http://",
            "ftp://x/",
            "http://a b/",
            "\u{0}",
        ] {
            let result = runtime().block_on(http_attempt(url, Duration::from_secs(1)));
            let failure = result.expect_err(url);
            assert!(failure.0.starts_with("invalid URL"), "{url}: {failure}");
        }
    }
}
