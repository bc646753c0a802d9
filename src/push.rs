//! Push delivery (see docs/delivery.md): one worker per push partner reads its outbox,
//! forms batches (`batch_max_events` / `batch_max_wait_ms`, never above the
//! partner profile's own limit), and POSTs them with up to `max_in_flight`
//! batches at once.
//!
//! - The body is the partner profile's framing of the stored events
//!   (NDJSON for the adgate profile, `{"data":[...]}` for Meta, ...; see
//!   docs/profiles.md): the outbox holds each event already encoded, so a
//!   body is a byte copy. The profile's credential goes in its header or
//!   query parameter; `Adgate-Signature` is added whenever a signing secret
//!   is configured (always, for the adgate profile).
//!
//! - A batch is a fixed range of the outbox; its `Idempotency-Key` is derived
//!   from that range, and ranges in flight are written to
//!   `outbox/<partner>/inflight` before sending, so after a crash the same
//!   batches are re-sent with the same keys and content.
//! - 2xx: delivered; the outbox is acked up to the highest contiguous batch
//!   done. 408/429/5xx, timeouts and connection errors: retried with
//!   exponential backoff and full jitter, honouring `Retry-After`, until the
//!   oldest event has waited `max_event_age_seconds`, then dead-lettered.
//!   Other 4xx: dead-lettered at once.
//! - A partner's worker shares nothing with other partners' workers but the
//!   runtime, so a slow or failing partner delays only itself.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{header, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::app::App;
use crate::config::{Delivery, PartnerConfig, PushConfig};
use crate::outbox::jetstream::{Fetched, JetStream, JsPartner};
use crate::outbox::{PartnerLog, Record, Stream};
use crate::privacy::Delivered;
use crate::profile::{CredentialPlace, Profile};
use crate::util::now_ms;

/// First retry delay; doubles per attempt up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A Retry-After above this is capped (a partner cannot park us for a day).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
/// Connect timeout, separate from the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of payload per batch, whatever `batch_max_events` says.
const BATCH_MAX_BYTES: usize = 8 * 1024 * 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Where and how a partner's batches are sent: the endpoint with any
/// credential query parameter, the profile's content type, its credential
/// headers. Built once per worker; its Debug shows no credential.
struct Target {
    uri: http::Uri,
    content_type: &'static str,
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("content_type", &self.content_type)
            .field("credentials", &"<redacted>")
            .finish()
    }
}

/// Percent-encodes `b` for a query parameter value (RFC 3986 unreserved
/// characters kept).
fn query_escape(b: &[u8], out: &mut String) {
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
}

fn target(push: &PushConfig, profile: &dyn Profile) -> std::io::Result<Target> {
    let bad = |what: &str| std::io::Error::other(format!("partner credential: {what}"));
    let mut headers = Vec::new();
    let mut query = String::new();
    for c in &push.credentials {
        match c.place {
            CredentialPlace::Header { name, prefix } => {
                let mut v = prefix.as_bytes().to_vec();
                v.extend_from_slice(c.secret.expose());
                let mut value = header::HeaderValue::from_bytes(&v)
                    .map_err(|_| bad("not valid in an HTTP header"))?;
                value.set_sensitive(true);
                headers.push((header::HeaderName::from_static(name), value));
            }
            CredentialPlace::Query { name } => {
                if !query.is_empty() {
                    query.push('&');
                }
                query.push_str(name);
                query.push('=');
                query_escape(c.secret.expose(), &mut query);
            }
        }
    }
    let uri = if query.is_empty() {
        push.endpoint.clone()
    } else {
        let mut parts = push.endpoint.clone().into_parts();
        let pq = parts
            .path_and_query
            .as_ref()
            .map(|pq| match pq.query() {
                Some(q) => format!("{}?{q}&{query}", pq.path()),
                None => format!("{}?{query}", pq.path()),
            })
            .unwrap_or_else(|| format!("/?{query}"));
        parts.path_and_query = Some(pq.parse().map_err(|_| bad("not valid in a URL"))?);
        http::Uri::from_parts(parts).map_err(|_| bad("not valid in a URL"))?
    };
    Ok(Target {
        uri,
        content_type: profile.content_type(),
        headers,
    })
}

pub struct PushWorker {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl std::fmt::Debug for PushWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushWorker")
    }
}

impl PushWorker {
    /// A worker on partner `p`'s outbox `log` of `stream`: events go to
    /// `endpoint`, notices to `notice_endpoint` (unpaced: a notice is one
    /// small line, and an event rate limit must not hold it back).
    pub fn start(
        app: Arc<App>,
        mut p: PartnerConfig,
        log: Arc<PartnerLog>,
        stream: Stream,
    ) -> std::io::Result<PushWorker> {
        let Delivery::Push(mut push) = p.delivery.clone() else {
            return Err(std::io::Error::other("not a push partner"));
        };
        if stream == Stream::Notices {
            for_notices(&mut p, &mut push)?;
        }
        let client = build_client(&push)?;
        let target = target(&push, p.encoder.as_ref())?;
        let (stop, stop_rx) = watch::channel(false);
        let ctx = Arc::new(Ctx {
            app,
            partner: p,
            push,
            target,
            client,
            log,
            stream,
        });
        let handle = tokio::spawn(run(ctx, stop_rx));
        Ok(PushWorker { stop, handle })
    }

