//! Everything a crawl can be told: [`Config`], grouped by what each part
//! governs, with [`Config::default`] (polite, for real sites),
//! [`Config::local`] (no pacing, for loopback servers) and validation.
//!
//! Not a leaf: it gathers the cores' own parameter types ([`Pacing`],
//! [`Limits`], [`DnsConfig`], [`RetryPolicy`], [`RedirectPolicy`]) as they
//! are, so it sits just above those cores. Only the driver's side reads it
//! (the request core, the connection table, the crawler); the cores below
//! take their own part (the connection its `PhaseTimeouts`).

use crate::admission::Pacing;
use crate::dns::DnsConfig;
use crate::error::{Error, ErrorKind, Phase};
use crate::http::{Limits, Method};
use crate::policy::{RedirectPolicy, RetryPolicy};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a crawl can be told. `Config::default()` is a polite,
/// reasonable start. The command line has a flag for every field except
/// `tls.extra_roots` (DER certificates: use `--ca-file`) and `pacing.seed` —
/// see `oneloop --help`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Requests in flight at once, over all hosts.
    pub concurrency: usize,
    /// Requests in flight at once per origin (scheme, host, port).
    pub per_host: usize,
    /// Requests pulled from the input ahead of being started (bounds memory).
    pub max_parked: usize,
    /// The keep-alive pool's limits.
    pub connections: ConnectionLimits,
    /// Per-phase and per-request timeouts.
    pub timeouts: Timeouts,
    /// What each request looks like.
    pub request: RequestTemplate,
    /// Limits on response heads and bodies.
    pub limits: Limits,
    /// Per-origin politeness: delay, jitter, rate, adaptive throttling,
    /// `Retry-After` pauses. Polite by default ([`Pacing::polite`]);
    /// [`Config::local`] turns pacing off for loopback servers.
    pub pacing: Pacing,
    /// Retries of retryable failures, with backoff.
    pub retry: RetryPolicy,
    /// Which redirects are followed.
    pub redirects: RedirectPolicy,
    /// DNS over UDP for names not in `resolve` or /etc/hosts. Empty
    /// `nameservers` means those of /etc/resolv.conf (with its `timeout:` and
    /// `attempts:` options).
    pub dns: DnsConfig,
    /// Name overrides, like curl's `--resolve`: (host, address).
    pub resolve: Vec<(String, IpAddr)>,
    /// Certificates and sessions.
    pub tls: TlsConfig,
    /// Obeying robots.txt.
    pub robots: RobotsConfig,
    /// HTTP proxies per scheme, and the hosts that go direct (none by
    /// default; the command line reads them from `--proxy` and the
    /// environment).
    pub proxy: crate::proxy::ProxyConfig,
    /// Connect only to public addresses ([`crate::public::is_public`]):
    /// loopback, private, link-local and other special addresses fail as
    /// `connect: not_public`, checked on the addresses actually connected
    /// to (after DNS). Off by default; for crawls of URLs others submit.
    /// Through an HTTP or `socks5h://` proxy, which resolves names itself,
    /// only IP-literal hosts can be checked.
    pub public_only: bool,
    /// A callback running longer than this is logged as a stall.
    pub stall_threshold: Duration,
}

/// The keep-alive pool's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections, busy or idle, over all origins (raised to at least
    /// `concurrency` so the pool never makes an admitted request wait).
    pub max_total: usize,
    /// Open connections per origin (raised to at least `per_host`).
    pub max_per_host: usize,
    /// Idle pooled connections are closed after this long.
    pub idle_timeout: Duration,
    /// A connection is closed after this many requests (0: no limit).
    pub max_requests: u32,
    /// New connections to one origin still connecting (DNS and TCP) at
    /// once: a burst of thousands reaches a server over a few round trips
    /// instead of one turn's flood of SYNs, which would overflow a
    /// listener's accept queue (1,024 by default in many servers).
    pub max_connecting_per_host: usize,
}

