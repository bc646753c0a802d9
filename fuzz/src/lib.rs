//! The properties the fuzz targets check, one function per target. Each
//! takes an input, runs adgate's real code on it and panics (the fuzzer's
//! "crash") when a property does not hold; a panic inside adgate itself is
//! a crash too.
//!
//! The cargo-fuzz targets (`fuzz_targets/`) feed these functions bytes from
//! libFuzzer; `tests/it/fuzz_props.rs` in the main crate includes this file
//! with `#[path]` and feeds the same functions from structure-aware
//! proptest generators, so stable-toolchain CI checks the same properties.
//!
//! - [`body`]: the ingest body decoder (content type, gzip with a limit,
//!   JSON object / array / NDJSON, the per-event parse).
//! - [`normalization`]: identifier normalization.
//! - [`policy`]: the policy on arbitrary JSON under a few valid configs.
//! - [`config`]: the config loader on arbitrary TOML.
//! - [`tcf`], [`gpp`]: the consent string decoders on arbitrary text.
//! - [`json`]: the event parser's JSON reader against serde_json.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use adgate::config::{env_from, Config};
use adgate::event::{Event, Reject, RejectReason};
use adgate::identity::{normalize, Kind, SubjectHasher};
use adgate::ingest::decode::{self as ingest, BodyForm};
use adgate::policy::guard;
use adgate::policy::{NoOptOuts, Outcome, Policy};
use http::StatusCode;
use http_body_util::BodyExt as _;
use serde_json::value::RawValue;
use serde_json::Value;

// ---------------------------------------------------------------------------
// The JSON reader (src/json.rs) against serde_json.

/// serde_json reading every key and value of a text (strings decoded
/// strictly): whether some object has a key twice.
struct HasDup(bool);

