//! Work off the loop: a pool of std threads that run *your* function on each
//! outcome, fed through a bounded queue, so that parsing, saving or sleeping
//! never holds the loop (the cure for "a blocking call freezes the loop").
//!
//! Use it through [`Crawler::run_with_workers`](crate::Crawler::run_with_workers):
//!
//! ```
//! use oneloop::{Config, Crawler, workers::Workers};
//! use oneloop::demo::DemoServer;
//!
//! let server = DemoServer::start(2, 1024).unwrap();
//! let mut crawler = Crawler::new(Config::local()).unwrap();
//! let mut total = 0;
//! let summary = crawler.run_with_workers(
//!     server.urls(200),
//!     Workers::new(4),
//!     // On a worker thread: the outcome is yours to read, and its body to
//!     // take (`std::mem::take`); what you leave is recycled.
//!     |outcome| outcome.result.as_ref().map_or(0, |r| r.body.len()),
//!     // Back on the loop's thread, in order of completion.
//!     |done| total += done.result.unwrap(),
//! ).unwrap();
//! assert_eq!((summary.outcomes, total), (200, 200 * 1024));
//! ```
//!
//! Back-pressure: when the queue is full the loop stops admitting new
//! requests, but keeps driving those in flight (their timers, DNS, reads),
//! so a slow function never makes a healthy request time out, and memory
//! stays bounded by `concurrency + queue`. A panic in your function becomes
//! that item's `Err`, never a dead crawl or a lost outcome.

use crate::config::RobotsSink;
use crate::http::Response;
use crate::outcome::Outcome;
use mio::Waker;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How many worker threads, and how many outcomes may wait for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workers {
    /// Threads running your function.
    pub threads: usize,
    /// Outcomes waiting for a thread; when it is full, admission stops.
    pub queue: usize,
}

impl Workers {
    /// `threads` threads and a queue of four outcomes per thread.
    pub fn new(threads: usize) -> Workers {
        let threads = threads.clamp(1, 1024);
        Workers {
            threads,
            queue: threads * 4,
        }
    }
}

/// What came back from a worker for one input item.
#[derive(Debug)]
pub struct Done<R> {
    /// The outcome's id.
    pub id: u64,
    /// The outcome's input line, if known.
    pub line: Option<u64>,
    /// Your function's value, or the message of its panic.
    pub result: Result<R, String>,
}

/// Counters of the queue, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Worker threads.
    pub threads: usize,
    /// The queue's capacity.
    pub capacity: usize,
    /// The most outcomes out of the loop at once: waiting in the queue, in a
    /// worker's hands, or on their way back. (Not the queue's own depth: it
    /// can exceed `capacity`, by at most one per thread plus the results not
    /// collected yet.)
    pub high_water: usize,
    /// How long admission was held back because the queue was full.
    pub held: std::time::Duration,
    /// Items whose function panicked.
    pub panics: u64,
}

/// What a worker is handed: an input's outcome for your function, or a
/// robots.txt the gate fetched for the robots sink (`RobotsConfig::on_fetch`).
pub(crate) enum Job {
    /// An input's outcome: your function's, its result comes back.
    Item(Outcome),
    /// A robots.txt fetch: the sink's; nothing comes back but its buffers.
    Robots(Outcome),
}

/// A result (none for a robots fetch), and the buffers left to reuse.
pub(crate) type Returned<R> = (Option<Done<R>>, Option<Response>);

/// The running pool (crate-private: the driver holds it for one run).
pub(crate) struct WorkerPool<R> {
    tx: Option<SyncSender<Job>>,
    results: Receiver<Returned<R>>,
    threads: Vec<JoinHandle<()>>,
    /// Handed out, not yet collected.
    outstanding: usize,
    /// The loop found the queue full: the next worker to take an item wakes it.
    waiting_for_room: Arc<AtomicBool>,
    /// A worker has woken the loop for results it has not drained yet:
    /// the others need not wake it again.
    wake_pending: Arc<AtomicBool>,
    pub stats: QueueStats,
}

