//! Partner profiles end to end (see docs/profiles.md): the real binary
//! pushes to mock Meta Conversions API, Google Ads and TikTok Events API
//! servers (tests/it/common/partners.rs) that check each API's documented
//! request shape and refuse anything else with a 400 (401 for a
//! credential). Events arrive in the exact shape with the expected hashes,
//! retries and dead letters behave as for the adgate profile, batch limits
//! hold, and `adgate explain` shows each profile's encoded event (golden
//! values computed here with sha2, independently of adgate's code) and
//! which partners receive linkable identifiers.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::common::partners::{is_hex64, PartnerMock};
use crate::common::run::Run;
use crate::common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const META_PIXEL: &str = "1234567890123456";
const META_TOKEN: &str = "EAAB-meta-access-token-7f6e5d4c3b2a1908";
const GOOGLE_CUSTOMER: &str = "1234567890";
const GOOGLE_TOKEN: &str = "ya29.google-oauth-token-0a1b2c3d4e5f6a7b";
const GOOGLE_DEV: &str = "google-developer-token-9f8e7d6c5b4a3f2e";
const TIKTOK_SOURCE: &str = "CTEST0PIXEL0CODE0001";
const TIKTOK_TOKEN: &str = "tiktok-access-token-1f2e3d4c5b6a79880";
/// A third partner key (32 bytes of 0x2a).
const KEY_C: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// Fields every profile partner allow-lists.
const FIELDS: &str = r#"fields = ["ad.campaign_id", "ad.value_estimate_micros", "ad.currency"]"#;

fn env() -> HashMap<String, String> {
    let mut e = base_env();
    e.extend([
        ("T_META".to_string(), META_TOKEN.to_string()),
        ("T_GOOGLE".to_string(), GOOGLE_TOKEN.to_string()),
        ("T_GOOGLE_DEV".to_string(), GOOGLE_DEV.to_string()),
        ("T_TIKTOK".to_string(), TIKTOK_TOKEN.to_string()),
        ("K_C".to_string(), KEY_C.to_string()),
    ]);
    e
}

fn meta(endpoint: &str, key_env: &str, delivery: &str) -> String {
    format!(
        r#"
[[partners]]
name = "meta"
profile = "meta_capi"
linkable_ids = "accept"
event_types = ["ad_impression", "app_install"]
identifiers = ["email", "phone", "account_id"]
{FIELDS}
[partners.profile_options]
pixel_id = "{META_PIXEL}"
event_names = {{ ad_impression = "ViewContent", app_install = "AppInstall" }}
[partners.delivery]
mode = "push"
endpoint = "{endpoint}"
access_token_env = "T_META"
batch_max_wait_ms = 50
{delivery}
[[partners.keys]]
id = "k1"
secret_env = "{key_env}"
"#
    )
}

fn google(endpoint: &str, key_env: &str, delivery: &str) -> String {
    format!(
        r#"
[[partners]]
name = "google"
profile = "google_ads"
linkable_ids = "accept"
event_types = ["ad_impression"]
identifiers = ["email", "phone"]
{FIELDS}
[partners.profile_options]
customer_id = "{GOOGLE_CUSTOMER}"
conversion_action = "customers/{GOOGLE_CUSTOMER}/conversionActions/987654321"
value_field = "ad.value_estimate_micros"
value_unit = "micros"
currency_field = "ad.currency"
[partners.delivery]
mode = "push"
endpoint = "{endpoint}"
access_token_env = "T_GOOGLE"
developer_token_env = "T_GOOGLE_DEV"
batch_max_wait_ms = 50
{delivery}
[[partners.keys]]
id = "k1"
secret_env = "{key_env}"
"#
    )
}

fn tiktok(endpoint: &str, key_env: &str, delivery: &str) -> String {
    format!(
        r#"
[[partners]]
name = "tiktok"
profile = "tiktok_events"
linkable_ids = "accept"
event_types = ["ad_impression"]
identifiers = ["email", "phone", "account_id"]
{FIELDS}
[partners.profile_options]
event_source_id = "{TIKTOK_SOURCE}"
event_names = {{ ad_impression = "ViewContent" }}
[partners.delivery]
mode = "push"
endpoint = "{endpoint}"
access_token_env = "T_TIKTOK"
batch_max_wait_ms = 50
{delivery}
[[partners.keys]]
id = "k1"
secret_env = "{key_env}"
"#
    )
}

fn start(partners: &[String]) -> Gateway {
    Gateway::start(&format!("{HEAD}{}", partners.concat()), env())
}

