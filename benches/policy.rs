//! Policy path against a plain baseline, on the same realistic ~600-byte
//! events, measured in the same run.
//!
//! - `policy/1_partner`, `policy/3_partners`: adgate's whole per-event work
//!   at ingest (parse, normalize, subject hashes, rules, HMACs, allow-list
//!   copy, leak guard, output bytes). The events share their ad fields, as
//!   one campaign's traffic does; `..._distinct_values` gives every event
//!   its own campaign id, placement, app id and page URL, so the guard's
//!   per-thread cache of string readings never hits. `..._digest_like_values` gives
//!   every event a UUID campaign id and a camel-case placement, values the
//!   leak guard must compare with the digests of the event's identifiers.
//! - `baseline/parse_hmac_serialize`: a typed serde struct parsed, the email
//!   trimmed and lowercased, one HMAC-SHA256 with a pre-keyed state, and the
//!   kept fields serialized with serde_json; written as plainly as possible.
//! - `consent/none`, `consent/tcf_gpp`: 3 partners checking TCF vendor 755
//!   and the GPP US opt-outs, on the events without and with a TC string
//!   and a GPP string, the same pair on every event (the strings must cost
//!   at most 1.15x). `consent/tcf_gpp_distinct`: every event with its own
//!   pair, so the per-thread cache of recent strings never hits.
//! - `profile/adgate`, `profile/meta_capi`, `profile/google_ads`,
//!   `profile/tiktok_events`: the whole per-event path for one partner of
//!   each profile (docs/profiles.md), same events, same fields; a partner
//!   API profile must cost at most 1.2x `profile/adgate`.
//! - `hmac/ad_id`: one ad_id derivation, to keep the HMAC cost (and the
//!   `target-cpu=native` trap) in view.
//!
//! Run: `cargo bench --bench policy`; with `ADGATE_BENCH_PAIRED=1` the
//! consent ratios are also measured paired (batches of the three sets in
//! turn, see `paired_ratios`), steadier on a shared machine. The events
//! and the config are in `benches/common/events.rs`, shared with the peer
//! comparison in `benches/peers` (adgate against a plain-Rust limit and
//! Vector's VRL).

use std::hint::black_box;

use adgate::config::{env_from, Config};
use adgate::event::Event;
use adgate::identity::{Kind, PartnerKey, SubjectHasher};
use adgate::policy::{guard, NoOptOuts, Outcome, Policy};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[path = "common/events.rs"]
mod events;
use events::{config, events, KEYS};

#[derive(Deserialize)]
struct BaseIn<'a> {
    event_id: &'a str,
    event_type: &'a str,
    timestamp: &'a str,
    #[serde(borrow)]
    user: Option<BaseUser<'a>>,
    #[serde(borrow)]
    ad: Option<BaseAd<'a>>,
}

#[derive(Deserialize)]
struct BaseUser<'a> {
    email: Option<&'a str>,
}

#[derive(Deserialize, Serialize)]
struct BaseAd<'a> {
    campaign_id: Option<&'a str>,
    placement: Option<&'a str>,
    value_estimate_micros: Option<u64>,
    currency: Option<&'a str>,
}

#[derive(Serialize)]
struct BaseOut<'a> {
    event_type: &'a str,
    time: &'a str,
    ad_id: String,
    event_id: &'a str,
    ad: Option<BaseAd<'a>>,
}

/// The plain baseline: parse, normalize, one HMAC, serialize kept fields.
fn baseline(text: &str, mac: &Hmac<Sha256>) -> Vec<u8> {
    let ev: BaseIn = serde_json::from_str(text).unwrap();
    let email = ev
        .user
        .and_then(|u| u.email)
        .unwrap_or("")
        .trim()
        .to_lowercase();
    let mut m = mac.clone();
    m.update(b"email:");
    m.update(email.as_bytes());
    let ad_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    serde_json::to_vec(&BaseOut {
        event_type: ev.event_type,
        time: ev.timestamp,
        ad_id,
        event_id: ev.event_id,
        ad: ev.ad,
    })
    .unwrap()
}

