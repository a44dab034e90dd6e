//! Loop statistics: always on, a few counters and clock reads per iteration.
//!
//! The point of a hand-written loop is that you can see where its time goes:
//! waiting in `poll`, doing protocol work, or running your callback. A callback
//! that holds the loop longer than the stall threshold is a *stall*: every
//! connection waits meanwhile, so stalls are counted and logged with the URL.

use std::fmt;
use std::time::Duration;

/// One stall: a user callback that held the loop too long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// The URL whose outcome the callback was handling.
    pub url: String,
    /// How long the callback ran.
    pub duration: Duration,
}

/// How many stalls are kept with their URL (all are counted).
pub const STALLS_KEPT: usize = 16;

/// Counters of the event loop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Times round the loop (one `poll` each).
    pub iterations: u64,
    /// Readiness events handled, in total.
    pub events: u64,
    /// The most events one `poll` returned.
    pub max_events_per_poll: u64,
    /// Time blocked in `poll`.
    pub time_in_poll: Duration,
    /// Time in protocol work: reading, parsing, writing, timers, admission.
    pub time_in_protocol: Duration,
    /// Time in the user's outcome callback.
    pub time_in_callbacks: Duration,
    /// Callbacks that ran longer than the stall threshold.
    pub stalls: u64,
    /// The longest callback run.
    pub longest_callback: Duration,
    /// The first few stalls, with their URL.
    pub stall_log: Vec<Stall>,
}

impl LoopStats {
    /// Mean events per `poll`.
    pub fn events_per_poll(&self) -> f64 {
        if self.iterations == 0 {
            0.0
        } else {
            self.events as f64 / self.iterations as f64
        }
    }

    /// Records one callback run; returns true if it was a stall.
    pub fn record_callback(&mut self, url: &str, took: Duration, threshold: Duration) -> bool {
        self.time_in_callbacks += took;
        self.longest_callback = self.longest_callback.max(took);
        if took < threshold {
            return false;
        }
        self.stalls += 1;
        if self.stall_log.len() < STALLS_KEPT {
            self.stall_log.push(Stall {
                url: url.to_string(),
                duration: took,
            });
        }
        true
    }
}

impl fmt::Display for LoopStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} iterations, {:.1} events/poll (max {}), poll {:.3}s, protocol {:.3}s, callbacks {:.3}s, {} stalls (longest callback {:.1} ms)",
            self.iterations,
            self.events_per_poll(),
            self.max_events_per_poll,
            self.time_in_poll.as_secs_f64(),
            self.time_in_protocol.as_secs_f64(),
            self.time_in_callbacks.as_secs_f64(),
            self.stalls,
            self.longest_callback.as_secs_f64() * 1e3,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_are_counted_and_logged_up_to_a_bound() {
        let mut s = LoopStats::default();
        let threshold = Duration::from_millis(10);
        assert!(!s.record_callback("http://a/", Duration::from_millis(1), threshold));
        for i in 0..20 {
            assert!(s.record_callback(
                &format!("http://s/{i}"),
                Duration::from_millis(15),
                threshold
            ));
        }
        assert_eq!(s.stalls, 20);
        assert_eq!(s.stall_log.len(), STALLS_KEPT);
        assert_eq!(s.stall_log[0].url, "http://s/0");
        assert_eq!(s.time_in_callbacks, Duration::from_millis(301));
        assert_eq!(s.longest_callback, Duration::from_millis(15));
    }
}
