//! The frontier's spill file: when the queue of discovered URLs passes its
//! memory bound (`--max-frontier-memory`), the frontier hands out batches
//! (`Frontier::poll_spill`) and later asks for them back
//! (`Frontier::poll_load`); this thread does the file I/O, never the loop.
//! The file is a temporary one, removed at the end: the checkpoint
//! (`--state`) does not need it.
//!
//! A batch that cannot be written (a full disk) stays in this thread's
//! memory: slower to bound, never lost.

use crate::follow::Follow;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The running spill thread; stopped (and its file removed) on drop.
pub struct Spiller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

enum Kept {
    /// On disk: offset and length.
    File(u64, usize),
    /// Not written (the write failed): kept here.
    Memory(Vec<u8>),
}

impl Spiller {
    pub fn start(follow: Arc<Follow>) -> Spiller {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("oneloop-spill".into())
            .spawn(move || run(&follow, &s))
            .ok();
        Spiller { stop, thread }
    }
}

impl Drop for Spiller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(follow: &Follow, stop: &AtomicBool) {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "oneloop-frontier-{}-{:x}.spill",
        std::process::id(),
        follow as *const Follow as usize
    ));
    let mut file: Option<File> = None;
    let mut end = 0u64;
    let mut kept: HashMap<u64, Kept> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let (spills, loads) = follow.spill_work();
        if spills.is_empty() && loads.is_empty() {
            follow.wait_for_spill_work(Duration::from_millis(20));
            continue;
        }
        for (id, bytes) in spills {
            if file.is_none() {
                file = File::options()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(&path)
                    .ok();
            }
            let written = file.as_mut().map(|f| f.write_all(&bytes));
            match written {
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
        let mut loaded = Vec::with_capacity(loads.len());
        for id in loads {
            let bytes = match (kept.remove(&id), &file) {
                (Some(Kept::File(at, len)), Some(f)) => {
                    let mut buf = vec![0; len];
                    match f.read_exact_at(&mut buf, at) {
                        Ok(()) => buf,
                        Err(e) => {
                            // Cannot happen short of a broken disk; the
                            // batch's URLs are lost, and said so.
                            log::error!("frontier spill file {}: read failed: {e}", path.display());
                            Vec::new()
                        }
                    }
                }
                (Some(Kept::Memory(b)), _) => b,
                _ => Vec::new(),
            };
            loaded.push((id, bytes));
        }
        follow.loaded(loaded);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
}
