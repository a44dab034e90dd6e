//! Sitemaps (sitemaps.org), sans-IO: a file's bytes in, its URLs out.
//!
//! A `urlset` lists pages, a `sitemapindex` lists more sitemaps; either may
//! come gzipped (a `.xml.gz` file served as it is, not as a content
//! coding). At most 50,000 URLs and 50 MiB (uncompressed) per file, as the
//! protocol says: the rest of a larger file is ignored, and [`Sitemap`]
//! says it was cut. `robots.txt` names sitemaps in `Sitemap:` lines
//! ([`robots_sitemaps`]).
//!
//! The format is simple enough for a scanner instead of an XML parser:
//! the text of each `<loc>` element (namespace prefix allowed), CDATA
//! sections and the five XML entities and numeric references unescaped.
//!
//! ```
//! use oneloop::sitemap::{parse, Kind};
//! let s = parse(b"<urlset><url><loc>http://a.test/x?a=1&amp;b=2</loc></url></urlset>");
//! assert_eq!((s.kind, s.urls), (Kind::Pages, vec!["http://a.test/x?a=1&b=2".to_string()]));
//! ```

/// What a sitemap lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A `urlset`: pages.
    Pages,
    /// A `sitemapindex`: more sitemaps.
    Sitemaps,
}

/// A parsed sitemap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sitemap {
    pub kind: Kind,
    pub urls: Vec<String>,
    /// Over 50,000 URLs or 50 MiB: the rest was ignored.
    pub cut: bool,
}

/// The protocol's limits per file.
pub const MAX_URLS: usize = 50_000;
pub const MAX_BYTES: usize = 50 * 1024 * 1024;

/// Parses a sitemap file (gunzipped first if it is gzip), whatever its
/// format: an XML `urlset` or `sitemapindex`, a text file of one URL a
/// line, an RSS 2.0 or RSS 1.0 feed (each item's `<link>`, else its
/// `<guid>`) or an Atom feed (each entry's first `<link href>`). Lenient
/// as crawlers must be (crawler-commons' tests are the judge,
/// `tests/conformance_sitemaps.rs`): a cut file gives what it holds, an
/// index entry without `<loc>` gives its text, `<loc>` text mixes CDATA
/// and entities, external entities and XInclude are never followed. Only
/// absolute http(s) URLs come out.
pub fn parse(body: &[u8]) -> Sitemap {
    #[cfg(feature = "decode")]
    let inflated;
    #[cfg(feature = "decode")]
    let body = if body.starts_with(&[0x1f, 0x8b]) {
        inflated = gunzip(body);
        &inflated[..]
    } else {
        body
    };
    let cut = body.len() > MAX_BYTES;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_BYTES)]);
    let text = text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
    let mut out = Sitemap {
        kind: Kind::Pages,
        urls: Vec::new(),
        cut,
    };
    if text.starts_with('<') {
        Scanner::default().run(text, &mut out);
    } else {
        // A text sitemap: one URL a line.
        for line in text.lines() {
            out.push(line);
        }
    }
    out
}

impl Sitemap {
    /// Keeps `url` if it is an absolute http(s) URL, up to [`MAX_URLS`].
    fn push(&mut self, url: &str) {
        let url = url.trim();
        let http = |p: &str| url.len() > p.len() && url[..p.len()].eq_ignore_ascii_case(p);
        if !(http("http://") || http("https://")) {
            return;
        }
        if self.urls.len() == MAX_URLS {
            self.cut = true;
            return;
        }
        self.urls.push(url.to_string());
    }
}

/// Which of an entry's children is being read.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Field {
    #[default]
    None,
    Loc,
    Link,
    Guid,
}

/// One `<url>`, `<sitemap>`, `<item>` or `<entry>` being read.
#[derive(Default)]
struct Entry {
    locs: Vec<String>,
    link: Option<String>,
    guid: Option<String>,
    /// Text directly inside the entry (an index entry without `<loc>`).
    text: String,
}

