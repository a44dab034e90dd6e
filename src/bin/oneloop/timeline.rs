//! `oneloop timeline`: an events file (JSON Lines from `--events`) drawn as
//! one self-contained SVG, no JavaScript: a lane per connection with a
//! coloured segment per state, the loop's use of its time above the lanes
//! (blocked in poll, protocol work, user callbacks), stalls in red, a time
//! axis and a legend. Hover a segment for its request and duration.
//!
//! Big crawls stay small: at most [`MAX_LANES`] lanes (the rest are
//! counted), and time is cut into [`COLUMNS`] columns. A small crawl is
//! drawn exactly, segment by segment; a big one shows, per lane and column,
//! the state the connection spent most of that column in. The file is read
//! twice (first for the time span), so memory does not grow with the crawl.

use oneloop::ConnState;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};

/// Connections drawn, in order of opening.
pub const MAX_LANES: usize = 200;
/// Time columns (one pixel each).
pub const COLUMNS: usize = 1000;
/// Up to this many segments, each is drawn on its own with its request id.
const EXACT_SEGMENTS: usize = 4000;

const LEFT: f64 = 170.0;
const LANE_H: f64 = 10.0;
const LANE_GAP: f64 = 2.0;
const STRIP_H: f64 = 48.0;

/// The drawn states, in legend order, with their colours.
/// (Their names are the library's: [`ConnState::name`].)
const STATES: [(ConnState, &str, &str); 7] = [
    (ConnState::Resolving, "#9467bd", "resolving (DNS)"),
    (ConnState::Connecting, "#8c564b", "connecting (TCP)"),
    (ConnState::TlsHandshake, "#e377c2", "TLS handshake"),
    (ConnState::Sending, "#2ca02c", "sending the request"),
    (
        ConnState::ReadingHead,
        "#1f77b4",
        "waiting for / reading the head",
    ),
    (ConnState::ReadingBody, "#17becf", "reading the body"),
    (ConnState::Idle, "#d0d0d0", "idle in the pool"),
];

fn state_index(name: &str) -> Option<usize> {
    STATES.iter().position(|s| s.0.name() == name)
}

/// A JSON value of our flat event objects.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    Other,
}

/// Parses one flat JSON object (`{"k":v,...}` with string, number, boolean
/// or null values): the events file's only shape.
fn parse_object(line: &str) -> Option<HashMap<String, Value>> {
    let mut chars = line.trim().chars().peekable();
    let mut map = HashMap::new();
    if chars.next()? != '{' {
        return None;
    }
    fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(s),
                '\\' => match chars.next()? {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
    }
    loop {
        match chars.next()? {
            '}' => return Some(map),
            ',' | ' ' => continue,
            '"' => {
                let key = string(&mut chars)?;
                if chars.next()? != ':' {
                    return None;
                }
                let value = match chars.peek()? {
                    '"' => {
                        chars.next();
                        Value::Str(string(&mut chars)?)
                    }
                    _ => {
                        let mut raw = String::new();
                        while let Some(&c) = chars.peek() {
                            if c == ',' || c == '}' {
                                break;
                            }
                            raw.push(c);
                            chars.next();
                        }
                        raw.trim().parse().map_or(Value::Other, Value::Num)
                    }
                };
                map.insert(key, value);
            }
            _ => return None,
        }
    }
}

/// One event line, the fields the timeline needs.
struct Ev {
    t: f64,
    kind: String,
    fields: HashMap<String, Value>,
}

impl Ev {
    fn num(&self, k: &str) -> Option<f64> {
        match self.fields.get(k) {
            Some(Value::Num(n)) => Some(*n),
            _ => None,
        }
    }
    fn str(&self, k: &str) -> Option<&str> {
        match self.fields.get(k) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// Reads the events file, calling `each` per event. A last line that is
/// not a whole event (what a crawl killed while writing leaves) ends the
/// reading: returns true then; a bad line elsewhere is an error.
fn read_events(path: &str, mut each: impl FnMut(Ev)) -> io::Result<bool> {
    let reader = BufReader::new(File::open(path)?);
    let mut lines = reader.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Some(fields) = parse_object(&line) else {
            if lines.peek().is_none() {
                return Ok(true);
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: not an event object", n + 1),
            ));
        };
        let t = match fields.get("t") {
            Some(Value::Num(t)) => *t,
            _ => continue,
        };
        let kind = match fields.get("type") {
            Some(Value::Str(k)) => k.clone(),
            _ => continue,
        };
        each(Ev { t, kind, fields });
    }
    Ok(false)
}

/// What was drawn, for the command's report and the tests.
#[derive(Debug, Default)]
pub struct Drawn {
    /// The file's last line was cut (drawn without it).
    pub truncated: bool,
    pub lanes: usize,
    pub connections: usize,
    pub segments: usize,
    pub exact: bool,
    pub bytes: usize,
}

