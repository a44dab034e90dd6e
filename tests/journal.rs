//! The output is the journal: what finished is in the output file even
//! after a `kill -9`, and `--resume` reads it back.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn oneloop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oneloop"))
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("oneloop-journal-{}-{name}", std::process::id()))
}

/// A keep-alive server whose body is the path, answering after 5 ms, and
/// counting the responses it has sent.
fn counting_server(sent: Arc<AtomicUsize>) -> std::net::SocketAddr {
    spawn(
        Arc::new(move |s: &mut std::net::TcpStream, path: &str| {
            std::thread::sleep(Duration::from_millis(5));
            let ok = respond(s, path, true);
            sent.fetch_add(1, Ordering::SeqCst);
            ok
        }),
        Arc::new(Counters::default()),
        None,
    )
}

#[test]
fn finished_lines_are_in_the_file_after_a_kill_9() {
    let sent = Arc::new(AtomicUsize::new(0));
    let addr = counting_server(sent.clone());
    let input = temp("kill9.txt");
    let output = temp("kill9.jsonl");
    let urls: String = (0..100_000)
        .map(|i| format!("http://{addr}/{i}\n"))
        .collect();
    std::fs::write(&input, urls).unwrap();
    let out_file = std::fs::File::create(&output).unwrap();
    let mut child = oneloop()
        .args(["crawl", input.to_str().unwrap(), "--no-pacing"])
        .args(["--ignore-robots", "--per-host", "4", "--concurrency", "4"])
        .stdout(out_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while sent.load(Ordering::SeqCst) < 100 {
        assert!(start.elapsed() < Duration::from_secs(20), "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    // What had been answered 300 ms before the kill has been delivered,
    // written and (the journal's promise: 100 ms) handed to the OS.
    let answered = sent.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL: no chance to flush anything
    child.wait().unwrap();
    let text = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() >= answered,
        "{} lines in the file, {answered} answered 300 ms before the kill",
        lines.len()
    );
    // Whole lines (the last may be cut by the kill: --resume ignores it).
    for l in &lines[..lines.len() - 1] {
        assert!(l.starts_with("{\"id\":") && l.ends_with('}'), "{l}");
    }
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
}
