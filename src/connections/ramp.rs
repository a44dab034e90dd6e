//! The connect ramp: at most `max_connecting_per_host` new connections per
//! origin still connecting at once. A request that needs one more waits in
//! its origin's queue; each connection that connects (or closes before it
//! could) lets the next one go. A burst of thousands then reaches a server
//! over a few round trips instead of one turn's flood of SYNs.

use super::slot::ConnSlot;
use super::{Connections, Dispatch};
use crate::conn::ConnState;
use crate::events::{CloseReason, Emitter, EventKind};
use crate::reactor::Token;
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One origin's connect ramp.
#[derive(Default)]
pub(super) struct Ramp {
    pub connecting: usize,
    /// Requests waiting, and whether each needs a fresh connection (a
    /// retry after a pooled one failed it: an idle one will not do).
    pub waiting: VecDeque<(Token, bool)>,
    /// On `ramp_ready` (at most once).
    pub listed: bool,
    /// Connections opened for a request, oldest first (slot, generation;
    /// those no longer connecting are skipped and pruned from the front).
    pub opened: VecDeque<(usize, u32)>,
}

impl Connections<'_> {
    /// Is `req`'s origin connecting as many new connections as allowed? Then
    /// `req` waits for one of them (true).
    pub(super) fn ramp_full(
        &mut self,
        req: Token,
        ex: &Dispatch<'_>,
        ev: &mut Emitter<'_>,
    ) -> bool {
        let limit = self.config.connections.max_connecting_per_host.max(1);
        let Some(ramp) = self.ramp.get_mut(ex.url.origin()) else {
            return false;
        };
        if ramp.connecting < limit {
            return false;
        }
        ramp.waiting.push_back((req, ex.fresh_only));
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
        if !std::mem::take(&mut self.slots[cslot].connecting) {
            return;
        }
        let key = self.slots[cslot].conn.key();
        let Some(ramp) = self.ramp.get_mut(key) else {
            return;
        };
        ramp.connecting -= 1;
        while let Some(&(c, generation)) = ramp.opened.front() {
            match self.slots.get(c) {
                Some(s) if s.generation == generation && s.connecting => break,
                _ => ramp.opened.pop_front(),
            };
        }
        if ramp.connecting == 0 && ramp.waiting.is_empty() {
            self.ramp.remove(key);
        } else {
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

    /// Connection `cslot` is idle in the pool: a request waiting on its
    /// origin's ramp takes it; or else the oldest request still waiting for
    /// a slow connect (longer than the happy-eyeballs delay) does, and that
    /// connect is closed. hyper's pool, too, gives a request whichever comes
    /// first, an idle connection or its connect. This is what keeps a SYN
    /// dropped by a full accept queue (the kernel sends it again after a
    /// second) from holding its request for that second. (Closed rather
    /// than kept for later: a spare connection would hold a place in the
    /// pool that no request in flight accounts for. A socket still in
    /// SYN-SENT closes without a packet.)
    pub(super) fn offer_idle(&mut self, cslot: usize, now: Instant, ev: &mut Emitter<'_>) {
        if self.ramp.is_empty() {
            return; // (the usual case: no burst in progress anywhere)
        }
        let key = self.slots[cslot].conn.key();
        let Some(ramp) = self.ramp.get_mut(key) else {
            return;
        };
        let moved = if ramp.waiting.is_empty() {
            let slow = self.config.timeouts.happy_eyeballs;
            let Some((c, req, id)) = slow_connect(ramp, &self.slots, slow, now) else {
                return; // nobody to give it to: it waits in the pool
            };
            ramp.waiting.push_front((req, false));
            Some((c, id))
        } else {
            None
        };
        // Someone waits now: list the origin (`ramp_wake`, on the entry at hand).
        if !ramp.listed {
            ramp.listed = true;
            self.ramp_ready.push_back(key.into());
        }
        if let Some((c, id)) = moved {
            self.stats.requests_moved += 1;
            let from = self.slots[c].conn.id();
            emit!(ev, EventKind::RequestMoved { req: id, from });
            self.detach(c);
            self.drop_busy_conn(c, CloseReason::Superseded, now, ev);
        }
    }

    /// The next request whose origin has room again: fewer connections
    /// connecting than allowed, or an idle one in the pool (unless it needs
    /// a fresh one). Dispatch it (with its `fresh_only`); `still_waiting`
    /// says whether it still wants a connection: one whose deadline ended
    /// it gives its turn to the next.
    ///
    /// An origin stays listed while it has room and waiters, so one call
    /// per waiter drains it: a waiter that took an idle connection left the
    /// connect it was woken for unused, and the next waiter gets it. (Waking
    /// exactly one per finished connect lost those turns: waiters were
    /// stranded until their deadline once no connect was left to finish.)
    #[must_use]
    pub fn poll_ramp_ready(
        &mut self,
        still_waiting: impl Fn(Token) -> bool,
    ) -> Option<(Token, bool)> {
        let limit = self.config.connections.max_connecting_per_host.max(1);
        while let Some(origin) = self.ramp_ready.front() {
            if let Some(ramp) = self.ramp.get_mut(origin) {
                let can_connect = ramp.connecting < limit;
                let idle = self.pool.idle_for(origin) > 0;
                while let Some(&(token, fresh_only)) = ramp.waiting.front() {
                    if !still_waiting(token) {
                        ramp.waiting.pop_front();
                    } else if can_connect || (idle && !fresh_only) {
                        ramp.waiting.pop_front();
                        return Some((token, fresh_only));
                    } else {
                        break; // no room for the first in line yet
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

/// For an idle connection of `ramp`'s origin, when nobody waits on the
/// ramp: the oldest connection still connecting (or resolving) for its
/// request for at least `slow`, and that request (token, id). One about to
/// finish is left to finish (abandoned, it would cost the server a
/// handshake for nothing); the oldest is first, so if it is not that slow,
/// none is.
fn slow_connect(
    ramp: &mut Ramp,
    slots: &Slab<ConnSlot>,
    slow: Duration,
    now: Instant,
) -> Option<(usize, Token, u64)> {
    while let Some(&(c, generation)) = ramp.opened.front() {
        let Some(slot) = slots.get(c) else {
            ramp.opened.pop_front();
            continue;
        };
        let before_sending = matches!(
            slot.conn.state(),
            ConnState::Resolving | ConnState::Connecting
        );
        let live = slot.generation == generation && slot.connecting && before_sending;
        let Some((req, id)) = slot.carrying.filter(|_| live) else {
            ramp.opened.pop_front();
            continue;
        };
        if now.saturating_duration_since(slot.attached_at) < slow {
            return None;
        }
        ramp.opened.pop_front();
        return Some((c, req, id));
    }
    None
}
