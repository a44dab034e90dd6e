//! # oneloop
//!
//! Fetch very many HTTP pages from one thread, on an event loop written by
//! hand on [mio](https://docs.rs/mio): the event loop from the textbook, made
//! explicit.
//!
//! Every connection is a visible state machine ([`ConnState`]), and every
//! queue and pool is a named, separately tested structure:
//!
//! - the **admission queue** ([`admission`]) pulls URLs lazily from your
//!   iterator and starts them under a global and a per-host concurrency limit,
//!   round robin across hosts, so memory is O(concurrency), not O(URLs); its
//!   per-origin [pacer](admission::pacing) keeps each host's rate polite;
//! - the **keyed pool** ([`pool`]) reuses keep-alive connections per
//!   (scheme, host, port), LIFO, with idle timeouts and a total limit; the
//!   **dialer** ([`dialer`]) in front of it decides whether a new one may be
//!   opened now (a connect ramp per origin, file descriptors) or must wait;
//! - the **HTTP/1.1 codec** ([`http`]) is sans-IO: bytes in, responses out,
//!   with limits on everything;
//! - the **retry and redirect policy** ([`policy`]) decides what a finished
//!   attempt means, from plain data; [`robots`] what an origin allows;
//! - **work off the loop** ([`workers`]): your per-page function on threads,
//!   with back-pressure instead of a frozen loop;
//! - **errors are values**: every input item yields exactly one [`Outcome`],
//!   a response or an [`Error`] naming the [`Phase`] that failed;
//! - **the loop is measured** ([`reactor::LoopStats`]): iterations, events
//!   per poll, time in poll / protocol work / your callback (they add up to
//!   the run's wall time), and stalls when your callback blocks the loop.
//!
//! Real sites, with the polite defaults (robots.txt obeyed, 10 requests/s
//! and 6 in flight per origin, retries with backoff):
//!
//! ```no_run
//! use oneloop::{Config, Crawler};
//!
//! let mut crawler = Crawler::new(Config::default())?;
//! let urls = ["https://example.com/", "https://example.org/"];
//! let summary = crawler.run(urls.map(String::from), |outcome| {
//!     match &outcome.result {
//!         Ok(resp) => println!("{} {}", outcome.url, resp.status),
//!         Err(e) => println!("{} failed: {e}", outcome.url),
//!     }
//! })?;
//! eprintln!("{summary}");
//! # Ok::<(), oneloop::Error>(())
//! ```
//!
//! Without a network, against the embedded demo server (feature `demo`):
//!
//! ```
//! use oneloop::{Config, Crawler};
//! use oneloop::demo::DemoServer;
//!
//! // A loopback server with 3 virtual hosts (ports), so no network is needed.
//! let server = DemoServer::start(3, 1024).unwrap();
//! let config = Config {
//!     concurrency: 20,
//!     per_host: 4,
//!     ..Config::local() // no pacing, no robots.txt: a loopback server
//! };
//! let mut crawler = Crawler::new(config).unwrap();
//!
//! let mut bytes = 0;
//! let urls = server.urls(1000).chain(["not a url".to_string()]);
//! let summary = crawler.run(urls, |outcome| match &outcome.result {
//!     Ok(response) => bytes += response.body.len(),
//!     Err(e) => eprintln!("{}: {e}", outcome.url),
//! }).unwrap();
//! assert_eq!(summary.outcomes, 1001);
//! assert_eq!(summary.status_classes[2], 1000);
//! assert_eq!(summary.error_count(), 1);              // the bad URL, as a value
//! assert_eq!(bytes, 1000 * 1024);
//! assert!(summary.pool.opened <= 12);                // 3 hosts × 4, reused
//! println!("{summary}");
//! ```
//!
//! A crawl that follows links, with your code per page on worker threads
//! (feature `follow`, on by default; `examples/follow.rs` is the whole
//! program, and [`crawl`] says how the pieces fit):
//!
//! ```
//! # #[cfg(all(feature = "demo", feature = "follow"))] {
//! use oneloop::{Config, Crawler, crawl::CrawlSetup};
//! use oneloop::follow::{Follow, FollowConfig};
//!
//! let site = oneloop::demo::DemoServer::start_site(2, 512, 50).unwrap();
//! let mut crawler = Crawler::new(Config::local()).unwrap();
//! let mut follow = Follow::new(FollowConfig::default()); // same host, depth 5
//! let mut deepest = 0;
//! crawler.crawl(
//!     [site.site_root()],
//!     &mut follow,
//!     CrawlSetup::new(2),
//!     |outcome| outcome.result.as_ref().map_or(0, |r| r.body.len()), // on a worker
//!     |page, _| deepest = deepest.max(page.tag.unwrap().depth),     // on the loop
//! ).unwrap();
//! assert_eq!(deepest, 5); // the site's calendar trap, cut at the depth limit
//! # }
//! ```
//!
//! Layering (dependencies point one way; `docs/architecture.md` has the
//! picture and a reading order):
//! - the vocabulary leaves: [`url`], [`error`], [`outcome`], [`ConnState`]
//!   (a connection's states), [`events`] (what an observer sees:
//!   [`Crawler::set_observer`]); they import nothing but each other's
//!   leaves and the HTTP response type;
//! - the sans-IO cores, which never touch a socket or read the clock:
//!   [`http`], [`pool`], [`dialer`], [`admission`], [`policy`], [`robots`], the
//!   [`follow`] core and its [`frontier`],
//!   [`reactor`]'s timers and stats, and the resolver core [`dns::DnsCore`]
//!   (the [`dns`] module also holds its small socket driver,
//!   [`dns::DnsDriver`]);
//! - [`config`], which gathers the cores' parameter types, and [`summary`],
//!   which gathers their counters;
//! - the request core (crate-private, sans-IO): every request from input to
//!   outcome, over admission, the robots gate and the policy;
//! - the connection state machine (crate-private, generic over its
//!   transport so it is tested without sockets), and the connection table
//!   that owns every connection, the pool and the dialer;
//! - the crawler (the driver), which owns the `mio::Poll` and moves outputs
//!   between the request core and the connection table.
//!
//! Cargo feature `demo` (on by default): the embedded loopback [`demo`]
//! server and the tiny CA in `tls::certs`. `default-features = false` is the
//! minimal runtime.

