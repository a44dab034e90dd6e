//! The keyed connection pool: which connection should the next request to an
//! origin use?
//!
//! Sans-IO: the pool never sees a socket. It holds opaque handles `H` (the
//! driver uses connection slab tokens), counts how many connections each
//! origin has open, and answers [`Pool::checkout`] with "reuse this idle one",
//! "open a new one", or "open a new one after closing this idle one of another
//! origin" (when the total limit is reached).
//!
//! Rules, after hyper's pool and Go's `http.Transport`:
//! - keyed by origin (`scheme://host:port`): a connection is only reused for
//!   the same scheme, host and port;
//! - LIFO: the most recently used idle connection is reused first (it is the
//!   warmest, and the colder ones are left to time out);
//! - an idle connection is closed after `idle_timeout`;
//! - at the total limit, the least recently used idle connection of any origin
//!   is evicted to make room.
//!
//! **Why the pool never makes a request wait.** The admission queue only
//! starts a request when its origin has fewer than `per_host` requests in
//! flight and the crawler fewer than `concurrency`; the crawler clamps the pool
//! limits to be at least those. A connection is either busy (carrying one of
//! those requests) or idle, so an origin at its per-key limit always has an
//! idle connection to reuse, and at the total limit some idle connection exists
//! to evict. [`Checkout::Full`] is therefore unreachable through the crawler
//! and is there for direct users of the pool.
//!
//! ```
//! use oneloop::pool::{Checkout, Pool, PoolConfig};
//! use std::time::{Duration, Instant};
//!
//! let mut pool: Pool<u32> = Pool::new(PoolConfig { max_total: 2, max_per_key: 1, idle_timeout: Duration::from_secs(90) });
//! let now = Instant::now();
//! assert_eq!(pool.checkout("http://a:80"), Checkout::Open);
//! pool.handle_checkin("http://a:80", 7, now);              // connection 7 is idle now
//! assert_eq!(pool.checkout("http://a:80"), Checkout::Reuse(7));
//! ```

use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Limits of the pool.
#[derive(Clone, Copy, Debug)]
pub struct PoolConfig {
    /// Open connections (busy + idle) over all origins.
    pub max_total: usize,
    /// Open connections per origin.
    pub max_per_key: usize,
    /// An idle connection is closed after this long.
    pub idle_timeout: Duration,
}

/// Why an idle connection the pool counts as busy went (see
/// [`Pool::handle_gone`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// Closed to make room at the total limit.
    Evicted,
    /// Idle past the idle timeout.
    Expired,
    /// The server closed it.
    ClosedByPeer,
}

/// The pool's answer to "I need a connection to this origin".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkout<H> {
    /// Reuse this idle connection (it is now busy).
    Reuse(H),
    /// Open a new connection (already counted as open).
    Open,
    /// Close this idle connection of another origin, then open a new one
    /// (both already accounted for).
    OpenAfterEvict(H),
    /// No connection can be had now.
    Full,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Checkouts answered with a new connection.
    pub opened: u64,
    /// Checkouts answered with an idle connection.
    pub reused: u64,
    /// Idle connections closed to make room under the total limit.
    pub evicted: u64,
    /// Idle connections closed by the idle timeout.
    pub expired: u64,
    /// Idle connections the server closed (reported by the driver).
    pub closed_by_peer: u64,
}

struct IdleConn<H> {
    seq: u64,
    handle: H,
    since: Instant,
}

struct Entry<H> {
    key: Box<str>,
    open: usize,
    /// Idle connections, oldest first (so LIFO reuse pops from the back).
    idle: Vec<IdleConn<H>>,
}

/// The pool. See the [module docs](self).
pub struct Pool<H> {
    config: PoolConfig,
    /// Per-origin state, found through `index`; the slab slot is what the
    /// LRU queue stores, so a check-in allocates nothing.
    entries: Slab<Entry<H>>,
    index: HashMap<Box<str>, usize>,
    /// Every check-in in time order, as (seq, entry slot). Entries whose
    /// connection was reused or removed since are stale and skipped (lazy
    /// deletion; seqs are unique, so a reused slot cannot fool the check), so
    /// the front live entry is always the least recently used idle connection.
    lru: VecDeque<(u64, usize)>,
    next_seq: u64,
    open: usize,
    idle: usize,
    stats: PoolStats,
}

