//! The public vocabulary of results: what goes in ([`Request`]) and what
//! comes out ([`Outcome`], with its [`Timings`] and [`RetryCause`]s).
//!
//! A leaf module: it depends on the error and HTTP types only, so the
//! summary and any report can depend on it without knowing the driver.

use crate::error::{Error, ErrorKind, Phase};
use crate::http::Response;
use std::time::Duration;

/// One input item: a URL, with an optional caller-chosen id.
#[derive(Clone, Debug)]
pub struct Request {
    /// The URL to fetch.
    pub url: String,
    /// The id the outcome carries; `None` means "its position in the input".
    pub id: Option<u64>,
}

impl From<String> for Request {
    fn from(url: String) -> Request {
        Request { url, id: None }
    }
}

impl From<&str> for Request {
    fn from(url: &str) -> Request {
        Request {
            url: url.to_string(),
            id: None,
        }
    }
}

impl From<(u64, String)> for Request {
    fn from((id, url): (u64, String)) -> Request {
        Request { url, id: Some(id) }
    }
}

/// Where a request's time went. Phases that did not happen (no connect on a
/// reused connection) are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting in the admission queue.
    pub queued: Duration,
    /// Waiting for DNS (when the name was not cached or static).
    pub dns: Option<Duration>,
    /// Connecting, on a fresh connection (all addresses tried).
    pub connect: Option<Duration>,
    /// From start to the first response byte.
    pub ttfb: Option<Duration>,
    /// From start (leaving the admission queue) to the end.
    pub total: Duration,
}

/// The result of one input item. Every item yields exactly one.
#[derive(Debug)]
pub struct Outcome {
    /// The request's id (its position in the input unless the caller set one).
    pub id: u64,
    /// The URL as given.
    pub url: String,
    /// Requests sent for this input: retries and redirects included.
    pub attempts: u32,
    /// Why each earlier attempt was retried, in order (the final result is
    /// the last attempt's).
    pub retries: Vec<RetryCause>,
    /// The redirect chain: each URL followed, in order; the last one is the
    /// final URL. Empty without redirects.
    pub redirects: Vec<String>,
    /// Whether the final attempt used a pooled (reused) connection.
    pub reused: bool,
    /// Where the time went.
    pub timings: Timings,
    /// The response, or a typed error naming the phase that failed.
    pub result: Result<Response, Error>,
}

impl Outcome {
    /// The URL the result came from: the last redirect target, or the input URL.
    pub fn final_url(&self) -> &str {
        self.redirects.last().map_or(&self.url, |u| u.as_str())
    }
}

/// Why an attempt was retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryCause {
    /// It failed with this error.
    Error(Phase, ErrorKind),
    /// The server answered with this retryable status (429, 502, 503, 504).
    Status(u16),
}

impl std::fmt::Display for RetryCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryCause::Error(p, k) => write!(f, "{}:{}", p.as_str(), k.as_str()),
            RetryCause::Status(s) => write!(f, "status {s}"),
        }
    }
}