/// An event whose email is a Gmail address with dots and capitals (where
/// Google's normalization differs from Meta's and TikTok's).
fn ev(prefix: &str, i: usize) -> Value {
    json!({
        "event_id": format!("{prefix}-{i}"),
        "event_type": "ad_impression",
        "timestamp": "2026-11-28T13:45:12Z",
        "user": {"email": format!(" User{i}.{prefix}@GMail.com "), "phone": "+1 (206) 555-0100",
                 "account_id": format!("acct-{prefix}-{i}"), "age": 34},
        "consent": {"personalized_ads": true, "gpc": false},
        "context": {"page_url": "https://shop.example/p/1", "category": "books"},
        "ad": {"campaign_id": "c-77", "value_estimate_micros": 1_250_000, "currency": "USD"},
    })
}

fn events(prefix: &str, n: usize) -> Vec<Value> {
    (0..n).map(|i| ev(prefix, i)).collect()
}

fn post(g: &Gateway, evs: &[Value]) {
    let r = g.post_events(&ndjson(evs), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], evs.len(), "{}", r.body);
}

fn sha(s: &str) -> String {
    hex_lower(&Sha256::digest(s.as_bytes()))
}

/// Does this `POST /v1/access` answer show one partner that received the
/// person's events, by the ledger? (A partner with the event still queued is
/// listed too, before its ledger row is written, and a notice is decided
/// by the ledger.)
fn delivered_to_one(access: &Value) -> bool {
    access["partners"]
        .as_array()
        .is_some_and(|p| p.len() == 1 && p[0]["delivered"].as_u64() >= Some(1))
}

/// A Meta mock, a notice endpoint, and a gateway pushing to both.
fn meta_with_notices() -> (PartnerMock, MockPartner, Gateway) {
    let api = PartnerMock::meta(META_PIXEL, META_TOKEN);
    let notices = MockPartner::always(200);
    let g = start(&[meta(
        &api.url(),
        "K_A",
        &format!("notice_endpoint = \"{}\"", notices.url()),
    )]);
    (api, notices, g)
}

/// 2026-11-28T13:45:12Z truncated to the hour, in Unix seconds.
fn event_hour() -> i64 {
    time::macros::datetime!(2026-11-28 13:00 UTC).unix_timestamp()
}

/// Waits until `m` accepted at least `n` events.
fn wait_accepted(m: &PartnerMock, n: usize, timeout: Duration) -> Vec<Value> {
    wait_for(timeout, || {
        let a = m.accepted();
        (a.len() >= n).then_some(a)
    })
    .unwrap_or_else(|| {
        panic!(
            "{:?}: {} of {n} events accepted after {timeout:?}; requests: {:#?}",
            m.api,
            m.accepted().len(),
            m.seen()
                .iter()
                .map(|s| (s.status, s.reason.clone()))
                .collect::<Vec<_>>()
        )
    })
}

/// Every request the mock saw was valid for its API.
fn all_valid(m: &PartnerMock) {
    for s in m.seen() {
        assert_eq!(
            s.status,
            200,
            "{:?} refused a request: {:?}\n{}",
            m.api,
            s.reason,
            String::from_utf8_lossy(&s.body)
        );
    }
}

