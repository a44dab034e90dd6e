//! ReadingHead and ReadingBody: heads across reads, deadlines, framing, EOF.

use super::*;

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
