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
mod observe;
mod report;
mod save;
mod sys;
mod timeline;

use args::{Command, Options, Parsed};
use oneloop::demo::{DemoNameserver, DemoServer};
use oneloop::workers::Workers;
use oneloop::{Config, Crawler, Request, Summary};
use oneloop::{Outcome, Phase};
use report::{thread_cpu, Page, Reporter};
use save::Saver;
use std::cell::RefCell;
use std::io::{self, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Why a run ended without a summary worth exit status 0.
enum Failure {
    /// Could not start (exit 1).
    Start(String),
    /// Ran, but the input could not be read to its end (exit 1, after the
    /// summary of what was read).
    Input(String, Box<Summary>),
}

fn main() -> ExitCode {
    sys::return_big_buffers_to_the_os();
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
    observe::install_logger(options.log_level, options.deps_log_level);
    if options.command == Command::Timeline {
        return draw_timeline(&options);
    }
    if options.save.is_some() && !options.config.request.keep_body {
        return usage_error("--save needs the bodies: drop --no-body");
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
        Command::Crawl | Command::Timeline => None,
    };
    let mut crawler = match Crawler::new(options.config.clone()) {
        Ok(c) => c,
        Err(e) => {
            errln!("oneloop: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Events: printed (--trace), written (--events), drawn (--timeline,
    // through a temporary events file when --events is not given).
    let events_path = options.events.clone().or_else(|| {
        options.timeline.as_ref().map(|_| {
            let dir = std::env::temp_dir();
            let file = format!("oneloop-events-{}.jsonl", std::process::id());
            dir.join(file).to_string_lossy().into_owned()
        })
    });
    let events_file = match events_path.as_deref().map(std::fs::File::create) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            errln!("oneloop: {}: {e}", events_path.as_deref().unwrap_or(""));
            return ExitCode::FAILURE;
        }
    };
    let watch = Arc::new(Mutex::new(observe::Watch::new(options.trace, events_file)));
    if watch.lock().is_ok_and(|w| w.is_on()) {
        crawler.set_observer(observe::Watch::observer(&watch));
    }
    let timeline_out = options.timeline.clone();
    let temporary_events = options.events.is_none();
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
    crawler.clear_observer();
    if let Ok(mut w) = watch.lock() {
        w.finish();
        if let Some(e) = w.error.take() {
            errln!("oneloop: writing events: {e}");
        }
    }
    if let (Some(svg), Some(events)) = (timeline_out, events_path.as_deref()) {
        match timeline::render(events, &svg) {
            Ok(d) => errln!(
                "timeline: {} of {} connections, {} segments, {} KiB in {svg}",
                d.lanes,
                d.connections,
                d.segments,
                d.bytes / 1024
            ),
            Err(e) => errln!("oneloop: timeline: {e}"),
        }
        if temporary_events {
            let _ = std::fs::remove_file(events);
        }
    }
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

/// The shard of an origin: FNV-1a (64-bit) of its normalized string
/// (`scheme://host[:port]`, lowercased, default port omitted), modulo `n`.
/// Stable across machines and versions: it is part of the interface.
fn shard_of(origin: &str, n: u64) -> u64 {
    save::fnv1a(origin.to_ascii_lowercase().as_bytes()) % n
}

/// `oneloop timeline EVENTS [-o SVG]`.
fn draw_timeline(o: &Options) -> ExitCode {
    let Some(events) = o.input.as_deref() else {
        return usage_error("timeline needs an events file (from --events)");
    };
    let svg = o.output.clone().unwrap_or_else(|| {
        let stem = events.strip_suffix(".jsonl").unwrap_or(events);
        format!("{stem}.svg")
    });
    match timeline::render(events, &svg) {
        Ok(d) => {
            errln!(
                "timeline: {} of {} connections, {} segments ({}), {} KiB in {svg}",
                d.lanes,
                d.connections,
                d.segments,
                if d.exact { "exact" } else { "per column" },
                d.bytes / 1024
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!("oneloop: {events}: {e}");
            ExitCode::FAILURE
        }
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

/// The longest input line taken as a URL; a longer one is one outcome
/// (`url: invalid_url`) and the reader skips to the next line, so a file
/// without newlines cannot make the reader's buffer grow without bound.
const MAX_LINE: usize = 64 * 1024;

/// Input lines, read lazily as the admission queue asks for them: numbered
/// from 1, blank lines and `#` comments skipped, a line that is not UTF-8 (or
/// is too long) an item that ends as `url: invalid_url`. A read error ends
/// the input and is kept for the caller.
///
/// It splits lines itself over plain `read`s, because `BufRead::read_until`
/// retries `EINTR` internally, and Ctrl-C must be able to end an input pipe
/// that never ends by itself.
struct Lines<R> {
    reader: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// Inside a too-long line: drop bytes up to its newline.
    skipping: bool,
    /// `--shard I/N`: keep only this shard's lines.
    shard: Option<(u64, u64)>,
    line: u64,
    error: Rc<RefCell<Option<io::Error>>>,
}

impl<R: io::Read> Lines<R> {
    fn new(reader: R, error: Rc<RefCell<Option<io::Error>>>) -> Lines<R> {
        Lines {
            reader,
            buf: vec![0; MAX_LINE].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            skipping: false,
            shard: None,
            line: 0,
            error,
        }
    }

    /// Is this request in our shard? An origin's lines all go to one shard;
    /// lines with no origin (bad URLs) go to shard 0.
    fn in_shard(&self, req: &Request) -> bool {
        let Some((i, n)) = self.shard else {
            return true;
        };
        let origin = match (&req.error, oneloop::url::Url::parse(&req.url)) {
            (None, Ok(url)) => Some(url.origin().to_string()),
            _ => None,
        };
        match origin {
            Some(o) => shard_of(&o, n) == i,
            None => i == 0,
        }
    }

    /// The next raw line (without its newline), or `None` at the end.
    fn next_line(&mut self) -> Option<Result<Vec<u8>, usize>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let bytes = pending[..nl].to_vec();
                self.start += nl + 1;
                if std::mem::take(&mut self.skipping) {
                    continue; // the end of a too-long line
                }
                return Some(Ok(bytes));
            }
            if self.eof {
                if self.start == self.end || self.skipping {
                    return None;
                }
                let bytes = pending.to_vec();
                self.start = self.end;
                return Some(Ok(bytes));
            }
            // Need more bytes: make room at the end.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                // A line as long as the buffer: report it, skip the rest.
                let was_skipping = std::mem::replace(&mut self.skipping, true);
                self.end = 0;
                if !was_skipping {
                    return Some(Err(MAX_LINE));
                }
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                // A signal interrupted the read: Ctrl-C ends the input here
                // (the pipe may never end by itself); anything else, again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if sys::interrupted() {
                        return None;
                    }
                }
                Err(e) => {
                    *self.error.borrow_mut() = Some(e);
                    return None;
                }
            }
        }
    }
}

