//! The table's side of the [`Dialer`](crate::dialer::Dialer): telling it
//! what connections did, and acting on what it decides. A request waiting
//! for a connect or a descriptor holds no connection; the dialer gives it
//! back through [`poll_output`](Connections::poll_output) as
//! [`Output::Dial`], to be dispatched again.

use super::{Connections, Output};
use crate::error::Error;
use crate::events::{CloseReason, Emitter, EventKind};
use crate::outcome::AttemptReport;
use std::time::Instant;

impl Connections<'_> {
    /// Connection `cslot` is no longer connecting (connected, or closed):
    /// the dialer may let a request waiting on its origin's ramp go.
    pub(super) fn connected(&mut self, cslot: usize) {
        let slot = &mut self.slots[cslot];
        if std::mem::take(&mut slot.connecting) {
            let token = slot.token(cslot);
            self.dialer.handle_connected(slot.conn.key(), token);
        }
    }

    /// Connection `cslot` is idle in the pool: a request waiting on its
    /// origin's ramp will take it; or the dialer hands it the request of a
    /// slow connect, which is closed here.
    pub(super) fn offer_idle(&mut self, cslot: usize, now: Instant, ev: &mut Emitter<'_>) {
        let key = self.slots[cslot].conn.key();
        let Some((slow, req)) = self.dialer.handle_idle(key, now) else {
            return;
        };
        let Some((_, id)) = self.slots[slow.slot].carrying.filter(|&(r, _)| r == req) else {
            return;
        };
        let from = self.slots[slow.slot].conn.id();
        emit!(ev, EventKind::RequestMoved { req: id, from });
        self.detach(slow.slot);
        self.drop_busy_conn(slow.slot, CloseReason::Superseded, now, ev);
    }

    /// Connection `cslot` could not make a socket: running out of file
    /// descriptors is back-pressure, not a request's failure. An idle
    /// pooled connection is closed to free one, or the request waits
    /// (holding its admission slot, so nothing new starts meanwhile) until
    /// a connection closes. Only when nothing is open that could free one
    /// does the request fail, with `too_many_open_files`.
    pub(super) fn out_of_descriptors(
        &mut self,
        cslot: usize,
        error: Error,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        self.pool.handle_not_opened(self.slots[cslot].conn.key());
        let request = self.drop_conn(cslot, CloseReason::NoDescriptors, now, ev);
        let Some(req) = request else {
            return;
        };
        if let Some(idle) = self.pool.evict_lru() {
            self.drop_conn(idle.slot, CloseReason::Evicted, now, ev);
        }
        if !self.dialer.handle_no_descriptor(req, self.slots.is_empty()) {
            let report = AttemptReport::default();
            self.outputs
                .push_back(Output::Failed { req, error, report });
        }
    }

    /// Requests wait for a descriptor: while they do, nothing new starts
    /// (the open-file limit is the limit).
    pub fn fd_waiting(&self) -> bool {
        self.dialer.fd_waiting()
    }
}
