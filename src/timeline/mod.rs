//! A crawl's timeline: an events file (JSON Lines of
//! [`Event::write_json`](crate::events::Event::write_json), as `oneloop --events`
//! writes them) drawn as
//! one self-contained SVG, no JavaScript: a lane per connection slot with a
//! coloured segment per state, the loop's use of its time above the lanes
//! (blocked in poll, protocol work, user callbacks) and the lanes summed
//! (how many connections were in each state), stalls in red, the
//! requests in flight, queued and waiting for robots.txt below them, a time
//! axis and a legend. Hover a segment for its connection, request and
//! duration.
//!
//! Big crawls stay small: lanes are connection slots (a closed connection's
//! lane goes to the next one), or origins when more than [`MAX_LANES`]
//! connections are open at once; time is cut into [`COLUMNS`] columns. A
//! small crawl is drawn exactly, segment by segment; a big one shows, per
//! lane and column, each state's share of the column (a state that was
//! there at all keeps a visible sliver, so short requests in long idle
//! stretches still show). The file is read twice (first for the time span
//! and the lanes), so memory does not grow with the crawl.

mod collect;
mod read;

use crate::ConnState;
use collect::{Collected, LaneMode, Segment, Span, StreamMark};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};

/// Lanes drawn at most.
pub const MAX_LANES: usize = 200;
/// Time columns (one pixel each).
pub const COLUMNS: usize = 1000;
/// Up to this many segments, each is drawn on its own with its request id.
const EXACT_SEGMENTS: usize = 4000;

const LEFT: f64 = 170.0;
const LANE_H: f64 = 10.0;
const LANE_GAP: f64 = 2.0;
const STRIP_H: f64 = 48.0;
const QUEUE_H: f64 = 48.0;

/// The drawn states, in legend order, with their colours.
/// (Their names are the library's: [`ConnState::name`].)
const STATES: [(ConnState, &str, &str); 9] = [
    (ConnState::Resolving, "#9467bd", "resolving (DNS)"),
    (ConnState::Connecting, "#8c564b", "connecting (TCP)"),
    (ConnState::Tunneling, "#7f7f7f", "proxy tunnel"),
    (ConnState::TlsHandshake, "#e377c2", "TLS handshake"),
    (ConnState::Sending, "#2ca02c", "sending the request"),
    (
        ConnState::ReadingHead,
        "#1f77b4",
        "waiting for / reading the head",
    ),
    (ConnState::ReadingBody, "#17becf", "reading the body"),
    (ConnState::Idle, "#d0d0d0", "idle in the pool"),
    (
        ConnState::Multiplexed,
        "#bcbd22",
        "HTTP/2, streams in flight",
    ),
];

/// The index of `Idle` in [`STATES`] (drawn behind the others).
const IDLE: usize = 7;

fn state_index(name: &str) -> Option<usize> {
    STATES.iter().position(|s| s.0.name() == name)
}

/// What was drawn, for the command's report and the tests.
#[derive(Debug, Default)]
pub struct Drawn {
    /// The file's last line was cut (drawn without it).
    pub truncated: bool,
    /// Lanes drawn.
    pub lanes: usize,
    /// Connections the file saw.
    pub connections: usize,
    /// Rectangles drawn in the lanes.
    pub segments: usize,
    /// Every segment drawn on its own (a small crawl), not per column.
    pub exact: bool,
    /// The SVG's size.
    pub bytes: usize,
}

/// Where things go on the canvas.
struct Layout {
    plot_w: f64,
    strip_y: f64,
    conns_y: f64,
    lanes_y: f64,
    queues_y: f64,
    axis_y: f64,
    t_max: f64,
}

impl Layout {
    fn x_of(&self, t: f64) -> f64 {
        t / self.t_max * self.plot_w
    }
}

