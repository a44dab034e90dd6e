//! The connection table: every open connection (a slab of [`Conn`] state
//! machines), the keep-alive [`Pool`], the requests waiting for a file
//! descriptor, the loop-wide read buffer, and the one place that builds the
//! [`MioNet`] a connection moves bytes through. With the DNS driver, it is
//! the only code that touches sockets.
//!
//! It owns the link between requests and connections: which connection
//! carries which request, both ways ([`Connections::attach`] and
//! `detach` keep the two directions in step, nothing else writes them).
//!
//! Usage contract (the driver's side):
//! - **inputs** — [`dispatch`](Connections::dispatch) a request (pooled or
//!   new connection); [`handle_ready`](Connections::handle_ready) on a
//!   readiness event; [`handle_resolved`](Connections::handle_resolved) when
//!   DNS answers a connection's lookup; [`handle_timeout`](Connections::handle_timeout)
//!   at [`poll_timeout`](Connections::poll_timeout);
//!   [`abandon`](Connections::abandon) a request the request core ended.
//! - **outputs** — [`poll_output`](Connections::poll_output), the one
//!   queue: a response, a failure (the connection is closed), a name to
//!   resolve, or a request that waited (for its origin's connect ramp or a
//!   file descriptor, the [`Dialer`]'s two reasons) and may be dispatched
//!   again.

mod close;
mod dial;
mod headers;
mod open;
mod route;
mod shared;
mod slot;

use slot::ConnSlot;

use crate::config::Config;
use crate::conn::net::MioNet;
use crate::conn::{Conn, ConnEvent, ConnState, PhaseTimeouts};
use crate::dialer::{Dial, Dialer, DialerConfig, DialerStats};
use crate::dns::Resolver;
use crate::error::{Error, ErrorKind, Phase};
use crate::events::{CloseReason, Emitter, EventKind};
use crate::http::{Method, Response};
use crate::outcome::AttemptReport;
use crate::pool::{Checkout, Gone, Pool, PoolConfig, PoolStats};
use crate::reactor::{Timers, Token};
use crate::summary::Histogram;
use crate::url::Url;
use mio::net::TcpStream;
use mio::Registry;
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// The loop-wide read buffer's size: one read takes at most this much.
const READ_BUFFER: usize = 64 * 1024;

/// No connection carries this request (in `by_request`).
const NONE: usize = usize::MAX;

/// What a request needs of a connection.
pub(crate) struct Dispatch<'r> {
    /// The request's id (events name requests by it).
    pub id: u64,
    pub url: &'r Url,
    pub method: Method,
    /// Store the body (else only count it).
    pub keep_body: bool,
    /// Keep only this much of the body, and end the response there.
    pub truncate_at: Option<u64>,
    /// This request's body limit (`None`: the crawl's).
    pub max_body: Option<u64>,
    /// This request's own header fields (after the template's) and body.
    pub headers: &'r [(String, String)],
    pub body: Option<&'r [u8]>,
    /// Only a new connection will do: a retry after a pooled connection
    /// failed it (the other idle ones are suspect too).
    pub fresh_only: bool,
    /// Over HTTP/1.1 only: not on a shared HTTP/2 connection, and a new
    /// connection offers only `http/1.1` (after a `421` over HTTP/2).
    pub http1_only: bool,
}

/// What the table tells the driver.
pub(crate) enum Output {
    /// The request's response is complete (its connection is pooled or
    /// closed).
    Response {
        req: Token,
        resp: Response,
        report: AttemptReport,
    },
    /// The request's attempt failed; its connection is closed.
    Failed {
        req: Token,
        error: Error,
        report: AttemptReport,
    },
    /// The connection needs `host`'s addresses: answer with
    /// [`Connections::handle_resolved`].
    Resolve { conn: Token, host: Box<str> },
    /// The request waited for a connection and may go now: dispatch it
    /// again (with `fresh_only`).
    Dial { req: Token, fresh_only: bool },
}

/// Counters for the summary.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnStats {
    pub tls_full: u64,
    pub tls_resumed: u64,
    pub tls_handshake: Histogram,
    /// Connections whose server chose HTTP/2.
    pub h2_connections: u64,
}

