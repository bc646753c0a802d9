//! The command line (see docs/cli.md) through the real binary: `keygen`, `explain`
//! (file and stdin, text and JSON, every policy decision, no raw identifier
//! ever printed), bad usage, `serve` refusing a bad config before binding,
//! and the embedded demo mode end to end.
//!
//! Every failure prints the command, its exit status, stdout and stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::run::Run;
use crate::common::{skip_or_fail, Resp, BIN};

// ---------------------------------------------------------------------------
// Running the binary.

fn adgate(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_clear();
    c
}

// ---------------------------------------------------------------------------
// keygen

/// Runs `adgate keygen [args]` and returns the one line it printed.
fn keygen(args: &[&str]) -> (Run, String) {
    let mut all = vec!["keygen"];
    all.extend_from_slice(args);
    let r = Run::exec(&mut adgate(&all));
    r.code(0);
    r.check(
        r.stdout.ends_with('\n') && r.stdout.lines().count() == 1,
        "keygen prints exactly one line",
    );
    let line = r.stdout.trim_end_matches('\n').to_string();
    (r, line)
}

#[track_caller]
fn decodes_to_32_bytes(r: &Run, key: &str) {
    match STANDARD.decode(key) {
        Ok(b) => r.check(
            b.len() == 32,
            &format!("{key:?} decodes to {} bytes", b.len()),
        ),
        Err(e) => r.fail(&format!("{key:?} is not standard base64: {e}")),
    };
}

#[test]
fn keygen_prints_a_fresh_256_bit_base64_key() {
    let (r1, k1) = keygen(&[]);
    decodes_to_32_bytes(&r1, &k1);
    r1.check(!k1.contains(' '), "no id without --id");
    let (r2, k2) = keygen(&[]);
    decodes_to_32_bytes(&r2, &k2);
    r2.check(k1 != k2, "two runs print different keys");
}

#[test]
fn keygen_with_id_prints_the_key_and_a_config_hint_naming_the_id() {
    let (r, key) = keygen(&["--id", "k202611"]);
    // stdout stays the bare key, ready for a secret store.
    decodes_to_32_bytes(&r, &key);
    r.check(
        r.stderr.contains("id = \"k202611\""),
        "stderr shows the [[partners.keys]] entry",
    );
    r.check(
        !r.stderr.contains(&key),
        "the key is printed once, on stdout",
    );
}

#[test]
fn keygen_refuses_an_id_a_config_would_refuse() {
    for bad in ["k 1", "k/1", "", "a-key-id-of-17-ch"] {
        let r = Run::exec(&mut adgate(&["keygen", "--id", bad]));
        r.code(2).stderr_has("A-Z a-z 0-9 _ -");
        r.check(r.stdout.is_empty(), "no key printed");
    }
}

// ---------------------------------------------------------------------------
// explain

const KEY_ADS: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_METRICS: &str = "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";
const FEED_ADS: &str = "feed-ads-0123456789abcdef0123456789abcdef";
const FEED_METRICS: &str = "feed-metrics-0123456789abcdef0123456789ab";

/// Two pull partners: `ads` (ad impressions and app installs, ad and app
/// fields, account_id first) and `metrics` (ad impressions only, one field,
/// device_id only). Time is coarsened to the hour.
const EXPLAIN_CONFIG: &str = r#"
[privacy]
minor_age = 18
sensitive_categories = ["health", "pharmacy"]
time_granularity = "hour"