    /// Asks the worker to stop between batches; does not wait.
    pub fn stop(self) {
        let _ = self.stop.send(true);
    }

    pub async fn stop_and_wait(self, deadline: tokio::time::Instant) {
        let _ = self.stop.send(true);
        let mut h = self.handle;
        if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
            h.abort();
        }
    }
}

impl PushWorker {
    /// A worker on partner `jp`'s JetStream consumer (see the JetStream
    /// section of this module).
    pub fn start_js(
        app: Arc<App>,
        mut p: PartnerConfig,
        jp: Arc<JsPartner>,
    ) -> std::io::Result<PushWorker> {
        let Delivery::Push(mut push) = p.delivery.clone() else {
            return Err(std::io::Error::other("not a push partner"));
        };
        if jp.stream == Stream::Notices {
            for_notices(&mut p, &mut push)?;
        }
        let Some(js) = app.js.clone() else {
            return Err(std::io::Error::other("not the JetStream backend"));
        };
        let client = build_client(&push)?;
        let target = target(&push, p.encoder.as_ref())?;
        let (stop, stop_rx) = watch::channel(false);
        let ctx = Arc::new(JsCtx {
            app,
            partner: p,
            push,
            target,
            client,
            js,
            jp,
        });
        let handle = tokio::spawn(run_js(ctx, stop_rx));
        Ok(PushWorker { stop, handle })
    }
}

/// Turns partner `p`'s push settings into its notice stream's: notices go
/// to `notice_endpoint` unpaced (a notice is one small line, and an event
/// rate limit must not hold it back), as adgate NDJSON lines signed like
/// events whatever the partner's profile (a partner API has no notice
/// format; its notice endpoint is the partner's own), without the API's
/// credentials.
fn for_notices(p: &mut PartnerConfig, push: &mut PushConfig) -> std::io::Result<()> {
    let Some(ne) = push.notice_endpoint.clone() else {
        return Err(std::io::Error::other("the partner has no notice_endpoint"));
    };
    push.endpoint = ne;
    push.max_events_per_second = 0;
    push.credentials.clear();
    p.encoder = Arc::new(crate::profile::adgate::AdgateProfile::new(
        p.signing_key().partner_key(),
        p.identifiers.clone(),
    ));
    Ok(())
}

/// Counts one send of a batch: in `adgate_delivery_attempts_total` for
/// events, per notice (its type read from `payloads`) in
/// `adgate_notices_total` for notices, where a refusal is counted once,
/// as `dead_lettered`, when its dead letter is written.
fn count_attempt<'a>(
    metrics: &crate::metrics::Metrics,
    partner: &str,
    stream: Stream,
    outcome: &str,
    payloads: impl Iterator<Item = &'a [u8]>,
) {
    match stream {
        Stream::Events => metrics
            .delivery_attempts
            .with_label_values(&[partner, outcome])
            .inc(),
        Stream::Notices => {
            let o = match outcome {
                "ok" => "delivered",
                "retryable" => "retried",
                _ => return,
            };
            crate::notice::count(metrics, partner, payloads, o);
        }
    }
}

/// Counts `n` dead letters just written: `adgate_dead_letter_total` for
/// events, per notice (its type read from `payloads`) as `dead_lettered`
/// in `adgate_notices_total` for notices.
fn count_dead_letters<'a>(
    metrics: &crate::metrics::Metrics,
    partner: &str,
    stream: Stream,
    n: u64,
    payloads: impl Iterator<Item = &'a [u8]>,
) {
    match stream {
        Stream::Events => metrics.dead_letter.with_label_values(&[partner]).inc_by(n),
        Stream::Notices => crate::notice::count(metrics, partner, payloads, "dead_lettered"),
    }
}

fn build_client(push: &PushConfig) -> std::io::Result<HttpsClient> {
    let pem = push.ca_file.as_ref().map(std::fs::read).transpose()?;
    let (conn, _) = crate::tls::outbound_connector(pem.as_deref(), Some(CONNECT_TIMEOUT))
        .map_err(|e| std::io::Error::other(format!("ca_file: {e}")))?;
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(push.max_in_flight.max(1))
        .build(conn))
}

struct Ctx {
    app: Arc<App>,
    partner: PartnerConfig,
    push: PushConfig,
    target: Target,
    client: HttpsClient,
    log: Arc<PartnerLog>,
    stream: Stream,
}

