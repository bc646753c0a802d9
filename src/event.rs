//! The input event as the policy reads it: one pass of [`crate::json`] over
//! the object that validates it, refuses duplicate keys and keeps every
//! top-level value as a borrowed [`Raw`], then
//! typed reads of the few members the rules look at (docs/http-api.md, input event).
//!
//! Nothing here allocates per field unless a string carries JSON escapes.
//! Problems that make the event unusable for everyone (missing or malformed
//! required fields) are [`Reject`]s; the error text names the field, never its
//! content.

use std::borrow::Cow;
use std::fmt;

use crate::json;
pub use crate::json::{Members, Raw};

use crate::identity::Kind;
use crate::signals::{self, OtherSignal};

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
    pub members: Members<'a>,
}

impl<'a> Obj<'a> {
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        // Keys are unique: the parser refuses duplicates.
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The members of `raw`; `None` if it is any other JSON value.
    pub fn parse(raw: Raw<'a>) -> Option<Obj<'a>> {
        json::object_members(raw).map(|members| Obj { members })
    }
}

/// What a JSON value is, from its first byte (a Raw has no surrounding
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

pub fn kind_of(raw: Raw<'_>) -> JsonKind {
    match raw.get().as_bytes().first() {
        Some(b'n') => JsonKind::Null,
        Some(b't' | b'f') => JsonKind::Bool,
        Some(b'"') => JsonKind::String,
        Some(b'[') => JsonKind::Array,
        Some(b'{') => JsonKind::Object,
        _ => JsonKind::Number,
    }
}

pub fn as_str(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    if kind_of(raw) != JsonKind::String {
        return None;
    }
    let text = raw.get();
    Some(json::decode_str(&text[1..text.len() - 1]))
}

pub fn as_bool(raw: Raw<'_>) -> Option<bool> {
    match raw.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub fn as_f64(raw: Raw<'_>) -> Option<f64> {
    if kind_of(raw) != JsonKind::Number {
        return None;
    }
    raw.get().parse::<f64>().ok()
}

/// A JSON number read exactly from its text, for comparisons that binary
/// floating point would round (`17.9999999999999999` is 18.0 as an `f64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    /// Below zero (`-0` and `-0.0` are not).
    pub negative: bool,
    /// The integer part of the absolute value; `None` when it does not fit
    /// a `u64` (`1e400`, which an `f64` reads as infinity).
    pub whole: Option<u64>,
    /// The absolute value has a non-zero fraction.
    pub fraction: bool,
}

impl Decimal {
    /// Is the value below `n`? Exact: `17.9999999999999999` is below 18.
    pub fn is_below(&self, n: u64) -> bool {
        self.negative || self.whole.is_some_and(|w| w < n)
    }

