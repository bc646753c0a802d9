//! Partner profiles (docs/profiles.md), checked from outside the crate:
//!
//! 1. Known-answer vectors: `tests/vectors/profiles.json`, computed
//!    independently by `tests/vectors/profiles.py` (Python hashlib/hmac,
//!    regenerate with `python3 tests/vectors/profiles.py`). Every email and
//!    phone case is checked for every profile: the normalized form, and the
//!    hash where the profile's encoder puts it in the event. The adgate
//!    profile's ad_ids come from the matching recipe printed in the docs.
//! 2. The mock partner APIs of `tests/it/common/partners.rs`, fed with bodies
//!    the encoders produced and sent with the credentials where each
//!    profile says: valid batches accepted, every kind of invalid body
//!    refused with a reason.
//!
//! Each vector test collects every mismatch and fails once with the list.

use std::collections::HashMap;

use crate::common::partners::{is_hex64, PartnerMock};
use adgate::identity::{self, Kind, PartnerKey};
use adgate::profile::adgate::AdgateProfile;
use adgate::profile::google_ads::{GoogleAds, GoogleOptions};
use adgate::profile::meta_capi::{MetaCapi, MetaOptions};
use adgate::profile::tiktok_events::{TiktokEvents, TiktokOptions};
use adgate::profile::{
    ConsentSignals, CredentialPlace, EncodeError, Profile, ProfileInput, ProfileKind,
};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Vectors

#[derive(Deserialize)]
struct Vectors {
    adgate_key: KeySpec,
    emails: Vec<IdCase>,
    phones: Vec<IdCase>,
    external_ids: Vec<ExtCase>,
    prehashed: Vec<PreCase>,
}

#[derive(Deserialize)]
struct KeySpec {
    id: String,
    secret_b64: String,
}

#[derive(Deserialize)]
struct Hashed {
    normalized: String,
    sha256: String,
}

#[derive(Deserialize)]
struct Keyed {
    normalized: String,
    ad_id: String,
}

#[derive(Deserialize)]
struct IdCase {
    input: String,
    note: String,
    meta_capi: Option<Hashed>,
    google_ads: Option<Hashed>,
    tiktok_events: Option<Hashed>,
    adgate: Option<Keyed>,
}

#[derive(Deserialize)]
struct ExtCase {
    input: String,
    sha256: Option<String>,
}

#[derive(Deserialize)]
struct PreCase {
    input: String,
    forwarded: Option<String>,
}

fn vectors() -> Vectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/profiles.json");
    let text = std::fs::read_to_string(path).expect("tests/vectors/profiles.json");
    serde_json::from_str(&text).expect("profiles.json parses")
}

const EVENT_TIME: i64 = 1_796_043_600; // 2026-11-30T13:00:00Z

fn linkable_profiles() -> Vec<Box<dyn Profile>> {
    vec![
        Box::new(MetaCapi::new(MetaOptions::example())),
        Box::new(GoogleAds::new(GoogleOptions::example())),
        Box::new(TiktokEvents::new(TiktokOptions::example())),
    ]
}

fn expected(c: &IdCase, kind: ProfileKind) -> Option<&Hashed> {
    match kind {
        ProfileKind::MetaCapi => c.meta_capi.as_ref(),
        ProfileKind::GoogleAds => c.google_ads.as_ref(),
        ProfileKind::TiktokEvents => c.tiktok_events.as_ref(),
        ProfileKind::Adgate => unreachable!("keyed, checked apart"),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Id {
    Email,
    Phone,
    External,
}

/// Where a profile's encoder puts the hash of an identifier.
fn hash_in(kind: ProfileKind, ev: &Value, id: Id) -> Option<String> {
    let v = match (kind, id) {
        (ProfileKind::MetaCapi, Id::Email) => &ev["user_data"]["em"][0],
        (ProfileKind::MetaCapi, Id::Phone) => &ev["user_data"]["ph"][0],
        (ProfileKind::MetaCapi, Id::External) => &ev["user_data"]["external_id"][0],
        (ProfileKind::GoogleAds, Id::Email) => &ev["userIdentifiers"][0]["hashedEmail"],
        (ProfileKind::GoogleAds, Id::Phone) => &ev["userIdentifiers"][0]["hashedPhoneNumber"],
        (ProfileKind::GoogleAds, Id::External) => return None,
        (ProfileKind::TiktokEvents, Id::Email) => &ev["user"]["email"],
        (ProfileKind::TiktokEvents, Id::Phone) => &ev["user"]["phone"],
        (ProfileKind::TiktokEvents, Id::External) => &ev["user"]["external_id"],
        (ProfileKind::Adgate, _) => &ev["ad_id"],
    };
    v.as_str().map(str::to_owned)
}

fn input_with<'a>(id: Id, value: &'a str, prehashed: bool) -> ProfileInput<'a> {
    let mut i = ProfileInput {
        event_type: "ad_impression",
        unix_seconds: EVENT_TIME,
        event_id: "k1.pseudonymous-event-id",
        ..Default::default()
    };
    match (id, prehashed) {
        (Id::Email, false) => i.email = Some(value),
        (Id::Phone, false) => i.phone = Some(value),
        (Id::Email, true) => i.email_sha256 = Some(value),
        (Id::Phone, true) => i.phone_sha256 = Some(value),
        (Id::External, _) => i.account_id = Some(value),
    }
    i
}

