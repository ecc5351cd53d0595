//! `https://` webhooks from a real daemon to a real TLS server in the test: a certificate
//! authority and server certificates made here (rcgen), trusted through `ca_file`; a
//! certificate for another name and one from an authority nobody trusts are refused, with the
//! reason in the daemon's log, and nothing is sent to them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{DaemonGuard, Project, WAIT, daemon_log, toml_str, wait_until};

/// A certificate authority of the test's own.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        Authority {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server's TLS setup with a certificate for `names` signed by this authority.
    fn server(&self, names: &[&str]) -> Arc<ServerConfig> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let params = CertificateParams::new(names).expect("server parameters");
        let key = KeyPair::generate().expect("server key");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        // The test server uses the client's provider (ring); see src/notify/tls.rs.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone()], key)
            .expect("server config");
        Arc::new(config)
    }
}

/// What a TLS server saw: requests (the request line and the body), and handshakes that failed.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, String)>,
    failed_handshakes: Vec<String>,
}

/// A TLS server on a free loopback port answering every request `200 OK`, one thread per
/// connection.
struct TlsReceiver {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
}

impl TlsReceiver {
    fn start(config: Arc<ServerConfig>) -> TlsReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS receiver");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_seen, thread_stop) = (Arc::clone(&seen), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (config, seen) = (Arc::clone(&config), Arc::clone(&thread_seen));
                thread::spawn(move || serve(stream, config, &seen));
            }
        });
        TlsReceiver { port, seen, stop }
    }

    fn seen<T>(&self, look: impl FnOnce(&Seen) -> T) -> T {
        look(&self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, config: Arc<ServerConfig>, seen: &Mutex<Seen>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let connection = rustls::ServerConnection::new(config).expect("server connection");
    let mut tls = rustls::StreamOwned::new(connection, stream);
    // The handshake runs on the first read; a client that refuses our certificate ends it.
    let mut reader = BufReader::new(&mut tls);
    let mut request_line = String::new();
    if let Err(error) = reader.read_line(&mut request_line) {
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failed_handshakes
            .push(error.to_string());
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .requests
        .push((
            request_line.trim_end().to_string(),
            String::from_utf8_lossy(&body).into_owned(),
        ));
    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

#[test]
fn notify_https_webhook_trusts_its_ca_file_and_refuses_a_wrong_or_unknown_certificate() {
    let authority = Authority::new("wrangle test CA");
    let stranger = Authority::new("an authority nobody trusts");
    let good = TlsReceiver::start(authority.server(&["localhost", "127.0.0.1"]));
    let wrong_name = TlsReceiver::start(authority.server(&["elsewhere.test"]));
    let untrusted = TlsReceiver::start(stranger.server(&["localhost"]));

    let project = Project::empty();
    project.write("ca.pem", &authority.pem());
    // The daemon's "system store" is a file holding an unrelated authority, so the untrusted
    // case does not depend on the machine's certificates.
    let unrelated = Authority::new("the system's own CA");
    project.write("system.pem", &unrelated.pem());
    let entry = |url: String, extra: &str| {
        format!(
            "[[notify]]\non = [\"crashed\"]\nwebhook = {}\nretries = 0\n{extra}\n",
            toml_str(&url)
        )
    };
    project.write(
        "wrangle.toml",
        &format!(
            "[services.crasher]\ncommand = [\"sh\", \"-c\", \"sleep 0.3; exit 3\"]\nrestart = \"never\"\n\n\
             [services.quiet]\ncommand = [\"sleep\", \"60\"]\n\n{}{}{}",
            entry(
                format!("https://localhost:{}/hook", good.port),
                "ca_file = \"ca.pem\"\nformat = \"slack\"",
            ),
            entry(
                format!("https://127.0.0.1:{}/hook", wrong_name.port),
                "ca_file = \"ca.pem\"",
            ),
            entry(format!("https://localhost:{}/hook", untrusted.port), ""),
        ),
    );

    let _guard = DaemonGuard::new(&project);
    let mut up = project.command(&["up", "-d"]);
    up.env("SSL_CERT_FILE", project.path("system.pem"))
        .env_remove("SSL_CERT_DIR");
    let started = project.run_command_unswept(up);
    assert_eq!(started.code, 0, "{started:#?}");

    assert!(
        wait_until(WAIT, || good.seen(|seen| !seen.requests.is_empty())),
        "nothing reached the trusted receiver; daemon.log:\n{}",
        daemon_log(&project)
    );
    let (request_line, body) = good.seen(|seen| seen.requests[0].clone());
    assert_eq!(request_line, "POST /hook HTTP/1.1");
    let body: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("] crasher crashed: ") && text.contains("code 3"),
        "{body:#}"
    );

    let refusals = [
        format!(
            "notify[1] (webhook https://127.0.0.1:{}/hook): not sent (crashed of crasher): \
             certificate of 127.0.0.1 refused: it is not valid for the name 127.0.0.1",
            wrong_name.port
        ),
        format!(
            "notify[2] (webhook https://localhost:{}/hook): not sent (crashed of crasher): \
             certificate of localhost refused: it is not signed by an authority trusted here \
             (the system's certificate store)",
            untrusted.port
        ),
    ];
    for refusal in &refusals {
        assert!(
            wait_until(WAIT, || daemon_log(&project).contains(refusal.as_str())),
            "no {refusal:?} in daemon.log:\n{}",
            daemon_log(&project)
        );
    }
    // The refused receivers never got a request: the client stopped at the handshake (which
    // the server thread may record a moment after the daemon logged its refusal).
    for receiver in [&wrong_name, &untrusted] {
        assert!(
            wait_until(WAIT, || receiver
                .seen(|seen| !seen.failed_handshakes.is_empty())),
            "the server saw no failed handshake"
        );
        receiver.seen(|seen| assert!(seen.requests.is_empty(), "{:?}", seen.requests));
    }
}
