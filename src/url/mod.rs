//! URL parsing and the origin key `(scheme, host, port)`.
//!
//! A crawler parses every input once, so this parser is small and strict about
//! what it can fetch: `http` and `https` URLs with an ASCII host. It normalizes
//! so that one origin has one spelling: lowercase scheme and host, no default
//! port, no fragment, and unsafe bytes in the path percent-encoded. Thanks to
//! that, the origin key is simply a prefix of the normalized URL string
//! ([`Url::origin`]), which admission, the pool and DNS use as a map key without
//! allocating.
//!
//! ```
//! use oneloop::url::{Url, Scheme};
//! let u = Url::parse("HTTP://Example.COM:80/a b?q=1#frag").unwrap();
//! assert_eq!(u.as_str(), "http://example.com/a%20b?q=1");
//! assert_eq!(u.origin(), "http://example.com");
//! assert_eq!((u.scheme(), u.host(), u.port()), (Scheme::Http, "example.com", 80));
//! assert_eq!(u.path_and_query(), "/a%20b?q=1");
//! ```

mod whatwg;

use crate::error::{Error, ErrorKind, Phase};
use std::fmt;

/// The two schemes oneloop fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Plain HTTP, default port 80.
    Http,
    /// HTTP over TLS, default port 443.
    Https,
}

impl Scheme {
    /// The scheme's name, lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed, normalized `http`/`https` URL.
///
/// Stored as one string plus offsets, so parsing an already-normal URL takes
/// ownership of the caller's string and allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    s: String,
    at: Layout,
}

/// Where a normalized URL's parts lie in its string (what a [`Url`] keeps
/// besides its text): a URL packed into a shared buffer (the frontier's
/// candidates) is read without parsing it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Layout {
    scheme: Scheme,
    host_start: u16,
    host_end: u16,
    path_start: u32,
    port: u16,
}

/// A normalized URL borrowed from somewhere else than a [`Url`]: its text
/// and its [`Layout`]. The accessors live here once; `Url`'s forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UrlRef<'a> {
    s: &'a str,
    at: Layout,
}

impl<'a> UrlRef<'a> {
    /// `s` laid out as `at` says: `s` must be the text of the `Url` whose
    /// [`Url::layout`] `at` is (its parts are sliced by those offsets).
    pub(crate) fn new(s: &'a str, at: Layout) -> UrlRef<'a> {
        UrlRef { s, at }
    }
    pub(crate) fn as_str(self) -> &'a str {
        self.s
    }
    pub(crate) fn host(self) -> &'a str {
        &self.s[self.at.host_start as usize..self.at.host_end as usize]
    }
    pub(crate) fn host_bare(self) -> &'a str {
        let h = self.host();
        h.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h)
    }
    pub(crate) fn authority(self) -> &'a str {
        &self.s[self.at.host_start as usize..self.at.path_start as usize]
    }
    pub(crate) fn path_and_query(self) -> &'a str {
        &self.s[self.at.path_start as usize..]
    }
    pub(crate) fn origin(self) -> &'a str {
        &self.s[..self.at.path_start as usize]
    }
    pub(crate) fn shard(self, n: u64) -> u64 {
        crate::text::fnv1a(self.origin().as_bytes()) % n.max(1)
    }
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::new(Phase::Url, ErrorKind::InvalidUrl, detail)
}

/// Bytes of a path written percent-encoded: the WHATWG path
/// percent-encode set (controls, space, non-ASCII, `"` `<` `>` `` ` ``
/// `{` `}`; `#` and `?` cannot be in a path). `%` itself is kept: the input
/// is taken as encoded where it uses `%`.
fn path_needs_encoding(b: u8) -> bool {
    b <= 0x20 || b >= 0x7f || matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'}')
}

/// Bytes of a query written percent-encoded: the WHATWG special-query set
/// (controls, space, non-ASCII, `"` `<` `>` `'`).
fn query_needs_encoding(b: u8) -> bool {
    b <= 0x20 || b >= 0x7f || matches!(b, b'"' | b'<' | b'>' | b'\'')
}

/// Does a path-and-query need percent-encoding anywhere? (One pass.)
fn tail_needs_encoding(tail: &str) -> bool {
    let mut in_query = false;
    tail.bytes().any(|b| {
        in_query |= b == b'?';
        if in_query {
            query_needs_encoding(b)
        } else {
            path_needs_encoding(b)
        }
    })
}

