//! An embedded loopback HTTP/1.1 server for `oneloop demo`, examples and
//! benchmarks: no internet needed.
//!
//! It runs on its own thread with its own `mio::Poll`, listens on `hosts`
//! loopback ports (each port plays one virtual host, so the crawler's
//! per-host limits and pool keys apply), keeps connections alive, and answers
//! every `GET /...` with the same page of `page_size` bytes. Pipelined
//! requests are answered in order.
//!
//! With [`DemoServer::start_tls`] it speaks HTTPS with a certificate for
//! `127.0.0.1` and `localhost` issued at start by a fresh private CA
//! ([`crate::tls::certs`]); the crawler trusts that CA through
//! [`TlsConfig::extra_roots`](crate::TlsConfig), the same path as `--ca-file`.
//!
//! ```
//! use oneloop::demo::DemoServer;
//! use oneloop::{Config, Crawler};
//!
//! let server = DemoServer::start(2, 512).unwrap();
//! let mut crawler = Crawler::new(Config::local()).unwrap();
//! let summary = crawler.run(server.urls(100), |_| {}).unwrap();
//! assert_eq!(summary.status_classes[2], 100);
//! ```

use crate::tls::certs::CertificateAuthority;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rustls_pki_types::CertificateDer;
use slab::Slab;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

const WAKE: Token = Token(usize::MAX);
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The running server; stops and joins its thread when dropped.
pub struct DemoServer {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    served: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    ca: Option<CertificateDer<'static>>,
}

struct Client {
    /// Tells this client from a later one in the same slab slot.
    id: u64,
    /// Answers owed, and when (with a server delay): due time, HEAD or not.
    owed: std::collections::VecDeque<(Instant, bool)>,
    stream: TcpStream,
    tls: Option<rustls::ServerConnection>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
}

impl DemoServer {
    /// Starts a server on `hosts` loopback ports answering pages of
    /// `page_size` bytes.
    pub fn start(hosts: usize, page_size: usize) -> io::Result<DemoServer> {
        DemoServer::start_inner(hosts, page_size, None, Duration::ZERO, None)
    }

    /// Like [`start`](Self::start), but every answer is sent `delay` after
    /// its request arrived, as a distant server's would: then throughput is
    /// concurrency ÷ delay, and many connections are open at once.
    pub fn start_delayed(
        hosts: usize,
        page_size: usize,
        delay: Duration,
    ) -> io::Result<DemoServer> {
        DemoServer::start_inner(hosts, page_size, None, delay, None)
    }

    /// Like [`start`](Self::start), over HTTPS: a new private CA issues a
    /// certificate for `127.0.0.1` and `localhost`. Trust
    /// [`ca_cert`](Self::ca_cert) in the crawler.
    pub fn start_tls(hosts: usize, page_size: usize) -> io::Result<DemoServer> {
        let ca = CertificateAuthority::new("oneloop demo CA").map_err(io::Error::other)?;
        let now = SystemTime::now();
        let leaf = ca
            .issue(
                &["127.0.0.1", "localhost", "*.demo.test"],
                now - Duration::from_secs(3600),
                now + Duration::from_secs(30 * 86400),
            )
            .map_err(io::Error::other)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(leaf.chain, leaf.key)
            .map_err(io::Error::other)?;
        let mut server = DemoServer::start_inner(
            hosts,
            page_size,
            Some(Arc::new(config)),
            Duration::ZERO,
            None,
        )?;
        server.ca = Some(ca.cert().clone());
        Ok(server)
    }

