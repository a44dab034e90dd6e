//! The file side of WARC (the CLI's `--warc PREFIX`): every response
//! archived as WARC/1.1 records in `PREFIX-00000.warc.gz`,
//! `PREFIX-00001.warc.gz`, ... (the records are made by the
//! [parent module](super); this is the sink that writes them).
//!
//! Meant for the worker threads (`Writer` is `Sync`): each worker builds and compresses its
//! page's two records (the CPU part, in parallel), then appends them under
//! one lock (the I/O part, in sequence: records never interleave), and
//! learns where the response record landed, for the page's JSON line. The
//! workers' bounded queue is the back-pressure: a slow disk slows
//! admission, never the loop.
//!
//! Files are created exclusively (`O_EXCL`) at the next free number: a
//! resumed run or a second process with the same prefix starts new files,
//! never rewrites old ones. A file is rotated before it would pass
//! `--warc-max-size`; each begins with a `warcinfo` record.

use super::{Exchange, Gzip, RecordId, RefersTo};
use crate::outcome::Outcome;
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a response record was written: what a reader seeks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The file's name (the prefix and its number).
    pub file: String,
    /// The offset of the response record's gzip member in it.
    pub offset: u64,
    /// The member's length.
    pub length: u64,
    /// The records' `WARC-Date` (what a later revisit refers to).
    pub date: String,
}

/// The archive being written: numbered files, rotated by size.
///
/// Shared by the workers (`Arc`): each call archives one exchange whole.
pub struct Writer {
    prefix: String,
    max_size: u64,
    level: u8,
    rng: ring::rand::SystemRandom,
    files: Mutex<Files>,
    /// The first write that failed (a full disk): the archive stops there
    /// — no new file per later page — and the caller should stop too.
    error: Mutex<Option<String>>,
}

