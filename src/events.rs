//! Events: one type for everything worth seeing in a running crawl, emitted
//! by the driver at the point where it happens, with a monotonic timestamp
//! since the crawl started.
//!
//! Install an observer with [`Crawler::set_observer`](crate::Crawler::set_observer);
//! without one, emitting an event costs one branch: no formatting, no
//! allocation (events borrow their strings from the driver). The command
//! line's `--trace` prints them, `--events FILE` writes them as JSON Lines
//! ([`Event::write_json`]), and `oneloop timeline` draws them. Their fields
//! are documented in `docs/events.md`.

pub use crate::state::ConnState;
use crate::text::{json_str, push_u64};
use std::time::Duration;

/// One event, with its time since the start of the crawl.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// Since [`Crawler::run`](crate::Crawler::run) started (monotonic clock).
    pub at: Duration,
    /// What happened.
    pub kind: EventKind<'a>,
}

/// What happened. `req` is the outcome's id; `conn` a connection's number
/// (in order of opening, from 0).
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind<'a> {
    /// An input item was accepted and parked in the admission queue.
    Queued {
        /// The request.
        req: u64,
        /// Its URL.
        url: &'a str,
    },
    /// The admission queue let a request start (an attempt begins).
    Admitted {
        /// The request.
        req: u64,
        /// Its origin.
        origin: &'a str,
    },
    /// Starts were held back by per-origin pacing during this turn.
    Paced {
        /// How many starts waited.
        waits: u64,
    },
    /// A request ended: its outcome was produced.
    Finished {
        /// The request.
        req: u64,
        /// The response's status, or the error's phase and kind.
        result: Result<u16, (&'static str, &'static str)>,
        /// Attempts made.
        attempts: u32,
    },
    /// A new connection was opened for a request.
    ConnOpened {
        /// The connection.
        conn: u64,
        /// Its origin.
        origin: &'a str,
        /// The request it was opened for.
        req: u64,
        /// The state it starts in: `Resolving` or `Connecting`.
        state: ConnState,
    },
    /// A request needs a new connection, but its origin has as many still
    /// connecting as allowed: it waits for one of them to connect (the
    /// connect ramp).
    ConnectWait {
        /// The request.
        req: u64,
        /// Connections of its origin connecting now.
        connecting: usize,
    },
    /// A request's fresh connection was still connecting when another
    /// connection of its origin went idle: the request takes that one
    /// (`conn_reused` follows) and `from` is closed (reason `superseded`).
    /// hyper's pool, too, races a checkout against the connect.
    RequestMoved {
        /// The request.
        req: u64,
        /// The connection it was waiting for.
        from: u64,
    },
    /// A connection started a connect attempt to one of its addresses (with
    /// happy eyeballs, a second one starts beside a slow first).
    ConnectAttempt {
        /// The connection.
        conn: u64,
        /// The address tried.
        addr: std::net::SocketAddr,
    },
    /// A pooled connection was checked out for a request.
    ConnReused {
        /// The connection.
        conn: u64,
        /// The request it carries now.
        req: u64,
    },
    /// HTTP/2: a request opened a stream on a shared connection (RFC 9113
    /// §5.1: the stream goes from idle to open, or half-closed (local) once
    /// its request is sent whole).
    StreamOpened {
        /// The connection.
        conn: u64,
        /// The request the stream carries.
        req: u64,
        /// The stream's id (odd: the client's).
        stream: u32,
    },
    /// HTTP/2: a stream closed (RFC 9113 §5.1 `closed`); the connection
    /// carries on.
    StreamClosed {
        /// The connection.
        conn: u64,
        /// The request it carried.
        req: u64,
        /// The stream's id.
        stream: u32,
        /// `done` (the response ended), `failed` (reset, refused, or the
        /// connection went), or `cancelled` (its request ended first).
        end: &'static str,
    },
    /// A connection's state machine moved.
    ConnState {
        /// The connection.
        conn: u64,
        /// The request it carries, if any.
        req: Option<u64>,
        /// The state left.
        from: ConnState,
        /// The state entered.
        to: ConnState,
    },
    /// A connection was closed and freed.
    ConnClosed {
        /// The connection.
        conn: u64,
        /// Why.
        reason: CloseReason,
    },
    /// A connection asked DNS for its host's addresses.
    DnsLookup {
        /// The connection.
        conn: u64,
        /// The name.
        name: &'a str,
    },
    /// DNS answered a connection's lookup.
    DnsAnswer {
        /// The connection.
        conn: u64,
        /// Addresses found (0 on failure).
        addresses: usize,
    },
    /// A TLS handshake finished.
    TlsDone {
        /// The connection.
        conn: u64,
        /// An abbreviated (resumed) handshake.
        resumed: bool,
        /// From TCP connected to handshake done.
        took: Duration,
    },
    /// One turn of the loop ended.
    LoopTurn {
        /// Blocked in `poll`.
        blocked: Duration,
        /// Readiness events `poll` returned.
        events: u64,
        /// Protocol work (everything else but callbacks).
        protocol: Duration,
        /// In the outcome callback.
        callbacks: Duration,
        /// Requests in flight while the loop waited in `poll`.
        in_flight: usize,
        /// Requests queued for a slot (limits or pacing hold them back),
        /// then.
        queued: usize,
        /// Requests waiting for their origin's robots.txt, then.
        robots_wait: usize,
    },
    /// The outcome callback held the loop longer than the stall threshold.
    Stall {
        /// The URL whose outcome it was handling.
        url: &'a str,
        /// How long it ran.
        took: Duration,
    },
}

