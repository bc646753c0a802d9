//! `adgate report`: a transparency report for privacy reviewers, built from
//! the data dir (`privacy.db`, `optouts.log`) and the config's structure.
//!
//! It reads the store read-only, so it runs next to a live gateway (SQLite
//! WAL gives it a consistent snapshot). From the config it takes names,
//! event types, identifiers, fields and key ids — never a secret, so a
//! reviewer can run it without the gateway's tokens and keys. The report
//! holds counts, names and dates only.
//!
//! [`collect`] gathers a [`Report`]; [`markdown`] and [`html`] render it.

pub mod document;
pub mod html;
pub mod markdown;
pub mod svg;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::{parse_raw, RawConfig, DEFAULT_ACCESS_RETENTION_DAYS, DEFAULT_DATA_DIR};
use crate::policy::DropReason;
use crate::privacy::{self, counters, day_of, ledger::day_start_ms};

/// What `adgate report` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub since: Since,
    pub now_ms: u64,
}

/// The start of the reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The last N UTC days, today included.
    Days(u32),
    /// From this UTC day (days since 1970-01-01) on.
    Day(i64),
}

impl Since {
    /// `30d` (the last 30 UTC days, today included) or `2026-11-01`.
    pub fn parse(s: &str) -> Result<Since, String> {
        let s = s.trim();
        if let Some(n) = s.strip_suffix('d') {
            return match n.parse::<u32>() {
                Ok(n) if (1..=3650).contains(&n) => Ok(Since::Days(n)),
                _ => Err(format!(
                    "--since {s}: the number of days must be 1 to 3650 (e.g. 30d)"
                )),
            };
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        match time::Date::parse(s, &fmt) {
            Ok(d) => Ok(Since::Day(
                (d - time::Date::from_calendar_date(1970, time::Month::January, 1).expect("valid"))
                    .whole_days(),
            )),
            Err(_) => Err(format!(
                "--since {s}: write a number of days (30d) or a UTC date (2026-11-01)"
            )),
        }
    }

    fn first_day(self, today: i64) -> i64 {
        match self {
            Since::Days(n) => today - n as i64 + 1,
            Since::Day(d) => d.min(today),
        }
    }
}

/// The whole report, rendered by [`markdown`] and [`html`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub generated_at: String,
    pub from: String,
    pub to: String,
    pub days: Vec<String>,
    pub data_dir: String,
    pub config: Option<String>,
    pub producers: BTreeMap<String, ProducerTotals>,
    pub rejected: BTreeMap<String, u64>,
    pub partners: Vec<PartnerReport>,
    pub privacy: PrivacyTotals,
    /// Per day of the period: events received (all producers).
    pub received_daily: Vec<u64>,
    /// Per partner: events delivered per day of the period.
    pub delivered_daily: BTreeMap<String, Vec<u64>>,
    /// Per day: events dropped by the leak guard (all partners).
    pub pii_guard_daily: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerTotals {
    pub received: u64,
    pub duplicates: u64,
    pub throttled: u64,
}

#[derive(Debug, Clone, Default)]
pub struct PartnerReport {
    pub name: String,
    /// From the config; `None` when no config was given or the partner is
    /// no longer in it.
    pub policy: Option<PartnerPolicy>,
    pub routed: u64,
    pub delivered: u64,
    pub dead_lettered: u64,
    /// Every policy drop reason, zeros included.
    pub dropped: BTreeMap<String, u64>,
    pub keys: Vec<KeyInfo>,
    /// Distinct subject hashes the ledger holds deliveries of in the period
    /// (one per identifier, so a person with an email and an account id
    /// counts twice; limited by access_retention_days).
    pub ledger_subjects: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerPolicy {
    pub mode: String,
    pub event_types: Vec<String>,
    pub identifiers: Vec<String>,
    pub fields: Vec<String>,
    /// `profile` as configured (`adgate` when left out).
    pub profile: String,
    /// The profile sends plain SHA-256 of identifiers (see docs/profiles.md).
    pub linkable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    /// Listed in the config given to the report.
    pub configured: bool,
    /// The last configured key: it signs new identifiers.
    pub signing: bool,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Days since the gateway first ran with it.
    pub age_days: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct PrivacyTotals {
    /// Distinct entries in the opt-out list now.
    pub optout_list: u64,
    /// Opt-outs recorded in the period, by identifier kind.
    pub optouts_recorded: BTreeMap<String, u64>,
    /// Events not forwarded because the person opted out, per partner.
    pub optouts_honoured: BTreeMap<String, u64>,
    pub pii_guard: BTreeMap<String, u64>,
    pub forget_requests: u64,
    pub forget_purged: u64,
    pub access_requests: u64,
    /// Notices to partners per partner and outcome (`delivered`,
    /// `dead_lettered`, `skipped`, ...), both types summed.
    pub notices: BTreeMap<String, BTreeMap<String, u64>>,
    pub retention_days: u64,
    pub ledger_rows: u64,
    /// The config names the JetStream backend: the ledger is the fleet's
    /// bucket in NATS, which this report does not read.
    pub ledger_in_jetstream: bool,
}

fn date_of_day(day: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((day_start_ms(day) / 1000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()[..10]
        .to_owned()
}

fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Builds the report. Errors name what could not be read.
pub fn collect(opts: &Options) -> Result<Report, String> {
    let raw: Option<(String, RawConfig)> = match &opts.config {
        Some(p) => {
            let file = p.display().to_string();
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("{file}: cannot read config file: {e}"))?;
            Some((
                file.clone(),
                parse_raw(&text, &file).map_err(|e| e.to_string())?,
            ))
        }
        None => None,
    };
    let data_dir: PathBuf = opts
        .data_dir
        .clone()
        .or_else(|| raw.as_ref().and_then(|(_, r)| r.server.data_dir.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let db_path = data_dir.join(privacy::DB_FILE);
    if !db_path.exists() {
        return Err(format!(
            "{} does not exist: no gateway has run with data dir {} (pass --data-dir or --config)",
            db_path.display(),
            data_dir.display()
        ));
    }
    let conn = privacy::open_ro(&db_path)
        .map_err(|e| format!("cannot open {}: {e}", db_path.display()))?;
    let today = day_of(opts.now_ms);
    let from = opts.since.first_day(today);
    let ndays = (today - from + 1) as usize;
    let rows = counters::read(&conn, from, today)
        .map_err(|e| format!("cannot read {}: {e}", db_path.display()))?;

    let mut r = Report {
        generated_at: rfc3339(opts.now_ms),
        from: date_of_day(from),
        to: date_of_day(today),
        days: (from..=today).map(date_of_day).collect(),
        data_dir: data_dir.display().to_string(),
        config: raw.as_ref().map(|(f, _)| f.clone()),
        received_daily: vec![0; ndays],
        pii_guard_daily: vec![0; ndays],
        ..Default::default()
    };

    // Partners: the config's, in its order, then any others the data knows.
    let mut partners: Vec<PartnerReport> = Vec::new();
    if let Some((_, cfg)) = &raw {
        for p in &cfg.partners {
            partners.push(PartnerReport {
                name: p.name.clone(),
                policy: Some(PartnerPolicy {
                    mode: p
                        .delivery
                        .as_ref()
                        .map(|d| d.mode.clone())
                        .unwrap_or_default(),
                    event_types: p.event_types.clone(),
                    identifiers: p.identifiers.clone(),
                    profile: p.profile.clone().unwrap_or_else(|| "adgate".into()),
                    // Every profile but adgate's sends plain SHA-256.
                    linkable: p
                        .profile
                        .as_deref()
                        .and_then(crate::profile::ProfileKind::parse)
                        .is_some_and(|k| k != crate::profile::ProfileKind::Adgate),
                    fields: p
                        .fields
                        .iter()
                        .filter_map(|v| crate::contract::parse_entry(v).ok())
                        .map(|f| f.to_string())
                        .collect(),
                }),
                keys: p
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| KeyInfo {
                        id: k.id.clone(),
                        configured: true,
                        signing: i + 1 == p.keys.len(),
                        first_seen: None,
                        last_seen: None,
                        age_days: None,
                    })
                    .collect(),
                ..Default::default()
            });
        }
    }
    fn partner<'a>(ps: &'a mut Vec<PartnerReport>, name: &str) -> &'a mut PartnerReport {
        if let Some(i) = ps.iter().position(|p| p.name == name) {
            return &mut ps[i];
        }
        ps.push(PartnerReport {
            name: name.to_owned(),
            ..Default::default()
        });
        ps.last_mut().expect("pushed")
    }

    for row in &rows {
        let i = (row.day - from) as usize;
        let label = |k: &str| row.labels.get(k).cloned().unwrap_or_default();
        let v = row.value;
        match row.metric.as_str() {
            "adgate_events_received_total" => {
                r.producers.entry(label("producer")).or_default().received += v;
                r.received_daily[i] += v;
            }
            "adgate_events_duplicate_total" => {
                r.producers.entry(label("producer")).or_default().duplicates += v
            }
            "adgate_events_throttled_total" => {
                r.producers.entry(label("producer")).or_default().throttled += v
            }
            "adgate_events_rejected_total" => *r.rejected.entry(label("reason")).or_default() += v,
            "adgate_events_routed_total" => partner(&mut partners, &label("partner")).routed += v,
            "adgate_events_delivered_total" => {
                let name = label("partner");
                partner(&mut partners, &name).delivered += v;
                r.delivered_daily
                    .entry(name)
                    .or_insert_with(|| vec![0; ndays])[i] += v;
            }
            "adgate_dead_letter_total" => {
                partner(&mut partners, &label("partner")).dead_lettered += v
            }
            "adgate_events_dropped_total" => {
                let reason = label("reason");
                let name = label("partner");
                *partner(&mut partners, &name)
                    .dropped
                    .entry(reason.clone())
                    .or_default() += v;
                if reason == DropReason::OptedOut.as_str() {
                    *r.privacy.optouts_honoured.entry(name.clone()).or_default() += v;
                }
                if reason == DropReason::PiiGuard.as_str() {
                    *r.privacy.pii_guard.entry(name).or_default() += v;
                    r.pii_guard_daily[i] += v;
                }
            }
            "adgate_optouts_total" => {
                *r.privacy.optouts_recorded.entry(label("kind")).or_default() += v
            }
            "adgate_forget_purged_total" => r.privacy.forget_purged += v,
            "adgate_forget_requests_total" => r.privacy.forget_requests += v,
            "adgate_access_requests_total" => r.privacy.access_requests += v,
            "adgate_notices_total" => {
                *r.privacy
                    .notices
                    .entry(label("partner"))
                    .or_default()
                    .entry(label("outcome"))
                    .or_default() += v
            }
            _ => {}
        }
    }

    // Keys: first/last seen by the gateway.
    let mut st = conn
        .prepare("SELECT partner, key_id, first_seen_ms, last_seen_ms FROM partner_keys ORDER BY partner, first_seen_ms, key_id")
        .map_err(|e| format!("cannot read {}: {e}", db_path.display()))?;
    let keys = st
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)? as u64,
                row.get::<_, i64>(3)? as u64,
            ))
        })
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", db_path.display()))?;
    for (p, id, first, last) in keys {
        let pr = partner(&mut partners, &p);
        let k = match pr.keys.iter_mut().find(|k| k.id == id) {
            Some(k) => k,
            None => {
                pr.keys.push(KeyInfo {
                    id: id.clone(),
                    configured: false,
                    signing: false,
                    first_seen: None,
                    last_seen: None,
                    age_days: None,
                });
                pr.keys.last_mut().expect("pushed")
            }
        };
        k.first_seen = Some(rfc3339(first));
        k.last_seen = Some(rfc3339(last));
        k.age_days = Some((opts.now_ms.saturating_sub(first) / privacy::DAY_MS) as i64);
    }

    // Ledger: rows now, distinct subject hashes per partner in the period.
    r.privacy.ledger_rows =
        conn.query_row("SELECT COUNT(*) FROM ledger", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(|e| format!("cannot read {}: {e}", db_path.display()))? as u64;
    let mut st = conn
        .prepare("SELECT partner, COUNT(DISTINCT subject) FROM ledger WHERE day >= ?1 AND day <= ?2 GROUP BY partner")
        .map_err(|e| format!("cannot read {}: {e}", db_path.display()))?;
    let subjects = st
        .query_map([from, today], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {}: {e}", db_path.display()))?;
    for (p, n) in subjects {
        partner(&mut partners, &p).ledger_subjects = n;
    }
    for p in &mut partners {
        for reason in DropReason::ALL {
            p.dropped.entry(reason.as_str().to_owned()).or_default();
        }
        r.delivered_daily
            .entry(p.name.clone())
            .or_insert_with(|| vec![0; ndays]);
    }
    r.partners = partners;
    r.privacy.retention_days = raw
        .as_ref()
        .and_then(|(_, c)| c.privacy.access_retention_days)
        .unwrap_or(DEFAULT_ACCESS_RETENTION_DAYS);
    r.privacy.optout_list = optout_list_size(&data_dir.join("optouts.log"));
    r.privacy.ledger_in_jetstream = raw.as_ref().is_some_and(|(_, c)| {
        c.outbox
            .as_ref()
            .and_then(|o| o.backend.as_deref())
            .is_some_and(|b| b == "jetstream")
    });
    Ok(r)
}

/// Distinct keyed hashes in the opt-out list (0 when there is none).
fn optout_list_size(path: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    text.lines()
        .filter_map(|l| match crate::optout::read_line(l) {
            crate::optout::Line::Hash(h) => Some(h),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        assert_eq!(Since::parse("30d"), Ok(Since::Days(30)));
        assert_eq!(Since::parse("1970-01-03"), Ok(Since::Day(2)));
        assert!(Since::parse("0d").unwrap_err().contains("1 to 3650"));
        assert!(Since::parse("30").unwrap_err().contains("30d"));
        assert!(Since::parse("2026-13-01").is_err());
        assert_eq!(Since::Days(30).first_day(100), 71);
        assert_eq!(Since::Day(5).first_day(100), 5);
        assert_eq!(Since::Day(500).first_day(100), 100);
        assert_eq!(date_of_day(20_420), "2025-11-28");
    }
}