/// The events of `m`'s accepted requests, by partner event id.
fn by_id(accepted: &[Value], id_key: &str) -> HashMap<String, Value> {
    accepted
        .iter()
        .map(|e| (e[id_key].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

const TIMEOUT: Duration = Duration::from_secs(30);

backend_tests!(each_profile_receives_its_documented_shape_and_accepts_it);
fn each_profile_receives_its_documented_shape_and_accepts_it() {
    let m = PartnerMock::meta(META_PIXEL, META_TOKEN);
    let gm = PartnerMock::google(GOOGLE_CUSTOMER, GOOGLE_TOKEN, GOOGLE_DEV);
    let t = PartnerMock::tiktok(TIKTOK_SOURCE, TIKTOK_TOKEN);
    let g = start(&[
        meta(&m.url(), "K_A", ""),
        google(&gm.url(), "K_B", ""),
        // TikTok also gets adgate's signature.
        tiktok(&t.url(), "K_C", "signing_secret_env = \"T_SIGN\""),
    ]);
    let evs = events("shape", 4);
    post(&g, &evs);
    let meta_got = by_id(&wait_accepted(&m, 4, TIMEOUT), "event_id");
    let google_got = by_id(&wait_accepted(&gm, 4, TIMEOUT), "orderId");
    let tiktok_got = by_id(&wait_accepted(&t, 4, TIMEOUT), "event_id");
    for mock in [&m, &gm, &t] {
        all_valid(mock);
    }
    let hour = event_hour();
    let phone_digits = sha("12065550100");
    let phone_e164 = sha("+12065550100");
    for (i, e) in evs.iter().enumerate() {
        let id = e["event_id"].as_str().unwrap();
        let plain = format!("user{i}.shape@gmail.com");
        let google_email = format!("user{i}shape@gmail.com");
        let account = sha(&format!("acct-shape-{i}"));

        let got = &meta_got[&expected_event_id(KEY_A, id)];
        assert_eq!(
            got,
            &json!({
                "event_name": "ViewContent",
                "event_time": hour,
                "event_id": expected_event_id(KEY_A, id),
                "action_source": "website",
                "user_data": {"em": [sha(&plain)], "ph": [phone_digits], "external_id": [account]},
                "custom_data": {"ad": {"campaign_id": "c-77", "value_estimate_micros": 1_250_000, "currency": "USD"}},
            }),
            "meta event {i}"
        );

        let got = &google_got[&expected_event_id(KEY_B, id)];
        assert_eq!(
            got,
            &json!({
                "conversionAction": format!("customers/{GOOGLE_CUSTOMER}/conversionActions/987654321"),
                "conversionDateTime": "2026-11-28 13:00:00+00:00",
                "orderId": expected_event_id(KEY_B, id),
                "userIdentifiers": [{"hashedEmail": sha(&google_email)}, {"hashedPhoneNumber": phone_e164}],
                "conversionValue": 1.25,
                "currencyCode": "USD",
                "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"},
            }),
            "google conversion {i}"
        );

        let got = &tiktok_got[&expected_event_id(KEY_C, id)];
        assert_eq!(
            got,
            &json!({
                "event": "ViewContent",
                "event_time": hour,
                "event_id": expected_event_id(KEY_C, id),
                "user": {"email": sha(&plain), "phone": phone_e164, "external_id": account},
                "properties": {"ad": {"campaign_id": "c-77", "value_estimate_micros": 1_250_000, "currency": "USD"}},
            }),
            "tiktok event {i}"
        );
    }
    // Credentials where each API wants them; the adgate signature only
    // where a signing secret is configured, computed over the exact body.
    for s in m.seen() {
        assert!(s
            .path_and_query
            .ends_with(&format!("?access_token={META_TOKEN}")));
        assert!(!s.headers.contains_key("adgate-signature"));
        assert_eq!(s.headers["content-type"], "application/json");
        assert!(s.headers.contains_key("idempotency-key"));
    }
    for s in t.seen() {
        let sig = &s.headers["adgate-signature"];
        let (ts, v1) = sig
            .split_once(',')
            .and_then(|(a, b)| Some((a.strip_prefix("t=")?, b.strip_prefix("v1=")?)))
            .unwrap_or_else(|| panic!("malformed Adgate-Signature {sig}"));
        let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&s.body);
        assert_eq!(v1, hex_lower(&mac.finalize().into_bytes()), "signature");
    }
    // Nothing linkable reaches the logs or the metrics (checked again when
    // the gateway is dropped), and the routed counters count every partner.
    for p in ["meta", "google", "tiktok"] {
        wait_metric(&g, "adgate_events_delivered_total", &[("partner", p)], 4.0);
    }
    // Subject access lists the partner API deliveries, with no ad_id.
    let asked = json!({"email": " User0.shape@GMail.com "}).to_string();
    let answer = wait_for(TIMEOUT, || {
        let r = g.request(
            "POST",
            "/v1/access",
            Some(ADMIN_TOKEN),
            &[("Content-Type", "application/json")],
            asked.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        let done = v["partners"]
            .as_array()
            .is_some_and(|ps| ps.len() == 3 && ps.iter().all(|p| p["delivered"] == 1));
        done.then_some(v)
    })
    .expect("subject access lists the three deliveries");
    for p in answer["partners"].as_array().unwrap() {
        let entry = &p["ad_ids"][0];
        assert_eq!(entry["ad_id_type"], "email", "{answer:#}");
        assert!(entry["ad_id"].is_null(), "{answer:#}");
        assert!(
            entry["note"].as_str().unwrap().contains("plain SHA-256"),
            "{answer:#}"
        );
    }
    // `adgate report` names the partners receiving linkable identifiers.
    let r = Run::exec(
        Command::new(BIN)
            .args(["report", "--config"])
            .arg(&g.config_path)
            .env_clear(),
    );
    r.code(0)
        .stdout_has("Linkable identifiers: meta, google, tiktok receive(s) plain SHA-256")
        .stdout_has("profile: google_ads")
        .stdout_has("identifiers sent as plain SHA-256 (LINKABLE): email, phone");
}

backend_tests!(a_500_is_retried_with_the_same_key_and_body);

fn a_500_is_retried_with_the_same_key_and_body() {
    let m = PartnerMock::meta(META_PIXEL, META_TOKEN);
    m.fail_next(&[500, 503]);
    let g = start(&[meta(&m.url(), "K_A", "")]);
    post(&g, &events("retry", 3));
    wait_accepted(&m, 3, TIMEOUT);
    let seen = m.seen();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>()[..3],
        [500, 503, 200],
        "{seen:#?}"
    );
    let key = &seen[0].headers["idempotency-key"];
    for s in &seen[1..3] {
        assert_eq!(&s.headers["idempotency-key"], key, "a retry keeps its key");
        assert_eq!(s.body, seen[0].body, "a retry keeps its body");
    }
    assert!(g.dead_letters("meta").is_empty());
    wait_metric(
        &g,
        "adgate_delivery_attempts_total",
        &[("partner", "meta"), ("outcome", "retryable")],
        2.0,
    );
}

backend_tests!(a_400_dead_letters_the_encoded_events_at_once);

fn a_400_dead_letters_the_encoded_events_at_once() {
    let gm = PartnerMock::google(GOOGLE_CUSTOMER, GOOGLE_TOKEN, GOOGLE_DEV);
    gm.fail_next(&[400]);
    let g = start(&[google(&gm.url(), "K_B", "")]);
    let evs = events("dead", 2);
    post(&g, &evs);
    let dead = wait_for(TIMEOUT, || {
        let d = g.dead_letters("google");
        (d.len() >= 2).then_some(d)
    })
    .expect("two dead letters");
    assert_eq!(gm.seen().len(), 1, "a 400 is not retried");
    assert!(gm.accepted().is_empty());
    let mut orders: Vec<String> = Vec::new();
    for d in &dead {
        assert_eq!(d["reason"], "rejected_by_partner", "{d}");
        assert_eq!(d["status"], 400, "{d}");
        // The dead letter keeps the event as the profile encoded it.
        let text = d.to_string();
        assert!(
            text.contains("orderId") && text.contains("hashedEmail"),
            "{d}"
        );
        orders.extend(
            evs.iter()
                .map(|e| expected_event_id(KEY_B, e["event_id"].as_str().unwrap()))
                .filter(|o| text.contains(o.as_str())),
        );
    }
    orders.sort();
    orders.dedup();
    assert_eq!(orders.len(), 2, "both events are in the dead letters");
    wait_metric(
        &g,
        "adgate_dead_letter_total",
        &[("partner", "google")],
        2.0,
    );
}

backend_tests!(a_failure_reported_inside_a_200_is_not_a_delivery);

/// Google reports refused conversions in a 200's `partialFailureError`, and
/// TikTok its errors (a revoked token: 40105) as a 200 with a non-zero
/// `code`: neither is counted delivered. TikTok's rate limit (40100) is
/// retried and then delivered; the others are dead-lettered.
fn a_failure_reported_inside_a_200_is_not_a_delivery() {
    let gm = PartnerMock::google(GOOGLE_CUSTOMER, GOOGLE_TOKEN, GOOGLE_DEV);
    gm.answer_next(
        200,
        r#"{"partialFailureError":{"code":3,"message":"conversion action not found","details":[]},"results":[{}]}"#,
    );
    let tm = PartnerMock::tiktok(TIKTOK_SOURCE, TIKTOK_TOKEN);
    tm.answer_next(200, r#"{"code":40100,"message":"Too many requests"}"#);
    let g = start(&[google(&gm.url(), "K_B", ""), tiktok(&tm.url(), "K_C", "")]);
    post(&g, &events("inside", 1));
    wait_for(TIMEOUT, || {
        (!g.dead_letters("google").is_empty()).then_some(())
    })
    .expect("google's partial failure is dead-lettered");
    assert!(gm.accepted().is_empty());
    assert_eq!(
        g.metric("adgate_events_delivered_total{partner=\"google\"}"),
        0.0
    );
    // TikTok: retried after its rate limit, then delivered.
    wait_for(TIMEOUT, || (!tm.accepted().is_empty()).then_some(()))
        .expect("tiktok delivered after the retry");
    assert_eq!(tm.seen().len(), 2, "one refused, one accepted");
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "tiktok")],
        1.0,
    );
    // A revoked token: dead-lettered, not delivered.
    tm.answer_next(200, r#"{"code":40105,"message":"Access token is invalid"}"#);
    post(&g, &events("revoked", 1));
    wait_for(TIMEOUT, || {
        (!g.dead_letters("tiktok").is_empty()).then_some(())
    })
    .expect("tiktok's error code is dead-lettered");
    assert_eq!(
        g.metric("adgate_events_delivered_total{partner=\"tiktok\"}"),
        1.0
    );
}

