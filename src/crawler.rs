//! The driver: one thread, one `mio::Poll`, moving bytes between sockets and
//! the sans-IO cores (admission queue, pool, HTTP reader, timers).
//!
//! One turn of the loop:
//! 1. pull input while the admission queue wants more, and start every request
//!    it lets through (check out a connection, or open one);
//! 2. block in `poll` until the earliest deadline (request, connection phase,
//!    pooled idle connection);
//! 3. drive every connection that had an event;
//! 4. fire the timers that are due.
//!
//! Each finished request becomes one [`Outcome`] handed to the callback, then
//! its places in the admission queue are freed and the next requests start.

use crate::admission::{Admission, AdmissionConfig, HostId, Pacing};
use crate::conn::{Conn, ConnEvent, ConnOptions, ConnState, Timeouts};
use crate::dns::{DnsConfig, DnsCore, DnsDriver, DnsStats, LookupResult, Resolver};
use crate::error::{Error, ErrorKind, Phase};
use crate::http::{encode_request, Limits, Method, Response};
use crate::pool::{Checkout, Pool, PoolConfig};
use crate::reactor::{LoopStats, TimerId, Timers, Token, WAKER_TOKEN};
use crate::summary::Summary;
use crate::url::Url;
use mio::{Events, Poll, Waker};
use slab::Slab;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a crawl can be told. `Config::default()` is a polite,
/// reasonable start; every field can be set from the command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// Requests in flight at once, over all hosts.
    pub concurrency: usize,
    /// Requests in flight at once per origin (scheme, host, port).
    pub per_host: usize,
    /// Open connections, busy or idle, over all origins (raised to at least
    /// `concurrency` so the pool never makes an admitted request wait).
    pub max_connections: usize,
    /// Open connections per origin (raised to at least `per_host`).
    pub max_connections_per_host: usize,
    /// Idle pooled connections are closed after this long.
    pub idle_timeout: Duration,
    /// A connection is closed after this many requests (0: no limit).
    pub max_requests_per_connection: u32,
    /// From the start of a connect attempt to the connection being up. On
    /// expiry the next address is tried, if any.
    pub connect_timeout: Duration,
    /// From the start of sending the request to the end of the response head.
    pub head_timeout: Duration,
    /// The longest silence allowed while reading a body.
    pub body_idle_timeout: Duration,
    /// Everything for one request, from being pulled off the input (so time
    /// waiting in the admission queue counts) to the end of the response.
    pub total_timeout: Duration,
    /// Limits on response heads and bodies.
    pub limits: Limits,
    /// The request method.
    pub method: Method,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Keep response bodies (false: count their bytes only).
    pub keep_body: bool,
    /// Requests pulled from the input ahead of being started (bounds memory).
    pub max_parked: usize,
    /// A callback running longer than this is logged as a stall.
    pub stall_threshold: Duration,
    /// Per-origin politeness: delay, jitter, rate, adaptive throttling,
    /// `Retry-After` pauses. Polite by default ([`Pacing::polite`]);
    /// [`Config::local`] turns pacing off for loopback servers.
    pub pacing: Pacing,
    /// Retries after a retryable failure (refused, reset, timeouts, and the
    /// statuses 429, 502, 503, 504), for GET and HEAD only.
    pub retries: u32,
    /// The first retry waits about this long; each next one twice as long
    /// (with jitter: between half and all of it).
    pub retry_backoff: Duration,
    /// The longest wait between two attempts.
    pub retry_backoff_max: Duration,
    /// Follow redirects (301, 302, 303, 307, 308).
    pub follow_redirects: bool,
    /// The most redirects followed for one input URL.
    pub max_redirects: u32,
    /// The request body (for POST).
    pub body: Vec<u8>,
    /// DNS over UDP for names not in `resolve` or /etc/hosts. Empty
    /// `nameservers` means those of /etc/resolv.conf (with its `timeout:` and
    /// `attempts:` options).
    pub dns: DnsConfig,
    /// Name overrides, like curl's `--resolve`: (host, address).
    pub resolve: Vec<(String, IpAddr)>,
    /// From TCP connected to the end of the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Trust the Mozilla roots of `webpki-roots` (on by default).
    pub webpki_roots: bool,
    /// Extra trusted root certificates (DER), e.g. a private CA.
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// A PEM file of extra trusted roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any TLS certificate. **Dangerous**: anyone on the path can read
    /// and change the traffic. A warning is logged when it is on.
    pub danger_accept_invalid_certs: bool,
    /// TLS sessions kept for resumption (one per host is enough; 0 = off).
    pub tls_session_cache: usize,
    /// Log every connection state transition at `trace` level.
    pub trace: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            concurrency: 100,
            per_host: 6,
            max_connections: 100,
            max_connections_per_host: 6,
            idle_timeout: Duration::from_secs(90),
            max_requests_per_connection: 0,
            connect_timeout: Duration::from_secs(10),
            head_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(120),
            limits: Limits::default(),
            method: Method::Get,
            headers: Vec::new(),
            user_agent: concat!("oneloop/", env!("CARGO_PKG_VERSION")).to_string(),
            keep_body: true,
            max_parked: 1024,
            stall_threshold: Duration::from_millis(20),
            resolve: Vec::new(),
            dns: DnsConfig::default(),
            pacing: Pacing::polite(),
            retries: 2,
            retry_backoff: Duration::from_millis(250),
            retry_backoff_max: Duration::from_secs(30),
            follow_redirects: true,
            max_redirects: 10,
            body: Vec::new(),
            tls_handshake_timeout: Duration::from_secs(10),
            webpki_roots: true,
            extra_roots: Vec::new(),
            ca_file: None,
            danger_accept_invalid_certs: false,
            tls_session_cache: 1024,
            trace: false,
        }
    }
}

