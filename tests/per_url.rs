//! Per-URL requests (`--input jsonl`) and the conditional re-crawl
//! (`--if-changed`), against servers that echo what they were sent and
//! honour ETags.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One request as the server read it: the head's lines and the body.
fn read_full_request(r: &mut BufReader<TcpStream>) -> Option<(Vec<String>, Vec<u8>)> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 {
            return None;
        }
        let l = l.trim_end().to_string();
        if l.is_empty() {
            break;
        }
        lines.push(l);
    }
    let len = lines
        .iter()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((lines, body))
}

/// Answers each request with its own head lines and body as the body;
/// `/etag` answers `ETag: "v1"` and a 304 to `If-None-Match: "v1"`.
fn echo_server(seen: Arc<AtomicUsize>) -> std::net::SocketAddr {
    raw_server(move |s| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        while let Some((head, body)) = read_full_request(&mut r) {
            seen.fetch_add(1, Ordering::SeqCst);
            let out = if head[0].starts_with("GET /etag") {
                let lm = "Last-Modified: Sun, 29 Nov 2026 10:00:00 GMT\r\n";
                if head.iter().any(|l| l == "If-None-Match: \"v1\"") {
                    format!("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n{lm}\r\n").into_bytes()
                } else {
                    format!("HTTP/1.1 200 OK\r\nETag: \"v1\"\r\n{lm}Content-Length: 5\r\n\r\nfresh")
                        .into_bytes()
                }
            } else if head[0].starts_with("POST /drop") {
                return; // no answer: a POST must not be sent twice
            } else {
                let mut echo = head.join("\n").into_bytes();
                echo.extend_from_slice(b"\n\n");
                echo.extend_from_slice(&body);
                let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", echo.len())
                    .into_bytes();
                out.extend_from_slice(&echo);
                out
            };
            if s.write_all(&out).is_err() {
                return;
            }
        }
    })
}

fn by_line(stdout: &str) -> std::collections::BTreeMap<u64, String> {
    stdout
        .lines()
        .map(|l| (field(l, "line").unwrap().parse().unwrap(), l.to_string()))
        .collect()
}

