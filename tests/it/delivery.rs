//! Push delivery (see docs/delivery.md) against the real binary and real mock partners:
//! what a partner verifies (signature, headers, the shape of every line, the
//! ad_id), batching, gzip, retries and Retry-After, dead letters, age
//! expiry, isolation between partners, SIGKILL mid-batch, and the metrics an
//! operator watches.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// Batch window of every test partner: short, so tests are quick.
const WINDOW: &str = "batch_max_events = 50\nbatch_max_wait_ms = 50";

/// A push partner whose identifiers start with email (so the ad_id of the
/// helper events is derived from the email), posting to `endpoint`.
fn push(name: &str, endpoint: &str, key_env: &str, delivery: &str) -> String {
    format!(
        r#"
[[partners]]
name = "{name}"
event_types = ["ad_impression", "app_install"]
identifiers = ["email", "phone", "account_id"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
[partners.delivery]
mode = "push"
endpoint = "{endpoint}"
signing_secret_env = "T_SIGN"
{delivery}
[[partners.keys]]
id = "k1"
secret_env = "{key_env}"
"#
    )
}

fn start(partners: &[String]) -> Gateway {
    Gateway::start(&format!("{HEAD}{}", partners.concat()), base_env())
}

/// `n` helper events with ids `{prefix}-{i}`, each with its own email.
fn events(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            event(
                &format!("{prefix}-{i}"),
                "ad_impression",
                &format!("user{i}.{prefix}@example.com"),
            )
        })
        .collect()
}

fn post(g: &Gateway, evs: &[Value]) {
    let r = g.post_events(&ndjson(evs), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], evs.len(), "{}", r.body);
}

/// Partner-visible event id -> producer event id, for `evs` under KEY_A.
fn id_map(evs: &[Value]) -> HashMap<String, String> {
    evs.iter()
        .map(|e| {
            let id = e["event_id"].as_str().unwrap();
            (expected_event_id(KEY_A, id), id.to_string())
        })
        .collect()
}