impl Config {
    /// The defaults with pacing off: for loopback servers, tests and
    /// benchmarks, where politeness would only measure the pacer.
    pub fn local() -> Config {
        Config {
            pacing: Pacing::off(),
            ..Config::default()
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::new(Phase::Admission, ErrorKind::Malformed, what));
        if self.concurrency == 0 || self.per_host == 0 {
            return bad("concurrency and per_host must be at least 1");
        }
        if self.connect_timeout.is_zero()
            || self.head_timeout.is_zero()
            || self.body_idle_timeout.is_zero()
            || self.total_timeout.is_zero()
            || self.tls_handshake_timeout.is_zero()
        {
            return bad("timeouts must be positive");
        }
        if self.limits.max_head_bytes < 64 || self.limits.max_headers == 0 {
            return bad("head limits are too small to read any response");
        }
        Ok(())
    }
}

/// One input item: a URL, with an optional caller-chosen id.
#[derive(Clone, Debug)]
pub struct Request {
    /// The URL to fetch.
    pub url: String,
    /// The id the outcome carries; `None` means "its position in the input".
    pub id: Option<u64>,
}

impl From<String> for Request {
    fn from(url: String) -> Request {
        Request { url, id: None }
    }
}

impl From<&str> for Request {
    fn from(url: &str) -> Request {
        Request {
            url: url.to_string(),
            id: None,
        }
    }
}

impl From<(u64, String)> for Request {
    fn from((id, url): (u64, String)) -> Request {
        Request { url, id: Some(id) }
    }
}

/// Where a request's time went. Phases that did not happen (no connect on a
/// reused connection) are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting in the admission queue.
    pub queued: Duration,
    /// Waiting for DNS (when the name was not cached or static).
    pub dns: Option<Duration>,
    /// Connecting, on a fresh connection (all addresses tried).
    pub connect: Option<Duration>,
    /// From start to the first response byte.
    pub ttfb: Option<Duration>,
    /// From start (leaving the admission queue) to the end.
    pub total: Duration,
}

/// The result of one input item. Every item yields exactly one.
#[derive(Debug)]
pub struct Outcome {
    /// The request's id (its position in the input unless the caller set one).
    pub id: u64,
    /// The URL as given.
    pub url: String,
    /// Requests sent for this input: retries and redirects included.
    pub attempts: u32,
    /// Why each earlier attempt was retried, in order (the final result is
    /// the last attempt's).
    pub retries: Vec<RetryCause>,
    /// The redirect chain: each URL followed, in order; the last one is the
    /// final URL. Empty without redirects.
    pub redirects: Vec<String>,
    /// Whether the final attempt used a pooled (reused) connection.
    pub reused: bool,
    /// Where the time went.
    pub timings: Timings,
    /// The response, or a typed error naming the phase that failed.
    pub result: Result<Response, Error>,
}

impl Outcome {
    /// The URL the result came from: the last redirect target, or the input URL.
    pub fn final_url(&self) -> &str {
        self.redirects.last().map_or(&self.url, |u| u.as_str())
    }
}

/// Why an attempt was retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryCause {
    /// It failed with this error.
    Error(Phase, ErrorKind),
    /// The server answered with this retryable status (429, 502, 503, 504).
    Status(u16),
}

impl std::fmt::Display for RetryCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryCause::Error(p, k) => write!(f, "{}:{}", p.as_str(), k.as_str()),
            RetryCause::Status(s) => write!(f, "status {s}"),
        }
    }
}

/// Stops a running crawl from another thread (or from the callback).
#[derive(Clone)]
pub struct Handle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    in_flight: Arc<AtomicUsize>,
}

impl Handle {
    /// Stops pulling input; requests not yet started end as `cancelled`
    /// outcomes, requests in flight finish.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// Requests in flight, as of the loop's last turn (for progress lines).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// The crawler. See [the crate docs](crate) for an example.
pub struct Crawler {
    config: Config,
    poll: Poll,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    dns: DnsDriver<Token>,
}

/// Where a request is, and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// In the admission queue under `Req::host`.
    Parked,
    /// Started: holds an admission slot of `Req::host` (and maybe a connection).
    Active,
    /// Waiting for a retry; holds nothing but this timer.
    Backoff(TimerId),
}

/// A request the crawler knows about: parked, in flight, or between attempts.
struct Req {
    generation: u32,
    id: u64,
    url: Url,
    /// The input URL, kept once a redirect changed `url`.
    original: Option<String>,
    method: Method,
    host: HostId,
    stage: Stage,
    attempts: u32,
    retries: Vec<RetryCause>,
    redirects: Vec<String>,
    pulled_at: Instant,
    started_at: Option<Instant>,
    conn: Option<usize>,
    timer: TimerId,
    reused: bool,
    connect_time: Option<Duration>,
    ttfb: Option<Duration>,
    dns_started: Option<Instant>,
    dns_time: Option<Duration>,
    /// The one free retry on a fresh connection after a reused one failed
    /// early was used.
    retried_fresh: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerKind {
    Conn(Token),
    Request(Token),
    Retry(Token),
}

/// The state of one `run`.
struct Run<'a> {
    config: &'a Config,
    resolver: &'a Resolver,
    dns: &'a mut DnsDriver<Token>,
    dns_before: DnsStats,
    tls: &'a Arc<rustls::ClientConfig>,
    timeouts: Timeouts,
    poll: &'a mut Poll,
    conns: Slab<Conn>,
    reqs: Slab<Req>,
    generation: u32,
    next_conn_id: u64,
    admission: Admission<Token>,
    pool: Pool<Token>,
    timers: Timers<TimerKind>,
    stats: LoopStats,
    summary: Summary,
    spare_responses: Vec<Response>,
    addr_buf: Vec<IpAddr>,
    /// Outcomes produced inside protocol work, delivered after it (so the
    /// callback never runs with a connection half-updated).
    ready: Vec<Outcome>,
    stop: Arc<AtomicBool>,
    next_gc: Instant,
    rng: u64,
}