[[partners]]
name = "ads"
event_types = ["ad_impression", "app_install"]
identifiers = ["account_id", "email", "device_id", "phone"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
[partners.delivery]
mode = "pull"
token_env = "FEED_ADS"
[[partners.keys]]
id = "k1"
secret_env = "KEY_ADS"

[[partners]]
name = "metrics"
event_types = ["ad_impression"]
identifiers = ["device_id"]
fields = ["ad.value_estimate_micros"]
[partners.delivery]
mode = "pull"
token_env = "FEED_METRICS"
[[partners.keys]]
id = "m1"
secret_env = "KEY_METRICS"
"#;

// One person, seen in every event. None of these may ever be printed.
const EMAIL: &str = "Jane.Doe+ads@Example.com";
const EMAIL_NORMALIZED: &str = "jane.doe+ads@example.com";
const ACCOUNT_ID: &str = "ACC-7734-JD";
const DEVICE_ID: &str = "dev-4f1c-77aa-91e2";
const PHONE: &str = "+1 206 555 0100";
const PHONE_NORMALIZED: &str = "+12065550100";
const IP: &str = "203.0.113.9";
const PAGE_URL: &str = "https://shop.example/p/garden-hose-25m";
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0";
const SEARCH_QUERY: &str = "pregnancy test near me";
const SKU: &str = "SKU-PRENATAL-60";

/// Everything that identifies the person or describes a shopping action.
fn forbidden() -> Vec<String> {
    use md5::Digest as _;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut v: Vec<String> = [
        EMAIL,
        EMAIL_NORMALIZED,
        ACCOUNT_ID,
        DEVICE_ID,
        PHONE,
        PHONE_NORMALIZED,
        "2065550100",
        IP,
        PAGE_URL,
        USER_AGENT,
        SEARCH_QUERY,
        SKU,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A raw, unkeyed hash of the email is never emitted either.
    let sha = sha2::Sha256::digest(EMAIL_NORMALIZED.as_bytes());
    v.push(hex(&sha));
    v.push(URL_SAFE_NO_PAD.encode(sha));
    v.push(STANDARD.encode(sha));
    v.push(hex(&md5::Md5::digest(EMAIL_NORMALIZED.as_bytes())));
    // Nor a secret.
    v.extend([KEY_ADS, KEY_METRICS, FEED_ADS, FEED_METRICS].map(String::from));
    v
}

fn user(age: u32) -> Value {
    json!({"email": EMAIL, "account_id": ACCOUNT_ID, "device_id": DEVICE_ID,
           "phone": PHONE, "ip": IP, "age": age})
}

fn context(category: &str) -> Value {
    json!({"page_url": PAGE_URL, "user_agent": USER_AGENT, "category": category})
}

fn ad() -> Value {
    json!({"campaign_id": "c-77", "placement": "home-top",
           "value_estimate_micros": 1250, "currency": "USD"})
}

fn consent(personalized_ads: bool, gpc: bool) -> Value {
    json!({"personalized_ads": personalized_ads, "gpc": gpc})
}

/// The eight events of the explain tests, in this order, with the outcome
/// expected for (ads, metrics): "forwarded" or the drop reason.
fn explain_events() -> Vec<(&'static str, Value, [&'static str; 2])> {
    let ts = "2026-11-28T13:45:12Z";
    vec![
        (
            "purchase",
            json!({"event_id": "evt-purchase", "event_type": "purchase", "timestamp": ts,
                   "user": user(34), "consent": consent(true, false), "context": context("books"),
                   "purchase": {"sku": SKU, "total_micros": 19_990_000, "currency": "USD"}}),
            ["not_allowed", "not_allowed"],
        ),
        (
            "search",
            json!({"event_id": "evt-search", "event_type": "search", "timestamp": ts,
                   "user": user(34), "consent": consent(true, false), "context": context("books"),
                   "search": {"query": SEARCH_QUERY}}),
            ["not_allowed", "not_allowed"],
        ),
        (
            "opted-out",
            json!({"event_id": "evt-optout", "event_type": "ad_impression", "timestamp": ts,
                   "user": user(34), "consent": consent(false, false), "context": context("books"),
                   "ad": ad()}),
            ["opted_out", "opted_out"],
        ),
        (
            "gpc",
            json!({"event_id": "evt-gpc", "event_type": "ad_impression", "timestamp": ts,
                   "user": user(34), "consent": consent(true, true), "context": context("books"),
                   "ad": ad()}),
            ["opted_out", "opted_out"],
        ),
        (
            "minor",
            json!({"event_id": "evt-minor", "event_type": "ad_impression", "timestamp": ts,
                   "user": user(15), "consent": consent(true, false), "context": context("books"),
                   "ad": ad()}),
            ["minor", "minor"],
        ),
        (
            "health",
            json!({"event_id": "evt-health", "event_type": "ad_impression", "timestamp": ts,
                   "user": user(34), "consent": consent(true, false), "context": context("health"),
                   "ad": ad()}),
            ["sensitive", "sensitive"],
        ),
        (
            "app install",
            json!({"event_id": "evt-install", "event_type": "app_install", "timestamp": ts,
                   "user": {"device_id": DEVICE_ID, "ip": IP},
                   "consent": consent(true, false),
                   "app": {"app_id": "com.example.game", "version": "2.1.0"}}),
            ["forwarded", "not_allowed"],
        ),
        (
            "ad impression",
            json!({"event_id": "evt-impression", "event_type": "ad_impression", "timestamp": ts,
                   "user": user(34), "consent": consent(true, false), "context": context("books"),
                   "ad": ad(), "experiment": {"arm": "b"}}),
            ["forwarded", "forwarded"],
        ),
    ]
}

/// A temp dir with the explain config and the events as an NDJSON file.
struct ExplainSetup {
    dir: tempfile::TempDir,
    ndjson: Vec<u8>,
}

impl ExplainSetup {
    fn new() -> ExplainSetup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("adgate.toml"), EXPLAIN_CONFIG).unwrap();
        let mut ndjson = Vec::new();
        for (_, e, _) in explain_events() {
            ndjson.extend_from_slice(e.to_string().as_bytes());
            ndjson.push(b'\n');
        }
        std::fs::write(dir.path().join("events.ndjson"), &ndjson).unwrap();
        ExplainSetup { dir, ndjson }
    }

    fn config(&self) -> String {
        self.dir.path().join("adgate.toml").display().to_string()
    }

    fn events(&self) -> String {
        self.dir.path().join("events.ndjson").display().to_string()
    }

    /// `adgate explain --config CONFIG <extra...>`, with the config's secrets
    /// in the environment and `stdin` piped in.
    fn run(&self, extra: &[&str], stdin: Option<&[u8]>) -> Run {
        let config = self.config();
        let mut args = vec!["explain", "--config", config.as_str()];
        args.extend_from_slice(extra);
        let mut cmd = adgate(&args);
        cmd.envs([
            ("KEY_ADS", KEY_ADS),
            ("KEY_METRICS", KEY_METRICS),
            ("FEED_ADS", FEED_ADS),
            ("FEED_METRICS", FEED_METRICS),
        ])
        .current_dir(self.dir.path());
        let r = Run::exec_stdin(&mut cmd, stdin);
        r.code(0);
        for f in forbidden() {
            r.nowhere(&f);
        }
        r
    }
}

