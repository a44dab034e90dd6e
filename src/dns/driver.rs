//! The resolver's driver: moves datagrams between the sans-IO [`DnsCore`]
//! and mio sockets on the crawler's own loop.
//!
//! Each transmission gets its own UDP socket bound to a random source port
//! (from the secure random source), so an off-path attacker must guess the
//! port as well as the 16-bit ID. Sockets are not `connect`ed: datagrams from
//! anyone are read, and the core drops those not from the server asked (and
//! counts them). A truncated answer is asked again over TCP, with the 2-byte
//! length prefix of RFC 1035 §4.2.2.

use super::core::{DnsCore, QueryKey, Transmit};
use crate::reactor::Token;
use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry};
use slab::Slab;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

pub use crate::reactor::DNS_SLOT_BASE;

enum Io {
    Udp(UdpSocket),
    Tcp {
        stream: TcpStream,
        out: Vec<u8>,
        out_pos: usize,
        inbuf: Vec<u8>,
    },
}

struct DnsSocket {
    generation: u32,
    query: QueryKey,
    server: SocketAddr,
    io: Io,
}

/// The resolver on the loop: the core plus its sockets.
pub struct DnsDriver<W> {
    /// The sans-IO core.
    pub core: DnsCore<W>,
    sockets: Slab<DnsSocket>,
    by_query: HashMap<usize, usize>,
    generation: u32,
    port_random: Box<dyn FnMut() -> u16 + Send>,
    buf: Vec<u8>,
}

impl<W: Clone> DnsDriver<W> {
    /// A driver around `core`.
    pub fn new(core: DnsCore<W>) -> DnsDriver<W> {
        DnsDriver {
            core,
            sockets: Slab::new(),
            by_query: HashMap::new(),
            generation: 0,
            port_random: Box::new(super::core::secure_random_u16()),
            buf: vec![0; 65_536],
        }
    }

    /// Open sockets (for tests and statistics).
    pub fn sockets(&self) -> usize {
        self.sockets.len()
    }

    /// Sends what the core wants sent.
    pub fn flush(&mut self, registry: &Registry) {
        while let Some(t) = self.core.poll_transmit() {
            // A new transmission replaces the query's old socket.
            if let Some(old) = self.by_query.remove(&t.query.slot) {
                self.close(old, registry);
            }
            if let Err(e) = self.open(&t, registry) {
                // The core's timeout moves on to the next try.
                log::debug!("dns: cannot send to {}: {e}", t.server);
                if t.tcp {
                    self.core
                        .handle_tcp_failure(t.query, &e.to_string(), Instant::now());
                }
            }
        }
    }

    fn open(&mut self, t: &Transmit, registry: &Registry) -> io::Result<()> {
        self.generation = self.generation.wrapping_add(1);
        let key = self.sockets.vacant_key();
        let token = Token {
            slot: DNS_SLOT_BASE + key,
            generation: self.generation,
        };
        let io = if t.tcp {
            let mut stream = TcpStream::connect(t.server)?;
            registry.register(
                &mut stream,
                token.to_mio(),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            let mut out = (t.message.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&t.message);
            Io::Tcp {
                stream,
                out,
                out_pos: 0,
                inbuf: Vec::new(),
            }
        } else {
            let mut sock = self.bind_random(t.server)?;
            registry.register(&mut sock, token.to_mio(), Interest::READABLE)?;
            sock.send_to(&t.message, t.server)?;
            Io::Udp(sock)
        };
        self.sockets.insert(DnsSocket {
            generation: self.generation,
            query: t.query,
            server: t.server,
            io,
        });
        self.by_query
            .insert(t.query.slot, token.slot - DNS_SLOT_BASE);
        Ok(())
    }

    /// A UDP socket on a random port of the unprivileged range.
    fn bind_random(&mut self, server: SocketAddr) -> io::Result<UdpSocket> {
        let ip = match server {
            SocketAddr::V4(a) if a.ip().is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(a) if a.ip().is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        for _ in 0..8 {
            let port = 1024 + (self.port_random)() % (65_535 - 1024);
            if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, port)) {
                return Ok(s);
            }
        }
        // Eight ports in use in a row: let the kernel pick (Linux randomizes too).
        UdpSocket::bind(SocketAddr::new(ip, 0))
    }

    fn close(&mut self, slot: usize, registry: &Registry) {
        let mut s = self.sockets.remove(slot);
        match &mut s.io {
            Io::Udp(u) => {
                let _ = registry.deregister(u);
            }
            Io::Tcp { stream, .. } => {
                let _ = registry.deregister(stream);
            }
        }
        if self.by_query.get(&s.query.slot) == Some(&slot) {
            self.by_query.remove(&s.query.slot);
        }
    }

    /// A readiness event for one of our sockets.
    pub fn handle_event(&mut self, token: Token, registry: &Registry, now: Instant) {
        let slot = token.slot - DNS_SLOT_BASE;
        match self.sockets.get(slot) {
            Some(s) if s.generation == token.generation => {}
            _ => return, // stale: the socket was replaced or closed
        }
        let s = &mut self.sockets[slot];
        let query = s.query;
        match &mut s.io {
            Io::Udp(sock) => loop {
                match sock.recv_from(&mut self.buf) {
                    Ok((n, from)) => self.core.handle_answer(query, from, &self.buf[..n], now),
                    // Drained (edge-triggered: read until here).
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // ICMP port unreachable and the like: the timeout moves on.
                    Err(_) => break,
                }
            },
            Io::Tcp {
                stream,
                out,
                out_pos,
                inbuf,
            } => {
                let server = s.server;
                match pump_tcp(stream, out, out_pos, inbuf) {
                    Ok(Some(msg)) => self.core.handle_answer(query, server, &msg, now),
                    Ok(None) => {}
                    Err(e) => self.core.handle_tcp_failure(query, &e.to_string(), now),
                }
            }
        }
        self.tidy(registry);
        self.flush(registry);
    }

    /// Time passed: lets the core retry or give up, then sends.
    pub fn handle_timeout(&mut self, registry: &Registry, now: Instant) {
        self.core.handle_timeout(now);
        self.tidy(registry);
        self.flush(registry);
    }

    /// Closes sockets of queries that are finished.
    fn tidy(&mut self, registry: &Registry) {
        let dead: Vec<usize> = self
            .sockets
            .iter()
            .filter(|(_, s)| !self.core.is_live(s.query))
            .map(|(i, _)| i)
            .collect();
        for slot in dead {
            self.close(slot, registry);
        }
    }
}

/// Writes the length-prefixed query, reads the length-prefixed answer.
/// `Ok(Some)` with a whole answer, `Ok(None)` to wait.
fn pump_tcp(
    stream: &mut TcpStream,
    out: &[u8],
    out_pos: &mut usize,
    inbuf: &mut Vec<u8>,
) -> io::Result<Option<Vec<u8>>> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    while *out_pos < out.len() {
        match stream.write(&out[*out_pos..]) {
            Ok(n) => *out_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            // Still connecting.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut buf = [0u8; 4096];
    loop {
        if inbuf.len() >= 2 {
            let len = u16::from_be_bytes([inbuf[0], inbuf[1]]) as usize;
            if inbuf.len() >= 2 + len {
                return Ok(Some(inbuf[2..2 + len].to_vec()));
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a whole answer",
                ))
            }
            Ok(n) => {
                inbuf.extend_from_slice(&buf[..n]);
                if inbuf.len() > 2 + 65_535 {
                    return Err(io::Error::other("oversized answer"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
