//! TikTok Events API 2.0 (`profile = "tiktok_events"`, see docs/profiles.md).
//!
//! Sources (read 2026-12). TikTok's own reference
//! (<https://business-api.tiktok.com/portal/docs?id=1771100865818625>) is a
//! script-rendered portal; what is used here was read from the request
//! example TikTok publishes for `POST
//! https://business-api.tiktok.com/open_api/v1.3/event/track/` (header
//! `Access-Token`; body `event_source` "web", `event_source_id` the pixel
//! code, `data[]` with `event`, `event_id`, `event_time` "Use unix
//! timestamp", `user.email` / `user.phone` / `user.external_id` "must be
//! hashed with SHA-256", `properties`), and cross-checked with connector
//! docs that quote it: Tealium's TikTok Events connector (v1.3, Events 2.0,
//! `Access-Token`), Datafly Signal (`Access-Token` header), Hightouch
//! ("You can increase the TikTok events API batch size up to 1,000 per
//! call"). Email is trimmed and lowercased; the phone is E.164 with `+`
//! (the contract in docs/profiles.md).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    email_trim_lower, hashed_external_id, object_members, write_int, write_json_str, Credential,
    CredentialPlace, EncodeError, OptionError, PartnerView, Profile, ProfileInput, ProfileKind,
};

/// Events per request (see the module sources: 1,000 per call).
pub const BATCH_LIMIT: usize = 1000;

/// `event_source` values this profile sends.
pub const EVENT_SOURCES: [&str; 2] = ["web", "app"];

/// `[partners.profile_options]` of a `tiktok_events` partner.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TiktokOptions {
    /// `web` (default) or `app`.
    #[serde(default = "default_event_source")]
    pub event_source: String,
    /// The pixel code (web) or the TikTok app id (app).
    #[serde(default)]
    pub event_source_id: String,
    /// adgate event type -> TikTok event name (`ViewContent`,
    /// `CompletePayment`, ...).
    #[serde(default)]
    pub event_names: BTreeMap<String, String>,
}

fn default_event_source() -> String {
    "web".to_owned()
}

impl TiktokOptions {
    /// Every problem at once, each naming its key and the fix.
    pub fn validate(&self, partner: &PartnerView<'_>) -> Result<(), Vec<OptionError>> {
        let mut errors = Vec::new();
        if !EVENT_SOURCES.contains(&self.event_source.as_str()) {
            errors.push(OptionError::new(
                "profile_options.event_source",
                format!("{:?} is not supported", self.event_source),
                "write \"web\" or \"app\"",
            ));
        }
        if self.event_source_id.trim().is_empty() {
            errors.push(OptionError::new(
                "profile_options.event_source_id",
                "is missing",
                "add event_source_id = \"<pixel code>\" (web) or the TikTok app id (app)",
            ));
        } else if !self
            .event_source_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            errors.push(OptionError::new(
                "profile_options.event_source_id",
                "has characters a pixel code or app id never has",
                "copy it from TikTok Events Manager, e.g. \"CXXXXXXXXXXXXXXXXXXX\"",
            ));
        }
        super::check_event_names(&self.event_names, partner, "ViewContent", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// A valid set of options for tests and benches.
    pub fn example() -> TiktokOptions {
        TiktokOptions {
            event_source: "web".to_owned(),
            event_source_id: "CTEST0PIXEL0CODE0001".to_owned(),
            event_names: [
                ("ad_impression".to_owned(), "ViewContent".to_owned()),
                ("app_install".to_owned(), "Download".to_owned()),
            ]
            .into_iter()
            .collect(),
        }
    }
}

/// Email for TikTok: trim and lowercase.
pub fn normalize_email(raw: &str) -> Option<Cow<'_, str>> {
    email_trim_lower(raw)
}

/// Phone for TikTok: E.164 with `+`.
pub fn normalize_phone(raw: &str) -> Option<Cow<'_, str>> {
    super::phone_e164(raw)
}

const CREDENTIALS: &[Credential] = &[Credential {
    secret: "access_token",
    place: CredentialPlace::Header {
        name: "access-token",
        prefix: "",
    },
}];

/// The TikTok Events API encoder.
#[derive(Debug, Clone)]
pub struct TiktokEvents {
    opts: TiktokOptions,
    /// `{"event_source":...,"event_source_id":...,"data":[`, built once.
    prefix: Vec<u8>,
}

