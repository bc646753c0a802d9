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
//!   Other 4xx: dead-lettered at once. A redirect (3xx) is not followed and
//!   is retried, as a misconfigured endpoint.
//! - A partner's worker shares nothing with other partners' workers but the
//!   runtime, so a slow or failing partner delays only itself.

use std::io::Write as _;
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
use sha2::Sha256;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{Delivery, PartnerConfig, PushConfig};
use crate::metrics::events::{EventsDeadLettered, StorageWriteFailed};
use crate::metrics::{Metrics, Store};
use crate::outbox::{Batch, Consumer, Item, PartnerOutbox, Stream};
use crate::privacy::{Delivered, Privacy};
use crate::profile::{CredentialPlace, Profile};
use crate::util::now_ms;

/// First retry delay; doubles per attempt up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A Retry-After above this is capped (a partner cannot park us for a day).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
/// Connect timeout, separate from the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Where and how a partner's batches are sent: the endpoint with any
/// credential query parameter, the profile's content type, its credential
/// headers. Built once per worker; its Debug shows no credential.
struct Target {
    uri: http::Uri,
    content_type: &'static str,
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
    /// Reads a 2xx answer for a failure the partner API reports in it.
    answer: Option<crate::profile::AnswerCheck>,
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
        answer: profile.answer_check(),
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

/// What a push worker needs of the gateway besides its outbox.
#[derive(Debug, Clone)]
pub struct Deps {
    pub metrics: Metrics,
    /// The subject-access ledger records what partners acknowledged.
    pub privacy: Arc<Privacy>,
    /// Where workers run (crate::delivery::runtime).
    pub runtime: tokio::runtime::Handle,
}

impl PushWorker {
    /// A worker on partner `p`'s outbox `ob`: events go to `endpoint`,
    /// notices to `notice_endpoint` (unpaced: a notice is one small line,
    /// and an event rate limit must not hold it back).
    pub fn start(
        deps: Deps,
        mut p: PartnerConfig,
        ob: &PartnerOutbox,
    ) -> std::io::Result<PushWorker> {
        let Delivery::Push(mut push) = p.delivery.clone() else {
            return Err(std::io::Error::other("not a push partner"));
        };
        let stream = ob.stream();
        if stream == Stream::Notices {
            for_notices(&mut p, &mut push)?;
        }
        let client = build_client(&push)?;
        let target = target(&push, p.encoder.as_ref())?;
        let (stop, stop_rx) = watch::channel(false);
        let runtime = deps.runtime.clone();
        let ctx = Arc::new(Ctx {
            deps,
            partner: p,
            push,
            target,
            client,
            stream,
        });
        let handle = runtime.spawn(run(ctx, ob.consumer(), stop_rx));
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
    deps: Deps,
    partner: PartnerConfig,
    push: PushConfig,
    target: Target,
    client: HttpsClient,
    stream: Stream,
}

/// `Adgate-Signature` header value for `body` at unix time `t`.
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={t},v1={}",
        crate::util::hex(&mac.finalize().into_bytes())
    )
}

/// Hands batches of the outbox to senders, up to `max_in_flight` at once.
async fn run(ctx: Arc<Ctx>, mut consumer: Consumer, mut stop: watch::Receiver<bool>) {
    let sem = Arc::new(Semaphore::new(ctx.push.max_in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    let max = ctx.partner.batch_limit();
    loop {
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.expect("open"),
            _ = stop.changed() => break,
        };
        let Some(batch) = consumer
            .next(max, ctx.partner.batch_max_wait, &mut stop)
            .await
        else {
            break;
        };
        tasks.spawn(deliver(ctx.clone(), batch, stop.clone(), permit));
    }
    // Stopping: batches in flight finish or are released (the caller
    // bounds this by the grace period).
    while tasks.join_next().await.is_some() {}
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

/// The push body of `items` (each one stored, encoded event): the
/// profile's framing, gzipped when configured.
fn body_of(profile: &dyn Profile, push: &PushConfig, items: &[Item]) -> Bytes {
    let events: Vec<&[u8]> = items.iter().map(|i| i.payload.as_ref()).collect();
    let mut framed = Vec::new();
    profile.write_body(&events, &mut framed);
    if push.gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&framed).expect("vec write");
        Bytes::from(enc.finish().expect("vec write"))
    } else {
        Bytes::from(framed)
    }
}

