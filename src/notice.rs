//! Notices to partners (see docs/delivery.md#notices): after a forget or an
//! opt-out, every partner that received events about the subject within
//! `privacy.access_retention_days` is told, so it can delete or suppress
//! what it holds.
//!
//! Who received what comes from the subject-access ledger
//! ([`crate::privacy::ledger`], keyed subject hashes and counts only; on
//! the JetStream backend the fleet-wide one, [`crate::privacy::fleet`], so
//! any replica notifies every partner the fleet delivered to). A
//! notice names the subject the way the partner knows it: the ad_id under
//! each of the partner's configured keys, newest first, computed from the
//! identifier the admin request named, exactly as the policy computes an
//! event's ad_id:
//!
//! ```text
//! {"type":"subject_deleted","ad_ids":["k2.…","k1.…"],"ad_id_type":"email","time":"2026-12-04T15:00:00Z"}
//! ```
//!
//! Notices are durable like events: each partner has a second outbox
//! ([`crate::outbox::Stream::Notices`]) with its own push worker (POSTs to
//! `notice_endpoint`, signed like events, same retries and dead letters) or
//! pull feed (`GET /v1/feed/{partner}/notices`), so an event backlog never
//! delays a notice. The request is answered only once every notice is
//! fsync'd (embedded) or acknowledged by JetStream (a notice stream per
//! partner, read by its push worker or pull feed on any replica).
//!
//! A partner whose ledger rows were made from another kind of identifier
//! than the one the request named (events keyed by `account_id`, forget by
//! `email`) cannot be given an ad_id it knows: it is not notified (the log
//! says so; a request naming that identifier notifies it).

use crate::config::PartnerConfig;
use crate::identity::{Kind, SubjectHash};
use crate::metrics::Metrics;
use crate::outbox::Stream;
use crate::util::now_ms;

/// What happened to the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeType {
    /// `POST /v1/forget`: delete what you hold about this person.
    Deleted,
    /// `POST /v1/optouts`: stop using this person's data for ads.
    OptedOut,
}

impl NoticeType {
    pub const ALL: [NoticeType; 2] = [NoticeType::Deleted, NoticeType::OptedOut];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeType::Deleted => "subject_deleted",
            NoticeType::OptedOut => "subject_opted_out",
        }
    }

    /// The type of a notice line this module wrote.
    pub fn of_line(line: &[u8]) -> NoticeType {
        // The type is the first field, written by [`line`].
        if line.starts_with(b"{\"type\":\"subject_opted_out\"") {
            NoticeType::OptedOut
        } else {
            NoticeType::Deleted
        }
    }
}

/// What sending notices needs of the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Notifier<'a> {
    /// Who received the subject's events (the subject-access ledger).
    pub privacy: &'a crate::privacy::Privacy,
    pub outbox: &'a crate::outbox::Store,
    pub hasher: &'a crate::identity::SubjectHasher,
    pub metrics: &'a Metrics,
    pub config: &'a crate::config::Config,
}

/// Counts one outcome for each notice line in `lines`.
pub fn count<'a>(
    metrics: &Metrics,
    partner: &str,
    lines: impl IntoIterator<Item = &'a [u8]>,
    outcome: &str,
) {
    for l in lines {
        metrics
            .notices
            .with_label_values(&[partner, NoticeType::of_line(l).as_str(), outcome])
            .inc();
    }
}

/// The ad_ids of the subject at partner `p`: one per configured key,
/// newest (the signing key) first. A partner-API profile received the
/// identifier as its API's plain SHA-256 (normalized by that API's rules),
/// not as a keyed ad_id: its notice carries that hash, the value the
/// partner can find in its own records, made as the policy makes it (the
/// email and account id from `raw`, the phone from adgate's E.164 form).
pub fn ad_ids(p: &PartnerConfig, kind: Kind, normalized: &str, raw: &str) -> Vec<String> {
    if p.profile != crate::profile::ProfileKind::Adgate {
        let enc = &p.encoder;
        let hashed = match kind {
            Kind::Email => enc
                .normalize_email(raw)
                .map(|n| crate::profile::Hex64::sha256(n.as_bytes())),
            Kind::Phone => enc
                .normalize_phone(normalized)
                .map(|n| crate::profile::Hex64::sha256(n.as_bytes())),
            Kind::AccountId => crate::profile::hashed_external_id(Some(raw)),
            Kind::DeviceId => None,
        };
        return hashed.map(|h| h.as_str().to_owned()).into_iter().collect();
    }
    p.keys
        .iter()
        .rev()
        .map(|k| k.partner_key().ad_id(kind, normalized))
        .collect()
}