impl<'de> serde::Deserialize<'de> for HasDup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HasDup;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<HasDup, M::Error> {
                let mut seen = std::collections::HashSet::new();
                let mut dup = false;
                while let Some(k) = m.next_key::<String>()? {
                    dup |= !seen.insert(k);
                    dup |= m.next_value::<HasDup>()?.0;
                }
                Ok(HasDup(dup))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<HasDup, S::Error> {
                let mut dup = false;
                while let Some(v) = s.next_element::<HasDup>()? {
                    dup |= v.0;
                }
                Ok(HasDup(dup))
            }
            fn visit_bool<E>(self, _: bool) -> Result<HasDup, E> {
                Ok(HasDup(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<HasDup, E> {
                Ok(HasDup(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<HasDup, E> {
                Ok(HasDup(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<HasDup, E> {
                Ok(HasDup(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<HasDup, E> {
                Ok(HasDup(false))
            }
            fn visit_unit<E>(self) -> Result<HasDup, E> {
                Ok(HasDup(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// serde_json's members of an object in order, each value as its raw text.
fn serde_members(text: &str) -> Vec<(String, String)> {
    use serde::de::{Deserializer as _, MapAccess, Visitor};
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
            let mut out = Vec::new();
            while let Some(k) = m.next_key::<String>()? {
                out.push((k, m.next_value()?));
            }
            Ok(out)
        }
    }
    let mut d = serde_json::Deserializer::from_str(text);
    let members = d.deserialize_map(V).expect("serde_json read it before");
    members
        .into_iter()
        .map(|(k, v)| (k, v.get().to_owned()))
        .collect()
}

/// What the reader answered, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonVerdict {
    Object,
    NotObject,
    Duplicate,
    Syntax,
}

/// adgate's JSON reader (src/json.rs) judges `text` as serde_json does
/// (valid or not, an object or not, a key twice in some object) and reads
/// the same members, top-level and of each top-level object, and the same
/// elements of arrays, value text for value text. Two documented
/// differences are accounted for: a number out of f64's range is JSON to
/// adgate (serde_json's typed read refuses it), and a lone surrogate escape
/// is refused by both here because the reference decodes every string.
/// Returns the verdict.
pub fn json(text: &str) -> Option<JsonVerdict> {
    use adgate::json::{array_items, object_members, parse_document, Error};
    let ours = match parse_document(text) {
        Ok(_) => JsonVerdict::Object,
        Err(Error::NotObject) => JsonVerdict::NotObject,
        Err(Error::DuplicateKey { .. }) => JsonVerdict::Duplicate,
        // serde_json refuses the same depth as a syntax error (its
        // recursion limit).
        Err(Error::Syntax { .. } | Error::TooDeep { .. }) => JsonVerdict::Syntax,
    };
    let want = match serde_json::from_str::<HasDup>(text) {
        Err(e) if e.to_string().contains("number out of range") => return None,
        Err(_) => JsonVerdict::Syntax,
        Ok(HasDup(true)) => JsonVerdict::Duplicate,
        Ok(HasDup(false)) if text.trim_start().starts_with('{') => JsonVerdict::Object,
        Ok(HasDup(false)) => JsonVerdict::NotObject,
    };
    assert_eq!(
        ours, want,
        "the JSON reader and serde_json disagree on {text:?}"
    );
    if ours != JsonVerdict::Object {
        return Some(ours);
    }
    let doc = parse_document(text).expect("read above");
    let read = |m: &[(std::borrow::Cow<'_, str>, adgate::json::Raw<'_>)]| -> Vec<(String, String)> {
        m.iter()
            .map(|(k, v)| (k.to_string(), v.get().to_owned()))
            .collect()
    };
    assert_eq!(
        read(&doc.members),
        serde_members(text),
        "members of {text:?}"
    );
    let objects = doc.members.iter().filter(|(_, v)| v.get().starts_with('{'));
    assert_eq!(
        doc.nested.len(),
        objects.clone().count(),
        "objects kept of {text:?}"
    );
    for (_, v) in objects {
        let (_, kept) = doc
            .nested
            .iter()
            .find(|(at, _)| *at == v.get().as_ptr() as usize)
            .expect("each object member is kept");
        assert_eq!(read(kept), serde_members(v.get()));
        assert_eq!(
            read(&object_members(*v).expect("an object")),
            serde_members(v.get())
        );
    }
    for (_, v) in &doc.members {
        if let Some(items) = array_items(*v) {
            let want: Vec<&RawValue> = serde_json::from_str(v.get()).expect("an array");
            let got: Vec<&str> = items.iter().map(|r| r.get()).collect();
            assert_eq!(got, want.iter().map(|r| r.get()).collect::<Vec<_>>());
        }
    }
    Some(ours)
}

/// [`json`] on bytes (as text when they are UTF-8).
pub fn json_bytes(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        json(text);
    }
}

// ---------------------------------------------------------------------------
// Body decoder.

/// Content types a producer might send, valid and not.
pub const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/json"),
    Some("application/x-ndjson"),
    Some("application/json; charset=utf-8"),
    Some("APPLICATION/X-NDJSON ; q=1"),
    Some("text/plain"),
    Some(""),
    Some("application/jsonl"),
];

/// How the body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As is.
    Identity,
    /// The bytes are the gzip stream (mostly not gzip at all).
    RawGzip,
    /// Compressed here, so it inflates (unless above the limit).
    Gzip,
    /// Compressed here, then cut after `n` bytes.
    GzipTruncated(usize),
    /// Compressed here, then byte `n` (mod len) xor `x`.
    GzipCorrupt(usize, u8),
}

/// One ingest body: what the handler sees after the headers.
#[derive(Debug, Clone)]
pub struct BodyCase<'a> {
    pub content_type: Option<&'a str>,
    pub encoding: Encoding,
    /// server.max_body_bytes (the gzip inflation limit).
    pub limit: usize,
    pub body: &'a [u8],
}

impl<'a> BodyCase<'a> {
    /// The fuzz target's view: two bytes choose type, encoding and limit,
    /// the rest is the body.
    pub fn from_bytes(data: &'a [u8]) -> BodyCase<'a> {
        let (head, body) = data.split_at(data.len().min(2));
        let a = head.first().copied().unwrap_or(0);
        let b = head.get(1).copied().unwrap_or(0) as usize;
        let encoding = match (a >> 3) % 6 {
            0 | 1 => Encoding::Identity,
            2 => Encoding::RawGzip,
            3 => Encoding::Gzip,
            4 => Encoding::GzipTruncated(b),
            _ => Encoding::GzipCorrupt(b, a | 1),
        };
        BodyCase {
            content_type: CONTENT_TYPES[(a & 7) as usize],
            encoding,
            limit: if a & 0x80 != 0 { 1024 } else { 1 << 20 },
            body,
        }
    }
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("vec write");
    e.finish().expect("vec write")
}

/// What [`body`] saw, for tests that want to look further.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BodyOutcome {
    /// The status the handler answers before the policy, if not 202.
    pub refused: Option<u16>,
    pub events: usize,
    pub rejected: usize,
}

/// The decoder never panics; a refusal is a 4xx with a JSON error; every
/// event slot is an event or a reject whose message names the problem,
/// never the content; object, array and NDJSON bodies split into the
/// number of events they hold.
pub fn body(case: &BodyCase<'_>) -> BodyOutcome {
    let mut out = BodyOutcome::default();
    let Some(form) = ingest::body_form(case.content_type) else {
        out.refused = Some(415);
        return out;
    };
    let wire: Vec<u8> = match case.encoding {
        Encoding::Identity | Encoding::RawGzip => case.body.to_vec(),
        Encoding::Gzip => gzip(case.body),
        Encoding::GzipTruncated(n) => {
            let mut z = gzip(case.body);
            z.truncate(n % (z.len() + 1));
            z
        }
        Encoding::GzipCorrupt(n, x) => {
            let mut z = gzip(case.body);
            let i = n % z.len();
            z[i] ^= x;
            z
        }
    };
    let inflated: Vec<u8> = if case.encoding == Encoding::Identity {
        wire
    } else {
        match adgate::api::ingest::gunzip(&wire, case.limit) {
            Ok(v) => {
                assert!(v.len() <= case.limit, "inflated past the limit");
                if case.encoding == Encoding::Gzip {
                    assert_eq!(v, case.body, "gzip round trip");
                }
                v
            }
            Err(r) => {
                let code = r.status();
                assert!(
                    code == StatusCode::BAD_REQUEST || code == StatusCode::PAYLOAD_TOO_LARGE,
                    "gunzip answered {code}"
                );
                if case.encoding == Encoding::Gzip {
                    assert_eq!(
                        code,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "valid gzip refused as {code}"
                    );
                    assert!(case.body.len() > case.limit, "413 under the limit");
                }
                assert_json_error(r);
                out.refused = Some(code.as_u16());
                return out;
            }
        }
    };
    let items = match ingest::split_body(&inflated, form) {
        Ok(items) => items,
        Err(msg) => {
            assert!(
                [
                    "body is empty",
                    "body is JSON but neither an object nor an array of objects",
                    ingest::NOT_JSON,
                ]
                .contains(&msg),
                "unexpected split message {msg:?}"
            );
            out.refused = Some(400);
            return out;
        }
    };
    // docs/http-api.md: an object is one event, an array one per element (`[]` is
    // an empty batch: 202 with nothing accepted), anything else one per
    // non-blank NDJSON line.
    // Only JSON's own whitespace may precede an object or array, after a
    // UTF-8 byte order mark, which is ignored.
    let body = inflated.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&inflated);
    let text = std::str::from_utf8(body)
        .ok()
        .map(|t| t.trim_start_matches([' ', '\t', '\n', '\r']));
    let array = text
        .filter(|t| form == BodyForm::Json && t.starts_with('['))
        .and_then(|t| serde_json::from_str::<Vec<&RawValue>>(t).ok());
    let object = text
        .filter(|t| form == BodyForm::Json && t.starts_with('{'))
        .is_some_and(|t| serde_json::from_str::<&RawValue>(t).is_ok());
    let expected = match array {
        Some(a) => a.len(),
        None if object => 1,
        None => body
            .split(|&b| b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .count(),
    };
    assert_eq!(items.len(), expected, "slots of the body");
    let mut invalid_json = 0;
    for item in &items {
        match item.parse() {
            Ok(ev) => {
                assert!(!ev.event_id.trim().is_empty() && ev.event_id.len() <= 256);
                assert!(!ev.event_type.trim().is_empty() && ev.event_type.len() <= 128);
                out.events += 1;
            }
            Err(rej) => {
                assert_clean_reject(&rej);
                if rej.reason == RejectReason::InvalidJson {
                    invalid_json += 1;
                }
                out.rejected += 1;
            }
        }
    }
    if !items.is_empty() && invalid_json == items.len() && !items.iter().any(|i| i.is_json()) {
        // The handler's 400: not one slot was JSON (an array's elements
        // and NDJSON lines that are JSON but no event are rejected by index).
        out.refused = Some(400);
    }
    out
}

fn assert_json_error(r: adgate::web::Resp) {
    let body = ready(r.into_body().collect())
        .expect("full body")
        .to_bytes();
    let v: Value = serde_json::from_slice(&body).expect("error body is JSON");
    assert!(v["error"].is_string(), "error body {v}");
}

/// `Full` bodies are ready at once; poll once without a runtime.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a Full body is ready at once"),
    }
}

/// A reject's message is one of the shapes event.rs and ingest.rs write:
/// it names a field or a position, never content.
pub fn assert_clean_reject(rej: &Reject) {
    let m = rej.message.as_str();
    let fields = ["event_id", "event_type", "timestamp"];
    // "line L, column C" followed by `)`, both numbers.
    let position = |r: &str| {
        r.strip_suffix(')')
            .and_then(|r| r.split_once(", column "))
            .is_some_and(|(l, c)| l.parse::<u64>().is_ok() && c.parse::<u64>().is_ok())
    };
    let ok =
        match rej.reason {
            RejectReason::InvalidJson => m == "event is not a JSON object"
                || m == "line is not UTF-8"
                || m.strip_prefix("not valid JSON (line ")
                    .is_some_and(position)
                || m.strip_prefix(
                    "a JSON key appears twice in the same object of the event (the second at line ",
                )
                .is_some_and(position)
                || m.strip_prefix(&format!(
                    "objects and arrays nested more than {} deep (the one too deep opens at line ",
                    adgate::json::MAX_DEPTH
                ))
                .is_some_and(position),
            RejectReason::MissingField => fields
                .iter()
                .any(|f| m == format!("missing required field {f}")),
            // A member spelled like one the rules read, in another case or
            // form: the message names the expected spelling only.
            RejectReason::InvalidField if m.contains(" is spelled like \"") => m
                .strip_prefix("invalid field ")
                .and_then(|r| r.split_once(": "))
                .is_some_and(|(path, rest)| {
                    let want = path.rsplit('.').next().unwrap_or(path);
                    want.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                        && rest.ends_with(&format!("; send it exactly as \"{want}\""))
                }),
            // A consent string under another convention's name: the message
            // names both, and the pair is one of the known aliases.
            RejectReason::InvalidField if m.contains("(another convention's name)") => {
                adgate::event::CONSENT_ALIASES.iter().any(|(a, want)| {
                    m == format!(
                        "invalid field consent.{want}: a member of consent names it \"{a}\" \
                         (another convention's name); send it as \"{want}\""
                    )
                })
            }
            RejectReason::InvalidField => fields.iter().any(|f| {
                m.strip_prefix(&format!("invalid field {f}: "))
                    .is_some_and(|why| {
                        [
                            "must be a string",
                            "must not be empty",
                            "longer than 256 bytes",
                            "longer than 128 bytes",
                            "must be an RFC 3339 date-time, e.g. 2026-11-28T13:45:12Z",
                        ]
                        .contains(&why)
                    })
            }),
        };
    assert!(ok, "reject message of unexpected shape: {rej:?}");
}

// ---------------------------------------------------------------------------
// Normalization.

/// Never panics; idempotent (a normalized identifier normalizes to itself,
/// so a producer that pre-normalizes gets the same ad_id); trimming does
/// not matter; the output has the shape (docs/policy.md) of its kind.
pub fn normalization(kind: Kind, raw: &str) {
    let Some(n) = normalize(kind, raw) else {
        if matches!(kind, Kind::AccountId | Kind::DeviceId) {
            assert!(raw.trim().is_empty(), "{kind} {raw:?} refused");
        }
        return;
    };
    assert_eq!(
        normalize(kind, &n).as_deref(),
        Some(n.as_ref()),
        "not idempotent for {kind} {raw:?}"
    );
    assert_eq!(
        normalize(kind, &format!(" \t{raw}\n ")).as_deref(),
        Some(n.as_ref()),
        "surrounding whitespace changes {kind} {raw:?}"
    );
    match kind {
        Kind::Email => {
            assert!(!n.chars().any(char::is_whitespace), "{n:?}");
            let (local, domain) = n.split_once('@').expect("an @");
            assert!(!local.is_empty() && !domain.is_empty() && !domain.contains('@'));
            assert_eq!(n.to_lowercase(), n.as_ref(), "email not lowercased");
            if domain == "gmail.com" || domain == "googlemail.com" {
                assert!(!local.contains('.') && !local.contains('+'), "{n:?}");
            }
            assert_eq!(
                normalize(kind, &raw.to_ascii_uppercase()),
                Some(n.clone()),
                "ASCII case changes the email {raw:?}"
            );
        }
        Kind::Phone => {
            let digits = n.strip_prefix('+').expect("E.164 starts with +");
            assert!((8..=15).contains(&digits.len()), "{n:?}");
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{n:?}");
        }
        Kind::AccountId | Kind::DeviceId => assert_eq!(n.as_ref(), raw.trim()),
    }
}

/// The fuzz target's view: the first byte picks the kind.
pub fn normalization_bytes(data: &[u8]) {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let kind = Kind::ALL[k as usize % 4];
    if let Ok(s) = std::str::from_utf8(rest) {
        normalization(kind, s);
    }
}

// ---------------------------------------------------------------------------
// Policy.

/// Valid configs the policy runs under: different identifier orders, allow
/// lists (leaf fields, whole objects, nested paths) and granularities.
pub const POLICY_CONFIGS: [&str; 3] = [
    r#"
[privacy]
time_granularity = "hour"
[[partners]]
name = "acme"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email", "device_id", "phone"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
[partners.delivery]
mode = "pull"
token_env = "T0"
[[partners.keys]]
id = "k202611"
secret_env = "K0"
"#,
    r#"
[privacy]
minor_age = 16
sensitive_categories = ["health"]
time_granularity = "day"
[[partners]]
name = "beta"
event_types = ["ad_impression", "ad_click", "x"]
identifiers = ["phone", "email"]
fields = ["ad", "custom", "context.category"]
[partners.delivery]
mode = "pull"
token_env = "T0"
[[partners.keys]]
id = "b1"
secret_env = "K0"
"#,
    r#"
[privacy]
time_granularity = "second"
[[partners]]
name = "one"
event_types = ["ad_impression"]
identifiers = ["device_id", "account_id"]
fields = ["app", "ad.tags", "meta.a.b"]
[partners.delivery]
mode = "pull"
token_env = "T0"
[[partners.keys]]
id = "old"
secret_env = "K1"
[[partners.keys]]
id = "new"
secret_env = "K0"
[[partners]]
name = "two"
event_types = ["ad_impression", "app_install"]
identifiers = ["email"]
fields = ["ad.value_estimate_micros", "context.category", "context.campaign"]
[partners.delivery]
mode = "pull"
token_env = "T1"
[[partners.keys]]
id = "t"
secret_env = "K2"
"#,
];

fn policy_env() -> HashMap<String, String> {
    HashMap::from([
        ("T0".into(), "feed-token-zero-0123456789abcdef012345".into()),
        ("T1".into(), "feed-token-one-0123456789abcdef0123456".into()),
        (
            "K0".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ),
        (
            "K1".into(),
            "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=".into(),
        ),
        (
            "K2".into(),
            "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=".into(),
        ),
    ])
}

pub struct PolicyCase {
    pub config: Config,
    pub policy: Policy,
}

pub fn policies() -> &'static [PolicyCase] {
    static P: OnceLock<Vec<PolicyCase>> = OnceLock::new();
    P.get_or_init(|| {
        let env = env_from(policy_env());
        (0..POLICY_CONFIGS.len())
            .map(|i| {
                let config =
                    Config::from_toml(POLICY_CONFIGS[i], "policy.toml", Path::new("."), &env)
                        .unwrap_or_else(|e| panic!("policy config {i}: {e}"));
                let policy = Policy::new(&config, SubjectHasher::new(&[5; 32]));
                PolicyCase { config, policy }
            })
            .collect()
    })
}

/// Never panics; every routed line is a JSON object with exactly the
/// gateway's fields plus allow-listed ones; ad_id and event_id are the
/// docs/policy.md HMACs of the first usable identifier and the event id; time is
/// the timestamp truncated to the granularity; this oracle's own detector
/// ([`personal_data`], not the gateway's guard) finds no email address,
/// phone-length digit run or card number in any copied string or number;
/// no copied string or number contains (or, for identifiers under 6 bytes,
/// equals) an identifier the event carries, raw or normalized, in any ASCII
/// case; and no copied string holds 12+ hex or 16+ base64 characters of an
/// unkeyed digest (SHA-256, SHA-1, MD5, SHA-512) of one ([`digests`]).
///
/// Returns how many partner copies were routed (callers count them, so a
/// policy that drops everything cannot pass unnoticed).
pub fn policy(which: usize, text: &str) -> usize {
    let case = &policies()[which % POLICY_CONFIGS.len()];
    let ev = match Event::parse(text) {
        Ok(ev) => ev,
        Err(rej) => {
            assert_clean_reject(&rej);
            return 0;
        }
    };
    let eval = case.policy.evaluate(&ev, &NoOptOuts);
    assert_eq!(eval.outcomes.len(), case.config.partners.len());
    let mut routed = 0;
    for (p, outcome) in case.config.partners.iter().zip(&eval.outcomes) {
        let Outcome::Route(s) = outcome else { continue };
        check_line(&case.config, p, &ev, s.line());
        routed += 1;
    }
    routed
}

/// The fuzz target's view: the first byte picks the config.
pub fn policy_bytes(data: &[u8]) {
    let Some((&c, rest)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = policy(c as usize, text);
    }
}

const GATEWAY_FIELDS: [&str; 5] = ["event_type", "time", "ad_id", "ad_id_type", "event_id"];

fn check_line(config: &Config, p: &adgate::config::PartnerConfig, ev: &Event<'_>, line: &[u8]) {
    let v: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
        panic!(
            "output is not JSON ({e}): {}",
            String::from_utf8_lossy(line)
        )
    });
    let obj = v.as_object().expect("output is an object");
    let roots: Vec<&str> = p
        .fields
        .iter()
        .map(|f| f.path.split('.').next().unwrap_or(&f.path))
        .collect();
    for k in obj.keys() {
        assert!(
            GATEWAY_FIELDS.contains(&k.as_str()) || roots.contains(&k.as_str()),
            "key {k:?} is neither the gateway's nor allow-listed: {v}"
        );
    }
    for k in GATEWAY_FIELDS {
        assert!(obj[k].is_string(), "{k} missing: {v}");
    }
    let mut all_paths = Vec::new();
    key_paths(&v, "", &mut all_paths);
    for path in &all_paths {
        assert!(
            !adgate::config::PROTECTED_PATHS
                .iter()
                .any(|p| path == p || path.starts_with(&format!("{p}."))),
            "protected path {path} in {v}"
        );
    }
    assert_eq!(obj["event_type"], ev.event_type.as_ref());
    assert!(p.event_types.iter().any(|t| *t == ev.event_type));

    // ad_id: the first identifier of the partner's list that normalizes.
    let (kind, norm) = p
        .identifiers
        .iter()
        .find_map(|k| {
            ev.identifier(*k)
                .and_then(|raw| normalize(*k, raw))
                .map(|n| (*k, n))
        })
        .expect("routed without an identifier");
    assert_eq!(obj["ad_id_type"], kind.as_str());
    let key = p.signing_key().partner_key();
    assert_eq!(obj["ad_id"], key.ad_id(kind, &norm));
    assert_eq!(obj["event_id"], key.event_id(&ev.event_id));

    // time: truncated, UTC.
    let g = config.privacy.time_granularity.seconds();
    let t = obj["time"].as_str().unwrap_or_default();
    assert!(t.len() == 20 && t.ends_with('Z'), "time {t:?}");
    assert_eq!(
        adgate::event::parse_rfc3339(t),
        Some(ev.unix_seconds.div_euclid(g) * g),
        "time {t:?} is not the timestamp truncated to {g} s"
    );

    // Copied data: every allow-listed subtree.
    let mut carried: Vec<String> = Vec::new();
    for k in Kind::ALL {
        if let Some(raw) = ev.identifier(k) {
            carried.push(raw.trim().to_ascii_lowercase());
            if let Some(n) = normalize(k, raw) {
                carried.push(n.to_ascii_lowercase());
            }
        }
    }
    if let Some(ip) = &ev.ip {
        carried.push(ip.trim().to_ascii_lowercase());
    }
    carried.retain(|c| !c.is_empty());
    let mut raw_ids: Vec<(Kind, &str)> = Kind::ALL
        .iter()
        .filter_map(|k| ev.identifier(*k).map(|r| (*k, r)))
        .collect();
    raw_ids.retain(|(_, r)| !r.trim().is_empty());
    let (hex_digests, b64_digests) = digests(&raw_ids);
    let paths: Vec<Vec<&str>> = p
        .fields
        .iter()
        .map(|f| f.path.split('.').collect())
        .collect();
    for (k, sub) in obj {
        if GATEWAY_FIELDS.contains(&k.as_str()) {
            continue;
        }
        walk_allowed(
            sub,
            &[k.as_str()],
            &paths,
            &mut |data: &str, is_number: bool| {
                if let Some(what) = personal_data(data, is_number) {
                    panic!("{what} copied in {data:?}: {v}");
                }
                if let Some(d) = digest_piece(data, &hex_digests, &b64_digests) {
                    panic!("{d} of a carried identifier copied in {data:?}: {v}");
                }
                let hay = data.to_ascii_lowercase();
                // Compared as a reader would: case, separators and
                // invisibles ignored (letters and digits only); an
                // identifier of 6+ of them anywhere, a shorter one as the
                // whole value (short ids would match by chance).
                let flat = letters_digits(&hay);
                for c in &carried {
                    let c = letters_digits(c);
                    let leaked = if c.chars().count() >= 6 {
                        flat.contains(c.as_str())
                    } else {
                        !c.is_empty() && flat == c
                    };
                    assert!(!leaked, "carried identifier {c:?} copied in {data:?}: {v}");
                }
            },
        );
    }
}

// ---------------------------------------------------------------------------
// The oracle's own detector. Written here, independently of the gateway's
// guard (which must not judge itself): what a reader sees in a copied value
// after the decodings anyone applies.

/// A decimal digit of the scripts the generators use (ASCII, fullwidth,
/// Arabic-Indic, Extended Arabic-Indic), as its value.
fn oracle_digit(c: char) -> Option<u8> {
    [0x30u32, 0xFF10, 0x660, 0x6F0].iter().find_map(|&b| {
        let u = c as u32;
        (b..b + 10).contains(&u).then(|| (u - b) as u8)
    })
}

/// `s` as read: zero-width, bidi, soft hyphen and control characters
/// removed, fullwidth ASCII folded, percent-encoding undone to a fixed
/// point.
pub fn plain_reading(s: &str) -> String {
    let mut cur: String = s
        .chars()
        .filter(|c| {
            !(c.is_control()
                || matches!(*c as u32, 0xAD | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0xFEFF))
        })
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
            0xFE6B => '@',
            _ => c,
        })
        .collect();
    for _ in 0..4 {
        let b = cur.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit()
            {
                let hex = |x: u8| (x as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

/// Letters and digits of `s`, lowercased (fullwidth folded first).
fn letters_digits(s: &str) -> String {
    plain_reading(s)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// An email address: an ASCII local-part character, `@`, then two or
/// more domain labels, one after a dot starting with two ASCII letters.
pub fn oracle_email(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        if c != b'@' || i == 0 {
            return false;
        }
        let p = b[i - 1];
        if !(p.is_ascii_alphanumeric() || b"._%+-".contains(&p)) {
            return false;
        }
        let dom: Vec<&str> = s[i + 1..]
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
            .next()
            .unwrap_or("")
            .split('.')
            .collect();
        dom.len() >= 2
            && !dom[0].is_empty()
            && dom[1..]
                .iter()
                .any(|l| l.len() >= 2 && l.bytes().take(2).all(|x| x.is_ascii_alphabetic()))
    })
}

pub fn oracle_luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &x)| {
            let v = x as u32 * if k % 2 == 1 { 2 } else { 1 };
            if v > 9 {
                v - 9
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// What of a person a copied value shows, by this oracle: an email
/// address; a run of 10-15 digits (a phone number); a 13-19-digit window
/// of a digit run that passes Luhn (a card). A JSON number counts by its
/// digits when it is written as an integer.
pub fn personal_data(data: &str, is_number: bool) -> Option<&'static str> {
    if is_number && !data.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    let text = if is_number {
        data.to_string()
    } else {
        plain_reading(data)
    };
    if !is_number && oracle_email(&text) {
        return Some("an email address");
    }
    let mut run: Vec<u8> = Vec::new();
    for c in text.chars().map(Some).chain(std::iter::once(None)) {
        if let Some(d) = c.and_then(oracle_digit) {
            run.push(d);
            continue;
        }
        let digits = run.iter().skip_while(|d| **d == 0).count();
        if (10..=15).contains(&digits) && !is_number {
            return Some("a phone-length digit run");
        }
        // Card numbers never start with 0 (and a window of zeros passes Luhn).
        if (13..=19).any(|w| run.len() >= w && run.windows(w).any(|x| x[0] != 0 && oracle_luhn(x)))
        {
            return Some("a card number");
        }
        run.clear();
    }
    None
}

/// Unkeyed digests of every form of the carried identifiers a partner
/// could hash (as sent, trimmed, lowercased, normalized; a phone's digits
/// with and without `+`): SHA-256, SHA-1, MD5 and SHA-512, as lowercase
/// hex and as base64 (standard and URL-safe, no padding).
pub fn digests(ids: &[(Kind, &str)]) -> (Vec<String>, Vec<String>) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut forms: Vec<String> = Vec::new();
    for (k, raw) in ids {
        forms.extend([
            raw.to_string(),
            raw.trim().to_string(),
            raw.trim().to_lowercase(),
        ]);
        if let Some(n) = normalize(*k, raw) {
            forms.push(n.to_string());
            if *k == Kind::Phone {
                forms.push(n.trim_start_matches('+').to_string());
            }
        }
    }
    forms.sort();
    forms.dedup();
    let mut hex = Vec::new();
    let mut b64 = Vec::new();
    for f in &forms {
        let b = f.as_bytes();
        for d in [
            sha2::Sha256::digest(b).to_vec(),
            sha1::Sha1::digest(b).to_vec(),
            md5::Md5::digest(b).to_vec(),
            sha2::Sha512::digest(b).to_vec(),
        ] {
            hex.push(d.iter().map(|x| format!("{x:02x}")).collect());
            b64.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&d));
            b64.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d));
        }
    }
    (hex, b64)
}

