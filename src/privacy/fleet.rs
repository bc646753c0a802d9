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
//! another replica than the one that served the events) adds the batch:
//! one compare-and-set update per subject and partner per batch, retried
//! on a concurrent update, at most [`CONCURRENCY`] in flight per batch.
//! Days before the retention window are dropped when an entry is written,
//! and the bucket's `max_age` (retention + 1 day) removes entries no longer
//! written. Forget purges the subject's entries from the bucket's stream.
//! A subject that is forgotten is never written again (a commit landing
//! after the forget records nothing of it).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::identity::SubjectHash;
use crate::metrics::Metrics;
use crate::optout::OptOutStore;

use super::ledger::{self, AccessRow, Agg, Delivered, RowKey};

/// Entry updates in flight for one batch (and reads for one access).
pub const CONCURRENCY: usize = 32;
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

    /// Adds what `partner` acknowledged at `at_ms`: one entry update per
    /// subject of the batch. A failed update is logged and counted
    /// (`adgate_storage_write_failures_total{store="ledger"}`); the
    /// delivery stands.
    pub async fn delivered(&self, partner: &str, at_ms: u64, items: &[Delivered]) {
        let mut rows: HashMap<RowKey, Agg> = HashMap::new();
        ledger::aggregate(&mut rows, &Arc::from(partner), at_ms, items);
        let mut by_subject: HashMap<SubjectHash, Vec<(RowKey, Agg)>> = HashMap::new();
        for (k, a) in rows {
            if self.optouts.is_forgotten(&k.subject) {
                continue;
            }
            by_subject.entry(k.subject).or_default().push((k, a));
        }
        let failed = futures_util::stream::iter(by_subject)
            .map(|(s, adds)| async move { self.add(&key_of(&s, partner), &s, &adds).await })
            .buffer_unordered(CONCURRENCY)
            .filter(|r| std::future::ready(r.is_err()))
            .count()
            .await;
        if failed > 0 {
            self.metrics.emit(crate::metrics::events::StorageWriteFailed {
                store: crate::metrics::Store::Ledger,
                partner: Some(partner),
                count: failed as u64,
                error: &"updates of the ledger bucket failed",
                consequence: "cannot write the subject-access ledger in JetStream; these deliveries are not recorded",
                log: true,
            });
        }
    }

    /// One compare-and-set update of the entry `key` of subject `subject`.
    async fn add(
        &self,
        key: &str,
        subject: &SubjectHash,
        adds: &[(RowKey, Agg)],
    ) -> Result<(), String> {
        let mut last = String::new();
        for attempt in 0..MAX_TRIES {
            if self.optouts.is_forgotten(subject) {
                return Ok(());
            }
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
                Ok(_) => return Ok(()),
                // Another replica updated it meanwhile (or NATS failed):
                // read it again.
                Err(e) => last = e,
            }
        }
        Err(last)
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
    pub async fn forget(&self, subject: SubjectHash) -> std::io::Result<u64> {
        let prefix = format!("{}.", crate::util::hex(&subject));
        self.bucket
            .purge(&prefix)
            .await
            .map_err(std::io::Error::other)
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
