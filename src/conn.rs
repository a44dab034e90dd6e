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
//! [`Conn::drive`] runs the machine as far as the socket allows (mio is
//! edge-triggered, so every step does its I/O until `WouldBlock`) and reports
//! what happened as a [`ConnEvent`]. It never decides *which* request to send
//! or what to do with a finished response: that is the crawler's business. The
//! HTTP work itself is the sans-IO [`ResponseReader`]; this module only moves
//! bytes between it and the socket.
//!
//! Every transition goes through [`Conn::set_state`], which logs it at `trace`
//! level (`RUST_LOG`-style filtering is up to the `log` backend you install).

use crate::error::{Error, ErrorKind, Phase};
use crate::http::{Limits, Method, Progress, Response, ResponseReader};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// The states of a connection. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for DNS (names not in /etc/hosts or the overrides).
    Resolving,
    /// TCP handshake in progress with `addrs[addr_idx]`.
    Connecting,
    /// TLS handshake in progress (https only).
    TlsHandshake,
    /// Writing the request.
    Sending,
    /// Waiting for / reading the response head.
    ReadingHead,
    /// Reading the response body.
    ReadingBody,
    /// Open and unused, parked in the pool.
    Idle,
    /// Done; the socket is closed or about to be.
    Closed,
}

impl ConnState {
    /// The phase a failure in this state is reported in.
    pub fn phase(self) -> Phase {
        match self {
            ConnState::Resolving => Phase::Dns,
            ConnState::Connecting => Phase::Connect,
            ConnState::TlsHandshake => Phase::Tls,
            ConnState::Sending => Phase::Send,
            ConnState::ReadingHead | ConnState::Idle | ConnState::Closed => Phase::Head,
            ConnState::ReadingBody => Phase::Body,
        }
    }
}

/// What [`Conn::drive`] has to report.
#[derive(Debug)]
pub enum ConnEvent {
    /// Nothing to report: waiting for readiness.
    Pending,
    /// The TCP connection is up (the request is being sent).
    Connected,
    /// The TLS handshake finished: how long it took, and whether it resumed
    /// an earlier session.
    TlsEstablished {
        /// From TCP connected to handshake done.
        took: std::time::Duration,
        /// An abbreviated (resumed) handshake.
        resumed: bool,
    },
    /// The response is complete and is in [`Conn::response`].
    Done,
    /// The current request failed; the connection is closed.
    Failed(Error),
    /// The connection was idle and the server closed it (or sent junk).
    IdleClosed,
}

const READ_CHUNK: usize = 16 * 1024;

/// The per-phase timeouts a connection enforces (the per-request total
/// deadline is the crawler's).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the start of a connect attempt to the connection being up.
    pub connect: std::time::Duration,
    /// From the start of sending to the end of the response head.
    pub head: std::time::Duration,
    /// The longest silence while reading the body.
    pub body_idle: std::time::Duration,
    /// From TCP connected to the end of the TLS handshake.
    pub tls_handshake: std::time::Duration,
}

/// What one read produced.
enum Input {
    /// Plaintext bytes appended at `inbuf[in_end..]`.
    Bytes(usize),
    /// A clean end: TCP FIN, or TLS close_notify.
    Eof,
    /// TCP FIN on a TLS connection without close_notify.
    UncleanTlsEof,
    /// Nothing more for now.
    WouldBlock,
}

/// Why a read failed.
enum ReadFail {
    Io(io::Error),
    Tls(rustls::Error),
}

/// What a connection needs to know from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct ConnOptions {
    /// Limits on response heads and bodies.
    pub limits: Limits,
    /// Keep response bodies (false: count them only).
    pub keep_body: bool,
    /// Log state transitions at `trace` level.
    pub trace: bool,
}

