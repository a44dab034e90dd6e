//! A page's links as the frontier takes them: canonical, fingerprinted
//! and measured for the trap guards on the worker that found them, packed
//! into three buffers (text, fingerprints, layouts).
//!
//! Why packed: the links are made on a worker and read on the loop's
//! thread, where most of them turn out to be seen already. A `String` per
//! link meant a free per link into another thread's malloc arena, under
//! that arena's lock, while the worker allocated in it: 7 % of the loop
//! thread's time in a crawl of a million pages went to freeing links.
//! Packed, a page's links are three buffers however many they are (and a
//! crawl recycles them), and a queued one is copied into the frontier's
//! own queue. The fingerprints are a table of their own: the loop asks the
//! seen-set first, and for a link seen before reads nothing else (each
//! cache line read there was written on another core).

use super::{canonical, fingerprint};
use crate::url::{Layout, UrlRef};

/// URLs in canonical form ([`canonical`]) with their [`fingerprint`]s.
///
/// ```
/// use oneloop::frontier::Candidates;
/// let mut links = Candidates::default();
/// assert!(links.push("http://A.test:80/x/../b#top"));
/// assert!(!links.push("mailto:someone@a.test"));
/// let urls: Vec<&str> = links.iter().map(|c| c.as_str()).collect();
/// assert_eq!(urls, ["http://a.test/b"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// The URLs, back to back.
    text: String,
    /// Their fingerprints.
    prints: Vec<u64>,
    /// The rest of what is known of them.
    links: Vec<Packed>,
}

/// One URL of [`Candidates`] besides its fingerprint: where its text
/// ends, its layout and its trap shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Packed {
    end: u32,
    at: Layout,
    shape: Shape,
}

impl Candidates {
    /// `url` made canonical and fingerprinted, added; false (and nothing
    /// added) if it is not an http(s) URL.
    pub fn push(&mut self, url: &str) -> bool {
        self.push_except(url, &[])
    }

    /// [`push`](Self::push), unless its canonical form is one of `except`
    /// (false then too).
    fn push_except(&mut self, url: &str, except: &[&str]) -> bool {
        let Some(url) = canonical(url) else {
            return false;
        };
        if except.contains(&url.as_str()) {
            return false;
        }
        let Ok(end) = u32::try_from(self.text.len() + url.as_str().len()) else {
            return false;
        };
        self.text.push_str(url.as_str());
        self.prints.push(fingerprint(url.as_str()));
        self.links.push(Packed {
            end,
            at: url.layout(),
            shape: Shape::of(url.path_and_query()),
        });
        true
    }

    /// From absolute URLs (what is not an http(s) URL is left out).
    pub fn of<U: AsRef<str>>(urls: &[U]) -> Candidates {
        let mut c = Candidates::default();
        c.extend(urls);
        c
    }

    /// [`push`](Self::push) each of `urls`.
    pub fn extend<U: AsRef<str>>(&mut self, urls: &[U]) {
        self.extend_except(urls, &[]);
    }

    /// [`extend`](Self::extend), leaving out the URLs whose canonical form
    /// is one of `except` (canonical already): a page's links to itself
    /// (`#top`, the logo on a home page) are seen by definition, and the
    /// loop's thread need not ask (a probe of a large seen-set misses the
    /// cache).
    pub fn extend_except<U: AsRef<str>>(&mut self, urls: &[U], except: &[&str]) {
        for u in urls {
            self.push_except(u.as_ref(), except);
        }
    }

    /// Empty again, its buffers kept.
    pub fn clear(&mut self) {
        self.text.clear();
        self.prints.clear();
        self.links.clear();
    }

    /// Bytes its buffers hold, filled or not.
    pub fn capacity_bytes(&self) -> usize {
        self.text.capacity()
            + self.prints.capacity() * 8
            + self.links.capacity() * std::mem::size_of::<Packed>()
    }

    /// URLs held.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The URLs, in the order pushed.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Candidate<'_>> + '_ {
        (0..self.len()).map(|i| Candidate { all: self, i })
    }
}

/// One URL of [`Candidates`], borrowed: read only as far as it is asked.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    all: &'a Candidates,
    i: usize,
}

impl<'a> Candidate<'a> {
    /// The canonical URL.
    pub fn as_str(&self) -> &'a str {
        self.url().as_str()
    }

    /// Its [`fingerprint`].
    pub fn print(&self) -> u64 {
        self.all.prints[self.i]
    }

    /// The URL and its parts.
    pub(super) fn url(&self) -> UrlRef<'a> {
        let links = &self.all.links;
        let start = match self.i {
            0 => 0,
            i => links[i - 1].end as usize,
        };
        let p = links[self.i];
        UrlRef::new(&self.all.text[start..p.end as usize], p.at)
    }

    /// Its path's trap shape.
    pub(super) fn shape(&self) -> Shape {
        self.all.links[self.i].shape
    }
}