struct Segment {
    lane: usize,
    state: usize,
    start: f64,
    end: f64,
    req: Option<u64>,
}

/// Pass 1: the time span, the connections, how many segments.
struct Span {
    truncated: bool,
    t_max: f64,
    conns: usize,
    lanes: usize,
    exact: bool,
    origins: HashMap<usize, String>,
}

impl Span {
    fn scan(events: &str) -> io::Result<Span> {
        let mut t_max: f64 = 0.0;
        let mut conns = 0usize;
        let mut segments = 0usize;
        let mut origins: HashMap<usize, String> = HashMap::new();
        let truncated = read_events(events, |e| {
            t_max = t_max.max(e.t);
            match e.kind.as_str() {
                "conn_opened" => {
                    let c = e.num("conn").unwrap_or(0.0) as usize;
                    conns = conns.max(c + 1);
                    if c < MAX_LANES {
                        segments += 1;
                        origins.insert(c, e.str("origin").unwrap_or("").to_string());
                    }
                }
                "state" if (e.num("conn").unwrap_or(0.0) as usize) < MAX_LANES => segments += 1,
                _ => {}
            }
        })?;
        Ok(Span {
            truncated,
            t_max: t_max.max(1.0),
            conns,
            lanes: conns.min(MAX_LANES),
            exact: segments <= EXACT_SEGMENTS,
            origins,
        })
    }

    fn column(&self, t: f64) -> usize {
        ((t / self.t_max) * COLUMNS as f64).clamp(0.0, COLUMNS as f64 - 1.0) as usize
    }

    fn column_span(&self) -> f64 {
        self.t_max / COLUMNS as f64
    }
}

/// A state a lane is in since `start`, for request `req`.
type Open = Option<(usize, f64, Option<u64>)>;

/// Pass 2: segments (or per-column state time), loop use, stalls.
struct Collected {
    exact_segments: Vec<Segment>,
    /// Per lane and column, the time spent in each state (not exact).
    by_column: Vec<Vec<[f32; 7]>>,
    /// Per column, blocked / protocol / callbacks.
    util: Vec<[f64; 3]>,
    stalls: Vec<(f64, f64, String)>,
    /// Outcomes (input items), and robots.txt fetches, counted apart.
    finished: u64,
    robots: u64,
}

impl Collected {
    fn collect(events: &str, span: &Span) -> io::Result<Collected> {
        let mut c = Collected {
            exact_segments: Vec::new(),
            by_column: if span.exact {
                Vec::new()
            } else {
                vec![vec![[0.0; 7]; COLUMNS]; span.lanes]
            },
            util: vec![[0.0f64; 3]; COLUMNS],
            stalls: Vec::new(),
            finished: 0,
            robots: 0,
        };
        let mut open: Vec<Open> = vec![None; span.lanes];
        read_events(events, |e| match e.kind.as_str() {
            "conn_opened" | "state" => {
                let lane = e.num("conn").unwrap_or(0.0) as usize;
                if lane >= span.lanes {
                    return;
                }
                let to = if e.kind == "state" {
                    e.str("to")
                } else {
                    e.str("state")
                };
                let prev = open[lane].take();
                c.close(span, lane, prev, e.t);
                let req = e.num("req").map(|r| r as u64);
                open[lane] = to.and_then(state_index).map(|s| (s, e.t, req));
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
        })?;
        for (lane, seg) in open.iter_mut().enumerate() {
            let seg = seg.take();
            c.close(span, lane, seg, span.t_max);
        }
        Ok(c)
    }

    /// A lane leaves the state it was in at `end`.
    fn close(&mut self, span: &Span, lane: usize, seg: Open, end: f64) {
        let Some((state, start, req)) = seg else {
            return;
        };
        if span.exact {
            self.exact_segments.push(Segment {
                lane,
                state,
                start,
                end,
                req,
            });
            return;
        }
        let (c0, c1) = (span.column(start), span.column(end));
        let col_span = span.column_span();
        for (c, acc) in self.by_column[lane]
            .iter_mut()
            .enumerate()
            .take(c1 + 1)
            .skip(c0)
        {
            let lo = start.max(c as f64 * col_span);
            let hi = end.min((c + 1) as f64 * col_span);
            if hi > lo {
                acc[state] += (hi - lo) as f32;
            }
        }
    }

    /// A loop turn: its parts spread evenly over the columns it covers.
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
    }
}