    /// Is the value above `n`? Exact: `150.0000000000000001` is above 150.
    pub fn is_above(&self, n: u64) -> bool {
        !self.negative
            && self
                .whole
                .is_none_or(|w| w > n || (w == n && self.fraction))
    }
}

/// The exact [`Decimal`] of a JSON number (`-?int(.frac)?([eE][+-]?exp)?`);
/// `None` for any other value.
pub fn as_decimal(raw: Raw<'_>) -> Option<Decimal> {
    if kind_of(raw) != JsonKind::Number {
        return None;
    }
    parse_decimal(raw.get())
}

/// [`as_decimal`], also reading a string that is a plain number (`"45"`,
/// `" 12.5 "`): how ages under other names arrive from CDPs that keep
/// every trait as text. `user.age` itself stays a JSON number.
pub fn as_decimal_or_text(raw: Raw<'_>) -> Option<Decimal> {
    match kind_of(raw) {
        JsonKind::String => as_str(raw).and_then(|s| parse_decimal(s.trim())),
        _ => as_decimal(raw),
    }
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (mantissa.contains('.') && frac.is_empty())
    {
        return None;
    }
    // The exponent, saturated: a number of more than about 1e18 digits
    // cannot be written anyway.
    let exp: i64 = match exp {
        None => 0,
        Some(e) => {
            let (neg, digits) = match e.as_bytes().first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v = digits.bytes().fold(0i64, |acc, b| {
                acc.saturating_mul(10).saturating_add(i64::from(b - b'0'))
            });
            if neg {
                -v
            } else {
                v
            }
        }
    };
    // The significant digits (int and frac together, without leading or
    // trailing zeros) and where the decimal point falls among them.
    let all = || int.bytes().chain(frac.bytes());
    let lead = all().take_while(|&b| b == b'0').count();
    let total = int.len() + frac.len();
    if lead == total {
        return Some(Decimal {
            negative: false,
            whole: Some(0),
            fraction: false,
        });
    }
    let trail = all().rev().take_while(|&b| b == b'0').count();
    let digits = || all().skip(lead).take(total - lead - trail);
    let n = (total - lead - trail) as i64;
    // Digits before the point: `int.len() - lead` shifted by the exponent.
    let point = (int.len() as i64 - lead as i64).saturating_add(exp);
    let whole = if point <= 0 {
        Some(0)
    } else if point > 20 {
        None
    } else {
        // The digits before the point, padded with the zeros the exponent
        // adds.
        digits()
            .chain(std::iter::repeat(b'0'))
            .take(point as usize)
            .try_fold(0u64, |w, b| {
                w.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
    };
    Some(Decimal {
        negative,
        whole,
        fraction: point < n,
    })
}

/// A tri-state read of an optional member: absent (or null), a value of the
/// expected type, or present with the wrong type.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    Absent,
    Value(T),
    WrongType,
}

fn read<'a, T>(raw: Option<Raw<'a>>, f: impl FnOnce(Raw<'a>) -> Option<T>) -> Field<T> {
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
    /// The offset from UTC `timestamp` was written with, in seconds: the
    /// event's own local date is the date of `unix_seconds` plus this
    /// (read for `user.birth_date`).
    pub utc_offset_seconds: i32,
    /// Raw identifier strings by [`Kind::index`]; absent, or not a string.
    pub identifiers: [Option<Cow<'a, str>>; 4],
    /// `user.age`, read exactly ([`Decimal`]).
    pub age: Field<Decimal>,
    pub personalized_ads: Field<bool>,
    pub gpc: Field<bool>,
    /// `consent.tcf`, `consent.gpp`, `consent.ad_user_data`,
    /// `consent.ad_personalization`: read as written, decoded by
    /// [`crate::consent`] only when a partner needs them.
    pub tcf: Field<Cow<'a, str>>,
    pub gpp: Field<Cow<'a, str>>,
    pub ad_user_data: Field<Cow<'a, str>>,
    pub ad_personalization: Field<Cow<'a, str>>,
    /// `consent.us_privacy`: an IAB US Privacy (CCPA) string, `1YYN`.
    pub us_privacy: Field<Cow<'a, str>>,
    pub category: Field<Cow<'a, str>>,
    /// `user.birth_date` (`YYYY-MM-DD`, checked by the policy).
    pub birth_date: Field<Cow<'a, str>>,
    /// `user` or `consent` or `context` present but not an object.
    pub malformed_block: Option<&'static str>,
    /// Members of `user` and `consent` that say "minor" or "opted out"
    /// under other names ([`crate::signals`]); empty for most events (no
    /// allocation).
    pub other_signals: Vec<(OtherSignal, Raw<'a>)>,
    /// Identifier members that are a number or an array (`"phone":
    /// 14155550100`, `"email": ["a@b.example"]`): not identifiers for
    /// routing, but matched against the opt-out list, so a listed person
    /// in such a shape is still stopped.
    pub odd_identifiers: Vec<(Kind, Raw<'a>)>,
    /// `user.ip`, only so the leak guard can look for it in the output.
    pub ip: Option<Cow<'a, str>>,
    /// The `user` and `context` objects as parsed, for the leak guard's
    /// protected values (parsed once).
    pub user: Option<Obj<'a>>,
    pub context: Option<Obj<'a>>,
    /// The other top-level members that are objects, read (see
    /// [`Event::nested`]).
    nested: Vec<(usize, Obj<'a>)>,
}

/// Where a value's text starts: the key of [`Event::nested`].
fn address(raw: Raw<'_>) -> usize {
    raw.get().as_ptr() as usize
}

impl<'a> Event<'a> {
    /// Parses one event from JSON text (an object), in one pass
    /// ([`crate::json`]).
    pub fn parse(text: &'a str) -> Result<Event<'a>, Reject> {
        match json::parse_document(text) {
            Ok(doc) => Event::from_document(doc),
            Err(json::Error::NotObject) => Err(Reject::invalid_json("event is not a JSON object")),
            Err(json::Error::Syntax { at }) => {
                let (line, column) = json::Error::position(text, at);
                Err(Reject::invalid_json(format!(
                    "not valid JSON (line {line}, column {column})"
                )))
            }
            Err(json::Error::TooDeep { at }) => {
                let (line, column) = json::Error::position(text, at);
                Err(Reject::invalid_json(format!(
                    "objects and arrays nested more than {} deep (the one too deep opens at line {line}, column {column})",
                    json::MAX_DEPTH
                )))
            }
            Err(json::Error::DuplicateKey { at }) => {
                // The position, not the key: a key can be anything.
                let (line, column) = json::Error::position(text, at);
                Err(Reject::invalid_json(format!(
                    "a JSON key appears twice in the same object of the event (the second at line {line}, column {column})"
                )))
            }
        }
    }

    /// The event of a parsed top-level object. Keys are unique (the
    /// parser refuses duplicates), so each object is read in one pass over
    /// its members.
    fn from_document(doc: json::Document<'a>) -> Result<Event<'a>, Reject> {
        let top = Obj {
            members: doc.members,
        };
        let mut nested: Vec<(usize, Obj<'a>)> = doc
            .nested
            .into_iter()
            .map(|(at, members)| (at, Obj { members }))
            .collect();
        let (mut id, mut ty, mut ts) = (None, None, None);
        let (mut user_raw, mut consent_raw, mut context_raw) = (None, None, None);
        for (k, v) in &top.members {
            match k.as_ref() {
                "event_id" => id = Some(*v),
                "event_type" => ty = Some(*v),
                "timestamp" => ts = Some(*v),
                "user" => user_raw = Some(*v),
                "consent" => consent_raw = Some(*v),
                "context" => context_raw = Some(*v),
                _ => {}
            }
        }
        let required_str = |name: &str, raw: Option<Raw<'a>>| -> Result<Cow<'a, str>, Reject> {
            match read(raw, as_str) {
                Field::Absent => Err(Reject::missing(name)),
                Field::WrongType => Err(Reject::invalid(name, "must be a string")),
                Field::Value(s) if s.trim().is_empty() => {
                    Err(Reject::invalid(name, "must not be empty"))
                }
                Field::Value(s) => Ok(s),
            }
        };
        let event_id = required_str("event_id", id)?;
        if event_id.len() > 256 {
            return Err(Reject::invalid("event_id", "longer than 256 bytes"));
        }
        let event_type = required_str("event_type", ty)?;
        if event_type.len() > 128 {
            return Err(Reject::invalid("event_type", "longer than 128 bytes"));
        }
        let ts = required_str("timestamp", ts)?;
        let (unix_seconds, utc_offset_seconds) =
            parse_rfc3339_with_offset(&ts).ok_or_else(|| {
                Reject::invalid(
                    "timestamp",
                    "must be an RFC 3339 date-time, e.g. 2026-11-28T13:45:12Z",
                )
            })?;

        let mut malformed_block = None;
        let mut block = |name: &'static str, raw: Option<Raw<'a>>| -> Option<Obj<'a>> {
            let raw = raw?;
            match kind_of(raw) {
                JsonKind::Null => None,
                JsonKind::Object => match nested.iter().position(|(at, _)| *at == address(raw)) {
                    Some(i) => Some(nested.swap_remove(i).1),
                    None => Obj::parse(raw),
                },
                _ => {
                    malformed_block.get_or_insert(name);
                    None
                }
            }
        };
        check_key_spelling(&top, TOP_LEVEL_KEYS, "", Spelling::Exact)?;
        let user = block("user", user_raw);
        let consent = block("consent", consent_raw);
        let context = block("context", context_raw);
        for (b, name, keys, spelling) in [
            (&user, "user", USER_KEYS, Spelling::AnySeparators),
            (&consent, "consent", CONSENT_KEYS, Spelling::AnySeparators),
            (&context, "context", CONTEXT_KEYS, Spelling::Exact),
        ] {
            if let Some(o) = b {
                check_key_spelling(o, keys, name, spelling)?;
            }
        }

        let mut identifiers: [Option<Cow<'a, str>>; 4] = Default::default();
        let mut age = Field::Absent;
        let mut birth_date = Field::Absent;
        let mut ip = None;
        let mut other_signals = Vec::new();
        let mut odd_identifiers = Vec::new();
        for (k, v) in user.iter().flat_map(|u| &u.members) {
            match k.as_ref() {
                "age" => age = read(Some(*v), as_decimal),
                "birth_date" => birth_date = read(Some(*v), as_str),
                "ip" => ip = as_str(*v),
                other => {
                    if let Some(kind) = Kind::parse(other) {
                        identifiers[kind.index()] = as_str(*v);
                        if matches!(
                            kind_of(*v),
                            JsonKind::Number | JsonKind::Array | JsonKind::Object
                        ) {
                            odd_identifiers.push((kind, *v));
                        }
                    } else {
                        aliases(other, *v, &mut odd_identifiers, 0);
                        signals::member(other, *v, signals::Place::Person, &mut other_signals, 0);
                    }
                }
            }
        }
        let (mut personalized_ads, mut gpc) = (Field::Absent, Field::Absent);
        let (mut tcf, mut gpp) = (Field::Absent, Field::Absent);
        let (mut ad_user_data, mut ad_personalization) = (Field::Absent, Field::Absent);
        let mut us_privacy = Field::Absent;
        for (k, raw) in consent.iter().flat_map(|c| &c.members) {
            let v = Some(*raw);
            match k.as_ref() {
                "personalized_ads" => personalized_ads = read(v, as_bool),
                "gpc" => gpc = read(v, as_bool),
                "tcf" => tcf = read(v, as_str),
                "gpp" => gpp = read(v, as_str),
                "ad_user_data" => ad_user_data = read(v, as_str),
                "ad_personalization" => ad_personalization = read(v, as_str),
                "us_privacy" => us_privacy = read(v, as_str),
                // Anything else in `consent` could be a refusal: recognized
                // or unreadable, never ignored.
                other => other_signals.push((
                    signals::recognize(other).unwrap_or(OtherSignal::UnknownConsent),
                    *raw,
                )),
            }
        }
        // Signals under other names in `context`, `app` and the top-level
        // members the event format does not name (OpenRTB's `regs`,
        // `device`): recognized names everywhere, names that look like a
        // signal in the blocks that carry them.
        for (k, v) in context.iter().flat_map(|c| &c.members) {
            if signals::person_block(k) {
                // Segment's `context.traits`: the person's identifiers.
                aliases_in(*v, &mut odd_identifiers, 1);
            } else if device_block(k) {
                // Segment's `context.device`: the device's.
                device_aliases(*v, &mut odd_identifiers);
            } else if !CONTEXT_KEYS.contains(&k.as_ref()) {
                // An identifier under another name anywhere in `context`
                // (`context.advertising_id`, `context.app.device_id`).
                aliases_at(k, *v, &mut odd_identifiers, 1, AliasPlace::Content);
            }
            if !CONTEXT_KEYS.contains(&k.as_ref()) {
                signals::member(k, *v, signals::Place::Content, &mut other_signals, 0);
            }
        }
        for (k, v) in &top.members {
            match k.as_ref() {
                // A minor or an opt-out stated in the app's or the ad's own
                // data (`ad.meta.user_age`) is read by name too.
                // An identifier under another name in the app's or the
                // ad's data (`ad.meta.advertising_id`, `app.idfa`) is
                // matched against the opt-outs and never forwarded.
                "app" | "ad" => match nested.iter().find(|(at, _)| *at == address(*v)) {
                    Some((_, app)) => {
                        for (k, v) in &app.members {
                            aliases_at(k, *v, &mut odd_identifiers, 1, AliasPlace::Content);
                            signals::member(k, *v, signals::Place::Content, &mut other_signals, 0);
                        }
                    }
                    None => {
                        aliases_at(k, *v, &mut odd_identifiers, 0, AliasPlace::Content);
                        signals::walk(*v, signals::Place::Content, &mut other_signals)
                    }
                },
                k if TOP_LEVEL_KEYS.contains(&k) => {}
                // OpenRTB's blocks of signals, read by name as well.
                k @ ("regs" | "device" | "ext" | "privacy") => {
                    if k == "device" {
                        device_aliases(*v, &mut odd_identifiers);
                    } else {
                        // OpenRTB's `ext.ifa`.
                        aliases_at(k, *v, &mut odd_identifiers, 0, AliasPlace::Content);
                    }
                    signals::member(k, *v, signals::Place::Person, &mut other_signals, 0)
                }
                // Any other block: the table's names, a block about the
                // person (`traits`, `customer`) as `user`, and a block named
                // like a signal (`consent_state`) refused.
                k => {
                    // A top-level identifier (Segment's `userId`) or a block
                    // about the person (`customer.email`).
                    if signals::person_block(k) {
                        aliases_in(*v, &mut odd_identifiers, 1);
                    } else {
                        aliases(k, *v, &mut odd_identifiers, 1);
                    }
                    signals::top_member(k, *v, signals::Place::Other, &mut other_signals)
                }
            }
        }
        let category = match context.as_ref().and_then(|c| c.get("category")) {
            Some(v) => read(Some(v), as_str),
            None => Field::Absent,
        };
        Ok(Event {
            top,
            event_id,
            event_type,
            unix_seconds,
            utc_offset_seconds,
            identifiers,
            age,
            personalized_ads,
            gpc,
            tcf,
            gpp,
            ad_user_data,
            ad_personalization,
            us_privacy,
            category,
            birth_date,
            malformed_block,
            other_signals,
            odd_identifiers,
            ip,
            user,
            context,
            nested,
        })
    }

    /// The members of `raw` when it is an object that is a top-level member
    /// of this event other than `user`, `consent` and `context` (read by the
    /// event's parse).
    pub fn nested(&self, raw: Raw<'a>) -> Option<&Obj<'a>> {
        let at = address(raw);
        self.nested.iter().find(|(a, _)| *a == at).map(|(_, o)| o)
    }

    pub fn identifier(&self, kind: Kind) -> Option<&str> {
        self.identifiers[kind.index()].as_deref()
    }
}

/// How deep [`aliases_in_at`] looks for identifiers, in a block about the
/// person or in the ad's, the app's and the page's data.
const ALIAS_DEPTH: usize = 6;

/// The identifier a member name stands for when it is not the SPEC's own
/// (`email_address`, `phone_number`, `msisdn`, `user_id`, `idfa`), or
/// `None`. The kinds it may hold: an id may be an account's or a device's,
/// and a phone may arrive without its `+` (read as an id, it is matched as
/// a phone, see policy).
/// The name is folded by [`crate::canon::fold_alnum`].
fn alias_kinds_of(f: &[u8], place: AliasPlace) -> &'static [Kind] {
    const EMAIL: &[Kind] = &[Kind::Email];
    const PHONE: &[Kind] = &[Kind::Phone, Kind::AccountId];
    const ID: &[Kind] = &[Kind::AccountId];
    const ANY: &[Kind] = &[Kind::Email, Kind::Phone, Kind::AccountId];
    let has = |w: &[u8]| f.windows(w.len()).any(|x| x == w);
    // In the ad's or the app's data these name the ad, its advertiser
    // or the app's own instance rather than the person.
    if place == AliasPlace::Content
        && matches!(
            f,
            b"adid" | b"adsid" | b"clientid" | b"externalid" | b"instanceid" | b"em" | b"ph"
        )
    {
        return &[];
    }
    if has(b"email") || matches!(f, b"mail" | b"mailaddress" | b"emails" | b"em") {
        return EMAIL;
    }
    if has(b"phone")
        || matches!(
            f,
            b"mobile" | b"mobilenumber" | b"msisdn" | b"tel" | b"telephone" | b"cell" | b"ph"
        )
    {
        return PHONE;
    }
    if matches!(
        f,
        b"identities" | b"identifiers" | b"ids" | b"externalids" | b"useridentities"
    ) {
        return ANY;
    }
    let id = matches!(
        f,
        b"userid"
            | b"uid"
            | b"customerid"
            | b"memberid"
            | b"accountid"
            | b"deviceid"
            | b"loyaltyid"
            | b"externalid"
            | b"externaluserid"
            | b"customernumber"
            | b"membernumber"
            | b"loyaltynumber"
            | b"crmid"
            | b"crmref"
            | b"crmreference"
            | b"customerref"
            | b"customerreference"
            | b"loyalty"
            | b"loyaltycard"
            | b"loyaltycardnumber"
            | b"personid"
            | b"profileid"
            | b"contactid"
            | b"subscriberid"
            | b"shopperid"
            | b"visitorid"
            | b"anonymousid"
            | b"clientid"
            | b"advertisingid"
            | b"adid"
            | b"idfa"
            | b"idfv"
            | b"gaid"
            | b"aaid"
            | b"adsid"
            | b"ifa"
            | b"maid"
            | b"rida"
            | b"oaid"
            | b"mobileadid"
            | b"deviceadvertisingid"
            // A login is an address or a number as often as a name.
            | b"login"
            | b"loginid"
            | b"loginname"
            | b"userlogin"
            | b"username"
            | b"signin"
            | b"recipient"
            // The app install's own id (Firebase's `app_instance_id`).
            | b"appinstanceid"
            | b"firebaseappinstanceid"
            | b"instanceid"
            | b"installationid"
            | b"installid"
            | b"androidid"
    );
    if id {
        ID
    } else {
        &[]
    }
}

/// A member `key: v` of a block about the person: an identifier under
/// another name is kept for the opt-out lookup and as a subject
/// ([`Event::odd_identifiers`]); nested blocks are looked into.
fn aliases<'a>(key: &str, v: Raw<'a>, out: &mut Vec<(Kind, Raw<'a>)>, depth: usize) {
    aliases_at(key, v, out, depth, AliasPlace::Person);
}

/// Where [`aliases_at`] reads: a block about the person, or the ad's, the
/// app's or the page's data, where a few names ([`alias_kinds_of`]) are the
/// ad's own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AliasPlace {
    Person,
    Content,
}

/// [`aliases`] in `place`. In content, a string member named `device` is
/// the device's id (`ad.meta.device: "<IDFA>"`) and a device block's
/// members are read as [`device_aliases`] reads them.
fn aliases_at<'a>(
    key: &str,
    v: Raw<'a>,
    out: &mut Vec<(Kind, Raw<'a>)>,
    depth: usize,
    place: AliasPlace,
) {
    let kind = kind_of(v);
    // In content, a single value is taken for an identifier only when it
    // looks like one (`"loyalty": "gold"`, `"device": "mobile"` are not):
    // most members of the ad's data are told apart by their value alone,
    // before their name is read.
    let single_id = place == AliasPlace::Person
        || match kind {
            JsonKind::String => as_str(v).is_some_and(|s| looks_like_an_id(&s)),
            // A number names a person when it is a phone or an account
            // number, not a price or a count (`"value_estimate_micros":
            // 1250`).
            JsonKind::Number => v.get().bytes().filter(u8::is_ascii_digit).count() >= 6,
            _ => true,
        };
    if !single_id {
        return;
    }
    // The name folded once, for both tables.
    let folded = crate::canon::fold_alnum::<40>(key);
    let kinds = folded
        .as_deref()
        .map_or(&[][..], |f| alias_kinds_of(f, place));
    let device = folded.as_deref().is_some_and(device_name);
    if !kinds.is_empty() && kind != JsonKind::Null {
        out.extend(kinds.iter().map(|k| (*k, v)));
    } else if place == AliasPlace::Content && device {
        match kind {
            JsonKind::String | JsonKind::Number => out.push((Kind::AccountId, v)),
            JsonKind::Object => device_aliases(v, out),
            _ => {}
        }
    } else if matches!(kind, JsonKind::Object | JsonKind::Array) {
        aliases_in_at(v, out, depth + 1, place);
    } else if place == AliasPlace::Person
        && kind == JsonKind::String
        && as_str(v).is_some_and(|s| s.contains('@'))
    {
        // An address in a block about the person under a name no table
        // knows (`contact.primary`, `emails.work`) is the person's too:
        // read as an email wherever it is an address.
        out.push((Kind::Email, v));
    }
}

/// Is `key` the name of a block describing the device (Segment's
/// `context.device`, OpenRTB's top-level `device`)? Its `id` is the
/// device's id.
fn device_block(key: &str) -> bool {
    crate::canon::fold_alnum::<16>(key).is_some_and(|f| device_name(&f))
}

/// [`device_block`] of a name folded by [`crate::canon::fold_alnum`].
fn device_name(folded: &[u8]) -> bool {
    matches!(folded, b"device" | b"devices")
}

/// The identifiers of a device block ([`device_block`]): its members under
/// the names [`alias_kinds_of`] knows, and its plain `id` / `uuid` as an id
/// (`context.device.id`, `context.device.advertisingId`, `device.ifa`).
fn device_aliases<'a>(raw: Raw<'a>, out: &mut Vec<(Kind, Raw<'a>)>) {
    for (k, v) in json::object_members(raw).unwrap_or_default() {
        let plain_id = crate::canon::fold_alnum::<8>(&k)
            .is_some_and(|f| matches!(&*f, b"id" | b"uuid" | b"deviceuuid"));
        if plain_id && matches!(kind_of(v), JsonKind::String | JsonKind::Number) {
            out.push((Kind::AccountId, v));
        } else {
            aliases(&k, v, out, 1);
        }
    }
}

/// Can `s` be a person's or a device's identifier: an address, or a
/// value with at least four digits (an IDFA, `CUST-175-7731`, a phone)?
pub fn looks_like_an_id(s: &str) -> bool {
    s.contains('@') || s.bytes().filter(u8::is_ascii_digit).count() >= 4
}

/// [`aliases`] over the members of the object or array `raw`.
fn aliases_in<'a>(raw: Raw<'a>, out: &mut Vec<(Kind, Raw<'a>)>, depth: usize) {
    aliases_in_at(raw, out, depth, AliasPlace::Person);
}

fn aliases_in_at<'a>(
    raw: Raw<'a>,
    out: &mut Vec<(Kind, Raw<'a>)>,
    depth: usize,
    place: AliasPlace,
) {
    if depth >= ALIAS_DEPTH {
        return;
    }
    match kind_of(raw) {
        JsonKind::Object => {
            for (k, v) in json::object_members(raw).unwrap_or_default() {
                aliases_at(&k, v, out, depth, place);
            }
        }
        JsonKind::Array => {
            for item in json::array_items(raw).unwrap_or_default() {
                aliases_in_at(item, out, depth + 1, place);
            }
        }
        _ => {}
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
/// The `consent` members adgate reads.
pub const CONSENT_KEYS: &[&str] = &[
    "personalized_ads",
    "gpc",
    "tcf",
    "gpp",
    "ad_user_data",
    "ad_personalization",
    "us_privacy",
];
const CONTEXT_KEYS: &[&str] = &["category", "page_url", "referrer", "ip", "user_agent"];

/// Other names producers give the consent strings adgate reads (a CMP's
/// JavaScript API, a URL parameter): refused like a misspelling and named,
/// so a TC or GPP string under another name is never silently not read.
pub const CONSENT_ALIASES: &[(&str, &str)] = &[
    ("tcstring", "tcf"),
    ("tc_string", "tcf"),
    ("gdpr_consent", "tcf"),
    ("euconsent", "tcf"),
    ("euconsent-v2", "tcf"),
    ("gppstring", "gpp"),
    ("gpp_string", "gpp"),
    ("usp", "us_privacy"),
    ("usp_string", "us_privacy"),
    ("uspstring", "us_privacy"),
];

/// How far a member name may stray from a known one before it is refused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spelling {
    /// Case and Unicode forms ([`check_key_spelling`]).
    Exact,
    /// Also with other word separators or none (`adUserData`,
    /// `birth-date`, `accountid`), and the [`CONSENT_ALIASES`]: the blocks
    /// whose members decide an opt-out, a minor or consent.
    AnySeparators,
}

/// A name without `_` and `-`, as the [`Spelling::AnySeparators`] compare reads it.
fn squashed(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().filter(|c| !matches!(c, '_' | '-'))
}

/// Refuses a member whose name equals one of `known` only once it is read
/// as [`crate::canon::word_form`] reads it (decoded, NFKC, combining marks
/// removed, lookalike letters mapped to Latin, lowercase) with every
/// whitespace or blank-looking character removed: `"GPC"`, `"ｇｐｃ"`,
/// `"gpc "`, `"\tgpc"`, `"g\u{200b}pc"`, `"gpc\u{332}"`, `"g\u{440}c"`
/// (Cyrillic `р`). The message names the expected spelling, never the
/// member's own (it could be anything).
fn check_key_spelling(
    o: &Obj<'_>,
    known: &[&str],
    within: &str,
    spelling: Spelling,
) -> Result<(), Reject> {
    use crate::canon;
    let loose = spelling == Spelling::AnySeparators;
    let alias = |name: &str| {
        CONSENT_ALIASES
            .iter()
            .find(|(a, _)| loose && within == "consent" && *a == name)
            .map(|(a, want)| (*a, *want))
    };
    for (k, _) in &o.members {
        if known.contains(&k.as_ref()) {
            continue;
        }
        // Every known name is lowercase ASCII without spaces: a key of
        // lowercase printable ASCII without a space or anything a decoding
        // round changes (`%`, `&`, `\`, brackets) is either one of them or
        // nothing like them (but for other separators). One pass of table
        // lookups, no allocation: the path of every ordinary key.
        let plain = canon::classify(k).1
            & (canon::UPPER_OR_NON_ASCII | canon::NOT_PLAIN | canon::SPACE)
            == 0;
        let form = if plain {
            if !loose {
                continue;
            }
            Cow::Borrowed(k.as_ref())
        } else {
            canon::word_form(k)
        };
        let folded = || {
            form.chars()
                .filter(|&c| !canon::is_blank(c))
                .flat_map(char::to_lowercase)
        };
        // A plain key is already lowercase without blanks: read as it is.
        let folded_text: Cow<'_, str> = if plain {
            Cow::Borrowed(k.as_ref())
        } else {
            Cow::Owned(folded().collect())
        };
        if let Some((a, want)) = alias(&folded_text) {
            return Err(Reject {
                reason: RejectReason::InvalidField,
                message: format!(
                    "invalid field {within}.{want}: a member of {within} names it \"{a}\" (another \
                     convention's name); send it as \"{want}\""
                ),
            });
        }
        let same =
            |w: &&&str| folded().eq(w.chars()) || (loose && squashed(&folded_text).eq(squashed(w)));
        if let Some(want) = known.iter().find(same) {
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

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants the output
/// `time` (RFC 3339 in UTC, four-digit years) can show.
const MIN_UNIX_SECONDS: i64 = -62_167_219_200;
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// RFC 3339 date-time to unix seconds (UTC). Fractional seconds are
/// accepted and dropped. An offset that moves the instant out of years
/// 0000-9999 in UTC (`0000-01-01T00:30:00+01:00`) makes it `None`: the
/// output could not show it.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    parse_rfc3339_with_offset(s).map(|(unix, _)| unix)
}

/// [`parse_rfc3339`] and the offset from UTC the date-time was written
/// with, in seconds (`-05:00` is -18000; `Z` is 0).
pub fn parse_rfc3339_with_offset(s: &str) -> Option<(i64, i32)> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let unix = t.unix_timestamp();
    (MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS)
        .contains(&unix)
        .then_some((unix, t.offset().whole_seconds()))
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
        assert_eq!(
            e.age,
            Field::Value(Decimal {
                negative: false,
                whole: Some(34),
                fraction: false
            })
        );
        assert_eq!(e.utc_offset_seconds, 3600);
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
    fn decimals_are_read_exactly() {
        let d = |negative, whole: Option<u64>, fraction| Decimal {
            negative,
            whole,
            fraction,
        };
        for (text, want) in [
            ("0", d(false, Some(0), false)),
            ("-0", d(false, Some(0), false)),
            ("-0.000e5", d(false, Some(0), false)),
            ("18", d(false, Some(18), false)),
            ("18.000", d(false, Some(18), false)),
            ("1.8e1", d(false, Some(18), false)),
            ("1.8E+1", d(false, Some(18), false)),
            ("180e-1", d(false, Some(18), false)),
            ("0.018e3", d(false, Some(18), false)),
            ("17.9999999999999999", d(false, Some(17), true)),
            ("1.79999999999999999e1", d(false, Some(17), true)),
            ("-17.5", d(true, Some(17), true)),
            ("1e-400", d(false, Some(0), true)),
            ("-1e-400", d(true, Some(0), true)),
            ("1e400", d(false, None, false)),
            ("1e99999999999999999999999", d(false, None, false)),
            ("18446744073709551615", d(false, Some(u64::MAX), false)),
            ("18446744073709551616", d(false, None, false)),
            ("100e-99999999999999999999999", d(false, Some(0), true)),
        ] {
            assert_eq!(parse_decimal(text), Some(want), "{text}");
        }
        for bad in ["", "-", "1.", ".5", "1e", "1e+", "x", "1.2.3"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
        assert!(d(false, Some(17), true).is_below(18));
        assert!(!d(false, Some(18), false).is_below(18));
        assert!(!d(false, None, false).is_below(18));
        assert!(d(true, Some(0), true).is_below(0));
        assert!(d(false, Some(150), true).is_above(150));
        assert!(!d(false, Some(150), false).is_above(150));
        assert!(d(false, None, false).is_above(150));
    }

    /// Red team K1 and K2 (rt-043, rt-044) as sent, and their variants:
    /// whitespace around or inside the name, combining marks, lookalike
    /// letters, in every object whose names the rules read.
    #[test]
    fn padded_marked_and_lookalike_keys_are_refused() {
        for ev in [
            r#"{"event_id":"rt-043","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"ACCT-55812-XQ"},"consent":{"personalized_ads ":false,"gpc ":true},"ad":{"campaign_id":"c-77"}}"#,
            "{\"event_id\":\"rt-044\",\"event_type\":\"ad_impression\",\"timestamp\":\"2026-11-28T13:45:12Z\",\"user\":{\"account_id\":\"ACCT-55812-XQ\"},\"consent\":{\"g\u{440}c\":true},\"ad\":{\"campaign_id\":\"c-77\"}}",
        ] {
            let r = Event::parse(ev).unwrap_err();
            assert_eq!(r.reason, RejectReason::InvalidField, "{ev}");
            assert!(r.message.contains("consent."), "{}", r.message);
        }
        let base = r#""event_id":"e","event_type":"x","timestamp":"2026-11-28T13:45:12Z""#;
        for (body, want) in [
            (r#""consent":{"gpc ":true}"#, "consent.gpc"),
            (r#""consent":{" gpc":true}"#, "consent.gpc"),
            (r#""consent":{"gpc\t":true}"#, "consent.gpc"),
            (r#""consent":{"gpc\n":true}"#, "consent.gpc"),
            (r#""consent":{"g pc":true}"#, "consent.gpc"),
            (r#""consent":{"gpc\u2800":true}"#, "consent.gpc"),
            (r#""consent":{"gpc\u3000":true}"#, "consent.gpc"),
            (r#""consent":{"gpc\u2003":true}"#, "consent.gpc"),
            (r#""consent":{"gpc\u0332":true}"#, "consent.gpc"),
            (r#""consent":{"g\u0301pc":true}"#, "consent.gpc"),
            (r#""consent":{"g\u0440c":true}"#, "consent.gpc"),
            (r#""consent":{"G\u0420C":true}"#, "consent.gpc"),
            (r#""consent":{"gpc%20":true}"#, "consent.gpc"),
            (
                r#""consent":{"personalized_ads ":false}"#,
                "consent.personalized_ads",
            ),
            (
                r#""consent":{"pers\u043enalized_ads":false}"#,
                "consent.personalized_ads",
            ),
            (r#""user":{"age ":12}"#, "user.age"),
            (r#""user":{"\u0430ge":12}"#, "user.age"),
            (r#""user":{"\u00e2ge":12}"#, "user.age"),
            (r#""user":{"birth_date ":"2015-01-01"}"#, "user.birth_date"),
            (
                r#""user":{"birth_dat\u0435":"2015-01-01"}"#,
                "user.birth_date",
            ),
            (r#""context":{"category ":"health"}"#, "context.category"),
            (
                r#""context":{"c\u0430tegory":"health"}"#,
                "context.category",
            ),
            (r#""consent ":{"gpc":true}"#, "consent"),
            (r#""\u0441onsent":{"gpc":true}"#, "consent"),
            (r#""user ":{"age":12}"#, "user"),
            (r#""us\u0435r":{"age":12}"#, "user"),
            (r#""\u1d1c\ua731\u1d07\u0280":{"age":12}"#, "user"),
            // Other word separators in the blocks whose members decide
            // (sixth red-team pass: Google's `adUserData` was not read).
            (
                r#""consent":{"personalizedAds":false}"#,
                "consent.personalized_ads",
            ),
            (
                r#""consent":{"adUserData":"DENIED"}"#,
                "consent.ad_user_data",
            ),
            (
                r#""consent":{"ad-personalization":"denied"}"#,
                "consent.ad_personalization",
            ),
            (r#""user":{"birthDate":"2015-01-01"}"#, "user.birth_date"),
            (r#""user":{"accountid":"a@b.co"}"#, "user.account_id"),
        ] {
            let r = Event::parse(&format!("{{{base},{body}}}")).unwrap_err();
            assert_eq!(r.reason, RejectReason::InvalidField, "{body}");
            assert!(
                r.message.starts_with(&format!("invalid field {want}:")),
                "{body}: {}",
                r.message
            );
            // The expected spelling, never the member's own: every quoted
            // name in the message is the known one.
            let name = want.rsplit('.').next().unwrap();
            assert!(
                r.message
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .all(|quoted| quoted == name),
                "{}",
                r.message
            );
        }
        // Names that are not a known one after folding stay allowed.
        for body in [
            r#""consent":{"gpc_v2":true,"gpcs":true,"g.p.c":true,"personalized":false}"#,
            r#""user":{"ages":[1],"age_group":"adult","name (first)":"x","score%":1}"#,
            r#""context":{"sub category":"health","категория":"x","subcategory":"y"}"#,
            r#""ad":{"gpc ":true},"app":{"User":1},"ext":{"consent ":1}"#,
        ] {
            let ev = format!("{{{base},{body}}}");
            assert!(Event::parse(&ev).is_ok(), "{body}");
        }
    }

    #[test]
    fn consent_strings_under_other_names_are_refused_and_named() {
        let base =
            r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z""#;
        for (member, want) in [
            ("tcString", "tcf"),
            ("gdpr_consent", "tcf"),
            ("euconsent-v2", "tcf"),
            ("gppString", "gpp"),
            ("usp", "us_privacy"),
        ] {
            let ev = format!(r#"{{{base},"consent":{{"{member}":"x"}}}}"#);
            let r = Event::parse(&ev).unwrap_err();
            assert_eq!(r.reason, RejectReason::InvalidField, "{member}");
            assert!(
                r.message
                    .starts_with(&format!("invalid field consent.{want}:"))
                    && r.message.contains(&format!("send it as \"{want}\"")),
                "{member}: {}",
                r.message
            );
        }
        // The same names outside `consent` are nobody's business.
        let ev = format!(r#"{{{base},"ad":{{"tcString":"x"}}}}"#);
        assert!(Event::parse(&ev).is_ok());
    }

    #[test]
    fn raw_values_have_no_surrounding_whitespace() {
        let o = Obj {
            members: json::parse_object("{ \"a\" :   12 , \"b\":\n \"x\" }").unwrap(),
        };
        assert_eq!(o.get("a").unwrap().get(), "12");
        assert_eq!(o.get("b").unwrap().get(), "\"x\"");
    }
}
