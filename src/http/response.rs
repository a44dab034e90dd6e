//! The response reader: head parsing with `httparse`, then body framing per
//! RFC 9112 §6.3.

use super::{ChunkedDecoder, Limits, Method, Response, MAX_HEADERS_CAP};
use crate::error::{Error, ErrorKind, Phase};
use std::mem::MaybeUninit;

/// What the reader needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadProgress {
    /// More bytes are needed (or, for a close-delimited body, the end of input).
    NeedMore,
    /// The response is complete.
    Done,
}

/// How the body's end is known (RFC 9112 §6.3).
#[derive(Clone, Debug)]
enum Framing {
    /// Exactly this many bytes remain.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(ChunkedDecoder),
    /// The body ends when the server closes the connection.
    UntilClose,
}

#[derive(Clone, Debug)]
enum State {
    Head,
    Body(Framing),
    Done,
}

/// Reads one response from the bytes of a connection. Sans-IO: feed it with
/// [`handle_bytes`](ResponseReader::handle_bytes) and tell it about the end of
/// input with [`handle_eof`](ResponseReader::handle_eof).
#[derive(Debug)]
pub struct ResponseReader {
    limits: Limits,
    method: Method,
    keep_body: bool,
    /// Keep the head as received and the body before decoding
    /// ([`Response::wire`]).
    keep_wire: bool,
    state: State,
    keep_alive: bool,
    head_bytes_seen: usize,
    /// Keep only this much of the body and end the response there (for a
    /// file read only in part, like robots.txt); `None`: a body over the
    /// limit is an error.
    truncate_at: Option<u64>,
    /// The body limit the reader was made with (a request may set another:
    /// [`set_max_body`](Self::set_max_body)).
    default_max_body: u64,
    /// Undoes the body's content coding, when it has one we know.
    decoder: Decoder,
}

/// The content decoder of a body (none without the `decode` feature).
#[cfg(feature = "decode")]
type Decoder = Option<Box<super::decode::BodyDecoder>>;
#[cfg(not(feature = "decode"))]
type Decoder = Option<std::convert::Infallible>;

fn head_error(kind: ErrorKind, detail: impl Into<String>) -> Error {
    Error::new(Phase::Head, kind, detail)
}

impl ResponseReader {
    /// A reader for the response to a `method` request. With `keep_body` false
    /// the body is counted but not stored.
    pub fn new(limits: Limits, method: Method, keep_body: bool) -> ResponseReader {
        ResponseReader {
            limits,
            method,
            keep_body,
            keep_wire: false,
            state: State::Head,
            keep_alive: false,
            head_bytes_seen: 0,
            truncate_at: None,
            default_max_body: limits.max_body_bytes,
            decoder: None,
        }
    }

    /// From the next response on: this body size limit (`None`: the one
    /// the reader was made with).
    pub fn set_max_body(&mut self, max: Option<u64>) {
        self.limits.max_body_bytes = max.unwrap_or(self.default_max_body);
    }

    /// From the next response on: keep only the first `at` bytes of a body
    /// and end the response there, whatever the body size limit says (the
    /// connection is then not reused: the rest of the body is not read).
    /// `None`: a body over the limit is a `body: too_large` error.
    pub fn set_truncate_at(&mut self, at: Option<u64>) {
        self.truncate_at = at;
    }

    /// Readies the reader for the next response on the same connection.
    /// Keep the next bodies (true) or only count them (false).
    pub fn set_keep_body(&mut self, keep: bool) {
        self.keep_body = keep;
    }

    /// From the next response on: keep the head as received and the body
    /// before content decoding in [`Response::wire`] (for archives).
    pub fn set_keep_wire(&mut self, keep: bool) {
        self.keep_wire = keep;
    }

    pub fn reset(&mut self, method: Method) {
        self.method = method;
        self.state = State::Head;
        self.keep_alive = false;
        self.head_bytes_seen = 0;
        self.decoder = None;
    }

    /// True once a final (non-1xx) head has been parsed.
    pub fn head_done(&self) -> bool {
        !matches!(self.state, State::Head)
    }

