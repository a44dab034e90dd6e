//! The command line's parsing: values, help, errors naming the flag,
//! options checked together.

use super::*;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn run(a: &[&str]) -> Options {
    match parse(&args(a)) {
        Ok(Parsed::Run(o)) => *o,
        other => panic!("{a:?}: {other:?}"),
    }
}

fn err(a: &[&str]) -> String {
    match parse(&args(a)) {
        Err(e) => e,
        other => panic!("{a:?} should fail: {other:?}"),
    }
}

#[test]
fn durations() {
    let ms = Duration::from_millis;
    #[rustfmt::skip]
    let cases: &[(&str, Option<Duration>)] = &[
        ("250ms", Some(ms(250))), ("1.5s", Some(ms(1500))), ("2m", Some(ms(120_000))),
        ("1h", Some(ms(3_600_000))), ("3", Some(ms(3000))), (" 0.25 ", Some(ms(250))),
        ("0", Some(Duration::ZERO)), ("-1s", None), ("abc", None), ("", None),
        ("1e300", None), ("NaN", None), ("inf", None), ("5 parsecs", None),
    ];
    for (text, want) in cases {
        assert_eq!(duration(text), *want, "{text:?}");
    }
}

#[test]
fn values_inline_or_next_and_positional_input() {
    let o = run(&[
        "crawl",
        "urls.txt",
        "--concurrency=7",
        "--per-host",
        "3",
        "--no-pacing",
        "--delay",
        "50ms",
    ]);
    assert_eq!(o.input.as_deref(), Some("urls.txt"));
    assert_eq!((o.config.concurrency, o.config.per_host), (7, 3));
    assert_eq!(o.config.pacing.rate, None);
    assert_eq!(o.config.pacing.delay, Duration::from_millis(50));
    assert!(o.jsonl, "crawl writes JSON Lines by default");
    let o = run(&["demo", "--urls", "10", "--tls", "--retry-backoff-max", "2s"]);
    assert_eq!((o.urls, o.tls, o.jsonl), (10, true, false));
    assert_eq!(o.config.retry.backoff_max, Duration::from_secs(2));
    assert_eq!(o.config.pacing.rate, None, "the demo is not paced");
    assert_eq!(run(&["crawl", "-"]).input.as_deref(), Some("-"));
}

#[test]
fn help_is_a_value_not_an_error() {
    for a in [
        &["--help"][..],
        &["help"],
        &["crawl", "--help"],
        &["demo", "-h", "--bogus"],
    ] {
        assert!(matches!(parse(&args(a)), Ok(Parsed::Help(_))), "{a:?}");
    }
    assert!(matches!(parse(&args(&["--version"])), Ok(Parsed::Version)));
    assert!(matches!(parse(&args(&["-V"])), Ok(Parsed::Version)));
    assert!(matches!(
        parse(&args(&["crawl", "--help"])),
        Ok(Parsed::Help(Some(Command::Crawl)))
    ));
    assert!(matches!(
        parse(&args(&["help", "crawl"])),
        Ok(Parsed::Help(Some(Command::Crawl)))
    ));
    // URLs as arguments, as curl and wget take them.
    let o = run(&[
        "crawl",
        "https://a.test/",
        "HTTP://b.test/x",
        "--concurrency",
        "3",
    ]);
    assert_eq!((o.input, o.url_args.len()), (None, 2));
    // One command's help has its own options, not the others'.
    let crawl = usage_of(Some(Command::Crawl));
    assert!(
        crawl.contains("--concurrency")
            && !crawl.contains("--urls")
            && !crawl.contains("    --output")
            && !crawl.contains("TIMELINE OPTIONS")
    );
    let timeline = usage_of(Some(Command::Timeline));
    assert!(timeline.contains("TIMELINE OPTIONS") && !timeline.contains("--concurrency"));
    let demo = usage_of(Some(Command::Demo));
    assert!(demo.contains("--urls") && !demo.contains("oneloop crawl") && !demo.contains("INPUT"));
    // Proxies have their own section, not DNS's.
    let dns = &crawl[crawl.find("DNS:").unwrap()..crawl.find("PROXIES:").unwrap()];
    assert!(!dns.contains("--proxy") && crawl.contains("PROXIES:\n    --proxy"));
}

