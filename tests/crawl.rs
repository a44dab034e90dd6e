//! End-to-end crawls against in-process servers on 127.0.0.1.

mod common;

use common::*;
use oneloop::{Config, Crawler, ErrorKind, Outcome, Phase};
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Per outcome: (id, url, status or error).
type Seen = HashMap<u64, (String, Result<(u16, Vec<u8>), (Phase, ErrorKind, String)>)>;

fn crawl(config: Config, urls: Vec<String>) -> (Seen, oneloop::Summary) {
    let mut seen: Seen = HashMap::new();
    let mut crawler = Crawler::new(config).unwrap();
    let summary = crawler
        .run(urls, |o: &Outcome| {
            let r = match &o.result {
                Ok(resp) => Ok((resp.status, resp.body.clone())),
                Err(e) => Err((e.phase, e.kind, e.detail.clone())),
            };
            let dup = seen.insert(o.id, (o.url.clone(), r));
            assert!(dup.is_none(), "outcome for id {} delivered twice", o.id);
        })
        .unwrap();
    (seen, summary)
}

#[test]
fn ten_thousand_urls_respect_limits_and_reuse_connections() {
    let global = Arc::new(Counters::default());
    let hosts: Vec<(SocketAddr, Arc<Counters>)> = (0..10)
        .map(|_| {
            let c = Arc::new(Counters::default());
            (echo_path_server(c.clone(), Some(global.clone())), c)
        })
        .collect();
    let urls: Vec<String> = (0..10_000)
        .map(|i| format!("http://{}/item/{i}", hosts[i % 10].0))
        .collect();
    let config = Config {
        concurrency: 50,
        per_host: 5,
        connections: oneloop::ConnectionLimits {
            max_total: 50,
            max_per_host: 5,
            ..oneloop::ConnectionLimits::default()
        },
        ..Config::local()
    };
    let (seen, summary) = crawl(config, urls.clone());
    assert_eq!(seen.len(), 10_000);
    for (i, url) in urls.iter().enumerate() {
        let (got_url, result) = &seen[&(i as u64)];
        assert_eq!(got_url, url);
        let (status, body) = result.as_ref().expect("no errors against healthy servers");
        assert_eq!(*status, 200);
        assert_eq!(
            body,
            format!("/item/{i}").as_bytes(),
            "each body matches its URL"
        );
    }
    for (_, c) in &hosts {
        assert!(c.max_open() <= 5, "a host saw {} connections", c.max_open());
        assert_eq!(c.requests(), 1000);
    }
    assert!(global.max_open() <= 50, "{}", global.max_open());
    assert!(
        global.accepted() <= 100,
        "opened {} connections",
        global.accepted()
    );
    assert_eq!(summary.outcomes, 10_000);
    assert_eq!(summary.status_classes[2], 10_000);
    assert!(summary.reused_requests >= 9_900);
    assert!(summary.max_in_flight <= 50);
    assert_eq!(summary.pool.opened as usize, global.accepted());
}

#[test]
fn servers_that_close_keep_alive_connections_cause_no_failures() {
    // One closes after every response without announcing it; one closes
    // connections idle for 30 ms.
    let closes_each = spawn(
        Arc::new(|s: &mut TcpStream, path: &str| {
            respond(s, path, true);
            false
        }),
        Arc::new(Counters::default()),
        None,
    );
    let idle_closer = raw_server(|s| {
        let _ = s.set_read_timeout(Some(Duration::from_millis(30)));
        let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        while let Some(path) = read_request(&mut reader) {
            if !respond(&mut s, &path, true) {
                break;
            }
        }
    });
    let mut urls = Vec::new();
    for i in 0..400 {
        urls.push(format!("http://{closes_each}/c/{i}"));
        urls.push(format!("http://{idle_closer}/i/{i}"));
    }
    // Pause the input now and then so pooled connections sit idle past the
    // server's 30 ms.
    let mut crawler = Crawler::new(Config {
        concurrency: 4,
        per_host: 2,
        ..Config::local()
    })
    .unwrap();
    let mut n = 0;
    let mut failures = Vec::new();
    let input = urls.into_iter().enumerate().map(|(i, u)| {
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(60));
        }
        u
    });
    let summary = crawler
        .run(input, |o| {
            n += 1;
            match &o.result {
                Ok(r) if r.status == 200 => {}
                other => failures.push(format!("{}: {:?}", o.url, other.as_ref().err())),
            }
        })
        .unwrap();
    assert_eq!(n, 800);
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        summary.pool.closed_by_peer + summary.retries > 0,
        "the test should exercise closed idle connections: {summary}"
    );
}

