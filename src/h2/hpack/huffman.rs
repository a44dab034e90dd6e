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

/// Bits the first lookup reads: every code of up to 9 bits (all 5–9 bit
/// codes, the everyday letters and digits) decodes with one table read.
const LUT_BITS: u32 = 9;

/// For each 9-bit prefix, its symbol and length (`len << 9 | symbol`) if a
/// code of at most 9 bits starts it, else 0 (a longer code: see
/// [`decode_one`]).
const LUT: [u16; 1 << LUT_BITS] = {
    let t = &CANONICAL;
    let mut lut = [0u16; 1 << LUT_BITS];
    let mut p = 0;
    while p < lut.len() {
        let mut len = 1;
        while len <= LUT_BITS as usize {
            let offset = (p as u32 >> (LUT_BITS as usize - len)).wrapping_sub(t.first[len]);
            if offset < t.count[len] {
                let sym = t.sorted[t.start[len] as usize + offset as usize];
                lut[p] = (len as u16) << 9 | sym;
                break;
            }
            len += 1;
        }
        p += 1;
    }
    lut
};

/// The symbol and code length that start the 30-bit `window`. The code is
/// complete (every bit string starts with some code), so there always is
/// one; padding ones past the input make EOS (30 ones) at worst.
fn decode_one(window: u32) -> (usize, u32) {
    let hit = LUT[(window >> (30 - LUT_BITS)) as usize];
    if hit != 0 {
        return ((hit & 0x1ff) as usize, u32::from(hit >> 9));
    }
    let t = &CANONICAL;
    for len in LUT_BITS as usize + 1..=30 {
        let offset = (window >> (30 - len)).wrapping_sub(t.first[len]);
        if offset < t.count[len] {
            return (
                t.sorted[t.start[len] as usize + offset as usize] as usize,
                len as u32,
            );
        }
    }
    (EOS, 30)
}

/// Appends the decoded `s` to `out`.
///
/// Reads a 30-bit window (the longest code) from a 64-bit accumulator and
/// decodes one symbol per step; past the input the window is filled with
/// ones, so the tail decodes to a symbol longer than the bits left exactly
/// when those bits are padding (§5.2: at most 7, all ones).
pub fn decode(s: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    const MASK30: u64 = (1 << 30) - 1;
    // At most one symbol per 5 bits (the shortest code): written in place,
    // then cut to what was decoded.
    let start = out.len();
    out.resize(start + s.len() * 8 / 5 + 1, 0);
    let buf = &mut out[start..];
    let mut w = 0;
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    // Four octets at a time while they last (fewer than 30 bits are left
    // after each inner loop, so 32 more fit), symbols while 30 bits are
    // there to read; then the tail below, octet by octet.
    let mut words = s.chunks_exact(4);
    for word in words.by_ref() {
        acc = (acc << 32) | u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
        bits += 32;
        while bits >= 30 {
            let (sym, len) = decode_one(((acc >> (bits - 30)) & MASK30) as u32);
            if sym == EOS {
                out.truncate(start + w);
                return Err(HuffmanError::Eos);
            }
            buf[w] = sym as u8;
            w += 1;
            bits -= len;
        }
    }
    let mut input = words.remainder().iter();
    let result = loop {
        while bits <= 56 {
            let Some(&byte) = input.next() else { break };
            acc = (acc << 8) | u64::from(byte);
            bits += 8;
        }
        if bits == 0 {
            break Ok(());
        }
        let window = if bits >= 30 {
            (acc >> (bits - 30)) & MASK30
        } else {
            ((acc << (30 - bits)) | ((1 << (30 - bits)) - 1)) & MASK30
        };
        let (sym, len) = decode_one(window as u32);
        if len > bits {
            // Only at the end of the input: what is left must be padding.
            let left = acc & ((1 << bits) - 1);
            if bits > 7 || left != (1 << bits) - 1 {
                break Err(HuffmanError::BadPadding);
            }
            break Ok(());
        }
        if sym == EOS {
            break Err(HuffmanError::Eos);
        }
        buf[w] = sym as u8;
        w += 1;
        bits -= len;
    };
    out.truncate(start + w);
    result
}

