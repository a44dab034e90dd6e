//! The driver's connection side: find or open a connection for a request,
//! wire DNS answers to it, drive its state machine on readiness, and act on
//! what it reports (connected, TLS done, response done, failed, closed while
//! idle).

use super::request::Stage;
use super::Run;
use crate::conn::net::MioNet;
use crate::conn::{Conn, ConnEvent, ConnOptions, ConnState};
use crate::dns::LookupResult;
use crate::error::{Error, ErrorKind, Phase};
use crate::events::EventKind;
use crate::http::{encode_request, Method};
use crate::outcome::RetryCause;
use crate::policy::{judge_error, Attempt, ErrorVerdict};
use crate::pool::Checkout;
use crate::reactor::{TimerId, Token};
use mio::net::TcpStream;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// A connection and what the driver keeps beside it.
pub(super) struct ConnSlot {
    pub conn: Conn<TcpStream>,
    /// The generation this slot's occupant was born with: events and timers
    /// carrying another generation are for an earlier occupant (see
    /// [`Token`]).
    pub generation: u32,
    /// The request (slab slot) this connection carries, if any.
    pub request: Option<usize>,
    /// A timer is armed for this instant (re-armed lazily, see
    /// `arm_conn_timer`).
    pub timer_at: Option<(TimerId, Instant)>,
}

impl ConnSlot {
    pub fn token(&self, cslot: usize) -> Token {
        Token {
            slot: cslot,
            generation: self.generation,
        }
    }
}

