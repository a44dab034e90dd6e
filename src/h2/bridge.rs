//! HTTP/1.1 messages as HTTP/2 header blocks, and back: the bridge that lets
//! the rest of oneloop stay one protocol.
//!
//! The request core encodes every request as HTTP/1.1 bytes (the template,
//! its headers, a proxy's form); the response reader knows every rule of
//! a response (framing, limits, content codings, truncation). An HTTP/2
//! connection reuses both: a request's HTTP/1.1 bytes become its header
//! list ([`request_fields`]: the request line and `Host` as pseudo-headers,
//! names lowercased, connection-specific fields dropped, RFC 9113 §8.2.2,
//! §8.3.1), and a response's header list becomes an HTTP/1.1 head
//! ([`response_head`]) fed to a [`ResponseReader`](crate::http::ResponseReader)
//! before the stream's DATA, its END_STREAM the reader's end of input. The
//! two conversions cost about what one head parse does; what they buy is
//! one set of rules for both protocols (and a WARC record of an h2 exchange
//! in the HTTP/1.1 form archives read, as wget and warcio write them).

use super::hpack::HeaderList;
use crate::error::{Error, ErrorKind, Phase};

/// Fields RFC 9113 §8.2.2 forbids in HTTP/2 (they are about the
/// connection); `Host` becomes `:authority`.
const DROPPED: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// A request's header list for HTTP/2, built from its HTTP/1.1 bytes.
/// Field slices point into `h1` or into `names` (the lowercased names).
#[derive(Debug, Default)]
pub struct RequestFields {
    /// Lowercased field names, one after another.
    names: Vec<u8>,
    /// (name range in `names`, value range in the request).
    spans: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// The pseudo-headers' values: method, path, authority (ranges in the request).
    method: std::ops::Range<usize>,
    path: std::ops::Range<usize>,
    authority: std::ops::Range<usize>,
    /// Where the body starts in the request.
    body_at: usize,
}

impl RequestFields {
    /// The header list (pseudo-headers first) of `h1`, the bytes it was
    /// parsed from, with `scheme` (`http` or `https`).
    pub fn fields<'a>(&'a self, h1: &'a [u8], scheme: &'a [u8]) -> Vec<(&'a [u8], &'a [u8])> {
        let mut out = Vec::with_capacity(4 + self.spans.len());
        out.push((&b":method"[..], &h1[self.method.clone()]));
        out.push((&b":scheme"[..], scheme));
        out.push((&b":authority"[..], &h1[self.authority.clone()]));
        out.push((&b":path"[..], &h1[self.path.clone()]));
        for (name, value) in &self.spans {
            out.push((&self.names[name.clone()], &h1[value.clone()]));
        }
        out
    }

    /// The request's body (what follows the head in `h1`).
    pub fn body<'a>(&self, h1: &'a [u8]) -> &'a [u8] {
        &h1[self.body_at..]
    }
}

fn offset(outer: &[u8], inner: &[u8]) -> std::ops::Range<usize> {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    start..start + inner.len()
}

fn malformed(what: &str) -> Error {
    Error::new(Phase::Send, ErrorKind::InvalidInput, what)
}

/// Parses the HTTP/1.1 request `h1` (as oneloop encoded it) into the
/// header list of the same request over HTTP/2.
pub fn request_fields(h1: &[u8]) -> Result<RequestFields, Error> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    let body_at = match req.parse(h1) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(malformed("the request could not be put in HTTP/2 form")),
    };
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return Err(malformed("request line incomplete"));
    };
    let mut out = RequestFields {
        method: offset(h1, method.as_bytes()),
        path: offset(h1, path.as_bytes()),
        body_at,
        ..RequestFields::default()
    };
    let mut authority = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            authority = Some(offset(h1, h.value));
        }
        if DROPPED.iter().any(|d| h.name.eq_ignore_ascii_case(d)) {
            continue;
        }
        // `TE` may only say "trailers" (§8.2.2).
        if h.name.eq_ignore_ascii_case("te") && !h.value.eq_ignore_ascii_case(b"trailers") {
            continue;
        }
        let start = out.names.len();
        out.names
            .extend(h.name.bytes().map(|b| b.to_ascii_lowercase()));
        out.spans
            .push((start..out.names.len(), offset(h1, h.value)));
    }
    out.authority = authority.ok_or_else(|| malformed("request without Host"))?;
    Ok(out)
}

