//! The pull feed (see docs/delivery.md) against the real binary: the response shape,
//! commit, long-poll, lease expiry and redelivery, `max`, and who may read
//! which feed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

/// `lease_ms` of the test feeds ([`PULL_LEASE_MS`]): seconds, so the GETs
/// that must find events still leased land inside it.
const LEASE: Duration = Duration::from_millis(PULL_LEASE_MS);

fn gateway() -> Gateway {
    let cfg = format!(
        "{HEAD}{}{}",
        pull_partner("alpha", "T_FEED_A", "K_A", ""),
        pull_partner("beta", "T_FEED_B", "K_B", "")
    );
    Gateway::start(&cfg, base_env())
}

fn post(g: &Gateway, ids: &[&str]) {
    let evs: Vec<Value> = ids
        .iter()
        .map(|id| event(id, "ad_impression", &format!("{id}@example.com")))
        .collect();
    let r = g.post_events(&ndjson(&evs), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], ids.len(), "{}", r.body);
}

/// GET the feed of alpha; returns (cursor, partner event ids).
fn get(g: &Gateway, query: &str) -> (String, Vec<String>) {
    let r = g.get(&format!("/v1/feed/alpha?{query}"), Some(FEED_TOKEN_A));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.headers["content-type"].starts_with("application/json"),
        "{:?}",
        r.headers
    );
    let v = r.json();
    let obj = v.as_object().unwrap();
    assert_eq!(
        obj.keys().map(String::as_str).collect::<HashSet<_>>(),
        HashSet::from(["cursor", "events"]),
        "{v}"
    );
    let cursor = v["cursor"]
        .as_str()
        .expect("cursor is a string")
        .to_string();
    assert!(!cursor.is_empty());
    let ids = v["events"]
        .as_array()
        .expect("events is an array")
        .iter()
        .map(|e| {
            // Every event is a scrubbed output event.
            assert!(e["ad_id"].as_str().unwrap().starts_with("k1."), "{e}");
            assert!(e.get("user").is_none(), "{e}");
            e["event_id"].as_str().unwrap().to_string()
        })
        .collect();
    (cursor, ids)
}

