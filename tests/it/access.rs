//! Subject access (`POST /v1/access`), forget erasing the ledger, and ledger
//! retention, against the real binary with mock partners.

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

/// A third partner key (32 bytes, base64), distinct from KEY_A and KEY_B.
const KEY_C: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

fn env3() -> std::collections::HashMap<String, String> {
    let mut env = base_env();
    env.insert("K_C".into(), KEY_C.into());
    env
}

/// acme: push (KEY_A); beta: pull (KEY_B); gamma: push, app installs only
/// (KEY_C), so it never receives the impressions of these tests.
fn config(acme: &str, gamma: &str, privacy_extra: &str) -> String {
    let head = HEAD.replace(
        "time_granularity = \"hour\"",
        &format!("time_granularity = \"hour\"\n{privacy_extra}"),
    );
    format!(
        "{head}{}{}{}",
        push_partner("acme", acme, "K_A", ""),
        pull_partner("beta", "T_FEED_B", "K_B", ""),
        push_partner("gamma", gamma, "K_C", "").replace(
            "event_types = [\"ad_impression\", \"app_install\"]",
            "event_types = [\"app_install\"]"
        ),
    )
}

fn impression(id: &str, user: Value) -> Value {
    json!({
        "event_id": id,
        "event_type": "ad_impression",
        "timestamp": "2026-11-28T13:45:12Z",
        "user": user,
        "ad": {"campaign_id": "c-77", "value_estimate_micros": 1250},
    })
}

