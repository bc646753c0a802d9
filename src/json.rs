//! Reading an event's JSON text in one pass: [`parse_object`] validates the
//! whole text (RFC 8259, strictly), refuses a key that appears twice in any
//! object at any depth, and returns the top-level members as borrowed
//! [`Raw`] values. Nested objects and arrays are read again only when a rule
//! or an allow-list looks into them ([`object_members`], [`array_items`]),
//! by a scan that trusts the validation already done.
//!
//! Why not serde_json alone: the policy needs each member's exact text
//! (numbers as written, for the leak guard and the output), duplicate keys
//! refused at every depth, and both in one pass. serde_json's `RawValue`
//! gives the first but skips nested keys unseen, so the duplicate check was
//! a second pass over every byte, and each block a third. serde_json stays
//! the reference: the fuzz oracle (`json` in fuzz/src/lib.rs, run by the
//! `json` fuzz target and by tests/it/fuzz_props.rs) checks this reader
//! accepts exactly what serde_json accepts (minus duplicate keys and lone
//! surrogate escapes, see below) and reads the same members.
//!
//! Choices where JSON readers differ: a `\u` escape of a lone UTF-16
//! surrogate is refused anywhere (serde_json refuses it in keys but lets it
//! through skipped values, which then no typed read can decode); numbers are
//! checked for their grammar only (`1e400` is a number; a typed read of it
//! decides); nesting deeper than [`MAX_DEPTH`] is refused, as serde_json
//! does.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;

/// The exact text of one JSON value (no surrounding whitespace), taken from
/// text [`parse_object`] validated. Only this module makes them, so every
/// `Raw` is valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    pub fn get(self) -> &'a str {
        self.0
    }

    /// Validates `text` as one JSON value of any kind (surrounding
    /// whitespace allowed), with no duplicate key in any of its objects.
    pub fn parse(text: &'a str) -> Result<Raw<'a>, Error> {
        let mut p = Parser::new(text);
        p.ws();
        let start = p.i;
        p.value()?;
        let end = p.i;
        p.finish()?;
        Ok(Raw(&text[start..end]))
    }
}

/// A JSON object's members in order, borrowed from the input (a key is
/// owned only when it carries escapes).
pub type Members<'a> = Vec<(Cow<'a, str>, Raw<'a>)>;

/// Containers (objects and arrays) nested deeper than this are refused, as
/// serde_json's typed reads refuse them.
pub const MAX_DEPTH: usize = 127;

/// Objects with more keys than this are checked for duplicates with a hash
/// set instead of a scan.
const DUP_SCAN_MAX: usize = 32;

/// Why text is not an acceptable event object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not JSON; `at` is the byte offset where reading stopped.
    Syntax { at: usize },
    /// Valid JSON, but not an object.
    NotObject,
    /// A key appears twice in one object; `at` is the second one's offset.
    DuplicateKey { at: usize },
    /// Objects and arrays nested deeper than [`MAX_DEPTH`]; `at` is where
    /// the one too deep opens.
    TooDeep { at: usize },
}

impl Error {
    /// The 1-based line and column (in characters) of byte `at` of `text`.
    pub fn position(text: &str, at: usize) -> (usize, usize) {
        let before = &text.as_bytes()[..at.min(text.len())];
        let line = 1 + memchr::memchr_iter(b'\n', before).count();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        let column = 1 + String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count();
        (line, column)
    }
}

/// One event object, read: its members and those of every member that is
/// an object itself (read in the same pass).
#[derive(Debug, Default)]
pub struct Document<'a> {
    pub members: Members<'a>,
    /// (the address of the member's text, its members)
    pub nested: Vec<(usize, Members<'a>)>,
}

/// Validates `text` as one JSON object with no duplicate key at any depth,
/// returning its top-level members.
pub fn parse_object(text: &str) -> Result<Members<'_>, Error> {
    parse_document(text).map(|d| d.members)
}

/// [`parse_object`], keeping also the members of the top-level members that
/// are objects.
pub fn parse_document(text: &str) -> Result<Document<'_>, Error> {
    let mut p = Parser::new(text);
    p.ws();
    let first = p.peek();
    if first != Some(b'{') {
        // Tell "valid JSON, not an object" from "not JSON".
        p.value()?;
        p.finish()?;
        return Err(Error::NotObject);
    }
    let mut doc = Document {
        members: Vec::with_capacity(12),
        nested: Vec::with_capacity(8),
    };
    p.object(Some(&mut doc))?;
    p.finish()?;
    Ok(doc)
}

