//! The input event as the policy reads it: one pass of serde_json over the
//! object that keeps every top-level value as a borrowed [`RawValue`], then
//! typed reads of the few members the rules look at (docs/http-api.md, input event).
//!
//! Nothing here allocates per field unless a string carries JSON escapes.
//! Problems that make the event unusable for everyone (missing or malformed
//! required fields) are [`Reject`]s; the error text names the field, never its
//! content.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::identity::Kind;

/// Why an event of a body is rejected (the `reason` label of
/// `adgate_events_rejected_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    InvalidJson,
    MissingField,
    InvalidField,
}

impl RejectReason {
    pub const ALL: [RejectReason; 3] = [
        RejectReason::InvalidJson,
        RejectReason::MissingField,
        RejectReason::InvalidField,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidField => "invalid_field",
        }
    }
}

/// A rejected event: the reason and a message that names the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub reason: RejectReason,
    pub message: String,
}

impl Reject {
    pub fn invalid_json(msg: impl Into<String>) -> Reject {
        Reject {
            reason: RejectReason::InvalidJson,
            message: msg.into(),
        }
    }
    fn missing(field: &str) -> Reject {
        Reject {
            reason: RejectReason::MissingField,
            message: format!("missing required field {field}"),
        }
    }
    fn invalid(field: &str, why: &str) -> Reject {
        Reject {
            reason: RejectReason::InvalidField,
            message: format!("invalid field {field}: {why}"),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A JSON object's members, borrowed from the input.
#[derive(Debug, Default)]
pub struct Obj<'a> {
    pub members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Obj<'a> {
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        // Last one wins, as in most JSON readers.
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    /// Parses `raw` as an object; `None` if it is any other JSON value.
    pub fn parse(raw: &'a RawValue) -> Option<Obj<'a>> {
        if !raw.get().starts_with('{') {
            return None;
        }
        serde_json::from_str::<Obj<'a>>(raw.get()).ok()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Obj<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Obj<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Obj<'a>, M::Error> {
                let mut members = Vec::with_capacity(m.size_hint().unwrap_or(12));
                while let Some(BorrowedStr(k)) = m.next_key::<BorrowedStr<'de>>()? {
                    let v: &'de RawValue = m.next_value()?;
                    members.push((k, v));
                }
                Ok(Obj { members })
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// What a JSON value is, from its first byte (RawValue has no surrounding
/// whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

pub fn kind_of(raw: &RawValue) -> JsonKind {
    match raw.get().as_bytes().first() {
        Some(b'n') => JsonKind::Null,
        Some(b't' | b'f') => JsonKind::Bool,
        Some(b'"') => JsonKind::String,
        Some(b'[') => JsonKind::Array,
        Some(b'{') => JsonKind::Object,
        _ => JsonKind::Number,
    }
}

pub fn as_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    if kind_of(raw) != JsonKind::String {
        return None;
    }
    let text = raw.get();
    // RawValue already validated the string: without a backslash its
    // contents are the text between the quotes.
    let inner = &text[1..text.len() - 1];
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<BorrowedStr<'_>>(text)
        .ok()
        .map(|b| b.0)
}

/// A JSON string borrowed from the input when it has no escapes, owned
/// otherwise. (serde's own `Cow<str>` always allocates.)
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BorrowedStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

pub fn as_bool(raw: &RawValue) -> Option<bool> {
    match raw.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub fn as_f64(raw: &RawValue) -> Option<f64> {
    if kind_of(raw) != JsonKind::Number {
        return None;
    }
    raw.get().parse::<f64>().ok()
}

/// A tri-state read of an optional member: absent (or null), a value of the
/// expected type, or present with the wrong type.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    Absent,
    Value(T),
    WrongType,
}

fn read<'a, T>(raw: Option<&'a RawValue>, f: impl FnOnce(&'a RawValue) -> Option<T>) -> Field<T> {
    match raw {
        None => Field::Absent,
        Some(r) if kind_of(r) == JsonKind::Null => Field::Absent,
        Some(r) => match f(r) {
            Some(v) => Field::Value(v),
            None => Field::WrongType,
        },
    }
}

/// An input event, validated for its required fields.
#[derive(Debug)]
pub struct Event<'a> {
    pub top: Obj<'a>,
    pub event_id: Cow<'a, str>,
    pub event_type: Cow<'a, str>,
    /// Unix seconds, UTC.
    pub unix_seconds: i64,
    /// Raw identifier strings by [`Kind::index`]; absent, or not a string.
    pub identifiers: [Option<Cow<'a, str>>; 4],
    pub age: Field<f64>,
    pub personalized_ads: Field<bool>,
    pub gpc: Field<bool>,
    /// `consent.tcf`, `consent.gpp`, `consent.ad_user_data`,
    /// `consent.ad_personalization`: read as written, decoded by
    /// [`crate::consent`] only when a partner needs them.
    pub tcf: Field<Cow<'a, str>>,
    pub gpp: Field<Cow<'a, str>>,
    pub ad_user_data: Field<Cow<'a, str>>,
    pub ad_personalization: Field<Cow<'a, str>>,
    pub category: Field<Cow<'a, str>>,
    /// `user.birth_date` (`YYYY-MM-DD`, checked by the policy).
    pub birth_date: Field<Cow<'a, str>>,
    /// `user` or `consent` or `context` present but not an object.
    pub malformed_block: Option<&'static str>,
    /// `user.ip`, only so the leak guard can look for it in the output.
    pub ip: Option<Cow<'a, str>>,
    /// The `user` and `context` objects as parsed, for the leak guard's
    /// protected values (parsed once).
    pub user: Option<Obj<'a>>,
    pub context: Option<Obj<'a>>,
}

impl<'a> Event<'a> {
    /// Parses one event from JSON text (an object).
    pub fn parse(text: &'a str) -> Result<Event<'a>, Reject> {
        let top: Obj<'a> = serde_json::from_str(text).map_err(|e| {
            Reject::invalid_json(if e.is_data() {
                "event is not a JSON object".to_string()
            } else {
                format!("not valid JSON (line {}, column {})", e.line(), e.column())
            })
        })?;
        check_duplicates(text)?;
        Event::from_obj(top)
    }

    pub fn from_raw(raw: &'a RawValue) -> Result<Event<'a>, Reject> {
        match Obj::parse(raw) {
            Some(o) => {
                check_duplicates(raw.get())?;
                Event::from_obj(o)
            }
            None => Err(Reject::invalid_json("event is not a JSON object")),
        }
    }

    pub fn from_obj(top: Obj<'a>) -> Result<Event<'a>, Reject> {
        let required_str = |name: &str| -> Result<Cow<'a, str>, Reject> {
            match read(top.get(name), as_str) {
                Field::Absent => Err(Reject::missing(name)),
                Field::WrongType => Err(Reject::invalid(name, "must be a string")),
                Field::Value(s) if s.trim().is_empty() => {
                    Err(Reject::invalid(name, "must not be empty"))
                }
                Field::Value(s) => Ok(s),
            }
        };
        let event_id = required_str("event_id")?;
        if event_id.len() > 256 {
            return Err(Reject::invalid("event_id", "longer than 256 bytes"));
        }
        let event_type = required_str("event_type")?;
        if event_type.len() > 128 {
            return Err(Reject::invalid("event_type", "longer than 128 bytes"));
        }
        let ts = required_str("timestamp")?;
        let unix_seconds = parse_rfc3339(&ts).ok_or_else(|| {
            Reject::invalid(
                "timestamp",
                "must be an RFC 3339 date-time, e.g. 2026-11-28T13:45:12Z",
            )
        })?;

        let mut malformed_block = None;
        let mut block = |name: &'static str| -> Option<Obj<'a>> {
            let raw = top.get(name)?;
            match kind_of(raw) {
                JsonKind::Null => None,
                JsonKind::Object => Obj::parse(raw),
                _ => {
                    malformed_block.get_or_insert(name);
                    None
                }
            }
        };
        check_key_spelling(&top, TOP_LEVEL_KEYS, "")?;
        let user = block("user");
        let consent = block("consent");
        let context = block("context");
        for (b, name, keys) in [
            (&user, "user", USER_KEYS),
            (&consent, "consent", CONSENT_KEYS),
            (&context, "context", CONTEXT_KEYS),
        ] {
            if let Some(o) = b {
                check_key_spelling(o, keys, name)?;
            }
        }

        let mut identifiers: [Option<Cow<'a, str>>; 4] = Default::default();
        let mut age = Field::Absent;
        let mut birth_date = Field::Absent;
        let mut ip = None;
        if let Some(u) = &user {
            for k in Kind::ALL {
                identifiers[k.index()] = u.get(k.as_str()).and_then(as_str);
            }
            age = read(u.get("age"), as_f64);
            birth_date = read(u.get("birth_date"), as_str);
            ip = u.get("ip").and_then(as_str);
        }
        let (personalized_ads, gpc) = match &consent {
            Some(c) => (
                read(c.get("personalized_ads"), as_bool),
                read(c.get("gpc"), as_bool),
            ),
            None => (Field::Absent, Field::Absent),
        };
        let consent_str = |key: &str| match &consent {
            Some(c) => read(c.get(key), as_str),
            None => Field::Absent,
        };
        let (tcf, gpp) = (consent_str("tcf"), consent_str("gpp"));
        let ad_user_data = consent_str("ad_user_data");
        let ad_personalization = consent_str("ad_personalization");
        let category = match &context {
            Some(c) => read(c.get("category"), as_str),
            None => Field::Absent,
        };
        Ok(Event {
            top,
            event_id,
            event_type,
            unix_seconds,
            identifiers,
            age,
            personalized_ads,
            gpc,
            tcf,
            gpp,
            ad_user_data,
            ad_personalization,
            category,
            birth_date,
            malformed_block,
            ip,
            user,
            context,
        })
    }

    pub fn identifier(&self, kind: Kind) -> Option<&str> {
        self.identifiers[kind.index()].as_deref()
    }
}

/// Top-level members the rules read or protect: a member spelled like one of
/// these in another case or Unicode form (`"User"`, `"ｕｓｅｒ"`) is refused,
/// or a minor's age or an opt-out could hide in it.
const TOP_LEVEL_KEYS: &[&str] = &[
    "event_id",
    "event_type",
    "timestamp",
    "user",
    "consent",
    "context",
    "purchase",
    "search",
    "view",
    "ad",
    "app",
];
const USER_KEYS: &[&str] = &[
    "email",
    "phone",
    "account_id",
    "device_id",
    "age",
    "birth_date",
    "ip",
];
const CONSENT_KEYS: &[&str] = &[
    "personalized_ads",
    "gpc",
    "tcf",
    "gpp",
    "ad_user_data",
    "ad_personalization",
];
const CONTEXT_KEYS: &[&str] = &["category", "page_url", "referrer", "ip", "user_agent"];

/// Refuses a member whose name equals one of `known` only after case
/// folding and Unicode normalization. The message names the expected
/// spelling, never the member's own (it could be anything).
fn check_key_spelling(o: &Obj<'_>, known: &[&str], within: &str) -> Result<(), Reject> {
    for (k, _) in &o.members {
        if known.contains(&k.as_ref()) {
            continue;
        }
        if k.is_ascii() && !k.bytes().any(|b| b.is_ascii_uppercase()) {
            continue;
        }
        let folded: String = crate::canon::canonical(k)
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        if let Some(want) = known.iter().find(|w| **w == folded) {
            let at = if within.is_empty() {
                format!("a top-level member is spelled like \"{want}\" in another case or form")
            } else {
                format!("a member of {within} is spelled like \"{want}\" in another case or form")
            };
            return Err(Reject {
                reason: RejectReason::InvalidField,
                message: format!(
                    "invalid field {within}{}{want}: {at}; send it exactly as \"{want}\"",
                    if within.is_empty() { "" } else { "." }
                ),
            });
        }
    }
    Ok(())
}

/// Objects with more members than this are checked for duplicates with a
/// hash set instead of a scan.
const DUP_SCAN_MAX: usize = 32;

/// Refuses an event with a JSON key twice in the same object, at any depth
/// (readers disagree on which one wins, so a rule could read one value and
/// a partner another). The message names no key: a key can be anything.
fn check_duplicates(text: &str) -> Result<(), Reject> {
    if has_duplicate_keys(text.as_bytes()) {
        return Err(Reject::invalid_json(
            "a JSON key appears twice in the same object of the event",
        ));
    }
    Ok(())
}

/// Whether some object of JSON text (that serde_json has already
/// validated) has a key twice. The common case (plain keys, objects of up
/// to [`DUP_SCAN_MAX`] keys) runs on reused per-thread buffers comparing a
/// fingerprint of each key before its bytes; escaped keys and larger
/// objects take [`has_duplicate_keys_general`].
pub fn has_duplicate_keys(b: &[u8]) -> bool {
    thread_local! {
        static SCRATCH: std::cell::RefCell<DupScratch> = const {
            std::cell::RefCell::new(DupScratch { keys: Vec::new(), starts: Vec::new() })
        };
    }
    let fast = SCRATCH.with(|cell| {
        let Ok(mut sc) = cell.try_borrow_mut() else {
            return None;
        };
        dup_fast(b, &mut sc)
    });
    fast.unwrap_or_else(|| has_duplicate_keys_general(b))
}

struct DupScratch {
    /// (fingerprint, start, end) of each key of the open objects, flat.
    keys: Vec<(u64, u32, u32)>,
    /// Where each open object's keys start in `keys`.
    starts: Vec<usize>,
}

/// A key's length and first and last (up to) eight bytes, folded: equal
/// keys have equal fingerprints; most unequal ones differ in it.
fn key_fingerprint(k: &[u8]) -> u64 {
    let load = |s: &[u8]| {
        let mut w = [0u8; 8];
        w[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(w)
    };
    let n = k.len();
    let head = load(&k[..n.min(8)]);
    let tail = load(&k[n.saturating_sub(8)..]);
    head ^ tail.rotate_left(29) ^ ((n as u64) << 56)
}

/// What the duplicate-key scans see of JSON text: object opens and
/// closes, and keys (a string followed by `:`); other strings are skipped
/// whole (a `{` inside one is not an object).
enum KeyToken {
    Open,
    Close,
    /// `b[start..end]` is a key as written; `escaped` when it holds a `\\`.
    Key {
        start: usize,
        end: usize,
        escaped: bool,
    },
}

/// The next [`KeyToken`] at or after `*i`, moving `*i` past it; `None` at
/// the end (or in text that ends inside a string).
fn next_key_token(b: &[u8], i: &mut usize) -> Option<KeyToken> {
    loop {
        let off = memchr::memchr3(b'"', b'{', b'}', &b[*i..])?;
        *i += off;
        match b[*i] {
            b'{' => {
                *i += 1;
                return Some(KeyToken::Open);
            }
            b'}' => {
                *i += 1;
                return Some(KeyToken::Close);
            }
            _ => {
                // A string: find its closing quote, skipping escapes.
                let start = *i + 1;
                let mut j = start;
                let mut escaped = false;
                loop {
                    match memchr::memchr2(b'"', b'\\', &b[j..]) {
                        Some(o) if b[j + o] == b'\\' => {
                            escaped = true;
                            j += o + 2;
                            if j >= b.len() {
                                return None;
                            }
                        }
                        Some(o) => {
                            j += o;
                            break;
                        }
                        None => return None,
                    }
                }
                *i = j + 1;
                let mut k = *i;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k < b.len() && b[k] == b':' {
                    return Some(KeyToken::Key {
                        start,
                        end: j,
                        escaped,
                    });
                }
            }
        }
    }
}

/// [`has_duplicate_keys`]' fast path; `None` when it cannot decide (an
/// escaped key, an object past [`DUP_SCAN_MAX`] keys, text past 4 GiB).
fn dup_fast(b: &[u8], sc: &mut DupScratch) -> Option<bool> {
    if b.len() > u32::MAX as usize {
        return None;
    }
    sc.keys.clear();
    sc.starts.clear();
    let mut i = 0;
    while let Some(t) = next_key_token(b, &mut i) {
        match t {
            KeyToken::Open => sc.starts.push(sc.keys.len()),
            KeyToken::Close => {
                if let Some(s) = sc.starts.pop() {
                    sc.keys.truncate(s);
                }
            }
            KeyToken::Key { escaped: true, .. } => return None,
            KeyToken::Key { start, end, .. } => {
                let Some(&s) = sc.starts.last() else {
                    continue;
                };
                let key = &b[start..end];
                let fp = key_fingerprint(key);
                let same = sc.keys[s..]
                    .iter()
                    .any(|&(f, a, e)| f == fp && &b[a as usize..e as usize] == key);
                if same {
                    return Some(true);
                }
                if sc.keys.len() - s >= DUP_SCAN_MAX {
                    return None;
                }
                sc.keys.push((fp, start as u32, end as u32));
            }
        }
    }
    Some(false)
}

/// One pass over JSON text that serde_json has already validated: keys of
/// each open object are compared as written (escaped keys decoded first),
/// with no allocation for objects of up to [`DUP_SCAN_MAX`] plain keys.
pub fn has_duplicate_keys_general(b: &[u8]) -> bool {
    use std::collections::HashSet;
    // Keys of every open object, flat; each open object's start in it and a
    // set once it grew past DUP_SCAN_MAX. Arrays need no entry: a key always
    // belongs to the innermost open object.
    type KeySet<'k> = HashSet<Cow<'k, [u8]>>;
    let mut keys: Vec<Cow<'_, [u8]>> = Vec::new();
    let mut starts: Vec<(usize, Option<KeySet<'_>>)> = Vec::new();
    let mut i = 0;
    while let Some(t) = next_key_token(b, &mut i) {
        match t {
            KeyToken::Open => starts.push((keys.len(), None)),
            KeyToken::Close => {
                if let Some((s, _)) = starts.pop() {
                    keys.truncate(s);
                }
            }
            KeyToken::Key {
                start,
                end,
                escaped,
            } => {
                let key: Cow<'_, [u8]> = if escaped {
                    match serde_json::from_slice::<String>(&b[start - 1..=end]) {
                        Ok(s) => Cow::Owned(s.into_bytes()),
                        Err(_) => Cow::Borrowed(&b[start..end]),
                    }
                } else {
                    Cow::Borrowed(&b[start..end])
                };
                if let Some((s, set)) = starts.last_mut() {
                    match set {
                        Some(set) => {
                            if !set.insert(key) {
                                return true;
                            }
                        }
                        None => {
                            if keys[*s..].contains(&key) {
                                return true;
                            }
                            keys.push(key);
                            if keys.len() - *s > DUP_SCAN_MAX {
                                *set = Some(keys.drain(*s..).collect());
                            }
                        }
                    }
                }
            }
        }
    }
    false
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants the output
/// `time` (RFC 3339 in UTC, four-digit years) can show.
const MIN_UNIX_SECONDS: i64 = -62_167_219_200;
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// RFC 3339 date-time to unix seconds (UTC). Fractional seconds are
/// accepted and dropped. An offset that moves the instant out of years
/// 0000-9999 in UTC (`0000-01-01T00:30:00+01:00`) makes it `None`: the
/// output could not show it.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let unix = t.unix_timestamp();
    (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS)
        .contains(&unix)
        .then_some(unix)
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (years 0-9999).
pub fn format_utc(unix: i64, out: &mut String) {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let y = t.year().clamp(0, 9999) as u32;
    let parts = [
        (y / 100) as u8,
        (y % 100) as u8,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    ];
    let mut b = *b"0000-00-00T00:00:00Z";
    let at = [0usize, 2, 5, 8, 11, 14, 17];
    for (v, &i) in parts.iter().zip(&at) {
        b[i] = b'0' + v / 10;
        b[i + 1] = b'0' + v % 10;
    }
    out.push_str(std::str::from_utf8(&b).expect("ascii"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_required_and_blocks() {
        let e = Event::parse(
            r#"{"event_id":"e1","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12+01:00",
               "user":{"email":"a@b.co","age":34},"consent":{"gpc":false},"context":{"category":"books"}}"#,
        )
        .unwrap();
        assert_eq!(e.event_id, "e1");
        assert_eq!(e.identifier(Kind::Email), Some("a@b.co"));
        assert_eq!(e.age, Field::Value(34.0));
        assert_eq!(e.gpc, Field::Value(false));
        let mut s = String::new();
        format_utc(e.unix_seconds, &mut s);
        assert_eq!(s, "2026-11-28T12:45:12Z");
    }

    #[test]
    fn rejects_name_the_field_not_the_value() {
        let r =
            Event::parse(r#"{"event_type":"x","timestamp":"2026-11-28T13:45:12Z"}"#).unwrap_err();
        assert_eq!(r.reason, RejectReason::MissingField);
        assert!(r.message.contains("event_id"));
        let r = Event::parse(r#"{"event_id":"e","event_type":"x","timestamp":"jane@example.com"}"#)
            .unwrap_err();
        assert_eq!(r.reason, RejectReason::InvalidField);
        assert!(!r.message.contains("jane"));
        let r = Event::parse(r#"[1]"#).unwrap_err();
        assert_eq!(r.reason, RejectReason::InvalidJson);
        let r =
            Event::parse(r#"{"event_id": 7,"event_type":"x","timestamp":"2026-11-28T13:45:12Z"}"#)
                .unwrap_err();
        assert_eq!(r.reason, RejectReason::InvalidField);
    }

    proptest::proptest! {
        /// The fast path answers as the general scan does, on JSON with
        /// duplicate and escaped keys, nested objects and arrays.
        #[test]
        fn duplicate_scan_fast_path_agrees_with_the_general_one(
            keys in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "ab", "user", "u\\u0073er", "email", "x\\\"y", "a_long_key_name_1", "a_long_key_name_2"]),
                0..40,
            ),
            nest in proptest::collection::vec(0usize..4, 0..40),
        ) {
            let mut text = String::from("{");
            for (n, k) in keys.iter().enumerate() {
                if n > 0 {
                    text.push(',');
                }
                match nest.get(n).copied().unwrap_or(0) {
                    1 => text.push_str(&format!("\"{k}\":{{\"{k}\":1,\"z\":[{{\"{k}\":2}}]}}")),
                    2 => text.push_str(&format!("\"{k}\":\"{k}:\"")),
                    _ => text.push_str(&format!("\"{k}\":{n}")),
                }
            }
            text.push('}');
            proptest::prop_assume!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
            proptest::prop_assert_eq!(
                has_duplicate_keys(text.as_bytes()),
                has_duplicate_keys_general(text.as_bytes()),
                "{}", text
            );
        }
    }

    #[test]
    fn duplicate_keys_and_case_variants_are_refused() {
        let base = r#""event_id":"e","event_type":"x","timestamp":"2026-11-28T13:45:12Z""#;
        for (body, want) in [
            (r#""user":{"age":12,"age":30}"#, RejectReason::InvalidJson),
            (r#""ad":{"m":{"k":1,"k":2}}"#, RejectReason::InvalidJson),
            (r#""ad":[{"k":1,"k":2}]"#, RejectReason::InvalidJson),
            (r#""ad":{"k\u0031":1,"k1":2}"#, RejectReason::InvalidJson),
            (r#""user":{},"user":{}"#, RejectReason::InvalidJson),
            (r#""User":{"age":12}"#, RejectReason::InvalidField),
            (r#""Consent":{"gpc":true}"#, RejectReason::InvalidField),
            (r#""user":{"AGE":12}"#, RejectReason::InvalidField),
            (r#""consent":{"GPC":true}"#, RejectReason::InvalidField),
        ] {
            let r = Event::parse(&format!("{{{base},{body}}}")).unwrap_err();
            assert_eq!(r.reason, want, "{body}");
            assert!(
                !r.message.contains("AGE") && !r.message.contains("User"),
                "{}",
                r.message
            );
        }
        assert!(Event::parse(&format!(
            r#"{{{base},"ad":{{"a":1,"b":{{"a":2}}}},"ads":1}}"#
        ))
        .is_ok());
        let r = Event::parse(&format!(r#"{{{base},"Ad":{{"campaign_id":"c"}}}}"#)).unwrap_err();
        assert_eq!(r.reason, RejectReason::InvalidField);
    }

    #[test]
    fn raw_values_have_no_surrounding_whitespace() {
        let o: Obj = serde_json::from_str("{ \"a\" :   12 , \"b\":\n \"x\" }").unwrap();
        assert_eq!(o.get("a").unwrap().get(), "12");
        assert_eq!(o.get("b").unwrap().get(), "\"x\"");
    }
}
