//! The pull feed (see docs/delivery.md): `GET /v1/feed/{partner}?max=N&wait_ms=W` and
//! `POST /v1/feed/{partner}/commit {"cursor": "..."}`.
//!
//! Served events are leased: each response is a chunk remembered with a
//! deadline. A cursor names exactly the events of the response it came
//! with, and its commit acknowledges those alone (not the responses
//! served before it). When an uncommitted chunk's lease runs out, its
//! events are served again, even if later chunks were committed; the
//! outbox's ack position moves over committed chunks in order. Cursors are opaque to partners (`c1.` + the
//! outbox position in hex) and only cursors this feed handed out are
//! accepted.
//!
//! A pull partner's notices (crate::notice) are a second feed of the same
//! kind on its notice outbox: `GET /v1/feed/{partner}/notices` and
//! `POST /v1/feed/{partner}/notices/commit`, same token, cursors, leases,
//! with a `"notices"` list; their commits count in `adgate_notices_total`,
//! not in the delivered events or the ledger. Both backends.
//!
//! With the JetStream backend the feed reads the partner's shared consumer
//! (its `ack_wait` is `lease_ms`), so a partner may call any replica. The
//! cursor (`j1.`) then carries, under a MAC of the shared internal key, what
//! any replica needs to acknowledge that response's events: the consumer's
//! ack-subject prefix and runs of (delivery count, stream and consumer
//! sequence), plus when it was served. A commit acknowledges the events of
//! the response whose cursor it names. Before it acknowledges them it reads
//! their headers back (the keyed subject hashes) for the subject-access
//! ledger, which on this backend is fleet-wide ([`crate::privacy::fleet`]):
//! the replica that commits records what the partner received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::config::{PartnerConfig, PullConfig, MAX_FEED_WAIT_MS};
use crate::notice::NoticeType;
use crate::outbox::jetstream::{Fetched, JsPartner};
use crate::outbox::{PartnerLog, Reader, Stream};
use crate::privacy::Delivered;
use crate::server::{self, error, Resp};
use crate::util::now_ms;

/// Default `max` when the partner gives none, and the hard cap.
const DEFAULT_MAX: usize = 100;
const MAX_MAX: usize = 10_000;
/// Bytes of payload per response.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// What a commit acknowledged: events (or notices) newly committed, their
/// ingest times, the ledger entries of events, the types of notices.
struct Committed {
    count: u64,
    ingest_ms: Vec<u64>,
    ledger: Vec<Delivered>,
    notices: Vec<NoticeType>,
}