/// Reads `events` and writes the SVG to `svg`: two passes over the file
/// (memory does not grow with it), then the picture.
pub fn render(events: &str, svg: &str) -> io::Result<Drawn> {
    let span = Span::scan(events)?;
    let c = Collected::collect(events, &span)?;
    let strip_y = 86.0;
    let conns_y = strip_y + STRIP_H + 16.0;
    let lanes_y = conns_y + STRIP_H + 24.0;
    let queues_y = lanes_y + span.lanes as f64 * (LANE_H + LANE_GAP) + 24.0;
    let l = Layout {
        plot_w: COLUMNS as f64,
        strip_y,
        conns_y,
        lanes_y,
        queues_y,
        axis_y: queues_y + QUEUE_H + 10.0,
        t_max: span.t_max,
    };
    let mut s = String::with_capacity(1 << 20);
    draw_header(&mut s, &span, &c, &l);
    draw_loop_strip(&mut s, &c, &l);
    draw_connections(&mut s, &span, &c, &l);
    let drawn_segments = draw_lanes(&mut s, &span, &c, &l);
    draw_queues(&mut s, &c, &l);
    draw_axis(&mut s, &l);
    s.push_str("</svg>\n");
    let mut f = io::BufWriter::new(File::create(svg)?);
    f.write_all(s.as_bytes())?;
    f.flush()?;
    Ok(Drawn {
        truncated: span.truncated,
        lanes: span.lanes,
        connections: span.conns,
        segments: drawn_segments,
        exact: span.exact,
        bytes: s.len(),
    })
}

/// The SVG's head, styles, title and legend.
fn draw_header(s: &mut String, span: &Span, c: &Collected, l: &Layout) {
    let width = LEFT + l.plot_w + 30.0;
    let height = l.axis_y + 60.0;
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">
<style>"#
    );
    for (state, colour, _) in STATES {
        let name = state.name();
        let _ = write!(s, ".{name}{{fill:{colour}}}");
    }
    s.push_str(".blocked{fill:#eeeeee}.protocol{fill:#4c78a8}.callbacks{fill:#f58518}.stall{fill:#d62728}.lbl{fill:#333}.axis{stroke:#999}.q0{fill:#2ca02c}.q1{fill:#bcbd22}.q2{fill:#9467bd}.stream{fill:#222}.stream-failed{fill:#d62728}</style>\n");
    s.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" class="lbl">oneloop timeline: {} outcomes{} over {} connections in {} ({} drawn{}); {} stall(s)</text>"#,
        c.finished,
        if c.robots > 0 {
            format!(" and {} robots.txt fetches", c.robots)
        } else {
            String::new()
        },
        span.conns,
        fmt_us(span.t_max),
        span.lanes,
        match (span.exact, span.mode) {
            (true, _) => ", every segment",
            (false, LaneMode::Slot) => ", each state's share per column",
            (false, LaneMode::Origin) => ", a lane per origin, each state's share per column",
        },
        c.stalls.len()
    );
    let mut lx = 10.0;
    for (state, _, label) in STATES {
        let name = state.name();
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="32" width="10" height="10" class="{name}"/><text x="{}" y="41" class="lbl">{label}</text>"#,
            lx + 13.0
        );
        lx += 14.0 + label.len() as f64 * 6.0 + 12.0;
    }
    let mut lx = 10.0;
    let keys = [
        ("blocked", "loop blocked in poll"),
        ("protocol", "loop doing protocol work"),
        ("callbacks", "loop in your callback"),
        ("stall", "stall (callback over the threshold)"),
        ("q0", "requests in flight"),
        ("q1", "queued (limits, pacing)"),
        ("q2", "waiting for robots.txt"),
    ];
    for (class, label) in keys {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="48" width="10" height="10" class="{class}"/><text x="{}" y="57" class="lbl">{label}</text>"#,
            lx + 13.0
        );
        lx += 14.0 + label.len() as f64 * 6.0 + 12.0;
    }
    if !c.streams.is_empty() {
        let _ = writeln!(
            s,
            r#"<rect x="10" y="64" width="10" height="10" class="stream"/><text x="23" y="73" class="lbl">HTTP/2 streams open on the connection (dark height: how many, its lane's most = full)</text><rect x="520" y="64" width="2" height="10" class="stream-failed"/><text x="527" y="73" class="lbl">a stream that failed (reset, refused, cancelled)</text>"#
        );
    }
}

/// The loop strip: per column, the share of blocked / protocol / callbacks;
/// stalls in red over it.
fn draw_loop_strip(s: &mut String, c: &Collected, l: &Layout) {
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end" class="lbl">the loop</text><g id="loop" transform="translate({LEFT},{})">"#,
        LEFT - 6.0,
        l.strip_y + STRIP_H / 2.0 + 4.0,
        l.strip_y
    );
    for (col, u) in c.util.iter().enumerate() {
        let total: f64 = u.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let mut y = 0.0;
        for (i, class) in ["blocked", "protocol", "callbacks"].iter().enumerate() {
            let h = u[i] / total * STRIP_H;
            if h >= 0.05 {
                let _ = write!(
                    s,
                    r#"<rect x="{col}" y="{y:.2}" width="1" height="{h:.2}" class="{class}"/>"#
                );
            }
            y += h;
        }
    }
    for (start, took, url) in &c.stalls {
        let _ = write!(
            s,
            r#"<rect x="{:.2}" y="-4" width="{:.2}" height="{}" class="stall" opacity="0.85"><title>stall: the callback for {} held the loop {}</title></rect>"#,
            l.x_of(*start),
            l.x_of(*took).max(1.5),
            STRIP_H + 8.0,
            xml_escape(url),
            fmt_us(*took)
        );
    }
    s.push_str("</g>\n");
}

