//! Consent signals through the served gateway: three pull partners with
//! different `[partners.consent]` settings, one body carrying TC strings,
//! GPP strings and Consent Mode values; each partner's feed holds exactly
//! the events its consent allows, the metrics count the rest as
//! `no_consent`, and a request with `Sec-GPC: 1` reaches nobody.

use std::collections::{BTreeSet, HashMap};

use crate::common::*;
use adgate::consent::gpp::{encode_header, UsSection, UsValues};
use adgate::consent::tcf::TcModel;
use serde_json::{json, Value};

const FEED_TOKEN_C: &str = "feed-token-c-0123456789abcdef0123456789abc";
const KEY_C: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

fn env() -> HashMap<String, String> {
    let mut e = base_env();
    e.insert("T_FEED_C".into(), FEED_TOKEN_C.into());
    e.insert("K_C".into(), KEY_C.into());
    e
}

/// alpha: TCF vendor 755 (default purposes 1, 3, 4); beta: no consent
/// table (GPP US opt-outs only); gamma: GPP off, Consent Mode required.
fn gateway() -> Gateway {
    let cfg = format!(
        "{HEAD}{}{}{}",
        pull_partner(
            "alpha",
            "T_FEED_A",
            "K_A",
            "[partners.consent]\ntcf_vendor_id = 755\n"
        ),
        pull_partner("beta", "T_FEED_B", "K_B", ""),
        pull_partner(
            "gamma",
            "T_FEED_C",
            "K_C",
            "[partners.consent]\ngpp_us = false\nconsent_mode = \"required\"\n"
        ),
    );
    Gateway::start(&cfg, env())
}

fn tc(purposes: u32, vendors: Vec<u16>) -> String {
    TcModel {
        cmp_id: 31,
        consent_language: *b"EN",
        publisher_cc: *b"DE",
        policy_version: 4,
        purposes_consent: purposes,
        vendor_consents: vendors,
        vendor_consents_as_ranges: true,
        ..TcModel::default()
    }
    .encode()
}

fn gpp_ca_sale_opt_out() -> String {
    let ca = UsValues {
        version: 1,
        sale_opt_out_notice: 1,
        sale_opt_out: 1,
        sharing_opt_out: 2,
        mspa_covered_transaction: 2,
        ..UsValues::default()
    };
    format!(
        "{}~{}",
        encode_header(&[UsSection::UsCa.id()]),
        ca.encode(UsSection::UsCa)
    )
}

/// An event with `consent` replaced; Consent Mode granted unless `consent`
/// says otherwise.
fn ev(id: &str, consent: Value) -> Value {
    let mut e = event(id, "ad_impression", &format!("{id}@example.com"));
    let mut c = json!({"personalized_ads": true, "ad_user_data": "granted", "ad_personalization": "granted"});
    for (k, v) in consent.as_object().unwrap() {
        c[k] = v.clone();
    }
    e["consent"] = c;
    e
}

