//! Bit fields packed in base64url text, most significant bit first, as the
//! IAB TC and GPP strings carry them. The reader works on the characters
//! directly (six bits each), so decoding never allocates.

/// base64url alphabet value of each byte; 0xFF for bytes outside it.
const SEXTET: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'-' as usize] = 62;
    t[b'_' as usize] = 63;
    t
};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// True when every byte of `s` is in the base64url alphabet (no padding).
/// Branch-free within 16-byte chunks (a byte outside the alphabet maps to
/// 0xFF, every other one below 64).
pub fn is_base64url(s: &[u8]) -> bool {
    s.chunks(16)
        .all(|c| c.iter().fold(0u8, |a, &b| a | SEXTET[b as usize]) < 0x40)
}

/// Trailing `=` padding is tolerated (some writers add it) and removed.
pub fn strip_padding(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 0 && s[end - 1] == b'=' {
        end -= 1;
    }
    &s[..end]
}

/// Most characters [`Packed`] holds: TC strings are capped at 4096 bytes.
pub const PACKED_MAX_CHARS: usize = 4096;

/// Base64url text unpacked into bytes once, for walks that read many
/// fields (a TC string's vendor ranges): each read is one 8-byte load and
/// two shifts instead of a table lookup per character. Lives on the stack.
pub struct Packed {
    buf: [u8; PACKED_MAX_CHARS * 6 / 8 + 8],
    bits: usize,
}

impl Packed {
    /// `text` (base64url, at most [`PACKED_MAX_CHARS`]; longer text is cut
    /// there, so reads past it fail as truncated).
    pub fn new(text: &[u8]) -> Packed {
        Packed::unpack(text).0
    }

    /// [`Packed::new`] that also checks the alphabet on the way (one pass
    /// instead of [`is_base64url`] then [`Packed::new`]): `None` when a byte
    /// of `text` is outside base64url.
    pub fn checked(text: &[u8]) -> Option<Packed> {
        let (p, valid) = Packed::unpack(text);
        (valid && is_base64url(&text[text.len().min(PACKED_MAX_CHARS)..])).then_some(p)
    }

    /// The unpacked text (cut at [`PACKED_MAX_CHARS`]) and whether every
    /// byte unpacked was in the alphabet.
    fn unpack(text: &[u8]) -> (Packed, bool) {
        let text = &text[..text.len().min(PACKED_MAX_CHARS)];
        let mut buf = [0u8; PACKED_MAX_CHARS * 6 / 8 + 8];
        // OR of every table value: 0xFF somewhere means a byte outside.
        let mut seen = 0u8;
        let mut sextet = |c: u8| {
            let v = SEXTET[c as usize];
            seen |= v;
            u64::from(v & 0x3F)
        };
        // Eight characters are six bytes: one 8-byte store per chunk (the
        // two bytes past it are overwritten by the next or stay zero).
        let mut chunks = text.chunks_exact(8);
        let mut o = 0;
        for c in &mut chunks {
            let v = c.iter().fold(0u64, |v, &ch| (v << 6) | sextet(ch));
            buf[o..o + 8].copy_from_slice(&(v << 16).to_be_bytes());
            o += 6;
        }
        let (mut acc, mut held) = (0u32, 0u32);
        for &c in chunks.remainder() {
            acc = (acc << 6) | sextet(c) as u32;
            held += 6;
            if held >= 8 {
                held -= 8;
                buf[o] = (acc >> held) as u8;
                o += 1;
            }
        }
        if held > 0 {
            buf[o] = (acc << (8 - held)) as u8;
        }
        let packed = Packed {
            buf,
            bits: text.len() * 6,
        };
        (packed, seen < 0x40)
    }

    /// A reader at bit `pos`.
    pub fn at(&self, pos: usize) -> PackedBits<'_> {
        PackedBits { p: self, pos }
    }
}

/// A cursor over a [`Packed`] text; reads as [`Bits`] does.
pub struct PackedBits<'a> {
    p: &'a Packed,
    pos: usize,
}

impl PackedBits<'_> {
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Reads `n` (at most 57) bits.
    pub fn read(&mut self, n: u32) -> Result<u64, Truncated> {
        debug_assert!(n <= 57);
        if self.pos + n as usize > self.p.bits {
            return Err(Truncated);
        }
        if n == 0 {
            return Ok(0);
        }
        let i = self.pos / 8;
        let w = u64::from_be_bytes(self.p.buf[i..i + 8].try_into().expect("8 bytes"));
        let v = (w << (self.pos % 8)) >> (64 - n);
        self.pos += n as usize;
        Ok(v)
    }

    pub fn bit(&mut self) -> Result<bool, Truncated> {
        Ok(self.read(1)? == 1)
    }

    /// Moves past `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<(), Truncated> {
        if self.pos + n > self.p.bits {
            return Err(Truncated);
        }
        self.pos += n;
        Ok(())
    }
}