    /// True while reading a body that ends when the connection closes (the
    /// case where a TLS EOF without close_notify could be a truncation).
    pub fn is_close_delimited(&self) -> bool {
        matches!(self.state, State::Body(Framing::UntilClose))
    }

    /// True once the whole response has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// May the connection carry another request after this response? Only when
    /// the response is complete, was framed by length or chunks (not by close),
    /// and the server agreed to keep the connection open.
    pub fn keep_alive(&self) -> bool {
        self.is_done() && self.keep_alive
    }

    /// Consumes bytes from `input` into `resp`. Returns how many bytes were used
    /// and whether the response is complete. Bytes of an incomplete head are
    /// not consumed: call again with the same bytes plus more.
    pub fn handle_bytes(
        &mut self,
        input: &[u8],
        resp: &mut Response,
    ) -> Result<(usize, ReadProgress), Error> {
        let mut used = 0;
        loop {
            match &mut self.state {
                State::Head => match self.parse_head(&input[used..], resp)? {
                    Some(n) => used += n,
                    None => return Ok((used, ReadProgress::NeedMore)),
                },
                State::Body(_) => {
                    let n = self.read_body(&input[used..], resp)?;
                    let progress = if self.is_done() {
                        ReadProgress::Done
                    } else {
                        ReadProgress::NeedMore
                    };
                    return Ok((used + n, progress));
                }
                State::Done => return Ok((used, ReadProgress::Done)),
            }
        }
    }

    /// Body bytes: framed, de-chunked, decoded, counted and kept. Returns how
    /// many were used.
    fn read_body(&mut self, rest: &[u8], resp: &mut Response) -> Result<usize, Error> {
        let State::Body(framing) = &mut self.state else {
            return Ok(0);
        };
        let (limits, keep, cap) = (self.limits, self.keep_body, self.truncate_at);
        let (decoder, wire) = (&mut self.decoder, self.keep_wire);
        let mut sink = |chunk: &[u8]| body_bytes(resp, chunk, &limits, (keep, wire), cap, decoder);
        let mut used = 0;
        let mut ended = false;
        match framing {
            Framing::Length(remaining) => {
                let take = (*remaining).min(rest.len() as u64) as usize;
                sink(&rest[..take])?;
                *remaining -= take as u64;
                used += take;
                ended = *remaining == 0;
            }
            Framing::Chunked(chunks) => {
                used += chunks.handle_bytes(rest, &mut sink)?;
                ended = chunks.is_done();
            }
            Framing::UntilClose => {
                sink(rest)?;
                used += rest.len();
            }
        }
        if cap.is_some_and(|cap| resp.body_len >= cap) {
            // Enough: the response ends here, the rest of the body (maybe
            // endless) is never read, and a cut stream is no error.
            self.state = State::Done;
            self.keep_alive = false;
            return Ok(rest.len());
        }
        if ended {
            self.finish_body()?;
        }
        Ok(used)
    }

    /// The body is complete: a decoded one must have ended its stream.
    fn finish_body(&mut self) -> Result<(), Error> {
        self.state = State::Done;
        #[cfg(feature = "decode")]
        if let Some(d) = &mut self.decoder {
            d.finish()?;
        }
        Ok(())
    }

    /// The connection reached end of input. Completes a close-delimited body;
    /// anything else unfinished is an `unexpected_eof` error in its phase.
    pub fn handle_eof(&mut self) -> Result<ReadProgress, Error> {
        match &self.state {
            State::Done => Ok(ReadProgress::Done),
            State::Body(Framing::UntilClose) => {
                self.finish_body()?;
                self.keep_alive = false;
                Ok(ReadProgress::Done)
            }
            State::Body(Framing::Length(remaining)) => Err(Error::new(
                Phase::Body,
                ErrorKind::UnexpectedEof,
                format!("connection closed with {remaining} body bytes missing"),
            )),
            State::Body(Framing::Chunked(_)) => Err(Error::new(
                Phase::Body,
                ErrorKind::UnexpectedEof,
                "connection closed inside a chunked body",
            )),
            State::Head => Err(head_error(
                ErrorKind::UnexpectedEof,
                "connection closed before a complete response head",
            )),
        }
    }

