//! `oneloop-compare PEER N C URL_PREFIX [CA_PEM]`: fetches `URL_PREFIX{i}` for
//! i in 0..N with at most C requests in flight and keep-alive, counts 200s and
//! errors, and prints one line: `ok=<n> errors=<n> secs=<s>`.
//!
//! PEER is one of:
//! - `hyper-ct`: tokio current-thread runtime + hyper-util's pooled client;
//! - `hyper-mt`: the same on tokio's multi-thread runtime;
//! - `reqwest`: reqwest (rustls with ring) on the multi-thread runtime.
//! - `hyper-h2`: tokio current-thread runtime + hyper-util's client speaking
//!   HTTP/2 only (ALPN `h2`): one connection per origin, C streams at once.
//!
//! - `floor`: no HTTP client at all: what the system calls alone cost one
//!   thread. C blocking connects, each followed by its first request, then
//!   rounds of "read one response (in order, blocking), send the next". It
//!   parses only a head and a Content-Length, keeps no pool and no timers;
//!   no client on one thread can do the same work in less time, so it is
//!   the ceiling a one-thread client is measured against (plain http,
//!   N a multiple of C, a server answering in order: the delay server).
//!
//! Each peer runs C workers pulling the next index from a shared counter, so
//! like oneloop it holds O(C) requests, never O(N).
//!
//! `oneloop-compare serve-delay PORT DELAY_MS [BACKLOG]`: a loopback HTTP/1.1 server
//! (tokio, all cores) that answers every request with a 1 KiB page DELAY_MS
//! after it arrived, keep-alive: the latency-bound benchmark's server, where
//! throughput is concurrency ÷ delay and thousands of connections are open.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct Job {
    n: u64,
    next: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    prefix: String,
}

impl Job {
    fn take(&self) -> Option<String> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.n).then(|| format!("{}{i}", self.prefix))
    }
}

