//! The robots.txt gate: what each origin's robots.txt says, and who waits
//! for it. A sans-IO core like the matcher: it never fetches anything. The
//! request core asks `Gate::check` for every request; the first request of
//! an origin makes it answer `Check::Fetch` (the caller queues the fetch of
//! `/robots.txt`), later ones `Check::Wait` until the answer is handed in
//! with `Gate::handle_fetched`, which returns the waiters to check again.
//!
//! RFC 9309 §2.3.1 decides what an answer means: 2xx → its rules; 4xx →
//! everything allowed, except 429 (see below); 5xx, too many redirects and
//! other errors → everything disallowed (`robots: unavailable`), except that
//! an origin that cannot be reached at all (DNS failure, connection refused,
//! reset or timed out, a TLS failure) gives its URLs that error, which says
//! more. `429 Too Many Requests` is treated like a 5xx, as Google does: the
//! fetch is retried with backoff like any 429, and if the server still says
//! 429, the origin is unavailable (the RFC's 4xx rule would read "slow down"
//! as "crawl everything").
//!
//! The gate's memory is bounded: decided origins are kept in least recently
//! used order within a byte budget (their compiled rules and keys); past it
//! the oldest are forgotten, and an origin needed again is fetched again. A
//! decision is also forgotten after its lifetime (RFC 9309 §2.4: 24 hours).

use super::Robots;
use crate::error::{Error, ErrorKind, Phase};
use crate::http::Response;
use crate::url::Url;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What one origin's robots.txt says so far. Small on purpose (the common
/// answers, "no file" and "everything allowed", hold nothing): a broad
/// crawl keeps one per origin.
enum Origin<W> {
    /// Being fetched; these wait for it.
    Fetching(Vec<W>),
    /// Everything allowed (a 4xx, or a file without rules for us).
    AllowAll,
    /// Everything disallowed (the file was unavailable).
    DenyAll,
    /// These rules (boxed: most origins have none).
    Known(Box<Robots>),
    /// The origin cannot be reached: its requests end with this error.
    Unreachable(Box<Error>),
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

/// One origin's entry: its state, when it was decided and last used, and
/// the bytes it is counted for.
struct Entry<W> {
    state: Origin<W>,
    decided_at: Option<Instant>,
    used: u64,
    bytes: u32,
}

/// How much the gate holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateStats {
    /// Origins known now (decided or being fetched).
    pub origins: usize,
    /// Bytes they are counted for (rules, keys, entries).
    pub bytes: usize,
    /// The most bytes held at once.
    pub peak_bytes: usize,
    /// Decided origins forgotten to stay within the budget.
    pub evicted: u64,
    /// Decisions forgotten because their lifetime passed.
    pub expired: u64,
}

/// Every origin's robots.txt, and the requests (`W`, a handle of the
/// caller's) that wait for one.
pub(crate) struct Gate<W> {
    origins: HashMap<Box<str>, Entry<W>>,
    /// Requests waiting, over all origins.
    waiting: usize,
    /// A use counter: the least recently used entry has the smallest `used`.
    clock: u64,
    budget: usize,
    lifetime: Duration,
    stats: GateStats,
}

/// What an entry costs besides its rules: the key's bytes and the map's
/// slot (with its control byte and the table's spare room, about 1/8).
fn overhead(key: &str) -> usize {
    let slot = std::mem::size_of::<(Box<str>, Entry<()>)>() + 1;
    key.len() + slot + slot / 8
}

impl<W: PartialEq> Gate<W> {
    /// A gate that keeps decided origins within about `budget` bytes, each
    /// for `lifetime`.
    pub fn new(budget: usize, lifetime: Duration) -> Gate<W> {
        Gate {
            origins: HashMap::new(),
            waiting: 0,
            clock: 0,
            budget,
            lifetime,
            stats: GateStats::default(),
        }
    }

    /// Requests waiting for some robots.txt.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// How much the gate holds.
    pub fn stats(&self) -> GateStats {
        GateStats {
            origins: self.origins.len(),
            ..self.stats
        }
    }

    /// May `url` be fetched at `now`? `waiter` joins its origin's waiting
    /// list when the answer is [`Check::Fetch`] or [`Check::Wait`].
    pub fn check(&mut self, url: &Url, waiter: W, now: Instant) -> Check {
        self.clock += 1;
        let clock = self.clock;
        let lifetime = self.lifetime;
        let expired = match self.origins.get_mut(url.origin()) {
            Some(e)
                if e.decided_at
                    .is_some_and(|t| now.saturating_duration_since(t) >= lifetime) =>
            {
                true
            }
            Some(e) => {
                e.used = clock;
                let check = match &mut e.state {
                    Origin::Fetching(waiting) => {
                        waiting.push(waiter);
                        Check::Wait
                    }
                    origin => return decide(origin, url),
                };
                self.waiting += 1;
                return check;
            }
            None => false,
        };
        if expired {
            self.forget(url.origin());
            self.stats.expired += 1;
        }
        // Once per origin (and fetch): the only allocation of the gate.
        let key: Box<str> = url.origin().into();
        let bytes = overhead(&key);
        self.add_bytes(bytes);
        let bytes = bytes as u32;
        let entry = Entry {
            state: Origin::Fetching(vec![waiter]),
            decided_at: None,
            used: clock,
            bytes,
        };
        self.origins.insert(key, entry);
        self.waiting += 1;
        Check::Fetch
    }

