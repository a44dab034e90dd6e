//! `public_only` (`--public-only`): no connection to loopback, private or
//! other special addresses, checked on what would be connected to — a
//! literal host, a `resolve` override, a DNS answer (rebinding) — while a
//! proxy's own loopback address stays allowed.

mod common;

use common::*;
use oneloop::demo::DemoNameserver;
use oneloop::dns::DnsConfig;
use oneloop::proxy::{Proxy, ProxyConfig};
use oneloop::{Config, Crawler, ErrorKind, Phase};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `urls`; each outcome as Ok(body) or Err((phase, kind, detail)).
fn crawl(config: Config, urls: Vec<String>) -> Vec<Result<String, (Phase, ErrorKind, String)>> {
    let mut out = Vec::new();
    Crawler::new(config)
        .unwrap()
        .run(urls, |o| {
            out.push(match &o.result {
                Ok(r) => Ok(String::from_utf8_lossy(&r.body).into_owned()),
                Err(e) => Err((e.phase, e.kind, e.detail.clone())),
            })
        })
        .unwrap();
    out
}

fn public_only() -> Config {
    Config {
        public_only: true,
        retry: oneloop::policy::RetryPolicy {
            max_retries: 0,
            ..Default::default()
        },
        ..Config::local()
    }
}

fn not_public(got: &[Result<String, (Phase, ErrorKind, String)>], ip: &str) {
    for r in got {
        let Err((phase, kind, detail)) = r else {
            panic!("fetched: {r:?}")
        };
        assert_eq!((*phase, *kind), (Phase::Connect, ErrorKind::NotPublic));
        assert!(
            detail.starts_with(&format!("{ip} is not a public address")),
            "{detail}"
        );
    }
}

#[test]
fn literal_and_overridden_private_addresses_are_never_connected() {
    let counters = Arc::new(Counters::default());
    let origin = echo_path_server(counters.clone(), None);
    let port = origin.port();
    let urls = vec![
        format!("http://127.0.0.1:{port}/a"),
        format!("http://127.0.0.2:{port}/b"),
        format!("http://[::ffff:127.0.0.1]:{port}/c"),
    ];
    let got = crawl(public_only(), urls.clone());
    assert_eq!(got.len(), 3);
    for r in &got {
        assert!(
            matches!(r, Err((Phase::Connect, ErrorKind::NotPublic, _))),
            "{r:?}"
        );
    }
    // A --resolve override to the metadata address: refused by address.
    let config = Config {
        resolve: vec![("meta.test".into(), "169.254.169.254".parse().unwrap())],
        ..public_only()
    };
    let got = crawl(config, vec!["http://meta.test/latest/".into()]);
    not_public(&got, "169.254.169.254");
    assert_eq!(counters.accepted(), 0, "no connection reached the server");
    // Without the option they are connected to: the check is the cause.
    // (The server listens on 127.0.0.1 only: 127.0.0.2 is refused.)
    let got = crawl(Config::local(), urls);
    assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 2, "{got:?}");
    assert_eq!(counters.accepted(), 2);
}

#[test]
fn a_name_whose_dns_answer_is_loopback_is_refused_after_the_lookup() {
    // DNS rebinding: the name looks public, its answer is 127.0.0.1.
    let ns = DemoNameserver::start("rebind.test", 60).unwrap();
    let counters = Arc::new(Counters::default());
    let origin = echo_path_server(counters.clone(), None);
    let config = Config {
        dns: DnsConfig {
            nameservers: vec![ns.addr()],
            ipv6: false,
            timeout: Duration::from_millis(500),
            ..DnsConfig::default()
        },
        ..public_only()
    };
    let url = format!("http://www.rebind.test:{}/x", origin.port());
    let got = crawl(config, vec![url]);
    not_public(&got, "127.0.0.1");
    assert!(!ns.queries().is_empty(), "the name was looked up first");
    assert_eq!(counters.accepted(), 0);
}

#[test]
fn a_proxy_on_loopback_is_allowed_and_private_literals_through_it_are_not() {
    // The proxy answers every request itself, with the request line.
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    let proxy: SocketAddr = raw_server(move |mut s| {
        while let Some(line) = drain_request(&s) {
            a.fetch_add(1, Ordering::SeqCst);
            let body = line.as_bytes();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            if s.write_all(head.as_bytes())
                .and_then(|_| s.write_all(body))
                .is_err()
            {
                return;
            }
        }
    });
    let p = Proxy::parse(&format!("http://{proxy}")).unwrap();
    let config = Config {
        proxy: ProxyConfig {
            http: Some(p.clone()),
            https: Some(p),
            no_proxy: vec![],
        },
        ..public_only()
    };
    let got = crawl(
        config,
        vec![
            "http://public.test/ok".into(),
            "http://10.0.0.1/admin".into(),
        ],
    );
    let (ok, refused): (Vec<_>, Vec<_>) = got.into_iter().partition(|r| r.is_ok());
    assert_eq!(
        ok.len(),
        1,
        "the proxy (on loopback) was used for the name: {ok:?}"
    );
    not_public(&refused, "10.0.0.1");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the private literal never reached the proxy"
    );
}

#[test]
fn the_command_line_reports_not_public_for_the_page_and_its_robots() {
    let counters = Arc::new(Counters::default());
    let origin = echo_path_server(counters.clone(), None);
    // Robots on (crawl's default): the robots.txt fetch is refused first,
    // and the page fails with the same error, not "unavailable".
    let url = format!("http://{origin}/page\n");
    let out = oneloop_with_stdin(
        &["crawl", "--public-only", "--no-pacing", "--retries", "0"],
        &url,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("\"kind\":\"not_public\""), "{stdout}");
    assert!(stdout.contains("\"phase\":\"connect\""), "{stdout}");
    assert_eq!(counters.accepted(), 0);
    let help = oneloop_with_stdin(&["crawl", "--help"], "");
    assert!(String::from_utf8_lossy(&help.stdout).contains("--public-only"));
}