/// Encodes and returns the hash found where the profile puts it, or the
/// error.
fn encoded_hash(p: &dyn Profile, input: &ProfileInput<'_>, id: Id) -> Result<String, String> {
    let mut out = Vec::new();
    match p.encode(input, &mut out) {
        Ok(()) => {
            let ev: Value = serde_json::from_slice(&out).map_err(|e| {
                format!(
                    "output is not JSON ({e}): {}",
                    String::from_utf8_lossy(&out)
                )
            })?;
            hash_in(p.kind(), &ev, id).ok_or_else(|| format!("no hash in {ev}"))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn check_id_cases(cases: &[IdCase], id: Id) -> Vec<String> {
    let mut bad = Vec::new();
    for c in cases {
        for p in linkable_profiles() {
            let want = expected(c, p.kind());
            let got_norm = match id {
                Id::Email => p.normalize_email(&c.input),
                _ => p.normalize_phone(&c.input),
            }
            .map(|n| n.into_owned());
            if got_norm.as_deref() != want.map(|w| w.normalized.as_str()) {
                bad.push(format!(
                    "{} {:?} ({}): normalized {:?}, want {:?}",
                    p.name(),
                    c.input,
                    c.note,
                    got_norm,
                    want.map(|w| &w.normalized)
                ));
            }
            let got = encoded_hash(p.as_ref(), &input_with(id, &c.input, false), id);
            match (want, &got) {
                (Some(w), Ok(h)) if *h == w.sha256 => {}
                (None, Err(e)) if e.contains("no identifier") => {}
                _ => bad.push(format!(
                    "{} {:?} ({}): encoded {:?}, want {:?}",
                    p.name(),
                    c.input,
                    c.note,
                    got,
                    want.map(|w| &w.sha256)
                )),
            }
        }
    }
    bad
}

fn report(group: &str, bad: Vec<String>) {
    assert!(
        bad.is_empty(),
        "{} {group} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn email_vectors_every_profile() {
    let v = vectors();
    assert!(v.emails.len() >= 20, "{} email cases", v.emails.len());
    report("email", check_id_cases(&v.emails, Id::Email));
}

#[test]
fn phone_vectors_every_profile() {
    let v = vectors();
    assert!(v.phones.len() >= 15, "{} phone cases", v.phones.len());
    report("phone", check_id_cases(&v.phones, Id::Phone));
}

#[test]
fn vectors_contain_cases_where_profiles_disagree() {
    let v = vectors();
    let differ = |c: &IdCase| {
        let hs: Vec<Option<&str>> = [&c.meta_capi, &c.google_ads, &c.tiktok_events]
            .iter()
            .map(|h| h.as_ref().map(|h| h.sha256.as_str()))
            .collect();
        hs.windows(2).any(|w| w[0] != w[1])
    };
    let e = v.emails.iter().filter(|c| differ(c)).count();
    let p = v.phones.iter().filter(|c| differ(c)).count();
    assert!(
        e >= 5 && p >= 10,
        "disagreeing cases: {e} emails, {p} phones"
    );
}

#[test]
fn adgate_profile_vectors_match_the_recipe() {
    let v = vectors();
    let secret = base64::engine::general_purpose::STANDARD
        .decode(&v.adgate_key.secret_b64)
        .unwrap();
    let key = PartnerKey::new(&v.adgate_key.id, &secret);
    let mut bad = Vec::new();
    for (cases, kind, id) in [
        (&v.emails, Kind::Email, Id::Email),
        (&v.phones, Kind::Phone, Id::Phone),
    ] {
        let profile = AdgateProfile::new(key.clone(), vec![kind]);
        for c in cases {
            let norm = identity::normalize(kind, &c.input).map(|n| n.into_owned());
            if norm.as_deref() != c.adgate.as_ref().map(|a| a.normalized.as_str()) {
                bad.push(format!(
                    "{kind} {:?} ({}): normalized {norm:?}",
                    c.input, c.note
                ));
                continue;
            }
            let got = encoded_hash(&profile, &input_with(id, &c.input, false), id);
            match (&c.adgate, &got) {
                (Some(a), Ok(h)) if *h == a.ad_id && key.ad_id(kind, &a.normalized) == a.ad_id => {}
                (None, Err(_)) => {}
                _ => bad.push(format!(
                    "{kind} {:?} ({}): ad_id {got:?}, want {:?}",
                    c.input,
                    c.note,
                    c.adgate.as_ref().map(|a| &a.ad_id)
                )),
            }
        }
    }
    report("adgate", bad);
}

#[test]
fn external_id_vectors() {
    let v = vectors();
    let mut bad = Vec::new();
    for c in &v.external_ids {
        for p in linkable_profiles() {
            let got = encoded_hash(
                p.as_ref(),
                &input_with(Id::External, &c.input, false),
                Id::External,
            );
            let ok = match (p.kind(), &c.sha256, &got) {
                // Google's conversion upload takes no external id: an
                // account id alone is not enough for it.
                (ProfileKind::GoogleAds, _, Err(e)) => e.contains("no identifier"),
                (_, Some(w), Ok(h)) => h == w,
                (_, None, Err(e)) => e.contains("no identifier"),
                _ => false,
            };
            if !ok {
                bad.push(format!(
                    "{} {:?}: {got:?}, want {:?}",
                    p.name(),
                    c.input,
                    c.sha256
                ));
            }
        }
    }
    report("external_id", bad);
}

#[test]
fn prehashed_values_are_forwarded_never_rehashed() {
    let v = vectors();
    let mut bad = Vec::new();
    for c in &v.prehashed {
        for id in [Id::Email, Id::Phone] {
            for p in linkable_profiles() {
                let got = encoded_hash(p.as_ref(), &input_with(id, &c.input, true), id);
                let ok = match (&c.forwarded, &got) {
                    (Some(w), Ok(h)) => h == w,
                    (None, Err(e)) => e.contains("no identifier"),
                    _ => false,
                };
                if !ok {
                    bad.push(format!(
                        "{} {:?}: {got:?}, want {:?}",
                        p.name(),
                        c.input,
                        c.forwarded
                    ));
                }
            }
            // The adgate profile cannot key a hash: it refuses.
            let a = AdgateProfile::new(
                PartnerKey::new("k1", &[1; 32]),
                vec![Kind::Email, Kind::Phone],
            );
            let mut out = Vec::new();
            if !matches!(
                a.encode(&input_with(id, &c.input, true), &mut out),
                Err(EncodeError::NoIdentifier { .. })
            ) {
                bad.push(format!("adgate accepted pre-hashed {:?}", c.input));
            }
        }
    }
    report("prehashed", bad);
}

/// The Python recipe printed in docs/profiles.md is the one that computed
/// the adgate vectors, byte for byte.
#[test]
fn docs_recipe_is_the_tested_one() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = std::fs::read_to_string(format!("{root}/tests/vectors/profiles.py")).unwrap();
    let recipe = script
        .split("# --- RECIPE BEGIN ---\n")
        .nth(1)
        .and_then(|r| r.split("# --- RECIPE END ---").next())
        .expect("recipe markers in profiles.py");
    // docs/profiles.md and the README's Partners section print it.
    for page in ["docs/profiles.md", "README.md"] {
        let docs = std::fs::read_to_string(format!("{root}/{page}")).unwrap();
        let block = docs
            .split("```python\n")
            .nth(1)
            .and_then(|r| r.split("```").next())
            .unwrap_or_else(|| panic!("a python block in {page}"));
        assert_eq!(block.trim(), recipe.trim(), "{page}");
    }
    assert!(recipe.lines().filter(|l| !l.trim().is_empty()).count() <= 12);
}

// ---------------------------------------------------------------------------
// Mock partner APIs

const TOKEN: &str = "partner-access-token-0123456789abcdef";
const DEV_TOKEN: &str = "google-developer-token-0123456789";

fn meta() -> (MetaCapi, PartnerMock) {
    let o = MetaOptions::example();
    let m = PartnerMock::meta(&o.pixel_id, TOKEN);
    (MetaCapi::new(o), m)
}

fn google() -> (GoogleAds, PartnerMock) {
    let o = GoogleOptions::example();
    let m = PartnerMock::google(&o.customer_id, TOKEN, DEV_TOKEN);
    (GoogleAds::new(o), m)
}

fn tiktok() -> (TiktokEvents, PartnerMock) {
    let o = TiktokOptions::example();
    let m = PartnerMock::tiktok(&o.event_source_id, TOKEN);
    (TiktokEvents::new(o), m)
}

/// `n` encoded events with varied identifiers and fields.
fn encoded(p: &dyn Profile, n: usize) -> Vec<Vec<u8>> {
    let fields =
        r#"{"ad":{"campaign_id":"c-77","value_estimate_micros":1250000,"currency":"EUR"}}"#;
    (0..n)
        .map(|i| {
            let email = format!(" User.{i}@Example.com");
            let phone = format!("+1 206 555 {:04}", i % 10_000);
            let eid = format!("k1.event-{i}");
            let input = ProfileInput {
                event_type: if i % 2 == 0 {
                    "ad_impression"
                } else {
                    "app_install"
                },
                unix_seconds: EVENT_TIME,
                event_id: &eid,
                email: (i % 3 != 1).then_some(email.as_str()),
                phone: (i % 3 != 2).then_some(phone.as_str()),
                account_id: Some("A123"),
                fields: (i % 4 != 3).then_some(fields),
                consent: ConsentSignals {
                    ad_user_data: Some(true),
                    ad_personalization: (i % 2 == 0).then_some(true),
                    limited_data_use: i % 5 == 0,
                },
                ..Default::default()
            };
            let mut out = Vec::new();
            p.encode(&input, &mut out).unwrap();
            out
        })
        .collect()
}

fn body_of(p: &dyn Profile, events: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    p.write_body(&refs, &mut out);
    out
}

/// POSTs `body` to the mock with the credentials placed where the profile
/// says (none when `creds` is false); status and parsed answer.
fn post(p: &dyn Profile, mock: &PartnerMock, body: &[u8], creds: bool) -> (u16, Value) {
    post_with(p, mock, body, creds, p.content_type())
}

fn post_with(
    p: &dyn Profile,
    mock: &PartnerMock,
    body: &[u8],
    creds: bool,
    content_type: &str,
) -> (u16, Value) {
    let secrets: HashMap<&str, &str> =
        [("access_token", TOKEN), ("developer_token", DEV_TOKEN)].into();
    let mut url = mock.url();
    let mut headers = Vec::new();
    if creds {
        for c in p.credentials() {
            let secret = secrets[c.secret];
            match c.place {
                CredentialPlace::Query { name } => url = format!("{url}?{name}={secret}"),
                CredentialPlace::Header { name, prefix } => {
                    headers.push((name, format!("{prefix}{secret}")))
                }
            }
        }
    }
    let mut req = ureq::post(&url).set("content-type", content_type);
    for (k, v) in &headers {
        req = req.set(k, v);
    }
    let (status, text) = match req.send_bytes(body) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap()),
        Err(e) => panic!("request to mock failed: {e}"),
    };
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn parsed(events: &[Vec<u8>]) -> Vec<Value> {
    events
        .iter()
        .map(|e| serde_json::from_slice(e).unwrap())
        .collect()
}

#[test]
fn mocks_accept_what_the_encoders_send() {
    let (mp, mm) = meta();
    let (gp, gm) = google();
    let (tp, tm) = tiktok();
    let cases: [(&dyn Profile, &PartnerMock); 3] = [(&mp, &mm), (&gp, &gm), (&tp, &tm)];
    for (p, m) in cases {
        // One event, a typical batch, and exactly the partner's limit.
        for n in [1, 37, p.batch_limit()] {
            let evs = encoded(p, n);
            let before = m.accepted().len();
            let (status, answer) = post(p, m, &body_of(p, &evs), true);
            assert_eq!(status, 200, "{} with {n} events: {answer}", p.name());
            assert_eq!(m.accepted()[before..], parsed(&evs)[..], "{}", p.name());
        }
        // No raw email or phone reached the partner (the mock checked that
        // every identifier is hex SHA-256; this checks nothing else leaked).
        for ev in m.accepted() {
            let t = ev.to_string();
            assert!(
                !t.contains('@') && !t.contains("206 555"),
                "{}: {t}",
                p.name()
            );
        }
    }
    // Meta's and TikTok's copies carry the same email hash for the same
    // person; Google's differs only where its Gmail rule applies (here it
    // does not): the identifiers are linkable across partners.
    let em = mm.accepted()[0]["user_data"]["em"][0].clone();
    assert_eq!(tm.accepted()[0]["user"]["email"], em);
    assert_eq!(gm.accepted()[0]["userIdentifiers"][0]["hashedEmail"], em);
    assert!(is_hex64(em.as_str().unwrap()));
}

#[test]
fn mocks_check_authentication() {
    let (mp, mm) = meta();
    let (gp, gm) = google();
    let (tp, tm) = tiktok();
    let cases: [(&dyn Profile, &PartnerMock); 3] = [(&mp, &mm), (&gp, &gm), (&tp, &tm)];
    for (p, m) in cases {
        let body = body_of(p, &encoded(p, 2));
        let (status, answer) = post(p, m, &body, false);
        assert_eq!(status, 401, "{}: {answer}", p.name());
        assert!(m.accepted().is_empty());
    }
    // Google needs both credentials: the OAuth token alone is refused.
    let body = body_of(&gp, &encoded(&gp, 1));
    let r = ureq::post(&gm.url())
        .set("content-type", "application/json")
        .set("authorization", &format!("Bearer {TOKEN}"))
        .send_bytes(&body);
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));
    // A wrong token is refused too.
    let r = ureq::post(&tm.url())
        .set("content-type", "application/json")
        .set("access-token", "not-the-token")
        .send_bytes(&body_of(&tp, &encoded(&tp, 1)));
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));
}