    /// The answer for a request that waited, once its origin is decided.
    pub fn recheck(&self, url: &Url) -> Check {
        match self.origins.get(url.origin()) {
            Some(e) => decide(&e.state, url),
            None => Check::Admit,
        }
    }

    /// A waiter of `origin` left (its deadline passed, the crawl stopped).
    pub fn leave(&mut self, origin: &str, waiter: &W) {
        if let Some(Entry {
            state: Origin::Fetching(waiting),
            ..
        }) = self.origins.get_mut(origin)
        {
            if let Some(i) = waiting.iter().position(|w| w == waiter) {
                waiting.swap_remove(i);
                self.waiting -= 1;
            }
        }
    }

    /// The fetch of `origin`'s robots.txt ended at `now` with `result`: the
    /// origin is decided (rules parsed for `agent`). Returns who waited (to
    /// [`recheck`](Self::recheck)) and the file's `Crawl-delay`, if any.
    pub fn handle_fetched(
        &mut self,
        origin: &str,
        result: Result<&Response, &Error>,
        agent: &str,
        now: Instant,
    ) -> (Vec<W>, Option<Duration>) {
        let decided = rules_for(result, agent);
        let delay = match &decided {
            Origin::Known(rules) => rules.crawl_delay(),
            _ => None,
        };
        let rule_bytes = match &decided {
            Origin::Known(rules) => rules.size(),
            Origin::Unreachable(e) => std::mem::size_of::<Error>() + e.detail.len(),
            _ => 0,
        };
        let Some(entry) = self.origins.get_mut(origin) else {
            return (Vec::new(), delay); // forgotten meanwhile: nobody waits
        };
        let waiting = match std::mem::replace(&mut entry.state, decided) {
            Origin::Fetching(w) => w,
            _ => Vec::new(),
        };
        entry.decided_at = Some(now);
        entry.bytes += rule_bytes as u32;
        self.waiting -= waiting.len();
        self.add_bytes(rule_bytes);
        self.evict_over_budget();
        (waiting, delay)
    }

    fn add_bytes(&mut self, n: usize) {
        self.stats.bytes += n;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.stats.bytes);
    }

    fn forget(&mut self, origin: &str) {
        if let Some(e) = self.origins.remove(origin) {
            self.stats.bytes -= e.bytes as usize;
        }
    }

    /// Over the budget: forgets the least recently used decided origins
    /// until a quarter of the budget is free again (one sort of 16 bytes an
    /// origin, no key copied, so the cost is amortized over the many
    /// insertions until the next time). Origins being fetched are kept:
    /// requests wait on them.
    fn evict_over_budget(&mut self) {
        if self.stats.bytes <= self.budget {
            return;
        }
        let mut decided: Vec<(u64, u32)> = self
            .origins
            .values()
            .filter(|e| e.decided_at.is_some())
            .map(|e| (e.used, e.bytes))
            .collect();
        decided.sort_unstable();
        let mut excess = self.stats.bytes.saturating_sub(self.budget / 4 * 3);
        let mut cutoff = 0;
        for (used, bytes) in decided {
            if excess == 0 {
                break;
            }
            excess = excess.saturating_sub(bytes as usize);
            cutoff = used + 1;
        }
        let (mut freed, mut evicted) = (0, 0);
        self.origins.retain(|_, e| {
            let keep = e.decided_at.is_none() || e.used >= cutoff;
            if !keep {
                freed += e.bytes as usize;
                evicted += 1;
            }
            keep
        });
        self.stats.bytes -= freed;
        self.stats.evicted += evicted;
    }
}

/// RFC 9309 §2.3.1: what a robots.txt answer means.
fn rules_for<W>(result: Result<&Response, &Error>, agent: &str) -> Origin<W> {
    match result {
        Ok(resp) => match resp.status {
            200..=299 => {
                let rules = Robots::parse(&resp.body, agent);
                if rules.is_empty() && rules.crawl_delay().is_none() {
                    Origin::AllowAll
                } else {
                    Origin::Known(Box::new(rules))
                }
            }
            // 429 is "slow down", not "no file": unavailable, like a 5xx.
            429 => Origin::DenyAll,
            400..=499 => Origin::AllowAll,
            _ => Origin::DenyAll,
        },
        Err(e) => {
            // Its own error says more than "unavailable": the origin
            // cannot be reached (DNS, connect, the proxy) or not
            // securely (TLS).
            let unreachable = e.phase == Phase::Dns
                || e.kind == ErrorKind::NotPublic
                || e.phase == Phase::Tls
                || e.phase == Phase::Proxy
                || (e.phase == Phase::Connect
                    && matches!(
                        e.kind,
                        ErrorKind::Refused | ErrorKind::Timeout | ErrorKind::Reset
                    ));
            if unreachable {
                Origin::Unreachable(Box::new(e.clone()))
            } else {
                Origin::DenyAll
            }
        }
    }
}