impl Committed {
    fn none() -> Committed {
        Committed {
            count: 0,
            ingest_ms: Vec::new(),
            ledger: Vec::new(),
            notices: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Chunk {
    /// The outbox range `[start, end)` this chunk served.
    start: u64,
    end: u64,
    records: u64,
    /// Ingest times of the live (not purged) events, for the age metric.
    ingest_ms: Vec<u64>,
    /// What the subject-access ledger records when the chunk is committed.
    ledger: Vec<Delivered>,
    /// The types of the notices served (notice feed only), for the metric.
    notices: Vec<NoticeType>,
    deadline: Instant,
    /// Its cursor was committed (chunks before it may not be yet).
    committed: bool,
}

#[derive(Debug)]
struct State {
    reader: Reader,
    committed: u64,
    served: VecDeque<Chunk>,
    lease: Duration,
    batch_max: usize,
}

#[derive(Debug)]
pub struct PullFeed {
    partner: String,
    token: Mutex<crate::secret::Secret>,
    src: Source,
    /// Events (`GET /v1/feed/{partner}`) or notices (`.../notices`).
    stream: Stream,
}

#[derive(Debug)]
enum Source {
    Log {
        log: Arc<PartnerLog>,
        state: Mutex<State>,
    },
    Js {
        jp: Arc<JsPartner>,
        /// (lease, batch_max_events)
        settings: Mutex<(Duration, usize)>,
    },
}

fn encode_cursor(pos: u64) -> String {
    format!("c1.{pos:x}")
}

fn decode_cursor(c: &str) -> Option<u64> {
    u64::from_str_radix(c.strip_prefix("c1.")?, 16).ok()
}

impl PullFeed {
    /// A feed on partner `p`'s embedded outbox `log` of `stream`.
    pub fn new(
        p: &PartnerConfig,
        pull: &PullConfig,
        log: Arc<PartnerLog>,
        stream: Stream,
    ) -> PullFeed {
        let reader = log.reader();
        let committed = log.shared().acked();
        PullFeed {
            partner: p.name.clone(),
            token: Mutex::new(pull.token.clone()),
            stream,
            src: Source::Log {
                log,
                state: Mutex::new(State {
                    reader,
                    committed,
                    served: VecDeque::new(),
                    lease: pull.lease,
                    batch_max: p.batch_max_events,
                }),
            },
        }
    }

    /// A feed on the partner's JetStream consumer of `jp.stream` (events or
    /// notices).
    pub fn new_js(p: &PartnerConfig, pull: &PullConfig, jp: Arc<JsPartner>) -> PullFeed {
        PullFeed {
            partner: p.name.clone(),
            token: Mutex::new(pull.token.clone()),
            stream: jp.stream,
            src: Source::Js {
                jp,
                settings: Mutex::new((pull.lease, p.batch_max_events)),
            },
        }
    }

    pub fn update(&self, p: &PartnerConfig, pull: &PullConfig) {
        *self.token.lock().unwrap() = pull.token.clone();
        match &self.src {
            Source::Log { state, .. } => {
                let mut st = state.lock().unwrap();
                st.lease = pull.lease;
                st.batch_max = p.batch_max_events;
            }
            Source::Js { settings, .. } => {
                *settings.lock().unwrap() = (pull.lease, p.batch_max_events);
            }
        }
    }

    fn log(&self) -> (&Arc<PartnerLog>, &Mutex<State>) {
        match &self.src {
            Source::Log { log, state } => (log, state),
            Source::Js { .. } => unreachable!("embedded feed only"),
        }
    }

    fn batch_max(&self) -> usize {
        match &self.src {
            Source::Log { state, .. } => state.lock().unwrap().batch_max,
            Source::Js { settings, .. } => settings.lock().unwrap().1,
        }
    }

    pub fn token_matches(&self, t: &[u8]) -> bool {
        self.token.lock().unwrap().ct_eq(t)
    }

    /// Serves up to `max` events, or `None` when there are none now. A
    /// chunk whose lease ran out uncommitted is served again first (only
    /// its own range: chunks committed after it stay committed).
    fn try_serve(&self, max: usize) -> std::io::Result<Option<(String, Vec<u8>)>> {
        let (log, state) = self.log();
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
        let lease = st.lease;
        // The first chunk whose lease ran out without a commit: its events
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
        let mut notices = Vec::new();
        let mut body = Vec::with_capacity(4096);
        body.extend_from_slice(b"{\"cursor\":\"");
        let cursor_at = body.len();
        body.extend_from_slice(b"\",\"");
        body.extend_from_slice(self.stream.items().as_bytes());
        body.extend_from_slice(b"\":[");
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
                if r.purged {
                    continue;
                }
                if !first {
                    body.push(b',');
                }
                first = false;
                body.extend_from_slice(&r.payload);
                ingest.push(r.ingest_ms);
                match self.stream {
                    Stream::Events => ledger.extend(Delivered::of(&r.subjects, &r.payload)),
                    Stream::Notices => notices.push(NoticeType::of_line(&r.payload)),
                }
            }
        }
        let chunk = Chunk {
            start,
            end,
            records,
            ingest_ms: ingest.clone(),
            ledger,
            notices,
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
                    self.settle(&mut st, log);
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
                            notices: Vec::new(),
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
            self.settle(&mut st, log);
            return Ok(None);
        }
        body.extend_from_slice(b"]}");
        let cursor = encode_cursor(end);
        body.splice(cursor_at..cursor_at, cursor.bytes());
        Ok(Some((cursor, body)))
    }

    /// Moves the outbox's ack position over the leading committed chunks.
    fn settle(&self, st: &mut State, log: &PartnerLog) {
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

    /// An empty response's cursor acknowledges nothing: it names the last
    /// commit, not a chunk some other (possibly lost) response served.
    fn empty_response(&self) -> Vec<u8> {
        let st = self.log().1.lock().unwrap();
        let mut v = serde_json::json!({"cursor": encode_cursor(st.committed)});
        v[self.stream.items()] = serde_json::json!([]);
        serde_json::to_vec(&v).expect("json")
    }

    /// Acks the events of the one response whose cursor this is (not the
    /// responses served before it); returns the number of events newly
    /// committed, their ingest times and what the ledger records of them.
    fn commit(&self, cursor: u64) -> Result<Committed, &'static str> {
        let (log, state) = self.log();
        let mut st = state.lock().unwrap();
        if cursor <= st.committed {
            return Ok(Committed::none());
        }
        // A chunk left expired by a partial re-serve was never handed out
        // under its own cursor (its `ingest_ms` is empty, records > 0).
        let Some(c) = st
            .served
            .iter_mut()
            .find(|c| c.end == cursor && (c.committed || !c.ingest_ms.is_empty()))
        else {
            return Err("cursor was not served by this feed, or its lease expired and the events will be served again");
        };
        if c.committed {
            return Ok(Committed::none());
        }
        c.committed = true;
        let ingest_ms = std::mem::take(&mut c.ingest_ms);
        let ledger = std::mem::take(&mut c.ledger);
        let notices = std::mem::take(&mut c.notices);
        self.settle(&mut st, log);
        Ok(Committed {
            count: ingest_ms.len() as u64,
            ingest_ms,
            ledger,
            notices,
        })
    }
}

/// Finds the feed of `stream` named in the path and checks the token
/// against it (a partner's notice feed takes its event feed token).
fn authorize(
    app: &Arc<App>,
    req: &Request<Incoming>,
    stream: Stream,
    suffix: &str,
) -> Result<Arc<PullFeed>, Resp> {
    let path = req.uri().path();
    let suffix = match stream {
        Stream::Events => suffix.to_owned(),
        Stream::Notices => format!("/notices{suffix}"),
    };
    let name = path
        .strip_prefix("/v1/feed/")
        .and_then(|r| r.strip_suffix(suffix.as_str()))
        .unwrap_or("");
    let Some(token) = server::bearer(req) else {
        return Err(server::unauthorized(
            "missing feed token (Authorization: Bearer <token>)",
        ));
    };
    if stream == Stream::Notices {
        let notice_feeds = app.notice_feeds.read().unwrap();
        if let Some(f) = notice_feeds.get(name) {
            if f.token_matches(token) {
                return Ok(f.clone());
            }
        }
    }
    let feeds = app.feeds.read().unwrap();
    if stream == Stream::Events {
        if let Some(f) = feeds.get(name) {
            if f.token_matches(token) {
                return Ok(f.clone());
            }
        }
    }
    let known_elsewhere = feeds.values().any(|f| f.token_matches(token))
        || app
            .runtime()
            .config
            .producers
            .iter()
            .any(|p| p.token.ct_eq(token))
        || app
            .runtime()
            .config
            .admin_token
            .as_ref()
            .is_some_and(|a| a.ct_eq(token));
    let exists = match stream {
        Stream::Events => feeds.contains_key(name),
        Stream::Notices => app.notice_feeds.read().unwrap().contains_key(name),
    };
    if known_elsewhere && !exists {
        // An authenticated caller asking for a feed that does not exist (or
        // a push partner, which has none).
        Err(error(
            StatusCode::NOT_FOUND,
            "no pull feed of that name (the partner is unknown or uses push delivery)",
        ))
    } else if known_elsewhere {
        Err(error(
            StatusCode::FORBIDDEN,
            "this token may not read this feed",
        ))
    } else {
        Err(server::unauthorized("invalid feed token"))
    }
}

fn query_param<'a>(q: &'a str, key: &str) -> Option<&'a str> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