/// Mutates a valid body and expects a 400 naming `reason`.
fn refused(p: &dyn Profile, m: &PartnerMock, body: Value, reason: &str) {
    let before = m.accepted().len();
    let (status, answer) = post(p, m, body.to_string().as_bytes(), true);
    assert_eq!(
        status,
        400,
        "{}: expected refusal for {reason}: {answer}",
        p.name()
    );
    let why = answer["error"].as_str().unwrap_or_default();
    assert!(
        why.contains(reason),
        "{}: reason {why:?} lacks {reason:?}",
        p.name()
    );
    assert_eq!(
        m.accepted().len(),
        before,
        "{}: refused body recorded",
        p.name()
    );
}

fn valid(p: &dyn Profile, n: usize) -> Value {
    serde_json::from_slice(&body_of(p, &encoded(p, n))).unwrap()
}

#[test]
fn meta_mock_refuses_each_kind_of_invalid_body() {
    let (p, m) = meta();
    let over = body_of(&p, &encoded(&p, p.batch_limit() + 1));
    let (status, answer) = post(&p, &m, &over, true);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("limit of 1000"));
    let (status, _) = post_with(&p, &m, &body_of(&p, &encoded(&p, 1)), true, "text/plain");
    assert_eq!(status, 400);

    refused(&p, &m, json!({"data": []}), "data must not be empty");
    refused(
        &p,
        &m,
        json!({"events": valid(&p, 1)["data"]}),
        "body.events is not a known parameter",
    );
    let mut v = valid(&p, 3);
    v["data"][2]["user_data"]["em"][0] = json!("Jane@Example.com");
    refused(
        &p,
        &m,
        v,
        "data[2].user_data.em[0] must be lowercase hex SHA-256",
    );
    let mut v = valid(&p, 1);
    let up = v["data"][0]["user_data"]["external_id"][0]
        .as_str()
        .unwrap()
        .to_uppercase();
    v["data"][0]["user_data"]["external_id"][0] = json!(up);
    refused(&p, &m, v, "external_id[0] must be lowercase hex");
    let mut v = valid(&p, 1);
    v["data"][0]["event_time"] = json!(EVENT_TIME * 1000);
    refused(&p, &m, v, "event_time must be Unix seconds");
    let mut v = valid(&p, 1);
    v["data"][0]["event_time"] = json!("2026-11-30T13:00:00Z");
    refused(&p, &m, v, "event_time is required as an integer");
    let mut v = valid(&p, 1);
    v["data"][0]
        .as_object_mut()
        .unwrap()
        .remove("action_source");
    refused(&p, &m, v, "data[0].action_source is required");
    let mut v = valid(&p, 1);
    v["data"][0]["user_data"] = json!({});
    refused(
        &p,
        &m,
        v,
        "needs at least one customer information parameter",
    );
    let mut v = valid(&p, 1);
    v["data"][0]["ad_id"] = json!("k1.x");
    refused(&p, &m, v, "data[0].ad_id is not a known parameter");
    let mut v = valid(&p, 1);
    v["data"][0]["event_name"] = json!("");
    refused(&p, &m, v, "event_name must be a non-empty string");
    let mut v = valid(&p, 1);
    v["data"][0]["data_processing_options"] = json!(["LDU"]);
    v["data"][0]
        .as_object_mut()
        .unwrap()
        .remove("data_processing_options_state");
    refused(&p, &m, v, "data_processing_options_state is required");
}

