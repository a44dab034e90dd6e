//! The pending queue, compact and fair: one queue per origin (origins
//! interned once), served round robin; entries packed as bytes in chunks
//! of up to 64 KiB (the depth, `from`, `line` and kind as varints, then
//! the path). A queued URL of a typical site costs ~20 bytes
//! instead of ~130 as a `Url` in a `VecDeque`: a breadth-first crawl of a
//! million-page site, whose queue holds most of a level at once, stays far
//! under its memory budget. Chunks are freed as they are consumed.

use super::{Discovered, UrlKind};
use crate::url::{Url, UrlRef};
use std::collections::{HashMap, VecDeque};

const CHUNK: usize = 64 * 1024;

/// The queue: one compact FIFO per origin, served round robin, so that a
/// host with a million links waiting does not starve the others (each
/// pull takes the next origin's oldest URL; per-host pacing and limits
/// then apply in admission as for any input).
///
/// Past `bound` bytes in memory it spills: the middle chunks of the
/// longest queues (never the one being read or the one being written) go
/// out as [`Pending::poll_spill`] batches for the driver to write
/// somewhere, and come back through [`Pending::handle_loaded`] when their
/// host reaches them ([`Pending::poll_load`]). No file here: sans-IO.
pub(super) struct Pending {
    queues: Vec<HostQueue>,
    /// Origins (by id) with URLs waiting in memory, in serving order.
    ring: VecDeque<u32>,
    len: usize,
    origins: Vec<String>,
    origin_ids: HashMap<String, u32>,
    /// Bytes of chunks in memory, and the most before spilling.
    mem_bytes: usize,
    bound: usize,
    /// No spill is tried again below this (nothing was spillable).
    retry_above: usize,
    spills: VecDeque<(u64, Vec<u8>)>,
    loads: VecDeque<u64>,
    /// Spilled segments being loaded, and their hosts.
    waiting: HashMap<u64, u32>,
    next_spill: u64,
}

impl Pending {
    /// Batches spilled so far.
    pub fn spilled(&self) -> u64 {
        self.next_spill
    }
}

impl Default for Pending {
    fn default() -> Pending {
        Pending::with_bound(usize::MAX)
    }
}

/// A run of entries: in memory, or spilled (its id, its entries).
enum Segment {
    Mem(Vec<u8>),
    Disk(u64),
}

/// One origin's URLs: entries packed in chunks that grow from 256 bytes to
/// 64 KiB (a crawl of 100,000 hosts does not pay 64 KiB each).
#[derive(Default)]
struct HostQueue {
    segs: VecDeque<Segment>,
    /// Read position in the front chunk.
    front: usize,
    len: usize,
    /// The next chunk's capacity.
    next_chunk: usize,
    /// Its front segment is being loaded.
    loading: bool,
}

/// A LEB128 varint into `buf` at `at` (which it moves past).
fn put_varint_at(buf: &mut [u8], at: &mut usize, mut v: u64) {
    while v >= 0x80 {
        buf[*at] = (v as u8) | 0x80;
        *at += 1;
        v >>= 7;
    }
    buf[*at] = v as u8;
    *at += 1;
}

fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let b = bytes[*at];
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

impl Pending {
    pub fn with_bound(bound: usize) -> Pending {
        Pending {
            queues: Vec::new(),
            ring: VecDeque::new(),
            len: 0,
            origins: Vec::new(),
            origin_ids: HashMap::new(),
            mem_bytes: 0,
            bound,
            retry_above: 0,
            spills: VecDeque::new(),
            loads: VecDeque::new(),
            waiting: HashMap::new(),
            next_spill: 0,
        }
    }

    /// URLs waiting, in memory or spilled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of chunks held in memory.
    pub fn mem_bytes(&self) -> usize {
        self.mem_bytes
    }

    /// `d` queued (as the frontier queues a URL: [`push_parts`](Self::push_parts)).
    #[cfg(test)]
    pub fn push(&mut self, d: Discovered) {
        self.push_parts(d.url.view(), super::Why::of(&d));
    }