pub async fn handle_get(app: &Arc<App>, req: Request<Incoming>, stream: Stream) -> Resp {
    let feed = match authorize(app, &req, stream, "") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let q = req.uri().query().unwrap_or("");
    let max = match query_param(q, "max").map(|v| v.parse::<usize>()) {
        None => None,
        Some(Ok(n)) if (1..=MAX_MAX).contains(&n) => Some(n),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("max must be an integer from 1 to {MAX_MAX}"),
            )
        }
    };
    let wait_ms = match query_param(q, "wait_ms").map(|v| v.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) if n <= MAX_FEED_WAIT_MS => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("wait_ms must be an integer from 0 to {MAX_FEED_WAIT_MS}"),
            )
        }
    };
    let max = max.unwrap_or_else(|| feed.batch_max().min(DEFAULT_MAX.max(1)));
    if let Source::Js { jp, settings } = &feed.src {
        let lease = settings.lock().unwrap().0;
        return js_get(app, &feed, jp, max, wait_ms, lease).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let (log, state) = feed.log();
    let mut watcher = log.reader();
    let mut stopping = app.stopping.subscribe();
    loop {
        let f = feed.clone();
        let served = tokio::task::spawn_blocking(move || f.try_serve(max)).await;
        match served {
            Ok(Ok(Some((_, body)))) => return server::json_bytes(StatusCode::OK, body),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(partner = %feed.partner, error = %e, "feed read failed");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "feed could not be read");
            }
            Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "feed could not be read"),
        }
        let now = tokio::time::Instant::now();
        if now >= deadline || *stopping.borrow() {
            return server::json_bytes(StatusCode::OK, feed.empty_response());
        }
        // Wake on new durable data (or the lease of a served chunk ending).
        let pos = state.lock().unwrap().reader.position();
        watcher.seek(pos);
        let wake = deadline.min(now + Duration::from_millis(250));
        tokio::select! {
            _ = watcher.wait(wake - now) => {}
            _ = stopping.changed() => {}
        }
    }
}

