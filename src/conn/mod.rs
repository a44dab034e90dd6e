//! One connection's lifecycle, as one `enum` of states.
//!
//! ```text
//!                            ┌─ next address on failure ─┐
//!                            v                           │
//!   new ─> Resolving ─> Connecting ─> TlsHandshake ─> Sending ─> ReadingHead ─> ReadingBody ─> Idle
//!          (DNS only)                 (https only)       ^                                      │
//!                                                        └────────────── reuse ─────────────────┘
//!   any state ── failure, timeout, or the server closing an idle connection ──> Closed
//! ```
//!
//! Usage contract (the driver's side, as in quinn-proto's `Connection`):
//! 1. [`Conn::new`], then either [`Conn::set_resolving`] and later
//!    [`Conn::set_addresses`], or addresses at once; then
//!    [`Conn::start_connect`].
//! 2. Fill [`Conn::request_buffer`], then [`Conn::begin_request`].
//! 3. On every readiness event for its token, and right after step 2 on a
//!    pooled connection, call [`Conn::drive`] until it returns
//!    [`ConnEvent::Pending`] or a final event (`Done`, `Failed`,
//!    `IdleClosed`).
//! 4. After any call, arm a timer at [`Conn::poll_timeout`]; when it fires,
//!    call [`Conn::handle_timeout`], which tries the next address or fails.
//! 5. After `Done`: take the response ([`Conn::swap_response`]), then
//!    [`Conn::make_idle`] if [`Conn::reusable`], else [`Conn::close`].
//!
//! The machine is generic over its transport ([`net::Net`]): the crawler
//! passes real `mio` sockets, the tests a scripted stream. The byte moving
//! itself (plain or through rustls) is the [`pump`]; the HTTP work is the
//! sans-IO [`ResponseReader`]. This module only decides, per state, what to
//! pump and what it means. It never decides *which* request to send or what
//! to do with a response: that is the driver's business.
//!
//! Every transition goes through `set_state`; when the crawl is observed
//! (an event observer is installed) it is also queued for the driver, which
//! drains [`Conn::poll_transition`] and emits one event per transition.

mod connect;
#[cfg(feature = "http2")]
mod multiplex;
#[cfg(not(feature = "http2"))]
#[path = "multiplex_off.rs"]
mod multiplex;
pub(crate) mod net;
mod pump;
pub(crate) mod socks5;
#[cfg(test)]
mod tests;
mod tunnel;

use crate::error::{Error, ErrorKind, Phase};
use crate::http::{Limits, Method, ReadProgress, Response, ResponseReader};
pub use crate::state::ConnState;
use multiplex::Session;
mod stream_end;
use net::Net;
use pump::{Input, Pump, ReadFail};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
pub(crate) use stream_end::StreamEnd;

/// What [`Conn::drive`] has to report.
#[derive(Debug)]
#[must_use]
pub(crate) enum ConnEvent {
    /// Nothing to report: waiting for readiness.
    Pending,
    /// The TCP connection is up (call `drive` again: the request goes out).
    Connected,
    /// The proxy opened the tunnel (call `drive` again: TLS starts).
    Tunneled,
    /// The TLS handshake finished (call `drive` again).
    TlsEstablished {
        /// From TCP connected to handshake done.
        took: Duration,
        /// An abbreviated (resumed) handshake.
        resumed: bool,
    },
    /// The response is complete: take it with [`Conn::swap_response`].
    Done,
    /// The current request failed; the connection is closed.
    Failed(Error),
    /// The connection was idle and the server closed it (or sent junk).
    IdleClosed,
    /// HTTP/2: the connection sat with no stream past the idle timeout and
    /// closed (an HTTP/1.1 one idles in the pool, which expires it).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    IdleExpired,
    /// HTTP/2: streams ended; take them with [`Conn::poll_stream_end`].
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    Streams,
}

