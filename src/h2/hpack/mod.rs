//! HPACK, header compression for HTTP/2 (RFC 7541): a [`Decoder`] for the
//! header blocks a server sends and an [`Encoder`] for the requests.
//!
//! Sans-IO and bounded: the decoder takes a whole header block (HEADERS
//! plus its CONTINUATIONs, joined by the frame layer) and refuses, as a
//! typed [`HpackError`], an index outside the tables, an integer past 2^32,
//! a string or a header list longer than its limit, a table size above the
//! one we announced, and bad Huffman. A refused block is a connection error
//! (`COMPRESSION_ERROR`): the decoder's table is then out of step with the
//! server's.
//!
//! ```
//! use oneloop::h2::hpack::{Decoder, Encoder};
//!
//! let mut enc = Encoder::new(4096);
//! let mut block = Vec::new();
//! enc.encode(&[(b":method", b"GET"), (b":path", b"/"), (b"user-agent", b"oneloop")], &mut block);
//! let mut dec = Decoder::new(4096, 16 * 1024);
//! let headers = dec.decode(&block).unwrap();
//! assert_eq!(headers.get(2), Some((&b"user-agent"[..], &b"oneloop"[..])));
//! ```

mod huffman;
mod table;

pub use huffman::HuffmanError;
use table::Table;

/// Why a header block does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer longer than 2^32 (RFC 7541 §5.1 asks for a limit).
    IntegerOverflow,
    /// Index 0, or past the static and dynamic tables.
    BadIndex(u64),
    /// A string longer than the header list may be.
    StringTooLong(u64),
    /// Bad Huffman (EOS inside, bad padding).
    Huffman(HuffmanError),
    /// A dynamic table size update above the size we announced.
    TableSizeTooLarge(u64),
    /// A dynamic table size update after a header field (§4.2: only at
    /// the start of a block).
    LateSizeUpdate,
    /// The decoded header list is larger than its limit (name + value +
    /// 32 per field, as SETTINGS_MAX_HEADER_LIST_SIZE counts).
    ListTooLarge,
}

impl std::fmt::Display for HpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HpackError::Truncated => write!(f, "header block cut short"),
            HpackError::IntegerOverflow => write!(f, "integer too large"),
            HpackError::BadIndex(i) => write!(f, "index {i} outside the tables"),
            HpackError::StringTooLong(n) => write!(f, "string of {n} bytes"),
            HpackError::Huffman(e) => write!(f, "bad Huffman string: {e:?}"),
            HpackError::TableSizeTooLarge(n) => write!(f, "table size {n} above the limit"),
            HpackError::LateSizeUpdate => write!(f, "table size update after a field"),
            HpackError::ListTooLarge => write!(f, "header list too large"),
        }
    }
}

impl std::error::Error for HpackError {}

/// Per-field overhead in table and list sizes (§4.1).
const FIELD_OVERHEAD: usize = 32;

/// A decoded header list: (name, value) pairs, in order, in one buffer
/// (two allocations per block, not two per field).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    bytes: Vec<u8>,
    /// Per field: where its name ends and its value ends in `bytes` (each
    /// starts where the one before ended).
    ends: Vec<(u32, u32)>,
}

impl HeaderList {
    /// An empty list.
    pub fn new() -> HeaderList {
        HeaderList::default()
    }

