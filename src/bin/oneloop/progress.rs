//! The progress line: once a second on stderr when it is a terminal (never
//! otherwise), from a thread of its own, so it moves even when no outcome
//! does (a polite crawl, robots.txt being fetched, a slow server).
//!
//! `1,234 of ~50,000 (2%) done, 96/s, ETA 8m30s; 200 in flight, 1,800 queued,
//! 12 waiting for robots.txt; 5 errors`

use oneloop::Handle;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Counts the reporter and the input reader keep for the line.
#[derive(Default)]
pub struct Counts {
    pub done: AtomicU64,
    pub errors: AtomicU64,
    /// Input lines and bytes read so far (a file's total is estimated from
    /// them and its size).
    pub lines: AtomicU64,
    pub bytes: AtomicU64,
}

/// How many outcomes there will be.
#[derive(Clone, Copy, Debug)]
pub enum Total {
    /// Not known (standard input).
    Unknown,
    /// Known (the demo).
    Exact(u64),
    /// A file of this many bytes: lines read × size ÷ bytes read.
    FileOf(u64),
}

/// The running line; [`finish`](Self::finish) clears it.
pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    pub fn start(handle: Handle, counts: Arc<Counts>, total: Total) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("oneloop-progress".into())
            .spawn(move || {
                while !s2.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if started.elapsed().as_millis() % 1000 >= 100 {
                        continue; // once a second
                    }
                    let line = render(&handle, &counts, total, started.elapsed());
                    let _ = write!(std::io::stderr(), "\r{line}\x1b[K");
                }
            })
            .ok();
        ProgressLine { stop, thread }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
}

/// One line, from the counts now.
pub fn render(handle: &Handle, counts: &Counts, total: Total, elapsed: Duration) -> String {
    let done = counts.done.load(Ordering::Relaxed);
    let errors = counts.errors.load(Ordering::Relaxed);
    let p = handle.progress();
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let total = match total {
        Total::Unknown => None,
        Total::Exact(n) => Some((n, "")),
        Total::FileOf(size) => {
            let (lines, bytes) = (
                counts.lines.load(Ordering::Relaxed),
                counts.bytes.load(Ordering::Relaxed),
            );
            (bytes > 0).then(|| ((lines as f64 * size as f64 / bytes as f64) as u64, "~"))
        }
    };
    let mut line = match total {
        Some((n, approx)) if n > 0 => {
            let left = n.saturating_sub(done);
            let eta = if rate > 0.0 {
                format!(", ETA {}", clock(left as f64 / rate))
            } else {
                String::new()
            };
            format!(
                "{done} of {approx}{n} ({}%) done, {rate:.0}/s{eta}",
                (done * 100 / n).min(100)
            )
        }
        _ => format!("{done} done, {rate:.0}/s"),
    };
    line.push_str(&format!("; {} in flight, {} queued", p.in_flight, p.queued));
    if p.waiting_for_robots > 0 {
        line.push_str(&format!(
            ", {} waiting for robots.txt",
            p.waiting_for_robots
        ));
    }
    line.push_str(&format!("; {errors} errors"));
    line
}

/// `45s`, `8m30s`, `2h05m`.
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_clock() {
        assert_eq!(clock(45.2), "45s");
        assert_eq!(clock(510.0), "8m30s");
        assert_eq!(clock(7500.0), "2h05m");
    }
}
