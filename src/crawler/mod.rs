//! The driver: one thread, one `mio::Poll`, moving bytes and events between
//! sockets and the sans-IO cores (admission queue, pool, DNS, connections,
//! retry/redirect policy, timers). It is the only place where the cores meet.
//!
//! [`Crawler::run`] is the loop, one turn at a time:
//! 1. **pull and start**: pull input while the admission queue wants more,
//!    and start every request it lets through (check out a pooled connection
//!    or open one);
//! 2. **poll**: block in `poll` until readiness or the earliest deadline;
//! 3. **drive**: run the state machine of every connection (and DNS socket)
//!    that had an event;
//! 4. **timers**: fire what is due (connection phases, request deadlines,
//!    retry backoffs, idle pooled connections, DNS retries, pacing);
//! 5. **deliver**: hand each finished [`Outcome`] to the callback.
//!
//! The rest is split by subject: [`request`](self::request) (a request's
//! lifecycle: accept, start, respond, retry, redirect, finish, deliver),
//! [`connection`](self::connection) (dispatch, open, DNS wiring, drive,
//! failure) and [`timers`](self::timers).

/// Emits an event to the observer, if there is one. Without an observer it
/// costs one branch: `$kind` is not even evaluated.
macro_rules! emit {
    ($run:expr, $now:expr, $kind:expr) => {
        if let Some(observer) = $run.observer.as_mut() {
            let at = $now.saturating_duration_since($run.started);
            observer(&$crate::events::Event { at, kind: $kind });
        }
    };
}

mod connection;
mod delivery;
mod request;
mod robots;
mod timers;

use crate::admission::{Admission, AdmissionConfig};
use crate::config::Config;
use crate::dns::{DnsCore, DnsDriver, DnsStats, Resolver};
use crate::error::{Error, Phase};
use crate::events::{Event, EventKind, Observer};
use crate::outcome::{Outcome, Request};
use crate::pool::{Pool, PoolConfig};
use crate::random::Rng;
use crate::reactor::{LoopStats, Source, Timers, Token, WAKER_TOKEN};
use crate::summary::Summary;
use crate::workers::{Done, Pool as WorkerPool, Workers};
use connection::ConnSlot;
use delivery::Delivery;
use mio::{Events, Poll, Waker};
use request::Req;
use slab::Slab;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use timers::TimerKind;

/// The loop-wide read buffer's size: one read takes at most this much.
const READ_BUFFER: usize = 64 * 1024;

