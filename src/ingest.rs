//! `POST /v1/events` (see docs/http-api.md): auth, body forms (JSON object, array,
//! NDJSON, gzip), per-event validation, the policy, the idempotency window
//! and the durable write to every partner outbox before the 202.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::value::RawValue;

use crate::app::App;
use crate::config::{OnFull, Producer};
use crate::event::{Event, Reject, RejectReason};
use crate::outbox;
use crate::policy::{DropReason, Outcome, RequestSignals};
use crate::server::{self, error, Resp};
use crate::util::now_ms;

/// How long a producer should wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// How the body is to be read, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyForm {
    /// application/json (or no content type): an object, an array, or
    /// NDJSON sent under the wrong type.
    Json,
    Ndjson,
}

pub fn body_form(content_type: Option<&str>) -> Option<BodyForm> {
    let Some(ct) = content_type else {
        return Some(BodyForm::Json);
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" | "text/json" | "" => Some(BodyForm::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Some(BodyForm::Ndjson),
        _ => None,
    }
}

/// One event slot of a body: its JSON text, or why it cannot be read.
pub enum Item<'a> {
    Text(&'a str),
    Raw(&'a RawValue),
    Bad(Reject),
}

impl<'a> Item<'a> {
    /// The event of this slot, or why it is rejected (by index in the 202).
    pub fn parse(&self) -> Result<Event<'a>, Reject> {
        match self {
            Item::Text(t) => Event::parse(t),
            Item::Raw(r) => Event::from_raw(r),
            Item::Bad(rej) => Err(rej.clone()),
        }
    }
}

/// Splits a body into events. `Err` is a 400 message: the body cannot be
/// read as JSON, an array or NDJSON at all. NDJSON lines are not parsed
/// here (the event parser reports a bad line by index); [`NOT_JSON`]
/// is the caller's 400 when not one line was JSON.
pub fn split_body(body: &[u8], form: BodyForm) -> Result<Vec<Item<'_>>, &'static str> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("body is empty");
    }
    if form == BodyForm::Json {
        if let Ok(text) = std::str::from_utf8(body) {
            let t = text.trim_start();
            if t.starts_with('[') {
                if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(text) {
                    return Ok(items.into_iter().map(Item::Raw).collect());
                }
            } else if t.starts_with('{') {
                if serde_json::from_str::<&RawValue>(text).is_ok() {
                    return Ok(vec![Item::Text(text)]);
                }
            } else if serde_json::from_str::<&RawValue>(text).is_ok() {
                return Err("body is JSON but neither an object nor an array of objects");
            }
        }
    }
    // NDJSON: one event per non-blank line. Valid UTF-8 as a whole (the
    // common case) is checked once and split with memchr.
    let mut items = Vec::new();
    if let Ok(text) = std::str::from_utf8(body) {
        // '\n' is ASCII, so every position memchr finds is a char boundary.
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
        for end in ends {
            let line = &text[start..end];
            start = end + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if !line.trim_ascii().is_empty() {
                items.push(Item::Text(line));
            }
        }
        if items.is_empty() {
            return Err(NOT_JSON);
        }
        return Ok(items);
    }
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(s) => items.push(Item::Text(s)),
            Err(_) => items.push(Item::Bad(Reject::invalid_json("line is not UTF-8"))),
        }
    }
    if items.iter().all(|i| matches!(i, Item::Bad(_))) {
        return Err(NOT_JSON);
    }
    Ok(items)
}

/// The 400 message for a body none of whose events was JSON at all (every
/// item rejected as `invalid_json`).
pub const NOT_JSON: &str = "body is not a JSON object, a JSON array of objects, or NDJSON";

/// Inflates gzip, failing above `limit` bytes of output (gzip bombs get a
/// 413, not an OOM).
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Resp> {
    gunzip_bounded(body, limit, None)
}

/// Rejected events listed in a 202's `errors` (by index); the rest are
/// counted in `errors_truncated`.
pub const MAX_ERRORS_LISTED: usize = 100;

/// The 413 for a body of more than `max` events.
fn too_many_events(max: usize) -> Resp {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body has more than {max} events (server.max_events_per_body); split it into smaller requests"),
    )
}