/// A domain host as the fast path sees it (ASCII, no escapes): no
/// forbidden code point of the WHATWG host parser.
fn valid_reg_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253 + 1
        && host
            .bytes()
            .all(|b| b.is_ascii() && !forbidden_host_byte(b))
}

/// A byte no domain host may hold (the WHATWG forbidden domain code points
/// that are ASCII): controls, space, DEL, and `# % / : < > ? @ [ \ ] ^ |`.
fn forbidden_host_byte(b: u8) -> bool {
    b <= b' '
        || b == 0x7f
        || matches!(
            b,
            b'#' | b'%'
                | b'/'
                | b':'
                | b'<'
                | b'>'
                | b'?'
                | b'@'
                | b'['
                | b'\\'
                | b']'
                | b'^'
                | b'|'
        )
}

/// The scheme, and what follows its `://`.
fn split_scheme(trimmed: &str) -> Result<(Scheme, &str), Error> {
    let unsupported = |name: &str| {
        Error::new(
            Phase::Url,
            ErrorKind::UnsupportedScheme,
            format!("scheme {name:?} (only http and https)"),
        )
    };
    let Some(i) = trimmed.find("://") else {
        if let Some(colon) = trimmed.find(':') {
            let name = &trimmed[..colon];
            if name.eq_ignore_ascii_case("http") || name.eq_ignore_ascii_case("https") {
                return Err(invalid(format!(
                    "\"{name}:\" must be followed by \"//\" and a host"
                )));
            }
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(unsupported(name));
            }
        }
        return Err(invalid("missing scheme://"));
    };
    let name = &trimmed[..i];
    let scheme = if name.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else if name.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err(unsupported(name));
    } else {
        return Err(invalid("no scheme"));
    };
    Ok((scheme, &trimmed[i + 3..]))
}

/// The host and the port text of an authority (its `userinfo@` taken off
/// already); an IPv6 literal is bracketed and contains colons.
fn split_authority(authority: &str) -> Result<(&str, Option<&str>), Error> {
    let (host, port_str) = if let Some(stripped) = authority.strip_prefix('[') {
        let close = stripped
            .find(']')
            .ok_or_else(|| invalid("unclosed '[' in host"))?;
        let inside = &stripped[..close];
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(invalid(format!("bad IPv6 literal {inside:?}")));
        }
        let after = &stripped[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(invalid("junk after IPv6 literal")),
        };
        (&authority[..close + 2], port)
    } else {
        match authority.rfind(':') {
            Some(i) => (&authority[..i], Some(&authority[i + 1..])),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("empty host"));
    }
    if !host.starts_with('[') && !valid_reg_name(host) {
        return Err(invalid(format!("bad host {host:?}")));
    }
    if host.len() > 1000 {
        return Err(invalid("host too long"));
    }
    Ok((host, port_str))
}

/// The port: the scheme's default when absent or empty, else 1..=65535.
fn parse_port(port_str: Option<&str>, scheme: Scheme) -> Result<u16, Error> {
    let p = match port_str {
        None | Some("") => return Ok(scheme.default_port()),
        Some(p) => p,
    };
    if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("bad port {p:?}")));
    }
    let n: u32 = p.parse().map_err(|_| invalid(format!("bad port {p:?}")))?;
    if n > 65535 {
        return Err(invalid(format!("port {n} out of range")));
    }
    Ok(n as u16)
}

/// Writes the normal form: lower-case host, the port only when not the
/// default, a path starting with `/`, bytes outside the URL syntax
/// percent-encoded. Returns it with where its path starts.
fn normal_form(
    scheme: Scheme,
    userinfo: &str,
    host: &str,
    port: Option<u16>,
    tail: &str,
    hint: usize,
) -> (String, usize) {
    let mut s = String::with_capacity(hint + 8);
    s.push_str(scheme.as_str());
    s.push_str("://");
    s.push_str(userinfo);
    for c in host.chars() {
        s.push(c.to_ascii_lowercase());
    }
    if let Some(port) = port {
        s.push(':');
        s.push_str(&port.to_string());
    }
    let path_start = s.len();
    // Dot segments resolved (RFC 3986 §5.2.4), as for a redirect's target:
    // `/public/../private` is `/private`, to robots.txt and to the server.
    let resolved;
    let tail = if has_dot_segment(tail) {
        let (path, query) = tail.split_at(tail.find('?').unwrap_or(tail.len()));
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        resolved = remove_dot_segments(&path) + query;
        resolved.as_str()
    } else {
        tail
    };
    if !tail.starts_with('/') {
        s.push('/');
    }
    let query_at = tail.find('?').unwrap_or(tail.len());
    for (i, &b) in tail.as_bytes().iter().enumerate() {
        let encode = if i < query_at {
            path_needs_encoding(b)
        } else {
            query_needs_encoding(b)
        };
        if encode {
            s.push('%');
            s.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            s.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        } else {
            s.push(char::from(b));
        }
    }
    (s, path_start)
}

