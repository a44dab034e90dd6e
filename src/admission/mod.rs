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
//! Politeness is per origin, in its own core: each origin has a
//! [`pacing::Pacer`] (delay and jitter, token-bucket rate,
//! `Retry-After` pauses, an adaptive AIMD limit); this module asks it when
//! the origin may start, and forwards the driver's feedback to it
//! ([`Admission::handle_success`], [`Admission::handle_throttle`],
//! [`Admission::handle_pause`]).
//!
//! The crawler pulls from the caller's iterator only while
//! [`Admission::wants_more`] says so, so memory is bounded by
//! `max_in_flight + max_parked` requests, never by the length of the input.
//! An origin's entry is dropped once it has nothing parked or in flight and
//! its pacer has nothing worth keeping; origins that linger (a delay or a
//! lowered limit still running) are swept by [`Admission::handle_timeout`],
//! which [`Admission::poll_timeout`] schedules.
//!
//! ```
//! use oneloop::admission::{Admission, AdmissionConfig, Pacing};
//! use oneloop::random::Rng;
//! use std::time::{Duration, Instant};
//!
//! let pacing = Pacing { delay: Duration::from_millis(100), ..Pacing::off() };
//! let mut q = Admission::new(AdmissionConfig { max_in_flight: 10, max_per_host: 5, max_parked: 100, pacing });
//! let mut rng = Rng::new(pacing.seed);
//! let t = Instant::now();
//! q.push("http://a", 1, t);
//! q.push("http://a", 2, t);
//! q.push("http://b", 3, t);
//! let (first, _) = q.poll_ready(t, &mut rng).unwrap();
//! let (second, _) = q.poll_ready(t, &mut rng).unwrap();
//! assert_eq!((first, second), (1, 3));        // request 2 waits for host a's delay
//! assert!(q.poll_ready(t, &mut rng).is_none());
//! assert_eq!(q.poll_timeout(), Some(t + Duration::from_millis(100)));
//! assert_eq!(q.poll_ready(t + Duration::from_millis(100), &mut rng).unwrap().0, 2);
//! ```

pub mod pacing;

use pacing::Pacer;
pub use pacing::Pacing;

use crate::random::Rng;
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long an origin with nothing parked or in flight, but with pacing
/// state worth keeping, lingers before it is looked at again.
const LINGER: Duration = Duration::from_secs(1);

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

impl HostId {
    /// No origin's id: for a request not (yet) in the queue.
    pub(crate) fn none() -> HostId {
        HostId(usize::MAX)
    }
}

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
    pacer: Pacer,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Pauses imposed by `Retry-After`.
    pub pauses: u64,
    /// Times an origin's limit was halved after a `429`.
    pub throttles: u64,
    /// Times an origin with a request ready to start had to wait for its
    /// pacer (delay, rate, `Crawl-delay`): one per wait.
    pub paced_waits: u64,
    /// The time those waits added up to.
    pub paced_time: Duration,
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
    /// When lingering origins are next swept, if any linger.
    next_sweep: Option<Instant>,
    stats: AdmissionStats,
}