#[derive(Debug)]
struct Done {
    from: u64,
    /// False when the worker was stopped mid-retry: not acked.
    settled: bool,
    /// What the subject-access ledger records once the batch is acked
    /// (empty unless the partner answered 2xx).
    delivered: Vec<Delivered>,
}

/// Batches answered 2xx, by first offset, waiting for their ack.
type Acked = BTreeMap<u64, Vec<Delivered>>;

/// Marks a finished batch in `pending` and keeps its ledger entries.
fn finished(pending: &mut BTreeMap<u64, (u64, u64, bool)>, ledger: &mut Acked, d: Done) {
    if let Some(e) = pending.get_mut(&d.from) {
        e.2 = d.settled;
        if !d.delivered.is_empty() {
            ledger.insert(d.from, d.delivered);
        }
    }
}

/// Hands the ledger every delivered batch the outbox has been told to ack
/// (those before the first batch still pending). After the ack, so an
/// access request never sees an event both delivered and queued.
async fn record_acked(ctx: &Ctx, pending: &BTreeMap<u64, (u64, u64, bool)>, ledger: &mut Acked) {
    let next = pending.keys().next().copied().unwrap_or(u64::MAX);
    while let Some(e) = ledger.first_entry() {
        if *e.key() >= next {
            break;
        }
        let items = e.remove();
        ctx.app.privacy.delivered(&ctx.partner.name, items).await;
    }
}

/// The `Idempotency-Key` of the batch covering `[from, end)`.
pub fn batch_id(partner: &str, from: u64, end: u64) -> String {
    let mut h = Sha256::new();
    h.update(partner.as_bytes());
    h.update(from.to_le_bytes());
    h.update(end.to_le_bytes());
    crate::guard::hex(&h.finalize()[..16])
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
    crate::guard::hex(&h.finalize()[..16])
}

/// `Adgate-Signature` header value for `body` at unix time `t`.
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={t},v1={}",
        crate::guard::hex(&mac.finalize().into_bytes())
    )
}

fn inflight_path(ctx: &Ctx) -> PathBuf {
    ctx.app
        .runtime()
        .config
        .server
        .data_dir
        .join(ctx.stream.dir())
        .join(&ctx.partner.name)
        .join("inflight")
}

fn read_inflight(path: &std::path::Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(' ')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .filter(|(a, b)| a < b)
        .collect()
}

fn write_inflight(path: &std::path::Path, ranges: &BTreeMap<u64, (u64, u64, bool)>) {
    let mut s = String::new();
    for (from, (end, _, _)) in ranges {
        s.push_str(&format!("{from} {end}\n"));
    }
    let tmp = path.with_extension("tmp");
    let res = std::fs::write(&tmp, s).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        // The previous record stays whole; a partial copy is removed.
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(error = %e, "cannot record in-flight batches");
    }
}

async fn read_range(
    log: &Arc<PartnerLog>,
    from: u64,
    end: u64,
    max: usize,
) -> std::io::Result<Vec<Record>> {
    let mut reader = log.reader();
    reader.seek(from);
    tokio::task::spawn_blocking(move || {
        let mut out: Vec<Record> = Vec::new();
        while reader.position() < end {
            let batch = reader.read_batch(max, BATCH_MAX_BYTES)?;
            if batch.is_empty() {
                break;
            }
            out.extend(batch.into_iter().filter(|r| r.end <= end));
        }
        Ok(out)
    })
    .await
    .map_err(|_| std::io::Error::other("read task failed"))?
}

