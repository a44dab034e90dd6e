//! `crawl --follow --state DIR`: killed with SIGKILL at a random moment,
//! then run again with the same state: the two outputs together have every
//! reachable page exactly once, except what was in flight at the kill
//! (at most twice).

mod common;

use common::*;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGES: u64 = 3000;

/// A tree of pages: /p/N links to /p/8N+1 .. /p/8N+8, answered after 1 ms.
fn tree_site(served: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let handler = move |s: &mut TcpStream, path: &str| -> bool {
        std::thread::sleep(Duration::from_millis(1));
        let Some(n) = path.strip_prefix("/p/").and_then(|n| n.parse::<u64>().ok()) else {
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            return true;
        };
        let links: String = (8 * n + 1..=8 * n + 8)
            .filter(|&c| c < PAGES)
            .map(|c| format!("<a href=\"/p/{c}\">{c}</a>"))
            .collect();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            links.len()
        );
        served.fetch_add(1, Ordering::SeqCst);
        s.write_all(head.as_bytes()).is_ok() && s.write_all(links.as_bytes()).is_ok()
    };
    spawn(Arc::new(handler), Arc::new(Counters::default()), None)
}

fn page_of(line: &str) -> Option<u64> {
    let at = line.find("/p/")? + 3;
    let rest = &line[at..];
    rest[..rest.find('"')?].parse().ok()
}

#[test]
fn kill_9_then_the_same_state_finishes_the_crawl() {
    kill_9_and_continue(4, "state-4");
}

/// Issue 10's regression: with 20 requests in flight, 31 pages came twice
/// (the `D` records reached the OS once a second, the output every 100 ms).
/// Now a page's `D` follows its line to the OS: twice only what was in
/// flight (20) and the lines of the last instant.
#[test]
fn kill_9_with_twenty_in_flight_fetches_at_most_those_twice() {
    kill_9_and_continue(20, "state-20");
}

