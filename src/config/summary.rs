//! `adgate check-config`'s summary of a validated config.

use super::*;

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
pub(super) fn profile_summary(p: &PartnerConfig) -> String {
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
