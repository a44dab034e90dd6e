//! The driver's timers: what the loop sleeps until, and what happens when
//! each kind of deadline passes.
//!
//! One heap ([`Timers`](crate::reactor::Timers)) holds three kinds of
//! deadlines: a connection's current phase, a request's total deadline, and
//! the end of a retry backoff. The pool, the DNS core and the admission queue
//! keep their own deadlines; [`Run::poll_timeout`] takes the earliest of all,
//! and [`Run::handle_timeouts`] hands the time to each.

use super::Run;
use crate::conn::net::MioNet;
use crate::reactor::Token;
use std::time::Instant;

/// What a timer in the driver's heap is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// The connection's current phase may have timed out.
    Conn(Token),
    /// The request's total deadline.
    Request(Token),
    /// The request's retry backoff is over.
    Retry(Token),
}

impl Run<'_> {
    /// The earliest deadline of every core: how long `poll` may block.
    pub(super) fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.timers.poll_timeout(),
            self.pool.poll_timeout(),
            self.dns.core.poll_timeout(),
            self.admission.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Hands `now` to every core whose deadline may have passed.
    pub(super) fn handle_timeouts(&mut self, now: Instant) {
        while let Some(kind) = self.timers.poll_expired(now) {
            match kind {
                TimerKind::Conn(token) => self.conn_timer(token, now),
                TimerKind::Request(token) => self.request_timer(token, now),
                TimerKind::Retry(token) => self.retry_timer(token, now),
            }
        }
        while let Some(token) = self.pool.poll_expired(now) {
            self.drop_conn(token.slot, "idle_expired", now);
        }
        if self.dns.core.poll_timeout().is_some_and(|t| t <= now) {
            self.dns.handle_timeout(self.poll.registry(), now);
        }
        self.dns_answers(now);
        // Paced origins become ready (started at the next turn's step 1),
        // lingering ones are forgotten.
        self.admission.handle_timeout(now);
    }

    /// Makes sure a timer fires no later than the connection's deadline.
    /// Deadlines that move later (the body idle timeout, on every read) do
    /// not touch the heap: the early timer fires, sees the later deadline,
    /// and re-arms once.
    pub(super) fn arm_conn_timer(&mut self, cslot: usize) {
        let slot = &mut self.conns[cslot];
        let Some(deadline) = slot.conn.poll_timeout(&self.config.timeouts) else {
            return;
        };
        match slot.timer_at {
            Some((_, at)) if at <= deadline => {}
            other => {
                if let Some((id, _)) = other {
                    self.timers.cancel(id);
                }
                let token = slot.token(cslot);
                let id = self.timers.insert(deadline, TimerKind::Conn(token));
                slot.timer_at = Some((id, deadline));
            }
        }
    }

    fn conn_timer(&mut self, token: Token, now: Instant) {
        let Some(slot) = self.conns.get_mut(token.slot) else {
            return;
        };
        // The slot was freed and reused since the timer was set: not ours.
        if slot.generation != token.generation {
            return;
        }
        slot.timer_at = None;
        let mut net = MioNet {
            registry: self.poll.registry(),
            token: token.to_mio(),
            scratch: &mut self.scratch,
        };
        let event = slot
            .conn
            .handle_timeout(&mut net, &self.config.timeouts, now);
        // `Pending`: the deadline moved later, or the next address is being
        // tried; `Failed`: a typed timeout, through the failure path (it may
        // be retried).
        self.on_conn_event(token.slot, event, now);
    }
}
