//! `--save DIR`: exactly one file per 2xx outcome, with the right bytes,
//! written off the loop; write errors are that URL's outcome, in phase
//! `save`, and the crawl goes on.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;

/// A server whose body is "body of PATH" (and 404 for /missing*).
fn server() -> std::net::SocketAddr {
    spawn(
        Arc::new(|s: &mut TcpStream, path: &str| {
            if path.starts_with("/missing") {
                let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                return true;
            }
            respond(s, &format!("body of {path}"), true)
        }),
        Arc::new(Counters::default()),
        None,
    )
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":");
    let start = line.find(&key)? + key.len();
    let rest = &line[start..];
    let end = if let Some(stripped) = rest.strip_prefix('"') {
        stripped.find('"')? + 2
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim_matches('"'))
}

#[test]
fn ten_thousand_pages_one_file_each_with_the_right_bytes() {
    let server = server();
    let dir = std::env::temp_dir().join(format!("oneloop-save-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut input = String::new();
    for i in 0..10_000 {
        input.push_str(&format!("http://{server}/p/{i}\n"));
    }
    for i in 0..50 {
        input.push_str(&format!("http://{server}/missing/{i}\n"));
    }
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--concurrency",
            "50",
            "--per-host",
            "50",
            "--save",
            dir.to_str().unwrap(),
            "--workers",
            "4",
        ],
        &input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("save: 10000 files written"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 10_050);
    let mut paths = HashMap::new();
    for l in &lines {
        let url = field(l, "url").unwrap();
        match field(l, "path") {
            Some(path) => {
                assert_eq!(field(l, "status"), Some("200"), "{l}");
                assert!(paths.insert(path.to_string(), url.to_string()).is_none());
            }
            None => assert_eq!(field(l, "status"), Some("404"), "no file for a 404: {l}"),
        }
    }
    assert_eq!(paths.len(), 10_000);
    // Every file is where its line says, with its page's bytes; nothing else.
    for (path, url) in &paths {
        let want = format!("body of {}", &url[url.find("/p/").unwrap()..]);
        assert_eq!(std::fs::read_to_string(path).unwrap(), want, "{path}");
    }
    let mut files = 0;
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap();
        assert!(sub.file_name().len() == 2, "hash-prefix directories only");
        for f in std::fs::read_dir(sub.path()).unwrap() {
            let name = f.unwrap().file_name();
            assert!(
                !name.to_string_lossy().starts_with('.'),
                "no temporary left: {name:?}"
            );
            files += 1;
        }
    }
    assert_eq!(files, 10_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_write_error_is_that_urls_save_error_and_the_crawl_goes_on() {
    let server = server();
    let dir = std::env::temp_dir().join(format!("oneloop-save-efbig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let input: String = (0..20)
        .map(|i| format!("http://{server}/p/{i}\n"))
        .collect();
    // Files of the crawl may not pass 4 bytes (and going past is an
    // error, not the SIGXFSZ that would kill it): every save fails on its
    // write, mid-crawl, as on a full disk.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_oneloop"));
    cmd.args(["crawl", "-", "--no-pacing", "--save", dir.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 4,
                rlim_max: 4,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 20);
    // The response stays the outcome; the failed save is its own field
    // (it used to replace the status, and the summary was patched after).
    for l in stdout.lines() {
        assert!(l.contains(r#""status":200"#), "{l}");
        assert!(
            l.contains(r#""save_error":{"phase":"save","kind":"io""#),
            "{l}"
        );
        assert!(!l.contains(r#""error""#), "{l}");
    }
    assert!(
        stderr.contains("0 files written") && stderr.contains("20 failed (io 20)"),
        "{stderr}"
    );
    // The summary counts the responses the JSON lines say: 20 2xx.
    assert!(stderr.contains("responses: 20 (1xx 0, 2xx 20"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `--save` place that cannot be a directory is said before anything
/// is fetched.
#[test]
fn an_unusable_save_directory_fails_before_fetching() {
    let server = server();
    let blocker = std::env::temp_dir().join(format!("oneloop-save-blocker-{}", std::process::id()));
    std::fs::write(&blocker, b"not a directory").unwrap();
    let target = blocker.join("pages");
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--save",
            target.to_str().unwrap(),
        ],
        &format!("http://{server}/p/1\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        out.stdout.is_empty() && stderr.contains("--save"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&blocker);
}

#[test]
fn the_blocking_pitfall_and_its_cure_in_one_command_each() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oneloop"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let inline = run(&["demo", "--urls", "20", "--names", "0", "--block-ms", "30"]);
    assert!(inline.contains("20 stalls"), "{inline}");
    let cured = run(&[
        "demo",
        "--urls",
        "20",
        "--names",
        "0",
        "--block-ms",
        "30",
        "--workers",
        "20",
    ]);
    assert!(cured.contains(" 0 stalls"), "{cured}");
    assert!(cured.contains("workers: 20 threads"), "{cured}");
}