    /// The CA certificate to trust, for a TLS server.
    pub fn ca_cert(&self) -> Option<&CertificateDer<'static>> {
        self.ca.as_ref()
    }

    /// Starts a server on `hosts` loopback ports serving a site of `pages`
    /// linked HTML pages of about `page_size` bytes (see [`Site`]).
    pub fn start_site(hosts: usize, page_size: usize, pages: u64) -> io::Result<DemoServer> {
        DemoServer::start_inner(hosts, page_size, None, Duration::ZERO, Some(pages))
    }

    /// The site's first page (a crawl of the whole site starts there).
    pub fn site_root(&self) -> String {
        format!("http://{}/p/0", self.addrs[0])
    }

    fn start_inner(
        hosts: usize,
        page_size: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
        delay: Duration,
        site_pages: Option<u64>,
    ) -> io::Result<DemoServer> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..hosts.max(1) {
            let mut l = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
            poll.registry()
                .register(&mut l, Token(i), Interest::READABLE)?;
            addrs.push(l.local_addr()?);
            listeners.push(l);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let page = page(page_size);
        let site = site_pages.map(|pages| {
            Arc::new(Site {
                pages,
                page_size,
                ports: addrs.iter().map(|a: &SocketAddr| a.port()).collect(),
            })
        });
        let (s, sv, ac) = (stop.clone(), served.clone(), accepted.clone());
        let thread = std::thread::Builder::new()
            .name("oneloop-demo-server".into())
            .spawn(move || {
                let (get_response, head_response) = page;
                Server {
                    poll,
                    listeners,
                    clients: Slab::new(),
                    get_response,
                    head_response,
                    tls,
                    delay,
                    served: sv,
                    accepted: ac,
                    due: BinaryHeap::new(),
                    next_id: 0,
                    site,
                }
                .run(s)
            })?;
        Ok(DemoServer {
            addrs,
            stop,
            waker,
            served,
            accepted,
            thread: Some(thread),
            ca: None,
        })
    }

    /// The listening addresses, one per virtual host.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// `n` URLs spread round robin over the hosts, generated lazily: the
    /// iterator holds no list, so a crawl of millions costs no memory here.
    pub fn urls(&self, n: u64) -> impl Iterator<Item = String> + Send + 'static {
        let ports: Vec<u16> = self.addrs.iter().map(|a| a.port()).collect();
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        (0..n).map(move |i| {
            let port = ports[(i % ports.len() as u64) as usize];
            format!("{scheme}://127.0.0.1:{port}/page/{i}")
        })
    }

    /// `n` URLs over `names` host names `h0.{zone}`, `h1.{zone}`... (each
    /// name on one of the server's ports), generated lazily. Resolve them
    /// through a [`DemoNameserver`] for the zone.
    pub fn named_urls(
        &self,
        n: u64,
        names: u64,
        zone: &str,
    ) -> impl Iterator<Item = String> + Send + 'static {
        let ports: Vec<u16> = self.addrs.iter().map(|a| a.port()).collect();
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        let zone = zone.trim_matches('.').to_string();
        let names = names.max(1);
        (0..n).map(move |i| {
            let name = i % names;
            let port = ports[(name % ports.len() as u64) as usize];
            format!("{scheme}://h{name}.{zone}:{port}/page/{i}")
        })
    }

    /// Responses sent so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn page(size: usize) -> (Vec<u8>, Vec<u8>) {
    let mut body = b"<!doctype html><title>oneloop demo</title><p>".to_vec();
    while body.len() < size {
        body.extend_from_slice(b"all work and no play. ");
    }
    body.truncate(size);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut get = head.clone().into_bytes();
    get.extend_from_slice(&body);
    (get, head.into_bytes())
}

/// A synthetic site for crawls that follow links (`oneloop demo --follow`):
/// pages `/p/0` .. `/p/{pages-1}`, page N on port `N % hosts`. Page N links
/// to its children `/p/{8N+1}` .. `/p/{8N+8}` (those that exist), back to
/// `/p/0`, to itself with a fragment, and with `rel=nofollow` to
/// `/hidden/N` (never to be fetched); `/p/0` also links to `/cal/1`, a
/// calendar where each day links the next, forever (a trap: the depth limit
/// ends it). Every page is reachable from `/p/0`, at depth
/// `floor(log8(7N+1))`, but `/only-in-sitemap`, which only `/sitemap.xml`
/// lists (on the first port).
pub struct Site {
    pages: u64,
    page_size: usize,
    ports: Vec<u16>,
}