    /// A canonical URL queued with what rides with it: copied into its
    /// origin's chunk (the URL's own string, if any, stays the caller's).
    pub fn push_parts(&mut self, url: UrlRef<'_>, why: super::Why) {
        let origin = url.origin();
        let id = match self.origin_ids.get(origin) {
            Some(&id) => id,
            None => {
                let id = self.origins.len() as u32;
                self.origins.push(origin.to_string());
                self.origin_ids.insert(origin.to_string(), id);
                self.queues.push(HostQueue::default());
                id
            }
        };
        let path = url.path_and_query().as_bytes();
        // Five varints of at most 10 bytes each: on the stack.
        let mut head = [0u8; 50];
        let mut n = 0;
        for v in [
            u64::from(why.depth),
            why.from.map_or(0, |f| f.saturating_add(1)),
            why.line.map_or(0, |l| l.saturating_add(1)),
            why.kind as u64,
            path.len() as u64,
        ] {
            put_varint_at(&mut head, &mut n, v);
        }
        let q = &mut self.queues[id as usize];
        if q.len == 0 {
            self.ring.push_back(id);
        }
        self.mem_bytes += q.push(&head[..n], path);
        self.len += 1;
        if self.mem_bytes > self.bound.max(self.retry_above) {
            self.spill();
        }
    }

    /// Moves the middle chunks of the longest queues out, down to half the
    /// bound (or as far as there are any).
    fn spill(&mut self) {
        while self.mem_bytes > self.bound / 2 {
            let longest = (0..self.queues.len()).max_by_key(|&i| self.queues[i].middle_bytes());
            let Some(host) = longest.filter(|&i| self.queues[i].middle_bytes() > 0) else {
                // Nothing in the middle of any queue (many hosts, each
                // with a chunk or two): not again until memory grows more.
                self.retry_above = self.mem_bytes + self.bound / 4;
                return;
            };
            let id = self.next_spill;
            self.next_spill += 1;
            let (bytes, freed) = self.queues[host].spill_middle(id);
            self.mem_bytes -= freed;
            self.spills.push_back((id, bytes));
        }
        self.retry_above = 0;
    }

    /// A batch to write out: its id and bytes (opaque).
    pub fn poll_spill(&mut self) -> Option<(u64, Vec<u8>)> {
        self.spills.pop_front()
    }

    /// A spilled batch a host needs now: read it and hand it back.
    pub fn poll_load(&mut self) -> Option<u64> {
        self.loads.pop_front()
    }

    /// A batch read back (the bytes given by [`poll_spill`](Self::poll_spill)).
    pub fn handle_loaded(&mut self, id: u64, bytes: Vec<u8>) {
        let Some(host) = self.waiting.remove(&id) else {
            return;
        };
        let q = &mut self.queues[host as usize];
        if let Some(front) = q.segs.front_mut() {
            self.mem_bytes += bytes.capacity();
            *front = Segment::Mem(bytes);
            q.front = 0;
        }
        q.loading = false;
        self.ring.push_back(host);
    }

    pub fn pop(&mut self) -> Option<Discovered> {
        let (depth, from, line, kind, whole) = self.pop_entry()?;
        // It was a canonical URL: it parses back to itself, in place.
        let url = Url::parse_owned(whole).ok()?;
        Some(Discovered {
            url,
            depth,
            from,
            line,
            kind,
        })
    }

    /// The next entry, its URL as the canonical string it was queued as.
    pub(crate) fn pop_entry(&mut self) -> Option<Entry> {
        loop {
            let id = self.ring.pop_front()?;
            let q = &mut self.queues[id as usize];
            let (entry, freed) = match q.pop(&self.origins[id as usize]) {
                Popped::Entry(e, freed) => (e, freed),
                Popped::Load(spill, freed) => {
                    self.mem_bytes -= freed;
                    // Out of the ring until its batch is back.
                    if !q.loading {
                        q.loading = true;
                        self.loads.push_back(spill);
                        self.waiting.insert(spill, id);
                    }
                    continue;
                }
                Popped::Empty => continue,
            };
            self.mem_bytes -= freed;
            if q.len > 0 {
                self.ring.push_back(id);
            }
            self.len -= 1;
            return Some(entry);
        }
    }
}

/// Depth, from, line, kind, and the whole URL (origin and path).
pub(crate) type Entry = (u32, Option<u64>, Option<u64>, UrlKind, String);