/// The members of `raw` when it is an object.
pub fn object_members(raw: Raw<'_>) -> Option<Members<'_>> {
    let b = raw.0.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut out = Vec::with_capacity(8);
    let mut i = skip_ws(b, 1);
    if b.get(i) == Some(&b'}') {
        return Some(out);
    }
    loop {
        // A key: a string, then `:`.
        let key_end = skip_string(b, i);
        let key = decode_str(&raw.0[i + 1..key_end - 1]);
        let v = skip_ws(b, skip_ws(b, key_end) + 1);
        let end = skip_value(b, v);
        out.push((key, Raw(&raw.0[v..end])));
        i = skip_ws(b, end);
        if b[i] == b'}' {
            return Some(out);
        }
        i = skip_ws(b, i + 1);
    }
}

/// The elements of `raw` when it is an array.
pub fn array_items(raw: Raw<'_>) -> Option<Vec<Raw<'_>>> {
    let b = raw.0.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = skip_ws(b, 1);
    if b.get(i) == Some(&b']') {
        return Some(out);
    }
    loop {
        let end = skip_value(b, i);
        out.push(Raw(&raw.0[i..end]));
        i = skip_ws(b, end);
        if b[i] == b']' {
            return Some(out);
        }
        i = skip_ws(b, i + 1);
    }
}

/// The contents of a JSON string (its text between the quotes, valid),
/// borrowed when it has no escapes.
pub fn decode_str(inner: &str) -> Cow<'_, str> {
    if !has_backslash(inner.as_bytes()) {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    unescape_into(inner.as_bytes(), &mut out).expect("validated by parse_object");
    Cow::Owned(out)
}

/// Strings at most this long are searched for a backslash eight bytes at
/// a time ([`has_backslash`]); longer ones with memchr.
const SHORT_STRING: usize = 64;

/// Does `b` hold a backslash? Most of an event's strings are short (ids,
/// codes, names) and each is decoded a few times per event; for those,
/// memchr's dispatch cost more than the search itself, so they are read
/// eight bytes at a time.
fn has_backslash(b: &[u8]) -> bool {
    if b.len() > SHORT_STRING {
        return memchr::memchr(b'\\', b).is_some();
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        // A zero byte where `w` has a backslash.
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ (ONES * b'\\' as u64);
        if x.wrapping_sub(ONES) & !x & HIGH != 0 {
            return true;
        }
    }
    words.remainder().contains(&b'\\')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Past the string starting at `b[i] == '"'` (valid text).
fn skip_string(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    loop {
        let o = memchr::memchr2(b'"', b'\\', &b[j..]).expect("validated string");
        j += o;
        if b[j] == b'\\' {
            j += 2;
        } else {
            return j + 1;
        }
    }
}

/// Past the value starting at `b[i]` (valid text).
fn skip_value(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            // One pass: strings are jumped over whole, brackets counted.
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

/// Decodes the escapes of a string's contents (between the quotes) into
/// `out`; `Err(offset)` at a bad escape or a lone surrogate.
fn unescape_into(s: &[u8], out: &mut String) -> Result<(), usize> {
    let mut i = 0;
    let mut plain = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(std::str::from_utf8(&s[plain..i]).map_err(|_| i)?);
        let at = i;
        let c = *s.get(i + 1).ok_or(at)?;
        i += 2;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(s, i).ok_or(at)?;
                i += 4;
                match hi {
                    0xD800..=0xDBFF => {
                        if s.get(i) != Some(&b'\\') || s.get(i + 1) != Some(&b'u') {
                            return Err(at);
                        }
                        let lo = hex4(s, i + 2).ok_or(at)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(at);
                        }
                        i += 6;
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        char::from_u32(cp).ok_or(at)?
                    }
                    0xDC00..=0xDFFF => return Err(at),
                    _ => char::from_u32(hi).ok_or(at)?,
                }
            }
            _ => return Err(at),
        };
        out.push(ch);
        plain = i;
    }
    out.push_str(std::str::from_utf8(&s[plain..]).map_err(|_| plain)?);
    Ok(())
}

fn hex4(s: &[u8], i: usize) -> Option<u32> {
    let h = s.get(i..i + 4)?;
    let mut v = 0u32;
    for &c in h {
        v = v << 4 | (c as char).to_digit(16)?;
    }
    Some(v)
}

