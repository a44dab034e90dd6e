//! Response reader tests: every split of the wire, framing, limits, reuse.

use super::*;

#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    body: Vec<u8>,
    keep_alive: bool,
    leftover: Vec<u8>,
}

/// Feeds `wire` the way a connection would: bytes are appended to a buffer
/// in pieces of `step`; consumed bytes are drained. At the end, EOF.
fn read(wire: &[u8], step: usize, method: Method, limits: Limits) -> Result<Outcome, Error> {
    let mut reader = ResponseReader::new(limits, method, true);
    let mut resp = Response::default();
    let mut buf = Vec::new();
    let mut pos = 0;
    let mut done = false;
    while !done {
        if pos < wire.len() {
            let end = (pos + step).min(wire.len());
            buf.extend_from_slice(&wire[pos..end]);
            pos = end;
            let (used, progress) = reader.handle_bytes(&buf, &mut resp)?;
            buf.drain(..used);
            done = progress == ReadProgress::Done;
        } else {
            done = reader.handle_eof()? == ReadProgress::Done;
        }
    }
    buf.extend_from_slice(&wire[pos..]);
    Ok(Outcome {
        status: resp.status,
        body: resp.body,
        keep_alive: reader.keep_alive(),
        leftover: buf,
    })
}

fn read_all_splits(wire: &[u8], method: Method) -> Result<Outcome, Error> {
    let whole = read(wire, wire.len().max(1), method, Limits::default());
    for step in 1..wire.len() {
        let split = read(wire, step, method, Limits::default());
        assert_eq!(split, whole, "step {step} differs");
    }
    whole
}

fn ok(status: u16, body: &[u8], keep_alive: bool) -> Outcome {
    Outcome {
        status,
        body: body.to_vec(),
        keep_alive,
        leftover: Vec::new(),
    }
}

#[test]
fn content_length() {
    let r = read_all_splits(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        Method::Get,
    );
    assert_eq!(r.unwrap(), ok(200, b"abc", true));
}

#[test]
fn chunked_with_trailers() {
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                 4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nExpires: never\r\n\r\n";
    assert_eq!(
        read_all_splits(wire, Method::Get).unwrap(),
        ok(200, b"Wikipedia", true)
    );
}

#[test]
fn read_to_close_is_not_reusable() {
    let r = read_all_splits(b"HTTP/1.1 200 OK\r\n\r\nuntil close", Method::Get);
    assert_eq!(r.unwrap(), ok(200, b"until close", false));
    // A transfer coding other than chunked is also read to close.
    let r = read_all_splits(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
        Method::Get,
    );
    assert_eq!(r.unwrap(), ok(200, b"zz", false));
}

#[test]
fn no_body_cases() {
    for wire in [
        &b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(read_all_splits(wire, Method::Get).unwrap().body, b"");
    }
    let r = read_all_splits(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        Method::Head,
    );
    assert_eq!(r.unwrap(), ok(200, b"", true));
}

#[test]
fn interim_responses_are_skipped() {
    let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n\
                 HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(
        read_all_splits(wire, Method::Get).unwrap(),
        ok(201, b"ok", true)
    );
}

#[test]
fn keep_alive_rules() {
    let r = read_all_splits(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        Method::Get,
    );
    assert!(!r.unwrap().keep_alive);
    let r = read_all_splits(
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
        Method::Get,
    );
    assert!(!r.unwrap().keep_alive);
    let r = read_all_splits(
        b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
        Method::Get,
    );
    assert!(r.unwrap().keep_alive);
    // Suspect framing (RFC 9112 §6.1, §6.3): the body is read by
    // Transfer-Encoding, but the connection is not reused.
    let r = read_all_splits(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
        Method::Get,
    )
    .unwrap();
    assert_eq!((r.body.as_slice(), r.keep_alive), (&b"x"[..], false));
    let r = read_all_splits(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
        Method::Get,
    )
    .unwrap();
    assert_eq!((r.body.as_slice(), r.keep_alive), (&b"x"[..], false));
}

#[test]
fn bytes_after_the_response_are_left_alone() {
    let r = read_all_splits(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP",
        Method::Get,
    );
    assert_eq!(r.unwrap().leftover, b"HTTP");
}

#[test]
fn content_length_rules() {
    let same = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(read_all_splits(same, Method::Get).unwrap().body, b"ab");
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    ] {
        let e = read_all_splits(bad, Method::Get).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::Malformed));
    }
    // Transfer-Encoding wins over Content-Length.
    let both = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
    assert_eq!(read_all_splits(both, Method::Get).unwrap().body, b"a");
}

