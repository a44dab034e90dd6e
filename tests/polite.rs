//! Politeness and persistence: Retry-After pauses, pacing, retries with
//! backoff, redirects. Servers run in-process on 127.0.0.1 and record when
//! each request arrived.

mod common;

use oneloop::admission::Pacing;
use oneloop::{Config, Crawler, ErrorKind, Method, Outcome, Phase, RetryCause};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    method: String,
    path: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A keep-alive server: `handler` returns (status line + headers, body) for
/// each request; arrivals are logged.
fn server(
    handler: impl Fn(&Seen, usize) -> (String, String) + Send + Sync + 'static,
) -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let handler = Arc::new(handler);
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (handler, log) = (handler.clone(), log2.clone());
            std::thread::spawn(move || serve(stream, &*handler, &log));
        }
    });
    (addr, log)
}

fn serve(stream: TcpStream, handler: &dyn Fn(&Seen, usize) -> (String, String), log: &Log) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let at = Instant::now();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut content_length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let seen = Seen { at, method, path };
        let n = {
            let mut l = log.lock().unwrap();
            l.push(seen.clone());
            l.len()
        };
        let (head, body) = handler(&seen, n);
        let resp = format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        if stream.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn ok(body: String) -> (String, String) {
    ("HTTP/1.1 200 OK".to_string(), body)
}

fn config() -> Config {
    Config {
        retry: oneloop::policy::RetryPolicy {
            backoff: Duration::from_millis(10),
            ..oneloop::policy::RetryPolicy::default()
        },
        ..Config::local()
    }
}

fn run(config: Config, urls: Vec<String>) -> HashMap<u64, Outcome> {
    let mut out = HashMap::new();
    let mut crawler = Crawler::new(config).unwrap();
    // Outcomes are borrowed by the callback; keep what the tests look at.
    crawler
        .run(urls, |o: &Outcome| {
            let copy = Outcome {
                id: o.id,
                line: o.line,
                url: o.url.clone(),
                attempts: o.attempts,
                retries: o.retries.clone(),
                redirects: o.redirects.clone(),
                reused: o.reused,
                timings: o.timings,
                result: o.result.clone(),
                meta: o.meta.clone(),
                tag: o.tag,
            };
            assert!(out.insert(o.id, copy).is_none());
        })
        .unwrap();
    out
}

#[test]
fn retry_after_pauses_one_host_while_others_proceed() {
    // Host A answers its first request with 429 Retry-After: 1.
    let (a, a_log) = server(|s, n| {
        if n == 1 {
            (
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1".to_string(),
                String::new(),
            )
        } else {
            ok(s.path.clone())
        }
    });
    // Host B is slow: 100 ms per response, so it is busy throughout.
    let (b, b_log) = server(|s, _| {
        std::thread::sleep(Duration::from_millis(100));
        ok(s.path.clone())
    });
    let mut urls = Vec::new();
    for i in 0..15 {
        urls.push(format!("http://{a}/a{i}"));
        urls.push(format!("http://{b}/b{i}"));
    }
    let cfg = Config {
        per_host: 1,
        ..config()
    };
    let results = run(cfg, urls);
    assert_eq!(results.len(), 30);
    for o in results.values() {
        assert_eq!(o.result.as_ref().unwrap().status, 200, "{}", o.url);
    }
    let first = &results[&0];
    assert_eq!(first.retries, vec![RetryCause::Status(429)]);
    let a_log = a_log.lock().unwrap();
    let t429 = a_log[0].at;
    let next_a = a_log[1].at;
    assert!(
        next_a - t429 >= Duration::from_secs(1),
        "host A was asked again after {:?}",
        next_a - t429
    );
    let b_during_pause = b_log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.at > t429 && s.at < t429 + Duration::from_millis(900))
        .count();
    assert!(
        b_during_pause >= 5,
        "B went on during A's pause: {b_during_pause}"
    );
}