/// Counts non-blank lines of NDJSON as it streams by.
#[derive(Default)]
struct LineCount {
    lines: usize,
    /// The current line has a non-whitespace byte.
    content: bool,
}

impl LineCount {
    fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if b == b'\n' {
                if self.content {
                    self.lines += 1;
                }
                self.content = false;
            } else if !b.is_ascii_whitespace() {
                self.content = true;
            }
        }
    }

    fn total(&self) -> usize {
        self.lines + usize::from(self.content)
    }
}

/// Inflates gzip a chunk at a time, stopping as soon as the output passes
/// `limit` bytes or, for NDJSON (`max_lines`), more than that many
/// non-blank lines: the whole body is never inflated first.
fn gunzip_bounded(body: &[u8], limit: usize, max_lines: Option<usize>) -> Result<Vec<u8>, Resp> {
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    let mut dec = flate2::read::MultiGzDecoder::new(body);
    let mut lines = LineCount::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match dec.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(_) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "body is not valid gzip (Content-Encoding: gzip)",
                ))
            }
        };
        if out.len() + n > limit {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "request body inflates to more than {limit} bytes (server.max_body_bytes)"
                ),
            ));
        }
        if let Some(max) = max_lines {
            lines.feed(&chunk[..n]);
            if lines.total() > max {
                return Err(too_many_events(max));
            }
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Which producer a token belongs to; every producer is compared so the
/// time taken does not depend on which one matched.
fn producer_of<'a>(rt: &'a crate::app::Runtime, token: &[u8]) -> Option<&'a Producer> {
    let mut found = None;
    for p in &rt.config.producers {
        if p.token.ct_eq(token) && found.is_none() {
            found = Some(p);
        }
    }
    found
}

/// Under mTLS, the client certificate must agree with the token: a
/// producer with `client_cert_name` needs a certificate carrying that name,
/// and a certificate carrying another producer's name is refused whatever
/// the token. The token is still required: the certificate is a second
/// factor, not a replacement. `Err` is the 403 message (names the rule,
/// never a token).
fn check_client_cert(
    rt: &crate::app::Runtime,
    producer: &Producer,
    cert: Option<&crate::tls::ClientCert>,
) -> Result<(), &'static str> {
    let mtls = rt.config.server.tls.as_ref().is_some_and(|t| t.mtls());
    if !mtls {
        return Ok(());
    }
    let Some(cert) = cert else {
        // The handshake requires a certificate; a connection without one
        // never gets here. Refuse rather than assume.
        return Err("a client certificate is required (server.tls.client_ca_file)");
    };
    if let Some(name) = &producer.client_cert_name {
        if !cert.has(name) {
            return Err(
                "the client certificate does not carry the name of the producer this token belongs to (client_cert_name)",
            );
        }
    }
    let other = rt.config.producers.iter().any(|p| {
        p.name != producer.name && p.client_cert_name.as_deref().is_some_and(|n| cert.has(n))
    });
    if other {
        return Err(
            "the client certificate belongs to another producer than this token (client_cert_name)",
        );
    }
    Ok(())
}

fn with_retry_after(mut r: Resp, wait: std::time::Duration) -> Resp {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    r.headers_mut().insert(
        header::RETRY_AFTER,
        secs.to_string().parse().expect("ascii"),
    );
    r
}

/// Refused-request warnings (wrong tokens, certificates), once per 10 s
/// per kind with a count: a flood of them writes a line, not a line each.
static REFUSED: crate::util::LogLimiter = crate::util::LogLimiter::new();