#[test]
fn errors_name_the_flag() {
    #[rustfmt::skip]
    let cases: &[(&[&str], &str)] = &[
        (&[], "no command given"),
        (&["fetch"], "unknown command: fetch"),
        (&["crawl", "--bogus"], "unknown option: --bogus"),
        (&["crawl", "--concurency", "5"], "unknown option: --concurency (did you mean --concurrency?)"),
        (&["crawl", "a.txt", "http://x/"], "unexpected argument: http://x/"),
        (&["crawl", "-", "--state", "d"], "--state needs --follow"),
        (&["crawl", "-", "--max-depth", "2"], "--max-depth needs --follow"),
        (&["demo", "--sitemaps"], "--sitemaps needs --follow"),
        (&["crawl", "-", "--follow", "--resume", "p.jsonl"], "--resume does not apply to --follow: use --state DIR"),
        (&["crawl", "http://x/", "a.txt"], "unexpected argument: a.txt"),
        (&["crawl", "--concurrency"], "--concurrency needs a value (N)"),
        (&["crawl", "--concurrency", "x"], "--concurrency: not a number: x"),
        (&["crawl", "--concurrency", "0"], "--concurrency: 0 is out of range (1 to 1000000)"),
        (&["crawl", "--concurrency", "18446744073709551615"], "--concurrency: 18446744073709551615 is out of range"),
        (&["crawl", "--rate", "1e-300"], "--rate: not a rate"),
        (&["crawl", "--tls-session-cache", "18446744073709551615"], "--tls-session-cache: 18446744073709551615 is out of range"),
        (&["crawl", "--no-body=yes"], "--no-body takes no value"),
        (&["crawl", "--urls", "5"], "--urls is a demo option"),
        (&["crawl", "a.txt", "b.txt"], "unexpected argument: b.txt"),
        (&["crawl", "--head-timeout", "0"], "--head-timeout: not a positive duration: 0"),
        (&["crawl", "--method", "PUT"], "--method: GET, HEAD or POST, not PUT"),
        (&["crawl", "--resolve", "a.test"], "--resolve: expected HOST=IP"),
        (&["crawl", "--nameserver", "dns.google"], "--nameserver: expected IP[:PORT]"),
    ];
    for (a, want) in cases {
        let mut full = vec![];
        full.extend_from_slice(a);
        let e = err(&full);
        assert!(e.starts_with(want), "{a:?}: {e}");
    }
}

#[test]
fn seeing_the_loop_flags() {
    let o = run(&["timeline", "ev.jsonl", "-o", "t.svg"]);
    assert_eq!(
        (o.input.as_deref(), o.output.as_deref()),
        (Some("ev.jsonl"), Some("t.svg"))
    );
    let o = run(&["crawl", "-", "--trace", "--events", "e.jsonl"]);
    assert!(o.trace);
    assert_eq!(o.events.as_deref(), Some("e.jsonl"));
    assert_eq!(o.log_level, log::LevelFilter::Debug);
    assert_eq!(
        o.deps_log_level,
        log::LevelFilter::Warn,
        "no rustls/mio flood"
    );
    let o = run(&["demo", "-v", "--timeline", "t.svg", "--block-ms", "5"]);
    assert_eq!(
        (o.log_level, o.timeline.as_deref(), o.block_ms),
        (log::LevelFilter::Info, Some("t.svg"), 5)
    );
    assert_eq!(
        run(&["crawl", "--log-level", "trace"]).deps_log_level,
        log::LevelFilter::Trace
    );
    assert!(err(&["timeline", "e.jsonl", "--concurrency", "3"]).contains("not a timeline option"));
    assert!(err(&["crawl", "-o", "x.svg"]).contains("is a timeline option"));
    assert!(err(&["crawl", "--log-level", "loud"]).contains("--log-level"));
}

#[test]
fn no_flag_swallows_the_next_argument_by_accident() {
    // A value-less flag followed by a positional: the positional stays one.
    let o = run(&["crawl", "--no-body", "urls.txt"]);
    assert_eq!(o.input.as_deref(), Some("urls.txt"));
    assert!(!o.config.request.keep_body);
}

#[test]
fn the_help_lists_every_flag_once_under_its_section() {
    let u = usage();
    for f in FLAGS {
        assert_eq!(
            u.matches(&format!("    {} ", f.name)).count()
                + u.matches(&format!("    {}\n", f.name)).count(),
            1,
            "{}",
            f.name
        );
    }
    let output = u.find("OUTPUT:").unwrap();
    assert!(u.find("    --trace").unwrap() > output);
    assert!(u.find("    --no-progress").unwrap() > output);
    let names: Vec<&str> = FLAGS.iter().map(|f| f.name).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a flag defined twice");
}
