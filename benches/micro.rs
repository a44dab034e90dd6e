//! Micro-benchmarks of the sans-IO cores: each reports throughput (bytes/s
//! or operations/s). `cargo bench --bench micro`; CI runs them once with
//! `cargo bench --bench micro -- --test`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use oneloop::admission::{Admission, AdmissionConfig, Pacing};
use oneloop::dns::wire::{build_answer, check_answer, encode_query, RecordType};
use oneloop::dns::{DnsConfig, DnsCore, LookupResult};
use oneloop::http::{encode_request, ChunkedDecoder, Limits, Method, Response, ResponseReader};
use oneloop::pool::{Checkout, Pool, PoolConfig};
use oneloop::reactor::Timers;
use oneloop::url::Url;
use std::hint::black_box;
use std::time::{Duration, Instant};

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 07:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 1024\r\nLast-Modified: Wed, 25 Nov 2026 06:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"6566a2d0-400\"\r\nAccept-Ranges: bytes\r\n\r\n";

fn http(c: &mut Criterion) {
    let mut g = c.benchmark_group("http");
    let mut wire = HEAD.to_vec();
    wire.extend_from_slice(&[b'x'; 1024]);
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("response head + 1 KiB body", |b| {
        let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
        let mut resp = Response::default();
        b.iter(|| {
            reader.reset(Method::Get);
            resp.clear();
            let r = reader.handle_bytes(black_box(&wire), &mut resp).unwrap();
            black_box(r);
        })
    });

    let mut chunked = Vec::new();
    for _ in 0..64 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'y'; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    g.throughput(Throughput::Bytes(chunked.len() as u64));
    g.bench_function("chunked decode 64 KiB", |b| {
        b.iter(|| {
            let mut d = ChunkedDecoder::new(8192);
            let mut n = 0usize;
            d.handle_bytes(black_box(&chunked), &mut |c: &[u8]| {
                n += c.len();
                Ok(())
            })
            .unwrap();
            black_box(n);
        })
    });

    let url = Url::parse("http://www.example.test:8080/some/path/page.html?id=12345").unwrap();
    let headers = vec![("Accept-Language".to_string(), "en".to_string())];
    let mut out = Vec::with_capacity(512);
    encode_request(&mut out, Method::Get, &url, &headers, b"", "oneloop/0.1");
    g.throughput(Throughput::Bytes(out.len() as u64));
    g.bench_function("request encode", |b| {
        b.iter(|| {
            out.clear();
            encode_request(
                &mut out,
                Method::Get,
                black_box(&url),
                &headers,
                b"",
                "oneloop/0.1",
            );
            black_box(out.len());
        })
    });
    g.finish();
}

