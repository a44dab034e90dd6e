//! Resolver core tests: cache, coalescing, retries, checks, with virtual time.

use super::super::wire::build_answer;
use super::*;

fn core(servers: &[&str], ipv6: bool) -> DnsCore<u32> {
    let mut n = 0u16;
    DnsCore::with_random(
        DnsConfig {
            nameservers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            timeout: Duration::from_secs(1),
            attempts: 2,
            ipv6,
            min_ttl: Duration::ZERO,
            ..DnsConfig::default()
        },
        Box::new(move || {
            n += 1;
            n
        }),
    )
}

const S1: &str = "127.0.0.1:53";
const S2: &str = "127.0.0.2:53";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn forged_answers_are_dropped_and_the_real_one_used() {
    let mut d = core(&[S1], false);
    let t0 = Instant::now();
    assert!(matches!(d.lookup("a.test", 1, t0), LookupResult::Pending));
    let tx = d.poll_transmit().unwrap();
    let good = build_answer(&tx.message, 0, &[ip("192.0.2.1")], 60).unwrap();
    let mut wrong_id = good.clone();
    wrong_id[1] ^= 0xff;
    let mut other_q = Vec::new();
    encode_query(
        &mut other_q,
        u16::from_be_bytes([good[0], good[1]]),
        "b.test",
        RecordType::A,
    );
    let other_answer = build_answer(&other_q, 0, &[ip("6.6.6.6")], 60).unwrap();
    d.handle_answer(tx.query, S1.parse().unwrap(), &wrong_id, t0);
    d.handle_answer(tx.query, "127.0.0.1:5353".parse().unwrap(), &good, t0);
    d.handle_answer(tx.query, S1.parse().unwrap(), &other_answer, t0);
    d.handle_answer(tx.query, S1.parse().unwrap(), &good[..good.len() - 2], t0);
    d.handle_answer(tx.query, S1.parse().unwrap(), b"\x00\x01garbage", t0);
    assert!(d.poll_event().is_none());
    d.handle_answer(tx.query, S1.parse().unwrap(), &good, t0);
    assert_eq!(d.poll_event().unwrap(), (1, Ok(vec![ip("192.0.2.1")])));
    let s = d.stats();
    assert_eq!(s.answers_dropped, 3);
    assert_eq!(s.answers_malformed, 2, "the cut answer and the garbage");
    assert_eq!(s.answers_accepted, 1);
}

#[test]
fn timeouts_rotate_servers_then_fail() {
    let mut d = core(&[S1, S2], false);
    let t0 = Instant::now();
    d.lookup("slow.test", 7, t0);
    let servers: Vec<SocketAddr> =
        std::iter::from_fn(|| d.poll_transmit().map(|t| t.server)).collect();
    assert_eq!(servers, vec![S1.parse().unwrap()]);
    let mut now = t0;
    let mut sent = vec![S1.parse::<SocketAddr>().unwrap()];
    while d.poll_event().is_none() {
        now = d.poll_timeout().expect("a deadline while waiting");
        d.handle_timeout(now);
        while let Some(t) = d.poll_transmit() {
            sent.push(t.server);
        }
    }
    assert_eq!(sent.len(), 4, "2 attempts × 2 servers: {sent:?}");
    assert_eq!(sent[1], S2.parse().unwrap());
    assert_eq!(now - t0, Duration::from_secs(4));
    assert_eq!(d.in_flight(), 0);
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn a_late_timeout_for_an_error_case() {
    let mut d = core(&[S1], false);
    let t0 = Instant::now();
    d.lookup("slow.test", 7, t0);
    let _ = d.poll_transmit();
    d.handle_timeout(t0 + Duration::from_secs(1));
    let _ = d.poll_transmit();
    d.handle_timeout(t0 + Duration::from_secs(2));
    let (w, r) = d.poll_event().unwrap();
    assert_eq!(w, 7);
    let e = r.unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Dns, ErrorKind::Timeout));
}

#[test]
fn servfail_moves_on_and_truncation_goes_tcp() {
    let mut d = core(&[S1, S2], false);
    let t0 = Instant::now();
    d.lookup("x.test", 1, t0);
    let t = d.poll_transmit().unwrap();
    let sf = build_answer(&t.message, 2, &[], 0).unwrap();
    d.handle_answer(t.query, t.server, &sf, t0);
    let t = d.poll_transmit().unwrap();
    assert_eq!(t.server, S2.parse().unwrap());
    let mut tc = build_answer(&t.message, 0, &[], 0).unwrap();
    tc[2] |= 0x02;
    d.handle_answer(t.query, t.server, &tc, t0);
    let t = d.poll_transmit().unwrap();
    assert!(t.tcp);
    assert_eq!(t.server, S2.parse().unwrap());
    let full = build_answer(&t.message, 0, &[ip("192.0.2.3")], 60).unwrap();
    d.handle_answer(t.query, t.server, &full, t0);
    assert_eq!(d.poll_event().unwrap().1.unwrap(), vec![ip("192.0.2.3")]);
    assert_eq!(d.stats().tcp_fallbacks, 1);
}

