//! What is done with each page: its JSON line, the demo's simulated work,
//! `--save`; inline on the loop's thread, or on worker threads.

use crate::args::Options;
use crate::progress::ProgressLine;
use crate::report::{Page, Reporter};
use crate::save::Saver;
use crate::sys;
use oneloop::crawl::CrawlSetup;
use oneloop::follow::checkpoint::CheckpointLog;
use oneloop::follow::spill::SpillFile;
use oneloop::follow::Follow;
use oneloop::warc::{Stored, Writer as WarcWriter};
use oneloop::workers::Workers;
use oneloop::{Crawler, Outcome, Phase, Summary};
use std::fmt::Write as _;
use std::sync::Arc;

/// What is done with each page, besides counting it: its JSON line, and in
/// the demo the pitfall on purpose (`--block-ms`, `--work-ms`), and with
/// `--save` its body on disk. On worker threads with `--workers`/`--save`,
/// else on the loop's thread.
pub(crate) struct PageWork {
    save: Option<Saver>,
    /// `--follow`: the line leaves room for the crawl's fields.
    follow: bool,
    warc: Option<Arc<WarcWriter>>,
    /// `--if-changed`: what the earlier run saw (and archived when).
    earlier: Option<Arc<oneloop::jsonl::validators::Validators>>,
    block: std::time::Duration,
    busy: std::time::Duration,
    jsonl: bool,
}

impl PageWork {
    fn new(o: &Options, follow: bool) -> PageWork {
        PageWork {
            save: o.save.as_deref().map(Saver::new),
            follow,
            warc: o.warc_writer.clone(),
            earlier: None,
            block: std::time::Duration::from_millis(o.block_ms),
            busy: std::time::Duration::from_millis(o.work_ms),
            jsonl: o.jsonl,
        }
    }

    /// The user's work that the demo stands for: sleeping (a blocking
    /// call) and burning CPU (parsing).
    fn simulate(&self) {
        if !self.block.is_zero() {
            std::thread::sleep(self.block);
        }
        if !self.busy.is_zero() {
            // CPU time of this thread, not wall time: with more threads than
            // cores a thread is not always running, and only CPU work done
            // counts as the work.
            let start = sys::thread_cpu_time();
            let mut x = 0u64;
            while sys::thread_cpu_time().saturating_sub(start) < self.busy {
                for _ in 0..1000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        }
    }

    /// One page, on a worker. (The demo's simulated work is for pages,
    /// not for errors or cancellations.) A failed save or archive is its
    /// own field of the line (`"save_error"`, `"warc_error"`): the response
    /// stays the outcome's, as the summary counted it.
    fn run(&self, o: &mut Outcome) -> Page {
        if o.result.is_ok() {
            self.simulate();
        }
        let mut path = None;
        let mut save_error = None;
        if let (Some(saver), Ok(r)) = (&self.save, &o.result) {
            if (200..300).contains(&r.status) {
                match saver.save(o.id, &r.body) {
                    Ok(p) => path = Some(p),
                    Err(e) => save_error = Some(oneloop::Error::from_io(Phase::Save, &e)),
                }
            }
        }
        let (stored, warc_error) = match self.archive(o) {
            Ok(stored) => (stored, None),
            Err(e) => (None, Some(e)),
        };
        let mut line = String::new();
        let mut crawl_fields_at = None;
        if self.jsonl {
            o.write_json_fields(&mut line);
            if let Some(p) = &path {
                line.push_str(",\"path\":");
                oneloop::text::json_str(&mut line, &p.to_string_lossy());
            }
            for (key, e) in [("save_error", &save_error), ("warc_error", &warc_error)] {
                if let Some(e) = e {
                    let _ = write!(line, ",\"{key}\":");
                    oneloop::outcome::write_error_json(&mut line, e);
                }
            }
            if self.follow {
                crawl_fields_at = Some(line.len());
            }
            if let Some(s) = &stored {
                line.push_str(",\"warc\":{\"file\":");
                oneloop::text::json_str(&mut line, &s.file);
                let _ = write!(line, ",\"offset\":{},\"length\":{}", s.offset, s.length);
                line.push_str(",\"date\":");
                oneloop::text::json_str(&mut line, &s.date);
                line.push('}');
            }
            line.push_str("}\n");
        }
        let failed = save_error.as_ref().or(warc_error.as_ref());
        Page {
            line,
            error: o.result.is_err(),
            saved: path.is_some(),
            save_failed: failed.map(|e| e.kind.as_str()),
            crawl_fields_at,
        }
    }
}

impl PageWork {
    /// `--warc`: the response archived; where its record is.
    fn archive(&self, o: &Outcome) -> Result<Option<Stored>, oneloop::Error> {
        let Some(warc) = self.warc.as_ref() else {
            return Ok(None);
        };
        // A 304 of `--if-changed`: the capture it stands for, if the
        // earlier run archived it.
        let date = self.earlier.as_ref().and_then(|v| v.archived_at(&o.url));
        let refers_to = date.map(|date| oneloop::warc::RefersTo {
            target_uri: &o.url,
            date,
        });
        warc.archive_with(o, refers_to)
            .map_err(|e| oneloop::Error::from_io(Phase::Save, &e))
    }
}

/// `--follow`: the follow core, and the checkpoint its records go to.
pub(crate) struct Following<'a> {
    pub core: &'a mut Follow,
    pub log: Option<Arc<CheckpointLog>>,
}

