//! What a fetched page, robots.txt or sitemap points to: run on the
//! workers (tokenizing a page costs tens of microseconds), never the loop.

use super::Found;
use crate::outcome::{Outcome, UrlKind};
use crate::url::Url;

/// What `o` points to, by its kind: a 2xx HTML page's links, a
/// robots.txt's `Sitemap:` lines, a sitemap's pages or sitemaps. Nothing
/// for an error, another status or another content type. A parser that
/// panics finds nothing (the page is still done: a crawl whose page stayed
/// "in progress" would never end).
pub fn found_in(o: &Outcome) -> Found {
    let Ok(r) = &o.result else {
        return Found::default();
    };
    if !(200..300).contains(&r.status) {
        return Found::default();
    }
    let kind = o.tag.map_or(UrlKind::Page, |t| t.kind);
    let parse = std::panic::AssertUnwindSafe(|| find(o, r, kind));
    std::panic::catch_unwind(parse).unwrap_or_default()
}

/// No URLs.
const NONE: &[&str] = &[];

fn find(o: &Outcome, r: &crate::http::Response, kind: UrlKind) -> Found {
    match kind {
        UrlKind::Page => {
            let content_type = r.headers.get_str("content-type");
            let html = crate::links::is_html(content_type);
            let base = Url::parse(o.final_url()).ok();
            match (html, base) {
                (true, Some(base)) => {
                    let (links, charset) =
                        crate::links::extract_document(&base, &r.body, content_type);
                    let mut found = Found::of(&links.urls, NONE);
                    found.charset = charset;
                    found
                }
                _ => Found::default(),
            }
        }
        UrlKind::Robots => Found::of(NONE, &crate::sitemap::robots_sitemaps(&r.body)),
        UrlKind::Sitemap => {
            let s = crate::sitemap::parse(&r.body);
            match s.kind {
                crate::sitemap::Kind::Pages => Found::of(&s.urls, NONE),
                crate::sitemap::Kind::Sitemaps => Found::of(NONE, &s.urls),
            }
        }
    }
}
