//! Notices to partners (see docs/delivery.md#notices) through the real
//! binary with real mock partners: forget and opt-out notify exactly the
//! partners the access ledger says received the person's events, with the
//! ad_ids (recomputed here with hmac + sha2) under each configured key;
//! notices are signed like events, survive SIGKILL, wait out a partner that
//! is down, and are served on the pull feed with cursor, commit and lease.
//! Also `emit_previous_until` (ad_id_prev during a key rotation) and the
//! config checks of both new keys.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::run::Run;
use crate::common::*;
use serde_json::{json, Value};

/// Two more partner keys (32 bytes, base64), distinct from KEY_A and KEY_B.
const KEY_C: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
const KEY_D: &str = "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=";

fn env() -> std::collections::HashMap<String, String> {
    let mut env = base_env();
    env.insert("K_C".into(), KEY_C.into());
    env.insert("K_D".into(), KEY_D.into());
    env
}

/// acme: push, events to `acme`, notices to `acme_notices`, two keys (k1 =
/// KEY_A retired, k2 = KEY_D signing); beta: pull (k1 = KEY_B); gamma:
/// push, app installs only (never receives the impressions of these tests),
/// notices to `gamma_notices`.
fn config(acme: &str, acme_notices: &str, gamma: &str, gamma_notices: &str) -> String {
    let acme_cfg = push_partner(
        "acme",
        acme,
        "K_A",
        &format!("notice_endpoint = \"{acme_notices}\""),
    ) + "[[partners.keys]]\nid = \"k2\"\nsecret_env = \"K_D\"\n";
    let gamma_cfg = push_partner(
        "gamma",
        gamma,
        "K_C",
        &format!("notice_endpoint = \"{gamma_notices}\""),
    )
    .replace(
        "event_types = [\"ad_impression\", \"app_install\"]",
        "event_types = [\"app_install\"]",
    );
    format!(
        "{HEAD}{acme_cfg}{}{gamma_cfg}",
        pull_partner("beta", "T_FEED_B", "K_B", "")
    )
}

fn impression(id: &str, email: &str) -> Value {
    json!({
        "event_id": id,
        "event_type": "ad_impression",
        "timestamp": "2026-11-28T13:45:12Z",
        "user": {"email": email},
        "ad": {"campaign_id": "c-77"},
    })
}

fn commit(g: &Gateway, path: &str, token: &str, cursor: &Value) -> Resp {
    g.request(
        "POST",
        path,
        Some(token),
        &[("Content-Type", "application/json")],
        json!({ "cursor": cursor }).to_string().as_bytes(),
    )
}

/// Reads beta's event feed and commits it; returns the events.
fn drain_beta(g: &Gateway) -> Vec<Value> {
    drain_feed(g, "beta", FEED_TOKEN_B)
}

/// Waits until the access ledger shows `n` events of `email` delivered to
/// each of `partners` (a push batch is recorded just after its ack).
fn wait_ledger(g: &Gateway, email: &str, partners: &[&str], n: u64) {
    let ok = wait_for(Duration::from_secs(20), || {
        let r = g.admin_post("/v1/access", &json!({ "email": email }));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        partners
            .iter()
            .all(|name| {
                v["partners"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["partner"] == *name && p["delivered"] == n)
            })
            .then_some(())
    });
    assert!(
        ok.is_some(),
        "ledger never showed {partners:?} with {n} events:\n{}",
        g.admin_post("/v1/access", &json!({ "email": email })).body
    );
}

/// Checks `Adgate-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t "." body)>`
/// with the hmac crate (not adgate's code).
fn assert_signed(r: &Received) {
    use hmac::Mac as _;
    let sig = r.headers.get("adgate-signature").expect("signature header");
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .unwrap_or_else(|| panic!("malformed signature {sig}"));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    assert_eq!(v1, hex_lower(&mac.finalize().into_bytes()), "bad signature");
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/x-ndjson")
    );
    assert!(r.headers.contains_key("idempotency-key"));
}

fn notice_metric(g: &Gateway, partner: &str, t: &str, outcome: &str) -> f64 {
    metric_labeled(
        &g.metrics(),
        "adgate_notices_total",
        &[("partner", partner), ("type", t), ("outcome", outcome)],
    )
}

/// The mock partners of [`config`]: acme's notice endpoint answers
/// `acme_notice_status` (503: down at first), the others 200.
struct Mocks {
    acme: MockPartner,
    acme_notices: MockPartner,
    gamma: MockPartner,
    gamma_notices: MockPartner,
}

