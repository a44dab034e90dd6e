//! Typed errors, by phase.
//!
//! Errors are values in oneloop: every input comes out exactly once, either as a
//! response or as an [`Error`] that names the *phase* that failed (where in the
//! exchange) and the *kind* of failure (what went wrong). A batch never stops
//! because one URL failed; a caller can count errors by `(phase, kind)` and
//! decide what to retry.

use std::fmt;
use std::io;

/// Where in a request's life a failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// The input could not be parsed as an `http`/`https` URL.
    Url,
    /// Before or around the exchange itself: a request whose total deadline
    /// passed while queued or between attempts, a cancelled request, a
    /// configuration the crawler refuses, a failure of the event queue
    /// (`poll`), and the pool-full guard.
    Admission,
    /// Turning the host name into addresses.
    Dns,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Writing the request.
    Send,
    /// Waiting for and parsing the response head (status line and headers).
    Head,
    /// Reading the response body.
    Body,
    /// Following a redirect.
    Redirect,
    /// After the response: saving its body (the command line's `--save`).
    Save,
    /// The origin's robots.txt forbids the URL, or could not be read.
    Robots,
    /// Through an HTTP proxy: connecting to it, or its CONNECT tunnel.
    Proxy,
}

impl Phase {
    /// A short lowercase name, stable for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Url => "url",
            Phase::Admission => "admission",
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Send => "send",
            Phase::Head => "head",
            Phase::Body => "body",
            Phase::Redirect => "redirect",
            Phase::Save => "save",
            Phase::Robots => "robots",
            Phase::Proxy => "proxy",
        }
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The URL is not valid (syntax, empty host, bad port...).
    InvalidUrl,
    /// The input item is not a valid request (a JSON line that does not
    /// parse, a header that may not be sent, an unknown method...).
    InvalidInput,
    /// The URL's scheme is not `http` or `https`.
    UnsupportedScheme,
    /// The name does not exist (DNS NXDOMAIN, or not found in any source).
    NxDomain,
    /// The name exists but has no usable address.
    NoAddresses,
    /// A phase timeout expired (connect, head, body idle, DNS, TLS handshake).
    Timeout,
    /// The request's total deadline expired, whatever phase it was in.
    Deadline,
    /// The peer refused the connection.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before the exchange was complete.
    UnexpectedEof,
    /// The peer sent bytes that do not follow the protocol.
    Malformed,
    /// Something exceeded a configured limit (head size, header count, body size).
    TooLarge,
    /// The server's certificate is not valid for this host.
    BadCertificate,
    /// The certificate chain does not lead to a trusted root.
    UnknownIssuer,
    /// The certificate has expired (or is not yet valid).
    CertificateExpired,
    /// The certificate is not valid for the host name.
    NameMismatch,
    /// The peer refused the handshake (an alert) or shares no protocol with us.
    HandshakeFailure,
    /// The peer broke the TLS protocol (e.g. plain HTTP on a TLS port).
    Protocol,
    /// Any other I/O error reported by the operating system.
    Io,
    /// The crawl was stopped before this request completed.
    Cancelled,
    /// A redirect could not be followed (loop, too many, bad target).
    BadRedirect,
    /// A host name that cannot be put in a DNS query.
    InvalidName,
    /// Every nameserver failed or refused (SERVFAIL, REFUSED, TCP failure).
    ServerFailure,
    /// A redirect led back to a URL already in the chain.
    RedirectLoop,
    /// More redirects than `max_redirects`.
    TooManyRedirects,
    /// robots.txt disallows the URL for our product token.
    Disallowed,
    /// robots.txt could not be read (a 5xx, a network error, too many
    /// redirects): RFC 9309 says to assume everything is disallowed.
    Unavailable,
    /// The process (EMFILE) or the system (ENFILE) ran out of file
    /// descriptors. While other connections are open the crawler waits for
    /// one of them to close instead; this error means none was open.
    NoDescriptors,
    /// A compressed body (`Content-Encoding`) could not be decoded: corrupt
    /// or cut short.
    Decode,
    /// The proxy wants credentials, or refused the ones given (407).
    ProxyAuth,
    /// The proxy refused to open a tunnel (its status is in the detail).
    TunnelRefused,
    /// The address is not public (loopback, private, link-local…) and
    /// `Config::public_only` is set: see [`crate::public`].
    NotPublic,
}

