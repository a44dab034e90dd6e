//! TLS with `rustls`: the shared client configuration, the error mapping, and
//! a tiny certificate authority for loopback HTTPS ([`certs`]).
//!
//! The pumping itself (read_tls → process_new_packets → plaintext, and
//! write_tls while rustls wants to write) lives with the connection
//! (`src/conn/pump.rs`), because it is part of the connection's life.
//!
//! **Provider.** `ring`, chosen explicitly with
//! `ClientConfig::builder_with_provider`: measured here it builds a clean
//! release in about half the time of aws-lc-rs and needs only a C compiler;
//! being explicit keeps the choice even if another crate in a user's tree
//! enables aws-lc-rs.
//!
//! **Verification** is on by default, against the Mozilla roots of
//! `webpki-roots` plus any extra roots (PEM file or DER certificates in
//! [`Config`](crate::Config)). Turning it off is
//! [`Config::danger_accept_invalid_certs`](crate::Config), which logs a warning.

#[cfg(any(test, feature = "demo"))]
pub mod certs;

use crate::error::{Error, ErrorKind, Phase};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;

/// How the crawler's shared client configuration is built.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions<'a> {
    /// Trust the `webpki-roots` (Mozilla) roots.
    pub webpki_roots: bool,
    /// Extra trusted roots, DER.
    pub extra_roots: &'a [CertificateDer<'static>],
    /// A PEM file of extra trusted roots.
    pub ca_file: Option<&'a Path>,
    /// Accept any certificate. Dangerous: for debugging only.
    pub danger_accept_invalid_certs: bool,
    /// TLS sessions kept for resumption (0 turns resumption off).
    pub session_cache: usize,
    /// Offer `h2` before `http/1.1` (only with the `http2` feature).
    pub http2: bool,
}

/// The most TLS sessions kept for resumption, whatever is asked for.
pub const MAX_SESSION_CACHE: usize = 1 << 16;

fn config_error(detail: String) -> Error {
    Error::new(Phase::Tls, ErrorKind::BadCertificate, detail)
}

/// Builds the one `Arc<ClientConfig>` all connections share: ALPN
/// `h2` (when asked, with the `http2` feature) and `http/1.1`, session resumption on (an in-memory cache of
/// `session_cache` sessions), SNI on.
pub fn client_config(opts: &TlsOptions<'_>) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?;
    let mut config = if opts.danger_accept_invalid_certs {
        log::warn!("TLS certificate verification is OFF (danger_accept_invalid_certs)");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        if opts.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in opts.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| config_error(format!("extra root: {e}")))?;
        }
        if let Some(path) = opts.ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| config_error(format!("{}: {e}", path.display())))?;
            let mut n = 0;
            for cert in certs {
                let cert = cert.map_err(|e| config_error(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| config_error(format!("{}: {e}", path.display())))?;
                n += 1;
            }
            if n == 0 {
                return Err(config_error(format!(
                    "{}: no certificate found",
                    path.display()
                )));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if opts.http2 && cfg!(feature = "http2") {
        config.alpn_protocols.insert(0, b"h2".to_vec());
    }
    config.resumption = if opts.session_cache == 0 {
        Resumption::disabled()
    } else {
        // rustls sizes its cache up front: a huge number is clamped, not an abort.
        Resumption::in_memory_sessions(opts.session_cache.min(MAX_SESSION_CACHE))
    };
    Ok(Arc::new(config))
}

/// The server name for SNI and verification: a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_string()).map_err(|e| {
        Error::new(
            Phase::Tls,
            ErrorKind::BadCertificate,
            format!("{host}: not a valid TLS server name ({e})"),
        )
    })
}

/// Maps a rustls error to a typed `tls` error.
pub fn classify(e: &rustls::Error) -> Error {
    use rustls::Error as E;
    if let E::InvalidCertificate(CertificateError::Other(other)) = e {
        if format!("{other:?}").contains("CaUsedAsEndEntity") {
            // webpki's name for a self-signed (CA) certificate presented as
            // the server's own: to the user, an issuer that is not trusted.
            return Error::new(
                Phase::Tls,
                ErrorKind::UnknownIssuer,
                "the server presented a self-signed CA certificate that is not among the \
                 trusted roots (trust it with --ca-file, or the CA that issued it)",
            );
        }
    }
    let kind = match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => ErrorKind::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                ErrorKind::CertificateExpired
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                ErrorKind::NameMismatch
            }
            _ => ErrorKind::BadCertificate,
        },
        E::AlertReceived(_) | E::PeerIncompatible(_) | E::NoCertificatesPresented => {
            ErrorKind::HandshakeFailure
        }
        _ => ErrorKind::Protocol,
    };
    Error::new(Phase::Tls, kind, e.to_string())
}

/// The verifier behind `danger_accept_invalid_certs`: checks signatures (so
/// the handshake is still a real one) but trusts any certificate.
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        let e = classify(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!((e.phase, e.kind), (Phase::Tls, ErrorKind::UnknownIssuer));
        let e = classify(&rustls::Error::InvalidCertificate(
            CertificateError::Expired,
        ));
        assert_eq!(e.kind, ErrorKind::CertificateExpired);
        let e = classify(&rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert_eq!(e.kind, ErrorKind::NameMismatch);
        let e = classify(&rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert_eq!(e.kind, ErrorKind::HandshakeFailure);
        let e = classify(&rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert_eq!(e.kind, ErrorKind::Protocol);
    }

    #[test]
    fn configs_build_and_bad_ca_files_are_errors() {
        let opts = TlsOptions {
            webpki_roots: true,
            session_cache: 16,
            ..Default::default()
        };
        let c = client_config(&opts).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
        #[cfg(feature = "http2")]
        {
            let h2 = client_config(&TlsOptions {
                http2: true,
                ..opts.clone()
            })
            .unwrap();
            assert_eq!(h2.alpn_protocols, [&b"h2"[..], b"http/1.1"]);
        }
        let dir = std::env::temp_dir().join(format!("oneloop-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a pem").unwrap();
        let opts = TlsOptions {
            ca_file: Some(&dir),
            ..opts
        };
        let e = client_config(&opts).unwrap_err();
        assert_eq!(e.phase, Phase::Tls);
        let _ = std::fs::remove_file(&dir);
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("bad name!").is_err());
    }
}
