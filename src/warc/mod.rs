//! WARC/1.1 records (ISO 28500), sans-IO: bytes in, record bytes out. No
//! file, no clock, no randomness here: the date and the record ids are
//! parameters, so the records are exact and testable; the writer that
//! rotates files and appends lives with the caller (the CLI's `--warc`).
//!
//! What a fetch becomes: a `request` record (the request as sent) and a
//! `response` record (`application/http;msgtype=response`: the head as
//! received and the body as received, still content-encoded if the server
//! encoded it), linked by `WARC-Concurrent-To`. Each record is its own gzip
//! member ([`gzip_member`]), so a reader can seek to any record.
//!
//! De-chunked bodies: the body is stored without its chunked framing (the
//! connection already took it off), and the head says so the way Common
//! Crawl's crawlers (Nutch, StormCrawler) do: `Transfer-Encoding` becomes
//! `X-Crawler-Transfer-Encoding`, a `Content-Length` beside it becomes
//! `X-Crawler-Content-Length`, and a `Content-Length` of the stored body is
//! added. warcio and pywb then read the body by its length, and the
//! `WARC-Payload-Digest` is that of the bytes stored.
//!
//! ```
//! use oneloop::warc::{gzip_member, RecordId, Exchange};
//! let wire = oneloop::http::Wire {
//!     request: b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n".to_vec(),
//!     head: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n".to_vec(),
//!     encoded_body: Vec::new(),
//!     peer: None,
//!     hops: Vec::new(),
//! };
//! let ex = Exchange {
//!     target_uri: "http://a.test/",
//!     date: &oneloop::warc::date(0),
//!     wire: &wire,
//!     body: b"hi",
//!     request_id: RecordId::from_random([1; 16]),
//!     response_id: RecordId::from_random([2; 16]),
//!     refers_to: None,
//! };
//! let response = ex.response_record();
//! assert!(response.starts_with(b"WARC/1.1\r\nWARC-Type: response\r\n"));
//! assert!(response.ends_with(b"\r\n\r\nhi\r\n\r\n"));
//! assert_eq!(&gzip_member(&response, 1)[..2], &[0x1f, 0x8b]);
//! ```

mod writer;
pub use writer::{Stored, Writer};

use crate::crc32::crc32;
use crate::http::Wire;
use miniz_oxide::deflate::core::{
    compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use std::fmt::{self, Write as _};

/// A record's id: a random (version 4) UUID, written `<urn:uuid:...>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordId([u8; 16]);

impl RecordId {
    /// An id from 16 random bytes (the version and variant bits are set).
    pub fn from_random(mut bytes: [u8; 16]) -> RecordId {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        RecordId(bytes)
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<urn:uuid:")?;
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_char('-')?;
            }
            write!(f, "{b:02x}")?;
        }
        f.write_char('>')
    }
}

/// A `WARC-Date`: UTC, to the second (`2026-11-29T21:30:00Z`).
pub fn date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `sha1:` and the base32 (RFC 4648) of the SHA-1 of `parts`, one after
/// the other: the form of `WARC-Block-Digest` and `WARC-Payload-Digest`.
pub fn sha1_digest(parts: &[&[u8]]) -> String {
    let mut ctx = crate::sha1::Sha1::new();
    for p in parts {
        ctx.update(p);
    }
    let mut out = String::from("sha1:");
    base32(&ctx.finish(), &mut out);
    out
}

fn base32(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits) = (0u64, 0);
    for &b in bytes {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
}

/// The request's head without its `Proxy-Authorization` field (an
/// absolute-form request through an HTTP proxy carries one).
fn without_proxy_credentials(request: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let head_end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |i| i + 2);
    let is_credentials = |line: &[u8]| {
        let name = b"proxy-authorization:";
        line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name)
    };
    let head = &request[..head_end];
    if !head.split(|&b| b == b'\n').any(is_credentials) {
        return std::borrow::Cow::Borrowed(request);
    }
    let mut out = Vec::with_capacity(request.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        if !is_credentials(line) {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&request[head_end..]);
    std::borrow::Cow::Owned(out)
}

