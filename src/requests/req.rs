//! One request as the request core keeps it: where it is ([`Stage`]), and
//! what its outcome will need (attempts, retries, redirects, timings).

use crate::admission::HostId;
use crate::error::Error;
use crate::http::Method;
use crate::outcome::{AttemptReport, RetryCause};
use crate::policy::Attempt;
use crate::reactor::{TimerId, Token};
use crate::url::Url;
use std::time::Instant;

/// Where a request is, and what it holds.
///
/// ```text
///  input ─> RobotsWait ─> Parked ─(admitted)─> Active ─> response / failure ─┬─> outcome
///                           ^  ^                 │                          │
///                           │  └── redirect ─────┼──────────────────────────┤
///                           └── Backoff ─(timer)─┼── retry ─────────────────┘
///                                                └─ deadline / abort ─> Ending ─(connection closed)─> outcome
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Waiting for its origin's robots.txt: in the gate's waiting list.
    RobotsWait,
    /// In the admission queue under `Req::host`.
    Parked,
    /// Started: holds an admission slot of `Req::host`; the driver gives it
    /// a connection.
    Active,
    /// Waiting for a retry; holds nothing but this timer.
    Backoff(TimerId),
    /// Ended while active (its deadline, an abort): waits for the driver to
    /// close its connection ([`handle_abandoned`](super::Requests::handle_abandoned)).
    /// Still holds its admission slot. With `take_phase`, the error takes the
    /// phase the connection was in.
    Ending { error: Box<Error>, take_phase: bool },
}

/// A request the core knows: waiting, in flight, or between attempts.
pub(crate) struct Req {
    pub generation: u32,
    /// The outcome's id.
    pub id: u64,
    pub line: Option<u64>,
    /// Where the current attempt goes (the last redirect target).
    pub url: Url,
    /// The input URL, kept once a redirect changed `url`.
    pub original: Option<String>,
    pub method: Method,
    pub host: HostId,
    pub stage: Stage,
    /// Attempts started (each one reached the connection table).
    pub attempts: u32,
    pub retries: Vec<RetryCause>,
    pub redirects: Vec<String>,
    pub pulled_at: Instant,
    /// The first attempt's start (leaving the admission queue).
    pub started_at: Option<Instant>,
    /// Retries after a backoff (the budget of `RetryPolicy::max_retries`);
    /// `retries` also lists the free retry on a fresh connection.
    pub backoff_retries: u32,
    /// The one free retry on a fresh connection was used.
    pub retried_fresh: bool,
    /// Over HTTP/1.1 only, from now on (its server answered `421` over
    /// HTTP/2).
    pub http1_only: bool,
    /// The total deadline's timer.
    pub timer: TimerId,
    /// The last attempt, as the driver measured it.
    pub report: AttemptReport,
    /// This is the robots.txt fetch for that origin (not a user's request).
    pub robots_for: Option<Box<str>>,
    /// Store the response body (else only count it).
    pub keep_body: bool,
    /// Keep only this much of the body (a robots.txt: RFC 9309 §2.5 reads
    /// the first 500 KiB and ignores the rest, whatever the page limit).
    pub truncate_at: Option<u64>,
    /// What this request adds to the template (boxed: most have nothing).
    pub extra: Option<Box<Extra>>,
    /// A crawl's tag, carried to the outcome (not in `extra`: a following
    /// crawl's every request has one, and a box per request cost time).
    pub tag: Option<crate::outcome::CrawlTag>,
    /// The scope its redirects must stay in (a reference count).
    pub redirect_scope: Option<crate::outcome::RedirectScope>,
}

/// A request's own headers, body and opaque data ([`crate::Request`]).
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub meta: Option<String>,
    pub max_body: Option<u64>,
    /// Redirects followed, with their responses, when responses keep
    /// their wire (archiving): they go with the final response.
    pub hops: Vec<(String, crate::http::Response)>,
}

impl Extra {
    /// From an input item: `None` if it adds nothing.
    pub fn of(
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
        meta: Option<String>,
        max_body: Option<u64>,
    ) -> Option<Box<Extra>> {
        if headers.is_empty() && body.is_none() && meta.is_none() && max_body.is_none() {
            return None;
        }
        Some(Box::new(Extra {
            headers,
            body,
            meta,
            max_body,
            hops: Vec::new(),
        }))
    }

    /// A redirect: validators named the first URL's version; credentials
    /// stay with their host; a method turned GET drops the body.
    pub fn redirected(&mut self, same_host: bool, became_get: bool) {
        let drop = |name: &str| {
            let n = name.to_ascii_lowercase();
            matches!(n.as_str(), "if-none-match" | "if-modified-since")
                || (!same_host && matches!(n.as_str(), "authorization" | "cookie"))
        };
        self.headers.retain(|(name, _)| !drop(name));
        if became_get {
            self.body = None;
        }
    }
}

impl Req {
    pub fn token(&self, slot: usize) -> Token {
        Token {
            slot,
            generation: self.generation,
        }
    }

    /// The last attempt, for the retry policy.
    pub fn attempt(&self) -> Attempt {
        Attempt {
            method: self.method,
            retries: self.backoff_retries,
            reused: self.report.reused,
            retried_fresh: self.retried_fresh,
            got_response_bytes: self.report.got_response_bytes,
            http1_only: self.http1_only,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Extra;

    #[test]
    fn a_redirect_drops_validators_and_credentials_for_another_host() {
        let headers = [
            "If-None-Match",
            "if-modified-since",
            "Authorization",
            "Cookie",
            "X-Keep",
        ]
        .map(|n| (n.to_string(), "v".to_string()))
        .to_vec();
        let names = |x: &Extra| x.headers.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let mut same = Extra::of(headers.clone(), Some(b"b".to_vec()), None, None).unwrap();
        same.redirected(true, false);
        assert_eq!(names(&same), ["Authorization", "Cookie", "X-Keep"]);
        assert!(same.body.is_some(), "307/308 keep the body");
        let mut other = Extra::of(headers, Some(b"b".to_vec()), None, None).unwrap();
        other.redirected(false, true);
        assert_eq!(names(&other), ["X-Keep"]);
        assert!(other.body.is_none(), "303 turns it into a GET");
        assert!(
            Extra::of(vec![], None, None, None).is_none(),
            "nothing extra, no box"
        );
    }
}
