//! Canonicalization: undo what a person or a simple program would do to
//! hide a value from a pattern scan, before anything is scanned.
//!
//! One round applies, in order: Unicode NFKC (fullwidth and small forms
//! become ASCII, `﹫` becomes `@`), removal of invisible and control
//! characters (zero-width, soft hyphen, word joiner, bidi marks, variation
//! selectors, tags), folding of every Unicode decimal digit to ASCII,
//! percent-decoding, HTML entities (named and numeric), JSON/JavaScript
//! escapes written into a string (`\u0040`, `\x40`), and the bracketed
//! spellings `(at)` / `[dot]`. Rounds repeat until nothing changes (bounded
//! by [`MAX_ROUNDS`]), so `%2540` and `&amp;#64;` end as `@`.
//!
//! [`decoded_tokens`] then finds runs that look like base64, base64url,
//! base32 or hex and returns the texts they decode to, for a rescan.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// Decoding rounds before the guard stops (each round can only shorten or
/// keep the text once entities are gone, so real data settles in 1-2).
pub const MAX_ROUNDS: usize = 6;

/// The shortest token tried as base64/base32/hex: 8 characters decode to 5-6
/// bytes, less than the shortest email (`a@b.co`).
pub const MIN_TOKEN_LEN: usize = 8;

/// Candidate tokens decoded per string, at most: a string with more (a
/// kilobyte of long words, or decoys put before a hidden value) is not
/// read to its end, and the guard refuses it ([`decoded_tokens`]).
const MAX_TOKENS: usize = 256;

/// A letter or digit (ASCII).
pub const ALNUM: u8 = 1;
/// Outside printable ASCII, or a byte that starts something a round
/// decodes (`%`, `&`, `\`, `(`, `[`, `{`, `<`).
pub const NOT_PLAIN: u8 = 2;
/// An ASCII capital letter, or any byte of a non-ASCII character.
pub const UPPER_OR_NON_ASCII: u8 = 4;
/// The ASCII space.
pub const SPACE: u8 = 8;

/// The classes of every byte.
static BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut class = 0;
        if c.is_ascii_alphanumeric() {
            class |= ALNUM;
        }
        if c < 0x20 || c >= 0x7f || matches!(c, b'%' | b'&' | b'\\' | b'(' | b'[' | b'{' | b'<') {
            class |= NOT_PLAIN;
        }
        if c.is_ascii_uppercase() || c >= 0x80 {
            class |= UPPER_OR_NON_ASCII;
        }
        if c == b' ' {
            class |= SPACE;
        }
        t[i] = class;
        i += 1;
    }
    t
};

/// The number of ASCII letters and digits of `s` and the union of its
/// bytes' classes, in one pass of table lookups (no branch per byte).
pub fn classify(s: &str) -> (usize, u8) {
    let (mut alnum, mut classes) = (0usize, 0u8);
    for &c in s.as_bytes() {
        let class = BYTE_CLASS[c as usize];
        alnum += (class & ALNUM) as usize;
        classes |= class;
    }
    (alnum, classes)
}

/// An ASCII letter in ROT13 (`a` as `n`, `N` as `A`); any other byte as it
/// is.
pub fn rot13(c: u8) -> u8 {
    match c {
        b'a'..=b'z' => b'a' + (c - b'a' + 13) % 26,
        b'A'..=b'Z' => b'A' + (c - b'A' + 13) % 26,
        _ => c,
    }
}

/// Does `s` contain anything a round could change?
fn needs_round(s: &str) -> bool {
    classify(s).1 & NOT_PLAIN != 0
}

/// `s` decoded to a fixed point (or after [`MAX_ROUNDS`]). Borrowed when
/// nothing needed decoding.
pub fn canonical(s: &str) -> Cow<'_, str> {
    canonical_settled(s).0
}

/// [`canonical`], and whether the text reached its fixed point: `false`
/// when it still changed in the last of [`MAX_ROUNDS`] rounds (a value
/// encoded more times over than the guard reads, which the guard refuses
/// rather than scan half-decoded).
pub fn canonical_settled(s: &str) -> (Cow<'_, str>, bool) {
    if !needs_round(s) {
        return (Cow::Borrowed(s), true);
    }
    let mut cur: Cow<'_, str> = Cow::Borrowed(s);
    for _ in 0..MAX_ROUNDS {
        match round(&cur) {
            Some(next) => cur = Cow::Owned(next),
            None => return (cur, true),
        }
        if !needs_round(&cur) {
            return (cur, true);
        }
    }
    let settled = round(&cur).is_none();
    (cur, settled)
}

/// One round; `None` when it changed nothing.
fn round(s: &str) -> Option<String> {
    let mut changed = false;
    let mut cur: Cow<'_, str> = Cow::Borrowed(s);
    if cur.bytes().any(|c| !(0x20..0x7f).contains(&c)) {
        let next = unicode_pass(&cur);
        if next != cur.as_ref() {
            cur = Cow::Owned(next);
            changed = true;
        }
    }
    if cur.contains('%') {
        if let Some(next) = percent_decode(&cur) {
            cur = Cow::Owned(next);
            changed = true;
        }
    }
    if cur.contains('&') {
        if let Cow::Owned(next) = html_escape::decode_html_entities(cur.as_ref()) {
            if next != cur.as_ref() {
                cur = Cow::Owned(next);
                changed = true;
            }
        }
        // `&#64` / `&#x40` without the `;`, as browsers read them.
        if let Some(next) = loose_numeric_entities(&cur) {
            cur = Cow::Owned(next);
            changed = true;
        }
    }
    if cur.contains('\\') {
        if let Some(next) = unescape(&cur, Escapes::Mixed) {
            cur = Cow::Owned(next);
            changed = true;
        }
    }
    if cur.bytes().any(|c| matches!(c, b'(' | b'[' | b'{' | b'<')) {
        if let Some(next) = bracketed(&cur) {
            cur = Cow::Owned(next);
            changed = true;
        }
    }
    changed.then(|| cur.into_owned())
}

/// NFKC with combining marks removed (`a\u{332}@b.co` and `é` read as
/// `a@b.co` and `e`), then invisible and control characters removed (tab,
/// CR, LF and blanks that NFKC keeps, such as the braille blank, become
/// spaces), Unicode digits folded to ASCII, ideographic full stops and
/// middle dots and bullets to `.`.
fn unicode_pass(s: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    let mut out = String::with_capacity(s.len());
    // Braille read as the letters it spells.
    let braille = braille(s);
    let s = braille.as_deref().unwrap_or(s);
    // Letters drawn as symbols, read before NFKC (which spells the
    // parenthesized ones `(a)`).
    let letters = s.chars().map(|c| symbol_letter(c as u32).unwrap_or(c));
    for c in letters.nfkd().filter(|c| !is_combining_mark(*c)).nfkc() {
        let u = c as u32;
        if (0xE0020..=0xE007E).contains(&u) {
            // Tag characters spell ASCII invisibly (`ASCII smuggling`):
            // read them as the letters they carry.
            out.push(char::from((u - 0xE0000) as u8));
        } else if matches!(c, '\t' | '\n' | '\r' | '\u{2800}' | '\u{1680}' | TAG_MARK) {
            // U+FFFC from the input is a blank: the character marks a
            // removed tag only where strip_tags puts it.
            out.push(' ');
        } else if c.is_control() || is_invisible(c) {
            continue;
        } else if let Some(d) = unicode_digit(c) {
            out.push(d);
        } else if let Some(d) = dingbat_digits(c) {
            out.push_str(d);
        } else if matches!(
            c,
            '\u{3002}'
                | '\u{FF61}'
                | '\u{FE12}'
                | '\u{00B7}'
                | '\u{0387}'
                | '\u{02D9}'
                | '\u{06D4}'
                | '\u{16EB}'
                | '\u{2022}'
                | '\u{2027}'
                | '\u{2219}'
                | '\u{22C5}'
                | '\u{25E6}'
                | '\u{2981}'
                | '\u{2E31}'
                | '\u{2E33}'
                | '\u{30FB}'
                | '\u{A78F}'
                | '\u{FF65}'
                | '\u{066B}'
                | '\u{2E3C}'
                | '\u{A4FF}'
                | '\u{A60E}'
                | '\u{0701}'
                | '\u{0702}'
                | '\u{1362}'
                | '\u{25CF}'
                | '\u{26AB}'
                | '\u{2B24}'
                | '\u{1427}'
                | '\u{2E30}'
                | '\u{10101}'
                | '\u{0589}'
                | '\u{00B0}'
                | '\u{2218}'
                | '\u{2299}'
                | '\u{318D}'
                | '\u{119E}'
                | '\u{0E4F}'
        ) {
            // Middle dots, bullets and dots of other scripts, as `.`.
            out.push('.');
        } else if matches!(
            c,
            '\u{2010}'
                ..='\u{2015}'
                    | '\u{2212}'
                    | '\u{2043}'
                    | '\u{2053}'
                    | '\u{058A}'
                    | '\u{05BE}'
                    | '\u{1400}'
                    | '\u{1806}'
                    | '\u{2E17}'
                    | '\u{2E1A}'
                    | '\u{2E3A}'
                    | '\u{2E3B}'
                    | '\u{2E40}'
                    | '\u{301C}'
                    | '\u{3030}'
                    | '\u{30A0}'
                    | '\u{30FC}'
                    | '\u{FF70}'
                    | '\u{FE31}'
                    | '\u{FE32}'
                    | '\u{FE58}'
                    | '\u{FE63}'
        ) {
            // Dashes (Unicode `Pd`), the minus sign, wave dashes and the
            // Japanese long-vowel mark typed as a dash, as `-`.
            out.push('-');
        } else if c == '\u{066C}' {
            // The Arabic thousands separator.
            out.push(',');
        } else if matches!(c, '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{2032}') {
            out.push('\'');
        } else if matches!(
            c,
            '\u{3010}' | '\u{3014}' | '\u{300C}' | '\u{300E}' | '\u{3016}'
        ) {
            // CJK brackets around `at` / `dot`, as ASCII ones.
            out.push('[');
        } else if matches!(
            c,
            '\u{AB}'
                | '\u{2039}'
                | '\u{27E8}'
                | '\u{3008}'
                | '\u{2985}'
                | '\u{2768}'
                | '\u{276C}'
                | '\u{2045}'
                | '\u{2E28}'
        ) {
            // Guillemets and angle, white and ornamental brackets, as
            // angle brackets (`«at»`, `⟨at⟩`, `⦅at⦆`).
            out.push('<');
        } else if matches!(
            c,
            '\u{BB}'
                | '\u{203A}'
                | '\u{27E9}'
                | '\u{3009}'
                | '\u{2986}'
                | '\u{2769}'
                | '\u{276D}'
                | '\u{2046}'
                | '\u{2E29}'
        ) {
            out.push('>');
        } else if matches!(
            c,
            '\u{3011}' | '\u{3015}' | '\u{300D}' | '\u{300F}' | '\u{3017}'
        ) {
            out.push(']');
        } else if let Some(a) = confusable_ascii(c).filter(|a| matches!(a, '.' | '@' | '-')) {
            // Other dots, at signs and dashes UTS #39 knows as lookalikes.
            out.push(a);
        } else {
            out.push(c);
        }
    }
    out
}

/// Dingbat and double-circled digits NFKC leaves alone (`❶`, `➀`, `➊`,
/// `⓵`, `⓿`), as ASCII digits (`❿` and its kin as `10`).
fn dingbat_digits(c: char) -> Option<&'static str> {
    const DIGITS: [&str; 10] = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    let u = c as u32;
    let i = match u {
        0x2776..=0x277F => u - 0x2776,
        0x2780..=0x2789 => u - 0x2780,
        0x278A..=0x2793 => u - 0x278A,
        0x24F5..=0x24FE => u - 0x24F5,
        0x24FF | 0x24EA => return Some("0"),
        _ => return None,
    };
    Some(DIGITS[i as usize])
}

/// The letters of English Braille (grade 1) by dot pattern, `a` to `z`
/// (the bits of U+2800's dots: dot 1 is 1, dot 2 is 2, … dot 6 is 32).
const BRAILLE_LETTERS: [u8; 26] = [
    0x01, 0x03, 0x09, 0x19, 0x11, 0x0B, 0x1B, 0x13, 0x0A, 0x1A, 0x05, 0x07, 0x0D, 0x1D, 0x15, 0x0F,
    0x1F, 0x17, 0x0E, 0x1E, 0x25, 0x27, 0x3A, 0x2D, 0x3D, 0x35,
];

