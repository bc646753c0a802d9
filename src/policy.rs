//! Per-partner policy (SPEC §4): the rules in order, the allow-list copy and
//! the leak guard. This module is the only maker of [`ScrubbedEvent`], the
//! only type the outbox accepts, so unscrubbed data cannot reach disk or a
//! partner by construction.
//!
//! Work that does not depend on the partner (consent, opt-outs, age,
//! category, the subject hashes) is done once per event in
//! [`Policy::evaluate`]; each partner then costs one or two HMACs (ad_id and
//! event_id with precomputed key state) and the copy of its allow-listed
//! fields into one output buffer.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;

use crate::config::{Config, PartnerConfig, PrivacyConfig};
use crate::event::{self, Event, Field, JsonKind, Obj};
use crate::guard::{self, Hit, SelfLeak};
use crate::identity::{self, Kind, PartnerKey, SubjectHash, SubjectHasher};

/// Why an event is not forwarded to a partner (the `reason` label of
/// `adgate_events_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    NotAllowed,
    OptedOut,
    Minor,
    Sensitive,
    NoIdentifier,
    PiiGuard,
    Invalid,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        DropReason::NotAllowed,
        DropReason::OptedOut,
        DropReason::Minor,
        DropReason::Sensitive,
        DropReason::NoIdentifier,
        DropReason::PiiGuard,
        DropReason::Invalid,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotAllowed => "not_allowed",
            DropReason::OptedOut => "opted_out",
            DropReason::Minor => "minor",
            DropReason::Sensitive => "sensitive",
            DropReason::NoIdentifier => "no_identifier",
            DropReason::PiiGuard => "pii_guard",
            DropReason::Invalid => "invalid",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The opt-out list as the policy sees it: keyed hashes of normalized
/// identifiers, never raw values.
pub trait OptOutLookup: Send + Sync {
    fn contains(&self, subject: &SubjectHash) -> bool;
}

/// An empty opt-out list (explain, benches).
pub struct NoOptOuts;

impl OptOutLookup for NoOptOuts {
    fn contains(&self, _: &SubjectHash) -> bool {
        false
    }
}

/// The keyed hashes of every identifier an event carries (at most one per
/// kind). Kept next to each outbox record so forget can find it; never
/// delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subjects {
    hashes: [SubjectHash; 4],
    len: u8,
}

impl Subjects {
    pub fn push(&mut self, h: SubjectHash) {
        if (self.len as usize) < self.hashes.len() {
            self.hashes[self.len as usize] = h;
            self.len += 1;
        }
    }
    pub fn as_slice(&self) -> &[SubjectHash] {
        &self.hashes[..self.len as usize]
    }
    pub fn contains(&self, h: &SubjectHash) -> bool {
        self.as_slice().contains(h)
    }
    /// From the concatenated 16-byte hashes stored in an outbox record.
    pub fn from_bytes(b: &[u8]) -> Subjects {
        let mut s = Subjects::default();
        for c in b.chunks_exact(16) {
            let mut h = [0u8; 16];
            h.copy_from_slice(c);
            s.push(h);
        }
        s
    }
}

/// An output event for one partner: the NDJSON line (no newline) and the
/// subject hashes. Only [`Policy`] can make one.
#[derive(Debug, Clone)]
pub struct ScrubbedEvent {
    line: Vec<u8>,
    subjects: Subjects,
}

impl ScrubbedEvent {
    pub fn line(&self) -> &[u8] {
        &self.line
    }
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }
}

/// The outcome for one partner.
#[derive(Debug, Clone)]
pub enum Outcome {
    Route(ScrubbedEvent),
    Drop(DropReason),
}

/// Allow-list entries as a tree, so `ad.campaign_id` and `ad.placement`
/// become one `"ad":{...}` object in the output.
#[derive(Debug, Clone)]
struct FieldNode {
    name: String,
    children: Vec<FieldNode>,
}

fn field_tree(fields: &[String]) -> Vec<FieldNode> {
    let mut roots: Vec<FieldNode> = Vec::new();
    for f in fields {
        let mut level = &mut roots;
        for seg in f.split('.') {
            let pos = match level.iter().position(|n| n.name == seg) {
                Some(p) => p,
                None => {
                    level.push(FieldNode {
                        name: seg.to_owned(),
                        children: Vec::new(),
                    });
                    level.len() - 1
                }
            };
            level = &mut level[pos].children;
        }
    }
    roots
}

