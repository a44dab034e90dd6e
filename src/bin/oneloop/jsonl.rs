//! One outcome as one JSON object, written by hand (no dependency).

use oneloop::Outcome;
use std::fmt::Write as _;
use std::time::Duration;

/// The library's JSON string escaper (the event log uses the same).
pub use oneloop::text::json_str;

fn ms(out: &mut String, d: Option<Duration>) {
    match d {
        Some(d) => {
            let _ = write!(out, "{:.3}", d.as_secs_f64() * 1e3);
        }
        None => out.push_str("null"),
    }
}

/// One outcome as one JSON object (no trailing newline).
pub fn outcome_json(out: &mut String, o: &Outcome) {
    let _ = write!(out, "{{\"id\":{},", o.id);
    if let Some(line) = o.line {
        let _ = write!(out, "\"line\":{line},");
    }
    out.push_str("\"url\":");
    json_str(out, &o.url);
    match &o.result {
        Ok(r) => {
            let _ = write!(out, ",\"status\":{},\"bytes\":{}", r.status, r.body_len);
            // A decoded body: its size as it came, and the coding undone.
            if let Some(coding) = r.decoded {
                let _ = write!(out, ",\"wire_bytes\":{},\"encoding\":", r.wire_len);
                json_str(out, coding);
            }
            if r.status == 304 {
                out.push_str(",\"not_modified\":true");
            }
            // The validators, for a conditional re-crawl (--if-changed).
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
            out.push_str(",\"error\":{\"phase\":");
            json_str(out, e.phase.as_str());
            out.push_str(",\"kind\":");
            json_str(out, e.kind.as_str());
            out.push_str(",\"detail\":");
            json_str(out, &e.detail);
            out.push('}');
        }
    }
    if !o.redirects.is_empty() {
        out.push_str(",\"final_url\":");
        json_str(out, o.final_url());
        let _ = write!(out, ",\"redirects\":{}", o.redirects.len());
    }
    if !o.retries.is_empty() {
        out.push_str(",\"retried\":[");
        for (i, cause) in o.retries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(out, &cause.to_string());
        }
        out.push(']');
    }
    let t = &o.timings;
    let _ = write!(
        out,
        ",\"attempts\":{},\"reused\":{},\"ms\":{{\"queued\":",
        o.attempts, o.reused
    );
    ms(out, Some(t.queued));
    out.push_str(",\"connect\":");
    ms(out, t.connect);
    out.push_str(",\"ttfb\":");
    ms(out, t.ttfb);
    out.push_str(",\"total\":");
    ms(out, Some(t.total));
    out.push('}');
    if let Some(meta) = &o.meta {
        // Raw JSON, checked when the input line was read.
        out.push_str(",\"meta\":");
        out.push_str(meta);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use oneloop::{Error, ErrorKind, Phase, Response, RetryCause, Timings};

    #[test]
    fn strings_are_escaped() {
        #[rustfmt::skip]
        let cases = [
            ("plain", r#""plain""#),
            ("a\"b", r#""a\"b""#),
            ("back\\slash", r#""back\\slash""#),
            ("line\nbreak\r\ttab", r#""line\nbreak\r\ttab""#),
            ("\u{1}\u{1f}\u{7f}", r#""\u0001\u001f\u007f""#),
            ("héllo ✓", "\"héllo ✓\""),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            json_str(&mut out, input);
            assert_eq!(out, want, "{input:?}");
        }
    }

    #[test]
    fn outcomes_have_one_shape() {
        let ok = Outcome {
            id: 3,
            line: None,
            url: "http://a/\"x\"".into(),
            attempts: 2,
            retries: vec![RetryCause::Status(503)],
            redirects: vec![],
            reused: true,
            timings: Timings {
                queued: Duration::from_micros(4),
                dns: None,
                connect: None,
                ttfb: Some(Duration::from_micros(211)),
                total: Duration::from_micros(240),
            },
            result: Ok(Response {
                status: 200,
                body_len: 1024,
                ..Response::default()
            }),
            meta: None,
            tag: None,
        };
        let mut out = String::new();
        outcome_json(&mut out, &ok);
        assert_eq!(
            out,
            r#"{"id":3,"url":"http://a/\"x\"","status":200,"bytes":1024,"retried":["status 503"],"attempts":2,"reused":true,"ms":{"queued":0.004,"connect":null,"ttfb":0.211,"total":0.240}}"#
        );
        let numbered = Outcome {
            line: Some(7),
            result: Ok(Response::default()),
            retries: vec![],
            ..ok
        };
        let mut out = String::new();
        outcome_json(&mut out, &numbered);
        assert!(out.starts_with(r#"{"id":3,"line":7,"url":"#), "{out}");
        let ok = Outcome {
            line: None,
            result: Ok(Response::default()),
            retries: vec![RetryCause::Status(503)],
            ..numbered
        };
        let failed = Outcome {
            result: Err(Error::new(
                Phase::Connect,
                ErrorKind::Refused,
                "Connection refused",
            )),
            retries: vec![],
            redirects: vec!["http://b/".into()],
            ..ok
        };
        let mut out = String::new();
        outcome_json(&mut out, &failed);
        assert!(
            out.contains(
                r#""error":{"phase":"connect","kind":"refused","detail":"Connection refused"}"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#""final_url":"http://b/","redirects":1"#),
            "{out}"
        );
    }

    #[test]
    fn validators_not_modified_and_meta_are_written() {
        let mut r = Response {
            status: 304,
            ..Response::default()
        };
        r.headers.push("ETag", b"\"v1\"");
        r.headers
            .push("Last-Modified", b"Sun, 29 Nov 2026 10:00:00 GMT");
        let o = Outcome {
            id: 1,
            line: Some(1),
            url: "http://a/".into(),
            attempts: 1,
            retries: vec![],
            redirects: vec![],
            reused: false,
            timings: Timings::default(),
            result: Ok(r),
            meta: Some(r#"{"k": [1]}"#.into()),
            tag: None,
        };
        let mut out = String::new();
        outcome_json(&mut out, &o);
        assert!(
            out.contains(r#""status":304,"bytes":0,"not_modified":true,"etag":"\"v1\"","last_modified":"Sun, 29 Nov 2026 10:00:00 GMT""#),
            "{out}"
        );
        assert!(out.ends_with(r#"},"meta":{"k": [1]}}"#), "{out}");
    }
}