/// The timeouts. The connection enforces the per-phase ones; the driver
/// enforces `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From the start of a connect attempt to the connection being up. On
    /// expiry the next address is tried, if any.
    pub connect: Duration,
    /// From TCP connected to the end of the TLS handshake.
    pub tls_handshake: Duration,
    /// From the start of sending the request to the end of the response head.
    pub head: Duration,
    /// The longest silence allowed while reading a body.
    pub body_idle: Duration,
    /// Happy eyeballs (RFC 8305): when a connect attempt has not succeeded
    /// this long after it started, the next address (the other family
    /// first) is tried beside it; the first to connect wins.
    pub happy_eyeballs: Duration,
    /// Everything for one input, from being pulled off the input (so time
    /// waiting in the admission queue counts) through every attempt,
    /// backoff and redirect, to the end of the response.
    pub total: Duration,
}

/// What each request looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTemplate {
    /// The request method.
    pub method: Method,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The request body (for POST).
    pub body: Vec<u8>,
    /// Keep response bodies (false: count their bytes only).
    pub keep_body: bool,
    /// Keep each response's exchange as it went over the wire
    /// ([`Response::wire`](crate::http::Response::wire): the request sent,
    /// the head received, the body before decoding, the peer's address):
    /// for archives. Off by default (it copies every byte once more).
    pub keep_wire: bool,
    /// The `Accept-Encoding` sent: by default the codings the reader undoes
    /// (`gzip, deflate, br` with the `decode` feature), `identity` in
    /// [`Config::local`] and without the feature. Bodies that come encoded
    /// are decoded either way (with the feature).
    pub accept_encoding: String,
}

/// Obeying robots.txt (RFC 9309): fetched once per origin, before its first
/// request, through the same queue, pool and politeness as any request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RobotsConfig {
    /// Fetch and obey robots.txt (on by default; [`Config::local`] turns it off).
    pub enabled: bool,
    /// The product token matched against `User-agent:` lines; `None`: the
    /// first word of the `User-Agent` (`oneloop`).
    pub agent: Option<String>,
    /// A `Crawl-delay` is obeyed up to this (a hostile file cannot stall
    /// the crawl).
    pub max_crawl_delay: Duration,
    /// The decided origins' rules are kept within about this many bytes:
    /// past it, the least recently used origins are forgotten (and fetched
    /// again if they are needed again). Default 16 MiB.
    pub cache_bytes: usize,
    /// A robots.txt is obeyed this long, then fetched again when next
    /// needed (RFC 9309 §2.4: at most 24 hours, the default).
    pub cache_lifetime: Duration,
    /// Hand each fetched robots.txt's `Sitemap:` lines to the input
    /// ([`Input::handle_robots_sitemaps`](crate::input::Input::handle_robots_sitemaps)),
    /// so a crawl reads every origin's sitemaps from the one fetch the
    /// gate makes. [`Crawler::crawl`](crate::Crawler::crawl) sets it when
    /// its follow core reads sitemaps.
    pub report_sitemaps: bool,
    /// Each robots.txt the gate fetched (its response, with the bytes as
    /// sent and received when [`RequestTemplate::keep_wire`] is on), handed
    /// to this function: on a worker thread with
    /// [`run_with_workers`](crate::Crawler::run_with_workers) and
    /// [`crawl`](crate::Crawler::crawl), on the loop's thread otherwise.
    /// It is not an input's outcome (none is counted or delivered for it):
    /// an archive keeps it, as Heritrix and `wget --warc-file` do.
    pub on_fetch: Option<RobotsSink>,
}

/// A function that receives the robots.txt fetches of the gate
/// ([`RobotsConfig::on_fetch`]).
#[derive(Clone)]
pub struct RobotsSink(std::sync::Arc<dyn Fn(&crate::outcome::Outcome) + Send + Sync>);