enum Popped {
    /// An entry, and the bytes of chunks freed by taking it.
    Entry(Entry, usize),
    /// The front is spilled: this batch must be loaded first (and the
    /// bytes of chunks freed on the way).
    Load(u64, usize),
    Empty,
}

impl HostQueue {
    /// Appends an entry; returns the bytes of a new chunk, if one was made.
    /// An entry (its head and path) at the back; the bytes of a chunk
    /// newly made for it.
    fn push(&mut self, head: &[u8], path: &[u8]) -> usize {
        let len = head.len() + path.len();
        // An entry never spans chunks.
        let room = match self.segs.back() {
            Some(Segment::Mem(c)) => c.len() + len <= c.capacity(),
            _ => false,
        };
        let mut grown = 0;
        if !room {
            let size = self.next_chunk.clamp(256, CHUNK).max(len);
            self.next_chunk = (size * 2).min(CHUNK);
            self.segs.push_back(Segment::Mem(Vec::with_capacity(size)));
            grown = size;
        }
        if let Some(Segment::Mem(c)) = self.segs.back_mut() {
            c.extend_from_slice(head);
            c.extend_from_slice(path);
        }
        self.len += 1;
        grown
    }

    /// Bytes in the chunks that may be spilled: not the front (being
    /// read), not the back (being written).
    fn middle_bytes(&self) -> usize {
        let n = self.segs.len();
        self.segs
            .iter()
            .enumerate()
            .filter(|&(i, _)| i > 0 && i + 1 < n)
            .map(|(_, s)| match s {
                Segment::Mem(c) => c.capacity(),
                Segment::Disk(_) => 0,
            })
            .sum()
    }

    /// The middle chunks as one batch `id`: their bytes, and the memory
    /// freed.
    fn spill_middle(&mut self, id: u64) -> (Vec<u8>, usize) {
        let n = self.segs.len();
        let (mut bytes, mut freed) = (Vec::new(), 0);
        let mut kept = VecDeque::with_capacity(3);
        for (i, seg) in std::mem::take(&mut self.segs).into_iter().enumerate() {
            match seg {
                Segment::Mem(c) if i > 0 && i + 1 < n => {
                    freed += c.capacity();
                    bytes.extend_from_slice(&c);
                    if !matches!(kept.back(), Some(Segment::Disk(d)) if *d == id) {
                        kept.push_back(Segment::Disk(id));
                    }
                }
                seg => kept.push_back(seg),
            }
        }
        self.segs = kept;
        (bytes, freed)
    }

