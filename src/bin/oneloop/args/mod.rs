//! Command-line arguments, in the style of lexopt and pico-args but with no
//! dependency: every flag is defined once, in [`FLAGS`] (its name, its value,
//! its section of the help, its help line and what it sets), and both the
//! parser and the help text are made from that table.

use oneloop::{Config, Method};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// `--help` (or `help`): print the usage (of one command, after it),
    /// exit 0.
    Help(Option<Command>),
    /// `--version` or `-V`: print the version, exit 0.
    Version,
    /// Run a command with these options.
    Run(Box<Options>),
}

/// The commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Crawl URLs from a file or stdin.
    Crawl,
    /// Crawl an embedded loopback server.
    Demo,
    /// Draw an events file as an SVG timeline.
    Timeline,
}

/// Everything the flags set.
#[derive(Debug)]
pub struct Options {
    pub command: Command,
    pub config: Config,
    /// `crawl`: the input file (`None` or `-`: stdin).
    pub input: Option<String>,
    /// `crawl URL [URL...]`: URLs given as arguments, as curl and wget
    /// take them (then there is no input file).
    pub url_args: Vec<String>,
    /// The flags given, in order (for the checks between them).
    pub given: Vec<&'static str>,
    pub urls: u64,
    pub hosts: usize,
    pub page_size: usize,
    pub jsonl: bool,
    pub progress: bool,
    /// `--progress`: print the progress line even when stderr is not a terminal.
    pub force_progress: bool,
    /// `--proxy` / `--no-proxy` were given (then the environment is not read).
    pub proxy_given: bool,
    pub no_proxy_given: bool,
    pub tls: bool,
    pub names: u64,
    /// demo: sleep this long in the callback of every page.
    pub block_ms: u64,
    /// demo: busy-loop this long in the callback of every page.
    pub work_ms: u64,
    /// demo: the server answers each request this long after it arrived.
    pub server_delay_ms: u64,
    /// Worker threads for the per-page work (`None`: on the loop's thread).
    pub workers: Option<usize>,
    /// The workers' queue (0: the concurrency, at least four per thread).
    pub queue: usize,
    /// Save each 2xx body under this directory (on the workers).
    pub save: Option<String>,
    /// Keep only the input lines of shard I of N (by origin).
    pub shard: Option<(u64, u64)>,
    /// `--warc PREFIX`: archive every response; rotate at this size; gzip
    /// level.
    pub warc: Option<String>,
    pub warc_max_size: u64,
    pub warc_level: u8,
    /// The archive `--warc` opens (in `main`, once the paths are checked):
    /// the pages' workers and the robots sink share it.
    pub warc_writer: Option<std::sync::Arc<oneloop::warc::Writer>>,
    /// `--resume PREV`: skip the input lines PREV's outcomes finished.
    pub resume: Option<String>,
    /// `--input jsonl`: each input line is a JSON request.
    pub input_jsonl: bool,
    /// `--follow`: the input lines are seeds; links are followed by these
    /// rules.
    pub follow: bool,
    pub frontier: oneloop::frontier::FrontierConfig,
    /// `--max-frontier-memory`: queued URLs kept in memory, in bytes.
    pub max_frontier_memory: usize,
    /// `--state DIR`: the follow crawl's checkpoint.
    pub state: Option<String>,
    /// `--sitemaps`: read each seed origin's robots.txt `Sitemap:` lines
    /// and /sitemap.xml.
    pub sitemaps: bool,
    /// `--max-depth` was given (the demo's site otherwise sets it to its
    /// own depth).
    pub max_depth_given: bool,
    /// demo --follow: pages in the site.
    pub pages: u64,
    /// `--if-changed PREV`: conditional requests from PREV's validators.
    pub if_changed: Option<String>,
    /// After the first SIGINT/SIGTERM, how long requests in flight may finish.
    pub stop_grace: Duration,
    /// Print every event (state transitions, loop turns...) on stderr.
    pub trace: bool,
    /// The `log` messages shown on stderr.
    pub log_level: log::LevelFilter,
    /// The same for the dependencies (mio, rustls).
    pub deps_log_level: log::LevelFilter,
    /// Write every event as JSON Lines to this file.
    pub events: Option<String>,
    /// Draw the crawl's timeline into this SVG file.
    pub timeline: Option<String>,
    /// `timeline`: the SVG to write.
    pub output: Option<String>,
}

