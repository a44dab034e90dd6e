//! `crawl --follow`: the input lines are seeds, and the links of every
//! fetched HTML page are crawled too (in scope, unseen, not too deep).
//!
//! Three parties share the frontier (`oneloop::frontier`, sans-IO):
//! - the loop pulls its next request from [`FollowInput`]: a URL the
//!   frontier queued, else the next seed line;
//! - the workers extract each page's links (`oneloop::links`, off the
//!   loop) and offer them to the frontier ([`Follow::page_done`]);
//! - the crawl is over when the seeds are read, nothing is queued, and no
//!   page handed out is still waiting for its links: then the input says
//!   `Done`. Until then an empty frontier is `Pending`, and the worker that
//!   queues the next link (or finishes the last page) wakes the loop.

use oneloop::frontier::{Admit, Frontier, UrlKind};
use oneloop::input::{Input, InputThread, IntoInput, Pull};
use oneloop::{Outcome, Request};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// `--follow`: the frontier (restored from `--state` if given), the crawl
/// from `seeds`, the checkpoint synced at the end. Err: the state could not
/// be opened.
pub(crate) fn crawl_following(
    crawler: &mut oneloop::Crawler,
    seeds: InputThread,
    o: &crate::args::Options,
    rep: &mut crate::report::Reporter,
) -> Result<Result<oneloop::Summary, oneloop::Error>, String> {
    let config = oneloop::frontier::FrontierConfig {
        shard: o.shard,
        max_pending_bytes: o.max_frontier_memory,
        ..o.frontier.clone()
    };
    let mut frontier = Frontier::new(config);
    let log = match o.state.as_deref() {
        Some(dir) => {
            let (log, r) = crate::state::StateLog::open(dir, &mut frontier)
                .map_err(|e| format!("--state {dir}: {e}"))?;
            if r.run > 1 {
                let (run, done, again) = (r.run, r.finished, r.requeued);
                errln!(
                    "state: run {run} of {dir}: {done} URLs finished before, {again} queued again"
                );
            }
            Some((log, r.run))
        }
        None => None,
    };
    let shared = Follow::new(frontier, o.sitemaps, log);
    let spiller = crate::spill::Spiller::start(shared.clone());
    let input = FollowInput::new(seeds, shared.clone());
    let summary = crate::page::crawl_pages(crawler, input, o, rep, Some(shared.clone()));
    drop(spiller);
    if let Err(e) = shared.sync() {
        errln!("oneloop: --state: {e}");
    }
    let (seen, bytes, spilled) = shared.seen();
    errln!("follow: {seen} URLs seen, {bytes:.1} bytes per seen URL in the seen-set, {spilled} queue batches spilled to disk");
    Ok(summary)
}

/// Where a request came from, for its JSON line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Origin {
    pub depth: u32,
    pub from: Option<u64>,
    pub kind: UrlKind,
}

struct State {
    frontier: Frontier,
    /// Requests handed to the loop whose pages the workers have not
    /// finished (their links may still come).
    in_progress: u64,
    next_id: u64,
    origins: HashMap<u64, Origin>,
    /// The loop found nothing to do and waits to be woken.
    hungry: bool,
    waker: Option<Arc<mio::Waker>>,
}

impl State {
    /// The loop waits for work (its input said `Pending`): wake it to look
    /// again.
    fn wake_if_hungry(&mut self) {
        if std::mem::take(&mut self.hungry) {
            if let Some(w) = &self.waker {
                let _ = w.wake();
            }
        }
    }
}

/// The frontier, shared by the loop's input and the workers.
pub struct Follow {
    state: Mutex<State>,
    /// Signals the spill thread (`spill.rs`) that the frontier has batches
    /// to write or read.
    spill_signal: std::sync::Condvar,
    /// `--state DIR`: the checkpoint every queued and finished URL goes to.
    log: Option<Arc<crate::state::StateLog>>,
    /// `--sitemaps`: each seed origin's robots.txt and /sitemap.xml too.
    sitemaps: bool,
    /// `--shard I/N`: this crawl's shard.
    shard: Option<(u64, u64)>,
}

