//! Happy eyeballs: a host whose IPv6 path is a black hole (SYNs dropped)
//! costs a quarter of a second, not the connect timeout.

mod common;

use common::*;
use oneloop::{Config, Crawler};
use socket2::{Domain, Socket, Type};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A listener on [::1]:`port` that never accepts, its accept queue full:
/// further SYNs are dropped. Returns it with the connections that fill it.
fn ipv6_black_hole(port: u16) -> Option<(Socket, Vec<TcpStream>)> {
    let s = Socket::new(Domain::IPV6, Type::STREAM, None).ok()?;
    s.set_only_v6(true).ok()?;
    s.set_reuse_address(true).ok()?;
    let addr: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    s.bind(&addr.into()).ok()?;
    s.listen(1).ok()?;
    let mut fill = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(c) => fill.push(c),
            Err(_) => return Some((s, fill)), // a SYN went unanswered: full
        }
    }
    None // the queue never filled: no black hole here
}

#[test]
fn a_black_holed_ipv6_path_costs_a_quarter_second_not_the_timeout() {
    // The IPv4 side answers; find a port free on both families.
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = v4.local_addr().unwrap().port();
    drop(v4);
    let Some((_hole, _fill)) = ipv6_black_hole(port) else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: no IPv6 loopback black hole could be made here"
        );
        return;
    };
    let v4 = spawn_on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        Arc::new(|s: &mut TcpStream, path: &str| respond(s, path, true)),
    );
    let mut config = Config::local();
    // IPv6 first, as a dual-stack name often resolves.
    config.resolve = vec![
        ("dual.test".into(), "::1".parse().unwrap()),
        ("dual.test".into(), v4.ip()),
    ];
    config.timeouts.connect = Duration::from_secs(10);
    let started = Instant::now();
    let mut result = None;
    let mut crawler = Crawler::new(config).unwrap();
    let attempts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let a2 = attempts.clone();
    crawler.set_observer(move |e: &oneloop::events::Event<'_>| {
        if let oneloop::events::EventKind::ConnectAttempt { addr, .. } = &e.kind {
            a2.lock().unwrap().push((*addr, e.at));
        }
    });
    crawler
        .run([format!("http://dual.test:{port}/page")], |o| {
            result = Some(
                o.result
                    .as_ref()
                    .map(|r| r.status)
                    .map_err(|e| e.to_string()),
            )
        })
        .unwrap();
    let took = started.elapsed();
    assert_eq!(result, Some(Ok(200)));
    assert!(
        took >= Duration::from_millis(240),
        "the IPv6 attempt went first: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "not the 10 s connect timeout: {took:?}"
    );
}
