//! One run of the loop: the two owners (the request core and the connection
//! table), the DNS driver, the observer and the loop's counters, and the
//! glue that moves each one's outputs to the other. The glue decides
//! nothing: every decision is the request core's (what a response means)
//! or the connection table's (which connection, when it is done).

use crate::config::Config;
use crate::connections::{Connections, Dispatch, Output};
use crate::dns::{DnsDriver, DnsStats, LookupResult, Resolver};
use crate::error::{Error, ErrorKind, Phase};
use crate::events::{Emitter, EventKind, Observer};
use crate::outcome::{Outcome, Request};
use crate::reactor::{LoopStats, Token, TurnClock};
use crate::requests::{RequestEvent, Requests, Start};
use crate::summary::Summary;
use crate::workers::QueueStats;
use mio::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Where a crawl's requests are, as of the loop's last turn (for progress
/// lines; read from any thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Requests in flight (holding a slot: connecting, sending, reading).
    pub in_flight: usize,
    /// Requests queued for a slot (the concurrency limits or their origin's
    /// pacing hold them back).
    pub queued: usize,
    /// Requests waiting for their origin's robots.txt.
    pub waiting_for_robots: usize,
}

/// The flags a [`Handle`](crate::Handle) sets from another thread.
pub(super) struct Flags<'a> {
    pub stop: &'a Arc<AtomicBool>,
    pub abort: &'a Arc<AtomicBool>,
}

/// The state of one `run`.
pub(super) struct Run<'a> {
    /// Every request, from input to outcome (sans-IO).
    core: Requests,
    /// Every connection, the pool and the sockets.
    conns: Connections<'a>,
    dns: &'a mut DnsDriver<Token>,
    dns_before: DnsStats,
    registry: &'a Registry,
    ev: Emitter<'a>,
    flags: Flags<'a>,
    /// The abort was seen (requests in flight were cancelled).
    aborted: bool,
    /// A callback running longer than this is a stall.
    stall_threshold: std::time::Duration,
    /// Since when the workers' queue is full: admission is held meanwhile.
    pub held: Option<Instant>,
    pub stats: LoopStats,
    started: Instant,
}