/// How long each phase of a connection may take (the connection's part of
/// the crawl's timeouts; the total deadline is the request core's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PhaseTimeouts {
    /// From the start of a connect attempt (then the next address).
    pub connect: Duration,
    /// From TCP connected to the end of the TLS handshake.
    pub tls_handshake: Duration,
    /// From the start of sending to the end of the response head.
    pub head: Duration,
    /// The longest silence while reading a body.
    pub body_idle: Duration,
    /// How long an HTTP/2 connection with no stream stays open (the
    /// pool's idle timeout: the pool does not hold shared connections).
    pub idle: Duration,
}

/// What a connection needs to know from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnOptions {
    /// Limits on response heads and bodies.
    pub limits: Limits,
    /// Queue every state transition for [`Conn::poll_transition`].
    pub observed: bool,
    /// Happy eyeballs (RFC 8305): the next address is tried this long after
    /// the previous attempt started, if that one has not connected yet.
    pub happy_eyeballs: Duration,
}

/// A connection: its state, its addresses, its pump, its response reader.
pub(crate) struct Conn<S> {
    id: u64,
    key: Box<str>,
    state: ConnState,
    io: Pump<S>,
    /// Whether the stream is registered for WRITABLE too.
    writable_interest: bool,
    addrs: Vec<SocketAddr>,
    addr_idx: usize,
    /// The last connect error, reported if every address fails.
    last_connect_error: Option<io::Error>,
    /// Connect attempts in flight (happy eyeballs: a new one every
    /// `stagger` while the earlier ones still connect; the first to
    /// connect wins and becomes `io.stream`).
    racing: Vec<connect::Racer<S>>,
    /// When the next address is tried if no attempt has connected by then.
    next_attempt_at: Option<Instant>,
    stagger: Duration,
    reader: ResponseReader,
    response: Response,
    served: u32,
    got_response_bytes: bool,
    connect_since: Instant,
    connected_at: Option<Instant>,
    send_since: Instant,
    last_read: Instant,
    first_byte_at: Option<Instant>,
    /// Some socket was opened for this connection (it held a descriptor).
    held_socket: bool,
    /// Transitions not yet taken by the driver (only when observed).
    transitions: Option<std::collections::VecDeque<(ConnState, ConnState)>>,
    /// Connect attempts started, not yet taken by the driver (when observed).
    attempts: Option<std::collections::VecDeque<SocketAddr>>,
    /// Through a proxy: the handshake (HTTP CONNECT or SOCKS5) to go
    /// through once TCP is up.
    tunnel: Option<Box<tunnel::Tunnel>>,
    /// `Multiplexed` (HTTP/2): the session and its streams.
    h2: Option<Box<Session>>,
    /// The response limits (a stream's reader is made with them).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    limits: Limits,
    /// Keep the current request's exchange as it went over the wire.
    keep_wire: bool,
}

impl<S: io::Read + io::Write> Conn<S> {
    /// A connection to one of `addrs` (tried in order), for origin `key`,
    /// in `Connecting`. Call [`start_connect`](Self::start_connect) next.
    pub fn new(
        id: u64,
        key: Box<str>,
        addrs: Vec<SocketAddr>,
        tls: Option<rustls::ClientConnection>,
        options: ConnOptions,
        now: Instant,
    ) -> Conn<S> {
        Conn {
            id,
            key,
            state: ConnState::Connecting,
            io: Pump::new(tls),
            writable_interest: false,
            addrs: connect::interleave(addrs),
            addr_idx: 0,
            last_connect_error: None,
            racing: Vec::new(),
            next_attempt_at: None,
            stagger: options.happy_eyeballs,
            reader: ResponseReader::new(options.limits, Method::Get, true),
            response: Response::default(),
            served: 0,
            got_response_bytes: false,
            connect_since: now,
            connected_at: None,
            send_since: now,
            last_read: now,
            first_byte_at: None,
            held_socket: false,
            transitions: options.observed.then(std::collections::VecDeque::new),
            attempts: options.observed.then(std::collections::VecDeque::new),
            tunnel: None,
            h2: None,
            limits: options.limits,
            keep_wire: false,
        }
    }