/// The lanes summed: per column, how many connections were in each state
/// on average, stacked (busy states from the bottom, idle on top), scaled
/// to the most at once. A crawl of a million pages has a hundred lanes that
/// look alike; this strip is what it did.
fn draw_connections(s: &mut String, span: &Span, c: &Collected, l: &Layout) {
    let col_span = span.column_span().max(1e-9);
    let counts = |acc: &[f64; STATES.len()]| acc.iter().sum::<f64>() / col_span;
    let max = c.all.iter().map(counts).fold(0.0, f64::max);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end" class="lbl">connections</text><text x="{}" y="{}" text-anchor="end" font-size="9" class="lbl">by state (max {max:.0})</text><g id="connections" transform="translate({LEFT},{})">"#,
        LEFT - 6.0,
        l.conns_y + STRIP_H / 2.0,
        LEFT - 6.0,
        l.conns_y + STRIP_H / 2.0 + 12.0,
        l.conns_y
    );
    if max > 0.0 {
        for (col, acc) in c.all.iter().enumerate() {
            let mut y = STRIP_H;
            let order = (0..STATES.len()).filter(|i| *i != IDLE).chain([IDLE]);
            for i in order {
                let h = acc[i] / col_span / max * STRIP_H;
                if h < 0.05 {
                    continue;
                }
                y -= h;
                let name = STATES[i].0.name();
                let _ = write!(
                    s,
                    r#"<rect x="{col}" y="{y:.2}" width="1" height="{h:.2}" class="{name}"/>"#
                );
            }
        }
    }
    s.push_str("</g>\n");
}

/// One lane per connection slot (or origin): every segment, or each
/// state's share per column. Returns how many rectangles were drawn.
fn draw_lanes(s: &mut String, span: &Span, c: &Collected, l: &Layout) -> usize {
    let _ = writeln!(
        s,
        r#"<g id="lanes" transform="translate({LEFT},{})">"#,
        l.lanes_y
    );
    let mut drawn = 0;
    let mut segments = c.exact_segments.iter().peekable();
    let mut streams = c.streams.iter().peekable();
    for lane in 0..span.lanes {
        let y = lane as f64 * (LANE_H + LANE_GAP);
        let what = match span.mode {
            LaneMode::Slot => format!("slot {lane}"),
            LaneMode::Origin => String::new(),
        };
        let label = span.labels.get(lane).map_or("", |o| o.as_str());
        let _ = write!(
            s,
            r#"<g class="lane" data-lane="{lane}" transform="translate(0,{y})"><text x="-6" y="{}" text-anchor="end" font-size="9" class="lbl">{what} {}</text>"#,
            LANE_H - 1.0,
            xml_escape(label)
        );
        if span.exact {
            while let Some(seg) = segments.next_if(|g| g.lane == lane) {
                draw_segment(s, seg, l);
                drawn += 1;
            }
            let mut lane_streams = Vec::new();
            while let Some(mark) = streams.next_if(|m| m.lane == lane) {
                lane_streams.push(mark);
            }
            draw_streams(s, &lane_streams, l);
        } else {
            drawn += draw_column_lane(s, &c.by_column[lane], span.column_span());
        }
        s.push_str("</g>\n");
    }
    s.push_str("</g>\n");
    if span.needed > span.lanes {
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}" class="lbl">... and {} more origins, not drawn</text>"#,
            l.queues_y - 10.0,
            span.needed - span.lanes
        );
    }
    drawn
}

