//! The connect ramp: a burst of new connections to one origin goes out a
//! bounded number at a time, and the wait shows in events and the summary.

mod common;

use common::*;
use oneloop::events::{Event, EventKind};
use oneloop::{Config, ConnState, Crawler};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_burst_connects_a_bounded_number_at_a_time() {
    // The server answers after 50 ms, so all 120 requests want a connection
    // at once; at most 8 may be connecting at a time.
    let server = slow_echo_server(Duration::from_millis(50));
    let mut config = Config::local();
    config.concurrency = 120;
    config.per_host = 120;
    config.connections.max_total = 120;
    config.connections.max_per_host = 120;
    config.connections.max_connecting_per_host = 8;
    let mut crawler = Crawler::new(config).unwrap();
    // Connections connecting now (opened, not yet past Connecting), and
    // the most seen at once; the waits reported.
    let seen = Arc::new(Mutex::new((HashMap::<u64, bool>::new(), 0usize, 0usize)));
    let s2 = seen.clone();
    crawler.set_observer(move |e: &Event<'_>| {
        let mut g = s2.lock().unwrap();
        let (connecting, most, waits) = &mut *g;
        match &e.kind {
            EventKind::ConnOpened { conn, .. } => {
                connecting.insert(*conn, true);
            }
            EventKind::ConnState { conn, from, .. } if *from == ConnState::Connecting => {
                connecting.remove(conn);
            }
            EventKind::ConnState { conn, to, .. } if *to == ConnState::Closed => {
                connecting.remove(conn);
            }
            EventKind::ConnectWait { connecting: n, .. } => {
                assert_eq!(*n, 8);
                *waits += 1;
            }
            _ => {}
        }
        *most = (*most).max(connecting.len());
    });
    let urls: Vec<String> = (0..120).map(|i| format!("http://{server}/p{i}")).collect();
    let mut ok = 0;
    let summary = crawler
        .run(urls, |o| ok += usize::from(o.result.is_ok()))
        .unwrap();
    assert_eq!(ok, 120, "{summary}");
    let (_, most, waits) = *seen.lock().unwrap();
    assert!(most <= 8, "at most 8 connecting at once, saw {most}");
    assert!(waits > 0, "the burst had to wait");
    assert_eq!(summary.connect_waits as usize, waits);
    assert!(summary.pool.opened >= 100, "{summary}");
}