impl<R: Send + 'static> WorkerPool<R> {
    /// Starts the threads. `waker` wakes the loop when results come back
    /// (and when the queue has room again after it was found full).
    pub fn start<W>(
        config: Workers,
        work: W,
        robots: Option<RobotsSink>,
        waker: Arc<Waker>,
    ) -> std::io::Result<WorkerPool<R>>
    where
        W: Fn(&mut Outcome) -> R + Send + Sync + 'static,
    {
        let threads = config.threads.clamp(1, 1024);
        let capacity = config.queue.clamp(1, 1 << 20);
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
        let (res_tx, results) = mpsc::channel::<Returned<R>>();
        let rx = Arc::new(Mutex::new(rx));
        let work = Arc::new(work);
        let waiting_for_room = Arc::new(AtomicBool::new(false));
        let wake_pending = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let (rx, res_tx, work, waker) =
                (rx.clone(), res_tx.clone(), work.clone(), waker.clone());
            let robots = robots.clone();
            let room = waiting_for_room.clone();
            let pending = wake_pending.clone();
            let handle = std::thread::Builder::new()
                .name(format!("oneloop-worker-{i}"))
                .spawn(move || loop {
                    let next = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = next else {
                        return; // the loop is done: no more work
                    };
                    if room.swap(false, Ordering::SeqCst) {
                        let _ = waker.wake();
                    }
                    let (done, outcome) = match job {
                        Job::Item(mut outcome) => {
                            let result = catch_unwind(AssertUnwindSafe(|| work(&mut outcome)))
                                .map_err(|p| panic_message(p.as_ref()));
                            let done = Done {
                                id: outcome.id,
                                line: outcome.line,
                                result,
                            };
                            (Some(done), outcome)
                        }
                        Job::Robots(outcome) => {
                            if let Some(sink) = &robots {
                                let run = catch_unwind(AssertUnwindSafe(|| sink.take(&outcome)));
                                if let Err(p) = run {
                                    let message = panic_message(p.as_ref());
                                    log::warn!("{}: robots sink: {message}", outcome.url);
                                }
                            }
                            (None, outcome)
                        }
                    };
                    // Whatever buffers the function left go back for reuse.
                    let buffers = outcome.result.ok();
                    if res_tx.send((done, buffers)).is_err() {
                        return;
                    }
                    // One wake per batch, not per page: only the first
                    // result since the loop last found the queue empty
                    // pays the system call (and the loop's extra turn).
                    if !pending.swap(true, Ordering::SeqCst) {
                        let _ = waker.wake();
                    }
                })?;
            handles.push(handle);
        }
        Ok(WorkerPool {
            tx: Some(tx),
            results,
            threads: handles,
            outstanding: 0,
            waiting_for_room,
            wake_pending,
            stats: QueueStats {
                threads,
                capacity,
                ..QueueStats::default()
            },
        })
    }

    /// Hands an outcome to the workers, or gives it back when the queue is
    /// full (the loop then holds admission until there is room).
    #[allow(clippy::result_large_err)] // ownership goes back, no allocation
    pub fn offer(&mut self, outcome: Job) -> Result<(), Job> {
        let Some(tx) = &self.tx else {
            return Err(outcome);
        };
        match tx.try_send(outcome) {
            Ok(()) => {
                self.outstanding += 1;
                self.stats.high_water = self.stats.high_water.max(self.outstanding);
                Ok(())
            }
            Err(TrySendError::Full(o)) => {
                self.waiting_for_room.store(true, Ordering::SeqCst);
                // A worker may have taken an item between the try and the
                // flag: try once more, so no wake-up is lost.
                match tx.try_send(o) {
                    Ok(()) => {
                        self.outstanding += 1;
                        self.stats.high_water = self.stats.high_water.max(self.outstanding);
                        Ok(())
                    }
                    Err(TrySendError::Full(o)) | Err(TrySendError::Disconnected(o)) => Err(o),
                }
            }
            Err(TrySendError::Disconnected(o)) => Err(o),
        }
    }

    /// The next result that came back, if any.
    pub fn poll_result(&mut self) -> Option<Returned<R>> {
        let r = match self.results.try_recv() {
            Ok(r) => r,
            Err(_) => {
                // Drained: the next result must wake the loop. Cleared
                // before a last look, so a result sent just before (whose
                // worker saw the flag still set and did not wake) is not
                // left behind.
                self.wake_pending.store(false, Ordering::SeqCst);
                self.results.try_recv().ok()?
            }
        };
        self.outstanding -= 1;
        if r.0.as_ref().is_some_and(|d| d.result.is_err()) {
            self.stats.panics += 1;
        }
        Some(r)
    }

    /// Outcomes handed out and not yet back.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Stops the threads (after the queue is drained) and waits for them.
    pub fn finish(&mut self) {
        self.tx = None;
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

impl<R> Drop for WorkerPool<R> {
    fn drop(&mut self) {
        self.tx = None; // the threads end when the channel closes
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let text = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into());
    format!("the worker's function panicked: {text}")
}
