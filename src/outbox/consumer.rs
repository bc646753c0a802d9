//! Reading an outbox for push delivery: a [`Consumer`] hands out
//! [`Batch`]es, and each batch is settled once: delivered
//! ([`Batch::settle`]), dead-lettered ([`Batch::dead_letter`] then
//! `settle`), or released for a later try ([`Batch::release`]).
//!
//! - Embedded: a batch is a fixed range of the log. Ranges in flight are
//!   written to `<partner>/inflight` before they are handed out, so after a
//!   crash the same ranges come back first, with the same keys and content.
//!   The log's ack position moves over settled batches in order, and what
//!   the subject-access ledger records of a batch is handed back when the
//!   ack passed it (so an access request never sees an event both
//!   delivered and queued).
//! - JetStream: a batch is what one fetch from the partner's shared
//!   consumer returned. Any replica may hold a batch; its holder renews the
//!   claim (`+WPI`) every third of `ack_wait` while it sends and retries,
//!   acks every message once settled, and naks them when released, so
//!   another replica takes over at once. A replica that dies holds nothing
//!   after `ack_wait`: JetStream redelivers its batches.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::jetstream::{Fetched, JetStream, JsPartner};
use super::store::{Backing, Ctx, PartnerOutbox};
use super::{DeadLetters, PartnerLog, Reader, Record, Stream};
use crate::optout::OptOutStore;
use crate::policy::Subjects;
use crate::privacy::Delivered;

/// Bytes of payload per batch, whatever the event limit says.
const BATCH_MAX_BYTES: usize = 8 * 1024 * 1024;
/// How long to wait for the first message of a batch when idle (JetStream).
const JS_IDLE_POLL: Duration = Duration::from_secs(5);

/// One stored event or notice of a batch, as delivery sends it.
#[derive(Debug, Clone)]
pub struct Item {
    pub ingest_ms: u64,
    /// Keyed hashes of the event's identifiers (the ledger's); never sent.
    pub subjects: Subjects,
    /// The encoded line (the partner profile's form).
    pub payload: Bytes,
}

/// Hands out batches of one partner's outbox.
#[derive(Debug)]
pub struct Consumer {
    name: String,
    stream: Stream,
    inner: Inner,
    ctx: Arc<Ctx>,
}

#[derive(Debug)]
enum Inner {
    Log(LogConsumer),
    Js(JsConsumer),
}

impl PartnerOutbox {
    /// The consumer push delivery reads; one per partner and stream at a
    /// time.
    pub fn consumer(&self) -> Consumer {
        let inner = match &self.backing {
            Backing::Log(log, dl) => Inner::Log(LogConsumer::new(log.clone(), dl.clone())),
            Backing::Js(js, jp) => Inner::Js(JsConsumer::new(js.clone(), jp.clone())),
        };
        Consumer {
            name: self.name().to_owned(),
            stream: self.stream(),
            inner,
            ctx: self.ctx.clone(),
        }
    }
}

impl Consumer {
    /// Events or notices.
    pub fn stream(&self) -> Stream {
        self.stream
    }

