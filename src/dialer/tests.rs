//! The dialer in virtual time: requests and connections are numbers, the
//! pool is a real [`Pool`] told what is idle.

use super::*;
use crate::pool::{Checkout, PoolConfig};

const A: &str = "http://a:80";
const B: &str = "http://b:80";

fn dialer(max_connecting: usize) -> Dialer<u32, u32> {
    Dialer::new(DialerConfig {
        max_connecting,
        slow_connect: Duration::from_millis(250),
    })
}

fn pool() -> Pool<u32> {
    Pool::new(PoolConfig {
        max_total: 100,
        max_per_key: 100,
        idle_timeout: Duration::from_secs(90),
    })
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Opens connection `conn` for `req` the way the table does: ask, then
/// count it in the pool, then tell the dialer.
fn open(d: &mut Dialer<u32, u32>, p: &mut Pool<u32>, key: &str, req: u32, conn: u32, at: Instant) {
    assert_eq!(d.ask(key, req, false), Dial::Open);
    assert_eq!(p.checkout(key), Checkout::Open);
    d.handle_dialing(key, conn, req, true, at);
}

fn drain(d: &mut Dialer<u32, u32>, p: &Pool<u32>) -> Vec<(u32, bool)> {
    std::iter::from_fn(|| d.poll_dial(p)).collect()
}

// ---- the connect ramp ----

#[test]
fn each_finished_connect_lets_one_waiter_go_in_order() {
    let (mut d, mut p, t) = (dialer(2), pool(), Instant::now());
    open(&mut d, &mut p, A, 1, 101, t);
    open(&mut d, &mut p, A, 2, 102, t);
    assert_eq!(d.ask(A, 3, false), Dial::Wait { connecting: 2 });
    assert_eq!(d.ask(A, 4, true), Dial::Wait { connecting: 2 });
    assert_eq!(
        d.ask(B, 5, false),
        Dial::Open,
        "other origins have their own ramp"
    );
    assert_eq!(drain(&mut d, &p), vec![], "nobody connected yet");
    d.handle_connected(A, 101);
    assert_eq!(d.poll_dial(&p), Some((3, false)));
    // 3 is dispatched: it opens the connect 101 left room for.
    d.handle_dialing(A, 103, 3, true, t);
    assert_eq!(d.poll_dial(&p), None, "the ramp is full again");
    d.handle_connected(A, 102);
    assert_eq!(
        drain(&mut d, &p),
        vec![(4, true)],
        "fresh_only travels along"
    );
    assert_eq!(d.stats().ramp_waits, 2);
    assert_eq!(d.waiting(), 0);
}

#[test]
fn a_connection_going_idle_serves_a_waiter_but_not_one_that_needs_a_fresh_one() {
    let (mut d, mut p, t) = (dialer(1), pool(), Instant::now());
    open(&mut d, &mut p, A, 1, 101, t);
    d.handle_connected(A, 101); // 101 connects and carries request 1
    open(&mut d, &mut p, A, 2, 102, t);
    assert_eq!(d.ask(A, 3, true), Dial::Wait { connecting: 1 });
    assert_eq!(d.ask(A, 4, false), Dial::Wait { connecting: 1 });
    // Request 1 is done: 101 goes idle.
    p.handle_checkin(A, 101, t);
    assert_eq!(d.handle_idle(A, t), None, "waiters exist: nobody is moved");
    assert_eq!(
        drain(&mut d, &p),
        vec![],
        "the first in line wants a fresh connection and no connect is free"
    );
    d.handle_connected(A, 102);
    assert_eq!(d.poll_dial(&p), Some((3, true)));
    d.handle_dialing(A, 103, 3, false, t);
    assert_eq!(d.poll_dial(&p), Some((4, false)), "takes the idle 101");
    assert_eq!(p.checkout_idle(A), Some(101));
    assert_eq!(d.poll_dial(&p), None);
}

#[test]
fn an_idle_connection_takes_over_a_slow_connects_request_only_after_the_delay() {
    let (mut d, mut p, t) = (dialer(4), pool(), Instant::now());
    open(&mut d, &mut p, A, 1, 101, t);
    d.handle_connected(A, 101);
    open(&mut d, &mut p, A, 2, 102, t + ms(10));
    open(&mut d, &mut p, A, 3, 103, t + ms(20));
    p.handle_checkin(A, 101, t + ms(100));
    assert_eq!(d.handle_idle(A, t + ms(100)), None, "102 is only 90 ms old");
    assert_eq!(
        d.poll_dial(&p),
        None,
        "the idle connection waits in the pool"
    );
    assert_eq!(
        d.handle_idle(A, t + ms(300)),
        Some((102, 2)),
        "the oldest connect, 290 ms old"
    );
    assert_eq!(
        d.connecting_for(A),
        1,
        "102 no longer counts (the caller closes it)"
    );
    d.handle_connected(A, 102); // the caller's close: no effect now
    assert_eq!(d.connecting_for(A), 1);
    assert_eq!(d.poll_dial(&p), Some((2, false)));
    assert_eq!(d.stats().requests_moved, 1);
}

#[test]
fn a_retry_that_wants_a_fresh_connection_is_never_moved() {
    let (mut d, mut p, t) = (dialer(4), pool(), Instant::now());
    assert_eq!(d.ask(A, 1, true), Dial::Open);
    d.handle_dialing(A, 101, 1, false, t);
    p.checkout(A);
    assert_eq!(d.handle_idle(A, t + ms(5_000)), None);
}

#[test]
fn a_cancelled_waiter_never_comes_out_and_its_origin_is_forgotten() {
    let (mut d, mut p, t) = (dialer(1), pool(), Instant::now());
    open(&mut d, &mut p, A, 1, 101, t);
    assert_eq!(d.ask(A, 2, false), Dial::Wait { connecting: 1 });
    assert_eq!(d.ask(A, 3, false), Dial::Wait { connecting: 1 });
    assert!(d.cancel(2));
    assert!(!d.cancel(2), "only once");
    d.handle_connected(A, 101);
    assert_eq!(drain(&mut d, &p), vec![(3, false)]);
    assert!(!d.cancel(3), "it left the queue when it went");
    d.handle_dialing(A, 103, 3, true, t);
    d.handle_connected(A, 103);
    assert!(d.ramps.is_empty() && d.ready.is_empty() && d.dialing.is_empty());
    assert!(d.waiting.is_empty(), "no memory kept for a finished burst");
}

#[test]
fn a_cancelled_last_waiter_frees_its_origin_at_once() {
    let (mut d, mut p, t) = (dialer(1), pool(), Instant::now());
    open(&mut d, &mut p, A, 1, 101, t);
    assert_eq!(d.ask(A, 2, false), Dial::Wait { connecting: 1 });
    d.handle_connected(A, 101);
    assert!(d.cancel(2));
    assert_eq!(d.poll_dial(&p), None);
    assert!(d.ramps.is_empty() && d.ready.is_empty());
}

#[test]
fn a_burst_on_one_origin_reaches_it_at_most_max_connecting_at_a_time() {
    // 1,000 requests, limit 8: every connect takes 3 "turns".
    let (mut d, mut p, t) = (dialer(8), pool(), Instant::now());
    let mut pending: VecDeque<(u32, u32)> = VecDeque::new(); // (conn, turn it connects)
    let mut next_conn = 1_000;
    let mut most = 0;
    let mut opened = 0;
    for req in 0..1_000u32 {
        if d.ask(A, req, false) == Dial::Open {
            d.handle_dialing(A, next_conn, req, true, t);
            pending.push_back((next_conn, 3));
            next_conn += 1;
            opened += 1;
        }
    }
    let mut turn = 3;
    while opened < 1_000 {
        while pending.front().is_some_and(|&(_, at)| at <= turn) {
            let (conn, _) = pending.pop_front().unwrap();
            d.handle_connected(A, conn);
        }
        while let Some((req, _)) = d.poll_dial(&p) {
            d.handle_dialing(A, next_conn, req, true, t);
            pending.push_back((next_conn, turn + 3));
            next_conn += 1;
            opened += 1;
        }
        most = most.max(d.connecting_for(A));
        turn += 1;
        assert!(turn < 1_000, "the burst stalled");
    }
    assert_eq!(most, 8);
    assert_eq!(d.stats().ramp_waits, 992);
    let _ = p.checkout(A);
}

// ---- file descriptors ----

#[test]
fn with_nothing_open_and_nothing_freed_waiting_for_a_descriptor_is_hopeless() {
    let mut d = dialer(4);
    assert!(!d.handle_no_descriptor(1, true));
    assert!(!d.fd_waiting());
    d.handle_descriptor_freed();
    assert!(d.handle_no_descriptor(1, true), "one was freed meanwhile");
    assert!(d.fd_waiting());
}

#[test]
fn descriptor_waiters_go_one_per_descriptor_freed_and_before_the_ramp() {
    let (mut d, mut p, t) = (dialer(1), pool(), Instant::now());
    open(&mut d, &mut p, A, 1, 101, t);
    assert_eq!(d.ask(A, 2, false), Dial::Wait { connecting: 1 });
    assert!(d.handle_no_descriptor(3, false));
    assert!(d.handle_no_descriptor(4, false));
    assert_eq!(d.poll_dial(&p), None, "nothing freed, nothing idle");
    d.handle_connected(A, 101);
    d.handle_descriptor_freed(); // 101 closed (say)
    assert_eq!(
        d.poll_dial(&p),
        Some((3, false)),
        "descriptor waiters first"
    );
    assert_eq!(d.poll_dial(&p), Some((2, false)), "one freed: one went");
    assert_eq!(d.poll_dial(&p), None);
    assert!(d.fd_waiting());
    // An idle connection anywhere is a descriptor that can be had.
    p.checkout(B);
    p.handle_checkin(B, 201, t);
    assert_eq!(d.poll_dial(&p), Some((4, false)));
    assert!(!d.fd_waiting());
    assert_eq!(d.stats().descriptor_waits, 2);
}

#[test]
fn descriptors_freed_while_nobody_waits_are_not_saved_up() {
    let (mut d, p) = (dialer(1), pool());
    d.handle_descriptor_freed();
    d.handle_descriptor_freed();
    assert_eq!(d.poll_dial(&p), None);
    assert!(d.handle_no_descriptor(1, false));
    assert_eq!(d.poll_dial(&p), None, "the earlier closes were spent");
}

#[test]
fn a_cancelled_descriptor_waiter_leaves_the_queue() {
    let (mut d, p) = (dialer(1), pool());
    d.handle_descriptor_freed();
    assert!(d.handle_no_descriptor(1, true));
    assert!(d.cancel(1));
    assert!(!d.fd_waiting(), "admission opens again");
    assert_eq!(d.poll_dial(&p), None);
}

#[test]
fn a_connect_that_finished_is_never_the_slow_one_taken_over() {
    let (mut d, mut p, t) = (dialer(4), pool(), Instant::now());
    open(&mut d, &mut p, A, 1, 101, t);
    open(&mut d, &mut p, A, 2, 102, t + ms(10));
    open(&mut d, &mut p, A, 3, 103, t + ms(400));
    d.handle_connected(A, 102); // finished, but not at the front
    d.handle_connected(A, 101); // the front: 102 behind it is pruned too
    p.handle_checkin(A, 101, t + ms(500));
    assert_eq!(
        d.handle_idle(A, t + ms(500)),
        None,
        "103 is only 100 ms old"
    );
    assert_eq!(d.handle_idle(A, t + ms(700)), Some((103, 3)));
}
