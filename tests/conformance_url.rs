//! The WHATWG URL Standard's own tests (web-platform-tests
//! `urltestdata.json`, as data in `tests/data/conformance/wpt-url/`): the
//! cases whose result is an http(s) URL, or a failure of an http(s) input
//! or base. oneloop keeps no fragment, so `href` is compared without it.
//! A case answered differently on purpose is listed with its reason.

use oneloop::url::Url;

/// (input, why).
const DIFFERENT: &[(&str, &str)] = &[];

fn is_http(s: &str) -> bool {
    let s = s
        .trim_start_matches(|c: char| c <= ' ')
        .to_ascii_lowercase();
    s.starts_with("http:") || s.starts_with("https:")
}

#[test]
fn whatwg_url_tests() {
    let text = include_str!("data/conformance/wpt-url/urltestdata.json");
    let data: serde_json::Value = serde_json::from_str(text).unwrap();
    let (mut total, mut failed) = (0, Vec::new());
    for c in data.as_array().unwrap().iter().filter(|c| c.is_object()) {
        let input = c["input"].as_str().unwrap();
        let base = c["base"].as_str();
        let href = c["href"].as_str();
        let failure = c["failure"].as_bool().unwrap_or(false);
        let wanted =
            href.is_some_and(is_http) || (failure && (base.is_some_and(is_http) || is_http(input)));
        if !wanted {
            continue;
        }
        total += 1;
        let got = match base {
            Some(b) => Url::parse(b).and_then(|b| b.join(input)),
            None => Url::parse(input),
        };
        let want = href.map(|h| h.split('#').next().unwrap_or(h));
        let ok = match (&got, failure) {
            (Err(_), true) => true,
            (Ok(u), false) => Some(u.as_str()) == want,
            _ => false,
        };
        if !ok && !DIFFERENT.iter().any(|(i, _)| *i == input) {
            let got = got.map(|u| u.as_str().to_string()).map_err(|e| e.detail);
            failed.push(format!(
                "{input:?} (base {base:?}): want {want:?}, got {got:?}"
            ));
        }
    }
    let passed = total - failed.len() - DIFFERENT.len();
    println!(
        "WHATWG URL: {passed} of {total} pass, {} different on purpose",
        DIFFERENT.len()
    );
    for f in &failed {
        println!("  {f}");
    }
    assert!(failed.is_empty(), "{} of {total} failed", failed.len());
}
