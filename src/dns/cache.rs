//! The resolver's cache: one entry per name, holding its A and its AAAA
//! answer (each with its own expiry), evicted least recently used.
//!
//! A broad crawl touches tens of thousands of names in turn; an
//! oldest-first cache of (name, type) pairs smaller than that working set
//! evicts every name just before it is needed again, and the crawl asks the
//! nameserver about the same names over and over. Here a name is one entry
//! (A and AAAA together), every lookup moves it to the front, and the
//! default capacity (100,000 names) covers a broad crawl.
//!
//! O(1) get, insert and evict: a hash map from name to a slab slot, and a
//! doubly linked list threaded through the slab for the recency order.
//! Expired answers are dropped lazily, when looked up. Sans-IO: time is a
//! parameter.

use super::wire::RecordType;
use slab::Slab;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc as Rc; // shared by the map and the entry; Arc keeps the resolver Send
use std::time::Instant;

/// A cached answer: addresses, or "no such name".
pub type Answer = Result<Box<[IpAddr]>, ()>;

const NIL: usize = usize::MAX;

struct Entry {
    name: Rc<str>,
    /// [A, AAAA]: the answer and when it expires.
    parts: [Option<(Answer, Instant)>; 2],
    /// Towards the most recently used end.
    prev: usize,
    /// Towards the least recently used end.
    next: usize,
}

/// The cache. See the [module docs](self).
pub struct DnsCache {
    index: HashMap<Rc<str>, usize>,
    entries: Slab<Entry>,
    /// Most recently used.
    head: usize,
    /// Least recently used: evicted first.
    tail: usize,
    capacity: usize,
}

impl DnsCache {
    /// An empty cache for up to `capacity` names (at least one).
    pub fn new(capacity: usize) -> DnsCache {
        DnsCache {
            index: HashMap::new(),
            entries: Slab::new(),
            head: NIL,
            tail: NIL,
            capacity: capacity.max(1),
        }
    }

    /// Names held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No name held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The answer for `name` and `t`, if cached and not expired at `now`;
    /// a hit makes the name the most recently used.
    pub fn get(&mut self, name: &str, t: RecordType, now: Instant) -> Option<Answer> {
        let &slot = self.index.get(name)?;
        let part = &mut self.entries[slot].parts[t as usize];
        match part {
            Some((_, expires)) if *expires <= now => {
                *part = None; // expired: dropped now, lazily
                if self.entries[slot].parts.iter().all(Option::is_none) {
                    self.remove(slot);
                }
                None
            }
            Some((answer, _)) => {
                let answer = answer.clone();
                self.touch(slot);
                Some(answer)
            }
            None => None,
        }
    }

    /// Stores the answer for `name` and `t` until `expires`, making the name
    /// the most recently used; evicts the least recently used names beyond
    /// the capacity.
    pub fn insert(&mut self, name: &str, t: RecordType, answer: Answer, expires: Instant) {
        let slot = match self.index.get(name) {
            Some(&slot) => {
                self.touch(slot);
                slot
            }
            None => {
                let name: Rc<str> = name.into();
                let slot = self.entries.insert(Entry {
                    name: name.clone(),
                    parts: [None, None],
                    prev: NIL,
                    next: NIL,
                });
                self.index.insert(name, slot);
                self.push_front(slot);
                slot
            }
        };
        self.entries[slot].parts[t as usize] = Some((answer, expires));
        while self.entries.len() > self.capacity {
            let lru = self.tail;
            self.remove(lru);
        }
    }

    fn unlink(&mut self, slot: usize) {
        let (prev, next) = (self.entries[slot].prev, self.entries[slot].next);
        match prev {
            NIL => self.head = next,
            p => self.entries[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.entries[n].prev = prev,
        }
    }

    fn push_front(&mut self, slot: usize) {
        let old = self.head;
        self.entries[slot].prev = NIL;
        self.entries[slot].next = old;
        match old {
            NIL => self.tail = slot,
            o => self.entries[o].prev = slot,
        }
        self.head = slot;
    }

    fn touch(&mut self, slot: usize) {
        if self.head != slot {
            self.unlink(slot);
            self.push_front(slot);
        }
    }

    fn remove(&mut self, slot: usize) {
        self.unlink(slot);
        let e = self.entries.remove(slot);
        self.index.remove(&e.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(n: u8) -> Answer {
        Ok(vec![IpAddr::from([10, 0, 0, n])].into_boxed_slice())
    }

    #[test]
    fn a_and_aaaa_are_one_entry_with_their_own_expiry() {
        let t = Instant::now();
        let mut c = DnsCache::new(10);
        c.insert("a.test", RecordType::A, ip(1), t + Duration::from_secs(10));
        c.insert(
            "a.test",
            RecordType::Aaaa,
            Ok(Box::new([])),
            t + Duration::from_secs(2),
        );
        assert_eq!(c.len(), 1, "one entry per name");
        assert_eq!(c.get("a.test", RecordType::A, t), Some(ip(1)));
        assert_eq!(
            c.get("a.test", RecordType::Aaaa, t + Duration::from_secs(3)),
            None
        );
        assert_eq!(c.len(), 1, "the A answer still lives");
        assert_eq!(
            c.get("a.test", RecordType::A, t + Duration::from_secs(10)),
            None
        );
        assert!(c.is_empty(), "both expired: the entry is gone");
        c.insert(
            "gone.test",
            RecordType::A,
            Err(()),
            t + Duration::from_secs(5),
        );
        assert_eq!(c.get("gone.test", RecordType::A, t), Some(Err(())));
    }

    #[test]
    fn the_least_recently_used_name_goes_first() {
        let t = Instant::now();
        let later = t + Duration::from_secs(60);
        let mut c = DnsCache::new(3);
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            c.insert(n, RecordType::A, ip(i as u8), later);
        }
        assert!(c.get("a", RecordType::A, t).is_some()); // a is now the most recent
        c.insert("d", RecordType::A, ip(4), later); // evicts b, not a
        assert!(c.get("b", RecordType::A, t).is_none());
        assert!(c.get("a", RecordType::A, t).is_some());
        assert!(c.get("c", RecordType::A, t).is_some());
        assert!(c.get("d", RecordType::A, t).is_some());
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn a_working_set_that_fits_is_never_evicted() {
        // 10,000 names asked round robin, twice: with LRU and room for them
        // all, the second round hits every time.
        let t = Instant::now();
        let later = t + Duration::from_secs(60);
        let mut c = DnsCache::new(10_000);
        for round in 0..2 {
            for i in 0..10_000u32 {
                let name = format!("h{i}.test");
                for rt in [RecordType::A, RecordType::Aaaa] {
                    let hit = c.get(&name, rt, t).is_some();
                    assert_eq!(hit, round == 1, "{name}");
                    if !hit {
                        c.insert(&name, rt, ip(1), later);
                    }
                }
            }
        }
        assert_eq!(c.len(), 10_000);
    }
}