impl Mocks {
    fn new(acme_notice_status: u16) -> Mocks {
        Mocks {
            acme: MockPartner::always(200),
            acme_notices: MockPartner::always(acme_notice_status),
            gamma: MockPartner::always(200),
            gamma_notices: MockPartner::always(200),
        }
    }

    /// A gateway with [`config`] on these mocks.
    fn gateway(&self) -> Gateway {
        Gateway::start(
            &config(
                &self.acme.url(),
                &self.acme_notices.url(),
                &self.gamma.url(),
                &self.gamma_notices.url(),
            ),
            env(),
        )
    }
}

#[test]
fn forget_notifies_each_partner_that_received_the_events_exactly_once() {
    let mocks = Mocks::new(200);
    let Mocks {
        acme,
        acme_notices,
        gamma_notices,
        ..
    } = &mocks;
    let g = mocks.gateway();
    let events = [
        impression("j1", "Jane.Doe@Example.com"),
        impression("j2", "jane.doe@example.com"),
        impression("b1", "bob@example.com"),
    ];
    let r = g.post_events(&ndjson(&events), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        3.0,
    );
    assert_eq!(drain_beta(&g).len(), 3);
    wait_ledger(&g, "jane.doe@example.com", &["acme", "beta"], 2);

    let r = g.admin_post("/v1/forget", &json!({"email": " JANE.DOE@example.com"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["notified"], json!(["acme", "beta"]), "{v}");
    assert_eq!(v["purged"], 0, "{v}");

    // acme: one signed POST to its notice endpoint, ad_ids under both of
    // its keys, newest first; nothing of it on the event endpoint.
    wait_metric(
        &g,
        "adgate_notices_total",
        &[
            ("partner", "acme"),
            ("type", "subject_deleted"),
            ("outcome", "delivered"),
        ],
        1.0,
    );
    let reqs = acme_notices.requests();
    assert_eq!(reqs.len(), 1, "one notice request");
    assert_signed(&reqs[0]);
    let lines = reqs[0].events();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let n = &lines[0];
    let norm = "jane.doe@example.com";
    assert_eq!(n["type"], "subject_deleted");
    assert_eq!(n["ad_id_type"], "email");
    assert_eq!(
        n["ad_ids"],
        json!([
            expected_tagged(KEY_D, "k2", "email", norm),
            expected_tagged(KEY_A, "k1", "email", norm)
        ]),
        "{n}"
    );
    // The ad_id the partner knows her by is among them.
    let seen: Vec<Value> = acme
        .all_events()
        .into_iter()
        .filter(|e| e["ad_id"] == n["ad_ids"][0])
        .collect();
    assert_eq!(seen.len(), 2, "acme received her two events under k2");
    let time = n["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 20, "{time}");
    assert_eq!(
        n.as_object().unwrap().len(),
        4,
        "only the documented fields: {n}"
    );
    assert_eq!(
        acme.all_events().len(),
        3,
        "no notice on the event endpoint"
    );

    // beta: one notice on its pull feed, with its own key's ad_id.
    let r = g.get("/v1/feed/beta/notices?max=10", Some(FEED_TOKEN_B));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let notices = v["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{v}");
    assert_eq!(
        notices[0]["ad_ids"],
        json!([expected_tagged(KEY_B, "k1", "email", norm)])
    );
    let c = commit(
        &g,
        "/v1/feed/beta/notices/commit",
        FEED_TOKEN_B,
        &v["cursor"],
    );
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json(), json!({"committed": true, "notices": 1}));
    assert_eq!(
        notice_metric(&g, "beta", "subject_deleted", "delivered"),
        1.0
    );

    // gamma never received her events: no notice queued, none sent.
    assert_eq!(notice_metric(&g, "gamma", "subject_deleted", "queued"), 0.0);
    assert!(gamma_notices.requests().is_empty());

    // A repeated forget finds the ledger erased: nobody is notified again.
    let r = g.admin_post("/v1/forget", &json!({"email": "jane.doe@example.com"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notified"], json!([]));
    assert_eq!(notice_metric(&g, "acme", "subject_deleted", "queued"), 1.0);
    let r = g.get("/v1/feed/beta/notices?max=10", Some(FEED_TOKEN_B));
    assert_eq!(r.json()["notices"], json!([]), "{}", r.body);
    assert_eq!(acme_notices.requests().len(), 1);

    // The transparency report counts the notices delivered per partner
    // (daily counters are written at shutdown at the latest).
    let mut g = g;
    assert_eq!(g.terminate(), Some(0));
    let run = Run::exec(
        Command::new(BIN)
            .args(["report", "--config"])
            .arg(&g.config_path)
            .envs(env()),
    );
    run.code(0);
    let md = run.stdout.clone();
    let table: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| partner | events withheld (opted_out) |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    for (partner, delivered) in [("acme", "1"), ("beta", "1"), ("gamma", "0")] {
        let line = table
            .iter()
            .find(|l| l.starts_with(&format!("| {partner} |")))
            .unwrap_or_else(|| panic!("no notices row for {partner}:\n{md}"));
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells[3], delivered, "{partner}: {line}");
        assert_eq!(cells[4], "0", "{partner}: {line}");
    }
    assert!(md.contains("erasure and opt-out notices delivered"), "{md}");
}

#[test]
fn opt_out_notifies_and_a_push_partner_without_notice_endpoint_is_skipped() {
    let acme = MockPartner::always(200);
    let gamma = MockPartner::always(200);
    let gamma_notices = MockPartner::always(200);
    // acme without a notice_endpoint.
    let cfg = config(
        &acme.url(),
        "http://unused.invalid/",
        &gamma.url(),
        &gamma_notices.url(),
    )
    .replace("notice_endpoint = \"http://unused.invalid/\"", "");
    let g = Gateway::start(&cfg, env());
    let r = g.post_events(
        &ndjson(&[impression("o1", "olga@example.com")]),
        "application/x-ndjson",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    wait_metric(
        &g,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        1.0,
    );
    assert_eq!(drain_beta(&g).len(), 1);
    wait_ledger(&g, "olga@example.com", &["acme", "beta"], 1);
    assert!(
        g.logs().contains("notice_endpoint"),
        "the startup warning names notice_endpoint:\n{}",
        g.logs()
    );

    let r = g.admin_post("/v1/optouts", &json!({"email": "olga@example.com"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"opted_out": true, "notified": ["beta"]}),
        "acme has nowhere to receive notices"
    );
    assert_eq!(
        notice_metric(&g, "acme", "subject_opted_out", "skipped"),
        1.0
    );
    let r = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B));
    let v = r.json();
    assert_eq!(v["notices"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["notices"][0]["type"], "subject_opted_out");
    assert_eq!(
        v["notices"][0]["ad_ids"],
        json!([expected_tagged(KEY_B, "k1", "email", "olga@example.com")])
    );
    // Someone nobody received anything about: nobody to notify.
    let r = g.admin_post("/v1/optouts", &json!({"email": "nobody@example.com"}));
    assert_eq!(r.json()["notified"], json!([]), "{}", r.body);
}

#[test]
fn notices_survive_sigkill_and_reach_a_partner_that_was_down() {
    let mocks = Mocks::new(503);
    let Mocks { acme_notices, .. } = &mocks;
    let mut g = mocks.gateway();
    let r = g.post_events(
        &ndjson(&[impression("k1", "kim@example.com")]),
        "application/x-ndjson",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(drain_beta(&g).len(), 1);
    wait_ledger(&g, "kim@example.com", &["acme", "beta"], 1);
    let r = g.admin_post("/v1/forget", &json!({"email": "kim@example.com"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notified"], json!(["acme", "beta"]));

    // The partner is down: the notice is retried with backoff...
    let retried = wait_for(Duration::from_secs(20), || {
        (acme_notices.requests().len() >= 2).then_some(())
    });
    assert!(retried.is_some(), "the notice was not retried");
    assert!(notice_metric(&g, "acme", "subject_deleted", "retried") >= 1.0);
    // ...and survives a SIGKILL: beta's notice was not read yet either.
    g.kill();
    acme_notices.set(std::sync::Arc::new(|_| (200, Vec::new())));
    let before = acme_notices.requests().len();
    g.spawn();
    let delivered = wait_for(Duration::from_secs(30), || {
        acme_notices.requests()[before..]
            .iter()
            .any(|r| r.status == 200)
            .then_some(())
    });
    assert!(
        delivered.is_some(),
        "the notice never arrived after restart"
    );
    let reqs = acme_notices.requests();
    let ok: Vec<&Received> = reqs.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "delivered once");
    // Every attempt, before and after the crash, was the same notice
    // (same body, same Idempotency-Key), so the partner can de-duplicate.
    for r in &reqs {
        assert_signed(r);
        assert_eq!(r.events(), ok[0].events());
        assert_eq!(
            r.headers["idempotency-key"],
            ok[0].headers["idempotency-key"]
        );
    }
    assert_eq!(
        ok[0].events()[0]["ad_ids"][0],
        json!(expected_tagged(KEY_D, "k2", "email", "kim@example.com"))
    );
    let r = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B));
    assert_eq!(
        r.json()["notices"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    // Nothing more arrives once it was acknowledged.
    let n = acme_notices.requests().len();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(acme_notices.requests().len(), n);
}

backend_tests!(pull_notices_follow_cursor_commit_and_lease);
/// On JetStream the notice feed reads the partner's notice stream through
/// its shared consumer (`ack_wait` is the lease), as the event feed does.
fn pull_notices_follow_cursor_commit_and_lease() {
    // beta's lease_ms (tests/it/common pull_partner).
    let lease = Duration::from_millis(PULL_LEASE_MS);
    let cfg = format!("{HEAD}{}", pull_partner("beta", "T_FEED_B", "K_B", ""));
    let cfg = format!("{cfg}{}", pull_partner("delta", "T_FEED_A", "K_A", ""));
    let g = Gateway::start(&cfg, env());
    let r = g.post_events(
        &ndjson(&[impression("p1", "pat@example.com")]),
        "application/x-ndjson",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(drain_beta(&g).len(), 1);
    let r = g.admin_post("/v1/forget", &json!({"email": "pat@example.com"}));
    assert_eq!(r.json()["notified"], json!(["beta"]), "{}", r.body);

    // Another partner's token, a missing token, an unknown partner.
    assert_eq!(
        g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_A)).status,
        403
    );
    assert_eq!(g.get("/v1/feed/beta/notices", None).status, 401);
    assert_eq!(
        g.get("/v1/feed/nope/notices", Some(FEED_TOKEN_B)).status,
        404
    );
    // delta received nothing about pat.
    let r = g.get("/v1/feed/delta/notices", Some(FEED_TOKEN_A));
    assert_eq!(r.json()["notices"], json!([]), "{}", r.body);

    // The lease starts when the gateway serves the notice, after this clock.
    let asked = Instant::now();
    let first = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B)).json();
    assert_eq!(first["notices"].as_array().unwrap().len(), 1, "{first}");
    // Leased: not served again at once, nor on the event feed.
    let again = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B)).json();
    assert_eq!(again["notices"], json!([]), "{again}");
    let events = g.get("/v1/feed/beta", Some(FEED_TOKEN_B)).json();
    assert_eq!(events["events"], json!([]), "{events}");
    // Not committed within lease_ms: served again, the same notice, and
    // not before the lease ran out.
    let redelivered = wait_for(lease * 4, || {
        let v = g
            .get("/v1/feed/beta/notices?wait_ms=200", Some(FEED_TOKEN_B))
            .json();
        (!v["notices"].as_array().unwrap().is_empty()).then_some(v)
    })
    .expect("served again after the lease");
    assert!(
        asked.elapsed() >= lease,
        "served again {:?} after the first GET, before the lease ({lease:?}) ran out",
        asked.elapsed()
    );
    assert_eq!(redelivered["notices"], first["notices"]);
    // The first cursor's lease is over; the new one commits.
    let c = commit(
        &g,
        "/v1/feed/beta/notices/commit",
        FEED_TOKEN_B,
        &redelivered["cursor"],
    );
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json()["notices"], 1);
    // Committed: never served again, even after the lease.
    std::thread::sleep(lease + lease / 10);
    let v = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B)).json();
    assert_eq!(v["notices"], json!([]), "{v}");
    // A cursor of the event feed is not one of the notice feed.
    let r = g.post_events(
        &ndjson(&[impression("p2", "quinn@example.com")]),
        "application/x-ndjson",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let events = g
        .get("/v1/feed/beta?wait_ms=5000", Some(FEED_TOKEN_B))
        .json();
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
    let c = commit(
        &g,
        "/v1/feed/beta/notices/commit",
        FEED_TOKEN_B,
        &events["cursor"],
    );
    assert_eq!(c.status, 400, "{}", c.body);
    let c = commit(&g, "/v1/feed/beta/commit", FEED_TOKEN_B, &events["cursor"]);
    assert_eq!(c.status, 200, "{}", c.body);
    let c = commit(
        &g,
        "/v1/feed/beta/notices/commit",
        FEED_TOKEN_B,
        &json!("garbage"),
    );
    assert_eq!(c.status, 400, "{}", c.body);
    assert_eq!(
        notice_metric(&g, "beta", "subject_deleted", "delivered"),
        1.0
    );
}