/// Checks an HTTP/2 response head (RFC 9113 §8.1.1: one `:status` of three
/// digits, first; no other or late pseudo-header; lowercase names; no
/// CR/LF/NUL in a value) and returns its status. Malformed heads are
/// `head: malformed` errors.
pub fn check_response_head(fields: &HeaderList) -> Result<u16, Error> {
    let bad = |what: &str| Error::new(Phase::Head, ErrorKind::Malformed, what);
    let mut status = None;
    let mut regular = false;
    for (name, value) in fields.iter() {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular || pseudo != b"status" || status.is_some() {
                return Err(bad(
                    "h2 response head: a misplaced or unknown pseudo-header",
                ));
            }
            let ok = value.len() == 3 && value.iter().all(u8::is_ascii_digit);
            if !ok {
                return Err(bad("h2 response head: :status is not three digits"));
            }
            status = Some(value.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')));
            continue;
        }
        regular = true;
        if status.is_none() {
            return Err(bad("h2 response head: no :status"));
        }
        let name_ok = !name.is_empty()
            && name
                .iter()
                .all(|&b| b.is_ascii_graphic() && !b.is_ascii_uppercase() && b != b':');
        let value_ok = !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
        if !name_ok || !value_ok {
            return Err(bad("h2 response head: a malformed field"));
        }
    }
    status.ok_or_else(|| bad("h2 response head: no :status"))
}

/// The regular fields of a head [`check_response_head`] accepted, as
/// HTTP/1.1 would carry them: connection-specific fields mean nothing here
/// (§8.2.2) and the stream's end, not a coding, frames the body.
pub fn regular_fields(fields: &HeaderList) -> impl Iterator<Item = (&str, &[u8])> {
    fields.iter().filter_map(|(name, value)| {
        let skip = name.starts_with(b":") || name == b"transfer-encoding" || name == b"connection";
        // (Checked: ASCII graphic, so UTF-8.)
        let name = std::str::from_utf8(name).ok().filter(|_| !skip)?;
        Some((name, value))
    })
}