/// Text written in Braille patterns (U+2801–U+28FF), read as what it
/// spells in English Braille: its letters, digits after the number sign
/// (`⠼⠁⠃` is `12`), `⠲` as `.`, `⠤` as `-`, and `⠈` (alone, as Braille
/// ASCII writes it, or before `⠁`, as Unified English Braille does) as
/// `@`. `None` when `s` holds no Braille pattern.
fn braille(s: &str) -> Option<String> {
    if !s.chars().any(|c| ('\u{2801}'..='\u{28FF}').contains(&c)) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut digits = false;
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        let u = c as u32;
        if !(0x2801..=0x28FF).contains(&u) {
            digits = false;
            out.push(c);
            continue;
        }
        let dots = (u - 0x2800) as u8;
        match dots {
            0x3C => digits = true,
            0x32 => out.push('.'),
            0x24 => out.push('-'),
            0x08 => {
                if it.peek() == Some(&'\u{2801}') {
                    it.next();
                }
                out.push('@');
            }
            _ => match BRAILLE_LETTERS.iter().position(|&d| d == dots) {
                Some(i) if digits && i < 10 => out.push(char::from(b'0' + ((i as u8 + 1) % 10))),
                Some(i) => {
                    digits = false;
                    out.push(char::from(b'a' + i as u8));
                }
                None => out.push(c),
            },
        }
    }
    Some(out)
}

/// Whitespace (Unicode `White_Space`) or a character drawn as a blank
/// (U+2800 BRAILLE PATTERN BLANK, the Hangul fillers).
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{2800}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        )
}

/// Format characters that render as nothing (Unicode `Cf` and friends).
pub fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    // Every format character (general category Cf: U+FFF9-FFFB
    // interlinear annotation, the Egyptian format controls), and the
    // fillers and selectors that are not Cf.
    (!c.is_ascii() && c.general_category() == GeneralCategory::Format)
        || matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x0640 | 0x115F | 0x1160 | 0x17B4 | 0x17B5
        | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
        | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// The zero of every block of ten Unicode decimal digits (`Nd`) outside