impl Site {
    /// The answer to `GET path`.
    fn answer(&self, path: &[u8]) -> Vec<u8> {
        let path = std::str::from_utf8(path).unwrap_or("");
        let link = |n: u64| {
            let port = self.ports[(n % self.ports.len() as u64) as usize];
            format!("<a href=\"http://127.0.0.1:{port}/p/{n}\">page {n}</a>\n")
        };
        let mut body = String::from("<!doctype html><title>oneloop demo site</title>\n");
        if let Some(n) = path.strip_prefix("/p/").and_then(|n| n.parse::<u64>().ok()) {
            if n >= self.pages {
                return not_found();
            }
            for child in (8 * n + 1..=8 * n + 8).filter(|&c| c < self.pages) {
                body.push_str(&link(child));
            }
            body.push_str(&link(0));
            body.push_str(&format!(
                "<a href=\"#top\">top</a><a rel=nofollow href=\"/hidden/{n}\">h</a>\n"
            ));
            if n == 0 {
                body.push_str("<a href=\"/cal/1\">calendar</a>\n");
            }
        } else if let Some(day) = path
            .strip_prefix("/cal/")
            .and_then(|d| d.parse::<u64>().ok())
        {
            body.push_str(&format!("<a href=\"/cal/{}\">next day</a>\n", day + 1));
        } else if path == "/sitemap.xml" {
            // The one page no page links to: found only through the sitemap.
            let xml = format!(
                "<?xml version=\"1.0\"?><urlset><url><loc>http://127.0.0.1:{}/only-in-sitemap</loc></url></urlset>",
                self.ports[0]
            );
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
                xml.len()
            )
            .into_bytes();
            out.extend_from_slice(xml.as_bytes());
            return out;
        } else if path == "/only-in-sitemap" {
            body.push_str("<p>listed in /sitemap.xml only</p>\n");
        } else {
            return not_found();
        }
        while body.len() < self.page_size {
            body.push_str("all work and no play. ");
        }
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body.as_bytes());
        out
    }
}

fn not_found() -> Vec<u8> {
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
}

/// The path of a request head (`GET /p/1 HTTP/1.1`).
fn request_path(head: &[u8]) -> &[u8] {
    head.split(|&b| b == b' ').nth(1).unwrap_or(b"/")
}

/// The server's loop state: its own `mio::Poll`, listeners and clients.
struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    clients: Slab<Client>,
    /// The answers to GET and to HEAD.
    get_response: Vec<u8>,
    head_response: Vec<u8>,
    tls: Option<Arc<rustls::ServerConfig>>,
    delay: Duration,
    served: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    /// Delayed answers: (due, slot, client id).
    due: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    next_id: u64,
    /// A site of linked pages instead of one page for every path.
    site: Option<Arc<Site>>,
}

impl Server {
    /// Serves until `stop` is set (the waker wakes the poll).
    fn run(mut self, stop: Arc<AtomicBool>) {
        let mut events = Events::with_capacity(1024);
        while !stop.load(Ordering::Relaxed) {
            let timeout = self
                .due
                .peek()
                .map(|Reverse((t, _, _))| t.saturating_duration_since(Instant::now()));
            if self.poll.poll(&mut events, timeout).is_err() {
                continue;
            }
            self.answer_due(Instant::now());
            for ev in events.iter() {
                let t = ev.token();
                if t == WAKE {
                    continue;
                }
                if t.0 < self.listeners.len() {
                    self.accept(t.0);
                } else {
                    self.on_client(t.0 - self.listeners.len());
                }
            }
        }
    }