    /// The next batch of at most `max` items: waits for data, then up to
    /// `window` for a full batch. `None` once `stop` is set.
    pub async fn next(
        &mut self,
        max: usize,
        window: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Batch> {
        let (items, key, inner) = match &mut self.inner {
            Inner::Log(c) => {
                c.next(&self.name, max, window, stop, &self.ctx.optouts)
                    .await?
            }
            Inner::Js(c) => c.next(&self.name, max, window, stop).await?,
        };
        Some(Batch {
            name: self.name.clone(),
            items,
            key,
            inner,
            ctx: self.ctx.clone(),
        })
    }
}

/// Items read from an outbox for one delivery.
#[derive(Debug)]
pub struct Batch {
    name: String,
    items: Vec<Item>,
    key: String,
    inner: BatchInner,
    ctx: Arc<Ctx>,
}

#[derive(Debug)]
enum BatchInner {
    Log {
        log: Arc<PartnerLog>,
        dead_letters: Arc<DeadLetters>,
        state: Arc<Mutex<InFlight>>,
        from: u64,
        end: u64,
        /// The log's purge generation when the items were read.
        read_gen: u64,
    },
    Js {
        js: Arc<JetStream>,
        jp: Arc<JsPartner>,
        /// The messages the items come from, and how many of each.
        parts: Vec<Part>,
        /// Per item: its part, and its place in that part's message.
        places: Vec<(u32, u32)>,
        _renewer: Renewer,
    },
}

impl Batch {
    /// The live items (those a forget did not erase since).
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The batch's `Idempotency-Key`: one key always names one body,
    /// across retries, restarts and replicas.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Takes out what a forget erased since the items were read (typically
    /// while the batch waited for a retry). Returns whether the items
    /// changed (the body must be built again).
    pub async fn refresh(&mut self) -> io::Result<bool> {
        match &mut self.inner {
            BatchInner::Log {
                log,
                from,
                end,
                read_gen,
                ..
            } => {
                let gen = log.shared().purge_generation();
                let optouts = &self.ctx.optouts;
                let opted_out = self
                    .items
                    .iter()
                    .any(|i| optouts.any_opted_out(&i.subjects));
                if gen == *read_gen && !opted_out {
                    return Ok(false);
                }
                let mut fresh = read_range(log, *from, *end).await?;
                mark_opted_out(&mut fresh, optouts);
                *read_gen = gen;
                // Otherwise the range already left the outbox (evicted when
                // full): nothing to send differently.
                if fresh.first().map(|r| r.offset) == Some(*from)
                    && fresh.last().map(|r| r.end) == Some(*end)
                {
                    self.key = batch_key(&self.name, *from, *end, &fresh);
                    self.items = live_items(fresh);
                    return Ok(true);
                }
                Ok(false)
            }
            BatchInner::Js {
                js,
                jp,
                parts,
                places,
                ..
            } => {
                // Opted out (or forgotten) since the items were read: never
                // delivered.
                let optouts = &self.ctx.optouts;
                let gone = |i: &Item| optouts.any_opted_out(&i.subjects);
                if !self.items.iter().any(gone) {
                    return Ok(false);
                }
                // A forget erased (or is erasing) the messages holding
                // forgotten items. Gone from the stream, a message's other
                // items went back in a message of their own: they are left
                // to it. Still there, only the forgotten items are taken out.
                let mut moved = vec![false; parts.len()];
                for (item, place) in self.items.iter().zip(places.iter()) {
                    let p = place.0 as usize;
                    if gone(item) && !moved[p] {
                        let seq = parts[p].held.rec.stream_seq;
                        moved[p] = !js.holds(jp, seq).await.map_err(io::Error::other)?;
                    }
                }
                // What is taken out is settled; a message whose last items
                // they were is acknowledged.
                let mut out = vec![0usize; parts.len()];
                let mut keep = Vec::with_capacity(self.items.len());
                for (item, place) in std::mem::take(&mut self.items)
                    .into_iter()
                    .zip(places.iter())
                {
                    if moved[place.0 as usize] || gone(&item) {
                        out[place.0 as usize] += 1;
                    } else {
                        keep.push((item, *place));
                    }
                }
                for (part, n) in parts.iter_mut().zip(out) {
                    part.settle(n).await;
                    part.items -= n;
                }
                (self.items, *places) = keep.into_iter().unzip();
                self.key = js_batch_key(&self.name, parts, places);
                Ok(true)
            }
        }
    }

