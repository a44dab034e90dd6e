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
import socket, ssl, sys, threading, h2.connection, h2.config, h2.events, h2.errors
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
mode = sys.argv[3]
ctx.set_alpn_protocols(['h2', 'http/1.1'] if mode == '421' else ['h2'])
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
def serve_h1(c):
    buf = b''
    while True:
        while b'\r\n\r\n' not in buf:
            data = c.recv(65536)
            if not data: return
            buf += data
        head, buf = buf.split(b'\r\n\r\n', 1)
        n = 0
        for line in head.split(b'\r\n')[1:]:
            k, _, v = line.partition(b':')
            if k.strip().lower() == b'content-length': n = int(v)
        while len(buf) < n:
            buf += c.recv(65536)
        got, buf = buf[:n], buf[n:]
        body = b'h1 ' + head.split(b' ')[1] + (b' %d' % len(got) if n else b'')
        c.sendall(b'HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n' % len(body) + body)
def serve(c):
    c = ctx.wrap_socket(c, server_side=True)
    if c.selected_alpn_protocol() != 'h2':
        return serve_h1(c)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection(); c.sendall(conn.data_to_send())
    served = 0
    while True:
        data = c.recv(65536)
        if not data: break
        for ev in conn.receive_data(data):
            if not isinstance(ev, h2.events.RequestReceived):
                continue
            served += 1
            path = dict(ev.headers)[b':path']
            if mode == 'kill' and served == 30:
                c.close()  # no GOAWAY: the streams in flight just die
                return
            if mode == 'silent' and path.startswith(b'/silent'):
                continue  # never answered
            if mode == 'refuse' and served % 5 == 0:
                conn.reset_stream(ev.stream_id, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
                continue
            status = '421' if mode == '421' and path.startswith(b'/h1only') else '200'
            body = b'hello ' + path
            conn.send_headers(ev.stream_id, [(':status', status), ('content-length', str(len(body)))])
            conn.send_data(ev.stream_id, body, end_stream=True)
            if mode == 'goaway' and served == 40:
                # A graceful shutdown: streams above this one were never
                # processed; the client must send them again elsewhere.
                conn.close_connection(last_stream_id=ev.stream_id)
                c.sendall(conn.data_to_send())
                c.close()
                return
        c.sendall(conn.data_to_send())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// What one URL came to: its JSON line and body, and with `keep_wire` the
/// exchange as archived (request, head).
struct Fetched {
    line: String,
    body: String,
    wire: Option<(String, String)>,
}

/// A stream event: opened (`end` empty) or closed, on (conn, stream), for
/// request `req`.
#[derive(Debug)]
struct StreamEvent {
    conn: u64,
    stream: u32,
    req: u64,
    end: &'static str,
}

/// Crawls `paths` (50 at once, 3 retries) through the crawler with HTTP/2
/// offered, against the Python `h2` server over TLS in `mode`. None (and
/// SKIPPED said) without Python's `h2`.
fn crawl_h2(
    test: &str,
    mode: &str,
    paths: &[String],
    tweak: impl FnOnce(&mut oneloop::Config),
) -> Option<(HashMap<String, Fetched>, oneloop::Summary, Vec<StreamEvent>)> {
    if !python_has_h2() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: python3 -m pip install h2"
        );
        return None;
    }
    let ca = oneloop::tls::certs::CertificateAuthority::new("h2 test CA").unwrap();
    let now = std::time::SystemTime::now();
    let cert = ca
        .issue(
            &["127.0.0.1", "localhost"],
            now - Duration::from_secs(60),
            now + Duration::from_secs(3600),
        )
        .unwrap();
    let dir = std::env::temp_dir().join(format!("oneloop-h2-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (chain, key) = (dir.join("chain.pem"), dir.join("key.pem"));
    std::fs::write(&chain, cert.chain_pem()).unwrap();
    std::fs::write(&key, cert.key_pem()).unwrap();
    let mut server = Command::new("python3")
        .args(["-c", TLS_SERVER])
        .arg(&chain)
        .arg(&key)
        .arg(mode)
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
    config.retry.max_retries = 3;
    tweak(&mut config);
    let prefix = format!("https://127.0.0.1:{port}");
    let other = format!("https://localhost:{port}");
    // "POST /x": a POST with a 100 KB body, more than h2's first windows;
    // "localhost/x": the same server as another origin.
    let urls: Vec<oneloop::Request> = paths
        .iter()
        .map(|p| match p.strip_prefix("POST ") {
            _ if p.starts_with("localhost/") => {
                oneloop::Request::from(format!("{other}{}", &p["localhost".len()..]))
            }
            Some(p) => oneloop::Request {
                url: format!("{prefix}{p}"),
                method: Some(oneloop::http::Method::Post),
                body: Some(vec![b'z'; 100_000]),
                ..Default::default()
            },
            None => oneloop::Request::from(format!("{prefix}{p}")),
        })
        .collect();
    let mut fetched = HashMap::new();
    let mut crawler = oneloop::Crawler::new(config).unwrap();
    let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = streams.clone();
    crawler.set_observer(move |e: &oneloop::events::Event<'_>| {
        let event = match e.kind {
            oneloop::events::EventKind::StreamOpened { conn, req, stream } => StreamEvent {
                conn,
                stream,
                req,
                end: "",
            },
            oneloop::events::EventKind::StreamClosed {
                conn,
                req,
                stream,
                end,
            } => StreamEvent {
                conn,
                stream,
                req,
                end,
            },
            _ => return,
        };
        seen.lock().unwrap().push(event);
    });
    let summary = crawler
        .run(urls, |o| {
            let mut line = String::new();
            o.write_json(&mut line);
            let body = o
                .result
                .as_ref()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .unwrap_or_default();
            let path = match o.url.strip_prefix(&prefix) {
                Some(path) => path.to_string(),
                None => format!("localhost{}", o.url.strip_prefix(&other).unwrap()),
            };
            let wire = o
                .result
                .as_ref()
                .ok()
                .and_then(|r| r.wire.as_ref())
                .map(|w| {
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    (text(&w.request), text(&w.head))
                });
            fetched.insert(path, Fetched { line, body, wire });
        })
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    drop(crawler);
    let streams = std::mem::take(&mut *streams.lock().unwrap());
    Some((fetched, summary, streams))
}

