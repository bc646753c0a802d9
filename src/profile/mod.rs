//! Partner profiles: how one partner's API wants an event, a batch and a
//! credential (see docs/profiles.md).
//!
//! A profile is an encoder behind one small interface, [`Profile`]:
//!
//! - its name, the `Content-Type` of its push body, whether it emits
//!   linkable identifiers (plain SHA-256), and its batch limit;
//! - per-profile identifier normalization ([`Profile::normalize_email`],
//!   [`Profile::normalize_phone`]) and hashing (lowercase hex SHA-256; a
//!   producer's pre-hashed `user.email_sha256` / `user.phone_sha256` is
//!   forwarded lower-cased, never hashed twice);
//! - [`Profile::encode`]: the bytes of one scrubbed event in the partner's
//!   shape, from a [`ProfileInput`] the policy fills in;
//! - [`Profile::write_body`]: the push body framing a batch of events that
//!   were encoded earlier (and stored in the outbox), by byte concatenation,
//!   without parsing or re-encoding them;
//! - [`Profile::credentials`]: where the partner's credential goes (a header
//!   or a query parameter).
//!
//! Retries, dead letters, signing, metrics and the outbox are not here: they
//! are shared by every profile. Adding a partner is one file implementing
//! [`Profile`] plus its options, and one test file.
//!
//! This module does not depend on the policy's internals: [`ProfileInput`]
//! holds plain borrowed values, so the policy can fill it from whatever it
//! parsed.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::identity::Kind;

pub mod adgate;
pub mod google_ads;
pub mod meta_capi;
pub mod tiktok_events;

/// The profiles adgate speaks, in the spelling of `profile = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    Adgate,
    MetaCapi,
    GoogleAds,
    TiktokEvents,
}

impl ProfileKind {
    pub const ALL: [ProfileKind; 4] = [
        ProfileKind::Adgate,
        ProfileKind::MetaCapi,
        ProfileKind::GoogleAds,
        ProfileKind::TiktokEvents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::Adgate => "adgate",
            ProfileKind::MetaCapi => "meta_capi",
            ProfileKind::GoogleAds => "google_ads",
            ProfileKind::TiktokEvents => "tiktok_events",
        }
    }

    pub fn parse(s: &str) -> Option<ProfileKind> {
        ProfileKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Consent signals a profile may forward. `None` is "not said".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsentSignals {
    /// Google Consent Mode `ad_user_data`.
    pub ad_user_data: Option<bool>,
    /// Google Consent Mode `ad_personalization`.
    pub ad_personalization: Option<bool>,
    /// The person is covered by a US state law under which the partner must
    /// act as a processor (Meta's Limited Data Use).
    pub limited_data_use: bool,
}

/// What an encoder receives for one event that the policy already decided to
/// forward. Every value here has passed the policy: the time is coarsened,
/// the event id pseudonymized, and `fields` holds only allow-listed fields
/// that passed the guard and their value contracts.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileInput<'a> {
    pub event_type: &'a str,
    /// Unix seconds, already truncated to `privacy.time_granularity`.
    pub unix_seconds: i64,
    /// The partner-visible (pseudonymized) event id.
    pub event_id: &'a str,
    /// Raw identifiers as the producer sent them; each profile normalizes
    /// them by its partner's rules.
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub account_id: Option<&'a str>,
    /// Only the adgate profile uses it (no partner API takes a device id
    /// here).
    pub device_id: Option<&'a str>,
    /// `user.email_sha256` / `user.phone_sha256` as sent (64 hex digits are
    /// expected; anything else is ignored).
    pub email_sha256: Option<&'a str>,
    pub phone_sha256: Option<&'a str>,
    /// The allow-listed fields as one serialized JSON object, nesting kept
    /// (`{"ad":{"campaign_id":"c-77"}}`); `None` when nothing is kept.
    pub fields: Option<&'a str>,
    pub consent: ConsentSignals,
}

/// Why an event cannot be encoded for a profile. The policy turns these into
/// drops; the messages name no value of the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the event has no identifier the {profile} profile can send ({needs})")]
    NoIdentifier {
        profile: &'static str,
        needs: &'static str,
    },
    #[error("event type {event_type:?} has no entry in profile_options.event_names")]
    UnmappedEventType { event_type: String },
    #[error("the allow-listed fields are not one JSON object")]
    FieldsNotObject,
}