impl Crawler {
    /// A crawler with this configuration. Fails on a nonsensical config or if
    /// the OS refuses an event queue.
    pub fn new(config: Config) -> Result<Crawler, Error> {
        config.validate()?;
        let poll = Poll::new().map_err(|e| Error::from_io(Phase::Admission, &e))?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)
            .map_err(|e| Error::from_io(Phase::Admission, &e))?;
        let resolver = Resolver::new(&config.resolve);
        let mut dns_config = config.dns.clone();
        if dns_config.nameservers.is_empty() {
            let rc = std::fs::read_to_string("/etc/resolv.conf")
                .map(|t| crate::dns::parse_resolv_conf(&t))
                .unwrap_or_default();
            dns_config.nameservers = rc.nameservers;
            if let Some(t) = rc.timeout {
                dns_config.timeout = t;
            }
            if let Some(a) = rc.attempts {
                dns_config.attempts = a;
            }
        }
        let dns = DnsDriver::new(DnsCore::new(dns_config));
        let tls = crate::tls::client_config(&crate::tls::TlsOptions {
            webpki_roots: config.webpki_roots,
            extra_roots: &config.extra_roots,
            ca_file: config.ca_file.as_deref(),
            danger_accept_invalid_certs: config.danger_accept_invalid_certs,
            session_cache: config.tls_session_cache,
        })?;
        Ok(Crawler {
            dns,
            tls,
            config,
            poll,
            waker: Arc::new(waker),
            stop: Arc::new(AtomicBool::new(false)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            resolver,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle that can stop the crawl from another thread.
    pub fn handle(&self) -> Handle {
        Handle {
            stop: self.stop.clone(),
            waker: self.waker.clone(),
            in_flight: self.in_flight.clone(),
        }
    }

    /// Fetches every URL of `input`, pulling it lazily, and calls `on_outcome`
    /// once per item. Returns when every item has its outcome (or the crawl
    /// was stopped and every started request has finished).
    pub fn run<I, F>(&mut self, input: I, mut on_outcome: F) -> Summary
    where
        I: IntoIterator,
        I::Item: Into<Request>,
        F: FnMut(&Outcome),
    {
        self.stop.store(false, Ordering::SeqCst);
        let config = &self.config;
        let concurrency = config.concurrency;
        let per_host = config.per_host.min(concurrency);
        let mut run = Run {
            config,
            resolver: &self.resolver,
            dns_before: self.dns.core.stats(),
            dns: &mut self.dns,
            tls: &self.tls,
            timeouts: Timeouts {
                connect: config.connect_timeout,
                head: config.head_timeout,
                body_idle: config.body_idle_timeout,
                tls_handshake: config.tls_handshake_timeout,
            },
            poll: &mut self.poll,
            conns: Slab::with_capacity(concurrency),
            reqs: Slab::with_capacity(concurrency + config.max_parked.min(1 << 16)),
            generation: 0,
            next_conn_id: 0,
            admission: Admission::new(AdmissionConfig {
                max_in_flight: concurrency,
                max_per_host: per_host,
                max_parked: config.max_parked,
                pacing: config.pacing,
            }),
            pool: Pool::new(PoolConfig {
                max_total: config.max_connections.max(concurrency),
                max_per_key: config.max_connections_per_host.max(per_host),
                idle_timeout: config.idle_timeout,
            }),
            timers: Timers::new(),
            stats: LoopStats::default(),
            summary: Summary::default(),
            spare_responses: Vec::new(),
            addr_buf: Vec::new(),
            ready: Vec::new(),
            stop: self.stop.clone(),
            next_gc: Instant::now() + Duration::from_secs(1),
            rng: config.pacing.seed | 1,
        };
        let started = Instant::now();
        let mut input = input.into_iter();
        let mut next_id: u64 = 0;
        let mut input_done = false;
        let mut events = Events::with_capacity(1024);
        loop {
            let turn_start = Instant::now();
            // 1. Pull input and start what the limits allow.
            run.check_stop(turn_start);
            while !input_done && !run.summary.stopped && run.admission.wants_more() {
                match input.next() {
                    Some(item) => {
                        let item: Request = item.into();
                        let id = item.id.unwrap_or(next_id);
                        next_id += 1;
                        run.accept(id, item.url, turn_start);
                    }
                    None => input_done = true,
                }
                run.start_ready(turn_start);
                run.deliver(&mut on_outcome);
            }
            run.start_ready(turn_start);
            run.deliver(&mut on_outcome);
            if (input_done || run.summary.stopped) && run.reqs.is_empty() {
                break;
            }
            // 2. Wait for readiness or the next deadline.
            let now = Instant::now();
            let deadline = [
                run.timers.next_deadline(),
                run.pool.poll_timeout(),
                run.dns.core.poll_timeout(),
                run.admission.poll_timeout(),
                Some(run.next_gc),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = deadline.map(|d| d.saturating_duration_since(now));
            let protocol_before_poll = now - turn_start;
            if let Err(e) = run.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let after_poll = Instant::now();
            run.stats.iterations += 1;
            run.stats.time_in_poll += after_poll - now;
            let n = events.iter().count() as u64;
            run.stats.events += n;
            run.stats.max_events_per_poll = run.stats.max_events_per_poll.max(n);
            // 3. Drive the connections that are ready.
            for event in events.iter() {
                if event.token() == WAKER_TOKEN {
                    continue;
                }
                let token = Token::from_mio(event.token());
                if DnsDriver::<Token>::owns(token) {
                    run.dns.handle_event(token, run.poll.registry(), after_poll);
                } else {
                    run.on_ready(token, after_poll);
                }
            }
            run.dns_events(after_poll);
            // 4. Timers, and now and then forgetting idle origins.
            let now = Instant::now();
            run.fire_timers(now);
            if run.dns.core.poll_timeout().is_some_and(|t| t <= now) {
                run.dns.handle_timeout(run.poll.registry(), now);
            }
            run.dns_events(now);
            if now >= run.next_gc {
                run.admission.gc(now);
                run.next_gc = now + Duration::from_secs(1);
            }
            let callbacks_before = run.stats.time_in_callbacks;
            run.deliver(&mut on_outcome);
            let in_callbacks = run.stats.time_in_callbacks - callbacks_before;
            self.in_flight
                .store(run.admission.in_flight(), Ordering::Relaxed);
            let turn = turn_start.elapsed();
            run.stats.time_in_protocol +=
                (turn.saturating_sub(after_poll - now)).saturating_sub(in_callbacks);
            let _ = protocol_before_poll;
        }
        // Close what is left in the pool.
        let now = Instant::now();
        for (_, conn) in run.conns.iter_mut() {
            conn.close(run.poll.registry(), now);
        }
        run.summary.elapsed = started.elapsed();
        run.summary.pool = run.pool.stats();
        run.summary.dns = run.dns.core.stats().since(&run.dns_before);
        run.summary.admission = run.admission.stats();
        run.summary.lowered_limits = run.admission.lowered_limits();
        run.summary.loop_stats = run.stats;
        run.summary
    }
}

impl Run<'_> {
    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// A new input item: parse, then park in the admission queue (or fail now).
    fn accept(&mut self, id: u64, raw: String, now: Instant) {
        let url = match Url::parse_or_return(raw) {
            Ok(url) => url,
            Err((e, raw)) => {
                self.ready.push(Outcome {
                    id,
                    url: raw,
                    attempts: 0,
                    retries: Vec::new(),
                    redirects: Vec::new(),
                    reused: false,
                    timings: Timings::default(),
                    result: Err(e),
                });
                return;
            }
        };
        let generation = self.next_generation();
        let entry = self.reqs.vacant_entry();
        let token = Token {
            slot: entry.key(),
            generation,
        };
        let timer = self
            .timers
            .insert(now + self.config.total_timeout, TimerKind::Request(token));
        let host = self.admission.push(url.origin(), token, now);
        entry.insert(Req {
            generation,
            id,
            url,
            original: None,
            method: self.config.method,
            host,
            stage: Stage::Parked,
            attempts: 0,
            retries: Vec::new(),
            redirects: Vec::new(),
            pulled_at: now,
            started_at: None,
            conn: None,
            timer,
            reused: false,
            connect_time: None,
            ttfb: None,
            dns_started: None,
            dns_time: None,
            retried_fresh: false,
        });
    }

    /// Acts on a stop request: no more input, parked requests cancelled.
    fn check_stop(&mut self, now: Instant) {
        if !self.summary.stopped && self.stop.load(Ordering::Relaxed) {
            self.summary.stopped = true;
            self.cancel_parked(now);
        }
    }

    /// Starts every request the admission queue lets through.
    fn start_ready(&mut self, now: Instant) {
        if self.summary.stopped {
            return;
        }
        while let Some((token, _host)) = self.admission.pop_ready(now) {
            self.summary.max_in_flight = self.summary.max_in_flight.max(self.admission.in_flight());
            let req = &mut self.reqs[token.slot];
            req.stage = Stage::Active;
            req.started_at.get_or_insert(now);
            self.dispatch(token.slot, false, now);
        }
    }

    /// Finds a connection for an admitted request and sends it.
    fn dispatch(&mut self, slot: usize, fresh_only: bool, now: Instant) {
        self.reqs[slot].attempts += 1;
        // Borrow the origin key: no allocation unless a connection is opened.
        let key = self.reqs[slot].url.origin();
        let checkout = if fresh_only {
            self.pool.checkout_fresh(key)
        } else {
            self.pool.checkout(key)
        };
        match checkout {
            Checkout::Reuse(ct) => {
                self.reqs[slot].reused = true;
                self.send_on(ct.slot, slot, now);
            }
            Checkout::Open => {
                let key = key.to_string();
                self.open_conn(slot, key, now)
            }
            Checkout::OpenAfterEvict(old) => {
                let key = key.to_string();
                self.drop_conn(old.slot, now);
                self.open_conn(slot, key, now);
            }
            Checkout::Full => {
                // Unreachable through the admission limits (see pool docs);
                // fail loudly rather than hang.
                let e = Error::new(Phase::Admission, ErrorKind::Io, "connection pool full");
                self.finish(slot, Err(e), now);
            }
        }
    }

    fn open_conn(&mut self, slot: usize, key: String, now: Instant) {
        let url = &self.reqs[slot].url;
        let tls = match url.scheme() {
            crate::url::Scheme::Http => None,
            crate::url::Scheme::Https => {
                let session = crate::tls::server_name(url.host_bare()).and_then(|name| {
                    rustls::ClientConnection::new(self.tls.clone(), name)
                        .map_err(|e| crate::tls::classify(&e))
                });
                match session {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.pool.closed(&key);
                        self.finish(slot, Err(e), now);
                        return;
                    }
                }
            }
        };
        // Static sources first (overrides, IP literals, /etc/hosts,
        // localhost): no waiting. Otherwise the connection starts in
        // `Resolving` and DNS answers later.
        self.addr_buf.clear();
        let known = self
            .resolver
            .lookup_static(url.host_bare(), &mut self.addr_buf);
        let port = url.port();
        let addrs: Vec<SocketAddr> = self
            .addr_buf
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        let generation = self.next_generation();
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        let entry = self.conns.vacant_entry();
        let token = Token {
            slot: entry.key(),
            generation,
        };
        let mut conn = Conn::new(
            id,
            generation,
            key.into_boxed_str(),
            addrs,
            tls,
            ConnOptions {
                limits: self.config.limits,
                keep_body: self.config.keep_body,
                trace: self.config.trace,
            },
            now,
        );
        if !known {
            conn.set_resolving(now);
        }
        entry.insert(conn);
        let req = &mut self.reqs[slot];
        req.reused = false;
        req.conn = Some(token.slot);
        req.dns_started = Some(now);
        self.prepare_request(token.slot, slot, now);
        if known {
            self.reqs[slot].dns_started = None;
            self.connect_conn(token.slot, now);
            return;
        }
        let host = self.reqs[slot].url.host_bare().to_string();
        match self.dns.core.lookup(&host, token, now) {
            LookupResult::Ready(result) => self.conn_resolved(token.slot, result, now),
            LookupResult::Pending => self.dns.flush(self.poll.registry()),
        }
    }

    /// Starts the TCP connect of a connection that has its addresses.
    fn connect_conn(&mut self, cslot: usize, now: Instant) {
        let conn = &mut self.conns[cslot];
        let token = Token {
            slot: cslot,
            generation: conn.generation,
        };
        match conn.start_connect(self.poll.registry(), token.to_mio(), now) {
            Ok(()) => self.arm_conn_timer(cslot, now),
            Err(e) => self.conn_failed(cslot, e, now),
        }
    }

    /// Hands finished DNS lookups to their connections.
    fn dns_events(&mut self, now: Instant) {
        while let Some((token, result)) = self.dns.core.poll_event() {
            match self.conns.get(token.slot) {
                Some(c) if c.generation == token.generation && c.state == ConnState::Resolving => {
                    self.conn_resolved(token.slot, result, now)
                }
                _ => {} // the connection is gone (its request timed out)
            }
        }
    }

    fn conn_resolved(&mut self, cslot: usize, result: Result<Vec<IpAddr>, Error>, now: Instant) {
        if let Some(r) = self.conns[cslot].request {
            let req = &mut self.reqs[r];
            req.dns_time = req.dns_started.map(|t| now.saturating_duration_since(t));
        }
        match result {
            Ok(ips) => {
                let port = self.conns[cslot]
                    .request
                    .map_or(0, |r| self.reqs[r].url.port());
                let addrs = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
                self.conns[cslot].set_addresses(addrs, now);
                self.connect_conn(cslot, now);
            }
            Err(e) => self.conn_failed(cslot, e, now),
        }
    }

    /// Encodes the request into the connection's output buffer.
    fn prepare_request(&mut self, cslot: usize, rslot: usize, now: Instant) {
        let req = &self.reqs[rslot];
        let conn = &mut self.conns[cslot];
        let out = conn.out_buffer();
        let body: &[u8] = if req.method == Method::Post {
            &self.config.body
        } else {
            b""
        };
        encode_request(
            out,
            req.method,
            &req.url,
            &self.config.headers,
            body,
            &self.config.user_agent,
        );
        conn.begin_request(req.method, rslot, now);
        if let Some(mut resp) = self.spare_responses.pop() {
            resp.clear();
            std::mem::swap(&mut conn.response, &mut resp);
        }
    }

    /// Sends a request on an idle pooled connection.
    fn send_on(&mut self, cslot: usize, rslot: usize, now: Instant) {
        self.reqs[rslot].conn = Some(cslot);
        self.prepare_request(cslot, rslot, now);
        self.drive(cslot, now);
    }

    fn on_ready(&mut self, token: Token, now: Instant) {
        match self.conns.get(token.slot) {
            Some(c) if c.generation == token.generation => self.drive(token.slot, now),
            _ => {} // a stale event for a connection that is gone
        }
    }

    /// Runs a connection's state machine and acts on what it reports.
    fn drive(&mut self, cslot: usize, now: Instant) {
        loop {
            let token = Token {
                slot: cslot,
                generation: self.conns[cslot].generation,
            };
            let event = self.conns[cslot].drive(self.poll.registry(), token.to_mio(), now);
            match event {
                ConnEvent::Pending => {
                    self.arm_conn_timer(cslot, now);
                    return;
                }
                ConnEvent::Connected => {
                    if let Some(r) = self.conns[cslot].request {
                        let req = &mut self.reqs[r];
                        let since = req.started_at.unwrap_or(now);
                        req.connect_time = Some(now.saturating_duration_since(since));
                    }
                    // Continue: send the request.
                }
                ConnEvent::TlsEstablished { took, resumed } => {
                    if resumed {
                        self.summary.tls_resumed += 1;
                    } else {
                        self.summary.tls_full += 1;
                    }
                    self.summary.tls_handshake.record(took);
                    // Continue: send the request.
                }
                ConnEvent::Done => {
                    self.response_done(cslot, now);
                    return;
                }
                ConnEvent::Failed(e) => {
                    self.conn_failed(cslot, e, now);
                    return;
                }
                ConnEvent::IdleClosed => {
                    let conn = self.conns.remove(cslot);
                    self.pool.remove_idle(&conn.key, token);
                    self.cancel_conn_timer(&conn);
                    return;
                }
            }
        }
    }

    fn response_done(&mut self, cslot: usize, now: Instant) {
        let conn = &mut self.conns[cslot];
        let Some(rslot) = conn.request.take() else {
            return;
        };
        let resp = std::mem::take(&mut conn.response);
        let first_byte = conn.first_byte_at;
        let max = self.config.max_requests_per_connection;
        let keep = conn.reusable() && (max == 0 || conn.served + 1 < max);
        if keep {
            conn.make_idle(now);
            let token = Token {
                slot: cslot,
                generation: conn.generation,
            };
            self.pool.checkin(&conn.key, token, now);
        } else {
            self.drop_conn_busy(cslot, now);
        }
        let req = &mut self.reqs[rslot];
        req.conn = None;
        if let (Some(t), Some(s)) = (first_byte, req.started_at) {
            req.ttfb = Some(t.saturating_duration_since(s));
        }
        self.handle_response(rslot, resp, now);
    }

    /// A complete response: follow a redirect, retry a retryable status, or
    /// finish.
    fn handle_response(&mut self, rslot: usize, resp: Response, now: Instant) {
        let status = resp.status;
        let host = self.reqs[rslot].host;
        if status == 429 {
            self.admission.record_throttle(host);
        } else if status < 400 {
            self.admission.record_success(host, now);
        }
        if matches!(status, 429 | 503) {
            if let Some(wait) = resp
                .headers
                .get_str("retry-after")
                .and_then(|v| crate::http::parse_retry_after(v, std::time::SystemTime::now()))
            {
                log::info!(
                    "{} paused for {wait:?} (Retry-After)",
                    self.admission.key(host)
                );
                self.admission.pause(host, wait, now);
            }
        }
        if matches!(status, 429 | 502 | 503 | 504) && self.may_retry(rslot) {
            self.recycle(resp);
            self.retry(rslot, RetryCause::Status(status), now);
            return;
        }
        if matches!(status, 301 | 302 | 303 | 307 | 308) && self.config.follow_redirects {
            if let Some(location) = resp.headers.get_str("location") {
                let location = location.trim().to_string();
                self.recycle(resp);
                self.redirect(rslot, status, &location, now);
                return;
            }
        }
        self.finish(rslot, Ok(resp), now);
    }

    fn recycle(&mut self, mut resp: Response) {
        if self.spare_responses.len() < self.config.concurrency {
            resp.clear();
            self.spare_responses.push(resp);
        }
    }

    /// Follows a redirect: the request leaves its origin's slot and queues
    /// under the target's origin, so a cross-host redirect obeys that host's
    /// limits.
    fn redirect(&mut self, rslot: usize, status: u16, location: &str, now: Instant) {
        let req = &self.reqs[rslot];
        let fail = |kind: ErrorKind, detail: String| Error::new(Phase::Redirect, kind, detail);
        let next = match req.url.join(location) {
            Ok(u) => u,
            Err(e) => {
                let e = fail(
                    ErrorKind::BadRedirect,
                    format!("{status} to {location:?}: {}", e.detail),
                );
                return self.finish(rslot, Err(e), now);
            }
        };
        if req.redirects.len() >= self.config.max_redirects as usize {
            let e = fail(
                ErrorKind::TooManyRedirects,
                format!("more than {} redirects", self.config.max_redirects),
            );
            return self.finish(rslot, Err(e), now);
        }
        let seen = |u: &str| {
            req.original.as_deref().unwrap_or(req.url.as_str()) == u
                || req.redirects.iter().any(|r| r == u)
        };
        if seen(next.as_str()) {
            let e = fail(
                ErrorKind::RedirectLoop,
                format!("{status} back to {}", next.as_str()),
            );
            return self.finish(rslot, Err(e), now);
        }
        self.summary.redirects += 1;
        let old_host = self.reqs[rslot].host;
        self.admission.release(old_host, now);
        let generation = self.reqs[rslot].generation;
        let token = Token {
            slot: rslot,
            generation,
        };
        let host = self.admission.push_front(next.origin(), token, now);
        let req = &mut self.reqs[rslot];
        req.redirects.push(next.as_str().to_string());
        let previous = std::mem::replace(&mut req.url, next);
        if req.original.is_none() {
            req.original = Some(previous.into_string());
        }
        // 303 always, and 301/302 after a POST (as browsers do), become GET.
        if status == 303 || (matches!(status, 301 | 302) && req.method == Method::Post) {
            req.method = Method::Get;
        }
        req.host = host;
        req.stage = Stage::Parked;
    }

    /// May this request be retried (idempotent, budget left)?
    fn may_retry(&self, rslot: usize) -> bool {
        let req = &self.reqs[rslot];
        req.method.is_idempotent() && (req.retries.len() as u32) < self.config.retries
    }

    /// Releases the request's slot and schedules the next attempt after an
    /// exponential backoff with jitter.
    fn retry(&mut self, rslot: usize, cause: RetryCause, now: Instant) {
        *self
            .summary
            .retries_by_cause
            .entry(cause.to_string())
            .or_insert(0) += 1;
        let host = self.reqs[rslot].host;
        self.admission.release(host, now);
        let n = self.reqs[rslot].retries.len() as u32;
        let full = self
            .config
            .retry_backoff
            .saturating_mul(1u32 << n.min(16))
            .min(self.config.retry_backoff_max);
        // "Equal jitter": half fixed, half random, so retries of many
        // requests do not arrive in lockstep.
        let wait = full / 2 + full.mul_f64(self.jitter_fraction() / 2.0);
        let generation = self.reqs[rslot].generation;
        let token = Token {
            slot: rslot,
            generation,
        };
        let timer = self.timers.insert(now + wait, TimerKind::Retry(token));
        let req = &mut self.reqs[rslot];
        req.retries.push(cause);
        req.stage = Stage::Backoff(timer);
        req.conn = None;
    }

    fn jitter_fraction(&mut self) -> f64 {
        // xorshift on a per-run state: spread, not secrecy.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A backoff ended: the request queues again at the head of its origin.
    fn retry_timer(&mut self, token: Token, now: Instant) {
        let Some(req) = self.reqs.get_mut(token.slot) else {
            return;
        };
        if req.generation != token.generation || !matches!(req.stage, Stage::Backoff(_)) {
            return;
        }
        req.stage = Stage::Parked;
        let key = req.url.origin().to_string();
        req.host = self.admission.push_front(&key, token, now);
    }

    /// The request on this connection failed and the connection is closed.
    fn conn_failed(&mut self, cslot: usize, e: Error, now: Instant) {
        let mut conn = self.conns.remove(cslot);
        // Usually closed already by the state machine; closing twice is harmless.
        conn.close(self.poll.registry(), now);
        self.cancel_conn_timer(&conn);
        self.pool.closed(&conn.key);
        let Some(rslot) = conn.request else {
            return;
        };
        let req = &self.reqs[rslot];
        // A reused connection that failed before any byte of the response:
        // the server most likely closed it while idle. Try once more on a
        // fresh one (idempotent methods only).
        if req.reused
            && !req.retried_fresh
            && !conn.got_response_bytes
            && req.method.is_idempotent()
            && matches!(e.phase, Phase::Send | Phase::Head)
        {
            let req = &mut self.reqs[rslot];
            req.retried_fresh = true;
            req.conn = None;
            self.dispatch(rslot, true, now);
            return;
        }
        if is_retryable_error(&e) && self.may_retry(rslot) {
            self.retry(rslot, RetryCause::Error(e.phase, e.kind), now);
            return;
        }
        self.finish(rslot, Err(e), now);
    }

    /// Closes a busy connection that is done with its request.
    fn drop_conn_busy(&mut self, cslot: usize, now: Instant) {
        let mut conn = self.conns.remove(cslot);
        conn.close(self.poll.registry(), now);
        self.cancel_conn_timer(&conn);
        self.pool.closed(&conn.key);
    }

    /// Closes a connection the pool already forgot (evicted or expired).
    fn drop_conn(&mut self, cslot: usize, now: Instant) {
        let mut conn = self.conns.remove(cslot);
        conn.close(self.poll.registry(), now);
        self.cancel_conn_timer(&conn);
    }

    fn cancel_conn_timer(&mut self, conn: &Conn) {
        if let Some((id, _)) = conn.timer_at {
            self.timers.cancel(id);
        }
    }

    /// Makes sure a timer fires no later than the connection's deadline.
    /// Deadlines that move later (the body idle timeout, on every read) do
    /// not touch the heap: the early timer fires, sees the later deadline,
    /// and re-arms once.
    fn arm_conn_timer(&mut self, cslot: usize, _now: Instant) {
        let conn = &mut self.conns[cslot];
        let Some(deadline) = conn.deadline(&self.timeouts) else {
            return;
        };
        match conn.timer_at {
            Some((_, at)) if at <= deadline => {}
            other => {
                if let Some((id, _)) = other {
                    self.timers.cancel(id);
                }
                let token = Token {
                    slot: cslot,
                    generation: conn.generation,
                };
                let id = self.timers.insert(deadline, TimerKind::Conn(token));
                conn.timer_at = Some((id, deadline));
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(kind) = self.timers.pop_expired(now) {
            match kind {
                TimerKind::Conn(token) => self.conn_timer(token, now),
                TimerKind::Request(token) => self.request_timer(token, now),
                TimerKind::Retry(token) => self.retry_timer(token, now),
            }
        }
        while let Some(token) = self.pool.poll_expired(now) {
            self.drop_conn(token.slot, now);
        }
    }

    fn conn_timer(&mut self, token: Token, now: Instant) {
        let Some(conn) = self.conns.get_mut(token.slot) else {
            return;
        };
        if conn.generation != token.generation {
            return;
        }
        conn.timer_at = None;
        match conn.deadline(&self.timeouts) {
            None => {}
            Some(d) if d > now => self.arm_conn_timer(token.slot, now),
            Some(_) => {
                let state = conn.state;
                if state == ConnState::Connecting && conn.has_next_address() {
                    let addr = conn.current_address();
                    log::debug!("connect to {addr:?} timed out, trying the next address");
                    match conn.start_connect(self.poll.registry(), token.to_mio(), now) {
                        Ok(()) => self.arm_conn_timer(token.slot, now),
                        Err(e) => {
                            conn.close(self.poll.registry(), now);
                            self.conn_failed(token.slot, e, now);
                        }
                    }
                    return;
                }
                let what = match state {
                    ConnState::Connecting => "connect",
                    ConnState::TlsHandshake => "TLS handshake",
                    ConnState::ReadingBody => "body idle",
                    _ => "response head",
                };
                let e = Error::new(state.phase(), ErrorKind::Timeout, format!("{what} timeout"));
                // Through the failure path: a timeout may be retried.
                self.conn_failed(token.slot, e, now);
            }
        }
    }

    /// The total deadline of a request passed: it covers queueing, every
    /// attempt, backoffs and redirects.
    fn request_timer(&mut self, token: Token, now: Instant) {
        let Some(req) = self.reqs.get(token.slot) else {
            return;
        };
        if req.generation != token.generation {
            return;
        }
        let limit = self.config.total_timeout;
        let stage = req.stage;
        let phase = match (req.stage, req.conn) {
            (Stage::Active, Some(cslot)) => {
                let phase = self.conns[cslot].state.phase();
                self.drop_conn_busy(cslot, now);
                phase
            }
            _ => Phase::Admission,
        };
        let detail = match stage {
            Stage::Parked => format!("total timeout {limit:?} passed while queued"),
            Stage::Backoff(_) => format!("total timeout {limit:?} passed before a retry"),
            Stage::Active => format!("total timeout {limit:?} passed"),
        };
        let e = Error::new(phase, ErrorKind::Deadline, detail);
        self.finish(token.slot, Err(e), now);
    }

    /// Ends a request wherever it is: frees what its stage holds, and
    /// builds its outcome. Every path to an outcome passes here once.
    fn finish(&mut self, rslot: usize, result: Result<Response, Error>, now: Instant) {
        let req = self.reqs.remove(rslot);
        self.timers.cancel(req.timer);
        let token = Token {
            slot: rslot,
            generation: req.generation,
        };
        match req.stage {
            Stage::Active => self.admission.release(req.host, now),
            Stage::Parked => {
                self.admission.remove_parked(req.host, &token, now);
            }
            Stage::Backoff(timer) => {
                self.timers.cancel(timer);
            }
        }
        let started = req.started_at.unwrap_or(now);
        let timings = Timings {
            queued: started.saturating_duration_since(req.pulled_at),
            dns: if req.reused { None } else { req.dns_time },
            connect: if req.reused { None } else { req.connect_time },
            ttfb: req.ttfb,
            total: now.saturating_duration_since(started),
        };
        let url = match req.original {
            Some(original) => original,
            None => req.url.into_string(),
        };
        self.ready.push(Outcome {
            id: req.id,
            url,
            attempts: req.attempts,
            retries: req.retries,
            redirects: req.redirects,
            reused: req.reused,
            timings,
            result,
        });
    }

    fn cancel_parked(&mut self, now: Instant) {
        // Parked requests, and those waiting for a retry, never start again.
        // (`finish` of a drained request finds nothing left to remove.)
        for token in self.admission.drain_parked() {
            let e = Error::new(Phase::Admission, ErrorKind::Cancelled, "crawl stopped");
            self.finish(token.slot, Err(e), now);
        }
        let waiting: Vec<usize> = self
            .reqs
            .iter()
            .filter(|(_, r)| matches!(r.stage, Stage::Backoff(_)))
            .map(|(i, _)| i)
            .collect();
        for slot in waiting {
            let e = Error::new(
                Phase::Admission,
                ErrorKind::Cancelled,
                "crawl stopped before a retry",
            );
            self.finish(slot, Err(e), now);
        }
    }

    /// Hands finished outcomes to the callback, timing it.
    fn deliver<F: FnMut(&Outcome)>(&mut self, on_outcome: &mut F) {
        let mut i = 0;
        while i < self.ready.len() {
            let mut outcome = std::mem::replace(&mut self.ready[i], placeholder());
            i += 1;
            self.summary.record(&outcome);
            let t0 = Instant::now();
            on_outcome(&outcome);
            let took = t0.elapsed();
            if self
                .stats
                .record_callback(&outcome.url, took, self.config.stall_threshold)
            {
                log::warn!(
                    "the callback for {} held the loop for {:?}",
                    outcome.url,
                    took
                );
            }
            if let Ok(resp) = &mut outcome.result {
                if self.spare_responses.len() < self.config.concurrency {
                    self.spare_responses.push(std::mem::take(resp));
                }
            }
            // A stop from inside the callback takes effect at once: the
            // cancelled outcomes join the list being delivered.
            self.check_stop(Instant::now());
        }
        self.ready.clear();
    }
}

/// Failures worth another attempt: the server or network may do better next
/// time. Certificate, protocol and size errors will not change; `deadline`
/// is the caller's own limit.
fn is_retryable_error(e: &Error) -> bool {
    match e.phase {
        Phase::Dns => e.kind == ErrorKind::Timeout,
        Phase::Url | Phase::Admission | Phase::Redirect => false,
        _ => matches!(
            e.kind,
            ErrorKind::Refused | ErrorKind::Reset | ErrorKind::Timeout | ErrorKind::UnexpectedEof
        ),
    }
}

fn placeholder() -> Outcome {
    Outcome {
        id: 0,
        url: String::new(),
        attempts: 0,
        retries: Vec::new(),
        redirects: Vec::new(),
        reused: false,
        timings: Timings::default(),
        result: Err(Error::new(Phase::Admission, ErrorKind::Cancelled, "")),
    }
}
