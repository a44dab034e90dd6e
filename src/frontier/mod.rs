//! The frontier of a crawl that follows links, sans-IO: seeds and
//! discovered URLs in, the next URL to fetch out. No socket, no clock, no
//! file: the driver feeds it links (extracted off the loop) and pulls work
//! from it as admission has room.
//!
//! What it decides, in order, for each URL offered:
//! 1. **canonical form** ([`canonical`]): the URL parser's normal form
//!    (lower-case scheme and host, no default port, no fragment), dot
//!    segments resolved, percent-escapes normalized as the robots.txt
//!    matcher does (unreserved characters decoded, the rest upper-case hex);
//! 2. **trap guards**: a URL over 2,048 bytes, a path deeper than 32
//!    segments, or a segment repeated more than 3 times (`/a/b/a/b/a/b/a`)
//!    is refused, as Heritrix and Nutch refuse them;
//! 3. **scope**: the seeds' hosts (`host`: http and https, any port), their
//!    registrable domains (`domain`), or anything (`any`);
//! 4. **depth** and **budgets**: at most `max_depth` links from a seed, at
//!    most `max_pages` pages queued in all and `max_pages_per_host` per host
//!    (robots.txt and sitemap fetches are not pages: not counted);
//! 5. **seen**: a set of 64-bit fingerprints (the first 8 bytes of the
//!    SHA-1 of the canonical URL), never a Bloom filter: a false positive
//!    there silently drops a page. At a million URLs a 64-bit collision has
//!    odds of about 3 in 100 million.
//!
//! The seen-set is asked first, though: most links of a crawl were seen
//! before, and then a link made a candidate on a worker ([`Candidates`])
//! costs the loop's thread one probe, its text never read. A URL seen
//! before is [`Admit::Seen`] whatever the other rules would say of it.
//!
//! ```
//! use oneloop::frontier::{Admit, Frontier, FrontierConfig};
//! let mut f = Frontier::new(FrontierConfig::default());
//! assert_eq!(f.handle_seed("http://a.test/", None), Admit::Queued);
//! assert_eq!(f.handle_discovered("http://A.test:80/x/../b#top", 0, 1), Admit::Queued);
//! assert_eq!(f.handle_discovered("http://a.test/b", 0, 1), Admit::Seen);
//! assert_eq!(f.handle_discovered("http://elsewhere.test/", 0, 1), Admit::OutOfScope);
//! let next: Vec<String> = std::iter::from_fn(|| f.poll_next()).map(|d| d.url.into_string()).collect();
//! assert_eq!(next, ["http://a.test/", "http://a.test/b"]);
//! ```

mod candidates;
mod pending;
mod seen;
#[cfg(test)]
mod tests;

pub use candidates::{Candidate, Candidates};
pub use seen::SeenSet;

use candidates::Shape;

use crate::url::{Url, UrlRef};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// Which discovered URLs a crawl follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scope {
    /// The seeds' host names (http and https, any port): wget's default.
    #[default]
    Host,
    /// The seeds' registrable domains (`www.a.example` and `b.a.example`
    /// are both in `a.example`), by [`registrable_domain`].
    Domain,
    /// Every http(s) URL.
    Any,
}

/// The frontier's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontierConfig {
    pub scope: Scope,
    /// Links followed from a seed (seeds are depth 0); wget's default 5.
    pub max_depth: u32,
    /// URLs queued in all, seeds included (`None`: no budget).
    pub max_pages: Option<u64>,
    /// URLs queued per host (`None`: no limit).
    pub max_pages_per_host: Option<u64>,
    /// Longer URLs are refused (a trap guard).
    pub max_url_len: usize,
    /// Deeper paths are refused (a trap guard).
    pub max_path_segments: usize,
    /// A path segment may appear this often (a trap guard: `/a/b/a/b/...`).
    pub max_segment_repeats: usize,
    /// `Some((i, n))`: this crawl is shard `i` of `n` (by [`Url::shard`]);
    /// links of another shard's origins are [`Admit::Diverted`], not queued.
    pub shard: Option<(u64, u64)>,
    /// Bytes of queued URLs kept in memory; past it the longest queues
    /// spill ([`Frontier::poll_spill`]). `usize::MAX`: never.
    pub max_pending_bytes: usize,
}

impl Default for FrontierConfig {
    fn default() -> FrontierConfig {
        FrontierConfig {
            scope: Scope::Host,
            max_depth: 5,
            max_pages: None,
            max_pages_per_host: None,
            max_url_len: 2048,
            max_path_segments: 32,
            max_segment_repeats: 3,
            shard: None,
            max_pending_bytes: usize::MAX,
        }
    }
}

