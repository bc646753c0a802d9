//! The admin API (see docs/http-api.md) against the real binary: opt-outs stop delivery,
//! forget purges what is queued in every outbox (pull and push alike), the
//! admin token guards both, bad bodies get a precise 400, and nothing raw
//! about a subject is ever written to the data dir.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A helper event for one person: `email`, `account_id` and `phone` are
/// theirs alone, so an opt-out of one person touches no one else.
fn person_event(id: &str, email: &str, account: &str, phone: &str) -> Value {
    let mut e = event(id, "ad_impression", email);
    e["user"]["account_id"] = json!(account);
    e["user"]["phone"] = json!(phone);
    e
}

fn post(g: &Gateway, evs: &[Value]) {
    let r = g.post_events(&ndjson(evs), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], evs.len(), "{}", r.body);
}

fn admin(g: &Gateway, route: &str, token: Option<&str>, body: &str) -> Resp {
    g.request(
        "POST",
        route,
        token,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn ids(key: &str, ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|id| expected_event_id(key, id)).collect()
}

fn pull_only() -> Gateway {
    let cfg = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    Gateway::start(&cfg, base_env())
}

backend_tests!(opted_out_subjects_are_not_delivered_others_are);
fn opted_out_subjects_are_not_delivered_others_are() {
    let g = pull_only();
    let r = admin(
        &g,
        "/v1/optouts",
        Some(ADMIN_TOKEN),
        r#"{"email": "Jane.Doe+x@Gmail.com"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Nobody received anything about her yet: nobody to notify.
    assert_eq!(r.json(), json!({"opted_out": true, "notified": []}));

    post(
        &g,
        &[
            // The same person, spelled as normalization allows.
            person_event("j1", "janedoe@gmail.com", "acct-j1", "+1 206 555 0101"),
            person_event("j2", " JANE.DOE@gmail.com", "acct-j2", "+1 206 555 0102"),
            person_event(
                "j3",
                "j.a.n.e.d.o.e+ads@googlemail.com",
                "acct-j3",
                "+1 206 555 0103",
            ),
            person_event("o1", "other@example.com", "acct-o1", "+1 206 555 0104"),
            person_event("o2", "jane.doe@example.com", "acct-o2", "+1 206 555 0105"),
        ],
    );
    let m = g.metrics();
    let dropped = metric_labeled(
        &m,
        "adgate_events_dropped_total",
        &[("partner", "alpha"), ("reason", "opted_out")],
    );
    // googlemail.com keeps its domain in the ad_id, but it is the same
    // mailbox as gmail.com: the opt-out matches it in its lenient form.
    assert_eq!(dropped, 3.0, "{m}");
    let got: HashSet<String> = event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A))
        .into_iter()
        .collect();
    assert_eq!(got, ids(KEY_A, &["o1", "o2"]));
    // The same person again, spelled differently: one opt-out, not two.
    let r = admin(
        &g,
        "/v1/optouts",
        Some(ADMIN_TOKEN),
        r#"{"email": " JaneDoe@GMAIL.com"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        metric_labeled(&g.metrics(), "adgate_optouts_total", &[("kind", "email")]),
        1.0
    );

    // An opt-out by account_id blocks events that carry it, whatever the
    // partner uses as ad_id.
    let r = admin(
        &g,
        "/v1/optouts",
        Some(ADMIN_TOKEN),
        r#"{"account_id": "acct-o9"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    post(
        &g,
        &[
            person_event("o9", "nine@example.com", "acct-o9", "+1 206 555 0109"),
            person_event("o8", "eight@example.com", "acct-o8", "+1 206 555 0108"),
        ],
    );
    let got: HashSet<String> = event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A))
        .into_iter()
        .collect();
    assert_eq!(got, ids(KEY_A, &["o8"]));
    // o1, o2 and o8.
    assert_eq!(
        g.metric("adgate_events_delivered_total{partner=\"alpha\"}"),
        3.0
    );
}

