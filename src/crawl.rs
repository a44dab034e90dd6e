//! A whole crawl that follows links, with one call:
//! [`Crawler::crawl`]. The glue between the [follow core](crate::follow)
//! and the loop, in the shape of
//! [`run_with_workers`](Crawler::run_with_workers):
//!
//! - the loop's input is the follow core: its next request, else the next
//!   seed ([`CrawlInput`]);
//! - each outcome goes to a worker, which finds what the page points to
//!   ([`crate::follow::found_in`]: links, sitemaps) and runs
//!   *your* function on it;
//! - back on the loop's thread, the page's links go to the follow core
//!   (nothing else touches it, so it needs no lock), its checkpoint records
//!   to the [`CheckpointLog`] if there is one, and your `on_page` gets your
//!   value.
//!
//! ```
//! use oneloop::{Config, Crawler};
//! use oneloop::crawl::CrawlSetup;
//! use oneloop::follow::{Follow, FollowConfig};
//! use oneloop::demo::DemoServer;
//!
//! let site = DemoServer::start_site(2, 512, 100).unwrap(); // 100 linked pages
//! let mut crawler = Crawler::new(Config::local()).unwrap();
//! let mut follow = Follow::new(FollowConfig::default());
//! let mut pages = 0;
//! let summary = crawler.crawl(
//!     [site.site_root()],
//!     &mut follow,
//!     CrawlSetup::new(2),
//!     // On a worker: your code, per page.
//!     |outcome| outcome.result.as_ref().map_or(0, |r| r.body.len()),
//!     // On the loop's thread: your value, and what the page queued.
//!     |page, _| pages += page.result.is_ok() as u32,
//! ).unwrap();
//! // The 100 pages, and the first 5 steps into the site's endless calendar
//! // (a trap: the default depth limit of 5 ends it).
//! assert_eq!((summary.outcomes, pages), (105, 105));
//! assert!(follow.is_done());
//! ```
//!
//! When is the input pulled again? [`Crawler::run`] pulls its input at the
//! start of every turn of the loop while the admission queue has room
//! (`Input::pull`); a `Pending` answer is asked again at the next turn, and
//! the loop sleeps in between until something wakes it: a socket, a
//! timer, a worker's result (every page coming back ends a turn, so the
//! links it queued are pulled at once), a spilled batch read back, or a
//! seed arriving from an [`InputThread`](crate::input::InputThread).

use crate::crawler::Crawler;
use crate::error::Error;
use crate::follow::checkpoint::CheckpointLog;
use crate::follow::spill::{SpillFile, SpillStore};
use crate::follow::{find_into, Fetched, Follow, Found};
use crate::input::{Input, IntoInput, Pull};
use crate::outcome::{CrawlTag, Outcome};
use crate::summary::Summary;
use crate::workers::{Done, Workers};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// How a crawl runs besides its rules: its workers and its sinks.
pub struct CrawlSetup {
    /// Threads for the pages' work (link extraction and yours).
    pub workers: Workers,
    /// Where the frontier's spilled batches go (default: a temporary file).
    pub spill: Box<dyn SpillStore>,
    /// The checkpoint the follow core's records go to (set
    /// [`FollowConfig::checkpoint`](crate::follow::FollowConfig::checkpoint)
    /// too); written after each page's `on_page`, so a page is `D`one only
    /// once you have its result.
    pub checkpoint: Option<Arc<CheckpointLog>>,
    /// Hand the checkpoint to the OS every 100 ms (after a page). `false`
    /// when your own output's flush does it, after your output
    /// ([`CheckpointLog::take`], then [`CheckpointLog::write`]): a page
    /// must never be `D`one on disk while its result is still in your
    /// buffer, or a crash would lose the result and never fetch it again.
    pub flush_checkpoint: bool,
}

impl CrawlSetup {
    /// `threads` workers (a queue of four pages each), a temporary spill
    /// file, no checkpoint.
    pub fn new(threads: usize) -> CrawlSetup {
        CrawlSetup {
            workers: Workers::new(threads),
            spill: Box::new(SpillFile::default()),
            checkpoint: None,
            flush_checkpoint: true,
        }
    }
}

/// A page back on the loop's thread.
#[derive(Debug)]
pub struct Page<R> {
    /// The request's id.
    pub id: u64,
    /// A seed's input line.
    pub line: Option<u64>,
    /// Its depth, referrer and kind (`None` if the worker died before it
    /// could say).
    pub tag: Option<CrawlTag>,
    /// URLs it queued (new, in scope, not too deep).
    pub queued: u64,
    /// The page's encoding when it is not UTF-8 (its links' queries were
    /// encoded in it).
    pub charset: Option<&'static str>,
    /// Your function's value, or the message of its panic (the page's
    /// links are followed all the same).
    pub result: Result<R, String>,
}

