//! `--resume PREV.jsonl`: the previous run's output is the journal of what
//! finished. Its lines are read back (line numbers into a bitset: 1 bit per
//! input line), and the new run skips those input lines with no request and
//! no output line.
//!
//! What counts as finished: a complete JSON line with a `"line"`, except a
//! `cancelled` outcome (a request cut short by Ctrl-C: it runs again). A
//! line cut short by a crash (the last one, usually) is ignored, wherever
//! it is: its braces do not balance.
//!
//! Which input: the first line of every run carries
//! `"input":{"bytes":N,"head":"H"}` (the input file's size and an FNV-1a 64
//! hash of its first 64 KiB). PREV's fingerprints must match the input's,
//! or the run is refused: skipping by line number in another file would
//! skip the wrong URLs. Standard input has no fingerprint (its size is not
//! known ahead); such a resume is done unchecked, with a warning.

use std::fmt::Write as _;
use std::io::{self, Read};

/// How much of the input's start the fingerprint hashes.
const HEAD_BYTES: usize = 64 * 1024;

/// Which input a run read: its size and a hash of its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// The input's size.
    pub bytes: u64,
    /// FNV-1a 64 of its first 64 KiB.
    pub head: u64,
}

impl Fingerprint {
    /// The fingerprint of the file at `path`.
    pub fn of_file(path: &str) -> io::Result<Fingerprint> {
        let mut f = std::fs::File::open(path)?;
        let bytes = f.metadata()?.len();
        let mut head = Vec::with_capacity(HEAD_BYTES);
        f.by_ref().take(HEAD_BYTES as u64).read_to_end(&mut head)?;
        Ok(Fingerprint {
            bytes,
            head: crate::text::fnv1a(&head),
        })
    }

    /// The JSON field the first output line carries (with its comma).
    pub fn json_field(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            ",\"input\":{{\"bytes\":{},\"head\":\"{:016x}\"}}",
            self.bytes, self.head
        );
        s
    }

    /// Reads the field back from an output line.
    fn from_line(line: &str) -> Option<Fingerprint> {
        let at = line.find(",\"input\":{\"bytes\":")?;
        let rest = &line[at + ",\"input\":{\"bytes\":".len()..];
        let (bytes, rest) = rest.split_once(",\"head\":\"")?;
        let head = rest.get(..16)?;
        Some(Fingerprint {
            bytes: bytes.parse().ok()?,
            head: u64::from_str_radix(head, 16).ok()?,
        })
    }
}

/// The input lines a previous run finished.
#[derive(Debug, Default)]
pub struct Finished {
    /// Lines below [`BITSET_LINES`], one bit each.
    bits: Vec<u64>,
    /// Lines beyond it (a PREV written by hand, or a huge input): a set,
    /// so memory follows PREV's size, never the numbers in it (a line
    /// `18446744073709551615` asked for 2 EiB of bitset and aborted).
    far: std::collections::HashSet<u64>,
    /// How many lines are in the set.
    pub count: u64,
    /// The inputs PREV's runs said they read (one per run appended to it).
    pub inputs: Vec<Fingerprint>,
    /// Lines that were cut short or are not outcomes (ignored).
    pub ignored: u64,
    /// PREV did not end with a newline (a crash cut its last line).
    pub cut_at_end: bool,
}

/// Lines kept in the bitset: at most 8 MiB of it.
const BITSET_LINES: u64 = 1 << 26;

