//! Hostile input, misbehaving servers, closed pipes, signals and resource
//! limits: one regression test per defect found when oneloop was tried as a
//! hostile user would. The promise: every input line yields exactly one
//! outcome, nothing finished is lost, no panic on any input, option or
//! environment, and resource pressure slows the crawl instead of failing it.

mod common;

use common::*;
use oneloop::{Config, Crawler, ErrorKind, Method, Outcome, Phase, RetryCause};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn oneloop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oneloop"))
}

/// Kept copies of what the tests look at (outcomes are borrowed).
struct Seen {
    id: u64,
    attempts: u32,
    retries: Vec<RetryCause>,
    result: Result<(u16, Vec<u8>), (Phase, ErrorKind, String)>,
    connect: Option<Duration>,
    ttfb: Option<Duration>,
    total: Duration,
}

fn crawl(config: Config, urls: Vec<String>) -> (Vec<Seen>, oneloop::Summary) {
    let mut seen = Vec::new();
    let summary = Crawler::new(config)
        .unwrap()
        .run(urls, |o: &Outcome| {
            seen.push(Seen {
                id: o.id,
                attempts: o.attempts,
                retries: o.retries.clone(),
                result: match &o.result {
                    Ok(r) => Ok((r.status, r.body.clone())),
                    Err(e) => Err((e.phase, e.kind, e.detail.clone())),
                },
                connect: o.timings.connect,
                ttfb: o.timings.ttfb,
                total: o.timings.total,
            })
        })
        .unwrap();
    seen.sort_by_key(|s| s.id);
    (seen, summary)
}

fn stdout_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A server answering each request with `wire` (raw bytes) after reading it.
fn scripted(wire: &'static [u8]) -> SocketAddr {
    raw_server(move |mut s| {
        while drain_request(&s).is_some() {
            if s.write_all(wire).is_err() {
                return;
            }
        }
    })
}

// ------------------------------------------------------------ 1. bad input