impl<R: io::Read> Iterator for Lines<R> {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        loop {
            let raw = self.next_line()?;
            self.line += 1;
            let bytes = match raw {
                Ok(bytes) => bytes,
                Err(limit) => {
                    let e = oneloop::Error::new(
                        oneloop::Phase::Url,
                        oneloop::ErrorKind::InvalidUrl,
                        format!("line longer than {limit} bytes"),
                    );
                    let head = String::from_utf8_lossy(&self.buf[..100]).into_owned();
                    return Some(Request {
                        url: format!("{head}..."),
                        line: Some(self.line),
                        error: Some(e),
                        ..Request::default()
                    });
                }
            };
            let text = bytes.trim_ascii();
            if text.is_empty() || text.starts_with(b"#") {
                continue;
            }
            let req = Request::from_line(self.line, bytes);
            if !self.in_shard(&req) {
                continue; // another shard's line: no outcome here
            }
            return Some(req);
        }
    }
}

fn run_crawl(crawler: &mut Crawler, o: Options) -> Result<Summary, Failure> {
    let name = o.input.clone().unwrap_or_else(|| "-".into());
    let reader: Box<dyn io::Read> = match o.input.as_deref() {
        None | Some("-") => Box::new(io::stdin().lock()),
        Some(path) => {
            let file =
                std::fs::File::open(path).map_err(|e| Failure::Start(format!("{path}: {e}")))?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(Failure::Start(format!("{path}: is a directory")));
            }
            Box::new(file)
        }
    };
    let error = Rc::new(RefCell::new(None));
    let mut urls = Lines::new(reader, error.clone());
    urls.shard = o.shard;
    let mut rep = Reporter::new(o.jsonl, o.progress);
    let summary = crawl_pages(crawler, urls, &o, &mut rep);
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

