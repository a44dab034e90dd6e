//! One fetch, one connection, a hand-written mio loop over the crate's
//! sans-IO HTTP reader: the bridge between `examples/sans_io_http.rs` (no
//! socket at all) and the full crawler (many connections, pools, timers).
//! In the style of smoltcp's `examples/httpclient.rs`.
//!
//! `cargo run --example one_fetch`

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use oneloop::demo::DemoServer;
use oneloop::http::{encode_request, Limits, Method, ReadProgress, Response, ResponseReader};
use oneloop::url::Url;
use std::io::{ErrorKind, Read, Write};

const CONN: Token = Token(0);

fn main() -> std::io::Result<()> {
    let server = DemoServer::start(1, 1024)?; // a loopback server: no network needed
    let url = Url::parse(&format!("http://{}/page/1", server.addrs()[0])).unwrap();
    let mut out = Vec::new();
    encode_request(&mut out, Method::Get, &url, &[], b"", "one_fetch");
    let (mut sent, mut inbuf, mut have) = (0, vec![0u8; 16 * 1024], 0);
    let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
    let mut response = Response::default();

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(16);
    // A non-blocking connect: it returns at once, the handshake goes on.
    let mut stream = TcpStream::connect(server.addrs()[0])?;
    // WRITABLE says when the connection is up (and the socket can take bytes).
    poll.registry()
        .register(&mut stream, CONN, Interest::READABLE | Interest::WRITABLE)?;
    loop {
        poll.poll(&mut events, None)?;
        for _event in events.iter() {
            // Drive by what we are doing, not by the event's bits: mio may
            // wake us spuriously, and each step below stops at WouldBlock.
            while sent < out.len() {
                match stream.write(&out[sent..]) {
                    Ok(n) => sent += n,
                    // Not connected yet, or the send buffer is full: the next
                    // WRITABLE edge tells us when to try again.
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::NotConnected => break,
                    // A signal interrupted the call: just retry.
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if sent == out.len() {
                // All sent: stop asking for WRITABLE, or every turn would wake.
                poll.registry()
                    .reregister(&mut stream, CONN, Interest::READABLE)?;
            }
            // Edge-triggered: read until WouldBlock, or we would never hear
            // of the bytes already waiting.
            loop {
                match stream.read(&mut inbuf[have..]) {
                    // A zero-byte read is the server's FIN: the input ended.
                    Ok(0) => {
                        reader.handle_eof().map_err(std::io::Error::other)?;
                        return finish(&response);
                    }
                    Ok(n) => have += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::NotConnected => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
                // The sans-IO reader takes what it can; an incomplete head
                // stays in the buffer and is offered again with more bytes.
                let (used, progress) = reader
                    .handle_bytes(&inbuf[..have], &mut response)
                    .map_err(std::io::Error::other)?;
                inbuf.copy_within(used..have, 0);
                have -= used;
                if progress == ReadProgress::Done {
                    return finish(&response);
                }
            }
        }
    }
}

fn finish(response: &Response) -> std::io::Result<()> {
    println!(
        "status {}, {} header fields, {} body bytes",
        response.status,
        response.headers.len(),
        response.body.len()
    );
    Ok(())
}