#[test]
fn negative_caching_and_ttl_expiry() {
    let mut d = core(&[S1], false);
    let t0 = Instant::now();
    d.lookup("nx.test", 1, t0);
    let t = d.poll_transmit().unwrap();
    d.handle_answer(
        t.query,
        t.server,
        &build_answer(&t.message, 3, &[], 0).unwrap(),
        t0,
    );
    assert_eq!(
        d.poll_event().unwrap().1.unwrap_err().kind,
        ErrorKind::NxDomain
    );
    match d.lookup("nx.test", 2, t0 + Duration::from_secs(30)) {
        LookupResult::Ready(Err(e)) => assert_eq!(e.kind, ErrorKind::NxDomain),
        other => panic!("{other:?}"),
    }
    assert!(d.poll_transmit().is_none(), "negative answer cached");
    assert!(matches!(
        d.lookup("nx.test", 3, t0 + Duration::from_secs(61)),
        LookupResult::Pending
    ));
    assert!(
        d.poll_transmit().is_some(),
        "negative entry expired after 60 s"
    );

    d.lookup("ttl.test", 4, t0);
    let t = d.poll_transmit().unwrap();
    d.handle_answer(
        t.query,
        t.server,
        &build_answer(&t.message, 0, &[ip("192.0.2.4")], 10).unwrap(),
        t0,
    );
    assert!(matches!(
        d.lookup("ttl.test", 5, t0 + Duration::from_secs(9)),
        LookupResult::Ready(Ok(_))
    ));
    assert!(matches!(
        d.lookup("ttl.test", 6, t0 + Duration::from_secs(10)),
        LookupResult::Pending
    ));
}

#[test]
fn a_and_aaaa_are_joined_ipv4_first_and_the_cache_is_bounded() {
    let mut d = core(&[S1], true);
    d.cache = crate::dns::cache::DnsCache::new(3);
    let t0 = Instant::now();
    d.lookup("dual.test", 1, t0);
    let a = d.poll_transmit().unwrap();
    let aaaa = d.poll_transmit().unwrap();
    d.handle_answer(
        aaaa.query,
        aaaa.server,
        &build_answer(&aaaa.message, 0, &[ip("2001:db8::1")], 60).unwrap(),
        t0,
    );
    assert!(d.poll_event().is_none(), "waits for both");
    d.handle_answer(
        a.query,
        a.server,
        &build_answer(&a.message, 0, &[ip("192.0.2.5")], 60).unwrap(),
        t0,
    );
    assert_eq!(
        d.poll_event().unwrap().1.unwrap(),
        vec![ip("192.0.2.5"), ip("2001:db8::1")]
    );
    for i in 0..10 {
        d.lookup(&format!("n{i}.test"), 0, t0);
        while let Some(t) = d.poll_transmit() {
            d.handle_answer(
                t.query,
                t.server,
                &build_answer(&t.message, 0, &[], 60).unwrap(),
                t0,
            );
        }
    }
    assert_eq!(d.cache.len(), 3, "three names, A and AAAA each");
}

#[test]
fn invalid_names_are_typed_errors() {
    let mut d = core(&[S1], false);
    let long = format!("{}.test", "a".repeat(64));
    match d.lookup(&long, 1, Instant::now()) {
        LookupResult::Ready(Err(e)) => {
            assert_eq!((e.phase, e.kind), (Phase::Dns, ErrorKind::InvalidName))
        }
        other => panic!("{other:?}"),
    }
    let ok63 = format!("{}.test", "a".repeat(63));
    assert!(matches!(
        d.lookup(&ok63, 2, Instant::now()),
        LookupResult::Pending
    ));
}

/// An answer to `query` holding one CNAME record: the question's name is
/// an alias of `target` (and nothing else: the target's records are not
/// in it).
fn cname_answer(query: &[u8], target: &str) -> Vec<u8> {
    let mut m = build_answer(query, 0, &[], 0).unwrap();
    m[7] = 1; // one answer
    let mut data = Vec::new();
    for l in target.split('.') {
        data.push(l.len() as u8);
        data.extend_from_slice(l.as_bytes());
    }
    data.push(0);
    m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1]); // the question's name, CNAME, IN
    m.extend_from_slice(&300u32.to_be_bytes());
    m.extend_from_slice(&(data.len() as u16).to_be_bytes());
    m.extend(data);
    m
}

#[test]
fn a_cname_without_its_targets_address_is_chased() {
    let mut d = core(&[S1], false);
    let t0 = Instant::now();
    assert!(matches!(d.lookup("www.test", 1, t0), LookupResult::Pending));
    let tx = d.poll_transmit().unwrap();
    d.handle_answer(
        tx.query,
        S1.parse().unwrap(),
        &cname_answer(&tx.message, "cdn.test"),
        t0,
    );
    assert!(d.poll_event().is_none(), "not done: the target is asked");
    let tx2 = d.poll_transmit().expect("a query for the target");
    assert_eq!(
        super::super::wire::query_question(&tx2.message),
        Some(("cdn.test".to_string(), 1))
    );
    let answer = build_answer(&tx2.message, 0, &[ip("192.0.2.7")], 60).unwrap();
    d.handle_answer(tx2.query, S1.parse().unwrap(), &answer, t0);
    assert_eq!(d.poll_event().unwrap(), (1, Ok(vec![ip("192.0.2.7")])));
    // Cached under the name asked for.
    assert!(matches!(
        d.lookup("www.test", 2, t0),
        LookupResult::Ready(Ok(v)) if v == vec![ip("192.0.2.7")]
    ));
}

#[test]
fn a_cname_loop_or_an_endless_chain_is_an_error() {
    let mut d = core(&[S1], false);
    let t0 = Instant::now();
    d.lookup("a.test", 1, t0);
    let mut hops = 0;
    while let Some(tx) = d.poll_transmit() {
        let (name, _) = super::super::wire::query_question(&tx.message).unwrap();
        // Every name is an alias of the next one: a.test -> a.test.x -> ...
        let next = format!("{name}.x");
        d.handle_answer(
            tx.query,
            S1.parse().unwrap(),
            &cname_answer(&tx.message, &next),
            t0,
        );
        hops += 1;
        assert!(hops < 20, "bounded");
    }
    let (who, result) = d.poll_event().unwrap();
    assert_eq!(who, 1);
    assert_eq!(result.unwrap_err().kind, ErrorKind::NoAddresses);
    assert_eq!(d.in_flight(), 0);
}
