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

/// Parses a sitemap file (gunzipped first if it is gzip).
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
    let mut cut = body.len() > MAX_BYTES;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_BYTES)]);
    let kind = if text.contains("<sitemapindex") || text.contains(":sitemapindex") {
        Kind::Sitemaps
    } else {
        Kind::Pages
    };
    let mut urls = Vec::new();
    let mut rest = &text[..];
    while let Some(open) = find_tag(rest, "loc") {
        rest = &rest[open..];
        let Some(close) = rest.find("</") else { break };
        let raw = rest[..close].trim();
        rest = &rest[close..];
        if urls.len() == MAX_URLS {
            cut = true;
            break;
        }
        let url = unescape(raw);
        if !url.is_empty() {
            urls.push(url);
        }
    }
    Sitemap { kind, urls, cut }
}

/// The byte after the next `<loc>` or `<prefix:loc>` start tag.
fn find_tag(s: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find('<') {
        let at = from + i + 1;
        let end = at + s[at..].find('>')?;
        let tag = s[at..end].trim();
        let (prefix, local) = tag.rsplit_once(':').unwrap_or(("", tag));
        // The image and video extensions have `loc`s of their own: media
        // files, not pages.
        let start_tag = !prefix.starts_with('/') && !local.starts_with('/');
        if start_tag && local == name && !matches!(prefix, "image" | "video" | "news") {
            return Some(end + 1);
        }
        from = end + 1;
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