#[test]
fn google_mock_refuses_each_kind_of_invalid_body() {
    let (p, m) = google();
    let over = body_of(&p, &encoded(&p, p.batch_limit() + 1));
    let (status, answer) = post(&p, &m, &over, true);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("limit of 2000"));

    let mut v = valid(&p, 1);
    v.as_object_mut().unwrap().remove("partialFailure");
    refused(&p, &m, v, "partialFailure must be true");
    let mut v = valid(&p, 2);
    v["conversions"][1]["conversionDateTime"] = json!("2026-11-30T13:00:00Z");
    refused(&p, &m, v, "conversions[1].conversionDateTime must be");
    let mut v = valid(&p, 1);
    v["conversions"][0]["userIdentifiers"][0]["hashedPhoneNumber"] =
        v["conversions"][0]["userIdentifiers"][0]["hashedEmail"].clone();
    refused(
        &p,
        &m,
        v,
        "must set exactly one of hashedEmail, hashedPhoneNumber",
    );
    let mut v = valid(&p, 1);
    v["conversions"][0]["userIdentifiers"][0] = json!({"hashedEmail": "jane@example.com"});
    refused(
        &p,
        &m,
        v,
        "userIdentifiers[0].hashedEmail must be lowercase hex",
    );
    let mut v = valid(&p, 1);
    v["conversions"][0]["userIdentifiers"] = json!([]);
    refused(&p, &m, v, "userIdentifiers must be a list of 1 to 5");
    let mut v = valid(&p, 1);
    v["conversions"][0]["conversionAction"] = json!("customers/999/conversionActions/1");
    refused(&p, &m, v, "not a conversion action of this customer");
    let mut v = valid(&p, 1);
    v["conversions"][0]["consent"]["adUserData"] = json!(true);
    refused(&p, &m, v, "consent.adUserData must be a ConsentStatus");
    let mut v = valid(&p, 1);
    v["conversions"][0]["currencyCode"] = json!("eur");
    refused(&p, &m, v, "currencyCode must be an ISO 4217 code");
    let mut v = valid(&p, 1);
    v["conversions"][0]["conversionValue"] = json!("1.25");
    refused(&p, &m, v, "conversionValue must be a number");
    let mut v = valid(&p, 1);
    v["conversions"][0]["custom"] = json!({});
    refused(&p, &m, v, "conversions[0].custom is not a known parameter");
}

