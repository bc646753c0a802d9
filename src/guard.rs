//! The leak guard (SPEC §4.5): the last look at every producer-supplied string
//! of an output event before it is written to an outbox.
//!
//! It flags, in each string and also in its percent-decoded form, with ASCII
//! whitespace ignored (so `jane @ example . com` and `4111 1111 1111 1111`
//! count):
//! - email addresses (`@`, `%40`, `&#64;`, fullwidth `＠`);
//! - phone numbers: a `+` or `00` followed by 8-15 digits, or any run of
//!   10-15 digits, with `-`, `.`, `(`, `)` and `/` allowed between digits;
//! - payment-card numbers: runs of 13-19 digits that pass the Luhn check.
//!
//! The policy additionally checks each output string against the identifiers
//! the event itself carries and their unkeyed hashes ([`SelfLeak`]).
//! Strings the gateway builds from HMAC output (ad_id, event_id) and the time
//! it formats are not scanned: nothing of the input is in them.

use std::borrow::Cow;

use base64::Engine as _;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// What the guard found. Names a category, never the matched text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Email,
    Phone,
    Card,
    /// One of the event's own identifiers, raw, normalized or hashed.
    OwnIdentifier,
}

impl Hit {
    pub fn as_str(self) -> &'static str {
        match self {
            Hit::Email => "email address",
            Hit::Phone => "phone number",
            Hit::Card => "payment card number",
            Hit::OwnIdentifier => "the event's own identifier or an unkeyed hash of it",
        }
    }
}

/// Scans one string.
pub fn scan(s: &str) -> Option<Hit> {
    let b = s.as_bytes();
    // Fast path: nothing that can start any of the patterns.
    let interesting = b.iter().any(|&c| {
        c == b'@' || c == b'%' || c == b'&' || c == b'+' || c.is_ascii_digit() || c >= 0x80
    });
    if !interesting {
        return None;
    }
    let view = compact(s);
    if let Some(h) = scan_compact(view.as_bytes()) {
        return Some(h);
    }
    if view.contains('%') {
        let decoded = percent_decode(view.as_bytes());
        let again = compact(&decoded);
        return scan_compact(again.as_bytes());
    }
    None
}

