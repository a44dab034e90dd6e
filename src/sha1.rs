//! SHA-1 for WARC digests, with the x86 SHA extensions when the CPU has
//! them. WARC names its digests in SHA-1, and a record needs two over the
//! body (block and payload): with ring's portable SHA-1 that was half of
//! the archiving CPU (50 % of the samples in a `--warc` crawl of 20 KiB
//! pages); the SHA instructions are several times faster. The portable
//! rounds below are the fallback, checked against ring in the tests.

/// A SHA-1 in progress.
pub(crate) struct Sha1 {
    state: [u32; 5],
    buf: [u8; 64],
    buffered: usize,
    total: u64,
}

const INIT: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

impl Sha1 {
    pub fn new() -> Sha1 {
        Sha1 {
            state: INIT,
            buf: [0; 64],
            buffered: 0,
            total: 0,
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.buffered > 0 {
            let take = (64 - self.buffered).min(data.len());
            self.buf[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < 64 {
                return;
            }
            let block = self.buf;
            compress(&mut self.state, &block);
            self.buffered = 0;
        }
        let whole = data.len() / 64 * 64;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    pub fn finish(mut self) -> [u8; 20] {
        let bits = self.total.wrapping_mul(8);
        let mut pad = [0u8; 72];
        pad[0] = 0x80;
        let pad_len = if self.buffered < 56 {
            56 - self.buffered
        } else {
            120 - self.buffered
        };
        self.update(&pad[..pad_len]);
        self.update(&bits.to_be_bytes());
        let mut out = [0u8; 20];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&s.to_be_bytes());
        }
        out
    }
}

/// Runs the compression function over whole 64-byte blocks.
fn compress(state: &mut [u32; 5], blocks: &[u8]) {
    if blocks.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_sha_ni() {
        // SAFETY: the CPU has the SHA, SSSE3 and SSE4.1 instructions
        // (checked at run time just above).
        unsafe { ni::compress(state, blocks) };
        return;
    }
    for block in blocks.chunks_exact(64) {
        portable(state, block);
    }
}

#[cfg(target_arch = "x86_64")]
fn has_sha_ni() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static HAS: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 no, 2 yes
    match HAS.load(Ordering::Relaxed) {
        0 => {
            let yes = std::arch::is_x86_feature_detected!("sha")
                && std::arch::is_x86_feature_detected!("ssse3")
                && std::arch::is_x86_feature_detected!("sse4.1");
            HAS.store(1 + u8::from(yes), Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// FIPS 180-4 §6.1.2, one block.
fn portable(state: &mut [u32; 5], block: &[u8]) {
    let mut w = [0u32; 80];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for (i, wi) in w.iter().enumerate() {
        let (f, k) = match i / 20 {
            0 => ((b & c) | (!b & d), 0x5a82_7999),
            1 => (b ^ c ^ d, 0x6ed9_eba1),
            2 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
            _ => (b ^ c ^ d, 0xca62_c1d6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(*wi);
        (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(target_arch = "x86_64")]
mod ni {
    use std::arch::x86_64::*;

    /// Four rounds: E from the previous ABCD plus the schedule words.
    macro_rules! rounds4 {
        ($h0:ident, $h1:ident, $w:expr, $f:literal) => {
            _mm_sha1rnds4_epu32($h0, _mm_sha1nexte_epu32($h1, $w), $f)
        };
    }

    /// The next four schedule words, then four rounds with them.
    macro_rules! schedule_rounds4 {
        ($h0:ident, $h1:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident, $w4:ident, $f:literal) => {
            $w4 = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32($w0, $w1), $w2), $w3);
            $h1 = rounds4!($h0, $h1, $w4, $f);
        };
    }

    /// The SHA-NI compression of whole blocks (Intel's published
    /// instruction sequence, 80 rounds as 20 groups of four).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress(state: &mut [u32; 5], blocks: &[u8]) {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        let mut abcd = _mm_set_epi32(
            state[0] as i32,
            state[1] as i32,
            state[2] as i32,
            state[3] as i32,
        );
        let mut e0 = _mm_set_epi32(state[4] as i32, 0, 0, 0);
        for block in blocks.chunks_exact(64) {
            let p = block.as_ptr() as *const __m128i;
            // SAFETY: `block` is 64 bytes: four unaligned 16-byte loads.
            let (mut w0, mut w1, mut w2, mut w3) = unsafe {
                (
                    _mm_shuffle_epi8(_mm_loadu_si128(p), mask),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask),
                )
            };
            let mut w4;
            let mut h0 = abcd;
            let mut h1 = _mm_add_epi32(e0, w0);

            // Rounds 0..20
            h1 = _mm_sha1rnds4_epu32(h0, h1, 0);
            h0 = rounds4!(h1, h0, w1, 0);
            h1 = rounds4!(h0, h1, w2, 0);
            h0 = rounds4!(h1, h0, w3, 0);
            schedule_rounds4!(h0, h1, w0, w1, w2, w3, w4, 0);
            // Rounds 20..40
            schedule_rounds4!(h1, h0, w1, w2, w3, w4, w0, 1);
            schedule_rounds4!(h0, h1, w2, w3, w4, w0, w1, 1);
            schedule_rounds4!(h1, h0, w3, w4, w0, w1, w2, 1);
            schedule_rounds4!(h0, h1, w4, w0, w1, w2, w3, 1);
            schedule_rounds4!(h1, h0, w0, w1, w2, w3, w4, 1);
            // Rounds 40..60
            schedule_rounds4!(h0, h1, w1, w2, w3, w4, w0, 2);
            schedule_rounds4!(h1, h0, w2, w3, w4, w0, w1, 2);
            schedule_rounds4!(h0, h1, w3, w4, w0, w1, w2, 2);
            schedule_rounds4!(h1, h0, w4, w0, w1, w2, w3, 2);
            schedule_rounds4!(h0, h1, w0, w1, w2, w3, w4, 2);
            // Rounds 60..80
            schedule_rounds4!(h1, h0, w1, w2, w3, w4, w0, 3);
            schedule_rounds4!(h0, h1, w2, w3, w4, w0, w1, 3);
            schedule_rounds4!(h1, h0, w3, w4, w0, w1, w2, 3);
            schedule_rounds4!(h0, h1, w4, w0, w1, w2, w3, 3);
            schedule_rounds4!(h1, h0, w0, w1, w2, w3, w4, 3);

            abcd = _mm_add_epi32(abcd, h0);
            e0 = _mm_sha1nexte_epu32(h1, e0);
        }
        state[0] = _mm_extract_epi32(abcd, 3) as u32;
        state[1] = _mm_extract_epi32(abcd, 2) as u32;
        state[2] = _mm_extract_epi32(abcd, 1) as u32;
        state[3] = _mm_extract_epi32(abcd, 0) as u32;
        state[4] = _mm_extract_epi32(e0, 3) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_sha1(data: &[u8]) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
            .as_ref()
            .to_vec()
    }

    #[test]
    fn agrees_with_ring_at_every_length_and_split() {
        let data: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for len in (0..200).chain([511, 512, 513, 1000, 2999, 3000]) {
            let d = &data[..len];
            let mut s = Sha1::new();
            s.update(d);
            assert_eq!(s.finish().to_vec(), ring_sha1(d), "length {len}");
            for cut in [1, 63, 64, 65, len / 2] {
                let cut = cut.min(len);
                let mut s = Sha1::new();
                s.update(&d[..cut]);
                s.update(&d[cut..]);
                assert_eq!(s.finish().to_vec(), ring_sha1(d), "{len} cut at {cut}");
            }
        }
    }

    #[test]
    fn the_portable_rounds_agree_with_the_instructions() {
        let block: Vec<u8> = (0..64u8).collect();
        let mut a = INIT;
        portable(&mut a, &block);
        let mut b = INIT;
        compress(&mut b, &block);
        assert_eq!(a, b);
    }
}
