//! `POST /v1/access` (admin token): what partners received about one
//! subject, for answering a subject access request.
//!
//! The body names one identifier, as for opt-outs and forget. The answer
//! lists every partner that was delivered (push 2xx, pull commit) or still
//! has queued events carrying that identifier:
//!
//! - `delivered`, first and last delivery time: from the ledger
//!   ([`crate::privacy::ledger`]; fleet-wide on the JetStream backend,
//!   [`crate::privacy::fleet`]), which keeps keyed subject hashes and
//!   counts for `privacy.access_retention_days`;
//! - `queued`: events of the subject waiting in the partner's outbox now
//!   (scanned like forget does), not yet acknowledged;
//! - `ad_ids`: per ad_id_type and key id the events were sent under, the
//!   ad_id the partner knows the subject by, recomputed now from the
//!   submitted identifier with that partner key. It is `null`, with a
//!   `note`, when the events were keyed by another identifier of the person
//!   (ask with that one) or the key is no longer configured, and for a
//!   partner whose profile sends plain SHA-256 instead of an ad_id (see
//!   docs/profiles.md; `ad_id_type` is then the first identifier sent).
//!
//! Partners that received nothing about the subject are absent. The
//! identifier is never stored or logged; nothing is written by this call.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use serde::Serialize;

