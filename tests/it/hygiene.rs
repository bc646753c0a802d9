//! The hygiene check every integration test runs when its `Gateway` drops
//! (tests/it/common: no secret or posted identifier in the gateway's output or
//! /metrics) is only worth something if it can fail: here it is shown logs
//! that do contain a secret, an identifier, an unkeyed digest of an
//! identifier or a line of a TLS key, and must say so; and a real gateway
//! run is shown to pass it.

use crate::common::*;

fn needles() -> Vec<(String, String)> {
    vec![
        ("the secret in $T_ADMIN".into(), ADMIN_TOKEN.into()),
        (
            "the posted identifier \"jane.doe@example.com\"".into(),
            "jane.doe@example.com".into(),
        ),
        (
            "the secret in key.pem".into(),
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg".into(),
        ),
    ]
}

#[test]
fn the_checker_finds_a_secret_an_identifier_and_a_key_line_in_logs() {
    let clean = r#"{"level":"INFO","message":"config reloaded"}
adgate_events_received_total{producer="web"} 3
"#;
    assert!(leaks(clean, &needles()).is_empty());

    let token = format!("{clean}{{\"message\":\"bad token {ADMIN_TOKEN}\"}}\n");
    assert_eq!(leaks(&token, &needles()), vec!["the secret in $T_ADMIN"]);

    let metric = format!("{clean}adgate_x{{user=\"jane.doe@example.com\"}} 1\n");
    assert_eq!(
        leaks(&metric, &needles()),
        vec!["the posted identifier \"jane.doe@example.com\""]
    );

    let key = format!("{clean}key: MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg...\n");
    assert_eq!(leaks(&key, &needles()), vec!["the secret in key.pem"]);
}

#[test]
fn the_checker_finds_unkeyed_digests_of_posted_identifiers() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let posted = vec![
        "Jane.Doe@Example.com".to_string(),
        "+1 206 555 0100".to_string(),
        "acct-77812".to_string(),
    ];
    let clean = r#"{"level":"INFO","message":"routed","trace":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;
    assert!(digest_leaks(clean, &posted).is_empty());
    let sha256_email = hex_lower(&sha2::Sha256::digest(b"jane.doe@example.com"));
    let md5_phone =
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b"+12065550100"));
    let sha1_account = hex_lower(&sha1::Sha1::digest(b"acct-77812")).to_uppercase();
    let sha512_phone = hex_lower(&sha2::Sha512::digest(b"12065550100"));
    for (line, who) in [
        (format!("subject={sha256_email}"), "Jane.Doe@Example.com"),
        (format!("{{\"k\":\"{md5_phone}\"}}"), "+1 206 555 0100"),
        (format!("id {sha1_account} done"), "acct-77812"),
        (format!("x{sha512_phone}"), "+1 206 555 0100"),
        // A truncated log field still holds a full SHA-1-long window.
        (format!("h={}", &sha256_email[..40]), "Jane.Doe@Example.com"),
    ] {
        let found = digest_leaks(&format!("{clean}\n{line}\n"), &posted);
        assert_eq!(
            found,
            vec![format!(
                "an unkeyed digest of the posted identifier {who:?}"
            )],
            "{line}"
        );
    }
}

#[test]
fn identifiers_are_found_in_json_arrays_ndjson_and_opt_out_bodies() {
    let ev = event("e-hyg-1", "ad_impression", "Jane.Doe@Example.com");
    let ids = identifiers_in(&ev.to_string());
    for want in [
        "Jane.Doe@Example.com",
        "acct-e-hyg-1",
        "+1 206 555 0100",
        "203.0.113.9",
    ] {
        assert!(ids.contains(&want.to_string()), "{want} not in {ids:?}");
    }
    let two = ndjson(&[
        ev.clone(),
        event("e-hyg-2", "ad_impression", "x.y@example.org"),
    ]);
    assert!(identifiers_in(&two).contains(&"x.y@example.org".to_string()));
    assert!(
        identifiers_in(&serde_json::json!([ev]).to_string()).contains(&"acct-e-hyg-1".to_string())
    );
    assert_eq!(
        identifiers_in(r#"{"device_id": "dev-1234-abcd"}"#),
        vec!["dev-1234-abcd".to_string()]
    );
    // Short ids would match by chance: left out.
    assert!(identifiers_in(r#"{"account_id": "A1"}"#).is_empty());
}

/// A real run: events with identifiers, an opt-out, a forget; the drop
/// check (which reads the logs and /metrics) must pass, and the gateway
/// must have been given what the check looks for.
#[test]
fn a_full_gateway_run_leaks_nothing() {
    let config = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    let g = Gateway::start(&config, base_env());
    let events: Vec<_> = (0..5)
        .map(|i| {
            event(
                &format!("hyg-{i}"),
                "ad_impression",
                &format!("person{i}@example.com"),
            )
        })
        .collect();
    assert_eq!(
        g.post_events(&ndjson(&events), "application/x-ndjson")
            .status,
        202
    );
    let bad = r#"{"event_id":"hyg-bad","event_type":"ad_impression","timestamp":"yesterday","user":{"email":"bad.timestamp@example.com"}}"#;
    assert_eq!(g.post_events(bad, "application/json").status, 202);
    for path in ["/v1/optouts", "/v1/forget"] {
        let r = g.request(
            "POST",
            path,
            Some(ADMIN_TOKEN),
            &[("Content-Type", "application/json")],
            br#"{"email": "person3@example.com"}"#,
        );
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let r = g.get("/v1/feed/alpha?max=100", Some(FEED_TOKEN_A));
    assert_eq!(r.status, 200);
    let needles = g.needles();
    for want in [
        "person0@example.com",
        "bad.timestamp@example.com",
        "acct-hyg-4",
        PRODUCER_TOKEN,
    ] {
        assert!(
            needles.iter().any(|(_, v)| v == want),
            "the check does not look for {want}"
        );
    }
    assert!(leaks(&g.logs(), &needles).is_empty());
    let posted = g.posted.lock().unwrap().clone();
    assert!(posted.contains(&"person0@example.com".to_string()));
    assert!(digest_leaks(&format!("{}{}", g.logs(), g.metrics()), &posted).is_empty());
}
