//! The output is the journal: outcome lines go into a block buffer (one
//! `write` per 64 KiB, not one per line), and a thread of its own hands
//! whatever is buffered to the OS every 100 ms. A crash (`kill -9`, the
//! machine's OOM killer) then loses at most the last 100 ms of finished
//! work, and `--resume` can trust the file; a loop that is busy, stalled or
//! waiting for a slow server does not delay the flush, because the loop
//! does not do it.

use oneloop::follow::checkpoint::CheckpointLog;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a finished line may sit in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

struct Shared {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
    /// Written since the last flush.
    dirty: AtomicBool,
    /// A write or flush failed (a closed pipe): the crawl should stop.
    broken: AtomicBool,
    /// The first failure that was not a closed pipe (a full disk, an I/O
    /// error): said at the end, and the exit status is 1. A closed pipe
    /// (`| head`) is the reader's choice and stays quiet.
    error: Mutex<Option<String>>,
    /// Set (under the lock) when the journal ends; wakes the flusher.
    stop: Mutex<bool>,
    wake: Condvar,
    /// A crawl's checkpoint (`--state`), flushed around the output: its
    /// records so far are taken first (their pages' lines are in the output
    /// already), the output is written, then they are. A crash between the
    /// two writes costs pages fetched twice, never lost.
    checkpoint: Mutex<Option<Arc<CheckpointLog>>>,
}

/// Lines to an output, flushed at least every [`FLUSH_EVERY`].
pub struct Journal {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    /// Flush after every line (a terminal: a person reads as lines come).
    flush_each: bool,
}

impl Journal {
    /// A journal on `out`, with its flusher thread.
    pub fn new(out: Box<dyn Write + Send>, flush_each: bool) -> Journal {
        let shared = Arc::new(Shared {
            out: Mutex::new(BufWriter::with_capacity(64 * 1024, out)),
            dirty: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            error: Mutex::new(None),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            checkpoint: Mutex::new(None),
        });
        let s = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("oneloop-journal".into())
            .spawn(move || s.flush_until_stopped())
            .ok();
        Journal {
            shared,
            flusher,
            flush_each,
        }
    }

    /// Appends one line (or several). False if the output is broken.
    pub fn write(&self, text: &str) -> bool {
        let Ok(mut out) = self.shared.out.lock() else {
            return false;
        };
        if out.buffer().len() + text.len() > out.capacity() {
            // The buffer would go to the OS by itself, ahead of the
            // checkpoint records of its lines: flush it with them (a crash
            // right after costs no more than the lines since, not 100 ms
            // of pages fetched twice).
            drop(out);
            self.shared.flush();
            let Ok(again) = self.shared.out.lock() else {
                return false;
            };
            out = again;
        }
        let written = out.write_all(text.as_bytes());
        drop(out);
        self.shared.check(written);
        if self.flush_each {
            // With the checkpoint after it, as the flusher does.
            self.shared.flush();
        } else {
            self.shared.dirty.store(true, Ordering::Release);
        }
        !self.shared.broken.load(Ordering::Relaxed)
    }

    /// The first write error that was not a closed pipe, if any.
    pub fn error(&self) -> Option<String> {
        self.shared.error.lock().ok().and_then(|e| e.clone())
    }

    /// Flushes `log`'s records with the output, after it (see `Shared`).
    pub fn set_checkpoint(&self, log: Option<Arc<CheckpointLog>>) {
        if let Ok(mut c) = self.shared.checkpoint.lock() {
            *c = log;
        }
    }

    /// Stops the flusher and flushes what is left.
    pub fn finish(&mut self) {
        if let Ok(mut stop) = self.shared.stop.lock() {
            *stop = true;
            self.shared.wake.notify_all();
        }
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
        self.shared.flush();
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Shared {
    /// A failed write or flush breaks the output; one that is not a closed
    /// pipe is kept to be said.
    fn check(&self, result: std::io::Result<()>) {
        let Err(e) = result else {
            return;
        };
        self.broken.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            if let Ok(mut first) = self.error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }

    fn flush(&self) {
        let checkpoint = self.checkpoint.lock().ok().and_then(|c| c.clone());
        let taken = checkpoint.as_ref().map(|c| c.take());
        let flushed = self.out.lock().map(|mut out| {
            self.dirty.store(false, Ordering::Relaxed);
            out.flush()
        });
        if let Ok(result) = flushed {
            self.check(result);
        }
        if let (Some(c), Some(data)) = (checkpoint, taken) {
            let _ = c.write(data, false);
        }
    }

    /// The flusher thread: every [`FLUSH_EVERY`], what was written goes to
    /// the OS (one `write`; nothing when nothing was written).
    fn flush_until_stopped(&self) {
        let Ok(mut stop) = self.stop.lock() else {
            return;
        };
        while !*stop {
            stop = match self.wake.wait_timeout(stop, FLUSH_EVERY) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
            if self.dirty.swap(false, Ordering::Acquire) {
                // Not under the stop lock: `finish` must be able to take it.
                drop(stop);
                self.flush();
                stop = match self.stop.lock() {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::time::Instant;

    /// A `Write` that records what reached it and how many writes it took.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            s.0.extend_from_slice(buf);
            s.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_reaches_the_output_within_the_interval_without_another_write() {
        let sink = Sink::default();
        let mut j = Journal::new(Box::new(sink.clone()), false);
        let start = Instant::now();
        for i in 0..100 {
            assert!(j.write(&format!("line {i}\n")));
        }
        assert!(sink.0.lock().unwrap().0.is_empty(), "buffered, not written");
        // No more lines come: the flusher writes them anyway.
        while sink.0.lock().unwrap().0.is_empty() {
            assert!(start.elapsed() < Duration::from_secs(5), "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (bytes, writes) = sink.0.lock().unwrap().clone();
        assert_eq!(writes, 1, "one write for the hundred lines");
        assert!(bytes.starts_with(b"line 0\n") && bytes.ends_with(b"line 99\n"));
        j.write("last\n");
        j.finish();
        assert!(sink.0.lock().unwrap().0.ends_with(b"last\n"));
    }

    #[test]
    fn a_broken_output_is_reported() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let j = Journal::new(Box::new(Closed), true);
        assert!(!j.write("x\n"));
    }
}
