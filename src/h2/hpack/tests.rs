//! RFC 7541 Appendix C, every example, both ways; then hostile blocks.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn list(fields: &[(&str, &str)]) -> HeaderList {
    fields
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

const REQUESTS: [&[(&str, &str)]; 3] = [
    &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ],
    &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
        ("cache-control", "no-cache"),
    ],
    &[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ],
];

const RESPONSES: [&[(&str, &str)]; 3] = [
    &[
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ],
    &[
        (":status", "307"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ],
    &[
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ],
];

/// (section, table size, Huffman, the three header lists, the three
/// blocks as the RFC prints them, the dynamic table's size after each).
type Example = (
    &'static str,
    usize,
    bool,
    [&'static [(&'static str, &'static str)]; 3],
    [&'static str; 3],
    [usize; 3],
);

const EXAMPLES: [Example; 4] = [
    (
        "C.3",
        4096,
        false,
        REQUESTS,
        [
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ],
        [57, 110, 164],
    ),
    (
        "C.4",
        4096,
        true,
        REQUESTS,
        [
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ],
        [57, 110, 164],
    ),
    (
        "C.5",
        256,
        false,
        RESPONSES,
        [
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420
             3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77
             7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32
             3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a
             584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33
             3630 303b 2076 6572 7369 6f6e 3d31",
        ],
        [222, 222, 215],
    ),
    (
        "C.6",
        256,
        true,
        RESPONSES,
        [
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81
             66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a
             839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36
             72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ],
        [222, 222, 215],
    ),
];

#[test]
fn rfc_7541_c3_to_c6_decode_to_their_header_lists() {
    for (section, size, _, lists, blocks, sizes) in EXAMPLES {
        let mut dec = Decoder::new(size, 64 * 1024);
        for i in 0..3 {
            let got = dec.decode(&hex(blocks[i])).unwrap();
            assert_eq!(got, list(lists[i]), "{section}.{}", i + 1);
            assert_eq!(dec.table_size(), sizes[i], "{section}.{} table", i + 1);
        }
    }
}

#[test]
fn rfc_7541_c3_to_c6_encode_byte_for_byte() {
    for (section, size, huffman, lists, blocks, _) in EXAMPLES {
        let mut enc = Encoder::new(size);
        enc.huffman = huffman;
        for i in 0..3 {
            let fields: Vec<(&[u8], &[u8])> = lists[i]
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect();
            let mut out = Vec::new();
            enc.encode(&fields, &mut out);
            assert_eq!(out, hex(blocks[i]), "{section}.{}", i + 1);
        }
    }
}

#[test]
fn rfc_7541_c2_each_representation() {
    let cases: [(&str, (&str, &str), usize); 4] = [
        (
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            ("custom-key", "custom-header"),
            55,
        ),
        (
            "040c 2f73 616d 706c 652f 7061 7468",
            (":path", "/sample/path"),
            0,
        ),
        (
            "1008 7061 7373 776f 7264 0673 6563 7265 74",
            ("password", "secret"),
            0,
        ),
        ("82", (":method", "GET"), 0),
    ];
    for (block, field, size) in cases {
        let mut dec = Decoder::new(4096, 4096);
        assert_eq!(dec.decode(&hex(block)).unwrap(), list(&[field]));
        assert_eq!(dec.table_size(), size);
    }
}

#[test]
fn rfc_7541_c1_integers() {
    let mut out = Vec::new();
    write_int(&mut out, 0, 5, 10);
    assert_eq!(out, [0x0a]);
    out.clear();
    write_int(&mut out, 0, 5, 1337);
    assert_eq!(out, [0x1f, 0x9a, 0x0a]);
    out.clear();
    write_int(&mut out, 0, 8, 42);
    assert_eq!(out, [0x2a]);
    assert_eq!(read_int(&[0x1f, 0x9a, 0x0a], &mut 0, 5), Ok(1337));
}

// ---- hostile blocks ----

#[test]
fn a_block_cut_anywhere_is_an_error_or_a_shorter_list_never_a_panic() {
    let block = hex(EXAMPLES[3].4[2]);
    for cut in 0..block.len() {
        let mut dec = Decoder::new(256, 64 * 1024);
        dec.decode(&hex(EXAMPLES[3].4[0])).unwrap();
        dec.decode(&hex(EXAMPLES[3].4[1])).unwrap();
        match dec.decode(&block[..cut]) {
            Ok(got) => assert!(got.len() < 6, "cut at {cut}"),
            Err(e) => assert!(
                matches!(e, HpackError::Truncated | HpackError::Huffman(_)),
                "cut at {cut}: {e:?}"
            ),
        }
    }
}

#[test]
fn indexes_outside_the_tables_are_refused() {
    let mut dec = Decoder::new(4096, 4096);
    assert_eq!(dec.decode(&[0x80]), Err(HpackError::BadIndex(0)));
    assert_eq!(
        dec.decode(&[0xbe]),
        Err(HpackError::BadIndex(62)),
        "empty dynamic table"
    );
    // A literal whose name index is past the end.
    assert_eq!(
        dec.decode(&[0x7f, 0x10, 0x00]),
        Err(HpackError::BadIndex(79))
    );
}

#[test]
fn integers_past_2_to_the_32_are_refused_not_wrapped() {
    let mut dec = Decoder::new(4096, 4096);
    let block = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ];
    assert_eq!(dec.decode(&block), Err(HpackError::IntegerOverflow));
    // Endless continuation bytes end at the block's end.
    assert_eq!(dec.decode(&[0xff, 0x80, 0x80]), Err(HpackError::Truncated));
}

#[test]
fn strings_and_lists_past_their_limit_are_refused() {
    let mut dec = Decoder::new(4096, 100);
    // A literal name announcing 1,000 bytes (the block need not hold them).
    assert_eq!(
        dec.decode(&[0x00, 0x7f, 0xe9, 0x06]),
        Err(HpackError::StringTooLong(1000))
    );
    // A header list bomb: ":method: GET" (42 bytes counted) three times.
    assert_eq!(
        dec.decode(&[0x82, 0x82, 0x82]),
        Err(HpackError::ListTooLarge)
    );
    assert_eq!(dec.decode(&[0x82, 0x82]).unwrap().len(), 2);
}

#[test]
fn table_size_updates_are_bounded_and_only_first() {
    let mut dec = Decoder::new(4096, 4096);
    // 3f e2 1f: 31 + 0x62 + (0x1f << 7) = 4,097, one above what we announced.
    assert_eq!(
        dec.decode(&[0x3f, 0xe2, 0x1f]),
        Err(HpackError::TableSizeTooLarge(4097))
    );
    assert_eq!(dec.decode(&[0x82, 0x20]), Err(HpackError::LateSizeUpdate));
    // Shrinking to 0 empties the table; growing back (3f e1 1f: 4,096) is
    // allowed.
    dec.decode(&hex(
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    ))
    .unwrap();
    assert_eq!(dec.table_size(), 55);
    assert!(dec.decode(&[0x20, 0x3f, 0xe1, 0x1f]).unwrap().is_empty());
    assert_eq!(dec.table_size(), 0);
}

#[test]
fn the_encoder_indexes_repeated_fields_and_never_credentials() {
    let mut enc = Encoder::new(4096);
    let fields: [(&[u8], &[u8]); 3] = [
        (b":authority", b"h0.demo.test"),
        (b"user-agent", b"oneloop/0.1"),
        (b"authorization", b"Basic c2VjcmV0"),
    ];
    let mut first = Vec::new();
    enc.encode(&fields, &mut first);
    let mut second = Vec::new();
    enc.encode(&fields, &mut second);
    assert_eq!(second[..2], [0xbf, 0xbe], "both from the dynamic table");
    assert_eq!(
        second[2], 0x1f,
        "authorization: never indexed, static name 23"
    );
    let mut dec = Decoder::new(4096, 4096);
    assert_eq!(dec.decode(&first).unwrap(), dec.decode(&second).unwrap());
    // A smaller table from the peer's SETTINGS is announced first.
    enc.set_max_table_size(0);
    let mut third = Vec::new();
    enc.encode(&fields[..1], &mut third);
    assert_eq!(third[0], 0x20);
    assert_eq!(
        dec.decode(&third).unwrap(),
        list(&[(":authority", "h0.demo.test")])
    );
    assert_eq!(dec.table_size(), 0);
}

#[test]
fn paths_go_unindexed_so_a_crawl_does_not_churn_the_table() {
    let mut enc = Encoder::new(4096);
    let mut dec = Decoder::new(4096, 4096);
    for i in 0..3 {
        let path = format!("/page/{i}");
        let fields: [(&[u8], &[u8]); 2] = [(b":path", path.as_bytes()), (b"accept", b"*/*")];
        let mut block = Vec::new();
        enc.encode(&fields, &mut block);
        // Literal without indexing, name from static entry 4.
        assert_eq!(block[0], 0x04, "round {i}");
        let got = dec.decode(&block).unwrap();
        assert_eq!(got, list(&[(":path", &path), ("accept", "*/*")]));
        // Only `accept: */*` is in the table: 6 + 3 + 32 bytes.
        assert_eq!(dec.table_size(), 41, "round {i}");
    }
}

#[test]
fn rfc_7541_c_2_field_representations_decode() {
    // Appendix C.2.1–C.2.4, each on a fresh decoder: (hex, field, table
    // size after).
    #[rustfmt::skip]
    let cases = [
        ("C.2.1", "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
         ("custom-key", "custom-header"), 55),
        ("C.2.2", "040c 2f73 616d 706c 652f 7061 7468", (":path", "/sample/path"), 0),
        ("C.2.3", "1008 7061 7373 776f 7264 0673 6563 7265 74", ("password", "secret"), 0),
        ("C.2.4", "82", (":method", "GET"), 0),
    ];
    for (section, h, field, size) in cases {
        let mut dec = Decoder::new(4096, 16 * 1024);
        let got = dec.decode(&hex(h)).unwrap();
        assert_eq!(got, list(&[field]), "{section}");
        assert_eq!(dec.table_size(), size, "{section}");
    }
}