#[test]
fn truncated_bodies_are_unexpected_eof() {
    for wire in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let e = read_all_splits(wire, Method::Get).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::UnexpectedEof));
    }
    let e = read_all_splits(b"HTTP/1.1 200 OK\r\nContent-", Method::Get).unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::UnexpectedEof));
}

#[test]
fn malformed_heads() {
    for wire in [
        &b"HTTP/1.1 2x0 OK\r\n\r\n"[..],
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"\x00\x01garbage\r\n\r\n",
    ] {
        let e = read_all_splits(wire, Method::Get).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::Malformed));
    }
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_head_bytes: 100,
        max_headers: 3,
        max_body_bytes: 5,
    };
    let mut big_head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    big_head.extend(std::iter::repeat_n(b'a', 200));
    let e = read(&big_head, 7, Method::Get, limits).unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::TooLarge));

    let many = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n";
    let e = read(many, 5, Method::Get, limits).unwrap_err();
    assert_eq!((e.phase, e.kind), (Phase::Head, ErrorKind::TooLarge));

    for body in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef"[..],
        b"HTTP/1.1 200 OK\r\n\r\nabcdefghijkl",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
    ] {
        let e = read(body, 4, Method::Get, limits).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::TooLarge));
    }
}

#[test]
fn obs_fold_is_replaced_with_spaces() {
    let wire =
        b"HTTP/1.1 200 OK\r\nX-Foo: a\r\n  b\r\nContent-Length: 2\r\nX-Bar: c\r\n\tand d\r\n\r\nok";
    assert_eq!(read_all_splits(wire, Method::Get).unwrap().body, b"ok");
    let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
    let mut resp = Response::default();
    let (used, progress) = reader.handle_bytes(wire, &mut resp).unwrap();
    assert_eq!((used, progress), (wire.len(), ReadProgress::Done));
    assert_eq!(resp.headers.get_str("x-foo"), Some("a    b"));
    assert_eq!(resp.headers.get_str("x-bar"), Some("c  \tand d"));
    // A fold inside a framing header is read as one value too.
    let wire =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(read_all_splits(wire, Method::Get).unwrap().body, b"ok");
}

#[test]
fn headers_are_kept() {
    let mut reader = ResponseReader::new(Limits::default(), Method::Get, false);
    let mut resp = Response::default();
    let wire = b"HTTP/1.1 404 Not Found\r\nServer: t\r\nContent-Length: 4\r\n\r\nnope";
    reader.handle_bytes(wire, &mut resp).unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.headers.get_str("server"), Some("t"));
    assert_eq!(resp.headers.len(), 2);
    assert_eq!(resp.body_len, 4);
    assert!(
        resp.body.is_empty(),
        "keep_body=false counts but does not store"
    );
}

#[cfg(feature = "decode")]
mod decoding {
    use super::*;
    use miniz_oxide::deflate::compress_to_vec_zlib;

    fn page() -> Vec<u8> {
        (0..200)
            .flat_map(|i| format!("<p>paragraph {i}</p>\n").into_bytes())
            .collect()
    }

    fn head(coding: &str, len: Option<usize>) -> Vec<u8> {
        let framing = match len {
            Some(n) => format!("Content-Length: {n}"),
            None => "Transfer-Encoding: chunked".to_string(),
        };
        format!("HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\n{framing}\r\n\r\n").into_bytes()
    }

