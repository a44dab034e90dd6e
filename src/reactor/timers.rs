//! Timers: a binary heap with lazy cancellation.
//!
//! Insert and expire are O(log n); cancel is O(1): it frees the timer's slot
//! and bumps the slot's generation, and the heap entry that still points at it
//! is skipped when it reaches the top. So that cancelled entries cannot pile
//! up, the heap is rebuilt from the live timers whenever dead entries
//! outnumber live ones.
//!
//! Time is a parameter (`now`), never read here, so tests are deterministic.
//!
//! ```
//! use oneloop::reactor::Timers;
//! use std::time::{Duration, Instant};
//! let t0 = Instant::now();
//! let mut timers = Timers::new();
//! let a = timers.insert(t0 + Duration::from_secs(2), "a");
//! timers.insert(t0 + Duration::from_secs(1), "b");
//! timers.cancel(a);
//! assert_eq!(timers.poll_timeout(), Some(t0 + Duration::from_secs(1)));
//! assert_eq!(timers.poll_expired(t0 + Duration::from_secs(5)), Some("b"));
//! assert_eq!(timers.poll_expired(t0 + Duration::from_secs(5)), None);
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Names one inserted timer, for [`Timers::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A set of timers carrying values of type `T`. See the module docs.
#[derive(Debug)]
pub struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers::new()
    }
}

impl<T> Timers<T> {
    /// No timers.
    pub fn new() -> Timers<T> {
        Timers {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Number of live (inserted, not cancelled, not expired) timers.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no timer is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Adds a timer that fires at `at` carrying `value`.
    pub fn insert(&mut self, at: Instant, value: T) -> TimerId {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.value = Some(value);
        let generation = entry.generation;
        self.heap.push(Reverse((at, slot, generation)));
        self.live += 1;
        TimerId { slot, generation }
    }

    /// Cancels a timer; returns its value if it was still live.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let entry = self.slots.get_mut(id.slot as usize)?;
        if entry.generation != id.generation {
            return None;
        }
        let value = entry.value.take()?;
        self.release(id.slot);
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live {
            self.compact();
        }
        Some(value)
    }

    /// The earliest live deadline, if any.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.skip_dead();
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns one timer whose deadline is at or before `now`.
    #[must_use]
    pub fn poll_expired(&mut self, now: Instant) -> Option<T> {
        self.skip_dead();
        let Reverse((at, slot, _)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        let value = self.slots[slot as usize].value.take();
        self.release(slot);
        value
    }

    fn release(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
    }

    fn is_live(&self, slot: u32, generation: u32) -> bool {
        let entry = &self.slots[slot as usize];
        entry.generation == generation && entry.value.is_some()
    }

    fn skip_dead(&mut self) {
        while let Some(&Reverse((_, slot, generation))) = self.heap.peek() {
            if self.is_live(slot, generation) {
                break;
            }
            self.heap.pop();
        }
    }

    fn compact(&mut self) {
        let heap = std::mem::take(&mut self.heap).into_vec();
        let live: Vec<_> = heap
            .into_iter()
            .filter(|Reverse((_, s, g))| self.is_live(*s, *g))
            .collect();
        self.heap = BinaryHeap::from(live);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expire_in_deadline_order() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        for (i, ms) in [30u64, 10, 20, 10].iter().enumerate() {
            timers.insert(t0 + Duration::from_millis(*ms), i);
        }
        assert_eq!(timers.poll_expired(t0 + Duration::from_millis(5)), None);
        let mut got = Vec::new();
        while let Some(v) = timers.poll_expired(t0 + Duration::from_millis(25)) {
            got.push(v);
        }
        got.sort();
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.poll_timeout(), Some(t0 + Duration::from_millis(30)));
    }

    #[test]
    fn cancel_is_exact_even_after_slot_reuse() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.insert(t0, 'a');
        assert_eq!(timers.cancel(a), Some('a'));
        assert_eq!(timers.cancel(a), None, "cancel twice");
        let b = timers.insert(t0, 'b'); // reuses a's slot
        assert_eq!(timers.cancel(a), None, "stale id must not cancel b");
        assert_eq!(timers.poll_expired(t0), Some('b'));
        assert_eq!(timers.cancel(b), None, "expired timers cannot be cancelled");
        assert!(timers.is_empty());
        assert_eq!(timers.poll_timeout(), None);
    }

    #[test]
    fn cancelled_entries_do_not_pile_up() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let keep = timers.insert(t0 + Duration::from_secs(1), 0);
        for i in 0..100_000 {
            let id = timers.insert(t0 + Duration::from_secs(10), i);
            timers.cancel(id);
        }
        assert!(timers.heap.len() <= 130, "heap has {}", timers.heap.len());
        assert_eq!(timers.cancel(keep), Some(0));
    }
}
