//! adgate's policy path against its peers, on the same events (see
//! `benches/common/events.rs`), measured in one run, 1 and 3 partners:
//!
//! - `adgate/N`: `Event::parse` + `Policy::evaluate`, as in
//!   `benches/policy.rs` (docs/policy.md, in full: rules, a keyed hash of each
//!   identifier and of the event id, ad_id + event_id HMACs per partner,
//!   allow-list copy, leak guard, output bytes).
//! - `limit/N`: the same output bytes written as directly as Rust allows: a
//!   typed serde struct borrowing from the input, the same rules and email
//!   normalization, ad_id + event_id HMACs per partner from pre-keyed state,
//!   the kept fields serialized by serde. No subject hashes, no leak guard.
//! - `vrl/N`: Vector's transform language. One program compiled once
//!   (parse_json, the rules, strip_whitespace + downcase + gmail rule,
//!   `hmac` + `encode_base64` for ad_id and event_id per partner, an output
//!   object per partner with only the kept fields), run per event with
//!   `Runtime::resolve` on a `TargetValue` holding `{"message": <event>}`, the
//!   outputs serialized with serde_json.
//!
//! Before measuring, every output of the limit is checked byte-equal to
//! adgate's, and every output of VRL equal to adgate's as JSON (VRL objects
//! are BTreeMaps, so only the key order differs).
//!
//! Run: `cd benches/peers && cargo bench` (its own workspace: the main build
//! and CI never compile VRL).

use std::collections::BTreeMap;
use std::hint::black_box;

use adgate::event::{self, Event};
use adgate::identity::SubjectHasher;
use adgate::policy::{NoOptOuts, Outcome, Policy};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use vrl::compiler::runtime::Runtime;
use vrl::compiler::{Program, TargetValue, TimeZone};
use vrl::value::{Secrets, Value};

#[path = "../../common/events.rs"]
mod events;
use events::{config, events, KEYS};

const EVENT_TYPES: [&str; 2] = ["ad_impression", "app_install"];
const MINOR_AGE: f64 = 18.0;
const SENSITIVE: [&str; 2] = ["health", "pharmacy"];

fn key_bytes(i: usize) -> Vec<u8> {
    STANDARD.decode(KEYS[i]).unwrap()
}

// ---------------------------------------------------------------- adgate --

fn adgate_lines(policy: &Policy, text: &str) -> Vec<Vec<u8>> {
    let ev = Event::parse(text).unwrap();
    // The idempotency hash, as ingest computes it next to the policy.
    black_box(policy.hasher().event(&ev.event_id));
    policy
        .evaluate(&ev, &NoOptOuts)
        .outcomes
        .into_iter()
        .filter_map(|o| match o {
            Outcome::Route(s) => Some(s.line().to_vec()),
            Outcome::Drop(_) => None,
        })
        .collect()
}

// ----------------------------------------------------------------- limit --

#[derive(Deserialize)]
struct In<'a> {
    event_id: &'a str,
    event_type: &'a str,
    timestamp: &'a str,
    #[serde(borrow)]
    user: Option<User<'a>>,
    consent: Option<Consent>,
    #[serde(borrow)]
    context: Option<Context<'a>>,
    #[serde(borrow)]
    ad: Option<Ad<'a>>,
    #[serde(borrow)]
    app: Option<App<'a>>,
}

#[derive(Deserialize)]
struct User<'a> {
    email: Option<&'a str>,
    account_id: Option<&'a str>,
    device_id: Option<&'a str>,
    age: Option<f64>,
}

#[derive(Deserialize)]
struct Consent {
    personalized_ads: Option<bool>,
    gpc: Option<bool>,
}

#[derive(Deserialize)]
struct Context<'a> {
    category: Option<&'a str>,
}

#[derive(Deserialize, Serialize)]
struct Ad<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    campaign_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    placement: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_estimate_micros: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<&'a str>,
}

#[derive(Deserialize, Serialize)]
struct App<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Out<'a> {
    event_type: &'a str,
    time: &'a str,
    ad_id: &'a str,
    ad_id_type: &'a str,
    event_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ad: Option<&'a Ad<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<&'a App<'a>>,
}

