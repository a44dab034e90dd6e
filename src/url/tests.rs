//! The parser's tables: normal forms, IPv4 forms, the WHATWG front's
//! cases, RFC 3986 joins, typed errors.

use super::*;

fn p(s: &str) -> Result<Url, Error> {
    Url::parse(s)
}

#[test]
fn normal_urls_are_kept_as_they_are() {
    let s = "http://127.0.0.1:8080/page/1?x=2".to_string();
    let ptr = s.as_ptr();
    let u = Url::parse_owned(s).unwrap();
    assert_eq!(u.as_str().as_ptr(), ptr, "no copy for a normal URL");
    assert_eq!(u.host(), "127.0.0.1");
    assert_eq!(u.port(), 8080);
    assert_eq!(u.origin(), "http://127.0.0.1:8080");
    assert_eq!(u.authority(), "127.0.0.1:8080");
    assert_eq!(u.path_and_query(), "/page/1?x=2");
}

#[test]
fn normalization() {
    assert_eq!(p("HTTPS://A.b.C").unwrap().as_str(), "https://a.b.c/");
    assert_eq!(p("https://x:443/").unwrap().as_str(), "https://x/");
    assert_eq!(p("http://x:443/").unwrap().as_str(), "http://x:443/");
    assert_eq!(p("http://x?q").unwrap().as_str(), "http://x/?q");
    assert_eq!(p("http://x/a#f").unwrap().as_str(), "http://x/a");
    assert_eq!(p("  http://x/é ").unwrap().as_str(), "http://x/%C3%A9");
    assert_eq!(p("http://x:/").unwrap().as_str(), "http://x/");
}

#[test]
fn dot_segments_are_resolved_in_input_urls() {
    #[rustfmt::skip]
    let cases = [
        ("http://x/public/../private", "http://x/private"),
        ("http://x/a/./b/", "http://x/a/b/"),
        ("http://x/a/b/..", "http://x/a/"),
        ("http://x/../../a", "http://x/a"),
        ("http://x/a/%2e%2E/b", "http://x/b"),
        ("http://x/a/.%2e/b?q=/../", "http://x/b?q=/../"),
        ("http://x/a/..b/.c", "http://x/a/..b/.c"),
    ];
    for (input, want) in cases {
        assert_eq!(p(input).unwrap().as_str(), want, "{input}");
    }
}

#[test]
fn old_ipv4_forms_are_addresses_never_names() {
    #[rustfmt::skip]
    let cases = [
        ("http://127.1/", "http://127.0.0.1/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://0177.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
        ("http://127.0.0.1./", "http://127.0.0.1/"),
        ("http://10.0x10.1/", "http://10.16.0.1/"),
    ];
    for (input, want) in cases {
        assert_eq!(p(input).unwrap().as_str(), want, "{input}");
    }
    for bad in [
        "http://256.0.0.1/",
        "http://1.2.3.4.5/",
        "http://a.0x1/",
        "http://99999999999/",
    ] {
        assert_eq!(p(bad).unwrap_err().kind, ErrorKind::InvalidUrl, "{bad}");
    }
    // Names that only look numeric in part stay names.
    assert_eq!(p("http://1.example/").unwrap().host(), "1.example");
    assert_eq!(p("http://0x.example/").unwrap().host(), "0x.example");
    assert_eq!(p("http://0x1g/").unwrap().host(), "0x1g");
}

#[test]
fn special_schemes_read_as_the_whatwg_standard_says() {
    // Slashes either way, or none, start the authority (absolute);
    // against an http base, `http:x` is relative.
    for (input, want) in [
        ("http:/ok/x", "http://ok/x"),
        ("http:echo/x", "http://echo/x"),
        ("HTTP:\\\\a\\b", "http://a/b"),
        ("  http://a/\tb\n ", "http://a/b"),
        ("http:///a", "http://a/"),
        ("http://ex%41mple/", "http://example/"),
        ("http://x:0/", "http://x:0/"),
        ("http://x:0080/", "http://x/"),
        ("http://[1:0::]/", "http://[1::]/"),
        ("http://[::127.0.0.1]/", "http://[::7f00:1]/"),
        ("http://h/?'", "http://h/?%27"),
    ] {
        assert_eq!(p(input).unwrap().as_str(), want, "{input:?}");
    }
    let base = p("http://a/b").unwrap();
    assert_eq!(base.join("http:/ok/x").unwrap().as_str(), "http://a/ok/x");
    assert_eq!(base.join("http:g").unwrap().as_str(), "http://a/g");
    assert_eq!(base.join("https:/ok/x").unwrap().as_str(), "https://ok/x");
    assert_eq!(
        base.join("images\\a.html").unwrap().as_str(),
        "http://a/images/a.html"
    );
    assert_eq!(base.join("///c").unwrap().as_str(), "http://c/");
    // Credentials are parsed and kept (the fetch refuses them).
    let u = p("http://u:p@x/").unwrap();
    assert!(u.has_credentials());
    assert_eq!(
        (u.as_str(), u.host(), u.authority()),
        ("http://u:p@x/", "x", "x")
    );
    assert!(!p("http://x/").unwrap().has_credentials());
}

#[test]
fn ipv6_literals() {
    let u = p("http://[::1]:8080/x").unwrap();
    assert_eq!(u.host(), "[::1]");
    assert_eq!(u.host_bare(), "::1");
    assert_eq!(u.port(), 8080);
    assert_eq!(u.origin(), "http://[::1]:8080");
    assert!(p("http://[::1/").is_err());
    assert!(p("http://[zz]/").is_err());
}

#[test]
fn bad_urls_are_typed_errors() {
    let kinds = |s: &str| p(s).unwrap_err().kind;
    // A host without a scheme: refused with what to write (a crawl
    // should not guess http or https for a site).
    let e = p("example.com/x").unwrap_err();
    assert!(
        e.detail
            .contains("write http://example.com/x or https://example.com/x"),
        "{}",
        e.detail
    );
    assert_eq!(kinds("ftp://x/"), ErrorKind::UnsupportedScheme);
    assert_eq!(kinds("mailto:a@b"), ErrorKind::UnsupportedScheme);
    for bad in [
        "",
        "x",
        "http://",
        "http://x:99999/",
        "http://x:12a/",
        "http://bad host/",
        "http://a%20b/",
        "http://a.0xffffffffffffffffffff/",
        "://x",
    ] {
        let e = p(bad).unwrap_err();
        assert_eq!(e.phase, Phase::Url, "{bad:?}");
        assert_eq!(e.kind, ErrorKind::InvalidUrl, "{bad:?}");
    }
}

#[test]
fn join_follows_rfc3986_examples() {
    // RFC 3986 §5.4.1, with base http://a/b/c/d;p?q
    let base = p("http://a/b/c/d;p?q").unwrap();
    let cases = [
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g/"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q"),
        ("g#s", "http://a/b/c/g"),
        ("", "http://a/b/c/d;p?q"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
        ("../../../g", "http://a/g"),
        ("/./g", "http://a/g"),
        ("/../g", "http://a/g"),
        ("g.", "http://a/b/c/g."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("https://other:8443/x", "https://other:8443/x"),
    ];
    for (r, want) in cases {
        assert_eq!(base.join(r).unwrap().as_str(), want, "reference {r:?}");
    }
    assert_eq!(
        base.join("ftp://x/").unwrap_err().kind,
        ErrorKind::UnsupportedScheme
    );
}
