//! Admission queue tests: limits, fairness, pacing, pauses, throttling, GC.

use super::*;
use crate::random::Rng;

fn queue(global: usize, per_host: usize) -> Admission<u32> {
    paced(global, per_host, 1000, Pacing::off())
}

fn paced(global: usize, per_host: usize, parked: usize, pacing: Pacing) -> Admission<u32> {
    Admission::new(AdmissionConfig {
        max_in_flight: global,
        max_per_host: per_host,
        max_parked: parked,
        pacing,
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn limits_hold_and_hosts_take_turns() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = queue(4, 2);
    for i in 0..6 {
        q.push("a", i, t);
    }
    for i in 10..13 {
        q.push("b", i, t);
    }
    q.push("c", 20, t);
    let mut started = Vec::new();
    while let Some((r, h)) = q.poll_ready(t, &mut rng) {
        started.push((r, h));
    }
    let ids: Vec<u32> = started.iter().map(|x| x.0).collect();
    assert_eq!(ids, vec![0, 10, 20, 1], "round robin a, b, c, a");
    assert_eq!(q.in_flight(), 4);
    q.release(started[0].1, t);
    assert_eq!(q.poll_ready(t, &mut rng).unwrap().0, 11);
    q.release(started[3].1, t);
    assert_eq!(q.poll_ready(t, &mut rng).unwrap().0, 2);
}

#[test]
fn everything_drains_and_memory_is_returned() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = queue(3, 1);
    let mut outstanding = VecDeque::new();
    let mut next = 0u32;
    let mut done = 0;
    while done < 1000 {
        while q.wants_more() && next < 1000 {
            q.push(&format!("h{}", next % 7), next, t);
            next += 1;
        }
        while let Some((_, host)) = q.poll_ready(t, &mut rng) {
            outstanding.push_back(host);
        }
        assert!(q.in_flight() <= 3);
        let host = outstanding.pop_front().unwrap();
        q.release(host, t);
        done += 1;
    }
    assert_eq!((q.in_flight(), q.parked(), q.hosts()), (0, 0, 0));
    assert!(q.by_key.is_empty() && q.ready.is_empty());
}

#[test]
fn parked_requests_can_be_removed() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = queue(1, 1);
    let a = q.push("a", 1, t);
    q.push("a", 2, t);
    let b = q.push("b", 3, t);
    let (first, host) = q.poll_ready(t, &mut rng).unwrap();
    assert_eq!(first, 1);
    assert!(q.remove_parked(b, &3, t));
    assert!(!q.remove_parked(b, &3, t));
    assert!(q.remove_parked(a, &2, t));
    q.release(host, t);
    assert!(q.poll_ready(t, &mut rng).is_none());
    assert_eq!(q.hosts(), 0);
}

#[test]
fn wants_more_is_bounded_by_parking() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = paced(10, 1, 5, Pacing::off());
    let mut pulled = 0;
    while q.wants_more() {
        q.push("one-host", pulled, t);
        pulled += 1;
        while q.poll_ready(t, &mut rng).is_some() {}
    }
    assert_eq!(pulled, 6, "one started, five parked, then stop pulling");
    assert_eq!(q.drain_parked().len(), 5);
    assert_eq!(q.parked(), 0);
}

#[test]
fn delay_spaces_starts_per_host_only() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = paced(
        10,
        10,
        100,
        Pacing {
            delay: ms(50),
            ..Pacing::off()
        },
    );
    for i in 0..3 {
        q.push("a", i, t);
        q.push("b", 10 + i, t);
    }
    let mut starts = Vec::new();
    let mut now = t;
    loop {
        while let Some((r, _)) = q.poll_ready(now, &mut rng) {
            starts.push((r, now - t));
        }
        if starts.len() == 6 {
            break;
        }
        now = q.poll_timeout().expect("someone is waiting");
    }
    let when = |r: u32| starts.iter().find(|s| s.0 == r).unwrap().1;
    assert_eq!(when(0), ms(0));
    assert_eq!(when(10), ms(0), "hosts are paced independently");
    assert_eq!(when(1), ms(50));
    assert_eq!(when(2), ms(100));
    assert_eq!(when(12), ms(100));
}

#[test]
fn jitter_adds_up_to_its_bound() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = paced(
        10,
        10,
        100,
        Pacing {
            delay: ms(10),
            jitter: ms(10),
            ..Pacing::off()
        },
    );
    for i in 0..50 {
        q.push("a", i, t);
    }
    let mut now = t;
    let mut last = None;
    let mut gaps = Vec::new();
    for _ in 0..50 {
        let (_, h) = match q.poll_ready(now, &mut rng) {
            Some(x) => x,
            None => {
                now = q.poll_timeout().unwrap();
                q.poll_ready(now, &mut rng).unwrap()
            }
        };
        q.release(h, now);
        if let Some(l) = last {
            gaps.push(now - l);
        }
        last = Some(now);
    }
    assert!(gaps.iter().all(|g| *g >= ms(10) && *g < ms(20)), "{gaps:?}");
    assert!(gaps.iter().any(|g| *g > ms(15)) && gaps.iter().any(|g| *g < ms(15)));
}