backend_tests!(a_batch_never_exceeds_the_profile_limit);

fn a_batch_never_exceeds_the_profile_limit() {
    let t = PartnerMock::tiktok(TIKTOK_SOURCE, TIKTOK_TOKEN);
    let limit = t.api.batch_limit();
    let g = start(&[tiktok(
        &t.url(),
        "K_C",
        &format!("batch_max_events = {limit}"),
    )]);
    let n = limit + limit / 10;
    post(&g, &events("batch", n));
    wait_accepted(&t, n, Duration::from_secs(120));
    all_valid(&t);
    let sizes: Vec<usize> = t
        .seen()
        .iter()
        .map(|s| {
            let v: Value = serde_json::from_slice(&s.body).unwrap();
            v["data"].as_array().unwrap().len()
        })
        .collect();
    assert!(sizes.iter().all(|&k| k <= limit), "{sizes:?}");
    assert!(sizes.len() >= 2, "{n} events need two requests: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), n, "{sizes:?}");
}

backend_tests!(a_wrong_credential_is_refused_and_never_logged);

/// A wrong credential is the partner's 401: dead-lettered like any other
/// refusal, and the token is never logged (the gateway's drop check reads
/// its logs for every secret it was given).
fn a_wrong_credential_is_refused_and_never_logged() {
    let m = PartnerMock::meta(META_PIXEL, "another-token-the-partner-expects");
    let g = start(&[meta(&m.url(), "K_A", "")]);
    post(&g, &events("cred", 1));
    wait_for(TIMEOUT, || {
        (!g.dead_letters("meta").is_empty()).then_some(())
    })
    .expect("a dead letter");
    assert_eq!(m.seen()[0].status, 401);
    assert!(!g.logs().contains(META_TOKEN));
}

// ---------------------------------------------------------------------------
// explain: each profile's encoded event (golden values computed here).

struct Explain {
    dir: tempfile::TempDir,
    config: String,
}

impl Explain {
    fn new() -> Explain {
        let dir = tempfile::tempdir().unwrap();
        let adgate = push_partner("ads", "https://ads.example/v1/events", "K_A", "");
        let cfg = format!(
            "{}{adgate}{}{}{}",
            HEAD.replace("{DATA}", dir.path().join("data").to_str().unwrap()),
            meta(
                &format!("https://graph.facebook.com/v21.0/{META_PIXEL}/events"),
                "K_B",
                ""
            ),
            google(
                &format!("https://googleads.googleapis.com/v21/customers/{GOOGLE_CUSTOMER}:uploadClickConversions"),
                "K_C",
                ""
            ),
            tiktok(
                "https://business-api.tiktok.com/open_api/v1.3/event/track/",
                "K_D",
                ""
            ),
        );
        let config = dir.path().join("adgate.toml");
        std::fs::write(&config, cfg).unwrap();
        Explain {
            config: config.display().to_string(),
            dir,
        }
    }

    fn run(&self, format: &str, event: &Value) -> Run {
        let file = self.dir.path().join("event.json");
        std::fs::write(&file, event.to_string()).unwrap();
        let mut e = env();
        e.insert(
            "K_D".into(),
            "Kx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8=".into(),
        );
        let r = Run::exec(
            Command::new(BIN)
                .args(["explain", "--config", &self.config, "--format", format])
                .arg(&file)
                .env_clear()
                .envs(&e),
        );
        r.code(0);
        r
    }
}

fn partner<'a>(report: &'a Value, name: &str) -> &'a Value {
    report[0]["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner"] == name)
        .unwrap_or_else(|| panic!("no partner {name} in {report:#}"))
}

