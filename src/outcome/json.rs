//! The JSON line of an outcome: one object, written by hand (no
//! dependency). It is a contract: the command line writes it, and
//! `--resume` and `--if-changed` read it back, so its fields are written
//! here, once, in one order.
//!
//! `{"id":…,"line":…,"url":…,` then the result — `"status","bytes"` (with
//! `"proto":"h2"` over HTTP/2, `"wire_bytes","encoding"` for a decoded body, `"not_modified"` for a
//! 304, `"etag","last_modified"` when sent) or `"error":{"phase","kind",
//! "detail"}` — then `"final_url","redirects"` after redirects,
//! `"retried"` after retries, `"attempts","reused","ms":{"queued",
//! "connect","ttfb","total"}`, and the request's raw `"meta"`.

use super::Outcome;
use crate::error::Error;
use crate::text::json_str;
use std::fmt::Write as _;
use std::time::Duration;

impl Outcome {
    /// The outcome as one JSON object (no newline).
    pub fn write_json(&self, out: &mut String) {
        self.write_json_fields(out);
        out.push('}');
    }

    /// The object without its closing brace: a caller adds its own
    /// fields (where a sink put the page: `"path"`, `"warc"`; a sink that
    /// failed: `"save_error"`), then `}`.
    pub fn write_json_fields(&self, out: &mut String) {
        let _ = write!(out, "{{\"id\":{},", self.id);
        if let Some(line) = self.line {
            let _ = write!(out, "\"line\":{line},");
        }
        out.push_str("\"url\":");
        json_str(out, &self.url);
        match &self.result {
            Ok(r) => {
                let _ = write!(out, ",\"status\":{},\"bytes\":{}", r.status, r.body_len);
                // Over HTTP/2 (HTTP/1.1, the usual case, goes unsaid).
                if r.version == 2 {
                    out.push_str(",\"proto\":\"h2\"");
                }
                // A decoded body: its size as it came, and the coding undone.
                if let Some(coding) = r.decoded {
                    let _ = write!(out, ",\"wire_bytes\":{},\"encoding\":", r.wire_len);
                    json_str(out, coding);
                }
                if r.status == 304 {
                    out.push_str(",\"not_modified\":true");
                }
                // The validators, for a conditional re-crawl.
                for (header, key) in [
                    ("etag", ",\"etag\":"),
                    ("last-modified", ",\"last_modified\":"),
                ] {
                    if let Some(v) = r.headers.get(header) {
                        out.push_str(key);
                        json_str(out, &String::from_utf8_lossy(v));
                    }
                }
            }
            Err(e) => {
                out.push_str(",\"error\":");
                write_error_json(out, e);
            }
        }
        if !self.redirects.is_empty() {
            out.push_str(",\"final_url\":");
            json_str(out, self.final_url());
            let _ = write!(out, ",\"redirects\":{}", self.redirects.len());
        }
        if !self.retries.is_empty() {
            out.push_str(",\"retried\":[");
            for (i, cause) in self.retries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(out, &cause.to_string());
            }
            out.push(']');
        }
        let t = &self.timings;
        let _ = write!(
            out,
            ",\"attempts\":{},\"reused\":{},\"ms\":{{\"queued\":",
            self.attempts, self.reused
        );
        ms(out, Some(t.queued));
        out.push_str(",\"connect\":");
        ms(out, t.connect);
        out.push_str(",\"ttfb\":");
        ms(out, t.ttfb);
        out.push_str(",\"total\":");
        ms(out, Some(t.total));
        out.push('}');
        if let Some(meta) = &self.meta {
            // Raw JSON, checked when the input line was read.
            out.push_str(",\"meta\":");
            out.push_str(meta);
        }
    }
}

/// An error as `{"phase":…,"kind":…,"detail":…}`.
pub fn write_error_json(out: &mut String, e: &Error) {
    out.push_str("{\"phase\":");
    json_str(out, e.phase.as_str());
    out.push_str(",\"kind\":");
    json_str(out, e.kind.as_str());
    out.push_str(",\"detail\":");
    json_str(out, &e.detail);
    out.push('}');
}

fn ms(out: &mut String, d: Option<Duration>) {
    match d {
        Some(d) => {
            let _ = write!(out, "{:.3}", d.as_secs_f64() * 1e3);
        }
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests;