/// beta with keys k1 (KEY_B) then k2 (KEY_C, signing) whose
/// `emit_previous_until` is `until`.
fn rotation_config(until: &str) -> String {
    let beta = pull_partner("beta", "T_FEED_B", "K_B", "")
        + &format!("[[partners.keys]]\nid = \"k2\"\nsecret_env = \"K_C\"\nemit_previous_until = \"{until}\"\n");
    format!("{HEAD}{beta}")
}

#[test]
fn rotation_window_adds_ad_id_prev_until_its_time() {
    let mut g = Gateway::start(&rotation_config("2999-01-01T00:00:00Z"), env());
    let r = g.post_events(
        &ndjson(&[impression("r1", "rita@example.com")]),
        "application/x-ndjson",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let ev = drain_beta(&g);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["ad_id"],
        json!(expected_tagged(KEY_C, "k2", "email", "rita@example.com"))
    );
    assert_eq!(
        ev[0]["ad_id_prev"],
        json!(expected_tagged(KEY_B, "k1", "email", "rita@example.com"))
    );

    // explain shows both ids and says until when.
    let events = g.dir.path().join("ev.ndjson");
    std::fs::write(&events, ndjson(&[impression("r2", "rita@example.com")])).unwrap();
    let run = Run::exec(
        Command::new(BIN)
            .args(["explain", "--config"])
            .arg(&g.config_path)
            .arg(&events)
            .envs(env()),
    );
    run.code(0)
        .stdout_has(&expected_tagged(KEY_B, "k1", "email", "rita@example.com"))
        .stdout_has("ad_id_prev")
        .stdout_has("2999-01-01T00:00:00Z");

    // The window closed: new outputs carry ad_id alone.
    std::fs::write(&g.config_path, {
        let text = std::fs::read_to_string(&g.config_path).unwrap();
        text.replace("2999-01-01T00:00:00Z", "2020-01-01T00:00:00Z")
    })
    .unwrap();
    g.terminate();
    g.spawn();
    let r = g.post_events(
        &ndjson(&[impression("r3", "rita@example.com")]),
        "application/x-ndjson",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let ev = drain_beta(&g);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["ad_id"],
        json!(expected_tagged(KEY_C, "k2", "email", "rita@example.com"))
    );
    assert!(ev[0].get("ad_id_prev").is_none(), "{}", ev[0]);

    // A forget notifies under both keys, newest first.
    let r = g.admin_post("/v1/forget", &json!({"email": "rita@example.com"}));
    assert_eq!(r.json()["notified"], json!(["beta"]), "{}", r.body);
    let v = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B)).json();
    assert_eq!(
        v["notices"][0]["ad_ids"],
        json!([
            expected_tagged(KEY_C, "k2", "email", "rita@example.com"),
            expected_tagged(KEY_B, "k1", "email", "rita@example.com")
        ])
    );
}