/// Segments a path may have for [`Shape::repeats`] to count them all; a
/// longer one is measured again on the loop's thread if the guard needs it
/// (rare: the default refuses more than 32). Bounds the quadratic count.
const SHAPED: usize = 64;

/// What the trap guards ask of a path: how many segments it has, and how
/// often its most repeated one appears (`/a/b/a/b/a` has 5 and 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shape {
    /// (At most `u16::MAX`: more is a trap at any setting that makes sense.)
    pub(super) segments: u16,
    /// Over the first [`SHAPED`] segments.
    pub(super) repeats: u16,
}

impl Shape {
    /// The shape of a path and query (the query is not measured).
    pub(super) fn of(path_and_query: &str) -> Shape {
        let path = path_segments(path_and_query);
        let segments = path.clone().count().min(usize::from(u16::MAX)) as u16;
        let repeats = path
            .clone()
            .take(SHAPED)
            .enumerate()
            .map(|(i, s)| times_so_far(path.clone(), i, s))
            .max()
            .unwrap_or(0) as u16;
        Shape { segments, repeats }
    }

    /// Refused by the guards: deeper than `max_segments`, or a segment more
    /// often than `max_repeats` (`path_and_query` is the path measured, for
    /// a path too long to have been measured whole).
    pub(super) fn is_trap(
        self,
        path_and_query: &str,
        max_segments: usize,
        max_repeats: usize,
    ) -> bool {
        let (segments, repeats) = (usize::from(self.segments), usize::from(self.repeats));
        if segments > max_segments || repeats > max_repeats {
            return true;
        }
        if segments <= SHAPED {
            return false;
        }
        // Longer than measured and within the depth guard: measure it all.
        let path = path_segments(path_and_query);
        path.clone()
            .enumerate()
            .any(|(i, s)| times_so_far(path.clone(), i, s) > max_repeats)
    }
}

/// How often segment `i` of `path`, `s`, has appeared up to and including
/// itself (compared in place: no allocation).
fn times_so_far<'p>(path: impl Iterator<Item = &'p str>, i: usize, s: &str) -> usize {
    path.take(i).filter(|e| *e == s).count() + 1
}

/// The non-empty segments of a path and query's path.
fn path_segments(path_and_query: &str) -> impl Iterator<Item = &str> + Clone {
    let path = &path_and_query[..path_and_query.find('?').unwrap_or(path_and_query.len())];
    path.split('/').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_count_segments_and_the_most_repeated() {
        let cases = [
            ("/", 0, 0),
            ("/a", 1, 1),
            ("/a/b/a/b/a?x=/a/a/a", 5, 3),
            ("//a//a/", 2, 2),
        ];
        for (path, segments, repeats) in cases {
            assert_eq!(Shape::of(path), Shape { segments, repeats }, "{path}");
        }
    }

    #[test]
    fn a_path_longer_than_measured_is_measured_whole_when_it_matters() {
        let mut path: String = (0..SHAPED).map(|i| format!("/s{i}")).collect();
        path.push_str("/s1/s1/s1");
        let shape = Shape::of(&path);
        assert_eq!(usize::from(shape.segments), SHAPED + 3);
        assert_eq!(shape.repeats, 1);
        // Within a generous depth guard, the repeats past the first 64
        // count: s1 appears 4 times.
        assert!(shape.is_trap(&path, 100, 3));
        assert!(!shape.is_trap(&path, 100, 4));
        assert!(shape.is_trap(&path, 32, 10));
    }

    #[test]
    fn links_are_packed_and_read_back_with_their_parts() {
        let c = Candidates::of(&["http://a.test/x", "ftp://no/", "https://B.test:8443/y?q"]);
        assert_eq!(c.len(), 2);
        let got: Vec<_> = c
            .iter()
            .map(|c| {
                (
                    c.as_str(),
                    c.url().host_bare(),
                    c.url().origin(),
                    c.url().path_and_query(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("http://a.test/x", "a.test", "http://a.test", "/x"),
                (
                    "https://b.test:8443/y?q",
                    "b.test",
                    "https://b.test:8443",
                    "/y?q"
                ),
            ]
        );
        let first = c.iter().next().map(|c| c.print());
        assert_eq!(first, Some(fingerprint("http://a.test/x")));
        let mut c = Candidates::default();
        c.extend_except(
            &["http://a.test/x#top", "http://a.test/y"],
            &["http://a.test/x"],
        );
        let urls: Vec<&str> = c.iter().map(|c| c.as_str()).collect();
        assert_eq!(urls, ["http://a.test/y"]);
    }
}
