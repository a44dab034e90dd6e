//! html5lib's tree-construction documents that hold links (as data in
//! `tests/data/conformance/links_html5lib.json`): the links a browser's
//! DOM has (`a`/`area` `href`, `frame`/`iframe` `src`, resolved against the
//! page) must be what `links::extract` finds, in order.

use oneloop::links::extract;
use oneloop::url::Url;

#[test]
fn html5lib_documents_with_links() {
    let text = include_str!("data/conformance/links_html5lib.json");
    let data: serde_json::Value = serde_json::from_str(text).unwrap();
    let page = Url::parse(data["page"].as_str().unwrap()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    let mut failed = Vec::new();
    for c in cases {
        let html = c["html"].as_str().unwrap();
        let want: Vec<&str> = c["urls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        // The suite lists each URL once (a fragment-only link is the page
        // itself); the extractor keeps repeats for the frontier to drop.
        let mut got = extract(&page, html.as_bytes()).urls;
        let mut seen = std::collections::HashSet::new();
        got.retain(|u| seen.insert(u.clone()));
        if got != want {
            failed.push(format!(
                "{}: {html:?}\n  want {want:?}\n   got {got:?}",
                c["id"]
            ));
        }
    }
    println!(
        "html5lib links: {} of {} pass",
        cases.len() - failed.len(),
        cases.len()
    );
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
