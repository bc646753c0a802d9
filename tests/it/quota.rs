//! Producer quotas (429 + Retry-After, counted per producer) and the global
//! bound on ingest requests in flight (503 + Retry-After), against the real
//! binary.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::*;

fn config(server_extra: &str, producer_extra: &str) -> String {
    HEAD.replace(
        "shutdown_grace_seconds = 5",
        &format!("shutdown_grace_seconds = 5\n{server_extra}"),
    )
    .replace(
        "token_env = \"T_PRODUCER\"",
        &format!("token_env = \"T_PRODUCER\"\n{producer_extra}"),
    ) + &pull_partner("alpha", "T_FEED_A", "K_A", "")
}

fn batch(tag: &str, n: usize) -> String {
    let evs: Vec<_> = (0..n)
        .map(|i| event(&format!("{tag}-{i}"), "ad_impression", "a@example.com"))
        .collect();
    ndjson(&evs)
}

#[test]
fn producer_over_its_quota_gets_429_with_retry_after_and_nothing_is_routed() {
    // The burst empties the bucket; the second request needs SECOND / RATE
    // seconds of refill (5 s), so it is refused unless the test stalls that
    // long between the two POSTs.
    const RATE: u64 = 10;
    const BURST: usize = 100;
    const SECOND: usize = 50;
    let g = Gateway::start(
        &config(
            "",
            &format!("max_events_per_second = {RATE}\nburst = {BURST}"),
        ),
        base_env(),
    );
    let r = g.post_events(&batch("q1", BURST), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    let r = g.post_events(&batch("q2", SECOND), "application/x-ndjson");
    assert_eq!(r.status, 429, "{}", r.body);
    // When the missing tokens will be there, in whole seconds: at most
    // the whole refill, at least a second.
    let wait: u64 = r.headers["retry-after"].parse().unwrap();
    let refill = (SECOND as u64).div_ceil(RATE);
    assert!(
        (1..=refill).contains(&wait),
        "Retry-After {wait}, refill {refill} s"
    );
    assert!(r.json()["error"].as_str().unwrap().contains("quota"));
    let m = g.metrics();
    assert_eq!(
        metric_value(&m, "adgate_events_throttled_total{producer=\"web\"}"),
        SECOND as f64
    );
    assert_eq!(
        metric_value(&m, "adgate_events_routed_total{partner=\"alpha\"}"),
        BURST as f64
    );
    // After Retry-After the same request goes through, and is not a duplicate.
    std::thread::sleep(Duration::from_secs(wait));
    let r = g.post_events(&batch("q2", SECOND), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["duplicates"], 0);
}

#[test]
fn requests_beyond_max_in_flight_get_503_and_the_held_one_completes() {
    let g = Gateway::start(&config("max_in_flight_requests = 1", ""), base_env());
    // Hold the only slot: headers and half of the body, the rest later.
    let body = batch("held", 5);
    let (a, b) = body.as_bytes().split_at(body.len() / 2);
    let mut s = std::net::TcpStream::connect(g.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PRODUCER_TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(a).unwrap();
    wait_for(Duration::from_secs(5), || {
        (g.metric("adgate_ingest_in_flight") == 1.0).then_some(())
    })
    .expect("the held request occupies the slot");
    let refused = wait_for(Duration::from_secs(5), || {
        let r = g.post_events(&batch("other", 1), "application/x-ndjson");
        (r.status == 503).then_some(r)
    })
    .expect("a second request is refused while the slot is held");
    assert!(refused.headers.contains_key("retry-after"));
    assert!(g.metric("adgate_ingest_overloaded_total") >= 1.0);
    s.write_all(b).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 202"), "{out}");
    assert!(out.contains("\"accepted\":5"), "{out}");
    // The slot is free again.
    let r = g.post_events(&batch("after", 1), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
}
