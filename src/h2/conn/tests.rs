//! The client connection against a scripted server: frames written by
//! hand, responses HPACK-encoded by the crate's own encoder, no sockets.

use super::*;
use crate::h2::hpack;

/// A scripted server: encodes its responses with one HPACK table.
struct Server {
    hpack: hpack::Encoder,
}

impl Server {
    fn new() -> Server {
        Server {
            hpack: hpack::Encoder::new(4096),
        }
    }

    fn headers(&mut self, stream: u32, status: &str, end_stream: bool) -> Vec<u8> {
        let mut block = Vec::new();
        self.hpack.encode(
            &[
                (b":status", status.as_bytes()),
                (b"content-type", b"text/html"),
            ],
            &mut block,
        );
        let mut out = Vec::new();
        frame::write_headers(&mut out, stream, &block, end_stream, 16_384);
        out
    }
}

fn get(conn: &mut H2Conn, path: &str) -> Option<u32> {
    conn.open_stream(
        &[
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", b"h0.demo.test"),
            (b":path", path.as_bytes()),
        ],
        true,
    )
}

fn sent(conn: &mut H2Conn) -> Vec<String> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    let mut frames = Vec::new();
    let mut at = 0;
    if out.starts_with(frame::PREFACE) {
        frames.push("PREFACE".to_string());
        at = frame::PREFACE.len();
    }
    while let Some((f, used)) = frame::parse(&out[at..], 1 << 20).unwrap() {
        frames.push(format!("{f:?}"));
        at += used;
    }
    assert_eq!(at, out.len());
    frames
}

fn events(conn: &mut H2Conn) -> Vec<H2Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_settings(&mut out, pairs);
    out
}

// ---- the handshake ----

#[test]
fn the_preface_and_our_settings_go_first_and_the_servers_are_acknowledged() {
    let mut conn = H2Conn::new(H2Config::default());
    let first = sent(&mut conn);
    assert_eq!(first[0], "PREFACE");
    assert!(first[1].starts_with("Settings { ack: false"), "{first:?}");
    assert!(first[2].contains("WindowUpdate { stream: 0"), "{first:?}");
    conn.handle_bytes(&settings(&[(3, 2), (4, 1 << 16)]))
        .unwrap();
    assert_eq!(sent(&mut conn), ["Settings { ack: true, payload: [] }"]);
    assert_eq!(conn.peer_settings().max_concurrent_streams, Some(2));
}

// ---- streams ----

