//! The NATS JetStream backend: outboxes, dead letters and the opt-out list
//! on a NATS cluster, so that any number of stateless adgate replicas can
//! run behind a load balancer.
//!
//! Per partner `P` (names are `[A-Za-z0-9_-]`, valid in stream names):
//!
//! - stream `ADGATE_OUT_P`, subject `adgate.out.P`: work-queue retention,
//!   file storage, `replicas` copies, `max_bytes = outbox_max_bytes` with
//!   discard-new (a full stream refuses the publish, ingest answers 503),
//!   `max_age = 2 x max_event_age` as a backstop (workers dead-letter at
//!   `max_event_age`), `Nats-Msg-Id` de-duplication;
//! - durable pull consumer `adgate-P`, shared by every replica: push workers
//!   and the pull feed fetch from it, ack after the partner's 2xx (or
//!   commit), and a dead replica's unacknowledged messages are redelivered
//!   after `ack_wait` (a live holder renews its claim while it retries);
//! - stream `ADGATE_DEAD_P`, subject `adgate.dead.P`: dead letters, one
//!   message per event, the same JSON line as the embedded backend's file.
//!
//! An event message carries many events: one request's events for the
//! partner, up to the partner's push batch limit (`batch_max_events`, and
//! the profile's own limit) and 512 KiB per message; one event per message
//! for a pull partner, whose feed answers at most the `max` a client asks
//! for. Its payload is the embedded log's records, back to back
//! (`crate::outbox::segment`: ingest time, keyed event hash, the internal
//! keyed hashes of the event's identifiers, the scrubbed line, a
//! checksum); header `Adgate-Records` says how many, `Nats-Msg-Id` names
//! the events (a keyed hash of their event ids). Delivery hands the events
//! out in batches that may split a message; the message is acknowledged
//! once every one of its events is settled. Forget reads each waiting
//! message, writes again without the person's events those that held one
//! (published first, so no one else's event is ever lost), then erases
//! (overwrites) the original.
//!
//! Notices and dead letters are one line per message, with headers
//! `Adgate-Ingest-Ms` and `Adgate-Subjects` (hex, comma-separated; forget
//! finds a person's dead letters by it). Headers are never delivered to
//! partners.
//!
//! Opt-outs live in the key-value bucket `adgate_optouts`: key = hex of the
//! keyed subject hash, value `optout` or `forget`. Each replica keeps the
//! whole list in memory ([`OptOutStore`]) and follows the bucket's watch, so
//! an opt-out posted to one replica takes effect on all within milliseconds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy},
    kv,
    stream::{self, DiscardPolicy, RetentionPolicy, StorageType},
};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::config::{Delivery, JetStreamConfig, NatsAuth, PartnerConfig};
use crate::identity::SubjectHash;
use crate::optout::OptOutStore;
use crate::outbox::{segment, Item, Stream};
use crate::policy::Subjects;

pub const OPTOUT_BUCKET: &str = "adgate_optouts";
/// The fleet-wide subject-access ledger, see [`crate::privacy::fleet`].
pub use crate::privacy::fleet::LEDGER_BUCKET;
pub const H_SUBJECTS: &str = "Adgate-Subjects";
pub const H_INGEST_MS: &str = "Adgate-Ingest-Ms";
/// On an event message: how many outbox records its payload holds.
pub const H_RECORDS: &str = "Adgate-Records";
/// The most payload one event message carries (below NATS's default
/// `max_payload` of 1 MiB, with room for the headers).
const CHUNK_MAX_BYTES: usize = 512 * 1024;
const H_MSG_ID: &str = "Nats-Msg-Id";
/// How often stream and consumer state is read for the gauges and /readyz.
const STATE_INTERVAL: Duration = Duration::from_millis(500);
/// /readyz turns 503 when state could not be read for this long.
const STALE_AFTER: Duration = Duration::from_secs(3);
/// How long a starting replica waits for JetStream (leader elections).
const STARTUP_PATIENCE: Duration = Duration::from_secs(45);
/// The bound on one pull request's answer (see `fetch_now`).
const FETCH_BOUND: Duration = Duration::from_secs(5);
/// The bound on each set-up step (a stream, the bucket, the opt-out watch):
/// during a failover a request can hang on a peer that is gone (an
/// ephemeral consumer placed on it), and a fresh attempt is placed anew,
/// so several short attempts within `STARTUP_PATIENCE` beat one long one.
const SETUP_STEP: Duration = Duration::from_secs(8);

/// `step` bounded by `SETUP_STEP`, its error prefixed with `what`.
async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    step: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(SETUP_STEP, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: no answer within {} s",
            SETUP_STEP.as_secs()
        )),
    }
}
/// Messages a consumer may have delivered and not yet acknowledged, per
/// partner, across every replica.
const MAX_ACK_PENDING: i64 = 100_000;

pub fn out_stream(p: &str) -> String {
    format!("ADGATE_OUT_{p}")
}
pub fn out_subject(p: &str) -> String {
    format!("adgate.out.{p}")
}
/// The subject of an event message carrying `events` events: the count is
/// the last token, so the stream's per-subject message counts add up to
/// the events waiting (JetStream counts messages, not what they carry).
/// Messages stored before there were counts are on [`out_subject`], one
/// event each.
pub fn counted_subject(p: &str, events: usize) -> String {
    format!("adgate.out.{p}.{events}")
}
pub fn dead_stream(p: &str) -> String {
    format!("ADGATE_DEAD_{p}")
}
pub fn dead_subject(p: &str) -> String {
    format!("adgate.dead.{p}")
}
pub fn consumer_name(p: &str) -> String {
    format!("adgate-{p}")
}
/// Partner `p`'s notices (crate::notice): a stream, consumer and
/// dead-letter stream of their own, so an event backlog never delays them.
pub fn notice_stream(p: &str) -> String {
    format!("ADGATE_NOTICE_{p}")
}
pub fn notice_subject(p: &str) -> String {
    format!("adgate.notice.{p}")
}
pub fn notice_dead_stream(p: &str) -> String {
    format!("ADGATE_NDEAD_{p}")
}
pub fn notice_dead_subject(p: &str) -> String {
    format!("adgate.ndead.{p}")
}
pub fn notice_consumer_name(p: &str) -> String {
    format!("adgate-notice-{p}")
}

/// The names of partner `p`'s stream, subject, dead-letter stream and
/// subject, and consumer for `stream`.
struct Names {
    stream: String,
    subject: String,
    dead_stream: String,
    dead_subject: String,
    consumer: String,
}

fn names(stream: Stream, p: &str) -> Names {
    match stream {
        Stream::Events => Names {
            stream: out_stream(p),
            subject: out_subject(p),
            dead_stream: dead_stream(p),
            dead_subject: dead_subject(p),
            consumer: consumer_name(p),
        },
        Stream::Notices => Names {
            stream: notice_stream(p),
            subject: notice_subject(p),
            dead_stream: notice_dead_stream(p),
            dead_subject: notice_dead_subject(p),
            consumer: notice_consumer_name(p),
        },
    }
}

/// A JetStream problem, sorted by what the caller answers.
#[derive(Debug, thiserror::Error)]
pub enum JsError {
    /// The stream is at `outbox_max_bytes`: ingest answers 503.
    #[error("stream of partner \"{0}\" is full")]
    Full(String),
    /// NATS is unreachable or failed: 503, retry.
    #[error("{0}")]
    Unavailable(String),
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> JsError {
    JsError::Unavailable(format!("{what}: {e}"))
}

/// A message for a partner's stream.
pub struct OutMsg {
    pub payload: Bytes,
    pub headers: HeaderMap,
    /// How many events (or notices) it carries.
    pub events: usize,
}

impl OutMsg {
    /// Events as one message: `records` are whole outbox records
    /// ([`crate::outbox::encode`]), `events` of them. Its payload is those
    /// records, checksums and all (the embedded log's own format), and its
    /// header [`H_RECORDS`] says how many. `id` is its `Nats-Msg-Id`
    /// ([`chunk_id`]); a message written again without some of its events
    /// (forget) has none.
    pub fn records(records: Bytes, events: usize, id: Option<String>) -> OutMsg {
        let mut headers = HeaderMap::new();
        if let Some(id) = id {
            headers.insert(H_MSG_ID, id);
        }
        headers.insert(H_RECORDS, events.to_string());
        OutMsg {
            payload: records,
            headers,
            events,
        }
    }