/// Dotted paths of every leaf of a JSON object (arrays count as leaves).
fn leaf_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(x, &p, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, seg| v.get(seg))
}

/// The expected ad_id / event_id, computed here from docs/policy.md and the key,
/// independently of the gateway's code.
fn tagged(key_id: &str, key_b64: &str, tag: &str, value: &str) -> String {
    use hmac::Mac as _;
    let key = STANDARD.decode(key_b64).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{tag}:{value}").as_bytes());
    format!(
        "{key_id}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn explain_json_decides_every_event_for_every_partner() {
    let s = ExplainSetup::new();
    let r = s.run(&["--format", "json", &s.events()], None);
    let report = r.json();
    let events = explain_events();
    let report = report
        .as_array()
        .unwrap_or_else(|| r.fail("the report is an array"));
    r.check(report.len() == events.len(), "one report entry per event");
    let fields_of = |name: &str| -> Vec<&str> {
        match name {
            "ads" => vec![
                "ad.campaign_id",
                "ad.placement",
                "ad.value_estimate_micros",
                "ad.currency",
                "app.app_id",
            ],
            _ => vec!["ad.value_estimate_micros"],
        }
    };
    for (i, ((label, input, want), got)) in events.iter().zip(report).enumerate() {
        let ctx = |what: &str| format!("event #{i} ({label}): {what}\nreport entry: {got:#}");
        r.check(got["index"] == json!(i), &ctx("index"));
        r.check(got["event_type"] == input["event_type"], &ctx("event_type"));
        let partners = got["partners"].as_array().unwrap();
        let names: Vec<&str> = partners
            .iter()
            .map(|p| p["partner"].as_str().unwrap())
            .collect();
        r.check(
            names == ["ads", "metrics"],
            &ctx("both partners, in config order"),
        );
        let mut input_paths = BTreeSet::new();
        leaf_paths(input, "", &mut input_paths);

        for (p, want) in partners.iter().zip(want) {
            let name = p["partner"].as_str().unwrap();
            let ctx = |what: &str| ctx(&format!("partner {name}: {what}"));

            // Every input field has an action and a reason.
            let fields = p["fields"].as_array().unwrap();
            let paths: BTreeSet<String> = fields
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_string())
                .collect();
            r.check(paths == input_paths, &ctx("one entry per input field"));
            for f in fields {
                let action = f["action"].as_str().unwrap_or_default();
                r.check(
                    ["kept", "pseudonymized", "coarsened", "dropped"].contains(&action),
                    &ctx(&format!("action of {}", f["path"])),
                );
                r.check(
                    f["why"].as_str().is_some_and(|w| w.len() > 10),
                    &ctx(&format!("reason of {}", f["path"])),
                );
            }
            let action = |path: &str| {
                fields
                    .iter()
                    .find(|f| f["path"] == path)
                    .map(|f| f["action"].as_str().unwrap().to_string())
            };

            if *want != "forwarded" {
                r.check(p["outcome"] == "dropped", &ctx("dropped"));
                r.check(p["reason"] == *want, &ctx(&format!("reason {want}")));
                r.check(
                    p["detail"].as_str().is_some_and(|d| !d.is_empty()),
                    &ctx("a detail says which rule"),
                );
                r.check(p["output"].is_null(), &ctx("no output when dropped"));
                r.check(
                    fields.iter().all(|f| f["action"] == "dropped"),
                    &ctx("every field dropped"),
                );
                if *want == "not_allowed" {
                    r.check(
                        p["detail"].as_str().unwrap().contains("event_types"),
                        &ctx("not_allowed names event_types"),
                    );
                }
                continue;
            }

            r.check(p["outcome"] == "forwarded", &ctx("forwarded"));
            r.check(p["reason"].is_null(), &ctx("no drop reason"));
            let out = &p["output"];
            let allowed = fields_of(name);
            let (key_id, key) = if name == "ads" {
                ("k1", KEY_ADS)
            } else {
                ("m1", KEY_METRICS)
            };
            // ad_id from the first identifier of the partner's list present.
            let (kind, value) = if name == "ads" && input["user"].get("account_id").is_some() {
                ("account_id", ACCOUNT_ID)
            } else {
                ("device_id", DEVICE_ID)
            };
            r.check(out["event_type"] == input["event_type"], &ctx("event_type"));
            r.check(
                out["time"] == "2026-11-28T13:00:00Z",
                &ctx("time coarsened to the hour"),
            );
            r.check(
                out["ad_id"] == tagged(key_id, key, kind, value),
                &ctx("ad_id"),
            );
            r.check(out["ad_id_type"] == kind, &ctx("ad_id_type"));
            let raw_id = input["event_id"].as_str().unwrap();
            r.check(
                out["event_id"] == tagged(key_id, key, "event_id", raw_id),
                &ctx("event_id pseudonymized with the partner key"),
            );
            r.check(
                action(&format!("user.{kind}")).as_deref() == Some("pseudonymized"),
                &ctx("identifier pseudonymized"),
            );
            r.check(
                action("event_id").as_deref() == Some("pseudonymized"),
                &ctx("event_id pseudonymized"),
            );
            r.check(
                action("timestamp").as_deref() == Some("coarsened"),
                &ctx("timestamp coarsened"),
            );

            // Only the five gateway keys and allow-listed fields; every kept
            // field is in the output with its value, nothing else is.
            let mut out_paths = BTreeSet::new();
            leaf_paths(out, "", &mut out_paths);
            for path in &out_paths {
                let gateway_key = ["event_type", "time", "ad_id", "ad_id_type", "event_id"]
                    .contains(&path.as_str());
                r.check(
                    gateway_key || allowed.contains(&path.as_str()),
                    &ctx(&format!("{path} is in the output but not allow-listed")),
                );
                if !gateway_key {
                    r.check(
                        action(path).as_deref() == Some("kept"),
                        &ctx(&format!("{path} marked kept")),
                    );
                    r.check(
                        lookup(out, path) == lookup(input, path),
                        &ctx(&format!("{path} value kept")),
                    );
                }
            }
            for f in fields {
                let path = f["path"].as_str().unwrap();
                if f["action"] == "kept" && path != "event_type" {
                    r.check(
                        out_paths.contains(path),
                        &ctx(&format!("kept {path} is in the output")),
                    );
                }
                if path.starts_with("user.") && path != format!("user.{kind}") {
                    r.check(f["action"] == "dropped", &ctx(&format!("{path} dropped")));
                }
                if path.starts_with("context.") || path.starts_with("consent.") {
                    r.check(f["action"] == "dropped", &ctx(&format!("{path} dropped")));
                }
            }
        }
    }
    // The allow-list really is per partner: metrics gets one ad field only.
    let metrics_out = &report[7]["partners"][1]["output"];
    r.check(
        metrics_out["ad"] == json!({"value_estimate_micros": 1250}),
        "metrics receives only ad.value_estimate_micros",
    );
    r.check(
        report[6]["partners"][0]["output"]["app"] == json!({"app_id": "com.example.game"}),
        "app.version is not allow-listed",
    );
}

