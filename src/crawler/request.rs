//! A request's lifecycle in the driver: accepted from the input and parked
//! in the admission queue, started, answered (the policy core says what the
//! answer means: finish, retry, redirect), and finished exactly once into an
//! [`Outcome`] that is delivered to the callback.
//!
//! ```text
//!  accept ─> Parked ─(admitted)─> Active ─> response / failure ─┬─> finish ─> deliver
//!              ^  ^                                              │
//!              │  └──────────── redirect (queues at the target) ─┤
//!              └── Backoff ─(timer)── retry ─────────────────────┘
//! ```

use super::robots::RobotsCheck;
use super::timers::TimerKind;
use super::Run;
use crate::admission::HostId;
use crate::error::{Error, ErrorKind, Phase};
use crate::events::EventKind;
use crate::http::{Method, Response};
use crate::outcome::{Outcome, Request, RetryCause, Timings};
use crate::policy::{judge_response, redirect_target, Attempt, ResponseVerdict};
use crate::reactor::{TimerId, Token};
use crate::url::Url;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Where a request is, and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// In the admission queue under `Req::host`.
    Parked,
    /// Started: holds an admission slot of `Req::host` (and maybe a connection).
    Active,
    /// Waiting for a retry; holds nothing but this timer.
    Backoff(TimerId),
    /// Waiting for its origin's robots.txt; holds a place in that origin's
    /// waiting list (see `crawler/robots.rs`).
    RobotsWait,
}

/// A request the crawler knows about: parked, in flight, or between attempts.
pub(crate) struct Req {
    pub generation: u32,
    pub id: u64,
    pub line: Option<u64>,
    pub url: Url,
    /// The input URL, kept once a redirect changed `url`.
    pub original: Option<String>,
    pub method: Method,
    pub host: HostId,
    pub stage: Stage,
    pub attempts: u32,
    pub retries: Vec<RetryCause>,
    pub redirects: Vec<String>,
    pub pulled_at: Instant,
    /// The first attempt's start (leaving the admission queue).
    pub started_at: Option<Instant>,
    /// The current attempt's start: the final attempt's timings run from it.
    pub attempt_started: Option<Instant>,
    /// Retries after a backoff (the budget of `RetryPolicy::max_retries`);
    /// `retries` also lists the free retry on a fresh connection.
    pub backoff_retries: u32,
    /// The connection carrying the current attempt.
    pub conn: Option<usize>,
    /// The total deadline's timer.
    pub timer: TimerId,
    pub reused: bool,
    pub connect_time: Option<Duration>,
    pub ttfb: Option<Duration>,
    pub dns_started: Option<Instant>,
    pub dns_time: Option<Duration>,
    /// The one free retry on a fresh connection after a reused one failed
    /// early was used.
    pub retried_fresh: bool,
    /// This is the robots.txt fetch for that origin (not a user's request).
    pub robots_for: Option<Box<str>>,
}

/// What a new request starts with (the rest starts empty).
pub(crate) struct NewReq {
    pub generation: u32,
    pub id: u64,
    pub line: Option<u64>,
    pub url: Url,
    pub method: Method,
    pub host: HostId,
    pub stage: Stage,
    pub timer: TimerId,
    pub now: Instant,
    pub robots_for: Option<Box<str>>,
}

impl Req {
    /// A request pulled (or made) at `n.now`, before any attempt.
    pub fn new(n: NewReq) -> Req {
        Req {
            generation: n.generation,
            id: n.id,
            line: n.line,
            url: n.url,
            original: None,
            method: n.method,
            host: n.host,
            stage: n.stage,
            attempts: 0,
            retries: Vec::new(),
            redirects: Vec::new(),
            pulled_at: n.now,
            started_at: None,
            attempt_started: None,
            backoff_retries: 0,
            conn: None,
            timer: n.timer,
            reused: false,
            connect_time: None,
            ttfb: None,
            dns_started: None,
            dns_time: None,
            retried_fresh: false,
            robots_for: n.robots_for,
        }
    }

    pub fn token(&self, rslot: usize) -> Token {
        Token {
            slot: rslot,
            generation: self.generation,
        }
    }

    fn attempt(&self) -> Attempt {
        Attempt {
            method: self.method,
            retries: self.backoff_retries,
            reused: self.reused,
            retried_fresh: self.retried_fresh,
            got_response_bytes: true,
        }
    }
}