/// ASCII that NFKC leaves alone.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// A non-ASCII decimal digit as its ASCII digit.
pub fn unicode_digit(c: char) -> Option<char> {
    let u = c as u32;
    if u < 0x0660 {
        return None;
    }
    // The blocks are sorted; find the last zero at or below `u`.
    let i = DIGIT_ZEROS.partition_point(|&z| z <= u);
    if i == 0 {
        return None;
    }
    let z = DIGIT_ZEROS[i - 1];
    (u - z < 10).then(|| char::from(b'0' + (u - z) as u8))
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `%XX` decoded once; `None` if there was none. Invalid UTF-8 that results
/// is replaced (U+FFFD), never dropped silently into a panic.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut any = false;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                any = true;
                continue;
            }
        }
        // `%u0040` (an old JavaScript escape).
        if b[i] == b'%' && (b.get(i + 1) == Some(&b'u') || b.get(i + 1) == Some(&b'U')) {
            if let Some(c) = b
                .get(i + 2..i + 6)
                .and_then(|h| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                .and_then(char::from_u32)
            {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                i += 6;
                any = true;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    any.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// How `\` followed by digits is read: octal and CSS hex overlap (`\100`
/// is `@` in C and U+0100 in CSS). A round reads [`Escapes::Mixed`]; the
/// guard also reads a text each of the other two ways ([`reread_escapes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escapes {
    /// Two or three octal digits are octal unless more hex digits follow
    /// (`\0040`) or a blank ends two of them (`\40 `, CSS).
    Mixed,
    /// Always CSS hex (one to six digits).
    Css,
    /// Always octal when two or three octal digits come.
    Octal,
}

/// JSON and JavaScript escapes written into a string: `\u0040`, `\u{40}`,
/// `\U00000040`, `\x40`, `\x{40}`, `\N{COMMERCIAL AT}`, octal `\100`, CSS
/// `\40 `, `\/`, `\"`, `\\`, `\n`, digits read as `mode` says; `None` if
/// there was none.
fn unescape(s: &str, mode: Escapes) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut any = false;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest = &s[i + 1..];
        let mut consumed = 0usize;
        let mut push: Option<char> = None;
        let octal = match mode {
            Escapes::Css => None,
            _ => octal_escape(rest, mode),
        };
        match rest.as_bytes().first() {
            Some(b'u' | b'x') if rest.as_bytes().get(1) == Some(&b'{') => {
                // `\u{40}` (JavaScript), `\x{40}` (Perl, PHP, Ruby).
                if let Some((ch, n)) = braced_hex(&rest[1..]) {
                    push = Some(ch);
                    consumed = 1 + n;
                }
            }
            Some(b'u') => {
                if let Some(u) = rest.get(1..5).and_then(|h| u32::from_str_radix(h, 16).ok()) {
                    consumed = 5;
                    // A surrogate pair written as two escapes.
                    if (0xD800..0xDC00).contains(&u) && rest.get(5..7) == Some("\\u") {
                        if let Some(lo) = rest
                            .get(7..11)
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                        {
                            if (0xDC00..0xE000).contains(&lo) {
                                push =
                                    char::from_u32(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                                consumed = 11;
                            }
                        }
                    } else {
                        push = char::from_u32(u);
                    }
                    if push.is_none() {
                        push = Some('\u{FFFD}');
                    }
                }
            }
            Some(b'U') => {
                if let Some(ch) = rest
                    .get(1..9)
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                {
                    push = Some(ch);
                    consumed = 9;
                }
            }
            Some(b'0'..=b'7') if octal.is_some() => {
                // Octal (C, Python, old JavaScript): `\100`, `\56`.
                let n = octal.unwrap_or(0);
                push = u32::from_str_radix(&rest[..n], 8)
                    .ok()
                    .and_then(char::from_u32);
                consumed = n;
            }
            Some(c) if c.is_ascii_hexdigit() => {
                // CSS: one to six hex digits, then an optional space.
                let n = rest
                    .bytes()
                    .take(6)
                    .take_while(u8::is_ascii_hexdigit)
                    .count();
                if let Some(ch) = u32::from_str_radix(&rest[..n], 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    push = Some(ch);
                    consumed = n + usize::from(rest.as_bytes().get(n) == Some(&b' '));
                }
            }
            Some(b'N') if rest.as_bytes().get(1) == Some(&b'{') => {
                // Python: `\N{COMMERCIAL AT}`, for the characters an
                // address or a number is made of.
                if let Some(end) = rest[2..].find('}').filter(|&e| e <= 40) {
                    let name = rest[2..2 + end].to_ascii_uppercase();
                    push = match name.trim() {
                        "COMMERCIAL AT" => Some('@'),
                        "FULL STOP" | "PERIOD" => Some('.'),
                        "HYPHEN-MINUS" => Some('-'),
                        "PLUS SIGN" => Some('+'),
                        n => n
                            .strip_prefix("DIGIT ")
                            .and_then(|d| {
                                [
                                    "ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN",
                                    "EIGHT", "NINE",
                                ]
                                .iter()
                                .position(|w| *w == d)
                            })
                            .map(|i| char::from(b'0' + i as u8)),
                    };
                    consumed = 3 + end;
                }
            }
            Some(b'x') => {
                if let (Some(h), Some(l)) = (
                    rest.as_bytes().get(1).copied().and_then(hexval),
                    rest.as_bytes().get(2).copied().and_then(hexval),
                ) {
                    push = Some(char::from(h * 16 + l));
                    consumed = 3;
                }
            }
            Some(&e @ (b'/' | b'"' | b'\\' | b'\'' | b'@' | b'.')) => {
                push = Some(e as char);
                consumed = 1;
            }
            Some(b'n' | b't' | b'r') => {
                push = Some(' ');
                consumed = 1;
            }
            _ => {}
        }
        match push {
            Some(ch) => {
                any = true;
                out.push(ch);
                // Skip the escape's bytes (all ASCII).
                let end = i + 1 + consumed;
                while it.peek().is_some_and(|&(j, _)| j < end) {
                    it.next();
                }
            }
            None => out.push(c),
        }
    }
    any.then_some(out)
}

/// `{HEX}` at the start of `s` (one to six hex digits): the character
/// and the bytes the braces take.
fn braced_hex(s: &str) -> Option<(char, usize)> {
    let end = s
        .strip_prefix('{')?
        .find('}')
        .filter(|e| (1..=6).contains(e))?;
    let ch = u32::from_str_radix(&s[1..1 + end], 16)
        .ok()
        .and_then(char::from_u32)?;
    Some((ch, end + 2))
}

/// How many octal digits at the start of `rest` (after a `\`) `mode`
/// reads as an octal escape: two or three, and in [`Escapes::Mixed`] only
/// when no more hex digits follow (`\0040` is CSS) and a blank does not end
/// two of them (`\40 ` is CSS).
fn octal_escape(rest: &str, mode: Escapes) -> Option<usize> {
    let n = rest
        .bytes()
        .take(3)
        .take_while(|c| matches!(c, b'0'..=b'7'))
        .count();
    let next = rest.as_bytes().get(n);
    let octal = n >= 2
        && (mode == Escapes::Octal
            || (!next.is_some_and(u8::is_ascii_hexdigit) && (n == 3 || next != Some(&b' '))));
    octal.then_some(n)
}

/// `(at)`, `[at]`, `{at}`, `<at>` and the same with `dot`, any case, with
/// optional spaces inside the brackets.
fn bracketed(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let starts_with = |at: usize, word: &[u8]| {
        b.get(at..at + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    // Allocated at the first replacement only.
    let mut out = String::new();
    let mut i = 0;
    let mut any = false;
    let mut last = 0;
    while i < b.len() {
        let close = match b[i] {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            b'<' => b'>',
            _ => {
                i += 1;
                continue;
            }
        };
        let mut j = i + 1;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let (word, rep) = if starts_with(j, b"at") {
            (2, '@')
        } else if starts_with(j, b"dot") {
            (3, '.')
        } else if b.get(j) == Some(&b'@') {
            // Defanged: `[@]`, `(@)`, `[.]`.
            (1, '@')
        } else if b.get(j) == Some(&b'.') {
            (1, '.')
        } else {
            i += 1;
            continue;
        };
        let mut k = j + word;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        if k < b.len() && b[k] == close {
            out.push_str(&s[last..i]);
            out.push(rep);
            last = k + 1;
            i = k + 1;
            any = true;
        } else {
            i += 1;
        }
    }
    if !any {
        return None;
    }
    out.push_str(&s[last..]);
    Some(out)
}

/// `&#64` and `&#x40` without their `;` (browsers and `html.unescape` read
/// them so), decoded; `None` if there was none. Only ASCII code points: a
/// loose entity that names anything else is left as written.
fn loose_numeric_entities(s: &str) -> Option<String> {
    let b = s.as_bytes();
    splice(s, memchr::memmem::find_iter(b, b"&#"), |at| {
        let hex = matches!(b.get(at + 2), Some(b'x' | b'X'));
        let mut from = at + 2 + hex as usize;
        // Leading zeros name nothing (`&#x0000040`).
        while b.get(from) == Some(&b'0') && b.get(from + 1).is_some_and(u8::is_ascii_hexdigit) {
            from += 1;
        }
        let digit = |c: &u8| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        };
        let j = from
            + b[from.min(b.len())..]
                .iter()
                .take(6)
                .take_while(|c| digit(c))
                .count();
        let v = std::str::from_utf8(&b[from.min(b.len())..j.min(b.len())])
            .ok()
            .filter(|d| !d.is_empty())
            .and_then(|d| u32::from_str_radix(d, if hex { 16 } else { 10 }).ok())
            .filter(|v| (0x20..0x7f).contains(v))?;
        (b.get(j) != Some(&b';')).then(|| (j, Some(char::from(v as u8))))
    })
}

/// The digit a numeral stands for: a CJK numeral (`〇一二三四五六七八九`,
/// `零`, and the financial `壹贰貳叁參肆伍陆陸柒捌玖`).
fn cjk_numeral(c: char) -> Option<u8> {
    Some(match c {
        '〇' | '零' => 0,
        '一' | '壹' => 1,
        '二' | '贰' | '貳' => 2,
        '三' | '叁' | '參' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' | '陸' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

/// The digit an English digit word stands for (`four`, `Oh`, NATO's
/// `niner`); with `all_languages`, also a Spanish, French, German,
/// Italian or Portuguese one, as the canonical form writes them (without
/// accents: `funf`).
fn digit_word(w: &str, all_languages: bool) -> Option<u8> {
    const ENGLISH: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    const OTHERS: [&[&str]; 10] = [
        &["cero", "null"],
        &["uno", "un", "une", "eins", "um", "uma"],
        &["dos", "deux", "zwei", "due", "dois", "duas"],
        &["tres", "trois", "drei", "tre"],
        &["cuatro", "quatre", "vier", "quattro", "quatro"],
        &["cinco", "cinq", "funf", "fuenf", "cinque"],
        &["seis", "sechs", "sei"],
        &["siete", "sept", "sieben", "sette", "sete"],
        &["ocho", "huit", "acht", "otto", "oito"],
        &["nueve", "neuf", "neun", "nove"],
    ];
    if w.eq_ignore_ascii_case("oh") {
        return Some(0);
    }
    if w.eq_ignore_ascii_case("niner") {
        return Some(9);
    }
    ENGLISH
        .iter()
        .position(|d| d.eq_ignore_ascii_case(w))
        .or_else(|| {
            all_languages
                .then(|| {
                    OTHERS
                        .iter()
                        .position(|ws| ws.iter().any(|d| d.eq_ignore_ascii_case(w)))
                })
                .flatten()
        })
        .map(|d| d as u8)
}

/// The shortest and longest bare hex run [`bare_hex_integers`] reads.
const BARE_HEX_DIGITS: std::ops::RangeInclusive<usize> = 6..=16;

/// Integers written in hex without a prefix (`ref 34b40681`,
/// `ord-34B40681`): each run of [`BARE_HEX_DIGITS`] hex digits standing
/// alone, holding a digit and a letter `a`-`f` in one case, read as its
/// decimal value in both byte orders (`884213377`, and `2164700212` for
/// `8106b434`); the texts with each run replaced, one per byte order.
/// For comparing with the event's own values only (the nineteenth pass:
/// an order number passed off as a hex code). Empty when there is none.
pub fn bare_hex_integers(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_hexdigit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let end = i + b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        let run = &b[i..end];
        let one_case =
            !(run.iter().any(u8::is_ascii_lowercase) && run.iter().any(u8::is_ascii_uppercase));
        if BARE_HEX_DIGITS.contains(&run.len())
            && !b.get(end).is_some_and(u8::is_ascii_alphanumeric)
            && run.iter().any(u8::is_ascii_digit)
            && run.iter().any(u8::is_ascii_alphabetic)
            && one_case
        {
            runs.push((i, end));
        }
        i = end.max(i + 1);
    }
    if runs.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(2);
    for little in [false, true] {
        let mut t = String::with_capacity(s.len() + 8);
        let mut last = 0;
        for &(start, end) in &runs {
            let digits = &s[start..end];
            let n = if little {
                if digits.len() % 2 == 1 {
                    continue;
                }
                let swapped: String = digits
                    .as_bytes()
                    .chunks(2)
                    .rev()
                    .map(|p| std::str::from_utf8(p).unwrap_or_default())
                    .collect();
                u64::from_str_radix(&swapped, 16)
            } else {
                u64::from_str_radix(digits, 16)
            };
            if let Ok(n) = n {
                t.push_str(&s[last..start]);
                t.push_str(&n.to_string());
                last = end;
            }
        }
        if last > 0 {
            t.push_str(&s[last..]);
            out.push(t);
        }
    }
    out
}

/// Integers written in hex with a `0x` prefix (`0x34b40681`), five to 32
/// digits, read as their decimal value (`884213377`): an order or phone
/// number passed off as a hex code. `None` when `s` has none.
pub fn hex_integers(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut last = 0;
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'0', &b[i..]).map(|p| i + p) {
        let next = at + 1;
        if b.get(next).is_some_and(|c| matches!(c, b'x' | b'X'))
            && (at == 0 || !b[at - 1].is_ascii_alphanumeric())
        {
            let digits = b[next + 1..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            let end = next + 1 + digits;
            if (5..=32).contains(&digits) && !b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
                if let Ok(n) = u128::from_str_radix(&s[next + 1..end], 16) {
                    out.push_str(&s[last..at]);
                    out.push_str(&n.to_string());
                    last = end;
                    i = end;
                    continue;
                }
            }
        }
        i = next;
    }
    (last > 0).then(|| {
        out.push_str(&s[last..]);
        out
    })
}

/// The NATO spelling alphabet's words (`alfa`, `bravo`, … `zulu`), their
/// letters by position.
const NATO: [&[&str]; 26] = [
    &["alfa", "alpha"],
    &["bravo"],
    &["charlie"],
    &["delta"],
    &["echo"],
    &["foxtrot"],
    &["golf"],
    &["hotel"],
    &["india"],
    &["juliett", "juliet"],
    &["kilo"],
    &["lima"],
    &["mike"],
    &["november"],
    &["oscar"],
    &["papa"],
    &["quebec"],
    &["romeo"],
    &["sierra"],
    &["tango"],
    &["uniform"],
    &["victor"],
    &["whiskey", "whisky"],
    &["xray"],
    &["yankee"],
    &["zulu"],
];

/// The fewest spelling-alphabet words [`phonetic_spelling`] reads.
const MIN_NATO_WORDS: usize = 4;

/// Text spelled out in the NATO alphabet (`juliett alfa november echo dot
/// delta oscar echo at example dot com`), read as what it spells: each
/// spelling word its letter, a digit word its digit ([`digit_word`]),
/// `dot`/`point` `.`, `at` `@`, `dash`/`hyphen` `-`, `underscore` `_`,
/// `plus` `+`, other words as they are, all joined without blanks
/// (`jane.doe@example.com`). `None` unless [`MIN_NATO_WORDS`] or more
/// spelling words are in it.
pub fn phonetic_spelling(s: &str) -> Option<String> {
    // Four spelling words and the blanks between them: 19 bytes or more.
    if s.len() < 19 {
        return None;
    }
    let letter = |w: &str| {
        if !(4..=8).contains(&w.len()) {
            return None;
        }
        NATO.iter()
            .position(|ws| ws.iter().any(|n| n.eq_ignore_ascii_case(w)))
            .map(|i| char::from(b'a' + i as u8))
    };
    let words = || {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
    };
    words()
        .filter(|w| letter(w).is_some())
        .nth(MIN_NATO_WORDS - 1)?;
    let mut out = String::with_capacity(s.len() / 4);
    for w in words() {
        if let Some(l) = letter(w) {
            out.push(l);
        } else if let Some(d) = digit_word(w, true) {
            out.push(char::from(b'0' + d));
        } else {
            match w.to_ascii_lowercase().as_str() {
                "dot" | "point" | "period" => out.push('.'),
                "at" => out.push('@'),
                "dash" | "hyphen" | "minus" => out.push('-'),
                "underscore" => out.push('_'),
                "plus" => out.push('+'),
                _ => out.push_str(w),
            }
        }
    }
    Some(out)
}

/// The tokens [`spelled_digits`] reads, as (start, end, value): a CJK
/// numeral or an ASCII digit (its digit), a run of ASCII letters (a digit
/// word's digit, 12 for `double` and 13 for `triple`, else none), any other
/// letter or digit (none). Other characters are skipped.
fn numeral_tokens(
    s: &str,
    all_languages: bool,
) -> impl Iterator<Item = (usize, usize, Option<u8>)> + '_ {
    let mut it = s.char_indices().peekable();
    std::iter::from_fn(move || loop {
        let (i, c) = it.next()?;
        if let Some(d) = cjk_numeral(c) {
            return Some((i, i + c.len_utf8(), Some(d)));
        } else if c.is_ascii_digit() {
            return Some((i, i + 1, Some(c as u8 - b'0')));
        } else if c.is_ascii_alphabetic() {
            let mut end = i + 1;
            while let Some(&(j, n)) = it.peek() {
                if !n.is_ascii_alphabetic() {
                    break;
                }
                end = j + 1;
                it.next();
            }
            let w = &s[i..end];
            // `double five`, `triple five`: the next digit two or three
            // times (expanded by spelled_digits).
            let mult = if w.eq_ignore_ascii_case("double") {
                Some(12)
            } else if w.eq_ignore_ascii_case("triple") {
                Some(13)
            } else {
                None
            };
            return Some((i, end, mult.or_else(|| digit_word(w, all_languages))));
        } else if c.is_alphanumeric() {
            return Some((i, i + c.len_utf8(), None));
        }
    })
}

/// Digits spelled as numerals, read as ASCII digits: a run of at least
/// four CJK numerals or English digit words (`四一五五五五〇〇八二`,
/// `four one five five`), with digits and separators between them, becomes
/// its digits (`4155550082`). `None` when there is no such run. A single
/// `一` in a word, or `one of two`, stays as it is.
pub fn spelled_digits(s: &str) -> Option<String> {
    spelled_digits_in(s, false)
}

/// [`spelled_digits`] with the digit words of Spanish, French, German,
/// Italian and Portuguese too (`dos cero seis cinco`). Everyday text
/// counts in these words (`uno, dos, tres, cuatro`), so the guard compares
/// what this reads with the event's own values only.
pub fn spelled_digits_any_language(s: &str) -> Option<String> {
    spelled_digits_in(s, true)
}

fn spelled_digits_in(s: &str, all_languages: bool) -> Option<String> {
    const MIN_RUN: usize = 4;
    if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    // A spelled run is rare: look for one before allocating anything.
    let (mut run, mut spelled, mut found) = (0, false, false);
    for (a, b, d) in numeral_tokens(s, all_languages) {
        if d.is_none() {
            (run, spelled) = (0, false);
            continue;
        }
        run += 1;
        spelled |= b - a > 1 || !s.as_bytes()[a].is_ascii_digit();
        if run >= MIN_RUN && spelled {
            found = true;
            break;
        }
    }
    if !found {
        return None;
    }
    let tokens: Vec<(usize, usize, Option<u8>)> = numeral_tokens(s, all_languages).collect();
    let mut out = String::new();
    let mut copied = 0;
    let mut k = 0;
    while k < tokens.len() {
        let run = tokens[k..]
            .iter()
            .take_while(|(_, _, d)| d.is_some())
            .count();
        let spelled = tokens[k..k + run]
            .iter()
            .filter(|(a, b, _)| b - a > 1 || !s.as_bytes()[*a].is_ascii_digit())
            .count();
        if run >= MIN_RUN && spelled > 0 {
            let (start, end) = (tokens[k].0, tokens[k + run - 1].1);
            out.push_str(&s[copied..start]);
            let mut times = 1;
            for t in &tokens[k..k + run] {
                match t.2.unwrap_or(0) {
                    m @ 12..=13 => times = m - 10,
                    d => {
                        for _ in 0..times {
                            out.push(char::from(b'0' + d));
                        }
                        times = 1;
                    }
                }
            }
            copied = end;
        }
        k += run.max(1);
    }
    (copied > 0).then(|| {
        out.push_str(&s[copied..]);
        out
    })
}

/// Quoted-printable (MIME) `=40` / `=2E`: `=` and two hex digits naming a
/// printable ASCII character, decoded; `None` if there was none. Other
/// bytes (`=C3=A9`, base64 padding) are left as written. Not part of a
/// round: `key=6a6b...` is more often a key and a hex value than
/// quoted-printable, so the guard reads this as one more view of the text
/// beside the text as written.
pub fn quoted_printable(s: &str) -> Option<String> {
    let b = s.as_bytes();
    splice(s, memchr::memchr_iter(b'=', b), |at| {
        // A soft line break (`=` at the end of a line, its CR LF read as
        // blanks by then) joins the lines.
        let blanks = b[at + 1..]
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            .count();
        if blanks > 0 {
            return Some((at + 1 + blanks, None));
        }
        let h = hexval(*b.get(at + 1)?)?;
        let l = hexval(*b.get(at + 2)?)?;
        let v = h * 16 + l;
        (0x20..0x7f)
            .contains(&v)
            .then(|| (at + 3, Some(char::from(v))))
    })
}

/// `s` with its backslash escapes read as CSS hex, and read as octal (see
/// [`Escapes`]), where a round reads them mixed; empty if it has none.
/// Views of the text as written, beside its canonical form.
pub fn reread_escapes(s: &str) -> Vec<String> {
    if !s.contains('\\') {
        return Vec::new();
    }
    [Escapes::Css, Escapes::Octal]
        .into_iter()
        .filter_map(|m| unescape(s, m))
        .collect()
}

/// Parenthesized comments removed (`jane(work)@example.com`, RFC 5322
/// allows them around the `@`): a `(` up to the next `)` within 64 bytes;
/// `None` if there was none. A view beside the text.
pub fn strip_comments(s: &str) -> Option<String> {
    let b = s.as_bytes();
    splice(s, memchr::memchr_iter(b'(', b), |at| {
        let end = memchr::memchr(b')', &b[at..(at + 64).min(b.len())])?;
        Some((at + end + 1, None))
    })
}

/// What [`strip_tags`] leaves where a tag was (U+FFFC OBJECT REPLACEMENT
/// CHARACTER).
pub const TAG_MARK: char = '\u{FFFC}';

/// HTML tags and comments removed (`jane<b></b>@example.com`,
/// `jane<!-- -->@example.com`): `<`, an optional `/` or `!`, a letter or
/// `--`, up to the next `>` within 256 bytes; `None` if there was none.
/// A view beside the text, not part of a round: a tag's attributes
/// (`<a href="mailto:...">`) are read in the text as written.
pub fn strip_tags(s: &str) -> Option<String> {
    let b = s.as_bytes();
    splice(s, memchr::memchr_iter(b'<', b), |at| {
        let mut j = at + 1;
        if matches!(b.get(j), Some(b'/' | b'!')) {
            j += 1;
        }
        let starts =
            b.get(j).is_some_and(u8::is_ascii_alphabetic) || b[j.min(b.len())..].starts_with(b"--");
        if !starts {
            return None;
        }
        let end = memchr::memchr(b'>', &b[j..(j + 256).min(b.len())])?;
        // U+FFFC, which the email detector skips like a blank and which
        // ends a chain of digit groups: `jane<b></b>@example.com` is an
        // address, `<li>19.99</li><li>24.99</li>` stays two prices.
        Some((j + end + 1, Some(TAG_MARK)))
    })
}

/// `s` with spans replaced: for each candidate position at or past the end
/// of the last replaced span, `f(at)` gives the end of a span starting
/// there and what replaces it (nothing or one character); `None` when no
/// span was replaced. Allocates at the first replacement only.
fn splice(
    s: &str,
    candidates: impl Iterator<Item = usize>,
    mut f: impl FnMut(usize) -> Option<(usize, Option<char>)>,
) -> Option<String> {
    let mut out = String::new();
    let (mut last, mut any) = (0usize, false);
    for at in candidates {
        if at < last {
            continue;
        }
        let Some((end, rep)) = f(at) else {
            continue;
        };
        out.push_str(&s[last..at]);
        out.extend(rep);
        last = end;
        any = true;
    }
    if !any {
        return None;
    }
    out.push_str(&s[last..]);
    Some(out)
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// Does `b` hold ASCII letters of both cases (base64 of text does; a word
/// or a slug does not)?
fn both_cases(b: &[u8]) -> bool {
    b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase)
}

/// Could `s` hold text in base64 or hex ([`decoded_tokens`]): a run of
/// [`MIN_TOKEN_LEN`] or more letters, digits and `+` in both cases, or of
/// 12 or more hex digits? A page's slugs and words are neither, and
/// decoding them on every event was a cost of its own.
pub fn may_hold_encoded_text(s: &str) -> bool {
    // Split on the bytes: every byte of a character outside ASCII parts
    // tokens as the character does (it only adds empty tokens).
    s.as_bytes()
        .split(|&c| !(c.is_ascii_alphanumeric() || c == b'+'))
        .any(|b| {
            (b.len() >= MIN_TOKEN_LEN && both_cases(b))
                || (b.len() >= 12 && b.iter().all(u8::is_ascii_hexdigit))
        })
}

/// Texts hidden in base64 / base64url / base32 / hex tokens of `s` (at least
/// [`MIN_TOKEN_LEN`] characters): each decoding that yields printable
/// text. A token is tried whole and split at `/ + = - _`; groups split by
/// blanks or punctuation ([`spaced_groups`]) are also tried joined. `None`
/// when `s` holds more candidate tokens than [`MAX_TOKENS`]: the guard does
/// not forward what it could not read to the end.
pub fn decoded_tokens(s: &str) -> Option<Decoded> {
    let b = s.as_bytes();
    let mut out = Decoded::default();
    let mut tried = 0usize;
    let mut attempt = |tok: &str, out: &mut Decoded| {
        tried += 1;
        (tried <= MAX_TOKENS).then(|| try_decode(tok, out))
    };
    let mut i = 0;
    while i < b.len() {
        if !is_token_char(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_token_char(b[i]) {
            i += 1;
        }
        let run = &s[start..i];
        if run.len() < MIN_TOKEN_LEN {
            continue;
        }
        attempt(run, &mut out)?;
        turned_base64(run, &mut out);
        if run.starts_with('=') {
            // Padding in front: base64 written backwards.
            let backwards: String = run.chars().rev().collect();
            attempt(&backwards, &mut out)?;
        }
        if run
            .bytes()
            .any(|c| matches!(c, b'+' | b'/' | b'=' | b'-' | b'_'))
        {
            for piece in run.split(['+', '/', '=', '-', '_']) {
                if piece.len() >= MIN_TOKEN_LEN {
                    attempt(piece, &mut out)?;
                }
            }
            for joined in mark_joined_groups(run) {
                attempt(&joined, &mut out)?;
            }
        }
    }
    for joined in spaced_groups(s) {
        attempt(&joined, &mut out)?;
    }
    for run in base85_runs(s) {
        tried += 1;
        if tried > MAX_TOKENS {
            return None;
        }
        for bytes in base85_decodings(run) {
            push_decoded(&bytes, true, &mut out);
        }
    }
    for text in padded_chunks(s).into_iter().chain(code_points(s)) {
        if !out.texts.contains(&text) {
            out.texts.push(text);
        }
    }
    Some(out)
}

/// Groups of letters and digits joined by one of the tokens' own marks,
/// without the marks: in dashed groups any letters and digits (hex in a
/// UUID's shape, `6a616e65-2e64-6f65-4065-78616d706c65`; Crockford's
/// base32 with the hyphens its spec allows, `D9GP-WS9E-CHQP-…`), joined by
/// `_` or `/` hex of an even length each (`6b_69_6d_2e`). Each stretch of
/// `run` between the other marks is one candidate (two UUIDs joined by a
/// `/` are two), of [`MIN_TOKEN_LEN`] × 2 characters or more.
fn mark_joined_groups(run: &str) -> Vec<String> {
    let mut out = Vec::new();
    for mark in ['-', '_', '/'] {
        if !run.contains(mark) {
            continue;
        }
        let other_mark = |c: char| c != mark && matches!(c, '+' | '/' | '=' | '-' | '_');
        for stretch in run.split(other_mark).filter(|s| s.contains(mark)) {
            let groups = stretch.split(mark).filter(|g| !g.is_empty());
            let fits = |g: &str| {
                if mark == '-' {
                    g.bytes().all(|c| c.is_ascii_alphanumeric())
                } else {
                    g.len().is_multiple_of(2) && g.bytes().all(|c| c.is_ascii_hexdigit())
                }
            };
            if groups.clone().count() < 2 || !groups.clone().all(fits) {
                continue;
            }
            let joined: String = groups.collect();
            if joined.len() >= 2 * MIN_TOKEN_LEN && !out.contains(&joined) {
                out.push(joined);
            }
        }
    }
    out
}

/// The shortest run [`turned_base64`] reads.
const MIN_TURNED_BASE64: usize = 12;

/// A run that looks like base64 (both cases of letters, [`MIN_TURNED_BASE64`]
/// or more characters) read as base64 after ROT13 and written backwards
/// without its padding (the nineteenth red-team pass:
/// `nzShMF5xo2INMKuuoKOfMF5wo20=`, `02bj5SZsBXbhhXZAV2bk5SZuFma`); only a
/// decoding that is text is kept (these turns of an ordinary token
/// decode to bytes that are not).
fn turned_base64(run: &str, out: &mut Decoded) {
    let b = run.as_bytes();
    if b.len() < MIN_TURNED_BASE64
        || !b.iter().any(u8::is_ascii_uppercase)
        || !b.iter().any(u8::is_ascii_lowercase)
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_' | b'='))
    {
        return;
    }
    let rot: Vec<u8> = b.iter().map(|&c| rot13(c)).collect();
    let back: Vec<u8> = b.iter().rev().copied().collect();
    for cand in [rot, back] {
        let t = trim_padding(&cand);
        let url = t.iter().any(|c| matches!(c, b'-' | b'_'));
        let engine = if url {
            &data_encoding::BASE64URL_NOPAD
        } else {
            &data_encoding::BASE64_NOPAD
        };
        let whole = if t.len() % 4 == 1 {
            t.len() - 1
        } else {
            t.len()
        };
        if let Ok(v) = engine.decode(&t[..whole]) {
            if let Some(text) = printable(&v) {
                if !out.texts.contains(&text) {
                    out.texts.push(text);
                }
            }
        }
    }
}

/// `b` without `=` at either end.
fn trim_padding(b: &[u8]) -> &[u8] {
    let start = b.iter().take_while(|&&c| c == b'=').count();
    let end = b.len() - b[start..].iter().rev().take_while(|&&c| c == b'=').count();
    &b[start..end]
}

/// What [`decoded_tokens`] found.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Texts: read like the string they came from.
    pub texts: Vec<String>,
    /// Binary decodings of 16 or more bytes (a digest's, a device id's, an
    /// IPv6 address's), in lowercase hex, from the encodings the guard does
    /// not read such bytes in itself (it reads hex, base32 and base64).
    /// Only the event's own identifiers and their digests are looked for in
    /// them: random bytes in hex hold digit runs that look like phone
    /// numbers, so nothing else is.
    pub binary: Vec<String>,
}

/// The fewest code points in a row [`code_points`] reads.
const MIN_CODE_POINTS: usize = 4;

/// Text written as Unicode code points (`U+006A U+0061 U+006E U+0065`,
/// also `u+006a,u+0061…` or run together): each run of
/// [`MIN_CODE_POINTS`] or more, separated by nothing, blanks, `,` or `;`,
/// as the characters they name, runs joined by a space. `None` when there
/// is no such run.
fn code_points(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut run = String::new();
    let mut count = 0;
    let mut i = 0;
    let flush = |run: &mut String, count: &mut usize, out: &mut String| {
        if *count >= MIN_CODE_POINTS {
            out.push(' ');
            out.push_str(run);
        }
        run.clear();
        *count = 0;
    };
    while let Some(at) = memchr::memchr(b'+', &b[i..]).map(|p| i + p) {
        let prefixed = at > 0 && matches!(b[at - 1], b'U' | b'u');
        let digits = b[at + 1..]
            .iter()
            .take(6)
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        let cp = (prefixed && digits >= 4)
            .then(|| u32::from_str_radix(&s[at + 1..at + 1 + digits], 16).ok())
            .flatten()
            .and_then(char::from_u32);
        match cp {
            Some(c) => {
                // Only blanks, commas or semicolons since the last one.
                let gap = &b[i..at - 1];
                if count > 0 && !gap.iter().all(|c| matches!(c, b' ' | b',' | b';')) {
                    flush(&mut run, &mut count, &mut out);
                }
                run.push(c);
                count += 1;
                i = at + 1 + digits;
            }
            None => {
                flush(&mut run, &mut count, &mut out);
                i = at + 1;
            }
        }
    }
    flush(&mut run, &mut count, &mut out);
    (!out.is_empty()).then_some(out)
}

/// Base64 written in padded chunks run together (`eA==Lg==cw==`,
/// `amE=bmU=`): each chunk up to and with its `=` decoded on its own and
/// the bytes joined, when the text holds four or more such chunks. `None`
/// otherwise.
fn padded_chunks(s: &str) -> Option<String> {
    // A padding sign followed by more base64: chunks run together.
    let b = s.as_bytes();
    let inner = b
        .windows(2)
        .filter(|w| w[0] == b'=' && (w[1].is_ascii_alphanumeric() || matches!(w[1], b'+' | b'/')))
        .count();
    if inner < 3 {
        return None;
    }
    let mut bytes = Vec::new();
    for run in s.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))) {
        let mut rest = run;
        while !rest.is_empty() {
            // A chunk: base64 characters, then its padding.
            let body = rest.find('=').unwrap_or(rest.len());
            let pad = rest[body..].bytes().take_while(|&c| c == b'=').count();
            let chunk = &rest[..body];
            if !chunk.is_empty() {
                let v = data_encoding::BASE64_NOPAD.decode(chunk.as_bytes()).ok()?;
                bytes.extend(v);
            }
            rest = &rest[body + pad..];
        }
    }
    printable(&bytes)
}

