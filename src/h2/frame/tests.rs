//! Frames: every split point, every refusal, settings, writing.

use super::*;

/// A frame as a server would write it.
fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    head(&mut out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
    out
}

/// Every frame in `buf`, as text, and how many bytes they took.
fn parse_all(buf: &[u8], into: &mut Vec<String>) -> usize {
    let mut at = 0;
    while let Some((frame, used)) = parse(&buf[at..], DEFAULT_MAX_FRAME_SIZE).unwrap() {
        into.push(format!("{frame:?}"));
        at += used;
    }
    at
}

fn a_server_conversation() -> Vec<u8> {
    let mut w = Vec::new();
    w.extend(raw(0x4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0]));
    w.extend(raw(0x4, ACK, 0, &[]));
    // HEADERS, padded (2) and with priority, then a CONTINUATION.
    w.extend(raw(
        0x1,
        PADDED | PRIORITY,
        1,
        &[2, 0, 0, 0, 3, 16, 0x88, 0xc0, 0, 0],
    ));
    w.extend(raw(0x9, END_HEADERS, 1, &[0x82]));
    // DATA padded (3), then plain, then empty with END_STREAM.
    w.extend(raw(0x0, PADDED, 1, &[3, b'h', b'i', 0, 0, 0]));
    w.extend(raw(0x0, 0, 1, b"there"));
    w.extend(raw(0x0, END_STREAM, 1, &[]));
    w.extend(raw(0x2, 0, 3, &[0, 0, 0, 1, 16]));
    w.extend(raw(0x6, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]));
    w.extend(raw(0x8, 0, 0, &[0, 1, 0, 0]));
    w.extend(raw(0x8, 0, 1, &[0x80, 0, 0, 1])); // the reserved bit is ignored
    w.extend(raw(0x3, 0, 3, &[0, 0, 0, 7]));
    w.extend(raw(0xfa, 0xff, 5, b"an extension"));
    w.extend(raw(0x7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0, b'b', b'y', b'e']));
    w
}

#[test]
fn a_conversation_parses_the_same_at_every_split_point() {
    let wire = a_server_conversation();
    let mut whole = Vec::new();
    assert_eq!(parse_all(&wire, &mut whole), wire.len());
    assert_eq!(whole.len(), 14);
    assert_eq!(
        parse(&wire[wire.len() - 20..], DEFAULT_MAX_FRAME_SIZE)
            .unwrap()
            .unwrap()
            .0,
        Frame::GoAway {
            last_stream: 1,
            code: code::NO_ERROR,
            debug: b"bye"
        }
    );
    for split in 0..=wire.len() {
        let mut got = Vec::new();
        let mut buf = wire[..split].to_vec();
        let used = parse_all(&buf, &mut got);
        buf.drain(..used);
        buf.extend_from_slice(&wire[split..]);
        let used = parse_all(&buf, &mut got);
        assert_eq!(used, buf.len(), "split at {split}");
        assert_eq!(got, whole, "split at {split}");
    }
    // The fields, checked once.
    assert!(whole[2].contains("block: [136, 192]"), "{}", whole[2]);
    assert!(whole[4].contains("data: [104, 105]") && whole[4].contains("flow: 6"));
}

#[test]
fn a_frame_too_large_is_refused_from_its_header_alone() {
    let mut head_only = Vec::new();
    head(&mut head_only, 16_385, 0x0, 0, 1);
    assert_eq!(
        parse(&head_only, DEFAULT_MAX_FRAME_SIZE).unwrap_err().code,
        code::FRAME_SIZE_ERROR
    );
    assert_eq!(parse(&head_only, 1 << 20), Ok(None), "allowed: wait for it");
    assert_eq!(parse(&head_only[..8], DEFAULT_MAX_FRAME_SIZE), Ok(None));
}