fn commit(g: &Gateway, feed: &str, token: Option<&str>, body: &str) -> Resp {
    g.request(
        "POST",
        &format!("/v1/feed/{feed}/commit"),
        token,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn commit_ok(g: &Gateway, cursor: &str) -> Value {
    let r = commit(
        g,
        "alpha",
        Some(FEED_TOKEN_A),
        &json!({"cursor": cursor}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn pids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| expected_event_id(KEY_A, id)).collect()
}

fn delivered(g: &Gateway) -> f64 {
    metric_labeled(
        &g.metrics(),
        "adgate_events_delivered_total",
        &[("partner", "alpha")],
    )
}

#[test]
fn get_then_commit_then_only_newer_events() {
    let g = gateway();
    post(&g, &["f1", "f2", "f3"]);
    let (cursor, ids) = get(&g, "max=100");
    assert_eq!(ids, pids(&["f1", "f2", "f3"]), "in ingest order");
    assert_eq!(delivered(&g), 0.0, "served is not delivered");
    let c = commit_ok(&g, &cursor);
    assert_eq!(c["events"], 3, "{c}");
    assert_eq!(delivered(&g), 3.0);

    // Nothing more now, nor after the lease would have run out (it began
    // when they were served, before this sleep).
    let (_, ids) = get(&g, "max=100");
    assert!(ids.is_empty(), "{ids:?}");
    std::thread::sleep(LEASE + LEASE / 10);
    let (_, ids) = get(&g, "max=100");
    assert!(ids.is_empty(), "committed events served again: {ids:?}");

    post(&g, &["f4", "f5"]);
    let (cursor2, ids) = get(&g, "max=100");
    assert_eq!(ids, pids(&["f4", "f5"]));
    assert_ne!(cursor2, cursor);
    // Committing an older cursor again is harmless.
    assert_eq!(commit_ok(&g, &cursor)["events"], 0);
    commit_ok(&g, &cursor2);
    assert_eq!(delivered(&g), 5.0);
    let p = [("partner", "alpha")];
    // The outbox applies acks in the background: poll.
    wait_metric(&g, "adgate_outbox_events", &p, 0.0);
    let m = g.metrics();
    assert_eq!(
        metric_labeled(&m, "adgate_event_age_seconds_count", &[]),
        5.0
    );
    assert_eq!(
        metric_labeled(&m, "adgate_partner_event_age_seconds_count", &p),
        5.0
    );
    // The other partner's feed is untouched.
    assert_eq!(
        metric_labeled(&m, "adgate_outbox_events", &[("partner", "beta")]),
        5.0
    );
}

#[test]
fn long_poll_returns_as_soon_as_an_event_arrives() {
    // A long wait_ms: a long-poll that is not woken by the event answers
    // only when it is over, far later than one that is.
    const WAIT: Duration = Duration::from_secs(30);
    let g = gateway();
    let url = g.url(&format!(
        "/v1/feed/alpha?max=10&wait_ms={}",
        WAIT.as_millis()
    ));
    let started = Instant::now();
    let poll = std::thread::spawn(move || {
        let r = ureq::get(&url)
            .set("Authorization", &format!("Bearer {FEED_TOKEN_A}"))
            .timeout(WAIT * 2)
            .call()
            .unwrap();
        let v: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
        (started.elapsed(), v)
    });
    // Give the GET time to be parked in the long-poll before posting.
    std::thread::sleep(Duration::from_millis(400));
    post(&g, &["lp1"]);
    let (took, v) = poll.join().unwrap();
    assert!(
        took >= Duration::from_millis(400),
        "returned before the event existed: {took:?} {v}"
    );
    assert!(
        took < WAIT,
        "the long-poll answered after {took:?}, at the end of wait_ms {WAIT:?}: the event did not wake it"
    );
    let ids: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![expected_event_id(KEY_A, "lp1")]);

    // An empty feed answers an empty list once wait_ms is over (not
    // before: the wait starts after this clock).
    commit_ok(&g, v["cursor"].as_str().unwrap());
    let empty_wait = Duration::from_millis(300);
    let t = Instant::now();
    let (_, ids) = get(&g, &format!("wait_ms={}", empty_wait.as_millis()));
    assert!(ids.is_empty());
    assert!(t.elapsed() >= empty_wait, "{:?}", t.elapsed());
}

#[test]
fn uncommitted_events_are_served_again_after_the_lease() {
    let g = gateway();
    post(&g, &["r1", "r2"]);
    // The lease starts when the gateway serves them, after this clock.
    let asked = Instant::now();
    let (_, first) = get(&g, "max=100");
    assert_eq!(first, pids(&["r1", "r2"]));
    // Within the lease they are not served twice.
    let (_, again) = get(&g, "max=100");
    assert!(again.is_empty(), "{again:?}");
    let (cursor, redelivered) = wait_for(LEASE * 4, || {
        let (c, ids) = get(&g, "max=100");
        (!ids.is_empty()).then_some((c, ids))
    })
    .expect("served again after the lease");
    assert!(
        asked.elapsed() >= LEASE,
        "served again {:?} after the first GET, before the lease ({LEASE:?}) ran out",
        asked.elapsed()
    );
    assert_eq!(
        redelivered, first,
        "the same events, same partner event_ids"
    );
    commit_ok(&g, &cursor);
    assert_eq!(delivered(&g), 2.0, "counted once, on commit");
    std::thread::sleep(LEASE + LEASE / 10);
    let (_, ids) = get(&g, "max=100");
    assert!(ids.is_empty(), "{ids:?}");
}

/// A commit covers the responses served before its cursor while their
/// lease runs; one whose lease ended is served again (docs/delivery.md: "events
/// served but not committed within lease_ms are served again").
#[test]
fn a_commit_covers_earlier_responses_only_within_their_lease() {
    let g = gateway();
    post(&g, &["l1", "l2"]);
    let (_, first) = get(&g, "max=1");
    assert_eq!(first, pids(&["l1"]));
    std::thread::sleep(LEASE + LEASE / 10);
    // l1's lease ran out: it is served again before anything newer.
    let (c_again, again) = get(&g, "max=1");
    assert_eq!(again, pids(&["l1"]));
    let (c2, second) = get(&g, "max=1");
    assert_eq!(second, pids(&["l2"]));
    // The later cursor takes the re-served l1 (still leased) with it.
    assert_eq!(commit_ok(&g, &c2)["events"], 2);
    assert_eq!(commit_ok(&g, &c_again)["events"], 0);
    assert_eq!(delivered(&g), 2.0);
    std::thread::sleep(LEASE + LEASE / 10);
    let (_, ids) = get(&g, "max=10");
    assert!(ids.is_empty(), "{ids:?}");
}

#[test]
fn a_feed_is_readable_only_with_its_own_token() {
    let g = gateway();
    post(&g, &["a1"]);
    for (token, want) in [
        (None, &[401][..]),
        (Some("not-a-token"), &[401][..]),
        (Some(FEED_TOKEN_B), &[401, 403][..]),
        (Some(PRODUCER_TOKEN), &[401, 403][..]),
        (Some(ADMIN_TOKEN), &[401, 403][..]),
    ] {
        let r = g.get("/v1/feed/alpha?max=10", token);
        assert!(
            want.contains(&r.status),
            "{token:?}: {} {}",
            r.status,
            r.body
        );
        assert!(r.json()["error"].is_string());
        assert!(!r.body.contains("k1."), "leaked events: {}", r.body);
        let r = commit(&g, "alpha", token, r#"{"cursor":"c1.0"}"#);
        assert!(want.contains(&r.status), "commit {token:?}: {}", r.status);
    }
    // Its own token on another (or no such) feed: refused too.
    assert!([401, 403].contains(&g.get("/v1/feed/beta", Some(FEED_TOKEN_A)).status));
    assert!([401, 403, 404].contains(&g.get("/v1/feed/nope", Some(FEED_TOKEN_A)).status));

    // Each token reads its own feed, with its own pseudonyms.
    let (_, ids) = get(&g, "max=10");
    assert_eq!(ids, pids(&["a1"]));
    let b = g.get("/v1/feed/beta?max=10", Some(FEED_TOKEN_B));
    assert_eq!(b.status, 200);
    assert_eq!(
        b.json()["events"][0]["event_id"],
        expected_event_id(KEY_B, "a1")
    );

    // Commit: cursors this feed never handed out, and bad bodies, are 400.
    for body in [
        r#"{"cursor":"c1.ffffff"}"#.to_string(),
        r#"{"cursor":"bogus"}"#.to_string(),
        r#"{"cursor":""}"#.to_string(),
        r#"{}"#.to_string(),
        "not json".to_string(),
    ] {
        let r = commit(&g, "alpha", Some(FEED_TOKEN_A), &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    // beta's cursor is not alpha's.
    let beta_cursor = b.json()["cursor"].as_str().unwrap().to_string();
    let r = commit(
        &g,
        "alpha",
        Some(FEED_TOKEN_B),
        &json!({"cursor": beta_cursor}).to_string(),
    );
    assert!([401, 403].contains(&r.status));
    assert_eq!(delivered(&g), 0.0);
}

#[test]
fn max_is_honoured() {
    let g = gateway();
    post(&g, &["x1", "x2", "x3", "x4", "x5"]);
    let (c, ids) = get(&g, "max=2");
    assert_eq!(ids, pids(&["x1", "x2"]));
    commit_ok(&g, &c);
    let (c, ids) = get(&g, "max=2");
    assert_eq!(ids, pids(&["x3", "x4"]));
    // Served but not committed: the next GET continues after them.
    let (c2, ids) = get(&g, "max=2");
    assert_eq!(ids, pids(&["x5"]));
    // A cursor acknowledges every event up to and including it (docs/delivery.md):
    // the response before it too; committing either again is a no-op.
    assert_eq!(commit_ok(&g, &c2)["events"], 3);
    assert_eq!(commit_ok(&g, &c)["events"], 0);
    assert_eq!(commit_ok(&g, &c2)["events"], 0);
    assert_eq!(delivered(&g), 5.0);
    let (_, ids) = get(&g, "max=10");
    assert!(ids.is_empty(), "committed events served again: {ids:?}");
    // A parameter given twice is not guessed at.
    for bad in [
        "max=0",
        "max=-1",
        "max=abc",
        "max=10001",
        "wait_ms=x",
        "max=1&max=100",
        "wait_ms=0&max=2&wait_ms=10",
    ] {
        let r = g.get(&format!("/v1/feed/alpha?{bad}"), Some(FEED_TOKEN_A));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    // A commit body with another member is refused, as the API says.
    let r = commit(
        &g,
        "alpha",
        Some(FEED_TOKEN_A),
        &json!({"cursor": c2, "x": 1}).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn unknown_feed_is_404_for_an_authenticated_caller_and_401_otherwise() {
    let cfg = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    let g = Gateway::start(&cfg, base_env());
    let r = g.get("/v1/feed/nosuch?max=1", Some(FEED_TOKEN_A));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json()["error"].is_string());
    assert_eq!(
        g.get("/v1/feed/nosuch?max=1", Some("not-a-token")).status,
        401
    );
    assert_eq!(g.get("/v1/feed/nosuch?max=1", None).status, 401);
}

#[test]
fn shutdown_answers_a_pending_long_poll_and_exits_promptly() {
    // A long grace: a shutdown that waited for the long-poll (30 s) would
    // run into it, one that answers it at once is far inside it.
    let grace = std::time::Duration::from_secs(20);
    let cfg = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", "")).replace(
        "shutdown_grace_seconds = 5",
        &format!("shutdown_grace_seconds = {}", grace.as_secs()),
    );
    let mut g = Gateway::start(&cfg, base_env());
    let url = g.url("/v1/feed/alpha?max=10&wait_ms=30000");
    let poll = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let r = ureq::get(&url)
            .set("Authorization", &format!("Bearer {FEED_TOKEN_A}"))
            .call();
        (started.elapsed(), r.map(|r| r.status()).ok())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(g.terminate(), Some(0));
    let took = started.elapsed();
    assert!(took < grace, "shutdown took {took:?} (grace {grace:?})");
    let (waited, status) = poll.join().unwrap();
    assert!(
        waited < grace,
        "the long-poll was held {waited:?}, into the shutdown grace ({grace:?})"
    );
    assert_eq!(status, Some(200));
}
