//! The states of a connection's lifecycle, and their stable names: a leaf
//! shared by the state machine (the crate-private `conn` module), the events and the
//! timeline.

use crate::error::Phase;

/// The states of a connection's lifecycle, named like the steps of an HTTP
/// exchange:
///
/// ```text
/// Resolving ─> Connecting ─> (Tunneling) ─> TlsHandshake ─> Sending ─> ReadingHead ─> ReadingBody ─> Idle
///  (DNS only)                 (proxy CONNECT)  (https only)       ^                                      │
///                                                └──────────── reuse ───────────────────┘
/// any state ── failure, timeout, or the server closing an idle connection ──> Closed
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for DNS (names not in /etc/hosts or the overrides).
    Resolving,
    /// TCP handshake in progress with one of the addresses.
    Connecting,
    /// Asking a proxy for a tunnel: `CONNECT host:port` to an HTTP proxy
    /// (https only), or the SOCKS5 handshake.
    Tunneling,
    /// TLS handshake in progress (https only).
    TlsHandshake,
    /// Writing the request.
    Sending,
    /// Waiting for / reading the response head.
    ReadingHead,
    /// Reading the response body.
    ReadingBody,
    /// Open and unused, parked in the pool.
    Idle,
    /// HTTP/2 (ALPN `h2`): the connection carries many requests at once,
    /// each a stream with its own small state machine (RFC 9113 §5.1). It
    /// stays here until it closes.
    Multiplexed,
    /// Done; the socket is closed.
    Closed,
}

impl ConnState {
    /// The phase a failure in this state is reported in.
    pub fn phase(self) -> Phase {
        match self {
            ConnState::Resolving => Phase::Dns,
            ConnState::Connecting => Phase::Connect,
            ConnState::Tunneling => Phase::Proxy,
            ConnState::TlsHandshake => Phase::Tls,
            ConnState::Sending => Phase::Send,
            ConnState::ReadingHead | ConnState::Idle | ConnState::Closed => Phase::Head,
            ConnState::ReadingBody | ConnState::Multiplexed => Phase::Body,
        }
    }
}

impl ConnState {
    /// The state's stable name, as in events and the timeline.
    pub fn name(self) -> &'static str {
        match self {
            ConnState::Resolving => "resolving",
            ConnState::Connecting => "connecting",
            ConnState::Tunneling => "tunnel",
            ConnState::TlsHandshake => "tls",
            ConnState::Sending => "sending",
            ConnState::ReadingHead => "head",
            ConnState::ReadingBody => "body",
            ConnState::Idle => "idle",
            ConnState::Multiplexed => "h2",
            ConnState::Closed => "closed",
        }
    }

    /// Every state, in lifecycle order.
    pub const ALL: [ConnState; 10] = [
        ConnState::Resolving,
        ConnState::Connecting,
        ConnState::Tunneling,
        ConnState::TlsHandshake,
        ConnState::Sending,
        ConnState::ReadingHead,
        ConnState::ReadingBody,
        ConnState::Idle,
        ConnState::Multiplexed,
        ConnState::Closed,
    ];
}