#[test]
fn malformed_frames_are_connection_errors_with_the_rfcs_codes() {
    use code::{FRAME_SIZE_ERROR as SIZE, PROTOCOL_ERROR as PROTO};
    let cases: Vec<(Vec<u8>, u32, &str)> = vec![
        (raw(0x0, 0, 0, b"x"), PROTO, "DATA on stream 0"),
        (
            raw(0x1, END_HEADERS, 0, &[0x82]),
            PROTO,
            "HEADERS on stream 0",
        ),
        (
            raw(0x9, END_HEADERS, 0, &[0x82]),
            PROTO,
            "CONTINUATION on stream 0",
        ),
        (
            raw(0x0, PADDED, 1, &[9, 1, 2]),
            PROTO,
            "padding past the end",
        ),
        (raw(0x0, PADDED, 1, &[]), SIZE, "no pad length"),
        (raw(0x1, PRIORITY, 1, &[0, 0]), SIZE, "priority cut"),
        (raw(0x2, 0, 1, &[0; 4]), SIZE, "PRIORITY of 4"),
        (raw(0x3, 0, 0, &[0; 4]), PROTO, "RST_STREAM on 0"),
        (raw(0x3, 0, 1, &[0; 5]), SIZE, "RST_STREAM of 5"),
        (raw(0x4, 0, 1, &[]), PROTO, "SETTINGS on a stream"),
        (
            raw(0x4, ACK, 0, &[0; 6]),
            SIZE,
            "SETTINGS ack with a payload",
        ),
        (raw(0x4, 0, 0, &[0; 7]), SIZE, "SETTINGS of 7"),
        (raw(0x6, 0, 0, &[0; 7]), SIZE, "PING of 7"),
        (raw(0x6, 0, 1, &[0; 8]), PROTO, "PING on a stream"),
        (raw(0x7, 0, 0, &[0; 7]), SIZE, "GOAWAY of 7"),
        (raw(0x7, 0, 1, &[0; 8]), PROTO, "GOAWAY on a stream"),
        (raw(0x8, 0, 0, &[0; 4]), PROTO, "WINDOW_UPDATE of 0"),
        (raw(0x8, 0, 1, &[0; 3]), SIZE, "WINDOW_UPDATE of 3"),
    ];
    for (wire, want, name) in cases {
        let e = parse(&wire, DEFAULT_MAX_FRAME_SIZE).unwrap_err();
        assert_eq!(e.code, want, "{name}: {e}");
    }
}

#[test]
fn settings_apply_legal_values_and_refuse_illegal_ones_whole() {
    fn pairs(p: &[(u16, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        write_settings(&mut out, p);
        out.split_off(HEAD_LEN)
    }
    let mut s = Settings::default();
    s.apply(&pairs(&[
        (3, 100),
        (4, 1 << 20),
        (5, 1 << 20),
        (1, 0),
        (0x99, 1),
    ]))
    .unwrap();
    assert_eq!(s.max_concurrent_streams, Some(100));
    assert_eq!(
        (s.initial_window_size, s.max_frame_size),
        (1 << 20, 1 << 20)
    );
    assert_eq!(s.header_table_size, 0);
    let before = s;
    for (bad, want) in [
        ((2u16, 2u32), code::PROTOCOL_ERROR),
        ((4, 0x8000_0000), code::FLOW_CONTROL_ERROR),
        ((5, 16_383), code::PROTOCOL_ERROR),
        ((5, 1 << 24), code::PROTOCOL_ERROR),
    ] {
        let e = s.apply(&pairs(&[(3, 1), bad])).unwrap_err();
        assert_eq!(e.code, want, "{bad:?}");
        assert_eq!(s, before, "nothing applied from a refused frame");
    }
}

#[test]
fn a_long_header_block_is_split_into_continuations_and_rejoined() {
    let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    let mut wire = Vec::new();
    write_headers(&mut wire, 3, &block, true, DEFAULT_MAX_FRAME_SIZE);
    let mut at = 0;
    let mut joined = Vec::new();
    let mut kinds = Vec::new();
    while let Some((frame, used)) = parse(&wire[at..], DEFAULT_MAX_FRAME_SIZE).unwrap() {
        at += used;
        match frame {
            Frame::Headers {
                stream: 3,
                block,
                end_stream: true,
                end_headers,
            } => {
                kinds.push(("HEADERS", end_headers));
                joined.extend_from_slice(block);
            }
            Frame::Continuation {
                stream: 3,
                block,
                end_headers,
            } => {
                kinds.push(("CONTINUATION", end_headers));
                joined.extend_from_slice(block);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(joined, block);
    assert_eq!(
        kinds,
        [
            ("HEADERS", false),
            ("CONTINUATION", false),
            ("CONTINUATION", true)
        ]
    );
    let mut small = Vec::new();
    write_headers(&mut small, 1, &[0x82], false, DEFAULT_MAX_FRAME_SIZE);
    assert_eq!(small, raw(0x1, END_HEADERS, 1, &[0x82]));
}

#[test]
fn the_client_frames_are_what_the_rfc_says() {
    assert_eq!(PREFACE.len(), 24);
    let mut w = Vec::new();
    write_settings_ack(&mut w);
    assert_eq!(w, [0, 0, 0, 4, 1, 0, 0, 0, 0]);
    w.clear();
    write_window_update(&mut w, 0, 1 << 20);
    assert_eq!(w, raw(0x8, 0, 0, &[0, 0x10, 0, 0]));
    w.clear();
    write_rst_stream(&mut w, 5, code::CANCEL);
    assert_eq!(w, raw(0x3, 0, 5, &[0, 0, 0, 8]));
    w.clear();
    write_goaway(&mut w, code::NO_ERROR);
    assert_eq!(w, raw(0x7, 0, 0, &[0; 8]));
    w.clear();
    write_data(&mut w, 1, b"a=1", true);
    assert_eq!(w, raw(0x0, END_STREAM, 1, b"a=1"));
}
