//! A tiny private certificate authority: ECDSA P-256 keys from `ring`, X.509
//! v3 certificates written in DER by hand.
//!
//! It exists so `oneloop demo --tls` and the tests can run HTTPS on loopback
//! with a certificate made at start and trusted through the ordinary
//! extra-roots path (no `--insecure`), without adding a certificate crate to
//! the library's dependencies. It writes exactly what webpki checks: version,
//! serial, validity, names, basic constraints, key usage, extended key usage
//! and subject alternative names.
//!
//! ```
//! use oneloop::tls::certs::CertificateAuthority;
//! use std::time::{Duration, SystemTime};
//!
//! let ca = CertificateAuthority::new("oneloop test CA").unwrap();
//! let now = SystemTime::now();
//! let leaf = ca
//!     .issue(&["localhost", "127.0.0.1"], now - Duration::from_secs(60), now + Duration::from_secs(86400))
//!     .unwrap();
//! assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert_eq!(leaf.chain.len(), 1);
//! ```

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OID_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// A certificate with its private key, ready for a TLS server.
pub struct IssuedCert {
    /// The leaf certificate (the chain a server sends, without the root).
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
}

impl IssuedCert {
    /// The certificate chain as PEM.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| pem("CERTIFICATE", c.as_ref()))
            .collect()
    }
    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        pem("PRIVATE KEY", self.key.secret_der())
    }
}

/// A self-signed CA that issues server certificates.
pub struct CertificateAuthority {
    key: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    name: Vec<u8>,
    cert: CertificateDer<'static>,
    rng: SystemRandom,
}

/// Certificate generation failed (the system's random source, most likely).
#[derive(Debug)]
pub struct CertError(pub String);

impl std::fmt::Display for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "certificate generation: {}", self.0)
    }
}

impl std::error::Error for CertError {}

fn err(e: impl std::fmt::Debug) -> CertError {
    CertError(format!("{e:?}"))
}

impl CertificateAuthority {
    /// A new CA named `common_name`, valid from an hour ago for ten years.
    pub fn new(common_name: &str) -> Result<CertificateAuthority, CertError> {
        let rng = SystemRandom::new();
        let (key, pkcs8) = new_key(&rng)?;
        let name = dn(common_name);
        let now = SystemTime::now();
        let extensions = [
            extension(OID_BASIC_CONSTRAINTS, true, &seq(&boolean(true))),
            // keyCertSign (bit 5) and cRLSign (bit 6).
            extension(OID_KEY_USAGE, true, &tlv(0x03, &[0x01, 0x06])),
        ]
        .concat();
        let tbs = tbs_certificate(
            &rng,
            &name,
            &name,
            now - std::time::Duration::from_secs(3600),
            now + std::time::Duration::from_secs(10 * 365 * 86400),
            key.public_key().as_ref(),
            &extensions,
        )?;
        let cert = sign(&key, &rng, &tbs)?;
        Ok(CertificateAuthority {
            key,
            pkcs8,
            name,
            cert: CertificateDer::from(cert),
            rng,
        })
    }

    /// The CA certificate (DER).
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA's own certificate and key, for a server that presents its
    /// self-signed CA certificate (a test of the error a client reports).
    pub fn as_server(&self) -> IssuedCert {
        IssuedCert {
            chain: vec![self.cert.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone())),
        }
    }

    /// The CA certificate as PEM, for a `--ca-file`.
    pub fn pem(&self) -> String {
        pem("CERTIFICATE", self.cert.as_ref())
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses),
    /// valid between the two instants (an expired one is a test case).
    pub fn issue(
        &self,
        names: &[&str],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<IssuedCert, CertError> {
        let (key, pkcs8) = new_key(&self.rng)?;
        let mut san = Vec::new();
        for n in names {
            match n.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => san.extend(tlv(0x87, &ip.octets())),
                Ok(IpAddr::V6(ip)) => san.extend(tlv(0x87, &ip.octets())),
                Err(_) => san.extend(tlv(0x82, n.as_bytes())),
            }
        }
        let extensions = [
            extension(OID_BASIC_CONSTRAINTS, true, &seq(&[])),
            // digitalSignature (bit 0).
            extension(OID_KEY_USAGE, true, &tlv(0x03, &[0x07, 0x80])),
            extension(OID_EXT_KEY_USAGE, false, &seq(&oid(OID_SERVER_AUTH))),
            extension(OID_SUBJECT_ALT_NAME, false, &seq(&san)),
        ]
        .concat();
        let subject = dn(names.first().copied().unwrap_or("oneloop"));
        let tbs = tbs_certificate(
            &self.rng,
            &self.name,
            &subject,
            not_before,
            not_after,
            key.public_key().as_ref(),
            &extensions,
        )?;
        let cert = sign(&self.key, &self.rng, &tbs)?;
        Ok(IssuedCert {
            chain: vec![CertificateDer::from(cert)],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
        })
    }
}

