//! The pending queue, compact: entries packed as bytes in 64 KiB chunks
//! (an origin id, the depth, `from` and `line` as varints, then the path),
//! origins interned once. A queued URL of a typical site costs ~20 bytes
//! instead of ~130 as a `Url` in a `VecDeque`: a breadth-first crawl of a
//! million-page site, whose queue holds most of a level at once, stays far
//! under its memory budget. Chunks are freed as they are consumed.

use super::{Discovered, UrlKind};
use crate::url::Url;
use std::collections::{HashMap, VecDeque};

const CHUNK: usize = 64 * 1024;

#[derive(Default)]
pub(super) struct Pending {
    chunks: VecDeque<Vec<u8>>,
    /// Read position in the front chunk.
    front: usize,
    len: usize,
    origins: Vec<String>,
    origin_ids: HashMap<String, u32>,
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
                id
            }
        };
        let path = d.url.path_and_query().as_bytes();
        let mut entry = Vec::with_capacity(path.len() + 24);
        put_varint(&mut entry, u64::from(id));
        put_varint(&mut entry, u64::from(d.depth));
        put_varint(&mut entry, d.from.map_or(0, |f| f.saturating_add(1)));
        put_varint(&mut entry, d.line.map_or(0, |l| l.saturating_add(1)));
        put_varint(&mut entry, d.kind as u64);
        put_varint(&mut entry, path.len() as u64);
        entry.extend_from_slice(path);
        // An entry never spans chunks (a URL is at most 2,048 bytes, a
        // chunk 64 KiB: a chunk is at worst 3 % unused).
        let room = self
            .chunks
            .back()
            .is_some_and(|c| c.len() + entry.len() <= c.capacity());
        if !room {
            self.chunks
                .push_back(Vec::with_capacity(CHUNK.max(entry.len())));
        }
        if let Some(c) = self.chunks.back_mut() {
            c.extend_from_slice(&entry);
        }
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<Discovered> {
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
        let id = get_varint(chunk, &mut at) as usize;
        let depth = get_varint(chunk, &mut at) as u32;
        let from = get_varint(chunk, &mut at).checked_sub(1);
        let line = get_varint(chunk, &mut at).checked_sub(1);
        let kind = match get_varint(chunk, &mut at) {
            1 => UrlKind::Robots,
            2 => UrlKind::Sitemap,
            _ => UrlKind::Page,
        };
        let n = get_varint(chunk, &mut at) as usize;
        let path = &chunk[at..at + n];
        self.front = at + n;
        self.len -= 1;
        let mut s = String::with_capacity(self.origins[id].len() + n);
        s.push_str(&self.origins[id]);
        s.push_str(std::str::from_utf8(path).ok()?);
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
        assert!(p.chunks.len() > 3, "spread over chunks");
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
        assert_eq!(p.chunks.len(), 0, "consumed chunks are freed");
    }
}
