//! The leak guard: the last look at every producer-supplied value of an
//! output event before it is written to an outbox (docs/policy.md, "The
//! leak guard").
//!
//! It decodes before it scans. Each string is first brought to a canonical
//! form ([`crate::canon`]: NFKC, invisible and control characters removed, Unicode
//! digits folded, percent-decoding to a fixed point, HTML entities, JSON
//! escapes, `(at)`/`[dot]`), and every base64 / base32 / hex token in it is
//! decoded and rescanned. On each of those views it looks for
//! ([`detect`]):
//! - email addresses;
//! - phone numbers: `+`/`00` and 8-15 digits, any 10-15-digit run, and digit
//!   groups joined across separators (`206_555_0100`, `206|555|0100`);
//! - payment-card numbers: Luhn on every 13-19-digit window, of each run and
//!   of runs joined across separators (a card followed by its CVV or expiry).
//!
//! JSON numbers are checked by their raw text and by their value
//! ([`detect::scan_number`]).
//!
//! [`Protected`] adds what only this event can tell: its own identifiers
//! (compared without case, separators or invisibles, and as unkeyed digests
//! of every normalization a partner could use, truncated or not) and every
//! value of 6+ characters from its protected paths (`user`, `purchase`,
//! `search`, `view`, the page URL, referrer, IP and user agent): an output
//! value containing one is a leak, whatever the field is called (taint).
//!
//! Strings the gateway builds from HMAC output (ad_id, event_id) and the time
//! it formats are not scanned: nothing of the input is in them.

use std::borrow::Cow;
use std::cell::Cell;
use std::rc::Rc;

use base64::Engine as _;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::identity::{self, Kind};
use crate::util::hex;

pub mod detect;

use crate::canon;

pub use detect::luhn;

/// What the guard found. Names a category, never the matched text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Email,
    Phone,
    Card,
    /// One of the event's own identifiers, raw, reshaped or hashed.
    OwnIdentifier,
    /// A US Social Security number, a network card's hardware address or
    /// a precise place (an Open Location Code).
    OtherPersonal,
    /// A value taken from a protected path of the same event.
    Protected,
    /// Text the guard could not read to the end: encoded more times over,
    /// or holding more encoded parts, than it decodes. Not forwarded,
    /// since what it hides was never scanned.
    Unreadable,
}

impl Hit {
    pub fn as_str(self) -> &'static str {
        match self {
            Hit::Email => "email address",
            Hit::Phone => "phone number",
            Hit::Card => "payment card number",
            Hit::OwnIdentifier => "the event's own identifier or an unkeyed hash of it",
            Hit::OtherPersonal => {
                "a Social Security number, a hardware (MAC) address or a precise location code"
            }
            Hit::Protected => {
                "a value copied from a protected field of the event (user, purchase, search, view, page URL, referrer, IP or user agent)"
            }
            Hit::Unreadable => {
                "text encoded more times over, or in more encoded parts, than the guard decodes"
            }
        }
    }
}

/// Views of one string, at most: a string whose decoding yields more is
/// [`Hit::Unreadable`] (real values yield one or two).
const MAX_VIEWS: usize = 64;

/// The readings of one string the guard scans: its canonical form and the
/// canonical form of every text hidden in its encoded tokens, decoded
/// again until nothing new appears (base64 of base64 of an email, however
/// deep: each decoding shortens the text, so this ends).
/// `s` with each letter drawn like a sign ([`canon::sign_like_letter`])
/// that stands between two ASCII letters or digits written as `.`; `None`
/// when there is none.
fn sign_like_as_dots(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut changed = false;
    let out: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let between = i > 0
                && chars[i - 1].is_ascii_alphanumeric()
                && chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric);
            if between && canon::sign_like_letter(c) {
                changed = true;
                '.'
            } else {
                c
            }
        })
        .collect();
    changed.then_some(out)
}

/// `t` with each RFC 3966 local number and its `phone-context` prefix
/// (`tel:7946-0958;phone-context=+44-20`) written as one number, the
/// prefix first (`+44-20 7946-0958`); `None` when it has none.
fn tel_with_context(t: &str) -> Option<String> {
    const CONTEXT: &str = ";phone-context=";
    // Cheap first: an `=` with the parameter's name before it.
    let b = t.as_bytes();
    let named = memchr::memchr_iter(b'=', b).any(|i| {
        i + 1 >= CONTEXT.len()
            && b[i + 1 - CONTEXT.len()..=i].eq_ignore_ascii_case(CONTEXT.as_bytes())
    });
    if !named {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let visual = |c: char| c.is_ascii_digit() || matches!(c, '-' | '.' | '(' | ')');
    let mut out = String::with_capacity(t.len() + 8);
    let mut from = 0;
    for (at, _) in lower.match_indices(CONTEXT) {
        // The local number: the visual digits just before the parameter
        // (other parameters, `;ext=`, may stand between).
        let before = &t[from..at];
        let head = before.rfind(|c: char| !visual(c)).map_or(0, |i| i + 1);
        let local = &before[head..];
        let after = &t[at + CONTEXT.len()..];
        let ctx_len = after
            .find(|c: char| !(visual(c) || c == '+'))
            .unwrap_or(after.len());
        let ctx = &after[..ctx_len];
        if local.bytes().any(|b| b.is_ascii_digit()) && ctx.bytes().any(|b| b.is_ascii_digit()) {
            out.push_str(&before[..head]);
            out.push_str(ctx);
            out.push(' ');
            out.push_str(local);
            from = at + CONTEXT.len() + ctx_len;
        }
    }
    if from == 0 {
        return None;
    }
    out.push_str(&t[from..]);
    Some(out)
}

/// `t` without the port after each host name (`:` and up to five digits
/// after a letter, before `/`, `?`, `#` or the end:
/// `https://shop.example:443/checkout` as `https://shop.example/checkout`);
/// `None` when it has none.
fn without_ports(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let mut out = String::new();
    let mut from = 0;
    for (i, _) in t.match_indices(':') {
        if i == 0 || !b[i - 1].is_ascii_alphabetic() {
            continue;
        }
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let end = i + 1 + digits;
        if (1..=5).contains(&digits) && matches!(b.get(end), None | Some(b'/' | b'?' | b'#')) {
            out.push_str(&t[from..i]);
            from = end;
        }
    }
    if from == 0 {
        return None;
    }
    out.push_str(&t[from..]);
    Some(out)
}

#[derive(Debug)]
pub struct Views<'a> {
    pub texts: Vec<Cow<'a, str>>,
    /// Bytes decoded from the texts that are not text, in hex
    /// ([`canon::Decoded::binary`]): read for the event's own identifiers
    /// and their digests only.
    pub binary: Vec<String>,
    /// Readings compared with the event's own values only, never scanned
    /// for shapes (an email, a phone): ordinary text reads as one too often
    /// (`Hotel Golf Delta Echo dot com` in the NATO alphabet, a colour
    /// `0xFF1E88E5` as a 10-digit number, `uno dos tres cuatro`).
    pub own: Vec<String>,
    /// Decoding stopped at a bound before its end (see [`Hit::Unreadable`]).
    pub unreadable: bool,
}

impl<'a> Views<'a> {
    pub fn of(s: &'a str) -> Views<'a> {
        let (first, settled) = canon::canonical_settled(s);
        let mut v = Views {
            texts: vec![first],
            binary: Vec::new(),
            own: Vec::new(),
            unreadable: !settled,
        };
        // Bytes smuggled in variation selectors, which canonical forms
        // drop, and escapes read the other ways (CSS hex, octal).
        for t in canon::variation_bytes(s)
            .into_iter()
            .chain(canon::reread_escapes(s))
        {
            v.add(&t);
        }
        let mut k = 0;
        while k < v.texts.len() && !v.unreadable {
            let Some(canon::Decoded {
                texts: mut decoded,
                binary,
            }) = canon::decoded_tokens(&v.texts[k])
            else {
                v.unreadable = true;
                break;
            };
            for b in binary {
                if !v.binary.contains(&b) && v.binary.len() < MAX_VIEWS {
                    v.binary.push(b);
                }
            }
            // Quoted-printable (`jane=40example.com`) and the text without
            // its HTML tags (`jane<b></b>@example.com`) or comments, beside
            // the text.
            decoded.extend(canon::quoted_printable(&v.texts[k]));
            // Digits spelled as numerals (`四一五五…`, `four one five …`).
            let english = canon::spelled_digits(&v.texts[k]);
            // For the event's own values only: digit words of other
            // languages (`dos cero seis …`), the NATO alphabet (`juliett
            // alfa november …`), integers in `0x` hex as their decimal
            // value.
            let mut own: Vec<String> = Vec::new();
            own.extend(
                canon::spelled_digits_any_language(&v.texts[k])
                    .filter(|t| Some(t) != english.as_ref()),
            );
            own.extend(canon::phonetic_spelling(&v.texts[k]));
            if v.texts[k].contains("0x") || v.texts[k].contains("0X") {
                own.extend(canon::hex_integers(&v.texts[k]));
            }
            own.extend(canon::bare_hex_integers(&v.texts[k]));
            for t in own {
                if !v.own.contains(&t) && v.own.len() < MAX_VIEWS {
                    v.own.push(t);
                }
            }
            decoded.extend(english);
            // A letter drawn like a sign between ASCII characters
            // (`415ː555ː0123`, `4111一1111一…`) as the `.` it passes for.
            if let Some(t) = sign_like_as_dots(&v.texts[k]) {
                decoded.push(t);
            }
            // An RFC 3966 `tel:` URI with the number's prefix in its
            // `phone-context` (`tel:555-0100;phone-context=+1-206`) as the
            // whole number (`+1-206 555-0100`).
            if let Some(t) = tel_with_context(&v.texts[k]) {
                decoded.push(t);
            }
            // A host with its port (`shop.example:443/checkout`) as the
            // address without it, as a page's address is protected.
            if let Some(t) = without_ports(&v.texts[k]) {
                decoded.push(t);
            }
            // A star for the `@` (`x★example.com`, as Japanese sites write
            // an address against scrapers).
            if v.texts[k].contains(['★', '☆']) {
                decoded.push(v.texts[k].replace(['★', '☆'], "@"));
            }
            decoded.extend(canon::strip_comments(&v.texts[k]));
            let untagged = canon::strip_tags(&v.texts[k]);
            for d in decoded {
                v.add(&d);
            }
            if let Some(t) = untagged {
                // Each piece between the removed tags read on its own: the
                // marks are the guard's, and a canonical form reads a mark
                // sent in the input as a blank.
                let mut settled = true;
                let pieces: Vec<String> = t
                    .split(canon::TAG_MARK)
                    .map(|piece| {
                        let (c, ok) = canon::canonical_settled(piece);
                        settled &= ok;
                        c.into_owned()
                    })
                    .collect();
                v.push_view(pieces.join(&canon::TAG_MARK.to_string()), settled);
            }
            k += 1;
        }
        v
    }

    /// Adds the canonical form of `text` as a view, unless it is one
    /// already; past [`MAX_VIEWS`], or when it does not settle, the string
    /// is unreadable.
    fn add(&mut self, text: &str) {
        let (c, settled) = canon::canonical_settled(text);
        self.push_view(c.into_owned(), settled);
    }

    /// Adds the canonical text `c` as a view (see [`Views::add`]).
    fn push_view(&mut self, c: String, settled: bool) {
        self.unreadable |= !settled;
        if self.texts.iter().any(|t| *t == c) {
            return;
        }
        if self.texts.len() >= MAX_VIEWS {
            self.unreadable = true;
            return;
        }
        self.texts.push(Cow::Owned(c));
    }
}

/// Scans one string for emails, phone numbers and card numbers, after
/// decoding.
pub fn scan(s: &str) -> Option<Hit> {
    scan_views(&Views::of(s))
}

pub fn scan_views(v: &Views<'_>) -> Option<Hit> {
    if v.texts.iter().any(|t| detect::has_email(t)) {
        return Some(Hit::Email);
    }
    if let Some(h) = v.texts.iter().find_map(|t| detect::scan_digits(t)) {
        return Some(h);
    }
    if v.texts.iter().any(|t| detect::has_other_personal(t)) {
        return Some(Hit::OtherPersonal);
    }
    v.unreadable.then_some(Hit::Unreadable)
}

/// What the guard reads in one output string, whatever the event: the
/// pattern verdict ([`scan_views`]) and, for each view, its skeleton
/// (lowercase letters and digits) and whether it could hold a digest. The
/// event's own values are then compared with it ([`Protected::check`]).
#[derive(Debug)]
pub struct Reading {
    pub pattern: Option<Hit>,
    views: Vec<ViewSkeleton>,
    /// The text as read (its first view) has two or more words of
    /// [`MIN_COMPARED_WORD`] letters or digits: a protected value's words may
    /// be in it in another order ([`Protected::reordered`]).
    long_words: bool,
    /// IPv4 addresses written in `inet_aton`'s notations (`0xc0.0.2.201`,
    /// `192.0.713`, `0300.0.2.0311`), as numbers.
    ipv4: Vec<u32>,
}

#[derive(Debug)]
struct ViewSkeleton {
    skeleton: String,
    digest: bool,
    /// The digits a phone number hidden among letters shows
    /// ([`numeral_readings`]), compared with the event's own phone numbers.
    numerals: Vec<Box<[u8]>>,
}

impl Reading {
    pub fn of(s: &str) -> Reading {
        let v = Views::of(s);
        let pattern = scan_views(&v);
        let mut views: Vec<ViewSkeleton> = v
            .texts
            .iter()
            .map(|t| {
                let sk = skeleton_of_canonical(t);
                let mut numerals = numeral_readings(sk.as_bytes());
                numerals.extend(exponent_numbers(t));
                ViewSkeleton {
                    digest: could_hold_digest(t, &sk),
                    numerals,
                    skeleton: sk.into_owned(),
                }
            })
            .collect();
        views.extend(v.own.iter().map(|t| {
            let c = canon::canonical(t);
            let sk = skeleton_of_canonical(&c);
            ViewSkeleton {
                digest: could_hold_digest(&c, &sk),
                numerals: numeral_readings(sk.as_bytes()),
                skeleton: sk.into_owned(),
            }
        }));
        // Every character written twice (`LLaavveennddeerr`, `33ff22bb…`):
        // read once.
        let doubled: Vec<ViewSkeleton> = views
            .iter()
            .filter_map(|v| undoubled(v.skeleton.as_bytes()))
            .map(|sk| ViewSkeleton {
                digest: could_hold_digest(&sk, &sk),
                numerals: numeral_readings(sk.as_bytes()),
                skeleton: sk,
            })
            .collect();
        views.extend(doubled);
        // Decoded bytes in hex: a digest, or an identifier's bytes. Their
        // digits are not read for a phone among letters.
        views.extend(v.binary.iter().map(|hex| ViewSkeleton {
            digest: true,
            numerals: Vec::new(),
            skeleton: hex.clone(),
        }));
        let mut ipv4 = Vec::new();
        for t in &v.texts {
            inet_aton_tokens(t, &mut ipv4);
        }
        Reading {
            pattern,
            views,
            long_words: v.texts.first().is_some_and(|t| {
                t.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() >= MIN_COMPARED_WORD)
                    .nth(1)
                    .is_some()
            }),
            ipv4,
        }
    }
}

/// A protected value's word shorter than this is not looked for in an
/// output (`44`, `the`, `for`): such words come and go by chance, and a
/// copy drops them (`pillow knee back` of `Pillow for the knee and the
/// back`). Two words this long, in the value and in the output, make them
/// worth comparing in any order ([`Protected::reordered`]).
const MIN_COMPARED_WORD: usize = 4;

/// The words (runs of letters and digits) of the canonical text `t`,
/// lowercase, separated by single spaces (`size 44 insoles`), when two or
/// more of them have [`MIN_COMPARED_WORD`] or more characters; `None`
/// otherwise.
fn spaced_words(t: &str) -> Option<Box<str>> {
    let words = || {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
    };
    words()
        .filter(|w| w.chars().count() >= MIN_COMPARED_WORD)
        .nth(1)?;
    let mut out = String::with_capacity(t.len());
    for w in words() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(w.chars().flat_map(char::to_lowercase));
    }
    Some(out.into_boxed_str())
}

/// [`spaced_words`] of the canonical form of `s`, from a per-thread cache
/// of the last strings asked for ([`cached`]).
fn words_cached(s: &str) -> Option<Box<str>> {
    thread_local! {
        static WORDS: StrCache<Option<Box<str>>> = StrCache::default();
    }
    cached(
        &WORDS,
        s,
        (SKELETON_CACHE_MAX_BYTES, SKELETON_CACHE_ENTRIES),
        |_| true,
        |s| spaced_words(&canon::canonical(s)),
        |_| true,
        Clone::clone,
    )
}

/// The skeleton `sk` with every character written twice read once
/// (`llaavveenndd` as `lavend`); `None` unless it has 12 or more
/// characters, all in equal pairs, and is not one character repeated.
fn undoubled(sk: &[u8]) -> Option<String> {
    if sk.len() < 2 * MIN_CONTAINED_LEN
        || !sk.len().is_multiple_of(2)
        || sk.chunks_exact(2).any(|p| p[0] != p[1])
        || sk.iter().all(|&c| c == sk[0])
    {
        return None;
    }
    Some(sk.iter().step_by(2).map(|&c| char::from(c)).collect())
}

/// Is every word of [`MIN_COMPARED_WORD`] or more characters of `words`,
/// two or more of them, in the skeleton `sk`, lowercased? A word longer
/// than 64 bytes is not looked for.
fn words_in<'w>(sk: &[u8], words: impl Iterator<Item = &'w [u8]>) -> bool {
    let mut compared = 0;
    let mut buf = [0u8; 64];
    for w in words.filter(|w| w.len() >= MIN_COMPARED_WORD) {
        let Some(b) = buf.get_mut(..w.len()) else {
            return false;
        };
        b.copy_from_slice(w);
        b.make_ascii_lowercase();
        // Outputs are short: a plain search costs less than building
        // memmem's searcher for each word. A word of five or more is also
        // found without its last letter (`flights` in `flight`, `memory` in
        // `memories`).
        let stem = if b.len() >= 5 { &b[..b.len() - 1] } else { &*b };
        if !memchr::memchr_iter(stem[0], sk).any(|at| sk[at..].starts_with(stem)) {
            return false;
        }
        compared += 1;
    }
    compared >= 2
}

/// Digits a view must hold, besides letters, to be read for a phone
/// number among letters ([`numeral_readings`]): one (`ZO6 SSS OlOO`).
const MIN_NUMERAL_DIGITS: usize = 1;

/// The key of each letter `a`-`z` on a phone's keypad (ITU E.161).
const KEYPAD: &[u8; 26] = b"22233344455566677778889999";