fn decide<W>(origin: &Origin<W>, url: &Url) -> Check {
    match origin {
        Origin::Fetching(_) => Check::Wait,
        Origin::Unreachable(e) => Check::Deny((**e).clone()),
        Origin::AllowAll => Check::Admit,
        Origin::Known(r) if r.allowed(url.path_and_query()) => Check::Admit,
        _ if url.path_and_query() == "/robots.txt" => Check::Admit,
        Origin::DenyAll => Check::Deny(Error::new(
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

    const HOUR: Duration = Duration::from_secs(3600);

    fn gate() -> Gate<u32> {
        Gate::new(1 << 20, 24 * HOUR)
    }

    #[test]
    fn first_request_fetches_later_ones_wait_then_all_are_decided() {
        let now = Instant::now();
        let mut gate = gate();
        assert!(matches!(
            gate.check(&url("http://a.test/x"), 1, now),
            Check::Fetch
        ));
        assert!(matches!(
            gate.check(&url("http://a.test/private"), 2, now),
            Check::Wait
        ));
        assert_eq!(gate.waiting(), 2);
        let file = ok(200, b"User-agent: *\nDisallow: /private\nCrawl-delay: 2\n");
        let (waiters, delay) = gate.handle_fetched("http://a.test", Ok(&file), "oneloop", now);
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
            gate.check(&url("http://a.test/y"), 3, now),
            Check::Admit
        ));
    }

    #[test]
    fn answers_follow_rfc_9309() {
        let cases: &[(Result<Response, Error>, &str)] = &[
            (Ok(ok(404, b"")), "admit"),
            (Ok(ok(500, b"")), "unavailable"),
            (Ok(ok(429, b"")), "unavailable"),
            (
                Err(Error::new(Phase::Connect, ErrorKind::Refused, "")),
                "connect:refused",
            ),
            (
                Err(Error::new(Phase::Dns, ErrorKind::NxDomain, "")),
                "dns:nxdomain",
            ),
            (
                Err(Error::new(Phase::Tls, ErrorKind::CertificateExpired, "")),
                "tls:certificate_expired",
            ),
            (
                Err(Error::new(Phase::Proxy, ErrorKind::ProxyAuth, "")),
                "proxy:proxy_auth",
            ),
            (
                Err(Error::new(Phase::Head, ErrorKind::Malformed, "")),
                "unavailable",
            ),
        ];
        let now = Instant::now();
        for (result, want) in cases {
            let mut gate = gate();
            let u = url("http://b.test/page");
            assert!(matches!(gate.check(&u, 0, now), Check::Fetch));
            let _ = gate.handle_fetched("http://b.test", result.as_ref(), "oneloop", now);
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
        let now = Instant::now();
        let mut gate = gate();
        let u = url("http://c.test/");
        let _ = gate.check(&u, 7, now);
        let _ = gate.check(&u, 8, now);
        gate.leave("http://c.test", &7);
        assert_eq!(gate.waiting(), 1);
        let (waiters, _) = gate.handle_fetched("http://c.test", Ok(&ok(404, b"")), "x", now);
        assert_eq!(waiters, vec![8]);
    }

    #[test]
    fn the_budget_forgets_the_least_recently_used_origins() {
        let now = Instant::now();
        // About 50 KiB of rules per origin, 200 KiB of budget.
        let mut file = b"User-agent: *\n".to_vec();
        for i in 0..1000 {
            file.extend_from_slice(format!("Disallow: /private/{i:040}\n").as_bytes());
        }
        let file = ok(200, &file);
        let mut gate = Gate::new(200 << 10, 24 * HOUR);
        for i in 0..20u32 {
            let u = url(&format!("http://h{i}.test/"));
            assert!(matches!(gate.check(&u, i, now), Check::Fetch));
            let _ = gate.handle_fetched(u.origin(), Ok(&file), "x", now);
            // h0 is used all along: it stays.
            let _ = gate.check(&url("http://h0.test/"), 100, now);
            assert!(gate.stats().bytes <= 200 << 10, "{:?}", gate.stats());
        }
        let s = gate.stats();
        assert!(s.evicted >= 15 && s.origins <= 5, "{s:?}");
        assert!(matches!(
            gate.check(&url("http://h0.test/x"), 1, now),
            Check::Admit
        ));
        // A forgotten origin is fetched again when needed.
        assert!(matches!(
            gate.check(&url("http://h1.test/x"), 1, now),
            Check::Fetch
        ));
    }

    #[test]
    fn a_decision_expires_after_its_lifetime() {
        let t0 = Instant::now();
        let mut gate = gate();
        let u = url("http://d.test/");
        let _ = gate.check(&u, 1, t0);
        let _ = gate.handle_fetched("http://d.test", Ok(&ok(404, b"")), "x", t0);
        assert!(matches!(gate.check(&u, 2, t0 + 23 * HOUR), Check::Admit));
        assert!(matches!(gate.check(&u, 3, t0 + 24 * HOUR), Check::Fetch));
        assert_eq!(gate.stats().expired, 1);
    }
}