/// One fetch, ready to be written as its two records.
pub struct Exchange<'a> {
    /// The URL fetched (after redirects: the one this response answers).
    pub target_uri: &'a str,
    /// Its `WARC-Date` ([`date`]).
    pub date: &'a str,
    /// The request sent, the head received, the peer.
    pub wire: &'a Wire,
    /// The body as received ([`Response::wire_body`](crate::http::Response::wire_body)).
    pub body: &'a [u8],
    pub request_id: RecordId,
    pub response_id: RecordId,
    /// For a `revisit` (a `304`): the capture it refers to, so a replay
    /// tool finds the stored copy (`WARC-Refers-To-Target-URI`,
    /// `WARC-Refers-To-Date`).
    pub refers_to: Option<RefersTo<'a>>,
}

/// The earlier capture a `revisit` record stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefersTo<'a> {
    /// Its `WARC-Target-URI`.
    pub target_uri: &'a str,
    /// Its `WARC-Date`.
    pub date: &'a str,
}

impl Exchange<'_> {
    /// The `request` record.
    ///
    /// The request as sent, but for `Proxy-Authorization`: what the proxy
    /// needed is not the site's business, and an archive is shared.
    pub fn request_record(&self) -> Vec<u8> {
        let block = &*without_proxy_credentials(&self.wire.request);
        let mut h = self.common("request", self.request_id);
        let _ = write!(h, "WARC-Concurrent-To: {}\r\n", self.response_id);
        let _ = write!(h, "WARC-Block-Digest: {}\r\n", sha1_digest(&[block]));
        h.push_str("Content-Type: application/http;msgtype=request\r\n");
        record(h, &[block])
    }

    /// The `response` record, its head's framing adjusted to the de-chunked
    /// body (see the module's documentation).
    ///
    /// A `304 Not Modified` (the answer to a conditional re-crawl) is WARC's
    /// own `revisit` record with the `server-not-modified` profile: the
    /// head only, saying the server's copy is the one archived before.
    pub fn response_record(&self) -> Vec<u8> {
        let head = archived_head(&self.wire.head, self.body.len());
        let revisit = self.wire.head.starts_with(b"HTTP/1.1 304 ")
            || self.wire.head.starts_with(b"HTTP/1.0 304 ");
        let kind = if revisit { "revisit" } else { "response" };
        let mut h = self.common(kind, self.response_id);
        if revisit {
            h.push_str(
                "WARC-Profile: http://netpreserve.org/warc/1.1/revisit/server-not-modified\r\n",
            );
            if let Some(r) = self.refers_to {
                let _ = write!(h, "WARC-Refers-To-Target-URI: {}\r\n", r.target_uri);
                let _ = write!(h, "WARC-Refers-To-Date: {}\r\n", r.date);
            }
        }
        let _ = write!(h, "WARC-Concurrent-To: {}\r\n", self.request_id);
        let block_digest = sha1_digest(&[&head, self.body]);
        let _ = write!(h, "WARC-Block-Digest: {block_digest}\r\n");
        if !revisit {
            let _ = write!(h, "WARC-Payload-Digest: {}\r\n", sha1_digest(&[self.body]));
        }
        h.push_str("Content-Type: application/http;msgtype=response\r\n");
        record(h, &[&head, self.body])
    }

    fn common(&self, kind: &str, id: RecordId) -> String {
        let mut h = String::with_capacity(512);
        let _ = write!(
            h,
            "WARC/1.1\r\nWARC-Type: {kind}\r\nWARC-Record-ID: {id}\r\nWARC-Date: {}\r\nWARC-Target-URI: {}\r\n",
            self.date, self.target_uri
        );
        if let Some(ip) = self.wire.peer {
            let _ = write!(h, "WARC-IP-Address: {ip}\r\n");
        }
        h
    }
}

/// The `warcinfo` record that opens a file: who wrote it, in which format.
pub fn warcinfo_record(filename: &str, date: &str, id: RecordId, software: &str) -> Vec<u8> {
    let fields = format!(
        "software: {software}\r\nformat: WARC File Format 1.1\r\nconformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
    );
    let mut h = String::new();
    let _ = write!(
        h,
        "WARC/1.1\r\nWARC-Type: warcinfo\r\nWARC-Record-ID: {id}\r\nWARC-Date: {date}\r\nWARC-Filename: {filename}\r\nContent-Type: application/warc-fields\r\n"
    );
    record(h, &[fields.as_bytes()])
}