async fn run(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let name = ctx.partner.name.clone();
    let path = inflight_path(&ctx);
    let sem = Arc::new(Semaphore::new(ctx.push.max_in_flight));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut ledger = Acked::new();
    // from -> (end, records, settled)
    let mut pending: BTreeMap<u64, (u64, u64, bool)> = BTreeMap::new();
    let mut reader = ctx.log.reader();
    let acked_at_start = ctx.log.shared().acked();
    let max = ctx.partner.batch_limit();

    // Batches that were in flight when the process stopped go first, as
    // they were (same range, same Idempotency-Key).
    let mut resume = read_inflight(&path);
    resume.retain(|(from, _)| *from >= acked_at_start);
    resume.sort_unstable();
    let mut resume_end = acked_at_start;
    for (from, end) in resume {
        if from != resume_end {
            break; // only a contiguous prefix is a safe resume
        }
        let read_gen = ctx.log.shared().purge_generation();
        match read_range(&ctx.log, from, end, max).await {
            Ok(recs) if !recs.is_empty() && recs.last().map(|r| r.end) == Some(end) => {
                let permit = sem.clone().acquire_owned().await.expect("open");
                pending.insert(from, (end, recs.len() as u64, false));
                tokio::spawn(deliver(
                    ctx.clone(),
                    from,
                    recs,
                    read_gen,
                    done_tx.clone(),
                    stop.clone(),
                    permit,
                ));
                resume_end = end;
            }
            _ => break,
        }
    }
    reader.seek(resume_end);
    write_inflight(&path, &pending);

    loop {
        if *stop.borrow() {
            break;
        }
        // Settle what finished, in order.
        while let Ok(d) = done_rx.try_recv() {
            finished(&mut pending, &mut ledger, d);
        }
        if settle(&ctx.log, &mut pending) {
            write_inflight(&path, &pending);
            record_acked(&ctx, &pending, &mut ledger).await;
        }

        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.expect("open"),
            _ = stop.changed() => break,
            Some(d) = done_rx.recv() => {
                finished(&mut pending, &mut ledger, d);
                continue;
            }
        };
        // Wait for data, then for a full batch or the batch window.
        if !reader.has_data() {
            tokio::select! {
                _ = reader.wait(Duration::from_secs(1)) => {}
                _ = stop.changed() => break,
                Some(d) = done_rx.recv() => finished(&mut pending, &mut ledger, d),
            }
            drop(permit);
            continue;
        }
        if reader.position() < ctx.log.shared().acked() {
            // Evicted to dead letters under us (on_full = dead_letter).
            reader.seek(ctx.log.shared().acked());
            let acked = ctx.log.shared().acked();
            pending.retain(|_, (end, _, _)| *end > acked);
        }
        let start = reader.position();
        let window_end = tokio::time::Instant::now() + ctx.partner.batch_max_wait;
        let mut changes = ctx.log.shared().durable_end_watch();
        let (recs, read_gen) = loop {
            reader.seek(start);
            let read_gen = ctx.log.shared().purge_generation();
            let (r, res) = {
                let mut rd = reader;
                let res = tokio::task::spawn_blocking(move || {
                    let b = rd.read_batch(max, BATCH_MAX_BYTES);
                    (rd, b)
                })
                .await
                .expect("read task");
                (res.0, res.1)
            };
            reader = r;
            let recs = match res {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(partner = %name, error = %e, "outbox read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Vec::new()
                }
            };
            if recs.len() >= max || tokio::time::Instant::now() >= window_end || *stop.borrow() {
                break (recs, read_gen);
            }
            tokio::select! {
                _ = tokio::time::sleep_until(window_end) => {}
                _ = changes.changed() => {}
            }
        };
        if recs.is_empty() {
            drop(permit);
            continue;
        }
        let from = recs[0].offset;
        let end = recs.last().expect("non-empty").end;
        pending.insert(from, (end, recs.len() as u64, false));
        write_inflight(&path, &pending);
        tokio::spawn(deliver(
            ctx.clone(),
            from,
            recs,
            read_gen,
            done_tx.clone(),
            stop.clone(),
            permit,
        ));
    }
    // Stopping: wait for batches in flight (the caller bounds this by the
    // grace period), then ack what settled.
    drop(done_tx);
    while let Some(d) = done_rx.recv().await {
        finished(&mut pending, &mut ledger, d);
        settle(&ctx.log, &mut pending);
        write_inflight(&path, &pending);
        record_acked(&ctx, &pending, &mut ledger).await;
    }
}

/// Acks, in outbox order, every settled batch before the first one still in
/// flight (ranges are contiguous, so the outbox position only moves over
/// batches that are done). Returns whether anything was acked.
fn settle(log: &PartnerLog, pending: &mut BTreeMap<u64, (u64, u64, bool)>) -> bool {
    let mut changed = false;
    while let Some(e) = pending.first_entry() {
        let (end, records, settled) = *e.get();
        if !settled {
            break;
        }
        log.ack(*e.key(), end, records);
        e.remove();
        changed = true;
    }
    changed
}

enum Attempt {
    Ok,
    Retry {
        status: Option<u16>,
        after: Option<Duration>,
    },
    Permanent {
        status: u16,
    },
}

/// What a batch sends: its live (not purged) records, the body and the key.
struct Payload {
    live: Vec<Record>,
    body: Bytes,
    key: String,
}

fn payload(ctx: &Ctx, from: u64, end: u64, recs: Vec<Record>) -> Payload {
    let key = batch_key(&ctx.partner.name, from, end, &recs);
    let live: Vec<Record> = recs.into_iter().filter(|r| !r.purged).collect();
    let events: Vec<&[u8]> = live.iter().map(|r| r.payload.as_ref()).collect();
    let body = body_of(ctx.partner.encoder.as_ref(), &ctx.push, &events);
    Payload { live, body, key }
}

/// The push body of `events` (each one stored, encoded event): the
/// profile's framing, gzipped when configured.
fn body_of(profile: &dyn Profile, push: &PushConfig, events: &[&[u8]]) -> Bytes {
    let mut framed = Vec::new();
    profile.write_body(events, &mut framed);
    if push.gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&framed).expect("vec write");
        Bytes::from(enc.finish().expect("vec write"))
    } else {
        Bytes::from(framed)
    }
}