struct LimitPartner {
    /// `"k{i}."`
    prefix: String,
    mac: Hmac<Sha256>,
}

/// Trim, lowercase, gmail/googlemail rule (see docs/policy.md).
fn normalize_email(raw: &str) -> Option<String> {
    let t = raw.trim();
    let (local, domain) = t.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') || t.contains(' ') {
        return None;
    }
    let mut s = t.to_lowercase();
    let at = s.find('@')?;
    if matches!(&s[at + 1..], "gmail.com" | "googlemail.com") {
        let local: String = s[..at]
            .split('+')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|&c| c != '.')
            .collect();
        if local.is_empty() {
            return None;
        }
        s = format!("{local}{}", &s[at..]);
    }
    Some(s)
}

/// `prefix + base64url(HMAC(tag ":" value))`.
fn tagged(p: &LimitPartner, tag: &str, value: &str) -> String {
    let mut m = p.mac.clone();
    m.update(tag.as_bytes());
    m.update(b":");
    m.update(value.as_bytes());
    let mut b64 = [0u8; 43];
    URL_SAFE_NO_PAD
        .encode_slice(m.finalize().into_bytes(), &mut b64)
        .unwrap();
    let mut s = String::with_capacity(p.prefix.len() + 43);
    s.push_str(&p.prefix);
    s.push_str(std::str::from_utf8(&b64).unwrap());
    s
}