pub async fn handle_commit(app: &Arc<App>, req: Request<Incoming>, stream: Stream) -> Resp {
    let feed = match authorize(app, &req, stream, "/commit") {
        Ok(f) => f,
        Err(r) => return server::refuse(req, r).await,
    };
    let body = match server::read_body(req, server::SMALL_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return e.response(server::SMALL_BODY_BYTES as u64, None),
    };
    #[derive(serde::Deserialize)]
    struct Commit {
        cursor: String,
    }
    let c: Commit = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "body must be {\"cursor\": \"...\"}",
            )
        }
    };
    if let Source::Js { settings, .. } = &feed.src {
        let lease = settings.lock().unwrap().0;
        return js_commit(app, &feed, &c.cursor, lease).await;
    }
    let Some(pos) = decode_cursor(&c.cursor) else {
        return error(
            StatusCode::BAD_REQUEST,
            "cursor is not a cursor of this feed",
        );
    };
    match feed.commit(pos) {
        Ok(c) => {
            match feed.stream {
                Stream::Events => {
                    app.privacy.delivered(&feed.partner, c.ledger).await;
                    app.metrics.delivered(&feed.partner, c.ingest_ms);
                }
                Stream::Notices => {
                    for t in c.notices {
                        app.metrics
                            .notices
                            .with_label_values(&[&feed.partner, t.as_str(), "delivered"])
                            .inc();
                    }
                }
            }
            let mut v = serde_json::json!({"committed": true});
            v[feed.stream.items()] = c.count.into();
            server::json(StatusCode::OK, &v)
        }
        Err(msg) => error(StatusCode::BAD_REQUEST, msg),
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
    /// Notice feed: how many of the notices served are opt-out notices
    /// (the rest are deletions), for `adgate_notices_total`.
    opted_out: u64,
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
    fn encode(&self, app: &App, partner: &str, stream: Stream) -> String {
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
        put_varint(&mut body, self.opted_out);
        let mac = app.hasher.keyed(&mac_domain(partner, stream), &body);
        let mut all = mac.to_vec();
        all.extend_from_slice(&body);
        format!(
            "j1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(all)
        )
    }

    /// `None` when it is not a cursor this feed (on any replica) served.
    fn decode(app: &App, partner: &str, stream: Stream, c: &str) -> Option<JsCursor> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c.strip_prefix("j1.")?)
            .ok()?;
        if raw.len() < 16 {
            return None;
        }
        let (mac, mut b) = raw.split_at(16);
        let want = app.hasher.keyed(&mac_domain(partner, stream), b);
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
        let mut runs = Vec::with_capacity(n.min(10_000));
        for _ in 0..n {
            runs.push((
                get_varint(&mut b)?,
                get_varint(&mut b)?,
                get_varint(&mut b)?,
                get_varint(&mut b)?,
            ));
        }
        let opted_out = get_varint(&mut b).unwrap_or(0).min(events);
        Some(JsCursor {
            served_ms,
            events,
            mean_ingest_ms,
            prefix,
            runs,
            opted_out,
        })
    }

    /// The stream sequences of the messages this cursor names.
    fn stream_seqs(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for &(_, s, _, n) in &self.runs {
            out.extend((0..n.min(MAX_MAX as u64)).map(|i| s + i));
        }
        out
    }

    fn ack_subjects(&self) -> Vec<String> {
        let mut out = Vec::new();
        for &(dc, s, d, n) in &self.runs {
            for i in 0..n.min(MAX_MAX as u64) {
                out.push(format!("{}.{dc}.{}.{}.0.0", self.prefix, s + i, d + i));
            }
        }
        out
    }
}

