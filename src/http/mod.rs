//! Sans-IO HTTP/1.1 (RFC 9112): request encoding, response head parsing and body
//! framing.
//!
//! Nothing here touches a socket or a clock. [`encode_request`] appends a request
//! to a buffer; [`ResponseReader`] takes the bytes that arrived and fills a
//! [`Response`], telling the caller how many bytes it consumed and whether the
//! response is complete. Every limit (head size, header count, body size) is a
//! field of [`Limits`], and every violation is a typed [`Error`](crate::Error).
//!
//! ```
//! use oneloop::http::{encode_request, Limits, Method, ReadProgress, Response, ResponseReader};
//! use oneloop::url::Url;
//!
//! let mut out = Vec::new();
//! let url = Url::parse("http://example.test/hello").unwrap();
//! encode_request(&mut out, Method::Get, &url, &[], b"", "oneloop-doc");
//! assert!(out.starts_with(b"GET /hello HTTP/1.1\r\nHost: example.test\r\n"));
//!
//! let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
//! let mut resp = Response::default();
//! let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
//! let (used, progress) = reader.handle_bytes(wire, &mut resp).unwrap();
//! assert_eq!((used, progress), (wire.len(), ReadProgress::Done));
//! assert_eq!((resp.status, &resp.body[..]), (200, &b"hello"[..]));
//! assert!(reader.keep_alive());
//! ```

pub(crate) mod chunked;
#[cfg(feature = "decode")]
pub mod decode;
pub(crate) mod request;
mod response;
mod retry_after;

pub use chunked::ChunkedDecoder;
pub use request::{encode_proxied_request, encode_request, encode_request_with};
pub use response::{ReadProgress, ResponseReader};
pub use retry_after::parse_retry_after;

/// The request methods oneloop sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// `GET` (the default).
    #[default]
    Get,
    /// `HEAD`: the response has no body, whatever its headers say.
    Head,
    /// `POST`: never retried, since it is not idempotent.
    Post,
}

impl Method {
    /// The method's token.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
    /// GET and HEAD may be sent twice without harm (RFC 9110 §9.2.2).
    pub fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

/// Limits on what a response may contain. Exceeding one is a `too_large` error,
/// never unbounded memory.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest response head (status line + headers), in bytes. Default 64 KiB.
    pub max_head_bytes: usize,
    /// Most header fields in one head. Default 100; at most 256.
    pub max_headers: usize,
    /// Largest body, in bytes, after chunked decoding. Default 10 MiB.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            max_body_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The most header fields the parser has room for, whatever the limit says.
pub const MAX_HEADERS_CAP: usize = 256;

/// Response header fields, kept in one reusable buffer.
///
/// A crawler sees millions of heads; this keeps each in two vectors that are
/// cleared and refilled, never a `String` per header.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    raw: Vec<u8>,
    spans: Vec<[u32; 3]>, // name start, value start, value end (name ends at value start)
}

impl Headers {
    /// Removes every field, keeping the buffers.
    pub fn clear(&mut self) {
        self.raw.clear();
        self.spans.clear();
    }
    /// Appends a field.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        let start = self.raw.len() as u32;
        self.raw.extend_from_slice(name.as_bytes());
        let vstart = self.raw.len() as u32;
        self.raw.extend_from_slice(value);
        self.spans.push([start, vstart, self.raw.len() as u32]);
    }
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// The fields in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.spans.iter().map(move |&[n, v, e]| {
            let name = std::str::from_utf8(&self.raw[n as usize..v as usize]).unwrap_or("");
            (name, &self.raw[v as usize..e as usize])
        })
    }
    /// The first value of field `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    /// The first value of `name` as UTF-8 text, if it is.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

