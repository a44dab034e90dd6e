//! The callback both commands share: JSON Lines on stdout, a progress line
//! on stderr when it is a terminal.

use crate::journal::Journal;
use crate::progress::{Counts, Total};
use oneloop::{Handle, Outcome};
use std::io::{self, IsTerminal};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Writes outcomes as they come.
pub struct Reporter {
    /// The JSON lines (`None` without `--jsonl`): written through to the
    /// OS every 100 ms, or each line when stdout is a terminal (a person
    /// sees results as they come).
    out: Option<Journal>,
    line: String,
    /// Print the progress line (stderr is a terminal, or `--progress`).
    pub progress: bool,
    /// What the progress line counts, and how many outcomes to expect.
    pub counts: Arc<Counts>,
    pub total: Total,
    /// stdout was closed by the reader (`| head`): the crawl should stop.
    pub broken_pipe: bool,
    pub handle: Option<Handle>,
    /// Pages saved by `--save`, and saves (or archive writes) that failed.
    pub saved: u64,
    pub save_failed: u64,
    /// The failed saves by error kind (their lines' `"save_error"`; the
    /// responses stay those URLs' outcomes).
    pub save_errors: std::collections::BTreeMap<&'static str, u64>,
    /// A field the first line written carries (the input's fingerprint,
    /// for `--resume`), with its leading comma.
    pub first_line_tag: Option<String>,
    /// A failure that ends the run with status 1 after its summary (the
    /// checkpoint could not be written).
    pub fatal: Option<String>,
    /// `--if-changed`: the earlier run's validators and capture dates
    /// (for the revisit records of `--warc`).
    pub validators: Option<std::sync::Arc<oneloop::jsonl::validators::Validators>>,
}

/// One page's work done on a worker: its JSON line, and what `--save` did.
pub struct Page {
    pub line: String,
    pub error: bool,
    pub saved: bool,
    /// The save (or archiving) failed with this kind of error.
    pub save_failed: Option<&'static str>,
    /// `--follow`: where in `line` the crawl's fields (depth, kind, from,
    /// links) go, added on the loop's thread by [`Page::add_crawl_fields`].
    pub crawl_fields_at: Option<usize>,
}

impl Page {
    /// `--follow`: the page's depth, kind and referrer, and the links it
    /// queued, into its line (before its archive record's place).
    pub fn add_crawl_fields(
        &mut self,
        tag: Option<oneloop::outcome::CrawlTag>,
        queued: u64,
        charset: Option<&str>,
    ) {
        use std::fmt::Write as _;
        let Some(at) = self.crawl_fields_at else {
            return;
        };
        let tag = tag.unwrap_or_default();
        let mut f = String::with_capacity(48);
        let _ = write!(f, ",\"depth\":{}", tag.depth);
        if tag.kind != oneloop::outcome::UrlKind::Page {
            let _ = write!(f, ",\"kind\":\"{}\"", tag.kind.as_str());
        }
        if let Some(from) = tag.from {
            let _ = write!(f, ",\"from\":{from}");
        }
        let _ = write!(f, ",\"links\":{queued}");
        if let Some(c) = charset {
            let _ = write!(f, ",\"charset\":\"{c}\"");
        }
        self.line.insert_str(at, &f);
    }
}

impl Reporter {
    /// `progress`: on a terminal (`force`: anywhere).
    pub fn new(jsonl: bool, progress: bool, force: bool, total: Total) -> Reporter {
        Reporter {
            out: jsonl.then(|| Journal::new(Box::new(io::stdout()), io::stdout().is_terminal())),
            line: String::new(),
            progress: force || (progress && io::stderr().is_terminal()),
            counts: Arc::default(),
            total,
            broken_pipe: false,
            handle: None,
            saved: 0,
            save_failed: 0,
            save_errors: Default::default(),
            first_line_tag: None,
            fatal: None,
            validators: None,
        }
    }

    /// An outcome delivered on the loop's thread.
    pub fn on_outcome(&mut self, o: &Outcome) {
        self.line.clear();
        if self.out.is_some() {
            o.write_json(&mut self.line);
            self.line.push('\n');
        }
        let line = std::mem::take(&mut self.line);
        self.write(&line, o.result.is_err());
        self.line = line;
    }

    /// A page the workers finished (its JSON line made there).
    pub fn on_page(&mut self, page: &Page) {
        self.saved += page.saved as u64;
        if let Some(kind) = page.save_failed {
            self.save_failed += 1;
            *self.save_errors.entry(kind).or_insert(0) += 1;
        }
        self.write(&page.line, page.error);
    }

    /// `--state`: the checkpoint's records are flushed with the output,
    /// after it.
    pub fn set_checkpoint(
        &self,
        log: Option<std::sync::Arc<oneloop::follow::checkpoint::CheckpointLog>>,
    ) {
        if let Some(out) = &self.out {
            out.set_checkpoint(log);
        }
    }

    /// The worker's function panicked for this item.
    pub fn on_panic(&mut self, id: u64, message: &str) {
        self.line.clear();
        if self.out.is_some() {
            self.line.push_str(&format!(
                "{{\"id\":{id},\"error\":{{\"phase\":\"save\",\"kind\":\"io\",\"detail\":"
            ));
            oneloop::text::json_str(&mut self.line, message);
            self.line.push_str("}}\n");
        }
        let line = std::mem::take(&mut self.line);
        self.write(&line, true);
        self.line = line;
    }

    fn write(&mut self, line: &str, error: bool) {
        self.counts.done.fetch_add(1, Ordering::Relaxed);
        if error {
            self.counts.errors.fetch_add(1, Ordering::Relaxed);
        }
        match self.first_line_tag.take() {
            Some(tag) if line.ends_with("}\n") => {
                let at = line.len() - 2;
                self.write_raw(&format!("{}{tag}{}", &line[..at], &line[at..]));
            }
            _ => self.write_raw(line),
        }
    }

    /// Text to the output as it is.
    pub fn write_raw(&mut self, text: &str) {
        if let Some(out) = &self.out {
            if !out.write(text) {
                self.broken_pipe = true;
            }
        }
    }

    /// Why the run must end with status 1 although it ran: the output could
    /// not be written (not a closed pipe), nor the checkpoint or the archive.
    pub fn failure(&self) -> Option<String> {
        let output = self.out.as_ref().and_then(|o| o.error());
        output
            .map(|e| format!("writing the output: {e}"))
            .or_else(|| self.fatal.clone())
    }

    pub fn finish(&mut self) {
        if let Some(out) = &mut self.out {
            out.finish();
        }
    }
}
