//! The admission queue: which request starts next, and when?
//!
//! Sans-IO and generic over the request handle `R`; time comes in as a
//! parameter. Requests are *parked* per origin key; a request *starts* when
//! the global in-flight count is under `max_in_flight`, its origin's count is
//! under the origin's current limit, and the origin's pacing allows a start
//! now. Origins that can start form a ready ring, served round robin, so one
//! slow or popular host cannot starve the others, and picking the next request
//! is O(1) however many hosts there are. Origins that only wait for their
//! pacing sit in a heap keyed by the instant they may start; the driver sleeps
//! until [`Admission::poll_timeout`].
//!
//! Politeness, per origin ([`Pacing`]):
//! - a minimum delay between request starts, plus random jitter;
//! - a rate (token bucket: `rate` per second, bursts of `burst`);
//! - pauses ([`Admission::pause`]) when the server says `Retry-After`;
//! - an adaptive limit (AIMD, in the spirit of Scrapy's AutoThrottle): halved
//!   on each `429`, raised by one after `grow_after` successes, never above
//!   `max_per_host`.
//!
//! The crawler pulls from the caller's iterator only while
//! [`Admission::wants_more`] says so, so memory is bounded by
//! `max_in_flight + max_parked` requests, never by the length of the input.
//! An origin's entry is dropped once it has nothing parked or in flight and
//! no pacing or throttling state worth keeping ([`Admission::gc`]).
//!
//! ```
//! use oneloop::admission::{Admission, AdmissionConfig, Pacing};
//! use std::time::{Duration, Instant};
//!
//! let pacing = Pacing { delay: Duration::from_millis(100), ..Pacing::off() };
//! let mut q = Admission::new(AdmissionConfig { max_in_flight: 10, max_per_host: 5, max_parked: 100, pacing });
//! let t = Instant::now();
//! q.push("http://a", 1, t);
//! q.push("http://a", 2, t);
//! q.push("http://b", 3, t);
//! let (first, _) = q.pop_ready(t).unwrap();
//! let (second, _) = q.pop_ready(t).unwrap();
//! assert_eq!((first, second), (1, 3));        // request 2 waits for host a's delay
//! assert!(q.pop_ready(t).is_none());
//! assert_eq!(q.poll_timeout(), Some(t + Duration::from_millis(100)));
//! assert_eq!(q.pop_ready(t + Duration::from_millis(100)).unwrap().0, 2);
//! ```

use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Per-origin politeness. [`Pacing::polite`] is the default for real sites;
/// [`Pacing::off`] is for loopback servers and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pacing {
    /// Minimum time between two request starts to one origin.
    pub delay: Duration,
    /// A random extra delay, uniform in `0..jitter`, added to each `delay`.
    pub jitter: Duration,
    /// Requests per second per origin (token bucket), if limited.
    pub rate: Option<f64>,
    /// The token bucket's size: how many starts may come back to back.
    pub burst: u32,
    /// Halve an origin's concurrency on `429`, grow it back by one per
    /// `grow_after` successes.
    pub adaptive: bool,
    /// Successes needed to raise a lowered limit by one.
    pub grow_after: u32,
    /// The longest pause a `Retry-After` can impose.
    pub max_pause: Duration,
    /// Seed of the jitter's random numbers (deterministic tests).
    pub seed: u64,
}

impl Pacing {
    /// No pacing at all (loopback, benchmarks). Adaptive throttling stays on:
    /// it only acts when a server answers `429`.
    pub fn off() -> Pacing {
        Pacing {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate: None,
            burst: 1,
            adaptive: true,
            grow_after: 20,
            max_pause: Duration::from_secs(300),
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The default for real sites: at most 10 requests per second per origin
    /// (bursts of 2), no fixed delay, adaptive throttling, pauses of up to 5
    /// minutes.
    pub fn polite() -> Pacing {
        Pacing {
            rate: Some(10.0),
            burst: 2,
            ..Pacing::off()
        }
    }
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing::polite()
    }
}

/// Limits of the admission queue.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionConfig {
    /// Requests in flight over all hosts.
    pub max_in_flight: usize,
    /// Requests in flight per origin (the ceiling of the adaptive limit).
    pub max_per_host: usize,
    /// Requests pulled from the input but not started yet.
    pub max_parked: usize,
    /// Per-origin politeness.
    pub pacing: Pacing,
}