/// Request ids from here up are robots.txt fetches (the crawler's own
/// requests, not input items): events mark them `"robots":true`.
pub const ROBOTS_IDS: u64 = 1 << 62;

/// Is `req` a robots.txt fetch (see [`ROBOTS_IDS`])?
pub fn is_robots_fetch(req: u64) -> bool {
    req >= ROBOTS_IDS
}

/// A request as people read it: `req#42`, or `robots#3` for the third
/// robots.txt fetch.
pub fn req_label(req: u64) -> String {
    if is_robots_fetch(req) {
        format!("robots#{}", req - ROBOTS_IDS)
    } else {
        format!("req#{req}")
    }
}

/// Why a connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Its response was complete and it is not reusable.
    Done,
    /// Its request failed.
    Failed,
    /// It sat idle in the pool past the idle timeout.
    IdleExpired,
    /// The pool closed it to make room for another origin's connection.
    Evicted,
    /// It was idle and the server closed it (or sent bytes).
    ServerClosed,
    /// Its request ended (deadline, abort) while it was busy.
    Aborted,
    /// No socket could be made: the open-file limit.
    NoDescriptors,
    /// The crawl ended with it idle in the pool.
    End,
    /// It was still connecting when its request took another connection
    /// of the origin that had gone idle (`request_moved`).
    Superseded,
}

impl CloseReason {
    /// The stable name, as in events.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Done => "done",
            CloseReason::Failed => "failed",
            CloseReason::IdleExpired => "idle_expired",
            CloseReason::Evicted => "evicted",
            CloseReason::ServerClosed => "server_closed",
            CloseReason::Aborted => "aborted",
            CloseReason::NoDescriptors => "no_descriptors",
            CloseReason::End => "end",
            CloseReason::Superseded => "superseded",
        }
    }
}

impl EventKind<'_> {
    /// The event's type name in JSON (`"type"`).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Queued { .. } => "queued",
            EventKind::Admitted { .. } => "admitted",
            EventKind::Paced { .. } => "paced",
            EventKind::Finished { .. } => "finished",
            EventKind::ConnOpened { .. } => "conn_opened",
            EventKind::ConnReused { .. } => "conn_reused",
            EventKind::StreamOpened { .. } => "stream_opened",
            EventKind::StreamClosed { .. } => "stream_closed",
            EventKind::ConnectWait { .. } => "connect_wait",
            EventKind::RequestMoved { .. } => "request_moved",
            EventKind::ConnectAttempt { .. } => "connect_attempt",
            EventKind::ConnState { .. } => "state",
            EventKind::ConnClosed { .. } => "conn_closed",
            EventKind::DnsLookup { .. } => "dns_lookup",
            EventKind::DnsAnswer { .. } => "dns_answer",
            EventKind::TlsDone { .. } => "tls_done",
            EventKind::LoopTurn { .. } => "turn",
            EventKind::Stall { .. } => "stall",
        }
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