/// Crawls `urls`, each page through [`PageWork`]: inline, or on workers.
pub(crate) fn crawl_pages<I>(
    crawler: &mut Crawler,
    urls: I,
    o: &Options,
    rep: &mut Reporter,
    follow: Option<Following<'_>>,
) -> Result<Summary, oneloop::Error>
where
    I: oneloop::input::IntoInput,
{
    let handle = crawler.handle();
    rep.handle = Some(handle.clone());
    let line = rep
        .progress
        .then(|| ProgressLine::start(handle.clone(), rep.counts.clone(), rep.total));
    let summary = run_pages(crawler, urls, o, rep, handle, follow);
    if let Some(line) = line {
        line.finish();
    }
    summary
}

/// The crawl itself: pages inline, or on workers.
fn run_pages<I>(
    crawler: &mut Crawler,
    urls: I,
    o: &Options,
    rep: &mut Reporter,
    handle: oneloop::Handle,
    follow: Option<Following<'_>>,
) -> Result<Summary, oneloop::Error>
where
    I: oneloop::input::IntoInput,
{
    // Link extraction, like file work, is never done on the loop.
    let files = o.save.is_some() || o.warc.is_some() || follow.is_some();
    let mut work = PageWork::new(o, follow.is_some());
    work.earlier = rep.validators.clone();
    let Some(threads) = o.workers.or(files.then_some(2)) else {
        return crawler.run(urls, |outcome| {
            rep.on_outcome(outcome);
            if rep.broken_pipe {
                handle.stop();
            }
            // In the demo, the pitfall on purpose: work inside the loop.
            if outcome.result.is_ok() {
                work.simulate();
            }
        });
    };
    let workers = worker_pool(o, threads);
    let warc = work.warc.clone();
    let summary = match follow {
        None => crawler.run_with_workers(
            urls,
            workers,
            move |outcome| work.run(outcome),
            |done| {
                match &done.result {
                    Ok(page) => rep.on_page(page),
                    Err(message) => rep.on_panic(done.id, message),
                }
                if rep.broken_pipe || archive_failed(&warc, o, rep) {
                    handle.stop();
                }
            },
        ),
        Some(f) => {
            let log = f.log.clone();
            let setup = CrawlSetup {
                workers,
                spill: Box::new(SpillFile::default()),
                checkpoint: f.log,
                // With JSON lines the journal's flusher writes the
                // checkpoint, after the lines (`journal.rs`).
                flush_checkpoint: !o.jsonl,
            };
            let work = move |outcome: &mut Outcome| work.run(outcome);
            crawler.crawl(urls, f.core, setup, work, |page, _| {
                match page.result {
                    Ok(mut p) => {
                        p.add_crawl_fields(page.tag, page.queued, page.charset);
                        rep.on_page(&p);
                    }
                    Err(message) => rep.on_panic(page.id, &message),
                }
                let checkpoint_failed = log.as_ref().is_some_and(|l| l.error().is_some());
                if rep.broken_pipe || checkpoint_failed || archive_failed(&warc, o, rep) {
                    handle.stop();
                }
            })
        }
    };
    if let Some(dir) = &o.save {
        say_saved(rep, dir);
    }
    summary
}

/// The worker threads, and their queue: as many slots as requests in
/// flight, so a burst of completions never holds admission, and memory
/// stays O(concurrency), like the responses in flight themselves (with 8
/// slots, a --warc crawl of 500 requests in flight ran at 0.68x its rate
/// without archiving; with 512, 1.07x).
fn worker_pool(o: &Options, threads: usize) -> Workers {
    let queue = if o.queue > 0 {
        o.queue
    } else {
        (threads * 4).max(o.config.concurrency)
    };
    Workers { threads, queue }
}

/// Whether the archive could not be written (a full disk): the crawl stops
/// and exits 1, said once.
fn archive_failed(warc: &Option<Arc<WarcWriter>>, o: &Options, rep: &mut Reporter) -> bool {
    let Some(e) = warc.as_ref().and_then(|w| w.error()) else {
        return false;
    };
    let prefix = o.warc.as_deref().unwrap_or("");
    rep.fatal
        .get_or_insert_with(|| format!("--warc {prefix}: the archive could not be written: {e}"));
    true
}

/// `--save`'s closing line: files written, failed, and why by kind.
fn say_saved(rep: &Reporter, dir: &str) {
    let mut kinds = String::new();
    for (kind, n) in &rep.save_errors {
        let _ = write!(
            kinds,
            "{}{kind} {n}",
            if kinds.is_empty() { " (" } else { ", " }
        );
    }
    if !kinds.is_empty() {
        kinds.push(')');
    }
    errln!(
        "save: {} files written under {dir}, {} failed{kinds}",
        rep.saved,
        rep.save_failed
    );
}
