//! The request core: every request from the input line to its outcome, as
//! plain data. It owns the requests (a slab), the admission queue with its
//! pacing, the robots.txt gate, the retry and redirect policy, the total
//! deadlines and backoffs, and the finished outcomes. It never touches a
//! socket or reads the clock: time comes in as a parameter, so a unit test
//! drives a request's whole life (queue, robots wait, attempt, 503, backoff,
//! retry, redirect, outcome) without either.
//!
//! Usage contract (the driver's side, as in quinn-proto's `Endpoint`):
//! - **inputs** — [`handle_input`](Requests::handle_input) for an input
//!   item (while [`wants_input`](Requests::wants_input));
//!   [`handle_response`](Requests::handle_response) /
//!   [`handle_failure`](Requests::handle_failure) when an attempt ends;
//!   [`handle_abandoned`](Requests::handle_abandoned) once the connection of
//!   a request given by `poll_abandoned` is closed;
//!   [`handle_timeout`](Requests::handle_timeout) at the deadline of
//!   [`poll_timeout`](Requests::poll_timeout); `handle_stop` / `handle_abort`.
//! - **outputs**, drained after every input, in this order:
//!   [`poll_abandoned`](Requests::poll_abandoned) (requests whose connection
//!   must close), [`poll_start`](Requests::poll_start) (requests to send: look
//!   them up with [`get`](Requests::get)), [`poll_outcome`](Requests::poll_outcome),
//!   [`poll_event`](Requests::poll_event) (only when observed).
//!
//! Where the connection of a request is, is not known here: the connection
//! table owns that link.

mod redirect;
mod req;
mod retry;
mod robots;
#[cfg(test)]
mod tests;

pub(crate) use crate::outcome::AttemptReport;
pub(crate) use req::{Extra, Req, Stage};

use crate::admission::{Admission, AdmissionConfig, HostId};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Phase};
use crate::http::Response;
use crate::outcome::{Outcome, Request, RetryCause, Timings};
use crate::policy::{judge_response, ResponseVerdict};
use crate::random::Rng;
use crate::reactor::{Timers, Token};
use crate::robots::gate::Gate;
use crate::summary::Summary;

/// What an input item carries to its outcome unchanged: its meta and tag.
type Carried = (Option<String>, Option<crate::outcome::CrawlTag>);
use crate::url::Url;
use slab::Slab;
use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

/// A request to send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Start {
    /// The request ([`Requests::get`] has its URL and method).
    pub token: Token,
    /// Only on a new connection: a reused one just failed it.
    pub fresh_only: bool,
}

/// What the core did, for an observer (queued only when observed; the
/// driver turns them into [`crate::events::Event`]s).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RequestEvent {
    Queued {
        req: u64,
        url: Box<str>,
    },
    Admitted {
        req: u64,
        origin: Box<str>,
    },
    Paced {
        waits: u64,
    },
    Finished {
        req: u64,
        result: Result<u16, (&'static str, &'static str)>,
        attempts: u32,
    },
}

/// A deadline in the core's heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deadline {
    /// The request's total deadline.
    Total(Token),
    /// The request's retry backoff is over.
    Retry(Token),
}

/// The request core. See the [module docs](self).
pub(crate) struct Requests {
    config: Config,
    reqs: Slab<Req>,
    generation: u32,
    admission: Admission<Token>,
    gate: Gate<Token>,
    deadlines: Timers<Deadline>,
    /// Jitter for backoff and pacing: one source, seeded by the config.
    rng: Rng,
    /// Requests to send again at once: on a fresh connection (true), or
    /// on any the table picks (false).
    fresh: VecDeque<(Token, bool)>,
    /// Requests ended while active: their connections must close.
    abandoned: VecDeque<Token>,
    outcomes: VecDeque<Outcome>,
    /// Each fetched robots.txt's origin and `Sitemap:` lines, for the input
    /// (`RobotsConfig::report_sitemaps`).
    robots_sitemaps: VecDeque<(Box<str>, Vec<String>)>,
    /// The gate's robots.txt fetches, for `RobotsConfig::on_fetch`.
    robots_fetches: VecDeque<Outcome>,
    events: Option<VecDeque<RequestEvent>>,
    /// Counts of the outcomes and of what the requests did.
    summary: Summary,
    /// No more input, nothing new starts.
    stopped: bool,
    /// Ids of robots.txt fetches (in events): from 2^62 up.
    next_robots_id: u64,
    /// Paced waits already reported in events.
    paced_reported: u64,
}

