//! robots.txt, second pass: redirects pass the gate, a big or endless file
//! is read in part, dot segments cannot sneak past a rule, the cache is
//! bounded.

mod common;

use common::*;
use oneloop::{Config, Crawler, ErrorKind, Phase};
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<String>>>;

/// What a site answers to one path: a robots.txt body, a redirect, a page.
enum Answer {
    Robots(Vec<u8>),
    Redirect(String),
    Page,
}

/// A server answering `route(path)`; it logs every path it is asked for.
fn site(route: impl Fn(&str) -> Answer + Send + Sync + 'static) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let addr = spawn(
        Arc::new(move |s: &mut TcpStream, path: &str| {
            l2.lock().unwrap().push(path.to_string());
            match route(path) {
                Answer::Robots(body) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    s.write_all(head.as_bytes()).is_ok() && s.write_all(&body).is_ok()
                }
                Answer::Redirect(to) => {
                    let head = format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
                    );
                    s.write_all(head.as_bytes()).is_ok()
                }
                Answer::Page => respond(s, path, true),
            }
        }),
        Arc::new(Counters::default()),
        None,
    );
    (addr, log)
}

type Seen = HashMap<String, Result<u16, (Phase, ErrorKind)>>;

fn crawl(config: Config, urls: Vec<String>) -> (Seen, oneloop::Summary) {
    let mut seen = HashMap::new();
    let summary = Crawler::new(config)
        .unwrap()
        .run(urls, |o| {
            let r = match &o.result {
                Ok(r) => Ok(r.status),
                Err(e) => Err((e.phase, e.kind)),
            };
            seen.insert(o.url.clone(), r);
        })
        .unwrap();
    (seen, summary)
}

fn robots_on() -> Config {
    let mut c = Config::local();
    c.robots.enabled = true;
    c
}

