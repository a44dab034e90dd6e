//! The follow core, sans-IO: the crawl of a site as plain data. Seeds, the
//! pages that came back (their links, their redirects) and sources
//! (robots.txt `Sitemap:` lines, sitemaps) go in; the next request, the
//! checkpoint's records and the frontier's spill and load requests come
//! out. It reads no clock, opens no socket or file, and is owned by the
//! loop's thread, like the request core: the workers *return* the links
//! they extracted, and only the loop offers them to the frontier, so there
//! is no lock around it.
//!
//! Where a request came from (its depth, the page that pointed to it,
//! whether it is a page, a robots.txt or a sitemap) travels *on the
//! request* as a [`CrawlTag`] and comes back on its
//! [`crate::Outcome`]: the core keeps no table from ids to depths.
//!
//! The usage contract, in the shape of every core here:
//! - inputs: [`handle_seed`](Follow::handle_seed) for each seed,
//!   [`handle_seeds_done`](Follow::handle_seeds_done) once they are over,
//!   [`handle_page`](Follow::handle_page) for every request it handed out
//!   (or [`handle_lost`](Follow::handle_lost) if its page's work died),
//!   [`handle_loaded`](Follow::handle_loaded) for spilled batches read back;
//! - outputs, drained after the inputs in this order:
//!   [`poll_spill`](Follow::poll_spill) and
//!   [`poll_load`](Follow::poll_load) (the spill store's work),
//!   [`poll_request`](Follow::poll_request) (the next request: a seed
//!   that is not a URL first, to end as its own error outcome, then the
//!   frontier's next URL) and [`poll_record`](Follow::poll_record) (for a
//!   checkpoint, when asked for);
//! - [`is_done`](Follow::is_done): the seeds are over, nothing is queued,
//!   and no request handed out is still waiting for its page.
//!
//! No `poll_timeout`: nothing here waits for time.
//!
//! ```
//! use oneloop::follow::{Follow, FollowConfig, Found, Fetched};
//! use oneloop::Request;
//!
//! let mut core = Follow::new(FollowConfig::default());
//! core.handle_seed(Request::from("http://a.test/"));
//! core.handle_seeds_done();
//! let seed = core.poll_request().unwrap();
//! assert_eq!((seed.url.as_str(), seed.tag.unwrap().depth), ("http://a.test/", 0));
//! assert!(core.poll_request().is_none() && !core.is_done()); // its links may come
//!
//! // The page came back (its links extracted on a worker).
//! let found = Found::of(&["http://a.test/b", "http://b.test/"], &[] as &[&str]);
//! let queued = core.handle_page(Fetched::of(&seed, &[], &found));
//! assert_eq!(queued, 1); // b.test is out of scope
//! let next = core.poll_request().unwrap();
//! assert_eq!((next.url.as_str(), next.tag.unwrap().depth, next.tag.unwrap().from), ("http://a.test/b", 1, seed.id));
//! core.handle_page(Fetched::of(&next, &[], &Found::default()));
//! assert!(core.is_done());
//! ```

pub mod checkpoint;
#[cfg(feature = "follow")]
mod found;
pub mod spill;
#[cfg(test)]
mod tests;

#[cfg(feature = "follow")]
pub use found::{find_into, found_in};

use crate::frontier::{Admit, Candidate, Candidates, Frontier, FrontierConfig};
pub use crate::outcome::{CrawlTag, UrlKind};
use crate::outcome::{Outcome, Request};
use std::collections::VecDeque;

/// How a crawl follows links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowConfig {
    /// Scope, depth, budgets, trap guards, the shard, the memory bound.
    pub frontier: FrontierConfig,
    /// Read each seed origin's robots.txt `Sitemap:` lines and its
    /// `/sitemap.xml` too.
    pub sitemaps: bool,
    /// The id of the first request handed out (later ones count up). A
    /// resumed crawl starts past the ids of its earlier runs, so that a
    /// `from` in an old result still names the right page.
    pub first_id: u64,
    /// Emit [`Record`]s for a checkpoint ([`Follow::poll_record`]).
    pub checkpoint: bool,
    /// How deep sitemaps nest: a sitemap an index lists is a step deeper
    /// than the index (and within `max_depth` too); a seed origin's
    /// robots.txt and /sitemap.xml are at 0. sitemaps.org allows no
    /// nesting at all; real sites nest a level or two; an endless chain of
    /// indexes (each listing one new index) once ran 40,000 fetches.
    pub max_sitemap_depth: u32,
}