/// A piece of one of `hex` (12+ hex characters, any case) or `b64` (16+
/// characters) in `data`.
pub fn digest_piece(data: &str, hex: &[String], b64: &[String]) -> Option<&'static str> {
    fn runs(s: &str, ok: impl Fn(char) -> bool, min: usize) -> Vec<&str> {
        s.split(|c: char| !ok(c))
            .filter(|r| r.len() >= min)
            .collect()
    }
    let lower = data.to_ascii_lowercase();
    for r in runs(&lower, |c| c.is_ascii_hexdigit(), 12) {
        if hex.iter().any(|h| h.contains(r) || r.contains(h.as_str())) {
            return Some("an unkeyed digest (hex)");
        }
    }
    for r in runs(
        data,
        |c| c.is_ascii_alphanumeric() || "+/_-".contains(c),
        16,
    ) {
        let r = r.trim_end_matches('=');
        if b64.iter().any(|h| h.contains(r) || r.contains(h.as_str())) {
            return Some("an unkeyed digest (base64)");
        }
    }
    None
}

/// Every key path of `v` (`ad.tags`), objects in arrays included.
fn key_paths(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                key_paths(x, &p, out);
                out.push(p);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| key_paths(x, at, out)),
        _ => {}
    }
}

/// Calls `f` on every copied datum below the allow-listed paths: strings,
/// numbers and the keys of objects copied whole. Keys on the way down to
/// an allow-listed leaf are the config's names, not data.
fn walk_allowed(v: &Value, at: &[&str], paths: &[Vec<&str>], f: &mut dyn FnMut(&str, bool)) {
    let is_leaf = paths.iter().any(|p| p.as_slice() == at);
    if is_leaf {
        walk_data(v, f);
        return;
    }
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{at:?} is not a leaf but not an object: {v}"));
    for (k, sub) in obj {
        let mut next = at.to_vec();
        next.push(k);
        assert!(
            paths.iter().any(|p| p.starts_with(&next)),
            "{next:?} is not on an allow-listed path"
        );
        walk_allowed(sub, &next, paths, f);
    }
}

