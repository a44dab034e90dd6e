//! The `oneloop` command-line tool. Depends on std and the library (and
//! `libc`, for signals and the open-file limit): argument parsing
//! ([`args`]), the JSON Lines output and progress line ([`report`]) and the
//! system calls ([`sys`]) are written by hand.
//!
//! Exit status: 0 when the crawl ran (whatever its outcomes), 1 when it could
//! not start or its input could not be read, 2 for a usage error, 130 after
//! SIGINT and 143 after SIGTERM (every outcome finished by then is written).

#[macro_use]
mod out;
mod args;
mod demo;
mod follow;
mod input;
mod journal;
mod observe;
mod page;
mod progress;
mod report;
mod resume;
mod save;
mod state_id;
mod sys;

use out::Failure;

use args::{Command, Options, Parsed};
use oneloop::{Config, Crawler, Summary};
use report::Reporter;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

fn main() -> ExitCode {
    sys::return_big_buffers_to_the_os();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut options = match parse_options(&argv) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if options.command == Command::Timeline {
        return draw_timeline(&options);
    }
    fit_to_open_file_limit(&mut options.config);
    let command = options.command;
    // The demo's summary is its output, unless the output is JSON lines
    // (then it goes to stderr, as crawl's does, and `| jq` works).
    let summary_on_stdout = command == Command::Demo && !options.jsonl;
    let demo = match command {
        Command::Demo => match demo::Demo::start(&mut options) {
            Ok(d) => Some(d),
            Err(e) => {
                errln!("oneloop: {e}");
                return ExitCode::FAILURE;
            }
        },
        Command::Crawl | Command::Timeline => None,
    };
    if let Err(msg) = check_paths(&options) {
        errln!("oneloop: {msg}");
        return ExitCode::FAILURE;
    }
    open_archive(&mut options);
    let mut crawler = match Crawler::new(options.config.clone()) {
        Ok(c) => c,
        Err(e) => {
            errln!("oneloop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut events = match Events::open(&options) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if events.watch.lock().is_ok_and(|w| w.is_on()) {
        crawler.set_observer(observe::Watch::observer(&events.watch));
    }
    let interrupted = match sys::on_interrupt(crawler.handle(), options.stop_grace) {
        Ok(flag) => Some(flag),
        Err(e) => {
            errln!("oneloop: cannot handle Ctrl-C ({e}); it will end the process at once");
            None
        }
    };
    let result = match demo {
        Some(demo) => demo::run_demo(&mut crawler, demo, options),
        None => run_crawl(&mut crawler, options),
    };
    crawler.clear_observer();
    let events_written = events.finish();
    let mut status = report_result(result, summary_on_stdout);
    if !events_written {
        status = ExitCode::FAILURE;
    }
    match interrupted.map_or(0, |s| s.load(Ordering::SeqCst)) {
        0 => status,
        signal => ExitCode::from(128 + signal),
    }
}

/// Every file and directory the run will write, checked before anything
/// is fetched (not after the crawl): an unwritable place names itself.
fn check_paths(o: &Options) -> Result<(), String> {
    let parent = |p: &str| -> std::path::PathBuf {
        match std::path::Path::new(p).parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => ".".into(),
        }
    };
    let writable = |what: &str, dir: &std::path::Path| {
        sys::check_writable(dir).map_err(|e| format!("{what}: {}: {e}", dir.display()))
    };
    if let Some(prefix) = &o.warc {
        writable(&format!("--warc {prefix}"), &parent(prefix))?;
    }
    for (flag, dir) in [("--save", &o.save), ("--state", &o.state)] {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("{flag} {dir}: {e}"))?;
            writable(&format!("{flag} {dir}"), std::path::Path::new(dir))?;
        }
    }
    let outputs = [
        ("--events", &o.events),
        ("--timeline", &o.timeline),
        ("--output", &o.output),
    ];
    for (flag, path) in outputs {
        if let Some(path) = path {
            writable(&format!("{flag} {path}"), &parent(path))?;
        }
    }
    Ok(())
}