#[test]
fn explain_reasons_name_the_rule() {
    let s = ExplainSetup::new();
    let r = s.run(&["--format", "json", &s.events()], None);
    let report = r.json();
    let cases = [
        (2, "consent.personalized_ads is false"),
        (3, "consent.gpc is true"),
        (4, "minor_age"),
        (5, "sensitive category"),
    ];
    for (i, rule) in cases {
        for p in report[i]["partners"].as_array().unwrap() {
            r.check(
                p["detail"].as_str().is_some_and(|d| d.contains(rule)),
                &format!(
                    "event #{i}, partner {}: the detail names {rule:?}",
                    p["partner"]
                ),
            );
        }
    }
}

#[test]
fn explain_text_format_for_people() {
    let s = ExplainSetup::new();
    let r = s.run(&[&s.events()], None);
    for (i, (_, e, _)) in explain_events().iter().enumerate() {
        r.stdout_has(&format!(
            "event #{i} ({})",
            e["event_type"].as_str().unwrap()
        ));
    }
    r.stdout_has("partner ads: DROPPED (not_allowed)")
        .stdout_has("partner ads: DROPPED (opted_out)")
        .stdout_has("partner ads: DROPPED (minor)")
        .stdout_has("partner ads: DROPPED (sensitive)")
        .stdout_has("partner metrics: DROPPED (not_allowed)")
        .stdout_has("partner ads: FORWARDED")
        .stdout_has("partner metrics: FORWARDED")
        .stdout_has("\"time\":\"2026-11-28T13:00:00Z\"")
        .stdout_has(&format!(
            "\"ad_id\":\"{}\"",
            tagged("k1", KEY_ADS, "account_id", ACCOUNT_ID)
        ));
    // Every field line: path, action, reason.
    let field_lines: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with("sends:"))
        .collect();
    r.check(!field_lines.is_empty(), "field lines are printed");
    for l in field_lines {
        let cols: Vec<&str> = l.split_whitespace().collect();
        r.check(
            cols.len() >= 3 && ["kept", "pseudonymized", "coarsened", "dropped"].contains(&cols[1]),
            &format!("field line {l:?} is `path action reason`"),
        );
    }
    r.check(
        r.stdout.matches("FORWARDED").count() == 3,
        "three forwarded (event, partner) pairs",
    );
}

