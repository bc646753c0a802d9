//! Partner profile encoders against the adgate profile, in the same run
//! (docs/profiles.md; the goal: a profile must not make the per-event work
//! more than 1.2x the adgate profile's).
//!
//! - `encode/<profile>`: one event encoded from a [`ProfileInput`] (email,
//!   phone and account id present, allow-listed fields as JSON): for
//!   `adgate` one HMAC-SHA256 and the NDJSON line; for the partner
//!   profiles normalization, one SHA-256 per identifier sent and the
//!   partner's event object.
//! - `body/<profile>`: framing 500 stored events into one push body (a byte
//!   copy; no event is parsed or re-encoded).
//!
//! Run: `cargo bench --bench profiles`. The ratio to read is
//! `encode/<profile>` over `encode/adgate`. This bench covers the encoder
//! only; once the policy calls the encoders, the same comparison belongs in
//! `benches/policy.rs` (whole per-event path, profile vs adgate).

use std::hint::black_box;

use adgate::identity::{Kind, PartnerKey};
use adgate::profile::adgate::AdgateProfile;
use adgate::profile::google_ads::{GoogleAds, GoogleOptions};
use adgate::profile::meta_capi::{MetaCapi, MetaOptions};
use adgate::profile::tiktok_events::{TiktokEvents, TiktokOptions};
use adgate::profile::{ConsentSignals, Profile, ProfileInput};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const FIELDS: &str = r#"{"ad":{"campaign_id":"c-77","placement":"home-top","value_estimate_micros":1250,"currency":"USD"},"app":{"app_id":"com.example.game"}}"#;

fn inputs() -> Vec<(String, String, String)> {
    (0..256)
        .map(|i| {
            (
                format!(" Jane.Doe{i}@Example.com "),
                format!("+1 206 555 {:04}", i),
                format!("k1.event-id-{i:08}-0123456789abcdefghij"),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let profiles: Vec<Box<dyn Profile>> = vec![
        Box::new(AdgateProfile::new(
            PartnerKey::new("k1", &[7; 32]),
            vec![Kind::AccountId, Kind::Email, Kind::Phone],
        )),
        Box::new(MetaCapi::new(MetaOptions::example())),
        Box::new(GoogleAds::new(GoogleOptions::example())),
        Box::new(TiktokEvents::new(TiktokOptions::example())),
    ];
    let data = inputs();
    fn input(d: &(String, String, String)) -> ProfileInput<'_> {
        ProfileInput {
            event_type: "ad_impression",
            unix_seconds: 1_796_043_600,
            event_id: &d.2,
            email: Some(&d.0),
            phone: Some(&d.1),
            account_id: Some("A123"),
            fields: Some(FIELDS),
            consent: ConsentSignals {
                ad_user_data: Some(true),
                ad_personalization: Some(true),
                limited_data_use: false,
            },
            ..Default::default()
        }
    }

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(data.len() as u64));
    for p in &profiles {
        g.bench_function(p.name(), |b| {
            let mut out = Vec::with_capacity(512);
            b.iter(|| {
                for d in &data {
                    out.clear();
                    p.encode(&input(d), &mut out).unwrap();
                    black_box(&out);
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("body");
    g.throughput(Throughput::Elements(500));
    for p in &profiles {
        let stored: Vec<Vec<u8>> = data
            .iter()
            .cycle()
            .take(500)
            .map(|d| {
                let mut out = Vec::new();
                p.encode(&input(d), &mut out).unwrap();
                out
            })
            .collect();
        let refs: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
        g.bench_function(p.name(), |b| {
            let mut body = Vec::with_capacity(512 * 500);
            b.iter(|| {
                body.clear();
                p.write_body(black_box(&refs), &mut body);
                black_box(&body);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
