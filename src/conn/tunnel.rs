//! Tunneling: a connection through a proxy, before TLS or the request.
//! Once TCP is up with the proxy, an HTTP proxy gets `CONNECT host:port`
//! and answers with a head (a 2xx opens the tunnel); a SOCKS5 proxy goes
//! through its handshake ([`super::socks5`]). Then the socket reaches the
//! origin, and TLS with the origin starts inside it. Raw bytes on the
//! stream (no TLS yet).

use super::net::Net;
use super::socks5::{Socks5, Step};
use super::{Conn, ConnEvent, ConnState};
use crate::error::{Error, ErrorKind, Phase};
use std::io::{self, Read, Write};
use std::time::Instant;

/// The longest proxy answer head read.
const MAX_HEAD: usize = 16 * 1024;

/// A proxy handshake: bytes being sent, then the answer being read.
pub(crate) struct Tunnel {
    request: Vec<u8>,
    sent: usize,
    head: Vec<u8>,
    /// `None`: an HTTP CONNECT (one request, one answer head).
    socks: Option<Socks5>,
}

fn proxy_error(kind: ErrorKind, detail: impl Into<String>) -> Error {
    Error::new(Phase::Proxy, kind, detail)
}

impl<S: Read + Write> Conn<S> {
    /// Goes through an HTTP proxy: `request` (a CONNECT) is sent once TCP
    /// is up.
    pub fn set_tunnel(&mut self, request: Vec<u8>) {
        self.start_tunnel(request, None);
    }

    /// Goes through a SOCKS5 proxy: `greeting` is its first message.
    pub(crate) fn set_socks(&mut self, socks: Socks5, greeting: Vec<u8>) {
        self.start_tunnel(greeting, Some(socks));
    }

    fn start_tunnel(&mut self, request: Vec<u8>, socks: Option<Socks5>) {
        // Boxed: most connections have none, and each byte of `Conn` is
        // paid by every connection (tests/conn_memory.rs).
        self.tunnel = Some(Box::new(Tunnel {
            request,
            sent: 0,
            head: Vec::new(),
            socks,
        }));
    }

    /// Tunneling: send, read, until the proxy says the tunnel is open; then
    /// on to TLS (https) or the request.
    pub(super) fn step_tunnel(
        &mut self,
        net: &mut impl Net<Stream = S>,
        now: Instant,
    ) -> ConnEvent {
        match self.pump_tunnel(net) {
            Ok(false) => ConnEvent::Pending,
            Ok(true) => {
                self.tunnel = None;
                let next = if self.io.tls.is_some() {
                    ConnState::TlsHandshake
                } else {
                    ConnState::Sending
                };
                // The next step writes first (a ClientHello, a request).
                if let Err(e) = self.set_writable(net, true) {
                    return self.fail(net, Error::from_io(Phase::Proxy, &e), now);
                }
                self.set_state(next, now);
                ConnEvent::Tunneled
            }
            Err(e) => self.fail(net, e, now),
        }
    }

    /// Moves the tunnel's bytes; true when the proxy said yes.
    fn pump_tunnel(&mut self, net: &mut impl Net<Stream = S>) -> Result<bool, Error> {
        let (Some(t), Some(stream)) = (&mut self.tunnel, &mut self.io.stream) else {
            return Err(proxy_error(ErrorKind::Io, "no tunnel to open"));
        };
        loop {
            while t.sent < t.request.len() {
                match stream.write(&t.request[t.sent..]) {
                    Ok(0) => {
                        return Err(proxy_error(
                            ErrorKind::Reset,
                            "the proxy closed the connection",
                        ))
                    }
                    Ok(n) => t.sent += n,
                    // The socket buffer is full: WRITABLE says when to go on.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::from_io(Phase::Proxy, &e)),
                }
            }
            let buf = net.scratch();
            match stream.read(buf) {
                Ok(0) => {
                    return Err(proxy_error(
                        ErrorKind::UnexpectedEof,
                        "the proxy closed the connection before answering",
                    ))
                }
                Ok(n) => {
                    t.head.extend_from_slice(&buf[..n]);
                    if t.head.len() > MAX_HEAD {
                        return Err(proxy_error(
                            ErrorKind::TooLarge,
                            "the proxy's answer is too large",
                        ));
                    }
                    let Some(socks) = &mut t.socks else {
                        if let Some(done) = tunnel_answer(&t.head)? {
                            return Ok(done);
                        }
                        continue;
                    };
                    // SOCKS: each answer may call for another message.
                    loop {
                        let (used, step) = socks.handle(&t.head)?;
                        t.head.drain(..used);
                        match step {
                            Step::Read => break,
                            Step::Done => return Ok(true),
                            Step::Send(next) => {
                                t.request = next;
                                t.sent = 0;
                                if t.head.is_empty() {
                                    break;
                                }
                            }
                        }
                    }
                }
                // All read: the rest of the answer comes with a new edge.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(Phase::Proxy, &e)),
            }
        }
    }
}

/// The proxy's answer to a CONNECT: `None` while incomplete, `Some(true)`
/// for a 2xx with nothing after the head, else a typed error.
fn tunnel_answer(head: &[u8]) -> Result<Option<bool>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(head) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(proxy_error(
                ErrorKind::Malformed,
                format!("bad proxy answer: {e}"),
            ))
        }
    };
    match resp.code.unwrap_or(0) {
        200..=299 if n == head.len() => Ok(Some(true)),
        200..=299 => Err(proxy_error(
            ErrorKind::Malformed,
            "bytes after the proxy's CONNECT answer",
        )),
        407 => Err(proxy_error(
            ErrorKind::ProxyAuth,
            "the proxy wants (other) credentials: 407",
        )),
        code => Err(proxy_error(
            ErrorKind::TunnelRefused,
            format!("the proxy refused the tunnel: {code}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_answers() {
        assert_eq!(
            tunnel_answer(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap(),
            Some(true)
        );
        assert_eq!(tunnel_answer(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        let kind = |h: &[u8]| tunnel_answer(h).unwrap_err().kind;
        assert_eq!(kind(b"HTTP/1.1 407 Auth\r\n\r\n"), ErrorKind::ProxyAuth);
        assert_eq!(kind(b"HTTP/1.1 403 No\r\n\r\n"), ErrorKind::TunnelRefused);
        assert_eq!(kind(b"junk\r\n\r\n"), ErrorKind::Malformed);
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\n\r\nextra"), ErrorKind::Malformed);
    }
}