/// The connection table. See the [module docs](self).
pub(crate) struct Connections<'a> {
    config: &'a Config,
    resolver: &'a Resolver,
    tls: &'a Arc<rustls::ClientConfig>,
    /// `tls` offering only `http/1.1` (the same when it offers no `h2`).
    tls_http1: Arc<rustls::ClientConfig>,
    registry: &'a Registry,
    slots: Slab<ConnSlot>,
    /// Request slot → the connection slot carrying it (or `NONE`).
    by_request: Vec<usize>,
    /// Origin → its HTTP/2 connections, oldest first: new requests open
    /// streams on the first with room (more than one only while the
    /// server's MAX_CONCURRENT_STREAMS is below `per_host`).
    shared: HashMap<Box<str>, Vec<usize>>,
    generation: u32,
    next_conn_id: u64,
    pool: Pool<Token>,
    /// Whether a request with no idle connection may open one, or waits
    /// (requests and connections both by token).
    dialer: Dialer<Token, Token>,
    timers: Timers<Token>,
    /// Every connection reads into it and parses from it; a connection keeps
    /// only the bytes of an incomplete head.
    scratch: Box<[u8]>,
    outputs: VecDeque<Output>,
    /// HTTP/2 connections with new streams not yet written: driven once
    /// when the caller runs out of other work (`flush_streams`), so the
    /// HEADERS of every stream opened meanwhile share one write.
    deferred: Vec<Token>,
    /// Emptied responses, for the next requests (no allocation per request).
    spare: Vec<Response>,
    addr_buf: Vec<IpAddr>,
    observed: bool,
    timeouts: PhaseTimeouts,
    stats: ConnStats,
}

impl<'a> Connections<'a> {
    pub fn new(
        config: &'a Config,
        resolver: &'a Resolver,
        tls: &'a Arc<rustls::ClientConfig>,
        registry: &'a Registry,
        observed: bool,
    ) -> Self {
        let per_host = config.per_host.min(config.concurrency);
        let tls_http1 = if tls.alpn_protocols.iter().any(|p| p == b"h2") {
            let mut http1 = (**tls).clone();
            http1.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(http1)
        } else {
            tls.clone()
        };
        Connections {
            config,
            resolver,
            tls,
            tls_http1,
            registry,
            // Room grows with use: a limit of a million costs nothing up front.
            slots: Slab::with_capacity(config.concurrency.min(1024)),
            by_request: Vec::new(),
            shared: HashMap::new(),
            generation: 0,
            next_conn_id: 0,
            pool: Pool::new(PoolConfig {
                max_total: config.connections.max_total.max(config.concurrency),
                max_per_key: config.connections.max_per_host.max(per_host),
                idle_timeout: config.connections.idle_timeout,
            }),
            dialer: Dialer::new(DialerConfig {
                max_connecting: config.connections.max_connecting_per_host,
                slow_connect: config.timeouts.happy_eyeballs,
            }),
            timers: Timers::new(),
            scratch: vec![0; READ_BUFFER].into_boxed_slice(),
            outputs: VecDeque::new(),
            deferred: Vec::new(),
            spare: Vec::new(),
            addr_buf: Vec::new(),
            observed,
            timeouts: PhaseTimeouts {
                connect: config.timeouts.connect,
                tls_handshake: config.timeouts.tls_handshake,
                head: config.timeouts.head,
                body_idle: config.timeouts.body_idle,
                idle: config.connections.idle_timeout,
            },
            stats: ConnStats::default(),
        }
    }

