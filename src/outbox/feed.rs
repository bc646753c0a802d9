//! Reading an outbox for the pull feed (see docs/delivery.md): a [`Feed`]
//! serves leased responses and acknowledges the events up to a committed
//! cursor. The HTTP side (tokens, query parameters,
//! answers) is crate::api::feed; this is what each backend does underneath.
//!
//! - Embedded: served events are leased: each response is a chunk
//!   remembered with a deadline. A cursor names the end of the response it
//!   came with, and its commit acknowledges that response's events and
//!   those of the responses served before it whose lease still runs (docs/delivery.md:
//!   up to and including the cursor). When an uncommitted chunk's lease
//!   runs out, its events are served again, even if later chunks were
//!   committed; the log's ack position moves over committed chunks in
//!   order. Cursors are `c1.` + the log position in hex, and only cursors
//!   this feed handed out are accepted.
//! - JetStream: the feed reads the partner's shared consumer (its
//!   `ack_wait` is the lease), so a partner may call any replica. The
//!   cursor (`j1.`) carries, under a MAC of the shared internal key, what
//!   any replica needs to acknowledge that response's events: the
//!   consumer's ack-subject prefix and runs of (delivery count, stream and
//!   consumer sequence), plus when it was served. Before a commit
//!   acknowledges them it reads their headers back (the keyed subject
//!   hashes) for the subject-access ledger, which on this backend is
//!   fleet-wide: the replica that commits records what the partner got.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::jetstream::{Fetched, JetStream, JsPartner};
use super::store::{Backing, Ctx, PartnerOutbox};
use super::{PartnerLog, Reader, Stream};
use crate::privacy::Delivered;
use crate::util::now_ms;

/// The most events one response may carry (`max` is capped by the API).
const MAX_ITEMS: u64 = 10_000;
/// Bytes of payload per response.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Counts the items a feed serves that a caller wants told apart (the
/// opted-out notices among notices); `None` counts nothing.
pub type Tag = Option<fn(&[u8]) -> bool>;

/// What a commit acknowledged.
#[derive(Debug, Default)]
pub struct Committed {
    /// Items newly committed.
    pub count: u64,
    /// Their ingest times (JetStream: the response's mean, per item).
    pub ingest_ms: Vec<u64>,
    /// What the subject-access ledger records of them (event feeds).
    pub ledger: Vec<Delivered>,
    /// How many of them the feed's [`Tag`] matched.
    pub tagged: u64,
}

impl Committed {
    fn add(&mut self, mut other: Committed) {
        self.count += other.count;
        self.ingest_ms.append(&mut other.ingest_ms);
        self.ledger.append(&mut other.ledger);
        self.tagged += other.tagged;
    }
}