#[derive(Default)]
struct Files {
    file: Option<File>,
    name: String,
    size: u64,
    /// Fetches in it so far.
    pairs: u64,
    /// The next number to try for a new file.
    next: u32,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("prefix", &self.prefix)
            .field("max_size", &self.max_size)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Files `PREFIX-NNNNN.warc.gz` (each at most `max_size` bytes, but
    /// one fetch), gzip `level` 0-9.
    pub fn new(prefix: &str, max_size: u64, level: u8) -> Writer {
        Writer {
            prefix: prefix.to_string(),
            max_size,
            level,
            rng: ring::rand::SystemRandom::new(),
            files: Mutex::default(),
            error: Mutex::new(None),
        }
    }

    fn id(&self) -> RecordId {
        let mut b = [0u8; 16];
        // A failed getrandom is not worth losing a page over: the id is
        // then only unique by the counter the caller's date makes likely.
        let _ = ring::rand::SecureRandom::fill(&self.rng, &mut b);
        RecordId::from_random(b)
    }

    fn now() -> String {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        super::date(secs)
    }

    /// One gzip member, by this worker thread's own compressor.
    fn gzip(&self, data: &[u8]) -> Vec<u8> {
        thread_local! {
            static GZIP: RefCell<Option<Gzip>> = const { RefCell::new(None) };
        }
        GZIP.with_borrow_mut(|g| g.get_or_insert_with(|| Gzip::new(self.level)).member(data))
    }

    /// The first write that failed, if any (see [`archive`](Self::archive)).
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    /// Archives an outcome's response (none for an error: nothing was
    /// received). Returns where its response record is. After a failed
    /// write every call fails with that first error: a full disk does not
    /// become an empty file per later page.
    pub fn archive(&self, o: &Outcome) -> io::Result<Option<Stored>> {
        self.archive_with(o, None)
    }

    /// [`archive`](Self::archive), and a `304`'s revisit record names the
    /// capture it stands for (`refers_to`: from the run that stored it).
    pub fn archive_with(
        &self,
        o: &Outcome,
        refers_to: Option<RefersTo<'_>>,
    ) -> io::Result<Option<Stored>> {
        if let Some(e) = self.error() {
            return Err(io::Error::other(format!(
                "the archive stopped earlier: {e}"
            )));
        }
        let result = self.archive_inner(o, refers_to);
        if let Err(e) = &result {
            self.record_error(e);
        }
        result
    }

    /// Keeps the first failure: every later call answers with it.
    fn record_error(&self, e: &io::Error) {
        if let Ok(mut first) = self.error.lock() {
            first.get_or_insert_with(|| e.to_string());
        }
    }

    fn archive_inner(
        &self,
        o: &Outcome,
        refers_to: Option<RefersTo<'_>>,
    ) -> io::Result<Option<Stored>> {
        let Ok(r) = &o.result else {
            return Ok(None);
        };
        let Some(wire) = r.wire.as_deref().filter(|w| !w.head.is_empty()) else {
            return Ok(None);
        };
        let date = Self::now();
        // The redirect hops first, each its own request/response pair at
        // its own URL (as Heritrix and wget --warc-file store them), then
        // the final one.
        let mut members = Vec::with_capacity(2 * (wire.hops.len() + 1));
        for (url, hop) in &wire.hops {
            let Some(hop_wire) = hop.wire.as_deref() else {
                continue;
            };
            let ex = Exchange {
                target_uri: url,
                date: &date,
                wire: hop_wire,
                body: hop.wire_body(),
                request_id: self.id(),
                response_id: self.id(),
                refers_to: None,
            };
            members.push(self.gzip(&ex.request_record()));
            members.push(self.gzip(&ex.response_record()));
        }
        let ex = Exchange {
            target_uri: o.final_url(),
            date: &date,
            wire,
            body: r.wire_body(),
            request_id: self.id(),
            response_id: self.id(),
            refers_to,
        };
        members.push(self.gzip(&ex.request_record()));
        let before_response: u64 = members.iter().map(|m| m.len() as u64).sum();
        let response = self.gzip(&ex.response_record());
        let response_len = response.len() as u64;
        members.push(response);
        let mut files = self
            .files
            .lock()
            .map_err(|_| io::Error::other("a WARC writer panicked"))?;
        // Asked again under the files lock: a worker that failed while this
        // one built its records must not see a new file opened after it.
        if let Some(e) = self.error() {
            return Err(io::Error::other(format!(
                "the archive stopped earlier: {e}"
            )));
        }
        let pair = before_response + response_len;
        if let Err(e) = self.make_room(&mut files, pair, &date) {
            self.record_error(&e);
            return Err(e);
        }
        let start = files.size;
        let file = files.file.as_mut().expect("opened by make_room");
        let written = members.iter().try_for_each(|m| file.write_all(m));
        if let Err(e) = written {
            // Cut back to the last whole record; recorded while the files
            // lock is held, so no other worker opens a next file.
            let _ = file.set_len(start);
            files.file = None;
            self.record_error(&e);
            return Err(e);
        }
        files.size += pair;
        files.pairs += 1;
        Ok(Some(Stored {
            file: files.name.clone(),
            offset: start + before_response,
            length: response_len,
            date,
        }))
    }

    /// Opens a file if none is open, or the next one if `more` bytes would
    /// take this one past the size limit (a file always takes one pair).
    fn make_room(&self, files: &mut Files, more: u64, date: &str) -> io::Result<()> {
        if files.file.is_some() && (files.pairs == 0 || files.size + more <= self.max_size) {
            return Ok(());
        }
        files.file = None;
        loop {
            let name = format!("{}-{:05}.warc.gz", self.prefix, files.next);
            files.next += 1;
            match OpenOptions::new().write(true).create_new(true).open(&name) {
                Ok(mut f) => {
                    let base = name.rsplit('/').next().unwrap_or(&name);
                    let software = concat!("oneloop/", env!("CARGO_PKG_VERSION"));
                    let info = super::warcinfo_record(base, date, self.id(), software);
                    let member = self.gzip(&info);
                    if let Err(e) = f.write_all(&member) {
                        // Not even its warcinfo fits: no empty file left.
                        drop(f);
                        let _ = std::fs::remove_file(&name);
                        return Err(io::Error::new(e.kind(), format!("{name}: {e}")));
                    }
                    *files = Files {
                        file: Some(f),
                        name,
                        size: member.len() as u64,
                        pairs: 0,
                        next: files.next,
                    };
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("{name}: {e}"))),
            }
        }
    }
}