impl TiktokEvents {
    pub fn new(opts: TiktokOptions) -> TiktokEvents {
        let mut prefix = b"{\"event_source\":".to_vec();
        write_json_str(&mut prefix, &opts.event_source);
        prefix.extend_from_slice(b",\"event_source_id\":");
        write_json_str(&mut prefix, &opts.event_source_id);
        prefix.extend_from_slice(b",\"data\":[");
        TiktokEvents { opts, prefix }
    }

    pub fn options(&self) -> &TiktokOptions {
        &self.opts
    }
}

/// TikTok's Events API answers HTTP 200 with `{"code": N, "message": …}`;
/// any `code` but 0 is a failure: 40100 (too many requests) and 5xxxx
/// (TikTok's own errors) are retried, the rest (40105 an access token
/// revoked, 40001 a malformed request, ...) are not.
fn tiktok_answer_code(body: &[u8]) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = v.get("code")?.as_i64().unwrap_or(-1);
    match code {
        0 => None,
        40100 | 50000..=59999 => Some(true),
        _ => Some(false),
    }
}

impl Profile for TiktokEvents {
    fn answer_check(&self) -> Option<super::AnswerCheck> {
        Some(tiktok_answer_code)
    }

    fn kind(&self) -> ProfileKind {
        ProfileKind::TiktokEvents
    }

    fn batch_limit(&self) -> usize {
        BATCH_LIMIT
    }

    fn normalize_email<'a>(&self, raw: &'a str) -> Option<Cow<'a, str>> {
        normalize_email(raw)
    }

    fn normalize_phone<'a>(&self, raw: &'a str) -> Option<Cow<'a, str>> {
        normalize_phone(raw)
    }

    fn credentials(&self) -> &'static [Credential] {
        CREDENTIALS
    }

    fn endpoint_suffix(&self) -> Option<String> {
        Some("/event/track/".to_owned())
    }

    fn encode(&self, input: &ProfileInput<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let name = self.opts.event_names.get(input.event_type).ok_or_else(|| {
            EncodeError::UnmappedEventType {
                event_type: input.event_type.to_owned(),
            }
        })?;
        let em = self.hashed_email(input);
        let ph = self.hashed_phone(input);
        let ext = hashed_external_id(input.account_id);
        if em.is_none() && ph.is_none() && ext.is_none() {
            return Err(EncodeError::NoIdentifier {
                profile: "tiktok_events",
                needs: "email, phone or account_id",
            });
        }
        let props = match input.fields {
            Some(f) => Some(object_members(f).ok_or(EncodeError::FieldsNotObject)?),
            None => None,
        };
        out.extend_from_slice(b"{\"event\":");
        write_json_str(out, name);
        out.extend_from_slice(b",\"event_time\":");
        write_int(out, input.unix_seconds);
        out.extend_from_slice(b",\"event_id\":");
        write_json_str(out, input.event_id);
        out.extend_from_slice(b",\"user\":{");
        let mut first = true;
        for (key, v) in [("email", em), ("phone", ph), ("external_id", ext)] {
            if let Some(h) = v {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.push(b'"');
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":\"");
                out.extend_from_slice(h.as_str().as_bytes());
                out.push(b'"');
            }
        }
        out.push(b'}');
        if let Some(members) = props.filter(|m| !m.is_empty()) {
            out.extend_from_slice(b",\"properties\":{");
            out.extend_from_slice(members.as_bytes());
            out.push(b'}');
        }
        out.push(b'}');
        Ok(())
    }

    fn write_body(&self, events: &[&[u8]], out: &mut Vec<u8>) {
        super::frame(out, &self.prefix, events, b"]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_keys() {
        let view = PartnerView {
            event_types: &["ad_impression".to_owned()],
            fields: &[],
        };
        let o = TiktokOptions {
            event_source: "offline".into(),
            event_source_id: String::new(),
            event_names: BTreeMap::new(),
        };
        let errs = o.validate(&view).unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "profile_options.event_source",
                "profile_options.event_source_id",
                "profile_options.event_names.ad_impression"
            ],
            "{errs:?}"
        );
        let ok = TiktokOptions::example();
        let types = ["ad_impression".to_owned(), "app_install".to_owned()];
        assert!(ok
            .validate(&PartnerView {
                event_types: &types,
                fields: &[]
            })
            .is_ok());
    }
}