/// What a page contributed.
pub struct PageLinks {
    pub origin: Option<Origin>,
    /// Links it queued (new, in scope, not too deep).
    pub queued: u64,
    /// To be marked finished in the checkpoint once its line is written.
    pub finished: bool,
}

impl Follow {
    /// `log`: the checkpoint and this run's number (ids are
    /// `run * 2^40 + n`, unique across resumed runs).
    pub fn new(
        frontier: Frontier,
        sitemaps: bool,
        log: Option<(Arc<crate::state::StateLog>, u64)>,
    ) -> Arc<Follow> {
        let first_id = log.as_ref().map_or(1, |(_, run)| (run << 40) + 1);
        let shard = frontier.config().shard;
        Arc::new(Follow {
            spill_signal: std::sync::Condvar::new(),
            sitemaps,
            shard,
            log: log.map(|(l, _)| l),
            state: Mutex::new(State {
                frontier,
                in_progress: 0,
                next_id: first_id,
                origins: HashMap::new(),
                hungry: false,
                waker: None,
            }),
        })
    }

    /// A page's outcome, on a worker: its links offered to the frontier
    /// (an HTML 2xx page only), its redirect targets marked seen.
    pub fn page_done(&self, o: &Outcome) -> PageLinks {
        let kind = self.kind_of(o.id);
        // Parsed before taking the lock: the other workers go on.
        // A panic in a parser must not leave the page in progress forever
        // (the crawl would never end): its links are then none.
        let found = match &o.result {
            Ok(r) if (200..300).contains(&r.status) => {
                let parse = std::panic::AssertUnwindSafe(|| found_in(o, r, kind));
                std::panic::catch_unwind(parse).unwrap_or_default()
            }
            _ => Found::default(),
        };
        let Ok(mut st) = self.state.lock() else {
            return PageLinks {
                origin: None,
                queued: 0,
                finished: false,
            };
        };
        // A redirect's targets were fetched: they count as seen.
        for hop in &o.redirects {
            st.frontier.mark_seen(hop);
        }
        let origin = st.origins.remove(&o.id);
        let depth = origin.map_or(0, |x| x.depth);
        let mut queued = 0;
        for link in &found.pages {
            match st.frontier.handle_discovered(link, depth, o.id) {
                Admit::Queued => {
                    queued += 1;
                    self.logged(link, depth + 1, Some(o.id), UrlKind::Page, None);
                }
                Admit::Diverted(shard) => self.diverted(shard, link),
                _ => {}
            }
        }
        for sitemap in &found.sitemaps {
            let kind = UrlKind::Sitemap;
            match st.frontier.handle_source(sitemap, depth, Some(o.id), kind) {
                Admit::Queued => {
                    queued += 1;
                    self.logged(sitemap, depth, Some(o.id), kind, None);
                }
                Admit::Diverted(shard) => self.diverted(shard, sitemap),
                _ => {}
            }
        }
        // Finished (its links logged before it): once its output line is
        // written, not fetched again after a crash. A request cut short by
        // Ctrl-C is fetched again.
        let cancelled = o
            .result
            .as_ref()
            .is_err_and(|e| e.kind == oneloop::ErrorKind::Cancelled);
        let finished = self.log.is_some() && origin.is_some() && !cancelled;
        if origin.is_some() {
            st.in_progress -= 1;
        }
        let over = st.in_progress == 0;
        if st.frontier.pending_len() > 0 || over {
            st.wake_if_hungry();
        }
        drop(st);
        if queued > 0 {
            self.spill_signal.notify_one();
        }
        if let Some(log) = &self.log {
            log.tick();
        }
        PageLinks {
            origin,
            queued,
            finished,
        }
    }

    /// For the spill thread: batches to write, batches to read.
    pub fn spill_work(&self) -> (Vec<(u64, Vec<u8>)>, Vec<u64>) {
        let Ok(mut st) = self.state.lock() else {
            return (Vec::new(), Vec::new());
        };
        let spills = std::iter::from_fn(|| st.frontier.poll_spill()).collect();
        let loads = std::iter::from_fn(|| st.frontier.poll_load()).collect();
        (spills, loads)
    }