/// Sends the batch of `recs` (the records of `[from, ...)`, read when the
/// outbox's purge generation was `read_gen`) until it settles.
async fn deliver(
    ctx: Arc<Ctx>,
    from: u64,
    recs: Vec<Record>,
    read_gen: u64,
    done: mpsc::UnboundedSender<Done>,
    mut stop: watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let name = ctx.partner.name.as_str();
    let m = &ctx.app.metrics;
    let end = recs.last().map(|r| r.end).unwrap_or(from);
    let mut batch = payload(&ctx, from, end, recs);
    let mut seen_gen = read_gen;
    let mut attempt: u32 = 0;
    let mut last_status: Option<u16> = None;
    let mut delivered = Vec::new();
    // Set once the batch is to be dead-lettered: (reason, status, failed
    // writes so far). The batch is settled only once its dead letters are
    // durable; until then it stays in the outbox.
    let mut dead: Option<(&'static str, Option<u16>, u32)> = None;
    loop {
        // A forget purged records since they were read (typically while
        // this batch waited for a retry): send only what is left of them.
        let gen = ctx.log.shared().purge_generation();
        if gen != seen_gen {
            match read_range(&ctx.log, from, end, ctx.partner.batch_limit()).await {
                Ok(fresh)
                    if fresh.first().map(|r| r.offset) == Some(from)
                        && fresh.last().map(|r| r.end) == Some(end) =>
                {
                    batch = payload(&ctx, from, end, fresh);
                    seen_gen = gen;
                }
                // The range already left the outbox (evicted when full).
                Ok(_) => seen_gen = gen,
                Err(e) => {
                    tracing::error!(partner = name, error = %e, "cannot re-read a batch after a purge; not sending it now");
                    tokio::select! {
                        _ = tokio::time::sleep(BACKOFF_BASE) => continue,
                        _ = stop.changed() => {
                            let _ = done.send(Done { from, settled: false, delivered: Vec::new() });
                            return;
                        }
                    }
                }
            }
        }
        let Payload { live, body, key } = &batch;
        if live.is_empty() {
            break;
        }
        if let Some((reason, status, failures)) = &mut dead {
            match dead_letter(&ctx, live, reason, *status) {
                Ok(()) => {
                    if *failures > 0 {
                        tracing::warn!(
                            partner = name,
                            failures = *failures,
                            events = live.len(),
                            "dead letters written after failed tries; the batch leaves the outbox"
                        );
                    }
                    break;
                }
                Err(e) => {
                    *failures += 1;
                    m.storage_failures.with_label_values(&["dead_letter"]).inc();
                    // Rate-limited: the 1st, 2nd, 4th, 8th... failure.
                    if failures.is_power_of_two() {
                        tracing::error!(partner = name, error = %e, failures = *failures, events = live.len(), "cannot write dead letters; the batch stays in the outbox and is retried");
                    }
                    let delay = BACKOFF_BASE
                        .saturating_mul(1u32 << (*failures).min(16))
                        .min(BACKOFF_MAX);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = stop.changed() => {
                            // Left for the next start, same range.
                            let _ = done.send(Done { from, settled: false, delivered: Vec::new() });
                            return;
                        }
                    }
                }
            }
        }
        let oldest = live
            .iter()
            .map(|r| r.ingest_ms)
            .min()
            .unwrap_or_else(now_ms);
        let expires_ms = oldest + ctx.partner.max_event_age.as_millis() as u64;
        if now_ms() >= expires_ms {
            dead = Some(("max_event_age", last_status, 0));
            continue;
        }
        rate_limit(&ctx, live.len()).await;
        let outcome = send(&ctx, key, body.clone(), attempt).await;
        match outcome {
            Attempt::Ok => {
                ctx.count_attempt("ok", live);
                if ctx.stream == Stream::Events {
                    delivered = live
                        .iter()
                        .filter_map(|r| Delivered::of(&r.subjects, &r.payload))
                        .collect();
                    m.delivered(name, live.iter().map(|r| r.ingest_ms));
                }
                break;
            }
            Attempt::Permanent { status } => {
                ctx.count_attempt("permanent", live);
                tracing::warn!(partner = name, status, batch = %key, events = live.len(), stream = ctx.stream.items(), "partner refused a batch; dead-lettering it");
                dead = Some(("rejected_by_partner", Some(status), 0));
                continue;
            }
            Attempt::Retry { status, after } => {
                ctx.count_attempt("retryable", live);
                last_status = status.or(last_status);
                let delay = retry_delay(attempt, after, expires_ms);
                attempt = attempt.saturating_add(1);
                tracing::debug!(partner = name, status = ?status, attempt, delay_ms = delay.as_millis() as u64, "delivery will be retried");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => {
                        // Left for the next start, same range, same key.
                        let _ = done.send(Done { from, settled: false, delivered: Vec::new() });
                        return;
                    }
                }
            }
        }
    }
    let _ = done.send(Done {
        from,
        settled: true,
        delivered,
    });
}

