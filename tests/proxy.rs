//! Through a proxy: in-test HTTP and SOCKS5 proxies on 127.0.0.1 record
//! what they are asked (the request line and `Proxy-Authorization`, the
//! SOCKS target); the HTTP one tunnels CONNECT to the target and answers
//! plain http requests itself, so a test sees both sides.

mod common;

use common::*;
use oneloop::proxy::{Proxy, ProxyConfig};
use oneloop::tls::certs::CertificateAuthority;
use oneloop::{Config, Crawler, ErrorKind, Phase};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What the proxy was asked: (request line, Proxy-Authorization).
type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// How the proxy answers.
#[derive(Clone, Copy)]
enum Mode {
    /// Tunnels CONNECT; answers plain requests with the target as the body.
    Serve,
    /// Answers everything with 407.
    WantsAuth,
}

/// Reads one request head: (request line, Proxy-Authorization).
fn read_proxy_head(r: &mut BufReader<TcpStream>) -> Option<(String, Option<String>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut auth = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        if h == "\r\n" {
            return Some((line.trim_end().to_string(), auth));
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("proxy-authorization") {
                auth = Some(value.trim().to_string());
            }
        }
    }
}

fn proxy_server(mode: Mode) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let l = log.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let log = l.clone();
            std::thread::spawn(move || proxy_connection(s, mode, log));
        }
    });
    (addr, log)
}

fn proxy_connection(mut s: TcpStream, mode: Mode, log: Log) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    while let Some((line, auth)) = read_proxy_head(&mut r) {
        log.lock().unwrap().push((line.clone(), auth));
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if let Mode::WantsAuth = mode {
            let _ = s.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\n\r\n",
            );
            continue;
        }
        if method == "CONNECT" {
            let Ok(up) = TcpStream::connect(target) else {
                let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                return;
            };
            let _ = s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            // Any bytes the client sent early sit in `r`'s buffer: none
            // here, since the client waits for the answer.
            assert!(r.buffer().is_empty(), "the client wrote before the 200");
            pipe(s, up);
            return;
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{target}",
            target.len()
        );
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Copies bytes both ways until either side closes.
fn pipe(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let (mut a, mut b) = (a, b);
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a2, &mut b2);
        let _ = b2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut b, &mut a);
    let _ = a.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}

/// Every URL through the HTTP proxy at `proxy`, with `creds` ("user:pw@").
fn via(proxy: SocketAddr, creds: &str) -> ProxyConfig {
    all_via(&format!("http://{creds}{proxy}"))
}

/// Runs `urls`; each outcome as Ok(body) or Err((phase, kind)).
fn crawl(config: Config, urls: Vec<String>) -> Vec<Result<String, (Phase, ErrorKind)>> {
    let mut out = Vec::new();
    Crawler::new(config)
        .unwrap()
        .run(urls, |o| {
            out.push(match &o.result {
                Ok(r) => Ok(String::from_utf8_lossy(&r.body).into_owned()),
                Err(e) => Err((e.phase, e.kind)),
            })
        })
        .unwrap();
    out
}

/// An HTTPS server for `name` (body: the path), with a certificate from a
/// new test CA: (the CA, its address, its counters).
fn https_origin(name: &str) -> (CertificateAuthority, SocketAddr, Arc<Counters>) {
    let ca = CertificateAuthority::new("test CA").unwrap();
    let now = SystemTime::now();
    let day = Duration::from_secs(86400);
    let cert = ca.issue(&[name], now - day, now + day).unwrap();
    let counters = Arc::new(Counters::default());
    let origin = tls_server(server_config(cert), counters.clone());
    (ca, origin, counters)
}

/// The local defaults, trusting `ca`.
fn trusting(ca: &CertificateAuthority) -> Config {
    Config {
        tls: oneloop::TlsConfig {
            extra_roots: vec![ca.cert().clone()],
            ..oneloop::TlsConfig::default()
        },
        ..Config::local()
    }
}

/// "Basic " + base64("user:secret").
const USER_SECRET: &str = "Basic dXNlcjpzZWNyZXQ=";