fn walk_data(v: &Value, f: &mut dyn FnMut(&str, bool)) {
    match v {
        Value::String(s) => f(s, false),
        Value::Number(n) => f(&n.to_string(), true),
        Value::Array(a) => a.iter().for_each(|x| walk_data(x, f)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            f(k, false);
            walk_data(x, f)
        }),
        Value::Bool(_) | Value::Null => {}
    }
}

// ---------------------------------------------------------------------------
// Config loader.

/// Secret values the loader can see (in the environment and in files under
/// the config's directory); none may ever appear in an error or summary.
pub const CANARIES: [(&str, &str); 7] = [
    ("TOKEN_A", "canary-token-a-7d1e0c8f9a4b4e21b6a0d9c3"),
    ("TOKEN_B", "canary-token-b-52aa91f03c6d4f0e8e17b2d4"),
    // A valid 32-byte key (base64) and one too short.
    ("KEY_A", "Y2FuYXJ5LWtleS1hLTAxMjM0NTY3ODlhYmNkZWYwMTI="),
    ("KEY_SHORT", "Y2FuYXJ5LXNob3J0"),
    ("TOKEN_C", "canary-token-c-1f2e3d4c5b6a79880011aa"),
    ("SIGNING", "canary-signing-secret-0f3b6c1d2e"),
    ("EMPTY", ""),
];

