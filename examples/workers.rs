//! Work off the loop: each page is "parsed" on a worker thread (here: its
//! words counted, after a pretend 5 ms of blocking work), while the loop
//! keeps every connection moving. Results come back on the loop's thread.
//!
//! `cargo run --release --example workers`

use oneloop::demo::DemoServer;
use oneloop::workers::Workers;
use oneloop::{Config, Crawler};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = DemoServer::start(4, 2048)?;
    let mut crawler = Crawler::new(Config::local())?;
    let (mut pages, mut words, mut failed) = (0, 0, 0);
    let summary = crawler.run_with_workers(
        server.urls(2_000),
        // 16 threads; when 64 outcomes wait for them, no new request starts.
        Workers {
            threads: 16,
            queue: 64,
        },
        // On a worker thread: the outcome is ours. Blocking here is fine.
        |outcome| {
            std::thread::sleep(Duration::from_millis(5));
            let body = outcome.result.as_ref().map_err(|e| e.to_string())?;
            Ok::<usize, String>(body.body.split(|b| *b == b' ').count())
        },
        // Back on the loop's thread, in order of completion.
        |done| match done.result {
            Ok(Ok(n)) => {
                pages += 1;
                words += n;
            }
            Ok(Err(fetch_error)) => eprintln!("{}: {fetch_error}", done.id),
            Err(panic) => {
                failed += 1;
                eprintln!("{}: {panic}", done.id)
            }
        },
    )?;
    println!("{pages} pages, {words} words, {failed} failed");
    println!("{summary}");
    Ok(())
}