/// Where a credential goes on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialPlace {
    /// A request header: `name: prefix + secret`.
    Header {
        name: &'static str,
        prefix: &'static str,
    },
    /// A query parameter of the endpoint URL: `?name=secret`.
    Query { name: &'static str },
}

/// One credential a profile sends: which secret (`access_token`,
/// `developer_token`: the lead's config names them `<secret>_env` /
/// `<secret>_file`) and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    pub secret: &'static str,
    pub place: CredentialPlace,
}

/// One partner API's encoder. Object safe: delivery holds a
/// `Box<dyn Profile>` per partner.
/// Reads a partner's 2xx answer body (at most 64 KiB of it): `Some(true)`
/// a failure worth retrying, `Some(false)` one that is not, `None` success.
pub type AnswerCheck = fn(&[u8]) -> Option<bool>;

pub trait Profile: Send + Sync + fmt::Debug {
    fn kind(&self) -> ProfileKind;

    fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// `Content-Type` of the push body.
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    /// Does the partner receive plain SHA-256 of identifiers (linkable across
    /// partners and reversible with a list of candidates)?
    fn linkable(&self) -> bool {
        true
    }

    /// Most events one push body may carry.
    fn batch_limit(&self) -> usize;

    /// The partner's normalized form of an email, `None` if it is not one.
    fn normalize_email<'a>(&self, raw: &'a str) -> Option<Cow<'a, str>>;

    /// The partner's normalized form of a phone number, `None` if it cannot
    /// be read as an international number (no default country is assumed).
    fn normalize_phone<'a>(&self, raw: &'a str) -> Option<Cow<'a, str>>;

    /// Appends one encoded event to `out`. On error `out` is left as it was.
    fn encode(&self, input: &ProfileInput<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Appends the push body for `events` (each the bytes of one earlier
    /// [`Profile::encode`]) to `out`, copying each event's bytes unchanged.
    fn write_body(&self, events: &[&[u8]], out: &mut Vec<u8>);

    /// The credentials the partner expects and where they go.
    fn credentials(&self) -> &'static [Credential];

    /// How to read a 2xx answer's body for a failure the API reports in
    /// it (Google's `partialFailureError`, TikTok's non-zero `code`): the
    /// function gives `Some(retryable)` for a failure, `None` for success.
    /// `None` here: a 2xx is a delivery.
    fn answer_check(&self) -> Option<AnswerCheck> {
        None
    }

    /// How the partner's endpoint URL path ends (it carries the pixel or
    /// customer id), so a config can be checked against it; `None` when
    /// any endpoint will do.
    fn endpoint_suffix(&self) -> Option<String> {
        None
    }

    /// Hex SHA-256 of the normalized email, or the pre-hashed value.
    fn hashed_email(&self, input: &ProfileInput<'_>) -> Option<Hex64> {
        pick(
            input.email.and_then(|e| self.normalize_email(e)),
            input.email_sha256,
        )
    }

    /// Hex SHA-256 of the normalized phone, or the pre-hashed value.
    fn hashed_phone(&self, input: &ProfileInput<'_>) -> Option<Hex64> {
        pick(
            input.phone.and_then(|p| self.normalize_phone(p)),
            input.phone_sha256,
        )
    }
}

/// A raw identifier this profile can normalize wins (its hash follows the
/// partner's rules for sure); otherwise a well-formed pre-hashed value is
/// forwarded as it came, lower-cased.
fn pick(normalized: Option<Cow<'_, str>>, prehashed: Option<&str>) -> Option<Hex64> {
    match normalized {
        Some(n) => Some(Hex64::sha256(n.as_bytes())),
        None => prehashed.and_then(Hex64::prehashed),
    }
}

/// A lowercase hex SHA-256 digest (64 ASCII bytes), kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex64([u8; 64]);

impl Hex64 {
    /// Lowercase hex SHA-256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Hex64 {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let d = Sha256::digest(bytes);
        let mut out = [0u8; 64];
        for (i, b) in d.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
        Hex64(out)
    }

    /// A producer's pre-hashed value: exactly 64 hex digits (surrounding
    /// spaces trimmed), lower-cased; `None` otherwise, and `None` for 64 hex
    /// digits that are not the random-looking output of a hash
    /// ([`looks_random`]): the hex of an email address, or a phone number
    /// in plain digits, posing as its hash.
    pub fn prehashed(s: &str) -> Option<Hex64> {
        let b = s.trim().as_bytes();
        if b.len() != 64 || !b.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        if !looks_random(b) {
            return None;
        }
        let mut out = [0u8; 64];
        for (o, c) in out.iter_mut().zip(b) {
            *o = c.to_ascii_lowercase();
        }
        Some(Hex64(out))
    }

    /// [`Hex64::prehashed`], or a SHA-256 written in base64 or base64url
    /// (padded or not: 43 or 44 characters): how the opt-out and forget
    /// lookups read a digest, so a person's digest in another alphabet
    /// still names them. (What a profile sends stays the hex form.)
    pub fn prehashed_any(s: &str) -> Option<Hex64> {
        use base64::Engine as _;
        if let Some(h) = Hex64::prehashed(s) {
            return Some(h);
        }
        let t = s.trim().trim_end_matches('=');
        if t.len() != 43 {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
            .ok()?;
        let hex = crate::util::hex(&bytes);
        Hex64::prehashed(&hex)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex is ASCII")
    }
}

/// Do these 64 hex digits look like a SHA-256 output? A digest's 32 bytes
/// are random: about 12 printable ASCII and none or one zero byte, no byte
/// value 6 times, and about 24 of the 64 digits are letters `a-f`. Text
/// posing as a digest is not: the hex of an email (printable bytes), padded
/// with zero bytes or in UTF-16 (zeros), or digits written as hex digits
/// (`0000...14155550123`: no letter). Each bound passes a real digest but
/// about once in a million or less.
pub fn looks_random(hex64: &[u8]) -> bool {
    let letters = hex64.iter().filter(|c| c.is_ascii_alphabetic()).count();
    if letters <= 6 {
        return false;
    }
    let mut counts = [0u8; 256];
    let (mut printable, mut zeros) = (0, 0);
    for p in hex64.chunks_exact(2) {
        let v = std::str::from_utf8(p)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        counts[v as usize] += 1;
        printable += usize::from((0x20..0x7f).contains(&v));
        zeros += usize::from(v == 0);
    }
    printable + zeros < 26 && counts.iter().all(|c| *c < 6)
}

impl fmt::Debug for Hex64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex64({})", self.as_str())
    }
}