/// One partner's compiled rules.
#[derive(Debug, Clone)]
pub struct PartnerPolicy {
    pub name: String,
    event_types: Vec<String>,
    identifiers: Vec<Kind>,
    fields: Vec<FieldNode>,
    key: PartnerKey,
}

impl PartnerPolicy {
    pub fn new(p: &PartnerConfig) -> PartnerPolicy {
        PartnerPolicy {
            name: p.name.clone(),
            event_types: p.event_types.clone(),
            identifiers: p.identifiers.clone(),
            fields: field_tree(&p.fields),
            key: p.signing_key().partner_key(),
        }
    }

    pub fn allows_type(&self, t: &str) -> bool {
        self.event_types.iter().any(|x| x == t)
    }

    pub fn identifiers(&self) -> &[Kind] {
        &self.identifiers
    }

    pub fn key(&self) -> &PartnerKey {
        &self.key
    }
}

/// The compiled policy of a whole config.
#[derive(Debug, Clone)]
pub struct Policy {
    pub partners: Vec<PartnerPolicy>,
    privacy: PrivacyConfig,
    hasher: SubjectHasher,
}

/// Everything the policy decided about one event.
#[derive(Debug)]
pub struct Evaluation {
    /// In the order of [`Policy::partners`].
    pub outcomes: Vec<Outcome>,
    pub subjects: Subjects,
    /// The partner-independent block, if any (for explain).
    pub blocked: Option<(DropReason, &'static str)>,
    /// Which identifier each routed partner used (for explain).
    pub used: Vec<Option<Kind>>,
    /// What the guard hit for each partner dropped with pii_guard.
    pub guard_hits: Vec<Option<Hit>>,
}

impl Policy {
    pub fn new(config: &Config, hasher: SubjectHasher) -> Policy {
        Policy {
            partners: config.partners.iter().map(PartnerPolicy::new).collect(),
            privacy: config.privacy.clone(),
            hasher,
        }
    }

    pub fn hasher(&self) -> &SubjectHasher {
        &self.hasher
    }