    /// Sends the answers whose delay is over.
    fn answer_due(&mut self, now: Instant) {
        while let Some(&Reverse((t, slot, id))) = self.due.peek() {
            if t > now {
                break;
            }
            self.due.pop();
            let Some(c) = self.clients.get_mut(slot).filter(|c| c.id == id) else {
                continue;
            };
            while c.owed.front().is_some_and(|(t, _)| *t <= now) {
                let (_, head) = c.owed.pop_front().unwrap_or((now, false));
                c.out.extend_from_slice(if head {
                    &self.head_response
                } else {
                    &self.get_response
                });
                self.served.fetch_add(1, Ordering::Relaxed);
            }
            if write_client(c).is_err() {
                self.drop_client(slot);
            }
        }
    }

    /// Accepts every pending connection of listener `i`.
    fn accept(&mut self, i: usize) {
        loop {
            let mut stream = match self.listeners[i].accept() {
                Ok((stream, _)) => stream,
                // WouldBlock: the queue is empty (edge-triggered: until then).
                Err(_) => break,
            };
            self.accepted.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_nodelay(true);
            let entry = self.clients.vacant_entry();
            let token = Token(self.listeners.len() + entry.key());
            let session = match &self.tls {
                Some(config) => match rustls::ServerConnection::new(config.clone()) {
                    Ok(s) => Some(s),
                    Err(_) => continue,
                },
                None => None,
            };
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .poll
                .registry()
                .register(&mut stream, token, interest)
                .is_ok()
            {
                self.next_id += 1;
                entry.insert(Client {
                    id: self.next_id,
                    owed: std::collections::VecDeque::new(),
                    stream,
                    tls: session,
                    inbuf: Vec::new(),
                    out: Vec::new(),
                    out_pos: 0,
                });
            }
        }
    }

    /// A client is ready: read its requests, answer (or owe) them.
    fn on_client(&mut self, slot: usize) {
        let Some(client) = self.clients.get_mut(slot) else {
            return;
        };
        let owed_before = client.owed.len();
        let alive = handle_client(
            client,
            (&self.get_response, &self.head_response),
            &self.served,
            self.delay,
            self.site.as_deref(),
        );
        for &(t, _) in client.owed.iter().skip(owed_before) {
            self.due.push(Reverse((t, slot, client.id)));
        }
        if !alive {
            self.drop_client(slot);
        }
    }

    fn drop_client(&mut self, slot: usize) {
        let mut c = self.clients.remove(slot);
        let _ = self.poll.registry().deregister(&mut c.stream);
    }
}

/// Reads, answers, writes; false when the connection should be dropped.
fn handle_client(
    c: &mut Client,
    (get_response, head_response): (&[u8], &[u8]),
    served: &AtomicU64,
    delay: Duration,
    site: Option<&Site>,
) -> bool {
    let eof = match read_client(c) {
        Ok(eof) => eof,
        Err(()) => return false,
    };
    // Answer every complete request head (requests carry no body here).
    let mut start = 0;
    while let Some(end) = find_head_end(&c.inbuf[start..]) {
        let head = &c.inbuf[start..start + end];
        let is_head = head.starts_with(b"HEAD ");
        if !delay.is_zero() {
            // Answered later, by the serve loop's timer heap.
            c.owed.push_back((Instant::now() + delay, is_head));
        } else if let Some(site) = site {
            c.out.extend_from_slice(&site.answer(request_path(head)));
            served.fetch_add(1, Ordering::Relaxed);
        } else {
            c.out
                .extend_from_slice(if is_head { head_response } else { get_response });
            served.fetch_add(1, Ordering::Relaxed);
        }
        start += end;
    }
    c.inbuf.drain(..start);
    if c.inbuf.len() > MAX_REQUEST_HEAD {
        return false;
    }
    let pending = match write_client(c) {
        Ok(pending) => pending,
        Err(()) => return false,
    };
    if c.out_pos == c.out.len() {
        c.out.clear();
        c.out_pos = 0;
        if c.out.capacity() > 64 * 1024 {
            c.out.shrink_to(64 * 1024);
        }
    }
    !eof || pending
}

