//! The outbox as the rest of the gateway sees it: a [`Store`] of every
//! partner's outboxes (one per [`Stream`]) and a [`PartnerOutbox`] handle
//! per partner and stream. Both are the same whichever backend is live;
//! only this module and the backends' own files know which one it is.
//!
//! What a backend provides (see docs/ARCHITECTURE.md):
//! - write: a request's routed events for every partner, all or nothing
//!   ([`Store::staging`], [`Store::write`]), and one notice
//!   ([`PartnerOutbox::append_notice`]);
//! - read: batches for push delivery ([`super::consumer`]), leased chunks
//!   for the pull feed ([`super::feed`]);
//! - settle: ack, retry later, dead-letter;
//! - forget: purge a subject, record an opt-out;
//! - state: lag gauges, readiness.
//!
//! The two backends are a closed set, so the handles dispatch with one
//! `match` over an enum rather than through trait objects: no boxed
//! futures on the hot path, and each backend keeps its own types.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::jetstream::{JetStream, JsError, JsPartner, OutMsg};
use super::{Outbox, PartnerLog, Stream};
use crate::config::{Config, OnFull, OutboxBackend, PartnerConfig};
use crate::identity::{SubjectHash, SubjectHasher};
use crate::metrics::events::{EventsDeadLettered, StorageWriteFailed};
use crate::metrics::{self, Metrics};
use crate::optout::OptOutStore;
use crate::policy::ScrubbedEvent;

/// Records and bytes per read of a subject scan.
const SCAN_BATCH: usize = 1000;
const SCAN_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Every partner's outboxes on the live backend.
#[derive(Debug)]
pub struct Store {
    backend: Backend,
    ctx: Arc<Ctx>,
}

/// What every handle of a store shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) optouts: Arc<OptOutStore>,
    pub(crate) hasher: SubjectHasher,
    pub(crate) metrics: Metrics,
    /// Requests refused in a row for a failed outbox write.
    pub(crate) failed_requests: crate::util::FailuresInARow,
}

#[derive(Debug)]
enum Backend {
    Embedded { events: Outbox, notices: Outbox },
    Js(Arc<JetStream>),
}

/// What [`Store::open`] gives the gateway besides the store: the opt-out
/// list, the internal keyed hash, and what the backend shares fleet-wide.
#[derive(Debug)]
pub struct Opened {
    pub store: Arc<Store>,
    pub optouts: Arc<OptOutStore>,
    /// Keyed by the backend's internal key: `data_dir/internal.key`, or the
    /// key every replica of a fleet shares.
    pub hasher: SubjectHasher,
    /// A subject-access ledger every replica writes (JetStream's KV
    /// bucket), used instead of the local one when present.
    pub shared_ledger: Option<crate::privacy::fleet::LedgerBucket>,
    /// (event hash, ingest ms) of every event already stored: the
    /// idempotency window starts with them.
    pub recovered: Vec<(SubjectHash, u64)>,
}