    /// Applies SPEC §4 to `ev` for every partner.
    pub fn evaluate(&self, ev: &Event<'_>, optouts: &dyn OptOutLookup) -> Evaluation {
        // Normalize each identifier once. Events no partner takes (product
        // views, purchases, searches: most of a retailer's stream) are
        // dropped as not_allowed before any other rule, so they need neither
        // subject hashes nor a leak guard.
        let wanted = self.partners.iter().any(|p| p.allows_type(&ev.event_type));
        let mut normalized: [Option<Cow<'_, str>>; 4] = Default::default();
        let mut subjects = Subjects::default();
        if wanted {
            for k in Kind::ALL {
                if let Some(raw) = ev.identifier(k) {
                    if let Some(n) = identity::normalize(k, raw) {
                        subjects.push(self.hasher.subject(k, &n));
                        normalized[k.index()] = Some(n);
                    }
                }
            }
        }
        let blocked = self.block_reason(ev, &subjects, optouts);

        // The leak guard's list of this event's own identifiers, built on
        // the first partner that gets as far as rendering.
        let mut leak_cell: Option<SelfLeak<'_>> = None;
        let own_identifiers = || {
            let mut leak = SelfLeak::default();
            for k in Kind::ALL {
                if let Some(raw) = ev.identifier(k) {
                    leak.add(Cow::Borrowed(raw));
                }
                if let Some(n) = &normalized[k.index()] {
                    leak.add(Cow::Borrowed(n.as_ref()));
                }
            }
            if let Some(ip) = &ev.ip {
                leak.add(Cow::Borrowed(ip.as_ref()));
            }
            leak
        };

        let mut time = String::with_capacity(20);
        let g = self.privacy.time_granularity.seconds();
        event::format_utc(ev.unix_seconds.div_euclid(g) * g, &mut time);

        let mut nested = Nested::default();
        let n = self.partners.len();
        let mut outcomes = Vec::with_capacity(n);
        let mut used = Vec::with_capacity(n);
        let mut guard_hits = Vec::with_capacity(n);
        for p in &self.partners {
            let mut hit = None;
            let mut kind_used = None;
            let outcome = if !p.allows_type(&ev.event_type) {
                Outcome::Drop(DropReason::NotAllowed)
            } else if let Some((r, _)) = blocked {
                Outcome::Drop(r)
            } else {
                match p
                    .identifiers
                    .iter()
                    .find_map(|k| normalized[k.index()].as_deref().map(|n| (*k, n)))
                {
                    None => Outcome::Drop(DropReason::NoIdentifier),
                    Some((kind, norm)) => {
                        kind_used = Some(kind);
                        let leak = leak_cell.get_or_insert_with(&own_identifiers);
                        match render(p, ev, kind, norm, &time, leak, &mut nested) {
                            Ok(line) => Outcome::Route(ScrubbedEvent { line, subjects }),
                            Err(h) => {
                                hit = Some(h);
                                Outcome::Drop(DropReason::PiiGuard)
                            }
                        }
                    }
                }
            };
            outcomes.push(outcome);
            used.push(kind_used);
            guard_hits.push(hit);
        }
        Evaluation {
            outcomes,
            subjects,
            blocked,
            used,
            guard_hits,
        }
    }

    /// SPEC §4.2 minus `no_identifier`, which depends on the partner. The
    /// first matching reason wins; the `&str` says which rule (for explain).
    fn block_reason(
        &self,
        ev: &Event<'_>,
        subjects: &Subjects,
        optouts: &dyn OptOutLookup,
    ) -> Option<(DropReason, &'static str)> {
        if let Some(b) = ev.malformed_block {
            return Some((
                DropReason::Invalid,
                match b {
                    "user" => "user is not an object",
                    "consent" => "consent is not an object",
                    _ => "context is not an object",
                },
            ));
        }
        match ev.personalized_ads {
            Field::Value(false) => {
                return Some((DropReason::OptedOut, "consent.personalized_ads is false"))
            }
            Field::WrongType => {
                return Some((
                    DropReason::Invalid,
                    "consent.personalized_ads is not a boolean",
                ))
            }
            _ => {}
        }
        match ev.gpc {
            Field::Value(true) => {
                return Some((
                    DropReason::OptedOut,
                    "consent.gpc is true (Global Privacy Control)",
                ))
            }
            Field::WrongType => return Some((DropReason::Invalid, "consent.gpc is not a boolean")),
            _ => {}
        }
        if subjects.as_slice().iter().any(|h| optouts.contains(h)) {
            return Some((
                DropReason::OptedOut,
                "an identifier of the event is on the opt-out list",
            ));
        }
        match ev.age {
            Field::Value(a) if a.is_nan() || a < 0.0 => {
                return Some((DropReason::Invalid, "user.age is negative"))
            }
            Field::Value(a) if a < self.privacy.minor_age as f64 => {
                return Some((DropReason::Minor, "user.age is below privacy.minor_age"))
            }
            Field::WrongType => return Some((DropReason::Invalid, "user.age is not a number")),
            _ => {}
        }
        match &ev.category {
            Field::Value(c)
                if self
                    .privacy
                    .sensitive_categories
                    .iter()
                    .any(|s| s == c.as_ref()) =>
            {
                return Some((
                    DropReason::Sensitive,
                    "context.category is a sensitive category",
                ))
            }
            Field::WrongType => {
                return Some((DropReason::Invalid, "context.category is not a string"))
            }
            _ => {}
        }
        None
    }
}

/// Builds the output line for one partner, scanning every copied string.
fn render<'a>(
    p: &PartnerPolicy,
    ev: &Event<'a>,
    kind: Kind,
    normalized: &str,
    time: &str,
    leak: &mut SelfLeak<'_>,
    nested: &mut Nested<'a>,
) -> Result<Vec<u8>, Hit> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"event_type\":");
    write_json_str(&mut out, &ev.event_type);
    out.extend_from_slice(b",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\",\"ad_id\":\"");
    // HMAC output and key ids are [A-Za-z0-9_-.]: no escaping needed.
    p.key.write_tagged(kind.as_str(), normalized, &mut out);
    out.extend_from_slice(b"\",\"ad_id_type\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"event_id\":\"");
    p.key.write_tagged("event_id", &ev.event_id, &mut out);
    out.push(b'"');
    write_fields(&mut out, &ev.top, &p.fields, leak, nested)?;
    out.push(b'}');
    Ok(out)
}

/// Nested objects of one event parsed for the allow-list copy, shared by
/// every partner that copies from them (keyed by the raw value's address).
#[derive(Default)]
struct Nested<'a> {
    parsed: Vec<(*const RawValue, Option<Obj<'a>>)>,
}

impl<'a> Nested<'a> {
    /// Moves the parsed object of `raw` out (parsing it the first time),
    /// with its slot; `None` if `raw` is not an object. Give it back with
    /// [`Nested::put`].
    fn take(&mut self, raw: &'a RawValue) -> Option<(usize, Obj<'a>)> {
        let key = raw as *const RawValue;
        let i = match self
            .parsed
            .iter()
            .position(|(k, _)| std::ptr::addr_eq(*k, key))
        {
            Some(i) => i,
            None => {
                self.parsed.push((key, Obj::parse(raw)));
                self.parsed.len() - 1
            }
        };
        self.parsed[i].1.as_mut().map(|o| (i, std::mem::take(o)))
    }

