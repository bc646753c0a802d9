//! `adgate explain`: runs the real policy on events from a file or stdin and
//! says, for each event and partner, what the partner would receive and, for
//! every input field, whether it was kept, pseudonymized, coarsened or
//! dropped, and why. Reads no data dir and sends nothing; the opt-out list
//! is not consulted (it lives in the data dir).
//!
//! For a partner with a profile other than adgate (see docs/profiles.md)
//! the output is the event as that partner's API receives it, and the
//! report says whether the partner receives linkable identifiers.

use serde_json::{json, Value};

use crate::config::{protected_conflict, Config};
use crate::event::Event;
use crate::identity::{self, Kind, SubjectHasher};
use crate::ingest::decode::{split_body, BodyForm, Item};
use crate::policy::{NoOptOuts, Outcome, Policy, RequestSignals};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Explains every event of `input` (a JSON object, array or NDJSON).
/// Returns the report as JSON values, one per event.
pub fn explain(config: &Config, partner: Option<&str>, input: &[u8]) -> Result<Vec<Value>, String> {
    explain_with(config, partner, input, RequestSignals::default())
}

/// [`explain`] as if the request carried `request` (`--sec-gpc`).
pub fn explain_with(
    config: &Config,
    partner: Option<&str>,
    input: &[u8],
    request: RequestSignals,
) -> Result<Vec<Value>, String> {
    if let Some(p) = partner {
        if config.partner(p).is_none() {
            let names: Vec<&str> = config.partners.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "no partner named \"{p}\" in the config (partners: {})",
                names.join(", ")
            ));
        }
    }
    // A fixed internal key: explain never sees the data dir's, and the
    // subject hashes it makes are not shown.
    let policy = Policy::new(config, SubjectHasher::new(&[0u8; 32]));
    let items = split_body(input, BodyForm::Json).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let parsed = match item {
            Item::Text(t) => Event::parse(t),
            Item::Raw(r) => Event::parse(r.get()),
            Item::Bad(r) => Err(r.clone()),
        };
        let ev = match parsed {
            Ok(e) => e,
            Err(r) => {
                out.push(json!({"index": index, "rejected": {"reason": r.reason.as_str(), "error": r.message}}));
                continue;
            }
        };
        let eval = policy.evaluate_with(&ev, &NoOptOuts, request);
        let tree: Value = match item {
            Item::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            Item::Raw(r) => serde_json::from_str(r.get()).unwrap_or(Value::Null),
            Item::Bad(_) => Value::Null,
        };
        let mut paths = Vec::new();
        leaf_paths(&tree, "", &mut paths);
        let mut partners = Vec::new();
        for (i, pp) in policy.partners.iter().enumerate() {
            if partner.is_some_and(|n| n != pp.name) {
                continue;
            }
            let pc = config.partner(&pp.name).expect("policy built from config");
            let (outcome, reason, detail, output) = match &eval.outcomes[i] {
                Outcome::Route(s) => (
                    "forwarded",
                    Value::Null,
                    Value::Null,
                    serde_json::from_slice::<Value>(s.line()).unwrap_or(Value::Null),
                ),
                Outcome::Drop(r) => {
                    let detail = match r {
                        crate::policy::DropReason::NotAllowed => {
                            format!(
                                "event_type is not in this partner's event_types [{}]",
                                pc.event_types.join(", ")
                            )
                        }
                        crate::policy::DropReason::NoConsent => {
                            eval.consent[i].map(|r| r.to_string()).unwrap_or_default()
                        }
                        crate::policy::DropReason::NoIdentifier => format!(
                            "none of the partner's identifiers [{}] is present and valid",
                            pc.identifiers
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        crate::policy::DropReason::PiiGuard => match &eval.guard_hits[i] {
                            Some(g) => format!(
                                "the leak guard found {} in allow-listed field {} (after decoding)",
                                g.hit.as_str(),
                                g.path
                            ),
                            None => "the leak guard found personal data".to_string(),
                        },
                        _ => eval
                            .blocked
                            .map(|(_, why)| why.to_string())
                            .unwrap_or_default(),
                    };
                    ("dropped", json!(r.as_str()), json!(detail), Value::Null)
                }
            };
            let used = eval.used[i];
            let forwarded = outcome == "forwarded";
            let omitted = &eval.omitted[i];
            let fields: Vec<Value> = paths
                .iter()
                .map(|p| {
                    let left_out = omitted.iter().find(|o| {
                        p == &o.path
                            || p.strip_prefix(o.path.as_str())
                                .is_some_and(|r| r.starts_with('.'))
                    });
                    let (action, why) = match left_out {
                        Some(o) if forwarded => (
                            "omitted",
                            format!("left out of this partner's copy: {}", o.why),
                        ),
                        _ => match pp.encoder() {
                            Some(enc) => profile_fate(config, pc, enc, &tree, p, forwarded)
                                .unwrap_or_else(|| {
                                    field_fate(config, pc, p, used, forwarded, pp.key().id())
                                }),
                            None => field_fate(config, pc, p, used, forwarded, pp.key().id()),
                        },
                    };
                    json!({"path": p, "action": action, "why": why})
                })
                .collect();
            let omitted_json: Vec<Value> = omitted
                .iter()
                .map(|o| json!({"path": o.path, "why": o.why}))
                .collect();
            partners.push(json!({
                "partner": pp.name,
                "profile": pc.profile.as_str(),
                "linkable": pc.linkable(),
                "outcome": outcome,
                "reason": reason,
                "detail": detail,
                "output": output,
                "omitted": omitted_json,
                "fields": fields,
            }));
        }
        out.push(json!({"index": index, "event_type": ev.event_type, "partners": partners}));
    }
    Ok(out)
}

fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(x, &p, out);
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.push(prefix.to_owned());
            }
        }
    }
}

/// What a partner profile other than adgate does with `path`: the event
/// id, the time and the identifiers differ from the adgate profile;
/// `None` for every other path (the same rules apply).
fn profile_fate(
    config: &Config,
    pc: &crate::config::PartnerConfig,
    enc: &dyn crate::profile::Profile,
    tree: &Value,
    path: &str,
    forwarded: bool,
) -> Option<(&'static str, String)> {
    if !forwarded {
        return None;
    }
    let profile = enc.name();
    let g = config.privacy.time_granularity.as_str();
    let value = |p: &str| {
        p.split('.')
            .try_fold(tree, |v, seg| v.get(seg))
            .and_then(Value::as_str)
    };
    let usable = crate::config::profile_identifiers(pc.profile);
    let listed = |k: Kind| pc.identifiers.contains(&k) && usable.contains(&k);
    let linkable = "plain SHA-256, the same at every partner: linkable (linkable_ids = \"accept\")";
    Some(match path {
        "event_id" => (
            "pseudonymized",
            format!("sent as the {profile} event id, HMAC-SHA256 with key {} (the partner de-duplicates on it); the producer's id never leaves", pc.signing_key().id),
        ),
        "timestamp" => (
            "coarsened",
            format!("truncated to the {g} and sent in the {profile} time format (UTC)"),
        ),
        "event_type" if pc.profile == crate::profile::ProfileKind::GoogleAds => (
            "dropped",
            "not sent: the conversion is recorded under profile_options.conversion_action"
                .into(),
        ),
        "event_type" => (
            "kept",
            "sent as the partner's event name mapped in profile_options.event_names".into(),
        ),
        "user.email" | "user.phone" | "user.account_id" => {
            let kind = Kind::parse(&path[5..]).expect("identifier path");
            if !listed(kind) {
                return Some((
                    "dropped",
                    format!("{kind} is not an identifier this partner's {profile} profile sends (see identifiers); user data is never forwarded"),
                ));
            }
            let raw = value(path).unwrap_or_default();
            let ok = match kind {
                Kind::Email => enc.normalize_email(raw).is_some(),
                Kind::Phone => {
                    identity::normalize_with(kind, raw, config.privacy.default_phone_country)
                        .is_some()
                }
                _ => !raw.trim().is_empty(),
            };
            if !ok {
                return Some((
                    "dropped",
                    format!("{kind} is not valid after {profile}'s normalization, so it is not sent"),
                ));
            }
            (
                "hashed",
                format!("normalized by {profile}'s rule and sent as {linkable}"),
            )
        }
        "user.email_sha256" | "user.phone_sha256" => {
            let kind = if path == "user.email_sha256" { Kind::Email } else { Kind::Phone };
            let raw_path = format!("user.{kind}");
            let pre = value(path).unwrap_or_default();
            if !listed(kind) {
                return Some((
                    "dropped",
                    format!("{kind} is not an identifier this partner's {profile} profile sends"),
                ));
            }
            if crate::profile::Hex64::prehashed(pre).is_none() {
                return Some((
                    "dropped",
                    "not 64 hex digits, so not a SHA-256 the partner could match".into(),
                ));
            }
            if value(&raw_path).is_some_and(|r| enc.normalize_email(r).is_some() || kind == Kind::Phone && identity::normalize_with(kind, r, config.privacy.default_phone_country).is_some()) {
                return Some((
                    "dropped",
                    format!("{raw_path} is present: it is normalized and hashed by {profile}'s rule instead"),
                ));
            }
            (
                "forwarded",
                format!("already SHA-256: forwarded lower-cased, never hashed again; {linkable}"),
            )
        }
        "user.device_id" => (
            "dropped",
            format!("the {profile} profile sends no device id; user data is never forwarded"),
        ),
        _ => return None,
    })
}

