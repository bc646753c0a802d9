//! The write path of `POST /v1/events` (see docs/http-api.md): per-event
//! validation, the idempotency window, the policy, and the durable write
//! to every partner outbox before the 202. The HTTP side (auth, body
//! forms, gzip, quotas) is crate::api::ingest.

pub mod decode;
pub mod dedup;
pub mod journal;
pub mod quota;

use http::StatusCode;

use crate::config::{Config, OnFull};
use crate::event::RejectReason;
use crate::identity::SubjectHasher;
use crate::metrics::Metrics;
use crate::optout::OptOutStore;
use crate::outbox::{self, Store};
use crate::policy::{DropReason, Outcome, Policy, RequestSignals};
use crate::util::now_ms;
use crate::web::{self, Resp};
use decode::Item;
use dedup::Dedup;

/// Rejected events listed in a 202's `errors` (by index); the rest are
/// counted in `errors_truncated`.
pub const MAX_ERRORS_LISTED: usize = 100;

/// Events a request scrubs between two turns given back to the runtime:
/// a body of the load generator's and the README's size (500) runs
/// without one.
pub const YIELD_EVERY: usize = 512;

/// What the write path needs of the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub outbox: &'a Store,
    pub dedup: &'a Dedup,
    /// Where the idempotency window's entries are kept across restarts
    /// (`None` where nothing is served: tests).
    pub journal: Option<&'a journal::Journal>,
    pub hasher: &'a SubjectHasher,
    pub optouts: &'a OptOutStore,
    pub metrics: &'a Metrics,
}

/// Validates, de-duplicates, scrubs and stores `items`, one request's
/// events from `producer`; answers the request.
pub async fn ingest_items(
    w: Writer<'_>,
    config: &Config,
    policy: &Policy,
    producer: &str,
    items: Vec<Item<'_>>,
    request: RequestSignals,
) -> Resp {
    let m = w.metrics;
    let now = now_ms();
    let n_partners = policy.partners.len();
    let mut staging = w.outbox.staging(n_partners, items.len());
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
        dedup: w.dedup,
        hashes: Vec::new(),
    };
    for (index, item) in items.iter().enumerate() {
        // A body is milliseconds of CPU (about 10 us an event): the turn
        // goes back to the runtime every YIELD_EVERY events, so that
        // /metrics, health probes and small requests wait for at most that
        // much of a large body. Not more often: requests that take turns
        // share the CPU and all finish late, where requests run one after
        // the other finish in order (docs/performance.md measured p99 at a
        // fixed rate both ways).
        if index > 0 && index % YIELD_EVERY == 0 {
            tokio::task::yield_now().await;
        }
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
        let event_hash = w.hasher.event(&ev.event_id);
        if w.dedup.check_and_insert(event_hash, now) {
            duplicates += 1;
            continue;
        }
        undo.hashes.push(event_hash);
        let eval = policy.evaluate_with(&ev, w.optouts, request);
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

    // Not one event was JSON: the body is not JSON, an array or NDJSON. (A
    // value that is JSON but not a valid event, an object with a key given
    // twice or an array element or NDJSON line that is not an object, is
    // rejected by index like any other: docs/http-api.md.)
    if accepted == 0
        && !items.is_empty()
        && rejected_by_reason[RejectReason::InvalidJson as usize] == items.len() as u64
        && !items.iter().any(decode::Item::is_json)
    {
        return web::error(StatusCode::BAD_REQUEST, decode::NOT_JSON);
    }
    m.events_received
        .with_label_values(&[producer])
        .inc_by(items.len() as u64);

    let targets: Vec<outbox::Target> = policy
        .partners
        .iter()
        .map(|p| outbox::Target {
            name: &p.name,
            on_full: config
                .partner(&p.name)
                .map_or(OnFull::Reject, |c| c.on_full),
        })
        .collect();
    // An error returns with `undo` still holding the hashes: its drop takes
    // them out of the idempotency window, so a retry is routed.
    let written = match w.outbox.write(staging, &targets, undo.hashes.len()).await {
        Ok(w) => w,
        Err(e) => return web::unavailable(&e.message),
    };
    // Durable everywhere: the events stay in the idempotency window, and
    // its journal keeps them there across a restart.
    if let Some(j) = w.journal {
        j.append(&undo.hashes, now);
    }
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
    reply.send(m, policy, producer)
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
    fn send(self, m: &Metrics, policy: &Policy, producer: &str) -> Resp {
        for (i, p) in policy.partners.iter().enumerate() {
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
        for r in RejectReason::ALL {
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
        web::json(StatusCode::ACCEPTED, &reply)
    }
}

/// What a request has done that must be taken back unless its events were
/// written: its idempotency entries (else a retry would be taken for a
/// duplicate and never routed, losing the events). Dropped on every exit,
/// on a panic unwinding, and when the client goes away and hyper drops the
/// request future (the outbox gives back room it reserved the same way).
struct Undo<'a> {
    dedup: &'a Dedup,
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

    #[test]
    fn a_panic_before_the_write_undoes_idempotency_entries() {
        let dedup = Dedup::new(100);
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
}