/// Files the fuzzed TOML may name as `*_file` (relative to the config).
pub const CANARY_FILES: [(&str, &str); 2] = [
    ("token.txt", "canary-file-token-6a8c0e2f4b1d3f5a\n"),
    ("key.b64", "Y2FuYXJ5LWZpbGUta2V5LTAxMjM0NTY3ODlhYmNkZWY=\n"),
];

/// A directory with the canary files, made once per process.
///
/// One directory per user, not per process: libFuzzer exits without
/// running destructors, so a per-process directory would be left behind
/// by every run. The files are written beside their name and renamed in,
/// so a fuzzer starting while another one reads never sees a short file.
pub fn config_dir() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let uid =
            std::fs::metadata("/proc/self").map_or(0, |m| std::os::unix::fs::MetadataExt::uid(&m));
        let d = std::env::temp_dir().join(format!("adgate-fuzz-config-u{uid}"));
        std::fs::create_dir_all(&d).expect("temp dir");
        for (name, content) in CANARY_FILES {
            let path = d.join(name);
            let part = d.join(format!("{name}.{}", std::process::id()));
            std::fs::write(&part, content).expect("canary file");
            // Owner-only, as adgate requires of secret files.
            std::fs::set_permissions(&part, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod canary file");
            std::fs::rename(&part, &path).expect("rename canary file");
        }
        d
    })
}

