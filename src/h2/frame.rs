//! HTTP/2 frames (RFC 9113 §4, §6): parsing what a server sends, zero-copy
//! and bounded, and writing what a client sends.
//!
//! [`parse`] is httparse-shaped: give it the bytes read so far; it answers
//! `Ok(None)` (not a whole frame yet), or the first frame and how many
//! bytes it took, or a typed [`FrameError`] carrying the RFC's error code
//! (a connection error: GOAWAY and close). Frames longer than our
//! SETTINGS_MAX_FRAME_SIZE are refused from their 9-byte header, before
//! their payload is waited for.
//!
//! ```
//! use oneloop::h2::frame::{self, Frame};
//!
//! let mut wire = Vec::new();
//! frame::write_ping(&mut wire, [7; 8], true);
//! let (f, used) = frame::parse(&wire, 16_384).unwrap().unwrap();
//! assert_eq!(f, Frame::Ping { ack: true, data: [7; 8] });
//! assert_eq!(used, 17);
//! ```

/// What a client sends first, before its SETTINGS (§3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A frame header's length.
pub const HEAD_LEN: usize = 9;

/// The smallest SETTINGS_MAX_FRAME_SIZE (and the default, §6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// RFC 9113 §7 error codes used here.
pub mod code {
    /// NO_ERROR.
    pub const NO_ERROR: u32 = 0x0;
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 0x1;
    /// FLOW_CONTROL_ERROR.
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    /// FRAME_SIZE_ERROR.
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    /// REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 0x7;
    /// CANCEL.
    pub const CANCEL: u32 = 0x8;
    /// COMPRESSION_ERROR.
    pub const COMPRESSION_ERROR: u32 = 0x9;
}

/// A frame a server sent, borrowing its payload from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA: `flow` is what it costs the flow-control windows (padding
    /// included, §6.1).
    Data {
        /// Its stream.
        stream: u32,
        /// The data, padding removed.
        data: &'a [u8],
        /// The last frame of the stream.
        end_stream: bool,
        /// The whole payload's length.
        flow: u32,
    },
    /// HEADERS: a header block fragment (priority fields and padding
    /// removed).
    Headers {
        /// Its stream.
        stream: u32,
        /// The fragment.
        block: &'a [u8],
        /// No DATA follows.
        end_stream: bool,
        /// No CONTINUATION follows.
        end_headers: bool,
    },
    /// PRIORITY: read and ignored (§5.3.2 deprecates the scheme).
    Priority {
        /// Its stream.
        stream: u32,
    },
    /// RST_STREAM: the server ended a stream.
    RstStream {
        /// Its stream.
        stream: u32,
        /// Why (REFUSED_STREAM: safe to retry).
        code: u32,
    },
    /// SETTINGS, as raw (identifier, value) pairs: see [`Settings::apply`].
    Settings {
        /// An acknowledgement of ours (no payload).
        ack: bool,
        /// Six bytes per setting.
        payload: &'a [u8],
    },
    /// PUSH_PROMISE: refused by SETTINGS_ENABLE_PUSH = 0, so its arrival is
    /// a protocol error for the connection to report.
    PushPromise {
        /// Its stream.
        stream: u32,
    },
    /// PING: an ack of ours, or one to answer.
    Ping {
        /// An answer to ours.
        ack: bool,
        /// Opaque data to echo.
        data: [u8; 8],
    },
    /// GOAWAY: streams above `last_stream` were not processed (retry them
    /// elsewhere); the rest finish.
    GoAway {
        /// The highest stream the server may have acted on.
        last_stream: u32,
        /// Why.
        code: u32,
        /// Debug data, for the log.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE: `stream` 0 is the connection.
    WindowUpdate {
        /// Its stream (0: the connection).
        stream: u32,
        /// How much more may be sent (1..2^31-1).
        increment: u32,
    },
    /// CONTINUATION: more of a header block.
    Continuation {
        /// Its stream.
        stream: u32,
        /// The fragment.
        block: &'a [u8],
        /// The last one.
        end_headers: bool,
    },
    /// A frame type this client does not know: ignored (§5.5).
    Unknown {
        /// Its type.
        kind: u8,
    },
}

/// Why bytes are not an acceptable frame: a connection error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// The RFC 9113 error code to send in GOAWAY.
    pub code: u32,
    /// What was wrong.
    pub what: &'static str,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (h2 error {:#x})", self.what, self.code)
    }
}

impl std::error::Error for FrameError {}

