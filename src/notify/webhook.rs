//! One webhook attempt: `POST` the body over a fresh HTTP/1.1 connection, through TLS for an
//! `https://` URL ([`Trust`]); delivered on a 2xx status.
//!
//! Each attempt opens its own connection and closes it after the status line (`Connection:
//! close`, the response body is never read), so a receiver that streams or stalls cannot hold
//! more than the attempt's timeout. Retrying is the caller's business; [`Failure::permanent`]
//! says when it is pointless (a refused certificate is: it will not change in seconds).

use std::fmt;
use std::time::Duration;

use http_body_util::Full;
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::CONTENT_TYPE;

use crate::human;
use crate::notify::tls::Trust;
use crate::probe::{HttpTarget, connect, exchange, exchange_on};

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

/// What to send: the body and its `Content-Type`.
pub struct Body {
    pub bytes: Bytes,
    pub content_type: &'static str,
}

impl Body {
    pub fn json(bytes: impl Into<Bytes>) -> Body {
        Body {
            bytes: bytes.into(),
            content_type: "application/json",
        }
    }
}

/// One POST of `body` to `url`, bounded as a whole (resolve, connect, TLS handshake, send,
/// response head) by `timeout`. `trust` is needed for an `https://` URL.
pub async fn post(
    url: &str,
    trust: Option<&Trust>,
    body: &Body,
    timeout: Duration,
) -> Result<(), Failure> {
    let target = HttpTarget::parse_with_https(url).map_err(|reason| Failure {
        reason,
        permanent: true,
    })?;
    match tokio::time::timeout(timeout, attempt(&target, trust, body)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Failure::transient(format!(
            "no answer within {}",
            human::duration(timeout)
        ))),
    }
}

async fn attempt(target: &HttpTarget, trust: Option<&Trust>, body: &Body) -> Result<(), Failure> {
    let request = Request::post(target.path.as_str())
        .header(CONTENT_TYPE, body.content_type)
        .body(Full::new(body.bytes.clone()))
        .map_err(|error| Failure {
            reason: format!("cannot build the request: {error}"),
            permanent: true,
        })?;
    let status = if target.https {
        let trust = trust.ok_or_else(|| Failure {
            reason: "https:// without trust anchors".to_string(),
            permanent: true,
        })?;
        let stream = connect(&target.host, target.port)
            .await
            .map_err(|failure| Failure::transient(failure.0))?;
        let stream = trust
            .handshake(&target.host, stream)
            .await
            .map_err(|failure| Failure {
                reason: failure.reason,
                permanent: failure.certificate,
            })?;
        exchange_on(stream, target, request).await
    } else {
        exchange(target, request).await
    }
    .map_err(Failure::transient)?;
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    Err(Failure {
        reason: format!("HTTP {code}"),
        permanent: status.is_client_error() && code != 408 && code != 429,
    })
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
            None,
            &Body::json(Bytes::from_static(b"{\"a\":1}")),
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
                None,
                &Body::json(Bytes::new()),
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
            None,
            &Body::json(Bytes::new()),
            Duration::from_millis(200),
        ));
        let failure = result.expect_err("nobody answers");
        assert!(failure.reason.contains("no answer within"), "{failure}");
        assert!(!failure.permanent);
        drop(listener);
        let result = runtime().block_on(post(
            &format!("http://127.0.0.1:{port}/"),
            None,
            &Body::json(Bytes::new()),
            Duration::from_secs(5),
        ));
        assert_eq!(
            result.expect_err("closed").reason,
            "connection refused".to_string()
        );
    }

    #[test]
    fn a_url_that_is_not_http_is_a_permanent_failure() {
        for url in ["ftp://x/", "nonsense"] {
            let failure = runtime()
                .block_on(post(
                    url,
                    None,
                    &Body::json(Bytes::new()),
                    Duration::from_secs(1),
                ))
                .expect_err(url);
            assert!(failure.permanent, "{url}: {failure:?}");
            assert!(failure.reason.starts_with("invalid URL"), "{failure:?}");
        }
    }
}