    /// For the spill thread: sleep until signalled or `most` passed.
    pub fn wait_for_spill_work(&self, most: std::time::Duration) {
        if let Ok(st) = self.state.lock() {
            let _ = self.spill_signal.wait_timeout(st, most);
        }
    }

    /// For the spill thread: batches read back; the loop is woken if it
    /// waits for them.
    pub fn loaded(&self, batches: Vec<(u64, Vec<u8>)>) {
        if batches.is_empty() {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        for (id, bytes) in batches {
            st.frontier.handle_loaded(id, bytes);
        }
        st.wake_if_hungry();
    }

    /// A page whose work panicked: no longer in progress.
    pub fn abandon(&self, id: u64) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.origins.remove(&id).is_some() {
            st.in_progress -= 1;
            st.wake_if_hungry();
        }
    }

    /// A URL the frontier queued, into the checkpoint.
    fn logged(&self, url: &str, depth: u32, from: Option<u64>, kind: UrlKind, line: Option<u64>) {
        if let Some(log) = &self.log {
            log.queued(url, depth, from, kind, line);
        }
    }

    /// Another shard's URL, to its divert file.
    fn diverted(&self, shard: u64, url: &str) {
        if let Some(log) = &self.log {
            log.divert(shard, url);
        }
    }

    /// The checkpoint to disk, synced (at the end of a run).
    pub fn sync(&self) -> std::io::Result<()> {
        self.log.as_ref().map_or(Ok(()), |l| l.flush(true))
    }

    fn kind_of(&self, id: u64) -> UrlKind {
        self.state
            .lock()
            .ok()
            .and_then(|st| st.origins.get(&id).map(|o| o.kind))
            .unwrap_or_default()
    }

    /// URLs seen, the seen-set's bytes per URL, and the queue's batches
    /// spilled, for the summary.
    pub fn seen(&self) -> (usize, f64, u64) {
        self.state.lock().map_or((0, 0.0, 0), |st| {
            let f = &st.frontier;
            (f.seen_len(), f.seen_bytes_per_url(), f.spilled())
        })
    }
}

/// The loop's input in a following crawl: the frontier first, then seeds.
pub struct FollowInput {
    seeds: InputThread,
    seeds_done: bool,
    follow: Arc<Follow>,
}

impl FollowInput {
    pub fn new(seeds: InputThread, follow: Arc<Follow>) -> FollowInput {
        FollowInput {
            seeds,
            seeds_done: false,
            follow,
        }
    }

    /// The next queued URL as a request, if any.
    fn next_queued(&self) -> Option<Request> {
        let mut st = self.follow.state.lock().ok()?;
        hand_out(&mut st)
    }
}

/// The frontier's next URL as a request (its id, and its origin noted).
fn hand_out(st: &mut State) -> Option<Request> {
    {
        let d = st.frontier.poll_next()?;
        let id = st.next_id;
        st.next_id += 1;
        st.in_progress += 1;
        let origin = Origin {
            depth: d.depth,
            from: d.from,
            kind: d.kind,
        };
        st.origins.insert(id, origin);
        Some(Request {
            url: d.url.into_string(),
            id: Some(id),
            line: d.line,
            ..Request::default()
        })
    }
}

impl IntoInput for FollowInput {
    type Input = FollowInput;
    fn into_input(self) -> FollowInput {
        self
    }
}

impl Input for FollowInput {
    fn attach(&mut self, waker: Arc<mio::Waker>) -> Result<(), oneloop::Error> {
        if let Ok(mut st) = self.follow.state.lock() {
            st.waker = Some(waker.clone());
        }
        self.seeds.attach(waker)
    }

