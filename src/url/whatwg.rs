//! The WHATWG URL Standard's front for the special schemes http and https:
//! what a browser does to an input before the plain parser of `mod.rs`
//! reads it. Only inputs that need it come here (tabs or newlines,
//! leading or trailing controls, backslashes, `http:` without `//`,
//! credentials, escapes or non-ASCII in the host, IPv6 literals, odd
//! ports); the everyday URL takes the fast path, allocation-free.
//!
//! What it does, after the standard's state machine:
//! - leading and trailing C0 controls and spaces trimmed, every tab and
//!   newline removed (HTML that wraps an `href`);
//! - the scheme lower-cased; any run of `/` and `\` after it is the
//!   authority's start (`http:example.com`, `https:/x`, `http:\\x`);
//! - `\` is `/` in the path (`images\photo.html` from Windows-authored
//!   sites);
//! - credentials percent-encoded with the userinfo set (`user:pass@`),
//!   empty ones dropped;
//! - the host percent-decoded, then checked for forbidden code points and
//!   lower-cased; an IPv6 literal written back in its canonical form
//!   (`[1:0::]` → `[1::]`, `[::127.0.0.1]` → `[::7f00:1]`);
//! - the port's leading zeros dropped, `0` allowed.
//!
//! - a Unicode host (or one with `xn--` labels) goes through IDNA (UTS #46,
//!   feature `idna`, on by default; without it such a host is a typed
//!   error, `url: invalid_url`, naming it).

use super::invalid;
use crate::error::{Error, ErrorKind, Phase};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Does `input` need the standard's preparing before the fast parser?
/// One pass over the bytes, no allocation: it runs for every URL.
pub(super) fn needs_preparing(input: &str) -> bool {
    let b = input.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) if f > b' ' && l > b' ' => {}
        _ => return true,
    }
    let after = if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return true; // no `scheme://`: the standard says what it is
    };
    // The authority: anything but a plain `host[:port]` is prepared.
    let mut i = after;
    let mut colon = None;
    while i < b.len() {
        match b[i] {
            b'/' | b'?' | b'#' => break,
            b'@' | b'%' | b'[' | b'\\' | b'\t' | b'\n' | b'\r' | 0x80.. => return true,
            b':' => colon = Some(i),
            // An `xn--` label: IDNA checks it.
            b'x' | b'X'
                if (i == after || b[i - 1] == b'.')
                    && b.len() >= i + 4
                    && b[i + 1..i + 4].eq_ignore_ascii_case(b"n--") =>
            {
                return true
            }
            _ => {}
        }
        i += 1;
    }
    if i == after {
        return true; // no host
    }
    if let Some(c) = colon {
        let port = &b[c + 1..i];
        if port.is_empty() || (port.len() > 1 && port[0] == b'0') {
            return true;
        }
    }
    b[i..]
        .iter()
        .any(|&c| matches!(c, b'\t' | b'\n' | b'\r' | b'\\'))
}

/// An `xn--` label (any case) somewhere: IDNA checks it.
fn has_punycode_label(authority: &[u8]) -> bool {
    authority
        .windows(4)
        .enumerate()
        .any(|(i, w)| w.eq_ignore_ascii_case(b"xn--") && (i == 0 || authority[i - 1] == b'.'))
}

/// Leading and trailing C0 controls and spaces trimmed, tabs and newlines
/// removed.
fn clean(input: &str) -> Cow<'_, str> {
    let trimmed = input.trim_matches(|c: char| c <= ' ');
    if trimmed.contains(['\t', '\n', '\r']) {
        Cow::Owned(
            trimmed
                .chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect(),
        )
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// A reference to resolve against an http(s) base, cleaned as
/// [`prepare`] cleans an input, with `\` as `/` before its query.
pub(super) fn clean_reference(reference: &str) -> Cow<'_, str> {
    let cleaned = clean(reference);
    let query = cleaned.find(['?', '#']).unwrap_or(cleaned.len());
    if cleaned[..query].contains('\\') {
        let mut s = cleaned[..query].replace('\\', "/");
        s.push_str(&cleaned[query..]);
        Cow::Owned(s)
    } else {
        cleaned
    }
}

/// `input` rewritten into the plain absolute form the fast parser reads:
/// `scheme://[userinfo@]host[:port]/path?query`.
pub(super) fn prepare(input: &str) -> Result<String, Error> {
    let s = clean(input);
    let Some(colon) = s.find(':') else {
        // `example.com/x`: wget would guess http://; a crawl should not
        // guess which of the two a site serves, so it says what to write.
        return Err(invalid(format!(
            "missing scheme:// (write http://{s} or https://{s})"
        )));
    };
    let name = &s[..colon];
    let scheme = if name.eq_ignore_ascii_case("http") {
        "http"
    } else if name.eq_ignore_ascii_case("https") {
        "https"
    } else if name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err(Error::new(
            Phase::Url,
            ErrorKind::UnsupportedScheme,
            format!("scheme {name:?} (only http and https)"),
        ));
    } else {
        return Err(invalid("no scheme"));
    };
    // Special authority: any run of slashes either way starts it.
    let rest = s[colon + 1..].trim_start_matches(['/', '\\']);
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (host, port) = split_host_port(hostport)?;
    let mut out = String::with_capacity(input.len() + 16);
    out.push_str(scheme);
    out.push_str("://");
    if let Some(u) = userinfo {
        push_userinfo(&mut out, u);
    }
    out.push_str(&host);
    if let Some(p) = port {
        let _ = write!(out, ":{p}");
    }
    let query = tail.find(['?', '#']).unwrap_or(tail.len());
    out.push_str(&tail[..query].replace('\\', "/"));
    out.push_str(&tail[query..]);
    Ok(out)
}