impl Options {
    fn new(command: Command) -> Options {
        let demo = command == Command::Demo;
        Options {
            command,
            // The demo crawls its own loopback server: pacing would only
            // measure the pacer.
            config: if demo {
                Config::local()
            } else {
                Config::default()
            },
            input: None,
            url_args: Vec::new(),
            given: Vec::new(),
            urls: 100_000,
            hosts: 10,
            page_size: 1024,
            jsonl: !demo,
            progress: true,
            force_progress: false,
            proxy_given: false,
            no_proxy_given: false,
            tls: false,
            names: 100,
            block_ms: 0,
            work_ms: 0,
            server_delay_ms: 0,
            workers: None,
            queue: 0,
            save: None,
            shard: None,
            resume: None,
            input_jsonl: false,
            follow: false,
            frontier: oneloop::frontier::FrontierConfig::default(),
            max_depth_given: false,
            sitemaps: false,
            state: None,
            max_frontier_memory: 16 << 20,
            pages: 10_000,
            if_changed: None,
            warc: None,
            warc_writer: None,
            warc_max_size: 1 << 30,
            warc_level: 1,
            stop_grace: Duration::from_secs(5),
            trace: false,
            log_level: log::LevelFilter::Warn,
            deps_log_level: log::LevelFilter::Warn,
            events: None,
            timeline: None,
            output: None,
        }
    }
}

/// Where a flag shows up in the help (and, for `Demo`, where it is allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Timeline,
    Demo,
    Input,
    Follow,
    Limits,
    Timeouts,
    Request,
    Politeness,
    Dns,
    Proxy,
    Tls,
    Work,
    Output,
}

const SECTIONS: [(Section, &str); 13] = [
    (Section::Timeline, "TIMELINE OPTIONS (timeline only)"),
    (Section::Demo, "DEMO OPTIONS (demo only)"),
    (Section::Input, "INPUT (crawl)"),
    (Section::Follow, "FOLLOWING LINKS (crawl --follow)"),
    (Section::Limits, "LIMITS"),
    (
        Section::Timeouts,
        "TIMEOUTS (DUR: 250ms, 1.5s, 2m, or plain seconds)",
    ),
    (Section::Request, "REQUESTS"),
    (
        Section::Politeness,
        "POLITENESS (crawl defaults are safe for real sites; demo turns pacing off)",
    ),
    (Section::Dns, "DNS"),
    (Section::Proxy, "PROXIES"),
    (Section::Tls, "TLS"),
    (Section::Work, "WORK OFF THE LOOP"),
    (Section::Output, "OUTPUT"),
];

type Apply = fn(&mut Options, &str) -> Result<(), String>;

/// One flag: defined once, used by the parser and the help.
struct Flag {
    name: &'static str,
    /// The value's placeholder, if the flag takes one.
    value: Option<&'static str>,
    section: Section,
    help: &'static str,
    apply: Apply,
}

const fn flag(
    name: &'static str,
    value: Option<&'static str>,
    section: Section,
    help: &'static str,
    apply: Apply,
) -> Flag {
    Flag {
        name,
        value,
        section,
        help,
        apply,
    }
}

const N: Option<&str> = Some("N");
const DUR: Option<&str> = Some("DUR");
const NONE: Option<&str> = None;

use Section::*;

