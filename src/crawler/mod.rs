//! The driver: one thread, one `mio::Poll`, and the glue between two
//! owners — the sans-IO [request core](crate::requests) (every request from
//! input to outcome) and the [connection table](crate::connections) (every
//! socket) — plus the DNS driver and the callbacks.
//!
//! [`Crawler::run`] is the loop, one turn at a time:
//! 1. **pull and start**: pull input while the request core wants more, and
//!    send every request it lets through;
//! 2. **poll**: block in `poll` until readiness or the earliest deadline;
//! 3. **drive**: hand each readiness event to its connection (or DNS
//!    socket), then carry what they produced to the request core;
//! 4. **timers**: hand the time to every core whose deadline passed;
//! 5. **deliver**: hand each finished [`Outcome`] to the callback (or the
//!    workers).
//!
//! [`run::Run`] holds the two owners and moves outputs between them
//! (`settle`); [`delivery`] is where outcomes leave the loop.

mod delivery;
mod run;

use crate::config::Config;
use crate::dns::{DnsCore, DnsDriver, Resolver};
use crate::error::{Error, Phase};
use crate::events::{Event, Observer};
use crate::input::{Input, IntoInput, Pull};
use crate::outcome::Outcome;
use crate::reactor::{Source, Token, WAKER_TOKEN};
use crate::summary::Summary;
use crate::workers::{Done, WorkerPool, Workers};
use delivery::Delivery;
use mio::{Events, Poll, Registry, Waker};
pub use run::Progress;
use run::{Flags, Run};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Stops a running crawl from another thread (or from the callback).
#[derive(Clone)]
pub struct Handle {
    stop: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
    waker: Arc<Waker>,
    progress: Arc<Counters>,
}

/// The loop's side of [`Progress`], stored once per turn.
#[derive(Default)]
struct Counters {
    in_flight: AtomicUsize,
    queued: AtomicUsize,
    waiting_for_robots: AtomicUsize,
}

impl Counters {
    fn store(&self, p: Progress) {
        self.in_flight.store(p.in_flight, Ordering::Relaxed);
        self.queued.store(p.queued, Ordering::Relaxed);
        let robots = &self.waiting_for_robots;
        robots.store(p.waiting_for_robots, Ordering::Relaxed);
    }
}

/// The input, as the loop pulls it: numbered, until it is done.
struct Feed<I> {
    input: I,
    next_id: u64,
    done: bool,
}

impl<I: Input> Feed<I> {
    /// Step 1 of a turn: pulls input while the request core wants more, and
    /// starts (and delivers) what the limits allow after each item.
    fn pull_and_start<F, G, R>(&mut self, run: &mut Run<'_>, delivery: &mut Delivery<'_, F, G, R>)
    where
        F: FnMut(&Outcome),
        G: FnMut(Done<R>),
        R: Send + 'static,
    {
        let mut now = Instant::now();
        run.check_stop(now);
        // What the robots.txt files fetched since said about sitemaps, to
        // the input before it is pulled (a crawl reads them).
        while let Some((origin, sitemaps)) = run.next_robots_sitemaps() {
            self.input.handle_robots_sitemaps(&origin, sitemaps);
        }
        while !self.done && run.wants_input() {
            match self.input.pull() {
                // Timed after the pull: a slow source is not the
                // request's wait.
                Pull::Item(item) => {
                    now = Instant::now();
                    run.accept(item, self.next_id, now);
                    self.next_id += 1;
                }
                // Read on another thread, not there yet: the waker
                // brings the loop back when it is.
                Pull::Pending => break,
                Pull::Done => self.done = true,
            }
            run.start(now);
            delivery.deliver(run);
        }
        run.start(now);
        run.flush_streams(now);
        delivery.deliver(run);
    }
}

impl Handle {
    /// Stops pulling input; requests not yet started end as `cancelled`
    /// outcomes, requests in flight finish.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// Stops at once: as [`stop`](Self::stop), and requests in flight end as
    /// `cancelled` outcomes too (their connections are closed), so `run`
    /// returns within a turn of the loop with every outcome delivered.
    pub fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
        self.stop();
    }

    /// Requests in flight, as of the loop's last turn (for progress lines).
    pub fn in_flight(&self) -> usize {
        self.progress.in_flight.load(Ordering::Relaxed)
    }

    /// Where the requests are, as of the loop's last turn.
    pub fn progress(&self) -> Progress {
        let p = &self.progress;
        Progress {
            in_flight: p.in_flight.load(Ordering::Relaxed),
            queued: p.queued.load(Ordering::Relaxed),
            waiting_for_robots: p.waiting_for_robots.load(Ordering::Relaxed),
        }
    }
}