impl Default for FollowConfig {
    fn default() -> FollowConfig {
        FollowConfig {
            frontier: FrontierConfig::default(),
            sitemaps: false,
            first_id: 1,
            checkpoint: false,
            max_sitemap_depth: 3,
        }
    }
}

/// What a fetched page, robots.txt or sitemap points to: found on a
/// worker ([`found_in`]), made canonical and fingerprinted there
/// ([`Candidates`]), handed to the core on the loop's thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Pages: the links of a page, the URLs of a sitemap's `urlset`.
    pub pages: Candidates,
    /// Sitemaps: a robots.txt's `Sitemap:` lines, a sitemap index's
    /// entries.
    pub sitemaps: Candidates,
    /// The page's encoding, when it is not UTF-8 (`Shift_JIS`,
    /// `windows-1252`...).
    pub charset: Option<&'static str>,
}

impl Found {
    /// From absolute URLs (what is not an http(s) URL is left out).
    pub fn of<P: AsRef<str>, S: AsRef<str>>(pages: &[P], sitemaps: &[S]) -> Found {
        Found {
            pages: Candidates::of(pages),
            sitemaps: Candidates::of(sitemaps),
            charset: None,
        }
    }

    /// Empty again, its buffers kept (to be filled by another page).
    pub fn clear(&mut self) {
        self.pages.clear();
        self.sitemaps.clear();
        self.charset = None;
    }

    /// Bytes its buffers hold, filled or not.
    pub fn capacity_bytes(&self) -> usize {
        self.pages.capacity_bytes() + self.sitemaps.capacity_bytes()
    }
}

/// One request the core handed out, come back.
#[derive(Clone, Debug)]
pub struct Fetched<'a> {
    /// Its id ([`Request::id`]).
    pub id: u64,
    /// The URL requested (the input URL, before redirects).
    pub url: &'a str,
    /// Its tag, as it came back on the outcome.
    pub tag: Option<CrawlTag>,
    /// The redirect chain followed: these URLs were fetched, so they are
    /// seen.
    pub redirects: &'a [String],
    /// What it points to (nothing for an error or a non-2xx answer): the
    /// core reads it (and copies what it queues), so the caller may fill
    /// it again for another page.
    pub found: &'a Found,
    /// It was cut short by a stop: not finished, fetched again on resume.
    pub cancelled: bool,
}

impl<'a> Fetched<'a> {
    /// A request that came back with no redirects, not cancelled (for
    /// tests and examples).
    pub fn of(req: &'a Request, redirects: &'a [String], found: &'a Found) -> Fetched<'a> {
        Fetched {
            id: req.id.unwrap_or(0),
            url: &req.url,
            tag: req.tag,
            redirects,
            found,
            cancelled: false,
        }
    }

    /// From an outcome and what was found in it.
    pub fn from_outcome(o: &'a Outcome, found: &'a Found) -> Fetched<'a> {
        Fetched {
            id: o.id,
            url: &o.url,
            tag: o.tag,
            redirects: &o.redirects,
            found,
            cancelled: is_cancelled(o),
        }
    }
}

/// Cut short by a stop (not finished: fetched again on resume).
pub fn is_cancelled(o: &Outcome) -> bool {
    o.result
        .as_ref()
        .is_err_and(|e| e.kind == crate::ErrorKind::Cancelled)
}

/// What the checkpoint keeps (see [`checkpoint`]): replayed into a fresh
/// core, the records give the same remaining crawl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The frontier queued `url`.
    Queued {
        /// The canonical URL as queued.
        url: String,
        /// Its depth, referrer and kind.
        tag: CrawlTag,
        /// A seed's input line.
        line: Option<u64>,
    },
    /// `url` finished (the records of the links it queued came before).
    Done {
        /// The URL as requested.
        url: String,
    },
    /// `url`'s host (or domain) joined the scope: a seed's, or where a
    /// seed redirected to. Replayed first, so a resumed crawl's queued
    /// pages are judged by the same scope before its seeds are read again.
    Scope {
        /// The URL whose host (or domain) is in scope.
        url: String,
    },
    /// Another shard's URL (`--shard`): not queued here.
    Diverted {
        /// The shard it belongs to.
        shard: u64,
        /// The URL.
        url: String,
    },
}