/// Writes the HTTP/1.1 head of an HTTP/2 response head `fields` into
/// `out` (emptied first): the status line, then every regular field, for
/// an archive's record. Errors as [`check_response_head`].
pub fn response_head(fields: &HeaderList, out: &mut Vec<u8>) -> Result<(), Error> {
    let status = check_response_head(fields)?;
    out.clear();
    out.extend_from_slice(format!("HTTP/1.1 {status:03} \r\n").as_bytes());
    for (name, value) in regular_fields(fields) {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(f: &[(&[u8], &[u8])]) -> Vec<(String, String)> {
        f.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_request_becomes_pseudo_headers_and_lowercase_fields() {
        let h1 = b"GET /a?b=c HTTP/1.1\r\nHost: example.com:8443\r\nUser-Agent: oneloop\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\nTE: gzip\r\n\r\n";
        let f = request_fields(h1).unwrap();
        let got = pairs(&f.fields(h1, b"https"));
        let want = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "example.com:8443"),
            (":path", "/a?b=c"),
            ("user-agent", "oneloop"),
            ("accept-encoding", "gzip"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        assert!(f.body(h1).is_empty());
    }

    #[test]
    fn a_body_follows_the_head() {
        let h1 = b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let f = request_fields(h1).unwrap();
        assert_eq!(f.body(h1), b"abc");
        let got = pairs(&f.fields(h1, b"http"));
        assert_eq!(got[0].1, "POST");
        assert_eq!(got[4], ("content-length".into(), "3".into()));
    }

    #[test]
    fn a_request_without_host_or_line_is_refused() {
        assert!(request_fields(b"GET / HTTP/1.1\r\nA: b\r\n\r\n").is_err());
        assert!(request_fields(b"GET / HTTP/1.1\r\n").is_err());
    }

    fn head(fields: &[(&str, &str)]) -> Result<String, Error> {
        let list: HeaderList = fields.iter().copied().collect();
        let mut out = Vec::new();
        response_head(&list, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_response_head_is_written_as_http_1_1() {
        let h = head(&[
            (":status", "200"),
            ("content-type", "text/html"),
            ("transfer-encoding", "chunked"),
            ("content-length", "5"),
        ])
        .unwrap();
        assert_eq!(
            h,
            "HTTP/1.1 200 \r\ncontent-type: text/html\r\ncontent-length: 5\r\n\r\n"
        );
    }

    #[test]
    fn malformed_response_heads_are_refused() {
        let cases: [&[(&str, &str)]; 7] = [
            &[("content-type", "x")],
            &[(":status", "20")],
            &[(":status", "2x0")],
            &[(":status", "200"), (":status", "200")],
            &[(":status", "200"), ("a", "b"), (":path", "/")],
            &[(":status", "200"), ("Upper", "b")],
            &[(":status", "200"), ("a", "b\r\nc: d")],
        ];
        for case in cases {
            let e = head(case).unwrap_err();
            assert_eq!(
                (e.phase, e.kind),
                (Phase::Head, ErrorKind::Malformed),
                "{case:?}"
            );
        }
    }

    /// A head through the fields path and through the HTTP/1.1 text path:
    /// the same response (status, fields, decoding), state and error.
    fn both_paths(fields: &[(&str, &str)]) -> [String; 2] {
        use crate::http::{Limits, Method, ReadProgress, Response, ResponseReader};
        let list: HeaderList = fields.iter().copied().collect();
        let limits = Limits {
            max_headers: 4,
            ..Limits::default()
        };
        let show = |r: Result<ReadProgress, Error>, resp: &Response| match r {
            Ok(p) => format!(
                "{p:?} {} {:?} {:?}",
                resp.status,
                resp.headers.iter().collect::<Vec<_>>(),
                resp.decoded
            ),
            Err(e) => e.to_string(),
        };
        let mut fast = ResponseReader::new(limits, Method::Get, true);
        let mut resp = Response::default();
        let r = check_response_head(&list)
            .and_then(|status| fast.handle_head_fields(status, regular_fields(&list), &mut resp));
        let a = show(r, &resp);
        let mut text = ResponseReader::new(limits, Method::Get, true);
        let mut resp = Response::default();
        let mut out = Vec::new();
        let r = response_head(&list, &mut out)
            .and_then(|()| text.handle_bytes(&out, &mut resp).map(|(_, p)| p));
        [a, show(r, &resp)]
    }

    #[test]
    fn the_fields_path_reads_a_head_as_the_text_path_does() {
        let cases: &[&[(&str, &str)]] = &[
            &[
                (":status", "200"),
                ("content-length", "10"),
                ("server", "nginx"),
            ],
            &[(":status", "204"), ("x-a", "1")],
            &[
                (":status", "200"),
                ("content-encoding", "gzip"),
                ("transfer-encoding", "chunked"),
            ],
            &[(":status", "103"), ("link", "</a>")],
            &[(":status", "200"), ("content-length", "1, 2")],
            &[
                (":status", "200"),
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("e", "5"),
            ],
            &[
                (":status", "200"),
                ("connection", "close"),
                ("content-length", "0"),
            ],
            &[("x", "1")],
            &[(":status", "2x0")],
        ];
        for fields in cases {
            let [fast, text] = both_paths(fields);
            assert_eq!(fast, text, "{fields:?}");
        }
    }
}