/// Exponential backoff with full jitter, or the partner's Retry-After
/// (capped), never past the batch's expiry.
fn retry_delay(attempt: u32, after: Option<Duration>, expires_ms: u64) -> Duration {
    let backoff = {
        let cap = BACKOFF_BASE
            .saturating_mul(1u32 << attempt.min(16))
            .min(BACKOFF_MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=cap.as_millis() as u64))
    };
    let delay = after.map(|a| a.min(RETRY_AFTER_MAX)).unwrap_or(backoff);
    let to_expiry = Duration::from_millis(expires_ms.saturating_sub(now_ms()));
    delay.min(to_expiry + Duration::from_millis(10))
}

/// Writes the dead letters of `live`, durably (all or nothing).
fn dead_letter(
    ctx: &Ctx,
    live: &[Record],
    reason: &str,
    status: Option<u16>,
) -> std::io::Result<()> {
    let name = ctx.partner.name.as_str();
    let n = ctx.log_dead_letters().write_many(
        name,
        live.iter()
            .map(|r| (r.ingest_ms, &r.subjects, r.payload.as_ref())),
        reason,
        status,
    )?;
    count_dead_letters(
        &ctx.app.metrics,
        name,
        ctx.stream,
        n,
        live.iter().map(|r| r.payload.as_ref()),
    );
    Ok(())
}

impl Ctx {
    fn log_dead_letters(&self) -> &crate::outbox::DeadLetters {
        match self.stream {
            Stream::Events => self.app.outbox.dead_letters(),
            Stream::Notices => self.app.notices.dead_letters(),
        }
    }

    /// Counts one send of `live` ([`count_attempt`]).
    fn count_attempt(&self, outcome: &str, live: &[Record]) {
        count_attempt(
            &self.app.metrics,
            &self.partner.name,
            self.stream,
            outcome,
            live.iter().map(|r| r.payload.as_ref()),
        );
    }
}

/// Token bucket on events per second, when configured.
async fn rate_limit(ctx: &Ctx, events: usize) {
    pace(&ctx.push, events).await
}

