//! `--warc`: every response archived, checked by reading the records back
//! at the offsets the JSON lines give, and by an independent reader
//! (`warcio check` and `warcio index`; CI installs it and sets
//! `ONELOOP_REQUIRE_WARCIO=1`).

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The page behind `/gz/N` before the server gzips it.
fn page(n: &str) -> String {
    format!(
        "<html><body>page {n} {}</body></html>",
        "words ".repeat(200)
    )
}

/// `/plain/N`: a Content-Length body. `/gz/N`: gzip, sent chunked in three
/// chunks. `/robots.txt`: disallows `/private`. Anything else: a 404.
fn server() -> std::net::SocketAddr {
    let handler = |s: &mut TcpStream, path: &str| -> bool {
        let out = if let Some(n) = path.strip_prefix("/gz/") {
            let gz = oneloop::warc::gzip_member(page(n).as_bytes(), 6);
            let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let third = gz.len() / 3;
            for part in [&gz[..third], &gz[third..2 * third], &gz[2 * third..]] {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        } else if let Some(n) = path.strip_prefix("/moved/") {
            format!("HTTP/1.1 302 Found\r\nLocation: /plain/{n}\r\nContent-Length: 5\r\n\r\nmoved")
                .into_bytes()
        } else if path == "/robots.txt" {
            let body = "User-agent: *\nDisallow: /private\n";
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        } else if path.starts_with("/plain/") {
            let body = format!("plain body of {path}");
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".to_vec()
        };
        s.write_all(&out).is_ok()
    };
    spawn(Arc::new(handler), Arc::new(Counters::default()), None)
}

/// The record at `offset` (`length` bytes, one gzip member), inflated.
fn record_at(file: &Path, offset: u64, length: u64) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let member = &bytes[offset as usize..(offset + length) as usize];
    assert_eq!(&member[..2], &[0x1f, 0x8b], "a gzip member starts there");
    miniz_oxide::inflate::decompress_to_vec(&member[10..member.len() - 8]).unwrap()
}

fn split_record(rec: &[u8]) -> (String, &[u8]) {
    let end = rec.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let header = String::from_utf8(rec[..end].to_vec()).unwrap();
    let block = &rec[end + 4..rec.len() - 4];
    assert!(rec.ends_with(b"\r\n\r\n"));
    (header, block)
}

fn warc_files(prefix: &Path) -> Vec<PathBuf> {
    let dir = prefix.parent().unwrap();
    let stem = prefix.file_name().unwrap().to_str().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(&format!("{stem}-")) && name.ends_with(".warc.gz")
        })
        .collect();
    files.sort();
    files
}

/// `warcio` on PATH; required (not skipped) when ONELOOP_REQUIRE_WARCIO=1.
fn warcio() -> Option<&'static str> {
    let found = Command::new("warcio").arg("--help").output().is_ok();
    if !found && std::env::var("ONELOOP_REQUIRE_WARCIO").as_deref() == Ok("1") {
        panic!("warcio is required (pip install warcio)");
    }
    if !found {
        // Past the test harness's capture: a skip must show in `cargo test`.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the warcio checks: warcio is not installed (pip install warcio)"
        );
    }
    found.then_some("warcio")
}

