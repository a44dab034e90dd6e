//! The connection state machine driven through a scripted transport: no
//! sockets, no clock (time is `t0 + offset`). Sections follow the states,
//! as smoltcp's tests do.

use super::net::Net;
use super::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

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

// ---------------------------------------------------------------- Resolving

#[test]
fn resolving_waits_for_addresses_and_has_no_deadline_of_its_own() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c: Conn<Scripted> = Conn::new(1, "http://a:80".into(), vec![], None, options(), t0);
    c.set_resolving();
    assert_eq!(c.poll_timeout(&timeouts()), None, "the resolver times DNS");
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Pending));
    c.set_addresses(vec![addr(1)], t0 + ms(5));
    assert_eq!(c.state(), ConnState::Connecting);
    c.start_connect(&mut net, t0 + ms(5)).unwrap();
    assert_eq!(net.connects, vec![addr(1)]);
    assert_eq!(c.poll_timeout(&timeouts()), Some(t0 + ms(105)));
}

// ---------------------------------------------------------------- Connecting

#[test]
fn connecting_waits_then_reports_connected_and_sends() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    net.results.push_back(Ok(false)); // a spurious wake-up: not yet
    let mut c = connecting(&mut net, &[addr(1)], t0);
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Pending));
    assert_eq!(c.state(), ConnState::Connecting);
    assert!(matches!(
        c.drive(&mut net, t0 + ms(1)),
        ConnEvent::Connected
    ));
    assert_eq!(c.state(), ConnState::Sending);
    assert!(matches!(c.drive(&mut net, t0 + ms(1)), ConnEvent::Pending));
    assert_eq!(net.written(), REQUEST);
    assert_eq!(
        net.writable,
        Some(false),
        "WRITABLE dropped once all is sent"
    );
}

#[test]
fn connecting_moves_to_the_next_address_on_failure() {
    let t0 = Instant::now();
    let mut net = ScriptNet {
        refuse_at_once: vec![addr(1)],
        ..ScriptNet::default()
    };
    // addr(1) fails in `connect`, addr(2) in the handshake, addr(3) works.
    net.results
        .push_back(Err(io::ErrorKind::ConnectionRefused.into()));
    let mut c = connecting(&mut net, &[addr(1), addr(2), addr(3)], t0);
    assert_eq!(net.connects, vec![addr(1), addr(2)]);
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Pending));
    assert_eq!(net.connects, vec![addr(1), addr(2), addr(3)]);
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Connected));
}

#[test]
fn connecting_fails_with_the_last_error_when_no_address_is_left() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    net.results
        .push_back(Err(io::ErrorKind::ConnectionRefused.into()));
    let mut c = connecting(&mut net, &[addr(1)], t0);
    let e = failed(c.drive(&mut net, t0));
    assert_eq!((e.phase, e.kind), (Phase::Connect, ErrorKind::Refused));
    assert_eq!(c.state(), ConnState::Closed);
    assert_eq!(net.closes, 1);
}

#[test]
fn connecting_timeout_tries_the_next_address_then_fails() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    net.results.extend([Ok(false), Ok(false)]);
    let mut c = connecting(&mut net, &[addr(1), addr(2)], t0);
    let t = timeouts();
    assert!(matches!(
        c.handle_timeout(&mut net, &t, t0 + ms(99)),
        ConnEvent::Pending
    ));
    assert_eq!(net.connects.len(), 1, "not due yet");
    assert!(matches!(
        c.handle_timeout(&mut net, &t, t0 + ms(100)),
        ConnEvent::Pending
    ));
    assert_eq!(net.connects, vec![addr(1), addr(2)]);
    assert_eq!(
        c.poll_timeout(&t),
        Some(t0 + ms(200)),
        "a fresh connect timeout"
    );
    let e = failed(c.handle_timeout(&mut net, &t, t0 + ms(200)));
    assert_eq!((e.phase, e.kind), (Phase::Connect, ErrorKind::Timeout));
}

#[test]
fn happy_eyeballs_starts_the_next_address_beside_a_slow_one_and_the_first_to_connect_wins() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let staggered = ConnOptions {
        happy_eyeballs: ms(25),
        ..options()
    };
    let v6: SocketAddr = "[::1]:80".parse().unwrap();
    let mut c: Conn<Scripted> = Conn::new(
        1,
        "http://a:80".into(),
        vec![v6, addr(1)],
        None,
        staggered,
        t0,
    );
    c.start_connect(&mut net, t0).unwrap();
    assert_eq!(net.connects, vec![v6], "one attempt at first");
    let t = timeouts();
    assert_eq!(
        c.poll_timeout(&t),
        Some(t0 + ms(25)),
        "the stagger comes first"
    );
    assert!(matches!(
        c.handle_timeout(&mut net, &t, t0 + ms(25)),
        ConnEvent::Pending
    ));
    assert_eq!(
        net.connects,
        vec![v6, addr(1)],
        "the other family beside it"
    );
    // The first (IPv6) is still connecting, the second has connected.
    net.results.extend([Ok(false), Ok(true)]);
    assert!(matches!(
        c.drive(&mut net, t0 + ms(30)),
        ConnEvent::Connected
    ));
    assert_eq!(net.closes, 1, "the loser is closed");
    assert_eq!(c.state(), ConnState::Sending);
    assert_eq!(
        c.poll_timeout(&t),
        Some(t0 + ms(30) + t.head),
        "no connect deadline left"
    );
}

