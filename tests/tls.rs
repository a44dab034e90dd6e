//! HTTPS against in-process rustls servers (certificates from oneloop's own
//! test CA) and, when installed, a real nginx.

mod common;

use common::*;
use oneloop::tls::certs::{CertificateAuthority, IssuedCert};
use oneloop::{Config, Crawler, ErrorKind, Phase};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn valid_cert(ca: &CertificateAuthority, names: &[&str]) -> IssuedCert {
    let now = SystemTime::now();
    ca.issue(
        names,
        now - Duration::from_secs(3600),
        now + Duration::from_secs(86400),
    )
    .unwrap()
}

fn trusting(ca: &CertificateAuthority) -> Config {
    Config {
        tls: oneloop::TlsConfig {
            extra_roots: vec![ca.cert().clone()],
            ..oneloop::TlsConfig::default()
        },
        ..Config::local()
    }
}

#[test]
fn two_thousand_https_urls_over_four_hosts_with_resumption() {
    let ca = CertificateAuthority::new("test CA").unwrap();
    let config = server_config(valid_cert(&ca, &["127.0.0.1", "localhost"]));
    let hosts: Vec<(SocketAddr, Arc<Counters>)> = (0..4)
        .map(|_| {
            let c = Arc::new(Counters::default());
            (tls_server(config.clone(), c.clone()), c)
        })
        .collect();
    let urls: Vec<String> = (0..2000)
        .map(|i| format!("https://{}/s/{i}", hosts[i % 4].0))
        .collect();
    // Retire connections after 50 requests so new ones are made while a
    // session ticket is at hand: those must resume.
    let mut crawler = Crawler::new(Config {
        concurrency: 16,
        per_host: 4,
        connections: oneloop::ConnectionLimits {
            max_requests: 50,
            ..trusting(&ca).connections
        },
        ..trusting(&ca)
    })
    .unwrap();
    let mut ok = 0;
    let summary = crawler
        .run(urls, |o| {
            let r = o
                .result
                .as_ref()
                .unwrap_or_else(|e| panic!("{}: {e}", o.url));
            assert_eq!(r.status, 200);
            assert!(o.url.ends_with(std::str::from_utf8(&r.body).unwrap()));
            ok += 1;
        })
        .unwrap();
    assert_eq!(ok, 2000);
    for (_, c) in &hosts {
        assert_eq!(c.requests(), 500);
    }
    let opened = summary.pool.opened;
    // (A connection still connecting when its request took an idle one
    // was closed before any handshake.)
    let superseded = summary.requests_moved;
    assert_eq!(summary.tls_full + summary.tls_resumed + superseded, opened);
    assert!(opened >= 40, "{summary}");
    assert!(
        summary.tls_resumed >= opened / 2,
        "most reconnects resume: {summary}"
    );
    assert!(summary.tls_full >= 4, "{summary}");
}

