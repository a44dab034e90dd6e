//! Connecting, with happy eyeballs (RFC 8305): the addresses are tried
//! families interleaved; an attempt starts, and if it has not connected
//! `stagger` later (250 ms by default; curl waits 200, Go and hyper 300),
//! the next one starts beside it. The first to connect wins; the others are
//! closed. An attempt that fails lets the next one start at once; each has
//! the connect timeout. So a host whose IPv6 path is black-holed costs a
//! quarter of a second, not the whole connect timeout.

use super::net::Net;
use super::{Conn, ConnEvent, ConnState, PhaseTimeouts};
use crate::error::{Error, ErrorKind, Phase};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// One connect attempt in flight.
pub(crate) struct Racer<S> {
    pub stream: S,
    pub started: Instant,
}

/// The addresses reordered to alternate families, each family in its own
/// order, starting with the first address's family (RFC 8305 §4).
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_v6 = first.is_ipv6();
    let n = addrs.len();
    let (a, b): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(n);
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

impl<S: io::Read + io::Write> Conn<S> {
    pub(super) fn has_next_address(&self) -> bool {
        self.addr_idx < self.addrs.len()
    }

    /// Starts connecting: the first address (and the next ones at once if
    /// they fail synchronously). Fails when no attempt could start.
    pub fn start_connect(
        &mut self,
        net: &mut impl Net<Stream = S>,
        now: Instant,
    ) -> Result<(), Error> {
        self.close_stream(net);
        self.connect_since = now;
        self.launch_next(net, now)
    }

    /// Starts an attempt at the next address that takes one.
    fn launch_next(&mut self, net: &mut impl Net<Stream = S>, now: Instant) -> Result<(), Error> {
        self.next_attempt_at = None;
        while self.addr_idx < self.addrs.len() {
            let addr = self.addrs[self.addr_idx];
            self.addr_idx += 1;
            if let Some(a) = &mut self.attempts {
                a.push_back(addr);
            }
            match net.connect(addr) {
                Ok(stream) => {
                    self.racing.push(Racer {
                        stream,
                        started: now,
                    });
                    self.held_socket = true;
                    self.writable_interest = true;
                    if self.has_next_address() {
                        self.next_attempt_at = Some(now + self.stagger);
                    }
                    return Ok(());
                }
                Err(e) => self.last_connect_error = Some(e),
            }
        }
        if self.racing.is_empty() {
            return Err(self.connect_error());
        }
        Ok(())
    }

    /// Connecting: has an attempt connected? Failed ones are closed (and
    /// the next address tried at once).
    pub(super) fn step_connecting(
        &mut self,
        net: &mut impl Net<Stream = S>,
        now: Instant,
    ) -> ConnEvent {
        let mut i = 0;
        let mut failed = false;
        while i < self.racing.len() {
            match net.connect_result(&self.racing[i].stream) {
                Ok(false) => i += 1,
                Ok(true) => return self.won(i, net, now),
                Err(e) => {
                    let r = self.racing.remove(i);
                    net.close(r.stream);
                    self.last_connect_error = Some(e);
                    failed = true;
                }
            }
        }
        if failed && self.has_next_address() {
            if let Err(e) = self.launch_next(net, now) {
                return self.fail(net, e, now);
            }
        } else if self.racing.is_empty() {
            let e = self.connect_error();
            return self.fail(net, e, now);
        }
        ConnEvent::Pending
    }

    /// Attempt `i` connected: it is the connection; the others are closed.
    fn won(&mut self, i: usize, net: &mut impl Net<Stream = S>, now: Instant) -> ConnEvent {
        let winner = self.racing.swap_remove(i);
        for r in self.racing.drain(..) {
            net.close(r.stream);
        }
        self.next_attempt_at = None;
        self.io.stream = Some(winner.stream);
        self.connected_at = Some(now);
        let next = if self.tunnel.is_some() {
            ConnState::Tunneling
        } else if self.io.tls.is_some() {
            ConnState::TlsHandshake
        } else {
            ConnState::Sending
        };
        self.set_state(next, now);
        // Report, then continue with the next state on the next call.
        ConnEvent::Connected
    }

    /// The earliest of: the next staggered attempt, an attempt's connect
    /// timeout.
    pub(super) fn connect_deadline(&self, t: &PhaseTimeouts) -> Option<Instant> {
        let timeouts = self.racing.iter().map(|r| r.started + t.connect);
        let earliest = timeouts.min().unwrap_or(self.connect_since + t.connect);
        Some(self.next_attempt_at.map_or(earliest, |n| n.min(earliest)))
    }

    /// A connect deadline passed: start the next attempt (stagger), and
    /// close attempts past the connect timeout; fail when none is left.
    pub(super) fn connect_timeout(
        &mut self,
        net: &mut impl Net<Stream = S>,
        t: &PhaseTimeouts,
        now: Instant,
    ) -> ConnEvent {
        let mut i = 0;
        while i < self.racing.len() {
            if self.racing[i].started + t.connect <= now {
                let r = self.racing.remove(i);
                net.close(r.stream);
                self.last_connect_error = Some(io::ErrorKind::TimedOut.into());
            } else {
                i += 1;
            }
        }
        let stagger_due = self.next_attempt_at.is_some_and(|at| at <= now);
        if (stagger_due || self.racing.is_empty()) && self.has_next_address() {
            log::debug!("connect: trying the next address beside (or after) the earlier ones");
            if let Err(e) = self.launch_next(net, now) {
                return self.fail(net, e, now);
            }
        }
        if self.racing.is_empty() {
            let e = Error::new(Phase::Connect, ErrorKind::Timeout, "connect timeout");
            return self.fail(net, e, now);
        }
        ConnEvent::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate_from_the_first_address() {
        let a: Vec<SocketAddr> = [
            "1.1.1.1:80",
            "2.2.2.2:80",
            "[::1]:80",
            "[::2]:80",
            "3.3.3.3:80",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let got: Vec<String> = interleave(a).iter().map(|x| x.to_string()).collect();
        assert_eq!(
            got,
            [
                "1.1.1.1:80",
                "[::1]:80",
                "2.2.2.2:80",
                "[::2]:80",
                "3.3.3.3:80"
            ]
        );
    }
}