// ---------------------------------------------------------------- Sending

#[test]
fn sending_a_request_larger_than_the_socket_buffer_asks_for_writable() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    net.peer.borrow_mut().write_room = Some(10);
    let mut c = connecting(&mut net, &[addr(1)], t0);
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Connected));
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Pending));
    assert_eq!(c.state(), ConnState::Sending);
    assert_eq!(net.writable, Some(true));
    assert_eq!(net.written(), &REQUEST[..10]);
    net.peer.borrow_mut().write_room = None; // the buffer drained: WRITABLE
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Pending));
    assert_eq!(net.written(), REQUEST);
    assert_eq!(c.state(), ConnState::ReadingHead);
    assert_eq!(net.writable, Some(false));
}

// ---------------------------------------------------------------- ReadingHead

#[test]
fn reading_head_across_many_reads_then_the_body() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    // Edge-triggered: each drive reads until WouldBlock, and no further.
    net.bytes("HTTP/1.1 200 OK\r\nContent-");
    net.push(Step::WouldBlock);
    net.bytes("Length: 5\r\n\r\nhel");
    assert!(matches!(c.drive(&mut net, t0 + ms(1)), ConnEvent::Pending));
    assert_eq!(c.state(), ConnState::ReadingHead);
    assert_eq!(c.first_byte_at(), Some(t0 + ms(1)));
    assert!(matches!(c.drive(&mut net, t0 + ms(2)), ConnEvent::Pending));
    assert_eq!(c.state(), ConnState::ReadingBody);
    net.bytes("lo");
    assert!(matches!(c.drive(&mut net, t0 + ms(3)), ConnEvent::Done));
    let r = take_response(&mut c);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    assert!(c.reusable());
}

#[test]
fn only_an_incomplete_head_is_kept_and_idle_holds_no_buffer() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    // A head of ~10 KB, bigger than the 4 KiB read buffer: kept across reads.
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..90 {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(100)));
    }
    head.push_str("Content-Length: 3000\r\n\r\n");
    net.bytes(&head);
    net.bytes(&"b".repeat(3000));
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Done));
    let r = take_response(&mut c);
    assert_eq!((r.headers.len(), r.body.len()), (91, 3000));
    assert_eq!(
        c.io.pending.capacity(),
        0,
        "the body went through the loop's buffer"
    );
    c.make_idle(t0);
    assert_eq!(
        c.io.pending.capacity(),
        0,
        "an idle connection holds no read buffer"
    );
}

#[test]
fn reading_head_deadline_runs_from_the_start_of_sending() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    let t = timeouts();
    assert_eq!(c.poll_timeout(&t), Some(t0 + ms(200)));
    net.bytes("HTTP/1.1 200 OK\r\n"); // a byte does not restart the head timeout
    assert!(matches!(
        c.drive(&mut net, t0 + ms(150)),
        ConnEvent::Pending
    ));
    assert_eq!(c.poll_timeout(&t), Some(t0 + ms(200)));
    let e = failed(c.handle_timeout(&mut net, &t, t0 + ms(200)));
    assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::Timeout));
}

#[test]
fn reading_head_eof_or_garbage_fail_in_the_head_phase() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    net.push(Step::Eof);
    let e = failed(c.drive(&mut net, t0));
    assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::UnexpectedEof));
    assert!(
        !c.got_response_bytes(),
        "a stale keep-alive connection looks like this"
    );

    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    net.bytes("SSH-2.0-OpenSSH\r\n\r\n");
    let e = failed(c.drive(&mut net, t0));
    assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::Malformed));

    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    net.push(Step::Fail(io::ErrorKind::ConnectionReset));
    let e = failed(c.drive(&mut net, t0));
    assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::Reset));
}

// ---------------------------------------------------------------- ReadingBody