/// Partner event ids of every event in requests the mock answered 2xx.
fn acknowledged_ids(m: &MockPartner) -> Vec<String> {
    m.requests()
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .flat_map(|r| r.events())
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the mock has acknowledged every id of `want` (at least once).
fn wait_acknowledged(m: &MockPartner, want: &HashMap<String, String>, timeout: Duration) {
    let ok = wait_for(timeout, || {
        let got: HashSet<String> = acknowledged_ids(m).into_iter().collect();
        want.keys().all(|k| got.contains(k)).then_some(())
    });
    if ok.is_none() {
        let got: HashSet<String> = acknowledged_ids(m).into_iter().collect();
        let missing: Vec<&String> = want
            .iter()
            .filter(|(k, _)| !got.contains(*k))
            .map(|(_, v)| v)
            .collect();
        panic!(
            "{} of {} events never acknowledged by the mock after {timeout:?}: {missing:?} ({} requests)",
            missing.len(),
            want.len(),
            m.requests().len()
        );
    }
}

/// Checks `Adgate-Signature` with an HMAC computed here, from the secret's
/// bytes as configured, over `t "." body` with the body exactly as received.
/// Returns `t`.
fn verify_signature(r: &Received) -> u64 {
    let sig = r
        .headers
        .get("adgate-signature")
        .unwrap_or_else(|| panic!("no Adgate-Signature header: {:?}", r.headers));
    let (t, v1) = sig
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature is not t=..,v1=..: {sig}"));
    let t: u64 = t
        .parse()
        .unwrap_or_else(|_| panic!("t is not a number: {sig}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    assert_eq!(
        v1,
        hex_lower(&mac.finalize().into_bytes()),
        "signature does not verify over the body as sent"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        t.abs_diff(now) <= 60,
        "t={t} is not the current time ({now})"
    );
    t
}

fn dead_letters(g: &Gateway, partner: &str) -> Vec<Value> {
    g.dead_letters(partner)
}

/// Raw identifiers and other unscrubbed content of the helper events that
/// must never appear in anything sent or dead-lettered.
fn assert_no_raw(text: &str, evs: &[Value], what: &str) {
    for e in evs {
        let u = &e["user"];
        for raw in [
            u["email"].as_str().unwrap().to_string(),
            u["email"].as_str().unwrap().trim().to_lowercase(),
            u["account_id"].as_str().unwrap().to_string(),
            e["event_id"].as_str().unwrap().to_string() + "\"",
        ] {
            assert!(!text.contains(&raw), "{what} contains {raw:?}");
        }
    }
    for raw in [
        "+1 206 555 0100",
        "+12065550100",
        "203.0.113.9",
        "Mozilla",
        "shop.example",
        "\"sku\"",
        "\"price\"",
        "\"user\"",
        "\"context\"",
        "\"purchase\"",
        "\"consent\"",
    ] {
        assert!(!text.contains(raw), "{what} contains {raw:?}");
    }
}

backend_tests!(push_is_signed_verifiable_and_carries_only_scrubbed_events);
fn push_is_signed_verifiable_and_carries_only_scrubbed_events() {
    let mock = MockPartner::always(200);
    let g = start(&[push("acme", &mock.url(), "K_A", WINDOW)]);
    let mut evs = vec![
        event("sig-0", "ad_impression", "Jane.Doe+promo@Gmail.com"),
        event("sig-1", "app_install", "  Bob@Example.COM "),
    ];
    evs[1]["app"] = json!({"app_id": "com.example.game", "secret_build": "x"});
    evs[0]["ad"]["unlisted"] = json!("dropped");
    post(&g, &evs);
    let want = id_map(&evs);
    wait_acknowledged(&mock, &want, Duration::from_secs(5));

    // The ad_id a partner gets, computed here from the key bytes.
    let ad_ids: HashMap<&str, String> = HashMap::from([
        (
            "sig-0",
            expected_tagged(KEY_A, "k1", "email", "janedoe@gmail.com"),
        ),
        (
            "sig-1",
            expected_tagged(KEY_A, "k1", "email", "bob@example.com"),
        ),
    ]);
    let mut seen = 0;
    for r in mock.requests() {
        verify_signature(&r);
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-ndjson")
        );
        let key = r.headers.get("idempotency-key").expect("Idempotency-Key");
        assert!(!key.is_empty());
        assert!(!r.headers.contains_key("content-encoding"));
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert!(text.ends_with('\n'), "NDJSON lines end with a newline");
        assert_no_raw(&text, &evs, "a pushed body");
        for ev in r.events() {
            let obj = ev.as_object().unwrap();
            let keys: HashSet<&str> = obj.keys().map(String::as_str).collect();
            let base: HashSet<&str> = ["event_type", "time", "ad_id", "ad_id_type", "event_id"]
                .into_iter()
                .collect();
            assert!(base.is_subset(&keys), "{ev}");
            let extra: HashSet<&str> = keys.difference(&base).copied().collect();
            let producer_id = want[ev["event_id"].as_str().unwrap()].as_str();
            match producer_id {
                "sig-0" => {
                    assert_eq!(extra, HashSet::from(["ad"]), "{ev}");
                    assert_eq!(ev["event_type"], "ad_impression");
                    assert_eq!(
                        ev["ad"],
                        json!({"campaign_id": "c-77", "placement": "home-top",
                               "value_estimate_micros": 1250, "currency": "USD"})
                    );
                }
                "sig-1" => {
                    assert_eq!(extra, HashSet::from(["ad", "app"]), "{ev}");
                    assert_eq!(ev["event_type"], "app_install");
                    assert_eq!(ev["app"], json!({"app_id": "com.example.game"}));
                }
                other => panic!("unexpected event {other}"),
            }
            assert_eq!(ev["time"], "2026-11-28T13:00:00Z", "hour granularity");
            assert_eq!(ev["ad_id_type"], "email");
            assert_eq!(ev["ad_id"], ad_ids[producer_id].as_str(), "{ev}");
            seen += 1;
        }
    }
    assert_eq!(
        seen, 2,
        "each event delivered once to a partner that said 200"
    );
}

backend_tests!(batches_hold_at_most_batch_max_events_and_all_arrive);
fn batches_hold_at_most_batch_max_events_and_all_arrive() {
    let mock = MockPartner::always(200);
    let g = start(&[push("acme", &mock.url(), "K_A", WINDOW)]);
    let evs = events("bt", 180);
    post(&g, &evs);
    let want = id_map(&evs);
    wait_acknowledged(&mock, &want, Duration::from_secs(10));
    let reqs = mock.requests();
    let sizes: Vec<usize> = reqs.iter().map(|r| r.events().len()).collect();
    assert!(sizes.iter().all(|&n| (1..=50).contains(&n)), "{sizes:?}");
    assert!(reqs.len() >= 4, "{sizes:?}");
    let ids = acknowledged_ids(&mock);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 180);
    assert_eq!(ids.len(), 180, "no duplicates when every batch got a 200");
    let keys: HashSet<&String> = reqs.iter().map(|r| &r.headers["idempotency-key"]).collect();
    assert_eq!(keys.len(), reqs.len(), "each batch has its own key");
    wait_metric(&g, "adgate_outbox_events", &[("partner", "acme")], 0.0);
}