/// Header fields (each ending in CRLF) and a block: a whole record.
fn record(mut header: String, block: &[&[u8]]) -> Vec<u8> {
    let len: usize = block.iter().map(|b| b.len()).sum();
    let _ = write!(header, "Content-Length: {len}\r\n\r\n");
    let mut out = Vec::with_capacity(header.len() + len + 4);
    out.extend_from_slice(header.as_bytes());
    for b in block {
        out.extend_from_slice(b);
    }
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// The response head as archived: as received, but for a chunked body
/// (stored de-chunked) `Transfer-Encoding` and `Content-Length` renamed
/// with `X-Crawler-` and the stored body's `Content-Length` added.
pub fn archived_head(head: &[u8], body_len: usize) -> Vec<u8> {
    let lines: Vec<&[u8]> = head.split_inclusive(|&b| b == b'\n').collect();
    let is = |line: &[u8], name: &str| {
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()] == b':'
    };
    let chunked = lines.iter().skip(1).any(|l| {
        is(l, "transfer-encoding")
            && String::from_utf8_lossy(&l[18..])
                .to_ascii_lowercase()
                .trim()
                .ends_with("chunked")
    });
    if !chunked {
        return head.to_vec();
    }
    let mut out = Vec::with_capacity(head.len() + 64);
    for (i, l) in lines.iter().enumerate() {
        let blank = i > 0 && (*l == b"\r\n" || *l == b"\n");
        if blank {
            let _ = write!(VecWriter(&mut out), "Content-Length: {body_len}\r\n");
        } else if i > 0 && (is(l, "transfer-encoding") || is(l, "content-length")) {
            out.extend_from_slice(b"X-Crawler-");
        }
        out.extend_from_slice(l);
    }
    out
}

/// `fmt::Write` into a byte vector.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `data` as one gzip member (RFC 1952), deflated at `level` (0: stored,
/// 1: fastest, 9: smallest). Concatenated members are one valid gzip file,
/// and each can be read alone from its offset. (A [`Gzip`] kept per thread
/// saves setting up the compressor's tables each time.)
pub fn gzip_member(data: &[u8], level: u8) -> Vec<u8> {
    Gzip::new(level).member(data)
}

/// Records shorter than this are stored, not deflated, by [`Gzip`].
pub const STORE_BELOW: usize = 1024;

/// Makes gzip members, reusing one deflate compressor (its tables are
/// ~300 KiB: made per record, zeroing them cost more than deflating a
/// small page).
pub struct Gzip {
    compressor: Box<CompressorOxide>,
    level: u8,
}

impl Gzip {
    /// A compressor at `level` (0 to 9).
    pub fn new(level: u8) -> Gzip {
        let level = level.min(9);
        let flags = create_comp_flags_from_zip_params(level.into(), -15, 0);
        Gzip {
            compressor: Box::new(CompressorOxide::new(flags)),
            level,
        }
    }

