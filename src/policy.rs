//! Retry and redirect policy: what a finished attempt means for its request.
//!
//! A sans-IO core of stateless decisions. The state (how many retries, which
//! URLs were followed) stays with each request in the driver; the driver asks
//! here and acts on the answer:
//!
//! - [`judge_error`]: an attempt failed; retry on a fresh connection at once,
//!   retry after a backoff, or give up?
//! - [`judge_response`]: a complete response; finish, retry (a retryable
//!   status), or follow a redirect? And what does it say about the host
//!   ([`HostFeedback`]: throttled, a success, a `Retry-After` pause)?
//! - [`redirect_target`]: where does a redirect go, and with which method?
//! - [`RetryPolicy::backoff`]: how long to wait before the next attempt.
//!
//! No clock, no sockets, no randomness of its own: the wall-clock time for an
//! HTTP-date `Retry-After` and the random fraction for jitter are parameters.
//!
//! ```
//! use oneloop::policy::{RetryPolicy, judge_error, Attempt, ErrorVerdict};
//! use oneloop::{Error, ErrorKind, Method, Phase};
//! use std::time::Duration;
//!
//! let policy = RetryPolicy::default();
//! let refused = Error::new(Phase::Connect, ErrorKind::Refused, "");
//! let first = Attempt { method: Method::Get, retries: 0, ..Attempt::default() };
//! assert!(matches!(judge_error(&refused, &first, &policy), ErrorVerdict::Retry(_)));
//! // Equal jitter: between half and all of 250 ms × 2^retries.
//! assert_eq!(policy.backoff(0, 0.0), Duration::from_millis(125));
//! assert_eq!(policy.backoff(1, 0.5), Duration::from_millis(375));
//! ```

use crate::error::{Error, ErrorKind, Phase};
use crate::http::{parse_retry_after, Method, Response};
use crate::outcome::RetryCause;
use crate::url::Url;
use std::time::{Duration, SystemTime};

/// When and how often failed attempts are tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a retryable failure (refused, reset, timeouts, and the
    /// statuses 429, 502, 503, 504), for GET and HEAD only.
    pub max_retries: u32,
    /// The first retry waits about this long; each next one twice as long
    /// (with jitter: between half and all of it).
    pub backoff: Duration,
    /// The longest wait between two attempts.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// May a request that has been retried `retries` times be retried again?
    /// Only idempotent methods: a POST may have had its effect already.
    pub fn may_retry(&self, method: Method, retries: u32) -> bool {
        method.is_idempotent() && retries < self.max_retries
    }

    /// The wait before retry number `retries + 1`: `backoff × 2^retries`,
    /// capped at `backoff_max`, with "equal jitter" (half fixed, half times
    /// `unit` in `[0, 1)`), so retries of many requests do not arrive in
    /// lockstep.
    pub fn backoff(&self, retries: u32, unit: f64) -> Duration {
        let full = self
            .backoff
            .saturating_mul(1u32 << retries.min(16))
            .min(self.backoff_max);
        full / 2 + full.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }
}

/// Which redirects are followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Follow redirects (301, 302, 303, 307, 308).
    pub follow: bool,
    /// The most redirects followed for one input URL.
    pub max: u32,
}

impl Default for RedirectPolicy {
    fn default() -> RedirectPolicy {
        RedirectPolicy {
            follow: true,
            max: 10,
        }
    }
}

/// What the driver knows about the attempt that just ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The attempt's method.
    pub method: Method,
    /// Backoff retries used so far for this input.
    pub retries: u32,
    /// It ran on a reused (pooled) connection.
    pub reused: bool,
    /// The one free retry on a fresh connection was used already.
    pub retried_fresh: bool,
    /// Some byte of the response arrived.
    pub got_response_bytes: bool,
    /// The request goes over HTTP/1.1 only (a server answered it `421`
    /// over HTTP/2).
    pub http1_only: bool,
}