backend_tests!(gzip_bodies_are_signed_over_the_compressed_bytes);
fn gzip_bodies_are_signed_over_the_compressed_bytes() {
    let mock = MockPartner::always(200);
    let g = start(&[push(
        "acme",
        &mock.url(),
        "K_A",
        &format!("{WINDOW}\ncompression = \"gzip\""),
    )]);
    let evs = events("gz", 20);
    post(&g, &evs);
    let want = id_map(&evs);
    wait_acknowledged(&mock, &want, Duration::from_secs(5));
    for r in mock.requests() {
        assert_eq!(
            r.headers.get("content-encoding").map(String::as_str),
            Some("gzip")
        );
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-ndjson")
        );
        assert_eq!(&r.body[..2], &[0x1f, 0x8b], "gzip magic");
        let t = verify_signature(&r);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        // Not over the inflated body.
        let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(&plain);
        let over_plain = format!("t={t},v1={}", hex_lower(&mac.finalize().into_bytes()));
        assert_ne!(r.headers["adgate-signature"], over_plain);
        let text = String::from_utf8(plain).unwrap();
        assert_no_raw(&text, &evs, "a gunzipped body");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(want.contains_key(v["event_id"].as_str().unwrap()));
        }
    }
}

backend_tests!(retryable_errors_are_retried_with_the_same_key_and_body_until_delivered);
fn retryable_errors_are_retried_with_the_same_key_and_body_until_delivered() {
    // The first four requests fail, then the partner recovers.
    let mock = MockPartner::start(Arc::new(|n| (if n < 4 { 503 } else { 200 }, Vec::new())));
    let g = start(&[push("acme", &mock.url(), "K_A", WINDOW)]);
    let evs = events("rt", 120);
    post(&g, &evs);
    let want = id_map(&evs);
    wait_acknowledged(&mock, &want, Duration::from_secs(15));

    let reqs = mock.requests();
    let mut by_key: HashMap<&str, Vec<&Received>> = HashMap::new();
    for r in &reqs {
        by_key
            .entry(r.headers["idempotency-key"].as_str())
            .or_default()
            .push(r);
    }
    let mut retried = 0;
    for (key, rs) in &by_key {
        for r in rs {
            assert_eq!(r.body, rs[0].body, "batch {key} changed content on retry");
        }
        if rs[0].status == 503 {
            retried += 1;
            assert!(
                rs.iter().any(|r| r.status == 200),
                "batch {key} failed and was never retried to success"
            );
        }
    }
    assert!(retried >= 1, "the 503s hit at least one batch");
    let failed = reqs.iter().filter(|r| r.status == 503).count() as f64;
    let ok = reqs.iter().filter(|r| r.status == 200).count() as f64;
    let labels = |o| [("partner", "acme"), ("outcome", o)];
    wait_metric(&g, "adgate_delivery_attempts_total", &labels("ok"), ok);
    let m = g.metrics();
    assert_eq!(failed, 4.0);
    assert_eq!(
        metric_labeled(&m, "adgate_delivery_attempts_total", &labels("retryable")),
        failed
    );
    assert_eq!(
        metric_labeled(&m, "adgate_delivery_attempts_total", &labels("permanent")),
        0.0
    );
    assert_eq!(
        metric_labeled(&m, "adgate_dead_letter_total", &[("partner", "acme")]),
        0.0
    );
    wait_metric(&g, "adgate_outbox_events", &[("partner", "acme")], 0.0);
}