    /// Where the machine is.
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// The origin key (`scheme://host:port`) this connection belongs to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Requests completed on this connection.
    pub fn served(&self) -> u32 {
        self.served
    }

    /// Whether any byte of the current response arrived (a reused connection
    /// that fails before that is retried on a fresh one).
    pub fn got_response_bytes(&self) -> bool {
        self.got_response_bytes
    }

    /// When the first byte of the current response arrived.
    pub fn first_byte_at(&self) -> Option<Instant> {
        self.first_byte_at
    }

    /// The id given at creation (events and traces name connections by it).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next transition (from, to) not yet taken, when observed. Drain
    /// it after every call that may move the machine.
    #[must_use]
    pub fn poll_transition(&mut self) -> Option<(ConnState, ConnState)> {
        self.transitions.as_mut()?.pop_front()
    }

    /// The next connect attempt (its address) not yet taken, when observed.
    #[must_use]
    pub fn poll_attempt(&mut self) -> Option<SocketAddr> {
        self.attempts.as_mut()?.pop_front()
    }

    /// Did this connection ever hold a socket (a file descriptor)? False
    /// when every `connect` failed before one was made (EMFILE, say).
    pub fn held_socket(&self) -> bool {
        self.held_socket
    }

    /// Every transition passes here, so an observer sees the whole life.
    fn set_state(&mut self, next: ConnState, now: Instant) {
        if let Some(t) = &mut self.transitions {
            t.push_back((self.state, next));
        }
        if next == ConnState::Sending {
            self.send_since = now;
        }
        self.state = next;
    }

    /// When the current phase times out: the connect timeout runs from the
    /// connect attempt, the head timeout from the start of sending, the body
    /// timeout from the last byte received (it is an *idle* timeout).
    pub fn poll_timeout(&self, t: &PhaseTimeouts) -> Option<Instant> {
        match self.state {
            // The resolver has its own timeouts and retries.
            ConnState::Resolving => None,
            ConnState::Connecting => self.connect_deadline(t),
            // The proxy handshake shares the TLS handshake's budget.
            ConnState::Tunneling | ConnState::TlsHandshake => {
                Some(self.connected_at.unwrap_or(self.connect_since) + t.tls_handshake)
            }
            ConnState::Sending | ConnState::ReadingHead => Some(self.send_since + t.head),
            ConnState::ReadingBody => Some(self.last_read + t.body_idle),
            ConnState::Multiplexed => self.multiplexed_timeout(t),
            ConnState::Idle | ConnState::Closed => None,
        }
    }

    /// A timer armed at [`poll_timeout`](Self::poll_timeout) fired. Returns
    /// `Pending` if the deadline moved later meanwhile (re-arm) or the next
    /// address is being tried; `Failed` with a typed timeout otherwise.
    pub fn handle_timeout(
        &mut self,
        net: &mut impl Net<Stream = S>,
        t: &PhaseTimeouts,
        now: Instant,
    ) -> ConnEvent {
        match self.poll_timeout(t) {
            Some(deadline) if deadline <= now => {}
            _ => return ConnEvent::Pending,
        }
        if self.state == ConnState::Connecting {
            return self.connect_timeout(net, t, now);
        }
        if self.state == ConnState::Multiplexed {
            return self.handle_multiplexed_timeout(net, t, now);
        }
        let what = match self.state {
            ConnState::Connecting => "connect",
            ConnState::Tunneling => "proxy tunnel",
            ConnState::TlsHandshake => "TLS handshake",
            ConnState::ReadingBody => "body idle",
            _ => "response head",
        };
        let e = Error::new(
            self.state.phase(),
            ErrorKind::Timeout,
            format!("{what} timeout"),
        );
        self.fail(net, e, now)
    }

    /// The request bytes buffer (emptied), to be filled by the caller before
    /// [`begin_request`](Self::begin_request).
    pub fn request_buffer(&mut self) -> &mut Vec<u8> {
        if let Some(session) = &mut self.h2 {
            // HTTP/2: `out` holds frames still to send; the request waits
            // beside it until `open_stream`.
            session.request.clear();
            return &mut session.request;
        }
        self.io.out.clear();
        self.io.out_pos = 0;
        &mut self.io.out
    }