    fn chunked(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in body.chunks(100) {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    #[test]
    fn encoded_bodies_are_decoded_after_de_chunking_and_sizes_reported() {
        let z = compress_to_vec_zlib(&page(), 6);
        let mut by_length = head("deflate", Some(z.len()));
        by_length.extend_from_slice(&z);
        let mut by_chunks = head("deflate", None);
        by_chunks.extend(chunked(&z));
        for wire in [by_length, by_chunks] {
            let o = read_all_splits(&wire, Method::Get).unwrap();
            assert_eq!(o.body, page());
            assert!(o.keep_alive);
            let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
            let mut resp = Response::default();
            reader.handle_bytes(&wire, &mut resp).unwrap();
            assert_eq!(
                (resp.body_len, resp.wire_len),
                (page().len() as u64, z.len() as u64)
            );
            assert_eq!(resp.decoded, Some("deflate"));
        }
    }

    #[test]
    fn a_bomb_is_too_large_a_corrupt_body_is_a_decode_error() {
        let big = compress_to_vec_zlib(&vec![0u8; 4 << 20], 9);
        let mut wire = head("deflate", Some(big.len()));
        wire.extend_from_slice(&big);
        let limits = Limits {
            max_body_bytes: 1 << 20,
            ..Limits::default()
        };
        let e = read(&wire, wire.len(), Method::Get, limits).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::TooLarge));
        let mut bad = compress_to_vec_zlib(&page(), 6);
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        bad[n / 2 + 1] ^= 0xff;
        let mut wire = head("deflate", Some(bad.len()));
        wire.extend_from_slice(&bad);
        let e = read(&wire, wire.len(), Method::Get, Limits::default());
        assert!(
            matches!(&e, Err(e) if e.kind == ErrorKind::Decode)
                || e.as_ref().is_ok_and(|o| o.body != page()),
            "{e:?}"
        );
        // Cut short: the length says done, the stream does not.
        let z = compress_to_vec_zlib(&page(), 6);
        let mut wire = head("deflate", Some(z.len() - 4));
        wire.extend_from_slice(&z[..z.len() - 4]);
        let e = read(&wire, wire.len(), Method::Get, Limits::default()).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Body, ErrorKind::Decode));
    }

    /// A chunked deflate body of empty stored blocks, forever: it decodes
    /// to nothing, so a cap on decoded bytes never trips, and a robots.txt
    /// (read for its first bytes only) had no cap at all: the loop read it
    /// without end. The wire is capped too, for every body.
    #[test]
    fn a_body_that_decodes_to_nothing_is_capped_on_the_wire() {
        let limits = Limits {
            max_body_bytes: 64 * 1024,
            ..Limits::default()
        };
        for cap in [None, Some(2048)] {
            let mut reader = ResponseReader::new(limits, Method::Get, true);
            reader.set_truncate_at(cap);
            let mut resp = Response::default();
            let head = head("deflate", None);
            let (used, _) = reader.handle_bytes(&head, &mut resp).unwrap();
            assert_eq!(used, head.len());
            // A raw deflate stream: empty stored blocks, never the last.
            let empty_block = [0u8, 0, 0, 0xff, 0xff];
            let chunk: Vec<u8> = empty_block.repeat(200);
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            let mut result = Ok(());
            for _ in 0..1_000 {
                match reader.handle_bytes(&framed, &mut resp) {
                    Ok((used, _)) => assert_eq!(used, framed.len()),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let e = result.expect_err("capped");
            assert_eq!(
                (e.phase, e.kind),
                (Phase::Body, ErrorKind::TooLarge),
                "{cap:?}"
            );
            assert!(resp.wire_len <= 64 * 1024 + framed.len() as u64);
            assert!(resp.body.is_empty());
        }
    }

    /// `Content-Encoding: gzip, gzip` was left encoded (its links never
    /// followed): stacked codings are undone in reverse order, a body
    /// padded with NULs after its gzip member as browsers read it.
    #[test]
    fn stacked_codings_are_undone_and_gzip_padding_ignored() {
        let gz = |data: &[u8]| {
            let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
            out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
            out.extend_from_slice(&crate::crc32::crc32(0, data).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out
        };
        let twice = gz(&gz(&page()));
        let mut wire = head("gzip, gzip", Some(twice.len()));
        wire.extend_from_slice(&twice);
        assert_eq!(read_all_splits(&wire, Method::Get).unwrap().body, page());
        // deflate applied first, then gzip: gzip undone first.
        let both = gz(&compress_to_vec_zlib(&page(), 6));
        let mut wire = head("deflate, gzip", None);
        wire.extend(chunked(&both));
        assert_eq!(read_all_splits(&wire, Method::Get).unwrap().body, page());
        // NUL padding after the member.
        let mut padded = gz(&page());
        padded.extend_from_slice(&[0; 37]);
        let mut wire = head("gzip", Some(padded.len()));
        wire.extend_from_slice(&padded);
        assert_eq!(read_all_splits(&wire, Method::Get).unwrap().body, page());
    }

    #[test]
    fn unknown_or_stacked_codings_and_bodiless_answers_are_left_alone() {
        for coding in ["zstd", "gzip, zstd", "gzip, gzip, gzip, gzip"] {
            let mut wire = head(coding, Some(5));
            wire.extend_from_slice(b"as-is");
            let o = read_all_splits(&wire, Method::Get).unwrap();
            assert_eq!(o.body, b"as-is", "{coding}");
        }
        let wire = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 300\r\n\r\n";
        let o = read_all_splits(wire, Method::Head).unwrap();
        assert_eq!(o.body, b"");
    }
}
