//! The admission queue: which request starts next?
//!
//! Sans-IO and generic over the request handle `R`. Requests are *parked* per
//! origin key; a request *starts* when both the global in-flight count is under
//! `max_in_flight` and its origin's count is under `max_per_host`. Origins that
//! have parked requests and room form a ready ring, served round robin, so one
//! slow or popular host cannot starve the others, and picking the next request
//! is O(1) however many hosts there are.
//!
//! The crawler pulls from the caller's iterator only while
//! [`Admission::wants_more`] says so: while there is room in flight and fewer
//! than `max_parked` requests wait. So memory is bounded by
//! `max_in_flight + max_parked` requests, never by the length of the input.
//! An origin's entry is dropped when it has nothing parked and nothing in
//! flight.
//!
//! ```
//! use oneloop::admission::{Admission, AdmissionConfig};
//!
//! let mut q = Admission::new(AdmissionConfig { max_in_flight: 10, max_per_host: 1, max_parked: 100 });
//! q.push("http://a", 1);
//! q.push("http://a", 2);
//! q.push("http://b", 3);
//! let (first, host_a) = q.pop_ready().unwrap();
//! let (second, _) = q.pop_ready().unwrap();
//! assert_eq!((first, second), (1, 3));      // request 2 waits: host a is at its limit
//! assert!(q.pop_ready().is_none());
//! q.release(host_a);                        // request 1 finished
//! assert_eq!(q.pop_ready().unwrap().0, 2);
//! ```

use slab::Slab;
use std::collections::{HashMap, VecDeque};

/// Limits of the admission queue.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionConfig {
    /// Requests in flight over all hosts.
    pub max_in_flight: usize,
    /// Requests in flight per origin.
    pub max_per_host: usize,
    /// Requests pulled from the input but not started yet.
    pub max_parked: usize,
}

/// Names an origin's entry while it has requests parked or in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostId(usize);

struct Host<R> {
    key: Box<str>,
    in_flight: usize,
    parked: VecDeque<R>,
    in_ring: bool,
}

/// The admission queue. See the [module docs](self).
pub struct Admission<R> {
    config: AdmissionConfig,
    hosts: Slab<Host<R>>,
    by_key: HashMap<Box<str>, usize>,
    ready: VecDeque<usize>,
    in_flight: usize,
    parked: usize,
}

