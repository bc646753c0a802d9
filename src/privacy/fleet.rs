//! The subject-access ledger on the JetStream backend: one record for the
//! whole fleet, so that `/v1/access`, forget and the notices it sends
//! (crate::notice) answer the same on every replica, whichever replica
//! delivered the events.
//!
//! It lives in the key-value bucket `adgate_ledger`
//! ([`LEDGER_BUCKET`]): one entry per keyed
//! subject hash and partner, key `<subject hex>.<partner>`, value a small
//! JSON document of counts per UTC day, `ad_id_type` and key id (as the
//! embedded backend's SQLite rows):
//!
//! ```text
//! adgate_ledger  0f3a…9c.acme  {"rows":[{"day":20426,"type":"email","key":"k1","events":3,"first_ms":…,"last_ms":…}]}
//! ```
//!
//! Never an identifier, an ad_id or event content. The replica that sees a
//! partner acknowledge (a push 2xx, or a pull commit, which may land on
//! another replica than the one that served the events) adds the batch to
//! what it holds in memory, summed per row as the embedded ledger does, and
//! writes that every [`FLUSH_EVERY`] (or at once when [`MAX_PENDING_ROWS`]
//! are waiting; delivery then waits for the write: backpressure): one
//! compare-and-set update per subject and partner per write, retried on a
//! concurrent update, at most [`CONCURRENCY`] in flight. An entry update
//! per delivered batch was two NATS requests per distinct subject and
//! batch: it capped the fleet's delivery (and starved ingest on the same
//! cores) far below the embedded backend's. Days before the retention
//! window are dropped when an entry is written, and the bucket's `max_age`
//! (retention + 1 day) removes entries no longer written.
//!
//! A crash loses at most the last second of rows, as the embedded ledger
//! loses its last flush interval (delivery is at-least-once; the ledger
//! records what partners acknowledged). What every replica held when a
//! person was forgotten or opted out must be in the bucket before the
//! notices are chosen from it: [`FleetLedger::barrier`] writes this
//! replica's rows and waits [`BARRIER`], two write intervals, for the
//! others'. A subject already forgotten is not added again; rows held
//! before the forget are written, and the forget purges the subject's
//! entries once more after another [`BARRIER`], so a late write leaves
//! nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::identity::SubjectHash;
use crate::metrics::Metrics;
use crate::optout::OptOutStore;

use super::ledger::{self, AccessRow, Agg, Delivered, RowKey};

/// Entry updates in flight for one write (and reads for one access).
pub const CONCURRENCY: usize = 32;
/// How often a replica writes the rows it holds.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a forget or opt-out waits for every replica's rows (two write
/// intervals: one to start a write, one for it to finish under load).
pub const BARRIER: std::time::Duration = std::time::Duration::from_secs(2);
/// Entries whose last written value a replica keeps (about 200 bytes
/// each), to update them without reading them first.
const WRITTEN_CACHE: usize = 100_000;
/// Rows held before delivery waits for a write.
pub const MAX_PENDING_ROWS: usize = super::MAX_PENDING_ROWS;
/// Compare-and-set attempts per entry before the update is given up.
const MAX_TRIES: usize = 8;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Value {
    rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    day: i64,
    #[serde(rename = "type")]
    ad_id_type: String,
    key: String,
    events: u64,
    first_ms: u64,
    last_ms: u64,
}

/// The NATS KV bucket holding the fleet-wide ledger.
pub const LEDGER_BUCKET: &str = "adgate_ledger";

/// The ledger bucket, as the outbox backend that created it hands it over.
#[derive(Clone)]
pub struct LedgerBucket {
    pub kv: kv::Store,
    /// The JetStream context the bucket's stream is purged through.
    pub context: async_nats::jetstream::Context,
}

impl std::fmt::Debug for LedgerBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerBucket")
    }
}