#[test]
fn every_response_is_archived_where_its_line_says_and_warcio_agrees() {
    let addr = server();
    let dir = std::env::temp_dir().join(format!("oneloop-warc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("crawl");
    let mut input = String::new();
    for i in 0..20 {
        input.push_str(&format!("http://{addr}/gz/{i}\nhttp://{addr}/plain/{i}\n"));
    }
    input.push_str(&format!(
        "http://{addr}/missing\nhttp://127.0.0.1:9/refused\n"
    ));
    let args = [
        "crawl",
        "-",
        "--no-pacing",
        "--ignore-robots",
        "--retries",
        "0",
        "--warc",
        prefix.to_str().unwrap(),
        "--warc-max-size",
        "8000",
    ];
    let out = oneloop_with_stdin(&args, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 42);
    let mut offsets = std::collections::HashSet::new();
    for l in stdout.lines() {
        let url = field(l, "url").unwrap();
        if url.contains(":9/") {
            assert!(
                field(l, "warc").is_none(),
                "nothing received, nothing archived: {l}"
            );
            continue;
        }
        let file = PathBuf::from(field(l, "file").expect(l));
        let offset: u64 = field(l, "offset").unwrap().parse().unwrap();
        let length: u64 = field(l, "length").unwrap().parse().unwrap();
        offsets.insert((file.file_name().unwrap().to_owned(), offset));
        let rec = record_at(&file, offset, length);
        let (header, block) = split_record(&rec);
        assert!(
            header.starts_with("WARC/1.1\r\nWARC-Type: response\r\n"),
            "{header}"
        );
        assert!(
            header.contains(&format!("WARC-Target-URI: {url}\r\n")),
            "{header}"
        );
        assert!(
            header.contains("WARC-IP-Address: 127.0.0.1\r\n"),
            "{header}"
        );
        assert!(header.contains("Content-Type: application/http;msgtype=response"));
        let head_end = block.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let (head, body) = (
            std::str::from_utf8(&block[..head_end]).unwrap(),
            &block[head_end..],
        );
        if let Some(n) = url.split("/gz/").nth(1) {
            // As received: still gzip, de-chunked, the framing renamed.
            assert_eq!(body, oneloop::warc::gzip_member(page(n).as_bytes(), 6));
            assert!(
                head.contains("X-Crawler-Transfer-Encoding: chunked\r\n"),
                "{head}"
            );
            assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
            assert!(head.contains("Content-Encoding: gzip\r\n"));
            // The JSON line counts the decoded page.
            assert_eq!(field(l, "bytes").unwrap(), page(n).len().to_string());
        } else if url.contains("/plain/") {
            assert!(body.starts_with(b"plain body of /plain/"), "{l}");
        } else {
            assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"));
        }
    }
    assert_eq!(offsets.len(), 41, "one response record each");
    let files = warc_files(&prefix);
    assert!(files.len() >= 3, "rotated at 8,000 bytes: {files:?}");
    for f in &files {
        let (header, _) = split_record(&record_at(f, 0, first_member_len(f)));
        assert!(header.contains("WARC-Type: warcinfo"), "{header}");
        assert!(std::fs::metadata(f).unwrap().len() < 8000 + 4000);
    }
    if let Some(warcio) = warcio() {
        for f in &files {
            let check = Command::new(warcio).arg("check").arg(f).output().unwrap();
            assert!(check.status.success(), "warcio check {f:?}: {check:?}");
            let index = Command::new(warcio)
                .args(["index", "-f", "warc-type,offset"])
                .arg(f)
                .output()
                .unwrap();
            let index = String::from_utf8(index.stdout).unwrap();
            let mut responses = 0;
            for l in index.lines().filter(|l| l.contains("\"response\"")) {
                // warcio writes `"offset": "665"`.
                let l = l.replace("\": \"", "\":\"");
                let offset: u64 = field(&l, "offset").unwrap().parse().unwrap();
                responses += 1;
                let name = f.file_name().unwrap().to_owned();
                assert!(
                    offsets.contains(&(name, offset)),
                    "{l} is not in the JSON lines"
                );
            }
            assert!(responses > 0, "warcio found no response in {f:?}: {index}");
        }
    }
    // A second run with the same prefix adds files; the old ones stay.
    let before: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|f| (f.clone(), std::fs::read(f).unwrap()))
        .collect();
    let out = oneloop_with_stdin(&args, &format!("http://{addr}/plain/again\n"));
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let new_file = field(&stdout, "file").unwrap().to_string();
    assert!(
        files.iter().all(|f| f.to_str().unwrap() != new_file),
        "{new_file}"
    );
    for (f, bytes) in before {
        assert_eq!(std::fs::read(&f).unwrap(), bytes, "{f:?} untouched");
    }
    assert_eq!(warc_files(&prefix).len(), files.len() + 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A redirect chain is archived whole: the 302 (request and response at
/// the first URL), then the final pair, so a replay tool finds the page by
/// the URL that was asked for; the JSON line points at the final response.
#[test]
fn every_redirect_hop_is_archived_before_the_page() {
    let addr = server();
    let dir = std::env::temp_dir().join(format!("oneloop-warc-hops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("hops");
    let input = format!("http://{addr}/moved/7\n");
    let args = [
        "crawl",
        "-",
        "--no-pacing",
        "--ignore-robots",
        "--warc",
        prefix.to_str().unwrap(),
    ];
    let out = oneloop_with_stdin(&args, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let files = warc_files(&prefix);
    assert_eq!(files.len(), 1);
    // Every member, inflated in order (Python's gzip reads them all).
    let all = Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())",
        ])
        .arg(&files[0])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&all.stdout);
    let types: Vec<(&str, &str)> = text
        .split("WARC/1.1\r\n")
        .skip(1)
        .map(|rec| {
            let field = |name: &str| rec.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("");
            (field("WARC-Type: "), field("WARC-Target-URI: "))
        })
        .collect();
    let first = format!("http://{addr}/moved/7");
    let last = format!("http://{addr}/plain/7");
    assert_eq!(
        types,
        [
            ("warcinfo", ""),
            ("request", first.as_str()),
            ("response", first.as_str()),
            ("request", last.as_str()),
            ("response", last.as_str()),
        ]
    );
    assert!(
        text.contains("HTTP/1.1 302 Found\r\nLocation: /plain/7"),
        "{text}"
    );
    // The line's offset is the final response record's.
    let offset: u64 = field(&line, "offset").unwrap().parse().unwrap();
    let length: u64 = field(&line, "length").unwrap().parse().unwrap();
    let rec = String::from_utf8(record_at(&files[0], offset, length)).unwrap();
    assert!(
        rec.starts_with("WARC/1.1\r\nWARC-Type: response\r\n"),
        "{rec}"
    );
    assert!(
        rec.contains(&format!("WARC-Target-URI: {last}\r\n")),
        "{rec}"
    );
    if let Some(warcio) = warcio() {
        let check = Command::new(warcio)
            .arg("check")
            .arg(&files[0])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The robots.txt the gate fetched was obeyed but not archived: a replay
/// tool could not show why a page is missing. Now its request and response
/// are in the archive, once; it is not an outcome (one JSON line per input
/// line, as before).
#[test]
fn the_robots_txt_the_gate_fetched_is_archived_once() {
    let addr = server();
    let dir = std::env::temp_dir().join(format!("oneloop-warc-robots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("robots");
    let input = format!("http://{addr}/plain/1\nhttp://{addr}/private/2\nhttp://{addr}/plain/3\n");
    let args = [
        "crawl",
        "-",
        "--no-pacing",
        "--warc",
        prefix.to_str().unwrap(),
    ];
    let out = oneloop_with_stdin(&args, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8(out.stdout).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(
        lines
            .lines()
            .any(|l| l.contains("/private/2") && l.contains("\"kind\":\"disallowed\"")),
        "{lines}"
    );
    let files = warc_files(&prefix);
    assert_eq!(files.len(), 1);
    let all = Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())",
        ])
        .arg(&files[0])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&all.stdout);
    let robots = format!("http://{addr}/robots.txt");
    let targets: Vec<String> = text
        .split("WARC/1.1\r\n")
        .skip(1)
        .filter_map(|rec| {
            rec.lines()
                .find_map(|l| l.strip_prefix("WARC-Target-URI: "))
        })
        .map(str::to_string)
        .collect();
    // robots.txt once and the two pages fetched, each a request/response
    // pair, in whatever order the workers wrote them; the disallowed page
    // is not there.
    assert_eq!(targets.len(), 6, "{targets:?}");
    let pairs: Vec<&[String]> = targets.chunks(2).collect();
    assert!(pairs.iter().all(|p| p[0] == p[1]), "{targets:?}");
    let (robots_pairs, pages): (Vec<&String>, Vec<&String>) =
        targets.iter().partition(|t| **t == robots);
    assert_eq!(robots_pairs.len(), 2, "{targets:?}");
    let mut pages: Vec<&str> = pages.iter().map(|t| t.as_str()).collect();
    pages.sort();
    let (p1, p3) = (
        format!("http://{addr}/plain/1"),
        format!("http://{addr}/plain/3"),
    );
    assert_eq!(pages, [p1.as_str(), p1.as_str(), p3.as_str(), p3.as_str()]);
    assert!(text.contains("Disallow: /private"), "{text}");
    if let Some(warcio) = warcio() {
        let check = Command::new(warcio)
            .arg("check")
            .arg(&files[0])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The length of the first gzip member of a file (its warcinfo record):
/// found by inflating with a decoder that stops at the member's end.
fn first_member_len(f: &Path) -> u64 {
    let bytes = std::fs::read(f).unwrap();
    // Find the next member's magic after a plausible end; the warcinfo
    // record is small, so try each candidate.
    (18..bytes.len())
        .find(|&end| {
            (end == bytes.len() || bytes[end..].starts_with(&[0x1f, 0x8b, 8]))
                && miniz_oxide::inflate::decompress_to_vec(&bytes[10..end - 8]).is_ok()
        })
        .unwrap_or(bytes.len()) as u64
}

/// An archive that cannot be written is found before anything is fetched
/// (it was each page's `save` error, found after the crawl).
#[test]
fn an_archive_that_cannot_be_written_fails_before_fetching() {
    let addr = server();
    let input = format!("http://{addr}/plain/1\nhttp://{addr}/missing\n");
    let prefix = "/nonexistent-oneloop-dir/crawl";
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--warc",
            prefix,
        ],
        &input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing fetched");
    assert!(
        stderr.contains("--warc /nonexistent-oneloop-dir/crawl"),
        "{stderr}"
    );
}