async fn js_get(
    app: &Arc<App>,
    feed: &Arc<PullFeed>,
    jp: &Arc<JsPartner>,
    max: usize,
    wait_ms: u64,
    _lease: Duration,
) -> Resp {
    let Some(js) = app.js.clone() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "feed could not be read");
    };
    let mut stopping = app.stopping.subscribe();
    let fetched = tokio::select! {
        r = js.fetch(jp, max, Duration::from_millis(wait_ms), Duration::ZERO) => r,
        _ = stopping.changed() => Ok(Vec::new()),
    };
    let recs = match fetched {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(partner = %feed.partner, error = %e, "feed read failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "feed could not be read from JetStream; retry",
            );
        }
    };
    // Events of forgotten subjects fetched before the purge erased them
    // are never served; they are acknowledged away.
    let (gone, recs): (Vec<Fetched>, Vec<Fetched>) = recs.into_iter().partition(|r| {
        r.subjects
            .as_slice()
            .iter()
            .any(|h| app.optouts.is_forgotten(h))
    });
    for r in gone {
        let _ = r.msg.ack().await;
    }
    let mut cursor = JsCursor {
        served_ms: now_ms(),
        events: recs.len() as u64,
        mean_ingest_ms: 0,
        prefix: recs
            .first()
            .and_then(|r| r.ack_prefix())
            .unwrap_or_default(),
        runs: Vec::new(),
        opted_out: 0,
    };
    let mut body = Vec::with_capacity(4096);
    body.extend_from_slice(b"{\"cursor\":\"");
    let cursor_at = body.len();
    body.extend_from_slice(b"\",\"");
    body.extend_from_slice(feed.stream.items().as_bytes());
    body.extend_from_slice(b"\":[");
    let mut sum: u128 = 0;
    for (i, r) in recs.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r.payload());
        if feed.stream == Stream::Notices
            && NoticeType::of_line(r.payload()) == NoticeType::OptedOut
        {
            cursor.opted_out += 1;
        }
        sum += r.ingest_ms as u128;
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
    if !recs.is_empty() {
        cursor.mean_ingest_ms = (sum / recs.len() as u128) as u64;
    }
    body.extend_from_slice(b"]}");
    let c = cursor.encode(app, &feed.partner, feed.stream);
    body.splice(cursor_at..cursor_at, c.bytes());
    server::json_bytes(StatusCode::OK, body)
}

async fn js_commit(app: &Arc<App>, feed: &Arc<PullFeed>, cursor: &str, lease: Duration) -> Resp {
    let Some(c) = JsCursor::decode(app, &feed.partner, feed.stream, cursor) else {
        return error(
            StatusCode::BAD_REQUEST,
            "cursor is not a cursor of this feed",
        );
    };
    let answer = |n: u64| {
        let mut v = serde_json::json!({"committed": true});
        v[feed.stream.items()] = n.into();
        server::json(StatusCode::OK, &v)
    };
    if c.runs.is_empty() {
        return answer(0);
    }
    let now = now_ms();
    if now > c.served_ms + lease.as_millis() as u64 {
        return error(
            StatusCode::BAD_REQUEST,
            "cursor was not served by this feed, or its lease expired and the events will be served again",
        );
    }
    let Some(js) = app.js.clone() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "commit failed");
    };
    // What the ledger records, read while the messages are still in the
    // stream (the ack removes them). A message gone already was committed
    // before (a repeated commit) or erased by a forget: not recorded again.
    let ledger = match feed.stream {
        Stream::Events => match js.delivered_of(&feed.partner, &c.stream_seqs()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(partner = %feed.partner, error = %e, "feed commit failed");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "commit could not reach JetStream; retry",
                );
            }
        },
        Stream::Notices => Vec::new(),
    };
    if let Err(e) = js.ack_subjects(c.ack_subjects()).await {
        tracing::error!(partner = %feed.partner, error = %e, "feed commit failed");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "commit could not reach JetStream; retry",
        );
    }
    match feed.stream {
        Stream::Events => {
            app.privacy.delivered(&feed.partner, ledger).await;
            // A JetStream response keeps its events' mean ingest time (README).
            app.metrics.delivered(
                &feed.partner,
                std::iter::repeat_n(c.mean_ingest_ms, c.events as usize),
            );
        }
        Stream::Notices => {
            for (t, n) in [
                (NoticeType::OptedOut, c.opted_out),
                (NoticeType::Deleted, c.events - c.opted_out),
            ] {
                app.metrics
                    .notices
                    .with_label_values(&[&feed.partner, t.as_str(), "delivered"])
                    .inc_by(n);
            }
        }
    }
    answer(c.events)
}
