//! Compressed bodies end to end: the crawler asks for gzip, deflate and br,
//! decodes what comes, reports both sizes and the coding, and `--save`
//! stores the decoded page.
#![cfg(feature = "decode")]

mod common;

use common::*;
use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// The page every path serves (the brotli bytes below encode it).
fn page() -> Vec<u8> {
    (0..100)
        .map(|i| format!("line {i}: the event loop from the textbook, made explicit\n"))
        .collect::<String>()
        .into_bytes()
}

const BROTLI: &[u8] = &[
    0x1b, 0x39, 0x16, 0x00, 0x8c, 0x94, 0xaa, 0xdb, 0x23, 0x1d, 0x1b, 0xc6, 0xea, 0x2e, 0x60, 0x29,
    0x80, 0x50, 0x41, 0x37, 0x00, 0xfb, 0xc1, 0x35, 0x3f, 0x09, 0x12, 0x88, 0x34, 0xb0, 0x07, 0xb7,
    0x21, 0xbf, 0xb7, 0xec, 0x10, 0x84, 0x7a, 0xa2, 0xb9, 0xdf, 0xf7, 0xb7, 0xe4, 0x0d, 0x9c, 0x27,
    0xe8, 0xa0, 0xe1, 0xbb, 0x32, 0xfa, 0x7d, 0x2a, 0x7b, 0xb1, 0x02, 0x82, 0x42, 0xc2, 0x22, 0xa2,
    0x62, 0xc4, 0x8a, 0xbb, 0x83, 0xd2, 0x5c, 0x81, 0x08, 0x89, 0x88, 0x49, 0x48, 0xc9, 0x90, 0x15,
    0x97, 0xf0, 0x11, 0x10, 0x12, 0x11, 0x93, 0x90, 0x92, 0x21, 0x2b, 0x2e, 0xd1, 0x23, 0x20, 0x24,
    0x22, 0x26, 0x21, 0x25, 0x43, 0x56, 0x5c, 0xe2, 0x47, 0x40, 0x48, 0x44, 0x4c, 0x42, 0x4a, 0x86,
    0xac, 0xb8, 0x24, 0x8f, 0x80, 0x90, 0x88, 0x98, 0x84, 0x94, 0x0c, 0x59, 0x71, 0x49, 0x1f, 0x01,
    0x21, 0x11, 0x31, 0x09, 0x29, 0x19, 0xb2, 0xe2, 0x92, 0x79, 0x04, 0x84, 0x44, 0xc4, 0x24, 0xa4,
    0x64, 0xc8, 0x8a, 0x4b, 0xf6, 0x11, 0x10, 0x12, 0x11, 0x93, 0x90, 0x92, 0x21, 0x2b, 0x2e, 0xb9,
    0x47, 0x40, 0x48, 0x44, 0x4c, 0x42, 0x4a, 0x86, 0xec, 0xe1, 0x03,
];

fn gzip(data: &[u8]) -> Vec<u8> {
    // CRC-32 by the bit, for the test's own gzip writer.
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xedb8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    out.extend(compress_to_vec(data, 6));
    out.extend_from_slice(&(!crc).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Serves /gzip, /deflate, /raw-deflate, /br and /plain, and records the
/// Accept-Encoding of each request.
fn server(seen: Arc<Mutex<Vec<String>>>) -> std::net::SocketAddr {
    raw_server(move |s: TcpStream| {
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut s = s;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                if let Some(v) = h.strip_prefix("Accept-Encoding: ") {
                    seen.lock().unwrap().push(v.trim().to_string());
                }
                if h == "\r\n" {
                    break;
                }
            }
            let (coding, body) = match path.as_str() {
                "/gzip" => ("gzip", gzip(&page())),
                "/deflate" => ("deflate", compress_to_vec_zlib(&page(), 6)),
                "/raw-deflate" => ("deflate", compress_to_vec(&page(), 6)),
                "/br" => ("br", BROTLI.to_vec()),
                _ => ("identity", page()),
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            if s.write_all(head.as_bytes()).is_err() || s.write_all(&body).is_err() {
                return;
            }
        }
    })
}

#[test]
fn the_cli_asks_for_compression_decodes_reports_and_saves_decoded_pages() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = server(seen.clone());
    let dir = std::env::temp_dir().join(format!("oneloop-decode-{}", std::process::id()));
    let paths = ["/gzip", "/deflate", "/raw-deflate", "/br", "/plain"];
    let input: String = paths
        .iter()
        .map(|p| format!("http://{addr}{p}\n"))
        .collect();
    let out = oneloop_with_stdin(
        &[
            "crawl",
            "-",
            "--no-pacing",
            "--ignore-robots",
            "--save",
            dir.to_str().unwrap(),
        ],
        &input,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let n = page().len();
    for line in stdout.lines() {
        assert!(line.contains(&format!("\"bytes\":{n}")), "{line}");
        let path = line
            .split("\"path\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), page(), "{line}");
        if line.contains("/plain") {
            assert!(!line.contains("wire_bytes"), "{line}");
        } else {
            let coding = if line.contains("/br\"") {
                "br"
            } else if line.contains("gzip") {
                "gzip"
            } else {
                "deflate"
            };
            assert!(
                line.contains(&format!("\"encoding\":\"{coding}\"")),
                "{line}"
            );
            assert!(!line.contains(&format!("\"wire_bytes\":{n}")), "{line}");
        }
    }
    assert_eq!(stdout.lines().count(), 5);
    let asked = seen.lock().unwrap().clone();
    assert_eq!(asked.len(), 5);
    assert!(asked.iter().all(|a| a == "gzip, deflate, br"), "{asked:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_and_local_configs_ask_for_the_body_as_it_is() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = server(seen.clone());
    let mut crawler = oneloop::Crawler::new(oneloop::Config::local()).unwrap();
    let mut got = Vec::new();
    crawler
        .run([format!("http://{addr}/gzip")], |o| {
            got.push(o.result.as_ref().unwrap().body.clone())
        })
        .unwrap();
    // The server compressed anyway: decoded all the same.
    assert_eq!(got, [page()]);
    assert_eq!(seen.lock().unwrap().as_slice(), ["identity"]);
}