impl RobotsSink {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&crate::outcome::Outcome) + Send + Sync + 'static) -> RobotsSink {
        RobotsSink(std::sync::Arc::new(f))
    }

    /// Hands it one fetch.
    pub fn take(&self, fetch: &crate::outcome::Outcome) {
        (self.0)(fetch)
    }
}

impl std::fmt::Debug for RobotsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RobotsSink(..)")
    }
}

/// Two sinks are equal when they are the same function.
impl PartialEq for RobotsSink {
    fn eq(&self, other: &RobotsSink) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RobotsSink {}

impl Default for RobotsConfig {
    fn default() -> RobotsConfig {
        RobotsConfig {
            enabled: true,
            agent: None,
            max_crawl_delay: Duration::from_secs(30),
            cache_bytes: 16 << 20,
            cache_lifetime: Duration::from_secs(24 * 3600),
            report_sitemaps: false,
            on_fetch: None,
        }
    }
}

impl Config {
    /// The product token robots.txt groups are matched against.
    pub fn robots_agent(&self) -> String {
        match &self.robots.agent {
            Some(a) => a.clone(),
            None => self
                .request
                .user_agent
                .split(['/', ' '])
                .next()
                .unwrap_or("oneloop")
                .to_string(),
        }
    }
}

/// Certificates and sessions.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// Trust the Mozilla roots of `webpki-roots` (on by default).
    pub webpki_roots: bool,
    /// Extra trusted root certificates (DER), e.g. a private CA.
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// A PEM file of extra trusted roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate. **Dangerous**: anyone on the path can read
    /// and change the traffic. A warning is logged when it is on.
    pub danger_accept_invalid_certs: bool,
    /// TLS sessions kept for resumption (one per host is enough; 0 = off;
    /// at most [`crate::tls::MAX_SESSION_CACHE`], since rustls sizes the cache
    /// up front).
    pub session_cache: usize,
    /// Offer HTTP/2 in ALPN (`h2`, then `http/1.1`): a server that picks
    /// it gets one connection carrying up to `per_host` requests at once.
    /// On by default with the `http2` feature (as curl, Go and browsers
    /// do); false offers only `http/1.1`.
    pub http2: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            concurrency: 100,
            per_host: 6,
            max_parked: 1024,
            connections: ConnectionLimits::default(),
            timeouts: Timeouts::default(),
            request: RequestTemplate::default(),
            limits: Limits::default(),
            pacing: Pacing::polite(),
            retry: RetryPolicy::default(),
            redirects: RedirectPolicy::default(),
            dns: DnsConfig::default(),
            resolve: Vec::new(),
            tls: TlsConfig::default(),
            proxy: crate::proxy::ProxyConfig::default(),
            public_only: false,
            robots: RobotsConfig::default(),
            stall_threshold: Duration::from_millis(20),
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_total: 100,
            max_per_host: 6,
            idle_timeout: Duration::from_secs(90),
            max_requests: 0,
            max_connecting_per_host: 256,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            tls_handshake: Duration::from_secs(10),
            head: Duration::from_secs(30),
            body_idle: Duration::from_secs(30),
            happy_eyeballs: Duration::from_millis(250),
            total: Duration::from_secs(120),
        }
    }
}

