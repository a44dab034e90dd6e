//! `crawl --follow` against a small site whose reachable set is known:
//! every in-scope reachable page fetched exactly once, nothing out of
//! scope, the depth limit exact, nofollow and robots.txt honoured, a trap
//! bounded.

mod common;

use common::*;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

type Hits = Arc<Mutex<HashMap<String, usize>>>;

fn send(s: &mut TcpStream, status: &str, ctype: &str, extra: &str, body: &str) -> bool {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).is_ok() && s.write_all(body.as_bytes()).is_ok()
}

/// The site. `other` is a server on another host name (out of scope).
fn site(hits: Hits, other: u16) -> std::net::SocketAddr {
    let handler = move |s: &mut TcpStream, path: &str| -> bool {
        *hits.lock().unwrap().entry(path.to_string()).or_insert(0) += 1;
        let html = |links: &[&str]| {
            let a: String = links
                .iter()
                .map(|l| format!("<a href=\"{l}\">x</a>\n"))
                .collect();
            format!("<html><body>{a}</body></html>")
        };
        let page = match path {
            "/robots.txt" => {
                return send(
                    s,
                    "200 OK",
                    "text/plain",
                    "",
                    "User-agent: *\nDisallow: /private\n",
                )
            }
            "/" => {
                html(&[
                    "a",
                    "/b",
                    "c",
                    "/redirect",
                    "/away",
                    "trap/0",
                    "/private/x",
                    "mailto:x@y",
                    "#top",
                    &format!("http://localhost:{other}/elsewhere"),
                ]) + "<a rel=nofollow href=/nofollowed>n</a>"
            }
            "/a" => html(&["a/1", "/a/2", "/b", "/", "/a#frag", "/./a/../a"]),
            "/a/1" => html(&["/a/1/deep"]),
            "/a/2" => html(&[]),
            "/a/1/deep" => html(&["/a/1/deep/deeper"]),
            "/b" => return send(s, "200 OK", "text/plain", "", "<a href=/never-plain>"),
            "/c" => "<meta name=robots content=\"noindex, nofollow\"><a href=/never-c>".into(),
            "/redirect" => return send(s, "301 Moved", "text/html", "Location: /target\r\n", ""),
            // In scope, but it redirects out of it: not followed.
            "/away" => {
                let to = format!("Location: http://localhost:{other}/landed\r\n");
                return send(s, "302 Found", "text/html", &to, "");
            }
            "/target" => html(&["/a"]),
            p if p.starts_with("/trap/") => {
                let n: u32 = p[6..].parse().unwrap();
                html(&[&format!("/trap/{}", n + 1)])
            }
            _ => return send(s, "404 Not Found", "text/html", "", "no"),
        };
        send(s, "200 OK", "text/html; charset=utf-8", "", &page)
    };
    spawn(Arc::new(handler), Arc::new(Counters::default()), None)
}

#[test]
fn a_site_is_crawled_once_within_scope_depth_and_rules() {
    let other_hits: Hits = Arc::default();
    let other = site(other_hits.clone(), 1);
    let hits: Hits = Arc::default();
    let addr = site(hits.clone(), other.port());
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--follow",
            "--max-depth",
            "3",
            "--no-pacing",
            "--retries",
            "0",
        ],
        &format!("http://{addr}/\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut by_path: BTreeMap<String, String> = BTreeMap::new();
    for l in stdout.lines() {
        let url = field(l, "url").unwrap();
        let path = url
            .split_once(&addr.to_string())
            .map(|(_, p)| p.to_string())
            .unwrap_or(url.into());
        assert!(
            by_path.insert(path.clone(), l.to_string()).is_none(),
            "{path} twice"
        );
    }
    let paths: Vec<&str> = by_path.keys().map(String::as_str).collect();
    // Depth 0: /; 1: its links; 2: theirs; 3: /a/1/deep, /trap/2. Not:
    // /a/1/deep/deeper (depth 4), /trap/3, out of scope, nofollow, plain
    // text and meta-nofollow links, the redirect's target again (/target
    // was fetched by following /redirect).
    assert_eq!(
        paths,
        [
            "/",
            "/a",
            "/a/1",
            "/a/1/deep",
            "/a/2",
            "/away",
            "/b",
            "/c",
            "/private/x",
            "/redirect",
            "/trap/0",
            "/trap/1",
            "/trap/2",
        ],
        "{stdout}"
    );
    let h = hits.lock().unwrap();
    for (path, n) in h.iter() {
        assert_eq!(*n, 1, "{path} requested {n} times");
    }
    assert!(!h.contains_key("/private/x"), "robots.txt obeyed");
    assert!(h.contains_key("/target"), "the redirect was followed");
    assert!(
        other_hits.lock().unwrap().is_empty(),
        "out of scope: {:?}",
        other_hits.lock().unwrap()
    );
    // depth, from and links.
    let id = |p: &str| field(&by_path[p], "id").unwrap().to_string();
    assert_eq!(field(&by_path["/"], "depth"), Some("0"));
    assert!(field(&by_path["/"], "from").is_none(), "a seed has no from");
    assert_eq!(field(&by_path["/"], "line"), Some("1"));
    assert_eq!(field(&by_path["/"], "links"), Some("7"), "{}", by_path["/"]);
    // A redirect out of scope is not followed (its target's host was not
    // even asked for its robots.txt): the 302 is the page's answer.
    assert_eq!(
        field(&by_path["/away"], "status"),
        Some("302"),
        "{}",
        by_path["/away"]
    );
    assert!(
        stderr.contains("1 redirects out of scope not followed"),
        "{stderr}"
    );
    assert_eq!(field(&by_path["/a/1/deep"], "depth"), Some("3"));
    assert_eq!(field(&by_path["/a/1/deep"], "from").unwrap(), id("/a/1"));
    assert_eq!(field(&by_path["/a"], "from").unwrap(), id("/"));
    assert_eq!(
        field(&by_path["/a/1/deep"], "links"),
        Some("0"),
        "too deep: none queued"
    );
    assert!(
        by_path["/private/x"].contains("\"phase\":\"robots\""),
        "{}",
        by_path["/private/x"]
    );
    assert!(stderr.contains("follow: "), "{stderr}");
}