/// Names an origin's entry while it has requests parked or in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostId(usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// In neither the ring nor the heap.
    Out,
    /// In the ready ring.
    Ring,
    /// In the pacing heap, due at this instant.
    Waiting(Instant),
}

struct Host<R> {
    key: Box<str>,
    in_flight: usize,
    parked: VecDeque<R>,
    place: Place,
    /// Current concurrency limit (adaptive; `max_per_host` at most).
    limit: usize,
    successes: u32,
    /// No start before this (delay + jitter, and pauses).
    not_before: Option<Instant>,
    tokens: f64,
    refilled: Option<Instant>,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Pauses imposed by `Retry-After`.
    pub pauses: u64,
    /// Times an origin's limit was halved after a `429`.
    pub throttles: u64,
    /// Starts that had to wait for pacing.
    pub paced_waits: u64,
}

/// The admission queue. See the [module docs](self).
pub struct Admission<R> {
    config: AdmissionConfig,
    hosts: Slab<Host<R>>,
    by_key: HashMap<Box<str>, usize>,
    ready: VecDeque<usize>,
    waiting: BinaryHeap<Reverse<(Instant, usize)>>,
    in_flight: usize,
    parked: usize,
    rng: u64,
    stats: AdmissionStats,
}

impl<R: PartialEq> Admission<R> {
    /// An empty queue. Limits of zero are treated as one.
    pub fn new(mut config: AdmissionConfig) -> Admission<R> {
        config.max_in_flight = config.max_in_flight.max(1);
        config.max_per_host = config.max_per_host.clamp(1, config.max_in_flight);
        config.max_parked = config.max_parked.max(1);
        config.pacing.burst = config.pacing.burst.max(1);
        config.pacing.grow_after = config.pacing.grow_after.max(1);
        if config
            .pacing
            .rate
            .is_some_and(|r| !(r > 0.0 && r.is_finite()))
        {
            config.pacing.rate = None;
        }
        Admission {
            config,
            hosts: Slab::new(),
            by_key: HashMap::new(),
            ready: VecDeque::new(),
            waiting: BinaryHeap::new(),
            in_flight: 0,
            parked: 0,
            rng: config.pacing.seed | 1,
            stats: AdmissionStats::default(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// Requests started and not yet released.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Requests waiting to start.
    pub fn parked(&self) -> usize {
        self.parked
    }

    /// Origins the queue keeps state for.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// The counters.
    pub fn stats(&self) -> AdmissionStats {
        self.stats
    }

    /// Should the caller pull another request from its input?
    pub fn wants_more(&self) -> bool {
        self.in_flight < self.config.max_in_flight && self.parked < self.config.max_parked
    }

    fn host_for(&mut self, key: &str) -> usize {
        if let Some(&idx) = self.by_key.get(key) {
            return idx;
        }
        let idx = self.hosts.insert(Host {
            key: key.into(),
            in_flight: 0,
            parked: VecDeque::new(),
            place: Place::Out,
            limit: self.config.max_per_host,
            successes: 0,
            not_before: None,
            tokens: self.config.pacing.burst as f64,
            refilled: None,
        });
        self.by_key.insert(key.into(), idx);
        idx
    }

    /// Parks a request for origin `key`; returns its origin's id.
    pub fn push(&mut self, key: &str, request: R, now: Instant) -> HostId {
        let idx = self.host_for(key);
        self.hosts[idx].parked.push_back(request);
        self.parked += 1;
        self.place(idx, now);
        HostId(idx)
    }

    /// Parks a request at the head of its origin's queue: for a retry or a
    /// redirect of a request that already waited its turn.
    pub fn push_front(&mut self, key: &str, request: R, now: Instant) -> HostId {
        let idx = self.host_for(key);
        self.hosts[idx].parked.push_front(request);
        self.parked += 1;
        self.place(idx, now);
        HostId(idx)
    }

    /// Starts the next request, if the limits and pacing allow one: returns it
    /// with its origin's id, which must be given back to
    /// [`release`](Self::release) when the request ends.
    pub fn pop_ready(&mut self, now: Instant) -> Option<(R, HostId)> {
        self.wake_due(now);
        if self.in_flight >= self.config.max_in_flight {
            return None;
        }
        while let Some(idx) = self.ready.pop_front() {
            self.hosts[idx].place = Place::Out;
            // Re-check: a pause or a lowered limit may have come since the
            // host joined the ring.
            if !self.can_start(idx) {
                self.place(idx, now);
                self.drop_if_idle(idx, now);
                continue;
            }
            if let Some(at) = self.eligible_at(idx, now) {
                self.stats.paced_waits += 1;
                self.wait_until(idx, at);
                continue;
            }
            let request = self.hosts[idx].parked.pop_front()?;
            self.consume_start(idx, now);
            let host = &mut self.hosts[idx];
            host.in_flight += 1;
            self.in_flight += 1;
            self.parked -= 1;
            self.place(idx, now);
            return Some((request, HostId(idx)));
        }
        None
    }

    /// A started request ended (whatever its outcome): frees its places.
    pub fn release(&mut self, host: HostId, now: Instant) {
        let h = &mut self.hosts[host.0];
        debug_assert!(h.in_flight > 0);
        h.in_flight -= 1;
        self.in_flight -= 1;
        self.place(host.0, now);
        self.drop_if_idle(host.0, now);
    }

    /// A request to this origin succeeded: with adaptive throttling, a
    /// lowered limit grows back by one every `grow_after` successes.
    pub fn record_success(&mut self, host: HostId, now: Instant) {
        let max = self.config.max_per_host;
        let grow_after = self.config.pacing.grow_after;
        let h = &mut self.hosts[host.0];
        if h.limit < max {
            h.successes += 1;
            if h.successes >= grow_after {
                h.successes = 0;
                h.limit += 1;
                self.place(host.0, now);
            }
        }
    }

    /// The origin answered `429 Too Many Requests`: halve its limit (adaptive
    /// throttling).
    pub fn record_throttle(&mut self, host: HostId) {
        if !self.config.pacing.adaptive {
            return;
        }
        let h = &mut self.hosts[host.0];
        h.limit = (h.limit / 2).max(1);
        h.successes = 0;
        self.stats.throttles += 1;
    }

    /// No request to this origin starts for `duration` (capped at
    /// `max_pause`): the server said `Retry-After`.
    pub fn pause(&mut self, host: HostId, duration: Duration, now: Instant) {
        let until = now + duration.min(self.config.pacing.max_pause);
        let h = &mut self.hosts[host.0];
        h.not_before = Some(h.not_before.map_or(until, |t| t.max(until)));
        self.stats.pauses += 1;
        // If it sits in the ring or heap it is re-checked when it comes up.
    }

    /// The current limit of an origin.
    pub fn limit(&self, host: HostId) -> usize {
        self.hosts[host.0].limit
    }

    /// Origins whose adaptive limit is below `max_per_host`, with that limit.
    pub fn lowered_limits(&self) -> Vec<(String, usize)> {
        let max = self.config.max_per_host;
        let mut v: Vec<(String, usize)> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.limit < max)
            .map(|(_, h)| (h.key.to_string(), h.limit))
            .collect();
        v.sort();
        v
    }

    /// When the next paced origin may start (sleep no longer than this).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes a parked request (its deadline passed, or the crawl was
    /// stopped). Returns false if it was not parked there.
    pub fn remove_parked(&mut self, host: HostId, request: &R, now: Instant) -> bool {
        let Some(h) = self.hosts.get_mut(host.0) else {
            return false;
        };
        let Some(i) = h.parked.iter().position(|r| r == request) else {
            return false;
        };
        h.parked.remove(i);
        self.parked -= 1;
        // A ring or heap entry of a host with nothing parked is skipped when
        // it comes up; the entry itself stays until then.
        self.drop_if_idle(host.0, now);
        true
    }

    /// The origin key of a host id.
    pub fn key(&self, host: HostId) -> &str {
        &self.hosts[host.0].key
    }

    /// Removes and returns every parked request (used when the crawl stops).
    pub fn drain_parked(&mut self) -> Vec<R> {
        let mut out = Vec::with_capacity(self.parked);
        for (_, h) in self.hosts.iter_mut() {
            out.extend(h.parked.drain(..));
        }
        self.parked = 0;
        out
    }

    /// Forgets origins with nothing parked or in flight whose pacing and
    /// throttling state no longer matters. Call now and then (the crawler
    /// does once a second): memory then follows the active origins.
    pub fn gc(&mut self, now: Instant) {
        let idle: Vec<usize> = self
            .hosts
            .iter()
            .filter(|(_, h)| self.is_forgettable(h, now))
            .map(|(i, _)| i)
            .collect();
        for idx in idle {
            self.forget(idx);
        }
    }

    fn is_forgettable(&self, h: &Host<R>, now: Instant) -> bool {
        let bucket_full = match (self.config.pacing.rate, h.refilled) {
            (Some(rate), Some(t)) => {
                h.tokens + now.saturating_duration_since(t).as_secs_f64() * rate
                    >= self.config.pacing.burst as f64
            }
            _ => true,
        };
        h.in_flight == 0
            && h.parked.is_empty()
            && h.place == Place::Out
            && h.limit == self.config.max_per_host
            && h.not_before.is_none_or(|t| t <= now)
            && bucket_full
    }

    fn drop_if_idle(&mut self, idx: usize, now: Instant) {
        if self.is_forgettable(&self.hosts[idx], now) {
            self.forget(idx);
        }
    }

    fn forget(&mut self, idx: usize) {
        let h = self.hosts.remove(idx);
        self.by_key.remove(&h.key);
    }

    fn can_start(&self, idx: usize) -> bool {
        let h = &self.hosts[idx];
        !h.parked.is_empty() && h.in_flight < h.limit
    }

    /// `None` if the origin's pacing allows a start now, else when it will.
    fn eligible_at(&mut self, idx: usize, now: Instant) -> Option<Instant> {
        let pacing = self.config.pacing;
        let h = &mut self.hosts[idx];
        let mut at = h.not_before.filter(|&t| t > now);
        if let Some(rate) = pacing.rate {
            if let Some(t) = h.refilled {
                let elapsed = now.saturating_duration_since(t).as_secs_f64();
                h.tokens = (h.tokens + elapsed * rate).min(pacing.burst as f64);
            }
            h.refilled = Some(now);
            if h.tokens < 1.0 {
                let wait = Duration::from_secs_f64((1.0 - h.tokens) / rate);
                let t = now + wait;
                at = Some(at.map_or(t, |a| a.max(t)));
            }
        }
        at
    }

    fn consume_start(&mut self, idx: usize, now: Instant) {
        let pacing = self.config.pacing;
        let mut gap = pacing.delay;
        if !pacing.jitter.is_zero() {
            let r = self.next_random();
            gap += pacing
                .jitter
                .mul_f64((r >> 11) as f64 / (1u64 << 53) as f64);
        }
        let h = &mut self.hosts[idx];
        if pacing.rate.is_some() {
            h.tokens -= 1.0;
        }
        if !gap.is_zero() {
            h.not_before = Some(now + gap);
        }
    }

    /// xorshift64*: jitter needs spread, not secrecy.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn wait_until(&mut self, idx: usize, at: Instant) {
        self.hosts[idx].place = Place::Waiting(at);
        self.waiting.push(Reverse((at, idx)));
    }

    /// Puts an origin where it belongs: the ring if it can start now, the
    /// heap if only its pacing holds it back, nowhere otherwise.
    fn place(&mut self, idx: usize, now: Instant) {
        if self.hosts[idx].place != Place::Out || !self.can_start(idx) {
            return;
        }
        match self.eligible_at(idx, now) {
            None => {
                self.hosts[idx].place = Place::Ring;
                self.ready.push_back(idx);
            }
            Some(at) => self.wait_until(idx, at),
        }
    }

    /// Moves origins whose pacing wait is over back towards the ring.
    fn wake_due(&mut self, now: Instant) {
        while let Some(&Reverse((at, idx))) = self.waiting.peek() {
            if at > now {
                break;
            }
            self.waiting.pop();
            // Stale heap entries (the host was re-placed or forgotten) are skipped.
            match self.hosts.get(idx) {
                Some(h) if h.place == Place::Waiting(at) => {
                    self.hosts[idx].place = Place::Out;
                    self.place(idx, now);
                    self.drop_if_idle(idx, now);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(global: usize, per_host: usize) -> Admission<u32> {
        paced(global, per_host, 1000, Pacing::off())
    }

    fn paced(global: usize, per_host: usize, parked: usize, pacing: Pacing) -> Admission<u32> {
        Admission::new(AdmissionConfig {
            max_in_flight: global,
            max_per_host: per_host,
            max_parked: parked,
            pacing,
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn limits_hold_and_hosts_take_turns() {
        let t = Instant::now();
        let mut q = queue(4, 2);
        for i in 0..6 {
            q.push("a", i, t);
        }
        for i in 10..13 {
            q.push("b", i, t);
        }
        q.push("c", 20, t);
        let mut started = Vec::new();
        while let Some((r, h)) = q.pop_ready(t) {
            started.push((r, h));
        }
        let ids: Vec<u32> = started.iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![0, 10, 20, 1], "round robin a, b, c, a");
        assert_eq!(q.in_flight(), 4);
        q.release(started[0].1, t);
        assert_eq!(q.pop_ready(t).unwrap().0, 11);
        q.release(started[3].1, t);
        assert_eq!(q.pop_ready(t).unwrap().0, 2);
    }

    #[test]
    fn everything_drains_and_memory_is_returned() {
        let t = Instant::now();
        let mut q = queue(3, 1);
        let mut outstanding = VecDeque::new();
        let mut next = 0u32;
        let mut done = 0;
        while done < 1000 {
            while q.wants_more() && next < 1000 {
                q.push(&format!("h{}", next % 7), next, t);
                next += 1;
            }
            while let Some((_, host)) = q.pop_ready(t) {
                outstanding.push_back(host);
            }
            assert!(q.in_flight() <= 3);
            let host = outstanding.pop_front().unwrap();
            q.release(host, t);
            done += 1;
        }
        assert_eq!((q.in_flight(), q.parked(), q.hosts()), (0, 0, 0));
        assert!(q.by_key.is_empty() && q.ready.is_empty());
    }

    #[test]
    fn parked_requests_can_be_removed() {
        let t = Instant::now();
        let mut q = queue(1, 1);
        let a = q.push("a", 1, t);
        q.push("a", 2, t);
        let b = q.push("b", 3, t);
        let (first, host) = q.pop_ready(t).unwrap();
        assert_eq!(first, 1);
        assert!(q.remove_parked(b, &3, t));
        assert!(!q.remove_parked(b, &3, t));
        assert!(q.remove_parked(a, &2, t));
        q.release(host, t);
        assert!(q.pop_ready(t).is_none());
        assert_eq!(q.hosts(), 0);
    }

    #[test]
    fn wants_more_is_bounded_by_parking() {
        let t = Instant::now();
        let mut q = paced(10, 1, 5, Pacing::off());
        let mut pulled = 0;
        while q.wants_more() {
            q.push("one-host", pulled, t);
            pulled += 1;
            while q.pop_ready(t).is_some() {}
        }
        assert_eq!(pulled, 6, "one started, five parked, then stop pulling");
        assert_eq!(q.drain_parked().len(), 5);
        assert_eq!(q.parked(), 0);
    }

    #[test]
    fn delay_spaces_starts_per_host_only() {
        let t = Instant::now();
        let mut q = paced(
            10,
            10,
            100,
            Pacing {
                delay: ms(50),
                ..Pacing::off()
            },
        );
        for i in 0..3 {
            q.push("a", i, t);
            q.push("b", 10 + i, t);
        }
        let mut starts = Vec::new();
        let mut now = t;
        loop {
            while let Some((r, _)) = q.pop_ready(now) {
                starts.push((r, now - t));
            }
            if starts.len() == 6 {
                break;
            }
            now = q.poll_timeout().expect("someone is waiting");
        }
        let when = |r: u32| starts.iter().find(|s| s.0 == r).unwrap().1;
        assert_eq!(when(0), ms(0));
        assert_eq!(when(10), ms(0), "hosts are paced independently");
        assert_eq!(when(1), ms(50));
        assert_eq!(when(2), ms(100));
        assert_eq!(when(12), ms(100));
    }

    #[test]
    fn jitter_adds_up_to_its_bound() {
        let t = Instant::now();
        let mut q = paced(
            10,
            10,
            100,
            Pacing {
                delay: ms(10),
                jitter: ms(10),
                ..Pacing::off()
            },
        );
        for i in 0..50 {
            q.push("a", i, t);
        }
        let mut now = t;
        let mut last = None;
        let mut gaps = Vec::new();
        for _ in 0..50 {
            let (_, h) = match q.pop_ready(now) {
                Some(x) => x,
                None => {
                    now = q.poll_timeout().unwrap();
                    q.pop_ready(now).unwrap()
                }
            };
            q.release(h, now);
            if let Some(l) = last {
                gaps.push(now - l);
            }
            last = Some(now);
        }
        assert!(gaps.iter().all(|g| *g >= ms(10) && *g < ms(20)), "{gaps:?}");
        assert!(gaps.iter().any(|g| *g > ms(15)) && gaps.iter().any(|g| *g < ms(15)));
    }

    #[test]
    fn token_bucket_allows_bursts_then_the_rate() {
        let t = Instant::now();
        let mut q = paced(
            100,
            100,
            100,
            Pacing {
                rate: Some(10.0),
                burst: 3,
                ..Pacing::off()
            },
        );
        for i in 0..10 {
            q.push("a", i, t);
        }
        let mut n = 0;
        while q.pop_ready(t).is_some() {
            n += 1;
        }
        assert_eq!(n, 3, "the burst");
        let next = q.poll_timeout().unwrap();
        assert!(next - t >= ms(99) && next - t <= ms(101), "{:?}", next - t);
        assert!(q.pop_ready(next).is_some());
        assert!(q.pop_ready(next).is_none());
        // One second later: 10 more tokens, capped at the burst of 3.
        let later = next + Duration::from_secs(1);
        let mut n = 0;
        while q.pop_ready(later).is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn pauses_hold_one_host_and_not_the_others() {
        let t = Instant::now();
        let mut q = queue(10, 10);
        let a = q.push("a", 1, t);
        q.push("a", 2, t);
        q.push("b", 3, t);
        let (r, _) = q.pop_ready(t).unwrap();
        assert_eq!(r, 1);
        q.pause(a, Duration::from_secs(1), t);
        assert_eq!(q.pop_ready(t).unwrap().0, 3, "b goes on");
        assert!(q.pop_ready(t + ms(999)).is_none());
        assert_eq!(q.poll_timeout(), Some(t + Duration::from_secs(1)));
        assert_eq!(q.pop_ready(t + Duration::from_secs(1)).unwrap().0, 2);
        assert_eq!(q.stats().pauses, 1);
    }

    #[test]
    fn throttling_halves_then_grows_back() {
        let t = Instant::now();
        let mut q = paced(
            100,
            8,
            1000,
            Pacing {
                grow_after: 2,
                ..Pacing::off()
            },
        );
        let a = q.push("a", 0, t);
        q.record_throttle(a);
        assert_eq!(q.limit(a), 4);
        q.record_throttle(a);
        q.record_throttle(a);
        q.record_throttle(a);
        assert_eq!(q.limit(a), 1, "never below one");
        for i in 1..10 {
            q.push("a", i, t);
        }
        let (_, h) = q.pop_ready(t).unwrap();
        assert!(q.pop_ready(t).is_none(), "limit 1");
        assert_eq!(q.lowered_limits(), vec![("a".to_string(), 1)]);
        q.record_success(h, t);
        q.record_success(h, t);
        assert_eq!(q.limit(a), 2);
        assert!(q.pop_ready(t).is_some(), "grown to 2");
        for _ in 0..20 {
            q.record_success(h, t);
        }
        assert_eq!(q.limit(a), 8, "never above the maximum");
    }

    #[test]
    fn paced_state_outlives_an_empty_queue_until_gc() {
        let t = Instant::now();
        let mut q = paced(
            10,
            10,
            100,
            Pacing {
                delay: ms(100),
                ..Pacing::off()
            },
        );
        q.push("a", 1, t);
        let (_, h) = q.pop_ready(t).unwrap();
        q.release(h, t);
        assert_eq!(q.hosts(), 1, "the delay must survive the host going idle");
        q.push("a", 2, t + ms(10));
        assert!(q.pop_ready(t + ms(10)).is_none());
        let (_, h) = q.pop_ready(t + ms(100)).unwrap();
        q.release(h, t + ms(100));
        q.gc(t + ms(150));
        assert_eq!(q.hosts(), 1);
        q.gc(t + ms(200));
        assert_eq!(q.hosts(), 0);
    }
}