/// What the frontier did with a URL offered to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Queued: [`Frontier::poll_next`] will hand it out.
    Queued,
    /// Already seen (queued or fetched before).
    Seen,
    /// Not a fetchable http(s) URL.
    Invalid,
    /// Outside the crawl's scope.
    OutOfScope,
    /// Deeper than `max_depth`.
    TooDeep,
    /// Refused by a trap guard (length, path depth, repeated segments).
    Trap,
    /// The page budget (all, or its host's) is spent.
    OverBudget,
    /// Another shard's: the caller hands it over (once: it is seen now).
    Diverted(u64),
}

pub use crate::outcome::UrlKind;

/// A URL to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// The canonical URL.
    pub url: Url,
    /// Links from a seed (0 for a seed).
    pub depth: u32,
    /// The id of the page that linked to it (`None` for a seed).
    pub from: Option<u64>,
    /// A seed's input line.
    pub line: Option<u64>,
    /// Why it is fetched.
    pub kind: UrlKind,
}

/// The frontier: scope, budgets, the seen-set and the pending queue.
pub struct Frontier {
    config: FrontierConfig,
    seen: SeenSet,
    pending: pending::Pending,
    /// Hosts (or registrable domains) in scope.
    scope: HashSet<String>,
    /// The same keys, shared with the requests' redirect test
    /// ([`redirect_scope`](Self::redirect_scope)): the request core follows
    /// redirects itself, on the loop's thread, and asks this copy (written
    /// only when the scope widens, a seed at a time).
    shared_scope: Arc<RwLock<HashSet<String>>>,
    /// The test over `shared_scope`, made once (each request carries a
    /// clone: a reference count, no allocation).
    redirect_scope: Option<crate::outcome::RedirectScope>,
    queued: u64,
    per_host: HashMap<String, u64>,
}

impl Frontier {
    pub fn new(config: FrontierConfig) -> Frontier {
        let bound = config.max_pending_bytes;
        Frontier {
            config,
            seen: SeenSet::default(),
            pending: pending::Pending::with_bound(bound),
            scope: HashSet::new(),
            shared_scope: Arc::default(),
            redirect_scope: None,
            queued: 0,
            per_host: HashMap::new(),
        }
    }

    /// A seed: its host (or domain) joins the scope, and it is queued at
    /// depth 0 unless seen already.
    pub fn handle_seed(&mut self, url: &str, line: Option<u64>) -> Admit {
        let Some(url) = canonical(url) else {
            return Admit::Invalid;
        };
        self.widen_scope(&url);
        self.offer(Discovered {
            url,
            depth: 0,
            from: None,
            line,
            kind: UrlKind::Page,
        })
    }

    /// `url`'s host (or domain) joins the scope.
    fn widen_scope(&mut self, url: &Url) {
        let key = self.scope_key(url);
        if !self.scope.contains(key) {
            if let Ok(mut shared) = self.shared_scope.write() {
                shared.insert(key.to_string());
            }
            self.scope.insert(key.to_string());
        }
    }

    /// The test a request's redirects must pass: the crawl's scope, as it
    /// is when the redirect comes (`None` for scope `any`).
    pub fn redirect_scope(&mut self) -> Option<crate::outcome::RedirectScope> {
        let kind = self.config.scope;
        if kind == Scope::Any {
            return None;
        }
        let keys = &self.shared_scope;
        let scope = self.redirect_scope.get_or_insert_with(|| {
            let keys = keys.clone();
            crate::outcome::RedirectScope::new(move |url: &Url| {
                let key = scope_key(kind, url.view());
                keys.read().is_ok_and(|k| k.contains(key))
            })
        });
        Some(scope.clone())
    }

    /// Is this canonical URL's host (or domain) in scope?
    fn is_in_scope(&self, url: UrlRef<'_>) -> bool {
        self.config.scope == Scope::Any || self.scope.contains(scope_key(self.config.scope, url))
    }

    /// A link found on page `from` (at `from_depth`); `url` is absolute
    /// (resolved against the page's URL and `<base>` by the extractor).
    pub fn handle_discovered(&mut self, url: &str, from_depth: u32, from: u64) -> Admit {
        Candidates::of(&[url])
            .iter()
            .next()
            .map_or(Admit::Invalid, |c| {
                self.handle_candidate(c, from_depth, from)
            })
    }