fn fate<'a>(p: &'a Value, path: &str) -> (&'a str, &'a str) {
    let f = p["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no field {path} in {p:#}"));
    (f["action"].as_str().unwrap(), f["why"].as_str().unwrap())
}

#[test]
fn explain_shows_each_profiles_encoded_event() {
    let x = Explain::new();
    let e = ev("explain", 7);
    let r = x.run("json", &e);
    let report = r.json();
    let hour = event_hour();
    let plain = sha("user7.explain@gmail.com");
    let account = sha("acct-explain-7");
    let ad = json!({"ad": {"campaign_id": "c-77", "value_estimate_micros": 1_250_000, "currency": "USD"}});

    let p = partner(&report, "meta");
    assert_eq!(
        (p["profile"].as_str(), p["linkable"].as_bool()),
        (Some("meta_capi"), Some(true))
    );
    assert_eq!(
        p["output"],
        json!({
            "event_name": "ViewContent", "event_time": hour,
            "event_id": expected_event_id(KEY_B, "explain-7"), "action_source": "website",
            "user_data": {"em": [plain], "ph": [sha("12065550100")], "external_id": [account]},
            "custom_data": ad,
        }),
        "{p:#}"
    );
    assert_eq!(fate(p, "user.email").0, "hashed");
    assert!(fate(p, "user.email").1.contains("linkable"));

    let p = partner(&report, "google");
    assert_eq!(
        p["output"],
        json!({
            "conversionAction": format!("customers/{GOOGLE_CUSTOMER}/conversionActions/987654321"),
            "conversionDateTime": "2026-11-28 13:00:00+00:00",
            "orderId": expected_event_id(KEY_C, "explain-7"),
            "userIdentifiers": [{"hashedEmail": sha("user7explain@gmail.com")}, {"hashedPhoneNumber": sha("+12065550100")}],
            "conversionValue": 1.25, "currencyCode": "USD",
            "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"},
        }),
        "{p:#}"
    );
    assert_eq!(fate(p, "user.account_id").0, "dropped");

    let p = partner(&report, "tiktok");
    let key_d = "Kx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8=";
    assert_eq!(
        p["output"],
        json!({
            "event": "ViewContent", "event_time": hour,
            "event_id": expected_event_id(key_d, "explain-7"),
            "user": {"email": plain, "phone": sha("+12065550100"), "external_id": account},
            "properties": ad,
        }),
        "{p:#}"
    );

    let p = partner(&report, "ads");
    assert_eq!(
        (p["profile"].as_str(), p["linkable"].as_bool()),
        (Some("adgate"), Some(false))
    );
    assert_eq!(p["output"]["ad_id_type"], "account_id", "{p:#}");

    // The text form names the linkable partners and the profiles.
    let t = x.run("text", &e);
    for name in ["meta", "google", "tiktok"] {
        t.stdout_has(&format!("partner {name}: profile "))
            .stdout_has("receives LINKABLE identifiers (plain SHA-256; linkable_ids = \"accept\")");
    }
    t.check(
        !t.stdout.contains("partner ads: profile"),
        "the adgate partner is not marked linkable",
    );
}

