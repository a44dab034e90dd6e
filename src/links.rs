//! Links of an HTML page, for crawls that follow them: a pure function of
//! the page's URL and bytes (no I/O), run on the worker threads, never on
//! the loop (tokenizing a page costs tens of microseconds).
//!
//! The tokenizer is html5gum: WHATWG-conformant (it passes html5lib's
//! tokenizer tests), byte-based (invalid UTF-8 recovered from, not an
//! error), no `unsafe`, and with its default features off no dependency at
//! all. html5ever would add a tree builder and a dozen crates for what a
//! link extractor does not need; quick-xml and lol_html are not HTML
//! tokenizers of the standard's kind (the first is XML, the second streams
//! rewrites through a C-like state machine with more dependencies).
//!
//! What counts as a link: `a` and `area` `href`, `frame` and `iframe`
//! `src`, `<meta http-equiv="refresh" content="N; url=...">`; relative ones
//! resolved against the first `<base href>` (or the page's URL). Honoured
//! by default: `rel="nofollow"` on a link, and `<meta name="robots"
//! content="nofollow">` (or `none`) for the whole page. Script, style and
//! other raw-text content is not searched (the tokenizer switches states
//! the way a browser's tree builder would for those elements).
//!
//! ```
//! use oneloop::url::Url;
//! let page = Url::parse("http://a.test/dir/page").unwrap();
//! let html = br#"<a href="x">x</a> <a href="/y" rel="nofollow">y</a> <script>"<a href='/no'>"</script>"#;
//! let links = oneloop::links::extract(&page, html);
//! assert_eq!(links.urls, ["http://a.test/dir/x"]);
//! ```

use crate::url::Url;
use html5gum::Tokenizer;

/// What a page links to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Absolute http(s) URLs, in page order (duplicates kept: the frontier
    /// removes them).
    pub urls: Vec<String>,
    /// The page asked that its links not be followed (`<meta name=robots
    /// content=nofollow>`): `urls` is empty.
    pub nofollow: bool,
}

/// Is this `Content-Type` one whose links are followed? `text/html` and
/// `application/xhtml+xml` only.
pub fn is_html(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// The element kinds whose attributes matter here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Element {
    Anchor,
    Frame,
    Base,
    Meta,
    Other,
}

/// The attributes that matter here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    Href,
    Src,
    Rel,
    Name,
    HttpEquiv,
    Content,
    Other,
}

/// What one start tag says, as its events arrive.
struct TagState {
    element: Element,
    attr: Attr,
    /// The attributes that matter, the first of each name (as the
    /// standard says: later duplicates are ignored).
    values: [Option<String>; 6],
}

/// What a start tag contributes.
enum Found {
    Link(String),
    Base(String),
    Refresh(String),
    NoFollow,
}

impl TagState {
    fn take(&mut self, a: Attr) -> Option<String> {
        let i = a as usize;
        self.values.get_mut(i).and_then(Option::take)
    }

    /// The tag is complete: what it says, if anything.
    fn close(&mut self) -> Option<Found> {
        let found = match self.element {
            Element::Anchor => {
                let rel = self
                    .take(Attr::Rel)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let nofollow = rel.split_ascii_whitespace().any(|r| r == "nofollow");
                self.take(Attr::Href).filter(|_| !nofollow).map(Found::Link)
            }
            Element::Frame => self.take(Attr::Src).map(Found::Link),
            Element::Base => self.take(Attr::Href).map(Found::Base),
            Element::Meta => {
                let name = self
                    .take(Attr::Name)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let equiv = self
                    .take(Attr::HttpEquiv)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let content = self.take(Attr::Content).unwrap_or_default();
                if name == "robots" {
                    let c = content.to_ascii_lowercase();
                    let no = c
                        .split(',')
                        .any(|d| matches!(d.trim(), "nofollow" | "none"));
                    no.then_some(Found::NoFollow)
                } else if equiv == "refresh" {
                    refresh_target(&content).map(Found::Refresh)
                } else {
                    None
                }
            }
            Element::Other => None,
        };
        self.values = Default::default();
        found
    }
}