    /// The next entry, its URL made whole with `origin` (one allocation).
    fn pop(&mut self, origin: &str) -> Popped {
        let mut freed = 0;
        loop {
            match self.segs.front() {
                None => return Popped::Empty,
                Some(Segment::Disk(id)) => return Popped::Load(*id, freed),
                Some(Segment::Mem(c)) if self.front < c.len() => break,
                Some(Segment::Mem(c)) => {
                    freed += c.capacity();
                    self.segs.pop_front();
                    self.front = 0;
                }
            }
        }
        let Some(Segment::Mem(chunk)) = self.segs.front() else {
            return Popped::Empty;
        };
        let mut at = self.front;
        let depth = get_varint(chunk, &mut at) as u32;
        let from = get_varint(chunk, &mut at).checked_sub(1);
        let line = get_varint(chunk, &mut at).checked_sub(1);
        let kind = match get_varint(chunk, &mut at) {
            1 => UrlKind::Robots,
            2 => UrlKind::Sitemap,
            _ => UrlKind::Page,
        };
        let n = get_varint(chunk, &mut at) as usize;
        let mut whole = String::with_capacity(origin.len() + n);
        whole.push_str(origin);
        whole.push_str(&String::from_utf8_lossy(&chunk[at..at + n]));
        self.front = at + n;
        self.len -= 1;
        if self.len == 0 {
            // Empty: give the memory back (a host seen once costs nothing).
            for s in std::mem::take(&mut self.segs) {
                if let Segment::Mem(c) = s {
                    freed += c.capacity();
                }
            }
            self.front = 0;
        }
        Popped::Entry((depth, from, line, kind, whole), freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_in_order_across_chunks() {
        let mut p = Pending::default();
        let n = 20_000u64;
        for i in 0..n {
            p.push(Discovered {
                url: Url::parse(&format!(
                    "http://h{}.test:9{}/p/{i}?q={}",
                    i % 3,
                    i % 2,
                    "x".repeat((i % 50) as usize)
                ))
                .unwrap(),
                depth: (i % 7) as u32,
                from: (i % 2 == 0).then_some(i * 1000),
                line: (i % 5 == 0).then_some(i),
                kind: [UrlKind::Page, UrlKind::Robots, UrlKind::Sitemap][(i % 3) as usize],
            });
        }
        assert_eq!(p.len(), n as usize);
        assert!(
            p.queues.iter().all(|q| q.segs.len() > 3),
            "spread over chunks"
        );
        for i in 0..n {
            let d = p.pop().unwrap();
            let want = format!(
                "http://h{}.test:9{}/p/{i}?q={}",
                i % 3,
                i % 2,
                "x".repeat((i % 50) as usize)
            );
            assert_eq!(d.url.as_str(), want);
            assert_eq!(
                (d.depth, d.from, d.line),
                (
                    (i % 7) as u32,
                    (i % 2 == 0).then_some(i * 1000),
                    (i % 5 == 0).then_some(i)
                )
            );
        }
        assert!(p.pop().is_none());
        assert!(
            p.queues.iter().all(|q| q.segs.is_empty()),
            "consumed chunks are freed"
        );
    }

    #[test]
    fn a_busy_host_does_not_starve_the_others() {
        let mut p = Pending::default();
        let d = |url: String| Discovered {
            url: Url::parse(&url).unwrap(),
            depth: 1,
            from: None,
            line: None,
            kind: UrlKind::Page,
        };
        for i in 0..1000 {
            p.push(d(format!("http://busy.test/{i}")));
        }
        for i in 0..3 {
            p.push(d(format!("http://quiet.test/{i}")));
        }
        let hosts: Vec<String> = (0..8)
            .map(|_| p.pop().unwrap().url.host().to_string())
            .collect();
        assert_eq!(
            hosts,
            [
                "busy.test",
                "quiet.test",
                "busy.test",
                "quiet.test",
                "busy.test",
                "quiet.test",
                "busy.test",
                "busy.test"
            ]
        );
        assert!(
            p.queues[1].segs.is_empty(),
            "an emptied host's chunks are freed"
        );
    }

    #[test]
    fn a_long_queue_spills_and_comes_back_in_order() {
        let bound = 64 * 1024;
        let mut p = Pending::with_bound(bound);
        let mut disk: HashMap<u64, Vec<u8>> = HashMap::new();
        let d = |i: u64, host: u64| Discovered {
            url: Url::parse(&format!("http://h{host}.test/page/{i}")).unwrap(),
            depth: (i % 9) as u32,
            from: Some(i),
            line: None,
            kind: UrlKind::Page,
        };
        let n = 200_000u64;
        let mut most = 0;
        for i in 0..n {
            p.push(d(i, i % 2));
            while let Some((id, bytes)) = p.poll_spill() {
                disk.insert(id, bytes);
            }
            most = most.max(p.mem_bytes());
        }
        assert!(
            most <= bound + 2 * CHUNK + 1024,
            "{most} bytes in memory at most"
        );
        assert!(!disk.is_empty(), "it spilled");
        assert_eq!(p.len(), n as usize);
        // Read back: per host in order, hosts in turn; loads served as a
        // driver would, between pops.
        let mut next = [0u64, 1];
        let mut got = 0;
        while got < n {
            match p.pop() {
                Some(x) => {
                    let host = (x.url.host() == "h1.test") as usize;
                    assert_eq!(
                        x.url.as_str(),
                        format!("http://h{host}.test/page/{}", next[host])
                    );
                    assert_eq!(x.from, Some(next[host]));
                    next[host] += 2;
                    got += 1;
                }
                None => {
                    let id = p.poll_load().expect("nothing to pop, nothing to load");
                    p.handle_loaded(id, disk.remove(&id).unwrap());
                }
            }
            while let Some((id, bytes)) = p.poll_spill() {
                disk.insert(id, bytes);
            }
            most = most.max(p.mem_bytes());
        }
        assert!(p.pop().is_none() && p.len() == 0);
        assert!(most <= bound + 4 * CHUNK, "{most}");
    }
}