impl Finished {
    /// Whether input line `line` finished.
    pub fn contains(&self, line: u64) -> bool {
        if line >= BITSET_LINES {
            return self.far.contains(&line);
        }
        let (word, bit) = ((line / 64) as usize, line % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn insert(&mut self, line: u64) {
        if line >= BITSET_LINES {
            self.count += u64::from(self.far.insert(line));
            return;
        }
        let (word, bit) = ((line / 64) as usize, line % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) == 0 {
            self.bits[word] |= 1 << bit;
            self.count += 1;
        }
    }

    /// Reads a previous output.
    pub fn read(reader: impl Read) -> io::Result<Finished> {
        let mut f = Finished::default();
        let mut r = io::BufReader::with_capacity(256 * 1024, reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = io::BufRead::read_until(&mut r, b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                f.cut_at_end = true;
                f.ignored += 1;
                break;
            }
            line.pop();
            f.take_line(&line);
        }
        Ok(f)
    }

    fn take_line(&mut self, bytes: &[u8]) {
        let text = match std::str::from_utf8(bytes) {
            Ok(t) if is_whole_object(bytes) => t,
            _ => {
                self.ignored += (!bytes.trim_ascii().is_empty()) as u64;
                return;
            }
        };
        if let Some(fp) = Fingerprint::from_line(text) {
            if !self.inputs.contains(&fp) {
                self.inputs.push(fp);
            }
        }
        let Some(line) = line_number(text) else {
            self.ignored += 1;
            return;
        };
        if !text.contains("\"kind\":\"cancelled\"") {
            self.insert(line);
        }
    }
}

/// The `"line"` of an outcome line: it follows the `"id"` at the start.
fn line_number(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("{\"id\":")?;
    let at = rest.find(",\"line\":")?;
    if at > 20 {
        return None; // not the field right after the id
    }
    let rest = &rest[at + ",\"line\":".len()..];
    let end = rest.find([',', '}'])?;
    rest[..end].parse().ok()
}

/// A whole JSON object: starts with `{`, and its braces balance exactly at
/// the end (outside strings, escapes skipped). A line cut anywhere fails.
fn is_whole_object(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&b'{') {
        return false;
    }
    let (mut depth, mut in_str, mut escaped) = (0i64, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i == bytes.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"id":3,"line":3,"url":"http://a/}{","status":200,"bytes":1,"attempts":1,"reused":false,"ms":{"queued":0.1,"connect":null,"ttfb":0.2,"total":0.3}}"#;

    /// A PREV with line numbers no input has: read in memory that follows
    /// PREV's size (it aborted, asking for 2 EiB).
    #[test]
    fn huge_line_numbers_cost_memory_by_count_not_by_value() {
        let prev =
            "{\"id\":2,\"line\":18446744073709551615,\"url\":\"http://a/\",\"status\":200}\n\
                    {\"id\":3,\"line\":1000000000000,\"url\":\"http://a/\",\"status\":200}\n\
                    {\"id\":4,\"line\":7,\"url\":\"http://a/\",\"status\":200}\n";
        let f = Finished::read(prev.as_bytes()).unwrap();
        assert_eq!(f.count, 3);
        assert!(f.contains(u64::MAX) && f.contains(1_000_000_000_000) && f.contains(7));
        assert!(!f.contains(8) && !f.contains(1_000_000_000_001));
        assert!(f.bits.len() <= 1, "{} words", f.bits.len());
    }

    #[test]
    fn finished_lines_are_read_and_cut_or_cancelled_ones_are_not() {
        let cancelled = r#"{"id":5,"line":5,"url":"http://a/","error":{"phase":"body","kind":"cancelled","detail":"stopped"},"attempts":1}"#;
        let failed = r#"{"id":6,"line":6,"url":"http://a/","error":{"phase":"connect","kind":"refused","detail":"x"},"attempts":1}"#;
        let mut prev = String::new();
        for l in [OK, cancelled, failed] {
            prev.push_str(l);
            prev.push('\n');
        }
        // A line cut in the middle (by a crash, then appended to), and the
        // cut last line.
        prev.push_str(&OK.replace("\"id\":3,\"line\":3", "\"id\":9,\"line\":9")[..60]);
        prev.push('\n');
        let cut = OK.replace("\"id\":3,\"line\":3", "\"id\":8,\"line\":8");
        prev.push_str(&cut[..cut.len() - 1]);
        let f = Finished::read(prev.as_bytes()).unwrap();
        assert!(f.contains(3) && f.contains(6), "{f:?}");
        assert!(!f.contains(5), "a cancelled request runs again");
        assert!(!f.contains(9) && !f.contains(8), "cut lines are ignored");
        assert_eq!((f.count, f.ignored, f.cut_at_end), (2, 2, true));
    }

    #[test]
    fn a_line_cut_just_before_its_last_brace_is_not_whole() {
        assert!(is_whole_object(OK.as_bytes()));
        for end in 0..OK.len() {
            assert!(!is_whole_object(&OK.as_bytes()[..end]), "cut at {end}");
        }
        assert!(
            !is_whole_object(br#"{"a":1}{"b":2}"#),
            "two objects run together"
        );
        assert!(is_whole_object(br#"{"u":"\"}\\"}"#));
    }

    #[test]
    fn the_fingerprint_goes_out_and_comes_back() {
        let fp = Fingerprint {
            bytes: 1234,
            head: 0xdead_beef_0123_4567,
        };
        let line = format!("{}{}}}", &OK[..OK.len() - 1], fp.json_field());
        assert!(line.ends_with(r#""input":{"bytes":1234,"head":"deadbeef01234567"}}"#));
        let f = Finished::read(format!("{line}\n{OK}\n").as_bytes()).unwrap();
        assert_eq!(f.inputs, vec![fp]);
        assert!(f.contains(3));
    }

    #[test]
    fn a_million_lines_fit_in_a_bitset() {
        let mut f = Finished::default();
        for i in 1..=1_000_000 {
            f.insert(i);
        }
        assert_eq!(f.count, 1_000_000);
        assert!(f.bits.len() * 8 <= 126_000);
    }
}