#[test]
fn reading_body_idle_deadline_moves_with_every_read() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    let t = timeouts();
    net.bytes("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
    assert!(matches!(c.drive(&mut net, t0 + ms(10)), ConnEvent::Pending));
    assert_eq!(c.poll_timeout(&t), Some(t0 + ms(310)));
    net.bytes("c");
    assert!(matches!(
        c.drive(&mut net, t0 + ms(250)),
        ConnEvent::Pending
    ));
    assert_eq!(c.poll_timeout(&t), Some(t0 + ms(550)));
    // The timer armed for 310 fires: the deadline moved, nothing happens.
    assert!(matches!(
        c.handle_timeout(&mut net, &t, t0 + ms(310)),
        ConnEvent::Pending
    ));
    let e = failed(c.handle_timeout(&mut net, &t, t0 + ms(550)));
    assert_eq!(
        (e.phase, e.kind, e.detail.as_str()),
        (Phase::Body, ErrorKind::Timeout, "body idle timeout")
    );
}

#[test]
fn reading_body_until_close_ends_at_eof_and_is_not_reused() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    net.bytes("HTTP/1.1 200 OK\r\n\r\nall of");
    net.bytes(" it");
    net.push(Step::Eof);
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Done));
    assert_eq!(take_response(&mut c).body, b"all of it");
    assert!(!c.reusable());
    assert_eq!(c.state(), ConnState::Closed);
}

#[test]
fn reading_body_cut_short_is_an_early_eof_in_the_body_phase() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    net.bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    net.push(Step::Eof);
    let e = failed(c.drive(&mut net, t0));
    assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::UnexpectedEof));
}

#[test]
fn bytes_beyond_the_response_make_the_connection_not_reusable() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = reading_head(&mut net, t0);
    net.bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Done));
    assert!(!c.reusable());
}

// ---------------------------------------------------------------- Idle

#[test]
fn idle_stays_idle_on_a_spurious_wake_up() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = idle(&mut net, t0);
    assert!(matches!(c.drive(&mut net, t0), ConnEvent::Pending));
    assert_eq!(c.state(), ConnState::Idle);
    assert_eq!(
        c.poll_timeout(&timeouts()),
        None,
        "the pool times idle connections"
    );
    assert_eq!(c.served(), 1);
}

#[test]
fn idle_closes_on_eof_or_on_bytes_nobody_asked_for() {
    let t0 = Instant::now();
    for step in [
        Step::Eof,
        Step::Bytes(b"junk".to_vec()),
        Step::Fail(io::ErrorKind::ConnectionReset),
    ] {
        let mut net = ScriptNet::default();
        let mut c = idle(&mut net, t0);
        net.push(step);
        assert!(matches!(c.drive(&mut net, t0), ConnEvent::IdleClosed));
        assert_eq!(c.state(), ConnState::Closed);
        assert_eq!(net.closes, 1);
    }
}