/// Reads or creates a 32-byte secret file with mode 0600.
pub fn load_or_create_key(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(b) if b.len() >= 32 => return Ok(b),
        Ok(_) => {
            return Err(io::Error::other(format!(
                "{} is shorter than 32 bytes",
                path.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut key = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

/// A missing `internal.key` is made afresh only for a data dir whose
/// opt-out list is empty: the list holds keyed hashes under the old key,
/// and under a new one none of them would match, so opted-out people's
/// events would be forwarded again.
fn refuse_a_new_key_over_old_optouts(data: &Path) -> Result<(), String> {
    let key = data.join("internal.key");
    let list = data.join("optouts.log");
    let missing =
        matches!(std::fs::symlink_metadata(&key), Err(e) if e.kind() == io::ErrorKind::NotFound);
    if missing && std::fs::metadata(&list).is_ok_and(|m| m.len() > 0) {
        return Err(format!(
            "{} is missing but {} holds opt-outs keyed under it: with a new key none of them would match. Restore internal.key from a backup of the data dir; to start without those opt-outs, move optouts.log out of the data dir",
            key.display(),
            list.display()
        ));
    }
    Ok(())
}

impl Store {
    /// Opens the configured backend: the data dir's logs (recovering each)
    /// or a connection to JetStream with its streams, consumers and
    /// buckets. Opens no partner outbox yet ([`Store::ensure`] does).
    /// `delivery` is the runtime push delivery runs on (JetStream's delivery
    /// connection is made there).
    pub async fn open(
        config: &Config,
        metrics: &Metrics,
        delivery: &tokio::runtime::Handle,
    ) -> Result<Opened, String> {
        let data = &config.server.data_dir;
        match &config.outbox {
            OutboxBackend::Embedded => {
                refuse_a_new_key_over_old_optouts(data)?;
                let internal = load_or_create_key(&data.join("internal.key")).map_err(|e| {
                    format!(
                        "cannot read or create the internal key in {}: {e}",
                        data.display()
                    )
                })?;
                let hasher = SubjectHasher::new(&internal);
                let (events, recovered) = Outbox::open(data, &config.partners)
                    .map_err(|e| format!("cannot open the outbox in {}: {e}", data.display()))?;
                let (notices, recovered_notices) =
                    Outbox::open_stream(data, Stream::Notices, &config.partners).map_err(|e| {
                        format!("cannot open the notice outbox in {}: {e}", data.display())
                    })?;
                for (name, r) in recovered_notices.iter().filter(|(_, r)| r.records > 0) {
                    tracing::info!(partner = %name, notices = r.records, "notice outbox opened");
                }
                let mut hashes = Vec::new();
                for (name, r) in recovered {
                    tracing::info!(
                        partner = %name,
                        events = r.records,
                        bytes = r.bytes,
                        truncated_bytes = r.truncated_bytes,
                        damaged_bytes = r.damaged_bytes,
                        "outbox opened"
                    );
                    hashes.extend(r.event_hashes);
                }
                let optouts =
                    Arc::new(OptOutStore::open(&data.join("optouts.log")).map_err(|e| {
                        format!("cannot open the opt-out list in {}: {e}", data.display())
                    })?);
                let ctx = Arc::new(Ctx {
                    optouts: optouts.clone(),
                    hasher: hasher.clone(),
                    metrics: metrics.clone(),
                    failed_requests: Default::default(),
                });
                Ok(Opened {
                    store: Arc::new(Store {
                        backend: Backend::Embedded { events, notices },
                        ctx,
                    }),
                    optouts,
                    hasher,
                    shared_ledger: None,
                    recovered: hashes,
                })
            }
            OutboxBackend::JetStream(j) => {
                // Every replica must key opt-outs and event ids alike.
                let hasher = SubjectHasher::new(j.internal_key.expose());
                let optouts = Arc::new(OptOutStore::cache());
                let js = JetStream::open(
                    j,
                    &config.partners,
                    &optouts,
                    config.privacy.access_retention_days,
                    delivery,
                )
                .await?;
                let ctx = Arc::new(Ctx {
                    optouts: optouts.clone(),
                    hasher: hasher.clone(),
                    metrics: metrics.clone(),
                    failed_requests: Default::default(),
                });
                Ok(Opened {
                    store: Arc::new(Store {
                        backend: Backend::Js(js.clone()),
                        ctx,
                    }),
                    optouts,
                    hasher,
                    shared_ledger: Some(js.ledger_bucket()),
                    recovered: Vec::new(),
                })
            }
        }
    }

    /// Opens (or, on reload, updates) partner `p`'s outbox of `stream`.
    /// Returns its handle and the event hashes of records found on disk
    /// when it was opened just now.
    pub async fn ensure(
        &self,
        p: &PartnerConfig,
        stream: Stream,
    ) -> io::Result<(PartnerOutbox, Vec<(SubjectHash, u64)>)> {
        let (backing, recovered) = match &self.backend {
            Backend::Embedded { events, notices } => {
                let ob = match stream {
                    Stream::Events => events,
                    Stream::Notices => notices,
                };
                let (log, rec) = ob.ensure(p)?;
                let hashes = rec.map(|r| r.event_hashes).unwrap_or_default();
                (Backing::Log(log, ob.dead_letters().clone()), hashes)
            }
            Backend::Js(js) => {
                let jp = js
                    .ensure_patiently(p, stream)
                    .await
                    .map_err(io::Error::other)?;
                (Backing::Js(js.clone(), jp), Vec::new())
            }
        };
        if stream == Stream::Events {
            let m = &self.ctx.metrics;
            m.outbox_max_bytes
                .with_label_values(&[&p.name])
                .set(p.outbox_max_bytes as i64);
            if matches!(backing, Backing::Js(..)) {
                m.jetstream_consumer_lag.with_label_values(&[&p.name]);
            }
        }
        Ok((
            PartnerOutbox {
                name: p.name.clone(),
                stream,
                backing,
                ctx: self.ctx.clone(),
            },
            recovered,
        ))
    }

    /// Partner `name`'s open outbox of `stream`.
    pub fn get(&self, name: &str, stream: Stream) -> Option<PartnerOutbox> {
        let backing = match &self.backend {
            Backend::Embedded { events, notices } => {
                let ob = match stream {
                    Stream::Events => events,
                    Stream::Notices => notices,
                };
                Backing::Log(ob.get(name)?, ob.dead_letters().clone())
            }
            Backend::Js(js) => {
                let jp = match stream {
                    Stream::Events => js.get(name)?,
                    Stream::Notices => js.notices_of(name)?,
                };
                Backing::Js(js.clone(), jp)
            }
        };
        Some(PartnerOutbox {
            name: name.to_owned(),
            stream,
            backing,
            ctx: self.ctx.clone(),
        })
    }

    /// The partners whose event outbox is open, by name.
    pub fn names(&self) -> Vec<String> {
        match &self.backend {
            Backend::Embedded { events, .. } => {
                events.all().iter().map(|l| l.name().to_owned()).collect()
            }
            Backend::Js(js) => js.all().iter().map(|jp| jp.name.clone()).collect(),
        }
    }

    /// Closes a removed partner's outboxes; its data stays (files on disk,
    /// or streams in JetStream) for an operator to inspect.
    pub fn remove(&self, name: &str) {
        match &self.backend {
            Backend::Embedded { events, notices } => {
                events.remove(name);
                notices.remove(name);
            }
            Backend::Js(js) => js.remove(name),
        }
    }

    /// Records an opt-out (`forget`: a forget's) durably, where every
    /// replica sees it. Returns false if the subject was opted out already.
    pub async fn add_optout(&self, h: SubjectHash, forget: bool) -> io::Result<bool> {
        match &self.backend {
            // The append waits for the disk (write and fsync): off the
            // async workers, so a hung volume holds this request only,
            // not /healthz, /readyz and ingest with it.
            Backend::Embedded { .. } => {
                let optouts = self.ctx.optouts.clone();
                tokio::task::spawn_blocking(move || optouts.add(h))
                    .await
                    .map_err(|e| io::Error::other(format!("the opt-out append stopped: {e}")))?
            }
            Backend::Js(js) => js
                .add_optout(&self.ctx.optouts, h, forget)
                .await
                .map_err(|e| io::Error::other(e.to_string())),
        }
    }

    /// Erases every queued event of a person (`subjects`: their hashes,
    /// looked for in one pass) from every partner's event outbox, and their
    /// dead letters. Returns outbox copies erased (dead letters are not
    /// outbox copies; they are logged).
    pub async fn purge(&self, subjects: &[SubjectHash]) -> io::Result<u64> {
        match &self.backend {
            Backend::Embedded { events, .. } => events.purge(subjects).await,
            Backend::Js(js) => js
                .purge(subjects)
                .await
                .map_err(|e| io::Error::other(e.to_string())),
        }
    }

    /// The events of a person (`subjects`) still waiting in the event
    /// outboxes, as (partner, encoded event). Acks already sent are applied first, so
    /// an event the ledger counts as delivered is not counted as queued
    /// too. JetStream: none are listed (a work-queue stream admits no
    /// reader besides the partner's consumer; forget purges them all the
    /// same).
    pub async fn queued(
        &self,
        subjects: &[SubjectHash],
    ) -> io::Result<Vec<(String, bytes::Bytes)>> {
        let Backend::Embedded { events, .. } = &self.backend else {
            return Ok(Vec::new());
        };
        let logs = events.all();
        for log in &logs {
            if let Err(e) = log.flush().await {
                tracing::warn!(partner = log.name(), error = %e, "outbox flush failed");
            }
        }
        let subjects = subjects.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for log in logs {
                let mut reader = log.reader();
                reader.seek(log.shared().acked());
                loop {
                    let batch = reader.read_batch(SCAN_BATCH, SCAN_BATCH_BYTES)?;
                    if batch.is_empty() {
                        break;
                    }
                    for r in batch {
                        if !r.purged && subjects.iter().any(|s| r.subjects.contains(s)) {
                            out.push((log.name().to_owned(), r.payload));
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|_| io::Error::other("outbox scan failed"))?
    }

    /// Every outbox can take writes (disk writable; cluster reachable and
    /// its opt-outs followed).
    pub fn is_ready(&self) -> bool {
        match &self.backend {
            Backend::Embedded { events, notices } => {
                events.all().iter().all(|l| l.is_writable())
                    && notices.all().iter().all(|l| l.is_writable())
            }
            Backend::Js(js) => js.is_ready(),
        }
    }

    /// Reads state kept elsewhere now (before a /metrics render), not up
    /// to one interval ago.
    pub async fn refresh(&self) {
        if let Backend::Js(js) = &self.backend {
            js.refresh().await;
        }
    }

    /// Sets the outbox gauges (events, bytes, JetStream consumer lag).
    pub fn set_gauges(&self) {
        let m = &self.ctx.metrics;
        match &self.backend {
            Backend::Embedded { events, .. } => {
                for l in events.all() {
                    let name = [l.name()];
                    m.outbox_events
                        .with_label_values(&name)
                        .set(l.pending_events() as i64);
                    m.outbox_bytes
                        .with_label_values(&name)
                        .set(l.pending_bytes() as i64);
                }
            }
            Backend::Js(js) => {
                for jp in js.all() {
                    let name = [jp.name.as_str()];
                    m.outbox_events
                        .with_label_values(&name)
                        .set(jp.pending_events() as i64);
                    m.outbox_bytes
                        .with_label_values(&name)
                        .set(jp.pending_bytes() as i64);
                    m.jetstream_consumer_lag
                        .with_label_values(&name)
                        .set(jp.lag() as i64);
                }
            }
        }
    }

    /// Starts what follows shared state in the background until `stop`
    /// (JetStream: stream and consumer state, every second).
    pub fn start(&self, stop: tokio::sync::watch::Receiver<bool>) {
        if let Backend::Js(js) = &self.backend {
            tokio::spawn(js.clone().follow_state(stop));
        }
    }

    /// Last step of a shutdown, after delivery stopped: acks reach the log
    /// or the cluster, writers stop.
    pub async fn close(&self, deadline: tokio::time::Instant) {
        match &self.backend {
            Backend::Embedded { events, notices } => {
                // Bounded by the deadline: on a disk that stopped answering
                // (a frozen or lost volume) a writer waits inside a write
                // or fsync, and joining it would hold the exit until the
                // disk came back. Nothing acknowledged depends on this
                // sync: every 202 came after its records were synced.
                let logs: Vec<_> = events.all().into_iter().chain(notices.all()).collect();
                let flushed = async {
                    for l in &logs {
                        if let Err(e) = l.flush().await {
                            tracing::error!(partner = l.name(), error = %e, "outbox flush failed");
                        }
                    }
                };
                let flushed = tokio::time::timeout_at(deadline, flushed).await.is_ok();
                // The logs go to the closing thread even past the deadline:
                // dropped here, the last one would join its writer on this
                // runtime thread.
                let closing = tokio::task::spawn_blocking(move || {
                    for l in logs {
                        l.close();
                    }
                });
                let closed = tokio::time::timeout_at(deadline, closing).await.is_ok();
                if !(flushed && closed) {
                    tracing::warn!(
                        "the outbox writers did not stop before the shutdown deadline (a write is waiting on the disk); acknowledged events were synced before their 202"
                    );
                }
            }
            Backend::Js(js) => {
                // Acks and naks still buffered reach the server before exit.
                let _ = tokio::time::timeout_at(deadline, js.delivery_client().flush()).await;
                let _ = tokio::time::timeout_at(deadline, js.client().flush()).await;
            }
        }
    }

    /// Where one request's routed events are gathered, per partner (in the
    /// order of the slice later given to [`Store::write`]); `expected` is
    /// how many events the request holds (a sizing hint).
    pub fn staging(&self, partners: usize, expected: usize) -> Staging {
        let kind = match self.backend {
            Backend::Embedded { .. } => StagingKind::Log(vec![(Vec::new(), 0); partners]),
            Backend::Js(_) => StagingKind::Js((0..partners).map(|_| JsStaged::default()).collect()),
        };
        Staging { kind, expected }
    }

    /// Writes one request's events, every partner's at once: stored for
    /// every partner or refused (an error), so a producer's retry neither
    /// loses nor duplicates. `targets[i]` is the partner of part `i`;
    /// `events` how many distinct events were staged.
    pub async fn write(
        &self,
        staging: Staging,
        targets: &[Target<'_>],
        events: usize,
    ) -> Result<Written, WriteError> {
        match (&self.backend, staging.kind) {
            (Backend::Embedded { events: ob, .. }, StagingKind::Log(parts)) => {
                self.write_log(ob, parts, targets).await
            }
            (Backend::Js(js), StagingKind::Js(msgs)) => {
                self.write_js(js, msgs, targets, events).await
            }
            _ => unreachable!("staged by this store (Store::staging)"),
        }
    }

    async fn write_log(
        &self,
        ob: &Outbox,
        mut parts: Vec<(Vec<u8>, u64)>,
        targets: &[Target<'_>],
    ) -> Result<Written, WriteError> {
        let m = &self.ctx.metrics;
        let mut routed: Vec<u64> = parts.iter().map(|(_, n)| *n).collect();
        // Reserve room in every outbox first: the request is written whole
        // or not at all. Until the appends own them, the reservations are
        // given back on every exit (and if this future is dropped).
        let mut reserved = Reservations(Vec::new());
        let mut logs = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            if parts[i].1 == 0 {
                continue;
            }
            let full = || WriteError::full(t.name, false);
            // Removed by a reload since this request read the policy: the
            // partner no longer takes events, as for a request a moment
            // later; the others' copies are written and the producer gets
            // its 202.
            let Some(log) = ob.get(t.name) else {
                routed[i] = 0;
                continue;
            };
            let need = parts[i].0.len() as u64;
            let mut ok = log.reserve(need);
            if !ok && t.on_full == OnFull::DeadLetter {
                let shortfall = (log.pending_bytes() + need).saturating_sub(log.max_bytes());
                match log.evict(shortfall).await {
                    Ok((_, events)) => {
                        m.emit(EventsDeadLettered {
                            partner: t.name,
                            events,
                            reason: "outbox_full",
                        });
                        ok = log.reserve(need);
                    }
                    Err(e) => m.emit(StorageWriteFailed {
                        store: metrics::Store::DeadLetter,
                        partner: Some(t.name),
                        count: 1,
                        error: &e,
                        consequence:
                            "evicting to dead letters failed; the oldest events stay in the outbox",
                        log: true,
                    }),
                }
            }
            if !ok {
                return Err(full());
            }
            reserved.0.push((log.clone(), need));
            logs.push((i, log));
        }
        // Write to every outbox concurrently; each write is group-committed
        // with other requests' writes to the same outbox. Written to more
        // than one partner, the records are held (invisible to delivery)
        // until every write succeeded, and retracted if one failed.
        let hold = logs.len() > 1;
        let writes = logs.into_iter().map(|(i, log)| {
            let (buf, records) = std::mem::take(&mut parts[i]);
            async move {
                let r = if hold {
                    log.append_held(buf, records).await.map(Some)
                } else {
                    log.append(buf, records).await.map(|()| None)
                };
                (i, log, r)
            }
        });
        // From their first poll on, the appends own the reservations (an
        // append that fails releases its own).
        reserved.0.clear();
        // A partner removed by a reload while this request was writing:
        // its log was closed under the append. Not an error (as above).
        let results: Vec<_> = futures_util::future::join_all(writes)
            .await
            .into_iter()
            .filter_map(|(i, log, r)| match r {
                Err(_) if log.is_closed() && !ob.holds(&log) => {
                    routed[i] = 0;
                    None
                }
                r => Some(r),
            })
            .collect();
        let failed = &self.ctx.failed_requests;
        if let Some(e) = results.iter().find_map(|r| r.as_ref().err()) {
            m.emit(StorageWriteFailed {
                store: metrics::Store::Outbox,
                partner: None,
                count: 1,
                error: e,
                consequence:
                    "outbox write failed; request not acknowledged (retracted from every partner; logged at the 1st, 2nd, 4th... in a row)",
                log: failed.fail(),
            });
            // Dropping `results` retracts the held writes that succeeded.
            drop(results);
            return Err(WriteError::unavailable(
                "events could not be stored durably (storage write failed); nothing from this request was accepted, retry after Retry-After",
            ));
        }
        failed.succeed();
        let commits = results
            .into_iter()
            .flatten()
            .flatten()
            .map(|held| held.commit());
        futures_util::future::join_all(commits).await;
        Ok(Written {
            routed,
            duplicates: 0,
        })
    }

    /// Publishes every partner's messages concurrently and answers only
    /// when JetStream acknowledged each one. A request refused part-way
    /// may have stored some messages; the producer's retry stores the
    /// rest, and the stored ones are recognised as duplicates
    /// (`Nats-Msg-Id`), so nothing is routed twice.
    async fn write_js(
        &self,
        js: &Arc<JetStream>,
        staged: Vec<JsStaged>,
        targets: &[Target<'_>],
        events: usize,
    ) -> Result<Written, WriteError> {
        // Not following the opt-out bucket, an event of a person who just
        // opted out through another replica could pass: refuse until it
        // runs. Published now, the messages would wait in the client for a
        // reconnection; the producer is better served by a quick 503.
        if staged.iter().any(|p| !p.owners.is_empty())
            && !(js.is_connected() && js.follows_optouts())
        {
            return Err(WriteError::unavailable(
                "events could not be stored (JetStream unreachable); retry later",
            ));
        }
        let mut parts = Vec::new();
        for (i, (t, part)) in targets.iter().zip(staged).enumerate() {
            if part.owners.is_empty() {
                continue;
            }
            // Removed by a reload since this request read the policy: the
            // partner no longer takes events (as for the embedded log).
            let Some(jp) = js.get(t.name) else {
                continue;
            };
            let bytes = part.records.len() as u64;
            let chunks = OutMsg::chunks(
                bytes::Bytes::from(part.records),
                &part.ends,
                &part.hashes,
                jp.chunk_events(),
            );
            let need = bytes + 200 * chunks.len() as u64;
            if !js.has_room(&jp, need) {
                return Err(WriteError::full(t.name, false));
            }
            parts.push((i, t.name, chunks, part.owners));
        }
        let writes = parts.into_iter().map(|(i, name, chunks, owners)| {
            let hist = self
                .ctx
                .metrics
                .jetstream_publish
                .with_label_values(&[name]);
            async move {
                let t = std::time::Instant::now();
                let (msgs, ranges): (Vec<OutMsg>, Vec<_>) = chunks.into_iter().unzip();
                let r = js.publish(name, msgs).await;
                hist.observe(t.elapsed().as_secs_f64());
                (i, owners, ranges, r)
            }
        });
        let results = futures_util::future::join_all(writes).await;
        let mut routed = vec![0u64; targets.len()];
        // Per event: (messages, of which duplicates).
        let mut per_event = vec![(0u32, 0u32); events];
        for (i, owners, ranges, r) in results {
            match r {
                Ok(p) => {
                    for (dup, range) in p.duplicate.iter().zip(ranges) {
                        for &ev in &owners[range] {
                            let e = &mut per_event[ev as usize];
                            e.0 += 1;
                            if *dup {
                                e.1 += 1;
                            } else {
                                routed[i] += 1;
                            }
                        }
                    }
                }
                Err(JsError::Full(name)) => return Err(WriteError::full(&name, true)),
                Err(JsError::Unavailable(e)) => {
                    tracing::error!(error = %e, "JetStream publish failed; request not acknowledged");
                    return Err(WriteError::unavailable(
                        "events could not be stored (JetStream unavailable); retry later",
                    ));
                }
            }
        }
        let duplicates = per_event.iter().filter(|(n, d)| *n > 0 && n == d).count() as u64;
        Ok(Written { routed, duplicates })
    }
}

/// A partner a request writes to, and what to do when its outbox is full.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub name: &'a str,
    pub on_full: OnFull,
}

/// One request's routed events, gathered per partner in the backend's own
/// form.
pub struct Staging {
    kind: StagingKind,
    /// How many events the request holds (not how many get staged: that
    /// is [`Store::write`]'s `events`): a partner's buffer is sized for
    /// them at its first record, not grown by doubling (each doubling
    /// copied what was staged: 2 % of ingest's CPU).
    expected: usize,
}

enum StagingKind {
    /// Per partner: encoded records, and how many.
    Log(Vec<(Vec<u8>, u64)>),
    /// Per partner: encoded records, cut into messages at write time.
    Js(Vec<JsStaged>),
}

/// Room for `events` records like the first one in `buf` (an eighth more:
/// records differ in length), at most 8 MiB ahead. A partner that takes
/// only some of the events leaves part of it unwritten, which costs address
/// space, not memory: pages are backed once written.
fn reserve_like_first(buf: &mut Vec<u8>, events: usize) {
    const MAX_AHEAD: usize = 8 << 20;
    let want = (buf.len() + buf.len() / 8).saturating_mul(events.saturating_sub(1));
    buf.reserve(want.min(MAX_AHEAD));
}

/// One partner's part of a request, for the JetStream backend.
#[derive(Default)]
pub struct JsStaged {
    /// Encoded records, back to back.
    records: Vec<u8>,
    /// Where each event's record ends in `records`.
    ends: Vec<usize>,
    /// Each event's keyed event hash (its message's `Nats-Msg-Id`).
    hashes: Vec<SubjectHash>,
    /// The number of the request's event each came from (to spot events a
    /// fleet stored already).
    owners: Vec<u32>,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Staging")
    }
}

impl Staging {
    /// Adds event number `event_no` of the request, scrubbed for partner
    /// `partner`.
    pub fn add(
        &mut self,
        partner: usize,
        ev: &ScrubbedEvent,
        ingest_ms: u64,
        event_hash: &SubjectHash,
        event_no: u32,
    ) {
        let expected = self.expected;
        match &mut self.kind {
            StagingKind::Log(parts) => {
                let (buf, n) = &mut parts[partner];
                super::encode(buf, ev, ingest_ms, event_hash);
                if *n == 0 {
                    reserve_like_first(buf, expected);
                }
                *n += 1;
            }
            StagingKind::Js(parts) => {
                let p = &mut parts[partner];
                super::encode(&mut p.records, ev, ingest_ms, event_hash);
                if p.ends.is_empty() {
                    reserve_like_first(&mut p.records, expected);
                }
                p.ends.push(p.records.len());
                p.hashes.push(*event_hash);
                p.owners.push(event_no);
            }
        }
    }
}

/// What a write stored.
#[derive(Debug)]
pub struct Written {
    /// Events newly stored per partner (order of the targets).
    pub routed: Vec<u64>,
    /// Events already stored by an earlier try of the request (through
    /// any replica of a fleet).
    pub duplicates: u64,
}

/// Why a write was refused: the producer gets 503 with Retry-After and
/// this message; nothing it could retry was half-accepted.
#[derive(Debug)]
pub struct WriteError {
    /// The partner whose outbox is full, when that is why.
    pub full: Option<String>,
    pub message: String,
}

impl WriteError {
    fn full(partner: &str, partial: bool) -> WriteError {
        let message = if partial {
            format!("outbox of partner \"{partner}\" is full; retry later (events of this request already stored are not routed twice)")
        } else {
            format!("outbox of partner \"{partner}\" is full; nothing from this request was accepted, retry later")
        };
        WriteError {
            full: Some(partner.to_owned()),
            message,
        }
    }

    fn unavailable(message: &str) -> WriteError {
        WriteError {
            full: None,
            message: message.to_owned(),
        }
    }
}

/// Outbox room reserved and not yet handed to an append: given back when
/// dropped (an early return, a panic, the request future dropped).
struct Reservations(Vec<(Arc<PartnerLog>, u64)>);

impl Drop for Reservations {
    fn drop(&mut self) {
        for (log, bytes) in self.0.drain(..) {
            log.release(bytes);
        }
    }
}

/// One partner's outbox of one stream, on whichever backend is live.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct PartnerOutbox {
    name: String,
    stream: Stream,
    pub(crate) backing: Backing,
    pub(crate) ctx: Arc<Ctx>,
}

#[derive(Debug, Clone)]
pub(crate) enum Backing {
    Log(Arc<PartnerLog>, Arc<super::DeadLetters>),
    Js(Arc<JetStream>, Arc<JsPartner>),
}

impl PartnerOutbox {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn stream(&self) -> Stream {
        self.stream
    }

    /// Appends one notice line durably. `id` names the record (JetStream
    /// de-duplicates by it); a notice has no subjects, so forget never
    /// purges one.
    pub async fn append_notice(
        &self,
        line: Vec<u8>,
        ingest_ms: u64,
        id: &SubjectHash,
    ) -> Result<(), WriteError> {
        match &self.backing {
            Backing::Log(log, _) => {
                let mut buf = Vec::with_capacity(line.len() + 64);
                super::segment::encode(&mut buf, ingest_ms, id, &[], &line);
                if !log.reserve(buf.len() as u64) {
                    return Err(WriteError::full(&self.name, false));
                }
                log.append(buf, 1).await.map_err(|e| WriteError {
                    full: None,
                    message: e.to_string(),
                })
            }
            Backing::Js(js, _) => {
                let msg = OutMsg::notice(line, ingest_ms, id);
                js.publish_notice(&self.name, msg)
                    .await
                    .map_err(|e| match e {
                        JsError::Full(_) => WriteError::full(&self.name, false),
                        other => WriteError {
                            full: None,
                            message: other.to_string(),
                        },
                    })
            }
        }
    }
}

/// `check-config` for the configured backend: for JetStream, the cluster
/// is reachable with the configured credentials and every stream,
/// consumer and bucket exists or can be created. Returns report lines
/// (none for the embedded backend, which has nothing remote to reach).
pub async fn check(config: &Config) -> Result<Vec<String>, String> {
    match &config.outbox {
        OutboxBackend::Embedded => Ok(Vec::new()),
        OutboxBackend::JetStream(j) => super::jetstream::check(j, &config.partners)
            .await
            .map_err(|e| {
                format!("outbox.servers: {e} (fix: start the NATS servers with JetStream on (nats-server -js), check servers, credentials, TLS and replicas)")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_before_the_append_gives_the_reserved_room_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dl = Arc::new(super::super::DeadLetters::new(&dir.path().join("dl")).expect("dl"));
        let (log, _) = PartnerLog::open("a", &dir.path().join("a"), 1 << 20, dl).expect("log");
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut reserved = Reservations(Vec::new());
            assert!(log.reserve(1000));
            reserved.0.push((log.clone(), 1000));
            panic!("a bug between reserving and appending");
        }));
        assert!(unwound.is_err());
        assert_eq!(log.pending_bytes(), 0, "the reservation is released");
        log.close();
    }
}
