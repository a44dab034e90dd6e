//! `--state DIR` for `crawl --follow`: a checkpoint of the frontier, so the
//! same command after a crash or Ctrl-C continues where it stopped.
//!
//! One append-only file, `DIR/state.log`, of tab-separated lines:
//! - `R run`: a run started (ids of run r are r * 2^40 + n: unique across
//!   runs, so `from` of an old line still names the right page);
//! - `Q depth from kind line url`: the frontier queued `url` (`-` for none);
//! - `D url`: `url` finished (its links' `Q` lines come before it).
//!
//! With `--shard I/N`, links whose origin is another shard's are not
//! queued but appended to `DIR/divert-J.txt` (before the `D` of the page
//! that found them): the next round's shard J reads them as seeds, and its
//! own state skips what it fetched already (docs/scaling.md).
//!
//! To resume, the finished URLs are read first (a set of fingerprints),
//! then every `Q` line: finished ones are marked seen, the others queued
//! again in their order. What was in flight at the crash is fetched again;
//! nothing finished is, and nothing discovered is lost. A line cut by the
//! crash (no newline) is ignored.
//!
//! Written through a buffer. A page's `D` line is added when its JSON line
//! has been written to the output, and the output journal's flusher hands
//! the output to the OS before the checkpoint's lines of that moment: a
//! kill -9 can leave a page in the output whose `D` is missing (fetched
//! again: a duplicate), never a `D` whose output line is lost. `fdatasync`ed
//! every second and at the end.

use oneloop::frontier::{canonical, fingerprint, Frontier, SeenSet, UrlKind};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The state being written.
pub struct StateLog {
    buf: Mutex<Vec<u8>>,
    /// `--shard`: other shards' URLs, by shard, for `DIR/divert-J.txt`.
    divert: Mutex<std::collections::HashMap<u64, Vec<u8>>>,
    dir: std::path::PathBuf,
    /// The file, when it was last synced, when last written.
    file: Mutex<(File, Instant, Instant)>,
}

/// The one state of this process, for the journal's flusher.
static STATE: OnceLock<Arc<StateLog>> = OnceLock::new();

/// What a resume found.
pub struct Resumed {
    pub run: u64,
    pub requeued: u64,
    pub finished: u64,
}

