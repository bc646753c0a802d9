//! Durability of the outbox against the real binary: SIGKILL while clients
//! post, torn and corrupted tails, and graceful shutdown under load.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;

fn config() -> String {
    format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""))
}

/// The partner-visible event id for `id` under KEY_A / key id k1,
/// computed independently of adgate.
fn partner_event_id(id: &str) -> String {
    expected_event_id(KEY_A, id)
}

#[test]
fn sigkill_while_posting_loses_no_acknowledged_event() {
    let mut g = Gateway::start(&config(), base_env());
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicUsize::new(0));
    // Requests the kill cut off (sent, never answered): proof that it hit
    // work in flight, not an idle gateway.
    let cut = Arc::new(AtomicUsize::new(0));
    let url = g.url("/v1/events");
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (acked, stop, seq, url, cut) = (
            acked.clone(),
            stop.clone(),
            seq.clone(),
            url.clone(),
            cut.clone(),
        );
        clients.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let ids: Vec<String> = (0..50).map(|i| format!("crash-{n}-{i}")).collect();
                let events: Vec<_> = ids
                    .iter()
                    .map(|id| event(id, "ad_impression", "a@example.com"))
                    .collect();
                let res = ureq::post(&url)
                    .set("Authorization", &format!("Bearer {PRODUCER_TOKEN}"))
                    .set("Content-Type", "application/x-ndjson")
                    .timeout(Duration::from_secs(5))
                    .send_string(&ndjson(&events));
                match res {
                    Ok(r) if r.status() == 202 => acked.lock().unwrap().extend(ids),
                    Ok(_) | Err(ureq::Error::Status(..)) => {}
                    // Refused: the gateway is already gone.
                    Err(ureq::Error::Transport(t))
                        if t.kind() == ureq::ErrorKind::ConnectionFailed =>
                    {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    // The gateway died mid-request: this batch was not acknowledged.
                    Err(_) => {
                        cut.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(20))
                    }
                }
            }
        }));
    }
    // Let clients run, then kill -9 mid-stream.
    wait_for(Duration::from_secs(20), || {
        (acked.lock().unwrap().len() >= 2000).then_some(())
    })
    .expect("traffic flows");
    g.kill();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(!acked.is_empty());
    assert!(
        cut.load(Ordering::Relaxed) > 0,
        "the kill cut off no request in flight: it did not test a crash under work"
    );

    g.spawn();
    let served = drain_feed(&g, "alpha", FEED_TOKEN_A);
    let got: HashSet<String> = served
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !got.contains(&partner_event_id(id)))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    // Exactly as written: every served line is a whole output event.
    for e in &served {
        assert_eq!(e["event_type"], "ad_impression");
        assert_eq!(e["ad_id_type"], "account_id");
        assert_eq!(e["ad"]["campaign_id"], "c-77");
    }
}

fn only_segment(g: &Gateway) -> std::path::PathBuf {
    let dir = g.data_dir().join("outbox").join("alpha");
    let mut segs: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

fn post_ids(g: &Gateway, ids: &[&str]) {
    let events: Vec<_> = ids
        .iter()
        .map(|id| event(id, "ad_impression", "a@example.com"))
        .collect();
    let r = g.post_events(&ndjson(&events), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
}

#[test]
fn torn_tail_is_truncated_and_earlier_records_survive() {
    let mut g = Gateway::start(&config(), base_env());
    post_ids(&g, &["t1", "t2", "t3"]);
    assert_eq!(g.terminate(), Some(0));
    let seg = only_segment(&g);
    let whole = std::fs::read(&seg).unwrap();
    // A torn write: half of a fourth record's bytes (copy of the last record's
    // beginning) appended at the tail.
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[..whole.len() / 6]);
    std::fs::write(&seg, &torn).unwrap();

    g.spawn();
    let served = drain_feed(&g, "alpha", FEED_TOKEN_A);
    let ids: HashSet<String> = served
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    for id in ["t1", "t2", "t3"] {
        assert!(ids.contains(&partner_event_id(id)), "{id} lost");
    }
    assert_eq!(served.len(), 3);
    assert!(
        g.logs().contains("truncating a damaged segment tail"),
        "{}",
        g.logs()
    );
    // New writes after recovery land after the good records.
    post_ids(&g, &["t4"]);
    let more = drain_feed(&g, "alpha", FEED_TOKEN_A);
    assert_eq!(more.len(), 1);
    assert_eq!(more[0]["event_id"], partner_event_id("t4"));
}

#[test]
fn flipped_bytes_in_the_last_record_drop_only_that_record() {
    let mut g = Gateway::start(&config(), base_env());
    post_ids(&g, &["f1", "f2"]);
    post_ids(&g, &["f3"]);
    assert_eq!(g.terminate(), Some(0));
    let seg = only_segment(&g);
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 10..n - 5] {
        *b ^= 0x5a;
    }
    std::fs::write(&seg, &bytes).unwrap();

    g.spawn();
    let served = drain_feed(&g, "alpha", FEED_TOKEN_A);
    let ids: Vec<String> = served
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![partner_event_id("f1"), partner_event_id("f2")]);
    assert!(g.logs().contains("checksum mismatch"), "{}", g.logs());
}

