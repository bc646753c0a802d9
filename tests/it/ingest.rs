//! Ingest (see docs/http-api.md) against the real binary: every status code with its
//! body, body forms, gzip and gzip bombs, limits, auth, idempotency and the
//! metrics that count them.

use std::io::Write;

use crate::common::*;
use serde_json::json;

fn gateway() -> Gateway {
    let cfg = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    Gateway::start(&cfg, base_env())
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

backend_tests!(single_object_array_and_ndjson_are_accepted);
fn single_object_array_and_ndjson_are_accepted() {
    let g = gateway();
    let r = g.post_events(
        &event("o1", "ad_impression", "a@example.com").to_string(),
        "application/json",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"accepted": 1, "rejected": 0, "duplicates": 0, "errors": []})
    );

    let arr = json!([
        event("a1", "ad_impression", "b@example.com"),
        event("a2", "app_install", "c@example.com")
    ]);
    let r = g.post_events(&arr.to_string(), "application/json");
    assert_eq!(r.json()["accepted"], 2);

    let nd = ndjson(&[
        event("n1", "ad_impression", "d@example.com"),
        event("n2", "ad_impression", "e@example.com"),
    ]);
    let r = g.post_events(&nd, "application/x-ndjson");
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["accepted"], 2);
    assert_eq!(
        g.metric("adgate_events_routed_total{partner=\"alpha\"}"),
        5.0
    );
    assert_eq!(
        g.metric("adgate_events_received_total{producer=\"web\"}"),
        5.0
    );
}

backend_tests!(mixed_batch_rejects_by_index_and_keeps_the_rest);
fn mixed_batch_rejects_by_index_and_keeps_the_rest() {
    let g = gateway();
    let mut no_type = event("m2", "x", "x@example.com");
    no_type.as_object_mut().unwrap().remove("event_type");
    let mut bad_ts = event("m3", "ad_impression", "y@example.com");
    bad_ts["timestamp"] = json!("yesterday");
    let body = format!(
        "{}\n{{not json\n{}\n{}\n",
        event("m1", "ad_impression", "z@example.com"),
        no_type,
        bad_ts
    );
    let r = g.post_events(&body, "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    let v = r.json();
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"], 3);
    let errs = v["errors"].as_array().unwrap();
    let idx: Vec<u64> = errs.iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, vec![1, 2, 3]);
    assert!(errs[0]["error"].as_str().unwrap().contains("invalid_json"));
    assert!(errs[1]["error"].as_str().unwrap().contains("event_type"));
    assert!(errs[2]["error"].as_str().unwrap().contains("timestamp"));
    // The message names the field, never its content.
    assert!(!r.body.contains("yesterday"));
    let m = g.metrics();
    assert_eq!(
        metric_value(&m, "adgate_events_rejected_total{reason=\"invalid_json\"}"),
        1.0
    );
    assert_eq!(
        metric_value(&m, "adgate_events_rejected_total{reason=\"missing_field\"}"),
        1.0
    );
    assert_eq!(
        metric_value(&m, "adgate_events_rejected_total{reason=\"invalid_field\"}"),
        1.0
    );
    assert_eq!(
        metric_value(&m, "adgate_events_received_total{producer=\"web\"}"),
        4.0
    );

    // An array element that is not an object is rejected by index too.
    let r = g.post_events(
        &json!([event("m4", "ad_impression", "q@example.com"), 7]).to_string(),
        "application/json",
    );
    assert_eq!(r.json()["rejected"], 1);
    assert_eq!(r.json()["errors"][0]["index"], 1);

    // A body that is one event with a key given twice is JSON: the event
    // is rejected by index as invalid_json (the same event as one line of
    // NDJSON is), not the body with a 400.
    let dup = r#"{"event_id":"m5","event_id":"m6","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z"}"#;
    for (body, ct) in [
        (dup.to_owned(), "application/json"),
        (format!("[{dup}]"), "application/json"),
        (format!("{dup}\n"), "application/x-ndjson"),
    ] {
        let r = g.post_events(&body, ct);
        assert_eq!(r.status, 202, "{body}: {}", r.body);
        assert_eq!(r.json()["rejected"], 1, "{}", r.body);
        let e = r.json()["errors"][0]["error"].as_str().unwrap().to_owned();
        assert!(
            e.starts_with("invalid_json: ") && e.contains("appears twice"),
            "{e}"
        );
    }

    // Nesting past the reader's depth: rejected by index, and the message
    // says why (not a bare syntax error), beside a good event that is kept.
    let deep = format!(
        r#"{{"event_id":"m7","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","x":{}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let good = event("m8", "ad_impression", "r@example.com").to_string();
    let r = g.post_events(&format!("{deep}\n{good}\n"), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], 1, "{}", r.body);
    assert_eq!(r.json()["errors"][0]["index"], 0, "{}", r.body);
    let e = r.json()["errors"][0]["error"].as_str().unwrap().to_owned();
    assert!(
        e.starts_with("invalid_json: ") && e.contains("nested more than 127 deep"),
        "{e}"
    );
}

