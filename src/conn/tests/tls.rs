//! TlsHandshake: a real rustls pair through the scripted transport.

use super::*;

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
            http2: false,
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