fn field_fate(
    config: &Config,
    pc: &crate::config::PartnerConfig,
    path: &str,
    used: Option<Kind>,
    forwarded: bool,
    key_id: &str,
) -> (&'static str, String) {
    let g = config.privacy.time_granularity.as_str();
    if !forwarded {
        return (
            "dropped",
            "the event is not forwarded to this partner".into(),
        );
    }
    match path {
        "event_id" => {
            return (
                "pseudonymized",
                format!("sent as a partner-specific event_id (HMAC-SHA256 with key {key_id}); the producer's id never leaves"),
            )
        }
        "event_type" => return ("kept", "event_type is allowed for this partner".into()),
        "timestamp" => return ("coarsened", format!("truncated to the {g} and sent as time (UTC)")),
        _ => {}
    }
    if let Some(kind) = path
        .strip_prefix("user.")
        .and_then(|p| p.strip_suffix("_sha256"))
        .and_then(Kind::parse)
    {
        return (
            "dropped",
            format!("a pre-hashed {kind} cannot be used by the adgate profile: its ad_id is an HMAC of the normalized raw value (send user.{kind}); never forwarded"),
        );
    }
    if let Some(kind) = path.strip_prefix("user.").and_then(Kind::parse) {
        if Some(kind) == used {
            let mut why = format!("normalized and sent only as ad_id = {key_id}.HMAC-SHA256({}:...) with ad_id_type {}", kind, kind);
            if let Some((prev, until)) = pc.previous_key() {
                let mut at = String::new();
                crate::event::format_utc(until, &mut at);
                if ((crate::util::now_ms() / 1000) as i64) < until {
                    why.push_str(&format!(", and as ad_id_prev = {}.HMAC-SHA256({kind}:...) under the previous key until {at} (emit_previous_until)", prev.id));
                } else {
                    why.push_str(&format!("; ad_id_prev under the previous key {} is no longer sent (emit_previous_until {at} has passed)", prev.id));
                }
            }
            return ("pseudonymized", why);
        }
        if let Some(pos) = pc.identifiers.iter().position(|k| *k == kind) {
            let used_pos = used.and_then(|u| pc.identifiers.iter().position(|k| *k == u));
            if used_pos.is_some_and(|u| u < pos) {
                return (
                    "dropped",
                    format!(
                        "{kind} is an identifier, but an earlier one in the partner's list was used"
                    ),
                );
            }
            // Listed before the one used, yet not used: it failed normalization.
            return (
                "dropped",
                format!(
                    "{kind} is not valid after normalization (empty, malformed or not a string), so it counts as absent and a later identifier in the partner's list was used"
                ),
            );
        }
        return (
            "dropped",
            format!("{kind} is not in this partner's identifiers; user data is never forwarded"),
        );
    }
    // The SPEC's own members are read as themselves, not as other names.
    let spec_member = matches!(path, "user.age" | "user.birth_date")
        || path
            .strip_prefix("consent.")
            .is_some_and(|m| crate::event::CONSENT_KEYS.contains(&m));
    let other_signal = path
        .strip_prefix("consent.")
        .or_else(|| path.strip_prefix("user."))
        .filter(|_| !spec_member)
        .and_then(crate::signals::recognize);
    if other_signal.is_some() {
        return (
            "dropped",
            "read as a minor or opt-out signal under another name (docs/policy.md); never forwarded"
                .into(),
        );
    }
    if let Some(prot) = protected_conflict(path) {
        let why = match prot {
            "purchase" | "search" | "view" => {
                "shopping actions (purchases, views, searches) are never shared"
            }
            "user" => "user data is never forwarded (only a pseudonymized ad_id)",
            _ => "page URLs, referrers, IPs and user agents are never forwarded",
        };
        return ("dropped", format!("protected path {prot}: {why}"));
    }
    if let Some(member) = path.strip_prefix("consent.") {
        let read = crate::event::CONSENT_KEYS;
        if !read.contains(&member) {
            return (
                "dropped",
                format!(
                    // Reached only for a forwarded event, so the member was
                    // null: any other value would have stopped it (invalid).
                    "not a consent member adgate reads (it reads {} and the other names of opt-outs in docs/policy.md); it is null, which counts as absent (any other value stops the event as invalid, since it could be a refusal)",
                    read.join(", ")
                ),
            );
        }
        return (
            "dropped",
            "read for the consent rules; never forwarded".into(),
        );
    }
    if let Some(entry) = pc.fields.iter().find(|f| {
        path == f.path
            || path
                .strip_prefix(f.path.as_str())
                .is_some_and(|r| r.starts_with('.'))
    }) {
        return (
            "kept",
            format!(
                "allow-listed by fields entry \"{}\", contract {} (scanned by the leak guard first)",
                entry.path, entry.contract
            ),
        );
    }
    if path == "context.category" {
        return (
            "dropped",
            "read for the sensitive-category rule; not in this partner's fields".into(),
        );
    }
    ("dropped", "not in this partner's fields allow-list".into())
}