fn dns(c: &mut Criterion) {
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    let mut q = Vec::with_capacity(512);
    g.bench_function("query encode", |b| {
        b.iter(|| {
            encode_query(
                &mut q,
                0x1234,
                black_box("www.example-host.test"),
                RecordType::A,
            );
            black_box(q.len());
        })
    });
    encode_query(&mut q, 0x1234, "www.example-host.test", RecordType::A);
    let answer = build_answer(
        &q,
        0,
        &["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()],
        300,
    )
    .unwrap();
    g.bench_function("answer check + parse", |b| {
        b.iter(|| {
            black_box(
                check_answer(
                    black_box(&answer),
                    0x1234,
                    "www.example-host.test",
                    RecordType::A,
                )
                .unwrap(),
            );
        })
    });

    // The resolver core's cost per lookup: a cache hit, and a miss answered
    // (encode, match, parse, cache, wake).
    let server = "127.0.0.1:53".parse().unwrap();
    let config = DnsConfig {
        nameservers: vec![server],
        ipv6: false,
        ..DnsConfig::default()
    };
    let now = Instant::now();
    let mut core: DnsCore<u32> = DnsCore::new(config.clone());
    core.lookup("cached.test", 0, now);
    let t = core.poll_transmit().unwrap();
    let a = build_answer(&t.message, 0, &["192.0.2.9".parse().unwrap()], 3600).unwrap();
    core.handle_answer(t.query, server, &a, now);
    let _ = core.poll_event();
    g.bench_function("resolver lookup, cache hit", |b| {
        b.iter(|| match core.lookup(black_box("cached.test"), 1, now) {
            LookupResult::Ready(r) => black_box(r).unwrap(),
            LookupResult::Pending => unreachable!(),
        })
    });
    let names: Vec<String> = (0..100_000).map(|i| format!("h{i}.bench.test")).collect();
    let mut i = 0;
    let mut core: DnsCore<u32> = DnsCore::new(DnsConfig {
        cache_size: 1_000,
        ..config
    });
    g.bench_function("resolver lookup, miss + answer", |b| {
        b.iter(|| {
            let name = &names[i % names.len()];
            i += 1;
            core.lookup(name, 1, now);
            let t = core.poll_transmit().unwrap();
            let a = build_answer(&t.message, 0, &["192.0.2.9".parse().unwrap()], 60).unwrap();
            core.handle_answer(t.query, server, &a, now);
            let (_, r) = core.poll_event().unwrap();
            black_box(r.unwrap());
        })
    });
    g.finish();
}

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers");
    g.throughput(Throughput::Elements(1));
    let base = Instant::now();
    let mut timers: Timers<u64> = Timers::new();
    let mut ids = std::collections::VecDeque::new();
    for i in 0..10_000u64 {
        ids.push_back(timers.insert(base + Duration::from_micros(i * 37 % 100_000), i));
    }
    let mut n = 10_000u64;
    g.bench_function("insert + cancel at 10k live", |b| {
        b.iter(|| {
            n += 1;
            ids.push_back(timers.insert(base + Duration::from_micros(n * 37 % 100_000), n));
            let old = ids.pop_front().unwrap();
            black_box(timers.cancel(old));
        })
    });
    g.bench_function("insert + expire at 10k live", |b| {
        b.iter_batched_ref(
            || {
                let mut t: Timers<u64> = Timers::new();
                for i in 0..10_000u64 {
                    t.insert(base + Duration::from_micros(i), i);
                }
                t
            },
            |t| {
                t.insert(base, 0);
                black_box(t.poll_expired(base));
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn pool_and_admission(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduling");
    g.throughput(Throughput::Elements(1));
    let keys: Vec<String> = (0..100).map(|i| format!("http://h{i}.test:80")).collect();
    let mut pool: Pool<u32> = Pool::new(PoolConfig {
        max_total: 1000,
        max_per_key: 10,
        idle_timeout: Duration::from_secs(90),
    });
    let now = Instant::now();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(pool.checkout(k), Checkout::Open);
        pool.handle_checkin(k, i as u32, now);
    }
    let mut i = 0;
    g.bench_function("pool checkout + checkin (100 origins)", |b| {
        b.iter(|| {
            let k = &keys[i % keys.len()];
            i += 1;
            match pool.checkout(black_box(k)) {
                Checkout::Reuse(h) => pool.handle_checkin(k, h, now),
                other => panic!("{other:?}"),
            }
        })
    });
    let mut q: Admission<u64> = Admission::new(AdmissionConfig {
        max_in_flight: 100,
        max_per_host: 6,
        max_parked: 1024,
        pacing: Pacing::off(),
    });
    let mut rng = oneloop::random::Rng::new(1);
    let mut n = 0u64;
    let mut in_flight = std::collections::VecDeque::new();
    for _ in 0..100 {
        q.push(&keys[(n % 100) as usize], n, now);
        n += 1;
        if let Some((_, h)) = q.poll_ready(now, &mut rng) {
            in_flight.push_back(h);
        }
    }
    g.bench_function("admission push + pop + release (100 origins)", |b| {
        b.iter(|| {
            q.push(&keys[(n % 100) as usize], n, now);
            n += 1;
            let h = in_flight.pop_front().unwrap();
            q.release(h, now);
            while let Some((_, h)) = q.poll_ready(now, &mut rng) {
                in_flight.push_back(h);
            }
        })
    });
    g.finish();
}

fn robots(c: &mut Criterion) {
    use oneloop::robots::Robots;
    // A realistic file: a few groups, wildcards, anchors, 40 rules for us.
    let mut file = String::from("User-agent: Googlebot\nDisallow: /nogoogle/\n\nUser-agent: *\n");
    for i in 0..20 {
        file.push_str(&format!(
            "Disallow: /private{i}/\nAllow: /private{i}/public*.html$\n"
        ));
    }
    file.push_str("Disallow: /*.pdf$\nDisallow: /search?*q=\nCrawl-delay: 1\n");
    let rules = Robots::parse(file.as_bytes(), "oneloop");
    let urls = [
        "/",
        "/articles/2026/11/some-long-article-title-here.html",
        "/private7/public-page.html",
        "/private19/secret/doc",
        "/files/report.pdf",
        "/search?lang=en&q=event+loop",
    ];
    let mut g = c.benchmark_group("robots");
    g.throughput(Throughput::Elements(urls.len() as u64));
    g.bench_function("match 6 URLs against 43 rules", |b| {
        b.iter(|| urls.iter().filter(|u| rules.allowed(u)).count())
    });
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("parse a 43-rule file", |b| {
        b.iter(|| Robots::parse(file.as_bytes(), "oneloop"))
    });
    // The hostile case: 245 rules `/*aaa…ab` (2,000 a's) against a path of
    // 10 KB of a's, and one with a 30 KB query (seconds each when matching
    // backtracked; linear now).
    let mut hostile = String::from("User-agent: *\n");
    for i in 0..245 {
        hostile.push_str(&format!("Disallow: /*{}b{i}\n", "a".repeat(2000)));
    }
    let hostile = Robots::parse(hostile.as_bytes(), "oneloop");
    let long_path = format!("/{}", "a".repeat(10_000));
    let long_query = format!("/x?{}", "a".repeat(30_000));
    g.throughput(Throughput::Elements(1));
    g.bench_function("worst case: 245 wildcard rules, 10 KB path", |b| {
        b.iter(|| hostile.allowed(&long_path))
    });
    g.bench_function("worst case: 245 wildcard rules, 30 KB query", |b| {
        b.iter(|| hostile.allowed(&long_query))
    });
    g.finish();
}

/// A 20 KiB HTML-like page (words from a small vocabulary, about 5:1 at
/// level 6), gzipped: the body the `gzip` row of benches/compare fetches.
fn gzip_page() -> (Vec<u8>, Vec<u8>) {
    let words = [
        "<div class=\"item\">",
        "</div>",
        "<a href=\"/p/",
        "\">",
        "</a>",
        "crawl",
        "the",
        "event",
        "loop",
        "page",
        "<li>",
        "</li>",
        "oneloop",
        "link",
        "text",
        "\n",
    ];
    let mut page = Vec::new();
    let mut x = 12345u32;
    while page.len() < 20 * 1024 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        page.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
        page.extend_from_slice((x % 1000).to_string().as_bytes());
        page.push(b' ');
    }
    (oneloop::warc::gzip_member(&page, 6), page)
}

fn decode(c: &mut Criterion) {
    use oneloop::http::decode::{BodyDecoder, Coding};
    let mut g = c.benchmark_group("decode");
    let (gz, page) = gzip_page();
    let len = page.len();
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("gzip 20 KiB page", |b| {
        b.iter(|| {
            let mut d = BodyDecoder::new(Coding::Gzip);
            let mut n = 0;
            d.handle_bytes(black_box(&gz), &mut |piece: &[u8]| {
                n += piece.len();
                Ok(())
            })
            .unwrap();
            d.finish().unwrap();
            assert_eq!(n, len);
        })
    });
}

/// What `--warc` does per page, on a worker: two records, their digests,
/// a gzip member each.
fn warc(c: &mut Criterion) {
    use oneloop::warc::{gzip_member, sha1_digest, Exchange, Gzip, RecordId};
    let mut g = c.benchmark_group("warc");
    let (_, page) = gzip_page();
    g.throughput(Throughput::Bytes(page.len() as u64));
    let wire = oneloop::http::Wire {
        request: b"GET /p HTTP/1.1\r\nHost: a.test\r\nUser-Agent: oneloop\r\n\r\n".to_vec(),
        head: format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", page.len()).into_bytes(),
        encoded_body: Vec::new(),
        peer: None,
        hops: Vec::new(),
    };
    let date = oneloop::warc::date(1_795_996_799);
    let mut gzip = Gzip::new(1);
    g.bench_function("records + gzip, 20 KiB page", |b| {
        b.iter(|| {
            let ex = Exchange {
                target_uri: "http://a.test/p",
                date: &date,
                wire: &wire,
                body: black_box(&page),
                request_id: RecordId::from_random([1; 16]),
                response_id: RecordId::from_random([2; 16]),
                refers_to: None,
            };
            let a = gzip.member(&ex.request_record());
            let b = gzip.member(&ex.response_record());
            a.len() + b.len()
        })
    });
    g.bench_function("sha1 digest, 20 KiB", |b| {
        b.iter(|| sha1_digest(&[black_box(&page)]))
    });
    g.bench_function("gzip member level 1, 20 KiB", |b| {
        b.iter(|| gzip.member(black_box(&page)))
    });
    g.bench_function("gzip member level 0, 20 KiB", |b| {
        b.iter(|| gzip_member(black_box(&page), 0))
    });
}

/// What `--follow` does per page, on a worker: the links of a page.
fn links(c: &mut Criterion) {
    let mut g = c.benchmark_group("links");
    let (_, page) = gzip_page();
    g.throughput(Throughput::Bytes(page.len() as u64));
    let url = oneloop::url::Url::parse("http://a.test/dir/page").unwrap();
    g.bench_function("extract, 20 KiB page", |b| {
        b.iter(|| oneloop::links::extract(&url, black_box(&page)).urls.len())
    });
}

/// HTTP/2's per-response work, next to HTTP/1.1's `http` group: an
/// nginx-like response head through HPACK (the first, all literals and
/// Huffman; a repeat, indexed from the dynamic table), a request head
/// encoded, and a whole HEADERS + 1 KiB DATA response through the
/// connection core.
fn h2(c: &mut Criterion) {
    use oneloop::h2::conn::{H2Config, H2Conn};
    use oneloop::h2::{frame, hpack};
    let mut g = c.benchmark_group("h2");
    let head: [(&[u8], &[u8]); 8] = [
        (b":status", b"200"),
        (b"server", b"nginx/1.22.1"),
        (b"date", b"Fri, 04 Dec 2026 10:00:00 GMT"),
        (b"content-type", b"text/html"),
        (b"content-length", b"1024"),
        (b"last-modified", b"Thu, 03 Dec 2026 09:00:00 GMT"),
        (b"etag", b"\"6750f0c0-400\""),
        (b"accept-ranges", b"bytes"),
    ];
    let mut enc = hpack::Encoder::new(4096);
    let (mut first, mut repeat) = (Vec::new(), Vec::new());
    enc.encode(&head, &mut first);
    enc.encode(&head, &mut repeat);
    g.bench_function("hpack decode, first response head", |b| {
        b.iter(|| {
            let mut dec = hpack::Decoder::new(4096, 65_536);
            black_box(dec.decode(black_box(&first)).unwrap());
        })
    });
    g.bench_function("hpack decode, repeated response head", |b| {
        let mut dec = hpack::Decoder::new(4096, 65_536);
        dec.decode(&first).unwrap();
        b.iter(|| black_box(dec.decode(black_box(&repeat)).unwrap()))
    });
    let req: [(&[u8], &[u8]); 6] = [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"h0.demo.test"),
        (b":path", b"/page/12345"),
        (b"user-agent", b"oneloop/0.1"),
        (b"accept-encoding", b"gzip, br"),
    ];
    g.bench_function("hpack encode, a request head (repeat)", |b| {
        let mut enc = hpack::Encoder::new(4096);
        let mut out = Vec::new();
        enc.encode(&req, &mut out);
        b.iter(|| {
            out.clear();
            enc.encode(black_box(&req), &mut out);
            black_box(out.len());
        })
    });
    g.bench_function("response HEADERS + 1 KiB DATA through H2Conn", |b| {
        let mut conn = H2Conn::new(H2Config::default());
        let mut server = hpack::Encoder::new(4096);
        let mut out = Vec::new();
        b.iter(|| {
            let id = conn.open_stream(black_box(&req), true).unwrap();
            let mut block = Vec::new();
            server.encode(&head, &mut block);
            let mut wire = Vec::new();
            frame::write_headers(&mut wire, id, &block, false, 16_384);
            frame::write_data(&mut wire, id, &[b'x'; 1024], true);
            conn.handle_bytes(&wire).unwrap();
            while let Some(ev) = conn.poll_event() {
                black_box(ev);
            }
            conn.handle_consumed(id, 1024);
            out.clear();
            conn.poll_transmit(&mut out);
        })
    });
}

criterion_group!(
    benches,
    links,
    warc,
    http,
    dns,
    timers,
    pool_and_admission,
    robots,
    decode,
    h2
);
criterion_main!(benches);