use crate::app::App;
use crate::identity::Kind;
use crate::privacy::ledger::{ad_id_of, cutoff_day, day_start_ms};
use crate::util::now_ms;
use crate::web::{self, Resp};

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AccessResponse {
    /// The kind of identifier asked about.
    pub identifier_type: &'static str,
    pub retention_days: u64,
    /// The first UTC day the ledger still covers (RFC 3339 date).
    pub covers_since: String,
    pub partners: Vec<PartnerAccess>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PartnerAccess {
    pub partner: String,
    pub delivered: u64,
    pub first_delivered_at: Option<String>,
    pub last_delivered_at: Option<String>,
    pub queued: u64,
    pub ad_ids: Vec<AdIdEntry>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AdIdEntry {
    pub ad_id_type: String,
    pub key_id: String,
    pub ad_id: Option<String>,
    pub delivered: u64,
    pub queued: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn date(ms: u64) -> String {
    rfc3339(ms)[..10].to_owned()
}

/// (partner, ad_id_type, key id): one line of the answer.
type Line = (String, String, String);

/// Delivered, first and last delivery ms, queued.
#[derive(Debug, Clone, Copy)]
struct Counts {
    delivered: u64,
    first_ms: u64,
    last_ms: u64,
    queued: u64,
}

/// Events of `subject` waiting in each outbox, by partner, ad_id_type and
/// key id. Blocking file I/O.
/// Events of `subject` waiting in the outboxes, per (partner, ad_id
/// type, key id).
fn queued(items: Vec<(String, bytes::Bytes)>) -> BTreeMap<Line, u64> {
    let mut out = BTreeMap::new();
    for (partner, payload) in items {
        if let Some((k, id)) = ad_id_of(&payload) {
            *out.entry((partner, k.as_str().to_owned(), id.as_str().to_owned()))
                .or_insert(0) += 1;
        }
    }
    out
}

/// Answers an access request for the identifier `normalized` of `kind`
/// (`raw` as the request wrote it).
pub async fn handle(app: &Arc<App>, kind: Kind, normalized: String, raw: &str) -> Resp {
    // The exact subject, then the pre-hashed ones: an event that carried
    // the person's email only as `user.email_sha256` is recorded under the
    // latter, and a record carries at most one of them per kind, so
    // nothing is counted twice.
    let subjects = crate::api::admin::recorded_subjects(&app.hasher, kind, Some(&normalized), raw);
    let mut rows = Vec::new();
    for s in &subjects {
        match app.privacy.access(*s).await {
            Ok(r) => rows.extend(r),
            Err(e) => {
                tracing::error!(error = %e, "access: cannot read the ledger");
                // Storage that does not answer now (JetStream away, a disk
                // failing): the same request succeeds later.
                return crate::web::unavailable(
                    "the subject-access ledger could not be read; retry after Retry-After",
                );
            }
        }
    }
    // Acks sent before the ledger answered are applied before the scan, so
    // an event the ledger counts as delivered is not counted as queued too.
    // (Delivery acks, then records: an event acknowledged in the very
    // microseconds of this request can be missing from both, never in both.)
    let waiting = match app.outbox.queued(&subjects).await {
        Ok(q) => queued(q),
        Err(e) => {
            tracing::error!(error = %e, "access: cannot scan the outboxes");
            return crate::web::unavailable(
                "the outboxes could not be read; retry after Retry-After",
            );
        }
    };
    let rt = app.runtime();
    let config = &rt.config;

    let mut merged: BTreeMap<Line, Counts> = BTreeMap::new();
    for r in rows {
        let c = merged
            .entry((r.partner, r.ad_id_type, r.key_id))
            .or_insert(Counts {
                delivered: 0,
                first_ms: u64::MAX,
                last_ms: 0,
                queued: 0,
            });
        c.delivered += r.events;
        c.first_ms = c.first_ms.min(r.first_ms);
        c.last_ms = c.last_ms.max(r.last_ms);
    }
    for (k, n) in waiting {
        merged
            .entry(k)
            .or_insert(Counts {
                delivered: 0,
                first_ms: 0,
                last_ms: 0,
                queued: 0,
            })
            .queued += n;
    }

    let mut partners: Vec<PartnerAccess> = Vec::new();
    for ((partner, ad_id_type, key_id), c) in merged {
        let Counts {
            delivered,
            first_ms: first,
            last_ms: last,
            queued,
        } = c;
        if partners.last().map(|p| p.partner.as_str()) != Some(partner.as_str()) {
            partners.push(PartnerAccess {
                partner: partner.clone(),
                delivered: 0,
                first_delivered_at: None,
                last_delivered_at: None,
                queued: 0,
                ad_ids: Vec::new(),
            });
        }
        let p = partners.last_mut().expect("pushed above");
        p.delivered += delivered;
        p.queued += queued;
        if delivered > 0 {
            let f = rfc3339(first);
            let l = rfc3339(last);
            if p.first_delivered_at.as_ref().is_none_or(|x| f < *x) {
                p.first_delivered_at = Some(f);
            }
            if p.last_delivered_at.as_ref().is_none_or(|x| l > *x) {
                p.last_delivered_at = Some(l);
            }
        }
        let profile = config
            .partner(&partner)
            .filter(|pc| pc.linkable())
            .map(|pc| pc.profile);
        let (ad_id, note) = if let Some(profile) = profile {
            (
                None,
                Some(format!(
                    "partner {partner} uses the {profile} profile: it received plain SHA-256 of the person's identifiers (first: {ad_id_type}), not an ad_id; see docs/profiles.md"
                )),
            )
        } else if ad_id_type != kind.as_str() {
            (
                None,
                Some(format!(
                    "these events were keyed by the person's {ad_id_type}; ask with that identifier to see this ad_id"
                )),
            )
        } else {
            match config.partner(&partner) {
                None => (
                    None,
                    Some(format!(
                        "partner {partner} is no longer in the config, so this ad_id cannot be recomputed"
                    )),
                ),
                Some(pc) => match pc.keys.iter().find(|k| k.id == key_id) {
                    Some(k) => (Some(k.partner_key().ad_id(kind, &normalized)), None),
                    None => (
                        None,
                        Some(format!(
                            "key {key_id} of {partner} is no longer configured, so this ad_id cannot be recomputed"
                        )),
                    ),
                },
            }
        };
        p.ad_ids.push(AdIdEntry {
            ad_id_type,
            key_id,
            ad_id,
            delivered,
            queued,
            note,
        });
    }
    let retention_days = config.privacy.access_retention_days;
    let body = AccessResponse {
        identifier_type: kind.as_str(),
        retention_days,
        covers_since: date(day_start_ms(cutoff_day(now_ms(), retention_days))),
        partners,
    };
    app.metrics.access_requests.inc();
    tracing::info!(
        kind = kind.as_str(),
        partners = body.partners.len(),
        "subject access request answered"
    );
    web::json(
        StatusCode::OK,
        &serde_json::to_value(&body).expect("serializable"),
    )
}