backend_tests!(status_codes_and_error_bodies);
fn status_codes_and_error_bodies() {
    let g = gateway();
    let ok = event("s1", "ad_impression", "a@example.com").to_string();
    // 401: no token, wrong token, another role's token.
    for tok in [None, Some("nope"), Some(FEED_TOKEN_A), Some(ADMIN_TOKEN)] {
        let r = g.request(
            "POST",
            "/v1/events",
            tok,
            &[("Content-Type", "application/json")],
            ok.as_bytes(),
        );
        assert_eq!(r.status, 401, "{tok:?}");
        assert!(r.json()["error"].is_string());
    }
    // 415
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[("Content-Type", "text/plain")],
        ok.as_bytes(),
    );
    assert_eq!(r.status, 415);
    assert!(r.json()["error"].as_str().unwrap().contains("Content-Type"));
    // 400: not JSON at all, empty, scalar.
    for body in ["{not json", "", "42"] {
        let r = g.post_events(body, "application/json");
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    // JSON that is no event is rejected by index, even when no element or
    // line is an object (docs/http-api.md), and nothing is accepted.
    for (body, ct, n) in [
        ("[1, 2]", "application/json", 2),
        ("[1, \"x\", null]", "application/json", 3),
        ("1\n2\n", "application/x-ndjson", 2),
    ] {
        let r = g.post_events(body, ct);
        assert_eq!(r.status, 202, "{body:?}: {}", r.body);
        let v = r.json();
        assert_eq!(
            (v["accepted"].as_u64(), v["rejected"].as_u64()),
            (Some(0), Some(n)),
            "{body:?}"
        );
        assert_eq!(v["errors"][0]["index"], 0, "{body:?}");
        assert!(
            v["errors"][0]["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid_json"),
            "{body:?}"
        );
    }
    // 405 with Allow
    let r = g.get("/v1/events", Some(PRODUCER_TOKEN));
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").map(String::as_str), Some("POST"));
    // 404
    assert_eq!(g.get("/nope", None).status, 404);
    // Nothing was routed by any of these.
    assert_eq!(
        g.metric("adgate_events_routed_total{partner=\"alpha\"}"),
        0.0
    );
}

backend_tests!(oversize_body_is_413_declared_or_streamed);
fn oversize_body_is_413_declared_or_streamed() {
    let cfg = format!(
        "{}{}",
        HEAD.replace(
            "shutdown_grace_seconds = 5",
            "shutdown_grace_seconds = 5\nmax_body_bytes = 100000"
        ),
        pull_partner("alpha", "T_FEED_A", "K_A", "")
    );
    let g = Gateway::start(&cfg, base_env());
    let big: Vec<serde_json::Value> = (0..250)
        .map(|i| event(&format!("b{i}"), "ad_impression", "a@example.com"))
        .collect();
    let body = ndjson(&big);
    assert!(body.len() > 100_000);
    let r = g.post_events(&body, "application/x-ndjson");
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("100000"));
    // Chunked (no Content-Length): limited while streaming.
    let r = chunked_post(&g, body.as_bytes());
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    // A declared oversize body the client holds back until it hears an
    // answer (with or without `Expect: 100-continue`): the 413 comes
    // without waiting for the body (the drain stops when nothing arrives;
    // its overall bound is 5 s, the read timeout here is 4 s).
    for expect in ["", "Expect: 100-continue\r\n"] {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(g.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(4)))
            .unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PRODUCER_TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 5000000\r\n{expect}\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut got = [0u8; 64];
        let n = s.read(&mut got).expect("answered before the body was sent");
        let text = String::from_utf8_lossy(&got[..n]);
        assert!(text.starts_with("HTTP/1.1 413"), "{expect:?}: {text}");
    }
    // A gzip bomb: tiny on the wire, huge inflated.
    let bomb = gzip(&vec![b' '; 50 * 1024 * 1024]);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(
        g.metric("adgate_events_routed_total{partner=\"alpha\"}"),
        0.0
    );
    // The server is still fine.
    let r = g.post_events(
        &event("after", "ad_impression", "a@example.com").to_string(),
        "application/json",
    );
    assert_eq!(r.status, 202);
}

