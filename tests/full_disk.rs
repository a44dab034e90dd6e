//! Output that cannot be written is said, and ends the run with status 1:
//! the JSON lines to a full disk (`/dev/full`), the `--state` checkpoint to
//! a full disk. A closed pipe (`| head`) stays quiet (tests/cli.rs).

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::sync::Arc;

fn urls_file(name: &str, urls: &[String]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("oneloop-{}-{name}", std::process::id()));
    std::fs::write(&path, urls.join("\n") + "\n").unwrap();
    path
}

/// `crawl urls.txt > /dev/full` printed its summary, "(stopped early)", and
/// exited 0.
#[test]
fn json_lines_to_a_full_disk_are_an_error() {
    let addr = echo_path_server(Arc::default(), None);
    let urls: Vec<String> = (0..300).map(|i| format!("http://{addr}/{i}")).collect();
    let input = urls_file("full.txt", &urls);
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args([
            "crawl",
            input.to_str().unwrap(),
            "--no-pacing",
            "--ignore-robots",
        ])
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("oneloop: writing the output: No space left on device"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&input);
}

/// `--state` on a full disk: `state.log` stopped growing and nothing was
/// said. The first failed write stops the crawl, and the run ends with
/// status 1, naming the checkpoint.
#[test]
fn a_checkpoint_that_cannot_be_written_stops_the_crawl() {
    // A page that links to 50 more, each to 50 more: far more than the
    // crawl may fetch once its checkpoint fails.
    let handler = move |s: &mut std::net::TcpStream, path: &str| -> bool {
        let n: u64 = path.trim_start_matches("/p").parse().unwrap_or(0);
        let links: String = (1..=50)
            .map(|k| format!("<a href=\"/p{}\">x</a>", n * 50 + k))
            .collect();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            links.len()
        );
        use std::io::Write;
        s.write_all(head.as_bytes()).is_ok() && s.write_all(links.as_bytes()).is_ok()
    };
    let addr = spawn(Arc::new(handler), Arc::default(), None);
    let input = urls_file("state-seeds.txt", &[format!("http://{addr}/p0")]);
    let dir = std::env::temp_dir().join(format!("oneloop-full-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Files of the child may not pass 4 KiB (and going past is an error,
    // not the SIGXFSZ that would kill it): its checkpoint fills up as on a
    // full disk. (Its stdout is a pipe, which the limit does not touch.)
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oneloop"));
    cmd.args([
        "crawl",
        input.to_str().unwrap(),
        "--follow",
        "--max-depth",
        "3",
    ])
    .args([
        "--state",
        dir.to_str().unwrap(),
        "--no-pacing",
        "--ignore-robots",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the checkpoint could not be written: File too large"),
        "{stderr}"
    );
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(
        lines < 2551,
        "it stopped: {lines} pages, not the whole 2,551"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&input);
}

/// `--warc` on a full disk wrote an empty `.warc.gz` per later page and ran
/// on: now the first failed write stops the crawl, said, with status 1.
#[test]
fn an_archive_that_cannot_be_written_stops_the_crawl() {
    let addr = echo_path_server(Arc::default(), None);
    let urls: Vec<String> = (0..400).map(|i| format!("http://{addr}/{i}")).collect();
    let input = urls_file("warc-urls.txt", &urls);
    let dir = std::env::temp_dir().join(format!("oneloop-full-warc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("a");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oneloop"));
    cmd.args([
        "crawl",
        input.to_str().unwrap(),
        "--warc",
        prefix.to_str().unwrap(),
    ])
    .args(["--no-pacing", "--ignore-robots"])
    .args(["--concurrency", "2"])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // Files may not pass 4 KiB: the record pair that would take the
    // archive past it fails as on a full disk (EFBIG, not the SIGXFSZ that
    // would kill the process).
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let files = std::fs::read_dir(&dir).unwrap().count();
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&input);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the archive could not be written") && stderr.contains("File too large"),
        "{stderr}"
    );
    assert!(lines < 400, "it stopped: {lines} lines");
    assert_eq!(
        files, 1,
        "one file, cut back to its last whole record, no more"
    );
}

/// Two crawls on one `--state` directory both ran (1,200 pages fetched
/// twice): the second is refused while the first holds the lock.
#[test]
fn a_second_crawl_on_one_state_directory_is_refused() {
    use std::os::unix::io::AsRawFd;
    let dir = std::env::temp_dir().join(format!("oneloop-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The "first crawl": this test holds the directory's lock.
    let lock = std::fs::File::create(dir.join("lock")).unwrap();
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let counters = Arc::new(Counters::default());
    let addr = echo_path_server(counters.clone(), None);
    let input = urls_file("lock-seeds.txt", &[format!("http://{addr}/")]);
    let out = Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args(["crawl", input.to_str().unwrap(), "--follow"])
        .args([
            "--state",
            dir.to_str().unwrap(),
            "--no-pacing",
            "--ignore-robots",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use by another crawl"), "{stderr}");
    assert_eq!(
        counters.requests.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    drop(lock);
    // Free again: the same command runs.
    let out = Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args(["crawl", input.to_str().unwrap(), "--follow"])
        .args([
            "--state",
            dir.to_str().unwrap(),
            "--no-pacing",
            "--ignore-robots",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&input);
}

/// An unwritable `--warc` prefix (or `--save`, `--events`, `--timeline`,
/// `-o`) was found after the crawl; now before anything is fetched.
#[test]
fn unwritable_outputs_fail_before_fetching() {
    let counters = Arc::new(Counters::default());
    let addr = echo_path_server(counters.clone(), None);
    let input = urls_file("unwritable.txt", &[format!("http://{addr}/")]);
    for args in [
        &["--warc", "/nonexistent-dir/a"][..],
        &["--events", "/nonexistent-dir/e.jsonl"][..],
        &["--timeline", "/nonexistent-dir/t.svg"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_oneloop"))
            .args(["crawl", input.to_str().unwrap(), "--ignore-robots"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(args[0]) && stderr.contains("/nonexistent-dir"),
            "{stderr}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_oneloop"))
        .args([
            "timeline",
            input.to_str().unwrap(),
            "-o",
            "/nonexistent-dir/x.svg",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--output /nonexistent-dir/x.svg"),
        "{stderr}"
    );
    assert_eq!(
        counters.requests.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let _ = std::fs::remove_file(&input);
}