    /// Appends a field.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(name);
        let name_end = self.bytes.len() as u32;
        self.bytes.extend_from_slice(value);
        self.ends.push((name_end, self.bytes.len() as u32));
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No field at all.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`.
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.iter().nth(i)
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, end)| {
            let (n, v) = (start as usize, name_end as usize);
            start = end;
            (&self.bytes[n..v], &self.bytes[v..end as usize])
        })
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for HeaderList {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(fields: I) -> HeaderList {
        let mut list = HeaderList::new();
        for (n, v) in fields {
            list.push(n.as_ref(), v.as_ref());
        }
        list
    }
}

impl std::fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

// ---- primitives (§5) ----

/// Reads an integer with an `n`-bit prefix from `buf` at `*pos`.
fn read_int(buf: &[u8], pos: &mut usize, n: u32) -> Result<u64, HpackError> {
    let first = *buf.get(*pos).ok_or(HpackError::Truncated)?;
    *pos += 1;
    let max = (1u64 << n) - 1;
    let mut value = u64::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos).ok_or(HpackError::Truncated)?;
        *pos += 1;
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// Writes `value` with an `n`-bit prefix, the prefix's other bits `flags`.
fn write_int(out: &mut Vec<u8>, flags: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a string literal (§5.2) of at most `limit` bytes (encoded).
fn read_string(
    buf: &[u8],
    pos: &mut usize,
    limit: usize,
    out: &mut Vec<u8>,
    (recent, slot): (&mut huffman::Recent, usize),
) -> Result<(), HpackError> {
    let huffman = buf.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = read_int(buf, pos, 7)?;
    if len > limit as u64 {
        return Err(HpackError::StringTooLong(len));
    }
    let end = *pos + len as usize;
    let raw = buf.get(*pos..end).ok_or(HpackError::Truncated)?;
    *pos = end;
    if huffman {
        recent.decode(slot, raw, out).map_err(HpackError::Huffman)
    } else {
        out.extend_from_slice(raw);
        Ok(())
    }
}

/// Writes a string literal, Huffman-coded when that is not longer.
fn write_string(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
    let coded = huffman::encoded_len(s);
    if huffman && coded <= s.len() {
        write_int(out, 0x80, 7, coded);
        huffman::encode(s, out);
    } else {
        write_int(out, 0, 7, s.len());
        out.extend_from_slice(s);
    }
}

// ---- the decoder ----

/// Decodes the header blocks of one connection (one dynamic table). See
/// the [module docs](self).
pub struct Decoder {
    table: Table,
    /// The most the server may set the table to: what we announced in
    /// SETTINGS_HEADER_TABLE_SIZE.
    max_table_size: usize,
    /// The most a decoded header list may hold (name + value + 32 each).
    max_list_size: usize,
    /// Huffman strings decoded lately (see [`huffman::Recent`]).
    recent: huffman::Recent,
}

impl Decoder {
    /// A decoder whose table may grow to `max_table_size` (the
    /// SETTINGS_HEADER_TABLE_SIZE we announce; 4,096 by default) and whose
    /// header lists may hold `max_list_size` bytes.
    pub fn new(max_table_size: usize, max_list_size: usize) -> Decoder {
        Decoder {
            table: Table::new(max_table_size),
            max_table_size,
            max_list_size,
            recent: huffman::Recent::default(),
        }
    }

    /// The dynamic table's current size in bytes (§4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one whole header block.
    pub fn decode(&mut self, block: &[u8]) -> Result<HeaderList, HpackError> {
        let mut list = HeaderList::new();
        list.bytes.reserve(block.len() * 2);
        let mut list_size = 0usize;
        let mut pos = 0;
        let mut seen_field = false;
        while pos < block.len() {
            let b = block[pos];
            // The field goes straight into the list's buffer.
            let start = list.bytes.len();
            let name_end = if b & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = read_int(block, &mut pos, 7)?;
                let (n, v) = self.table.get(index).ok_or(HpackError::BadIndex(index))?;
                list.bytes.extend_from_slice(n);
                let name_end = list.bytes.len();
                list.bytes.extend_from_slice(v);
                name_end
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                let size = read_int(block, &mut pos, 5)?;
                if seen_field {
                    return Err(HpackError::LateSizeUpdate);
                }
                if size > self.max_table_size as u64 {
                    return Err(HpackError::TableSizeTooLarge(size));
                }
                self.table.set_max_size(size as usize);
                continue;
            } else {
                // Literal: with incremental indexing (01), without (0000),
                // never indexed (0001) (§6.2).
                let indexing = b & 0xc0 == 0x40;
                let prefix = if indexing { 6 } else { 4 };
                let index = read_int(block, &mut pos, prefix)?;
                let limit = self.max_list_size.saturating_sub(list_size);
                if index == 0 {
                    let recent = (&mut self.recent, 2 * list.len());
                    read_string(block, &mut pos, limit, &mut list.bytes, recent)?;
                } else {
                    let (n, _) = self.table.get(index).ok_or(HpackError::BadIndex(index))?;
                    list.bytes.extend_from_slice(n);
                }
                let name_end = list.bytes.len();
                let limit = limit.saturating_sub(name_end - start);
                let recent = (&mut self.recent, 2 * list.len() + 1);
                read_string(block, &mut pos, limit, &mut list.bytes, recent)?;
                if indexing {
                    let (name, value) = list.bytes[start..].split_at(name_end - start);
                    self.table.insert(name, value);
                }
                name_end
            };
            seen_field = true;
            list_size += list.bytes.len() - start + FIELD_OVERHEAD;
            if list_size > self.max_list_size {
                return Err(HpackError::ListTooLarge);
            }
            list.ends.push((name_end as u32, list.bytes.len() as u32));
        }
        Ok(list)
    }
}

// ---- the encoder ----

/// Encodes the header blocks of one connection's requests (one dynamic
/// table, the server's to size). Fields found whole in a table are sent as
/// an index; others as literals added to the dynamic table, so a header
/// repeated on every request (`user-agent`, `accept-encoding`, the
/// authority) costs one or two bytes from the second request on.
/// Huffman-coded when that is not longer. `authorization`, `cookie` and
/// `proxy-authorization` are sent never-indexed (§7.1.3).
pub struct Encoder {
    table: Table,
    /// Huffman-code strings when that is not longer (on by default; off
    /// sends every string as it is).
    pub huffman: bool,
    /// A size change to announce at the start of the next block.
    pending_update: Option<usize>,
}

impl Encoder {
    /// An encoder for a peer whose SETTINGS_HEADER_TABLE_SIZE is
    /// `table_size` (4,096 until its SETTINGS say otherwise).
    pub fn new(table_size: usize) -> Encoder {
        Encoder {
            table: Table::new(table_size),
            huffman: true,
            pending_update: None,
        }
    }

    /// The peer announced a new SETTINGS_HEADER_TABLE_SIZE: the table
    /// shrinks (or may grow) to it, and the next block says so first.
    pub fn set_max_table_size(&mut self, size: usize) {
        self.table.set_max_size(size);
        self.pending_update = Some(size);
    }

    /// Appends the block encoding `headers` to `out`.
    pub fn encode(&mut self, headers: &[(&[u8], &[u8])], out: &mut Vec<u8>) {
        if let Some(size) = self.pending_update.take() {
            write_int(out, 0x20, 5, size);
        }
        for &(name, value) in headers {
            self.encode_field(name, value, out);
        }
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
        let sensitive = matches!(name, b"authorization" | b"proxy-authorization" | b"cookie");
        // Values that differ on every request of a crawl: indexing them
        // would only churn the table (and the server's copy of it).
        let unique = matches!(
            name,
            b":path" | b"content-length" | b"if-none-match" | b"if-modified-since"
        );
        let (index, whole) = self.table.find(name, value);
        if whole && !sensitive {
            return write_int(out, 0x80, 7, index);
        }
        if sensitive {
            write_int(out, 0x10, 4, index);
        } else if unique {
            write_int(out, 0x00, 4, index);
        } else {
            write_int(out, 0x40, 6, index);
        }
        if index == 0 {
            write_string(out, name, self.huffman);
        }
        write_string(out, value, self.huffman);
        if !sensitive && !unique {
            self.table.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests;
