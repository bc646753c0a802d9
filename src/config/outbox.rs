//! `[outbox]`: the embedded log or NATS JetStream, validated.

use super::*;

/// `[outbox]` -> [`OutboxBackend`].
pub(super) fn outbox_backend(
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
