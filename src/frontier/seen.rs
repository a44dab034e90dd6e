//! The seen-set: 64-bit fingerprints in one open-addressing table (linear
//! probing, 0 marks an empty slot, at most 7/8 full). Eight bytes a slot,
//! so 9 to 18 bytes per URL as the table fills and doubles, and no
//! allocation per URL: a million URLs take 16 MiB at most, and never a
//! false "seen" (a Bloom filter's failure, which silently drops a page).

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
        let mask = self.slots.len() - 1;
        // The fingerprint is already uniform (a SHA-1 prefix): its low bits
        // are the home slot.
        let mut i = key as usize & mask;
        loop {
            match self.slots[i] {
                0 => return (i, false),
                k if k == key => return (i, true),
                _ => i = (i + 1) & mask,
            }
        }
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
        let size = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        for key in old.into_iter().filter(|&k| k != 0) {
            let (i, _) = self.slot(key);
            self.slots[i] = key;
        }
    }
}