#[test]
fn certificate_and_protocol_failures_are_typed_and_the_batch_completes() {
    let ca = CertificateAuthority::new("test CA").unwrap();
    let good = tls_server(
        server_config(valid_cert(&ca, &["127.0.0.1"])),
        Arc::default(),
    );
    let wrong_name = tls_server(
        server_config(valid_cert(&ca, &["elsewhere.test"])),
        Arc::default(),
    );
    let stranger = CertificateAuthority::new("not trusted").unwrap();
    let unknown_issuer = tls_server(
        server_config(valid_cert(&stranger, &["127.0.0.1"])),
        Arc::default(),
    );
    let now = SystemTime::now();
    let expired_cert = ca
        .issue(
            &["127.0.0.1"],
            now - Duration::from_secs(10 * 86400),
            now - Duration::from_secs(86400),
        )
        .unwrap();
    let expired = tls_server(server_config(expired_cert), Arc::default());
    // Like nginx's plain-HTTP port: answers the binary ClientHello with a 400.
    let plain_http = raw_server(|mut s| {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        std::thread::sleep(Duration::from_millis(100));
    });
    let stall_handshake = raw_server(|s| {
        wait_for_request(&s); // the ClientHello arrives; never answer it
        std::thread::sleep(Duration::from_secs(3));
    });
    let cases = [
        (wrong_name, ErrorKind::NameMismatch),
        (unknown_issuer, ErrorKind::UnknownIssuer),
        (expired, ErrorKind::CertificateExpired),
        (plain_http, ErrorKind::Protocol),
        (stall_handshake, ErrorKind::Timeout),
    ];
    let mut urls = Vec::new();
    let mut expected = HashMap::new();
    for i in 0..100 {
        if i % 20 == 0 {
            let (addr, kind) = cases[i / 20];
            expected.insert(urls.len() as u64, kind);
            urls.push(format!("https://{addr}/bad/{i}"));
        }
        urls.push(format!("https://{good}/ok/{i}"));
    }
    let mut crawler = Crawler::new(Config {
        timeouts: oneloop::Timeouts {
            tls_handshake: Duration::from_millis(400),
            ..trusting(&ca).timeouts
        },
        ..trusting(&ca)
    })
    .unwrap();
    let mut seen = 0;
    crawler
        .run(urls, |o| {
            seen += 1;
            match expected.get(&o.id) {
                Some(kind) => {
                    let e = o.result.as_ref().expect_err(&o.url);
                    assert_eq!((e.phase, e.kind), (Phase::Tls, *kind), "{}: {e}", o.url);
                }
                None => assert_eq!(o.result.as_ref().unwrap().status, 200, "{}", o.url),
            }
        })
        .unwrap();
    assert_eq!(seen, 105);
}

#[test]
fn insecure_mode_accepts_an_untrusted_certificate_and_http_never_shares_https_connections() {
    let stranger = CertificateAuthority::new("not trusted").unwrap();
    let https = tls_server(
        server_config(valid_cert(&stranger, &["127.0.0.1"])),
        Arc::default(),
    );
    let mut crawler = Crawler::new(Config {
        tls: oneloop::TlsConfig {
            danger_accept_invalid_certs: true,
            ..oneloop::TlsConfig::default()
        },
        ..Config::local()
    })
    .unwrap();
    let summary = crawler
        .run(vec![format!("https://{https}/x")], |o| {
            assert_eq!(o.result.as_ref().unwrap().status, 200)
        })
        .unwrap();
    assert_eq!(summary.tls_full, 1);

    // The same port under http and https: two origins, two connections; the
    // http request to a TLS port fails (the server sees no ClientHello).
    let ca = CertificateAuthority::new("test CA").unwrap();
    let both = tls_server(
        server_config(valid_cert(&ca, &["127.0.0.1"])),
        Arc::default(),
    );
    let mut crawler = Crawler::new(Config {
        timeouts: oneloop::Timeouts {
            head: Duration::from_millis(500),
            ..trusting(&ca).timeouts
        },
        ..trusting(&ca)
    })
    .unwrap();
    let mut results = Vec::new();
    let summary = crawler
        .run(
            vec![format!("https://{both}/a"), format!("http://{both}/b")],
            |o| results.push((o.id, o.result.is_ok())),
        )
        .unwrap();
    results.sort();
    assert_eq!(results, vec![(0, true), (1, false)]);
    assert_eq!(summary.pool.opened, 2);
}

