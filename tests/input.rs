//! Input that can block is read off the loop: a pause in the source never
//! pauses requests in flight, and their timings do not include it.

mod common;

use common::*;
use oneloop::input::InputThread;
use oneloop::{Config, Crawler};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_pausing_source_on_its_own_thread_does_not_pause_the_loop() {
    let server = echo_path_server(Arc::default(), None);
    let started = Instant::now();
    // Two URLs, then a source that takes a second for the third.
    let urls = (0..3).map(move |i| {
        if i == 2 {
            std::thread::sleep(Duration::from_millis(1000));
        }
        format!("http://{server}/page/{i}")
    });
    let mut finished = Vec::new();
    let summary = Crawler::new(Config::local())
        .unwrap()
        .run(InputThread::new(urls, 16), |o| {
            assert!(o.result.is_ok(), "{o:?}");
            finished.push((o.id, started.elapsed(), o.timings.ttfb.unwrap()));
        })
        .unwrap();
    assert_eq!(summary.outcomes, 3);
    for (id, at, ttfb) in &finished[..2] {
        assert!(*at < Duration::from_millis(700), "#{id} finished at {at:?}");
        assert!(*ttfb < Duration::from_millis(500), "#{id} ttfb {ttfb:?}");
    }
    assert!(finished[2].1 >= Duration::from_millis(1000));
}

#[test]
fn the_cli_reads_a_pausing_pipe_without_stalling_requests() {
    let server = echo_path_server(Arc::default(), None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args([
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--no-progress",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        writeln!(stdin, "http://{server}/a\nhttp://{server}/b").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1500)); // the producer pauses
        writeln!(stdin, "http://{server}/c").unwrap();
    });
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines[..2] {
        let ttfb: f64 = line
            .split("\"ttfb\":")
            .nth(1)
            .and_then(|t| t.split([',', '}']).next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no ttfb in {line}"));
        // In milliseconds: answers that came at once, not after the pause.
        assert!(ttfb < 500.0, "{line}");
    }
}