backend_tests!(retry_after_is_honoured);
fn retry_after_is_honoured() {
    let mock = MockPartner::start(Arc::new(|n| {
        if n == 0 {
            (429, vec![("Retry-After".to_string(), "1".to_string())])
        } else {
            (200, Vec::new())
        }
    }));
    // The mock's Retry-After: 1 (seconds).
    let retry_after = Duration::from_secs(1);
    let g = start(&[push("acme", &mock.url(), "K_A", WINDOW)]);
    let evs = events("ra", 3);
    post(&g, &evs);
    wait_acknowledged(&mock, &id_map(&evs), retry_after * 20);
    let reqs = mock.requests();
    assert_eq!(reqs[0].status, 429);
    assert_eq!(
        reqs[1].headers["idempotency-key"],
        reqs[0].headers["idempotency-key"]
    );
    // The mock records a request before it answers, so the gap between
    // the two records is the wait the 429 asked for (less a little, if
    // the gateway counts it from when it sent the request). Without
    // Retry-After the first backoff is at most 200 ms.
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= retry_after - Duration::from_millis(50),
        "retried {gap:?} after a 429 with Retry-After: 1"
    );
    // Not mistaken for a longer wait (minutes, or milliseconds read as
    // seconds): a generous multiple of it.
    assert!(
        gap < retry_after * 10,
        "retried only after {gap:?} (Retry-After: 1)"
    );
}

backend_tests!(permanent_error_dead_letters_the_batch_at_once);
fn permanent_error_dead_letters_the_batch_at_once() {
    // max_in_flight = 1: the next batch goes out only once the refused one
    // is settled, so its arrival proves the refused batch is not retried.
    let mock = MockPartner::start(Arc::new(|n| (if n == 0 { 400 } else { 200 }, Vec::new())));
    let g = start(&[push(
        "acme",
        &mock.url(),
        "K_A",
        &format!("{WINDOW}\nmax_in_flight = 1"),
    )]);
    let refused = events("dl", 4);
    post(&g, &refused);
    wait_metric(&g, "adgate_dead_letter_total", &[("partner", "acme")], 4.0);
    let later = events("after", 2);
    post(&g, &later);
    wait_acknowledged(&mock, &id_map(&later), Duration::from_secs(5));

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2, "the refused batch was sent again");
    assert_eq!(reqs[0].status, 400);
    assert_ne!(
        reqs[0].headers["idempotency-key"],
        reqs[1].headers["idempotency-key"]
    );
    let dl = dead_letters(&g, "acme");
    assert_eq!(dl.len(), 4, "{dl:?}");
    let want = id_map(&refused);
    let mut got = HashSet::new();
    for d in &dl {
        assert_eq!(d["reason"], "rejected_by_partner", "{d}");
        assert_eq!(d["status"], 400, "{d}");
        assert!(d["ingested_at"].is_string() && d["dead_lettered_at"].is_string());
        let id = d["event"]["event_id"].as_str().unwrap();
        assert!(want.contains_key(id), "{d}");
        got.insert(id.to_string());
        assert_eq!(d["event"]["ad_id_type"], "email");
    }
    assert_eq!(got.len(), 4);
    let text: String = dl.iter().map(|d| format!("{d}\n")).collect();
    assert_no_raw(&text, &refused, "the dead-letter file");
    let m = g.metrics();
    let labels = |o| [("partner", "acme"), ("outcome", o)];
    assert_eq!(
        metric_labeled(&m, "adgate_delivery_attempts_total", &labels("permanent")),
        1.0
    );
    assert_eq!(
        metric_labeled(&m, "adgate_delivery_attempts_total", &labels("retryable")),
        0.0
    );
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        2.0,
    );
    wait_metric(&g, "adgate_outbox_events", &[("partner", "acme")], 0.0);
}