    /// A link found on page `from` (at `from_depth`), made canonical
    /// already ([`Candidates::push`], on the worker that found it).
    pub fn handle_candidate(&mut self, c: Candidate<'_>, from_depth: u32, from: u64) -> Admit {
        // Most links of a crawl were seen before: asked first, they cost
        // one probe and their text is never read.
        if self.seen.contains(c.print()) {
            return Admit::Seen;
        }
        if !self.is_in_scope(c.url()) {
            return Admit::OutOfScope;
        }
        let depth = from_depth.saturating_add(1);
        if depth > self.config.max_depth {
            return Admit::TooDeep;
        }
        let why = Why {
            depth,
            from: Some(from),
            line: None,
            kind: UrlKind::Page,
        };
        self.offer_candidate(c, why)
    }

    /// Starts loading the seen-set's slot for `print` into the cache: a
    /// page's links are prefetched together, then offered, so their cache
    /// misses overlap instead of adding up (the probe of a table of a
    /// million URLs is a miss, and it was 90 % of the time spent here).
    pub fn prefetch(&self, print: u64) {
        self.seen.prefetch(print);
    }

    /// Another shard's URL: diverted the first time, seen after.
    fn divert_printed(&mut self, url: UrlRef<'_>, print: u64) -> Option<Admit> {
        let (me, n) = self.config.shard?;
        let owner = url.shard(n);
        if owner == me {
            return None;
        }
        Some(if self.seen.insert(print) {
            Admit::Diverted(owner)
        } else {
            Admit::Seen
        })
    }

    /// A seed of another shard: its host (or domain) is in scope here too
    /// (links to it are diverted to its shard, not dropped).
    pub fn add_scope(&mut self, url: &str) {
        self.add_scope_of(url);
    }

    /// `url`'s host (or domain) joins the scope; true if it was not in it.
    pub fn add_scope_of(&mut self, url: &str) -> bool {
        match canonical(url) {
            Some(url) if !self.is_in_scope(url.view()) => {
                self.widen_scope(&url);
                true
            }
            _ => false,
        }
    }

    /// A robots.txt or a sitemap to read (from a seed's origin, a
    /// robots.txt's `Sitemap:` line, a sitemap index): in scope and unseen
    /// like any URL, but not a step deeper: a page a sitemap lists is one
    /// step below the sitemap's `depth`.
    pub fn handle_source(
        &mut self,
        url: &str,
        depth: u32,
        from: Option<u64>,
        kind: UrlKind,
    ) -> Admit {
        Candidates::of(&[url])
            .iter()
            .next()
            .map_or(Admit::Invalid, |c| {
                self.handle_source_candidate(c, depth, from, kind)
            })
    }

    /// [`handle_source`](Self::handle_source) for a URL made canonical
    /// already.
    pub fn handle_source_candidate(
        &mut self,
        c: Candidate<'_>,
        depth: u32,
        from: Option<u64>,
        kind: UrlKind,
    ) -> Admit {
        if self.seen.contains(c.print()) {
            return Admit::Seen;
        }
        if !self.is_in_scope(c.url()) {
            return Admit::OutOfScope;
        }
        let why = Why {
            depth,
            from,
            line: None,
            kind,
        };
        self.offer_candidate(c, why)
    }

    /// Marks a URL seen without queueing it (a resumed crawl's finished
    /// pages, another shard's URLs). True if it was new.
    pub fn mark_seen(&mut self, url: &str) -> bool {
        canonical(url).is_some_and(|u| self.seen.insert(fingerprint(u.as_str())))
    }

    /// A URL a checkpoint says was queued and not finished (a crawl
    /// resumed from its state): queued again as it was, counted against the
    /// budgets, no scope or depth check (they passed when it was queued).
    /// False if it is not a URL or was restored already.
    pub fn restore(
        &mut self,
        url: &str,
        depth: u32,
        from: Option<u64>,
        line: Option<u64>,
        kind: UrlKind,
    ) -> bool {
        let Some(url) = canonical(url) else {
            return false;
        };
        if !self.seen.insert(fingerprint(url.as_str())) {
            return false;
        }
        let why = Why {
            depth,
            from,
            line,
            kind,
        };
        self.enqueue(url.view(), why);
        true
    }

    /// The next URL to fetch: origins in turn (round robin, so a host with
    /// a million links waiting does not starve the others), each origin's
    /// oldest first (breadth-first within it).
    #[must_use]
    pub fn poll_next(&mut self) -> Option<Discovered> {
        self.pending.pop()
    }

    /// [`poll_next`](Self::poll_next) with the URL left as the canonical
    /// string it was queued as (depth, from, line, kind, URL): for the
    /// follow core, whose request core parses it anyway.
    pub(crate) fn poll_next_unparsed(&mut self) -> Option<pending::Entry> {
        self.pending.pop_entry()
    }