pub async fn handle(app: &Arc<App>, req: Request<Incoming>) -> Resp {
    let rt = app.runtime();
    let Some(producer) = server::bearer(&req).and_then(|t| producer_of(&rt, t)) else {
        if let Some(held) = REFUSED.allow("token") {
            tracing::warn!(
                "ingest refused: missing or unknown producer token{}",
                crate::util::held_back(held)
            );
        }
        let r = server::unauthorized(
            "missing or invalid producer token (Authorization: Bearer <token>)",
        );
        return server::refuse(req, r).await;
    };
    let cert = req.extensions().get::<Arc<crate::tls::ClientCert>>();
    if let Err(msg) = check_client_cert(&rt, producer, cert.map(|c| &**c)) {
        if let Some(held) = REFUSED.allow(&producer.name) {
            tracing::warn!(producer = %producer.name, "ingest refused: client certificate does not match the producer{}", crate::util::held_back(held));
        }
        return server::refuse(req, error(StatusCode::FORBIDDEN, msg)).await;
    }
    // Global Privacy Control: `Sec-GPC: 1` applies to every event of the
    // request, as `consent.gpc = true` would.
    let request = RequestSignals {
        sec_gpc: req
            .headers()
            .get("sec-gpc")
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"1"),
    };
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let Some(form) = body_form(ct) else {
        let r = error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json or application/x-ndjson",
        );
        return server::refuse(req, r).await;
    };
    let gz = match req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.as_bytes())
    {
        None => Some(false),
        Some(e) if e.eq_ignore_ascii_case(b"gzip") || e.eq_ignore_ascii_case(b"x-gzip") => {
            Some(true)
        }
        Some(e) if e.eq_ignore_ascii_case(b"identity") => Some(false),
        Some(_) => None,
    };
    let Some(gz) = gz else {
        let r = error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding must be gzip or absent",
        );
        return server::refuse(req, r).await;
    };
    // Bounded work: beyond max_in_flight_requests (or this producer's
    // share of it), a quick 503 instead of unbounded memory.
    let server_cfg = &rt.config.server;
    let _in_flight = match app.in_flight.enter_as(
        &producer.name,
        server_cfg.max_in_flight_requests,
        server_cfg.max_in_flight_per_producer,
    ) {
        Ok(g) => g,
        Err(which) => {
            app.metrics.overloaded.inc();
            let msg = match which {
                crate::quota::Overload::All => {
                    "gateway overloaded (server.max_in_flight_requests); retry later".to_string()
                }
                crate::quota::Overload::Producer => format!(
                    "producer \"{}\" has too many requests in flight (server.max_in_flight_per_producer); retry later",
                    producer.name
                ),
            };
            let r = error(StatusCode::SERVICE_UNAVAILABLE, &msg);
            return server::refuse(req, with_retry_after(r, std::time::Duration::from_secs(1)))
                .await;
        }
    };
    let limit = server_cfg.max_body_bytes as usize;
    let max_events = server_cfg.max_events_per_body;
    let raw = match server::read_body(req, limit).await {
        Ok(b) => b,
        Err(e) => return e.response(limit as u64, Some("server.max_body_bytes")),
    };
    let ndjson = form == BodyForm::Ndjson;
    let body: Bytes = if gz {
        match gunzip_bounded(&raw, limit, ndjson.then_some(max_events)) {
            Ok(v) => Bytes::from(v),
            Err(r) => return r,
        }
    } else {
        if ndjson {
            let mut lines = LineCount::default();
            lines.feed(&raw);
            if lines.total() > max_events {
                return too_many_events(max_events);
            }
        }
        raw
    };
    let items = match split_body(&body, form) {
        Ok(i) => i,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    if items.len() > max_events {
        return too_many_events(max_events);
    }
    if let Some(q) = &producer.quota {
        if let Err(wait) = app.quotas.take(
            &producer.name,
            q,
            items.len() as u64,
            std::time::Instant::now(),
        ) {
            app.metrics
                .throttled
                .with_label_values(&[&producer.name])
                .inc_by(items.len() as u64);
            let r = error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "producer \"{}\" is over its quota ({} events/s); nothing from this request was accepted, retry after Retry-After",
                    producer.name, q.rate
                ),
            );
            return with_retry_after(r, wait);
        }
    }
    ingest_items(app, &rt, &producer.name, items, request).await
}

