//! How an HTTP/2 stream ended (with or without the `http2` feature, so
//! the connection table reads the same either way).

use crate::error::Error;
use crate::http::Response;
use std::time::Instant;

/// How a stream ended, for the connection table.
#[derive(Debug)]
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
pub(crate) enum StreamEnd {
    /// The response is complete.
    Done {
        stream: u32,
        response: Response,
        /// The request's HTTP/1.1 form, kept for archives (else empty).
        request: Vec<u8>,
        first_byte_at: Option<Instant>,
    },
    /// The exchange failed; the connection may carry on.
    Failed {
        stream: u32,
        error: Error,
        got_response_bytes: bool,
        first_byte_at: Option<Instant>,
    },
}
