//! The admin API (see docs/http-api.md), behind the admin token: opt-outs, forget,
//! subject access (`POST /v1/access`, answered by [`crate::api::access`]) and
//! `POST /admin/reload`.
//!
//! The body names exactly one identifier; it is normalized like an event's
//! and hashed with the internal key before anything is stored or searched.
//! The raw value is never logged or written.

use std::borrow::Cow;
use std::sync::Arc;

use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::identity::{self, Kind, SubjectHash, SubjectHasher};
use crate::metrics::events::StorageWriteFailed;
use crate::metrics::Store;
use crate::notice::NoticeType;
use crate::web::{self, error, Resp};

fn authorized(app: &App, req: &Request<Incoming>) -> Result<(), Resp> {
    let rt = app.runtime();
    let Some(admin) = rt.config.admin_token.as_ref() else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "the admin API is disabled: no [admin] token is configured",
        ));
    };
    match web::bearer(req) {
        Some(t) if admin.ct_eq(t) => Ok(()),
        _ => Err(web::unauthorized("missing or invalid admin token")),
    }
}

/// What an opt-out or forget names, hashed with the internal key.
struct Named {
    kind: Kind,
    /// The identifier normalized; `None` when it does not normalize, e.g. a
    /// national phone number without `privacy.default_phone_country`.
    normalized: Option<String>,
    /// The hashes the person's outbox records and ledger rows carry
    /// ([`recorded_subjects`]).
    recorded: Vec<SubjectHash>,
    /// Keyed hashes of the lenient match forms (crate::identity::match_forms),
    /// stored in the opt-out list so an event carrying the identifier in an
    /// unusual shape is still stopped (no record carries them).
    lenient: Vec<SubjectHash>,
    /// The identifier as the request wrote it.
    raw: String,
}

/// The subject hashes a person's outbox records and ledger rows carry: the
/// keyed hash of their normalized identifier, and one per SHA-256 a producer
/// may send for them (crate::profile::prehashed_forms; an event carrying
/// only that names the person too). A digest is the person's whichever
/// field it arrives in: the hash of an email sent as `user.phone_sha256`,
/// or as an account id, is still theirs, so each digest is kept under both
/// pre-hashed tags (identity::SubjectHasher::prehashed). Opt-outs, forget,
/// notices and access requests all look for these.
pub fn recorded_subjects(
    hasher: &SubjectHasher,
    kind: Kind,
    normalized: Option<&str>,
    raw: &str,
) -> Vec<SubjectHash> {
    let digests = crate::profile::prehashed_forms(kind, raw, normalized);
    normalized
        .map(|n| hasher.subject(kind, n))
        .into_iter()
        .chain(
            digests.iter().flat_map(|d| {
                [Kind::Email, Kind::Phone].map(|tag| hasher.prehashed(tag, d.as_str()))
            }),
        )
        .collect()
}

fn optout_subjects(app: &App, body: &[u8]) -> Result<Named, &'static str> {
    let (kind, raw) = raw_identifier_of(body)?;
    let country = app.runtime().config.privacy.default_phone_country;
    let normalized = identity::normalize_with(kind, &raw, country).map(Cow::into_owned);
    let recorded = recorded_subjects(&app.hasher, kind, normalized.as_deref(), &raw);
    let lenient: Vec<SubjectHash> = identity::match_forms(kind, &raw, country)
        .iter()
        .map(|f| app.hasher.matched(kind, f))
        .collect();
    if normalized.is_none() && lenient.is_empty() {
        return Err(invalid_identifier(kind));
    }
    Ok(Named {
        kind,
        normalized,
        recorded,
        lenient,
        raw,
    })
}

fn invalid_identifier(kind: Kind) -> &'static str {
    match kind {
        Kind::Email => "email is not a valid email address",
        Kind::Phone => "phone is not a valid E.164 number (+ and 8-15 digits)",
        Kind::AccountId => "account_id is empty",
        Kind::DeviceId => "device_id is empty",
    }
}

/// Parses `{"email": ...}` (or phone / account_id / device_id) into the
/// identifier's kind, normalized value and the value as sent (for `POST
/// /v1/access`, which recomputes ad_ids from it; never stored).
pub fn identifier_of(body: &[u8]) -> Result<(Kind, String, String), &'static str> {
    let (kind, raw) = raw_identifier_of(body)?;
    let norm = identity::normalize(kind, &raw).ok_or(invalid_identifier(kind))?;
    Ok((kind, norm.into_owned(), raw))
}

/// The one identifier a body names, as sent. Read by the event parser, so
/// a key given twice (`{"email": A, "email": B}`) is refused, not read as
/// one of the two.
fn raw_identifier_of(body: &[u8]) -> Result<(Kind, String), &'static str> {
    const NOT_AN_OBJECT: &str =
        "body must be a JSON object naming one identifier, e.g. {\"email\": \"...\"}";
    let text = std::str::from_utf8(body).map_err(|_| NOT_AN_OBJECT)?;
    // A byte order mark some tools write before JSON (RFC 8259 lets a
    // reader ignore it).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let members = crate::json::parse_object(text).map_err(|e| match e {
        crate::json::Error::DuplicateKey { .. } => {
            "the body names the same identifier twice; name exactly one"
        }
        _ => NOT_AN_OBJECT,
    })?;
    let mut found = None;
    for (k, val) in &members {
        let Some(kind) = Kind::parse(k) else {
            return Err(
                "unknown key: the body may only hold one of email, phone, account_id, device_id",
            );
        };
        if found.is_some() {
            return Err("the body must name exactly one identifier");
        }
        let Some(s) = crate::event::as_str(*val) else {
            return Err("the identifier must be a string");
        };
        found = Some((kind, s.into_owned()));
    }
    found.ok_or("the body must name one of email, phone, account_id, device_id")
}

