//! Frontier tables: canonical forms, scope, depth, budgets, traps, seen.

use super::*;

#[test]
fn canonical_forms() {
    #[rustfmt::skip]
    let cases = [
        ("HTTP://Example.COM:80/a#frag", Some("http://example.com/a")),
        ("https://example.com:443/", Some("https://example.com/")),
        ("http://example.com:8080/", Some("http://example.com:8080/")),
        ("http://a.test/x/./y/../z", Some("http://a.test/x/z")),
        ("http://a.test/%7euser/%2fp%3f?q=%41%2b", Some("http://a.test/~user/%2Fp%3F?q=A%2B")),
        ("http://a.test/caf%c3%a9", Some("http://a.test/caf%C3%A9")),
        ("http://a.test/a b", Some("http://a.test/a%20b")),
        ("mailto:someone@a.test", None),
        ("javascript:void(0)", None),
        ("/relative", None),
    ];
    for (input, want) in cases {
        let got = canonical(input).map(|u| u.into_string());
        assert_eq!(got.as_deref(), want, "{input}");
    }
    // Spellings of one page have one fingerprint.
    let a = canonical("http://A.test/%7Ex/../y").unwrap();
    let b = canonical("http://a.test:80/y#z").unwrap();
    assert_eq!(fingerprint(a.as_str()), fingerprint(b.as_str()));
}

#[test]
fn scope_host_takes_both_schemes_and_any_port_but_not_subdomains() {
    let mut f = Frontier::new(FrontierConfig::default());
    assert_eq!(f.handle_seed("http://a.test/", None), Admit::Queued);
    assert_eq!(f.handle_discovered("https://a.test/s", 0, 1), Admit::Queued);
    assert_eq!(
        f.handle_discovered("http://a.test:8080/p", 0, 1),
        Admit::Queued
    );
    assert_eq!(
        f.handle_discovered("http://www.a.test/", 0, 1),
        Admit::OutOfScope
    );
    assert_eq!(f.handle_discovered("ftp://a.test/", 0, 1), Admit::Invalid);
}

#[test]
fn scope_domain_uses_the_registrable_domain() {
    let mut f = Frontier::new(FrontierConfig {
        scope: Scope::Domain,
        ..FrontierConfig::default()
    });
    f.handle_seed("http://www.shop.co.uk/", None);
    assert_eq!(
        f.handle_discovered("http://img.shop.co.uk/1", 0, 1),
        Admit::Queued
    );
    assert_eq!(
        f.handle_discovered("http://other.co.uk/", 0, 1),
        Admit::OutOfScope
    );
    #[rustfmt::skip]
    let cases = [
        ("www.example.com", "example.com"), ("example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"), ("co.uk", "co.uk"), ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"), ("user.github.io", "user.github.io"), ("x.y.z.test.", "z.test"),
    ];
    for (host, want) in cases {
        assert_eq!(registrable_domain(host), want, "{host}");
    }
    let mut any = Frontier::new(FrontierConfig {
        scope: Scope::Any,
        ..FrontierConfig::default()
    });
    any.handle_seed("http://a.test/", None);
    assert_eq!(any.handle_discovered("http://b.test/", 0, 1), Admit::Queued);
}

#[test]
fn depth_is_exact() {
    let mut f = Frontier::new(FrontierConfig {
        max_depth: 2,
        ..FrontierConfig::default()
    });
    f.handle_seed("http://a.test/", None);
    assert_eq!(f.handle_discovered("http://a.test/1", 0, 1), Admit::Queued);
    assert_eq!(f.handle_discovered("http://a.test/2", 1, 2), Admit::Queued);
    assert_eq!(f.handle_discovered("http://a.test/3", 2, 3), Admit::TooDeep);
    let depths: Vec<(u32, Option<u64>)> = std::iter::from_fn(|| f.poll_next())
        .map(|d| (d.depth, d.from))
        .collect();
    assert_eq!(depths, [(0, None), (1, Some(1)), (2, Some(2))]);
}