fn gaps(log: &Log) -> Vec<Duration> {
    let l = log.lock().unwrap();
    l.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[test]
fn delay_spaces_request_starts_per_host() {
    let (a, a_log) = server(|s, _| ok(s.path.clone()));
    let paced = Config {
        pacing: Pacing {
            delay: Duration::from_millis(50),
            ..Pacing::off()
        },
        ..config()
    };
    let t = Instant::now();
    let urls = (0..12).map(|i| format!("http://{a}/{i}")).collect();
    run(paced.clone(), urls);
    let one_host = t.elapsed();
    let g = gaps(&a_log);
    assert_eq!(g.len(), 11);
    assert!(
        g.iter().all(|d| *d >= Duration::from_millis(40)),
        "starts at least 50 ms apart (less loopback delivery jitter): {g:?}"
    );

    // Two hosts: the same 12 URLs take about half the time.
    let (b, _) = server(|s, _| ok(s.path.clone()));
    let (c, _) = server(|s, _| ok(s.path.clone()));
    let urls = (0..12)
        .map(|i| format!("http://{}/{i}", if i % 2 == 0 { b } else { c }))
        .collect();
    let t = Instant::now();
    run(paced, urls);
    let two_hosts = t.elapsed();
    let ratio = two_hosts.as_secs_f64() / one_host.as_secs_f64();
    assert!(
        ratio < 0.7,
        "one host {one_host:?}, two hosts {two_hosts:?} (ratio {ratio:.2})"
    );
}

#[test]
fn the_cli_delay_flag_paces_one_host() {
    let (a, a_log) = server(|s, _| ok(s.path.clone()));
    let input: String = (0..6).map(|i| format!("http://{a}/{i}\n")).collect();
    let out = common::oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--delay",
            "50ms",
            "--no-progress",
        ],
        &input,
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
    let g = gaps(&a_log);
    assert!(g.iter().all(|d| *d >= Duration::from_millis(40)), "{g:?}");
}

#[test]
fn retries_back_off_and_only_where_it_is_safe() {
    // Fails the first two attempts of each path with 503.
    let counts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let c2 = counts.clone();
    let (flaky, _) = server(move |s, _| {
        let mut c = c2.lock().unwrap();
        let n = c.entry(s.path.clone()).or_insert(0);
        *n += 1;
        if *n <= 2 {
            ("HTTP/1.1 503 Service Unavailable".into(), String::new())
        } else {
            ok(format!("{} {}", s.method, s.path))
        }
    });
    let urls = vec![format!("http://{flaky}/x")];
    let results = run(config(), urls);
    let x = &results[&0];
    assert_eq!(x.result.as_ref().unwrap().status, 200);
    assert_eq!(x.attempts, 3);
    assert_eq!(
        x.retries,
        vec![RetryCause::Status(503), RetryCause::Status(503)]
    );
    // Which statuses, errors and methods are retried (404 never, POST
    // never, ...) is table-tested in the policy core (src/policy/tests.rs);
    // here: that the driver acts on it, with real attempts and backoffs.

    // Retries exhausted: the last attempt's response is the result.
    let results = run(
        Config {
            retry: oneloop::policy::RetryPolicy {
                max_retries: 1,
                ..config().retry
            },
            ..config()
        },
        vec![format!("http://{flaky}/twice")],
    );
    assert_eq!(results[&0].result.as_ref().unwrap().status, 503);
    assert_eq!(results[&0].attempts, 2);

    // A refused connection is retried, and its error kinds recorded.
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let results = run(config(), vec![format!("http://{refused}/")]);
    let r = &results[&0];
    let e = r.result.as_ref().unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Connect, ErrorKind::Refused));
    assert_eq!(r.attempts, 3);
    assert_eq!(
        r.retries,
        vec![RetryCause::Error(Phase::Connect, ErrorKind::Refused); 2]
    );
}

