//! The dialer: may a request that found no idle connection open a new one
//! now, or must it wait — and when it waited, when may it go?
//!
//! Sans-IO, like the [`pool`](crate::pool) it sits in front of: it holds
//! opaque request handles `R` and connection handles `C`, and time is a
//! parameter. Two reasons make a request wait, and both are here:
//!
//! - **the connect ramp**: at most `max_connecting` new connections per
//!   origin still connecting at once. A burst of thousands then reaches a
//!   server over a few round trips instead of one turn's flood of SYNs.
//!   Each connection that connects (or closes before it could) lets the
//!   next waiter go; so does a connection that goes idle, and when nobody
//!   waits, an idle one takes over the request of the oldest connect still
//!   pending after `slow_connect` (hyper's pool, too, gives a request
//!   whichever comes first, an idle connection or its connect: a SYN
//!   dropped by a full accept queue is sent again only after a second).
//! - **file descriptors**: a socket that cannot be made (EMFILE/ENFILE) is
//!   back-pressure, not the request's failure. The request waits until a
//!   connection closes (one waiter per descriptor freed) or an idle one can
//!   be reused or closed; while any waits, the driver admits nothing new.
//!
//! The dialer is asked *before* the pool counts a new connection, so the
//! pool never counts one that is not opened. Usage contract:
//! - the table first asks the pool for an idle connection
//!   ([`Pool::checkout_idle`]); finding none, it [`ask`](Dialer::ask)s the
//!   dialer: [`Dial::Open`] (count it in the pool, open it, then
//!   [`handle_dialing`](Dialer::handle_dialing)) or [`Dial::Wait`];
//! - inputs: [`handle_connected`](Dialer::handle_connected) when a dialing
//!   connection connected or closed, [`handle_idle`](Dialer::handle_idle)
//!   when a connection went back to the pool,
//!   [`handle_no_descriptor`](Dialer::handle_no_descriptor) /
//!   [`handle_descriptor_freed`](Dialer::handle_descriptor_freed),
//!   [`cancel`](Dialer::cancel) when a waiting request ended;
//! - output: [`poll_dial`](Dialer::poll_dial), a waiting request that may
//!   go now (descriptor waiters first: they hold the admission), drained
//!   until `None` after every input.
//!
//! ```
//! use oneloop::dialer::{Dial, Dialer, DialerConfig};
//! use oneloop::pool::{Pool, PoolConfig};
//! use std::time::{Duration, Instant};
//!
//! let config = DialerConfig { max_connecting: 1, slow_connect: Duration::from_millis(250) };
//! let mut dialer: Dialer<u32, u32> = Dialer::new(config);
//! let pool: Pool<u32> = Pool::new(PoolConfig { max_total: 9, max_per_key: 9, idle_timeout: Duration::from_secs(90) });
//! let now = Instant::now();
//! assert_eq!(dialer.ask("http://a:80", 1, false), Dial::Open);
//! dialer.handle_dialing("http://a:80", 100, 1, true, now);
//! assert_eq!(dialer.ask("http://a:80", 2, false), Dial::Wait { connecting: 1 });
//! assert_eq!(dialer.poll_dial(&pool), None, "request 2 waits for the connect");
//! dialer.handle_connected("http://a:80", 100);
//! assert_eq!(dialer.poll_dial(&pool), Some((2, false)), "its turn now");
//! ```

use crate::pool::Pool;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The dialer's limits.
#[derive(Clone, Copy, Debug)]
pub struct DialerConfig {
    /// New connections per origin still connecting at once (0 is taken
    /// as 1).
    pub max_connecting: usize,
    /// A connect pending this long gives its request to a connection that
    /// goes idle meanwhile (the happy-eyeballs delay).
    pub slow_connect: Duration,
}

