//! The request core driven by hand: no sockets, no clock. Each test plays
//! the driver: it feeds input, takes the starts, answers them with
//! responses or failures, and moves virtual time.

#![allow(clippy::type_complexity)] // the tables spell their column types out

use super::*;
use crate::admission::Pacing;
use crate::config::RobotsConfig;
use crate::http::Headers;
use crate::policy::RetryPolicy;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A local configuration (no pacing, no robots) unless a test says more.
fn config() -> Config {
    Config {
        pacing: Pacing::off(),
        retry: RetryPolicy {
            max_retries: 2,
            backoff: ms(100),
            backoff_max: ms(1000),
        },
        ..Config::local()
    }
}

fn with_robots() -> Config {
    Config {
        robots: RobotsConfig {
            enabled: true,
            ..RobotsConfig::default()
        },
        ..config()
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut h = Headers::default();
    for (n, v) in headers {
        h.push(n, v.as_bytes());
    }
    Response {
        status,
        version: 1,
        headers: h,
        body: body.to_vec(),
        body_len: body.len() as u64,
        ..Response::default()
    }
}

fn input(core: &mut Requests, url: &str, now: Instant) {
    core.handle_input(Request::from(url.to_string()), 0, now);
}

/// The next start, which must exist.
fn start(core: &mut Requests, now: Instant) -> Start {
    core.poll_start(now, true).expect("a request to start")
}

fn url_of(core: &Requests, s: Start) -> String {
    core.get(s.token).unwrap().url.as_str().to_string()
}

const FRESH: AttemptReport = AttemptReport {
    reused: false,
    dns: None,
    connect: None,
    ttfb: None,
    got_response_bytes: true,
    multiplexed: false,
};

fn answer(core: &mut Requests, s: Start, resp: Response, now: Instant) {
    let _ = core.handle_response(s.token, resp, FRESH, now, SystemTime::UNIX_EPOCH);
}

// ---- one request's whole life ----

#[test]
fn robots_wait_then_503_retry_after_backoff_then_redirect_then_outcome() {
    let t0 = Instant::now();
    let mut core = Requests::new(&with_robots(), false);
    input(&mut core, "http://a.test/page", t0);

    // The origin's first request waits; its robots.txt goes first.
    let robots = start(&mut core, t0);
    assert_eq!(url_of(&core, robots), "http://a.test/robots.txt");
    assert_eq!(
        core.poll_start(t0, true),
        None,
        "the page waits for robots.txt"
    );
    let file = b"User-agent: *\nDisallow: /private\n";
    answer(&mut core, robots, response(200, &[], file), t0 + ms(10));

    // Allowed: the page starts, and the server says 503, retry after 2 s.
    let first = start(&mut core, t0 + ms(10));
    assert_eq!(url_of(&core, first), "http://a.test/page");
    answer(
        &mut core,
        first,
        response(503, &[("Retry-After", "2")], b""),
        t0 + ms(20),
    );
    assert!(matches!(
        core.get(first.token).unwrap().stage,
        Stage::Backoff(_)
    ));
    assert_eq!(core.in_flight(), 0, "a backoff holds no slot");

    // The backoff (50–100 ms) ends, but the origin is paused for 2 s.
    let backoff_end = core.poll_timeout().unwrap();
    assert!(backoff_end <= t0 + ms(120), "{:?}", backoff_end - t0);
    core.handle_timeout(t0 + ms(150));
    assert_eq!(
        core.poll_start(t0 + ms(150), true),
        None,
        "Retry-After pauses the origin"
    );
    // Time moves from deadline to deadline until the retry starts.
    let (second, resume) = loop {
        let resume = core.poll_timeout().expect("a deadline");
        core.handle_timeout(resume);
        if let Some(s) = core.poll_start(resume, true) {
            break (s, resume);
        }
    };
    assert!(resume >= t0 + ms(2000), "{:?}", resume - t0);
    // The retry is redirected...
    assert_eq!(second.token, first.token, "the same request, again");
    answer(
        &mut core,
        second,
        response(301, &[("Location", "/moved")], b""),
        resume + ms(5),
    );
    // ...and the redirect's target answers.
    let third = start(&mut core, resume + ms(5));
    assert_eq!(url_of(&core, third), "http://a.test/moved");
    answer(
        &mut core,
        third,
        response(200, &[], b"hello"),
        resume + ms(9),
    );

    let outcome = core.poll_outcome().expect("the outcome");
    assert_eq!(outcome.url, "http://a.test/page");
    assert_eq!(outcome.attempts, 3);
    assert_eq!(outcome.retries, vec![RetryCause::Status(503)]);
    assert_eq!(outcome.redirects, vec!["http://a.test/moved".to_string()]);
    assert_eq!(outcome.result.as_ref().unwrap().body, b"hello");
    assert_eq!(outcome.timings.queued, ms(10), "waited for robots.txt");
    assert_eq!(outcome.timings.total, resume + ms(9) - (t0 + ms(10)));
    assert!(
        core.poll_outcome().is_none(),
        "robots.txt is not an outcome"
    );
    assert!(core.is_idle());
    assert_eq!(core.in_flight(), 0);
    let s = core.into_summary();
    assert_eq!((s.outcomes, s.robots_fetches, s.redirects), (1, 1, 1));
    assert_eq!(s.retries_by_cause.get("status 503"), Some(&1));
    assert_eq!(s.admission.pauses, 1);
}

// ---- the lifecycle as a table ----

/// What the test driver answers to one attempt.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// A redirect there.
    Moved(&'static str),
    Fail(Phase, ErrorKind),
    /// Fails before any response byte on a reused connection.
    StaleReused,
}

#[test]
fn lifecycle_table() {
    use ErrorKind::*;
    use Reply::*;
    #[rustfmt::skip]
    let cases: &[(&[Reply], &str, u32, &[&str], usize)] = &[
        // replies,                                   result,              attempts, retry causes,                 redirects
        (&[Status(200)],                              "200",               1, &[],                                  0),
        (&[Status(404)],                              "404",               1, &[],                                  0),
        (&[Status(503), Status(200)],                 "200",               2, &["status 503"],                      0),
        (&[Status(503), Status(502), Status(504)],    "504",               3, &["status 503", "status 502"],        0),
        (&[Fail(Phase::Connect, Refused), Status(200)], "200",             2, &["connect:refused"],                 0),
        (&[Fail(Phase::Tls, UnknownIssuer)],          "tls:unknown_issuer", 1, &[],                                 0),
        (&[StaleReused, Status(200)],                 "200",               2, &["head:unexpected_eof"],             0),
        // The free retry once, then backoff retries until the budget (2) is spent.
        (&[StaleReused, StaleReused, Fail(Phase::Head, UnexpectedEof), Fail(Phase::Head, UnexpectedEof)],
                                                      "head:unexpected_eof", 4, &["head:unexpected_eof"; 3],         0),
        (&[Moved("/next"), Status(200)],                       "200",               2, &[],                                  1),
        (&[Moved("/next"), Status(503), Moved("/last"), Status(200)],   "200",               4, &["status 503"],                      2),
    ];
    for (replies, want, attempts, causes, redirects) in cases {
        let t0 = Instant::now();
        let mut now = t0;
        let mut core = Requests::new(&config(), false);
        input(&mut core, "http://a.test/", now);
        for reply in *replies {
            // Wait out any backoff.
            let s = loop {
                if let Some(s) = core.poll_start(now, true) {
                    break s;
                }
                now = core
                    .poll_timeout()
                    .unwrap_or_else(|| panic!("{replies:?}: nothing to wait for"));
                core.handle_timeout(now);
            };
            now += ms(1);
            match *reply {
                Status(code) => answer(&mut core, s, response(code, &[], b""), now),
                Moved(to) => answer(&mut core, s, response(302, &[("Location", to)], b""), now),
                Fail(phase, kind) => {
                    core.handle_failure(s.token, Error::new(phase, kind, ""), FRESH, now)
                }
                StaleReused => {
                    let report = AttemptReport {
                        reused: true,
                        got_response_bytes: false,
                        ..FRESH
                    };
                    let e = Error::new(Phase::Head, UnexpectedEof, "");
                    core.handle_failure(s.token, e, report, now);
                }
            }
        }
        let o = core
            .poll_outcome()
            .unwrap_or_else(|| panic!("{replies:?}: no outcome"));
        let got = match &o.result {
            Ok(r) => r.status.to_string(),
            Err(e) => format!("{}:{}", e.phase.as_str(), e.kind.as_str()),
        };
        let got_causes: Vec<String> = o.retries.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            (got.as_str(), o.attempts, got_causes, o.redirects.len()),
            (
                *want,
                *attempts,
                causes.iter().map(|c| c.to_string()).collect(),
                *redirects
            ),
            "{replies:?}"
        );
        assert!(core.is_idle() && core.in_flight() == 0, "{replies:?}");
    }
}

