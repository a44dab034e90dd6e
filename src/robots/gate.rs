//! The robots.txt gate: what each origin's robots.txt says, and who waits
//! for it. A sans-IO core like the matcher: it never fetches anything. The
//! request core asks [`Gate::check`] for every request; the first request of
//! an origin makes it answer [`Check::Fetch`] (the caller queues the fetch of
//! `/robots.txt`), later ones [`Check::Wait`] until the answer is handed in
//! with [`Gate::handle_fetched`], which returns the waiters to check again.
//!
//! RFC 9309 §2.3.1 decides what an answer means: 2xx → its rules; 4xx →
//! everything allowed; 5xx, too many redirects and other errors →
//! everything disallowed (`robots: unavailable`), except that an origin that
//! cannot be reached at all (DNS failure, connection refused, reset or timed
//! out) gives its URLs that error, which says more.

use super::Robots;
use crate::error::{Error, ErrorKind, Phase};
use crate::http::Response;
use crate::url::Url;
use std::collections::HashMap;
use std::time::Duration;

/// What one origin's robots.txt says so far.
enum Origin<W> {
    /// Being fetched; these wait for it.
    Fetching(Vec<W>),
    /// Known: the rules (allow-all for 4xx, deny-all when unavailable).
    Known(Robots),
    /// The origin cannot be reached: its requests end with this error.
    Unreachable(Error),
}

/// The gate's answer for one request.
#[derive(Debug)]
pub(crate) enum Check {
    /// Go on (into the admission queue).
    Admit,
    /// The first request of its origin: it now waits, and the caller must
    /// fetch the origin's robots.txt.
    Fetch,
    /// Wait for the robots.txt already being fetched.
    Wait,
    /// End with this error, without a request to the server.
    Deny(Error),
}

/// Every origin's robots.txt, and the requests (`W`, a handle of the
/// caller's) that wait for one.
pub(crate) struct Gate<W> {
    origins: HashMap<Box<str>, Origin<W>>,
    /// Requests waiting, over all origins.
    waiting: usize,
}

impl<W: PartialEq> Gate<W> {
    pub fn new() -> Gate<W> {
        Gate {
            origins: HashMap::new(),
            waiting: 0,
        }
    }

    /// Requests waiting for some robots.txt.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// May `url` be fetched? `waiter` joins its origin's waiting list when
    /// the answer is [`Check::Fetch`] or [`Check::Wait`].
    pub fn check(&mut self, url: &Url, waiter: W) -> Check {
        let check = match self.origins.get_mut(url.origin()) {
            Some(Origin::Fetching(waiting)) => {
                waiting.push(waiter);
                Check::Wait
            }
            Some(origin) => decide(origin, url),
            None => {
                // Once per origin: the only allocation of the gate.
                let key: Box<str> = url.origin().into();
                self.origins.insert(key, Origin::Fetching(vec![waiter]));
                Check::Fetch
            }
        };
        if matches!(check, Check::Fetch | Check::Wait) {
            self.waiting += 1;
        }
        check
    }

    /// The answer for a request that waited, once its origin is decided.
    pub fn recheck(&self, url: &Url) -> Check {
        match self.origins.get(url.origin()) {
            Some(origin) => decide(origin, url),
            None => Check::Admit,
        }
    }

    /// A waiter of `origin` left (its deadline passed, the crawl stopped).
    pub fn leave(&mut self, origin: &str, waiter: &W) {
        if let Some(Origin::Fetching(waiting)) = self.origins.get_mut(origin) {
            if let Some(i) = waiting.iter().position(|w| w == waiter) {
                waiting.swap_remove(i);
                self.waiting -= 1;
            }
        }
    }

    /// The fetch of `origin`'s robots.txt ended with `result`: the origin is
    /// decided (rules parsed for `agent`). Returns who waited (to
    /// [`recheck`](Self::recheck)) and the file's `Crawl-delay`, if any.
    pub fn handle_fetched(
        &mut self,
        origin: Box<str>,
        result: Result<&Response, &Error>,
        agent: &str,
    ) -> (Vec<W>, Option<Duration>) {
        let decided = rules_for(result, agent);
        let delay = match &decided {
            Origin::Known(rules) => rules.crawl_delay(),
            _ => None,
        };
        let waiting = match self.origins.insert(origin, decided) {
            Some(Origin::Fetching(w)) => w,
            _ => Vec::new(),
        };
        self.waiting -= waiting.len();
        (waiting, delay)
    }
}