/// The dialer's answer to "no idle connection: may I open one?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dial {
    /// Open one (count it in the pool first, then tell
    /// [`handle_dialing`](Dialer::handle_dialing)).
    Open,
    /// Wait: the origin has `connecting` connects pending, the most
    /// allowed. The request comes back out of [`poll_dial`](Dialer::poll_dial).
    Wait {
        /// Connects pending for the origin.
        connecting: usize,
    },
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialerStats {
    /// Requests that waited for their origin's connect ramp.
    pub ramp_waits: u64,
    /// Requests that waited for a file descriptor.
    pub descriptor_waits: u64,
    /// Requests that took an idle connection while their own still
    /// connected.
    pub requests_moved: u64,
}

/// A connection still connecting, and the request it was opened for.
struct Dialing<R, C> {
    conn: C,
    req: R,
    since: Instant,
}

/// One origin's ramp.
struct Ramp<R, C> {
    /// Connections still connecting.
    connecting: usize,
    /// Requests waiting, and whether each needs a fresh connection (a
    /// retry after a pooled one failed it: an idle one will not do).
    waiting: VecDeque<(R, bool)>,
    /// On the `ready` list (at most once).
    listed: bool,
    /// The origin's protocol is being learned (ALPN may choose HTTP/2, and
    /// one connection would carry every request): one connect at a time
    /// until the first one is done.
    probing: bool,
    /// Connections opened for a request that an idle connection may take
    /// over, oldest first (those no longer dialing are skipped lazily).
    movable: VecDeque<Dialing<R, C>>,
}

impl<R, C> Default for Ramp<R, C> {
    fn default() -> Self {
        Ramp {
            connecting: 0,
            waiting: VecDeque::new(),
            listed: false,
            probing: false,
            movable: VecDeque::new(),
        }
    }
}

/// Where a waiting request waits (to find it again on [`Dialer::cancel`]).
enum WaitsOn {
    Ramp(Box<str>),
    Descriptor,
}

/// The dialer. See the [module docs](self).
pub struct Dialer<R, C> {
    config: DialerConfig,
    ramps: HashMap<Box<str>, Ramp<R, C>>,
    /// Origins whose ramp has room again while requests wait on it.
    ready: VecDeque<Box<str>>,
    /// Connections still connecting (each counted in its origin's ramp).
    dialing: HashSet<C>,
    /// Requests waiting for a file descriptor, oldest first.
    fd_waiters: VecDeque<R>,
    /// Connections closed since the descriptor waiters were last served:
    /// each freed a descriptor one waiter may take.
    fds_freed: usize,
    /// Every waiting request, and where.
    waiting: HashMap<R, WaitsOn>,
    stats: DialerStats,
}

