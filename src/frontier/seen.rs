//! The seen-set: 64-bit fingerprints in one open-addressing table (linear
//! probing, 0 marks an empty slot, at most 7/8 full, grown by half when
//! full). Eight bytes a slot, so 9.1 to 13.7 bytes per URL wherever the
//! count falls (doubling would swing from 9 to 18), and no allocation per
//! URL; never a false "seen" (a Bloom filter's failure, which silently
//! drops a page). The home slot of a fingerprint is its product with the
//! table size, high half (any size works, not only powers of two).

/// A set of 64-bit fingerprints.
#[derive(Default)]
pub struct SeenSet {
    slots: Vec<u64>,
    len: usize,
}

impl SeenSet {
    /// Fingerprints in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the table holds.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 8
    }

    /// 0 is the empty mark: fingerprint 0 is stored as 1 (one more
    /// collision in 2^64).
    fn key(print: u64) -> u64 {
        print.max(1)
    }

    fn slot(&self, key: u64) -> (usize, bool) {
        let n = self.slots.len();
        // The fingerprint is already uniform (a SHA-1 prefix): scaled to
        // the table, it is the home slot.
        let mut i = ((u128::from(key) * n as u128) >> 64) as usize;
        loop {
            match self.slots[i] {
                0 => return (i, false),
                k if k == key => return (i, true),
                _ => i = if i + 1 == n { 0 } else { i + 1 },
            }
        }
    }

    /// Starts loading `print`'s home slot into the cache (a hint: nothing
    /// changes, and it costs nothing where the CPU has no such instruction).
    pub fn prefetch(&self, print: u64) {
        let n = self.slots.len();
        if n == 0 {
            return;
        }
        let i = ((u128::from(Self::key(print)) * n as u128) >> 64) as usize;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint that never faults, and the pointer
        // is in bounds of `slots` anyway.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.slots.as_ptr().add(i).cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// Is `print` in the set?
    pub fn contains(&self, print: u64) -> bool {
        !self.slots.is_empty() && self.slot(Self::key(print)).1
    }

    /// Adds `print`; true if it was not there.
    pub fn insert(&mut self, print: u64) -> bool {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let key = Self::key(print);
        let (i, found) = self.slot(key);
        if found {
            return false;
        }
        self.slots[i] = key;
        self.len += 1;
        true
    }

    fn grow(&mut self) {
        let size = (self.slots.len() + self.slots.len() / 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        for key in old.into_iter().filter(|&k| k != 0) {
            let (i, _) = self.slot(key);
            self.slots[i] = key;
        }
    }
}