backend_tests!(a_request_with_hundreds_of_header_fields_is_read);
/// Proxies add headers: a request with 400 fields (hyper's default allows
/// 100, then answers 431 with no body) is read, and a `Sec-GPC: 1` after
/// all of them still counts.
fn a_request_with_hundreds_of_header_fields_is_read() {
    use std::io::Read;
    let g = gateway();
    let extra: String = (0..400)
        .map(|i| format!("X-Proxy-{i}: hop-{i}\r\n"))
        .collect();
    let post = |id: &str, gpc: &str| {
        let body = ndjson(&[event(id, "ad_impression", "a@example.com")]);
        let mut s = std::net::TcpStream::connect(g.addr).unwrap();
        s.write_all(
            format!(
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PRODUCER_TOKEN}\r\nContent-Type: application/x-ndjson\r\n{extra}{gpc}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    let answer = post("many-headers", "");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    assert_eq!(
        g.metric("adgate_events_routed_total{partner=\"alpha\"}"),
        1.0
    );
    // The opt-out after 400 other fields: accepted, not routed.
    let answer = post("many-headers-gpc", "Sec-GPC: 1\r\n");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert_eq!(
        g.metric("adgate_events_routed_total{partner=\"alpha\"}"),
        1.0
    );
}

fn chunked_post(g: &Gateway, body: &[u8]) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(g.addr).unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PRODUCER_TOKEN}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    for c in body.chunks(1000) {
        if s.write_all(format!("{:x}\r\n", c.len()).as_bytes())
            .is_err()
        {
            break;
        }
        let _ = s.write_all(c);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

backend_tests!(chunked_body_within_limit_is_accepted);
fn chunked_body_within_limit_is_accepted() {
    let g = gateway();
    let body = ndjson(&[
        event("c1", "ad_impression", "a@example.com"),
        event("c2", "ad_impression", "b@example.com"),
    ]);
    let r = chunked_post(&g, body.as_bytes());
    assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    assert!(r.contains("\"accepted\":2"), "{r}");
}

backend_tests!(gzip_bodies_are_accepted);
fn gzip_bodies_are_accepted() {
    let g = gateway();
    let body = ndjson(&[
        event("g1", "ad_impression", "a@example.com"),
        event("g2", "ad_impression", "b@example.com"),
    ]);
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Content-Encoding", "gzip"),
        ],
        &gzip(body.as_bytes()),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], 2);
    // Not actually gzip: a clear 400.
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Content-Encoding", "gzip"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 400);
}

backend_tests!(duplicate_event_ids_are_accepted_but_not_routed_again);
fn duplicate_event_ids_are_accepted_but_not_routed_again() {
    let g = gateway();
    let e = event("dup-1", "ad_impression", "a@example.com").to_string();
    assert_eq!(
        g.post_events(&e, "application/json").json()["duplicates"],
        0
    );
    let r = g.post_events(&e, "application/json");
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["accepted"], 1);
    assert_eq!(r.json()["duplicates"], 1);
    // Within one body too.
    let body = ndjson(&[
        event("dup-2", "ad_impression", "a@example.com"),
        event("dup-2", "ad_impression", "a@example.com"),
    ]);
    let r = g.post_events(&body, "application/x-ndjson");
    assert_eq!(r.json()["accepted"], 2);
    assert_eq!(r.json()["duplicates"], 1);
    assert_eq!(
        g.metric("adgate_events_routed_total{partner=\"alpha\"}"),
        2.0
    );
    let feed = g.get("/v1/feed/alpha?max=100", Some(FEED_TOKEN_A)).json();
    assert_eq!(feed["events"].as_array().unwrap().len(), 2);
}

backend_tests!(policy_drops_are_counted_per_partner_and_reason);
fn policy_drops_are_counted_per_partner_and_reason() {
    let g = gateway();
    let mut minor = event("p1", "ad_impression", "kid@example.com");
    minor["user"]["age"] = json!(12);
    let mut gpc = event("p2", "ad_impression", "g@example.com");
    gpc["consent"]["gpc"] = json!(true);
    let mut health = event("p3", "ad_impression", "h@example.com");
    health["context"]["category"] = json!("health");
    let purchase = event("p4", "purchase", "p@example.com");
    let mut leak = event("p5", "ad_impression", "l@example.com");
    leak["ad"]["placement"] = json!("call 206-555-0100");
    let r = g.post_events(
        &ndjson(&[minor, gpc, health, purchase, leak]),
        "application/x-ndjson",
    );
    assert_eq!(r.json()["accepted"], 5);
    let m = g.metrics();
    for reason in [
        "minor",
        "opted_out",
        "sensitive",
        "not_allowed",
        "pii_guard",
    ] {
        assert_eq!(
            metric_value(
                &m,
                &format!("adgate_events_dropped_total{{partner=\"alpha\",reason=\"{reason}\"}}")
            ),
            1.0,
            "{reason}"
        );
    }
    assert_eq!(
        metric_value(&m, "adgate_events_routed_total{partner=\"alpha\"}"),
        0.0
    );
}