/// What is done with each page, besides counting it: its JSON line, and in
/// the demo the pitfall on purpose (`--block-ms`, `--work-ms`), and with
/// `--save` its body on disk. On worker threads with `--workers`/`--save`,
/// else on the loop's thread.
struct PageWork {
    save: Option<Saver>,
    block: std::time::Duration,
    busy: std::time::Duration,
    jsonl: bool,
}

impl PageWork {
    fn new(o: &Options) -> PageWork {
        PageWork {
            save: o.save.as_deref().map(Saver::new),
            block: std::time::Duration::from_millis(o.block_ms),
            busy: std::time::Duration::from_millis(o.work_ms),
            jsonl: o.jsonl,
        }
    }

    /// The user's work that the demo stands for: sleeping (a blocking
    /// call) and burning CPU (parsing).
    fn simulate(&self) {
        if !self.block.is_zero() {
            std::thread::sleep(self.block);
        }
        if !self.busy.is_zero() {
            // CPU time of this thread, not wall time: with more threads than
            // cores a thread is not always running, and only CPU work done
            // counts as the work.
            let start = sys::thread_cpu_time();
            let mut x = 0u64;
            while sys::thread_cpu_time().saturating_sub(start) < self.busy {
                for _ in 0..1000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        }
    }

    /// One page, on a worker. (The demo's simulated work is for pages,
    /// not for errors or cancellations.)
    fn run(&self, o: &mut Outcome) -> Page {
        if o.result.is_ok() {
            self.simulate();
        }
        let mut path = None;
        let mut save_failed = false;
        if let (Some(saver), Ok(r)) = (&self.save, &o.result) {
            if (200..300).contains(&r.status) {
                match saver.save(o.id, &r.body) {
                    Ok(p) => path = Some(p),
                    Err(e) => {
                        // The page was fetched, but not saved: that is this
                        // URL's outcome, in phase `save`.
                        o.result = Err(oneloop::Error::from_io(Phase::Save, &e));
                        save_failed = true;
                    }
                }
            }
        }
        let mut line = String::new();
        if self.jsonl {
            jsonl::outcome_json(&mut line, o);
            if let Some(p) = &path {
                line.pop(); // the closing brace
                line.push_str(",\"path\":");
                jsonl::json_str(&mut line, &p.to_string_lossy());
                line.push('}');
            }
            line.push('\n');
        }
        Page {
            line,
            error: o.result.is_err(),
            saved: path.is_some(),
            save_failed,
        }
    }
}

/// Crawls `urls`, each page through [`PageWork`]: inline, or on workers.
fn crawl_pages<I>(
    crawler: &mut Crawler,
    urls: I,
    o: &Options,
    rep: &mut Reporter,
) -> Result<Summary, oneloop::Error>
where
    I: IntoIterator,
    I::Item: Into<Request>,
{
    let handle = crawler.handle();
    rep.handle = Some(handle.clone());
    let work = PageWork::new(o);
    let threads = o.workers.or(o.save.as_ref().map(|_| 2));
    let Some(threads) = threads else {
        return crawler.run(urls, |outcome| {
            rep.on_outcome(outcome);
            if rep.broken_pipe {
                handle.stop();
            }
            // In the demo, the pitfall on purpose: work inside the loop.
            if outcome.result.is_ok() {
                work.simulate();
            }
        });
    };
    let workers = Workers {
        threads,
        queue: if o.queue > 0 { o.queue } else { threads * 4 },
    };
    let dir = o.save.clone();
    let summary = crawler.run_with_workers(
        urls,
        workers,
        move |outcome| work.run(outcome),
        |done| {
            match &done.result {
                Ok(page) => rep.on_page(page),
                Err(message) => rep.on_panic(done.id, message),
            }
            if rep.broken_pipe {
                handle.stop();
            }
        },
    );
    if let Some(dir) = dir {
        errln!(
            "save: {} files written under {dir}, {} failed",
            rep.saved,
            rep.save_failed
        );
    }
    summary
}

/// The demo's loopback server and nameserver, started before the crawler
/// so the configuration can point at them.
struct Demo {
    server: DemoServer,
    nameserver: Option<DemoNameserver>,
}

impl Demo {
    fn start(o: &mut Options) -> Result<Demo, String> {
        let delay = std::time::Duration::from_millis(o.server_delay_ms);
        let server = match (o.tls, delay.is_zero()) {
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
    let cpu_before = thread_cpu();
    let urls: Box<dyn Iterator<Item = String>> = if o.names > 0 {
        Box::new(server.named_urls(o.urls, o.names, "demo.test"))
    } else {
        Box::new(server.urls(o.urls))
    };
    let summary = crawl_pages(crawler, urls, &o, &mut rep);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns the given chunks one per `read`, with an
    /// `EINTR` first (which must be retried: no signal was received).
    struct Chunks(Vec<Vec<u8>>, bool);

    impl io::Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.1 {
                self.1 = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.0.is_empty() {
                return Ok(0);
            }
            let mut c = self.0.remove(0);
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.0.insert(0, c.split_off(n));
            }
            Ok(n)
        }
    }