/// The producer event ids in a partner's feed.
fn feed(g: &Gateway, partner: &str, token: &str, key: &str, ids: &[&str]) -> BTreeSet<String> {
    let r = g.get(&format!("/v1/feed/{partner}?max=100"), Some(token));
    assert_eq!(r.status, 200, "{}", r.body);
    let by_pseudonym: HashMap<String, &str> = ids
        .iter()
        .map(|id| (expected_event_id(key, id), *id))
        .collect();
    r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let pid = e["event_id"].as_str().unwrap();
            assert!(
                e.get("consent").is_none(),
                "consent is never forwarded: {e}"
            );
            by_pseudonym
                .get(pid)
                .unwrap_or_else(|| panic!("{partner}: unknown event {e}"))
                .to_string()
        })
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_partner_receives_exactly_what_its_consent_allows() {
    let g = gateway();
    let all_ok = tc(0b1101, vec![3, 755, 756]);
    let no_purpose_4 = tc(0b0101, vec![755]);
    let events = [
        ev("e1", json!({"tcf": all_ok})),
        ev("e2", json!({"tcf": no_purpose_4})),
        ev("e3", json!({"gpp": gpp_ca_sale_opt_out()})),
        ev("e4", json!({"tcf": "not-a-tc-string"})),
        ev("e5", json!({"ad_personalization": "denied"})),
        ev("e6", json!({"gpp": "DBABBg~"})),
        ev("e7", json!({})),
        ev(
            "e8",
            json!({"tcf": all_ok, "gpp": gpp_ca_sale_opt_out(), "ad_user_data": "denied"}),
        ),
    ];
    let ids = ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"];
    let r = g.post_events(&ndjson(&events), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["accepted"], 8, "{}", r.body);

    assert_eq!(
        feed(&g, "alpha", FEED_TOKEN_A, KEY_A, &ids),
        set(&["e1", "e5", "e7"])
    );
    assert_eq!(
        feed(&g, "beta", FEED_TOKEN_B, KEY_B, &ids),
        set(&["e1", "e2", "e4", "e5", "e7"])
    );
    assert_eq!(
        feed(&g, "gamma", FEED_TOKEN_C, KEY_C, &ids),
        set(&["e1", "e2", "e3", "e4", "e6", "e7"])
    );

    let m = g.metrics();
    let dropped = |p: &str| {
        metric_labeled(
            &m,
            "adgate_events_dropped_total",
            &[("partner", p), ("reason", "no_consent")],
        )
    };
    assert_eq!(dropped("alpha"), 5.0, "e2, e3, e4, e6, e8");
    assert_eq!(dropped("beta"), 3.0, "e3, e6, e8");
    assert_eq!(dropped("gamma"), 2.0, "e5, e8");
    // No consent string appears in the logs or metrics.
    let logs = g.logs();
    for s in [all_ok.as_str(), no_purpose_4.as_str()] {
        assert!(!logs.contains(s) && !m.contains(s));
    }
}