fn field_u64(out: &mut String, name: &str, n: u64) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    push_u64(out, n);
}

/// `"req":N`, and `"robots":true` for a robots.txt fetch.
fn field_req(out: &mut String, req: u64) {
    field_u64(out, "req", req);
    if is_robots_fetch(req) {
        out.push_str(",\"robots\":true");
    }
}

fn field_str(out: &mut String, name: &str, v: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    json_str(out, v);
}

impl Event<'_> {
    /// Appends the event as one JSON object (no newline): `t` in µs since
    /// the start, `type`, then the fields (durations in µs).
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"t\":");
        push_u64(out, micros(self.at));
        out.push_str(",\"type\":\"");
        out.push_str(self.kind.name());
        out.push('"');
        self.kind.write_fields(out);
        out.push('}');
    }
}

impl EventKind<'_> {
    /// The fields after `t` and `type`: requests' and the loop's here,
    /// connections' in [`write_conn_fields`](Self::write_conn_fields).
    fn write_fields(&self, out: &mut String) {
        match self {
            EventKind::Queued { req, url } => {
                field_req(out, *req);
                field_str(out, "url", url);
            }
            EventKind::Admitted { req, origin } => {
                field_req(out, *req);
                field_str(out, "origin", origin);
            }
            EventKind::Paced { waits } => field_u64(out, "waits", *waits),
            EventKind::Finished {
                req,
                result,
                attempts,
            } => {
                field_req(out, *req);
                out.push_str(",\"result\":\"");
                match result {
                    Ok(status) => push_u64(out, u64::from(*status)),
                    Err((phase, kind)) => {
                        out.push_str(phase);
                        out.push(':');
                        out.push_str(kind);
                    }
                }
                out.push('"');
                field_u64(out, "attempts", u64::from(*attempts));
            }
            EventKind::LoopTurn {
                blocked,
                events,
                protocol,
                callbacks,
                in_flight,
                queued,
                robots_wait,
            } => {
                field_u64(out, "blocked", micros(*blocked));
                field_u64(out, "events", *events);
                field_u64(out, "protocol", micros(*protocol));
                field_u64(out, "callbacks", micros(*callbacks));
                field_u64(out, "in_flight", *in_flight as u64);
                field_u64(out, "queued", *queued as u64);
                field_u64(out, "robots_wait", *robots_wait as u64);
            }
            EventKind::Stall { url, took } => {
                field_u64(out, "took", micros(*took));
                field_str(out, "url", url);
            }
            _ => self.write_conn_fields(out),
        }
    }

    fn write_conn_fields(&self, out: &mut String) {
        match self {
            EventKind::ConnOpened {
                conn,
                origin,
                req,
                state,
            } => {
                field_u64(out, "conn", *conn);
                field_u64(out, "req", *req);
                field_str(out, "state", ConnState::name(*state));
                field_str(out, "origin", origin);
            }
            EventKind::ConnReused { conn, req } => {
                field_u64(out, "conn", *conn);
                field_u64(out, "req", *req);
            }
            EventKind::StreamOpened { conn, req, stream } => {
                field_u64(out, "conn", *conn);
                field_u64(out, "req", *req);
                field_u64(out, "stream", u64::from(*stream));
            }
            EventKind::StreamClosed {
                conn,
                req,
                stream,
                end,
            } => {
                field_u64(out, "conn", *conn);
                field_u64(out, "req", *req);
                field_u64(out, "stream", u64::from(*stream));
                field_str(out, "end", end);
            }
            EventKind::ConnectAttempt { conn, addr } => {
                field_u64(out, "conn", *conn);
                let _ = std::fmt::Write::write_fmt(out, format_args!(",\"addr\":\"{addr}\""));
            }
            EventKind::ConnectWait { req, connecting } => {
                field_req(out, *req);
                field_u64(out, "connecting", *connecting as u64);
            }
            EventKind::RequestMoved { req, from } => {
                field_req(out, *req);
                field_u64(out, "from", *from);
            }
            EventKind::ConnState {
                conn,
                req,
                from,
                to,
            } => {
                field_u64(out, "conn", *conn);
                if let Some(r) = req {
                    field_u64(out, "req", *r);
                }
                field_str(out, "from", ConnState::name(*from));
                field_str(out, "to", ConnState::name(*to));
            }
            EventKind::ConnClosed { conn, reason } => {
                field_u64(out, "conn", *conn);
                field_str(out, "reason", reason.as_str());
            }
            EventKind::DnsLookup { conn, name } => {
                field_u64(out, "conn", *conn);
                field_str(out, "name", name);
            }
            EventKind::DnsAnswer { conn, addresses } => {
                field_u64(out, "conn", *conn);
                field_u64(out, "addresses", *addresses as u64);
            }
            EventKind::TlsDone {
                conn,
                resumed,
                took,
            } => {
                field_u64(out, "conn", *conn);
                out.push_str(if *resumed {
                    ",\"resumed\":true"
                } else {
                    ",\"resumed\":false"
                });
                field_u64(out, "took", micros(*took));
            }
            _ => {}
        }
    }
}