#[test]
fn each_json_line_is_its_own_request_and_bad_ones_are_their_own_outcome() {
    let seen = Arc::new(AtomicUsize::new(0));
    let a = echo_server(seen.clone());
    let input = [
        format!(r#"{{"url":"http://{a}/get","headers":{{"X-A":"1","User-Agent":"mine/2"}},"meta":{{"k":[1, 2]}}}}"#),
        format!(r#"{{"url":"http://{a}/post","method":"POST","body":"aGVsbG8=","headers":{{"Content-Type":"text/plain"}}}}"#),
        format!(r#"{{"url":"http://{a}/head","method":"HEAD"}}"#),
        format!(r#"{{"url":"http://{a}/drop","method":"POST","body":""}}"#),
        // Malformed, each its own outcome (lines 5 to 12).
        "not json".to_string(),
        r#"{"method":"GET"}"#.to_string(),
        format!(r#"{{"url":"http://{a}/x","extra":1,"meta":"kept"}}"#),
        format!(r#"{{"url":"http://{a}/x","method":"PUT"}}"#),
        format!(r#"{{"url":"http://{a}/x","headers":{{"X-Bad":"a\r\nGET / HTTP/1.1"}}}}"#),
        format!(r#"{{"url":"http://{a}/x","headers":{{"Host":"elsewhere"}}}}"#),
        format!(r#"{{"url":"http://{a}/x","body":"***"}}"#),
        format!(r#"{{"url":"http://{a}/x","headers":{{"X-N":1}}}}"#),
    ]
    .join("\n");
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--input",
            "jsonl",
            "--no-pacing",
            "--ignore-robots",
            "--head-timeout",
            "1s",
        ],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = by_line(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(lines.len(), 12, "{lines:?}");
    let get = &lines[&1];
    assert!(
        get.ends_with(r#","meta":{"k":[1, 2]}}"#),
        "meta echoed as given: {get}"
    );
    let post = &lines[&2];
    assert!(post.contains(r#""status":200"#), "{post}");
    // What the server saw is its answer's body: the same lines again,
    // with the bodies saved, show it.
    let dir = std::env::temp_dir().join(format!("oneloop-per-url-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first_two: String = input.lines().take(3).collect::<Vec<_>>().join("\n");
    let saved = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--input",
            "jsonl",
            "--no-pacing",
            "--ignore-robots",
            "--save",
            dir.to_str().unwrap(),
        ],
        &first_two,
    );
    let saved = by_line(&String::from_utf8(saved.stdout).unwrap());
    let body = |l: u64| std::fs::read_to_string(field(&saved[&l], "path").unwrap()).unwrap();
    let get = body(1);
    assert!(get.starts_with("GET /get HTTP/1.1\n"), "{get}");
    assert!(get.contains("\nX-A: 1\n"), "{get}");
    assert_eq!(
        get.matches("User-Agent:").count(),
        1,
        "replaced, not added: {get}"
    );
    assert!(get.contains("\nUser-Agent: mine/2\n"), "{get}");
    let post = body(2);
    assert!(post.starts_with("POST /post HTTP/1.1\n"), "{post}");
    assert!(
        post.contains("\nContent-Length: 5\n") && post.ends_with("\n\nhello"),
        "{post}"
    );
    assert!(post.contains("\nContent-Type: text/plain\n"), "{post}");
    assert!(
        saved[&3].contains(r#""status":200,"bytes":0"#),
        "HEAD: {}",
        saved[&3]
    );
    let _ = std::fs::remove_dir_all(&dir);
    // The POST that got no answer was sent once.
    let drop = &lines[&4];
    assert!(
        drop.contains(r#""error""#) && drop.contains(r#""attempts":1"#),
        "{drop}"
    );
    for (line, why) in [
        (5, "bad JSON"),
        (6, "no \\\"url\\\""),
        (7, "unknown member"),
        (8, "GET, HEAD or POST"),
        (9, "CR, LF and NUL"),
        (10, "set by the crawler"),
        (11, "not base64"),
        (12, "not a string"),
    ] {
        let l = &lines[&line];
        assert!(l.contains(r#""phase":"url","kind":"invalid_input""#), "{l}");
        assert!(l.contains(why), "line {line} should say {why:?}: {l}");
    }
    assert!(lines[&7].ends_with(r#","meta":"kept"}"#), "{}", lines[&7]);
    // 3 pages, the unanswered POST once, and 3 more for --save.
    assert_eq!(seen.load(Ordering::SeqCst), 4 + 3);
}

#[test]
fn a_recrawl_sends_the_validators_and_unchanged_pages_are_304s() {
    let seen = Arc::new(AtomicUsize::new(0));
    let a = echo_server(seen.clone());
    let dir = std::env::temp_dir().join(format!("oneloop-recrawl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = format!("http://{a}/etag\nhttp://{a}/other\n");
    let common = ["crawl", "-", "--no-pacing", "--ignore-robots"];
    // The first run archives too: its line says when ("warc":{..,"date"}).
    let first_prefix = dir.join("first");
    let mut first_args = common.to_vec();
    first_args.extend(["--warc", first_prefix.to_str().unwrap()]);
    let first = oneloop_with_stdin(&first_args, &input);
    let first = String::from_utf8(first.stdout).unwrap();
    let l1 = &by_line(&first)[&1];
    assert!(
        l1.contains(r#""status":200"#) && l1.contains(r#""etag":"\"v1\"""#),
        "{l1}"
    );
    assert!(
        l1.contains(r#""last_modified":"Sun, 29 Nov 2026 10:00:00 GMT""#),
        "{l1}"
    );
    let captured = field(l1, "date")
        .expect("the capture's WARC-Date")
        .to_string();
    assert!(
        captured.len() == 20 && captured.ends_with('Z'),
        "{captured}"
    );
    let prev = dir.join("prev.jsonl");
    std::fs::write(&prev, &first).unwrap();
    let prefix = dir.join("re");
    let mut args = common.to_vec();
    args.extend([
        "--if-changed",
        prev.to_str().unwrap(),
        "--warc",
        prefix.to_str().unwrap(),
    ]);
    let second = oneloop_with_stdin(&args, &input);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("if-changed: validators for 1 URLs"),
        "{stderr}"
    );
    let second = by_line(&String::from_utf8(second.stdout).unwrap());
    let l1 = &second[&1];
    assert!(
        l1.contains(r#""status":304"#) && l1.contains(r#""not_modified":true"#),
        "{l1}"
    );
    assert!(second[&2].contains(r#""status":200"#));
    assert!(!second[&2].contains("not_modified"));
    // The 304 is archived as a revisit record.
    let file = std::path::PathBuf::from(field(l1, "file").unwrap());
    let bytes = std::fs::read(&file).unwrap();
    let offset: usize = field(l1, "offset").unwrap().parse().unwrap();
    let length: usize = field(l1, "length").unwrap().parse().unwrap();
    let member = &bytes[offset..offset + length];
    let rec = miniz_oxide::inflate::decompress_to_vec(&member[10..member.len() - 8]).unwrap();
    let rec = String::from_utf8(rec).unwrap();
    assert!(
        rec.starts_with("WARC/1.1\r\nWARC-Type: revisit\r\n"),
        "{rec}"
    );
    assert!(rec
        .contains("WARC-Profile: http://netpreserve.org/warc/1.1/revisit/server-not-modified\r\n"));
    // It names the capture it stands for, so a replay tool finds it.
    let uri = format!("WARC-Refers-To-Target-URI: http://{a}/etag\r\n");
    assert!(rec.contains(&uri), "{rec}");
    let date = format!("WARC-Refers-To-Date: {captured}\r\n");
    assert!(rec.contains(&date), "{rec}");
    if std::process::Command::new("warcio")
        .arg("--help")
        .output()
        .is_ok()
    {
        let check = std::process::Command::new("warcio")
            .arg("check")
            .arg(&file)
            .output()
            .unwrap();
        assert!(check.status.success(), "{check:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