/// Links kept per page (the first ones): a 10 MiB page of `<a href=/x>`
/// holds a million, and two of them on two workers peaked at 240 MB. At
/// this bound a page's links take at most ~10 MB on its worker (about 200
/// bytes a link, raw and resolved), whatever the page. The sitemap
/// protocol's own bound per file is the same.
pub const MAX_LINKS: usize = 50_000;

/// Double-quoted attribute values kept per tag; the rest of such a tag is
/// dropped before tokenizing. html5gum (0.8 and 0.9) passes from one
/// double-quoted attribute to the next by nested calls, so a tag of N
/// such attributes costs N stack frames: `<p` and 10,000 ` x="1"` (a 60 KB
/// page) overflowed a worker's 2 MiB stack and aborted the whole process,
/// which no `catch_unwind` can stop. Measured: about 220 bytes of stack per
/// attribute in a release build, 4-7 KB in a debug one; 200 attributes
/// stay under 1.4 MB even there. Real tags have a few dozen at most.
pub const MAX_QUOTED_ATTRIBUTES: usize = 200;

/// `html` with every start tag cut to [`MAX_QUOTED_ATTRIBUTES`]
/// double-quoted values (the tag's `>` kept); borrowed as it is when no
/// tag has that many (the usual case: one pass, no copy). The scan follows
/// the tokenizer's tag syntax closely enough for this bound: a `<` and a
/// letter open a tag, quoted values after `=` are skipped whole, `>`
/// outside them closes it.
fn tame(html: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(lt) = html[i..].iter().position(|&b| b == b'<') {
        let start = i + lt + 1;
        if !html.get(start).is_some_and(u8::is_ascii_alphabetic) {
            i = start;
            continue;
        }
        let (mut k, mut quoted, mut cut) = (start, 0usize, None);
        while k < html.len() && html[k] != b'>' {
            if html[k] != b'=' {
                k += 1;
                continue;
            }
            k += 1;
            while k < html.len() && html[k].is_ascii_whitespace() {
                k += 1;
            }
            let Some(&q) = html.get(k).filter(|&&b| b == b'"' || b == b'\'') else {
                continue;
            };
            let close = html[k + 1..].iter().position(|&b| b == q);
            k = close.map_or(html.len(), |c| k + 1 + c + 1);
            if q == b'"' {
                quoted += 1;
                if quoted == MAX_QUOTED_ATTRIBUTES {
                    cut = Some(k);
                }
            }
        }
        if let Some(from) = cut.filter(|&from| from < k) {
            cuts.push((from, k));
        }
        i = k;
    }
    if cuts.is_empty() {
        return std::borrow::Cow::Borrowed(html);
    }
    let mut out = Vec::with_capacity(html.len());
    let mut at = 0;
    for (from, to) in cuts {
        out.extend_from_slice(&html[at..from]);
        at = to;
    }
    out.extend_from_slice(&html[at..]);
    std::borrow::Cow::Owned(out)
}

