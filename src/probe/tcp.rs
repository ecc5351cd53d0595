//! The TCP check: ready once a connection to host:port is accepted.
//!
//! This file also owns the connect step the HTTP check shares: resolve the host, then try every
//! address in turn. It never sends a byte and never keeps a connection.

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::probe::ProbeFailure;

/// One TCP attempt: resolve `host`, connect to `port` on each address until one accepts. The
/// connection is closed at once. The whole attempt, name resolution included, is bounded by
/// `attempt_timeout`.
pub async fn tcp_attempt(
    host: &str,
    port: u16,
    attempt_timeout: Duration,
) -> Result<(), ProbeFailure> {
    match tokio::time::timeout(attempt_timeout, connect(host, port)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(failure)) => Err(failure),
        Err(_elapsed) => Err(ProbeFailure::timed_out(attempt_timeout)),
    }
}

/// Resolves `host` and connects to the first address that accepts.
///
/// Every address is tried because `localhost` commonly resolves to `::1` and `127.0.0.1` while a
/// service listens on only one of them. The caller bounds the time.
pub(crate) async fn connect(host: &str, port: u16) -> Result<TcpStream, ProbeFailure> {
    // Accept the bracketed form of an IPv6 literal as it appears in URLs ("[::1]").
    let bare_host = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    let addresses = tokio::net::lookup_host((bare_host, port))
        .await
        .map_err(|err| ProbeFailure(format!("cannot resolve {bare_host}: {}", io_reason(&err))))?;
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = Some(err),
        }
    }
    match last_error {
        Some(err) => Err(ProbeFailure(io_reason(&err))),
        None => Err(ProbeFailure(format!("{bare_host} has no address"))),
    }
}

/// An IO error in a few lowercase words. The common connect outcomes get their usual names; the
/// rest fall back to the OS wording, which is already short ("No route to host (os error 113)").
pub(crate) fn io_reason(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        io::ErrorKind::ConnectionAborted => "connection aborted".to_string(),
        io::ErrorKind::TimedOut => "connection timed out".to_string(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_string(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_string(),
        io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::runtime;

    use std::net::TcpListener;

    /// A port that was free a moment ago: bind, read the port, drop the listener.
    fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }

    #[test]
    fn listening_port_is_ready() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let result = runtime().block_on(tcp_attempt("127.0.0.1", port, Duration::from_secs(5)));
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn localhost_name_resolves() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let result = runtime().block_on(tcp_attempt("localhost", port, Duration::from_secs(5)));
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn closed_port_is_refused() {
        let port = closed_port();
        let result = runtime().block_on(tcp_attempt("127.0.0.1", port, Duration::from_secs(5)));
        assert_eq!(result, Err(ProbeFailure("connection refused".to_string())));
    }

    #[test]
    fn unknown_host_names_the_host() {
        let result = runtime().block_on(tcp_attempt(
            "no-such-host.invalid",
            80,
            Duration::from_secs(10),
        ));
        let failure = result.expect_err("an .invalid name never resolves");
        assert!(
            failure.0.contains("no-such-host.invalid") || failure.0.starts_with("timed out"),
            "{failure}"
        );
    }

    #[test]
    fn zero_timeout_times_out_without_panicking() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // Either outcome is fine; what matters is an answer without a panic.
        let _result = runtime().block_on(tcp_attempt("127.0.0.1", port, Duration::ZERO));
    }

    #[test]
    fn bracketed_ipv6_literal_is_accepted() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            // The machine has no IPv6 loopback; nothing to check.
            return;
        };
        let port = listener.local_addr().expect("addr").port();
        let result = runtime().block_on(tcp_attempt("[::1]", port, Duration::from_secs(5)));
        assert_eq!(result, Ok(()));
    }
}