/// The SHA-256 digests a producer may send for this person as
/// `user.email_sha256` / `user.phone_sha256`: the identifier under each
/// profile's normalization (Meta and TikTok trim and lowercase an email,
/// Google also drops a Gmail local part's dots; Meta hashes a phone's
/// digits, Google and TikTok its E.164 form), under adgate's own
/// (`normalized`, which may use `privacy.default_phone_country`), and the
/// forms producers hash by mistake (an address in capitals or with a line
/// end, a phone's national number alone). Empty for
/// account and device ids, which have no pre-hashed field.
pub fn prehashed_forms(kind: Kind, raw: &str, normalized: Option<&str>) -> Vec<Hex64> {
    let forms: Vec<Option<Cow<'_, str>>> = match kind {
        Kind::Email => vec![
            meta_capi::normalize_email(raw),
            google_ads::normalize_email(raw),
            tiktok_events::normalize_email(raw),
            normalized.map(Cow::Borrowed),
            // Hashed in capitals, or with the line end `echo … | sha256sum`
            // adds (forms of the normalized address, so the same person
            // spelled another way is not a new opt-out).
            normalized.map(|n| Cow::Owned(n.to_uppercase())),
            normalized.map(|n| Cow::Owned(format!("{n}\n"))),
            // As a CRM displays it: the local part's parts capitalized
            // (`Max.Roe@example.com`), the domain too
            // (`Max.Roe@Example.com`), or the first letter only.
            normalized
                .and_then(|n| crate::identity::capitalized_address(n, true, false))
                .map(Cow::Owned),
            normalized
                .and_then(|n| crate::identity::capitalized_address(n, true, true))
                .map(Cow::Owned),
            normalized
                .and_then(|n| crate::identity::capitalized_address(n, false, false))
                .map(Cow::Owned),
        ],
        Kind::Phone => vec![
            meta_capi::normalize_phone(raw),
            google_ads::normalize_phone(raw),
            tiktok_events::normalize_phone(raw),
            normalized.map(Cow::Borrowed),
            normalized
                .and_then(|n| n.strip_prefix('+'))
                .map(Cow::Borrowed),
            // The national number alone (`4155550100`).
            normalized
                .and_then(|n| {
                    crate::identity::phone_national_numbers(n, None)
                        .into_iter()
                        .next()
                })
                .map(Cow::Owned),
        ],
        Kind::AccountId | Kind::DeviceId => Vec::new(),
    };
    let mut out: Vec<Hex64> = Vec::with_capacity(forms.len());
    for f in forms.into_iter().flatten() {
        let h = Hex64::sha256(f.as_bytes());
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// Hex SHA-256 of a trimmed account id (case kept, as adgate normalizes
/// account ids), the `external_id` of Meta and TikTok. `None` for an
/// account id that is an email address or a phone number (in any shape
/// the leak guard reads, or holding an `@`): its plain hash
/// would be a second, differently normalized hash of the person's address
/// or number (or the only one, when the partner's `identifiers` leave
/// email and phone out), so the address or number goes only where the
/// partner's rules for it apply.
pub fn hashed_external_id(account_id: Option<&str>) -> Option<Hex64> {
    let t = account_id?.trim();
    // A customer number is digits alone: it stays an account id, however
    // long.
    let digits = t.bytes().all(|b| b.is_ascii_digit());
    if t.is_empty()
        || t.contains('@')
        || (!digits && crate::identity::looks_like_phone(t))
        // An address or a number in another shape (`jane(at)example.com`,
        // `+1 (206) 555-0100`), as the leak guard reads one.
        || (!digits && crate::policy::guard::scan(t).is_some())
    {
        return None;
    }
    Some(Hex64::sha256(t.as_bytes()))
}

/// Email: trim and lowercase (Meta, TikTok; Google adds its Gmail rule).
/// Refuses what cannot be an address: no `@`, an empty side, a second `@`,
/// inner whitespace.
pub fn email_trim_lower(raw: &str) -> Option<Cow<'_, str>> {
    let t = crate::identity::email_shape(raw)?;
    if t.chars().any(char::is_uppercase) {
        Some(Cow::Owned(t.to_lowercase()))
    } else {
        Some(Cow::Borrowed(t))
    }
}

