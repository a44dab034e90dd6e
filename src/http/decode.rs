//! Content decoding (`Content-Encoding: gzip, deflate, br`), a streaming
//! stage after de-chunking: compressed bytes in, decoded bytes out to a
//! sink, in bounded pieces, so memory does not grow with the body. The
//! decoded size is capped by the sink (the response reader's body limit),
//! so a decompression bomb stops at the limit: nothing more is inflated.
//!
//! - `gzip` (RFC 1952): the header (with its optional fields) read by hand,
//!   the deflate stream by `miniz_oxide`, the trailer's CRC-32 and size
//!   checked; concatenated members are read one after the other.
//! - `deflate`: RFC 9110 says zlib-wrapped (RFC 1950), but raw deflate is
//!   seen in the wild (old IIS, some CDNs); the first two bytes tell them
//!   apart (a zlib header's check bits), as browsers and curl do.
//! - `br` (RFC 7932) by `brotli-decompressor`, the standard window (at most
//!   16 MiB; the non-standard "large window" streams are refused).
//!
//! A corrupt or truncated stream is `body: decode`.

use crate::crc32::crc32;
use crate::error::{Error, ErrorKind, Phase};
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// A content coding this reader can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` (and its alias `x-gzip`).
    Gzip,
    /// `deflate`: zlib-wrapped, or raw.
    Deflate,
    /// `br`.
    Brotli,
}

impl Coding {
    /// The coding a `Content-Encoding` token names, if it is one of ours.
    pub fn from_token(token: &[u8]) -> Option<Coding> {
        let t = token.trim_ascii();
        if t.eq_ignore_ascii_case(b"gzip") || t.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if t.eq_ignore_ascii_case(b"deflate") {
            Some(Coding::Deflate)
        } else if t.eq_ignore_ascii_case(b"br") {
            Some(Coding::Brotli)
        } else {
            None
        }
    }

    /// Its name, as in the header and the outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
        }
    }
}

/// Where decoded bytes go; an error (the size limit) stops decoding.
pub type Sink<'a> = dyn FnMut(&[u8]) -> Result<(), Error> + 'a;

/// Decoded bytes are produced in pieces of this size.
const PIECE: usize = 16 * 1024;

fn decode_error(detail: impl Into<String>) -> Error {
    Error::new(Phase::Body, ErrorKind::Decode, detail)
}

/// A streaming decoder for one body.
pub struct BodyDecoder {
    coding: Coding,
    inner: Inner,
    out: Box<[u8]>,
    /// The next coding to undo, for stacked codings (`gzip, gzip`): this
    /// one's output is its input.
    then: Option<Box<BodyDecoder>>,
}

enum Inner {
    /// Deflate whose wrapping is not known yet (fewer than 2 bytes seen).
    DeflateSniff(Vec<u8>),
    /// The inflater; the gzip framing around it, if gzip; whether the
    /// deflate stream has ended.
    Inflate(Box<InflateState>, Option<Gzip>, bool),
    Brotli(Box<BrotliState>),
    Done,
}

type BrotliState = brotli_decompressor::BrotliState<
    brotli_decompressor::StandardAlloc,
    brotli_decompressor::StandardAlloc,
    brotli_decompressor::StandardAlloc,
>;

impl std::fmt::Debug for BodyDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BodyDecoder({})", self.coding.as_str())
    }
}

impl BodyDecoder {
    /// A decoder for a body in `coding`.
    pub fn new(coding: Coding) -> BodyDecoder {
        let inner = match coding {
            Coding::Gzip => Inner::Inflate(
                InflateState::new_boxed(DataFormat::Raw),
                Some(Gzip::default()),
                false,
            ),
            Coding::Deflate => Inner::DeflateSniff(Vec::new()),
            Coding::Brotli => {
                use brotli_decompressor::StandardAlloc;
                let mut s = BrotliState::new(
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                );
                s.large_window = false;
                Inner::Brotli(Box::new(s))
            }
        };
        BodyDecoder {
            coding,
            inner,
            out: vec![0; PIECE].into_boxed_slice(),
            then: None,
        }
    }

    /// A decoder for codings applied in `codings`' order (as a
    /// `Content-Encoding` lists them): the last is undone first.
    pub fn chain(codings: &[Coding]) -> BodyDecoder {
        let mut then: Option<Box<BodyDecoder>> = None;
        for &c in codings {
            let mut d = BodyDecoder::new(c);
            d.then = then.take();
            then = Some(Box::new(d));
        }
        then.map_or_else(|| BodyDecoder::new(Coding::Gzip), |d| *d)
    }

    /// The coding undone.
    pub fn coding(&self) -> Coding {
        self.coding
    }

    /// Decodes the next compressed bytes, passing decoded ones to `sink`
    /// (through the next decoder of a chain, if any).
    pub fn handle_bytes(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), Error> {
        match self.then.take() {
            Some(mut next) => {
                let r = self.handle_own(input, &mut |out: &[u8]| next.handle_bytes(out, sink));
                self.then = Some(next);
                r
            }
            None => self.handle_own(input, sink),
        }
    }

