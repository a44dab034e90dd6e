//! An HTTP/2 client connection (RFC 9113), sans-IO: bytes in, events out,
//! bytes to send; no socket, no clock (the request's own timeouts, kept by
//! its owner, end a stream whose window never opens).
//!
//! Usage contract, quinn-proto's shape:
//! - **inputs** — [`handle_bytes`](H2Conn::handle_bytes) with what the
//!   server sent (after TLS); [`open_stream`](H2Conn::open_stream) for a
//!   request; [`handle_consumed`](H2Conn::handle_consumed) when a stream's
//!   body bytes were taken (its window reopens);
//!   [`cancel`](H2Conn::cancel) a stream no longer wanted.
//! - **outputs** — [`poll_transmit`](H2Conn::poll_transmit): bytes to
//!   write (the preface and our SETTINGS first); [`poll_event`](H2Conn::poll_event):
//!   a stream's head, body bytes, end, reset, or the connection's GOAWAY.
//!   Drain both after every input.
//!
//! Each stream is a [`StreamState`] named as in RFC 9113 §5.1; a client
//! stream goes idle → open (or half-closed (local) when the request has no
//! body) → half-closed (remote) or closed.

use super::frame::{self, code, Frame, FrameError, Settings};
use super::hpack::{Decoder, Encoder, HeaderList, HpackError};
use std::collections::{HashMap, VecDeque};

/// Our side's limits, announced in our SETTINGS.
#[derive(Clone, Copy, Debug)]
pub struct H2Config {
    /// SETTINGS_INITIAL_WINDOW_SIZE: how much of a body the server may send
    /// before we reopen the stream's window.
    pub stream_window: u32,
    /// The connection's receive window (opened to this at the start).
    pub conn_window: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: a response head's limit.
    pub max_header_list: u32,
    /// SETTINGS_MAX_FRAME_SIZE.
    pub max_frame_size: u32,
    /// The most CONTINUATION frames one header block may take (the 2024
    /// CONTINUATION-flood class: each costs work and none ends the block).
    pub max_continuations: u32,
    /// PINGs answered and not yet written: more is a flood.
    pub max_pending_pings: usize,
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            stream_window: 1 << 20,
            conn_window: 16 << 20,
            max_header_list: 64 * 1024,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            max_continuations: 16,
            max_pending_pings: 16,
        }
    }
}

/// A stream's state (RFC 9113 §5.1, the states a client stream passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// The request is being sent (it has a body).
    Open,
    /// The request is sent whole; the response comes.
    HalfClosedLocal,
    /// The response ended, the request body is still being sent.
    HalfClosedRemote,
    /// Both sides ended, or it was reset.
    Closed,
}

/// What the connection tells its owner.
#[derive(Debug, PartialEq, Eq)]
pub enum H2Event {
    /// A stream's response head (or trailers, when `end_stream` after data).
    Headers {
        /// The stream.
        stream: u32,
        /// The decoded fields (`:status` among them).
        fields: HeaderList,
        /// No body follows.
        end_stream: bool,
    },
    /// Body bytes of a stream.
    Data {
        /// The stream.
        stream: u32,
        /// The bytes.
        data: Vec<u8>,
        /// The last of them.
        end_stream: bool,
    },
    /// The server reset a stream (`REFUSED_STREAM`: never processed, safe
    /// to retry).
    Reset {
        /// The stream.
        stream: u32,
        /// Why.
        code: u32,
    },
    /// The server is closing: streams above `last_stream` were not
    /// processed (each also gets a `Reset` with `REFUSED_STREAM`, to retry
    /// on a new connection); the others finish.
    GoAway {
        /// The highest stream the server acted on.
        last_stream: u32,
        /// Why.
        code: u32,
    },
}

/// A connection error: the connection is done (a GOAWAY with `code` is
/// queued for the server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Error {
    /// The RFC 9113 error code.
    pub code: u32,
    /// What was wrong.
    pub what: String,
}

impl std::fmt::Display for H2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (h2 error {:#x})", self.what, self.code)
    }
}

impl std::error::Error for H2Error {}

impl From<FrameError> for H2Error {
    fn from(e: FrameError) -> Self {
        H2Error {
            code: e.code,
            what: e.what.into(),
        }
    }
}

impl From<HpackError> for H2Error {
    fn from(e: HpackError) -> Self {
        let code = match e {
            HpackError::ListTooLarge => code::PROTOCOL_ERROR,
            _ => code::COMPRESSION_ERROR,
        };
        H2Error {
            code,
            what: format!("header block: {e}"),
        }
    }
}

