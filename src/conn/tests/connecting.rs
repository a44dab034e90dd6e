//! Resolving and Connecting: addresses, the next one on failure, happy eyeballs.

use super::*;

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