#[test]
fn plain_http_goes_to_the_proxy_in_absolute_form_with_credentials() {
    let (proxy, log) = proxy_server(Mode::Serve);
    // The origin is never contacted: the proxy answers.
    let origin = refused_port();
    let urls: Vec<String> = (0..5).map(|i| format!("http://{origin}/p/{i}")).collect();
    let config = Config {
        proxy: via(proxy, "user:secret@"),
        ..Config::local()
    };
    let got = crawl(config, urls.clone());
    let mut bodies: Vec<String> = got.into_iter().map(|r| r.unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, urls, "the proxy saw each absolute URL");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 5);
    for (line, auth) in log.iter() {
        assert!(line.starts_with("GET http://"), "{line}");
        assert_eq!(auth.as_deref(), Some(USER_SECRET));
    }
}

#[test]
fn https_is_tunneled_with_connect_and_verified_end_to_end() {
    let (ca, origin, counters) = https_origin("127.0.0.1");
    let (proxy, log) = proxy_server(Mode::Serve);
    let config = Config {
        per_host: 2,
        proxy: via(proxy, "user:secret@"),
        ..trusting(&ca)
    };
    let urls: Vec<String> = (0..20).map(|i| format!("https://{origin}/t/{i}")).collect();
    let got = crawl(config, urls);
    let ok = got
        .iter()
        .filter(|r| matches!(r, Ok(b) if b.starts_with("/t/")))
        .count();
    assert_eq!(ok, 20, "{got:?}");
    assert_eq!(
        counters.requests(),
        20,
        "the origin served them, not the proxy"
    );
    let log = log.lock().unwrap();
    // Kept-alive tunnels: one CONNECT per connection, not per request.
    assert!(!log.is_empty() && log.len() <= 2, "{log:?}");
    for (line, auth) in log.iter() {
        assert_eq!(line, &format!("CONNECT {origin} HTTP/1.1"));
        assert_eq!(auth.as_deref(), Some(USER_SECRET));
    }
}

#[test]
fn a_tunnel_to_an_untrusted_origin_is_still_a_tls_error() {
    // The proxy is no reason to trust the origin: its certificate is checked.
    let (_, origin, _) = https_origin("127.0.0.1");
    let (proxy, _) = proxy_server(Mode::Serve);
    let config = Config {
        proxy: via(proxy, ""),
        ..Config::local()
    };
    let got = crawl(config, vec![format!("https://{origin}/x")]);
    assert!(matches!(got[0], Err((Phase::Tls, _))), "{got:?}");
}

#[test]
fn no_proxy_hosts_go_direct() {
    let (proxy, log) = proxy_server(Mode::Serve);
    let origin = echo_path_server(Arc::default(), None);
    let mut proxies = via(proxy, "");
    proxies.no_proxy = vec!["127.0.0.1".into()];
    let config = Config {
        proxy: proxies,
        ..Config::local()
    };
    let got = crawl(config, vec![format!("http://{origin}/direct")]);
    assert_eq!(got, vec![Ok("/direct".to_string())]);
    assert!(log.lock().unwrap().is_empty());
}

#[test]
fn proxy_failures_are_the_proxys_errors() {
    // Nobody listening at the proxy's address.
    let config = Config {
        proxy: via(refused_port(), ""),
        ..Config::local()
    };
    let origin = echo_path_server(Arc::default(), None);
    let got = crawl(
        config,
        vec![format!("http://{origin}/a"), format!("https://{origin}/b")],
    );
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r, &Err((Phase::Proxy, ErrorKind::Refused)));
    }
    // The proxy wants credentials it was not given: a tunnel is refused
    // with 407, and a plain request's 407 is the proxy's error too (it was
    // the page's status, missing from the errors).
    let (proxy, _) = proxy_server(Mode::WantsAuth);
    let config = Config {
        proxy: via(proxy, ""),
        retry: oneloop::policy::RetryPolicy {
            max_retries: 0,
            ..oneloop::policy::RetryPolicy::default()
        },
        ..Config::local()
    };
    let got = crawl(
        config,
        vec![format!("https://{origin}/b"), format!("http://{origin}/a")],
    );
    assert_eq!(got, vec![Err((Phase::Proxy, ErrorKind::ProxyAuth)); 2]);
}

#[test]
fn credentials_never_reach_the_output() {
    let (proxy, log) = proxy_server(Mode::WantsAuth);
    let events = std::env::temp_dir().join(format!("oneloop-proxy-{}.jsonl", std::process::id()));
    let url = format!("https://127.0.0.1:{}/x\n", refused_port().port());
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-progress",
            "--proxy",
            &format!("http://user:hunter2@{proxy}"),
            "--events",
            events.to_str().unwrap(),
            "--retries",
            "0",
        ],
        &url,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ev = std::fs::read_to_string(&events).unwrap_or_default();
    let _ = std::fs::remove_file(&events);
    assert!(
        ev.contains("\"tunnel\""),
        "the events show the tunnel state"
    );
    assert!(stdout.contains("proxy_auth"), "{stdout}\n{stderr}");
    assert!(!log.lock().unwrap().is_empty(), "the proxy was asked");
    for text in [stdout.as_ref(), stderr.as_ref(), ev.as_str()] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}