fn check_config(dir: &std::path::Path, text: &str) -> Run {
    let path = dir.join("adgate.toml");
    std::fs::write(
        &path,
        text.replace("{DATA}", dir.join("data").to_str().unwrap()),
    )
    .unwrap();
    Run::exec(
        Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&path)
            .envs(env()),
    )
}

#[test]
fn check_config_refuses_emit_previous_until_without_a_previous_key() {
    let dir = tempfile::tempdir().unwrap();
    let one_key = pull_partner("beta", "T_FEED_B", "K_B", "").replace(
        "secret_env = \"K_B\"",
        "secret_env = \"K_B\"\nemit_previous_until = \"2999-01-01T00:00:00Z\"",
    );
    check_config(dir.path(), &format!("{HEAD}{one_key}"))
        .code(2)
        .stderr_has("partners[0].keys[0].emit_previous_until")
        .stderr_has("no previous key")
        .stderr_has("fix:");
    let bad_time = rotation_config("next tuesday");
    check_config(dir.path(), &bad_time)
        .code(2)
        .stderr_has("partners[0].keys[1].emit_previous_until")
        .stderr_has("RFC 3339");
    // The summary says where notices go and that the window is open.
    check_config(dir.path(), &rotation_config("2999-01-01T00:00:00Z"))
        .code(0)
        .stdout_has("notices: pull from /v1/feed/beta/notices")
        .stdout_has("outputs also carry ad_id_prev under k1 until 2999-01-01T00:00:00Z");
    // notice_endpoint: push only, a URL, and its absence is warned about.
    let lease = format!("lease_ms = {PULL_LEASE_MS}");
    let pull_with = pull_partner("beta", "T_FEED_B", "K_B", "").replace(
        &lease,
        &format!("{lease}\nnotice_endpoint = \"https://x.example/n\""),
    );
    check_config(dir.path(), &format!("{HEAD}{pull_with}"))
        .code(2)
        .stderr_has("partners[0].delivery.notice_endpoint")
        .stderr_has("push");
    let push_bad = push_partner(
        "acme",
        "https://x.example/e",
        "K_A",
        "notice_endpoint = \"ftp://x\"",
    );
    check_config(dir.path(), &format!("{HEAD}{push_bad}"))
        .code(2)
        .stderr_has("partners[0].delivery.notice_endpoint");
    let push_without = push_partner("acme", "https://x.example/e", "K_A", "");
    check_config(dir.path(), &format!("{HEAD}{push_without}"))
        .code(0)
        .stdout_has("warning: partners[0].delivery.notice_endpoint is not set")
        .stdout_has("notices: none (no notice_endpoint)");
}