impl Run<'_> {
    /// A new input item: parse, then park in the admission queue (or fail now).
    pub(super) fn accept(&mut self, id: u64, item: Request, now: Instant) {
        let parsed = match item.error {
            Some(e) => Err((e, item.url)),
            None => Url::parse_or_return(item.url),
        };
        let url = match parsed {
            Ok(url) => url,
            Err((e, raw)) => {
                emit!(self, now, EventKind::Queued { req: id, url: &raw });
                emit!(
                    self,
                    now,
                    EventKind::Finished {
                        req: id,
                        result: Err((e.phase.as_str(), e.kind.as_str())),
                        attempts: 0,
                    }
                );
                self.complete(Outcome {
                    id,
                    line: item.line,
                    url: raw,
                    attempts: 0,
                    retries: Vec::new(),
                    redirects: Vec::new(),
                    reused: false,
                    timings: Timings::default(),
                    result: Err(e),
                });
                return;
            }
        };
        let (token, timer) = self.new_request_token(now);
        emit!(
            self,
            now,
            EventKind::Queued {
                req: id,
                url: url.as_str()
            }
        );
        let slot = self.reqs.insert(Req::new(NewReq {
            generation: token.generation,
            id,
            line: item.line,
            url,
            method: self.config.request.method,
            host: HostId::none(),
            stage: Stage::RobotsWait,
            timer,
            now,
            robots_for: None,
        }));
        debug_assert_eq!(slot, token.slot);
        // robots.txt first: admitted now, waiting for the file, or refused.
        match self.robots_check(token, now) {
            RobotsCheck::Admit => {
                let req = &mut self.reqs[slot];
                req.host = self.admission.push(req.url.origin(), token, now);
                req.stage = Stage::Parked;
            }
            RobotsCheck::Wait => {}
            RobotsCheck::Deny(e) => self.finish(slot, Err(e), now),
        }
    }

    /// The token of the request about to be inserted in the slab, and its
    /// total deadline's timer.
    pub(super) fn new_request_token(&mut self, now: Instant) -> (Token, TimerId) {
        let token = Token {
            slot: self.reqs.vacant_key(),
            generation: self.next_generation(),
        };
        let deadline = now + self.config.timeouts.total;
        (
            token,
            self.timers.insert(deadline, TimerKind::Request(token)),
        )
    }

    /// Acts on a stop request: no more input, parked requests cancelled;
    /// and on an abort: requests in flight cancelled too.
    pub(super) fn check_stop(&mut self, now: Instant) {
        if !self.stopped && self.stop_flag.load(Ordering::Relaxed) {
            self.stopped = true;
            self.cancel_parked(now);
        }
        if !self.aborted && self.abort_flag.load(Ordering::Relaxed) {
            self.aborted = true;
            let active: Vec<usize> = self.reqs.iter().map(|(i, _)| i).collect();
            for rslot in active {
                let phase = self.active_phase(rslot).unwrap_or(Phase::Admission);
                let e = Error::new(phase, ErrorKind::Cancelled, "crawl aborted");
                self.abort(rslot, e, now);
            }
        }
    }

    /// Starts every request the admission queue lets through.
    pub(super) fn start_ready(&mut self, now: Instant) {
        // Requests that waited for a file descriptor go first; while any
        // still waits, nothing new starts (the open-file limit is the limit),
        // nor while the workers' queue is full.
        if self.serve_fd_waiters(now) || self.stopped || self.held.is_some() {
            return;
        }
        let paced_before = self.admission.stats().paced_waits;
        while let Some((token, host)) = self.admission.poll_ready(now, &mut self.rng) {
            let in_flight = self.admission.in_flight();
            self.summary.max_in_flight = self.summary.max_in_flight.max(in_flight);
            let req = &mut self.reqs[token.slot];
            emit!(
                self,
                now,
                EventKind::Admitted {
                    req: req.id,
                    origin: self.admission.key(host),
                }
            );
            req.stage = Stage::Active;
            req.started_at.get_or_insert(now);
            self.dispatch(token.slot, false, now);
        }
        let waits = self.admission.stats().paced_waits - paced_before;
        if waits > 0 {
            emit!(self, now, EventKind::Paced { waits });
        }
    }

    /// A complete response: the policy says finish, retry or redirect, and
    /// what it tells about the host (throttle, success, pause).
    pub(super) fn on_response(&mut self, rslot: usize, resp: Response, now: Instant) {
        let req = &self.reqs[rslot];
        let host = req.host;
        let redirects = self.redirect_policy(rslot);
        let (verdict, feedback) = judge_response(
            &resp,
            &req.attempt(),
            &self.config.retry,
            &redirects,
            SystemTime::now(),
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
            ResponseVerdict::Finish => self.finish(rslot, Ok(resp), now),
            ResponseVerdict::Retry(cause) => {
                self.recycle(resp);
                self.retry(rslot, cause, now);
            }
            ResponseVerdict::Redirect(location) => {
                let status = resp.status;
                self.recycle(resp);
                self.redirect(rslot, status, &location, now);
            }
        }
    }

    pub(super) fn recycle(&mut self, mut resp: Response) {
        if self.spare_responses.len() < self.config.concurrency {
            resp.recycle();
            self.spare_responses.push(resp);
        }
    }

    /// Follows a redirect: the request leaves its origin's slot and queues
    /// under the target's origin, so a cross-host redirect obeys that host's
    /// limits.
    fn redirect(&mut self, rslot: usize, status: u16, location: &str, now: Instant) {
        let req = &self.reqs[rslot];
        let first = req.original.as_deref().unwrap_or(req.url.as_str());
        let target = redirect_target(
            &req.url,
            first,
            &req.redirects,
            status,
            location,
            req.method,
            &self.redirect_policy(rslot),
        );
        let hop = match target {
            Ok(hop) => hop,
            Err(e) => return self.finish(rslot, Err(e), now),
        };
        let req = &self.reqs[rslot];
        self.summary.redirects += 1;
        self.admission.release(req.host, now);
        let token = req.token(rslot);
        let host = self.admission.push_front(hop.url.origin(), token, now);
        let req = &mut self.reqs[rslot];
        req.redirects.push(hop.url.as_str().to_string());
        let previous = std::mem::replace(&mut req.url, hop.url);
        if req.original.is_none() {
            req.original = Some(previous.into_string());
        }
        req.method = hop.method;
        req.host = host;
        req.stage = Stage::Parked;
    }

    /// Releases the request's slot and schedules the next attempt after an
    /// exponential backoff with jitter.
    pub(super) fn retry(&mut self, rslot: usize, cause: RetryCause, now: Instant) {
        *self
            .summary
            .retries_by_cause
            .entry(cause.to_string())
            .or_insert(0) += 1;
        let req = &self.reqs[rslot];
        self.admission.release(req.host, now);
        let wait = self
            .config
            .retry
            .backoff(req.backoff_retries, self.rng.unit());
        let token = req.token(rslot);
        let timer = self.timers.insert(now + wait, TimerKind::Retry(token));
        let req = &mut self.reqs[rslot];
        req.retries.push(cause);
        req.backoff_retries += 1;
        req.stage = Stage::Backoff(timer);
        req.conn = None;
    }

    /// A backoff ended: the request queues again at the head of its origin.
    pub(super) fn retry_timer(&mut self, token: Token, now: Instant) {
        let Some(req) = self.reqs.get_mut(token.slot) else {
            return;
        };
        if req.generation != token.generation || !matches!(req.stage, Stage::Backoff(_)) {
            return;
        }
        req.stage = Stage::Parked;
        let key = req.url.origin().to_string();
        req.host = self.admission.push_front(&key, token, now);
    }

    /// The total deadline of a request passed: it covers queueing, every
    /// attempt, backoffs and redirects.
    pub(super) fn request_timer(&mut self, token: Token, now: Instant) {
        let Some(req) = self.reqs.get(token.slot) else {
            return;
        };
        if req.generation != token.generation {
            return;
        }
        let limit = self.config.timeouts.total;
        let detail = match req.stage {
            Stage::Parked => format!("total timeout {limit:?} passed while queued"),
            Stage::Backoff(_) => format!("total timeout {limit:?} passed before a retry"),
            Stage::RobotsWait => {
                format!("total timeout {limit:?} passed while waiting for robots.txt")
            }
            Stage::Active => format!("total timeout {limit:?} passed"),
        };
        let phase = self.active_phase(token.slot).unwrap_or(Phase::Admission);
        self.abort(
            token.slot,
            Error::new(phase, ErrorKind::Deadline, detail),
            now,
        );
    }

    /// Ends a request with `e` wherever it is, closing its connection if it
    /// has one.
    fn abort(&mut self, rslot: usize, e: Error, now: Instant) {
        if let (Stage::Active, Some(cslot)) = (self.reqs[rslot].stage, self.reqs[rslot].conn) {
            self.drop_busy_conn(cslot, "aborted", now);
        }
        self.finish(rslot, Err(e), now);
    }

    /// The event queue failed: every known request ends with that error and
    /// is delivered, and the error is returned from `run`.
    pub(super) fn abort_all<F, G, R>(
        &mut self,
        err: &std::io::Error,
        delivery: &mut super::delivery::Delivery<'_, F, G, R>,
    ) -> Error
    where
        F: FnMut(&Outcome),
        G: FnMut(crate::workers::Done<R>),
        R: Send + 'static,
    {
        log::error!("poll failed: {err}");
        let e = Error::from_io(Phase::Admission, err);
        let now = Instant::now();
        self.stopped = true;
        let slots: Vec<usize> = self.reqs.iter().map(|(i, _)| i).collect();
        for rslot in slots {
            self.abort(rslot, e.clone(), now);
        }
        self.deliver(delivery);
        e
    }

    /// Ends a request wherever it is: frees what its stage holds, and
    /// builds its outcome. Every path to an outcome passes here once.
    pub(super) fn finish(&mut self, rslot: usize, result: Result<Response, Error>, now: Instant) {
        let req = self.reqs.remove(rslot);
        self.timers.cancel(req.timer);
        match req.stage {
            Stage::Active => self.admission.release(req.host, now),
            Stage::Parked => {
                self.admission
                    .remove_parked(req.host, &req.token(rslot), now);
            }
            Stage::Backoff(timer) => {
                self.timers.cancel(timer);
            }
            Stage::RobotsWait => self.leave_robots_wait(req.url.origin(), &req.token(rslot)),
        }
        let started = req.started_at.unwrap_or(now);
        // dns, connect and ttfb were measured on the final attempt (each
        // attempt resets them); queued and total span the whole input.
        let timings = Timings {
            queued: started.saturating_duration_since(req.pulled_at),
            dns: if req.reused { None } else { req.dns_time },
            connect: if req.reused { None } else { req.connect_time },
            ttfb: req.ttfb,
            total: now.saturating_duration_since(started),
        };
        let url = match req.original {
            Some(original) => original,
            None => req.url.into_string(),
        };
        emit!(
            self,
            now,
            EventKind::Finished {
                req: req.id,
                result: match &result {
                    Ok(r) => Ok(r.status),
                    Err(e) => Err((e.phase.as_str(), e.kind.as_str())),
                },
                attempts: req.attempts,
            }
        );
        if let Some(origin) = req.robots_for {
            // Not a user's request: its result decides the origin's rules.
            return self.robots_done(origin, result, now);
        }
        self.complete(Outcome {
            id: req.id,
            line: req.line,
            url,
            attempts: req.attempts,
            retries: req.retries,
            redirects: req.redirects,
            reused: req.reused,
            timings,
            result,
        });
    }

    fn cancel_parked(&mut self, now: Instant) {
        // Requests waiting for robots.txt first (so the fetches' own
        // cancellation finds nobody to release).
        let waiting: Vec<usize> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.stage == Stage::RobotsWait)
            .map(|(i, _)| i)
            .collect();
        for slot in waiting {
            let e = Error::new(Phase::Admission, ErrorKind::Cancelled, "crawl stopped");
            self.finish(slot, Err(e), now);
        }
        // Parked requests, and those waiting for a retry, never start again.
        // (`finish` of a drained request finds nothing left to remove.)
        for token in self.admission.drain_parked() {
            let e = Error::new(Phase::Admission, ErrorKind::Cancelled, "crawl stopped");
            self.finish(token.slot, Err(e), now);
        }
        let waiting: Vec<usize> = self
            .reqs
            .iter()
            .filter(|(_, r)| matches!(r.stage, Stage::Backoff(_)))
            .map(|(i, _)| i)
            .collect();
        for slot in waiting {
            let e = Error::new(
                Phase::Admission,
                ErrorKind::Cancelled,
                "crawl stopped before a retry",
            );
            self.finish(slot, Err(e), now);
        }
    }
}
