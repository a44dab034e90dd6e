//! HTTP/2 (RFC 9113), sans-IO (issue 31).
//!
//! [`conn`] is the client connection (streams as RFC 9113 §5.1 states,
//! flow control, SETTINGS, GOAWAY and resets, limits on CONTINUATION and
//! PING floods), over [`frame`], the frames (RFC 9113 §4, §6) parsed
//! zero-copy and bounded, and [`hpack`], the header compression (RFC 7541)
//! — bytes in, header lists out, limits on everything a server controls.
//! [`bridge`] turns a request's HTTP/1.1 bytes into a header list and a
//! response's header list into an HTTP/1.1 head, so one response reader
//! serves both protocols. All plain data: no sockets, no clock.
//!
//! On the loop: TLS offers `h2` by ALPN unless `TlsConfig::http2` is off
//! (`--http1.1`); a connection whose server picks it is `Multiplexed`
//! (`conn/multiplex.rs`), its origin's one shared connection in the table
//! (`connections/shared.rs`).

pub mod bridge;
pub mod conn;
pub mod frame;
pub mod hpack;
