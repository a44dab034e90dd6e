//! `--shard I/N`: four processes over one input produce disjoint outputs
//! that together cover every line once, and no origin appears in two.

mod common;

use common::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let start = line.find(&key).unwrap() + key.len();
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(s) => &s[..s.find('"').unwrap()],
        None => &rest[..rest.find([',', '}']).unwrap()],
    }
}

#[test]
fn four_shards_cover_the_input_once_and_keep_origins_apart() {
    let servers: Vec<_> = (0..16)
        .map(|_| echo_path_server(Arc::new(Counters::default()), None))
        .collect();
    let mut input = String::new();
    let mut lines = 0u64;
    for i in 0..10 {
        for s in &servers {
            input.push_str(&format!("http://{s}/page/{i}\n"));
            lines += 1;
        }
    }
    input.push_str("not a url\n# a comment\nftp://x.test/\n");
    lines += 2; // the comment is no item
    let mut seen_lines = HashSet::new();
    let mut origin_shard: HashMap<String, usize> = HashMap::new();
    let mut per_shard = Vec::new();
    for i in 0..4 {
        let shard = format!("{i}/4");
        let out = shard_crawl(&shard, &[], &input);
        assert!(out.status.success());
        let stdout = String::from_utf8(out.stdout).unwrap();
        per_shard.push(stdout.lines().count());
        for l in stdout.lines() {
            let line: u64 = field(l, "line").parse().unwrap();
            assert!(seen_lines.insert(line), "line {line} in two shards");
            let url = field(l, "url");
            if let Some(rest) = url.strip_prefix("http://") {
                let origin = rest.split('/').next().unwrap().to_string();
                let first = *origin_shard.entry(origin.clone()).or_insert(i);
                assert_eq!(first, i, "origin {origin} in shards {first} and {i}");
                assert!(l.contains("\"status\":200"), "{l}");
            } else {
                assert_eq!(i, 0, "bad URLs go to shard 0: {l}");
            }
        }
    }
    assert_eq!(
        seen_lines.len() as u64,
        lines,
        "every line once: {per_shard:?}"
    );
    assert_eq!(origin_shard.len(), 16);
    assert!(
        per_shard.iter().filter(|&&n| n > 0).count() >= 3,
        "spread: {per_shard:?}"
    );
    // A bad spec is a usage error.
    let out = oneloop_with_stdin(&["crawl", "-", "--shard", "4/4"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn shards_saving_into_one_directory_never_overwrite_each_other() {
    let servers: Vec<_> = (0..8)
        .map(|_| echo_path_server(Arc::new(Counters::default()), None))
        .collect();
    let input: String = (0..50)
        .flat_map(|i| servers.iter().map(move |s| format!("http://{s}/p/{i}\n")))
        .collect();
    let dir = std::env::temp_dir().join(format!("oneloop-shard-save-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut ok = 0;
    for i in 0..4 {
        let shard = format!("{i}/4");
        let out = shard_crawl(&shard, &["--save", dir.to_str().unwrap()], &input);
        assert!(out.status.success());
        let stdout = String::from_utf8(out.stdout).unwrap();
        for l in stdout.lines() {
            assert!(l.contains("\"status\":200"), "{l}");
            // The id is the input line: the same in every shard.
            assert_eq!(field(l, "id"), field(l, "line"), "{l}");
            ok += 1;
        }
    }
    assert_eq!(ok, 400);
    let files: usize = std::fs::read_dir(&dir)
        .unwrap()
        .map(|sub| std::fs::read_dir(sub.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(files, ok, "one file per 2xx outcome, none overwritten");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `oneloop crawl - --shard SHARD EXTRA` over `input` (no pacing, no
/// robots.txt).
fn shard_crawl(shard: &str, extra: &[&str], input: &str) -> std::process::Output {
    let mut args = vec![
        "crawl",
        "-",
        "--no-pacing",
        "--ignore-robots",
        "--shard",
        shard,
    ];
    args.extend_from_slice(extra);
    oneloop_with_stdin(&args, input)
}
