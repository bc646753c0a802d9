//! Google Ads click conversion upload with user identifiers (enhanced
//! conversions; `profile = "google_ads"`, see docs/profiles.md).
//!
//! Sources (read 2026-12):
//! - `UploadClickConversionsRequest`,
//!   <https://developers.google.com/google-ads/api/reference/rpc/latest/UploadClickConversionsRequest>:
//!   `conversions[]` required, "Always set `partial_failure = true`"; raw
//!   identifiers are normalized before SHA-256 ("trim leading and trailing
//!   whitespace, convert email addresses to lowercase, and format phone
//!   numbers in E.164 format"), one identifier field per `UserIdentifier`.
//! - `ClickConversion`,
//!   <https://developers.google.com/google-ads/api/reference/rpc/latest/ClickConversion>:
//!   `conversion_action` (resource name), `conversion_date_time`
//!   ("yyyy-mm-dd hh:mm:ss+|-hh:mm"), `conversion_value`, `currency_code`,
//!   `order_id`, `user_identifiers` (only hashed_email and
//!   hashed_phone_number, at most 5), `consent` (`ad_user_data`,
//!   `ad_personalization`: a `ConsentStatus`, GRANTED / DENIED / ...).
//!   REST JSON spells the fields in lowerCamelCase.
//! - Enhanced conversions, normalization and hashing,
//!   <https://developers.google.com/google-ads/api/docs/conversions/upload-online>
//!   and <https://developers.google.com/doubleclick-advertisers/guides/conversions_ec>:
//!   "Remove all periods (.) that precede the domain name in gmail.com and
//!   googlemail.com email addresses" (nothing is said about `+suffix`, so it
//!   is kept).
//! - Quotas, <https://developers.google.com/google-ads/api/docs/best-practices/quotas>:
//!   conversion upload service requests take "2,000 conversions per request"
//!   (`TOO_MANY_CONVERSIONS_IN_REQUEST`).
//! - Authorization and HTTP headers, <https://developers.google.com/google-ads/api/rest/auth>:
//!   `Authorization: Bearer <OAuth access token>` and `developer-token`.

use std::borrow::Cow;

use serde::Deserialize;

use crate::json;

use super::{
    email_trim_lower, object_members, write_json_str, Credential, CredentialPlace, EncodeError,
    OptionError, PartnerView, Profile, ProfileInput, ProfileKind,
};

/// "2,000 conversions per request" (Google Ads API quotas).
pub const BATCH_LIMIT: usize = 2000;

/// `[partners.profile_options]` of a `google_ads` partner.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GoogleOptions {
    /// The Google Ads customer id, 10 digits without dashes.
    #[serde(default)]
    pub customer_id: String,
    /// `customers/{customer_id}/conversionActions/{id}`.
    #[serde(default)]
    pub conversion_action: String,
    /// An allow-listed field path whose number becomes `conversionValue`.
    #[serde(default)]
    pub value_field: Option<String>,
    /// `units` (default) or `micros` (divided by 1 000 000, as
    /// `ad.value_estimate_micros`).
    #[serde(default = "default_value_unit")]
    pub value_unit: String,
    /// An allow-listed field path whose ISO 4217 code becomes `currencyCode`.
    #[serde(default)]
    pub currency_field: Option<String>,
}