/// Every canary secret, and what the base64 ones decode to.
fn secret_values() -> Vec<String> {
    let mut v: Vec<String> = CANARIES
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(_, s)| s.to_string())
        .collect();
    v.extend(CANARY_FILES.iter().map(|(_, s)| s.trim_end().to_string()));
    // What the keys decode to.
    v.extend(
        [
            "canary-key-a-0123456789abcdef012",
            "canary-short",
            "canary-file-key-0123456789abcdef",
        ]
        .map(String::from),
    );
    v
}

/// Never panics; either a Config whose summary shows no secret, or an
/// error of the documented shape `FILE: key.path: problem (fix: ...)` (or
/// `FILE: problem (fix: ...)`) that shows no secret the input did not
/// itself contain.
pub fn config(text: &str) {
    const FILE: &str = "fuzz.toml";
    let env: HashMap<String, String> = CANARIES
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = env_from(env);
    let shown = match Config::from_toml(text, FILE, config_dir(), &lookup) {
        Ok(c) => {
            durations_usable(&c);
            let mut s = c.summary();
            for w in &c.warnings {
                s.push_str(w);
            }
            s.push_str(&format!("{c:?}"));
            s
        }
        Err(e) => {
            let s = e.to_string();
            let rest = s
                .strip_prefix(&format!("{FILE}: "))
                .unwrap_or_else(|| panic!("error does not start with the file: {s}"));
            assert!(
                rest.ends_with(')') && rest.contains(" (fix: "),
                "error has no fix: {s}"
            );
            assert!(!e.problem.is_empty() && !e.fix.is_empty(), "{s}");
            assert!(
                e.key.is_empty() || rest.starts_with(&format!("{}: ", e.key)),
                "{s}"
            );
            assert!(!e.key.contains('\n'), "key path spans lines: {s}");
            s
        }
    };
    for secret in secret_values() {
        assert!(
            !shown.contains(&secret) || text.contains(&secret),
            "a secret is shown: {shown}"
        );
    }
}