/// nginx (installed by `.ci/run`) serving `www` over TLS on a port of its
/// own, `listen` with `listen_options` (`ssl`, or `ssl http2`, then more
/// of the server's directives after a `;` if need be): runs `f`
/// with its port and CA, then stops it. Skips with a message when nginx is
/// absent, unless ONELOOP_REQUIRE_NGINX=1 (set in CI).
fn with_nginx(
    test: &str,
    listen_options: &str,
    www: &[(String, Vec<u8>)],
    f: impl FnOnce(u16, &CertificateAuthority),
) {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(nginx) = nginx else {
        if std::env::var("ONELOOP_REQUIRE_NGINX").as_deref() == Ok("1") {
            panic!("nginx is required (ONELOOP_REQUIRE_NGINX=1) but not installed");
        }
        // Past the test harness's capture: a skip must show in `cargo test`.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: nginx is not installed (apt-get install nginx-light)"
        );
        return;
    };
    let ca = CertificateAuthority::new("nginx test CA").unwrap();
    let cert = valid_cert(&ca, &["127.0.0.1", "localhost"]);
    let dir = std::env::temp_dir().join(format!("oneloop-nginx-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.chain_pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pem()).unwrap();
    for (name, body) in www {
        std::fs::write(dir.join("www").join(name), body).unwrap();
    }
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n  keepalive_requests 10000;\n\
         server {{\n    listen 127.0.0.1:{port} {listen_options};\n    ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n    root {d}/www;\n  }}\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut child = std::process::Command::new(nginx)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start nginx");
    // Wait for the port.
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !up {
        let _ = child.kill();
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        panic!("nginx did not start: {err}");
    }
    // Stops nginx however `f` ends.
    struct Stop(std::process::Child, std::path::PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _stop = Stop(child, dir);
    f(port, &ca);
}

fn pages() -> Vec<(String, Vec<u8>)> {
    (0..20)
        .map(|i| (format!("p{i}.html"), format!("page {i}\n").into_bytes()))
        .collect()
}

#[test]
fn interop_with_nginx_over_https_with_keep_alive() {
    let test = "interop_with_nginx_over_https_with_keep_alive";
    with_nginx(test, "ssl", &pages(), |port, ca| {
        let urls: Vec<String> = (0..400)
            .map(|i| format!("https://127.0.0.1:{port}/p{}.html", i % 20))
            .collect();
        let mut crawler = Crawler::new(Config {
            concurrency: 8,
            per_host: 4,
            ..trusting(ca)
        })
        .unwrap();
        let mut bad = Vec::new();
        let summary = crawler
            .run(urls, |o| match &o.result {
                Ok(r) if r.status == 200 && r.body.starts_with(b"page ") => {}
                other => bad.push(format!("{}: {:?}", o.url, other.as_ref().map(|r| r.status))),
            })
            .unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(summary.responses, 400);
        assert!(summary.pool.opened <= 4, "keep-alive reuse: {summary}");
        assert!(summary.reused_requests >= 396);
    });
}

/// HTTP/2 against nginx (`listen … ssl http2`): 400 small pages and 8
/// bodies of 300 KiB (past the 64 KiB windows, so WINDOW_UPDATEs must flow
/// both ways), 50 at once, every byte right, on one connection.
#[test]
fn interop_with_nginx_over_http2() {
    let test = "interop_with_nginx_over_http2";
    let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut www = pages();
    www.push(("big.bin".to_string(), big.clone()));
    with_nginx(test, "ssl http2", &www, |port, ca| {
        let mut urls: Vec<String> = (0..400)
            .map(|i| format!("https://127.0.0.1:{port}/p{}.html?{i}", i % 20))
            .collect();
        urls.extend((0..8).map(|i| format!("https://127.0.0.1:{port}/big.bin?{i}")));
        let mut config = Config {
            concurrency: 50,
            per_host: 50,
            ..trusting(ca)
        };
        config.tls.http2 = true;
        let mut crawler = Crawler::new(config).unwrap();
        let mut bad = Vec::new();
        let summary = crawler
            .run(urls, |o| match &o.result {
                Ok(r) if r.status == 200 && o.url.contains("/big.bin") && r.body == big => {}
                Ok(r) if r.status == 200 && r.body.starts_with(b"page ") => {}
                other => bad.push(format!(
                    "{}: {:?}",
                    o.url,
                    other.as_ref().map(|r| (r.status, r.body.len()))
                )),
            })
            .unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            (summary.responses, summary.h2_responses),
            (408, 408),
            "{summary}"
        );
        assert_eq!(
            (summary.pool.opened, summary.h2_connections),
            (1, 1),
            "{summary}"
        );
    });
}

#[test]
fn close_notify_ends_a_close_delimited_body_and_a_bare_eof_does_not() {
    let ca = CertificateAuthority::new("test CA").unwrap();
    let config = server_config(valid_cert(&ca, &["127.0.0.1"]));
    // path /notify: close-delimited body, then close_notify;
    // path /bare: close-delimited body, then TCP close without close_notify;
    // path /framed: Content-Length body, then TCP close without close_notify.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let Some(path) = read_head(&mut s) else {
                    return;
                };
                let resp: &[u8] = if path == "/framed" {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                } else {
                    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close"
                };
                let _ = s.write_all(resp);
                if path == "/notify" {
                    s.conn.send_close_notify();
                }
                let _ = s.flush();
                std::thread::sleep(Duration::from_millis(50));
                // Dropping closes the TCP connection; close_notify was sent
                // only for /notify.
            });
        }
    });
    let urls = ["/notify", "/bare", "/framed"]
        .iter()
        .map(|p| format!("https://{addr}{p}"))
        .collect::<Vec<_>>();
    let mut crawler = Crawler::new(trusting(&ca)).unwrap();
    let mut results = HashMap::new();
    crawler
        .run(urls, |o| {
            results.insert(
                o.id,
                o.result
                    .as_ref()
                    .map(|r| r.body.clone())
                    .map_err(|e| (e.phase, e.kind)),
            );
        })
        .unwrap();
    assert_eq!(results[&0], Ok(b"until close".to_vec()));
    assert_eq!(results[&1], Err((Phase::Body, ErrorKind::UnexpectedEof)));
    assert_eq!(results[&2], Ok(b"hello".to_vec()));
}