/// Why a feed request failed.
#[derive(Debug)]
pub enum FeedError {
    /// 400: the cursor is not one this feed served (or its lease ran out).
    Cursor(&'static str),
    /// 503: the backend cannot be reached now; the caller retries.
    Unavailable(&'static str),
    /// 500: the outbox could not be read.
    Failed,
}

const NOT_OURS: &str = "cursor is not a cursor of this feed";
const NOT_SERVED: &str =
    "cursor was not served by this feed, or its lease expired and the events will be served again";

/// One partner's pull feed of one stream.
#[derive(Debug)]
pub struct Feed {
    partner: String,
    stream: Stream,
    tag: Tag,
    /// (lease, batch_max_events)
    settings: Mutex<(Duration, usize)>,
    src: Source,
    ctx: Arc<Ctx>,
}

/// The embedded log a feed serves and what it has served.
#[derive(Debug)]
struct LogSource {
    log: Arc<PartnerLog>,
    state: Mutex<State>,
}

#[derive(Debug)]
enum Source {
    Log(Arc<LogSource>),
    Js {
        js: Arc<JetStream>,
        jp: Arc<JsPartner>,
        /// The cursors this replica served, oldest first, with when: a
        /// commit also acknowledges the ones served before it (their lease
        /// still running), as the embedded feed does.
        served: Mutex<VecDeque<JsServed>>,
    },
}

/// A cursor a JetStream feed served on this replica.
#[derive(Debug)]
struct JsServed {
    served_ms: u64,
    cursor: String,
    committed: bool,
}

/// The most cursors a JetStream feed remembers for cumulative commits.
const JS_SERVED_MAX: usize = 1024;

impl PartnerOutbox {
    /// The pull feed of this outbox; one per partner and stream.
    pub fn feed(&self, lease: Duration, batch_max: usize, tag: Tag) -> Feed {
        let src = match &self.backing {
            Backing::Log(log, _) => Source::Log(Arc::new(LogSource {
                log: log.clone(),
                state: Mutex::new(State {
                    reader: log.reader(),
                    committed: log.shared().acked(),
                    served: VecDeque::new(),
                }),
            })),
            Backing::Js(js, jp) => Source::Js {
                js: js.clone(),
                jp: jp.clone(),
                served: Mutex::new(VecDeque::new()),
            },
        };
        Feed {
            partner: self.name().to_owned(),
            stream: self.stream(),
            tag,
            settings: Mutex::new((lease, batch_max)),
            src,
            ctx: self.ctx.clone(),
        }
    }
}

impl Feed {
    /// New settings from a reloaded config.
    pub fn update(&self, lease: Duration, batch_max: usize) {
        *self.settings.lock().unwrap() = (lease, batch_max);
    }

    pub fn batch_max(&self) -> usize {
        self.settings.lock().unwrap().1
    }

    fn lease(&self) -> Duration {
        self.settings.lock().unwrap().0
    }

    /// A response of up to `max` items, the whole JSON body
    /// (`{"cursor":"...","events":[...]}`): waits up to `wait` for one
    /// (less if `stopping` is set), else answers an empty list.
    pub async fn serve(
        self: &Arc<Self>,
        max: usize,
        wait: Duration,
        mut stopping: watch::Receiver<bool>,
    ) -> Result<Vec<u8>, FeedError> {
        match &self.src {
            Source::Log(src) => {
                let (log, state) = (&src.log, &src.state);
                let deadline = tokio::time::Instant::now() + wait;
                let mut watcher = log.reader();
                loop {
                    let (f, src) = (self.clone(), src.clone());
                    let served =
                        tokio::task::spawn_blocking(move || f.try_serve(&src.log, &src.state, max));
                    match served.await {
                        Ok(Ok(Some(body))) => return Ok(body),
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => {
                            tracing::error!(partner = %self.partner, error = %e, "feed read failed");
                            return Err(FeedError::Failed);
                        }
                        Err(_) => return Err(FeedError::Failed),
                    }
                    let now = tokio::time::Instant::now();
                    if now >= deadline || *stopping.borrow() {
                        return Ok(self.empty_response(state));
                    }
                    // Wake on new durable data (or the lease of a served
                    // chunk ending).
                    let pos = state.lock().unwrap().reader.position();
                    watcher.seek(pos);
                    let wake = deadline.min(now + Duration::from_millis(250));
                    tokio::select! {
                        _ = watcher.wait(wake - now) => {}
                        _ = stopping.changed() => {}
                    }
                }
            }
            Source::Js { js, jp, .. } => {
                let fetched = tokio::select! {
                    r = js.fetch(jp, max, wait, Duration::ZERO) => r,
                    _ = stopping.changed() => Ok(Vec::new()),
                };
                let recs = fetched.map_err(|e| {
                    tracing::error!(partner = %self.partner, error = %e, "feed read failed");
                    FeedError::Unavailable("feed could not be read from JetStream; retry")
                })?;
                Ok(self.js_response(recs).await)
            }
        }
    }

    /// Acknowledges the items of the response `cursor` came with and of the
    /// responses served before it whose lease still runs (docs/delivery.md).
    pub async fn commit(&self, cursor: &str) -> Result<Committed, FeedError> {
        match &self.src {
            Source::Log(src) => {
                let pos = decode_cursor(cursor).ok_or(FeedError::Cursor(NOT_OURS))?;
                self.commit_log(&src.log, &src.state, pos)
            }
            Source::Js { js, served, .. } => {
                // The cursors served before this one on this replica and
                // still leased, committed first (docs/delivery.md: up to and
                // including the cursor).
                let now = now_ms();
                let lease = self.lease().as_millis() as u64;
                let earlier: Vec<String> = {
                    let mut q = served.lock().unwrap();
                    q.retain(|s| s.served_ms + lease >= now);
                    match q.iter().position(|s| s.cursor == cursor) {
                        // Committed already, alone or with a later one.
                        Some(i) if q[i].committed => return Ok(Committed::default()),
                        Some(i) => q
                            .iter_mut()
                            .take(i + 1)
                            .filter_map(|s| {
                                let first = !s.committed;
                                s.committed = true;
                                (first && s.cursor != cursor).then(|| s.cursor.clone())
                            })
                            .collect(),
                        None => Vec::new(),
                    }
                };
                let mut done = Committed::default();
                for c in &earlier {
                    // One that fails (its lease ended meanwhile) is served
                    // again; it does not fail this commit.
                    if let Ok(more) = self.commit_js(js, c).await {
                        done.add(more);
                    }
                }
                done.add(self.commit_js(js, cursor).await?);
                Ok(done)
            }
        }
    }

    /// The opening of a response body, and where its cursor goes.
    fn open_body(&self) -> (Vec<u8>, usize) {
        let mut body = Vec::with_capacity(4096);
        body.extend_from_slice(b"{\"cursor\":\"");
        let cursor_at = body.len();
        body.extend_from_slice(b"\",\"");
        body.extend_from_slice(self.stream.items().as_bytes());
        body.extend_from_slice(b"\":[");
        (body, cursor_at)
    }

    fn tagged(&self, payload: &[u8]) -> bool {
        self.tag.is_some_and(|t| t(payload))
    }
}

// ---------------------------------------------------------------------------
// Embedded backend.

#[derive(Debug)]
struct Chunk {
    /// The log range `[start, end)` this chunk served.
    start: u64,
    end: u64,
    records: u64,
    /// Ingest times of the live (not purged) items, for the age metric.
    ingest_ms: Vec<u64>,
    /// What the subject-access ledger records when the chunk is committed.
    ledger: Vec<Delivered>,
    /// How many of the items served the feed's tag matched.
    tagged: u64,
    deadline: Instant,
    /// Its cursor was committed (chunks before it may not be yet).
    committed: bool,
}

#[derive(Debug)]
struct State {
    reader: Reader,
    committed: u64,
    served: VecDeque<Chunk>,
}

fn encode_cursor(pos: u64) -> String {
    format!("c1.{pos:x}")
}

/// The position of a cursor [`encode_cursor`] wrote, and of nothing else:
/// lowercase hex without a sign or leading zeros (`from_str_radix` alone
/// also takes `c1.+17da` and `c1.017DA`).
fn decode_cursor(c: &str) -> Option<u64> {
    let hex = c.strip_prefix("c1.")?;
    let pos = u64::from_str_radix(hex, 16).ok()?;
    (encode_cursor(pos) == c).then_some(pos)
}

impl Feed {
    /// Serves up to `max` items, or `None` when there are none now. A
    /// chunk whose lease ran out uncommitted is served again first (only
    /// its own range: chunks committed after it stay committed).
    fn try_serve(
        &self,
        log: &PartnerLog,
        state: &Mutex<State>,
        max: usize,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let lease = self.lease();
        let mut st = state.lock().unwrap();
        let now = Instant::now();
        let acked = log.shared().acked();
        if st.committed < acked {
            // Events left the outbox another way (dead-lettered when full).
            st.committed = acked;
            st.served.retain(|c| c.end > acked);
            if let Some(c) = st.served.front_mut() {
                c.start = c.start.max(acked);
            }
        }
        let tip = st.reader.position().max(acked);
        // The first chunk whose lease ran out without a commit: its items
        // were not seen (the response was lost, or the partner gave up).
        let expired = st
            .served
            .iter()
            .position(|c| !c.committed && c.deadline <= now);
        let (start, limit) = match expired {
            Some(i) => (st.served[i].start, Some(st.served[i].end)),
            None => (tip, None),
        };
        st.reader.seek(start);
        let mut records = 0u64;
        let mut ingest = Vec::new();
        let mut ledger = Vec::new();
        let mut tagged = 0;
        let (mut body, cursor_at) = self.open_body();
        let mut first = true;
        let mut end = start;
        // Skip over purged records without serving an empty chunk for them.
        'read: while ingest.is_empty() && limit.is_none_or(|l| end < l) {
            let batch = st.reader.read_batch(max, MAX_RESPONSE_BYTES)?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                if limit.is_some_and(|l| r.offset >= l) {
                    break 'read;
                }
                records += 1;
                end = r.end;
                // Purged, or a person who opted out since it was queued:
                // never served.
                if r.purged || self.ctx.optouts.any_opted_out(&r.subjects) {
                    continue;
                }
                if !first {
                    body.push(b',');
                }
                first = false;
                body.extend_from_slice(&r.payload);
                ingest.push(r.ingest_ms);
                if self.stream == Stream::Events {
                    ledger.extend(Delivered::of(&r.subjects, &r.payload));
                }
                tagged += u64::from(self.tagged(&r.payload));
            }
        }
        let chunk = Chunk {
            start,
            end,
            records,
            ingest_ms: ingest.clone(),
            ledger,
            tagged,
            deadline: now + lease,
            // Only purged records: nothing to serve, nothing to wait for.
            committed: ingest.is_empty(),
        };
        match (expired, limit) {
            (Some(i), Some(l)) => {
                // Served again: this chunk replaces the start of the expired
                // one; what `max` left out of it stays expired, next in line.
                st.reader.seek(tip);
                if records == 0 {
                    // Nothing of the range is left to serve (it left the
                    // outbox): settle it rather than wait on it forever.
                    st.served[i].committed = true;
                    settle(&mut st, log);
                    return Ok(None);
                }
                let old = st.served.remove(i).expect("found above");
                if end < l {
                    st.served.insert(
                        i,
                        Chunk {
                            start: end,
                            end: l,
                            records: old.records.saturating_sub(records),
                            ingest_ms: Vec::new(),
                            ledger: Vec::new(),
                            tagged: 0,
                            deadline: now,
                            committed: false,
                        },
                    );
                }
                st.served.insert(i, chunk);
            }
            _ => {
                if records == 0 {
                    return Ok(None);
                }
                st.served.push_back(chunk);
            }
        }
        if ingest.is_empty() {
            settle(&mut st, log);
            return Ok(None);
        }
        body.extend_from_slice(b"]}");
        body.splice(cursor_at..cursor_at, encode_cursor(end).bytes());
        Ok(Some(body))
    }