impl Run<'_> {
    /// Finds a connection for an admitted request and sends it: a pooled
    /// one if the pool has one (unless `fresh_only`), else a new one.
    pub(super) fn dispatch(&mut self, rslot: usize, fresh_only: bool, now: Instant) {
        let req = &mut self.reqs[rslot];
        req.attempts += 1;
        req.attempt_started = Some(now);
        req.ttfb = None;
        // Borrow the origin key: no allocation unless a connection is opened.
        let key = self.reqs[rslot].url.origin();
        let checkout = if fresh_only {
            self.pool.checkout_fresh(key)
        } else {
            self.pool.checkout(key)
        };
        match checkout {
            Checkout::Reuse(ct) => {
                let (conn, req) = (self.conns[ct.slot].conn.id(), self.reqs[rslot].id);
                emit!(self, now, EventKind::ConnReused { conn, req });
                self.reqs[rslot].reused = true;
                self.reqs[rslot].conn = Some(ct.slot);
                self.prepare_request(ct.slot, rslot, now);
                self.drive(ct.slot, now);
            }
            Checkout::Open => {
                let key = key.to_string();
                self.open_conn(rslot, key, now)
            }
            Checkout::OpenAfterEvict(old) => {
                let key = key.to_string();
                self.drop_conn(old.slot, "evicted", now);
                self.open_conn(rslot, key, now);
            }
            Checkout::Full => {
                // Unreachable through the admission limits (see pool docs);
                // fail loudly rather than hang.
                let e = Error::new(Phase::Admission, ErrorKind::Io, "connection pool full");
                self.finish(rslot, Err(e), now);
            }
        }
    }

    /// Opens a connection for request `rslot`: addresses from the static
    /// sources at once, or through DNS (the connection starts `Resolving`).
    fn open_conn(&mut self, rslot: usize, key: String, now: Instant) {
        let url = &self.reqs[rslot].url;
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
                        self.finish(rslot, Err(e), now);
                        return;
                    }
                }
            }
        };
        // Static sources first (overrides, IP literals, /etc/hosts,
        // localhost): no waiting.
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
        let options = ConnOptions {
            limits: self.config.limits,
            observed: self.observer.is_some(),
        };
        let mut conn = Conn::new(id, key.into_boxed_str(), addrs, tls, options, now);
        if !known {
            conn.set_resolving();
        }
        let cslot = self.conns.insert(ConnSlot {
            conn,
            generation,
            request: Some(rslot),
            timer_at: None,
        });
        let req = &mut self.reqs[rslot];
        emit!(
            self,
            now,
            EventKind::ConnOpened {
                conn: id,
                origin: self.conns[cslot].conn.key(),
                req: req.id,
                state: self.conns[cslot].conn.state(),
            }
        );
        req.reused = false;
        req.conn = Some(cslot);
        req.dns_started = (!known).then_some(now);
        req.dns_time = None;
        req.connect_time = None;
        self.prepare_request(cslot, rslot, now);
        if known {
            self.connect_conn(cslot, now);
            return;
        }
        let token = self.conns[cslot].token(cslot);
        let host = self.reqs[rslot].url.host_bare().to_string();
        emit!(
            self,
            now,
            EventKind::DnsLookup {
                conn: id,
                name: &host
            }
        );
        match self.dns.core.lookup(&host, token, now) {
            LookupResult::Ready(result) => self.conn_resolved(cslot, result, now),
            LookupResult::Pending => self.dns.flush(self.poll.registry()),
        }
    }

    /// Starts the TCP connect of a connection that has its addresses.
    fn connect_conn(&mut self, cslot: usize, now: Instant) {
        let slot = &mut self.conns[cslot];
        let mut net = MioNet {
            registry: self.poll.registry(),
            token: slot.token(cslot).to_mio(),
            scratch: &mut self.scratch,
        };
        match slot.conn.start_connect(&mut net, now) {
            Ok(()) => self.arm_conn_timer(cslot),
            Err(e) => self.conn_failed(cslot, e, now),
        }
    }

    /// Hands finished DNS lookups to their connections.
    pub(super) fn dns_answers(&mut self, now: Instant) {
        while let Some((token, result)) = self.dns.core.poll_event() {
            match self.conns.get(token.slot) {
                Some(c)
                    if c.generation == token.generation
                        && c.conn.state() == ConnState::Resolving =>
                {
                    self.conn_resolved(token.slot, result, now)
                }
                _ => {} // the connection is gone (its request timed out)
            }
        }
    }

    fn conn_resolved(&mut self, cslot: usize, result: Result<Vec<IpAddr>, Error>, now: Instant) {
        let mut port = 0;
        if let Some(r) = self.conns[cslot].request {
            let req = &mut self.reqs[r];
            req.dns_time = req.dns_started.map(|t| now.saturating_duration_since(t));
            port = req.url.port();
        }
        let conn = self.conns[cslot].conn.id();
        let addresses = result.as_ref().map_or(0, |ips| ips.len());
        emit!(self, now, EventKind::DnsAnswer { conn, addresses });
        match result {
            Ok(ips) => {
                let addrs = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
                self.conns[cslot].conn.set_addresses(addrs, now);
                self.drain_transitions(cslot, now);
                self.connect_conn(cslot, now);
            }
            Err(e) => self.conn_failed(cslot, e, now),
        }
    }

    /// Encodes the request into the connection's request buffer.
    fn prepare_request(&mut self, cslot: usize, rslot: usize, now: Instant) {
        let req = &self.reqs[rslot];
        let t = &self.config.request;
        let slot = &mut self.conns[cslot];
        slot.request = Some(rslot);
        let body: &[u8] = if req.method == Method::Post {
            &t.body
        } else {
            b""
        };
        encode_request(
            slot.conn.request_buffer(),
            req.method,
            &req.url,
            &t.headers,
            body,
            &t.user_agent,
        );
        // A robots.txt body is read to be obeyed, even with --no-body.
        let keep_body = t.keep_body || req.robots_for.is_some();
        slot.conn.begin_request(req.method, keep_body, now);
        if let Some(mut spare) = self.spare_responses.pop() {
            spare.clear();
            slot.conn.swap_response(&mut spare);
        }
        self.drain_transitions(cslot, now);
    }

    /// A readiness event for a connection's token.
    pub(super) fn on_ready(&mut self, token: Token, now: Instant) {
        match self.conns.get(token.slot) {
            // Slots are reused: an event from this same `Events` batch may
            // name a connection that was closed and replaced meanwhile. The
            // generation tells them apart.
            Some(c) if c.generation == token.generation => self.drive(token.slot, now),
            _ => {} // a stale event for a connection that is gone
        }
    }

    /// Runs a connection's state machine as far as it goes.
    fn drive(&mut self, cslot: usize, now: Instant) {
        loop {
            let slot = &mut self.conns[cslot];
            let mut net = MioNet {
                registry: self.poll.registry(),
                token: slot.token(cslot).to_mio(),
                scratch: &mut self.scratch,
            };
            let event = slot.conn.drive(&mut net, now);
            if !self.on_conn_event(cslot, event, now) {
                return;
            }
        }
    }

    /// Acts on what a connection reported. True when it should be driven
    /// again at once (it moved to a state with work to do).
    pub(super) fn on_conn_event(&mut self, cslot: usize, event: ConnEvent, now: Instant) -> bool {
        self.drain_transitions(cslot, now);
        match event {
            ConnEvent::Pending => {
                self.arm_conn_timer(cslot);
                false
            }
            ConnEvent::Connected => {
                if let Some(r) = self.conns[cslot].request {
                    let req = &mut self.reqs[r];
                    let since = req.attempt_started.unwrap_or(now);
                    req.connect_time = Some(now.saturating_duration_since(since));
                }
                true // send the request
            }
            ConnEvent::TlsEstablished { took, resumed } => {
                let conn = self.conns[cslot].conn.id();
                emit!(
                    self,
                    now,
                    EventKind::TlsDone {
                        conn,
                        resumed,
                        took
                    }
                );
                if resumed {
                    self.summary.tls_resumed += 1;
                } else {
                    self.summary.tls_full += 1;
                }
                self.summary.tls_handshake.record(took);
                true // send the request
            }
            ConnEvent::Done => {
                self.response_done(cslot, now);
                false
            }
            ConnEvent::Failed(e) => {
                self.conn_failed(cslot, e, now);
                false
            }
            ConnEvent::IdleClosed => {
                let conn = self.conns[cslot].conn.id();
                emit!(
                    self,
                    now,
                    EventKind::ConnClosed {
                        conn,
                        reason: "server_closed"
                    }
                );
                let token = self.conns[cslot].token(cslot);
                let slot = self.conns.remove(cslot);
                self.pool.remove_idle(slot.conn.key(), token);
                self.cancel_conn_timer(&slot);
                self.fds_freed += 1;
                false
            }
        }
    }

    /// A complete response: the connection goes back to the pool (or is
    /// closed), and the request decides what the response means.
    fn response_done(&mut self, cslot: usize, now: Instant) {
        let slot = &mut self.conns[cslot];
        let Some(rslot) = slot.request.take() else {
            return;
        };
        // An empty response takes its place (no allocation); a recycled one
        // replaces it when the next request is prepared.
        let mut resp = crate::http::Response::default();
        slot.conn.swap_response(&mut resp);
        let first_byte = slot.conn.first_byte_at();
        let max = self.config.connections.max_requests;
        let keep = slot.conn.reusable() && (max == 0 || slot.conn.served() + 1 < max);
        if keep {
            slot.conn.make_idle(now);
            let token = slot.token(cslot);
            self.pool.checkin(slot.conn.key(), token, now);
            // The request is no longer the connection's, but it is what
            // this transition finished.
            let req = self.reqs.get(rslot).map(|r| r.id);
            self.drain_transitions_of(cslot, req, now);
        } else {
            self.drop_busy_conn(cslot, "done", now);
        }
        let req = &mut self.reqs[rslot];
        req.conn = None;
        if let (Some(t), Some(s)) = (first_byte, req.attempt_started) {
            req.ttfb = Some(t.saturating_duration_since(s));
        }
        self.on_response(rslot, resp, now);
    }

    /// The request on this connection failed and the connection is closed.
    pub(super) fn conn_failed(&mut self, cslot: usize, e: Error, now: Instant) {
        let got_response_bytes = self.conns[cslot].conn.got_response_bytes();
        if e.kind == ErrorKind::NoDescriptors {
            return self.out_of_descriptors(cslot, e, now);
        }
        let Some(rslot) = self.drop_busy_conn(cslot, "failed", now) else {
            return;
        };
        let req = &mut self.reqs[rslot];
        req.conn = None;
        let attempt = Attempt {
            method: req.method,
            retries: req.backoff_retries,
            reused: req.reused,
            retried_fresh: req.retried_fresh,
            got_response_bytes,
        };
        match judge_error(&e, &attempt, &self.config.retry) {
            ErrorVerdict::RetryFresh => {
                // Not a backoff retry (no budget spent), but an attempt with
                // a cause like any other.
                req.retried_fresh = true;
                let cause = RetryCause::Error(e.phase, e.kind);
                *self
                    .summary
                    .retries_by_cause
                    .entry(cause.to_string())
                    .or_insert(0) += 1;
                req.retries.push(cause);
                self.dispatch(rslot, true, now);
            }
            ErrorVerdict::Retry(cause) => self.retry(rslot, cause, now),
            ErrorVerdict::Finish => self.finish(rslot, Err(e), now),
        }
    }

    /// No socket could be made: the process (or system) is out of file
    /// descriptors. That is back-pressure, not the request's failure: an
    /// idle pooled connection is closed to free one, or the request waits
    /// (holding its admission slot, so nothing new starts meanwhile) until a
    /// connection closes. Only when nothing is open that could free one does
    /// the request fail, with `too_many_open_files`.
    fn out_of_descriptors(&mut self, cslot: usize, e: Error, now: Instant) {
        let key: Box<str> = self.conns[cslot].conn.key().into();
        let request = self.drop_conn(cslot, "no_descriptors", now);
        self.pool.not_opened(&key);
        let Some(rslot) = request else {
            return;
        };
        if let Some(idle) = self.pool.evict_lru() {
            self.drop_conn(idle.slot, "evicted", now);
        }
        if self.conns.is_empty() && self.fds_freed == 0 {
            return self.finish(rslot, Err(e), now);
        }
        let req = &mut self.reqs[rslot];
        req.conn = None;
        req.attempts -= 1; // it never went out
        self.fd_waiters.push_back(req.token(rslot));
        self.summary.descriptor_waits += 1;
    }

    /// Sends requests that waited for a file descriptor: one per connection
    /// closed since, and one per idle pooled connection (reused if it is of
    /// the same origin, else closed to free its descriptor when the open
    /// fails again). True while some still wait (then nothing new starts).
    pub(super) fn serve_fd_waiters(&mut self, now: Instant) -> bool {
        while self.fds_freed > 0 || self.pool.idle() > 0 {
            let Some(token) = self.fd_waiters.pop_front() else {
                break;
            };
            match self.reqs.get(token.slot) {
                // Still waiting (its deadline may have ended it meanwhile).
                Some(r) if r.generation == token.generation && r.conn.is_none() => {
                    self.fds_freed = self.fds_freed.saturating_sub(1);
                    self.dispatch(token.slot, false, now);
                }
                _ => {}
            }
        }
        if self.fd_waiters.is_empty() {
            self.fds_freed = 0;
            return false;
        }
        true
    }

    /// Closes a connection the pool counts as open (busy, or failed): it
    /// leaves the pool's count. Returns the request it carried.
    pub(super) fn drop_busy_conn(
        &mut self,
        cslot: usize,
        reason: &'static str,
        now: Instant,
    ) -> Option<usize> {
        let key: Box<str> = self.conns[cslot].conn.key().into();
        let request = self.drop_conn(cslot, reason, now);
        self.pool.closed(&key);
        request
    }

    /// Closes a connection and frees its slot and timer (the pool already
    /// forgot it: evicted or expired). Returns the request it carried.
    pub(super) fn drop_conn(
        &mut self,
        cslot: usize,
        reason: &'static str,
        now: Instant,
    ) -> Option<usize> {
        let slot = &mut self.conns[cslot];
        let mut net = MioNet {
            registry: self.poll.registry(),
            token: slot.token(cslot).to_mio(),
            scratch: &mut self.scratch,
        };
        // Usually closed already by the state machine; closing twice is harmless.
        slot.conn.close(&mut net, now);
        // Its descriptor, if it had one, may go to a request waiting for one.
        self.fds_freed += usize::from(slot.conn.held_socket());
        self.drain_transitions(cslot, now);
        let conn = self.conns[cslot].conn.id();
        emit!(self, now, EventKind::ConnClosed { conn, reason });
        let slot = self.conns.remove(cslot);
        self.cancel_conn_timer(&slot);
        slot.request
    }

    /// Emits the connection's state transitions since the last drain.
    fn drain_transitions(&mut self, cslot: usize, now: Instant) {
        if self.observer.is_none() {
            return;
        }
        let req = self.conns[cslot]
            .request
            .and_then(|r| self.reqs.get(r))
            .map(|r| r.id);
        self.drain_transitions_of(cslot, req, now);
    }

    /// The same, naming `req` as the request the transitions belong to.
    fn drain_transitions_of(&mut self, cslot: usize, req: Option<u64>, now: Instant) {
        if self.observer.is_none() {
            return;
        }
        let conn = self.conns[cslot].conn.id();
        while let Some((from, to)) = self.conns[cslot].conn.poll_transition() {
            emit!(
                self,
                now,
                EventKind::ConnState {
                    conn,
                    req,
                    from,
                    to
                }
            );
        }
    }

    fn cancel_conn_timer(&mut self, slot: &ConnSlot) {
        if let Some((id, _)) = slot.timer_at {
            self.timers.cancel(id);
        }
    }

    /// The phase a request's active connection is in (for deadline errors).
    pub(super) fn active_phase(&self, rslot: usize) -> Option<Phase> {
        match (self.reqs[rslot].stage, self.reqs[rslot].conn) {
            (Stage::Active, Some(cslot)) => Some(self.conns[cslot].conn.state().phase()),
            _ => None,
        }
    }
}