impl LedgerBucket {
    /// Erases every entry whose key starts with `prefix` (a keyed subject
    /// hash and a dot): a purge of the bucket's stream by subject, which
    /// leaves no marker behind. Returns the entries erased.
    async fn purge(&self, prefix: &str) -> Result<u64, String> {
        let s = self
            .context
            .get_stream_no_info(format!("KV_{LEDGER_BUCKET}"))
            .await
            .map_err(|e| format!("cannot open the ledger bucket: {e}"))?;
        let r = s
            .purge()
            .filter(format!("$KV.{LEDGER_BUCKET}.{prefix}>"))
            .await
            .map_err(|e| format!("cannot erase ledger entries: {e}"))?;
        Ok(r.purged)
    }
}

pub struct FleetLedger {
    bucket: LedgerBucket,
    optouts: Arc<OptOutStore>,
    metrics: Metrics,
    retention_days: AtomicU64,
    /// The configured partners: an access request reads their entries.
    partners: RwLock<Vec<String>>,
    /// Rows acknowledged and not written yet.
    pending: Mutex<ledger::Rows>,
    /// One write at a time (the periodic one, a barrier's, a full one's).
    writing: tokio::sync::Mutex<()>,
    /// Per entry key: the revision and value this replica wrote last.
    written: Mutex<HashMap<String, (u64, Value)>>,
}

impl std::fmt::Debug for FleetLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetLedger").finish()
    }
}

fn key_of(subject: &SubjectHash, partner: &str) -> String {
    format!("{}.{partner}", crate::util::hex(subject))
}

impl FleetLedger {
    pub fn new(
        bucket: LedgerBucket,
        optouts: Arc<OptOutStore>,
        metrics: Metrics,
        config: &Config,
    ) -> FleetLedger {
        let me = FleetLedger {
            bucket,
            optouts,
            metrics,
            retention_days: AtomicU64::new(0),
            partners: RwLock::new(Vec::new()),
            pending: Mutex::new(ledger::Rows::default()),
            writing: tokio::sync::Mutex::new(()),
            written: Mutex::new(HashMap::new()),
        };
        me.configure(config);
        me
    }

    pub fn configure(&self, config: &Config) {
        self.retention_days
            .store(config.privacy.access_retention_days, Ordering::Relaxed);
        *self.partners.write().unwrap() = config.partners.iter().map(|p| p.name.clone()).collect();
    }

    fn cutoff_day(&self) -> i64 {
        ledger::cutoff_day(
            crate::util::now_ms(),
            self.retention_days.load(Ordering::Relaxed),
        )
    }

    fn kv(&self) -> &kv::Store {
        &self.bucket.kv
    }

    /// Adds what `partner` acknowledged at `at_ms` to the rows held (a
    /// subject already forgotten is left out). Waits for a write only when
    /// [`MAX_PENDING_ROWS`] are held.
    pub async fn delivered(&self, partner: &str, at_ms: u64, items: &[Delivered]) {
        let partner: Arc<str> = Arc::from(partner);
        let full = {
            let mut pending = self.pending.lock().unwrap();
            ledger::aggregate_kept(&mut pending, &partner, at_ms, items, |h| {
                !self.optouts.is_forgotten(h)
            });
            pending.len() >= MAX_PENDING_ROWS
        };
        if full {
            self.flush().await;
        }
    }

