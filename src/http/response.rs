//! The response reader: head parsing with `httparse`, then body framing per
//! RFC 9112 §6.3.

use super::{ChunkedDecoder, Limits, Method, Response, MAX_HEADERS_CAP};
use crate::error::{Error, ErrorKind, Phase};
use std::mem::MaybeUninit;

/// What the reader needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
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
    state: State,
    keep_alive: bool,
    head_bytes_seen: usize,
    /// Keep only this much of the body and end the response there (for a
    /// file read only in part, like robots.txt); `None`: a body over the
    /// limit is an error.
    truncate_at: Option<u64>,
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
            state: State::Head,
            keep_alive: false,
            head_bytes_seen: 0,
            truncate_at: None,
            decoder: None,
        }
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
    ) -> Result<(usize, Progress), Error> {
        let mut used = 0;
        loop {
            match &mut self.state {
                State::Head => match self.parse_head(&input[used..], resp)? {
                    Some(n) => used += n,
                    None => return Ok((used, Progress::NeedMore)),
                },
                State::Body(_) => {
                    let n = self.read_body(&input[used..], resp)?;
                    let progress = if self.is_done() {
                        Progress::Done
                    } else {
                        Progress::NeedMore
                    };
                    return Ok((used + n, progress));
                }
                State::Done => return Ok((used, Progress::Done)),
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
        let decoder = &mut self.decoder;
        let mut sink = |chunk: &[u8]| body_bytes(resp, chunk, &limits, keep, cap, decoder);
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
    pub fn handle_eof(&mut self) -> Result<Progress, Error> {
        match &self.state {
            State::Done => Ok(Progress::Done),
            State::Body(Framing::UntilClose) => {
                self.finish_body()?;
                self.keep_alive = false;
                Ok(Progress::Done)
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
            self.decoder = match (no_body, f.coding) {
                (false, Some(c)) if f.codings == 1 => {
                    Some(Box::new(super::decode::BodyDecoder::new(c)))
                }
                _ => None,
            };
        }
        Ok(framing)
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
        let fields = FramingFields::read(parsed.headers, resp)?;
        let framing = self.choose_framing(code, version, &fields)?;
        #[cfg(feature = "decode")]
        {
            resp.decoded = self.decoder.as_ref().map(|d| d.coding().as_str());
        }
        self.state = match framing {
            Framing::Length(0) => State::Done,
            f => State::Body(f),
        };
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
    /// Content codings named (other than identity), and the last one if
    /// it is one the reader can undo.
    codings: u8,
    #[cfg(feature = "decode")]
    coding: Option<super::decode::Coding>,
}

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
                self.codings = self.codings.saturating_add(1);
                #[cfg(feature = "decode")]
                {
                    self.coding = super::decode::Coding::from_token(token);
                }
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
/// if encoded, then kept. The wire size is capped as well as the decoded.
fn body_bytes(
    resp: &mut Response,
    chunk: &[u8],
    limits: &Limits,
    keep: bool,
    cap: Option<u64>,
    decoder: &mut Decoder,
) -> Result<(), Error> {
    resp.wire_len += chunk.len() as u64;
    #[cfg(feature = "decode")]
    if let Some(d) = decoder {
        if cap.is_none() && resp.wire_len > limits.max_body_bytes {
            return Err(Error::new(
                Phase::Body,
                ErrorKind::TooLarge,
                format!("encoded body over the {} byte limit", limits.max_body_bytes),
            ));
        }
        return d.handle_bytes(chunk, &mut |out| append_body(resp, out, limits, keep, cap));
    }
    #[cfg(not(feature = "decode"))]
    let _ = decoder;
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
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Outcome {
        status: u16,
        body: Vec<u8>,
        keep_alive: bool,
        leftover: Vec<u8>,
    }

    /// Feeds `wire` the way a connection would: bytes are appended to a buffer
    /// in pieces of `step`; consumed bytes are drained. At the end, EOF.
    fn read(wire: &[u8], step: usize, method: Method, limits: Limits) -> Result<Outcome, Error> {
        let mut reader = ResponseReader::new(limits, method, true);
        let mut resp = Response::default();
        let mut buf = Vec::new();
        let mut pos = 0;
        let mut done = false;
        while !done {
            if pos < wire.len() {
                let end = (pos + step).min(wire.len());
                buf.extend_from_slice(&wire[pos..end]);
                pos = end;
                let (used, progress) = reader.handle_bytes(&buf, &mut resp)?;
                buf.drain(..used);
                done = progress == Progress::Done;
            } else {
                done = reader.handle_eof()? == Progress::Done;
            }
        }
        buf.extend_from_slice(&wire[pos..]);
        Ok(Outcome {
            status: resp.status,
            body: resp.body,
            keep_alive: reader.keep_alive(),
            leftover: buf,
        })
    }

    fn read_all_splits(wire: &[u8], method: Method) -> Result<Outcome, Error> {
        let whole = read(wire, wire.len().max(1), method, Limits::default());
        for step in 1..wire.len() {
            let split = read(wire, step, method, Limits::default());
            assert_eq!(split, whole, "step {step} differs");
        }
        whole
    }

    fn ok(status: u16, body: &[u8], keep_alive: bool) -> Outcome {
        Outcome {
            status,
            body: body.to_vec(),
            keep_alive,
            leftover: Vec::new(),
        }
    }

    #[test]
    fn content_length() {
        let r = read_all_splits(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            Method::Get,
        );
        assert_eq!(r.unwrap(), ok(200, b"abc", true));
    }

    #[test]
    fn chunked_with_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                     4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nExpires: never\r\n\r\n";
        assert_eq!(
            read_all_splits(wire, Method::Get).unwrap(),
            ok(200, b"Wikipedia", true)
        );
    }

    #[test]
    fn read_to_close_is_not_reusable() {
        let r = read_all_splits(b"HTTP/1.1 200 OK\r\n\r\nuntil close", Method::Get);
        assert_eq!(r.unwrap(), ok(200, b"until close", false));
        // A transfer coding other than chunked is also read to close.
        let r = read_all_splits(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
            Method::Get,
        );
        assert_eq!(r.unwrap(), ok(200, b"zz", false));
    }

    #[test]
    fn no_body_cases() {
        for wire in [
            &b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"[..],
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(read_all_splits(wire, Method::Get).unwrap().body, b"");
        }
        let r = read_all_splits(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            Method::Head,
        );
        assert_eq!(r.unwrap(), ok(200, b"", true));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n\
                     HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            read_all_splits(wire, Method::Get).unwrap(),
            ok(201, b"ok", true)
        );
    }

    #[test]
    fn keep_alive_rules() {
        let r = read_all_splits(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            Method::Get,
        );
        assert!(!r.unwrap().keep_alive);
        let r = read_all_splits(
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
            Method::Get,
        );
        assert!(!r.unwrap().keep_alive);
        let r = read_all_splits(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
            Method::Get,
        );
        assert!(r.unwrap().keep_alive);
        // Suspect framing (RFC 9112 §6.1, §6.3): the body is read by
        // Transfer-Encoding, but the connection is not reused.
        let r = read_all_splits(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
            Method::Get,
        )
        .unwrap();
        assert_eq!((r.body.as_slice(), r.keep_alive), (&b"x"[..], false));
        let r = read_all_splits(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
            Method::Get,
        )
        .unwrap();
        assert_eq!((r.body.as_slice(), r.keep_alive), (&b"x"[..], false));
    }

    #[test]
    fn bytes_after_the_response_are_left_alone() {
        let r = read_all_splits(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP",
            Method::Get,
        );
        assert_eq!(r.unwrap().leftover, b"HTTP");
    }

    #[test]
    fn content_length_rules() {
        let same = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(read_all_splits(same, Method::Get).unwrap().body, b"ab");
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ] {
            let e = read_all_splits(bad, Method::Get).unwrap_err();
            assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::Malformed));
        }
        // Transfer-Encoding wins over Content-Length.
        let both = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
        assert_eq!(read_all_splits(both, Method::Get).unwrap().body, b"a");
    }

    #[test]
    fn truncated_bodies_are_unexpected_eof() {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ] {
            let e = read_all_splits(wire, Method::Get).unwrap_err();
            assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::UnexpectedEof));
        }
        let e = read_all_splits(b"HTTP/1.1 200 OK\r\nContent-", Method::Get).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::UnexpectedEof));
    }

    #[test]
    fn malformed_heads() {
        for wire in [
            &b"HTTP/1.1 2x0 OK\r\n\r\n"[..],
            b"HTTX/1.1 200 OK\r\n\r\n",
            b"\x00\x01garbage\r\n\r\n",
        ] {
            let e = read_all_splits(wire, Method::Get).unwrap_err();
            assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::Malformed));
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_head_bytes: 100,
            max_headers: 3,
            max_body_bytes: 5,
        };
        let mut big_head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big_head.extend(std::iter::repeat_n(b'a', 200));
        let e = read(&big_head, 7, Method::Get, limits).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::TooLarge));

        let many = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n";
        let e = read(many, 5, Method::Get, limits).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::TooLarge));

        for body in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef"[..],
            b"HTTP/1.1 200 OK\r\n\r\nabcdefghijkl",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
        ] {
            let e = read(body, 4, Method::Get, limits).unwrap_err();
            assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::TooLarge));
        }
    }

    #[test]
    fn obs_fold_is_replaced_with_spaces() {
        let wire = b"HTTP/1.1 200 OK\r\nX-Foo: a\r\n  b\r\nContent-Length: 2\r\nX-Bar: c\r\n\tand d\r\n\r\nok";
        assert_eq!(read_all_splits(wire, Method::Get).unwrap().body, b"ok");
        let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
        let mut resp = Response::default();
        let (used, progress) = reader.handle_bytes(wire, &mut resp).unwrap();
        assert_eq!((used, progress), (wire.len(), Progress::Done));
        assert_eq!(resp.headers.get_str("x-foo"), Some("a    b"));
        assert_eq!(resp.headers.get_str("x-bar"), Some("c  \tand d"));
        // A fold inside a framing header is read as one value too.
        let wire =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(read_all_splits(wire, Method::Get).unwrap().body, b"ok");
    }

    #[test]
    fn headers_are_kept() {
        let mut reader = ResponseReader::new(Limits::default(), Method::Get, false);
        let mut resp = Response::default();
        let wire = b"HTTP/1.1 404 Not Found\r\nServer: t\r\nContent-Length: 4\r\n\r\nnope";
        reader.handle_bytes(wire, &mut resp).unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(resp.headers.get_str("server"), Some("t"));
        assert_eq!(resp.headers.len(), 2);
        assert_eq!(resp.body_len, 4);
        assert!(
            resp.body.is_empty(),
            "keep_body=false counts but does not store"
        );
    }

    #[cfg(feature = "decode")]
    mod decoding {
        use super::*;
        use miniz_oxide::deflate::compress_to_vec_zlib;

        fn page() -> Vec<u8> {
            (0..200)
                .flat_map(|i| format!("<p>paragraph {i}</p>\n").into_bytes())
                .collect()
        }

        fn head(coding: &str, len: Option<usize>) -> Vec<u8> {
            let framing = match len {
                Some(n) => format!("Content-Length: {n}"),
                None => "Transfer-Encoding: chunked".to_string(),
            };
            format!("HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\n{framing}\r\n\r\n")
                .into_bytes()
        }

        fn chunked(body: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            for c in body.chunks(100) {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        }

        #[test]
        fn encoded_bodies_are_decoded_after_de_chunking_and_sizes_reported() {
            let z = compress_to_vec_zlib(&page(), 6);
            let mut by_length = head("deflate", Some(z.len()));
            by_length.extend_from_slice(&z);
            let mut by_chunks = head("deflate", None);
            by_chunks.extend(chunked(&z));
            for wire in [by_length, by_chunks] {
                let o = read_all_splits(&wire, Method::Get).unwrap();
                assert_eq!(o.body, page());
                assert!(o.keep_alive);
                let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
                let mut resp = Response::default();
                reader.handle_bytes(&wire, &mut resp).unwrap();
                assert_eq!(
                    (resp.body_len, resp.wire_len),
                    (page().len() as u64, z.len() as u64)
                );
                assert_eq!(resp.decoded, Some("deflate"));
            }
        }

        #[test]
        fn a_bomb_is_too_large_a_corrupt_body_is_a_decode_error() {
            let big = compress_to_vec_zlib(&vec![0u8; 4 << 20], 9);
            let mut wire = head("deflate", Some(big.len()));
            wire.extend_from_slice(&big);
            let limits = Limits {
                max_body_bytes: 1 << 20,
                ..Limits::default()
            };
            let e = read(&wire, wire.len(), Method::Get, limits).unwrap_err();
            assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::TooLarge));
            let mut bad = compress_to_vec_zlib(&page(), 6);
            let n = bad.len();
            bad[n / 2] ^= 0xff;
            bad[n / 2 + 1] ^= 0xff;
            let mut wire = head("deflate", Some(bad.len()));
            wire.extend_from_slice(&bad);
            let e = read(&wire, wire.len(), Method::Get, Limits::default());
            assert!(
                matches!(&e, Err(e) if e.kind == ErrorKind::Decode)
                    || e.as_ref().is_ok_and(|o| o.body != page()),
                "{e:?}"
            );
            // Cut short: the length says done, the stream does not.
            let z = compress_to_vec_zlib(&page(), 6);
            let mut wire = head("deflate", Some(z.len() - 4));
            wire.extend_from_slice(&z[..z.len() - 4]);
            let e = read(&wire, wire.len(), Method::Get, Limits::default()).unwrap_err();
            assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::Decode));
        }

        #[test]
        fn unknown_or_stacked_codings_and_bodiless_answers_are_left_alone() {
            for coding in ["zstd", "gzip, br"] {
                let mut wire = head(coding, Some(5));
                wire.extend_from_slice(b"as-is");
                let o = read_all_splits(&wire, Method::Get).unwrap();
                assert_eq!(o.body, b"as-is", "{coding}");
            }
            let wire = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 300\r\n\r\n";
            let o = read_all_splits(wire, Method::Head).unwrap();
            assert_eq!(o.body, b"");
        }
    }
}