#[test]
fn the_demo_site_is_found_whole_from_its_first_page() {
    let (stdout, stderr) = demo_follow(&["--pages", "3000"]);
    let mut pages = std::collections::HashSet::new();
    let mut calendar = 0;
    for l in stdout.lines().filter(|l| l.starts_with('{')) {
        assert!(l.contains("\"status\":200"), "{l}");
        let url = field(l, "url").unwrap();
        let path = &url[url.find("/p/").or(url.find("/cal/")).expect(url)..];
        if let Some(n) = path.strip_prefix("/p/") {
            assert!(pages.insert(n.parse::<u64>().unwrap()), "{path} twice");
        } else {
            calendar += 1;
        }
    }
    assert_eq!(pages.len(), 3000, "every page of the site, once");
    assert!(
        !stdout.contains("/only-in-sitemap"),
        "not without --sitemaps"
    );
    // 3,000 pages reach depth 4 (pages 585..4680), so the calendar trap
    // is walked 4 days deep, and no further.
    assert_eq!(calendar, 4);
    assert!(stderr.contains("follow: 3004 URLs seen"), "{stderr}");
}

/// A site whose pages `/only-in-sitemap` and `/only-in-robots-sitemap` no
/// page links to: only sitemaps name them.
fn sitemap_site(hits: Hits) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let me = listener.local_addr().unwrap();
    let handler = move |s: &mut TcpStream, path: &str| -> bool {
        *hits.lock().unwrap().entry(path.to_string()).or_insert(0) += 1;
        let xml = "application/xml";
        match path {
            "/robots.txt" => send(s, "200 OK", "text/plain", "", &format!("User-agent: *\nAllow: /\nSitemap: http://{me}/from-robots.xml\n")),
            "/sitemap.xml" => send(s, "200 OK", xml, "", &format!(
                "<sitemapindex><sitemap><loc>http://{me}/nested.xml.gz</loc></sitemap><sitemap><loc>http://{me}/sitemap.xml</loc></sitemap></sitemapindex>"
            )),
            "/nested.xml.gz" => {
                let set = format!("<urlset><url><loc>http://{me}/only-in-sitemap</loc></url><url><loc>http://{me}/</loc></url><url><loc>http://elsewhere.test/x</loc></url></urlset>");
                let gz = oneloop::warc::gzip_member(set.as_bytes(), 6);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\n\r\n", gz.len());
                s.write_all(head.as_bytes()).is_ok() && s.write_all(&gz).is_ok()
            }
            "/from-robots.xml" => send(s, "200 OK", xml, "", &format!("<urlset><url><loc>http://{me}/only-in-robots-sitemap</loc></url></urlset>")),
            "/" => send(s, "200 OK", "text/html", "", "<a href=/linked>l</a>"),
            "/linked" | "/only-in-sitemap" | "/only-in-robots-sitemap" => send(s, "200 OK", "text/html", "", "<p>leaf"),
            _ => send(s, "404 Not Found", "text/html", "", ""),
        }
    };
    spawn_on(listener, Arc::new(handler))
}