    /// `data` as one gzip member.
    pub fn member(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        // Magic, deflate, no flags, no time, no extra flags, OS unknown.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        // Small records (a request, a warcinfo) are stored: resetting the
        // compressor's tables would cost more than deflating them saves.
        if self.level == 0 || data.len() < STORE_BELOW {
            stored_blocks(data, &mut out);
        } else {
            self.deflate(data, &mut out);
        }
        out.extend_from_slice(&crc32(0, data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    fn deflate(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        self.compressor.reset();
        let mut pos = out.len();
        out.resize(pos + input.len() / 2 + 64, 0);
        loop {
            let (status, used, wrote) = compress(
                &mut self.compressor,
                input,
                &mut out[pos..],
                TDEFLFlush::Finish,
            );
            pos += wrote;
            input = &input[used..];
            match status {
                TDEFLStatus::Done => break,
                TDEFLStatus::Okay => {
                    if out.len() - pos < 64 {
                        out.resize(out.len() * 2, 0);
                    }
                }
                // Only for bad parameters: ours are fixed and valid.
                _ => unreachable!("deflate failed: {status:?}"),
            }
        }
        out.truncate(pos);
    }
}

/// Deflate's stored blocks (RFC 1951 §3.2.4): no compression, only a copy.
fn stored_blocks(data: &[u8], out: &mut Vec<u8>) {
    let mut chunks = data.chunks(65_535).peekable();
    if data.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = c.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_iso_8601() {
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
        assert_eq!(date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(date(1_795_996_799), "2026-11-29T23:59:59Z");
        assert_eq!(date(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn digests_are_sha1_in_base32() {
        // RFC 4648 test vectors, then SHA-1("abc") as warcio writes it.
        let b32 = |s: &str| {
            let mut o = String::new();
            base32(s.as_bytes(), &mut o);
            o
        };
        assert_eq!(b32("f"), "MY");
        assert_eq!(b32("foobar"), "MZXW6YTBOI");
        assert_eq!(
            sha1_digest(&[b"abc"]),
            "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5"
        );
        assert_eq!(sha1_digest(&[b"a", b"bc"]), sha1_digest(&[b"abc"]));
    }

    /// `--proxy http://alice:S3cr3tPw@...` put `Proxy-Authorization` into
    /// every request record; the digest is of the block as stored.
    #[test]
    fn proxy_credentials_are_not_archived() {
        let sent = b"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nproxy-AUTHORIZATION: Basic YWxpY2U6UzNjcjN0UHc=\r\nAccept: */*\r\n\r\nbody";
        let wire = crate::http::Wire {
            request: sent.to_vec(),
            head: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
            encoded_body: Vec::new(),
            peer: None,
            hops: Vec::new(),
        };
        let ex = Exchange {
            target_uri: "http://a.test/",
            date: &date(0),
            wire: &wire,
            body: b"",
            request_id: RecordId::from_random([1; 16]),
            response_id: RecordId::from_random([2; 16]),
            refers_to: None,
        };
        let rec = String::from_utf8(ex.request_record()).unwrap();
        assert!(
            !rec.to_ascii_lowercase().contains("proxy-authorization"),
            "{rec}"
        );
        assert!(!rec.contains("YWxpY2U6UzNjcjN0UHc="), "{rec}");
        let block = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\nbody";
        assert!(rec.ends_with(&format!("\r\n\r\n{block}\r\n\r\n")), "{rec}");
        assert!(rec.contains(&sha1_digest(&[block.as_bytes()])));
        // Without credentials the bytes are kept as they are (no copy).
        let plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(matches!(
            without_proxy_credentials(plain),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn record_ids_are_version_4_uuids() {
        let id = RecordId::from_random([0xff; 16]).to_string();
        assert_eq!(id, "<urn:uuid:ffffffff-ffff-4fff-bfff-ffffffffffff>");
    }

    #[test]
    fn a_chunked_head_is_archived_with_the_stored_length() {
        let head =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n";
        let got = archived_head(head, 42);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "HTTP/1.1 200 OK\r\nX-Crawler-Transfer-Encoding: chunked\r\nContent-Type: text/html\r\nContent-Length: 42\r\n\r\n"
        );
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n";
        assert_eq!(archived_head(plain, 42), plain);
    }

    #[test]
    fn gzip_members_inflate_back_at_every_level() {
        let data: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let mut reused = Gzip::new(1);
        for (level, len) in [
            (0, 150_000),
            (0, 0),
            (0, 65_535),
            (1, 150_000),
            (1, 0),
            (6, 1000),
            (9, 7),
        ] {
            let data = &data[..len];
            let m = gzip_member(data, level);
            assert_eq!(
                m,
                if level == 1 {
                    reused.member(data)
                } else {
                    m.clone()
                }
            );
            let stored = level == 0 || len < STORE_BELOW;
            assert_eq!(m.len() > len, stored, "level {level}, {len} bytes");
            let body = &m[10..m.len() - 8];
            let back = miniz_oxide::inflate::decompress_to_vec(body).unwrap();
            assert_eq!(back, data, "level {level}, {len} bytes");
            let crc = u32::from_le_bytes(m[m.len() - 8..m.len() - 4].try_into().unwrap());
            assert_eq!(crc, crc32(0, data));
        }
    }
}
