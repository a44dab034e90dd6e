//! How finished outcomes leave the loop: to the caller's callback on the
//! loop's thread ([`Delivery::Inline`]), or to worker threads through a
//! bounded queue ([`Delivery::Workers`]), whose results come back to a
//! second callback on the loop's thread.
//!
//! Either way every outcome was counted once (by the request core when it
//! was made) and is delivered once; callback time is measured (stalls are
//! reported). With workers, a full queue *holds* admission: no new request
//! starts until there is room, while requests in flight go on.

use super::run::Run;
use crate::outcome::Outcome;
use crate::workers::{Done, Job, QueueStats, WorkerPool};
use std::time::Instant;

/// Where outcomes go.
pub(super) enum Delivery<'f, F, G, R> {
    /// The caller's callback, on the loop's thread.
    Inline(&'f mut F),
    /// Worker threads; their results to `on_result`, on the loop's thread.
    Workers {
        pool: WorkerPool<R>,
        on_result: &'f mut G,
        /// An outcome (or robots fetch) the full queue did not take yet.
        waiting: Option<Box<Job>>,
    },
}

impl<F, G, R> Delivery<'_, F, G, R>
where
    F: FnMut(&Outcome),
    G: FnMut(Done<R>),
    R: Send + 'static,
{
    /// Outcomes handed out (or waiting to be) whose results are not back.
    pub fn outstanding(&self) -> usize {
        match self {
            Delivery::Inline(_) => 0,
            Delivery::Workers { pool, waiting, .. } => {
                pool.outstanding() + usize::from(waiting.is_some())
            }
        }
    }

    /// Stops the worker threads, if any (all results are in).
    pub fn finish(&mut self) -> Option<QueueStats> {
        match self {
            Delivery::Inline(_) => None,
            Delivery::Workers { pool, .. } => {
                pool.finish();
                Some(pool.stats)
            }
        }
    }

    /// Delivers what is ready, and collects what workers finished.
    pub fn deliver(&mut self, run: &mut Run<'_>) {
        match self {
            Delivery::Inline(on_outcome) => deliver_inline(run, *on_outcome),
            Delivery::Workers {
                pool,
                on_result,
                waiting,
            } => {
                collect(run, pool, *on_result);
                hand_out(run, pool, waiting);
            }
        }
    }
}

/// Hands each ready outcome to the callback, timing it.
fn deliver_inline<F: FnMut(&Outcome)>(run: &mut Run<'_>, on_outcome: &mut F) {
    while let Some(mut fetch) = run.next_robots_fetch() {
        // No workers: the robots sink runs here, like the callback.
        let t0 = Instant::now();
        if let Some(sink) = run.robots_sink() {
            sink.take(&fetch);
        }
        run.timed_callback(t0, &fetch.url);
        if let Ok(resp) = &mut fetch.result {
            run.recycle(std::mem::take(resp));
        }
    }
    while let Some(mut outcome) = run.next_outcome() {
        let t0 = Instant::now();
        on_outcome(&outcome);
        run.timed_callback(t0, &outcome.url);
        if let Ok(resp) = &mut outcome.result {
            run.recycle(std::mem::take(resp));
        }
        // A stop from inside the callback takes effect at once: the
        // cancelled outcomes join the queue being delivered.
        run.check_stop(Instant::now());
    }
}

/// Gives ready outcomes to the workers until the queue is full; then
/// admission is held until there is room again.
fn hand_out<R: Send + 'static>(
    run: &mut Run<'_>,
    pool: &mut WorkerPool<R>,
    waiting: &mut Option<Box<Job>>,
) {
    let now = Instant::now();
    let next = |run: &mut Run<'_>| {
        (run.next_robots_fetch().map(Job::Robots)).or_else(|| run.next_outcome().map(Job::Item))
    };
    while let Some(job) = waiting.take().map(|b| *b).or_else(|| next(run)) {
        if let Err(back) = pool.offer(job) {
            *waiting = Some(Box::new(back));
            run.held.get_or_insert(now);
            return;
        }
    }
    if let Some(since) = run.held.take() {
        pool.stats.held += now.saturating_duration_since(since);
    }
}

/// Hands the workers' results to `on_result` (timed like a callback), and
/// takes back the buffers they left.
fn collect<R: Send + 'static, G: FnMut(Done<R>)>(
    run: &mut Run<'_>,
    pool: &mut WorkerPool<R>,
    on_result: &mut G,
) {
    while let Some((done, buffers)) = pool.poll_result() {
        if let Some(Done {
            id,
            result: Err(message),
            ..
        }) = &done
        {
            log::warn!("item {id}: {message}");
        }
        if let Some(done) = done {
            let t0 = Instant::now();
            on_result(done);
            run.timed_callback(t0, "(a worker's result)");
        }
        if let Some(resp) = buffers {
            run.recycle(resp);
        }
    }
    run.check_stop(Instant::now());
}