impl Requests {
    /// A core for one run of `config`. With `observed`, every step is also
    /// queued for [`poll_event`](Self::poll_event).
    pub fn new(config: &Config, observed: bool) -> Requests {
        let concurrency = config.concurrency;
        Requests {
            reqs: Slab::with_capacity(concurrency.saturating_add(config.max_parked).min(4096)),
            generation: 0,
            admission: Admission::new(AdmissionConfig {
                max_in_flight: concurrency,
                max_per_host: config.per_host.min(concurrency),
                max_parked: config.max_parked,
                pacing: config.pacing,
            }),
            gate: Gate::new(config.robots.cache_bytes, config.robots.cache_lifetime),
            deadlines: Timers::new(),
            rng: Rng::new(config.pacing.seed),
            fresh: VecDeque::new(),
            abandoned: VecDeque::new(),
            outcomes: VecDeque::new(),
            robots_sitemaps: VecDeque::new(),
            robots_fetches: VecDeque::new(),
            events: observed.then(VecDeque::new),
            summary: Summary::default(),
            stopped: false,
            next_robots_id: 1 << 62,
            paced_reported: 0,
            config: config.clone(),
        }
    }

    // ---- what the driver reads ----

    /// Is there room for another input item?
    pub fn wants_input(&self) -> bool {
        !self.stopped && self.admission.wants_more() && self.gate.waiting() < self.config.max_parked
    }

    /// The request `token` names, if it is still there.
    pub fn get(&self, token: Token) -> Option<&Req> {
        self.reqs
            .get(token.slot)
            .filter(|r| r.generation == token.generation)
    }

    /// Is `token` an active request (admitted, not ended)?
    pub fn is_active(&self, token: Token) -> bool {
        self.get(token).is_some_and(|r| r.stage == Stage::Active)
    }

    /// Requests in flight (holding an admission slot).
    pub fn in_flight(&self) -> usize {
        self.admission.in_flight()
    }

    /// Requests queued for a slot (parked in the admission queue).
    pub fn queued(&self) -> usize {
        self.admission.parked()
    }

    /// Requests waiting for their origin's robots.txt.
    pub fn waiting_for_robots(&self) -> usize {
        self.gate.waiting()
    }

    /// No request is left and every outcome was taken.
    pub fn is_idle(&self) -> bool {
        self.reqs.is_empty() && self.outcomes.is_empty()
    }

    /// The crawl was stopped.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The counts so far, completed with the admission queue's.
    pub fn into_summary(self) -> Summary {
        let mut s = self.summary;
        s.stopped = self.stopped;
        s.admission = self.admission.stats();
        s.lowered_limits = self.admission.lowered_limits();
        s.robots_cache = self.gate.stats();
        s
    }

    // ---- outputs ----

    /// The next request to send. `admit`: may new requests leave the
    /// admission queue (false while the driver holds admission: the
    /// workers' queue is full, or requests wait for a file descriptor);
    /// requests retried on a fresh connection come out either way.
    #[must_use]
    pub fn poll_start(&mut self, now: Instant, admit: bool) -> Option<Start> {
        while let Some((token, fresh_only)) = self.fresh.pop_front() {
            if self.is_active(token) {
                self.reqs[token.slot].attempts += 1;
                return Some(Start { token, fresh_only });
            }
        }
        if !admit || self.stopped {
            return None;
        }
        let next = self.admission.poll_ready(now, &mut self.rng);
        let waits = self.admission.stats().paced_waits - self.paced_reported;
        if waits > 0 {
            self.paced_reported += waits;
            self.event(|| RequestEvent::Paced { waits });
        }
        let (token, host) = next?;
        let in_flight = self.admission.in_flight();
        self.summary.max_in_flight = self.summary.max_in_flight.max(in_flight);
        let req = &mut self.reqs[token.slot];
        req.stage = Stage::Active;
        req.started_at.get_or_insert(now);
        req.attempts += 1;
        if let Some(events) = &mut self.events {
            events.push_back(RequestEvent::Admitted {
                req: req.id,
                origin: self.admission.key(host).into(),
            });
        }
        Some(Start {
            token,
            fresh_only: false,
        })
    }

