//! Redirects in the request core: which a request follows (its policy,
//! the crawl's scope), and following one (the request leaves its origin's
//! slot and queues, through the robots gate, under the target's).

use super::{Requests, Stage};
use crate::error::{Error, ErrorKind, Phase};
use crate::policy::{redirect_target, RedirectPolicy};
use std::time::Instant;

impl Requests {
    /// Which redirects a request follows: its robots.txt fetch always
    /// follows up to five, whatever the crawl's setting.
    pub(super) fn redirect_policy(&self, slot: usize) -> RedirectPolicy {
        if self.reqs[slot].robots_for.is_some() {
            RedirectPolicy {
                follow: true,
                max: super::robots::ROBOTS_REDIRECTS,
            }
        } else {
            self.config.redirects
        }
    }

    /// May request `slot` follow a redirect to `location`? Its
    /// [`RedirectScope`](crate::outcome::RedirectScope) says (a target
    /// that cannot be resolved is the redirect policy's error to give).
    pub(super) fn redirect_in_scope(&self, slot: usize, location: &str) -> bool {
        let req = &self.reqs[slot];
        let Some(scope) = req.redirect_scope.as_ref() else {
            return true;
        };
        req.url.join(location).map_or(true, |to| scope.allows(&to))
    }

    /// Follows a redirect: the request leaves its origin's slot and queues
    /// under the target's origin, so a cross-host redirect obeys that host's
    /// limits.
    pub(super) fn redirect(&mut self, slot: usize, status: u16, location: &str, now: Instant) {
        let req = &self.reqs[slot];
        let first = req.original.as_deref().unwrap_or(req.url.as_str());
        let target = redirect_target(
            &req.url,
            first,
            &req.redirects,
            status,
            location,
            req.method,
            &self.redirect_policy(slot),
        );
        let hop = match target {
            Ok(hop) if hop.url.has_credentials() => {
                let e = Error::new(
                    Phase::Redirect,
                    ErrorKind::BadRedirect,
                    "a redirect to a URL with credentials (not supported)",
                );
                let _ = self.finish(slot, Err(e), now);
                return;
            }
            Ok(hop) => hop,
            Err(e) => {
                let _ = self.finish(slot, Err(e), now);
                return;
            }
        };
        self.summary.redirects += 1;
        self.admission.release(req.host, now);
        let token = req.token(slot);
        let req = &mut self.reqs[slot];
        req.redirects.push(hop.url.as_str().to_string());
        let previous = std::mem::replace(&mut req.url, hop.url);
        if let Some(x) = &mut req.extra {
            let same_host = previous.host() == req.url.host();
            x.redirected(same_host, hop.method != req.method);
        }
        if req.original.is_none() {
            req.original = Some(previous.into_string());
        }
        req.method = hop.method;
        // It holds nothing now: like a new request, every hop passes the
        // robots.txt gate (and waits for a new origin's file) before it is
        // sent.
        req.stage = Stage::RobotsWait;
        if self.config.robots.enabled && req.robots_for.is_none() && !self.stopped {
            self.through_gate(token, now, true);
        } else {
            self.park_front(token, now, "redirect");
        }
    }
}
