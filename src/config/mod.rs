//! Configuration: TOML -> [`RawConfig`] (serde, `deny_unknown_fields`) ->
//! [`Config::from_raw`] (secrets resolved, every docs/config.md rule checked) ->
//! [`Config`], the only form the rest of the gateway sees.
//!
//! Every error is a [`ConfigError`] naming the file, the key path
//! (`partners[1].fields[3]`) and the fix. Secrets are read from `*_env`
//! variables or `*_file` paths and never appear in an error.

pub mod demo;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::consent::{ConsentMode, PartnerConsent, MAX_TCF_PURPOSE};
use crate::contract::{self, FieldSpec};
use crate::identity::{self, Kind, PartnerKey};
use crate::profile::{CredentialPlace, PartnerView, Profile, ProfileKind};
use crate::secret::Secret;

// ---------------------------------------------------------------------------
// Defaults. Each is what an operator gets when the key is left out.

/// Loopback only: a fresh install must not be reachable from the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Relative to the working directory, as `adgate serve` documents.
pub const DEFAULT_DATA_DIR: &str = "./adgate-data";
/// 10 MiB: 500-event batches of ~600-byte events fit 30 times over.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Ingest requests at once: 256 x 10 MiB bodies bounds request memory at
/// ~2.5 GiB; beyond it, producers get a 503 and retry instead of the
/// gateway running out of memory.
pub const DEFAULT_MAX_IN_FLIGHT_REQUESTS: usize = 256;
/// One producer's ingest requests at once (a quarter of the default
/// `max_in_flight_requests`): its slow bodies leave the rest to others.
pub const DEFAULT_MAX_IN_FLIGHT_PER_PRODUCER: usize = 64;
/// Events in one request body; 20 times the 500-event batches producers
/// are advised to send.
pub const DEFAULT_MAX_EVENTS_PER_BODY: usize = 10_000;
/// From accept to the end of the first request's headers (and for the
/// headers of every later request): idle and slow-header connections are
/// closed after it.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
/// Long enough to finish a 10 MiB request on a slow link and flush the outbox.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 10;
/// An hour: longer than any supervisor waits before it kills; bounded so
/// the shutdown deadline (now + grace) cannot overflow.
pub const MAX_SHUTDOWN_GRACE_SECONDS: u64 = 3600;
/// Adulthood in most of the markets a retailer sells in; deny by default.
pub const DEFAULT_MINOR_AGE: u64 = 18;
/// Consumer-health data is never shared, even when the operator forgot the key.
pub const DEFAULT_SENSITIVE_CATEGORIES: [&str; 2] = ["health", "pharmacy"];
/// 1 GiB per partner: hours of outage at typical rates, bounded disk.
pub const DEFAULT_OUTBOX_MAX_BYTES: u64 = 1 << 30;
/// Partners commonly accept 500-1000 events per request.
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 500;
/// Latency added by batching when traffic is low.
pub const DEFAULT_BATCH_MAX_WAIT_MS: u64 = 200;
/// A partner that has not answered in 10 s is treated as a timeout (retryable).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Concurrent batches per push partner.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;
/// 72 h: a long weekend of partner outage before events are dead-lettered.
pub const DEFAULT_MAX_EVENT_AGE_SECONDS: u64 = 72 * 3600;
/// A year: beyond any partner outage worth waiting out; bounded so an
/// event's expiry in epoch milliseconds cannot overflow.
pub const MAX_EVENT_AGE_SECONDS: u64 = 365 * 86_400;
/// A pull consumer has 30 s to commit what it was served.
pub const DEFAULT_LEASE_MS: u64 = 30_000;
/// A quarter: covers a subject access request about recent sharing (GDPR
/// gives a month to answer, extendable by two) while keeping the record of
/// whom each person was shared with, itself personal data, short-lived.
pub const DEFAULT_ACCESS_RETENTION_DAYS: u64 = 90;
/// Ten years: anything longer is a typo, not a retention policy.
pub const MAX_ACCESS_RETENTION_DAYS: u64 = 3650;
/// Bounds on the long-poll wait of the pull feed.
pub const MAX_FEED_WAIT_MS: u64 = 30_000;
/// Allow-list paths that can never be forwarded, whatever the config says.
pub const PROTECTED_PATHS: [&str; 8] = [
    "user",
    "purchase",
    "search",
    "view",
    "context.page_url",
    "context.referrer",
    "context.ip",
    "context.user_agent",
];
/// Output keys the gateway writes itself; allow-listing them would forward
/// the producer's raw event id or the uncoarsened timestamp.
pub const RESERVED_FIELDS: [&str; 7] = [
    "event_id",
    "event_type",
    "time",
    "timestamp",
    "ad_id",
    "ad_id_type",
    "consent",
];

// ---------------------------------------------------------------------------
// Raw (as written) form.

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

// ---------------------------------------------------------------------------
// Validated form.

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (`<embedded demo>` for the demo default).
    pub source: PathBuf,
    pub server: ServerConfig,
    pub producers: Vec<Producer>,
    pub admin_token: Option<Secret>,
    pub privacy: PrivacyConfig,
    pub partners: Vec<PartnerConfig>,
    /// `[outbox]`: the embedded log (default) or NATS JetStream.
    pub outbox: OutboxBackend,
    /// Things that are allowed but an operator should look at.
    pub warnings: Vec<String>,
}

/// Where outboxes, dead letters and the opt-out list live.
#[derive(Debug, Clone)]
pub enum OutboxBackend {
    /// One segment log per partner under `data_dir/outbox/` (one machine).
    Embedded,
    /// NATS JetStream: streams per partner, a shared consumer, a KV bucket
    /// of opt-outs; replicas of adgate are stateless.
    JetStream(Box<JetStreamConfig>),
}

impl OutboxBackend {
    /// Whether a reload from `self` to `other` keeps the same store (the
    /// outboxes cannot move under a running gateway).
    pub fn same_store(&self, other: &OutboxBackend) -> bool {
        match (self, other) {
            (OutboxBackend::Embedded, OutboxBackend::Embedded) => true,
            (OutboxBackend::JetStream(x), OutboxBackend::JetStream(y)) => {
                x.servers == y.servers
                    && x.replicas == y.replicas
                    && x.internal_key == y.internal_key
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    /// `nats://host:port` URLs (credentials are never part of them).
    pub servers: Vec<String>,
    pub auth: NatsAuth,
    /// Stream (and KV) replication factor: 3 survives one node's loss.
    pub replicas: usize,
    pub tls_required: bool,
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Keys the opt-out list and event ids; every replica must share it.
    pub internal_key: Secret,
    /// How long a push batch may stay unacknowledged before JetStream hands
    /// it to another replica (the holder renews it while it retries).
    pub ack_wait: Duration,
    /// JetStream's `Nats-Msg-Id` de-duplication window (cluster-wide).
    pub duplicate_window: Duration,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum NatsAuth {
    None,
    UserPassword {
        user: String,
        password: Secret,
    },
    Token(Secret),
    /// A `.creds` file's content (JWT and nkey seed).
    Creds(Secret),
}

/// JetStream defaults. `replicas = 3`: one NATS node may fail without
/// losing an acknowledged event.
pub const DEFAULT_JS_REPLICAS: usize = 3;
/// A dead replica's batch is handed to another after this long; the
/// holder renews its claim every third of it.
pub const DEFAULT_JS_ACK_WAIT_MS: u64 = 30_000;
/// A producer's retry through another replica within this window is not
/// routed twice (each replica also keeps its own 24 h window). The NATS
/// server keeps one entry per message for this long, so it is bounded.
pub const DEFAULT_JS_DUPLICATE_WINDOW_SECONDS: u64 = 600;
pub const DEFAULT_JS_CONNECT_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub max_body_bytes: u64,
    pub shutdown_grace: Duration,
    /// Ingest requests handled at once; above it ingest answers 503.
    pub max_in_flight_requests: usize,
    /// Ingest requests of one producer handled at once; above it 503.
    pub max_in_flight_per_producer: usize,
    /// Events in one body; above it ingest answers 413.
    pub max_events_per_body: usize,
    /// From accept to a complete first request head, and per later head.
    pub header_timeout: Duration,
    /// TLS on every listener, when `[server.tls]` is set.
    pub tls: Option<crate::tls::TlsSettings>,
}

#[derive(Debug, Clone)]
pub struct Producer {
    pub name: String,
    pub token: Secret,
    /// Under mTLS: the name (SAN DNS name or URI) its client certificate
    /// must carry, in addition to its token.
    pub client_cert_name: Option<String>,
    /// Events per second and burst, when the producer is rate-limited.
    pub quota: Option<Quota>,
}

/// A token bucket: `rate` events per second, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub rate: f64,
    pub burst: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Second,
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Second => "second",
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }
    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Second => 1,
            Granularity::Minute => 60,
            Granularity::Hour => 3600,
            Granularity::Day => 86_400,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    pub minor_age: u64,
    pub sensitive_categories: Vec<String>,
    pub time_granularity: Granularity,
    /// Days the subject-access ledger keeps a delivery (privacy/ledger.rs).
    pub access_retention_days: u64,
    /// ISO 3166 alpha-2 code national phone numbers are read in, if any.
    pub default_phone_country: Option<phonenumber::country::Id>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFull {
    Reject,
    DeadLetter,
}

#[derive(Debug, Clone)]
pub struct PartnerConfig {
    pub name: String,
    pub event_types: Vec<String>,
    pub identifiers: Vec<Kind>,
    pub fields: Vec<FieldSpec>,
    pub outbox_max_bytes: u64,
    pub on_full: OnFull,
    pub delivery: Delivery,
    pub max_event_age: Duration,
    pub batch_max_events: usize,
    pub batch_max_wait: Duration,
    /// Oldest first; the last one signs new identifiers.
    pub keys: Vec<KeyConfig>,
    /// `[partners.consent]`, or its defaults when the table is absent.
    pub consent: PartnerConsent,
    /// Which partner API the output speaks (see docs/profiles.md).
    pub profile: ProfileKind,
    /// The profile's encoder, built from its checked options (the adgate
    /// profile's from the signing key).
    pub encoder: Arc<dyn Profile>,
}

impl PartnerConfig {
    pub fn signing_key(&self) -> &KeyConfig {
        self.keys.last().expect("validated: at least one key")
    }

    /// Does this partner receive linkable identifiers (plain SHA-256)?
    /// Only with `linkable_ids = "accept"`: validation refuses it otherwise.
    pub fn linkable(&self) -> bool {
        self.encoder.linkable()
    }

    /// Most events one push body may carry: `batch_max_events`, never above
    /// the profile's own limit.
    pub fn batch_limit(&self) -> usize {
        self.batch_max_events.min(self.encoder.batch_limit()).max(1)
    }

    /// The key before the signing key and until when (unix seconds) outputs
    /// carry `ad_id_prev` under it, when the signing key asks for that.
    pub fn previous_key(&self) -> Option<(&KeyConfig, i64)> {
        let until = self.signing_key().emit_previous_until?;
        let prev = self.keys.len().checked_sub(2).map(|i| &self.keys[i])?;
        Some((prev, until))
    }

    /// Where this partner's notices go: its pull feed, or a push
    /// `notice_endpoint`; `false` for a push partner without one.
    pub fn receives_notices(&self) -> bool {
        match &self.delivery {
            Delivery::Pull(_) => true,
            Delivery::Push(p) => p.notice_endpoint.is_some(),
        }
    }
}

/// What a profile sends of each identifier kind (the adgate profile: any
/// of them, one keyed ad_id).
pub fn profile_identifiers(kind: ProfileKind) -> &'static [Kind] {
    match kind {
        ProfileKind::Adgate => &Kind::ALL,
        ProfileKind::MetaCapi | ProfileKind::TiktokEvents => {
            &[Kind::Email, Kind::Phone, Kind::AccountId]
        }
        ProfileKind::GoogleAds => &[Kind::Email, Kind::Phone],
    }
}

#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub id: String,
    pub secret: Secret,
    /// Unix seconds until which outputs signed with this key also carry
    /// `ad_id_prev` under the key before it (validated: there is one).
    pub emit_previous_until: Option<i64>,
}