/// The digits a phone number hidden among letters shows, read three ways
/// from a skeleton (lowercase letters and digits) that mixes letters with
/// [`MIN_NUMERAL_DIGITS`] or more digits: letters drawn like digits as
/// those digits (`o` as 0, `i` and `l` as 1, `z` as 2, `s` as 5, `b` as 8,
/// `g` as 9) and every other letter dropped (`2O6-555-Ol00`,
/// `206x555x0100`, `ZO6 SSS OlOO`); every letter as its key on a phone's
/// keypad (`206-JKL-0100`); and the digits alone, words between them
/// dropped whatever their letters (`206-home-555-top-0100`, `206 oder 555
/// oder 0100`). Empty for any other skeleton. Compared with the event's
/// own phone numbers only (8 digits and more: a chance match is below one
/// in ten million per place).
fn numeral_readings(sk: &[u8]) -> Vec<Box<[u8]>> {
    let digits = sk.iter().filter(|c| c.is_ascii_digit()).count();
    if digits < MIN_NUMERAL_DIGITS || digits == sk.len() || sk.len() < MIN_PHONE_DIGITS {
        return Vec::new();
    }
    let drawn: Box<[u8]> = sk
        .iter()
        .filter_map(|&c| match c {
            b'0'..=b'9' => Some(c),
            b'o' => Some(b'0'),
            b'i' | b'l' => Some(b'1'),
            b'z' => Some(b'2'),
            b's' => Some(b'5'),
            b'b' => Some(b'8'),
            b'g' => Some(b'9'),
            _ => None,
        })
        .collect();
    let keyed = sk
        .iter()
        .filter_map(|&c| match c {
            b'0'..=b'9' => Some(c),
            b'a'..=b'z' => Some(KEYPAD[usize::from(c - b'a')]),
            _ => None,
        })
        .collect();
    let bare: Box<[u8]> = sk.iter().copied().filter(u8::is_ascii_digit).collect();
    let mut readings = vec![drawn, keyed];
    if bare.len() >= MIN_PHONE_DIGITS && bare != readings[0] {
        readings.push(bare);
    }
    readings
}

/// The digits of each whole number `t` writes with an exponent
/// (`2.0655501E+09` is 2065550100, `4155550.123e3` is 4155550123), as a
/// partner reading it as a number sees it ([`detect::integer_digits`]);
/// one string, numbers of [`MIN_PHONE_DIGITS`] or more digits separated by
/// a space. `None` when there is none.
fn exponent_numbers(t: &str) -> Option<Box<[u8]>> {
    if !t.bytes().any(|c| matches!(c, b'e' | b'E')) {
        return None;
    }
    let mut out = Vec::new();
    for tok in t
        .split(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
        .filter(|tok| tok.contains(['e', 'E']))
    {
        if let Some(digits) = detect::integer_digits(tok).filter(|d| d.len() >= MIN_PHONE_DIGITS) {
            out.push(b' ');
            out.extend_from_slice(digits.as_bytes());
        }
    }
    (!out.is_empty()).then(|| out.into_boxed_slice())
}

/// Words written for the signs of an email address when it is spelled
/// out (`jane.doe at example dot com`, `jane dot doe arobase example point
/// com`); `a` is `@` drawn in a circle or a square (`ⓐ`, `🅐`), which
/// NFKC reads as the letter, and `u0040` its code point.
const SPELLED_SIGNS: &[&[u8]] = &[
    b"at",
    b"a",
    b"arobase",
    b"u0040",
    b"dot",
    b"point",
    b"punto",
    b"punkt",
    b"underscore",
    b"plus",
    b"dash",
    b"hyphen",
];

/// The most words of an email address [`spelled_out`] follows.
const MAX_SPELLED_WORDS: usize = 16;

/// Does the skeleton `sk` hold the words of an email address (`words`,
/// lowercase letters and digits, one after another; `ends`, where each
/// ends) in order, with nothing or one of [`SPELLED_SIGNS`] between
/// neighbours?
fn spelled_out(sk: &[u8], words: &[u8], ends: &[usize]) -> bool {
    fn follows(s: &[u8], words: &[u8], ends: &[usize], i: usize) -> bool {
        let Some(&end) = ends.get(i) else {
            return true;
        };
        let word = &words[ends[i - 1]..end];
        std::iter::once(&b""[..])
            .chain(SPELLED_SIGNS.iter().copied())
            .any(|sign| {
                s.starts_with(sign)
                    && s[sign.len()..].starts_with(word)
                    && follows(&s[sign.len() + word.len()..], words, ends, i + 1)
            })
    }
    let Some(&first) = ends.first() else {
        return false;
    };
    memchr::memmem::find_iter(sk, &words[..first])
        .any(|at| follows(&sk[at + first..], words, ends, 1))
}

/// An email's words, for [`spelled_out`] and its ROT13.
struct EmailWords {
    /// Lowercase letters and digits of each word, one after another.
    words: Vec<u8>,
    /// Where each word ends in `words`.
    ends: Vec<usize>,
    /// `words` in ROT13 (`wnarqbrrknzcyrpbz`).
    rot13: Vec<u8>,
}

/// The words of each of `ids`' ASCII emails of [`MIN_CONTAINED_LEN`] or
/// more letters and digits.
fn email_words(ids: &[(Kind, Cow<'_, str>)]) -> Vec<EmailWords> {
    ids.iter()
        .filter(|(k, raw)| *k == Kind::Email && raw.is_ascii())
        .filter_map(|(_, raw)| {
            let mut words = Vec::with_capacity(raw.len());
            let mut ends = Vec::new();
            for w in raw.split(|c: char| !c.is_ascii_alphanumeric()) {
                if !w.is_empty() {
                    words.extend(w.bytes().map(|c| c.to_ascii_lowercase()));
                    ends.push(words.len());
                }
            }
            let rot13 = words.iter().map(|&c| canon::rot13(c)).collect();
            (words.len() >= MIN_CONTAINED_LEN && (2..=MAX_SPELLED_WORDS).contains(&ends.len()))
                .then_some(EmailWords { words, ends, rot13 })
        })
        .collect()
}

/// Every token of `t` that `inet_aton` reads as an IPv4 address with two
/// to four parts, each decimal, `0x` hex or `0` octal, the last filling
/// the bytes left (`192.0.713` is 192.0.2.201).
fn inet_aton_tokens(t: &str, out: &mut Vec<u32>) {
    if !t.contains('.') {
        return;
    }
    let is_part_char = |c: char| c.is_ascii_hexdigit() || matches!(c, '.' | 'x' | 'X');
    for tok in t.split(|c: char| !is_part_char(c)) {
        let tok = tok.trim_matches('.');
        if !tok.contains('.') || !tok.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let mut values = [0u64; 4];
        let mut n = 0;
        let mut ok = true;
        for p in tok.split('.') {
            let v = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
                u64::from_str_radix(h, 16).ok()
            } else if p.len() > 1 && p.starts_with('0') {
                u64::from_str_radix(p, 8).ok()
            } else {
                p.parse().ok()
            };
            match (v, values.get_mut(n)) {
                (Some(v), Some(slot)) if v <= u64::from(u32::MAX) => *slot = v,
                _ => {
                    ok = false;
                    break;
                }
            }
            n += 1;
        }
        if !ok || n < 2 {
            continue;
        }
        let (head, last) = (&values[..n - 1], values[n - 1]);
        let tail_bits = 8 * (5 - n as u32);
        if head.iter().any(|v| *v > 255) || last >= 1u64 << tail_bits {
            continue;
        }
        let ip = head.iter().fold(0u64, |ip, v| ip << 8 | v);
        out.push((ip << tail_bits | last) as u32);
    }
}

/// Strings longer than this are read afresh each time (campaign ids,
/// placements, currencies and app ids are much shorter).
pub const READING_CACHE_MAX_BYTES: usize = 128;
/// Readings kept per thread; the cache is emptied when it is full.
pub const READING_CACHE_ENTRIES: usize = 2048;

/// `f` of the [`Reading`] of `s`, from a per-thread cache of the strings
/// the thread read last: output values repeat across events (one
/// campaign's id, one app's id), and a reading depends on the string
/// alone, so a cached reading is the one reading afresh would give. Bounded
/// by [`READING_CACHE_ENTRIES`] strings of at most
/// [`READING_CACHE_MAX_BYTES`] bytes per thread.
pub fn with_reading<R>(s: &str, f: impl FnOnce(&Reading) -> R) -> R {
    thread_local! {
        static READINGS: StrCache<Reading> = StrCache::default();
    }
    cached(
        &READINGS,
        s,
        (READING_CACHE_MAX_BYTES, READING_CACHE_ENTRIES),
        |_| true,
        Reading::of,
        |_| true,
        f,
    )
}

/// Member names longer than this are read afresh each time by the walks
/// that remember what they read in a name (the signal and category walks).
pub(crate) const NAME_CACHE_MAX_BYTES: usize = 64;
/// Member names such a walk remembers per thread before emptying its map.
pub(crate) const NAME_CACHE_ENTRIES: usize = 4096;

/// A per-thread map from short strings to what the string alone
/// determines (see [`cached`]).
pub(crate) type StrCache<V> =
    std::cell::RefCell<std::collections::HashMap<Box<str>, V, foldhash::fast::RandomState>>;

/// `f` of `compute(s)`, taken from `cache` when `s` was asked for lately
/// and the value kept is still `fresh`. Only for values that depend on the
/// string alone (and on what `fresh` checks), so a cached value is the one
/// computing it afresh would give. A string longer than
/// `max_bytes`, or a value `keep` refuses, is computed each time and not
/// kept; the map is emptied when it holds `entries` (and its hasher is
/// seeded per process, so hostile strings cannot be made to collide).
pub(crate) fn cached<V: 'static, R>(
    cache: &'static std::thread::LocalKey<StrCache<V>>,
    s: &str,
    (max_bytes, entries): (usize, usize),
    fresh: impl FnOnce(&V) -> bool,
    compute: impl FnOnce(&str) -> V,
    keep: impl FnOnce(&V) -> bool,
    f: impl FnOnce(&V) -> R,
) -> R {
    if s.len() > max_bytes {
        return f(&compute(s));
    }
    cache.with(|cell| {
        let Ok(mut map) = cell.try_borrow_mut() else {
            return f(&compute(s));
        };
        if let Some(v) = map.get(s).filter(|v| fresh(v)) {
            return f(v);
        }
        let v = compute(s);
        let out = f(&v);
        if keep(&v) {
            if map.len() >= entries {
                map.clear();
            }
            map.insert(s.into(), v);
        }
        out
    })
}

/// Protected values shorter than this are compared for equality only
/// (only the event's own identifiers are kept at that length), so a
/// two-letter account id does not flag every campaign id containing it.
pub const MIN_CONTAINED_LEN: usize = 6;

/// The shortest run of a phone number's digits looked for among letters
/// ([`numeral_readings`]).
pub const MIN_PHONE_DIGITS: usize = 8;

/// An email's local part with this many letters and digits is looked
/// for on its own ([`Protected::add_identifier`]).
pub const MIN_LOCAL_PART_CHARS: usize = 8;

/// Is an email's local part looked for on its own: [`MIN_LOCAL_PART_CHARS`]
/// or more letters and digits, or [`MIN_CONTAINED_LEN`] or more in two
/// words or more (`jane.doe`, `j_smith`, `ann-lee`: a name, where `info`
/// and `sales` are ordinary words)?
fn local_part_names_a_person(local: &str) -> bool {
    let chars = canon::classify(local).0;
    chars >= MIN_LOCAL_PART_CHARS
        || (chars >= MIN_CONTAINED_LEN
            && local
                .trim_matches(|c: char| !c.is_alphanumeric())
                .contains(['.', '_', '-']))
}

/// A digest cut to this many characters, from either end, is still
/// recognized (hex: 48 bits; a chance match is below one in 10^14).
pub const MIN_DIGEST_CHARS: usize = 12;

/// What this event must not leak besides the patterns: its own identifiers
/// and the values of its protected paths. Built once per event, shared by
/// all partners; each value's skeleton is computed only when an output value
/// is long enough to contain it.
#[derive(Default)]
pub struct Protected<'a> {
    values: Vec<ProtectedValue<'a>>,
    /// The event's own identifiers as sent, for the digest forms.
    identifiers: Vec<(Kind, Cow<'a, str>)>,
    /// The event's IP addresses as sent (`user.ip`, `context.ip`), for
    /// their digests.
    ips: Vec<Cow<'a, str>>,
    /// The event's IPv4 addresses as numbers, for [`Reading::ipv4`].
    ipv4: Vec<u32>,
    /// The event's IP addresses whose hex and decimal notations are not
    /// yet among the values ([`Protected::add_ip_numerals`]).
    ip_numerals: Vec<std::net::IpAddr>,
    /// The event's phone numbers (E.164 digits) whose integer spellings
    /// (hex, base 36) are not yet among the values: added the first time
    /// an output's skeleton mixes six or more letters and digits with a
    /// digit in them ([`Protected::add_phone_numerals`]).
    phone_numerals: Vec<String>,
    /// The unkeyed digests of the identifiers and IPs, taken the first
    /// time an output value could hold one, and their encodings, each
    /// written the first time a value could be in it ([`Digests`]).
    digests: Option<Digests>,
    /// The digest comparison's verdict on each view skeleton compared so
    /// far: a value several partners copy, or one string reached by two
    /// paths, is compared once per event.
    digest_verdicts: Vec<(Box<[u8]>, bool)>,
    /// The skeleton of each own identifier of 13 or more characters, whose
    /// 12-character parts are looked for (a part of a device id or an email
    /// address copied into a field); made the first time an output value
    /// is long enough.
    parts: Option<(String, Vec<usize>)>,
    default_country: Option<phonenumber::country::Id>,
    /// The words of the event's own emails, for [`spelled_out`] and in
    /// ROT13; made the first time an output value is as long as an email's
    /// letters and digits.
    spelled: Option<Vec<EmailWords>>,
    /// The fewest letters and digits of the event's own emails (0: none).
    shortest_email: usize,
    /// Own device ids that are UUIDs, as bytes: their packed forms are
    /// added the first time an output is long enough to hold one.
    uuids: Vec<[u8; 16]>,
    uuids_packed: bool,
}

thread_local! {
    /// An empty list of protected values with its buffer, kept for the
    /// thread's next event ([`Protected::new`]).
    static SPARE_VALUES: Cell<Vec<ProtectedValue<'static>>> = const { Cell::new(Vec::new()) };
}

impl Drop for Protected<'_> {
    fn drop(&mut self) {
        let mut values = std::mem::take(&mut self.values);
        if values.capacity() > SPARE_VALUES_MAX {
            return;
        }
        values.clear();
        // The empty list, retyped for any lifetime: collecting a vector's
        // own iterator into a vector of a type of the same layout reuses
        // its buffer (`Vec`'s in-place collection), and there is no element
        // to convert.
        let spare: Vec<ProtectedValue<'static>> = values
            .into_iter()
            .map(|_| -> ProtectedValue<'static> { unreachable!("the list was emptied") })
            .collect();
        SPARE_VALUES.with(|s| s.set(spare));
    }
}

/// The largest list kept for the next event: an event with thousands of
/// values does not keep its memory for the thread's life.
const SPARE_VALUES_MAX: usize = 1024;

/// The shortest packed form of a UUID's 16 bytes (base64 without padding).
const PACKED_UUID_CHARS: usize = 22;

struct ProtectedValue<'a> {
    raw: Cow<'a, str>,
    /// One of the event's own identifiers (compared for equality when
    /// shorter than [`MIN_CONTAINED_LEN`]).
    own: bool,
    /// A lower bound of the skeleton's length: exact for plain ASCII.
    min_len: usize,
    /// Plain ASCII: nothing to decode, compared by [`contains_plain`].
    plain: bool,
    /// Plain, of [`MIN_CONTAINED_LEN`] or more: looked for backwards too
    /// (an identifier, an email's local part, a phone number's digits).
    backwards: bool,
    /// Plain, of [`MIN_CONTAINED_LEN`] or more: looked for in ROT13 too
    /// (`NPPG-55812-KD` of `ACCT-55812-XQ`; an identifier with letters).
    rot13: bool,
    /// A phone number's digits (plain), looked for among letters too
    /// ([`ViewSkeleton::numerals`]).
    phone_digits: bool,
    skeleton: Option<Rc<str>>,
}

impl ProtectedValue<'_> {
    /// Looked for backwards and in ROT13 as well, when plain and long
    /// enough that neither happens by chance.
    fn turned(&mut self) {
        let long = self.plain && self.min_len >= MIN_CONTAINED_LEN;
        self.backwards = long;
        self.rot13 = long;
    }

    fn skeleton(&mut self) -> &str {
        let raw = &self.raw;
        self.skeleton.get_or_insert_with(|| skeleton_cached(raw))
    }
}

/// Protected values longer than this have their skeleton computed afresh
/// each time (user agents and page URLs are mostly shorter).
pub const SKELETON_CACHE_MAX_BYTES: usize = 512;
/// Skeletons kept per thread; the cache is emptied when it is full.
pub const SKELETON_CACHE_ENTRIES: usize = 1024;

/// [`canon::skeleton`] of `s`, from a per-thread cache of the last strings
/// asked for ([`cached`]). A protected value that needs decoding, such as
/// a user agent (its parentheses) or a URL with percent escapes, is mostly
/// the same string event after event, and decoding it again for each event
/// was 5.5 % of the policy bench; a cached skeleton is shared, not copied.
/// Bounded by [`SKELETON_CACHE_ENTRIES`] strings and skeletons of at most
/// [`SKELETON_CACHE_MAX_BYTES`] bytes each per thread (NFKC can lengthen a
/// string many times over: a longer skeleton is not kept).
pub fn skeleton_cached(s: &str) -> Rc<str> {
    thread_local! {
        static SKELETONS: StrCache<Rc<str>> = StrCache::default();
    }
    cached(
        &SKELETONS,
        s,
        (SKELETON_CACHE_MAX_BYTES, SKELETON_CACHE_ENTRIES),
        |_| true,
        |s| Rc::from(canon::skeleton(s)),
        |sk| sk.len() <= SKELETON_CACHE_MAX_BYTES,
        Rc::clone,
    )
}