/// A crawler runs no scripts, so `<noscript>` content is markup, as a
/// browser with scripting off parses it. The tokenizer's state switching
/// reads it as raw text (scripting on): every `<noscript` start tag gets
/// another name on a copy of the page (one copy, and only for pages that
/// have one), so its links are found.
fn scripting_off(html: std::borrow::Cow<'_, [u8]>) -> std::borrow::Cow<'_, [u8]> {
    // Where each `<noscript` starts (a scan from one `<` to the next).
    let starts = |h: &[u8]| -> Vec<usize> {
        let mut at = Vec::new();
        let mut i = 0;
        while let Some(lt) = h[i..].iter().position(|&b| b == b'<') {
            let p = i + lt;
            if h.len() >= p + 9 && h[p + 1..p + 9].eq_ignore_ascii_case(b"noscript") {
                at.push(p);
            }
            i = p + 1;
        }
        at
    };
    let at = starts(&html);
    if at.is_empty() {
        return html;
    }
    let mut owned = html.into_owned();
    for p in at {
        owned[p + 1] = b'x'; // `<xoscript`: an element like any other
    }
    std::borrow::Cow::Owned(owned)
}

/// The links of `html`, a page fetched from `page`.
///
/// Through html5gum's callback emitter: names and values are borrowed from
/// the tokenizer's buffers, and only the attributes that matter are copied
/// (the token API built a map of every attribute of every tag: three
/// times the time).
pub fn extract(page: &Url, html: &[u8]) -> Links {
    extract_in(page, html, encoding_rs::UTF_8)
}

/// The links of a page as a browser reads it: its encoding found the
/// WHATWG way ([`sniff`]: BOM, `Content-Type` charset, a `<meta>` in the
/// first 1,024 bytes, else UTF-8 if the bytes are UTF-8, else
/// windows-1252), the page decoded, and each link's query percent-encoded
/// in that encoding (the URL Standard's rule: a Shift_JIS page's
/// `?q=日本` is `?q=%93%FA%96{`, not UTF-8). Returns the encoding too, if
/// it is not UTF-8.
pub fn extract_document(
    page: &Url,
    html: &[u8],
    content_type: Option<&str>,
) -> (Links, Option<&'static str>) {
    let encoding = sniff(html, content_type);
    if encoding == encoding_rs::UTF_8 {
        return (extract(page, html), None);
    }
    let (text, _, _) = encoding.decode(html);
    (
        extract_in(page, text.as_bytes(), encoding),
        Some(encoding.name()),
    )
}

/// The encoding of a page, in the WHATWG order: a BOM; the `Content-Type`
/// charset; a `<meta charset>` or `<meta http-equiv=content-type>` in its
/// first 1,024 bytes; else UTF-8 when the bytes are valid UTF-8, else
/// windows-1252 (the web's default for unlabeled pages).
pub fn sniff(html: &[u8], content_type: Option<&str>) -> &'static encoding_rs::Encoding {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(html) {
        return enc;
    }
    let label = content_type
        .and_then(charset_param)
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()));
    if let Some(enc) = label.or_else(|| prescan(&html[..html.len().min(1024)])) {
        // A page that says UTF-16 but got here without a BOM is ASCII-
        // compatible bytes: the standard reads it as UTF-8.
        return enc.output_encoding();
    }
    if std::str::from_utf8(html).is_ok() {
        encoding_rs::UTF_8
    } else {
        encoding_rs::WINDOWS_1252
    }
}

/// `charset=...` of a `Content-Type` value.
fn charset_param(value: &str) -> Option<&str> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

