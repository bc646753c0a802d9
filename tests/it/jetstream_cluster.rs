//! Scale-out on the JetStream backend, with real `nats-server` processes:
//!
//! - a 3-node JetStream cluster on loopback ports and two adgate replicas;
//!   a client posts through both while one NATS node is SIGKILLed and one
//!   replica is SIGKILLed and restarted: every 202-accepted routable event
//!   reaches the partner at least once, and the only duplicates are
//!   redeliveries carrying the same partner event_id and content;
//! - an opt-out posted to replica A stops events posted to replica B
//!   promptly (the promise is 1 s; the test allows a generous multiple);
//! - /readyz follows JetStream's reachability.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::common::nats::{self, Cluster, NatsServer};
use crate::common::*;
use serde_json::Value;

/// The tests that start NATS clusters, kill servers and measure propagation
/// take turns: on two cores, running them at once would stretch leader
/// elections and startups past what the tests wait for.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

fn push_acme(endpoint: &str) -> String {
    format!(
        r#"
[[partners]]
name = "acme"
event_types = ["ad_impression"]
identifiers = ["email", "account_id"]
fields = ["ad.campaign_id"]
[partners.delivery]
mode = "push"
endpoint = "{endpoint}"
signing_secret_env = "T_SIGN"
batch_max_events = 50
batch_max_wait_ms = 50
max_event_age_seconds = 3600
[[partners.keys]]
id = "k1"
secret_env = "K_A"
"#
    )
}

fn env() -> HashMap<String, String> {
    let mut e = base_env();
    e.extend(nats::env());
    e
}