impl<'a> Protected<'a> {
    pub fn new(default_country: Option<phonenumber::country::Id>) -> Protected<'a> {
        // The list of the thread's last event, emptied: an event's values
        // take a few kilobytes, an allocation glibc serves only after
        // sorting its freed small blocks (malloc_consolidate, ~2 % of
        // ingest when taken afresh for every event).
        let mut values = SPARE_VALUES.with(Cell::take);
        if values.capacity() == 0 {
            values.reserve(64);
        }
        Protected {
            default_country,
            values,
            identifiers: Vec::with_capacity(4),
            ips: Vec::new(),
            digests: None,
            digest_verdicts: Vec::new(),
            parts: None,
            spelled: None,
            shortest_email: 0,
            uuids: Vec::new(),
            uuids_packed: false,
            ipv4: Vec::new(),
            ip_numerals: Vec::new(),
            phone_numerals: Vec::new(),
        }
    }

    /// A device id's 16 bytes packed: base64 (any alphabet, padded or
    /// not: one skeleton), base32, and base64 of the Microsoft GUID byte
    /// order.
    fn add_packed_uuids(&mut self) {
        self.uuids_packed = true;
        for b in std::mem::take(&mut self.uuids) {
            self.push_new(packed(&b));
            self.push_new(canon::skeleton(&data_encoding::BASE32_NOPAD.encode(&b)));
            let mut ms = b;
            ms[..4].reverse();
            ms[4..6].reverse();
            ms[6..8].reverse();
            self.push_new(packed(&ms));
            // The 128-bit number in base 36 and base 62 (a short id made
            // of the UUID), as skeletons.
            for alphabet in &NUMBER_ALPHABETS[1..] {
                let mut text = Vec::with_capacity(25);
                push_number(alphabet, &b, &mut text);
                self.push_new(String::from_utf8_lossy(&text).to_ascii_lowercase());
            }
        }
    }

    /// One of the event's own identifiers (as sent), with its normalized
    /// form when it has one.
    pub fn add_identifier(&mut self, kind: Kind, raw: Cow<'a, str>, normalized: Option<&str>) {
        let pushed = self.push(raw.clone(), true);
        if kind != Kind::Phone {
            // Backwards and in ROT13 too (`998877-CCA` and `NPP-778899`
            // of `ACC-778899`, `moc.elpmaxe ta eod.enaj`).
            pushed.map(ProtectedValue::turned);
        }
        if let Some(n) = normalized {
            if n != raw {
                let v = self.push(Cow::Owned(n.to_owned()), true);
                if kind != Kind::Phone {
                    v.map(ProtectedValue::turned);
                }
            }
        }
        if kind == Kind::Email {
            let chars = canon::classify(&raw).0;
            if self.shortest_email == 0 || chars < self.shortest_email {
                self.shortest_email = chars;
            }
            // The local part alone (`jane.doe.1972` of
            // `jane.doe.1972@mailbox.example`, below the 12 characters of an
            // identifier's parts) when it names the person
            // ([`local_part_names_a_person`]).
            let start = raw.len() - raw.trim_start().len();
            let end = raw.trim().rfind('@').map_or(start, |at| start + at);
            if local_part_names_a_person(&raw[start..end]) {
                let local = match &raw {
                    Cow::Borrowed(t) => Cow::Borrowed(&t[start..end]),
                    Cow::Owned(t) => Cow::Owned(t[start..end].to_owned()),
                };
                self.push(local, true).map(ProtectedValue::turned);
            }
            // The address as the mailbox reads it: its `+tag` dropped
            // (`mark.twain+news@example.org` is `mark.twain@example.org`),
            // and a Gmail address under both of Google's domains; with its
            // local part alone when that names the person.
            // Asked of every event's email: no lowercase copy.
            let gmail = raw
                .as_bytes()
                .windows(b"gmail.com".len())
                .any(|w| w.eq_ignore_ascii_case(b"gmail.com"));
            if raw.contains('+') || gmail {
                let untagged = raw[start..end].split('+').next().unwrap_or("");
                if untagged.len() < end - start && local_part_names_a_person(untagged) {
                    self.push(Cow::Owned(untagged.to_owned()), true);
                }
                for form in identity::match_forms(Kind::Email, &raw, None) {
                    let Some((local, domain)) = form.rsplit_once('@') else {
                        continue;
                    };
                    if local_part_names_a_person(local) {
                        self.push(Cow::Owned(local.to_owned()), true);
                    }
                    if domain == "gmail.com" {
                        self.push(Cow::Owned(format!("{local}@googlemail.com")), true);
                    }
                    self.push(Cow::Owned(form), true);
                }
            }
        }
        if kind == Kind::DeviceId {
            // A UUID's 16 bytes, packed when an output is long enough to
            // hold them ([`Protected::add_packed_uuids`]).
            if let Some(b) = uuid_bytes(raw.trim()) {
                self.uuids.push(b);
            }
        }
        if kind == Kind::Phone {
            // The number without its country code (`2065550100` of
            // `+1 206 555 0100`), also as a JSON number: the E.164 digits
            // past the longest country code (3 digits), which every national
            // number contains. Cut by length, not parsed again: a number
            // plan lookup per event was a third of the policy's time.
            // Its integer spellings, when an output could hold one
            // ([`Protected::add_phone_numerals`]).
            if let Some(d) = normalized.and_then(|n| n.strip_prefix('+')) {
                self.phone_numerals.push(d.to_owned());
            }
            if let Some(rest) = normalized
                .and_then(|n| n.strip_prefix('+'))
                .and_then(|d| d.get(3..))
            {
                if let Some(v) = self.push_new(rest.to_owned()) {
                    // Also backwards (`0010555602`), and among letters
                    // ([`ViewSkeleton::numerals`]).
                    v.backwards = true;
                    v.phone_digits = v.min_len >= MIN_PHONE_DIGITS;
                }
            }
        }
        self.identifiers.push((kind, raw));
    }

    /// One of the event's IP addresses (`user.ip`, `context.ip`): a value
    /// of its own, in the other notations of the same address (IPv4 as 8
    /// hex digits and as one integer, and so within IPv4-mapped IPv6), and
    /// hashed. The notations written only in hex digits, decimal digits and
    /// `x` are added the first time an output could hold one
    /// ([`Protected::add_ip_numerals`]); the packed ones (base64, base32)
    /// now.
    pub fn add_ip(&mut self, raw: Cow<'a, str>) {
        self.push(raw.clone(), true);
        let t = raw.trim();
        if let Ok(v4) = t.parse::<std::net::Ipv4Addr>() {
            self.ipv4.push(u32::from(v4));
            let o = v4.octets();
            self.push_new(packed(&o));
            self.push_new(canon::skeleton(&data_encoding::BASE32_NOPAD.encode(&o)));
            self.ip_numerals.push(std::net::IpAddr::V4(v4));
        } else if let Ok(v6) = t.parse::<std::net::Ipv6Addr>() {
            self.push_new(packed(&v6.octets()));
            self.ip_numerals.push(std::net::IpAddr::V6(v6));
        }
        self.ips.push(raw);
    }

    /// The event's IP addresses in the notations made of hex digits,
    /// decimal digits and `x` alone: such a value can only be inside an
    /// output whose skeleton has a run of [`MIN_CONTAINED_LEN`] or more of
    /// those characters ([`numeral_run`]), so they are written the first
    /// time one does (on most events, never: building them was 5 % of the
    /// policy's work).
    /// The event's phone numbers as one integer written in hex and in base
    /// 36 (`2cf29af14`, `5jjim1g` of +12065550100), with and without a
    /// country code of one to three digits.
    fn add_phone_numerals(&mut self) {
        for d in std::mem::take(&mut self.phone_numerals) {
            for cut in 0..=3 {
                let Some(n) = d.get(cut..).and_then(|t| t.parse::<u64>().ok()) else {
                    continue;
                };
                let bytes = n.to_be_bytes();
                let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
                let mut text = Vec::with_capacity(16);
                push_number(NUMBER_ALPHABETS[2], &bytes[first..], &mut text);
                if let Ok(t) = String::from_utf8(text) {
                    self.push_new(t);
                }
                self.push_new(format!("{n:x}"));
            }
        }
    }

    fn add_ip_numerals(&mut self) {
        for ip in std::mem::take(&mut self.ip_numerals) {
            match ip {
                std::net::IpAddr::V4(v4) => self.add_ipv4_numerals(v4),
                std::net::IpAddr::V6(v6) => self.add_ipv6_numerals(v6),
            }
        }
    }

    fn add_ipv4_numerals(&mut self, v4: std::net::Ipv4Addr) {
        let o = v4.octets();
        let hex8 = hex(&o);
        // inet_aton's dotted hex and octal (`0xc6.0x33.0x64.0x17`,
        // `0306.063.0144.027`, also padded to 4 digits), as skeletons.
        let mut dotted_hex = String::with_capacity(16);
        let (mut octal, mut octal4) = (String::with_capacity(16), String::with_capacity(16));
        for (i, b) in o.into_iter().enumerate() {
            dotted_hex.push_str("0x");
            dotted_hex.push_str(&hex8[2 * i..2 * i + 2]);
            let digits = [b >> 6, (b >> 3) & 7, b & 7];
            let first = digits.iter().position(|d| *d != 0).unwrap_or(2);
            octal.push('0');
            octal4.push('0');
            for (k, d) in digits.into_iter().enumerate() {
                octal4.push(char::from(b'0' + d));
                if k >= first {
                    octal.push(char::from(b'0' + d));
                }
            }
        }
        // `::ffff:198.51.100.23` and `::ffff:c633:6417` contain the
        // address as sent and its hex digits.
        self.push_new(u32::from(v4).to_string());
        // Tunnelled in IPv6: Teredo writes the client's address with every
        // bit flipped (`39cc:9be8` of 198.51.100.23), and a 6to4 address's
        // reverse-DNS name has its hex digits reversed
        // (`7.1.4.6.3.3.6.c.2.0.0.2.ip6.arpa`).
        self.push_new(hex(&(!u32::from(v4)).to_be_bytes()));
        self.push_new(hex8.chars().rev().collect());
        self.push_new(hex8);
        self.push_new(dotted_hex);
        self.push_new(octal);
        self.push_new(octal4);
        // Its reverse-DNS name (`23.100.51.198.in-addr.arpa`), octets
        // reversed.
        self.push_new(o.iter().rev().map(u8::to_string).collect());
        // `in_addr.s_addr` printed on a little-endian machine, as an
        // integer (`%u`: 158662859 of 203.0.113.9) and in hex.
        let mut le = o;
        le.reverse();
        self.push_new(u32::from_be_bytes(le).to_string());
        self.push_new(hex(&le));
        // Every octet padded to three and to four digits
        // (`198.051.100.023`, `0198.0051.0100.0023`).
        self.push_new(o.iter().map(|b| format!("{b:03}")).collect());
        self.push_new(o.iter().map(|b| format!("{b:04}")).collect());
    }

    fn add_ipv6_numerals(&mut self, v6: std::net::Ipv6Addr) {
        let o = v6.octets();
        // Written out in full, and in the other spellings of its groups:
        // all eight without leading zeros (`2001:db8:0:0:1::` expanded),
        // and the compressed form with every group padded to four digits;
        // its canonical compressed form when it was sent otherwise.
        self.push_new(hex(&v6.octets()));
        let groups = v6.segments();
        self.push_new(groups.iter().map(|g| format!("{g:x}")).collect());
        let compressed = v6.to_string();
        let padded: String = compressed
            .split(':')
            .map(|g| {
                if g.is_empty() {
                    String::new()
                } else {
                    format!("{g:0>4}")
                }
            })
            .collect();
        self.push_new(padded);
        self.push_new(canon::skeleton(&compressed));
        // The first six groups written out in full before the dotted tail
        // (`2001:0db8:85a3:0000:0000:8a2e:3.112.115.52`).
        let full: String = groups[..6].iter().map(|g| format!("{g:04x}")).collect();
        self.push_new(full + &o[12..].iter().map(u8::to_string).collect::<String>());
        // RFC 4291's mixed notation, the last 32 bits dotted
        // (`2001:db8:85a3::8a2e:3.112.115.52`): the first six groups
        // without leading zeros, with and without their zero groups (a
        // `::` elides a run of them), then the four octets in decimal.
        let tail: String = o[12..].iter().map(u8::to_string).collect();
        let all: String = groups[..6].iter().map(|g| format!("{g:x}")).collect();
        let elided: String = groups[..6]
            .iter()
            .filter(|g| **g != 0)
            .map(|g| format!("{g:x}"))
            .collect();
        self.push_new(all + &tail);
        if groups[..6].contains(&0) {
            self.push_new(elided + &tail);
        }
    }

    /// A value from a protected path (user, purchase, search, view, page URL,
    /// referrer, IP, user agent).
    pub fn add_value(&mut self, v: Cow<'a, str>) {
        self.push(v, false);
    }

    /// Adds a value, and gives it back for its flags; `None` when it is
    /// one not looked for (no letter or digit; another value's shorter
    /// than [`MIN_CONTAINED_LEN`]).
    fn push(&mut self, raw: Cow<'a, str>, own: bool) -> Option<&mut ProtectedValue<'a>> {
        // Plain ASCII (nothing to decode), and its alphanumerics: one
        // pass of table lookups, no branch per byte.
        let (alnum, classes) = canon::classify(&raw);
        let plain = classes & canon::NOT_PLAIN == 0;
        let min_len = if plain { alnum } else { 0 };
        if plain && (min_len == 0 || (!own && min_len < MIN_CONTAINED_LEN)) {
            return None;
        }
        // No look for an equal value already pushed: the event's values
        // are mostly distinct, and comparing each with all the others was
        // a fifth of building the set.
        self.values.push(ProtectedValue {
            raw,
            own,
            min_len,
            plain,
            backwards: false,
            rot13: false,
            phone_digits: false,
            skeleton: None,
        });
        self.values.last_mut()
    }

    /// An own value made here, plain ASCII letters and digits of 6 or
    /// more characters (a notation of an identifier): pushed without the
    /// classification [`Protected::push`] makes.
    fn push_new(&mut self, sk: String) -> Option<&mut ProtectedValue<'a>> {
        debug_assert!(sk.bytes().all(|c| c.is_ascii_alphanumeric()));
        if sk.len() < MIN_CONTAINED_LEN {
            return None;
        }
        self.values.push(ProtectedValue {
            min_len: sk.len(),
            raw: Cow::Owned(sk),
            own: true,
            plain: true,
            backwards: false,
            rot13: false,
            phone_digits: false,
            skeleton: None,
        });
        self.values.last_mut()
    }

    /// Is `h` (hex) the SHA-256 of anything of the event but the person's
    /// email or phone: its account or device id, an IP, or a value of its
    /// protected paths (an order number, a search), in any of the forms
    /// the guard hashes (as sent, trimmed, lowercased, uppercased, with the
    /// newline `echo` adds; an identifier in every normalization, an IPv4
    /// address also as IPv4-mapped IPv6)? For the pre-hashed identifier
    /// fields, which may hold the hash of the person's email or phone and
    /// nothing else.
    pub fn is_digest_of_other(&self, h: &str) -> bool {
        let Ok(h) = data_encoding::HEXLOWER_PERMISSIVE.decode(h.trim().as_bytes()) else {
            return false;
        };
        if h.len() != 32 {
            return false;
        }
        let plain = |v: &str| {
            let t = v.trim();
            [
                v.to_owned(),
                t.to_owned(),
                t.to_lowercase(),
                t.to_uppercase(),
                format!("{t}\n"),
            ]
        };
        let ids = self
            .identifiers
            .iter()
            .filter(|(k, _)| matches!(k, Kind::AccountId | Kind::DeviceId))
            .flat_map(|(k, raw)| identifier_forms(*k, raw, self.default_country));
        let ips = self.ips.iter().flat_map(|ip| {
            let mut forms = plain(ip).to_vec();
            forms.push(format!("::ffff:{}", ip.trim()));
            forms
        });
        let values = self
            .values
            .iter()
            .filter(|v| !v.own)
            .flat_map(|v| plain(&v.raw));
        ids.chain(ips)
            .chain(values)
            .any(|f| Sha256::digest(f.as_bytes())[..] == h[..])
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
            && self.identifiers.is_empty()
            && self.ips.is_empty()
            && self.uuids.is_empty()
    }

    /// Checks one output string, read ([`Reading`]).
    pub fn check(&mut self, r: &Reading) -> Option<Hit> {
        if self.is_empty() {
            return None;
        }
        if r.ipv4.iter().any(|ip| self.ipv4.contains(ip)) {
            return Some(Hit::OwnIdentifier);
        }
        r.views.iter().find_map(|v| self.check_view(v)).or_else(|| {
            let longest = r.views.iter().max_by_key(|v| v.skeleton.len())?;
            // Two long words, or words glued (`LavenderSleepSprays`).
            if !r.long_words && longest.skeleton.len() < 2 * MIN_CONTAINED_LEN {
                return None;
            }
            self.reordered(longest.skeleton.as_bytes())
        })
    }

    /// A protected path's value copied with its words in another order
    /// (`size 44 insoles orthopedic` of the search `orthopedic insoles size
    /// 44`): every word of [`MIN_COMPARED_WORD`] or more characters of a
    /// value with two or more long words is in the output's longest
    /// skeleton `sk` ([`words_in`]; in order, the skeleton comparison
    /// finds it already). A value with more than twice as many letters and
    /// digits as `sk` is not looked for (a page's address or a user agent
    /// beside a campaign's name).
    #[inline(never)]
    fn reordered(&mut self, sk: &[u8]) -> Option<Hit> {
        for v in self.values.iter_mut().filter(|v| !v.own) {
            let len = if v.plain {
                v.min_len
            } else {
                v.skeleton().len()
            };
            if len > 2 * sk.len() {
                continue;
            }
            let copied = if v.plain {
                // Its words read in place, lowercased on the stack.
                words_in(sk, v.raw.as_bytes().split(|c| !c.is_ascii_alphanumeric()))
            } else {
                // In canonical form, from a per-thread cache (a user agent
                // repeats from event to event).
                words_cached(&v.raw)
                    .is_some_and(|w| words_in(sk, w.as_bytes().split(|&c| c == b' ')))
            };
            if copied {
                return Some(Hit::Protected);
            }
        }
        None
    }

    fn check_view(&mut self, view: &ViewSkeleton) -> Option<Hit> {
        let sk = view.skeleton.as_bytes();
        let l = sk.len();
        if l == 0 {
            return None;
        }
        if l >= PACKED_UUID_CHARS && !self.uuids_packed {
            self.add_packed_uuids();
        }
        if !self.ip_numerals.is_empty() && numeral_run(sk) {
            self.add_ip_numerals();
        }
        if !self.phone_numerals.is_empty()
            && l >= MIN_CONTAINED_LEN
            && sk.iter().any(u8::is_ascii_digit)
            && sk.iter().any(u8::is_ascii_lowercase)
        {
            self.add_phone_numerals();
        }
        for v in &mut self.values {
            if v.min_len > l {
                continue;
            }
            let hit = if v.plain {
                // The skeleton of plain ASCII is its letters and digits,
                // lowercased: compared without building it.
                let raw = v.raw.as_bytes();
                if v.min_len >= MIN_CONTAINED_LEN {
                    contains_plain(sk, raw.iter().copied())
                        || (v.backwards && contains_plain(sk, raw.iter().rev().copied()))
                        || (v.rot13 && contains_plain(sk, raw.iter().map(|&c| canon::rot13(c))))
                        || (v.phone_digits
                            && view
                                .numerals
                                .iter()
                                .any(|n| memchr::memmem::find(n, raw).is_some()))
                } else {
                    v.own && v.min_len == l && contains_plain(sk, v.raw.as_bytes().iter().copied())
                }
            } else {
                let own = v.own;
                let vs = v.skeleton();
                if vs.is_empty() {
                    continue;
                }
                if vs.len() >= MIN_CONTAINED_LEN {
                    memchr::memmem::find(sk, vs.as_bytes()).is_some()
                } else {
                    own && vs.as_bytes() == sk
                }
            };
            if hit {
                return Some(if v.own {
                    Hit::OwnIdentifier
                } else {
                    Hit::Protected
                });
            }
        }
        if self.shortest_email != 0 && l >= self.shortest_email {
            // An output no longer than an email's letters and digits holds
            // it spelled out only as those letters, looked for above.
            let ids = &self.identifiers;
            let spelled = self.spelled.get_or_insert_with(|| email_words(ids));
            if spelled.iter().any(|e| {
                (l >= e.words.len() && memchr::memmem::find(sk, &e.rot13).is_some())
                    || (l > e.words.len() && spelled_out(sk, &e.words, &e.ends))
            }) {
                return Some(Hit::OwnIdentifier);
            }
        }
        if l >= MIN_DIGEST_CHARS && !self.identifiers.is_empty() {
            let ids = &self.identifiers;
            let parts = self.parts.get_or_insert_with(|| identifier_parts(ids));
            if shares_a_part(sk, parts) {
                return Some(Hit::OwnIdentifier);
            }
        }
        if (!self.identifiers.is_empty() || !self.ips.is_empty())
            && view.digest
            && l >= MIN_DIGEST_CHARS
        {
            let hit = match self.digest_verdicts.iter().find(|(s, _)| **s == *sk) {
                Some(&(_, hit)) => hit,
                None => {
                    let hit = self.shares_a_digest_window(sk);
                    self.digest_verdicts.push((sk.into(), hit));
                    hit
                }
            };
            if hit {
                return Some(Hit::OwnIdentifier);
            }
        }
        None
    }

    /// Does one of the 12-character windows of the skeleton `sk` occur in
    /// the skeleton of an encoding of an unkeyed digest of the event's
    /// identifiers or IPs? Every window, not only the prefix: a digest cut
    /// at both ends (the middle of a base64 digest) is still a digest. The
    /// digests are taken only when a window could be in one of their
    /// encodings, and each encoding is written and read only when a window
    /// is in its alphabet ([`Windows`]).
    fn shares_a_digest_window(&mut self, sk: &[u8]) -> bool {
        let windows = Windows::of(sk);
        if !windows.alphabets.contains(&true) {
            return false;
        }
        let (ids, ips, country) = (&self.identifiers, &self.ips, self.default_country);
        let digests = self
            .digests
            .get_or_insert_with(|| Digests::of(ids, ips, country));
        DigestAlphabet::ALL
            .into_iter()
            .filter(|a| windows.alphabets[*a as usize])
            .any(|a| windows.found_in(digests.text(a)))
    }
}