fn asked(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

const DISALLOWED: Result<u16, (Phase, ErrorKind)> = Err((Phase::Robots, ErrorKind::Disallowed));

#[test]
fn every_redirect_hop_passes_the_gate_of_its_origin() {
    let (b, b_log) = site(|path| match path {
        "/robots.txt" => Answer::Robots(b"User-agent: *\nDisallow: /secret\n".to_vec()),
        _ => Answer::Page,
    });
    let (a, a_log) = site(move |path| match path {
        "/robots.txt" => Answer::Robots(b"User-agent: *\nDisallow: /private\n".to_vec()),
        "/go-private" => Answer::Redirect("/private/x".into()),
        "/go-b-secret" => Answer::Redirect(format!("http://{b}/secret")),
        "/go-b-open" => Answer::Redirect(format!("http://{b}/open")),
        _ => Answer::Page,
    });
    let urls = ["/go-private", "/go-b-secret", "/go-b-open"]
        .iter()
        .map(|p| format!("http://{a}{p}"))
        .collect();
    let (seen, summary) = crawl(robots_on(), urls);
    assert_eq!(seen[&format!("http://{a}/go-private")], DISALLOWED);
    assert_eq!(seen[&format!("http://{a}/go-b-secret")], DISALLOWED);
    assert_eq!(seen[&format!("http://{a}/go-b-open")], Ok(200));
    assert!(!asked(&a_log).iter().any(|p| p.starts_with("/private")));
    let b_paths = asked(&b_log);
    assert_eq!(
        b_paths.first().map(String::as_str),
        Some("/robots.txt"),
        "{b_paths:?}"
    );
    assert_eq!(
        b_paths,
        ["/robots.txt", "/open"],
        "the secret is never asked for"
    );
    assert_eq!(summary.robots_fetches, 2);
    assert_eq!(summary.robots_denied, 2);
}

#[test]
fn a_big_robots_txt_is_read_in_part_whatever_the_page_limit() {
    // 2 MiB: the rules first, then comments past RFC 9309's 500 KiB.
    let mut file = b"User-agent: *\nDisallow: /private\n".to_vec();
    while file.len() < 2 << 20 {
        file.extend_from_slice(b"# padding padding padding padding padding padding\n");
    }
    file.extend_from_slice(b"Disallow: /late\n"); // past 500 KiB: ignored
    let (a, a_log) = site(move |path| match path {
        "/robots.txt" => Answer::Robots(file.clone()),
        _ => Answer::Page,
    });
    let mut config = robots_on();
    config.limits.max_body_bytes = 1024; // pages are small; robots.txt is not a page
    let urls = ["/open", "/private", "/late"]
        .iter()
        .map(|p| format!("http://{a}{p}"))
        .collect();
    let (seen, summary) = crawl(config, urls);
    assert_eq!(seen[&format!("http://{a}/open")], Ok(200));
    assert_eq!(seen[&format!("http://{a}/private")], DISALLOWED);
    assert_eq!(seen[&format!("http://{a}/late")], Ok(200));
    assert_eq!(summary.robots_statuses[2], 1, "{summary}");
    assert!(!asked(&a_log).contains(&"/private".to_string()));
}

#[test]
fn an_endless_robots_txt_is_read_in_part() {
    // No Content-Length, and a body that never ends.
    let addr = raw_server(|mut s| {
        let Some(path) = drain_request(&s) else {
            return;
        };
        if path != "/robots.txt" {
            let _ = respond(&mut s, &path, false);
            return;
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nUser-agent: *\nDisallow: /private\n");
        let junk = [b'#'; 4096];
        while s.write_all(&junk).is_ok() {}
    });
    let urls = vec![
        format!("http://{addr}/open"),
        format!("http://{addr}/private"),
    ];
    let (seen, _) = crawl(robots_on(), urls);
    assert_eq!(seen[&format!("http://{addr}/open")], Ok(200));
    assert_eq!(seen[&format!("http://{addr}/private")], DISALLOWED);
}

#[test]
fn dot_segments_cannot_walk_past_a_rule() {
    let (a, a_log) = site(|path| match path {
        "/robots.txt" => Answer::Robots(b"User-agent: *\nDisallow: /private\n".to_vec()),
        _ => Answer::Page,
    });
    let urls = vec![
        format!("http://{a}/public/../private/x"),
        format!("http://{a}/public/./../public/y"),
    ];
    let (seen, _) = crawl(robots_on(), urls);
    assert_eq!(seen[&format!("http://{a}/private/x")], DISALLOWED);
    assert_eq!(seen[&format!("http://{a}/public/y")], Ok(200));
    assert_eq!(asked(&a_log), ["/robots.txt", "/public/y"]);
}

#[test]
fn the_robots_cache_stays_within_its_budget() {
    // 60 origins (names of one server), each with ~200 KiB of rules; a
    // budget of 2 MiB holds about ten.
    let mut file = b"User-agent: *\n".to_vec();
    for i in 0..4000 {
        file.extend_from_slice(format!("Disallow: /private/{i:040}\n").as_bytes());
    }
    let (addr, _) = site(move |path| match path {
        "/robots.txt" => Answer::Robots(file.clone()),
        _ => Answer::Page,
    });
    let mut config = robots_on();
    config.robots.cache_bytes = 2 << 20;
    // One request waiting for a robots.txt at a time: the second round
    // comes after the first was decided (and mostly forgotten).
    config.max_parked = 1;
    let mut urls = Vec::new();
    for round in 0..2 {
        for h in 0..60 {
            let name = format!("h{h}.test");
            config.resolve.push((name.clone(), addr.ip()));
            urls.push(format!("http://{name}:{}/page/{round}", addr.port()));
        }
    }
    let (seen, summary) = crawl(config, urls);
    assert_eq!(seen.len(), 120);
    assert!(seen.values().all(|r| *r == Ok(200)), "{seen:?}");
    let cache = summary.robots_cache;
    assert!(cache.peak_bytes <= (2 << 20) + (400 << 10), "{summary}");
    assert!(cache.evicted >= 50, "{summary}");
    // The second round needed the forgotten origins again: fetched again.
    assert!(summary.robots_fetches >= 100, "{summary}");
}