/// The host (decoded, checked, lower-cased; an IPv6 literal canonical)
/// and the port (leading zeros gone; `None` when absent or empty).
fn split_host_port(hostport: &str) -> Result<(String, Option<u32>), Error> {
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport
            .find(']')
            .ok_or_else(|| invalid("unclosed '[' in host"))?;
        let inside = &hostport[1..close];
        let ip: std::net::Ipv6Addr = inside
            .parse()
            .map_err(|_| invalid(format!("bad IPv6 literal {inside:?}")))?;
        let after = &hostport[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(invalid("junk after IPv6 literal")),
        };
        (format!("[{}]", ipv6_text(ip)), port)
    } else {
        let (h, p) = match hostport.rfind(':') {
            Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
            None => (hostport, None),
        };
        (domain(h)?, p)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            let digits = p.trim_start_matches('0');
            if digits.len() > 5 {
                return Err(invalid(format!("port {p} out of range")));
            }
            let n: u32 = if digits.is_empty() {
                0
            } else {
                digits.parse().unwrap_or(u32::MAX)
            };
            if n > 65535 {
                return Err(invalid(format!("port {n} out of range")));
            }
            Some(n)
        }
        Some(p) => return Err(invalid(format!("bad port {p:?}"))),
    };
    Ok((host, port))
}

/// A domain host: percent-decoded, no forbidden code point, ASCII only (no
/// IDNA here), lower-cased.
fn domain(host: &str) -> Result<String, Error> {
    if host.is_empty() {
        return Err(invalid("empty host"));
    }
    let bytes = percent_decode(host.as_bytes());
    let Ok(decoded) = String::from_utf8(bytes) else {
        return Err(invalid(format!(
            "bad host {host:?} (not UTF-8 once decoded)"
        )));
    };
    let punycode = has_punycode_label(decoded.as_bytes());
    #[cfg(feature = "idna")]
    let decoded = if !decoded.is_ascii() || punycode {
        // UTS #46 (the standard's "domain to ASCII"): mapping (full-width
        // forms, soft hyphens, ideographic full stops), NFC, punycode, and
        // the validity of `xn--` labels.
        idna::domain_to_ascii(&decoded).map_err(|_| invalid(format!("bad host {host:?} (IDNA)")))?
    } else {
        decoded
    };
    #[cfg(not(feature = "idna"))]
    if !decoded.is_ascii() || punycode {
        return Err(invalid(format!(
            "host {decoded:?}: Unicode and xn-- host names need the idna feature"
        )));
    }
    if decoded.is_empty() || decoded.bytes().any(super::forbidden_host_byte) {
        return Err(invalid(format!("bad host {host:?}")));
    }
    Ok(decoded.to_ascii_lowercase())
}

/// The userinfo, percent-encoded with the standard's userinfo set; empty
/// credentials dropped, an empty password's `:` too.
fn push_userinfo(out: &mut String, userinfo: &str) {
    let (user, pass) = match userinfo.find(':') {
        Some(i) => (&userinfo[..i], &userinfo[i + 1..]),
        None => (userinfo, ""),
    };
    if user.is_empty() && pass.is_empty() {
        return;
    }
    let encode = |out: &mut String, s: &str| {
        for &b in s.as_bytes() {
            let set = b <= b' '
                || b >= 0x7f
                || matches!(
                    b,
                    b'"' | b'#'
                        | b'<'
                        | b'>'
                        | b'?'
                        | b'`'
                        | b'{'
                        | b'}'
                        | b'/'
                        | b':'
                        | b';'
                        | b'='
                        | b'@'
                        | b'['
                        | b'\\'
                        | b']'
                        | b'^'
                        | b'|'
                );
            if set {
                let _ = write!(out, "%{b:02X}");
            } else {
                out.push(char::from(b));
            }
        }
    };
    encode(out, user);
    if !pass.is_empty() {
        out.push(':');
        encode(out, pass);
    }
    out.push('@');
}

/// An IPv6 address as the standard writes it: lower-case hex pieces, the
/// first longest run of two or more zero pieces as `::`, never an
/// embedded IPv4 form.
pub(super) fn ipv6_text(ip: std::net::Ipv6Addr) -> String {
    let p = ip.segments();
    let (mut best, mut best_len) = (None, 1);
    let mut i = 0;
    while i < 8 {
        if p[i] == 0 {
            let start = i;
            while i < 8 && p[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best, best_len) = (Some(start), i - start);
            }
        } else {
            i += 1;
        }
    }
    let mut s = String::with_capacity(39);
    let mut i = 0;
    while i < 8 {
        if best == Some(i) {
            s.push_str(if i == 0 { "::" } else { ":" });
            i += best_len;
            continue;
        }
        let _ = write!(s, "{:x}", p[i]);
        if i < 7 {
            s.push(':');
        }
        i += 1;
    }
    s
}

/// `%XX` escapes decoded (a `%` not followed by two hex digits is kept).
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = crate::text::hex_value;
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}