/// Runs the tree crawl with `concurrency`, kills it with SIGKILL at a
/// random moment, runs it again with the same `--state`, and checks the
/// union: every page, at most `concurrency + 4` of them twice.
fn kill_9_and_continue(concurrency: usize, name: &str) {
    let served = Arc::new(AtomicUsize::new(0));
    let addr = tree_site(served.clone());
    let dir = std::env::temp_dir().join(format!("oneloop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = dir.join("seeds.txt");
    std::fs::write(&seeds, format!("http://{addr}/p/0\n")).unwrap();
    let state = dir.join("state");
    let run = |out: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_oneloop"))
            .args([
                "crawl",
                seeds.to_str().unwrap(),
                "--follow",
                "--max-depth",
                "10",
            ])
            .args([
                "--state",
                state.to_str().unwrap(),
                "--no-pacing",
                "--ignore-robots",
            ])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--per-host", &concurrency.to_string()])
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (out1, out2) = (dir.join("out1.jsonl"), dir.join("out2.jsonl"));
    let mut first = run(&out1);
    let start = Instant::now();
    // A moment that is not a round number of anything.
    let kill_at = 700 + (std::process::id() as usize % 500);
    while served.load(Ordering::SeqCst) < kill_at {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let second = run(&out2).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("state: run 2 of"), "{stderr}");
    let text1 = std::fs::read_to_string(&out1).unwrap();
    let text2 = std::fs::read_to_string(&out2).unwrap();
    let mut count: HashMap<u64, usize> = HashMap::new();
    // Whole lines of the first run (the kill may cut its last), all of the
    // second.
    let whole1 = text1.split_inclusive('\n').filter(|l| l.ends_with("}\n"));
    for l in whole1.chain(text2.lines()) {
        assert!(l.contains("\"status\":200"), "{l}");
        *count.entry(page_of(l).expect(l)).or_insert(0) += 1;
    }
    let missing: Vec<u64> = (0..PAGES).filter(|p| !count.contains_key(p)).collect();
    assert!(
        missing.is_empty(),
        "pages never fetched ({}): {missing:?} in {}",
        missing.len(),
        dir.display()
    );
    assert_eq!(count.len() as u64, PAGES);
    let twice: Vec<_> = count.iter().filter(|(_, &n)| n > 1).collect();
    assert!(count.values().all(|&n| n <= 2), "{twice:?}");
    // In flight at the kill: at most the concurrency, and the few whose
    // lines were written in the last instant.
    let most = concurrency + 4;
    assert!(
        twice.len() <= most,
        "{} pages twice (at most {most}): {twice:?}",
        twice.len()
    );
    assert!(text1.lines().count() >= 200, "the first run got somewhere");
    // Ids are unique across the runs, and `from` names a page of either.
    let ids: Vec<&str> = text1
        .lines()
        .chain(text2.lines())
        .filter_map(|l| l.strip_prefix("{\"id\":")?.split(',').next())
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "ids collide across runs");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tree over four origins: page N lives on server N % 4.
fn sharded_site() -> Vec<std::net::SocketAddr> {
    // The four origins (random ports) must not all belong to one shard, or
    // no link would cross shards (1 time in 64): bind again until they don't.
    let (listeners, addrs) = loop {
        let listeners: Vec<_> = (0..4)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let shard = |a: &std::net::SocketAddr| {
            oneloop::url::Url::parse(&format!("http://{a}/"))
                .unwrap()
                .shard(4)
        };
        if addrs.iter().any(|a| shard(a) != shard(&addrs[0])) {
            break (listeners, addrs);
        }
    };
    for l in listeners {
        let addrs = addrs.clone();
        let handler = move |s: &mut TcpStream, path: &str| -> bool {
            let n: u64 = path
                .strip_prefix("/p/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX);
            let links: String = (8 * n.min(PAGES) + 1..=8 * n.min(PAGES) + 8)
                .filter(|&c| c < PAGES)
                .map(|c| {
                    format!(
                        "<a href=\"http://{}/p/{c}\">{c}</a>",
                        addrs[(c % 4) as usize]
                    )
                })
                .collect();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
                links.len()
            );
            s.write_all(head.as_bytes()).is_ok() && s.write_all(links.as_bytes()).is_ok()
        };
        spawn_on(l, Arc::new(handler));
    }
    addrs
}

#[test]
fn four_shards_in_rounds_crawl_the_site_once() {
    let addrs = sharded_site();
    let dir = std::env::temp_dir().join(format!("oneloop-rounds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = format!("http://{}/p/0\n", addrs[0]);
    let state = |i: u64| dir.join(format!("state-{i}"));
    let mut fetched_by: HashMap<u64, u64> = HashMap::new();
    let mut rounds = 0;
    loop {
        // This round's input of shard I: the seeds (seen ones are skipped;
        // the others put their hosts in scope) and what the other shards
        // diverted to it, taken away.
        let mut inputs = Vec::new();
        let mut diverted = 0;
        for i in 0..4u64 {
            let mut input = seeds.clone();
            for j in 0..4u64 {
                let f = state(j).join(format!("divert-{i}.txt"));
                if let Ok(text) = std::fs::read_to_string(&f) {
                    diverted += text.lines().count();
                    input.push_str(&text);
                    std::fs::remove_file(&f).unwrap();
                }
            }
            inputs.push(input);
        }
        if rounds > 0 && diverted == 0 {
            break;
        }
        for (i, input) in inputs.iter().enumerate() {
            let shard = format!("{i}/4");
            let st = state(i as u64);
            let out = oneloop_with_stdin(
                &[
                    "crawl",
                    "-",
                    "--follow",
                    "--max-depth",
                    "20",
                    "--no-pacing",
                    "--ignore-robots",
                    "--shard",
                    &shard,
                    "--state",
                    st.to_str().unwrap(),
                ],
                input,
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            for l in String::from_utf8(out.stdout).unwrap().lines() {
                let page = page_of(l).expect(l);
                let url = oneloop::url::Url::parse(&format!(
                    "http://{}/p/{page}",
                    addrs[(page % 4) as usize]
                ))
                .unwrap();
                assert_eq!(
                    url.shard(4),
                    i as u64,
                    "page {page} fetched by shard {i}, owner {}",
                    url.shard(4)
                );
                assert!(
                    fetched_by.insert(page, i as u64).is_none(),
                    "page {page} fetched twice"
                );
            }
        }
        rounds += 1;
        assert!(rounds < 30, "rounds do not converge");
    }
    assert_eq!(
        fetched_by.len() as u64,
        PAGES,
        "the union over rounds is the whole site"
    );
    assert!(rounds >= 2, "links crossed shards: {rounds} rounds");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A state directory holds one crawl: another seed list or another scope
/// is refused before anything is fetched (as `--resume` refuses another
/// input); the same seeds with more after them (the next shard round) run.
#[test]
fn a_state_directory_of_other_seeds_or_scope_is_refused() {
    let served = Arc::new(AtomicUsize::new(0));
    let addr = tree_site(served.clone());
    let dir = std::env::temp_dir().join(format!("oneloop-state-id-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let run = |seeds: &str, extra: &[&str]| {
        let file = dir.join("seeds.txt");
        std::fs::write(&file, seeds).unwrap();
        Command::new(env!("CARGO_BIN_EXE_oneloop"))
            .args([
                "crawl",
                file.to_str().unwrap(),
                "--follow",
                "--max-depth",
                "1",
            ])
            .args([
                "--state",
                state.to_str().unwrap(),
                "--no-pacing",
                "--ignore-robots",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = format!("http://{addr}/p/0\n");
    let out = run(&first, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after_first = served.load(Ordering::SeqCst);
    assert_eq!(after_first, 9, "the seed and its 8 links");

    let out = run(&format!("http://{addr}/p/1\n"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("it holds the crawl of other seeds"),
        "{stderr}"
    );
    let out = run(&first, &["--scope", "any"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--scope host; this one has --scope any"),
        "{stderr}"
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        after_first,
        "nothing fetched"
    );

    // The same seeds, then one more: a later round; it runs.
    let out = run(&format!("{first}http://{addr}/p/2000\n"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("state: run 2 of"), "{stderr}");
    assert_eq!(
        served.load(Ordering::SeqCst),
        after_first + 1,
        "only the new seed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
