//! A crawl that follows links, embedded in your program: the demo site
//! (200 linked pages over 4 loopback ports, no network) crawled from its
//! first page; your code runs on the workers for every page (here: its
//! `<title>` and its words), and one line per page comes back on the
//! loop's thread with its depth and the links it queued.
//!
//! `cargo run --release --example follow`

use oneloop::crawl::CrawlSetup;
use oneloop::demo::DemoServer;
use oneloop::follow::{Follow, FollowConfig};
use oneloop::{Config, Crawler};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let site = DemoServer::start_site(4, 2048, 200)?;
    let mut crawler = Crawler::new(Config::local())?;
    let mut follow = Follow::new(FollowConfig::default()); // host scope, depth 5

    // --- your part: per page on a worker, then per page on the loop ---
    let (mut pages, mut words) = (0, 0);
    let summary = crawler.crawl(
        [site.site_root()],
        &mut follow,
        CrawlSetup::new(2),
        |outcome| {
            let body = outcome.result.as_ref().map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&body.body);
            let title = text
                .split("<title>")
                .nth(1)
                .and_then(|t| t.split("</title>").next());
            Ok::<_, String>((
                title.unwrap_or("").to_string(),
                text.split_whitespace().count(),
            ))
        },
        |page, _| match page.result {
            Ok(Ok((title, n))) => {
                let tag = page.tag.unwrap_or_default();
                println!(
                    "#{:<4} depth {} from {:?}: {title:?}, {n} words, {} new links",
                    page.id, tag.depth, tag.from, page.queued
                );
                (pages, words) = (pages + 1, words + n);
            }
            Ok(Err(fetch_error)) => println!("#{:<4} {fetch_error}", page.id),
            Err(panic) => println!("#{:<4} our code panicked: {panic}", page.id),
        },
    )?;
    // --- end of your part ---

    let seen = follow.frontier().seen_len();
    println!("{pages} pages, {words} words; {seen} URLs seen");
    eprintln!("{summary}");
    Ok(())
}
