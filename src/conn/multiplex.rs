//! The `Multiplexed` state: an HTTP/2 connection carrying many requests,
//! each a stream. The connection's part ([`Session`]) holds the sans-IO
//! [`H2Conn`] and, per stream, the same [`ResponseReader`] an HTTP/1.1
//! exchange uses, fed through the [`bridge`](crate::h2::bridge): the head
//! as checked fields (written as HTTP/1.1 only for an archive), the DATA
//! bytes, END_STREAM as the end of input.
//!
//! Streams end one by one ([`StreamEnd`], drained by the connection
//! table); a connection error ends every stream left, each with an error
//! in the phase its own exchange was in.

use super::{Conn, ConnEvent, ConnState, PhaseTimeouts, StreamEnd};
use crate::error::{Error, ErrorKind, Phase};
use crate::h2::bridge;
use crate::h2::conn::{H2Config, H2Conn, H2Event};
use crate::h2::frame::code;
use crate::http::{Limits, Method, ReadProgress, Response, ResponseReader};
use std::collections::VecDeque;
use std::io;
use std::time::Instant;

/// One stream's exchange.
struct StreamIo {
    id: u32,
    reader: ResponseReader,
    response: Response,
    /// The HTTP/1.1 request, when the exchange is archived.
    request: Vec<u8>,
    sent_at: Instant,
    last_read: Instant,
    first_byte_at: Option<Instant>,
}

/// The HTTP/2 side of a connection in `Multiplexed`.
pub(crate) struct Session {
    h2: H2Conn,
    streams: Vec<StreamIo>,
    ends: VecDeque<StreamEnd>,
    /// The next request's HTTP/1.1 bytes (the table's request buffer).
    pub request: Vec<u8>,
    /// When the last stream ended (the connection idles from then on).
    idle_since: Instant,
}

impl Session {
    fn new(limits: Limits, now: Instant) -> Session {
        let config = H2Config {
            max_header_list: limits.max_head_bytes.min(u32::MAX as usize) as u32,
            ..H2Config::default()
        };
        Session {
            h2: H2Conn::new(config),
            streams: Vec::new(),
            ends: VecDeque::new(),
            request: Vec::new(),
            idle_since: now,
        }
    }

    /// The last stream ended: the connection idles from `now`, and gives
    /// back what a burst of streams grew (a crawl may keep a thousand idle
    /// connections; benches/h2_origins.sh measures them).
    fn went_idle(&mut self, now: Instant) {
        self.idle_since = now;
        self.streams = Vec::new();
        self.request = Vec::new();
        self.h2.release_memory();
    }

