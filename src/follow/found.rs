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
    let mut found = Found::default();
    find_into(o, &mut found);
    found
}

/// [`found_in`], into `found` (emptied first): a crawl hands its workers
/// the buffers of pages already taken, so what the loop's thread lets go
/// of is not freed there (see [`Candidates`](crate::frontier::Candidates)).
pub fn find_into(o: &Outcome, found: &mut Found) {
    found.clear();
    let Ok(r) = &o.result else {
        return;
    };
    if !(200..300).contains(&r.status) {
        return;
    }
    let kind = o.tag.map_or(UrlKind::Page, |t| t.kind);
    let parse = std::panic::AssertUnwindSafe(|| find(o, r, kind, &mut *found));
    if std::panic::catch_unwind(parse).is_err() {
        found.clear();
    }
}

fn find(o: &Outcome, r: &crate::http::Response, kind: UrlKind, found: &mut Found) {
    match kind {
        UrlKind::Page => {
            let content_type = r.headers.get_str("content-type");
            let html = crate::links::is_html(content_type);
            let base = Url::parse(o.final_url()).ok();
            if let (true, Some(base)) = (html, base) {
                let (links, charset) = crate::links::extract_document(&base, &r.body, content_type);
                // Links to the page itself are seen: left out here.
                let itself = crate::frontier::canonical(o.final_url());
                let except = itself.as_ref().map(|u| u.as_str());
                found.pages.extend_except(&links.urls, except.as_slice());
                found.charset = charset;
            }
        }
        UrlKind::Robots => found
            .sitemaps
            .extend(&crate::sitemap::robots_sitemaps(&r.body)),
        UrlKind::Sitemap => {
            let s = crate::sitemap::parse(&r.body);
            match s.kind {
                crate::sitemap::Kind::Pages => found.pages.extend(&s.urls),
                crate::sitemap::Kind::Sitemaps => found.sitemaps.extend(&s.urls),
            }
        }
    }
}
