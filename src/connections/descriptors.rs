//! Running out of file descriptors is back-pressure, not a request's
//! failure: when no socket can be made (EMFILE/ENFILE), an idle pooled
//! connection is closed to free one, or the request waits (holding its
//! admission slot, so nothing new starts meanwhile) until a connection
//! closes. Only when nothing is open that could free one does the request
//! fail, with `too_many_open_files`.

use super::{Connections, Output};
use crate::error::Error;
use crate::events::{CloseReason, Emitter};
use crate::outcome::AttemptReport;
use crate::reactor::Token;
use std::time::Instant;

impl Connections<'_> {
    /// Connection `cslot` could not make a socket.
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
        if self.slots.is_empty() && self.fds_freed == 0 {
            let report = AttemptReport::default();
            self.outputs
                .push_back(Output::Failed { req, error, report });
            return;
        }
        self.fd_waiters.push_back(req);
        self.stats.descriptor_waits += 1;
    }

    /// Requests wait for a descriptor: while they do, nothing new starts
    /// (the open-file limit is the limit).
    pub fn fd_waiting(&self) -> bool {
        !self.fd_waiters.is_empty()
    }

    /// The next request that waited for a descriptor and may try again now:
    /// one per connection closed since, and one per idle pooled connection
    /// (reused if it is of the same origin, else closed to free its
    /// descriptor when the open fails again). `still_waiting` says whether
    /// the request still wants one (its deadline may have ended it).
    #[must_use]
    pub fn poll_fd_waiter(&mut self, still_waiting: impl Fn(Token) -> bool) -> Option<Token> {
        loop {
            if self.fd_waiters.is_empty() {
                self.fds_freed = 0;
                return None;
            }
            if self.fds_freed == 0 && self.pool.idle() == 0 {
                return None;
            }
            let token = self.fd_waiters.pop_front()?;
            if still_waiting(token) && self.carrier(token).is_none() {
                self.fds_freed = self.fds_freed.saturating_sub(1);
                return Some(token);
            }
        }
    }
}