/// Runs of two or more pieces of base64 or hex separated by blanks,
/// punctuation or symbols other than the tokens' own `+ / = - _` (`. : , ;
/// | ~ ' * ¦` …), where every piece but the last has a length that
/// is a multiple of 4 (whole base64 groups) or all are hex of an even
/// length (a `0x` in front of each allowed, as in a C byte array), joined
/// without the separators: base64 written in groups or wrapped at a line
/// length, `bGVhay50.YXJnZXRA...`, `6c:65:61:6b`, `0x6c, 0x65, ...`.
fn spaced_groups(s: &str) -> Vec<String> {
    if s.len() < 2 * MIN_TOKEN_LEN + 1 {
        return Vec::new();
    }
    let is_sep = |c: char| !(c.is_alphanumeric() || c.is_ascii() && is_token_char(c as u8));
    let mut out = Vec::new();
    let mut pieces: Vec<&str> = Vec::new();
    // More than MAX_TOKENS candidates make the text unreadable anyway
    // (decoded_tokens counts them): no more are made, so a long crafted
    // text costs no more than that.
    let flush = |pieces: &mut Vec<&str>, out: &mut Vec<String>| {
        if pieces.len() >= 2 && out.len() <= MAX_TOKENS {
            let stripped: Vec<&str> = pieces
                .iter()
                .map(|p| {
                    p.strip_prefix("0x")
                        .or_else(|| p.strip_prefix("0X"))
                        .unwrap_or(p)
                })
                .collect();
            let hex = stripped.iter().all(|p| {
                !p.is_empty() && p.len() % 2 == 0 && p.bytes().all(|c| c.is_ascii_hexdigit())
            });
            let b64 = pieces[..pieces.len() - 1].iter().all(|p| p.len() % 4 == 0);
            let joined: String = if hex {
                stripped.concat()
            } else {
                pieces.concat()
            };
            if (hex || b64) && joined.len() >= 2 * MIN_TOKEN_LEN {
                out.push(joined);
            }
            // The groups among words (`Code: 4a61 6e65 …`, `SmFu ZS5E …
            // b20= thanks`): each longest run of hex pieces, and of base64
            // pieces (whole groups of four, the last one of a run may be
            // shorter or padded; a padded one ends it), also without its
            // first piece (a four-letter word before the groups).
            if !(hex || b64) || pieces.len() > 2 {
                for run in sub_runs(&stripped, |p| {
                    !p.is_empty() && p.len() % 2 == 0 && p.bytes().all(|c| c.is_ascii_hexdigit())
                }) {
                    if run.len() >= 2
                        && run.concat().len() >= 2 * MIN_TOKEN_LEN
                        && out.len() <= MAX_TOKENS
                    {
                        out.push(run.concat());
                    }
                }
                let mut start = 0;
                while start < pieces.len() {
                    let mut end = start;
                    while end < pieces.len()
                        && pieces[end].len().is_multiple_of(4)
                        && !pieces[end].contains('=')
                    {
                        end += 1;
                    }
                    // A last, shorter or padded group.
                    if end < pieces.len() && end > start {
                        end += 1;
                    }
                    let run = &pieces[start..end.max(start + 1)];
                    for r in [run, run.get(1..).unwrap_or_default()] {
                        let joined = r.concat();
                        if r.len() >= 2
                            && joined.len() >= 2 * MIN_TOKEN_LEN
                            && out.len() <= MAX_TOKENS
                            && !out.contains(&joined)
                        {
                            out.push(joined);
                        }
                    }
                    start = end.max(start + 1);
                }
            }
        }
        pieces.clear();
    };
    for w in s.split(is_sep) {
        if w.is_empty() {
            // Two separators in a row (`, ` or a blank line) still join.
            continue;
        }
        if !w.bytes().all(is_token_char) {
            flush(&mut pieces, &mut out);
            continue;
        }
        pieces.push(w);
    }
    flush(&mut pieces, &mut out);
    out
}

