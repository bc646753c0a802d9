//! `[[partners]]`: identifiers, fields and value contracts, delivery,
//! keys, the partner profile and `[partners.consent]`, validated.

use super::*;

/// Event types that name a purchase, product view, search or cart action.
pub(super) fn looks_like_shopping_action(t: &str) -> bool {
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

/// The `fields` allow-list of a partner: each entry a path string or a
/// contract table (crate::contract), none protected, reserved or
/// overlapping another.
pub(super) fn partner_fields(
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
pub(super) fn http_url(cx: &Ctx<'_>, key: &str, s: &str) -> Result<http::Uri, ConfigError> {
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

pub(super) fn partner(
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

/// `profile`, `profile_options` and `linkable_ids` of a partner: the
/// profile's encoder built from its checked options (`None` for the adgate
/// profile, whose encoder needs the partner key).
pub(super) fn partner_profile(
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
pub(super) fn partner_consent(
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