backend_tests!(events_older_than_max_event_age_go_to_dead_letters);
fn events_older_than_max_event_age_go_to_dead_letters() {
    let mock = MockPartner::always(503);
    // max_event_age_seconds of the partner.
    let max_age = Duration::from_secs(2);
    let g = start(&[push(
        "acme",
        &mock.url(),
        "K_A",
        &format!("{WINDOW}\nmax_event_age_seconds = {}", max_age.as_secs()),
    )]);
    let evs = events("age", 5);
    let posted = Instant::now();
    post(&g, &evs);
    // Expiry is checked at each attempt: late by at most a backoff, and
    // the backoff is far shorter than this generous multiple of the age.
    let dl = wait_for(max_age * 10, || {
        let d = dead_letters(&g, "acme");
        (d.len() >= 5).then_some(d)
    })
    .unwrap_or_else(|| {
        panic!(
            "not dead-lettered {:?} after max_event_age_seconds ({max_age:?}): {:?}",
            max_age * 10,
            dead_letters(&g, "acme")
        )
    });
    // Ingested after this clock, so never expired before it plus the age
    // (less the ingest clock's rounding to whole milliseconds).
    let took = posted.elapsed();
    assert!(
        took >= max_age - Duration::from_millis(100),
        "expired early: {took:?}"
    );
    assert_eq!(dl.len(), 5, "{dl:?}");
    let want = id_map(&evs);
    for d in &dl {
        assert_eq!(d["reason"], "max_event_age", "{d}");
        assert_eq!(d["status"], 503, "the partner's last answer: {d}");
        assert!(want.contains_key(d["event"]["event_id"].as_str().unwrap()));
    }
    assert!(mock.requests().len() >= 2, "retried before expiry");
    wait_metric(&g, "adgate_dead_letter_total", &[("partner", "acme")], 5.0);
    wait_metric(&g, "adgate_outbox_events", &[("partner", "acme")], 0.0);
    assert_eq!(
        g.metric("adgate_events_delivered_total{partner=\"acme\"}"),
        0.0
    );
}