/// The command line, checked: options, or the exit code to leave with
/// (help printed, or a usage error).
fn parse_options(argv: &[String]) -> Result<Options, ExitCode> {
    let mut options = match args::parse(argv) {
        Ok(Parsed::Help(command)) => {
            let _ = io::stdout().write_all(args::usage_of(command).as_bytes());
            return Err(ExitCode::SUCCESS);
        }
        Ok(Parsed::Version) => {
            outln!("oneloop {}", env!("CARGO_PKG_VERSION"));
            return Err(ExitCode::SUCCESS);
        }
        Ok(Parsed::Run(o)) => *o,
        Err(msg) => return Err(usage_error(&msg)),
    };
    // What the flags could not check one by one (headers that would inject
    // another header or take over framing, say) is a usage error too.
    if let Err(e) = options.config.validate() {
        return Err(usage_error(&e.detail));
    }
    observe::install_logger(options.log_level, options.deps_log_level);
    if options.command == Command::Crawl {
        if let Err(msg) = proxies_from_env(&mut options) {
            return Err(usage_error(&msg));
        }
    }
    if options.save.is_some() && !options.config.request.keep_body {
        return Err(usage_error("--save needs the bodies: drop --no-body"));
    }
    if options.follow && options.shard.is_some() && options.state.is_none() {
        return Err(usage_error(
            "--shard with --follow needs --state DIR (it keeps the seen-set across rounds and the divert-J.txt files)",
        ));
    }
    if options.warc.is_some() && !options.config.request.keep_body {
        return Err(usage_error("--warc needs the bodies: drop --no-body"));
    }
    let files = options.save.is_some() || options.warc.is_some();
    if options.queue > 0 && options.workers.is_none() && !files {
        return Err(usage_error(
            "--queue sizes the workers' queue: use it with --workers (or --save, --warc)",
        ));
    }
    if options.config.tls.danger_accept_invalid_certs {
        errln!("oneloop: WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read and alter this traffic");
    }
    Ok(options)
}

/// Proxies from the environment, as curl reads them: `https_proxy` (or
/// `HTTPS_PROXY`) for https URLs, `http_proxy` for http ones (lower case
/// only: `HTTP_PROXY` can be set by a web client in CGI), `all_proxy` (or
/// `ALL_PROXY`) for both when the scheme's own is not set, `no_proxy` (or
/// `NO_PROXY`) for exceptions. `--proxy` and `--no-proxy` win over them.
/// Like Go's `ProxyFromEnvironment`, loopback hosts never take a proxy
/// that came from the environment (the demo never takes one).
fn proxies_from_env(o: &mut Options) -> Result<(), String> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    };
    let parse = |what: &str, v: String| {
        oneloop::proxy::Proxy::parse(&v).map_err(|e| format!("${what}: {}", e.detail))
    };
    if !o.proxy_given {
        // Any name under localhost (RFC 6761), 127/8 and ::1, with or
        // without a trailing dot (no_proxy_matches ignores it).
        let loopback = ["localhost", "127.0.0.0/8", "::1"].map(String::from);
        o.config.proxy.no_proxy.extend(loopback);
        let all = var(&["all_proxy", "ALL_PROXY"]);
        if let Some(v) = var(&["http_proxy"]).or_else(|| all.clone()) {
            o.config.proxy.http = Some(parse("http_proxy", v)?);
        }
        if let Some(v) = var(&["https_proxy", "HTTPS_PROXY"]).or(all) {
            o.config.proxy.https = Some(parse("https_proxy", v)?);
        }
    }
    if !o.no_proxy_given {
        if let Some(v) = var(&["no_proxy", "NO_PROXY"]) {
            let hosts = v.split(',').map(|h| h.trim().to_string());
            o.config.proxy.no_proxy.extend(hosts);
        }
    }
    Ok(())
}