impl ErrorKind {
    /// A short snake_case name, stable for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::UnsupportedScheme => "unsupported_scheme",
            ErrorKind::NxDomain => "nxdomain",
            ErrorKind::NoAddresses => "no_addresses",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::UnexpectedEof => "unexpected_eof",
            ErrorKind::Malformed => "malformed",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::BadCertificate => "bad_certificate",
            ErrorKind::UnknownIssuer => "unknown_issuer",
            ErrorKind::CertificateExpired => "certificate_expired",
            ErrorKind::NameMismatch => "name_mismatch",
            ErrorKind::HandshakeFailure => "handshake_failure",
            ErrorKind::Protocol => "protocol_error",
            ErrorKind::Io => "io",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::BadRedirect => "bad_redirect",
            ErrorKind::RedirectLoop => "redirect_loop",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::ServerFailure => "server_failure",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::NoDescriptors => "too_many_open_files",
            ErrorKind::Decode => "decode",
            ErrorKind::ProxyAuth => "proxy_auth",
            ErrorKind::TunnelRefused => "tunnel_refused",
            ErrorKind::NotPublic => "not_public",
            ErrorKind::Disallowed => "disallowed",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

/// A failed request: the phase, the kind, and a human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where it failed.
    pub phase: Phase,
    /// What went wrong.
    pub kind: ErrorKind,
    /// Details for humans (the OS error text, the limit that was hit...).
    pub detail: String,
}

impl Error {
    /// Builds an error from its parts.
    pub fn new(phase: Phase, kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error {
            phase,
            kind,
            detail: detail.into(),
        }
    }

    /// Classifies an I/O error from the operating system into a kind, keeping its
    /// text as the detail.
    pub fn from_io(phase: Phase, err: &io::Error) -> Error {
        let kind = match err.kind() {
            io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ErrorKind::Reset,
            io::ErrorKind::TimedOut => ErrorKind::Timeout,
            io::ErrorKind::UnexpectedEof => ErrorKind::UnexpectedEof,
            // EMFILE and ENFILE (the same numbers on Linux and the BSDs).
            _ if matches!(err.raw_os_error(), Some(23 | 24)) => ErrorKind::NoDescriptors,
            _ => ErrorKind::Io,
        };
        Error::new(phase, kind, err.to_string())
    }

    /// True for failures that a fresh attempt may cure: timeouts, refused or reset
    /// connections, a peer that hung up early. Used by the retry policy.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Timeout | ErrorKind::Refused | ErrorKind::Reset | ErrorKind::UnexpectedEof
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.phase.as_str(), self.kind.as_str())?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let e = Error::from_io(
            Phase::Connect,
            &io::Error::from(io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(e.is_retryable());
        let e = Error::from_io(
            Phase::Body,
            &io::Error::from(io::ErrorKind::ConnectionReset),
        );
        assert_eq!(e.kind, ErrorKind::Reset);
        let e = Error::from_io(Phase::Connect, &io::Error::from_raw_os_error(24));
        assert_eq!(e.kind, ErrorKind::NoDescriptors);
        assert_eq!(e.kind.as_str(), "too_many_open_files");
        let e = Error::from_io(Phase::Body, &io::Error::other("weird"));
        assert_eq!(e.kind, ErrorKind::Io);
        assert!(!e.is_retryable());
    }

    #[test]
    fn display_names_phase_and_kind() {
        let e = Error::new(Phase::Head, ErrorKind::TooLarge, "head over 65536 bytes");
        assert_eq!(e.to_string(), "head: too_large (head over 65536 bytes)");
    }
}