async fn ingest_items(
    app: &Arc<App>,
    rt: &crate::app::Runtime,
    producer: &str,
    items: Vec<Item<'_>>,
    request: RequestSignals,
) -> Resp {
    let m = &app.metrics;
    let now = now_ms();
    let n_partners = rt.policy.partners.len();
    let mut staging = app.outbox.staging(n_partners);
    // Counted only once the write succeeded.
    let mut drops: Vec<[u64; DropReason::ALL.len()]> = vec![[0; DropReason::ALL.len()]; n_partners];
    let mut omitted: Vec<[u64; 1]> = vec![[0; 1]; n_partners];
    let mut errors = Vec::new();
    let mut rejected = 0u64;
    let mut rejected_by_reason = [0u64; 3];
    let mut accepted = 0u64;
    let mut duplicates = 0u64;
    // Until the outbox writes are handed over, every return, a panic and
    // the future being dropped undo the idempotency entries added here.
    let mut undo = Undo {
        dedup: &app.dedup,
        hashes: Vec::new(),
    };
    for (index, item) in items.iter().enumerate() {
        let ev = match item.parse() {
            Ok(ev) => ev,
            Err(rej) => {
                rejected_by_reason[rej.reason as usize] += 1;
                rejected += 1;
                if errors.len() < MAX_ERRORS_LISTED {
                    errors.push(serde_json::json!({
                        "index": index,
                        "error": format!("{}: {}", rej.reason.as_str(), rej.message),
                    }));
                }
                continue;
            }
        };
        accepted += 1;
        let event_hash = app.hasher.event(&ev.event_id);
        if app.dedup.check_and_insert(event_hash, now) {
            duplicates += 1;
            continue;
        }
        undo.hashes.push(event_hash);
        let eval = rt.policy.evaluate_with(&ev, &*app.optouts, request);
        for (i, outcome) in eval.outcomes.iter().enumerate() {
            match outcome {
                Outcome::Route(s) => {
                    let no = (undo.hashes.len() - 1) as u32;
                    staging.add(i, s, now, &event_hash, no);
                    for o in &eval.omitted[i] {
                        let k = crate::policy::OMISSION_REASONS
                            .iter()
                            .position(|r| *r == o.reason)
                            .unwrap_or(0);
                        omitted[i][k] += 1;
                    }
                }
                Outcome::Drop(r) => drops[i][*r as usize] += 1,
            }
        }
    }

    // Not one event was JSON: the body is not JSON, an array or NDJSON.
    if accepted == 0
        && !items.is_empty()
        && rejected_by_reason[RejectReason::InvalidJson as usize] == items.len() as u64
    {
        return error(StatusCode::BAD_REQUEST, NOT_JSON);
    }
    m.events_received
        .with_label_values(&[producer])
        .inc_by(items.len() as u64);

    let targets: Vec<outbox::Target> = rt
        .policy
        .partners
        .iter()
        .map(|p| outbox::Target {
            name: &p.name,
            on_full: rt
                .config
                .partner(&p.name)
                .map_or(OnFull::Reject, |c| c.on_full),
        })
        .collect();
    // An error returns with `undo` still holding the hashes: its drop takes
    // them out of the idempotency window, so a retry is routed.
    let written = match app.outbox.write(staging, &targets, undo.hashes.len()).await {
        Ok(w) => w,
        Err(e) => return unavailable(&e.message),
    };
    // Durable everywhere: the events stay in the idempotency window.
    undo.hashes.clear();
    let reply = Reply {
        routed: written.routed,
        drops,
        omitted,
        rejected_by_reason,
        accepted,
        duplicates: duplicates + written.duplicates,
        rejected,
        errors,
    };
    reply.send(app, rt, producer)
}

/// What a request did, counted once its events are durable.
struct Reply {
    /// Events newly stored per partner (policy order).
    routed: Vec<u64>,
    drops: Vec<[u64; DropReason::ALL.len()]>,
    /// Fields left out per partner, by `crate::policy::OMISSION_REASONS`.
    omitted: Vec<[u64; 1]>,
    rejected_by_reason: [u64; 3],
    accepted: u64,
    duplicates: u64,
    /// Events rejected; the first [`MAX_ERRORS_LISTED`] are in `errors`.
    rejected: u64,
    errors: Vec<serde_json::Value>,
}

