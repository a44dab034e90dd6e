//! The public vocabulary of results: what goes in ([`Request`]) and what
//! comes out ([`Outcome`], with its [`Timings`] and [`RetryCause`]s).
//!
//! A leaf module: it depends on the error and HTTP types only, so the
//! summary and any report can depend on it without knowing the driver.

mod json;
pub use json::write_error_json;

use crate::error::{Error, ErrorKind, Phase};
use crate::http::Response;
use std::time::Duration;

/// One input item: a URL, with an optional caller-chosen id, and what this
/// one request adds to the crawl's template ([`RequestTemplate`](crate::config::RequestTemplate)).
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The URL to fetch.
    pub url: String,
    /// The id the outcome carries; `None` means "its position in the input".
    pub id: Option<u64>,
    /// Where the item came from (a line number, say), copied to the outcome
    /// so results can be joined back to the input.
    pub line: Option<u64>,
    /// End this item at once with this error instead of fetching it: for
    /// input that is already known to be bad (a line that is not UTF-8), so
    /// that it still gets its one outcome.
    pub error: Option<Error>,
    /// This request's method (`None`: the template's).
    pub method: Option<crate::http::Method>,
    /// Header fields for this request, after the template's (a field of the
    /// same name replaces the template's, `User-Agent` and
    /// `Accept-Encoding` included). Checked like the template's: a field
    /// that may not be sent ends the item as `url: invalid_input`. On a
    /// redirect, `If-None-Match` and `If-Modified-Since` are dropped (they
    /// name the first URL's version), and `Authorization` and `Cookie` too
    /// when the host changes (curl's and Go's rule).
    pub headers: Vec<(String, String)>,
    /// This request's body (`None`: the template's, sent with POST).
    pub body: Option<Vec<u8>>,
    /// Opaque data carried to the outcome unchanged (the CLI's `"meta"`).
    pub meta: Option<String>,
    /// Where a crawl that follows links found this URL (set by the
    /// [follow core](crate::follow)), carried to the outcome unchanged.
    pub tag: Option<CrawlTag>,
    /// Which redirect targets this request may follow (a crawl's scope:
    /// the follow core sets it). A target it refuses is not fetched: the
    /// redirect response itself is the outcome.
    pub redirect_scope: Option<RedirectScope>,
    /// This request's body size limit (`None`: the crawl's,
    /// `Limits::max_body_bytes`): a sitemap may be 50 MiB whatever the
    /// page limit.
    pub max_body: Option<u64>,
}

/// A test of redirect targets (see [`Request::redirect_scope`]): cheap to
/// clone (one reference count), callable on the loop's thread.
#[derive(Clone)]
pub struct RedirectScope(std::sync::Arc<dyn Fn(&crate::url::Url) -> bool + Send + Sync>);

impl RedirectScope {
    /// A scope that allows the URLs `allows` says yes to.
    pub fn new(allows: impl Fn(&crate::url::Url) -> bool + Send + Sync + 'static) -> RedirectScope {
        RedirectScope(std::sync::Arc::new(allows))
    }

    /// May a redirect lead to `url`?
    pub fn allows(&self, url: &crate::url::Url) -> bool {
        (self.0)(url)
    }
}

impl std::fmt::Debug for RedirectScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedirectScope(..)")
    }
}

/// What a queued URL is fetched for, in a crawl that follows links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum UrlKind {
    /// A page: its links are followed.
    #[default]
    Page,
    /// A robots.txt read for its `Sitemap:` lines.
    Robots,
    /// A sitemap: its URLs are pages (a `urlset`) or sitemaps (an index).
    Sitemap,
}

impl UrlKind {
    /// Its name in the JSON line and the checkpoint: `page`, `robots`,
    /// `sitemap`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlKind::Page => "page",
            UrlKind::Robots => "robots",
            UrlKind::Sitemap => "sitemap",
        }
    }

    /// The kind named `name` (anything else is a page).
    pub fn from_name(name: &str) -> UrlKind {
        match name {
            "robots" => UrlKind::Robots,
            "sitemap" => UrlKind::Sitemap,
            _ => UrlKind::Page,
        }
    }
}

/// Where a request of a crawl that follows links came from: it travels on
/// the [`Request`] and comes back on the [`Outcome`], so nobody keeps a
/// table from ids to depths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrawlTag {
    /// Links from a seed (0 for a seed, and for a seed origin's
    /// robots.txt; a sitemap's pages are one below the sitemap).
    pub depth: u32,
    /// The id of the page (or sitemap) that pointed to it; `None` for a
    /// seed.
    pub from: Option<u64>,
    /// What it is fetched for.
    pub kind: UrlKind,
}

impl From<String> for Request {
    fn from(url: String) -> Request {
        Request {
            url,
            ..Request::default()
        }
    }
}

impl From<&str> for Request {
    fn from(url: &str) -> Request {
        Request::from(url.to_string())
    }
}

impl From<(u64, String)> for Request {
    fn from((id, url): (u64, String)) -> Request {
        Request {
            url,
            id: Some(id),
            ..Request::default()
        }
    }
}

/// Where a request's time went. `dns`, `connect` and `ttfb` describe the
/// *final* attempt (after retries and redirects, the one whose result is
/// the outcome), measured from that attempt's start; `queued` and `total`
/// cover the whole input. Phases that did not happen (no connect on a reused
/// connection) are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// From being pulled off the input to the first attempt's start.
    pub queued: Duration,
    /// The final attempt waited this long for DNS (when the name was not
    /// cached or static).
    pub dns: Option<Duration>,
    /// The final attempt's connect, on a fresh connection (all addresses
    /// tried), from the start of that attempt.
    pub connect: Option<Duration>,
    /// From the final attempt's start to its first response byte.
    pub ttfb: Option<Duration>,
    /// From the first attempt's start to the end: every attempt, backoff and
    /// redirect included.
    pub total: Duration,
}

/// What the connection table measured of one attempt, handed to the
/// request core with the attempt's result (crate-private).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AttemptReport {
    /// It ran on a pooled connection.
    pub reused: bool,
    /// Waiting for DNS (a fresh connection whose name was not cached).
    pub dns: Option<Duration>,
    /// From the attempt's start to the TCP connection (fresh connections).
    pub connect: Option<Duration>,
    /// From the attempt's start to the first response byte.
    pub ttfb: Option<Duration>,
    /// Some byte of a response arrived.
    pub got_response_bytes: bool,
    /// It ran on an HTTP/2 stream (a retry "on a fresh connection" may
    /// then take any: the failed connection is gone, or only its stream
    /// failed, and one new shared connection serves every such retry).
    pub multiplexed: bool,
}

/// The result of one input item. Every item yields exactly one.
#[derive(Debug)]
pub struct Outcome {
    /// The request's id (its position in the input unless the caller set one).
    pub id: u64,
    /// The input's line number, when the request said ([`Request::line`]).
    pub line: Option<u64>,
    /// The input URL, normalized: scheme and host lowercased, spaces and
    /// other bytes outside the URL syntax percent-encoded, fragment dropped
    /// (as given, if it could not be parsed).
    pub url: String,
    /// Requests sent for this input: retries and redirects included.
    pub attempts: u32,
    /// Why each earlier attempt was retried, in order, one cause per extra
    /// attempt that was not a redirect (the final result is the last
    /// attempt's).
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
    /// The request's [`Request::meta`], as given.
    pub meta: Option<String>,
    /// The request's [`Request::tag`], as given.
    pub tag: Option<CrawlTag>,
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