/// Runs C workers, each fetching the next URL with `fetch` (true = a 200
/// with its body read) until the job is done.
async fn run_workers<F, Fut>(job: Arc<Job>, c: usize, fetch: F)
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut workers = Vec::new();
    for _ in 0..c {
        let (job, fetch) = (job.clone(), fetch.clone());
        workers.push(tokio::spawn(async move {
            while let Some(url) = job.take() {
                let counter = if fetch(url).await {
                    &job.ok
                } else {
                    &job.errors
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
}

fn tls_config(ca: Option<&str>, alpn: bool) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca {
        for cert in CertificateDer::pem_file_iter(path).expect("CA file") {
            roots.add(cert.expect("CA cert")).expect("add root");
        }
    }
    let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    if alpn {
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    c
}

async fn run_hyper(job: Arc<Job>, c: usize, ca: Option<String>, h2: bool) {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        // hyper-rustls sets ALPN itself (http/1.1, or h2 alone).
        .with_tls_config(tls_config(ca.as_deref(), false))
        .https_or_http();
    let https = if h2 {
        builder.enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(c)
        // HTTP/2: one connection per origin carries every request.
        .http2_only(h2)
        .build(https);
    run_workers(job, c, move |url: String| {
        let client = client.clone();
        async move {
            let Ok(uri) = url.parse::<hyper::Uri>() else {
                return false;
            };
            match client.get(uri).await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.into_body().collect().await {
                        Ok(body) => {
                            std::hint::black_box(body.to_bytes().len());
                            status == 200
                        }
                        Err(_) => false,
                    }
                }
                Err(_) => false,
            }
        }
    })
    .await;
}

async fn run_reqwest(job: Arc<Job>, c: usize, ca: Option<String>) {
    let mut builder = reqwest::Client::builder()
        .pool_max_idle_per_host(c)
        .use_preconfigured_tls(tls_config(ca.as_deref(), true));
    builder = builder.http1_only();
    let client = builder.build().expect("reqwest client");
    run_workers(job, c, move |url: String| {
        let client = client.clone();
        async move {
            match client.get(&url).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.bytes().await {
                        Ok(b) => {
                            std::hint::black_box(b.len());
                            status == 200
                        }
                        Err(_) => false,
                    }
                }
                Err(_) => false,
            }
        }
    })
    .await;
}

/// The `floor` peer (see the crate docs).
fn run_floor(job: &Job, c: usize) {
    use std::io::{Read, Write};
    let rest = job
        .prefix
        .strip_prefix("http://")
        .expect("floor: plain http only");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request =
        |i: u64| format!("GET {path}{i} HTTP/1.1\r\nHost: {authority}\r\nAccept: */*\r\n\r\n");
    let c = c.min(job.n as usize).max(1);
    let mut next = 0u64;
    let mut conns = Vec::with_capacity(c);
    for _ in 0..c {
        let Ok(s) = std::net::TcpStream::connect(authority) else {
            job.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let _ = s.set_nodelay(true);
        if (&s).write_all(request(next).as_bytes()).is_ok() {
            next += 1;
            conns.push((s, Vec::<u8>::new()));
        }
    }
    let mut buf = vec![0u8; 65536];
    // Each connection has one request outstanding until its answer is read
    // and no next request is left to send (or the connection failed).
    while !conns.is_empty() {
        conns.retain_mut(|(s, have)| {
            // One complete response: a head, then Content-Length bytes.
            let complete = loop {
                if let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&have[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if have.len() >= end + 4 + len {
                        let ok = head.starts_with("http/1.1 200");
                        have.drain(..end + 4 + len);
                        break Some(ok);
                    }
                }
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break None,
                    Ok(k) => have.extend_from_slice(&buf[..k]),
                }
            };
            match complete {
                Some(true) => job.ok.fetch_add(1, Ordering::Relaxed),
                _ => job.errors.fetch_add(1, Ordering::Relaxed),
            };
            let send = next < job.n && complete.is_some();
            let sent = send && s.write_all(request(next).as_bytes()).is_ok();
            next += u64::from(sent);
            sent
        });
    }
}

/// The delay server: one task per connection; each request head is answered
/// after `delay`.
async fn serve_delay(port: u16, delay: std::time::Duration, backlog: u32) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // By default a deep accept queue: thousands of clients connect at once,
    // and an overflow costs each dropped SYN a 1 s retransmit (somaxconn
    // caps it). BACKLOG=1024 is the common default, to test a client's ramp.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("reuseaddr");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("bind");
    let listener = socket.listen(backlog).expect("listen");
    let page = vec![b'x'; 1024];
    let mut response =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", page.len()).into_bytes();
    response.extend_from_slice(&page);
    let response = Arc::new(response);
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let response = response.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut have = 0;
            loop {
                match stream.read(&mut buf[have..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => have += n,
                }
                while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.copy_within(end + 4..have, 0);
                    have -= end + 4;
                    tokio::time::sleep(delay).await;
                    if stream.write_all(&response).await.is_err() {
                        return;
                    }
                }
                if have == buf.len() {
                    return; // a head over 4 KiB: not from our clients
                }
            }
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve-delay") {
        let port: u16 = args.get(1).and_then(|p| p.parse().ok()).expect("PORT");
        let ms: u64 = args.get(2).and_then(|p| p.parse().ok()).expect("DELAY_MS");
        let backlog: u32 = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(65_535);
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(serve_delay(
                port,
                std::time::Duration::from_millis(ms),
                backlog,
            ));
        return;
    }
    if args.len() < 4 {
        eprintln!("usage: oneloop-compare hyper-ct|hyper-mt|hyper-h2|reqwest|floor N C URL_PREFIX [CA_PEM]");
        std::process::exit(2);
    }
    let n: u64 = args[1].parse().expect("N");
    let c: usize = args[2].parse().expect("C");
    let ca = args.get(4).cloned();
    let job = Arc::new(Job {
        n,
        next: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        prefix: args[3].clone(),
    });
    let t = Instant::now();
    match args[0].as_str() {
        "hyper-ct" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_hyper(job.clone(), c, ca, false)),
        "hyper-mt" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_hyper(job.clone(), c, ca, false)),
        "hyper-h2" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_hyper(job.clone(), c, ca, true)),
        "reqwest" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_reqwest(job.clone(), c, ca)),
        "floor" => run_floor(&job, c),
        other => {
            eprintln!("unknown peer {other}");
            std::process::exit(2);
        }
    }
    println!(
        "ok={} errors={} secs={:.3}",
        job.ok.load(Ordering::Relaxed),
        job.errors.load(Ordering::Relaxed),
        t.elapsed().as_secs_f64()
    );
}