#[test]
fn explain_prehashed_identifiers_forwarded_by_sha256_profiles_not_by_adgate() {
    let x = Explain::new();
    let pre = sha("someone@example.org").to_ascii_uppercase();
    let e = json!({
        "event_id": "pre-1", "event_type": "ad_impression", "timestamp": "2026-11-28T13:45:12Z",
        "user": {"email_sha256": pre, "account_id": "acct-pre-1"},
        "consent": {"personalized_ads": true},
    });
    let report = x.run("json", &e).json();
    let lower = pre.to_ascii_lowercase();
    assert!(is_hex64(&lower));
    // Forwarded lower-cased, not hashed again.
    let meta = partner(&report, "meta");
    assert_eq!(
        meta["output"]["user_data"]["em"],
        json!([lower]),
        "{meta:#}"
    );
    assert_eq!(fate(meta, "user.email_sha256").0, "forwarded");
    let google = partner(&report, "google");
    assert_eq!(
        google["output"]["userIdentifiers"],
        json!([{"hashedEmail": lower}]),
        "{google:#}"
    );
    let tiktok = partner(&report, "tiktok");
    assert_eq!(
        tiktok["output"]["user"]["email"],
        json!(lower),
        "{tiktok:#}"
    );
    // The adgate profile cannot key a hash: it uses the account id and says
    // why the pre-hashed email is of no use to it.
    let ads = partner(&report, "ads");
    assert_eq!(ads["output"]["ad_id_type"], "account_id", "{ads:#}");
    let (action, why) = fate(ads, "user.email_sha256");
    assert_eq!(action, "dropped");
    assert!(
        why.contains("cannot be used by the adgate profile"),
        "{why}"
    );
    // Without the raw identifier the adgate partner has nothing, the
    // SHA-256 profiles still send the pre-hashed email.
    let only = json!({
        "event_id": "pre-2", "event_type": "ad_impression", "timestamp": "2026-11-28T13:45:12Z",
        "user": {"email_sha256": pre}, "consent": {"personalized_ads": true},
    });
    let report = x.run("json", &only).json();
    assert_eq!(partner(&report, "ads")["reason"], "no_identifier");
    for name in ["meta", "google", "tiktok"] {
        assert_eq!(partner(&report, name)["outcome"], "forwarded", "{report:#}");
    }
}

