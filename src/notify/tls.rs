//! TLS for `https://` webhooks: whom to trust, the handshake, and why it failed in words.
//!
//! The trust anchors are the system's certificate store (read by `rustls-native-certs` from
//! where the distribution keeps it, or `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus the entry's
//! `ca_file`. They are loaded for each delivery, not kept: notifications are rare, the store
//! is a few hundred KiB of certificates that an idle daemon would otherwise hold for weeks, and
//! a store the system updates is picked up at the next notification. A certificate that does
//! not verify is never accepted: there is no switch to turn verification off.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::spec::CaFile;

/// Where the trust anchors of one delivery came from, for messages.
pub struct Trust {
    config: Arc<ClientConfig>,
    /// "the system's certificate store", "... and /path/ca.pem".
    anchors: String,
}

impl Trust {
    /// The system's store plus `ca_file`. Fails only when there is nothing to trust at all.
    pub fn load(ca_file: Option<&CaFile>) -> Result<Trust, String> {
        let mut roots = RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(system.certs);
        let mut anchors = Vec::new();
        if added > 0 {
            anchors.push("the system's certificate store".to_string());
        }
        if let Some(ca_file) = ca_file {
            for certificate in &ca_file.certificates {
                // Checked when the config was loaded; a failure here would be a changed rustls.
                roots
                    .add(CertificateDer::from(certificate.clone()))
                    .map_err(|error| {
                        format!(
                            "a certificate of {} is not usable: {error}",
                            ca_file.path.display()
                        )
                    })?;
            }
            anchors.push(ca_file.path.display().to_string());
        }
        if roots.is_empty() {
            let why = match system.errors.first() {
                Some(error) => format!(": {error}"),
                None => String::new(),
            };
            return Err(format!(
                "no trusted certificates: the system's certificate store is empty or unreadable{why} \
                 (install the ca-certificates package, or set ca_file)"
            ));
        }
        // rustls 0.23.48 deprecates the ring provider for lacking post-quantum key exchange
        // (X25519MLKEM768), which only aws-lc-rs offers; that one needs cmake and a large C
        // build. A notification is not a secret that must outlive future quantum computers:
        // classical X25519 is the trade made here (see Cargo.toml).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("cannot set up TLS: {error}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Trust {
            config: Arc::new(config),
            anchors: anchors.join(" and "),
        })
    }

    /// The TLS handshake over `stream` with `host` (a name or an IP address, brackets allowed).
    /// The error says why in a few words and whether it is about the certificate.
    pub async fn handshake(
        &self,
        host: &str,
        stream: TcpStream,
    ) -> Result<TlsStream<TcpStream>, HandshakeFailure> {
        let bare_host = host
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(bare_host.to_string()).map_err(|_| HandshakeFailure {
            reason: format!("{bare_host:?} is not a name TLS can verify"),
            certificate: true,
        })?;
        TlsConnector::from(Arc::clone(&self.config))
            .connect(name, stream)
            .await
            .map_err(|error| self.failure(bare_host, &error))
    }

    fn failure(&self, host: &str, error: &io::Error) -> HandshakeFailure {
        let tls_error = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let Some(tls_error) = tls_error else {
            return HandshakeFailure {
                reason: format!(
                    "TLS handshake with {host} failed: {}",
                    crate::probe::io_reason(error)
                ),
                certificate: false,
            };
        };
        let rustls::Error::InvalidCertificate(problem) = tls_error else {
            return HandshakeFailure {
                reason: format!("TLS handshake with {host} failed: {tls_error}"),
                certificate: false,
            };
        };
        let why = match problem {
            CertificateError::UnknownIssuer => {
                format!(
                    "it is not signed by an authority trusted here ({})",
                    self.anchors
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("it is not valid for the name {host}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "it has expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "it is not valid yet (is the clock right?)".to_string()
            }
            CertificateError::Revoked => "it has been revoked".to_string(),
            other => format!("{other:?}"),
        };
        HandshakeFailure {
            reason: format!("certificate of {host} refused: {why}"),
            certificate: true,
        }
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub struct HandshakeFailure {
    pub reason: String,
    /// The receiver's certificate was refused: trying again will not change that.
    pub certificate: bool,
}
