//! Decoder tables: every split point of every coding, corrupt and cut
//! streams, gzip's optional header fields and members, a bomb stopped at
//! the limit.

use super::*;
use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};

/// The text `tests/data/page.br` encodes (made with Python's `brotli`).
fn payload() -> Vec<u8> {
    (0..100)
        .map(|i| format!("line {i}: the event loop from the textbook, made explicit\n"))
        .collect::<String>()
        .into_bytes()
}

const BROTLI: &[u8] = include_bytes!("../../../tests/data/page.br");

/// A gzip member around a raw deflate of `data`, with header `flags` and
/// their fields.
fn gzip(data: &[u8], flags: u8) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3];
    if flags & FEXTRA != 0 {
        out.extend_from_slice(&[4, 0, b'a', b'b', 2, 0]);
    }
    if flags & FNAME != 0 {
        out.extend_from_slice(b"page.html\0");
    }
    if flags & FCOMMENT != 0 {
        out.extend_from_slice(b"a comment\0");
    }
    if flags & FHCRC != 0 {
        out.extend_from_slice(&[0x12, 0x34]);
    }
    out.extend(compress_to_vec(data, 6));
    out.extend_from_slice(&crc32(0, data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Decodes `wire` fed in two parts split at `at`.
fn decode_split(coding: Coding, wire: &[u8], at: usize) -> Result<Vec<u8>, Error> {
    let mut d = BodyDecoder::new(coding);
    let mut out = Vec::new();
    let mut sink = |b: &[u8]| {
        out.extend_from_slice(b);
        Ok(())
    };
    d.handle_bytes(&wire[..at], &mut sink)?;
    d.handle_bytes(&wire[at..], &mut sink)?;
    d.finish()?;
    Ok(out)
}

fn streams() -> Vec<(&'static str, Coding, Vec<u8>)> {
    let p = payload();
    vec![
        ("gzip", Coding::Gzip, gzip(&p, 0)),
        (
            "gzip with every header field",
            Coding::Gzip,
            gzip(&p, FEXTRA | FNAME | FCOMMENT | FHCRC),
        ),
        (
            "deflate, zlib-wrapped",
            Coding::Deflate,
            compress_to_vec_zlib(&p, 6),
        ),
        ("deflate, raw", Coding::Deflate, compress_to_vec(&p, 6)),
        ("br", Coding::Brotli, BROTLI.to_vec()),
    ]
}

#[test]
fn every_split_point_of_every_coding_decodes() {
    let p = payload();
    for (name, coding, wire) in streams() {
        for at in 0..=wire.len() {
            let got =
                decode_split(coding, &wire, at).unwrap_or_else(|e| panic!("{name} at {at}: {e}"));
            assert!(got == p, "{name} split at {at}");
        }
    }
}

#[test]
fn corrupt_and_cut_streams_are_decode_errors() {
    for (name, coding, wire) in streams() {
        // Cut: every prefix is incomplete.
        for cut in [1, wire.len() / 2, wire.len() - 1] {
            let e = decode_split(coding, &wire[..cut], 0).unwrap_err();
            assert_eq!(
                (e.phase, e.kind),
                (Phase::Body, ErrorKind::Decode),
                "{name} cut at {cut}"
            );
        }
        // Corrupt: a flipped byte in the middle (a gzip trailer or the
        // deflate/brotli structure catches it).
        let mut bad = wire.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let e = decode_split(coding, &bad, 0);
        assert!(
            matches!(&e, Err(e) if e.kind == ErrorKind::Decode)
                || e.as_ref().is_ok_and(|d| *d != payload()),
            "{name}: a corrupt stream must not pass as the payload: {e:?}"
        );
        // Trailing junk after a complete stream.
        let mut long = wire.clone();
        long.extend_from_slice(b"junk");
        assert!(
            decode_split(coding, &long, 0).is_err(),
            "{name} with trailing junk"
        );
    }
}

#[test]
fn gzip_members_are_read_one_after_the_other() {
    let mut wire = gzip(b"hello, ", 0);
    wire.extend(gzip(b"world", FNAME));
    for at in 0..=wire.len() {
        assert_eq!(
            decode_split(Coding::Gzip, &wire, at).unwrap(),
            b"hello, world"
        );
    }
}

#[test]
fn a_bomb_stops_at_the_sinks_limit_with_memory_flat() {
    // 1,000 members of 1 MiB of zeros: 1 GiB when inflated, about 1 MiB
    // on the wire. The sink allows 10 MiB.
    let member = gzip(&vec![0u8; 1 << 20], 0);
    let limit = 10u64 << 20;
    let mut d = BodyDecoder::new(Coding::Gzip);
    let mut seen = 0u64;
    let mut largest_piece = 0;
    let mut sink = |b: &[u8]| {
        seen += b.len() as u64;
        largest_piece = largest_piece.max(b.len());
        if seen > limit {
            return Err(Error::new(
                Phase::Body,
                ErrorKind::TooLarge,
                "over the limit",
            ));
        }
        Ok(())
    };
    let mut result = Ok(());
    for _ in 0..1000 {
        result = d.handle_bytes(&member, &mut sink);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err().kind, ErrorKind::TooLarge);
    assert!(
        seen <= limit + PIECE as u64,
        "inflated {seen}: nothing more after the limit"
    );
    assert!(largest_piece <= PIECE, "decoded in bounded pieces");
}

#[test]
fn codings_are_named_like_the_header() {
    assert_eq!(Coding::from_token(b" GZIP "), Some(Coding::Gzip));
    assert_eq!(Coding::from_token(b"x-gzip"), Some(Coding::Gzip));
    assert_eq!(Coding::from_token(b"br"), Some(Coding::Brotli));
    assert_eq!(Coding::from_token(b"zstd"), None);
    assert_eq!(crc32(0, b"123456789"), 0xcbf4_3926);
}

#[test]
fn crc32_by_eights_agrees_with_the_bitwise_definition() {
    let bitwise = |data: &[u8]| {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    };
    let data: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 999, 1000] {
        let d = &data[..len];
        assert_eq!(crc32(0, d), bitwise(d), "length {len}");
        // Continued across a split, as pieces of output arrive.
        for cut in [0, len / 3, len] {
            assert_eq!(
                crc32(crc32(0, &d[..cut]), &d[cut..]),
                bitwise(d),
                "{len} cut at {cut}"
            );
        }
    }
}

/// Decodes `wire` fed `step` bytes at a time, then ends it.
fn decode_in_steps(coding: Coding, wire: &[u8], step: usize) -> Result<Vec<u8>, Error> {
    let mut d = BodyDecoder::new(coding);
    let mut out = Vec::new();
    for piece in wire.chunks(step.max(1)) {
        d.handle_bytes(piece, &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        })?;
    }
    d.finish()?;
    Ok(out)
}