backend_tests!(an_optout_stops_the_persons_events_already_queued);
/// Events queued before a person opts out are not delivered after it: not
/// served by the pull feed, and taken out of a push batch waiting for its
/// retry (the fault pass saw all 20 queued events follow the opt-out's
/// notice). Other people's events in the same batches are delivered.
fn an_optout_stops_the_persons_events_already_queued() {
    let partner = MockPartner::start(std::sync::Arc::new(|_| {
        (503, vec![("Retry-After".to_string(), "1".to_string())])
    }));
    let cfg = format!(
        "{HEAD}{}{}",
        pull_partner("alpha", "T_FEED_A", "K_A", ""),
        push_partner("beta", &partner.url(), "K_B", "")
    );
    let g = Gateway::start(&cfg, base_env());
    let mut evs = Vec::new();
    for i in 0..10 {
        evs.push(person_event(
            &format!("q{i}"),
            "queued.person@example.com",
            "acct-q",
            "+1 206 555 0190",
        ));
        evs.push(person_event(
            &format!("k{i}"),
            &format!("keep{i}@example.com"),
            &format!("acct-k{i}"),
            "+1 206 555 0191",
        ));
    }
    post(&g, &evs);
    // beta's batch was tried and waits for its retry.
    wait_for(Duration::from_secs(30), || {
        (!partner.requests().is_empty()).then_some(())
    })
    .expect("beta is tried");

    let r = admin(
        &g,
        "/v1/optouts",
        Some(ADMIN_TOKEN),
        r#"{"email": "Queued.Person@example.com"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    partner.set(std::sync::Arc::new(|_| (200, Vec::new())));

    let keep: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
    let got: HashSet<String> = event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A))
        .into_iter()
        .collect();
    assert_eq!(
        got,
        ids(KEY_A, &keep),
        "the pull feed serves the others only"
    );

    // What beta answered 503 to before the opt-out does not count: only
    // what it accepted after it.
    let want = ids(KEY_B, &keep);
    let accepted = || -> HashSet<String> {
        partner
            .requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| event_ids(&r.events()))
            .collect()
    };
    wait_for(Duration::from_secs(30), || {
        want.is_subset(&accepted()).then_some(())
    })
    .expect("beta gets the others' events");
    // One more retry interval: nothing of the person follows.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        accepted(),
        want,
        "after the opt-out beta got only the others' events"
    );
}

backend_tests!(admin_api_requires_the_admin_token);
fn admin_api_requires_the_admin_token() {
    let g = pull_only();
    for route in ["/v1/optouts", "/v1/forget"] {
        for token in [
            None,
            Some("wrong"),
            Some(PRODUCER_TOKEN),
            Some(FEED_TOKEN_A),
        ] {
            let r = admin(&g, route, token, r#"{"email": "a@example.com"}"#);
            assert_eq!(r.status, 401, "{route} {token:?}: {}", r.body);
            assert!(r.json()["error"].is_string());
        }
    }
    // Nothing was recorded: the subject's events still flow.
    post(&g, &[event("t1", "ad_impression", "a@example.com")]);
    assert_eq!(event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A)).len(), 1);
    assert_eq!(
        g.metric("adgate_events_dropped_total{partner=\"alpha\",reason=\"opted_out\"}"),
        0.0
    );
}

