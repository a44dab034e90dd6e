//! The pending queue, compact and fair: one queue per origin (origins
//! interned once), served round robin; entries packed as bytes in chunks
//! of up to 64 KiB (the depth, `from`, `line` and kind as varints, then
//! the path). A queued URL of a typical site costs ~20 bytes
//! instead of ~130 as a `Url` in a `VecDeque`: a breadth-first crawl of a
//! million-page site, whose queue holds most of a level at once, stays far
//! under its memory budget. Chunks are freed as they are consumed.

use super::{Discovered, UrlKind};
use crate::url::Url;
use std::collections::{HashMap, VecDeque};

const CHUNK: usize = 64 * 1024;

/// The queue: one compact FIFO per origin, served round robin, so that a
/// host with a million links waiting does not starve the others (each
/// pull takes the next origin's oldest URL; per-host pacing and limits
/// then apply in admission as for any input).
#[derive(Default)]
pub(super) struct Pending {
    queues: Vec<HostQueue>,
    /// Origins (by id) with URLs waiting, in serving order.
    ring: VecDeque<u32>,
    len: usize,
    origins: Vec<String>,
    origin_ids: HashMap<String, u32>,
}

/// One origin's URLs: entries packed in chunks that grow from 256 bytes to
/// 64 KiB (a crawl of 100,000 hosts does not pay 64 KiB each).
#[derive(Default)]
struct HostQueue {
    chunks: VecDeque<Vec<u8>>,
    /// Read position in the front chunk.
    front: usize,
    len: usize,
    /// The next chunk's capacity.
    next_chunk: usize,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
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
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push(&mut self, d: Discovered) {
        let origin = d.url.origin();
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
        let path = d.url.path_and_query().as_bytes();
        let mut entry = Vec::with_capacity(path.len() + 24);
        put_varint(&mut entry, u64::from(d.depth));
        put_varint(&mut entry, d.from.map_or(0, |f| f.saturating_add(1)));
        put_varint(&mut entry, d.line.map_or(0, |l| l.saturating_add(1)));
        put_varint(&mut entry, d.kind as u64);
        put_varint(&mut entry, path.len() as u64);
        entry.extend_from_slice(path);
        let q = &mut self.queues[id as usize];
        if q.len == 0 {
            self.ring.push_back(id);
        }
        q.push(&entry);
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<Discovered> {
        let id = self.ring.pop_front()?;
        let q = &mut self.queues[id as usize];
        let entry = q.pop();
        if q.len > 0 {
            self.ring.push_back(id);
        }
        self.len -= 1;
        let (depth, from, line, kind, path) = entry?;
        let origin = &self.origins[id as usize];
        let mut s = String::with_capacity(origin.len() + path.len());
        s.push_str(origin);
        s.push_str(&path);
        // It was a canonical URL: it parses back to itself, no allocation.
        let url = Url::parse_owned(s).ok()?;
        Some(Discovered {
            url,
            depth,
            from,
            line,
            kind,
        })
    }
}

type Entry = (u32, Option<u64>, Option<u64>, UrlKind, String);

impl HostQueue {
    fn push(&mut self, entry: &[u8]) {
        // An entry never spans chunks.
        let room = self
            .chunks
            .back()
            .is_some_and(|c| c.len() + entry.len() <= c.capacity());
        if !room {
            let size = self.next_chunk.clamp(256, CHUNK).max(entry.len());
            self.next_chunk = (size * 2).min(CHUNK);
            self.chunks.push_back(Vec::with_capacity(size));
        }
        if let Some(c) = self.chunks.back_mut() {
            c.extend_from_slice(entry);
        }
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Entry> {
        loop {
            let chunk = self.chunks.front()?;
            if self.front < chunk.len() {
                break;
            }
            self.chunks.pop_front();
            self.front = 0;
        }
        let chunk = &self.chunks[0];
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
        let path = String::from_utf8_lossy(&chunk[at..at + n]).into_owned();
        self.front = at + n;
        self.len -= 1;
        if self.len == 0 {
            // Empty: give the memory back (a host seen once costs nothing).
            self.chunks = VecDeque::new();
            self.front = 0;
        }
        Some((depth, from, line, kind, path))
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
            p.queues.iter().all(|q| q.chunks.len() > 3),
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
            p.queues.iter().all(|q| q.chunks.is_empty()),
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
        let small: usize = p.queues[1].chunks.iter().map(Vec::capacity).sum();
        assert_eq!(small, 0, "an emptied host's chunks are freed");
    }
}
