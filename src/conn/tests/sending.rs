//! Sending: a request larger than the socket buffer.

use super::*;

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
