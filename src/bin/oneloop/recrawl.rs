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

use crate::json_in::{parse, Value};
use oneloop::Request;
use std::collections::HashMap;
use std::io::{self, BufRead};

#[derive(Default)]
pub struct Validators {
    /// FNV-1a 64 of the URL → (ETag, Last-Modified), either may be empty.
    by_url: HashMap<u64, (Box<str>, Box<str>)>,
}

impl Validators {
    pub fn len(&self) -> usize {
        self.by_url.len()
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
            if members.iter().any(|(n, _, _)| n == "final_url") {
                continue;
            }
            let (Some(url), etag, modified) =
                (text_of("url"), text_of("etag"), text_of("last_modified"))
            else {
                continue;
            };
            let pair = (etag.unwrap_or("").into(), modified.unwrap_or("").into());
            v.by_url.insert(oneloop::text::fnv1a(url.as_bytes()), pair);
        }
        Ok(v)
    }

    /// Adds the conditional headers for `req`'s URL, if an earlier run saw
    /// validators for it (and the request does not set its own).
    pub fn add_conditions(&self, req: &mut Request) {
        if req.error.is_some() {
            return;
        }
        let Ok(url) = oneloop::url::Url::parse(&req.url) else {
            return;
        };
        let Some((etag, modified)) = self
            .by_url
            .get(&oneloop::text::fnv1a(url.as_str().as_bytes()))
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
            r#"{"id":1,"line":1,"url":"http://a.test/x","status":200,"bytes":3,"etag":"\"v1\"","last_modified":"Sun, 29 Nov 2026 10:00:00 GMT","attempts":1}"#,
            "\n",
            r#"{"id":2,"line":2,"url":"http://a.test/moved","status":200,"bytes":3,"final_url":"http://a.test/new","redirects":1,"etag":"\"r\""}"#,
            "\n",
            r#"{"id":3,"line":3,"url":"http://a.test/plain","status":200,"bytes":3}"#,
            "\n",
            r#"{"id":4,"line":4,"url":"http://a.test/cut","etag":"\"z"#,
        );
        let v = Validators::read(prev.as_bytes()).unwrap();
        assert_eq!(
            v.len(),
            1,
            "the redirected, the plain and the cut are left out"
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
        let mut other = Request::from("http://a.test/plain");
        v.add_conditions(&mut other);
        assert!(other.headers.is_empty());
    }
}