/// A tag-level scan of the XML formats: no tree, no DTD, no entity but the
/// five predefined ones and character references.
#[derive(Default)]
struct Scanner {
    /// The document is a feed (RSS 2.0, RSS 1.0, Atom): its entries are
    /// `item`s and `entry`s, and a `<url>` is an image's, not a page.
    feed: Option<bool>,
    entry: Option<Entry>,
    field: Field,
    value: String,
}

impl Scanner {
    fn run(mut self, text: &str, out: &mut Sitemap) {
        let mut rest = text;
        while !rest.is_empty() {
            let Some(lt) = rest.find('<') else {
                self.text(rest);
                break;
            };
            self.text(&rest[..lt]);
            rest = &rest[lt..];
            if let Some(r) = rest.strip_prefix("<![CDATA[") {
                let end = r.find("]]>").unwrap_or(r.len());
                self.raw(&r[..end]);
                rest = r.get(end + 3..).unwrap_or("");
            } else if let Some(r) = rest.strip_prefix("<!--") {
                rest = r.find("-->").map_or("", |e| &r[e + 3..]);
            } else if rest.starts_with("<!") || rest.starts_with("<?") {
                // A doctype (its internal subset, entities and all, is
                // skipped: nothing it declares is ever expanded).
                // (Each search stops at the first `>`, or a file of many
                // `<?x>` would be read to its end for each.)
                let gt = rest.find('>');
                let subset = gt.is_some_and(|g| rest[..g].contains('['));
                let end = if subset {
                    rest.find("]>").map(|e| e + 1)
                } else {
                    gt
                };
                rest = end.map_or("", |e| &rest[e + 1..]);
            } else {
                let end = rest.find('>').unwrap_or(rest.len());
                self.tag(&rest[1..end], out);
                rest = rest.get(end + 1..).unwrap_or("");
            }
        }
        // A cut file: what was being read still counts.
        self.end_field();
        self.end_entry(out);
    }

    /// Text between tags: entities decoded.
    fn text(&mut self, t: &str) {
        if t.is_empty() {
            return;
        }
        let t = unescape(t);
        match (self.field, &mut self.entry) {
            (Field::None, Some(e)) => e.text.push_str(&t),
            (Field::None, None) => {}
            _ => self.value.push_str(&t),
        }
    }

    /// CDATA: as it is.
    fn raw(&mut self, t: &str) {
        match (self.field, &mut self.entry) {
            (Field::None, Some(e)) => e.text.push_str(t),
            (Field::None, None) => {}
            _ => self.value.push_str(t),
        }
    }

    fn tag(&mut self, tag: &str, out: &mut Sitemap) {
        let end = tag.starts_with('/');
        let tag = tag.trim_start_matches('/');
        let self_closing = tag.ends_with('/');
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let (prefix, local) = name.rsplit_once(':').unwrap_or(("", name));
        let local = local.to_ascii_lowercase();
        if !end && self.feed.is_none() {
            self.feed = Some(matches!(local.as_str(), "rss" | "rdf" | "feed"));
        }
        let entry = matches!(
            (self.feed, local.as_str()),
            (Some(true), "item" | "entry") | (Some(false), "url" | "sitemap")
        );
        match (end, local.as_str()) {
            (false, "sitemapindex") => out.kind = Kind::Sitemaps,
            (false, _) if entry => {
                self.end_field();
                self.end_entry(out);
                self.entry = Some(Entry::default());
            }
            (true, _) if entry => {
                self.end_field();
                self.end_entry(out);
            }
            // Image, video and news extensions have `loc`s of their own:
            // media files, not pages.
            (false, "loc") if !matches!(prefix, "image" | "video" | "news") => {
                self.start_field(Field::Loc)
            }
            (false, "link") if self.entry.is_some() => match attribute(tag, "href") {
                // Atom: the entry's first link that is the entry itself.
                Some(href) => {
                    let rel = attribute(tag, "rel");
                    let e = self.entry.as_mut().expect("checked");
                    if e.link.is_none() && rel.is_none_or(|r| r == "alternate") {
                        e.link = Some(unescape(&href));
                    }
                }
                None if !self_closing => self.start_field(Field::Link),
                None => {}
            },
            (false, "guid") if self.entry.is_some() => self.start_field(Field::Guid),
            (true, "loc" | "link" | "guid") => self.end_field(),
            _ => {}
        }
    }

