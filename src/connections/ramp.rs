//! The connect ramp: at most `max_connecting_per_host` new connections per
//! origin still connecting at once. A request that needs one more waits in
//! its origin's queue; each connection that connects (or closes before it
//! could) lets the next one go. A burst of thousands then reaches a server
//! over a few round trips instead of one turn's flood of SYNs.

use super::{Connections, Exchange};
use crate::events::{Emitter, EventKind};
use crate::reactor::Token;
use std::collections::{HashMap, VecDeque};

/// One origin's connect ramp.
#[derive(Default)]
pub(super) struct Ramp {
    pub connecting: usize,
    pub waiting: VecDeque<Token>,
    /// On `ramp_ready` (at most once).
    pub listed: bool,
}

impl Connections<'_> {
    /// Is `req`'s origin connecting as many new connections as allowed? Then
    /// `req` waits for one of them (true).
    pub(super) fn ramp_full(
        &mut self,
        req: Token,
        ex: &Exchange<'_>,
        ev: &mut Emitter<'_>,
    ) -> bool {
        let limit = self.config.connections.max_connecting_per_host.max(1);
        let Some(ramp) = self.ramp.get_mut(ex.url.origin()) else {
            return false;
        };
        if ramp.connecting < limit {
            return false;
        }
        ramp.waiting.push_back(req);
        self.stats.ramp_waits += 1;
        let connecting = ramp.connecting;
        emit!(
            ev,
            EventKind::ConnectWait {
                req: ex.id,
                connecting
            }
        );
        true
    }

    /// Connection `cslot` is no longer connecting (connected, or closed):
    /// a request waiting on its origin's ramp may go.
    pub(super) fn connected(&mut self, cslot: usize) {
        let slot = &mut self.slots[cslot];
        if !std::mem::take(&mut slot.connecting) {
            return;
        }
        let Some(ramp) = self.ramp.get_mut(slot.conn.key()) else {
            return;
        };
        ramp.connecting -= 1;
        if ramp.connecting == 0 && ramp.waiting.is_empty() {
            self.ramp.remove(slot.conn.key());
        } else {
            let key = slot.conn.key();
            Self::ramp_wake(&mut self.ramp, &mut self.ramp_ready, key);
        }
    }

    /// Puts `key` on the list of origins to look at, if requests wait on
    /// its ramp and it is not listed already: after a connect finished, or
    /// when one of its connections went back to the pool idle (a waiter can
    /// take it, no connect needed).
    pub(super) fn ramp_wake(
        ramps: &mut HashMap<Box<str>, Ramp>,
        ready: &mut VecDeque<Box<str>>,
        key: &str,
    ) {
        if ramps.is_empty() {
            return; // (the usual case: no burst in progress anywhere)
        }
        if let Some(ramp) = ramps.get_mut(key) {
            if !ramp.waiting.is_empty() && !ramp.listed {
                ramp.listed = true;
                ready.push_back(key.into());
            }
        }
    }

    /// The next request whose origin has room again: fewer connections
    /// connecting than allowed, or an idle one in the pool (dispatch it;
    /// `still_waiting` says whether it still wants a connection: one whose
    /// deadline ended it gives its turn to the next).
    ///
    /// An origin stays listed while it has room and waiters, so one call
    /// per waiter drains it: a waiter that took an idle connection left the
    /// connect it was woken for unused, and the next waiter gets it. (Waking
    /// exactly one per finished connect lost those turns: waiters were
    /// stranded until their deadline once no connect was left to finish.)
    #[must_use]
    pub fn poll_ramp_ready(&mut self, still_waiting: impl Fn(Token) -> bool) -> Option<Token> {
        let limit = self.config.connections.max_connecting_per_host.max(1);
        while let Some(origin) = self.ramp_ready.front() {
            if let Some(ramp) = self.ramp.get_mut(origin) {
                if ramp.connecting < limit || self.pool.idle_for(origin) > 0 {
                    while let Some(token) = ramp.waiting.pop_front() {
                        if still_waiting(token) {
                            return Some(token);
                        }
                    }
                }
                ramp.listed = false;
                if ramp.connecting == 0 && ramp.waiting.is_empty() {
                    self.ramp.remove(origin);
                }
            }
            self.ramp_ready.pop_front();
        }
        None
    }
}