impl<R: Copy + Eq + Hash, C: Copy + Eq + Hash> Dialer<R, C> {
    /// A dialer with nothing pending.
    pub fn new(mut config: DialerConfig) -> Self {
        config.max_connecting = config.max_connecting.max(1);
        Dialer {
            config,
            ramps: HashMap::new(),
            ready: VecDeque::new(),
            dialing: HashSet::new(),
            fd_waiters: VecDeque::new(),
            fds_freed: 0,
            waiting: HashMap::new(),
            stats: DialerStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> DialerStats {
        self.stats
    }

    /// Requests waiting, for either reason.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Connects pending for `key`.
    pub fn connecting_for(&self, key: &str) -> usize {
        self.ramps.get(key).map_or(0, |r| r.connecting)
    }

    /// Requests wait for a descriptor: while they do, nothing new should
    /// start (the open-file limit is the limit).
    pub fn fd_waiting(&self) -> bool {
        !self.fd_waiters.is_empty()
    }

    /// Request `req` found no idle connection to `key` (or needs a fresh
    /// one): open one, or wait.
    pub fn ask(&mut self, key: &str, req: R, fresh_only: bool) -> Dial {
        let Some(ramp) = self.ramps.get_mut(key) else {
            return Dial::Open; // (the usual case: nothing connecting there)
        };
        if ramp.connecting < Self::max(&self.config, ramp) {
            return Dial::Open;
        }
        ramp.waiting.push_back((req, fresh_only));
        self.waiting.insert(req, WaitsOn::Ramp(key.into()));
        self.stats.ramp_waits += 1;
        Dial::Wait {
            connecting: ramp.connecting,
        }
    }

    /// Connection `conn` to `key` is opened for `req` and connecting.
    /// `movable`: an idle connection may take `req` over if the connect is
    /// slow (not for a retry that wants a fresh connection).
    pub fn handle_dialing(&mut self, key: &str, conn: C, req: R, movable: bool, now: Instant) {
        // (get_mut first: `entry` would box the key on every dial.)
        let ramp = match self.ramps.get_mut(key) {
            Some(ramp) => ramp,
            None => self.ramps.entry(key.into()).or_default(),
        };
        ramp.connecting += 1;
        if movable {
            ramp.movable.push_back(Dialing {
                conn,
                req,
                since: now,
            });
        }
        self.dialing.insert(conn);
    }

    /// Connection `conn` to `key` is no longer connecting (connected, or
    /// closed before it could): a request waiting on the ramp may go.
    /// Nothing happens if it was not dialing.
    pub fn handle_connected(&mut self, key: &str, conn: C) {
        if !self.dialing.remove(&conn) {
            return;
        }
        let Some(ramp) = self.ramps.get_mut(key) else {
            return;
        };
        ramp.connecting -= 1;
        ramp.probing = false;
        Self::prune(ramp, &self.dialing);
        if ramp.connecting == 0 && ramp.waiting.is_empty() {
            self.ramps.remove(key);
        } else {
            Self::list(&mut self.ready, ramp, key);
        }
    }

    /// A connection of `key` went idle into the pool. A request waiting on
    /// the ramp will take it (see [`poll_dial`](Self::poll_dial)); or else
    /// the request of the oldest connect pending for `slow_connect` or
    /// longer does: returned with that connection, which the caller closes
    /// (it is no longer dialing, and the request waits first in line).
    ///
    /// (The slow one is closed rather than kept for later: a spare
    /// connection would hold a place in the pool that no request in flight
    /// accounts for. A socket still in SYN-SENT closes without a packet.
    /// The oldest is looked at only: if it is not that slow, none is.)
    #[must_use]
    pub fn handle_idle(&mut self, key: &str, now: Instant) -> Option<(C, R)> {
        if self.ramps.is_empty() {
            return None; // (the usual case: no burst in progress anywhere)
        }
        let ramp = self.ramps.get_mut(key)?;
        let mut moved = None;
        if ramp.waiting.is_empty() {
            Self::prune(ramp, &self.dialing);
            let slow = ramp.movable.front()?;
            if now.saturating_duration_since(slow.since) < self.config.slow_connect {
                return None;
            }
            let slow = ramp.movable.pop_front()?;
            self.dialing.remove(&slow.conn);
            ramp.connecting -= 1;
            ramp.waiting.push_front((slow.req, false));
            self.waiting.insert(slow.req, WaitsOn::Ramp(key.into()));
            self.stats.requests_moved += 1;
            moved = Some((slow.conn, slow.req));
        }
        Self::list(&mut self.ready, ramp, key);
        moved
    }

    /// Request `req` could not get a socket (the process is out of file
    /// descriptors). `nothing_open`: no connection is left that could free
    /// one. Returns false when waiting is hopeless (nothing open, nothing
    /// freed meanwhile): the request fails.
    pub fn handle_no_descriptor(&mut self, req: R, nothing_open: bool) -> bool {
        if nothing_open && self.fds_freed == 0 {
            return false;
        }
        self.fd_waiters.push_back(req);
        self.waiting.insert(req, WaitsOn::Descriptor);
        self.stats.descriptor_waits += 1;
        true
    }

    /// A connection that held a descriptor closed.
    pub fn handle_descriptor_freed(&mut self) {
        self.fds_freed += 1;
    }

    /// Waiting request `req` ended (its deadline, a stop): it leaves its
    /// queue. Returns whether it was waiting.
    pub fn cancel(&mut self, req: R) -> bool {
        match self.waiting.remove(&req) {
            None => false,
            Some(WaitsOn::Descriptor) => {
                self.fd_waiters.retain(|&r| r != req);
                true
            }
            Some(WaitsOn::Ramp(key)) => {
                if let Some(ramp) = self.ramps.get_mut(&key) {
                    ramp.waiting.retain(|&(r, _)| r != req);
                    if ramp.connecting == 0 && ramp.waiting.is_empty() && !ramp.listed {
                        self.ramps.remove(&key);
                    }
                }
                true
            }
        }
    }

    /// The next waiting request that may go now, and whether it needs a
    /// fresh connection: a descriptor waiter, one per connection closed
    /// since and one per idle pooled connection (reused if it is of the
    /// same origin, else closed to free its descriptor when the open fails
    /// again); then a ramp waiter whose origin has fewer connects pending
    /// than allowed, or an idle connection (unless it needs a fresh one).
    ///
    /// An origin stays listed while it has room and waiters, so one call
    /// per waiter drains it: a waiter that took an idle connection left the
    /// connect it was woken for unused, and the next waiter gets it.
    #[must_use]
    pub fn poll_dial(&mut self, pool: &Pool<C>) -> Option<(R, bool)> {
        if self.fd_waiters.is_empty() {
            self.fds_freed = 0;
        } else if self.fds_freed > 0 || pool.idle() > 0 {
            let req = self.fd_waiters.pop_front()?;
            self.waiting.remove(&req);
            self.fds_freed = self.fds_freed.saturating_sub(1);
            return Some((req, false));
        }
        while let Some(key) = self.ready.front() {
            if let Some(ramp) = self.ramps.get_mut(key) {
                let can_connect = ramp.connecting < Self::max(&self.config, ramp);
                if let Some(&(req, fresh_only)) = ramp.waiting.front() {
                    if can_connect || (!fresh_only && pool.idle_for(key) > 0) {
                        ramp.waiting.pop_front();
                        self.waiting.remove(&req);
                        return Some((req, fresh_only));
                    }
                }
                ramp.listed = false;
                if ramp.connecting == 0 && ramp.waiting.is_empty() {
                    self.ramps.remove(key);
                }
            }
            self.ready.pop_front();
        }
        None
    }

    /// The connection just dialing to `key` learns its origin's protocol
    /// (TLS offering HTTP/2 to an origin with no connection): the others
    /// wait until it is connected (see [`handle_connected`](Self::handle_connected)),
    /// and go on the connection it became, if HTTP/2, or open their own.
    pub fn handle_probing(&mut self, key: &str) {
        if let Some(ramp) = self.ramps.get_mut(key) {
            ramp.probing = true;
        }
    }

    fn max(config: &DialerConfig, ramp: &Ramp<R, C>) -> usize {
        if ramp.probing {
            1
        } else {
            config.max_connecting
        }
    }

    /// Drops the front entries of `ramp.movable` that are no longer
    /// dialing, so its front is the oldest connect still pending.
    fn prune(ramp: &mut Ramp<R, C>, dialing: &HashSet<C>) {
        while ramp
            .movable
            .front()
            .is_some_and(|d| !dialing.contains(&d.conn))
        {
            ramp.movable.pop_front();
        }
    }

    /// Puts `key` on the ready list, if requests wait on it and it is not
    /// listed already.
    fn list(ready: &mut VecDeque<Box<str>>, ramp: &mut Ramp<R, C>, key: &str) {
        if !ramp.waiting.is_empty() && !ramp.listed {
            ramp.listed = true;
            ready.push_back(key.into());
        }
    }
}

#[cfg(test)]
mod tests;