/// Where things go on the canvas.
struct Layout {
    plot_w: f64,
    strip_y: f64,
    lanes_y: f64,
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
    let strip_y = 70.0;
    let lanes_y = strip_y + STRIP_H + 24.0;
    let l = Layout {
        plot_w: COLUMNS as f64,
        strip_y,
        lanes_y,
        axis_y: lanes_y + span.lanes as f64 * (LANE_H + LANE_GAP) + 6.0,
        t_max: span.t_max,
    };
    let mut s = String::with_capacity(1 << 20);
    draw_header(&mut s, &span, &c, &l);
    draw_loop_strip(&mut s, &c, &l);
    let drawn_segments = draw_lanes(&mut s, &span, &c, &l);
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
    s.push_str(".blocked{fill:#eeeeee}.protocol{fill:#4c78a8}.callbacks{fill:#f58518}.stall{fill:#d62728}.lbl{fill:#333}.axis{stroke:#999}</style>\n");
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
        if span.exact {
            ", every segment"
        } else {
            ", dominant state per column"
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
    for (class, label) in [
        ("blocked", "loop blocked in poll"),
        ("protocol", "loop doing protocol work"),
        ("callbacks", "loop in your callback"),
        ("stall", "stall (callback over the threshold)"),
    ] {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="48" width="10" height="10" class="{class}"/><text x="{}" y="57" class="lbl">{label}</text>"#,
            lx + 13.0
        );
        lx += 14.0 + label.len() as f64 * 6.0 + 12.0;
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

/// One lane per connection: every segment, or the dominant state per
/// column. Returns how many rectangles were drawn.
fn draw_lanes(s: &mut String, span: &Span, c: &Collected, l: &Layout) -> usize {
    let _ = writeln!(
        s,
        r#"<g id="lanes" transform="translate({LEFT},{})">"#,
        l.lanes_y
    );
    let mut drawn = 0;
    for lane in 0..span.lanes {
        let y = lane as f64 * (LANE_H + LANE_GAP);
        let _ = write!(
            s,
            r#"<g class="lane" data-conn="{lane}" transform="translate(0,{y})"><text x="-6" y="{}" text-anchor="end" font-size="9" class="lbl">conn#{lane} {}</text>"#,
            LANE_H - 1.0,
            xml_escape(span.origins.get(&lane).map_or("", |o| o.as_str()))
        );
        drawn += if span.exact {
            draw_exact_lane(s, lane, &c.exact_segments, l)
        } else {
            draw_column_lane(s, lane, &c.by_column[lane], span.column_span())
        };
        s.push_str("</g>\n");
    }
    s.push_str("</g>\n");
    if span.conns > span.lanes {
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}" class="lbl">... and {} more connections, not drawn</text>"#,
            l.axis_y - 2.0,
            span.conns - span.lanes
        );
    }
    drawn
}

fn draw_exact_lane(s: &mut String, lane: usize, segments: &[Segment], l: &Layout) -> usize {
    let mut drawn = 0;
    for seg in segments.iter().filter(|g| g.lane == lane) {
        let x = l.x_of(seg.start);
        let w = (l.x_of(seg.end) - x).max(0.3);
        let req = seg
            .req
            .map_or(String::new(), |r| oneloop::events::req_label(r) + " ");
        let name = STATES[seg.state].0.name();
        let _ = write!(
            s,
            r#"<rect x="{x:.2}" width="{w:.2}" height="{LANE_H}" class="{name}"><title>conn#{lane} {req}{name} {}</title></rect>"#,
            fmt_us(seg.end - seg.start)
        );
        drawn += 1;
    }
    drawn
}

/// The dominant state per column, run-length encoded.
fn draw_column_lane(s: &mut String, lane: usize, cols: &[[f32; 7]], col_span: f64) -> usize {
    let dominant = |c: usize| {
        let (i, v) = cols[c]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        (*v > 0.0).then_some(i)
    };
    let mut drawn = 0;
    let mut c = 0;
    while c < COLUMNS {
        let Some(state) = dominant(c) else {
            c += 1;
            continue;
        };
        let start = c;
        while c < COLUMNS && dominant(c) == Some(state) {
            c += 1;
        }
        let name = STATES[state].0.name();
        let _ = write!(
            s,
            r#"<rect x="{start}" width="{}" height="{LANE_H}" class="{name}"><title>conn#{lane} mostly {name} from {} to {}</title></rect>"#,
            c - start,
            fmt_us(start as f64 * col_span),
            fmt_us(c as f64 * col_span)
        );
        drawn += 1;
    }
    drawn
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
    fn flat_objects_parse() {
        let o = parse_object(
            r#"{"t":12,"type":"stall","took":3000,"url":"http://a/\"x\"\u0041","ok":true}"#,
        )
        .unwrap();
        assert_eq!(o["t"], Value::Num(12.0));
        assert_eq!(o["url"], Value::Str("http://a/\"x\"A".into()));
        assert_eq!(o["ok"], Value::Other);
        assert!(parse_object("not json").is_none());
        assert!(parse_object(r#"{"t":1"#).is_none());
    }

    #[test]
    fn steps_and_times_are_round() {
        assert_eq!(nice_step(130.0), 200.0);
        assert_eq!(nice_step(7_000.0), 10_000.0);
        assert_eq!(fmt_us(1500.0), "1.5 ms");
        assert_eq!(fmt_us(2_500_000.0), "2.50 s");
    }
}