#[test]
fn a_get_goes_half_closed_local_then_closed_with_its_response() {
    let (mut conn, mut server) = (H2Conn::new(H2Config::default()), Server::new());
    sent(&mut conn);
    let id = get(&mut conn, "/").unwrap();
    assert_eq!(id, 1);
    assert_eq!(conn.stream_state(1), Some(StreamState::HalfClosedLocal));
    let out = sent(&mut conn);
    assert!(out[0].contains("Headers { stream: 1") && out[0].contains("end_stream: true"));
    let mut wire = server.headers(1, "200", false);
    frame::write_data(&mut wire, 1, b"<a href=/x>", true);
    // Byte by byte: the same events.
    for b in &wire {
        conn.handle_bytes(std::slice::from_ref(b)).unwrap();
    }
    let ev = events(&mut conn);
    assert_eq!(ev.len(), 2);
    match &ev[0] {
        H2Event::Headers {
            stream: 1,
            fields,
            end_stream: false,
        } => {
            assert_eq!(fields.get(0), Some((&b":status"[..], &b"200"[..])))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ev[1],
        H2Event::Data {
            stream: 1,
            data: b"<a href=/x>".to_vec(),
            end_stream: true
        }
    );
    assert_eq!(conn.stream_state(1), None, "closed and forgotten");
    assert_eq!(
        get(&mut conn, "/2"),
        Some(3),
        "client streams are odd, rising"
    );
}

#[test]
fn input_cut_at_every_point_gives_the_same_events() {
    // Two responses, four frames, in two pieces cut anywhere: whole frames
    // come straight from the input, a cut one waits for its rest.
    let mut server = Server::new();
    let mut wire = server.headers(1, "200", false);
    frame::write_data(&mut wire, 1, &[b'a'; 300], true);
    wire.extend(server.headers(3, "404", false));
    frame::write_data(&mut wire, 3, b"gone", true);
    let run = |pieces: &[&[u8]]| {
        let mut conn = H2Conn::new(H2Config::default());
        sent(&mut conn);
        get(&mut conn, "/a").unwrap();
        get(&mut conn, "/b").unwrap();
        for p in pieces {
            conn.handle_bytes(p).unwrap();
        }
        events(&mut conn)
    };
    let whole = run(&[&wire]);
    assert_eq!(whole.len(), 4);
    for cut in 0..=wire.len() {
        assert_eq!(run(&[&wire[..cut], &wire[cut..]]), whole, "cut at {cut}");
    }
}

#[test]
fn the_servers_max_concurrent_streams_is_honoured() {
    let (mut conn, mut server) = (H2Conn::new(H2Config::default()), Server::new());
    conn.handle_bytes(&settings(&[(3, 2)])).unwrap();
    assert!(get(&mut conn, "/a").is_some());
    assert!(get(&mut conn, "/b").is_some());
    assert_eq!(get(&mut conn, "/c"), None, "two at once");
    conn.handle_bytes(&server.headers(1, "204", true)).unwrap();
    events(&mut conn);
    assert_eq!(get(&mut conn, "/c"), Some(5), "room again");
}

#[test]
fn windows_reopen_as_the_body_is_consumed_and_not_before() {
    let config = H2Config {
        stream_window: 1000,
        conn_window: 65_535,
        ..H2Config::default()
    };
    let (mut conn, mut server) = (H2Conn::new(config), Server::new());
    sent(&mut conn);
    get(&mut conn, "/big").unwrap();
    sent(&mut conn);
    let mut wire = server.headers(1, "200", false);
    frame::write_data(&mut wire, 1, &[b'x'; 600], false);
    conn.handle_bytes(&wire).unwrap();
    events(&mut conn);
    assert_eq!(sent(&mut conn), Vec::<String>::new(), "not consumed yet");
    conn.handle_consumed(1, 600);
    let out = sent(&mut conn);
    assert_eq!(out, ["WindowUpdate { stream: 1, increment: 600 }"]);
    // The server may send 1,000 more now, not 1,001.
    let mut more = Vec::new();
    frame::write_data(&mut more, 1, &[b'y'; 1000], false);
    conn.handle_bytes(&more).unwrap();
    let mut over = Vec::new();
    frame::write_data(&mut over, 1, b"z", false);
    let e = conn.handle_bytes(&over).unwrap_err();
    assert_eq!(e.code, code::FLOW_CONTROL_ERROR);
    assert!(
        sent(&mut conn).iter().any(|f| f.starts_with("GoAway")),
        "GOAWAY sent"
    );
    assert!(
        conn.handle_bytes(b"").is_err(),
        "the connection stays failed"
    );
    assert!(!conn.can_open());
}

// ---- the server going away, refusing, resetting ----

#[test]
fn goaway_refuses_the_streams_above_last_stream_and_lets_the_rest_finish() {
    let (mut conn, mut server) = (H2Conn::new(H2Config::default()), Server::new());
    for p in ["/1", "/3", "/5"] {
        get(&mut conn, p).unwrap();
    }
    let mut goaway = Vec::new();
    frame::write_goaway(&mut goaway, code::NO_ERROR);
    goaway[9..13].copy_from_slice(&1u32.to_be_bytes()); // last stream 1
    conn.handle_bytes(&goaway).unwrap();
    assert_eq!(
        events(&mut conn),
        [
            H2Event::GoAway {
                last_stream: 1,
                code: 0
            },
            H2Event::Reset {
                stream: 3,
                code: code::REFUSED_STREAM
            },
            H2Event::Reset {
                stream: 5,
                code: code::REFUSED_STREAM
            },
        ]
    );
    assert!(!conn.can_open(), "no new stream after GOAWAY");
    conn.handle_bytes(&server.headers(1, "200", true)).unwrap();
    assert!(matches!(
        events(&mut conn)[..],
        [H2Event::Headers { stream: 1, .. }]
    ));
}

#[test]
fn a_reset_stream_is_an_event_and_frees_its_place() {
    let mut conn = H2Conn::new(H2Config::default());
    conn.handle_bytes(&settings(&[(3, 1)])).unwrap();
    get(&mut conn, "/").unwrap();
    let mut rst = Vec::new();
    frame::write_rst_stream(&mut rst, 1, code::REFUSED_STREAM);
    conn.handle_bytes(&rst).unwrap();
    assert_eq!(
        events(&mut conn),
        [H2Event::Reset {
            stream: 1,
            code: code::REFUSED_STREAM
        }]
    );
    assert!(conn.can_open());
}

#[test]
fn a_cancelled_stream_is_reset_and_its_late_data_still_counts() {
    let (mut conn, mut server) = (H2Conn::new(H2Config::default()), Server::new());
    sent(&mut conn);
    get(&mut conn, "/slow").unwrap();
    sent(&mut conn);
    conn.cancel(1);
    assert_eq!(sent(&mut conn), ["RstStream { stream: 1, code: 8 }"]);
    let mut late = server.headers(1, "200", false);
    frame::write_data(&mut late, 1, b"late", true);
    // The server raced our RST_STREAM: its frames are dropped, the HPACK
    // table stays in step, the connection window is handed back.
    conn.handle_bytes(&late).unwrap();
    assert_eq!(events(&mut conn), []);
    get(&mut conn, "/next").unwrap();
    let mut next = server.headers(3, "200", true);
    conn.handle_bytes(&next).unwrap();
    match &events(&mut conn)[..] {
        [H2Event::Headers {
            stream: 3, fields, ..
        }] => {
            assert_eq!(
                fields.get(1),
                Some((&b"content-type"[..], &b"text/html"[..]))
            )
        }
        other => panic!("{other:?}"),
    }
    // A stream never opened is still an error.
    next = server.headers(7, "200", true);
    assert_eq!(
        conn.handle_bytes(&next).unwrap_err().code,
        code::PROTOCOL_ERROR
    );
}

// ---- hostile servers ----

#[test]
fn a_continuation_flood_is_refused() {
    let mut conn = H2Conn::new(H2Config::default());
    get(&mut conn, "/").unwrap();
    let mut wire = Vec::new();
    // HEADERS without END_HEADERS, then CONTINUATIONs that never end.
    wire.extend_from_slice(&[0, 0, 1, 0x1, 0, 0, 0, 0, 1, 0x88]);
    for _ in 0..100 {
        wire.extend_from_slice(&[0, 0, 1, 0x9, 0, 0, 0, 0, 1, 0x88]);
    }
    let e = conn.handle_bytes(&wire).unwrap_err();
    assert_eq!(e.code, 0xb, "{e}");
}

#[test]
fn a_frame_inside_a_header_block_is_a_protocol_error() {
    let mut conn = H2Conn::new(H2Config::default());
    get(&mut conn, "/").unwrap();
    let mut wire = vec![0, 0, 1, 0x1, 0, 0, 0, 0, 1, 0x88];
    frame::write_ping(&mut wire, [0; 8], false);
    assert_eq!(
        conn.handle_bytes(&wire).unwrap_err().code,
        code::PROTOCOL_ERROR
    );
}

#[test]
fn a_ping_flood_is_refused_while_single_pings_are_answered() {
    let mut conn = H2Conn::new(H2Config::default());
    sent(&mut conn);
    let mut one = Vec::new();
    frame::write_ping(&mut one, [9; 8], false);
    conn.handle_bytes(&one).unwrap();
    assert_eq!(
        sent(&mut conn),
        [format!(
            "{:?}",
            Frame::Ping {
                ack: true,
                data: [9; 8]
            }
        )]
    );
    let flood: Vec<u8> = one.iter().copied().cycle().take(one.len() * 100).collect();
    assert_eq!(conn.handle_bytes(&flood).unwrap_err().code, 0xb);
}

#[test]
fn push_promise_and_bad_settings_and_bad_hpack_end_the_connection() {
    let cases: Vec<(Vec<u8>, u32)> = vec![
        (
            vec![0, 0, 4, 0x5, 0x4, 0, 0, 0, 1, 0, 0, 0, 2],
            code::PROTOCOL_ERROR,
        ),
        (settings(&[(4, 0x8000_0000)]), code::FLOW_CONTROL_ERROR),
        (
            vec![0, 0, 1, 0x1, 0x4, 0, 0, 0, 1, 0xff],
            code::COMPRESSION_ERROR,
        ),
        (
            vec![0, 0, 1, 0x1, 0x4, 0, 0, 0, 3, 0x88],
            code::PROTOCOL_ERROR,
        ),
        (
            vec![0, 0, 1, 0x0, 0x1, 0, 0, 0, 2, b'x'],
            code::PROTOCOL_ERROR,
        ),
    ];
    for (wire, want) in cases {
        let mut conn = H2Conn::new(H2Config::default());
        get(&mut conn, "/").unwrap();
        let e = conn.handle_bytes(&wire).expect_err(&format!("{wire:?}"));
        assert_eq!(e.code, want, "{e}");
    }
}

#[test]
fn a_header_list_bomb_is_refused() {
    let config = H2Config {
        max_header_list: 1024,
        ..H2Config::default()
    };
    let mut conn = H2Conn::new(config);
    get(&mut conn, "/").unwrap();
    // 100 indexed ":status: 200" fields: 4,200 bytes counted.
    let block = vec![0x88; 100];
    let mut wire = Vec::new();
    frame::write_headers(&mut wire, 1, &block, true, 16_384);
    assert_eq!(
        conn.handle_bytes(&wire).unwrap_err().code,
        code::PROTOCOL_ERROR
    );
}

#[test]
fn a_window_of_zero_forever_sends_no_body_and_says_so_at_once() {
    // The server's windows never open: the body is not sent, and the
    // owner hears so now (it goes over HTTP/1.1), rather than waiting.
    let mut conn = H2Conn::new(H2Config::default());
    conn.handle_bytes(&settings(&[(0x4, 0)])).unwrap();
    sent(&mut conn);
    let post: [(&[u8], &[u8]); 4] = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", b"h0.demo.test"),
        (b":path", b"/form"),
    ];
    let id = conn.open_stream(&post, false).unwrap();
    assert!(!conn.send_body(id, b"q=1"));
    let out = sent(&mut conn);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].starts_with("Headers"), "{out:?}");
    // An empty body fits any window.
    let id = conn.open_stream(&post, false).unwrap();
    assert!(conn.send_body(id, b""));
}

#[test]
fn a_reset_on_every_stream_ends_each_and_the_connection_carries_on() {
    let mut conn = H2Conn::new(H2Config::default());
    let ids: Vec<u32> = (0..10)
        .map(|i| get(&mut conn, &format!("/{i}")).unwrap())
        .collect();
    assert_eq!(conn.active_streams(), 10);
    let mut rst = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        let c = [code::REFUSED_STREAM, code::CANCEL, code::PROTOCOL_ERROR][i % 3];
        frame::write_rst_stream(&mut rst, id, c);
    }
    conn.handle_bytes(&rst).unwrap();
    let ev = events(&mut conn);
    assert_eq!(ev.len(), 10);
    assert!(ev.iter().all(|e| matches!(e, H2Event::Reset { .. })));
    assert_eq!(conn.active_streams(), 0);
    // Not a connection error: new streams open, and no GOAWAY went out.
    assert_eq!(get(&mut conn, "/after"), Some(21));
    assert!(!sent(&mut conn).iter().any(|f| f.contains("GoAway")));
}
