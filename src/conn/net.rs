//! The transport under a connection: how a socket is opened, checked,
//! registered for events and closed.
//!
//! The state machine in [`super::Conn`] is generic over the stream type and
//! takes a [`Net`] for the four things that are not plain `Read`/`Write`, like
//! hyper's `Conn<I: Read + Write>`. The crawler passes [`MioNet`] (real
//! non-blocking sockets registered with `mio`); the unit tests pass a scripted
//! transport, so every state can be driven without a socket.

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io;
use std::net::SocketAddr;

/// Opens, checks, (re)registers and closes the connection's streams.
pub(crate) trait Net {
    /// The byte stream: a non-blocking socket, or a scripted one in tests.
    type Stream: io::Read + io::Write;
    /// Starts a non-blocking connect to `addr`, registered for READABLE and
    /// WRITABLE: WRITABLE says when the handshake finishes (mio's recipe),
    /// READABLE catches a refusal or reset early.
    fn connect(&mut self, addr: SocketAddr) -> io::Result<Self::Stream>;
    /// Has the connect finished? `Ok(false)`: not yet; an error: it failed.
    fn connect_result(&mut self, stream: &Self::Stream) -> io::Result<bool>;
    /// Listens for WRITABLE too (`true`) or READABLE only (`false`).
    fn set_writable(&mut self, stream: &mut Self::Stream, writable: bool) -> io::Result<()>;
    /// Deregisters and drops the stream.
    fn close(&mut self, stream: Self::Stream);
    /// The loop-wide read buffer: every connection reads into it and parses
    /// from it, so a connection holds no read buffer of its own.
    fn scratch(&mut self) -> &mut [u8];
}

/// Real sockets on the crawler's `mio::Poll`, all under one token.
pub(crate) struct MioNet<'a> {
    /// The poll's registry.
    pub registry: &'a Registry,
    /// The connection's token (slot + generation).
    pub token: Token,
    /// The loop-wide read buffer.
    pub scratch: &'a mut [u8],
}

impl Net for MioNet<'_> {
    type Stream = TcpStream;

    fn connect(&mut self, addr: SocketAddr) -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect(addr)?;
        self.registry.register(
            &mut stream,
            self.token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(stream)
    }

    /// mio's recipe for a non-blocking connect, its two checks swapped so
    /// that the usual case costs one system call: `peer_addr` succeeding
    /// means connected; otherwise a pending error means failure, and none
    /// means not yet (`NotConnected`, or `EINPROGRESS` on some platforms).
    fn connect_result(&mut self, s: &TcpStream) -> io::Result<bool> {
        match s.peer_addr() {
            Ok(_) => {
                // Requests are small and written whole: send them at once.
                let _ = s.set_nodelay(true);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Self::pending_error(s),
            Err(e) if e.raw_os_error() == Some(einprogress()) => Self::pending_error(s),
            Err(e) => Err(e),
        }
    }

    fn set_writable(&mut self, s: &mut TcpStream, writable: bool) -> io::Result<()> {
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.registry.reregister(s, self.token, interest)
    }

    fn close(&mut self, mut s: TcpStream) {
        let _ = self.registry.deregister(&mut s);
    }

    fn scratch(&mut self) -> &mut [u8] {
        self.scratch
    }
}

impl MioNet<'_> {
    /// Not connected: failed (the socket's pending error, e.g. refused) or
    /// still connecting (none).
    fn pending_error(s: &TcpStream) -> io::Result<bool> {
        match s.take_error()? {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }
}

/// `EINPROGRESS`, which some platforms report from `peer_addr` on a socket
/// that is still connecting.
fn einprogress() -> i32 {
    if cfg!(target_os = "linux") {
        115
    } else {
        36
    }
}