/// POST without panicking on a dead replica: `Err` is a transport error.
fn try_post(addr: std::net::SocketAddr, body: &str) -> Result<(u16, String), String> {
    let r = ureq::post(&format!("http://{addr}/v1/events"))
        .timeout(Duration::from_secs(20))
        .set("Authorization", &format!("Bearer {PRODUCER_TOKEN}"))
        .set("Content-Type", "application/x-ndjson")
        .send_string(body);
    match r {
        Ok(r) => Ok((r.status(), r.into_string().unwrap_or_default())),
        Err(ureq::Error::Status(s, r)) => Ok((s, r.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

fn delivered(mock: &MockPartner) -> Vec<Value> {
    mock.requests()
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .flat_map(|r| r.events())
        .collect()
}

#[test]
fn cluster_survives_a_nats_node_and_a_replica_being_killed() {
    let _turn = heavy();
    let mut cluster = Cluster::start();
    let mock = MockPartner::always(200);
    // The partner answers slowly, so the killed replica has batches in
    // flight: they come back after ack_wait through a live replica.
    mock.set_delay(Duration::from_millis(300));
    let cfg = format!(
        "{HEAD}{}{}",
        push_acme(&mock.url()),
        nats::outbox_section(&cluster.urls(), 3)
    );
    let a = Gateway::start(&cfg, env());
    let mut b = Gateway::start(&cfg, env());

    // Producer: batches of 25 events, alternating replicas; a batch that
    // gets no 202 is retried (same event ids) through the other replica,
    // as a producer behind a load balancer would.
    let mut accepted: HashSet<String> = HashSet::new();
    let mut attempted: HashSet<String> = HashSet::new();
    let mut retries = 0;
    let batches = 40;
    let started = Instant::now();
    for n in 0..batches {
        if n == 10 {
            cluster.nodes[1].kill();
            eprintln!("SIGKILLed NATS node n1 at batch {n}");
        }
        if n == 20 {
            b.kill();
            eprintln!("SIGKILLed replica B at batch {n}");
        }
        if n == 26 {
            b.spawn();
            eprintln!("restarted replica B at batch {n}");
        }
        let evs: Vec<Value> = (0..25)
            .map(|i| {
                let id = format!("c{n}-{i}");
                event(&id, "ad_impression", &format!("u{n}.{i}@example.com"))
            })
            .collect();
        let body = ndjson(&evs);
        let ids: Vec<String> = evs
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        attempted.extend(ids.iter().cloned());
        let b_alive = b.child.is_some();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut k = n;
        loop {
            let g = if k % 2 == 0 || !b_alive { &a } else { &b };
            match try_post(g.addr, &body) {
                Ok((202, text)) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(v["accepted"], 25, "{text}");
                    accepted.extend(ids.iter().cloned());
                    break;
                }
                other => {
                    retries += 1;
                    assert!(
                        Instant::now() < deadline,
                        "batch {n} never accepted in 60 s: last answer {other:?}"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                    k += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "posted {batches} batches in {:?} ({retries} retries)",
        started.elapsed()
    );
    assert_eq!(accepted.len(), batches * 25);

    // Every accepted event reaches the partner (redeliveries of the killed
    // replica's batches come after nats::ACK_WAIT_MS).
    let want: HashMap<String, String> = accepted
        .iter()
        .map(|id| (expected_event_id(KEY_A, id), id.clone()))
        .collect();
    let all_in = wait_for(Duration::from_secs(60), || {
        let got: HashSet<String> = delivered(&mock)
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        want.keys().all(|k| got.contains(k)).then_some(())
    });
    let got = delivered(&mock);
    if all_in.is_none() {
        let ids: HashSet<String> = got
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        let missing: Vec<&String> = want
            .iter()
            .filter(|(k, _)| !ids.contains(*k))
            .map(|(_, v)| v)
            .collect();
        panic!(
            "{} of {} accepted events never delivered: {:?}",
            missing.len(),
            want.len(),
            &missing[..missing.len().min(20)]
        );
    }
    // Duplicates: only redeliveries of the same event (same partner
    // event_id, same content), never an event nobody posted.
    let known: HashSet<String> = attempted
        .iter()
        .map(|id| expected_event_id(KEY_A, id))
        .collect();
    let mut copies: HashMap<String, Vec<&Value>> = HashMap::new();
    for e in &got {
        let id = e["event_id"].as_str().unwrap().to_string();
        assert!(known.contains(&id), "delivered an unknown event {e}");
        copies.entry(id).or_default().push(e);
    }
    let mut dups = 0;
    for (id, cs) in &copies {
        for c in cs {
            assert_eq!(*c, cs[0], "two copies of {id} differ");
        }
        dups += cs.len() - 1;
    }
    eprintln!(
        "delivered {} events, {} unique, {dups} redelivered copies",
        got.len(),
        copies.len()
    );
    // Both replicas delivered (the shared consumer hands batches to any).
    assert!(
        metric_labeled(
            &a.metrics(),
            "adgate_events_delivered_total",
            &[("partner", "acme")]
        ) > 0.0
    );
}

/// What docs/scaling-out.md promises: an opt-out posted to one replica
/// applies to events posted to another within this long.
const OPTOUT_PROMISE: Duration = Duration::from_secs(1);

#[test]
fn opt_out_on_one_replica_stops_delivery_through_another_promptly() {
    let _turn = heavy();
    let server = NatsServer::start();
    let mock = MockPartner::always(200);
    let cfg = format!(
        "{HEAD}{}{}",
        push_acme(&mock.url()),
        nats::outbox_section(&[server.url()], 1)
    );
    let a = Gateway::start(&cfg, env());
    let b = Gateway::start(&cfg, env());
    let email = "opt.me@example.com";
    let before = event("before", "ad_impression", email);
    let r = b.post_events(&before.to_string(), "application/json");
    assert_eq!(r.status, 202, "{}", r.body);
    let before_id = expected_event_id(KEY_A, "before");
    wait_for(Duration::from_secs(10), || {
        delivered(&mock)
            .iter()
            .any(|e| e["event_id"] == before_id.as_str())
            .then_some(())
    })
    .expect("the subject's events flow before the opt-out");

    // The opt-out is stored before A answers, and A answers only after the
    // fleet ledger's barrier (about 2 s, docs/scaling-out.md): B is probed
    // while A's request is still open, so `took` is the propagation.
    let t0 = Instant::now();
    let mut probes = 0;
    let took = std::thread::scope(|scope| {
        let answer = scope.spawn(|| {
            a.request(
                "POST",
                "/v1/optouts",
                Some(ADMIN_TOKEN),
                &[("Content-Type", "application/json")],
                format!("{{\"email\": \"{email}\"}}").as_bytes(),
            )
        });
        // Probe replica B until it drops the subject's events. Measured to
        // the end of the probe that saw it dropped, so `took` is at least
        // the propagation time.
        let took = wait_for(OPTOUT_PROMISE * 20, || {
            probes += 1;
            let e = event(&format!("probe-{probes}"), "ad_impression", email);
            let r = b.post_events(&e.to_string(), "application/json");
            assert_eq!(r.status, 202, "{}", r.body);
            let dropped = metric_labeled(
                &b.metrics(),
                "adgate_events_dropped_total",
                &[("partner", "acme"), ("reason", "opted_out")],
            );
            (dropped > 0.0).then(|| t0.elapsed())
        })
        .expect("replica B never applied the opt-out posted to replica A");
        let r = answer.join().expect("the opt-out request");
        assert_eq!(r.status, 200, "{}", r.body);
        took
    });
    eprintln!("opt-out on A took effect on B after {took:?} ({probes} probes)");
    // It follows the bucket's watch (milliseconds, docs/scaling-out.md), not
    // a periodic reload or a restart: a generous multiple of the promise
    // tells the two apart on two busy shared cores.
    assert!(
        took < OPTOUT_PROMISE * 5,
        "opt-out took {took:?} to reach the other replica (the promise is {OPTOUT_PROMISE:?})"
    );
    // From then on nothing of the subject is routed or delivered.
    let after: Vec<Value> = (0..20)
        .map(|i| event(&format!("after-{i}"), "ad_impression", email))
        .collect();
    let r = b.post_events(&ndjson(&after), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    let other = event("other", "ad_impression", "someone.else@example.com");
    assert_eq!(
        b.post_events(&other.to_string(), "application/json").status,
        202
    );
    let other_id = expected_event_id(KEY_A, "other");
    wait_for(Duration::from_secs(10), || {
        delivered(&mock)
            .iter()
            .any(|e| e["event_id"] == other_id.as_str())
            .then_some(())
    })
    .expect("other subjects still flow");
    let after_ids: HashSet<String> = (0..20)
        .map(|i| expected_event_id(KEY_A, &format!("after-{i}")))
        .collect();
    for e in mock.all_events() {
        assert!(
            !after_ids.contains(e["event_id"].as_str().unwrap()),
            "an event posted after the opt-out was delivered: {e}"
        );
    }
    assert_eq!(
        metric_labeled(
            &b.metrics(),
            "adgate_events_dropped_total",
            &[("partner", "acme"), ("reason", "opted_out")],
        ),
        21.0
    );
}

#[test]
fn readyz_is_503_while_jetstream_is_unreachable() {
    let _turn = heavy();
    nats::set_backend(nats::Backend::JetStream);
    let mock = MockPartner::always(200);
    let mut g = Gateway::start(
        &format!(
            "{HEAD}{}{}",
            push_acme(&mock.url()),
            pull_partner("alpha", "T_FEED_A", "K_B", "")
        ),
        base_env(),
    );
    assert_eq!(g.get("/readyz", None).status, 200);
    g.nats.as_mut().unwrap().kill();
    wait_for(Duration::from_secs(10), || {
        (g.get("/readyz", None).status == 503).then_some(())
    })
    .expect("/readyz stays 200 with NATS down");
    // Ingest cannot store anything: 503 with Retry-After, not a silent 202.
    let r = g.post_events(
        &event("down-1", "ad_impression", "a@example.com").to_string(),
        "application/json",
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    // A feed read cannot reach the stream either: 503 with Retry-After too.
    let r = g.get("/v1/feed/alpha?max=10", Some(FEED_TOKEN_A));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    g.nats.as_mut().unwrap().spawn();
    wait_for(Duration::from_secs(20), || {
        (g.get("/readyz", None).status == 200).then_some(())
    })
    .expect("/readyz back to 200 once NATS is back");
    let r = g.post_events(
        &event("down-1", "ad_impression", "a@example.com").to_string(),
        "application/json",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = expected_event_id(KEY_A, "down-1");
    wait_for(Duration::from_secs(20), || {
        delivered(&mock)
            .iter()
            .any(|e| e["event_id"] == id.as_str())
            .then_some(())
    })
    .expect("delivered after NATS came back");
}

#[test]
fn check_config_verifies_the_cluster() {
    use crate::common::run::Run;
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adgate.toml");
    let data = dir.path().join("data");
    let check = |outbox: &str| -> Run {
        let cfg = format!(
            "{}{}{outbox}",
            HEAD.replace("{DATA}", data.to_str().unwrap()),
            pull_partner("alpha", "T_FEED_A", "K_A", "")
        );
        std::fs::write(&path, cfg).unwrap();
        Run::exec(
            std::process::Command::new(BIN)
                .args(["check-config", "--config", path.to_str().unwrap()])
                .envs(env()),
        )
    };
    let secrets: Vec<String> = env().into_values().filter(|v| v.len() >= 16).collect();
    let ok = nats::outbox_section(&[server.url()], 1);
    check(&ok)
        .code(0)
        .stdout_has("outbox: jetstream")
        .stdout_has("jetstream: reachable")
        .stdout_has("stream ADGATE_OUT_alpha: missing, created at start")
        .stdout_has("streams with replicas = 1 can be created")
        .no_secrets(&secrets);
    // Three copies on one server cannot be made: refused before serving.
    check(&nats::outbox_section(&[server.url()], 3))
        .code(2)
        .stderr_has("outbox.replicas")
        .no_secrets(&secrets);
    // Nobody listening there.
    let dead = format!(
        "{}connect_timeout_ms = 1000\n",
        nats::outbox_section(&["nats://127.0.0.1:1".to_string()], 1)
    );
    check(&dead)
        .code(2)
        .stderr_has("outbox.servers")
        .stderr_has("cannot reach NATS")
        .no_secrets(&secrets);
    // A wrong password is a failure too, and is never printed.
    let mut bad_env = env();
    bad_env.insert(
        "T_NATS_PASS".into(),
        "wrong-password-0123456789abcdef".into(),
    );
    let cfg = format!(
        "{}{}{ok}connect_timeout_ms = 1000\n",
        HEAD.replace("{DATA}", data.to_str().unwrap()),
        pull_partner("alpha", "T_FEED_A", "K_A", "")
    );
    std::fs::write(&path, cfg).unwrap();
    Run::exec(
        std::process::Command::new(BIN)
            .args(["check-config", "--config", path.to_str().unwrap()])
            .envs(bad_env),
    )
    .code(2)
    .stderr_has("outbox.servers")
    .nowhere("wrong-password-0123456789abcdef");
    // Once a gateway ran, the streams and consumer exist.
    let mock_cfg = format!("{HEAD}{}{ok}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    let g = Gateway::start(&mock_cfg, env());
    drop(g);
    check(&ok)
        .code(0)
        .stdout_has("stream ADGATE_OUT_alpha: exists")
        .stdout_has("consumer adgate-alpha: exists")
        .stdout_has("bucket adgate_optouts: exists")
        .stdout_has("bucket adgate_ledger: exists");
}

#[test]
fn outbox_section_mistakes_are_refused_with_key_and_fix() {
    use crate::common::run::Run;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adgate.toml");
    let data = dir.path().join("data");
    let base = format!(
        "{}{}",
        HEAD.replace("{DATA}", data.to_str().unwrap()),
        pull_partner("alpha", "T_FEED_A", "K_A", "")
    );
    let js =
        "[outbox]\nbackend = \"jetstream\"\ninternal_key_env = \"T_INTERNAL_KEY\"\nreplicas = 1\n";
    for (outbox, key, mentions) in [
        (
            "[outbox]\nbackend = \"kafka\"\n",
            "outbox.backend",
            "jetstream",
        ),
        (
            "[outbox]\nreplicas = 3\n",
            "outbox.replicas",
            "only applies",
        ),
        (js, "outbox.servers", "needs the NATS servers"),
        (
            &format!(
                "{js}servers = [\"nats://adgate:{}@127.0.0.1:4222\"]\n",
                nats::NATS_PASSWORD
            )[..],
            "outbox.servers[0]",
            "credentials",
        ),
        (
            "[outbox]\nbackend = \"jetstream\"\nservers = [\"nats://127.0.0.1:4222\"]\n",
            "outbox.internal_key_env",
            "shared internal key",
        ),
        (
            &format!("{js}servers = [\"nats://127.0.0.1:4222\"]\nuser = \"adgate\"\n")[..],
            "outbox.user",
            "password",
        ),
        (
            &format!("{js}servers = [\"127.0.0.1\"]\n")[..],
            "outbox.servers[0]",
            "host:port",
        ),
    ] {
        std::fs::write(&path, format!("{base}{outbox}")).unwrap();
        Run::exec(
            std::process::Command::new(BIN)
                .args(["check-config", "--config", path.to_str().unwrap()])
                .envs(env()),
        )
        .code(2)
        .stderr_has(key)
        .stderr_has(mentions)
        .stderr_has("fix:")
        .nowhere(nats::NATS_PASSWORD)
        .nowhere(nats::INTERNAL_KEY);
    }
    // on_full = "dead_letter" cannot be honoured by a stream.
    let cfg = format!(
        "{}{}{js}servers = [\"nats://127.0.0.1:4222\"]\n",
        HEAD.replace("{DATA}", data.to_str().unwrap()),
        pull_partner("alpha", "T_FEED_A", "K_A", "on_full = \"dead_letter\"")
    );
    std::fs::write(&path, cfg).unwrap();
    Run::exec(
        std::process::Command::new(BIN)
            .args(["check-config", "--config", path.to_str().unwrap()])
            .envs(env()),
    )
    .code(2)
    .stderr_has("partners[0].on_full")
    .stderr_has("reject");
}

/// Discard-new: a full stream refuses the publish, ingest answers 503 with
/// Retry-After (never a silent loss), and the producer's retry completes the
/// request without routing anything twice to the partner that had room.
#[test]
fn full_stream_gives_503_and_the_retry_routes_nothing_twice() {
    nats::set_backend(nats::Backend::JetStream);
    let cfg = format!(
        "{HEAD}{}{}",
        pull_partner("alpha", "T_FEED_A", "K_A", "outbox_max_bytes = 65536"),
        pull_partner("beta", "T_FEED_B", "K_B", "")
    );
    let g = Gateway::start(&cfg, base_env());
    let batch = |n: usize| -> String {
        ndjson(
            &(0..50)
                .map(|i| event(&format!("f-{n}-{i}"), "ad_impression", "a@example.com"))
                .collect::<Vec<_>>(),
        )
    };
    let mut refused = None;
    for n in 0..100 {
        let r = g.post_events(&batch(n), "application/x-ndjson");
        if r.status == 503 {
            assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
            assert!(
                r.json()["error"].as_str().unwrap().contains("alpha"),
                "{}",
                r.body
            );
            refused = Some(n);
            break;
        }
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let refused = refused.expect("the 64 KiB stream fills up");
    // Room again, then the producer's retry of the refused request.
    let mut alpha = event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A));
    let ok = wait_for(Duration::from_secs(10), || {
        let r = g.post_events(&batch(refused), "application/x-ndjson");
        (r.status == 202).then_some(r)
    })
    .expect("the retry is accepted once there is room");
    assert_eq!(ok.json()["accepted"], 50, "{}", ok.body);
    alpha.extend(event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A)));
    let beta = event_ids(&drain_feed(&g, "beta", FEED_TOKEN_B));
    let want = 50 * (refused + 1);
    for (name, got) in [("alpha", &alpha), ("beta", &beta)] {
        let unique: HashSet<&String> = got.iter().collect();
        assert_eq!(unique.len(), want, "{name}: every accepted event");
        assert_eq!(got.len(), want, "{name}: nothing routed twice");
    }
}

/// NATS restarted on an empty store under a running gateway (a lost
/// volume, a rebuilt node; seventh fault pass, BUG-2): the gateway makes
/// its streams and consumer again without a restart, and writes the
/// opt-outs it holds back to the bucket, so an opted-out person's events
/// are still never delivered while everyone else's are.
#[test]
fn a_nats_store_lost_under_the_gateway_is_made_again_with_its_opt_outs() {
    let _turn = heavy();
    let mut server = NatsServer::start();
    let mock = MockPartner::always(200);
    let cfg = format!(
        "{HEAD}{}{}",
        push_acme(&mock.url()),
        nats::outbox_section(&[server.url()], 1)
    );
    let g = Gateway::start(&cfg, env());
    let gone = "opted.out@example.com";
    let r = g.admin_post("/v1/optouts", &serde_json::json!({ "email": gone }));
    assert_eq!(r.status, 200, "{}", r.body);
    let stored = nats::optout_keys(&server.url());
    assert!(stored > 0);

    server.kill();
    std::fs::remove_dir_all(server.store_dir().join("js")).expect("wipe the store");
    server.spawn();

    // Ingest is accepted again, and the bucket holds the opt-outs again,
    // without restarting the gateway.
    wait_for(Duration::from_secs(60), || {
        (nats::optout_keys_or_zero(&server.url()) >= stored).then_some(())
    })
    .expect("the opt-outs were not written back to the new bucket");
    let mut n = 0;
    wait_for(Duration::from_secs(60), || {
        n += 1;
        let evs = [
            event(&format!("gone-{n}"), "ad_impression", gone),
            event(&format!("kept-{n}"), "ad_impression", "kept@example.com"),
        ];
        let r = g.post_events(&ndjson(&evs), "application/x-ndjson");
        (r.status == 202).then_some(())
    })
    .expect("ingest never recovered after the NATS store was lost");
    let kept = expected_event_id(KEY_A, &format!("kept-{n}"));
    wait_for(Duration::from_secs(30), || {
        delivered(&mock)
            .iter()
            .any(|e| e["event_id"] == kept.as_str())
            .then_some(())
    })
    .expect("delivery never recovered after the NATS store was lost");
    let gone_id = expected_event_id(KEY_A, &format!("gone-{n}"));
    assert!(
        !delivered(&mock)
            .iter()
            .any(|e| e["event_id"] == gone_id.as_str()),
        "an opted-out person's event was delivered after NATS lost its store"
    );
    let logs = g.logs();
    assert!(
        logs.contains("opt-out bucket had lost opt-outs"),
        "no ERROR says the opt-outs were written back:\n{logs}"
    );
}