#[test]
fn explain_reads_stdin_the_same_as_a_file() {
    let s = ExplainSetup::new();
    for format in ["text", "json"] {
        let from_file = s.run(&["--format", format, &s.events()], None);
        let from_stdin = s.run(&["--format", format], Some(&s.ndjson));
        let from_dash = s.run(&["--format", format, "-"], Some(&s.ndjson));
        from_stdin.check(from_stdin.stdout == from_file.stdout, "stdin == file");
        from_dash.check(from_dash.stdout == from_file.stdout, "`-` == file");
    }
    // A JSON array and a single object are read too.
    let events: Vec<Value> = explain_events().into_iter().map(|(_, e, _)| e).collect();
    let array = s.run(
        &["--format", "json"],
        Some(Value::Array(events.clone()).to_string().as_bytes()),
    );
    let nd = s.run(&["--format", "json", &s.events()], None);
    array.check(array.json() == nd.json(), "array == NDJSON");
    let one = s.run(
        &["--format", "json"],
        Some(events[7].to_string().as_bytes()),
    );
    one.check(
        one.json()[0]["partners"][0]["outcome"] == "forwarded",
        "single object",
    );
}

/// `adgate explain ... | head`: a reader that stops reading ends the
/// output quietly (exit 0), with no panic or backtrace on stderr.
#[test]
fn explain_into_a_closed_pipe_ends_quietly() {
    let s = ExplainSetup::new();
    // Enough events that the report outgrows the pipe's buffer.
    let mut many = Vec::new();
    for _ in 0..200 {
        many.extend_from_slice(&s.ndjson);
    }
    let path = s.dir.path().join("many.ndjson");
    std::fs::write(&path, &many).unwrap();
    let config = s.config();
    let mut child = adgate(&[
        "explain",
        "--config",
        &config,
        "--format",
        "json",
        path.to_str().unwrap(),
    ])
    .envs([
        ("KEY_ADS", KEY_ADS),
        ("KEY_METRICS", KEY_METRICS),
        ("FEED_ADS", FEED_ADS),
        ("FEED_METRICS", FEED_METRICS),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn explain_partner_restricts_the_report() {
    let s = ExplainSetup::new();
    let r = s.run(
        &["--format", "json", "--partner", "metrics", &s.events()],
        None,
    );
    for e in r.json().as_array().unwrap() {
        let names: Vec<&str> = e["partners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["partner"].as_str().unwrap())
            .collect();
        r.check(names == ["metrics"], "only the named partner");
    }
    let t = s.run(&["--partner", "ads", &s.events()], None);
    t.check(
        !t.stdout.contains("partner metrics"),
        "text: only the named partner",
    )
    .stdout_has("partner ads: FORWARDED");
}

#[test]
fn explain_unknown_partner_exits_2() {
    let s = ExplainSetup::new();
    let config = s.config();
    let events = s.events();
    let r = Run::exec(
        adgate(&["explain", "--config", &config, "--partner", "nope", &events]).envs([
            ("KEY_ADS", KEY_ADS),
            ("KEY_METRICS", KEY_METRICS),
            ("FEED_ADS", FEED_ADS),
            ("FEED_METRICS", FEED_METRICS),
        ]),
    );
    r.code(2)
        .stderr_has("no partner named \"nope\"")
        .stderr_has("ads, metrics");
    r.check(r.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn explain_with_a_bad_config_exits_2_naming_the_key() {
    let s = ExplainSetup::new();
    let config = s.config();
    // KEY_METRICS is not set.
    let r = Run::exec(
        adgate(&["explain", "--config", &config, &s.events()]).envs([
            ("KEY_ADS", KEY_ADS),
            ("FEED_ADS", FEED_ADS),
            ("FEED_METRICS", FEED_METRICS),
        ]),
    );
    r.code(2)
        .stderr_has(&format!("{config}: partners[1].keys[0].secret_env: "))
        .stderr_has("KEY_METRICS");
}

#[test]
fn explain_rejected_event_is_reported_without_its_values() {
    let s = ExplainSetup::new();
    let bad = json!({"event_type": "ad_impression", "timestamp": "2026-11-28T13:45:12Z",
                     "user": {"email": EMAIL}});
    let r = s.run(&["--format", "json"], Some(bad.to_string().as_bytes()));
    let v = r.json();
    r.check(
        v[0]["rejected"]["reason"] == "missing_field",
        "missing event_id is rejected",
    );
}

#[test]
fn explain_guard_and_no_identifier_drops() {
    let s = ExplainSetup::new();
    let mut leaky = explain_events()[7].1.clone();
    // An email smuggled into an allow-listed field: the guard drops it.
    leaky["ad"]["placement"] = json!(format!("promo for {EMAIL}"));
    let mut anonymous = explain_events()[7].1.clone();
    anonymous["user"] = json!({"ip": IP, "age": 40});
    let input = format!("{leaky}\n{anonymous}\n");
    for format in ["json", "text"] {
        let r = s.run(&["--format", format], Some(input.as_bytes()));
        r.nowhere("promo for");
        if format == "json" {
            let v = r.json();
            let ads = &v[0]["partners"][0];
            r.check(ads["reason"] == "pii_guard", "guard hit is pii_guard");
            r.check(
                ads["detail"].as_str().unwrap().contains("email"),
                "the detail names what kind of data was found, not the data",
            );
            for p in v[1]["partners"].as_array().unwrap() {
                r.check(
                    p["reason"] == "no_identifier",
                    "no identifier: no_identifier",
                );
            }
        } else {
            r.stdout_has("partner ads: DROPPED (pii_guard)")
                .stdout_has("partner ads: DROPPED (no_identifier)");
        }
    }
}

/// explain said an identifier listed *before* the one used was skipped
/// because "an earlier one was used", when it was present but invalid.
#[test]
fn regression_explain_blames_an_invalid_identifier_not_an_earlier_one() {
    let s = ExplainSetup::new();
    let mut ev = explain_events()[7].1.clone();
    ev["user"] = json!({"account_id": "   ", "email": EMAIL, "phone": PHONE});
    let r = s.run(
        &["--format", "json", "--partner", "ads"],
        Some(ev.to_string().as_bytes()),
    );
    let v = r.json();
    let p = &v[0]["partners"][0];
    r.check(p["output"]["ad_id_type"] == "email", "email is used");
    let why = |path: &str| {
        p["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| f["why"].as_str().unwrap().to_string())
            .unwrap()
    };
    r.check(
        why("user.account_id").contains("not valid"),
        "account_id (listed first) was invalid, not preceded",
    );
    r.check(
        why("user.phone").contains("earlier one"),
        "phone (listed after email) lost to an earlier one",
    );
}

// ---------------------------------------------------------------------------
// Bad usage

/// explain said a `null` consent member adgate does not read stopped the
/// event, while the event went out (`null` counts as absent).
#[test]
fn regression_explain_a_null_unread_consent_member_does_not_stop_the_event() {
    let s = ExplainSetup::new();
    let mut absent = explain_events()[7].1.clone();
    absent["consent"]["source"] = json!(null);
    let mut present = absent.clone();
    present["consent"]["source"] = json!("cmp");
    let input = format!("{absent}\n{present}\n");
    let r = s.run(
        &["--format", "json", "--partner", "ads"],
        Some(input.as_bytes()),
    );
    let v = r.json();
    let fate = |i: usize| {
        let p = &v[i]["partners"][0];
        let why = p["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "consent.source")
            .map(|f| f["why"].as_str().unwrap().to_string());
        (
            p["outcome"].as_str().unwrap().to_string(),
            p["reason"].clone(),
            why,
        )
    };
    let (outcome, _, why) = fate(0);
    r.check(outcome == "forwarded", "a null unread member is absent");
    let why = why.unwrap_or_default();
    r.check(
        why.contains("null, which counts as absent") && !why.contains("is not forwarded"),
        "its line says it is absent, not that it stops the event",
    );
    let (outcome, reason, _) = fate(1);
    r.check(
        outcome == "dropped" && reason == "invalid",
        "a present unread member stops the event (invalid)",
    );
}

#[test]
fn bad_usage_exits_2() {
    let cases: [&[&str]; 7] = [
        &[],
        &["frobnicate"],
        &["check-config"],
        &["explain"],
        &["serve", "--bogus"],
        &["keygen", "--bits", "128"],
        &["explain", "--config", "x.toml", "--format", "yaml"],
    ];
    for args in cases {
        let r = Run::exec(&mut adgate(args));
        r.code(2);
        r.check(!r.stderr.is_empty(), "bad usage says why on stderr");
    }
    Run::exec(&mut adgate(&["check-config"]))
        .code(2)
        .stderr_has("--config");
    Run::exec(&mut adgate(&["frobnicate"]))
        .code(2)
        .stderr_has("frobnicate");
}

#[test]
fn check_config_on_a_missing_file_exits_2() {
    Run::exec(&mut adgate(&[
        "check-config",
        "--config",
        "/nonexistent/adgate.toml",
    ]))
    .code(2)
    .stderr_has("/nonexistent/adgate.toml");
}

// ---------------------------------------------------------------------------
// serve

/// Waits for `child` to exit, killing it (and failing) after `timeout`.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("adgate did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn serve_refuses_a_bad_config_before_binding() {
    // We hold the port. Had adgate bound before validating, it would fail
    // with "cannot bind" and exit 1; it must exit 2 on the config instead.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("adgate.toml");
    let toml = EXPLAIN_CONFIG.replace(
        "[privacy]",
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\n[privacy]"),
    );
    let toml = toml.replacen(
        "identifiers = [\"device_id\"]",
        "identifiers = [\"idfa\"]",
        1,
    );
    std::fs::write(&config, toml).unwrap();
    let cfg = config.display().to_string();
    let mut cmd = adgate(&["serve", "--config", &cfg]);
    cmd.envs([
        ("KEY_ADS", KEY_ADS),
        ("KEY_METRICS", KEY_METRICS),
        ("FEED_ADS", FEED_ADS),
        ("FEED_METRICS", FEED_METRICS),
    ])
    .current_dir(dir.path())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(20));
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let r = Run {
        cmd: shown,
        code,
        stdout,
        stderr,
    };
    r.code(2)
        .stderr_has(&format!("{cfg}: partners[1].identifiers[0]: "))
        .stderr_has("unknown identifier \"idfa\"");
    r.check(!r.stdout.contains("listening"), "nothing was served");
    r.check(!dir.path().join("data").exists(), "no data dir was created");
    drop(held);
}

/// A running `adgate serve` in demo mode (no --config) in `dir`. Killed on
/// drop; its output is printed when the test failed.
struct Demo {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Demo {
    fn start(dir: &Path) -> Demo {
        let mut child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir)
            .env("ADGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start adgate serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text(&sink).push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = stdout.clone();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                text(&sink).push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        Demo {
            child: Some(child),
            lines,
            stdout,
            stderr,
        }
    }

    /// The rest of the first stdout line starting with `prefix`.
    fn line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(rest) = l.strip_prefix(prefix) {
                        return rest.trim().to_string();
                    }
                }
                Err(e) => self.fail(&format!("no stdout line starting {prefix:?} ({e})")),
            }
        }
    }

    fn fail(&self, what: &str) -> ! {
        let (out, err) = (text(&self.stdout).clone(), text(&self.stderr).clone());
        panic!("\n{what}\n---- stdout ----\n{out}\n---- stderr ----\n{err}\n")
    }

    /// SIGTERM, then the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        wait_exit(&mut child, Duration::from_secs(20))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            // Demo::fail already printed what was there; show what came after.
            let (out, err) = (text(&self.stdout).clone(), text(&self.stderr).clone());
            eprintln!("---- adgate serve (demo) stdout ----\n{out}\n---- stderr ----\n{err}");
        }
    }
}

