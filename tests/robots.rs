//! robots.txt end to end, against loopback servers: one fetch per origin,
//! disallowed paths never reach the server, 404 → all allowed, 500 → all
//! disallowed, an unreachable origin keeps its own error, Crawl-delay.

mod common;

use common::*;
use oneloop::{Config, Crawler, ErrorKind, Phase};
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Log = Arc<Mutex<Vec<(String, Instant)>>>;

/// A server answering /robots.txt with `status` and `robots`, other paths
/// with their own path; it logs every path it is asked for.
fn site(status: u16, robots: &'static str) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let addr = spawn(
        Arc::new(move |s: &mut TcpStream, path: &str| {
            l2.lock().unwrap().push((path.to_string(), Instant::now()));
            if path == "/robots.txt" {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n",
                    robots.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(robots.as_bytes());
                return true;
            }
            respond(s, path, true)
        }),
        Arc::new(Counters::default()),
        None,
    );
    (addr, log)
}

type Seen = HashMap<String, Result<u16, (Phase, ErrorKind)>>;

fn config() -> Config {
    let mut c = Config::local();
    c.robots.enabled = true;
    c
}

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

fn paths(log: &Log) -> Vec<String> {
    log.lock().unwrap().iter().map(|(p, _)| p.clone()).collect()
}

#[test]
fn one_fetch_per_origin_and_disallowed_paths_never_reach_the_server() {
    let robots = "User-agent: *\nDisallow: /private\n\nUser-agent: oneloop\nDisallow: /private\nDisallow: /only-for-oneloop\n";
    let sites: Vec<(SocketAddr, Log)> = (0..3).map(|_| site(200, robots)).collect();
    let mut urls = Vec::new();
    for (addr, _) in &sites {
        for i in 0..20 {
            urls.push(format!("http://{addr}/page/{i}"));
            urls.push(format!("http://{addr}/private/{i}"));
        }
        urls.push(format!("http://{addr}/only-for-oneloop"));
    }
    let (seen, summary) = crawl(config(), urls);
    assert_eq!(seen.len(), 3 * 41);
    for (addr, log) in &sites {
        let p = paths(log);
        assert_eq!(
            p.iter().filter(|x| *x == "/robots.txt").count(),
            1,
            "one fetch per origin"
        );
        assert_eq!(p[0], "/robots.txt", "before the origin's first request");
        assert!(!p
            .iter()
            .any(|x| x.starts_with("/private") || x == "/only-for-oneloop"));
        assert_eq!(p.len(), 21);
        let denied = seen[&format!("http://{addr}/private/3")];
        assert_eq!(denied, Err((Phase::Robots, ErrorKind::Disallowed)));
        assert_eq!(seen[&format!("http://{addr}/page/3")], Ok(200));
    }
    assert_eq!(summary.robots_fetches, 3);
    assert_eq!(summary.robots_statuses[2], 3);
    assert_eq!(summary.robots_denied, 3 * 21);
}

#[test]
fn the_product_token_can_be_chosen() {
    let (addr, log) = site(
        200,
        "User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
    );
    let mut c = config();
    c.robots.agent = Some("OtherBot".into());
    let (seen, _) = crawl(c, vec![format!("http://{addr}/x")]);
    assert_eq!(
        seen[&format!("http://{addr}/x")],
        Err((Phase::Robots, ErrorKind::Disallowed))
    );
    assert_eq!(paths(&log), vec!["/robots.txt"]);
}

#[test]
fn status_404_allows_everything_and_500_disallows_everything() {
    let (open, open_log) = site(404, "");
    let (closed, closed_log) = site(500, "");
    let urls: Vec<String> = (0..5)
        .flat_map(|i| [format!("http://{open}/{i}"), format!("http://{closed}/{i}")])
        .collect();
    let (seen, summary) = crawl(config(), urls);
    for i in 0..5 {
        assert_eq!(seen[&format!("http://{open}/{i}")], Ok(200));
        assert_eq!(
            seen[&format!("http://{closed}/{i}")],
            Err((Phase::Robots, ErrorKind::Unavailable))
        );
    }
    assert_eq!(paths(&open_log).len(), 6);
    assert_eq!(
        paths(&closed_log),
        vec!["/robots.txt"],
        "nothing else asked of it"
    );
    assert_eq!(
        (summary.robots_statuses[4], summary.robots_statuses[5]),
        (1, 1)
    );
}

#[test]
fn an_unreachable_origin_keeps_its_own_error() {
    let gone = refused_port();
    let mut c = config();
    c.retry.max_retries = 0;
    let (seen, summary) = crawl(
        c,
        vec![format!("http://{gone}/a"), format!("http://{gone}/b")],
    );
    for p in ["a", "b"] {
        assert_eq!(
            seen[&format!("http://{gone}/{p}")],
            Err((Phase::Connect, ErrorKind::Refused))
        );
    }
    // Their error is the connection's, not a refusal by robots.txt: the
    // summary's counts match the outcomes.
    assert_eq!(summary.robots_denied, 0, "{summary}");
    assert_eq!(summary.errors[&("connect", "refused")], 2, "{summary}");
}