#[test]
fn sitemap_only_pages_are_found_with_sitemaps_only() {
    for with in [false, true] {
        let hits: Hits = Arc::default();
        let addr = sitemap_site(hits.clone());
        let mut args = vec!["crawl", "-", "--follow", "--no-pacing"];
        if with {
            args.push("--sitemaps");
        }
        let out = oneloop_with_stdin(&args, &format!("http://{addr}/\n"));
        assert!(out.status.success());
        let stdout = String::from_utf8(out.stdout).unwrap();
        let h = hits.lock().unwrap();
        for (path, n) in h.iter() {
            // robots.txt too: once, by the robots gate, whose fetch the
            // --sitemaps crawl reads (it was fetched a second time).
            assert_eq!(*n, 1, "{path} requested {n} times");
        }
        let found = |p: &str| h.contains_key(p);
        assert!(found("/linked"));
        assert_eq!(found("/only-in-sitemap"), with, "{stdout}");
        assert_eq!(found("/only-in-robots-sitemap"), with, "{stdout}");
        if with {
            let kinds = stdout.matches("\"kind\":\"sitemap\"").count();
            assert_eq!(
                kinds, 3,
                "sitemap.xml, nested.xml.gz, from-robots.xml: {stdout}"
            );
            // The gate's robots.txt fetch is not an outcome of its own.
            assert_eq!(stdout.matches("\"kind\":\"robots\"").count(), 0);
            let leaf = stdout
                .lines()
                .find(|l| l.contains("/only-in-sitemap\""))
                .unwrap();
            // The index is at 0, the sitemap it lists a step deeper (an
            // endless chain of indexes is bounded by depth), the page
            // one below that.
            assert_eq!(
                field(leaf, "depth"),
                Some("2"),
                "one step below its sitemap: {leaf}"
            );
            let nested = stdout
                .lines()
                .find(|l| l.contains("/nested.xml.gz\""))
                .unwrap();
            assert_eq!(field(nested, "depth"), Some("1"), "{nested}");
        }
    }
}

#[test]
fn a_frontier_over_its_memory_bound_spills_and_loses_nothing() {
    let args = [
        "--pages",
        "30000",
        "--hosts",
        "2",
        "--max-frontier-memory",
        "65536",
    ];
    let (stdout, stderr) = demo_follow(&args);
    let mut pages = std::collections::HashSet::new();
    for l in stdout.lines().filter(|l| l.starts_with('{')) {
        let url = field(l, "url").unwrap();
        if let Some(at) = url.find("/p/") {
            assert!(pages.insert(url[at + 3..].to_string()), "{url} twice");
        }
    }
    assert_eq!(
        pages.len(),
        30_000,
        "every page once, through the spill file"
    );
    assert!(
        !stderr.contains(" 0 queue batches spilled"),
        "it did spill: {stderr}"
    );
    // The spill file is temporary: none of this process is left.
    let left = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("oneloop-frontier-") && name.ends_with(".spill")
        })
        .count();
    assert_eq!(left, 0, "spill files left behind");
}

#[test]
fn the_demo_sites_sitemap_only_page_is_found_with_sitemaps() {
    let (stdout, _) = demo_follow(&["--sitemaps", "--pages", "100"]);
    let only = stdout
        .lines()
        .filter(|l| l.contains("/only-in-sitemap\""))
        .count();
    assert_eq!(only, 1, "{stdout}");
    let pages = stdout.lines().filter(|l| l.contains("/p/")).count();
    assert_eq!(pages, 100);
}

/// `oneloop demo --follow --names 0 --jsonl ARGS`, which must succeed:
/// its stdout and stderr.
fn demo_follow(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args(["demo", "--follow", "--names", "0", "--jsonl"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// A 12 MB sitemap failed as `body: too_large` under the 10 MiB page
/// limit although sitemaps may be 50 MiB: a sitemap request carries its
/// own limit.
#[test]
fn a_sitemap_over_the_page_limit_is_read_whole() {
    use oneloop::crawl::CrawlSetup;
    use oneloop::follow::{Follow, FollowConfig};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let me = listener.local_addr().unwrap();
    let big = {
        let mut xml = String::from("<urlset>");
        while xml.len() < 12 << 20 {
            xml.push_str("<!-- padding padding padding padding padding padding -->\n");
        }
        xml.push_str(&format!(
            "<url><loc>http://{me}/listed-last</loc></url></urlset>"
        ));
        Arc::new(xml)
    };
    let hits: Hits = Arc::default();
    let h = hits.clone();
    let handler = move |s: &mut TcpStream, path: &str| -> bool {
        *h.lock().unwrap().entry(path.to_string()).or_insert(0) += 1;
        match path {
            "/sitemap.xml" => send(s, "200 OK", "application/xml", "", &big),
            "/" | "/listed-last" => send(s, "200 OK", "text/html", "", "<p>page"),
            _ => send(s, "404 Not Found", "text/html", "", ""),
        }
    };
    spawn_on(listener, Arc::new(handler));
    let mut crawler = oneloop::Crawler::new(oneloop::Config::local()).unwrap();
    let mut follow = Follow::new(FollowConfig {
        sitemaps: true,
        ..FollowConfig::default()
    });
    let mut errors = Vec::new();
    crawler
        .crawl(
            [format!("http://{me}/")],
            &mut follow,
            CrawlSetup::new(2),
            |o| o.result.as_ref().err().map(|e| format!("{}: {e}", o.url)),
            |page, _| errors.extend(page.result.ok().flatten()),
        )
        .unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(hits.lock().unwrap().get("/listed-last"), Some(&1));
}