impl Url {
    /// Parses and normalizes `input`. Takes a `String` so a URL that is already
    /// normal is kept without copying.
    pub fn parse_owned(input: String) -> Result<Url, Error> {
        Url::parse_or_return(input).map_err(|(e, _)| e)
    }

    /// Like [`parse_owned`](Self::parse_owned), but a failure hands the input
    /// back with the error (the crawler reports it on the outcome without
    /// having copied it first).
    pub fn parse_or_return(input: String) -> Result<Url, (Error, String)> {
        let mut slot = Some(input);
        match Url::parse_slot(&mut slot) {
            Ok(url) => Ok(url),
            Err(e) => Err((e, slot.unwrap_or_default())),
        }
    }

    /// The parser. Borrows the input from `slot`, and takes it only when it
    /// is already in normal form (so it becomes the `Url` without a copy).
    /// An input that needs the WHATWG standard's preparing (see
    /// `whatwg.rs`) is rewritten first; the slot keeps the input as given,
    /// for an error.
    fn parse_slot(slot: &mut Option<String>) -> Result<Url, Error> {
        let input: &str = slot.as_deref().unwrap_or("");
        if whatwg::needs_preparing(input) {
            let prepared = whatwg::prepare(input)?;
            return Url::parse_plain(&mut Some(prepared), true);
        }
        Url::parse_plain(slot, false)
    }

    /// The plain parser: `scheme://[userinfo@]host[:port][/path][?query]`
    /// (a `userinfo@` only when `prepared`: the fast path has none).
    fn parse_plain(slot: &mut Option<String>, prepared: bool) -> Result<Url, Error> {
        let input: &str = slot.as_deref().unwrap_or("");
        let trimmed = input.trim();
        let (scheme, rest) = split_scheme(trimmed)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let userinfo = match prepared {
            true => authority.rfind('@').map_or("", |at| &authority[..=at]),
            false => "",
        };
        let mut tail = &rest[authority_end..];
        if let Some(hash) = tail.find('#') {
            tail = &tail[..hash];
        }
        let (written_host, port_str) = split_authority(&authority[userinfo.len()..])?;
        let port = parse_port(port_str, scheme)?;
        let ipv4 = match ipv4_host(written_host)? {
            // Written as it is written back: keep it (no allocation).
            Some(_) if is_dotted_quad(written_host) => None,
            Some(ip) => Some(ip.to_string()),
            None => None,
        };
        let host = ipv4.as_deref().unwrap_or(written_host);

        // Is the input already in normal form? Then keep the caller's string.
        let scheme_str = scheme.as_str();
        let explicit_port = port != scheme.default_port();
        let is_normal = trimmed.len() == input.len()
            && host == written_host
            && trimmed.starts_with(scheme_str)
            && !host.bytes().any(|b| b.is_ascii_uppercase())
            && port_str != Some("")
            && (explicit_port == port_str.is_some())
            && !tail.is_empty()
            && tail.starts_with('/')
            && tail.len() == rest.len() - authority_end
            && !tail_needs_encoding(tail)
            && !has_dot_segment(tail);
        let host_start = scheme_str.len() + 3 + userinfo.len();
        let host_end = host_start + host.len();
        let (s, path_start) = if is_normal {
            let path_start = input.len() - tail.len();
            (slot.take().unwrap_or_default(), path_start)
        } else {
            normal_form(
                scheme,
                userinfo,
                host,
                explicit_port.then_some(port),
                tail,
                input.len(),
            )
        };
        let at = Layout {
            scheme,
            host_start: host_start as u16,
            host_end: host_end as u16,
            path_start: path_start as u32,
            port,
        };
        Ok(Url { s, at })
    }