    fn read_all(chunks: Vec<Vec<u8>>) -> Vec<(Option<u64>, String, Option<String>)> {
        let lines = Lines::new(Chunks(chunks, false), Rc::default());
        lines
            .map(|r| (r.line, r.url, r.error.map(|e| e.detail)))
            .collect()
    }

    #[test]
    fn lines_are_numbered_trimmed_and_split_anywhere() {
        let got = read_all(vec![
            b"http://a/1\r\n  # comment\n\n  http://a/".to_vec(),
            b"2  \nhttp://a/3".to_vec(), // no final newline
        ]);
        assert_eq!(
            got,
            vec![
                (Some(1), "http://a/1".into(), None),
                (Some(4), "http://a/2".into(), None),
                (Some(5), "http://a/3".into(), None),
            ]
        );
    }

    #[test]
    fn a_too_long_line_is_one_item_and_the_next_line_is_read() {
        let mut long = vec![b'x'; MAX_LINE * 2 + 7];
        long.push(b'\n');
        long.extend_from_slice(b"http://a/after\n");
        let got = read_all(vec![b"http://a/before\n".to_vec(), long]);
        assert_eq!(
            got.len(),
            3,
            "{:?}",
            got.iter().map(|g| &g.0).collect::<Vec<_>>()
        );
        assert_eq!(got[1].0, Some(2));
        assert_eq!(got[1].2.as_deref(), Some("line longer than 65536 bytes"));
        assert_eq!(got[2], (Some(3), "http://a/after".into(), None));
    }

    #[test]
    fn shards_split_by_origin_and_bad_urls_go_to_shard_0() {
        let input = b"http://a.test/1
http://A.TEST:80/2
https://a.test/3
not a url
http://b.test/x
"
        .to_vec();
        let mut kept: Vec<Vec<String>> = Vec::new();
        for i in 0..3 {
            let mut lines = Lines::new(Chunks(vec![input.clone()], true), Rc::default());
            lines.shard = Some((i, 3));
            kept.push(lines.map(|r| r.url).collect());
        }
        let all: usize = kept.iter().map(Vec::len).sum();
        assert_eq!(all, 5, "each line in exactly one shard: {kept:?}");
        assert!(kept[0].contains(&"not a url".to_string()));
        let with_a: Vec<usize> = (0..3)
            .filter(|&i| kept[i].iter().any(|u| u.contains("a.test/1")))
            .collect();
        assert!(
            kept[with_a[0]].iter().any(|u| u.ends_with("/2")),
            "same origin, same shard: {kept:?}"
        );
        // The documented function: FNV-1a 64 of the origin string.
        assert_eq!(shard_of("http://a.test", u64::MAX), 0xb02f_3dfa_f6bc_4234);
        assert_eq!(shard_of("http://a.test", 7), 0xb02f_3dfa_f6bc_4234 % 7);
    }

    #[test]
    fn bytes_that_are_not_utf8_make_an_error_item() {
        let got = read_all(vec![b"http://a/\xff\nhttp://a/ok\n".to_vec()]);
        assert_eq!(got[0].2.as_deref(), Some("not UTF-8 (byte 10 of the line)"));
        assert_eq!(got[1], (Some(2), "http://a/ok".into(), None));
    }
}
