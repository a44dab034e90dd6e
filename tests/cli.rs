//! The `oneloop` binary: JSON Lines out, summary, demo, argument errors.

mod common;

use common::*;
use std::process::Command;
use std::sync::Arc;

fn oneloop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oneloop"))
}

#[test]
fn crawl_reads_stdin_and_writes_one_json_line_per_url() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let refused = refused_port();
    let mut input = String::from("# a comment, then a blank line\n\n");
    for i in 0..50 {
        input.push_str(&format!("http://{server}/p/{i}\n"));
    }
    input.push_str(&format!("http://{refused}/gone\nnot-a-url\n"));
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--concurrency",
            "8",
            "--per-host=2",
            "--no-progress",
            "--no-pacing",
            "--retries",
            "0",
        ],
        &input,
    );
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 52);
    let ok = lines
        .iter()
        .filter(|l| l.contains("\"status\":200"))
        .count();
    assert_eq!(ok, 50);
    assert!(lines
        .iter()
        .all(|l| l.starts_with("{\"id\":") && l.ends_with('}')));
    assert!(stdout.contains(r#""error":{"phase":"connect","kind":"refused""#));
    assert!(stdout.contains(r#""url":"not-a-url","error":{"phase":"url","kind":"invalid_url""#));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("52 outcomes"), "{stderr}");
    assert!(stderr.contains("connect:refused 1"), "{stderr}");
    assert!(stderr.contains("latency: p50"), "{stderr}");
    assert!(
        !stderr.contains('\r'),
        "no progress line when stderr is not a terminal"
    );
}

#[test]
fn demo_runs_and_prints_the_summary() {
    let out = oneloop()
        .args([
            "demo",
            "--urls",
            "3000",
            "--hosts",
            "3",
            "--per-host",
            "4",
            "--names",
            "0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("3000 outcomes"), "{stdout}");
    assert!(stdout.contains("2xx 3000"), "{stdout}");
    assert!(stdout.contains("errors: 0"), "{stdout}");
    assert!(stdout.contains("12 opened"), "{stdout}");

    // With host names, resolved by the embedded nameserver: one A and one
    // AAAA query per name.
    let out = oneloop()
        .args(["demo", "--urls", "3000", "--hosts", "3", "--names", "30"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("2xx 3000"), "{stdout}");
    assert!(stdout.contains("60 queries sent"), "{stdout}");
}

#[test]
fn bad_arguments_exit_with_usage() {
    let out = oneloop()
        .args(["crawl", "--concurrency", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("not a number"));
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line naming the problem, not the whole usage: {stderr}"
    );
    assert!(stderr.contains("--concurrency") && stderr.contains("see oneloop --help"));
    let out = oneloop().args(["fly"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = oneloop().args(["crawl", "--help"]).output().unwrap();
    assert!(out.status.success(), "--help is a request, not an error");
    assert!(String::from_utf8_lossy(&out.stdout).contains("POLITENESS"));
    let out = oneloop().args(["--help"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("oneloop crawl"));
}

#[test]
fn write_errors_on_events_and_a_cut_events_file_are_reported() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let input = format!("http://{server}/a\nhttp://{server}/b\n");
    // /dev/full accepts the open and fails every write: exit 1, said why.
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--events",
            "/dev/full",
        ],
        &input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing events"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--timeline",
            "/dev/full",
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(1));

    // A killed crawl leaves a cut last line: drawn without it, with a warning.
    let dir = std::env::temp_dir().join(format!("oneloop-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("ev.jsonl");
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--events",
            events.to_str().unwrap(),
        ],
        &input,
    );
    assert!(out.status.success());
    let mut text = std::fs::read_to_string(&events).unwrap();
    text.truncate(text.len() - 10);
    std::fs::write(&events, &text).unwrap();
    let out = oneloop()
        .args(["timeline", events.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("cut short"), "{stderr}");
    assert!(dir.join("ev.svg").exists());
    // A bad line elsewhere is still an error.
    std::fs::write(&events, format!("garbage\n{text}\n")).unwrap();
    let out = oneloop()
        .args(["timeline", events.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn queue_without_workers_is_a_usage_error() {
    let out = oneloop()
        .args(["crawl", "-", "--queue", "8"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--queue"));
}

#[test]
fn the_progress_line_moves_once_a_second_without_outcomes() {
    // Each answer takes 400 ms, one at a time: outcomes are rare, the line
    // still comes every second, with the file's total and what waits.
    let server = slow_echo_server(std::time::Duration::from_millis(400));
    let dir = std::env::temp_dir().join(format!("oneloop-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("urls.txt");
    let urls: String = (0..6).map(|i| format!("http://{server}/p{i}\n")).collect();
    std::fs::write(&file, urls).unwrap();
    let out = oneloop()
        .args(["crawl", file.to_str().unwrap(), "--progress", "--no-pacing"])
        .args(["--ignore-robots", "--concurrency", "1", "--no-jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .split('\r')
        .filter(|l| l.contains(" in flight"))
        .collect();
    assert!(lines.len() >= 2, "a line a second over ~2.4 s: {stderr}");
    assert!(
        lines[0].contains("of ~6 ("),
        "the file's total: {}",
        lines[0]
    );
    // (Input is pulled only when there is room: nothing sits queued here.)
    assert!(lines[0].contains("1 in flight, 0 queued"), "{}", lines[0]);
    let _ = std::fs::remove_dir_all(&dir);
}