/// One notice as an NDJSON line (no newline). Holds ad_ids (pseudonymous
/// per partner), never the identifier.
pub fn line(t: NoticeType, kind: Kind, ad_ids: &[String], unix_s: i64) -> Vec<u8> {
    let mut time = String::new();
    crate::event::format_utc(unix_s, &mut time);
    let mut out = Vec::with_capacity(64 + ad_ids.len() * 50);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(t.as_str().as_bytes());
    out.extend_from_slice(b"\",\"ad_ids\":");
    serde_json::to_writer(&mut out, ad_ids).expect("vec write");
    out.extend_from_slice(b",\"ad_id_type\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// Why notices could not be queued (the admin request answers 503 and
/// may be retried: a partner already queued may get the notice twice).
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("the subject-access ledger could not be read: {0}")]
    Ledger(std::io::Error),
    #[error("the notice outbox of partner {partner} is full")]
    Full { partner: String },
    #[error("the notice outbox of partner {partner} could not be written: {error}")]
    Write {
        partner: String,
        error: std::io::Error,
    },
}

/// Queues a notice of type `t` for every partner the ledger says received
/// events about `subject` (identifier `normalized` of `kind`); returns the
/// names of the partners notified, in config order. Every notice is
/// durable when this returns `Ok`.
pub async fn notify(
    n: Notifier<'_>,
    t: NoticeType,
    kind: Kind,
    (normalized, raw): (&str, &str),
    subjects: &[SubjectHash],
) -> Result<Vec<String>, NoticeError> {
    let Some(&subject) = subjects.first() else {
        return Ok(Vec::new());
    };
    // The person's deliveries under each hash records carry (the exact
    // identifier, a pre-hashed one): a record carries one of them per kind.
    let mut rows = Vec::new();
    for s in subjects {
        rows.extend(n.privacy.access(*s).await.map_err(NoticeError::Ledger)?);
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let now_s = (now_ms() / 1000) as i64;
    let mut notified = Vec::new();
    for p in &n.config.partners {
        let mine = rows.iter().filter(|r| r.partner == p.name && r.events > 0);
        let (mut same, other) = mine.fold((0u64, 0u64), |(s, o), r| {
            if r.ad_id_type == kind.as_str() {
                (s + r.events, o)
            } else {
                (s, o + r.events)
            }
        });
        // A partner API profile sends the hash of every identifier of its
        // list the event has, not only the first one (the ledger row's
        // kind): it holds the named identifier's hash whenever it received
        // the person's events and lists that kind.
        if p.profile != crate::profile::ProfileKind::Adgate && p.identifiers.contains(&kind) {
            same += other;
        }
        if same == 0 {
            if other > 0 {
                tracing::info!(
                    partner = %p.name,
                    kind = kind.as_str(),
                    "notice: the partner received the subject's events under another identifier kind only; a request naming that identifier notifies it"
                );
            }
            continue;
        }
        if !p.receives_notices() {
            n.metrics.emit(crate::metrics::events::NoticeSkipped {
                partner: &p.name,
                notice_type: t.as_str(),
            });
            continue;
        }
        let ids = ad_ids(p, kind, normalized, raw);
        if ids.is_empty() {
            // A profile with no hash of this kind (device ids): nothing it
            // holds could be named.
            continue;
        }
        let payload = line(t, kind, &ids, now_s);
        // The record's event hash only names the record (notices are not
        // de-duplicated by it); no subjects, so forget never purges one.
        let id = n.hasher.keyed(
            "notice",
            &[&subject[..], t.as_str().as_bytes(), &now_ms().to_le_bytes()].concat(),
        );
        let Some(ob) = n.outbox.get(&p.name, Stream::Notices) else {
            return Err(NoticeError::Write {
                partner: p.name.clone(),
                error: std::io::Error::other("no notice outbox is open"),
            });
        };
        ob.append_notice(payload, now_ms(), &id)
            .await
            .map_err(|e| match e.full {
                Some(_) => NoticeError::Full {
                    partner: p.name.clone(),
                },
                None => NoticeError::Write {
                    partner: p.name.clone(),
                    error: std::io::Error::other(e.message),
                },
            })?;
        n.metrics
            .notices
            .with_label_values(&[&p.name, t.as_str(), "queued"])
            .inc();
        notified.push(p.name.clone());
    }
    Ok(notified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_labels_are_the_notice_types() {
        assert_eq!(
            NoticeType::ALL.map(NoticeType::as_str),
            crate::metrics::NOTICE_TYPES
        );
    }

    #[test]
    fn a_notice_line_has_the_documented_fields_in_order() {
        let l = line(
            NoticeType::Deleted,
            Kind::Email,
            &["k2.abc".into(), "k1.def".into()],
            1_764_860_400,
        );
        let text = std::str::from_utf8(&l).unwrap();
        assert_eq!(
            text,
            r#"{"type":"subject_deleted","ad_ids":["k2.abc","k1.def"],"ad_id_type":"email","time":"2025-12-04T15:00:00Z"}"#
        );
        assert_eq!(NoticeType::of_line(&l), NoticeType::Deleted);
        let o = line(NoticeType::OptedOut, Kind::Phone, &[], 0);
        assert_eq!(NoticeType::of_line(&o), NoticeType::OptedOut);
        let v: serde_json::Value = serde_json::from_slice(&o).unwrap();
        assert_eq!(v["ad_id_type"], "phone");
    }
}
