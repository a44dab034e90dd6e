//! HPACK's Huffman code (RFC 7541 §5.2, Appendix B).
//!
//! The code is canonical: the table is its 257 code lengths (256 octets and
//! EOS), and the codes, and the decoding tables, follow from them at compile
//! time (symbols sorted by length, then value; each code the previous plus
//! one, shifted left when the length grows). The lengths were checked
//! against the RFC's table of codes when written down.

/// Code length in bits of each symbol (0–255 octets, 256 EOS).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// End of string: never sent inside a string (a decoding error if seen).
const EOS: usize = 256;

/// The code of each symbol, right-aligned.
const CODES: [u32; 257] = {
    let mut codes = [0u32; 257];
    let mut code: u32 = 0;
    let mut len = 1;
    while len <= 30 {
        let mut s = 0;
        while s < 257 {
            if LENGTHS[s] == len {
                codes[s] = code;
                code += 1;
            }
            s += 1;
        }
        code <<= 1;
        len += 1;
    }
    codes
};

/// Symbols in code order (by length, then value), and per length the
/// first code, how many codes, and where they start in `SORTED`.
struct Canonical {
    sorted: [u16; 257],
    first: [u32; 31],
    count: [u32; 31],
    start: [u16; 31],
}

const CANONICAL: Canonical = {
    let mut t = Canonical {
        sorted: [0; 257],
        first: [0; 31],
        count: [0; 31],
        start: [0; 31],
    };
    let mut n = 0;
    let mut len = 1;
    while len <= 30 {
        t.start[len] = n as u16;
        let mut s = 0;
        while s < 257 {
            if LENGTHS[s] as usize == len {
                if t.count[len] == 0 {
                    t.first[len] = CODES[s];
                }
                t.count[len] += 1;
                t.sorted[n] = s as u16;
                n += 1;
            }
            s += 1;
        }
        len += 1;
    }
    t
};

/// The encoded length of `s` in octets.
pub fn encoded_len(s: &[u8]) -> usize {
    let bits: usize = s.iter().map(|&b| LENGTHS[b as usize] as usize).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman code of `s` to `out`, padded with the most
/// significant bits of EOS (ones).
pub fn encode(s: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &b in s {
        let len = LENGTHS[b as usize] as u32;
        acc = (acc << len) | CODES[b as usize] as u64;
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((acc << pad) as u8) | ((1u8 << pad) - 1));
    }
}

/// Why a Huffman string does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HuffmanError {
    /// The EOS symbol inside the string (§5.2: a decoding error).
    Eos,
    /// Padding longer than 7 bits, or not the most significant bits of
    /// EOS.
    BadPadding,
}

/// Appends the decoded `s` to `out`.
pub fn decode(s: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let t = &CANONICAL;
    let mut code: u32 = 0;
    let mut len = 0usize;
    for &byte in s {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let offset = code.wrapping_sub(t.first[len]);
            if offset < t.count[len] {
                let sym = t.sorted[t.start[len] as usize + offset as usize] as usize;
                if sym == EOS {
                    return Err(HuffmanError::Eos);
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            } else if len == 30 {
                // (Every 30-bit pattern is a code or a prefix of none: the
                // longest codes are 30 bits.)
                return Err(HuffmanError::Eos);
            }
        }
    }
    // What is left must be padding: fewer than 8 bits, all ones.
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_rfcs_at_its_corners() {
        // RFC 7541 Appendix B, a few rows: '0' is 00000, 'a' 00011,
        // ' ' 010100, '\0' 1111111111000 (13), EOS thirty ones.
        assert_eq!((CODES[b'0' as usize], LENGTHS[b'0' as usize]), (0x0, 5));
        assert_eq!((CODES[b'a' as usize], LENGTHS[b'a' as usize]), (0x3, 5));
        assert_eq!((CODES[b' ' as usize], LENGTHS[b' ' as usize]), (0x14, 6));
        assert_eq!((CODES[0], LENGTHS[0]), (0x1ff8, 13));
        assert_eq!((CODES[EOS], LENGTHS[EOS]), (0x3fff_ffff, 30));
        assert_eq!((CODES[255], LENGTHS[255]), (0x3ff_ffee, 26));
    }

    #[test]
    fn every_octet_round_trips_at_every_alignment() {
        let all: Vec<u8> = (0..=255u8).collect();
        for skip in 0..8 {
            let s = &all[skip..];
            let mut enc = Vec::new();
            encode(s, &mut enc);
            assert_eq!(enc.len(), encoded_len(s));
            let mut dec = Vec::new();
            decode(&enc, &mut dec).unwrap();
            assert_eq!(dec, s);
        }
    }

    #[test]
    fn bad_padding_and_eos_are_errors() {
        let mut out = Vec::new();
        // 'a' (00011) padded with zeros instead of ones.
        assert_eq!(
            decode(&[0b0001_1000], &mut out),
            Err(HuffmanError::BadPadding)
        );
        // A whole octet of padding after a complete symbol.
        assert_eq!(
            decode(&[0b0001_1111, 0xff], &mut out),
            Err(HuffmanError::BadPadding)
        );
        // EOS itself, 30 ones, padded.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HuffmanError::Eos)
        );
        out.clear();
        assert_eq!(decode(&[], &mut out), Ok(()));
        assert!(out.is_empty());
    }
}