#[test]
fn with_robots_txt_on_a_tls_failure_is_still_the_urls_error() {
    let ca = CertificateAuthority::new("test CA").unwrap();
    let wrong_name = tls_server(
        server_config(valid_cert(&ca, &["elsewhere.test"])),
        Arc::default(),
    );
    let stranger = CertificateAuthority::new("not trusted").unwrap();
    let unknown_issuer = tls_server(
        server_config(valid_cert(&stranger, &["127.0.0.1"])),
        Arc::default(),
    );
    let now = SystemTime::now();
    let expired_cert = ca
        .issue(
            &["127.0.0.1"],
            now - Duration::from_secs(10 * 86400),
            now - Duration::from_secs(86400),
        )
        .unwrap();
    let expired = tls_server(server_config(expired_cert), Arc::default());
    let cases = [
        (wrong_name, ErrorKind::NameMismatch),
        (unknown_issuer, ErrorKind::UnknownIssuer),
        (expired, ErrorKind::CertificateExpired),
    ];
    let mut config = trusting(&ca);
    config.robots.enabled = true;
    let urls: Vec<String> = cases
        .iter()
        .flat_map(|(addr, _)| (0..3).map(move |i| format!("https://{addr}/page/{i}")))
        .collect();
    let mut got = Vec::new();
    let summary = Crawler::new(config)
        .unwrap()
        .run(urls, |o| {
            let e = o.result.as_ref().unwrap_err();
            got.push((o.url.clone(), e.phase, e.kind));
        })
        .unwrap();
    assert_eq!(got.len(), 9);
    for (url, phase, kind) in got {
        let want = cases
            .iter()
            .find(|(a, _)| url.contains(&a.to_string()))
            .unwrap()
            .1;
        assert_eq!((phase, kind), (Phase::Tls, want), "{url}");
    }
    assert_eq!(summary.robots_fetches, 3);
    assert_eq!(
        summary.robots_denied, 0,
        "not refused by robots.txt: {summary}"
    );
}

