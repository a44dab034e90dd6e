//! Per-origin politeness: the [`Pacer`] of one origin, under the crawl's
//! [`Pacing`] settings.
//!
//! A pacer answers one question, "when may this origin start its next
//! request?" ([`Pacer::ready_at`]), from four rules:
//! - a minimum delay between request starts, plus random jitter;
//! - a rate (token bucket: `rate` per second, bursts of `burst`);
//! - pauses ([`Pacer::handle_pause`]) when the server says `Retry-After`;
//! - an adaptive concurrency limit (AIMD, in the spirit of Scrapy's
//!   AutoThrottle): halved on each `429` ([`Pacer::handle_throttle`]),
//!   raised by one after `grow_after` successes ([`Pacer::handle_success`]),
//!   never above the per-host maximum.
//!
//! Sans-IO: time and random numbers are parameters.

use crate::random::Rng;
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
    /// Seed of the crawl's random numbers (pacing jitter and retry backoff),
    /// for deterministic tests.
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

    /// The same settings with nonsense made harmless: a burst and a growth
    /// step of at least one, a rate that is positive and finite or none.
    pub fn sanitized(mut self) -> Pacing {
        self.burst = self.burst.max(1);
        self.grow_after = self.grow_after.max(1);
        if self.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            self.rate = None;
        }
        self
    }
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing::polite()
    }
}

/// One origin's pacing state.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Current concurrency limit (adaptive; the per-host maximum at most).
    limit: usize,
    successes: u32,
    /// No start before this (delay + jitter, and pauses).
    not_before: Option<Instant>,
    tokens: f64,
    refilled: Option<Instant>,
    /// The origin's own minimum delay between starts (robots.txt's
    /// `Crawl-delay`), if longer than the crawl's.
    min_delay: Duration,
}

impl Pacer {
    /// A fresh origin: full bucket, full limit `max`.
    pub fn new(pacing: &Pacing, max: usize) -> Pacer {
        Pacer {
            limit: max,
            successes: 0,
            not_before: None,
            tokens: pacing.burst as f64,
            refilled: None,
            min_delay: Duration::ZERO,
        }
    }

    /// This origin asked for at least `delay` between request starts.
    pub fn set_min_delay(&mut self, delay: Duration) {
        self.min_delay = self.min_delay.max(delay);
    }

    /// The origin's current concurrency limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// `None` if a start is allowed at `now`, else the instant it will be.
    /// A query: the token bucket is refilled lazily, when a start takes a
    /// token.
    pub fn ready_at(&self, pacing: &Pacing, now: Instant) -> Option<Instant> {
        let mut at = self.not_before.filter(|&t| t > now);
        if let Some(rate) = pacing.rate {
            let tokens = self.tokens_at(pacing, rate, now);
            if tokens < 1.0 {
                let t = now + Duration::from_secs_f64((1.0 - tokens) / rate);
                at = Some(at.map_or(t, |a| a.max(t)));
            }
        }
        at
    }

    /// The bucket's tokens at `now`: refilled at `rate` since the last
    /// refill, up to the burst.
    fn tokens_at(&self, pacing: &Pacing, rate: f64, now: Instant) -> f64 {
        match self.refilled {
            Some(t) => {
                let elapsed = now.saturating_duration_since(t).as_secs_f64();
                (self.tokens + elapsed * rate).min(pacing.burst as f64)
            }
            None => self.tokens,
        }
    }

    /// A request started at `now`: take a token, and hold the next start
    /// back by the delay plus jitter.
    pub fn handle_start(&mut self, pacing: &Pacing, now: Instant, rng: &mut Rng) {
        let mut gap = pacing.delay.max(self.min_delay);
        if !pacing.jitter.is_zero() {
            gap += pacing.jitter.mul_f64(rng.unit());
        }
        if let Some(rate) = pacing.rate {
            self.tokens = self.tokens_at(pacing, rate, now) - 1.0;
            self.refilled = Some(now);
        }
        if !gap.is_zero() {
            self.not_before = Some(now + gap);
        }
    }

    /// A success: a lowered limit grows back by one every `grow_after`
    /// successes. True when the limit grew.
    pub fn handle_success(&mut self, pacing: &Pacing, max: usize) -> bool {
        if self.limit >= max {
            return false;
        }
        self.successes += 1;
        if self.successes < pacing.grow_after {
            return false;
        }
        self.successes = 0;
        self.limit += 1;
        true
    }

