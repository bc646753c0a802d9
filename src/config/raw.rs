//! The config file as written: serde structs with `deny_unknown_fields`,
//! before any rule is checked.

use super::*;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub producers: Vec<RawProducer>,
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub privacy: RawPrivacy,
    #[serde(default)]
    pub partners: Vec<RawPartner>,
    pub outbox: Option<RawOutbox>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub max_body_bytes: Option<u64>,
    pub shutdown_grace_seconds: Option<u64>,
    pub max_in_flight_requests: Option<usize>,
    pub max_in_flight_per_producer: Option<usize>,
    pub max_events_per_body: Option<usize>,
    pub header_timeout_ms: Option<u64>,
    pub tls: Option<RawTls>,
}

/// `[server.tls]`: TLS on every listener; mTLS on the main one with
/// `client_ca_file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
}

/// `[outbox]`: where the outboxes and the opt-out list live.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    pub backend: Option<String>,
    pub servers: Option<Vec<String>>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub creds_env: Option<String>,
    pub creds_file: Option<PathBuf>,
    pub internal_key_env: Option<String>,
    pub internal_key_file: Option<PathBuf>,
    pub replicas: Option<usize>,
    pub tls_required: Option<bool>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub ack_wait_ms: Option<u64>,
    pub duplicate_window_seconds: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProducer {
    pub name: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub client_cert_name: Option<String>,
    pub max_events_per_second: Option<u64>,
    pub burst: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPrivacy {
    pub minor_age: Option<u64>,
    pub sensitive_categories: Option<Vec<String>>,
    pub time_granularity: Option<String>,
    pub access_retention_days: Option<u64>,
    pub default_phone_country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPartner {
    pub name: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// Path strings or `{ path, type, ... }` tables (crate::contract).
    #[serde(default)]
    pub fields: Vec<toml::Value>,
    pub outbox_max_bytes: Option<u64>,
    pub on_full: Option<String>,
    pub delivery: Option<RawDelivery>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    pub consent: Option<RawPartnerConsent>,
    /// `adgate` (default), `meta_capi`, `google_ads` or `tiktok_events`
    /// (see docs/profiles.md).
    pub profile: Option<String>,
    /// The profile's options (pixel_id, event_names, ...), checked by the
    /// profile itself (src/profile/).
    pub profile_options: Option<toml::Value>,
    /// `"accept"`: required for a profile that sends plain SHA-256.
    pub linkable_ids: Option<String>,
}

/// `[partners.consent]` as written (see docs/policy.md#consent).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPartnerConsent {
    pub tcf_vendor_id: Option<u64>,
    pub tcf_purposes: Option<Vec<u64>>,
    pub tcf_required: Option<bool>,
    pub gpp_us: Option<bool>,
    pub consent_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub mode: String,
    pub endpoint: Option<String>,
    pub signing_secret_env: Option<String>,
    pub signing_secret_file: Option<PathBuf>,
    pub batch_max_events: Option<usize>,
    pub batch_max_wait_ms: Option<u64>,
    pub compression: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_in_flight: Option<usize>,
    pub max_events_per_second: Option<u64>,
    pub ca_file: Option<PathBuf>,
    pub max_event_age_seconds: Option<u64>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub lease_ms: Option<u64>,
    pub on_full: Option<String>,
    /// The partner API's credential (profiles other than adgate).
    pub access_token_env: Option<String>,
    pub access_token_file: Option<PathBuf>,
    /// Google Ads' developer token (profile google_ads).
    pub developer_token_env: Option<String>,
    pub developer_token_file: Option<PathBuf>,
    /// Push only: where erasure and opt-out notices go (see docs/delivery.md).
    pub notice_endpoint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub id: String,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// RFC 3339: until then outputs also carry `ad_id_prev` under the
    /// previous key (a rotation bridge, see docs/config.md).
    pub emit_previous_until: Option<String>,
}

/// TOML -> RawConfig, with the key path of the first problem.
pub fn parse_raw(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize::<_, RawConfig>(de).map_err(|e| {
        let key = toml_path(e.path());
        let inner = e.into_inner();
        let msg = inner.message().to_owned();
        let at = inner
            .span()
            .map(|sp| {
                let line = text[..sp.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        let fix = if msg.starts_with("unknown field") {
            "remove the key or correct its spelling; see deploy/adgate.example.toml for every key"
        } else if msg.starts_with("missing field") {
            "add the required key"
        } else if msg.contains("invalid type") {
            "give the key a value of the expected type"
        } else {
            "correct the TOML at that place"
        };
        ConfigError {
            file: file.to_owned(),
            key,
            problem: format!("{msg}{at}"),
            fix: fix.into(),
        }
    })
}

/// serde_path_to_error prints `partners.1.name`; users read `partners[1].name`.
pub(super) fn toml_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    if out == "?" {
        out.clear();
    }
    out
}