    /// Parses and normalizes `input`.
    // Named like url::Url::parse; the FromStr impl below forwards here.
    #[allow(clippy::should_implement_trait)]
    pub fn parse(input: &str) -> Result<Url, Error> {
        Url::parse_owned(input.to_string())
    }

    /// The normalized URL.
    pub fn as_str(&self) -> &str {
        &self.s
    }
    /// Gives the normalized URL string back.
    pub fn into_string(self) -> String {
        self.s
    }
    /// Where its parts lie in [`as_str`](Self::as_str).
    pub(crate) fn layout(&self) -> Layout {
        self.at
    }
    /// Borrowed: what the accessors read.
    pub(crate) fn view(&self) -> UrlRef<'_> {
        UrlRef::new(&self.s, self.at)
    }
    /// It has credentials (`user:pass@`): the parser keeps them as the
    /// standard does; a fetch refuses them (`url: invalid_url`), as their
    /// use would print or archive a password.
    pub fn has_credentials(&self) -> bool {
        self.at.host_start as usize > self.at.scheme.as_str().len() + 3
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.at.scheme
    }
    /// The host, lowercase; IPv6 literals keep their brackets.
    pub fn host(&self) -> &str {
        self.view().host()
    }
    /// The host without IPv6 brackets: what DNS and the TLS server name use.
    pub fn host_bare(&self) -> &str {
        self.view().host_bare()
    }
    /// The port, explicit or default.
    pub fn port(&self) -> u16 {
        self.at.port
    }
    /// `host[:port]`, as the `Host` header wants it (port only when not default).
    pub fn authority(&self) -> &str {
        self.view().authority()
    }
    /// The request target: path and query, never empty.
    pub fn path_and_query(&self) -> &str {
        self.view().path_and_query()
    }
    /// The origin key `scheme://host[:port]`, a prefix of [`Url::as_str`]. Two
    /// URLs have the same origin exactly when these strings are equal.
    pub fn origin(&self) -> &str {
        self.view().origin()
    }

    /// Which of `n` shards this URL's origin belongs to: FNV-1a (64-bit) of
    /// [`origin`](Self::origin) (already lowercased, default port omitted),
    /// modulo `n`. Stable across machines and versions: `--shard I/N` and
    /// every process of a sharded crawl rely on it (`docs/scaling.md`).
    ///
    /// ```
    /// let url = oneloop::url::Url::parse("http://A.test/x").unwrap();
    /// assert_eq!(url.shard(u64::MAX), 0xb02f_3dfa_f6bc_4234);
    /// assert_eq!(url.shard(7), 0xb02f_3dfa_f6bc_4234 % 7);
    /// ```
    pub fn shard(&self, n: u64) -> u64 {
        self.view().shard(n)
    }

    /// Resolves a reference (e.g. a `Location` header) against this URL, per
    /// RFC 3986 §5.2: absolute URLs, scheme-relative `//host/...`,
    /// absolute paths, relative paths with dot segments, query-only and
    /// fragment-only references.
    pub fn join(&self, reference: &str) -> Result<Url, Error> {
        // The WHATWG standard's reading: controls trimmed, tabs and
        // newlines removed, `\` as `/` (before the query).
        let cleaned = whatwg::clean_reference(reference);
        let mut r: &str = &cleaned;
        // A scheme is letters/digits/+-. before the first ':' with no '/' before it.
        let has_scheme = r
            .find(':')
            .map(|i| {
                let name = &r[..i];
                !name.is_empty()
                    && name.as_bytes()[0].is_ascii_alphabetic()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            })
            .unwrap_or(false);
        if has_scheme {
            let (name, rest) = r.split_at(r.find(':').unwrap_or(0));
            let rest = &rest[1..];
            // `http:foo` and `http:/foo` against an http base are relative
            // (the standard's special relative state); another scheme, or
            // `http://`, is absolute.
            if !name.eq_ignore_ascii_case(self.at.scheme.as_str()) || rest.starts_with("//") {
                return Url::parse(r);
            }
            r = rest;
        }
        let r = match r.find('#') {
            Some(i) => &r[..i],
            None => r,
        };
        if let Some(rest) = r.strip_prefix("//") {
            // Scheme-relative; more slashes are the authority's too.
            return Url::parse(&format!("{}://{}", self.at.scheme.as_str(), rest));
        }
        let base_pq = self.path_and_query();
        let (base_path, base_query) = match base_pq.find('?') {
            Some(i) => (&base_pq[..i], Some(&base_pq[i..])),
            None => (base_pq, None),
        };
        let (r_path, r_query) = match r.find('?') {
            Some(i) => (&r[..i], Some(&r[i..])),
            None => (r, None),
        };
        let (path, query) = if r_path.is_empty() {
            (base_path.to_string(), r_query.or(base_query).unwrap_or(""))
        } else if r_path.starts_with('/') {
            (remove_dot_segments(r_path), r_query.unwrap_or(""))
        } else {
            let dir = match base_path.rfind('/') {
                Some(i) => &base_path[..=i],
                None => "/",
            };
            (
                remove_dot_segments(&format!("{dir}{r_path}")),
                r_query.unwrap_or(""),
            )
        };
        Url::parse(&format!("{}{}{}", self.origin(), path, query))
    }
}

