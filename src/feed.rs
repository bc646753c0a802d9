//! The pull feed (SPEC §5): `GET /v1/feed/{partner}?max=N&wait_ms=W` and
//! `POST /v1/feed/{partner}/commit {"cursor": "..."}`.
//!
//! Served events are leased: each response is a chunk remembered with a
//! deadline. Commit acks every chunk up to and including its cursor. When
//! the oldest uncommitted chunk's lease runs out, everything after the last
//! commit is served again. Cursors are opaque to partners (`c1.` + the
//! outbox position in hex) and only cursors this feed handed out are
//! accepted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::config::{PartnerConfig, PullConfig, MAX_FEED_WAIT_MS};
use crate::outbox::{PartnerLog, Reader};
use crate::privacy::Delivered;
use crate::server::{self, error, Resp};
use crate::util::now_ms;

/// Default `max` when the partner gives none, and the hard cap.
const DEFAULT_MAX: usize = 100;
const MAX_MAX: usize = 10_000;
/// Bytes of payload per response.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Events newly committed, their ingest times, their ledger entries.
type Committed = (u64, Vec<u64>, Vec<Delivered>);

#[derive(Debug)]
struct Chunk {
    end: u64,
    records: u64,
    /// Ingest times of the live (not purged) events, for the age metric.
    ingest_ms: Vec<u64>,
    /// What the subject-access ledger records when the chunk is committed.
    ledger: Vec<Delivered>,
    deadline: Instant,
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
    log: Arc<PartnerLog>,
    state: Mutex<State>,
}

fn encode_cursor(pos: u64) -> String {
    format!("c1.{pos:x}")
}

fn decode_cursor(c: &str) -> Option<u64> {
    u64::from_str_radix(c.strip_prefix("c1.")?, 16).ok()
}

impl PullFeed {
    pub fn new(p: &PartnerConfig, pull: &PullConfig, log: Arc<PartnerLog>) -> PullFeed {
        let reader = log.reader();
        let committed = log.shared().acked();
        PullFeed {
            partner: p.name.clone(),
            token: Mutex::new(pull.token.clone()),
            log,
            state: Mutex::new(State {
                reader,
                committed,
                served: VecDeque::new(),
                lease: pull.lease,
                batch_max: p.batch_max_events,
            }),
        }
    }

    pub fn update(&self, p: &PartnerConfig, pull: &PullConfig) {
        *self.token.lock().unwrap() = pull.token.clone();
        let mut st = self.state.lock().unwrap();
        st.lease = pull.lease;
        st.batch_max = p.batch_max_events;
    }

    pub fn token_matches(&self, t: &[u8]) -> bool {
        self.token.lock().unwrap().ct_eq(t)
    }

