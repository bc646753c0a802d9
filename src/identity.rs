//! Identifier normalization and keyed pseudonymization (see docs/policy.md).
//!
//! This module owns the only code that turns a raw identifier into something
//! that may leave the gateway. A [`PartnerKey`] holds the HMAC state of one
//! partner key with the inner and outer pads already absorbed, so deriving an
//! ad_id costs two SHA-256 compressions of the message and no key setup.
//! [`SubjectHasher`] is the gateway's *internal* keyed hash, used for opt-outs,
//! forget and the idempotency window; it is never a partner key and its output
//! is never delivered.

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The kinds of identifier adgate understands, in the spelling used by the
/// config (`identifiers = [...]`), the admin API and the `ad_id_type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    AccountId,
    DeviceId,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Email, Kind::Phone, Kind::AccountId, Kind::DeviceId];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::AccountId => "account_id",
            Kind::DeviceId => "device_id",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Index into fixed-size per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Normalizes a raw identifier of `kind`; `None` means it fails normalization
/// and must be treated as absent (see docs/policy.md). Borrowed when nothing changes.
pub fn normalize(kind: Kind, raw: &str) -> Option<Cow<'_, str>> {
    match kind {
        Kind::Email => normalize_email(raw),
        Kind::Phone => normalize_phone(raw),
        Kind::AccountId | Kind::DeviceId => {
            let t = raw.trim();
            (!t.is_empty()).then_some(Cow::Borrowed(t))
        }
    }
}

/// Is `raw` an all-zero advertising id (`00000000-0000-0000-0000-000000000000`,
/// 32 zeros): what iOS and Android hand out when the person refused
/// tracking? Separators and blanks aside, at least 16 zeros and nothing else;
/// the letter `O` drawn for a zero counts as one (`OOOOOOOO-OOOO-…`).
pub fn is_zeroed_ad_id(raw: &str) -> bool {
    // Fullwidth zeros and dashes (`０００…`) are the same refusal.
    let canonical;
    let raw = if raw.is_ascii() {
        raw
    } else {
        canonical = crate::canon::canonical(raw);
        canonical.as_ref()
    };
    let mut zeros = 0;
    for b in raw.bytes() {
        match b {
            b'0' | b'O' | b'o' => zeros += 1,
            b'-' | b':' | b' ' | b'{' | b'}' => {}
            _ => return false,
        }
    }
    zeros >= 16
}

/// `raw` trimmed, when it can be an email address: one `@` with something
/// on both sides and no whitespace or control character
/// inside (`a\u{0}@b.com` is no address). Every email rule (adgate's and
/// each partner profile's) starts from it.
pub fn email_shape(raw: &str) -> Option<&str> {
    let t = raw.trim();
    let (local, domain) = t.split_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || t.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(t)
}

/// Trim, lowercase, and for gmail.com / googlemail.com drop dots and any
/// `+suffix` from the local part. The domain is kept as written (lowercased).
pub fn normalize_email(raw: &str) -> Option<Cow<'_, str>> {
    let t = email_shape(raw)?;
    let needs_lower = t.chars().any(|c| c.is_uppercase() || !c.is_ascii());
    let lowered: Cow<'_, str> = if needs_lower {
        Cow::Owned(t.to_lowercase())
    } else {
        Cow::Borrowed(t)
    };
    let at = lowered.find('@')?;
    let (local, domain) = (&lowered[..at], &lowered[at + 1..]);
    if domain == "gmail.com" || domain == "googlemail.com" {
        let base = local.split('+').next().unwrap_or("");
        let mut out = String::with_capacity(lowered.len());
        out.extend(base.chars().filter(|&c| c != '.'));
        if out.is_empty() {
            return None;
        }
        out.push('@');
        out.push_str(domain);
        if out == *lowered {
            return Some(lowered);
        }
        return Some(Cow::Owned(out));
    }
    Some(lowered)
}

/// Strip spaces, dashes, dots and parentheses, turn a leading `00` into `+`,
/// then require E.164: `+` and 8–15 digits. No default country is assumed.
pub fn normalize_phone(raw: &str) -> Option<Cow<'_, str>> {
    let t = raw.trim();
    let mut out = String::with_capacity(t.len());
    out.extend(
        t.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')),
    );
    if let Some(rest) = out.strip_prefix("00") {
        out = format!("+{rest}");
    }
    let digits = out.strip_prefix('+')?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if out == t {
        Some(Cow::Borrowed(t))
    } else {
        Some(Cow::Owned(out))
    }
}

