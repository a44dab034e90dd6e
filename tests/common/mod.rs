//! In-process test servers on 127.0.0.1, one thread per connection, with
//! counters the tests assert on.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts connections open now, the most open at once, and totals.
#[derive(Default)]
pub struct Counters {
    pub open: AtomicUsize,
    pub max_open: AtomicUsize,
    pub accepted: AtomicUsize,
    pub requests: AtomicUsize,
}

impl Counters {
    fn opened(&self) {
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_open.fetch_max(now, Ordering::SeqCst);
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }
    fn closed(&self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
    pub fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request head; returns its path, or None at EOF / on error.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        if h == "\r\n" || h == "\n" {
            return Some(path);
        }
    }
}

/// What a server does with each request on a connection: gets the stream
/// and the path, returns whether to keep the connection open.
pub type Handler = dyn Fn(&mut TcpStream, &str) -> bool + Send + Sync;

/// A server calling `handler` for each request. `counters` are updated per
/// connection; several servers can share one `global`.
pub fn spawn(
    handler: Arc<Handler>,
    counters: Arc<Counters>,
    global: Option<Arc<Counters>>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    serve_on(listener, handler, counters, global)
}

/// The same server on a listener of the caller's.
#[allow(dead_code)] // not every test binary uses it
pub fn spawn_on(listener: TcpListener, handler: Arc<Handler>) -> SocketAddr {
    serve_on(listener, handler, Arc::default(), None)
}

fn serve_on(
    listener: TcpListener,
    handler: Arc<Handler>,
    counters: Arc<Counters>,
    global: Option<Arc<Counters>>,
) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counters.opened();
            if let Some(g) = &global {
                g.opened();
            }
            let (handler, counters, global) = (handler.clone(), counters.clone(), global.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                while let Some(path) = read_request(&mut reader) {
                    counters.requests.fetch_add(1, Ordering::SeqCst);
                    if !handler(&mut stream, &path) {
                        break;
                    }
                }
                let _ = stream.shutdown(std::net::Shutdown::Both);
                drop(stream);
                counters.closed();
                if let Some(g) = &global {
                    g.closed();
                }
            });
        }
    });
    addr
}

/// A well-behaved keep-alive server whose body is the request path.
pub fn echo_path_server(counters: Arc<Counters>, global: Option<Arc<Counters>>) -> SocketAddr {
    spawn(
        Arc::new(|s: &mut TcpStream, path: &str| respond(s, path, true)),
        counters,
        global,
    )
}

/// Writes a 200 response whose body is `body`.
pub fn respond(s: &mut TcpStream, body: &str, keep_alive: bool) -> bool {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    s.write_all(&out).is_ok() && keep_alive
}

/// A server that accepts and reads nothing: each connection gets `script`
/// run on it (for faults that do not fit the request/response loop).
pub fn raw_server(script: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(script);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let script = script.clone();
            std::thread::spawn(move || script(stream));
        }
    });
    addr
}

/// Waits until the client's request has arrived, without reading it.
pub fn wait_for_request(s: &TcpStream) {
    let mut b = [0u8; 1];
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.peek(&mut b);
}

/// Reads and discards the request head.
pub fn drain_request(s: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(s.try_clone().ok()?);
    read_request(&mut reader)
}

/// A port nobody listens on.
pub fn refused_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

pub fn read_all(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// A keep-alive server whose body is the request path, answering each
/// request after `delay`.
pub fn slow_echo_server(delay: Duration) -> SocketAddr {
    spawn(
        Arc::new(move |s: &mut TcpStream, path: &str| {
            std::thread::sleep(delay);
            respond(s, path, true)
        }),
        Arc::new(Counters::default()),
        None,
    )
}

/// Runs the `oneloop` binary with `args`, `input` on its stdin; stdout and
/// stderr are captured.
pub fn oneloop_with_stdin(args: &[&str], input: &str) -> std::process::Output {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Written from a thread: a big input and a big output would otherwise
    // fill both pipes and wait on each other.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// A rustls server configuration serving `cert` (ring provider).
pub fn server_config(cert: oneloop::tls::certs::IssuedCert) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain, cert.key)
            .unwrap(),
    )
}

/// Reads one request head from a TLS stream; None at EOF.
pub fn read_head(s: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    Some(text.split_whitespace().nth(1)?.to_string())
}

/// A keep-alive HTTPS server whose body is the request path.
#[allow(dead_code)] // not every test binary uses it
pub fn tls_server(config: Arc<rustls::ServerConfig>, counters: Arc<Counters>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            counters
                .accepted
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let config = config.clone();
            let counters = counters.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                while let Some(path) = read_head(&mut s) {
                    counters
                        .requests
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{path}",
                        path.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() || s.flush().is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The value of field `name` in a JSON line as oneloop writes it: a string
/// (up to its first quote: enough for the URLs and words the tests use) or
/// a number, `None` if the line has no such field.
pub fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":");
    let rest = &line[line.find(&key)? + key.len()..];
    Some(match rest.strip_prefix('"') {
        Some(s) => &s[..s.find('"')?],
        None => &rest[..rest.find([',', '}'])?],
    })
}
