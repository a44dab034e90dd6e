//! HTTP/2 (RFC 9113), sans-IO, in the making (issue 31).
//!
//! So far: [`conn`], the client connection (streams as RFC 9113 §5.1
//! states, flow control, SETTINGS, GOAWAY and resets, limits on
//! CONTINUATION and PING floods), over [`frame`], the frames (RFC 9113 §4, §6) parsed zero-copy
//! and bounded, written for a client; and [`hpack`], the header
//! compression every HTTP/2 connection speaks (RFC 7541) — bytes in,
//! header lists out, with limits on everything a server controls. All in the
//! shape of the HTTP/1.1 codec: plain data, no sockets, no clock. Not yet
//! wired to the connection table (ALPN, one connection per origin in the
//! pool, streams on the timeline): that comes next.

pub mod bridge;
pub mod conn;
pub mod frame;
pub mod hpack;