    /// Writes the live items as dead letters, durably (all or nothing);
    /// returns how many. The batch is then settled with [`Batch::settle`];
    /// on an error it stays in the outbox and may be tried again.
    pub async fn dead_letter(&self, reason: &str, status: Option<u16>) -> io::Result<u64> {
        match &self.inner {
            BatchInner::Log { dead_letters, .. } => dead_letters.write_many(
                &self.name,
                self.items
                    .iter()
                    .map(|i| (i.ingest_ms, &i.subjects, i.payload.as_ref())),
                reason,
                status,
            ),
            BatchInner::Js { js, jp, .. } => {
                let lines = self
                    .items
                    .iter()
                    .map(|i| {
                        let mut buf = Vec::new();
                        super::dead_letter::write_line(
                            &mut buf,
                            i.ingest_ms,
                            &i.subjects,
                            &i.payload,
                            reason,
                            status,
                        );
                        buf.pop(); // the newline: one message per line
                        (buf, i.subjects)
                    })
                    .collect();
                js.dead_letter(&self.name, jp.stream, lines)
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))
            }
        }
    }

    /// The batch is done (delivered, or its dead letters written): it
    /// leaves the outbox. `delivered` is what the subject-access ledger
    /// records of it; returned is what may be recorded now, after the ack
    /// (on the embedded backend, entries of earlier batches acked only now
    /// may come with it, and this batch's may come later).
    pub async fn settle(self, delivered: Vec<Delivered>) -> Vec<Delivered> {
        match self.inner {
            BatchInner::Log {
                log, state, from, ..
            } => state.lock().unwrap().finish(&log, from, true, delivered),
            BatchInner::Js { parts, .. } => {
                for part in &parts {
                    part.settle(part.items).await;
                }
                delivered
            }
        }
    }

    /// The batch is given up for now (delivery stops mid-retry): it stays
    /// in the outbox, sent again after a restart (same range, same key) or
    /// at once by another replica.
    pub async fn release(self) {
        match self.inner {
            BatchInner::Log {
                log, state, from, ..
            } => {
                state.lock().unwrap().finish(&log, from, false, Vec::new());
            }
            BatchInner::Js { parts, .. } => {
                for part in &parts {
                    part.release().await;
                }
            }
        }
    }
}

/// Marks the records of people who opted out (or were forgotten) since
/// they were queued as taken out: they are never delivered, and the batch
/// key counts them as a purge does, so one key still names one body.
fn mark_opted_out(recs: &mut [Record], optouts: &OptOutStore) {
    for r in recs.iter_mut().filter(|r| !r.purged) {
        r.purged = optouts.any_opted_out(&r.subjects);
    }
}