/// Every one of the `n` pages came back 200 with its own body.
fn every_page_right(fetched: &HashMap<String, Fetched>, n: usize) {
    assert_eq!(fetched.len(), n);
    for (path, f) in fetched {
        assert!(f.line.contains(r#""status":200,"#), "{}", f.line);
        assert_eq!(f.body, format!("hello {path}"));
    }
}

fn paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/p{i}")).collect()
}

/// End to end: the crawler offers h2 by ALPN to a Python `h2` server over
/// TLS; 200 requests, 50 at once, all on one connection, each its own body.
#[test]
fn a_crawl_over_http2_shares_one_connection() {
    let test = "a_crawl_over_http2_shares_one_connection";
    let Some((fetched, summary, streams)) = crawl_h2(test, "plain", &paths(200), |_| {}) else {
        return;
    };
    assert_eq!(fetched.len(), 200);
    for (path, f) in &fetched {
        assert!(
            f.line.contains(r#""status":200,"bytes":"#) && f.line.contains(r#""proto":"h2""#),
            "{}",
            f.line
        );
        assert_eq!(f.body, format!("hello {path}"));
    }
    assert_eq!(summary.pool.opened, 1, "one connection for 200 requests");
    assert_eq!((summary.h2_responses, summary.h2_connections), (200, 1));
    // The events show the multiplexing: 200 streams on the one
    // connection, ids 1, 3, 5… each opened once and closed once, done.
    let opened: Vec<&StreamEvent> = streams.iter().filter(|e| e.end.is_empty()).collect();
    let mut ids: Vec<u32> = opened.iter().map(|e| e.stream).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..200).map(|i| 2 * i + 1).collect::<Vec<u32>>());
    assert!(streams.iter().all(|e| e.conn == opened[0].conn));
    let mut done: Vec<(u32, u64)> = streams
        .iter()
        .filter(|e| e.end == "done")
        .map(|e| (e.stream, e.req))
        .collect();
    let mut want: Vec<(u32, u64)> = opened.iter().map(|e| (e.stream, e.req)).collect();
    done.sort_unstable();
    want.sort_unstable();
    assert_eq!(
        done, want,
        "each stream closed once, done, for its own request"
    );
    let text = summary.to_string();
    assert!(
        text.contains(
            "protocols: h2 200 responses / 1 connections; http/1.1 0 responses / 0 connections"
        ),
        "{text}"
    );
}

