//! One webhook attempt: `POST` the payload as JSON over a fresh HTTP/1.1 connection; delivered
//! on a 2xx status.
//!
//! Plain `http://` only: the default build has no TLS. Each attempt opens its own connection and
//! closes it after the status line (`Connection: close`, the response body is never read), so a
//! receiver that streams or stalls cannot hold more than the attempt's timeout. Retrying is the
//! caller's business; [`Failure::permanent`] says when it is pointless.

use std::fmt;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;

/// Why an attempt failed, in a few words, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    /// The receiver refused the request itself (a 4xx other than 408 and 429): sending it again
    /// gets the same answer.
    pub permanent: bool,
}

impl Failure {
    fn transient(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            permanent: false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// One POST of `body` to `url`, bounded as a whole (resolve, connect, send, response head) by
/// `timeout`.
pub async fn post(url: &str, body: Bytes, timeout: Duration) -> Result<(), Failure> {
    let target = Target::parse(url)?;
    match tokio::time::timeout(timeout, attempt(&target, body)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Failure::transient(format!(
            "no answer within {}",
            crate::supervisor::engine::humanize(timeout)
        ))),
    }
}

/// Where to connect and what to ask for.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    /// The `Host` header: the host, plus the port when the URL names one.
    authority: String,
    /// Path and query; `/` when the URL has none.
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, Failure> {
        let invalid = |why: &str| Failure {
            reason: format!("invalid URL {url:?}: {why}"),
            permanent: true,
        };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("only http:// is supported"));
        }
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
        Ok(Target {
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(80),
            authority,
            path: path.to_string(),
        })
    }
}

async fn attempt(target: &Target, body: Bytes) -> Result<(), Failure> {
    let stream = crate::probe::connect(&target.host, target.port)
        .await
        .map_err(|failure| Failure::transient(failure.0))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| hyper_reason(&error))?;
    let request = Request::post(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(USER_AGENT, concat!("wrangle/", env!("CARGO_PKG_VERSION")))
        .header(CONTENT_TYPE, "application/json")
        .header(CONNECTION, "close")
        .body(Full::new(body))
        .map_err(|error| Failure {
            reason: format!("cannot build the request: {error}"),
            permanent: true,
        })?;
    // The connection is driven here, beside the request, rather than spawned: when the attempt
    // times out, dropping this future closes the socket too (as in `probe::http`).
    let response = sender.send_request(request);
    let mut response = std::pin::pin!(response);
    let mut connection = std::pin::pin!(connection);
    let mut connection_done = false;
    let response = loop {
        tokio::select! {
            result = &mut response => break result,
            result = &mut connection, if !connection_done => {
                connection_done = true;
                if let Err(error) = result {
                    return Err(hyper_reason(&error));
                }
            }
        }
    };
    let status = response.map_err(|error| hyper_reason(&error))?.status();
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    Err(Failure {
        reason: format!("HTTP {code}"),
        permanent: status.is_client_error() && code != 408 && code != 429,
    })
}

fn hyper_reason(error: &hyper::Error) -> Failure {
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        return Failure::transient("connection closed before a response");
    }
    if error.is_parse() {
        return Failure::transient("not an HTTP response");
    }
    let io_source =
        std::error::Error::source(error).and_then(|source| source.downcast_ref::<std::io::Error>());
    match io_source {
        Some(io_error) => Failure::transient(crate::probe::io_reason(io_error)),
        None => Failure::transient(format!("HTTP error: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::runtime;

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread;

    /// A one-shot HTTP server: answers the first request with `status`, returns what it got.
    fn serve_once(status: &'static str) -> (u16, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().expect("length");
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            let mut stream = stream;
            write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").expect("write");
            format!("{head}\r\n{}", String::from_utf8_lossy(&body))
        });
        (port, handle)
    }

    #[test]
    fn posts_json_and_succeeds_on_2xx() {
        let (port, server) = serve_once("204 No Content");
        let url = format!("http://127.0.0.1:{port}/hook?x=1");
        let result = runtime().block_on(post(
            &url,
            Bytes::from_static(b"{\"a\":1}"),
            Duration::from_secs(5),
        ));
        assert_eq!(result, Ok(()));
        let request = server.join().expect("server");
        assert!(
            request.starts_with("POST /hook?x=1 HTTP/1.1\r\n"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: application/json"),
            "{request}"
        );
        assert!(
            lower.contains(&format!("host: 127.0.0.1:{port}")),
            "{request}"
        );
        assert!(request.ends_with("{\"a\":1}"), "{request}");
    }

    #[test]
    fn client_errors_are_permanent_and_server_errors_are_not() {
        for (status, permanent) in [
            ("400 Bad Request", true),
            ("429 Too Many Requests", false),
            ("503 Service Unavailable", false),
        ] {
            let (port, server) = serve_once(status);
            let result = runtime().block_on(post(
                &format!("http://127.0.0.1:{port}/"),
                Bytes::new(),
                Duration::from_secs(5),
            ));
            server.join().expect("server");
            let failure = result.expect_err(status);
            assert_eq!(failure.permanent, permanent, "{status}: {failure}");
            assert!(failure.reason.starts_with("HTTP "), "{failure}");
        }
    }

    #[test]
    fn a_silent_receiver_times_out_and_a_closed_port_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let result = runtime().block_on(post(
            &format!("http://127.0.0.1:{port}/"),
            Bytes::new(),
            Duration::from_millis(200),
        ));
        let failure = result.expect_err("nobody answers");
        assert!(failure.reason.contains("no answer within"), "{failure}");
        assert!(!failure.permanent);
        drop(listener);
        let result = runtime().block_on(post(
            &format!("http://127.0.0.1:{port}/"),
            Bytes::new(),
            Duration::from_secs(5),
        ));
        assert_eq!(
            result.expect_err("closed").reason,
            "connection refused".to_string()
        );
    }

    #[test]
    fn urls_are_taken_apart() {
        let target = Target::parse("http://localhost/").expect("parses");
        assert_eq!(target.port, 80);
        assert_eq!(target.authority, "localhost");
        assert!(Target::parse("https://x/").expect_err("https").permanent);
        assert!(Target::parse("nonsense").is_err());
    }
}