/// [`normalize`], plus national phone numbers read with
/// `privacy.default_phone_country` (`(206) 555-0100` with `US` becomes
/// `+12065550100`). Without a default country it is [`normalize`].
pub fn normalize_with(
    kind: Kind,
    raw: &str,
    default_country: Option<phonenumber::country::Id>,
) -> Option<Cow<'_, str>> {
    let strict = normalize(kind, raw);
    match (kind, default_country) {
        (Kind::Phone, Some(c)) if strict.is_none() => national_to_e164(raw, c).map(Cow::Owned),
        _ => strict,
    }
}

/// A national number of `country` as E.164, if libphonenumber's metadata
/// says it is a valid number there.
fn national_to_e164(raw: &str, country: phonenumber::country::Id) -> Option<String> {
    let t = raw.trim();
    if t.len() > MAX_PHONE_TEXT || t.starts_with('+') || t.starts_with("00") {
        return None;
    }
    let n = phonenumber::parse(Some(country), t).ok()?;
    phonenumber::is_valid(&n).then(|| n.format().mode(phonenumber::Mode::E164).to_string())
}

/// Longer phone texts are not handed to the phone-number parser.
const MAX_PHONE_TEXT: usize = 64;

/// Parses `privacy.default_phone_country` (ISO 3166 alpha-2, any case).
pub fn phone_country(code: &str) -> Option<phonenumber::country::Id> {
    code.trim().to_ascii_uppercase().parse().ok()
}

/// Every national number a phone could stand for (at most two), most
/// likely first: the one of its E.164 form, or of its digits read with a
/// `+`, and the digits as written with one leading trunk `0` removed.
pub fn phone_national_numbers(
    raw: &str,
    default_country: Option<phonenumber::country::Id>,
) -> Vec<String> {
    let mut out = Vec::with_capacity(2);
    if raw.len() > MAX_PHONE_TEXT {
        return out;
    }
    let nsn_of = |e164: &str| -> Option<String> {
        let n = phonenumber::parse(None, e164).ok()?;
        let nsn = n.national().to_string();
        (nsn.len() >= 6).then_some(nsn)
    };
    let canonical = crate::canon::canonical(raw);
    let cut = without_extension(&canonical);
    let raw = if cut.len() < canonical.len() {
        cut
    } else {
        raw
    };
    let digits: String = cut.chars().filter(char::is_ascii_digit).collect();
    if let Some(e164) = normalize_with(Kind::Phone, raw, default_country) {
        out.extend(nsn_of(&e164));
        return out;
    }
    let plus = format!("+{digits}");
    if phonenumber::parse(None, &plus).is_ok_and(|n| phonenumber::is_valid(&n)) {
        out.extend(nsn_of(&plus));
    }
    // `011`, the international prefix dialled from North America
    // (`011 44 20 7946 0100`), as `+`.
    if let Some(rest) = digits.strip_prefix("011") {
        let plus = format!("+{rest}");
        if phonenumber::parse(None, &plus).is_ok_and(|n| phonenumber::is_valid(&n)) {
            out.extend(nsn_of(&plus).filter(|n| !out.contains(n)));
        }
    }
    let d = digits.strip_prefix('0').unwrap_or(&digits);
    if (6..=15).contains(&d.len()) && !out.iter().any(|x| x == d) {
        out.push(d.to_owned());
    }
    out
}

/// A phone number cut before its extension or dialling pauses
/// (`+1 415 555 0100 ext. 12`, `x12`, `tel:+1-415-555-0100;ext=12`,
/// `;phone-context=…`, `+14155550100,,123`, `#12`): the line is the
/// person's. Cut only after seven digits, so `tel:` before the number
/// stays.
fn without_extension(s: &str) -> &str {
    let mut digits = 0;
    for (i, ch) in s.char_indices() {
        if ch.is_ascii_digit() {
            digits += 1;
        } else if digits >= 7 && (ch.is_ascii_alphabetic() || matches!(ch, ';' | ',' | '#' | '*')) {
            return &s[..i];
        }
    }
    s
}