/// Phone in E.164 with `+` (Google, TikTok): adgate's phone rule (strip
/// spaces, dashes, dots and parentheses, a leading `00` becomes `+`, then
/// `+` and 8–15 digits).
pub fn phone_e164(raw: &str) -> Option<Cow<'_, str>> {
    crate::identity::normalize_phone(raw)
}

/// Appends `s` as a JSON string.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Appends the decimal text of `n`.
pub(crate) fn write_int(out: &mut Vec<u8>, n: i64) {
    use std::io::Write as _;
    write!(out, "{n}").expect("writing to a Vec cannot fail");
}

/// The members of a JSON object's text without its braces (`{"a":1}` ->
/// `"a":1`), or `None` when `fields` is not an object. Only the outer
/// braces are looked at: the policy produced the text.
pub(crate) fn object_members(fields: &str) -> Option<&str> {
    let t = fields.trim();
    let inner = t.strip_prefix('{')?.strip_suffix('}')?;
    Some(inner.trim())
}

/// Appends `prefix`, the events separated by commas, and `suffix`.
pub(crate) fn frame(out: &mut Vec<u8>, prefix: &[u8], events: &[&[u8]], suffix: &[u8]) {
    out.reserve(prefix.len() + suffix.len() + events.iter().map(|e| e.len() + 1).sum::<usize>());
    out.extend_from_slice(prefix);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(suffix);
}

/// One problem with `[partners.profile_options]`: the key path (relative to
/// the partner, e.g. `profile_options.pixel_id`), what is wrong and how to
/// fix it. Never carries a secret (options hold none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.key, self.problem, self.fix)
    }
}