/// `Content-Encoding: deflate` failed as "the deflate stream is cut short"
/// at many sizes (16,385-32,768, 50,000, 65,536 decoded bytes; zlib and
/// raw alike), while gzip of the same sizes was fine: the inflater's last
/// output was left inside it when the input ran out. Every size from 1
/// byte to 200 KiB in steps (and the boundaries), both wrappings and gzip,
/// at once and byte by byte.
#[test]
fn deflate_of_every_size_decodes_whole() {
    // Text that compresses a little, as pages do, with no long repeats.
    let data: Vec<u8> = (0..200 * 1024u32)
        .map(|i| b"abcdefghij klmnop\n<>"[((i * 7 + i / 13) % 20) as usize])
        .collect();
    let mut sizes: Vec<usize> = (1..=200 * 1024).step_by(1021).collect();
    for edge in [16_384usize, 32_768, 65_536, 131_072] {
        sizes.extend([edge - 1, edge, edge + 1]);
    }
    sizes.extend([50_000, 40_000, 70_000, 200 * 1024]);
    for n in sizes {
        let body = &data[..n];
        let streams = [
            ("zlib", Coding::Deflate, compress_to_vec_zlib(body, 6)),
            ("raw", Coding::Deflate, compress_to_vec(body, 6)),
            ("gzip", Coding::Gzip, gzip(body, 0)),
        ];
        for (name, coding, wire) in &streams {
            let whole = decode_in_steps(*coding, wire, wire.len());
            assert_eq!(
                whole.as_deref().map(<[u8]>::len),
                Ok(n),
                "{name} of {n} bytes at once"
            );
            assert!(whole.unwrap() == body, "{name} of {n} bytes");
            // Byte by byte on a sample of the sizes (it is slow in a debug
            // build), every size at 4,096-byte pieces.
            let step = if n % 7 == 0 || n.is_power_of_two() || n % 1000 == 0 {
                1
            } else {
                4096
            };
            let split = decode_in_steps(*coding, wire, step).unwrap();
            assert!(split == body, "{name} of {n} bytes in {step}-byte pieces");
        }
    }
}