#[test]
fn a_stale_reused_connection_is_retried_at_once_on_a_fresh_one() {
    let now = Instant::now();
    let mut core = Requests::new(&config(), false);
    input(&mut core, "http://a.test/", now);
    let s = start(&mut core, now);
    assert!(!s.fresh_only);
    let report = AttemptReport {
        reused: true,
        got_response_bytes: false,
        ..FRESH
    };
    let e = Error::new(Phase::Send, ErrorKind::Reset, "");
    core.handle_failure(s.token, e, report, now);
    // No backoff, no admission: even with admission held it comes out.
    let again = core.poll_start(now, false).expect("a fresh retry");
    assert_eq!((again.token, again.fresh_only), (s.token, true));
}

#[test]
fn after_an_http2_stream_the_free_retry_takes_any_connection() {
    // Its connection is gone (or only the stream failed): one new shared
    // connection serves every such retry, so none insists on its own.
    let now = Instant::now();
    let mut core = Requests::new(&config(), false);
    input(&mut core, "https://a.test/", now);
    let s = start(&mut core, now);
    let report = AttemptReport {
        reused: true,
        got_response_bytes: false,
        multiplexed: true,
        ..FRESH
    };
    let e = Error::new(Phase::Head, ErrorKind::UnexpectedEof, "");
    core.handle_failure(s.token, e, report, now);
    let again = core.poll_start(now, false).expect("a retry at once");
    assert_eq!((again.token, again.fresh_only), (s.token, false));
}