/// Queues the notices of an opt-out or forget (crate::notice); a subject
/// without a normalized form has no ad_id anywhere, so nobody to notify.
async fn notify(
    app: &Arc<App>,
    t: NoticeType,
    kind: Kind,
    (normalized, raw): (Option<&str>, &str),
    subjects: &[SubjectHash],
) -> Result<Vec<String>, Resp> {
    let Some(norm) = normalized else {
        return Ok(Vec::new());
    };
    // Every replica's deliveries up to this opt-out are in the ledger
    // before it says whom to notify (a wait on the JetStream backend only).
    app.privacy.barrier().await;
    let rt = app.runtime();
    let notifier = crate::notice::Notifier {
        privacy: &app.privacy,
        outbox: &app.outbox,
        hasher: &app.hasher,
        metrics: &app.metrics,
        config: &rt.config,
    };
    crate::notice::notify(notifier, t, kind, (norm, raw), subjects)
        .await
        .map_err(|e| {
            app.metrics.emit(StorageWriteFailed {
                store: Store::Notice,
                partner: None,
                count: 1,
                error: &e,
                consequence: "cannot queue notices to partners",
                log: true,
            });
            crate::web::unavailable(
                "notices to partners could not be queued durably; the opt-out is recorded, retry after Retry-After to notify",
            )
        })
}

pub async fn handle(app: &Arc<App>, route: &'static str, req: Request<Incoming>) -> Resp {
    if let Err(r) = authorized(app, &req) {
        return web::refuse(req, r).await;
    }
    if route == "/admin/reload" {
        return match app.request_reload().await {
            Ok(()) => web::json(StatusCode::OK, &serde_json::json!({"reloaded": true})),
            Err(e) => error(
                StatusCode::BAD_REQUEST,
                &format!("config refused, the running config stays: {e}"),
            ),
        };
    }
    let body = match web::read_body(req, web::SMALL_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return e.response(web::SMALL_BODY_BYTES as u64, None),
    };
    if route == "/v1/access" {
        return match identifier_of(&body) {
            Ok((kind, norm, raw)) => crate::api::access::handle(app, kind, norm, &raw).await,
            Err(msg) => error(StatusCode::BAD_REQUEST, msg),
        };
    }
    let named = match optout_subjects(app, &body) {
        Ok(s) => s,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let kind = named.kind;
    // The opt-out is durable before anything else, so events accepted after
    // this answer are never routed.
    let forget = route == "/v1/forget";
    let mut added = false;
    let stored = named.recorded.iter().chain(&named.lenient).copied();
    for h in stored {
        let r = app.outbox.add_optout(h, forget).await;
        match r {
            Ok(a) => added |= a,
            Err(e) => {
                app.metrics.emit(StorageWriteFailed {
                    store: Store::OptOut,
                    partner: None,
                    count: 1,
                    error: &e,
                    consequence: "cannot write the opt-out list",
                    log: true,
                });
                return crate::web::unavailable(
                    "the opt-out could not be stored durably (storage write failed); retry after Retry-After",
                );
            }
        }
    }
    if added {
        app.metrics
            .optouts
            .with_label_values(&[kind.as_str()])
            .inc();
    }
    if route == "/v1/optouts" {
        // Every call notifies (a partner applies a notice idempotently), so
        // a call answered 503 below is completed by its retry.
        let notified = match notify(
            app,
            NoticeType::OptedOut,
            kind,
            (named.normalized.as_deref(), &named.raw),
            &named.recorded,
        )
        .await
        {
            Ok(n) => n,
            Err(r) => return r,
        };
        tracing::info!(
            kind = kind.as_str(),
            new = added,
            notified = notified.len(),
            "opt-out recorded"
        );
        return web::json(
            StatusCode::OK,
            &serde_json::json!({"opted_out": true, "notified": notified}),
        );
    }
    // Only the lenient hashes, when the identifier does not normalize:
    // no record carries those, so there is nothing to purge.
    let purged = if named.recorded.is_empty() {
        Ok(0)
    } else {
        app.outbox.purge(&named.recorded).await
    };
    match purged {
        Ok(n) => {
            app.metrics.forget_purged.inc_by(n);
            // Notices are queued (durably) before the ledger that says who
            // to notify is erased: a failure here answers 503 and the retry
            // finds the ledger whole; a repeat after success notifies no one.
            let notified = match notify(
                app,
                NoticeType::Deleted,
                kind,
                (named.normalized.as_deref(), &named.raw),
                &named.recorded,
            )
            .await
            {
                Ok(n) => n,
                Err(r) => return r,
            };
            // The ledger of what partners received goes too (after the
            // purge, so nothing purged is recorded as delivered after it).
            let erased = async {
                let mut rows = 0;
                for h in &named.recorded {
                    rows += app.privacy.forget(*h).await?;
                }
                Ok::<u64, std::io::Error>(rows)
            };
            let ledger_rows = match erased.await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "forget: ledger erase failed");
                    return crate::web::unavailable(
                        "the subject-access ledger could not be erased; the opt-out is recorded and queued events purged, retry after Retry-After",
                    );
                }
            };
            app.metrics.forget_requests.inc();
            tracing::info!(
                kind = kind.as_str(),
                purged = n,
                ledger_rows,
                notified = notified.len(),
                "forget: opt-out recorded, queued events purged, partners notified, ledger rows erased"
            );
            web::json(
                StatusCode::OK,
                &serde_json::json!({"purged": n, "notified": notified}),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "forget: purge failed");
            crate::web::unavailable(
                "purge failed (storage write failed); the opt-out is recorded, retry after Retry-After to purge",
            )
        }
    }
}
