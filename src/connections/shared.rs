//! Shared connections: HTTP/2, where one connection carries many requests,
//! each on a stream. The table keeps at most one shared connection per
//! origin for new requests (`Connections::shared`); a request finds it
//! before the pool's idle connections, and streams open on it until the
//! server's concurrent stream limit (admission's `per_host` bounds them
//! first). The pool counts a shared connection as one busy connection
//! from its opening to its close: it never goes idle *in the pool*; with no
//! stream left it idles on its own and closes after the pool's idle timeout.

use super::{Connections, Dispatch, Output, NONE};
use crate::conn::StreamEnd;
use crate::error::{Error, Phase};
use crate::events::{CloseReason, Emitter, EventKind};
use crate::outcome::AttemptReport;
use crate::reactor::Token;
use std::time::Instant;

/// A request carried on a stream of a shared connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct StreamLink {
    pub stream: u32,
    pub req: Token,
    /// The request's id (events name requests by it).
    pub id: u64,
    pub attached_at: Instant,
    /// The request did not open the connection.
    pub reused: bool,
}

impl Connections<'_> {
    /// The shared connection of `key` a new request may use now: the
    /// oldest with room, so that extra ones drain and idle out.
    pub(super) fn shared_with_room(&self, key: &str) -> Option<usize> {
        let list = self.shared.get(key)?;
        list.iter().copied().find(|&cslot| {
            self.slots
                .get(cslot)
                .is_some_and(|s| s.conn.can_open_stream())
        })
    }

    /// The HTTP/2 connection idle longest (no stream in flight), of any
    /// origin: the pool does not hold it among its idle connections (it is
    /// shared, not checked in), so at the total limit the table evicts it.
    pub(super) fn idlest_shared(&self) -> Option<usize> {
        let all = self.shared.values().flatten().copied();
        all.filter_map(|c| Some((self.slots.get(c)?.conn.idle_since()?, c)))
            .min()
            .map(|(_, c)| c)
    }

    /// Whether `key` speaks HTTP/2 here (it has a shared connection): a new
    /// connection to it is a protocol probe too, so requests that found
    /// every stream taken wait for one new connection, not one each.
    pub(super) fn is_shared_origin(&self, key: &str) -> bool {
        self.shared.contains_key(key)
    }

    /// The TLS handshake chose `h2`: the request that opened the connection
    /// is its first stream, and the connection joins its origin's shared
    /// ones.
    pub(super) fn became_shared(&mut self, cslot: usize, ev: &mut Emitter<'_>) {
        let slot = &mut self.slots[cslot];
        if let Some((req, id)) = slot.carrying.take() {
            let link = StreamLink {
                stream: 1,
                req,
                id,
                attached_at: slot.attached_at,
                reused: slot.reused,
            };
            slot.streams.push(link);
            let conn = slot.conn.id();
            emit!(
                ev,
                EventKind::StreamOpened {
                    conn,
                    req: id,
                    stream: 1
                }
            );
        }
        let key: Box<str> = slot.conn.key().into();
        self.shared.entry(key).or_default().push(cslot);
    }

    /// Sends request `req` on a new stream of shared connection `cslot`.
    pub(super) fn add_stream(
        &mut self,
        cslot: usize,
        req: Token,
        ex: Dispatch<'_>,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        let conn = self.slots[cslot].conn.id();
        self.prepare(cslot, &ex, now, ev);
        match self.slots[cslot].conn.open_stream(now) {
            Ok(stream) => {
                emit!(
                    ev,
                    EventKind::StreamOpened {
                        conn,
                        req: ex.id,
                        stream
                    }
                );
                self.link_stream(cslot, req, ex.id, stream, now);
                let slot = &mut self.slots[cslot];
                if !slot.flush_queued {
                    slot.flush_queued = true;
                    self.deferred.push(slot.token(cslot));
                }
            }
            Err(error) => {
                let report = AttemptReport {
                    reused: true,
                    multiplexed: true,
                    ..AttemptReport::default()
                };
                self.outputs
                    .push_back(Output::Failed { req, error, report });
            }
        }
    }

    /// Writes the streams opened since the last call, one drive (and so
    /// one write) per connection; false when there were none. The caller
    /// calls it when it has nothing else to hand over.
    pub fn flush_streams(&mut self, now: Instant, ev: &mut Emitter<'_>) -> bool {
        if self.deferred.is_empty() {
            return false;
        }
        while let Some(t) = self.deferred.pop() {
            // (A connection closed meanwhile: its slot is gone or another's.)
            match self.slots.get_mut(t.slot) {
                Some(slot) if slot.generation == t.generation && slot.flush_queued => {
                    slot.flush_queued = false;
                    let event = self.with_net(t.slot, |conn, net| conn.flush_streams(net, now));
                    if self.on_conn_event(t.slot, event, now, ev) {
                        self.drive(t.slot, now, ev);
                    }
                }
                _ => {}
            }
        }
        true
    }

    fn link_stream(&mut self, cslot: usize, req: Token, id: u64, stream: u32, now: Instant) {
        self.set_carrier(req, cslot);
        self.slots[cslot].streams.push(StreamLink {
            stream,
            req,
            id,
            attached_at: now,
            reused: true,
        });
    }

    /// Removes the link of `stream` (its request is no longer carried).
    fn unlink_stream(&mut self, cslot: usize, stream: u32) -> Option<StreamLink> {
        let streams = &mut self.slots[cslot].streams;
        let i = streams.iter().position(|l| l.stream == stream)?;
        let link = streams.swap_remove(i);
        self.by_request[link.req.slot] = NONE;
        Some(link)
    }

    /// The link of the stream carrying `req` on `cslot`.
    pub(super) fn stream_of(&self, cslot: usize, req: Token) -> Option<StreamLink> {
        let slot = self.slots.get(cslot)?;
        slot.streams.iter().find(|l| l.req == req).copied()
    }

    fn stream_report(
        &self,
        cslot: usize,
        link: &StreamLink,
        got_response_bytes: bool,
        first_byte_at: Option<Instant>,
    ) -> AttemptReport {
        let s = &self.slots[cslot];
        AttemptReport {
            reused: link.reused,
            dns: if link.reused { None } else { s.dns },
            connect: if link.reused { None } else { s.connect },
            ttfb: first_byte_at.map(|t| t.saturating_duration_since(link.attached_at)),
            got_response_bytes,
            multiplexed: true,
        }
    }

    /// The `stream_closed` event of `link` on `cslot`, ended as `end`.
    fn stream_closed(
        &self,
        cslot: usize,
        link: &StreamLink,
        end: &'static str,
        ev: &mut Emitter<'_>,
    ) {
        let conn = self.slots[cslot].conn.id();
        let (req, stream) = (link.id, link.stream);
        emit!(
            ev,
            EventKind::StreamClosed {
                conn,
                req,
                stream,
                end
            }
        );
    }

    /// Streams of `cslot` ended: each one's response or failure goes to
    /// the driver.
    pub(super) fn streams_ended(&mut self, cslot: usize, ev: &mut Emitter<'_>) {
        while let Some(end) = self.slots[cslot].conn.poll_stream_end() {
            match end {
                StreamEnd::Done {
                    stream,
                    mut response,
                    request,
                    first_byte_at,
                } => {
                    let Some(link) = self.unlink_stream(cslot, stream) else {
                        continue; // cancelled meanwhile
                    };
                    self.stream_closed(cslot, &link, "done", ev);
                    let report = self.stream_report(cslot, &link, true, first_byte_at);
                    response.version = 2;
                    if let Some(w) = &mut response.wire {
                        w.request = request;
                        w.peer = self.slots[cslot]
                            .conn
                            .stream()
                            .filter(|_| !self.slots[cslot].via_proxy)
                            .and_then(|s| s.peer_addr().ok())
                            .map(|a| a.ip());
                    }
                    self.outputs.push_back(Output::Response {
                        req: link.req,
                        resp: response,
                        report,
                    });
                }
                StreamEnd::Failed {
                    stream,
                    error,
                    got_response_bytes,
                    first_byte_at,
                } => {
                    let Some(link) = self.unlink_stream(cslot, stream) else {
                        continue;
                    };
                    self.stream_closed(cslot, &link, "failed", ev);
                    let report =
                        self.stream_report(cslot, &link, got_response_bytes, first_byte_at);
                    self.outputs.push_back(Output::Failed {
                        req: link.req,
                        error,
                        report,
                    });
                }
            }
        }
    }

    /// An HTTP/2 connection with no stream left that will take no new one
    /// (a GOAWAY closed it to new streams): it closes now rather than at
    /// the idle timeout, so the pool never counts connections no request
    /// can use.
    pub(super) fn spent(&self, cslot: usize) -> bool {
        let slot = &self.slots[cslot];
        slot.streams.is_empty() && !slot.conn.can_open_stream()
    }

    /// Shared connection `cslot`, with no stream in flight, closed: the
    /// server closed it, or it idled past the timeout. Streams that ended
    /// in its last read still go out first.
    pub(super) fn idle_shared_gone(
        &mut self,
        cslot: usize,
        why: crate::pool::Gone,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        self.streams_ended(cslot, ev);
        if !self.slots[cslot].streams.is_empty() {
            // (Not idle after all: each stream left fails with it.)
            return self.shared_closed(cslot, None, CloseReason::ServerClosed, now, ev);
        }
        let reason = match why {
            crate::pool::Gone::Expired => CloseReason::IdleExpired,
            _ => CloseReason::ServerClosed,
        };
        self.pool.handle_gone(self.slots[cslot].conn.key(), why);
        self.drop_conn(cslot, reason, now, ev);
    }

    /// The shared connection `cslot` is done (failed, or closed by the
    /// server): what its streams finished goes out, every stream left fails
    /// with `error`, and the connection closes.
    pub(super) fn shared_closed(
        &mut self,
        cslot: usize,
        error: Option<Error>,
        reason: CloseReason,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) {
        self.streams_ended(cslot, ev);
        let links = std::mem::take(&mut self.slots[cslot].streams);
        for link in links {
            self.by_request[link.req.slot] = NONE;
            self.stream_closed(cslot, &link, "failed", ev);
            let mut error = error.clone().unwrap_or_else(|| {
                Error::new(
                    Phase::Head,
                    crate::error::ErrorKind::UnexpectedEof,
                    "the HTTP/2 connection closed",
                )
            });
            if error.phase == Phase::Body {
                error.phase = Phase::Head;
            }
            let report = self.stream_report(cslot, &link, false, None);
            self.outputs.push_back(Output::Failed {
                req: link.req,
                error,
                report,
            });
        }
        self.drop_busy_conn(cslot, reason, now, ev);
    }

    /// Request `req`, on a stream of shared connection `cslot`, was ended
    /// by the request core: its stream is cancelled, the connection stays.
    pub(super) fn abandon_stream(
        &mut self,
        cslot: usize,
        link: StreamLink,
        now: Instant,
        ev: &mut Emitter<'_>,
    ) -> (Phase, AttemptReport) {
        self.slots[cslot].conn.cancel_stream(link.stream, now);
        self.unlink_stream(cslot, link.stream);
        self.stream_closed(cslot, &link, "cancelled", ev);
        let report = self.stream_report(cslot, &link, false, None);
        // The RST_STREAM goes out now.
        self.drive(cslot, now, ev);
        (Phase::Head, report)
    }

    /// Forgets `cslot` as its origin's shared connection (it is closing).
    pub(super) fn unshare(&mut self, cslot: usize) {
        let key = self.slots[cslot].conn.key();
        if let Some(list) = self.shared.get_mut(key) {
            list.retain(|&c| c != cslot);
            if list.is_empty() {
                self.shared.remove(key);
            }
        }
    }
}
