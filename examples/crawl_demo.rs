//! Crawl the embedded demo server from library code, with a stop handle and a
//! callback that tallies outcomes.
//!
//! `cargo run --release --example crawl_demo -- 50000`

use oneloop::demo::DemoServer;
use oneloop::{Config, Crawler};
use std::collections::BTreeMap;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let server = DemoServer::start(8, 2048).expect("start the demo server");
    let mut crawler = Crawler::new(Config {
        concurrency: 64,
        per_host: 8,
        ..Config::local()
    })
    .expect("valid config");

    // A handle can stop the crawl from any thread; here a Ctrl-C handler
    // would call `handle.stop()`.
    let _handle = crawler.handle();

    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    let summary = crawler
        .run(server.urls(n), |outcome| match &outcome.result {
            Ok(resp) => *by_status.entry(resp.status).or_default() += 1,
            Err(e) => eprintln!("{} failed in {}: {}", outcome.url, e.phase.as_str(), e),
        })
        .unwrap();
    println!("by status: {by_status:?}");
    println!("{summary}");
    println!(
        "server answered {} requests on {} connections",
        server.served(),
        server.accepted()
    );
}
