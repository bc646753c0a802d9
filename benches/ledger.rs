//! The subject-access ledger's writer: what one flush costs, off the ingest
//! path (the `adgate-privacy` thread pays it, at delivery time).
//!
//! - `ledger/write_new_rows`: 20 000 rows of distinct subjects upserted in
//!   one transaction into a file-backed store (WAL, `synchronous = NORMAL`,
//!   `secure_delete`) already holding 100 000 rows of today and 400 000 of
//!   the 20 days before, as a flush after a busy few seconds does.
//!   Throughput is rows per second; a delivered event costs one row per
//!   identifier it carries, fewer when the same person recurs within the
//!   flush interval.
//! - `ledger/parse_delivered`: reading ad_id_type and key id from a
//!   scrubbed line, the per-event work the push worker and feed commit add.
//!
//! Run: `cargo bench --bench ledger`.

use std::hint::black_box;
use std::sync::Arc;

use adgate::identity::Kind;
use adgate::policy::Subjects;
use adgate::privacy::ledger::{aggregate, write, KeyId, Rows};
use adgate::privacy::{open_rw, Delivered};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const ROWS: u64 = 20_000;
const TODAY: u64 = 100_000;
const PAST_DAYS: u64 = 20;
const PER_PAST_DAY: u64 = 20_000;

fn subject(n: u64) -> [u8; 16] {
    // Spread like HMAC output: keyed hashes arrive in random order.
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    h[8..].copy_from_slice(&n.to_le_bytes());
    h
}

fn items(from: u64, n: u64) -> Vec<Delivered> {
    (from..from + n)
        .map(|i| {
            let mut s = Subjects::default();
            s.push(subject(i));
            Delivered {
                subjects: s,
                ad_id_type: Kind::Email,
                key_id: KeyId::new("k202611").unwrap(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open_rw(&dir.path().join("privacy.db")).unwrap();
    let partner: Arc<str> = Arc::from("acme-ads");
    let now = adgate::util::now_ms();
    for d in 1..=PAST_DAYS {
        let mut pending = Rows::default();
        let at = now - d * adgate::privacy::DAY_MS;
        aggregate(
            &mut pending,
            &partner,
            at,
            &items(d * 1_000_000_000, PER_PAST_DAY),
        );
        write(&mut conn, &pending).unwrap();
    }
    let mut pending = Rows::default();
    aggregate(&mut pending, &partner, now, &items(0, TODAY));
    write(&mut conn, &pending).unwrap();
    let mut next = TODAY;

    let mut g = c.benchmark_group("ledger");
    g.throughput(Throughput::Elements(ROWS));
    g.sample_size(10);
    g.bench_function("write_new_rows", |b| {
        b.iter_batched(
            || {
                let mut p = Rows::default();
                aggregate(&mut p, &partner, now, &items(next, ROWS));
                next += ROWS;
                p
            },
            |p| write(&mut conn, &p).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // What the ledger thread does per delivered batch: 500 events of three
    // subjects each summed into the rows held since the last write (a
    // second's worth at the rate of the end-to-end bench).
    let batch: Vec<Delivered> = (0..500u64)
        .map(|i| {
            let mut s = Subjects::default();
            for k in 0..3 {
                s.push(subject(i * 3 + k));
            }
            Delivered {
                subjects: s,
                ad_id_type: Kind::Email,
                key_id: KeyId::new("k202611").unwrap(),
            }
        })
        .collect();
    let mut held = Rows::default();
    aggregate(&mut held, &partner, now, &items(1 << 40, 60_000));
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.sample_size(30);
    g.bench_function("aggregate_batch", |b| {
        b.iter(|| aggregate(&mut held, &partner, now, black_box(&batch)))
    });
    let line = br#"{"event_type":"ad_impression","time":"2026-11-28T13:00:00Z","ad_id":"k202611.mT3nD0Yv1r2hN8k4q0h6bWJc1aU5sZ9xQe7pL3fK2gA","ad_id_type":"email","event_id":"k202611.Opjim0Yv1r2hN8k4q0h6bWJc1aU5sZ9xQe7pL3fK2g","ad":{"campaign_id":"c-77","placement":"home-top","value_estimate_micros":1250,"currency":"USD"}}"#;
    let mut s = Subjects::default();
    s.push(subject(1));
    g.throughput(Throughput::Elements(1));
    g.sample_size(50);
    g.bench_function("parse_delivered", |b| {
        b.iter(|| Delivered::of(black_box(&s), black_box(line)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