/// Sends `batch` until it settles: delivered, dead-lettered, or released
/// when the worker stops mid-retry.
async fn deliver(
    ctx: Arc<Ctx>,
    mut batch: Batch,
    mut stop: watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let name = ctx.partner.name.as_str();
    let m = &ctx.deps.metrics;
    let body_of = |b: &Batch| body_of(ctx.partner.encoder.as_ref(), &ctx.push, b.items());
    let mut body = body_of(&batch);
    let mut attempt: u32 = 0;
    let mut last_status: Option<u16> = None;
    // Set once the batch is to be dead-lettered: (reason, status, failed
    // writes so far). The batch is settled only once its dead letters are
    // durable; until then it stays in the outbox.
    let mut dead: Option<(&'static str, Option<u16>, u32)> = None;
    loop {
        // A forget erased items since they were read (typically while this
        // batch waited for a retry): send only what is left of them.
        match batch.refresh().await {
            Ok(true) => body = body_of(&batch),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(partner = name, error = %e, "cannot re-read a batch after a purge; not sending it now");
                tokio::select! {
                    _ = tokio::time::sleep(BACKOFF_BASE) => continue,
                    _ = stop.changed() => return batch.release().await,
                }
            }
        }
        if batch.items().is_empty() {
            ctx.record(batch.settle(Vec::new()).await).await;
            return;
        }
        if let Some((reason, status, failures)) = &mut dead {
            match batch.dead_letter(reason, *status).await {
                Ok(n) => {
                    ctx.count_dead_letters(n, reason, batch.items());
                    if *failures > 0 {
                        tracing::warn!(
                            partner = name,
                            failures = *failures,
                            events = batch.items().len(),
                            "dead letters written after failed tries; the batch leaves the outbox"
                        );
                    }
                    ctx.record(batch.settle(Vec::new()).await).await;
                    return;
                }
                Err(e) => {
                    *failures += 1;
                    m.emit(StorageWriteFailed {
                        store: Store::DeadLetter,
                        partner: Some(name),
                        count: 1,
                        error: &e,
                        consequence: "cannot write dead letters; the batch stays in the outbox and is retried",
                        // Rate-limited: the 1st, 2nd, 4th, 8th... failure.
                        log: failures.is_power_of_two(),
                    });
                    let delay = BACKOFF_BASE
                        .saturating_mul(1u32 << (*failures).min(16))
                        .min(BACKOFF_MAX);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        // Left for the next start (same range) or another
                        // replica.
                        _ = stop.changed() => return batch.release().await,
                    }
                }
            }
        }
        let oldest = batch
            .items()
            .iter()
            .map(|r| r.ingest_ms)
            .min()
            .unwrap_or_else(now_ms);
        let expires_ms = oldest + ctx.partner.max_event_age.as_millis() as u64;
        if now_ms() >= expires_ms {
            dead = Some(("max_event_age", last_status, 0));
            continue;
        }
        pace(&ctx.push, batch.items().len()).await;
        match send(&ctx, batch.key(), body.clone(), attempt).await {
            Attempt::Ok => {
                ctx.count_attempt("ok", batch.items());
                let mut delivered = Vec::new();
                if ctx.stream == Stream::Events {
                    delivered = batch
                        .items()
                        .iter()
                        .filter_map(|r| Delivered::of(&r.subjects, &r.payload))
                        .collect();
                    m.delivered(name, batch.items().iter().map(|r| r.ingest_ms));
                }
                ctx.record(batch.settle(delivered).await).await;
                return;
            }
            Attempt::Permanent { status } => {
                ctx.count_attempt("permanent", batch.items());
                tracing::warn!(partner = name, status, batch = %batch.key(), events = batch.items().len(), stream = ctx.stream.items(), "partner refused a batch; dead-lettering it");
                dead = Some(("rejected_by_partner", Some(status), 0));
            }
            Attempt::Retry { status, after } => {
                ctx.count_attempt("retryable", batch.items());
                last_status = status.or(last_status);
                let delay = retry_delay(attempt, after, expires_ms);
                attempt = attempt.saturating_add(1);
                tracing::debug!(partner = name, status = ?status, attempt, delay_ms = delay.as_millis() as u64, "delivery will be retried");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    // Left for the next start (same range, same key) or
                    // another replica.
                    _ = stop.changed() => return batch.release().await,
                }
            }
        }
    }
}