/// Runs the binary on `url` with `env` set (and the proxy variables of the
/// test's own environment removed).
fn oneloop_env(args: &[&str], env: &[(&str, String)], url: &str) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_oneloop"));
    cmd.args([
        "crawl",
        "-",
        "--no-progress",
        "--retries",
        "0",
        "--ignore-robots",
        "--no-pacing",
    ]);
    cmd.args(args);
    for v in [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(url.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_cli_reads_proxies_from_the_environment_as_curl_does() {
    let (proxy, log) = proxy_server(Mode::WantsAuth);
    let p = format!("http://{proxy}");
    // A name, not loopback: the environment's proxy applies. The proxy
    // resolves it, so oneloop never looks it up.
    let url = "https://www.example.test/x\n";
    let out = oneloop_env(&[], &[("https_proxy", p.clone())], url);
    assert!(out.contains("\"proxy\",\"kind\":\"proxy_auth\""), "{out}");
    assert_eq!(
        log.lock().unwrap().last().unwrap().0,
        "CONNECT www.example.test:443 HTTP/1.1"
    );
    // all_proxy stands in for a missing https_proxy.
    let out = oneloop_env(&[], &[("ALL_PROXY", p.clone())], url);
    assert!(out.contains("proxy_auth"), "{out}");
    // no_proxy matches the domain and its subdomains: direct, so the name
    // is resolved here (--resolve) and the connection refused.
    let refused = refused_port().port();
    let url = format!("https://www.example.test:{refused}/x\n");
    let resolve = ["--resolve", "www.example.test=127.0.0.1"];
    let asked = log.lock().unwrap().len();
    let env = [
        ("https_proxy", p.clone()),
        ("no_proxy", "example.test".to_string()),
    ];
    let out = oneloop_env(&resolve, &env, &url);
    assert!(out.contains("\"connect\",\"kind\":\"refused\""), "{out}");
    assert_eq!(log.lock().unwrap().len(), asked, "went direct");
    // Loopback never takes a proxy from the environment...
    let origin = echo_path_server(Arc::default(), None);
    let out = oneloop_env(
        &[],
        &[("http_proxy", p.clone())],
        &format!("http://{origin}/l\n"),
    );
    assert!(out.contains("\"status\":200"), "{out}");
    // ...but does take one given on the command line.
    let out = oneloop_env(&["--proxy", &p], &[], &format!("http://{origin}/l\n"));
    assert!(out.contains("\"proxy\",\"kind\":\"proxy_auth\""), "{out}");
    // A bad proxy variable is a clear error, not a silent direct crawl.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args(["crawl", "-"])
        .env("https_proxy", "socks5://user:pw@h:1080")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("$https_proxy"),
        "{err}"
    );
    assert!(!err.contains("pw"), "{err}");
}

/// What a SOCKS5 proxy was asked: the target as "name:port" or "ip:port".
type SocksLog = Arc<Mutex<Vec<String>>>;

/// A SOCKS5 proxy (RFC 1928/1929): wants `creds` if given, connects every
/// name to 127.0.0.1, answers `reply` (0 = success) and then pipes.
fn socks_server(creds: Option<(&'static str, &'static str)>, reply: u8) -> (SocketAddr, SocksLog) {
    let log: SocksLog = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let l = log.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let log = l.clone();
            std::thread::spawn(move || {
                let _ = socks_connection(s, creds, reply, log);
            });
        }
    });
    (addr, log)
}