    fn start_field(&mut self, field: Field) {
        self.end_field();
        self.field = field;
    }

    /// The field read so far, to its entry.
    fn end_field(&mut self) {
        let value = std::mem::take(&mut self.value).trim().to_string();
        let field = std::mem::take(&mut self.field);
        let Some(e) = &mut self.entry else {
            // A `<loc>` outside any entry (a cut or odd file): its own.
            if field == Field::Loc {
                self.entry = Some(Entry {
                    locs: vec![value],
                    ..Entry::default()
                });
            }
            return;
        };
        match field {
            Field::Loc => e.locs.push(value),
            Field::Link => {
                e.link.get_or_insert(value);
            }
            Field::Guid => {
                e.guid.get_or_insert(value);
            }
            Field::None => {}
        }
    }

    /// The entry's URLs: its `<loc>`s; else its link, else its guid; else
    /// its own text (an index entry without `<loc>`).
    fn end_entry(&mut self, out: &mut Sitemap) {
        let Some(e) = self.entry.take() else {
            return;
        };
        if !e.locs.is_empty() {
            for loc in &e.locs {
                out.push(loc);
            }
        } else if let Some(link) = e.link.as_deref().filter(|l| !l.trim().is_empty()) {
            out.push(link);
        } else if let Some(guid) = e.guid.as_deref().filter(|g| is_http(g)) {
            out.push(guid);
        } else {
            out.push(&e.text);
        }
    }
}

fn is_http(s: &str) -> bool {
    let s = s.trim();
    let p = |p: &str| s.len() > p.len() && s[..p.len()].eq_ignore_ascii_case(p);
    p("http://") || p("https://")
}