fn error(code: u32, what: &str) -> H2Error {
    H2Error {
        code,
        what: what.into(),
    }
}

struct Stream {
    state: StreamState,
    /// How much more the server may send on it.
    recv_window: i64,
    /// Received and not yet handed back through `handle_consumed`.
    unacked: u32,
}

/// A header block being gathered from HEADERS and CONTINUATIONs.
struct Gathering {
    stream: u32,
    block: Vec<u8>,
    end_stream: bool,
    continuations: u32,
}

/// The connection. See the [module docs](self).
pub struct H2Conn {
    config: H2Config,
    peer: Settings,
    encoder: Encoder,
    decoder: Decoder,
    streams: HashMap<u32, Stream>,
    next_stream: u32,
    /// Streams not closed (counted against the server's limit).
    active: usize,
    recv_buf: Vec<u8>,
    out: Vec<u8>,
    events: VecDeque<H2Event>,
    gathering: Option<Gathering>,
    conn_recv_window: i64,
    conn_unacked: u32,
    /// How much request body the server takes before a WINDOW_UPDATE.
    conn_send_window: i64,
    pending_pings: usize,
    goaway: Option<u32>,
    failed: Option<H2Error>,
}

impl H2Conn {
    /// A connection whose preface and SETTINGS wait in `poll_transmit`.
    pub fn new(config: H2Config) -> H2Conn {
        let mut out = frame::PREFACE.to_vec();
        frame::write_settings(
            &mut out,
            &[
                (0x2, 0), // ENABLE_PUSH: no server push
                (0x4, config.stream_window),
                (0x5, config.max_frame_size),
                (0x6, config.max_header_list),
            ],
        );
        let default_window = 65_535u32;
        if config.conn_window > default_window {
            frame::write_window_update(&mut out, 0, config.conn_window - default_window);
        }
        H2Conn {
            config,
            peer: Settings::default(),
            encoder: Encoder::new(4096),
            decoder: Decoder::new(4096, config.max_header_list as usize),
            streams: HashMap::new(),
            next_stream: 1,
            active: 0,
            recv_buf: Vec::new(),
            out,
            events: VecDeque::new(),
            gathering: None,
            conn_recv_window: i64::from(config.conn_window.max(default_window)),
            conn_unacked: 0,
            conn_send_window: i64::from(default_window),
            pending_pings: 0,
            goaway: None,
            failed: None,
        }
    }

    /// The server's settings as last received.
    pub fn peer_settings(&self) -> &Settings {
        &self.peer
    }

    /// A stream's state (`None`: never opened, or forgotten once closed).
    pub fn stream_state(&self, stream: u32) -> Option<StreamState> {
        self.streams.get(&stream).map(|s| s.state)
    }

