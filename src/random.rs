//! The one random source of the sans-IO cores: pacing jitter in admission and
//! retry backoff in the driver both draw from a [`Rng`] seeded from the
//! configuration, so a test that fixes the seed gets the same waits every run.
//!
//! It is xorshift64*: jitter needs spread, not secrecy. (Secrets, such as DNS
//! transaction ids and source ports, come from the system's secure source in
//! [`crate::dns`], never from here.)

/// A small, fast, seedable pseudo-random generator (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from `seed` (any value; zero is mapped to a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed | 1 }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_units_stay_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let mut low = false;
        let mut high = false;
        for _ in 0..1000 {
            let x = a.unit();
            assert_eq!(x, b.unit());
            assert!((0.0..1.0).contains(&x));
            low |= x < 0.1;
            high |= x > 0.9;
        }
        assert!(low && high, "spread over the whole range");
        assert_ne!(Rng::new(0).next_u64(), 0);
    }
}