/// Every flag of both commands.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    flag("--output", Some("FILE"), Timeline, "the SVG to write (also -o; default: EVENTS with .svg)", |o, v| { o.output = Some(v.to_string()); Ok(()) }),

    flag("--urls", N, Demo, "URLs to crawl (default 100000)", |o, v| { o.urls = num(v, 0, u64::MAX)?; Ok(()) }),
    flag("--hosts", N, Demo, "virtual hosts (loopback ports) (default 10, at most 1000)", |o, v| { o.hosts = num(v, 1, 1000)? as usize; Ok(()) }),
    flag("--page-size", Some("BYTES"), Demo, "size of each page (default 1024)", |o, v| { o.page_size = num(v, 0, 1 << 30)? as usize; Ok(()) }),
    flag("--tls", NONE, Demo, "serve HTTPS (certificate from a private CA made at start)", |o, _| { o.tls = true; Ok(()) }),
    flag("--server-delay-ms", N, Demo, "the demo server answers each request N ms after it arrives, like a distant server (plain HTTP; default 0)", |o, v| { o.server_delay_ms = num(v, 0, 60_000)?; Ok(()) }),
    flag("--robots", NONE, Demo, "fetch and obey robots.txt in the demo too (its server answers with a page: everything allowed)", |o, _| { o.config.robots.enabled = true; Ok(()) }),
    flag("--block-ms", N, Demo, "sleep N ms in the callback of every page: the blocking-call pitfall (stalls; cure: --workers)", |o, v| { o.block_ms = num(v, 0, 60_000)?; Ok(()) }),
    flag("--work-ms", N, Demo, "busy-loop N ms of CPU in the callback of every page (scales with cores, not threads)", |o, v| { o.work_ms = num(v, 0, 60_000)?; Ok(()) }),
    flag("--pages", N, Demo, "with --follow: the demo server serves a site of N linked pages (default 10000): page K links to pages 8K+1..8K+8 over the ports, back to the first, to a nofollow page, and the first to an endless calendar (a trap); /sitemap.xml lists one page nothing links to (found with --sitemaps); the crawl starts at the first and finds them all", |o, v| { o.pages = num(v, 1, 1 << 40)?; Ok(()) }),
    flag("--names", N, Demo, "host names h0.demo.test.. resolved through an embedded loopback nameserver (default 100; 0 = use 127.0.0.1)", |o, v| { o.names = num(v, 0, 100_000)?; Ok(()) }),

    flag("--shard", Some("I/N"), Input, "keep only the lines whose origin (scheme://host[:port]) hashes to I modulo N (FNV-1a 64 of the origin as oneloop normalizes it; bad URLs go to shard 0): N processes with I = 0..N-1 together cover the input, each line once, and each origin lives in exactly one; the other lines produce no outcome here", |o, v| { o.shard = Some(shard(v)?); Ok(()) }),

    flag("--input", Some("FORMAT"), Input, "lines (default: a URL per line) or jsonl: a JSON object per line, {\"url\": ..., \"method\": \"GET\"|\"HEAD\"|\"POST\", \"headers\": {...}, \"body\": \"<base64>\", \"meta\": <any JSON, echoed in the outcome>}, all but url optional; a malformed line is its own url:invalid_input outcome", |o, v| { o.input_jsonl = match v { "lines" => false, "jsonl" => true, _ => return Err(format!("{v:?}: lines or jsonl")) }; Ok(()) }),
    flag("--if-changed", Some("PREV"), Input, "a conditional re-crawl: send If-None-Match/If-Modified-Since with the etag/last_modified PREV (an earlier run's JSON Lines) saw for the same URL; an unchanged page is a 304, \"not_modified\":true, no body", |o, v| { o.if_changed = Some(v.to_string()); Ok(()) }),
    flag("--follow", NONE, Follow, "crawl, not only fetch: the input lines are seeds, and the links of every fetched HTML page (a/area href, frame/iframe src, meta refresh; rel=nofollow and meta robots nofollow honoured) are crawled too when in scope, unseen and not too deep; each JSON line gains \"depth\", \"from\" (the id of the page that linked to it) and \"links\" (how many it queued); a seed seen before is not fetched twice", |o, _| { o.follow = true; Ok(()) }),
    flag("--scope", Some("host|domain|any"), Follow, "which links --follow takes: the seeds' host names (default; http and https, any port), their registrable domains (www.a.example and b.a.example are a.example; a built-in list of two-label public suffixes like co.uk), or any", |o, v| { o.frontier.scope = match v { "host" => oneloop::frontier::Scope::Host, "domain" => oneloop::frontier::Scope::Domain, "any" => oneloop::frontier::Scope::Any, _ => return Err(format!("{v:?}: host, domain or any")) }; Ok(()) }),
    flag("--sitemaps", NONE, Follow, "with --follow: read each seed origin's robots.txt Sitemap: lines and /sitemap.xml; urlset and sitemapindex (nested), gzipped or not, at most 50,000 URLs and 50 MiB a file (sitemaps.org); listed pages are one step below their sitemap; these fetches have \"kind\":\"robots\" or \"sitemap\"", |o, _| { o.sitemaps = true; Ok(()) }),
    flag("--state", Some("DIR"), Follow, "with --follow: keep a checkpoint of the frontier in DIR/state.log (every URL queued and finished, append-only, synced every second and at the end); the same command with the same --state after a crash or Ctrl-C continues: nothing finished is fetched again but what was in flight, nothing discovered is lost", |o, v| { o.state = Some(v.to_string()); Ok(()) }),
    flag("--max-frontier-memory", Some("BYTES"), Follow, "with --follow: the queue of discovered URLs keeps at most this much in memory (about 20 bytes a URL); past it the longest host queues spill to a temporary file, read back by a thread of their own when their turn comes (default 16777216: 16 MiB)", |o, v| { o.max_frontier_memory = num(v, 64 * 1024, u64::MAX)? as usize; Ok(()) }),
    flag("--max-depth", N, Follow, "links followed from a seed (default 5, like wget)", |o, v| { o.frontier.max_depth = num(v, 0, 1_000_000)? as u32; o.max_depth_given = true; Ok(()) }),
    flag("--max-pages", N, Follow, "pages queued in all, seeds included (robots.txt and sitemap fetches not counted): then discovery stops (default: no budget)", |o, v| { o.frontier.max_pages = Some(num(v, 1, u64::MAX)?); Ok(()) }),
    flag("--max-pages-per-host", N, Follow, "URLs queued per host (default: no limit)", |o, v| { o.frontier.max_pages_per_host = Some(num(v, 1, u64::MAX)?); Ok(()) }),
    flag("--resume", Some("PREV"), Input, "skip the input lines whose outcome is in PREV (the JSON Lines of an earlier run on the same input, cut short by a crash or Ctrl-C): no request, no new line; cancelled outcomes and a cut last line run again; PREV from another input file is refused", |o, v| { o.resume = Some(v.to_string()); Ok(()) }),

    flag("--concurrency", N, Limits, "requests in flight, all hosts (default 100)", |o, v| { o.config.concurrency = num(v, 1, 1_000_000)? as usize; Ok(()) }),
    flag("--per-host", N, Limits, "requests in flight per origin (default 6)", |o, v| { o.config.per_host = num(v, 1, 1_000_000)? as usize; Ok(()) }),
    flag("--max-connections", N, Limits, "open connections, all origins (default 100)", |o, v| { o.config.connections.max_total = num(v, 1, 1_000_000)? as usize; Ok(()) }),
    flag("--max-connecting", N, Limits, "new connections to one host still connecting at once: bursts ramp up (default 256)", |o, v| { o.config.connections.max_connecting_per_host = num(v, 1, 1_000_000)? as usize; Ok(()) }),
    flag("--max-connections-per-host", N, Limits, "open connections per origin (default 6)", |o, v| { o.config.connections.max_per_host = num(v, 1, 1_000_000)? as usize; Ok(()) }),
    flag("--max-requests-per-connection", N, Limits, "close a connection after N requests (default 0: unlimited)", |o, v| { o.config.connections.max_requests = num(v, 0, u32::MAX as u64)? as u32; Ok(()) }),
    flag("--max-parked", N, Limits, "URLs read ahead of being started (default 1024)", |o, v| { o.config.max_parked = num(v, 1, 1_000_000)? as usize; Ok(()) }),
    flag("--max-head-bytes", N, Limits, "response head limit (default 65536)", |o, v| { o.config.limits.max_head_bytes = num(v, 64, 1 << 30)? as usize; Ok(()) }),
    flag("--max-headers", N, Limits, "response header count limit (default 100, at most 256)", |o, v| { o.config.limits.max_headers = num(v, 1, 256)? as usize; Ok(()) }),
    flag("--max-body-bytes", N, Limits, "response body limit (default 10485760)", |o, v| { o.config.limits.max_body_bytes = num(v, 0, u64::MAX)?; Ok(()) }),

    flag("--connect-timeout", DUR, Timeouts, "per connect attempt (default 10s)", |o, v| { o.config.timeouts.connect = positive(v)?; Ok(()) }),
    flag("--proxy", Some("URL"), Proxy, "send every request through this proxy: http://, socks5:// (names resolved here) or socks5h:// (by the proxy), [user:pass@]host[:port] (default: $https_proxy, $http_proxy, $all_proxy; --no-proxy or $no_proxy for exceptions)", |o, v| { let p = oneloop::proxy::Proxy::parse(v).map_err(|e| e.detail)?; o.config.proxy.http = Some(p.clone()); o.config.proxy.https = Some(p); o.proxy_given = true; Ok(()) }),
    flag("--no-proxy", Some("HOSTS"), Proxy, "comma-separated hosts that go direct, as Go reads $no_proxy: example.com (and its subdomains), .example.com (subdomains only), 10.0.0.0/8, [::1]:8080 (that port only), * for all", |o, v| { o.config.proxy.no_proxy = v.split(',').map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect(); o.no_proxy_given = true; Ok(()) }),
    flag("--happy-eyeballs", DUR, Timeouts, "try the next address (the other family first) when a connect attempt has not succeeded in this long (default 250ms)", |o, v| { o.config.timeouts.happy_eyeballs = positive(v)?; Ok(()) }),
    flag("--tls-handshake-timeout", DUR, Timeouts, "(default 10s)", |o, v| { o.config.timeouts.tls_handshake = positive(v)?; Ok(()) }),
    flag("--head-timeout", DUR, Timeouts, "from sending to the end of the response head (default 30s)", |o, v| { o.config.timeouts.head = positive(v)?; Ok(()) }),
    flag("--body-idle-timeout", DUR, Timeouts, "longest silence inside a body (default 30s)", |o, v| { o.config.timeouts.body_idle = positive(v)?; Ok(()) }),
    flag("--total-timeout", DUR, Timeouts, "per input URL, queueing, retries and redirects included (default 120s)", |o, v| { o.config.timeouts.total = positive(v)?; Ok(()) }),
    flag("--stop-grace", DUR, Timeouts, "after Ctrl-C (or SIGTERM), how long requests in flight may finish before they are cancelled (default 5s)", |o, v| { o.stop_grace = dur(v)?; Ok(()) }),
    flag("--idle-timeout", DUR, Timeouts, "close pooled connections idle this long (default 90s)", |o, v| { o.config.connections.idle_timeout = positive(v)?; Ok(()) }),

    flag("--method", Some("GET|HEAD|POST"), Request, "(default GET)", |o, v| { o.config.request.method = method(v)?; Ok(()) }),
    flag("--header", Some("'Name: value'"), Request, "extra request header (repeatable)", |o, v| { o.config.request.headers.push(header(v)?); Ok(()) }),
    flag("--user-agent", Some("STRING"), Request, "the User-Agent header", |o, v| { o.config.request.user_agent = v.to_string(); Ok(()) }),
    flag("--data", Some("STRING"), Request, "request body (use with --method POST)", |o, v| { o.config.request.body = v.as_bytes().to_vec(); Ok(()) }),
    flag("--no-body", NONE, Request, "count body bytes, do not keep them", |o, _| { o.config.request.keep_body = false; Ok(()) }),
    flag("--public-only", NONE, Request, "connect only to public addresses: loopback, private (10/8, 192.168/16, fc00::/7...), link-local (169.254.169.254), unspecified (0.0.0.0), multicast and reserved ones fail as connect: not_public, checked after DNS on the address connected to (names a proxy resolves are not seen); for crawls of URLs others submit", |o, _| { o.config.public_only = true; Ok(()) }),

    flag("--delay", DUR, Politeness, "minimum time between request starts per host (default 0)", |o, v| { o.config.pacing.delay = dur(v)?; Ok(()) }),
    flag("--jitter", DUR, Politeness, "random extra delay, 0..DUR, per start (default 0)", |o, v| { o.config.pacing.jitter = dur(v)?; Ok(()) }),
    flag("--rate", Some("R"), Politeness, "requests per second per host, token bucket (default 10)", |o, v| { o.config.pacing.rate = Some(rate(v)?); Ok(()) }),
    flag("--burst", N, Politeness, "token bucket size (default 2)", |o, v| { o.config.pacing.burst = num(v, 1, 1_000_000)? as u32; Ok(()) }),
    flag("--no-rate", NONE, Politeness, "no per-host rate limit", |o, _| { o.config.pacing.rate = None; Ok(()) }),
    flag("--no-pacing", NONE, Politeness, "no delay, no jitter, no rate (for loopback servers)", |o, _| {
        let p = &mut o.config.pacing;
        p.delay = Duration::ZERO;
        p.jitter = Duration::ZERO;
        p.rate = None;
        Ok(())
    }),
    flag("--no-adaptive", NONE, Politeness, "do not halve a host's concurrency on 429", |o, _| { o.config.pacing.adaptive = false; Ok(()) }),
    flag("--grow-after", N, Politeness, "successes that raise a lowered per-host limit by one (default 20)", |o, v| { o.config.pacing.grow_after = num(v, 1, 1_000_000)? as u32; Ok(()) }),
    flag("--max-pause", DUR, Politeness, "cap on Retry-After pauses (default 300s)", |o, v| { o.config.pacing.max_pause = dur(v)?; Ok(()) }),
    flag("--retries", N, Politeness, "retries of retryable failures, GET/HEAD only (default 2)", |o, v| { o.config.retry.max_retries = num(v, 0, 100)? as u32; Ok(()) }),
    flag("--retry-backoff", DUR, Politeness, "first backoff, doubled each retry (default 250ms)", |o, v| { o.config.retry.backoff = dur(v)?; Ok(()) }),
    flag("--retry-backoff-max", DUR, Politeness, "longest backoff (default 30s)", |o, v| { o.config.retry.backoff_max = dur(v)?; Ok(()) }),
    flag("--ignore-robots", NONE, Politeness, "do not fetch or obey robots.txt (on by default for crawl; off in the demo)", |o, _| { o.config.robots.enabled = false; Ok(()) }),
    flag("--robots-agent", Some("TOKEN"), Politeness, "the product token matched in robots.txt (default: the User-Agent's first word, oneloop)", |o, v| { o.config.robots.agent = Some(v.to_string()); Ok(()) }),
    flag("--max-crawl-delay", DUR, Politeness, "obey a robots.txt Crawl-delay up to this (default 30s)", |o, v| { o.config.robots.max_crawl_delay = dur(v)?; Ok(()) }),
    flag("--max-redirects", N, Politeness, "(default 10)", |o, v| { o.config.redirects.max = num(v, 0, 1000)? as u32; Ok(()) }),
    flag("--no-redirects", NONE, Politeness, "return 3xx responses as they are", |o, _| { o.config.redirects.follow = false; Ok(()) }),

    flag("--resolve", Some("HOST=IP"), Dns, "use IP for HOST (repeatable)", |o, v| { o.config.resolve.push(resolve(v)?); Ok(()) }),
    flag("--nameserver", Some("IP[:PORT]"), Dns, "DNS server to use (repeatable; default: /etc/resolv.conf)", |o, v| { o.config.dns.nameservers.push(nameserver(v)?); Ok(()) }),
    flag("--dns-timeout", DUR, Dns, "per try (default 2s, or resolv.conf's timeout:)", |o, v| { o.config.dns.timeout = positive(v)?; Ok(()) }),
    flag("--dns-attempts", N, Dns, "rounds over all nameservers (default 2)", |o, v| { o.config.dns.attempts = num(v, 1, 10)? as u32; Ok(()) }),
    flag("--dns-min-ttl", DUR, Dns, "cache answers at least this long (default 5s)", |o, v| { o.config.dns.min_ttl = dur(v)?; Ok(()) }),
    flag("--dns-max-ttl", DUR, Dns, "and at most this long (default 1h)", |o, v| { o.config.dns.max_ttl = dur(v)?; Ok(()) }),
    flag("--dns-negative-ttl", DUR, Dns, "cache NXDOMAIN without an SOA this long (default 60s)", |o, v| { o.config.dns.negative_ttl = dur(v)?; Ok(()) }),
    flag("--dns-cache-size", N, Dns, "names kept in the DNS cache, A and AAAA together, least recently used out (default 100000)", |o, v| { o.config.dns.cache_size = num(v, 1, 10_000_000)? as usize; Ok(()) }),
    flag("--no-ipv6", NONE, Dns, "ask for A records only (no AAAA)", |o, _| { o.config.dns.ipv6 = false; Ok(()) }),

    flag("--ca-file", Some("PEM"), Tls, "also trust the root certificates in this PEM file", |o, v| { o.config.tls.ca_file = Some(v.into()); Ok(()) }),
    flag("--no-webpki-roots", NONE, Tls, "trust only --ca-file roots", |o, _| { o.config.tls.webpki_roots = false; Ok(()) }),
    flag("--http2", NONE, Tls, "offer HTTP/2 (ALPN h2, then http/1.1; the default): an origin that picks it gets one connection carrying the requests as streams", |o, _| { o.config.tls.http2 = true; Ok(()) }),
    flag("--http1.1", NONE, Tls, "offer only HTTP/1.1 (ALPN http/1.1): one request per connection at a time, as before HTTP/2", |o, _| { o.config.tls.http2 = false; Ok(()) }),
    flag("--insecure", NONE, Tls, "DANGER: accept any TLS certificate (prints a warning)", |o, _| { o.config.tls.danger_accept_invalid_certs = true; Ok(()) }),
    flag("--tls-session-cache", N, Tls, "TLS sessions kept for resumption, 0 = off (default 1024, at most 65536)", |o, v| { o.config.tls.session_cache = num(v, 0, 65_536)? as usize; Ok(()) }),

    flag("--jsonl", NONE, Output, "demo: also print one JSON line per outcome on stdout", |o, _| { o.jsonl = true; Ok(()) }),
    flag("--no-jsonl", NONE, Output, "crawl: print only the summary (benchmarks)", |o, _| { o.jsonl = false; Ok(()) }),
    flag("--no-progress", NONE, Output, "never print the progress line", |o, _| { o.progress = false; Ok(()) }),
    flag("--progress", NONE, Output, "print the progress line (once a second) even when stderr is not a terminal", |o, _| { o.force_progress = true; Ok(()) }),
    flag("--workers", N, Work, "run the per-page work (JSON, --save, demo's --block-ms/--work-ms) on N threads, off the loop (--save: default 2)", |o, v| { o.workers = Some(num(v, 1, 1024)? as usize); Ok(()) }),
    flag("--queue", N, Work, "outcomes waiting for a worker; when full, admission waits (default: the concurrency, at least 4 per worker)", |o, v| { o.queue = num(v, 1, 1_000_000)? as usize; Ok(()) }),
    flag("--warc", Some("PREFIX"), Work, "archive every response as WARC/1.1 (request and response records, as sent and received) in PREFIX-00000.warc.gz, PREFIX-00001... (new files only, never rewritten), on the workers; the JSON line gains \"warc\":{\"file\",\"offset\",\"length\"} of its response record", |o, v| { o.warc = Some(v.to_string()); o.config.request.keep_wire = true; Ok(()) }),
    flag("--warc-max-size", Some("BYTES"), Work, "start a new WARC file before one would pass this size (default 1073741824: 1 GiB)", |o, v| { o.warc_max_size = num(v, 1, u64::MAX)?; Ok(()) }),
    flag("--warc-level", N, Work, "gzip level of the WARC records, 0 (stored: fastest) to 9 (smallest) (default 1)", |o, v| { o.warc_level = num(v, 0, 9)? as u8; Ok(()) }),
    flag("--save", Some("DIR"), Work, "write each 2xx body to DIR/XX/ID (XX: a hash of the id), atomically, on the workers; the JSON line gains \"path\"", |o, v| { o.save = Some(v.to_string()); Ok(()) }),
    flag("--events", Some("FILE"), Output, "write every event (queued, admitted, state, turn, stall...) as JSON Lines; see docs/events.md", |o, v| { o.events = Some(v.to_string()); Ok(()) }),
    flag("--timeline", Some("FILE"), Output, "draw the crawl as an SVG timeline: lanes per connection, loop use, stalls", |o, v| { o.timeline = Some(v.to_string()); Ok(()) }),
    flag("--log-level", Some("LEVEL"), Output, "error, warn (default), info, debug or trace (also -v: info)", |o, v| { o.log_level = level(v)?; o.deps_log_level = o.log_level; Ok(()) }),
    flag("--stall-threshold-ms", N, Output, "report callbacks longer than this (default 20)", |o, v| { o.config.stall_threshold = Duration::from_millis(num(v, 0, 1 << 40)?); Ok(()) }),
    flag("--trace", NONE, Output, "print every event on stderr: state transitions, loop turns, requests", |o, _| { o.trace = true; o.log_level = o.log_level.max(log::LevelFilter::Debug); Ok(()) }),
    flag("--help", NONE, Output, "this text", |_, _| Ok(())),
];