impl Default for RequestTemplate {
    fn default() -> RequestTemplate {
        RequestTemplate {
            method: Method::Get,
            headers: Vec::new(),
            user_agent: concat!("oneloop/", env!("CARGO_PKG_VERSION")).to_string(),
            body: Vec::new(),
            keep_body: true,
            keep_wire: false,
            accept_encoding: if cfg!(feature = "decode") {
                "gzip, deflate, br"
            } else {
                "identity"
            }
            .to_string(),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> TlsConfig {
        TlsConfig {
            webpki_roots: true,
            extra_roots: Vec::new(),
            ca_file: None,
            danger_accept_invalid_certs: false,
            session_cache: 1024,
            http2: cfg!(feature = "http2"),
        }
    }
}

impl Config {
    /// The defaults with pacing and robots.txt off: for loopback servers,
    /// tests and benchmarks, where politeness would only measure the pacer.
    pub fn local() -> Config {
        Config {
            request: RequestTemplate {
                accept_encoding: "identity".into(),
                ..RequestTemplate::default()
            },
            pacing: Pacing::off(),
            robots: RobotsConfig {
                enabled: false,
                ..RobotsConfig::default()
            },
            ..Config::default()
        }
    }

    /// Rejects a configuration no crawl can run with. Errors are in phase
    /// `admission`, kind `malformed`.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::new(Phase::Admission, ErrorKind::Malformed, what));
        if self.concurrency == 0 || self.per_host == 0 {
            return bad("concurrency and per_host must be at least 1");
        }
        let t = &self.timeouts;
        if [t.connect, t.head, t.body_idle, t.total, t.tls_handshake]
            .iter()
            .any(|d| d.is_zero())
        {
            return bad("timeouts must be positive");
        }
        if self.limits.max_head_bytes < 64 || self.limits.max_headers == 0 {
            return bad("head limits are too small to read any response");
        }
        let durations = [
            ("timeouts.connect", t.connect),
            ("timeouts.tls_handshake", t.tls_handshake),
            ("timeouts.head", t.head),
            ("timeouts.body_idle", t.body_idle),
            ("timeouts.total", t.total),
            ("connections.idle_timeout", self.connections.idle_timeout),
            ("retry.backoff", self.retry.backoff),
            ("retry.backoff_max", self.retry.backoff_max),
            ("pacing.delay", self.pacing.delay),
            ("pacing.jitter", self.pacing.jitter),
            ("pacing.max_pause", self.pacing.max_pause),
            ("dns.timeout", self.dns.timeout),
            ("dns.max_ttl", self.dns.max_ttl),
            ("dns.negative_ttl", self.dns.negative_ttl),
        ];
        for (name, d) in durations {
            if d > MAX_DURATION {
                return Err(Error::new(
                    Phase::Admission,
                    ErrorKind::Malformed,
                    format!("{name}: {d:?} is over the {MAX_DURATION:?} maximum"),
                ));
            }
        }
        if let Some(rate) = self.pacing.rate {
            if !(MIN_RATE..=1e9).contains(&rate) {
                return bad("pacing.rate must be between 0.001 and 1e9 requests per second");
            }
        }
        self.request.validate()
    }
}

/// The longest duration any setting may have (about 31 years): deadlines are
/// `now + duration`, which must not overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(1_000_000_000);

/// The slowest pacing rate accepted: one request per 1,000 seconds.
pub const MIN_RATE: f64 = 0.001;

impl RequestTemplate {
    /// The crawler owns the request's framing and target: `Host`,
    /// `Content-Length` and `Transfer-Encoding` are its own, and no header
    /// name or value (nor the `User-Agent`) may carry CR, LF or NUL, which
    /// would let one option inject another header.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: String| Err(Error::new(Phase::Admission, ErrorKind::Malformed, what));
        let unsafe_byte = |s: &str| s.bytes().find(|&b| b == b'\r' || b == b'\n' || b == 0);
        if let Some(b) = unsafe_byte(&self.user_agent) {
            return bad(format!(
                "user agent: contains byte 0x{b:02x} (CR, LF and NUL are not allowed)"
            ));
        }
        if let Some(b) = unsafe_byte(&self.accept_encoding) {
            return bad(format!(
                "accept-encoding: contains byte 0x{b:02x} (CR, LF and NUL are not allowed)"
            ));
        }
        for (name, value) in &self.headers {
            check_header(name, value).or_else(bad)?;
        }
        Ok(())
    }
}