/// The follow core (see the [module docs](self)).
pub struct Follow {
    frontier: Frontier,
    sitemaps: bool,
    checkpoint: bool,
    max_sitemap_depth: u32,
    /// Requests handed out whose pages have not come back.
    in_progress: u64,
    next_id: u64,
    seeds_done: bool,
    /// Seeds that are not URLs, to be handed out as they are.
    invalid: VecDeque<Request>,
    records: VecDeque<Record>,
    /// Seeds whose redirect widened the scope.
    seed_redirects: u64,
    /// robots.txt files come from the robots gate's own fetches
    /// ([`handle_robots_sitemaps`](Self::handle_robots_sitemaps)), not from
    /// requests of this core.
    robots_from_gate: bool,
}

impl Follow {
    /// A core with an empty frontier.
    pub fn new(config: FollowConfig) -> Follow {
        let frontier = Frontier::new(config.frontier.clone());
        Follow::with_frontier(config, frontier)
    }

    /// A core over a frontier restored from a checkpoint
    /// ([`checkpoint::CheckpointLog::open`]); `config.frontier` is the
    /// frontier's own.
    pub fn with_frontier(config: FollowConfig, frontier: Frontier) -> Follow {
        Follow {
            frontier,
            sitemaps: config.sitemaps,
            checkpoint: config.checkpoint,
            max_sitemap_depth: config.max_sitemap_depth,
            in_progress: 0,
            next_id: config.first_id,
            seeds_done: false,
            invalid: VecDeque::new(),
            records: VecDeque::new(),
            seed_redirects: 0,
            robots_from_gate: false,
        }
    }

    /// It emits checkpoint records ([`FollowConfig::checkpoint`]): a
    /// page's URL must come back with it for its `Done` record.
    pub fn records(&self) -> bool {
        self.checkpoint
    }

    /// The frontier, for restoring a checkpoint and for its counters.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The frontier, to restore a checkpoint into it before the crawl.
    pub fn frontier_mut(&mut self) -> &mut Frontier {
        &mut self.frontier
    }

    /// A seed: queued at depth 0 (its host joins the scope), with its
    /// origin's robots.txt and /sitemap.xml when sitemaps are read. A seed
    /// seen before is not fetched twice. Another shard's seed widens the
    /// scope only (links to it are diverted, not dropped). A seed that is
    /// not a URL (or carries an error) is handed out as it is, to end as
    /// its own outcome.
    pub fn handle_seed(&mut self, seed: Request) {
        if seed.error.is_none() {
            self.widen_scope(&seed.url);
        }
        if let (Some((me, n)), None) = (self.frontier.config().shard, &seed.error) {
            let owner = crate::url::Url::parse(&seed.url).map_or(0, |u| u.shard(n));
            if owner != me {
                self.frontier.add_scope(&seed.url);
                return;
            }
        }
        let admit = match seed.error {
            None => self.frontier.handle_seed(&seed.url, seed.line),
            Some(_) => Admit::Invalid,
        };
        if admit == Admit::Invalid {
            self.invalid.push_back(seed);
            return;
        }
        if admit == Admit::Queued {
            self.queued(&seed.url, CrawlTag::default(), seed.line);
        }
        if self.sitemaps && !self.robots_from_gate {
            self.seed_sources(&seed.url);
        }
    }

    /// The robots gate fetches every origin's robots.txt anyway: read
    /// sitemaps from those fetches ([`handle_robots_sitemaps`]) instead of
    /// fetching each seed origin's robots.txt a second time. Set before the
    /// seeds come ([`Crawler::crawl`](crate::Crawler::crawl) does).
    ///
    /// [`handle_robots_sitemaps`]: Self::handle_robots_sitemaps
    pub fn set_robots_from_gate(&mut self, on: bool) {
        self.robots_from_gate = on;
    }

    /// It reads sitemaps ([`FollowConfig::sitemaps`]).
    pub fn reads_sitemaps(&self) -> bool {
        self.sitemaps
    }

