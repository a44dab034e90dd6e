//! The summary's numbers add up, and each counter moves when it should.

mod common;

use common::*;
use oneloop::admission::Pacing;
use oneloop::policy::RetryPolicy;
use oneloop::{Config, Crawler};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn the_summarys_counts_match_the_outcomes() {
    let flaky = Arc::new(AtomicUsize::new(0));
    let f2 = flaky.clone();
    let site = spawn(
        Arc::new(move |s: &mut TcpStream, path: &str| {
            let reply = |s: &mut TcpStream, head: &str| s.write_all(head.as_bytes()).is_ok();
            match path {
                "/robots.txt" => {
                    let body = "User-agent: *\nDisallow: /private\n";
                    reply(
                        s,
                        &format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        ),
                    )
                }
                // Every second answer is a 503: each such URL is retried once.
                p if p.starts_with("/flaky")
                    && f2.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) =>
                {
                    reply(s, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
                }
                p if p.starts_with("/moved") => reply(
                    s,
                    "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n",
                ),
                p if p.starts_with("/missing") => {
                    reply(s, "HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n")
                }
                p => respond(s, p, true),
            }
        }),
        Arc::default(),
        None,
    );
    let gone = refused_port();
    let mut urls = Vec::new();
    for i in 0..6 {
        urls.push(format!("http://{site}/ok/{i}"));
        urls.push(format!("http://{site}/private/{i}"));
        urls.push(format!("http://{site}/flaky/{i}"));
        urls.push(format!("http://{site}/missing/{i}"));
    }
    urls.push(format!("http://{site}/moved"));
    urls.push(format!("http://{gone}/a"));
    urls.push(format!("http://{gone}/b"));
    urls.push("not a url".into());
    let mut config = Config::local();
    config.robots.enabled = true;
    config.per_host = 2;
    config.pacing = Pacing {
        delay: Duration::from_millis(5),
        ..Pacing::off()
    };
    config.retry = RetryPolicy {
        max_retries: 1,
        backoff: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
    };
    let mut seen = 0u64;
    let mut statuses = [0u64; 6];
    let s = Crawler::new(config)
        .unwrap()
        .run(urls, |o| {
            seen += 1;
            if let Ok(r) = &o.result {
                statuses[(r.status / 100) as usize] += 1;
            }
        })
        .unwrap();
    let text = s.to_string();
    // Every outcome once, and each is a response or an error.
    assert_eq!(s.outcomes, 28, "{text}");
    assert_eq!(seen, s.outcomes);
    assert_eq!(s.responses + s.error_count(), s.outcomes, "{text}");
    assert_eq!(s.status_classes.iter().sum::<u64>(), s.responses, "{text}");
    assert_eq!(s.status_classes, statuses, "{text}");
    // Refused by robots.txt: exactly its own errors.
    let robots_errors: u64 = s
        .errors
        .iter()
        .filter(|((phase, _), _)| *phase == "robots")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(s.robots_denied, 6, "{text}");
    assert_eq!(robots_errors, s.robots_denied, "{text}");
    // One total of retries, the sum of its causes: the flaky pages' 503s
    // (once each). The refused origin's URLs were never sent (its
    // robots.txt fetch failed): that fetch's retries are not theirs.
    assert_eq!(
        s.retries_by_cause.values().sum::<u64>(),
        s.retries,
        "{text}"
    );
    assert_eq!(s.retries_by_cause.get("connect:refused"), None, "{text}");
    assert_eq!(s.errors.get(&("connect", "refused")), Some(&2), "{text}");
    assert!(
        s.retries_by_cause
            .get("status 503")
            .is_some_and(|n| *n >= 3),
        "{text}"
    );
    assert!(text.contains(&format!("{} retries", s.retries)), "{text}");
    // One redirect, and pacing made origins wait (6 ms apart, 2 at a time).
    assert_eq!(s.redirects, 1, "{text}");
    assert!(s.admission.paced_waits >= 10, "{text}");
    assert!(
        s.admission.paced_time >= Duration::from_millis(30),
        "{text}"
    );
}