/// A connection. Fields are public to the crate: the crawler is its driver.
pub struct Conn {
    /// The generation this connection was born with (see [`crate::reactor::Token`]).
    pub generation: u32,
    /// The origin key (`scheme://host:port`) this connection belongs to.
    pub key: Box<str>,
    /// Where the machine is.
    pub state: ConnState,
    stream: Option<TcpStream>,
    /// The TLS session, for https.
    tls: Option<Box<rustls::ClientConnection>>,
    /// Whether the socket is registered for WRITABLE too.
    writable_interest: bool,
    addrs: Vec<SocketAddr>,
    addr_idx: usize,
    /// The last connect error, reported if every address fails.
    last_connect_error: Option<io::Error>,
    out: Vec<u8>,
    out_pos: usize,
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    reader: ResponseReader,
    /// The response being read.
    pub response: Response,
    /// Requests completed on this connection.
    pub served: u32,
    /// The request (crawler slab slot) this connection carries, if any.
    pub request: Option<usize>,
    /// Whether any byte of the current response arrived (a reused connection
    /// that fails before that is retried on a fresh one).
    pub got_response_bytes: bool,
    connect_since: Instant,
    send_since: Instant,
    last_read: Instant,
    /// A timer is armed for this instant (the crawler re-arms lazily).
    pub timer_at: Option<(crate::reactor::TimerId, Instant)>,
    /// When the TCP connect finished.
    pub connected_at: Option<Instant>,
    /// When the first response byte arrived.
    pub first_byte_at: Option<Instant>,
    trace: bool,
    id: u64,
}

impl Conn {
    /// A connection to one of `addrs` (tried in order), for origin `key`.
    /// Call [`start_connect`](Self::start_connect) next.
    pub fn new(
        id: u64,
        generation: u32,
        key: Box<str>,
        addrs: Vec<SocketAddr>,
        tls: Option<rustls::ClientConnection>,
        options: ConnOptions,
        now: Instant,
    ) -> Conn {
        let ConnOptions {
            limits,
            keep_body,
            trace,
        } = options;
        Conn {
            generation,
            key,
            state: ConnState::Connecting,
            stream: None,
            tls: tls.map(Box::new),
            writable_interest: false,
            addrs,
            addr_idx: 0,
            last_connect_error: None,
            out: Vec::new(),
            out_pos: 0,
            inbuf: Vec::new(),
            in_start: 0,
            in_end: 0,
            reader: ResponseReader::new(limits, Method::Get, keep_body),
            response: Response::default(),
            served: 0,
            request: None,
            got_response_bytes: false,
            connect_since: now,
            send_since: now,
            last_read: now,
            timer_at: None,
            connected_at: None,
            first_byte_at: None,
            trace,
            id,
        }
    }

    /// Every transition passes here, so a trace shows the whole life.
    pub fn set_state(&mut self, next: ConnState, now: Instant) {
        if self.trace {
            log::trace!(
                "conn {} {}: {:?} -> {:?}",
                self.id,
                self.key,
                self.state,
                next
            );
        }
        if next == ConnState::Sending {
            self.send_since = now;
        }
        self.state = next;
    }

    /// When the current phase times out: the connect timeout runs from the
    /// connect attempt, the head timeout from the start of sending, the body
    /// timeout from the last byte received (it is an *idle* timeout).
    pub fn deadline(&self, t: &Timeouts) -> Option<Instant> {
        match self.state {
            // The resolver has its own timeouts and retries.
            ConnState::Resolving => None,
            ConnState::Connecting => Some(self.connect_since + t.connect),
            ConnState::TlsHandshake => {
                Some(self.connected_at.unwrap_or(self.connect_since) + t.tls_handshake)
            }
            ConnState::Sending | ConnState::ReadingHead => Some(self.send_since + t.head),
            ConnState::ReadingBody => Some(self.last_read + t.body_idle),
            ConnState::Idle | ConnState::Closed => None,
        }
    }

    /// The request bytes buffer, to be filled by the caller before
    /// [`begin_request`](Self::begin_request).
    pub fn out_buffer(&mut self) -> &mut Vec<u8> {
        self.out.clear();
        self.out_pos = 0;
        &mut self.out
    }