    /// A batch of queued URLs to keep outside memory (its id and opaque
    /// bytes): the driver writes it somewhere and gives it back when
    /// [`poll_load`](Self::poll_load) asks.
    #[must_use]
    pub fn poll_spill(&mut self) -> Option<(u64, Vec<u8>)> {
        self.pending.poll_spill()
    }

    /// A spilled batch whose host is next: read it, then
    /// [`handle_loaded`](Self::handle_loaded). Until then
    /// [`poll_next`](Self::poll_next) serves the other hosts (or nothing).
    #[must_use]
    pub fn poll_load(&mut self) -> Option<u64> {
        self.pending.poll_load()
    }

    /// A spilled batch read back.
    pub fn handle_loaded(&mut self, id: u64, bytes: Vec<u8>) {
        self.pending.handle_loaded(id, bytes);
    }

    /// Batches spilled so far.
    pub fn spilled(&self) -> u64 {
        self.pending.spilled()
    }

    /// Bytes of queued URLs held in memory.
    pub fn pending_mem_bytes(&self) -> usize {
        self.pending.mem_bytes()
    }

    /// The rules it was made with.
    pub fn config(&self) -> &FrontierConfig {
        &self.config
    }

    /// URLs seen so far (queued, fetched, or marked).
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }

    /// URLs waiting in the queue.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Bytes the seen-set holds per URL (its table over its entries).
    pub fn seen_bytes_per_url(&self) -> f64 {
        self.seen.bytes() as f64 / self.seen.len().max(1) as f64
    }

    fn scope_key<'u>(&self, url: &'u Url) -> &'u str {
        scope_key(self.config.scope, url.view())
    }

    /// Seen, trap guards, another shard's, budgets; then queued.
    fn offer(&mut self, d: Discovered) -> Admit {
        let why = Why::of(&d);
        let print = fingerprint(d.url.as_str());
        let shape = Shape::of(d.url.path_and_query());
        self.offer_printed(d.url.view(), print, shape, why)
    }

    /// [`offer`](Self::offer) for a candidate (made canonical,
    /// fingerprinted and measured on a worker) not seen before.
    fn offer_candidate(&mut self, c: Candidate<'_>, why: Why) -> Admit {
        self.offer_unseen(c.url(), c.print(), c.shape(), why)
    }

    /// [`offer`](Self::offer) with the fingerprint and trap shape known:
    /// nothing is allocated unless it is queued.
    fn offer_printed(&mut self, url: UrlRef<'_>, print: u64, shape: Shape, why: Why) -> Admit {
        if self.seen.contains(print) {
            return Admit::Seen;
        }
        self.offer_unseen(url, print, shape, why)
    }

    /// [`offer_printed`](Self::offer_printed) for a URL known not to be
    /// seen: trap guards, another shard's, budgets; then queued.
    fn offer_unseen(&mut self, url: UrlRef<'_>, print: u64, shape: Shape, why: Why) -> Admit {
        if is_trap(url, shape, &self.config) {
            return Admit::Trap;
        }
        if let Some(admit) = self.divert_printed(url, print) {
            return admit;
        }
        // The budgets count pages: a robots.txt or a sitemap read for its
        // links is not one of the pages asked for.
        if why.kind == UrlKind::Page {
            if self.config.max_pages.is_some_and(|m| self.queued >= m) {
                return Admit::OverBudget;
            }
            let host_count = self.per_host.get(url.host_bare()).copied().unwrap_or(0);
            if self
                .config
                .max_pages_per_host
                .is_some_and(|m| host_count >= m)
            {
                return Admit::OverBudget;
            }
        }
        self.seen.insert(print);
        self.enqueue(url, why);
        Admit::Queued
    }

    /// Into the queue, counted against the budgets (already seen).
    fn enqueue(&mut self, url: UrlRef<'_>, why: Why) {
        if why.kind == UrlKind::Page {
            self.queued += 1;
            if self.config.max_pages_per_host.is_some() {
                *self
                    .per_host
                    .entry(url.host_bare().to_string())
                    .or_insert(0) += 1;
            }
        }
        self.pending.push_parts(url, why);
    }
}

/// Why a URL is queued: what rides with it to its request ([`Discovered`]
/// without the URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Why {
    depth: u32,
    from: Option<u64>,
    line: Option<u64>,
    kind: UrlKind,
}

impl Why {
    /// What rides with `d`.
    fn of(d: &Discovered) -> Why {
        Why {
            depth: d.depth,
            from: d.from,
            line: d.line,
            kind: d.kind,
        }
    }
}