    /// Writes every [`FLUSH_EVERY`] (shutdown writes the rest with
    /// [`FleetLedger::flush`]).
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            self.flush().await;
        }
    }

    /// Writes the rows held: one entry update per subject and partner. A
    /// failed update is logged and counted
    /// (`adgate_storage_write_failures_total{store="ledger"}`); the
    /// deliveries stand.
    pub async fn flush(&self) {
        let _one = self.writing.lock().await;
        let rows = std::mem::take(&mut *self.pending.lock().unwrap());
        if rows.is_empty() {
            return;
        }
        // One entry per subject and partner.
        type Entry = (SubjectHash, Arc<str>);
        let mut by_entry: HashMap<Entry, Vec<(RowKey, Agg)>> = HashMap::new();
        for (k, a) in rows {
            by_entry
                .entry((k.subject, k.partner.clone()))
                .or_default()
                .push((k, a));
        }
        let mut failed: HashMap<Arc<str>, u64> = HashMap::new();
        let mut updates = futures_util::stream::iter(by_entry)
            .map(|((s, partner), adds)| async move {
                let r = self.add(&key_of(&s, &partner), &adds).await;
                (partner, r)
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((partner, r)) = updates.next().await {
            if r.is_err() {
                *failed.entry(partner).or_default() += 1;
            }
        }
        for (partner, count) in failed {
            self.metrics.emit(crate::metrics::events::StorageWriteFailed {
                store: crate::metrics::Store::Ledger,
                partner: Some(&partner),
                count,
                error: &"updates of the ledger bucket failed",
                consequence: "cannot write the subject-access ledger in JetStream; these deliveries are not recorded",
                log: true,
            });
        }
    }

    /// Before notices are chosen for a person forgotten or opted out just
    /// now: writes this replica's rows, then waits [`BARRIER`] for every
    /// other replica's (each writes what it holds every [`FLUSH_EVERY`]).
    pub async fn barrier(&self) {
        self.flush().await;
        tokio::time::sleep(BARRIER).await;
    }

    /// One compare-and-set update of the entry `key`. The value and
    /// revision this replica wrote last are kept ([`WRITTEN_CACHE`] entries
    /// at most): an entry written here before is updated at once, without
    /// reading it first (one NATS request instead of two); if another
    /// replica (or a forget) changed it since, the update is refused and
    /// the entry is read as usual.
    async fn add(&self, key: &str, adds: &[(RowKey, Agg)]) -> Result<(), String> {
        let known = self.written.lock().unwrap().remove(key);
        if let Some((revision, mut v)) = known {
            self.merge(&mut v, adds);
            let body = Bytes::from(serde_json::to_vec(&v).expect("json"));
            if let Ok(r) = self.kv().update(key, body, revision).await {
                self.remember(key, r, v);
                return Ok(());
            }
        }
        let mut last = String::new();
        for attempt in 0..MAX_TRIES {
            if attempt > 0 {
                let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 1..=(5u64 << attempt));
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let entry = match self.kv().entry(key).await {
                Ok(e) => e,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let (mut v, revision) = match entry {
                Some(e) if e.operation == kv::Operation::Put => (
                    serde_json::from_slice::<Value>(&e.value).unwrap_or_default(),
                    Some(e.revision),
                ),
                Some(e) => (Value::default(), Some(e.revision)),
                None => (Value::default(), None),
            };
            self.merge(&mut v, adds);
            let body = Bytes::from(serde_json::to_vec(&v).expect("json"));
            let written = match revision {
                Some(r) => self
                    .kv()
                    .update(key, body, r)
                    .await
                    .map_err(|e| e.to_string()),
                None => self.kv().create(key, body).await.map_err(|e| e.to_string()),
            };
            match written {
                Ok(r) => {
                    self.remember(key, r, v);
                    return Ok(());
                }
                // Another replica updated it meanwhile (or NATS failed):
                // read it again.
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Adds `adds` to an entry's value, dropping days before retention.
    fn merge(&self, v: &mut Value, adds: &[(RowKey, Agg)]) {
        let cutoff = self.cutoff_day();
        v.rows.retain(|r| r.day >= cutoff);
        for (k, a) in adds {
            let (t, id) = (k.ad_id_type.as_str(), k.key_id.as_str());
            match v
                .rows
                .iter_mut()
                .find(|r| r.day == k.day && r.ad_id_type == t && r.key == id)
            {
                Some(r) => {
                    r.events += a.events;
                    r.first_ms = r.first_ms.min(a.first_ms);
                    r.last_ms = r.last_ms.max(a.last_ms);
                }
                None => v.rows.push(Row {
                    day: k.day,
                    ad_id_type: t.to_owned(),
                    key: id.to_owned(),
                    events: a.events,
                    first_ms: a.first_ms,
                    last_ms: a.last_ms,
                }),
            }
        }
    }

    /// Keeps what was written to `key` at `revision` (the whole cache is
    /// dropped when full: it only saves reads).
    fn remember(&self, key: &str, revision: u64, v: Value) {
        let mut w = self.written.lock().unwrap();
        if w.len() >= WRITTEN_CACHE {
            w.clear();
        }
        w.insert(key.to_owned(), (revision, v));
    }

    /// The subject's deliveries within retention, summed per partner,
    /// ad_id_type and key id, as the embedded ledger answers (partners in
    /// the config only).
    pub async fn access(&self, subject: SubjectHash) -> std::io::Result<Vec<AccessRow>> {
        let partners = self.partners.read().unwrap().clone();
        let cutoff = self.cutoff_day();
        let reads: Vec<(String, Result<Option<Bytes>, String>)> =
            futures_util::stream::iter(partners)
                .map(|p| async move {
                    let r = self
                        .kv()
                        .get(key_of(&subject, &p))
                        .await
                        .map_err(|e| e.to_string());
                    (p, r)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut out: BTreeMap<(String, String, String), AccessRow> = BTreeMap::new();
        for (partner, r) in reads {
            let value = r.map_err(|e| {
                std::io::Error::other(format!("the ledger bucket could not be read: {e}"))
            })?;
            let Some(value) = value else { continue };
            let v: Value = serde_json::from_slice(&value).unwrap_or_default();
            for row in v.rows.into_iter().filter(|r| r.day >= cutoff) {
                let e = out
                    .entry((partner.clone(), row.ad_id_type.clone(), row.key.clone()))
                    .or_insert(AccessRow {
                        partner: partner.clone(),
                        ad_id_type: row.ad_id_type,
                        key_id: row.key,
                        events: 0,
                        first_ms: row.first_ms,
                        last_ms: row.last_ms,
                    });
                e.events += row.events;
                e.first_ms = e.first_ms.min(row.first_ms);
                e.last_ms = e.last_ms.max(row.last_ms);
            }
        }
        Ok(out.into_values().collect())
    }

    /// Erases every entry of the subject (every partner); returns how many.
    /// Once more after [`BARRIER`], in the background: a replica's write
    /// that started before the forget and ended after this erase leaves
    /// nothing behind.
    pub async fn forget(&self, subject: SubjectHash) -> std::io::Result<u64> {
        self.pending
            .lock()
            .unwrap()
            .retain(|k, _| k.subject != subject);
        let prefix = format!("{}.", crate::util::hex(&subject));
        self.written
            .lock()
            .unwrap()
            .retain(|k, _| !k.starts_with(&prefix));
        let n = self
            .bucket
            .purge(&prefix)
            .await
            .map_err(std::io::Error::other)?;
        let bucket = self.bucket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(BARRIER).await;
            if let Err(e) = bucket.purge(&prefix).await {
                tracing::warn!(error = %e, "forget: the second erase of the ledger entries failed");
            }
        });
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_holds_counts_and_no_identifier() {
        let v = Value {
            rows: vec![Row {
                day: 20_426,
                ad_id_type: "email".into(),
                key: "k1".into(),
                events: 3,
                first_ms: 1,
                last_ms: 2,
            }],
        };
        let text = String::from_utf8(serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"rows":[{"day":20426,"type":"email","key":"k1","events":3,"first_ms":1,"last_ms":2}]}"#
        );
        let h: SubjectHash = [7u8; 16];
        assert_eq!(key_of(&h, "acme"), format!("{}.acme", "07".repeat(16)));
    }
}
