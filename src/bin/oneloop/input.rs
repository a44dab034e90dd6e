//! The input: URLs one per line, read lazily as the crawl asks for them.

use crate::sys;
use oneloop::Request;
use std::io;
use std::sync::{Arc, Mutex};

/// The longest input line taken as a URL; a longer one is one outcome
/// (`url: invalid_url`) and the reader skips to the next line, so a file
/// without newlines cannot make the reader's buffer grow without bound.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// The longest JSON input line (`--input jsonl`) for a request body of
/// `max_body` bytes: the body in base64 (4 bytes per 3) and 64 KiB for the
/// rest (URL, headers, meta). The buffer starts at [`MAX_LINE`] and grows
/// only as a long line needs it.
pub(crate) fn max_json_line(max_body: usize) -> usize {
    (max_body / 3 + 1)
        .saturating_mul(4)
        .saturating_add(MAX_LINE)
}

/// Input lines, read lazily as the admission queue asks for them: numbered
/// from 1, blank lines and `#` comments skipped, a line that is not UTF-8 (or
/// is too long) an item that ends as `url: invalid_url`. A read error ends
/// the input and is kept for the caller.
///
/// It splits lines itself over plain `read`s, because `BufRead::read_until`
/// retries `EINTR` internally, and Ctrl-C must be able to end an input pipe
/// that never ends by itself.
/// Where the reader leaves a read error for the caller (the reader runs on
/// its own thread).
pub(crate) type ReadError = Arc<Mutex<Option<io::Error>>>;

pub(crate) struct Lines<R> {
    reader: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// Inside a too-long line: drop bytes up to its newline.
    skipping: bool,
    /// The longest line taken ([`MAX_LINE`], or [`max_json_line`]); the
    /// buffer grows to it as lines need.
    pub max_line: usize,
    /// `--shard I/N`: keep only this shard's lines.
    pub shard: Option<(u64, u64)>,
    /// `--input jsonl`: each line is a JSON request, not a URL.
    pub jsonl: bool,
    /// `--if-changed`: validators from an earlier run, sent as conditional
    /// headers.
    pub validators: Option<Arc<oneloop::jsonl::validators::Validators>>,
    /// Lines and bytes read, for the progress line.
    pub counts: Option<std::sync::Arc<crate::progress::Counts>>,
    /// `--resume`: lines finished by an earlier run, skipped here (and
    /// counted).
    pub skip: Option<(
        Arc<oneloop::jsonl::resume::Finished>,
        Arc<std::sync::atomic::AtomicU64>,
    )>,
    line: u64,
    error: ReadError,
}

impl<R: io::Read> Lines<R> {
    pub fn new(reader: R, error: ReadError) -> Lines<R> {
        Lines {
            reader,
            buf: vec![0; MAX_LINE].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            skipping: false,
            max_line: MAX_LINE,
            shard: None,
            counts: None,
            skip: None,
            jsonl: false,
            validators: None,
            line: 0,
            error,
        }
    }

    /// Is this request in our shard? An origin's lines all go to one shard;
    /// lines with no origin (bad URLs) go to shard 0.
    fn in_shard(&self, req: &Request) -> bool {
        let Some((i, n)) = self.shard else {
            return true;
        };
        match (&req.error, oneloop::url::Url::parse(&req.url)) {
            (None, Ok(url)) => url.shard(n) == i,
            _ => i == 0,
        }
    }

    /// Did an earlier run (`--resume`) finish this line? Counted if so:
    /// as skipped, and as done for the progress line.
    fn finished_before(&self) -> bool {
        let Some((finished, skipped)) = &self.skip else {
            return false;
        };
        if !finished.contains(self.line) {
            return false;
        }
        skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(c) = &self.counts {
            c.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        true
    }

    /// The next raw line (without its newline), or `None` at the end.
    fn next_line(&mut self) -> Option<Result<Vec<u8>, usize>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let bytes = pending[..nl].to_vec();
                self.start += nl + 1;
                if std::mem::take(&mut self.skipping) {
                    continue; // the end of a too-long line
                }
                return Some(Ok(bytes));
            }
            if self.eof {
                if self.start == self.end || self.skipping {
                    return None;
                }
                let bytes = pending.to_vec();
                self.start = self.end;
                return Some(Ok(bytes));
            }
            // Need more bytes: make room at the end.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() && self.buf.len() < self.max_line && !self.skipping {
                // A long line that may still be taken: room for it.
                let size = (self.buf.len() * 2).min(self.max_line);
                let mut bigger = vec![0; size].into_boxed_slice();
                bigger[..self.end].copy_from_slice(&self.buf[..self.end]);
                self.buf = bigger;
            }
            if self.end == self.buf.len() {
                // A line as long as the limit: report it, skip the rest.
                let was_skipping = std::mem::replace(&mut self.skipping, true);
                self.end = 0;
                if !was_skipping {
                    return Some(Err(self.max_line));
                }
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    if let Some(c) = &self.counts {
                        c.bytes
                            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                // A signal interrupted the read: Ctrl-C ends the input here
                // (the pipe may never end by itself); anything else, again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if sys::interrupted() {
                        return None;
                    }
                }
                Err(e) => {
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e);
                    }
                    return None;
                }
            }
        }
    }
}