/// Is `seg` a dot segment: `.` (1) or `..` (2), also percent-encoded
/// (`%2e`, as the WHATWG URL standard reads it)?
fn dot_segment(seg: &str) -> Option<u8> {
    let mut rest = seg.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() && dots < 3 {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[..2] == *b"%2" && rest[2] | 0x20 == b'e' {
            rest = &rest[3..];
        } else {
            return None;
        }
        dots += 1;
    }
    (rest.is_empty() && (1..=2).contains(&dots)).then_some(dots)
}

/// WHATWG URL standard, the IPv4 parser: a host whose last label is a
/// number is an IPv4 address in one of its old forms (`127.1`,
/// `2130706433`, `0x7f.1`, `0177.0.0.1`), or an error; it never goes to DNS.
/// No allocation (it runs for every URL).
fn ipv4_host(host: &str) -> Result<Option<std::net::Ipv4Addr>, Error> {
    let h = host.strip_suffix('.').unwrap_or(host);
    let last = h.rsplit('.').next().unwrap_or("");
    // Names end in a label that starts with a letter: the everyday case,
    // decided by one byte.
    if !last.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Ok(None);
    }
    // A number even when too big for one (`0xFFFF...`): then the host is a
    // bad address, never a name.
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    let ends_in_number = !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || hex);
    if !ends_in_number {
        return Ok(None);
    }
    let bad = || invalid(format!("bad IPv4 address {host:?}"));
    let mut numbers = [0u64; 4];
    let mut count = 0;
    for part in h.split('.') {
        if count == 4 {
            return Err(bad());
        }
        numbers[count] = ipv4_number(part).ok_or_else(bad)?;
        count += 1;
    }
    let (init, last) = (&numbers[..count - 1], numbers[count - 1]);
    if init.iter().any(|&n| n > 255) || last >= 1u64 << (8 * (5 - count)) {
        return Err(bad());
    }
    let mut ip = last;
    for (i, n) in init.iter().enumerate() {
        ip += n << (8 * (3 - i));
    }
    Ok(Some(std::net::Ipv4Addr::from(ip as u32)))
}

/// Is `host` already written as `a.b.c.d` in decimal, without leading
/// zeros (the form an address is written back in)?
fn is_dotted_quad(host: &str) -> bool {
    let mut parts = 0;
    for part in host.split('.') {
        parts += 1;
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part.len() == 1 || !part.starts_with('0'));
        if !ok {
            return false;
        }
    }
    parts == 4
}

/// One part of an old-style IPv4 address: `0x` hex, a leading `0` octal,
/// else decimal.
fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(x) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (x, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Does the path part of `tail` (before any `?`) have a dot segment?
fn has_dot_segment(tail: &str) -> bool {
    let path = tail.split('?').next().unwrap_or("");
    // No `.` and no `%` (of `%2e`): no segment to look at, the usual case.
    if !path.bytes().any(|b| b == b'.' || b == b'%') {
        return false;
    }
    path.split('/').any(|seg| dot_segment(seg).is_some())
}

/// RFC 3986 §5.2.4, on an absolute path.
pub(crate) fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match dot_segment(seg) {
            Some(1) => trailing_slash = i == last,
            Some(_) => {
                out.pop();
                trailing_slash = i == last;
            }
            None => {
                out.push(seg);
                trailing_slash = false;
            }
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing_slash || s.is_empty() {
        s.push('/');
    }
    s
}

impl std::str::FromStr for Url {
    type Err = Error;
    fn from_str(s: &str) -> Result<Url, Error> {
        Url::parse(s)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.s)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({:?})", self.s)
    }
}

#[cfg(test)]
mod tests;