impl<'a> Run<'a> {
    pub fn new(
        config: &'a Config,
        resolver: &'a Resolver,
        tls: &'a Arc<rustls::ClientConfig>,
        registry: &'a Registry,
        dns: &'a mut DnsDriver<Token>,
        observer: Option<&'a mut Observer>,
        flags: Flags<'a>,
    ) -> Run<'a> {
        let observed = observer.is_some();
        let started = Instant::now();
        Run {
            core: Requests::new(config, observed),
            conns: Connections::new(config, resolver, tls, registry, observed),
            dns_before: dns.core.stats(),
            dns,
            registry,
            ev: Emitter::new(observer, started),
            flags,
            aborted: false,
            stall_threshold: config.stall_threshold,
            held: None,
            stats: LoopStats::default(),
            started,
        }
    }

    /// When the run started (events are timed from here).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// May another input item be pulled?
    pub fn wants_input(&self) -> bool {
        self.held.is_none() && self.core.wants_input()
    }

    pub fn stopped(&self) -> bool {
        self.core.stopped()
    }

    /// No request left, every outcome taken.
    pub fn is_idle(&self) -> bool {
        self.core.is_idle()
    }

    /// Where the requests are now.
    pub fn progress(&self) -> Progress {
        Progress {
            in_flight: self.core.in_flight(),
            queued: self.core.queued(),
            waiting_for_robots: self.core.waiting_for_robots(),
        }
    }

    /// An input item, numbered `id` unless it names its own.
    pub fn accept(&mut self, item: Request, id: u64, now: Instant) {
        self.core.handle_input(item, id, now);
        self.core_events();
    }

    /// The next outcome to deliver.
    pub fn next_outcome(&mut self) -> Option<Outcome> {
        self.core.poll_outcome()
    }

    /// A robots.txt the gate fetched, for the robots sink.
    pub fn next_robots_fetch(&mut self) -> Option<Outcome> {
        self.core.poll_robots_fetch()
    }

    /// The robots sink, if the configuration has one.
    pub fn robots_sink(&self) -> Option<&crate::config::RobotsSink> {
        self.core.config().robots.on_fetch.as_ref()
    }

    /// A fetched robots.txt's origin and `Sitemap:` lines, for the input.
    pub fn next_robots_sitemaps(&mut self) -> Option<(Box<str>, Vec<String>)> {
        self.core.poll_robots_sitemaps()
    }

    /// A delivered response's buffers, for the next requests.
    pub fn recycle(&mut self, resp: crate::http::Response) {
        self.conns.recycle(resp);
    }

    // ---- moving outputs between the owners ----

    /// Sends what may start: requests that waited for a file descriptor
    /// first (the table lets them go as its outputs, which every input
    /// settles; once more here, in case); while any still waits, or the
    /// workers' queue is full, nothing new leaves the admission queue.
    pub fn start(&mut self, now: Instant) {
        if self.conns.fd_waiting() {
            self.settle(now);
        }
        let admit = self.held.is_none() && !self.conns.fd_waiting();
        while let Some(start) = self.core.poll_start(now, admit) {
            self.hand_over(start, now);
        }
        // Once for all of them: new HTTP/2 streams share one write.
        self.settle(now);
    }

    /// Gives a request to the connection table (what that did is left for
    /// [`settle`](Self::settle): called from its loop, this must not recurse
    /// into it, or a long chain of requests woken one after another would
    /// nest one stack frame deeper each).
    fn hand_over(&mut self, start: Start, now: Instant) {
        // The core's events first (`admitted` before `conn_opened`).
        self.core_events();
        if let Some(req) = self.core.get(start.token) {
            let ex = Dispatch {
                id: req.id,
                url: &req.url,
                method: req.method,
                keep_body: req.keep_body,
                truncate_at: req.truncate_at,
                max_body: req.extra.as_ref().and_then(|x| x.max_body),
                headers: req.extra.as_ref().map_or(&[][..], |x| &x.headers[..]),
                body: req.extra.as_ref().and_then(|x| x.body.as_deref()),
                fresh_only: start.fresh_only,
                http1_only: req.http1_only,
            };
            self.conns.dispatch(start.token, ex, now, &mut self.ev);
        }
    }

    /// Moves outputs between the owners until neither has any: abandoned
    /// requests' connections closed, DNS answers to their connections,
    /// responses and failures to the request core, lookups to DNS, and
    /// requests retried on a fresh connection sent again.
    pub fn settle(&mut self, now: Instant) {
        loop {
            if let Some(token) = self.core.poll_abandoned() {
                let closed = self.conns.abandon(token, now, &mut self.ev);
                let (phase, report) = closed.unzip();
                self.core.handle_abandoned(token, phase, report, now);
            } else if let Some((conn, result)) = self.dns.core.poll_event() {
                self.conns.handle_resolved(conn, result, now, &mut self.ev);
            } else if let Some(output) = self.conns.poll_output() {
                self.take_output(output, now);
            } else if let Some(start) = self.core.poll_start(now, false) {
                self.hand_over(start, now);
            } else {
                break;
            }
            self.core_events();
        }
    }

    /// Writes the HTTP/2 streams opened this turn, one write per
    /// connection for all of them, and settles what that did (a write can
    /// fail a connection). Called once per turn, before the loop blocks:
    /// writing each stream as it opens would cost a system call (and a TLS
    /// record, and a read on the server) per request.
    pub fn flush_streams(&mut self, now: Instant) {
        while self.conns.flush_streams(now, &mut self.ev) {
            self.settle(now);
        }
    }

    fn take_output(&mut self, output: Output, now: Instant) {
        match output {
            Output::Response { req, resp, report } => {
                let wall = SystemTime::now();
                if let Some(unused) = self.core.handle_response(req, resp, report, now, wall) {
                    self.conns.recycle(unused);
                }
            }
            Output::Failed { req, error, report } => {
                self.core.handle_failure(req, error, report, now)
            }
            Output::Resolve { conn, host } => match self.dns.core.lookup(&host, conn, now) {
                LookupResult::Ready(result) => {
                    self.conns.handle_resolved(conn, result, now, &mut self.ev)
                }
                LookupResult::Pending => self.dns.flush(self.registry),
            },
            Output::Dial { req, fresh_only } => {
                let start = Start {
                    token: req,
                    fresh_only,
                };
                self.hand_over(start, now)
            }
        }
    }

    /// Emits the request core's events.
    fn core_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match event {
                RequestEvent::Queued { req, url } => {
                    emit!(self.ev, EventKind::Queued { req, url: &url })
                }
                RequestEvent::Admitted { req, origin } => emit!(
                    self.ev,
                    EventKind::Admitted {
                        req,
                        origin: &origin
                    }
                ),
                RequestEvent::Paced { waits } => emit!(self.ev, EventKind::Paced { waits }),
                RequestEvent::Finished {
                    req,
                    result,
                    attempts,
                } => emit!(
                    self.ev,
                    EventKind::Finished {
                        req,
                        result,
                        attempts
                    }
                ),
            }
        }
    }

    // ---- readiness and time ----

    /// A connection is ready: drive it, and hand what it produced to the
    /// request core at once (so the table's output queue stays short).
    pub fn conn_ready(&mut self, token: Token, now: Instant) {
        self.conns.handle_ready(token, now, &mut self.ev);
        self.settle(now);
    }

    pub fn dns_ready(&mut self, token: Token, now: Instant) {
        self.dns.handle_event(token, self.registry, now);
    }

    /// The earliest deadline of every core: how long `poll` may block.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.core.poll_timeout(),
            self.conns.poll_timeout(),
            self.dns.core.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Hands `now` to every core whose deadline may have passed. Requests
    /// first (a total deadline closes its connection with the phase it was
    /// in), then connections, then DNS.
    pub fn handle_timeouts(&mut self, now: Instant) {
        self.core.handle_timeout(now);
        self.settle(now);
        self.conns.handle_timeout(now, &mut self.ev);
        if self.dns.core.poll_timeout().is_some_and(|t| t <= now) {
            self.dns.handle_timeout(self.registry, now);
        }
        self.settle(now);
    }

    // ---- stopping ----

    /// Acts on a stop request (no more input, waiting requests cancelled)
    /// and on an abort (requests in flight cancelled too).
    pub fn check_stop(&mut self, now: Instant) {
        if !self.core.stopped() && self.flags.stop.load(Ordering::Relaxed) {
            self.core.handle_stop(now);
        }
        if !self.aborted && self.flags.abort.load(Ordering::Relaxed) {
            self.aborted = true;
            let e = Error::new(Phase::Admission, ErrorKind::Cancelled, "crawl aborted");
            self.core.handle_abort(e, true, now);
        }
        self.settle(now);
    }

    /// The event queue failed: every known request ends with that error
    /// (the caller delivers them), and the error is returned from `run`.
    pub fn fail_all(&mut self, err: &std::io::Error) -> Error {
        log::error!("poll failed: {err}");
        let e = Error::from_io(Phase::Admission, err);
        let now = Instant::now();
        self.core.handle_abort(e.clone(), false, now);
        self.settle(now);
        e
    }

    // ---- the loop's own accounting ----

    /// Accounts a callback that started at `t0`; a long one is a stall.
    pub fn timed_callback(&mut self, t0: Instant, url: &str) {
        let took = t0.elapsed();
        if self.stats.record_callback(url, took, self.stall_threshold) {
            emit!(self.ev, EventKind::Stall { url, took });
            log::warn!("the callback for {url} held the loop for {took:?}");
        }
    }

    /// Ends a turn of the loop: its time is split into blocked, protocol and
    /// callbacks, and reported with `p`, where the requests were while the
    /// loop waited. Returns where the next turn begins.
    pub fn end_turn(&mut self, turn: TurnClock, p: Progress) -> Instant {
        let t = self.stats.end_turn(turn, Instant::now());
        emit!(
            self.ev,
            EventKind::LoopTurn {
                blocked: t.blocked,
                events: t.events,
                protocol: t.protocol,
                callbacks: t.callbacks,
                in_flight: p.in_flight,
                queued: p.queued,
                robots_wait: p.waiting_for_robots,
            }
        );
        t.ended
    }

    /// Closes what is left in the pool and fills in the summary.
    pub fn into_summary(mut self, workers: Option<QueueStats>) -> Summary {
        self.conns.close_all(Instant::now(), &mut self.ev);
        let (pool, dialer, conns) = self.conns.stats();
        let mut s = self.core.into_summary();
        s.elapsed = self.started.elapsed();
        s.pool = pool;
        s.tls_full = conns.tls_full;
        s.tls_resumed = conns.tls_resumed;
        s.tls_handshake = conns.tls_handshake;
        s.h2_connections = conns.h2_connections;
        s.descriptor_waits = dialer.descriptor_waits;
        s.connect_waits = dialer.ramp_waits;
        s.requests_moved = dialer.requests_moved;
        s.dns = self.dns.core.stats().since(&self.dns_before);
        s.loop_stats = self.stats;
        s.workers = workers;
        s
    }
}