#[test]
fn tiktok_mock_refuses_each_kind_of_invalid_body() {
    let (p, m) = tiktok();
    let over = body_of(&p, &encoded(&p, p.batch_limit() + 1));
    let (status, answer) = post(&p, &m, &over, true);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("limit of 1000"));

    let mut v = valid(&p, 1);
    v["event_source_id"] = json!("CSOMEONE0ELSES0PIXEL");
    refused(&p, &m, v, "event_source_id is not this pixel");
    let mut v = valid(&p, 1);
    v["event_source"] = json!("server");
    refused(&p, &m, v, "event_source must be web, app");
    let mut v = valid(&p, 2);
    v["data"][1]["user"]["email"] = json!("jane@example.com");
    refused(&p, &m, v, "data[1].user.email must be lowercase hex");
    let mut v = valid(&p, 1);
    v["data"][0]["user"] = json!({"ip": "203.0.113.9"});
    refused(&p, &m, v, "needs email, phone or external_id");
    let mut v = valid(&p, 1);
    v["data"][0]["event_time"] = json!(EVENT_TIME * 1000);
    refused(&p, &m, v, "event_time must be Unix seconds");
    let mut v = valid(&p, 1);
    v["data"][0].as_object_mut().unwrap().remove("event");
    refused(&p, &m, v, "data[0].event is required");
    let mut v = valid(&p, 1);
    v["data"][0]["properties"] = json!("c-77");
    refused(&p, &m, v, "properties must be an object");
}

