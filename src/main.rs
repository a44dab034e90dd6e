//! The `oneloop` command-line tool. Depends on std and the library only:
//! argument parsing, JSON Lines and the progress line are written by hand.

use oneloop::demo::{DemoNameserver, DemoServer};
use oneloop::{Config, Crawler, Method, Outcome, Summary};
use std::io::{self, BufRead, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
oneloop: fetch very many HTTP pages from one thread

USAGE:
    oneloop crawl [FILE|-] [OPTIONS]   URLs from FILE (one per line; default: stdin),
                                       JSON Lines on stdout, summary on stderr
    oneloop demo [OPTIONS]             crawl an embedded loopback server, print the summary

DEMO OPTIONS:
    --urls N                   URLs to crawl (default 100000)
    --hosts N                  virtual hosts (loopback ports) (default 10)
    --page-size BYTES          size of each page (default 1024)
    --jsonl                    also print one JSON line per outcome on stdout
    --tls                      serve HTTPS (certificate from a private CA made at start)
    --names N                  host names h0.demo.test.. resolved through an embedded
                               loopback nameserver (default 100; 0 = use 127.0.0.1)

CRAWL OPTIONS (both commands):
    --concurrency N            requests in flight, all hosts (default 100)
    --per-host N               requests in flight per origin (default 6)
    --max-connections N        open connections, all origins (default 100)
    --max-connections-per-host N
    --idle-timeout SECS        close pooled connections idle this long (default 90)
    --max-requests-per-connection N   (default 0: unlimited)
    --connect-timeout SECS     (default 10)
    --head-timeout SECS        from sending to the end of the response head (default 30)
    --body-idle-timeout SECS   longest silence inside a body (default 30)
    --total-timeout SECS       per request, queue time included (default 120)
    --max-head-bytes N         (default 65536)
    --max-headers N            (default 100)
    --max-body-bytes N         (default 10485760)
    --max-parked N             URLs read ahead of being started (default 1024)
    --method GET|HEAD|POST     (default GET)
    --header 'Name: value'     extra request header (repeatable)
    --user-agent STRING
    --no-body                  count body bytes, do not keep them
    --resolve HOST=IP          use IP for HOST (repeatable)
    --ca-file PEM              also trust the root certificates in this PEM file
    --no-webpki-roots          trust only --ca-file roots
    --insecure                 DANGER: accept any TLS certificate (prints a warning)
    --tls-handshake-timeout SECS  (default 10)
    --nameserver IP[:PORT]     DNS server to use (repeatable; default: /etc/resolv.conf)
    --dns-timeout DUR          per try (default 2s, or resolv.conf's timeout:)
    --dns-attempts N           rounds over all nameservers (default 2)
    --no-ipv6                  ask for A records only (no AAAA)
    --tls-session-cache N      TLS sessions kept for resumption, 0 = off (default 1024)
    --stall-threshold-ms N     report callbacks longer than this (default 20)

POLITENESS (crawl defaults are safe for real sites; demo turns pacing off):
    --delay DUR                minimum time between request starts per host (default 0)
    --jitter DUR               random extra delay, 0..DUR, per start (default 0)
    --rate R                   requests per second per host, token bucket (default 10)
    --burst N                  token bucket size (default 2)
    --no-rate                  no per-host rate limit
    --no-pacing                no delay, no jitter, no rate (for loopback servers)
    --no-adaptive              do not halve a host's concurrency on 429
    --max-pause DUR            cap on Retry-After pauses (default 300s)
    --retries N                retries of retryable failures, GET/HEAD only (default 2)
    --retry-backoff DUR        first backoff, doubled each retry (default 250ms)
    --max-redirects N          (default 10)
    --no-redirects             return 3xx responses as they are
    --data STRING              request body (use with --method POST)

DUR is a number with a unit (250ms, 1.5s, 2m) or plain seconds.
    --trace                    log connection state transitions (with a log backend)
    --no-progress              never print the progress line
    --no-jsonl                 crawl: print only the summary (benchmarks)
";

struct Options {
    config: Config,
    input: Option<String>,
    urls: u64,
    hosts: usize,
    page_size: usize,
    jsonl: bool,
    progress: bool,
    tls: bool,
    names: u64,
}

fn parse_args(args: &[String], demo: bool) -> Result<Options, String> {
    let mut o = Options {
        // The demo crawls its own loopback server: pacing would only measure
        // the pacer.
        config: if demo {
            Config::local()
        } else {
            Config::default()
        },
        input: None,
        urls: 100_000,
        hosts: 10,
        page_size: 1024,
        jsonl: !demo,
        progress: true,
        tls: false,
        names: 100,
    };
    let c = &mut o.config;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg, None),
        };
        let takes_value = !matches!(
            name,
            "--jsonl"
                | "--no-body"
                | "--trace"
                | "--no-progress"
                | "-h"
                | "--help"
                | "--tls"
                | "--insecure"
                | "--no-webpki-roots"
                | "--no-rate"
                | "--no-pacing"
                | "--no-adaptive"
                | "--no-redirects"
                | "--no-ipv6"
                | "--no-jsonl"
        ) && name.starts_with('-')
            && name != "-";
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))?
                }
            }
        } else {
            String::new()
        };
        let num = |v: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        let secs = |v: &str| -> Result<Duration, String> {
            match duration(v) {
                Some(d) if !d.is_zero() => Ok(d),
                _ => Err(format!("{name}: not a positive duration: {v}")),
            }
        };
        let dur = |v: &str| -> Result<Duration, String> {
            duration(v).ok_or_else(|| format!("{name}: not a duration: {v}"))
        };
        match name {
            "-h" | "--help" => return Err(String::new()),
            "--urls" if demo => o.urls = num(&value)?,
            "--hosts" if demo => o.hosts = num(&value)?.clamp(1, 1000) as usize,
            "--page-size" if demo => o.page_size = num(&value)? as usize,
            "--jsonl" => o.jsonl = true,
            "--no-jsonl" => o.jsonl = false,
            "--tls" if demo => o.tls = true,
            "--names" if demo => o.names = num(&value)?,
            "--nameserver" => {
                let addr = value
                    .parse::<std::net::SocketAddr>()
                    .or_else(|_| value.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                    .map_err(|_| format!("--nameserver: expected IP[:PORT], got {value}"))?;
                c.dns.nameservers.push(addr);
            }
            "--dns-timeout" => c.dns.timeout = secs(&value)?,
            "--dns-attempts" => c.dns.attempts = num(&value)?.clamp(1, 10) as u32,
            "--no-ipv6" => c.dns.ipv6 = false,
            "--ca-file" => c.tls.ca_file = Some(value.into()),
            "--no-webpki-roots" => c.tls.webpki_roots = false,
            "--insecure" => {
                eprintln!("oneloop: WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read and alter this traffic");
                c.tls.danger_accept_invalid_certs = true
            }
            "--tls-handshake-timeout" => c.timeouts.tls_handshake = secs(&value)?,
            "--tls-session-cache" => c.tls.session_cache = num(&value)? as usize,
            "--no-progress" => o.progress = false,
            "--concurrency" => c.concurrency = num(&value)? as usize,
            "--per-host" => c.per_host = num(&value)? as usize,
            "--max-connections" => c.connections.max_total = num(&value)? as usize,
            "--max-connections-per-host" => c.connections.max_per_host = num(&value)? as usize,
            "--idle-timeout" => c.connections.idle_timeout = secs(&value)?,
            "--max-requests-per-connection" => {
                c.connections.max_requests = num(&value)?.min(u32::MAX as u64) as u32
            }
            "--connect-timeout" => c.timeouts.connect = secs(&value)?,
            "--head-timeout" => c.timeouts.head = secs(&value)?,
            "--body-idle-timeout" => c.timeouts.body_idle = secs(&value)?,
            "--total-timeout" => c.timeouts.total = secs(&value)?,
            "--max-head-bytes" => c.limits.max_head_bytes = num(&value)? as usize,
            "--max-headers" => c.limits.max_headers = num(&value)? as usize,
            "--max-body-bytes" => c.limits.max_body_bytes = num(&value)?,
            "--max-parked" => c.max_parked = num(&value)? as usize,
            "--method" => {
                c.request.method = match value.to_ascii_uppercase().as_str() {
                    "GET" => Method::Get,
                    "HEAD" => Method::Head,
                    "POST" => Method::Post,
                    _ => return Err(format!("--method: GET, HEAD or POST, not {value}")),
                }
            }
            "--header" => {
                let (n, v) = value
                    .split_once(':')
                    .ok_or_else(|| format!("--header: expected 'Name: value', got {value}"))?;
                c.request
                    .headers
                    .push((n.trim().to_string(), v.trim().to_string()));
            }
            "--user-agent" => c.request.user_agent = value,
            "--no-body" => c.request.keep_body = false,
            "--resolve" => {
                let (host, ip) = value
                    .rsplit_once('=')
                    .ok_or_else(|| format!("--resolve: expected HOST=IP, got {value}"))?;
                let ip = ip
                    .trim_matches(|ch| ch == '[' || ch == ']')
                    .parse()
                    .map_err(|_| format!("--resolve: not an IP address: {ip}"))?;
                c.resolve.push((host.to_string(), ip));
            }
            "--delay" => c.pacing.delay = dur(&value)?,
            "--jitter" => c.pacing.jitter = dur(&value)?,
            "--rate" => match value.parse::<f64>() {
                Ok(r) if r > 0.0 && r.is_finite() => c.pacing.rate = Some(r),
                _ => return Err(format!("--rate: not a positive number: {value}")),
            },
            "--burst" => c.pacing.burst = num(&value)?.clamp(1, u32::MAX as u64) as u32,
            "--no-rate" => c.pacing.rate = None,
            "--no-pacing" => {
                c.pacing.delay = Duration::ZERO;
                c.pacing.jitter = Duration::ZERO;
                c.pacing.rate = None;
            }
            "--no-adaptive" => c.pacing.adaptive = false,
            "--max-pause" => c.pacing.max_pause = dur(&value)?,
            "--retries" => c.retry.max_retries = num(&value)?.min(100) as u32,
            "--retry-backoff" => c.retry.backoff = dur(&value)?,
            "--max-redirects" => c.redirects.max = num(&value)?.min(1000) as u32,
            "--no-redirects" => c.redirects.follow = false,
            "--data" => c.request.body = value.into_bytes(),
            "--stall-threshold-ms" => c.stall_threshold = Duration::from_millis(num(&value)?),
            "--trace" => c.trace = true,
            _ if !demo && o.input.is_none() && (!name.starts_with('-') || name == "-") => {
                o.input = Some(arg.to_string())
            }
            _ => return Err(format!("unknown argument: {arg}")),
        }
        i += 1;
    }
    Ok(o)
}