    /// RFC 9112 §6.3: how the body is framed, and whether the connection
    /// may be reused after it.
    fn choose_framing(
        &mut self,
        code: u16,
        version: u8,
        f: &FramingFields,
    ) -> Result<Framing, Error> {
        self.keep_alive = !f.close && (version == 1 || f.keep_alive);
        if f.transfer_encoding && (f.content_length.is_some() || version == 0) {
            // Both framings at once (a smuggling shape), or Transfer-Encoding
            // in HTTP/1.0: the framing is suspect, so the connection is not
            // reused after this response (RFC 9112 §6.1, §6.3).
            self.keep_alive = false;
        }
        let no_body = self.method == Method::Head || code == 204 || code == 304 || code == 101;
        let framing = if no_body {
            if code == 101 {
                self.keep_alive = false;
            }
            Framing::Length(0)
        } else if f.transfer_encoding {
            if f.chunked {
                Framing::Chunked(ChunkedDecoder::new(self.limits.max_head_bytes))
            } else {
                Framing::UntilClose
            }
        } else if let Some(len) = f.content_length {
            if len > self.limits.max_body_bytes && self.truncate_at.is_none() {
                return Err(Error::new(
                    Phase::Body,
                    ErrorKind::TooLarge,
                    format!(
                        "Content-Length {len} over the {} byte limit",
                        self.limits.max_body_bytes
                    ),
                ));
            }
            Framing::Length(len)
        } else {
            Framing::UntilClose
        };
        if matches!(framing, Framing::UntilClose) {
            self.keep_alive = false;
        }
        #[cfg(feature = "decode")]
        {
            // Every coding known, at most MAX_CODINGS: undone in the
            // reverse of their order (the last applied is undone first).
            let n = usize::from(f.codings);
            let listed = &f.coding[..n.min(MAX_CODINGS)];
            self.decoder = match listed.iter().copied().collect::<Option<Vec<_>>>() {
                Some(codings) if !no_body && n > 0 && n <= MAX_CODINGS => {
                    Some(Box::new(super::decode::BodyDecoder::chain(&codings)))
                }
                _ => None,
            };
        }
        Ok(framing)
    }

    /// Whether responses keep their wire bytes (for archives).
    pub fn keeps_wire(&self) -> bool {
        self.keep_wire
    }

