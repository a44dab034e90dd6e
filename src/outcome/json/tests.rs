//! The JSON line, one table of shapes.

use crate::error::{Error, ErrorKind, Phase};
use crate::http::Response;
use crate::outcome::{Outcome, RetryCause, Timings};
use crate::text::json_str;
use std::time::Duration;

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
    ok.write_json(&mut out);
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
    numbered.write_json(&mut out);
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
    failed.write_json(&mut out);
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
    o.write_json(&mut out);
    assert!(
        out.contains(r#""status":304,"bytes":0,"not_modified":true,"etag":"\"v1\"","last_modified":"Sun, 29 Nov 2026 10:00:00 GMT""#),
        "{out}"
    );
    assert!(out.ends_with(r#"},"meta":{"k": [1]}}"#), "{out}");
}