fn default_value_unit() -> String {
    "units".to_owned()
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl GoogleOptions {
    /// Every problem at once, each naming its key and the fix.
    pub fn validate(&self, partner: &PartnerView<'_>) -> Result<(), Vec<OptionError>> {
        let mut errors = Vec::new();
        if self.customer_id.is_empty() {
            errors.push(OptionError::new(
                "profile_options.customer_id",
                "is missing",
                "add customer_id = \"1234567890\" (the Google Ads account id, digits only)",
            ));
        } else if !all_digits(&self.customer_id) || self.customer_id.len() != 10 {
            errors.push(OptionError::new(
                "profile_options.customer_id",
                "must be the 10-digit account id",
                "write it without dashes, e.g. \"1234567890\" for 123-456-7890",
            ));
        }
        let action_ok = self
            .conversion_action
            .strip_prefix("customers/")
            .and_then(|r| r.split_once("/conversionActions/"))
            .is_some_and(|(c, a)| c == self.customer_id && all_digits(a));
        if self.conversion_action.is_empty() {
            errors.push(OptionError::new(
                "profile_options.conversion_action",
                "is missing",
                "add conversion_action = \"customers/<customer_id>/conversionActions/<id>\"",
            ));
        } else if !action_ok {
            errors.push(OptionError::new(
                "profile_options.conversion_action",
                "is not a conversion action of customer_id",
                "write \"customers/<customer_id>/conversionActions/<id>\" with the same customer_id",
            ));
        }
        if !["units", "micros"].contains(&self.value_unit.as_str()) {
            errors.push(OptionError::new(
                "profile_options.value_unit",
                format!("{:?} is not a unit", self.value_unit),
                "write \"units\" or \"micros\"",
            ));
        }
        for (key, path) in [
            ("profile_options.value_field", &self.value_field),
            ("profile_options.currency_field", &self.currency_field),
        ] {
            if let Some(p) = path {
                if !partner.fields.iter().any(|f| f == p) {
                    errors.push(OptionError::new(
                        key,
                        format!("{p:?} is not an allow-listed field of this partner"),
                        format!("add {p:?} to fields, or remove {key}"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// A valid set of options for tests and benches.
    pub fn example() -> GoogleOptions {
        GoogleOptions {
            customer_id: "1234567890".to_owned(),
            conversion_action: "customers/1234567890/conversionActions/987654321".to_owned(),
            value_field: Some("ad.value_estimate_micros".to_owned()),
            value_unit: "micros".to_owned(),
            currency_field: Some("ad.currency".to_owned()),
        }
    }
}

/// Email for Google: trim, lowercase, and for gmail.com / googlemail.com
/// remove every dot of the local part (a `+suffix` is kept).
pub fn normalize_email(raw: &str) -> Option<Cow<'_, str>> {
    let e = email_trim_lower(raw)?;
    let at = e.find('@')?;
    let domain = &e[at + 1..];
    if (domain == "gmail.com" || domain == "googlemail.com") && e[..at].contains('.') {
        let mut out = String::with_capacity(e.len());
        out.extend(e[..at].chars().filter(|&c| c != '.'));
        if out.is_empty() {
            return None;
        }
        out.push('@');
        out.push_str(domain);
        return Some(Cow::Owned(out));
    }
    Some(e)
}

/// Phone for Google: E.164 with `+`.
pub fn normalize_phone(raw: &str) -> Option<Cow<'_, str>> {
    super::phone_e164(raw)
}

const CREDENTIALS: &[Credential] = &[
    Credential {
        secret: "access_token",
        place: CredentialPlace::Header {
            name: "authorization",
            prefix: "Bearer ",
        },
    },
    Credential {
        secret: "developer_token",
        place: CredentialPlace::Header {
            name: "developer-token",
            prefix: "",
        },
    },
];

/// `yyyy-mm-dd hh:mm:ss+00:00` of a Unix time.
pub fn conversion_date_time(unix: i64, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(20);
    crate::event::format_utc(unix, &mut s);
    // "YYYY-MM-DDTHH:MM:SSZ" -> "YYYY-MM-DD HH:MM:SS+00:00"
    out.extend_from_slice(&s.as_bytes()[..10]);
    out.push(b' ');
    out.extend_from_slice(&s.as_bytes()[11..19]);
    out.extend_from_slice(b"+00:00");
}

fn consent_status(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "GRANTED",
        Some(false) => "DENIED",
        None => "UNSPECIFIED",
    }
}

/// The value at a dotted `path` of the allow-listed fields, read once
/// (`doc`: the top level and its objects; deeper objects are scanned when
/// a path reaches them), borrowed from the text.
fn lookup<'a>(doc: &json::Document<'a>, path: &str) -> Option<json::Raw<'a>> {
    let find = |m: &json::Members<'a>, key: &str| m.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let mut segs = path.split('.');
    let mut v = find(&doc.members, segs.next()?)?;
    for (depth, seg) in segs.enumerate() {
        v = if depth == 0 {
            let at = v.get().as_ptr() as usize;
            find(&doc.nested.iter().find(|(a, _)| *a == at)?.1, seg)?
        } else {
            find(&json::object_members(v)?, seg)?
        };
    }
    Some(v)
}

/// The Google Ads click conversion encoder.
#[derive(Debug, Clone)]
pub struct GoogleAds {
    opts: GoogleOptions,
}

impl GoogleAds {
    pub fn new(opts: GoogleOptions) -> GoogleAds {
        GoogleAds { opts }
    }

    pub fn options(&self) -> &GoogleOptions {
        &self.opts
    }

    /// `conversionValue` and `currencyCode` from the allow-listed fields.
    fn value_and_currency(
        &self,
        fields: Option<&str>,
    ) -> Result<(Option<f64>, Option<String>), EncodeError> {
        if self.opts.value_field.is_none() && self.opts.currency_field.is_none() {
            return Ok((None, None));
        }
        let Some(f) = fields else {
            return Ok((None, None));
        };
        // One read of the fields for both paths.
        let doc = json::parse_document(f).map_err(|_| EncodeError::FieldsNotObject)?;
        let scale = if self.opts.value_unit == "micros" {
            1e6
        } else {
            1.0
        };
        let value = self
            .opts
            .value_field
            .as_deref()
            .and_then(|p| lookup(&doc, p))
            .and_then(|x| serde_json::from_str::<f64>(x.get()).ok())
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| x / scale);
        let currency = self
            .opts
            .currency_field
            .as_deref()
            .and_then(|p| lookup(&doc, p))
            .and_then(|x| crate::event::as_str(x).map(|c| c.into_owned()))
            .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
        Ok((value, currency))
    }
}

/// Google answers 200 to an upload with `partialFailure: true` and lists
/// the conversions it refused in `partialFailureError` (a google.rpc.Status:
/// `code`, `message`, `details`): such a batch was not wholly delivered.
/// It is not retried (the same conversions would be refused again); it is
/// dead-lettered, so the operator sees it.
fn google_partial_failure(body: &[u8]) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("partialFailureError")?;
    let failed = match e {
        serde_json::Value::Null => false,
        serde_json::Value::Object(o) => {
            o.get("code")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
                != 0
                || o.get("message")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|m| !m.is_empty())
                || o.get("details")
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|d| !d.is_empty())
        }
        _ => true,
    };
    failed.then_some(false)
}