impl<H: Copy + PartialEq> Pool<H> {
    /// An empty pool. Limits of zero are treated as one.
    pub fn new(mut config: PoolConfig) -> Pool<H> {
        config.max_total = config.max_total.max(1);
        config.max_per_key = config.max_per_key.clamp(1, config.max_total);
        Pool {
            config,
            entries: Slab::new(),
            index: HashMap::new(),
            lru: VecDeque::new(),
            next_seq: 0,
            open: 0,
            idle: 0,
            stats: PoolStats::default(),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Open connections (busy and idle), over all origins.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Idle connections, over all origins.
    pub fn idle(&self) -> usize {
        self.idle
    }

    /// Open connections of one origin.
    pub fn open_for(&self, key: &str) -> usize {
        self.index.get(key).map_or(0, |&i| self.entries[i].open)
    }

    /// Idle connections of one origin.
    pub fn idle_for(&self, key: &str) -> usize {
        self.index
            .get(key)
            .map_or(0, |&i| self.entries[i].idle.len())
    }

    fn entry_mut(&mut self, key: &str) -> Option<&mut Entry<H>> {
        let i = *self.index.get(key)?;
        self.entries.get_mut(i)
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// Asks for a connection to `key`.
    pub fn checkout(&mut self, key: &str) -> Checkout<H> {
        if let Some(&slot) = self.index.get(key) {
            let entry = &mut self.entries[slot];
            if let Some(conn) = entry.idle.pop() {
                self.idle -= 1;
                self.stats.reused += 1;
                return Checkout::Reuse(conn.handle);
            }
            if entry.open >= self.config.max_per_key {
                return Checkout::Full;
            }
        }
        self.open_or_evict(key)
    }

    /// An idle connection to `key`, if there is one (it is now busy): the
    /// reuse half of [`checkout`](Self::checkout), which counts nothing new.
    /// The driver asks this first, then its [`Dialer`](crate::dialer::Dialer)
    /// whether a new one may be opened, and only then `checkout`.
    pub fn checkout_idle(&mut self, key: &str) -> Option<H> {
        let &slot = self.index.get(key)?;
        let conn = self.entries[slot].idle.pop()?;
        self.idle -= 1;
        self.stats.reused += 1;
        Some(conn.handle)
    }

    /// Like [`checkout`](Self::checkout) but never reuses: for a retry after a
    /// reused connection failed, when the other idle connections of the key
    /// are suspect too. At the per-key limit, the key's oldest idle
    /// connection makes room.
    pub fn checkout_fresh(&mut self, key: &str) -> Checkout<H> {
        if let Some(&slot) = self.index.get(key) {
            let entry = &mut self.entries[slot];
            if entry.open >= self.config.max_per_key {
                if entry.idle.is_empty() {
                    return Checkout::Full;
                }
                let conn = entry.idle.remove(0);
                self.idle -= 1;
                self.stats.evicted += 1;
                self.stats.opened += 1;
                return Checkout::OpenAfterEvict(conn.handle);
            }
        }
        self.open_or_evict(key)
    }

    /// A new connection for `key`, under the total limit if there is room,
    /// else in place of the least recently used idle connection.
    fn open_or_evict(&mut self, key: &str) -> Checkout<H> {
        if self.open < self.config.max_total {
            self.count_open(key);
            return Checkout::Open;
        }
        match self.pop_lru() {
            Some((evicted, conn)) => {
                self.forget_slot(evicted);
                self.stats.evicted += 1;
                self.count_open(key);
                Checkout::OpenAfterEvict(conn.handle)
            }
            None => Checkout::Full,
        }
    }

    /// A busy connection of `key` is idle again and may be reused.
    pub fn handle_checkin(&mut self, key: &str, handle: H, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(&slot) = self.index.get(key) else {
            debug_assert!(false, "checkin for a key with no open connection");
            return;
        };
        self.entries[slot].idle.push(IdleConn {
            seq,
            handle,
            since: now,
        });
        self.idle += 1;
        self.lru.push_back((seq, slot));
        self.compact_lru();
    }

    /// A busy connection of `key` was closed (error, server said close, or
    /// retired after its maximum number of requests).
    pub fn handle_closed(&mut self, key: &str) {
        self.forget_one(key);
    }

    /// A connection the pool counts as busy but that sat idle elsewhere
    /// (an HTTP/2 connection with no stream: the table holds it, not the
    /// pool's idle list) is gone: counted as `why` says.
    pub fn handle_gone(&mut self, key: &str, why: Gone) {
        match why {
            Gone::Evicted => self.stats.evicted += 1,
            Gone::Expired => self.stats.expired += 1,
            Gone::ClosedByPeer => self.stats.closed_by_peer += 1,
        }
        self.forget_one(key);
    }

    /// A connection counted by a checkout could not even get a socket (the
    /// process is out of file descriptors): it leaves the count, and the
    /// `opened` statistic, as if it had never been asked for.
    pub fn handle_not_opened(&mut self, key: &str) {
        self.stats.opened = self.stats.opened.saturating_sub(1);
        self.forget_one(key);
    }

    /// Removes and returns the least recently used idle connection of any
    /// origin, to free its file descriptor. The caller closes it.
    pub fn evict_lru(&mut self) -> Option<H> {
        let (slot, conn) = self.pop_lru()?;
        self.forget_slot(slot);
        self.stats.evicted += 1;
        Some(conn.handle)
    }

    /// An idle connection was closed by its server (the driver saw EOF or an
    /// error on it). Returns false if it was not idle in the pool.
    pub fn handle_idle_closed(&mut self, key: &str, handle: H) -> bool {
        let Some(entry) = self.entry_mut(key) else {
            return false;
        };
        let Some(i) = entry.idle.iter().position(|c| c.handle == handle) else {
            return false;
        };
        entry.idle.remove(i);
        self.idle -= 1;
        self.stats.closed_by_peer += 1;
        self.forget_one(key);
        true
    }

    /// When the next idle connection times out.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.skip_stale();
        let &(seq, slot) = self.lru.front()?;
        let conn = self.entries.get(slot)?.idle.first()?;
        debug_assert_eq!(conn.seq, seq);
        Some(conn.since + self.config.idle_timeout)
    }

    /// Removes and returns one idle connection whose idle timeout has passed;
    /// call until `None`. The caller closes it.
    #[must_use]
    pub fn poll_expired(&mut self, now: Instant) -> Option<H> {
        let deadline = self.poll_timeout()?;
        if deadline > now {
            return None;
        }
        let (slot, conn) = self.pop_lru()?;
        self.forget_slot(slot);
        self.stats.expired += 1;
        Some(conn.handle)
    }

    fn count_open(&mut self, key: &str) {
        self.stats.opened += 1;
        self.open += 1;
        match self.entry_mut(key) {
            Some(entry) => entry.open += 1,
            None => {
                let slot = self.entries.insert(Entry {
                    key: key.into(),
                    open: 1,
                    idle: Vec::new(),
                });
                self.index.insert(key.into(), slot);
            }
        }
    }

    /// One connection of `key` is gone; drops the entry when it was the last,
    /// so the pool's memory follows the open connections, not every origin ever
    /// seen.
    fn forget_one(&mut self, key: &str) {
        match self.index.get(key) {
            Some(&slot) => self.forget_slot(slot),
            None => self.open -= 1,
        }
    }

    fn forget_slot(&mut self, slot: usize) {
        self.open -= 1;
        if let Some(entry) = self.entries.get_mut(slot) {
            entry.open -= 1;
            if entry.open == 0 {
                let entry = self.entries.remove(slot);
                self.index.remove(&entry.key);
            }
        }
    }

    fn is_live(&self, seq: u64, slot: usize) -> bool {
        // Idle lists are in check-in order, so a live entry that is the oldest
        // of the whole pool is the first of its key.
        self.entries
            .get(slot)
            .and_then(|e| e.idle.first())
            .is_some_and(|c| c.seq == seq)
    }

    fn skip_stale(&mut self) {
        while let Some(&(seq, slot)) = self.lru.front() {
            if self.is_live(seq, slot) {
                return;
            }
            self.lru.pop_front();
        }
    }

    fn pop_lru(&mut self) -> Option<(usize, IdleConn<H>)> {
        self.skip_stale();
        let (_, slot) = self.lru.pop_front()?;
        let entry = self.entries.get_mut(slot)?;
        let conn = entry.idle.remove(0);
        self.idle -= 1;
        Some((slot, conn))
    }

    /// Keeps the lazy-deletion queue within a constant factor of the idle set.
    fn compact_lru(&mut self) {
        if self.lru.len() <= 2 * self.idle + 64 {
            return;
        }
        let entries = &self.entries;
        self.lru.retain(|&(seq, slot)| {
            entries
                .get(slot)
                .is_some_and(|e| e.idle.iter().any(|c| c.seq == seq))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(total: usize, per_key: usize) -> Pool<u32> {
        Pool::new(PoolConfig {
            max_total: total,
            max_per_key: per_key,
            idle_timeout: Duration::from_secs(10),
        })
    }

    #[test]
    fn reuse_is_lifo_and_per_key() {
        let mut p = pool(10, 3);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(p.checkout("a"), Checkout::Open);
        }
        assert_eq!(p.checkout("a"), Checkout::Full);
        p.handle_checkin("a", 1, t);
        p.handle_checkin("a", 2, t);
        assert_eq!(p.checkout("b"), Checkout::Open, "other keys are separate");
        assert_eq!(p.checkout("a"), Checkout::Reuse(2), "last in, first out");
        assert_eq!(p.checkout("a"), Checkout::Reuse(1));
        assert_eq!(p.open(), 4);
        assert_eq!(p.idle(), 0);
        assert_eq!(p.stats().reused, 2);
    }

    #[test]
    fn total_limit_evicts_least_recently_used_idle() {
        let mut p = pool(2, 2);
        let t = Instant::now();
        assert_eq!(p.checkout("a"), Checkout::Open);
        assert_eq!(p.checkout("b"), Checkout::Open);
        p.handle_checkin("a", 1, t);
        p.handle_checkin("b", 2, t + Duration::from_secs(1));
        assert_eq!(p.checkout("c"), Checkout::OpenAfterEvict(1));
        assert_eq!(p.open_for("a"), 0);
        assert_eq!(p.open_for("c"), 1);
        assert_eq!(p.checkout("d"), Checkout::OpenAfterEvict(2));
        assert_eq!(p.checkout("e"), Checkout::Full, "nothing idle to evict");
        assert_eq!(p.open(), 2);
    }

    #[test]
    fn idle_timeout_expires_oldest_first() {
        let mut p = pool(10, 10);
        let t = Instant::now();
        for _ in 0..3 {
            p.checkout("a");
        }
        p.handle_checkin("a", 1, t);
        p.handle_checkin("a", 2, t + Duration::from_secs(5));
        p.handle_checkin("a", 3, t + Duration::from_secs(6));
        assert_eq!(p.checkout("a"), Checkout::Reuse(3));
        assert_eq!(p.poll_timeout(), Some(t + Duration::from_secs(10)));
        assert_eq!(p.poll_expired(t + Duration::from_secs(9)), None);
        assert_eq!(p.poll_expired(t + Duration::from_secs(12)), Some(1));
        assert_eq!(p.poll_expired(t + Duration::from_secs(12)), None);
        assert_eq!(p.poll_timeout(), Some(t + Duration::from_secs(15)));
        assert_eq!(p.open(), 2);
        assert_eq!(p.stats().expired, 1);
    }

    #[test]
    fn peer_closed_idle_connections_are_removed() {
        let mut p = pool(10, 10);
        let t = Instant::now();
        p.checkout("a");
        p.checkout("a");
        p.handle_checkin("a", 1, t);
        p.handle_checkin("a", 2, t);
        assert!(p.handle_idle_closed("a", 1));
        assert!(!p.handle_idle_closed("a", 1));
        assert_eq!((p.open(), p.idle()), (1, 1));
        assert_eq!(p.checkout("a"), Checkout::Reuse(2));
        p.handle_closed("a");
        assert_eq!(p.open(), 0);
        assert!(
            p.entries.is_empty() && p.index.is_empty(),
            "no memory kept for closed origins"
        );
        assert_eq!(p.poll_timeout(), None);
    }

    #[test]
    fn fresh_checkout_never_reuses() {
        let mut p = pool(10, 2);
        let t = Instant::now();
        p.checkout("a");
        p.checkout("a");
        p.handle_checkin("a", 1, t);
        assert_eq!(p.checkout_fresh("a"), Checkout::OpenAfterEvict(1));
        assert_eq!(p.open_for("a"), 2);
        assert_eq!(p.checkout_fresh("a"), Checkout::Full);
        p.handle_closed("a");
        assert_eq!(p.checkout_fresh("a"), Checkout::Open);
        assert_eq!(p.open(), 2);
    }

    #[test]
    fn stale_queue_entries_stay_bounded() {
        let mut p = pool(4, 4);
        let t = Instant::now();
        p.checkout("a");
        p.checkout("a");
        p.handle_checkin("a", 1, t); // stays idle the whole time: the LRU front is live
        for _ in 0..100_000 {
            p.handle_checkin("a", 2, t);
            assert_eq!(p.checkout("a"), Checkout::Reuse(2));
        }
        assert!(p.lru.len() <= 2 * p.idle() + 65, "{}", p.lru.len());
        assert_eq!(p.poll_expired(t + Duration::from_secs(11)), Some(1));
    }
}