impl Reply {
    fn send(self, app: &Arc<App>, rt: &crate::app::Runtime, producer: &str) -> Resp {
        let m = &app.metrics;
        for (i, p) in rt.policy.partners.iter().enumerate() {
            if self.routed[i] > 0 {
                m.events_routed
                    .with_label_values(&[&p.name])
                    .inc_by(self.routed[i]);
            }
            for (k, reason) in crate::policy::OMISSION_REASONS.iter().enumerate() {
                if self.omitted[i][k] > 0 {
                    m.fields_omitted
                        .with_label_values(&[&p.name, reason])
                        .inc_by(self.omitted[i][k]);
                }
            }
            for r in DropReason::ALL {
                let n = self.drops[i][r as usize];
                if n > 0 {
                    m.events_dropped
                        .with_label_values(&[&p.name, r.as_str()])
                        .inc_by(n);
                }
            }
        }
        for r in crate::event::RejectReason::ALL {
            let n = self.rejected_by_reason[r as usize];
            if n > 0 {
                m.events_rejected.with_label_values(&[r.as_str()]).inc_by(n);
            }
        }
        if self.duplicates > 0 {
            m.duplicates
                .with_label_values(&[producer])
                .inc_by(self.duplicates);
        }
        let listed = self.errors.len() as u64;
        let mut reply = serde_json::json!({
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "errors": self.errors,
        });
        if self.rejected > listed {
            reply["errors_truncated"] = (self.rejected - listed).into();
        }
        server::json(StatusCode::ACCEPTED, &reply)
    }
}

/// A 503 with `Retry-After`: storage (or JetStream) could not take the
/// write now; nothing was acknowledged.
pub fn unavailable(msg: &str) -> Resp {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, msg);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        RETRY_AFTER_SECONDS.to_string().parse().expect("ascii"),
    );
    r
}

/// What a request has done that must be taken back unless its events were
/// written: its idempotency entries (else a retry would be taken for a
/// duplicate and never routed, losing the events). Dropped on every exit,
/// on a panic unwinding, and when the client goes away and hyper drops the
/// request future (the outbox gives back room it reserved the same way).
struct Undo<'a> {
    dedup: &'a crate::dedup::Dedup,
    hashes: Vec<crate::identity::SubjectHash>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        for h in &self.hashes {
            self.dedup.remove(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(body: &str, form: BodyForm) -> Result<(usize, usize), &'static str> {
        let items = split_body(body.as_bytes(), form)?;
        let bad = items.iter().filter(|i| matches!(i, Item::Bad(_))).count();
        Ok((items.len(), bad))
    }

    #[test]
    fn a_panic_before_the_write_undoes_idempotency_entries() {
        let dedup = crate::dedup::Dedup::new(100);
        let h = [7u8; 16];
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut undo = Undo {
                dedup: &dedup,
                hashes: Vec::new(),
            };
            assert!(!dedup.check_and_insert(h, 1));
            undo.hashes.push(h);
            panic!("a policy bug");
        }));
        assert!(unwound.is_err());
        assert!(
            !dedup.check_and_insert(h, 2),
            "the retry is routed, not taken for a duplicate"
        );
    }

    #[test]
    fn body_forms() {
        assert_eq!(count(r#"{"a":1}"#, BodyForm::Json), Ok((1, 0)));
        assert_eq!(count(r#"[{"a":1}, 2]"#, BodyForm::Json), Ok((2, 0)));
        assert_eq!(
            count("{\"a\":1}\n{bad\n\n{\"b\":2}\n", BodyForm::Ndjson),
            Ok((3, 0))
        );
        assert_eq!(count("{\"a\":1}\n{\"b\":2}", BodyForm::Json), Ok((2, 0)));
        // Not JSON at all: split as one NDJSON line; the event parser rejects
        // it and the handler answers 400 since nothing was JSON.
        assert_eq!(count("{not json", BodyForm::Json), Ok((1, 0)));
        assert!(count("\u{ff}\u{fe}", BodyForm::Ndjson).is_ok());
        assert!(count("   ", BodyForm::Ndjson).is_err());
        assert!(count("42", BodyForm::Json).is_err());
        assert_eq!(body_form(Some("text/plain")), None);
        assert_eq!(
            body_form(Some("application/x-ndjson; charset=utf-8")),
            Some(BodyForm::Ndjson)
        );
    }
}
