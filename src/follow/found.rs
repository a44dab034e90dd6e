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
            let html = crate::links::is_html(r.headers.get_str("content-type"));
            let base = Url::parse(o.final_url()).ok();
            let pages = match (html, base) {
                (true, Some(base)) => crate::links::extract(&base, &r.body).urls,
                _ => Vec::new(),
            };
            Found::of(&pages, NONE)
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