/// A cursor over the bits of base64url text. Callers check the alphabet
/// with [`is_base64url`] first; a byte outside it reads as six one bits.
#[derive(Debug, Clone, Copy)]
pub struct Bits<'a> {
    text: &'a [u8],
    pos: usize,
}

/// Not enough bits left for a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl<'a> Bits<'a> {
    pub fn new(text: &'a [u8]) -> Bits<'a> {
        Bits { text, pos: 0 }
    }

    pub fn at(text: &'a [u8], pos: usize) -> Bits<'a> {
        Bits { text, pos }
    }

    /// Total bits in the text.
    pub fn len(&self) -> usize {
        self.text.len() * 6
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.len().saturating_sub(self.pos)
    }

    /// Reads `n` (at most 64) bits as an unsigned integer.
    pub fn read(&mut self, n: u32) -> Result<u64, Truncated> {
        debug_assert!(n <= 64);
        if self.remaining() < n as usize {
            return Err(Truncated);
        }
        if n == 0 {
            return Ok(0);
        }
        // Gather the sextets the field spans into one accumulator, then cut
        // the field out: a 64-bit field starting mid-sextet spans up to 72
        // bits, so such reads take two halves.
        if n > 48 {
            let hi = self.read(n - 32)?;
            let lo = self.read(32)?;
            return Ok((hi << 32) | lo);
        }
        let off = (self.pos % 6) as u32;
        let first = self.pos / 6;
        let count = (off + n).div_ceil(6) as usize;
        let mut acc = 0u64;
        for &c in &self.text[first..first + count] {
            acc = (acc << 6) | u64::from(SEXTET[c as usize] & 0x3F);
        }
        let unused = count as u32 * 6 - off - n;
        self.pos += n as usize;
        Ok((acc >> unused) & ((1u64 << n) - 1))
    }

    pub fn bit(&mut self) -> Result<bool, Truncated> {
        if self.pos >= self.len() {
            return Err(Truncated);
        }
        let b = Bits::bit_at(self.text, self.pos);
        self.pos += 1;
        Ok(b)
    }

    /// Moves past `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<(), Truncated> {
        if self.remaining() < n {
            return Err(Truncated);
        }
        self.pos += n;
        Ok(())
    }

    /// The six bits of base64url character `c` (a byte outside the
    /// alphabet reads as `0x3F`, as [`Bits::read`] reads it).
    pub fn sextet(c: u8) -> u8 {
        SEXTET[c as usize] & 0x3F
    }

    /// The bit at absolute position `pos` (false past the end).
    pub fn bit_at(text: &[u8], pos: usize) -> bool {
        match text.get(pos / 6) {
            Some(&c) => (SEXTET[c as usize] >> (5 - pos % 6)) & 1 == 1,
            None => false,
        }
    }

    /// Reads a Fibonacci-coded integer (Zeckendorf digits, least
    /// significant first, ended by two consecutive ones), as GPP section ids
    /// are written. At most `max_digits` digits, so a run of zeros cannot
    /// loop long or overflow.
    pub fn fibonacci(&mut self, max_digits: u32) -> Result<Option<u64>, Truncated> {
        let (mut a, mut b) = (1u64, 2u64);
        let mut value = 0u64;
        let mut prev = false;
        for _ in 0..=max_digits {
            let one = self.bit()?;
            if one && prev {
                return Ok(Some(value));
            }
            if one {
                value += a;
            }
            prev = one;
            let next = a + b;
            a = b;
            b = next;
        }
        Ok(None)
    }
}

/// Writes bits most significant first and renders base64url without
/// padding: the encoder side, for tests, fuzz seeds and tools.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bits: Vec<bool>,
}

impl BitWriter {
    pub fn new() -> BitWriter {
        BitWriter::default()
    }

