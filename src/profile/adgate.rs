//! adgate's own profile (`profile = "adgate"`, the default; see
//! docs/profiles.md and docs/policy.md): NDJSON of
//! `{"event_type","time","ad_id","ad_id_type","event_id", fields...}` where
//! `ad_id` is the keyed HMAC-SHA256 of the first identifier of the
//! partner's list that normalizes. Nothing linkable leaves: without the
//! partner key an ad_id cannot be recomputed from a guessed email, and two
//! partners' ad_ids for the same person differ.
//!
//! Pre-hashed identifiers (`user.email_sha256`) cannot be used: the HMAC
//! needs the normalized raw value.
//!
//! The policy writes this line itself today (straight into the output
//! buffer); this encoder produces the same bytes from a [`ProfileInput`],
//! so the push path can treat every profile alike and the bench can compare
//! the partner profiles against it.

use std::borrow::Cow;

use super::{
    object_members, write_json_str, Credential, EncodeError, Profile, ProfileInput, ProfileKind,
};
use crate::identity::{self, Kind, PartnerKey};

/// The adgate profile: the partner's newest key and identifier order.
#[derive(Debug, Clone)]
pub struct AdgateProfile {
    key: PartnerKey,
    identifiers: Vec<Kind>,
}

impl AdgateProfile {
    pub fn new(key: PartnerKey, identifiers: Vec<Kind>) -> AdgateProfile {
        AdgateProfile { key, identifiers }
    }
}

impl Profile for AdgateProfile {
    fn kind(&self) -> ProfileKind {
        ProfileKind::Adgate
    }

    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn linkable(&self) -> bool {
        false
    }

    /// No limit of its own: the partner's `batch_max_events` applies.
    fn batch_limit(&self) -> usize {
        usize::MAX
    }

    fn normalize_email<'a>(&self, raw: &'a str) -> Option<Cow<'a, str>> {
        identity::normalize_email(raw)
    }

    fn normalize_phone<'a>(&self, raw: &'a str) -> Option<Cow<'a, str>> {
        identity::normalize_phone(raw)
    }

    /// Signed with `Adgate-Signature` (shared delivery code), no credential.
    fn credentials(&self) -> &'static [Credential] {
        &[]
    }

    fn encode(&self, input: &ProfileInput<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let found = self.identifiers.iter().find_map(|&k| {
            let raw = match k {
                Kind::Email => input.email,
                Kind::Phone => input.phone,
                Kind::AccountId => input.account_id,
                Kind::DeviceId => input.device_id,
            }?;
            identity::normalize(k, raw).map(|n| (k, n))
        });
        let Some((kind, norm)) = found else {
            return Err(EncodeError::NoIdentifier {
                profile: "adgate",
                needs: "a raw identifier of the partner's identifiers list (pre-hashed values cannot be keyed)",
            });
        };
        let members = match input.fields {
            Some(f) => object_members(f).ok_or(EncodeError::FieldsNotObject)?,
            None => "",
        };
        let mut time = String::with_capacity(20);
        crate::event::format_utc(input.unix_seconds, &mut time);
        out.extend_from_slice(b"{\"event_type\":");
        write_json_str(out, input.event_type);
        out.extend_from_slice(b",\"time\":\"");
        out.extend_from_slice(time.as_bytes());
        out.extend_from_slice(b"\",\"ad_id\":\"");
        self.key.write_tagged(kind.as_str(), &norm, out);
        out.extend_from_slice(b"\",\"ad_id_type\":\"");
        out.extend_from_slice(kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"event_id\":");
        write_json_str(out, input.event_id);
        if !members.is_empty() {
            out.push(b',');
            out.extend_from_slice(members.as_bytes());
        }
        out.push(b'}');
        Ok(())
    }

    /// NDJSON: each event and a newline, as the push worker sends today.
    fn write_body(&self, events: &[&[u8]], out: &mut Vec<u8>) {
        out.reserve(events.iter().map(|e| e.len() + 1).sum());
        for e in events {
            out.extend_from_slice(e);
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prehashed_is_not_enough_and_order_is_kept() {
        let p = AdgateProfile::new(
            PartnerKey::new("k1", &[7; 32]),
            vec![Kind::AccountId, Kind::Email],
        );
        let pre = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let mut out = Vec::new();
        let only_pre = ProfileInput {
            event_type: "ad_impression",
            email_sha256: Some(pre),
            ..Default::default()
        };
        assert!(matches!(
            p.encode(&only_pre, &mut out),
            Err(EncodeError::NoIdentifier { .. })
        ));
        assert!(out.is_empty());
        let ev = ProfileInput {
            event_type: "ad_impression",
            unix_seconds: 1_796_043_600,
            event_id: "k1.eid",
            email: Some("Jane@Example.com"),
            account_id: Some(" A123 "),
            fields: Some(r#"{"ad":{"campaign_id":"c-77"}}"#),
            ..Default::default()
        };
        p.encode(&ev, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["ad_id_type"], "account_id");
        assert_eq!(v["ad_id"], p.key.ad_id(Kind::AccountId, "A123"));
        assert_eq!(v["time"], "2026-11-30T13:00:00Z");
        assert_eq!(v["ad"]["campaign_id"], "c-77");
    }
}