/// Removes ASCII whitespace and maps the spellings of `@` to `@`.
fn compact(s: &str) -> Cow<'_, str> {
    let needs = s
        .bytes()
        .any(|c| c.is_ascii_whitespace() || c == b'&' || c >= 0x80);
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace()
            || c == '\u{200b}'
            || c == '\u{200c}'
            || c == '\u{200d}'
            || c == '\u{feff}'
        {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '＠' {
            out.push('@');
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '&' {
            let lower = rest.get(..8).map(|p| p.to_ascii_lowercase());
            if rest.starts_with("&#64;") {
                out.push('@');
                rest = &rest[5..];
                continue;
            }
            if rest.starts_with("&#x40;") || rest.starts_with("&#X40;") {
                out.push('@');
                rest = &rest[6..];
                continue;
            }
            if lower.as_deref() == Some("&commat;") {
                out.push('@');
                rest = &rest[8..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = (b[i + 1] as char).to_digit(16);
            let l = (b[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'') || c >= 0x80
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c >= 0x80
}

fn scan_compact(b: &[u8]) -> Option<Hit> {
    if has_email(b) {
        return Some(Hit::Email);
    }
    scan_digits(b)
}

fn has_email(b: &[u8]) -> bool {
    for (i, &c) in b.iter().enumerate() {
        if c != b'@' {
            continue;
        }
        if i == 0 || !is_local_char(b[i - 1]) {
            continue;
        }
        let dom = &b[i + 1..];
        let end = dom
            .iter()
            .position(|&c| !is_domain_char(c))
            .unwrap_or(dom.len());
        let dom = dom[..end].trim_ascii_end_dots();
        // A dot with at least one label before it and a TLD of 2+ letters after.
        if let Some(dot) = dom.iter().rposition(|&c| c == b'.') {
            let tld = &dom[dot + 1..];
            if dot > 0
                && tld.len() >= 2
                && tld.iter().all(|c| c.is_ascii_alphabetic() || *c >= 0x80)
            {
                return true;
            }
        }
    }
    false
}

trait TrimDots {
    fn trim_ascii_end_dots(&self) -> &[u8];
}
impl TrimDots for [u8] {
    fn trim_ascii_end_dots(&self) -> &[u8] {
        let mut e = self.len();
        while e > 0 && self[e - 1] == b'.' {
            e -= 1;
        }
        &self[..e]
    }
}

const SEPARATORS: &[u8] = b"-.()/";

/// Finds phone numbers and Luhn-valid card numbers in digit runs.
fn scan_digits(b: &[u8]) -> Option<Hit> {
    let mut i = 0;
    let mut digits = [0u8; 24];
    while i < b.len() {
        let c = b[i];
        let plus = c == b'+';
        if !(c.is_ascii_digit()
            || plus
            || (c == b'(' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            i += 1;
            continue;
        }
        // A run: digits with single separators between them.
        let mut n = 0usize;
        let mut j = if plus { i + 1 } else { i };
        let mut last_was_digit = false;
        while j < b.len() {
            let d = b[j];
            if d.is_ascii_digit() {
                if n < digits.len() {
                    digits[n] = d - b'0';
                }
                n += 1;
                last_was_digit = true;
            } else if SEPARATORS.contains(&d) && (last_was_digit || d == b'(') {
                last_was_digit = false;
            } else {
                break;
            }
            j += 1;
        }
        let run = &digits[..n.min(digits.len())];
        let intl = plus || (n >= 2 && run[0] == 0 && run[1] == 0);
        if intl && (8..=17).contains(&n) {
            return Some(Hit::Phone);
        }
        if (13..=19).contains(&n) && luhn(run) {
            return Some(Hit::Card);
        }
        if (10..=15).contains(&n) {
            return Some(Hit::Phone);
        }
        i = j.max(i + 1);
    }
    None
}

/// The Luhn checksum over digit values.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = d as u32;
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Is a JSON number (as written) a card number? Numbers stay numbers and
/// amounts pass; only integers of 13-19 digits that pass Luhn are flagged.
pub fn scan_number(raw: &str) -> Option<Hit> {
    let b = raw.strip_prefix('-').unwrap_or(raw).as_bytes();
    if (13..=19).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) {
        let d: Vec<u8> = b.iter().map(|c| c - b'0').collect();
        if luhn(&d) {
            return Some(Hit::Card);
        }
    }
    None
}

/// The event's own identifiers, to check output strings against: raw and
/// normalized forms, and, computed only when an output string is long
/// enough to be a digest, their unkeyed SHA-256/SHA-1/MD5 in hex and base64.
/// Comparisons are case-insensitive.
#[derive(Default)]
pub struct SelfLeak<'a> {
    values: Vec<Cow<'a, str>>,
    /// `values`, ASCII-lowercased once.
    lowered: Vec<Cow<'a, str>>,
    digests: Option<Vec<String>>,
}

/// Shorter identifiers are compared for equality only, to avoid flagging a
/// campaign id that merely contains a two-letter account id.
const MIN_CONTAINED_LEN: usize = 6;
/// The shortest encoding of an MD5 digest (base64 without padding).
const MIN_DIGEST_LEN: usize = 22;

impl<'a> SelfLeak<'a> {
    pub fn add(&mut self, v: Cow<'a, str>) {
        let v = match v {
            Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
            Cow::Owned(o) if o.trim().len() == o.len() => Cow::Owned(o),
            Cow::Owned(o) => Cow::Owned(o.trim().to_owned()),
        };
        if v.is_empty() || self.values.contains(&v) {
            return;
        }
        let lower = if v.bytes().any(|c| c.is_ascii_uppercase()) {
            Cow::Owned(v.to_ascii_lowercase())
        } else {
            v.clone()
        };
        self.values.push(v);
        self.lowered.push(lower);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn check(&mut self, s: &str) -> Option<Hit> {
        if self.values.is_empty() {
            return None;
        }
        let lower;
        let hay: &str = if s.bytes().any(|c| c.is_ascii_uppercase()) {
            lower = s.to_ascii_lowercase();
            &lower
        } else {
            s
        };
        for v in &self.lowered {
            if v.len() >= MIN_CONTAINED_LEN {
                if hay.contains(v.as_ref()) {
                    return Some(Hit::OwnIdentifier);
                }
            } else if hay.trim() == v.as_ref() {
                return Some(Hit::OwnIdentifier);
            }
        }
        if s.len() >= MIN_DIGEST_LEN {
            let values = &self.values;
            let digests = self.digests.get_or_insert_with(|| digests_of(values));
            // Digests are kept lowercased: an upper-cased hex or base64 digest
            // is still the digest.
            if digests.iter().any(|d| hay.contains(d.as_str())) {
                return Some(Hit::OwnIdentifier);
            }
        }
        None
    }
}

fn digests_of(values: &[Cow<'_, str>]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut out = Vec::with_capacity(values.len() * 9);
    for v in values {
        let forms = [v.to_string(), v.to_lowercase()];
        for f in forms.iter() {
            let d: [Vec<u8>; 3] = [
                Sha256::digest(f.as_bytes()).to_vec(),
                Sha1::digest(f.as_bytes()).to_vec(),
                Md5::digest(f.as_bytes()).to_vec(),
            ];
            for bytes in d {
                out.push(hex(&bytes));
                out.push(STANDARD_NO_PAD.encode(&bytes));
                out.push(URL_SAFE_NO_PAD.encode(&bytes));
            }
        }
    }
    for d in &mut out {
        *d = d.to_lowercase();
    }
    out.sort();
    out.dedup();
    out
}

pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for s in [
            "jane@example.com",
            "JANE.DOE@EXAMPLE.CO.UK",
            "contact: jane @ example . com",
            "jane%40example.com",
            "jane%40Example.COM",
            "jane&#64;example.com",
            "jane＠example.com",
            "mailto:x+y@sub.example.org?subject=1",
        ] {
            assert_eq!(scan(s), Some(Hit::Email), "{s}");
        }
        for s in ["@handle", "a@b", "home-top", "c-77", "user@localhost"] {
            assert_eq!(scan(s), None, "{s}");
        }
    }

    #[test]
    fn phones_and_cards() {
        for s in [
            "+1 206 555 0100",
            "(206) 555-0100",
            "0044 20 7946 0000",
            "2065550100",
            "%2B12065550100",
        ] {
            assert_eq!(scan(s), Some(Hit::Phone), "{s}");
        }
        for s in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500005555555559",
        ] {
            assert_eq!(scan(s), Some(Hit::Card), "{s}");
        }
        for s in [
            "USD",
            "c-2026-11",
            "1250",
            "v1.2.3",
            "2026-11-28",
            "com.example.game",
        ] {
            assert_eq!(scan(s), None, "{s}");
        }
    }

    #[test]
    fn numbers_stay_numbers() {
        assert_eq!(scan_number("1250"), None);
        assert_eq!(scan_number("4111111111111111"), Some(Hit::Card));
        assert_eq!(scan_number("1250.5"), None);
    }

    #[test]
    fn own_identifiers_and_their_hashes() {
        let mut g = SelfLeak::default();
        g.add(Cow::Borrowed("A12345678"));
        g.add(Cow::Borrowed("jane@example.com"));
        assert_eq!(g.check("acct-A12345678"), Some(Hit::OwnIdentifier));
        let h = hex(&Sha256::digest(b"jane@example.com"));
        assert_eq!(g.check(&h), Some(Hit::OwnIdentifier));
        assert_eq!(g.check(&h.to_uppercase()), Some(Hit::OwnIdentifier));
        assert_eq!(g.check("home-top"), None);
    }
}
