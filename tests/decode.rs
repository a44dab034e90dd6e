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

const BROTLI: &[u8] = include_bytes!("data/page.br");

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