impl OptionError {
    pub(crate) fn new(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        OptionError {
            key: key.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// What of the partner's config the options are checked against.
#[derive(Debug, Clone, Copy)]
pub struct PartnerView<'a> {
    /// The partner's `event_types`.
    pub event_types: &'a [String],
    /// The partner's allow-listed field paths.
    pub fields: &'a [String],
}

/// Every event type of the partner has a non-empty name in `event_names`,
/// and every name maps an event type the partner takes.
pub(crate) fn check_event_names(
    names: &BTreeMap<String, String>,
    partner: &PartnerView<'_>,
    example: &str,
    errors: &mut Vec<OptionError>,
) {
    for t in partner.event_types {
        match names.get(t) {
            None => errors.push(OptionError::new(
                &format!("profile_options.event_names.{t}"),
                format!("event type {t:?} has no event name"),
                format!("add {t} = \"{example}\" (the partner's event name) to profile_options.event_names, or remove {t:?} from event_types"),
            )),
            Some(n) if n.trim().is_empty() => errors.push(OptionError::new(
                &format!("profile_options.event_names.{t}"),
                "is empty",
                format!("write the partner's event name, e.g. \"{example}\""),
            )),
            Some(_) => {}
        }
    }
    for k in names.keys() {
        if !partner.event_types.iter().any(|t| t == k) {
            errors.push(OptionError::new(
                &format!("profile_options.event_names.{k}"),
                format!("{k:?} is not one of the partner's event_types"),
                format!("add {k:?} to event_types or remove this entry"),
            ));
        }
    }
}

/// A profile built from its kind and the partner's options; the options are
/// validated first. The adgate profile needs the partner key and is built
/// with [`adgate::AdgateProfile::new`] instead.
pub fn build(
    kind: ProfileKind,
    options: &toml::Value,
    partner: &PartnerView<'_>,
) -> Result<Box<dyn Profile>, Vec<OptionError>> {
    fn parse<T: serde::de::DeserializeOwned>(v: &toml::Value) -> Result<T, Vec<OptionError>> {
        v.clone().try_into().map_err(|e: toml::de::Error| {
            vec![OptionError::new(
                "profile_options",
                e.message().to_owned(),
                "see docs/profiles.md for the keys of this profile",
            )]
        })
    }
    match kind {
        ProfileKind::Adgate => Err(vec![OptionError::new(
            "profile_options",
            "the adgate profile takes no options",
            "remove [partners.profile_options]",
        )]),
        ProfileKind::MetaCapi => {
            let o: meta_capi::MetaOptions = parse(options)?;
            o.validate(partner)?;
            Ok(Box::new(meta_capi::MetaCapi::new(o)))
        }
        ProfileKind::GoogleAds => {
            let o: google_ads::GoogleOptions = parse(options)?;
            o.validate(partner)?;
            Ok(Box::new(google_ads::GoogleAds::new(o)))
        }
        ProfileKind::TiktokEvents => {
            let o: tiktok_events::TiktokOptions = parse(options)?;
            o.validate(partner)?;
            Ok(Box::new(tiktok_events::TiktokEvents::new(o)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex64_hashes_and_forwards() {
        // SHA-256("") is well known.
        assert_eq!(
            Hex64::sha256(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let up = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(
            Hex64::prehashed(up).unwrap().as_str(),
            up.to_ascii_lowercase()
        );
        assert!(Hex64::prehashed(&up[1..]).is_none());
        assert!(Hex64::prehashed(&format!("{}g", &up[1..])).is_none());
    }

    #[test]
    fn hex_that_spells_text_is_not_a_hash() {
        // The hex of a 32-character email address poses as its SHA-256.
        let email = "leak.target.person12@example.com";
        assert_eq!(email.len(), 32);
        assert!(Hex64::prehashed(&crate::util::hex(email.as_bytes())).is_none());
        // Digits, zero padding or UTF-16 posing as a digest.
        for fake in [
            "0000000000000000000000000000000000000000000000000000014155550123",
            "2b31343135353535303132330000000000000000000000000000000000000000",
            "6a0061006e0065002e0064006f006500400067006d00610069006c002e006300",
            "4111111111111111000000000000000000000000000000000000000000000000",
        ] {
            assert!(Hex64::prehashed(fake).is_none(), "{fake}");
        }
        // Real digests, of anything, are taken.
        for i in 0..20_000 {
            let d = Hex64::sha256(format!("person{i}@example.com").as_bytes());
            assert!(Hex64::prehashed(d.as_str()).is_some(), "{i}");
        }
    }

    #[test]
    fn raw_wins_over_prehashed_and_prehashed_is_not_rehashed() {
        let p = tiktok_events::TiktokEvents::new(tiktok_events::TiktokOptions::example());
        let pre = Hex64::sha256(b"someone@example.org");
        let upper = pre.as_str().to_ascii_uppercase();
        let only_pre = ProfileInput {
            email_sha256: Some(&upper),
            ..Default::default()
        };
        assert_eq!(p.hashed_email(&only_pre), Some(pre));
        let both = ProfileInput {
            email: Some(" Jane@Example.com"),
            email_sha256: Some(&upper),
            ..Default::default()
        };
        assert_eq!(
            p.hashed_email(&both),
            Some(Hex64::sha256(b"jane@example.com"))
        );
    }

    #[test]
    fn build_parses_and_validates_options() {
        let types = ["ad_impression".to_owned()];
        let view = PartnerView {
            event_types: &types,
            fields: &[],
        };
        let opts: toml::Value =
            toml::from_str("pixel_id = \"123\"\nevent_names = { ad_impression = \"ViewContent\" }")
                .unwrap();
        let p = build(ProfileKind::MetaCapi, &opts, &view).unwrap();
        assert_eq!(p.name(), "meta_capi");
        assert!(p.linkable());
        assert_eq!(p.endpoint_suffix().as_deref(), Some("/123/events"));

        let typo: toml::Value = toml::from_str("pixel = \"123\"").unwrap();
        let errs = build(ProfileKind::MetaCapi, &typo, &view).unwrap_err();
        assert!(errs[0].problem.contains("unknown field"), "{errs:?}");
        let empty = toml::Value::Table(Default::default());
        let errs = build(ProfileKind::TiktokEvents, &empty, &view).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.key == "profile_options.event_names.ad_impression"),
            "{errs:?}"
        );
        assert!(build(ProfileKind::Adgate, &empty, &view).is_err());
        for k in ProfileKind::ALL {
            assert_eq!(ProfileKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn encode_errors_leave_output_untouched() {
        let p = meta_capi::MetaCapi::new(meta_capi::MetaOptions::example());
        let mut out = b"prefix".to_vec();
        let unmapped = ProfileInput {
            event_type: "purchase",
            email: Some("jane@example.com"),
            ..Default::default()
        };
        assert_eq!(
            p.encode(&unmapped, &mut out),
            Err(EncodeError::UnmappedEventType {
                event_type: "purchase".into()
            })
        );
        let not_object = ProfileInput {
            event_type: "ad_impression",
            email: Some("jane@example.com"),
            fields: Some("[1,2]"),
            ..Default::default()
        };
        assert_eq!(
            p.encode(&not_object, &mut out),
            Err(EncodeError::FieldsNotObject)
        );
        let nothing = ProfileInput {
            event_type: "ad_impression",
            email: Some("not an email"),
            ..Default::default()
        };
        assert!(matches!(
            p.encode(&nothing, &mut out),
            Err(EncodeError::NoIdentifier { .. })
        ));
        assert_eq!(out, b"prefix");
        // The error text names no value of the event.
        let e = p.encode(&nothing, &mut out).unwrap_err().to_string();
        assert!(!e.contains("not an email"), "{e}");
    }

    #[test]
    fn framing_copies_bytes() {
        let mut out = Vec::new();
        frame(&mut out, b"[", &[b"{\"a\":1}", b"{\"b\":2}"], b"]");
        assert_eq!(out, b"[{\"a\":1},{\"b\":2}]");
        assert_eq!(object_members(" {\"a\":1} "), Some("\"a\":1"));
        assert_eq!(object_members("{}"), Some(""));
        assert_eq!(object_members("[1]"), None);
    }
}
