//! The HTTP codec without any socket: encode a request, then feed a response
//! to the reader one byte at a time, as a slow network would.
//!
//! `cargo run --example sans_io_http`

use oneloop::http::{encode_request, Limits, Method, ReadProgress, Response, ResponseReader};
use oneloop::url::Url;

fn main() {
    let url = Url::parse("http://example.test/search?q=event+loop").unwrap();
    let mut request = Vec::new();
    encode_request(&mut request, Method::Get, &url, &[], b"", "oneloop-example");
    print!("{}", String::from_utf8_lossy(&request));

    let wire: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let mut reader = ResponseReader::new(Limits::default(), Method::Get, true);
    let mut response = Response::default();
    let mut pending = Vec::new();
    for &byte in wire {
        pending.push(byte);
        let (used, progress) = reader.handle_bytes(&pending, &mut response).unwrap();
        pending.drain(..used); // an incomplete head is kept and offered again
        if progress == ReadProgress::Done {
            break;
        }
    }
    assert!(reader.is_done() && reader.keep_alive());
    println!(
        "status {}, body {:?}, reusable: {}",
        response.status,
        String::from_utf8_lossy(&response.body),
        reader.keep_alive()
    );
}
