//! Seeing the loop: `--trace` prints transitions, `--events` writes them,
//! `timeline` draws them; and embedders get the same events.

mod common;

use common::*;
use oneloop::events::{Event, EventKind};
use oneloop::{Config, ConnState, Crawler};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn oneloop() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_oneloop"))
}

/// Runs `oneloop timeline EVENTS -o SVG`.
fn draw_timeline(events: &std::path::Path, svg: &std::path::Path) -> std::process::Output {
    oneloop()
        .args([
            "timeline",
            events.to_str().unwrap(),
            "-o",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

/// 3 hosts × 5 URLs, one connection per host.
fn three_by_five() -> (Vec<std::net::SocketAddr>, String) {
    let hosts: Vec<_> = (0..3)
        .map(|_| echo_path_server(Arc::new(Counters::default()), None))
        .collect();
    let mut input = String::new();
    for i in 0..5 {
        for h in &hosts {
            input.push_str(&format!("http://{h}/p{i}\n"));
        }
    }
    (hosts, input)
}

#[test]
fn trace_prints_every_transition_with_times_and_ids() {
    let (_, input) = three_by_five();
    let out = oneloop_with_stdin(
        &["crawl", "-", "--no-pacing", "--per-host", "1", "--trace"],
        &input,
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let transitions: Vec<&str> = stderr.lines().filter(|l| l.contains(" -> ")).collect();
    // Per connection: Connecting -> Sending once, then per request
    // Sending -> ReadingHead -> ReadingBody -> Idle, and Idle -> Sending on reuse.
    assert!(
        transitions.len() >= 3 * (1 + 5 * 3 + 4),
        "{}",
        transitions.len()
    );
    // (robots.txt fetches show as robots#N; the pages as req#N.)
    let line = transitions
        .iter()
        .find(|l| l.contains("ReadingHead -> ReadingBody") && l.contains(" req#"))
        .unwrap();
    assert!(line.starts_with('+') && line.contains("ms conn#"), "{line}");
    assert!(
        stderr.lines().any(|l| l.contains("turn: blocked")),
        "loop turns too"
    );
    assert!(stderr.lines().any(|l| l.contains("finished: 200")));
}

fn count(
    events: &[HashMap<String, String>],
    pred: impl Fn(&HashMap<String, String>) -> bool,
) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

/// The events file, each line as key → raw value text (enough for counting).
fn read_events(path: &std::path::Path) -> Vec<HashMap<String, String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let inner = l.trim().trim_start_matches('{').trim_end_matches('}');
            inner
                .split(',')
                .filter_map(|kv| kv.split_once(':'))
                .map(|(k, v)| {
                    (
                        k.trim_matches('"').to_string(),
                        v.trim_matches('"').to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn events_and_timeline_match_a_small_known_crawl() {
    let (_, input) = three_by_five();
    let dir = std::env::temp_dir().join(format!("oneloop-tl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("ev.jsonl");
    let svg = dir.join("crawl.svg");
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--per-host",
            "1",
            "--events",
            events.to_str().unwrap(),
        ],
        &input,
    );
    assert!(out.status.success());
    let ev = read_events(&events);
    // Every event has a monotonic timestamp and a type.
    let ts: Vec<u64> = ev.iter().map(|e| e["t"].parse().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "monotonic");
    assert_eq!(count(&ev, |e| e["type"] == "queued"), 15);
    assert_eq!(count(&ev, |e| e["type"] == "admitted"), 15);
    assert_eq!(
        count(&ev, |e| e["type"] == "finished" && e["result"] == "200"),
        15
    );
    assert_eq!(count(&ev, |e| e["type"] == "conn_opened"), 3);
    assert_eq!(count(&ev, |e| e["type"] == "conn_reused"), 12);
    assert_eq!(count(&ev, |e| e["type"] == "conn_closed"), 3);
    assert!(count(&ev, |e| e["type"] == "turn") > 0);

    let out = draw_timeline(&events, &svg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let lanes: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .collect();
    assert_eq!(lanes.len(), 3, "one lane per connection");
    // Each drawn segment is one state entered: by a transition, or the
    // state a connection was opened in.
    for state in ["connecting", "sending", "head", "body", "idle"] {
        let entered = count(&ev, |e| {
            (e["type"] == "state" && e.get("to").map(String::as_str) == Some(state))
                || (e["type"] == "conn_opened" && e.get("state").map(String::as_str) == Some(state))
        });
        let drawn = lanes
            .iter()
            .flat_map(|l| l.descendants())
            .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some(state))
            .count();
        assert_eq!(drawn, entered, "{state}");
        assert!(entered > 0, "{state}");
    }
    assert_eq!(
        count(&ev, |e| e["type"] == "state"
            && e.get("to").map(String::as_str) == Some("head")),
        15,
        "one head wait per request"
    );
    // Hover text names the request.
    assert!(text.contains("<title>conn#0 req#"), "request ids on hover");
    assert!(doc.descendants().any(|n| n.attribute("id") == Some("loop")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_slow_callback_is_a_stall_in_the_events_and_red_in_the_picture() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let mut crawler = Crawler::new(Config {
        stall_threshold: std::time::Duration::from_millis(10),
        ..Config::local()
    })
    .unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    crawler.set_observer(move |e: &Event<'_>| {
        let mut line = String::new();
        e.write_json(&mut line);
        s2.lock().unwrap().push(line);
    });
    let urls: Vec<String> = (0..4).map(|i| format!("http://{server}/{i}")).collect();
    crawler
        .run(urls, |o| {
            if o.url.ends_with("/2") {
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
        })
        .unwrap();
    let lines = seen.lock().unwrap().clone();
    let stall = lines
        .iter()
        .find(|l| l.contains(r#""type":"stall""#))
        .unwrap();
    assert!(stall.contains("/2"), "{stall}");
    let dir = std::env::temp_dir().join(format!("oneloop-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("ev.jsonl");
    std::fs::write(&events, lines.join("\n")).unwrap();
    let svg = dir.join("t.svg");
    let out = draw_timeline(&events, &svg);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let red = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("stall"))
        .count();
    assert_eq!(red, 2, "the legend's swatch and the one stall");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn embedders_get_the_same_events_in_order() {
    let server = echo_path_server(Arc::new(Counters::default()), None);
    let mut crawler = Crawler::new(Config {
        per_host: 1,
        ..Config::local()
    })
    .unwrap();
    let states: Arc<Mutex<Vec<(u64, ConnState, ConnState)>>> = Arc::default();
    let s2 = states.clone();
    crawler.set_observer(move |e: &Event<'_>| {
        if let EventKind::ConnState { conn, from, to, .. } = e.kind {
            s2.lock().unwrap().push((conn, from, to));
        }
    });
    let urls = vec![format!("http://{server}/a"), format!("http://{server}/b")];
    crawler.run(urls, |_| {}).unwrap();
    use ConnState::*;
    let got = states.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            (0, Connecting, Sending),
            (0, Sending, ReadingHead),
            (0, ReadingHead, ReadingBody),
            (0, ReadingBody, Idle),
            (0, Idle, Sending),
            (0, Sending, ReadingHead),
            (0, ReadingHead, ReadingBody),
            (0, ReadingBody, Idle),
            (0, Idle, Closed),
        ]
    );
}

#[test]
fn events_are_timed_when_they_happen_so_handshakes_show_one_after_another() {
    let dir = std::env::temp_dir().join(format!("oneloop-tls-ev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("ev.jsonl");
    let out = oneloop()
        .args(["demo", "--tls", "--urls", "200", "--hosts", "4"])
        .args(["--events", events.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ev = read_events(&events);
    let done: Vec<u64> = ev
        .iter()
        .filter(|e| e["type"] == "tls_done")
        .map(|e| e["t"].parse().unwrap())
        .collect();
    assert!(done.len() >= 4, "{done:?}");
    // One thread does the handshakes: never two at the same microsecond
    // (stamped with their turn's start, they all were).
    let mut distinct = done.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), done.len(), "{done:?}");
    let ts: Vec<u64> = ev.iter().map(|e| e["t"].parse().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "monotonic");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn robots_txt_fetches_are_tagged_and_named_wherever_requests_show() {
    let (hosts, input) = three_by_five();
    let dir = std::env::temp_dir().join(format!("oneloop-robots-ev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("ev.jsonl");
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--trace",
            "--events",
            events.to_str().unwrap(),
        ],
        &input,
    );
    assert!(out.status.success());
    let ev = read_events(&events);
    let robots_queued: Vec<&HashMap<String, String>> = ev
        .iter()
        .filter(|e| e["type"] == "queued" && e.get("robots").is_some())
        .collect();
    assert_eq!(robots_queued.len(), 3, "one robots.txt per origin");
    for (e, h) in robots_queued.iter().zip(&hosts) {
        assert!(e["url"].ends_with("/robots.txt"), "{e:?}");
        let _ = h;
    }
    assert_eq!(
        count(&ev, |e| e["type"] == "finished"
            && e.get("robots").is_some()),
        3
    );
    assert_eq!(
        count(&ev, |e| e["type"] == "finished"
            && e.get("robots").is_none()),
        15
    );
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(trace.contains("robots#1 queued http://"), "{trace}");
    assert!(!trace.contains("req#4611686018427387"), "{trace}");
    // The picture's title counts outcomes and robots.txt fetches apart.
    let svg = dir.join("t.svg");
    assert!(draw_timeline(&events, &svg).status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("15 outcomes and 3 robots.txt fetches"),
        "title"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lanes_are_connection_slots_that_cover_the_whole_run() {
    // Every answer closes its connection: 30 connections over time, at most
    // 2 at once. The picture has 2 lanes, busy from start to end.
    let server = spawn(
        Arc::new(|s: &mut std::net::TcpStream, path: &str| respond(s, path, false)),
        Arc::default(),
        None,
    );
    let input: String = (0..30).map(|i| format!("http://{server}/p{i}\n")).collect();
    let dir = std::env::temp_dir().join(format!("oneloop-lanes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("ev.jsonl");
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--concurrency",
            "2",
        ]
        .iter()
        .copied()
        .chain(["--events", events.to_str().unwrap()])
        .collect::<Vec<_>>(),
        &input,
    );
    assert!(out.status.success());
    let ev = read_events(&events);
    assert_eq!(count(&ev, |e| e["type"] == "conn_opened"), 30);
    let svg = dir.join("lanes.svg");
    let drawn = draw_timeline(&events, &svg);
    assert!(drawn.status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        text.matches(r#"class="lane""#).count(),
        2,
        "slots, not connections"
    );
    assert!(text.contains("over 30 connections"));
    // The two lanes carry all 30 connections' segments between them (how
    // many each depends on which slot frees first: under load one lane
    // had only 2 connections), at least one connection each.
    let mut total = 0;
    for lane in 0..2 {
        let start = text.find(&format!(r#"data-lane="{lane}""#)).unwrap();
        let end = start + text[start..].find("</g>").unwrap();
        let n = text[start..end].matches("<title>conn#").count();
        assert!(n >= 3, "lane {lane}: {n}");
        total += n;
    }
    assert!(total >= 30 * 3, "{total}");
    assert!(text.contains("in flight (max 2)"), "the requests strip");
    // The lanes summed: on average never more connections at once than
    // were open (two at a time, one closing as the next opens), and some.
    let most: f64 = text
        .split("by state (max ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .and_then(|n| n.parse().ok())
        .expect("the connections strip");
    assert!((1.0..=3.0).contains(&most), "{most}");
    let strip = text.split("id=\"connections\"").nth(1).unwrap();
    let strip = strip.split("</g>").next().unwrap();
    assert!(strip.matches("<rect").count() > 100, "{strip}");
    let _ = std::fs::remove_dir_all(&dir);
}