/// RFC 9309 §2.3.1: what a robots.txt answer means.
fn rules_for<W>(result: Result<&Response, &Error>, agent: &str) -> Origin<W> {
    match result {
        Ok(resp) => match resp.status {
            200..=299 => Origin::Known(Robots::parse(&resp.body, agent)),
            400..=499 => Origin::Known(Robots::allow_all()),
            _ => Origin::Known(Robots::deny_all()),
        },
        Err(e) => {
            let unreachable = e.phase == Phase::Dns
                || (e.phase == Phase::Connect
                    && matches!(
                        e.kind,
                        ErrorKind::Refused | ErrorKind::Timeout | ErrorKind::Reset
                    ));
            if unreachable {
                Origin::Unreachable(e.clone())
            } else {
                Origin::Known(Robots::deny_all())
            }
        }
    }
}

fn decide<W>(origin: &Origin<W>, url: &Url) -> Check {
    match origin {
        Origin::Fetching(_) => Check::Wait,
        Origin::Unreachable(e) => Check::Deny(e.clone()),
        Origin::Known(r) if r.allowed(url.path_and_query()) => Check::Admit,
        Origin::Known(r) if r.denies_all() => Check::Deny(Error::new(
            Phase::Robots,
            ErrorKind::Unavailable,
            format!(
                "{}/robots.txt could not be read: everything is disallowed (RFC 9309)",
                url.origin()
            ),
        )),
        Origin::Known(_) => Check::Deny(Error::new(
            Phase::Robots,
            ErrorKind::Disallowed,
            format!(
                "{}/robots.txt disallows {}",
                url.origin(),
                url.path_and_query()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn ok(status: u16, body: &[u8]) -> Response {
        Response {
            status,
            body: body.to_vec(),
            ..Response::default()
        }
    }

    #[test]
    fn first_request_fetches_later_ones_wait_then_all_are_decided() {
        let mut gate = Gate::new();
        assert!(matches!(
            gate.check(&url("http://a.test/x"), 1),
            Check::Fetch
        ));
        assert!(matches!(
            gate.check(&url("http://a.test/private"), 2),
            Check::Wait
        ));
        assert_eq!(gate.waiting(), 2);
        let file = ok(200, b"User-agent: *\nDisallow: /private\nCrawl-delay: 2\n");
        let (waiters, delay) = gate.handle_fetched("http://a.test".into(), Ok(&file), "oneloop");
        assert_eq!(waiters, vec![1, 2]);
        assert_eq!(delay, Some(Duration::from_secs(2)));
        assert_eq!(gate.waiting(), 0);
        assert!(matches!(
            gate.recheck(&url("http://a.test/x")),
            Check::Admit
        ));
        assert!(matches!(
            gate.recheck(&url("http://a.test/private")),
            Check::Deny(e) if e.kind == ErrorKind::Disallowed
        ));
        // Decided origins answer at once.
        assert!(matches!(
            gate.check(&url("http://a.test/y"), 3),
            Check::Admit
        ));
    }

    #[test]
    fn answers_follow_rfc_9309() {
        let cases: &[(Result<Response, Error>, &str)] = &[
            (Ok(ok(404, b"")), "admit"),
            (Ok(ok(500, b"")), "unavailable"),
            (
                Err(Error::new(Phase::Connect, ErrorKind::Refused, "")),
                "connect:refused",
            ),
            (
                Err(Error::new(Phase::Dns, ErrorKind::NxDomain, "")),
                "dns:nxdomain",
            ),
            (
                Err(Error::new(Phase::Head, ErrorKind::Malformed, "")),
                "unavailable",
            ),
        ];
        for (result, want) in cases {
            let mut gate = Gate::new();
            let u = url("http://b.test/page");
            assert!(matches!(gate.check(&u, 0), Check::Fetch));
            let _ = gate.handle_fetched("http://b.test".into(), result.as_ref(), "oneloop");
            let got = match gate.recheck(&u) {
                Check::Admit => "admit".to_string(),
                Check::Deny(e) if e.kind == ErrorKind::Unavailable => "unavailable".to_string(),
                Check::Deny(e) => format!("{}:{}", e.phase.as_str(), e.kind.as_str()),
                other => format!("{other:?}"),
            };
            assert_eq!(&got, want, "{result:?}");
        }
    }

    #[test]
    fn a_waiter_that_leaves_is_not_returned() {
        let mut gate = Gate::new();
        let u = url("http://c.test/");
        let _ = gate.check(&u, 7);
        let _ = gate.check(&u, 8);
        gate.leave("http://c.test", &7);
        assert_eq!(gate.waiting(), 1);
        let (waiters, _) = gate.handle_fetched("http://c.test".into(), Ok(&ok(404, b"")), "x");
        assert_eq!(waiters, vec![8]);
    }
}
