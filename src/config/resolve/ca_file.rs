//! A webhook's `ca_file`: read through the load's trust gate (it decides whom notifications go
//! to, so another user's file is refused like an env file), and checked to hold PEM
//! certificates that can serve as trust anchors, so a bad file is a located error at load time
//! rather than a failed delivery later.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use toml::Spanned;

use super::Resolver;
use crate::config::diagnostic::Diagnostic;
use crate::config::trust::NamedFile;
use crate::spec::CaFile;

impl Resolver<'_, '_, '_> {
    /// The certificates of the `ca_file` at `reference` (relative to the project's directory);
    /// `None` after reporting why they cannot be used.
    pub(super) fn ca_file(&mut self, reference: &Spanned<String>) -> Option<CaFile> {
        let path = self.root.join(reference.get_ref());
        let bytes = self.read_named_file(NamedFile::CaFile, reference, &path)?;
        match certificates(&bytes) {
            Ok(certificates) => Some(CaFile {
                path: absolute(&path),
                certificates,
            }),
            Err(problem) => {
                self.diagnostics.push(
                    Diagnostic::at(
                        self.file,
                        reference.span(),
                        format!("CA file \"{}\" cannot be used", path.display()),
                        problem,
                    )
                    .with_help(
                        "give the certificate (or certificates) of the authority that signed the \
                         receiver's certificate, in PEM (-----BEGIN CERTIFICATE-----)",
                    ),
                );
                None
            }
        }
    }
}

/// The DER of each PEM certificate in `pem`, each one checked to be usable as a trust anchor.
/// Other PEM sections (a key, a CRL) are skipped; none at all is an error.
fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut certificates = Vec::new();
    for (index, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let certificate =
            item.map_err(|error| format!("certificate {} is not valid PEM: {error}", index + 1))?;
        RootCertStore::empty()
            .add(certificate.clone())
            .map_err(|error| format!("certificate {} is not usable: {error}", index + 1))?;
        certificates.push(certificate.as_ref().to_vec());
    }
    if certificates.is_empty() {
        return Err("no PEM certificate in it".to_string());
    }
    Ok(certificates)
}

/// `path` as an absolute path for messages (the project root is absolute already).
fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_or_with_garbage_is_refused() {
        assert_eq!(
            certificates(b"hello\n"),
            Err("no PEM certificate in it".to_string())
        );
        let broken = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        let error = certificates(broken).expect_err("broken");
        assert!(
            error.starts_with("certificate 1 is not valid PEM"),
            "{error}"
        );
        let not_der = b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        let error = certificates(not_der).expect_err("not a certificate");
        assert!(error.starts_with("certificate 1 is not usable"), "{error}");
    }
}
