//! The checkpoint of a crawl that follows links (the CLI's `--state DIR`):
//! the follow core's [`Record`]s in an append-only file, replayed into a
//! fresh core so the same crawl after a crash or a stop continues where it
//! stopped. Crash-safe by construction, no database.
//!
//! One file, `DIR/state.log`, of tab-separated lines:
//! - `R run`: a run started (ids of run r are r * 2^40 + n: unique across
//!   runs, so `from` of an old result still names the right page);
//! - `Q depth from kind line url`: the frontier queued `url` (`-` for none);
//! - `D url`: `url` finished (its links' `Q` lines come before it);
//! - `S url`: `url`'s host (or domain) joined the scope (a seed's, a seed
//!   redirect's target). Restored before anything is fetched: a resumed
//!   crawl's first pages come back before its seeds are read again, and
//!   their links were judged out of scope (512 pages of a 3,000-page site
//!   lost, found by `tests/state.rs` with 20 requests in flight).
//!
//! With a shard (`--shard I/N`), links whose origin is another shard's are
//! not queued but appended to `DIR/divert-J.txt` (before the `D` of the
//! page that found them): the next round's shard J reads them as seeds, and
//! its own state skips what it fetched already (docs/scaling.md).
//!
//! To resume ([`CheckpointLog::open`]), the finished URLs are read first (a
//! set of fingerprints), then every `Q` line: finished ones are marked
//! seen, the others queued again in their order. What was in flight at the
//! crash is fetched again; nothing finished is, and nothing discovered is
//! lost. A line cut by the crash (no newline) is ignored.
//!
//! Records are buffered; [`CheckpointLog::flush`] hands them to the OS
//! (`fdatasync` every second and at the end). A caller that writes results
//! elsewhere (the CLI's JSON lines) adds a `D` only once the page's result
//! is written, and hands its own output to the OS between
//! [`take`](CheckpointLog::take) and [`write`](CheckpointLog::write): a
//! crash can then leave a result whose `D` is missing (fetched again: a
//! duplicate), never a `D` whose result is lost.

use super::{Record, UrlKind};
use crate::frontier::{canonical, fingerprint, Frontier, SeenSet};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The checkpoint being written (shared by the loop's thread, which adds
/// records, and whoever flushes).
pub struct CheckpointLog {
    buf: Mutex<Vec<u8>>,
    /// Other shards' URLs, by shard, for `DIR/divert-J.txt`.
    divert: Mutex<HashMap<u64, Vec<u8>>>,
    dir: PathBuf,
    /// The file, when it was last synced, when last written.
    file: Mutex<(File, Instant, Instant)>,
    /// The first write that failed (a full disk): the crawl should stop,
    /// not run on without a checkpoint.
    error: Mutex<Option<String>>,
}

/// What a resume found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// This run's number (1 for a new checkpoint).
    pub run: u64,
    /// URLs queued again (queued, not finished).
    pub requeued: u64,
    /// URLs finished in earlier runs.
    pub finished: u64,
}

impl Resumed {
    /// The first request id of this run: `run * 2^40 + 1`, so ids stay
    /// unique across runs (1 for a first run).
    pub fn first_id(&self) -> u64 {
        if self.run > 1 {
            (self.run << 40) + 1
        } else {
            1
        }
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// A record as its checkpoint line (`Q`, `D`); `None` for a diverted URL
/// (it goes to its shard's file).
pub fn record_line(r: &Record) -> Option<String> {
    match r {
        Record::Queued { url, tag, line } => Some(format!(
            "Q\t{}\t{}\t{}\t{}\t{url}\n",
            tag.depth,
            opt(tag.from),
            tag.kind.as_str(),
            opt(*line)
        )),
        Record::Done { url } => Some(format!("D\t{url}\n")),
        Record::Scope { url } => Some(format!("S\t{url}\n")),
        Record::Diverted { .. } => None,
    }
}

impl CheckpointLog {
    /// Opens (or creates) `dir/state.log`, restores `frontier` from it, and
    /// starts a new run.
    pub fn open(dir: &Path, frontier: &mut Frontier) -> io::Result<(CheckpointLog, Resumed)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("state.log");
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
        let log = CheckpointLog {
            buf: Mutex::new(format!("R\t{}\n", resumed.run).into_bytes()),
            divert: Mutex::default(),
            dir: dir.into(),
            file: Mutex::new((file, Instant::now(), Instant::now())),
            error: Mutex::new(None),
        };
        Ok((log, resumed))
    }

    /// A record of the follow core, into the buffer.
    pub fn record(&self, r: &Record) {
        if let Record::Diverted { shard, url } = r {
            if let Ok(mut d) = self.divert.lock() {
                let _ = writeln!(d.entry(*shard).or_default(), "{url}");
            }
        } else if let (Some(line), Ok(mut b)) = (record_line(r), self.buf.lock()) {
            b.extend_from_slice(line.as_bytes());
        }
    }

    /// Hands the buffer to the OS; `fdatasync` too when `sync`, or when
    /// the last was a second ago.
    pub fn flush(&self, sync: bool) -> io::Result<()> {
        let data = self.take();
        self.write(data, sync)
    }

    /// The buffered records, taken (to be [`write`](Self::write)n after
    /// the caller's own output).
    pub fn take(&self) -> Vec<u8> {
        self.buf
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }

    /// Writes records taken earlier (diverted URLs first: the page that
    /// found them is not `D`one before they are on their way). A failure
    /// is kept ([`error`](Self::error)) as well as returned.
    pub fn write(&self, data: Vec<u8>, sync: bool) -> io::Result<()> {
        let result = self.write_inner(data, sync);
        if let Err(e) = &result {
            if let Ok(mut first) = self.error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
        result
    }

    /// The first write that failed, if any: the checkpoint is behind the
    /// crawl from then on, and a crawl should stop.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    fn write_inner(&self, data: Vec<u8>, sync: bool) -> io::Result<()> {
        let Ok(mut f) = self.file.lock() else {
            return Ok(());
        };
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

    /// Hands the buffer to the OS if the last time was 100 ms ago (for a
    /// caller with no output of its own to flush it with).
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

/// Reads a state file into `frontier`: finished URLs seen, the rest queued.
fn restore(path: &Path, frontier: &mut Frontier) -> io::Result<Resumed> {
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
        } else if let Some(url) = l.strip_prefix("S\t") {
            frontier.add_scope(url);
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
        // A seed (depth 0, no referrer): its scope, for a state written
        // before `S` records.
        if from == "-" && depth == "0" && kind == UrlKind::Page.as_str() {
            frontier.add_scope(url);
        }
        let is_done = canonical(url).is_some_and(|u| done.contains(fingerprint(u.as_str())));
        if is_done {
            frontier.mark_seen(url);
            return;
        }
        let num = |v: &str| v.parse::<u64>().ok();
        let depth = depth.parse().unwrap_or(0);
        let kind = UrlKind::from_name(kind);
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
fn each_whole_line(path: &Path, mut f: impl FnMut(&str)) -> io::Result<()> {
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