/// The JetStream backend: a push partner's notices go through a notice
/// stream of its own (`ADGATE_NOTICE_<partner>`) and its notice worker,
/// signed like events. beta (pull) never received sam's events: its notice
/// feed (on JetStream too) stays empty.
#[test]
fn jetstream_backend_notifies_push_partners_through_a_notice_stream() {
    nats::set_backend(nats::Backend::JetStream);
    // acme's notice endpoint is down at first: the notice is retried, then
    // delivered once.
    let mocks = Mocks::new(503);
    let Mocks {
        acme_notices,
        gamma_notices,
        ..
    } = &mocks;
    let g = mocks.gateway();
    let r = g.post_events(
        &ndjson(&[impression("s1", "sam@example.com")]),
        "application/x-ndjson",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    wait_ledger(&g, "sam@example.com", &["acme"], 1);
    let r = g.admin_post("/v1/forget", &json!({"email": "sam@example.com"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notified"], json!(["acme"]), "{}", r.body);
    let retried = wait_for(Duration::from_secs(20), || {
        (acme_notices.requests().len() >= 2).then_some(())
    });
    assert!(retried.is_some(), "the notice was not retried");
    acme_notices.set(std::sync::Arc::new(|_| (200, Vec::new())));
    wait_metric(
        &g,
        "adgate_notices_total",
        &[
            ("partner", "acme"),
            ("type", "subject_deleted"),
            ("outcome", "delivered"),
        ],
        1.0,
    );
    let reqs: Vec<Received> = acme_notices
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(reqs.len(), 1, "delivered once");
    assert_signed(&reqs[0]);
    for r in acme_notices.requests() {
        assert_eq!(r.body, reqs[0].body, "every attempt is the same notice");
    }
    assert_eq!(
        reqs[0].events(),
        vec![json!({
            "type": "subject_deleted",
            "ad_ids": [
                expected_tagged(KEY_D, "k2", "email", "sam@example.com"),
                expected_tagged(KEY_A, "k1", "email", "sam@example.com"),
            ],
            "ad_id_type": "email",
            "time": reqs[0].events()[0]["time"],
        })]
    );
    assert!(gamma_notices.requests().is_empty());
    let r = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notices"], json!([]), "{}", r.body);
}

/// A NATS server, the partners' mock servers (all answering 200) and the
/// config and environment of replicas sharing that server.
struct Fleet {
    _server: nats::NatsServer,
    _acme: MockPartner,
    acme_notices: MockPartner,
    _gamma: MockPartner,
    gamma_notices: MockPartner,
    cfg: String,
    env: std::collections::HashMap<String, String>,
}

impl Fleet {
    fn start() -> Fleet {
        let server = nats::NatsServer::start();
        let acme = MockPartner::always(200);
        let acme_notices = MockPartner::always(200);
        let gamma = MockPartner::always(200);
        let gamma_notices = MockPartner::always(200);
        let cfg = format!(
            "{}{}",
            config(
                &acme.url(),
                &acme_notices.url(),
                &gamma.url(),
                &gamma_notices.url(),
            ),
            nats::outbox_section(&[server.url()], 1)
        );
        let mut env = env();
        env.extend(nats::env());
        Fleet {
            _server: server,
            _acme: acme,
            acme_notices,
            _gamma: gamma,
            gamma_notices,
            cfg,
            env,
        }
    }
}

/// Two replicas on one NATS: the record of who received what is
/// fleet-wide (the `adgate_ledger` bucket). Events are delivered through
/// replica A only (B starts afterwards): acme by A's push worker, beta read
/// and committed through A. A forget sent to B finds both partners: one
/// notice each, with the ad_ids recomputed here; B's `/v1/access` shows the
/// deliveries before the forget and nothing after.
#[test]
fn jetstream_forget_on_one_replica_notifies_what_another_delivered() {
    let f = Fleet::start();
    let (acme_notices, gamma_notices) = (&f.acme_notices, &f.gamma_notices);
    let (cfg, env) = (&f.cfg, &f.env);
    let a = Gateway::start(cfg, env.clone());
    let email = "rui@example.com";
    let events = [impression("r1", email), impression("r2", email)];
    let r = a.post_events(&ndjson(&events), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    wait_metric(
        &a,
        "adgate_events_delivered_total",
        &[("partner", "acme")],
        2.0,
    );
    assert_eq!(drain_beta(&a).len(), 2);
    wait_ledger(&a, email, &["acme", "beta"], 2);

    let b = Gateway::start(cfg, env.clone());
    // B never delivered anything, and answers from the fleet's record.
    let access = |g: &Gateway| {
        let r = g.admin_post("/v1/access", &json!({ "email": email }));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let before = access(&b);
    let partners = before["partners"].as_array().unwrap();
    assert_eq!(partners.len(), 2, "{before}");
    for (p, name, ad_id) in [
        (
            &partners[0],
            "acme",
            expected_tagged(KEY_D, "k2", "email", email),
        ),
        (
            &partners[1],
            "beta",
            expected_tagged(KEY_B, "k1", "email", email),
        ),
    ] {
        assert_eq!(p["partner"], name, "{before}");
        assert_eq!(p["delivered"], 2, "{before}");
        assert_eq!(p["queued"], 0, "{before}");
        assert_eq!(p["ad_ids"][0]["ad_id"], ad_id.as_str(), "{before}");
    }

    let r = b.admin_post("/v1/forget", &json!({ "email": email }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["notified"], json!(["acme", "beta"]), "{}", r.body);

    // acme: one signed notice (from whichever replica's notice worker).
    let got = wait_for(Duration::from_secs(20), || {
        let ok: Vec<Received> = acme_notices
            .requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .collect();
        (!ok.is_empty()).then_some(ok)
    })
    .expect("acme got its notice");
    assert_signed(&got[0]);
    let n = got[0].events();
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["type"], "subject_deleted");
    assert_eq!(
        n[0]["ad_ids"],
        json!([
            expected_tagged(KEY_D, "k2", "email", email),
            expected_tagged(KEY_A, "k1", "email", email),
        ])
    );
    // beta: read through B, committed through A.
    let v = b.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B)).json();
    let notices = v["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{v}");
    assert_eq!(notices[0]["type"], "subject_deleted");
    assert_eq!(notices[0]["ad_id_type"], "email");
    assert_eq!(
        notices[0]["ad_ids"],
        json!([expected_tagged(KEY_B, "k1", "email", email)])
    );
    let c = commit(
        &a,
        "/v1/feed/beta/notices/commit",
        FEED_TOKEN_B,
        &v["cursor"],
    );
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json()["notices"], 1, "{}", c.body);

    // Exactly one each, on every replica, even after beta's lease and a
    // push partner's ack_wait (nats::outbox_section) have passed.
    let longest = Duration::from_millis(PULL_LEASE_MS.max(nats::ACK_WAIT_MS));
    std::thread::sleep(longest + longest / 10);
    for g in [&a, &b] {
        let v = g.get("/v1/feed/beta/notices", Some(FEED_TOKEN_B)).json();
        assert_eq!(v["notices"], json!([]), "{v}");
    }
    let delivered: Vec<Received> = acme_notices
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(delivered.len(), 1, "acme got one notice");
    assert!(gamma_notices.requests().is_empty());
    // The record is gone on both replicas.
    for g in [&a, &b] {
        let after = access(g);
        assert_eq!(after["partners"], json!([]), "{after}");
    }
    // A second forget notifies no one.
    let r = a.admin_post("/v1/forget", &json!({ "email": email }));
    assert_eq!(r.json()["notified"], json!([]), "{}", r.body);
    // The report reads one replica's data dir: it says where the ledger is.
    Run::exec(
        Command::new(BIN)
            .arg("report")
            .arg("--config")
            .arg(&b.config_path),
    )
    .code(0)
    .stdout_has("kept 90 days in the JetStream bucket adgate_ledger (fleet-wide");
}

/// Replica A holds what it records in memory for up to a second before it
/// writes the fleet ledger; a forget through replica B right after A's push
/// partner acknowledged (no wait for the ledger) still finds that partner:
/// the forget waits for every replica's rows before it chooses whom to
/// notify, and leaves no ledger entry behind on either replica.
#[test]
fn jetstream_forget_right_after_another_replica_delivered_still_notifies() {
    let f = Fleet::start();
    let acme_notices = &f.acme_notices;
    let (cfg, env) = (&f.cfg, &f.env);
    let a = Gateway::start(cfg, env.clone());
    let b = Gateway::start(cfg, env.clone());
    let email = "ines@example.com";
    let r = a.post_events(&ndjson(&[impression("i1", email)]), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    // Delivered to acme through either replica (they share its consumer).
    wait_for(Duration::from_secs(20), || {
        let n: f64 = [&a, &b]
            .iter()
            .map(|g| {
                metric_labeled(
                    &g.metrics(),
                    "adgate_events_delivered_total",
                    &[("partner", "acme")],
                )
            })
            .sum();
        (n >= 1.0).then_some(())
    })
    .expect("acme acknowledged the event");
    let r = b.admin_post("/v1/forget", &json!({ "email": email }));
    assert_eq!(r.status, 200, "{}", r.body);
    let notified = r.json()["notified"].clone();
    assert!(
        notified.as_array().unwrap().contains(&json!("acme")),
        "{}",
        r.body
    );
    wait_for(Duration::from_secs(20), || {
        acme_notices
            .requests()
            .iter()
            .any(|r| r.status == 200)
            .then_some(())
    })
    .expect("acme got its notice");
    // The second erase has run (2 s after the first): nothing is left.
    std::thread::sleep(Duration::from_secs(3));
    for g in [&a, &b] {
        let r = g.admin_post("/v1/access", &json!({ "email": email }));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["partners"], json!([]), "{}", r.body);
    }
}

/// Two replicas deliver the same person's events to the same partner (they
/// share its consumer), each summing its rows in memory and updating the
/// one fleet ledger entry with compare-and-set, often from the value it
/// wrote last without reading it: the entry must still count every event
/// once, whichever replica's update was refused and read again.
#[test]
fn jetstream_two_replicas_count_one_persons_deliveries_exactly() {
    let f = Fleet::start();
    let a = Gateway::start(&f.cfg, f.env.clone());
    let b = Gateway::start(&f.cfg, f.env.clone());
    let email = "noa@example.com";
    let rounds = 8;
    for i in 0..rounds {
        let g = if i % 2 == 0 { &a } else { &b };
        let events: Vec<Value> = (0..3)
            .map(|k| impression(&format!("n{i}-{k}"), email))
            .collect();
        let r = g.post_events(&ndjson(&events), "application/x-ndjson");
        assert_eq!(r.status, 202, "{}", r.body);
        // Past a write interval of both (1 s), so each writes in turn.
        std::thread::sleep(Duration::from_millis(600));
    }
    let want = (rounds * 3) as f64;
    let delivered = |g: &Gateway| {
        metric_labeled(
            &g.metrics(),
            "adgate_events_delivered_total",
            &[("partner", "acme")],
        )
    };
    wait_for(Duration::from_secs(30), || {
        (delivered(&a) + delivered(&b) >= want).then_some(())
    })
    .expect("every event reached acme");
    let (by_a, by_b) = (delivered(&a), delivered(&b));
    // Each replica writes what it holds within a second; the access
    // answer on either replica counts every delivery once.
    let count = |g: &Gateway| {
        let r = g.admin_post("/v1/access", &json!({ "email": email }));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        v["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["partner"] == "acme")
            .map_or(0, |p| p["delivered"].as_u64().unwrap())
    };
    let got = wait_for(Duration::from_secs(10), || {
        let (ca, cb) = (count(&a), count(&b));
        (ca == want as u64 && cb == want as u64).then_some((ca, cb))
    });
    assert!(
        got.is_some(),
        "acme delivered {by_a} through A and {by_b} through B; the ledger says {} (A) and {} (B), want {want}",
        count(&a),
        count(&b)
    );
}
