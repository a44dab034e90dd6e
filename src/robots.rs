//! robots.txt (RFC 9309): parsing a file into the rules that apply to one
//! product token, and matching URLs against them. A sans-IO core: bytes in,
//! decisions out; fetching is the driver's business.
//!
//! - Groups are chosen by the user-agent *product token*, case-insensitively
//!   (the first word of a `User-agent:` value, `Googlebot/2.1` → `googlebot`);
//!   all groups naming ours are merged; if none does, the `*` groups apply;
//!   if there are none, everything is allowed.
//! - `Allow` / `Disallow` paths may use `*` (any run of bytes) and a final
//!   `$` (end of the URL); the longest matching pattern wins, and `Allow`
//!   wins a tie. An empty `Disallow:` allows everything. `/robots.txt` itself
//!   is always allowed.
//! - Percent-encoding as RFC 9309 2.2.2 says, the way Google's reference
//!   matcher does it: a rule's bytes outside ASCII are encoded, escapes on
//!   both sides compare in upper-case hex, and nothing is decoded (`%62` in
//!   a rule does not match `b`). The path tested is percent-encoded
//!   already (the URL parser's form: the caller's side of the contract).
//! - Groups: consecutive `User-agent` lines open one group, and only a
//!   rule (`Allow`/`Disallow`) ends the run; `Sitemap:`, `Crawl-delay:` and
//!   unknown lines do not (RFC 9309 2.2.4).
//! - At most [`MAX_BYTES`] are parsed; a BOM (or the start of one), junk
//!   lines, comments and any mix of CR/LF line ends are tolerated, and a
//!   missing colon (`disallow /`, exactly two words) is read as Google
//!   reads it. Allowing `/dir/index.html` allows `/dir/` (Google's rule).
//! - Judged by Google's own tests (`tests/conformance_robots.rs`).
//! - `Crawl-delay: N` (not in the RFC, widely used) is kept, for the driver
//!   to cap and apply.
//!
//! ```
//! use oneloop::robots::Robots;
//! let r = Robots::parse(b"User-agent: *\nDisallow: /private\nAllow: /private/open$\n", "oneloop");
//! assert!(r.allowed("/index.html"));
//! assert!(!r.allowed("/private/x"));
//! assert!(r.allowed("/private/open"));
//! assert!(!r.allowed("/private/open?x=1"));
//! ```

use crate::text::hex_value as hex;
use std::time::Duration;

/// The part of a robots.txt file that is read (RFC 9309 asks for at least
/// 500 kibibytes).
pub const MAX_BYTES: usize = 500 * 1024;

/// The longest pattern kept. A longer `Disallow` is cut here (it then
/// matches more, never less: nothing the file disallows becomes allowed); a
/// longer `Allow` is dropped. Together with [`matches`] being linear, this
/// bounds the time one URL costs.
pub const MAX_PATTERN: usize = 2048;

/// A rule as it is parsed (a group's rules before one is chosen).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// Normalised pattern bytes (may contain `*`, and `$` at the end).
    pattern: Vec<u8>,
}

/// A kept rule: its pattern is `Robots::patterns[start..start + len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Compiled {
    start: u32,
    len: u32,
    allow: bool,
}

/// The rules of one robots.txt that apply to one product token, compiled
/// compactly: every pattern in one byte string, 12 bytes per rule beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Robots {
    patterns: Vec<u8>,
    rules: Vec<Compiled>,
    crawl_delay: Option<Duration>,
    /// Everything is disallowed (the file was unavailable: 5xx).
    deny_all: bool,
}

/// Which groups of a file a line belongs to while parsing.
#[derive(Default)]
struct Group {
    /// The group names our product token.
    ours: bool,
    /// The group names `*`.
    star: bool,
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
}

impl Robots {
    /// Allows everything (no file: a 4xx answer, or robots turned off).
    pub fn allow_all() -> Robots {
        Robots::default()
    }

    /// Disallows everything (the file was unavailable: a 5xx answer).
    pub fn deny_all() -> Robots {
        Robots {
            deny_all: true,
            ..Robots::default()
        }
    }

    /// Parses `body` for the product token `agent` (case-insensitive).
    pub fn parse(body: &[u8], agent: &str) -> Robots {
        let groups = parse_groups(body, &agent.to_ascii_lowercase());
        Robots::compile(&groups)
    }

    /// The groups that apply (ours, else `*`), their rules in one buffer.
    fn compile(groups: &[Group]) -> Robots {
        let ours: Vec<&Group> = groups.iter().filter(|g| g.ours).collect();
        let chosen: Vec<&Group> = if ours.is_empty() {
            groups.iter().filter(|g| g.star).collect()
        } else {
            ours
        };
        let mut robots = Robots {
            crawl_delay: chosen.iter().find_map(|g| g.crawl_delay),
            ..Robots::default()
        };
        for rule in chosen.iter().flat_map(|g| g.rules.iter()) {
            robots.rules.push(Compiled {
                start: robots.patterns.len() as u32,
                len: rule.pattern.len() as u32,
                allow: rule.allow,
            });
            robots.patterns.extend_from_slice(&rule.pattern);
        }
        robots.patterns.shrink_to_fit();
        robots.rules.shrink_to_fit();
        robots
    }