#[test]
fn mock_forced_failures_then_accepts() {
    let (p, m) = tiktok();
    m.fail_next(&[503, 429]);
    let body = body_of(&p, &encoded(&p, 3));
    assert_eq!(post(&p, &m, &body, true).0, 503);
    assert_eq!(post(&p, &m, &body, true).0, 429);
    assert!(m.accepted().is_empty());
    assert_eq!(post(&p, &m, &body, true).0, 200);
    assert_eq!(m.accepted().len(), 3);
    let seen = m.seen();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [503, 429, 200]
    );
    // The credential travelled as a header, not in the URL.
    assert!(!seen[2].path_and_query.contains(TOKEN));
}

/// Batch framing copies the stored bytes: an event whose bytes are not
/// what serde would write (spacing, key order) arrives unchanged.
#[test]
fn framing_does_not_re_encode() {
    for p in linkable_profiles() {
        let a = br#"{"z":1,  "a":"x"}"#.to_vec();
        let b = br#"{"b":[1,2]}"#.to_vec();
        let body = body_of(p.as_ref(), &[a.clone(), b.clone()]);
        let text = String::from_utf8(body).unwrap();
        let joined = format!(
            "{},{}",
            String::from_utf8(a).unwrap(),
            String::from_utf8(b).unwrap()
        );
        assert!(text.contains(&joined), "{}: {text}", p.name());
    }
}