/// The first byte of `w` (8 bytes, little-endian) that is `"`, `\` or a
/// control character, as a bit mask whose lowest set high bit marks it.
#[inline]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    zero(w ^ (ONES * b'"' as u64))
        | zero(w ^ (ONES * b'\\' as u64))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
    /// Keys of every open object, flat: (fingerprint, start, end), where
    /// start/end index `b`, or `decoded` when the fingerprint's top bit is
    /// set (an escaped key).
    keys: Vec<(u64, u32, u32)>,
    /// A set per open object that outgrew [`DUP_SCAN_MAX`] keys.
    sets: Vec<Option<HashSet<Vec<u8>>>>,
    /// Escaped keys, decoded, one after another.
    decoded: String,
    /// The first duplicate key's offset: reading goes on, so that text
    /// that is not JSON at all is reported as such.
    dup: Option<usize>,
}

const ESCAPED: u64 = 1 << 63;

type Buffers = (Vec<(u64, u32, u32)>, Vec<Option<HashSet<Vec<u8>>>>, String);

thread_local! {
    /// The parser's working buffers, kept per thread between events (an
    /// event of ordinary size then allocates none).
    static BUFFERS: Cell<Option<Buffers>> = const { Cell::new(None) };
}

/// Buffers that grew past this (a hostile event) are not kept.
const KEEP_BUFFER_BYTES: usize = 64 * 1024;

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        let (mut keys, mut sets, mut decoded) = (
            std::mem::take(&mut self.keys),
            std::mem::take(&mut self.sets),
            std::mem::take(&mut self.decoded),
        );
        if keys.capacity() * 16 + sets.capacity() * 48 + decoded.capacity() > KEEP_BUFFER_BYTES {
            return;
        }
        keys.clear();
        sets.clear();
        decoded.clear();
        BUFFERS.with(|c| c.set(Some((keys, sets, decoded))));
    }
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        let (keys, sets, decoded) = BUFFERS
            .with(Cell::take)
            .unwrap_or_else(|| (Vec::with_capacity(32), Vec::with_capacity(8), String::new()));
        Parser {
            text,
            b: text.as_bytes(),
            i: 0,
            depth: 0,
            keys,
            sets,
            decoded,
            dup: None,
        }
    }

    /// After the one value: nothing but whitespace, and no duplicate key.
    fn finish(&mut self) -> Result<(), Error> {
        self.ws();
        if self.i != self.b.len() {
            return self.fail();
        }
        match self.dup {
            Some(at) => Err(Error::DuplicateKey { at }),
            None => Ok(()),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        self.i = skip_ws(self.b, self.i);
    }

    fn fail<T>(&self) -> Result<T, Error> {
        Err(Error::Syntax { at: self.i })
    }

    fn value(&mut self) -> Result<(), Error> {
        match self.peek() {
            Some(b'{') => self.object(None),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.fail(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.fail()
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> Result<(), Error> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail(),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.fail();
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.fail();
            }
        }
        Ok(())
    }

    /// Reads a string at `b[i] == '"'`; returns whether it had escapes.
    /// (Inlined where keys and member values are read: most of an event's
    /// text is short strings, and the call's overhead was a good part of
    /// reading each.)
    #[inline(always)]
    fn string(&mut self) -> Result<bool, Error> {
        let b = self.b;
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            // Eight bytes at a time to the next quote, backslash or control.
            while j + 8 <= b.len() {
                let w = u64::from_le_bytes(b[j..j + 8].try_into().expect("8 bytes"));
                let m = special_bytes(w);
                if m != 0 {
                    j += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                j += 8;
            }
            while j < b.len() && !matches!(b[j], b'"' | b'\\' | 0..=0x1f) {
                j += 1;
            }
            match b.get(j) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    j += 1;
                    match b.get(j) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 1,
                        Some(b'u') => j += 5,
                        _ => {
                            self.i = j;
                            return self.fail();
                        }
                    }
                }
                _ => {
                    self.i = j;
                    return self.fail();
                }
            }
        }
        if escaped {
            self.check_escapes(start, j)?;
        }
        self.i = j + 1;
        Ok(escaped)
    }

    /// The escapes of the string contents `b[start..end]` are valid: known
    /// letters, four hex digits after `\u`, surrogates in pairs.
    /// (Decoded into the end of the key buffer, then cut off again: no
    /// allocation once the buffer has grown.)
    fn check_escapes(&mut self, start: usize, end: usize) -> Result<(), Error> {
        let mark = self.decoded.len();
        let r = unescape_into(&self.b[start..end.min(self.b.len())], &mut self.decoded)
            .map_err(|o| Error::Syntax { at: start + o });
        self.decoded.truncate(mark);
        r
    }

    /// After an element or member: `,` (then `false`: another follows) or
    /// `close` (then `true`: the container ended).
    fn next_item(&mut self, close: u8) -> Result<bool, Error> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                self.ws();
                Ok(false)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(true)
            }
            _ => self.fail(),
        }
    }

    fn array(&mut self) -> Result<(), Error> {
        self.enter()?;
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.value()?;
            if self.next_item(b']')? {
                self.depth -= 1;
                return Ok(());
            }
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::TooDeep { at: self.i });
        }
        Ok(())
    }

    /// Reads an object at `b[i] == '{'`; the top-level one passes `out`
    /// for its members and those of its object members.
    fn object(&mut self, mut out: Option<&mut Document<'a>>) -> Result<(), Error> {
        self.enter()?;
        self.i += 1;
        let first_key = self.keys.len();
        let decoded_mark = self.decoded.len();
        self.sets.push(None);
        self.ws();
        let done = if self.peek() == Some(b'}') {
            self.i += 1;
            Ok(())
        } else {
            self.members(first_key, &mut out)
        };
        self.keys.truncate(first_key);
        self.decoded.truncate(decoded_mark);
        self.sets.pop();
        self.depth -= 1;
        done
    }

    fn members(
        &mut self,
        first_key: usize,
        out: &mut Option<&mut Document<'a>>,
    ) -> Result<(), Error> {
        loop {
            if self.peek() != Some(b'"') {
                return self.fail();
            }
            let key_at = self.i;
            let escaped = self.string()?;
            let inner = &self.text[key_at + 1..self.i - 1];
            self.check_key(first_key, key_at, inner, escaped)?;
            self.ws();
            if self.peek() != Some(b':') {
                return self.fail();
            }
            self.i += 1;
            self.ws();
            let v = self.i;
            match out.as_deref_mut() {
                Some(doc) => {
                    if self.depth == 1 && self.peek() == Some(b'{') {
                        // A member object of the top level: its members
                        // are kept too (one level only).
                        let mut inner_doc = Document {
                            members: Vec::with_capacity(8),
                            nested: Vec::new(),
                        };
                        self.object(Some(&mut inner_doc))?;
                        doc.nested
                            .push((self.b[v..].as_ptr() as usize, inner_doc.members));
                    } else if self.peek() == Some(b'"') {
                        // Most members are strings: read here, not through
                        // a call to `value`.
                        self.string()?;
                    } else {
                        self.value()?;
                    }
                    let key = if escaped {
                        decode_str(inner)
                    } else {
                        Cow::Borrowed(inner)
                    };
                    doc.members.push((key, Raw(&self.text[v..self.i])));
                }
                None if self.peek() == Some(b'"') => {
                    self.string()?;
                }
                None => self.value()?,
            }
            if self.next_item(b'}')? {
                return Ok(());
            }
        }
    }

    /// Records a key of the innermost open object, refusing it when that
    /// object has it already (compared decoded).
    fn check_key(
        &mut self,
        first_key: usize,
        at: usize,
        inner: &str,
        escaped: bool,
    ) -> Result<(), Error> {
        let (bytes, entry): (Cow<'_, [u8]>, (u64, u32, u32)) = if escaped {
            let s = self.decoded.len();
            unescape_into(inner.as_bytes(), &mut self.decoded)
                .map_err(|o| Error::Syntax { at: at + 1 + o })?;
            let e = self.decoded.len();
            let k = &self.decoded.as_bytes()[s..e];
            (
                Cow::Owned(k.to_vec()),
                (fingerprint(k) | ESCAPED, s as u32, e as u32),
            )
        } else {
            let s = at + 1;
            let k = inner.as_bytes();
            (
                Cow::Borrowed(k),
                (fingerprint(k) & !ESCAPED, s as u32, (s + k.len()) as u32),
            )
        };
        if let Some(Some(set)) = self.sets.last_mut() {
            if !set.insert(bytes.into_owned()) {
                self.dup.get_or_insert(at);
            }
            return Ok(());
        }
        let fp = entry.0 & !ESCAPED;
        let key_of = |&(f, s, e): &(u64, u32, u32)| -> &[u8] {
            if f & ESCAPED != 0 {
                &self.decoded.as_bytes()[s as usize..e as usize]
            } else {
                &self.b[s as usize..e as usize]
            }
        };
        if self.keys[first_key..]
            .iter()
            .any(|k| k.0 & !ESCAPED == fp && key_of(k) == &*bytes)
        {
            self.dup.get_or_insert(at);
            return Ok(());
        }
        if self.keys.len() - first_key >= DUP_SCAN_MAX {
            let mut set: HashSet<Vec<u8>> = self.keys[first_key..]
                .iter()
                .map(|k| key_of(k).to_vec())
                .collect();
            set.insert(bytes.into_owned());
            self.keys.truncate(first_key);
            *self.sets.last_mut().expect("an open object") = Some(set);
            return Ok(());
        }
        self.keys.push(entry);
        Ok(())
    }
}