/// `250ms`, `1.5s`, `2m`, or plain seconds.
fn duration(v: &str) -> Option<Duration> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    let x: f64 = num.trim().parse().ok()?;
    let secs = x * scale;
    (secs >= 0.0 && secs.is_finite() && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// One outcome as one JSON object (no trailing newline).
fn outcome_json(out: &mut String, o: &Outcome) {
    out.push_str(&format!("{{\"id\":{},\"url\":", o.id));
    json_str(out, &o.url);
    match &o.result {
        Ok(r) => out.push_str(&format!(
            ",\"status\":{},\"bytes\":{}",
            r.status, r.body_len
        )),
        Err(e) => {
            out.push_str(",\"error\":{\"phase\":");
            json_str(out, e.phase.as_str());
            out.push_str(",\"kind\":");
            json_str(out, e.kind.as_str());
            out.push_str(",\"detail\":");
            json_str(out, &e.detail);
            out.push('}');
        }
    }
    if !o.redirects.is_empty() {
        out.push_str(",\"final_url\":");
        json_str(out, o.final_url());
        out.push_str(&format!(",\"redirects\":{}", o.redirects.len()));
    }
    if !o.retries.is_empty() {
        out.push_str(",\"retried\":[");
        for (i, cause) in o.retries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(out, &cause.to_string());
        }
        out.push(']');
    }
    let t = &o.timings;
    out.push_str(&format!(
        ",\"attempts\":{},\"reused\":{},\"ms\":{{\"queued\":{},\"connect\":{},\"ttfb\":{},\"total\":{}}}}}",
        o.attempts,
        o.reused,
        ms(t.queued),
        t.connect.map_or("null".into(), ms),
        t.ttfb.map_or("null".into(), ms),
        ms(t.total)
    ));
}

