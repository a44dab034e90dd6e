//! The connect ramp: at most `max_connecting_per_host` new connections per
//! origin still connecting at once. A request that needs one more waits in
//! its origin's queue; each connection that connects (or closes before it
//! could) lets the next one go. A burst of thousands then reaches a server
//! over a few round trips instead of one turn's flood of SYNs.

use super::{Connections, Exchange};
use crate::events::{Emitter, EventKind};
use crate::reactor::Token;
use std::collections::VecDeque;

/// One origin's connect ramp.
#[derive(Default)]
pub(super) struct Ramp {
    pub connecting: usize,
    pub waiting: VecDeque<Token>,
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
        if !ramp.waiting.is_empty() {
            self.ramp_ready.push_back(slot.conn.key().into());
        } else if ramp.connecting == 0 {
            self.ramp.remove(slot.conn.key());
        }
    }

    /// The next request whose origin's ramp has room again (dispatch it;
    /// `still_waiting` says whether it still wants a connection: one whose
    /// deadline ended it gives its turn to the next).
    #[must_use]
    pub fn poll_ramp_ready(&mut self, still_waiting: impl Fn(Token) -> bool) -> Option<Token> {
        while let Some(origin) = self.ramp_ready.pop_front() {
            let Some(ramp) = self.ramp.get_mut(&origin) else {
                continue;
            };
            while let Some(token) = ramp.waiting.pop_front() {
                if still_waiting(token) {
                    return Some(token);
                }
            }
            if ramp.connecting == 0 {
                self.ramp.remove(&origin);
            }
        }
        None
    }
}
