//! An incremental decoder for `Transfer-Encoding: chunked` (RFC 9112 §7.1).
//!
//! Bytes may arrive split anywhere, even inside a size line or a CRLF, so the
//! decoder is a small state machine that remembers where it stopped. Chunk
//! sizes are parsed with overflow checks (17 significant hex digits are an
//! error, not a wrap-around; leading zeros do not count), extensions are
//! skipped, a size line (extensions included) is at most [`MAX_SIZE_LINE`]
//! bytes, and trailers are read and discarded within a byte limit. A bare LF is accepted where CRLF is expected, as most
//! clients do; a CR followed by anything but LF is malformed.

use crate::error::{Error, ErrorKind, Phase};

/// The longest chunk-size line accepted, extensions included: a server that
/// sends endless extension bytes is cut off here instead of holding the
/// connection until the total timeout.
pub const MAX_SIZE_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` counts the significant
    /// ones, `line` every byte of the line so far.
    Size {
        value: u64,
        digits: u8,
        line: usize,
    },
    /// After the digits: optional whitespace, then `;ext` or the line end.
    SizeTail {
        value: u64,
        in_ext: bool,
        line: usize,
    },
    /// Saw CR at the end of the size line.
    SizeLf {
        value: u64,
    },
    /// Inside chunk data.
    Data {
        remaining: u64,
    },
    /// Expecting the CRLF after chunk data.
    DataCr,
    DataLf,
    /// Reading trailer fields; `line_len` is the current line's length so far.
    Trailer {
        line_len: usize,
    },
    TrailerLf {
        line_len: usize,
    },
    Done,
}

/// The chunked decoder. See the module docs.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    trailer_bytes: usize,
    max_trailer_bytes: usize,
}

const SIZE_START: State = State::Size {
    value: 0,
    digits: 0,
    line: 0,
};

fn size_line_too_long() -> Error {
    Error::new(
        Phase::Body,
        ErrorKind::TooLarge,
        format!("chunk size line over {MAX_SIZE_LINE} bytes"),
    )
}

fn expect_lf(b: u8, what: &'static str) -> Result<(), Error> {
    if b == b'\n' {
        Ok(())
    } else {
        Err(malformed(what))
    }
}

fn malformed(detail: &str) -> Error {
    Error::new(Phase::Body, ErrorKind::Malformed, detail)
}

impl ChunkedDecoder {
    /// A decoder that allows at most `max_trailer_bytes` of trailer fields.
    pub fn new(max_trailer_bytes: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: SIZE_START,
            trailer_bytes: 0,
            max_trailer_bytes,
        }
    }

    /// True once the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, passing chunk data to `data`. Returns how many bytes
    /// were consumed; stops right after the end of the chunked body, so bytes
    /// that follow it are left to the caller. An error from `data` (a body size
    /// limit, say) stops decoding and is returned.
    pub fn handle_bytes(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            i += match self.state {
                State::Size {
                    value,
                    digits,
                    line,
                } => self.on_size(b, value, digits, line)?,
                State::SizeTail {
                    value,
                    in_ext,
                    line,
                } => self.on_size_tail(b, value, in_ext, line)?,
                State::SizeLf { value } => {
                    expect_lf(b, "CR without LF in chunk size line")?;
                    self.end_size_line(value);
                    1
                }
                State::Data { remaining } => self.on_data(&input[i..], remaining, data)?,
                State::DataCr => {
                    self.state = match b {
                        b'\r' => State::DataLf,
                        b'\n' => SIZE_START,
                        _ => return Err(malformed("chunk data not followed by CRLF")),
                    };
                    1
                }
                State::DataLf => {
                    expect_lf(b, "chunk data not followed by CRLF")?;
                    self.state = SIZE_START;
                    1
                }
                State::Trailer { line_len } => self.on_trailer(b, line_len)?,
                State::TrailerLf { line_len } => {
                    expect_lf(b, "CR without LF in trailer")?;
                    self.end_trailer_line(line_len);
                    1
                }
                State::Done => return Ok(i),
            };
            if self.state == State::Done {
                return Ok(i);
            }
        }
        Ok(i)
    }

    /// A byte of the chunk size: a hex digit, or the end of the digits.
    fn on_size(&mut self, b: u8, value: u64, digits: u8, line: usize) -> Result<usize, Error> {
        let Some(d) = crate::text::hex_value(b) else {
            if line == 0 {
                return Err(malformed("chunk size line without digits"));
            }
            // Not consumed: the size line's tail reads it.
            self.state = State::SizeTail {
                value,
                in_ext: false,
                line,
            };
            return Ok(0);
        };
        // Leading zeros are not significant: `0000000000000000005` is 5.
        let significant = digits + u8::from(value != 0 || d != 0);
        if significant > 16 {
            return Err(malformed("chunk size overflows 64 bits"));
        }
        if line >= MAX_SIZE_LINE {
            return Err(size_line_too_long());
        }
        self.state = State::Size {
            value: (value << 4) | u64::from(d),
            digits: significant,
            line: line + 1,
        };
        Ok(1)
    }

    /// A byte after the size digits: whitespace, an extension, the line end.
    fn on_size_tail(
        &mut self,
        b: u8,
        value: u64,
        in_ext: bool,
        line: usize,
    ) -> Result<usize, Error> {
        if line >= MAX_SIZE_LINE {
            return Err(size_line_too_long());
        }
        let line = line + 1;
        self.state = match b {
            b'\r' => State::SizeLf { value },
            b'\n' => {
                self.end_size_line(value);
                return Ok(1);
            }
            b';' => State::SizeTail {
                value,
                in_ext: true,
                line,
            },
            b' ' | b'\t' => State::SizeTail {
                value,
                in_ext,
                line,
            },
            _ if in_ext && b >= 0x20 && b != 0x7f => State::SizeTail {
                value,
                in_ext,
                line,
            },
            _ => return Err(malformed("bad byte in chunk size line")),
        };
        Ok(1)
    }

    /// Chunk data: as much of `input` as the chunk has left.
    fn on_data(
        &mut self,
        input: &[u8],
        remaining: u64,
        data: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        let take = remaining.min(input.len() as u64) as usize;
        data(&input[..take])?;
        let remaining = remaining - take as u64;
        self.state = if remaining == 0 {
            State::DataCr
        } else {
            State::Data { remaining }
        };
        Ok(take)
    }

    /// A byte of a trailer line (counted against the trailers' limit).
    fn on_trailer(&mut self, b: u8, line_len: usize) -> Result<usize, Error> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.max_trailer_bytes {
            return Err(Error::new(
                Phase::Body,
                ErrorKind::TooLarge,
                format!("trailers over {} bytes", self.max_trailer_bytes),
            ));
        }
        match b {
            b'\r' => self.state = State::TrailerLf { line_len },
            b'\n' => self.end_trailer_line(line_len),
            _ => {
                self.state = State::Trailer {
                    line_len: line_len + 1,
                }
            }
        }
        Ok(1)
    }

    fn end_size_line(&mut self, value: u64) {
        self.state = if value == 0 {
            State::Trailer { line_len: 0 }
        } else {
            State::Data { remaining: value }
        };
    }

    fn end_trailer_line(&mut self, line_len: usize) {
        // An empty line ends the trailer section (and the message).
        self.state = if line_len == 0 {
            State::Done
        } else {
            State::Trailer { line_len: 0 }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes; returns (body, consumed).
    fn decode_in_steps(wire: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), Error> {
        let mut d = ChunkedDecoder::new(1024);
        let mut body = Vec::new();
        let mut pos = 0;
        while pos < wire.len() && !d.is_done() {
            let end = (pos + step).min(wire.len());
            let used = d.handle_bytes(&wire[pos..end], &mut |c| {
                body.extend_from_slice(c);
                Ok(())
            })?;
            if !d.is_done() {
                assert_eq!(used, end - pos, "an unfinished decoder consumes all input");
            }
            pos += used;
        }
        Ok((body, pos, d.is_done()))
    }

    #[test]
    fn decodes_at_every_split() {
        let wire =
            b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (body, used, done) = decode_in_steps(wire, step).unwrap();
            assert!(done);
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(&wire[used..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn leading_zeros_are_not_significant() {
        for wire in [
            &b"000000000000000000005\r\nhello\r\n0\r\n\r\n"[..],
            b"0005;x\r\nhello\r\n000\r\n\r\n",
        ] {
            let (body, _, done) = decode_in_steps(wire, 1).unwrap();
            assert!(done);
            assert_eq!(body, b"hello");
        }
        // Seventeen significant digits still overflow, zeros in front or not.
        let e = decode_in_steps(b"0000100000000000000000\r\n", 1).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
    }

    #[test]
    fn a_size_line_has_a_length_limit() {
        // Endless extension bytes: cut off once the line passes the limit,
        // however the bytes are split.
        let mut wire = b"5;".to_vec();
        wire.extend(std::iter::repeat_n(b'x', 10 * MAX_SIZE_LINE));
        for step in [1, 7, 4096, wire.len()] {
            let mut d = ChunkedDecoder::new(1024);
            let mut fed = 0;
            let err = loop {
                let end = (fed + step).min(wire.len());
                match d.handle_bytes(&wire[fed..end], &mut |_| Ok(())) {
                    Ok(n) => fed += n,
                    Err(e) => break e,
                }
                assert!(fed < wire.len(), "no error after {fed} bytes");
            };
            assert_eq!((err.phase, err.kind), (Phase::Body, ErrorKind::TooLarge));
            assert!(fed <= MAX_SIZE_LINE, "stopped after {fed} bytes");
        }
        // A long but legal line passes.
        let mut ok = b"5;".to_vec();
        ok.extend(std::iter::repeat_n(b'x', MAX_SIZE_LINE - 10));
        ok.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode_in_steps(&ok, 3).unwrap().0, b"hello");
    }

    #[test]
    fn bare_lf_is_accepted() {
        let (body, _, done) = decode_in_steps(b"3\nabc\n0\n\n", 1).unwrap();
        assert!(done);
        assert_eq!(body, b"abc");
    }

    #[test]
    fn overflow_and_junk_are_malformed() {
        for wire in [
            &b"11111111111111111\r\n"[..],
            b"\r\n",
            b"zz\r\n",
            b"3\r\nabcX",
            b"3\rX",
            b"0\r\nX\rY",
        ] {
            let e = decode_in_steps(wire, 1).unwrap_err();
            assert_eq!(
                e.kind,
                ErrorKind::Malformed,
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        // 16 hex digits is the most a u64 holds, and is accepted as a size.
        let mut d = ChunkedDecoder::new(10);
        assert!(d
            .handle_bytes(b"FFFFFFFFFFFFFFFF\r\nab", &mut |_| Ok(()))
            .is_ok());
    }

    #[test]
    fn trailers_are_bounded() {
        let mut wire = b"0\r\n".to_vec();
        wire.extend(std::iter::repeat_n(b'a', 2000));
        let e = decode_in_steps(&wire, 7).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooLarge);
    }

    #[test]
    fn sink_errors_stop_decoding() {
        let mut d = ChunkedDecoder::new(10);
        let e = d
            .handle_bytes(b"5\r\nhello\r\n", &mut |_| {
                Err(Error::new(Phase::Body, ErrorKind::TooLarge, "cap"))
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooLarge);
    }
}