    fn put(&mut self, slot: usize, obj: Obj<'a>) {
        self.parsed[slot].1 = Some(obj);
    }
}

fn write_fields<'a>(
    out: &mut Vec<u8>,
    obj: &Obj<'a>,
    nodes: &[FieldNode],
    leak: &mut SelfLeak<'_>,
    nested: &mut Nested<'a>,
) -> Result<bool, Hit> {
    let mut wrote = false;
    for node in nodes {
        let Some(raw) = obj.get(&node.name) else {
            continue;
        };
        let mark = out.len();
        out.push(b',');
        out.push(b'"');
        out.extend_from_slice(node.name.as_bytes());
        out.extend_from_slice(b"\":");
        if node.children.is_empty() {
            write_value(out, raw, leak)?;
            wrote = true;
        } else if let Some((slot, sub)) = nested.take(raw) {
            out.push(b'{');
            let inner_start = out.len();
            let copied = write_fields(out, &sub, &node.children, leak, nested);
            // Back before any `?`: the next partner copies from it too.
            nested.put(slot, sub);
            if copied? {
                // The children each wrote a leading comma; drop the first.
                out.remove(inner_start);
                out.push(b'}');
                wrote = true;
            } else {
                out.truncate(mark);
            }
        } else {
            // Not an object where the allow-list expects one: nothing to copy.
            out.truncate(mark);
        }
    }
    Ok(wrote)
}

fn write_value(out: &mut Vec<u8>, raw: &RawValue, leak: &mut SelfLeak<'_>) -> Result<(), Hit> {
    match event::kind_of(raw) {
        JsonKind::String => {
            let s = event::as_str(raw).unwrap_or_default();
            check_str(&s, leak)?;
            write_json_str(out, &s);
        }
        JsonKind::Number => {
            // A number can be the event's own (numeric) identifier too.
            if let Some(h) = guard::scan_number(raw.get()).or_else(|| leak.check(raw.get())) {
                return Err(h);
            }
            out.extend_from_slice(raw.get().as_bytes());
        }
        JsonKind::Bool | JsonKind::Null => out.extend_from_slice(raw.get().as_bytes()),
        JsonKind::Array | JsonKind::Object => {
            let v: serde_json::Value =
                serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null);
            check_value(&v, leak)?;
            serde_json::to_writer(&mut *out, &v).expect("writing to a Vec cannot fail");
        }
    }
    Ok(())
}

fn check_str(s: &str, leak: &mut SelfLeak<'_>) -> Result<(), Hit> {
    if let Some(h) = guard::scan(s) {
        return Err(h);
    }
    if let Some(h) = leak.check(s) {
        return Err(h);
    }
    Ok(())
}