#[test]
fn idle_reuse_sends_the_next_request() {
    let t0 = Instant::now();
    let mut net = ScriptNet::default();
    let mut c = idle(&mut net, t0);
    c.request_buffer()
        .extend_from_slice(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    c.begin_request(Method::Get, true, t0 + ms(50));
    assert_eq!(c.state(), ConnState::Sending);
    assert_eq!(
        c.poll_timeout(&timeouts()),
        Some(t0 + ms(250)),
        "head timeout from this send"
    );
    assert!(matches!(c.drive(&mut net, t0 + ms(50)), ConnEvent::Pending));
    assert!(net
        .written()
        .ends_with("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_eq!(c.state(), ConnState::ReadingHead);
}

// ---------------------------------------------------------------- TlsHandshake

/// A client connection over TLS to an in-memory rustls server, pumped by
/// hand: bytes the client writes go to the server, the server's to the
/// client's read script.
struct TlsPair {
    net: ScriptNet,
    server: rustls::ServerConnection,
    conn: Conn<Scripted>,
}

impl TlsPair {
    fn new(t0: Instant) -> TlsPair {
        use crate::tls::certs::CertificateAuthority;
        use std::sync::Arc;
        use std::time::SystemTime;
        let ca = CertificateAuthority::new("test CA").unwrap();
        let now = SystemTime::now();
        let cert = ca
            .issue(
                &["a.test"],
                now - Duration::from_secs(60),
                now + Duration::from_secs(3600),
            )
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain, cert.key)
            .unwrap();
        let server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        let client_config = crate::tls::client_config(&crate::tls::TlsOptions {
            webpki_roots: false,
            extra_roots: &[ca.cert().clone()],
            ca_file: None,
            danger_accept_invalid_certs: false,
            session_cache: 0,
        })
        .unwrap();
        let name = crate::tls::server_name("a.test").unwrap();
        let tls = rustls::ClientConnection::new(client_config, name).unwrap();
        let mut net = ScriptNet::default();
        let mut conn = Conn::new(
            1,
            "https://a.test:443".into(),
            vec![addr(1)],
            Some(tls),
            options(),
            t0,
        );
        conn.start_connect(&mut net, t0).unwrap();
        conn.request_buffer().extend_from_slice(REQUEST.as_bytes());
        conn.begin_request(Method::Get, true, t0);
        TlsPair { net, server, conn }
    }

    /// Moves the client's bytes to the server and the server's answer back.
    fn exchange(&mut self) {
        let sent = std::mem::take(&mut self.net.peer.borrow_mut().written);
        let mut rd: &[u8] = &sent;
        while !rd.is_empty() {
            self.server.read_tls(&mut rd).unwrap();
            self.server.process_new_packets().unwrap();
        }
        let mut back = Vec::new();
        while self.server.wants_write() {
            self.server.write_tls(&mut back).unwrap();
        }
        if !back.is_empty() {
            self.net.push(Step::Bytes(back));
        }
    }

    /// Drives the client until the request is sent and the server read it.
    fn handshake_and_send(&mut self, t0: Instant) -> bool {
        let mut resumed_or_full = None;
        for _ in 0..10 {
            match self.conn.drive(&mut self.net, t0) {
                ConnEvent::TlsEstablished { resumed, .. } => resumed_or_full = Some(resumed),
                ConnEvent::Connected => {}
                ConnEvent::Pending if self.conn.state() == ConnState::ReadingHead => break,
                ConnEvent::Pending => self.exchange(),
                other => panic!("unexpected {other:?}"),
            }
        }
        self.exchange();
        let mut got = vec![0u8; REQUEST.len()];
        io::Read::read_exact(&mut self.server.reader(), &mut got).unwrap();
        assert_eq!(got, REQUEST.as_bytes());
        !resumed_or_full.expect("the handshake finished")
    }

    /// The server answers with a close-delimited body.
    fn answer_until_close(&mut self) {
        io::Write::write_all(&mut self.server.writer(), b"HTTP/1.1 200 OK\r\n\r\nsecret").unwrap();
        self.exchange();
    }
}

#[test]
fn tls_handshake_then_a_request_through_the_same_pump() {
    let t0 = Instant::now();
    let mut p = TlsPair::new(t0);
    assert!(matches!(p.conn.drive(&mut p.net, t0), ConnEvent::Connected));
    assert_eq!(p.conn.state(), ConnState::TlsHandshake);
    assert_eq!(p.conn.poll_timeout(&timeouts()), Some(t0 + ms(100)));
    assert!(p.handshake_and_send(t0), "a full handshake");
    io::Write::write_all(
        &mut p.server.writer(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )
    .unwrap();
    p.exchange();
    assert!(matches!(p.conn.drive(&mut p.net, t0), ConnEvent::Done));
    assert_eq!(take_response(&mut p.conn).body, b"ok");
    assert!(p.conn.reusable());
}

#[test]
fn tls_close_notify_ends_a_close_delimited_body() {
    let t0 = Instant::now();
    let mut p = TlsPair::new(t0);
    p.handshake_and_send(t0);
    p.answer_until_close();
    p.server.send_close_notify();
    p.exchange();
    p.net.push(Step::Eof);
    assert!(matches!(p.conn.drive(&mut p.net, t0), ConnEvent::Done));
    assert_eq!(take_response(&mut p.conn).body, b"secret");
}

#[test]
fn tls_bare_eof_inside_a_close_delimited_body_is_a_truncation() {
    let t0 = Instant::now();
    let mut p = TlsPair::new(t0);
    p.handshake_and_send(t0);
    p.answer_until_close();
    p.net.push(Step::Eof); // TCP FIN, no close_notify: maybe an attacker
    let e = failed(p.conn.drive(&mut p.net, t0));
    assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::UnexpectedEof));
    assert!(e.detail.contains("close_notify"), "{e}");
}

#[test]
fn tls_handshake_timeout_and_garbage_from_the_server() {
    let t0 = Instant::now();
    let mut p = TlsPair::new(t0);
    assert!(matches!(p.conn.drive(&mut p.net, t0), ConnEvent::Connected));
    assert!(matches!(p.conn.drive(&mut p.net, t0), ConnEvent::Pending));
    let e = failed(p.conn.handle_timeout(&mut p.net, &timeouts(), t0 + ms(100)));
    assert_eq!((e.phase, e.kind), (Phase::Tls, ErrorKind::Timeout));

    let mut p = TlsPair::new(t0);
    assert!(matches!(p.conn.drive(&mut p.net, t0), ConnEvent::Connected));
    p.net.bytes("HTTP/1.1 400 Bad Request\r\n\r\n"); // plain HTTP on a TLS port
    let e = failed(p.conn.drive(&mut p.net, t0));
    assert_eq!(e.phase, Phase::Tls);
}