// ---------------------------------------------------------------------------
// Documentation examples

/// The example event and body of each profile in docs/profiles.md are what
/// the encoders write for this input (on a mismatch the test prints the
/// current output to paste).
#[test]
fn docs_examples_are_what_the_encoders_write() {
    let pages: Vec<(&str, String)> = ["docs/profiles.md", "README.md"]
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR")));
            (p, text.unwrap())
        })
        .collect();
    let input = ProfileInput {
        event_type: "ad_impression",
        unix_seconds: EVENT_TIME,
        event_id: "k202611.Xq3t9vR0m2wJc7PZ1lHn8a4sYbUe6kDf0GiTo5QpVxE",
        email: Some(" Jane.Doe@GMail.com "),
        phone: Some("+1 (206) 555-0100"),
        account_id: Some("A123"),
        fields: Some(
            r#"{"ad":{"campaign_id":"c-77","value_estimate_micros":1250000,"currency":"USD"}}"#,
        ),
        consent: ConsentSignals {
            ad_user_data: Some(true),
            ad_personalization: Some(true),
            limited_data_use: false,
        },
        ..Default::default()
    };
    let adgate = AdgateProfile::new(
        PartnerKey::new("k202611", &[7; 32]),
        vec![Kind::Email, Kind::AccountId],
    );
    let mut all: Vec<Box<dyn Profile>> = vec![Box::new(adgate)];
    all.extend(linkable_profiles());
    let mut bad = Vec::new();
    for p in all {
        let mut ev = Vec::new();
        p.encode(&input, &mut ev).unwrap();
        let mut body = Vec::new();
        p.write_body(&[&ev], &mut body);
        let got = if p.content_type() == "application/json" {
            serde_json::from_slice::<Value>(&body).unwrap()
        } else {
            serde_json::from_slice::<Value>(&ev).unwrap()
        };
        let marker = format!("<!-- example: {} -->\n```json\n", p.name());
        for (page, docs) in &pages {
            let shown = docs
                .split(&marker)
                .nth(1)
                .and_then(|r| r.split("```").next())
                .and_then(|t| serde_json::from_str::<Value>(t).ok());
            if shown.as_ref() != Some(&got) {
                bad.push(format!(
                    "{page}:\n{marker}{}\n```",
                    serde_json::to_string_pretty(&got).unwrap()
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "docs/profiles.md or README.md examples differ; current output:\n\n{}",
        bad.join("\n\n")
    );
}