backend_tests!(bad_admin_bodies_are_400_with_a_clear_error);
fn bad_admin_bodies_are_400_with_a_clear_error() {
    let g = pull_only();
    for (body, mentions) in [
        ("{}", "one of email"),
        (r#"{"email": 5}"#, "string"),
        (
            r#"{"email": "a@b.co", "phone": "+12065550100"}"#,
            "exactly one",
        ),
        (r#"{"foo": "x"}"#, "unknown key"),
        (r#"{"email": "not-an-address"}"#, "email"),
        (r#"{"email": "   "}"#, "email"),
        // Too short to be a national number either (a national number
        // without a country is accepted: it is matched in lenient form).
        (r#"{"phone": "55 01"}"#, "phone"),
        (r#"{"account_id": ""}"#, "account_id"),
        ("not json", "JSON object"),
        (r#"["a@b.co"]"#, "JSON object"),
    ] {
        for route in ["/v1/optouts", "/v1/forget"] {
            let r = admin(&g, route, Some(ADMIN_TOKEN), body);
            assert_eq!(r.status, 400, "{route} {body}: {}", r.body);
            let err = r.json()["error"].as_str().unwrap().to_string();
            assert!(err.contains(mentions), "{body}: {err}");
            // The error names the problem, never the value.
            for v in ["not-an-address", "206 555 0100", "a@b.co"] {
                assert!(!err.contains(v), "{body}: {err}");
            }
        }
    }
    assert_eq!(
        metric_labeled(&g.metrics(), "adgate_optouts_total", &[("kind", "email")]),
        0.0
    );
    // A byte order mark before the JSON is read past (some tools write
    // one), not taken for a body that is no JSON object.
    let r = admin(
        &g,
        "/v1/optouts",
        Some(ADMIN_TOKEN),
        "\u{feff}{\"email\": \"bom@example.com\"}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["opted_out"], true, "{}", r.body);
}

backend_tests!(forget_purges_queued_events_from_every_outbox);
fn forget_purges_queued_events_from_every_outbox() {
    // The push partner is down and asks for a retry in RETRY_AFTER: forget
    // lands between two attempts of the same batch. Seconds, so the forget
    // below is answered inside it even on two busy shared cores.
    const RETRY_AFTER: Duration = Duration::from_secs(5);
    let push_mock = MockPartner::start(std::sync::Arc::new(|_| {
        (
            503,
            vec![("Retry-After".to_string(), RETRY_AFTER.as_secs().to_string())],
        )
    }));
    let cfg = format!(
        "{HEAD}{}{}",
        pull_partner("alpha", "T_FEED_A", "K_A", ""),
        push_partner("pushy", &push_mock.url(), "K_B", "max_in_flight = 1"),
    );
    let g = Gateway::start(&cfg, base_env());
    let bob = |id| {
        person_event(
            id,
            "bob@example.com",
            &format!("acct-{id}"),
            "+1 206 555 0111",
        )
    };
    let alice = |id| {
        person_event(
            id,
            "alice@example.com",
            &format!("acct-{id}"),
            "+1 206 555 0122",
        )
    };
    post(
        &g,
        &[bob("b1"), alice("a1"), bob("b2"), alice("a2"), bob("b3")],
    );
    wait_for(Duration::from_secs(5), || {
        (!push_mock.requests().is_empty()).then_some(())
    })
    .expect("push delivery attempted");
    let first = push_mock.requests()[0].clone();
    assert_eq!(first.events().len(), 5, "one batch of all five");

    let r = admin(
        &g,
        "/v1/forget",
        Some(ADMIN_TOKEN),
        r#"{"email": "Bob@Example.com"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Queued, never delivered: purged, and no partner to notify.
    assert_eq!(
        r.json(),
        json!({"purged": 6, "notified": []}),
        "3 events x 2 outboxes"
    );
    assert_eq!(
        push_mock.requests().len(),
        1,
        "precondition: forget answered before the retry (the box stalled > {RETRY_AFTER:?})"
    );
    // Forgetting again finds nothing more.
    let r = admin(
        &g,
        "/v1/forget",
        Some(ADMIN_TOKEN),
        r#"{"email": "bob@example.com"}"#,
    );
    assert_eq!(r.json(), json!({"purged": 0, "notified": []}));
    let m = g.metrics();
    for p in ["alpha", "pushy"] {
        assert_eq!(
            metric_labeled(&m, "adgate_outbox_events", &[("partner", p)]),
            2.0,
            "{p}"
        );
    }

    // Pull: only alice's.
    let got: HashSet<String> = event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A))
        .into_iter()
        .collect();
    assert_eq!(got, ids(KEY_A, &["a1", "a2"]));
    wait_metric(&g, "adgate_outbox_events", &[("partner", "alpha")], 0.0);
    assert_eq!(
        g.metric("adgate_events_delivered_total{partner=\"alpha\"}"),
        2.0
    );

    // Push: the partner recovers and gets only alice's, at the retry.
    push_mock.set(std::sync::Arc::new(|_| (200, Vec::new())));
    let want = ids(KEY_B, &["a1", "a2"]);
    wait_for(RETRY_AFTER * 4, || {
        let acked: HashSet<String> = push_mock
            .requests()
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| r.events())
            .map(|e| e["event_id"].as_str().unwrap().to_string())
            .collect();
        want.is_subset(&acked).then_some(())
    })
    .expect("alice's events reach the recovered push partner");
    let bobs = ids(KEY_B, &["b1", "b2", "b3"]);
    let in_first: HashSet<String> = first
        .events()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert!(bobs.is_subset(&in_first), "the batch held bob's events");
    for (i, r) in push_mock.requests().iter().enumerate().skip(1) {
        for e in r.events() {
            assert!(
                !bobs.contains(e["event_id"].as_str().unwrap()),
                "request {i} (after forget) carried a forgotten event: {e}"
            );
        }
    }
    // The batch lost bob's events, so it is a new body under a new key:
    // a partner never sees one Idempotency-Key with two different bodies.
    let mut bodies: std::collections::HashMap<String, Vec<u8>> = Default::default();
    for r in push_mock.requests() {
        let b = bodies
            .entry(r.headers["idempotency-key"].clone())
            .or_insert_with(|| r.body.clone());
        assert_eq!(*b, r.body, "one key, two bodies");
    }
    assert!(bodies.len() >= 2, "the purged batch kept its key");
    let p = [("partner", "pushy")];
    wait_metric(&g, "adgate_outbox_events", &p, 0.0);
    assert_eq!(
        metric_labeled(&g.metrics(), "adgate_events_delivered_total", &p),
        2.0
    );
    // Bob's later events are not routed at all: forget is an opt-out too.
    post(&g, &[bob("b4")]);
    assert_eq!(
        metric_labeled(
            &g.metrics(),
            "adgate_events_dropped_total",
            &[("partner", "alpha"), ("reason", "opted_out")]
        ),
        1.0
    );
    assert!(event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A)).is_empty());
}

backend_tests!(nothing_raw_about_a_subject_reaches_the_data_dir);
fn nothing_raw_about_a_subject_reaches_the_data_dir() {
    let g = pull_only();
    let (email, email_norm) = ("Jane.Doe+x@Gmail.com", "janedoe@gmail.com");
    let (phone, phone_norm) = ("+1 (206) 555-0199", "+12065550199");
    let account = "ACCT-Secret-77";
    // Events about the subject are queued first, then the subject is
    // forgotten by account and opted out by email and phone.
    post(
        &g,
        &[
            person_event("s1", email, account, phone),
            person_event("s2", email_norm, "acct-other", phone_norm),
        ],
    );
    for body in [
        json!({"account_id": account}),
        json!({"email": email}),
        json!({"phone": phone}),
    ] {
        let r = admin(&g, "/v1/forget", Some(ADMIN_TOKEN), &body.to_string());
        assert_eq!(r.status, 200, "{body}: {}", r.body);
    }
    let r = admin(
        &g,
        "/v1/optouts",
        Some(ADMIN_TOKEN),
        &json!({"device_id": "dev-Secret-88"}).to_string(),
    );
    assert_eq!(r.status, 200);
    // Two keyed hashes per opt-out: the normalized form and the lenient
    // match form (src/identity.rs match_form); for an email and a phone
    // also one per distinct SHA-256 a producer may send pre-hashed
    // (src/profile/mod.rs prehashed_forms): the email as Meta and TikTok,
    // Google and adgate write it (3), in capitals or with a line end (2)
    // and capitalized as a CRM shows it (2: `Janedoe@gmail.com` and
    // `Janedoe@Gmail.com`), the phone with and without `+` and its
    // national number (3), each under both pre-hashed tags (a digest names
    // the person in either digest field).
    assert_eq!(g.optout_count(), 8 + 2 * (7 + 3), "keyed hashes stored");

    let sha = |s: &str| hex_lower(&Sha256::digest(s.as_bytes()));
    let mut needles: Vec<String> = vec![
        email.into(),
        email.to_lowercase(),
        email_norm.into(),
        phone.into(),
        phone_norm.into(),
        account.into(),
        account.to_lowercase(),
        "dev-Secret-88".into(),
        sha(email_norm),
        sha(email_norm).to_uppercase(),
        sha(&email.to_lowercase()),
        sha(phone_norm),
        sha(account),
        sha(&format!("email:{email_norm}")),
    ];
    needles.push(hex_lower(&md5::Md5::digest(email_norm.as_bytes())));
    for n in &needles {
        for dir in g.state_dirs() {
            if let Some(p) = dir_contains(&dir, n.as_bytes()) {
                panic!("{} contains {n:?}", p.display());
            }
        }
        assert!(!g.logs().contains(n.as_str()), "the log contains {n:?}");
    }
    assert!(
        event_ids(&drain_feed(&g, "alpha", FEED_TOKEN_A)).is_empty(),
        "both events were forgotten"
    );
}

backend_tests!(forget_erases_the_subjects_dead_letters_too);
fn forget_erases_the_subjects_dead_letters_too() {
    let refusing = MockPartner::always(400);
    let cfg = format!(
        "{HEAD}{}",
        push_partner("gamma", &refusing.url(), "K_A", "max_in_flight = 1")
    );
    let g = Gateway::start(&cfg, base_env());
    post(
        &g,
        &[
            person_event("dl-b1", "bob@example.com", "acct-bob-1", "+12065550101"),
            person_event("dl-a1", "alice@example.com", "acct-alice-1", "+12065550102"),
        ],
    );
    let dl = "gamma";
    let lines = |p: &str| -> Vec<Value> { g.dead_letters(p) };
    wait_for(Duration::from_secs(10), || {
        (lines(dl).len() == 2).then_some(())
    })
    .expect("both events dead-lettered");
    let r = admin(
        &g,
        "/v1/forget",
        Some(ADMIN_TOKEN),
        r#"{"account_id": "acct-bob-1"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let left = lines(dl);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        left[0]["event"]["event_id"],
        expected_event_id(KEY_A, "dl-a1")
    );
    // New dead letters still append to the rewritten file.
    post(
        &g,
        &[person_event(
            "dl-a2",
            "alice@example.com",
            "acct-alice-1",
            "+12065550102",
        )],
    );
    wait_for(Duration::from_secs(10), || {
        (lines(dl).len() == 2).then_some(())
    })
    .expect("appends after the rewrite");
}