/// The email address or E.164 phone number an account id or a device id
/// is, when a producer logs people in by address or number and sends it as
/// their account id: that kind and its normalized form (`None` for an
/// ordinary id). Such an id names the same person as the address, so the
/// address's opt-out stops it and its forget purges it.
pub fn identity_in(raw: &str) -> Option<(Kind, Cow<'_, str>)> {
    let t = raw.trim();
    if t.contains('@') {
        normalize_email(t).map(|n| (Kind::Email, n))
    } else if t.starts_with('+') || t.starts_with("00") {
        normalize_phone(t).map(|n| (Kind::Phone, n))
    } else {
        None
    }
}

/// An account id or device id of 8 to 15 digits and nothing else, read as a
/// phone number with a `+` (Meta hashes a phone as its bare digits, so a
/// number used as a login arrives this way). Only compared with the opt-out
/// list: a customer number that happens to equal an opted-out number is
/// stopped too, which only ever withholds.
pub fn bare_phone_digits(raw: &str) -> Option<String> {
    is_bare_phone_digits(raw).then(|| format!("+{}", raw.trim()))
}

/// Could an account or device id be a phone number: `+` and digits, 8 to
/// 15 digits alone, or written with separators or `tel:`
/// (`415-555-0098`, `(415) 555 0098`, `tel:+14155550099`)?
pub fn looks_like_phone(raw: &str) -> bool {
    let t = raw.trim();
    let t = t
        .strip_prefix("tel:")
        .or_else(|| t.strip_prefix("TEL:"))
        .unwrap_or(t);
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    (8..=15).contains(&digits)
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b' ' | b'(' | b')'))
}

/// Is `raw` 8 to 15 digits and nothing else ([`bare_phone_digits`],
/// without building the number)?
pub fn is_bare_phone_digits(raw: &str) -> bool {
    let t = raw.trim();
    (8..=15).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
}