async fn pace(push: &PushConfig, events: usize) {
    let rate = push.max_events_per_second;
    if rate == 0 {
        return;
    }
    // Sending `events` at `rate` takes events/rate seconds; pace batches so.
    let secs = events as f64 / rate as f64;
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

async fn send(ctx: &Ctx, key: &str, body: Bytes, attempt: u32) -> Attempt {
    send_to(
        &ctx.client,
        &ctx.push,
        &ctx.target,
        &ctx.partner.name,
        key,
        body,
        attempt,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn send_to(
    client: &HttpsClient,
    push: &PushConfig,
    target: &Target,
    partner: &str,
    key: &str,
    body: Bytes,
    attempt: u32,
) -> Attempt {
    let mut req = Request::post(target.uri.clone())
        .header(header::CONTENT_TYPE, target.content_type)
        .header("Idempotency-Key", key)
        .header(
            header::USER_AGENT,
            concat!("adgate/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(secret) = &push.signing_secret {
        let t = now_ms() / 1000;
        req = req.header("Adgate-Signature", signature(secret.expose(), t, &body));
    }
    for (name, value) in &target.headers {
        req = req.header(name, value.clone());
    }
    if push.gzip {
        req = req.header(header::CONTENT_ENCODING, "gzip");
    }
    let req = req.body(Full::new(body)).expect("valid request");
    let fut = async {
        let resp = client.request(req).await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Read a small answer whole so the connection goes back to the
        // pool; past RESPONSE_READ_MAX stop and drop the connection (an
        // error page of a gigabyte costs nothing).
        let mut body = resp.into_body();
        let mut seen = 0usize;
        while seen <= RESPONSE_READ_MAX {
            match body.frame().await {
                Some(Ok(f)) => seen += f.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
        Ok::<_, hyper_util::client::legacy::Error>((status, retry_after))
    };
    let outcome = match tokio::time::timeout(push.timeout, fut).await {
        Err(_) => Err("timeout"),
        Ok(Err(e)) => {
            tracing::debug!(partner = %partner, error = %e, "delivery connection error");
            Err(if e.is_connect() {
                "connect_error"
            } else {
                "connection_error"
            })
        }
        Ok(Ok((status, after))) => Ok(classify(status, after)),
    };
    let (attempt_kind, class) = match &outcome {
        Ok(Attempt::Ok) => return Attempt::Ok,
        Ok(Attempt::Retry {
            status: Some(s), ..
        }) => ("will be retried", status_class(*s)),
        Ok(Attempt::Retry { status: None, .. }) => ("will be retried", "unknown"),
        Ok(Attempt::Permanent { status }) => ("refused", status_class(*status)),
        Err(kind) => ("will be retried", *kind),
    };
    if let Some(held) = DELIVERY_FAILURES.allow(partner) {
        // Never the answer's content: a partner's error page may quote
        // what it was sent.
        tracing::warn!(
            partner = %partner,
            class,
            attempt = attempt + 1,
            "delivery failed ({class}); {attempt_kind}{}",
            crate::util::held_back(held)
        );
    }
    outcome.unwrap_or(Attempt::Retry {
        status: None,
        after: None,
    })
}

/// Bytes of a partner's answer read at most.
const RESPONSE_READ_MAX: usize = 64 * 1024;

/// Delivery failures are logged once per partner per 10 s, with a count.
static DELIVERY_FAILURES: crate::util::LogLimiter = crate::util::LogLimiter::new();

/// `4xx`, `5xx`, ...: the status as a log field of few values.
fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "unknown",
    }
}

fn classify(status: StatusCode, after: Option<Duration>) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        Attempt::Ok
    } else if code == 408 || code == 429 || status.is_server_error() {
        Attempt::Retry {
            status: Some(code),
            after,
        }
    } else {
        Attempt::Permanent { status: code }
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    let secs = t.unix_timestamp() - (now_ms() / 1000) as i64;
    Some(Duration::from_secs(secs.max(0) as u64))
}

// ---------------------------------------------------------------------------
// JetStream backend: batches are what one fetch from the partner's shared
// consumer returned. Any replica may hold a batch; its holder renews the
// claim (`+WPI`) every third of `ack_wait` while it sends and retries, acks
// every message after the partner's 2xx (or after dead-lettering), and naks
// them when it stops, so another replica takes over at once. A replica that
// dies holds nothing after `ack_wait`: JetStream redelivers its batches.

struct JsCtx {
    app: Arc<App>,
    partner: PartnerConfig,
    push: PushConfig,
    target: Target,
    client: HttpsClient,
    js: Arc<JetStream>,
    jp: Arc<JsPartner>,
}

/// The `Idempotency-Key` of a JetStream batch: derived from the stream
/// sequences of its messages, so the same set of messages has the same key
/// on every replica and every redelivery, and another set (a forget took
/// some out, a redelivery split them) has another key.
pub fn js_batch_key(partner: &str, seqs: impl Iterator<Item = u64>) -> String {
    let mut h = Sha256::new();
    h.update(b"js:");
    h.update(partner.as_bytes());
    for s in seqs {
        h.update(s.to_le_bytes());
    }
    crate::guard::hex(&h.finalize()[..16])
}

/// How long to wait for the first message of a batch when idle.
const JS_IDLE_POLL: Duration = Duration::from_secs(5);

async fn run_js(ctx: Arc<JsCtx>, mut stop: watch::Receiver<bool>) {
    let name = ctx.partner.name.clone();
    let sem = Arc::new(Semaphore::new(ctx.push.max_in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    let max = ctx.partner.batch_limit();
    let mut busy = false;
    let mut last_warn: Option<std::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.expect("open"),
            _ = stop.changed() => break,
        };
        let first = if busy { Duration::ZERO } else { JS_IDLE_POLL };
        let fetched = tokio::select! {
            r = ctx.js.fetch(&ctx.jp, max, first, ctx.partner.batch_max_wait) => r,
            _ = stop.changed() => break,
        };
        match fetched {
            Ok(v) if v.is_empty() => busy = false,
            Ok(v) => {
                busy = v.len() >= max;
                tasks.spawn(deliver_js(ctx.clone(), v, stop.clone(), permit));
            }
            Err(e) => {
                busy = false;
                if last_warn.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                    tracing::warn!(partner = %name, error = %e, "cannot fetch from JetStream; retrying");
                    last_warn = Some(std::time::Instant::now());
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    // Stopping: batches in flight finish or nak (the caller bounds this).
    while tasks.join_next().await.is_some() {}
}

/// Renews the claim on `replies` every `every` until dropped.
struct Renewer(tokio::task::AbortHandle);

impl Drop for Renewer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn renew(js: &JetStream, recs: &[Fetched], every: Duration) -> Renewer {
    let client = js.delivery_client().clone();
    let replies: Vec<async_nats::Subject> =
        recs.iter().filter_map(|r| r.msg.reply.clone()).collect();
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

async fn ack_all(recs: &[Fetched], kind: async_nats::jetstream::AckKind) {
    for r in recs {
        if let Err(e) = r.msg.ack_with(kind).await {
            tracing::debug!(error = %e, "JetStream ack not sent");
        }
    }
}

fn js_payload(ctx: &JsCtx, recs: &[Fetched]) -> Bytes {
    let events: Vec<&[u8]> = recs.iter().map(|r| r.payload().as_ref()).collect();
    body_of(ctx.partner.encoder.as_ref(), &ctx.push, &events)
}

async fn deliver_js(
    ctx: Arc<JsCtx>,
    mut recs: Vec<Fetched>,
    mut stop: watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    use async_nats::jetstream::AckKind;
    let name = ctx.partner.name.as_str();
    let m = &ctx.app.metrics;
    let ack_wait = match &ctx.app.runtime().config.outbox {
        crate::config::OutboxBackend::JetStream(j) => j.ack_wait,
        crate::config::OutboxBackend::Embedded => Duration::from_secs(30),
    };
    let _renewer = renew(&ctx.js, &recs, ack_wait / 3);
    let mut attempt: u32 = 0;
    let mut last_status: Option<u16> = None;
    let mut built: Option<(usize, String, Bytes)> = None;
    loop {
        // A forget erased these from the stream since they were fetched
        // (typically while the batch waited for a retry): never send them.
        let (gone, keep): (Vec<Fetched>, Vec<Fetched>) = recs.into_iter().partition(|r| {
            r.subjects
                .as_slice()
                .iter()
                .any(|h| ctx.app.optouts.is_forgotten(h))
        });
        recs = keep;
        ack_all(&gone, AckKind::Ack).await;
        if recs.is_empty() {
            return;
        }
        if built.as_ref().is_none_or(|(n, _, _)| *n != recs.len()) {
            let key = js_batch_key(name, recs.iter().map(|r| r.stream_seq));
            built = Some((recs.len(), key, js_payload(&ctx, &recs)));
        }
        let (_, key, body) = built.as_ref().expect("built above");
        let oldest = recs
            .iter()
            .map(|r| r.ingest_ms)
            .min()
            .unwrap_or_else(now_ms);
        let expires_ms = oldest + ctx.partner.max_event_age.as_millis() as u64;
        if now_ms() >= expires_ms {
            dead_letter_js(&ctx, &recs, "max_event_age", last_status).await;
            return;
        }
        pace(&ctx.push, recs.len()).await;
        match send_to(
            &ctx.client,
            &ctx.push,
            &ctx.target,
            name,
            key,
            body.clone(),
            attempt,
        )
        .await
        {
            Attempt::Ok => {
                ack_all(&recs, AckKind::Ack).await;
                ctx.count_attempt("ok", &recs);
                if ctx.jp.stream == Stream::Events {
                    // The subject-access ledger, after the ack as on the
                    // embedded backend.
                    let items = recs
                        .iter()
                        .filter_map(|r| Delivered::of(&r.subjects, &r.msg.payload))
                        .collect();
                    ctx.app.privacy.delivered(name, items).await;
                    m.delivered(name, recs.iter().map(|r| r.ingest_ms));
                }
                return;
            }
            Attempt::Permanent { status } => {
                ctx.count_attempt("permanent", &recs);
                tracing::warn!(partner = name, status, batch = %key, events = recs.len(), "partner refused a batch; dead-lettering it");
                dead_letter_js(&ctx, &recs, "rejected_by_partner", Some(status)).await;
                return;
            }
            Attempt::Retry { status, after } => {
                ctx.count_attempt("retryable", &recs);
                last_status = status.or(last_status);
                let delay = retry_delay(attempt, after, expires_ms);
                attempt = attempt.saturating_add(1);
                tracing::debug!(partner = name, status = ?status, attempt, delay_ms = delay.as_millis() as u64, "delivery will be retried");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => {
                        // Another replica takes the batch over at once.
                        ack_all(&recs, AckKind::Nak(None)).await;
                        return;
                    }
                }
            }
        }
    }
}

impl JsCtx {
    /// Counts one send of a JetStream batch ([`count_attempt`]).
    fn count_attempt(&self, outcome: &str, recs: &[Fetched]) {
        count_attempt(
            &self.app.metrics,
            &self.partner.name,
            self.jp.stream,
            outcome,
            recs.iter().map(|r| r.payload().as_ref()),
        );
    }
}

/// Moves `recs` to the partner's dead-letter stream, then acks them; if
/// the dead letters cannot be written, they stay in the outbox (nak).
async fn dead_letter_js(ctx: &JsCtx, recs: &[Fetched], reason: &str, status: Option<u16>) {
    use async_nats::jetstream::AckKind;
    let name = ctx.partner.name.as_str();
    let lines = recs
        .iter()
        .map(|r| {
            let mut buf = Vec::new();
            crate::outbox::dead_letter::write_line(
                &mut buf,
                r.ingest_ms,
                &r.subjects,
                r.payload(),
                reason,
                status,
            );
            buf.pop(); // the newline: one message per line
            (buf, r.subjects)
        })
        .collect();
    match ctx.js.dead_letter(name, ctx.jp.stream, lines).await {
        Ok(n) => {
            ack_all(recs, AckKind::Ack).await;
            count_dead_letters(
                &ctx.app.metrics,
                name,
                ctx.jp.stream,
                n,
                recs.iter().map(|r| r.payload().as_ref()),
            );
        }
        Err(e) => {
            ctx.app
                .metrics
                .storage_failures
                .with_label_values(&["dead_letter"])
                .inc();
            tracing::error!(partner = name, error = %e, "cannot write dead letters; the batch stays in the outbox");
            ack_all(recs, AckKind::Nak(Some(BACKOFF_MAX))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_format() {
        let s = signature(b"whsec", 1700000000, b"{}\n");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

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
