//! Reading `/metrics` text. A series that is not there is never read as 0:
//! a misspelled name or label would make every `== 0` check pass without
//! looking at anything. The plain readers ([`metric_value`],
//! [`metric_labeled`], `Gateway::metric`) panic naming the series that is
//! missing; the `_opt` readers say `None`, for the few checks where absence
//! is the expected state, and [`metric_labeled_or_zero`] reads such a
//! series as 0 only when its family is exported (so a misspelled name still
//! fails). The gateway pre-creates the series it documents (every partner's
//! and producer's counters, every reason and outcome: see docs/metrics.md);
//! what is created only when first counted is a label set nobody has
//! touched yet, e.g. `adgate_http_requests_total` of a route and code that
//! was never answered.

use std::time::Duration;

use super::{wait_for, Gateway};

/// The sample lines of an exposition: (name, labels inside the braces,
/// value). Comment lines and lines whose value does not parse are skipped.
fn samples(text: &str) -> impl Iterator<Item = (&str, &str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let v = v.parse::<f64>().ok()?;
            match series.split_once('{') {
                Some((n, rest)) => Some((n, rest.strip_suffix('}')?, v)),
                None => Some((series, "", v)),
            }
        })
}

/// The family a sample name belongs to (`_count`, `_sum` and `_bucket`
/// are a histogram's).
fn family_of(name: &str) -> &str {
    ["_bucket", "_count", "_sum"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Whether `/metrics` exports the family of `name` at all (its `# TYPE`
/// line). The client prints no family whose every series is untouched.
pub fn metric_family_exported(text: &str, name: &str) -> bool {
    let wanted = [name, family_of(name)];
    text.lines().any(|l| {
        l.strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|f| wanted.contains(&f))
    })
}

/// The series of the family of `name` that are there, for a failure message.
fn present(text: &str, name: &str) -> String {
    let family = family_of(name);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.starts_with('#') && family_of(l.split(['{', ' ']).next().unwrap_or("")) == family
        })
        .collect();
    if lines.is_empty() {
        format!("/metrics has no series of the family {family} at all (misspelled name?)")
    } else {
        format!(
            "/metrics has, of the family {family}:\n  {}",
            lines.join("\n  ")
        )
    }
}

/// The value of the series printed exactly as `series` (`name` or
/// `name{labels}`, labels in the exposition's order: by name), or `None`
/// when `/metrics` has no such series.
pub fn metric_opt(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, v) = l.rsplit_once(' ')?;
        (name == series).then(|| v.parse::<f64>().ok()).flatten()
    })
}

/// The value of the series printed exactly as `series`; panics naming it
/// (and listing its family's series) when `/metrics` has no such series.
pub fn metric_value(text: &str, series: &str) -> f64 {
    metric_opt(text, series).unwrap_or_else(|| {
        let name = series.split('{').next().unwrap_or(series);
        panic!("no series {series} in /metrics; {}", present(text, name))
    })
}

/// The value of the one series named `name` whose labels include `labels`
/// (the exposition orders labels by name, so exact strings are brittle), or
/// `None` when there is no such series. Panics when `labels` match more
/// than one series: the question is ambiguous.
pub fn metric_labeled_opt(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let mut found = samples(text).filter(|(n, rest, _)| {
        *n == name && wanted.iter().all(|kv| rest.split(',').any(|x| x == kv))
    });
    let first = found.next()?;
    if let Some(second) = found.next() {
        panic!(
            "{name}{labels:?} matches more than one series ({{{}}} and {{{}}}): name every label that tells them apart",
            first.1, second.1
        );
    }
    Some(first.2)
}

/// [`metric_labeled_opt`], panicking naming the series (and listing its
/// family's series) when `/metrics` has no such series.
pub fn metric_labeled(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_labeled_opt(text, name, labels).unwrap_or_else(|| {
        panic!(
            "no series {name}{labels:?} in /metrics; {}",
            present(text, name)
        )
    })
}

/// For a labelled series the client exports only once it is counted: its
/// value, or 0 when it is absent. The family itself must be exported (some
/// other label set of it counted, or pre-created), so a misspelled name
/// still fails; a misspelled label value reads as 0, so use this only where
/// the label set cannot be pre-created.
pub fn metric_labeled_or_zero(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    assert!(
        metric_family_exported(text, name),
        "no family {name} in /metrics (misspelled name?)"
    );
    metric_labeled_opt(text, name, labels).unwrap_or(0.0)
}

/// Polls /metrics until the series exists and equals `want`; panics with
/// the text if it never does (saying whether the series was absent).
pub fn wait_metric(g: &Gateway, name: &str, labels: &[(&str, &str)], want: f64) {
    let ok = wait_for(Duration::from_secs(5), || {
        (metric_labeled_opt(&g.metrics(), name, labels) == Some(want)).then_some(())
    });
    if ok.is_none() {
        let text = g.metrics();
        match metric_labeled_opt(&text, name, labels) {
            Some(v) => panic!("{name}{labels:?} = {v} (want {want})\n{text}"),
            None => panic!(
                "no series {name}{labels:?} in /metrics (want {want}); {}",
                present(&text, name)
            ),
        }
    }
}