/// The crawler. See [the crate docs](crate) for an example.
pub struct Crawler {
    config: Config,
    poll: Poll,
    /// A second handle on the poll's registry: the connection table and the
    /// DNS driver register sockets through it while the loop holds `poll`.
    registry: Registry,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
    progress: Arc<Counters>,
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    dns: DnsDriver<Token>,
    observer: Option<Observer>,
}

impl Crawler {
    /// A crawler with this configuration. Fails on a nonsensical config or if
    /// the OS refuses an event queue.
    pub fn new(config: Config) -> Result<Crawler, Error> {
        config.validate()?;
        let poll = Poll::new().map_err(|e| Error::from_io(Phase::Admission, &e))?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)
            .map_err(|e| Error::from_io(Phase::Admission, &e))?;
        let resolver = Resolver::new(&config.resolve);
        let mut dns_config = config.dns.clone();
        if dns_config.nameservers.is_empty() {
            let rc = std::fs::read_to_string("/etc/resolv.conf")
                .map(|t| crate::dns::parse_resolv_conf(&t))
                .unwrap_or_default();
            dns_config.nameservers = rc.nameservers;
            if let Some(t) = rc.timeout {
                dns_config.timeout = t;
            }
            if let Some(a) = rc.attempts {
                dns_config.attempts = a;
            }
        }
        let dns = DnsDriver::new(DnsCore::new(dns_config));
        let t = &config.tls;
        let tls = crate::tls::client_config(&crate::tls::TlsOptions {
            webpki_roots: t.webpki_roots,
            extra_roots: &t.extra_roots,
            ca_file: t.ca_file.as_deref(),
            danger_accept_invalid_certs: t.danger_accept_invalid_certs,
            session_cache: t.session_cache,
            http2: t.http2,
        })?;
        let registry = poll
            .registry()
            .try_clone()
            .map_err(|e| Error::from_io(Phase::Admission, &e))?;
        Ok(Crawler {
            registry,
            dns,
            tls,
            config,
            poll,
            waker: Arc::new(waker),
            stop: Arc::new(AtomicBool::new(false)),
            abort: Arc::new(AtomicBool::new(false)),
            progress: Arc::default(),
            resolver,
            observer: None,
        })
    }

    /// Sends every event of the following runs to `observer`, on the loop's
    /// thread, as it happens (see [`crate::events`]). Without an observer,
    /// events cost nothing.
    pub fn set_observer(&mut self, observer: impl FnMut(&Event<'_>) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// Removes the observer.
    pub fn clear_observer(&mut self) {
        self.observer = None;
    }

    /// The configuration, to change a setting for the next runs (the crawl
    /// glue's robots.txt sitemaps).
    #[cfg(feature = "follow")]
    pub(crate) fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle that can stop the crawl from another thread.
    pub fn handle(&self) -> Handle {
        Handle {
            stop: self.stop.clone(),
            abort: self.abort.clone(),
            waker: self.waker.clone(),
            progress: self.progress.clone(),
        }
    }

    /// Fetches every URL of `input`, pulling it lazily, and calls `on_outcome`
    /// once per item. Returns when every item has its outcome (or the crawl
    /// was stopped and every started request has finished).
    ///
    /// Fails only if the OS event queue itself fails (`poll` returns an
    /// error other than `EINTR`); every request known by then still gets its
    /// outcome, with that error.
    ///
    /// `input` is any iterator of URLs or [`Request`](crate::Request)s,
    /// pulled on the loop's thread; wrap a source that may block (a pipe, a
    /// socket) in an [`InputThread`](crate::input::InputThread).
    pub fn run<I, F>(&mut self, input: I, mut on_outcome: F) -> Result<Summary, Error>
    where
        I: IntoInput,
        F: FnMut(&Outcome),
    {
        let delivery = Delivery::<F, fn(Done<()>), ()>::Inline(&mut on_outcome);
        self.run_with(input, delivery)
    }

    /// Like [`run`](Self::run), but each outcome goes to `work`, run on one
    /// of `workers.threads` threads, through a queue of `workers.queue`; its
    /// value comes back to `on_result` on the loop's thread, in order of
    /// completion. When the queue is full no new request starts, but those
    /// in flight go on. A panic in `work` becomes that item's `Err`. See
    /// [`crate::workers`].
    pub fn run_with_workers<I, W, R, G>(
        &mut self,
        input: I,
        workers: Workers,
        work: W,
        mut on_result: G,
    ) -> Result<Summary, Error>
    where
        I: IntoInput,
        W: Fn(&mut Outcome) -> R + Send + Sync + 'static,
        R: Send + 'static,
        G: FnMut(Done<R>),
    {
        let robots = self.config.robots.on_fetch.clone();
        let pool = WorkerPool::start(workers, work, robots, self.waker.clone())
            .map_err(|e| Error::from_io(Phase::Admission, &e))?;
        let delivery: Delivery<fn(&Outcome), G, R> = Delivery::Workers {
            pool,
            on_result: &mut on_result,
            waiting: None,
        };
        self.run_with(input, delivery)
    }

    /// The loop, one turn at a time (see the module docs).
    fn run_with<I, F, G, R>(
        &mut self,
        input: I,
        mut delivery: Delivery<'_, F, G, R>,
    ) -> Result<Summary, Error>
    where
        I: IntoInput,
        F: FnMut(&Outcome),
        G: FnMut(Done<R>),
        R: Send + 'static,
    {
        let mut input = input.into_input();
        input.attach(self.waker.clone())?;
        self.stop.store(false, Ordering::SeqCst);
        self.abort.store(false, Ordering::SeqCst);
        let flags = Flags {
            stop: &self.stop,
            abort: &self.abort,
        };
        let progress = self.progress.clone();
        let poll = &mut self.poll;
        let mut run = Run::new(
            &self.config,
            &self.resolver,
            &self.tls,
            &self.registry,
            &mut self.dns,
            self.observer.as_mut(),
            flags,
        );
        let mut feed = Feed {
            input,
            next_id: 0,
            done: false,
        };
        let mut events = Events::with_capacity(1024);
        let mut turn_start = run.started();
        // What the turn's event reports: the requests in flight (queued,
        // waiting for robots.txt) while the loop waited in `poll` — not
        // at the turn's end, after its outcomes freed their slots and
        // before the next turn refills them (that read ~2 of 100).
        loop {
            let mut turn = run.stats.begin_turn(turn_start);
            // 1. Pull input and start what the limits allow (nothing new
            //    while the workers' queue is full).
            feed.pull_and_start(&mut run, &mut delivery);
            if (feed.done || run.stopped()) && run.is_idle() && delivery.outstanding() == 0 {
                run.end_turn(turn, run.progress());
                break;
            }
            // 2. Wait for readiness, or until the earliest deadline. (Workers
            //    wake us through the waker when results or room come back.)
            //    What a progress line reads stays true while we block.
            let waiting = run.progress();
            progress.store(waiting);
            let before_poll = Instant::now();
            let timeout = run
                .poll_timeout()
                .map(|d| d.saturating_duration_since(before_poll));
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                // A signal arrived: no events, just another turn.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = run.fail_all(&e);
                    delivery.deliver(&mut run);
                    return Err(e);
                }
            }
            let now = Instant::now();
            let n = events.iter().count() as u64;
            run.stats.record_poll(&mut turn, before_poll, now, n);
            // 3. Drive the connections and DNS sockets that are ready.
            for event in events.iter() {
                match Source::of(event.token()) {
                    // Only wakes the loop: the stop flag and the workers'
                    // results are read at steps 1 and 5.
                    Source::Waker => {}
                    Source::Dns(token) => run.dns_ready(token, now),
                    Source::Conn(token) => run.conn_ready(token, now),
                }
            }
            run.settle(now);
            // 4. Fire the timers that are due.
            run.handle_timeouts(Instant::now());
            // 5. Deliver finished outcomes (and collect workers' results).
            delivery.deliver(&mut run);
            turn_start = run.end_turn(turn, waiting);
        }
        let workers = delivery.finish();
        Ok(run.into_summary(workers))
    }
}
