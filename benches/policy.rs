//! Policy path against a plain baseline, on the same realistic ~600-byte
//! events, measured in the same run.
//!
//! - `policy/1_partner`, `policy/3_partners`: adgate's whole per-event work
//!   at ingest (parse, normalize, subject hashes, rules, HMACs, allow-list
//!   copy, leak guard, output bytes).
//! - `baseline/parse_hmac_serialize`: a typed serde struct parsed, the email
//!   trimmed and lowercased, one HMAC-SHA256 with a pre-keyed state, and the
//!   kept fields serialized with serde_json; written as plainly as possible.
//! - `hmac/ad_id`: one ad_id derivation, to keep the HMAC cost (and the
//!   `target-cpu=native` trap) in view.
//!
//! Run: `cargo bench --bench policy`. The events and the config are in
//! `benches/common/events.rs`, shared with the peer comparison in
//! `benches/peers` (adgate against a plain-Rust limit and Vector's VRL).

use std::hint::black_box;

use adgate::event::Event;
use adgate::identity::{Kind, PartnerKey, SubjectHasher};
use adgate::policy::{NoOptOuts, Policy};
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
            |b| {
                b.iter(|| {
                    for e in &evs {
                        // As ingest: parse, the idempotency hash, the policy.
                        let ev = Event::parse(e).unwrap();
                        black_box(hasher.event(&ev.event_id));
                        black_box(policy.evaluate(&ev, &NoOptOuts));
                    }
                })
            },
        );
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