/// Consent Mode values decide Google's consent fields over
/// `personalized_ads`; the leak guard still drops a leaking field for
/// every profile.
#[test]
fn explain_consent_fields_and_the_guard_apply_to_profiles() {
    let x = Explain::new();
    let mut e = ev("consent", 1);
    e["consent"]["ad_personalization"] = json!("denied");
    e["consent"]["ad_user_data"] = json!("granted");
    let report = x.run("json", &e).json();
    assert_eq!(
        partner(&report, "google")["output"]["consent"],
        json!({"adUserData": "GRANTED", "adPersonalization": "DENIED"})
    );
    let mut leak = ev("leak", 1);
    leak["ad"]["campaign_id"] = json!("jane.doe@example.com");
    let report = x.run("json", &leak).json();
    for name in ["ads", "meta", "google", "tiktok"] {
        assert_eq!(partner(&report, name)["reason"], "pii_guard", "{report:#}");
    }
}

/// A forget reaches a partner-API profile with a `notice_endpoint` as the
/// value it can find in its own records: its API's plain SHA-256 of the
/// identifier (normalized by that API's rules), not a keyed ad_id.
#[test]
fn a_forget_notifies_a_profile_partner_with_the_hash_it_received() {
    let (api, notices, g) = meta_with_notices();
    let evs = events("fg", 1);
    post(&g, &evs);
    wait_accepted(&api, 1, TIMEOUT);
    let email = " User0.fg@GMail.com ";
    let admin = |route: &str| g.admin_post(route, &json!({ "email": email }));
    // The delivery is recorded just after the partner's answer.
    let recorded = wait_for(TIMEOUT, || {
        let v = admin("/v1/access").json();
        delivered_to_one(&v).then_some(())
    });
    assert!(recorded.is_some(), "{}", admin("/v1/access").body);
    let r = admin("/v1/forget");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notified"], json!(["meta"]), "{}", r.body);
    let got = wait_for(TIMEOUT, || {
        let reqs = notices.requests();
        (!reqs.is_empty()).then_some(reqs)
    })
    .expect("no notice reached the notice endpoint");
    let line: Value = serde_json::from_slice(got[0].body.trim_ascii()).unwrap();
    // Meta's email rule: trimmed and lower-cased (dots kept).
    assert_eq!(line["type"], "subject_deleted");
    assert_eq!(line["ad_id_type"], "email");
    assert_eq!(line["ad_ids"], json!([sha("user0.fg@gmail.com")]), "{line}");
}

