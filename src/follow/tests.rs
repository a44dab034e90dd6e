//! The follow core driven by hand: link graphs in, requests out, no
//! sockets and no clock.

use super::checkpoint::CheckpointLog;
use super::spill::{SpillMemory, SpillStore};
use super::*;
use crate::frontier::Scope;
use std::collections::HashMap;

/// A site as a graph: URL → what it points to.
type Graph = HashMap<&'static str, Found>;

fn pages(links: &[&str]) -> Found {
    Found::of(links, &[] as &[&str])
}

fn graph(edges: &[(&'static str, &[&str])]) -> Graph {
    edges.iter().map(|(from, to)| (*from, pages(to))).collect()
}

/// One fetch as the test saw it: URL, depth, from, kind.
type Seen = (String, u32, Option<u64>, UrlKind);

/// Runs the core to the end over `g` (a URL missing from it has no
/// links), `redirects` naming where a URL was redirected. Returns every
/// request in order.
fn crawl(core: &mut Follow, g: &Graph, redirects: &HashMap<&str, Vec<String>>) -> Vec<Seen> {
    let mut out = Vec::new();
    while let Some(req) = core.poll_request() {
        let tag = req.tag.expect("every request is tagged");
        out.push((req.url.clone(), tag.depth, tag.from, tag.kind));
        let none = Found::default();
        let found = g.get(req.url.as_str()).unwrap_or(&none);
        let hops = redirects.get(req.url.as_str()).map_or(&[][..], |v| &v[..]);
        core.handle_page(Fetched::of(&req, hops, found));
    }
    assert!(core.is_done(), "nothing left, nothing in progress");
    out
}

fn seeded(config: FollowConfig, seeds: &[&str]) -> Follow {
    let mut core = Follow::new(config);
    for s in seeds {
        core.handle_seed(Request::from(*s));
    }
    core.handle_seeds_done();
    core
}

fn urls(seen: &[Seen]) -> Vec<&str> {
    seen.iter().map(|s| s.0.as_str()).collect()
}

fn with_frontier(f: impl FnOnce(&mut FrontierConfig)) -> FollowConfig {
    let mut c = FollowConfig::default();
    f(&mut c.frontier);
    c
}

// --- the shape of a crawl: depth, scope, budgets, seen ---

#[test]
fn depth_is_exact_and_breadth_first() {
    let g = graph(&[
        ("http://a.test/", &["http://a.test/1", "http://a.test/2"]),
        ("http://a.test/1", &["http://a.test/1/1"]),
        (
            "http://a.test/2",
            &["http://a.test/1/1", "http://a.test/2/1"],
        ),
        ("http://a.test/1/1", &["http://a.test/deep"]),
    ]);
    let mut core = seeded(with_frontier(|f| f.max_depth = 2), &["http://a.test/"]);
    let seen = crawl(&mut core, &g, &HashMap::new());
    let depths: Vec<(&str, u32, Option<u64>)> =
        seen.iter().map(|s| (s.0.as_str(), s.1, s.2)).collect();
    assert_eq!(
        depths,
        [
            ("http://a.test/", 0, None),
            ("http://a.test/1", 1, Some(1)),
            ("http://a.test/2", 1, Some(1)),
            ("http://a.test/1/1", 2, Some(2)), // found first by /1 (id 2)
            ("http://a.test/2/1", 2, Some(3)),
        ]
    );
}

#[test]
fn scope_host_any_and_domain() {
    let g = graph(&[(
        "http://www.a.test/",
        &[
            "https://www.a.test:8443/tls",
            "http://b.a.test/",
            "http://other.test/",
        ],
    )]);
    let table: [(Scope, &[&str]); 3] = [
        (
            Scope::Host,
            &["http://www.a.test/", "https://www.a.test:8443/tls"],
        ),
        (
            Scope::Domain,
            &[
                "http://www.a.test/",
                "https://www.a.test:8443/tls",
                "http://b.a.test/",
            ],
        ),
        (
            Scope::Any,
            &[
                "http://www.a.test/",
                "https://www.a.test:8443/tls",
                "http://b.a.test/",
                "http://other.test/",
            ],
        ),
    ];
    for (scope, want) in table {
        let mut core = seeded(with_frontier(|f| f.scope = scope), &["http://www.a.test/"]);
        let seen = crawl(&mut core, &g, &HashMap::new());
        let mut got = urls(&seen);
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want, "{scope:?}");
    }
}

#[test]
fn budgets_stop_discovery() {
    let g = graph(&[(
        "http://a.test/",
        &["http://a.test/1", "http://a.test/2", "http://a.test/3"],
    )]);
    let mut core = seeded(
        with_frontier(|f| f.max_pages = Some(3)),
        &["http://a.test/"],
    );
    let seen = crawl(&mut core, &g, &HashMap::new());
    assert_eq!(
        urls(&seen),
        ["http://a.test/", "http://a.test/1", "http://a.test/2"]
    );
}

#[test]
fn cycles_and_seeds_seen_twice_are_fetched_once() {
    let g = graph(&[
        ("http://a.test/", &["http://a.test/b", "http://a.test/#top"]),
        ("http://a.test/b", &["http://a.test/", "http://A.test:80/b"]),
    ]);
    let mut core = seeded(
        FollowConfig::default(),
        &["http://a.test/", "http://a.test/"],
    );
    let seen = crawl(&mut core, &g, &HashMap::new());
    assert_eq!(urls(&seen), ["http://a.test/", "http://a.test/b"]);
}

#[test]
fn redirect_targets_are_seen_and_not_fetched_again() {
    let g = graph(&[
        (
            "http://a.test/",
            &["http://a.test/old", "http://a.test/new"],
        ),
        ("http://a.test/old", &[]),
    ]);
    let mut hops = HashMap::new();
    hops.insert("http://a.test/old", vec!["http://a.test/new".to_string()]);
    // /new is queued by the seed before /old is fetched: fetched once each.
    let mut core = seeded(FollowConfig::default(), &["http://a.test/"]);
    let seen = crawl(&mut core, &g, &hops);
    assert_eq!(seen.len(), 3);
    // Linked only after the redirect landed on it: not fetched again.
    let g = graph(&[
        ("http://a.test/", &["http://a.test/old"]),
        ("http://a.test/old", &["http://a.test/new"]),
    ]);
    let mut core = seeded(FollowConfig::default(), &["http://a.test/"]);
    let seen = crawl(&mut core, &g, &hops);
    assert_eq!(urls(&seen), ["http://a.test/", "http://a.test/old"]);
}

#[test]
fn a_seed_that_is_not_a_url_is_handed_out_as_it_is() {
    let mut core = Follow::new(FollowConfig::default());
    core.handle_seed(Request::from("not a url"));
    core.handle_seed(Request::from("http://a.test/"));
    core.handle_seeds_done();
    let bad = core.poll_request().unwrap();
    assert_eq!(
        (bad.url.as_str(), bad.id, bad.tag),
        ("not a url", Some(1), Some(CrawlTag::default()))
    );
    assert!(!core.is_done());
    let good = core.poll_request().unwrap();
    assert_eq!((good.url.as_str(), good.id), ("http://a.test/", Some(2)));
    core.handle_page(Fetched::of(&bad, &[], &Found::default()));
    core.handle_lost(2); // its page's work died: no longer in progress
    assert!(core.is_done());
}

#[test]
fn another_shards_seed_widens_the_scope_and_its_links_are_diverted() {
    // Find two origins of different shards (of 2).
    let origins: Vec<String> = (0..64).map(|i| format!("http://h{i}.test/")).collect();
    let shard = |u: &str| crate::url::Url::parse(u).unwrap().shard(2);
    let mine = origins.iter().find(|u| shard(u) == 0).unwrap();
    let theirs = origins.iter().find(|u| shard(u) == 1).unwrap();
    let mut config = with_frontier(|f| f.shard = Some((0, 2)));
    config.checkpoint = true;
    let mut core = seeded(config, &[mine, theirs]);
    let link = format!("{theirs}x");
    let g: Graph = [(
        Box::leak(mine.clone().into_boxed_str()) as &str,
        pages(&[&link]),
    )]
    .into_iter()
    .collect();
    let seen = crawl(&mut core, &g, &HashMap::new());
    assert_eq!(urls(&seen), [mine.as_str()]);
    let records: Vec<Record> = std::iter::from_fn(|| core.poll_record()).collect();
    assert!(
        records.contains(&Record::Diverted {
            shard: 1,
            url: link
        }),
        "{records:?}"
    );
}

// --- sources: robots.txt and sitemaps ---

#[test]
fn sitemaps_come_from_the_seeds_origin_and_their_pages_are_one_below() {
    let config = FollowConfig {
        sitemaps: true,
        ..FollowConfig::default()
    };
    let mut g = graph(&[("http://a.test/sitemap-pages.xml", &["http://a.test/listed"])]);
    g.insert(
        "http://a.test/robots.txt",
        Found::of(&[] as &[&str], &["http://a.test/sitemap-pages.xml"]),
    );
    let mut core = seeded(config, &["http://a.test/"]);
    let seen = crawl(&mut core, &g, &HashMap::new());
    let got: Vec<(&str, u32, UrlKind)> = seen.iter().map(|s| (s.0.as_str(), s.1, s.3)).collect();
    // (Each sitemap request may take 50 MiB, whatever the page limit: see
    // `sitemap_requests_carry_their_own_body_limit`.)
    assert_eq!(
        got,
        [
            ("http://a.test/", 0, UrlKind::Page),
            ("http://a.test/robots.txt", 0, UrlKind::Robots),
            ("http://a.test/sitemap.xml", 0, UrlKind::Sitemap),
            ("http://a.test/sitemap-pages.xml", 0, UrlKind::Sitemap),
            ("http://a.test/listed", 1, UrlKind::Page),
        ]
    );
}

// --- the checkpoint: records replayed into a fresh core ---

#[test]
fn records_replayed_into_a_fresh_core_give_the_same_remaining_crawl() {
    let g = graph(&[
        (
            "http://a.test/",
            &["http://a.test/1", "http://a.test/2", "http://a.test/3"],
        ),
        (
            "http://a.test/1",
            &["http://a.test/1/1", "http://a.test/1/2"],
        ),
        ("http://a.test/2", &["http://a.test/2/1"]),
        (
            "http://a.test/3",
            &["http://a.test/1/1", "http://a.test/3/1"],
        ),
    ]);
    let config = FollowConfig {
        checkpoint: true,
        ..FollowConfig::default()
    };
    // The whole crawl, uninterrupted.
    let mut whole = seeded(config.clone(), &["http://a.test/"]);
    let all = crawl(&mut whole, &g, &HashMap::new());
    assert_eq!(all.len(), 8);

    // Cut after 3 pages: a 4th handed out, in flight at the "crash".
    let dir = std::env::temp_dir().join(format!("oneloop-follow-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut frontier = crate::frontier::Frontier::new(config.frontier.clone());
    let (log, resumed) = CheckpointLog::open(&dir, &mut frontier).unwrap();
    assert_eq!(resumed.run, 1);
    let mut first = seeded(config.clone(), &["http://a.test/"]);
    let mut done = Vec::new();
    for _ in 0..3 {
        let req = first.poll_request().unwrap();
        let none = Found::default();
        let found = g.get(req.url.as_str()).unwrap_or(&none);
        first.handle_page(Fetched::of(&req, &[], found));
        done.push(req.url);
    }
    let in_flight = first.poll_request().unwrap().url;
    while let Some(r) = first.poll_record() {
        log.record(&r);
    }
    log.flush(true).unwrap();
    drop(log);

    // A fresh core from the file: nothing finished again, the rest once.
    let mut frontier = crate::frontier::Frontier::new(config.frontier.clone());
    let (_log, resumed) = CheckpointLog::open(&dir, &mut frontier).unwrap();
    assert_eq!((resumed.run, resumed.finished), (2, 3));
    assert_eq!(resumed.first_id(), (2 << 40) + 1);
    let mut second = Follow::new(FollowConfig {
        first_id: resumed.first_id(),
        ..config
    });
    *second.frontier_mut() = frontier;
    // The same command: the same seeds (their hosts make the scope; the
    // seed itself is finished, not fetched again).
    second.handle_seed(Request::from("http://a.test/"));
    second.handle_seeds_done();
    let rest = crawl(&mut second, &g, &HashMap::new());
    let rest = urls(&rest);
    assert!(
        rest.contains(&in_flight.as_str()),
        "in flight at the crash: again"
    );
    let mut union: Vec<&str> = done
        .iter()
        .map(|s| s.as_str())
        .chain(rest.iter().copied())
        .collect();
    union.sort();
    let mut want = urls(&all);
    want.sort();
    assert_eq!(union, want, "every page once, none lost, none twice");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A resumed crawl hands out its restored queue at once, before its seeds
/// are read again: those pages' links are judged by the scope the
/// checkpoint restored (the seeds' and a seed redirect's), not lost as out
/// of scope (512 of 3,000 pages were, with 20 requests in flight).
#[test]
fn a_resumed_crawls_pages_keep_their_links_before_its_seeds_come_back() {
    let g = graph(&[
        (
            "http://www.a.test/",
            &["http://www.a.test/1", "http://www.a.test/2"],
        ),
        ("http://www.a.test/1", &["http://www.a.test/1/1"]),
        ("http://www.a.test/2", &["http://www.a.test/2/1"]),
    ]);
    let config = FollowConfig {
        checkpoint: true,
        ..FollowConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("oneloop-follow-scope-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut frontier = crate::frontier::Frontier::new(config.frontier.clone());
    let (log, _) = CheckpointLog::open(&dir, &mut frontier).unwrap();
    let mut first = seeded(config.clone(), &["http://a.test/"]);
    // The seed redirects to www.a.test, which joins the scope.
    let seed = first.poll_request().unwrap();
    let hops = ["http://www.a.test/".to_string()];
    let found = g["http://www.a.test/"].clone();
    first.handle_page(Fetched::of(&seed, &hops, &found));
    assert_eq!(first.seed_redirects(), 1);
    while let Some(r) = first.poll_record() {
        log.record(&r);
    }
    log.flush(true).unwrap();
    drop(log);
    let text = std::fs::read_to_string(dir.join("state.log")).unwrap();
    assert!(
        text.contains("S\thttp://a.test/\n") && text.contains("S\thttp://www.a.test/\n"),
        "{text}"
    );

    let mut frontier = crate::frontier::Frontier::new(config.frontier.clone());
    let (_log, resumed) = CheckpointLog::open(&dir, &mut frontier).unwrap();
    let mut second = Follow::with_frontier(
        FollowConfig {
            first_id: resumed.first_id(),
            ..config
        },
        frontier,
    );
    // The restored pages come back before any seed is read.
    let mut fetched = Vec::new();
    while let Some(req) = second.poll_request() {
        fetched.push(req.url.clone());
        let none = Found::default();
        let found = g.get(req.url.as_str()).unwrap_or(&none);
        second.handle_page(Fetched::of(&req, &[], found));
    }
    second.handle_seed(Request::from("http://a.test/"));
    second.handle_seeds_done();
    fetched.extend(
        urls(&crawl(&mut second, &g, &HashMap::new()))
            .iter()
            .map(|s| s.to_string()),
    );
    fetched.sort();
    assert_eq!(
        fetched,
        [
            "http://www.a.test/1",
            "http://www.a.test/1/1",
            "http://www.a.test/2",
            "http://www.a.test/2/1"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// --- the spill: batches out and back through the trait ---

#[test]
fn a_small_memory_bound_spills_through_the_store_and_loses_nothing() {
    let mut config = FollowConfig::default();
    config.frontier.max_pending_bytes = 4 * 1024;
    config.frontier.max_depth = 1;
    let links: Vec<String> = (0..3000)
        .map(|i| format!("http://h{}.test/page/{i}", i % 3))
        .collect();
    let seeds = ["http://h0.test/", "http://h1.test/", "http://h2.test/"];
    let mut core = seeded(config, &seeds);
    let mut store = SpillMemory::default();
    let mut fetched = std::collections::HashSet::new();
    let found = Found::of(&links, &[] as &[&str]);
    loop {
        while let Some((id, b)) = core.poll_spill() {
            store.store(id, b);
        }
        while let Some(id) = core.poll_load() {
            store.load(id);
        }
        while let Some((id, b)) = store.poll_loaded() {
            core.handle_loaded(id, b);
        }
        let Some(req) = core.poll_request() else {
            if core.is_done() {
                break;
            }
            continue;
        };
        assert!(fetched.insert(req.url.clone()), "{} twice", req.url);
        let links = if req.tag.unwrap().depth == 0 {
            &found
        } else {
            &Found::default()
        };
        core.handle_page(Fetched::of(&req, &[], links));
    }
    assert!(store.stored > 0, "it did spill");
    assert_eq!(fetched.len(), 3 + 3000);
}

// --- redirects: the scope for every hop, seeds widen it ---

#[test]
fn redirects_of_links_pass_the_scope_and_a_seeds_widen_it() {
    let mut core = seeded(FollowConfig::default(), &["http://a.test/"]);
    let seed = core.poll_request().unwrap();
    assert!(
        seed.redirect_scope.is_none(),
        "a seed's redirects are followed anywhere"
    );
    // The seed landed on www.a.test: that host joins the scope.
    let hops = ["http://www.a.test/home".to_string()];
    let found = Found::of(
        &["http://www.a.test/next", "http://other.test/"],
        &[] as &[&str],
    );
    assert_eq!(core.handle_page(Fetched::of(&seed, &hops, &found)), 1);
    assert_eq!(core.seed_redirects(), 1);
    let link = core.poll_request().unwrap();
    assert_eq!(link.url, "http://www.a.test/next");
    // A link's redirects may go where its links could, nowhere else.
    let scope = link.redirect_scope.clone().expect("links carry the scope");
    let url = |u: &str| crate::url::Url::parse(u).unwrap();
    assert!(scope.allows(&url("https://a.test:8443/x")));
    assert!(scope.allows(&url("http://www.a.test/y")));
    assert!(!scope.allows(&url("http://evil.test/landed")));
    // A link that redirected does not widen anything.
    let hops = ["http://evil.test/landed".to_string()];
    core.handle_page(Fetched::of(&link, &hops, &Found::default()));
    assert_eq!(core.seed_redirects(), 1);
    assert!(!scope.allows(&url("http://evil.test/")));
    assert!(core.is_done());
}

#[test]
fn sitemap_indexes_nest_a_step_deeper_each_and_only_so_far() {
    // Each index lists the next one, forever.
    let index = |n: u32| Found::of(&[] as &[&str], &[format!("http://a.test/smi/{}", n + 1)]);
    let config = FollowConfig {
        sitemaps: true,
        ..FollowConfig::default()
    };
    let mut core = seeded(config, &["http://a.test/"]);
    let mut sitemaps = Vec::new();
    while let Some(req) = core.poll_request() {
        let tag = req.tag.unwrap();
        let found = match (tag.kind, req.url.rsplit('/').next()) {
            (UrlKind::Sitemap, Some("sitemap.xml")) => index(0),
            (UrlKind::Sitemap, Some(n)) => index(n.parse().unwrap()),
            _ => Found::default(),
        };
        if tag.kind == UrlKind::Sitemap {
            sitemaps.push((req.url.clone(), tag.depth));
        }
        core.handle_page(Fetched::of(&req, &[], &found));
    }
    assert!(core.is_done());
    let want: Vec<(String, u32)> = [
        ("http://a.test/sitemap.xml", 0),
        ("http://a.test/smi/1", 1),
        ("http://a.test/smi/2", 2),
        ("http://a.test/smi/3", 3),
    ]
    .iter()
    .map(|(u, d)| (u.to_string(), *d))
    .collect();
    assert_eq!(sitemaps, want, "max_sitemap_depth 3 ends the chain");
}

#[test]
fn sitemap_requests_carry_their_own_body_limit() {
    let config = FollowConfig {
        sitemaps: true,
        ..FollowConfig::default()
    };
    let mut core = seeded(config, &["http://a.test/"]);
    let limits: Vec<(UrlKind, Option<u64>)> = std::iter::from_fn(|| core.poll_request())
        .map(|r| (r.tag.unwrap().kind, r.max_body))
        .collect();
    assert_eq!(
        limits,
        [
            (UrlKind::Page, None),
            (UrlKind::Robots, None),
            (UrlKind::Sitemap, Some(50 * 1024 * 1024)),
        ]
    );
}

#[test]
fn every_in_scope_origins_robots_txt_gives_its_sitemaps() {
    let config = FollowConfig {
        sitemaps: true,
        ..FollowConfig::default()
    };
    let mut core = Follow::new(config);
    core.set_robots_from_gate(true);
    core.handle_seed(Request::from("http://a.test/"));
    core.handle_seeds_done();
    // No robots.txt or sitemap request of its own: the gate fetches it.
    let seed = core.poll_request().unwrap();
    assert!(core.poll_request().is_none());
    // The gate fetched a.test's robots.txt, and then (a link led there)
    // a.test:8080's, and elsewhere.test's (out of scope).
    core.handle_robots_sitemaps(
        "http://a.test",
        &[
            "http://a.test/s.xml".into(),
            "http://other.test/s.xml".into(),
        ],
    );
    core.handle_robots_sitemaps("http://a.test:8080", &[]);
    core.handle_robots_sitemaps(
        "http://elsewhere.test",
        &["http://elsewhere.test/s.xml".into()],
    );
    let mut got: Vec<(String, UrlKind)> = std::iter::from_fn(|| core.poll_request())
        .map(|r| (r.url, r.tag.unwrap().kind))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want = [
        "http://a.test/s.xml",
        "http://a.test/sitemap.xml",
        "http://a.test:8080/sitemap.xml",
    ];
    assert_eq!(got, want.map(|u| (u.to_string(), UrlKind::Sitemap)));
    core.handle_page(Fetched::of(&seed, &[], &Found::default()));
}

/// `--max-pages` counts pages: a seed origin's robots.txt and sitemap are
/// not two of them.
#[test]
fn the_page_budget_counts_pages_only() {
    let mut config = with_frontier(|f| f.max_pages = Some(2));
    config.sitemaps = true;
    let mut core = seeded(config, &["http://a.test/"]);
    let g = graph(&[("http://a.test/", &["http://a.test/1", "http://a.test/2"])]);
    let seen = crawl(&mut core, &g, &HashMap::new());
    let pages: Vec<&str> = seen
        .iter()
        .filter(|s| s.3 == UrlKind::Page)
        .map(|s| s.0.as_str())
        .collect();
    assert_eq!(pages, ["http://a.test/", "http://a.test/1"]);
    assert_eq!(
        seen.len(),
        4,
        "and the robots.txt and sitemap.xml: {seen:?}"
    );
}
