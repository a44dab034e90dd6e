//! The driver's robots.txt gate: before an origin's first request, its
//! `/robots.txt` is fetched once, as an ordinary request (same admission
//! queue, per-host limits, pacing, pool, DNS and TLS), while that origin's
//! requests wait beside it. When the answer comes, RFC 9309 §2.3.1 decides:
//! 2xx → its rules; 4xx → everything allowed; 5xx, too many redirects, and
//! network errors → everything disallowed (`robots: unavailable`), except
//! that an origin that cannot be reached at all (DNS failure, connection
//! refused or timed out) gives its URLs that error, which says more.
//! A `Crawl-delay` raises the origin's delay between starts (capped).

use super::request::{NewReq, Req, Stage};
use super::Run;
use crate::error::{Error, ErrorKind, Phase};
use crate::http::{Method, Response};
use crate::policy::RedirectPolicy;
use crate::reactor::Token;
use crate::robots::Robots;
use crate::url::Url;
use std::time::Instant;

/// What an origin's robots.txt says so far.
pub(super) enum Gate {
    /// Being fetched; these requests wait for it.
    Fetching(Vec<Token>),
    /// Known: the rules (allow-all for 4xx, deny-all when unavailable).
    Known(Robots),
    /// The origin cannot be reached: its requests end with this error.
    Unreachable(Error),
}

/// What the gate says about one request.
pub(super) enum RobotsCheck {
    /// Go on into the admission queue.
    Admit,
    /// Wait for the origin's robots.txt (now in its waiting list).
    Wait,
    /// End with this error, without a request to the server.
    Deny(Error),
}

/// robots.txt fetches follow up to this many redirects (RFC 9309 §2.3.1.2).
const ROBOTS_REDIRECTS: u32 = 5;

fn decide(gate: &Gate, url: &Url) -> RobotsCheck {
    match gate {
        Gate::Fetching(_) => RobotsCheck::Wait,
        Gate::Unreachable(e) => RobotsCheck::Deny(e.clone()),
        Gate::Known(r) if r.allowed(url.path_and_query()) => RobotsCheck::Admit,
        Gate::Known(r) if r.denies_all() => RobotsCheck::Deny(Error::new(
            Phase::Robots,
            ErrorKind::Unavailable,
            format!(
                "{}/robots.txt could not be read: everything is disallowed (RFC 9309)",
                url.origin()
            ),
        )),
        Gate::Known(_) => RobotsCheck::Deny(Error::new(
            Phase::Robots,
            ErrorKind::Disallowed,
            format!(
                "{}/robots.txt disallows {}",
                url.origin(),
                url.path_and_query()
            ),
        )),
    }
}

impl Run<'_> {
    /// The gate's answer for the request `token` (already in the slab): a
    /// fetch of its origin's robots.txt starts if it is the first.
    pub(super) fn robots_check(&mut self, token: Token, now: Instant) -> RobotsCheck {
        if !self.config.robots.enabled {
            return RobotsCheck::Admit;
        }
        let url = &self.reqs[token.slot].url;
        let check = match self.robots.get_mut(url.origin()) {
            Some(Gate::Fetching(waiting)) => {
                waiting.push(token);
                RobotsCheck::Wait
            }
            Some(gate) => decide(gate, url),
            None => {
                // Once per origin: the only allocation of the gate.
                let origin: Box<str> = url.origin().into();
                self.start_robots_fetch(&origin, now);
                self.robots.insert(origin, Gate::Fetching(vec![token]));
                RobotsCheck::Wait
            }
        };
        match check {
            RobotsCheck::Wait => self.robots_waiting += 1,
            RobotsCheck::Deny(_) => self.summary.robots_denied += 1,
            RobotsCheck::Admit => {}
        }
        check
    }

    /// Queues the fetch of `origin`'s robots.txt, as a request.
    fn start_robots_fetch(&mut self, origin: &str, now: Instant) {
        let Ok(robots_url) = Url::parse(&format!("{origin}/robots.txt")) else {
            return;
        };
        self.summary.robots_fetches += 1;
        let (token, timer) = self.new_request_token(now);
        let host = self.admission.push(origin, token, now);
        self.next_robots_id += 1;
        self.reqs.insert(Req::new(NewReq {
            generation: token.generation,
            id: self.next_robots_id,
            line: None,
            url: robots_url,
            method: Method::Get,
            host,
            stage: Stage::Parked,
            timer,
            now,
            robots_for: Some(origin.into()),
        }));
    }

    /// A request waiting for `origin`'s robots.txt ended (deadline, stop).
    pub(super) fn leave_robots_wait(&mut self, origin: &str, token: &Token) {
        if let Some(Gate::Fetching(waiting)) = self.robots.get_mut(origin) {
            if let Some(i) = waiting.iter().position(|t| t == token) {
                waiting.swap_remove(i);
                self.robots_waiting -= 1;
            }
        }
    }

    /// Redirects a request may follow: its robots.txt fetch always follows
    /// up to five, whatever the crawl's setting.
    pub(super) fn redirect_policy(&self, rslot: usize) -> RedirectPolicy {
        if self.reqs[rslot].robots_for.is_some() {
            RedirectPolicy {
                follow: true,
                max: ROBOTS_REDIRECTS,
            }
        } else {
            self.config.redirects
        }
    }

    /// The fetch of `origin`'s robots.txt ended: the gate is decided, and the
    /// requests that waited go on (or end, disallowed).
    pub(super) fn robots_done(
        &mut self,
        origin: Box<str>,
        result: Result<Response, Error>,
        now: Instant,
    ) {
        let gate = match &result {
            Ok(resp) => {
                let class = (resp.status / 100).min(5) as usize;
                self.summary.robots_statuses[class] += 1;
                match resp.status {
                    200..=299 => {
                        let rules = Robots::parse(&resp.body, &self.config.robots_agent());
                        if let Some(delay) = rules.crawl_delay() {
                            let delay = delay.min(self.config.robots.max_crawl_delay);
                            self.admission.set_min_delay(&origin, delay);
                        }
                        Gate::Known(rules)
                    }
                    400..=499 => Gate::Known(Robots::allow_all()),
                    _ => Gate::Known(Robots::deny_all()),
                }
            }
            Err(e) => {
                self.summary.robots_statuses[0] += 1;
                let unreachable = e.phase == Phase::Dns
                    || (e.phase == Phase::Connect
                        && matches!(
                            e.kind,
                            ErrorKind::Refused | ErrorKind::Timeout | ErrorKind::Reset
                        ));
                if unreachable {
                    Gate::Unreachable(e.clone())
                } else {
                    Gate::Known(Robots::deny_all())
                }
            }
        };
        if let Ok(resp) = result {
            self.recycle(resp);
        }
        let waiting = match self.robots.insert(origin, gate) {
            Some(Gate::Fetching(w)) => w,
            _ => Vec::new(),
        };
        self.robots_waiting -= waiting.len();
        for token in waiting {
            let Some(req) = self.reqs.get(token.slot) else {
                continue;
            };
            if req.generation != token.generation || req.stage != Stage::RobotsWait {
                continue;
            }
            let gate = &self.robots[req.url.origin()];
            match decide(gate, &req.url) {
                RobotsCheck::Admit => {
                    let host = self.admission.push(req.url.origin(), token, now);
                    let req = &mut self.reqs[token.slot];
                    req.host = host;
                    req.stage = Stage::Parked;
                }
                RobotsCheck::Deny(e) => {
                    self.summary.robots_denied += 1;
                    self.finish(token.slot, Err(e), now);
                }
                RobotsCheck::Wait => {}
            }
        }
    }
}