    /// One request's events for a partner as messages of at most
    /// `max_events` events and [`CHUNK_MAX_BYTES`] (one event at least):
    /// `records` holds them back to back, event `i` ending at `ends[i]`,
    /// its keyed event hash `hashes[i]`. Each message shares `records` (no
    /// copy) and comes with the range of the events it carries.
    pub fn chunks(
        records: Bytes,
        ends: &[usize],
        hashes: &[SubjectHash],
        max_events: usize,
    ) -> Vec<(OutMsg, std::ops::Range<usize>)> {
        let mut out = Vec::with_capacity(ends.len().div_ceil(max_events.max(1)));
        let (mut first, mut start) = (0, 0);
        while first < ends.len() {
            let mut last = first + 1;
            while last < ends.len()
                && last - first < max_events
                && ends[last] - start <= CHUNK_MAX_BYTES
            {
                last += 1;
            }
            let end = ends[last - 1];
            let id = chunk_id(&hashes[first..last]);
            out.push((
                OutMsg::records(records.slice(start..end), last - first, Some(id)),
                first..last,
            ));
            (first, start) = (last, end);
        }
        out
    }

    /// A notice line (crate::notice) as a message: no subjects (forget
    /// never erases a notice), `id` names it for JetStream's de-duplication.
    pub fn notice(line: Vec<u8>, ingest_ms: u64, id: &SubjectHash) -> OutMsg {
        let mut headers = HeaderMap::new();
        headers.insert(H_MSG_ID, crate::util::hex(id));
        headers.insert(H_INGEST_MS, ingest_ms.to_string());
        OutMsg {
            payload: Bytes::from(line),
            headers,
            events: 1,
        }
    }
}

/// The `Nats-Msg-Id` of a message of the events with keyed event hashes
/// `hashes`: the same events cut the same way (a producer's retry of the
/// request, on any replica) are one message to JetStream's
/// de-duplication; one event alone keeps the id it had when every message
/// carried one event.
fn chunk_id(hashes: &[SubjectHash]) -> String {
    match hashes {
        [one] => crate::util::hex(one),
        many => {
            let mut d = Sha256::new();
            d.update(b"adgate-chunk");
            for h in many {
                d.update(h);
            }
            crate::util::hex(&d.finalize()[..16])
        }
    }
}

fn subjects_header(s: &Subjects) -> String {
    let mut out = String::with_capacity(33 * s.as_slice().len());
    for (i, h) in s.as_slice().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&crate::util::hex(h));
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

fn parse_subjects(v: &str) -> Subjects {
    let mut s = Subjects::default();
    for part in v.split(',') {
        if let Some(h) = crate::optout::parse_hex16(part.trim()) {
            s.push(h);
        }
    }
    s
}

/// The events (or notices, or dead letters) a message carries, in order:
/// the records of a message with [`H_RECORDS`]; otherwise the one line its
/// payload is, with its ingest time and subjects from the headers (notices,
/// dead letters, and events stored before messages carried records).
/// Items share the message's payload (no copy). An error names a message
/// whose records do not decode (never expected: JetStream stores what was
/// published, checksummed); the items before the damage are kept.
fn items_of(headers: Option<&HeaderMap>, payload: &Bytes) -> (Vec<Item>, Option<&'static str>) {
    if headers.is_some_and(|h| h.get(H_RECORDS).is_some()) {
        let mut items = Vec::new();
        let mut recs = segment::records(payload);
        for (range, body) in recs.by_ref() {
            items.push(Item {
                ingest_ms: body.ingest_ms,
                subjects: Subjects::from_bytes(body.subjects),
                payload: payload.slice(range.end - body.payload.len()..range.end),
            });
        }
        return (items, recs.problem());
    }
    let ingest_ms = headers
        .and_then(|h| h.get(H_INGEST_MS))
        .and_then(|v| v.as_str().parse().ok())
        .unwrap_or_else(crate::util::now_ms);
    let subjects = headers
        .and_then(|h| h.get(H_SUBJECTS))
        .map(|v| parse_subjects(v.as_str()))
        .unwrap_or_default();
    let item = Item {
        ingest_ms,
        subjects,
        payload: payload.clone(),
    };
    (vec![item], None)
}

/// A message fetched from a partner's consumer.
pub struct Fetched {
    pub msg: jetstream::Message,
    pub stream_seq: u64,
    pub consumer_seq: u64,
    pub delivered: i64,
    /// What it carries, in order (see [`items_of`]).
    pub items: Vec<Item>,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("stream_seq", &self.stream_seq)
            .field("consumer_seq", &self.consumer_seq)
            .field("items", &self.items.len())
            .finish()
    }
}

impl Fetched {
    fn from(msg: jetstream::Message, partner: &str) -> Option<Fetched> {
        let info = msg.info().ok()?;
        let (stream_seq, consumer_seq, delivered) =
            (info.stream_sequence, info.consumer_sequence, info.delivered);
        let (items, problem) = items_of(msg.headers.as_ref(), &msg.payload);
        if let Some(problem) = problem {
            tracing::error!(partner, stream_seq, problem, kept = items.len(), "a JetStream message does not decode past a record; its records before it are delivered");
        }
        Some(Fetched {
            msg,
            stream_seq,
            consumer_seq,
            delivered,
            items,
        })
    }

    /// The ack subject's part before the delivery count, e.g.
    /// `$JS.ACK.ADGATE_OUT_p.adgate-p` (v1) or its v2 form with domain and
    /// account hash: acks for this consumer can be built from it on any
    /// replica.
    pub fn ack_prefix(&self) -> Option<String> {
        let reply = self.msg.reply.as_ref()?.as_str();
        let tokens: Vec<&str> = reply.split('.').collect();
        // v1: $JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>
        // v2: $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<dc>... (>= 11)
        let keep = match tokens.len() {
            9 => 4,
            n if n >= 11 => 6,
            _ => return None,
        };
        Some(tokens[..keep].join("."))
    }
}

/// One partner's streams and consumer.
pub struct JsPartner {
    pub name: String,
    /// Events or notices.
    pub stream: Stream,
    consumer: RwLock<jetstream::consumer::Consumer<pull::Config>>,
    /// The partner's config at the last ensure: what a stream or consumer
    /// lost under the gateway is made again from ([`JetStream::repair`]).
    config: RwLock<PartnerConfig>,
    max_bytes: AtomicU64,
    /// The most events one message carries (see the module doc).
    chunk_events: AtomicUsize,
    /// From the last state read: events and bytes waiting, consumer lag.
    events: AtomicU64,
    bytes: AtomicU64,
    lag: AtomicU64,
}

impl std::fmt::Debug for JsPartner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsPartner")
            .field("name", &self.name)
            .finish()
    }
}

impl JsPartner {
    /// Events waiting, by the last state read: each message's subject
    /// says how many it carries (see [`counted_subject`]).
    pub fn pending_events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
    /// The most events one message of this partner carries.
    pub fn chunk_events(&self) -> usize {
        self.chunk_events.load(Ordering::Relaxed).max(1)
    }
    pub fn pending_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    pub fn lag(&self) -> u64 {
        self.lag.load(Ordering::Relaxed)
    }
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }
    fn consumer(&self) -> jetstream::consumer::Consumer<pull::Config> {
        self.consumer.read().unwrap().clone()
    }
}