#[test]
fn sec_gpc_header_opts_out_every_event_of_the_request() {
    let g = gateway();
    let events = [ev("g1", json!({})), ev("g2", json!({}))];
    let body = ndjson(&events);
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[("Content-Type", "application/x-ndjson"), ("Sec-GPC", "1")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    // The same events without the header are forwarded.
    let r = g.post_events(&ndjson(&[ev("g3", json!({}))]), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    // Every line of a repeated header counts: `Sec-GPC: 0` then
    // `Sec-GPC: 1` is an opt-out (written by hand: the HTTP client sends
    // one line per header name).
    let body = ndjson(&[ev("g4", json!({}))]);
    let mut s = std::net::TcpStream::connect(g.addr).unwrap();
    std::io::Write::write_all(
        &mut s,
        format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PRODUCER_TOKEN}\r\nContent-Type: application/x-ndjson\r\nSec-GPC: 0\r\nSec-GPC: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    // The structured-field boolean (RFC 8941) is an opt-out too.
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[("Content-Type", "application/x-ndjson"), ("Sec-GPC", "?1")],
        ndjson(&[ev("g5", json!({}))]).as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    // With parameters, its value is still ?1.
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Sec-GPC", "?1;src=browser"),
        ],
        ndjson(&[ev("g6", json!({}))]).as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    // Written as a word or quoted, and the older `X-Do-Not-Track` (the
    // eleventh red-team pass): the sender meant 1.
    for (id, name, value) in [
        ("g7", "Sec-GPC", "true"),
        ("g8", "Sec-GPC", "\"1\""),
        ("g9", "X-Do-Not-Track", "1"),
    ] {
        let r = g.request(
            "POST",
            "/v1/events",
            Some(PRODUCER_TOKEN),
            &[("Content-Type", "application/x-ndjson"), (name, value)],
            ndjson(&[ev(id, json!({}))]).as_bytes(),
        );
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let ids = ["g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9"];
    assert_eq!(feed(&g, "alpha", FEED_TOKEN_A, KEY_A, &ids), set(&["g3"]));
    assert_eq!(feed(&g, "beta", FEED_TOKEN_B, KEY_B, &ids), set(&["g3"]));
    assert_eq!(feed(&g, "gamma", FEED_TOKEN_C, KEY_C, &ids), set(&["g3"]));
    let m = g.metrics();
    for p in ["alpha", "beta", "gamma"] {
        let opted = metric_labeled(
            &m,
            "adgate_events_dropped_total",
            &[("partner", p), ("reason", "opted_out")],
        );
        assert_eq!(opted, 8.0, "{p}");
    }
}

/// Refusals and minors under names the SPEC does not give (Limit Ad
/// Tracking, ATT, do-not-sell, a minor flag, a birth year), and a `DNT: 1`
/// request, stop the person for every partner; the controls (the same
/// members saying yes) go through. Counted as the SPEC's reasons; a
/// consent member adgate does not read fails closed as `invalid`.
#[test]
fn refusals_under_other_names_and_dnt_opt_out() {
    let g = gateway();
    let mut minor = ev("o6", json!({}));
    minor["user"]["birth_year"] = json!(2013);
    let mut adult = ev("o7", json!({}));
    adult["user"]["birth_year"] = json!(1970);
    // OpenRTB's regs.coppa, and a consent member adgate does not read
    // (it could be a refusal: the event fails closed).
    let mut coppa = ev("o9", json!({}));
    coppa["regs"] = json!({"coppa": 1});
    let unknown = ev("o10", json!({"source": "cmp"}));
    let events = [
        ev("o1", json!({"limit_ad_tracking": true})),
        ev("o2", json!({"att_status": "denied"})),
        ev("o3", json!({"doNotSell": "yes"})),
        ev(
            "o4",
            json!({"limit_ad_tracking": false, "att_status": "authorized"}),
        ),
        ev("o5", json!({"is_minor": true})),
        minor,
        adult,
        coppa,
        unknown,
    ];
    let r = g.post_events(&ndjson(&events), "application/x-ndjson");
    assert_eq!(r.status, 202, "{}", r.body);
    let r = g.request(
        "POST",
        "/v1/events",
        Some(PRODUCER_TOKEN),
        &[("Content-Type", "application/x-ndjson"), ("DNT", "1")],
        ndjson(&[ev("o8", json!({}))]).as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let ids = ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", "o10"];
    for (p, token, key) in [
        ("alpha", FEED_TOKEN_A, KEY_A),
        ("beta", FEED_TOKEN_B, KEY_B),
        ("gamma", FEED_TOKEN_C, KEY_C),
    ] {
        assert_eq!(feed(&g, p, token, key, &ids), set(&["o4", "o7"]), "{p}");
    }
    let m = g.metrics();
    for p in ["alpha", "beta", "gamma"] {
        let count = |reason| {
            metric_labeled(
                &m,
                "adgate_events_dropped_total",
                &[("partner", p), ("reason", reason)],
            )
        };
        assert_eq!(count("opted_out"), 4.0, "{p}");
        assert_eq!(count("minor"), 3.0, "{p}");
        assert_eq!(count("invalid"), 1.0, "{p}");
    }
}

/// `adgate explain` names the signal that decided, per partner, and
/// `--sec-gpc` applies Global Privacy Control to every event.
#[test]
fn explain_names_the_deciding_signal() {
    let g = gateway();
    let events = ndjson(&[
        ev("x1", json!({"tcf": tc(0b0101, vec![755])})),
        ev("x2", json!({"gpp": gpp_ca_sale_opt_out()})),
        ev("x3", json!({"ad_user_data": "denied"})),
        ev("x4", json!({"tcf": "not-a-tc-string"})),
    ]);
    let file = g.data_dir().with_file_name("events.ndjson");
    std::fs::write(&file, &events).unwrap();
    let run = |extra: &[&str]| -> Value {
        let mut c = std::process::Command::new(BIN);
        c.arg("explain")
            .arg("--config")
            .arg(&g.config_path)
            .args(["--format", "json"])
            .args(extra)
            .arg(&file)
            .env_clear()
            .envs(env());
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let report = run(&[]);
    let decision = |i: usize, p: &str| -> (String, String) {
        let ps = report[i]["partners"].as_array().unwrap();
        let x = ps.iter().find(|x| x["partner"] == p).unwrap();
        (
            x["reason"].as_str().unwrap_or("").to_string(),
            x["detail"].as_str().unwrap_or("").to_string(),
        )
    };
    let want = [
        (0, "alpha", "no_consent", "TCF purpose 4 not consented"),
        (0, "beta", "", ""),
        (1, "alpha", "no_consent", "GPP usca SaleOptOut = opted out"),
        (1, "beta", "no_consent", "GPP usca SaleOptOut = opted out"),
        (1, "gamma", "", ""),
        (
            2,
            "gamma",
            "no_consent",
            "consent_mode = \"required\" and consent.ad_user_data is \"denied\"",
        ),
        (3, "alpha", "no_consent", "TC string could not be decoded"),
        (3, "gamma", "", ""),
    ];
    for (i, p, reason, detail) in want {
        let (r, d) = decision(i, p);
        assert_eq!(r, reason, "event {i}, {p}: {d}");
        assert!(d.starts_with(detail), "event {i}, {p}: {d}");
    }
    let report = run(&["--sec-gpc"]);
    for p in report[2]["partners"].as_array().unwrap() {
        // Consent refusals come first; the rest is opted out.
        let want = if p["partner"] == "gamma" {
            "no_consent"
        } else {
            "opted_out"
        };
        assert_eq!(p["reason"], want, "{p}");
    }
    assert!(report[2]["partners"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("Sec-GPC"));
}

/// Every US state section of the GPP registry is read (the red team's
/// rt5 strings reached every partner while only usnat, usca, usva, usco
/// and usct were): `adgate explain` names the usut or ustx field that
/// refused; a partner with `gpp_us = false` still gets the event.
#[test]
fn explain_reads_the_us_state_sections() {
    let g = gateway();
    // ustx (16), bits after Version 000001: ProcessingNotice 01,
    // SaleOptOutNotice 01, TargetedAdvertisingOptOutNotice 01, SaleOptOut
    // 10, TargetedAdvertisingOptOut 10, SensitiveDataProcessing 8 x 00,
    // KnownChildSensitiveDataConsents 01 (no consent: a known child),
    // AdditionalDataProcessingConsent 00, MspaCoveredTransaction 10,
    // MspaOptOutOptionMode 10, MspaServiceProviderMode 00:
    // 000001 010101 101000 000000 000000 000100 101000 = "BVoAAEo"; with
    // the child entry 00 instead, "BVoAAAo" (nobody opted out).
    let ustx_child = "DBABEw~BVoAAEo";
    let ustx_none = "DBABEw~BVoAAAo";
    let events = ndjson(&[
        // rt5-001: usut (11) SaleOptOut = TargetedAdvertisingOptOut = 1.
        ev("s1", json!({"gpp": "DBABFg~BVVAAAo"})),
        ev("s2", json!({"gpp": ustx_child})),
        ev("s3", json!({"gpp": ustx_none})),
        // rt5-015: usnat did not opt out, usut did.
        ev("s4", json!({"gpp": "DBACLW~BVVqAAAAAo~BVVAAAo"})),
        // rt5-012: usut, no opt-out, GPC sub-section Gpc = 1.
        ev("s5", json!({"gpp": "DBABFg~BVaAAAo.Y"})),
    ]);
    let file = g.data_dir().with_file_name("states.ndjson");
    std::fs::write(&file, &events).unwrap();
    let out = std::process::Command::new(BIN)
        .arg("explain")
        .arg("--config")
        .arg(&g.config_path)
        .args(["--format", "json"])
        .arg(&file)
        .env_clear()
        .envs(env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let decision = |i: usize, p: &str| -> (String, String) {
        let ps = report[i]["partners"].as_array().unwrap();
        let x = ps.iter().find(|x| x["partner"] == p).unwrap();
        (
            x["reason"].as_str().unwrap_or("").to_string(),
            x["detail"].as_str().unwrap_or("").to_string(),
        )
    };
    let refused = [
        (0, "GPP usut SaleOptOut = opted out"),
        (
            1,
            "GPP ustx KnownChildSensitiveDataConsents[1] = no consent (known child)",
        ),
        (3, "GPP usut SaleOptOut = opted out"),
        (4, "GPP usut Gpc = 1 (Global Privacy Control)"),
    ];
    for (i, detail) in refused {
        for p in ["alpha", "beta"] {
            assert_eq!(
                decision(i, p),
                ("no_consent".into(), detail.into()),
                "{i} {p}"
            );
        }
        assert_eq!(decision(i, "gamma").0, "", "{i}: gpp_us = false");
    }
    for p in ["alpha", "beta", "gamma"] {
        assert_eq!(decision(2, p).0, "", "ustx without opt-out, {p}");
    }
}
