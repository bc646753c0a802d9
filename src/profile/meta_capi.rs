//! Meta Conversions API (`profile = "meta_capi"`, see docs/profiles.md).
//!
//! Sources (read 2026-12):
//! - Customer information parameters,
//!   <https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters>:
//!   `em` "Trim any leading and trailing spaces. Convert all characters to
//!   lowercase", hashing required; `ph` "Remove symbols, letters, and any
//!   leading zeros. Phone numbers must include a country code" (their
//!   example: `16505551212`), hashing required; `external_id` hashing
//!   recommended. Each is a string or a list of strings.
//! - Using the API,
//!   <https://developers.facebook.com/docs/marketing-api/conversions-api/using-the-api>:
//!   `POST https://graph.facebook.com/{API_VERSION}/{PIXEL_ID}/events?access_token={TOKEN}`,
//!   body `{"data": [...]}`, "You can send up to 1,000 events in data";
//!   `event_time` is a Unix timestamp in seconds.
//! - Data processing options for US users,
//!   <https://developers.facebook.com/docs/marketing-apis/data-processing-options>:
//!   Limited Data Use is `data_processing_options: ["LDU"]` with
//!   `data_processing_options_country` / `_state` (0 and 0: Meta geolocates).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    email_trim_lower, hashed_external_id, object_members, write_int, write_json_str, Credential,
    CredentialPlace, EncodeError, OptionError, PartnerView, Profile, ProfileInput, ProfileKind,
};

/// "You can send up to 1,000 events in data" (Using the API, batch requests).
pub const BATCH_LIMIT: usize = 1000;

/// `action_source` values this profile sends (Meta knows more; a gateway
/// in front of a site or an app sends these two).
pub const ACTION_SOURCES: [&str; 2] = ["website", "app"];

/// `[partners.profile_options]` of a `meta_capi` partner.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetaOptions {
    /// The dataset (pixel) id: digits, part of the endpoint path.
    #[serde(default)]
    pub pixel_id: String,
    /// adgate event type -> Meta event name (`Purchase`, `ViewContent`,
    /// or a custom name).
    #[serde(default)]
    pub event_names: BTreeMap<String, String>,
    /// `website` (default) or `app`.
    #[serde(default = "default_action_source")]
    pub action_source: String,
}

fn default_action_source() -> String {
    "website".to_owned()
}

impl MetaOptions {
    /// Every problem at once, each naming its key and the fix.
    pub fn validate(&self, partner: &PartnerView<'_>) -> Result<(), Vec<OptionError>> {
        let mut errors = Vec::new();
        if self.pixel_id.is_empty() {
            errors.push(OptionError::new(
                "profile_options.pixel_id",
                "is missing",
                "add pixel_id = \"<your dataset id>\" (digits, from Events Manager)",
            ));
        } else if !self.pixel_id.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(OptionError::new(
                "profile_options.pixel_id",
                "must be digits only",
                "copy the dataset (pixel) id from Events Manager, e.g. \"1234567890123456\"",
            ));
        }
        if !ACTION_SOURCES.contains(&self.action_source.as_str()) {
            errors.push(OptionError::new(
                "profile_options.action_source",
                format!("{:?} is not supported", self.action_source),
                "write \"website\" or \"app\"",
            ));
        }
        super::check_event_names(&self.event_names, partner, "Purchase", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// A valid set of options for tests and benches.
    pub fn example() -> MetaOptions {
        MetaOptions {
            pixel_id: "1234567890123456".to_owned(),
            event_names: [
                ("ad_impression".to_owned(), "ViewContent".to_owned()),
                ("app_install".to_owned(), "AppInstall".to_owned()),
            ]
            .into_iter()
            .collect(),
            action_source: "website".to_owned(),
        }
    }
}

/// Email for Meta: trim and lowercase (nothing removed from Gmail).
pub fn normalize_email(raw: &str) -> Option<Cow<'_, str>> {
    email_trim_lower(raw)
}

/// Phone for Meta: the E.164 number's digits, country code first, no `+`.
/// The input must be international (`+` or `00`): no default country is
/// assumed, so a national number is refused rather than guessed.
pub fn normalize_phone(raw: &str) -> Option<Cow<'_, str>> {
    let e164 = super::phone_e164(raw)?;
    Some(match e164 {
        Cow::Borrowed(s) => Cow::Borrowed(&s[1..]),
        Cow::Owned(s) => Cow::Owned(s[1..].to_owned()),
    })
}

