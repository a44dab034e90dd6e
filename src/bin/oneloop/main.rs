//! The `oneloop` command-line tool. Depends on std and the library only:
//! argument parsing ([`args`]), JSON Lines ([`jsonl`]) and the progress line
//! ([`report`]) are written by hand.

mod args;
mod jsonl;
mod report;

use args::{Command, Options, Parsed};
use oneloop::demo::{DemoNameserver, DemoServer};
use oneloop::{Config, Crawler, Summary};
use report::{thread_cpu, Reporter};
use std::io::{self, BufRead};
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let options = match args::parse(&argv) {
        Ok(Parsed::Help) => {
            print!("{}", args::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(o)) => *o,
        Err(msg) => {
            eprintln!("oneloop: {msg} (see oneloop --help)");
            return ExitCode::from(2);
        }
    };
    if options.config.tls.danger_accept_invalid_certs {
        eprintln!("oneloop: WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read and alter this traffic");
    }
    let command = options.command;
    let result = match command {
        Command::Demo => run_demo(options),
        Command::Crawl => run_crawl(options),
    };
    match result {
        Ok(summary) => {
            if command == Command::Demo {
                println!("{summary}");
            } else {
                eprintln!("{summary}");
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("oneloop: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run_crawl(o: Options) -> Result<Summary, String> {
    let mut crawler = Crawler::new(o.config).map_err(|e| e.to_string())?;
    let reader: Box<dyn BufRead> = match o.input.as_deref() {
        None | Some("-") => Box::new(io::stdin().lock()),
        Some(path) => Box::new(io::BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?,
        )),
    };
    // Lazy input: lines are read only as the admission queue asks for them.
    // Blank lines and `#` comments are skipped; read errors end the input.
    let urls = reader
        .lines()
        .map_while(Result::ok)
        .map(|l| {
            // Keep the line's own allocation unless there is something to trim.
            if l.trim().len() == l.len() {
                l
            } else {
                l.trim().to_string()
            }
        })
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let mut rep = Reporter::new(o.jsonl, o.progress);
    let handle = crawler.handle();
    rep.handle = Some(handle.clone());
    let summary = crawler.run(urls, |outcome| {
        rep.on_outcome(outcome);
        if rep.broken_pipe {
            handle.stop();
        }
    });
    rep.finish();
    summary.map_err(|e| e.to_string())
}

fn run_demo(mut o: Options) -> Result<Summary, String> {
    let server = if o.tls {
        DemoServer::start_tls(o.hosts, o.page_size)
    } else {
        DemoServer::start(o.hosts, o.page_size)
    }
    .map_err(|e| e.to_string())?;
    if let Some(ca) = server.ca_cert() {
        // Trusted like any private CA, through the extra-roots path.
        o.config.tls.extra_roots.push(ca.clone());
    }
    if o.config.connections.max_total == Config::default().connections.max_total {
        // Room for about two idle connections per demo host name, so a crawl
        // over many names reuses connections instead of evicting them.
        o.config.connections.max_total = (o.names as usize * 2).clamp(100, 2000);
    }
    let nameserver = if o.names > 0 {
        let ns = DemoNameserver::start("demo.test", 300).map_err(|e| e.to_string())?;
        o.config.dns.nameservers = vec![ns.addr()];
        Some(ns)
    } else {
        None
    };
    eprintln!(
        "demo: {} URLs over {} loopback ports ({}..) and {} names, concurrency {}, per host {}",
        o.urls,
        server.addrs().len(),
        server.addrs()[0],
        o.names,
        o.config.concurrency,
        o.config.per_host
    );
    let mut crawler = Crawler::new(o.config).map_err(|e| e.to_string())?;
    let mut rep = Reporter::new(o.jsonl, o.progress);
    rep.handle = Some(crawler.handle());
    let cpu_before = thread_cpu();
    let urls: Box<dyn Iterator<Item = String>> = if o.names > 0 {
        Box::new(server.named_urls(o.urls, o.names, "demo.test"))
    } else {
        Box::new(server.urls(o.urls))
    };
    let summary = crawler.run(urls, |outcome| rep.on_outcome(outcome));
    drop(nameserver);
    let cpu_after = thread_cpu();
    rep.finish();
    let summary = summary.map_err(|e| e.to_string())?;
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        let per_request = (b - a).as_secs_f64() * 1e6 / summary.outcomes.max(1) as f64;
        eprintln!(
            "client CPU: {:.3}s on the crawler thread, {:.2} µs per request (the server thread is not counted)",
            (b - a).as_secs_f64(),
            per_request
        );
    }
    Ok(summary)
}