impl<R: PartialEq> Admission<R> {
    /// An empty queue. Limits of zero are treated as one.
    pub fn new(mut config: AdmissionConfig) -> Admission<R> {
        config.max_in_flight = config.max_in_flight.max(1);
        config.max_per_host = config.max_per_host.clamp(1, config.max_in_flight);
        config.max_parked = config.max_parked.max(1);
        Admission {
            config,
            hosts: Slab::new(),
            by_key: HashMap::new(),
            ready: VecDeque::new(),
            in_flight: 0,
            parked: 0,
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

    /// Origins with requests parked or in flight.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// Should the caller pull another request from its input?
    pub fn wants_more(&self) -> bool {
        self.in_flight < self.config.max_in_flight && self.parked < self.config.max_parked
    }

    /// Parks a request for origin `key`; returns its origin's id.
    pub fn push(&mut self, key: &str, request: R) -> HostId {
        let idx = match self.by_key.get(key) {
            Some(&idx) => idx,
            None => {
                let idx = self.hosts.insert(Host {
                    key: key.into(),
                    in_flight: 0,
                    parked: VecDeque::new(),
                    in_ring: false,
                });
                self.by_key.insert(key.into(), idx);
                idx
            }
        };
        self.hosts[idx].parked.push_back(request);
        self.parked += 1;
        self.ring_if_ready(idx);
        HostId(idx)
    }

    /// Starts the next request, if the limits allow one: returns it with its
    /// origin's id, which must be given back to [`release`](Self::release)
    /// when the request ends.
    pub fn pop_ready(&mut self) -> Option<(R, HostId)> {
        if self.in_flight >= self.config.max_in_flight {
            return None;
        }
        let idx = self.ready.pop_front()?;
        let host = &mut self.hosts[idx];
        host.in_ring = false;
        let request = host.parked.pop_front()?;
        host.in_flight += 1;
        self.in_flight += 1;
        self.parked -= 1;
        self.ring_if_ready(idx);
        Some((request, HostId(idx)))
    }

    /// A started request ended (whatever its outcome): frees its places.
    pub fn release(&mut self, host: HostId) {
        let h = &mut self.hosts[host.0];
        debug_assert!(h.in_flight > 0);
        h.in_flight -= 1;
        self.in_flight -= 1;
        self.ring_if_ready(host.0);
        self.drop_if_empty(host.0);
    }

    /// Removes a parked request (its deadline passed, or the crawl was
    /// stopped). Returns false if it was not parked there.
    pub fn remove_parked(&mut self, host: HostId, request: &R) -> bool {
        let Some(h) = self.hosts.get_mut(host.0) else {
            return false;
        };
        let Some(i) = h.parked.iter().position(|r| r == request) else {
            return false;
        };
        h.parked.remove(i);
        self.parked -= 1;
        // A stale ring entry is harmless only if it is skipped; keep the ring
        // exact instead.
        if h.parked.is_empty() && h.in_ring {
            h.in_ring = false;
            self.ready.retain(|&x| x != host.0);
        }
        self.drop_if_empty(host.0);
        true
    }

    /// The origin key of a host id.
    pub fn key(&self, host: HostId) -> &str {
        &self.hosts[host.0].key
    }

    /// Removes and returns every parked request (used when the crawl stops).
    pub fn drain_parked(&mut self) -> Vec<R> {
        let mut out = Vec::with_capacity(self.parked);
        let ids: Vec<usize> = self.hosts.iter().map(|(i, _)| i).collect();
        for idx in ids {
            out.extend(self.hosts[idx].parked.drain(..));
            self.hosts[idx].in_ring = false;
            self.drop_if_empty(idx);
        }
        self.ready.clear();
        self.parked = 0;
        out
    }

    fn ring_if_ready(&mut self, idx: usize) {
        let h = &mut self.hosts[idx];
        if !h.in_ring && !h.parked.is_empty() && h.in_flight < self.config.max_per_host {
            h.in_ring = true;
            self.ready.push_back(idx);
        }
    }

    fn drop_if_empty(&mut self, idx: usize) {
        let h = &self.hosts[idx];
        if h.in_flight == 0 && h.parked.is_empty() {
            debug_assert!(!h.in_ring);
            let h = self.hosts.remove(idx);
            self.by_key.remove(&h.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(global: usize, per_host: usize) -> Admission<u32> {
        Admission::new(AdmissionConfig {
            max_in_flight: global,
            max_per_host: per_host,
            max_parked: 1000,
        })
    }

    #[test]
    fn limits_hold_and_hosts_take_turns() {
        let mut q = queue(4, 2);
        for i in 0..6 {
            q.push("a", i);
        }
        for i in 10..13 {
            q.push("b", i);
        }
        q.push("c", 20);
        let mut started = Vec::new();
        while let Some((r, h)) = q.pop_ready() {
            started.push((r, h));
        }
        let ids: Vec<u32> = started.iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![0, 10, 20, 1], "round robin a, b, c, a");
        assert_eq!(q.in_flight(), 4);
        // Releasing a's requests lets b's second one in before a's third: b is
        // next in the ring.
        q.release(started[0].1);
        assert_eq!(q.pop_ready().unwrap().0, 11);
        q.release(started[3].1);
        assert_eq!(q.pop_ready().unwrap().0, 2);
    }

    #[test]
    fn everything_drains_and_memory_is_returned() {
        let mut q = queue(3, 1);
        let mut outstanding = VecDeque::new();
        let mut next = 0u32;
        let mut done = 0;
        // A lazy producer: pull only while the queue wants more.
        while done < 1000 {
            while q.wants_more() && next < 1000 {
                q.push(&format!("h{}", next % 7), next);
                next += 1;
            }
            while let Some((_, host)) = q.pop_ready() {
                outstanding.push_back(host);
            }
            assert!(q.in_flight() <= 3);
            let host = outstanding.pop_front().unwrap();
            q.release(host);
            done += 1;
        }
        assert_eq!((q.in_flight(), q.parked(), q.hosts()), (0, 0, 0));
        assert!(q.by_key.is_empty() && q.ready.is_empty());
    }

    #[test]
    fn parked_requests_can_be_removed() {
        let mut q = queue(1, 1);
        let a = q.push("a", 1);
        q.push("a", 2);
        let b = q.push("b", 3);
        let (first, host) = q.pop_ready().unwrap();
        assert_eq!(first, 1);
        assert!(q.remove_parked(b, &3));
        assert!(!q.remove_parked(b, &3));
        assert!(q.remove_parked(a, &2));
        q.release(host);
        assert!(q.pop_ready().is_none());
        assert_eq!(q.hosts(), 0);
    }

    #[test]
    fn wants_more_is_bounded_by_parking() {
        let mut q = Admission::new(AdmissionConfig {
            max_in_flight: 10,
            max_per_host: 1,
            max_parked: 5,
        });
        let mut pulled = 0;
        while q.wants_more() {
            q.push("one-host", pulled);
            pulled += 1;
            while q.pop_ready().is_some() {}
        }
        assert_eq!(pulled, 6, "one started, five parked, then stop pulling");
        assert_eq!(q.drain_parked().len(), 5);
        assert_eq!(q.parked(), 0);
    }
}