fn live_items(recs: Vec<Record>) -> Vec<Item> {
    recs.into_iter()
        .filter(|r| !r.purged)
        .map(|r| Item {
            ingest_ms: r.ingest_ms,
            subjects: r.subjects,
            payload: r.payload,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Embedded backend.

#[derive(Debug)]
struct LogConsumer {
    log: Arc<PartnerLog>,
    dead_letters: Arc<DeadLetters>,
    reader: Reader,
    /// Ranges in flight when the process last stopped, sent first.
    resume: VecDeque<(u64, u64)>,
    /// Where reading goes on once the resumed ranges are out.
    resume_end: u64,
    state: Arc<Mutex<InFlight>>,
}

/// Batches handed out and not yet acked, by first offset: (end, records,
/// settled); and the ledger entries of settled batches waiting for the ack.
#[derive(Debug)]
struct InFlight {
    file: InflightFile,
    pending: BTreeMap<u64, (u64, u64, bool)>,
    ledger: BTreeMap<u64, Vec<Delivered>>,
}

impl InFlight {
    /// Marks batch `from` finished (`settled`: it may leave the outbox),
    /// acks every settled batch before the first one still in flight, and
    /// returns the ledger entries of batches the ack has passed.
    fn finish(
        &mut self,
        log: &PartnerLog,
        from: u64,
        settled: bool,
        delivered: Vec<Delivered>,
    ) -> Vec<Delivered> {
        if let Some(e) = self.pending.get_mut(&from) {
            e.2 = settled;
            if !delivered.is_empty() {
                self.ledger.insert(from, delivered);
            }
        }
        // The file is not written again here: the next batch handed out
        // writes the list without these, and at a start ranges before the
        // ack position are ignored (one write per batch, not two).
        while let Some(e) = self.pending.first_entry() {
            let (end, records, settled) = *e.get();
            if !settled {
                break;
            }
            log.ack(*e.key(), end, records);
            e.remove();
        }
        let next = self.pending.keys().next().copied().unwrap_or(u64::MAX);
        let mut out = Vec::new();
        while let Some(e) = self.ledger.first_entry() {
            if *e.key() >= next {
                break;
            }
            out.extend(e.remove());
        }
        out
    }
}

impl LogConsumer {
    fn new(log: Arc<PartnerLog>, dead_letters: Arc<DeadLetters>) -> LogConsumer {
        let path = log.dir().join("inflight");
        let acked = log.shared().acked();
        // Batches that were in flight when the process stopped go first,
        // as they were; only a contiguous prefix from the ack position is a
        // safe resume.
        let mut ranges = read_inflight(&path);
        ranges.retain(|(from, _)| *from >= acked);
        ranges.sort_unstable();
        let mut resume = VecDeque::new();
        let mut at = acked;
        for (from, end) in ranges {
            if from != at {
                break;
            }
            resume.push_back((from, end));
            at = end;
        }
        let reader = log.reader();
        LogConsumer {
            log,
            dead_letters,
            reader,
            resume,
            resume_end: acked,
            state: Arc::new(Mutex::new(InFlight {
                file: InflightFile::new(path),
                pending: BTreeMap::new(),
                ledger: BTreeMap::new(),
            })),
        }
    }

    /// Registers `[from, end)` as in flight (on disk before it is sent).
    fn hand_out(
        &mut self,
        name: &str,
        from: u64,
        end: u64,
        recs: Vec<Record>,
        read_gen: u64,
    ) -> (Vec<Item>, String, BatchInner) {
        {
            let mut st = self.state.lock().unwrap();
            st.pending.insert(from, (end, recs.len() as u64, false));
            let st = &mut *st;
            st.file.write(&st.pending);
        }
        let key = batch_key(name, from, end, &recs);
        (
            live_items(recs),
            key,
            BatchInner::Log {
                log: self.log.clone(),
                dead_letters: self.dead_letters.clone(),
                state: self.state.clone(),
                from,
                end,
                read_gen,
            },
        )
    }

    async fn next(
        &mut self,
        name: &str,
        max: usize,
        window: Duration,
        stop: &mut watch::Receiver<bool>,
        optouts: &OptOutStore,
    ) -> Option<(Vec<Item>, String, BatchInner)> {
        let shared = self.log.shared().clone();
        while let Some((from, end)) = self.resume.pop_front() {
            let read_gen = shared.purge_generation();
            match read_range(&self.log, from, end).await {
                Ok(mut recs) if recs.last().map(|r| r.end) == Some(end) => {
                    self.resume_end = end;
                    if self.resume.is_empty() {
                        self.reader.seek(end);
                    }
                    mark_opted_out(&mut recs, optouts);
                    return Some(self.hand_out(name, from, end, recs, read_gen));
                }
                _ => {
                    self.resume.clear();
                    self.reader.seek(self.resume_end);
                }
            }
        }
        if self.reader.position() < self.resume_end {
            self.reader.seek(self.resume_end);
        }
        loop {
            if *stop.borrow() {
                return None;
            }
            // Wait for data, then for a full batch or the batch window.
            if !self.reader.has_data() {
                tokio::select! {
                    _ = self.reader.wait(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return None,
                }
                continue;
            }
            let acked = shared.acked();
            if self.reader.position() < acked {
                // Evicted to dead letters under us (on_full = dead_letter).
                self.reader.seek(acked);
                self.state
                    .lock()
                    .unwrap()
                    .pending
                    .retain(|_, (end, _, _)| *end > acked);
            }
            let start = self.reader.position();
            let window_end = tokio::time::Instant::now() + window;
            let mut changes = shared.durable_end_watch();
            let (recs, read_gen) = loop {
                self.reader.seek(start);
                let read_gen = shared.purge_generation();
                let mut rd = std::mem::replace(&mut self.reader, self.log.reader());
                let (rd, res) = tokio::task::spawn_blocking(move || {
                    let b = rd.read_batch(max, BATCH_MAX_BYTES);
                    (rd, b)
                })
                .await
                .expect("read task");
                self.reader = rd;
                let recs = match res {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(partner = %name, error = %e, "outbox read failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Vec::new()
                    }
                };
                if recs.len() >= max || tokio::time::Instant::now() >= window_end || *stop.borrow()
                {
                    break (recs, read_gen);
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(window_end) => {}
                    _ = changes.changed() => {}
                }
            };
            if recs.is_empty() {
                continue;
            }
            let from = recs[0].offset;
            let end = recs.last().expect("non-empty").end;
            let mut recs = recs;
            mark_opted_out(&mut recs, optouts);
            return Some(self.hand_out(name, from, end, recs, read_gen));
        }
    }
}

/// The records of `[from, end)` (purged ones included).
async fn read_range(log: &Arc<PartnerLog>, from: u64, end: u64) -> io::Result<Vec<Record>> {
    let mut reader = log.reader();
    reader.seek(from);
    tokio::task::spawn_blocking(move || {
        let mut out: Vec<Record> = Vec::new();
        while reader.position() < end {
            let batch = reader.read_batch(usize::MAX, BATCH_MAX_BYTES)?;
            if batch.is_empty() {
                break;
            }
            out.extend(batch.into_iter().filter(|r| r.end <= end));
        }
        Ok(out)
    })
    .await
    .map_err(|_| io::Error::other("read task failed"))?
}

/// The ranges `<partner>/inflight` lists: `from end` lines up to a line
/// `end` (what follows it is left from a longer list written before; a
/// file without it, as earlier versions wrote, is read to its end).
fn read_inflight(path: &Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .take_while(|l| *l != "end")
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .filter(|(a, b)| a < b)
        .collect()
}

/// `<partner>/inflight`, kept open and written in place: one positioned
/// write of the whole list at offset 0 per batch handed out, instead of a
/// create, a write and a rename (which cost as much as the rest of the
/// delivery loop's bookkeeping under load).
#[derive(Debug)]
struct InflightFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    buf: String,
}

impl InflightFile {
    fn new(path: PathBuf) -> InflightFile {
        InflightFile {
            path,
            file: None,
            buf: String::new(),
        }
    }

    fn write(&mut self, ranges: &BTreeMap<u64, (u64, u64, bool)>) {
        use std::fmt::Write as _;
        use std::os::unix::fs::FileExt as _;
        self.buf.clear();
        for (from, (end, _, _)) in ranges {
            let _ = writeln!(self.buf, "{from} {end}");
        }
        self.buf.push_str("end\n");
        if self.file.is_none() {
            match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&self.path)
            {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record in-flight batches");
                    return;
                }
            }
        }
        let f = self.file.as_ref().expect("opened above");
        if let Err(e) = f.write_all_at(self.buf.as_bytes(), 0) {
            tracing::warn!(error = %e, "cannot record in-flight batches");
            self.file = None;
        }
    }
}

/// The `Idempotency-Key` of the embedded batch covering `[from, end)`.
pub fn batch_id(partner: &str, from: u64, end: u64) -> String {
    let mut h = Sha256::new();
    h.update(partner.as_bytes());
    h.update(from.to_le_bytes());
    h.update(end.to_le_bytes());
    crate::util::hex(&h.finalize()[..16])
}

/// The `Idempotency-Key` of a batch whose records are `recs` (the records
/// of `[from, end)`, purged ones included): the range's [`batch_id`] while
/// nothing in it is purged. A forget that purges records of the range
/// changes what the batch sends, so it changes the key too: one key always
/// names one body, across retries and restarts alike.
fn batch_key(partner: &str, from: u64, end: u64, recs: &[Record]) -> String {
    let mut purged = recs.iter().filter(|r| r.purged).peekable();
    if purged.peek().is_none() {
        return batch_id(partner, from, end);
    }
    let mut h = Sha256::new();
    h.update(partner.as_bytes());
    h.update(from.to_le_bytes());
    h.update(end.to_le_bytes());
    for r in purged {
        h.update(r.offset.to_le_bytes());
    }
    crate::util::hex(&h.finalize()[..16])
}

// ---------------------------------------------------------------------------
// JetStream backend.

#[derive(Debug)]
struct JsConsumer {
    js: Arc<JetStream>,
    jp: Arc<JsPartner>,
    /// The last fetch was full: fetch again without waiting.
    busy: bool,
    last_warn: Option<std::time::Instant>,
    /// Items fetched and not handed out yet, oldest first, each with its
    /// message (a message may be split between batches).
    carry: VecDeque<(Arc<Held>, u32, Item)>,
    /// Mean events per message of the last fetch (how many to ask for).
    per_message: f64,
}

impl JsConsumer {
    fn new(js: Arc<JetStream>, jp: Arc<JsPartner>) -> JsConsumer {
        JsConsumer {
            js,
            busy: false,
            last_warn: None,
            carry: VecDeque::new(),
            // The most a message may hold: the first fetch asks for one.
            per_message: jp.chunk_events() as f64,
            jp,
        }
    }

    async fn next(
        &mut self,
        name: &str,
        max: usize,
        window: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<(Vec<Item>, String, BatchInner)> {
        let max = max.max(1);
        loop {
            if *stop.borrow() {
                return None;
            }
            if self.carry.len() < max {
                // Enough messages for the rest of a batch, by the mean
                // size so far; what is left over waits for the next batch.
                let want = (((max - self.carry.len()) as f64 / self.per_message).ceil() as usize)
                    .clamp(1, max);
                let (first, window) = match (self.carry.is_empty(), self.busy) {
                    (false, _) => (Duration::ZERO, Duration::ZERO),
                    (true, true) => (Duration::ZERO, window),
                    (true, false) => (JS_IDLE_POLL, window),
                };
                let fetched = tokio::select! {
                    r = self.js.fetch(&self.jp, want, first, window) => r,
                    _ = stop.changed() => return None,
                };
                match fetched {
                    Ok(recs) => {
                        self.busy = recs.len() >= want;
                        self.hold(recs).await;
                    }
                    Err(e) => {
                        self.busy = false;
                        if self
                            .last_warn
                            .is_none_or(|t| t.elapsed() > Duration::from_secs(30))
                        {
                            tracing::warn!(partner = %name, error = %e, "cannot fetch from JetStream; retrying");
                            self.last_warn = Some(std::time::Instant::now());
                        }
                        if self.carry.is_empty() {
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                                _ = stop.changed() => return None,
                            }
                        }
                    }
                }
            }
            if !self.carry.is_empty() {
                return Some(self.hand_out(name, max));
            }
        }
    }

    /// Keeps the items of `recs` for batches to take. A message with none
    /// (its first record did not decode: logged when it was fetched) is
    /// acknowledged at once, as nothing of it can be sent.
    async fn hold(&mut self, recs: Vec<Fetched>) {
        if !recs.is_empty() {
            let events: usize = recs.iter().map(|r| r.items.len()).sum();
            self.per_message = events.max(1) as f64 / recs.len() as f64;
        }
        for mut rec in recs {
            let items = std::mem::take(&mut rec.items);
            let held = Arc::new(Held {
                unsettled: std::sync::atomic::AtomicUsize::new(items.len()),
                rec,
            });
            if items.is_empty() {
                held.ack(async_nats::jetstream::AckKind::Ack).await;
            }
            for (i, item) in items.into_iter().enumerate() {
                self.carry.push_back((held.clone(), i as u32, item));
            }
        }
    }

    /// The next batch: up to `max` items, oldest first.
    fn hand_out(&mut self, name: &str, max: usize) -> (Vec<Item>, String, BatchInner) {
        let n = max.min(self.carry.len());
        let mut items = Vec::with_capacity(n);
        let mut places = Vec::with_capacity(n);
        let mut parts: Vec<Part> = Vec::new();
        for (held, at, item) in self.carry.drain(..n) {
            match parts.last_mut() {
                Some(p) if Arc::ptr_eq(&p.held, &held) => p.items += 1,
                _ => parts.push(Part { held, items: 1 }),
            }
            places.push(((parts.len() - 1) as u32, at));
            items.push(item);
        }
        let key = js_batch_key(name, &parts, &places);
        let renewer = renew(&self.js, &parts, self.js.ack_wait() / 3);
        let inner = BatchInner::Js {
            js: self.js.clone(),
            jp: self.jp.clone(),
            parts,
            places,
            _renewer: renewer,
        };
        (items, key, inner)
    }
}

/// A fetched message whose items batches hand out: acknowledged once every
/// one of them is settled (delivered, dead-lettered or erased by a forget).
#[derive(Debug)]
struct Held {
    rec: Fetched,
    unsettled: std::sync::atomic::AtomicUsize,
}

impl Held {
    async fn ack(&self, kind: async_nats::jetstream::AckKind) {
        if let Err(e) = self.rec.msg.ack_with(kind).await {
            tracing::debug!(error = %e, "JetStream ack not sent");
        }
    }
}

/// The items of one message a batch holds.
#[derive(Debug)]
struct Part {
    held: Arc<Held>,
    items: usize,
}

impl Part {
    /// `n` of this part's items are settled; the message is acknowledged
    /// when its last item is.
    async fn settle(&self, n: usize) {
        use std::sync::atomic::Ordering;
        // Nothing left once released: the message went back whole.
        let before = self
            .held
            .unsettled
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u > 0 && n > 0).then(|| u.saturating_sub(n))
            });
        if matches!(before, Ok(u) if u <= n) {
            self.held.ack(async_nats::jetstream::AckKind::Ack).await;
        }
    }

    /// Given up for now: the message goes back at once, to be fetched
    /// again (here or by another replica) whole. Its items other batches
    /// delivered meanwhile are sent again: at least once.
    async fn release(&self) {
        use std::sync::atomic::Ordering;
        if self.held.unsettled.swap(0, Ordering::AcqRel) > 0 {
            self.held
                .ack(async_nats::jetstream::AckKind::Nak(None))
                .await;
        }
    }
}