/// An argument that is a URL rather than a file name: `http(s)://...`.
fn looks_like_url(arg: &str) -> bool {
    let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The flag nearest to a misspelt one (at most 2 edits away), for the
/// error's hint.
fn closest_flag(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, &ca) in a.iter().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    FLAGS
        .iter()
        .map(|f| (distance(name, f.name), f.name))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

/// Options that would do nothing without another: a usage error naming
/// both, never a run that silently ignores one.
fn check_together(o: &Options) -> Result<(), String> {
    let follows = o.given.contains(&"--follow");
    if !follows {
        let section_of = |name: &str| FLAGS.iter().find(|f| f.name == name).map(|f| f.section);
        if let Some(name) = o
            .given
            .iter()
            .find(|n| **n != "--follow" && section_of(n) == Some(Section::Follow))
        {
            return Err(format!(
                "{name} needs --follow (it is an option of a crawl that follows links)"
            ));
        }
    }
    if follows && o.given.contains(&"--resume") {
        return Err("--resume does not apply to --follow: use --state DIR, which keeps the crawl's frontier and continues it".into());
    }
    Ok(())
}

/// Parses everything after the program name.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let Some(command) = args.first() else {
        return Err("no command given".into());
    };
    let command = match command.as_str() {
        "crawl" => Command::Crawl,
        "demo" => Command::Demo,
        "timeline" => Command::Timeline,
        // `oneloop help crawl`, as git and cargo take it.
        "help" => {
            return Ok(Parsed::Help(match args.get(1).map(String::as_str) {
                Some("crawl") => Some(Command::Crawl),
                Some("demo") => Some(Command::Demo),
                Some("timeline") => Some(Command::Timeline),
                _ => None,
            }))
        }
        "-h" | "--help" => return Ok(Parsed::Help(None)),
        "-V" | "--version" => return Ok(Parsed::Version),
        other => return Err(format!("unknown command: {other}")),
    };
    let mut o = Options::new(command);
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help(Some(command)));
        }
        if arg == "-V" || arg == "--version" {
            return Ok(Parsed::Version);
        }
        if !arg.starts_with('-') || arg == "-" {
            // `crawl https://example.com/`: a URL, not a file name.
            if command == Command::Crawl && looks_like_url(arg) && o.input.is_none() {
                o.url_args.push(arg.clone());
                continue;
            }
            if command != Command::Demo && o.input.is_none() && o.url_args.is_empty() {
                o.input = Some(arg.clone());
                continue;
            }
            return Err(format!("unexpected argument: {arg}"));
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg.as_str(), None),
        };
        // The two short forms.
        let name = match name {
            "-v" => {
                o.log_level = o.log_level.max(log::LevelFilter::Info);
                o.deps_log_level = o.deps_log_level.max(log::LevelFilter::Info);
                continue;
            }
            "-o" => "--output",
            n => n,
        };
        let Some(f) = FLAGS.iter().find(|f| f.name == name) else {
            return Err(match closest_flag(name) {
                Some(near) => format!("unknown option: {name} (did you mean {near}?)"),
                None => format!("unknown option: {name}"),
            });
        };
        if f.section == Section::Demo && command != Command::Demo {
            return Err(format!("{name} is a demo option"));
        }
        if (f.section == Section::Timeline) != (command == Command::Timeline) && f.name != "--help"
        {
            return Err(match command {
                Command::Timeline => format!("{name} is not a timeline option"),
                _ => format!("{name} is a timeline option"),
            });
        }
        let value = match (f.value, inline) {
            (None, None) => "",
            (None, Some(_)) => return Err(format!("{name} takes no value")),
            (Some(_), Some(v)) => v,
            (Some(placeholder), None) => rest
                .next()
                .ok_or_else(|| format!("{name} needs a value ({placeholder})"))?,
        };
        (f.apply)(&mut o, value).map_err(|e| format!("{name}: {e}"))?;
        o.given.push(f.name);
    }
    check_together(&o)?;
    Ok(Parsed::Run(Box::new(o)))
}