/// The captured text, even after a panic poisoned the lock.
fn text(m: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn http(method: &str, path: &str, token: &str, body: Option<&Value>) -> Resp {
    let req = ureq::request(method, &format!("http://127.0.0.1:8080{path}"))
        .timeout(Duration::from_secs(30))
        .set("Authorization", &format!("Bearer {token}"));
    Resp::from(match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    })
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file under adgate-data that holds a key or token.
fn secret_files(data: &Path) -> Vec<PathBuf> {
    crate::common::walk(data)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".key") || n.ends_with(".token")
        })
        .collect()
}

#[test]
fn demo_mode_end_to_end() {
    // The demo listens on the fixed 127.0.0.1:8080.
    match std::net::TcpListener::bind("127.0.0.1:8080") {
        Ok(l) => drop(l),
        Err(e) => {
            skip_or_fail(
                "demo_mode_end_to_end",
                &format!("127.0.0.1:8080 is busy ({e})"),
                "stop what listens there (ss -ltnp 'sport = :8080')",
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("adgate-data");

    // First start: secrets are made and printed once.
    let mut demo = Demo::start(dir.path());
    demo.line("adgate listening on http://127.0.0.1:8080");
    let producer = demo.line("producer token:");
    let feed = demo.line("feed token:");
    if producer.len() < 32 || feed.len() < 32 || producer == feed {
        demo.fail("demo tokens are long and distinct");
    }
    // The admin token is not printed: its file is named instead.
    let admin = demo.line("admin token:");
    let admin_file = data.join("demo").join("admin.token");
    let admin_token = std::fs::read_to_string(&admin_file).unwrap_or_default();
    if admin_token.trim().len() < 32
        || admin.contains(admin_token.trim())
        || !admin.contains("admin.token")
    {
        demo.fail("the admin token stays in its file and only the file is named");
    }
    let partner = demo.line("demo partner:");
    if !partner.starts_with("demo-partner") {
        demo.fail("the demo partner is named");
    }
    // The warning is logged before the tokens are printed; the stderr
    // reader may be a little behind.
    let logged = crate::common::wait_for(Duration::from_secs(5), || {
        text(&demo.stderr).contains("DEMO MODE").then_some(())
    });
    if logged.is_none() {
        demo.fail("demo mode is logged loudly");
    }
    if !data.is_dir() {
        demo.fail("adgate-data/ is created in the working directory");
    }
    let secrets = secret_files(&data);
    let names: BTreeSet<String> = secrets
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["producer.token", "feed.token", "partner.key"] {
        if !names.contains(want) {
            demo.fail(&format!("{want} is kept in adgate-data (have {names:?})"));
        }
    }
    let before: BTreeMap<PathBuf, Vec<u8>> = secrets
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    for p in &secrets {
        if mode(p) != 0o600 {
            demo.fail(&format!("{} has mode {:o}, want 600", p.display(), mode(p)));
        }
    }

    // Post an event and read it back from the demo partner's pull feed.
    let ev = crate::common::event("demo-1", "ad_impression", "Jane.Doe@Example.com");
    let r = http("POST", "/v1/events", &producer, Some(&ev));
    if r.status != 202 || r.json()["accepted"] != 1 {
        demo.fail(&format!("ingest: {} {}", r.status, r.body));
    }
    let wrong = http("GET", "/v1/feed/demo-partner?wait_ms=0", &producer, None);
    if wrong.status == 200 {
        demo.fail("the producer token cannot read the feed");
    }
    let r = http(
        "GET",
        "/v1/feed/demo-partner?max=10&wait_ms=5000",
        &feed,
        None,
    );
    if r.status != 200 {
        demo.fail(&format!("feed: {} {}", r.status, r.body));
    }
    let got = r.json();
    let events = got["events"].as_array().cloned().unwrap_or_default();
    if events.len() != 1 {
        demo.fail(&format!("one event in the feed, got {got}"));
    }
    let e = &events[0];
    let ok = e["event_type"] == "ad_impression"
        && e["ad_id_type"] == "account_id"
        && e["ad_id"].as_str().is_some_and(|a| a.starts_with("demo1."))
        && e["time"] == "2026-11-28T13:00:00Z"
        && e["ad"]["campaign_id"] == "c-77"
        && e.get("user").is_none()
        && e.get("context").is_none()
        && e.get("purchase").is_none();
    if !ok {
        demo.fail(&format!("scrubbed event as the partner sees it: {e}"));
    }
    for raw in [
        "Jane.Doe",
        "jane.doe",
        "acct-demo-1",
        "203.0.113.9",
        "555 0100",
        "demo-1\"",
    ] {
        if r.body.contains(raw) {
            demo.fail(&format!("{raw:?} leaked into the feed: {}", r.body));
        }
    }
    let c = http(
        "POST",
        "/v1/feed/demo-partner/commit",
        &feed,
        Some(&json!({"cursor": got["cursor"]})),
    );
    if c.status != 200 {
        demo.fail(&format!("commit: {} {}", c.status, c.body));
    }
    let code = demo.terminate();
    if code != Some(0) {
        demo.fail(&format!("SIGTERM exits 0, got {code:?}"));
    }
    drop(demo);

    // Second start: the same tokens and keys, nothing regenerated; the
    // committed event is not served again.
    let mut demo = Demo::start(dir.path());
    let producer2 = demo.line("producer token:");
    let feed2 = demo.line("feed token:");
    if producer2 != producer || feed2 != feed {
        demo.fail("a second start reuses the demo tokens");
    }
    for (p, bytes) in &before {
        if std::fs::read(p).unwrap() != *bytes {
            demo.fail(&format!("{} was rewritten", p.display()));
        }
        if mode(p) != 0o600 {
            demo.fail(&format!("{} lost mode 600", p.display()));
        }
    }
    let r = http("GET", "/v1/feed/demo-partner?wait_ms=0", &feed, None);
    if r.status != 200 || r.json()["events"] != json!([]) {
        demo.fail(&format!(
            "committed events are not served again: {}",
            r.body
        ));
    }
    let code = demo.terminate();
    if code != Some(0) {
        demo.fail(&format!(
            "SIGTERM exits 0 on the second run too, got {code:?}"
        ));
    }
}