/// `evs` with a TC string (purposes 1-4 and vendors 1-800 as ranges plus a
/// bit-field LI section, ~600 characters, as real CMP strings are) and a
/// GPP string (usnat and usca, nobody opted out) in `consent`. `distinct`:
/// every event gets its own pair of strings (another creation time in the
/// TC string, other non-health sensitive-data answers in the GPP string;
/// the same decision), so no string is seen twice in a row; otherwise all
/// events carry the same pair, as one site's traffic mostly does.
fn consent_events(evs: &[String], distinct: bool) -> Vec<String> {
    use adgate::consent::gpp::{encode_header, UsSection, UsValues};
    use adgate::consent::tcf::TcModel;
    let strings = |i: u64| {
        let tc = TcModel {
            created: 17_000_000_000 + i * 10,
            last_updated: 17_000_000_000 + i * 10,
            cmp_id: 31,
            consent_language: *b"EN",
            publisher_cc: *b"DE",
            policy_version: 4,
            purposes_consent: 0b1111,
            vendor_consents: (1..=800).filter(|v| v % 7 != 0).collect(),
            vendor_consents_as_ranges: true,
            vendor_li: vec![1, 2, 755],
            ..TcModel::default()
        }
        .encode();
        let mut us = UsValues {
            version: 1,
            sale_opt_out_notice: 1,
            sale_opt_out: 2,
            sharing_opt_out: 2,
            targeted_advertising_opt_out: 2,
            mspa_covered_transaction: 2,
            ..UsValues::default()
        };
        // Sensitive categories 1, 2, 4-7 (not the health ones): consent
        // (2) or not applicable (0) by the bits of `i`.
        for (bit, c) in [0, 1, 3, 4, 5, 6].into_iter().enumerate() {
            us.sensitive_data_processing[c] = if i >> bit & 1 == 1 { 2 } else { 0 };
        }
        let gpp = format!(
            "{}~{}~{}",
            encode_header(&[7, 8]),
            us.encode(UsSection::UsNat),
            us.encode(UsSection::UsCa)
        );
        (tc, gpp)
    };
    evs.iter()
        .enumerate()
        .map(|(i, e)| {
            let (tc, gpp) = strings(if distinct { i as u64 } else { 0 });
            let mut v: serde_json::Value = serde_json::from_str(e).unwrap();
            v["consent"]["tcf"] = tc.into();
            v["consent"]["gpp"] = gpp.into();
            v.to_string()
        })
        .collect()
}

/// The consent ratios measured paired (`ADGATE_BENCH_PAIRED=1`): one batch
/// of each set in turn, `rounds` times, printing for each set its fastest
/// batch against the first set's and the median of the ratios of batches
/// run back to back. The other tenants of a shared machine only ever slow
/// a batch down, so these are steadier than two criterion groups measured
/// seconds apart.
fn paired_ratios(sets: &[(&str, &Vec<String>)], batch: impl Fn(&[String]), rounds: usize) {
    use std::time::{Duration, Instant};
    for (_, set) in sets {
        batch(set);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); sets.len()];
    for _ in 0..rounds {
        for (i, (_, set)) in sets.iter().enumerate() {
            let t = Instant::now();
            batch(set);
            times[i].push(t.elapsed());
        }
    }
    let min = |t: &[Duration]| t.iter().min().copied().unwrap_or_default();
    for (i, (name, _)) in sets.iter().enumerate().skip(1) {
        let mut pairs: Vec<f64> = times[i]
            .iter()
            .zip(&times[0])
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
            .collect();
        pairs.sort_by(f64::total_cmp);
        eprintln!(
            "paired, {rounds} rounds: {name} / {}: fastest {:.3}, median of pairs {:.3} ({:?} / {:?} per batch)",
            sets[0].0,
            min(&times[i]).as_secs_f64() / min(&times[0]).as_secs_f64(),
            pairs[pairs.len() / 2],
            min(&times[i]),
            min(&times[0]),
        );
    }
}

/// What ingest does per event: parse, the idempotency hash, the policy.
fn ingest(policy: &Policy, hasher: &SubjectHasher, evs: &[String]) {
    for e in evs {
        let ev = Event::parse(e).unwrap();
        black_box(hasher.event(&ev.event_id));
        black_box(policy.evaluate(&ev, &NoOptOuts));
    }
}

