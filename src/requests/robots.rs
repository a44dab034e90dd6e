//! The request core's side of robots.txt: every request passes the
//! [`Gate`](crate::robots::gate::Gate) before the admission queue. An
//! origin's first request queues the fetch of its `/robots.txt` as an
//! ordinary request (same admission queue, per-host limits, pacing, pool,
//! DNS and TLS) while the origin's requests wait beside it; when the file
//! (or an error) comes back, the gate decides them. A `Crawl-delay` raises
//! the origin's delay between starts (capped).

use super::{Requests, Stage};
use crate::error::Error;
use crate::http::{Method, Response};
use crate::reactor::Token;
use crate::robots::gate::Check;
use crate::url::Url;
use std::time::Instant;

/// robots.txt fetches follow up to this many redirects (RFC 9309 §2.3.1.2).
pub(super) const ROBOTS_REDIRECTS: u32 = 5;

impl Requests {
    /// Asks the gate about request `token` (in `RobotsWait`): it is parked
    /// (at the head of its origin with `front`: a redirect hop), waits for
    /// its origin's file (fetching it if first), or ends.
    pub(super) fn through_gate(&mut self, token: Token, now: Instant, front: bool) {
        let url = &self.reqs[token.slot].url;
        match self.gate.check(url, token, now) {
            Check::Admit if front => self.park_front(token, now, "redirect"),
            Check::Admit => self.park(token, now),
            Check::Fetch => {
                let origin: Box<str> = url.origin().into();
                self.start_robots_fetch(origin, now);
            }
            Check::Wait => {}
            Check::Deny(e) => self.deny(token, e, now),
        }
    }

    /// Ends a request the gate refused: no request reaches the server.
    /// (Counted as refused by robots.txt only when the file said so, not
    /// when the origin could not be reached: that is the URL's own error.)
    fn deny(&mut self, token: Token, e: Error, now: Instant) {
        if e.phase == crate::error::Phase::Robots {
            self.summary.robots_denied += 1;
        }
        let _ = self.finish(token.slot, Err(e), now);
    }

    /// Queues the fetch of `origin`'s robots.txt, as a request (the body is
    /// kept whatever the crawl's setting: it is read to be obeyed).
    fn start_robots_fetch(&mut self, origin: Box<str>, now: Instant) {
        let Ok(url) = Url::parse(&format!("{origin}/robots.txt")) else {
            return;
        };
        self.summary.robots_fetches += 1;
        self.next_robots_id += 1;
        let id = self.next_robots_id;
        self.event(|| super::RequestEvent::Queued {
            req: id,
            url: url.as_str().into(),
        });
        let token = self.insert(id, None, url, Method::Get, true, Some(origin), now);
        self.park(token, now);
    }

    /// The fetch of `origin`'s robots.txt ended: the gate decides the
    /// origin, and the requests that waited go on (or end, disallowed).
    /// Returns the response for reuse.
    pub(super) fn robots_done(
        &mut self,
        origin: Box<str>,
        result: Result<Response, Error>,
        now: Instant,
    ) -> Option<Response> {
        let class = match &result {
            Ok(resp) => (resp.status / 100).min(5) as usize,
            Err(_) => 0,
        };
        self.summary.robots_statuses[class] += 1;
        if self.config.robots.report_sitemaps {
            // Every origin's sitemaps, from the one fetch the gate makes
            // (a 2xx file; none otherwise, but the origin is reported).
            let lines = match &result {
                Ok(r) if (200..300).contains(&r.status) => crate::sitemap::robots_sitemaps(&r.body),
                _ => Vec::new(),
            };
            self.robots_sitemaps.push_back((origin.clone(), lines));
        }
        let agent = self.config.robots_agent();
        let (waiting, delay) = self
            .gate
            .handle_fetched(&origin, result.as_ref(), &agent, now);
        if let Some(delay) = delay {
            let delay = delay.min(self.config.robots.max_crawl_delay);
            self.admission.set_min_delay(&origin, delay);
        }
        for token in waiting {
            let Some(req) = self.get(token) else {
                continue;
            };
            if req.stage != Stage::RobotsWait {
                continue;
            }
            match self.gate.recheck(&req.url) {
                Check::Admit => self.park(token, now),
                Check::Deny(e) => self.deny(token, e, now),
                // The origin was just decided.
                Check::Fetch | Check::Wait => {}
            }
        }
        result.ok()
    }
}
