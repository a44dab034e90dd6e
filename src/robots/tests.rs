//! Table tests: RFC 9309's examples, and cases from Google's robots.txt
//! test suite (robots_test.cc) where they agree with the RFC.
#![allow(clippy::type_complexity)] // the tables spell their column types out

use super::*;

fn check(file: &str, agent: &str, cases: &[(&str, bool)]) {
    let r = Robots::parse(file.as_bytes(), agent);
    for (url, want) in cases {
        assert_eq!(r.allowed(url), *want, "{url:?} in\n{file}");
    }
}

#[test]
fn rfc9309_section_5_1_example() {
    // RFC 9309 §5.1 (Simple Example), with the rules of its groups.
    let file = "User-Agent: *\nDisallow: *.gif$\nDisallow: /example/\nAllow: /publications/\n\n\
                User-Agent: foobot\nDisallow:/\nAllow:/example/page.html\nAllow:/example/allowed.gif\n\n\
                User-Agent: barbot\nUser-Agent: bazbot\nDisallow: /example/page.html\n\n\
                User-Agent: quxbot\n\nEOF\n";
    check(
        file,
        "foobot",
        &[
            ("/", false),
            ("/example/page.html", true),
            ("/example/allowed.gif", true),
            ("/publications/", false),
        ],
    );
    check(
        file,
        "barbot",
        &[
            ("/example/page.html", false),
            ("/example/other.html", true),
            ("/x.gif", true),
        ],
    );
    check(
        file,
        "BazBot",
        &[("/example/page.html", false), ("/", true)],
    );
    // quxbot's group has no rules: everything allowed.
    check(
        file,
        "quxbot",
        &[("/example/page.html", true), ("/x.gif", true)],
    );
    // Anyone else: the * group.
    check(
        file,
        "otherbot",
        &[
            ("/x.gif", false),
            ("/x.gif?y", true),
            ("/example/a", false),
            ("/publications/a", true),
            ("/", true),
        ],
    );
}

#[test]
fn rfc9309_section_5_2_longest_match() {
    // RFC 9309 §5.2: the most specific (longest) match wins.
    let file =
        "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n";
    check(
        file,
        "foobot",
        &[
            ("/example/page/", true),
            ("/example/page/a.html", true),
            ("/example/page/disallowed.gif", false),
        ],
    );
}

#[test]
fn wildcards_and_end_anchors() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        // pattern,        url,                    allowed
        ("/fish",          "/fish",                false),
        ("/fish",          "/fish.html",           false),
        ("/fish",          "/fish/salmon.html",    false),
        ("/fish",          "/fishheads",           false),
        ("/fish",          "/Fish.asp",            true),   // case-sensitive paths
        ("/fish",          "/catfish",             true),
        ("/fish*",         "/fishheads/yummy.html", false),
        ("/fish/",         "/fish",                true),
        ("/fish/",         "/fish/?id=anything",   false),
        ("/*.php",         "/folder/filename.php", false),
        ("/*.php",         "/filename.php?parameters", false),
        ("/*.php",         "/windows.PHP",         true),
        ("/*.php$",        "/filename.php",        false),
        ("/*.php$",        "/filename.php?parameters", true),
        ("/*.php$",        "/filename.php5",       true),
        ("/fish*.php",     "/fishheads/catfish.php?parameters", false),
        ("/fish*.php",     "/Fish.PHP",            true),
        ("*",              "/anything",            false),
        ("/$",             "/",                    false),
        ("/$",             "/a",                   true),
        ("/**/x",          "/a/b/x",               false),
    ];
    for (pattern, url, want) in cases {
        let file = format!("User-agent: *\nDisallow: {pattern}\n");
        check(&file, "oneloop", &[(url, *want)]);
    }
}

#[test]
fn allow_wins_ties_and_longest_wins_otherwise() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("Allow: /p\nDisallow: /",        "/page",    true),
        ("Allow: /folder\nDisallow: /folder", "/folder/page", true),  // tie: allow
        ("Allow: /page\nDisallow: /*.htm", "/page.htm", false),       // longer disallow
        ("Allow: /$\nDisallow: /",        "/",        true),
        ("Allow: /$\nDisallow: /",        "/page.htm", false),
        ("Disallow:\n",                   "/anything", true),          // empty disallow
    ];
    for (rules, url, want) in cases {
        let file = format!("User-agent: *\n{rules}\n");
        check(&file, "oneloop", &[(url, *want)]);
    }
}

#[test]
fn groups_by_product_token_case_insensitively() {
    let file = "User-agent: Googlebot\nDisallow: /g\n\nuser-AGENT: OneLoop/1.0 (+http://x)\nDisallow: /mine\n\n\
                User-agent: *\nDisallow: /all\n\nUser-agent: oneloop\nDisallow: /also-mine\n";
    // Our two groups are merged; the * group does not apply to us.
    check(
        file,
        "oneloop",
        &[
            ("/mine", false),
            ("/also-mine", false),
            ("/all", true),
            ("/g", true),
        ],
    );
    check(file, "other", &[("/mine", true), ("/all", false)]);
    // No group and no *: everything allowed.
    check("User-agent: a\nDisallow: /\n", "b", &[("/x", true)]);
}