/// Where events go: printed (`--trace`), written (`--events`), drawn
/// (`--timeline`, through a temporary events file when `--events` is not
/// given).
struct Events {
    watch: Arc<Mutex<observe::Watch>>,
    path: Option<String>,
    timeline: Option<String>,
    temporary: bool,
}

impl Events {
    fn open(options: &Options) -> Result<Events, ExitCode> {
        let path = options.events.clone().or_else(|| {
            options.timeline.as_ref().map(|_| {
                let dir = std::env::temp_dir();
                let file = format!("oneloop-events-{}.jsonl", std::process::id());
                dir.join(file).to_string_lossy().into_owned()
            })
        });
        let file = match path.as_deref().map(std::fs::File::create) {
            None => None,
            Some(Ok(f)) => Some(f),
            Some(Err(e)) => {
                errln!("oneloop: {}: {e}", path.as_deref().unwrap_or(""));
                return Err(ExitCode::FAILURE);
            }
        };
        Ok(Events {
            watch: Arc::new(Mutex::new(observe::Watch::new(options.trace, file))),
            path,
            timeline: options.timeline.clone(),
            temporary: options.events.is_none(),
        })
    }

    /// Flushes the events file and draws the timeline, if asked. False if
    /// either could not be written (the exit status says so).
    fn finish(&mut self) -> bool {
        let mut ok = true;
        if let Ok(mut w) = self.watch.lock() {
            w.finish();
            if let Some(e) = w.error.take() {
                errln!("oneloop: writing events: {e}");
                ok = false;
            }
        }
        let (Some(svg), Some(events)) = (&self.timeline, self.path.as_deref()) else {
            return ok;
        };
        match oneloop::timeline::render(events, svg) {
            Ok(d) => errln!(
                "timeline: {} of {} connections, {} segments, {} KiB in {svg}",
                d.lanes,
                d.connections,
                d.segments,
                d.bytes / 1024
            ),
            Err(e) => {
                errln!("oneloop: timeline: {e}");
                ok = false;
            }
        }
        if self.temporary {
            let _ = std::fs::remove_file(events);
        }
        ok
    }
}