#[test]
fn budgets_stop_discovery() {
    let mut f = Frontier::new(FrontierConfig {
        max_pages: Some(3),
        max_pages_per_host: Some(2),
        scope: Scope::Any,
        ..FrontierConfig::default()
    });
    f.handle_seed("http://a.test/", None);
    assert_eq!(f.handle_discovered("http://a.test/1", 0, 1), Admit::Queued);
    assert_eq!(
        f.handle_discovered("http://a.test/2", 0, 1),
        Admit::OverBudget
    );
    assert_eq!(f.handle_discovered("http://b.test/1", 0, 1), Admit::Queued);
    assert_eq!(
        f.handle_discovered("http://c.test/1", 0, 1),
        Admit::OverBudget
    );
    assert_eq!(f.pending_len(), 3);
}

#[test]
fn traps_are_refused() {
    let mut f = Frontier::new(FrontierConfig::default());
    f.handle_seed("http://a.test/", None);
    let long = format!("http://a.test/{}", "x".repeat(2100));
    assert_eq!(f.handle_discovered(&long, 0, 1), Admit::Trap);
    let deep = format!(
        "http://a.test{}",
        "/d".repeat(10).replace("/d", "/d0/d1/d2/d3")
    );
    assert_eq!(f.handle_discovered(&deep, 0, 1), Admit::Trap, "40 segments");
    assert_eq!(
        f.handle_discovered("http://a.test/a/b/a/b/a/b/a/b", 0, 1),
        Admit::Trap
    );
    assert_eq!(
        f.handle_discovered("http://a.test/a/b/a/b/a/b", 0, 1),
        Admit::Queued
    );
    // A calendar is bounded by depth: each day links the next.
    let mut queued = 0;
    for day in 0..100 {
        let url = format!("http://a.test/cal?day={day}");
        if f.handle_discovered(&url, day, 1) == Admit::Queued {
            queued += 1;
        }
    }
    assert_eq!(queued, 5, "max_depth 5 ends the walk");
}

#[test]
fn the_seen_set_never_forgets_and_stays_small() {
    let mut s = SeenSet::default();
    for i in 0..200_000u64 {
        assert!(s.insert(fingerprint(&format!("http://a.test/{i}"))));
    }
    for i in 0..200_000u64 {
        assert!(
            s.contains(fingerprint(&format!("http://a.test/{i}"))),
            "{i}"
        );
        assert!(!s.insert(fingerprint(&format!("http://a.test/{i}"))));
    }
    assert!(!s.contains(fingerprint("http://a.test/never")));
    assert!(
        s.insert(0) && s.contains(0) && !s.insert(0),
        "0 is a key too"
    );
    let per_url = s.bytes() as f64 / s.len() as f64;
    assert!(per_url <= 13.8, "{per_url} bytes per URL");
    // Wherever the count falls.
    let mut t = SeenSet::default();
    let mut worst: f64 = 0.0;
    for i in 0..300_000u64 {
        t.insert(fingerprint(&i.to_string()));
        if i > 2000 {
            worst = worst.max(t.bytes() as f64 / t.len() as f64);
        }
    }
    assert!(worst <= 13.8, "{worst} bytes per URL at worst");
    let mut f = Frontier::new(FrontierConfig::default());
    assert!(f.mark_seen("http://a.test/done"));
    f.handle_seed("http://a.test/", None);
    assert_eq!(f.handle_discovered("http://a.test/done", 0, 1), Admit::Seen);
}

#[test]
fn another_shards_links_are_diverted_once() {
    let mut f = Frontier::new(FrontierConfig {
        scope: Scope::Any,
        shard: Some((0, 4)),
        ..FrontierConfig::default()
    });
    f.handle_seed("http://a.test/", None);
    let (mut mine, mut diverted) = (0, std::collections::HashSet::new());
    for host in 0..40 {
        let url = format!("http://h{host}.test/x");
        let owner = Url::parse(&url).unwrap().shard(4);
        match f.handle_discovered(&url, 0, 1) {
            Admit::Queued => {
                assert_eq!(owner, 0);
                mine += 1;
            }
            Admit::Diverted(j) => {
                assert_eq!(j, owner);
                assert!(diverted.insert(host));
            }
            other => panic!("{other:?}"),
        }
        // Offered again: seen, not diverted twice.
        assert_eq!(f.handle_discovered(&url, 0, 1), Admit::Seen);
    }
    assert!(mine > 0 && diverted.len() > 20, "{mine} {}", diverted.len());
}
