//! The socket pump: moves bytes between one stream (plain or through rustls)
//! and the connection's buffers. It knows nothing of HTTP or of states; the
//! state machine in [`super`] decides what to pump when.
//!
//! mio is edge-triggered: each pump runs until `WouldBlock`, because a new
//! readiness event comes only after the socket has been drained (or filled).

use crate::error::{Error, ErrorKind, Phase};
use std::io::{self, Read, Write};

/// What one read produced.
pub(super) enum Input {
    /// This many plaintext bytes at the start of the read buffer.
    Bytes(usize),
    /// A clean end: TCP FIN, or TLS close_notify.
    Eof,
    /// TCP FIN on a TLS connection without close_notify.
    UncleanTlsEof,
    /// Nothing more for now.
    WouldBlock,
}

/// Why a read failed.
pub(super) enum ReadFail {
    Io(io::Error),
    Tls(rustls::Error),
}

/// One connection's stream, TLS session and byte buffers.
pub(super) struct Pump<S> {
    pub stream: Option<S>,
    pub tls: Option<Box<rustls::ClientConnection>>,
    /// Request bytes, and how many went out.
    pub out: Vec<u8>,
    pub out_pos: usize,
    /// Received plaintext the reader could not use yet: an incomplete
    /// head (reads go to the loop-wide buffer; only this stays). Empty,
    /// and unallocated, most of the time.
    pub pending: Vec<u8>,
}

impl<S: Read + Write> Pump<S> {
    pub fn new(tls: Option<rustls::ClientConnection>) -> Pump<S> {
        Pump {
            stream: None,
            tls: tls.map(Box::new),
            out: Vec::new(),
            out_pos: 0,
            pending: Vec::new(),
        }
    }

    /// Runs the TLS handshake as far as the socket allows; true when done.
    pub fn handshake(&mut self) -> Result<bool, Error> {
        let (Some(tls), Some(stream)) = (&mut self.tls, &mut self.stream) else {
            return Err(Error::new(Phase::Tls, ErrorKind::Io, "no TLS session"));
        };
        loop {
            flush_tls(tls, stream).map_err(|e| Error::from_io(Phase::Tls, &e))?;
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(stream) {
                Ok(0) => {
                    return Err(Error::new(
                        Phase::Tls,
                        ErrorKind::UnexpectedEof,
                        "the server closed the connection during the handshake",
                    ))
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // rustls queued an alert for the server; send it if we can.
                        let _ = flush_tls(tls, stream);
                        return Err(crate::tls::classify(&e));
                    }
                }
                // The server's next flight has not arrived yet.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(Phase::Tls, &e)),
            }
        }
    }

    /// Does rustls hold bytes that a full socket buffer refused?
    pub fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes pending request bytes; true when all are out.
    pub fn write_out(&mut self) -> io::Result<bool> {
        let Some(s) = &mut self.stream else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "no socket"));
        };
        if let Some(tls) = &mut self.tls {
            // Plaintext goes into rustls (which encrypts into its own buffer),
            // ciphertext goes to the socket.
            loop {
                if self.out_pos < self.out.len() {
                    let n = tls.writer().write(&self.out[self.out_pos..])?;
                    self.out_pos += n;
                    if n == 0 && !tls.wants_write() {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                }
                if !tls.wants_write() {
                    if self.out_pos == self.out.len() {
                        return Ok(true);
                    }
                    continue;
                }
                match tls.write_tls(s) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        while self.out_pos < self.out.len() {
            match s.write(&self.out[self.out_pos..]) {
                // A zero-byte write on a non-empty buffer: the socket cannot
                // take more, ever.
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                // The kernel buffer is full; a WRITABLE event will tell us when
                // it drains (edge-triggered: only after we have hit WouldBlock).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // A signal interrupted the call before any byte moved: retry.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// One read of plaintext into `buf` (the loop-wide read buffer), from
    /// the socket or through rustls.
    pub fn read_input(&mut self, buf: &mut [u8]) -> Result<Input, ReadFail> {
        let Some(stream) = &mut self.stream else {
            return Err(ReadFail::Io(io::ErrorKind::NotConnected.into()));
        };
        let Some(tls) = &mut self.tls else {
            loop {
                return match stream.read(buf) {
                    // A zero-byte read is the server's FIN: end of input.
                    Ok(0) => Ok(Input::Eof),
                    Ok(n) => Ok(Input::Bytes(n)),
                    // Drained. mio is edge-triggered, so we only hear of new
                    // bytes because we read until this point.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Input::WouldBlock),
                    // A signal interrupted the call: retry.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(ReadFail::Io(e)),
                };
            }
        };
        let mut saw_eof = false;
        loop {
            // Plaintext rustls already decrypted comes first.
            match tls.reader().read(buf) {
                // close_notify: the server ended the stream properly.
                Ok(0) => return Ok(Input::Eof),
                Ok(n) => return Ok(Input::Bytes(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if saw_eof {
                        return Ok(Input::UncleanTlsEof);
                    }
                }
                // TCP FIN without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(Input::UncleanTlsEof)
                }
                Err(e) => return Err(ReadFail::Io(e)),
            }
            // Need more ciphertext.
            match tls.read_tls(stream) {
                Ok(n) => {
                    saw_eof |= n == 0;
                    if let Err(e) = tls.process_new_packets() {
                        let _ = flush_tls(tls, stream);
                        return Err(ReadFail::Tls(e));
                    }
                    // Post-handshake messages may need an answer (key update).
                    let _ = flush_tls(tls, stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Input::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadFail::Io(e)),
            }
        }
    }
}

/// Writes what rustls has queued until done or `WouldBlock`.
fn flush_tls<S: Write>(tls: &mut rustls::ClientConnection, stream: &mut S) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