/// Prints the summary (stdout for the demo without JSON lines, else
/// stderr: stdout is the JSON lines) and says how the run ended.
fn report_result(result: Result<Summary, Failure>, on_stdout: bool) -> ExitCode {
    match result {
        Ok(summary) => {
            if on_stdout {
                outln!("{summary}");
            } else {
                errln!("{summary}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Ran(msg, summary)) => {
            errln!("{summary}");
            errln!("oneloop: {msg}");
            ExitCode::FAILURE
        }
        Err(Failure::Start(msg)) => {
            errln!("oneloop: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `oneloop timeline EVENTS [-o SVG]`.
fn draw_timeline(o: &Options) -> ExitCode {
    let Some(events) = o.input.as_deref() else {
        return usage_error("timeline needs an events file (from --events)");
    };
    if let Err(msg) = check_paths(o) {
        errln!("oneloop: {msg}");
        return ExitCode::FAILURE;
    }
    let svg = o.output.clone().unwrap_or_else(|| {
        let stem = events.strip_suffix(".jsonl").unwrap_or(events);
        format!("{stem}.svg")
    });
    match oneloop::timeline::render(events, &svg) {
        Ok(d) => {
            if d.truncated {
                errln!("oneloop: {events}: the last line is cut short (a crawl killed while writing?): drawn without it");
            }
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

fn run_crawl(crawler: &mut Crawler, o: Options) -> Result<Summary, Failure> {
    let name = o.input.clone().unwrap_or_else(|| "-".into());
    let reader: Box<dyn io::Read + Send> = match o.input.as_deref() {
        // `crawl URL [URL...]`: the arguments are the input.
        None if !o.url_args.is_empty() => {
            Box::new(io::Cursor::new(o.url_args.join("\n").into_bytes()))
        }
        None | Some("-") => Box::new(io::stdin()),
        Some(path) => {
            // A directory opens, and fails at the first read: a read error,
            // reported after the summary like any other.
            let file =
                std::fs::File::open(path).map_err(|e| Failure::Start(format!("{path}: {e}")))?;
            Box::new(file)
        }
    };
    let size = o
        .input
        .as_deref()
        .filter(|p| *p != "-")
        .and_then(|p| std::fs::metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let total = size.map_or(progress::Total::Unknown, progress::Total::FileOf);
    // Which input this run reads: on its first output line, for --resume.
    let fingerprint = match (size, o.input.as_deref()) {
        (Some(_), Some(path)) => oneloop::jsonl::resume::Fingerprint::of_file(path).ok(),
        _ => None,
    };
    let finished = match o.resume.as_deref() {
        Some(prev) => Some(resume::load(prev, fingerprint).map_err(Failure::Start)?),
        None => None,
    };
    let mut rep = Reporter::new(o.jsonl, o.progress, o.force_progress, total);
    rep.first_line_tag = fingerprint.map(|f| f.json_field());
    if let (Some(prev), Some(f)) = (o.resume.as_deref(), &finished) {
        if resume::stdout_continues_cut(prev, f) {
            rep.write_raw("\n");
        }
    }
    let error = input::ReadError::default();
    let mut urls = input::Lines::new(reader, error.clone());
    urls.counts = Some(rep.counts.clone());
    // A following crawl sees every seed (another shard's host is in scope
    // too: its links are diverted there, not dropped).
    urls.shard = if o.follow { None } else { o.shard };
    urls.jsonl = o.input_jsonl;
    if o.input_jsonl {
        urls.max_line = input::max_json_line(
            usize::try_from(o.config.limits.max_body_bytes).unwrap_or(usize::MAX),
        );
    }
    if let Some(prev) = &o.if_changed {
        let read = std::fs::File::open(prev).and_then(oneloop::jsonl::validators::Validators::read);
        let v = read.map_err(|e| Failure::Start(format!("--if-changed {prev}: {e}")))?;
        errln!("if-changed: validators for {} URLs from {prev}", v.len());
        let v = std::sync::Arc::new(v);
        rep.validators = Some(v.clone());
        urls.validators = Some(v);
    }
    let skipped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    urls.skip = finished.map(|f| (std::sync::Arc::new(f), skipped.clone()));
    // Read on a thread of its own: a pipe that pauses must not pause the
    // loop (requests in flight go on; the loop is woken when lines come).
    let urls = oneloop::input::InputThread::new(urls, 1024);
    let summary = if o.follow {
        follow::crawl_following(crawler, urls, &o, &mut rep).map_err(Failure::Start)?
    } else {
        page::crawl_pages(crawler, urls, &o, &mut rep, None)
    };
    rep.finish();
    let summary = summary.map_err(|e| Failure::Start(e.to_string()))?;
    if let Some(prev) = &o.resume {
        let n = skipped.load(Ordering::Relaxed);
        errln!("resume: {n} input lines skipped, finished in {prev}");
    }
    if let Some(why) = rep.failure() {
        return Err(Failure::Ran(why, Box::new(summary)));
    }
    let error = error.lock().ok().and_then(|mut e| e.take());
    match error {
        Some(e) => Err(Failure::Ran(
            format!("reading {name}: {e}"),
            Box::new(summary),
        )),
        None => Ok(summary),
    }
}

/// `--warc`: the archive, shared by the pages' workers and the robots sink
/// (each robots.txt the gate fetched is archived too, on a worker).
fn open_archive(o: &mut Options) {
    let Some(prefix) = o.warc.as_deref() else {
        return;
    };
    let writer = std::sync::Arc::new(oneloop::warc::Writer::new(
        prefix,
        o.warc_max_size,
        o.warc_level,
    ));
    let sink = writer.clone();
    // A failed write is kept by the writer: the next page's check stops
    // the crawl, said.
    o.config.robots.on_fetch = Some(oneloop::RobotsSink::new(move |fetch| {
        let _ = sink.archive(fetch);
    }));
    o.warc_writer = Some(writer);
}