    /// Starts a request whose bytes are in [`out_buffer`](Self::out_buffer).
    /// On a fresh connection the bytes go out once connected.
    pub fn begin_request(&mut self, method: Method, request: usize, now: Instant) {
        self.reader.reset(method);
        self.response.clear();
        self.request = Some(request);
        self.got_response_bytes = false;
        self.first_byte_at = None;
        if self.state == ConnState::Idle {
            self.set_state(ConnState::Sending, now);
        }
    }

    /// Opens a socket to the next address and registers it. On failure of
    /// every remaining address, returns the connect error.
    pub fn start_connect(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
    ) -> Result<(), Error> {
        self.close_socket(registry);
        self.connect_since = now;
        while self.addr_idx < self.addrs.len() {
            let addr = self.addrs[self.addr_idx];
            self.addr_idx += 1;
            match TcpStream::connect(addr) {
                Ok(mut stream) => {
                    // WRITABLE tells us when the handshake finishes (mio's
                    // recipe for a non-blocking connect); READABLE catches a
                    // refusal or reset early.
                    match registry.register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        Ok(()) => {
                            self.stream = Some(stream);
                            self.writable_interest = true;
                            return Ok(());
                        }
                        Err(e) => self.last_connect_error = Some(e),
                    }
                }
                Err(e) => self.last_connect_error = Some(e),
            }
        }
        Err(self.connect_error())
    }

    fn connect_error(&mut self) -> Error {
        match self.last_connect_error.take() {
            Some(e) => Error::from_io(Phase::Connect, &e),
            None => Error::new(Phase::Connect, ErrorKind::Io, "no address to connect to"),
        }
    }

    /// Starts in the `Resolving` state instead: addresses come later.
    pub fn set_resolving(&mut self, now: Instant) {
        self.set_state(ConnState::Resolving, now);
    }

    /// DNS answered: these are the addresses to try, in order. Call
    /// [`start_connect`](Self::start_connect) next.
    pub fn set_addresses(&mut self, addrs: Vec<SocketAddr>, now: Instant) {
        self.addrs = addrs;
        self.addr_idx = 0;
        self.set_state(ConnState::Connecting, now);
    }

    /// Is there another address to try after a connect failure or timeout?
    pub fn has_next_address(&self) -> bool {
        self.addr_idx < self.addrs.len()
    }

    /// The address of the current (or last) connect attempt.
    pub fn current_address(&self) -> Option<SocketAddr> {
        self.addrs.get(self.addr_idx.wrapping_sub(1)).copied()
    }

    /// Deregisters and drops the socket.
    pub fn close_socket(&mut self, registry: &Registry) {
        if let Some(mut s) = self.stream.take() {
            let _ = registry.deregister(&mut s);
        }
    }

    /// Closes for good.
    pub fn close(&mut self, registry: &Registry, now: Instant) {
        self.close_socket(registry);
        self.set_state(ConnState::Closed, now);
    }

    /// Runs the current state's step as far as the socket allows, and says
    /// what happened. After `Connected` and `TlsEstablished` the caller calls
    /// again for the next state (the crawler's driver loops on those).
    pub fn drive(&mut self, registry: &Registry, token: Token, now: Instant) -> ConnEvent {
        match self.state {
            ConnState::Connecting => match self.check_connected() {
                Ok(false) => ConnEvent::Pending,
                Ok(true) => {
                    self.connected_at = Some(now);
                    if let Some(s) = &self.stream {
                        let _ = s.set_nodelay(true);
                    }
                    let next = if self.tls.is_some() {
                        ConnState::TlsHandshake
                    } else {
                        ConnState::Sending
                    };
                    self.set_state(next, now);
                    // Report, then continue with the next state on the next call.
                    ConnEvent::Connected
                }
                Err(e) => {
                    self.last_connect_error = Some(e);
                    if self.has_next_address() {
                        match self.start_connect(registry, token, now) {
                            Ok(()) => return ConnEvent::Pending,
                            Err(e) => return self.fail(registry, e, now),
                        }
                    }
                    let e = self.connect_error();
                    self.fail(registry, e, now)
                }
            },
            ConnState::TlsHandshake => match self.pump_handshake() {
                Ok(true) => {
                    let resumed = self.tls.as_ref().and_then(|t| t.handshake_kind())
                        == Some(rustls::HandshakeKind::Resumed);
                    let took = now.saturating_duration_since(self.connected_at.unwrap_or(now));
                    self.set_state(ConnState::Sending, now);
                    ConnEvent::TlsEstablished { took, resumed }
                }
                Ok(false) => {
                    // Waiting for the server. WRITABLE only if rustls still
                    // has bytes queued for a full socket buffer.
                    let wants = self.tls.as_ref().is_some_and(|t| t.wants_write());
                    if let Err(e) = self.set_writable_interest(registry, token, wants) {
                        let e = Error::from_io(Phase::Tls, &e);
                        return self.fail(registry, e, now);
                    }
                    ConnEvent::Pending
                }
                Err(e) => self.fail(registry, e, now),
            },
            ConnState::Sending => match self.write_out() {
                Ok(true) => {
                    // All sent: from now on only READABLE matters. Dropping
                    // WRITABLE spares a wake-up per response on a busy loop.
                    if let Err(e) = self.set_writable_interest(registry, token, false) {
                        let e = Error::from_io(Phase::Send, &e);
                        return self.fail(registry, e, now);
                    }
                    self.set_state(ConnState::ReadingHead, now);
                    // Do not try a read now: the answer is not there yet
                    // (it has to cross the network), so it would only be a
                    // wasted `read` returning WouldBlock, one syscall per
                    // request. Its arrival is a new readiness edge that the
                    // next poll reports.
                    ConnEvent::Pending
                }
                Ok(false) => {
                    // The socket buffer is full: ask to hear when it drains.
                    if let Err(e) = self.set_writable_interest(registry, token, true) {
                        let e = Error::from_io(Phase::Send, &e);
                        return self.fail(registry, e, now);
                    }
                    ConnEvent::Pending
                }
                Err(e) => {
                    let e = Error::from_io(Phase::Send, &e);
                    self.fail(registry, e, now)
                }
            },
            ConnState::ReadingHead | ConnState::ReadingBody => self.read_response(registry, now),
            ConnState::Idle => self.check_idle(registry, now),
            ConnState::Resolving => ConnEvent::Pending,
            ConnState::Closed => ConnEvent::Pending,
        }
    }

    fn fail(&mut self, registry: &Registry, e: Error, now: Instant) -> ConnEvent {
        self.close(registry, now);
        ConnEvent::Failed(e)
    }

    /// mio's recipe for a non-blocking connect: a pending error means failure;
    /// `peer_addr` succeeding means connected; `NotConnected` means not yet.
    fn check_connected(&mut self) -> io::Result<bool> {
        let Some(s) = &self.stream else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "no socket"));
        };
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        match s.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc_einprogress()) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Registers for WRITABLE only while there is something to write (the
    /// design's rule): a reregister costs a syscall, so it happens only when
    /// the wanted interest changes, i.e. after the first request of a fresh
    /// connection, and when a write would block.
    fn set_writable_interest(
        &mut self,
        registry: &Registry,
        token: Token,
        writable: bool,
    ) -> io::Result<()> {
        if self.writable_interest == writable {
            return Ok(());
        }
        let Some(s) = &mut self.stream else {
            return Ok(());
        };
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry.reregister(s, token, interest)?;
        self.writable_interest = writable;
        Ok(())
    }

    /// Runs the TLS handshake as far as the socket allows; true when done.
    fn pump_handshake(&mut self) -> Result<bool, Error> {
        let (Some(tls), Some(stream)) = (&mut self.tls, &mut self.stream) else {
            return Err(Error::new(Phase::Tls, ErrorKind::Io, "no TLS session"));
        };
        loop {
            flush_tls(tls, stream).map_err(|e| Error::from_io(Phase::Tls, &e))?;
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(stream) {
                Ok(0) => {
                    return Err(Error::new(
                        Phase::Tls,
                        ErrorKind::UnexpectedEof,
                        "the server closed the connection during the handshake",
                    ))
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // rustls queued an alert for the server; send it if we can.
                        let _ = flush_tls(tls, stream);
                        return Err(crate::tls::classify(&e));
                    }
                }
                // The server's next flight has not arrived yet.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(Phase::Tls, &e)),
            }
        }
    }

    /// Writes pending request bytes; true when all are out.
    fn write_out(&mut self) -> io::Result<bool> {
        let Some(s) = &mut self.stream else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "no socket"));
        };
        if let Some(tls) = &mut self.tls {
            // Plaintext goes into rustls (which encrypts into its own buffer),
            // ciphertext goes to the socket.
            loop {
                if self.out_pos < self.out.len() {
                    let n = tls.writer().write(&self.out[self.out_pos..])?;
                    self.out_pos += n;
                    if n == 0 && !tls.wants_write() {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                }
                if !tls.wants_write() {
                    if self.out_pos == self.out.len() {
                        return Ok(true);
                    }
                    continue;
                }
                match tls.write_tls(s) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        while self.out_pos < self.out.len() {
            match s.write(&self.out[self.out_pos..]) {
                // A zero-byte write on a non-empty buffer: the socket cannot
                // take more, ever.
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                // The kernel buffer is full; a WRITABLE event will tell us when
                // it drains (edge-triggered: only after we have hit WouldBlock).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // A signal interrupted the call before any byte moved: retry.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Makes room at the end of the input buffer: compacts, then grows up to
    /// what the head limit needs.
    fn make_room(&mut self) {
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        } else if self.in_start > 0 && self.in_end == self.inbuf.len() {
            self.inbuf.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
        }
        if self.in_end == self.inbuf.len() {
            let new_len = (self.inbuf.len() * 2).max(READ_CHUNK);
            self.inbuf.resize(new_len, 0);
        }
    }

    /// One read of plaintext into `inbuf[in_end..]`, from the socket or
    /// through rustls.
    fn read_input(&mut self) -> Result<Input, ReadFail> {
        let (Some(stream), buf) = (&mut self.stream, &mut self.inbuf[self.in_end..]) else {
            return Err(ReadFail::Io(io::ErrorKind::NotConnected.into()));
        };
        let Some(tls) = &mut self.tls else {
            loop {
                return match stream.read(buf) {
                    // A zero-byte read is the server's FIN: end of input.
                    Ok(0) => Ok(Input::Eof),
                    Ok(n) => Ok(Input::Bytes(n)),
                    // Drained. mio is edge-triggered, so we only hear of new
                    // bytes because we read until this point.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Input::WouldBlock),
                    // A signal interrupted the call: retry.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(ReadFail::Io(e)),
                };
            }
        };
        let mut saw_eof = false;
        loop {
            // Plaintext rustls already decrypted comes first.
            match tls.reader().read(buf) {
                // close_notify: the server ended the stream properly.
                Ok(0) => return Ok(Input::Eof),
                Ok(n) => return Ok(Input::Bytes(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if saw_eof {
                        return Ok(Input::UncleanTlsEof);
                    }
                }
                // TCP FIN without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Input::UncleanTlsEof)
                }
                Err(e) => return Err(ReadFail::Io(e)),
            }
            // Need more ciphertext.
            match tls.read_tls(stream) {
                Ok(n) => {
                    saw_eof |= n == 0;
                    if let Err(e) = tls.process_new_packets() {
                        let _ = flush_tls(tls, stream);
                        return Err(ReadFail::Tls(e));
                    }
                    // Post-handshake messages may need an answer (key update).
                    let _ = flush_tls(tls, stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Input::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadFail::Io(e)),
            }
        }
    }

    fn read_fail_error(&self, f: ReadFail) -> Error {
        match f {
            ReadFail::Io(e) => Error::from_io(self.state.phase(), &e),
            ReadFail::Tls(e) => crate::tls::classify(&e),
        }
    }

    fn read_response(&mut self, registry: &Registry, now: Instant) -> ConnEvent {
        loop {
            self.make_room();
            match self.read_input() {
                Ok(Input::UncleanTlsEof) if self.reader.is_close_delimited() => {
                    // Without close_notify, a close-delimited body may have been
                    // cut short by an attacker: not a clean end.
                    let e = Error::new(
                        Phase::Body,
                        ErrorKind::UnexpectedEof,
                        "TLS connection closed without close_notify inside a close-delimited body",
                    );
                    return self.fail(registry, e, now);
                }
                // End of input. It ends a close-delimited body; anywhere else
                // it is an early EOF.
                Ok(Input::Eof | Input::UncleanTlsEof) => {
                    let result = self.reader.handle_eof();
                    return match result {
                        Ok(_) => {
                            self.got_response_bytes = true;
                            self.close(registry, now);
                            ConnEvent::Done
                        }
                        Err(mut e) => {
                            e.phase = self.state.phase();
                            self.fail(registry, e, now)
                        }
                    };
                }
                Ok(Input::Bytes(n)) => {
                    if !self.got_response_bytes {
                        self.got_response_bytes = true;
                        self.first_byte_at = Some(now);
                    }
                    self.in_end += n;
                    self.last_read = now;
                    if let Some(ev) = self.feed(registry, now) {
                        return ev;
                    }
                }
                Ok(Input::WouldBlock) => return ConnEvent::Pending,
                Err(f) => {
                    let e = self.read_fail_error(f);
                    return self.fail(registry, e, now);
                }
            }
        }
    }

    /// Hands buffered bytes to the reader. `Some` when there is news.
    fn feed(&mut self, registry: &Registry, now: Instant) -> Option<ConnEvent> {
        let input = &self.inbuf[self.in_start..self.in_end];
        match self.reader.handle_bytes(input, &mut self.response) {
            Ok((used, progress)) => {
                self.in_start += used;
                if self.state == ConnState::ReadingHead && self.reader.head_done() {
                    self.set_state(ConnState::ReadingBody, now);
                }
                if progress == Progress::Done {
                    return Some(ConnEvent::Done);
                }
                // Otherwise: an incomplete head stays in the buffer, and a body
                // needs more bytes. Read on.
                None
            }
            Err(e) => Some(self.fail(registry, e, now)),
        }
    }

    /// After [`ConnEvent::Done`]: may this connection carry another request?
    /// Only if the response allows keep-alive and the server sent nothing
    /// beyond it.
    pub fn reusable(&self) -> bool {
        self.state != ConnState::Closed
            && self.reader.keep_alive()
            && self.in_start == self.in_end
            && self.stream.is_some()
    }

    /// Parks the connection in the idle state.
    pub fn make_idle(&mut self, now: Instant) {
        self.request = None;
        self.served += 1;
        self.in_start = 0;
        self.in_end = 0;
        self.set_state(ConnState::Idle, now);
    }

    /// An idle connection became readable: the server closed it (EOF), reset
    /// it, or sent bytes nobody asked for. All of these end it.
    fn check_idle(&mut self, registry: &Registry, now: Instant) -> ConnEvent {
        self.make_room();
        match self.read_input() {
            // A spurious wake-up, a WRITABLE edge, or a TLS message with no
            // plaintext (a session ticket): still open, still idle.
            Ok(Input::WouldBlock) => ConnEvent::Pending,
            _ => {
                self.close(registry, now);
                ConnEvent::IdleClosed
            }
        }
    }
}

/// Writes what rustls has queued until done or `WouldBlock`.
fn flush_tls(tls: &mut rustls::ClientConnection, stream: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `EINPROGRESS`, which some platforms report from `peer_addr` on a socket
/// that is still connecting.
fn libc_einprogress() -> i32 {
    if cfg!(target_os = "linux") {
        115
    } else {
        36
    }
}
