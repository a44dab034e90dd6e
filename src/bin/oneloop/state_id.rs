//! Which crawl a `--state DIR` belongs to: `DIR/crawl.txt`, written by its
//! first run, checked by every later one — as `--resume` checks its input.
//! Continuing another crawl's checkpoint would skip URLs it finished and
//! queue what it found, under rules it was not made with.
//!
//! Three lines, `key value`:
//! - `scope host|domain|any` and `shard I/N`: must be equal;
//! - `seeds BYTES HEAD`: the seed file's size and the FNV-1a 64 hash of its
//!   first 64 KiB (as `--resume`'s fingerprint). A later run's seeds must
//!   *start with* the same bytes: the same file after a crash, or the next
//!   shard round's file (the first round's seeds plus what other shards
//!   diverted, docs/scaling.md). Seeds from standard input have no
//!   fingerprint: not checked (with a warning).

use crate::args::Options;
use std::io::Read;
use std::path::Path;

/// How much of the seeds' start is hashed.
const HEAD_BYTES: u64 = 64 * 1024;

/// The seeds as given: a file, the command's URL arguments, or neither.
enum Seeds<'a> {
    File(&'a str),
    Args(Vec<u8>),
    Unknown,
}

fn seeds_of(o: &Options) -> Seeds<'_> {
    match o.input.as_deref() {
        Some("-") => Seeds::Unknown,
        Some(path) => Seeds::File(path),
        None if !o.url_args.is_empty() => Seeds::Args(o.url_args.join("\n").into_bytes()),
        None => Seeds::Unknown,
    }
}

/// The seeds' first `limit` bytes (at most [`HEAD_BYTES`]) and their size.
fn head(seeds: &Seeds<'_>, limit: u64) -> std::io::Result<Option<(u64, u64)>> {
    let limit = limit.min(HEAD_BYTES);
    let (bytes, data) = match seeds {
        Seeds::File(path) => {
            let mut f = std::fs::File::open(path)?;
            let bytes = f.metadata()?.len();
            let mut data = Vec::new();
            f.by_ref().take(limit).read_to_end(&mut data)?;
            (bytes, data)
        }
        Seeds::Args(a) => (a.len() as u64, a[..a.len().min(limit as usize)].to_vec()),
        Seeds::Unknown => return Ok(None),
    };
    Ok(Some((bytes, oneloop::text::fnv1a(&data))))
}

fn rules(o: &Options) -> String {
    let scope = format!("{:?}", o.frontier.scope).to_ascii_lowercase();
    let (i, n) = o.shard.unwrap_or((0, 1));
    format!("scope {scope}\nshard {i}/{n}\n")
}

/// Checks `dir/crawl.txt` against this run, or writes it (a new state, or
/// one from before this file existed). Err: refused, saying why.
pub fn check(dir: &str, o: &Options) -> Result<(), String> {
    let path = Path::new(dir).join("crawl.txt");
    let seeds = seeds_of(o);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut text = rules(o);
            if let Some((bytes, h)) = head(&seeds, HEAD_BYTES).map_err(|e| e.to_string())? {
                text.push_str(&format!("seeds {bytes} {h:016x}\n"));
            }
            std::fs::create_dir_all(dir).map_err(|e| format!("--state {dir}: {e}"))?;
            return std::fs::write(&path, text).map_err(|e| format!("--state {dir}: {e}"));
        }
        Err(e) => return Err(format!("--state {dir}: {}: {e}", path.display())),
    };
    compare(dir, &recorded, &rules(o), &seeds)
}

fn compare(dir: &str, recorded: &str, rules: &str, seeds: &Seeds<'_>) -> Result<(), String> {
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::to_string))
    };
    for key in ["scope", "shard"] {
        let (then, now) = (field(recorded, key), field(rules, key));
        if then.is_some() && then != now {
            let (then, now) = (then.unwrap_or_default(), now.unwrap_or_default());
            return Err(format!(
                "--state {dir}: it holds a crawl with --{key} {then}; this one has --{key} {now}: refused (use another directory, or the same --{key})"
            ));
        }
    }
    let Some(want) = field(recorded, "seeds") else {
        return Ok(());
    };
    let parsed = want
        .split_once(' ')
        .and_then(|(b, h)| Some((b.parse::<u64>().ok()?, u64::from_str_radix(h, 16).ok()?)));
    let Some((bytes, h)) = parsed else {
        return Err(format!("--state {dir}: crawl.txt: bad seeds line {want:?}"));
    };
    match head(seeds, bytes).map_err(|e| e.to_string())? {
        None => {
            errln!("oneloop: warning: --state {dir}: seeds from standard input are not checked against the crawl's first seeds");
            Ok(())
        }
        Some((now_bytes, now_h)) if now_bytes >= bytes && now_h == h => Ok(()),
        Some(_) => Err(format!(
            "--state {dir}: it holds the crawl of other seeds (its first run's seeds: {bytes} bytes, head {h:016x}); these do not start with them: refused (a later run continues with the same seeds, or more after them; use another directory for another crawl)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_scope_shard_or_seed_list_is_refused_and_more_seeds_are_not() {
        let a = Seeds::Args(b"http://a.test/".to_vec());
        let (bytes, h) = head(&a, HEAD_BYTES).unwrap().unwrap();
        let recorded = format!("scope host\nshard 0/1\nseeds {bytes} {h:016x}\n");
        let host = "scope host\nshard 0/1\n";
        assert_eq!(compare("d", &recorded, host, &a), Ok(()));
        // The next round: the same seeds, then more.
        let more = Seeds::Args(b"http://a.test/\nhttp://a.test/diverted".to_vec());
        assert_eq!(compare("d", &recorded, host, &more), Ok(()));
        let other = Seeds::Args(b"http://b.test/".to_vec());
        let e = compare("d", &recorded, host, &other).unwrap_err();
        assert!(
            e.contains("other seeds") && e.starts_with("--state d:"),
            "{e}"
        );
        let shorter = Seeds::Args(b"http://a.test".to_vec());
        assert!(compare("d", &recorded, host, &shorter).is_err());
        let e = compare("d", &recorded, "scope domain\nshard 0/1\n", &a).unwrap_err();
        assert!(
            e.contains("--scope host; this one has --scope domain"),
            "{e}"
        );
        let e = compare("d", &recorded, "scope host\nshard 1/4\n", &a).unwrap_err();
        assert!(e.contains("--shard 0/1; this one has --shard 1/4"), "{e}");
        // Standard input: not checked; no seeds recorded: nothing to check.
        assert_eq!(compare("d", &recorded, host, &Seeds::Unknown), Ok(()));
        assert_eq!(compare("d", host, host, &other), Ok(()));
        assert!(compare("d", "seeds x y\n", host, &a).is_err());
    }
}