// ---- deadlines, stop, abort ----

#[test]
fn a_total_deadline_while_active_abandons_the_connection_and_takes_its_phase() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.timeouts.total = ms(500);
    let mut core = Requests::new(&cfg, false);
    input(&mut core, "http://a.test/", t0);
    let s = start(&mut core, t0);
    assert_eq!(core.poll_timeout(), Some(t0 + ms(500)));
    core.handle_timeout(t0 + ms(500));
    assert_eq!(
        core.poll_outcome().map(|o| o.id),
        None,
        "not before its connection closed"
    );
    assert_eq!(core.poll_abandoned(), Some(s.token));
    core.handle_abandoned(s.token, Some(Phase::Body), None, t0 + ms(500));
    let o = core.poll_outcome().unwrap();
    let e = o.result.unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::Deadline));
    assert_eq!(o.attempts, 1);
    assert_eq!(core.in_flight(), 0);
}

#[test]
fn a_deadline_while_queued_ends_there_and_holds_nothing() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.timeouts.total = ms(100);
    cfg.concurrency = 1;
    let mut core = Requests::new(&cfg, false);
    input(&mut core, "http://a.test/1", t0);
    input(&mut core, "http://a.test/2", t0);
    let first = start(&mut core, t0);
    assert_eq!(core.poll_start(t0, true), None, "concurrency 1");
    core.handle_timeout(t0 + ms(100));
    // The queued one ends at once; the active one waits for its connection.
    let o = core.poll_outcome().unwrap();
    assert!(o.url.ends_with("/2"));
    assert!(o.result.unwrap_err().detail.contains("while queued"));
    assert_eq!(core.poll_abandoned(), Some(first.token));
    core.handle_abandoned(first.token, None, None, t0 + ms(100));
    assert_eq!(
        core.poll_outcome().unwrap().result.unwrap_err().phase,
        Phase::Admission
    );
    assert!(core.is_idle());
}

