//! HTTP/2 (RFC 9113), sans-IO, in the making (issue 31).
//!
//! So far: [`frame`], the frames (RFC 9113 §4, §6) parsed zero-copy
//! and bounded, written for a client; and [`hpack`], the header
//! compression every HTTP/2 connection speaks (RFC 7541) — bytes in,
//! header lists out, with limits on everything a server controls. Streams
//! and the connection come next, in the shape of the HTTP/1.1 codec: plain data, no sockets, no
//! clock.

pub mod frame;
pub mod hpack;