backend_tests!(failing_and_hanging_partners_do_not_delay_a_healthy_one);
fn failing_and_hanging_partners_do_not_delay_a_healthy_one() {
    // hung's timeout_ms: many times what the four rounds below take (each
    // one batch window of WINDOW), so every round reaching `up` while
    // hung's first attempt still waits for its answer shows that delivery
    // to `up` does not wait for hung.
    const HUNG_TIMEOUT: Duration = Duration::from_secs(10);
    let down = MockPartner::always(503);
    // Accepts every request and never answers in time.
    let hung = MockPartner::always(200);
    hung.set_delay(HUNG_TIMEOUT * 3);
    let up = MockPartner::always(200);
    let mut env = base_env();
    env.insert(
        "K_C".into(),
        "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=".into(),
    );
    let cfg = [
        push("down", &down.url(), "K_A", WINDOW),
        push("up", &up.url(), "K_B", WINDOW),
        push(
            "hung",
            &hung.url(),
            "K_C",
            &format!("{WINDOW}\ntimeout_ms = {}", HUNG_TIMEOUT.as_millis()),
        ),
    ];
    let g = Gateway::start(&format!("{HEAD}{}", cfg.concat()), env);
    let attempts = |p: &str, outcome: &str| {
        metric_labeled(
            &g.metrics(),
            "adgate_delivery_attempts_total",
            &[("partner", p), ("outcome", outcome)],
        )
    };
    let mut all = 0;
    for round in 0..4 {
        let evs = events(&format!("iso{round}"), 60);
        all += evs.len();
        let want: HashMap<String, String> = evs
            .iter()
            .map(|e| {
                let id = e["event_id"].as_str().unwrap();
                (expected_event_id(KEY_B, id), id.to_string())
            })
            .collect();
        post(&g, &evs);
        wait_acknowledged(&up, &want, HUNG_TIMEOUT);
        if round == 0 {
            // From here on hung has an attempt in flight.
            wait_for(HUNG_TIMEOUT, || (!hung.requests().is_empty()).then_some(()))
                .expect("the hanging partner was tried");
        }
    }
    // ...and no attempt of hung has ended yet (none answered, none timed
    // out): `up` got everything while hung's first request was pending.
    for outcome in ["ok", "retryable", "permanent"] {
        assert_eq!(
            attempts("hung", outcome),
            0.0,
            "an attempt of hung ended ({outcome}) before the healthy partner had every round: \
             the rounds took longer than hung's timeout_ms ({HUNG_TIMEOUT:?})"
        );
    }
    assert!(!down.requests().is_empty(), "the failing partner was tried");
    // Both are retried: down at once, hung after its timeout.
    for p in ["down", "hung"] {
        let retried = wait_for(HUNG_TIMEOUT * 3, || {
            (attempts(p, "retryable") >= 1.0).then_some(())
        });
        assert!(retried.is_some(), "{p} never retried: {}", g.metrics());
    }
    let m = g.metrics();
    for p in ["down", "hung"] {
        assert_eq!(
            metric_labeled(&m, "adgate_outbox_events", &[("partner", p)]),
            all as f64,
            "{p}"
        );
    }
    let up = [("partner", "up")];
    wait_metric(&g, "adgate_events_delivered_total", &up, all as f64);
    wait_metric(&g, "adgate_outbox_events", &up, 0.0);
}

