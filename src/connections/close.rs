//! Closing connections: a slot freed, its timer cancelled, its descriptor
//! offered to a request waiting for one, and what the connection went
//! through reported as events.

use super::Connections;
use crate::events::{CloseReason, Emitter, EventKind};
use crate::reactor::Token;
use std::time::Instant;

impl Connections<'_> {
    /// Closes a connection the pool counts as open (busy, or failed): it
    /// leaves the pool's count. Returns the request it carried.
    pub(super) fn drop_busy_conn(
        &mut self,
        cslot: usize,
        reason: CloseReason,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) -> Option<Token> {
        self.pool.handle_closed(self.slots[cslot].conn.key());
        self.drop_conn(cslot, reason, now, ev)
    }

    /// Closes a connection and frees its slot and timer (the pool already
    /// forgot it: evicted, expired, or closed by the server while idle).
    /// Returns the request it carried.
    pub(super) fn drop_conn(
        &mut self,
        cslot: usize,
        reason: CloseReason,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) -> Option<Token> {
        // A connection that never connected leaves the ramp too.
        self.connected(cslot);
        self.unshare(cslot);
        // Usually closed already by the state machine; closing twice is harmless.
        self.with_net(cslot, |conn, net| conn.close(net, now));
        // Its descriptor, if it had one, may go to a request waiting for one.
        if self.slots[cslot].conn.held_socket() {
            self.dialer.handle_descriptor_freed();
        }
        self.drain_transitions(cslot, ev);
        let conn = self.slots[cslot].conn.id();
        emit!(ev, EventKind::ConnClosed { conn, reason });
        let request = self.detach(cslot);
        let slot = self.slots.remove(cslot);
        if let Some((id, _)) = slot.timer_at {
            self.timers.cancel(id);
        }
        request
    }

    /// Closes every connection left (the crawl ended).
    pub fn close_all(&mut self, now: Instant, ev: &mut Emitter<'_>) {
        let slots: Vec<usize> = self.slots.iter().map(|(i, _)| i).collect();
        for cslot in slots {
            self.drop_conn(cslot, CloseReason::End, now, ev);
        }
    }

    /// Emits the connection's state transitions since the last drain.
    pub(super) fn drain_transitions(&mut self, cslot: usize, ev: &mut Emitter<'_>) {
        let req = self.slots[cslot].carrying.map(|(_, id)| id);
        self.drain_transitions_of(cslot, req, ev);
    }

    /// The same, naming `req` as the request the transitions belong to.
    pub(super) fn drain_transitions_of(
        &mut self,
        cslot: usize,
        req: Option<u64>,
        ev: &mut Emitter<'_>,
    ) {
        if !ev.is_on() {
            return;
        }
        let conn = self.slots[cslot].conn.id();
        while let Some(addr) = self.slots[cslot].conn.poll_attempt() {
            emit!(ev, EventKind::ConnectAttempt { conn, addr });
        }
        while let Some((from, to)) = self.slots[cslot].conn.poll_transition() {
            emit!(
                ev,
                EventKind::ConnState {
                    conn,
                    req,
                    from,
                    to
                }
            );
        }
    }
}
