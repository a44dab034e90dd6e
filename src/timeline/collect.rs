//! The two passes over the events: the first finds the time span and how
//! lanes are assigned; the second gathers segments (or each column's time
//! per state), the loop's use of time, the requests' queues, and stalls.
//!
//! **Lanes.** A lane is a connection *slot*: a connection takes the lowest
//! free lane when it opens and gives it back when it closes, like the
//! crawler's own slab. So lanes cover the whole run however many
//! connections come and go (a crawl that opened 9,000 connections over
//! time, 100 at once, draws 100 lanes). Only when more connections are open
//! at once than [`MAX_LANES`] does a lane stand for an origin instead.

use super::read::{read_events, Ev};
use super::{state_index, COLUMNS, EXACT_SEGMENTS, MAX_LANES, STATES};
use std::collections::{BTreeSet, HashMap};
use std::io;

/// What a lane stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LaneMode {
    /// A connection slot (connections open at once ≤ MAX_LANES).
    Slot,
    /// An origin: its connections share the lane.
    Origin,
}

/// Assigns lanes as connections open and close.
struct Lanes {
    mode: LaneMode,
    free: BTreeSet<usize>,
    next: usize,
    by_conn: HashMap<u64, usize>,
    by_origin: HashMap<String, usize>,
}

impl Lanes {
    fn new(mode: LaneMode) -> Lanes {
        Lanes {
            mode,
            free: BTreeSet::new(),
            next: 0,
            by_conn: HashMap::new(),
            by_origin: HashMap::new(),
        }
    }

    /// Connection `conn` of `origin` opened: its lane.
    fn open(&mut self, conn: u64, origin: &str) -> usize {
        let lane = match self.mode {
            LaneMode::Slot => self.free.pop_first().unwrap_or_else(|| {
                self.next += 1;
                self.next - 1
            }),
            LaneMode::Origin => {
                let n = self.by_origin.len();
                *self.by_origin.entry(origin.to_string()).or_insert(n)
            }
        };
        self.by_conn.insert(conn, lane);
        lane
    }

    fn lane_of(&self, conn: u64) -> Option<usize> {
        self.by_conn.get(&conn).copied()
    }

    /// Connection `conn` closed: its slot is free again.
    fn close(&mut self, conn: u64) {
        if let Some(lane) = self.by_conn.remove(&conn) {
            if self.mode == LaneMode::Slot {
                self.free.insert(lane);
            }
        }
    }

    /// Lanes used so far.
    fn used(&self) -> usize {
        match self.mode {
            LaneMode::Slot => self.next,
            LaneMode::Origin => self.by_origin.len(),
        }
    }
}

fn conn_of(e: &Ev) -> u64 {
    e.num("conn").unwrap_or(0.0) as u64
}

/// A state left: a state entered (`to`), or the connection closed.
fn leaves(e: &Ev) -> bool {
    e.kind == "conn_closed" || (e.kind == "state" && e.str("to") == Some("closed"))
}

/// Pass 1: the time span, the connections, how lanes are assigned.
pub(super) struct Span {
    pub truncated: bool,
    pub t_max: f64,
    pub conns: usize,
    pub mode: LaneMode,
    /// Lanes needed (may be more than are drawn).
    pub needed: usize,
    pub lanes: usize,
    pub exact: bool,
    /// Each lane's label (an origin; in slot mode, the first origin seen).
    pub labels: Vec<String>,
}

impl Span {
    pub fn scan(events: &str) -> io::Result<Span> {
        let mut t_max: f64 = 0.0;
        let mut conns = 0usize;
        let mut segments = 0usize;
        let mut slots = Lanes::new(LaneMode::Slot);
        let mut origins = Lanes::new(LaneMode::Origin);
        let mut slot_labels: Vec<String> = Vec::new();
        let truncated = read_events(events, |e| {
            t_max = t_max.max(e.t);
            match e.kind.as_str() {
                "conn_opened" => {
                    conns += 1;
                    segments += 1;
                    let origin = e.str("origin").unwrap_or("");
                    let lane = slots.open(conn_of(&e), origin);
                    origins.open(conn_of(&e), origin);
                    if lane == slot_labels.len() {
                        slot_labels.push(origin.to_string());
                    }
                }
                "state" => segments += 1,
                _ => {}
            }
            if leaves(&e) {
                slots.close(conn_of(&e));
            }
        })?;
        let (mode, needed) = if slots.used() <= MAX_LANES {
            (LaneMode::Slot, slots.used())
        } else {
            (LaneMode::Origin, origins.used())
        };
        let labels = match mode {
            LaneMode::Slot => slot_labels,
            LaneMode::Origin => {
                let mut l = vec![String::new(); origins.used()];
                for (origin, i) in origins.by_origin {
                    l[i] = origin;
                }
                l
            }
        };
        Ok(Span {
            truncated,
            t_max: t_max.max(1.0),
            conns,
            mode,
            needed,
            lanes: needed.min(MAX_LANES),
            exact: mode == LaneMode::Slot && segments <= EXACT_SEGMENTS,
            labels,
        })
    }