    /// A head that came as fields, not bytes (an HTTP/2 response head,
    /// checked by `h2::bridge`): the same limits, framing and decoding as a
    /// parsed HTTP/1.1 head, without writing it out and parsing it again.
    /// An interim (1xx) head is skipped. The body then comes through
    /// [`handle_bytes`](Self::handle_bytes).
    pub fn handle_head_fields<'a>(
        &mut self,
        status: u16,
        fields: impl Iterator<Item = (&'a str, &'a [u8])>,
        resp: &mut Response,
    ) -> Result<ReadProgress, Error> {
        if (100..200).contains(&status) && status != 101 {
            return Ok(ReadProgress::NeedMore);
        }
        let max_headers = self.limits.max_headers.min(MAX_HEADERS_CAP);
        resp.status = status;
        resp.version = 1;
        resp.headers.clear();
        let mut f = FramingFields::default();
        for (n, (name, value)) in fields.enumerate() {
            if n == max_headers {
                return Err(head_error(
                    ErrorKind::TooLarge,
                    format!("more than {max_headers} header fields"),
                ));
            }
            resp.headers.push(name, value);
            f.read_field(name, value)?;
        }
        self.accept_head(status, 1, &f, resp)?;
        Ok(if self.is_done() {
            ReadProgress::Done
        } else {
            ReadProgress::NeedMore
        })
    }

    /// A final head was read: its framing, decoder and next state.
    fn accept_head(
        &mut self,
        code: u16,
        version: u8,
        fields: &FramingFields,
        resp: &mut Response,
    ) -> Result<(), Error> {
        let framing = self.choose_framing(code, version, fields)?;
        #[cfg(feature = "decode")]
        {
            resp.decoded = self.decoder.as_ref().map(|d| d.coding().as_str());
        }
        #[cfg(not(feature = "decode"))]
        let _ = resp;
        self.state = match framing {
            Framing::Length(0) => State::Done,
            f => State::Body(f),
        };
        Ok(())
    }

    /// Tries to parse a head from `input`. `Ok(None)`: incomplete.
    fn parse_head(&mut self, input: &[u8], resp: &mut Response) -> Result<Option<usize>, Error> {
        let max_headers = self.limits.max_headers.min(MAX_HEADERS_CAP);
        let mut storage: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS_CAP] =
            [const { MaybeUninit::uninit() }; MAX_HEADERS_CAP];
        let mut parsed = httparse::Response::new(&mut []);
        // Uninitialized header storage: a 256-slot array costs nothing to set up,
        // so every parse attempt (one per read while a head is incomplete) is cheap.
        // RFC 9112 §5.2: a user agent must accept obs-fold (a header value
        // continued on a line starting with a space or tab) and replace it
        // with spaces; httparse leaves the fold in the value for us to do so.
        let status = httparse::ParserConfig::default()
            .allow_obsolete_multiline_headers_in_responses(true)
            .parse_response_with_uninit_headers(&mut parsed, input, &mut storage[..max_headers]);
        let n = match status {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if self.head_bytes_seen + input.len() > self.limits.max_head_bytes {
                    return Err(head_error(
                        ErrorKind::TooLarge,
                        format!("response head over {} bytes", self.limits.max_head_bytes),
                    ));
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(head_error(
                    ErrorKind::TooLarge,
                    format!("more than {max_headers} header fields"),
                ))
            }
            Err(e) => return Err(head_error(ErrorKind::Malformed, format!("bad head: {e}"))),
        };
        self.head_bytes_seen += n;
        if self.head_bytes_seen > self.limits.max_head_bytes {
            return Err(head_error(
                ErrorKind::TooLarge,
                format!("response head over {} bytes", self.limits.max_head_bytes),
            ));
        }
        let code = parsed.code.unwrap_or(0);
        let version = parsed.version.unwrap_or(1);
        if (100..200).contains(&code) && code != 101 {
            // Interim response (100 Continue, 103 Early Hints...): skip it and
            // parse the final head that follows.
            return Ok(Some(n));
        }
        resp.status = code;
        resp.version = version;
        if self.keep_wire {
            let w = resp.wire_mut();
            w.head.clear();
            w.head.extend_from_slice(&input[..n]);
        }
        let fields = FramingFields::read(parsed.headers, resp)?;
        self.accept_head(code, version, &fields, resp)?;
        Ok(Some(n))
    }
}

/// What a head's fields say about framing and reuse.
#[derive(Default)]
struct FramingFields {
    content_length: Option<u64>,
    transfer_encoding: bool,
    /// The last transfer coding is `chunked`.
    chunked: bool,
    close: bool,
    keep_alive: bool,
    /// Content codings named (other than identity), and the first
    /// [`MAX_CODINGS`] of them (`None`: one the reader cannot undo).
    codings: u8,
    #[cfg(feature = "decode")]
    coding: [Option<super::decode::Coding>; MAX_CODINGS],
}

/// Content codings undone in a chain (`gzip, gzip`; `deflate, br`): more
/// are left as they came.
#[cfg(feature = "decode")]
const MAX_CODINGS: usize = 3;

