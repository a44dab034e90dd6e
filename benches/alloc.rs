//! Allocations per request on the steady-state keep-alive path, counted by a
//! global allocator on the crawler's thread only (the embedded server and
//! the generation of input URLs are not counted).
//!
//! `cargo bench --bench alloc` prints the count; it fails if the library
//! allocates more than `MAX_PER_REQUEST` times per request, amortized.

use oneloop::demo::DemoServer;
use oneloop::{Config, Crawler};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The library's budget per request on a warm keep-alive crawl (amortized:
/// per-run setup is spread over the requests).
const MAX_PER_REQUEST: f64 = 0.05;

/// Wraps the input so its own allocations (the URL strings) are not counted.
struct Uncounted<I>(I);

impl<I: Iterator> Iterator for Uncounted<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        ON.with(|c| c.set(false));
        let item = self.0.next();
        ON.with(|c| c.set(true));
        item
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing.
    let n: u64 = if std::env::args().any(|a| a == "--bench") {
        200_000
    } else {
        20_000
    };
    let server = DemoServer::start(10, 1024).unwrap();
    let mut crawler = Crawler::new(Config::local()).unwrap();
    // Warm up: connections, buffers, response recycling.
    crawler.run(server.urls(5_000), |_| {}).unwrap();
    ON.with(|c| c.set(true));
    let summary = crawler
        .run(Uncounted(server.urls(n)), |o| {
            assert!(o.result.is_ok());
        })
        .unwrap();
    ON.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let bytes = BYTES.load(Ordering::Relaxed);
    let per = allocs as f64 / n as f64;
    println!(
        "alloc: {n} requests, {allocs} allocations ({bytes} bytes) on the crawler thread: {per:.4} per request"
    );
    println!("{summary}");
    assert!(
        per <= MAX_PER_REQUEST,
        "{per:.4} allocations per request (budget {MAX_PER_REQUEST})"
    );
}