/// Receives the events of a crawl, on the loop's thread, as they happen.
/// Keep it quick: it runs inside the loop (time spent here is protocol time).
pub type Observer = Box<dyn FnMut(&Event<'_>) + Send>;

/// Where the driver sends events: the observer of this run, if any, and the
/// instant event times are measured from. Use it through the crate's
/// `emit!` macro, which does not even build the event without an observer.
pub(crate) struct Emitter<'a> {
    observer: Option<&'a mut Observer>,
    started: std::time::Instant,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(observer: Option<&'a mut Observer>, started: std::time::Instant) -> Self {
        Emitter { observer, started }
    }

    /// Is anyone listening?
    pub(crate) fn is_on(&self) -> bool {
        self.observer.is_some()
    }

    /// Sends `kind`, timed now: when it happens, not when its turn of the
    /// loop began (a clock read per event, only when someone listens), so
    /// one turn's TLS handshakes show one after the other.
    pub(crate) fn send(&mut self, kind: EventKind<'_>) {
        if let Some(observer) = self.observer.as_mut() {
            let at = std::time::Instant::now().saturating_duration_since(self.started);
            observer(&Event { at, kind });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_as_json() {
        let ms = Duration::from_millis;
        #[rustfmt::skip]
        let cases: Vec<(EventKind, &str)> = vec![
            (EventKind::Queued { req: 4, url: "http://a/\"q\"" }, r#"{"t":1500,"type":"queued","req":4,"url":"http://a/\"q\""}"#),
            (EventKind::ConnState { conn: 7, req: Some(42), from: ConnState::ReadingHead, to: ConnState::ReadingBody },
             r#"{"t":1500,"type":"state","conn":7,"req":42,"from":"head","to":"body"}"#),
            (EventKind::ConnState { conn: 7, req: None, from: ConnState::Idle, to: ConnState::Closed },
             r#"{"t":1500,"type":"state","conn":7,"from":"idle","to":"closed"}"#),
            (EventKind::LoopTurn { blocked: ms(2), events: 3, protocol: ms(1), callbacks: Duration::ZERO, in_flight: 5, queued: 7, robots_wait: 1 },
             r#"{"t":1500,"type":"turn","blocked":2000,"events":3,"protocol":1000,"callbacks":0,"in_flight":5,"queued":7,"robots_wait":1}"#),
            (EventKind::Finished { req: 1, result: Err(("connect", "refused")), attempts: 3 },
             r#"{"t":1500,"type":"finished","req":1,"result":"connect:refused","attempts":3}"#),
            (EventKind::Finished { req: 18446744073709551615, result: Ok(200), attempts: 0 },
             r#"{"t":1500,"type":"finished","req":18446744073709551615,"robots":true,"result":"200","attempts":0}"#),
            (EventKind::TlsDone { conn: 0, resumed: true, took: ms(2) }, r#"{"t":1500,"type":"tls_done","conn":0,"resumed":true,"took":2000}"#),
            (EventKind::Stall { url: "http://a/", took: ms(30) }, r#"{"t":1500,"type":"stall","took":30000,"url":"http://a/"}"#),
        ];
        for (kind, want) in cases {
            let mut out = String::new();
            Event {
                at: Duration::from_micros(1500),
                kind,
            }
            .write_json(&mut out);
            assert_eq!(out, want);
        }
    }
}