fn new_key(rng: &SystemRandom) -> Result<(EcdsaKeyPair, Vec<u8>), CertError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, rng).map_err(err)?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), rng)
        .map_err(err)?;
    Ok((key, pkcs8.as_ref().to_vec()))
}

fn sign(key: &EcdsaKeyPair, rng: &SystemRandom, tbs: &[u8]) -> Result<Vec<u8>, CertError> {
    let sig = key.sign(rng, tbs).map_err(err)?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(sig.as_ref());
    Ok(seq(&[
        tbs.to_vec(),
        seq(&oid(OID_ECDSA_SHA256)),
        tlv(0x03, &bits),
    ]
    .concat()))
}

fn tbs_certificate(
    rng: &SystemRandom,
    issuer: &[u8],
    subject: &[u8],
    not_before: SystemTime,
    not_after: SystemTime,
    public_key: &[u8],
    extensions: &[u8],
) -> Result<Vec<u8>, CertError> {
    use ring::rand::SecureRandom;
    let mut serial = [0u8; 16];
    rng.fill(&mut serial).map_err(err)?;
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x01; // no leading zero byte needed
    let mut key_bits = vec![0u8];
    key_bits.extend_from_slice(public_key);
    let spki = seq(&[
        seq(&[oid(OID_EC_PUBLIC_KEY), oid(OID_P256)].concat()),
        tlv(0x03, &key_bits),
    ]
    .concat());
    Ok(seq(&[
        tlv(0xa0, &tlv(0x02, &[2])), // version v3
        tlv(0x02, &serial),
        seq(&oid(OID_ECDSA_SHA256)),
        issuer.to_vec(),
        seq(&[time(not_before), time(not_after)].concat()),
        subject.to_vec(),
        spki,
        tlv(0xa3, &seq(extensions)),
    ]
    .concat()))
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

fn seq(content: &[u8]) -> Vec<u8> {
    tlv(0x30, content)
}

fn oid(encoded: &[u8]) -> Vec<u8> {
    tlv(0x06, encoded)
}

fn boolean(v: bool) -> Vec<u8> {
    tlv(0x01, &[if v { 0xff } else { 0 }])
}

fn extension(id: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut content = oid(id);
    if critical {
        content.extend(boolean(true));
    }
    content.extend(tlv(0x04, value));
    seq(&content)
}

/// A distinguished name with one common name.
fn dn(common_name: &str) -> Vec<u8> {
    let atv = seq(&[oid(OID_COMMON_NAME), tlv(0x0c, common_name.as_bytes())].concat());
    seq(&tlv(0x31, &atv))
}

/// UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
fn time(t: SystemTime) -> Vec<u8> {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if (1950..2050).contains(&y) {
        let s = format!("{:02}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z", y % 100);
        tlv(0x17, s.as_bytes())
    } else {
        let s = format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z");
        tlv(0x18, s.as_bytes())
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// PEM armour.
pub fn pem(label: &str, der: &[u8]) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= n {
                b64.push(B64[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn der_lengths() {
        assert_eq!(tlv(0x04, &[0; 5])[..2], [0x04, 5]);
        assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn pem_round_trips_through_pki_types() {
        use rustls_pki_types::pem::PemObject;
        let ca = CertificateAuthority::new("t").unwrap();
        let parsed: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(ca.pem().as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(parsed, vec![ca.cert().clone()]);
    }

    #[test]
    fn webpki_accepts_the_chain() {
        let ca = CertificateAuthority::new("test CA").unwrap();
        let now = SystemTime::now();
        let leaf = ca
            .issue(
                &["demo.test", "127.0.0.1"],
                now - std::time::Duration::from_secs(60),
                now + std::time::Duration::from_secs(3600),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert().clone()).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider,
        )
        .build()
        .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        let unix = rustls_pki_types::UnixTime::now();
        for name in ["demo.test", "127.0.0.1"] {
            let sn = rustls_pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&leaf.chain[0], &[], &sn, &[], unix)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let other = rustls_pki_types::ServerName::try_from("other.test").unwrap();
        assert!(verifier
            .verify_server_cert(&leaf.chain[0], &[], &other, &[], unix)
            .is_err());
    }
}