/// The 16 bytes of a UUID written as 32 hex digits, with or without its
/// dashes.
fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut n = 0;
    for c in s.bytes().filter(|c| *c != b'-') {
        let v = (c as char).to_digit(16)? as u8;
        let byte = out.get_mut(n / 2)?;
        *byte = *byte << 4 | v;
        n += 1;
    }
    (n == 32).then_some(out)
}

/// The skeleton of `bytes` in base64 (any of its alphabets: the skeleton
/// drops `+/-_=` and case).
fn packed(bytes: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    canon::skeleton(&STANDARD.encode(bytes))
}

/// Does the skeleton `sk` hold [`MIN_CONTAINED_LEN`] or more hex digits
/// and `x` in a row, as an IP address's hex, decimal and octal notations
/// (`cb007109`, `3405803785`, `0xcb0x000x710x09`) are written?
fn numeral_run(sk: &[u8]) -> bool {
    let mut run = 0;
    for c in sk {
        if c.is_ascii_hexdigit() || *c == b'x' {
            run += 1;
            if run >= MIN_CONTAINED_LEN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Does the skeleton `sk` contain the skeleton of the plain ASCII `raw`
/// (its letters and digits, lowercased), read in the order `raw` yields
/// its bytes (`.rev()`: backwards)?
fn contains_plain(sk: &[u8], raw: impl Iterator<Item = u8> + Clone) -> bool {
    let mut alnum = raw
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase());
    let Some(first) = alnum.next() else {
        return false;
    };
    'start: for at in memchr::memchr_iter(first, sk) {
        let mut j = at + 1;
        for c in alnum.clone() {
            if sk.get(j) != Some(&c) {
                if j >= sk.len() {
                    // Too close to the end: so is every later start.
                    return false;
                }
                continue 'start;
            }
            j += 1;
        }
        return true;
    }
    false
}

/// Lowercase alphanumerics of an already canonical text.
fn skeleton_of_canonical(t: &str) -> Cow<'_, str> {
    if t.bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Cow::Borrowed(t);
    }
    let mut out = String::with_capacity(t.len());
    canon::push_skeleton_str(t, &mut out);
    Cow::Owned(out)
}