#[test]
fn a_line_that_is_not_utf8_is_one_outcome_and_the_rest_go_on() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let mut input = Vec::new();
    input.extend_from_slice(format!("http://{server}/one\n").as_bytes());
    input.extend_from_slice(format!("http://{server}/bad").as_bytes());
    input.extend_from_slice(b"\xff\xfe\n# a comment\n\n");
    input.extend_from_slice(format!("http://{server}/three\nhttp://{server}/four\n").as_bytes());
    let mut child = oneloop()
        .args(["crawl", "-", "--no-pacing", "--no-progress"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let bad = lines.iter().find(|l| l.contains("\"line\":2,")).unwrap();
    assert!(
        bad.contains(r#""error":{"phase":"url","kind":"invalid_url","detail":"not UTF-8"#),
        "{bad}"
    );
    assert!(
        bad.contains("/bad\u{fffd}\u{fffd}"),
        "lossy URL for the report: {bad}"
    );
    for (n, path) in [(1, "one"), (5, "three"), (6, "four")] {
        let l = lines
            .iter()
            .find(|l| l.contains(&format!("\"line\":{n},")))
            .unwrap();
        assert!(l.contains(&format!("/{path}\",\"status\":200")), "{l}");
    }
}

#[test]
fn unreadable_input_is_an_error_not_an_empty_crawl() {
    let dir = std::env::temp_dir();
    let out = oneloop()
        .args(["crawl", dir.to_str().unwrap(), "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    let summary = stderr.find("0 outcomes in").expect("a summary first");
    let error = stderr.find("is a directory").expect("then the read error");
    assert!(summary < error, "{stderr}");
    let out = oneloop()
        .args(["crawl", "/nonexistent/urls.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/urls.txt"));
}

// ------------------------------------------------------------ 2. closed pipes

/// Runs the binary with stdout or stderr being a pipe whose reader is gone:
/// every write there fails with EPIPE.
fn with_closed(stream: &str, args: &[&str], input: &str) -> std::process::Output {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: a pipe whose read end is closed at once; the write end is
    // owned by the `OwnedFd` (and the child).
    let writer = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        std::os::fd::OwnedFd::from_raw_fd(fds[1])
    };
    let mut cmd = oneloop();
    cmd.args(args).stdin(Stdio::piped());
    if stream == "stdout" {
        cmd.stdout(writer).stderr(Stdio::piped());
    } else {
        cmd.stderr(writer).stdout(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn closed_pipes_do_not_panic() {
    let out = with_closed("stdout", &["--help"], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = with_closed("stdout", &["demo", "--urls", "200", "--names", "0"], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let input: String = (0..20).map(|i| format!("http://{server}/{i}\n")).collect();
    let out = with_closed("stderr", &["crawl", "-", "--no-pacing"], &input);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_lines(&out).len(), 20, "the results are all there");
}

// ------------------------------------------------------------ 3. huge options

#[test]
fn huge_option_values_are_usage_errors_naming_the_option() {
    for (flag, value) in [
        ("--concurrency", "18446744073709551615"),
        ("--concurrency", "100000000000"),
        ("--concurrency", "0"),
        ("--tls-session-cache", "18446744073709551615"),
        ("--rate", "1e-300"),
        ("--max-parked", "99999999999999"),
        ("--total-timeout", "1e300"),
    ] {
        let out = oneloop()
            .args(["crawl", "-", flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.starts_with(&format!("oneloop: {flag}")), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn absurd_limits_in_the_library_allocate_nothing_up_front() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let mut config = Config {
        concurrency: usize::MAX,
        per_host: usize::MAX,
        max_parked: usize::MAX,
        ..Config::local()
    };
    config.connections.max_total = usize::MAX;
    config.connections.max_per_host = usize::MAX;
    config.tls.session_cache = usize::MAX;
    config.dns.cache_size = usize::MAX;
    let urls = (0..50).map(|i| format!("http://{server}/{i}")).collect();
    let (seen, summary) = crawl(config, urls);
    assert_eq!(seen.len(), 50);
    assert_eq!(summary.status_classes[2], 50);
}

// ------------------------------------------------------------ 4. descriptors

#[test]
fn a_low_open_file_limit_slows_the_crawl_instead_of_failing_it() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let input: String = (0..2000)
        .map(|i| format!("http://{server}/{i}\n"))
        .collect();
    let script = format!(
        "ulimit -n 64 && exec {} crawl - --concurrency 500 --per-host 500 --no-pacing --no-progress",
        env!("CARGO_BIN_EXE_oneloop")
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2000);
    let ok = lines
        .iter()
        .filter(|l| l.contains("\"status\":200"))
        .count();
    assert_eq!(ok, 2000, "no request failed: {stderr}");
    assert_eq!(
        stderr.matches("open-file limit leaves room").count(),
        1,
        "one warning: {stderr}"
    );
    assert!(stderr.contains("errors: 0"), "{stderr}");
}

// ------------------------------------------------------------ 5. SIGINT

/// A crawl of 50 fast and 5 never-answering URLs, interrupted `signals`
/// times once the fast ones are done. With `close_input`, the input has
/// ended; without, it is a pipe still open.
fn interrupted(signals: usize, close_input: bool, grace: &str) -> (std::process::Output, Duration) {
    let fast = echo_path_server(Arc::new(Counters::default()), None);
    let stuck = raw_server(|s| {
        std::thread::sleep(Duration::from_secs(30));
        drop(s);
    });
    let mut input: String = (0..50).map(|i| format!("http://{fast}/{i}\n")).collect();
    input.extend((0..5).map(|i| format!("http://{stuck}/slow{i}\n")));
    let mut child = oneloop()
        .args([
            "crawl",
            "-",
            "--no-pacing",
            "--stop-grace",
            grace,
            "--per-host",
            "5",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    let stdin = if close_input {
        drop(stdin);
        None
    } else {
        Some(stdin)
    };
    std::thread::sleep(Duration::from_millis(800));
    let t = Instant::now();
    for _ in 0..signals {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    (out, t.elapsed())
}

fn assert_all_55_written(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let lines = stdout_lines(out);
    assert_eq!(
        lines.len(),
        55,
        "every outcome, finished or cancelled: {stderr}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("\"status\":200"))
            .count(),
        50
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(r#""kind":"cancelled""#))
            .count(),
        5
    );
    assert!(stderr.contains("55 outcomes"), "the summary: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
}

#[test]
fn ctrl_c_lets_requests_in_flight_finish_within_a_grace_then_flushes_everything() {
    let (out, took) = interrupted(1, true, "300ms");
    assert_all_55_written(&out);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_second_ctrl_c_cancels_what_is_in_flight_at_once() {
    // A grace of 60 s: only the second signal can end this quickly.
    let (out, took) = interrupted(2, true, "60s");
    assert_all_55_written(&out);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn ctrl_c_ends_an_input_pipe_that_never_ends() {
    // The loop is blocked reading stdin (a pipe with no writer activity):
    // the signal must interrupt that read, not be retried inside it.
    let mut child = oneloop()
        .args(["crawl", "-", "--no-pacing"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 outcomes"));
}

// ------------------------------------------------------------ 6. stray bytes

#[test]
fn a_body_sent_after_a_head_response_does_not_fail_the_next_request() {
    let server = raw_server(|mut s| {
        while drain_request(&s).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
            std::thread::sleep(Duration::from_millis(50));
            let _ = s.write_all(b"hello"); // a HEAD response has no body
        }
    });
    let mut config = Config {
        per_host: 1,
        ..Config::local()
    };
    config.request.method = Method::Head;
    config.retry.max_retries = 0;
    let urls = (0..10).map(|i| format!("http://{server}/{i}")).collect();
    let (seen, summary) = crawl(config, urls);
    for s in &seen {
        assert!(matches!(s.result, Ok((200, _))), "{}: {:?}", s.id, s.result);
    }
    assert_eq!(summary.error_count(), 0);
}

// ------------------------------------------------------------ 7. big bodies
// In tests/memory.rs: it reads the process's RSS, so it runs alone.

// ------------------------------------------------------------ 8–10. framing

#[test]
fn obs_fold_and_leading_zero_chunk_sizes_are_accepted() {
    let folded = scripted(b"HTTP/1.1 200 OK\r\nX-Foo: a\r\n  b\r\nContent-Length: 2\r\n\r\nok");
    let zeros = scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000000005\r\nhello\r\n0\r\n\r\n",
    );
    let (seen, _) = crawl(
        Config::local(),
        vec![format!("http://{folded}/"), format!("http://{zeros}/")],
    );
    assert_eq!(seen[0].result, Ok((200, b"ok".to_vec())));
    assert_eq!(seen[1].result, Ok((200, b"hello".to_vec())));
}

#[test]
fn an_endless_chunk_size_line_fails_at_once() {
    let endless = raw_server(|mut s| {
        let _ = drain_request(&s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;");
        let junk = [b'x'; 1024];
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) && s.write_all(&junk).is_ok() {}
    });
    let t = Instant::now();
    let (seen, _) = crawl(Config::local(), vec![format!("http://{endless}/")]);
    let (phase, kind, _) = seen[0].result.clone().unwrap_err();
    assert_eq!((phase, kind), (Phase::Body, ErrorKind::TooLarge));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

// ------------------------------------------------------------ 11. timings

#[test]
fn timings_describe_the_final_attempt_and_every_attempt_has_a_cause() {
    // The first connection is reset before any answer; the retry, after a
    // 300 ms backoff, succeeds.
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let server = raw_server(move |mut s| {
        if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = drain_request(&s);
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            return; // RST
        }
        while drain_request(&s).is_some() {
            let _ = respond(&mut s, "ok", true);
        }
    });
    let mut config = Config::local();
    config.retry.backoff = Duration::from_millis(300);
    config.retry.backoff_max = Duration::from_millis(300);
    let (seen, _) = crawl(config, vec![format!("http://{server}/")]);
    let s = &seen[0];
    assert_eq!(s.result, Ok((200, b"ok".to_vec())));
    assert_eq!(s.attempts, 2);
    assert_eq!(s.retries.len(), 1);
    assert!(
        s.connect.unwrap() < Duration::from_millis(100),
        "{:?}",
        s.connect
    );
    assert!(s.ttfb.unwrap() < Duration::from_millis(100), "{:?}", s.ttfb);
    assert!(
        s.total >= Duration::from_millis(150),
        "total spans both: {:?}",
        s.total
    );

    // A keep-alive server that answers, then closes without a word: the next
    // request on that connection is retried on a fresh one, and says why.
    let closer = raw_server(|mut s| {
        if drain_request(&s).is_some() {
            let _ = respond(&mut s, "once", true);
        }
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf); // the second request arrives; close unanswered
    });
    let config = Config {
        per_host: 1,
        ..Config::local()
    };
    let (seen, summary) = crawl(
        config,
        vec![format!("http://{closer}/1"), format!("http://{closer}/2")],
    );
    let second = &seen[1];
    assert_eq!(second.result, Ok((200, b"once".to_vec())));
    assert_eq!(second.attempts, 2);
    assert_eq!(
        second.retries,
        vec![RetryCause::Error(Phase::Head, ErrorKind::UnexpectedEof)]
    );
    assert_eq!(summary.retries, 1);
    assert_eq!(summary.retries_by_cause.values().sum::<u64>(), 1);
}

// ------------------------------------------------------------ 12. headers

#[test]
fn options_cannot_inject_headers_or_take_over_framing() {
    let cases: &[(&[&str], &str)] = &[
        (&["--user-agent", "ua\r\nX-Injected: yes"], "user agent"),
        (&["--header", "X-A: a\r\nX-Injected: yes"], "header X-A"),
        (&["--header", "Host: other"], "set by the crawler"),
        (&["--header", "Content-Length: 99"], "set by the crawler"),
        (
            &["--header", "transfer-encoding: chunked"],
            "set by the crawler",
        ),
        (&["--header", "Bad Name: v"], "not a valid token"),
    ];
    for (args, want) in cases {
        let out = oneloop().arg("crawl").args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // What is allowed still reaches the server as given.
    let seen_head = Arc::new(std::sync::Mutex::new(String::new()));
    let s2 = seen_head.clone();
    let server = raw_server(move |mut s| {
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        *s2.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
        let _ = respond(&mut s, "ok", false);
    });
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--header",
            "X-Ok: yes",
            "--user-agent",
            "tester/1",
        ],
        &format!("http://{server}/\n"),
    );
    assert!(out.status.success());
    let head = seen_head.lock().unwrap().clone();
    assert!(
        head.contains("\r\nX-Ok: yes\r\n") && head.contains("User-Agent: tester/1\r\n"),
        "{head}"
    );
    assert_eq!(head.matches("Host:").count(), 1, "{head}");
}

#[test]
fn the_stream_is_read_as_bytes_so_tcp_splits_do_not_matter() {
    // A sanity check that the hostile servers above are not flukes of
    // timing: the same folded head split into single bytes.
    let server = raw_server(|mut s| {
        let _ = drain_request(&s);
        for b in b"HTTP/1.1 200 OK\r\nX-Foo: a\r\n b\r\nContent-Length: 2\r\n\r\nok" {
            let _ = s.write_all(&[*b]);
            let _ = s.flush();
        }
    });
    let (seen, _) = crawl(Config::local(), vec![format!("http://{server}/")]);
    assert_eq!(seen[0].result, Ok((200, b"ok".to_vec())));
}