/// The server shuts each connection down after 40 streams (GOAWAY): the
/// streams above its last one are sent again on a new connection, and
/// every page arrives once, right.
#[test]
fn streams_above_a_goaway_go_again_on_a_new_connection() {
    let test = "streams_above_a_goaway_go_again_on_a_new_connection";
    let Some((fetched, summary, streams)) = crawl_h2(test, "goaway", &paths(200), |_| {}) else {
        return;
    };
    every_page_right(&fetched, 200);
    assert!(
        summary.pool.opened >= 5,
        "40 streams a connection: {summary:?}"
    );
    assert!(summary.retries > 0, "the refused streams were sent again");
    // Streams above each GOAWAY closed failed, and their requests were
    // done later on another connection.
    let failed: Vec<&StreamEvent> = streams.iter().filter(|e| e.end == "failed").collect();
    assert!(!failed.is_empty());
    for f in failed {
        let again = streams
            .iter()
            .any(|e| e.req == f.req && e.end == "done" && e.conn != f.conn);
        assert!(again, "{f:?}");
    }
}

/// Every fifth stream is refused (RST_STREAM REFUSED_STREAM): each is sent
/// again at once, and every page arrives.
#[test]
fn refused_streams_are_sent_again() {
    let test = "refused_streams_are_sent_again";
    let Some((fetched, summary, streams)) = crawl_h2(test, "refuse", &paths(100), |_| {}) else {
        return;
    };
    every_page_right(&fetched, 100);
    let refused = summary.retries_by_cause.get("send:refused").copied();
    assert!(refused >= Some(20), "{:?}", summary.retries_by_cause);
    let failed = streams.iter().filter(|e| e.end == "failed").count();
    assert_eq!(
        Some(failed as u64),
        refused,
        "one failed stream per refusal"
    );
}