/// The standard's prescan, simplified: the first `<meta` whose `charset=`
/// (in a `charset` attribute, or a `content` of `text/html; charset=...`)
/// names a known encoding.
fn prescan(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = find(&lower[at..], b"<meta") {
        let start = at + i + 5;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find(tag, b"charset") {
            let rest = &tag[c + 7..];
            let rest = rest.trim_ascii_start().strip_prefix(b"=").unwrap_or(b"");
            let rest = rest.trim_ascii_start();
            let rest = rest
                .strip_prefix(b"\"")
                .or_else(|| rest.strip_prefix(b"'"))
                .unwrap_or(rest);
            let len = rest
                .iter()
                .position(|&b| {
                    matches!(b, b'"' | b'\'' | b';' | b' ' | b'/' | b'>') || b.is_ascii_whitespace()
                })
                .unwrap_or(rest.len());
            if let Some(enc) = encoding_rs::Encoding::for_label(&rest[..len]) {
                return Some(enc);
            }
        }
        at = end;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A link's query (before any `#`) encoded in `encoding`, non-ASCII bytes
/// percent-encoded; the rest as it is (a path is always UTF-8).
fn encode_query<'l>(
    link: &'l str,
    encoding: &'static encoding_rs::Encoding,
) -> std::borrow::Cow<'l, str> {
    let Some(q) = link.find('?') else {
        return std::borrow::Cow::Borrowed(link);
    };
    let end = link[q..].find('#').map_or(link.len(), |h| q + h);
    let query = &link[q..end];
    if query.is_ascii() {
        return std::borrow::Cow::Borrowed(link);
    }
    let (bytes, _, _) = encoding.encode(query);
    let mut out = String::with_capacity(link.len() + 16);
    out.push_str(&link[..q]);
    for &b in bytes.iter() {
        if b >= 0x80 {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out.push_str(&link[end..]);
    std::borrow::Cow::Owned(out)
}

/// [`extract`] of a page decoded to UTF-8 from `encoding`.
fn extract_in(page: &Url, html: &[u8], encoding: &'static encoding_rs::Encoding) -> Links {
    use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
    let mut tag = TagState {
        element: Element::Other,
        attr: Attr::Other,
        values: Default::default(),
    };
    let callback = move |event: CallbackEvent<'_>, _: html5gum::Span<()>| -> Option<Found> {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                tag.element = match name {
                    b"a" | b"area" => Element::Anchor,
                    b"frame" | b"iframe" => Element::Frame,
                    b"base" => Element::Base,
                    b"meta" => Element::Meta,
                    _ => Element::Other,
                };
                tag.values = Default::default();
                None
            }
            CallbackEvent::AttributeName { name } if tag.element != Element::Other => {
                tag.attr = match name {
                    b"href" | b"xlink:href" => Attr::Href,
                    b"src" => Attr::Src,
                    b"rel" => Attr::Rel,
                    b"name" => Attr::Name,
                    b"http-equiv" => Attr::HttpEquiv,
                    b"content" => Attr::Content,
                    _ => Attr::Other,
                };
                None
            }
            CallbackEvent::AttributeValue { value } if tag.element != Element::Other => {
                if let Some(slot) = tag.values.get_mut(tag.attr as usize) {
                    if slot.is_none() {
                        *slot = Some(String::from_utf8_lossy(value).trim().to_string());
                    }
                }
                None
            }
            CallbackEvent::CloseStartTag { .. } => tag.close(),
            _ => None,
        }
    };
    let mut emitter = CallbackEmitter::new(callback);
    emitter.naively_switch_states(true);
    let mut base: Option<Url> = None;
    let mut raw: Vec<String> = Vec::new();
    let mut nofollow = false;
    let html = scripting_off(tame(html));
    for found in Tokenizer::new_with_emitter(&*html, emitter).flatten() {
        match found {
            Found::Link(l) | Found::Refresh(l) if raw.len() < MAX_LINKS => raw.push(l),
            Found::Link(_) | Found::Refresh(_) => {}
            Found::Base(b) if base.is_none() => base = page.join(&b).ok(),
            Found::Base(_) => {}
            Found::NoFollow => nofollow = true,
        }
    }
    if nofollow {
        return Links {
            urls: Vec::new(),
            nofollow: true,
        };
    }
    let base = base.as_ref().unwrap_or(page);
    let utf8 = encoding == encoding_rs::UTF_8;
    let urls = raw
        .iter()
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            if utf8 {
                base.join(r).ok()
            } else {
                base.join(&encode_query(r, encoding)).ok()
            }
        })
        .map(Url::into_string)
        .collect();
    Links {
        urls,
        nofollow: false,
    }
}