    /// Can another request start here now? Not after GOAWAY or an error,
    /// and not beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn can_open(&self) -> bool {
        let limit = self.peer.max_concurrent_streams.unwrap_or(u32::MAX) as usize;
        self.goaway.is_none() && self.failed.is_none() && self.active < limit
    }

    /// Starts a request: its header block (pseudo-headers first) and
    /// whether a body follows. `None` when [`can_open`](Self::can_open)
    /// says no.
    pub fn open_stream(&mut self, fields: &[(&[u8], &[u8])], end_stream: bool) -> Option<u32> {
        if !self.can_open() || self.next_stream > 0x7fff_ffff {
            return None;
        }
        let id = self.next_stream;
        self.next_stream += 2;
        let mut block = Vec::new();
        self.encoder.encode(fields, &mut block);
        frame::write_headers(
            &mut self.out,
            id,
            &block,
            end_stream,
            self.peer.max_frame_size,
        );
        let state = if end_stream {
            StreamState::HalfClosedLocal
        } else {
            StreamState::Open
        };
        let recv_window = i64::from(self.config.stream_window);
        self.streams.insert(
            id,
            Stream {
                state,
                recv_window,
                unacked: 0,
            },
        );
        self.active += 1;
        Some(id)
    }

    /// Sends the whole body of `stream` (opened with `end_stream` false)
    /// and ends it, if the server's windows take all of it now; false
    /// otherwise (nothing is sent: oneloop's request bodies are small
    /// forms, and waiting for windows to open is not built).
    #[must_use]
    pub fn send_body(&mut self, stream: u32, body: &[u8]) -> bool {
        let fits = body.len() as i64 <= self.conn_send_window
            && body.len() as u64 <= u64::from(self.peer.initial_window_size);
        match self.streams.get_mut(&stream) {
            Some(s) if fits && s.state == StreamState::Open => {
                s.state = StreamState::HalfClosedLocal;
            }
            _ => return false,
        }
        self.conn_send_window -= body.len() as i64;
        let max = self.peer.max_frame_size.max(1) as usize;
        let mut chunks = body.chunks(max).peekable();
        if chunks.peek().is_none() {
            frame::write_data(&mut self.out, stream, b"", true);
        }
        while let Some(chunk) = chunks.next() {
            frame::write_data(&mut self.out, stream, chunk, chunks.peek().is_none());
        }
        true
    }

    /// Streams not closed.
    pub fn active_streams(&self) -> usize {
        self.active
    }

    /// The owner took `n` body bytes of `stream`: once half a window is
    /// taken, WINDOW_UPDATEs reopen the stream's and the connection's.
    pub fn handle_consumed(&mut self, stream: u32, n: u32) {
        self.conn_unacked += n;
        if self.conn_unacked >= self.config.conn_window / 2 {
            frame::write_window_update(&mut self.out, 0, self.conn_unacked);
            self.conn_recv_window += i64::from(self.conn_unacked);
            self.conn_unacked = 0;
        }
        let half = self.config.stream_window / 2;
        if let Some(s) = self.streams.get_mut(&stream) {
            s.unacked += n;
            let open = matches!(s.state, StreamState::Open | StreamState::HalfClosedLocal);
            if open && s.unacked >= half {
                frame::write_window_update(&mut self.out, stream, s.unacked);
                s.recv_window += i64::from(s.unacked);
                s.unacked = 0;
            }
        }
    }

    /// The owner no longer wants `stream` (its deadline passed): RST_STREAM
    /// CANCEL, and it is closed.
    pub fn cancel(&mut self, stream: u32) {
        if self.close(stream) {
            frame::write_rst_stream(&mut self.out, stream, code::CANCEL);
        }
    }

    /// Bytes to send, appended to `out`. True if there were any.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        self.pending_pings = 0;
        if self.out.is_empty() {
            return false;
        }
        out.append(&mut self.out);
        true
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<H2Event> {
        self.events.pop_front()
    }

    /// Bytes from the server. A connection error closes the connection:
    /// a GOAWAY with its code is queued, and every later call fails too.
    pub fn handle_bytes(&mut self, data: &[u8]) -> Result<(), H2Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = if self.recv_buf.is_empty() {
            // The usual case: whole frames straight from the input; only a
            // frame cut at its end is kept.
            let (used, result) = self.handle_frames(data);
            self.recv_buf.extend_from_slice(&data[used..]);
            result
        } else {
            // A kept partial frame first, then the rest, from one buffer.
            let mut buf = std::mem::take(&mut self.recv_buf);
            buf.extend_from_slice(data);
            let (used, result) = self.handle_frames(&buf);
            buf.drain(..used);
            if !buf.is_empty() {
                self.recv_buf = buf; // (else its memory goes back)
            }
            result
        };
        if let Err(e) = &result {
            frame::write_goaway(&mut self.out, e.code);
            self.failed = Some(e.clone());
        }
        result
    }

    /// Handles the whole frames at the start of `input`: how many bytes
    /// they took, and how it went.
    fn handle_frames(&mut self, input: &[u8]) -> (usize, Result<(), H2Error>) {
        let mut at = 0;
        loop {
            let (f, used) = match frame::parse(&input[at..], self.config.max_frame_size) {
                Ok(Some(x)) => x,
                Ok(None) => return (at, Ok(())),
                Err(e) => return (at, Err(H2Error::from(e))),
            };
            // (The frame borrows the input; what it says is copied out.)
            let owned = OwnedFrame::from(f);
            at += used;
            if let Err(e) = self.handle_frame(owned) {
                return (at, Err(e));
            }
        }
    }

    /// Gives back what an idle connection holds beyond its state: the
    /// buffers and tables a burst of streams grew (a crawl may keep a
    /// thousand idle connections).
    pub fn release_memory(&mut self) {
        if self.recv_buf.is_empty() {
            self.recv_buf = Vec::new();
        }
        if self.out.is_empty() {
            self.out = Vec::new();
        }
        if self.streams.is_empty() {
            self.streams = HashMap::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// The server's SETTINGS: applied whole (or refused whole), and acked.
    fn handle_settings(&mut self, payload: &[u8]) -> Result<(), H2Error> {
        let before = self.peer;
        self.peer.apply(payload)?;
        if self.peer.header_table_size != before.header_table_size {
            let size = self.peer.header_table_size.min(4096) as usize;
            self.encoder.set_max_table_size(size);
        }
        frame::write_settings_ack(&mut self.out);
        Ok(())
    }

    /// A PING is answered, unless too many answers are still unsent.
    fn handle_ping(&mut self, data: [u8; 8]) -> Result<(), H2Error> {
        self.pending_pings += 1;
        if self.pending_pings > self.config.max_pending_pings {
            return Err(error(0xb, "PING flood")); // ENHANCE_YOUR_CALM
        }
        frame::write_ping(&mut self.out, data, true);
        Ok(())
    }

    fn handle_frame(&mut self, f: OwnedFrame) -> Result<(), H2Error> {
        if let Some(g) = &self.gathering {
            // §6.10: nothing but its CONTINUATIONs while a block is open.
            if !matches!(&f, OwnedFrame::Continuation { stream, .. } if *stream == g.stream) {
                return Err(error(code::PROTOCOL_ERROR, "frame inside a header block"));
            }
        }
        match f {
            OwnedFrame::Settings { ack: true, .. } => {}
            OwnedFrame::Settings {
                ack: false,
                payload,
            } => self.handle_settings(&payload)?,
            OwnedFrame::Ping { ack: false, data } => self.handle_ping(data)?,
            OwnedFrame::Ping { ack: true, .. } => {}
            OwnedFrame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
            } => {
                // A stream we opened and closed since (cancelled, reset):
                // the server may have sent before it saw our RST_STREAM.
                // The block is still decoded (the HPACK table must stay in
                // step), then dropped (§5.1, "closed").
                if stream >= self.next_stream || stream.is_multiple_of(2) {
                    return Err(error(
                        code::PROTOCOL_ERROR,
                        "HEADERS on a stream we did not open",
                    ));
                }
                let g = Gathering {
                    stream,
                    block,
                    end_stream,
                    continuations: 0,
                };
                self.gather(g, end_headers)?;
            }
            OwnedFrame::Continuation {
                stream,
                block,
                end_headers,
            } => {
                let Some(mut g) = self.gathering.take().filter(|g| g.stream == stream) else {
                    return Err(error(code::PROTOCOL_ERROR, "CONTINUATION without HEADERS"));
                };
                g.continuations += 1;
                if g.continuations > self.config.max_continuations {
                    return Err(error(0xb, "too many CONTINUATION frames"));
                }
                if g.block.len() + block.len() > self.config.max_header_list as usize {
                    return Err(error(code::PROTOCOL_ERROR, "header block too large"));
                }
                g.block.extend_from_slice(&block);
                self.gather(g, end_headers)?;
            }
            OwnedFrame::Data {
                stream,
                data,
                end_stream,
                flow,
            } => self.data(stream, data, end_stream, flow)?,
            OwnedFrame::RstStream { stream, code } => {
                if self.close(stream) {
                    self.events.push_back(H2Event::Reset { stream, code });
                }
            }
            OwnedFrame::GoAway { last_stream, code } => self.go_away(last_stream, code),
            OwnedFrame::PushPromise => {
                return Err(error(
                    code::PROTOCOL_ERROR,
                    "PUSH_PROMISE although push is off",
                ));
            }
            // Request bodies are sent whole or not at all (`send_body`):
            // only the connection's send window is kept.
            OwnedFrame::WindowUpdate {
                stream: 0,
                increment,
            } => {
                self.conn_send_window += i64::from(increment);
            }
            // PRIORITY and unknown frames are ignored.
            OwnedFrame::WindowUpdate { .. } | OwnedFrame::Ignored => {}
        }
        Ok(())
    }

    /// A header block fragment arrived; decode the block once it is whole.
    fn gather(&mut self, g: Gathering, end_headers: bool) -> Result<(), H2Error> {
        if !end_headers {
            self.gathering = Some(g);
            return Ok(());
        }
        let fields = self.decoder.decode(&g.block)?;
        let stream = g.stream;
        if !self.streams.contains_key(&stream) {
            return Ok(()); // closed by us meanwhile: dropped
        }
        self.events.push_back(H2Event::Headers {
            stream,
            fields,
            end_stream: g.end_stream,
        });
        if g.end_stream {
            self.remote_ended(stream);
        }
        Ok(())
    }

    fn data(&mut self, stream: u32, data: Vec<u8>, end: bool, flow: u32) -> Result<(), H2Error> {
        self.conn_recv_window -= i64::from(flow);
        if self.conn_recv_window < 0 {
            return Err(error(
                code::FLOW_CONTROL_ERROR,
                "DATA beyond the connection window",
            ));
        }
        if stream >= self.next_stream || stream.is_multiple_of(2) {
            return Err(error(
                code::PROTOCOL_ERROR,
                "DATA on a stream we did not open",
            ));
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            // A stream we cancelled: its bytes still count for the
            // connection, and are handed back at once.
            self.handle_consumed(0, flow);
            return Ok(());
        };
        s.recv_window -= i64::from(flow);
        if s.recv_window < 0 {
            return Err(error(
                code::FLOW_CONTROL_ERROR,
                "DATA beyond the stream window",
            ));
        }
        // Padding costs window but is never consumed by the owner.
        let padding = flow - data.len() as u32;
        self.events.push_back(H2Event::Data {
            stream,
            data,
            end_stream: end,
        });
        if padding > 0 {
            self.handle_consumed(stream, padding);
        }
        if end {
            self.remote_ended(stream);
        }
        Ok(())
    }

    fn remote_ended(&mut self, stream: u32) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        match s.state {
            StreamState::Open => s.state = StreamState::HalfClosedRemote,
            _ => {
                self.close(stream);
            }
        }
    }

    /// Closes `stream`; true if it was not closed already.
    fn close(&mut self, stream: u32) -> bool {
        match self.streams.remove(&stream) {
            Some(s) if s.state != StreamState::Closed => {
                self.active -= 1;
                true
            }
            _ => false,
        }
    }

    fn go_away(&mut self, last_stream: u32, code: u32) {
        self.goaway = Some(last_stream);
        self.events.push_back(H2Event::GoAway { last_stream, code });
        let mut refused: Vec<u32> = self
            .streams
            .keys()
            .copied()
            .filter(|&id| id > last_stream)
            .collect();
        refused.sort_unstable();
        for stream in refused {
            self.close(stream);
            self.events.push_back(H2Event::Reset {
                stream,
                code: code::REFUSED_STREAM,
            });
        }
    }
}