    /// An empty response's cursor acknowledges nothing: it names the last
    /// commit, not a chunk some other (possibly lost) response served.
    fn empty_response(&self, state: &Mutex<State>) -> Vec<u8> {
        let committed = state.lock().unwrap().committed;
        let (mut body, cursor_at) = self.open_body();
        body.extend_from_slice(b"]}");
        body.splice(cursor_at..cursor_at, encode_cursor(committed).bytes());
        body
    }

    fn commit_log(
        &self,
        log: &PartnerLog,
        state: &Mutex<State>,
        cursor: u64,
    ) -> Result<Committed, FeedError> {
        let mut st = state.lock().unwrap();
        if cursor <= st.committed {
            return Ok(Committed::default());
        }
        // A chunk left expired by a partial re-serve was never handed out
        // under its own cursor (its `ingest_ms` is empty, records > 0).
        let Some(c) = st
            .served
            .iter_mut()
            .find(|c| c.end == cursor && (c.committed || !c.ingest_ms.is_empty()))
        else {
            return Err(FeedError::Cursor(NOT_SERVED));
        };
        if c.committed {
            return Ok(Committed::default());
        }
        // Every event up to and including the cursor (docs/delivery.md): the chunks
        // served before it whose lease still runs are committed with it.
        // One whose lease ran out is served again, as uncommitted events
        // past their lease are; so is the rest of a partial re-serve,
        // never handed out under a cursor of its own.
        let now = Instant::now();
        let mut done = Committed::default();
        for c in st.served.iter_mut() {
            if c.end > cursor {
                break;
            }
            let handed_out = !c.ingest_ms.is_empty();
            if c.committed || !handed_out || (c.end < cursor && c.deadline <= now) {
                continue;
            }
            c.committed = true;
            done.count += c.ingest_ms.len() as u64;
            done.ingest_ms.append(&mut c.ingest_ms);
            done.ledger.append(&mut c.ledger);
            done.tagged += c.tagged;
        }
        settle(&mut st, log);
        Ok(done)
    }
}