pub struct JetStream {
    /// Publishes, the JetStream API and the opt-out bucket.
    client: async_nats::Client,
    js: jetstream::Context,
    /// A connection of its own for delivery (fetches, acks, claim
    /// renewals): under ingest load the publishing connection's queue is
    /// long, and delivery must not wait behind it.
    dclient: async_nats::Client,
    djs: jetstream::Context,
    cfg: JetStreamConfig,
    optouts: kv::Store,
    /// The fleet-wide subject-access ledger ([`LEDGER_BUCKET`]).
    ledger: kv::Store,
    partners: RwLock<HashMap<String, Arc<JsPartner>>>,
    /// Partners' notice streams (crate::notice), apart from `partners` so
    /// state reads, gauges and forget's purge see events only.
    notice_partners: RwLock<HashMap<String, Arc<JsPartner>>>,
    /// When stream state was last read successfully.
    last_ok: std::sync::Mutex<Option<Instant>>,
    watching: AtomicBool,
    /// The opt-out list as this replica holds it: written back to the
    /// bucket if NATS loses it ([`JetStream::repair_optouts`]).
    optout_cache: std::sync::OnceLock<Arc<OptOutStore>>,
}

impl std::fmt::Debug for JetStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStream")
            .field("servers", &self.cfg.servers)
            .finish()
    }
}

/// Does a JetStream error say the stream or consumer does not exist
/// (JetStream's codes 10059 and 10014, in their texts)?
fn names_missing(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    e.contains("stream not found") || e.contains("consumer not found")
}