    /// A request ended while active: close its connection, then call
    /// [`handle_abandoned`](Self::handle_abandoned).
    #[must_use]
    pub fn poll_abandoned(&mut self) -> Option<Token> {
        self.abandoned.pop_front()
    }

    /// The next finished outcome.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        self.outcomes.pop_front()
    }

    /// The next event, when observed.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RequestEvent> {
        self.events.as_mut()?.pop_front()
    }

    /// The earliest deadline: a request's total deadline, a backoff's end,
    /// or a paced origin becoming ready.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [self.deadlines.poll_timeout(), self.admission.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    // ---- inputs ----

    /// A new input item: parsed, then through the robots.txt gate into the
    /// admission queue (or ended at once: a bad URL, a disallowed path).
    pub fn handle_input(&mut self, item: Request, id: u64, now: Instant) {
        let id = item.id.unwrap_or(id);
        let bad_header = item
            .headers
            .iter()
            .find_map(|(n, v)| crate::config::check_header(n, v).err());
        let error = item.error.or_else(|| {
            let e = |d| Error::new(Phase::Url, ErrorKind::InvalidInput, d);
            bad_header.map(e)
        });
        let parsed = match error {
            Some(e) => Err((e, item.url)),
            None => Url::parse_or_return(item.url),
        };
        let url = match parsed {
            // Credentials parse (the URL Standard keeps them) but are not
            // sent: they would be printed and archived with the URL.
            Ok(url) if url.has_credentials() => {
                let e = Error::new(
                    Phase::Url,
                    ErrorKind::InvalidUrl,
                    "credentials in URLs are not supported",
                );
                let raw = url.into_string();
                return self.reject(id, item.line, raw, e, (item.meta, item.tag));
            }
            Ok(url) => url,
            Err((e, raw)) => return self.reject(id, item.line, raw, e, (item.meta, item.tag)),
        };
        let method = item.method.unwrap_or(self.config.request.method);
        let keep_body = self.config.request.keep_body;
        self.event(|| RequestEvent::Queued {
            req: id,
            url: url.as_str().into(),
        });
        let token = self.insert(id, item.line, url, method, keep_body, None, now);
        let req = &mut self.reqs[token.slot];
        req.extra = Extra::of(item.headers, item.body, item.meta, item.max_body);
        req.tag = item.tag;
        req.redirect_scope = item.redirect_scope;
        if self.config.robots.enabled {
            self.through_gate(token, now, false);
        } else {
            self.park(token, now);
        }
    }

    /// An attempt ended with a complete response. Returns the response if
    /// it is not kept (a retry, a redirect, a robots.txt file), for reuse.
    #[must_use]
    pub fn handle_response(
        &mut self,
        token: Token,
        resp: Response,
        report: AttemptReport,
        now: Instant,
        wall: SystemTime,
    ) -> Option<Response> {
        if !self.is_active(token) {
            return Some(resp);
        }
        let req = &mut self.reqs[token.slot];
        req.report = report;
        let host = req.host;
        let (verdict, feedback) = judge_response(
            &resp,
            &req.attempt(),
            &self.config.retry,
            &self.redirect_policy(token.slot),
            wall,
        );
        if feedback.throttled {
            self.admission.handle_throttle(host);
        }
        if feedback.success {
            self.admission.handle_success(host, now);
        }
        if let Some(wait) = feedback.pause {
            log::info!(
                "{} paused for {wait:?} (Retry-After)",
                self.admission.key(host)
            );
            self.admission.handle_pause(host, wait, now);
        }
        match verdict {
            ResponseVerdict::Finish => return self.finish(token.slot, Ok(resp), now),
            ResponseVerdict::Retry(cause) => self.retry(token.slot, cause, now),
            ResponseVerdict::RetryHttp1 => {
                // At once, on a new HTTP/1.1 connection; no budget spent.
                let req = &mut self.reqs[token.slot];
                req.http1_only = true;
                self.count_retry(token.slot, RetryCause::Status(421));
                self.fresh.push_back((token, false));
            }
            ResponseVerdict::Redirect(location) => {
                if !self.redirect_in_scope(token.slot, &location) {
                    // Out of the crawl's scope: not fetched; the redirect
                    // is the page's answer.
                    self.summary.redirects_out_of_scope += 1;
                    return self.finish(token.slot, Ok(resp), now);
                }
                let status = resp.status;
                if resp.wire.is_some() {
                    // Archiving: the hop's 3xx goes with the final response
                    // (and is not recycled).
                    let req = &mut self.reqs[token.slot];
                    let url = req.url.as_str().to_string();
                    let extra = req.extra.get_or_insert_with(Box::default);
                    extra.hops.push((url, resp));
                    self.redirect(token.slot, status, &location, now);
                    return None;
                }
                self.redirect(token.slot, status, &location, now)
            }
        }
        Some(resp)
    }

    /// The connection of an abandoned request is closed (it was in `phase`,
    /// if it had one): the request ends with the error it was abandoned for.
    pub fn handle_abandoned(
        &mut self,
        token: Token,
        phase: Option<Phase>,
        report: Option<AttemptReport>,
        now: Instant,
    ) {
        let Some(req) = self.reqs.get_mut(token.slot) else {
            return;
        };
        let Stage::Ending { error, take_phase } = &mut req.stage else {
            return;
        };
        let mut e = (**error).clone();
        if *take_phase {
            e.phase = phase.unwrap_or(Phase::Admission);
        }
        if let Some(report) = report {
            req.report = report;
        }
        let _ = self.finish(token.slot, Err(e), now);
    }

    /// Time passed: total deadlines, backoffs that ended, paced origins.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(deadline) = self.deadlines.poll_expired(now) {
            match deadline {
                Deadline::Total(token) => self.total_deadline(token, now),
                Deadline::Retry(token) => self.retry_due(token, now),
            }
        }
        // Paced origins become ready; lingering ones are forgotten.
        self.admission.handle_timeout(now);
    }

    /// Stop: no more input; requests not yet started end as cancelled
    /// (those waiting for robots.txt first, so their origin's fetch finds
    /// nobody to release); requests in flight go on.
    pub fn handle_stop(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let cancelled = || Error::new(Phase::Admission, ErrorKind::Cancelled, "crawl stopped");
        for slot in self.slots_where(|s| *s == Stage::RobotsWait) {
            let _ = self.finish(slot, Err(cancelled()), now);
        }
        // (`finish` of a drained request finds nothing left to remove.)
        for token in self.admission.drain_parked() {
            let _ = self.finish(token.slot, Err(cancelled()), now);
        }
        for slot in self.slots_where(|s| matches!(s, Stage::Backoff(_))) {
            let e = Error::new(
                Phase::Admission,
                ErrorKind::Cancelled,
                "crawl stopped before a retry",
            );
            let _ = self.finish(slot, Err(e), now);
        }
    }

    /// Abort: stop, and every request in flight ends with `error` (taking
    /// its connection's phase with `take_phase`) once the driver has closed
    /// its connection.
    pub fn handle_abort(&mut self, error: Error, take_phase: bool, now: Instant) {
        self.handle_stop(now);
        for slot in self.slots_where(|s| *s == Stage::Active) {
            let token = self.reqs[slot].token(slot);
            self.abandon(token, error.clone(), take_phase);
        }
        for slot in self.slots_where(|s| !matches!(s, Stage::Ending { .. })) {
            let _ = self.finish(slot, Err(error.clone()), now);
        }
    }

    // ---- the lifecycle ----

    /// A new request in the slab with its total deadline; it starts in
    /// `RobotsWait` until it is parked or ended.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        id: u64,
        line: Option<u64>,
        url: Url,
        method: crate::http::Method,
        keep_body: bool,
        robots_for: Option<Box<str>>,
        now: Instant,
    ) -> Token {
        self.generation = self.generation.wrapping_add(1);
        let token = Token {
            slot: self.reqs.vacant_key(),
            generation: self.generation,
        };
        let deadline = now + self.config.timeouts.total;
        let timer = self.deadlines.insert(deadline, Deadline::Total(token));
        self.reqs.insert(Req {
            generation: token.generation,
            id,
            line,
            url,
            original: None,
            method,
            host: HostId::none(),
            stage: Stage::RobotsWait,
            attempts: 0,
            retries: Vec::new(),
            redirects: Vec::new(),
            pulled_at: now,
            started_at: None,
            backoff_retries: 0,
            retried_fresh: false,
            http1_only: false,
            timer,
            report: AttemptReport::default(),
            truncate_at: robots_for.as_ref().map(|_| crate::robots::MAX_BYTES as u64),
            robots_for,
            keep_body,
            extra: None,
            tag: None,
            redirect_scope: None,
        });
        token
    }

    /// An input item that cannot be fetched: its outcome at once.
    /// `carried`: the item's meta and tag, for its outcome.
    fn reject(&mut self, id: u64, line: Option<u64>, raw: String, e: Error, carried: Carried) {
        let (meta, tag) = carried;
        self.event(|| RequestEvent::Queued {
            req: id,
            url: raw.as_str().into(),
        });
        self.event(|| RequestEvent::Finished {
            req: id,
            result: Err((e.phase.as_str(), e.kind.as_str())),
            attempts: 0,
        });
        self.complete(Outcome {
            id,
            line,
            url: raw,
            attempts: 0,
            retries: Vec::new(),
            redirects: Vec::new(),
            reused: false,
            timings: Timings::default(),
            result: Err(e),
            meta,
            tag,
        });
    }

    /// Into the admission queue, behind its origin's other requests.
    fn park(&mut self, token: Token, now: Instant) {
        let req = &mut self.reqs[token.slot];
        req.host = self.admission.push(req.url.origin(), token, now);
        req.stage = Stage::Parked;
    }

    /// Back into the admission queue at the head of its origin (a retry, a
    /// redirect hop). After a stop nothing starts again: it ends.
    fn park_front(&mut self, token: Token, now: Instant, what: &str) {
        if self.stopped {
            let e = Error::new(
                Phase::Admission,
                ErrorKind::Cancelled,
                format!("crawl stopped before a {what}"),
            );
            let _ = self.finish(token.slot, Err(e), now);
            return;
        }
        let req = &mut self.reqs[token.slot];
        req.host = self.admission.push_front(req.url.origin(), token, now);
        req.stage = Stage::Parked;
    }

    /// The total deadline of a request passed: it covers queueing, every
    /// attempt, backoffs and redirects.
    fn total_deadline(&mut self, token: Token, now: Instant) {
        let Some(req) = self.get(token) else {
            return;
        };
        let limit = self.config.timeouts.total;
        let detail = match req.stage {
            Stage::Parked => format!("total timeout {limit:?} passed while queued"),
            Stage::Backoff(_) => format!("total timeout {limit:?} passed before a retry"),
            Stage::RobotsWait => {
                format!("total timeout {limit:?} passed while waiting for robots.txt")
            }
            Stage::Active => format!("total timeout {limit:?} passed"),
            Stage::Ending { .. } => return,
        };
        let e = Error::new(Phase::Admission, ErrorKind::Deadline, detail);
        if req.stage == Stage::Active {
            self.abandon(token, e, true);
        } else {
            let _ = self.finish(token.slot, Err(e), now);
        }
    }

    /// An active request is to end with `error` once its connection closes.
    fn abandon(&mut self, token: Token, error: Error, take_phase: bool) {
        self.reqs[token.slot].stage = Stage::Ending {
            error: Box::new(error),
            take_phase,
        };
        self.abandoned.push_back(token);
    }

    /// Ends a request wherever it is: frees what its stage holds, and builds
    /// its outcome. Every path to an outcome passes here once. Returns the
    /// response when it is not an outcome's (a robots.txt file), for reuse.
    fn finish(
        &mut self,
        slot: usize,
        result: Result<Response, Error>,
        now: Instant,
    ) -> Option<Response> {
        let mut req = self.reqs.remove(slot);
        self.deadlines.cancel(req.timer);
        match &req.stage {
            Stage::Active | Stage::Ending { .. } => self.admission.release(req.host, now),
            Stage::Parked => {
                self.admission
                    .remove_parked(req.host, &req.token(slot), now);
            }
            Stage::Backoff(timer) => {
                self.deadlines.cancel(*timer);
            }
            Stage::RobotsWait => self.gate.leave(req.url.origin(), &req.token(slot)),
        }
        self.event(|| RequestEvent::Finished {
            req: req.id,
            result: match &result {
                Ok(r) => Ok(r.status),
                Err(e) => Err((e.phase.as_str(), e.kind.as_str())),
            },
            attempts: req.attempts,
        });
        let mut result = result;
        if let (Ok(resp), Some(x)) = (&mut result, &mut req.extra) {
            if let Some(wire) = &mut resp.wire {
                wire.hops = std::mem::take(&mut x.hops);
            }
        }
        if let Some(origin) = req.robots_for.take() {
            // Not a user's request: its result decides the origin's rules
            // (and goes to the robots sink, if any, as a fetch).
            // An error received nothing, and a file read only in part (its
            // first 500 KiB) is not the server's response: nothing to keep.
            let resp = self.robots_done(origin, result, now);
            let whole = |r: &Response| r.body_len < crate::robots::MAX_BYTES as u64;
            match resp {
                Some(resp) if self.config.robots.on_fetch.is_some() && whole(&resp) => {
                    let fetch = Self::outcome_of(req, Ok(resp), now);
                    self.robots_fetches.push_back(fetch);
                    return None;
                }
                resp => return resp,
            }
        }
        self.complete(Self::outcome_of(req, result, now));
        None
    }

    /// The outcome of a finished request.
    fn outcome_of(req: Req, result: Result<Response, Error>, now: Instant) -> Outcome {
        let started = req.started_at.unwrap_or(now);
        let r = req.report;
        // dns, connect and ttfb were measured on the final attempt; queued
        // and total span the whole input.
        let timings = Timings {
            queued: started.saturating_duration_since(req.pulled_at),
            dns: if r.reused { None } else { r.dns },
            connect: if r.reused { None } else { r.connect },
            ttfb: r.ttfb,
            total: now.saturating_duration_since(started),
        };
        Outcome {
            id: req.id,
            line: req.line,
            url: req.original.unwrap_or_else(|| req.url.into_string()),
            attempts: req.attempts,
            retries: req.retries,
            redirects: req.redirects,
            reused: r.reused,
            timings,
            result,
            tag: req.tag,
            meta: req.extra.and_then(|x| x.meta),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A robots.txt the gate fetched (with `RobotsConfig::on_fetch`).
    #[must_use]
    pub fn poll_robots_fetch(&mut self) -> Option<Outcome> {
        self.robots_fetches.pop_front()
    }

    /// A fetched robots.txt's origin and its `Sitemap:` lines (with
    /// `RobotsConfig::report_sitemaps`).
    #[must_use]
    pub fn poll_robots_sitemaps(&mut self) -> Option<(Box<str>, Vec<String>)> {
        self.robots_sitemaps.pop_front()
    }

    /// Counts a finished outcome and queues it for delivery.
    fn complete(&mut self, outcome: Outcome) {
        self.summary.record(&outcome);
        self.outcomes.push_back(outcome);
    }

    /// Slots of the requests whose stage matches (for stop and abort).
    fn slots_where(&self, f: impl Fn(&Stage) -> bool) -> Vec<usize> {
        self.reqs
            .iter()
            .filter(|(_, r)| f(&r.stage))
            .map(|(i, _)| i)
            .collect()
    }

    /// Queues an event, when observed (else `make` is not even called).
    fn event(&mut self, make: impl FnOnce() -> RequestEvent) {
        if let Some(events) = &mut self.events {
            events.push_back(make());
        }
    }
}