/// Moves the log's ack position over the leading committed chunks.
fn settle(st: &mut State, log: &PartnerLog) {
    let from = st.committed;
    let mut records = 0;
    while st.served.front().is_some_and(|c| c.committed) {
        let c = st.served.pop_front().expect("checked");
        records += c.records;
        st.committed = c.end;
    }
    if st.committed > from {
        log.ack(from, st.committed, records);
    }
}

// ---------------------------------------------------------------------------
// JetStream backend.

/// Events of one response, for the cursor: what acknowledges them.
struct JsCursor {
    served_ms: u64,
    events: u64,
    mean_ingest_ms: u64,
    /// Ack subject before the delivery count.
    prefix: String,
    /// (delivery count, stream seq, consumer seq, run length): messages
    /// whose sequences both step by one.
    runs: Vec<(u64, u64, u64, u64)>,
    /// How many of the items served the feed's tag matched.
    tagged: u64,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// What a cursor's MAC is keyed for: the partner and the feed, so a cursor
/// of the event feed is not one of the notice feed (it would acknowledge
/// events without recording them).
fn mac_domain(partner: &str, stream: Stream) -> String {
    match stream {
        Stream::Events => format!("feed_cursor:{partner}"),
        Stream::Notices => format!("notice_cursor:{partner}"),
    }
}

impl JsCursor {
    fn encode(&self, feed: &Feed) -> String {
        use base64::Engine as _;
        let mut body = Vec::with_capacity(32 + self.prefix.len() + 8 * self.runs.len());
        for v in [self.served_ms, self.events, self.mean_ingest_ms] {
            put_varint(&mut body, v);
        }
        put_varint(&mut body, self.prefix.len() as u64);
        body.extend_from_slice(self.prefix.as_bytes());
        put_varint(&mut body, self.runs.len() as u64);
        for &(dc, s, d, n) in &self.runs {
            for v in [dc, s, d, n] {
                put_varint(&mut body, v);
            }
        }
        // Last, so a cursor served before this field existed still decodes.
        put_varint(&mut body, self.tagged);
        let mac = feed
            .ctx
            .hasher
            .keyed(&mac_domain(&feed.partner, feed.stream), &body);
        let mut all = mac.to_vec();
        all.extend_from_slice(&body);
        format!(
            "j1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(all)
        )
    }