impl Profile for GoogleAds {
    fn answer_check(&self) -> Option<super::AnswerCheck> {
        Some(google_partial_failure)
    }

    fn kind(&self) -> ProfileKind {
        ProfileKind::GoogleAds
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
        Some(format!(
            "/customers/{}:uploadClickConversions",
            self.opts.customer_id
        ))
    }

    fn encode(&self, input: &ProfileInput<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let em = self.hashed_email(input);
        let ph = self.hashed_phone(input);
        if em.is_none() && ph.is_none() {
            return Err(EncodeError::NoIdentifier {
                profile: "google_ads",
                needs: "email or phone",
            });
        }
        if let Some(f) = input.fields {
            object_members(f).ok_or(EncodeError::FieldsNotObject)?;
        }
        let (value, currency) = self.value_and_currency(input.fields)?;
        out.extend_from_slice(b"{\"conversionAction\":");
        write_json_str(out, &self.opts.conversion_action);
        out.extend_from_slice(b",\"conversionDateTime\":\"");
        conversion_date_time(input.unix_seconds, out);
        out.extend_from_slice(b"\",\"orderId\":");
        write_json_str(out, input.event_id);
        out.extend_from_slice(b",\"userIdentifiers\":[");
        let mut first = true;
        for (key, v) in [("hashedEmail", em), ("hashedPhoneNumber", ph)] {
            if let Some(h) = v {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(b"{\"");
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":\"");
                out.extend_from_slice(h.as_str().as_bytes());
                out.extend_from_slice(b"\"}");
            }
        }
        out.push(b']');
        if let Some(v) = value {
            out.extend_from_slice(b",\"conversionValue\":");
            serde_json::to_writer(&mut *out, &v).expect("finite f64");
        }
        if let Some(c) = currency {
            out.extend_from_slice(b",\"currencyCode\":");
            write_json_str(out, &c);
        }
        out.extend_from_slice(b",\"consent\":{\"adUserData\":\"");
        out.extend_from_slice(consent_status(input.consent.ad_user_data).as_bytes());
        out.extend_from_slice(b"\",\"adPersonalization\":\"");
        out.extend_from_slice(consent_status(input.consent.ad_personalization).as_bytes());
        out.extend_from_slice(b"\"}}");
        Ok(())
    }

    fn write_body(&self, events: &[&[u8]], out: &mut Vec<u8>) {
        super::frame(
            out,
            b"{\"conversions\":[",
            events,
            b"],\"partialFailure\":true}",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_dots_only() {
        let n = |s| normalize_email(s).map(Cow::into_owned);
        assert_eq!(
            n(" Jane.Doe+ads@GMail.com ").as_deref(),
            Some("janedoe+ads@gmail.com")
        );
        assert_eq!(
            n("j.d@googlemail.com").as_deref(),
            Some("jd@googlemail.com")
        );
        assert_eq!(
            n("jane.doe@example.com").as_deref(),
            Some("jane.doe@example.com")
        );
        assert_eq!(n(".@gmail.com"), None);
    }

    #[test]
    fn date_time_format() {
        let mut out = Vec::new();
        conversion_date_time(1_796_046_312, &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "2026-11-30 13:45:12+00:00"
        );
    }

    #[test]
    fn validate_names_keys() {
        let view = PartnerView {
            event_types: &["ad_impression".to_owned()],
            fields: &["ad.currency".to_owned()],
        };
        let o = GoogleOptions {
            customer_id: "123-456-7890".into(),
            conversion_action: "customers/999/conversionActions/1".into(),
            value_field: Some("ad.value_estimate_micros".into()),
            value_unit: "cents".into(),
            currency_field: Some("ad.currency".into()),
        };
        let errs = o.validate(&view).unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "profile_options.customer_id",
                "profile_options.conversion_action",
                "profile_options.value_unit",
                "profile_options.value_field"
            ],
            "{errs:?}"
        );
    }
}