/// Stops a running crawl from another thread (or from the callback).
#[derive(Clone)]
pub struct Handle {
    stop: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
    waker: Arc<Waker>,
    in_flight: Arc<AtomicUsize>,
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
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// The crawler. See [the crate docs](crate) for an example.
pub struct Crawler {
    config: Config,
    poll: Poll,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    dns: DnsDriver<Token>,
    observer: Option<Observer>,
}

/// The state of one `run`: every core, and the slabs of requests and
/// connections, borrowed from or built for this run.
struct Run<'a> {
    config: &'a Config,
    resolver: &'a Resolver,
    dns: &'a mut DnsDriver<Token>,
    dns_before: DnsStats,
    tls: &'a Arc<rustls::ClientConfig>,
    poll: &'a mut Poll,
    /// Receives the events, if anyone listens.
    observer: Option<&'a mut Observer>,
    /// When the run started: events are timed from here.
    started: Instant,
    conns: Slab<ConnSlot>,
    reqs: Slab<Req>,
    generation: u32,
    next_conn_id: u64,
    admission: Admission<Token>,
    pool: Pool<Token>,
    timers: Timers<TimerKind>,
    stats: LoopStats,
    summary: Summary,
    spare_responses: Vec<crate::http::Response>,
    addr_buf: Vec<IpAddr>,
    /// Outcomes produced inside protocol work, delivered after it (so the
    /// callback never runs with a connection half-updated).
    ready: std::collections::VecDeque<Outcome>,
    /// Since when the workers' queue is full: admission is held meanwhile.
    held: Option<Instant>,
    /// Each origin's robots.txt: being fetched, or known.
    robots: std::collections::HashMap<Box<str>, robots::Gate>,
    /// Requests waiting for a robots.txt (they count against `max_parked`).
    robots_waiting: usize,
    /// Ids of robots.txt fetches (in events): from 2^62 up.
    next_robots_id: u64,
    /// The loop-wide read buffer: every connection reads into it and parses
    /// from it; a connection keeps only the bytes of an incomplete head.
    scratch: Box<[u8]>,
    /// Set by [`Handle::stop`]; read once per turn and after each callback.
    stop_flag: Arc<AtomicBool>,
    /// The stop was seen: no more input, parked requests cancelled.
    stopped: bool,
    /// Set by [`Handle::abort`].
    abort_flag: Arc<AtomicBool>,
    /// The abort was seen: requests in flight cancelled too.
    aborted: bool,
    /// Jitter for retry backoff and pacing: one source, seeded by the config.
    rng: Rng,
    /// Admitted requests waiting for a file descriptor (the open-file limit
    /// was hit while other connections were open), oldest first.
    fd_waiters: std::collections::VecDeque<Token>,
    /// Connections closed since the waiters were last served: each freed a
    /// descriptor one waiter may take.
    fds_freed: usize,
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
        })?;
        Ok(Crawler {
            dns,
            tls,
            config,
            poll,
            waker: Arc::new(waker),
            stop: Arc::new(AtomicBool::new(false)),
            abort: Arc::new(AtomicBool::new(false)),
            in_flight: Arc::new(AtomicUsize::new(0)),
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
            in_flight: self.in_flight.clone(),
        }
    }

    /// Fetches every URL of `input`, pulling it lazily, and calls `on_outcome`
    /// once per item. Returns when every item has its outcome (or the crawl
    /// was stopped and every started request has finished).
    ///
    /// Fails only if the OS event queue itself fails (`poll` returns an
    /// error other than `EINTR`); every request known by then still gets its
    /// outcome, with that error.
    pub fn run<I, F>(&mut self, input: I, mut on_outcome: F) -> Result<Summary, Error>
    where
        I: IntoIterator,
        I::Item: Into<Request>,
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
        I: IntoIterator,
        I::Item: Into<Request>,
        W: Fn(&mut Outcome) -> R + Send + Sync + 'static,
        R: Send + 'static,
        G: FnMut(Done<R>),
    {
        let pool = WorkerPool::start(workers, work, self.waker.clone())
            .map_err(|e| Error::from_io(Phase::Admission, &e))?;
        let delivery: Delivery<fn(&Outcome), G, R> = Delivery::Workers {
            pool,
            on_result: &mut on_result,
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
        I: IntoIterator,
        I::Item: Into<Request>,
        F: FnMut(&Outcome),
        G: FnMut(Done<R>),
        R: Send + 'static,
    {
        self.stop.store(false, Ordering::SeqCst);
        self.abort.store(false, Ordering::SeqCst);
        let in_flight = self.in_flight.clone();
        let mut run = Run::new(self);
        let mut input = input.into_iter();
        let mut next_id: u64 = 0;
        let mut input_done = false;
        let mut events = Events::with_capacity(1024);
        let started = run.started;
        let mut turn_start = started;
        loop {
            let mut turn = run.stats.begin_turn(turn_start);
            // 1. Pull input and start what the limits allow (nothing new
            //    while the workers' queue is full).
            let now = Instant::now();
            run.check_stop(now);
            while !input_done
                && !run.stopped
                && run.held.is_none()
                && run.admission.wants_more()
                && run.robots_waiting < run.config.max_parked
            {
                match input.next() {
                    Some(item) => {
                        let item: Request = item.into();
                        run.accept(item.id.unwrap_or(next_id), item, now);
                        next_id += 1;
                    }
                    None => input_done = true,
                }
                run.start_ready(now);
                run.deliver(&mut delivery);
            }
            run.start_ready(now);
            run.deliver(&mut delivery);
            let finished = run.reqs.is_empty() && run.ready.is_empty();
            if (input_done || run.stopped) && finished && delivery.outstanding() == 0 {
                run.end_turn(turn);
                break;
            }
            // 2. Wait for readiness, or until the earliest deadline. (Workers
            //    wake us through the waker when results or room come back.)
            let before_poll = Instant::now();
            let timeout = run
                .poll_timeout()
                .map(|d| d.saturating_duration_since(before_poll));
            match run.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                // A signal arrived: no events, just another turn.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(run.abort_all(&e, &mut delivery)),
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
                    Source::Dns(token) => run.dns.handle_event(token, run.poll.registry(), now),
                    Source::Conn(token) => run.on_ready(token, now),
                }
            }
            run.dns_answers(now);
            // 4. Fire the timers that are due.
            run.handle_timeouts(Instant::now());
            // 5. Deliver finished outcomes (and collect workers' results).
            run.deliver(&mut delivery);
            in_flight.store(run.admission.in_flight(), Ordering::Relaxed);
            turn_start = run.end_turn(turn);
        }
        delivery.finish(&mut run);
        Ok(run.into_summary(started))
    }
}

