//! The connection state machine driven through a scripted transport: no
//! sockets, no clock (time is `t0 + offset`). Sections follow the states,
//! as smoltcp's tests do.

use super::net::Net;
use super::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

mod connecting;
mod idle;
mod reading;
mod sending;
mod tls;

// ---------------------------------------------------------------- fixtures

/// What the peer does at the next read.
enum Step {
    Bytes(Vec<u8>),
    WouldBlock,
    Eof,
    Fail(io::ErrorKind),
}

/// The far end: what reads return, what writes accepted.
#[derive(Default)]
struct Peer {
    reads: VecDeque<Step>,
    written: Vec<u8>,
    /// Bytes writes accept before `WouldBlock` (`None`: unlimited).
    write_room: Option<usize>,
}

/// A stream over a shared [`Peer`]. An empty script reads as `WouldBlock`.
struct Scripted(Rc<RefCell<Peer>>);

impl io::Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut p = self.0.borrow_mut();
        match p.reads.pop_front() {
            None | Some(Step::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Step::Eof) => Ok(0),
            Some(Step::Fail(kind)) => Err(kind.into()),
            Some(Step::Bytes(mut b)) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                if n < b.len() {
                    p.reads.push_front(Step::Bytes(b.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl io::Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut p = self.0.borrow_mut();
        let n = match p.write_room {
            Some(0) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(room) => {
                let n = room.min(buf.len());
                p.write_room = Some(room - n);
                n
            }
            None => buf.len(),
        };
        p.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The transport: records connects, interest changes and closes.
struct ScriptNet {
    peer: Rc<RefCell<Peer>>,
    /// Addresses connected to, in order.
    connects: Vec<SocketAddr>,
    /// Addresses whose connect fails at once.
    refuse_at_once: Vec<SocketAddr>,
    /// What `connect_result` answers next (default: connected).
    results: VecDeque<io::Result<bool>>,
    writable: Option<bool>,
    closes: usize,
    /// The loop-wide read buffer (small here, so reads split big inputs).
    scratch: Vec<u8>,
}

impl Default for ScriptNet {
    fn default() -> ScriptNet {
        ScriptNet {
            peer: Rc::default(),
            connects: Vec::new(),
            refuse_at_once: Vec::new(),
            results: VecDeque::new(),
            writable: None,
            closes: 0,
            scratch: vec![0; 4096],
        }
    }
}

impl Net for ScriptNet {
    type Stream = Scripted;
    fn connect(&mut self, addr: SocketAddr) -> io::Result<Scripted> {
        self.connects.push(addr);
        if self.refuse_at_once.contains(&addr) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        self.writable = Some(true);
        Ok(Scripted(self.peer.clone()))
    }
    fn connect_result(&mut self, _: &Scripted) -> io::Result<bool> {
        self.results.pop_front().unwrap_or(Ok(true))
    }
    fn set_writable(&mut self, _: &mut Scripted, writable: bool) -> io::Result<()> {
        self.writable = Some(writable);
        Ok(())
    }
    fn close(&mut self, _: Scripted) {
        self.closes += 1;
    }
    fn scratch(&mut self) -> &mut [u8] {
        &mut self.scratch
    }
}

impl ScriptNet {
    fn push(&self, step: Step) {
        self.peer.borrow_mut().reads.push_back(step);
    }
    fn bytes(&self, b: &str) {
        self.push(Step::Bytes(b.as_bytes().to_vec()));
    }
    fn written(&self) -> String {
        String::from_utf8_lossy(&self.peer.borrow().written).into_owned()
    }
}

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 80))
}

fn options() -> ConnOptions {
    ConnOptions {
        limits: Limits::default(),
        observed: false,
        // Longer than the connect timeout: one attempt at a time, as these
        // tests script them (happy eyeballs has its own test).
        happy_eyeballs: Duration::from_secs(3600),
    }
}

fn timeouts() -> PhaseTimeouts {
    PhaseTimeouts {
        connect: ms(100),
        tls_handshake: ms(100),
        head: ms(200),
        body_idle: ms(300),
        idle: ms(1000),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const REQUEST: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

/// A plain connection to `addrs`, connect started at `t0`.
fn connecting(net: &mut ScriptNet, addrs: &[SocketAddr], t0: Instant) -> Conn<Scripted> {
    let mut c = Conn::new(1, "http://a:80".into(), addrs.to_vec(), None, options(), t0);
    c.start_connect(net, t0).unwrap();
    c.request_buffer().extend_from_slice(REQUEST.as_bytes());
    c.begin_request(Method::Get, true, t0);
    c
}

/// A plain connection that has sent its request and waits for the head.
fn reading_head(net: &mut ScriptNet, t0: Instant) -> Conn<Scripted> {
    let mut c = connecting(net, &[addr(1)], t0);
    assert!(matches!(c.drive(net, t0), ConnEvent::Connected));
    assert!(matches!(c.drive(net, t0), ConnEvent::Pending));
    assert_eq!(c.state(), ConnState::ReadingHead);
    c
}

/// A connection parked idle in the pool after one keep-alive response.
fn idle(net: &mut ScriptNet, t0: Instant) -> Conn<Scripted> {
    let mut c = reading_head(net, t0);
    net.bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert!(matches!(c.drive(net, t0), ConnEvent::Done));
    assert!(c.reusable());
    c.make_idle(t0);
    c
}

fn failed(ev: ConnEvent) -> Error {
    match ev {
        ConnEvent::Failed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn take_response(c: &mut Conn<Scripted>) -> Response {
    let mut r = Response::default();
    c.swap_response(&mut r);
    r
}

#[test]
fn an_observed_connection_reports_every_transition_in_order() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let observed = ConnOptions {
        observed: true,
        ..options()
    };
    let mut c: Conn<Scripted> = Conn::new(1, "http://a:80".into(), vec![], None, observed, t0);
    c.set_resolving();
    c.set_addresses(vec![addr(1)], t0);
    c.start_connect(&mut net, t0).unwrap();
    c.request_buffer().extend_from_slice(REQUEST.as_bytes());
    c.begin_request(Method::Get, true, t0);
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Connected));
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Pending));
    net.bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Done));
    c.make_idle(t0);
    c.close(&mut net, t0);
    use ConnState::*;
    let mut seen = Vec::new();
    while let Some(t) = c.poll_transition() {
        seen.push(t);
    }
    assert_eq!(
        seen,
        vec![
            (Resolving, Connecting),
            (Connecting, Sending),
            (Sending, ReadingHead),
            (ReadingHead, ReadingBody),
            (ReadingBody, Idle),
            (Idle, Closed),
        ]
    );
    let mut quiet = connecting(&mut net, &[addr(1)], t0);
    let _ = quiet.drive(&mut net, t0);
    assert_eq!(
        quiet.poll_transition(),
        None,
        "nothing queued when not observed"
    );
}