/// A `421` over HTTP/2 (how a site opts a request out of h2): the request
/// goes again over HTTP/1.1 and its answer is the HTTP/1.1 one; the other
/// requests stay on h2.
#[test]
fn a_421_over_http2_is_answered_over_http1() {
    let test = "a_421_over_http2_is_answered_over_http1";
    let mut list = paths(40);
    list.extend((0..10).map(|i| format!("/h1only/{i}")));
    let Some((fetched, summary, _)) = crawl_h2(test, "421", &list, |_| {}) else {
        return;
    };
    assert_eq!(fetched.len(), 50);
    for (path, f) in &fetched {
        assert!(f.line.contains(r#""status":200,"#), "{}", f.line);
        if path.starts_with("/h1only") {
            assert_eq!(f.body, format!("h1 {path}"));
            assert!(!f.line.contains(r#""proto":"h2""#), "{}", f.line);
        } else {
            assert_eq!(f.body, format!("hello {path}"));
            assert!(f.line.contains(r#""proto":"h2""#), "{}", f.line);
        }
    }
    assert_eq!(
        summary.retries_by_cause.get("status 421").copied(),
        Some(10)
    ); // Each 421 is sent again on an HTTP/1.1 connection (pooled after).
    assert_eq!((summary.h2_responses, summary.responses), (40, 50));
    assert!(summary.pool.opened > summary.h2_connections);
}

/// A POST body larger than the server's HTTP/2 windows (100 KB against
/// 64 KiB): sent again over HTTP/1.1, whole, not failed.
#[test]
fn a_body_too_large_for_the_h2_windows_goes_over_http1() {
    let test = "a_body_too_large_for_the_h2_windows_goes_over_http1";
    let list = vec!["/small".to_string(), "POST /upload".to_string()];
    let Some((fetched, summary, _)) = crawl_h2(test, "421", &list, |_| {}) else {
        return;
    };
    assert_eq!(fetched["/small"].body, "hello /small");
    assert_eq!(
        fetched["/upload"].body, "h1 /upload 100000",
        "{}",
        fetched["/upload"].line
    );
    assert_eq!(
        summary.retries_by_cause.get("send:too_large").copied(),
        Some(1)
    );
}

/// A stream the server never answers: the request's head timeout fires
/// (its stream is reset), and the connection carries the other requests.
#[test]
fn a_stream_never_answered_times_out_alone() {
    let test = "a_stream_never_answered_times_out_alone";
    let mut list = paths(20);
    list.extend(["/silent/1".to_string(), "/silent/2".to_string()]);
    let Some((fetched, summary, streams)) = crawl_h2(test, "silent", &list, |c| {
        c.timeouts.head = Duration::from_millis(300);
        c.retry.max_retries = 0;
    }) else {
        return;
    };
    for (path, f) in &fetched {
        if path.starts_with("/silent") {
            assert!(
                f.line
                    .contains(r#""error":{"phase":"head","kind":"timeout""#),
                "{}",
                f.line
            );
        } else {
            assert_eq!(f.body, format!("hello {path}"));
        }
    }
    assert_eq!(
        (summary.pool.opened, summary.h2_responses),
        (1, 20),
        "{summary}"
    );
    let cancelled = streams
        .iter()
        .filter(|e| e.end != "done" && !e.end.is_empty())
        .count();
    assert_eq!(cancelled, 2, "{streams:?}");
}

/// Archiving over HTTP/2: the exchange is kept in HTTP/1.1 form (WARC has
/// no other), the request as sent and the head as received, with the
/// body, and the peer's address.
#[test]
fn an_h2_exchange_is_kept_for_the_archive_in_http1_form() {
    let test = "an_h2_exchange_is_kept_for_the_archive_in_http1_form";
    let Some((fetched, summary, _)) =
        crawl_h2(test, "plain", &paths(3), |c| c.request.keep_wire = true)
    else {
        return;
    };
    assert_eq!(summary.h2_responses, 3);
    for (path, f) in &fetched {
        let (request, head) = f.wire.as_ref().expect("kept");
        assert!(
            request.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "{request}"
        );
        assert!(request.contains("\r\nHost: 127.0.0.1:"), "{request}");
        let len = format!("hello {path}").len();
        assert_eq!(
            head,
            &format!("HTTP/1.1 200 \r\ncontent-length: {len}\r\n\r\n")
        );
        assert_eq!(f.body, format!("hello {path}"));
    }
}

/// The server drops the connection (no GOAWAY) after 30 streams, with more
/// in flight: each request left goes again, and they share the next
/// connection instead of opening one each.
#[test]
fn requests_on_a_dropped_h2_connection_share_the_next_one() {
    let test = "requests_on_a_dropped_h2_connection_share_the_next_one";
    let Some((fetched, summary, _)) = crawl_h2(test, "kill", &paths(200), |_| {}) else {
        return;
    };
    every_page_right(&fetched, 200);
    // Each connection answers 29 of its 50 streams: 7 at the least, about
    // 15 with the retries' turns; one per retried request was 69.
    assert!(summary.pool.opened <= 20, "{summary}");
}

/// An h2 connection with no stream closes at the idle timeout, counted as
/// idle-expired like a pooled HTTP/1.1 one: one origin's page is done at
/// once, while another origin's never-answered request keeps the crawl
/// going past the timeout.
#[test]
fn an_idle_h2_connection_expires_and_is_counted() {
    let test = "an_idle_h2_connection_expires_and_is_counted";
    let list = vec!["/p0".to_string(), "localhost/silent/1".to_string()];
    let Some((fetched, summary, _)) = crawl_h2(test, "silent", &list, |c| {
        c.timeouts.head = Duration::from_millis(700);
        c.connections.idle_timeout = Duration::from_millis(150);
        c.retry.max_retries = 0;
    }) else {
        return;
    };
    assert_eq!(fetched["/p0"].body, "hello /p0");
    assert!(fetched["localhost/silent/1"]
        .line
        .contains(r#""kind":"timeout""#));
    assert_eq!(
        (summary.pool.opened, summary.pool.expired),
        (2, 1),
        "{summary}"
    );
}