    /// `429 Too Many Requests`: halve the limit (never below one). True when
    /// adaptive throttling is on and so acted.
    pub fn handle_throttle(&mut self, pacing: &Pacing) -> bool {
        if !pacing.adaptive {
            return false;
        }
        self.limit = (self.limit / 2).max(1);
        self.successes = 0;
        true
    }

    /// `Retry-After`: no start for `duration` (capped at `max_pause`).
    pub fn handle_pause(&mut self, pacing: &Pacing, duration: Duration, now: Instant) {
        let until = now + duration.min(pacing.max_pause);
        self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
    }

    /// Nothing worth remembering at `now`: full limit, no pause or delay
    /// pending, a full bucket. Such a pacer can be forgotten and made anew.
    pub fn is_settled(&self, pacing: &Pacing, max: usize, now: Instant) -> bool {
        let bucket_full = match (pacing.rate, self.refilled) {
            (Some(rate), Some(t)) => {
                self.tokens + now.saturating_duration_since(t).as_secs_f64() * rate
                    >= pacing.burst as f64
            }
            _ => true,
        };
        self.limit == max
            && self.not_before.is_none_or(|t| t <= now)
            && bucket_full
            && self.min_delay.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delay_then_jitter_hold_the_next_start() {
        let t = Instant::now();
        let p = Pacing {
            delay: ms(100),
            jitter: ms(50),
            ..Pacing::off()
        };
        let mut rng = Rng::new(1);
        let mut pacer = Pacer::new(&p, 4);
        assert_eq!(pacer.ready_at(&p, t), None);
        pacer.handle_start(&p, t, &mut rng);
        let at = pacer.ready_at(&p, t).unwrap();
        assert!(at >= t + ms(100) && at < t + ms(150), "{:?}", at - t);
        assert_eq!(pacer.ready_at(&p, at), None);
        assert!(!pacer.is_settled(&p, 4, t));
        assert!(pacer.is_settled(&p, 4, at));
    }

    #[test]
    fn aimd_table() {
        let p = Pacing {
            grow_after: 3,
            ..Pacing::off()
        };
        let mut pacer = Pacer::new(&p, 8);
        // (event, limit after)
        let steps: &[(&str, usize)] = &[
            ("429", 4),
            ("ok", 4),
            ("ok", 4),
            ("ok", 5),
            ("429", 2),
            ("429", 1),
            ("429", 1),
            ("ok", 1),
            ("ok", 1),
            ("ok", 2),
        ];
        for (i, (event, want)) in steps.iter().enumerate() {
            match *event {
                "429" => assert!(pacer.handle_throttle(&p)),
                _ => {
                    pacer.handle_success(&p, 8);
                }
            }
            assert_eq!(pacer.limit(), *want, "step {i}: {event}");
        }
        let fixed = Pacing {
            adaptive: false,
            ..p
        };
        let mut pacer = Pacer::new(&fixed, 8);
        assert!(!pacer.handle_throttle(&fixed));
        assert_eq!(pacer.limit(), 8);
    }

    #[test]
    fn pauses_are_capped_and_only_extend() {
        let t = Instant::now();
        let p = Pacing {
            max_pause: Duration::from_secs(10),
            ..Pacing::off()
        };
        let mut pacer = Pacer::new(&p, 1);
        pacer.handle_pause(&p, Duration::from_secs(3600), t);
        assert_eq!(pacer.ready_at(&p, t), Some(t + Duration::from_secs(10)));
        pacer.handle_pause(&p, Duration::from_secs(1), t);
        assert_eq!(pacer.ready_at(&p, t), Some(t + Duration::from_secs(10)));
    }

    #[test]
    fn nonsense_settings_are_made_harmless() {
        let p = Pacing {
            rate: Some(f64::NAN),
            burst: 0,
            grow_after: 0,
            ..Pacing::off()
        }
        .sanitized();
        assert_eq!((p.rate, p.burst, p.grow_after), (None, 1, 1));
        assert_eq!(
            Pacing {
                rate: Some(-1.0),
                ..p
            }
            .sanitized()
            .rate,
            None
        );
    }
}