/// A frame's content, copied out of the read buffer.
enum OwnedFrame {
    Data {
        stream: u32,
        data: Vec<u8>,
        end_stream: bool,
        flow: u32,
    },
    Headers {
        stream: u32,
        block: Vec<u8>,
        end_stream: bool,
        end_headers: bool,
    },
    Continuation {
        stream: u32,
        block: Vec<u8>,
        end_headers: bool,
    },
    Settings {
        ack: bool,
        payload: Vec<u8>,
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    RstStream {
        stream: u32,
        code: u32,
    },
    GoAway {
        last_stream: u32,
        code: u32,
    },
    PushPromise,
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Ignored,
}

impl From<Frame<'_>> for OwnedFrame {
    fn from(f: Frame<'_>) -> Self {
        match f {
            Frame::Data {
                stream,
                data,
                end_stream,
                flow,
            } => OwnedFrame::Data {
                stream,
                data: data.to_vec(),
                end_stream,
                flow,
            },
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
            } => OwnedFrame::Headers {
                stream,
                block: block.to_vec(),
                end_stream,
                end_headers,
            },
            Frame::Continuation {
                stream,
                block,
                end_headers,
            } => OwnedFrame::Continuation {
                stream,
                block: block.to_vec(),
                end_headers,
            },
            Frame::Settings { ack, payload } => OwnedFrame::Settings {
                ack,
                payload: payload.to_vec(),
            },
            Frame::Ping { ack, data } => OwnedFrame::Ping { ack, data },
            Frame::RstStream { stream, code } => OwnedFrame::RstStream { stream, code },
            Frame::GoAway {
                last_stream, code, ..
            } => OwnedFrame::GoAway { last_stream, code },
            Frame::PushPromise { .. } => OwnedFrame::PushPromise,
            Frame::WindowUpdate { stream, increment } => {
                OwnedFrame::WindowUpdate { stream, increment }
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => OwnedFrame::Ignored,
        }
    }
}

#[cfg(test)]
mod tests;