    fn index(&self, stream: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == stream)
    }

    /// Opens a stream for the request in `self.request`, read by `reader`
    /// into `response` (the request kept too when the reader keeps the
    /// wire, for an archive).
    fn open(
        &mut self,
        reader: ResponseReader,
        response: Response,
        now: Instant,
    ) -> Result<u32, Error> {
        let fields = bridge::request_fields(&self.request)?;
        let body = fields.body(&self.request);
        let list = fields.fields(&self.request, b"https");
        let refused = || {
            Error::new(
                Phase::Send,
                ErrorKind::Refused,
                "no stream may open on this HTTP/2 connection now",
            )
        };
        let id = self
            .h2
            .open_stream(&list, body.is_empty())
            .ok_or_else(refused)?;
        if !body.is_empty() && !self.h2.send_body(id, body) {
            self.h2.cancel(id);
            return Err(Error::new(
                Phase::Send,
                ErrorKind::TooLarge,
                "request body larger than the server's HTTP/2 window",
            ));
        }
        let request = match reader.keeps_wire() {
            true => self.request.clone(),
            false => Vec::new(),
        };
        self.streams.push(StreamIo {
            id,
            reader,
            response,
            request,
            sent_at: now,
            last_read: now,
            first_byte_at: None,
        });
        Ok(id)
    }

    /// Bytes from the server: frames in, streams' heads and bodies fed to
    /// their readers, ended streams queued.
    fn handle_bytes(&mut self, data: &[u8], now: Instant) -> Result<(), Error> {
        let result = self.h2.handle_bytes(data);
        while let Some(event) = self.h2.poll_event() {
            self.on_event(event, now);
        }
        result.map_err(|e| Error::new(Phase::Body, ErrorKind::Protocol, e.to_string()))
    }

    fn on_event(&mut self, event: H2Event, now: Instant) {
        match event {
            H2Event::Headers {
                stream,
                fields,
                end_stream,
            } => {
                let Some(i) = self.index(stream) else { return };
                let s = &mut self.streams[i];
                s.first_byte_at.get_or_insert(now);
                s.last_read = now;
                // Trailers (a second head after the final one) are read and
                // dropped, as the HTTP/1.1 reader drops chunked trailers.
                if !s.reader.head_done() {
                    let fed = bridge::check_response_head(&fields).and_then(|status| {
                        let regular = bridge::regular_fields(&fields);
                        s.reader
                            .handle_head_fields(status, regular, &mut s.response)
                    });
                    if let Err(e) = fed {
                        return self.fail(i, e);
                    }
                    if s.reader.keeps_wire() && s.reader.head_done() {
                        // Archived: the final head as HTTP/1.1, for the record.
                        let head = &mut s.response.wire_mut().head;
                        let _ = bridge::response_head(&fields, head);
                    }
                }
                if end_stream {
                    self.finish(i);
                }
            }
            H2Event::Data {
                stream,
                data,
                end_stream,
            } => {
                let Some(i) = self.index(stream) else { return };
                self.h2.handle_consumed(stream, data.len() as u32);
                let s = &mut self.streams[i];
                s.last_read = now;
                match s.reader.handle_bytes(&data, &mut s.response) {
                    Err(e) => self.fail(i, e),
                    // Done before END_STREAM: a body cut at `truncate_at`
                    // (the rest is not wanted), or more DATA than its
                    // Content-Length (malformed, RFC 9113 §8.1.1).
                    Ok((used, ReadProgress::Done)) if !end_stream || used < data.len() => {
                        if used < data.len() {
                            let e = Error::new(
                                Phase::Body,
                                ErrorKind::Malformed,
                                "h2: more DATA than the content-length said",
                            );
                            return self.fail(i, e);
                        }
                        self.h2.cancel(stream);
                        self.finish(i);
                    }
                    Ok(_) if end_stream => self.finish(i),
                    Ok(_) => {}
                }
            }
            H2Event::Reset { stream, code } => {
                let Some(i) = self.index(stream) else { return };
                let e = if code == code::REFUSED_STREAM {
                    // Never processed (RFC 9113 §8.7): safe to send again.
                    Error::new(
                        Phase::Send,
                        ErrorKind::Refused,
                        "the server refused the HTTP/2 stream (REFUSED_STREAM or GOAWAY)",
                    )
                } else {
                    let phase = self.stream_phase(i);
                    Error::new(
                        phase,
                        ErrorKind::Reset,
                        format!("the server reset the HTTP/2 stream (code {code:#x})"),
                    )
                };
                self.fail(i, e);
            }
            // Streams above its last-stream-id come as `Reset`s; the rest
            // finish; no new stream opens (`can_open`).
            H2Event::GoAway { .. } => {}
        }
    }

    fn stream_phase(&self, i: usize) -> Phase {
        if self.streams[i].reader.head_done() {
            Phase::Body
        } else {
            Phase::Head
        }
    }

    /// The stream's END_STREAM: its reader's end of input.
    fn finish(&mut self, i: usize) {
        let mut s = self.streams.swap_remove(i);
        match s.reader.handle_eof() {
            Ok(_) => self.ends.push_back(StreamEnd::Done {
                stream: s.id,
                response: std::mem::take(&mut s.response),
                request: s.request,
                first_byte_at: s.first_byte_at,
            }),
            Err(e) => self.ends.push_back(StreamEnd::Failed {
                stream: s.id,
                error: e,
                got_response_bytes: s.first_byte_at.is_some(),
                first_byte_at: s.first_byte_at,
            }),
        }
    }

    /// Ends stream `i` with `error` (RST_STREAM CANCEL to the server).
    fn fail(&mut self, i: usize, error: Error) {
        let s = self.streams.swap_remove(i);
        self.h2.cancel(s.id);
        self.ends.push_back(StreamEnd::Failed {
            stream: s.id,
            error,
            got_response_bytes: s.first_byte_at.is_some(),
            first_byte_at: s.first_byte_at,
        });
    }

    /// The connection failed: every stream left ends with `error`, in its
    /// own phase (a stream with no byte yet fails in `head`).
    fn fail_all(&mut self, error: &Error) {
        while !self.streams.is_empty() {
            let mut e = error.clone();
            if e.phase == Phase::Body {
                e.phase = self.stream_phase(0);
            }
            let s = self.streams.swap_remove(0);
            self.ends.push_back(StreamEnd::Failed {
                stream: s.id,
                error: e,
                got_response_bytes: s.first_byte_at.is_some(),
                first_byte_at: s.first_byte_at,
            });
        }
    }

    /// The earliest deadline: a stream's head or body-idle timeout, or
    /// with no stream, the idle connection's.
    fn poll_timeout(&self, t: &PhaseTimeouts) -> Option<Instant> {
        if self.streams.is_empty() {
            return Some(self.idle_since + t.idle);
        }
        self.streams
            .iter()
            .map(|s| match s.reader.head_done() {
                true => s.last_read + t.body_idle,
                false => s.sent_at + t.head,
            })
            .min()
    }
}