impl KeyConfig {
    pub fn partner_key(&self) -> PartnerKey {
        PartnerKey::new(&self.id, self.secret.expose())
    }
}

// One per partner, built once per config load: the size of the push
// variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Delivery {
    Push(PushConfig),
    Pull(PullConfig),
}

impl Delivery {
    pub fn mode(&self) -> &'static str {
        match self {
            Delivery::Push(_) => "push",
            Delivery::Pull(_) => "pull",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushConfig {
    pub endpoint: http::Uri,
    /// Required for the adgate profile; optional for the others (when set,
    /// `Adgate-Signature` is sent as well).
    pub signing_secret: Option<Secret>,
    /// The key naming it (`partners[0].delivery.signing_secret_env`), for messages.
    pub signing_secret_key: String,
    /// The partner API's credentials and where each goes (profiles other
    /// than adgate).
    pub credentials: Vec<PushCredential>,
    pub gzip: bool,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub max_events_per_second: u64,
    pub ca_file: Option<PathBuf>,
    /// Where notices are POSTed (same signature as events); without it
    /// the partner gets no notices.
    pub notice_endpoint: Option<http::Uri>,
}

/// One credential of a partner API: its secret and where it goes.
#[derive(Debug, Clone)]
pub struct PushCredential {
    pub place: CredentialPlace,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct PullConfig {
    pub token: Secret,
    pub lease: Duration,
}

// ---------------------------------------------------------------------------
// Errors.

/// A config problem: where (file and key path), what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {} (fix: {})", self.file, self.problem, self.fix)
        } else {
            write!(
                f,
                "{}: {}: {} (fix: {})",
                self.file, self.key, self.problem, self.fix
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Collects errors with the file name attached.
struct Ctx<'a> {
    file: &'a str,
    base_dir: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    fn err(
        &self,
        key: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// The key that names a secret at `path`: `<path>.<prefix>_env` when the
    /// variable is used, else `<path>.<prefix>_file`. Errors about the secret's
    /// value (too short, shared) point there, so the operator knows what to fix.
    fn secret_key(path: &str, prefix: &str, env: Option<&str>) -> String {
        match env {
            Some(_) => format!("{path}.{prefix}_env"),
            None => format!("{path}.{prefix}_file"),
        }
    }

    /// A `*_file` path as written: relative ones are relative to the config file.
    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Resolves `<prefix>_env` / `<prefix>_file` at `path` to the secret bytes.
    fn secret(
        &self,
        path: &str,
        prefix: &str,
        env: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Secret, ConfigError> {
        match (env, file) {
            (Some(_), Some(_)) => Err(self.err(
                format!("{path}.{prefix}_env"),
                format!("both {prefix}_env and {prefix}_file are set"),
                format!("keep exactly one of {prefix}_env or {prefix}_file"),
            )),
            (None, None) => Err(self.err(
                path,
                format!("missing {prefix}_env or {prefix}_file"),
                format!(
                    "name the secret with {prefix}_env = \"VAR\" (an environment variable) or {prefix}_file = \"/path\"; secrets are never written in the config itself"
                ),
            )),
            (Some(var), None) => match (self.env)(var) {
                Some(v) if !v.is_empty() => Ok(Secret::new(v.into_bytes())),
                Some(_) => Err(self.err(
                    format!("{path}.{prefix}_env"),
                    format!("environment variable {var} is empty"),
                    format!("export {var} with the secret's value"),
                )),
                None => Err(self.err(
                    format!("{path}.{prefix}_env"),
                    format!("environment variable {var} is not set"),
                    format!("export {var} with the secret's value before starting adgate"),
                )),
            },
            (None, Some(p)) => {
                let full = self.path(p);
                match std::fs::read(&full) {
                    Ok(bytes) => {
                        // Wiped on drop, on the error paths too.
                        let bytes = zeroize::Zeroizing::new(bytes);
                        // Readable is not enough: a secret others can
                        // read is refused, even when it is ours to read.
                        if let Err(who) = crate::secret::check_private_file(&full) {
                            return Err(self.err(
                                format!("{path}.{prefix}_file"),
                                format!(
                                    "secret file {}: {who}; adgate refuses secret files that others can read",
                                    full.display()
                                ),
                                crate::secret::private_file_fix(&full),
                            ));
                        }
                        // A file written by `echo` or an editor ends in a newline
                        // that is not part of the secret.
                        let len = bytes
                            .iter()
                            .rposition(|b| !matches!(b, b'\n' | b'\r'))
                            .map_or(0, |i| i + 1);
                        if len == 0 {
                            return Err(self.err(
                                format!("{path}.{prefix}_file"),
                                format!("secret file {} is empty", full.display()),
                                "write the secret into the file",
                            ));
                        }
                        Ok(Secret::new(bytes[..len].to_vec()))
                    }
                    Err(e) => Err(self.err(
                        format!("{path}.{prefix}_file"),
                        format!("cannot read secret file {}: {}", full.display(), e.kind()),
                        "check the path and that adgate's user may read it",
                    )),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Loading.

impl Config {
    /// Reads, parses and validates `path`, resolving secrets from the process
    /// environment and the file system.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: String::new(),
            problem: format!("cannot read config file: {e}"),
            fix: "check the --config path".into(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml(&text, &file, base, &|k| std::env::var(k).ok())
    }

    /// Parses and validates TOML text. `env` resolves `*_env` secrets.
    pub fn from_toml(
        text: &str,
        file: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw = parse_raw(text, file)?;
        Config::from_raw(raw, file, base_dir, env)
    }

    pub fn from_raw(
        raw: RawConfig,
        file: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let cx = Ctx {
            file,
            base_dir,
            env,
        };
        let mut warnings = Vec::new();

        // [server]
        let s = raw.server;
        let listen = parse_addr(
            &cx,
            "server.listen",
            s.listen.as_deref().unwrap_or(DEFAULT_LISTEN),
        )?;
        let metrics_listen = match s.metrics_listen.as_deref() {
            Some(a) => Some(parse_addr(&cx, "server.metrics_listen", a)?),
            None => None,
        };
        // Port 0 twice is two ephemeral ports, not one address.
        if metrics_listen == Some(listen) && listen.port() != 0 {
            return Err(cx.err(
                "server.metrics_listen",
                "is the same address as server.listen",
                "use another port, or leave metrics_listen out to serve /metrics on the main listener",
            ));
        }
        let max_body_bytes = s.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes < 1024 {
            return Err(cx.err(
                "server.max_body_bytes",
                "must be at least 1024",
                "raise it (default 10485760)",
            ));
        }
        let tls = match s.tls {
            None => None,
            Some(t) => {
                let need = |key: &str, v: Option<PathBuf>| {
                    v.map(|p| cx.path(&p)).ok_or_else(|| {
                        cx.err(
                            format!("server.tls.{key}"),
                            "missing",
                            "set cert_file and key_file (PEM) to serve TLS, or remove [server.tls] to serve plain HTTP",
                        )
                    })
                };
                let cert = need("cert_file", t.cert_file)?;
                let key = need("key_file", t.key_file)?;
                let ca = t.client_ca_file.map(|p| cx.path(&p));
                Some(
                    crate::tls::load(&cert, &key, ca.as_deref())
                        .map_err(|e| cx.err(e.key, e.problem, e.fix))?,
                )
            }
        };
        let mtls = tls.as_ref().is_some_and(|t| t.mtls());
        let shutdown_grace_seconds = s
            .shutdown_grace_seconds
            .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECONDS);
        if shutdown_grace_seconds > MAX_SHUTDOWN_GRACE_SECONDS {
            return Err(cx.err(
                "server.shutdown_grace_seconds",
                format!("must be at most {MAX_SHUTDOWN_GRACE_SECONDS}"),
                "keep it below your supervisor's kill timeout (default 10)",
            ));
        }
        let server = ServerConfig {
            tls,
            listen,
            metrics_listen,
            data_dir: s
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            max_body_bytes,
            max_in_flight_requests: match s.max_in_flight_requests {
                Some(0) => {
                    return Err(cx.err(
                        "server.max_in_flight_requests",
                        "must be at least 1",
                        "leave it out for the default (256)",
                    ))
                }
                Some(n) => n,
                None => DEFAULT_MAX_IN_FLIGHT_REQUESTS,
            },
            max_in_flight_per_producer: match s.max_in_flight_per_producer {
                Some(0) => {
                    return Err(cx.err(
                        "server.max_in_flight_per_producer",
                        "must be at least 1",
                        "leave it out for the default (64)",
                    ))
                }
                Some(n) => n,
                None => DEFAULT_MAX_IN_FLIGHT_PER_PRODUCER,
            },
            max_events_per_body: match s.max_events_per_body {
                Some(0) => {
                    return Err(cx.err(
                        "server.max_events_per_body",
                        "must be at least 1",
                        "leave it out for the default (10000)",
                    ))
                }
                Some(n) => n,
                None => DEFAULT_MAX_EVENTS_PER_BODY,
            },
            header_timeout: match s.header_timeout_ms {
                Some(n) if !(100..=600_000).contains(&n) => {
                    return Err(cx.err(
                        "server.header_timeout_ms",
                        "must be from 100 to 600000",
                        "leave it out for the default (10000)",
                    ))
                }
                n => Duration::from_millis(n.unwrap_or(DEFAULT_HEADER_TIMEOUT_MS)),
            },
            shutdown_grace: Duration::from_secs(shutdown_grace_seconds),
        };

        // Every token in one place, to refuse one token serving two roles.
        let mut tokens: Vec<(String, Secret)> = Vec::new();

        // [[producers]]
        let mut producers = Vec::new();
        for (i, p) in raw.producers.into_iter().enumerate() {
            let path = format!("producers[{i}]");
            check_name(&cx, &format!("{path}.name"), &p.name)?;
            if producers.iter().any(|q: &Producer| q.name == p.name) {
                return Err(cx.err(
                    format!("{path}.name"),
                    format!("duplicate producer name \"{}\"", p.name),
                    "give every producer a distinct name",
                ));
            }
            let token = cx.secret(
                &path,
                "token",
                p.token_env.as_deref(),
                p.token_file.as_deref(),
            )?;
            let tk = Ctx::secret_key(&path, "token", p.token_env.as_deref());
            weak_token(&mut warnings, &tk, &token);
            tokens.push((tk, token.clone()));
            let client_cert_name = match p.client_cert_name {
                None => {
                    if mtls {
                        warnings.push(format!(
                            "{path}: no client_cert_name, so any client certificate from server.tls.client_ca_file is accepted with this producer's token"
                        ));
                    }
                    None
                }
                Some(n) if !mtls => {
                    return Err(cx.err(
                        format!("{path}.client_cert_name"),
                        format!("\"{n}\" is set but server.tls.client_ca_file is not, so no client certificate is ever presented"),
                        "set [server.tls] client_ca_file to require client certificates, or remove client_cert_name",
                    ))
                }
                Some(n) if n.trim().is_empty() || n.trim() != n => {
                    return Err(cx.err(
                        format!("{path}.client_cert_name"),
                        "is empty or has surrounding spaces",
                        "write the DNS name or URI of the producer's client certificate (its subjectAltName)",
                    ))
                }
                Some(n) => {
                    if let Some(q) = producers
                        .iter()
                        .position(|q: &Producer| q.client_cert_name.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&n)))
                    {
                        return Err(cx.err(
                            format!("{path}.client_cert_name"),
                            format!("\"{n}\" is also the client_cert_name of producers[{q}]"),
                            "give every producer its own client certificate name",
                        ));
                    }
                    Some(n)
                }
            };
            let quota = match (p.max_events_per_second, p.burst) {
                (None, None) | (Some(0), None) => None,
                (None, Some(_)) => {
                    return Err(cx.err(
                        format!("{path}.burst"),
                        "burst without max_events_per_second",
                        "set max_events_per_second too, or remove burst",
                    ))
                }
                (Some(0), Some(_)) => {
                    return Err(cx.err(
                        format!("{path}.max_events_per_second"),
                        "is 0 (no limit) but a burst is set",
                        "set a rate above 0, or remove burst",
                    ))
                }
                (Some(r), b) => Some(Quota {
                    rate: r as f64,
                    // One second of traffic by default.
                    burst: b.unwrap_or(r).max(1) as f64,
                }),
            };
            producers.push(Producer {
                name: p.name,
                token,
                client_cert_name,
                quota,
            });
        }
        if producers.is_empty() {
            warnings.push("no [[producers]]: nobody can post events".into());
        }

        // [admin]
        let admin_token = match raw.admin {
            Some(a) => {
                let t = cx.secret(
                    "admin",
                    "token",
                    a.token_env.as_deref(),
                    a.token_file.as_deref(),
                )?;
                let tk = Ctx::secret_key("admin", "token", a.token_env.as_deref());
                weak_token(&mut warnings, &tk, &t);
                tokens.push((tk, t.clone()));
                Some(t)
            }
            None => {
                warnings.push("no [admin] token: the opt-out and forget API is disabled".into());
                None
            }
        };

        // [privacy]
        let pv = raw.privacy;
        let time_granularity = match pv.time_granularity.as_deref().unwrap_or("hour") {
            "second" => Granularity::Second,
            "minute" => Granularity::Minute,
            "hour" => Granularity::Hour,
            "day" => Granularity::Day,
            other => {
                return Err(cx.err(
                    "privacy.time_granularity",
                    format!("unknown granularity \"{other}\""),
                    "use one of \"second\", \"minute\", \"hour\", \"day\"",
                ))
            }
        };
        let default_phone_country = match &pv.default_phone_country {
            None => None,
            Some(code) => {
                let valid = code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase());
                match identity::phone_country(code).filter(|_| valid) {
                    Some(c) => Some(c),
                    None => {
                        return Err(cx.err(
                            "privacy.default_phone_country",
                            format!("\"{code}\" is not an ISO 3166 alpha-2 country code with a telephone numbering plan"),
                            "use two capital letters, e.g. \"US\", \"GB\" or \"DE\", or leave it out to accept E.164 numbers only",
                        ))
                    }
                }
            }
        };
        let privacy = PrivacyConfig {
            default_phone_country,
            minor_age: pv.minor_age.unwrap_or(DEFAULT_MINOR_AGE),
            sensitive_categories: pv.sensitive_categories.unwrap_or_else(|| {
                DEFAULT_SENSITIVE_CATEGORIES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            time_granularity,
            access_retention_days: match pv.access_retention_days {
                None => DEFAULT_ACCESS_RETENTION_DAYS,
                Some(d) if (1..=MAX_ACCESS_RETENTION_DAYS).contains(&d) => d,
                Some(_) => {
                    return Err(cx.err(
                        "privacy.access_retention_days",
                        format!("must be between 1 and {MAX_ACCESS_RETENTION_DAYS}"),
                        format!(
                            "leave it out for the default ({DEFAULT_ACCESS_RETENTION_DAYS} days)"
                        ),
                    ))
                }
            },
        };

        // [[partners]]
        let mut partners: Vec<PartnerConfig> = Vec::new();
        let mut key_owner: Vec<(String, Secret)> = Vec::new();
        for (i, p) in raw.partners.into_iter().enumerate() {
            let path = format!("partners[{i}]");
            let partner = partner(&cx, &path, p, &partners, &mut key_owner, &mut tokens)?;
            if let Delivery::Push(d) = &partner.delivery {
                if let Some(secret) = &d.signing_secret {
                    weak_token(&mut warnings, &d.signing_secret_key, secret);
                }
                if d.notice_endpoint.is_none() && partner.profile == ProfileKind::Adgate {
                    warnings.push(format!(
                        "{path}.delivery.notice_endpoint is not set: this push partner is not told about erasures and opt-outs of people whose events it received (set notice_endpoint, see docs/delivery.md)"
                    ));
                }
            }
            let last = partner.keys.len() - 1;
            for (j, k) in partner.keys.iter().enumerate() {
                if j != last && k.emit_previous_until.is_some() {
                    warnings.push(format!(
                        "{path}.keys[{j}].emit_previous_until has no effect: only the newest (last) key signs outputs"
                    ));
                }
            }
            partners.push(partner);
        }
        // Feed tokens (producer and admin tokens were checked above).
        for (k, t) in &tokens {
            if k.starts_with("partners[") {
                weak_token(&mut warnings, k, t);
            }
        }
        if partners.is_empty() {
            warnings.push("no [[partners]]: every event is accepted and routed nowhere".into());
        }
        for (i, p) in partners.iter().enumerate() {
            for (j, t) in p.event_types.iter().enumerate() {
                if looks_like_shopping_action(t) {
                    warnings.push(format!(
                        "partners[{i}].event_types[{j}]: \"{t}\" looks like a shopping action; forwarding it tells the partner that this person did it, which the privacy promise rules out"
                    ));
                }
            }
        }

        // One token, one role.
        for (i, (pa, ta)) in tokens.iter().enumerate() {
            if let Some((pb, _)) = tokens[..i].iter().find(|(_, tb)| tb == ta) {
                return Err(cx.err(
                    pa.clone(),
                    format!("uses the same token as {pb}"),
                    "give every producer, partner feed and the admin API its own token (adgate keygen)",
                ));
            }
        }

        let outbox = outbox_backend(&cx, raw.outbox.unwrap_or_default(), &partners)?;
        Ok(Config {
            source: PathBuf::from(file),
            server,
            producers,
            admin_token,
            privacy,
            partners,
            outbox,
            warnings,
        })
    }

    pub fn partner(&self, name: &str) -> Option<&PartnerConfig> {
        self.partners.iter().find(|p| p.name == name)
    }
}

/// `[outbox]` -> [`OutboxBackend`].
fn outbox_backend(
    cx: &Ctx<'_>,
    o: RawOutbox,
    partners: &[PartnerConfig],
) -> Result<OutboxBackend, ConfigError> {
    match o.backend.as_deref().unwrap_or("embedded") {
        "embedded" => {
            let js_only = [
                ("servers", o.servers.is_some()),
                ("user", o.user.is_some()),
                (
                    "password_env",
                    o.password_env.is_some() || o.password_file.is_some(),
                ),
                ("token_env", o.token_env.is_some() || o.token_file.is_some()),
                ("creds_env", o.creds_env.is_some() || o.creds_file.is_some()),
                (
                    "internal_key_env",
                    o.internal_key_env.is_some() || o.internal_key_file.is_some(),
                ),
                ("replicas", o.replicas.is_some()),
                ("tls_required", o.tls_required.is_some()),
                ("tls_ca_file", o.tls_ca_file.is_some()),
                (
                    "tls_cert_file",
                    o.tls_cert_file.is_some() || o.tls_key_file.is_some(),
                ),
                ("ack_wait_ms", o.ack_wait_ms.is_some()),
                (
                    "duplicate_window_seconds",
                    o.duplicate_window_seconds.is_some(),
                ),
                ("connect_timeout_ms", o.connect_timeout_ms.is_some()),
            ];
            if let Some((k, _)) = js_only.iter().find(|(_, set)| *set) {
                return Err(cx.err(
                    format!("outbox.{k}"),
                    "only applies to backend = \"jetstream\"",
                    "remove it, or set backend = \"jetstream\"",
                ));
            }
            Ok(OutboxBackend::Embedded)
        }
        "jetstream" => {
            let servers = o.servers.unwrap_or_default();
            if servers.is_empty() {
                return Err(cx.err(
                    "outbox.servers",
                    "backend = \"jetstream\" needs the NATS servers",
                    "set servers = [\"nats://nats-0:4222\", \"nats://nats-1:4222\", \"nats://nats-2:4222\"]",
                ));
            }
            for (i, s) in servers.iter().enumerate() {
                let key = format!("outbox.servers[{i}]");
                let rest = s
                    .strip_prefix("nats://")
                    .or_else(|| s.strip_prefix("tls://"))
                    .unwrap_or(s);
                if rest.contains('@') {
                    // The URL would carry a secret into logs and errors.
                    return Err(cx.err(
                        key,
                        "the server URL holds credentials",
                        "write nats://host:port and name the credentials with user + password_env, token_env or creds_file",
                    ));
                }
                let ok = !rest.is_empty()
                    && !rest.contains('/')
                    && rest.rsplit_once(':').is_some_and(|(h, p)| {
                        !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0)
                    });
                if !ok {
                    return Err(cx.err(
                        key,
                        format!("\"{s}\" is not a NATS server address"),
                        "write nats://host:port (or tls://host:port)",
                    ));
                }
            }
            let secret = |prefix: &str, env: &Option<String>, file: &Option<PathBuf>| {
                if env.is_none() && file.is_none() {
                    Ok(None)
                } else {
                    cx.secret("outbox", prefix, env.as_deref(), file.as_deref())
                        .map(Some)
                }
            };
            let password = secret("password", &o.password_env, &o.password_file)?;
            let token = secret("token", &o.token_env, &o.token_file)?;
            let creds = secret("creds", &o.creds_env, &o.creds_file)?;
            let auth = match (o.user, password, token, creds) {
                (None, None, None, None) => NatsAuth::None,
                (Some(user), Some(password), None, None) => {
                    NatsAuth::UserPassword { user, password }
                }
                (None, None, Some(t), None) => NatsAuth::Token(t),
                (None, None, None, Some(c)) => NatsAuth::Creds(c),
                (Some(_), None, None, None) => {
                    return Err(cx.err(
                        "outbox.user",
                        "user without password_env or password_file",
                        "name the password with password_env or password_file",
                    ))
                }
                (None, Some(_), None, None) => {
                    return Err(cx.err(
                        "outbox.password_env",
                        "a password without user",
                        "set user = \"...\" too",
                    ))
                }
                _ => {
                    return Err(cx.err(
                        "outbox",
                        "more than one kind of NATS credentials",
                        "keep one of user + password_env, token_env, creds_file",
                    ))
                }
            };
            let key = match secret("internal_key", &o.internal_key_env, &o.internal_key_file)? {
                Some(k) => k,
                None => {
                    return Err(cx.err(
                        "outbox.internal_key_env",
                        "backend = \"jetstream\" needs a shared internal key",
                        "every replica must key the opt-out list alike: store `adgate keygen` output in a secret and name it with internal_key_env or internal_key_file",
                    ))
                }
            };
            let sk = Ctx::secret_key("outbox", "internal_key", o.internal_key_env.as_deref());
            let text = std::str::from_utf8(key.expose()).unwrap_or("").trim();
            let internal_key = match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(b) if b.len() >= 32 => Secret::new(b),
                Ok(_) => {
                    return Err(cx.err(
                        sk,
                        "internal key is shorter than 32 bytes after base64 decoding",
                        "generate one with `adgate keygen`",
                    ))
                }
                Err(_) => {
                    return Err(cx.err(
                        sk,
                        "internal key is not valid base64",
                        "store the base64 printed by `adgate keygen`",
                    ))
                }
            };
            let replicas = o.replicas.unwrap_or(DEFAULT_JS_REPLICAS);
            if !(1..=5).contains(&replicas) {
                return Err(cx.err(
                    "outbox.replicas",
                    "must be between 1 and 5 (JetStream's limit)",
                    "use 3 on a 3-node cluster (1 only for a single test server)",
                ));
            }
            let file = |k: &str, p: Option<PathBuf>| -> Result<Option<PathBuf>, ConfigError> {
                let Some(p) = p else { return Ok(None) };
                let full = if p.is_absolute() {
                    p
                } else {
                    cx.base_dir.join(p)
                };
                if std::fs::metadata(&full).is_err() {
                    return Err(cx.err(
                        format!("outbox.{k}"),
                        format!("cannot read {}", full.display()),
                        "point it at a PEM file adgate's user may read",
                    ));
                }
                Ok(Some(full))
            };
            let tls_ca_file = file("tls_ca_file", o.tls_ca_file)?;
            let tls_client = match (
                file("tls_cert_file", o.tls_cert_file)?,
                file("tls_key_file", o.tls_key_file)?,
            ) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => {
                    return Err(cx.err(
                        "outbox.tls_cert_file",
                        "a client certificate needs both tls_cert_file and tls_key_file",
                        "set both, or neither",
                    ))
                }
            };
            let ack_wait_ms = o.ack_wait_ms.unwrap_or(DEFAULT_JS_ACK_WAIT_MS);
            if ack_wait_ms < 1000 {
                return Err(cx.err(
                    "outbox.ack_wait_ms",
                    "must be at least 1000",
                    "use e.g. 30000 (a dead replica's batch is redelivered after this long)",
                ));
            }
            let dup = o
                .duplicate_window_seconds
                .unwrap_or(DEFAULT_JS_DUPLICATE_WINDOW_SECONDS);
            if dup == 0 || dup > 24 * 3600 {
                return Err(cx.err(
                    "outbox.duplicate_window_seconds",
                    "must be between 1 and 86400",
                    "use e.g. 600",
                ));
            }
            for (i, p) in partners.iter().enumerate() {
                if p.on_full == OnFull::DeadLetter {
                    return Err(cx.err(
                        format!("partners[{i}].on_full"),
                        "on_full = \"dead_letter\" is not supported with backend = \"jetstream\" (a stream cannot move its oldest events to dead letters atomically)",
                        "use on_full = \"reject\" (ingest answers 503 when the stream is full)",
                    ));
                }
            }
            Ok(OutboxBackend::JetStream(Box::new(JetStreamConfig {
                servers,
                auth,
                replicas,
                tls_required: o.tls_required.unwrap_or(false),
                tls_ca_file,
                tls_client,
                internal_key,
                ack_wait: Duration::from_millis(ack_wait_ms),
                duplicate_window: Duration::from_secs(dup),
                connect_timeout: Duration::from_millis(
                    o.connect_timeout_ms
                        .unwrap_or(DEFAULT_JS_CONNECT_TIMEOUT_MS),
                ),
            })))
        }
        other => Err(cx.err(
            "outbox.backend",
            format!("unknown backend \"{other}\""),
            "use \"embedded\" (one machine) or \"jetstream\" (replicas on a NATS cluster)",
        )),
    }
}

/// Event types that name a purchase, product view, search or cart action.
fn looks_like_shopping_action(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    [
        "purchase",
        "order",
        "checkout",
        "cart",
        "search",
        "product_view",
        "page_view",
        "view_item",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// Tokens and signing secrets are guessable below 32 bytes (256 bits when
/// random, as `adgate keygen` makes them); `key` is the config key naming
/// the secret, never its value.
pub const MIN_SECRET_BYTES: usize = 32;

fn weak_token(warnings: &mut Vec<String>, key: &str, t: &Secret) {
    if t.len() < MIN_SECRET_BYTES {
        warnings.push(format!(
            "{key}: shorter than {MIN_SECRET_BYTES} bytes, so it could be guessed; generate one with `adgate keygen`"
        ));
    }
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
fn toml_path(p: &serde_path_to_error::Path) -> String {
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

fn parse_addr(cx: &Ctx<'_>, key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| {
        cx.err(
            key,
            format!("\"{s}\" is not an address"),
            "write IP:PORT, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
        )
    })
}

fn check_name(cx: &Ctx<'_>, key: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(cx.err(
            key,
            format!("\"{name}\" is not a valid name"),
            "use 1-64 characters from A-Z a-z 0-9 - _ (names appear in URLs, paths and metric labels)",
        ))
    }
}

/// Does allow-list entry `field` equal, contain or lie under a protected path?
pub fn protected_conflict(field: &str) -> Option<&'static str> {
    let field = field.to_ascii_lowercase();
    let field = field.as_str();
    PROTECTED_PATHS.iter().copied().find(|p| {
        field == *p
            || field.strip_prefix(p).is_some_and(|r| r.starts_with('.'))
            || p.strip_prefix(field).is_some_and(|r| r.starts_with('.'))
    })
}

/// A key id is `[A-Za-z0-9_-]{1,16}`: it is the prefix of every ad_id.
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 16
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_field_path(f: &str) -> bool {
    !f.is_empty()
        && f.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// The `fields` allow-list of a partner: each entry a path string or a
/// contract table (crate::contract), none protected, reserved or
/// overlapping another.
fn partner_fields(
    cx: &Ctx<'_>,
    path: &str,
    raw: &[toml::Value],
) -> Result<Vec<FieldSpec>, ConfigError> {
    let mut fields: Vec<FieldSpec> = Vec::with_capacity(raw.len());
    for (j, v) in raw.iter().enumerate() {
        let key = format!("{path}.fields[{j}]");
        let spec = contract::parse_entry(v).map_err(|e| {
            let k = if e.key.is_empty() {
                key.clone()
            } else {
                format!("{key}.{}", e.key)
            };
            cx.err(k, e.problem, e.fix)
        })?;
        let f = spec.path.as_str();
        if !valid_field_path(f) {
            return Err(cx.err(
                key,
                format!("\"{f}\" is not a field path"),
                "write a dotted path of names, e.g. \"ad.campaign_id\"",
            ));
        }
        if let Some(pp) = protected_conflict(f) {
            return Err(cx.err(
                key,
                format!("\"{f}\" is, contains or lies under the protected path \"{pp}\" (compared without case), which adgate never forwards"),
                "remove it from fields; user, purchase, search and view data and context.page_url/referrer/ip/user_agent can never be shared",
            ));
        }
        let top = f.split('.').next().unwrap_or(f).to_ascii_lowercase();
        if RESERVED_FIELDS.contains(&top.as_str()) {
            return Err(cx.err(
                key,
                format!("\"{f}\" names a field the gateway writes itself (it would forward the raw event id or timestamp)"),
                "remove it: event_type, time, ad_id, ad_id_type and event_id are always in the output, pseudonymized and coarsened",
            ));
        }
        for (m, g) in fields.iter().enumerate() {
            let g = g.path.as_str();
            let overlaps = g == f
                || f.strip_prefix(g).is_some_and(|r| r.starts_with('.'))
                || g.strip_prefix(f).is_some_and(|r| r.starts_with('.'));
            if overlaps {
                return Err(cx.err(
                    key,
                    format!("\"{f}\" overlaps fields[{m}] \"{g}\""),
                    "list each path once, either a whole object or some of its fields",
                ));
            }
        }
        fields.push(spec);
    }
    Ok(fields)
}

/// An `http://` or `https://` URL with a host, for the key at `key`.
fn http_url(cx: &Ctx<'_>, key: &str, s: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = s.parse().map_err(|_| {
        cx.err(
            key,
            format!("\"{s}\" is not a URL"),
            "write an http:// or https:// URL",
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(cx.err(
            key,
            format!("\"{s}\" is not an http(s) URL"),
            "write an http:// or https:// URL with a host",
        ));
    }
    Ok(uri)
}

fn partner(
    cx: &Ctx<'_>,
    path: &str,
    p: RawPartner,
    earlier: &[PartnerConfig],
    key_owner: &mut Vec<(String, Secret)>,
    tokens: &mut Vec<(String, Secret)>,
) -> Result<PartnerConfig, ConfigError> {
    check_name(cx, &format!("{path}.name"), &p.name)?;
    if let Some(j) = earlier.iter().position(|q| q.name == p.name) {
        return Err(cx.err(
            format!("{path}.name"),
            format!("duplicate partner name \"{}\" (also partners[{j}])", p.name),
            "give every partner a distinct name",
        ));
    }
    if p.event_types.is_empty() {
        return Err(cx.err(
            format!("{path}.event_types"),
            "is empty or missing, so nothing would ever be routed",
            "list the event types this partner may receive, e.g. [\"ad_impression\"]",
        ));
    }
    for (j, t) in p.event_types.iter().enumerate() {
        if t.trim().is_empty() {
            return Err(cx.err(
                format!("{path}.event_types[{j}]"),
                "is empty",
                "remove the empty entry",
            ));
        }
    }
    if p.identifiers.is_empty() {
        return Err(cx.err(
            format!("{path}.identifiers"),
            "is empty or missing",
            "list the identifiers to derive ad_id from, in order, e.g. [\"account_id\", \"email\"]",
        ));
    }
    let mut identifiers = Vec::new();
    for (j, s) in p.identifiers.iter().enumerate() {
        let k = Kind::parse(s).ok_or_else(|| {
            cx.err(
                format!("{path}.identifiers[{j}]"),
                format!("unknown identifier \"{s}\""),
                "use email, phone, account_id or device_id",
            )
        })?;
        if identifiers.contains(&k) {
            return Err(cx.err(
                format!("{path}.identifiers[{j}]"),
                format!("\"{s}\" is listed twice"),
                "list each identifier once",
            ));
        }
        identifiers.push(k);
    }
    let fields = partner_fields(cx, path, &p.fields)?;
    let profile = partner_profile(cx, path, &p, &identifiers, &fields)?;
    if p.keys.is_empty() {
        return Err(cx.err(
            format!("{path}.keys"),
            "partner has no key",
            "add a [[partners.keys]] table with id and secret_env (or secret_file); generate a key with `adgate keygen`",
        ));
    }
    let mut keys: Vec<KeyConfig> = Vec::new();
    for (j, k) in p.keys.into_iter().enumerate() {
        let kp = format!("{path}.keys[{j}]");
        if !valid_key_id(&k.id) {
            return Err(cx.err(
                format!("{kp}.id"),
                format!("\"{}\" is not a valid key id", k.id),
                "use 1-16 characters from A-Z a-z 0-9 _ - (the id is part of every ad_id)",
            ));
        }
        if keys.iter().any(|q| q.id == k.id) {
            return Err(cx.err(
                format!("{kp}.id"),
                format!("duplicate key id \"{}\"", k.id),
                "give every key of a partner its own id",
            ));
        }
        let encoded = cx.secret(
            &kp,
            "secret",
            k.secret_env.as_deref(),
            k.secret_file.as_deref(),
        )?;
        let sk = Ctx::secret_key(&kp, "secret", k.secret_env.as_deref());
        let text = std::str::from_utf8(encoded.expose()).unwrap_or("").trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| {
                cx.err(
                    sk.clone(),
                    "key secret is not valid base64",
                    "store the base64 printed by `adgate keygen`",
                )
            })?;
        if decoded.len() < 32 {
            return Err(cx.err(
                sk.clone(),
                format!(
                    "key is {} bytes after base64 decoding; at least 32 are required",
                    decoded.len()
                ),
                "generate a 256-bit key with `adgate keygen`",
            ));
        }
        let secret = Secret::new(decoded);
        if let Some((owner, _)) = key_owner.iter().find(|(_, s)| *s == secret) {
            return Err(cx.err(
                sk.clone(),
                format!("the same key bytes are used by {owner}"),
                "give every partner its own keys, so partners cannot join their ad_ids",
            ));
        }
        key_owner.push((format!("{sk} (partner \"{}\")", p.name), secret.clone()));
        let emit_previous_until = match k.emit_previous_until.as_deref() {
            None => None,
            Some(t) => {
                let key = format!("{kp}.emit_previous_until");
                let at = crate::event::parse_rfc3339(t).ok_or_else(|| {
                    cx.err(
                        key.clone(),
                        format!("\"{t}\" is not an RFC 3339 time"),
                        "write a time such as \"2026-12-31T00:00:00Z\"",
                    )
                })?;
                if keys.is_empty() {
                    return Err(cx.err(
                        key,
                        "there is no previous key to compute ad_id_prev with",
                        "list the previous key before this one in [[partners.keys]] (oldest first), or remove emit_previous_until",
                    ));
                }
                Some(at)
            }
        };
        keys.push(KeyConfig {
            id: k.id,
            secret,
            emit_previous_until,
        });
    }

    let delivery_raw = p.delivery.ok_or_else(|| {
        cx.err(
            format!("{path}.delivery"),
            "missing [partners.delivery]",
            "add a [partners.delivery] table with mode = \"push\" or \"pull\"",
        )
    })?;
    let dp = format!("{path}.delivery");
    let on_full_raw = match (p.on_full, delivery_raw.on_full.clone()) {
        (Some(a), Some(b)) if a != b => {
            return Err(cx.err(
                format!("{path}.on_full"),
                "set both at partner level and in [partners.delivery] with different values",
                "set on_full in one place",
            ))
        }
        (a, b) => a.or(b),
    };
    let on_full = match on_full_raw.as_deref() {
        None | Some("reject") => OnFull::Reject,
        Some("dead_letter") => OnFull::DeadLetter,
        Some(o) => {
            return Err(cx.err(
                format!("{dp}.on_full"),
                format!("unknown value \"{o}\""),
                "use \"reject\" (ingest answers 503 when full) or \"dead_letter\" (oldest events go to dead letters)",
            ))
        }
    };
    let d = delivery_raw;
    let batch_max_events = d.batch_max_events.unwrap_or(DEFAULT_BATCH_MAX_EVENTS);
    if batch_max_events == 0 || batch_max_events > 100_000 {
        return Err(cx.err(
            format!("{dp}.batch_max_events"),
            "must be between 1 and 100000",
            "use e.g. 500",
        ));
    }
    let push_only = |name: &str, set: bool| -> Result<(), ConfigError> {
        if set {
            Err(cx.err(
                format!("{dp}.{name}"),
                "only applies to mode = \"push\"",
                "remove it, or set mode = \"push\"",
            ))
        } else {
            Ok(())
        }
    };
    let adgate = profile
        .as_ref()
        .is_none_or(|(k, _)| *k == ProfileKind::Adgate);
    let credentials_set = d.access_token_env.is_some()
        || d.access_token_file.is_some()
        || d.developer_token_env.is_some()
        || d.developer_token_file.is_some();
    if adgate && credentials_set {
        return Err(cx.err(
            format!("{dp}.access_token_env"),
            "access_token_*/developer_token_* are the credentials of a partner API profile; the adgate profile signs with signing_secret_* instead",
            "remove them, or set profile = \"meta_capi\", \"google_ads\" or \"tiktok_events\" on the partner",
        ));
    }
    if let Some((kind, enc)) = profile.as_ref().filter(|_| !adgate) {
        if d.mode != "push" {
            return Err(cx.err(
                format!("{dp}.mode"),
                format!("the {kind} profile only supports mode = \"push\": the partner's API receives events, it does not fetch them from a feed"),
                "set mode = \"push\" with the partner's endpoint and access_token_env, or use profile = \"adgate\" for a pull feed",
            ));
        }
        if batch_max_events > enc.batch_limit() {
            return Err(cx.err(
                format!("{dp}.batch_max_events"),
                format!(
                    "{batch_max_events} is above the {kind} limit of {} events per request",
                    enc.batch_limit()
                ),
                format!(
                    "use at most {} (the default is {DEFAULT_BATCH_MAX_EVENTS})",
                    enc.batch_limit()
                ),
            ));
        }
    }
    let delivery = match d.mode.as_str() {
        "push" => {
            if d.token_env.is_some() || d.token_file.is_some() || d.lease_ms.is_some() {
                return Err(cx.err(
                    dp.clone(),
                    "token_env/token_file/lease_ms only apply to mode = \"pull\"",
                    "remove them, or set mode = \"pull\"",
                ));
            }
            let ep = d.endpoint.as_deref().ok_or_else(|| {
                cx.err(
                    format!("{dp}.endpoint"),
                    "push delivery needs an endpoint",
                    "set endpoint = \"https://partner.example/v1/events\"",
                )
            })?;
            let endpoint = http_url(cx, &format!("{dp}.endpoint"), ep)?;
            let notice_endpoint = d
                .notice_endpoint
                .as_deref()
                .map(|ne| http_url(cx, &format!("{dp}.notice_endpoint"), ne))
                .transpose()?;
            let signing_secret =
                if adgate || d.signing_secret_env.is_some() || d.signing_secret_file.is_some() {
                    Some(cx.secret(
                        &dp,
                        "signing_secret",
                        d.signing_secret_env.as_deref(),
                        d.signing_secret_file.as_deref(),
                    )?)
                } else {
                    None
                };
            let mut credentials = Vec::new();
            if let Some((kind, enc)) = profile.as_ref().filter(|_| !adgate) {
                if let Some(suffix) = enc.endpoint_suffix() {
                    if !endpoint.path().ends_with(&suffix) {
                        return Err(cx.err(
                            format!("{dp}.endpoint"),
                            format!("the path of \"{ep}\" does not end in \"{suffix}\", where the {kind} API receives this partner's events"),
                            "use the partner's documented endpoint (see docs/profiles.md), with the id from profile_options",
                        ));
                    }
                }
                for c in enc.credentials() {
                    let (env, file) = match c.secret {
                        "developer_token" => (
                            d.developer_token_env.as_deref(),
                            d.developer_token_file.as_deref(),
                        ),
                        _ => (
                            d.access_token_env.as_deref(),
                            d.access_token_file.as_deref(),
                        ),
                    };
                    let secret = cx.secret(&dp, c.secret, env, file).map_err(|mut e| {
                        if env.is_none() && file.is_none() {
                            e.key = format!("{dp}.{}_env", c.secret);
                            e.problem = format!(
                                "the {kind} profile needs the partner's {} ({}_env or {}_file)",
                                c.secret.replace('_', " "),
                                c.secret,
                                c.secret
                            );
                        }
                        e
                    })?;
                    // Sent in a header or a URL: visible ASCII only (a
                    // token never has spaces or control characters).
                    if !secret.expose().iter().all(|b| b.is_ascii_graphic()) {
                        return Err(cx.err(
                            Ctx::secret_key(&dp, c.secret, env),
                            format!("the {} has characters other than visible ASCII", c.secret.replace('_', " ")),
                            "store the token exactly as the partner issued it, without spaces or line breaks inside",
                        ));
                    }
                    credentials.push(PushCredential {
                        place: c.place,
                        secret,
                    });
                }
                let takes_developer_token = enc
                    .credentials()
                    .iter()
                    .any(|c| c.secret == "developer_token");
                if (d.developer_token_env.is_some() || d.developer_token_file.is_some())
                    && !takes_developer_token
                {
                    return Err(cx.err(
                        format!("{dp}.developer_token_env"),
                        format!("the {kind} profile takes no developer token"),
                        "remove developer_token_env / developer_token_file (only google_ads uses one)",
                    ));
                }
            }
            let gzip = match d.compression.as_deref() {
                None | Some("none") => false,
                Some("gzip") => true,
                Some(o) => {
                    return Err(cx.err(
                        format!("{dp}.compression"),
                        format!("unknown compression \"{o}\""),
                        "use \"gzip\" or leave it out",
                    ))
                }
            };
            let max_in_flight = d.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
            if max_in_flight == 0 || max_in_flight > 256 {
                return Err(cx.err(
                    format!("{dp}.max_in_flight"),
                    "must be between 1 and 256",
                    "use e.g. 4",
                ));
            }
            let timeout_ms = d.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
            if timeout_ms == 0 {
                return Err(cx.err(
                    format!("{dp}.timeout_ms"),
                    "must be above 0",
                    "use e.g. 10000",
                ));
            }
            if let Some(ca) = &d.ca_file {
                let full = if ca.is_absolute() {
                    ca.clone()
                } else {
                    cx.base_dir.join(ca)
                };
                if std::fs::metadata(&full).is_err() {
                    return Err(cx.err(
                        format!("{dp}.ca_file"),
                        format!("cannot read {}", full.display()),
                        "point ca_file at a PEM file of CA certificates",
                    ));
                }
            }
            Delivery::Push(PushConfig {
                endpoint,
                signing_secret,
                signing_secret_key: Ctx::secret_key(
                    &dp,
                    "signing_secret",
                    d.signing_secret_env.as_deref(),
                ),
                credentials,
                gzip,
                timeout: Duration::from_millis(timeout_ms),
                max_in_flight,
                max_events_per_second: d.max_events_per_second.unwrap_or(0),
                ca_file: d.ca_file.map(|c| {
                    if c.is_absolute() {
                        c
                    } else {
                        cx.base_dir.join(c)
                    }
                }),
                notice_endpoint,
            })
        }
        "pull" => {
            push_only("endpoint", d.endpoint.is_some())?;
            push_only(
                "signing_secret_env",
                d.signing_secret_env.is_some() || d.signing_secret_file.is_some(),
            )?;
            push_only("compression", d.compression.is_some())?;
            push_only("timeout_ms", d.timeout_ms.is_some())?;
            push_only("max_in_flight", d.max_in_flight.is_some())?;
            push_only("max_events_per_second", d.max_events_per_second.is_some())?;
            push_only("ca_file", d.ca_file.is_some())?;
            if d.notice_endpoint.is_some() {
                return Err(cx.err(
                    format!("{dp}.notice_endpoint"),
                    "only applies to mode = \"push\"",
                    "remove it: a pull partner reads its notices at GET /v1/feed/{partner}/notices",
                ));
            }
            let token = cx.secret(
                &dp,
                "token",
                d.token_env.as_deref(),
                d.token_file.as_deref(),
            )?;
            tokens.push((
                Ctx::secret_key(&dp, "token", d.token_env.as_deref()),
                token.clone(),
            ));
            let lease = d.lease_ms.unwrap_or(DEFAULT_LEASE_MS);
            if lease == 0 {
                return Err(cx.err(
                    format!("{dp}.lease_ms"),
                    "must be above 0",
                    "use e.g. 30000",
                ));
            }
            Delivery::Pull(PullConfig {
                token,
                lease: Duration::from_millis(lease),
            })
        }
        other => {
            return Err(cx.err(
                format!("{dp}.mode"),
                format!("unknown delivery mode \"{other}\""),
                "use \"push\" or \"pull\"",
            ))
        }
    };
    let max_event_age_seconds = d
        .max_event_age_seconds
        .unwrap_or(DEFAULT_MAX_EVENT_AGE_SECONDS);
    if max_event_age_seconds > MAX_EVENT_AGE_SECONDS {
        return Err(cx.err(
            format!("{dp}.max_event_age_seconds"),
            format!("must be at most {MAX_EVENT_AGE_SECONDS} (a year)"),
            "use e.g. 259200 (72 h, the default)",
        ));
    }
    let outbox_max_bytes = p.outbox_max_bytes.unwrap_or(DEFAULT_OUTBOX_MAX_BYTES);
    if outbox_max_bytes < 64 * 1024 {
        return Err(cx.err(
            format!("{path}.outbox_max_bytes"),
            "must be at least 65536",
            "use e.g. 1073741824 (1 GiB)",
        ));
    }
    let (profile, encoder): (ProfileKind, Arc<dyn Profile>) = match profile {
        Some((kind, enc)) => (kind, enc),
        None => (
            ProfileKind::Adgate,
            Arc::new(crate::profile::adgate::AdgateProfile::new(
                keys.last().expect("checked above").partner_key(),
                identifiers.clone(),
            )),
        ),
    };
    Ok(PartnerConfig {
        name: p.name,
        event_types: p.event_types,
        identifiers,
        fields,
        outbox_max_bytes,
        on_full,
        delivery,
        max_event_age: Duration::from_secs(max_event_age_seconds),
        batch_max_events,
        batch_max_wait: Duration::from_millis(
            d.batch_max_wait_ms.unwrap_or(DEFAULT_BATCH_MAX_WAIT_MS),
        ),
        keys,
        consent: partner_consent(cx, &format!("{path}.consent"), p.consent)?,
        profile,
        encoder,
    })
}

/// A partner API profile and its encoder.
type ProfileEncoder = (ProfileKind, Arc<dyn Profile>);

/// `profile`, `profile_options` and `linkable_ids` of a partner: the
/// profile's encoder built from its checked options (`None` for the adgate
/// profile, whose encoder needs the partner key).
fn partner_profile(
    cx: &Ctx<'_>,
    path: &str,
    p: &RawPartner,
    identifiers: &[Kind],
    fields: &[FieldSpec],
) -> Result<Option<ProfileEncoder>, ConfigError> {
    let kind = match p.profile.as_deref() {
        None => ProfileKind::Adgate,
        Some(s) => ProfileKind::parse(s).ok_or_else(|| {
            cx.err(
                format!("{path}.profile"),
                format!("unknown profile \"{s}\""),
                "use \"adgate\" (the default), \"meta_capi\", \"google_ads\" or \"tiktok_events\"",
            )
        })?,
    };
    let accept = match p.linkable_ids.as_deref() {
        None | Some("refuse") => false,
        Some("accept") => true,
        Some(o) => return Err(cx.err(
            format!("{path}.linkable_ids"),
            format!("unknown value \"{o}\""),
            "write linkable_ids = \"accept\" to allow plain SHA-256 identifiers, or leave it out",
        )),
    };
    if kind == ProfileKind::Adgate {
        if p.profile_options.is_some() {
            return Err(cx.err(
                format!("{path}.profile_options"),
                "the adgate profile takes no options",
                "remove [partners.profile_options], or set profile to the partner API it is meant for",
            ));
        }
        return Ok(None);
    }
    let usable = profile_identifiers(kind);
    if !identifiers.iter().any(|k| usable.contains(k)) {
        return Err(cx.err(
            format!("{path}.identifiers"),
            format!(
                "the {kind} profile can send none of these identifiers (it sends {})",
                usable
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "list at least one of {} in identifiers",
                usable
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let empty = toml::Value::Table(Default::default());
    let options = p.profile_options.as_ref().unwrap_or(&empty);
    let paths: Vec<String> = fields.iter().map(|f| f.path.clone()).collect();
    let view = PartnerView {
        event_types: &p.event_types,
        fields: &paths,
    };
    let enc: Arc<dyn Profile> = match crate::profile::build(kind, options, &view) {
        Ok(e) => Arc::from(e),
        Err(errs) => {
            let first = &errs[0];
            // serde's "unknown field `pixel`, expected ..." names the key.
            let key = first
                .problem
                .strip_prefix("unknown field `")
                .and_then(|r| r.split_once('`'))
                .map(|(k, _)| format!("profile_options.{k}"))
                .unwrap_or_else(|| first.key.clone());
            let mut problem = first.problem.clone();
            for e in &errs[1..] {
                problem.push_str(&format!("; also {path}.{e}"));
            }
            return Err(cx.err(format!("{path}.{key}"), problem, first.fix.clone()));
        }
    };
    if enc.linkable() && !accept {
        return Err(cx.err(
            format!("{path}.linkable_ids"),
            format!(
                "the {kind} profile sends plain SHA-256 of identifiers, which is the same value at every partner and reversible with a list of candidate emails or phones (linkable), and this partner has not accepted that"
            ),
            format!(
                "after reviewing docs/profiles.md, add linkable_ids = \"accept\" to partners[{}], or use profile = \"adgate\" (keyed, unlinkable ad_ids)",
                path.trim_start_matches("partners[").trim_end_matches(']')
            ),
        ));
    }
    Ok(Some((kind, enc)))
}

/// `[partners.consent]` -> [`PartnerConsent`]; absent keys take the defaults.
fn partner_consent(
    cx: &Ctx<'_>,
    path: &str,
    raw: Option<RawPartnerConsent>,
) -> Result<PartnerConsent, ConfigError> {
    let Some(raw) = raw else {
        return Ok(PartnerConsent::default());
    };
    let mut c = PartnerConsent::default();
    if let Some(v) = raw.tcf_vendor_id {
        if v == 0 || v > u64::from(u16::MAX) {
            return Err(cx.err(
                format!("{path}.tcf_vendor_id"),
                format!("{v} is not a TCF vendor id (1-65535)"),
                "use the partner's id in the IAB Global Vendor List, e.g. 755, or remove the key",
            ));
        }
        c.tcf_vendor_id = Some(v as u16);
    }
    if let Some(list) = raw.tcf_purposes {
        let mut purposes = Vec::new();
        for (j, &n) in list.iter().enumerate() {
            let key = format!("{path}.tcf_purposes[{j}]");
            if n == 0 || n > u64::from(MAX_TCF_PURPOSE) {
                return Err(cx.err(
                    key,
                    format!("{n} is not a TCF purpose (TCF v2.2 defines purposes 1-{MAX_TCF_PURPOSE})"),
                    "use purpose numbers 1-11, e.g. [1, 3, 4] (store/access, ads profile, select ads)",
                ));
            }
            if purposes.contains(&(n as u8)) {
                return Err(cx.err(
                    key,
                    format!("purpose {n} is listed twice"),
                    "list each purpose once",
                ));
            }
            purposes.push(n as u8);
        }
        c.tcf_purposes = purposes;
        c.tcf_purposes_set = true;
    }
    c.tcf_required = raw.tcf_required.unwrap_or(false);
    c.gpp_us = raw.gpp_us.unwrap_or(true);
    c.consent_mode = match raw.consent_mode.as_deref() {
        None | Some("ignore") => ConsentMode::Ignore,
        Some("required") => ConsentMode::Required,
        Some(other) => {
            return Err(cx.err(
                format!("{path}.consent_mode"),
                format!("unknown consent_mode \"{other}\""),
                "use \"required\" (ad_user_data and ad_personalization must be \"granted\") or \"ignore\"",
            ))
        }
    };
    Ok(c)
}

impl Config {
    /// The one-screen summary `adgate check-config` prints. Names, modes,
    /// event types, fields and key ids; never a secret.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "config {}: OK", self.source.display());
        let _ = writeln!(
            s,
            "server: listen {}, metrics {}, data_dir {}, max_body_bytes {}, shutdown_grace {}s",
            self.server.listen,
            self.server
                .metrics_listen
                .map(|a| a.to_string())
                .unwrap_or_else(|| "on main listener".into()),
            self.server.data_dir.display(),
            self.server.max_body_bytes,
            self.server.shutdown_grace.as_secs()
        );
        let _ = writeln!(
            s,
            "limits: max_in_flight_requests {}, max_in_flight_per_producer {}, max_events_per_body {}, header_timeout {} ms",
            self.server.max_in_flight_requests,
            self.server.max_in_flight_per_producer,
            self.server.max_events_per_body,
            self.server.header_timeout.as_millis()
        );
        match &self.server.tls {
            None => {
                let _ = writeln!(s, "tls: off (plain HTTP on every listener)");
            }
            Some(t) => {
                let _ = writeln!(
                    s,
                    "tls: TLS 1.2/1.3 on every listener, cert_file {} ({} certificate{}), key_file {}",
                    t.cert_file.display(),
                    t.chain_len,
                    if t.chain_len == 1 { "" } else { "s" },
                    t.key_file.display()
                );
                if let Some(ca) = &t.client_ca_file {
                    let named: Vec<String> = self
                        .producers
                        .iter()
                        .filter_map(|p| {
                            p.client_cert_name
                                .as_ref()
                                .map(|n| format!("{} = {n}", p.name))
                        })
                        .collect();
                    let _ = writeln!(
                        s,
                        "mtls: client certificates from {} required on {}; producer certificates: {}",
                        ca.display(),
                        self.server.listen,
                        if named.is_empty() {
                            "(none named)".to_string()
                        } else {
                            named.join(", ")
                        }
                    );
                }
            }
        }
        match &self.outbox {
            OutboxBackend::Embedded => {
                let _ = writeln!(s, "outbox: embedded (data_dir/outbox)");
            }
            OutboxBackend::JetStream(j) => {
                let _ = writeln!(
                    s,
                    "outbox: jetstream, servers {}, replicas {}, auth {}, tls {}",
                    j.servers.join(", "),
                    j.replicas,
                    match j.auth {
                        NatsAuth::None => "none",
                        NatsAuth::UserPassword { .. } => "user/password",
                        NatsAuth::Token(_) => "token",
                        NatsAuth::Creds(_) => "creds",
                    },
                    if j.tls_required || j.tls_ca_file.is_some() || j.tls_client.is_some() {
                        "on"
                    } else {
                        "off"
                    }
                );
            }
        }
        let names: Vec<&str> = self.producers.iter().map(|p| p.name.as_str()).collect();
        let _ = writeln!(
            s,
            "producers: {}",
            if names.is_empty() {
                "(none)".into()
            } else {
                names.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "admin API: {}",
            if self.admin_token.is_some() {
                "enabled"
            } else {
                "disabled"
            }
        );
        let _ = writeln!(
            s,
            "privacy: minor_age {}, sensitive_categories [{}], time_granularity {}, access_retention_days {}, default_phone_country {}",
            self.privacy.minor_age,
            self.privacy.sensitive_categories.join(", "),
            self.privacy.time_granularity.as_str(),
            self.privacy.access_retention_days,
            self.privacy
                .default_phone_country
                .map(|c| format!("{c:?}"))
                .unwrap_or_else(|| "none (E.164 only)".into())
        );
        let linkable = self.linkable_partners();
        let _ = writeln!(
            s,
            "linkable identifiers (plain SHA-256, same at every partner; see docs/profiles.md): {}",
            if linkable.is_empty() {
                "sent to no partner".to_string()
            } else {
                format!("sent to {}", linkable.join(", "))
            }
        );
        for p in &self.partners {
            let ids: Vec<&str> = p.identifiers.iter().map(|k| k.as_str()).collect();
            let keys: Vec<&str> = p.keys.iter().map(|k| k.id.as_str()).collect();
            let target = match &p.delivery {
                Delivery::Push(d) => format!(
                    "push to {}{}",
                    d.endpoint,
                    if d.gzip { " (gzip)" } else { "" }
                ),
                Delivery::Pull(_) => format!("pull from /v1/feed/{}", p.name),
            };
            let _ = writeln!(s, "partner {}: {}", p.name, target);
            let _ = writeln!(s, "  profile: {}", profile_summary(p));
            let _ = writeln!(s, "  event_types: {}", p.event_types.join(", "));
            let _ = writeln!(s, "  identifiers: {}", ids.join(" > "));
            let _ = writeln!(
                s,
                "  fields: {}",
                if p.fields.is_empty() {
                    "(none)".into()
                } else {
                    p.fields
                        .iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            let prev = p
                .previous_key()
                .map(|(k, until)| {
                    let mut t = String::new();
                    crate::event::format_utc(until, &mut t);
                    format!("; outputs also carry ad_id_prev under {} until {t}", k.id)
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  keys: {} (signing with {}{prev})",
                keys.join(", "),
                p.signing_key().id
            );
            let notices = match &p.delivery {
                Delivery::Push(d) => match &d.notice_endpoint {
                    Some(ne) => format!("push to {ne}"),
                    None => "none (no notice_endpoint)".to_string(),
                },
                Delivery::Pull(_) => format!("pull from /v1/feed/{}/notices", p.name),
            };
            let _ = writeln!(s, "  notices: {notices}");
            let _ = writeln!(
                s,
                "  outbox_max_bytes {}, on_full {}, max_event_age {}s",
                p.outbox_max_bytes,
                match p.on_full {
                    OnFull::Reject => "reject",
                    OnFull::DeadLetter => "dead_letter",
                },
                p.max_event_age.as_secs()
            );
            let _ = writeln!(s, "  consent: {}", p.consent.summary());
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        s
    }

    /// The partners that receive linkable identifiers (plain SHA-256), in
    /// config order.
    pub fn linkable_partners(&self) -> Vec<&str> {
        self.partners
            .iter()
            .filter(|p| p.linkable())
            .map(|p| p.name.as_str())
            .collect()
    }

    /// Event types that at least one partner receives.
    pub fn routed_event_types(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut m: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in &self.partners {
            for t in &p.event_types {
                m.entry(t.as_str()).or_default().push(p.name.as_str());
            }
        }
        m
    }
}

/// One line on a partner's profile for the summary: what it sends and
/// whether that is linkable. Names no secret.
fn profile_summary(p: &PartnerConfig) -> String {
    if !p.linkable() {
        return format!(
            "{} (keyed ad_ids, not linkable; identifiers {})",
            p.profile,
            p.identifiers
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(" > ")
        );
    }
    let usable = profile_identifiers(p.profile);
    let sent: Vec<&str> = p
        .identifiers
        .iter()
        .filter(|k| usable.contains(k))
        .map(|k| k.as_str())
        .collect();
    let signed = match &p.delivery {
        Delivery::Push(d) if d.signing_secret.is_some() => ", Adgate-Signature too",
        _ => "",
    };
    format!(
        "{} (LINKABLE: plain SHA-256 of {}; linkable_ids = \"accept\"; at most {} events per request{signed})",
        p.profile,
        sent.join(", "),
        p.batch_limit()
    )
}

/// Environment lookup over a fixed map, for tests and the embedded demo.
pub fn env_from(map: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// Debug of the whole validated config (what a stray `{:?}` in a log
    /// line would print) shows no token, key, signing secret or TLS private
    /// key, in any encoding.
    #[test]
    fn debug_of_a_config_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key_pem = c.signing_key.serialize_pem();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        write("cert.pem", &c.cert.pem());
        write("key.pem", &key_pem);
        write("feed.token", "feed-token-in-a-file-0123456789abcdef\n");
        let key_bytes: Vec<u8> = (7..39).collect();
        let key_b64 = base64::engine::general_purpose::STANDARD.encode(&key_bytes);
        let secrets = [
            "producer-token-0123456789abcdef0123456789",
            "admin-token-0123456789abcdef0123456789abcd",
            "whsec-signing-secret-0123456789abcdef",
            "feed-token-in-a-file-0123456789abcdef",
        ];
        let env = env_from(HashMap::from([
            ("T_WEB".to_string(), secrets[0].to_string()),
            ("T_ADMIN".to_string(), secrets[1].to_string()),
            ("T_SIGN".to_string(), secrets[2].to_string()),
            ("K_A".to_string(), key_b64.clone()),
        ]));
        let toml = r#"
[server]
listen = "127.0.0.1:0"
[server.tls]
cert_file = "cert.pem"
key_file = "key.pem"
[[producers]]
name = "web"
token_env = "T_WEB"
[admin]
token_env = "T_ADMIN"
[[partners]]
name = "acme"
event_types = ["ad_impression"]
identifiers = ["email"]
[partners.delivery]
mode = "push"
endpoint = "https://ads.example/v1"
signing_secret_env = "T_SIGN"
[[partners.keys]]
id = "k1"
secret_env = "K_A"
[[partners]]
name = "beta"
event_types = ["ad_impression"]
identifiers = ["email"]
[partners.delivery]
mode = "pull"
token_file = "feed.token"
[[partners.keys]]
id = "k1"
secret_env = "K_B"
"#;
        let env2 = {
            let k2 = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
            move |k: &str| {
                if k == "K_B" {
                    Some(k2.clone())
                } else {
                    env(k)
                }
            }
        };
        let cfg = Config::from_toml(toml, "t.toml", dir.path(), &env2).expect("valid");
        let dbg = format!("{cfg:?} {:#?}", cfg);
        assert!(
            dbg.contains("Secret(<redacted>)"),
            "secrets are there, redacted"
        );
        let hex = crate::util::hex;
        let mut needles: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        needles.push(key_b64);
        needles.push(hex(&key_bytes));
        needles.push(
            format!("{:?}", &key_bytes[..8])
                .trim_end_matches(']')
                .to_string(),
        );
        needles.push(hex(&[9u8; 8]));
        // A line from the middle of the TLS key's PEM, and its DER as hex.
        needles.push(key_pem.lines().nth(1).unwrap().to_string());
        needles.push(hex(&c.signing_key.serialize_der()[10..30]));
        for n in &needles {
            assert!(
                !dbg.contains(n.as_str()),
                "Debug shows a secret ({n}):\n{dbg}"
            );
        }
    }

    #[test]
    fn weak_secrets_are_warned_about_by_key_never_by_value() {
        let env = env_from(HashMap::from([
            ("T_WEB".to_string(), "short-web".to_string()),
            ("T_ADMIN".to_string(), "short-admin".to_string()),
            ("T_SIGN".to_string(), "short-sign".to_string()),
            ("T_FEED".to_string(), "short-feed".to_string()),
            (
                "K_A".to_string(),
                base64::engine::general_purpose::STANDARD.encode([1u8; 32]),
            ),
            (
                "K_B".to_string(),
                base64::engine::general_purpose::STANDARD.encode([2u8; 32]),
            ),
        ]));
        let toml = r#"
[[producers]]
name = "web"
token_env = "T_WEB"
[admin]
token_env = "T_ADMIN"
[[partners]]
name = "acme"
event_types = ["ad_impression"]
identifiers = ["email"]
[partners.delivery]
mode = "push"
endpoint = "https://ads.example/v1"
signing_secret_env = "T_SIGN"
[[partners.keys]]
id = "k1"
secret_env = "K_A"
[[partners]]
name = "beta"
event_types = ["ad_impression"]
identifiers = ["email"]
[partners.delivery]
mode = "pull"
token_env = "T_FEED"
[[partners.keys]]
id = "k1"
secret_env = "K_B"
"#;
        let cfg = Config::from_toml(toml, "t.toml", Path::new("."), &env).unwrap();
        let all = cfg.warnings.join("\n");
        for key in [
            "producers[0].token_env: shorter than 32 bytes",
            "admin.token_env: shorter than 32 bytes",
            "partners[0].delivery.signing_secret_env: shorter than 32 bytes",
            "partners[1].delivery.token_env: shorter than 32 bytes",
        ] {
            assert!(all.contains(key), "no warning {key:?} in:\n{all}");
        }
        for v in ["short-web", "short-admin", "short-sign", "short-feed"] {
            assert!(!all.contains(v), "a warning shows the value {v}:\n{all}");
        }
    }

    /// `[partners.consent]`: defaults, each check naming its key, unknown keys.
    #[test]
    fn partner_consent_is_validated_by_key() {
        let base = |consent: &str| {
            format!(
                r#"
[[partners]]
name = "acme"
event_types = ["ad_impression"]
identifiers = ["email"]
[partners.delivery]
mode = "pull"
token_env = "T"
[[partners.keys]]
id = "k1"
secret_env = "K"
{consent}
"#
            )
        };
        let env = env_from(HashMap::from([
            (
                "T".to_string(),
                "feed-token-feed-token-feed-token-x".to_string(),
            ),
            (
                "K".to_string(),
                base64::engine::general_purpose::STANDARD.encode([3u8; 32]),
            ),
        ]));
        let load = |c: &str| Config::from_toml(&base(c), "t.toml", Path::new("."), &env);
        let cfg = load("").unwrap();
        assert_eq!(cfg.partners[0].consent, PartnerConsent::default());
        assert!(!cfg.partners[0].consent.uses_tcf());
        assert!(cfg
            .summary()
            .contains("consent: tcf not used; gpp_us on; consent_mode ignore"));
        let cfg = load(
            "[partners.consent]\ntcf_vendor_id = 755\nconsent_mode = \"required\"\ngpp_us = false",
        )
        .unwrap();
        let c = &cfg.partners[0].consent;
        assert_eq!(
            (c.tcf_vendor_id, c.tcf_purposes.as_slice()),
            (Some(755), &[1u8, 3, 4][..])
        );
        assert_eq!(c.consent_mode, ConsentMode::Required);
        assert!(!c.gpp_us && c.uses_tcf());
        assert!(cfg
            .summary()
            .contains("tcf purposes [1, 3, 4] + vendor 755; gpp_us off; consent_mode required"));
        for (consent, key, problem) in [
            (
                "tcf_vendor_id = 0",
                "partners[0].consent.tcf_vendor_id",
                "not a TCF vendor id",
            ),
            (
                "tcf_vendor_id = 70000",
                "partners[0].consent.tcf_vendor_id",
                "not a TCF vendor id",
            ),
            (
                "tcf_purposes = [1, 12]",
                "partners[0].consent.tcf_purposes[1]",
                "12 is not a TCF purpose",
            ),
            (
                "tcf_purposes = [0]",
                "partners[0].consent.tcf_purposes[0]",
                "0 is not a TCF purpose",
            ),
            (
                "tcf_purposes = [3, 3]",
                "partners[0].consent.tcf_purposes[1]",
                "listed twice",
            ),
            (
                "consent_mode = \"always\"",
                "partners[0].consent.consent_mode",
                "unknown consent_mode",
            ),
        ] {
            let e = load(&format!("[partners.consent]\n{consent}")).unwrap_err();
            assert_eq!(e.key, key, "{consent}: {e}");
            assert!(e.problem.contains(problem), "{consent}: {e}");
            assert!(!e.fix.is_empty());
        }
        let e = load("[partners.consent]\ntcf_vendor = 755").unwrap_err();
        assert!(e.to_string().contains("tcf_vendor"), "{e}");
    }
}