/// A response: status, headers and body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The status code (never 1xx: interim responses are skipped).
    pub status: u16,
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// The header fields.
    pub headers: Headers,
    /// The body, decoded from chunked framing, when the crawl keeps bodies.
    pub body: Vec<u8>,
    /// The body's length in bytes (counted even when the body is not kept),
    /// after content decoding.
    pub body_len: u64,
    /// The body's length as it came (after de-chunking, before content
    /// decoding): equal to `body_len` unless the body was decoded.
    pub wire_len: u64,
    /// The content coding undone (`gzip`, `deflate`, `br`), if any.
    pub decoded: Option<&'static str>,
    /// The exchange as it went over the wire, for an archive (WARC); only
    /// with [`RequestTemplate::keep_wire`](crate::config::RequestTemplate::keep_wire).
    /// Boxed: every connection holds a response, few crawls archive.
    pub wire: Option<Box<Wire>>,
}

/// An exchange as it went over the wire: what an archive stores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wire {
    /// The request as sent (head and body; the plaintext inside TLS).
    pub request: Vec<u8>,
    /// The final response head as received, status line to the blank line
    /// (interim 1xx heads are not kept).
    pub head: Vec<u8>,
    /// The body before content decoding (after de-chunking), when it was
    /// decoded; empty otherwise, since then [`Response::body`] is that.
    pub encoded_body: Vec<u8>,
    /// The address the response came from (`None` through a proxy).
    pub peer: Option<std::net::IpAddr>,
    /// The redirects that led here, in order: each hop's URL and its `3xx`
    /// response (with its own wire), so an archive holds the whole chain
    /// and a replay tool finds the original URL.
    pub hops: Vec<(String, Response)>,
}

impl Response {
    /// The body as it came (de-chunked, still content-encoded).
    pub fn wire_body(&self) -> &[u8] {
        match (&self.wire, self.decoded) {
            (Some(w), Some(_)) => &w.encoded_body,
            _ => &self.body,
        }
    }

    /// The wire record, made if there is none yet.
    pub(crate) fn wire_mut(&mut self) -> &mut Wire {
        self.wire.get_or_insert_with(Box::default)
    }
}

/// Buffers of a recycled [`Response`] larger than this are dropped, not kept:
/// a crawl that met a few large bodies must not hold that memory for the rest
/// of its run.
pub const RECYCLE_MAX_BYTES: usize = 64 * 1024;

impl Response {
    /// Empties the response for reuse, keeping its buffers unless they grew
    /// past [`RECYCLE_MAX_BYTES`] (those are freed).
    pub fn recycle(&mut self) {
        self.clear();
        if self.body.capacity() > RECYCLE_MAX_BYTES {
            self.body = Vec::new();
        }
        if self.headers.raw.capacity() > RECYCLE_MAX_BYTES {
            self.headers = Headers::default();
        }
        if let Some(w) = &self.wire {
            if w.encoded_body.capacity() > RECYCLE_MAX_BYTES {
                self.wire = None;
            }
        }
    }

    /// Empties the response for reuse, keeping its buffers.
    pub fn clear(&mut self) {
        self.status = 0;
        self.version = 1;
        self.headers.clear();
        self.body.clear();
        self.body_len = 0;
        self.wire_len = 0;
        self.decoded = None;
        if let Some(w) = &mut self.wire {
            w.request.clear();
            w.head.clear();
            w.encoded_body.clear();
            w.peer = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycling_keeps_small_buffers_and_frees_large_ones() {
        let mut r = Response {
            status: 200,
            body: vec![7; 1000],
            ..Response::default()
        };
        r.headers.push("X-A", b"b");
        let small = r.body.capacity();
        r.recycle();
        assert_eq!((r.status, r.body.len(), r.headers.len()), (0, 0, 0));
        assert_eq!(r.body.capacity(), small, "small buffers are reused");
        r.body = vec![0; 9 << 20];
        r.headers.push("X-Big", &vec![b'x'; RECYCLE_MAX_BYTES + 1]);
        r.recycle();
        assert_eq!(r.body.capacity(), 0, "a 9 MiB body is not kept");
        assert_eq!(r.headers.raw.capacity(), 0);
    }
}
