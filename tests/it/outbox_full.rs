//! A full outbox (docs/http-api.md, docs/delivery.md): with `on_full = "reject"` ingest answers 503
//! with Retry-After and writes nothing of that request anywhere; with
//! `on_full = "dead_letter"` the oldest events go to dead letters and ingest
//! goes on.

use crate::common::*;

const BOUND: u64 = 65536;

fn post_batch(g: &Gateway, n: usize, tag: &str) -> Resp {
    let evs: Vec<_> = (0..50)
        .map(|i| event(&format!("{tag}-{n}-{i}"), "ad_impression", "a@example.com"))
        .collect();
    g.post_events(&ndjson(&evs), "application/x-ndjson")
}

#[test]
fn full_outbox_rejects_the_whole_request_with_503_and_retry_after() {
    let cfg = format!(
        "{HEAD}{}{}",
        pull_partner(
            "alpha",
            "T_FEED_A",
            "K_A",
            &format!("outbox_max_bytes = {BOUND}")
        ),
        pull_partner("beta", "T_FEED_B", "K_B", "")
    );
    let g = Gateway::start(&cfg, base_env());
    let mut full = None;
    for n in 0..100 {
        let r = post_batch(&g, n, "f");
        if r.status == 503 {
            full = Some(r);
            break;
        }
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let r = full.expect("the 64 KiB outbox fills up");
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert!(
        r.json()["error"].as_str().unwrap().contains("alpha"),
        "{}",
        r.body
    );
    // Not half-accepted: beta holds exactly what alpha holds.
    let m = g.metrics();
    let a = metric_value(&m, "adgate_events_routed_total{partner=\"alpha\"}");
    let b = metric_value(&m, "adgate_events_routed_total{partner=\"beta\"}");
    assert_eq!(a, b, "a refused request must not reach the other outbox");
    assert!(metric_value(&m, "adgate_outbox_bytes{partner=\"alpha\"}") <= BOUND as f64);
    // The retry of the refused request is not a duplicate once there is room.
    let served = drain_feed(&g, "alpha", FEED_TOKEN_A).len();
    assert_eq!(served as f64, a);
    let retry = wait_for(std::time::Duration::from_secs(5), || {
        let r = post_batch(&g, 999, "f");
        (r.status == 202).then_some(r)
    })
    .expect("room again after the partner committed");
    assert_eq!(retry.json()["duplicates"], 0);
}

#[test]
fn dead_letter_on_full_keeps_ingest_going_and_dead_letters_the_oldest() {
    let cfg = format!(
        "{HEAD}{}",
        pull_partner(
            "alpha",
            "T_FEED_A",
            "K_A",
            &format!("outbox_max_bytes = {BOUND}\non_full = \"dead_letter\"")
        )
    );
    let g = Gateway::start(&cfg, base_env());
    for n in 0..20 {
        let r = post_batch(&g, n, "d");
        assert_eq!(r.status, 202, "batch {n}: {}", r.body);
    }
    let dl = std::fs::read_to_string(g.data_dir().join("dead_letters/alpha.ndjson")).unwrap();
    let lines: Vec<serde_json::Value> = dl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["reason"] == "outbox_full"));
    // The oldest went first: the first dead letter is the first event posted.
    assert_eq!(
        lines[0]["event"]["event_id"],
        expected_event_id(KEY_A, "d-0-0")
    );
    let m = g.metrics();
    assert!(metric_value(&m, "adgate_outbox_bytes{partner=\"alpha\"}") <= BOUND as f64);
    assert_eq!(
        metric_value(&m, "adgate_dead_letter_total{partner=\"alpha\"}") as usize,
        lines.len()
    );
    // What is left in the outbox plus what was dead-lettered is everything.
    let waiting = metric_value(&m, "adgate_outbox_events{partner=\"alpha\"}") as usize;
    assert_eq!(waiting + lines.len(), 20 * 50);
}
