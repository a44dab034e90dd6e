//! `oneloop demo`: the embedded loopback server (and nameserver), crawled.

use crate::args::Options;
use crate::out::Failure;
use crate::page::crawl_pages;
use crate::report::Reporter;
use crate::sys::thread_cpu_time;
use oneloop::demo::{DemoNameserver, DemoServer};
use oneloop::{Config, Crawler, Summary};

/// The demo's loopback server and nameserver, started before the crawler
/// so the configuration can point at them.
pub(crate) struct Demo {
    server: DemoServer,
    nameserver: Option<DemoNameserver>,
}

impl Demo {
    pub fn start(o: &mut Options) -> Result<Demo, String> {
        let delay = std::time::Duration::from_millis(o.server_delay_ms);
        let server = match (o.tls, delay.is_zero()) {
            _ if o.follow && (o.tls || !delay.is_zero()) => {
                return Err("demo --follow serves plain HTTP without --server-delay-ms".into())
            }
            _ if o.follow => DemoServer::start_site(o.hosts, o.page_size, o.pages),
            (true, true) => DemoServer::start_tls(o.hosts, o.page_size),
            (true, false) => return Err("--server-delay-ms works over plain HTTP only".into()),
            (false, _) => DemoServer::start_delayed(o.hosts, o.page_size, delay),
        }
        .map_err(|e| e.to_string())?;
        let config = &mut o.config;
        if let Some(ca) = server.ca_cert() {
            // Trusted like any private CA, through the extra-roots path.
            config.tls.extra_roots.push(ca.clone());
        }
        if config.connections.max_total == Config::default().connections.max_total {
            // Room for about two idle connections per demo host name, so a
            // crawl over many names reuses connections instead of evicting them.
            config.connections.max_total = (o.names as usize * 2).clamp(100, 2000);
        }
        let nameserver = if o.names > 0 {
            let ns = DemoNameserver::start("demo.test", 300).map_err(|e| e.to_string())?;
            config.dns.nameservers = vec![ns.addr()];
            Some(ns)
        } else {
            None
        };
        if o.follow && !o.max_depth_given {
            // Deep enough for the whole site: page N is at depth
            // floor(log8(7N+1)).
            let last = o.pages.saturating_sub(1);
            let mut depth = 0;
            while (8u64.pow(depth + 1) - 1) / 7 <= last {
                depth += 1;
            }
            o.frontier.max_depth = depth;
        }
        Ok(Demo { server, nameserver })
    }
}

pub(crate) fn run_demo(crawler: &mut Crawler, demo: Demo, o: Options) -> Result<Summary, Failure> {
    let Demo { server, nameserver } = demo;
    let what = if o.follow {
        format!("a site of {} pages, crawled from its first,", o.pages)
    } else {
        format!("{} URLs", o.urls)
    };
    errln!(
        "demo: {what} over {} loopback ports ({}..) and {} names, concurrency {}, per host {}",
        server.addrs().len(),
        server.addrs()[0],
        o.names,
        o.config.concurrency,
        o.config.per_host
    );
    let total = crate::progress::Total::Exact(o.urls);
    let mut rep = Reporter::new(o.jsonl, o.progress, o.force_progress, total);
    let cpu_before = thread_cpu_time();
    let urls: Box<dyn Iterator<Item = String>> = if o.names > 0 {
        Box::new(server.named_urls(o.urls, o.names, "demo.test"))
    } else {
        Box::new(server.urls(o.urls))
    };
    let summary = if o.follow {
        let seeds = oneloop::input::InputThread::new([server.site_root()], 1);
        crate::follow::crawl_following(crawler, seeds, &o, &mut rep).map_err(Failure::Start)?
    } else {
        // Ids from 1, as a crawl's are (its line numbers).
        let numbered = (1..).zip(urls).map(oneloop::Request::from);
        crawl_pages(crawler, numbered, &o, &mut rep, None)
    };
    drop(nameserver);
    let cpu_after = thread_cpu_time();
    rep.finish();
    let summary = summary.map_err(|e| Failure::Start(e.to_string()))?;
    let cpu = cpu_after.saturating_sub(cpu_before).as_secs_f64();
    errln!(
        "client CPU: {cpu:.3}s on the crawler thread, {:.2} µs per request (the server thread is not counted)",
        cpu * 1e6 / summary.outcomes.max(1) as f64
    );
    Ok(summary)
}