/// The URL of a refresh `content` (`5; url=/next`, `0;URL='x'`).
fn refresh_target(content: &str) -> Option<String> {
    let (_, rest) = content.split_once(';')?;
    let rest = rest.trim_start();
    let eq = rest.find('=')?;
    if !rest[..eq].trim().eq_ignore_ascii_case("url") {
        return None;
    }
    let url = rest[eq + 1..]
        .trim()
        .trim_matches(|c| c == '\'' || c == '"');
    (!url.is_empty()).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_at_most_max_links() {
        let base = Url::parse("http://a.test/").unwrap();
        let html = "<a href=/x>x</a>".repeat(MAX_LINKS + 10);
        assert_eq!(extract(&base, html.as_bytes()).urls.len(), MAX_LINKS);
    }

    /// A Shift_JIS page whose link's query carries Japanese: the query is
    /// encoded in Shift_JIS as a browser does (it was read as lossy UTF-8:
    /// U+FFFD, a URL no server knows); the path stays UTF-8.
    #[test]
    fn a_shift_jis_pages_link_queries_are_encoded_in_shift_jis() {
        let base = Url::parse("http://a.test/").unwrap();
        let (html, _, _) = encoding_rs::SHIFT_JIS
            .encode("<meta charset=\"Shift_JIS\"><a href=\"/検索?q=日本\">日本</a>");
        let (links, charset) = extract_document(&base, &html, Some("text/html"));
        assert_eq!(charset, Some("Shift_JIS"));
        // 本 is 96 7B in Shift_JIS: 7B is `{`, which the standard's query
        // set leaves as it is (percent-encode after encoding).
        assert_eq!(
            links.urls,
            ["http://a.test/%E6%A4%9C%E7%B4%A2?q=%93%FA%96{"]
        );
        // The header's charset comes before the page's own <meta>.
        let (_, charset) = extract_document(&base, &html, Some("text/html; charset=EUC-JP"));
        assert_eq!(charset, Some("EUC-JP"));
        // Unlabeled: UTF-8 if it is UTF-8, else windows-1252.
        let (links, charset) = extract_document(&base, "<a href='/?q=é'>".as_bytes(), None);
        assert_eq!(
            (charset, links.urls),
            (None, vec!["http://a.test/?q=%C3%A9".to_string()])
        );
        let (links, charset) = extract_document(&base, b"<a href='/?q=\xe9'>", None);
        assert_eq!(charset, Some("windows-1252"));
        assert_eq!(links.urls, ["http://a.test/?q=%E9"]);
        // A BOM wins over everything.
        let (_, charset) = extract_document(&base, b"\xef\xbb\xbf<meta charset=latin1>", None);
        assert_eq!(charset, None);
        assert_eq!(
            sniff(
                b"<META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=windows-1251'>",
                None
            )
            .name(),
            "windows-1251"
        );
    }

    /// Links inside `<noscript>` were skipped (parsed as raw text, as with
    /// scripting on); SVG links (`href`, `xlink:href`) were missed.
    #[test]
    fn noscript_content_is_markup_and_svg_links_count() {
        let base = Url::parse("http://a.test/").unwrap();
        let html = b"<NOSCRIPT><a href=/no-js>x</a><img src=/pixel></NoScript>\
                     <svg><a xlink:href=/svg-old><text>o</text></a><a href=/svg-new>n</a></svg>\
                     <script>document.write('<a href=/scripted>')</script>";
        let links = extract(&base, html).urls;
        assert_eq!(
            links,
            [
                "http://a.test/no-js",
                "http://a.test/svg-old",
                "http://a.test/svg-new"
            ]
        );
    }

    /// `<p` and 10,000 ` x="1"` aborted the process (a stack overflow in
    /// the tokenizer, on a thread with the default 2 MiB stack); the
    /// links before and after such a tag are still found.
    #[test]
    fn a_tag_with_ten_thousand_attributes_is_cut_not_a_crash() {
        let mut page = String::from("<a href=/before>b</a><p");
        for _ in 0..10_000 {
            page.push_str(" x=\"1\"");
        }
        page.push_str(" y='>' z=\">\"><a href=/after>a</a>");
        let base = Url::parse("http://a.test/").unwrap();
        let t = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || extract(&base, page.as_bytes()).urls)
            .unwrap();
        assert_eq!(
            t.join().unwrap(),
            ["http://a.test/before", "http://a.test/after"]
        );
        // An ordinary page is read as it is, with no copy.
        let html = b"<a href=\"x\" title=\"a > b\">x</a><p a='\"'>";
        assert!(matches!(tame(html), std::borrow::Cow::Borrowed(_)));
        // Exactly the bound: kept whole; one more: the rest of the tag goes.
        let tag = |n: usize| format!("<p{}>", " x=\"1\"".repeat(n));
        let at_bound = tag(MAX_QUOTED_ATTRIBUTES);
        assert!(matches!(
            tame(at_bound.as_bytes()),
            std::borrow::Cow::Borrowed(_)
        ));
        let over = tag(MAX_QUOTED_ATTRIBUTES + 5);
        assert_eq!(&*tame(over.as_bytes()), at_bound.as_bytes());
    }

    fn links(html: &str) -> Links {
        extract(
            &Url::parse("http://a.test/dir/page.html").unwrap(),
            html.as_bytes(),
        )
    }

    #[test]
    fn every_kind_of_link_resolved() {
        let l = links(
            r#"<html><head><meta http-equiv="Refresh" content="5; URL='/next'"></head><body>
            <A HREF="rel">r</A> <a href='/abs?q=1#frag'>a</a> <a href="//b.test/x">p</a>
            <a href="https://c.test/">c</a> <a>no href</a> <a href="">empty</a>
            <map><area href="area.html"></map> <iframe src="frame1"></iframe> <frame src="/f2">
            <a href="mailto:x@a.test">m</a> <a href="javascript:void(0)">j</a> <a href="ftp://f/">f</a>
            <a href=" spaced ">s</a> <a href="caf&eacute;">e</a>
            </body></html>"#,
        );
        assert_eq!(
            links_of(&l),
            [
                "http://a.test/next",
                "http://a.test/dir/rel",
                "http://a.test/abs?q=1",
                "http://b.test/x",
                "https://c.test/",
                "http://a.test/dir/area.html",
                "http://a.test/dir/frame1",
                "http://a.test/f2",
                "http://a.test/dir/spaced",
                "http://a.test/dir/caf%C3%A9",
            ]
        );
    }

    fn links_of(l: &Links) -> Vec<&str> {
        l.urls.iter().map(String::as_str).collect()
    }

    #[test]
    fn base_href_changes_the_base_once() {
        let l =
            links(r#"<base href="http://other.test/b/"><base href="/ignored/"><a href="x">x</a>"#);
        assert_eq!(links_of(&l), ["http://other.test/b/x"]);
    }

    #[test]
    fn nofollow_is_honoured() {
        let l = links(r#"<a href="a" rel="external NoFollow">a</a><a href="b">b</a>"#);
        assert_eq!(links_of(&l), ["http://a.test/dir/b"]);
        for meta in ["nofollow", "noindex, nofollow", "NONE"] {
            let l = links(&format!(
                r#"<meta name="robots" content="{meta}"><a href="b">b</a>"#
            ));
            assert_eq!((l.urls.len(), l.nofollow), (0, true), "{meta}");
        }
        let l = links(r#"<meta name="robots" content="noindex"><a href="b">b</a>"#);
        assert_eq!(links_of(&l), ["http://a.test/dir/b"]);
    }

    #[test]
    fn raw_text_and_comments_are_not_searched() {
        let l = links(
            r#"<script>document.write("<a href='/s'>")</script><style>a[href="/t"]{}</style>
            <!-- <a href="/c">c</a> --><textarea><a href="/ta"></textarea><a href="/real">r</a>"#,
        );
        assert_eq!(links_of(&l), ["http://a.test/real"]);
    }

    #[test]
    fn broken_html_and_bytes_are_no_error() {
        let l = extract(
            &Url::parse("http://a.test/").unwrap(),
            b"<a href=\"/\xff\xfe\">x</a><a href=/unquoted>u<a href=\"/open",
        );
        assert_eq!(l.urls.len(), 2, "{l:?}");
        assert_eq!(l.urls[1], "http://a.test/unquoted");
    }

    #[test]
    fn only_html_types_are_followed() {
        for (ct, yes) in [
            (Some("text/html"), true),
            (Some("text/html; charset=utf-8"), true),
            (Some("application/xhtml+xml"), true),
            (Some("TEXT/HTML"), true),
            (Some("text/plain"), false),
            (Some("application/json"), false),
            (None, false),
        ] {
            assert_eq!(is_html(ct), yes, "{ct:?}");
        }
    }
}
