//! `--resume PREV`: the library reads PREV back
//! ([`oneloop::jsonl::resume`]); the command line checks it against its
//! input and its standard output.

use oneloop::jsonl::resume::{Fingerprint, Finished};

/// `--resume PREV` checked against the input: the finished lines, or why
/// the run must not start. `input` is the input's fingerprint (`None` for
/// standard input, which is resumed unchecked, with a warning).
pub fn load(prev: &str, input: Option<Fingerprint>) -> Result<Finished, String> {
    let file = std::fs::File::open(prev).map_err(|e| format!("--resume {prev}: {e}"))?;
    let finished = Finished::read(file).map_err(|e| format!("--resume {prev}: {e}"))?;
    match input {
        Some(fp) => {
            if let Some(other) = finished.inputs.iter().find(|p| **p != fp) {
                return Err(format!(
                    "--resume {prev}: it is the output of another input ({} bytes, head {:016x}; this input: {} bytes, head {:016x}): refused, its line numbers would skip the wrong URLs",
                    other.bytes, other.head, fp.bytes, fp.head
                ));
            }
            if finished.inputs.is_empty() && finished.count > 0 {
                errln!("oneloop: warning: --resume {prev}: no input fingerprint in it (an older oneloop, or read from standard input): not checked against this input");
            }
        }
        None => errln!(
            "oneloop: warning: --resume with standard input: not checked against {prev} (read the input from a file to have it checked)"
        ),
    }
    Ok(finished)
}

/// Appending to PREV itself (`>> PREV`) after a crash cut its last line:
/// the new lines must not run on from the cut one (a later resume would
/// read them as one garbled line). True if stdout is PREV and PREV does not
/// end with a newline, so the caller writes one first.
pub fn stdout_continues_cut(prev: &str, finished: &Finished) -> bool {
    use std::os::unix::fs::MetadataExt;
    if !finished.cut_at_end {
        return false;
    }
    match (
        std::fs::metadata(prev),
        std::fs::metadata("/proc/self/fd/1"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