/// A valid config's durations can be used as the gateway uses them
/// without overflow: added to a monotonic now (shutdown deadline, batch
/// window, push timeout, pull lease) and, in milliseconds, to an ingest
/// time in epoch milliseconds (max_event_age).
fn durations_usable(c: &Config) {
    use adgate::config::Delivery;
    let now = std::time::Instant::now();
    // 2100-01-01 in epoch milliseconds.
    let ingest_ms: u64 = 4_102_444_800_000;
    let mut offsets = vec![("server.shutdown_grace_seconds", c.server.shutdown_grace)];
    for p in &c.partners {
        offsets.push(("batch_max_wait_ms", p.batch_max_wait));
        match &p.delivery {
            Delivery::Push(d) => offsets.push(("timeout_ms", d.timeout)),
            Delivery::Pull(d) => offsets.push(("lease_ms", d.lease)),
        }
        let age_ms = u64::try_from(p.max_event_age.as_millis()).ok();
        assert!(
            age_ms.and_then(|a| a.checked_add(ingest_ms)).is_some(),
            "max_event_age_seconds {:?} overflows an expiry in ms",
            p.max_event_age
        );
    }
    for (key, d) in offsets {
        assert!(
            now.checked_add(d).is_some(),
            "{key} {d:?} overflows an Instant"
        );
    }
}