    /// Starts a request whose bytes are in the request buffer. On a fresh
    /// connection the bytes go out once connected; on an idle one, at the
    /// next [`drive`](Self::drive).
    /// `keep_body`: store the body (false: count it only).
    pub fn begin_request(&mut self, method: Method, keep_body: bool, now: Instant) {
        self.reader.reset(method);
        self.reader.set_keep_body(keep_body);
        self.response.clear();
        self.got_response_bytes = false;
        self.first_byte_at = None;
        if self.state == ConnState::Idle {
            self.set_state(ConnState::Sending, now);
        }
    }

    /// Keep this request's exchange as it went over the wire
    /// ([`Response::wire`]); the request bytes are added by
    /// [`sent_request`](Self::sent_request)'s caller.
    pub fn set_keep_wire(&mut self, keep: bool) {
        self.keep_wire = keep;
        self.reader.set_keep_wire(keep);
    }

    /// The bytes of the last request sent (they stay in the request buffer
    /// until the next request is prepared).
    pub fn sent_request(&self) -> &[u8] {
        &self.io.out
    }

    /// The connection's stream, once connected.
    pub fn stream(&self) -> Option<&S> {
        self.io.stream.as_ref()
    }

    /// Keep only the first `at` bytes of this request's body, and end the
    /// response there (see [`ResponseReader::set_truncate_at`]). Set for
    /// every request: a pooled connection carries the setting over.
    pub fn set_truncate_at(&mut self, at: Option<u64>) {
        self.reader.set_truncate_at(at);
    }

    /// This request's body limit (`None`: the connection's). Set for every
    /// request, like [`set_truncate_at`](Self::set_truncate_at).
    pub fn set_max_body(&mut self, max: Option<u64>) {
        self.reader.set_max_body(max);
    }

    /// Swaps the response being read with `spare` (an empty, recycled one):
    /// after `Done`, the caller gets the response without a copy.
    pub fn swap_response(&mut self, spare: &mut Response) {
        std::mem::swap(&mut self.response, spare);
    }

    /// Makes a new connection start in `Resolving` instead of `Connecting`
    /// (its initial state, so no transition): addresses come later with
    /// [`set_addresses`](Self::set_addresses). Call right after `new`.
    pub fn set_resolving(&mut self) {
        debug_assert!(self.io.stream.is_none() && self.connected_at.is_none());
        self.state = ConnState::Resolving;
    }

    /// DNS answered: these are the addresses to try (families interleaved).
    /// Call [`start_connect`](Self::start_connect) next.
    pub fn set_addresses(&mut self, addrs: Vec<SocketAddr>, now: Instant) {
        self.addrs = connect::interleave(addrs);
        self.addr_idx = 0;
        self.set_state(ConnState::Connecting, now);
    }

    fn connect_error(&mut self) -> Error {
        match self.last_connect_error.take() {
            Some(e) => Error::from_io(Phase::Connect, &e),
            None => Error::new(Phase::Connect, ErrorKind::Io, "no address to connect to"),
        }
    }

    fn close_stream(&mut self, net: &mut impl Net<Stream = S>) {
        if let Some(s) = self.io.stream.take() {
            net.close(s);
        }
        for r in self.racing.drain(..) {
            net.close(r.stream);
        }
        self.next_attempt_at = None;
    }

    /// Closes for good.
    pub fn close(&mut self, net: &mut impl Net<Stream = S>, now: Instant) {
        self.close_stream(net);
        if self.state != ConnState::Closed {
            self.set_state(ConnState::Closed, now);
        }
    }

    fn fail(&mut self, net: &mut impl Net<Stream = S>, e: Error, now: Instant) -> ConnEvent {
        self.close(net, now);
        ConnEvent::Failed(e)
    }