impl Gateway {
    /// A series' value from /metrics, `name{labels}` exactly as printed;
    /// panics naming the series when there is no such series.
    pub fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics(), series)
    }

    /// A series' value from /metrics, or `None` when there is no such series.
    pub fn metric_opt(&self, series: &str) -> Option<f64> {
        metric_opt(&self.metrics(), series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the gateway prints: a pre-created zero, a counted series, a
    /// two-label family, a histogram.
    const TEXT: &str = "\
# HELP adgate_dead_letter_total Events written to a partner's dead-letter file.
# TYPE adgate_dead_letter_total counter
adgate_dead_letter_total{partner=\"acme\"} 0
adgate_dead_letter_total{partner=\"beta\"} 3
# HELP adgate_http_requests_total HTTP requests by route and status code.
# TYPE adgate_http_requests_total counter
adgate_http_requests_total{code=\"202\",route=\"/v1/events\"} 2
adgate_http_requests_total{code=\"400\",route=\"/v1/events\"} 1
# HELP adgate_event_age_seconds Time from ingest to delivery acknowledgement.
# TYPE adgate_event_age_seconds histogram
adgate_event_age_seconds_bucket{le=\"+Inf\"} 0
adgate_event_age_seconds_sum 0
adgate_event_age_seconds_count 0
# HELP adgate_ingest_in_flight Ingest requests being handled now.
# TYPE adgate_ingest_in_flight gauge
adgate_ingest_in_flight 0
";

    fn panics(f: impl FnOnce() -> f64 + std::panic::UnwindSafe) -> String {
        let e = std::panic::catch_unwind(f).expect_err("should have panicked");
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    #[test]
    fn a_present_zero_series_reads_zero() {
        assert_eq!(
            metric_value(TEXT, "adgate_dead_letter_total{partner=\"acme\"}"),
            0.0
        );
        assert_eq!(metric_value(TEXT, "adgate_ingest_in_flight"), 0.0);
        assert_eq!(
            metric_labeled(TEXT, "adgate_dead_letter_total", &[("partner", "acme")]),
            0.0
        );
        assert_eq!(
            metric_labeled(TEXT, "adgate_dead_letter_total", &[("partner", "beta")]),
            3.0
        );
        assert_eq!(
            metric_labeled(TEXT, "adgate_event_age_seconds_count", &[]),
            0.0
        );
        // Labels in any order.
        let l = [("route", "/v1/events"), ("code", "400")];
        assert_eq!(metric_labeled(TEXT, "adgate_http_requests_total", &l), 1.0);
    }

    #[test]
    fn a_misspelled_name_or_label_fails_instead_of_reading_zero() {
        let m = panics(|| metric_value(TEXT, "adgate_dead_letters_total{partner=\"acme\"}"));
        assert!(
            m.contains("no series adgate_dead_letters_total{partner=\"acme\"}"),
            "{m}"
        );
        assert!(
            m.contains("no series of the family adgate_dead_letters_total"),
            "{m}"
        );
        let m = panics(|| metric_value(TEXT, "adgate_dead_letter_total{partner=\"acmee\"}"));
        assert!(
            m.contains("partner=\\\"acmee\\\"") || m.contains("acmee"),
            "{m}"
        );
        // ...and the message lists what the family does have.
        assert!(
            m.contains("adgate_dead_letter_total{partner=\"beta\"} 3"),
            "{m}"
        );
        let m = panics(|| metric_labeled(TEXT, "adgate_dead_letter_total", &[("partnr", "acme")]));
        assert!(m.contains("no series adgate_dead_letter_total"), "{m}");
        panics(|| metric_labeled(TEXT, "adgate_ingest_inflight", &[]));
        assert_eq!(metric_opt(TEXT, "adgate_ingest_inflight"), None);
        assert_eq!(
            metric_labeled_opt(TEXT, "adgate_dead_letter_total", &[("partner", "x")]),
            None
        );
    }

    #[test]
    fn labels_that_match_two_series_are_refused() {
        let m = panics(|| {
            metric_labeled(
                TEXT,
                "adgate_http_requests_total",
                &[("route", "/v1/events")],
            )
        });
        assert!(m.contains("more than one series"), "{m}");
    }

    #[test]
    fn or_zero_needs_the_family_but_not_the_series() {
        // Never counted, family exported: 0.
        let l = [("route", "/v1/feed"), ("code", "200")];
        assert_eq!(
            metric_labeled_or_zero(TEXT, "adgate_http_requests_total", &l),
            0.0
        );
        assert_eq!(
            metric_labeled_or_zero(TEXT, "adgate_http_requests_total", &[("code", "202")]),
            2.0
        );
        // A misspelled family still fails.
        let m = panics(|| metric_labeled_or_zero(TEXT, "adgate_http_request_total", &l));
        assert!(m.contains("no family adgate_http_request_total"), "{m}");
        assert!(metric_family_exported(
            TEXT,
            "adgate_event_age_seconds_count"
        ));
        assert!(!metric_family_exported(TEXT, "adgate_event_age"));
    }
}
