//! Work off the loop: a slow user function holds admission, not the loop;
//! panics are the item's error; every outcome comes back once.

mod common;

use common::*;
use oneloop::workers::{Done, Workers};
use oneloop::{Config, Crawler};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config() -> Config {
    let mut c = Config {
        concurrency: 10,
        per_host: 10,
        ..Config::local()
    };
    // Far shorter than the crawl: a loop held by slow user code would let
    // these run out for requests that were answered long ago.
    c.timeouts.head = Duration::from_millis(300);
    c.timeouts.body_idle = Duration::from_millis(300);
    c
}

#[test]
fn a_slow_function_holds_admission_not_the_loop() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let urls: Vec<String> = (0..60).map(|i| format!("http://{server}/{i}")).collect();
    let busy = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (b2, m2) = (busy.clone(), most.clone());
    let mut ids = HashSet::new();
    let t = Instant::now();
    let summary = Crawler::new(config())
        .unwrap()
        .run_with_workers(
            urls,
            Workers {
                threads: 2,
                queue: 3,
            },
            move |outcome| {
                let now = b2.fetch_add(1, Ordering::SeqCst) + 1;
                m2.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(25));
                b2.fetch_sub(1, Ordering::SeqCst);
                // Take the body: it is ours now (no copy).
                outcome
                    .result
                    .as_mut()
                    .map(|r| std::mem::take(&mut r.body))
                    .map_err(|e| e.clone())
            },
            |done: Done<_>| {
                assert!(ids.insert(done.id), "each outcome once");
                let body = done.result.unwrap().unwrap();
                assert_eq!(body, format!("/{}", done.id).into_bytes());
            },
        )
        .unwrap();
    // 60 items × 25 ms over 2 threads: about 750 ms, far past the 300 ms
    // head timeout: no request may have run out of time meanwhile.
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(ids.len(), 60);
    assert_eq!(summary.error_count(), 0, "{summary}");
    assert_eq!(most.load(Ordering::SeqCst), 2, "two threads");
    let w = summary.workers.unwrap();
    // Queued, being worked on, or finished and not yet collected.
    assert!(
        w.high_water <= 3 + 2 * 2,
        "queue + twice the threads at most: {w:?}"
    );
    assert!(
        w.held > Duration::from_millis(300),
        "admission waited for room: {w:?}"
    );
    assert!(summary.max_in_flight <= 10);
    assert_eq!(
        summary.loop_stats.stalls, 0,
        "the loop never waited on the function"
    );
}

#[test]
fn a_panic_is_that_items_error_and_the_crawl_goes_on() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let urls: Vec<String> = (0..20).map(|i| format!("http://{server}/{i}")).collect();
    let mut ok = 0;
    let mut panicked = Vec::new();
    let summary = Crawler::new(config())
        .unwrap()
        .run_with_workers(
            urls,
            Workers::new(3),
            |outcome| {
                if outcome.url.ends_with("/7") {
                    panic!("cannot parse page 7");
                }
                outcome.id
            },
            |done| match done.result {
                Ok(id) => {
                    assert_eq!(id, done.id);
                    ok += 1
                }
                Err(message) => panicked.push((done.id, message)),
            },
        )
        .unwrap();
    assert_eq!(ok, 19);
    assert_eq!(panicked.len(), 1);
    assert_eq!(panicked[0].0, 7);
    assert!(
        panicked[0].1.contains("cannot parse page 7"),
        "{}",
        panicked[0].1
    );
    assert_eq!(summary.outcomes, 20);
    assert_eq!(summary.workers.unwrap().panics, 1);
}

#[test]
fn inline_blocking_is_a_stall_and_workers_cure_it() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let urls =
        |n: usize| -> Vec<String> { (0..n).map(|i| format!("http://{server}/{i}")).collect() };
    let mut inline = config();
    inline.stall_threshold = Duration::from_millis(10);
    let blocked = Crawler::new(inline.clone())
        .unwrap()
        .run(urls(10), |_| std::thread::sleep(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(blocked.loop_stats.stalls, 10);
    let cured = Crawler::new(inline)
        .unwrap()
        .run_with_workers(
            urls(10),
            Workers::new(10),
            |_| std::thread::sleep(Duration::from_millis(20)),
            |_| {},
        )
        .unwrap();
    assert_eq!(cured.loop_stats.stalls, 0);
    assert!(
        cured.elapsed * 3 < blocked.elapsed,
        "{:?} vs {:?}",
        cured.elapsed,
        blocked.elapsed
    );
}