/// One push partner of profile `profile` (`adgate` or a partner API), with
/// the fields and identifiers of `events::config`.
fn profile_config(profile: &str) -> Config {
    let (extra, options, endpoint) = match profile {
        "meta_capi" => (
            "profile = \"meta_capi\"\nlinkable_ids = \"accept\"",
            "[partners.profile_options]\npixel_id = \"1234567890123456\"\nevent_names = { ad_impression = \"ViewContent\", app_install = \"AppInstall\" }",
            "https://graph.facebook.com/v21.0/1234567890123456/events\"\naccess_token_env = \"A",
        ),
        "google_ads" => (
            "profile = \"google_ads\"\nlinkable_ids = \"accept\"",
            "[partners.profile_options]\ncustomer_id = \"1234567890\"\nconversion_action = \"customers/1234567890/conversionActions/1\"\nvalue_field = \"ad.value_estimate_micros\"\nvalue_unit = \"micros\"\ncurrency_field = \"ad.currency\"",
            "https://googleads.googleapis.com/v21/customers/1234567890:uploadClickConversions\"\naccess_token_env = \"A\"\ndeveloper_token_env = \"D",
        ),
        "tiktok_events" => (
            "profile = \"tiktok_events\"\nlinkable_ids = \"accept\"",
            "[partners.profile_options]\nevent_source_id = \"CTEST0PIXEL0CODE0001\"\nevent_names = { ad_impression = \"ViewContent\", app_install = \"Download\" }",
            "https://business-api.tiktok.com/open_api/v1.3/event/track/\"\naccess_token_env = \"A",
        ),
        _ => (
            "",
            "",
            "https://ads.example/v1/events\"\nsigning_secret_env = \"S",
        ),
    };
    let toml = format!(
        r#"
[[partners]]
name = "p"
{extra}
event_types = ["ad_impression", "app_install"]
identifiers = ["email", "account_id", "device_id"]
fields = ["ad.campaign_id", "ad.placement", "ad.value_estimate_micros", "ad.currency", "app.app_id"]
{options}
[partners.delivery]
mode = "push"
endpoint = "{endpoint}"
[[partners.keys]]
id = "k0"
secret_env = "K"
"#
    );
    let env = [
        ("K", KEYS[0]),
        ("A", "partner-access-token-0123456789abcdef"),
        ("D", "developer-token-0123456789"),
        ("S", "signing-secret-0123456789abcdef012345"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::from_toml(
        &toml,
        "bench.toml",
        std::path::Path::new("."),
        &env_from(env),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let evs = events(256);
    let avg = evs.iter().map(|e| e.len()).sum::<usize>() / evs.len();
    eprintln!("average event size: {avg} bytes");
    let hasher = SubjectHasher::new(&[5; 32]);

    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(evs.len() as u64));
    for n in [1usize, 3] {
        let policy = Policy::new(&config(n), hasher.clone());
        g.bench_function(
            format!("policy/{n}_partner{}", if n > 1 { "s" } else { "" }),
            |b| b.iter(|| ingest(&policy, &hasher, &evs)),
        );
    }
    g.finish();
    // The same, with every event's campaign id, placement and app id its
    // own, over more events than the guard's per-thread cache of string
    // readings holds: it never hits (the cost of fresh values).
    let many = events(4 * guard::READING_CACHE_ENTRIES / 3 + 1);
    let distinct_fields: Vec<String> = many
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v: serde_json::Value = serde_json::from_str(e).unwrap();
            v["ad"]["campaign_id"] = format!("c-{i}-77").into();
            v["ad"]["placement"] = format!("home-top-{i}").into();
            v["app"]["app_id"] = format!("com.example.game{i}").into();
            // Every page its own product, as a shop's traffic has: the
            // page path's reading is remembered per text too.
            v["context"]["page_url"] =
                format!("https://shop.example.com/products/{}?ref=home", 10_000 + i).into();
            v.to_string()
        })
        .collect();
    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(distinct_fields.len() as u64));
    for n in [1usize, 3] {
        let policy = Policy::new(&config(n), hasher.clone());
        g.bench_function(
            format!(
                "policy/{n}_partner{}_distinct_values",
                if n > 1 { "s" } else { "" }
            ),
            |b| b.iter(|| ingest(&policy, &hasher, &distinct_fields)),
        );
    }
    g.finish();
    // Campaign ids that are UUIDs (16 campaigns) and a camel-case
    // placement, as many ad servers write them: such a value could hold a
    // cut digest, so the guard compares it with every digest of the
    // event's own identifiers (each event is a new person).
    let digest_like: Vec<String> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v: serde_json::Value = serde_json::from_str(e).unwrap();
            v["ad"]["campaign_id"] =
                format!("3fa85f64-5717-4562-b3fc-2c963f66af{:02x}", i % 16).into();
            v["ad"]["placement"] = "HomepageTopBanner".into();
            v.to_string()
        })
        .collect();
    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(digest_like.len() as u64));
    for n in [1usize, 3] {
        let policy = Policy::new(&config(n), hasher.clone());
        g.bench_function(
            format!(
                "policy/{n}_partner{}_digest_like_values",
                if n > 1 { "s" } else { "" }
            ),
            |b| b.iter(|| ingest(&policy, &hasher, &digest_like)),
        );
    }
    g.finish();
    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(evs.len() as u64));
    // Consent: every partner checks TCF vendor 755 (purposes 1, 3, 4) and
    // the GPP US opt-outs; the same events without and with a TC string and
    // a GPP string (consent given, so the work after the check is the same).
    // The issue's bound: with strings at most 1.15x without.
    let mut consent_cfg = config(3);
    for p in &mut consent_cfg.partners {
        p.consent.tcf_vendor_id = Some(755);
    }
    let consent_policy = Policy::new(&consent_cfg, hasher.clone());
    let with_strings = consent_events(&evs, false);
    let distinct = consent_events(&evs, true);
    for set in [&with_strings, &distinct] {
        // Every event carries strings that allow every partner, so the
        // work after the check is the same as without strings.
        for (e, plain) in set.iter().zip(&evs) {
            let with = consent_policy.evaluate(&Event::parse(e).unwrap(), &NoOptOuts);
            let without = consent_policy.evaluate(&Event::parse(plain).unwrap(), &NoOptOuts);
            assert_eq!(with.outcomes.len(), without.outcomes.len());
            for (a, b) in with.outcomes.iter().zip(&without.outcomes) {
                let same = match (a, b) {
                    (Outcome::Route(_), Outcome::Route(_)) => true,
                    (Outcome::Drop(x), Outcome::Drop(y)) => x == y,
                    _ => false,
                };
                assert!(same, "the strings changed a decision: {a:?} / {b:?}");
            }
        }
    }
    let consent_batch = |set: &[String]| ingest(&consent_policy, &hasher, set);
    let consent_sets = [
        ("consent/none", &evs),
        ("consent/tcf_gpp", &with_strings),
        ("consent/tcf_gpp_distinct", &distinct),
    ];
    for (name, set) in consent_sets {
        g.bench_function(name, |b| b.iter(|| consent_batch(set)));
    }
    if std::env::var_os("ADGATE_BENCH_PAIRED").is_some() {
        paired_ratios(&consent_sets, consent_batch, 400);
    }
    // Profiles: one partner each, same events; the bound is 1.2x adgate.
    for profile in ["adgate", "meta_capi", "google_ads", "tiktok_events"] {
        let policy = Policy::new(&profile_config(profile), hasher.clone());
        // The same events must be routed for the ratio to mean anything.
        let routed = evs
            .iter()
            .filter(|e| {
                let ev = Event::parse(e).unwrap();
                matches!(
                    policy.evaluate(&ev, &NoOptOuts).outcomes[0],
                    Outcome::Route(_)
                )
            })
            .count();
        eprintln!("profile/{profile}: {routed} of {} events routed", evs.len());
        g.bench_function(format!("profile/{profile}"), |b| {
            b.iter(|| ingest(&policy, &hasher, &evs))
        });
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEYS[0])
        .unwrap();
    let mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    g.bench_function("baseline/parse_hmac_serialize", |b| {
        b.iter(|| {
            for e in &evs {
                black_box(baseline(e, &mac));
            }
        })
    });
    g.finish();

    let pk = PartnerKey::new("k1", &key);
    let mut h = c.benchmark_group("hmac");
    h.throughput(Throughput::Elements(1));
    h.bench_function("ad_id", |b| {
        b.iter(|| black_box(pk.ad_id(Kind::Email, black_box("jane.doe@example.com"))))
    });
    h.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