/// A partner-API profile sends the hash of every identifier of its list,
/// not only the first one (the ledger's row kind): an opt-out by phone and a
/// forget by account id reach Meta too, with Meta's hash of that identifier
/// (sixth red-team pass, rt6-122 and rt6-123: nobody was notified).
#[test]
fn a_profile_partner_is_notified_about_every_identifier_it_received() {
    let (api, notices, g) = meta_with_notices();
    post(&g, &events("nk", 1));
    wait_accepted(&api, 1, TIMEOUT);
    let admin = |route: &str, body: Value| g.admin_post(route, &body);
    let account = json!({"account_id": "acct-nk-0"});
    let recorded = wait_for(TIMEOUT, || {
        let v = admin("/v1/access", account.clone()).json();
        delivered_to_one(&v).then_some(())
    });
    assert!(
        recorded.is_some(),
        "{}",
        admin("/v1/access", account.clone()).body
    );
    let r = admin("/v1/optouts", json!({"phone": "+1 (206) 555-0100"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notified"], json!(["meta"]), "{}", r.body);
    let r = admin("/v1/forget", account);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notified"], json!(["meta"]), "{}", r.body);
    let lines = || -> Vec<Value> {
        notices
            .requests()
            .iter()
            .flat_map(|r| {
                r.body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.trim_ascii().is_empty())
                    .map(|l| serde_json::from_slice(l).unwrap())
                    .collect::<Vec<Value>>()
            })
            .collect()
    };
    let lines = wait_for(TIMEOUT, || {
        let l = lines();
        (l.len() >= 2).then_some(l)
    })
    .unwrap_or_else(|| panic!("both notices reach the notice endpoint: {:?}", lines()));
    let find = |t: &str| lines.iter().find(|l| l["type"] == t).cloned().unwrap();
    let opted = find("subject_opted_out");
    assert_eq!(opted["ad_id_type"], "phone");
    // Meta's phone rule: digits only, with the country code.
    assert_eq!(opted["ad_ids"], json!([sha("12065550100")]), "{opted}");
    let deleted = find("subject_deleted");
    assert_eq!(deleted["ad_id_type"], "account_id");
    assert_eq!(deleted["ad_ids"], json!([sha("acct-nk-0")]), "{deleted}");
}

/// A person who opted out, or was forgotten, is not forwarded when an event
/// carries them only pre-hashed (`user.email_sha256`, `user.phone_sha256`),
/// in any profile's normalization; and a partner that received them that
/// way is notified. (The opt-out list holds keyed hashes of the digests a
/// producer may send, docs/profiles.md.)
#[test]
fn an_opted_out_person_sent_pre_hashed_is_stopped_and_notified() {
    let (api, notices, g) = meta_with_notices();
    let pre = |id: &str, user: Value| {
        json!({
            "event_id": id,
            "event_type": "ad_impression",
            "timestamp": "2026-11-28T13:45:12Z",
            "user": user,
            "consent": {"personalized_ads": true},
            "ad": {"campaign_id": "c-77"},
        })
    };
    let admin = |route: &str, body: Value| {
        let r = g.admin_post(route, &body);
        assert_eq!(r.status, 200, "{route}: {}", r.body);
        r.json()
    };
    // Before the opt-out: delivered, and recorded under the person's email.
    let email = " Jane.Doe@GMail.com ";
    post(
        &g,
        &[pre(
            "pre-1",
            json!({"email_sha256": sha("jane.doe@gmail.com")}),
        )],
    );
    wait_accepted(&api, 1, TIMEOUT);
    let recorded = wait_for(TIMEOUT, || {
        let v = admin("/v1/access", json!({ "email": email }));
        delivered_to_one(&v).then_some(())
    });
    assert!(
        recorded.is_some(),
        "the pre-hashed delivery is not in the ledger"
    );
    let r = admin("/v1/optouts", json!({ "email": email }));
    assert_eq!(r["notified"], json!(["meta"]), "{r}");
    admin("/v1/optouts", json!({ "phone": "+1 (206) 555-0100" }));
    // After it: the email hashed as Meta and TikTok, as Google, as adgate
    // normalizes it, upper-case hex; the phone as Meta (digits) and as
    // Google and TikTok (E.164). None goes out; the control does.
    post(
        &g,
        &[
            pre("pre-2", json!({"email_sha256": sha("jane.doe@gmail.com")})),
            pre("pre-3", json!({"email_sha256": sha("janedoe@gmail.com")})),
            pre(
                "pre-4",
                json!({"email_sha256": sha("janedoe@gmail.com").to_uppercase()}),
            ),
            pre("pre-5", json!({"phone_sha256": sha("12065550100")})),
            pre("pre-6", json!({"phone_sha256": sha("+12065550100")})),
            pre(
                "pre-7",
                json!({"email_sha256": sha("someone.else@example.com")}),
            ),
        ],
    );
    let got = wait_accepted(&api, 2, TIMEOUT);
    std::thread::sleep(Duration::from_millis(500));
    let got = if api.accepted().len() > got.len() {
        api.accepted()
    } else {
        got
    };
    let ems: Vec<String> = got
        .iter()
        .map(|e| e["user_data"]["em"][0].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        ems,
        [sha("jane.doe@gmail.com"), sha("someone.else@example.com")],
        "an opted-out person went out pre-hashed"
    );
    let line: Value = wait_for(TIMEOUT, || {
        let reqs = notices.requests();
        reqs.first()
            .map(|r| serde_json::from_slice(r.body.trim_ascii()).unwrap())
    })
    .expect("no opt-out notice reached the notice endpoint");
    assert_eq!(line["type"], "subject_opted_out");
    assert_eq!(line["ad_ids"], json!([sha("jane.doe@gmail.com")]), "{line}");
}