impl<R: io::Read> Iterator for Lines<R> {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        loop {
            let raw = self.next_line()?;
            self.line += 1;
            if let Some(c) = &self.counts {
                c.lines
                    .store(self.line, std::sync::atomic::Ordering::Relaxed);
            }
            let bytes = match raw {
                Ok(bytes) => bytes,
                Err(limit) => {
                    let e = oneloop::Error::new(
                        oneloop::Phase::Url,
                        oneloop::ErrorKind::InvalidUrl,
                        format!("line longer than {limit} bytes"),
                    );
                    let head = String::from_utf8_lossy(&self.buf[..100]).into_owned();
                    return Some(Request {
                        url: format!("{head}..."),
                        id: Some(self.line),
                        line: Some(self.line),
                        error: Some(e),
                        ..Request::default()
                    });
                }
            };
            // A UTF-8 byte order mark (editors on some systems write one)
            // is not part of the first URL.
            let bytes = match (self.line, bytes.strip_prefix(b"\xef\xbb\xbf")) {
                (1, Some(rest)) => rest.to_vec(),
                _ => bytes,
            };
            let text = bytes.trim_ascii();
            if text.is_empty() || text.starts_with(b"#") {
                continue;
            }
            if self.finished_before() {
                continue; // resumed: its outcome is in the earlier output
            }
            let mut req = if self.jsonl {
                match String::from_utf8(bytes) {
                    Ok(text) => oneloop::jsonl::request_from_json(self.line, &text),
                    Err(e) => request_from_line(self.line, e.into_bytes()),
                }
            } else {
                request_from_line(self.line, bytes)
            };
            if let Some(v) = &self.validators {
                v.add_conditions(&mut req);
            }
            if !self.in_shard(&req) {
                continue; // another shard's line: no outcome here
            }
            return Some(req);
        }
    }
}