/// The help text, made from [`FLAGS`].
/// The help: of every command, or of one (its own sections only).
pub fn usage_of(command: Option<Command>) -> String {
    let mut s = usage_head(command);
    for (section, title) in SECTIONS {
        let shown = match (command, section) {
            (None, _) => true,
            (Some(Command::Timeline), s) => s == Section::Timeline,
            (Some(_), Section::Timeline) => false,
            (Some(Command::Crawl), Section::Demo) => false,
            (Some(Command::Demo), Section::Input) => false,
            _ => true,
        };
        if shown {
            push_section(&mut s, section, title);
        }
    }
    s
}

/// The help of every command.
#[cfg(test)]
pub fn usage() -> String {
    usage_of(None)
}

/// The usage lines: of every command, or of the one asked about.
fn usage_head(command: Option<Command>) -> String {
    let crawl = "    oneloop crawl [FILE|-|URL...] [OPTIONS]
                                       URLs from FILE (one per line; default: stdin)
                                       or the arguments, JSON Lines on stdout,
                                       summary on stderr
";
    let demo = "    oneloop demo [OPTIONS]             crawl an embedded loopback server, print the summary
";
    let timeline = "    oneloop timeline EVENTS.jsonl -o crawl.svg
                                       draw an events file (from --events) as an SVG
";
    let lines = match command {
        Some(Command::Crawl) => crawl.to_string(),
        Some(Command::Demo) => demo.to_string(),
        Some(Command::Timeline) => timeline.to_string(),
        None => format!(
            "{crawl}{demo}{timeline}    oneloop COMMAND --help             the options of one command
    oneloop --version
"
        ),
    };
    format!("oneloop: fetch very many HTTP pages from one thread\n\nUSAGE:\n{lines}")
}