    /// Runs the current state's step as far as the stream allows, and says
    /// what happened. The step is chosen by the *state*, not by the event's
    /// readable/writable bits: mio may deliver spurious events, and a step
    /// that finds nothing to do simply returns `Pending`.
    pub fn drive(&mut self, net: &mut impl Net<Stream = S>, now: Instant) -> ConnEvent {
        match self.state {
            ConnState::Connecting => self.step_connecting(net, now),
            ConnState::Tunneling => self.step_tunnel(net, now),
            ConnState::TlsHandshake => self.step_handshake(net, now),
            ConnState::Sending => self.step_sending(net, now),
            ConnState::ReadingHead | ConnState::ReadingBody => self.step_reading(net, now),
            ConnState::Idle => self.step_idle(net, now),
            ConnState::Multiplexed => self.step_multiplexed(net, now),
            // Nothing to drive: DNS has not answered, or the stream is gone.
            ConnState::Resolving | ConnState::Closed => ConnEvent::Pending,
        }
    }

    fn step_handshake(&mut self, net: &mut impl Net<Stream = S>, now: Instant) -> ConnEvent {
        match self.io.handshake() {
            Ok(true) => {
                let resumed = self.io.tls.as_ref().and_then(|t| t.handshake_kind())
                    == Some(rustls::HandshakeKind::Resumed);
                let took = now.saturating_duration_since(self.connected_at.unwrap_or(now));
                let h2 = self.io.tls.as_ref().and_then(|t| t.alpn_protocol()) == Some(b"h2");
                if h2 {
                    if let Err(e) = self.start_multiplexed(now) {
                        return self.fail(net, e, now);
                    }
                } else {
                    self.set_state(ConnState::Sending, now);
                }
                ConnEvent::TlsEstablished { took, resumed }
            }
            Ok(false) => {
                // Waiting for the server. WRITABLE only if rustls still has
                // bytes queued for a full socket buffer.
                let wants = self.io.tls_wants_write();
                match self.set_writable(net, wants) {
                    Ok(()) => ConnEvent::Pending,
                    Err(e) => self.fail(net, Error::from_io(Phase::Tls, &e), now),
                }
            }
            Err(e) => self.fail(net, e, now),
        }
    }

    fn step_sending(&mut self, net: &mut impl Net<Stream = S>, now: Instant) -> ConnEvent {
        match self.io.write_out() {
            Ok(true) => {
                // All sent: from now on only READABLE matters. Dropping
                // WRITABLE spares a wake-up per response on a busy loop.
                if let Err(e) = self.set_writable(net, false) {
                    return self.fail(net, Error::from_io(Phase::Send, &e), now);
                }
                self.set_state(ConnState::ReadingHead, now);
                // Do not try a read now: the answer is not there yet (it has
                // to cross the network), so it would only be a wasted `read`
                // returning WouldBlock, one syscall per request. Its arrival
                // is a new readiness edge that the next poll reports.
                ConnEvent::Pending
            }
            Ok(false) => {
                // The socket buffer is full: ask to hear when it drains.
                match self.set_writable(net, true) {
                    Ok(()) => ConnEvent::Pending,
                    Err(e) => self.fail(net, Error::from_io(Phase::Send, &e), now),
                }
            }
            Err(e) => self.fail(net, Error::from_io(Phase::Send, &e), now),
        }
    }

    /// Registers for WRITABLE only while there is something to write (the
    /// design's rule): a reregister costs a syscall, so it happens only when
    /// the wanted interest changes, i.e. after the first request of a fresh
    /// connection, and when a write would block.
    fn set_writable(&mut self, net: &mut impl Net<Stream = S>, writable: bool) -> io::Result<()> {
        if self.writable_interest == writable {
            return Ok(());
        }
        if let Some(s) = &mut self.io.stream {
            net.set_writable(s, writable)?;
            self.writable_interest = writable;
        }
        Ok(())
    }

    fn read_fail_error(&self, f: ReadFail) -> Error {
        match f {
            ReadFail::Io(e) => Error::from_io(self.state.phase(), &e),
            ReadFail::Tls(e) => crate::tls::classify(&e),
        }
    }