fn kind_name(k: UrlKind) -> &'static str {
    match k {
        UrlKind::Page => "page",
        UrlKind::Robots => "robots",
        UrlKind::Sitemap => "sitemap",
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

impl StateLog {
    /// Opens (or creates) `dir/state.log`, restores `frontier` from it, and
    /// starts a new run.
    pub fn open(dir: &str, frontier: &mut Frontier) -> io::Result<(Arc<StateLog>, Resumed)> {
        std::fs::create_dir_all(dir)?;
        let path = std::path::Path::new(dir).join("state.log");
        let resumed = if path.exists() {
            restore(&path, frontier)?
        } else {
            Resumed {
                run: 1,
                requeued: 0,
                finished: 0,
            }
        };
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let log = Arc::new(StateLog {
            buf: Mutex::new(format!("R\t{}\n", resumed.run).into_bytes()),
            divert: Mutex::default(),
            dir: dir.into(),
            file: Mutex::new((file, Instant::now(), Instant::now())),
        });
        let _ = STATE.set(log.clone());
        Ok((log, resumed))
    }

    pub fn queued(
        &self,
        url: &str,
        depth: u32,
        from: Option<u64>,
        kind: UrlKind,
        line: Option<u64>,
    ) {
        if let Ok(mut b) = self.buf.lock() {
            let kind = kind_name(kind);
            let _ = writeln!(b, "Q\t{depth}\t{}\t{kind}\t{}\t{url}", opt(from), opt(line));
        }
    }

    /// A URL of shard `shard`'s, for its next round.
    pub fn divert(&self, shard: u64, url: &str) {
        if let Ok(mut d) = self.divert.lock() {
            let _ = writeln!(d.entry(shard).or_default(), "{url}");
        }
    }

    pub fn done(&self, url: &str) {
        if let Ok(mut b) = self.buf.lock() {
            let _ = writeln!(b, "D\t{url}");
        }
    }

    /// Hands the buffer to the OS; `fdatasync` too when `sync`, or when
    /// the last was a second ago.
    pub fn flush(&self, sync: bool) -> io::Result<()> {
        let data = self.take();
        self.write(data, sync)
    }

    fn take(&self) -> Vec<u8> {
        self.buf
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }

    fn write(&self, data: Vec<u8>, sync: bool) -> io::Result<()> {
        let Ok(mut f) = self.file.lock() else {
            return Ok(());
        };
        // Diverted URLs first: the page that found them is not `D`one
        // before they are on their way.
        let diverted = self
            .divert
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        for (shard, lines) in diverted {
            let path = self.dir.join(format!("divert-{shard}.txt"));
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            file.write_all(&lines)?;
            if sync {
                file.sync_data()?;
            }
        }
        f.0.write_all(&data)?;
        f.2 = Instant::now();
        if sync || f.1.elapsed() >= Duration::from_secs(1) {
            f.0.sync_data()?;
            f.1 = Instant::now();
        }
        Ok(())
    }
}

impl StateLog {
    /// From the workers: hands the buffer to the OS if the last time was
    /// 100 ms ago (a crawl without JSON output has no journal to do it).
    pub fn tick(&self) {
        let due = self
            .file
            .lock()
            .is_ok_and(|f| f.2.elapsed() >= Duration::from_millis(100));
        if due {
            let _ = self.flush(false);
        }
    }
}

/// A page's outcome line was written to the output: now it may be
/// `D`one in the checkpoint (never before, or a crash could keep the `D`
/// and lose the line).
pub fn output_written(url: &str) {
    if let Some(s) = STATE.get() {
        s.done(url);
    }
}

/// The output journal's flush, with the checkpoint's around it: the
/// checkpoint's lines so far are taken first (their pages' output lines
/// are in the output already), the output is written, then they are. A
/// crash between the two writes costs pages fetched twice, never lost.
pub fn around_output_flush(flush_output: impl FnOnce()) {
    let taken = STATE.get().map(|s| (s, s.take()));
    flush_output();
    if let Some((s, data)) = taken {
        let _ = s.write(data, false);
    }
}

/// Reads a state file into `frontier`: finished URLs seen, the rest queued.
fn restore(path: &std::path::Path, frontier: &mut Frontier) -> io::Result<Resumed> {
    let mut done = SeenSet::default();
    let mut run = 0;
    let mut finished = 0;
    each_whole_line(path, |l| {
        if let Some(url) = l.strip_prefix("D\t") {
            if let Some(u) = canonical(url) {
                finished += u64::from(done.insert(fingerprint(u.as_str())));
            }
        } else if let Some(r) = l.strip_prefix("R\t") {
            run = run.max(r.parse().unwrap_or(0));
        }
    })?;
    let mut requeued = 0;
    each_whole_line(path, |l| {
        let Some(rest) = l.strip_prefix("Q\t") else {
            return;
        };
        let f: Vec<&str> = rest.splitn(5, '\t').collect();
        let [depth, from, kind, line, url] = f[..] else {
            return;
        };
        let is_done = canonical(url).is_some_and(|u| done.contains(fingerprint(u.as_str())));
        if is_done {
            frontier.mark_seen(url);
            return;
        }
        let kind = match kind {
            "robots" => UrlKind::Robots,
            "sitemap" => UrlKind::Sitemap,
            _ => UrlKind::Page,
        };
        let num = |v: &str| v.parse::<u64>().ok();
        let depth = depth.parse().unwrap_or(0);
        requeued += u64::from(frontier.restore(url, depth, num(from), num(line), kind));
    })?;
    Ok(Resumed {
        run: run + 1,
        requeued,
        finished,
    })
}

/// Calls `f` with each line that ends with a newline (a crash may have
/// cut the last one: it is not read).
fn each_whole_line(path: &std::path::Path, mut f: impl FnMut(&str)) -> io::Result<()> {
    let mut r = io::BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(());
        }
        line.pop();
        if let Ok(text) = std::str::from_utf8(&line) {
            f(text);
        }
    }
}
