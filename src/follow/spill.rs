//! Where the frontier's spilled batches go. Past its memory bound the
//! frontier hands out batches of queued URLs ([`Follow::poll_spill`]) and
//! later asks for them back ([`Follow::poll_load`]); a [`SpillStore`]
//! keeps them meanwhile. The default, [`SpillFile`], is a temporary file
//! written and read by a thread of its own, never the loop; an embedder
//! can put them anywhere else by implementing the trait.
//!
//! [`Follow::poll_spill`]: super::Follow::poll_spill
//! [`Follow::poll_load`]: super::Follow::poll_load

use mio::Waker;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Keeps spilled batches. Called on the loop's thread: `store` and `load`
/// must not block (hand the work to a thread), and a batch asked for
/// with `load` comes back through `poll_loaded`, after a wake of the
/// loop's waker if it was not there at once.
pub trait SpillStore {
    /// Called once before the crawl: how to wake the loop when a batch
    /// asked for has been read.
    fn attach(&mut self, _waker: Arc<Waker>) {}
    /// Keep batch `id` (opaque bytes).
    fn store(&mut self, id: u64, batch: Vec<u8>);
    /// Batch `id` is wanted back.
    fn load(&mut self, id: u64);
    /// A batch asked for, read back (its bytes empty if it was lost: a
    /// store should never lose one, and should say so if it does).
    fn poll_loaded(&mut self) -> Option<(u64, Vec<u8>)>;
}

/// Batches kept in memory: a store for tests and for crawls that must not
/// touch the disk (then the memory bound only reorders the queue).
#[derive(Default)]
pub struct SpillMemory {
    kept: HashMap<u64, Vec<u8>>,
    ready: Vec<(u64, Vec<u8>)>,
    /// Batches stored, in all.
    pub stored: u64,
}

impl SpillStore for SpillMemory {
    fn store(&mut self, id: u64, batch: Vec<u8>) {
        self.stored += 1;
        self.kept.insert(id, batch);
    }
    fn load(&mut self, id: u64) {
        let batch = self.kept.remove(&id).unwrap_or_default();
        self.ready.push((id, batch));
    }
    fn poll_loaded(&mut self) -> Option<(u64, Vec<u8>)> {
        self.ready.pop()
    }
}

/// Batches read back, waiting for the loop: (id, bytes).
type Loaded = Mutex<Vec<(u64, Vec<u8>)>>;

enum Work {
    Store(u64, Vec<u8>),
    Load(u64),
}

/// The default store: a temporary file (in `std::env::temp_dir()`),
/// written and read by a thread started at the first batch, removed at the
/// end. A batch that cannot be written (a full disk) stays in that
/// thread's memory: slower to bound, never lost.
pub struct SpillFile {
    dir: PathBuf,
    waker: Option<Arc<Waker>>,
    to_thread: Option<Sender<Work>>,
    thread: Option<JoinHandle<()>>,
    loaded: Arc<Loaded>,
    /// No thread could be started: batches kept here.
    fallback: Option<SpillMemory>,
}

impl Default for SpillFile {
    fn default() -> SpillFile {
        SpillFile::in_dir(std::env::temp_dir())
    }
}

impl SpillFile {
    /// A store whose file goes in `dir`.
    pub fn in_dir(dir: PathBuf) -> SpillFile {
        SpillFile {
            dir,
            waker: None,
            to_thread: None,
            thread: None,
            loaded: Arc::default(),
            fallback: None,
        }
    }

    /// To the thread (started at the first batch); if no thread can be
    /// started, batches stay in this process's memory instead.
    fn send(&mut self, work: Work) {
        if self.to_thread.is_none() && self.fallback.is_none() {
            let (tx, rx) = channel::<Work>();
            let path = self.dir.join(format!(
                "oneloop-frontier-{}-{:x}.spill",
                std::process::id(),
                Arc::as_ptr(&self.loaded) as usize
            ));
            let loaded = self.loaded.clone();
            let waker = self.waker.clone();
            let thread = std::thread::Builder::new()
                .name("oneloop-spill".into())
                .spawn(move || run(&path, rx, &loaded, waker.as_deref()));
            match thread {
                Ok(t) => {
                    self.thread = Some(t);
                    self.to_thread = Some(tx);
                }
                Err(e) => {
                    log::error!("frontier spill: no thread ({e}): batches kept in memory");
                    self.fallback = Some(SpillMemory::default());
                }
            }
        }
        match (&mut self.fallback, &self.to_thread) {
            (Some(mem), _) => match work {
                Work::Store(id, bytes) => mem.store(id, bytes),
                Work::Load(id) => mem.load(id),
            },
            (None, Some(tx)) => {
                // The thread ends only when this store is dropped.
                let _ = tx.send(work);
            }
            (None, None) => {}
        }
    }
}

impl SpillStore for SpillFile {
    fn attach(&mut self, waker: Arc<Waker>) {
        self.waker = Some(waker);
    }
    fn store(&mut self, id: u64, batch: Vec<u8>) {
        self.send(Work::Store(id, batch));
    }
    fn load(&mut self, id: u64) {
        self.send(Work::Load(id));
    }
    fn poll_loaded(&mut self) -> Option<(u64, Vec<u8>)> {
        if let Some(mem) = &mut self.fallback {
            return mem.poll_loaded();
        }
        self.loaded.lock().ok()?.pop()
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // The channel closes: the thread ends and removes its file.
        self.to_thread = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Kept {
    /// On disk: offset and length.
    File(u64, usize),
    /// Not written (the write failed): kept here.
    Memory(Vec<u8>),
}

/// The spill thread: stores and loads in the order asked, until the
/// channel closes.
fn run(
    path: &std::path::Path,
    work: std::sync::mpsc::Receiver<Work>,
    loaded: &Loaded,
    waker: Option<&Waker>,
) {
    let mut file: Option<File> = None;
    let mut end = 0u64;
    let mut kept: HashMap<u64, Kept> = HashMap::new();
    while let Ok(w) = work.recv() {
        match w {
            Work::Store(id, bytes) => {
                if file.is_none() {
                    file = File::options()
                        .create(true)
                        .truncate(true)
                        .read(true)
                        .write(true)
                        .open(path)
                        .ok();
                }
                match file.as_mut().map(|f| f.write_all(&bytes)) {
                    Some(Ok(())) => {
                        kept.insert(id, Kept::File(end, bytes.len()));
                        end += bytes.len() as u64;
                    }
                    _ => {
                        log::warn!(
                            "frontier spill file {}: write failed, kept in memory",
                            path.display()
                        );
                        kept.insert(id, Kept::Memory(bytes));
                    }
                }
            }
            Work::Load(id) => {
                let bytes = match (kept.remove(&id), &file) {
                    (Some(Kept::File(at, len)), Some(f)) => {
                        let mut buf = vec![0; len];
                        match f.read_exact_at(&mut buf, at) {
                            Ok(()) => buf,
                            Err(e) => {
                                // Short of a broken disk this cannot
                                // happen; the batch's URLs are lost, and
                                // said so.
                                log::error!(
                                    "frontier spill file {}: read failed: {e}",
                                    path.display()
                                );
                                Vec::new()
                            }
                        }
                    }
                    (Some(Kept::Memory(b)), _) => b,
                    _ => Vec::new(),
                };
                if let Ok(mut l) = loaded.lock() {
                    l.push((id, bytes));
                }
                if let Some(w) = waker {
                    let _ = w.wake();
                }
            }
        }
    }
    drop(file);
    let _ = std::fs::remove_file(path);
}