fn push_section(s: &mut String, section: Section, title: &str) {
    s.push_str(&format!("\n{title}:\n"));
    for f in FLAGS.iter().filter(|f| f.section == section) {
        let left = match f.value {
            Some(v) => format!("{} {v}", f.name),
            None => f.name.to_string(),
        };
        if left.len() <= 30 {
            s.push_str(&format!("    {left:<30} {}\n", f.help));
        } else {
            s.push_str(&format!("    {left}\n    {:<30} {}\n", "", f.help));
        }
    }
}

fn shard(v: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected I/N with 0 <= I < N, not {v}");
    let (i, n) = v.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn level(v: &str) -> Result<log::LevelFilter, String> {
    v.parse()
        .map_err(|_| format!("one of off, error, warn, info, debug, trace, not {v}"))
}

fn num(v: &str, min: u64, max: u64) -> Result<u64, String> {
    match v.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(format!("{v} is out of range ({min} to {max})")),
        Err(_) => Err(format!("not a number: {v}")),
    }
}

/// `250ms`, `1.5s`, `2m`, `1h`, or plain seconds; at most about 31 years.
pub fn duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (v, 1.0)
    };
    let x: f64 = num.trim().parse().ok()?;
    let secs = x * scale;
    (secs >= 0.0 && secs.is_finite() && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

fn dur(v: &str) -> Result<Duration, String> {
    duration(v).ok_or_else(|| format!("not a duration: {v} (250ms, 1.5s, 2m, 1h or seconds)"))
}

fn positive(v: &str) -> Result<Duration, String> {
    match duration(v) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("not a positive duration: {v}")),
    }
}

