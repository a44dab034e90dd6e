//! `--save DIR`: each 2xx body written to its own file, on the worker
//! threads (file I/O never runs on the loop's thread).
//!
//! Layout: `DIR/XX/ID`, where `ID` is the outcome's id and `XX` two hex
//! digits of an FNV-1a hash of it: 256 subdirectories, so a million pages
//! make about 4,000 files per directory. Each file is written under a
//! temporary name in the same directory and then renamed: a crash never
//! leaves a half-written file under the final name.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where and how pages are saved.
pub struct Saver {
    dir: PathBuf,
    /// Which of the 256 subdirectories exist already (a bit each), so each
    /// is created once, not checked with two system calls per page.
    made: [AtomicU64; 4],
}

impl Saver {
    /// Saves under `dir` (created if needed, on the first save).
    pub fn new(dir: &str) -> Saver {
        Saver {
            dir: PathBuf::from(dir),
            made: Default::default(),
        }
    }

    fn bucket(id: u64) -> u64 {
        oneloop::text::fnv1a(id.to_string().as_bytes()) & 0xff
    }

    /// The final path of outcome `id`'s body.
    pub fn path_for(&self, id: u64) -> PathBuf {
        let bucket = Saver::bucket(id);
        self.dir.join(format!("{bucket:02x}")).join(id.to_string())
    }

    /// Writes `body` for outcome `id`, atomically; returns its path.
    pub fn save(&self, id: u64, body: &[u8]) -> io::Result<PathBuf> {
        let path = self.path_for(id);
        let parent = path.parent().unwrap_or(Path::new("."));
        let b = Saver::bucket(id);
        let (word, bit) = (&self.made[(b / 64) as usize], 1u64 << (b % 64));
        if word.load(Ordering::Relaxed) & bit == 0 {
            fs::create_dir_all(parent)?;
            word.fetch_or(bit, Ordering::Relaxed);
        }
        let tmp = parent.join(format!(".{id}.tmp"));
        let written = fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(body)?;
            f.flush()
        });
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_to_hashed_subdirectories_atomically() {
        let dir = std::env::temp_dir().join(format!("oneloop-save-{}", std::process::id()));
        let s = Saver::new(dir.to_str().unwrap());
        let p = s.save(42, b"hello").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(p.file_name().unwrap(), "42");
        let bucket = p
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(bucket.len(), 2);
        assert_eq!(p, s.path_for(42), "the same id, the same place");
        let buckets: std::collections::HashSet<PathBuf> = (0..2000)
            .map(|i| s.path_for(i).parent().unwrap().to_path_buf())
            .collect();
        assert!(buckets.len() > 200, "ids spread over the 256 directories");
        assert!(
            !p.parent().unwrap().join(".42.tmp").exists(),
            "no temporary left"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
