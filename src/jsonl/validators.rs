//! `--if-changed PREV.jsonl`: a conditional re-crawl. The validators an
//! earlier run saw (its lines' `"etag"` and `"last_modified"`) are sent
//! back as `If-None-Match` and `If-Modified-Since` for the same URL; a page
//! that did not change costs a `304 Not Modified` and no body (the outcome
//! says `"not_modified": true`). curl (`--etag-compare`), wget2, Heritrix
//! and Nutch do the same.
//!
//! Keyed by the URL as the outcome wrote it (normalized), hashed to 64 bits
//! (the string is not kept: a million URLs would be ~100 MB of text). Lines
//! that followed redirects are left out: their validators belong to the
//! final URL, and conditional headers are not carried across a redirect.

use super::read::{parse, Value};
use crate::Request;
use std::collections::HashMap;
use std::io::{self, BufRead};

/// What an earlier run saw of one URL; any part may be empty.
struct Seen {
    etag: Box<str>,
    modified: Box<str>,
    /// The `WARC-Date` of its archived capture.
    archived: Box<str>,
}

/// The validators of an earlier run's lines, by URL.
#[derive(Default)]
pub struct Validators {
    /// FNV-1a 64 of the URL → what was seen of it.
    by_url: HashMap<u64, Seen>,
}

impl Validators {
    /// URLs with validators.
    pub fn len(&self) -> usize {
        self.by_url.len()
    }

    /// Whether no URL has validators.
    pub fn is_empty(&self) -> bool {
        self.by_url.is_empty()
    }

    /// Reads an earlier run's JSON lines (cut or garbled lines are skipped;
    /// a later line for the same URL wins).
    pub fn read(reader: impl io::Read) -> io::Result<Validators> {
        let mut v = Validators::default();
        for line in io::BufReader::with_capacity(256 * 1024, reader).split(b'\n') {
            let line = line?;
            let Ok(text) = std::str::from_utf8(&line) else {
                continue;
            };
            if !text.contains("\"etag\":") && !text.contains("\"last_modified\":") {
                continue; // cheap: most lines of most crawls have neither
            }
            let Ok(Value::Object(members)) = parse(text) else {
                continue;
            };
            let text_of = |name: &str| {
                members.iter().find_map(|(n, v, _)| match v {
                    Value::String(s) if n == name => Some(s.as_str()),
                    _ => None,
                })
            };
            // Redirected; or its body was not kept (a failed save or
            // archive): a 304 would leave it missing, so fetch it whole.
            if members
                .iter()
                .any(|(n, _, _)| n == "final_url" || n == "save_error" || n == "warc_error")
            {
                continue;
            }
            let (Some(url), etag, modified) =
                (text_of("url"), text_of("etag"), text_of("last_modified"))
            else {
                continue;
            };
            // `"warc":{...,"date":D}`: where and when it was archived, for
            // the revisit record of a 304 (WARC-Refers-To-Date).
            let archived = members.iter().find_map(|(n, v, _)| match v {
                Value::Object(w) if n == "warc" => w.iter().find_map(|(n, v, _)| match v {
                    Value::String(d) if n == "date" => Some(d.as_str()),
                    _ => None,
                }),
                _ => None,
            });
            let entry = Seen {
                etag: etag.unwrap_or("").into(),
                modified: modified.unwrap_or("").into(),
                archived: archived.unwrap_or("").into(),
            };
            v.by_url.insert(crate::text::fnv1a(url.as_bytes()), entry);
        }
        Ok(v)
    }

    /// When the capture of `url` (as its outcome wrote it) was archived,
    /// if the earlier run archived it.
    pub fn archived_at(&self, url: &str) -> Option<&str> {
        let seen = self.by_url.get(&crate::text::fnv1a(url.as_bytes()))?;
        (!seen.archived.is_empty()).then_some(&*seen.archived)
    }

    /// Adds the conditional headers for `req`'s URL, if an earlier run saw
    /// validators for it (and the request does not set its own).
    pub fn add_conditions(&self, req: &mut Request) {
        if req.error.is_some() {
            return;
        }
        let Ok(url) = crate::url::Url::parse(&req.url) else {
            return;
        };
        let Some(Seen { etag, modified, .. }) = self
            .by_url
            .get(&crate::text::fnv1a(url.as_str().as_bytes()))
        else {
            return;
        };
        let has = |name: &str| {
            req.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if has("if-none-match") || has("if-modified-since") {
            return;
        }
        if !etag.is_empty() {
            req.headers.push(("If-None-Match".into(), etag.to_string()));
        }
        if !modified.is_empty() {
            req.headers
                .push(("If-Modified-Since".into(), modified.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_come_back_as_conditional_headers() {
        let prev = concat!(
            r#"{"id":1,"line":1,"url":"http://a.test/x","status":200,"bytes":3,"etag":"\"v1\"","last_modified":"Sun, 29 Nov 2026 10:00:00 GMT","attempts":1,"warc":{"file":"a-00000.warc.gz","offset":9,"length":99,"date":"2026-11-29T10:00:01Z"}}"#,
            "\n",
            r#"{"id":2,"line":2,"url":"http://a.test/moved","status":200,"bytes":3,"final_url":"http://a.test/new","redirects":1,"etag":"\"r\""}"#,
            "\n",
            r#"{"id":5,"line":5,"url":"http://a.test/unsaved","status":200,"bytes":3,"etag":"\"u\"","save_error":{"phase":"save","kind":"io","detail":"File too large"}}"#,
            "\n",
            r#"{"id":3,"line":3,"url":"http://a.test/plain","status":200,"bytes":3}"#,
            "\n",
            r#"{"id":4,"line":4,"url":"http://a.test/cut","etag":"\"z"#,
        );
        let v = Validators::read(prev.as_bytes()).unwrap();
        assert_eq!(
            v.len(),
            1,
            "the redirected, the unsaved, the plain and the cut are left out"
        );
        let mut req = Request::from("http://A.TEST:80/x");
        v.add_conditions(&mut req);
        assert_eq!(
            req.headers,
            vec![
                ("If-None-Match".into(), "\"v1\"".into()),
                (
                    "If-Modified-Since".into(),
                    "Sun, 29 Nov 2026 10:00:00 GMT".into()
                )
            ],
            "matched by the normalized URL"
        );
        assert_eq!(
            v.archived_at("http://a.test/x"),
            Some("2026-11-29T10:00:01Z")
        );
        assert_eq!(v.archived_at("http://a.test/plain"), None);
        let mut other = Request::from("http://a.test/plain");
        v.add_conditions(&mut other);
        assert!(other.headers.is_empty());
    }
}
