//! Daily counters: the Prometheus counters a transparency report needs,
//! persisted as per-UTC-day deltas so they survive restarts.
//!
//! Every flush reads the live counters (no work on the hot path), subtracts
//! what the previous flush of this process saw, and adds the difference to
//! the row of the flush's day. A delta is attributed to the day it is
//! flushed on, at most [`super::COUNTER_FLUSH`] after the events.

use std::collections::{BTreeMap, HashMap};

use prometheus::Registry;
use rusqlite::{params, Connection};

/// The counters kept per day (all of them have config-fixed labels only).
pub const TRACKED: [&str; 13] = [
    "adgate_events_received_total",
    "adgate_events_rejected_total",
    "adgate_events_duplicate_total",
    "adgate_events_throttled_total",
    "adgate_events_routed_total",
    "adgate_events_dropped_total",
    "adgate_events_delivered_total",
    "adgate_dead_letter_total",
    "adgate_optouts_total",
    "adgate_forget_purged_total",
    "adgate_access_requests_total",
    "adgate_forget_requests_total",
    "adgate_notices_total",
];

/// The current value of every tracked series: `(metric, labels) -> value`,
/// labels as `name=value,...` in name order.
pub fn snapshot(registry: &Registry) -> HashMap<(String, String), u64> {
    let mut out = HashMap::new();
    for mf in registry.gather() {
        if !TRACKED.contains(&mf.get_name()) {
            continue;
        }
        for m in mf.get_metric() {
            let mut labels: Vec<(&str, &str)> = m
                .get_label()
                .iter()
                .map(|l| (l.get_name(), l.get_value()))
                .collect();
            labels.sort_unstable();
            let labels = labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            out.insert(
                (mf.get_name().to_owned(), labels),
                m.get_counter().get_value() as u64,
            );
        }
    }
    out
}

/// Adds what changed since `last` to `day`'s rows and remembers the new
/// values in `last`.
pub fn flush(
    conn: &mut Connection,
    registry: &Registry,
    last: &mut HashMap<(String, String), u64>,
    day: i64,
) -> rusqlite::Result<()> {
    let now = snapshot(registry);
    let deltas: Vec<(&(String, String), u64)> = now
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(last.get(k).copied().unwrap_or(0));
            (d > 0).then_some((k, d))
        })
        .collect();
    if !deltas.is_empty() {
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO daily_counters (day, metric, labels, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (day, metric, labels) DO UPDATE SET value = value + excluded.value",
            )?;
            for ((metric, labels), d) in &deltas {
                st.execute(params![day, metric, labels, *d as i64])?;
            }
        }
        tx.commit()?;
    }
    *last = now;
    Ok(())
}

/// One persisted counter row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRow {
    pub day: i64,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub value: u64,
}

/// Every row from `from_day` to `to_day` inclusive.
pub fn read(conn: &Connection, from_day: i64, to_day: i64) -> rusqlite::Result<Vec<DailyRow>> {
    let mut st = conn.prepare(
        "SELECT day, metric, labels, value FROM daily_counters
         WHERE day >= ?1 AND day <= ?2 ORDER BY day, metric, labels",
    )?;
    let rows = st.query_map(params![from_day, to_day], |r| {
        let labels: String = r.get(2)?;
        Ok(DailyRow {
            day: r.get(0)?,
            metric: r.get(1)?,
            labels: labels
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            value: r.get::<_, i64>(3)? as u64,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_accumulate_per_day() {
        let m = crate::metrics::Metrics::new();
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(super::super::SCHEMA).unwrap();
        let mut last = HashMap::new();
        m.events_dropped
            .with_label_values(&["acme", "pii_guard"])
            .inc_by(3);
        m.events_received.with_label_values(&["web"]).inc_by(10);
        flush(&mut c, &m.registry, &mut last, 100).unwrap();
        m.events_received.with_label_values(&["web"]).inc_by(5);
        flush(&mut c, &m.registry, &mut last, 100).unwrap();
        m.events_received.with_label_values(&["web"]).inc_by(1);
        flush(&mut c, &m.registry, &mut last, 101).unwrap();
        // Nothing new: no row written.
        flush(&mut c, &m.registry, &mut last, 102).unwrap();
        let rows = read(&c, 0, 1000).unwrap();
        let get = |day, metric: &str, labels: &[(&str, &str)]| {
            rows.iter()
                .find(|r| {
                    r.day == day
                        && r.metric == metric
                        && labels
                            .iter()
                            .all(|(k, v)| r.labels.get(*k).map(|s| s.as_str()) == Some(*v))
                })
                .map(|r| r.value)
        };
        assert_eq!(
            get(100, "adgate_events_received_total", &[("producer", "web")]),
            Some(15)
        );
        assert_eq!(
            get(101, "adgate_events_received_total", &[("producer", "web")]),
            Some(1)
        );
        assert_eq!(
            get(
                100,
                "adgate_events_dropped_total",
                &[("partner", "acme"), ("reason", "pii_guard")]
            ),
            Some(3)
        );
        assert!(rows.iter().all(|r| r.day != 102));
        assert!(rows.iter().all(|r| TRACKED.contains(&r.metric.as_str())));
    }
}
