//! What the connection table keeps beside each connection.

use super::route::SocksLocal;
use crate::conn::Conn;
use crate::reactor::{TimerId, Token};
use mio::net::TcpStream;
use std::time::{Duration, Instant};

/// A connection and what the table keeps beside it.
pub(super) struct ConnSlot {
    pub conn: Conn<TcpStream>,
    /// The generation this slot's occupant was born with: events and timers
    /// carrying another generation are for an earlier occupant (see
    /// [`Token`]).
    pub generation: u32,
    /// The request it carries: its token, and its id (for events).
    pub carrying: Option<(Token, u64)>,
    /// HTTP/2: the requests it carries, one per stream (`carrying` is
    /// then `None`).
    pub streams: Vec<super::shared::StreamLink>,
    /// It learns its origin's protocol: counted as connecting (the
    /// origin's other requests wait) until its TLS handshake is done.
    pub probing: bool,
    /// HTTP/2: streams were opened on it and wait in `Connections::deferred`
    /// to go out together.
    pub flush_queued: bool,
    /// A timer is armed for this instant (re-armed lazily, see `arm_timer`).
    pub timer_at: Option<(TimerId, Instant)>,
    /// The current attempt: when it started here, on a pooled connection or
    /// not, and what DNS and connect took (fresh connections).
    pub attached_at: Instant,
    pub reused: bool,
    pub dns_started: Option<Instant>,
    pub dns: Option<Duration>,
    pub connect: Option<Duration>,
    /// The port to connect to, once DNS answers.
    pub port: u16,
    /// Counted among its origin's connections still connecting (the ramp).
    pub connecting: bool,
    /// Through a proxy: plain http requests in absolute form, with this
    /// `Proxy-Authorization` (if any); `None` when direct or tunneled.
    pub proxied_http: Option<Option<String>>,
    /// The connection goes to a proxy (its connect errors are `proxy`'s).
    pub via_proxy: bool,
    /// `socks5://`: the proxy to go to once the origin's name is looked up.
    pub socks_local: Option<Box<SocksLocal>>,
}

impl ConnSlot {
    pub fn token(&self, cslot: usize) -> Token {
        Token {
            slot: cslot,
            generation: self.generation,
        }
    }
}
