//! Loop statistics: always on, a few counters and clock reads per iteration.
//!
//! The point of a hand-written loop is that you can see where its time goes:
//! waiting in `poll`, doing protocol work, or running your callback. A callback
//! that holds the loop longer than the stall threshold is a *stall*: every
//! connection waits meanwhile, so stalls are counted and logged with the URL.

use std::fmt;
use std::time::{Duration, Instant};

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

/// The clock of one turn of the loop, from [`LoopStats::begin_turn`] to
/// [`LoopStats::end_turn`]. Each turn begins where the previous one ended, so
/// poll + protocol + callbacks add up to the run's wall time.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct TurnClock {
    start: Instant,
    poll: Duration,
    events: u64,
    callbacks_before: Duration,
}

/// One finished turn of the loop, as [`LoopStats::end_turn`] measured it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    /// When it ended (the next one begins here).
    pub ended: Instant,
    /// Blocked in `poll`.
    pub blocked: Duration,
    /// Readiness events `poll` returned.
    pub events: u64,
    /// Protocol work.
    pub protocol: Duration,
    /// In callbacks.
    pub callbacks: Duration,
}

impl LoopStats {
    /// Starts timing a turn at `now`.
    pub fn begin_turn(&self, now: Instant) -> TurnClock {
        TurnClock {
            start: now,
            poll: Duration::ZERO,
            events: 0,
            callbacks_before: self.time_in_callbacks,
        }
    }

    /// One `poll` call of this turn: it blocked from `before` to `after` and
    /// returned `events` events.
    pub fn record_poll(
        &mut self,
        turn: &mut TurnClock,
        before: Instant,
        after: Instant,
        events: u64,
    ) {
        let blocked = after.saturating_duration_since(before);
        turn.poll += blocked;
        turn.events += events;
        self.iterations += 1;
        self.time_in_poll += blocked;
        self.events += events;
        self.max_events_per_poll = self.max_events_per_poll.max(events);
    }

    /// Ends a turn at `now`: what was neither blocked in `poll` nor in a
    /// callback was protocol work. Returns the turn's parts; the next turn
    /// begins at `now`.
    pub fn end_turn(&mut self, turn: TurnClock, now: Instant) -> Turn {
        let callbacks = self.time_in_callbacks.saturating_sub(turn.callbacks_before);
        let total = now.saturating_duration_since(turn.start);
        let protocol = total.saturating_sub(turn.poll).saturating_sub(callbacks);
        self.time_in_protocol += protocol;
        Turn {
            ended: now,
            blocked: turn.poll,
            events: turn.events,
            protocol,
            callbacks,
        }
    }

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
    fn poll_protocol_and_callbacks_add_up_to_the_turns() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = LoopStats::default();
        // Turn 1: 2 ms of work, 10 ms in poll (3 events), a 5 ms callback, 1 ms of work.
        let mut turn = s.begin_turn(t0);
        s.record_poll(&mut turn, t0 + ms(2), t0 + ms(12), 3);
        s.record_callback("http://a/", ms(5), ms(20));
        let t1 = s.end_turn(turn, t0 + ms(18));
        assert_eq!(
            (t1.blocked, t1.protocol, t1.callbacks, t1.events),
            (ms(10), ms(3), ms(5), 3)
        );
        let t1 = t1.ended;
        // Turn 2 starts where turn 1 ended: 4 ms in poll, nothing else.
        let mut turn = s.begin_turn(t1);
        s.record_poll(&mut turn, t1, t1 + ms(4), 0);
        let t2 = s.end_turn(turn, t1 + ms(4)).ended;
        assert_eq!(s.time_in_poll, ms(14));
        assert_eq!(s.time_in_callbacks, ms(5));
        assert_eq!(s.time_in_protocol, ms(3));
        assert_eq!(
            s.time_in_poll + s.time_in_protocol + s.time_in_callbacks,
            t2 - t0,
            "the parts add up to the wall time"
        );
        assert_eq!((s.iterations, s.events, s.max_events_per_poll), (2, 3, 3));
    }

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