    /// Bytes this value holds (for the cache's budget).
    pub fn size(&self) -> usize {
        std::mem::size_of::<Robots>()
            + self.patterns.capacity()
            + self.rules.capacity() * std::mem::size_of::<Compiled>()
    }

    /// Rules kept.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// No rule: everything is allowed (unless [`denies_all`](Self::denies_all)).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// May a URL with this path and query (`/a/b?c=d`) be fetched?
    pub fn allowed(&self, path_and_query: &str) -> bool {
        if path_and_query == "/robots.txt" {
            return true;
        }
        if self.deny_all {
            return false;
        }
        if self.rules.is_empty() {
            return true;
        }
        let raw = path_and_query.as_bytes();
        // Most URLs need no re-encoding: no escapes.
        let normalised;
        let target: &[u8] = if raw.contains(&b'%') {
            normalised = upper_hex(raw);
            &normalised
        } else {
            raw
        };
        let target: &[u8] = if target.is_empty() { b"/" } else { target };
        let mut best: Option<(usize, bool)> = None;
        for rule in &self.rules {
            let start = rule.start as usize;
            let pattern = &self.patterns[start..start + rule.len as usize];
            if matches(target, pattern) {
                let len = pattern.len();
                best = match best {
                    Some((l, allow)) if l > len || (l == len && allow) => Some((l, allow)),
                    _ => Some((len, rule.allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }

    /// The `Crawl-delay` of the chosen group, if any (not capped).
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }

    /// Nothing is allowed (the file was unavailable).
    pub fn denies_all(&self) -> bool {
        self.deny_all
    }
}

/// Does `path` start with a match of `pattern` (`*` any run, final `$` the
/// end)? Linear in `path.len() + pattern.len()`, without allocation: a
/// plain pattern is a prefix (or, with `$`, an equality) check; a pattern
/// with `*` is a run of literal segments, each found at its leftmost place
/// after the previous one (leftmost leaves the most room for the rest, so
/// this greedy search is exact), the first one at the start and, with `$`,
/// the last one at the end. Finding a segment uses `str::find` (two-way
/// search, linear), as both sides are ASCII after normalisation.
fn matches(path: &[u8], pattern: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        // No `*`: the common case, one comparison.
        return if anchored {
            path == pattern
        } else {
            path.starts_with(pattern)
        };
    };
    if !path.starts_with(&pattern[..star]) {
        return false;
    }
    let mut pos = star;
    let mut segments = pattern[star + 1..].split(|&b| b == b'*').peekable();
    while let Some(segment) = segments.next() {
        if anchored && segments.peek().is_none() {
            // The last segment sits at the end, after what matched so far.
            return path.len() >= pos + segment.len() && path.ends_with(segment);
        }
        match find(&path[pos..], segment) {
            Some(i) => pos += i + segment.len(),
            None => return false,
        }
    }
    true // unanchored: an implicit `*` at the end
}

/// The leftmost occurrence of `needle` in `hay`, in linear time.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    match (std::str::from_utf8(hay), std::str::from_utf8(needle)) {
        (Ok(h), Ok(n)) => h.find(n),
        // Not reached after normalisation (everything is ASCII); correct anyway.
        _ => hay.windows(needle.len()).position(|w| w == needle),
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 9309 §2.2.2: escapes of unreserved characters decoded, other escapes
/// with upper-case hex, bytes outside ASCII percent-encoded.
/// The file's groups, in order (`agent` lower-cased).
fn parse_groups(body: &[u8], agent: &str) -> Vec<Group> {
    let body = &body[..body.len().min(MAX_BYTES)];
    // A UTF-8 BOM, or the start of one (Google's parser skips a cut one
    // too: `EF BB` before the first line).
    let body = [&b"\xef\xbb\xbf"[..], b"\xef\xbb", b"\xef"]
        .iter()
        .find_map(|bom| body.strip_prefix(*bom))
        .unwrap_or(body);
    let mut groups: Vec<Group> = Vec::new();
    // True while consecutive user-agent lines open the same group.
    let mut in_agents = false;
    for raw in body.split(|&b| b == b'\n' || b == b'\r') {
        let line = match raw.iter().position(|&b| b == b'#') {
            Some(i) => &raw[..i],
            None => raw,
        };
        let Some((key, value)) = key_and_value(line) else {
            continue; // junk
        };
        match key.to_ascii_lowercase().as_slice() {
            b"user-agent" | b"useragent" | b"user agent" => {
                if !in_agents {
                    groups.push(Group::default());
                    in_agents = true;
                }
                if let Some(g) = groups.last_mut() {
                    g.add_agent(value, agent);
                }
            }
            key @ (b"allow" | b"disallow") => {
                // A rule ends the run of user-agent lines: the next one
                // starts a new group. (Nothing else does: RFC 9309 2.2.4, a
                // `Sitemap:` or unknown line between two user-agent lines
                // leaves them one group.) A rule before any user-agent line
                // belongs to none.
                in_agents = false;
                if let Some(g) = groups.last_mut() {
                    g.add_rule(key == b"allow", value);
                }
            }
            b"crawl-delay" => {
                if let Some(g) = groups.last_mut() {
                    g.set_crawl_delay(value);
                }
            }
            _ => {} // sitemap and others: not ours, and no group's end
        }
    }
    groups
}

impl Group {
    /// A `User-agent` line: `*`, or our product token (its first word).
    fn add_agent(&mut self, value: &[u8], agent: &str) {
        let token: Vec<u8> = value
            .iter()
            .take_while(|b| b.is_ascii_alphabetic() || **b == b'-' || **b == b'_')
            .map(u8::to_ascii_lowercase)
            .collect();
        if value.first() == Some(&b'*') {
            self.star = true;
        } else if !token.is_empty() && token == agent.as_bytes() {
            self.ours = true;
        }
    }

    /// An `Allow` or `Disallow` line.
    fn add_rule(&mut self, allow: bool, value: &[u8]) {
        if value.is_empty() {
            return; // "Disallow:" allows everything: no rule
        }
        let mut pattern = encode_pattern(value);
        if pattern.len() > MAX_PATTERN {
            if allow {
                return;
            }
            pattern.truncate(MAX_PATTERN);
        }
        // Google's rule: allowing `/dir/index.html` allows `/dir/` too
        // (the same page, as servers serve it).
        if allow {
            for index in [&b"/index.html"[..], b"/index.htm"] {
                if let Some(dir) = pattern.strip_suffix(index) {
                    let mut dir = dir.to_vec();
                    dir.extend_from_slice(b"/$");
                    self.rules.push(Rule {
                        allow,
                        pattern: dir,
                    });
                }
            }
        }
        self.rules.push(Rule { allow, pattern });
    }

    /// A `Crawl-delay` line: seconds, fractions allowed (not capped here).
    fn set_crawl_delay(&mut self, value: &[u8]) {
        let secs = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0);
        if let Some(s) = secs {
            self.crawl_delay = Some(Duration::from_secs_f64(s.min(1e6)));
        }
    }
}

/// A rule's path as RFC 9309 2.2.2 compares it: bytes outside US-ASCII
/// percent-encoded, escapes in upper-case hex; an escape of an unreserved
/// character (`%62`) stays one, as in Google's matcher (its test calls
/// relying on it illegal per RFC 3986, and expects no match for `b`).
fn encode_pattern(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = upper_hex(s);
    if out.iter().any(|&b| b >= 0x80) {
        out = out
            .iter()
            .flat_map(|&b| match b {
                0x80.. => vec![b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]],
                _ => vec![b],
            })
            .collect();
    }
    out
}

/// Escapes in upper-case hex (`%e3` → `%E3`), nothing else changed: the
/// path of a URL to test is percent-encoded already (the URL parser's
/// form: the caller's contract, as in Google's matcher; an unencoded `ツ`
/// in a path does not match a rule's `%E3%83%84`).
fn upper_hex(s: &[u8]) -> Vec<u8> {
    let mut out = s.to_vec();
    let mut i = 0;
    while i + 2 < out.len() {
        if out[i] == b'%' && hex(out[i + 1]).is_some() && hex(out[i + 2]).is_some() {
            out[i + 1] = out[i + 1].to_ascii_uppercase();
            out[i + 2] = out[i + 2].to_ascii_uppercase();
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// A line's key and value: around its first colon; or, as Google's parser
/// accepts (people forget the colon), around whitespace when the line is
/// exactly two words (`disallow /`).
fn key_and_value(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.trim_ascii();
    if let Some(colon) = line.iter().position(|&b| b == b':') {
        return Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()));
    }
    let white = |b: &u8| *b == b' ' || *b == b'\t';
    let sep = line.iter().position(white)?;
    let value = line[sep..].trim_ascii();
    if value.iter().any(white) {
        return None; // more than two words: junk
    }
    Some((&line[..sep], value))
}

/// Percent-escapes normalized for comparing URLs (the frontier's canonical
/// form): unreserved characters decoded (`%41` → `A`), other escapes in
/// upper-case hex, bytes outside ASCII encoded.
pub(crate) fn normalise(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                let v = h * 16 + l;
                if unreserved(v) {
                    out.push(v);
                } else {
                    out.extend_from_slice(&[b'%', HEX[(v >> 4) as usize], HEX[(v & 15) as usize]]);
                }
                i += 3;
                continue;
            }
        }
        if b >= 0x80 {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

pub mod gate;
#[cfg(test)]
mod tests;