    fn step_reading(&mut self, net: &mut impl Net<Stream = S>, now: Instant) -> ConnEvent {
        loop {
            match self.io.read_input(net.scratch()) {
                Ok(Input::UncleanTlsEof) if self.reader.is_close_delimited() => {
                    // Without close_notify, a close-delimited body may have been
                    // cut short by an attacker: not a clean end.
                    let e = Error::new(
                        Phase::Body,
                        ErrorKind::UnexpectedEof,
                        "TLS connection closed without close_notify inside a close-delimited body",
                    );
                    return self.fail(net, e, now);
                }
                // End of input. It ends a close-delimited body; anywhere else
                // it is an early EOF.
                Ok(Input::Eof | Input::UncleanTlsEof) => {
                    return match self.reader.handle_eof() {
                        Ok(_) => {
                            self.got_response_bytes = true;
                            self.close(net, now);
                            ConnEvent::Done
                        }
                        Err(mut e) => {
                            e.phase = self.state.phase();
                            self.fail(net, e, now)
                        }
                    };
                }
                Ok(Input::Bytes(n)) => {
                    if !self.got_response_bytes {
                        self.got_response_bytes = true;
                        self.first_byte_at = Some(now);
                    }
                    self.last_read = now;
                    match self.feed(net.scratch(), n, now) {
                        Ok(true) => return ConnEvent::Done,
                        Ok(false) => {}
                        Err(e) => return self.fail(net, e, now),
                    }
                }
                // Drained: the next bytes come with the next readiness edge.
                Ok(Input::WouldBlock) => return ConnEvent::Pending,
                Err(f) => {
                    let e = self.read_fail_error(f);
                    return self.fail(net, e, now);
                }
            }
        }
    }

    /// Hands `scratch[..n]`, just read, to the reader (after any bytes kept
    /// from before). What it cannot use yet (an incomplete head) is kept in
    /// the connection's own small buffer. True when the response is done.
    fn feed(&mut self, scratch: &[u8], n: usize, now: Instant) -> Result<bool, Error> {
        let fresh = &scratch[..n];
        let kept = !self.io.pending.is_empty();
        if kept {
            self.io.pending.extend_from_slice(fresh);
        }
        let input: &[u8] = if kept { &self.io.pending } else { fresh };
        let (used, progress) = self.reader.handle_bytes(input, &mut self.response)?;
        if kept {
            self.io.pending.drain(..used);
            if self.io.pending.is_empty() {
                self.io.pending = Vec::new(); // give the memory back
            }
        } else if used < n {
            self.io.pending.extend_from_slice(&fresh[used..]);
        }
        if self.state == ConnState::ReadingHead && self.reader.head_done() {
            self.set_state(ConnState::ReadingBody, now);
        }
        // Otherwise: an incomplete head waits in `pending`, and a body needs
        // more bytes. Read on.
        Ok(progress == ReadProgress::Done)
    }

    /// After [`ConnEvent::Done`]: may this connection carry another request?
    /// Only if the response allows keep-alive and the server sent nothing
    /// beyond it.
    pub fn reusable(&self) -> bool {
        self.state != ConnState::Closed
            && self.reader.keep_alive()
            && self.io.pending.is_empty()
            && self.io.stream.is_some()
    }

    /// Parks the connection in the idle state.
    pub fn make_idle(&mut self, now: Instant) {
        self.served += 1;
        self.io.pending = Vec::new();
        self.set_state(ConnState::Idle, now);
    }

    /// An idle connection became readable: the server closed it (EOF), reset
    /// it, or sent bytes nobody asked for. All of these end it.
    fn step_idle(&mut self, net: &mut impl Net<Stream = S>, now: Instant) -> ConnEvent {
        match self.io.read_input(net.scratch()) {
            // A spurious wake-up, a WRITABLE edge, or a TLS message with no
            // plaintext (a session ticket): still open, still idle.
            Ok(Input::WouldBlock) => ConnEvent::Pending,
            _ => {
                self.close(net, now);
                ConnEvent::IdleClosed
            }
        }
    }
}