    /// An origin's robots.txt (fetched by the robots gate) and its
    /// `Sitemap:` lines: for every in-scope origin the crawl visits, those
    /// sitemaps and the origin's `/sitemap.xml` are queued (at depth 0:
    /// what a sitemap lists is one below). Out-of-scope origins and
    /// sitemaps elsewhere are refused by the scope as links are.
    pub fn handle_robots_sitemaps(&mut self, origin: &str, sitemaps: &[String]) {
        if !self.sitemaps {
            return;
        }
        let usual = format!("{origin}/sitemap.xml");
        for url in sitemaps.iter().map(String::as_str).chain([usual.as_str()]) {
            let kind = UrlKind::Sitemap;
            if self.frontier.handle_source(url, 0, None, kind) == Admit::Queued {
                let tag = CrawlTag {
                    depth: 0,
                    from: None,
                    kind,
                };
                self.queued(url, tag, None);
            }
        }
    }

    /// A seed origin's robots.txt and /sitemap.xml (seen already for a
    /// second seed of the same origin).
    fn seed_sources(&mut self, seed: &str) {
        let Ok(url) = crate::url::Url::parse(seed) else {
            return;
        };
        let origin = url.origin();
        let sources = [
            ("robots.txt", UrlKind::Robots),
            ("sitemap.xml", UrlKind::Sitemap),
        ];
        for (path, kind) in sources {
            let url = format!("{origin}/{path}");
            if self.frontier.handle_source(&url, 0, None, kind) == Admit::Queued {
                let tag = CrawlTag {
                    depth: 0,
                    from: None,
                    kind,
                };
                self.queued(&url, tag, None);
            }
        }
    }

    /// The seeds are over: once nothing is queued or in progress, the crawl
    /// is done.
    pub fn handle_seeds_done(&mut self) {
        self.seeds_done = true;
    }