/// Embedded only: it pins the embedded log's `inflight` file (the same
/// ranges resent under the same keys). The JetStream variant of a killed
/// replica is tests/it/jetstream_cluster.rs (redelivery after ack_wait).
#[test]
fn sigkill_mid_batch_resends_the_same_batches_and_loses_nothing() {
    let mock = MockPartner::always(200);
    mock.set_delay(Duration::from_secs(2));
    let mut g = start(&[push("acme", &mock.url(), "K_A", WINDOW)]);
    // Two batches at the partner, unanswered: 30 events, then 15. Were they
    // re-read from the outbox after the restart instead of resumed as they
    // were, the first batch would take 45 events and a new key.
    let first = events("kill-a", 30);
    post(&g, &first);
    wait_for(Duration::from_secs(5), || {
        (mock.requests().len() == 1).then_some(())
    })
    .expect("the first batch was sent");
    let second = events("kill-b", 15);
    post(&g, &second);
    wait_for(Duration::from_secs(5), || {
        (mock.requests().len() == 2).then_some(())
    })
    .expect("the second batch was sent");
    g.kill();
    mock.set_delay(Duration::ZERO);
    g.spawn();
    let after = events("restarted", 20);
    post(&g, &after);
    let mut want = id_map(&first);
    want.extend(id_map(&second));
    want.extend(id_map(&after));
    wait_acknowledged(&mock, &want, Duration::from_secs(10));

    let reqs = mock.requests();
    let mut in_flight_ids = HashSet::new();
    for (i, (sent, n)) in reqs[..2].iter().zip([30, 15]).enumerate() {
        let ids: Vec<String> = sent
            .events()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), n, "batch {i}");
        in_flight_ids.extend(ids);
        let resent: Vec<&Received> = reqs[2..]
            .iter()
            .filter(|r| r.headers["idempotency-key"] == sent.headers["idempotency-key"])
            .collect();
        assert_eq!(resent.len(), 1, "in-flight batch {i} is re-sent once");
        assert_eq!(resent[0].body, sent.body, "with the same content");
        assert_eq!(resent[0].status, 200);
        verify_signature(resent[0]);
    }

    let mut count: HashMap<String, usize> = HashMap::new();
    for r in &reqs {
        for e in r.events() {
            *count
                .entry(e["event_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    for (id, n) in &count {
        assert!(want.contains_key(id), "unknown event {id}");
        if *n > 1 {
            assert!(
                in_flight_ids.contains(id) && *n == 2,
                "{} arrived {n} times though it was not in flight at the kill",
                want[id]
            );
        }
    }
    wait_metric(&g, "adgate_outbox_events", &[("partner", "acme")], 0.0);
}

backend_tests!(delivery_metrics_match_what_the_partner_acknowledged);
fn delivery_metrics_match_what_the_partner_acknowledged() {
    let mock = MockPartner::start(Arc::new(|n| (if n == 0 { 503 } else { 200 }, Vec::new())));
    let g = start(&[push("acme", &mock.url(), "K_A", WINDOW)]);
    let first = events("m1", 20);
    post(&g, &first);
    let second = events("m2", 15);
    post(&g, &second);
    let mut want = id_map(&first);
    want.extend(id_map(&second));
    wait_acknowledged(&mock, &want, Duration::from_secs(10));

    let acked = acknowledged_ids(&mock).len() as f64;
    assert_eq!(acked, 35.0, "each event acknowledged once");
    let p = [("partner", "acme")];
    wait_metric(&g, "adgate_events_delivered_total", &p, acked);
    wait_metric(&g, "adgate_outbox_events", &p, 0.0);
    wait_metric(&g, "adgate_outbox_bytes", &p, 0.0);
    // The documented histogram (docs/metrics.md) (all partners; there is one here) and its
    // per-partner twin both observe each acknowledged event once.
    wait_metric(&g, "adgate_event_age_seconds_count", &[], acked);
    wait_metric(&g, "adgate_partner_event_age_seconds_count", &p, acked);
    let m = g.metrics();
    let sum = metric_labeled(&m, "adgate_event_age_seconds_sum", &[]);
    assert!(sum > 0.0 && sum < acked * 10.0, "age sum {sum}");
    assert_eq!(metric_labeled(&m, "adgate_events_routed_total", &p), 35.0);
    assert_eq!(metric_labeled(&m, "adgate_dead_letter_total", &p), 0.0);
}

/// A push endpoint whose TLS fails (here: a server that answers plain HTTP
/// on an `https://` address) is logged as `tls_error`, not as a refused
/// connection: an operator looks at certificates, not at the network. Until
/// then the events wait in the outbox.
#[test]
fn a_tls_failure_is_logged_as_one() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            use std::io::Write as _;
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let g = start(&[push(
        "plain",
        &format!("https://127.0.0.1:{port}/v1/events"),
        "K_A",
        "batch_max_wait_ms = 10",
    )]);
    post(&g, &events("tls", 1));
    let line = wait_for(Duration::from_secs(20), || {
        let logs = g.logs();
        logs.lines()
            .find(|l| l.contains("delivery failed"))
            .map(str::to_owned)
    })
    .unwrap_or_else(|| panic!("no delivery failure logged: {}", g.logs()));
    assert!(line.contains("tls_error"), "{line}");
    assert_eq!(
        metric_labeled(
            &g.metrics(),
            "adgate_events_delivered_total",
            &[("partner", "plain")]
        ),
        0.0
    );
}
