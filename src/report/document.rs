//! The report's content as a list of blocks (headings, paragraphs, tables,
//! charts), written once and rendered by [`super::markdown`] and
//! [`super::html`], so both formats say the same thing.

use super::Report;

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<u64>,
}

#[derive(Debug, Clone)]
pub enum Chart {
    /// Vertical bars, one per x label.
    Bars {
        id: &'static str,
        title: String,
        x: Vec<String>,
        series: Series,
    },
    /// One line per series over the x labels.
    Lines {
        id: &'static str,
        title: String,
        x: Vec<String>,
        series: Vec<Series>,
    },
    /// Horizontal bars, one per (label, value).
    HBars {
        id: &'static str,
        title: String,
        items: Vec<(String, u64)>,
    },
}

#[derive(Debug, Clone)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    List(Vec<String>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Rendered as SVG in HTML; Markdown has the same numbers in tables.
    Chart(Chart),
}

fn table(head: &[&str], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        head: head.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

pub fn blocks(r: &Report) -> Vec<Block> {
    let mut b = Vec::new();
    b.push(Block::Heading(1, "adgate transparency report".into()));
    b.push(Block::List(vec![
        format!(
            "Period: {} to {} (UTC days, {} days, today included)",
            r.from,
            r.to,
            r.days.len()
        ),
        format!("Generated: {}", r.generated_at),
        format!("Data dir: {}", r.data_dir),
        format!(
            "Config: {}",
            r.config
                .clone()
                .unwrap_or_else(|| "none given (partner policies not shown; pass --config)".into())
        ),
    ]));
    b.push(Block::Para(
        "Counts come from the gateway's counters, persisted per UTC day every minute and at shutdown \
         (a crash loses at most the last minute). Partners receive only event_type, time (coarsened), \
         a per-partner keyed ad_id, ad_id_type, a per-partner event_id and the allow-listed fields below \
         (a partner with another profile gets the same in its API's shape, with identifiers as plain SHA-256: see below)."
            .into(),
    ));

    // Received.
    b.push(Block::Heading(2, "Events received".into()));
    let total: u64 = r.producers.values().map(|p| p.received).sum();
    let mut rows: Vec<Vec<String>> = r
        .producers
        .iter()
        .map(|(n, p)| {
            vec![
                n.clone(),
                p.received.to_string(),
                p.duplicates.to_string(),
                p.throttled.to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "**total**".into(),
        total.to_string(),
        r.producers
            .values()
            .map(|p| p.duplicates)
            .sum::<u64>()
            .to_string(),
        r.producers
            .values()
            .map(|p| p.throttled)
            .sum::<u64>()
            .to_string(),
    ]);
    b.push(table(
        &["producer", "received", "duplicates", "throttled (429)"],
        rows,
    ));
    b.push(Block::Chart(Chart::Bars {
        id: "received",
        title: "Events received per day".into(),
        x: r.days.clone(),
        series: Series {
            name: "received".into(),
            values: r.received_daily.clone(),
        },
    }));
    let rejected: Vec<Vec<String>> = r
        .rejected
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    b.push(Block::Para("Rejected at ingest (never routed):".into()));
    b.push(table(&["reason", "events"], rejected));

    // Per partner.
    b.push(Block::Heading(
        2,
        "Forwarded and dropped, per partner".into(),
    ));
    b.push(Block::Para(
        "routed: scrubbed and written to the partner's outbox; delivered: acknowledged by the partner \
         (push 2xx or pull commit); dropped: not forwarded by the policy, by reason."
            .into(),
    ));
    let reasons: Vec<String> = crate::policy::DropReason::ALL
        .iter()
        .map(|d| d.as_str().to_owned())
        .collect();
    let mut head = vec!["partner", "routed", "delivered", "dead-lettered"];
    head.extend(reasons.iter().map(|s| s.as_str()));
    let rows = r
        .partners
        .iter()
        .map(|p| {
            let mut row = vec![
                p.name.clone(),
                p.routed.to_string(),
                p.delivered.to_string(),
                p.dead_lettered.to_string(),
            ];
            row.extend(
                reasons
                    .iter()
                    .map(|k| p.dropped.get(k).copied().unwrap_or(0).to_string()),
            );
            row
        })
        .collect();
    b.push(table(&head, rows));
    b.push(Block::Chart(Chart::Lines {
        id: "delivered",
        title: "Events delivered per day, by partner".into(),
        x: r.days.clone(),
        series: r
            .delivered_daily
            .iter()
            .map(|(n, v)| Series {
                name: n.clone(),
                values: v.clone(),
            })
            .collect(),
    }));
    let mut drops: Vec<(String, u64)> = reasons
        .iter()
        .map(|k| {
            (
                k.clone(),
                r.partners
                    .iter()
                    .map(|p| p.dropped.get(k).copied().unwrap_or(0))
                    .sum(),
            )
        })
        .collect();
    drops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    b.push(Block::Chart(Chart::HBars {
        id: "dropped",
        title: "Events dropped by reason, all partners".into(),
        items: drops,
    }));

    // Policies.
    b.push(Block::Heading(2, "What each partner may receive".into()));
    let linkable: Vec<String> = r
        .partners
        .iter()
        .filter(|p| p.policy.as_ref().is_some_and(|pol| pol.linkable))
        .map(|p| p.name.clone())
        .collect();
    if r.config.is_some() {
        b.push(Block::Para(if linkable.is_empty() {
            "Linkable identifiers: no partner receives any (every partner gets keyed, per-partner ad_ids).".into()
        } else {
            format!(
                "Linkable identifiers: {} receive(s) plain SHA-256 of identifiers (their partner API's profile), \
                 the same value at every partner and reversible with a list of candidate emails or phones; \
                 each accepted this with linkable_ids = \"accept\".",
                linkable.join(", ")
            )
        }));
    }
    for p in &r.partners {
        match &p.policy {
            Some(pol) => {
                b.push(Block::Heading(3, p.name.clone()));
                let ids = if pol.linkable {
                    format!(
                        "identifiers sent as plain SHA-256 (LINKABLE): {}",
                        list_or_none(&pol.identifiers)
                    )
                } else {
                    format!(
                        "ad_id made from (first present): {}",
                        list_or_none(&pol.identifiers)
                    )
                };
                b.push(Block::List(vec![
                    format!("delivery: {}", pol.mode),
                    format!("profile: {}", pol.profile),
                    format!("event types: {}", list_or_none(&pol.event_types)),
                    ids,
                    format!("allow-listed fields: {}", list_or_none(&pol.fields)),
                ]));
            }
            None => {
                b.push(Block::Heading(3, p.name.clone()));
                b.push(Block::Para(if r.config.is_some() {
                    "Not in the config given: the gateway delivered to it earlier.".into()
                } else {
                    "Policy not shown: no config given.".into()
                }));
            }
        }
    }

    // Keys.
    b.push(Block::Heading(2, "Partner keys".into()));
    b.push(Block::Para(
        "The key id prefixes every ad_id, so a new key gives every person a new ad_id. \
         First seen: when the gateway first ran with the key id; age counts from then."
            .into(),
    ));
    let mut rows = Vec::new();
    for p in &r.partners {
        for k in &p.keys {
            let role = if k.signing {
                "signs new ad_ids"
            } else if k.configured {
                "configured (older)"
            } else if r.config.is_some() {
                "retired (not in the config)"
            } else {
                "seen by the gateway"
            };
            rows.push(vec![
                p.name.clone(),
                k.id.clone(),
                role.into(),
                k.first_seen.clone().unwrap_or_else(|| "not yet".into()),
                k.age_days
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                k.last_seen.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
    }
    b.push(table(
        &[
            "partner",
            "key id",
            "role",
            "first seen",
            "age (days)",
            "last seen",
        ],
        rows,
    ));

    // Opt-outs, forget, access.
    let pv = &r.privacy;
    b.push(Block::Heading(
        2,
        "Opt-outs, forget and access requests".into(),
    ));
    b.push(Block::List(vec![
        format!(
            "Opt-out list: {} keyed hashes, never raw identifiers (each opt-out stores its normalized and its lenient match form, so about two per person)",
            pv.optout_list
        ),
        format!(
            "Opt-outs recorded in the period: {}",
            pv.optouts_recorded.values().sum::<u64>()
        ),
        format!(
            "Forget requests: {} ({} queued outbox copies purged)",
            pv.forget_requests, pv.forget_purged
        ),
        format!("Subject access requests answered: {}", pv.access_requests),
        if pv.ledger_in_jetstream {
            format!(
                "Subject-access ledger: kept {} days in the JetStream bucket {} (fleet-wide; not read by this report, which reads one replica's data dir)",
                pv.retention_days,
                crate::privacy::fleet::LEDGER_BUCKET
            )
        } else {
            format!(
                "Subject-access ledger: {} rows, kept {} days",
                pv.ledger_rows, pv.retention_days
            )
        },
    ]));
    b.push(Block::Para(
        "Opt-outs honoured: events withheld from a partner because the person opted out \
         (consent.personalized_ads false, consent.gpc true, or an identifier on the opt-out list)."
            .into(),
    ));
    b.push(table(
        &[
            "partner",
            "events withheld (opted_out)",
            "distinct identifiers delivered (ledger)",
            "erasure and opt-out notices delivered",
            "notices not delivered (dead-lettered, skipped)",
        ],
        r.partners
            .iter()
            .map(|p| {
                let notices = pv.notices.get(&p.name);
                let n = |o: &str| notices.and_then(|m| m.get(o)).copied().unwrap_or(0);
                vec![
                    p.name.clone(),
                    pv.optouts_honoured
                        .get(&p.name)
                        .copied()
                        .unwrap_or(0)
                        .to_string(),
                    p.ledger_subjects.to_string(),
                    n("delivered").to_string(),
                    (n("dead_lettered") + n("skipped")).to_string(),
                ]
            })
            .collect(),
    ));
    b.push(Block::Para(
        "Opt-outs recorded in the period (opt-out and forget requests), by identifier kind:".into(),
    ));
    b.push(table(
        &["identifier kind", "opt-outs recorded"],
        pv.optouts_recorded
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect(),
    ));

    // Leak guard.
    b.push(Block::Heading(2, "Leak guard (pii_guard)".into()));
    b.push(Block::Para(
        "Events whose allow-listed fields contained what looks like an email, phone or card number, \
         or the event's own identifiers: dropped for that partner, never sent."
            .into(),
    ));
    b.push(table(
        &["partner", "events dropped"],
        r.partners
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    pv.pii_guard.get(&p.name).copied().unwrap_or(0).to_string(),
                ]
            })
            .collect(),
    ));
    b.push(Block::Chart(Chart::Bars {
        id: "pii_guard",
        title: "Leak-guard drops per day".into(),
        x: r.days.clone(),
        series: Series {
            name: "pii_guard".into(),
            values: r.pii_guard_daily.clone(),
        },
    }));

    // Daily table.
    b.push(Block::Heading(2, "Per day".into()));
    let mut head: Vec<String> = vec!["day".into(), "received".into()];
    head.extend(r.delivered_daily.keys().map(|n| format!("delivered {n}")));
    head.push("pii_guard".into());
    let rows = r
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut row = vec![d.clone(), r.received_daily[i].to_string()];
            row.extend(r.delivered_daily.values().map(|v| v[i].to_string()));
            row.push(r.pii_guard_daily[i].to_string());
            row
        })
        .collect();
    b.push(Block::Table { head, rows });

    b.push(Block::Heading(2, "What is never stored".into()));
    b.push(Block::Para(
        "No raw identifier, ad_id, token, key or event content is in the data this report reads. \
         The subject-access ledger keeps, per keyed subject hash, partner and day, only counts, \
         delivery times, the ad_id_type and the key id; ad_ids are recomputed on request. \
         Forget erases a person's ledger rows with their queued events."
            .into(),
    ));
    b
}
