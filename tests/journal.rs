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

/// The value of a number field of a JSON line.
fn num(line: &str, name: &str) -> u64 {
    let key = format!("\"{name}\":");
    let rest = &line[line.find(&key).unwrap() + key.len()..];
    rest[..rest.find([',', '}']).unwrap()].parse().unwrap()
}

#[test]
fn kill_9_then_resume_fetches_every_line_once_but_what_was_in_flight() {
    let sent = Arc::new(AtomicUsize::new(0));
    let addr = counting_server(sent.clone());
    let (input, prev, next) = (temp("r.txt"), temp("r1.jsonl"), temp("r2.jsonl"));
    let total = 3000;
    let mut urls = String::from("# a comment, and a blank line\n\n");
    urls.extend((0..total).map(|i| format!("http://{addr}/{i}\n")));
    std::fs::write(&input, &urls).unwrap();
    let run = |out: &std::path::Path, resume: Option<&std::path::Path>| {
        let mut c = oneloop();
        c.args([
            "crawl",
            input.to_str().unwrap(),
            "--no-pacing",
            "--ignore-robots",
        ])
        .args(["--per-host", "8", "--concurrency", "8"])
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::piped());
        if let Some(p) = resume {
            c.args(["--resume", p.to_str().unwrap()]);
        }
        c.spawn().unwrap()
    };
    let mut first = run(&prev, None);
    let start = Instant::now();
    while sent.load(Ordering::SeqCst) < 500 {
        assert!(start.elapsed() < Duration::from_secs(20), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let second = run(&next, Some(&prev)).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    let before = std::fs::read_to_string(&prev).unwrap();
    let after = std::fs::read_to_string(&next).unwrap();
    // Whole lines of the first run (its last may be cut), all of the second.
    let whole_before: Vec<&str> = before
        .split_inclusive('\n')
        .filter(|l| l.ends_with("}\n"))
        .collect();
    // 500 answered when the kill came; the last 100 ms of lines may be
    // lost with it (more on a loaded machine: 392 seen once in CI).
    assert!(
        whole_before.len() >= 250,
        "{} lines before the kill",
        whole_before.len()
    );
    let mut seen = std::collections::HashMap::new();
    for l in whole_before.iter().copied().chain(after.lines()) {
        assert!(l.contains("\"status\":200"), "{l}");
        *seen.entry(num(l, "line")).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), total, "every input line has an outcome");
    assert!(seen.keys().all(|&l| (3..3 + total as u64).contains(&l)));
    let twice = seen.values().filter(|&&n| n == 2).count();
    assert!(seen.values().all(|&n| n <= 2));
    // Twice only what was in flight at the kill (8 at most), and the cut
    // last line.
    assert!(twice <= 8, "{twice} lines fetched twice");
    let skipped = total - after.lines().count();
    assert!(
        stderr.contains(&format!("resume: {skipped} input lines skipped")),
        "{stderr}"
    );
    assert!(after
        .lines()
        .next()
        .unwrap()
        .contains("\"input\":{\"bytes\":"));
    // Another input: refused, nothing fetched.
    std::fs::write(&input, urls.replace("/1\n", "/one\n")).unwrap();
    let refused = run(&next, Some(&prev)).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another input"), "{stderr}");
    for p in [&input, &prev, &next] {
        let _ = std::fs::remove_file(p);
    }
}