/// The `Idempotency-Key` of a JetStream batch: derived from the stream
/// sequence of each item's message and its place in it, so the same items
/// have the same key on every replica and every redelivery, and other
/// items (a forget took some out, a redelivery split them otherwise) have
/// another key.
fn js_batch_key(partner: &str, parts: &[Part], places: &[(u32, u32)]) -> String {
    let mut h = Sha256::new();
    h.update(b"js2:");
    h.update(partner.as_bytes());
    for &(part, at) in places {
        h.update(parts[part as usize].held.rec.stream_seq.to_le_bytes());
        h.update(at.to_le_bytes());
    }
    crate::util::hex(&h.finalize()[..16])
}

/// Renews the claim on a batch's messages every `every` until dropped.
#[derive(Debug)]
struct Renewer(tokio::task::AbortHandle);

impl Drop for Renewer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn renew(js: &JetStream, parts: &[Part], every: Duration) -> Renewer {
    let client = js.delivery_client().clone();
    let replies: Vec<async_nats::Subject> = parts
        .iter()
        .filter_map(|p| p.held.rec.msg.reply.clone())
        .collect();
    let h = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            for r in &replies {
                let _ = client.publish(r.clone(), Bytes::from_static(b"+WPI")).await;
            }
        }
    });
    Renewer(h.abort_handle())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_are_stable() {
        assert_eq!(batch_id("a", 1, 2), batch_id("a", 1, 2));
        assert_ne!(batch_id("a", 1, 2), batch_id("b", 1, 2));
    }

    #[test]
    fn forget_inside_a_batch_changes_its_key() {
        let rec = |offset, purged| Record {
            offset,
            end: offset + 10,
            ingest_ms: 0,
            event_hash: [0; 16],
            purged,
            subjects: Default::default(),
            payload: Bytes::new(),
        };
        let whole = [rec(0, false), rec(10, false)];
        assert_eq!(batch_key("a", 0, 20, &whole), batch_id("a", 0, 20));
        let first_gone = [rec(0, true), rec(10, false)];
        let second_gone = [rec(0, false), rec(10, true)];
        let k1 = batch_key("a", 0, 20, &first_gone);
        assert_ne!(k1, batch_id("a", 0, 20));
        assert_ne!(k1, batch_key("a", 0, 20, &second_gone));
        assert_eq!(
            k1,
            batch_key("a", 0, 20, &first_gone),
            "stable across restarts"
        );
    }
}