/// What a worker hands back for one page.
struct Back<R> {
    found: Found,
    /// The URL requested, when a checkpoint records it (else empty).
    url: String,
    redirects: Vec<String>,
    tag: Option<CrawlTag>,
    cancelled: bool,
    user: Result<R, String>,
}

impl Crawler {
    /// Crawls from `seeds`, following links by `follow`'s rules: `work` runs
    /// on a worker for every page (error outcomes, robots.txt and sitemap
    /// fetches included: see `outcome.tag`), after its links were found (so
    /// it may take the body); `on_page` gets its value on the loop's thread
    /// with the follow core, whose counters and records it may read. See
    /// the [module docs](crate::crawl).
    ///
    /// Every request the core hands out comes back to `on_page` exactly
    /// once. Stops as [`run`](Self::run) does ([`Handle`](crate::Handle)).
    pub fn crawl<S, W, R, G>(
        &mut self,
        seeds: S,
        follow: &mut Follow,
        setup: CrawlSetup,
        work: W,
        mut on_page: G,
    ) -> Result<Summary, Error>
    where
        S: IntoInput,
        W: Fn(&mut Outcome) -> R + Send + Sync + 'static,
        R: Send + 'static,
        G: FnMut(Page<R>, &mut Follow),
    {
        // With the robots gate on, every origin's robots.txt is fetched
        // once, by the gate: the follow core reads its `Sitemap:` lines from
        // there (for every in-scope origin the crawl visits, not only the
        // seeds'), instead of fetching it a second time.
        let gate = self.config().robots.enabled;
        follow.set_robots_from_gate(gate);
        let report = std::mem::replace(
            &mut self.config_mut().robots.report_sitemaps,
            gate && follow.reads_sitemaps(),
        );
        let core = RefCell::new(follow);
        let log = setup.checkpoint;
        let tick = setup.flush_checkpoint;
        let input = CrawlInput {
            seeds: seeds.into_input(),
            seeds_done: false,
            core: &core,
            spill: setup.spill,
            log: log.clone(),
        };
        let bin = Arc::new(FoundBin::default());
        let worker_bin = bin.clone();
        // The URL rides back only for a checkpoint's `Done` record: a
        // string made on a worker is freed on the loop's thread, in the
        // worker's malloc arena (see `FoundBin`).
        let keep_url = core.borrow().records();
        let on_worker = move |o: &mut Outcome| Back::of(o, &work, &worker_bin, keep_url);
        let on_result = |done: Done<Back<R>>| {
            let mut core = core.borrow_mut();
            let page = page_back(&mut core, done, &bin);
            on_page(page, &mut core);
            if let Some(log) = &log {
                drain_records(&mut core, log);
                if tick {
                    log.tick();
                }
            }
        };
        let summary = self.run_with_workers(input, setup.workers, on_worker, on_result);
        self.config_mut().robots.report_sitemaps = report;
        if let Some(log) = &log {
            drain_records(&mut core.borrow_mut(), log);
        }
        summary
    }
}

impl<R> Back<R> {
    /// On a worker: what the page points to, found before `work` runs (it
    /// may take the body); a panic in `work` keeps the page's links.
    fn of<W: Fn(&mut Outcome) -> R>(
        o: &mut Outcome,
        work: &W,
        bin: &FoundBin,
        keep_url: bool,
    ) -> Back<R> {
        let mut found = bin.take();
        find_into(o, &mut found);
        let cancelled = crate::follow::is_cancelled(o);
        let url = if keep_url {
            o.url.clone()
        } else {
            String::new()
        };
        let (redirects, tag) = (o.redirects.clone(), o.tag);
        let mine = std::panic::AssertUnwindSafe(|| work(o));
        let user = std::panic::catch_unwind(mine).map_err(|p| crate::workers::panic_message(&*p));
        Back {
            found,
            url,
            redirects,
            tag,
            cancelled,
            user,
        }
    }
}