fn access(g: &Gateway, body: &Value) -> Resp {
    g.request(
        "POST",
        "/v1/access",
        Some(ADMIN_TOKEN),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn ok_access(g: &Gateway, body: &Value) -> Value {
    let r = access(g, body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn partner<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner"] == name)
}

/// The internal keyed hash adgate stores for an identifier, computed from
/// `internal.key` with the hmac crate (not adgate's code).
/// The gateway's internal subject hash, computed independently: SipHash-2-4
/// with 128-bit output, keyed by the first 16 bytes of
/// HMAC-SHA256(internal.key, label) (see identity.rs and README).
fn subject_hash(data: &std::path::Path, tag_value: &str) -> Vec<u8> {
    use hmac::Mac as _;
    use siphasher::sip128::Hasher128 as _;
    use std::hash::Hasher as _;
    let key = std::fs::read(data.join("internal.key")).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"adgate internal subject hash v2: siphash-2-4-128");
    let derived = mac.finalize().into_bytes();
    let mut h = siphasher::sip128::SipHasher24::new_with_key(derived[..16].try_into().unwrap());
    h.write(tag_value.as_bytes());
    h.finish128().as_bytes().to_vec()
}

fn privacy_files_contain(data: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    walk(data)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("privacy.db"))
        })
        .find(|p| {
            std::fs::read(p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
}

#[test]
fn access_lists_what_each_partner_received_and_forget_erases_it() {
    let acme = MockPartner::always(200);
    let gamma = MockPartner::always(200);
    let g = Gateway::start(&config(&acme.url(), &gamma.url(), ""), env3());

    // Jane: three events by email only, one carrying her account id too (the
    // partners list account_id first, so that one is keyed by it). Bob: two.
    let jane = |id: &str| impression(id, json!({"email": "Jane.Doe@Example.com", "age": 40}));
    let events = vec![
        jane("j1"),
        jane("j2"),
        jane("j3"),
        impression(
            "j4",
            json!({"email": "jane.doe@example.com", "account_id": "A-jane"}),
        ),
        impression("b1", json!({"email": "bob@example.com"})),
        impression("b2", json!({"email": "bob@example.com"})),
    ];
    let r = g.post_events(&ndjson(&events), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], 6);

    // Before beta pulls: its events are queued, not delivered.
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        6.0,
    );
    let v = ok_access(&g, &json!({"email": "  JANE.DOE@example.com "}));
    assert_eq!(v["identifier_type"], "email");
    assert_eq!(v["retention_days"], 90);
    let b = partner(&v, "beta").unwrap_or_else(|| panic!("beta missing: {v}"));
    assert_eq!(
        (b["delivered"].as_u64(), b["queued"].as_u64()),
        (Some(0), Some(4)),
        "{v}"
    );
    assert!(b["first_delivered_at"].is_null());

    let pulled = drain_feed(&g, "beta", FEED_TOKEN_B);
    assert_eq!(pulled.len(), 6);
    // A push batch is recorded when the outbox is acked up to it, just
    // after the 2xx (and the delivered metric): poll until both are in.
    let both_in = |v: &Value| {
        ["acme", "beta"]
            .iter()
            .all(|n| partner(v, n).is_some_and(|p| p["delivered"] == 4))
    };
    let v = wait_for(Duration::from_secs(10), || {
        let v = ok_access(&g, &json!({"email": "jane.doe@example.com"}));
        both_in(&v).then_some(v)
    })
    .unwrap_or_else(|| {
        panic!(
            "{}",
            access(&g, &json!({"email": "jane.doe@example.com"})).body
        )
    });
    let names: Vec<&str> = v["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partner"].as_str().unwrap())
        .collect();
    // gamma received nothing about her: absent.
    assert_eq!(names, ["acme", "beta"], "{v}");

    let acme_seen = acme.all_events();
    for (name, key, seen) in [("acme", KEY_A, acme_seen), ("beta", KEY_B, pulled)] {
        let p = partner(&v, name).unwrap();
        assert_eq!(p["delivered"], 4, "{name}: {v}");
        assert_eq!(p["queued"], 0, "{name}: {v}");
        let first = p["first_delivered_at"].as_str().unwrap();
        let last = p["last_delivered_at"].as_str().unwrap();
        assert!(first.ends_with('Z') && first <= last, "{v}");
        let ids = p["ad_ids"].as_array().unwrap();
        assert_eq!(ids.len(), 2, "{name}: {v}");
        // The events keyed by her account id: no ad_id for an email request.
        assert_eq!(ids[0]["ad_id_type"], "account_id");
        assert_eq!(ids[0]["delivered"], 1);
        assert!(ids[0]["ad_id"].is_null());
        assert!(ids[0]["note"].as_str().unwrap().contains("account_id"));
        // The email-keyed ones: the ad_id the partner actually got.
        assert_eq!(ids[1]["ad_id_type"], "email");
        assert_eq!(ids[1]["key_id"], "k1");
        assert_eq!(ids[1]["delivered"], 3);
        let ad_id = ids[1]["ad_id"].as_str().unwrap();
        assert_eq!(
            ad_id,
            expected_tagged(key, "k1", "email", "jane.doe@example.com")
        );
        let got = seen
            .iter()
            .filter(|e| e["ad_id"] == ad_id && e["ad_id_type"] == "email")
            .count();
        assert_eq!(got, 3, "{name} received {seen:?}");
    }
    // Asking with her account id shows that ad_id, and only that event.
    let v = ok_access(&g, &json!({"account_id": "A-jane"}));
    let a = partner(&v, "acme").unwrap();
    assert_eq!(a["delivered"], 1);
    assert_eq!(
        a["ad_ids"][0]["ad_id"],
        expected_tagged(KEY_A, "k1", "account_id", "A-jane")
    );
    assert!(acme
        .all_events()
        .iter()
        .any(|e| e["ad_id"] == a["ad_ids"][0]["ad_id"]));

    // Someone the gateway never saw: no partner.
    let v = ok_access(&g, &json!({"phone": "+44 20 7946 0000"}));
    assert_eq!(v["partners"], json!([]));

    // The ledger holds her keyed hash, never her identifier or an ad_id.
    let data = g.data_dir();
    let jane_hash = subject_hash(&data, "email:jane.doe@example.com");
    assert!(privacy_files_contain(&data, &jane_hash).is_some());
    for raw in [
        "jane.doe@example.com",
        "Jane.Doe@Example.com",
        "A-jane",
        "bob@example.com",
    ] {
        assert_eq!(dir_contains(&data, raw.as_bytes()), None, "{raw} on disk");
    }
    let ad_id = expected_tagged(KEY_A, "k1", "email", "jane.doe@example.com");
    assert_eq!(privacy_files_contain(&data, ad_id.as_bytes()), None);

    let answered = g.metric("adgate_access_requests_total");
    // Forget: nothing about her afterwards, Bob untouched.
    let f = g.request(
        "POST",
        "/v1/forget",
        Some(ADMIN_TOKEN),
        &[],
        json!({"email": "jane.doe@example.com"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(f.status, 200, "{}", f.body);
    let v = ok_access(&g, &json!({"email": "jane.doe@example.com"}));
    assert_eq!(v["partners"], json!([]), "{v}");
    // Forget names one identifier: the rows of her account id (the j4 event
    // carried both) stay until that identifier is forgotten too.
    let v = ok_access(&g, &json!({"account_id": "A-jane"}));
    assert_eq!(partner(&v, "acme").unwrap()["delivered"], 1);
    let v = ok_access(&g, &json!({"email": "bob@example.com"}));
    assert_eq!(partner(&v, "acme").unwrap()["delivered"], 2);
    assert_eq!(partner(&v, "beta").unwrap()["delivered"], 2);
    // Erased on disk, not only hidden: the hash is in no privacy.db* file.
    assert_eq!(privacy_files_contain(&data, &jane_hash), None);
    // Each 200 is counted (the three after the forget).
    assert_eq!(g.metric("adgate_access_requests_total") - answered, 3.0);
}

#[test]
fn access_refuses_bad_bodies_and_tokens() {
    let acme = MockPartner::always(200);
    let gamma = MockPartner::always(200);
    let g = Gateway::start(&config(&acme.url(), &gamma.url(), ""), env3());
    for (body, needle) in [
        ("{}", "must name one of email, phone, account_id, device_id"),
        ("{\"name\": \"Jane\"}", "unknown key"),
        (
            "{\"email\": \"a@b.c\", \"phone\": \"+12065550100\"}",
            "exactly one",
        ),
        ("{\"email\": 5}", "must be a string"),
        (
            "{\"email\": \"not-an-email\"}",
            "email is not a valid email address",
        ),
        ("[1]", "JSON object"),
    ] {
        let r = g.request(
            "POST",
            "/v1/access",
            Some(ADMIN_TOKEN),
            &[],
            body.as_bytes(),
        );
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(needle),
            "{body}: {}",
            r.body
        );
        // The message names the problem, never the value.
        assert!(!r.body.contains("not-an-email") && !r.body.contains("Jane"));
    }
    let body = json!({"email": "a@example.com"}).to_string();
    assert_eq!(
        g.request("POST", "/v1/access", None, &[], body.as_bytes())
            .status,
        401
    );
    assert_eq!(
        g.request(
            "POST",
            "/v1/access",
            Some(PRODUCER_TOKEN),
            &[],
            body.as_bytes()
        )
        .status,
        401
    );
    let r = g.get("/v1/access", Some(ADMIN_TOKEN));
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").map(String::as_str), Some("POST"));
    assert!(g
        .metrics()
        .contains("adgate_http_requests_total{code=\"400\",route=\"/v1/access\"} 6"));
    drop(g);

    // Without [admin]: 403, as for the other admin endpoints.
    let no_admin =
        config(&acme.url(), &gamma.url(), "").replace("[admin]\ntoken_env = \"T_ADMIN\"\n", "");
    let g = Gateway::start(&no_admin, env3());
    let r = g.request(
        "POST",
        "/v1/access",
        Some(ADMIN_TOKEN),
        &[],
        body.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
}

/// Retention: rows written in the real on-disk format (the library's own
/// writer, before the gateway starts) with delivery times 200 and 10 days
/// ago. Startup compaction drops the old one; a reload that shortens
/// retention drops the other.
#[test]
fn ledger_retention_applies_at_start_and_on_reload() {
    use adgate::identity::{Kind, SubjectHasher};
    use adgate::privacy::ledger::{aggregate, write, KeyId};
    use adgate::privacy::{Delivered, DAY_MS};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key = adgate::outbox::load_or_create_key(&data.join("internal.key")).unwrap();
    let subject = SubjectHasher::new(&key).subject(Kind::Email, "old@example.com");
    let mut subjects = adgate::policy::Subjects::default();
    subjects.push(subject);
    let now = adgate::util::now_ms();
    {
        let mut conn = adgate::privacy::open_rw(&data.join("privacy.db")).unwrap();
        let mut pending = adgate::privacy::ledger::Rows::default();
        let acme: std::sync::Arc<str> = std::sync::Arc::from("acme");
        let item = Delivered {
            subjects,
            ad_id_type: Kind::Email,
            key_id: KeyId::new("k1").unwrap(),
        };
        aggregate(&mut pending, &acme, now - 200 * DAY_MS, &[item, item]);
        aggregate(&mut pending, &acme, now - 10 * DAY_MS, &[item]);
        // A partner since removed from the config.
        let gone: std::sync::Arc<str> = std::sync::Arc::from("gone");
        aggregate(&mut pending, &gone, now - 3 * DAY_MS, &[item]);
        write(&mut conn, &pending).unwrap();
    }

    let acme = MockPartner::always(200);
    let gamma = MockPartner::always(200);
    let cfg = config(&acme.url(), &gamma.url(), "access_retention_days = 30");
    let g = Gateway::start_in(dir, &cfg, env3());
    let v = ok_access(&g, &json!({"email": "old@example.com"}));
    assert_eq!(v["retention_days"], 30);
    let a = partner(&v, "acme").unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        a["delivered"], 1,
        "the 200-day-old deliveries are gone: {v}"
    );
    let ten_days_ago =
        time::OffsetDateTime::from_unix_timestamp(((now - 10 * DAY_MS) / 1000) as i64)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(a["first_delivered_at"], ten_days_ago.as_str());
    assert_eq!(
        a["ad_ids"][0]["ad_id"],
        expected_tagged(KEY_A, "k1", "email", "old@example.com")
    );
    // The removed partner's deliveries still show; its ad_id cannot be made.
    let gone = partner(&v, "gone").unwrap_or_else(|| panic!("{v}"));
    assert_eq!(gone["delivered"], 1);
    assert!(gone["ad_ids"][0]["ad_id"].is_null());
    assert!(gone["ad_ids"][0]["note"]
        .as_str()
        .unwrap()
        .contains("no longer in the config"));
    assert!(
        g.logs().contains("rows past retention deleted"),
        "{}",
        g.logs()
    );
    // The row is deleted, not just filtered: count rows in the file.
    let rows = |d: &std::path::Path| -> i64 {
        let c = adgate::privacy::open_ro(&d.join("privacy.db")).unwrap();
        c.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows(&g.data_dir()), 2);

    // Shorter retention on reload: the 10-day-old row goes too, the
    // 3-day-old one stays.
    let shorter = std::fs::read_to_string(&g.config_path)
        .unwrap()
        .replace("access_retention_days = 30", "access_retention_days = 5");
    std::fs::write(&g.config_path, shorter).unwrap();
    let r = g.request("POST", "/admin/reload", Some(ADMIN_TOKEN), &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = ok_access(&g, &json!({"email": "old@example.com"}));
    assert_eq!(v["retention_days"], 5);
    assert!(partner(&v, "acme").is_none(), "{v}");
    assert_eq!(partner(&v, "gone").unwrap()["delivered"], 1);
    assert!(
        wait_for(Duration::from_secs(5), || (rows(&g.data_dir()) == 1)
            .then_some(()))
        .is_some()
    );
}

#[test]
fn access_retention_days_is_validated() {
    let acme = MockPartner::always(200);
    let gamma = MockPartner::always(200);
    for bad in ["0", "3651"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adgate.toml");
        let cfg = config(
            &acme.url(),
            &gamma.url(),
            &format!("access_retention_days = {bad}"),
        )
        .replace("{DATA}", dir.path().join("data").to_str().unwrap());
        std::fs::write(&path, cfg).unwrap();
        run::Run::exec(
            std::process::Command::new(BIN)
                .args(["check-config", "--config", path.to_str().unwrap()])
                .envs(env3()),
        )
        .code(2)
        .stderr_has("privacy.access_retention_days: must be between 1 and 3650");
    }
}