/// An input line as read, with its (1-based) line number as its id and
/// line (an id that is the same in every shard and every resumed run, so
/// `--save` paths never collide between them): the URL if the
/// bytes are UTF-8 (surrounding whitespace trimmed), else an item that
/// ends as `url: invalid_url`, its URL decoded lossily for the report.
fn request_from_line(line: u64, bytes: Vec<u8>) -> Request {
    match String::from_utf8(bytes) {
        Ok(text) => Request {
            url: if text.trim().len() == text.len() {
                text // keep the line's own allocation
            } else {
                text.trim().to_string()
            },
            id: Some(line),
            line: Some(line),
            ..Request::default()
        },
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let url = String::from_utf8_lossy(e.as_bytes()).trim().to_string();
            Request {
                url,
                id: Some(line),
                line: Some(line),
                error: Some(oneloop::Error::new(
                    oneloop::Phase::Url,
                    oneloop::ErrorKind::InvalidUrl,
                    format!("not UTF-8 (byte {} of the line)", at + 1),
                )),
                ..Request::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns the given chunks one per `read`, with an
    /// `EINTR` first (which must be retried: no signal was received).
    struct Chunks(Vec<Vec<u8>>, bool);

    impl io::Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.1 {
                self.1 = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.0.is_empty() {
                return Ok(0);
            }
            let mut c = self.0.remove(0);
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.0.insert(0, c.split_off(n));
            }
            Ok(n)
        }
    }

    fn read_all(chunks: Vec<Vec<u8>>) -> Vec<(Option<u64>, String, Option<String>)> {
        let lines = Lines::new(Chunks(chunks, false), Arc::default());
        lines
            .map(|r| (r.line, r.url, r.error.map(|e| e.detail)))
            .collect()
    }

    /// A duplicate `"url"` (which one wins?) and a body with GET or HEAD
    /// (it would be dropped) are the line's `invalid_input`.
    #[test]
    fn lines_are_numbered_trimmed_and_split_anywhere() {
        let got = read_all(vec![
            b"http://a/1\r\n  # comment\n\n  http://a/".to_vec(),
            b"2  \nhttp://a/3".to_vec(), // no final newline
        ]);
        assert_eq!(
            got,
            vec![
                (Some(1), "http://a/1".into(), None),
                (Some(4), "http://a/2".into(), None),
                (Some(5), "http://a/3".into(), None),
            ]
        );
    }

    #[test]
    fn a_too_long_line_is_one_item_and_the_next_line_is_read() {
        let mut long = vec![b'x'; MAX_LINE * 2 + 7];
        long.push(b'\n');
        long.extend_from_slice(b"http://a/after\n");
        let got = read_all(vec![b"http://a/before\n".to_vec(), long]);
        assert_eq!(
            got.len(),
            3,
            "{:?}",
            got.iter().map(|g| &g.0).collect::<Vec<_>>()
        );
        assert_eq!(got[1].0, Some(2));
        assert_eq!(got[1].2.as_deref(), Some("line longer than 65536 bytes"));
        assert_eq!(got[2], (Some(3), "http://a/after".into(), None));
    }

    /// `--input jsonl`: a POST body of 900 KB (1.2 MB of base64) is one
    /// line that fits (lines stopped at 64 KiB); past the cap it is refused.
    #[test]
    fn json_lines_take_bodies_up_to_the_body_limit() {
        let body = "YWJj".repeat(300_000); // "abc" × 300,000
        let line = format!("{{\"url\":\"http://a/p\",\"method\":\"POST\",\"body\":\"{body}\"}}\n");
        let mut input = line.clone().into_bytes();
        input.extend_from_slice(b"{\"url\":\"http://a/next\"}\n");
        let chunks: Vec<Vec<u8>> = input.chunks(10_000).map(|c| c.to_vec()).collect();
        let mut lines = Lines::new(Chunks(chunks.clone(), false), Arc::default());
        lines.jsonl = true;
        lines.max_line = max_json_line(1 << 20);
        let got: Vec<Request> = lines.collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].error.is_none(), "{:?}", got[0].error);
        assert_eq!(got[0].body.as_ref().map(|b| b.len()), Some(900_000));
        assert_eq!(got[1].url, "http://a/next");
        // A body limit of 100 KB: the line is too long, the next one read.
        let mut lines = Lines::new(Chunks(chunks, false), Arc::default());
        lines.jsonl = true;
        lines.max_line = max_json_line(100_000);
        let got: Vec<Request> = lines.collect();
        assert_eq!(got.len(), 2);
        let e = got[0].error.as_ref().expect("too long");
        assert_eq!(
            e.detail,
            format!("line longer than {} bytes", max_json_line(100_000))
        );
        assert_eq!(got[1].url, "http://a/next");
    }

    #[test]
    fn shards_split_by_origin_and_bad_urls_go_to_shard_0() {
        let input = b"http://a.test/1
http://A.TEST:80/2
https://a.test/3
not a url
http://b.test/x
"
        .to_vec();
        let mut kept: Vec<Vec<String>> = Vec::new();
        for i in 0..3 {
            let mut lines = Lines::new(Chunks(vec![input.clone()], true), Arc::default());
            lines.shard = Some((i, 3));
            kept.push(lines.map(|r| r.url).collect());
        }
        let all: usize = kept.iter().map(Vec::len).sum();
        assert_eq!(all, 5, "each line in exactly one shard: {kept:?}");
        assert!(kept[0].contains(&"not a url".to_string()));
        let with_a: Vec<usize> = (0..3)
            .filter(|&i| kept[i].iter().any(|u| u.contains("a.test/1")))
            .collect();
        assert!(
            kept[with_a[0]].iter().any(|u| u.ends_with("/2")),
            "same origin, same shard: {kept:?}"
        );
        // The documented function: FNV-1a 64 of the origin string.
        let url = oneloop::url::Url::parse("http://a.test/").unwrap();
        assert_eq!(url.shard(u64::MAX), 0xb02f_3dfa_f6bc_4234);
    }

    #[test]
    fn a_byte_order_mark_on_the_first_line_is_not_part_of_the_url() {
        let got = read_all(vec![
            b"\xef\xbb\xbfhttp://a/1\n\xef\xbb\xbfhttp://a/2\n".to_vec()
        ]);
        assert_eq!(got[0], (Some(1), "http://a/1".into(), None));
        // Only the first line's: elsewhere it is the line's own (bad) bytes.
        assert_eq!(got[1].1, "\u{feff}http://a/2");
    }

    #[test]
    fn bytes_that_are_not_utf8_make_an_error_item() {
        let got = read_all(vec![b"http://a/\xff\nhttp://a/ok\n".to_vec()]);
        assert_eq!(got[0].2.as_deref(), Some("not UTF-8 (byte 10 of the line)"));
        assert_eq!(got[1], (Some(2), "http://a/ok".into(), None));
    }
}