/// Emits an event through an [`events::Emitter`], if anyone listens.
/// Without an observer it costs one branch: `$kind` is not even evaluated.
macro_rules! emit {
    ($ev:expr, $kind:expr) => {
        if $ev.is_on() {
            $ev.send($kind);
        }
    };
}

pub mod admission;
pub mod config;
mod conn;
mod connections;
#[cfg(feature = "follow")]
pub mod crawl;
mod crawler;
#[cfg(any(feature = "decode", feature = "warc"))]
mod crc32;
#[cfg(feature = "demo")]
pub mod demo;
pub mod dialer;
pub mod dns;
pub mod error;
pub mod events;
pub mod follow;
pub mod frontier;
#[cfg(feature = "http2")]
pub mod h2;
pub mod http;
pub mod input;
pub mod jsonl;
#[cfg(feature = "follow")]
pub mod links;
pub mod outcome;
pub mod policy;
pub mod pool;
pub mod proxy;
pub mod public;
// Plumbing, public only for the benchmarks.
#[doc(hidden)]
pub mod random;
pub mod reactor;
mod requests;
pub mod robots;
mod sha1;
pub mod sitemap;
mod state;
pub mod summary;
// Plumbing the binary shares with the library.
#[doc(hidden)]
pub mod text;
#[cfg(feature = "timeline")]
pub mod timeline;
pub mod tls;
pub mod url;
#[cfg(feature = "warc")]
pub mod warc;
pub mod workers;

pub use config::{
    Config, ConnectionLimits, RequestTemplate, RobotsConfig, RobotsSink, Timeouts, TlsConfig,
};
pub use conn::ConnState;
pub use crawler::{Crawler, Handle, Progress};
pub use error::{Error, ErrorKind, Phase};
pub use http::{Method, Response};
pub use outcome::{Outcome, Request, RetryCause, Timings};
pub use summary::Summary;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