/// The callback shared by both commands: JSON Lines and the progress line.
struct Reporter {
    out: Option<BufWriter<io::Stdout>>,
    line: String,
    progress: bool,
    started: Instant,
    last_progress: Instant,
    done: u64,
    errors: u64,
    broken_pipe: bool,
    handle: Option<oneloop::Handle>,
}

impl Reporter {
    fn new(jsonl: bool, progress: bool) -> Reporter {
        let now = Instant::now();
        Reporter {
            out: jsonl.then(|| BufWriter::with_capacity(64 * 1024, io::stdout())),
            line: String::new(),
            progress: progress && io::stderr().is_terminal(),
            started: now,
            last_progress: now,
            done: 0,
            errors: 0,
            broken_pipe: false,
            handle: None,
        }
    }

    fn on_outcome(&mut self, o: &Outcome) {
        self.done += 1;
        self.errors += o.result.is_err() as u64;
        if let Some(out) = &mut self.out {
            self.line.clear();
            outcome_json(&mut self.line, o);
            self.line.push('\n');
            if out.write_all(self.line.as_bytes()).is_err() {
                self.broken_pipe = true;
            }
        }
        if self.progress && self.done % 256 == 0 {
            let now = Instant::now();
            if now - self.last_progress >= Duration::from_millis(200) {
                self.last_progress = now;
                let secs = (now - self.started).as_secs_f64();
                let in_flight = self.handle.as_ref().map_or(0, |h| h.in_flight());
                eprint!(
                    "\r{} done, {} errors, {:.0}/s, {} in flight   ",
                    self.done,
                    self.errors,
                    self.done as f64 / secs.max(1e-9),
                    in_flight
                );
            }
        }
    }

    fn finish(&mut self) {
        if let Some(out) = &mut self.out {
            let _ = out.flush();
        }
        if self.progress {
            eprint!("\r\x1b[K");
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
    let summary = summary.map_err(|e| e.to_string())?;
    Ok(summary)
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
    let summary = crawler
        .run(urls, |outcome| rep.on_outcome(outcome))
        .map_err(|e| e.to_string())?;
    drop(nameserver);
    let cpu_after = thread_cpu();
    rep.finish();
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

/// CPU time of the calling thread (Linux: `/proc/thread-self/schedstat`, in
/// nanoseconds), to separate the crawler's cost from the embedded server's.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let demo = match command.as_str() {
        "crawl" => false,
        "demo" => true,
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("unknown command: {other}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let options = match parse_args(&args[1..], demo) {
        Ok(o) => o,
        Err(msg) if msg.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("oneloop: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = if demo {
        run_demo(options)
    } else {
        run_crawl(options)
    };
    match result {
        Ok(summary) => {
            if demo {
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
