//! HPACK's two tables (RFC 7541 §2.3): the static table of 61 common
//! fields, and the dynamic table each side keeps for the connection,
//! newest first, bounded by a size in bytes (name + value + 32 per entry).

use super::FIELD_OVERHEAD;
use std::collections::VecDeque;

/// RFC 7541 Appendix A, index 1 first.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),                   // 1
    (b":method", b"GET"),                   // 2
    (b":method", b"POST"),                  // 3
    (b":path", b"/"),                       // 4
    (b":path", b"/index.html"),             // 5
    (b":scheme", b"http"),                  // 6
    (b":scheme", b"https"),                 // 7
    (b":status", b"200"),                   // 8
    (b":status", b"204"),                   // 9
    (b":status", b"206"),                   // 10
    (b":status", b"304"),                   // 11
    (b":status", b"400"),                   // 12
    (b":status", b"404"),                   // 13
    (b":status", b"500"),                   // 14
    (b"accept-charset", b""),               // 15
    (b"accept-encoding", b"gzip, deflate"), // 16
    (b"accept-language", b""),              // 17
    (b"accept-ranges", b""),                // 18
    (b"accept", b""),                       // 19
    (b"access-control-allow-origin", b""),  // 20
    (b"age", b""),                          // 21
    (b"allow", b""),                        // 22
    (b"authorization", b""),                // 23
    (b"cache-control", b""),                // 24
    (b"content-disposition", b""),          // 25
    (b"content-encoding", b""),             // 26
    (b"content-language", b""),             // 27
    (b"content-length", b""),               // 28
    (b"content-location", b""),             // 29
    (b"content-range", b""),                // 30
    (b"content-type", b""),                 // 31
    (b"cookie", b""),                       // 32
    (b"date", b""),                         // 33
    (b"etag", b""),                         // 34
    (b"expect", b""),                       // 35
    (b"expires", b""),                      // 36
    (b"from", b""),                         // 37
    (b"host", b""),                         // 38
    (b"if-match", b""),                     // 39
    (b"if-modified-since", b""),            // 40
    (b"if-none-match", b""),                // 41
    (b"if-range", b""),                     // 42
    (b"if-unmodified-since", b""),          // 43
    (b"last-modified", b""),                // 44
    (b"link", b""),                         // 45
    (b"location", b""),                     // 46
    (b"max-forwards", b""),                 // 47
    (b"proxy-authenticate", b""),           // 48
    (b"proxy-authorization", b""),          // 49
    (b"range", b""),                        // 50
    (b"referer", b""),                      // 51
    (b"refresh", b""),                      // 52
    (b"retry-after", b""),                  // 53
    (b"server", b""),                       // 54
    (b"set-cookie", b""),                   // 55
    (b"strict-transport-security", b""),    // 56
    (b"transfer-encoding", b""),            // 57
    (b"user-agent", b""),                   // 58
    (b"vary", b""),                         // 59
    (b"via", b""),                          // 60
    (b"www-authenticate", b""),             // 61
];