    pub fn column(&self, t: f64) -> usize {
        ((t / self.t_max) * COLUMNS as f64).clamp(0.0, COLUMNS as f64 - 1.0) as usize
    }

    pub fn column_span(&self) -> f64 {
        self.t_max / COLUMNS as f64
    }
}

/// One connection's state since `start` (on `lane`), for request `req`.
#[derive(Clone, Copy)]
struct Open {
    lane: usize,
    state: usize,
    start: f64,
    req: Option<u64>,
}

/// An HTTP/2 stream's life on its connection's lane (exact pictures only).
pub(super) struct StreamMark {
    pub lane: usize,
    pub stream: u64,
    pub req: u64,
    pub start: f64,
    pub end: f64,
    pub done: bool,
}

pub(super) struct Segment {
    pub lane: usize,
    pub conn: u64,
    pub state: usize,
    pub start: f64,
    pub end: f64,
    pub req: Option<u64>,
}

/// Pass 2: segments (or per-column state time), loop use, queues, stalls.
pub(super) struct Collected {
    pub exact_segments: Vec<Segment>,
    /// HTTP/2 streams, by lane then start (exact pictures, up to
    /// `EXACT_SEGMENTS`).
    pub streams: Vec<StreamMark>,
    /// Per lane and column, the time spent in each state (not exact).
    pub by_column: Vec<Vec<[f32; STATES.len()]>>,
    /// Per column, the time all drawn connections spent in each state
    /// (divided by the column's time: how many were in it, on average).
    pub all: Vec<[f64; STATES.len()]>,
    /// Per column, blocked / protocol / callbacks.
    pub util: Vec<[f64; 3]>,
    /// Per column, the most requests in flight / queued / waiting for
    /// robots.txt at the end of a turn.
    pub queues: Vec<[u32; 3]>,
    pub stalls: Vec<(f64, f64, String)>,
    /// Outcomes (input items), and robots.txt fetches, counted apart.
    pub finished: u64,
    pub robots: u64,
}

impl Collected {
    pub fn collect(events: &str, span: &Span) -> io::Result<Collected> {
        let mut c = Collected {
            exact_segments: Vec::new(),
            streams: Vec::new(),
            by_column: if span.exact {
                Vec::new()
            } else {
                vec![vec![[0.0; STATES.len()]; COLUMNS]; span.lanes]
            },
            all: vec![[0.0f64; STATES.len()]; COLUMNS],
            util: vec![[0.0f64; 3]; COLUMNS],
            queues: vec![[0u32; 3]; COLUMNS],
            stalls: Vec::new(),
            finished: 0,
            robots: 0,
        };
        let mut lanes = Lanes::new(span.mode);
        let mut open: HashMap<u64, Open> = HashMap::new();
        // Streams open now: (conn, stream) → (lane, start).
        let mut open_streams: HashMap<(u64, u64), (usize, f64)> = HashMap::new();
        read_events(events, |e| {
            match e.kind.as_str() {
                "conn_opened" => {
                    let lane = lanes.open(conn_of(&e), e.str("origin").unwrap_or(""));
                    c.enter(span, &mut open, conn_of(&e), lane, e.str("state"), &e);
                }
                "state" => {
                    if let Some(lane) = lanes.lane_of(conn_of(&e)) {
                        c.enter(span, &mut open, conn_of(&e), lane, e.str("to"), &e);
                    }
                }
                "stream_opened" if span.exact => {
                    if let Some(lane) = lanes.lane_of(conn_of(&e)).filter(|&l| l < span.lanes) {
                        let stream = e.num("stream").unwrap_or(0.0) as u64;
                        open_streams.insert((conn_of(&e), stream), (lane, e.t));
                    }
                }
                "stream_closed" => {
                    let stream = e.num("stream").unwrap_or(0.0) as u64;
                    if let Some((lane, start)) = open_streams.remove(&(conn_of(&e), stream)) {
                        if c.streams.len() < EXACT_SEGMENTS {
                            c.streams.push(StreamMark {
                                lane,
                                stream,
                                req: e.num("req").unwrap_or(0.0) as u64,
                                start,
                                end: e.t,
                                done: e.str("end") == Some("done"),
                            });
                        }
                    }
                }
                "turn" => c.turn(span, &e),
                "stall" if c.stalls.len() < 1000 => {
                    let took = e.num("took").unwrap_or(0.0);
                    c.stalls
                        .push((e.t - took, took, e.str("url").unwrap_or("").to_string()));
                }
                "finished" if e.fields.contains_key("robots") => c.robots += 1,
                "finished" => c.finished += 1,
                _ => {}
            }
            if leaves(&e) {
                if let Some(o) = open.remove(&conn_of(&e)) {
                    c.close(span, conn_of(&e), o, e.t);
                }
                lanes.close(conn_of(&e));
            }
        })?;
        for (conn, o) in open {
            c.close(span, conn, o, span.t_max);
        }
        c.exact_segments
            .sort_by(|a, b| (a.lane, a.start).partial_cmp(&(b.lane, b.start)).unwrap());
        c.streams
            .sort_by(|a, b| (a.lane, a.start).partial_cmp(&(b.lane, b.start)).unwrap());
        Ok(c)
    }