    /// `None` when it is not a cursor this feed (on any replica) served.
    fn decode(feed: &Feed, c: &str) -> Option<JsCursor> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c.strip_prefix("j1.")?)
            .ok()?;
        if raw.len() < 16 {
            return None;
        }
        let (mac, mut b) = raw.split_at(16);
        let want = feed
            .ctx
            .hasher
            .keyed(&mac_domain(&feed.partner, feed.stream), b);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(mac, &want[..])) {
            return None;
        }
        let served_ms = get_varint(&mut b)?;
        let events = get_varint(&mut b)?;
        let mean_ingest_ms = get_varint(&mut b)?;
        let plen = get_varint(&mut b)? as usize;
        if b.len() < plen {
            return None;
        }
        let prefix = String::from_utf8(b[..plen].to_vec()).ok()?;
        b = &b[plen..];
        let n = get_varint(&mut b)? as usize;
        let mut runs = Vec::with_capacity(n.min(MAX_ITEMS as usize));
        for _ in 0..n {
            runs.push((
                get_varint(&mut b)?,
                get_varint(&mut b)?,
                get_varint(&mut b)?,
                get_varint(&mut b)?,
            ));
        }
        let tagged = get_varint(&mut b).unwrap_or(0).min(events);
        Some(JsCursor {
            served_ms,
            events,
            mean_ingest_ms,
            prefix,
            runs,
            tagged,
        })
    }

    /// The stream sequences of the messages this cursor names.
    fn stream_seqs(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for &(_, s, _, n) in &self.runs {
            out.extend((0..n.min(MAX_ITEMS)).map(|i| s + i));
        }
        out
    }

    fn ack_subjects(&self) -> Vec<String> {
        let mut out = Vec::new();
        for &(dc, s, d, n) in &self.runs {
            for i in 0..n.min(MAX_ITEMS) {
                out.push(format!("{}.{dc}.{}.{}.0.0", self.prefix, s + i, d + i));
            }
        }
        out
    }
}