/// A key's length and first and last (up to) eight bytes, folded: equal
/// keys have equal fingerprints; most unequal ones differ in it. (Loads of
/// whole words: a variable-length copy would be a call per key.)
fn fingerprint(k: &[u8]) -> u64 {
    let n = k.len();
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    let folded = if n >= 8 {
        word(&k[..8]) ^ word(&k[n - 8..]).rotate_left(29)
    } else {
        k.iter()
            .enumerate()
            .fold(0u64, |w, (i, &c)| w | (c as u64) << (8 * i))
    };
    folded ^ ((n as u64) << 48)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(text: &str) -> Result<(), &'static str> {
        match parse_object(text) {
            Ok(_) => Ok(()),
            Err(Error::Syntax { .. } | Error::TooDeep { .. }) => Err("syntax"),
            Err(Error::DuplicateKey { .. }) => Err("duplicate"),
            Err(Error::NotObject) => Err("not object"),
        }
    }

    // That this reader accepts exactly what serde_json accepts, and reads
    // the same members, is a property of the fuzz oracle (`json` in
    // fuzz/src/lib.rs), run by tests/it/fuzz_props.rs and the `json` fuzz
    // target.

    #[test]
    fn edge_cases() {
        for (text, want) in [
            ("{}", Ok(())),
            (" {\"a\":1} ", Ok(())),
            ("{\"a\":1,}", Err("syntax")),
            ("{\"a\":01}", Err("syntax")),
            ("{\"a\":1.}", Err("syntax")),
            ("{\"a\":-}", Err("syntax")),
            ("{\"a\":\"\u{1}\"}", Err("syntax")),
            ("{\"a\":\"\\x\"}", Err("syntax")),
            ("{\"a\":\"\\u12\"}", Err("syntax")),
            ("{\"a\":tru}", Err("syntax")),
            ("{\"a\":1}x", Err("syntax")),
            ("{\"a\":1,\"a\":2}", Err("duplicate")),
            ("{\"a\":1,\"\\u0061\":2}", Err("duplicate")),
            ("{\"a\":{\"b\":1,\"b\":1}}", Err("duplicate")),
            ("{\"a\":[{\"b\":1},{\"b\":1}]}", Ok(())),
            ("{\"a\":[{\"b\":1,\"b\":1}]}", Err("duplicate")),
            ("[1]", Err("not object")),
            ("\"x\"", Err("not object")),
            ("", Err("syntax")),
        ] {
            assert_eq!(ours(text), want, "{text}");
        }
        // Lone surrogates are refused in values too (serde_json lets them
        // through values it skips).
        assert_eq!(ours("{\"a\":\"\\ud800\"}"), Err("syntax"));
        assert_eq!(ours("{\"a\":\"\\udc00\\ud800\"}"), Err("syntax"));
        // 1e400 is a number.
        assert_eq!(ours("{\"a\":1e400}"), Ok(()));
    }

    #[test]
    fn nesting_limit_is_serde_jsons() {
        for d in [126usize, 127, 128] {
            let arr = format!("{{\"a\":{}1{}}}", "[".repeat(d - 1), "]".repeat(d - 1));
            assert_eq!(
                ours(&arr).is_ok(),
                serde_json::from_str::<serde_json::Value>(&arr).is_ok(),
                "{d}"
            );
        }
    }

    #[test]
    fn large_objects_find_duplicates_through_the_set() {
        let mut keys: Vec<String> = (0..500).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!("{{{}}}", keys.join(","));
        assert_eq!(ours(&text), Ok(()));
        keys.push("\"k\\u0031\":1".into());
        let text = format!("{{{}}}", keys.join(","));
        assert_eq!(ours(&text), Err("duplicate"));
    }

    proptest::proptest! {
        /// The word-at-a-time search finds a backslash wherever it is.
        #[test]
        fn backslashes_are_found_anywhere(s in "[a-z\\\\\u{80}-\u{ff}]{0,80}") {
            proptest::prop_assert_eq!(has_backslash(s.as_bytes()), s.contains('\\'));
        }
    }

    #[test]
    fn positions_are_lines_and_characters() {
        let text = "{\"é\":1,\n  \"a\":1,\"a\":2}";
        let Err(Error::DuplicateKey { at }) = parse_object(text) else {
            panic!()
        };
        assert_eq!(Error::position(text, at), (2, 9));
    }
}