    fn pull(&mut self) -> Pull {
        loop {
            if let Some(req) = self.next_queued() {
                return Pull::Item(req);
            }
            if !self.seeds_done {
                match self.seeds.pull() {
                    Pull::Item(seed) => match self.take_seed(seed) {
                        Some(invalid) => return Pull::Item(invalid),
                        None => continue,
                    },
                    Pull::Pending => {}
                    Pull::Done => {
                        self.seeds_done = true;
                        continue;
                    }
                }
            }
            let Ok(mut st) = self.follow.state.lock() else {
                return Pull::Done;
            };
            // A worker may have queued one since the look above.
            if let Some(req) = hand_out(&mut st) {
                return Pull::Item(req);
            }
            // Nothing in memory: over, or waiting (for pages still being
            // read for links, or for a spilled batch to be read back).
            if self.seeds_done && st.in_progress == 0 && st.frontier.pending_len() == 0 {
                return Pull::Done;
            }
            st.hungry = true;
            // Maybe a spilled batch is what stands between us and the
            // next URL: the spill thread reads it and wakes the loop.
            self.follow.spill_signal.notify_one();
            return Pull::Pending;
        }
    }
}

impl FollowInput {
    /// A seed line: into the frontier (its host joins the scope). A line
    /// that is not a URL is queued as it is, to end as its own outcome.
    fn take_seed(&mut self, seed: Request) -> Option<Request> {
        let mut st = self.follow.state.lock().ok()?;
        if let (Some((me, n)), None) = (self.follow.shard, &seed.error) {
            let owner = oneloop::url::Url::parse(&seed.url).map_or(0, |u| u.shard(n));
            if owner != me {
                // Another shard's seed: not fetched here, but its host is in
                // scope (links to it are diverted, not dropped).
                st.frontier.add_scope(&seed.url);
                return None;
            }
        }
        let admit = if seed.error.is_none() {
            st.frontier.handle_seed(&seed.url, seed.line)
        } else {
            Admit::Invalid
        };
        if admit == Admit::Queued {
            self.follow
                .logged(&seed.url, 0, None, UrlKind::Page, seed.line);
        }
        if admit != Admit::Invalid {
            if self.follow.sitemaps {
                // Its origin's robots.txt (for `Sitemap:` lines) and the
                // sitemap's usual place (seen already for a second seed of
                // the same origin).
                if let Ok(url) = oneloop::url::Url::parse(&seed.url) {
                    let origin = url.origin();
                    let sources = [
                        ("robots.txt", UrlKind::Robots),
                        ("sitemap.xml", UrlKind::Sitemap),
                    ];
                    for (path, kind) in sources {
                        let url = format!("{origin}/{path}");
                        if st.frontier.handle_source(&url, 0, None, kind) == Admit::Queued {
                            self.follow.logged(&url, 0, None, kind, None);
                        }
                    }
                }
            }
            return None; // queued, or a seed seen already (not fetched twice)
        }
        // Not fetchable: the library makes its error outcome.
        let id = st.next_id;
        st.next_id += 1;
        st.in_progress += 1;
        st.origins.insert(id, Origin::default());
        Some(Request {
            id: Some(id),
            ..seed
        })
    }
}

/// What a fetched page, robots.txt or sitemap points to.
#[derive(Default)]
struct Found {
    /// Pages (links of a page, the URLs of a `urlset`).
    pages: Vec<String>,
    /// Sitemaps (`Sitemap:` lines, the entries of a sitemap index).
    sitemaps: Vec<String>,
}

fn found_in(o: &Outcome, r: &oneloop::http::Response, kind: UrlKind) -> Found {
    match kind {
        UrlKind::Page => {
            let html = oneloop::links::is_html(r.headers.get_str("content-type"));
            let base = oneloop::url::Url::parse(o.final_url()).ok();
            let pages = match (html, base) {
                (true, Some(base)) => oneloop::links::extract(&base, &r.body).urls,
                _ => Vec::new(),
            };
            Found {
                pages,
                sitemaps: Vec::new(),
            }
        }
        UrlKind::Robots => Found {
            pages: Vec::new(),
            sitemaps: oneloop::sitemap::robots_sitemaps(&r.body),
        },
        UrlKind::Sitemap => {
            let s = oneloop::sitemap::parse(&r.body);
            match s.kind {
                oneloop::sitemap::Kind::Pages => Found {
                    pages: s.urls,
                    sitemaps: Vec::new(),
                },
                oneloop::sitemap::Kind::Sitemaps => Found {
                    pages: Vec::new(),
                    sitemaps: s.urls,
                },
            }
        }
    }
}