/// The static entries named `name`, as a range of indexes (they sit
/// together): one `match` instead of a scan of 61 names per field.
fn static_range(name: &[u8]) -> Option<(usize, usize)> {
    Some(match name {
        b":authority" => (1, 1),
        b":method" => (2, 3),
        b":path" => (4, 5),
        b":scheme" => (6, 7),
        b":status" => (8, 14),
        b"accept-charset" => (15, 15),
        b"accept-encoding" => (16, 16),
        b"accept-language" => (17, 17),
        b"accept-ranges" => (18, 18),
        b"accept" => (19, 19),
        b"access-control-allow-origin" => (20, 20),
        b"age" => (21, 21),
        b"allow" => (22, 22),
        b"authorization" => (23, 23),
        b"cache-control" => (24, 24),
        b"content-disposition" => (25, 25),
        b"content-encoding" => (26, 26),
        b"content-language" => (27, 27),
        b"content-length" => (28, 28),
        b"content-location" => (29, 29),
        b"content-range" => (30, 30),
        b"content-type" => (31, 31),
        b"cookie" => (32, 32),
        b"date" => (33, 33),
        b"etag" => (34, 34),
        b"expect" => (35, 35),
        b"expires" => (36, 36),
        b"from" => (37, 37),
        b"host" => (38, 38),
        b"if-match" => (39, 39),
        b"if-modified-since" => (40, 40),
        b"if-none-match" => (41, 41),
        b"if-range" => (42, 42),
        b"if-unmodified-since" => (43, 43),
        b"last-modified" => (44, 44),
        b"link" => (45, 45),
        b"location" => (46, 46),
        b"max-forwards" => (47, 47),
        b"proxy-authenticate" => (48, 48),
        b"proxy-authorization" => (49, 49),
        b"range" => (50, 50),
        b"referer" => (51, 51),
        b"refresh" => (52, 52),
        b"retry-after" => (53, 53),
        b"server" => (54, 54),
        b"set-cookie" => (55, 55),
        b"strict-transport-security" => (56, 56),
        b"transfer-encoding" => (57, 57),
        b"user-agent" => (58, 58),
        b"vary" => (59, 59),
        b"via" => (60, 60),
        b"www-authenticate" => (61, 61),
        _ => return None,
    })
}

/// A dynamic table entry: name and value.
type Field = (Box<[u8]>, Box<[u8]>);

/// The static and the dynamic table, indexed as one address space (§2.3.3).
pub(super) struct Table {
    /// Newest first: index 62 is `dynamic[0]`.
    dynamic: VecDeque<Field>,
    size: usize,
    max_size: usize,
}

impl Table {
    pub fn new(max_size: usize) -> Table {
        Table {
            dynamic: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The field at `index` (1-based over both tables).
    pub fn get(&self, index: u64) -> Option<(&[u8], &[u8])> {
        let i = usize::try_from(index).ok()?.checked_sub(1)?;
        if let Some(&(n, v)) = STATIC.get(i) {
            return Some((n, v));
        }
        let (n, v) = self.dynamic.get(i - STATIC.len())?;
        Some((n, v))
    }

    /// The index of `(name, value)` if a table holds it whole (true), else
    /// of `name` (false; the static table's first, as the RFC's examples
    /// do), else 0.
    pub fn find(&self, name: &[u8], value: &[u8]) -> (usize, bool) {
        let mut by_name = 0;
        if let Some((first, last)) = static_range(name) {
            for i in first..=last {
                if STATIC[i - 1].1 == value {
                    return (i, true);
                }
            }
            by_name = first;
        }
        for (i, (n, v)) in self.dynamic.iter().enumerate() {
            if &n[..] == name {
                if &v[..] == value {
                    return (STATIC.len() + 1 + i, true);
                }
                if by_name == 0 {
                    by_name = STATIC.len() + 1 + i;
                }
            }
        }
        (by_name, false)
    }

    /// Adds a field, evicting the oldest until it fits; one larger than the
    /// whole table empties it (§4.4).
    pub fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + FIELD_OVERHEAD;
        self.evict_to(self.max_size.saturating_sub(size));
        if size <= self.max_size {
            self.dynamic.push_front((name.into(), value.into()));
            self.size += size;
        }
    }

    /// A new maximum size (§4.3): the oldest entries go until it fits.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            let Some((n, v)) = self.dynamic.pop_back() else {
                break;
            };
            self.size -= n.len() + v.len() + FIELD_OVERHEAD;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_range_names_every_static_entry_and_only_its_own() {
        for (i, &(name, _)) in STATIC.iter().enumerate() {
            let (first, last) = static_range(name).expect("a static name");
            assert!((first..=last).contains(&(i + 1)), "{i}");
            let same: Vec<usize> = (1..=61).filter(|&j| STATIC[j - 1].0 == name).collect();
            assert_eq!(same, (first..=last).collect::<Vec<_>>());
        }
        assert_eq!(static_range(b"x-custom"), None);
    }
}