#[test]
fn percent_encoding_compares_as_googles_matcher() {
    // Rules: non-ASCII encoded, hex case ignored, nothing decoded. Paths
    // come percent-encoded from the URL parser (the caller's contract): a
    // raw byte in a path is compared as it is.
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("/foo/bar?baz=http://foo.bar", "/foo/bar?baz=http://foo.bar", false),
        ("/%41",           "/A",            true),   // an escape is not decoded (Google)
        ("/A",             "/%41",          true),
        ("/a%3cd",         "/a%3Cd",        false),  // hex case ignored
        ("/a%3Cd",         "/a<d",          true),   // '<' literal vs %3C: different
        ("/ä",             "/%C3%A4",       false),  // a rule's non-ASCII encoded
        ("/%c3%a4",        "/%c3%A4",       false),
        ("/%7Ejoe",        "/~joe/index",   true),
    ];
    for (pattern, url, want) in cases {
        let file = format!("User-agent: *\nDisallow: {pattern}\n");
        check(&file, "oneloop", &[(url, *want)]);
    }
}

#[test]
fn tolerates_junk_bom_comments_and_line_ends() {
    let file = "\u{feff}User-agent: *  # everyone\r\nthis is junk\rDisallow: /a # no a\r\n\nSitemap: http://x/s.xml\nDisallow : /b\n";
    check(
        file,
        "oneloop",
        &[("/a", false), ("/b", false), ("/c", true)],
    );
    // A rule before any user-agent line belongs to no group.
    check(
        "Disallow: /\nUser-agent: *\nDisallow: /x\n",
        "oneloop",
        &[("/", true), ("/x", false)],
    );
    // Binary garbage parses to nothing, without a panic.
    let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert!(Robots::parse(&junk, "oneloop").allowed("/"));
}

#[test]
fn only_the_first_500_kib_count() {
    let mut file = b"User-agent: *\n".to_vec();
    while file.len() < MAX_BYTES - 20 {
        file.extend_from_slice(b"# padding padding padding padding\n");
    }
    file.extend_from_slice(b"Disallow: /late\n"); // straddles or passes the limit
    file.extend(std::iter::repeat_n(b'#', 1024));
    file.extend_from_slice(b"\nDisallow: /too-late\n");
    let r = Robots::parse(&file, "oneloop");
    assert!(r.allowed("/too-late"));
}

#[test]
fn crawl_delay_and_special_cases() {
    let r = Robots::parse(
        b"User-agent: *\nCrawl-delay: 2.5\nDisallow: /x\n",
        "oneloop",
    );
    assert_eq!(r.crawl_delay(), Some(Duration::from_millis(2500)));
    assert!(Robots::parse(b"User-agent: *\nCrawl-delay: soon\n", "a")
        .crawl_delay()
        .is_none());
    let deny = Robots::deny_all();
    assert!(!deny.allowed("/") && deny.allowed("/robots.txt") && deny.denies_all());
    assert!(Robots::parse(b"User-agent: *\nDisallow: /\n", "a").allowed("/robots.txt"));
    assert!(Robots::allow_all().allowed("/anything"));
    assert!(!Robots::parse(b"User-agent: *\nDisallow: /\n", "a").allowed(""));
}

/// The matcher against a plain recursive reference (exponential, but the
/// cases are small), on generated patterns and paths over a tiny alphabet,
/// where wildcards and anchors interact the most.
#[test]
fn matching_agrees_with_a_reference_on_generated_cases() {
    fn reference(path: &[u8], pattern: &[u8], anchored: bool) -> bool {
        match pattern.split_first() {
            None => !anchored || path.is_empty(),
            Some((b'*', rest)) => (0..=path.len()).any(|i| reference(&path[i..], rest, anchored)),
            Some((c, rest)) => path.first() == Some(c) && reference(&path[1..], rest, anchored),
        }
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..20_000 {
        let pattern: Vec<u8> = (0..next(7)).map(|_| b"ab*"[next(3) as usize]).collect();
        let path: Vec<u8> = (0..next(9)).map(|_| b"ab"[next(2) as usize]).collect();
        let anchored = next(2) == 0;
        let mut full = pattern.clone();
        if anchored {
            full.push(b'$');
        }
        assert_eq!(
            matches(&path, &full),
            reference(&path, &pattern, anchored),
            "path {:?} pattern {:?}",
            String::from_utf8_lossy(&path),
            String::from_utf8_lossy(&full)
        );
    }
}

#[test]
fn overlong_patterns_never_allow_more() {
    let long = "a".repeat(MAX_PATTERN + 100);
    let file = format!("User-agent: *\nDisallow: /{long}$\nAllow: /x{long}\n");
    let r = Robots::parse(file.as_bytes(), "oneloop");
    assert_eq!(r.len(), 1, "the long Allow is dropped");
    // The Disallow is cut (and loses its `$`): it matches more, not less.
    assert!(!r.allowed(&format!("/{long}")));
    assert!(!r.allowed(&format!("/{long}zzz")));
    assert!(r.allowed("/b"));
}