/// The longest runs of consecutive `pieces` that `ok` accepts.
fn sub_runs<'p>(pieces: &'p [&'p str], ok: impl Fn(&str) -> bool) -> Vec<&'p [&'p str]> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, p) in pieces.iter().enumerate() {
        match (ok(p), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(&pieces[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(&pieces[s..]);
    }
    out
}

fn try_decode(tok: &str, out: &mut Decoded) {
    let t = tok.trim_end_matches('=');
    if t.len() < MIN_TOKEN_LEN {
        return;
    }
    // A digest's or a device id's bytes are read in hex from the alphabets
    // the guard does not look for them in itself (it reads hex, RFC 4648
    // base32 and base64).
    let mut push = |bytes: Vec<u8>, binary_as_hex: bool| push_decoded(&bytes, binary_as_hex, out);
    let tb = t.as_bytes();
    if tb.len().is_multiple_of(2) && tb.iter().all(u8::is_ascii_hexdigit) {
        if let Ok(v) = data_encoding::HEXLOWER_PERMISSIVE.decode(tb) {
            push(v, false);
        }
    }
    // Hex after a `0x` (`0x6a616e65…`).
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let hb = h.as_bytes();
        if hb.len() >= MIN_TOKEN_LEN
            && hb.len().is_multiple_of(2)
            && hb.iter().all(u8::is_ascii_hexdigit)
        {
            if let Ok(v) = data_encoding::HEXLOWER_PERMISSIVE.decode(hb) {
                push(v, false);
            }
        }
    }
    if tb.iter().all(|c| matches!(c, b'A'..=b'Z' | b'2'..=b'7'))
        || tb.iter().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7'))
    {
        let up = t.to_ascii_uppercase();
        if let Ok(v) = data_encoding::BASE32_NOPAD.decode(up.as_bytes()) {
            push(v, false);
        }
    }
    if tb.len() >= MIN_BASE32_VARIANT_LEN && tb.iter().all(u8::is_ascii_alphanumeric) {
        // The other base32 alphabets: "extended hex" (RFC 4648), Crockford's
        // and z-base-32, each in one case.
        let one_case = !both_cases(tb);
        for engine in base32_variants().iter().filter(|_| one_case) {
            if let Ok(v) = engine.decode(tb) {
                push(v, true);
            }
        }
    }
    let url = tb.iter().any(|c| matches!(c, b'-' | b'_'));
    let std = tb.iter().any(|c| matches!(c, b'+' | b'/'));
    if !(url && std) {
        let engine = if url {
            &data_encoding::BASE64URL_NOPAD
        } else {
            &data_encoding::BASE64_NOPAD
        };
        // Trailing bits that are not zero make a strict decoder refuse a
        // truncated token; try the longest prefix that is a whole group too.
        let mut decode = |tb: &[u8]| match engine.decode(tb) {
            Ok(v) => push(v, false),
            Err(_) => {
                let whole = tb.len() / 4 * 4;
                if whole >= MIN_TOKEN_LEN {
                    if let Ok(v) = engine.decode(&tb[..whole]) {
                        push(v, false);
                    }
                }
            }
        };
        if tb.len() % 4 != 1 {
            decode(tb);
        }
        // A version or type tag glued in front (`V1` + base64url of an
        // email): the token read from its second, third and fourth
        // character too, since a tag of 1-3 characters misaligns every
        // group after it. Only a token in both cases (base64 of text is;
        // a word or a slug is not) is read again.
        let mixed = both_cases(tb);
        for skip in (1..4).filter(|_| mixed) {
            let rest = &tb[skip..];
            if rest.len() >= MIN_TOKEN_LEN && rest.len() % 4 != 1 {
                decode(rest);
            }
        }
    }
}

/// Decoded bytes as a reading of their own: text, or the printable runs of
/// a binary envelope (MessagePack, protobuf, a text with a binary tail) as
/// `strings` shows them; with `binary_as_hex`, 16 or more bytes that are
/// neither (a digest, a UUID's or an IPv6 address's bytes) in lowercase
/// hex ([`Decoded::binary`]).
fn push_decoded(bytes: &[u8], binary_as_hex: bool, out: &mut Decoded) {
    let (text, list) = match printable(bytes).or_else(|| printable_runs(bytes)) {
        Some(t) => (t, &mut out.texts),
        None if binary_as_hex && bytes.len() >= 16 => (crate::util::hex(bytes), &mut out.binary),
        None => return,
    };
    if !list.contains(&text) {
        list.push(text);
    }
}

/// The shortest run [`base85_runs`] reads: the base-85 of 8 bytes.
const MIN_BASE85_LEN: usize = 10;

/// The runs of printable, non-blank ASCII that may be base-85
/// ([`base85_decodings`]): [`MIN_BASE85_LEN`] or more characters, at least
/// one of them a sign (a base-85 text of that length almost always holds
/// one; a word, a number or a slug of letters does not, and base64 is read
/// as such).
fn base85_runs(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_graphic())
        .filter(|r| r.len() >= MIN_BASE85_LEN)
        .filter(|r| {
            r.bytes()
                .any(|c| !c.is_ascii_alphanumeric() && !matches!(c, b'-' | b'_' | b'.'))
        })
}

/// RFC 1924's digits (Python's `b85encode`, Git's binary patches).
const RFC1924_DIGITS: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
/// ZeroMQ's Z85 digits.
const Z85_DIGITS: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// `run` read as base-85 in each alphabet it is written in: Ascii85
/// (Adobe's and btoa's: digits `!`..`u`, `z` for four zero bytes, inside
/// `<~ ~>` or bare, as Python's `a85encode` writes it), RFC 1924's and
/// Z85. One algorithm, three digit tables: every 5 digits are 4 bytes,
/// big-endian; a last group of 2-4 digits is padded with the highest digit
/// and gives one byte less than it has digits. The crates for these each
/// read one alphabet and give no partial last group, so this is written
/// here (a table and a loop).
fn base85_decodings(run: &str) -> Vec<Vec<u8>> {
    fn decode(
        digits: &[u8],
        value: impl Fn(u8) -> Option<u32>,
        zero: Option<u8>,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(digits.len() / 5 * 4 + 4);
        let mut group = [84u32; 5];
        let mut n = 0;
        for &c in digits {
            if n == 0 && Some(c) == zero {
                out.extend_from_slice(&[0; 4]);
                continue;
            }
            group[n] = value(c)?;
            n += 1;
            if n == 5 {
                let v = group
                    .iter()
                    .try_fold(0u32, |v, d| v.checked_mul(85)?.checked_add(*d))?;
                out.extend_from_slice(&v.to_be_bytes());
                n = 0;
            }
        }
        match n {
            0 => {}
            1 => return None,
            _ => {
                group[n..].fill(84);
                // The padding rounds the value up by less than one unit of
                // the bytes left out: the top n - 1 bytes are the group's.
                let v = group.iter().fold(0u64, |v, d| v * 85 + u64::from(*d));
                let v = u32::try_from(v).ok()?;
                out.extend_from_slice(&v.to_be_bytes()[..n - 1]);
            }
        }
        Some(out)
    }
    fn table(digits: &[u8; 85]) -> [u8; 128] {
        let mut t = [u8::MAX; 128];
        for (i, d) in digits.iter().enumerate() {
            t[usize::from(*d)] = i as u8;
        }
        t
    }
    static TABLES: std::sync::OnceLock<[[u8; 128]; 2]> = std::sync::OnceLock::new();
    let tables = TABLES.get_or_init(|| [table(RFC1924_DIGITS), table(Z85_DIGITS)]);
    let b = run.as_bytes();
    let mut found = Vec::new();
    let adobe = b
        .strip_prefix(b"<~")
        .map(|r| r.strip_suffix(b"~>").unwrap_or(r));
    let ascii85 = adobe.unwrap_or(b);
    if let Some(v) = decode(
        ascii85,
        |c| (b'!'..=b'u').contains(&c).then(|| u32::from(c - b'!')),
        Some(b'z'),
    ) {
        found.push(v);
    }
    for t in tables {
        let value = |c: u8| {
            t.get(usize::from(c))
                .filter(|v| **v != u8::MAX)
                .map(|v| u32::from(*v))
        };
        if let Some(v) = decode(b, value, None) {
            found.push(v);
        }
    }
    found
}

/// The shortest token read in the base32 alphabets other than RFC 4648's
/// first ([`base32_variants`]): the base32 of a 10-byte text. Their
/// alphabets hold most words, which are not looked at as base32 below it.
const MIN_BASE32_VARIANT_LEN: usize = 16;

/// Base32 in RFC 4648's "extended hex" alphabet, in Crockford's (`I` and `L`
/// read as 1, `O` as 0) and in z-base-32, without padding, any case.
fn base32_variants() -> &'static [data_encoding::Encoding; 3] {
    static VARIANTS: std::sync::OnceLock<[data_encoding::Encoding; 3]> = std::sync::OnceLock::new();
    VARIANTS.get_or_init(|| {
        let spec = |symbols: &str, translate: (&str, &str)| {
            let mut s = data_encoding::Specification::new();
            s.symbols.push_str(symbols);
            s.translate.from.push_str(translate.0);
            s.translate.to.push_str(translate.1);
            s.check_trailing_bits = false;
            s.encoding().expect("a valid base32 alphabet")
        };
        [
            spec(
                "0123456789ABCDEFGHIJKLMNOPQRSTUV",
                ("abcdefghijklmnopqrstuv", "ABCDEFGHIJKLMNOPQRSTUV"),
            ),
            spec(
                "0123456789ABCDEFGHJKMNPQRSTVWXYZ",
                (
                    "abcdefghjkmnpqrstvwxyziIlLoO",
                    "ABCDEFGHJKMNPQRSTVWXYZ111100",
                ),
            ),
            spec(
                "ybndrfg8ejkmcpqxot1uwisza345h769",
                ("YBNDRFGEJKMCPQXOTUWISZAH", "ybndrfgejkmcpqxotuwiszah"),
            ),
        ]
    })
}