/// Could this text carry a (truncated) digest: a run of 12+ hex digits, or a
/// 12+ character base64 run mixing upper and lower case?
fn could_hold_digest(t: &str, sk: &str) -> bool {
    if sk.len() < MIN_DIGEST_CHARS {
        return false;
    }
    let mut hex_run = 0;
    for c in sk.bytes() {
        if c.is_ascii_hexdigit() {
            hex_run += 1;
            if hex_run >= MIN_DIGEST_CHARS {
                return true;
            }
        } else {
            hex_run = 0;
        }
    }
    // base64: a run of the alphabet with upper, lower and a digit.
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
        if !is_b64(b[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        let run = &b[s..i];
        let (upper, lower) = (
            run.iter().any(u8::is_ascii_uppercase),
            run.iter().any(u8::is_ascii_lowercase),
        );
        if run.len() >= MIN_DIGEST_CHARS && upper && lower {
            return true;
        }
        // base32, or base64 in one case: a long run of letters and digits.
        if run.len() >= MIN_CASELESS_DIGEST_CHARS
            && (upper || lower)
            && run.iter().any(u8::is_ascii_digit)
        {
            return true;
        }
    }
    grouped_digest(b)
}

/// A digest written in groups of one length (`Q4ED jv+Y CU9S HmXf`,
/// `zkQgE0.iz2Pq2.GB9unf`): three or more groups of 4 or more base64
/// characters, each as long as the first but the last, separated by one
/// blank, `.`, `-` or `:`, together 12 or more characters mixing cases or
/// all hex. Groups of unequal lengths (`Home-Top-Banner`) are words.
fn grouped_digest(b: &[u8]) -> bool {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_');
    let is_sep = |c: u8| matches!(c, b' ' | b'.' | b'-' | b':');
    let mut i = 0;
    while i < b.len() {
        // The groups' characters, counted (not copied: this runs for every
        // view of every output value).
        let (mut groups, mut len, mut chars) = (0usize, 0usize, 0usize);
        let (mut upper, mut lower, mut all_hex) = (false, false, true);
        let mut j = i;
        loop {
            let s = j;
            while j < b.len() && is_b64(b[j]) {
                j += 1;
            }
            let g = j - s;
            let first = groups == 0;
            if g < 4 && !(groups >= 3 && g > 0) {
                break;
            }
            if !first && g > len {
                break;
            }
            if first {
                len = g;
            }
            groups += 1;
            let group = &b[s..j];
            chars += g;
            upper |= group.iter().any(u8::is_ascii_uppercase);
            lower |= group.iter().any(u8::is_ascii_lowercase);
            all_hex &= group.iter().all(u8::is_ascii_hexdigit);
            if g < len || j + 1 >= b.len() || !is_sep(b[j]) || !is_b64(b[j + 1]) {
                break;
            }
            j += 1;
        }
        if groups >= 3 && chars >= MIN_DIGEST_CHARS && ((upper && lower) || all_hex) {
            return true;
        }
        // On to the next group.
        while i < b.len() && is_b64(b[i]) {
            i += 1;
        }
        while i < b.len() && !is_b64(b[i]) {
            i += 1;
        }
    }
    false
}

/// A run of letters and digits in one case this long could be a digest in
/// base32 or case-changed base64 (a whole SHA-1 in base32 is 32).
const MIN_CASELESS_DIGEST_CHARS: usize = 24;

/// Every normalization of an identifier a partner could hash: as sent,
/// trimmed, lowercased, adgate's, Meta's, Google's and TikTok's forms; for
/// phones also digits only and the national number.
pub fn identifier_forms(
    kind: Kind,
    raw: &str,
    default_country: Option<phonenumber::country::Id>,
) -> Vec<String> {
    let t = raw.trim();
    let mut forms = vec![
        raw.to_owned(),
        t.to_owned(),
        t.to_lowercase(),
        t.to_uppercase(),
    ];
    let normalized = identity::normalize_with(kind, raw, default_country);
    if let Some(n) = &normalized {
        forms.push(n.to_string());
    }
    if let Some(n) = &normalized {
        // adgate's own HMAC message, hashed without the key.
        forms.push(format!("{}:{n}", kind.as_str()));
    }
    match kind {
        Kind::Email => {
            if let Some((local, domain)) = t.rsplit_once('@') {
                forms.push(format!("{local}@{}", domain.to_lowercase()));
            }
            for e in [Some(t), normalized.as_deref()].into_iter().flatten() {
                // The nineteenth pass: the domain written as a fully
                // qualified name (a trailing dot), a byte-order mark in
                // front (a file exported from Windows), a non-breaking
                // space after (a web form), in angle brackets (a mail
                // header's `<jane@example.com>`).
                forms.push(format!("{e}."));
                forms.push(format!("\u{feff}{e}"));
                forms.push(format!("{e}\u{a0}"));
                forms.push(format!("<{e}>"));
                forms.push(format!("mailto:{e}"));
                forms.push(format!("MAILTO:{e}"));
                forms.push(format!("{e}\r\n"));
                // A C string's NUL, a lone CR.
                forms.push(format!("{e}\0"));
                forms.push(format!("{e}\r"));
                // A TSV export's tab.
                forms.push(format!("{e}\t"));
                // The local part alone, when it is long enough to name
                // the person (as [`Protected::add_identifier`] reads it).
                if let Some((local, _)) = e.rsplit_once('@') {
                    if local_part_names_a_person(local) {
                        forms.push(local.to_owned());
                    }
                }
                // A hash of a hash (a "salted" pipeline without a salt),
                // also of the MD5 a legacy list keyed people by.
                forms.push(hex(&Sha256::digest(e.to_lowercase().as_bytes())));
                forms.push(hex(&Md5::digest(e.to_lowercase().as_bytes())));
                // A blank a form field kept (`jane@example.com `).
                forms.push(format!("{e} "));
                forms.push(format!(" {e}"));
            }
            let lower = t.to_lowercase();
            if let Some((local, domain)) = lower.split_once('@') {
                // As a CRM displays it (`Jane.Doe@example.com`,
                // `Jane.Doe@Example.com`, `Jane.doe@example.com`).
                let address = format!("{local}@{domain}");
                for (every_part, domain) in [(true, false), (true, true), (false, false)] {
                    forms.extend(identity::capitalized_address(&address, every_part, domain));
                }
                let no_plus = local.split('+').next().unwrap_or(local);
                let no_dots: String = local.chars().filter(|c| *c != '.').collect();
                let both: String = no_plus.chars().filter(|c| *c != '.').collect();
                // A Gmail address under both of Google's domains.
                let domains: &[&str] = if matches!(domain, "gmail.com" | "googlemail.com") {
                    &["gmail.com", "googlemail.com"]
                } else {
                    &[domain]
                };
                for d in domains {
                    forms.push(format!("{local}@{d}"));
                    forms.push(format!("{no_plus}@{d}"));
                    forms.push(format!("{no_dots}@{d}"));
                    forms.push(format!("{both}@{d}"));
                }
            }
        }
        Kind::Phone => {
            let digits: String = t.chars().filter(char::is_ascii_digit).collect();
            forms.push(digits.clone());
            forms.push(format!("+{digits}"));
            forms.push(format!("00{digits}"));
            forms.extend(identity::phone_national_numbers(raw, default_country));
            if let Some(n) = &normalized {
                forms.push(n.trim_start_matches('+').to_owned());
                forms.push(format!("tel:{n}"));
                if let Ok(p) = phonenumber::parse(None, n.as_ref()) {
                    for mode in [
                        phonenumber::Mode::National,
                        phonenumber::Mode::International,
                    ] {
                        forms.push(p.format().mode(mode).to_string());
                    }
                    // The national form after the country code
                    // (`+1 (415) 555-0100`), also without its blanks
                    // (`+1(415)555-0100`, `(415)555-0100`).
                    let national = p.format().mode(phonenumber::Mode::National).to_string();
                    forms.push(format!("+{} {national}", p.code().value()));
                    let tight: String = national.chars().filter(|c| !c.is_whitespace()).collect();
                    forms.push(format!("+{}{tight}", p.code().value()));
                    forms.push(format!("{}{tight}", p.code().value()));
                    forms.push(tight);
                    // The national number's digits, with its trunk prefix
                    // (`02079460958` of `+44 20 7946 0958`).
                    forms.push(national.chars().filter(char::is_ascii_digit).collect());
                    forms.push(format!("{digits}\n"));
                    // The international groups joined by a blank, a dash
                    // or a dot, with and without `+` and the country code
                    // (`206-555-0100`, `+1-206-555-0100`, `1 206 555 0100`).
                    let intl = p
                        .format()
                        .mode(phonenumber::Mode::International)
                        .to_string();
                    let groups: Vec<&str> = intl
                        .split(|c: char| !c.is_ascii_digit())
                        .filter(|g| !g.is_empty())
                        .collect();
                    for sep in [" ", "-", "."] {
                        let all = groups.join(sep);
                        forms.push(format!("+{all}"));
                        if sep == "-" {
                            // RFC 3966's URI with its visual separators.
                            forms.push(format!("tel:+{all}"));
                        }
                        forms.push(all);
                        forms.push(groups[1.min(groups.len())..].join(sep));
                    }
                    forms.extend(mixed_phone_forms(p.code().value(), &groups));
                }
            }
        }
        Kind::AccountId | Kind::DeviceId => {
            forms.push(canon::skeleton(t));
            forms.push(canon::skeleton(t).to_uppercase());
            if kind == Kind::DeviceId && uuid_bytes(t).is_some() {
                // .NET's `Guid.ToString("B")`, braced.
                forms.push(format!("{{{}}}", t.to_uppercase()));
                forms.push(format!("{{{}}}", t.to_lowercase()));
            }
        }
    }
    // As sent and normalized, also with the newline `echo x | sha256sum`
    // hashes, a CRLF, and hashed once already (a "salted" pipeline without
    // a salt).
    for f in [Some(t), normalized.as_deref()].into_iter().flatten() {
        forms.push(format!("{f}\n"));
        forms.push(format!("{f}\r\n"));
        forms.push(hex(&Sha256::digest(f.as_bytes())));
        // The fifteenth red-team pass: the value with its JSON quotes (a
        // serialized string hashed), and with this product's name as a
        // salt.
        forms.push(format!("\"{f}\""));
        forms.push(format!("adgate:{f}"));
        // A blank a form field kept, after, before or on both sides.
        forms.push(format!("{f} "));
        forms.push(format!(" {f}"));
        forms.push(format!(" {f} "));
    }
    // In capitals or lowercase with `echo`'s newline, a CRLF; an email
    // also with a trailing dot.
    for f in [t.to_lowercase(), t.to_uppercase()] {
        forms.push(format!("{f}\n"));
        forms.push(format!("{f}\r\n"));
        if kind == Kind::Email {
            forms.push(format!("{f}."));
        }
    }
    // As a one-member JSON object named by its kind
    // (`{"email":"jane.doe@example.com"}`).
    if let Some(n) = &normalized {
        forms.push(format!("{{\"{}\":\"{n}\"}}", kind.as_str()));
        forms.push(format!("{{\"{}\": \"{n}\"}}", kind.as_str()));
    }
    forms.sort();
    forms.dedup();
    forms.retain(|f| !f.is_empty());
    forms
}

/// The groupings a CRM or a spreadsheet writes a number in that mix the
/// international groups (the nineteenth red-team pass): the country code
/// apart from the national number written whole (`+1 2065550100`,
/// `+1-2065550100`, `1 2065550100`), the area code apart from the rest
/// (`206 5550100`, `+1 206-5550100`), the area code in brackets
/// (`(206) 555 0100`, `(206)5550100`, `1 (206) 555-0100`), and the national
/// number in a `tel:` URI (`tel:2065550100`). `groups` are the
/// international format's digit groups, the country code first.
fn mixed_phone_forms(cc: u16, groups: &[&str]) -> Vec<String> {
    let Some(national) = groups.get(1..).filter(|n| !n.is_empty()) else {
        return Vec::new();
    };
    let whole = national.concat();
    let mut nat = vec![whole.clone()];
    if national.len() >= 2 {
        let (area, rest) = (national[0], &national[1..]);
        let rest_whole = rest.concat();
        for sep in [" ", "-"] {
            nat.push(format!("{area}{sep}{rest_whole}"));
        }
        for r in [rest.join(" "), rest.join("-"), rest_whole] {
            nat.push(format!("({area}) {r}"));
            nat.push(format!("({area}){r}"));
        }
    }
    let mut out = Vec::with_capacity(nat.len() * 4 + 2);
    for n in &nat {
        for prefix in [
            format!("+{cc} "),
            format!("+{cc}-"),
            format!("{cc} "),
            String::new(),
        ] {
            out.push(format!("{prefix}{n}"));
        }
    }
    out.push(format!("tel:{whole}"));
    out.push(format!("tel:{cc}{whole}"));
    out
}

/// The skeletons of `ids` long enough to have a part of
/// [`MIN_DIGEST_CHARS`] characters that is not the whole, one after another
/// in one string (`parts.0`), with where each ends (`parts.1`).
fn identifier_parts(ids: &[(Kind, Cow<'_, str>)]) -> (String, Vec<usize>) {
    let mut all = String::new();
    let mut ends = Vec::with_capacity(ids.len());
    for (_, raw) in ids.iter().filter(|(_, raw)| raw.len() > MIN_DIGEST_CHARS) {
        let start = all.len();
        canon::skeleton_into(raw, &mut all);
        if all.len() - start > MIN_DIGEST_CHARS {
            ends.push(all.len());
        } else {
            all.truncate(start);
        }
    }
    (all, ends)
}

/// Does the skeleton `sk` contain 12 consecutive characters of one of
/// `parts`? Windows of fewer than 4 distinct characters (`000000000000`)
/// are not looked for: ordinary values share them by chance.
fn shares_a_part(sk: &[u8], (all, ends): &(String, Vec<usize>)) -> bool {
    if ends.is_empty() {
        return false;
    }
    let all = all.as_bytes();
    sk.windows(MIN_DIGEST_CHARS).any(|w| {
        let mut seen = 0u64;
        for c in w {
            seen |= 1 << (c % 64);
        }
        if seen.count_ones() < 4 {
            return false;
        }
        let mut start = 0;
        ends.iter().any(|&end| {
            let part = &all[start..end];
            start = end;
            part.windows(MIN_DIGEST_CHARS).any(|p| p == w)
        })
    })
}

/// The forms of the event's identifiers hashed as other bytes than their
/// UTF-8: as sent, lowercase, uppercase and normalized in UTF-16 (little
/// endian, as .NET's `Encoding.Unicode` writes it, with and without its
/// byte order mark, and big endian), and a device id's 16 bytes (the MD5
/// of an IDFA's bytes is a common MAID hash), also in the byte order of a
/// Microsoft GUID.
fn byte_forms(
    ids: &[(Kind, Cow<'_, str>)],
    ips: &[Cow<'_, str>],
    default_country: Option<phonenumber::country::Id>,
) -> Vec<Vec<u8>> {
    let mut out = ip_bytes(ips);
    for (kind, raw) in ids {
        let t = raw.trim();
        let normalized = identity::normalize_with(*kind, raw, default_country);
        let mut texts = vec![t.to_owned(), t.to_lowercase(), t.to_uppercase()];
        texts.extend(normalized.map(Cow::into_owned));
        texts.sort();
        texts.dedup();
        for text in &texts {
            let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
            let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            out.push([&[0xff, 0xfe][..], &le].concat());
            out.push(le);
            out.push(be);
        }
        if let Some(b) = uuid_bytes(t) {
            let mut guid = b;
            guid[0..4].reverse();
            guid[4..6].reverse();
            guid[6..8].reverse();
            out.push(b.to_vec());
            out.push(guid.to_vec());
        }
    }
    out
}

/// Each IP address's packed bytes (`inet_pton`'s 4 or 16).
fn ip_bytes(ips: &[Cow<'_, str>]) -> Vec<Vec<u8>> {
    ips.iter()
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| match ip {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        })
        .collect()
}

/// Every form of the event's identifiers and IPs whose digests are
/// compared: each identifier's [`identifier_forms`], each IP as sent,
/// trimmed and with the newline `echo` adds; each form once (an IP sent
/// without blanks is its trimmed form, and a digest taken twice only
/// doubles the text read).
fn digest_forms(
    ids: &[(Kind, Cow<'_, str>)],
    ips: &[Cow<'_, str>],
    default_country: Option<phonenumber::country::Id>,
) -> Vec<String> {
    // An IP also as a CIDR of one address (`198.51.100.23/32`).
    let ip_forms = ips.iter().flat_map(|ip| {
        let t = ip.trim();
        let cidr = if t.contains(':') { "/128" } else { "/32" };
        [
            ip.to_string(),
            t.to_owned(),
            format!("{t}\n"),
            format!("{t}{cidr}"),
        ]
    });
    let mut forms: Vec<String> = ids
        .iter()
        .flat_map(|(kind, raw)| identifier_forms(*kind, raw, default_country))
        .chain(ip_forms)
        .collect();
    forms.extend(joined_forms(ids, default_country));
    forms.sort_unstable();
    forms.dedup();
    forms
}

/// The event's email joined to its phone number, the way a "match key"
/// is built from both (`jane.doe@example.com|+12065550100`): the normalized
/// address and the E.164 number (with and without `+`), in both orders,
/// with no separator or one of `|`, `,`, `:`, `;`, a blank or a tab.
fn joined_forms(
    ids: &[(Kind, Cow<'_, str>)],
    default_country: Option<phonenumber::country::Id>,
) -> Vec<String> {
    let of = |k: Kind| {
        ids.iter()
            .filter(|(kind, _)| *kind == k)
            .filter_map(|(kind, raw)| identity::normalize_with(*kind, raw, default_country))
            .map(Cow::into_owned)
            .collect::<Vec<String>>()
    };
    let (emails, phones) = (of(Kind::Email), of(Kind::Phone));
    let mut out = Vec::new();
    for e in &emails {
        for p in &phones {
            for p in [p.as_str(), p.trim_start_matches('+')] {
                for sep in ["", "|", ",", ":", ";", " ", "\t"] {
                    out.push(format!("{e}{sep}{p}"));
                    out.push(format!("{p}{sep}{e}"));
                }
            }
        }
    }
    out
}

/// The unkeyed digests of an event's identifiers and IPs, and the skeleton
/// of every encoding of each (about 400 kB for an event with four
/// identifiers), one text per alphabet.
///
/// The digests are taken once per event, the first time an output value
/// could hold one; an encoding's text is written the first time a value
/// could be in it (a UUID campaign id cannot be in base32, a camel-case
/// placement cannot be in hex). The encodings are ASCII, so each skeleton
/// (lowercase letters and digits, `+/=` dropped) is written straight into
/// its text, without the Unicode skeleton of [`skeleton_of_canonical`] or
/// a string per encoding: building one text that way, and reading all of
/// it with an automaton for every value, was 3.4 ms per event; this is a
/// sixth of that, most of it the hashing.
struct Digests {
    /// Every digest of every form ([`push_digests`]), [`FORM_DIGEST_BYTES`]
    /// per form, in the order of [`DIGEST_LENS`].
    raw: Vec<u8>,
    /// The skeletons of the encodings, one after another with a `\n`
    /// between (no skeleton has one), by [`DigestAlphabet`].
    texts: [Option<Vec<u8>>; DigestAlphabet::ALL.len()],
}

/// The alphabets the digests are written in, by the characters their
/// skeletons hold: a 12-character window holding any other character
/// cannot be in that text, which is then not read for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigestAlphabet {
    /// Hex: `[0-9a-f]`.
    Hex,
    /// base32 (RFC 4648, no padding), lowercased: `[a-z2-7]`.
    Base32,
    /// base64 (any of its alphabets: the skeleton drops `+/-_=` and case)
    /// and, for the [`COMMON_DIGESTS`], the [`NUMBER_ALPHABETS`]: any
    /// lowercase letter or digit.
    Alnum,
}

impl DigestAlphabet {
    const ALL: [DigestAlphabet; 3] = [
        DigestAlphabet::Hex,
        DigestAlphabet::Base32,
        DigestAlphabet::Alnum,
    ];

    /// Can the skeleton of this encoding hold the byte `c`?
    fn holds(self, c: u8) -> bool {
        match self {
            DigestAlphabet::Hex => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
            DigestAlphabet::Base32 => matches!(c, b'a'..=b'z' | b'2'..=b'7'),
            DigestAlphabet::Alnum => c.is_ascii_digit() || c.is_ascii_lowercase(),
        }
    }
}

impl Digests {
    fn of(
        ids: &[(Kind, Cow<'_, str>)],
        ips: &[Cow<'_, str>],
        default_country: Option<phonenumber::country::Id>,
    ) -> Digests {
        let forms = digest_forms(ids, ips, default_country);
        let bytes = byte_forms(ids, ips, default_country);
        let mut raw = Vec::with_capacity((forms.len() + bytes.len()) * FORM_DIGEST_BYTES);
        for f in &forms {
            push_digests(f.as_bytes(), &mut raw);
        }
        for b in &bytes {
            push_digests(b, &mut raw);
        }
        Digests {
            raw,
            texts: Default::default(),
        }
    }

    /// Each digest, with its index in [`DIGEST_LENS`].
    fn each(raw: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
        raw.chunks_exact(FORM_DIGEST_BYTES).flat_map(|form| {
            let mut at = 0;
            DIGEST_LENS.iter().enumerate().map(move |(i, &n)| {
                at += n;
                (i, &form[at - n..at])
            })
        })
    }

    /// The skeletons of the encodings in `alphabet`, written the first time
    /// they are asked for.
    fn text(&mut self, alphabet: DigestAlphabet) -> &[u8] {
        let Digests { raw, texts } = self;
        texts[alphabet as usize].get_or_insert_with(|| Digests::write(raw, alphabet))
    }

    fn write(raw: &[u8], alphabet: DigestAlphabet) -> Vec<u8> {
        // Characters per digest byte, and the `\n`s.
        let per_byte = match alphabet {
            DigestAlphabet::Hex => 2.0,
            DigestAlphabet::Base32 => 1.6,
            DigestAlphabet::Alnum => 1.9,
        };
        let mut text = Vec::with_capacity((raw.len() as f64 * per_byte) as usize + raw.len() / 8);
        for (i, d) in Digests::each(raw) {
            match alphabet {
                DigestAlphabet::Hex => {
                    push_hex(d, &mut text);
                    // The common digests' hex also written backwards (a
                    // digest reversed to pass as another value).
                    if i < COMMON_DIGESTS {
                        text.push(b'\n');
                        let at = text.len();
                        push_hex(d, &mut text);
                        text[at..].reverse();
                    }
                }
                DigestAlphabet::Base32 => push_base32(d, &mut text),
                DigestAlphabet::Alnum => {
                    push_base64(d, &mut text);
                    // The big-number alphabets for the digests producers
                    // use most (they cost more to write than all the
                    // others).
                    if i < COMMON_DIGESTS {
                        for a in NUMBER_ALPHABETS {
                            text.push(b'\n');
                            push_number(a, d, &mut text);
                        }
                    }
                }
            }
            text.push(b'\n');
        }
        text
    }
}

/// Appends `d` in lowercase hex.
fn push_hex(d: &[u8], text: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let at = text.len();
    text.resize(at + 2 * d.len(), 0);
    for (out, b) in text[at..].chunks_exact_mut(2).zip(d) {
        out[0] = DIGITS[usize::from(b >> 4)];
        out[1] = DIGITS[usize::from(b & 15)];
    }
}

/// Appends the skeleton of `d` in base32 (RFC 4648, without padding): its
/// characters lowercased, 8 for each 5 bytes, the last group's cut to the
/// characters its bits fill.
fn push_base32(d: &[u8], text: &mut Vec<u8>) {
    const DIGITS: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let groups = d.chunks_exact(5);
    let last = groups.remainder();
    let at = text.len();
    text.resize(at + 8 * d.len().div_ceil(5), 0);
    let write = |out: &mut [u8], group: [u8; 5]| {
        let bits = group.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
        for (k, o) in out.iter_mut().enumerate() {
            *o = DIGITS[(bits >> (35 - 5 * k) & 31) as usize];
        }
    };
    let mut outs = text[at..].chunks_exact_mut(8);
    for (group, out) in groups.zip(outs.by_ref()) {
        write(out, group.try_into().expect("5 bytes"));
    }
    if let Some(out) = outs.next() {
        let mut group = [0u8; 5];
        group[..last.len()].copy_from_slice(last);
        write(out, group);
    }
    text.truncate(at + (8 * d.len()).div_ceil(5));
}

/// Appends the skeleton of `d` in base64, any of its alphabets: its
/// letters and digits lowercased, 4 for each 3 bytes (the last group's
/// cut to the characters its bits fill), but the two values written `+/`
/// (base64url: `-_`), which the skeleton drops with the padding.
fn push_base64(d: &[u8], text: &mut Vec<u8>) {
    const DIGITS: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789++";
    let groups = d.chunks_exact(3);
    let last = groups.remainder();
    let at = text.len();
    text.resize(at + 4 * d.len().div_ceil(3), 0);
    let out = &mut text[at..];
    let mut kept = 0;
    let mut write = |group: [u8; 3], chars: usize| {
        let bits = group.iter().fold(0u32, |n, b| n << 8 | u32::from(*b));
        for k in 0..chars {
            let v = (bits >> (18 - 6 * k) & 63) as usize;
            // Written, then kept only when it is a letter or digit: no
            // branch on where a `+` or `/` falls.
            out[kept] = DIGITS[v];
            kept += usize::from(v < 62);
        }
    };
    for group in groups {
        write(group.try_into().expect("3 bytes"), 4);
    }
    if !last.is_empty() {
        let mut group = [0u8; 3];
        group[..last.len()].copy_from_slice(last);
        write(group, last.len() + 1);
    }
    text.truncate(at + kept);
}

/// Appends `d` written as a big-endian number in `alphabet` (one of
/// [`NUMBER_ALPHABETS`]), lowercased: `base_x::encode`'s characters, the
/// most significant digit first and the alphabet's first character for
/// each leading zero byte but the last. Divided by constants (a multiply,
/// not a division, for each limb) and without a string each: about half
/// of what the general encoder took.
fn push_number(alphabet: &str, d: &[u8], text: &mut Vec<u8>) {
    match alphabet.len() {
        58 => push_in_base::<58>(alphabet.as_bytes(), d, text),
        62 => push_in_base::<62>(alphabet.as_bytes(), d, text),
        36 => push_in_base::<36>(alphabet.as_bytes(), d, text),
        n => unreachable!("no {n}-character number alphabet"),
    }
}

fn push_in_base<const BASE: u64>(alphabet: &[u8], d: &[u8], text: &mut Vec<u8>) {
    // The largest power of BASE a limb holds: the number is divided by it,
    // one limb at a time, giving that many digits at once.
    let (per_step, step) = const {
        let (mut k, mut p) = (0, 1u64);
        while p * BASE <= u32::MAX as u64 {
            p *= BASE;
            k += 1;
        }
        (k, p)
    };
    if d.is_empty() {
        return;
    }
    // Big-endian 32-bit limbs, the first one short.
    let n = d.len().div_ceil(4);
    let mut be = [0u8; 64];
    be[4 * n - d.len()..4 * n].copy_from_slice(d);
    let mut limbs = [0u32; 16];
    for (l, b) in limbs.iter_mut().zip(be[..4 * n].chunks_exact(4)) {
        *l = u32::from_be_bytes(b.try_into().expect("4 bytes"));
    }
    // The digits, least significant first.
    let mut digits = [0u8; 64 * 8 / 5 + 64];
    let mut m = 0;
    let mut top = 0;
    loop {
        let mut rem = 0u64;
        for l in &mut limbs[top..n] {
            let cur = rem << 32 | u64::from(*l);
            *l = (cur / step) as u32;
            rem = cur % step;
        }
        while top < n && limbs[top] == 0 {
            top += 1;
        }
        if top == n {
            // The last: its digits up to the most significant, at least one.
            loop {
                digits[m] = alphabet[(rem % BASE) as usize];
                m += 1;
                rem /= BASE;
                if rem == 0 {
                    break;
                }
            }
            break;
        }
        for _ in 0..per_step {
            digits[m] = alphabet[(rem % BASE) as usize];
            m += 1;
            rem /= BASE;
        }
    }
    let zeros = d[..d.len() - 1].iter().take_while(|b| **b == 0).count();
    text.extend(std::iter::repeat_n(alphabet[0].to_ascii_lowercase(), zeros));
    text.extend(digits[..m].iter().rev().map(u8::to_ascii_lowercase));
}

/// The 12-character windows of a view's skeleton, ready to be looked for
/// in the digest texts ([`Windows::found_in`]).
///
/// Rather than an automaton of every window reading every byte of a text
/// (half of the digest comparison's time, and building it a tenth), the
/// text is read at every [`GRAM_STRIDE`]-th byte only, the [`GRAM`] bytes
/// there looked up among the skeleton's own: a window that occurs in the
/// text spans 12 bytes, so one of those reads falls wholly inside it, on
/// a gram of the window. Where a gram matches, the text and the skeleton
/// are compared either side of it: a hit is 12 equal bytes, exactly the
/// windows the automaton found, no more.
struct Windows<'a> {
    sk: &'a [u8],
    /// Which digest texts could hold one of the windows: those whose
    /// alphabet holds every byte of one of them ([`DigestAlphabet`]).
    alphabets: [bool; DigestAlphabet::ALL.len()],
    /// Every [`GRAM`] bytes of `sk` inside a window of lowercase ASCII
    /// letters and digits (no other window can be in a text), as a
    /// number, with where it starts in `sk`; sorted.
    grams: Vec<(u32, u32)>,
    /// One bit per gram, at its hash ([`Windows::bit`]): most reads of the
    /// text end with one bit looked at.
    filter: Vec<u64>,
    /// The hash's shift to as many bits as the filter holds.
    shift: u32,
}

/// Bytes of a text looked up at a time ([`Windows`]).
const GRAM: usize = 4;
/// The text is read at every this many bytes: every 12-byte stretch of it
/// holds the [`GRAM`] bytes read at one of them.
const GRAM_STRIDE: usize = MIN_DIGEST_CHARS - GRAM + 1;

impl<'a> Windows<'a> {
    fn of(sk: &'a [u8]) -> Windows<'a> {
        let mut alphabets = [false; DigestAlphabet::ALL.len()];
        let mut runs = [0usize; DigestAlphabet::ALL.len()];
        let mut grams = Vec::new();
        for (i, &c) in sk.iter().enumerate() {
            for (a, run) in DigestAlphabet::ALL.into_iter().zip(&mut runs) {
                *run = if a.holds(c) { *run + 1 } else { 0 };
                alphabets[a as usize] |= *run >= MIN_DIGEST_CHARS;
            }
            // At the end of a run of letters and digits long enough to be
            // a window, its grams.
            let alnum = runs[DigestAlphabet::Alnum as usize];
            let ends = sk
                .get(i + 1)
                .is_none_or(|c| !DigestAlphabet::Alnum.holds(*c));
            if ends && alnum >= MIN_DIGEST_CHARS {
                let start = i + 1 - alnum;
                for j in start..=i + 1 - GRAM {
                    grams.push((gram(&sk[j..j + GRAM]), j as u32));
                }
            }
        }
        grams.sort_unstable();
        // About 32 bits per gram: a read of the text that is not a gram of
        // the skeleton finds its bit clear 31 times in 32.
        let bits = (grams.len() * 32)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 22);
        let mut filter = vec![0u64; bits / 64];
        let shift = 64 - bits.trailing_zeros();
        for &(g, _) in &grams {
            let b = Windows::bit(g, shift);
            filter[b / 64] |= 1 << (b % 64);
        }
        Windows {
            sk,
            alphabets,
            grams,
            filter,
            shift,
        }
    }

    fn bit(g: u32, shift: u32) -> usize {
        (u64::from(g).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    /// Does one of the windows occur in `text`?
    fn found_in(&self, text: &[u8]) -> bool {
        let mut t = 0;
        while let Some(at) = text.get(t..t + GRAM) {
            let g = gram(at);
            let b = Windows::bit(g, self.shift);
            if self.filter[b / 64] & (1 << (b % 64)) != 0 && self.extends_to_a_window(text, t, g) {
                return true;
            }
            t += GRAM_STRIDE;
        }
        false
    }

    /// Is the gram `g`, at `t` in `text`, part of 12 bytes the text and
    /// the skeleton share, for one of the places `g` is in the skeleton?
    fn extends_to_a_window(&self, text: &[u8], t: usize, g: u32) -> bool {
        let from = self.grams.partition_point(|(k, _)| *k < g);
        let more = MIN_DIGEST_CHARS - GRAM;
        self.grams[from..]
            .iter()
            .take_while(|(k, _)| *k == g)
            .any(|&(_, j)| {
                let j = j as usize;
                let before = text[..t]
                    .iter()
                    .rev()
                    .zip(self.sk[..j].iter().rev())
                    .take(more)
                    .take_while(|(a, b)| a == b)
                    .count();
                let after = text[t + GRAM..]
                    .iter()
                    .zip(&self.sk[j + GRAM..])
                    .take(more)
                    .take_while(|(a, b)| a == b)
                    .count();
                before + GRAM + after >= MIN_DIGEST_CHARS
            })
    }
}

/// [`GRAM`] bytes as one number.
fn gram(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("a gram's bytes"))
}

/// The unkeyed digests a partner or an attacker could take of `b`,
/// appended to `out` one after another ([`DIGEST_LENS`]): the SHA-2 family
/// (also SHA-512/224 and /256, and SHA-256 taken twice as Bitcoin does),
/// SHA-1, MD5, SHA-3 (and Keccak-256, SHAKE128/256), BLAKE2 at the output
/// lengths libraries offer (BLAKE2b-128, 160, 224, 256, 384, 512;
/// BLAKE2s-128, 160, 256), BLAKE3, RIPEMD-160, SM3, and HMAC-SHA256,
/// HMAC-SHA1 and HMAC-MD5 under an empty key. A shorter SHAKE output is a
/// prefix of the 64 bytes taken here, and every window of it is looked
/// for. The first [`COMMON_DIGESTS`] are the ones producers use most:
/// SHA-256 (also taken twice), SHA-1 and MD5. Written in place, not a
/// vector per digest (31 allocations per form).
fn push_digests(b: &[u8], out: &mut Vec<u8>) {
    use blake2::digest::consts::{U16, U20, U32, U48};
    use sha3::digest::{ExtendableOutput, Update as _, XofReader};
    let start = out.len();
    let sha256 = Sha256::digest(b);
    out.extend_from_slice(&sha256);
    out.extend_from_slice(&Sha256::digest(sha256));
    out.extend_from_slice(&Sha1::digest(b));
    out.extend_from_slice(&Md5::digest(b));
    out.extend_from_slice(&Sha512::digest(b));
    out.extend_from_slice(&Sha224::digest(b));
    out.extend_from_slice(&Sha384::digest(b));
    out.extend_from_slice(&sha2::Sha512_224::digest(b));
    out.extend_from_slice(&sha2::Sha512_256::digest(b));
    out.extend_from_slice(&sha3::Sha3_224::digest(b));
    out.extend_from_slice(&sha3::Sha3_256::digest(b));
    out.extend_from_slice(&sha3::Sha3_384::digest(b));
    out.extend_from_slice(&sha3::Sha3_512::digest(b));
    out.extend_from_slice(&sha3::Keccak256::digest(b));
    fn read_64(mut r: impl XofReader) -> [u8; 64] {
        let mut d = [0u8; 64];
        r.read(&mut d);
        d
    }
    let mut h = sha3::Shake128::default();
    h.update(b);
    out.extend_from_slice(&read_64(h.finalize_xof()));
    let mut h = sha3::Shake256::default();
    h.update(b);
    out.extend_from_slice(&read_64(h.finalize_xof()));
    out.extend_from_slice(&blake2::Blake2b::<U20>::digest(b));
    out.extend_from_slice(&blake2::Blake2b::<U32>::digest(b));
    out.extend_from_slice(&blake2::Blake2b::<U48>::digest(b));
    out.extend_from_slice(&blake2::Blake2b512::digest(b));
    out.extend_from_slice(&blake2::Blake2s::<U16>::digest(b));
    out.extend_from_slice(&blake2::Blake2s256::digest(b));
    out.extend_from_slice(&ripemd::Ripemd160::digest(b));
    out.extend_from_slice(&sm3::Sm3::digest(b));
    // HMAC-SHA256 under an empty key: keyed in name only, as linkable as
    // SHA-256 (seventh red-team pass).
    {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<Sha256>::new_from_slice(&[]).expect("HMAC takes any key length");
        hmac::Mac::update(&mut m, b);
        out.extend_from_slice(&m.finalize().into_bytes());
    }
    // The eleventh red-team pass: BLAKE2 at the other lengths libraries
    // offer, HMAC-SHA1 and HMAC-MD5 under an empty key, and BLAKE3.
    {
        use blake2::digest::consts::U28;
        use hmac::Mac as _;
        out.extend_from_slice(&blake2::Blake2b::<U16>::digest(b));
        out.extend_from_slice(&blake2::Blake2b::<U28>::digest(b));
        out.extend_from_slice(&blake2::Blake2s::<U20>::digest(b));
        let mut m = hmac::Hmac::<Sha1>::new_from_slice(&[]).expect("HMAC takes any key length");
        hmac::Mac::update(&mut m, b);
        out.extend_from_slice(&m.finalize().into_bytes());
        let mut m = hmac::Hmac::<Md5>::new_from_slice(&[]).expect("HMAC takes any key length");
        hmac::Mac::update(&mut m, b);
        out.extend_from_slice(&m.finalize().into_bytes());
        out.extend_from_slice(blake3::hash(b).as_bytes());
    }
    debug_assert_eq!(out.len() - start, FORM_DIGEST_BYTES);
}

/// The length of each of [`push_digests`]' digests, in its order.
const DIGEST_LENS: [usize; 31] = [
    32, 32, 20, 16, 64, 28, 48, 28, 32, 28, 32, 48, 64, 32, 64, 64, 20, 32, 48, 64, 16, 32, 20, 32,
    32, 16, 28, 20, 20, 16, 32,
];

/// The bytes of every digest of one form.
const FORM_DIGEST_BYTES: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < DIGEST_LENS.len() {
        n += DIGEST_LENS[i];
        i += 1;
    }
    n
};

/// How many of [`push_digests`]' digests come first as the common ones.
const COMMON_DIGESTS: usize = 4;

/// The big-number alphabets a digest is also written in: Bitcoin's base58,
/// base62 and base36 (the skeleton lowercases, so an alphabet's other
/// letter order gives the same windows).
const NUMBER_ALPHABETS: [&str; 3] = [
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz",
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuvwxyz",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tel_uri_with_its_phone_context_is_read_whole() {
        assert_eq!(
            tel_with_context("call tel:555-0100;phone-context=+1-206 now").as_deref(),
            Some("call tel:+1-206 555-0100 now")
        );
        assert_eq!(
            tel_with_context("TEL:7946-0958;Phone-Context=+44-20").as_deref(),
            Some("TEL:+44-20 7946-0958")
        );
        assert_eq!(tel_with_context("tel:+12065550100"), None);
        assert_eq!(tel_with_context(";phone-context=example.com"), None);
        assert!(scan("tel:555-0123;phone-context=+1-415").is_some());
    }

    #[test]
    fn a_host_is_read_without_its_port() {
        assert_eq!(
            without_ports("https://shop.example:443/checkout").as_deref(),
            Some("https://shop.example/checkout")
        );
        assert_eq!(
            without_ports("shop.example:8080").as_deref(),
            Some("shop.example")
        );
        assert_eq!(without_ports("at 10:30/11:00"), None);
        assert_eq!(without_ports("key:value"), None);
    }

    #[test]
    fn mixed_phone_groupings_are_digest_forms() {
        let forms = identifier_forms(Kind::Phone, "+1 206 555 0100", None);
        for f in [
            "+1 2065550100",
            "+1-2065550100",
            "206 5550100",
            "(206) 555 0100",
            "(206)5550100",
            "1 (206) 555-0100",
            "tel:2065550100",
        ] {
            assert!(forms.iter().any(|x| x == f), "{f}");
        }
        let forms = identifier_forms(Kind::Email, "Jane.Doe@Example.com", None);
        for f in [
            "jane.doe@example.com.",
            "\u{feff}jane.doe@example.com",
            "<jane.doe@example.com>",
            "JANE.DOE@EXAMPLE.COM\r\n",
        ] {
            assert!(forms.iter().any(|x| x == f), "{f:?}");
        }
    }

    /// The reference for [`Digests`]: the digest comparison's text as it was
    /// first written, every encoding of every digest of every form through
    /// the generic skeleton, one string and one vector at a time.
    fn reference_digest_text(
        ids: &[(Kind, Cow<'_, str>)],
        ips: &[Cow<'_, str>],
        default_country: Option<phonenumber::country::Id>,
    ) -> Vec<u8> {
        use base64::engine::general_purpose::STANDARD;
        let mut text = Vec::with_capacity(512 * 1024);
        let mut add = |encoded: &str| {
            text.extend_from_slice(skeleton_of_canonical(encoded).as_bytes());
            text.push(b'\n');
        };
        let ip_forms = ips.iter().flat_map(|ip| {
            let t = ip.trim();
            let cidr = if t.contains(':') { "/128" } else { "/32" };
            [
                ip.to_string(),
                t.to_owned(),
                format!("{t}\n"),
                format!("{t}{cidr}"),
            ]
        });
        let forms = ids
            .iter()
            .flat_map(|(kind, raw)| identifier_forms(*kind, raw, default_country))
            .chain(ip_forms)
            .chain(joined_forms(ids, default_country))
            .map(String::into_bytes);
        // The UTF-16 forms, a UUID's bytes and an IP's (see byte_forms),
        // spelled out here.
        let mut bytes = ip_bytes(ips);
        for (kind, raw) in ids {
            let t = raw.trim();
            let mut texts: Vec<String> = vec![t.into(), t.to_lowercase(), t.to_uppercase()];
            texts
                .extend(identity::normalize_with(*kind, raw, default_country).map(Cow::into_owned));
            texts.sort();
            texts.dedup();
            for text in texts {
                let units: Vec<u16> = text.encode_utf16().collect();
                let le: Vec<u8> = units
                    .iter()
                    .flat_map(|u| [*u as u8, (*u >> 8) as u8])
                    .collect();
                bytes.push([vec![0xff, 0xfe], le.clone()].concat());
                bytes.push(le);
                bytes.push(
                    units
                        .iter()
                        .flat_map(|u| [(*u >> 8) as u8, *u as u8])
                        .collect(),
                );
            }
            let hexits: String = t.chars().filter(|c| *c != '-').collect();
            if hexits.len() == 32 && hexits.chars().all(|c| c.is_ascii_hexdigit()) {
                let b: Vec<u8> = (0..16)
                    .map(|i| u8::from_str_radix(&hexits[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                let mut guid = b.clone();
                guid[0..4].reverse();
                guid[4..6].reverse();
                guid[6..8].reverse();
                bytes.push(b);
                bytes.push(guid);
            }
        }
        for f in forms.chain(bytes) {
            for (i, d) in reference_digests_of(&f).into_iter().enumerate() {
                add(&hex(&d));
                // base64url differs from base64 only in `+/`, which the
                // skeleton removes; the skeleton is lowercase, so base32 and
                // base64 match in any case.
                add(&STANDARD.encode(&d));
                add(&data_encoding::BASE32_NOPAD.encode(&d));
                // The big-number alphabets for the digests producers use
                // most (they cost more to write than all the others).
                if i < COMMON_DIGESTS {
                    for alphabet in NUMBER_ALPHABETS {
                        add(&base_x::encode(alphabet, &d));
                    }
                    // And their hex backwards.
                    add(&hex(&d).chars().rev().collect::<String>());
                }
            }
        }
        text
    }

    /// The reference for [`push_digests`], a vector per digest: the unkeyed
    /// digests a partner or an attacker could take of `b`: the
    /// SHA-2 family (also SHA-512/224 and /256, and SHA-256 taken twice as
    /// Bitcoin does), SHA-1, MD5, SHA-3 (and Keccak-256, SHAKE128/256), BLAKE2
    /// at the output lengths libraries default to (libsodium's BLAKE2b-256,
    /// 160, 384, 512; BLAKE2s-128, 256), RIPEMD-160 and SM3. A shorter SHAKE
    /// output is a prefix of the 64 bytes taken here, and every window of it
    /// is looked for.
    /// The first [`COMMON_DIGESTS`] are the ones producers use most: SHA-256
    /// (also taken twice), SHA-1 and MD5.
    fn reference_digests_of(b: &[u8]) -> Vec<Vec<u8>> {
        use blake2::digest::consts::{U16, U20, U32, U48};
        use sha3::digest::{ExtendableOutput, Update as _, XofReader};
        let shake = |mut h: Box<dyn XofReader>| {
            let mut out = vec![0u8; 64];
            h.read(&mut out);
            out
        };
        vec![
            Sha256::digest(b).to_vec(),
            Sha256::digest(Sha256::digest(b)).to_vec(),
            Sha1::digest(b).to_vec(),
            Md5::digest(b).to_vec(),
            Sha512::digest(b).to_vec(),
            Sha224::digest(b).to_vec(),
            Sha384::digest(b).to_vec(),
            sha2::Sha512_224::digest(b).to_vec(),
            sha2::Sha512_256::digest(b).to_vec(),
            sha3::Sha3_224::digest(b).to_vec(),
            sha3::Sha3_256::digest(b).to_vec(),
            sha3::Sha3_384::digest(b).to_vec(),
            sha3::Sha3_512::digest(b).to_vec(),
            sha3::Keccak256::digest(b).to_vec(),
            shake({
                let mut h = sha3::Shake128::default();
                h.update(b);
                Box::new(h.finalize_xof())
            }),
            shake({
                let mut h = sha3::Shake256::default();
                h.update(b);
                Box::new(h.finalize_xof())
            }),
            blake2::Blake2b::<U20>::digest(b).to_vec(),
            blake2::Blake2b::<U32>::digest(b).to_vec(),
            blake2::Blake2b::<U48>::digest(b).to_vec(),
            blake2::Blake2b512::digest(b).to_vec(),
            blake2::Blake2s::<U16>::digest(b).to_vec(),
            blake2::Blake2s256::digest(b).to_vec(),
            ripemd::Ripemd160::digest(b).to_vec(),
            sm3::Sm3::digest(b).to_vec(),
            {
                use hmac::Mac as _;
                let mut m = hmac::Hmac::<Sha256>::new_from_slice(b"").unwrap();
                hmac::Mac::update(&mut m, b);
                m.finalize().into_bytes().to_vec()
            },
            blake2::Blake2b::<U16>::digest(b).to_vec(),
            blake2::Blake2b::<blake2::digest::consts::U28>::digest(b).to_vec(),
            blake2::Blake2s::<U20>::digest(b).to_vec(),
            {
                use hmac::Mac as _;
                let mut m = hmac::Hmac::<Sha1>::new_from_slice(b"").unwrap();
                hmac::Mac::update(&mut m, b);
                m.finalize().into_bytes().to_vec()
            },
            {
                use hmac::Mac as _;
                let mut m = hmac::Hmac::<Md5>::new_from_slice(b"").unwrap();
                hmac::Mac::update(&mut m, b);
                m.finalize().into_bytes().to_vec()
            },
            blake3::hash(b).as_bytes().to_vec(),
        ]
    }

    /// Does one of the 12-byte windows of `sk` occur in the reference
    /// text? Every window of the text in a set, every window of `sk`
    /// looked up: the comparison by its definition.
    fn reference_shares_a_window(sk: &[u8], windows: &HashSet<&[u8]>) -> bool {
        sk.windows(MIN_DIGEST_CHARS).any(|w| windows.contains(w))
    }

    use std::collections::HashSet;

    /// Guards whose digest texts the equivalence tests compare with the
    /// reference: a phone, a UUID device id, an email and IPv4; an email,
    /// a phone and an account id; an IPv6 address and an IPv4 address sent
    /// with blanks (its forms differ from its trimmed ones).
    fn digest_guards() -> Vec<Protected<'static>> {
        let mut other = with_ids(&[
            (
                Kind::Email,
                "Jane.Doe@Example.com",
                Some("jane.doe@example.com"),
            ),
            (Kind::Phone, "+1 206 555 0100", Some("+12065550100")),
            (Kind::AccountId, "ACCT-77-Secret", None),
        ]);
        other.add_ip(Cow::Borrowed("2001:db8:85a3::8a2e:370:7334"));
        other.add_ip(Cow::Borrowed(" 198.51.100.23 "));
        vec![jane(), other]
    }

    #[test]
    fn digests_are_the_reference_digests() {
        for b in [
            &b""[..],
            b"jane.doe@example.com",
            &[0u8; 200],
            b"+12065550100\n",
        ] {
            let mut raw = Vec::new();
            push_digests(b, &mut raw);
            let want = reference_digests_of(b);
            assert_eq!(
                want.iter().map(Vec::len).collect::<Vec<_>>(),
                DIGEST_LENS.to_vec()
            );
            assert_eq!(raw, want.concat());
            let each: Vec<(usize, &[u8])> = Digests::each(&raw).collect();
            let want: Vec<(usize, &[u8])> = want.iter().map(Vec::as_slice).enumerate().collect();
            assert_eq!(each, want);
        }
    }

    /// The three texts hold the reference text's encodings, no other: the
    /// same lines (each form once, so not as many times over).
    #[test]
    fn digest_texts_are_the_reference_text() {
        for mut g in digest_guards() {
            let reference = reference_digest_text(&g.identifiers, &g.ips, g.default_country);
            let want: HashSet<&[u8]> = reference.split(|c| *c == b'\n').collect();
            let mut d = Digests::of(&g.identifiers, &g.ips, g.default_country);
            let mut got: HashSet<Vec<u8>> = HashSet::new();
            for a in DigestAlphabet::ALL {
                let text = d.text(a);
                assert_eq!(text.last(), Some(&b'\n'));
                for line in text[..text.len() - 1].split(|c| *c == b'\n') {
                    assert!(
                        line.iter().all(|c| a.holds(*c)),
                        "{a:?} {}",
                        String::from_utf8_lossy(line)
                    );
                    got.insert(line.to_vec());
                }
            }
            let got: HashSet<&[u8]> = got.iter().map(Vec::as_slice).collect();
            let want: HashSet<&[u8]> = want.into_iter().filter(|l| !l.is_empty()).collect();
            assert_eq!(got.len(), want.len());
            assert!(got == want);
            // Each text is written once.
            let before = d.text(DigestAlphabet::Hex).as_ptr();
            assert_eq!(d.text(DigestAlphabet::Hex).as_ptr(), before);
            // Nothing is asked of an event without identifiers.
            g.identifiers.clear();
            g.ips.clear();
            assert!(!g.shares_a_digest_window(&reference[..40]));
        }
    }

    /// Candidates for the digest comparison, from the reference text
    /// `lines` and `rng`: cut digests of every encoding at any offset and
    /// length, as written (upper case, `+/=`) and as skeletons, one byte
    /// off, across two encodings, inside other text, next to non-ASCII
    /// letters; UUIDs, camel-case words, random hex, base64 and letters.
    fn digest_candidates(lines: &[&[u8]], rng: &mut rand::rngs::StdRng) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use rand::Rng as _;
        let alnum = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let words = [
            "Homepage",
            "Top",
            "Banner",
            "Winter",
            "Sale",
            "Sidebar",
            "Video",
            "Preroll",
            "Footer",
            "Leaderboard",
            "Mobile",
            "Sticky",
            "Native",
            "Feed",
            "Article",
        ];
        let pick = |rng: &mut rand::rngs::StdRng, set: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| set[rng.gen_range(0..set.len())] as char)
                .collect()
        };
        let fragment = |rng: &mut rand::rngs::StdRng, min: usize| -> String {
            loop {
                let l = lines[rng.gen_range(0..lines.len())];
                if l.len() < min {
                    continue;
                }
                let len = rng.gen_range(min..=l.len().min(min + 30));
                let at = rng.gen_range(0..=l.len() - len);
                return String::from_utf8(l[at..at + len].to_vec()).unwrap();
            }
        };
        let mut out = Vec::new();
        for _ in 0..400 {
            let f = fragment(rng, 12);
            // As is, in upper case, with random case, split by `-+/=`.
            out.push(f.clone());
            out.push(f.to_uppercase());
            let mixed: String = f
                .chars()
                .map(|c| {
                    if rng.gen_bool(0.5) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            out.push(mixed);
            let mut split = f.clone();
            let at = rng.gen_range(1..split.len());
            split.insert(at, ['-', '+', '/', '=', '_'][rng.gen_range(0..5)]);
            out.push(split);
            // Inside other text, or one byte off (11 of 12 right).
            out.push(format!("{}{f}{}", pick(rng, alnum, 5), pick(rng, alnum, 3)));
            let mut off = fragment(rng, 12).into_bytes();
            let at = rng.gen_range(0..off.len());
            off[at] = alnum
                .iter()
                .copied()
                .find(|c| *c != off[at] && rng.gen_bool(0.2))
                .unwrap_or(b'x');
            out.push(String::from_utf8(off).unwrap());
            let short = fragment(rng, 11);
            out.push(short[..11].to_string());
            // Two encodings' ends joined: 12 bytes of neither.
            let (a, b) = (fragment(rng, 12), fragment(rng, 12));
            out.push(format!("{}{}", &a[a.len() - 6..], &b[..6]));
            // Next to a letter the skeleton keeps but no encoding has.
            let mut accented = fragment(rng, 13);
            let at = rng.gen_range(0..=accented.len());
            accented.insert(at, ['\u{e9}', '\u{df}', '\u{3b1}'][rng.gen_range(0..3)]);
            out.push(accented);
            // Values that look like digests and are not.
            out.push(format!(
                "{}-{}-4{}-{}-{}",
                pick(rng, b"0123456789abcdef", 8),
                pick(rng, b"0123456789abcdef", 4),
                pick(rng, b"0123456789abcdef", 3),
                pick(rng, b"89ab", 1) + &pick(rng, b"0123456789abcdef", 3),
                pick(rng, b"0123456789abcdef", 12),
            ));
            let n = rng.gen_range(2..5);
            out.push(
                (0..n)
                    .map(|_| words[rng.gen_range(0..words.len())])
                    .collect(),
            );
            let n = rng.gen_range(12..48);
            out.push(pick(rng, b"0123456789abcdef", n));
            let n = rng.gen_range(12..48);
            out.push(pick(rng, b64, n));
            let n = rng.gen_range(12..48);
            out.push(pick(rng, alnum, n));
            let n = rng.gen_range(12..48);
            out.push(pick(rng, b"abcdefghijklmnopqrstuvwxyz234567", n));
            // A digest of something, in a few encodings, cut.
            let d = Sha256::digest(pick(rng, alnum, 10).as_bytes());
            out.push(STANDARD.encode(d)[..20].to_string());
            out.push(URL_SAFE_NO_PAD.encode(d));
            out.push(data_encoding::BASE32.encode(&d));
            out.push(hex(&d)[3..40].to_string());
        }
        out
    }

    /// The digest comparison finds what the reference finds, on every
    /// candidate: the view skeletons of the strings the guard reads, and
    /// each candidate taken as a skeleton as it is.
    #[test]
    fn digest_windows_are_found_as_the_reference_finds_them() {
        use rand::SeedableRng as _;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for mut g in digest_guards() {
            let reference = reference_digest_text(&g.identifiers, &g.ips, g.default_country);
            let windows: HashSet<&[u8]> = reference.windows(MIN_DIGEST_CHARS).collect();
            let lines: Vec<&[u8]> = reference.split(|c| *c == b'\n').collect();
            let (mut hits, mut misses) = (0, 0);
            for s in digest_candidates(&lines, &mut rng) {
                let r = Reading::of(&s);
                let skeletons = r
                    .views
                    .iter()
                    .map(|v| v.skeleton.as_bytes())
                    .chain([s.as_bytes()]);
                for sk in skeletons.filter(|sk| sk.len() >= MIN_DIGEST_CHARS) {
                    let want = reference_shares_a_window(sk, &windows);
                    // Afresh, and from the event's memo.
                    g.digest_verdicts.clear();
                    assert_eq!(g.shares_a_digest_window(sk), want, "{s:?}");
                    if want {
                        hits += 1;
                    } else {
                        misses += 1;
                    }
                }
                let digest_view = r.views.iter().any(|v| {
                    v.digest && reference_shares_a_window(v.skeleton.as_bytes(), &windows)
                });
                if digest_view {
                    assert_eq!(g.check(&r), Some(Hit::OwnIdentifier), "{s:?}");
                }
            }
            assert!(hits > 2000 && misses > 2000, "{hits} {misses}");
        }
    }

    /// Each encoding written in place is the skeleton of the crates'
    /// encoding, for every length a digest can have and more, leading
    /// zeros, all zeros and all ones.
    #[test]
    fn digest_encodings_are_the_skeletons_of_the_crates_encodings() {
        use base64::engine::general_purpose::STANDARD;
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for len in 0..=64 {
            let random: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let mut lead = random.clone();
            lead.iter_mut().take(3).for_each(|b| *b = 0);
            inputs.extend([random, lead, vec![0; len], vec![0xff; len]]);
        }
        let skeleton = |s: &str| canon::skeleton(s).into_bytes();
        let written = |push: &dyn Fn(&mut Vec<u8>)| {
            let mut v = b"x".to_vec();
            push(&mut v);
            v.split_off(1)
        };
        for d in &inputs {
            let d = &d[..];
            assert_eq!(written(&|t| push_hex(d, t)), hex(d).into_bytes());
            assert_eq!(
                written(&|t| push_base32(d, t)),
                skeleton(&data_encoding::BASE32_NOPAD.encode(d)),
                "{d:?}"
            );
            assert_eq!(
                written(&|t| push_base64(d, t)),
                skeleton(&STANDARD.encode(d)),
                "{d:?}"
            );
            for a in NUMBER_ALPHABETS {
                assert_eq!(
                    written(&|t| push_number(a, d, t)),
                    skeleton(&base_x::encode(a, d)),
                    "{a} {d:?}"
                );
            }
        }
    }

    /// A long value: grams everywhere, a window at its very start and end.
    #[test]
    fn digest_windows_in_long_values_are_found() {
        let mut g = jane();
        let d = hex(&Sha256::digest(b"jane.doe@example.com"));
        let filler: String = (0..5000).map(|i| ["ab", "cd", "ef", "01"][i % 4]).collect();
        for (sk, want) in [
            (format!("{}{filler}", &d[..12]), true),
            (format!("{filler}{}", &d[50..]), true),
            (format!("{filler}{}{filler}", &d[20..32]), true),
            (format!("{filler}{}{filler}", &d[20..31]), false),
            (filler.clone(), false),
        ] {
            assert_eq!(g.shares_a_digest_window(sk.as_bytes()), want);
        }
    }

    #[test]
    fn emails_through_encodings() {
        for s in [
            "jane@example.com",
            "JANE.DOE@EXAMPLE.CO.UK",
            "contact: jane @ example . com",
            "jane%40example.com",
            "jane%2540example.com",
            "jane&#64;example.com",
            "jane&#064;example.com",
            "jane＠example.com",
            "jane@example．com",
            "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
            "jane﹫example.com",
            "jane\u{1}@example.com",
            "\"jane\"@example.com",
            "jane@x.com2026",
            "{\"e\":\"jane\\u0040example.com\"}",
            "amFuZUBleGFtcGxlLmNvbQ==",
            "6a616e65406578616d706c652e636f6d",
            "NJQW4ZKAMV4GC3LQNRSS4Y3PNU",
            "jane(at)example(dot)com",
        ] {
            assert_eq!(scan(s), Some(Hit::Email), "{s}");
        }
        for s in ["@handle", "a@b", "home-top", "c-77", "user@localhost"] {
            assert_eq!(scan(s), None, "{s}");
        }
    }

    #[test]
    fn digits_through_encodings() {
        for s in [
            "4111\u{00ad}1111\u{00ad}1111\u{00ad}1111",
            "4111\u{2060}1111\u{2060}1111\u{2060}1111",
            "４１１１１１１１１１１１１１１１",
            "٤١١١١١١١١١١١١١١١",
            "(206)\u{200b}555-0100",
            "%2B12065550100",
            // Spelled as numerals (sixth red-team pass, rt6-082/133-135).
            "call 四一五五五五〇〇八二",
            "肆壹伍伍伍伍零零捌贰",
            "four one five five five five zero one nine nine",
            "Four-One-Five 555 0199",
            "call four one five triple five oh one four two",
            "contact x.stranger★elsewhere-mail.example",
            "eC4=c3Q=cmE=bmc=ZXI=LjE=MTQ=QGU=bHM=ZXc=aGU=cmU=LW0=YWk=bC4=ZXg=YW0=cGw=ZQ==",
        ] {
            assert!(scan(s).is_some(), "{s}");
        }
        for s in ["one of two", "一个", "top one five", "c-77"] {
            assert!(scan(s).is_none(), "{s}");
        }
    }

    #[test]
    fn an_events_values_are_not_protected_in_the_next_event() {
        // The list's buffer passes from one event to the next on a
        // thread; its values must not.
        let jane = "jane.doe@example.com";
        {
            let mut g = with_ids(&[(Kind::Email, jane, None)]);
            assert_eq!(g.check(&Reading::of(jane)), Some(Hit::OwnIdentifier));
        }
        let mut next = Protected::new(None);
        assert!(next.is_empty());
        assert_eq!(next.check(&Reading::of(jane)), None);
        next.add_identifier(Kind::AccountId, Cow::Borrowed("A0012345"), None);
        assert_eq!(next.check(&Reading::of(jane)), None);
        assert_eq!(
            next.check(&Reading::of("A0012345")),
            Some(Hit::OwnIdentifier)
        );
    }

    /// A guard holding these identifiers: (kind, as sent, normalized).
    fn with_ids(ids: &[(Kind, &'static str, Option<&str>)]) -> Protected<'static> {
        let mut g = Protected::new(None);
        for (kind, raw, normalized) in ids {
            g.add_identifier(*kind, Cow::Borrowed(raw), *normalized);
        }
        g
    }

    #[test]
    fn own_identifiers_reshaped_and_hashed() {
        let mut g = with_ids(&[
            (Kind::AccountId, "A12345678", Some("A12345678")),
            (
                Kind::Email,
                " Jane.Doe@Example.com",
                Some("jane.doe@example.com"),
            ),
            (Kind::DeviceId, "6F9619FF-8B86-D011-B42D-00C04FC964FF", None),
            (Kind::Phone, "+1 206 555 0100", Some("+12065550100")),
        ]);
        let mut check = |s: &str| g.check(&Reading::of(s));
        assert_eq!(check("acct-A12345678"), Some(Hit::OwnIdentifier));
        assert_eq!(check("a-1234-5678"), Some(Hit::OwnIdentifier));
        assert_eq!(
            check("6f9619ff8b86d011b42d00c04fc964ff"),
            Some(Hit::OwnIdentifier)
        );
        assert_eq!(
            check("6F9619FF\u{200b}8B86D011B42D00C04FC964FF"),
            Some(Hit::OwnIdentifier)
        );
        assert_eq!(check("home-top"), None);
        let sha = |s: &str| hex(&Sha256::digest(s.as_bytes()));
        for h in [
            sha("jane.doe@example.com"),
            sha(" Jane.Doe@Example.com"),
            sha("Jane.Doe@Example.com").to_uppercase(),
            sha("jane.doe@example.com")[..16].to_string(),
            sha("12065550100"),
            sha("+12065550100"),
            hex(&Md5::digest(b"A12345678")),
            hex(&Sha1::digest(b"a12345678")),
            hex(&Sha512::digest(b"jane.doe@example.com")),
            base64::engine::general_purpose::STANDARD
                .encode(Sha256::digest(b"jane.doe@example.com")),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(b"jane.doe@example.com")),
        ] {
            assert_eq!(check(&format!("note {h}")), Some(Hit::OwnIdentifier), "{h}");
        }
    }

    /// An email's local part alone, when it has 8 or more letters and
    /// digits (sixth red-team pass, rt6-072: `jane.doe.1972` went out as a
    /// placement); a short one is an ordinary word.
    #[test]
    fn an_emails_local_part_alone_is_the_person() {
        let mut g = with_ids(&[(
            Kind::Email,
            " jane.doe.1972@mailbox.example",
            Some("jane.doe.1972@mailbox.example"),
        )]);
        assert_eq!(
            g.check(&Reading::of("jane.doe.1972")),
            Some(Hit::OwnIdentifier)
        );
        assert_eq!(
            g.check(&Reading::of("Jane-Doe-1972-top")),
            Some(Hit::OwnIdentifier)
        );
        assert_eq!(g.check(&Reading::of("home-top")), None);
        let mut g = with_ids(&[(
            Kind::Email,
            "sales@shop.example",
            Some("sales@shop.example"),
        )]);
        assert_eq!(g.check(&Reading::of("sales-banner")), None);
    }

    /// The event's IPv4 address tunnelled in IPv6: Teredo's flipped bits,
    /// a 6to4 address's reverse-DNS name (sixth red-team pass, rt6-063 and
    /// rt6-139).
    #[test]
    fn an_ip_tunnelled_in_ipv6_is_the_persons() {
        let mut g = Protected::new(None);
        g.add_ip(Cow::Borrowed("198.51.100.23"));
        for s in [
            "2001:0:4136:e378:8000:63bf:39cc:9be8",
            "7.1.4.6.3.3.6.c.2.0.0.2.ip6.arpa",
        ] {
            assert_eq!(g.check(&Reading::of(s)), Some(Hit::OwnIdentifier), "{s}");
        }
        assert_eq!(g.check(&Reading::of("2001:db8::1")), None);
    }

    /// An IP's hex and decimal notations are written the first time an
    /// output could hold one: outputs checked before that (no run of six
    /// hex digits) neither hide them from later outputs nor are caught
    /// by them.
    #[test]
    fn ip_notations_are_caught_after_outputs_without_numerals() {
        let notations = [
            "3325256727",                 // 198.51.100.23 as one integer
            "c6336417",                   // hex
            "0xc6.0x33.0x64.0x17",        // dotted hex
            "0306.063.0144.027",          // dotted octal
            "23.100.51.198.in-addr.arpa", // reverse DNS
            "39cc9be8",                   // Teredo, every bit flipped
            "392442822",                  // little-endian integer (%u of s_addr)
            "176433c6",                   // little-endian hex
            "0198.0051.0100.0023",        // octets padded to 4 digits
        ];
        for n in notations {
            let mut g = Protected::new(None);
            g.add_ip(Cow::Borrowed("198.51.100.23"));
            for quiet in ["home-top", "com.example.game", "Spring Sale"] {
                assert_eq!(g.check(&Reading::of(quiet)), None, "{quiet}");
            }
            assert_eq!(g.check(&Reading::of(n)), Some(Hit::OwnIdentifier), "{n}");
        }
        let mut g = Protected::new(None);
        g.add_ip(Cow::Borrowed("2001:db8:85a3::8a2e:370:7334"));
        assert_eq!(g.check(&Reading::of("summer-banner")), None);
        for n in [
            "20010db885a3000000008a2e03707334",
            "2001:db8:85a3::8a2e:3.112.115.52",
            "2001:db8:85a3:0:0:8a2e:3.112.115.52",
            "2001:0db8:85a3:0000:0000:8a2e:3.112.115.52",
        ] {
            assert_eq!(g.check(&Reading::of(n)), Some(Hit::OwnIdentifier), "{n}");
        }
    }

    #[test]
    fn red_team_encodings_are_read_to_the_end() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let e = "leak.target@mailbox.example";
        let b64 = |s: &[u8]| STANDARD.encode(s);
        let url = |s: &[u8]| URL_SAFE_NO_PAD.encode(s);
        let spaced: Vec<String> = b64(e.as_bytes())
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let utf16: Vec<u8> = e.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let decoys: Vec<String> = (0..40)
            .map(|i| b64(format!("decoy{i:03}").as_bytes()))
            .collect();
        let fillers: Vec<String> = (0..70).map(|i| format!("zzzzzzz{}", i % 10)).collect();
        for s in [
            "leak.target\u{332}@mailbox.example".to_string(),
            "leak.target@m\u{332}ailbox.example".into(),
            "leak.target&#x40mailbox.example".into(),
            "leak.target&#64mailbox.example".into(),
            "leak.target=40mailbox=2Eexample".into(),
            "leak.target\u{2800}@\u{2800}mailbox.example".into(),
            "leak.target<b></b>@mailbox.example".into(),
            "leak.target<!-- -->@mailbox.example".into(),
            "leak.target\\100mailbox.example".into(),
            "leak.target\\U00000040mailbox.example".into(),
            "leak.target\\40 mailbox.example".into(),
            "leak.target<at>mailbox<dot>example".into(),
            "leak.target@mailbox\u{b7}example".into(),
            url(url(url(e.as_bytes()).as_bytes()).as_bytes()),
            b64(b64(b64(b64(e.as_bytes()).as_bytes()).as_bytes()).as_bytes()),
            spaced.join(" "),
            spaced.join("\n"),
            b64(&utf16),
            format!("{} {}", decoys.join(" "), b64(e.as_bytes())),
            format!("{} {}", fillers.join(" "), b64(e.as_bytes())),
        ] {
            assert_eq!(scan(&s), Some(Hit::Email), "{s:?}");
        }
        for (s, want) in [
            ("415\u{b7}555\u{b7}0123", Hit::Phone),
            ("415=555=0123", Hit::Phone),
            ("415  -  555  -  0123", Hit::Phone),
            ("4,155,550,123", Hit::Phone),
            ("4111\u{2022}1111\u{2022}1111\u{2022}1111", Hit::Card),
            ("4111     1111     1111     1111", Hit::Card),
            (
                "4\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}1\u{332}",
                Hit::Card,
            ),
        ] {
            assert_eq!(scan(s), Some(want), "{s:?}");
        }
        // Amounts with thousands separators are still amounts.
        for s in [
            "1,250,000,000",
            "Ends 2026-12-01",
            "width=40 height=2E",
            "utm_source=x&utm_medium=cpc",
        ] {
            assert_eq!(scan(s), None, "{s:?}");
        }
    }

    #[test]
    fn second_red_team_pass_is_read() {
        use base64::engine::general_purpose::STANDARD;
        let e = "leak.target@mailbox.example";
        let tags: String = e
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let vs: String = e
            .bytes()
            .map(|b| match b {
                0..=15 => char::from_u32(0xFE00 + b as u32).unwrap(),
                _ => char::from_u32(0xE0100 + b as u32 - 16).unwrap(),
            })
            .collect();
        let b64 = STANDARD.encode(e).trim_end_matches('=').to_string();
        let dotted: Vec<String> = b64
            .as_bytes()
            .chunks(8)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let c_array: Vec<String> = e.bytes().map(|b| format!("0x{b:02x}")).collect();
        let mut msgpack = vec![0x81, 0xa1, b'e', 0xa0 + e.len() as u8];
        msgpack.extend_from_slice(e.as_bytes());
        for s in [
            format!("Winter sale{tags}"),
            format!("Winter sale \u{1F600}{vs}"),
            "leak.target\\0040 mailbox.example".to_string(),
            "leak.target\\N{COMMERCIAL AT}mailbox.example".into(),
            "leak.target\\x{40}mailbox.example".into(),
            "leak.target\\100mailbox\\56example".into(),
            "leak.target&#x0000040mailbox.example".into(),
            "leak.target@mail=\r\nbox.example".into(),
            dotted.join("."),
            c_array.join(", "),
            STANDARD.encode(&msgpack),
            "leak.target[@]mailbox[.]example".into(),
            "leak.target\u{3010}at\u{3011}mailbox.example".into(),
            "leak.target@[IPv6:2001:db8::1]".into(),
            "leak.target(work)@mailbox.example".into(),
            "leak.target@mailbox\u{a78f}example".into(),
        ] {
            assert_eq!(scan(&s), Some(Hit::Email), "{s:?}");
        }
        for s in [
            "090\u{30fc}1234\u{30fc}5678",
            "415\u{58a}555\u{58a}0123",
            "4111\u{301c}1111\u{301c}1111\u{301c}1111",
            "4111\u{2019}1111\u{2019}1111\u{2019}1111",
            "\u{2779}\u{2776}\u{277a}\u{277a}\u{277a}\u{277a}\u{24ff}\u{2776}\u{2777}\u{2778}",
        ] {
            assert!(scan(s).is_some(), "{s:?}");
        }
        // Prices in list items stay prices; an address split by a tag does not.
        assert_eq!(
            scan("<ul><li>19.99</li><li>24.99</li><li>29.99</li></ul>"),
            None
        );
        assert_eq!(scan("Price: \\100 off"), None);
    }

    #[test]
    fn text_past_the_bounds_is_refused_not_half_read() {
        // Percent-encoded more times over than the rounds decode.
        let mut deep = "jane@example.com".to_string();
        for _ in 0..(canon::MAX_ROUNDS + 2) {
            deep = deep.replace('%', "%25").replace('@', "%40");
        }
        assert_eq!(scan(&deep), Some(Hit::Unreadable));
        // More candidate tokens than are decoded.
        let many: Vec<String> = (0..300).map(|i| format!("word{i:04}x")).collect();
        assert_eq!(scan(&many.join(" ")), Some(Hit::Unreadable));
        // More decodable views than are kept.
        let views: Vec<String> = (0..80)
            .map(|i| {
                use base64::engine::general_purpose::STANDARD;
                STANDARD.encode(format!("decoy{i:03}"))
            })
            .collect();
        assert_eq!(scan(&views.join(" ")), Some(Hit::Unreadable));
        // Ordinary text far under the bounds is read.
        assert_eq!(
            scan("Winter sale banner, blue variant B, ends 2026-12-01"),
            None
        );
    }

    #[test]
    fn protected_values_with_lookalike_letters_are_taint() {
        let mut g = Protected::new(None);
        g.add_value(Cow::Borrowed("orthopedic insoles size 44"));
        let mut check = |s: &str| g.check(&Reading::of(s));
        // Cyrillic о, Greek ο, an accent: the same words.
        for s in [
            "\u{43e}rth\u{43e}pedic ins\u{43e}les size 44",
            "orth\u{3bf}pedic insoles size 44",
            "orthop\u{e9}dic insoles size 44",
        ] {
            assert_eq!(check(s), Some(Hit::Protected), "{s:?}");
        }
        assert_eq!(check("orthopedic shoes"), None);
    }

    /// A phone, a UUID device id, an email and an IPv4 address.
    fn jane() -> Protected<'static> {
        let mut g = with_ids(&[
            (Kind::Phone, "+1 206 555 0100", Some("+12065550100")),
            (Kind::DeviceId, "3f2b9c1e-8a4d-4e21-9b6a-0d9c3e7f1a22", None),
            (
                Kind::Email,
                "Jane.Doe@Example.com",
                Some("jane.doe@example.com"),
            ),
        ]);
        g.add_ip(Cow::Borrowed("198.51.100.23"));
        g
    }

    /// A protected path's value copied with its words in another order is
    /// found; sharing one long word, or only short ones, is not a copy.
    #[test]
    fn protected_values_reordered() {
        let mut g = with_ids(&[]);
        g.add_value(Cow::Borrowed("orthopedic insoles size 44"));
        g.add_value(Cow::Borrowed("gift for men"));
        let mut check = |s: &str| g.check(&Reading::of(s));
        for s in [
            "size 44 insoles orthopedic",
            "Insoles: Orthopedic (size)",
            "size-insoles-orthopedic",
        ] {
            assert_eq!(check(s), Some(Hit::Protected), "{s:?}");
        }
        for s in [
            "orthopedic shoes size 44",
            "insoles",
            "men's gift guide for xmas",
            "home-top",
        ] {
            assert_eq!(check(s), None, "{s:?}");
        }
        // The eighteenth pass: glued, singular, without the short words,
        // every character doubled.
        let mut g = with_ids(&[(Kind::DeviceId, "3f2b9c1e-8a4d-4e21-9b6a-0d9c3e7f1a22", None)]);
        g.add_value(Cow::Borrowed("Lavender sleep spray 200ml"));
        g.add_value(Cow::Borrowed("Pillow for the knee and the back"));
        g.add_value(Cow::Borrowed("cheap flights berlin"));
        let mut check = |s: &str| g.check(&Reading::of(s));
        for (s, hit) in [
            ("LavenderSleepSprays200ml", Hit::Protected),
            ("pillow knee back", Hit::Protected),
            ("cheap flight berlin", Hit::Protected),
            (
                "LLaavveennddeerr  sslleeeepp  sspprraayy  220000mmll",
                Hit::Protected,
            ),
            ("33ff22bb99cc11ee--88aa44dd", Hit::OwnIdentifier),
        ] {
            assert_eq!(check(s), Some(hit), "{s:?}");
        }
        for s in [
            "sleep well",
            "berlin-flights",
            "aabbccddeeff",
            "zzzzzzzzzzzzzz",
        ] {
            assert_eq!(check(s), None, "{s:?}");
        }
    }

    /// The fifteenth red-team pass's turned identifiers: an address
    /// written backwards with `@` spelled out, an account id in ROT13,
    /// and the same turns of an email's parts. Ordinary values written
    /// backwards or in ROT13 stay what they are.
    #[test]
    fn own_identifiers_backwards_and_in_rot13() {
        let mut g = with_ids(&[
            (Kind::AccountId, "ACCT-55812-XQ", None),
            (
                Kind::Email,
                "Jane.Doe@Example.com",
                Some("jane.doe@example.com"),
            ),
        ]);
        let mut check = |s: &str| g.check(&Reading::of(s));
        for s in [
            "moc.elpmaxe ta eod.enaj",
            "ref eod.enaj",
            "NPPG-55812-KD",
            "qx-21855-tcca",
            "wnar.qbr@rknzcyr.pbz",
            "note: Wnar.Qbr",
        ] {
            assert_eq!(check(s), Some(Hit::OwnIdentifier), "{s:?}");
        }
        for s in [
            "c-77",
            "home-top",
            "NPPG-55813-KD",
            "elpmaxe",
            "Example Store",
        ] {
            assert_eq!(check(s), None, "{s:?}");
        }
    }

    /// The fifth red-team pass (through a served gateway): digests under
    /// other functions and lengths, other alphabets, other inputs.
    /// The seventeenth pass: encodings among words, hex after `0x`, and
    /// letters drawn like signs between digit groups.
    #[test]
    fn seventeenth_red_team_pass_encodings() {
        for s in [
            // base64 in groups of four before a word, hex pairs after one.
            "SmFu ZS5E b2VA RXhh bXBs ZS5j b20= thanks",
            "Code: 4a61 6e65 2e44 6f65 4045 7861 6d70 6c65 2e63 6f6d",
            // An address's hex after `0x`.
            "0x6b696d2e6c656540636f6e746f736f2e636f6d",
        ] {
            assert_eq!(scan(s), Some(Hit::Email), "{s}");
        }
        for s in ["tel 415ː555ː0123", "4111ː1111ː1111ː1111", "415〡555〡0123"] {
            assert!(scan(s).is_some(), "{s}");
        }
        // Words and a colour stay what they are.
        for s in ["this code runs fast", "Theme 0xFF1E88E5", "size 415ː12"] {
            assert_eq!(scan(s), None, "{s}");
        }
    }

    #[test]
    fn fifth_red_team_pass_digests() {
        use blake2::digest::consts::{U16, U20, U32, U48};
        use sha3::digest::{ExtendableOutput, Update as _, XofReader};
        let mut g = with_ids(&[
            (
                Kind::Email,
                "Jane.Doe@Example.com",
                Some("jane.doe@example.com"),
            ),
            (Kind::Phone, "+1 206 555 0100", Some("+12065550100")),
            (Kind::AccountId, "ACCT-77-Secret", None),
        ]);
        let email = b"jane.doe@example.com";
        let shake256 = {
            let mut h = sha3::Shake256::default();
            h.update(email);
            let mut out = [0u8; 32];
            h.finalize_xof().read(&mut out);
            out
        };
        let base = |alphabet: &str, d: &[u8]| base_x::encode(alphabet, d);
        // SHA-256 in base64, written in groups of `n` joined by `sep`.
        let grouped = |n: usize, sep: &str| {
            use base64::Engine as _;
            let b = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(email));
            let groups: Vec<&str> = b
                .as_bytes()
                .chunks(n)
                .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
                .collect();
            format!("ref {}", groups.join(sep))
        };
        let mut check = |s: &str| g.check(&Reading::of(s));
        for s in [
            hex(&blake2::Blake2b::<U32>::digest(email)),
            hex(&blake2::Blake2b::<U20>::digest(email)),
            hex(&blake2::Blake2b::<U48>::digest(email)),
            hex(&blake2::Blake2s::<U16>::digest(email)),
            hex(&sha3::Sha3_224::digest(email)),
            hex(&sha3::Sha3_384::digest(email)),
            hex(&sha3::Keccak256::digest(email)),
            hex(&shake256),
            hex(&sm3::Sm3::digest(email)),
            hex(&sha2::Sha512_256::digest(email)),
            // SHA-256 twice over the bytes, as Bitcoin does.
            hex(&Sha256::digest(Sha256::digest(email))),
            // SHA-256 in base58, base62 (both letter orders) and base36.
            base(NUMBER_ALPHABETS[0], &Sha256::digest(email)),
            base(NUMBER_ALPHABETS[1], &Sha256::digest(email)),
            base(
                "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                &Sha256::digest(email),
            ),
            base(NUMBER_ALPHABETS[2], &Sha256::digest(email)),
            // A hash of the phone's hash, of the account id with a CRLF.
            hex(&Sha256::digest(
                hex(&Sha256::digest(b"+12065550100")).as_bytes(),
            )),
            hex(&Sha256::digest(b"ACCT-77-Secret\r\n")),
            // Seventh pass: HMAC-SHA256 under an empty key; SHA-256 in
            // base64 written in groups of four and six.
            {
                use hmac::Mac as _;
                let mut m = hmac::Hmac::<Sha256>::new_from_slice(&[]).unwrap();
                hmac::Mac::update(&mut m, email);
                hex(&m.finalize().into_bytes())
            },
            grouped(4, " "),
            grouped(6, "."),
        ] {
            assert_eq!(check(&s), Some(Hit::OwnIdentifier), "{s:?}");
        }
        // Words in groups of other lengths are not read as a digest.
        assert!(!grouped_digest(b"Home-Top-Banner-Left"));
        assert!(!grouped_digest(b"Summer-Sale-2026"));
        // Digests of other people's values are not the event's own.
        assert_eq!(
            check(&hex(&blake2::Blake2b::<U32>::digest(
                b"someone@example.org"
            ))),
            None
        );
    }

    #[test]
    fn third_red_team_pass_own_values() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let mut g = jane();
        g.add_ip(Cow::Borrowed("2001:db8:85a3::8a2e:370:7334"));
        let uuid = data_encoding::HEXLOWER
            .decode(b"3f2b9c1e8a4d4e219b6a0d9c3e7f1a22")
            .unwrap();
        let mut ms = uuid.clone();
        ms[..4].reverse();
        ms[4..6].reverse();
        ms[6..8].reverse();
        let email = b"jane.doe@example.com";
        let mut check = |s: &str| g.check(&Reading::of(s));
        for s in [
            // Packed bytes.
            STANDARD.encode(&uuid),
            URL_SAFE_NO_PAD.encode(&uuid),
            data_encoding::BASE32.encode(&uuid),
            STANDARD.encode(&ms),
            format!("ref {}", STANDARD.encode([198u8, 51, 100, 23])),
            // IPv6 spelled otherwise.
            "2001:db8:85a3:0:0:8a2e:370:7334".into(),
            "2001:0db8:85a3::8a2e:0370:7334".into(),
            // Other digests, encodings and inputs.
            hex(&sha3::Sha3_256::digest(email)),
            hex(&blake2::Blake2s256::digest(email)),
            hex(&ripemd::Ripemd160::digest(email)),
            hex(&Sha384::digest(b"+12065550100")),
            data_encoding::BASE32.encode(&Sha256::digest(email)),
            STANDARD.encode(Sha256::digest(email)).to_lowercase(),
            hex(&Sha256::digest(b"email:jane.doe@example.com")),
            hex(&Sha256::digest(b"mailto:jane.doe@example.com")),
            hex(&Sha256::digest(b"206-555-0100")),
            hex(&Sha256::digest(b"+1-206-555-0100")),
            hex(&Sha256::digest(hex(&Sha256::digest(email)).as_bytes())),
        ] {
            assert_eq!(check(&s), Some(Hit::OwnIdentifier), "{s:?}");
        }
        for s in ["summer-sale-2026", "SUMMERSALE2026BLACKFRIDAY1", "c-77"] {
            assert_eq!(check(s), None, "{s:?}");
        }
        // inet_aton's notations of the own IP.
        for s in [
            "0xc6.0x33.0x64.0x17",
            "0xc6.51.100.23",
            "0306.51.100.027",
            "198.51.25623",
            "198.3367959",
            "198.51.0x6417",
        ] {
            assert_eq!(check(s), Some(Hit::OwnIdentifier), "{s:?}");
        }
        assert_eq!(check("v10.2.0"), None);
        // A pre-hashed field holding the hash of the IP or of a protected
        // value is not the person's email hash.
        g.add_value(Cow::Borrowed("884213377"));
        assert!(g.is_digest_of_other(&hex(&Sha256::digest(b"198.51.100.23"))));
        assert!(g.is_digest_of_other(&hex(&Sha256::digest(b"884213377")).to_uppercase()));
        assert!(!g.is_digest_of_other(&hex(&Sha256::digest(email))));
        assert!(g.is_digest_of_other(&hex(&Sha256::digest(
            b"3F2B9C1E-8A4D-4E21-9B6A-0D9C3E7F1A22"
        ))));
        assert!(g.is_digest_of_other(&hex(&Sha256::digest(b"198.51.100.23\n"))));
    }

    #[test]
    fn own_phone_ip_and_parts_in_more_shapes() {
        use sha2::{Digest, Sha256};
        let mut g = jane();
        let sha = |s: &str| hex(&Sha256::digest(s.as_bytes()));
        let mut check = |s: &str| g.check(&Reading::of(s));
        for s in [
            "2065550100".to_string(),
            "::ffff:c633:6417".into(),
            "::ffff:198.51.100.23".into(),
            "c6336417".into(),
            "3325256727".into(),
            sha("198.51.100.23"),
            sha("Jane.Doe@Example.com\n"),
            sha("0012065550100"),
            sha("tel:+12065550100"),
            "0d9c3e7f1a22".into(),
            "3f2b9c1e-8a4d-4e21".into(),
        ] {
            assert_eq!(check(&s), Some(Hit::OwnIdentifier), "{s:?}");
        }
        for s in [
            "c-77",
            "home-top",
            "2065550199",
            "0d9c3e7f1a23",
            "cmp-2026-q4-017",
        ] {
            assert_eq!(check(s), None, "{s:?}");
        }
    }

    /// The twelfth red-team pass: the event's own phone number among
    /// letters, backwards, on a keypad; its email spelled out.
    #[test]
    fn own_phone_among_letters_and_email_spelled_out() {
        let mut g = jane();
        let mut check = |s: &str| g.check(&Reading::of(s));
        for s in [
            "206x555x0100",
            "206a555b0100",
            "2O6-555-Ol00",
            "call 206 555 O1OO",
            "206-JKL-0100",
            "0010555602",
            "note 0010 555 6021 end",
            "jane.doe at example dot com",
            "JANE DOT DOE AT EXAMPLE DOT COM",
            "jane dot doe arobase example point com",
            "jane.doe (a) example.com",
            "22a1f7e3c9d0-a6b9-12e4-d4a8-e1c9b2f3",
            "wnar.qbr rknzcyr.pbz",
            "WNARQBRRKNZCYRPBZ",
            // The local part alone: two words of a name.
            "jane.doe",
            // A number with an exponent, in a string.
            "2.0655501E+09",
            "score 206555.01e4",
            "write to jane_doe at example.com",
        ] {
            assert_eq!(check(s), Some(Hit::OwnIdentifier), "{s:?}");
        }
        for s in [
            // Other numbers among letters; letters alone.
            "206x555x0199",
            "sku-2065a",
            "2.0655501E+08",
            "1.5e3",
            "cmp-2026-q4-017",
            "Lollipop 2026 holiday collection",
            // The email's words out of order, or some of them only.
            "example dot com at jane",
            "jane at example",
            "doe jane example com",
        ] {
            assert_eq!(check(s), None, "{s:?}");
        }
    }

    #[test]
    fn numeral_readings_read_lookalikes_and_keys_only_among_letters() {
        let read = |s: &str| -> Vec<String> {
            numeral_readings(s.as_bytes())
                .iter()
                .map(|n| String::from_utf8(n.to_vec()).unwrap())
                .collect()
        };
        assert_eq!(read("2o6x555ol00"), ["2065550100", "26695556500"]);
        assert_eq!(read("206jkl0100"), ["20610100", "2065550100"]);
        // Digits alone are the skeleton itself; a view shorter than a
        // phone's last 8 digits is not read.
        assert!(read("2065550100").is_empty());
        assert!(read("c77home").is_empty());
        // One digit among letters drawn like digits (`ZO6 SSS OlOO`), and
        // words between the digit groups dropped whatever their letters.
        assert_eq!(read("zo6sssoloo")[0], "2065550100");
        assert_eq!(read("206home555top0100")[2], "2065550100");
    }

    #[test]
    fn cached_readings_are_fresh_readings_and_the_event_part_is_not_cached() {
        for s in [
            "home-top",
            "jane@example.com",
            "amFuZUBleGFtcGxlLmNvbQ==",
            "acct-A12345678",
        ] {
            let fresh = Reading::of(s);
            // Twice: a miss, then a hit.
            for _ in 0..2 {
                with_reading(s, |r| {
                    assert_eq!(r.pattern, fresh.pattern, "{s}");
                    let sk = |r: &Reading| {
                        r.views
                            .iter()
                            .map(|v| (v.skeleton.clone(), v.digest))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(sk(r), sk(&fresh), "{s}");
                });
            }
        }
        // The same (cached) string against two events: only the one whose
        // own identifier it holds is a hit.
        let clean = Protected::new(None);
        let mut other = Protected::new(None);
        other.add_identifier(Kind::AccountId, Cow::Borrowed("B999999"), None);
        let mut own = Protected::new(None);
        own.add_identifier(Kind::AccountId, Cow::Borrowed("A12345678"), None);
        for (mut g, want) in [
            (clean, None),
            (other, None),
            (own, Some(Hit::OwnIdentifier)),
        ] {
            assert_eq!(with_reading("acct-A12345678", |r| g.check(r)), want);
        }
    }

    #[test]
    fn cached_skeletons_are_fresh_skeletons_past_the_bound_too() {
        let mut samples: Vec<String> = vec![
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36".into(),
            "jane%2540x.com".into(),
            "jane&amp;#64;x.com".into(),
            "https://shop.example.com/p?q=red%20shoes&ref=home".into(),
            "x".repeat(SKELETON_CACHE_MAX_BYTES + 1) + "(",
            // Short, but its skeleton is longer than the bound (NFKC).
            "\u{FDFA}".repeat(40) + "(",
        ];
        // More distinct strings than the cache holds: it is emptied on the
        // way, and every answer is still the string's own skeleton.
        samples.extend((0..SKELETON_CACHE_ENTRIES + 10).map(|i| format!("ua ({i}) %41")));
        for round in 0..2 {
            for s in &samples {
                assert_eq!(
                    &*skeleton_cached(s),
                    canon::skeleton(s),
                    "{s} (round {round})"
                );
            }
        }
    }

    #[test]
    fn plain_values_match_as_their_skeletons_do() {
        for (hay, needle, want) in [
            ("promoredrunningshoes", "Red Running-Shoes", true),
            ("redrunningshoe", "Red Running-Shoes", false),
            ("aaab", "aab", true),
            ("abab", "bab", true),
            ("ab", "", false),
            ("x", "X", true),
        ] {
            assert_eq!(
                contains_plain(hay.as_bytes(), needle.as_bytes().iter().copied()),
                want,
                "{hay} {needle}"
            );
            let sk = canon::skeleton(needle);
            assert_eq!(!sk.is_empty() && hay.contains(&sk), want, "{hay} {needle}");
        }
    }

    proptest::proptest! {
        #[test]
        fn contains_plain_is_skeleton_containment(hay in "[abAB0 .-]{0,14}", needle in "[abAB0 .-]{0,8}") {
            let sk = canon::skeleton(&hay);
            let ns = canon::skeleton(&needle);
            proptest::prop_assert_eq!(
                contains_plain(sk.as_bytes(), needle.as_bytes().iter().copied()),
                !ns.is_empty() && sk.contains(&ns)
            );
        }
    }

    #[test]
    fn protected_values_are_taint() {
        let mut g = Protected::new(None);
        g.add_value(Cow::Borrowed("Red Running Shoes"));
        g.add_value(Cow::Borrowed("shoes"));
        assert_eq!(
            g.check(&Reading::of("promo: red running shoes!")),
            Some(Hit::Protected)
        );
        assert_eq!(g.check(&Reading::of("shoes")), None);
    }
}
