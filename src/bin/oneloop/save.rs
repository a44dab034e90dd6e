//! `--save DIR`: each 2xx body written to its own file, on the worker
//! threads (file I/O never runs on the loop's thread).
//!
//! Layout: `DIR/XX/ID`, where `ID` is the outcome's id and `XX` two hex
//! digits of an FNV-1a hash of it: 256 subdirectories, so a million pages
//! make about 4,000 files per directory. Each file is written under a
//! temporary name in the same directory and then renamed: a crash never
//! leaves a half-written file under the final name.
//!
//! For shared directories: the temporary name is unpredictable (a random
//! tag per process and a counter), it is created exclusively and never
//! through a symbolic link (`O_EXCL | O_NOFOLLOW`), and a final name that is
//! a symbolic link is refused rather than replaced.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where and how pages are saved.
pub struct Saver {
    dir: PathBuf,
    /// Which of the 256 subdirectories exist already (a bit each), so each
    /// is created once, not checked with two system calls per page.
    made: [AtomicU64; 4],
    /// A random tag for temporary names, and a counter.
    tag: u64,
    next_tmp: AtomicU64,
}

impl Saver {
    /// Saves under `dir` (created if needed, on the first save).
    pub fn new(dir: &str) -> Saver {
        let mut tag = [0u8; 8];
        // A failure leaves the tag at 0: names are then only exclusive.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut tag);
        Saver {
            dir: PathBuf::from(dir),
            made: Default::default(),
            tag: u64::from_le_bytes(tag),
            next_tmp: AtomicU64::new(0),
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
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = parent.join(format!(".{id}.{:016x}{n:x}.tmp", self.tag));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(body)?;
                f.flush()
            });
        let replace = |()| match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a symbolic link: not replaced", path.display()),
            )),
            _ => fs::rename(&tmp, &path),
        };
        if let Err(e) = written.and_then(replace) {
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
        let left: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "no temporary left: {left:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn planted_symbolic_links_are_never_followed() {
        let dir = std::env::temp_dir().join(format!("oneloop-save-link-{}", std::process::id()));
        let victim = std::env::temp_dir().join(format!("oneloop-victim-{}", std::process::id()));
        fs::write(&victim, b"precious").unwrap();
        let s = Saver::new(dir.to_str().unwrap());
        // The old predictable temporary name, and the final name, as links.
        let final_path = s.path_for(7);
        fs::create_dir_all(final_path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&victim, final_path.parent().unwrap().join(".7.tmp")).unwrap();
        std::os::unix::fs::symlink(&victim, &final_path).unwrap();
        let e = s.save(7, b"page").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        // Another id saves normally beside the planted temporary name.
        let p = s.save(8, b"page").unwrap();
        assert_eq!(fs::read(p).unwrap(), b"page");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_file(&victim);
    }
}