impl<R: PartialEq> Admission<R> {
    /// An empty queue. Limits of zero are treated as one.
    pub fn new(mut config: AdmissionConfig) -> Admission<R> {
        config.max_in_flight = config.max_in_flight.max(1);
        config.max_per_host = config.max_per_host.clamp(1, config.max_in_flight);
        config.max_parked = config.max_parked.max(1);
        config.pacing = config.pacing.sanitized();
        Admission {
            config,
            hosts: Slab::new(),
            by_key: HashMap::new(),
            ready: VecDeque::new(),
            waiting: BinaryHeap::new(),
            in_flight: 0,
            parked: 0,
            next_sweep: None,
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
            pacer: Pacer::new(&self.config.pacing, self.config.max_per_host),
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
    /// [`release`](Self::release) when the request ends. `rng` draws the
    /// pacing jitter. Call until `None`.
    #[must_use]
    pub fn poll_ready(&mut self, now: Instant, rng: &mut Rng) -> Option<(R, HostId)> {
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
            let pacing = self.config.pacing;
            if let Some(at) = self.hosts[idx].pacer.ready_at(&pacing, now) {
                self.wait_until(idx, at, now);
                continue;
            }
            let host = &mut self.hosts[idx];
            let request = host.parked.pop_front()?;
            host.pacer.handle_start(&pacing, now, rng);
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
    pub fn handle_success(&mut self, host: HostId, now: Instant) {
        let (pacing, max) = (self.config.pacing, self.config.max_per_host);
        if self.hosts[host.0].pacer.handle_success(&pacing, max) {
            self.place(host.0, now);
        }
    }

    /// The origin answered `429 Too Many Requests`: halve its limit (adaptive
    /// throttling).
    pub fn handle_throttle(&mut self, host: HostId) {
        let pacing = self.config.pacing;
        if self.hosts[host.0].pacer.handle_throttle(&pacing) {
            self.stats.throttles += 1;
        }
    }

    /// No request to this origin starts for `duration` (capped at
    /// `max_pause`): the server said `Retry-After`.
    pub fn handle_pause(&mut self, host: HostId, duration: Duration, now: Instant) {
        let pacing = self.config.pacing;
        self.hosts[host.0]
            .pacer
            .handle_pause(&pacing, duration, now);
        self.stats.pauses += 1;
        // If it sits in the ring or heap it is re-checked when it comes up.
    }

    /// Origin `key` asked for at least `delay` between request starts
    /// (robots.txt's `Crawl-delay`); kept for the rest of the crawl.
    pub fn set_min_delay(&mut self, key: &str, delay: Duration) {
        let idx = self.host_for(key);
        self.hosts[idx].pacer.set_min_delay(delay);
    }

    /// The current limit of an origin.
    pub fn limit(&self, host: HostId) -> usize {
        self.hosts[host.0].pacer.limit()
    }

    /// Origins whose adaptive limit is below `max_per_host`, with that limit.
    pub fn lowered_limits(&self) -> Vec<(String, usize)> {
        let max = self.config.max_per_host;
        let mut v: Vec<(String, usize)> = self
            .hosts
            .iter()
            .filter(|(_, h)| h.pacer.limit() < max)
            .map(|(_, h)| (h.key.to_string(), h.pacer.limit()))
            .collect();
        v.sort();
        v
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called: a
    /// paced origin may start, or lingering origins are due to be swept.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let paced = self.waiting.peek().map(|Reverse((at, _))| *at);
        [paced, self.next_sweep].into_iter().flatten().min()
    }

    /// Time passed: paced origins whose wait is over become ready, and
    /// lingering origins whose pacing state no longer matters are forgotten,
    /// so memory follows the active origins.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.wake_due(now);
        if self.next_sweep.is_some_and(|t| t <= now) {
            self.next_sweep = None;
            let lingering: Vec<usize> = self
                .hosts
                .iter()
                .filter(|(_, h)| h.in_flight == 0 && h.parked.is_empty())
                .map(|(i, _)| i)
                .collect();
            for idx in lingering {
                self.drop_if_idle(idx, now);
            }
        }
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

    /// Forgets an origin with nothing parked or in flight whose pacer has
    /// nothing worth keeping; one that still has (a delay running, a lowered
    /// limit) lingers until a sweep finds it settled.
    fn drop_if_idle(&mut self, idx: usize, now: Instant) {
        let (pacing, max) = (self.config.pacing, self.config.max_per_host);
        let h = &self.hosts[idx];
        if h.in_flight != 0 || !h.parked.is_empty() || h.place != Place::Out {
            return;
        }
        if h.pacer.is_settled(&pacing, max, now) {
            let h = self.hosts.remove(idx);
            self.by_key.remove(&h.key);
        } else if self.next_sweep.is_none() {
            self.next_sweep = Some(now + LINGER);
        }
    }

    fn can_start(&self, idx: usize) -> bool {
        let h = &self.hosts[idx];
        !h.parked.is_empty() && h.in_flight < h.pacer.limit()
    }

    /// An origin that could start waits for its pacer until `at`: counted
    /// here, the one place every such wait passes.
    fn wait_until(&mut self, idx: usize, at: Instant, now: Instant) {
        self.stats.paced_waits += 1;
        self.stats.paced_time += at.saturating_duration_since(now);
        self.hosts[idx].place = Place::Waiting(at);
        self.waiting.push(Reverse((at, idx)));
    }

    /// Puts an origin where it belongs: the ring if it can start now, the
    /// heap if only its pacing holds it back, nowhere otherwise.
    fn place(&mut self, idx: usize, now: Instant) {
        if self.hosts[idx].place != Place::Out || !self.can_start(idx) {
            return;
        }
        let pacing = self.config.pacing;
        match self.hosts[idx].pacer.ready_at(&pacing, now) {
            None => {
                self.hosts[idx].place = Place::Ring;
                self.ready.push_back(idx);
            }
            Some(at) => self.wait_until(idx, at, now),
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
mod tests;