#[test]
fn token_bucket_allows_bursts_then_the_rate() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = paced(
        100,
        100,
        100,
        Pacing {
            rate: Some(10.0),
            burst: 3,
            ..Pacing::off()
        },
    );
    for i in 0..10 {
        q.push("a", i, t);
    }
    let mut n = 0;
    while q.poll_ready(t, &mut rng).is_some() {
        n += 1;
    }
    assert_eq!(n, 3, "the burst");
    let next = q.poll_timeout().unwrap();
    assert!(next - t >= ms(99) && next - t <= ms(101), "{:?}", next - t);
    assert!(q.poll_ready(next, &mut rng).is_some());
    assert!(q.poll_ready(next, &mut rng).is_none());
    // One second later: 10 more tokens, capped at the burst of 3.
    let later = next + Duration::from_secs(1);
    let mut n = 0;
    while q.poll_ready(later, &mut rng).is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn pauses_hold_one_host_and_not_the_others() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = queue(10, 10);
    let a = q.push("a", 1, t);
    q.push("a", 2, t);
    q.push("b", 3, t);
    let (r, _) = q.poll_ready(t, &mut rng).unwrap();
    assert_eq!(r, 1);
    q.handle_pause(a, Duration::from_secs(1), t);
    assert_eq!(q.poll_ready(t, &mut rng).unwrap().0, 3, "b goes on");
    assert!(q.poll_ready(t + ms(999), &mut rng).is_none());
    assert_eq!(q.poll_timeout(), Some(t + Duration::from_secs(1)));
    assert_eq!(
        q.poll_ready(t + Duration::from_secs(1), &mut rng)
            .unwrap()
            .0,
        2
    );
    assert_eq!(q.stats().pauses, 1);
}

#[test]
fn throttling_halves_then_grows_back() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = paced(
        100,
        8,
        1000,
        Pacing {
            grow_after: 2,
            ..Pacing::off()
        },
    );
    let a = q.push("a", 0, t);
    q.handle_throttle(a);
    assert_eq!(q.limit(a), 4);
    q.handle_throttle(a);
    q.handle_throttle(a);
    q.handle_throttle(a);
    assert_eq!(q.limit(a), 1, "never below one");
    for i in 1..10 {
        q.push("a", i, t);
    }
    let (_, h) = q.poll_ready(t, &mut rng).unwrap();
    assert!(q.poll_ready(t, &mut rng).is_none(), "limit 1");
    assert_eq!(q.lowered_limits(), vec![("a".to_string(), 1)]);
    q.handle_success(h, t);
    q.handle_success(h, t);
    assert_eq!(q.limit(a), 2);
    assert!(q.poll_ready(t, &mut rng).is_some(), "grown to 2");
    for _ in 0..20 {
        q.handle_success(h, t);
    }
    assert_eq!(q.limit(a), 8, "never above the maximum");
}

#[test]
fn paced_state_outlives_an_empty_queue_until_gc() {
    let t = Instant::now();
    let mut rng = Rng::new(1);
    let mut q = paced(
        10,
        10,
        100,
        Pacing {
            delay: ms(100),
            ..Pacing::off()
        },
    );
    q.push("a", 1, t);
    let (_, h) = q.poll_ready(t, &mut rng).unwrap();
    q.release(h, t);
    assert_eq!(q.hosts(), 1, "the delay must survive the host going idle");
    q.push("a", 2, t + ms(10));
    assert!(q.poll_ready(t + ms(10), &mut rng).is_none());
    let (_, h) = q.poll_ready(t + ms(100), &mut rng).unwrap();
    q.release(h, t + ms(100));
    assert_eq!(q.poll_timeout(), Some(t + ms(1000)), "a sweep is scheduled");
    q.handle_timeout(t + ms(150));
    assert_eq!(q.hosts(), 1);
    q.handle_timeout(t + ms(1200));
    assert_eq!(q.hosts(), 0);
    assert_eq!(
        q.poll_timeout(),
        None,
        "nothing lingers: the loop may sleep"
    );
}

#[test]
fn every_wait_for_the_pacer_is_counted_with_its_time() {
    // One origin, a 100 ms delay between starts, five requests, room for
    // all of them: each start after the first waits once, 100 ms.
    let t0 = Instant::now();
    let mut rng = Rng::new(1);
    let pacing = Pacing {
        delay: ms(100),
        ..Pacing::off()
    };
    let mut q = paced(10, 10, 100, pacing);
    for i in 0..5 {
        q.push("a", i, t0);
    }
    let mut now = t0;
    let mut started = 0;
    while started < 5 {
        while q.poll_ready(now, &mut rng).is_some() {
            started += 1;
        }
        if started < 5 {
            now = q.poll_timeout().expect("a paced start is due later");
            q.handle_timeout(now);
        }
    }
    assert_eq!(now - t0, ms(400));
    let s = q.stats();
    assert_eq!(s.paced_waits, 4, "{s:?}");
    assert_eq!(s.paced_time, ms(400), "{s:?}");
}