/// Renders the report for people.
pub fn render_text(report: &[Value]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for ev in report {
        let idx = ev["index"].as_u64().unwrap_or(0);
        if let Some(r) = ev.get("rejected") {
            let _ = writeln!(
                s,
                "event #{idx}: REJECTED at ingest ({}): {}",
                r["reason"].as_str().unwrap_or(""),
                r["error"].as_str().unwrap_or("")
            );
            let _ = writeln!(s);
            continue;
        }
        let _ = writeln!(
            s,
            "event #{idx} ({})",
            ev["event_type"].as_str().unwrap_or("")
        );
        for p in ev["partners"].as_array().into_iter().flatten() {
            let name = p["partner"].as_str().unwrap_or("");
            let profile = p["profile"].as_str().unwrap_or("adgate");
            if p["linkable"] == true {
                let _ = writeln!(
                    s,
                    "  partner {name}: profile {profile}, receives LINKABLE identifiers (plain SHA-256; linkable_ids = \"accept\")"
                );
            } else if profile != "adgate" {
                let _ = writeln!(s, "  partner {name}: profile {profile}");
            }
            if p["outcome"] == "forwarded" {
                let _ = writeln!(s, "  partner {name}: FORWARDED");
                let _ = writeln!(s, "    sends: {}", p["output"]);
            } else {
                let _ = writeln!(
                    s,
                    "  partner {name}: DROPPED ({}) - {}",
                    p["reason"].as_str().unwrap_or(""),
                    p["detail"].as_str().unwrap_or("")
                );
            }
            for f in p["fields"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    s,
                    "    {:<28} {:<14} {}",
                    f["path"].as_str().unwrap_or(""),
                    f["action"].as_str().unwrap_or(""),
                    f["why"].as_str().unwrap_or("")
                );
            }
        }
        let _ = writeln!(s);
    }
    s
}