    pub fn len(&self) -> usize {
        self.bits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    pub fn write(&mut self, n: u32, v: u64) {
        for i in (0..n).rev() {
            self.bits.push(v.checked_shr(i).unwrap_or(0) & 1 == 1);
        }
    }

    pub fn bit(&mut self, b: bool) {
        self.bits.push(b);
    }

    /// Fibonacci code of `v` (at least 1).
    pub fn fibonacci(&mut self, v: u64) {
        assert!(v >= 1, "Fibonacci coding starts at 1");
        let mut fibs = vec![1u64, 2];
        while *fibs.last().expect("non-empty") <= v {
            let n = fibs[fibs.len() - 1] + fibs[fibs.len() - 2];
            fibs.push(n);
        }
        let mut digits = vec![false; fibs.len()];
        let mut rest = v;
        for i in (0..fibs.len()).rev() {
            if fibs[i] <= rest {
                digits[i] = true;
                rest -= fibs[i];
            }
        }
        let top = digits.iter().rposition(|&d| d).expect("v >= 1");
        self.bits.extend_from_slice(&digits[..=top]);
        self.bits.push(true);
    }

    /// Pads with zero bits to a whole byte (as IAB writers do) and encodes.
    pub fn finish(mut self) -> String {
        while !self.bits.len().is_multiple_of(8) {
            self.bits.push(false);
        }
        let mut out = String::with_capacity(self.bits.len() / 6 + 1);
        for chunk in self.bits.chunks(6) {
            let mut v = 0usize;
            for (i, &b) in chunk.iter().enumerate() {
                if b {
                    v |= 1 << (5 - i);
                }
            }
            out.push(ALPHABET[v] as char);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_agrees_with_reading_bit_by_bit() {
        for len in [0usize, 1, 2, 3, 5, 40, 41, 42, 43] {
            let text: Vec<u8> = (0..len).map(|i| ALPHABET[i * 37 % 64]).collect();
            let packed = Packed::new(&text);
            let total = text.len() * 6;
            for pos in 0..=total {
                for n in 0..=64u32 {
                    let mut b = Bits::at(&text, pos);
                    let mut p = packed.at(pos);
                    if pos + n as usize > total {
                        assert_eq!(b.read(n), Err(Truncated), "pos {pos} n {n}");
                        if n <= 57 {
                            assert_eq!(p.read(n), Err(Truncated), "pos {pos} n {n}");
                        }
                        continue;
                    }
                    let want = (pos..pos + n as usize)
                        .fold(0u64, |v, i| (v << 1) | u64::from(Bits::bit_at(&text, i)));
                    assert_eq!(b.read(n), Ok(want), "pos {pos} n {n}");
                    assert_eq!(b.pos(), pos + n as usize);
                    if n <= 57 {
                        assert_eq!(p.read(n), Ok(want), "packed pos {pos} n {n}");
                        assert_eq!(p.pos(), pos + n as usize);
                    }
                }
            }
        }
    }

    #[test]
    fn checked_unpacking_finds_every_bad_byte() {
        for len in [1usize, 7, 8, 9, 16, 600] {
            let text: Vec<u8> = (0..len).map(|i| ALPHABET[i * 37 % 64]).collect();
            assert!(Packed::checked(&text).is_some(), "{len}");
            for at in 0..len {
                for bad in [b'+', b'/', b'=', b'.', b'~', 0u8, 0xC3] {
                    let mut t = text.clone();
                    t[at] = bad;
                    assert!(Packed::checked(&t).is_none(), "{len} {at} {bad}");
                    assert!(!is_base64url(&t));
                }
            }
        }
        let long = vec![b'A'; PACKED_MAX_CHARS + 5];
        assert!(Packed::checked(&long).is_some());
        let mut long_bad = long.clone();
        long_bad[PACKED_MAX_CHARS + 2] = b'+';
        assert!(Packed::checked(&long_bad).is_none());
    }

    #[test]
    fn reads_across_characters() {
        // "DBABMA": 000011 000001 000000 000001 001100 000000
        let mut b = Bits::new(b"DBABMA");
        assert_eq!(b.read(6), Ok(3));
        assert_eq!(b.read(6), Ok(1));
        assert_eq!(b.read(12), Ok(1));
        assert_eq!(b.bit(), Ok(false));
        assert_eq!(b.fibonacci(20), Ok(Some(2)));
        assert_eq!(b.read(64), Err(Truncated));
    }

    #[test]
    fn fibonacci_roundtrip() {
        for v in 1..2000u64 {
            let mut w = BitWriter::new();
            w.fibonacci(v);
            let s = w.finish();
            assert_eq!(Bits::new(s.as_bytes()).fibonacci(40), Ok(Some(v)), "{v}");
        }
        // Zeros only: bounded, no value.
        assert_eq!(Bits::new(b"AAAAAAAA").fibonacci(20), Ok(None));
    }

    #[test]
    fn alphabet() {
        assert!(is_base64url(b"AZaz09-_"));
        assert!(!is_base64url(b"a+b"));
        assert!(!is_base64url(b"a=")); // strip_padding first
        assert_eq!(strip_padding(b"ab=="), b"ab");
        assert!(Bits::bit_at(b"g", 0)); // 'g' = 32 = 100000
        assert!(!Bits::bit_at(b"g", 1));
        assert!(!Bits::bit_at(b"g", 99));
    }
}