/// Exponential backoff with full jitter, or the partner's Retry-After
/// (capped) when it is longer, never past the batch's expiry. The backoff
/// stays a floor: `Retry-After: 0` or a date in the past does not make a
/// retry loop without pause.
fn retry_delay(attempt: u32, after: Option<Duration>, expires_ms: u64) -> Duration {
    let backoff = {
        let cap = BACKOFF_BASE
            .saturating_mul(1u32 << attempt.min(16))
            .min(BACKOFF_MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=cap.as_millis() as u64))
    };
    let delay = after
        .map(|a| a.min(RETRY_AFTER_MAX).max(backoff))
        .unwrap_or(backoff);
    let to_expiry = Duration::from_millis(expires_ms.saturating_sub(now_ms()));
    delay.min(to_expiry + Duration::from_millis(10))
}

impl Ctx {
    /// Counts one send of `items`: in `adgate_delivery_attempts_total` for
    /// events; per notice (its type read from the line) in
    /// `adgate_notices_total` for notices, where a refusal is counted once,
    /// as `dead_lettered`, when its dead letter is written.
    fn count_attempt(&self, outcome: &str, items: &[Item]) {
        let (m, partner) = (&self.deps.metrics, self.partner.name.as_str());
        match self.stream {
            Stream::Events => m
                .delivery_attempts
                .with_label_values(&[partner, outcome])
                .inc(),
            Stream::Notices => {
                let o = match outcome {
                    "ok" => "delivered",
                    "retryable" => "retried",
                    _ => return,
                };
                crate::notice::count(m, partner, items.iter().map(|r| r.payload.as_ref()), o);
            }
        }
    }

    /// Counts `n` dead letters of `items` just written (`reason`: why):
    /// `adgate_dead_letter_total` for events, per notice as `dead_lettered`
    /// in `adgate_notices_total` for notices.
    fn count_dead_letters(&self, n: u64, reason: &'static str, items: &[Item]) {
        let (m, partner) = (&self.deps.metrics, self.partner.name.as_str());
        match self.stream {
            Stream::Events => m.emit(EventsDeadLettered {
                partner,
                events: n,
                reason,
            }),
            Stream::Notices => crate::notice::count(
                m,
                partner,
                items.iter().map(|r| r.payload.as_ref()),
                "dead_lettered",
            ),
        }
    }

    /// Records in the subject-access ledger what left the outbox delivered.
    async fn record(&self, acked: Vec<Delivered>) {
        if !acked.is_empty() {
            self.deps.privacy.delivered(&self.partner.name, acked).await;
        }
    }
}