#[test]
fn stop_cancels_what_did_not_start_and_lets_the_rest_finish() {
    let now = Instant::now();
    let mut cfg = with_robots();
    cfg.concurrency = 2;
    let mut core = Requests::new(&cfg, false);
    input(&mut core, "http://a.test/1", now); // robots.txt of a + /1 waiting
    input(&mut core, "http://a.test/2", now); // waiting
    let robots = start(&mut core, now);
    core.handle_stop(now);
    assert!(!core.wants_input());
    let cancelled: Vec<_> = std::iter::from_fn(|| core.poll_outcome()).collect();
    assert_eq!(cancelled.len(), 2);
    assert!(cancelled
        .iter()
        .all(|o| o.result.as_ref().unwrap_err().kind == ErrorKind::Cancelled));
    // The robots.txt fetch in flight finishes; nothing new starts after it.
    answer(&mut core, robots, response(200, &[], b""), now);
    assert_eq!(core.poll_start(now, true), None);
    assert!(core.is_idle());
}

#[test]
fn abort_ends_requests_in_flight_once_their_connections_close() {
    let now = Instant::now();
    let mut core = Requests::new(&config(), false);
    input(&mut core, "http://a.test/1", now);
    input(&mut core, "http://b.test/1", now);
    let a = start(&mut core, now);
    let b = start(&mut core, now);
    let e = Error::new(Phase::Admission, ErrorKind::Cancelled, "crawl aborted");
    core.handle_abort(e, true, now);
    let abandoned: Vec<_> = std::iter::from_fn(|| core.poll_abandoned()).collect();
    assert_eq!(abandoned, vec![a.token, b.token]);
    core.handle_abandoned(a.token, Some(Phase::Connect), None, now);
    core.handle_abandoned(b.token, None, None, now);
    let phases: Vec<Phase> = std::iter::from_fn(|| core.poll_outcome())
        .map(|o| o.result.unwrap_err().phase)
        .collect();
    assert_eq!(phases, vec![Phase::Connect, Phase::Admission]);
    assert!(core.is_idle());
}

// ---- robots.txt ----

#[test]
fn robots_decides_every_waiting_request_of_its_origin() {
    let now = Instant::now();
    let mut core = Requests::new(&with_robots(), false);
    for path in ["/a", "/private/x", "/b"] {
        input(&mut core, &format!("http://r.test{path}"), now);
    }
    let robots = start(&mut core, now);
    assert_eq!(core.poll_start(now, true), None);
    let file = b"User-agent: *\nDisallow: /private\n";
    answer(&mut core, robots, response(200, &[], file), now);
    let denied = core.poll_outcome().unwrap();
    let e = denied.result.unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Robots, ErrorKind::Disallowed));
    assert_eq!(denied.attempts, 0);
    let mut started = Vec::new();
    while let Some(s) = core.poll_start(now, true) {
        started.push(url_of(&core, s));
    }
    assert_eq!(started, ["http://r.test/a", "http://r.test/b"]);
}

#[test]
fn an_unreachable_origin_gives_its_urls_the_transport_error() {
    let now = Instant::now();
    let mut cfg = with_robots();
    cfg.retry.max_retries = 0;
    let mut core = Requests::new(&cfg, false);
    input(&mut core, "http://down.test/a", now);
    let robots = start(&mut core, now);
    let refused = Error::new(Phase::Connect, ErrorKind::Refused, "");
    core.handle_failure(robots.token, refused, FRESH, now);
    let o = core.poll_outcome().unwrap();
    let e = o.result.unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Connect, ErrorKind::Refused));
    // Later URLs of that origin end at once, with no request.
    input(&mut core, "http://down.test/b", now);
    assert_eq!(core.poll_start(now, true), None);
    assert_eq!(
        core.poll_outcome().unwrap().result.unwrap_err().kind,
        ErrorKind::Refused
    );
}

#[test]
fn events_are_queued_only_when_observed() {
    let now = Instant::now();
    let mut quiet = Requests::new(&config(), false);
    input(&mut quiet, "http://a.test/", now);
    let _ = start(&mut quiet, now);
    assert_eq!(quiet.poll_event(), None);

    let mut seen = Requests::new(&config(), true);
    input(&mut seen, "http://a.test/", now);
    let s = start(&mut seen, now);
    answer(&mut seen, s, response(200, &[], b""), now);
    let kinds: Vec<&str> = std::iter::from_fn(|| seen.poll_event())
        .map(|e| match e {
            RequestEvent::Queued { .. } => "queued",
            RequestEvent::Admitted { .. } => "admitted",
            RequestEvent::Paced { .. } => "paced",
            RequestEvent::Finished { .. } => "finished",
        })
        .collect();
    assert_eq!(kinds, ["queued", "admitted", "finished"]);
}
