//! The docs' links resolve: every relative link in README.md and docs/*.md
//! names a file that exists, and a link whose text names a function
//! (`` [`Type::name`](path) `` or `` [`name`](path) ``) points at a file that
//! defines it. The guided tour is only useful while it points at real code.

use std::path::{Path, PathBuf};

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "md") {
            files.push(p);
        }
    }
    files
}

/// (link text, target) pairs of `[text](target)`.
fn links(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(close) = rest.find("](") {
        let before = &rest[..close];
        let Some(open) = before.rfind('[') else {
            rest = &rest[close + 2..];
            continue;
        };
        let after = &rest[close + 2..];
        let Some(end) = after.find(')') else { break };
        out.push((before[open + 1..].to_string(), after[..end].to_string()));
        rest = &after[end..];
    }
    out
}

#[test]
fn relative_links_resolve_and_named_functions_exist() {
    let mut checked = 0;
    for doc in docs() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        for (label, target) in links(&text) {
            if target.starts_with("http") || target.starts_with('#') || target.contains(' ') {
                continue;
            }
            let path = dir.join(target.split('#').next().unwrap());
            assert!(
                path.exists(),
                "{}: [{label}]({target}) does not resolve",
                doc.display()
            );
            checked += 1;
            let name = label.trim_matches('`');
            // A label naming a file (`src/pool.rs`) is not a function.
            let is_code = label.starts_with('`')
                && !name.contains('/')
                && !name.contains('.')
                && path.extension().is_some_and(|e| e == "rs");
            if is_code {
                let source = std::fs::read_to_string(&path).unwrap();
                let item = name.rsplit("::").next().unwrap();
                let item = item.split('(').next().unwrap();
                let defined = [
                    format!("fn {item}("),
                    format!("fn {item}<"),
                    format!("struct {item}"),
                    format!("enum {item}"),
                    format!("trait {item}"),
                    format!("type {item}"),
                ]
                .iter()
                .any(|d| source.contains(d.as_str()));
                assert!(
                    defined,
                    "{}: [{label}]({target}): no `{item}` defined there",
                    doc.display()
                );
            }
        }
    }
    assert!(checked > 50, "only {checked} links checked");
}

#[test]
fn the_tour_and_the_pitfalls_chapter_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tour = std::fs::read_to_string(root.join("docs/life-of-a-request.md")).unwrap();
    assert!(
        tour.matches("```\n+").count() >= 10,
        "real trace lines beside the steps"
    );
    let pitfalls = std::fs::read_to_string(root.join("docs/pitfalls.md")).unwrap();
    assert_eq!(pitfalls.matches("\n## ").count(), 6, "six pitfalls");
    assert!(root.join("docs/img/timeline.png").exists());
}