#[test]
fn crawl_delay_spaces_the_origins_requests() {
    let (addr, log) = site(200, "User-agent: *\nCrawl-delay: 0.15\nAllow: /\n");
    let c = Config {
        per_host: 4,
        ..config()
    };
    let urls: Vec<String> = (0..5).map(|i| format!("http://{addr}/{i}")).collect();
    let (seen, _) = crawl(c, urls);
    assert!(seen.values().all(|r| *r == Ok(200)));
    let times: Vec<Instant> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p != "/robots.txt")
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(times.len(), 5);
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        // 150 ms, less the loopback's delivery jitter.
        assert!(gap >= Duration::from_millis(140), "{gap:?}");
    }
}

#[test]
fn the_cli_obeys_robots_by_default_and_can_ignore_it() {
    let (addr, _) = site(200, "User-agent: *\nDisallow: /no\n");
    let input = format!("http://{addr}/no\nhttp://{addr}/yes\n");
    let out = oneloop_with_stdin(&["crawl", "-", "--no-pacing"], &input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#""error":{"phase":"robots","kind":"disallowed""#),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("robots.txt: 1 fetched (2xx 1"), "{stderr}");
    assert!(stderr.contains("1 URLs refused"), "{stderr}");
    let out = oneloop_with_stdin(&["crawl", "-", "--no-pacing", "--ignore-robots"], &input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("\"status\":200").count(), 2, "{stdout}");
}

/// A server whose /robots.txt redirects `hops` times before the rules.
fn redirecting(hops: u32) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let l2 = log.clone();
    let addr = spawn(
        Arc::new(move |s: &mut TcpStream, path: &str| {
            l2.lock().unwrap().push((path.to_string(), Instant::now()));
            let hop = path
                .strip_prefix("/robots.txt")
                .map(|rest| rest.trim_start_matches("?hop=").parse::<u32>().unwrap_or(0));
            match hop {
                Some(n) if n < hops => {
                    let head = format!(
                        "HTTP/1.1 301 Moved\r\nLocation: /robots.txt?hop={}\r\nContent-Length: 0\r\n\r\n",
                        n + 1
                    );
                    s.write_all(head.as_bytes()).is_ok()
                }
                Some(_) => {
                    let body = "User-agent: *\nDisallow: /no\n";
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    s.write_all(head.as_bytes()).is_ok() && s.write_all(body.as_bytes()).is_ok()
                }
                None => respond(s, path, true),
            }
        }),
        Arc::new(Counters::default()),
        None,
    );
    (addr, log)
}

#[test]
fn robots_txt_redirects_are_followed_up_to_five() {
    let mut c = config();
    c.redirects.follow = false; // the crawl's setting does not apply to robots.txt
    let (five, _) = redirecting(5);
    let (six, six_log) = redirecting(6);
    let urls = vec![
        format!("http://{five}/no"),
        format!("http://{five}/yes"),
        format!("http://{six}/yes"),
    ];
    let (seen, _) = crawl(c, urls);
    assert_eq!(
        seen[&format!("http://{five}/no")],
        Err((Phase::Robots, ErrorKind::Disallowed))
    );
    assert_eq!(seen[&format!("http://{five}/yes")], Ok(200));
    // Six redirects: the file is unavailable, everything disallowed.
    assert_eq!(
        seen[&format!("http://{six}/yes")],
        Err((Phase::Robots, ErrorKind::Unavailable))
    );
    assert!(!paths(&six_log).contains(&"/yes".to_string()));
}

/// What the robots sink saw: URL, status, body, whether the wire was kept.
type Fetched = (String, u16, String, bool);

/// `RobotsConfig::on_fetch`: each file the gate fetched reaches the sink
/// once (on the loop without workers, on a worker with them), with its
/// body and, with `keep_wire`, its bytes as received; it is never an
/// outcome, and a 404 is a fetch too.
#[test]
fn the_robots_sink_gets_each_fetched_file_once_and_no_outcome() {
    let (a, _) = site(200, "User-agent: *\nDisallow: /private\n");
    let (b, _) = site(404, "none");
    for workers in [false, true] {
        let got: Arc<Mutex<Vec<Fetched>>> = Arc::default();
        let sink_got = got.clone();
        let mut c = config();
        c.request.keep_wire = true;
        c.robots.on_fetch = Some(oneloop::RobotsSink::new(move |o| {
            let r = o.result.as_ref().unwrap();
            let body = String::from_utf8_lossy(&r.body).into_owned();
            let wire = r.wire.as_ref().is_some_and(|w| !w.head.is_empty());
            sink_got
                .lock()
                .unwrap()
                .push((o.url.clone(), r.status, body, wire));
        }));
        let urls: Vec<String> = (0..6)
            .flat_map(|i| [format!("http://{a}/p/{i}"), format!("http://{b}/q/{i}")])
            .chain([format!("http://{a}/private/x")])
            .collect();
        let mut crawler = Crawler::new(c).unwrap();
        let summary = if workers {
            crawler
                .run_with_workers(urls, oneloop::workers::Workers::new(2), |_| (), |_| ())
                .unwrap()
        } else {
            crawler.run(urls, |_| ()).unwrap()
        };
        assert_eq!(summary.outcomes, 13, "workers: {workers}");
        assert_eq!(summary.robots_fetches, 2);
        let mut got = got.lock().unwrap().clone();
        got.sort();
        let mut want = vec![
            (
                format!("http://{a}/robots.txt"),
                200,
                "User-agent: *\nDisallow: /private\n".to_string(),
                true,
            ),
            (
                format!("http://{b}/robots.txt"),
                404,
                "none".to_string(),
                true,
            ),
        ];
        want.sort();
        assert_eq!(got, want, "workers: {workers}");
    }
}