    /// This decoder's own step.
    fn handle_own(&mut self, input: &[u8], sink: &mut Sink<'_>) -> Result<(), Error> {
        let mut input = input;
        while !input.is_empty() {
            let used = match &mut self.inner {
                Inner::DeflateSniff(seen) => {
                    let take = (2 - seen.len()).min(input.len());
                    seen.extend_from_slice(&input[..take]);
                    if seen.len() == 2 {
                        let zlib = (seen[0] & 0x0f) == 8
                            && (u16::from(seen[0]) << 8 | u16::from(seen[1])) % 31 == 0;
                        let format = if zlib {
                            DataFormat::Zlib
                        } else {
                            DataFormat::Raw
                        };
                        let head = std::mem::take(seen);
                        self.inner = Inner::Inflate(InflateState::new_boxed(format), None, false);
                        self.handle_own(&head, sink)?;
                    }
                    take
                }
                Inner::Inflate(state, gzip, ended) => {
                    inflate_some(state, gzip, ended, input, &mut self.out, sink)?
                }
                Inner::Brotli(state) => brotli_some(state, input, &mut self.out, sink)?,
                // NUL bytes after the last member: padding some servers
                // add; browsers and curl ignore it, and so do we.
                Inner::Done if self.coding == Coding::Gzip && input[0] == 0 => {
                    input.iter().position(|&b| b != 0).unwrap_or(input.len())
                }
                // Another gzip member follows (concatenation is allowed):
                // start again; its header must be a gzip header.
                Inner::Done if self.coding == Coding::Gzip => {
                    self.inner = Inner::Inflate(
                        InflateState::new_boxed(DataFormat::Raw),
                        Some(Gzip::default()),
                        false,
                    );
                    0
                }
                Inner::Done => return Err(decode_error("bytes after the end of the stream")),
            };
            input = &input[used..];
            if let Inner::Inflate(_, Some(g), _) = &self.inner {
                if g.stage == GzStage::Finished {
                    self.inner = Inner::Done;
                }
            }
        }
        Ok(())
    }

    /// The body ended: the stream must be complete (every stream of a
    /// chain).
    pub fn finish(&mut self) -> Result<(), Error> {
        self.finish_own()?;
        match &mut self.then {
            Some(next) => next.finish(),
            None => Ok(()),
        }
    }

    fn finish_own(&mut self) -> Result<(), Error> {
        let complete = match &self.inner {
            Inner::Done => true,
            Inner::DeflateSniff(seen) => seen.is_empty(),
            Inner::Inflate(_, None, ended) => *ended,
            Inner::Inflate(_, Some(g), _) => g.stage == GzStage::Finished,
            Inner::Brotli(state) => brotli_decompressor::BrotliDecoderIsFinished(state),
        };
        if complete {
            Ok(())
        } else {
            Err(decode_error(format!(
                "the {} stream is cut short",
                self.coding.as_str()
            )))
        }
    }
}

/// Runs the inflater over `input` (within a gzip member's body, when
/// `gzip`), returning how much input it used.
fn inflate_some(
    state: &mut InflateState,
    gzip: &mut Option<Gzip>,
    ended: &mut bool,
    input: &[u8],
    out: &mut [u8],
    sink: &mut Sink<'_>,
) -> Result<usize, Error> {
    if let Some(g) = gzip.as_mut() {
        if g.stage != GzStage::Body {
            return g.handle_frame(input);
        }
    }
    if *ended {
        return Err(decode_error("deflate data after the end of the stream"));
    }
    // Until the inflater leaves room in `out`: when it fills it, it may
    // hold more output with no input left to give it (the last bytes of a
    // body decode to more than one piece), and that output must come out
    // now; the body's end could not fetch it. (Stopping when the input ran
    // out left it inside: "the deflate stream is cut short" for bodies of
    // 16,385-32,768 bytes and many others.)
    let mut consumed = 0;
    loop {
        let r = inflate(state, &input[consumed..], out, MZFlush::None);
        consumed += r.bytes_consumed;
        let written = &out[..r.bytes_written];
        if let Some(g) = gzip.as_mut() {
            g.crc = crc32(g.crc, written);
            g.size = g.size.wrapping_add(written.len() as u32);
        }
        sink(written)?;
        match r.status {
            Ok(MZStatus::StreamEnd) => {
                *ended = true;
                if let Some(g) = gzip.as_mut() {
                    g.stage = GzStage::Trailer;
                }
                return Ok(consumed);
            }
            Ok(_) => {}
            // No progress: more input is needed (all of it was taken).
            Err(MZError::Buf) => {}
            Err(e) => return Err(decode_error(format!("corrupt deflate data ({e:?})"))),
        }
        if r.bytes_written < out.len() {
            if consumed == 0 && r.bytes_written == 0 && !input.is_empty() {
                return Err(decode_error("the deflate stream makes no progress"));
            }
            return Ok(consumed);
        }
    }
}