fn trimmed(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

fn limit(partners: &[LimitPartner], text: &str) -> Vec<Vec<u8>> {
    let mut outs = Vec::with_capacity(partners.len());
    let ev: In = serde_json::from_str(text).unwrap();
    if !EVENT_TYPES.contains(&ev.event_type) {
        return outs;
    }
    if let Some(c) = &ev.consent {
        if c.personalized_ads == Some(false) || c.gpc == Some(true) {
            return outs;
        }
    }
    let user = ev.user.as_ref();
    if user.and_then(|u| u.age).is_some_and(|a| a < MINOR_AGE) {
        return outs;
    }
    if let Some(c) = ev.context.as_ref().and_then(|c| c.category) {
        if SENSITIVE.contains(&c) {
            return outs;
        }
    }
    let ident = match user.and_then(|u| u.email).and_then(normalize_email) {
        Some(e) => Some(("email", e)),
        None => trimmed(user.and_then(|u| u.account_id))
            .map(|a| ("account_id", a.to_owned()))
            .or_else(|| {
                trimmed(user.and_then(|u| u.device_id)).map(|d| ("device_id", d.to_owned()))
            }),
    };
    let Some((kind, norm)) = ident else {
        return outs;
    };
    let unix = event::parse_rfc3339(ev.timestamp).unwrap();
    let mut time = String::with_capacity(20);
    event::format_utc(unix.div_euclid(3600) * 3600, &mut time);
    let ad = ev.ad.as_ref().filter(|a| {
        a.campaign_id.is_some()
            || a.placement.is_some()
            || a.value_estimate_micros.is_some()
            || a.currency.is_some()
    });
    let app = ev.app.as_ref().filter(|a| a.app_id.is_some());
    for p in partners {
        let ad_id = tagged(p, kind, &norm);
        let event_id = tagged(p, "event_id", ev.event_id);
        outs.push(
            serde_json::to_vec(&Out {
                event_type: ev.event_type,
                time: &time,
                ad_id: &ad_id,
                ad_id_type: kind,
                event_id: &event_id,
                ad,
                app,
            })
            .unwrap(),
        );
    }
    outs
}

// ------------------------------------------------------------------- VRL --

/// A VRL string literal holding `bytes` (all ASCII here: `\u{..}` of a byte
/// >= 0x80 would be its two-byte UTF-8 encoding, not the byte).
fn vrl_bytes_literal(bytes: &[u8]) -> String {
    assert!(
        bytes.is_ascii(),
        "a VRL literal cannot carry non-ASCII key bytes"
    );
    let mut s = String::from("\"");
    for b in bytes {
        s.push_str(&format!("\\u{{{b:x}}}"));
    }
    s.push('"');
    s
}

/// The scrub for `n` partners as one VRL program; `.` ends as the array of
/// the partners' output events (Vector emits one event per element).
fn vrl_source(n: usize) -> String {
    let types = EVENT_TYPES.map(|t| format!("{t:?}")).join(", ");
    let sensitive = SENSITIVE.map(|t| format!("{t:?}")).join(", ");
    let mut src = format!(
        r#"
ev = object!(parse_json!(.message))
blocked = ev.consent.personalized_ads == false || ev.consent.gpc == true
if is_integer(ev.user.age) {{ blocked = blocked || int!(ev.user.age) < {minor} }}
if is_float(ev.user.age) {{ blocked = blocked || float!(ev.user.age) < {minor} }}
if includes([{sensitive}], ev.context.category) {{ blocked = true }}

kind = ""
norm = ""
if is_string(ev.user.email) {{
    e = downcase(strip_whitespace(string!(ev.user.email)))
    parts = split(e, "@")
    if length(parts) == 2 && !contains(e, " ") {{
        local = string!(parts[0])
        domain = string!(parts[1])
        if domain == "gmail.com" || domain == "googlemail.com" {{
            local = replace(string!(split(local, "+")[0]), ".", "")
            e = local + "@" + domain
        }}
        if local != "" && domain != "" {{
            kind = "email"
            norm = e
        }}
    }}
}}
if kind == "" && is_string(ev.user.account_id) {{
    a = strip_whitespace(string!(ev.user.account_id))
    if a != "" {{
        kind = "account_id"
        norm = a
    }}
}}
if kind == "" && is_string(ev.user.device_id) {{
    d = strip_whitespace(string!(ev.user.device_id))
    if d != "" {{
        kind = "device_id"
        norm = d
    }}
}}

time = format_timestamp!(parse_timestamp!(string!(ev.timestamp), "%+"), "%Y-%m-%dT%H:00:00Z")
base = {{"event_type": ev.event_type, "time": time}}
ad = {{}}
if exists(ev.ad.campaign_id) {{ ad.campaign_id = ev.ad.campaign_id }}
if exists(ev.ad.placement) {{ ad.placement = ev.ad.placement }}
if exists(ev.ad.value_estimate_micros) {{ ad.value_estimate_micros = ev.ad.value_estimate_micros }}
if exists(ev.ad.currency) {{ ad.currency = ev.ad.currency }}
if length(ad) > 0 {{ base.ad = ad }}
app = {{}}
if exists(ev.app.app_id) {{ app.app_id = ev.app.app_id }}
if length(app) > 0 {{ base.app = app }}
event_id = string!(ev.event_id)

outs = []
"#,
        minor = MINOR_AGE as u64,
    );
    for i in 0..n {
        let key = vrl_bytes_literal(&key_bytes(i));
        src.push_str(&format!(
            r#"
if !blocked && kind != "" && includes([{types}], ev.event_type) {{
    o = base
    o.ad_id = "k{i}." + encode_base64(hmac(kind + ":" + norm, {key}, "SHA-256"), padding: false, charset: "url_safe")
    o.ad_id_type = kind
    o.event_id = "k{i}." + encode_base64(hmac("event_id:" + event_id, {key}, "SHA-256"), padding: false, charset: "url_safe")
    outs = push(outs, o)
}}
"#
        ));
    }
    src.push_str(". = outs\n");
    src
}

fn vrl_program(n: usize) -> Program {
    let fns = vrl::stdlib::all();
    match vrl::compiler::compile(&vrl_source(n), &fns) {
        Ok(r) => r.program,
        Err(diags) => panic!(
            "VRL does not compile:\n{}",
            vrl::diagnostic::Formatter::new(&vrl_source(n), diags)
        ),
    }
}

fn vrl_run(rt: &mut Runtime, program: &Program, tz: &TimeZone, text: &str) -> Vec<Vec<u8>> {
    let mut target = TargetValue {
        value: Value::Object(BTreeMap::from([(
            "message".into(),
            Value::Bytes(text.as_bytes().to_vec().into()),
        )])),
        metadata: Value::Object(BTreeMap::new()),
        secrets: Secrets::default(),
    };
    rt.resolve(&mut target, program, tz).unwrap();
    rt.clear();
    match target.value {
        Value::Array(outs) => outs
            .iter()
            .map(|o| serde_json::to_vec(o).unwrap())
            .collect(),
        other => panic!("VRL left {other:?}"),
    }
}

// ----------------------------------------------------------------- bench --

fn as_json(lines: &[Vec<u8>]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// Events that take the other branches (not measured, only compared).
fn edge_events() -> Vec<String> {
    let base =
        r#""event_id":"e-1","event_type":"app_install","timestamp":"2026-11-28T23:59:59+02:00""#;
    [
        r#""user":{"email":" J.a.n.e+promo@GMail.com","account_id":"A1"},"ad":{"placement":"x"}"#,
        r#""user":{"email":"jane.doe+x@googlemail.com"},"app":{"app_id":"a"}"#,
        r#""user":{"email":"not-an-email","account_id":"  A2  "},"ad":{"campaign_id":"c"}"#,
        r#""user":{"email":"a b@c.d","device_id":"D3"},"ad":{}"#,
        r#""user":{"account_id":"   ","device_id":" D4"}"#,
        r#""user":{"phone":"+12065550100"}"#,
        r#""user":{"email":"x@y.z"},"consent":{"personalized_ads":false}"#,
        r#""user":{"email":"x@y.z"},"consent":{"gpc":true}"#,
        r#""user":{"email":"x@y.z","age":17.5}"#,
        r#""user":{"email":"x@y.z","age":12}"#,
        r#""user":{"email":"x@y.z","age":18},"context":{"category":"books"}"#,
        r#""user":{"email":"x@y.z"},"context":{"category":"pharmacy"}"#,
    ]
    .iter()
    .map(|body| format!("{{{base},{body}}}"))
    .collect()
}

fn bench(c: &mut Criterion) {
    let evs = events(256);
    let avg = evs.iter().map(|e| e.len()).sum::<usize>() / evs.len();
    eprintln!("average event size: {avg} bytes");
    let hasher = SubjectHasher::new(&[5; 32]);
    let tz = TimeZone::parse("UTC").unwrap();

    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(evs.len() as u64));
    for n in [1usize, 3] {
        let policy = Policy::new(&config(n), hasher.clone());
        let partners: Vec<LimitPartner> = (0..n)
            .map(|i| LimitPartner {
                prefix: format!("k{i}."),
                mac: Hmac::<Sha256>::new_from_slice(&key_bytes(i)).unwrap(),
            })
            .collect();
        let program = vrl_program(n);
        let mut rt = Runtime::default();

        // Equivalence, on every event, before measuring anything.
        let mut routed = 0;
        for e in evs.iter().chain(&edge_events()) {
            let want = adgate_lines(&policy, e);
            routed += want.len();
            assert_eq!(
                limit(&partners, e),
                want,
                "limit differs from adgate on {e}"
            );
            assert_eq!(
                as_json(&vrl_run(&mut rt, &program, &tz, e)),
                as_json(&want),
                "VRL differs from adgate on {e}"
            );
        }
        // ad_impression x3 + app_install of every 6 events, for each partner.
        assert_eq!(
            routed,
            n * ((0..evs.len()).filter(|i| i % 6 < 4).count() + 6)
        );
        eprintln!(
            "{n} partner(s): {routed} outputs from {} events (+12 edge cases); limit byte-equal, VRL JSON-equal to adgate; e.g.\n  adgate {}\n  vrl    {}",
            evs.len(),
            String::from_utf8_lossy(&adgate_lines(&policy, &evs[0])[0]),
            String::from_utf8_lossy(&vrl_run(&mut rt, &program, &tz, &evs[0])[0]),
        );

        g.bench_function(format!("adgate/{n}"), |b| {
            b.iter(|| {
                for e in &evs {
                    let ev = Event::parse(e).unwrap();
                    black_box(policy.evaluate(&ev, &NoOptOuts));
                }
            })
        });
        g.bench_function(format!("limit/{n}"), |b| {
            b.iter(|| {
                for e in &evs {
                    black_box(limit(&partners, e));
                }
            })
        });
        g.bench_function(format!("vrl/{n}"), |b| {
            b.iter(|| {
                for e in &evs {
                    black_box(vrl_run(&mut rt, &program, &tz, e));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