/// One fault server per case; each case: (name, url, expected phase, kind).
#[test]
fn fault_servers_give_typed_errors_and_the_batch_completes() {
    let healthy = echo_path_server(Arc::new(Counters::default()), None);
    let refused = refused_port();
    let reset_mid_body = raw_server(|mut s| {
        wait_for_request(&s); // leave the request unread: closing then sends RST
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
        std::thread::sleep(Duration::from_millis(100));
    });
    let stall_head = raw_server(|s| {
        drain_request(&s);
        std::thread::sleep(Duration::from_secs(3));
        drop(s);
    });
    let stall_body = raw_server(|mut s| {
        drain_request(&s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nslow");
        std::thread::sleep(Duration::from_secs(3));
    });
    let truncated_chunked = raw_server(|mut s| {
        drain_request(&s);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc",
        );
    });
    let malformed_status = raw_server(|mut s| {
        drain_request(&s);
        let _ = s.write_all(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
        read_all(&mut s);
    });
    let huge_head = raw_server(|mut s| {
        drain_request(&s);
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..2000 {
            head.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(90)).as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        assert!(head.len() > 200 * 1024);
        let _ = s.write_all(&head);
    });
    let endless_body = raw_server(|mut s| {
        drain_request(&s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
        let block = [b'x'; 16 * 1024];
        while s.write_all(&block).is_ok() {}
    });
    let conflicting_length = raw_server(|mut s| {
        drain_request(&s);
        let _ =
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
        read_all(&mut s);
    });
    let cases = [
        ("refused", refused, Phase::Connect, ErrorKind::Refused),
        (
            "reset mid-body",
            reset_mid_body,
            Phase::Body,
            ErrorKind::Reset,
        ),
        (
            "stall before head",
            stall_head,
            Phase::Head,
            ErrorKind::Timeout,
        ),
        (
            "stall mid-body",
            stall_body,
            Phase::Body,
            ErrorKind::Timeout,
        ),
        (
            "truncated chunked",
            truncated_chunked,
            Phase::Body,
            ErrorKind::UnexpectedEof,
        ),
        (
            "malformed status",
            malformed_status,
            Phase::Head,
            ErrorKind::Malformed,
        ),
        ("200 KiB head", huge_head, Phase::Head, ErrorKind::TooLarge),
        (
            "endless body",
            endless_body,
            Phase::Body,
            ErrorKind::TooLarge,
        ),
        (
            "conflicting length",
            conflicting_length,
            Phase::Head,
            ErrorKind::Malformed,
        ),
    ];
    let mut urls = Vec::new();
    let mut expected = HashMap::new();
    for i in 0..300 {
        if i % 30 == 0 {
            let (name, addr, phase, kind) = cases[(i / 30) % cases.len()];
            expected.insert(urls.len() as u64, (name, phase, kind));
            urls.push(format!("http://{addr}/fault/{i}"));
        }
        urls.push(format!("http://{healthy}/ok/{i}"));
    }
    assert_eq!(expected.len(), 10); // every case once, refused twice
    let config = Config {
        concurrency: 20,
        per_host: 4,
        limits: oneloop::http::Limits {
            max_body_bytes: 256 * 1024,
            ..Default::default()
        },
        timeouts: oneloop::Timeouts {
            head: Duration::from_millis(400),
            body_idle: Duration::from_millis(400),
            ..oneloop::Timeouts::default()
        },
        ..Config::local()
    };
    let (seen, summary) = crawl(config, urls.clone());
    assert_eq!(seen.len(), urls.len());
    for (id, (url, result)) in &seen {
        match expected.get(id) {
            Some((name, phase, kind)) => {
                let (p, k, detail) = result.as_ref().expect_err(name);
                assert_eq!((p, k), (phase, kind), "{name}: {detail}");
            }
            None => {
                let (status, body) = result.as_ref().unwrap_or_else(|e| panic!("{url}: {e:?}"));
                assert_eq!(*status, 200);
                assert!(url.ends_with(std::str::from_utf8(body).unwrap()));
            }
        }
    }
    assert_eq!(summary.error_count(), 10);
}

#[test]
fn bad_urls_are_outcomes_too() {
    let healthy = echo_path_server(Arc::new(Counters::default()), None);
    let urls = vec![
        format!("http://{healthy}/a"),
        "not a url".to_string(),
        "ftp://example.test/".to_string(),
        "http://no-such-host.invalid/".to_string(),
        format!("http://{healthy}/b"),
        // Parsed as the URL Standard says, but never sent (credentials).
        format!("http://user:secret@{healthy}/c"),
    ];
    // Names go to a loopback nameserver (NXDOMAIN for all but its zone),
    // never to the system's.
    let ns = oneloop::demo::DemoNameserver::start("demo.test", 60).unwrap();
    let mut config = Config::local();
    config.dns.nameservers = vec![ns.addr()];
    let (seen, summary) = crawl(config, urls);
    assert_eq!(seen.len(), 6);
    assert!(seen[&0].1.is_ok() && seen[&4].1.is_ok());
    let kind = |id: u64| {
        let e = seen[&id].1.as_ref().unwrap_err();
        (e.0, e.1)
    };
    assert_eq!(kind(1), (Phase::Url, ErrorKind::InvalidUrl));
    assert_eq!(kind(2), (Phase::Url, ErrorKind::UnsupportedScheme));
    assert_eq!(kind(3), (Phase::Dns, ErrorKind::NxDomain));
    assert_eq!(kind(5), (Phase::Url, ErrorKind::InvalidUrl));
    assert_eq!(summary.outcomes, 6);
}

#[test]
fn total_timeout_covers_queue_time() {
    // Per-host 1 and a server that takes 300 ms per response: the third
    // request waits ~600 ms in the queue and blows a 450 ms total budget.
    let slow = slow_echo_server(Duration::from_millis(300));
    let urls = (0..3).map(|i| format!("http://{slow}/{i}")).collect();
    let config = Config {
        per_host: 1,
        timeouts: oneloop::Timeouts {
            total: Duration::from_millis(450),
            ..oneloop::Timeouts::default()
        },
        ..Config::local()
    };
    let (seen, _) = crawl(config, urls);
    assert!(seen[&0].1.is_ok());
    let e = seen[&2].1.as_ref().unwrap_err();
    assert_eq!((e.0, e.1), (Phase::Admission, ErrorKind::Deadline), "{e:?}");
}

#[test]
fn stop_cancels_parked_requests_and_finishes_the_rest() {
    // Answers take a moment, so no request completes within the turn that
    // started it (on loopback a reply can otherwise be there at once).
    let healthy = slow_echo_server(Duration::from_millis(2));
    // One host at per-host 1 under a global 4: the queue parks up to 50.
    let mut crawler = Crawler::new(Config {
        concurrency: 4,
        per_host: 1,
        max_parked: 50,
        ..Config::local()
    })
    .unwrap();
    let handle = crawler.handle();
    let mut n = 0;
    let mut cancelled = 0;
    let summary = crawler
        .run((0..100_000).map(|i| format!("http://{healthy}/{i}")), |o| {
            n += 1;
            if n == 10 {
                handle.stop();
            }
            if let Err(e) = &o.result {
                assert_eq!(e.kind, ErrorKind::Cancelled);
                cancelled += 1;
            }
        })
        .unwrap();
    assert!(summary.stopped);
    assert!(
        (45..=50).contains(&cancelled),
        "{cancelled} cancelled, {n} outcomes: {summary}"
    );
    assert!(n - cancelled >= 10);
    assert!(n <= 61, "stopped early: {n} outcomes");
    assert_eq!(summary.outcomes, n);
}

#[test]
fn slow_callbacks_are_reported_as_stalls() {
    let healthy = echo_path_server(Arc::new(Counters::default()), None);
    let mut crawler = Crawler::new(Config {
        stall_threshold: Duration::from_millis(15),
        ..Config::local()
    })
    .unwrap();
    let urls: Vec<String> = (0..5).map(|i| format!("http://{healthy}/{i}")).collect();
    let summary = crawler
        .run(urls, |o| {
            if o.url.ends_with("/3") {
                std::thread::sleep(Duration::from_millis(30));
            }
        })
        .unwrap();
    assert_eq!(summary.loop_stats.stalls, 1);
    assert!(summary.loop_stats.stall_log[0].url.ends_with("/3"));
    assert!(summary.loop_stats.longest_callback >= Duration::from_millis(30));
}

#[test]
fn poll_protocol_and_callbacks_add_up_to_the_wall_time() {
    // A slow server (the loop blocks in poll) and a slow callback: before the
    // fix, protocol time also counted the time blocked in poll.
    let slow = slow_echo_server(Duration::from_millis(20));
    let mut crawler = Crawler::new(Config {
        concurrency: 2,
        ..Config::local()
    })
    .unwrap();
    let urls: Vec<String> = (0..20).map(|i| format!("http://{slow}/{i}")).collect();
    let summary = crawler
        .run(urls, |_| std::thread::sleep(Duration::from_millis(3)))
        .unwrap();
    let l = &summary.loop_stats;
    let parts = l.time_in_poll + l.time_in_protocol + l.time_in_callbacks;
    let wall = summary.elapsed;
    assert!(parts <= wall, "{parts:?} counted in a {wall:?} run: {l}");
    assert!(
        parts >= wall.mul_f64(0.95),
        "{parts:?} of a {wall:?} run accounted for: {l}"
    );
    assert!(l.time_in_poll >= Duration::from_millis(100), "{l}");
    assert!(l.time_in_callbacks >= Duration::from_millis(60), "{l}");
    assert!(l.time_in_protocol < wall / 2, "{l}");
}

#[test]
fn connect_timeout_names_the_connect_phase() {
    // A listener with a backlog of one that never accepts: once its queue is
    // full, the kernel drops further SYNs and a connect hangs.
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(50));
    let healthy = echo_path_server(Arc::new(Counters::default()), None);
    let urls = vec![format!("http://{addr}/"), format!("http://{healthy}/fine")];
    let config = Config {
        timeouts: oneloop::Timeouts {
            connect: Duration::from_millis(300),
            ..oneloop::Timeouts::default()
        },
        ..Config::local()
    };
    let started = std::time::Instant::now();
    let (seen, _) = crawl(config, urls);
    let e = seen[&0].1.as_ref().unwrap_err();
    assert_eq!((e.0, e.1), (Phase::Connect, ErrorKind::Timeout), "{e:?}");
    assert!(seen[&1].1.is_ok());
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(sock);
}

#[test]
fn connections_retire_after_max_requests_and_idle_ones_expire() {
    let counters = Arc::new(Counters::default());
    let server = echo_path_server(counters.clone(), None);
    let mut crawler = Crawler::new(Config {
        per_host: 1,
        connections: oneloop::ConnectionLimits {
            max_requests: 10,
            idle_timeout: Duration::from_millis(50),
            ..oneloop::ConnectionLimits::default()
        },
        ..Config::local()
    })
    .unwrap();
    let urls: Vec<String> = (0..100).map(|i| format!("http://{server}/{i}")).collect();
    let summary = crawler.run(urls, |o| assert!(o.result.is_ok())).unwrap();
    assert_eq!(counters.accepted(), 10, "100 requests, 10 per connection");
    assert_eq!(summary.pool.opened, 10);
    // Concurrency 1: host A's connection sits idle in the pool while a slow
    // host takes 300 ms, and expires (idle timeout 50 ms) before A's next
    // request, which therefore opens a new connection.
    let slow = slow_echo_server(Duration::from_millis(300));
    let a = Arc::new(Counters::default());
    let fast = echo_path_server(a.clone(), None);
    let mut crawler = Crawler::new(Config {
        concurrency: 1,
        connections: oneloop::ConnectionLimits {
            idle_timeout: Duration::from_millis(50),
            ..oneloop::ConnectionLimits::default()
        },
        ..Config::local()
    })
    .unwrap();
    let urls = vec![
        format!("http://{fast}/0"),
        format!("http://{slow}/0"),
        format!("http://{fast}/1"),
    ];
    let summary = crawler.run(urls, |o| assert!(o.result.is_ok())).unwrap();
    assert_eq!(summary.pool.expired, 1, "{summary}");
    assert_eq!(a.accepted(), 2);
}

#[test]
fn a_refused_address_falls_through_to_the_next() {
    // The server listens on 127.0.0.1 only; 127.0.0.2 (same port) refuses.
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let config = Config {
        resolve: vec![
            ("multi.test".into(), "127.0.0.2".parse().unwrap()),
            ("multi.test".into(), "127.0.0.1".parse().unwrap()),
        ],
        ..Config::local()
    };
    let url = format!("http://multi.test:{}/x", server.port());
    let (seen, summary) = crawl(config, vec![url]);
    let (status, body) = seen[&0].1.as_ref().expect("second address works");
    assert_eq!((*status, &body[..]), (200, &b"/x"[..]));
    assert_eq!(
        summary.pool.opened, 1,
        "one connection, two addresses tried"
    );
}