fn socks_connection(
    mut s: TcpStream,
    creds: Option<(&str, &str)>,
    reply: u8,
    log: SocksLog,
) -> std::io::Result<()> {
    use std::io::Read;
    let mut b = [0u8; 2];
    s.read_exact(&mut b)?;
    let mut methods = vec![0u8; usize::from(b[1])];
    s.read_exact(&mut methods)?;
    let want = if creds.is_some() { 2 } else { 0 };
    if !methods.contains(&want) {
        return s.write_all(&[5, 0xff]);
    }
    s.write_all(&[5, want])?;
    if let Some((user, pass)) = creds {
        // VER, then ULEN UNAME, PLEN PASSWD.
        let mut ver = [0u8; 1];
        s.read_exact(&mut ver)?;
        let u = read_field(&mut s)?;
        let p = read_field(&mut s)?;
        if u != user.as_bytes() || p != pass.as_bytes() {
            return s.write_all(&[1, 1]);
        }
        s.write_all(&[1, 0])?;
    }
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    let host = match head[3] {
        1 => {
            let mut ip = [0u8; 4];
            s.read_exact(&mut ip)?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => String::from_utf8_lossy(&read_field(&mut s)?).into_owned(),
        _ => return s.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    log.lock().unwrap().push(format!("{host}:{port}"));
    let up = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(up) if reply == 0 => up,
        _ => return s.write_all(&[5, reply.max(5), 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    pipe(s, up);
    Ok(())
}

/// A length byte, then that many bytes.
fn read_field(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut n = [0u8; 1];
    s.read_exact(&mut n)?;
    let mut v = vec![0u8; usize::from(n[0])];
    s.read_exact(&mut v)?;
    Ok(v)
}

fn all_via(proxy: &str) -> ProxyConfig {
    let p = Proxy::parse(proxy).unwrap();
    ProxyConfig {
        http: Some(p.clone()),
        https: Some(p),
        no_proxy: Vec::new(),
    }
}

#[test]
fn socks5h_lets_the_proxy_resolve_and_tls_runs_end_to_end() {
    let (ca, origin, counters) = https_origin("www.example.test");
    let (proxy, log) = socks_server(Some(("user", "p@ss")), 0);
    let config = Config {
        per_host: 2,
        proxy: all_via(&format!("socks5h://user:p%40ss@{proxy}")),
        ..trusting(&ca)
    };
    // The name exists nowhere but at the proxy.
    let port = origin.port();
    let urls: Vec<String> = (0..10)
        .map(|i| format!("https://www.example.test:{port}/s/{i}"))
        .collect();
    let got = crawl(config, urls);
    let ok = got
        .iter()
        .filter(|r| matches!(r, Ok(b) if b.starts_with("/s/")))
        .count();
    assert_eq!(ok, 10, "{got:?}");
    assert_eq!(counters.requests(), 10);
    let log = log.lock().unwrap();
    assert!(!log.is_empty() && log.len() <= 2, "{log:?}");
    assert!(
        log.iter().all(|t| t == &format!("www.example.test:{port}")),
        "{log:?}"
    );
}

#[test]
fn socks5_names_the_address_resolved_here() {
    let (proxy, log) = socks_server(None, 0);
    let origin = echo_path_server(Arc::default(), None);
    let config = Config {
        proxy: all_via(&format!("socks5://{proxy}")),
        resolve: vec![("origin.test".into(), "127.0.0.1".parse().unwrap())],
        ..Config::local()
    };
    let got = crawl(
        config,
        vec![format!("http://origin.test:{}/plain", origin.port())],
    );
    assert_eq!(got, vec![Ok("/plain".to_string())]);
    assert_eq!(
        *log.lock().unwrap(),
        vec![format!("127.0.0.1:{}", origin.port())]
    );
}

#[test]
fn socks_refusals_are_the_proxys_errors() {
    let origin = echo_path_server(Arc::default(), None);
    let url = vec![format!("http://127.0.0.1:{}/x", origin.port())];
    let run = |proxy: String| {
        let config = Config {
            proxy: all_via(&proxy),
            ..Config::local()
        };
        crawl(config, url.clone()).remove(0)
    };
    let (needs_auth, _) = socks_server(Some(("user", "pw")), 0);
    assert_eq!(
        run(format!("socks5h://{needs_auth}")),
        Err((Phase::Proxy, ErrorKind::ProxyAuth))
    );
    assert_eq!(
        run(format!("socks5h://user:bad@{needs_auth}")),
        Err((Phase::Proxy, ErrorKind::ProxyAuth))
    );
    let (refuses, _) = socks_server(None, 5);
    assert_eq!(
        run(format!("socks5h://{refuses}")),
        Err((Phase::Proxy, ErrorKind::TunnelRefused))
    );
    // Not a SOCKS proxy at all: an HTTP server answers the greeting.
    let http = raw_server(|mut s| {
        wait_for_request(&s);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    assert_eq!(
        run(format!("socks5h://{http}")),
        Err((Phase::Proxy, ErrorKind::Malformed))
    );
}
