//! Table tests of the retry and redirect rules: no clock, no sockets.
#![allow(clippy::type_complexity)] // the tables spell their column types out

use super::*;
use crate::http::Headers;
use std::time::UNIX_EPOCH;

fn response(status: u16, headers: &[(&str, &str)]) -> Response {
    let mut h = Headers::default();
    for (n, v) in headers {
        h.push(n, v.as_bytes());
    }
    Response {
        status,
        version: 1,
        headers: h,
        ..Response::default()
    }
}

fn get(retries: u32) -> Attempt {
    Attempt {
        method: Method::Get,
        retries,
        ..Attempt::default()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const WALL: SystemTime = UNIX_EPOCH;

#[test]
fn responses_table() {
    use ResponseVerdict::*;
    let retry = RetryPolicy::default(); // 2 retries
    let follow = RedirectPolicy::default();
    let no_follow = RedirectPolicy {
        follow: false,
        ..follow
    };
    let post = Attempt {
        method: Method::Post,
        ..get(0)
    };
    let head = Attempt {
        method: Method::Head,
        ..get(0)
    };
    let loc = [("Location", " /next ")];
    #[rustfmt::skip]
    let cases: &[(u16, &[(&str, &str)], Attempt, RedirectPolicy, ResponseVerdict)] = &[
        // status, headers,            attempt,  redirects,  verdict
        (200, &[],                     get(0),   follow,     Finish),
        (404, &[],                     get(0),   follow,     Finish),
        (500, &[],                     get(0),   follow,     Finish),     // 500 is not retried
        (429, &[],                     get(0),   follow,     Retry(RetryCause::Status(429))),
        (502, &[],                     get(1),   follow,     Retry(RetryCause::Status(502))),
        (503, &[],                     head,     follow,     Retry(RetryCause::Status(503))),
        (504, &[],                     get(2),   follow,     Finish),     // budget spent: the 504 is the result
        (503, &[],                     post,     follow,     Finish),     // never retry POST
        (301, &loc,                    get(0),   follow,     Redirect("/next".into())),
        (302, &loc,                    post,     follow,     Redirect("/next".into())),
        (303, &loc,                    get(0),   follow,     Redirect("/next".into())),
        (307, &loc,                    get(0),   follow,     Redirect("/next".into())),
        (308, &loc,                    get(0),   follow,     Redirect("/next".into())),
        (308, &loc,                    get(0),   no_follow,  Finish),
        (302, &[],                     get(0),   follow,     Finish),     // no Location: the 302 is the result
        (300, &loc,                    get(0),   follow,     Finish),     // not a redirect we follow
        (304, &loc,                    get(0),   follow,     Finish),
    ];
    for (i, (status, headers, attempt, redirects, want)) in cases.iter().enumerate() {
        let (got, _) = judge_response(
            &response(*status, headers),
            attempt,
            &retry,
            redirects,
            WALL,
        );
        assert_eq!(&got, want, "case {i}: {status}");
    }
}

#[test]
fn host_feedback_table() {
    let retry = RetryPolicy::default();
    let redirects = RedirectPolicy::default();
    let later = "Thu, 01 Jan 1970 00:01:40 GMT"; // 100 s after WALL
    #[rustfmt::skip]
    let cases: &[(u16, &[(&str, &str)], HostFeedback)] = &[
        (200, &[],                          HostFeedback { success: true, ..HostFeedback::default() }),
        (302, &[],                          HostFeedback { success: true, ..HostFeedback::default() }),
        (404, &[],                          HostFeedback::default()),
        (429, &[],                          HostFeedback { throttled: true, ..HostFeedback::default() }),
        (429, &[("Retry-After", "3")],      HostFeedback { throttled: true, success: false, pause: Some(ms(3000)) }),
        (503, &[("retry-after", later)],    HostFeedback { pause: Some(Duration::from_secs(100)), ..HostFeedback::default() }),
        (503, &[("Retry-After", "soon")],   HostFeedback::default()),
        (502, &[("Retry-After", "3")],      HostFeedback::default()), // only 429 and 503 pause
        (200, &[("Retry-After", "3")],      HostFeedback { success: true, ..HostFeedback::default() }),
    ];
    for (i, (status, headers, want)) in cases.iter().enumerate() {
        let (_, got) = judge_response(
            &response(*status, headers),
            &get(0),
            &retry,
            &redirects,
            WALL,
        );
        assert_eq!(&got, want, "case {i}: {status} {headers:?}");
    }
}

#[test]
fn errors_table() {
    use ErrorKind::*;
    use ErrorVerdict::*;
    let policy = RetryPolicy::default();
    let e = |phase: Phase, kind: ErrorKind| Error::new(phase, kind, "");
    let reused = Attempt {
        reused: true,
        ..get(0)
    };
    let reused_post = Attempt {
        method: Method::Post,
        ..reused
    };
    let reused_got_bytes = Attempt {
        got_response_bytes: true,
        ..reused
    };
    let reused_again = Attempt {
        retried_fresh: true,
        ..reused
    };
    let post = Attempt {
        method: Method::Post,
        ..get(0)
    };
    let retry = |p, k| Retry(RetryCause::Error(p, k));
    #[rustfmt::skip]
    let cases: &[(Error, Attempt, ErrorVerdict)] = &[
        (e(Phase::Connect, Refused),        get(0),           retry(Phase::Connect, Refused)),
        (e(Phase::Connect, Timeout),        get(1),           retry(Phase::Connect, Timeout)),
        (e(Phase::Body, Reset),             get(0),           retry(Phase::Body, Reset)),
        (e(Phase::Head, UnexpectedEof),     get(0),           retry(Phase::Head, UnexpectedEof)),
        (e(Phase::Connect, Refused),        get(2),           Finish),  // budget spent
        (e(Phase::Connect, Refused),        post,             Finish),  // never retry POST
        (e(Phase::Dns, Timeout),            get(0),           retry(Phase::Dns, Timeout)),
        (e(Phase::Dns, NxDomain),           get(0),           Finish),
        (e(Phase::Tls, UnknownIssuer),      get(0),           Finish),
        (e(Phase::Head, Malformed),         get(0),           Finish),
        (e(Phase::Body, TooLarge),          get(0),           Finish),
        (e(Phase::Admission, Deadline),     get(0),           Finish),
        (e(Phase::Head, Deadline),          get(0),           Finish),  // the caller's own limit
        (e(Phase::Redirect, RedirectLoop),  get(0),           Finish),
        // A reused connection that failed before any response byte: the
        // server closed it while idle. Once, on a fresh connection.
        (e(Phase::Send, Reset),             reused,           RetryFresh),
        (e(Phase::Head, UnexpectedEof),     reused,           RetryFresh),
        (e(Phase::Head, Malformed),         reused,           RetryFresh),
        (e(Phase::Head, UnexpectedEof),     reused_again,     retry(Phase::Head, UnexpectedEof)),
        (e(Phase::Head, UnexpectedEof),     reused_got_bytes, retry(Phase::Head, UnexpectedEof)),
        // Stray bytes (a body after a HEAD response) read as this response's
        // head: stale, not the server's answer.
        (e(Phase::Head, Malformed),         reused_got_bytes, RetryFresh),
        (e(Phase::Head, Malformed),         get(0),           Finish),   // a fresh connection: the server's fault
        (e(Phase::Body, Malformed),         reused_got_bytes, Finish),
        (e(Phase::Body, Reset),             reused,           retry(Phase::Body, Reset)),
        (e(Phase::Head, UnexpectedEof),     reused_post,      Finish),
        // A timeout on a reused connection: a slow server, not a closed
        // connection; by the budget.
        (e(Phase::Head, Timeout),           reused,           retry(Phase::Head, Timeout)),
        // An HTTP/2 stream refused (REFUSED_STREAM, above a GOAWAY) was
        // never processed: again at once, a POST too; then by the budget.
        (e(Phase::Send, Refused),           post,             RetryNow),
        (e(Phase::Send, Refused),           get(2),           RetryNow),
        (e(Phase::Send, Refused),           reused_again,     retry(Phase::Send, Refused)),
        // A body too large for the HTTP/2 windows: over HTTP/1.1, once.
        (e(Phase::Send, TooLarge),          post,             RetryHttp1),
        (e(Phase::Send, TooLarge),          Attempt { http1_only: true, ..post }, Finish),
    ];
    for (i, (error, attempt, want)) in cases.iter().enumerate() {
        assert_eq!(
            &judge_error(error, attempt, &policy),
            want,
            "case {i}: {error}"
        );
    }
}

#[test]
fn backoff_doubles_with_equal_jitter_up_to_the_cap() {
    let p = RetryPolicy {
        max_retries: 10,
        backoff: ms(100),
        backoff_max: ms(1000),
    };
    #[rustfmt::skip]
    let cases = [
        // retries so far, unit, wait
        (0, 0.0,  ms(50)),
        (0, 0.5,  ms(75)),
        (1, 0.0,  ms(100)),
        (2, 1.0,  ms(400)),   // unit is clamped below 1 in practice; 1.0 gives the full wait
        (3, 0.0,  ms(400)),
        (4, 0.0,  ms(500)),   // capped at 1 s, half of it fixed
        (40, 0.0, ms(500)),   // no overflow for absurd counts
    ];
    for (retries, unit, want) in cases {
        assert_eq!(
            p.backoff(retries, unit),
            want,
            "retries {retries}, unit {unit}"
        );
    }
    let huge = RetryPolicy {
        backoff: Duration::MAX,
        backoff_max: Duration::MAX,
        ..p
    };
    assert!(huge.backoff(20, 0.5) > Duration::from_secs(1 << 40));
}

#[test]
fn redirects_table() {
    use ErrorKind::*;
    let policy = RedirectPolicy {
        follow: true,
        max: 3,
    };
    let url = |s: &str| Url::parse(s).unwrap();
    let current = url("http://a.test/x/y?q=1");
    let first = "http://a.test/start";
    let none: &[String] = &[];
    let two = [
        "http://a.test/one".to_string(),
        "http://a.test/x/y?q=1".to_string(),
    ];
    let three = [
        "http://a.test/1".to_string(),
        "http://a.test/2".to_string(),
        "http://a.test/x/y?q=1".to_string(),
    ];
    #[rustfmt::skip]
    let cases: &[(u16, &str, Method, &[String], Result<(&str, Method), ErrorKind>)] = &[
        (301, "/abs",                  Method::Get,  none,   Ok(("http://a.test/abs", Method::Get))),
        (302, "rel",                   Method::Get,  none,   Ok(("http://a.test/x/rel", Method::Get))),
        (307, "../up?z",               Method::Head, none,   Ok(("http://a.test/up?z", Method::Head))),
        (308, "//b.test:8080/p",       Method::Get,  none,   Ok(("http://b.test:8080/p", Method::Get))),
        (302, "https://c.test/",       Method::Get,  none,   Ok(("https://c.test/", Method::Get))),
        (302, "/p#frag",               Method::Get,  none,   Ok(("http://a.test/p", Method::Get))),
        // Method rewriting: 303 always, 301/302 after POST, never 307/308.
        (303, "/see",                  Method::Post, none,   Ok(("http://a.test/see", Method::Get))),
        (303, "/see",                  Method::Head, none,   Ok(("http://a.test/see", Method::Get))),
        (301, "/moved",                Method::Post, none,   Ok(("http://a.test/moved", Method::Get))),
        (302, "/found",                Method::Post, none,   Ok(("http://a.test/found", Method::Get))),
        (307, "/temp",                 Method::Post, none,   Ok(("http://a.test/temp", Method::Post))),
        (308, "/perm",                 Method::Post, none,   Ok(("http://a.test/perm", Method::Post))),
        // Refusals.
        (302, "ftp://a.test/file",     Method::Get,  none,   Err(BadRedirect)),
        (302, "javascript:alert(1)",   Method::Get,  none,   Err(BadRedirect)),
        (302, "http://",               Method::Get,  none,   Err(BadRedirect)),
        (302, "/start",                Method::Get,  none,   Err(RedirectLoop)),  // back to the input URL
        (302, "/one",                  Method::Get,  &two,   Err(RedirectLoop)),  // back to a hop
        (302, "/new",                  Method::Get,  &two,   Ok(("http://a.test/new", Method::Get))),
        (302, "/new",                  Method::Get,  &three, Err(TooManyRedirects)),
    ];
    for (i, (status, location, method, followed, want)) in cases.iter().enumerate() {
        let got = redirect_target(
            &current, first, followed, *status, location, *method, &policy,
        );
        match (got, want) {
            (Ok(hop), Ok((u, m))) => {
                assert_eq!(
                    (hop.url.as_str(), hop.method),
                    (*u, *m),
                    "case {i}: {location}"
                )
            }
            (Err(e), Err(kind)) => {
                assert_eq!(
                    (e.phase, e.kind),
                    (Phase::Redirect, *kind),
                    "case {i}: {location}"
                )
            }
            (got, want) => panic!("case {i}: {location}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_421_over_http2_goes_again_over_http1_once() {
    let (retry, redirects) = (RetryPolicy::default(), RedirectPolicy::default());
    let judge = |version: u8, attempt: &Attempt| {
        let resp = Response {
            version,
            ..response(421, &[])
        };
        judge_response(&resp, attempt, &retry, &redirects, WALL).0
    };
    assert_eq!(judge(2, &get(0)), ResponseVerdict::RetryHttp1);
    // Any method: the server did not act on it (RFC 9110 §15.5.20).
    let post = Attempt {
        method: Method::Post,
        ..get(0)
    };
    assert_eq!(judge(2, &post), ResponseVerdict::RetryHttp1);
    // Over HTTP/1.1, or already sent again so: the 421 is the answer.
    assert_eq!(judge(1, &get(0)), ResponseVerdict::Finish);
    let h1 = Attempt {
        http1_only: true,
        ..get(0)
    };
    assert_eq!(judge(2, &h1), ResponseVerdict::Finish);
}