impl Feed {
    /// The response of the messages `recs` fetched.
    async fn js_response(&self, recs: Vec<Fetched>) -> Vec<u8> {
        // Events of people forgotten or opted out since they were queued
        // are never served; a message left with none is acknowledged away.
        let optouts = &self.ctx.optouts;
        let gone = |i: &super::Item| optouts.any_opted_out(&i.subjects);
        let (empty, recs): (Vec<Fetched>, Vec<Fetched>) =
            recs.into_iter().partition(|r| r.items.iter().all(gone));
        for r in empty {
            let _ = r.msg.ack().await;
        }
        let mut cursor = JsCursor {
            served_ms: now_ms(),
            events: 0,
            mean_ingest_ms: 0,
            prefix: recs
                .first()
                .and_then(|r| r.ack_prefix())
                .unwrap_or_default(),
            runs: Vec::new(),
            tagged: 0,
        };
        let (mut body, cursor_at) = self.open_body();
        let mut sum: u128 = 0;
        for r in &recs {
            for item in r.items.iter().filter(|i| !gone(i)) {
                if cursor.events > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&item.payload);
                cursor.tagged += u64::from(self.tagged(&item.payload));
                sum += item.ingest_ms as u128;
                cursor.events += 1;
            }
            let dc = r.delivered.max(1) as u64;
            match cursor.runs.last_mut() {
                Some((rdc, s, d, n))
                    if *rdc == dc && *s + *n == r.stream_seq && *d + *n == r.consumer_seq =>
                {
                    *n += 1
                }
                _ => cursor.runs.push((dc, r.stream_seq, r.consumer_seq, 1)),
            }
        }
        if cursor.events > 0 {
            cursor.mean_ingest_ms = (sum / cursor.events as u128) as u64;
        }
        body.extend_from_slice(b"]}");
        let c = cursor.encode(self);
        body.splice(cursor_at..cursor_at, c.bytes());
        if cursor.events > 0 {
            if let Source::Js { served, .. } = &self.src {
                let mut q = served.lock().unwrap();
                if q.len() == JS_SERVED_MAX {
                    q.pop_front();
                }
                q.push_back(JsServed {
                    served_ms: cursor.served_ms,
                    cursor: c,
                    committed: false,
                });
            }
        }
        body
    }

    async fn commit_js(&self, js: &JetStream, cursor: &str) -> Result<Committed, FeedError> {
        let c = JsCursor::decode(self, cursor).ok_or(FeedError::Cursor(NOT_OURS))?;
        if c.runs.is_empty() {
            return Ok(Committed::default());
        }
        if now_ms() > c.served_ms + self.lease().as_millis() as u64 {
            return Err(FeedError::Cursor(NOT_SERVED));
        }
        const RETRY: &str = "commit could not reach JetStream; retry";
        // What the ledger records, read while the messages are still in
        // the stream (the ack removes them). A message gone already was
        // committed before (a repeated commit) or erased by a forget: not
        // recorded again.
        let ledger = match self.stream {
            Stream::Events => js
                .delivered_of(&self.partner, &c.stream_seqs())
                .await
                .map_err(|e| {
                    tracing::error!(partner = %self.partner, error = %e, "feed commit failed");
                    FeedError::Unavailable(RETRY)
                })?,
            Stream::Notices => Vec::new(),
        };
        js.ack_subjects(c.ack_subjects()).await.map_err(|e| {
            tracing::error!(partner = %self.partner, error = %e, "feed commit failed");
            FeedError::Unavailable(RETRY)
        })?;
        Ok(Committed {
            count: c.events,
            // A JetStream response keeps its events' mean ingest time.
            ingest_ms: vec![c.mean_ingest_ms; c.events as usize],
            ledger,
            tagged: c.tagged,
        })
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn only_the_cursors_it_writes_are_read() {
        assert_eq!(decode_cursor(&encode_cursor(0x17da)), Some(0x17da));
        assert_eq!(decode_cursor("c1.0"), Some(0));
        for bad in [
            "c1.+17da", "c1.017da", "c1.17DA", "c1.", "c1.-1", "c2.17da", "17da",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
