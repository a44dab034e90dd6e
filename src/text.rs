//! Small text helpers shared by the HTTP encoder, the robots matcher, the
//! events and the command line's JSON Lines: a leaf, no dependencies.

use std::fmt::Write as _;

/// Formats without allocating (the request path and the event log are hot).
pub fn format_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// FNV-1a, 64 bits: stable and documented (it picks each origin's shard,
/// and spreads saved pages over directories).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Appends `n` in decimal: events and JSON lines are written by the hundred
/// thousand, and `core::fmt` would be most of their cost.
pub fn push_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let digits = format_u64(n, &mut buf);
    out.push_str(std::str::from_utf8(digits).unwrap_or("0"));
}

/// The value of one hex digit (also used to read percent-escapes).
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `s` as a JSON string literal: `"` and `\\` escaped, `\\n`,
/// `\\r`, `\\t` short, other control characters (and DEL) as `\\u00XX`.
/// Strings with nothing to escape, most URLs, are copied at once. The
/// command line's JSON Lines use it too.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if !s
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f)
    {
        out.push_str(s);
    } else {
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn numbers_and_hex() {
        let mut b = [0u8; 20];
        assert_eq!(format_u64(0, &mut b), b"0");
        assert_eq!(format_u64(u64::MAX, &mut b), b"18446744073709551615");
        assert_eq!(
            (hex_value(b'a'), hex_value(b'F'), hex_value(b'g')),
            (Some(10), Some(15), None)
        );
    }
}