    /// The next request: a seed that is not a URL (to end as its error
    /// outcome), else the frontier's next URL. Each carries its id and
    /// [`CrawlTag`], and counts as in progress until its page comes back.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<Request> {
        let id = self.next_id;
        let req = if let Some(seed) = self.invalid.pop_front() {
            Request {
                id: Some(id),
                tag: Some(CrawlTag::default()),
                ..seed
            }
        } else {
            // (The URL stays a string: the request core parses it.)
            let (depth, from, line, kind, url) = self.frontier.poll_next_unparsed()?;
            // Every redirect hop passes the scope as a link would; a seed's
            // are the one exception (they widen the scope instead: an
            // `example.com` seed that lands on `www.example.com`).
            let seed = from.is_none() && kind == UrlKind::Page;
            let redirect_scope = if seed {
                None
            } else {
                self.frontier.redirect_scope()
            };
            Request {
                url,
                id: Some(id),
                line,
                tag: Some(CrawlTag { depth, from, kind }),
                redirect_scope,
                // A sitemap may be 50 MiB (sitemaps.org), whatever the
                // page limit.
                max_body: (kind == UrlKind::Sitemap).then_some(crate::sitemap::MAX_BYTES as u64),
                ..Request::default()
            }
        };
        self.next_id += 1;
        self.in_progress += 1;
        Some(req)
    }

    /// A request handed out came back: its redirect targets are seen, and
    /// what it points to is offered to the frontier (a page's links one
    /// step deeper; a sitemap's pages one below it; sitemaps at its depth).
    /// Returns how many URLs it queued. Every request handed out must come
    /// back once, here or through [`handle_lost`](Self::handle_lost).
    pub fn handle_page(&mut self, page: Fetched<'_>) -> u64 {
        for hop in page.redirects {
            self.frontier.mark_seen(hop);
        }
        // A seed that redirected: where it landed joins the scope (as
        // Heritrix does for seeds, and only for them), so its links are
        // followed.
        let seed = page
            .tag
            .is_some_and(|t| t.from.is_none() && t.kind == UrlKind::Page);
        if let (true, Some(landed)) = (seed, page.redirects.last()) {
            if self.widen_scope(landed) {
                self.seed_redirects += 1;
            }
        }
        let depth = page.tag.map_or(0, |t| t.depth);
        // Their seen-set slots first, all at once (see `Frontier::prefetch`).
        let found = page.found.pages.iter().chain(page.found.sitemaps.iter());
        for c in found {
            self.frontier.prefetch(c.print());
        }
        let mut queued = 0;
        for link in page.found.pages.iter() {
            let url = self.admission_text(link);
            let admit = self.frontier.handle_candidate(link, depth, page.id);
            let tag = CrawlTag {
                depth: depth + 1,
                from: Some(page.id),
                kind: UrlKind::Page,
            };
            queued += self.admitted(admit, url, tag);
        }
        // Sitemaps a robots.txt names are at its depth; those an index
        // lists, a step deeper.
        let nested = page.tag.is_some_and(|t| t.kind == UrlKind::Sitemap);
        let sitemap_depth = depth + u32::from(nested);
        let too_deep = sitemap_depth > self.max_sitemap_depth
            || sitemap_depth > self.frontier.config().max_depth;
        for sitemap in page.found.sitemaps.iter() {
            if too_deep {
                break;
            }
            let kind = UrlKind::Sitemap;
            let url = self.admission_text(sitemap);
            let from = Some(page.id);
            let admit = self
                .frontier
                .handle_source_candidate(sitemap, sitemap_depth, from, kind);
            let tag = CrawlTag {
                depth: sitemap_depth,
                from,
                kind,
            };
            queued += self.admitted(admit, url, tag);
        }
        if self.checkpoint && !page.cancelled {
            self.records.push_back(Record::Done {
                url: page.url.to_string(),
            });
        }
        self.in_progress = self.in_progress.saturating_sub(1);
        queued
    }

    /// A request handed out whose page's work died before its links were
    /// taken: no longer in progress (else the crawl would never end). Not
    /// finished: a resumed crawl fetches it again.
    pub fn handle_lost(&mut self, _id: u64) {
        self.in_progress = self.in_progress.saturating_sub(1);
    }

    /// The URL's text for a record, kept only when there is a checkpoint
    /// (the candidate itself moves into the frontier).
    fn admission_text(&self, c: Candidate<'_>) -> Option<String> {
        self.checkpoint.then(|| c.as_str().to_string())
    }

    /// What the frontier said of a URL, into the records; 1 if queued.
    fn admitted(&mut self, admit: Admit, url: Option<String>, tag: CrawlTag) -> u64 {
        match (admit, url) {
            (Admit::Queued, url) => {
                if let Some(url) = url {
                    self.records.push_back(Record::Queued {
                        url,
                        tag,
                        line: None,
                    });
                }
                1
            }
            (Admit::Diverted(shard), Some(url)) => {
                self.records.push_back(Record::Diverted { shard, url });
                0
            }
            _ => 0,
        }
    }

    /// `url`'s host (or domain) joins the scope, recorded for the
    /// checkpoint; true if it was not in it.
    fn widen_scope(&mut self, url: &str) -> bool {
        let widened = self.frontier.add_scope_of(url);
        if widened && self.checkpoint {
            let url = url.to_string();
            self.records.push_back(Record::Scope { url });
        }
        widened
    }

    fn queued(&mut self, url: &str, tag: CrawlTag, line: Option<u64>) {
        if self.checkpoint {
            let url = url.to_string();
            self.records.push_back(Record::Queued { url, tag, line });
        }
    }

    /// The next record for the checkpoint (only with
    /// [`FollowConfig::checkpoint`]), in the order things happened: a page's
    /// links are queued before it is done.
    #[must_use]
    pub fn poll_record(&mut self) -> Option<Record> {
        self.records.pop_front()
    }

    /// A batch of queued URLs to keep outside memory (its id and opaque
    /// bytes), for a [`spill::SpillStore`].
    #[must_use]
    pub fn poll_spill(&mut self) -> Option<(u64, Vec<u8>)> {
        self.frontier.poll_spill()
    }

    /// A spilled batch whose turn has come: read it back, then
    /// [`handle_loaded`](Self::handle_loaded).
    #[must_use]
    pub fn poll_load(&mut self) -> Option<u64> {
        self.frontier.poll_load()
    }

    /// A spilled batch read back.
    pub fn handle_loaded(&mut self, id: u64, bytes: Vec<u8>) {
        self.frontier.handle_loaded(id, bytes);
    }

    /// The crawl is over: seeds done, nothing queued or in progress.
    pub fn is_done(&self) -> bool {
        self.seeds_done
            && self.in_progress == 0
            && self.invalid.is_empty()
            && self.frontier.pending_len() == 0
    }

    /// Seeds whose redirect took them to a host (or domain) out of the
    /// scope, which the landing widened.
    pub fn seed_redirects(&self) -> u64 {
        self.seed_redirects
    }

    /// Requests handed out whose pages have not come back.
    pub fn in_progress(&self) -> u64 {
        self.in_progress
    }
}
