//! Retries: what a failed attempt leads to (the policy's verdict carried
//! out), and the backoff between attempts.

use super::{Deadline, Requests, Stage};
use crate::error::Error;
use crate::outcome::{AttemptReport, RetryCause};
use crate::policy::{judge_error, ErrorVerdict};
use crate::reactor::Token;
use std::time::Instant;

impl Requests {
    /// An attempt failed (its connection is closed): the policy says retry
    /// at once (on a fresh connection, on any, or over HTTP/1.1), retry after
    /// a backoff, or end.
    pub fn handle_failure(&mut self, token: Token, e: Error, report: AttemptReport, now: Instant) {
        if !self.is_active(token) {
            return;
        }
        let req = &mut self.reqs[token.slot];
        req.report = report;
        match judge_error(&e, &req.attempt(), &self.config.retry) {
            ErrorVerdict::RetryFresh => {
                // Not a backoff retry (no budget spent), but an attempt with
                // a cause like any other.
                req.retried_fresh = true;
                // (After an HTTP/2 stream, any connection: see
                // `AttemptReport::multiplexed`.)
                let fresh_only = !req.report.multiplexed;
                self.count_retry(token.slot, RetryCause::Error(e.phase, e.kind));
                self.fresh.push_back((token, fresh_only));
            }
            ErrorVerdict::RetryNow => {
                // (After a GOAWAY its connection takes no new stream, so it
                // goes to another; after a lone refusal perhaps to the same
                // one, as Go's client does.)
                req.retried_fresh = true;
                self.count_retry(token.slot, RetryCause::Error(e.phase, e.kind));
                self.fresh.push_back((token, false));
            }
            ErrorVerdict::RetryHttp1 => {
                req.http1_only = true;
                self.count_retry(token.slot, RetryCause::Error(e.phase, e.kind));
                self.fresh.push_back((token, false));
            }
            ErrorVerdict::Retry(cause) => self.retry(token.slot, cause, now),
            ErrorVerdict::Finish => {
                let _ = self.finish(token.slot, Err(e), now);
            }
        }
    }

    /// Notes a retry of request `slot` with its cause (one place for both
    /// kinds: backoff retries and the free retry on a fresh connection; the
    /// summary counts them from the outcome).
    pub(super) fn count_retry(&mut self, slot: usize, cause: RetryCause) {
        self.reqs[slot].retries.push(cause);
    }

    /// Releases the request's slot and schedules the next attempt after an
    /// exponential backoff with jitter.
    pub(super) fn retry(&mut self, slot: usize, cause: RetryCause, now: Instant) {
        self.count_retry(slot, cause);
        let req = &self.reqs[slot];
        self.admission.release(req.host, now);
        let wait = self
            .config
            .retry
            .backoff(req.backoff_retries, self.rng.unit());
        let timer = self
            .deadlines
            .insert(now + wait, Deadline::Retry(req.token(slot)));
        let req = &mut self.reqs[slot];
        req.backoff_retries += 1;
        req.stage = Stage::Backoff(timer);
    }

    /// A backoff ended: the request queues again at the head of its origin.
    pub(super) fn retry_due(&mut self, token: Token, now: Instant) {
        if matches!(self.get(token), Some(r) if matches!(r.stage, Stage::Backoff(_))) {
            self.park_front(token, now, "retry");
        }
    }
}