/// An attribute's value in a start tag's text (`href="x"`, `href='x'`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || rest[..at].ends_with(|c: char| c.is_whitespace());
        let after = rest[at + name.len()..].trim_start();
        if let (true, Some(v)) = (before_ok, after.strip_prefix('=')) {
            let v = v.trim_start();
            let q = v.chars().next()?;
            if q == '"' || q == '\'' {
                let v = &v[1..];
                return Some(v[..v.find(q).unwrap_or(v.len())].to_string());
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

/// The longest entity or character reference, `&` and `;` included.
const MAX_ENTITY: usize = 12;

/// XML text: CDATA kept as is, entities and character references decoded.
fn unescape(raw: &str) -> String {
    if let Some(inner) = raw
        .strip_prefix("<![CDATA[")
        .and_then(|r| r.strip_suffix("]]>"))
    {
        return inner.trim().to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // An entity or character reference is short (`&#x10FFFF;` is the
        // longest): look for its `;` only that far, or a `&` with no `;`
        // soon after it would scan the rest of the text each time
        // (quadratic: a million `&`s cost 43 s of CPU).
        let near = &rest.as_bytes()[..rest.len().min(MAX_ENTITY)];
        let Some(semi) = near.iter().position(|&b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `Sitemap:` lines of a robots.txt (they apply to every group).
pub fn robots_sitemaps(robots: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(robots)
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sitemap")
                .then(|| value.trim().to_string())
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// A gzip file, inflated up to the size limit (a bomb stops there).
#[cfg(feature = "decode")]
fn gunzip(body: &[u8]) -> Vec<u8> {
    use crate::http::decode::{BodyDecoder, Coding};
    let mut d = BodyDecoder::new(Coding::Gzip);
    let mut out = Vec::new();
    let _ = d.handle_bytes(body, &mut |piece: &[u8]| {
        if out.len() + piece.len() > MAX_BYTES + 1 {
            out.extend_from_slice(&piece[..(MAX_BYTES + 1).saturating_sub(out.len())]);
            return Err(crate::Error::new(
                crate::Phase::Body,
                crate::ErrorKind::TooLarge,
                "sitemap over 50 MiB",
            ));
        }
        out.extend_from_slice(piece);
        Ok(())
    });
    out
}

#[cfg(test)]
mod tests {
    /// A `<loc>` of a million `&`s and one `;` at the end took 43 s of CPU
    /// (each `&` looked for its `;` to the end of the text): linear now.
    /// The bound is a hang guard, not a speed target.
    #[test]
    fn ampersands_without_semicolons_are_linear() {
        let amps = "&".repeat(1_000_000);
        let xml = format!("<urlset><url><loc>http://h/{amps};</loc></url></urlset>");
        let t0 = std::time::Instant::now();
        let s = super::parse(xml.as_bytes());
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(s.urls, [format!("http://h/{amps};")]);
        // Processing instructions and comments by the hundred thousand
        // (a doctype's `[` is looked for before its `>` only).
        let many = format!(
            "<urlset>{}<loc>http://h/x</loc>",
            "<?x?><!-- -->".repeat(200_000)
        );
        let t0 = std::time::Instant::now();
        assert_eq!(super::parse(many.as_bytes()).urls, ["http://h/x"]);
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t0.elapsed()
        );
        // Entities still decode, the last one too.
        let s = super::parse(
            b"<urlset><loc>http://h/?a=1&amp;b=&#x32;&#51;&apos;&bogus;&</loc></urlset>",
        );
        assert_eq!(s.urls, ["http://h/?a=1&b=23'&bogus;&"]);
    }

    use super::*;

    #[test]
    fn urlsets_and_indexes() {
        let set = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> http://a.test/1 </loc><lastmod>2026-01-01</lastmod></url>
  <url><loc><![CDATA[http://a.test/2?x=<y>]]></loc></url>
  <url><loc>http://a.test/caf&#233;&#x21;</loc></url>
  <url><sm:loc>http://a.test/3</sm:loc><image:image><image:loc>http://a.test/i.png</image:loc></image:image></url>
</urlset>"#;
        let s = parse(set);
        assert_eq!(s.kind, Kind::Pages);
        assert_eq!(
            s.urls,
            [
                "http://a.test/1",
                "http://a.test/2?x=<y>",
                "http://a.test/café!",
                "http://a.test/3"
            ]
        );
        assert!(!s.cut);
        let index =
            br#"<sitemapindex><sitemap><loc>http://a.test/s1.xml</loc></sitemap></sitemapindex>"#;
        let s = parse(index);
        assert_eq!((s.kind, s.urls.len()), (Kind::Sitemaps, 1));
    }

    #[test]
    fn limits_and_garbage() {
        let mut big = String::from("<urlset>");
        for i in 0..50_010 {
            big.push_str(&format!("<url><loc>http://a.test/{i}</loc></url>"));
        }
        let s = parse(big.as_bytes());
        assert_eq!((s.urls.len(), s.cut), (50_000, true));
        for junk in [
            &b""[..],
            b"<loc>",
            b"<<<>>>",
            b"\xff\xfe<loc>x",
            b"<urlset><url><loc></loc></url>",
        ] {
            let s = parse(junk);
            assert!(s.urls.len() <= 1, "{junk:?}: {s:?}");
        }
    }

    #[cfg(feature = "decode")]
    #[test]
    fn gzipped_sitemaps_are_read() {
        let xml = b"<urlset><url><loc>http://a.test/z</loc></url></urlset>";
        let gz = {
            let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
            g.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(xml, 6));
            g.extend_from_slice(&crate::crc32::crc32(0, xml).to_le_bytes());
            g.extend_from_slice(&(xml.len() as u32).to_le_bytes());
            g
        };
        assert_eq!(parse(&gz).urls, ["http://a.test/z"]);
    }

    #[test]
    fn robots_names_sitemaps() {
        let r = b"User-agent: *\nDisallow: /x\nSitemap: http://a.test/s.xml # main\nsitemap:http://a.test/s2.xml.gz\nSitemap:\n";
        assert_eq!(
            robots_sitemaps(r),
            ["http://a.test/s.xml", "http://a.test/s2.xml.gz"]
        );
    }
}
