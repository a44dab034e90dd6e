//! The `oneloop` command-line tool. Depends on std and the library (and
//! `libc`, for signals and the open-file limit): argument parsing
//! ([`args`]), JSON Lines ([`jsonl`]), the progress line ([`report`]) and the
//! system calls ([`sys`]) are written by hand.
//!
//! Exit status: 0 when the crawl ran (whatever its outcomes), 1 when it could
//! not start or its input could not be read, 2 for a usage error, 130 after
//! SIGINT and 143 after SIGTERM (every outcome finished by then is written).

/// `println!` that ignores a closed stdout (EPIPE) instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed stderr instead of panicking.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod args;
mod jsonl;
mod report;
mod sys;

use args::{Command, Options, Parsed};
use oneloop::demo::{DemoNameserver, DemoServer};
use oneloop::{Config, Crawler, Request, Summary};
use report::{thread_cpu, Reporter};
use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::Ordering;

/// Why a run ended without a summary worth exit status 0.
enum Failure {
    /// Could not start (exit 1).
    Start(String),
    /// Ran, but the input could not be read to its end (exit 1, after the
    /// summary of what was read).
    Input(String, Box<Summary>),
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut options = match args::parse(&argv) {
        Ok(Parsed::Help) => {
            let _ = io::stdout().write_all(args::usage().as_bytes());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(o)) => *o,
        Err(msg) => return usage_error(&msg),
    };
    // What the flags could not check one by one (headers that would inject
    // another header or take over framing, say) is a usage error too.
    if let Err(e) = options.config.validate() {
        return usage_error(&e.detail);
    }
    if options.config.tls.danger_accept_invalid_certs {
        errln!("oneloop: WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read and alter this traffic");
    }
    fit_to_open_file_limit(&mut options.config);
    let command = options.command;
    let demo = match command {
        Command::Demo => match Demo::start(&mut options) {
            Ok(d) => Some(d),
            Err(e) => {
                errln!("oneloop: {e}");
                return ExitCode::FAILURE;
            }
        },
        Command::Crawl => None,
    };
    let mut crawler = match Crawler::new(options.config.clone()) {
        Ok(c) => c,
        Err(e) => {
            errln!("oneloop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let interrupted = match sys::on_interrupt(crawler.handle(), options.stop_grace) {
        Ok(flag) => Some(flag),
        Err(e) => {
            errln!("oneloop: cannot handle Ctrl-C ({e}); it will end the process at once");
            None
        }
    };
    let result = match demo {
        Some(demo) => run_demo(&mut crawler, demo, options),
        None => run_crawl(&mut crawler, options),
    };
    let status = match result {
        Ok(summary) => {
            if command == Command::Demo {
                outln!("{summary}");
            } else {
                errln!("{summary}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Input(msg, summary)) => {
            errln!("{summary}");
            errln!("oneloop: {msg}");
            ExitCode::FAILURE
        }
        Err(Failure::Start(msg)) => {
            errln!("oneloop: {msg}");
            ExitCode::FAILURE
        }
    };
    match interrupted.map_or(0, |s| s.load(Ordering::SeqCst)) {
        0 => status,
        signal => ExitCode::from(128 + signal),
    }
}

/// Exit status 2: one line naming the problem, not the whole usage.
fn usage_error(msg: &str) -> ExitCode {
    errln!("oneloop: {msg} (see oneloop --help)");
    ExitCode::from(2)
}

/// Raises the open-file limit as far as allowed, and lowers the connection
/// limits to what it leaves room for, with one warning: running out of
/// descriptors mid-crawl would only make requests wait.
fn fit_to_open_file_limit(config: &mut Config) {
    let Some(budget) = sys::connection_budget() else {
        return;
    };
    let budget = budget.max(1);
    let c = &mut config.connections;
    if config.concurrency <= budget && c.max_total <= budget {
        return;
    }
    errln!(
        "oneloop: warning: the open-file limit leaves room for about {budget} connections: concurrency {} and max connections {} lowered to {budget} (raise it with `ulimit -n`)",
        config.concurrency, c.max_total
    );
    config.concurrency = config.concurrency.min(budget);
    config.per_host = config.per_host.min(budget);
    c.max_total = c.max_total.min(budget);
    c.max_per_host = c.max_per_host.min(budget);
}

/// Input lines, read lazily as the admission queue asks for them: numbered
/// from 1, blank lines and `#` comments skipped, a line that is not UTF-8 an
/// item that ends as `url: invalid_url`. A read error ends the input and is
/// kept for the caller.
struct Lines<R> {
    reader: R,
    line: u64,
    error: Rc<RefCell<Option<io::Error>>>,
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        loop {
            let mut bytes = Vec::new();
            match self.reader.read_until(b'\n', &mut bytes) {
                Ok(0) => return None,
                Ok(_) => {
                    self.line += 1;
                    let text = bytes.trim_ascii();
                    if text.is_empty() || text.starts_with(b"#") {
                        continue;
                    }
                    return Some(Request::from_line(self.line, bytes));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    *self.error.borrow_mut() = Some(e);
                    return None;
                }
            }
        }
    }
}

fn run_crawl(crawler: &mut Crawler, o: Options) -> Result<Summary, Failure> {
    let name = o.input.clone().unwrap_or_else(|| "-".into());
    let reader: Box<dyn BufRead> = match o.input.as_deref() {
        None | Some("-") => Box::new(io::stdin().lock()),
        Some(path) => {
            let file =
                std::fs::File::open(path).map_err(|e| Failure::Start(format!("{path}: {e}")))?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(Failure::Start(format!("{path}: is a directory")));
            }
            Box::new(io::BufReader::new(file))
        }
    };
    let error = Rc::new(RefCell::new(None));
    let urls = Lines {
        reader,
        line: 0,
        error: error.clone(),
    };
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
    let summary = summary.map_err(|e| Failure::Start(e.to_string()))?;
    match error.take() {
        Some(e) => Err(Failure::Input(
            format!("reading {name}: {e}"),
            Box::new(summary),
        )),
        None => Ok(summary),
    }
}

/// The demo's loopback server and nameserver, started before the crawler
/// so the configuration can point at them.
struct Demo {
    server: DemoServer,
    nameserver: Option<DemoNameserver>,
}

impl Demo {
    fn start(o: &mut Options) -> Result<Demo, String> {
        let server = if o.tls {
            DemoServer::start_tls(o.hosts, o.page_size)
        } else {
            DemoServer::start(o.hosts, o.page_size)
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
        Ok(Demo { server, nameserver })
    }
}

fn run_demo(crawler: &mut Crawler, demo: Demo, o: Options) -> Result<Summary, Failure> {
    let Demo { server, nameserver } = demo;
    errln!(
        "demo: {} URLs over {} loopback ports ({}..) and {} names, concurrency {}, per host {}",
        o.urls,
        server.addrs().len(),
        server.addrs()[0],
        o.names,
        o.config.concurrency,
        o.config.per_host
    );
    let mut rep = Reporter::new(o.jsonl, o.progress);
    rep.handle = Some(crawler.handle());
    let cpu_before = thread_cpu();
    let urls: Box<dyn Iterator<Item = String>> = if o.names > 0 {
        Box::new(server.named_urls(o.urls, o.names, "demo.test"))
    } else {
        Box::new(server.urls(o.urls))
    };
    let handle = crawler.handle();
    let summary = crawler.run(urls, |outcome| {
        rep.on_outcome(outcome);
        if rep.broken_pipe {
            handle.stop();
        }
    });
    drop(nameserver);
    let cpu_after = thread_cpu();
    rep.finish();
    let summary = summary.map_err(|e| Failure::Start(e.to_string()))?;
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        let per_request = (b - a).as_secs_f64() * 1e6 / summary.outcomes.max(1) as f64;
        errln!(
            "client CPU: {:.3}s on the crawler thread, {:.2} µs per request (the server thread is not counted)",
            (b - a).as_secs_f64(),
            per_request
        );
    }
    Ok(summary)
}