/// A lane's HTTP/2 streams as a dark step area over its `h2` segment: its
/// height is how many streams were open at each instant (the lane's most =
/// full height), so multiplexing shows as a level, not as one bar. Streams
/// that failed or were cancelled are red ticks at their end.
fn draw_streams(s: &mut String, marks: &[&StreamMark], l: &Layout) {
    if marks.is_empty() {
        return;
    }
    let mut steps: Vec<(f64, i32)> = Vec::with_capacity(marks.len() * 2);
    for m in marks {
        steps.push((m.start, 1));
        steps.push((m.end, -1));
    }
    // Ends before starts at the same instant: a stream replaced at once
    // does not count twice.
    steps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let most = steps
        .iter()
        .scan(0, |open, &(_, d)| {
            *open += d;
            Some(*open)
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let _ = write!(
        s,
        r#"<path class="stream" fill-opacity="0.8" d="M{:.2},{LANE_H}"#,
        l.x_of(steps[0].0)
    );
    let mut open = 0;
    for (t, d) in steps {
        open += d;
        let y = LANE_H - LANE_H * f64::from(open) / f64::from(most);
        let _ = write!(s, " H{:.2} V{y:.2}", l.x_of(t));
    }
    let _ = write!(
        s,
        r#" Z"><title>HTTP/2: {} streams, up to {most} at once on this connection</title></path>"#,
        marks.len()
    );
    for m in marks.iter().filter(|m| !m.done) {
        let _ = write!(
            s,
            r#"<rect x="{:.2}" width="1" height="{LANE_H}" class="stream-failed"><title>stream {} {} failed</title></rect>"#,
            l.x_of(m.end),
            m.stream,
            crate::events::req_label(m.req)
        );
    }
}

fn draw_segment(s: &mut String, seg: &Segment, l: &Layout) {
    let x = l.x_of(seg.start);
    let w = (l.x_of(seg.end) - x).max(0.3);
    let req = seg
        .req
        .map_or(String::new(), |r| crate::events::req_label(r) + " ");
    let name = STATES[seg.state].0.name();
    let _ = write!(
        s,
        r#"<rect x="{x:.2}" width="{w:.2}" height="{LANE_H}" class="{name}"><title>conn#{} {req}{name} {}</title></rect>"#,
        seg.conn,
        fmt_us(seg.end - seg.start)
    );
}

/// A column's states as whole-pixel heights, idle behind the busy states:
/// in proportion to their time, but a busy state that was there at all
/// gets at least 3 px, so a short request in a long idle stretch still
/// shows. `None` for an empty column.
fn stack(acc: &[f32; STATES.len()]) -> Option<[u8; STATES.len()]> {
    let total: f32 = acc.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let mut h = [0u8; STATES.len()];
    let mut left = LANE_H as u8;
    for (i, v) in acc.iter().enumerate() {
        if i == IDLE || *v <= 0.0 || left == 0 {
            continue;
        }
        let px = ((v / total) * LANE_H as f32)
            .round()
            .max(3.0)
            .min(f32::from(left)) as u8;
        h[i] = px;
        left -= px;
    }
    if acc[IDLE] > 0.0 {
        h[IDLE] = left;
    }
    Some(h)
}

/// Each column's stack of states; runs of columns whose stacks differ by
/// at most a pixel per state are one group of rectangles (a steady crawl
/// draws few), with a tooltip giving the run's time and its first column's
/// shares.
fn draw_column_lane(s: &mut String, cols: &[[f32; STATES.len()]], col_span: f64) -> usize {
    let mut drawn = 0;
    let mut c = 0;
    while c < COLUMNS {
        let Some(h) = stack(&cols[c]) else {
            c += 1;
            continue;
        };
        let start = c;
        let close = |g: [u8; STATES.len()]| {
            g.iter().zip(h.iter()).all(|(a, b)| a.abs_diff(*b) <= 1)
                && (g[IDLE] > 0) == (h[IDLE] > 0)
        };
        while c < COLUMNS && stack(&cols[c]).is_some_and(close) {
            c += 1;
        }
        let acc = &cols[start];
        let total: f32 = acc.iter().sum();
        let _ = write!(
            s,
            r#"<g><title>{} to {}"#,
            fmt_us(start as f64 * col_span),
            fmt_us(c as f64 * col_span)
        );
        for (i, v) in acc.iter().enumerate().filter(|(_, v)| **v > 0.0) {
            let _ = write!(s, ", {} {:.0}%", STATES[i].0.name(), 100.0 * v / total);
        }
        s.push_str("</title>");
        let width = c - start;
        if h[IDLE] > 0 {
            let _ = write!(
                s,
                r#"<rect x="{start}" width="{width}" height="{LANE_H}" class="idle"/>"#
            );
            drawn += 1;
        }
        let mut y = LANE_H as u8;
        for (i, px) in h.iter().enumerate() {
            if i == IDLE || *px == 0 {
                continue;
            }
            y -= px;
            let name = STATES[i].0.name();
            let _ = write!(
                s,
                r#"<rect x="{start}" y="{y}" width="{width}" height="{px}" class="{name}"/>"#
            );
            drawn += 1;
        }
        s.push_str("</g>");
    }
    drawn
}

/// Below the lanes: per column, the most requests in flight, queued, and
/// waiting for robots.txt, one row each, each scaled to its own maximum.
fn draw_queues(s: &mut String, c: &Collected, l: &Layout) {
    let row = QUEUE_H / 3.0;
    for (i, name) in ["in flight", "queued", "waiting for robots.txt"]
        .iter()
        .enumerate()
    {
        let max = c.queues.iter().map(|q| q[i]).max().unwrap_or(0);
        let y0 = l.queues_y + i as f64 * row;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" font-size="9" class="lbl">{name} (max {max})</text><g transform="translate({LEFT},{y0})">"#,
            LEFT - 6.0,
            y0 + row - 3.0
        );
        for (col, q) in c.queues.iter().enumerate().filter(|(_, q)| q[i] > 0) {
            let h = (f64::from(q[i]) / f64::from(max.max(1)) * (row - 1.0)).max(0.5);
            let _ = write!(
                s,
                r#"<rect x="{col}" y="{:.2}" width="1" height="{h:.2}" class="q{i}"/>"#,
                row - 1.0 - h
            );
        }
        s.push_str("</g>\n");
    }
}

/// The time axis, with round steps.
fn draw_axis(s: &mut String, l: &Layout) {
    let _ = writeln!(
        s,
        r#"<g id="axis" transform="translate({LEFT},{})"><line x1="0" x2="{}" y1="0" y2="0" class="axis"/>"#,
        l.axis_y + 8.0,
        l.plot_w
    );
    let step = nice_step(l.t_max / 8.0);
    let mut t = 0.0;
    while t <= l.t_max {
        let x = l.x_of(t);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="0" y2="5" class="axis"/><text x="{x:.1}" y="17" text-anchor="middle" class="lbl">{}</text>"#,
            fmt_us(t)
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="34" text-anchor="middle" class="lbl">time since the crawl started</text></g>"#,
        l.plot_w / 2.0
    );
}

/// A round step (1, 2 or 5 × 10^k µs) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// Microseconds as a short human time.
fn fmt_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_times_are_round() {
        assert_eq!(nice_step(130.0), 200.0);
        assert_eq!(nice_step(7_000.0), 10_000.0);
        assert_eq!(fmt_us(1500.0), "1.5 ms");
        assert_eq!(fmt_us(2_500_000.0), "2.50 s");
    }

    #[test]
    fn http2_streams_draw_as_a_level_in_their_connections_lane() {
        // One h2 connection: streams 1 and 3 overlap, then 5 alone; 3 fails.
        let events = [
            r#"{"t":0,"type":"conn_opened","conn":0,"req":1,"state":"connecting","origin":"https://a"}"#,
            r#"{"t":100,"type":"state","conn":0,"req":1,"from":"tls","to":"h2"}"#,
            r#"{"t":110,"type":"stream_opened","conn":0,"req":1,"stream":1}"#,
            r#"{"t":120,"type":"stream_opened","conn":0,"req":2,"stream":3}"#,
            r#"{"t":200,"type":"stream_closed","conn":0,"req":2,"stream":3,"end":"failed"}"#,
            r#"{"t":300,"type":"stream_closed","conn":0,"req":1,"stream":1,"end":"done"}"#,
            r#"{"t":310,"type":"stream_opened","conn":0,"req":3,"stream":5}"#,
            r#"{"t":400,"type":"stream_closed","conn":0,"req":3,"stream":5,"end":"done"}"#,
            r#"{"t":500,"type":"conn_closed","conn":0,"reason":"end"}"#,
        ];
        let dir = std::env::temp_dir().join(format!("oneloop-tl-h2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ev, svg) = (dir.join("ev.jsonl"), dir.join("tl.svg"));
        std::fs::write(&ev, events.join("\n") + "\n").unwrap();
        render(ev.to_str().unwrap(), svg.to_str().unwrap()).unwrap();
        let out = std::fs::read_to_string(&svg).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.contains("HTTP/2: 3 streams, up to 2 at once"), "{out}");
        assert_eq!(
            out.matches(r#"class="stream-failed"><title>stream 3"#)
                .count(),
            1
        );
        assert!(out.contains("HTTP/2 streams open on the connection"));
    }
}