/// Decoded bytes as text if they are UTF-8, or UTF-16 (little- or
/// big-endian, as Windows and JavaScript encode text before base64), and at
/// least 90% printable.
fn printable(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 4 {
        return None;
    }
    let text: Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(t) if !t.contains('\0') => Cow::Borrowed(t),
        _ => Cow::Owned(utf32(bytes).or_else(|| utf16(bytes))?),
    };
    let total = text.chars().count();
    let good = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .count();
    (good * 10 >= total * 9).then(|| text.into_owned())
}

/// The runs of 6 or more printable ASCII bytes of `b`, joined by spaces;
/// `None` when there is none.
fn printable_runs(b: &[u8]) -> Option<String> {
    let runs: Vec<&[u8]> = b
        .split(|c| !(0x20..0x7f).contains(c))
        .filter(|r| r.len() >= 6)
        .collect();
    if runs.is_empty() {
        return None;
    }
    Some(
        runs.iter()
            .map(|r| std::str::from_utf8(r).expect("ASCII"))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Bytes hidden in Unicode variation selectors after a visible character
/// (`emoji smuggling`: U+FE00-FE0F carry 0-15, U+E0100-E01EF 16-255), as
/// text, when 4 or more in a row spell printable text.
pub fn variation_bytes(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let mut best: Option<String> = None;
    let mut cur: Vec<u8> = Vec::new();
    let take = |cur: &mut Vec<u8>, best: &mut Option<String>| {
        if cur.len() >= 4 {
            let bytes = std::mem::take(cur);
            if let Some(t) = printable(&bytes).or_else(|| printable_runs(&bytes)) {
                match best {
                    Some(b) => {
                        b.push(' ');
                        b.push_str(&t);
                    }
                    None => *best = Some(t),
                }
            }
        }
        cur.clear();
    };
    for c in s.chars() {
        let u = c as u32;
        match u {
            0xFE00..=0xFE0F => cur.push((u - 0xFE00) as u8),
            0xE0100..=0xE01EF => cur.push((u - 0xE0100 + 16) as u8),
            _ => take(&mut cur, &mut best),
        }
    }
    take(&mut cur, &mut best);
    best
}

/// `b` read as UTF-16 when every other byte is zero (ASCII text in UTF-16),
/// little-endian (zeros at odd offsets) or big-endian.
/// UTF-32 (little- or big-endian) of text: every four bytes one code
/// point, nine in ten of them below U+0100 (three zero bytes).
fn utf32(b: &[u8]) -> Option<String> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let units = b.len() / 4;
    let narrow = |high: [usize; 3]| {
        b.chunks_exact(4)
            .filter(|u| high.iter().all(|&i| u[i] == 0))
            .count()
            * 10
            >= units * 9
    };
    let read: fn([u8; 4]) -> u32 = if narrow([1, 2, 3]) {
        u32::from_le_bytes
    } else if narrow([0, 1, 2]) {
        u32::from_be_bytes
    } else {
        return None;
    };
    Some(
        b.chunks_exact(4)
            .map(|u| char::from_u32(read([u[0], u[1], u[2], u[3]])).unwrap_or('\u{FFFD}'))
            .collect(),
    )
}

fn utf16(b: &[u8]) -> Option<String> {
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let zeros = |first: usize| b.iter().skip(first).step_by(2).filter(|c| **c == 0).count();
    let half = b.len() / 2;
    let units: Vec<u16> = if zeros(1) * 10 >= half * 9 {
        b.chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect()
    } else if zeros(0) * 10 >= half * 9 {
        b.chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect()
    } else {
        return None;
    };
    Some(
        char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{FFFD}'))
            .collect(),
    )
}

/// A member name's ASCII letters and digits, lowercase, on the stack: how
/// the name tables of the policy are written (`Merchant_Category-Code` is
/// `merchantcategorycode`, `genreId` is `genreid`). Everything else is
/// skipped; a caller that reads names outside ASCII folds their
/// [`word_form`]. See [`fold_alnum`].
pub struct FoldedName<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> std::ops::Deref for FoldedName<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `key` folded as a [`FoldedName`], or `None` when it has more than `N`
/// letters and digits (longer than any name a table holds). No allocation.
pub fn fold_alnum<const N: usize>(key: &str) -> Option<FoldedName<N>> {
    let mut out = FoldedName {
        buf: [0; N],
        len: 0,
    };
    for b in key.bytes().filter(u8::is_ascii_alphanumeric) {
        *out.buf.get_mut(out.len)? = b.to_ascii_lowercase();
        out.len += 1;
    }
    Some(out)
}

/// A value as its words are compared (`context.category` against
/// `privacy.sensitive_categories`, and the names of the members the rules
/// read): [`canonical`], then, when anything outside ASCII is left,
/// canonical decomposition (NFD) with every combining mark (general
/// category M: `health\u{332}`, `he\u{301}alth`) and invisible character
/// removed, lookalike letters mapped to the Latin letter they imitate
/// ([`lookalike`]) and lowercase. ASCII text is returned as it is (borrowed
/// when nothing needed decoding; compare it without ASCII case).
pub fn word_form(s: &str) -> Cow<'_, str> {
    let c = canonical(s);
    if c.is_ascii() {
        return c;
    }
    let mut out = String::with_capacity(c.len());
    for ch in c.nfd() {
        if let Some(a) = lookalike(ch) {
            out.push(a);
            continue;
        }
        for l in ch.to_lowercase() {
            if unicode_normalization::char::is_combining_mark(l)
                || is_invisible(l)
                || l.is_control()
            {
                continue;
            }
            out.push(lookalike(l).unwrap_or(l));
        }
    }
    Cow::Owned(out)
}

/// The lowercase ASCII letter that `c` (a letter of another script or a
/// Latin letter that canonical decomposition leaves whole) is drawn like:
/// Cyrillic `е`, Greek `α`, small capitals `ʜ`, `ᴇ`, stroked and dotless
/// Latin letters `ł`, `ı`. Capitals are looked up before lowercasing
/// (Greek `Η` looks like `H`, its lowercase `η` like `n`).
///
/// First a table of the common lookalikes of the 26 Latin letters, then,
/// for a letter it does not list, the UTS #39 confusable prototype
/// ([`confusable_ascii`]) when that is one ASCII letter or digit (Lisu,
/// Cherokee). Not the UTS #39 skeleton of whole strings: that also
/// rewrites ASCII (`m` to `rn`, `1` to `l`, `0` to `O`), which would move
/// whole-word boundaries and lose the allocation-free path for ASCII; and
/// the table wins where the two differ, since the standard leaves the
/// small capitals alone (they are their own prototypes) and maps some
/// Greek letters to non-Latin prototypes (`ε` to `ꞓ`, `τ` to `ᴛ`). What an
/// attacker needs here is a word that *reads* as a Latin word; fullwidth,
/// mathematical and other compatibility forms are already folded by NFKC.
pub fn lookalike(c: char) -> Option<char> {
    if c.is_ascii() {
        return None;
    }
    Some(match c {
        // Cyrillic
        'а' | 'А' => 'a',
        'в' | 'В' | 'ь' | 'Ь' => 'b',
        'с' | 'С' | 'ҫ' => 'c',
        'ԁ' | 'Ԁ' => 'd',
        'е' | 'Е' | 'ҽ' => 'e',
        'һ' | 'Һ' | 'н' | 'Н' => 'h',
        'і' | 'І' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' => 'k',
        'ӏ' | 'Ӏ' => 'l',
        'м' | 'М' => 'm',
        'о' | 'О' => 'o',
        'р' | 'Р' => 'p',
        'ԛ' | 'Ԛ' => 'q',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' => 't',
        'у' | 'У' | 'ү' | 'Ү' => 'y',
        'х' | 'Х' => 'x',
        'ԝ' | 'Ԝ' | 'ѡ' => 'w',
        // Greek
        'α' | 'Α' => 'a',
        'β' | 'Β' | 'ϐ' => 'b',
        'ϲ' | 'Ϲ' | 'ς' => 'c',
        'ε' | 'Ε' => 'e',
        'Η' => 'h',
        'η' => 'n',
        'ι' | 'Ι' => 'i',
        'ϳ' | 'Ϳ' => 'j',
        'κ' | 'Κ' | 'ϰ' => 'k',
        'Μ' => 'm',
        'Ν' => 'n',
        'ν' => 'v',
        'ο' | 'Ο' => 'o',
        'ρ' | 'Ρ' | 'ϱ' => 'p',
        'τ' | 'Τ' => 't',
        'υ' | 'μ' => 'u',
        'Υ' | 'γ' => 'y',
        'χ' | 'Χ' => 'x',
        'ω' => 'w',
        'Ζ' => 'z',
        // Small capitals
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ꞯ' => 'q',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        // Latin and IPA letters without a decomposition
        'ɑ' | 'ɐ' => 'a',
        'ƀ' => 'b',
        'đ' | 'ɗ' => 'd',
        'ɛ' => 'e',
        'ɡ' | 'ɠ' => 'g',
        'ħ' | 'ɦ' | 'ꞕ' => 'h',
        'ı' | 'ɨ' | 'ɩ' => 'i',
        'ȷ' => 'j',
        'ł' | 'ƚ' | 'ɫ' | 'Ⱡ' | 'ⱡ' | 'ǀ' => 'l',
        'ø' | 'ɵ' | 'ꝋ' => 'o',
        'ŧ' | 'ƫ' | 'ƭ' | 'ʈ' => 't',
        'ⱥ' | 'Ⱥ' => 'a',
        'ɇ' | 'Ɇ' => 'e',
        'ɱ' => 'm',
        'Ӿ' | 'ӿ' => 'x',
        'Ⱨ' | 'ⱨ' => 'h',
        'Λ' => 'a',
        // Coptic
        'ⲁ' | 'Ⲁ' => 'a',
        'ⲃ' | 'Ⲃ' => 'b',
        'ⲉ' | 'Ⲉ' => 'e',
        'ⲏ' | 'Ⲏ' => 'h',
        'ⲓ' | 'Ⲓ' => 'i',
        'ⲕ' | 'Ⲕ' => 'k',
        'ⲗ' | 'Ⲗ' => 'l',
        'ⲙ' | 'Ⲙ' => 'm',
        'ⲛ' | 'Ⲛ' => 'n',
        'ⲟ' | 'Ⲟ' => 'o',
        'ⲣ' | 'Ⲣ' => 'p',
        'ⲥ' | 'Ⲥ' => 'c',
        'ⲧ' | 'Ⲧ' => 't',
        'ⲩ' | 'Ⲩ' => 'y',
        'ⲭ' | 'Ⲭ' => 'x',
        'ⲱ' | 'Ⲱ' => 'w',
        'ⲇ' | 'Ⲇ' => 'd',
        'ⲍ' | 'Ⲍ' => 'z',
        'ʋ' => 'u',
        // Armenian
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'զ' => 'q',
        // Canadian syllabics of the "fancy text" alphabets that UTS #39
        // does not list
        'ᗩ' => 'a',
        'ᗷ' => 'b',
        'ᑕ' => 'c',
        'ᗪ' => 'd',
        'ᗴ' => 'e',
        'ᖴ' => 'f',
        'ᕼ' => 'h',
        'ᒍ' => 'j',
        'ᗰ' => 'm',
        'ᑎ' => 'n',
        'ᑭ' => 'p',
        'ᑫ' => 'q',
        'ᖇ' => 'r',
        'ᔕ' => 's',
        'ᑌ' => 'u',
        'ᐯ' => 'v',
        'ᗯ' => 'w',
        '᙭' => 'x',
        // Cherokee capitals drawn like Latin ones that UTS #39 leaves out
        'Ꮇ' => 'm',
        'Ꮖ' => 'i',
        'Ꮐ' => 'g',
        // The nineteenth red-team pass: the letters "fancy text"
        // generators draw Latin ones with (`ħєαℓтħ`, `ɧɛąɭɬɧ`, `ђєคlтђ`,
        // `卄乇卂ㄥㄒ卄`, `ρħαямαcψ`, `ᏂᏋᏗᏝᏖᏂ`), each only where the
        // generator's alphabet uses it for that letter.
        'є' | 'Є' | '乇' | 'Ꮛ' => 'e',
        'я' | 'Я' | 'г' => 'r',
        'ђ' | 'Ђ' | 'ћ' | 'ɧ' | '卄' | 'Ꮒ' => 'h',
        'ค' | '卂' | 'Ꮧ' => 'a',
        'ɭ' | 'ㄥ' | 'Ꮭ' | 'ℓ' => 'l',
        'ȶ' | 'ɬ' | 'ㄒ' | 'Ꮦ' => 't',
        'ψ' | 'ץ' => 'y',
        'ק' => 'p',
        'เ' => 'i',
        '¢' => 'c',
        // Cherokee small letters (U+AB70-ABBF) read as their capitals
        // (U+13A0-13EF), whose UTS #39 prototypes are Latin.
        '\u{ab70}'..='\u{abbf}' => {
            let capital = char::from_u32(c as u32 - 0xab70 + 0x13a0).expect("Cherokee capital");
            return lookalike(capital);
        }
        _ => {
            // UTS #39 gives `l` as the prototype of capital `I` too; a
            // letter that is not lowercase and is drawn like `l` (Lisu
            // `ꓲ`, Cherokee `Ꮖ`) reads as `I`.
            return confusable_ascii(c)
                .filter(char::is_ascii_alphanumeric)
                .map(|a| match a {
                    'l' if !c.is_lowercase() => 'i',
                    _ => a.to_ascii_lowercase(),
                });
        }
    })
}