backend_tests!(health_ready_and_metrics_format);
fn health_ready_and_metrics_format() {
    let g = gateway();
    assert_eq!(g.get("/healthz", None).status, 200);
    assert_eq!(g.get("/readyz", None).status, 200);
    let m = g.get("/metrics", None);
    assert_eq!(m.status, 200);
    assert!(m.headers["content-type"].starts_with("text/plain"));
    for name in [
        "adgate_events_received_total",
        "adgate_events_rejected_total",
        "adgate_events_routed_total",
        "adgate_events_dropped_total",
        "adgate_events_delivered_total",
        "adgate_dead_letter_total",
        "adgate_outbox_events",
        "adgate_outbox_bytes",
        "adgate_http_requests_total",
        "adgate_http_request_duration_seconds",
        "adgate_build_info",
    ] {
        assert!(
            m.body.contains(&format!("# TYPE {name} ")),
            "{name} missing"
        );
    }
    // A real Prometheus text parser agrees, when promtool is installed (CI
    // installs it; `promtool check metrics` also lints names and help).
    if let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(m.body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        // The lines below still check the format without it.
        skip_or_fail(
            "promtool check metrics",
            "promtool is not installed",
            "apt-get install prometheus (scripts/test.sh does)",
        );
    }
    // Every sample line parses as `name{labels} value`.
    for line in m
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, v) = line.rsplit_once(' ').unwrap();
        assert!(v.parse::<f64>().is_ok(), "{line}");
    }
}

backend_tests!(h2c_prior_knowledge_is_served);
fn h2c_prior_knowledge_is_served() {
    let g = gateway();
    let addr = g.addr;
    let body = event("h2-1", "ad_impression", "a@example.com").to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, text) = rt.block_on(async move {
        use http_body_util::BodyExt;
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tcp),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::post(format!("http://{addr}/v1/events"))
            .header("Authorization", format!("Bearer {PRODUCER_TOKEN}"))
            .header("Content-Type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.version(), hyper::Version::HTTP_2);
        let status = resp.status().as_u16();
        let text = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&text).to_string())
    });
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("\"accepted\":1"), "{text}");
}

backend_tests!(refused_requests_keep_the_connection_alive);
/// Regression: a refused request (401, 415) used to be answered without
/// reading its body, so hyper closed the client's keep-alive connection.
fn refused_requests_keep_the_connection_alive() {
    use std::io::{BufRead, BufReader, Read};
    let g = gateway();
    let mut s = std::net::TcpStream::connect(g.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let body = "x".repeat(200_000);
    let mut status_of = |head: String, body: &str| -> u16 {
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut b = vec![0; len];
        r.read_exact(&mut b).unwrap();
        status
    };
    let post = |token: &str, ct: &str| {
        format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
    };
    assert_eq!(status_of(post("wrong", "application/json"), &body), 401);
    assert_eq!(status_of(post(PRODUCER_TOKEN, "text/plain"), &body), 415);
    assert_eq!(
        status_of("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".into(), ""),
        200
    );
}

/// A large body does not hold the runtime. With one HTTP worker
/// (`TOKIO_WORKER_THREADS=1`), health probes sent while a 10,000-event
/// body is being scrubbed are answered within a small part of that
/// request's time (the scrub gives its turn back every 512 events), not
/// once the body is done.
#[test]
fn probes_are_answered_while_a_large_body_is_scrubbed() {
    use std::time::{Duration, Instant};
    let cfg = format!("{HEAD}{}", pull_partner("alpha", "T_FEED_A", "K_A", ""));
    let mut env = base_env();
    env.insert("TOKIO_WORKER_THREADS".into(), "1".into());
    let g = Gateway::start(&cfg, env);
    let events: Vec<_> = (0..10_000)
        .map(|i| {
            event(
                &format!("big-{i}"),
                "ad_impression",
                &format!("p{i}@example.com"),
            )
        })
        .collect();
    let body = ndjson(&events);
    std::thread::scope(|s| {
        let big = s.spawn(|| {
            let t = Instant::now();
            let r = g.post_events(&body, "application/x-ndjson");
            (r, t.elapsed())
        });
        let (mut worst, mut probes) = (Duration::ZERO, 0);
        while !big.is_finished() {
            let t = Instant::now();
            assert_eq!(g.get("/healthz", None).status, 200);
            worst = worst.max(t.elapsed());
            probes += 1;
        }
        let (r, took) = big.join().unwrap();
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.json()["accepted"], 10_000);
        assert!(
            worst < took / 3,
            "the slowest of {probes} probes took {worst:?}, the 10,000-event request {took:?}"
        );
    });
}