    /// The next thing the driver must act on: what the connections did
    /// first, then a waiting request the dialer lets go (asked last, so it
    /// sees every connection those outputs closed or pooled).
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(output) = self.outputs.pop_front() {
            return Some(output);
        }
        let (req, fresh_only) = self.dialer.poll_dial(&self.pool)?;
        Some(Output::Dial { req, fresh_only })
    }

    /// The earliest deadline: a connection's phase, an idle connection's
    /// expiry.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [self.timers.poll_timeout(), self.pool.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The pool's, the dialer's and the table's counters.
    pub fn stats(&self) -> (PoolStats, DialerStats, ConnStats) {
        (self.pool.stats(), self.dialer.stats(), self.stats.clone())
    }

    /// Keeps an emptied response for a later request.
    pub fn recycle(&mut self, mut resp: Response) {
        if self.spare.len() < self.config.concurrency {
            resp.recycle();
            self.spare.push(resp);
        }
    }

    // ---- the link between requests and connections ----

    /// Connection `cslot` now carries request `req` (an attempt starts).
    fn attach(&mut self, cslot: usize, req: Token, id: u64, reused: bool, now: Instant) {
        self.set_carrier(req, cslot);
        let slot = &mut self.slots[cslot];
        slot.carrying = Some((req, id));
        slot.attached_at = now;
        slot.reused = reused;
    }

    /// Request `req` is carried by connection `cslot` (the one place
    /// `by_request` grows).
    fn set_carrier(&mut self, req: Token, cslot: usize) {
        if self.by_request.len() <= req.slot {
            self.by_request.resize(req.slot + 1, NONE);
        }
        self.by_request[req.slot] = cslot;
    }

    /// Connection `cslot` carries nothing any more; returns what it carried.
    fn detach(&mut self, cslot: usize) -> Option<Token> {
        let (req, _) = self.slots[cslot].carrying.take()?;
        self.by_request[req.slot] = NONE;
        Some(req)
    }

    /// The connection carrying request `req`, if any.
    fn carrier(&self, req: Token) -> Option<usize> {
        let cslot = *self.by_request.get(req.slot)?;
        let slot = self.slots.get(cslot)?;
        let carried =
            slot.carrying.map(|(t, _)| t) == Some(req) || slot.streams.iter().any(|l| l.req == req);
        carried.then_some(cslot)
    }

    /// What the current attempt on `cslot` measured so far.
    fn report(&self, cslot: usize) -> AttemptReport {
        let s = &self.slots[cslot];
        AttemptReport {
            reused: s.reused,
            dns: s.dns,
            connect: s.connect,
            ttfb: s
                .conn
                .first_byte_at()
                .map(|t| t.saturating_duration_since(s.attached_at)),
            got_response_bytes: s.conn.got_response_bytes(),
            multiplexed: false,
        }
    }

    // ---- starting an exchange ----

    /// Finds a connection for an admitted request and sends it: a pooled
    /// one if the pool has one (unless `fresh_only`); else, if the dialer
    /// says so, a new one (only then counted by the pool); else the request
    /// waits in the dialer and comes back out of `poll_output`.
    pub fn dispatch(&mut self, req: Token, ex: Dispatch<'_>, now: Instant, ev: &mut Emitter<'_>) {
        let key = ex.url.origin();
        if !ex.fresh_only {
            if let Some(cslot) = self.shared_with_room(key).filter(|_| !ex.http1_only) {
                return self.add_stream(cslot, req, ex, now, ev);
            }
            if let Some(ct) = self.pool.checkout_idle(key) {
                return self.reuse(ct.slot, req, ex, now, ev);
            }
        }
        if let Dial::Wait { connecting } = self.dialer.ask(key, req, ex.fresh_only) {
            emit!(
                ev,
                EventKind::ConnectWait {
                    req: ex.id,
                    connecting
                }
            );
            return;
        }
        let checkout = |pool: &mut Pool<Token>| match ex.fresh_only {
            true => pool.checkout_fresh(key),
            false => pool.checkout(key),
        };
        let mut got = checkout(&mut self.pool);
        if got == Checkout::Full {
            // The pool's idle connections are all gone; an idle HTTP/2 one
            // (not in the pool's idle list) makes room instead.
            if let Some(idle) = self.idlest_shared() {
                self.pool
                    .handle_gone(self.slots[idle].conn.key(), Gone::Evicted);
                self.drop_conn(idle, CloseReason::Evicted, now, ev);
                got = checkout(&mut self.pool);
            }
        }
        match got {
            // (Not after `checkout_idle` found none.)
            Checkout::Reuse(ct) => self.reuse(ct.slot, req, ex, now, ev),
            Checkout::Open => self.open(req, ex, now, ev),
            Checkout::OpenAfterEvict(old) => {
                self.drop_conn(old.slot, CloseReason::Evicted, now, ev);
                self.open(req, ex, now, ev);
            }
            Checkout::Full => {
                // Unreachable through the admission limits (see pool docs);
                // fail loudly rather than hang.
                let error = Error::new(Phase::Admission, ErrorKind::Io, "connection pool full");
                self.outputs.push_back(Output::Failed {
                    req,
                    error,
                    report: AttemptReport::default(),
                });
            }
        }
    }

    /// Sends request `req` on idle connection `cslot`.
    fn reuse(
        &mut self,
        cslot: usize,
        req: Token,
        ex: Dispatch<'_>,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        let conn = self.slots[cslot].conn.id();
        emit!(ev, EventKind::ConnReused { conn, req: ex.id });
        self.attach(cslot, req, ex.id, true, now);
        self.prepare(cslot, &ex, now, ev);
        self.drive(cslot, now, ev);
    }

    /// DNS answered connection `conn`'s lookup.
    pub fn handle_resolved(
        &mut self,
        conn: Token,
        result: Result<Vec<IpAddr>, Error>,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        let cslot = conn.slot;
        match self.slots.get_mut(cslot) {
            Some(s)
                if s.generation == conn.generation && s.conn.state() == ConnState::Resolving =>
            {
                s.dns = s.dns_started.map(|t| now.saturating_duration_since(t));
            }
            _ => return, // the connection is gone (its request timed out)
        }
        let id = self.slots[cslot].conn.id();
        let addresses = result.as_ref().map_or(0, |ips| ips.len());
        emit!(
            ev,
            EventKind::DnsAnswer {
                conn: id,
                addresses
            }
        );
        match result {
            Ok(mut ips) => {
                let slot = &mut self.slots[cslot];
                let origin_addrs = !slot.via_proxy || slot.socks_local.is_some();
                if origin_addrs && self.config.public_only {
                    // After DNS: a name answering a private address (DNS
                    // rebinding) is refused like a literal one.
                    if let Err(e) = crate::public::keep_public(&mut ips) {
                        return self.conn_failed(cslot, e, now, ev);
                    }
                }
                let slot = &mut self.slots[cslot];
                let socks = slot.socks_local.take();
                let (addrs, handshake) = route::addresses(&ips, slot.port, socks);
                if let Some(handshake) = handshake {
                    handshake.set_on(&mut slot.conn);
                }
                slot.conn.set_addresses(addrs, now);
                self.drain_transitions(cslot, ev);
                self.connect(cslot, now, ev);
            }
            Err(e) => self.conn_failed(cslot, e, now, ev),
        }
    }

    /// Starts the TCP connect of a connection that has its addresses.
    fn connect(&mut self, cslot: usize, now: Instant, ev: &mut Emitter<'_>) {
        let started = self.with_net(cslot, |conn, net| conn.start_connect(net, now));
        self.drain_transitions(cslot, ev);
        match started {
            Ok(()) => self.arm_timer(cslot),
            Err(e) => self.conn_failed(cslot, e, now, ev),
        }
    }

    /// Runs `f` on connection `cslot` with its transport: the one place a
    /// [`MioNet`] is built.
    fn with_net<R>(
        &mut self,
        cslot: usize,
        f: impl FnOnce(&mut Conn<TcpStream>, &mut MioNet<'_>) -> R,
    ) -> R {
        let slot = &mut self.slots[cslot];
        let mut net = MioNet {
            registry: self.registry,
            token: slot.token(cslot).to_mio(),
            scratch: &mut self.scratch,
        };
        f(&mut slot.conn, &mut net)
    }

    // ---- driving ----

    /// A readiness event for a connection's token.
    pub fn handle_ready(&mut self, token: Token, now: Instant, ev: &mut Emitter<'_>) {
        match self.slots.get(token.slot) {
            // Slots are reused: an event from this same `Events` batch may
            // name a connection that was closed and replaced meanwhile. The
            // generation tells them apart.
            Some(c) if c.generation == token.generation => self.drive(token.slot, now, ev),
            _ => {} // a stale event for a connection that is gone
        }
    }

    /// Runs a connection's state machine as far as it goes.
    fn drive(&mut self, cslot: usize, now: Instant, ev: &mut Emitter<'_>) {
        loop {
            let event = self.with_net(cslot, |conn, net| conn.drive(net, now));
            if !self.on_conn_event(cslot, event, now, ev) {
                return;
            }
        }
    }

    /// Acts on what a connection reported. True when it should be driven
    /// again at once (it moved to a state with work to do).
    fn on_conn_event(
        &mut self,
        cslot: usize,
        event: ConnEvent,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) -> bool {
        self.drain_transitions(cslot, ev);
        match event {
            ConnEvent::Pending => {
                self.arm_timer(cslot);
                false
            }
            ConnEvent::Connected => {
                let s = &mut self.slots[cslot];
                s.connect = Some(now.saturating_duration_since(s.attached_at));
                // A protocol probe stays "connecting" through its handshake.
                if !s.probing {
                    self.connected(cslot);
                }
                true // send the request (or open the tunnel)
            }
            ConnEvent::Tunneled => true, // TLS with the origin, inside
            ConnEvent::TlsEstablished { took, resumed } => {
                let conn = self.slots[cslot].conn.id();
                emit!(
                    ev,
                    EventKind::TlsDone {
                        conn,
                        resumed,
                        took
                    }
                );
                if resumed {
                    self.stats.tls_resumed += 1;
                } else {
                    self.stats.tls_full += 1;
                }
                self.stats.tls_handshake.record(took);
                self.connected(cslot);
                if self.slots[cslot].conn.is_multiplexed() {
                    self.stats.h2_connections += 1;
                    self.became_shared(cslot, ev);
                }
                true // send the request
            }
            ConnEvent::Done => {
                self.response_done(cslot, now, ev);
                false
            }
            ConnEvent::Streams => {
                self.streams_ended(cslot, ev);
                if self.spent(cslot) {
                    self.drop_busy_conn(cslot, CloseReason::Done, now, ev);
                    return false;
                }
                self.arm_timer(cslot);
                false
            }
            // A shared connection's failure ends every stream on it.
            ConnEvent::Failed(e) if self.slots[cslot].carrying.is_none() => {
                let reason = CloseReason::Failed;
                self.shared_closed(cslot, Some(e), reason, now, ev);
                false
            }
            ConnEvent::Failed(e) => {
                self.conn_failed(cslot, e, now, ev);
                false
            }
            // An idle HTTP/2 connection (the pool counts it as busy).
            ConnEvent::IdleClosed if self.slots[cslot].conn.is_multiplexed() => {
                self.idle_shared_gone(cslot, Gone::ClosedByPeer, now, ev);
                false
            }
            ConnEvent::IdleExpired => {
                self.idle_shared_gone(cslot, Gone::Expired, now, ev);
                false
            }
            ConnEvent::IdleClosed => {
                let token = self.slots[cslot].token(cslot);
                self.pool
                    .handle_idle_closed(self.slots[cslot].conn.key(), token);
                self.drop_conn(cslot, CloseReason::ServerClosed, now, ev);
                false
            }
        }
    }

    /// A complete response: the connection goes back to the pool (or is
    /// closed), and the response goes to the driver.
    fn response_done(&mut self, cslot: usize, now: Instant, ev: &mut Emitter<'_>) {
        let report = self.report(cslot);
        let carried = self.slots[cslot].carrying;
        let Some(req) = self.detach(cslot) else {
            return;
        };
        let slot = &mut self.slots[cslot];
        // An empty response takes its place (no allocation); a recycled one
        // replaces it when the next request is prepared.
        let mut resp = Response::default();
        slot.conn.swap_response(&mut resp);
        if let Some(w) = &mut resp.wire {
            w.request.extend_from_slice(slot.conn.sent_request());
            let direct = !slot.via_proxy;
            w.peer = slot
                .conn
                .stream()
                .filter(|_| direct)
                .and_then(|s| s.peer_addr().ok())
                .map(|a| a.ip());
        }
        // A 407 through an HTTP proxy is the proxy's answer, not the
        // site's: a `proxy` error as through a tunnel (it was a page's
        // status, missing from the errors).
        let proxy_refused = slot.proxied_http.is_some() && resp.status == 407;
        let max = self.config.connections.max_requests;
        let keep =
            !proxy_refused && slot.conn.reusable() && (max == 0 || slot.conn.served() + 1 < max);
        if keep {
            slot.conn.make_idle(now);
            let token = slot.token(cslot);
            self.pool.handle_checkin(slot.conn.key(), token, now);
            // The request is no longer the connection's, but it is what
            // this transition finished.
            self.drain_transitions_of(cslot, carried.map(|(_, id)| id), ev);
            self.offer_idle(cslot, now, ev);
        } else {
            self.drop_busy_conn(cslot, CloseReason::Done, now, ev);
        }
        if proxy_refused {
            let error = Error::new(
                Phase::Proxy,
                ErrorKind::ProxyAuth,
                "the proxy wants (other) credentials: 407",
            );
            self.outputs
                .push_back(Output::Failed { req, error, report });
            return;
        }
        self.outputs
            .push_back(Output::Response { req, resp, report });
    }

    /// The request on this connection failed and the connection is closed.
    fn conn_failed(&mut self, cslot: usize, mut error: Error, now: Instant, ev: &mut Emitter<'_>) {
        if self.slots[cslot].via_proxy && error.phase == Phase::Connect {
            // The proxy could not be reached: say so.
            error.phase = Phase::Proxy;
        }
        if error.kind == ErrorKind::NoDescriptors {
            return self.out_of_descriptors(cslot, error, now, ev);
        }
        let report = self.report(cslot);
        if let Some(req) = self.drop_busy_conn(cslot, CloseReason::Failed, now, ev) {
            self.outputs
                .push_back(Output::Failed { req, error, report });
        }
    }

    /// The request core ended request `req` while active: its connection, if
    /// it has one, is closed. Returns the phase that connection was in and
    /// what the attempt measured.
    pub fn abandon(
        &mut self,
        req: Token,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) -> Option<(Phase, AttemptReport)> {
        let Some(cslot) = self.carrier(req) else {
            // Waiting for a connect or a descriptor: it waits no more.
            self.dialer.cancel(req);
            return None;
        };
        if let Some(link) = self.stream_of(cslot, req) {
            return Some(self.abandon_stream(cslot, link, now, ev));
        }
        let phase = self.slots[cslot].conn.state().phase();
        let report = self.report(cslot);
        self.drop_busy_conn(cslot, CloseReason::Aborted, now, ev);
        Some((phase, report))
    }

    // ---- timers ----

    /// Time passed: connection phases that may have timed out, idle pooled
    /// connections that expired.
    pub fn handle_timeout(&mut self, now: Instant, ev: &mut Emitter<'_>) {
        while let Some(token) = self.timers.poll_expired(now) {
            self.conn_timer(token, now, ev);
        }
        while let Some(token) = self.pool.poll_expired(now) {
            self.drop_conn(token.slot, CloseReason::IdleExpired, now, ev);
        }
    }

    /// Makes sure a timer fires no later than the connection's deadline.
    /// Deadlines that move later (the body idle timeout, on every read) do
    /// not touch the heap: the early timer fires, sees the later deadline,
    /// and re-arms once.
    fn arm_timer(&mut self, cslot: usize) {
        let slot = &mut self.slots[cslot];
        let Some(deadline) = slot.conn.poll_timeout(&self.timeouts) else {
            return;
        };
        match slot.timer_at {
            Some((_, at)) if at <= deadline => {}
            other => {
                if let Some((id, _)) = other {
                    self.timers.cancel(id);
                }
                let token = slot.token(cslot);
                let id = self.timers.insert(deadline, token);
                slot.timer_at = Some((id, deadline));
            }
        }
    }

    fn conn_timer(&mut self, token: Token, now: Instant, ev: &mut Emitter<'_>) {
        let Some(slot) = self.slots.get_mut(token.slot) else {
            return;
        };
        // The slot was freed and reused since the timer was set: not ours.
        if slot.generation != token.generation {
            return;
        }
        slot.timer_at = None;
        let timeouts = self.timeouts;
        let event = self.with_net(token.slot, |conn, net| {
            conn.handle_timeout(net, &timeouts, now)
        });
        // `Pending`: the deadline moved later, or the next address is being
        // tried; `Failed`: a typed timeout, through the failure path (it may
        // be retried).
        self.on_conn_event(token.slot, event, now, ev);
    }
}