/// May this header field be sent? Not if its name is not a token, its value
/// holds CR, LF or NUL (it could smuggle a second request), or the crawler
/// owns it (`Host` comes from the URL, the framing from the body).
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(format!("header name {name:?} is not a valid token"));
    }
    if let Some(b) = value.bytes().find(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!(
            "header {name}: the value contains byte 0x{b:02x} (CR, LF and NUL are not allowed)"
        ));
    }
    for owned in ["host", "content-length", "transfer-encoding"] {
        if name.eq_ignore_ascii_case(owned) {
            return Err(format!(
                "header {name}: set by the crawler (Host from the URL, framing from the body)"
            ));
        }
    }
    Ok(())
}

/// RFC 9110 §5.6.2 `tchar`: the bytes a header name may have.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_local_drops_pacing_robots_and_compression() {
        assert!(Config::default().validate().is_ok());
        let local = Config::local();
        assert_eq!(local.pacing, Pacing::off());
        assert!(Config::default().robots.enabled && !local.robots.enabled);
        assert_eq!(Config::default().robots_agent(), "oneloop");
        assert_eq!(local.timeouts, Config::default().timeouts);
        // Loopback servers and benchmarks get bodies as they are.
        assert_eq!(local.request.accept_encoding, "identity");
        let expected = if cfg!(feature = "decode") {
            "gzip, deflate, br"
        } else {
            "identity"
        };
        assert_eq!(Config::default().request.accept_encoding, expected);
        let default_request = RequestTemplate {
            accept_encoding: "identity".into(),
            ..Config::default().request
        };
        assert_eq!(local.request, default_request);
    }

    #[test]
    #[allow(clippy::type_complexity)] // the table spells its column types out
    fn headers_cannot_be_injected_or_take_over_framing() {
        let with = |headers: &[(&str, &str)], ua: &str| RequestTemplate {
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            user_agent: ua.to_string(),
            ..RequestTemplate::default()
        };
        #[rustfmt::skip]
        let cases: &[(&[(&str, &str)], &str, Option<&str>)] = &[
            (&[("X-Ok", "fine; really")], "ua/1", None),
            (&[("Accept-Language", "de")], "ua/1", None),
            (&[], "ua\r\nX-Injected: yes", Some("user agent")),
            (&[("X-A", "a\r\nX-Injected: yes")], "ua", Some("header X-A")),
            (&[("X-A", "nul\0")], "ua", Some("header X-A")),
            (&[("X A", "v")], "ua", Some("not a valid token")),
            (&[("", "v")], "ua", Some("not a valid token")),
            (&[("X-B\n", "v")], "ua", Some("not a valid token")),
            (&[("Host", "other")], "ua", Some("set by the crawler")),
            (&[("content-length", "99")], "ua", Some("set by the crawler")),
            (&[("Transfer-Encoding", "chunked")], "ua", Some("set by the crawler")),
        ];
        for (headers, ua, want) in cases {
            match (with(headers, ua).validate(), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.detail.contains(w), "{headers:?}: {e}"),
                (got, want) => panic!("{headers:?} {ua:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn nonsense_is_rejected() {
        let zero = Config {
            concurrency: 0,
            ..Config::default()
        };
        let no_timeout = Config {
            timeouts: Timeouts {
                head: Duration::ZERO,
                ..Timeouts::default()
            },
            ..Config::default()
        };
        let tiny_head = Config {
            limits: Limits {
                max_head_bytes: 10,
                ..Limits::default()
            },
            ..Config::default()
        };
        let forever = Config {
            timeouts: Timeouts {
                total: Duration::MAX,
                ..Timeouts::default()
            },
            ..Config::default()
        };
        let glacial = Config {
            pacing: Pacing {
                rate: Some(1e-300),
                ..Pacing::polite()
            },
            ..Config::default()
        };
        for c in [zero, no_timeout, tiny_head, forever, glacial] {
            let e = c.validate().unwrap_err();
            assert_eq!((e.phase, e.kind), (Phase::Admission, ErrorKind::Malformed));
        }
    }
}