fn rate(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(r) if (0.001..=1e6).contains(&r) => Ok(r),
        _ => Err(format!(
            "not a rate between 0.001 and 1000000 per second: {v}"
        )),
    }
}

fn method(v: &str) -> Result<Method, String> {
    match v.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::Get),
        "HEAD" => Ok(Method::Head),
        "POST" => Ok(Method::Post),
        _ => Err(format!("GET, HEAD or POST, not {v}")),
    }
}

fn header(v: &str) -> Result<(String, String), String> {
    let (n, value) = v
        .split_once(':')
        .ok_or_else(|| format!("expected 'Name: value', got {v}"))?;
    Ok((n.trim().to_string(), value.trim().to_string()))
}

fn resolve(v: &str) -> Result<(String, IpAddr), String> {
    let (host, ip) = v
        .rsplit_once('=')
        .ok_or_else(|| format!("expected HOST=IP, got {v}"))?;
    let ip = ip
        .trim_matches(|ch| ch == '[' || ch == ']')
        .parse()
        .map_err(|_| format!("not an IP address: {ip}"))?;
    Ok((host.to_string(), ip))
}

fn nameserver(v: &str) -> Result<SocketAddr, String> {
    v.parse::<SocketAddr>()
        .or_else(|_| v.parse::<IpAddr>().map(|ip| (ip, 53).into()))
        .map_err(|_| format!("expected IP[:PORT], got {v}"))
}

#[cfg(test)]
mod tests;
