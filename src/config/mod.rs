//! Configuration: TOML -> [`RawConfig`] (serde, `deny_unknown_fields`) ->
//! [`Config::from_raw`] (secrets resolved, every docs/config.md rule checked) ->
//! [`Config`], the only form the rest of the gateway sees.
//!
//! Every error is a [`ConfigError`] naming the file, the key path
//! (`partners[1].fields[3]`) and the fix. Secrets are read from `*_env`
//! variables or `*_file` paths and never appear in an error.

pub mod demo;
mod outbox;
mod partner;
mod raw;
mod summary;

use outbox::outbox_backend;
use partner::{looks_like_shopping_action, partner};
pub use raw::*;

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

/// A partner API profile and its encoder.
type ProfileEncoder = (ProfileKind, Arc<dyn Profile>);

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