/// Paces batches to `max_events_per_second`, when configured.
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
        // Kept only when the profile reads a 2xx answer's body.
        let keep = status.is_success() && target.answer.is_some();
        let mut kept = Vec::new();
        while seen <= RESPONSE_READ_MAX {
            match body.frame().await {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        seen += d.len();
                        if keep && kept.len() < RESPONSE_READ_MAX {
                            kept.extend_from_slice(
                                &d[..d.len().min(RESPONSE_READ_MAX - kept.len())],
                            );
                        }
                    }
                }
                _ => break,
            }
        }
        let refused = target
            .answer
            .and_then(|check| keep.then(|| check(&kept)).flatten());
        Ok::<_, hyper_util::client::legacy::Error>((status, retry_after, refused))
    };
    let outcome = match tokio::time::timeout(push.timeout, fut).await {
        Err(_) => Err("timeout"),
        Ok(Err(e)) => {
            tracing::debug!(partner = %partner, error = %e, "delivery connection error");
            Err(if tls_failure(&e) {
                "tls_error"
            } else if e.is_connect() {
                "connect_error"
            } else {
                "connection_error"
            })
        }
        Ok(Ok((status, after, None))) => Ok(classify(status, after)),
        // A 2xx whose body reports a failure (Google's partial failure,
        // TikTok's error code): not delivered.
        Ok(Ok((status, after, Some(true)))) => Ok(Attempt::Retry {
            status: Some(status.as_u16()),
            after,
        }),
        Ok(Ok((status, _, Some(false)))) => Ok(Attempt::Permanent {
            status: status.as_u16(),
        }),
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
        let hint = if class == "3xx" {
            " (a redirect, which adgate does not follow: set the partner's endpoint to the address it names)"
        } else {
            ""
        };
        tracing::warn!(
            partner = %partner,
            class,
            attempt = attempt + 1,
            "delivery failed ({class}){hint}; {attempt_kind}{}",
            crate::util::held_back(held)
        );
    }
    outcome.unwrap_or(Attempt::Retry {
        status: None,
        after: None,
    })
}

/// Did `e` come from TLS (a certificate this gateway does not trust, a
/// handshake refused, an endpoint that does not speak TLS)? rustls's error
/// travels wrapped in `io::Error`s, whose `source` skips the wrapped error
/// itself, so each one is opened.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if tls_failure(inner) {
                return true;
            }
        }
        cur = err.source();
    }
    false
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

/// 2xx delivered; 408, 429 and 5xx retried; any other 4xx refused (dead
/// letters at once). Anything else, a redirect above all (adgate does not
/// follow one: it would send signed data to an address the config does
/// not name), is retried: the endpoint has moved or is misconfigured, and
/// the events wait in the outbox until the operator fixes it.
fn classify(status: StatusCode, after: Option<Duration>) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        Attempt::Ok
    } else if status.is_client_error() && code != 408 && code != 429 {
        Attempt::Permanent { status: code }
    } else {
        Attempt::Retry {
            status: Some(code),
            after,
        }
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    // More seconds than 64 bits hold (a fault pass sent 2^64): as long as
    // any, which the cap then shortens, not a header ignored.
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(u64::MAX));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    let secs = t.unix_timestamp() - (now_ms() / 1000) as i64;
    Some(Duration::from_secs(secs.max(0) as u64))
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
        // Past 64 bits: the longest wait, capped where it is used.
        for huge in ["18446744073709551616", "99999999999999999999999"] {
            assert_eq!(
                parse_retry_after(huge),
                Some(Duration::from_secs(u64::MAX)),
                "{huge}"
            );
        }
    }

    #[test]
    fn retry_after_zero_still_backs_off() {
        let far = now_ms() + 3_600_000;
        // Full jitter can draw a short pause once; over many attempts the
        // backoff's growing bound shows through a zero Retry-After.
        let total: Duration = (0..12)
            .map(|a| retry_delay(a, Some(Duration::ZERO), far))
            .sum();
        assert!(total >= BACKOFF_BASE, "{total:?}");
        let later = retry_delay(10, Some(Duration::from_secs(7200)), far);
        assert_eq!(later, RETRY_AFTER_MAX, "a long Retry-After is capped");
    }

    /// The SPEC's table, and a redirect kept in the outbox (the eleventh
    /// fault pass saw 322,950 events dead-lettered in 15 s by a 308).
    #[test]
    fn answers_are_classified_as_the_delivery_table_says() {
        let kind = |code: u16| match classify(StatusCode::from_u16(code).unwrap(), None) {
            Attempt::Ok => "ok",
            Attempt::Retry { .. } => "retry",
            Attempt::Permanent { .. } => "permanent",
        };
        for (code, want) in [
            (200, "ok"),
            (204, "ok"),
            (301, "retry"),
            (307, "retry"),
            (308, "retry"),
            (400, "permanent"),
            (401, "permanent"),
            (404, "permanent"),
            (408, "retry"),
            (413, "permanent"),
            (429, "retry"),
            (500, "retry"),
            (503, "retry"),
        ] {
            assert_eq!(kind(code), want, "{code}");
        }
    }
}