    /// Connection `conn` (on `lane`) enters state `to` at `e.t`.
    fn enter(
        &mut self,
        span: &Span,
        open: &mut HashMap<u64, Open>,
        conn: u64,
        lane: usize,
        to: Option<&str>,
        e: &Ev,
    ) {
        if let Some(prev) = open.remove(&conn) {
            self.close(span, conn, prev, e.t);
        }
        if lane >= span.lanes {
            return; // past the lanes drawn (counted in the picture)
        }
        if let Some(state) = to.and_then(state_index) {
            let req = e.num("req").map(|r| r as u64);
            let start = e.t;
            open.insert(
                conn,
                Open {
                    lane,
                    state,
                    start,
                    req,
                },
            );
        }
    }

    /// A connection leaves a state at `end`.
    fn close(&mut self, span: &Span, conn: u64, o: Open, end: f64) {
        let (c0, c1) = (span.column(o.start), span.column(end));
        let col_span = span.column_span();
        for (c, acc) in self.all.iter_mut().enumerate().take(c1 + 1).skip(c0) {
            let lo = o.start.max(c as f64 * col_span);
            let hi = end.min((c + 1) as f64 * col_span);
            acc[o.state] += (hi - lo).max(0.0);
        }
        if span.exact {
            self.exact_segments.push(Segment {
                lane: o.lane,
                conn,
                state: o.state,
                start: o.start,
                end,
                req: o.req,
            });
            return;
        }
        for (c, acc) in self.by_column[o.lane]
            .iter_mut()
            .enumerate()
            .take(c1 + 1)
            .skip(c0)
        {
            let lo = o.start.max(c as f64 * col_span);
            let hi = end.min((c + 1) as f64 * col_span);
            // A state shorter than a column still counts (at least a sliver).
            acc[o.state] += ((hi - lo).max(0.0) as f32).max(1e-3);
        }
    }

    /// A loop turn: its parts spread evenly over the columns it covers; its
    /// queue counts kept as each column's maximum.
    fn turn(&mut self, span: &Span, e: &Ev) {
        let parts = [
            e.num("blocked").unwrap_or(0.0),
            e.num("protocol").unwrap_or(0.0),
            e.num("callbacks").unwrap_or(0.0),
        ];
        let total: f64 = parts.iter().sum();
        let start = (e.t - total).max(0.0);
        let (c0, c1) = (span.column(start), span.column(e.t));
        let n = (c1 - c0 + 1) as f64;
        for u in &mut self.util[c0..=c1] {
            for (i, p) in parts.iter().enumerate() {
                u[i] += p / n;
            }
        }
        let q = [
            e.num("in_flight").unwrap_or(0.0) as u32,
            e.num("queued").unwrap_or(0.0) as u32,
            e.num("robots_wait").unwrap_or(0.0) as u32,
        ];
        for col in &mut self.queues[c0..=c1] {
            for i in 0..3 {
                col[i] = col[i].max(q[i]);
            }
        }
    }
}