fn check_value(v: &serde_json::Value, leak: &mut SelfLeak<'_>) -> Result<(), Hit> {
    match v {
        serde_json::Value::String(s) => check_str(s, leak),
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            match guard::scan_number(&text).or_else(|| leak.check(&text)) {
                Some(h) => Err(h),
                None => Ok(()),
            }
        }
        serde_json::Value::Array(a) => a.iter().try_for_each(|x| check_value(x, leak)),
        serde_json::Value::Object(o) => o.iter().try_for_each(|(k, x)| {
            check_str(k, leak)?;
            check_value(x, leak)
        }),
        _ => Ok(()),
    }
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_from;
    use std::collections::HashMap;
    use std::path::Path;

    fn config(fields: &str) -> Config {
        let toml = format!(
            r#"
[privacy]
time_granularity = "hour"
[[partners]]
name = "a"
event_types = ["ad_impression"]
identifiers = ["account_id", "email"]
fields = {fields}
[partners.delivery]
mode = "pull"
token_env = "T"
[[partners.keys]]
id = "k1"
secret_env = "K"
"#
        );
        let env = env_from(HashMap::from([
            (
                "T".to_string(),
                "feed-token-feed-token-feed-token-x".to_string(),
            ),
            (
                "K".to_string(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            ),
        ]));
        Config::from_toml(&toml, "test.toml", Path::new("."), &env).unwrap()
    }

    fn run(cfg: &Config, json: &str) -> Outcome {
        let p = Policy::new(cfg, SubjectHasher::new(&[9; 32]));
        let ev = Event::parse(json).unwrap();
        p.evaluate(&ev, &NoOptOuts).outcomes.remove(0)
    }

    #[test]
    fn keeps_only_allow_listed_nesting_kept() {
        let cfg = config(r#"["ad.campaign_id", "ad.value_estimate_micros", "app.app_id"]"#);
        let out = run(
            &cfg,
            r#"{"event_id":"e1","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                "user":{"email":"Jane@Example.com","account_id":" A123 "},
                "ad":{"campaign_id":"c-77","placement":"home","value_estimate_micros":1250},
                "search":{"query":"shoes"}}"#,
        );
        let Outcome::Route(s) = out else {
            panic!("{out:?}")
        };
        let v: serde_json::Value = serde_json::from_slice(s.line()).unwrap();
        assert_eq!(v["time"], "2026-11-28T13:00:00Z");
        assert_eq!(v["ad_id_type"], "account_id");
        assert_eq!(
            v["ad"],
            serde_json::json!({"campaign_id": "c-77", "value_estimate_micros": 1250})
        );
        assert!(v.get("app").is_none());
        assert!(v.get("search").is_none() && v.get("user").is_none());
        let key = cfg.partners[0].signing_key().partner_key();
        assert_eq!(v["ad_id"], key.ad_id(Kind::AccountId, "A123"));
        assert_eq!(v["event_id"], key.event_id("e1"));
    }

    #[test]
    fn a_guard_drop_for_one_partner_leaves_the_shared_nested_object_to_the_next() {
        // Partner "a" copies ad.note (a leak: dropped by the guard midway
        // through "ad"); partner "b" copies ad.campaign_id from the same
        // parsed object and must still get it.
        let a = config(r#"["ad.campaign_id", "ad.note"]"#);
        let b = config(r#"["ad.campaign_id"]"#);
        let mut cfg = a.clone();
        let mut pb = b.partners[0].clone();
        pb.name = "b".to_string();
        cfg.partners.push(pb);
        let p = Policy::new(&cfg, SubjectHasher::new(&[9; 32]));
        let json = r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"A1"},"ad":{"campaign_id":"c-7","note":"jane@example.com"}}"#;
        let ev = Event::parse(json).unwrap();
        let outcomes = p.evaluate(&ev, &NoOptOuts).outcomes;
        assert!(matches!(outcomes[0], Outcome::Drop(DropReason::PiiGuard)));
        let Outcome::Route(s) = &outcomes[1] else {
            panic!("b not routed: {:?}", outcomes[1]);
        };
        let line = std::str::from_utf8(s.line()).unwrap();
        assert!(line.contains(r#""ad":{"campaign_id":"c-7"}"#), "{line}");
    }

    #[test]
    fn guard_drops_leaks_in_allowed_fields() {
        let cfg = config(r#"["ad"]"#);
        for leak in [
            r#""jane@example.com""#,
            r#""+1 206 555 0100""#,
            r#"["x", {"y": "4111 1111 1111 1111"}]"#,
            r#""A123-extra""#,
        ] {
            let ev = format!(
                r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                    "user":{{"account_id":"A123-extra"}},"ad":{{"campaign_id":{leak}}}}}"#
            );
            assert!(
                matches!(run(&cfg, &ev), Outcome::Drop(DropReason::PiiGuard)),
                "{leak}"
            );
        }
    }

    #[test]
    fn rules_in_order() {
        let cfg = config("[]");
        let base = r#""event_id":"e","timestamp":"2026-11-28T13:45:12Z""#;
        let cases = [
            (
                r#""event_type":"purchase","consent":{"gpc":true}"#,
                DropReason::NotAllowed,
            ),
            (
                r#""event_type":"ad_impression","consent":{"gpc":true},"user":{"age":5}"#,
                DropReason::OptedOut,
            ),
            (
                r#""event_type":"ad_impression","user":{"age":5,"email":"a@b.co"}"#,
                DropReason::Minor,
            ),
            (
                r#""event_type":"ad_impression","context":{"category":"health"}"#,
                DropReason::Sensitive,
            ),
            (
                r#""event_type":"ad_impression","user":{"phone":"+12065550100"}"#,
                DropReason::NoIdentifier,
            ),
            (
                r#""event_type":"ad_impression","user":{"age":"old"}"#,
                DropReason::Invalid,
            ),
        ];
        for (body, want) in cases {
            let out = run(&cfg, &format!("{{{base},{body}}}"));
            assert!(
                matches!(out, Outcome::Drop(r) if r == want),
                "{body}: {out:?}"
            );
        }
    }
}