/// The letter a symbol draws where NFKC does not give it: regional
/// indicators (`🇭`, which pair into flags), the negative circled and
/// negative squared capitals (`🅗`, `🅷`), and the parenthesized small
/// letters (`⒣`, which NFKC spells `(h)`), and the Greek lunate sigmas
/// `Ϲ` `ϲ` drawn like `c` (NFKC makes them `Σ` `σ`). The circled and
/// squared ones are NFKC's already.
fn symbol_letter(u: u32) -> Option<char> {
    // Greek lunate sigmas, drawn like `C`/`c`, which NFKC would make `Σ`/`σ`.
    if u == 0x03F9 || u == 0x03F2 {
        return Some('c');
    }
    let base = match u {
        0x249C..=0x24B5 => 0x249C,
        0x1F1E6..=0x1F1FF => 0x1F1E6,
        0x1F150..=0x1F169 => 0x1F150,
        0x1F170..=0x1F189 => 0x1F170,
        _ => return None,
    };
    Some(char::from(b'a' + (u - base) as u8))
}

/// The ASCII character that UTS #39 (`confusables.txt`, through the
/// `unicode-security` crate) gives as the prototype of the non-ASCII `c`,
/// when the prototype is one ASCII character: Lisu `ꓧ` and Cherokee `Ꮋ`
/// as `H`, the Lisu and Syriac full stops as `.`. Asked per
/// character, so ASCII is never rewritten (`rn` stays `rn`), and only
/// after the table above, whose choices win where the two differ.
pub fn confusable_ascii(c: char) -> Option<char> {
    if c.is_ascii() {
        return None;
    }
    let mut buf = [0u8; 4];
    let mut proto = unicode_security::confusable_detection::skeleton(c.encode_utf8(&mut buf));
    match (proto.next(), proto.next()) {
        (Some(a), None) if a.is_ascii() => Some(a),
        _ => None,
    }
}

/// Lowercase, alphanumerics only: the form in which the event's own values
/// are compared (separators, case and spacing do not hide a value).
pub fn skeleton(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    skeleton_into(s, &mut out);
    out
}

/// Appends [`skeleton`] of `s` to `out` (several skeletons in one buffer,
/// without a string each).
pub fn skeleton_into(s: &str, out: &mut String) {
    if !needs_round(s) {
        // Bytes, not chars: pushing a char at a time was 5 % of the policy.
        let mut bytes = std::mem::take(out).into_bytes();
        bytes.extend(
            s.bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase()),
        );
        *out = String::from_utf8(bytes).expect("ASCII appended to text");
        return;
    }
    push_skeleton_str(&canonical(s), out);
}

/// Appends the skeleton of a canonical text to `out`, one character at a
/// time ([`push_skeleton_char`]), but a letter drawn like a sign between
/// two ASCII characters ([`sign_like_letter`]: `janeǀdoe`, `206ː555`) is
/// the sign it is drawn as: nothing.
pub fn push_skeleton_str(t: &str, out: &mut String) {
    // Two signs in a row (`::` of an IPv6 address) are read alike.
    let mut prev_ascii = false;
    let mut chars = t.chars().peekable();
    while let Some(ch) = chars.next() {
        let sign = sign_like_letter(ch);
        let next = chars.peek().copied();
        let next_ascii = next.is_some_and(|n| n.is_ascii() || sign_like_letter(n));
        if !(sign && prev_ascii && next_ascii) {
            push_skeleton_char(ch, out);
        }
        prev_ascii = ch.is_ascii() || (sign && prev_ascii);
    }
}

/// Letters and marks of other scripts drawn like a bar, a dash, a dot, a
/// colon or an apostrophe (Unicode's confusables for `|`, `-`, `:` and
/// `'`): the Latin clicks `ǀ ǁ ǃ`, modifier letters `ˈ ˌ ː ˑ ʹ ʼ`, Hangul
/// `ㅡ ᅳ`, CJK `一`, the katakana `ー`, Canadian syllabics finals, Tifinagh
/// `ⵏ`, Arabic alef `ا`, N'Ko `ߊ` `ߺ`, Runic `ᛁ`, Lisu `ꓲ` `ꓸ`–`ꓽ`, CJK
/// `丨`. Read as signs only
/// between ASCII characters ([`push_skeleton_str`]), so words of those
/// scripts keep them.
pub fn sign_like_letter(c: char) -> bool {
    matches!(
        c,
        '\u{01C0}'..='\u{01C3}'
            | '\u{02B9}'..='\u{02BF}'
            | '\u{02C8}'..='\u{02CF}'
            | '\u{02D0}' | '\u{02D1}'
            | '\u{0627}' | '\u{0661}' | '\u{06F1}'
            | '\u{07C0}' | '\u{07CA}'
            | '\u{1173}'
            | '\u{141F}'..='\u{1429}'
            | '\u{16C1}'
            | '\u{2D4F}'
            | '\u{30FC}'
            | '\u{3161}'
            | '\u{4E00}'
            | '\u{4E28}'
            | '\u{3021}'
            | '\u{07FA}'
            | '\u{A4F2}'
            | '\u{A4F8}'..='\u{A4FD}'
    )
}

