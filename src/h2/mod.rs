//! HTTP/2 (RFC 9113), sans-IO, in the making (issue 31).
//!
//! So far: [`hpack`], the header compression every HTTP/2 connection
//! speaks (RFC 7541) — bytes in, header lists out, with limits on
//! everything a server controls. Frames, streams and the connection come
//! next, in the shape of the HTTP/1.1 codec: plain data, no sockets, no
//! clock.

pub mod hpack;
