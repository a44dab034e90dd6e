//! Memory from large bodies is not kept for the rest of a crawl. Alone in
//! its own test binary: it reads the process's resident set size, which
//! other tests running in parallel threads would disturb.

mod common;

use common::*;
use oneloop::{Config, Crawler};
use std::io::Write;
use std::sync::Arc;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn memory_from_large_bodies_is_not_kept_for_the_rest_of_the_crawl() {
    const BIG: usize = 9 << 20;
    // One shared body: the server's own memory must not hide the client's.
    let big: Arc<Vec<u8>> = Arc::new(vec![b'x'; BIG]);
    let server = raw_server(move |mut s| {
        while let Some(path) = drain_request(&s) {
            let body: &[u8] = if path.starts_with("/big") {
                &big
            } else {
                b"small"
            };
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            if s.write_all(head.as_bytes())
                .and_then(|_| s.write_all(body))
                .is_err()
            {
                return;
            }
        }
    });
    // As the binary does at start (see `sys::return_big_buffers_to_the_os`):
    // big buffers on mmap, so RSS shows what the crawler keeps, not what
    // glibc's heap holds on to.
    // SAFETY: mallopt only changes allocator parameters.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024) };
    let mut urls: Vec<String> = (0..16).map(|i| format!("http://{server}/big{i}")).collect();
    urls.extend((0..500).map(|i| format!("http://{server}/small{i}")));
    let config = Config {
        concurrency: 8,
        per_host: 8,
        ..Config::local()
    };
    let baseline = rss_kib();
    let mut peak = 0;
    let mut after = 0;
    let mut n = 0;
    Crawler::new(config)
        .unwrap()
        .run(urls, |o| {
            n += 1;
            assert!(o.result.is_ok(), "{:?}", o.result);
            if n <= 16 {
                peak = peak.max(rss_kib()); // this body, and others in flight
            }
            if n == 516 {
                after = rss_kib();
            }
        })
        .unwrap();
    // Up to 8 bodies of 9 MiB were alive at once. Once they are done, their
    // buffers must not linger in the recycled responses (that was up to
    // 8 × 16 MiB of capacity kept for the rest of the crawl).
    assert!(
        peak > baseline + 30 * 1024,
        "the big bodies were in memory: {peak} KiB at the peak, {baseline} KiB before"
    );
    assert!(
        after < baseline + 16 * 1024,
        "RSS after the big bodies: {after} KiB; {baseline} KiB before, {peak} KiB at the peak"
    );
}