impl<'a> Run<'a> {
    fn new(c: &'a mut Crawler) -> Run<'a> {
        let config = &c.config;
        let concurrency = config.concurrency;
        let per_host = config.per_host.min(concurrency);
        Run {
            config,
            resolver: &c.resolver,
            dns_before: c.dns.core.stats(),
            dns: &mut c.dns,
            tls: &c.tls,
            poll: &mut c.poll,
            observer: c.observer.as_mut(),
            started: Instant::now(),
            // Room grows with use: a limit of a million costs nothing up front.
            conns: Slab::with_capacity(concurrency.min(1024)),
            reqs: Slab::with_capacity(concurrency.saturating_add(config.max_parked).min(4096)),
            generation: 0,
            next_conn_id: 0,
            admission: Admission::new(AdmissionConfig {
                max_in_flight: concurrency,
                max_per_host: per_host,
                max_parked: config.max_parked,
                pacing: config.pacing,
            }),
            pool: Pool::new(PoolConfig {
                max_total: config.connections.max_total.max(concurrency),
                max_per_key: config.connections.max_per_host.max(per_host),
                idle_timeout: config.connections.idle_timeout,
            }),
            timers: Timers::new(),
            stats: LoopStats::default(),
            summary: Summary::default(),
            spare_responses: Vec::new(),
            addr_buf: Vec::new(),
            ready: std::collections::VecDeque::new(),
            held: None,
            robots: std::collections::HashMap::new(),
            robots_waiting: 0,
            next_robots_id: 1 << 62,
            scratch: vec![0; READ_BUFFER].into_boxed_slice(),
            stop_flag: c.stop.clone(),
            stopped: false,
            abort_flag: c.abort.clone(),
            aborted: false,
            rng: Rng::new(config.pacing.seed),
            fd_waiters: std::collections::VecDeque::new(),
            fds_freed: 0,
        }
    }

    /// Ends a turn of the loop: its time is split into blocked, protocol and
    /// callbacks, and reported. Returns where the next turn begins.
    fn end_turn(&mut self, turn: crate::reactor::TurnClock) -> Instant {
        let t = self.stats.end_turn(turn, Instant::now());
        emit!(
            self,
            t.ended,
            EventKind::LoopTurn {
                blocked: t.blocked,
                events: t.events,
                protocol: t.protocol,
                callbacks: t.callbacks,
            }
        );
        t.ended
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// Closes what is left in the pool and fills in the summary.
    fn into_summary(mut self, started: Instant) -> Summary {
        let now = Instant::now();
        let slots: Vec<usize> = self.conns.iter().map(|(i, _)| i).collect();
        for cslot in slots {
            self.drop_conn(cslot, "end", now);
        }
        let s = &mut self.summary;
        s.stopped = self.stopped;
        s.elapsed = started.elapsed();
        s.pool = self.pool.stats();
        s.dns = self.dns.core.stats().since(&self.dns_before);
        s.admission = self.admission.stats();
        s.lowered_limits = self.admission.lowered_limits();
        s.loop_stats = self.stats;
        self.summary
    }
}