/// Reads request bytes (through TLS if on) into `inbuf`; true at EOF.
fn read_client(c: &mut Client) -> Result<bool, ()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = match &mut c.tls {
            None => match c.stream.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(()),
            },
            Some(tls) => {
                match tls.read_tls(&mut c.stream) {
                    Ok(0) => return Ok(true),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(()),
                }
                if tls.process_new_packets().is_err() {
                    let _ = tls.write_tls(&mut c.stream);
                    return Err(());
                }
                loop {
                    match tls.reader().read(&mut buf) {
                        Ok(0) => return Ok(true),
                        Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => return Err(()),
                    }
                }
                if c.inbuf.len() > MAX_REQUEST_HEAD * 4 {
                    return Err(());
                }
                continue;
            }
        };
        c.inbuf.extend_from_slice(&buf[..n]);
        if c.inbuf.len() > MAX_REQUEST_HEAD * 4 {
            return Err(());
        }
    }
}

/// Writes pending output (through TLS if on); true if some is still pending.
fn write_client(c: &mut Client) -> Result<bool, ()> {
    match &mut c.tls {
        None => {
            while c.out_pos < c.out.len() {
                match c.stream.write(&c.out[c.out_pos..]) {
                    Ok(n) => c.out_pos += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(()),
                }
            }
            Ok(false)
        }
        Some(tls) => loop {
            if c.out_pos < c.out.len() {
                let n = tls.writer().write(&c.out[c.out_pos..]).map_err(|_| ())?;
                c.out_pos += n;
                if n == 0 && !tls.wants_write() {
                    return Err(());
                }
            }
            if !tls.wants_write() {
                if c.out_pos == c.out.len() {
                    return Ok(false);
                }
                continue;
            }
            match tls.write_tls(&mut c.stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        },
    }
}

/// A loopback nameserver for the demo and tests: answers `A` queries for
/// any name under its zone with `127.0.0.1`, `AAAA` with no records, and
/// everything else with NXDOMAIN. It counts the queries it sees per
/// (name, type), so tests can check coalescing and caching.
pub struct DemoNameserver {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<std::sync::Mutex<std::collections::HashMap<(String, u16), u64>>>,
    thread: Option<JoinHandle<()>>,
}

impl DemoNameserver {
    /// Starts a nameserver for names ending in `.{zone}` on a loopback port.
    pub fn start(zone: &str, ttl: u32) -> io::Result<DemoNameserver> {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let queries: Arc<std::sync::Mutex<std::collections::HashMap<(String, u16), u64>>> =
            Arc::default();
        let (s, q) = (stop.clone(), queries.clone());
        let suffix = format!(".{}", zone.trim_matches('.').to_ascii_lowercase());
        let thread = std::thread::Builder::new()
            .name("oneloop-demo-dns".into())
            .spawn(move || {
                use crate::dns::wire::{build_answer, query_question};
                let mut buf = [0u8; 1500];
                let localhost = [std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)];
                while !s.load(Ordering::Relaxed) {
                    let Ok((n, from)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let msg = &buf[..n];
                    let Some((name, qtype)) = query_question(msg) else {
                        continue;
                    };
                    if let Ok(mut m) = q.lock() {
                        *m.entry((name.clone(), qtype)).or_insert(0) += 1;
                    }
                    let ours = name.ends_with(&suffix);
                    let answer = match (ours, qtype) {
                        (true, 1) => build_answer(msg, 0, &localhost, ttl),
                        (true, _) => build_answer(msg, 0, &[], ttl),
                        (false, _) => build_answer(msg, 3, &[], 0),
                    };
                    if let Some(a) = answer {
                        let _ = sock.send_to(&a, from);
                    }
                }
            })?;
        Ok(DemoNameserver {
            addr,
            stop,
            queries,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries seen, per (name, type code): 1 = A, 28 = AAAA.
    pub fn queries(&self) -> std::collections::HashMap<(String, u16), u64> {
        self.queries.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Drop for DemoNameserver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}