/// On the loop's thread: a worker's result into the follow core (what it
/// found, or that it was lost), and the page for `on_page`.
fn page_back<R>(core: &mut Follow, done: Done<Back<R>>, bin: &FoundBin) -> Page<R> {
    let (id, line) = (done.id, done.line);
    match done.result {
        Ok(back) => {
            let (tag, charset) = (back.tag, back.found.charset);
            let queued = core.handle_page(Fetched {
                id,
                url: &back.url,
                tag,
                redirects: &back.redirects,
                found: &back.found,
                cancelled: back.cancelled,
            });
            bin.give(back.found);
            Page {
                id,
                line,
                tag,
                queued,
                charset,
                result: back.user,
            }
        }
        Err(message) => {
            core.handle_lost(id);
            Page {
                id,
                line,
                tag: None,
                queued: 0,
                charset: None,
                result: Err(message),
            }
        }
    }
}

/// The buffers of pages' [`Found`]s, taken back from the loop's thread for
/// the workers to fill again. A `Found` is filled on a worker and let go of
/// on the loop's thread: freed there, each of its buffers went back to the
/// worker's malloc arena under that arena's lock, while the worker
/// allocated in it (glibc; the loop waited on the lock in 5 % of its
/// samples). Recycled, they are not freed at all while the crawl runs.
#[derive(Default)]
struct FoundBin(Mutex<Vec<Found>>);

impl FoundBin {
    /// Buffers kept at most (a few per worker and queued page).
    const MAX: usize = 256;
    /// A buffer kept at most this big (a large sitemap's is let go).
    const MAX_BYTES: usize = 64 * 1024;

    /// An empty `Found`, recycled if there is one.
    fn take(&self) -> Found {
        let recycled = self.0.lock().ok().and_then(|mut v| v.pop());
        recycled.unwrap_or_default()
    }

    /// `found` kept for another page (emptied), unless too many or too big.
    fn give(&self, mut found: Found) {
        if found.capacity_bytes() > Self::MAX_BYTES {
            return;
        }
        found.clear();
        if let Ok(mut v) = self.0.lock() {
            if v.len() < Self::MAX {
                v.push(found);
            }
        }
    }
}

/// The follow core's records, into the checkpoint.
fn drain_records(core: &mut Follow, log: &CheckpointLog) {
    while let Some(r) = core.poll_record() {
        log.record(&r);
    }
}

/// The loop's input in a crawl: the follow core's next request, else the
/// next seed; `Pending` while pages that may queue more are still out (or
/// a spilled batch is being read back); `Done` when the core is.
pub struct CrawlInput<'c, 'f, S> {
    seeds: S,
    seeds_done: bool,
    core: &'c RefCell<&'f mut Follow>,
    spill: Box<dyn SpillStore>,
    log: Option<Arc<CheckpointLog>>,
}

impl<S: Input> CrawlInput<'_, '_, S> {
    /// The spill store's work: batches out, batches wanted, batches back.
    fn exchange(&mut self, core: &mut Follow) {
        while let Some((id, batch)) = core.poll_spill() {
            self.spill.store(id, batch);
        }
        while let Some(id) = core.poll_load() {
            self.spill.load(id);
        }
        while let Some((id, batch)) = self.spill.poll_loaded() {
            core.handle_loaded(id, batch);
        }
    }
}

impl<S: Input> Input for CrawlInput<'_, '_, S> {
    fn attach(&mut self, waker: Arc<mio::Waker>) -> Result<(), Error> {
        self.spill.attach(waker.clone());
        self.seeds.attach(waker)
    }

    fn handle_robots_sitemaps(&mut self, origin: &str, sitemaps: Vec<String>) {
        self.core
            .borrow_mut()
            .handle_robots_sitemaps(origin, &sitemaps);
    }

    fn pull(&mut self) -> Pull {
        let mut core = self.core.borrow_mut();
        self.exchange(&mut core);
        let pulled = loop {
            if let Some(req) = core.poll_request() {
                break Pull::Item(req);
            }
            if self.seeds_done {
                break Pull::Pending;
            }
            match self.seeds.pull() {
                Pull::Item(seed) => core.handle_seed(seed),
                Pull::Pending => break Pull::Pending,
                Pull::Done => {
                    self.seeds_done = true;
                    core.handle_seeds_done();
                }
            }
        };
        // Seeds and their sources queued: maybe over the memory bound.
        self.exchange(&mut core);
        if let Some(log) = &self.log {
            drain_records(&mut core, log);
        }
        match pulled {
            Pull::Pending if core.is_done() => Pull::Done,
            p => p,
        }
    }
}

impl<'c, 'f, S: Input> IntoInput for CrawlInput<'c, 'f, S> {
    type Input = Self;
    fn into_input(self) -> Self {
        self
    }
}
