//! Google's reference robots.txt matcher tests (google/robotstxt
//! `robots_test.cc`, as data in `tests/data/conformance/`): every
//! `IsUserAgentAllowed(robots, agent, url)` expectation, run through
//! `Robots::parse(...).allowed(path)`. The RFC 9309 part must pass whole;
//! a Google-only or parser-derived case we answer differently is listed
//! below with the reason, so a change either way shows.

use oneloop::robots::Robots;

/// Cases answered differently on purpose: (test name, path prefix, why).
const DIFFERENT: &[(&str, &str, &str)] = &[
    (
        "GoogleOnly_LineTooLong",
        "/x/aaaaaaaaaa",
        "an Allow longer than robots::MAX_PATTERN (2,048 bytes) is dropped, never cut: \
         a cut Allow allows more than the file says (Google keeps 16 KiB lines and cuts longer ones)",
    ),
    (
        "GoogleOnly_LineTooLong",
        "/x/bbbbbbbbbb",
        "the same: the cut-off Allow Google matches is dropped here",
    ),
];

#[test]
fn googles_robots_txt_tests() {
    let text = include_str!("data/conformance/robots_google.json");
    let data: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = data["cases"].as_array().unwrap();
    let (mut passed, mut failed) = (std::collections::BTreeMap::new(), Vec::new());
    for c in cases {
        let s = |k: &str| c[k].as_str().unwrap_or_default();
        let (kind, test, path) = (s("kind"), s("test"), s("path"));
        let want = c["allowed"].as_bool().unwrap();
        // The file's bytes: `robots_hex` where the text cannot carry them
        // (a BOM, a cut one).
        let bytes: Vec<u8> = match c["robots_hex"].as_str() {
            Some(hex) => (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect(),
            None => s("robots").as_bytes().to_vec(),
        };
        let got = Robots::parse(&bytes, s("agent")).allowed(path);
        let total = passed.entry(kind.to_string()).or_insert((0, 0));
        total.1 += 1;
        let excused = DIFFERENT
            .iter()
            .any(|(t, p, _)| *t == test && path.starts_with(p));
        if got == want || excused {
            total.0 += u32::from(got == want);
        } else {
            let short = |t: &str| -> String {
                let t: String = t.chars().take(160).collect();
                format!("{t:?}")
            };
            failed.push(format!(
                "{kind} {test}: agent {:?} path {}: want allowed={want} ({})\n  robots.txt: {}",
                s("agent"),
                short(path),
                s("note"),
                short(s("robots"))
            ));
        }
    }
    for (kind, (ok, all)) in &passed {
        println!("robots conformance, {kind}: {ok} of {all} pass");
    }
    for (test, path, why) in DIFFERENT {
        println!("  different on purpose: {test} {path}...: {why}");
    }
    // The RFC 9309 part passes whole.
    assert_eq!(passed["rfc"].0, passed["rfc"].1, "every RFC 9309 case");
    assert!(
        failed.is_empty(),
        "{} failed:\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}
