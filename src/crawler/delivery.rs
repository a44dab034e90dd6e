//! How finished outcomes leave the loop: to the caller's callback on the
//! loop's thread ([`Delivery::Inline`]), or to worker threads through a
//! bounded queue ([`Delivery::Workers`]), whose results come back to a
//! second callback on the loop's thread.
//!
//! Either way every outcome is counted once (in [`Run::complete`]) and
//! delivered once; callback time is measured (stalls are reported). With
//! workers, a full queue *holds* admission: no new request starts until
//! there is room, while requests in flight go on.

use super::Run;
use crate::events::EventKind;
use crate::outcome::Outcome;
use crate::workers::{Done, Pool};
use std::time::Instant;

/// Where outcomes go.
pub(super) enum Delivery<'f, F, G, R> {
    /// The caller's callback, on the loop's thread.
    Inline(&'f mut F),
    /// Worker threads; their results to `on_result`, on the loop's thread.
    Workers { pool: Pool<R>, on_result: &'f mut G },
}

impl<F, G, R: Send + 'static> Delivery<'_, F, G, R> {
    /// Outcomes handed to workers whose results are not back yet.
    pub fn outstanding(&self) -> usize {
        match self {
            Delivery::Inline(_) => 0,
            Delivery::Workers { pool, .. } => pool.outstanding(),
        }
    }

    /// Stops the worker threads, if any (all results are in).
    pub fn finish(&mut self, run: &mut Run<'_>) {
        if let Delivery::Workers { pool, .. } = self {
            pool.finish();
            run.summary.workers = Some(pool.stats);
        }
    }
}

impl Run<'_> {
    /// Counts a finished outcome and queues it for delivery.
    pub(super) fn complete(&mut self, outcome: Outcome) {
        self.summary.record(&outcome);
        self.ready.push_back(outcome);
    }

    /// Delivers what is ready, and collects what workers finished.
    pub(super) fn deliver<F, G, R>(&mut self, d: &mut Delivery<'_, F, G, R>)
    where
        F: FnMut(&Outcome),
        G: FnMut(Done<R>),
        R: Send + 'static,
    {
        match d {
            Delivery::Inline(f) => self.deliver_inline(*f),
            Delivery::Workers { pool, on_result } => {
                self.collect(pool, *on_result);
                self.hand_out(pool);
            }
        }
    }

    /// Hands each ready outcome to the callback, timing it.
    fn deliver_inline<F: FnMut(&Outcome)>(&mut self, on_outcome: &mut F) {
        while let Some(mut outcome) = self.ready.pop_front() {
            let t0 = Instant::now();
            on_outcome(&outcome);
            self.timed_callback(t0, &outcome.url);
            if let Ok(resp) = &mut outcome.result {
                self.recycle(std::mem::take(resp));
            }
            // A stop from inside the callback takes effect at once: the
            // cancelled outcomes join the queue being delivered.
            self.check_stop(Instant::now());
        }
    }

    /// Gives ready outcomes to the workers until the queue is full; then
    /// admission is held until there is room again.
    fn hand_out<R: Send + 'static>(&mut self, pool: &mut Pool<R>) {
        let now = Instant::now();
        while let Some(outcome) = self.ready.pop_front() {
            if let Err(back) = pool.offer(outcome) {
                self.ready.push_front(back);
                self.held.get_or_insert(now);
                return;
            }
        }
        if let Some(since) = self.held.take() {
            pool.stats.held += now.saturating_duration_since(since);
        }
    }

    /// Hands the workers' results to `on_result` (timed like a callback),
    /// and takes back the buffers they left.
    fn collect<R: Send + 'static, G: FnMut(Done<R>)>(
        &mut self,
        pool: &mut Pool<R>,
        on_result: &mut G,
    ) {
        while let Some((done, buffers)) = pool.poll_result() {
            if let Err(message) = &done.result {
                log::warn!("item {}: {message}", done.id);
            }
            let t0 = Instant::now();
            on_result(done);
            self.timed_callback(t0, "(a worker's result)");
            if let Some(resp) = buffers {
                self.recycle(resp);
            }
        }
        self.check_stop(Instant::now());
    }

    /// Accounts a callback that started at `t0`; a long one is a stall.
    fn timed_callback(&mut self, t0: Instant, url: &str) {
        let took = t0.elapsed();
        if self
            .stats
            .record_callback(url, took, self.config.stall_threshold)
        {
            emit!(self, Instant::now(), EventKind::Stall { url, took });
            log::warn!("the callback for {url} held the loop for {took:?}");
        }
    }
}
