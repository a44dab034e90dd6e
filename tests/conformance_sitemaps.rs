//! crawler-commons' sitemap parser tests (`SiteMapParserTest.java` and its
//! files, as data in `tests/data/conformance/crawler-commons/`): every
//! format sitemaps.org defines (XML urlset and index, text, gzip, RSS 2.0,
//! RSS 1.0, Atom) and the lenient cases real sites need. Each case's URLs
//! must come out of `sitemap::parse`, as pages or as sitemaps.

use oneloop::sitemap::{parse, Kind};

/// Cases answered differently on purpose: (test, why).
const DIFFERENT: &[(&str, &str)] = &[];

#[test]
fn crawler_commons_sitemap_tests() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conformance/crawler-commons"
    );
    let text = std::fs::read_to_string(format!("{dir}/sitemaps.json")).unwrap();
    let data: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = data["cases"].as_array().unwrap();
    let (mut passed, mut failed) = (0, Vec::new());
    for c in cases {
        let test = c["test"].as_str().unwrap();
        let body: Vec<u8> = match (c["body"].as_str(), c["file"].as_str()) {
            (Some(b), _) => b.as_bytes().to_vec(),
            (None, Some(f)) => std::fs::read(format!("{dir}/{f}")).unwrap(),
            _ => panic!("{test}: no body"),
        };
        let want: Vec<&str> = c["urls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        let want_kind = match c["kind"].as_str().unwrap() {
            "sitemaps" => Kind::Sitemaps,
            _ => Kind::Pages,
        };
        let got = parse(&body);
        if got.kind == want_kind && got.urls == want {
            passed += 1;
        } else if !DIFFERENT.iter().any(|(t, _)| *t == test) {
            failed.push(format!(
                "{test} ({}): want {want_kind:?} {want:?}\n   got {:?} {:?}",
                c["category"].as_str().unwrap_or(""),
                got.kind,
                got.urls
            ));
        }
    }
    println!("sitemap conformance: {passed} of {} pass", cases.len());
    for (test, why) in DIFFERENT {
        println!("  different on purpose: {test}: {why}");
    }
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
