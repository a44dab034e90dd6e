//! Idle: spurious wake-ups, the server closing, reuse.

use super::*;

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