impl Default for Attempt {
    fn default() -> Attempt {
        Attempt {
            method: Method::Get,
            retries: 0,
            reused: false,
            retried_fresh: false,
            got_response_bytes: false,
            http1_only: false,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorVerdict {
    /// Send again at once on a fresh connection: a reused connection failed
    /// before any byte of a response, so the server most likely closed it
    /// while it sat idle (what hyper and Go's Transport do), or it held stray
    /// bytes from an earlier exchange (a body sent after a HEAD response)
    /// that do not start a valid head. Once per input; it spends no retry
    /// budget, but its cause is listed like a retry's.
    RetryFresh,
    /// Send again at once on any connection but the one that failed it:
    /// an HTTP/2 stream the server refused, never processed. Once per
    /// input (the same one free retry as `RetryFresh`), no budget spent.
    RetryNow,
    /// Send again at once over HTTP/1.1 (a body too large for the HTTP/2
    /// windows); no budget spent.
    RetryHttp1,
    /// Wait a backoff, then try again.
    Retry(RetryCause),
    /// The error is the outcome.
    Finish,
}

/// Failures worth another attempt: the server or network may do better next
/// time. Certificate, protocol and size errors will not change; `deadline`
/// is the caller's own limit; of DNS failures only timeouts are retried.
pub fn is_retryable_error(e: &Error) -> bool {
    match e.phase {
        Phase::Dns => e.kind == ErrorKind::Timeout,
        Phase::Url | Phase::Admission | Phase::Redirect | Phase::Save | Phase::Robots => false,
        _ => e.is_retryable(),
    }
}

/// Statuses that say "try again later": 429, 502, 503, 504.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Decides what a failed attempt leads to.
pub fn judge_error(e: &Error, attempt: &Attempt, policy: &RetryPolicy) -> ErrorVerdict {
    // An HTTP/2 stream the server refused (REFUSED_STREAM, or above a
    // GOAWAY's last stream) was never processed (RFC 9113 §8.7): safe to
    // send again, whatever the method, as Go's and hyper's clients do.
    if e.phase == Phase::Send && e.kind == ErrorKind::Refused && !attempt.retried_fresh {
        return ErrorVerdict::RetryNow;
    }
    // A request body larger than the HTTP/2 windows allow now (oneloop does
    // not wait for them to open): never sent; HTTP/1.1 has no windows.
    if e.phase == Phase::Send && e.kind == ErrorKind::TooLarge && !attempt.http1_only {
        return ErrorVerdict::RetryHttp1;
    }
    // Bytes that are not a valid head on a reused connection were never a
    // response to this request: stale bytes, like an early close.
    let stale_bytes = e.phase == Phase::Head && e.kind == ErrorKind::Malformed;
    // (Not a timeout: that says the server is slow, not that it closed the
    // connection; an HTTP/2 stream that times out has a live connection.)
    if attempt.reused
        && !attempt.retried_fresh
        && e.kind != ErrorKind::Timeout
        && (!attempt.got_response_bytes || stale_bytes)
        && attempt.method.is_idempotent()
        && matches!(e.phase, Phase::Send | Phase::Head)
    {
        return ErrorVerdict::RetryFresh;
    }
    if is_retryable_error(e) && policy.may_retry(attempt.method, attempt.retries) {
        return ErrorVerdict::Retry(RetryCause::Error(e.phase, e.kind));
    }
    ErrorVerdict::Finish
}

/// What a response says about its origin, for admission's pacer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostFeedback {
    /// `429 Too Many Requests`: lower the origin's concurrency.
    pub throttled: bool,
    /// A success (status below 400): a lowered limit may grow back.
    pub success: bool,
    /// `Retry-After` on a 429 or 503: start nothing there for this long.
    pub pause: Option<Duration>,
}

/// What to do with a complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// The response is the outcome.
    Finish,
    /// A retryable status with retries left: wait a backoff, try again.
    Retry(RetryCause),
    /// Follow this `Location` (not yet resolved: see [`redirect_target`]).
    Redirect(String),
    /// `421 Misdirected Request` over HTTP/2: send it again at once over
    /// HTTP/1.1 (RFC 9110 §15.5.20; how a site opts out of HTTP/2 for a
    /// request, or a connection reused for a name it does not serve).
    RetryHttp1,
}

/// Decides what a complete response leads to, and what it says about the
/// host. `wall` is the current wall-clock time, for an HTTP-date
/// `Retry-After`.
pub fn judge_response(
    resp: &Response,
    attempt: &Attempt,
    retry: &RetryPolicy,
    redirects: &RedirectPolicy,
    wall: SystemTime,
) -> (ResponseVerdict, HostFeedback) {
    let status = resp.status;
    let mut feedback = HostFeedback {
        throttled: status == 429,
        success: status < 400,
        pause: None,
    };
    if matches!(status, 429 | 503) {
        feedback.pause = resp
            .headers
            .get_str("retry-after")
            .and_then(|v| parse_retry_after(v, wall));
    }
    if status == 421 && resp.version == 2 && !attempt.http1_only {
        return (ResponseVerdict::RetryHttp1, feedback);
    }
    if is_retryable_status(status) && retry.may_retry(attempt.method, attempt.retries) {
        return (ResponseVerdict::Retry(RetryCause::Status(status)), feedback);
    }
    if matches!(status, 301 | 302 | 303 | 307 | 308) && redirects.follow {
        if let Some(location) = resp.headers.get_str("location") {
            return (
                ResponseVerdict::Redirect(location.trim().to_string()),
                feedback,
            );
        }
    }
    (ResponseVerdict::Finish, feedback)
}

/// The next hop of a redirect chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// Where to go (resolved against the current URL, RFC 3986 §5.2).
    pub url: Url,
    /// With which method: 303 always, and 301/302 after a POST (as browsers
    /// do), become GET; 307 and 308 keep the method.
    pub method: Method,
}

/// Resolves a redirect from `current` (reached from the input URL `first`
/// through `followed`, in order) to `location`. Errors, in phase
/// `redirect`: a target that is not an http(s) URL (`bad_redirect`), more
/// than `policy.max` hops (`too_many_redirects`), a URL seen before in this
/// chain (`redirect_loop`).
pub fn redirect_target(
    current: &Url,
    first: &str,
    followed: &[String],
    status: u16,
    location: &str,
    method: Method,
    policy: &RedirectPolicy,
) -> Result<Hop, Error> {
    let fail = |kind: ErrorKind, detail: String| Error::new(Phase::Redirect, kind, detail);
    let next = current.join(location).map_err(|e| {
        fail(
            ErrorKind::BadRedirect,
            format!("{status} to {location:?}: {}", e.detail),
        )
    })?;
    if followed.len() >= policy.max as usize {
        return Err(fail(
            ErrorKind::TooManyRedirects,
            format!("more than {} redirects", policy.max),
        ));
    }
    if first == next.as_str() || followed.iter().any(|u| u == next.as_str()) {
        return Err(fail(
            ErrorKind::RedirectLoop,
            format!("{status} back to {}", next.as_str()),
        ));
    }
    let method = if status == 303 || (matches!(status, 301 | 302) && method == Method::Post) {
        Method::Get
    } else {
        method
    };
    Ok(Hop { url: next, method })
}

#[cfg(test)]
mod tests;