/// Appends the skeleton of one character of canonical text to `out`: an
/// ASCII letter or digit lowercased; another letter or digit drawn like a
/// Latin letter ([`lookalike`]: Cyrillic `о`, Greek `α`) as that letter,
/// else lowercased; anything else nothing. A copy with lookalike letters
/// then has the skeleton of the original.
pub fn push_skeleton_char(ch: char, out: &mut String) {
    if ch.is_ascii_alphanumeric() {
        out.push(ch.to_ascii_lowercase());
    } else if !ch.is_alphanumeric() {
        // A symbol drawn like a letter (`᙭`) is that letter.
        if let Some(a) = lookalike(ch) {
            out.push(a);
        }
    } else {
        // Case folding where it differs from lowercasing: `ß` and `ẞ` fold
        // to `ss`, so `STRASSE` is `straße`.
        if matches!(ch, 'ß' | 'ẞ') {
            out.push_str("ss");
            return;
        }
        if let Some(a) = lookalike(ch) {
            out.push(a);
            return;
        }
        for l in ch.to_lowercase() {
            out.push(lookalike(l).unwrap_or(l));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_hex_is_read_as_an_integer_in_both_byte_orders() {
        assert_eq!(
            bare_hex_integers("ref 34b40681"),
            vec!["ref 884213377".to_string(), "ref 2164700212".to_string()]
        );
        assert_eq!(
            bare_hex_integers("ord-34B40681"),
            vec!["ord-884213377".to_string(), "ord-2164700212".to_string()]
        );
        // All digits, all letters, mixed case, too short or glued: not read.
        for t in ["12345678", "deadbeef", "34b4068A", "ab12", "x34b40681"] {
            assert!(bare_hex_integers(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn base64_turned_by_rot13_or_written_backwards_is_decoded() {
        let texts = |s: &str| decoded_tokens(s).unwrap().texts;
        // ROT13 over base64 of `jane.doe@example.com`.
        assert!(texts("nzShMF5xo2INMKuuoKOfMF5wo20=")
            .iter()
            .any(|t| t == "jane.doe@example.com"));
        // Written backwards, without padding.
        assert!(texts("02bj5SZsBXbhhXZAV2bk5SZuFma")
            .iter()
            .any(|t| t == "jane.doe@example.com"));
        // An ordinary mixed-case id decodes to nothing readable.
        assert!(texts("spring_launch_V2_Banner")
            .iter()
            .all(|t| !t.contains('@')));
    }

    #[test]
    fn fancy_text_alphabets_read_as_latin() {
        for (fancy, plain) in [
            ("ħєαℓтħ", "health"),
            ("ɧɛąɭɬɧ", "health"),
            ("ђєคlтђ", "health"),
            ("卄乇卂ㄥㄒ卄", "health"),
            ("ρħαямαcψ", "pharmacy"),
            ("ᏂᏋᏗᏝᏖᏂ", "health"),
            ("ꮲꮋꭺꮢꮇꭺꮯꮍ", "pharmacy"),
        ] {
            assert_eq!(word_form(fancy), plain, "{fancy}");
        }
    }

    proptest::proptest! {
        /// Splitting on bytes finds the tokens splitting on characters does.
        #[test]
        fn encoded_text_is_looked_for_in_the_same_tokens(s in "[a-zA-Z0-9+/é٣ß=-]{0,40}|\\PC{0,30}") {
            let by_chars = s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+')).any(|t| {
                let b = t.as_bytes();
                (b.len() >= MIN_TOKEN_LEN && both_cases(b))
                    || (b.len() >= 12 && b.iter().all(u8::is_ascii_hexdigit))
            });
            proptest::prop_assert_eq!(may_hold_encoded_text(&s), by_chars);
        }

        /// The byte table says what the per-byte predicates say.
        #[test]
        fn byte_classes_are_the_predicates(s in "\\PC{0,24}|[ -~]{0,24}") {
            let (alnum, classes) = classify(&s);
            proptest::prop_assert_eq!(alnum, s.bytes().filter(u8::is_ascii_alphanumeric).count());
            proptest::prop_assert_eq!(
                classes & NOT_PLAIN != 0,
                s.bytes().any(|c| !(0x20..0x7f).contains(&c) || matches!(c, b'%' | b'&' | b'\\' | b'(' | b'[' | b'{' | b'<'))
            );
            proptest::prop_assert_eq!(
                classes & UPPER_OR_NON_ASCII != 0,
                !s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase())
            );
            proptest::prop_assert_eq!(classes & SPACE != 0, s.contains(' '));
        }
    }

    #[test]
    fn decodes_to_a_fixed_point() {
        assert_eq!(canonical("jane%2540x.com"), "jane@x.com");
        assert_eq!(canonical("jane&#064;x.com"), "jane@x.com");
        assert_eq!(canonical("jane&amp;#64;x.com"), "jane@x.com");
        assert_eq!(canonical("jane&commat;x&period;com"), "jane@x.com");
        assert_eq!(canonical("ｊａｎｅ＠ｘ．ｃｏｍ"), "jane@x.com");
        assert_eq!(canonical("jane﹫x.com"), "jane@x.com");
        assert_eq!(canonical("jane\\u0040x.com"), "jane@x.com");
        assert_eq!(canonical("jane\\\\u0040x.com"), "jane@x.com");
        assert_eq!(canonical("jane\u{200b}@x\u{00ad}.com"), "jane@x.com");
        assert_eq!(canonical("jane\u{7}@x.com"), "jane@x.com");
        assert_eq!(canonical("jane (at) x [dot] com"), "jane @ x . com");
        assert_eq!(canonical("٤١١١"), "4111");
        assert_eq!(canonical("4000\u{2013}0566"), "4000-0566");
        assert_eq!(canonical("４１１１"), "4111");
        assert_eq!(canonical("home-top"), "home-top");
        assert_eq!(canonical("%E2%82%AC 5"), "€ 5");
        assert_eq!(canonical("100%"), "100%");
    }

    #[test]
    fn tokens_decode() {
        // "jane@x.com" in base64, base64url, base32 and hex.
        for t in [
            "amFuZUB4LmNvbQ==",
            "amFuZUB4LmNvbQ",
            "NJQW4ZKAPAXGG33N",
            "6a616e6540782e636f6d",
            "id/amFuZUB4LmNvbQ",
        ] {
            assert!(
                decoded_tokens(t)
                    .unwrap_or_default()
                    .texts
                    .iter()
                    .any(|d| d == "jane@x.com"),
                "{t}: {:?}",
                decoded_tokens(t)
            );
        }
        assert!(decoded_tokens("summer_sale_2026")
            .expect("one token")
            .texts
            .iter()
            .all(|d| !d.contains('@')));
    }

    /// Base-85 in its three alphabets (Python's `a85encode` with and
    /// without Adobe's `<~ ~>`, `b85encode`, Z85): text is read as text,
    /// 16 or more other bytes as hex beside it, never as a text (random
    /// bytes in hex look like phone numbers).
    #[test]
    fn base85_texts_and_bytes_decode() {
        let email = "jane.doe@example.com";
        for t in [
            "C12!k/nAm35\\51KD/a<&/n8g:",
            "<~C12!k/nAm35\\51KD/a<&/n8g:~>",
            "YGH0=E@W?IKxKGgZE$R5E@N+P",
            "ygh0>e[w)ikXkgGze:r5e[n*p",
            "note: YGH0=E@W?IKxKGgZE$R5E@N+P (b85)",
        ] {
            let d = decoded_tokens(t).unwrap_or_default();
            assert!(d.texts.iter().any(|x| x.contains(email)), "{t}: {d:?}");
        }
        // SHA-256 of the email, b85: its bytes in hex, not a text.
        let d = decoded_tokens("hTys7Y!}Q;5;%StNw`o``{z5u&RP+OaXOta48{{Z").unwrap_or_default();
        assert!(
            d.binary.contains(
                &"86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d".to_string()
            ),
            "{d:?}"
        );
        assert!(d.texts.is_empty(), "{d:?}");
        // Words, slugs, URLs and short signs: nothing read, nothing binary.
        for t in [
            "com.example.game",
            "summer-sale_2026.homepage",
            "https://shop.example.com/books/p/100001?utm_source=newsletter",
            "50%-off!",
            "C12!k/nAm35\\51KD/a<&/n8g:x",
        ] {
            let d = decoded_tokens(t).unwrap_or_default();
            assert!(d.texts.iter().all(|x| !x.contains('@')), "{t}: {d:?}");
        }
    }

    /// The twelfth red-team pass: base32 in its other alphabets, base64
    /// written backwards, UTF-32 under base64, code points.
    #[test]
    fn twelfth_pass_encodings_decode() {
        let email = "jane.doe@example.com";
        for t in [
            "D9GMSP9ECHNMAG35F1GMQS3CCKN66RRD",
            "d9gmsp9echnmag35f1gmqs3cckn66rrd",
            "D9GPWS9ECHQPAG35F1GPTW3CCMQ66VVD",
            "pjosh3jqctzskodfxbos4hdccwzgg55p",
            "=02bj5SZsBXbhhXZAV2bk5SZuFma",
            "agAAAGEAAABuAAAAZQAAAC4AAABkAAAAbwAAAGUAAABAAAAAZQAAAHgAAABhAAAAbQAAAHAAAABsAAAAZQAAAC4AAABjAAAAbwAAAG0AAAA=",
            "AAAAagAAAGEAAABuAAAAZQAAAC4AAABkAAAAbwAAAGUAAABAAAAAZQAAAHgAAABhAAAAbQAAAHAAAABsAAAAZQAAAC4AAABjAAAAbwAAAG0=",
            "U+006A U+0061 U+006E U+0065 U+002E U+0064 U+006F U+0065 U+0040 U+0065 U+0078 U+0061 U+006D U+0070 U+006C U+0065 U+002E U+0063 U+006F U+006D",
            "u+006a,u+0061,u+006e,u+0065,u+002e,u+0064,u+006f,u+0065,u+0040,u+0065,u+0078,u+0061,u+006d,u+0070,u+006c,u+0065,u+002e,u+0063,u+006f,u+006d",
        ] {
            let decoded = decoded_tokens(t).unwrap_or_default().texts;
            assert!(
                decoded.iter().any(|d| d.contains(email)),
                "{t}: {decoded:?}"
            );
        }
        // Words in those alphabets, a few code points, `=` in front of a
        // word: nothing is read.
        for t in [
            "electronicsaccessories",
            "HOMEGARDENOUTDOORLIVING",
            "summer-sale-2026-homepage",
            "U+0041 U+0042",
            "=homepage",
        ] {
            let decoded = decoded_tokens(t).unwrap_or_default().texts;
            assert!(
                decoded.iter().all(|d| !d.chars().any(char::is_alphabetic)),
                "{t}: {decoded:?}"
            );
        }
    }

    #[test]
    fn skeletons() {
        assert_eq!(skeleton("6F9619FF-8B86-D011"), "6f9619ff8b86d011");
        assert_eq!(skeleton("A12\u{200b}3 4"), "a1234");
    }

    #[test]
    fn loose_entities_and_soft_breaks() {
        assert_eq!(
            canonical("leak.target&#x0000040mailbox.example"),
            "leak.target@mailbox.example"
        );
        assert_eq!(
            quoted_printable("a@ma=\r\nil.co").as_deref(),
            Some("a@mail.co")
        );
    }

    #[test]
    fn word_forms() {
        assert!(matches!(
            word_form("Books.Health"),
            Cow::Borrowed("Books.Health")
        ));
        assert_eq!(word_form("health%2E"), "health.");
        assert_eq!(word_form("H\u{435}alth\u{332}"), "health");
        assert_eq!(word_form("he\u{301}alth"), "health");
        assert_eq!(
            word_form("\u{29c}\u{1d07}\u{1d00}\u{29f}\u{1d1b}\u{29c}"),
            "health"
        );
        assert_eq!(word_form("\u{397}\u{3b5}\u{3b1}lth"), "health");
        assert_eq!(word_form("g\u{440}c"), "gpc");
        // Canonical forms drop combining marks and read blanks as spaces:
        // what is left is ASCII, compared without case by the caller.
        assert_eq!(word_form("Sant\u{e9}"), "Sante");
        assert_eq!(word_form("\u{2800}health"), " health");
        assert_eq!(lookalike('e'), None);
        assert_eq!(lookalike('\u{3b7}'), Some('n'));
        assert_eq!(lookalike('\u{397}'), Some('h'));
    }

    #[test]
    fn third_red_team_pass_letters_and_marks() {
        // Format characters (Cf) of any block are invisible.
        for c in ['\u{FFF9}', '\u{FFFA}', '\u{FFFB}', '\u{13430}', '\u{200B}'] {
            assert!(is_invisible(c), "{c:?}");
        }
        assert!(!is_invisible('a') && !is_invisible('\u{FFFC}'));
        // Letters of Lisu, Cherokee and the Canadian syllabics drawn like
        // Latin capitals; a capital drawn like `l` reads as `I`.
        assert_eq!(
            word_form("\u{A4E7}\u{A4F0}\u{A4EE}\u{A4E1}\u{A4D4}\u{A4E7}"),
            "health"
        );
        assert_eq!(
            word_form("\u{13BB}\u{13AC}\u{13AA}\u{13DE}\u{13A2}\u{13BB}"),
            "health"
        );
        assert_eq!(word_form("\u{157C}E\u{15E9}\u{14AA}T\u{157C}"), "health");
        assert_eq!(
            skeleton("\u{A4F2}\u{A4E0}\u{A4E2}\u{A4F3}\u{A4E1}\u{A4F0}\u{A4E2}"),
            "insoles"
        );
        assert_eq!(lookalike('\u{A4F2}'), Some('i'));
        assert_eq!(lookalike('\u{A4E1}'), Some('l'));
        assert_eq!(confusable_ascii('q'), None);
        // ß folds to ss, as an uppercased copy spells it.
        assert_eq!(skeleton("Hauptstraße 5"), skeleton("HAUPTSTRASSE 5"));
        // The guard's own tag marker, sent in the input, is a blank; other
        // scripts' full stops are dots; guillemets are brackets.
        assert_eq!(canonical("4111\u{FFFC}1111"), "4111 1111");
        assert_eq!(canonical("mailbox\u{A4FF}example"), "mailbox.example");
        assert_eq!(canonical("x\u{AB}at\u{BB}y.example"), "x@y.example");
        // The fourth pass: letters drawn as symbols, more dots and brackets.
        assert_eq!(canonical("\u{1F177}\u{1F174}\u{1F170}\u{1F17B}"), "heal");
        assert_eq!(canonical("\u{1F1ED}\u{1F1EA}"), "he");
        assert_eq!(canonical("\u{24A3}\u{24A0}"), "he");
        assert_eq!(canonical("mailbox\u{25CF}example"), "mailbox.example");
        assert_eq!(canonical("mailbox\u{318D}example"), "mailbox.example");
        assert_eq!(canonical("x\u{27E8}at\u{27E9}y.example"), "x@y.example");
        assert_eq!(
            skeleton("\u{15E9}\u{1455}\u{1455}T-55812-\u{166D}Q"),
            "acct55812xq"
        );
        assert_eq!(skeleton("\u{2C60}avender"), "lavender");
    }

    #[test]
    fn spelled_digits_read_as_digits() {
        assert_eq!(
            spelled_digits("call 四一五五五五〇〇八二 now").as_deref(),
            Some("call 4155550082 now")
        );
        assert_eq!(
            spelled_digits("肆壹伍伍伍伍零零捌贰").as_deref(),
            Some("4155550082")
        );
        assert_eq!(
            spelled_digits("four one five, five five five - zero zero eight two").as_deref(),
            Some("4155550082")
        );
        assert_eq!(spelled_digits("Four 1 5 FIVE").as_deref(), Some("4155"));
        assert_eq!(
            spelled_digits("four one five triple five oh one four two").as_deref(),
            Some("4155550142")
        );
        for none in [
            "one of two",
            "一个",
            "home-top",
            "12345678",
            "c-77",
            "someone nine",
            "un deux",
            "tres tristes tigres",
        ] {
            assert_eq!(spelled_digits(none), None, "{none}");
        }
        // Other languages' digit words, as the canonical form writes them,
        // are read only when asked for.
        assert_eq!(spelled_digits("dos cero seis cinco cinco"), None);
        for (text, digits) in [
            (
                "dos cero seis cinco cinco cinco cero uno cero cero",
                "2065550100",
            ),
            ("deux zero six cinq cinq cinq", "206555"),
            ("zwei null sechs funf funf", "20655"),
            ("due zero sei cinque", "2065"),
        ] {
            assert_eq!(
                spelled_digits_any_language(text).as_deref(),
                Some(digits),
                "{text}"
            );
        }
    }

    #[test]
    fn phonetic_spelling_reads_the_nato_alphabet() {
        assert_eq!(
            phonetic_spelling("juliett alfa november echo dot delta oscar echo at example dot com")
                .as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(
            phonetic_spelling("Alfa Charlie Charlie Tango five five eight one two xray quebec")
                .as_deref(),
            Some("acct55812xq")
        );
        // Fewer than four spelling words: an ordinary text.
        for none in ["hotel deals in lima and quebec", "golf club", "short"] {
            assert_eq!(phonetic_spelling(none), None, "{none}");
        }
    }

    #[test]
    fn hex_integers_read_as_decimal() {
        assert_eq!(
            hex_integers("ord 0x34b40681").as_deref(),
            Some("ord 884213377")
        );
        assert_eq!(
            hex_integers("0x2CF29AF14,0x1f").as_deref(),
            Some("12065550100,0x1f")
        );
        for none in ["0x1f", "x0x34b40681", "0x34b40681g", "no hex here", "0x"] {
            assert_eq!(hex_integers(none), None, "{none}");
        }
    }

    #[test]
    fn braille_reads_as_letters() {
        assert_eq!(
            braille("⠚⠁⠝⠑⠲⠙⠕⠑ ⠁⠞ ⠑⠭⠁⠍⠏⠇⠑⠲⠉⠕⠍").as_deref(),
            Some("jane.doe at example.com")
        );
        assert_eq!(braille("⠚⠁⠝⠑⠈⠁⠭⠲⠉⠕").as_deref(), Some("jane@x.co"));
        assert_eq!(braille("⠼⠃⠚⠋").as_deref(), Some("206"));
        assert_eq!(braille("plain text"), None);
        // Through the canonical form, as the guard reads a value.
        assert_eq!(canonical("⠚⠁⠝⠑⠈⠭⠲⠉⠕"), "jane@x.co");
    }

    #[test]
    fn digits_fold() {
        assert_eq!(unicode_digit('٣'), Some('3'));
        assert_eq!(unicode_digit('۹'), Some('9'));
        assert_eq!(unicode_digit('a'), None);
        assert_eq!(unicode_digit('é'), None);
    }
}