impl FramingFields {
    /// Copies the fields into `resp` (obs-folds unfolded to spaces) and reads
    /// the framing ones.
    fn read(headers: &[httparse::Header<'_>], resp: &mut Response) -> Result<Self, Error> {
        resp.headers.clear();
        let mut f = FramingFields::default();
        let mut unfolded = Vec::new();
        for h in headers {
            let value = if h.value.iter().any(|&b| b == b'\r' || b == b'\n') {
                unfolded.clear();
                unfolded.extend(h.value.iter().map(|&b| match b {
                    b'\r' | b'\n' => b' ',
                    b => b,
                }));
                &unfolded[..]
            } else {
                h.value
            };
            resp.headers.push(h.name, value);
            f.read_field(h.name, value)?;
        }
        Ok(f)
    }

    fn read_field(&mut self, name: &str, value: &[u8]) -> Result<(), Error> {
        if name.eq_ignore_ascii_case("content-length") {
            for part in value.split(|&b| b == b',') {
                let v = parse_content_length(part)?;
                if self.content_length.is_some_and(|old| old != v) {
                    return Err(head_error(
                        ErrorKind::Malformed,
                        "conflicting Content-Length values",
                    ));
                }
                self.content_length = Some(v);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.transfer_encoding = true;
            // Only the last coding decides (RFC 9112 §6.3 rule 4).
            let last = value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            self.chunked = trim(last).eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("content-encoding") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.is_empty() || token.eq_ignore_ascii_case(b"identity") {
                    continue;
                }
                #[cfg(feature = "decode")]
                if let Some(slot) = self.coding.get_mut(usize::from(self.codings)) {
                    *slot = super::decode::Coding::from_token(token);
                }
                self.codings = self.codings.saturating_add(1);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim(token);
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(())
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn parse_content_length(v: &[u8]) -> Result<u64, Error> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(head_error(
            ErrorKind::Malformed,
            format!("bad Content-Length {:?}", String::from_utf8_lossy(v)),
        ));
    }
    Ok(v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// Body bytes as they came (after de-chunking): counted on the wire, decoded
/// if encoded, then kept (`keep.0`; `keep.1`: an encoded body is kept as it
/// came too). The wire size is capped as well as the decoded.
fn body_bytes(
    resp: &mut Response,
    chunk: &[u8],
    limits: &Limits,
    keep: (bool, bool),
    cap: Option<u64>,
    decoder: &mut Decoder,
) -> Result<(), Error> {
    let (keep, keep_wire) = keep;
    resp.wire_len += chunk.len() as u64;
    #[cfg(feature = "decode")]
    if let Some(d) = decoder {
        // The wire is capped as well as what it decodes to, for a body read
        // only for its first bytes (a robots.txt: `cap`, which ends the
        // read once reached) too: one that decodes to nothing (empty
        // deflate blocks, streamed forever) never reaches it. Such a body
        // may take 20 times its cap on the wire, whatever the page limit.
        let limit = cap.map_or(limits.max_body_bytes, |c| {
            limits.max_body_bytes.max(c.saturating_mul(20))
        });
        if resp.wire_len > limit {
            return Err(Error::new(
                Phase::Body,
                ErrorKind::TooLarge,
                format!("encoded body over the {limit} byte limit"),
            ));
        }
        if keep_wire {
            resp.wire_mut().encoded_body.extend_from_slice(chunk);
        }
        return d.handle_bytes(chunk, &mut |out| append_body(resp, out, limits, keep, cap));
    }
    #[cfg(not(feature = "decode"))]
    let _ = (decoder, keep_wire);
    append_body(resp, chunk, limits, keep, cap)
}

fn append_body(
    resp: &mut Response,
    chunk: &[u8],
    limits: &Limits,
    keep: bool,
    truncate_at: Option<u64>,
) -> Result<(), Error> {
    if let Some(cap) = truncate_at {
        let room = cap.saturating_sub(resp.body_len).min(chunk.len() as u64) as usize;
        resp.body_len += room as u64;
        if keep {
            resp.body.extend_from_slice(&chunk[..room]);
        }
        return Ok(());
    }
    resp.body_len += chunk.len() as u64;
    if resp.body_len > limits.max_body_bytes {
        return Err(Error::new(
            Phase::Body,
            ErrorKind::TooLarge,
            format!("body over the {} byte limit", limits.max_body_bytes),
        ));
    }
    if keep {
        resp.body.extend_from_slice(chunk);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
