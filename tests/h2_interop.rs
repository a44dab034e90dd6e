//! The HTTP/2 core against an independent implementation: Python's `h2`
//! (hyper-h2) as a server over plain TCP on loopback (prior knowledge).
//! Its HPACK, frames and flow control are not ours: if both sides agree on
//! every byte, the core speaks HTTP/2, not just its own dialect of it.
#![cfg(feature = "http2")]

use oneloop::h2::conn::{H2Config, H2Conn, H2Event};
use oneloop::h2::hpack::HeaderList;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A stream's body, head fields, and whether it ended.
type Received = (Vec<u8>, HeaderList, bool);

const SERVER: &str = r#"
import socket, h2.connection, h2.config, h2.events
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
conn.initiate_connection(); c.sendall(conn.data_to_send())
pending = {}
while True:
    data = c.recv(65536)
    if not data:
        break
    for ev in conn.receive_data(data):
        if isinstance(ev, h2.events.RequestReceived):
            h = dict(ev.headers)
            path = h[b':path'].decode()
            n = int(path.rsplit('/', 1)[-1] or 0)
            body = (path.encode() * (n // len(path) + 1))[:n]
            conn.send_headers(ev.stream_id, [(':status', '200'), ('content-length', str(n)),
                                             ('x-echo-ua', h.get(b'user-agent', b'').decode())])
            pending[ev.stream_id] = body
        elif isinstance(ev, h2.events.StreamReset):
            pending.pop(ev.stream_id, None)
    for sid in list(pending):
        body = pending[sid]
        while body:
            w = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, len(body))
            if w <= 0:
                break
            conn.send_data(sid, body[:w]); body = body[w:]
        if body:
            pending[sid] = body
        else:
            conn.end_stream(sid); del pending[sid]
    c.sendall(conn.data_to_send())
"#;

/// Whether Python's `h2` is installed (CI installs it; else the tests say
/// SKIPPED).
fn python_has_h2() -> bool {
    Command::new("python3")
        .args(["-c", "import h2"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn interop_with_python_h2_over_prior_knowledge() {
    if !python_has_h2() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED interop_with_python_h2_over_prior_knowledge: python3 -m pip install h2"
        );
        return;
    }
    let mut server = Command::new("python3")
        .args(["-c", SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port.trim().parse::<u16>().unwrap())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    // Small windows, so a 300 KB body needs many WINDOW_UPDATEs.
    let config = H2Config {
        stream_window: 32_768,
        conn_window: 65_535,
        ..H2Config::default()
    };
    let mut conn = H2Conn::new(config);
    let paths = [
        "/a/1000",
        "/b/300000",
        "/c/0",
        "/d/20000",
        "/e/5",
        "/f/70000",
    ];
    let mut want: HashMap<u32, usize> = HashMap::new();
    let mut got: HashMap<u32, Received> = HashMap::new();
    let mut next = 0;
    let mut buf = vec![0; 65_536];
    loop {
        // Three at a time, the rest as earlier ones finish: the HPACK tables
        // of both sides carry over from stream to stream.
        while next < paths.len() && want.len() - done(&got) < 3 {
            let path = paths[next];
            let fields: [(&[u8], &[u8]); 5] = [
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"h0.demo.test"),
                (b":path", path.as_bytes()),
                (b"user-agent", b"oneloop-h2-test/1"),
            ];
            let id = conn.open_stream(&fields, true).unwrap();
            want.insert(id, path.rsplit('/').next().unwrap().parse().unwrap());
            next += 1;
        }
        let mut out = Vec::new();
        if conn.poll_transmit(&mut out) {
            tcp.write_all(&out).unwrap();
        }
        if want.len() == paths.len() && done(&got) == paths.len() {
            break;
        }
        let n = tcp.read(&mut buf).expect("the server answers within 10 s");
        assert!(n > 0, "the server closed early");
        conn.handle_bytes(&buf[..n]).unwrap();
        while let Some(ev) = conn.poll_event() {
            match ev {
                H2Event::Headers {
                    stream,
                    fields,
                    end_stream,
                } => {
                    let entry = got.entry(stream).or_default();
                    entry.1 = fields;
                    entry.2 |= end_stream;
                }
                H2Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    conn.handle_consumed(stream, data.len() as u32);
                    let entry = got.entry(stream).or_default();
                    entry.0.extend_from_slice(&data);
                    entry.2 |= end_stream;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    drop(tcp);
    let _ = server.wait();
    for (id, len) in &want {
        let (body, fields, ended) = &got[id];
        assert!(ended, "stream {id}");
        assert_eq!(body.len(), *len, "stream {id}");
        let field = |name: &[u8]| {
            fields
                .iter()
                .find(|&(n, _)| n == name)
                .map(|(_, v)| v.to_vec())
        };
        assert_eq!(field(b":status").as_deref(), Some(&b"200"[..]));
        assert_eq!(
            field(b"x-echo-ua").as_deref(),
            Some(&b"oneloop-h2-test/1"[..]),
            "our HPACK, their decoder, and back"
        );
        assert_eq!(field(b"content-length"), Some(len.to_string().into_bytes()));
    }
    let b = &got[&3].0; // "/b/300000" repeated
    assert!(b.starts_with(b"/b/300000/b/300000"));
}

fn done(got: &HashMap<u32, Received>) -> usize {
    got.values().filter(|(_, _, ended)| *ended).count()
}

const TLS_SERVER: &str = r#"
import socket, ssl, sys, threading, h2.connection, h2.config, h2.events
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.set_alpn_protocols(['h2'])
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
def serve(c):
    c = ctx.wrap_socket(c, server_side=True)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection(); c.sendall(conn.data_to_send())
    while True:
        data = c.recv(65536)
        if not data: break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                body = b'hello ' + dict(ev.headers)[b':path']
                conn.send_headers(ev.stream_id, [(':status', '200'), ('content-length', str(len(body)))])
                conn.send_data(ev.stream_id, body, end_stream=True)
        c.sendall(conn.data_to_send())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// End to end: the crawler offers h2 by ALPN to a Python `h2` server over
/// TLS; 200 requests, 50 at once, all on one connection, each its own body.
#[test]
fn a_crawl_over_http2_shares_one_connection() {
    if !python_has_h2() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED a_crawl_over_http2_shares_one_connection: python3 -m pip install h2"
        );
        return;
    }
    let ca = oneloop::tls::certs::CertificateAuthority::new("h2 test CA").unwrap();
    let now = std::time::SystemTime::now();
    let cert = ca
        .issue(
            &["127.0.0.1"],
            now - Duration::from_secs(60),
            now + Duration::from_secs(3600),
        )
        .unwrap();
    let dir = std::env::temp_dir().join(format!("oneloop-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (chain, key) = (dir.join("chain.pem"), dir.join("key.pem"));
    std::fs::write(&chain, cert.chain_pem()).unwrap();
    std::fs::write(&key, cert.key_pem()).unwrap();
    let mut server = Command::new("python3")
        .args(["-c", TLS_SERVER])
        .arg(&chain)
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let port: u16 = port.trim().parse().unwrap();
    let mut config = oneloop::Config::local();
    config.tls.http2 = true;
    config.tls.webpki_roots = false;
    config.tls.extra_roots = vec![ca.cert().clone()];
    config.concurrency = 50;
    config.per_host = 50;
    let urls: Vec<String> = (0..200)
        .map(|i| format!("https://127.0.0.1:{port}/p{i}"))
        .collect();
    let mut bodies = HashMap::new();
    let mut crawler = oneloop::Crawler::new(config).unwrap();
    let summary = crawler
        .run(urls, |o| {
            let r = o.result.as_ref().expect("a response");
            let mut line = String::new();
            o.write_json(&mut line);
            assert!(
                line.contains(r#""status":200,"bytes":"#) && line.contains(r#""proto":"h2""#),
                "{line}"
            );
            bodies.insert(
                o.url.to_string(),
                String::from_utf8_lossy(&r.body).into_owned(),
            );
        })
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(bodies.len(), 200);
    for (url, body) in &bodies {
        let path = url.rsplit_once(&format!("{port}")).unwrap().1;
        assert_eq!(body, &format!("hello {path}"));
    }
    assert_eq!(summary.pool.opened, 1, "one connection for 200 requests");
}