#[test]
fn graceful_shutdown_under_load_exits_zero_and_keeps_everything() {
    let mut g = Gateway::start(&config(), base_env());
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let url = g.url("/v1/events");
    let mut clients = Vec::new();
    for c in 0..3 {
        let (acked, stop, url) = (acked.clone(), stop.clone(), url.clone());
        clients.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let ids: Vec<String> = (0..100).map(|i| format!("g-{c}-{n}-{i}")).collect();
                let events: Vec<_> = ids
                    .iter()
                    .map(|id| event(id, "ad_impression", "a@example.com"))
                    .collect();
                match ureq::post(&url)
                    .set("Authorization", &format!("Bearer {PRODUCER_TOKEN}"))
                    .set("Content-Type", "application/x-ndjson")
                    .timeout(Duration::from_secs(10))
                    .send_string(&ndjson(&events))
                {
                    Ok(r) if r.status() == 202 => acked.lock().unwrap().extend(ids),
                    _ => break,
                }
            }
        }));
    }
    wait_for(Duration::from_secs(20), || {
        (acked.lock().unwrap().len() >= 1000).then_some(())
    })
    .expect("traffic");
    assert_eq!(g.terminate(), Some(0), "{}", g.logs());
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(g.logs().contains("shutdown complete"));
    let acked = acked.lock().unwrap().clone();
    g.spawn();
    let got: HashSet<String> = drain_feed(&g, "alpha", FEED_TOKEN_A)
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    let missing = acked
        .iter()
        .filter(|id| !got.contains(&partner_event_id(id)))
        .count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged events lost",
        acked.len()
    );
}

/// One gateway per data dir: a second `serve` on the same directory, by the
/// same path or through a symlink, exits 1 naming the lock, and the first
/// keeps serving every event it acknowledged. (Two gateways would keep
/// their own offsets over the same segment files and lose events.)
#[test]
fn a_second_gateway_on_the_same_data_dir_refuses_to_start() {
    let g = Gateway::start(&config(), base_env());
    post_ids(&g, &["lock-1"]);
    let alias = g.dir.path().join("alias");
    std::os::unix::fs::symlink(g.data_dir(), &alias).unwrap();
    let aliased = g.dir.path().join("aliased.toml");
    std::fs::write(
        &aliased,
        config().replace("{DATA}", alias.to_str().unwrap()),
    )
    .unwrap();
    for cfg in [g.config_path.clone(), aliased] {
        let mut second = std::process::Command::new(BIN)
            .args(["serve", "--config", cfg.to_str().unwrap()])
            .envs(base_env())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_for(Duration::from_secs(30), || second.try_wait().unwrap());
        let Some(status) = status else {
            let _ = second.kill();
            panic!("a second gateway runs on the data dir of the first ({cfg:?})");
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(err.contains("in use by another adgate process"), "{err}");
    }
    post_ids(&g, &["lock-2"]);
    let ids = event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A));
    assert_eq!(
        ids,
        [partner_event_id("lock-1"), partner_event_id("lock-2")],
        "the first gateway lost events"
    );
}

/// docs/http-api.md: an event id re-sent within 24 h is a duplicate and
/// is not routed again, also after a crash when its outbox records are
/// gone (consumed, committed and their segment deleted): the idempotency
/// window's journal brings the id back, where the outbox no longer can.
#[test]
fn a_resent_id_is_a_duplicate_after_a_crash_once_its_records_are_deleted() {
    let config = format!(
        "{HEAD}{}",
        pull_partner("alpha", "T_FEED_A", "K_A", "outbox_max_bytes = 1048576")
    );
    let mut g = Gateway::start(&config, base_env());
    let batch = |prefix: &str, n: usize| -> Vec<serde_json::Value> {
        (0..n)
            .map(|k| {
                event(
                    &format!("{prefix}-{k}"),
                    "ad_impression",
                    &format!("p{k}@example.com"),
                )
            })
            .collect()
    };
    let first = batch("first", 50);
    let r = g.post_events(&ndjson(&first), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    let segments = g.data_dir().join("outbox").join("alpha");
    let first_segment = std::fs::read_dir(&segments)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .min()
        .expect("a segment holds the first events");
    // Filler, consumed and committed, until the segment that held them
    // is deleted.
    let gone = wait_for(Duration::from_secs(60), || {
        let filler = batch(&format!("fill-{}", rand_suffix()), 200);
        let r = g.post_events(&ndjson(&filler), "application/x-ndjson");
        assert_eq!(r.status, 202, "{}", r.body);
        drain_feed(&g, "alpha", FEED_TOKEN_A);
        (!first_segment.exists()).then_some(())
    });
    assert!(gone.is_some(), "the first segment was never deleted");
    // The journal is written once a second.
    std::thread::sleep(Duration::from_millis(1500));
    g.kill();
    g.spawn();
    let r = g.post_events(&ndjson(&first), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["duplicates"], 50, "{}", r.body);
    let again: HashSet<String> = event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A))
        .into_iter()
        .collect();
    let resent: Vec<String> = (0..50)
        .map(|k| partner_event_id(&format!("first-{k}")))
        .filter(|id| again.contains(id))
        .collect();
    assert!(resent.is_empty(), "routed again: {resent:?}");
}

/// A suffix unique to this process's calls.
fn rand_suffix() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