#[test]
fn a_self_signed_certificate_not_in_the_ca_file_is_an_unknown_issuer() {
    let trusted = CertificateAuthority::new("test CA").unwrap();
    let self_signed = CertificateAuthority::new("127.0.0.1").unwrap();
    let addr = tls_server(server_config(self_signed.as_server()), Arc::default());
    let mut got = None;
    Crawler::new(trusting(&trusted))
        .unwrap()
        .run([format!("https://{addr}/")], |o| {
            got = Some(o.result.as_ref().unwrap_err().clone())
        })
        .unwrap();
    let e = got.unwrap();
    assert_eq!(
        (e.phase, e.kind),
        (Phase::Tls, ErrorKind::UnknownIssuer),
        "{e}"
    );
    assert!(e.detail.contains("self-signed"), "{e}");
}

/// A server that allows fewer streams than `per_host` (nginx's
/// `http2_max_concurrent_streams 10`, 30 requests at once): the origin gets
/// the few connections it needs, each opened by a probe that the others
/// wait for (not one connection per request that found no room).
#[test]
fn fewer_streams_than_per_host_open_a_few_connections_not_one_each() {
    let test = "fewer_streams_than_per_host_open_a_few_connections_not_one_each";
    let options = "ssl http2; http2_max_concurrent_streams 10";
    with_nginx(test, options, &pages(), |port, ca| {
        let urls: Vec<String> = (0..600)
            .map(|i| format!("https://127.0.0.1:{port}/p{}.html?{i}", i % 20))
            .collect();
        let (ok, summary) = h2_crawl(ca, urls, 30, |_| {});
        assert_eq!(ok, 600, "{summary}");
        assert_eq!(summary.h2_responses, 600, "{summary}");
        let opened = summary.pool.opened;
        assert!(
            (3..=4).contains(&opened),
            "30 at once, 10 a connection: {summary}"
        );
    });
}

/// At the connection limit, an idle HTTP/2 connection of another origin is
/// evicted to make room, as an idle HTTP/1.1 one is (the pool does not hold
/// shared connections among its idle ones): two origins taking turns, one
/// connection allowed, every request answered.
#[test]
fn an_idle_h2_connection_is_evicted_at_the_connection_limit() {
    let test = "an_idle_h2_connection_is_evicted_at_the_connection_limit";
    with_nginx(test, "ssl http2", &pages(), |port, ca| {
        let urls: Vec<String> = (0..20)
            .map(|i| {
                let host = if i % 2 == 0 { "127.0.0.1" } else { "localhost" };
                format!("https://{host}:{port}/p{}.html", i % 20)
            })
            .collect();
        let (ok, summary) = h2_crawl(ca, urls, 1, |c| c.connections.max_total = 1);
        assert_eq!(ok, 20, "{summary}");
        assert_eq!(summary.h2_responses, 20, "{summary}");
        assert_eq!(summary.pool.evicted, 19, "{summary}");
    });
}

/// Crawls `urls` with HTTP/2 offered, `at_once` requests at once (and per
/// host), `tweak` applied: how many came back 200, and the summary.
fn h2_crawl(
    ca: &CertificateAuthority,
    urls: Vec<String>,
    at_once: usize,
    tweak: impl FnOnce(&mut Config),
) -> (usize, oneloop::Summary) {
    let mut config = Config {
        concurrency: at_once,
        per_host: at_once,
        ..trusting(ca)
    };
    config.tls.http2 = true;
    tweak(&mut config);
    let mut crawler = Crawler::new(config).unwrap();
    let mut ok = 0;
    let summary = crawler
        .run(urls, |o| {
            ok += usize::from(o.result.as_ref().is_ok_and(|r| r.status == 200))
        })
        .unwrap();
    (ok, summary)
}
