//! Seeing the loop from the command line: a stderr logger for the `log`
//! crate, and the crawl observer behind `--trace` (every event as a line)
//! and `--events FILE` (every event as JSON).

use oneloop::events::req_label;
use oneloop::events::{Event, EventKind};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// `log` records on stderr, timed from the program's start.
struct StderrLogger {
    start: Instant,
    /// For oneloop's own records.
    level: log::LevelFilter,
    /// For the dependencies' (mio, rustls): their trace level is a flood.
    deps: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let max = if metadata.target().starts_with("oneloop") {
            self.level
        } else {
            self.deps
        };
        metadata.level() <= max
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let ms = self.start.elapsed().as_secs_f64() * 1e3;
            errln!("+{ms:.3}ms {} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger (once): oneloop's records up to `level`, the
/// dependencies' up to `deps`.
pub fn install_logger(level: log::LevelFilter, deps: log::LevelFilter) {
    let logger = Box::leak(Box::new(StderrLogger {
        start: Instant::now(),
        level,
        deps,
    }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level.max(deps));
    }
}

/// Where the events of a crawl go.
pub struct Watch {
    trace: bool,
    events: Option<BufWriter<File>>,
    line: String,
    /// The first error writing the events file.
    pub error: Option<io::Error>,
}

impl Watch {
    /// `trace`: one line per event on stderr; `events`: JSON Lines there.
    pub fn new(trace: bool, events: Option<File>) -> Watch {
        Watch {
            trace,
            events: events.map(|f| BufWriter::with_capacity(256 * 1024, f)),
            line: String::new(),
            error: None,
        }
    }

    /// Is anyone listening?
    pub fn is_on(&self) -> bool {
        self.trace || self.events.is_some()
    }

    fn on_event(&mut self, e: &Event<'_>) {
        if let Some(out) = &mut self.events {
            self.line.clear();
            e.write_json(&mut self.line);
            self.line.push('\n');
            if let Err(err) = out.write_all(self.line.as_bytes()) {
                self.error.get_or_insert(err);
                self.events = None;
            }
        }
        if self.trace {
            self.line.clear();
            trace_line(&mut self.line, e);
            errln!("{}", self.line);
        }
    }

    /// Flushes the events file.
    pub fn finish(&mut self) {
        if let Some(out) = &mut self.events {
            if let Err(err) = out.flush() {
                self.error.get_or_insert(err);
            }
        }
    }

    /// An observer for the crawler that feeds this watch.
    pub fn observer(watch: &Arc<Mutex<Watch>>) -> impl FnMut(&Event<'_>) + Send + 'static {
        let watch = watch.clone();
        move |e| {
            if let Ok(mut w) = watch.lock() {
                w.on_event(e);
            }
        }
    }
}

/// One event as one human line: `+12.345ms conn#7 req#42 ReadingHead -> ReadingBody`.
pub fn trace_line(out: &mut String, e: &Event<'_>) {
    let _ = write!(out, "+{:.3}ms ", e.at.as_secs_f64() * 1e3);
    let _ = match &e.kind {
        EventKind::LoopTurn { .. } | EventKind::Stall { .. } => loop_line(out, &e.kind),
        EventKind::Queued { .. }
        | EventKind::Admitted { .. }
        | EventKind::Paced { .. }
        | EventKind::Finished { .. }
        | EventKind::ConnectWait { .. }
        | EventKind::RequestMoved { .. } => request_line(out, &e.kind),
        _ => conn_line(out, &e.kind),
    };
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What happened to a request (not on a connection yet, or between them).
fn request_line(out: &mut String, kind: &EventKind<'_>) -> std::fmt::Result {
    match kind {
        EventKind::Queued { req, url } => write!(out, "{} queued {url}", req_label(*req)),
        EventKind::Admitted { req, origin } => {
            write!(out, "{} admitted ({origin})", req_label(*req))
        }
        EventKind::Paced { waits } => write!(out, "paced: {waits} start(s) held back"),
        EventKind::Finished {
            req,
            result,
            attempts,
        } => match result {
            Ok(status) => write!(
                out,
                "{} finished: {status} ({attempts} attempt(s))",
                req_label(*req)
            ),
            Err((phase, kind)) => {
                write!(
                    out,
                    "{} finished: {phase}:{kind} ({attempts} attempt(s))",
                    req_label(*req)
                )
            }
        },
        EventKind::ConnectWait { req, connecting } => write!(
            out,
            "{} waits to connect ({connecting} connecting to its origin)",
            req_label(*req)
        ),
        EventKind::RequestMoved { req, from } => write!(
            out,
            "{} takes an idle connection; conn#{from}, still connecting, is closed",
            req_label(*req)
        ),
        _ => Ok(()),
    }
}

/// What happened on a connection.
fn conn_line(out: &mut String, kind: &EventKind<'_>) -> std::fmt::Result {
    match kind {
        EventKind::ConnOpened {
            conn,
            origin,
            req,
            state,
        } => write!(
            out,
            "conn#{conn} {} opened to {origin} ({state:?})",
            req_label(*req)
        ),
        EventKind::ConnReused { conn, req } => {
            write!(out, "conn#{conn} {} reused", req_label(*req))
        }
        EventKind::StreamOpened { conn, req, stream } => {
            write!(
                out,
                "conn#{conn} {} on stream {stream} (h2)",
                req_label(*req)
            )
        }
        EventKind::StreamClosed {
            conn,
            req,
            stream,
            end,
        } => write!(
            out,
            "conn#{conn} {} stream {stream} closed: {end}",
            req_label(*req)
        ),
        EventKind::ConnectAttempt { conn, addr } => {
            write!(out, "conn#{conn} connect attempt to {addr}")
        }
        EventKind::ConnState {
            conn,
            req,
            from,
            to,
        } => match req {
            Some(r) => write!(out, "conn#{conn} {} {from:?} -> {to:?}", req_label(*r)),
            None => write!(out, "conn#{conn} {from:?} -> {to:?}"),
        },
        EventKind::ConnClosed { conn, reason } => {
            write!(out, "conn#{conn} closed ({})", reason.as_str())
        }
        EventKind::DnsLookup { conn, name } => write!(out, "conn#{conn} dns lookup {name}"),
        EventKind::DnsAnswer { conn, addresses } => {
            write!(out, "conn#{conn} dns answer: {addresses} address(es)")
        }
        EventKind::TlsDone {
            conn,
            resumed,
            took,
        } => write!(
            out,
            "conn#{conn} TLS {} handshake in {:.3}ms",
            if *resumed { "resumed" } else { "full" },
            ms(*took)
        ),
        _ => Ok(()),
    }
}

/// The loop itself: its turns and its stalls.
fn loop_line(out: &mut String, kind: &EventKind<'_>) -> std::fmt::Result {
    match kind {
        EventKind::LoopTurn {
            blocked,
            events,
            protocol,
            callbacks,
            in_flight,
            queued,
            robots_wait,
        } => write!(
            out,
            "turn: blocked {:.3}ms, {events} event(s), protocol {:.3}ms, callbacks {:.3}ms; {in_flight} in flight, {queued} queued, {robots_wait} waiting for robots.txt",
            ms(*blocked),
            ms(*protocol),
            ms(*callbacks)
        ),
        EventKind::Stall { url, took } => {
            write!(
                out,
                "STALL: the callback for {url} held the loop {:.3}ms",
                ms(*took)
            )
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oneloop::ConnState;
    use std::time::Duration;

    #[test]
    fn trace_lines_read_like_the_loop() {
        let mut out = String::new();
        trace_line(
            &mut out,
            &Event {
                at: Duration::from_micros(12_345),
                kind: EventKind::ConnState {
                    conn: 7,
                    req: Some(42),
                    from: ConnState::ReadingHead,
                    to: ConnState::ReadingBody,
                },
            },
        );
        assert_eq!(out, "+12.345ms conn#7 req#42 ReadingHead -> ReadingBody");
    }
}
