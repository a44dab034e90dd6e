//! `--input jsonl`: a request as one JSON object per line.

use super::read::{base64_decode, parse, Value};
use crate::outcome::Request;

/// `--input jsonl`: a line `{"url": ..., "method": ..., "headers": {...},
/// "body": "<base64>", "meta": <any JSON>}` (all but `url` optional) as a
/// request. Anything else (not JSON, a missing or non-string `url`, an
/// unknown member, a method other than GET, HEAD or POST, a header value
/// that is not a string, a body that is not base64) ends the line as
/// `url: invalid_input` naming what was wrong; its `meta` still comes back
/// when it could be read.
pub fn request_from_json(line: u64, text: &str) -> Request {
    let mut req = Request {
        id: Some(line),
        line: Some(line),
        ..Request::default()
    };
    if let Err(detail) = fill_from_json(&mut req, text) {
        if req.url.is_empty() {
            req.url = text.chars().take(100).collect();
        }
        req.error = Some(crate::Error::new(
            crate::Phase::Url,
            crate::ErrorKind::InvalidInput,
            detail,
        ));
    }
    req
}

fn fill_from_json(req: &mut Request, text: &str) -> Result<(), String> {
    let Value::Object(members) = parse(text)? else {
        return Err("not a JSON object".into());
    };
    // The meta first: it comes back even when another member is wrong.
    if let Some((_, _, raw)) = members.iter().find(|(n, _, _)| n == "meta") {
        req.meta = Some(raw.to_string());
    }
    let mut url = None;
    // A member given twice (JSON allows it, and readers disagree on which
    // one wins: the first, the last) is refused rather than guessed.
    for (i, (name, _, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(n, _, _)| n == name) {
            return Err(format!("{name:?} given twice"));
        }
    }
    for (name, value, _) in members {
        match (name.as_str(), value) {
            ("url", Value::String(u)) => url = Some(u),
            ("url", _) => return Err("url: not a string".into()),
            ("method", Value::String(m)) => {
                req.method = Some(match m.as_str() {
                    "GET" => crate::http::Method::Get,
                    "HEAD" => crate::http::Method::Head,
                    "POST" => crate::http::Method::Post,
                    _ => return Err(format!("method {m:?}: GET, HEAD or POST")),
                })
            }
            ("headers", Value::Object(fields)) => {
                for (n, v, _) in fields {
                    let Value::String(v) = v else {
                        return Err(format!("headers: {n}: not a string"));
                    };
                    req.headers.push((n, v));
                }
            }
            ("body", Value::String(b)) => req.body = Some(base64_decode(&b)?),
            ("meta", _) => {}
            ("method" | "headers" | "body", _) => return Err(format!("{name}: wrong type")),
            (other, _) => return Err(format!("unknown member {other:?}")),
        }
    }
    req.url = url.ok_or("no \"url\"")?;
    // A body is sent with POST only: with GET or HEAD it would be dropped
    // without a word.
    let method = req.method.unwrap_or(crate::http::Method::Get);
    if req.body.is_some() && method != crate::http::Method::Post {
        return Err(format!(
            "a body with {}: only POST sends one",
            method.as_str()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_that_would_be_guessed_at_are_refused() {
        for (text, says) in [
            (
                r#"{"url":"http://a/1","url":"http://a/2"}"#,
                "\"url\" given twice",
            ),
            (r#"{"url":"http://a/","body":"aGk="}"#, "a body with GET"),
            (
                r#"{"url":"http://a/","method":"HEAD","body":"aGk="}"#,
                "a body with HEAD",
            ),
        ] {
            let r = request_from_json(1, text);
            let e = r.error.expect(text);
            assert_eq!(e.kind, crate::ErrorKind::InvalidInput, "{text}");
            assert!(e.detail.contains(says), "{text}: {}", e.detail);
        }
        let ok = request_from_json(1, r#"{"url":"http://a/","method":"POST","body":"aGk="}"#);
        assert!(ok.error.is_none() && ok.body.as_deref() == Some(&b"hi"[..]));
    }
}