    /// Serves up to `max` events, or `None` when there are none now.
    fn try_serve(&self, max: usize) -> std::io::Result<Option<(String, Vec<u8>)>> {
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        // A chunk whose lease ran out: serve again from the last commit.
        let acked = self.log.shared().acked();
        if st.committed < acked {
            // Events left the outbox another way (dead-lettered when full).
            st.committed = acked;
            st.served.retain(|c| c.end > acked);
        }
        if st.served.front().is_some_and(|c| c.deadline <= now) {
            st.served.clear();
            let c = st.committed;
            st.reader.seek(c);
        }
        let mut records = 0u64;
        let mut ingest = Vec::new();
        let mut ledger = Vec::new();
        let mut body = Vec::with_capacity(4096);
        body.extend_from_slice(b"{\"cursor\":\"");
        let cursor_at = body.len();
        body.extend_from_slice(b"\",\"events\":[");
        let mut first = true;
        let mut end = st.reader.position();
        // Skip over purged records without serving an empty chunk for them.
        while ingest.is_empty() {
            let batch = st.reader.read_batch(max, MAX_RESPONSE_BYTES)?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
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
                ledger.extend(Delivered::of(&r.subjects, &r.payload));
            }
        }
        if records == 0 {
            return Ok(None);
        }
        let lease = st.lease;
        st.served.push_back(Chunk {
            end,
            records,
            ingest_ms: ingest.clone(),
            ledger,
            deadline: now + lease,
        });
        if ingest.is_empty() {
            // Only purged records: nothing to serve, but move past them.
            return Ok(None);
        }
        body.extend_from_slice(b"]}");
        let cursor = encode_cursor(end);
        body.splice(cursor_at..cursor_at, cursor.bytes());
        Ok(Some((cursor, body)))
    }

    fn empty_response(&self) -> Vec<u8> {
        let st = self.state.lock().unwrap();
        let pos = st.served.back().map(|c| c.end).unwrap_or(st.committed);
        serde_json::to_vec(&serde_json::json!({"cursor": encode_cursor(pos), "events": []}))
            .expect("json")
    }

    /// Acks up to `cursor`; returns the number of events newly committed,
    /// their ingest times and what the ledger records of them.
    fn commit(&self, cursor: u64) -> Result<Committed, &'static str> {
        let mut st = self.state.lock().unwrap();
        if cursor <= st.committed {
            return Ok((0, Vec::new(), Vec::new()));
        }
        let Some(idx) = st.served.iter().position(|c| c.end == cursor) else {
            return Err("cursor was not served by this feed, or its lease expired and the events will be served again");
        };
        let from = st.committed;
        let mut records = 0;
        let mut ages = Vec::new();
        let mut ledger = Vec::new();
        for c in st.served.drain(..=idx) {
            records += c.records;
            ages.extend(c.ingest_ms);
            ledger.extend(c.ledger);
        }
        st.committed = cursor;
        self.log.ack(from, cursor, records);
        Ok((ages.len() as u64, ages, ledger))
    }
}

/// Finds the feed named in the path and checks the token against it.
fn authorize(app: &Arc<App>, req: &Request<Incoming>, suffix: &str) -> Result<Arc<PullFeed>, Resp> {
    let path = req.uri().path();
    let name = path
        .strip_prefix("/v1/feed/")
        .and_then(|r| r.strip_suffix(suffix))
        .unwrap_or("");
    let Some(token) = server::bearer(req) else {
        return Err(server::unauthorized(
            "missing feed token (Authorization: Bearer <token>)",
        ));
    };
    let feeds = app.feeds.read().unwrap();
    if let Some(f) = feeds.get(name) {
        if f.token_matches(token) {
            return Ok(f.clone());
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
    if known_elsewhere && !feeds.contains_key(name) {
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

pub async fn handle_get(app: &Arc<App>, req: Request<Incoming>) -> Resp {
    let feed = match authorize(app, &req, "") {
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
    let max = max.unwrap_or_else(|| feed.state.lock().unwrap().batch_max.min(DEFAULT_MAX.max(1)));
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let mut watcher = feed.log.reader();
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
        let pos = feed.state.lock().unwrap().reader.position();
        watcher.seek(pos);
        let wake = deadline.min(now + Duration::from_millis(250));
        tokio::select! {
            _ = watcher.wait(wake - now) => {}
            _ = stopping.changed() => {}
        }
    }
}

pub async fn handle_commit(app: &Arc<App>, req: Request<Incoming>) -> Resp {
    let feed = match authorize(app, &req, "/commit") {
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
    let Some(pos) = decode_cursor(&c.cursor) else {
        return error(
            StatusCode::BAD_REQUEST,
            "cursor is not a cursor of this feed",
        );
    };
    match feed.commit(pos) {
        Ok((n, ages, ledger)) => {
            app.privacy.delivered(&feed.partner, ledger).await;
            let m = &app.metrics;
            m.events_delivered
                .with_label_values(&[&feed.partner])
                .inc_by(n);
            let h = m.event_age.with_label_values(&[&feed.partner]);
            let now = now_ms();
            for ms in ages {
                h.observe(now.saturating_sub(ms) as f64 / 1000.0);
            }
            server::json(
                StatusCode::OK,
                &serde_json::json!({"committed": true, "events": n}),
            )
        }
        Err(msg) => error(StatusCode::BAD_REQUEST, msg),
    }
}
