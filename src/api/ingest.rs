//! `POST /v1/events` (see docs/http-api.md): the producer's token (and
//! client certificate), body forms (JSON object, array, NDJSON, gzip),
//! size limits and quotas; the events then go through crate::ingest.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::config::Producer;
use crate::ingest::decode::{body_form, split_body, BodyForm};
use crate::policy::RequestSignals;
use crate::web::{self, error, Resp};

/// Inflates gzip, failing above `limit` bytes of output (gzip bombs get a
/// 413, not an OOM).
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Resp> {
    gunzip_bounded(body, limit, None)
}

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
    /// Line ends are found with `memchr` and a line's content from its
    /// first non-blank byte (an event's `{`), not byte by byte: counting
    /// took 6 % of ingest's CPU when every byte went through a branch.
    fn feed(&mut self, chunk: &[u8]) {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            if self.content || has_content(&chunk[start..nl]) {
                self.lines += 1;
            }
            self.content = false;
            start = nl + 1;
        }
        self.content = self.content || has_content(&chunk[start..]);
    }

    fn total(&self) -> usize {
        self.lines + usize::from(self.content)
    }
}

fn has_content(line: &[u8]) -> bool {
    line.iter().any(|b| !b.is_ascii_whitespace())
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
    let Some(producer) = web::bearer(&req).and_then(|t| producer_of(&rt, t)) else {
        if let Some(held) = REFUSED.allow("token") {
            tracing::warn!(
                "ingest refused: missing or unknown producer token{}",
                crate::util::held_back(held)
            );
        }
        let r =
            web::unauthorized("missing or invalid producer token (Authorization: Bearer <token>)");
        return web::refuse(req, r).await;
    };
    let cert = req.extensions().get::<Arc<crate::tls::ClientCert>>();
    if let Err(msg) = check_client_cert(&rt, producer, cert.map(|c| &**c)) {
        if let Some(held) = REFUSED.allow(&producer.name) {
            tracing::warn!(producer = %producer.name, "ingest refused: client certificate does not match the producer{}", crate::util::held_back(held));
        }
        return web::refuse(req, error(StatusCode::FORBIDDEN, msg)).await;
    }
    // Global Privacy Control: `Sec-GPC: 1` applies to every event of the
    // request, as `consent.gpc = true` would. Every line of the header
    // counts, and every comma-separated value of a line: `Sec-GPC: 0`
    // then `Sec-GPC: 1` is an opt-out. The structured-field boolean `?1`
    // (RFC 8941, as some clients write it, with or without parameters) is
    // an opt-out too.
    // `DNT: 1` (Do Not Track) is read the same way: adgate honours it
    // although browsers have retired it, since a person who set it asked
    // not to be tracked.
    let header_set = |name: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.as_bytes().split(|&b| b == b',').any(|x| {
                // A structured field's parameters (`?1;src=browser`) do not
                // change its value.
                // A value quoted or written as a word (`"1"`, `true`) is
                // read as the `1` its sender meant.
                let value = x.split(|&b| b == b';').next().unwrap_or_default();
                let value = value.trim_ascii();
                let value = value
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(value);
                matches!(value, b"1" | b"?1") || value.eq_ignore_ascii_case(b"true")
            })
        })
    };
    // `X-Do-Not-Track: 1`, the header some browsers sent before `DNT`.
    let request = RequestSignals {
        sec_gpc: header_set("sec-gpc"),
        dnt: header_set("dnt") || header_set("x-do-not-track"),
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
        return web::refuse(req, r).await;
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
        return web::refuse(req, r).await;
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
                crate::ingest::quota::Overload::All => {
                    "gateway overloaded (server.max_in_flight_requests); retry later".to_string()
                }
                crate::ingest::quota::Overload::Producer => format!(
                    "producer \"{}\" has too many requests in flight (server.max_in_flight_per_producer); retry later",
                    producer.name
                ),
            };
            let r = error(StatusCode::SERVICE_UNAVAILABLE, &msg);
            return web::refuse(req, with_retry_after(r, std::time::Duration::from_secs(1))).await;
        }
    };
    let limit = server_cfg.max_body_bytes as usize;
    let max_events = server_cfg.max_events_per_body;
    let raw = match web::read_body(req, limit).await {
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
    crate::ingest::ingest_items(
        app.writer(),
        &rt.config,
        &rt.policy,
        &producer.name,
        items,
        request,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::LineCount;
    use proptest::prelude::*;

    /// The count, byte by byte: a line counts when it holds a byte that is
    /// not ASCII whitespace.
    fn naive(body: &[u8]) -> usize {
        body.split(|b| *b == b'\n')
            .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
            .count()
    }

    proptest! {
        #[test]
        fn counts_the_non_blank_lines_however_the_body_is_cut(
            body in proptest::collection::vec(prop_oneof![
                Just(b'\n'), Just(b' '), Just(b'\r'), Just(b'\t'), Just(b'{'), Just(b'x')
            ], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut count = LineCount::default();
            let mut at = 0;
            for c in cuts.into_iter().chain([body.len()]) {
                count.feed(&body[at..c]);
                at = c;
            }
            prop_assert_eq!(count.total(), naive(&body));
        }
    }
}