const CREDENTIALS: &[Credential] = &[Credential {
    secret: "access_token",
    place: CredentialPlace::Query {
        name: "access_token",
    },
}];

/// The Meta Conversions API encoder.
#[derive(Debug, Clone)]
pub struct MetaCapi {
    opts: MetaOptions,
}

impl MetaCapi {
    pub fn new(opts: MetaOptions) -> MetaCapi {
        MetaCapi { opts }
    }

    pub fn options(&self) -> &MetaOptions {
        &self.opts
    }
}

impl Profile for MetaCapi {
    fn kind(&self) -> ProfileKind {
        ProfileKind::MetaCapi
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
        Some(format!("/{}/events", self.opts.pixel_id))
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
                profile: "meta_capi",
                needs: "email, phone or account_id",
            });
        }
        let custom = match input.fields {
            Some(f) => Some(object_members(f).ok_or(EncodeError::FieldsNotObject)?),
            None => None,
        };
        out.extend_from_slice(b"{\"event_name\":");
        write_json_str(out, name);
        out.extend_from_slice(b",\"event_time\":");
        write_int(out, input.unix_seconds);
        out.extend_from_slice(b",\"event_id\":");
        write_json_str(out, input.event_id);
        out.extend_from_slice(b",\"action_source\":");
        write_json_str(out, &self.opts.action_source);
        out.extend_from_slice(b",\"user_data\":{");
        let mut first = true;
        for (key, v) in [("em", em), ("ph", ph), ("external_id", ext)] {
            if let Some(h) = v {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.push(b'"');
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":[\"");
                out.extend_from_slice(h.as_str().as_bytes());
                out.extend_from_slice(b"\"]");
            }
        }
        out.push(b'}');
        if let Some(members) = custom.filter(|m| !m.is_empty()) {
            out.extend_from_slice(b",\"custom_data\":{");
            out.extend_from_slice(members.as_bytes());
            out.push(b'}');
        }
        if input.consent.limited_data_use {
            out.extend_from_slice(
                b",\"data_processing_options\":[\"LDU\"],\"data_processing_options_country\":0,\"data_processing_options_state\":0",
            );
        }
        out.push(b'}');
        Ok(())
    }

    fn write_body(&self, events: &[&[u8]], out: &mut Vec<u8>) {
        super::frame(out, b"{\"data\":[", events, b"]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Hex64;

    #[test]
    fn phone_digits_with_country_code() {
        let n = |s| normalize_phone(s).map(Cow::into_owned);
        assert_eq!(n("+1 (650) 555-1212").as_deref(), Some("16505551212"));
        assert_eq!(n("0044 20 7946 0000").as_deref(), Some("442079460000"));
        assert_eq!(n("(650) 555-1212"), None);
    }

    #[test]
    fn meta_documented_examples() {
        // The two examples on Meta's customer information parameters page.
        let em = normalize_email("John_Smith@gmail.com").unwrap();
        assert_eq!(
            Hex64::sha256(em.as_bytes()).as_str(),
            "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
        );
        let ph = normalize_phone("+1 (650)555-1212").unwrap();
        assert_eq!(
            Hex64::sha256(ph.as_bytes()).as_str(),
            "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
        );
    }

    #[test]
    fn validate_names_keys() {
        let types = vec!["ad_impression".to_owned(), "purchase_done".to_owned()];
        let view = PartnerView {
            event_types: &types,
            fields: &[],
        };
        let mut o = MetaOptions::example();
        o.pixel_id.clear();
        o.action_source = "shop".into();
        let errs = o.validate(&view).unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"profile_options.pixel_id"), "{errs:?}");
        assert!(keys.contains(&"profile_options.action_source"), "{errs:?}");
        assert!(
            keys.contains(&"profile_options.event_names.purchase_done"),
            "{errs:?}"
        );
        // app_install is mapped but not an event type of the partner.
        assert!(
            keys.contains(&"profile_options.event_names.app_install"),
            "{errs:?}"
        );
        assert!(errs.iter().all(|e| !e.fix.is_empty()));
    }
}