/// The Huffman strings of the last header block, by their place in it, so
/// that a server sending the same fields unindexed in the same order on
/// every response (nginx does so with `server`, `content-type`,
/// `last-modified`, `etag`…) costs a compare and a copy rather than a
/// decode. Slot `2i` is field i's name, `2i + 1` its value; 24 slots of
/// strings of 6 to 40 coded bytes: at most about 2.5 KiB per connection.
#[derive(Default)]
pub struct Recent {
    slots: [(Vec<u8>, Vec<u8>); Recent::SLOTS],
}

impl Recent {
    const SLOTS: usize = 24;
    /// Shorter strings decode faster than they look up.
    const MIN: usize = 6;
    const MAX: usize = 40;

    /// [`decode`], through slot `slot`.
    pub fn decode(&mut self, slot: usize, s: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
        if s.len() < Self::MIN || s.len() > Self::MAX || slot >= Self::SLOTS {
            return decode(s, out);
        }
        let (coded, plain) = &mut self.slots[slot];
        if coded[..] == *s {
            out.extend_from_slice(plain);
            return Ok(());
        }
        let start = out.len();
        decode(s, out)?;
        coded.clear();
        coded.extend_from_slice(s);
        plain.clear();
        plain.extend_from_slice(&out[start..]);
        Ok(())
    }
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

    /// The decoder as first written: one bit at a time, straight from the
    /// canonical tables. The table-driven `decode` must agree with it.
    fn decode_bit_by_bit(s: &[u8]) -> Result<Vec<u8>, HuffmanError> {
        let t = &CANONICAL;
        let (mut out, mut code, mut len) = (Vec::new(), 0u32, 0usize);
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
                    (code, len) = (0, 0);
                }
            }
        }
        if len > 7 || code != (1u32 << len) - 1 {
            return Err(HuffmanError::BadPadding);
        }
        Ok(out)
    }

    #[test]
    fn the_table_decoder_agrees_with_the_bit_serial_one_on_any_input() {
        // Random strings (mostly invalid) and encoded ones with a random
        // tail: every result, value or error, the same.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000 {
            let len = (next() % 24) as usize;
            let mut input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 {
                let text: Vec<u8> = (0..len).map(|_| (next() % 128) as u8).collect();
                input.clear();
                encode(&text, &mut input);
                if round % 4 == 0 && !input.is_empty() {
                    let last = input.len() - 1;
                    input[last] ^= 1 << (next() % 8);
                }
            }
            let mut fast = Vec::new();
            let got = decode(&input, &mut fast).map(|()| fast);
            assert_eq!(got, decode_bit_by_bit(&input), "input {input:02x?}");
        }
    }

    #[test]
    fn recent_strings_decode_the_same_from_the_slots() {
        let mut recent = Recent::default();
        let values: [&[u8]; 4] = [b"nginx/1.22.1", b"text/html", b"\"6931a2f0-400\"", b"bytes"];
        for round in 0..3 {
            for (slot, v) in values.into_iter().enumerate() {
                let mut enc = Vec::new();
                encode(v, &mut enc);
                let mut out = b"x".to_vec();
                recent.decode(slot, &enc, &mut out).unwrap();
                assert_eq!(&out[1..], v, "round {round}");
            }
        }
        // A bad string is an error whether or not its slot is taken.
        let mut out = Vec::new();
        assert_eq!(
            recent.decode(1, &[0xff; 8], &mut out),
            Err(HuffmanError::Eos)
        );
        assert_eq!(
            recent.decode(1, &[0xff; 8], &mut out),
            Err(HuffmanError::Eos)
        );
        // Past the last slot: decoded, not kept.
        let mut enc = Vec::new();
        encode(b"text/html", &mut enc);
        recent.decode(99, &enc, &mut out).unwrap();
        assert_eq!(out, b"text/html");
    }
}