/// Connects with the configured credentials and TLS. Errors never carry a
/// secret (server URLs cannot hold credentials: config refuses them).
pub async fn connect(cfg: &JetStreamConfig, name: &str) -> Result<async_nats::Client, String> {
    let mut o = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(cfg.connect_timeout)
        .request_timeout(Some(Duration::from_secs(10)))
        .max_reconnects(None)
        .retry_on_initial_connect();
    o = match &cfg.auth {
        NatsAuth::None => o,
        NatsAuth::UserPassword { user, password } => o.user_and_password(
            user.clone(),
            String::from_utf8_lossy(password.expose()).into_owned(),
        ),
        NatsAuth::Token(t) => o.token(String::from_utf8_lossy(t.expose()).into_owned()),
        NatsAuth::Creds(c) => o
            .credentials(&String::from_utf8_lossy(c.expose()))
            .map_err(|_| "outbox.creds: not a valid NATS .creds file".to_string())?,
    };
    if cfg.tls_required {
        o = o.require_tls(true);
    }
    if let Some(ca) = &cfg.tls_ca_file {
        o = o.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &cfg.tls_client {
        o = o.add_client_certificate(cert.clone(), key.clone());
    }
    let servers: Vec<async_nats::ServerAddr> = cfg
        .servers
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("outbox.servers: {e}"))?;
    let client = o
        .connect(servers)
        .await
        .map_err(|e| format!("cannot connect to NATS ({}): {e}", cfg.servers.join(", ")))?;
    // retry_on_initial_connect returns at once; wait for the first
    // connection so a wrong address or password is reported now.
    let deadline = Instant::now() + cfg.connect_timeout;
    while client.connection_state() != async_nats::connection::State::Connected {
        if Instant::now() > deadline {
            return Err(format!(
                "cannot reach NATS at {} within {} ms (servers down, wrong address, credentials or TLS settings)",
                cfg.servers.join(", "),
                cfg.connect_timeout.as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(client)
}

/// The JetStream context adgate publishes through. A request sends all its
/// messages before it awaits their acks, so the client's bound on acks in
/// flight must not be what limits concurrency (requests would each hold
/// part of it and wait for the rest forever): ingest's own bound
/// (`max_in_flight_requests` x body size) is. Acks under load on a busy
/// cluster can take seconds: 15 s before a publish counts as failed.
fn context(client: async_nats::Client) -> jetstream::Context {
    jetstream::context::ContextBuilder::new()
        .max_ack_inflight(1 << 24)
        .backpressure_on_inflight(true)
        .timeout(PUBLISH_TIMEOUT)
        .build(client)
}

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);

fn stream_config(cfg: &JetStreamConfig, p: &PartnerConfig, s: Stream) -> stream::Config {
    let max_age = p.max_event_age.saturating_mul(2);
    let n = names(s, &p.name);
    stream::Config {
        subjects: match s {
            Stream::Events => vec![n.subject.clone(), format!("{}.*", n.subject)],
            Stream::Notices => vec![n.subject],
        },
        name: n.stream,
        retention: RetentionPolicy::WorkQueue,
        discard: DiscardPolicy::New,
        storage: StorageType::File,
        num_replicas: cfg.replicas,
        max_bytes: p.outbox_max_bytes as i64,
        max_age,
        duplicate_window: cfg.duplicate_window.min(max_age),
        description: Some(match s {
            Stream::Events => format!("adgate outbox of partner {}", p.name),
            Stream::Notices => format!("adgate notices to partner {}", p.name),
        }),
        ..Default::default()
    }
}

fn dead_config(cfg: &JetStreamConfig, p: &PartnerConfig, s: Stream) -> stream::Config {
    let n = names(s, &p.name);
    stream::Config {
        name: n.dead_stream,
        subjects: vec![n.dead_subject],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        num_replicas: cfg.replicas,
        description: Some(format!("adgate dead letters of partner {}", p.name)),
        ..Default::default()
    }
}

/// Push partners: renewed claims, so `ack_wait` only matters for a dead
/// replica. Pull partners: `ack_wait` is the feed's lease.
fn consumer_config(cfg: &JetStreamConfig, p: &PartnerConfig, s: Stream) -> pull::Config {
    let ack_wait = match &p.delivery {
        Delivery::Pull(pull) => pull.lease,
        Delivery::Push(_) => cfg.ack_wait,
    };
    pull::Config {
        durable_name: Some(names(s, &p.name).consumer),
        description: Some(format!("adgate delivery of partner {}", p.name)),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait,
        max_deliver: -1,
        max_ack_pending: MAX_ACK_PENDING,
        max_waiting: 512,
        num_replicas: cfg.replicas,
        ..Default::default()
    }
}

/// The opt-out bucket's stream, as the key-value API lays it out (made
/// here rather than by `create_key_value`, whose account query does not
/// parse the answer of the NATS 2.9 servers Debian ships).
fn kv_stream_config(cfg: &JetStreamConfig) -> stream::Config {
    bucket_config(
        cfg,
        OPTOUT_BUCKET,
        "adgate opt-out list: keyed hashes of identifiers, never raw",
    )
}

/// The ledger bucket's stream: an entry unchanged for longer than the
/// retention (plus the day it was written on) is gone.
fn ledger_stream_config(cfg: &JetStreamConfig, retention_days: u64) -> stream::Config {
    stream::Config {
        max_age: Duration::from_secs(86_400 * (retention_days + 1)),
        ..bucket_config(
            cfg,
            LEDGER_BUCKET,
            "adgate subject-access ledger: keyed subject hashes and counts, never an identifier",
        )
    }
}

fn bucket_config(cfg: &JetStreamConfig, bucket: &str, description: &str) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        storage: StorageType::File,
        num_replicas: cfg.replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        ..Default::default()
    }
}

/// JetStream's account info, read raw (see [`kv_stream_config`]): the
/// number of streams and consumers, or why JetStream is not there.
async fn account_info(client: &async_nats::Client) -> Result<(u64, u64), String> {
    let r = client
        .request("$JS.API.INFO", Bytes::new())
        .await
        .map_err(|e| format!("no JetStream answer: {e}"))?;
    let v: serde_json::Value = serde_json::from_slice(&r.payload)
        .map_err(|_| "unreadable JetStream answer".to_string())?;
    if let Some(e) = v.get("error") {
        return Err(format!(
            "JetStream error: {}",
            e.get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("unknown")
        ));
    }
    Ok((
        v["streams"].as_u64().unwrap_or(0),
        v["consumers"].as_u64().unwrap_or(0),
    ))
}

/// Creates stream `want`, or updates it when its limits differ. An
/// unchanged stream is left alone: an update goes through every replica
/// and would fail while a node is down, which must not stop a replica of
/// adgate from starting.
async fn ensure_stream(js: &jetstream::Context, want: stream::Config) -> Result<(), String> {
    match js.get_stream(&want.name).await {
        Ok(mut s) => {
            let have = s.info().await.map_err(|e| e.to_string())?.config.clone();
            let same = have.subjects == want.subjects
                && have.max_bytes == want.max_bytes
                && have.max_age == want.max_age
                && have.duplicate_window == want.duplicate_window
                && have.num_replicas == want.num_replicas
                && have.discard == want.discard;
            if !same {
                js.update_stream(want).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            js.create_stream(want).await.map_err(|e| e.to_string())?;
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What a publish of many messages to one partner's stream gave.
pub struct Published {
    /// Per message: JetStream already had its `Nats-Msg-Id` (a producer's
    /// retry through another replica).
    pub duplicate: Vec<bool>,
    /// Per message: its stream sequence.
    pub sequence: Vec<u64>,
}

impl JetStream {
    /// Connects, creates (or updates) every stream, consumer and the
    /// opt-out bucket, and loads the opt-out list into `optouts`.
    pub async fn open(
        cfg: &JetStreamConfig,
        partners: &[PartnerConfig],
        optouts: &Arc<OptOutStore>,
        retention_days: u64,
        delivery: &tokio::runtime::Handle,
    ) -> Result<Arc<JetStream>, String> {
        let client = connect(cfg, "adgate").await?;
        // The delivery connection's own task (reading its socket: fetched
        // messages, ack replies) runs on the delivery runtime. On the HTTP
        // runtime it waited behind ingest's request bodies, and at
        // saturation delivery kept 0.47-0.6 of what was routed; here it
        // keeps pace (docs/performance.md).
        let dcfg = cfg.clone();
        let dclient = delivery
            .spawn(async move { connect(&dcfg, "adgate-delivery").await })
            .await
            .map_err(|e| format!("cannot connect the delivery connection to NATS: {e}"))??;
        // A replica started during a NATS failover (a leader election takes
        // seconds) waits for the cluster rather than exiting.
        let deadline = Instant::now() + STARTUP_PATIENCE;
        loop {
            let clients = (client.clone(), dclient.clone());
            match JetStream::setup(cfg, partners, optouts, clients, retention_days).await {
                Ok(me) => return Ok(me),
                Err(e) if Instant::now() < deadline => {
                    tracing::warn!(error = %e, "JetStream not ready yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn setup(
        cfg: &JetStreamConfig,
        partners: &[PartnerConfig],
        optouts: &Arc<OptOutStore>,
        (client, dclient): (async_nats::Client, async_nats::Client),
        retention_days: u64,
    ) -> Result<Arc<JetStream>, String> {
        let js = context(client.clone());
        let djs = context(dclient.clone());
        let creating = format!(
            "cannot create the opt-out bucket {OPTOUT_BUCKET} (replicas = {})",
            cfg.replicas
        );
        bounded(&creating, ensure_stream(&js, kv_stream_config(cfg))).await?;
        let opening = format!("cannot open the opt-out bucket {OPTOUT_BUCKET}");
        let store = bounded(&opening, js.get_key_value(OPTOUT_BUCKET)).await?;
        let creating = format!(
            "cannot create the ledger bucket {LEDGER_BUCKET} (replicas = {})",
            cfg.replicas
        );
        let want = ledger_stream_config(cfg, retention_days);
        bounded(&creating, ensure_stream(&js, want)).await?;
        let opening = format!("cannot open the ledger bucket {LEDGER_BUCKET}");
        let ledger = bounded(&opening, djs.get_key_value(LEDGER_BUCKET)).await?;
        let me = Arc::new(JetStream {
            client,
            js,
            dclient,
            djs,
            cfg: cfg.clone(),
            optouts: store,
            ledger,
            partners: RwLock::new(HashMap::new()),
            notice_partners: RwLock::new(HashMap::new()),
            last_ok: std::sync::Mutex::new(None),
            watching: AtomicBool::new(false),
            optout_cache: std::sync::OnceLock::new(),
        });
        for p in partners {
            let what = format!("cannot set up the streams of partner {}", p.name);
            bounded(&what, me.ensure(p)).await?;
        }
        me.load_optouts(optouts).await?;
        let _ = me.optout_cache.set(optouts.clone());
        me.refresh().await;
        Ok(me)
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The ledger bucket (on the delivery connection: it is written when
    /// partners acknowledge deliveries).
    pub fn ledger_bucket(&self) -> crate::privacy::fleet::LedgerBucket {
        crate::privacy::fleet::LedgerBucket {
            kv: self.ledger.clone(),
            context: self.djs.clone(),
        }
    }

    /// How long JetStream waits for an ack before redelivering: the claim
    /// a push batch renews, the lease of a pull response.
    pub fn ack_wait(&self) -> Duration {
        self.cfg.ack_wait
    }

    /// The delivery connection (acks, claim renewals).
    pub fn delivery_client(&self) -> &async_nats::Client {
        &self.dclient
    }

    /// Creates or updates partner `p`'s event streams and consumer.
    pub async fn ensure(&self, p: &PartnerConfig) -> Result<Arc<JsPartner>, String> {
        self.ensure_stream_of(p, Stream::Events).await
    }

    /// [`JetStream::ensure_stream_of`], retried for up to 45 s
    /// (`STARTUP_PATIENCE`) while the cluster cannot answer: a replica
    /// that starts, or reloads, while a NATS node is down or a leader is
    /// being elected waits for it rather than exiting (sixth fault pass).
    pub async fn ensure_patiently(
        &self,
        p: &PartnerConfig,
        s: Stream,
    ) -> Result<Arc<JsPartner>, String> {
        let deadline = Instant::now() + STARTUP_PATIENCE;
        loop {
            match self.ensure_stream_of(p, s).await {
                Ok(jp) => return Ok(jp),
                Err(e) if Instant::now() < deadline => {
                    tracing::warn!(partner = %p.name, error = %e, "JetStream not ready for the partner's streams yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates or updates partner `p`'s streams and consumer of `s`.
    pub async fn ensure_stream_of(
        &self,
        p: &PartnerConfig,
        s: Stream,
    ) -> Result<Arc<JsPartner>, String> {
        let n = names(s, &p.name);
        let sc = stream_config(&self.cfg, p, s);
        ensure_stream(&self.js, sc).await.map_err(|e| {
            format!(
                "cannot create stream {} (replicas = {}): {e}",
                n.stream, self.cfg.replicas
            )
        })?;
        ensure_stream(&self.js, dead_config(&self.cfg, p, s))
            .await
            .map_err(|e| format!("cannot create stream {}: {e}", n.dead_stream))?;
        let stream = self
            .js
            .get_stream(&n.stream)
            .await
            .map_err(|e| format!("cannot open stream {}: {e}", n.stream))?;
        let cc = consumer_config(&self.cfg, p, s);
        let existing = stream.get_consumer::<pull::Config>(&n.consumer).await;
        match existing {
            Ok(c) if c.cached_info().config.ack_wait == cc.ack_wait => {}
            Ok(_) => {
                stream
                    .update_consumer(cc)
                    .await
                    .map_err(|e| format!("cannot update consumer {}: {e}", n.consumer))?;
            }
            Err(_) => {
                stream
                    .create_consumer(cc)
                    .await
                    .map_err(|e| format!("cannot create consumer {}: {e}", n.consumer))?;
            }
        }
        // Fetched and acknowledged over the delivery connection.
        let consumer = self
            .djs
            .get_consumer_from_stream::<pull::Config, _, _>(&n.consumer, &n.stream)
            .await
            .map_err(|e| format!("cannot open consumer {}: {e}", n.consumer))?;
        let map = match s {
            Stream::Events => &self.partners,
            Stream::Notices => &self.notice_partners,
        };
        let mut partners = map.write().unwrap();
        let jp = match partners.get(&p.name) {
            Some(jp) => {
                *jp.consumer.write().unwrap() = consumer;
                *jp.config.write().unwrap() = p.clone();
                jp.clone()
            }
            None => {
                let jp = Arc::new(JsPartner {
                    name: p.name.clone(),
                    stream: s,
                    consumer: RwLock::new(consumer),
                    config: RwLock::new(p.clone()),
                    max_bytes: AtomicU64::new(0),
                    chunk_events: AtomicUsize::new(1),
                    events: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                    lag: AtomicU64::new(0),
                });
                partners.insert(p.name.clone(), jp.clone());
                jp
            }
        };
        jp.max_bytes.store(p.outbox_max_bytes, Ordering::Relaxed);
        // Push: one request's events for the partner, up to a push body's
        // limit. Pull: one per message, as a feed answers at most `max`.
        let chunk = match (&p.delivery, s) {
            (Delivery::Push(_), Stream::Events) => p.batch_limit(),
            _ => 1,
        };
        jp.chunk_events.store(chunk, Ordering::Relaxed);
        Ok(jp)
    }

    /// Partner `name`'s notice stream, when set up.
    pub fn notices_of(&self, name: &str) -> Option<Arc<JsPartner>> {
        self.notice_partners.read().unwrap().get(name).cloned()
    }

    pub fn get(&self, name: &str) -> Option<Arc<JsPartner>> {
        self.partners.read().unwrap().get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<JsPartner>> {
        let mut v: Vec<_> = self.partners.read().unwrap().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A partner removed from the config: its streams stay in NATS.
    pub fn remove(&self, name: &str) {
        self.partners.write().unwrap().remove(name);
        self.notice_partners.write().unwrap().remove(name);
    }

    /// Connected to a NATS server now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn delivery_connected(&self) -> bool {
        self.dclient.connection_state() == async_nats::connection::State::Connected
    }

    /// The opt-out watch runs: events are checked against every opt-out.
    pub fn follows_optouts(&self) -> bool {
        self.watching.load(Ordering::Relaxed)
    }

    /// Connected to NATS, following the opt-out bucket, and stream state
    /// read recently.
    pub fn is_ready(&self) -> bool {
        self.is_connected()
            && self.delivery_connected()
            && self.follows_optouts()
            && self
                .last_ok
                .lock()
                .unwrap()
                .is_some_and(|t| t.elapsed() < STALE_AFTER)
    }

    /// Reads every partner's stream and consumer state (gauges, /readyz,
    /// the pre-publish room check). Runs every second until `stop`.
    pub async fn follow_state(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let ok = self.read_state().await;
            if ok {
                *self.last_ok.lock().unwrap() = Some(Instant::now());
            }
            tokio::select! {
                _ = tokio::time::sleep(STATE_INTERVAL) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Reads stream and consumer state now (a /metrics scrape, a forget).
    pub async fn refresh(&self) {
        if self.read_state().await {
            *self.last_ok.lock().unwrap() = Some(Instant::now());
        }
    }

    async fn read_state(&self) -> bool {
        let mut ok = true;
        for jp in self.all() {
            let mut lost = false;
            match tokio::time::timeout(STATE_INTERVAL * 2, self.stream_state(&jp.name)).await {
                Ok(Ok((events, bytes))) => {
                    jp.events.store(events, Ordering::Relaxed);
                    jp.bytes.store(bytes, Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    lost |= names_missing(&e);
                    ok = false;
                }
                Err(_) => ok = false,
            }
            let mut c = jp.consumer();
            match tokio::time::timeout(STATE_INTERVAL * 2, c.info()).await {
                Ok(Ok(i)) => jp
                    .lag
                    .store(i.num_pending + i.num_ack_pending as u64, Ordering::Relaxed),
                Ok(Err(e)) => {
                    lost |= names_missing(&e.to_string());
                    ok = false;
                }
                Err(_) => ok = false,
            }
            if lost {
                self.repair(&jp).await;
            }
        }
        let notices: Vec<Arc<JsPartner>> = self
            .notice_partners
            .read()
            .unwrap()
            .values()
            .cloned()
            .collect();
        for jp in notices {
            let mut c = jp.consumer();
            if let Ok(Err(e)) = tokio::time::timeout(STATE_INTERVAL * 2, c.info()).await {
                if names_missing(&e.to_string()) {
                    self.repair(&jp).await;
                }
            }
        }
        self.repair_optouts().await;
        if self.partners.read().unwrap().is_empty() {
            ok = tokio::time::timeout(STATE_INTERVAL * 2, account_info(&self.client))
                .await
                .is_ok_and(|r| r.is_ok());
        }
        ok
    }

    /// Makes again partner `jp`'s streams and consumer that JetStream no
    /// longer has (deleted under the gateway, or a NATS node restarted on
    /// an empty store): delivery and ingest go on without a restart, and
    /// an ERROR says what was lost (the events or notices the stream held
    /// are gone; NATS's store must be backed up like a database).
    async fn repair(&self, jp: &JsPartner) {
        let config = jp.config.read().unwrap().clone();
        let what = match jp.stream {
            Stream::Events => "event",
            Stream::Notices => "notice",
        };
        match self.ensure_stream_of(&config, jp.stream).await {
            Ok(_) => tracing::error!(
                partner = %jp.name,
                stream = what,
                "JetStream no longer had this partner's stream or consumer (deleted, or NATS lost its store); made again: whatever the lost stream held is gone"
            ),
            Err(e) => {
                tracing::warn!(partner = %jp.name, stream = what, error = %e, "JetStream lost this partner's stream or consumer; cannot make it again yet")
            }
        }
    }

    /// Writes the opt-out list this replica holds back to the bucket when
    /// JetStream lost it (the bucket is gone, or holds fewer opt-outs than
    /// this replica knows): a NATS data loss must not forward an opted-out
    /// person's events. Checked with every state read.
    async fn repair_optouts(&self) {
        let Some(cache) = self.optout_cache.get() else {
            return;
        };
        if cache.is_empty() {
            return;
        }
        let held = match tokio::time::timeout(STATE_INTERVAL * 2, self.optouts.status()).await {
            Ok(Ok(st)) => st.values(),
            Ok(Err(e)) if names_missing(&e.to_string()) => 0,
            _ => return,
        };
        // Compared by count first: the list is copied only when the bucket
        // lost some (it may hold millions).
        if held >= cache.len() as u64 {
            return;
        }
        let known = cache.hashes();
        if let Err(e) = ensure_stream(&self.js, kv_stream_config(&self.cfg)).await {
            tracing::warn!(error = %e, "the opt-out bucket is gone and cannot be made again yet");
            return;
        }
        let mut written = 0usize;
        for (h, forgotten) in &known {
            let value: &'static [u8] = if *forgotten { b"forget" } else { b"optout" };
            if self
                .optouts
                .create(crate::util::hex(h), Bytes::from_static(value))
                .await
                .is_ok()
            {
                written += 1;
            }
        }
        if written > 0 {
            tracing::error!(
                bucket = OPTOUT_BUCKET,
                held_before = held,
                written_back = written,
                "JetStream's opt-out bucket had lost opt-outs this replica holds (deleted, or NATS lost its store); they are written back"
            );
        }
    }

    /// Events and bytes waiting in partner `partner`'s event stream: its
    /// info with the message count of each counted subject (one request
    /// while fewer than JetStream's page of subjects are in use; a message
    /// carries at most `batch_max_events`).
    async fn stream_state(&self, partner: &str) -> Result<(u64, u64), String> {
        let s = self
            .js
            .get_stream_no_info(out_stream(partner))
            .await
            .map_err(|e| e.to_string())?;
        let prefix = format!("{}.", out_subject(partner));
        let mut info = s
            .info_with_subjects(format!("{prefix}*"))
            .await
            .map_err(|e| e.to_string())?;
        let (messages, bytes) = (info.info.state.messages, info.info.state.bytes);
        let (mut events, mut counted) = (0u64, 0u64);
        while let Some(r) = info.next().await {
            let (subject, n) = r.map_err(|e| e.to_string())?;
            let per: u64 = subject
                .strip_prefix(&prefix)
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            events += per * n as u64;
            counted += n as u64;
        }
        // The rest are messages of one event each, stored before counts.
        Ok((events + messages.saturating_sub(counted), bytes))
    }

    /// Whether `need` more bytes fit in partner `jp`'s stream, by the last
    /// state read (JetStream's discard-new is the real bound).
    pub fn has_room(&self, jp: &JsPartner, need: u64) -> bool {
        jp.pending_bytes() + need <= jp.max_bytes()
    }

    /// Publishes `msgs` to partner `p`'s stream: every message is sent
    /// first, then the acks are awaited together (one round trip's wait for
    /// the lot, not one per message).
    pub async fn publish(&self, partner: &str, msgs: Vec<OutMsg>) -> Result<Published, JsError> {
        self.publish_to(Some(partner), partner, msgs).await
    }

    /// Publishes a notice to partner `partner`'s notice stream and waits
    /// for JetStream's acknowledgement (a quorum has it on disk).
    pub async fn publish_notice(&self, partner: &str, msg: OutMsg) -> Result<(), JsError> {
        self.publish_to(None, partner, vec![msg]).await.map(|_| ())
    }

    /// Publishes event messages (`events` is the partner: each to its
    /// [`counted_subject`]) or a notice (`None`) of partner `partner`.
    async fn publish_to(
        &self,
        events: Option<&str>,
        partner: &str,
        msgs: Vec<OutMsg>,
    ) -> Result<Published, JsError> {
        let mut acks = Vec::with_capacity(msgs.len());
        for m in msgs {
            let subject = match events {
                Some(p) => counted_subject(p, m.events),
                None => notice_subject(partner),
            };
            let p = jetstream::message::PublishMessage::build()
                .payload(m.payload)
                .headers(m.headers);
            let fut = self
                .js
                .send_publish(subject, p)
                .await
                .map_err(|e| unavailable("publish failed", e))?;
            acks.push(std::future::IntoFuture::into_future(fut));
        }
        let results = futures_util::future::join_all(acks).await;
        let mut duplicate = Vec::with_capacity(results.len());
        let mut sequence = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(ack) => {
                    duplicate.push(ack.duplicate);
                    sequence.push(ack.sequence);
                }
                Err(e) => {
                    let text = e.to_string();
                    if text.contains("maximum bytes") || text.contains("maximum messages") {
                        return Err(JsError::Full(partner.to_owned()));
                    }
                    return Err(unavailable("publish not acknowledged", e));
                }
            }
        }
        Ok(Published {
            duplicate,
            sequence,
        })
    }

    /// Fetches up to `max` messages of partner `jp`: waits up to `first` for
    /// one, then up to `window` for the rest of a batch.
    ///
    /// Each read is a no-wait fetch (JetStream answers at once with what it
    /// has); waiting is done here, polling every [`IDLE_POLL`]. A waiting
    /// pull request on the NATS 2.9 servers we test with was not always
    /// served when messages arrived (delivery stalled until it expired), and
    /// a poll costs one small request per interval per partner.
    pub async fn fetch(
        &self,
        jp: &JsPartner,
        max: usize,
        first: Duration,
        window: Duration,
    ) -> Result<Vec<Fetched>, JsError> {
        let c = jp.consumer();
        let deadline = tokio::time::Instant::now() + first;
        let mut out = fetch_now(&c, &jp.name, max).await?;
        while out.is_empty() {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(out);
            }
            tokio::time::sleep(IDLE_POLL.min(deadline - now)).await;
            out = fetch_now(&c, &jp.name, max).await?;
        }
        if out.len() < max && !window.is_zero() {
            tokio::time::sleep(window).await;
            let more = fetch_now(&c, &jp.name, max - out.len()).await?;
            out.extend(more);
        }
        Ok(out)
    }

    /// What the subject-access ledger records of the messages at stream
    /// sequences `seqs` of partner `partner`'s event stream (a pull commit,
    /// on whichever replica it lands): read back by sequence, 64 requests
    /// at a time, before they are acknowledged. Messages gone already are
    /// skipped.
    pub async fn delivered_of(
        &self,
        partner: &str,
        seqs: &[u64],
    ) -> Result<Vec<crate::privacy::Delivered>, JsError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let s = self
            .djs
            .get_stream_no_info(out_stream(partner))
            .await
            .map_err(|e| unavailable("cannot open a stream", e))?;
        let s = &s;
        let mut reads = futures_util::stream::iter(seqs.iter().copied())
            .map(|seq| async move { s.get_raw_message(seq).await })
            .buffer_unordered(64);
        let mut out = Vec::with_capacity(seqs.len());
        while let Some(r) = reads.next().await {
            let m = match r {
                Ok(m) => m,
                Err(e)
                    if matches!(
                        e.kind(),
                        jetstream::stream::RawMessageErrorKind::NoMessageFound
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(unavailable("cannot read a message", e)),
            };
            let (items, _) = items_of(Some(&m.headers), &m.payload);
            out.extend(
                items
                    .iter()
                    .filter_map(|i| crate::privacy::Delivered::of(&i.subjects, &i.payload)),
            );
        }
        Ok(out)
    }

    /// Whether partner `jp`'s stream still holds the message at `seq` (a
    /// forget erases messages their holders have not settled yet).
    pub async fn holds(&self, jp: &JsPartner, seq: u64) -> Result<bool, JsError> {
        let s = self
            .djs
            .get_stream_no_info(names(jp.stream, &jp.name).stream)
            .await
            .map_err(|e| unavailable("cannot open a stream", e))?;
        match s.get_raw_message(seq).await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    jetstream::stream::RawMessageErrorKind::NoMessageFound
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("cannot read a message", e)),
        }
    }

    /// Acknowledges messages by ack subject (the pull feed's commit, which
    /// may reach another replica than the one that served them).
    pub async fn ack_subjects(&self, subjects: Vec<String>) -> Result<(), JsError> {
        for s in subjects {
            self.dclient
                .publish(s, Bytes::from_static(b"+ACK"))
                .await
                .map_err(|e| unavailable("ack failed", e))?;
        }
        self.dclient
            .flush()
            .await
            .map_err(|e| unavailable("ack failed", e))
    }

    /// Writes dead letters (lines as [`crate::outbox::dead_letter::write_line`]
    /// makes them) to partner `p`'s dead-letter stream and waits for the acks.
    pub async fn dead_letter(
        &self,
        partner: &str,
        stream: Stream,
        lines: Vec<(Vec<u8>, Subjects)>,
    ) -> Result<u64, JsError> {
        let subject = names(stream, partner).dead_subject;
        let mut acks = Vec::with_capacity(lines.len());
        for (line, subjects) in lines {
            let mut h = HeaderMap::new();
            h.insert(H_SUBJECTS, subjects_header(&subjects));
            let p = jetstream::message::PublishMessage::build()
                .payload(Bytes::from(line))
                .headers(h);
            let fut = self
                .js
                .send_publish(subject.clone(), p)
                .await
                .map_err(|e| unavailable("dead-letter publish failed", e))?;
            acks.push(std::future::IntoFuture::into_future(fut));
        }
        let n = acks.len() as u64;
        for r in futures_util::future::join_all(acks).await {
            r.map_err(|e| unavailable("dead letter not acknowledged", e))?;
        }
        Ok(n)
    }

    /// Records an opt-out (or a forget) in the bucket, then in the local
    /// cache. Returns false if the subject was already opted out.
    pub async fn add_optout(
        &self,
        optouts: &OptOutStore,
        h: SubjectHash,
        forget: bool,
    ) -> Result<bool, JsError> {
        let known = optouts.contains_hash(&h);
        if known && (!forget || optouts.is_forgotten(&h)) {
            return Ok(false);
        }
        let value: &'static [u8] = if forget { b"forget" } else { b"optout" };
        self.optouts
            .put(crate::util::hex(&h), Bytes::from_static(value))
            .await
            .map_err(|e| unavailable("opt-out not stored", e))?;
        optouts.insert_cached(h, forget);
        Ok(!known)
    }

    /// Loads every opt-out, then follows the bucket in the background.
    async fn load_optouts(self: &Arc<Self>, optouts: &Arc<OptOutStore>) -> Result<(), String> {
        let reading = "cannot read the opt-out bucket";
        let mut watch = bounded(reading, self.optouts.watch_with_history(">")).await?;
        // The snapshot: until the bucket is read to its end, no event may
        // be routed (an opted-out person's events would pass).
        let status = bounded(reading, self.optouts.status()).await?;
        let mut remaining = status.values();
        while remaining > 0 {
            match tokio::time::timeout(SETUP_STEP, watch.next()).await {
                Ok(Some(Ok(e))) => {
                    apply(optouts, &e);
                    if e.delta == 0 {
                        break;
                    }
                    remaining -= 1;
                }
                Ok(Some(Err(e))) => return Err(format!("cannot read the opt-out bucket: {e}")),
                Ok(None) | Err(_) => {
                    return Err("the opt-out bucket did not finish loading".to_string())
                }
            }
        }
        tracing::info!(
            optouts = optouts.len(),
            "opt-out list loaded from JetStream"
        );
        self.watching.store(true, Ordering::Relaxed);
        let me = self.clone();
        let optouts = optouts.clone();
        tokio::spawn(async move {
            loop {
                while let Some(e) = watch.next().await {
                    match e {
                        Ok(e) => apply(&optouts, &e),
                        Err(e) => {
                            tracing::warn!(error = %e, "opt-out watch error");
                        }
                    }
                }
                // The watch ended (NATS failover): start again from the
                // whole history; applying an opt-out twice is harmless.
                me.watching.store(false, Ordering::Relaxed);
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Ok(w) = me.optouts.watch_with_history(">").await {
                        watch = w;
                        me.watching.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
        });
        Ok(())
    }

    /// Erases every event of a person (`subjects`) from every partner's stream and
    /// dead-letter stream. Returns outbox copies erased (dead letters are
    /// not outbox copies, as with the embedded backend).
    pub async fn purge(&self, subjects: &[SubjectHash]) -> Result<u64, JsError> {
        let mut n = 0;
        for jp in self.all() {
            let erased = self.purge_stream(&jp.name, false, subjects).await?;
            // The gauge drops at once, as with the embedded backend.
            jp.events.fetch_sub(
                erased.min(jp.events.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            n += erased;
            let dl = self.purge_stream(&jp.name, true, subjects).await?;
            if dl > 0 {
                tracing::info!(partner = %jp.name, dead_letters = dl, "forget: dead letters of the subject erased");
            }
        }
        self.refresh().await;
        Ok(n)
    }

    /// Reads every message waiting in partner `partner`'s event stream (or
    /// its dead-letter stream) and erases `who`'s events: a message holding
    /// only theirs is erased (overwritten, not only hidden); one holding
    /// others' events too is published again without theirs, and only then
    /// erased, so a failure in between leaves a duplicate, never a loss. A
    /// work-queue stream admits no second consumer, so messages are read by
    /// sequence, 64 requests at a time: the cost grows with the backlog,
    /// which is small while delivery keeps up. Returns events erased.
    ///
    /// A message a delivery worker holds may be erased while it waits for
    /// a retry: before its next try the worker finds it gone and leaves
    /// its events to the message published in its place (see
    /// `outbox::consumer`).
    async fn purge_stream(
        &self,
        partner: &str,
        dead: bool,
        who: &[SubjectHash],
    ) -> Result<u64, JsError> {
        let n = names(Stream::Events, partner);
        let name = if dead { n.dead_stream } else { n.stream };
        let mut s = self
            .js
            .get_stream(&name)
            .await
            .map_err(|e| unavailable("forget: cannot open a stream", e))?;
        let info = s
            .info()
            .await
            .map_err(|e| unavailable("forget: cannot read a stream", e))?;
        if info.state.messages == 0 {
            return Ok(0);
        }
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let s = &s;
        let mut reads = futures_util::stream::iter(first..=last)
            .map(|seq| async move { (seq, s.get_raw_message(seq).await) })
            .buffer_unordered(64);
        let mut hits = Vec::new();
        while let Some((seq, r)) = reads.next().await {
            // A message acknowledged (or erased) meanwhile is simply gone.
            let Ok(m) = r else { continue };
            if let Some(hit) = without(&m.headers, &m.payload, who) {
                hits.push((seq, hit));
            }
        }
        drop(reads);
        let mut events = 0;
        for (seq, (rest, erased)) in hits {
            let rest = match rest {
                Some(m) => Some(self.publish(partner, vec![m]).await?.sequence[0]),
                None => None,
            };
            if let Ok(true) = s.delete_message(seq).await {
                events += erased;
            } else if let Some(again) = rest {
                // Delivered meanwhile (its holder left out the forgotten
                // events): the copy published above would send the others
                // twice.
                let _ = s.delete_message(again).await;
            }
        }
        Ok(events)
    }
}

/// What forget does to one stored message if it holds events of `who`:
/// the message to publish in its place (everyone else's events, if any)
/// and how many events it erases. `None`: none of theirs.
fn without(
    headers: &HeaderMap,
    payload: &Bytes,
    who: &[SubjectHash],
) -> Option<(Option<OutMsg>, u64)> {
    if headers.get(H_RECORDS).is_some() {
        let (mut kept, mut n_kept, mut erased) = (Vec::new(), 0, 0);
        for (range, body) in segment::records(payload) {
            if body.has_subject(who) {
                erased += 1;
            } else {
                kept.extend_from_slice(&payload[range]);
                n_kept += 1;
            }
        }
        if erased == 0 {
            return None;
        }
        let rest = (n_kept > 0).then(|| OutMsg::records(Bytes::from(kept), n_kept, None));
        return Some((rest, erased));
    }
    let needles: Vec<String> = who.iter().map(|h| crate::util::hex(h)).collect();
    headers
        .get(H_SUBJECTS)
        .is_some_and(|v| {
            v.as_str()
                .split(',')
                .any(|p| needles.iter().any(|n| p.trim() == n))
        })
        .then_some((None, 1))
}

/// How often an idle reader asks JetStream for messages.
const IDLE_POLL: Duration = Duration::from_millis(25);

/// One no-wait fetch of up to `max` messages.
async fn fetch_now(
    c: &jetstream::consumer::Consumer<pull::Config>,
    partner: &str,
    max: usize,
) -> Result<Vec<Fetched>, JsError> {
    let fetch = async {
        let mut b = c
            .fetch()
            .max_messages(max)
            .messages()
            .await
            .map_err(|e| unavailable("fetch failed", e))?;
        let mut out = Vec::new();
        while let Some(m) = b.next().await {
            let m = m.map_err(|e| unavailable("fetch failed", e))?;
            if let Some(f) = Fetched::from(m, partner) {
                out.push(f);
            }
        }
        Ok(out)
    };
    // A no-wait pull request sent while the connection drops is never
    // answered (it carries no expiry, so no heartbeat ends it): without a
    // bound the delivery loop would wait on it forever. Messages of a cut
    // batch are not acknowledged and come back after `ack_wait`.
    match tokio::time::timeout(FETCH_BOUND, fetch).await {
        Ok(r) => r,
        Err(_) => Err(unavailable("fetch failed", "no answer to the pull request")),
    }
}

fn apply(optouts: &OptOutStore, e: &kv::Entry) {
    if e.operation != kv::Operation::Put {
        return;
    }
    if let Some(h) = crate::optout::parse_hex16(&e.key) {
        optouts.insert_cached(h, e.value.as_ref() == b"forget");
    }
}

/// `check-config` for the JetStream backend: the cluster is reachable with
/// the configured credentials, JetStream is enabled, and the streams,
/// consumers and bucket exist or can be created at `replicas` (a probe
/// stream is created and deleted to prove it). Returns report lines.
pub async fn check(
    cfg: &JetStreamConfig,
    partners: &[PartnerConfig],
) -> Result<Vec<String>, String> {
    let client = connect(cfg, "adgate-check-config").await?;
    let js = jetstream::new(client.clone());
    let mut lines = Vec::new();
    let (streams, consumers) = account_info(&client)
        .await
        .map_err(|e| format!("JetStream is not available on this account/server: {e}"))?;
    lines.push(format!(
        "jetstream: reachable ({} servers configured), account has {streams} streams, {consumers} consumers",
        cfg.servers.len(),
    ));
    let mut missing = false;
    for p in partners {
        for name in [out_stream(&p.name), dead_stream(&p.name)] {
            match js.get_stream(&name).await {
                Ok(mut s) => {
                    let i = s
                        .info()
                        .await
                        .map_err(|e| format!("cannot read stream {name}: {e}"))?;
                    if i.config.num_replicas != cfg.replicas {
                        lines.push(format!(
                            "warning: stream {name} has {} replicas, the config says {} (updated at start)",
                            i.config.num_replicas, cfg.replicas
                        ));
                    }
                    lines.push(format!(
                        "stream {name}: exists, {} messages, {} bytes",
                        i.state.messages, i.state.bytes
                    ));
                }
                Err(_) => {
                    missing = true;
                    lines.push(format!("stream {name}: missing, created at start"));
                }
            }
        }
        if let Ok(s) = js.get_stream(out_stream(&p.name)).await {
            match s.consumer_info(consumer_name(&p.name)).await {
                Ok(_) => lines.push(format!("consumer {}: exists", consumer_name(&p.name))),
                Err(_) => lines.push(format!(
                    "consumer {}: missing, created at start",
                    consumer_name(&p.name)
                )),
            }
        }
    }
    for bucket in [OPTOUT_BUCKET, LEDGER_BUCKET] {
        match js.get_key_value(bucket).await {
            Ok(_) => lines.push(format!("bucket {bucket}: exists")),
            Err(_) => {
                missing = true;
                lines.push(format!("bucket {bucket}: missing, created at start"));
            }
        }
    }
    if missing {
        // Prove that streams can be created at this replication.
        let probe = format!(
            "ADGATE_CHECK_{}",
            crate::util::random_token(6).replace('-', "_")
        );
        let created = js
            .create_stream(stream::Config {
                name: probe.clone(),
                subjects: vec![format!("adgate.check.{probe}")],
                storage: StorageType::Memory,
                num_replicas: cfg.replicas,
                max_bytes: 1024,
                ..Default::default()
            })
            .await;
        match created {
            Ok(_) => {
                let _ = js.delete_stream(&probe).await;
                lines.push(format!(
                    "jetstream: streams with replicas = {} can be created",
                    cfg.replicas
                ));
            }
            Err(e) => {
                return Err(format!(
                    "JetStream cannot create a stream with replicas = {} ({e}); a cluster of at least that many JetStream nodes is needed (outbox.replicas)",
                    cfg.replicas
                ))
            }
        }
    }
    let _ = client.drain().await;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` records, event `i` of event hash `[i; 16]` and subject
    /// `[i % 3; 16]`; where each ends; their event hashes.
    fn staged(n: usize, line_len: usize) -> (Bytes, Vec<usize>, Vec<SubjectHash>) {
        let (mut buf, mut ends, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let line = vec![b'a' + (i % 26) as u8; line_len];
            segment::encode(
                &mut buf,
                1000 + i as u64,
                &[i as u8; 16],
                &[[(i % 3) as u8; 16]],
                &line,
            );
            ends.push(buf.len());
            hashes.push([i as u8; 16]);
        }
        (Bytes::from(buf), ends, hashes)
    }

    fn header<'a>(m: &'a OutMsg, name: &str) -> Option<&'a str> {
        m.headers.get(name).map(|v| v.as_str())
    }

    #[test]
    fn chunks_cut_at_the_event_limit_and_carry_every_event_once_in_order() {
        let (buf, ends, hashes) = staged(7, 10);
        let chunks = OutMsg::chunks(buf.clone(), &ends, &hashes, 3);
        let ranges: Vec<_> = chunks.iter().map(|(_, r)| r.clone()).collect();
        assert_eq!(ranges, vec![0..3, 3..6, 6..7]);
        let mut all = Vec::new();
        for (m, r) in &chunks {
            assert_eq!(m.events, r.len());
            assert_eq!(header(m, H_RECORDS), Some(r.len().to_string().as_str()));
            let (items, problem) = items_of(Some(&m.headers), &m.payload);
            assert!(problem.is_none());
            all.extend(items.into_iter().map(|i| (i.ingest_ms, i.payload)));
        }
        let want: Vec<_> = (0..7)
            .map(|i| (1000 + i as u64, Bytes::from(vec![b'a' + i as u8; 10])))
            .collect();
        assert_eq!(all, want);
        // One event alone keeps the id of the one-event messages before;
        // the same events chunked the same way get the same id (a retry).
        let last = &chunks[2].0;
        assert_eq!(
            header(last, H_MSG_ID),
            Some(crate::util::hex(&[6u8; 16]).as_str())
        );
        let again = OutMsg::chunks(buf.clone(), &ends, &hashes, 3);
        for ((a, _), (b, _)) in chunks.iter().zip(&again) {
            assert_eq!(header(a, H_MSG_ID), header(b, H_MSG_ID));
        }
        assert_ne!(
            header(&chunks[0].0, H_MSG_ID),
            header(&chunks[1].0, H_MSG_ID)
        );
        // Another cut is another message.
        let other = OutMsg::chunks(buf.clone(), &ends, &hashes, 2);
        assert_ne!(
            header(&chunks[0].0, H_MSG_ID),
            header(&other[0].0, H_MSG_ID)
        );
    }

    #[test]
    fn chunks_stay_under_the_byte_bound_with_one_event_at_least() {
        let (buf, ends, hashes) = staged(5, CHUNK_MAX_BYTES / 2);
        let sizes: Vec<_> = OutMsg::chunks(buf.clone(), &ends, &hashes, 500)
            .iter()
            .map(|(m, r)| (m.payload.len() <= CHUNK_MAX_BYTES, r.len()))
            .collect();
        assert_eq!(
            sizes,
            vec![(true, 1); 5],
            "two half-bound lines overflow it"
        );
        let (big, ends, hashes) = staged(1, CHUNK_MAX_BYTES + 1);
        let one = OutMsg::chunks(big.clone(), &ends, &hashes, 500);
        assert_eq!(one.len(), 1, "an event larger than the bound goes alone");
        assert!(OutMsg::chunks(Bytes::new(), &[], &[], 500).is_empty());
    }

    #[test]
    fn forget_rewrites_a_message_without_the_subjects_events_only() {
        let (buf, ends, hashes) = staged(6, 8);
        let (m, _) = OutMsg::chunks(buf.clone(), &ends, &hashes, 10).remove(0);
        // Subject [1;16]: events 1 and 4 of 6.
        let (rest, erased) = without(&m.headers, &m.payload, &[[1; 16]]).expect("holds theirs");
        assert_eq!(erased, 2);
        let rest = rest.expect("others' events are kept");
        assert_eq!(rest.events, 4);
        assert!(header(&rest, H_MSG_ID).is_none(), "never taken for a retry");
        let (items, _) = items_of(Some(&rest.headers), &rest.payload);
        let kept: Vec<u64> = items.iter().map(|i| i.ingest_ms).collect();
        assert_eq!(kept, vec![1000, 1002, 1003, 1005]);
        assert!(items.iter().all(|i| !i.subjects.contains(&[1; 16])));
        // Nobody else's: erased whole. Not theirs: untouched.
        let (one, ends, hashes) = staged(1, 8);
        let (m1, _) = OutMsg::chunks(one.clone(), &ends, &hashes, 10).remove(0);
        assert!(matches!(
            without(&m1.headers, &m1.payload, &[[0; 16]]),
            Some((None, 1))
        ));
        assert!(without(&m.headers, &m.payload, &[[9; 16]]).is_none());
    }

    #[test]
    fn a_line_message_reads_as_one_item_from_its_headers() {
        let mut h = HeaderMap::new();
        h.insert(H_INGEST_MS, "1234");
        h.insert(H_SUBJECTS, subjects_header(&Subjects::from_bytes(&[5; 16])));
        let payload = Bytes::from_static(b"{\"event_type\":\"x\"}");
        let (items, problem) = items_of(Some(&h), &payload);
        assert!(problem.is_none());
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].ingest_ms, 1234);
        assert!(items[0].subjects.contains(&[5; 16]));
        assert_eq!(items[0].payload, payload);
        assert!(without(&h, &payload, &[[5; 16]]).is_some());
        assert!(without(&h, &payload, &[[6; 16]]).is_none());
    }
}
