//! Opening a connection for a request (its TLS session, its route and
//! addresses, its slot, the dialer told), and encoding a request into a
//! connection's request buffer.

use super::headers::MergedHeaders;
use super::slot::ConnSlot;
use super::{route, Connections, Dispatch, Output};
use crate::conn::{Conn, ConnOptions};
use crate::error::Error;
use crate::events::{Emitter, EventKind};
use crate::http::{encode_proxied_request, encode_request_with, Method};
use crate::outcome::AttemptReport;
use crate::reactor::Token;
use std::time::Instant;

impl Connections<'_> {
    /// Opens a connection for request `req`: addresses from the static
    /// sources at once, or through DNS (the connection starts `Resolving`).
    pub(super) fn open(
        &mut self,
        req: Token,
        ex: Dispatch<'_>,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        let key: Box<str> = ex.url.origin().into();
        let tls = match self.tls_session(&ex) {
            Ok(tls) => tls,
            Err(error) => return self.not_opened(req, &key, error),
        };
        if let Err(error) = route::literal_public(self.config.public_only, ex.url) {
            return self.not_opened(req, &key, error);
        }
        // Static sources first (overrides, IP literals, /etc/hosts,
        // localhost): no waiting. Through a proxy, its address.
        let mut route = route::route(&self.config.proxy, ex.url);
        let (host, port) = (route.host, route.port);
        self.addr_buf.clear();
        let known = self.resolver.lookup_static(host, &mut self.addr_buf);
        let mut socks_local = route.socks_local.take();
        // The origin's own addresses (not a proxy's) are checked here, on
        // what will be connected to.
        let origin_addrs = !route.via_proxy || socks_local.is_some();
        if known && origin_addrs && self.config.public_only {
            if let Err(error) = crate::public::keep_public(&mut self.addr_buf) {
                return self.not_opened(req, &key, error);
            }
        }
        let (addrs, handshake) = match known {
            true => route::addresses(&self.addr_buf, port, socks_local.take()),
            false => (Vec::new(), None),
        };
        let options = ConnOptions {
            limits: self.config.limits,
            observed: self.observed,
            happy_eyeballs: self.config.timeouts.happy_eyeballs,
        };
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        let mut conn = Conn::new(id, key, addrs, tls, options, now);
        if !known {
            conn.set_resolving();
        }
        if let Some(handshake) = route.tunnel.or(handshake) {
            handshake.set_on(&mut conn);
        }
        self.generation = self.generation.wrapping_add(1);
        let cslot = self.slots.insert(ConnSlot {
            conn,
            generation: self.generation,
            carrying: None,
            streams: Vec::new(),
            probing: false,
            flush_queued: false,
            timer_at: None,
            attached_at: now,
            reused: false,
            dns_started: (!known).then_some(now),
            dns: None,
            connect: None,
            port,
            connecting: true,
            proxied_http: route.proxied_http,
            via_proxy: route.via_proxy,
            socks_local,
        });
        let conn = &self.slots[cslot].conn;
        emit!(
            ev,
            EventKind::ConnOpened {
                conn: id,
                origin: conn.key(),
                req: ex.id,
                state: conn.state(),
            }
        );
        self.attach(cslot, req, ex.id, false, now);
        self.start_dialing(cslot, req, &ex, now);
        self.prepare(cslot, &ex, now, ev);
        match known {
            true => self.connect(cslot, now, ev),
            false => self.resolve(cslot, host, ev),
        }
    }

    /// The TLS session for `ex` (none for http): offering h2 unless the
    /// request goes over HTTP/1.1 only.
    fn tls_session(&self, ex: &Dispatch<'_>) -> Result<Option<rustls::ClientConnection>, Error> {
        let config = match ex.http1_only {
            true => &self.tls_http1,
            false => self.tls,
        };
        route::tls_session(config, ex.url)
    }

    /// New connection `cslot` asks DNS for `host` (the answer comes back
    /// through `handle_resolved`).
    fn resolve(&mut self, cslot: usize, host: &str, ev: &mut Emitter<'_>) {
        let conn = self.slots[cslot].conn.id();
        emit!(ev, EventKind::DnsLookup { conn, name: host });
        let conn = self.slots[cslot].token(cslot);
        let host = host.into();
        self.outputs.push_back(Output::Resolve { conn, host });
    }

    /// `req`'s connection could not even start (no TLS session, an address
    /// `public_only` refuses): the pool forgets it, the request fails.
    fn not_opened(&mut self, req: Token, key: &str, error: Error) {
        self.pool.handle_closed(key);
        let report = AttemptReport::default();
        self.outputs
            .push_back(Output::Failed { req, error, report });
    }

    /// Encodes the request into the connection's request buffer.
    pub(super) fn prepare(
        &mut self,
        cslot: usize,
        ex: &Dispatch<'_>,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        let t = &self.config.request;
        let slot = &mut self.slots[cslot];
        let conn = &mut slot.conn;
        let body: &[u8] = match ex.body {
            Some(b) => b,
            None if ex.method == Method::Post => &t.body,
            None => b"",
        };
        let merged;
        let (headers, ua, ae) = if ex.headers.is_empty() {
            (&t.headers[..], &t.user_agent[..], &t.accept_encoding[..])
        } else {
            merged = MergedHeaders::new(t, ex.headers);
            (
                &merged.headers[..],
                merged.user_agent,
                merged.accept_encoding,
            )
        };
        let out = conn.request_buffer();
        match &slot.proxied_http {
            Some(auth) => encode_proxied_request(
                out,
                ex.method,
                ex.url,
                headers,
                body,
                ua,
                ae,
                auth.as_deref(),
            ),
            None => encode_request_with(out, ex.method, ex.url, headers, body, ua, ae),
        }
        conn.begin_request(ex.method, ex.keep_body, now);
        conn.set_truncate_at(ex.truncate_at);
        conn.set_max_body(ex.max_body);
        // robots.txt too: the robots sink may archive it (whole files only).
        conn.set_keep_wire(t.keep_wire);
        if let Some(mut spare) = self.spare.pop() {
            spare.clear();
            conn.swap_response(&mut spare);
        }
        self.drain_transitions(cslot, ev);
    }

    /// The dialer counts new connection `cslot` (for `req`) as dialing.
    fn start_dialing(&mut self, cslot: usize, req: Token, ex: &Dispatch<'_>, now: Instant) {
        // (A request retried because a pooled connection failed it waits
        // for its own: not movable.)
        let token = self.slots[cslot].token(cslot);
        let movable = !ex.fresh_only;
        self.dialer
            .handle_dialing(ex.url.origin(), token, req, movable, now);
        // HTTP/2 offered to an origin with no other connection: what the
        // server chooses decides whether one connection will do.
        let origin = ex.url.origin();
        let probing = self.config.tls.http2
            && !ex.http1_only
            && ex.url.scheme() == crate::url::Scheme::Https
            && (self.pool.open_for(origin) == 1 || self.is_shared_origin(origin));
        if probing {
            self.dialer.handle_probing(ex.url.origin());
            self.slots[cslot].probing = true;
        }
    }
}