#[test]
fn redirects_are_followed_safely() {
    let (other, _) = server(|s, _| ok(format!("other {} {}", s.method, s.path)));
    let (r, _) = server(move |s, _| {
        let redirect =
            |code: &str, to: String| (format!("HTTP/1.1 {code}\r\nLocation: {to}"), String::new());
        match s.path.as_str() {
            "/dir/rel" => redirect("302 Found", "final?x=1".into()),
            "/abs" => redirect("301 Moved Permanently", "/dir/final".into()),
            "/cross" => redirect("307 Temporary Redirect", format!("http://{other}/landed")),
            "/post303" => redirect("303 See Other", "/dir/final".into()),
            "/post307" => redirect("307 Temporary Redirect", "/dir/final".into()),
            "/loop1" => redirect("302 Found", "/loop2".into()),
            "/loop2" => redirect("302 Found", "/loop1".into()),
            _ => ok(format!("{} {}", s.method, s.path)),
        }
    });
    // Where each redirect goes, with which method, and which are refused
    // (loops, too many, non-http targets) is table-tested in the policy core
    // (src/policy/tests.rs); here: that the driver follows them for real,
    // across hosts, and ends a loop with a typed error.
    let urls = ["/dir/rel", "/abs", "/cross", "/loop1"]
        .iter()
        .map(|p| format!("http://{r}{p}"))
        .collect();
    let results = run(config(), urls);
    let body =
        |id: u64| String::from_utf8(results[&id].result.as_ref().unwrap().body.clone()).unwrap();
    assert_eq!(
        body(0),
        "GET /dir/final?x=1",
        "relative Location resolved per RFC 3986"
    );
    assert_eq!(results[&0].final_url(), format!("http://{r}/dir/final?x=1"));
    assert_eq!(
        results[&0].url,
        format!("http://{r}/dir/rel"),
        "url stays the input"
    );
    assert_eq!(body(1), "GET /dir/final");
    assert_eq!(body(2), "other GET /landed", "cross-host");
    assert_eq!(
        results[&2].redirects,
        vec![format!("http://{other}/landed")]
    );
    let err = |id: u64| {
        let e = results[&id].result.as_ref().unwrap_err();
        (e.phase, e.kind)
    };
    assert_eq!(err(3), (Phase::Redirect, ErrorKind::RedirectLoop));

    // 303 turns POST into GET; 307 keeps POST.
    let post = Config {
        request: oneloop::RequestTemplate {
            method: Method::Post,
            body: b"form".to_vec(),
            ..config().request
        },
        ..config()
    };
    let results = run(
        post,
        vec![format!("http://{r}/post303"), format!("http://{r}/post307")],
    );
    let body =
        |id: u64| String::from_utf8(results[&id].result.as_ref().unwrap().body.clone()).unwrap();
    assert_eq!(body(0), "GET /dir/final");
    assert_eq!(body(1), "POST /dir/final");
}

#[test]
fn the_total_deadline_covers_every_attempt() {
    let (always_503, log) =
        server(|_, _| ("HTTP/1.1 503 Service Unavailable".into(), String::new()));
    let cfg = Config {
        retry: oneloop::policy::RetryPolicy {
            max_retries: 10,
            backoff: Duration::from_millis(100),
            ..oneloop::policy::RetryPolicy::default()
        },
        timeouts: oneloop::Timeouts {
            total: Duration::from_millis(350),
            ..oneloop::Timeouts::default()
        },
        ..Config::local()
    };
    let t = Instant::now();
    let results = run(cfg, vec![format!("http://{always_503}/")]);
    let e = results[&0].result.as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Deadline);
    assert!(t.elapsed() < Duration::from_secs(2));
    let attempts = log.lock().unwrap().len();
    assert!((2..=4).contains(&attempts), "{attempts} attempts in 350 ms");
}

#[test]
fn repeated_429s_lower_the_hosts_limit_and_the_summary_shows_it() {
    let (busy, _) = server(|_, _| ("HTTP/1.1 429 Too Many Requests".into(), String::new()));
    let mut crawler = Crawler::new(Config {
        per_host: 8,
        retry: oneloop::policy::RetryPolicy {
            max_retries: 0,
            ..config().retry
        },
        ..config()
    })
    .unwrap();
    let urls: Vec<String> = (0..20).map(|i| format!("http://{busy}/{i}")).collect();
    let summary = crawler
        .run(urls, |o| assert_eq!(o.result.as_ref().unwrap().status, 429))
        .unwrap();
    assert_eq!(summary.admission.throttles, 20);
    assert_eq!(
        summary.lowered_limits,
        vec![(format!("http://{busy}"), 1)],
        "{summary}"
    );
    assert!(summary.to_string().contains("per-host limits now"));
}

#[test]
fn redirect_hops_are_not_counted_as_retries() {
    let (r, _) = server(|s, _| match s.path.as_str() {
        "/a" => ("HTTP/1.1 302 Found\r\nLocation: /b".into(), String::new()),
        _ => ok(s.path.clone()),
    });
    let mut crawler = Crawler::new(config()).unwrap();
    let summary = crawler
        .run(vec![format!("http://{r}/a")], |o| {
            assert_eq!(o.attempts, 2);
            assert_eq!(o.redirects.len(), 1);
        })
        .unwrap();
    assert_eq!(summary.redirects, 1);
    assert_eq!(summary.retries, 0);
}