pub fn config_bytes(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        config(text);
    }
}

// ---------------------------------------------------------------------------
// Consent string decoders.

/// Never panics; a decoded TC string re-encodes (core segment) to a string
/// that decodes to the same model; lookups on any vendor id are answered;
/// an error message never quotes the input.
pub fn tcf(text: &str) {
    use adgate::consent::tcf::{TcModel, TcString};
    match TcString::decode(text) {
        Ok(t) => {
            let m = TcModel::from_decoded(&t);
            let encoded = m.encode();
            let again = TcString::decode(&encoded).expect("re-encoded string decodes");
            assert_eq!(TcModel::from_decoded(&again), m);
            for v in [0, 1, 755, t.vendor_consents.max_vendor_id, u16::MAX] {
                let _ = (t.vendor_consent(v), t.vendor_li(v));
                let _ = t.restricted_purpose(u32::MAX, v);
            }
        }
        Err(e) => assert_no_quote(&e.to_string(), text),
    }
}

/// Never panics; every US section decoded re-encodes to the same values;
/// the consent verdict is computed for health and other categories; an
/// error message never quotes the input.
pub fn gpp(text: &str) {
    use adgate::consent::gpp::Gpp;
    match Gpp::decode(text) {
        Ok(g) => {
            for (section, v) in g.us_sections() {
                let again =
                    adgate::consent::gpp::UsValues::decode(section, v.encode(section).as_bytes())
                        .expect("re-encoded section decodes");
                assert_eq!(&again, v);
            }
            let _ = adgate::consent::gpp_verdict(&g, || true);
            if let Some(r) = adgate::consent::gpp_verdict(&g, || false) {
                assert_no_quote(&r.to_string(), text);
            }
        }
        Err(e) => assert_no_quote(&e.to_string(), text),
    }
}

fn assert_no_quote(message: &str, input: &str) {
    // The messages are fixed English text. The fuzzer steers inputs towards
    // pieces of them ("C string ", "e base64"), so an input counts as quoted
    // only when it is long and carries characters such text does not have
    // (a TC or GPP string's `-`, `_`, `.`, `~`).
    let text_like = input
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | ',' | ':' | '(' | ')' | '\''));
    if input.len() >= 20 && !text_like {
        assert!(
            !message.contains(input),
            "message quotes its input: {message}"
        );
    }
}

pub fn tcf_bytes(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        tcf(text);
    }
}

pub fn gpp_bytes(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        gpp(text);
    }
}

// ---------------------------------------------------------------------------
// Leak guard decoding.

/// Ways an email can be written so that a plain pattern scan misses it. The
/// encoders are written here, independently of the gateway's decoders.
pub const EMAIL_ENCODINGS: usize = 16;

fn b64(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

fn b32(data: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &x in data {
        acc = acc << 8 | x as u32;
        bits += 8;
        while bits >= 5 {
            out.push(A[(acc >> (bits - 5) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[(acc << (5 - bits) & 31) as usize] as char);
    }
    out
}

/// `email` written in encoding `which` (0..EMAIL_ENCODINGS).
pub fn encode_email(email: &str, which: usize) -> String {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    match which % EMAIL_ENCODINGS {
        0 => email.to_string(),
        1 => email.replace('@', "%40"),
        2 => email.replace('@', "%2540").replace('.', "%252E"),
        3 => email.replace('@', "&#064;"),
        4 => email.replace('@', "&#x40;").replace('.', "&period;"),
        5 => email
            .chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
                _ => c,
            })
            .collect(),
        6 => email.chars().flat_map(|c| [c, '\u{200b}']).collect(),
        7 => email.replace('@', "\\u0040"),
        8 => b64(email.as_bytes(), STD, true),
        9 => b64(email.as_bytes(), URL, false),
        10 => email.bytes().map(|b| format!("{b:02x}")).collect(),
        11 => b32(email.as_bytes()),
        12 => email.replace('@', " (at) ").replace('.', " [dot] "),
        13 => email.replace('@', "\"@"),
        14 => email.replace('@', "\u{7}@").replace('.', "\u{ad}."),
        _ => email.replace('@', "\u{FE6B}"),
    }
}

/// Never panics on any text, and finds an email planted in any of
/// [`encode_email`]'s encodings inside ordinary words.
pub fn guard_bytes(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = guard::scan(s);
        let _ = adgate::canon::canonical(s);
    }
    if data.len() < 4 {
        return;
    }
    let which = data[0] as usize;
    let pick = |b: &[u8], set: &[u8], min: usize| -> String {
        let mut s: String = b
            .iter()
            .map(|x| set[*x as usize % set.len()] as char)
            .collect();
        while s.len() < min {
            s.push(set[s.len() % set.len()] as char);
        }
        s
    };
    let rest = &data[1..];
    let n = rest.len();
    let local = pick(&rest[..n / 3], b"abcdefghijklmnopqrstuvwxyz0123456789._", 1);
    let local = format!("j{local}");
    let domain = pick(
        &rest[n / 3..2 * n / 3],
        b"abcdefghijklmnopqrstuvwxyz0123456789",
        1,
    );
    let tld = pick(&rest[2 * n / 3..], b"abcdefghijklmnopqrstuvwxyz", 2);
    let tld: String = tld.chars().take(6).collect();
    let email = format!("{local}@{domain}.{tld}");
    let hidden = encode_email(&email, which);
    for text in [
        hidden.clone(),
        format!("note: {hidden} thanks"),
        format!("x={hidden}"),
    ] {
        assert_eq!(
            guard::scan(&text),
            Some(guard::Hit::Email),
            "guard misses {email:?} written as {text:?} (encoding {})",
            which % EMAIL_ENCODINGS
        );
    }
}
