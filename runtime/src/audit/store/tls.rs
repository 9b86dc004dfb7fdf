//! TLS for the PostgreSQL store (feature `postgres`): rustls with the `ring` provider, chosen per
//! connection by libpq's `sslmode` and `sslrootcert` URL options.
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default) | when the server offers it | not checked (as libpq) |
//! | `require` | always; refuses a server without TLS | not checked, unless `sslrootcert` is given: then as `verify-ca` (as libpq) |
//! | `verify-ca` | always | chains to a certificate of the `sslrootcert` PEM file |
//! | `verify-full` | always | as `verify-ca`, and names the host of the URL |
//!
//! `verify-ca` and `verify-full` need `sslrootcert=PATH` (a PEM file); libpq's default file and
//! `sslrootcert=system` are not read. The two options are taken out of the URL before it reaches
//! the `postgres` client, which only knows `disable`, `prefer` and `require`.

use crate::audit::error::{AuditError, AuditErrorKind};
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Splits observa's TLS options off `conn` and builds the connector: the URL for the `postgres`
/// client and the rustls connector to hand it.
pub(crate) fn connector(conn: &str) -> Result<(String, MakeRustlsConnect), AuditError> {
    let (base, query) = conn.split_once('?').unwrap_or((conn, ""));
    let mut mode = SslMode::Prefer;
    let mut root = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => {
                mode = match v {
                    "disable" => SslMode::Disable,
                    "prefer" | "allow" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    _ => {
                        return Err(AuditError::config(
                            "URL option `sslmode` must be one of `disable`, `prefer`, `require`, `verify-ca`, `verify-full`",
                        ));
                    }
                }
            }
            "sslrootcert" => root = Some(percent_decode(v)),
            _ => rest.push(pair),
        }
    }
    if mode == SslMode::Require && root.is_some() {
        mode = SslMode::VerifyCa;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // `disable`, `prefer` and `require` without `sslrootcert`: any certificate (as libpq).
    let chain = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => None,
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let Some(path) = root else {
                return Err(AuditError::config(
                    "`sslmode=verify-ca` and `sslmode=verify-full` need `sslrootcert=PATH` (a PEM file of the certificates to trust)",
                ));
            };
            Some(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots(&path)?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| {
                    AuditError::config(format!("cannot use the certificates of `{path}`: {e}"))
                })?,
            )
        }
    };
    let verifier = Verifier {
        chain,
        check_name: mode == SslMode::VerifyFull,
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AuditError::config(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // The `postgres` client's own option: it only knows these three.
    rest.push(match mode {
        SslMode::Disable => "sslmode=disable",
        SslMode::Prefer => "sslmode=prefer",
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "sslmode=require",
    });
    let url = format!("{base}?{}", rest.join("&"));
    Ok((url, MakeRustlsConnect::new(config)))
}

fn roots(path: &str) -> Result<rustls::RootCertStore, AuditError> {
    let unreadable = |detail: String| {
        AuditError::new(
            AuditErrorKind::Unavailable,
            format!("cannot read `sslrootcert` `{path}`: {detail}"),
        )
    };
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(e.to_string()))? {
        let cert = cert.map_err(|e| unreadable(e.to_string()))?;
        store
            .add(cert)
            .map_err(|e| unreadable(format!("not a usable CA certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(unreadable("no certificate in the file".to_owned()));
    }
    Ok(store)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server certificate check of every mode. Without `chain` (`prefer` / `require` without
/// `sslrootcert`): encryption without authentication of the server, as libpq. With it: the chain
/// must lead to a trusted certificate, and the certificate must name the host only when
/// `check_name` (`verify-full`; `verify-ca` does not check it). The handshake signatures are
/// checked in every mode (the server holds the key of the certificate it shows).
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as C;
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_taken_out_of_the_url() {
        let (url, _) =
            connector("postgres://u@h:5432/db?sslmode=require&application_name=x").unwrap();
        assert_eq!(
            url,
            "postgres://u@h:5432/db?application_name=x&sslmode=require"
        );
        let (url, _) = connector("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=prefer");
        assert!(connector("postgres://u@h/db?sslmode=verify-full").is_err());
        assert!(connector("postgres://u@h/db?sslmode=bogus").is_err());
        assert!(connector("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/nonexistent").is_err());
        assert_eq!(percent_decode("/a%20b/c%2"), "/a b/c%2");
    }
}