/// What scope `kind` compares of a URL: its host, or its registrable
/// domain.
fn scope_key(kind: Scope, url: UrlRef<'_>) -> &str {
    match kind {
        Scope::Domain => registrable_domain(url.host_bare()),
        Scope::Host | Scope::Any => url.host_bare(),
    }
}

/// The canonical form of an absolute http(s) URL (see the module's
/// documentation), or `None` if it is not one.
pub fn canonical(url: &str) -> Option<Url> {
    let parsed = Url::parse(url).ok()?;
    let pq = parsed.path_and_query();
    let (path, query) = match pq.find('?') {
        Some(i) => (&pq[..i], &pq[i..]),
        None => (pq, ""),
    };
    let has_dots = path.split('/').any(|s| s == "." || s == "..");
    let has_escapes = pq.contains('%');
    if !has_dots && !has_escapes {
        return Some(parsed);
    }
    let path = if has_dots {
        crate::url::remove_dot_segments(path)
    } else {
        path.to_string()
    };
    let path = crate::robots::normalise(path.as_bytes());
    let query = crate::robots::normalise(query.as_bytes());
    let mut s = String::with_capacity(url.len());
    s.push_str(parsed.origin());
    s.push_str(std::str::from_utf8(&path).ok()?);
    s.push_str(std::str::from_utf8(&query).ok()?);
    Url::parse_owned(s).ok()
}

/// The seen-set's key: the first 8 bytes of the SHA-1 of the canonical
/// URL (stable across runs and versions, so checkpoints stay valid).
pub fn fingerprint(canonical_url: &str) -> u64 {
    let mut h = crate::sha1::Sha1::new();
    h.update(canonical_url.as_bytes());
    let d = h.finish();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The trap guards: too long, too deep, a segment repeated too often.
fn is_trap(url: UrlRef<'_>, shape: Shape, config: &FrontierConfig) -> bool {
    url.as_str().len() > config.max_url_len
        || shape.is_trap(
            url.path_and_query(),
            config.max_path_segments,
            config.max_segment_repeats,
        )
}

/// The registrable domain of a host name: its last two labels, or three
/// when the last two are a public suffix of their own in this small
/// built-in list (the common second-level registries: `co.uk`, `com.au`,
/// ...). A deliberate approximation: the full Public Suffix List is ~10,000
/// rules and changes monthly; a crawl that needs it exactly can use
/// `host` scope with several seeds. An IP address is its own domain.
pub fn registrable_domain(host: &str) -> &str {
    const TWO_LABEL_SUFFIXES: &[&str] = &[
        "co.uk",
        "org.uk",
        "ac.uk",
        "gov.uk",
        "me.uk",
        "ltd.uk",
        "plc.uk",
        "net.uk",
        "com.au",
        "net.au",
        "org.au",
        "edu.au",
        "gov.au",
        "co.nz",
        "org.nz",
        "govt.nz",
        "co.jp",
        "ne.jp",
        "or.jp",
        "ac.jp",
        "go.jp",
        "co.kr",
        "or.kr",
        "com.br",
        "net.br",
        "org.br",
        "gov.br",
        "com.cn",
        "net.cn",
        "org.cn",
        "gov.cn",
        "edu.cn",
        "co.in",
        "net.in",
        "org.in",
        "gov.in",
        "ac.in",
        "co.za",
        "org.za",
        "gov.za",
        "com.mx",
        "org.mx",
        "gob.mx",
        "com.tr",
        "org.tr",
        "gov.tr",
        "com.ar",
        "com.sg",
        "edu.sg",
        "gov.sg",
        "com.hk",
        "org.hk",
        "com.tw",
        "org.tw",
        "co.il",
        "org.il",
        "ac.il",
        "com.ua",
        "co.id",
        "or.id",
        "ac.id",
        "go.id",
        "com.my",
        "com.ph",
        "com.pk",
        "com.sa",
        "com.eg",
        "com.ng",
        "co.ke",
        "co.th",
        "ac.th",
        "in.th",
        "com.vn",
        "github.io",
        "blogspot.com",
        "herokuapp.com",
        "appspot.com",
    ];
    let host = host.trim_end_matches('.');
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    let dots: Vec<usize> = host.match_indices('.').map(|(i, _)| i).collect();
    if dots.len() < 2 {
        return host;
    }
    let last_two = &host[dots[dots.len() - 2] + 1..];
    if TWO_LABEL_SUFFIXES.contains(&last_two) {
        return match dots.len() {
            2 => host,
            n => &host[dots[n - 3] + 1..],
        };
    }
    last_two
}