impl<S: io::Read + io::Write> Conn<S> {
    /// After the TLS handshake: the server chose `h2` (ALPN). The request
    /// prepared as HTTP/1.1 becomes the first stream; the connection stays
    /// `Multiplexed` from now on.
    pub(super) fn start_multiplexed(&mut self, now: Instant) -> Result<(), Error> {
        let mut session = Box::new(Session::new(self.limits, now));
        std::mem::swap(&mut session.request, &mut self.io.out);
        self.io.out_pos = 0;
        self.h2 = Some(session);
        self.set_state(ConnState::Multiplexed, now);
        self.open_stream(now).map(|_| ())
    }

    /// Whether this connection speaks HTTP/2.
    pub fn is_multiplexed(&self) -> bool {
        self.h2.is_some()
    }

    /// Whether another request may start here now (HTTP/2 only: not after
    /// GOAWAY, and not beyond the server's concurrent stream limit).
    pub fn can_open_stream(&self) -> bool {
        self.state == ConnState::Multiplexed && self.h2.as_ref().is_some_and(|s| s.h2.can_open())
    }

    /// Streams in flight (HTTP/2).
    pub fn open_streams(&self) -> usize {
        self.h2.as_ref().map_or(0, |s| s.streams.len())
    }

    /// HTTP/2 with no stream in flight: since when (else `None`).
    pub fn idle_since(&self) -> Option<Instant> {
        let s = self.h2.as_ref()?;
        s.streams.is_empty().then_some(s.idle_since)
    }

    /// Starts the request prepared in the request buffer as a new stream
    /// (after [`begin_request`](Self::begin_request) and the per-request
    /// settings): the connection's reader and response go with it. Drive
    /// the connection next, to send it.
    pub fn open_stream(&mut self, now: Instant) -> Result<u32, Error> {
        let Some(session) = &mut self.h2 else {
            return Err(Error::new(
                Phase::Send,
                ErrorKind::Io,
                "not an HTTP/2 connection",
            ));
        };
        let reader = std::mem::replace(
            &mut self.reader,
            ResponseReader::new(self.limits, Method::Get, true),
        );
        let response = std::mem::take(&mut self.response);
        session.open(reader, response, now)
    }

    /// The next stream that ended, if any (drain after every `drive`).
    #[must_use]
    pub fn poll_stream_end(&mut self) -> Option<StreamEnd> {
        self.h2.as_mut()?.ends.pop_front()
    }

    /// The request on `stream` is no longer wanted: RST_STREAM CANCEL (sent
    /// at the next `drive`).
    pub fn cancel_stream(&mut self, stream: u32, now: Instant) {
        if let Some(s) = &mut self.h2 {
            if let Some(i) = s.index(stream) {
                s.streams.swap_remove(i);
                s.h2.cancel(stream);
                if s.streams.is_empty() {
                    s.went_idle(now);
                }
            }
        }
    }

    /// The `Multiplexed` step: what the session has to send goes out, what
    /// the server sent comes in, until the socket would block both ways.
    /// `Streams` when some stream ended (see [`poll_stream_end`](Self::poll_stream_end)).
    pub(super) fn step_multiplexed(
        &mut self,
        net: &mut impl super::net::Net<Stream = S>,
        now: Instant,
    ) -> ConnEvent {
        if let Err(e) = self.multiplexed_io(net, now) {
            return self.fail_multiplexed(net, e, now);
        }
        let Some(session) = &mut self.h2 else {
            return ConnEvent::Pending;
        };
        if session.streams.is_empty() && !session.ends.is_empty() {
            session.went_idle(now);
            if self.io.out_pos == self.io.out.len() {
                self.io.out = Vec::new();
                self.io.out_pos = 0;
            }
        }
        if session.ends.is_empty() {
            ConnEvent::Pending
        } else {
            ConnEvent::Streams
        }
    }

    /// Writes the frames of newly opened streams, without reading: the
    /// last read drained the socket (reads stop only at WouldBlock), so the
    /// next bytes come with a readiness event, not from a read now.
    pub fn flush_streams(
        &mut self,
        net: &mut impl super::net::Net<Stream = S>,
        now: Instant,
    ) -> ConnEvent {
        if self.state != ConnState::Multiplexed {
            return ConnEvent::Pending;
        }
        match self.flush_session(net) {
            Ok(()) => ConnEvent::Pending,
            Err(e) => self.fail_multiplexed(net, e, now),
        }
    }