/// Runs the brotli decoder over `input`; all of it is used.
fn brotli_some(
    state: &mut BrotliState,
    input: &[u8],
    out: &mut [u8],
    sink: &mut Sink<'_>,
) -> Result<usize, Error> {
    use brotli_decompressor::{BrotliDecompressStream, BrotliResult};
    let (mut avail_in, mut in_off) = (input.len(), 0usize);
    loop {
        let (mut avail_out, mut out_off, mut total) = (out.len(), 0usize, 0usize);
        let r = BrotliDecompressStream(
            &mut avail_in,
            &mut in_off,
            input,
            &mut avail_out,
            &mut out_off,
            out,
            &mut total,
            state,
        );
        sink(&out[..out_off])?;
        match r {
            BrotliResult::NeedsMoreOutput => continue,
            BrotliResult::NeedsMoreInput => return Ok(input.len()),
            BrotliResult::ResultSuccess if avail_in == 0 => return Ok(input.len()),
            BrotliResult::ResultSuccess => {
                return Err(decode_error("brotli data after the end of the stream"))
            }
            BrotliResult::ResultFailure => return Err(decode_error("corrupt brotli data")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum GzStage {
    /// The fixed 10-byte header.
    #[default]
    Header,
    /// FEXTRA's 2-byte length, then its bytes.
    ExtraLen,
    Extra,
    /// FNAME, FCOMMENT: zero-terminated.
    Name,
    Comment,
    /// FHCRC: 2 bytes.
    HeaderCrc,
    Body,
    /// CRC-32 and ISIZE, 8 bytes.
    Trailer,
    Finished,
}

/// A gzip member's framing around its deflate stream (RFC 1952 §2.3).
#[derive(Debug, Default)]
struct Gzip {
    stage: GzStage,
    flags: u8,
    buf: Vec<u8>,
    extra_left: usize,
    crc: u32,
    size: u32,
}

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

impl Gzip {
    /// Reads header or trailer bytes; returns how many it used.
    fn handle_frame(&mut self, input: &[u8]) -> Result<usize, Error> {
        let mut used = 0;
        while used < input.len() && !matches!(self.stage, GzStage::Body | GzStage::Finished) {
            let b = input[used];
            used += 1;
            match self.stage {
                GzStage::Header | GzStage::ExtraLen | GzStage::HeaderCrc | GzStage::Trailer => {
                    self.buf.push(b);
                    self.fixed_part_done()?;
                }
                GzStage::Extra => {
                    self.extra_left -= 1;
                    if self.extra_left == 0 {
                        self.after(FEXTRA);
                    }
                }
                GzStage::Name if b == 0 => self.after(FNAME),
                GzStage::Comment if b == 0 => self.after(FCOMMENT),
                _ => {}
            }
        }
        Ok(used)
    }

    /// A fixed-size part may be complete: act on it.
    fn fixed_part_done(&mut self) -> Result<(), Error> {
        let need = match self.stage {
            GzStage::Header => 10,
            GzStage::ExtraLen | GzStage::HeaderCrc => 2,
            _ => 8,
        };
        if self.buf.len() < need {
            return Ok(());
        }
        let part = std::mem::take(&mut self.buf);
        match self.stage {
            GzStage::Header => {
                if part[0] != 0x1f || part[1] != 0x8b || part[2] != 8 {
                    return Err(decode_error("not a gzip stream (bad magic or method)"));
                }
                self.flags = part[3];
                self.after(0);
            }
            GzStage::ExtraLen => {
                self.extra_left = usize::from(u16::from_le_bytes([part[0], part[1]]));
                if self.extra_left == 0 {
                    self.after(FEXTRA);
                } else {
                    self.stage = GzStage::Extra;
                }
            }
            GzStage::HeaderCrc => self.after(FHCRC),
            _ => {
                let crc = u32::from_le_bytes([part[0], part[1], part[2], part[3]]);
                let size = u32::from_le_bytes([part[4], part[5], part[6], part[7]]);
                if crc != self.crc || size != self.size {
                    return Err(decode_error(
                        "gzip trailer does not match the data (CRC-32 or size)",
                    ));
                }
                self.stage = GzStage::Finished;
            }
        }
        Ok(())
    }

    /// The header part `done` (a flag, or 0 for the fixed header) was read:
    /// on to the next present part, or the body.
    fn after(&mut self, done: u8) {
        let order = [
            (FEXTRA, GzStage::ExtraLen),
            (FNAME, GzStage::Name),
            (FCOMMENT, GzStage::Comment),
            (FHCRC, GzStage::HeaderCrc),
        ];
        let start = order
            .iter()
            .position(|(f, _)| *f == done)
            .map_or(0, |i| i + 1);
        self.stage = order[start..]
            .iter()
            .find(|(f, _)| self.flags & f != 0)
            .map_or(GzStage::Body, |(_, s)| *s);
    }
}

#[cfg(test)]
mod tests;