fn err(code: u32, what: &'static str) -> FrameError {
    FrameError { code, what }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The first frame in `buf`, and the bytes it took; `Ok(None)` when `buf`
/// does not hold a whole one yet. `max_frame_size` is the
/// SETTINGS_MAX_FRAME_SIZE we announced.
pub fn parse(buf: &[u8], max_frame_size: u32) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if buf.len() < HEAD_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
    if len > max_frame_size {
        return Err(err(
            code::FRAME_SIZE_ERROR,
            "frame larger than SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    let total = HEAD_LEN + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let (kind, flags) = (buf[3], buf[4]);
    let stream = u32_at(buf, 5) & 0x7fff_ffff;
    let p = &buf[HEAD_LEN..total];
    let frame = match kind {
        0x4 | 0x6 | 0x7 | 0x8 => connection_frame(kind, flags, stream, p)?,
        0x0..=0x3 | 0x5 | 0x9 => stream_frame(kind, flags, stream, p)?,
        kind => Frame::Unknown { kind },
    };
    Ok(Some((frame, total)))
}

/// DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION: the
/// frames of one stream.
fn stream_frame(kind: u8, flags: u8, stream: u32, p: &[u8]) -> Result<Frame<'_>, FrameError> {
    let len = p.len() as u32;
    Ok(match kind {
        0x0 | 0x1 | 0x9 if stream == 0 => {
            return Err(err(code::PROTOCOL_ERROR, "stream frame on stream 0"));
        }
        0x0 => Frame::Data {
            stream,
            data: unpad(p, flags)?,
            end_stream: flags & END_STREAM != 0,
            flow: len,
        },
        0x1 => {
            let mut block = unpad(p, flags)?;
            if flags & PRIORITY != 0 {
                block = block.get(5..).ok_or(err(
                    code::FRAME_SIZE_ERROR,
                    "HEADERS too short for its priority",
                ))?;
            }
            Frame::Headers {
                stream,
                block,
                end_stream: flags & END_STREAM != 0,
                end_headers: flags & END_HEADERS != 0,
            }
        }
        0x2 => {
            if len != 5 {
                return Err(err(code::FRAME_SIZE_ERROR, "PRIORITY of the wrong size"));
            }
            Frame::Priority { stream }
        }
        0x3 => {
            if len != 4 {
                return Err(err(code::FRAME_SIZE_ERROR, "RST_STREAM of the wrong size"));
            }
            if stream == 0 {
                return Err(err(code::PROTOCOL_ERROR, "RST_STREAM on stream 0"));
            }
            Frame::RstStream {
                stream,
                code: u32_at(p, 0),
            }
        }
        0x5 => Frame::PushPromise { stream },
        0x9 => Frame::Continuation {
            stream,
            block: p,
            end_headers: flags & END_HEADERS != 0,
        },
        kind => Frame::Unknown { kind }, // (parse routes none here)
    })
}

/// SETTINGS, PING, GOAWAY, WINDOW_UPDATE: the connection's frames (and
/// WINDOW_UPDATE, a stream's too).
fn connection_frame(kind: u8, flags: u8, stream: u32, p: &[u8]) -> Result<Frame<'_>, FrameError> {
    let len = p.len() as u32;
    Ok(match kind {
        0x4 => {
            if stream != 0 {
                return Err(err(code::PROTOCOL_ERROR, "SETTINGS on a stream"));
            }
            let ack = flags & ACK != 0;
            if (ack && len != 0) || !len.is_multiple_of(6) {
                return Err(err(code::FRAME_SIZE_ERROR, "SETTINGS of the wrong size"));
            }
            Frame::Settings { ack, payload: p }
        }
        0x6 => {
            if stream != 0 {
                return Err(err(code::PROTOCOL_ERROR, "PING on a stream"));
            }
            let data: [u8; 8] = p
                .try_into()
                .map_err(|_| err(code::FRAME_SIZE_ERROR, "PING of the wrong size"))?;
            Frame::Ping {
                ack: flags & ACK != 0,
                data,
            }
        }
        0x7 => {
            if stream != 0 {
                return Err(err(code::PROTOCOL_ERROR, "GOAWAY on a stream"));
            }
            if len < 8 {
                return Err(err(code::FRAME_SIZE_ERROR, "GOAWAY too short"));
            }
            Frame::GoAway {
                last_stream: u32_at(p, 0) & 0x7fff_ffff,
                code: u32_at(p, 4),
                debug: &p[8..],
            }
        }
        0x8 => {
            if len != 4 {
                return Err(err(
                    code::FRAME_SIZE_ERROR,
                    "WINDOW_UPDATE of the wrong size",
                ));
            }
            let increment = u32_at(p, 0) & 0x7fff_ffff;
            if increment == 0 {
                // (On a stream this is a stream error; treated as the
                // connection's here, the stricter reading.)
                return Err(err(code::PROTOCOL_ERROR, "WINDOW_UPDATE of 0"));
            }
            Frame::WindowUpdate { stream, increment }
        }
        kind => Frame::Unknown { kind }, // (parse routes none here)
    })
}

/// A DATA or HEADERS payload without its padding (§6.1).
fn unpad(p: &[u8], flags: u8) -> Result<&[u8], FrameError> {
    if flags & PADDED == 0 {
        return Ok(p);
    }
    let Some((&pad, rest)) = p.split_first() else {
        return Err(err(
            code::FRAME_SIZE_ERROR,
            "padded frame without its pad length",
        ));
    };
    if pad as usize > rest.len() {
        return Err(err(code::PROTOCOL_ERROR, "padding longer than the frame"));
    }
    Ok(&rest[..rest.len() - pad as usize])
}

/// The server's settings (§6.5.2), from their defaults as SETTINGS
/// frames change them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// SETTINGS_HEADER_TABLE_SIZE: our encoder's table may be this big.
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (`None`: unlimited).
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window.
    pub initial_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE: the largest frame we may send.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (advisory; `None`: unlimited).
    pub max_header_list_size: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            header_table_size: 4096,
            max_concurrent_streams: None,
            initial_window_size: 65_535,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

impl Settings {
    /// Applies a SETTINGS payload (six bytes per setting, in order);
    /// illegal values are the errors §6.5.2 names; unknown identifiers are
    /// ignored. Nothing is applied if any value is illegal.
    pub fn apply(&mut self, payload: &[u8]) -> Result<(), FrameError> {
        let mut next = *self;
        for s in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([s[0], s[1]]);
            let value = u32_at(s, 2);
            match id {
                0x1 => next.header_table_size = value,
                // A server must not send ENABLE_PUSH 1 (§6.5.2, RFC 8441).
                0x2 if value > 1 => {
                    return Err(err(code::PROTOCOL_ERROR, "ENABLE_PUSH not 0 or 1"))
                }
                0x3 => next.max_concurrent_streams = Some(value),
                0x4 if value > 0x7fff_ffff => {
                    return Err(err(
                        code::FLOW_CONTROL_ERROR,
                        "INITIAL_WINDOW_SIZE above 2^31-1",
                    ))
                }
                0x4 => next.initial_window_size = value,
                0x5 if !(DEFAULT_MAX_FRAME_SIZE..=0xff_ffff).contains(&value) => {
                    return Err(err(code::PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range"))
                }
                0x5 => next.max_frame_size = value,
                0x6 => next.max_header_list_size = Some(value),
                _ => {}
            }
        }
        *self = next;
        Ok(())
    }
}

// ---- writing (the client's frames) ----

fn head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = len as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// SETTINGS with these (identifier, value) pairs.
pub fn write_settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    head(out, settings.len() * 6, 0x4, 0, 0);
    for &(id, value) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// The acknowledgement of the server's SETTINGS.
pub fn write_settings_ack(out: &mut Vec<u8>) {
    head(out, 0, 0x4, ACK, 0);
}

/// A header block as HEADERS plus as many CONTINUATIONs as
/// `max_frame_size` (the server's) requires.
pub fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    let max = (max_frame_size as usize).max(1);
    let mut chunks = block.chunks(max).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let last = chunks.peek().is_none();
    let flags = if end_stream { END_STREAM } else { 0 } | if last { END_HEADERS } else { 0 };
    head(out, first.len(), 0x1, flags, stream);
    out.extend_from_slice(first);
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        head(
            out,
            chunk.len(),
            0x9,
            if last { END_HEADERS } else { 0 },
            stream,
        );
        out.extend_from_slice(chunk);
    }
}

/// DATA (a request body's part, at most the server's frame size).
pub fn write_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool) {
    head(
        out,
        data.len(),
        0x0,
        if end_stream { END_STREAM } else { 0 },
        stream,
    );
    out.extend_from_slice(data);
}

/// WINDOW_UPDATE (`stream` 0: the connection's window).
pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    head(out, 4, 0x8, 0, stream);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

/// PING, or the answer to one (`ack`).
pub fn write_ping(out: &mut Vec<u8>, data: [u8; 8], ack: bool) {
    head(out, 8, 0x6, if ack { ACK } else { 0 }, 0);
    out.extend_from_slice(&data);
}

/// RST_STREAM (a request the crawl no longer wants: CANCEL).
pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: u32) {
    head(out, 4, 0x3, 0, stream);
    out.extend_from_slice(&code.to_be_bytes());
}

/// GOAWAY (we close: no server push was ever accepted, so the last stream
/// we processed is 0).
pub fn write_goaway(out: &mut Vec<u8>, code: u32) {
    head(out, 8, 0x7, 0, 0);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
}

#[cfg(test)]
mod tests;