    fn multiplexed_io(
        &mut self,
        net: &mut impl super::net::Net<Stream = S>,
        now: Instant,
    ) -> Result<(), Error> {
        loop {
            self.flush_session(net)?;
            let Some(session) = &mut self.h2 else {
                return Ok(());
            };
            match self.io.read_input(net.scratch()) {
                Ok(super::pump::Input::Bytes(n)) => {
                    session.handle_bytes(&net.scratch()[..n], now)?;
                }
                // Drained: the next bytes come with the next readiness edge.
                Ok(super::pump::Input::WouldBlock) => {
                    // Answers to what was read (SETTINGS ACK, WINDOW_UPDATE)
                    // go out now.
                    return self.flush_session(net);
                }
                Ok(super::pump::Input::Eof | super::pump::Input::UncleanTlsEof) => {
                    return Err(Error::new(
                        Phase::Body,
                        ErrorKind::UnexpectedEof,
                        "the server closed the HTTP/2 connection",
                    ));
                }
                Err(f) => return Err(self.read_fail_error(f)),
            }
        }
    }

    /// Writes what the session queued; WRITABLE only while some is left.
    fn flush_session(&mut self, net: &mut impl super::net::Net<Stream = S>) -> Result<(), Error> {
        let Some(session) = &mut self.h2 else {
            return Ok(());
        };
        if self.io.out_pos == self.io.out.len() {
            self.io.out.clear();
            self.io.out_pos = 0;
        }
        session.h2.poll_transmit(&mut self.io.out);
        if self.io.out.is_empty() {
            return Ok(());
        }
        let sent = self
            .io
            .write_out()
            .map_err(|e| Error::from_io(Phase::Send, &e))?;
        if sent {
            self.io.out.clear();
            self.io.out_pos = 0;
        }
        // A full socket buffer: hear when it drains.
        self.set_writable(net, !sent)
            .map_err(|e| Error::from_io(Phase::Send, &e))
    }

    /// The connection failed: every stream left ends with the error, then
    /// the connection closes. With no stream in flight, the server merely
    /// closed an idle connection.
    fn fail_multiplexed(
        &mut self,
        net: &mut impl super::net::Net<Stream = S>,
        e: Error,
        now: Instant,
    ) -> ConnEvent {
        let carrying = self.open_streams() > 0;
        if let Some(s) = &mut self.h2 {
            s.fail_all(&e);
        }
        self.close(net, now);
        match carrying {
            true => ConnEvent::Failed(e),
            false => ConnEvent::IdleClosed,
        }
    }

    /// `Multiplexed`'s deadline (see [`Session::poll_timeout`]).
    pub(super) fn multiplexed_timeout(&self, t: &PhaseTimeouts) -> Option<Instant> {
        self.h2.as_ref()?.poll_timeout(t)
    }

    /// A `Multiplexed` deadline passed: streams past theirs fail with a
    /// typed timeout (the connection carries on); an idle connection past
    /// its idle timeout closes.
    pub(super) fn handle_multiplexed_timeout(
        &mut self,
        net: &mut impl super::net::Net<Stream = S>,
        t: &PhaseTimeouts,
        now: Instant,
    ) -> ConnEvent {
        let Some(s) = &mut self.h2 else {
            return ConnEvent::Pending;
        };
        if s.streams.is_empty() {
            if s.idle_since + t.idle <= now {
                self.close(net, now);
                return ConnEvent::IdleExpired;
            }
            return ConnEvent::Pending;
        }
        let mut i = 0;
        while i < s.streams.len() {
            let st = &s.streams[i];
            let (deadline, what, phase) = match st.reader.head_done() {
                true => (st.last_read + t.body_idle, "body idle timeout", Phase::Body),
                false => (st.sent_at + t.head, "response head timeout", Phase::Head),
            };
            if deadline <= now {
                s.fail(i, Error::new(phase, ErrorKind::Timeout, what));
            } else {
                i += 1;
            }
        }
        if s.streams.is_empty() {
            s.went_idle(now);
        }
        // The RST_STREAMs go out at once.
        if let Err(e) = self.flush_session(net) {
            return self.fail_multiplexed(net, e, now);
        }
        match self.h2.as_ref().is_some_and(|s| !s.ends.is_empty()) {
            true => ConnEvent::Streams,
            false => ConnEvent::Pending,
        }
    }
}