/// `address` as a CRM displays it: its local part capitalized, each part
/// after `.`, `_` or `-` (`every_part`: `Jane.Doe@example.com`) or its
/// first letter only (`Jane.doe@example.com`); with the domain's first
/// letter too (`domain`: `Jane.Doe@Example.com`). `None` without an `@`.
/// (Digests of these forms are looked for by the guard and stored with an
/// opt-out: producers hash addresses as their systems show them.)
pub fn capitalized_address(address: &str, every_part: bool, domain: bool) -> Option<String> {
    let (local, dom) = address.rsplit_once('@')?;
    let mut out = String::with_capacity(address.len());
    let mut up = true;
    for c in local.chars() {
        if up {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        up = every_part && matches!(c, '.' | '_' | '-');
    }
    out.push('@');
    let mut d = dom.chars();
    if domain {
        out.extend(d.next().into_iter().flat_map(char::to_uppercase));
    }
    out.extend(d);
    Some(out)
}

/// The lenient form an identifier is matched in against the opt-out list,
/// besides its normalized form: a person on the list must not be forwarded
/// because one of their identifiers arrived in an unusual shape.
///
/// - email: decoded, lowercased, `+suffix` dropped for every domain,
///   `googlemail.com` read as `gmail.com`, dots of a Gmail local part dropped;
/// - phone: the national significant number ([`phone_national_numbers`]);
/// - account_id, device_id: lowercase alphanumerics only (no separators,
///   spaces or invisible characters).
///
/// Deliberately loose: it can make two people's identifiers match (the same
/// national number in two countries), which only ever stops forwarding. A
/// phone may have two forms (see [`phone_national_numbers`]).
pub fn match_forms(
    kind: Kind,
    raw: &str,
    default_country: Option<phonenumber::country::Id>,
) -> Vec<String> {
    match kind {
        Kind::Email => {
            let c = crate::canon::canonical(raw.trim());
            let mut lower: String = c
                .chars()
                .filter(|ch| !ch.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect();
            // RFC 5322 comments (`jane(home)@x.example`,
            // `jane@(home)x.example`) are no part of the address, and a
            // quoted local part (`"jane"@x.example`) is its content.
            while let Some(open) = lower.find('(') {
                let Some(close) = lower[open..].find(')') else {
                    break;
                };
                lower.replace_range(open..open + close + 1, "");
            }
            if let Some(at) = lower.rfind('@') {
                if lower[..at].ends_with('"') {
                    if let Some(q) = lower[..at - 1].rfind('"') {
                        lower.replace_range(at - 1..at, "");
                        lower.replace_range(q..q + 1, "");
                    }
                }
            }
            // An address written as a link or a header (`mailto:a@b?subject=x`,
            // `Name <a@b>`, `a@b (work)`, `"a@b"`, `a@b;`) is the address:
            // the run around its `@` up to the first character no address
            // holds there.
            let Some(at) = lower.rfind('@') else {
                return Vec::new();
            };
            let stop = |ch: char| "<>()\"';,:?&[]{}/\\|".contains(ch);
            let start = lower[..at].rfind(stop).map_or(0, |i| i + 1);
            let end = lower[at..].find(stop).map_or(lower.len(), |i| at + i);
            let bare = &lower[start..end];
            let Some((local, domain)) = bare.rsplit_once('@') else {
                return Vec::new();
            };
            let domain = domain.trim_end_matches('.');
            // An internationalized domain and its Punycode form
            // (`bücher.example`, `xn--bcher-kva.example`) are one domain:
            // the Punycode is decoded and read like the rest (the canonical
            // text drops the diacritics, `bucher.example`).
            let decoded;
            let domain = if domain.contains("xn--") {
                let (unicode, _) = idna::domain_to_unicode(domain);
                decoded = crate::canon::canonical(&unicode).to_lowercase();
                &decoded
            } else {
                domain
            };
            let domain = if domain == "googlemail.com" {
                "gmail.com"
            } else {
                domain
            };
            let mut local = local.split('+').next().unwrap_or("").to_owned();
            // Yahoo's disposable addresses are `base-keyword@yahoo.com`.
            if domain.starts_with("yahoo.") || matches!(domain, "ymail.com" | "rocketmail.com") {
                local.truncate(local.find('-').unwrap_or(local.len()));
            }
            if domain == "gmail.com" {
                local.retain(|ch| ch != '.');
            }
            let local = local.trim_matches(['"', '\'']);
            if local.is_empty() || domain.is_empty() {
                return Vec::new();
            }
            vec![format!("{local}@{domain}")]
        }
        Kind::Phone => phone_national_numbers(raw, default_country),
        Kind::AccountId | Kind::DeviceId => {
            // A mobile advertising id written with its kind (`idfa:…`,
            // `gaid=…`) or as a URN (`urn:uuid:…`) is the id.
            let t = raw.trim();
            let bare = [
                "idfa:",
                "idfv:",
                "gaid:",
                "aaid:",
                "adid:",
                "ifa:",
                "maid:",
                "idfa=",
                "idfv=",
                "gaid=",
                "aaid=",
                "adid=",
                "ifa=",
                "maid=",
                "urn:uuid:",
            ]
            .iter()
            .find_map(|p| {
                t.get(..p.len())
                    .filter(|h| h.eq_ignore_ascii_case(p))
                    .map(|_| &t[p.len()..])
            });
            [Some(raw), bare]
                .into_iter()
                .flatten()
                .map(crate::canon::skeleton)
                .filter(|s| !s.is_empty())
                .collect()
        }
    }
}

/// One partner key: its id and the HMAC-SHA256 state keyed with its bytes.
/// `Debug` shows the id only; the key bytes are not kept outside the HMAC state.
#[derive(Clone)]
pub struct PartnerKey {
    id: String,
    mac: HmacSha256,
}

impl fmt::Debug for PartnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Length of `KEY_ID + "." + base64url(32 bytes)` for a key id of `n` bytes.
const B64_SHA256_LEN: usize = 43;

impl PartnerKey {
    pub fn new(id: &str, secret: &[u8]) -> PartnerKey {
        PartnerKey {
            id: id.to_owned(),
            mac: HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length"),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `KEY_ID "." base64url_nopad(HMAC(key, KIND ":" normalized))`.
    pub fn ad_id(&self, kind: Kind, normalized: &str) -> String {
        self.tagged(kind.as_str(), normalized)
    }

    /// The partner-visible event id: same construction with KIND `event_id`,
    /// so a partner can de-duplicate but not join on the producer's id.
    pub fn event_id(&self, raw_event_id: &str) -> String {
        self.tagged("event_id", raw_event_id)
    }

    fn tagged(&self, tag: &str, value: &str) -> String {
        let mut out = Vec::with_capacity(self.id.len() + 1 + B64_SHA256_LEN);
        self.write_tagged(tag, value, &mut out);
        String::from_utf8(out).expect("key ids and base64url are ASCII")
    }

    /// Appends `KEY_ID "." base64url(HMAC(key, tag ":" value))` to `out`
    /// (the policy writes ids straight into the output line).
    pub fn write_tagged(&self, tag: &str, value: &str, out: &mut Vec<u8>) {
        let mut mac = self.mac.clone();
        mac.update(tag.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        out.extend_from_slice(self.id.as_bytes());
        out.push(b'.');
        let start = out.len();
        out.resize(start + B64_SHA256_LEN, 0);
        let n = URL_SAFE_NO_PAD
            .encode_slice(digest, &mut out[start..])
            .expect("43 bytes hold base64url of 32");
        out.truncate(start + n);
    }
}

/// A 128-bit keyed hash of a subject identifier or an event id, under the
/// gateway's internal key. Stored in the opt-out list, next to outbox records
/// (for forget) and in the idempotency window. Never delivered.
pub type SubjectHash = [u8; 16];

/// The gateway's internal keyed hash (see [`SubjectHash`]): SipHash-2-4 with
/// 128-bit output, keyed by 16 bytes derived from the data dir's
/// `internal.key` with HMAC-SHA256.
///
/// SipHash-2-4 is a pseudorandom function designed for short inputs: without
/// the key its outputs cannot be told from random, so, like an HMAC, they
/// cannot be reversed or checked against a guessed email. It is used here
/// instead of HMAC-SHA256 because the gateway computes up to five of these
/// per event (one per identifier, one for the event id) and the profile
/// showed them as the largest single cost; SipHash-2-4 does the same job in
/// about a fifth of the time. Partner-visible ad_ids stay HMAC-SHA256 (docs/policy.md).
#[derive(Clone)]
pub struct SubjectHasher {
    key: [u8; 16],
}

impl fmt::Debug for SubjectHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectHasher(<redacted>)")
    }
}

impl Drop for SubjectHasher {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// A `BuildHasher` for maps keyed by [`SubjectHash`]: the key already is the
/// output of a keyed PRF, uniformly distributed and unknown to anyone without
/// the internal key, so its first eight bytes serve as the table hash. (A
/// general-purpose hasher would hash it a second time: the idempotency map is
/// touched once per event.)
#[derive(Debug, Clone, Copy, Default)]
pub struct SubjectHashState;

impl std::hash::BuildHasher for SubjectHashState {
    type Hasher = SubjectHashHasher;
    fn build_hasher(&self) -> SubjectHashHasher {
        SubjectHashHasher(0)
    }
}

/// See [`SubjectHashState`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SubjectHashHasher(u64);

impl std::hash::Hasher for SubjectHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Fold whatever is written (the array's bytes; a length prefix, if
        // any, arrives through write_usize below).
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(b);
        }
    }
    fn write_usize(&mut self, _len: usize) {}
}

/// Domain separation for the derived SipHash key.
const SUBJECT_KEY_LABEL: &[u8] = b"adgate internal subject hash v2: siphash-2-4-128";

impl SubjectHasher {
    pub fn new(secret: &[u8]) -> SubjectHasher {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(SUBJECT_KEY_LABEL);
        let derived = mac.finalize().into_bytes();
        let mut key = [0u8; 16];
        key.copy_from_slice(&derived[..16]);
        SubjectHasher { key }
    }

    /// Hash of a normalized identifier of `kind`.
    pub fn subject(&self, kind: Kind, normalized: &str) -> SubjectHash {
        self.hash(kind.as_str(), normalized)
    }

    /// Hash of one of an identifier's lenient [`match_forms`] (opt-out matching only;
    /// a tag of its own, so it never equals a [`SubjectHasher::subject`]).
    pub fn matched(&self, kind: Kind, form: &str) -> SubjectHash {
        let tag = match kind {
            Kind::Email => "email~match",
            Kind::Phone => "phone~match",
            Kind::AccountId => "account_id~match",
            Kind::DeviceId => "device_id~match",
        };
        self.hash(tag, form)
    }

    /// Hash of a producer's pre-hashed identifier (`user.email_sha256`,
    /// `user.phone_sha256`: lowercase hex SHA-256), a tag of its own. An
    /// opt-out or forget stores it for every form a producer may have hashed
    /// ([`crate::profile::prehashed_forms`]), and an event carrying the
    /// value has it among its subjects: the person is stopped, purged and
    /// notified about whichever of the two the event carried.
    pub fn prehashed(&self, kind: Kind, hex_lower: &str) -> SubjectHash {
        let tag = match kind {
            Kind::Email => "email#sha256",
            Kind::Phone => "phone#sha256",
            Kind::AccountId => "account_id#sha256",
            Kind::DeviceId => "device_id#sha256",
        };
        self.hash(tag, hex_lower)
    }

    /// Hash of a producer's event id (the idempotency key).
    pub fn event(&self, event_id: &str) -> SubjectHash {
        self.hash("event_id", event_id)
    }

    /// A keyed tag over arbitrary bytes under the internal key, e.g. to
    /// authenticate a pull-feed cursor any replica can check.
    pub fn keyed(&self, tag: &str, value: &[u8]) -> SubjectHash {
        self.hash_bytes(tag, value)
    }

    fn hash(&self, tag: &str, value: &str) -> SubjectHash {
        self.hash_bytes(tag, value.as_bytes())
    }

    fn hash_bytes(&self, tag: &str, value: &[u8]) -> SubjectHash {
        use siphasher::sip128::{Hasher128, SipHasher24};
        use std::hash::Hasher;
        let mut h = SipHasher24::new_with_key(&self.key);
        // The tag and value are length-prefixed-free but unambiguous: tags
        // are fixed ASCII words and ':' never occurs in a tag.
        h.write(tag.as_bytes());
        h.write(b":");
        h.write(value);
        h.finish128().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        let n = |s| normalize_email(s).map(|c| c.into_owned());
        assert_eq!(n("a\u{0}@b.com"), None, "a control character");
        assert_eq!(n("jane\u{1b}[0m@example.com"), None, "an escape sequence");
        assert_eq!(
            n(" Jane.Doe@Example.com ").as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(
            n("J.a.n.e+ads@GMail.com").as_deref(),
            Some("jane@gmail.com")
        );
        assert_eq!(
            n("j.d+x@googlemail.com").as_deref(),
            Some("jd@googlemail.com")
        );
        assert_eq!(n("j.d+x@example.org").as_deref(), Some("j.d+x@example.org"));
        assert_eq!(n("+x@gmail.com"), None);
        assert_eq!(n("no-at-sign"), None);
        assert_eq!(n("a@b@c"), None);
        assert_eq!(n("a b@c.d"), None);
        assert_eq!(n("@c.d"), None);
        assert_eq!(n("a@"), None);
    }

    #[test]
    fn phone_rules() {
        let n = |s| normalize_phone(s).map(|c| c.into_owned());
        assert_eq!(n("+1 (206) 555-0100").as_deref(), Some("+12065550100"));
        assert_eq!(n("0044 20.7946.0000").as_deref(), Some("+442079460000"));
        assert_eq!(n("206 555 0100"), None);
        assert_eq!(n("+1234567"), None);
        assert_eq!(n("+12345678").as_deref(), Some("+12345678"));
        assert_eq!(n("+1234567890123456"), None);
        assert_eq!(n("+1 206 CALL NOW"), None);
    }

    #[test]
    fn default_country_and_match_forms() {
        let us = phone_country("us");
        assert_eq!(
            normalize_with(Kind::Phone, "(206) 555-0199", us).as_deref(),
            Some("+12065550199")
        );
        assert_eq!(normalize_with(Kind::Phone, "(206) 555-0199", None), None);
        let m = |k, s| match_forms(k, s, None).into_iter().next();
        assert_eq!(
            m(Kind::Phone, "+1 206 555 0199"),
            m(Kind::Phone, "(206) 555-0199")
        );
        assert_eq!(
            m(Kind::Phone, "+44 20 7946 0000"),
            m(Kind::Phone, "020 7946 0000")
        );
        assert_eq!(
            m(Kind::Email, "Jane.Doe+ads@GoogleMail.com"),
            Some("janedoe@gmail.com".to_string())
        );
        assert_eq!(
            m(Kind::Email, "jane+x@example.com"),
            m(Kind::Email, " JANE@example.com ")
        );
        // Yahoo's disposable addresses: `base-keyword`.
        assert_eq!(
            m(Kind::Email, "joe.roe-ads@yahoo.com"),
            Some("joe.roe@yahoo.com".to_string())
        );
        assert_eq!(
            m(Kind::Email, "joe.roe-ads@example.com"),
            Some("joe.roe-ads@example.com".to_string())
        );
        assert_eq!(
            m(Kind::Email, "jane%40example.com"),
            m(Kind::Email, "jane@example.com")
        );
        assert_eq!(
            m(Kind::DeviceId, "6F9619FF-8B86-D011"),
            m(Kind::DeviceId, "6f9619ff8b86\u{200b}d011")
        );
        assert_eq!(m(Kind::AccountId, "A-123_456"), Some("a123456".to_string()));
        // Sixth red-team pass (rt6-093..096): an internationalized domain
        // and its Punycode form, an address as a link or in angle brackets.
        for same in [
            "p093@xn--bcher-kva.example",
            "p093@BÜCHER.example",
            "mailto:p093@bücher.example",
            "<p093@bücher.example>",
        ] {
            assert_eq!(
                m(Kind::Email, same),
                m(Kind::Email, "p093@bücher.example"),
                "{same}"
            );
        }
        // Ninth (rt9-001..004, 045, 046): a quoted local part, comments,
        // an id as a URN or with `kind=`.
        for same in [
            "\"r9p001.target\"@mailbox.example",
            "r9p001.target(home)@mailbox.example",
            "r9p001.target@(home)mailbox.example",
        ] {
            assert_eq!(
                m(Kind::Email, same),
                Some("r9p001.target@mailbox.example".to_string()),
                "{same}"
            );
        }
        let idfa = "7e13a0c25b4d4c8e9f2a3d6b1c0e4045";
        for same in [
            "urn:uuid:7E13A0C2-5B4D-4C8E-9F2A-3D6B1C0E4045",
            "idfa=7E13A0C2-5B4D-4C8E-9F2A-3D6B1C0E4045",
        ] {
            assert!(
                match_forms(Kind::DeviceId, same, None).contains(&idfa.to_string()),
                "{same}"
            );
        }
    }

    #[test]
    fn an_account_or_device_id_can_be_an_address_or_a_number() {
        let of = |s| identity_in(s).map(|(k, n)| (k, n.into_owned()));
        assert_eq!(
            of(" Jane.Doe@Example.com"),
            Some((Kind::Email, "jane.doe@example.com".into()))
        );
        assert_eq!(
            of("+1 415 555 0003"),
            Some((Kind::Phone, "+14155550003".into()))
        );
        assert_eq!(
            of("0014155550003"),
            Some((Kind::Phone, "+14155550003".into()))
        );
        assert_eq!(of("A00000001"), None);
        assert_eq!(of("9f8e7d6c-5b4a-3c2d-1e0f-000000000001"), None);
        assert_eq!(
            bare_phone_digits("14155550116").as_deref(),
            Some("+14155550116")
        );
        assert_eq!(bare_phone_digits("1234567"), None);
        assert_eq!(bare_phone_digits("A14155550116"), None);
    }

    #[test]
    fn ids_trim_keep_case() {
        assert_eq!(
            normalize(Kind::AccountId, "  A123 ").as_deref(),
            Some("A123")
        );
        assert_eq!(normalize(Kind::DeviceId, "   "), None);
    }

    #[test]
    fn ad_id_shape_and_separation() {
        let k1 = PartnerKey::new("k1", &[7u8; 32]);
        let k2 = PartnerKey::new("k2", &[8u8; 32]);
        let a = k1.ad_id(Kind::Email, "jane@example.com");
        assert!(a.starts_with("k1.") && a.len() == 3 + 43, "{a}");
        assert_ne!(a, k2.ad_id(Kind::Email, "jane@example.com"));
        // Kinds are domain-separated: the same string as another kind differs.
        assert_ne!(a, k1.ad_id(Kind::AccountId, "jane@example.com"));
        assert!(!format!("{k1:?}").contains("7, 7"));
    }
}
